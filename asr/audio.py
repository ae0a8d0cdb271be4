"""Audio loading stage: an audio file (path, bytes or binary stream) -> float32 mono in [-1, 1].

Decoding is libsndfile's job, through soundfile: WAV in every encoding it reads (PCM 8 to 32
bit, float, double, A-law, mu-law, IMA/MS ADPCM, GSM 6.10, also RF64 and W64), FLAC, Ogg
Vorbis, Opus, MP3, AIFF, AU and its other formats. What this module adds on top:

- one-line ``AudioError`` messages, ``NAME: what is wrong; the fix``, for every bad input,
  instead of libsndfile's exceptions, a traceback, or a silently shortened file;
- mixdown to mono (mean of the channels) within full scale: float files louder than 1.0 are
  scaled by the file's peak, codec overshoot is clipped;
- resampling to the model's rate with scipy's ``resample_poly``;
- ``AudioStream``: windows of a long file read from disk on demand (memory flat in the
  file's length), each equal to what ``load_audio`` gives for that slice.

No TensorFlow.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shlex
import stat
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from asr.errors import AudioError

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_SAMPLE_RATE",
    "AudioSource",
    "AudioStream",
    "WavStream",
    "audio_duration",
    "find_audio_files",
    "is_audio_file",
    "load_audio",
    "read_audio",
    "read_wav",
    "resample",
]

AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

DEFAULT_SAMPLE_RATE = 16000  # Hz, the rate the models are trained and run at
MIN_SAMPLE_RATE = 1000  # Hz, below this a header is corrupt rather than speech
MAX_SAMPLE_RATE = 384000  # Hz, above this a header is corrupt (and resample filters get huge)
# Lower-case suffixes directory search picks up: the formats libsndfile reads.
AUDIO_EXTENSIONS = (
    ".wav", ".wave", ".bwf", ".rf64", ".w64", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".sph", ".nist", ".voc",
)  # fmt: skip

_PLACEHOLDER_SIZE = 0x7FFF0000  # bytes; declared data sizes from here up mean "until EOF"
_BLOCK_SAMPLES = 1 << 20  # samples (all channels) per decode call: a lying header costs no RAM
_SEEK_RUN_UP = 1 << 15  # frames decoded before a seek target and dropped (MP3 bit reservoir)
_RESAMPLE_PAD_PERIODS = 32  # extra resampling periods read on each side of a stream window
_SHOWN_BYTES = 4  # leading bytes of an unreadable input quoted in the error
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # libsndfile leaves these unscaled: they may pass ±1
_UNRECOGNISED = 1  # SF_ERR_UNRECOGNISED_FORMAT: no format libsndfile knows starts like this
# libsndfile's log line for a data chunk declaring more bytes than the file holds.
_SHORT_DATA = re.compile(r"^\s*(?:data|SSND|Data Size)\s*:\s*(\d+) \(should be (\d+)\)", re.M)
_MUTE_LOCK = threading.RLock()  # one fd-2 redirection at a time, or a restore could be lost


class _TextStreamError(AudioError, TypeError):
    """A text-mode stream: bad input for the CLI (one line) and a wrong type for callers."""


# No audio file is a TiB: a seek past it comes from a damaged header, and where it lands
# would depend on the filesystem's size limit (ext4: 16 TiB) for a path but not for bytes.
_MAX_SEEK = 2**40


class _Source:
    """An input as libsndfile's virtual I/O reads it, with the name errors use.

    Virtual I/O for paths too: libsndfile then judges by content alone (given a path, a .mp3
    name sends any file to mpg123), and bytes and files behave alike. A failed seek (damaged
    headers make libsndfile seek before the start) keeps the position, as lseek does, rather
    than raise inside a cffi callback, which prints a traceback to stderr.
    """

    def __init__(self, name: str, file: BinaryIO, is_path: bool) -> None:
        self.name, self.is_path, self._file = name, is_path, file  # name: path or "<stdin>"
        self.head = self.read(16)  # first bytes, for messages and the MP3 check
        self.seek(0)
        if not self.head:
            file.close()
            raise _error(name, "empty file (0 bytes)", "re-record or re-export it")

    @property
    def mpeg(self) -> bool:
        """Whether libsndfile hands it to mpg123 (ID3 tag or frame sync first, as it checks)."""
        head = self.head
        return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] >= 0xE0)

    def read(self, size: int = -1) -> bytes:
        """Bytes for libsndfile; an I/O error reads as the end (the file is then truncated)."""
        try:
            return self._file.read(size)
        except OSError:
            return b""

    def readinto(self, buffer: memoryview) -> int:
        """read() into libsndfile's buffer, without a copy."""
        try:
            return self._file.readinto(buffer) or 0
        except OSError:
            return 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move, or stay put where a file would refuse (before the start, past _MAX_SEEK).

        Checked here, not left to the file: a BytesIO clamps a relative seek before the start
        to 0 where lseek refuses, and moves to any far offset where a filesystem refuses past
        its size limit, so libsndfile would parse bytes and paths differently.
        """
        here = self._file.tell()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: here}.get(whence)
        if base is None:  # SEEK_END: the length, without moving
            base = self._file.seek(0, io.SEEK_END)
            self._file.seek(here)
        if not 0 <= base + offset <= _MAX_SEEK:
            return here
        try:
            return self._file.seek(offset, whence)
        except (OSError, ValueError, OverflowError):
            return self._file.seek(here)

    def tell(self) -> int:
        """Position in bytes."""
        return self._file.tell()

    def close(self) -> None:
        """Close the file (libsndfile never closes what it did not open)."""
        self._file.close()

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(name: str, problem: str, fix: str) -> AudioError:
    """``NAME: problem; fix`` (AudioError escapes CR/LF, so it stays one line)."""
    return AudioError(f"{name}: {problem}; {fix}")


def _convert_fix(src: _Source) -> str:
    """The command that turns anything ffmpeg reads into a WAV asr reads."""
    given = shlex.quote(src.name) if src.is_path else "-"
    return f"convert it, e.g. ffmpeg -i {given} -ar {DEFAULT_SAMPLE_RATE} -ac 1 out.wav"


def _check_rate(rate: object) -> int:
    """Reject rates that cannot be resampled to or from, before scipy sees them."""
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise AudioError(f"invalid sample rate {rate!r}; use a positive integer in Hz, e.g. 16000")
    return int(rate)


@contextlib.contextmanager
def _muted(active: bool) -> Iterator[None]:
    """Send fd 2 to /dev/null: mpg123 prints resync notes there that would break one-line output."""
    saved = -1
    if active:
        _MUTE_LOCK.acquire()
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:  # no fd 2 to redirect: nothing to keep clean either
            saved = -1
    try:
        yield
    finally:
        if active:
            if saved >= 0:
                os.dup2(saved, 2)
                os.close(saved)
            _MUTE_LOCK.release()


# ---------------------------------------------------------------- sources


def _path_error(name: str, exc: OSError) -> AudioError:
    """Map the OS's reasons for not opening a path to messages with a fix."""
    if isinstance(exc, FileNotFoundError):
        return _error(name, "no such file", "check the path")
    if isinstance(exc, IsADirectoryError) or os.path.isdir(name):
        return _error(name, "is a directory, not an audio file", "pass the audio files inside it")
    if isinstance(exc, PermissionError):
        return _error(name, "permission denied", "check the file's permissions")
    return _error(name, f"cannot read it ({exc.strerror or exc})", "check the file")


