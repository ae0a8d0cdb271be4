"""Acoustic features: MFCC (+ deltas) or log-mel filterbank via python_speech_features.

Frames are 25 ms windows every 10 ms; a model directory's config.json fixes every setting,
so a checkpoint is never separated from how its inputs were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import python_speech_features as psf
import scipy.fft
import scipy.ndimage

from asr.fieldtypes import check_field_types

SAMPLE_RATE = 16000  # Hz
WINDOW_SECONDS = 0.025  # 400 samples at 16 kHz
HOP_SECONDS = 0.010  # 160 samples at 16 kHz: 100 frames per second
NFFT = 512  # >= window length in samples at 16 kHz
PREEMPHASIS = 0.97
CEPLIFTER = 22  # python_speech_features' default lifter, which mfcc() applies
WARP_BOUNDARY = 0.8  # of Nyquist: above it the warp bends back so Nyquist maps to itself
PITCH_DIMS = 2  # log2(F0 / PITCH_REFERENCE_HZ) where voiced, else 0; periodicity in [0, 1]
PITCH_REFERENCE_HZ = 150.0  # about where men's and women's speaking pitch ranges meet
PITCH_RANGE_HZ = (60.0, 400.0)  # F0 searched: low men to high women and children
PITCH_WINDOW_SECONDS = 0.04  # two periods of a 50 Hz voice, centred on each feature frame
PITCH_THRESHOLD = 0.15  # YIN's absolute threshold on the normalized difference
PITCH_VOICED = 0.5  # periodicity from which a frame's F0 is believed
PITCH_CHUNK = 2048  # frames whose windows are transformed at once (about 20 s at 100 Hz)


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes a (frames, dims) matrix; stored in config.json."""

    kind: Literal["mfcc", "fbank"] = "mfcc"
    sample_rate: int = SAMPLE_RATE
    num_cepstra: int = 13  # MFCC coefficients (the 0th replaced by log energy)
    num_filters: int = 26  # mel bands (fbank dims when kind == "fbank")
    deltas: bool = True  # append first and second differences (x3 dims)
    window_seconds: float = WINDOW_SECONDS
    hop_seconds: float = HOP_SECONDS
    nfft: int = NFFT
    zcr: bool = False  # append each frame's zero-crossing rate (a classifier's auxiliary input)
    cmn: bool = False  # subtract each utterance's mean from its static coefficients
    pitch: bool = False  # append each frame's log F0 and periodicity (never mean-normalized)

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.sample_rate < 1000 or self.window_seconds <= 0 or self.hop_seconds <= 0:
            raise ValueError(
                f"sample_rate must be 1000 Hz or more and window_seconds and hop_seconds above "
                f"0, got {self.sample_rate}, {self.window_seconds}, {self.hop_seconds}"
            )
        if self.kind not in ("mfcc", "fbank"):
            raise ValueError(f"feature kind must be 'mfcc' or 'fbank', got {self.kind!r}")
        if self.window_seconds * self.sample_rate > self.nfft:
            raise ValueError(
                f"window of {self.window_seconds * self.sample_rate:.0f} samples exceeds "
                f"nfft={self.nfft}; raise nfft"
            )
        empty = self.empty_bands()
        if empty:
            raise ValueError(
                f"{self.num_filters} mel bands over a {self.nfft}-point FFT at "
                f"{self.sample_rate} Hz leave band {empty[0]} with no FFT bin (a constant "
                f"feature that stalls training); use fewer bands or a larger nfft "
                f"(e.g. {2 * self.nfft})"
            )

    def empty_bands(self) -> list[int]:
        """Mel bands (0-based) too narrow to hold an FFT bin at this nfft and rate."""
        bank = psf.get_filterbanks(self.num_filters, self.nfft, self.sample_rate)
        return [int(i) for i in np.flatnonzero(bank.sum(axis=1) <= 0)]

    @property
    def spectral_dim(self) -> int:
        """MFCC or log-mel dimensions: the first of each block."""
        return self.num_cepstra if self.kind == "mfcc" else self.num_filters

    @property
    def cmn_dim(self) -> int:
        """Leading static dimensions that ``cmn`` normalizes: the spectrum and the
        zero-crossing rate, never the pitch (its level is what tells voices apart)."""
        return self.spectral_dim + int(self.zcr)

    @property
    def base_dim(self) -> int:
        """Dimensions before deltas: spectrum, then the zero-crossing rate, then the pitch
        pair (log F0, periodicity), each when on."""
        return self.cmn_dim + PITCH_DIMS * int(self.pitch)

    @property
    def dim(self) -> int:
        """Dimensions the model sees."""
        return self.base_dim * (3 if self.deltas else 1)

    @property
    def frames_per_second(self) -> float:
        """Feature frames per second of audio."""
        return 1.0 / self.hop_seconds

    @property
    def frame_samples(self) -> int:
        """Samples per analysis window, rounded as python_speech_features rounds them."""
        return int(psf.sigproc.round_half_up(self.window_seconds * self.sample_rate))

    @property
    def hop_samples(self) -> int:
        """Samples between frame starts, rounded as python_speech_features rounds them."""
        return int(psf.sigproc.round_half_up(self.hop_seconds * self.sample_rate))

    def num_frames(self, num_samples: int) -> int:
        """Frame count python_speech_features produces for ``num_samples`` samples."""
        if num_samples <= self.frame_samples:
            return 1
        return 1 + int(np.ceil((num_samples - self.frame_samples) / self.hop_samples))


