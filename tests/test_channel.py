"""Simulated recording channels (asr.channel) and tools/augment_corpus.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from asr.audio import load_audio
from asr.channel import (
    Channel,
    ChannelConfig,
    band_limit,
    codec,
    colored_noise,
    mix_at_snr,
    reverberate,
    room_impulses,
    telephone_band,
)
from asr.errors import AsrError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "006070.wav"
RATE = 16000
HAVE_ROOMS = importlib.util.find_spec("pyroomacoustics") is not None


def _speech() -> np.ndarray:
    return load_audio(str(SAMPLE), RATE).astype(np.float64)


def _power_above(x: np.ndarray, hz: float) -> float:
    freqs, power = scipy.signal.welch(x, fs=RATE, nperseg=1024)
    return float(power[freqs > hz].sum() / power.sum())


def test_colored_noise_has_unit_rms_and_its_slope() -> None:
    rng = np.random.default_rng(0)
    white, pink, brown = (colored_noise(RATE * 2, rng, e) for e in (0.0, 1.0, 2.0))
    for x in (white, pink, brown):
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-6)
    assert _power_above(white, 4000) > 0.4
    # 1/f from 20 Hz to 8 kHz puts ln(2)/ln(400) = 12 % of its power above 4 kHz; white 50 %
    assert _power_above(pink, 4000) == pytest.approx(np.log(2) / np.log(400), abs=0.02)
    assert _power_above(brown, 4000) < _power_above(pink, 4000)
    # all of it audible: nothing below 20 Hz, where brown noise's power used to hide
    for x in (white, pink, brown):
        power = np.abs(np.fft.rfft(x)) ** 2
        below = np.fft.rfftfreq(len(x), d=1 / RATE) < 20
        assert power[below].sum() < 1e-9 * power.sum()


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_mix_at_snr(snr: float) -> None:
    speech = _speech()
    noise = colored_noise(RATE, np.random.default_rng(1), 1.0)  # shorter: looped
    mixed = mix_at_snr(speech, noise, snr)
    residual = mixed - speech
    measured = 10 * np.log10(np.mean(speech**2) / np.mean(residual**2))
    assert mixed.shape == speech.shape and measured == pytest.approx(snr, abs=0.01)


def test_band_limits_and_codecs_keep_length_and_cut_the_top() -> None:
    speech = _speech()
    top = _power_above(speech, 4200)  # about 0.6 % of this voice's power
    narrow = band_limit(speech, RATE, 8000)
    assert narrow.shape == speech.shape and _power_above(narrow, 4200) < top / 100
    for name in ("ULAW", "ALAW", "GSM610"):
        out = codec(speech, RATE, name)
        assert out.shape == speech.shape and _power_above(out, 4200) < top / 100
        assert np.corrcoef(out, band_limit(speech, RATE, 8000))[0, 1] > 0.8


def test_channel_is_seeded_keeps_length_and_says_what_it_did() -> None:
    speech = _speech()
    channel = Channel(ChannelConfig(reverb=0.0), RATE, babble=[speech[::-1], speech[::2]])
    first = [channel(speech, np.random.default_rng(k)) for k in range(12)]
    again = [channel(speech, np.random.default_rng(k)) for k in range(12)]
    for (a, what), (b, same) in zip(first, again, strict=True):
        assert what == same and np.array_equal(a, b)
        assert a.shape == speech.shape and a.dtype == np.float32
        assert np.abs(a).max() <= 1.0 and "gain:" in what
    described = " ".join(w for _, w in first)
    assert "noise:" in described and ("codec:" in described or "band:" in described)


@pytest.mark.skipif(not HAVE_ROOMS, reason="pyroomacoustics is not installed")
def test_rooms_reverberate_in_place() -> None:
    rooms = room_impulses(3, RATE, np.random.default_rng(0), (0.3, 0.8))
    speech = _speech()
    for rir in rooms:
        wet = reverberate(speech, rir)
        assert wet.shape == speech.shape
        assert np.abs(wet).max() == pytest.approx(np.abs(speech).max())
        # the direct path stays aligned: the wet signal still follows the dry one
        assert np.corrcoef(wet, speech)[0, 1] > 0.3


def test_augment_corpus_tool(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    rows = [
        {"audio_filepath": str(ROOT / "data" / "samples" / n), "text": f"line {i}", "speaker": "s"}
        for i, n in enumerate(["006070.wav", "006075.wav", "005943.wav"])
    ]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "aug"
    cmd = [sys.executable, str(ROOT / "tools" / "augment_corpus.py"), str(manifest)]
    cmd += ["--out", str(out), "--jobs", "1", "--babble-size", "2", "--rooms", "2"]
    if not HAVE_ROOMS:
        cmd.append("--no-reverb")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [x["text"] for x in lines] == ["line 0", "line 1", "line 2"]
    assert all(x["speaker"] == "s" and "gain:" in x["channel"] for x in lines)
    for x, r in zip(lines, rows, strict=True):
        assert x["duration"] == pytest.approx(len(load_audio(r["audio_filepath"], RATE)) / RATE)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr


def _only(**effects: float) -> ChannelConfig:
    """A channel config with every effect off but the ones named."""
    off = {"reverb": 0.0, "noise": 0.0, "babble": 0.0, "narrowband": 0.0, "codec": 0.0, "clip": 0.0}
    return ChannelConfig(**{**off, **effects})


def test_the_gain_step_sets_the_peak_it_reports_and_clipping_flattens_it() -> None:
    speech = _speech()
    out, what = Channel(_only(gain_db=(-6.0, -6.0)), RATE)(speech, np.random.default_rng(0))
    assert what == "gain:-6dB"
    assert np.abs(out).max() == pytest.approx(0.9 * 10 ** (-6 / 20), rel=1e-5)
    clipped, what = Channel(_only(gain_db=(-6.0, -6.0), clip=1.0), RATE)(
        speech, np.random.default_rng(0)
    )
    assert what == "gain:-6dB clip"
    level = np.abs(clipped).max()
    assert level < 0.9 * 10 ** (-6 / 20) and np.sum(np.abs(clipped) >= level - 1e-6) > 10


def test_babble_is_drawn_from_the_other_utterances_when_asked() -> None:
    speech = _speech()
    channel = Channel(_only(noise=1.0, babble=1.0), RATE, babble=[speech[::-1], speech[::2]])
    for k in range(5):
        out, what = channel(speech, np.random.default_rng(k))
        assert what.startswith("noise:babble@") and out.shape == speech.shape
    # without a babble pool the same draws fall back to coloured noise
    _, what = Channel(_only(noise=1.0, babble=1.0), RATE)(speech, np.random.default_rng(0))
    assert what.split("@")[0] in ("noise:white", "noise:pink", "noise:brown")


def test_telephone_band_keeps_the_voice_band_and_cuts_both_sides() -> None:
    t = np.arange(RATE) / RATE
    tones = {hz: np.sin(2 * np.pi * hz * t) for hz in (100, 1000, 6000)}
    kept = {hz: np.std(telephone_band(x, RATE)[RATE // 4 :]) / np.std(x) for hz, x in tones.items()}
    assert kept[1000] > 0.9 and kept[100] < 0.1 and kept[6000] < 0.05


def test_codec_refusals_name_the_fix() -> None:
    speech = _speech()
    with pytest.raises(AsrError, match=r"unknown codec 'MP3'; choose one of"):
        codec(speech, RATE, "MP3")
    with pytest.raises(AsrError, match="multiple of 8 kHz, not 22050"):
        codec(speech, 22050, "ULAW")