def _from_path(path: str | os.PathLike[str], pipes: bool) -> _Source:
    """An open regular file; a pipe is read through once (``pipes``) or refused."""
    name = os.fsdecode(path)
    try:
        mode = os.stat(name).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(name)
        if stat.S_ISREG(mode):
            return _Source(name, open(name, "rb"), True)  # closed with the _Source
        if not pipes:  # opening a pipe without a writer blocks; reading it eats the audio
            raise _error(name, "not a regular file (a pipe or device)", "save it as a file first")
        with open(name, "rb") as f:  # e.g. <(sox ...): it cannot seek, so read it whole
            return _Source(name, io.BytesIO(f.read()), True)
    except OSError as exc:
        raise _path_error(name, exc) from exc


def _source(source: AudioSource, pipes: bool = True) -> _Source:
    """A path, bytes object or binary stream (read whole: stdin cannot seek) as a _Source."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _Source("<bytes>", io.BytesIO(bytes(source)), False)
    if isinstance(source, str | os.PathLike):
        return _from_path(source, pipes)
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        name = name if isinstance(name, str) and name else "<stdin>"
        try:
            data = source.read()
        except OSError as exc:
            raise _error(name, f"cannot read it ({exc})", "check the input") from exc
        if not isinstance(data, bytes | bytearray | memoryview):
            raise _TextStreamError(
                f"{name}: stream is in text mode; open it with 'rb' or pass sys.stdin.buffer"
            )
        return _Source(name, io.BytesIO(bytes(data)), name != "<stdin>")
    raise TypeError(f"expected a path, bytes or a binary stream, got {type(source).__name__}")


# ---------------------------------------------------------------- libsndfile


def _open_error(src: _Source, exc: Exception) -> AudioError:
    """libsndfile's refusal as a one-line message: not audio at all, or damaged audio."""
    head = src.head[:_SHOWN_BYTES]
    if isinstance(exc, sf.LibsndfileError) and exc.code == _UNRECOGNISED:
        problem = f"not an audio file libsndfile can read (starts with {head!r})"
        return _error(src.name, problem, _convert_fix(src))
    if src.mpeg:  # mpg123's refusal comes with a misleading "file does not exist" text
        problem = f"no MP3 audio libsndfile can decode (starts with {head!r})"
    else:
        reason = exc.error_string if isinstance(exc, sf.LibsndfileError) else str(exc)
        problem = f"corrupt, truncated or unsupported audio (libsndfile: {reason.rstrip('.')})"
    return _error(src.name, problem, "re-export or re-download it, or " + _convert_fix(src))


