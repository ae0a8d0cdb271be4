"""Audio loading stage: a WAV (path, bytes or binary stream) -> float32 mono samples in [-1, 1].

Pure NumPy/SciPy, no TensorFlow. Sample decoding is scipy.io.wavfile.read's job; the small
chunk walk in front of it exists only so that every malformed input becomes a one-line
``AudioError`` naming the file, the problem and the fix (instead of a scipy traceback, a
warning, or a multi-gigabyte allocation driven by a lying header), and so that
``audio_duration`` can answer from the header alone.

Accepted: RIFF/RIFX/RF64 WAVE with integer PCM (8-bit unsigned, 16/24/32-bit signed, any
container scipy reads) or IEEE float (32/64-bit), plain or WAVE_FORMAT_EXTENSIBLE, any
channel count (mixed down by mean). Streams whose sizes were never filled in (``sox``,
``espeak-ng --stdout``, ``ffmpeg`` writing to a pipe) are read up to the end of the input.
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from asr.errors import AudioError

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "AudioSource",
    "audio_duration",
    "find_audio_files",
    "is_audio_file",
    "load_audio",
    "read_wav",
    "resample",
]

AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

DEFAULT_SAMPLE_RATE = 16000  # Hz, the rate the models are trained and run at
MIN_SAMPLE_RATE = 1000  # Hz, below this a header is corrupt rather than speech
MAX_SAMPLE_RATE = 384000  # Hz, above this a header is corrupt (and resample filters get huge)
AUDIO_EXTENSIONS = (".wav",)  # lower-case suffixes find_audio_files picks up

_STREAMING_DATA_SIZE = 0x7FFF0000  # bytes; declared sizes from here up mean "until EOF"
_MAX_RIFF_DATA = 0xFFFFFFFF - 44  # bytes of samples a rebuilt RIFF header can describe
_MAX_CHUNKS = 1024  # chunks scanned before 'data' (real files have fewer than 10)
_SHOWN_BYTES = 4  # leading bytes of a non-WAV input quoted in the error

_PCM = 0x0001  # WAVE_FORMAT_PCM
_IEEE_FLOAT = 0x0003  # WAVE_FORMAT_IEEE_FLOAT
_EXTENSIBLE = 0xFFFE  # WAVE_FORMAT_EXTENSIBLE: the real format is in a sub-format GUID
# Bytes 4..15 of every KSDATAFORMAT_SUBTYPE GUID (first three groups are stored native-endian).
_GUID_TAIL = {
    "<": b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71",
    ">": b"\x00\x00\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71",
}
_FORMAT_NAMES = {
    0x0000: "unknown",
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
    0x0161: "WMA",
    0x1610: "AAC",
    0x6C61: "ALAC",
    0x704F: "Opus",
    0xF1AC: "FLAC",
}
# (leading bytes, human name, usual file extension) of formats people rename to .wav.
_SIGNATURES = (
    (b"ID3", "MP3", "mp3"),
    (b"\xff\xfb", "MP3", "mp3"),
    (b"\xff\xf3", "MP3", "mp3"),
    (b"\xff\xf2", "MP3", "mp3"),
    (b"fLaC", "FLAC", "flac"),
    (b"OggS", "Ogg", "ogg"),
    (b"FORM", "AIFF", "aiff"),
    (b"\x1aE\xdf\xa3", "WebM/Matroska", "webm"),
    (b".snd", "Sun AU", "au"),
    (b"#!AMR", "AMR", "amr"),
)


@dataclass(frozen=True)
class _WavLayout:
    """What the header says, validated against the bytes actually present."""

    big_endian: bool
    format_tag: int  # _PCM or _IEEE_FLOAT (EXTENSIBLE already resolved)
    channels: int
    sample_rate: int  # Hz
    block_align: int  # bytes per frame (all channels)
    bits_per_sample: int
    data_offset: int  # bytes from the start of the input to the first sample
    frames: int  # whole frames present (never more than the input holds)


def _error(name: str, problem: str, fix: str) -> AudioError:
    """One-line error: newlines in file names or scipy messages must not split it."""
    message = f"{name}: {problem}; {fix}"
    return AudioError(message.replace("\r", "\\r").replace("\n", "\\n"))


def _check_rate(rate: object) -> int:
    """Reject rates that cannot be resampled to or from, before scipy sees them."""
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise AudioError(f"invalid sample rate {rate!r}; use a positive integer in Hz, e.g. 16000")
    return int(rate)


# ---------------------------------------------------------------- sources


def _path_error(name: str, exc: OSError) -> AudioError:
    """Map the OS's reasons for not opening a path to messages with a fix."""
    if isinstance(exc, FileNotFoundError):
        return _error(name, "no such file", "check the path")
    if isinstance(exc, IsADirectoryError) or os.path.isdir(name):
        return _error(name, "is a directory, not a WAV file", "pass the .wav files inside it")
    if isinstance(exc, PermissionError):
        return _error(name, "permission denied", "check the file's permissions")
    return _error(name, f"cannot read it ({exc.strerror or exc})", "check the file")