def base_features(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCC or log-mel frames (without deltas) of float samples in [-1, 1]."""
    signal = np.asarray(samples, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n,), got shape {signal.shape}")
    if signal.size == 0:  # no samples: one frame of silence, like any clip under a frame
        signal = np.zeros(1)
    samples = signal
    # psf works on int16-scaled values in its examples; scale so log energies are comparable.
    signal = signal * 32768.0
    common = dict(
        samplerate=config.sample_rate,
        winlen=config.window_seconds,
        winstep=config.hop_seconds,
        nfilt=config.num_filters,
        nfft=config.nfft,
        preemph=PREEMPHASIS,
        winfunc=np.hamming,
    )
    if config.kind == "mfcc":
        feats = psf.mfcc(signal, numcep=config.num_cepstra, appendEnergy=True, **common)
    else:
        energies, _ = psf.fbank(signal, **common)  # logfbank() lacks winfunc
        feats = np.log(energies)
    if config.zcr:
        feats = np.concatenate([feats, zero_crossing_rate(samples, config)[:, None]], axis=1)
    if config.pitch:
        feats = np.concatenate([feats, pitch_features(samples, config)], axis=1)
    return feats.astype(np.float32)


def pitch_features(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(frames, 2) per feature frame: log2(F0 / 150 Hz) where the frame is voiced (else 0),
    and its periodicity (1 for a pure periodic wave, near 0 for noise).

    Why: speaker gender lives mostly in the pitch, which neither MFCCs nor 40 mel bands
    resolve, and per-utterance mean normalization would erase its level. F0 comes from YIN
    (de Cheveigne & Kawahara 2002: the cumulative-mean-normalized squared difference, the
    first dip under an absolute threshold) on 40 ms windows centred on the feature frames;
    none of our dependencies has a pitch tracker.
    """
    signal = np.asarray(samples, dtype=np.float64)
    rate, hop, frames = config.sample_rate, config.hop_samples, config.num_frames(len(samples))
    size = max(round(PITCH_WINDOW_SECONDS * rate), config.frame_samples)
    lead = size // 2 - config.frame_samples // 2  # window centres = the feature frames' centres
    padded = np.concatenate([np.zeros(lead), signal, np.zeros(size + hop * frames)])
    out = np.empty((frames, PITCH_DIMS), np.float32)
    for first in range(0, frames, PITCH_CHUNK):  # bounded memory over long recordings
        starts = np.arange(first, min(first + PITCH_CHUNK, frames)) * hop
        windows = padded[starts[:, None] + np.arange(size)[None, :]]
        out[first : first + len(starts)] = _yin(windows, rate)
    return out


def _yin(windows: np.ndarray, rate: int) -> np.ndarray:
    """(n, 2) log2(F0 / reference) and periodicity of each (n, size) window."""
    n, size = windows.shape
    lag_min = int(rate / PITCH_RANGE_HZ[1])
    lag_max = min(int(np.ceil(rate / PITCH_RANGE_HZ[0])), size // 2)
    width = size - lag_max  # samples each squared difference sums over
    # cross[:, lag] = sum over the width of x[t] x[t + lag]; t + lag < size, so an FFT of
    # `size` points has no wrap-around where lags up to lag_max are read
    nfft = 1 << int(np.ceil(np.log2(size)))
    spec = np.fft.rfft(windows, nfft)
    head = np.fft.rfft(windows[:, :width], nfft)
    cross = np.fft.irfft(np.conj(head) * spec, nfft)[:, : lag_max + 1]
    energy = np.concatenate([np.zeros((n, 1)), np.cumsum(windows**2, axis=1)], axis=1)
    lags = np.arange(lag_max + 1)
    tail = energy[:, lags + width] - energy[:, lags]  # sum of x[t + lag]^2 over the width
    diff = np.maximum(energy[:, width : width + 1] + tail - 2 * cross, 0.0)
    cumulative = np.cumsum(diff[:, 1:], axis=1)
    norm = np.ones_like(diff)
    norm[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(cumulative, 1e-12)
    search = norm[:, lag_min : lag_max + 1]
    below = search < PITCH_THRESHOLD
    local_min = np.ones_like(below)
    local_min[:, :-1] = search[:, :-1] <= search[:, 1:]
    first = below & local_min
    pick = np.where(first.any(axis=1), first.argmax(axis=1), search.argmin(axis=1))
    rows = np.arange(n)
    lag = (pick + lag_min).astype(np.float64)
    # parabolic interpolation between neighbouring lags for a sub-sample period
    inner = (lag > lag_min) & (lag < lag_max)
    li = np.clip(lag.astype(int), 1, lag_max - 1)
    a, b, c = norm[rows, li - 1], norm[rows, li], norm[rows, li + 1]
    den = a - 2 * b + c
    shift = np.where(inner & (np.abs(den) > 1e-12), 0.5 * (a - c) / np.where(den == 0, 1, den), 0)
    lag = lag + np.clip(shift, -0.5, 0.5)
    periodicity = np.clip(1.0 - search[rows, pick], 0.0, 1.0)
    voiced = (periodicity >= PITCH_VOICED) & (windows.std(axis=1) > 1e-4)
    log_f0 = np.where(voiced, np.log2(rate / lag / PITCH_REFERENCE_HZ), 0.0)
    periodicity = np.where(voiced | (periodicity < PITCH_VOICED), periodicity, 0.0)
    return np.stack([log_f0, periodicity], axis=1)


def zero_crossing_rate(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(frames,) fraction of sign changes per frame, framed exactly as the MFCCs are.

    Why: it separates voiced sounds, fricatives and noise cheaply; system 4 of the
    classification issue feeds it beside the deltas into its auxiliary branch.
    """
    signal = np.asarray(samples, dtype=np.float64)
    frames = psf.sigproc.framesig(signal, config.frame_samples, config.hop_samples)
    signs = np.signbit(frames)
    return (signs[:, 1:] != signs[:, :-1]).mean(axis=1).astype(np.float32)


DELTA_WINDOW = 2
# python_speech_features' delta regression (frames repeated at the edges) as one correlation:
# d[t] = sum_n n (x[t+n] - x[t-n]) / (2 sum_n n^2). psf.delta loops over frames in Python,
# which made reading a sharded pack 4x slower than training needs; the numbers are the same.
_DELTA_WEIGHTS = np.arange(-DELTA_WINDOW, DELTA_WINDOW + 1) / (
    2.0 * sum(n * n for n in range(1, DELTA_WINDOW + 1))
)


def add_deltas(base: np.ndarray) -> np.ndarray:
    """Append first and second differences (window 2) along the time axis."""
    d1 = scipy.ndimage.correlate1d(base, _DELTA_WEIGHTS, axis=0, mode="nearest")
    d2 = scipy.ndimage.correlate1d(d1, _DELTA_WEIGHTS, axis=0, mode="nearest")
    return np.concatenate([base, d1, d2], axis=1).astype(np.float32)


def complete_features(base: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(frames, config.dim) features from ``base_features``' output: the one place the delta
    and mean-normalization rules live (feature packs store only the base and finish it here
    on load).

    With ``cmn`` each utterance's mean is subtracted from its static coefficients (cepstral
    mean normalization): a fixed channel or vocal-tract tilt is a constant offset in the
    cepstrum, so this removes it; deltas are unchanged by it. The pitch pair keeps its level.
    """
    if config.cmn:
        base = base.copy()
        n = config.cmn_dim
        base[:, :n] -= base[:, :n].mean(axis=0, keepdims=True)
    return add_deltas(base) if config.deltas else base


def compute_features(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Un-normalized (frames, config.dim) float32 features of one utterance: the only
    featurizer, used by training (asr.data) and serving (Transcriber.features) alike."""
    return complete_features(base_features(samples, config), config)


def _band_warp(num_filters: int, sample_rate: int, alpha: float) -> np.ndarray:
    """(target, source) interpolation matrix moving mel bands as a vocal tract ``alpha``
    times shorter would (VTLP's piecewise-linear warp; ``alpha`` > 1 raises formants)."""
    nyquist = sample_rate / 2
    mels = np.linspace(psf.hz2mel(0), psf.hz2mel(nyquist), num_filters + 2)
    centers = psf.mel2hz(mels[1:-1])
    bend = WARP_BOUNDARY * nyquist * min(1.0, alpha)
    source = np.where(
        centers <= bend,
        centers / alpha,
        bend / alpha + (centers - bend) * (nyquist - bend / alpha) / (nyquist - bend),
    )
    pos = (psf.hz2mel(source) - mels[1]) / (mels[2] - mels[1])
    pos = np.clip(pos, 0, num_filters - 1)
    low = np.minimum(np.floor(pos).astype(int), num_filters - 2)
    frac = pos - low
    matrix = np.zeros((num_filters, num_filters))
    rows = np.arange(num_filters)
    matrix[rows, low] = 1 - frac
    matrix[rows, low + 1] += frac
    return matrix


def frequency_warp(config: FeatureConfig, alpha: float) -> np.ndarray:
    """(base_dim, base_dim) matrix W: ``base_features(x) @ W`` approximates the features of
    the same speech from a speaker whose formants sit ``alpha`` times higher.

    Why: a few synthetic voices span few vocal tracts; warping the spectral envelope (VTLP,
    Jaitly & Hinton 2013) makes new ones during training without new audio. For MFCCs the
    warp acts on the smooth envelope the liftered cepstra describe; c0 (log energy) is kept.
    W is linear, so the same W warps delta and delta-delta blocks. The pitch pair, when on,
    is left as it is: a longer or shorter vocal tract moves formants, not F0.
    """
    if config.zcr:
        raise ValueError("the frequency warp needs features without the zero-crossing rate")
    bands = _band_warp(config.num_filters, config.sample_rate, alpha)
    warp = np.eye(config.base_dim)
    if config.kind == "fbank":
        warp[: config.num_filters, : config.num_filters] = bands
        return warp.T.astype(np.float32)
    n = config.num_cepstra
    dct = scipy.fft.dct(np.eye(config.num_filters), type=2, norm="ortho", axis=0)[1:n]
    lift = 1 + (CEPLIFTER / 2) * np.sin(np.pi * np.arange(1, n) / CEPLIFTER)
    warp[1:n, 1:n] = (lift[:, None] * dct) @ bands @ (dct.T / lift[None, :])
    return warp.T.astype(np.float32)


class Normalizer:
    """Per-dimension mean/std normalization with statistics from the training set."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.maximum(np.asarray(std, dtype=np.float32), 1e-5)

    @classmethod
    def fit(cls, features: Sequence[np.ndarray]) -> Normalizer:
        """Statistics over all frames of all utterances (float64 sums for stability)."""
        if not features:
            raise ValueError("cannot compute normalization statistics from zero utterances")
        total, s, ss = 0, 0.0, 0.0
        for f in features:  # one pass: a pack's features are read from disk on demand
            total += f.shape[0]
            s = s + f.sum(axis=0, dtype=np.float64)
            ss = ss + np.square(f, dtype=np.float64).sum(axis=0)
        mean = s / total
        var = np.maximum(ss / total - mean**2, 0.0)
        return cls(mean, np.sqrt(var))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Normalized float32 features."""
        return ((features - self.mean) / self.std).astype(np.float32)