def _open(src: _Source) -> sf.SoundFile:
    """libsndfile's handle on the source, after the header checks load and duration share."""
    src.seek(0)
    try:
        with _muted(src.mpeg):
            f = sf.SoundFile(src)
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError) as exc:
        raise _open_error(src, exc) from exc
    try:
        _check_header(f, src)
    except AudioError:
        f.close()
        raise
    return f


def _check_header(f: sf.SoundFile, src: _Source) -> None:
    """Refuse what the header alone shows: a cut-off data chunk, an absurd rate, no frames."""
    short = _SHORT_DATA.search(f.extra_info)  # libsndfile notes the cut, then reads what is there
    if short and int(short[1]) < _PLACEHOLDER_SIZE:  # bigger sizes: streamed, "until EOF"
        declared, present = short[1], short[2]
        problem = f"truncated audio file (header declares {declared} bytes, {present} present)"
        raise _error(src.name, problem, "re-export or re-download it")
    if not MIN_SAMPLE_RATE <= f.samplerate <= MAX_SAMPLE_RATE:
        window = f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        problem = f"sample rate {f.samplerate} Hz is outside {window}"
        raise _error(src.name, problem, _convert_fix(src))
    if f.frames <= 0:
        raise _error(src.name, "no audio samples (0 frames)", "re-record or re-export it")


def _truncated(src: _Source, got: int, promised: int) -> AudioError:
    """Fewer frames decode than the header promises: cut off, or corrupt past that point."""
    problem = f"truncated or corrupt audio (only {got} of {promised} frames decode)"
    return _error(src.name, problem, "re-export or re-download it")