def _stream_name(stream: object) -> str:
    """A stream's file name for messages, or "<stdin>" when it has none."""
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) and name else "<stdin>"


def _file_name(path: str | os.PathLike[str]) -> str:
    """The path as text for messages; a directory is refused with the fix."""
    name = os.fsdecode(path)
    if os.path.isdir(name):
        raise _error(name, "is a directory, not a WAV file", "pass the .wav files inside it")
    return name


def _read_source(source: AudioSource) -> tuple[str, bytes]:
    """All bytes of a path, bytes object or binary stream, plus the name errors should use."""
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>", bytes(source)
    if isinstance(source, str | os.PathLike):
        name = _file_name(source)
        try:
            with open(name, "rb") as f:
                return name, f.read()
        except OSError as exc:
            raise _path_error(name, exc) from exc
    if hasattr(source, "read"):
        name = _stream_name(source)
        try:
            data = source.read()
        except OSError as exc:
            raise _error(name, f"cannot read it ({exc})", "check the input") from exc
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"{name}: stream is in text mode; open it with 'rb' or use .buffer")
        return name, bytes(data)
    raise TypeError(f"expected a path, bytes or a binary stream, got {type(source).__name__}")


# ---------------------------------------------------------------- header


def _not_wav(name: str, head: bytes) -> AudioError:
    """Name the format people most often rename to .wav, and how to convert it."""
    shown = repr(head[:_SHOWN_BYTES])
    rate = DEFAULT_SAMPLE_RATE
    kind = next((k for sig, k, _ in _SIGNATURES if head.startswith(sig)), None)
    ext = next((e for sig, _, e in _SIGNATURES if head.startswith(sig)), "mp3")
    if head[4:8] == b"ftyp":
        kind, ext = "MP4/M4A", "m4a"
    if head[:4] in (b"RIFF", b"RIFX", b"RF64"):
        what = f"not a WAV file (a RIFF {head[8:12]!r} file)"
        return _error(name, what, f"convert it to WAV, e.g. ffmpeg -i in -ar {rate} -ac 1 out.wav")
    what = f"not a WAV file ({'looks like ' + kind + '; ' if kind else ''}starts with {shown})"
    how = "convert it to WAV" if kind else "if it is audio, convert it to WAV"
    return _error(name, what, f"{how}, e.g. sox in.{ext} -r {rate} -c 1 out.wav")


def _unsupported(name: str, what: str) -> AudioError:
    """Compressed or exotic encodings: scipy only decodes linear PCM and IEEE float."""
    return _error(
        name,
        f"unsupported WAV encoding {what}",
        "convert it to 16-bit PCM, e.g. sox in.wav -e signed-integer -b 16 out.wav",
    )


def _corrupt(name: str, what: str) -> AudioError:
    """Headers no writer would produce: nothing to do but re-create the file."""
    return _error(name, f"corrupt WAV header ({what})", "re-export or re-download it")


