"""Feature extraction follows the frame constants; normalization statistics are sound."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from asr.audio import load_audio
from asr.features import (
    FeatureConfig,
    Normalizer,
    base_features,
    compute_features,
    frequency_warp,
    pitch_features,
)


@pytest.mark.parametrize("seconds", [0.01, 0.5, 1.0, 3.37])
@pytest.mark.parametrize("kind", ["mfcc", "fbank"])
def test_frame_count_follows_constants(seconds: float, kind: str) -> None:
    cfg = FeatureConfig(kind=kind)
    samples = np.random.default_rng(0).normal(0, 0.1, int(seconds * cfg.sample_rate))
    feats = compute_features(samples.astype(np.float32), cfg)
    assert feats.shape == (cfg.num_frames(len(samples)), cfg.dim)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()


def test_dims() -> None:
    assert FeatureConfig().dim == 39
    assert FeatureConfig(kind="fbank", num_filters=40).dim == 120
    assert FeatureConfig(deltas=False).dim == 13


def test_silence_is_finite() -> None:
    feats = compute_features(np.zeros(16000, np.float32), FeatureConfig())
    assert np.isfinite(feats).all()


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="nfft"):
        FeatureConfig(nfft=256)
    with pytest.raises(ValueError, match="kind"):
        FeatureConfig(kind="wavelet")  # type: ignore[arg-type]


def test_mel_bands_narrower_than_an_fft_bin_are_refused() -> None:
    """80 bands over 512 points leave band 2 empty: a constant feature that stalled a
    gender model at chance; a larger FFT fills every band."""
    with pytest.raises(ValueError, match="band 2 with no FFT bin.*nfft \\(e.g. 1024\\)"):
        FeatureConfig(kind="fbank", num_filters=80)
    config = FeatureConfig(kind="fbank", num_filters=80, nfft=1024)
    feats = compute_features(np.random.default_rng(0).normal(0, 0.1, 16000), config)
    assert feats.shape[1] == 240 and (feats.std(axis=0) > 0).all()


def test_normalizer_gives_zero_mean_unit_std() -> None:
    rng = np.random.default_rng(1)
    feats = [rng.normal(5, 3, (n, 4)).astype(np.float32) for n in (10, 50, 200)]
    norm = Normalizer.fit(feats)
    allf = np.concatenate([norm(f) for f in feats])
    np.testing.assert_allclose(allf.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(allf.std(0), 1, atol=1e-3)


def test_normalizer_guards_constant_dims() -> None:
    norm = Normalizer.fit([np.ones((5, 2), np.float32)])
    assert np.isfinite(norm(np.ones((3, 2), np.float32))).all()


SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.mark.parametrize("kind", ["mfcc", "fbank"])
def test_warp_by_one_is_identity(kind: str) -> None:
    cfg = FeatureConfig(kind=kind)
    np.testing.assert_allclose(frequency_warp(cfg, 1.0), np.eye(cfg.base_dim), atol=1e-6)


def test_fbank_warp_moves_a_band_up() -> None:
    cfg = FeatureConfig(kind="fbank")
    bands = np.zeros(cfg.num_filters, np.float32)
    bands[10] = 1.0
    assert np.argmax(bands @ frequency_warp(cfg, 1.2)) > 10
    assert np.argmax(bands @ frequency_warp(cfg, 0.8)) < 10


@pytest.mark.parametrize(("up", "down"), [(10, 11), (11, 10)])
def test_mfcc_warp_mimics_a_frequency_scaled_voice(up: int, down: int) -> None:
    """Resampling speech without changing its rate scales every frequency by down/up; the
    warp by that factor brings the average cepstrum closer to it, the inverse one farther."""
    cfg = FeatureConfig()
    clips = [load_audio(p) for p in sorted(SAMPLES.glob("*.wav"))]

    def mean_cepstrum(signals: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([base_features(s, cfg) for s in signals]).mean(axis=0)

    plain = mean_cepstrum(clips)
    scaled = mean_cepstrum([resample_poly(c, up, down) for c in clips])
    alpha = down / up

    def distance(a: float) -> float:
        return float(np.linalg.norm((plain @ frequency_warp(cfg, a) - scaled)[1:]))

    assert distance(alpha) < 0.75 * distance(1.0) < distance(1 / alpha)


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5, 97])
def test_deltas_equal_python_speech_features_regression(frames: int) -> None:
    """add_deltas is psf.delta (window 2, edge frames repeated) as one vectorized correlation."""
    import python_speech_features as psf

    from asr.features import add_deltas

    x = np.random.default_rng(frames).normal(size=(frames, 13)).astype(np.float32)
    d1 = psf.delta(x, 2)
    expected = np.concatenate([x, d1, psf.delta(d1, 2)], axis=1)
    np.testing.assert_allclose(add_deltas(x), expected, atol=1e-6)


def _harmonic(f0: float, seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))).astype(np.float32)


@pytest.mark.parametrize("f0", [70.0, 110.0, 150.0, 230.0, 380.0])
def test_pitch_recovers_the_f0_of_a_harmonic_tone(f0: float) -> None:
    cfg = FeatureConfig(kind="fbank", num_filters=40, pitch=True)
    pitch = pitch_features(_harmonic(f0), cfg)
    assert pitch.shape == (cfg.num_frames(16000), 2)
    inner = pitch[3:-3]  # edge frames see the zero padding
    np.testing.assert_allclose(150.0 * 2 ** inner[:, 0], f0, rtol=0.01)
    assert (inner[:, 1] > 0.95).all()


def test_pitch_calls_noise_and_silence_unvoiced() -> None:
    cfg = FeatureConfig(pitch=True)
    noise = np.random.default_rng(0).normal(0, 0.1, 16000)
    assert (pitch_features(noise, cfg)[:, 1] < 0.5).mean() > 0.95
    np.testing.assert_array_equal(pitch_features(np.zeros(8000), cfg), 0.0)


def test_pitch_follows_a_frequency_scaled_voice() -> None:
    """Real speech resampled so every frequency rises by 11/10: its median F0 rises so too."""
    cfg = FeatureConfig(pitch=True)
    speech = load_audio(SAMPLES / "uqm_commander_001.flac", cfg.sample_rate)
    higher = resample_poly(speech, 10, 11)

    def median_f0(x: np.ndarray) -> float:
        pitch = pitch_features(x, cfg)
        return float(150.0 * 2 ** np.median(pitch[pitch[:, 1] >= 0.5, 0]))

    low = median_f0(speech)
    assert 80.0 < low < 180.0  # a man's speaking voice
    assert median_f0(higher) / low == pytest.approx(1.1, rel=0.03)


def test_pitch_dims_sit_last_and_keep_their_level_under_cmn() -> None:
    cfg = FeatureConfig(kind="fbank", num_filters=40, zcr=True, cmn=True, pitch=True)
    assert (cfg.spectral_dim, cfg.cmn_dim, cfg.base_dim, cfg.dim) == (40, 41, 43, 129)
    feats = compute_features(_harmonic(300.0), cfg)
    np.testing.assert_allclose(feats[3:-3, 41], 1.0, atol=0.02)  # log2(300 / 150)
    np.testing.assert_allclose(feats[:, :41].mean(axis=0), 0.0, atol=1e-4)


@pytest.mark.parametrize("kind", ["mfcc", "fbank"])
def test_warp_leaves_the_pitch_alone(kind: str) -> None:
    cfg = FeatureConfig(kind=kind, pitch=True)
    warp = frequency_warp(cfg, 1.2)
    assert warp.shape == (cfg.base_dim, cfg.base_dim)
    np.testing.assert_allclose(warp[-2:, -2:], np.eye(2))
    np.testing.assert_allclose(warp[:-2, -2:], 0.0)
    np.testing.assert_allclose(warp[-2:, :-2], 0.0)
    spectral = frequency_warp(dataclasses.replace(cfg, pitch=False), 1.2)
    np.testing.assert_allclose(warp[:-2, :-2], spectral)


@pytest.mark.parametrize(
    ("rate", "window", "nfft"), [(16000, 0.05, 1024), (22050, 0.025, 1024), (8000, 0.025, 256)]
)
def test_pitch_frames_match_the_spectral_frames(rate: int, window: float, nfft: int) -> None:
    """Any rate and window: one pitch pair per feature frame (a hop of 220.5 samples at
    22,050 Hz rounds as python_speech_features rounds it), and the F0 still found."""
    cfg = FeatureConfig(sample_rate=rate, window_seconds=window, nfft=nfft, pitch=True)
    for n in (1, cfg.frame_samples, cfg.frame_samples + 1, rate):
        feats = compute_features(np.zeros(n, np.float32), cfg)
        assert feats.shape == (cfg.num_frames(n), cfg.dim)
    pitch = pitch_features(_harmonic(200.0, rate=rate), cfg)
    np.testing.assert_allclose(150.0 * 2 ** np.median(pitch[5:-5, 0]), 200.0, rtol=0.01)


def test_pitch_of_a_long_recording_goes_chunk_by_chunk() -> None:
    """More frames than one chunk: the same values as each part alone would give."""
    cfg = FeatureConfig(pitch=True)
    tone = np.concatenate([_harmonic(120.0, seconds=15.0), _harmonic(240.0, seconds=15.0)])
    pitch = pitch_features(tone, cfg)
    assert pitch.shape[0] == cfg.num_frames(len(tone)) > 2048
    np.testing.assert_allclose(150.0 * 2 ** pitch[100:1400, 0], 120.0, rtol=0.01)
    np.testing.assert_allclose(150.0 * 2 ** pitch[1600:2900, 0], 240.0, rtol=0.01)


@pytest.mark.parametrize(
    "config",
    [FeatureConfig(), FeatureConfig(kind="fbank", zcr=True), FeatureConfig(pitch=True)],
    ids=["mfcc", "fbank_zcr", "pitch"],
)
def test_no_samples_give_the_one_silent_frame_a_sub_frame_clip_gives(config) -> None:
    empty = compute_features(np.zeros(0, np.float32), config)
    short = compute_features(np.zeros(50, np.float32), config)
    assert empty.shape == short.shape == (config.num_frames(0), config.dim)
    np.testing.assert_array_equal(empty, short)