def _decode(f: sf.SoundFile, src: _Source, frames: int) -> np.ndarray:
    """Up to ``frames`` (frames, channels) from the current position, in blocks: float32, or
    float64 for double files (their values may not fit float32 before peak scaling)."""
    block, dtype = max(1, _BLOCK_SAMPLES // f.channels), _dtype(f)
    parts, total = [], 0
    try:
        with _muted(src.mpeg):
            while total < frames:
                part = f.read(min(block, frames - total), dtype=dtype, always_2d=True)
                if not len(part):
                    break
                parts.append(part)
                total += len(part)
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        problem = f"truncated or corrupt audio (libsndfile stopped after {total} frames: {exc})"
        raise _error(src.name, problem, "re-export or re-download it") from exc
    if not parts:
        return np.zeros((0, f.channels), dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _dtype(f: sf.SoundFile) -> str:
    """What libsndfile decodes into: integer PCM and codecs land in ±1, float files as stored."""
    return "float64" if f.subtype == "DOUBLE" else "float32"


def _finite_peak(data: np.ndarray, name: str) -> float:
    """Largest magnitude; NaN or inf samples are refused (they would poison the features)."""
    if not np.isfinite(data).all():
        raise _error(name, "NaN or infinite samples", "re-export it from the source")
    return float(np.max(np.abs(data), initial=0.0))


def _to_mono(data: np.ndarray, name: str, peak: float | None) -> np.ndarray:
    """Mix (frames, channels) down by mean, within ±1, alike for whole files and windows.

    ``peak``: a float file's largest magnitude over the whole file; past 1.0 it scales every
    window alike (scaling keeps the waveform). Without it, codec overshoot is clipped.
    """
    _finite_peak(data, name)
    if peak is not None and peak > 1.0:
        data = data / data.dtype.type(peak)
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(np.clip(mono, -1.0, 1.0), dtype=np.float32)


# ---------------------------------------------------------------- public API


def read_audio(source: AudioSource) -> tuple[np.ndarray, int]:
    """Float32 mono samples at the file's own rate, for callers that resample themselves."""
    with _source(source) as src, _open(src) as f:
        data = _decode(f, src, f.frames)
        if len(data) < f.frames:
            raise _truncated(src, len(data), f.frames)
        peak = _finite_peak(data, src.name) if f.subtype in _FLOAT_SUBTYPES else None
        return _to_mono(data, src.name, peak), f.samplerate


read_wav = read_audio  # the name from before asr read more than WAV


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
    # source: a path, an audio file's bytes (e.g. stdin) or a binary stream. Bad input: a
    # one-line AudioError naming it ("<bytes>"/"<stdin>" without a path). Even 1 sample
    # loads: the feature stage decides what is too short.
    rate = _check_rate(sample_rate)
    samples, orig = read_audio(source)
    if orig != rate:
        samples = resample(samples, orig, rate)
        np.clip(samples, -1.0, 1.0, out=samples)  # the filter can ring slightly past ±1
    return samples


def audio_duration(path: AudioSource) -> float:
    """Seconds of audio from the header alone (cheap for corpus statistics); same errors as load.

    A path must name a regular file: a pipe cannot be read ahead without consuming it.
    """
    with _source(path, pipes=False) as src, _open(src) as f:
        return f.frames / f.samplerate


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
    """Expand command-line arguments: files as given, directories searched for audio (sorted)."""
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


class AudioStream:
    """Segments of an audio file at a target rate, decoded from disk on demand.

    Why: an hour of 16 kHz audio is 230 MB as float32; long-audio transcription reads only
    the window it is working on, so memory does not grow with the file. Each read seeks
    with a run-up (decoders such as MP3's need one to match a straight read) and resamples
    with enough neighbouring input that the filter's edges fall outside the slice.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int) -> None:
        self.rate = _check_rate(sample_rate)
        self._src = _from_path(path, pipes=False)  # a pipe cannot seek
        self.name = self._src.name
        try:
            self._file = _open(self._src)
            if not self._file.seekable():
                what = f"libsndfile cannot seek in {self._file.subtype} audio"
                raise _error(self.name, what, "load it whole, or " + _convert_fix(self._src))
            self.orig_rate = self._file.samplerate
            self._frames = self._file.frames
            self._peak: float | None = None  # float files: |sample| peak of the whole file
            if self._file.subtype in _FLOAT_SUBTYPES:
                self._peak = self._scan()
            else:
                self._check_end()
        except BaseException:
            self.close()
            raise
        g = math.gcd(self.orig_rate, self.rate)
        self._up, self._down = self.rate // g, self.orig_rate // g
        self.num_samples = -(-self._frames * self._up // self._down)

    def _scan(self) -> float:
        """The whole file's peak, block by block (load_audio scales float files by it)."""
        peak, total, block = 0.0, 0, max(1, _BLOCK_SAMPLES // self._file.channels)
        while total < self._frames:
            part = _decode(self._file, self._src, min(block, self._frames - total))
            if not len(part):
                raise _truncated(self._src, total, self._frames)
            peak, total = max(peak, _finite_peak(part, self.name)), total + len(part)
        return peak

    def _check_end(self) -> None:
        """The last frame must decode, as load_audio demands; a header may promise too much."""
        self._seek(self._frames - 1)
        if len(_decode(self._file, self._src, 1)) != 1:
            raise _truncated(self._src, self._frames - 1, self._frames)

    def _seek(self, frame: int) -> None:
        """Go to a frame; the start is a fresh open, as load_audio decodes from it (a short
        Opus file decodes differently after a seek back to 0)."""
        if frame == 0:
            self._file.close()
            self._file = _open(self._src)
            return
        try:
            with _muted(self._src.mpeg):
                self._file.seek(frame)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            raise _truncated(self._src, frame, self._frames) from exc

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.num_samples / self.rate

    def close(self) -> None:
        """Release the file (garbage collection does it too)."""
        if hasattr(self, "_file"):
            self._file.close()
        self._src.close()

    def __del__(self) -> None:
        if hasattr(self, "_src"):
            self.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mono(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) at the file's rate, mono, as load_audio would give them."""
        start, stop = max(0, start), min(stop, self._frames)
        if stop <= start:
            return np.zeros(0, np.float32)
        begin = max(0, start - _SEEK_RUN_UP)
        self._seek(begin)
        data = _decode(self._file, self._src, stop - begin)[start - begin :]
        if len(data) < stop - start:
            raise _truncated(self._src, start + len(data), self._frames)
        # Scaled by the file's peak, not the window's: each window must match load_audio.
        return _to_mono(data, self.name, self._peak)

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


WavStream = AudioStream  # the name from before asr read more than WAV