def _parse_fmt(name: str, body: bytes, e: str) -> tuple[int, int, int, int, int]:
    """(format tag, channels, rate, block align, bits) of a 'fmt ' chunk, checked for scipy."""
    if len(body) < 16:
        raise _corrupt(name, f"'fmt ' chunk is {len(body)} bytes, needs 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from(e + "HHIIHH", body)
    if tag == _EXTENSIBLE:
        if len(body) < 40:
            raise _corrupt(name, f"WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is {len(body)} bytes")
        guid = body[24:40]
        if guid[4:] != _GUID_TAIL[e]:
            raise _unsupported(name, f"WAVE_FORMAT_EXTENSIBLE sub-format {guid.hex()}")
        tag = struct.unpack_from(e + "I", guid)[0]
    if tag not in (_PCM, _IEEE_FLOAT):
        label = _FORMAT_NAMES.get(tag, "")
        raise _unsupported(name, f"{label + ' ' if label else ''}(format tag {tag:#06x})")
    if channels == 0:
        raise _corrupt(name, "0 channels")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise _error(
            name,
            f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz",
            f"resample it, e.g. sox in.wav -r {DEFAULT_SAMPLE_RATE} out.wav",
        )
    if block_align == 0 or block_align % channels or rate * block_align > 0xFFFFFFFF:
        raise _corrupt(name, f"block align {block_align} for {channels} channels")
    width = block_align // channels  # bytes per sample container
    if tag == _PCM and not (1 <= bits <= 8 * width and width <= 8 and (bits > 8 or width == 1)):
        raise _unsupported(name, f"{bits}-bit integer PCM in {width}-byte samples")
    if tag == _IEEE_FLOAT and (bits, width) not in ((32, 4), (64, 8)):
        raise _unsupported(name, f"{bits}-bit float in {width}-byte samples")
    return tag, channels, rate, block_align, bits


def _is_cut_wav_start(head: bytes) -> bool:
    """Whether fewer than 12 bytes are the start of a WAV (truncated, not some other format)."""
    return (
        len(head) < 12
        and any(sig.startswith(head[:4]) for sig in (b"RIFF", b"RIFX", b"RF64"))
        and b"WAVE".startswith(head[8:12])
    )


def _read_layout(fid: BinaryIO, size: int, name: str) -> _WavLayout:
    """Walk the chunks up to 'data' (seeking, never reading samples) and validate them."""
    if size == 0:
        raise _error(name, "empty file (0 bytes)", "re-record or re-export it")
    fid.seek(0)
    head = fid.read(12)
    if head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        if _is_cut_wav_start(head):
            raise _error(name, f"truncated WAV ({size} bytes)", "re-export or re-download it")
        raise _not_wav(name, head)
    e = ">" if head[:4] == b"RIFX" else "<"
    rf64_data_size: int | None = None
    fmt: tuple[int, int, int, int, int] | None = None
    pos = 12
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > size:
            if pos < size:
                raise _error(name, "truncated WAV (cut inside a chunk header)", "re-export it")
            raise _error(name, "no audio samples (no 'data' chunk)", "re-record or re-export it")
        fid.seek(pos)
        chunk_id, chunk_size = struct.unpack(e + "4sI", fid.read(8))
        pos += 8
        if chunk_id == b"data":
            if fmt is None:
                raise _corrupt(name, "no 'fmt ' chunk before the 'data' chunk")
            if chunk_size == 0xFFFFFFFF and rf64_data_size is not None:
                chunk_size = rf64_data_size
            return _data_layout(name, e, fmt, pos, chunk_size, size)
        if pos + chunk_size > size:
            raise _error(
                name, f"truncated WAV (chunk {chunk_id!r} runs past the end)", "re-export it"
            )
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(name, fid.read(chunk_size), e)
        elif chunk_id == b"ds64" and head[:4] == b"RF64" and chunk_size >= 16:
            rf64_data_size = struct.unpack("<8xQ", fid.read(16))[0]
        pos += chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    raise _corrupt(name, f"more than {_MAX_CHUNKS} chunks before 'data'")


def _data_layout(
    name: str, e: str, fmt: tuple[int, int, int, int, int], offset: int, declared: int, size: int
) -> _WavLayout:
    """Trust the data size only as far as the input goes; placeholders mean "until EOF"."""
    tag, channels, rate, block_align, bits = fmt
    present = size - offset
    if declared > present and declared < _STREAMING_DATA_SIZE:
        raise _error(
            name,
            f"truncated WAV (header declares {declared} bytes of audio, only {present} present)",
            "re-export or re-download it",
        )
    nbytes = min(declared, present)
    frames = nbytes // block_align
    if frames == 0:
        raise _error(
            name, f"no audio samples ({nbytes}-byte data chunk)", "re-record or re-export it"
        )
    if frames * block_align > _MAX_RIFF_DATA:
        raise _error(name, "more than 4 GiB of audio", "split it into shorter files")
    return _WavLayout(e == ">", tag, channels, rate, block_align, bits, offset, frames)


# ---------------------------------------------------------------- decoding


def _decode(raw: bytes, layout: _WavLayout, name: str) -> np.ndarray:
    """Samples in scipy's dtype; scipy sees a rebuilt exact header so quirks cannot trip it."""
    # Placeholder sizes, wrong byte rates, unknown or trailing chunks were all dealt with above.
    e = ">" if layout.big_endian else "<"
    nbytes = layout.frames * layout.block_align
    fmt = struct.pack(
        e + "HHIIHH",
        layout.format_tag,
        layout.channels,
        layout.sample_rate,
        layout.sample_rate * layout.block_align,
        layout.block_align,
        layout.bits_per_sample,
    )
    header = (
        (b"RIFX" if layout.big_endian else b"RIFF")
        + struct.pack(e + "I", 36 + nbytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack(e + "I", len(fmt))
        + fmt
        + b"data"
        + struct.pack(e + "I", nbytes)
    )
    start = layout.data_offset
    buf = b"".join((header, memoryview(raw)[start : start + nbytes]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", wavfile.WavFileWarning)
            _, data = wavfile.read(io.BytesIO(buf))
    except Exception as exc:  # scipy raises ValueError, EOFError, MemoryError, warnings...
        raise _error(name, f"cannot decode WAV samples ({exc})", "re-export it as PCM WAV") from exc
    return np.asarray(data)


def _to_float_mono(data: np.ndarray, name: str, peak: float | None = None) -> np.ndarray:
    """Scale integers by their container's full scale, keep floats finite and in ±1, mix down.

    ``peak``: the whole file's largest float magnitude when ``data`` is only a part of it, so
    every part is scaled alike (by default, the peak of ``data``).
    """
    if data.dtype.kind == "u":  # 8-bit WAV is unsigned, silence at 128
        samples = (data.astype(np.float32) - np.float32(128)) / np.float32(128)
    elif data.dtype.kind == "i":  # left-justified in the container, so 24-bit is int32
        samples = data.astype(np.float32) * np.float32(2.0 ** (1 - 8 * data.dtype.itemsize))
    else:
        if not np.isfinite(data).all():
            raise _error(
                name, "float WAV contains NaN or infinite samples", "re-export it from the source"
            )
        peak = float(np.max(np.abs(data))) if peak is None else peak
        # Float WAVs may exceed ±1; scaling by the peak keeps the waveform, clipping would not.
        samples = (data / peak if peak > 1.0 else data).astype(np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32)


# ---------------------------------------------------------------- public API


def read_wav(source: AudioSource) -> tuple[np.ndarray, int]:
    """Float32 mono samples at the file's own rate, for callers that resample themselves."""
    name, raw = _read_source(source)
    layout = _read_layout(io.BytesIO(raw), len(raw), name)
    return _to_float_mono(_decode(raw, layout, name), name), layout.sample_rate


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling by the exact rational ratio (no FFT wrap-around at the ends)."""
    orig, target = _check_rate(orig_rate), _check_rate(target_rate)
    x = np.asarray(samples, dtype=np.float32)
    if orig == target or x.size == 0:
        return x
    g = math.gcd(orig, target)
    return np.asarray(resample_poly(x, target // g, orig // g, axis=0), dtype=np.float32)


def load_audio(source: AudioSource, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Float32 mono samples in [-1, 1] at ``sample_rate``: what the feature stage expects."""
    # source: a path, a WAV's bytes (e.g. stdin) or a binary stream. Bad input: one-line
    # AudioError naming it ("<bytes>"/"<stdin>" without a path). Even 1 sample loads: the
    # feature stage decides what is too short.
    rate = _check_rate(sample_rate)
    samples, orig = read_wav(source)
    if orig != rate:
        samples = resample(samples, orig, rate)
        np.clip(samples, -1.0, 1.0, out=samples)  # the filter can ring slightly past ±1
    return samples


def audio_duration(path: AudioSource) -> float:
    """Seconds of audio from the header alone (cheap for corpus statistics); same errors as load.

    A path must name a regular file: a pipe cannot be read ahead without consuming it.
    """
    if isinstance(path, str | os.PathLike):
        name = _file_name(path)
        try:
            # A pipe has no size to read a header against: opening one without a writer
            # blocks forever, and reading it here would leave nothing for load_audio.
            if not stat.S_ISREG(os.stat(name).st_mode):
                raise _error(
                    name, "not a regular file (a pipe or device)", "save it as a .wav file first"
                )
            with open(name, "rb") as f:
                layout = _read_layout(f, os.fstat(f.fileno()).st_size, name)
        except OSError as exc:
            raise _path_error(name, exc) from exc
    else:
        name, raw = _read_source(path)
        layout = _read_layout(io.BytesIO(raw), len(raw), name)
    return layout.frames / layout.sample_rate


def is_audio_file(path: str | os.PathLike[str]) -> bool:
    """Whether directory search should pick this file up (by extension, case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def _search(directory: Path) -> list[Path]:
    """Audio files below a directory, skipping hidden entries (e.g. macOS ``._x.wav``)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root, f)
            for f in files
            if not f.startswith(".") and is_audio_file(f) and os.path.isfile(os.path.join(root, f))
        ]
    return sorted(found)


def find_audio_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand command-line arguments: files as given, directories searched for .wav (sorted)."""
    # Argument order is kept; a path that does not exist raises AudioError naming it.
    if isinstance(paths, str | os.PathLike):
        paths = [paths]  # a lone path, not an iterable of characters
    found: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found += _search(path)
        elif path.exists():
            found.append(path)
        else:
            raise _error(str(path), "no such file or directory", "check the path")
    return found


# ---------------------------------------------------------------- long files

_STREAM_DTYPES = {(_PCM, 8): "u1", (_PCM, 16): "i2", (_PCM, 32): "i4"}
_STREAM_DTYPES |= {(_IEEE_FLOAT, 32): "f4", (_IEEE_FLOAT, 64): "f8"}
_RESAMPLE_PAD_PERIODS = 32  # extra resampling periods read on each side of a segment


class WavStream:
    """Segments of a WAV file at a target rate, read from disk on demand.

    Why: an hour of 16 kHz audio is 230 MB as float32; long-audio transcription reads only
    the window it is working on, so memory does not grow with the file. Resampling runs per
    segment with enough neighbouring input that the filter's edges fall outside the slice.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int) -> None:
        name = _file_name(path)
        self.rate = _check_rate(sample_rate)
        try:
            with open(name, "rb") as fid:
                layout = _read_layout(fid, os.fstat(fid.fileno()).st_size, name)
        except OSError as exc:  # the same one-line errors as load_audio, not a traceback
            raise _path_error(name, exc) from exc
        code = _STREAM_DTYPES.get((layout.format_tag, layout.bits_per_sample))
        if code is None or layout.block_align != layout.channels * int(code[1]):
            raise _unsupported(name, f"{layout.bits_per_sample}-bit samples for streaming")
        dtype = np.dtype((">" if layout.big_endian else "<") + code)
        self.name = name
        self.orig_rate = layout.sample_rate
        self._dtype, self._layout = dtype, layout
        g = math.gcd(self.orig_rate, self.rate)
        self._up, self._down = self.rate // g, self.orig_rate // g
        self.num_samples = -(-layout.frames * self._up // self._down)
        self._peak: float | None = None  # float files: |sample| peak of the whole file
        if dtype.kind == "f":  # same full-scale rule as load_audio, over the whole file
            self._peak = max(
                float(np.max(np.abs(self._frames(i, i + 1_000_000))))
                for i in range(0, layout.frames, 1_000_000)
            )

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.num_samples / self.rate

    def _frames(self, start: int, stop: int) -> np.ndarray:
        """Raw (frames, channels) samples; plain reads, so no file pages stay resident."""
        layout = self._layout
        stop = min(stop, layout.frames)
        with open(self.name, "rb") as fid:
            fid.seek(layout.data_offset + start * layout.block_align)
            data = np.fromfile(fid, dtype=self._dtype, count=(stop - start) * layout.channels)
        return data.reshape(-1, layout.channels)

    def _mono(self, start: int, stop: int) -> np.ndarray:
        # Scaled by the file's peak, not the block's: each window must match load_audio.
        return _to_float_mono(self._frames(start, stop), self.name, self._peak)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Float32 mono samples [start, stop) at the target rate, as load_audio would give."""
        start, stop = max(0, start), min(stop, self.num_samples)
        if stop <= start:
            return np.zeros(0, np.float32)
        if self._up == self._down:
            return self._mono(start, stop)
        up, down = self._up, self._down
        pad = _RESAMPLE_PAD_PERIODS * max(1, math.ceil(10 * max(up, down) / up / down))
        first = max(0, start // up - pad)  # whole resampling periods: index * up / down exact
        last = -(-stop // up) + pad
        raw = self._mono(first * down, last * down)
        out = resample_poly(raw, up, down).astype(np.float32)
        base = first * up
        segment = out[start - base : stop - base]
        return np.clip(segment, -1.0, 1.0, out=segment)
