"""Real-world channels for clean speech: rooms, noise, narrowband codecs, gain, clipping.

The shipped model learned from synthesizers and game dialogue recorded close to the
microphone; people talk in rooms, over phones and beside other noise. A channel here is a
random chain of such effects applied to a waveform, so a clean corpus can be rendered once
more as if recorded (``tools/augment_corpus.py``) and trained on beside the original.

Everything is a library's job where one does it: room impulse responses come from
pyroomacoustics (image-source shoebox rooms; an optional dependency), filters and
resampling from SciPy, μ-law, A-law and GSM 06.10 from libsndfile through soundfile. Only
the mixing (SNR, gain, clipping) and coloured noise are arithmetic written here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.signal
import soundfile as sf

from asr.errors import AsrError

CODECS = ("ULAW", "ALAW", "GSM610")  # libsndfile WAV subtypes, run at 8 kHz as on a phone


@dataclass(frozen=True)
class ChannelConfig:
    """How often each effect is drawn, and its ranges; every effect is independent."""

    reverb: float = 0.5  # probability of a simulated room
    rt60: tuple[float, float] = (0.15, 0.9)  # seconds
    noise: float = 0.6  # probability of additive noise
    snr_db: tuple[float, float] = (0.0, 30.0)
    babble: float = 0.4  # of the noise draws: other speakers rather than coloured noise
    narrowband: float = 0.4  # probability of a band limit (8 or 11.025 kHz, or telephone)
    codec: float = 0.25  # probability of a telephone codec (implies an 8 kHz channel)
    gain_db: tuple[float, float] = (-20.0, 0.0)  # level of the peak below 0.9 full scale
    clip: float = 0.05  # probability of hard clipping at 30-90 % of the peak


LOWEST_NOISE_HZ = 20.0  # colored noise holds nothing below hearing


def colored_noise(
    n: int, rng: np.random.Generator, exponent: float, rate: int = 16000
) -> np.ndarray:
    """Noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS over
    what is heard: nothing below ``LOWEST_NOISE_HZ``. Without that cut nearly all of brown
    noise's power sat under 1 Hz, so "-30 dBFS" of it was about -64 dBFS of sound."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / rate)
    heard = freqs >= LOWEST_NOISE_HZ
    weights = np.zeros_like(freqs)
    weights[heard] = freqs[heard] ** (-exponent / 2)
    shaped = np.fft.irfft(spectrum * weights, n)
    return shaped / (np.sqrt(np.mean(shaped**2)) + 1e-12)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` (looped or cut to its length) at ``snr_db`` dB."""
    if len(noise) < len(speech):
        noise = np.tile(noise, int(np.ceil(len(speech) / max(len(noise), 1))))
    noise = noise[: len(speech)]
    p_speech = np.mean(speech**2) + 1e-12
    p_noise = np.mean(noise**2) + 1e-12
    return speech + noise * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))


def band_limit(samples: np.ndarray, rate: int, band_rate: int) -> np.ndarray:
    """Down to ``band_rate`` and back (anti-alias filtering as a resampler does it)."""
    from fractions import Fraction

    ratio = Fraction(band_rate, rate).limit_denominator(1000)
    low = scipy.signal.resample_poly(samples, ratio.numerator, ratio.denominator)
    back = scipy.signal.resample_poly(low, ratio.denominator, ratio.numerator)
    return _fit(back, len(samples))


def telephone_band(samples: np.ndarray, rate: int) -> np.ndarray:
    """The 300-3400 Hz band of a telephone line."""
    sos = scipy.signal.butter(4, [300, 3400], btype="bandpass", fs=rate, output="sos")
    return scipy.signal.sosfilt(sos, samples)


def codec(samples: np.ndarray, rate: int, subtype: str) -> np.ndarray:
    """A round trip through a telephone codec at 8 kHz (libsndfile's encoder and decoder)."""
    if subtype not in CODECS:
        raise AsrError(f"unknown codec {subtype!r}; choose one of {list(CODECS)}")
    narrow = scipy.signal.resample_poly(samples, 1, rate // 8000) if rate % 8000 == 0 else None
    if narrow is None:
        raise AsrError(f"codecs need a sample rate that is a multiple of 8 kHz, not {rate}")
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(narrow, -1.0, 1.0), 8000, format="WAV", subtype=subtype)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64")
    back = scipy.signal.resample_poly(decoded, rate // 8000, 1)
    return _fit(back, len(samples))


def room_impulses(
    count: int, rate: int, rng: np.random.Generator, rt60: tuple[float, float]
) -> list[np.ndarray]:
    """``count`` impulse responses of random shoebox rooms (size, reverberation time,
    source and microphone positions), from pyroomacoustics' image-source model."""
    try:
        import pyroomacoustics as pra
    except ImportError as e:
        raise AsrError(
            "simulated rooms need pyroomacoustics: pip install 'asr[augment]' (or set the "
            "reverb probability to 0)"
        ) from e
    out = []
    while len(out) < count:
        dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
        target = float(rng.uniform(*rt60))
        try:
            absorption, order = pra.inverse_sabine(target, dims)
        except ValueError:  # a reverberation time this room cannot have
            continue
        room = pra.ShoeBox(
            dims, fs=rate, materials=pra.Material(absorption), max_order=min(order, 17)
        )
        margin = 0.5
        room.add_source(rng.uniform(margin, dims - margin))
        room.add_microphone(rng.uniform(margin, dims - margin))
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], dtype=np.float64)
        out.append(rir / (np.abs(rir).max() + 1e-12))
    return out


def reverberate(samples: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``samples`` as heard through a room, aligned on the direct path, same length."""
    start = int(np.argmax(np.abs(rir)))
    wet = scipy.signal.fftconvolve(samples, rir[start:])[: len(samples)]
    return wet * (np.abs(samples).max() / (np.abs(wet).max() + 1e-12))


@dataclass
class Channel:
    """Draws and applies random channels; holds the room and babble pools they draw from."""

    config: ChannelConfig
    rate: int
    rooms: Sequence[np.ndarray] = ()
    babble: Sequence[np.ndarray] = ()  # other utterances, summed in threes to fives

    def __call__(self, samples: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """The recorded version of ``samples`` (float in [-1, 1]) and what was done, e.g.
        ``room(rt60) noise:pink@12dB codec:GSM610 gain:-8dB``."""
        c = self.config
        x = np.asarray(samples, dtype=np.float64)
        steps: list[str] = []
        if self.rooms and rng.random() < c.reverb:
            x = reverberate(x, self.rooms[int(rng.integers(len(self.rooms)))])
            steps.append("room")
        if rng.random() < c.noise:
            snr = float(rng.uniform(*c.snr_db))
            if self.babble and rng.random() < c.babble:
                picks = rng.integers(len(self.babble), size=int(rng.integers(3, 6)))
                noise = sum(_loop(self.babble[int(i)], len(x), rng) for i in picks)
                kind = "babble"
            else:
                exponent = float(rng.choice([0.0, 1.0, 2.0]))
                noise = colored_noise(len(x), rng, exponent, self.rate)
                kind = {0.0: "white", 1.0: "pink", 2.0: "brown"}[exponent]
            x = mix_at_snr(x, noise, snr)
            steps.append(f"noise:{kind}@{snr:.0f}dB")
        if rng.random() < c.codec:
            name = str(rng.choice(CODECS))
            x = codec(telephone_band(x, self.rate), self.rate, name)
            steps.append(f"codec:{name}")
        elif rng.random() < c.narrowband:
            kind = str(rng.choice(["8000", "11025", "telephone"]))
            x = (
                telephone_band(x, self.rate)
                if kind == "telephone"
                else band_limit(x, self.rate, int(kind))
            )
            steps.append(f"band:{kind}")
        gain = float(rng.uniform(*c.gain_db))  # the peak, relative to 0.9 of full scale
        x = x / (np.abs(x).max() + 1e-12) * 0.9 * 10 ** (gain / 20)
        steps.append(f"gain:{gain:.0f}dB")
        if rng.random() < c.clip:
            level = float(rng.uniform(0.3, 0.9)) * (np.abs(x).max() + 1e-12)
            x = np.clip(x, -level, level)
            steps.append("clip")
        return np.clip(x, -1.0, 1.0).astype(np.float32), " ".join(steps)


def _loop(voice: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """One babble voice at unit RMS, repeated to ``n`` samples from a random offset."""
    voice = np.asarray(voice, dtype=np.float64)
    voice = voice / (np.sqrt(np.mean(voice**2)) + 1e-12)
    reps = np.tile(voice, int(np.ceil(n / max(len(voice), 1))) + 1)
    start = int(rng.integers(max(len(voice), 1)))
    return reps[start : start + n]


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded to ``n`` samples (resampling round trips drift by a few)."""
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))
