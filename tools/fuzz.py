"""Fuzz the input stages: the audio reader, the manifest readers and the CTC decoders.

Why: every broken input must end in a valid result or the project's own one-line error
naming the input, never a traceback, a hang or non-finite output. Each case is generated
from its own seed by a structure-aware generator (files libsndfile writes in every format
it reads, their WAV headers' size, rate and channel fields edited, bytes mutated, cut or
spliced; JSONL/CSV/TSV text with malicious lines; logits of random shapes, lengths and
NaN/inf values) and checked against that invariant:

- audio: read_audio, load_audio and audio_duration on the bytes and on a file (odd names
  included), then AudioStream: finite float32 mono samples within +-1 with consistent
  lengths, or an AudioError starting with the input's name; bytes and file agree;
  AudioStream windows equal load_audio; nothing written to stderr (decoding is libsndfile's,
  and its mpg123 prints notes there unless asr.audio silences them).
- manifest: detect_format and read_manifest_report: utterances with absolute (existing)
  paths, usable transcripts and finite durations, skip reasons naming file:line, or a
  ManifestError starting with the manifest's path and a line number that exists.
- decoding: greedy_decode(_batch), collapse, log_softmax, split_at_blanks, greedy and forced
  alignment with token_spans, beam_search: ids in range and never blank, alignments
  monotonic and complete, pieces exact, or a ValueError naming the shape or argument.

Anything else fails: another exception type, a message of more than one line, a warning
leaking out of the audio or manifest readers, a case running past ``--timeout``.

    python tools/fuzz.py                                  # all targets, 3000 cases each
    python tools/fuzz.py --target audio --cases 20000 --seed 7
    python tools/fuzz.py --target manifest --replay 1234  # re-run one case, with traceback

A default run (3 x 3000 cases) takes about 25 s on 2 cores. A case's seed is
``seed * 1_000_000 + index``, so a failure printed by one run is replayed
with ``--replay``; its input is also saved under ``--save-failures``. Exit status: 0 when
every case held the invariant, 1 otherwise, 2 on bad options. The generators are plain
functions of a ``random.Random``, so tests drive them from hypothesis as well
(tests/test_faults_cli.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import re
import shlex
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr import decoding as dec  # noqa: E402
from asr.audio import (  # noqa: E402
    DEFAULT_SAMPLE_RATE,
    AudioStream,
    audio_duration,
    load_audio,
    read_audio,
)
from asr.errors import AudioError, ManifestError  # noqa: E402
from asr.manifest import (  # noqa: E402
    Utterance,
    detect_format,
    read_manifest_report,
    transcript_problem,
)

DEFAULT_CASES = 3000  # per target; about 25 s for all three on 2 cores
DEFAULT_TIMEOUT = 10.0  # seconds per case; the slowest legal file (a prime rate) takes ~1 s
SEED_STRIDE = 1_000_000  # case seed = seed * SEED_STRIDE + index
SHOWN_FAILURES = 10  # failures printed in full per target
SEEN_DUPLICATES = 3  # failures with the same first line after which only the count grows


class Failure(Exception):
    """The invariant did not hold: a wrong exception, a bad message or a bad result."""


class CaseTimeout(BaseException):
    """A case ran past its time limit (BaseException: code under test must not catch it)."""


@dataclass
class Outcome:
    """What one case gave: ``valid``, ``rejected`` (a clean error) or ``failure``."""

    kind: str
    detail: str = ""
    seconds: float = 0.0


def one_line(message: str) -> bool:
    """Whether an error message fits on one terminal line (no CR/LF, not empty)."""
    return bool(message.strip()) and "\n" not in message and "\r" not in message


def escaped(name: str) -> str:
    """A file name as asr.audio writes it into a one-line message."""
    return name.replace("\r", "\\r").replace("\n", "\\n")


def _short(value: object, limit: int = 300) -> str:
    """repr(value) cut to ``limit`` characters for a report."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _expect(condition: bool, what: str) -> None:
    """Raise Failure(what) unless ``condition``."""
    if not condition:
        raise Failure(what)


def _call(fn: Callable[[], object], errors: tuple[type[BaseException], ...]) -> tuple[bool, object]:
    """(True, result) or (False, message) for the allowed error types; anything else fails."""
    try:
        return True, fn()
    except CaseTimeout:
        raise
    except errors as exc:
        message = str(exc)
        _expect(one_line(message), f"{type(exc).__name__} message is not one line: {message!r}")
        return False, message
    except Exception as exc:
        raise Failure(f"unexpected {type(exc).__name__}: {_short(str(exc), 200)}") from exc


# ============================================================================== audio

# fmt: off
_U32_INTERESTING = (
    0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 18, 40, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF,
    0x10000, 0x7FFF0000, 0x7FFFF000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
)
_MPEG_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # Hz
_ANY_RATES = _MPEG_RATES + (1000, 7919, 96000, 192000, 384000)  # Hz, a prime among them
# (format, subtype, rates it can be written at, most channels): what libsndfile writes, each
# WAV encoding once, the common compressed formats twice as often.
_CODECS = (
    ("WAV", "PCM_U8", _ANY_RATES, 8), ("WAV", "PCM_16", _ANY_RATES, 8),
    ("WAV", "PCM_24", _ANY_RATES, 8), ("WAV", "PCM_32", _ANY_RATES, 8),
    ("WAV", "FLOAT", _ANY_RATES, 8), ("WAV", "DOUBLE", _ANY_RATES, 8),
    ("WAV", "ALAW", _ANY_RATES, 2), ("WAV", "ULAW", _ANY_RATES, 2),
    ("WAV", "IMA_ADPCM", _ANY_RATES, 2), ("WAV", "MS_ADPCM", _ANY_RATES, 2),
    ("WAV", "GSM610", (8000,), 1), ("WAVEX", "PCM_24", _ANY_RATES, 8),
    ("RF64", "PCM_16", _ANY_RATES, 2), ("W64", "FLOAT", _ANY_RATES, 2),
    ("AIFF", "PCM_16", _ANY_RATES, 2), ("AU", "ULAW", _ANY_RATES, 2),
    ("CAF", "PCM_16", _ANY_RATES, 2),
) + (
    ("FLAC", "PCM_16", _ANY_RATES[:-1], 8), ("FLAC", "PCM_24", _ANY_RATES[:-1], 2),
    ("OGG", "VORBIS", _MPEG_RATES, 2), ("OGG", "OPUS", (8000, 12000, 16000, 24000, 48000), 2),
    ("MP3", "MPEG_LAYER_III", _MPEG_RATES, 2),
) * 2
_FOREIGN_STARTS = (
    b"ID3\x03", b"\xff\xfb\x90", b"fLaC", b"OggS", b"FORM", b"\x1aE\xdf\xa3", b".snd", b"#!AMR",
    b"\x00\x00\x00\x20ftypM4A ", b"RIFF\x10\x00\x00\x00AVI ", b"caff", b"riff",
)
# File names for the path variant: odd characters must stay on one line in messages.
_AUDIO_NAMES = (
    "a.wav", "with space.wav", "ünïcödé.flac", "x.WAV", "noext", "new\nline.wav", "cr\rname.mp3",
    "tab\tname.wav", "-dash.wav", "it's.ogg",
)
# fmt: on


@dataclass
class AudioCase:
    """Audio-ish bytes, the file name the path variant writes them to, and how they were made."""

    data: bytes
    name: str
    how: str
    stream_rate: int = DEFAULT_SAMPLE_RATE
    missing: bool = False  # give a path that does not exist instead of the bytes
    directory: bool = False  # give a directory instead of the bytes

    def describe(self) -> str:
        """One line on how the input was made."""
        return f"{self.how}; {len(self.data)} bytes; name {self.name!r}"


def _signal(
    rng: random.Random, nrng: np.random.Generator, shape: tuple[int, int], loud: bool
) -> np.ndarray:
    """Noise and a tone; float encodings may get values past full scale, NaN and inf."""
    frames = shape[0]
    t = np.arange(frames)[:, None] * rng.uniform(0.001, 1.0)
    x = rng.uniform(0, 0.7) * np.sin(t + np.arange(shape[1])) + nrng.normal(0, 0.1, shape)
    if not loud:
        return np.clip(x, -1.0, 1.0)
    x *= rng.choice([1.0, 1.0, 3.0, 1e6, 1e30, 1e-40])
    if frames and rng.random() < 0.2:  # specials where float files go wrong
        for _ in range(rng.randint(1, 3)):
            x.flat[rng.randrange(x.size)] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 5e-324])
    return x


def _encoded(rng: random.Random, nrng: np.random.Generator) -> tuple[bytes, str]:
    """A file libsndfile writes, in a random format, encoding, rate and channel count."""
    fmt, subtype, rates, most = rng.choice(_CODECS)
    rate, channels = rng.choice(rates), rng.randint(1, most) if rng.random() < 0.3 else 1
    frames = rng.choice([0, 1, 2, 5, rng.randint(1, 400), rng.randint(1, 6000)])
    data = _signal(rng, nrng, (frames, channels), subtype in ("FLOAT", "DOUBLE"))
    buf = io.BytesIO()
    try:
        sf.write(buf, data, rate, format=fmt, subtype=subtype)
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:  # e.g. no empty Ogg
        return b"", f"{fmt}/{subtype} not written ({exc})"
    return buf.getvalue(), f"{fmt}/{subtype} {channels}ch {rate} Hz {frames} frames"


def _u32(rng: random.Random, actual: int) -> int:
    """A 32-bit size field: interesting, near the actual value, or random."""
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(_U32_INTERESTING)
    if roll < 0.85:
        return max(0, min(0xFFFFFFFF, actual + rng.randint(-9, 9)))
    return rng.getrandbits(32)


def _edit_wav_header(rng: random.Random, raw: bytes) -> tuple[bytes, str]:
    """Overwrite a field asr.audio acts on: the data size (placeholder or cut), the sample
    rate (outside 1000..384000 Hz) or the channel count; other bytes are _mutate's job."""
    data, fmt = raw.find(b"data", 12), raw.find(b"fmt ", 12)
    if not raw.startswith(b"RIFF") or data < 0 or fmt < 0 or len(raw) < fmt + 16:
        return raw, "no WAV header to edit"
    out = bytearray(raw)
    field = rng.choice(["data size", "data size", "rate", "channels"])
    if field == "data size":
        value = _u32(rng, len(raw) - data - 8)
        out[data + 4 : data + 8] = struct.pack("<I", value)
    elif field == "rate":
        value = rng.choice([0, 1, 999, 1000, 7919, 384000, 384001, rng.getrandbits(32)])
        out[fmt + 12 : fmt + 16] = struct.pack("<I", value)
    else:
        value = rng.choice([0, 1, 2, 3, 0xFFFF])
        out[fmt + 10 : fmt + 12] = struct.pack("<H", value)
    return bytes(out), f"{field} set to {value:#x}"


def _mutate(rng: random.Random, raw: bytes) -> tuple[bytes, str]:
    """One to four byte-level mutations: flips, cuts, splices, overwritten words."""
    data = bytearray(raw)
    done = []
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(data)
        head = min(n, 64)  # most damage goes where the header is
        if op == 0 and n:
            i = rng.randrange(head if rng.random() < 0.7 else n)
            data[i] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.getrandbits(8)])
            done.append(f"byte {i}")
        elif op == 1:
            cut = rng.randint(0, n)
            data = data[:cut]
            done.append(f"cut at {cut}")
        elif op == 2:
            i = rng.randint(0, n)
            data[i:i] = rng.randbytes(rng.randint(1, 16))
            done.append(f"insert at {i}")
        elif op == 3 and n:
            i = rng.randrange(n)
            del data[i : i + rng.randint(1, 16)]
            done.append(f"delete at {i}")
        elif op == 4 and n >= 4:
            i = rng.randrange(max(1, head - 3))
            data[i : i + 4] = struct.pack("<I", rng.choice(_U32_INTERESTING))
            done.append(f"word at {i}")
        elif op == 5 and n:
            i = rng.randrange(n)
            data += data[i : i + rng.randint(1, 64)]
            done.append("duplicate tail")
        elif op == 6:
            data += rng.randbytes(rng.randint(1, 32))
            done.append("junk appended")
        elif op == 7 and n:
            i = rng.randrange(n)
            data[i] ^= 1 << rng.randrange(8)
            done.append(f"bit flip at {i}")
    return bytes(data), "mutated: " + ",".join(done)


def generate_audio(rng: random.Random) -> AudioCase:
    """An audio-ish input: mostly files libsndfile wrote (often damaged), some garbage and
    other formats' signatures."""
    nrng = np.random.default_rng(rng.getrandbits(64))
    roll = rng.random()
    if roll < 0.75:
        raw, how = _encoded(rng, nrng)
        if rng.random() < 0.25:
            raw, more = _edit_wav_header(rng, raw)
            how += "; " + more
        if rng.random() < 0.3:
            raw, more = _mutate(rng, raw)
            how += "; " + more
    elif roll < 0.82:
        raw, how = rng.randbytes(rng.choice([0, 1, 4, 11, 12, 44, rng.randint(0, 400)])), "random"
    elif roll < 0.87:
        size = rng.randint(0, 200)
        raw = b"RIFF" + rng.randbytes(4) + b"WAVE" + rng.randbytes(size)
        how = "RIFF....WAVE + random"
    elif roll < 0.92:
        raw = rng.choice(_FOREIGN_STARTS) + rng.randbytes(rng.randint(0, 100))
        how = "another format's signature"
    elif roll < 0.97:
        full, how = _encoded(rng, nrng)
        cut = rng.randint(0, min(len(full), 60))
        raw, how = full[:cut], f"{how}, cut at {cut} bytes"
    else:
        raw, how = b"", "path without bytes"
    name = rng.choice(_AUDIO_NAMES) if rng.random() < 0.3 else "case.wav"
    rate = rng.choice([DEFAULT_SAMPLE_RATE] * 4 + [8000, 22050])
    case = AudioCase(raw, name, how, stream_rate=rate)
    if how == "path without bytes":
        case.missing, case.directory = (True, False) if rng.random() < 0.5 else (False, True)
    return case


def _check_samples(samples: object, what: str) -> np.ndarray:
    """Float32 mono, at least one sample, finite and within full scale."""
    _expect(isinstance(samples, np.ndarray), f"{what} returned {type(samples).__name__}")
    assert isinstance(samples, np.ndarray)
    _expect(samples.dtype == np.float32, f"{what} dtype {samples.dtype}, want float32")
    _expect(samples.ndim == 1, f"{what} shape {samples.shape}, want mono (n,)")
    _expect(samples.size >= 1, f"{what} returned no samples instead of an AudioError")
    _expect(bool(np.isfinite(samples).all()), f"{what} returned NaN/inf samples")
    _expect(float(np.abs(samples).max()) <= 1.0, f"{what} exceeds full scale")
    return samples


def _named(message: str, name: str, what: str) -> None:
    """The message starts with the input's name (as asr.audio escapes it)."""
    _expect(
        message.startswith(escaped(name) + ": "),
        f"{what} error does not start with {escaped(name)!r}: {message!r}",
    )


def _unnamed(message: str, name: str) -> str:
    """A message without the input's name: as its start and as the ffmpeg command's input
    (a path is given quoted, bytes as ``-``), so path and bytes messages compare."""
    body = message.removeprefix(escaped(name))
    return body.replace(f" -i {escaped(shlex.quote(name))} ", " -i - ")


@contextlib.contextmanager
def stderr_written() -> Iterator[list[bytes]]:
    """Collect what the code under test writes to file descriptor 2 (C libraries included:
    mpg123's notes there would break the CLI's one line per bad file)."""
    written: list[bytes] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield written
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            written.append(sink.read())


def check_audio(case: AudioCase, workdir: Path) -> str:
    """The readers on the case, with nothing written to stderr meanwhile."""
    with stderr_written() as written:
        kind = _check_audio(case, workdir)
    _expect(not written[0], f"wrote to stderr: {_short(written[0], 200)}")
    return kind


def _check_audio(case: AudioCase, workdir: Path) -> str:
    """read_audio/load_audio/audio_duration on the bytes and on a file, AudioStream on the file."""
    path = _audio_path(case, workdir)
    if case.missing or case.directory:
        for fn in (
            read_audio,
            load_audio,
            audio_duration,
            lambda p: AudioStream(p, case.stream_rate),
        ):
            ok, msg = _call(lambda fn=fn: fn(path), (AudioError,))
            _expect(not ok, f"{path} gave a result instead of an AudioError")
            _named(str(msg), str(path), "path")
        return "rejected"
    raw = case.data
    ok_read, read = _call(lambda: read_audio(raw), (AudioError,))
    ok_load, loaded = _call(lambda: load_audio(raw), (AudioError,))
    ok_dur, duration = _call(lambda: audio_duration(raw), (AudioError,))
    for ok, result, what in ((ok_read, read, "read_audio"), (ok_load, loaded, "load_audio")):
        if not ok:
            _named(str(result), "<bytes>", what)
    if not ok_dur:
        _named(str(duration), "<bytes>", "audio_duration")
    _expect(ok_read == ok_load, f"read_audio ok={ok_read} but load_audio ok={ok_load}")
    if not ok_dur:  # a header problem: loading must refuse it with the very same message
        _expect(not ok_read and read == duration, f"audio_duration: {duration!r}, read: {read!r}")
    if ok_read:
        samples, rate = read  # type: ignore[misc]
        _check_samples(samples, "read_audio")
        _expect(isinstance(rate, int) and 1000 <= rate <= 384000, f"read_audio rate {rate!r}")
        out = _check_samples(loaded, "load_audio")
        want = len(samples) if rate == 16000 else -(-len(samples) * 16000 // rate)
        _expect(len(out) == want, f"load_audio gave {len(out)} samples, want {want}")
        _expect(ok_dur, f"audio_duration failed on a readable file: {duration!r}")
        _expect(duration == len(samples) / rate, f"duration {duration} != {len(samples)}/{rate}")
    # The same bytes from a file: same outcome, the file's name in the message.
    ok_file, from_file = _call(lambda: read_audio(path), (AudioError,))
    _expect(ok_file == ok_read, f"read_audio(path) ok={ok_file} but (bytes) ok={ok_read}")
    if ok_file:
        same = np.array_equal(from_file[0], read[0])  # type: ignore[index]
        _expect(same, "read_audio(path) and read_audio(bytes) give different samples")
    else:
        _named(str(from_file), str(path), "read_audio(path)")
        _expect(
            _unnamed(str(from_file), str(path)) == _unnamed(str(read), "<bytes>"),
            f"path and bytes messages differ: {from_file!r} vs {read!r}",
        )
    ok_fdur, fdur = _call(lambda: audio_duration(path), (AudioError,))
    _expect(ok_fdur == ok_dur, f"audio_duration(path) ok={ok_fdur}, (bytes) ok={ok_dur}")
    if ok_dur:
        _check_stream(path, case.stream_rate)
    return "valid" if ok_read else "rejected"


def _audio_path(case: AudioCase, workdir: Path) -> Path:
    """Where the path variant of the case lives (written, missing, or a directory)."""
    folder = workdir / "audio"
    folder.mkdir(exist_ok=True)
    path = folder / case.name
    if path.is_dir():
        path.rmdir()
    elif path.exists():
        path.unlink()
    if case.directory:
        path.mkdir()
    elif not case.missing:
        path.write_bytes(case.data)
    return path


def _check_stream(path: Path, rate: int) -> None:
    """AudioStream: refused cleanly, or windows that agree with load_audio at the same rate."""
    ok, stream = _call(lambda: AudioStream(path, rate), (AudioError,))
    if not ok:
        _named(str(stream), str(path), "AudioStream")
        return
    assert isinstance(stream, AudioStream)
    with stream:
        ok_all, whole = _call(lambda: stream.read(0, stream.num_samples), (AudioError,))
        ok_load, loaded = _call(lambda: load_audio(path, rate), (AudioError,))
        _expect(ok_all == ok_load, f"AudioStream.read ok={ok_all} but load_audio ok={ok_load}")
        if not ok_all:
            _named(str(whole), str(path), "AudioStream.read")
            return
        whole = _check_samples(whole, "AudioStream.read")
        _expect(len(whole) == stream.num_samples, f"read {len(whole)} of {stream.num_samples}")
        _expect(
            len(whole) == len(loaded) and bool(np.allclose(whole, loaded, atol=1e-5)),
            f"AudioStream differs from load_audio ({len(whole)} vs {len(loaded)} samples)",
        )
        a = random.Random(stream.num_samples).randint(0, stream.num_samples)
        b = random.Random(a).randint(a, stream.num_samples + 5)
        part = stream.read(a, b)
        _expect(
            part.dtype == np.float32 and len(part) == max(0, min(b, stream.num_samples) - a),
            f"AudioStream.read({a}, {b}) gave {len(part)} samples",
        )
        if len(part):
            gap = float(np.abs(part - whole[a:b]).max())
            _expect(gap <= 1e-3, f"AudioStream.read({a}, {b}) differs from the whole by {gap:.3g}")


# ============================================================================== manifests

# fmt: off
_JSON_BREAKERS = (
    '{"audio_filepath": "a.wav", "text": "hi"',  # unclosed
    '{"audio_filepath": "a.wav", "text": "hi",}',  # trailing comma
    "{'audio_filepath': 'a.wav', 'text': 'hi'}",  # Python, not JSON
    '{"audio_filepath": "a.wav", "text": "unterminated}',
    '{"audio_filepath": "a.wav" "text": "hi"}',
    "[" * 5000 + "]" * 5000,  # deeper than the recursion limit
    '{"a":' * 3000 + "1" + "}" * 3000,
    "[1, 2, 3]", '"just a string"', "null", "42", "{}", "\x00\x00\x00",
    '{"audio_filepath": "a.wav"}', '{"text": "hello"}',
    '{"audio_filepath": "a.wav", "text": "hi"} trailing',
    '{"audio_filepath": "a.wav", "text": "hi"}{"audio_filepath": "a.wav", "text": "hi"}',
)
_AUDIO_VALUES = (
    "a.wav", "a.wav", "sub/b.wav", "./a.wav", "sub/../a.wav", "missing.wav", "sub", "dir.wav",
    "", " ", "a.wav\x00", "a.wav ", "\ta.wav", "../outside/a.wav", "with space.wav", "ünï.wav",
    "a" * 5000 + ".wav", "new\nline.wav", "C:\\x\\a.wav", "file:///a.wav", "sub/b.wav/",
    "~/a.wav", "$HOME/a.wav",
)
_TEXT_VALUES = (
    "hello world", "Hello, World!", "it's 2024", "café au lait", "", " ", "...", "12345",
    "привет", "日本語", "ß", "a" * 10000, "9" * 5000, "1,000,000", "don't\u2019", "x\ny",
    "tab\there", "\u2028\u2029", "\ud800", "a\x00b", "١٢٣", "²", "ﬁne", "Ⅻ", "ａｂｃ",
    "b" * 200_000,  # past the csv module's field size limit
)
_NUMBERS = (1.5, 0, -1, -0.0, 1e308, 10**400, 2**64, 1e-320, math.nan, math.inf, -math.inf)
_NUMBER_TEXT = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000, "1E+2", "-0")
_SUFFIXES = (".jsonl", ".jsonl", ".json", ".csv", ".csv", ".tsv", ".tsv", ".txt", "", ".JSONL")
# Manifest file names; CR/LF in a name must not split a message over lines either.
MANIFEST_NAMES = ("m", "m", "m", "with space", "ünï", "-m", "new\nline", "cr\rm")
_GOOD_AUDIO = ("a.wav", "sub/b.wav", "./a.wav", "with space.wav", "ünï.wav", "sub/../a.wav")
_GOOD_TEXT = ("hello world", "Hello, World!", "it's 2024", "café au lait", "one  two\tthree")
# fmt: on


@dataclass
class ManifestCase:
    """Manifest bytes, the file name they are written under, and how to read them."""

    data: bytes
    name: str
    skip_invalid: bool
    check_audio: bool
    how: str
    kind: str = "file"  # "file", "missing" or "directory"

    def describe(self) -> str:
        """One line on how the input was made."""
        text = self.data[:300].decode("utf-8", "backslashreplace")
        return (
            f"{self.how}; {self.kind} {self.name!r}; skip_invalid={self.skip_invalid} "
            f"check_audio_exists={self.check_audio}; starts {text!r}"
        )


def _json_value(rng: random.Random, depth: int = 0) -> object:
    """Any JSON-ish value, biased to what manifests get wrong."""
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(_AUDIO_VALUES + _TEXT_VALUES)
    if roll < 0.45:
        return rng.choice(_NUMBERS)
    if roll < 0.55:
        return rng.choice([None, True, False])
    if roll < 0.65 and depth < 3:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.75 and depth < 3:
        return {rng.choice(["text", "x", ""]): _json_value(rng, depth + 1)}
    return "".join(
        chr(rng.choice([rng.randint(32, 126), rng.randint(0, 0x2FFF)]))
        for _ in range(rng.randint(0, 12))
    )


def _dump(record: dict[str, object], rng: random.Random) -> str:
    """JSON text of a record, sometimes with raw number spellings JSON does not allow."""
    text = json.dumps(record, ensure_ascii=rng.random() < 0.5)
    if "duration" in record and rng.random() < 0.2:
        raw = rng.choice(_NUMBER_TEXT)
        text = re.sub(r'"duration": [^,}]*', f'"duration": {raw}', text, count=1)
    return text


def _jsonl_line(rng: random.Random) -> str:
    """One JSON Lines line: valid, broken JSON, or a record with wrong fields."""
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(_JSON_BREAKERS)
    record: dict[str, object] = {}
    if rng.random() < 0.95:
        record["audio_filepath"] = (
            rng.choice(_AUDIO_VALUES) if rng.random() < 0.8 else _json_value(rng)
        )
    if rng.random() < 0.95:
        record["text"] = rng.choice(_TEXT_VALUES[:4]) if rng.random() < 0.6 else _json_value(rng)
    if rng.random() < 0.6:
        record["duration"] = rng.choice(_NUMBERS) if rng.random() < 0.7 else _json_value(rng)
    if rng.random() < 0.1:
        record[rng.choice(["extra", "speaker", ""])] = _json_value(rng)
    if rng.random() < 0.05:
        record = {k: record[k] for k in reversed(list(record))}
    return _dump(record, rng)


def _csv_field(value: str, rng: random.Random) -> str:
    """A CSV field, quoted properly, not at all, or badly."""
    roll = rng.random()
    if roll < 0.6 and not any(c in value for c in ',"\n\r'):
        return value
    if roll < 0.9:
        return '"' + value.replace('"', '""') + '"'
    return '"' + value  # unterminated quote


def _csv_line(rng: random.Random) -> str:
    """One DeepSpeech CSV record (or a broken one)."""
    cols = [
        rng.choice(_AUDIO_VALUES),
        str(rng.choice([0, 1234, -1, "x", ""])),
        rng.choice(_TEXT_VALUES),
    ]
    if rng.random() < 0.15:
        cols = cols[: rng.randint(0, 2)] if rng.random() < 0.5 else cols + ["extra"]
    return ",".join(_csv_field(str(c), rng) for c in cols)


def _tsv_line(rng: random.Random) -> str:
    """One path<TAB>text line (or one with the wrong number of tabs)."""
    cols = [rng.choice(_AUDIO_VALUES), rng.choice(_TEXT_VALUES)]
    if rng.random() < 0.15:
        cols = cols[:1] if rng.random() < 0.5 else cols + ["x"] * rng.randint(1, 3)
    return "\t".join(cols)


def _garbage_line(rng: random.Random) -> str:
    """Text that belongs to no format."""
    return "".join(
        rng.choice("a.wav\t,\"'{}[]:\r\n 0123456789\\\x00\x0c\x1b\u00e9\u2028")
        for _ in range(rng.randint(0, 40))
    )


def _good_line(rng: random.Random, style: str) -> str:
    """A line every reader must accept (when its audio exists)."""
    audio, text = rng.choice(_GOOD_AUDIO), rng.choice(_GOOD_TEXT)
    if style == "csv":
        return ",".join(_csv_field(v, rng) for v in (audio, str(rng.randint(0, 99999)), text))
    if style == "tsv":
        return f"{audio}\t{text.replace(chr(9), ' ')}"
    record: dict[str, object] = {"audio_filepath": audio, "text": text}
    if rng.random() < 0.5:
        record["duration"] = rng.choice([0, 0.5, 1.5, 3, 1e-3, 60.0])
    return json.dumps(record, ensure_ascii=rng.random() < 0.5)


def generate_manifest(rng: random.Random, names: tuple[str, ...] = MANIFEST_NAMES) -> ManifestCase:
    """A JSONL/CSV/TSV manifest with random and malicious lines, maybe not UTF-8 at all."""
    style = rng.choice(["jsonl", "jsonl", "csv", "tsv", "mixed"])
    clean = style != "mixed" and rng.random() < 0.45  # valid lines, at most one bad one
    suffix = {"jsonl": ".jsonl", "csv": ".csv", "tsv": ".tsv"}.get(style, ".jsonl")
    if not clean or rng.random() < 0.2:
        suffix = rng.choice(_SUFFIXES)
    makers = {"jsonl": _jsonl_line, "csv": _csv_line, "tsv": _tsv_line}
    lines: list[str] = []
    if style == "csv" and (clean or rng.random() < 0.85):
        lines.append(
            rng.choice(
                ["wav_filename,wav_filesize,transcript"] * 4
                + [" wav_filename , wav_filesize,transcript", "a,b,c"]
            )
        )
    if style == "tsv" and rng.random() < 0.3:
        lines.append("path\ttext")
    count = rng.choice([0, 1, 1, 2, 3, 5, rng.randint(0, 12)])
    if clean:
        count = max(count, 1)
        bad_at = rng.randrange(count) if rng.random() < 0.5 else -1
    for i in range(count):
        if clean:
            lines.append(makers[style](rng) if i == bad_at else _good_line(rng, style))
            continue
        if style == "mixed" or rng.random() < 0.08:
            maker = rng.choice([*makers.values(), _garbage_line])
        else:
            maker = makers[style]
        lines.append(maker(rng))
        if rng.random() < 0.1:
            lines.append(rng.choice(["", " ", "\t", "\r"]))
    newline = rng.choice(["\n"] * 6 + ["\r\n", "\r"])
    text = newline.join(lines) + (newline if rng.random() < 0.7 else "")
    data = text.encode("utf-8", "surrogatepass")
    how = [f"{'clean ' if clean else ''}{style} lines={len(lines)} newline={newline!r}"]
    if rng.random() < (0.03 if clean else 0.15):
        bad = rng.choice(
            [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82", b"\x80\x80", b"\xfe\xff"]
        )
        i = rng.randint(0, len(data))
        data = data[:i] + bad + data[i:]
        how.append(f"non-UTF-8 {bad!r} at byte {i}")
    if rng.random() < 0.05:
        data = rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\x00"]) + data
        how.append("prefix bytes")
    if rng.random() < 0.03:
        data = data * rng.randint(50, 200)
        how.append("repeated")
    kind = rng.choice(["file"] * 48 + ["missing", "directory"])
    name = (rng.choice(names) if rng.random() < 0.2 else "m") + suffix
    return ManifestCase(data, name, rng.random() < 0.5, rng.random() < 0.7, ", ".join(how), kind)


def manifest_workdir(root: Path) -> Path:
    """A folder with the audio files manifests point at (the reader checks only existence)."""
    folder = root / "corpus"
    if not (folder / "a.wav").exists():
        (folder / "sub").mkdir(parents=True, exist_ok=True)
        (folder / "dir.wav").mkdir(exist_ok=True)
        wav = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}"
        wav += b"\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
        for name in ("a.wav", "sub/b.wav", "with space.wav", "ünï.wav"):
            (folder / name).write_bytes(wav)
    return folder


_LINE_REF = re.compile(r"^:(\d+): ")


def check_manifest(case: ManifestCase, workdir: Path) -> str:
    """read_manifest_report and detect_format: utterances that hold up, or one-line errors."""
    folder = manifest_workdir(workdir)
    path = folder / case.name  # beside the audio, so relative paths resolve to it
    if path.is_dir():
        path.rmdir()
    elif path.exists():
        path.unlink()
    if case.kind == "directory":
        path.mkdir()
    elif case.kind == "file":
        path.write_bytes(case.data)
    nlines = case.data.count(b"\n") + case.data.count(b"\r") + 1
    name = str(path)

    def named(message: str, what: str) -> None:
        _expect(
            message.startswith(name) or message.startswith(escaped(name)),
            f"{what} message does not start with the manifest's name: {message!r}",
        )
        rest = message[len(name) :] if message.startswith(name) else message[len(escaped(name)) :]
        _expect(rest.startswith(": ") or bool(_LINE_REF.match(rest)), f"{what}: {message!r}")
        ref = _LINE_REF.match(rest)
        if ref:
            _expect(1 <= int(ref[1]) <= nlines, f"{what} names line {ref[1]} of {nlines}")

    ok_fmt, fmt = _call(lambda: detect_format(path), (ManifestError,))
    if ok_fmt:
        _expect(fmt in ("jsonl", "csv", "tsv"), f"detect_format gave {fmt!r}")
    else:
        named(str(fmt), "detect_format")
    ok, result = _call(
        lambda: read_manifest_report(
            path, skip_invalid=case.skip_invalid, check_audio_exists=case.check_audio
        ),
        (ManifestError,),
    )
    if not ok:
        named(str(result), "read_manifest_report")
        return "rejected"
    _expect(ok_fmt, f"read the manifest but detect_format refused it: {fmt!r}")
    _expect(isinstance(result, tuple) and len(result) == 2, f"returned {_short(result)}")
    utterances, skipped = result  # type: ignore[misc]
    _expect(isinstance(utterances, list) and len(utterances) >= 1, "no utterances, no error")
    _expect(case.skip_invalid or not skipped, f"skipped lines without skip_invalid: {skipped}")
    for message in skipped:
        _expect(
            isinstance(message, str) and one_line(message),
            f"skip reason is not one line: {message!r}",
        )
        named(message, "skip reason")
        _expect(
            bool(
                _LINE_REF.match(message[len(name) :])
                or _LINE_REF.match(message[len(escaped(name)) :])
            ),
            f"skip reason names no line: {message!r}",
        )
    for u in utterances:
        _expect(isinstance(u, Utterance), f"got {type(u).__name__}")
        _expect(
            isinstance(u.audio_filepath, str) and os.path.isabs(u.audio_filepath),
            f"audio path {u.audio_filepath!r} is not absolute",
        )
        _expect(
            isinstance(u.text, str) and transcript_problem(u.text) is None,
            f"accepted transcript {_short(u.text, 80)}",
        )
        _expect(
            u.duration is None
            or (type(u.duration) is float and math.isfinite(u.duration) and u.duration >= 0),
            f"accepted duration {u.duration!r}",
        )
        if case.check_audio:
            _expect(os.path.isfile(u.audio_filepath), f"{u.audio_filepath!r} does not exist")
        source = getattr(u, "source", "")
        if source:
            named(source + ": ", "Utterance.source")
    return "valid"


# ============================================================================== decoders

_DTYPES = (np.float32, np.float32, np.float32, np.float64, np.float16, np.int32, np.int8, bool)


@dataclass
class DecodingCase:
    """A decoder call: which function, its array(s) and its other arguments."""

    function: str
    arrays: list[np.ndarray]
    args: dict[str, object] = field(default_factory=dict)
    how: str = ""

    def describe(self) -> str:
        """One line: the call with shapes and dtypes instead of values."""
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"{self.function}([{shapes}], {self.args}) {self.how}"


def _values(
    rng: random.Random, nrng: np.random.Generator, shape: tuple[int, ...], dtype: type = np.float32
) -> tuple[np.ndarray, str]:
    """Logits-like values, maybe log-softmaxed, with NaN/inf/huge values sprinkled in."""
    scale = rng.choice([1.0, 1.0, 5.0, 30.0, 1e-6, 1e4, 1e30])
    x = np.asarray(nrng.normal(0, scale, shape))
    how = [f"scale {scale:g}"]
    if x.ndim == 0 or x.size == 0:
        with np.errstate(all="ignore"):
            return x.astype(dtype), how[0]
    if rng.random() < 0.4:
        with np.errstate(all="ignore"):
            top = x.max(-1, keepdims=True)
            x = x - top - np.log(np.exp(x - top).sum(-1, keepdims=True))  # log posteriors
        how.append("log-softmaxed")
    if rng.random() < 0.3:
        specials = [np.nan, np.inf, -np.inf, 1e38, -1e38, 0.0]
        for _ in range(rng.randint(1, max(1, x.size // 4))):
            x.flat[rng.randrange(x.size)] = rng.choice(specials)
        how.append("specials")
    if rng.random() < 0.05:
        x[...] = rng.choice([np.nan, -np.inf, np.inf, 0.0])
        how.append("all one value")
    if rng.random() < 0.2:  # a confident blank every few frames
        x.reshape(-1, x.shape[-1])[:: rng.randint(1, 5), 0] = 50.0
    with np.errstate(all="ignore"):
        return x.astype(dtype), ", ".join(how)


def _shape(rng: random.Random, ndim: int) -> tuple[int, ...]:
    """A shape with small, zero or one-sized axes."""
    return tuple(
        rng.choice([0, 1, 1, 2, 3, 5, rng.randint(0, 40), rng.randint(1, 120)]) for _ in range(ndim)
    )


def _labels(rng: random.Random, classes: int, frames: int) -> list[int]:
    """A label of class ids 1..classes-1, often with doubled letters, maybe too long to fit."""
    if classes < 2:
        return []
    n = rng.choice([0, 1, 2, rng.randint(0, max(1, frames // 2)), rng.randint(0, frames + 3)])
    label = [rng.randint(1, classes - 1) for _ in range(n)]
    for i in range(1, len(label)):
        if rng.random() < 0.2:
            label[i] = label[i - 1]
    return label


def generate_decoding(rng: random.Random, beam: bool = True) -> DecodingCase:
    """A call of one decoder (or a helper the transcriber chains) on random posteriors."""
    nrng = np.random.default_rng(rng.getrandbits(64))
    names = ["greedy_decode"] * 4 + ["greedy_decode_batch"] * 2 + ["collapse", "log_softmax"]
    names += ["split_at_blanks"] * 2 + ["alignment"] * 2 + ["forced_alignment"] * 2
    names += ["beam_search"] if beam else []
    function = rng.choice(names)
    blank = 0 if rng.random() < 0.85 else rng.choice([1, 2, 5, 27, 28])
    args: dict[str, object] = {"blank": blank}
    dtype = rng.choice(_DTYPES)
    if function == "greedy_decode":
        ndim = rng.choice([2] * 8 + [0, 1, 3])
        x, how = _values(rng, nrng, _shape(rng, ndim), dtype)
        if rng.random() < 0.3:
            args["length"] = rng.choice([0, 1, -1, -5, 10**6, rng.randint(0, 50)])
        return DecodingCase(function, [x], args, how)
    if function == "greedy_decode_batch":
        ndim = rng.choice([3] * 8 + [2, 4])
        x, how = _values(rng, nrng, _shape(rng, ndim), dtype)
        batch = x.shape[0] if x.ndim else 0
        if rng.random() < 0.6:
            n = batch if rng.random() < 0.85 else rng.randint(0, batch + 2)
            top = x.shape[1] if x.ndim > 1 else 3
            args["lengths"] = [rng.choice([0, top, rng.randint(0, top + 2), -1]) for _ in range(n)]
        return DecodingCase(function, [x], args, how)
    if function == "collapse":
        n = rng.choice([0, 1, 2, rng.randint(0, 200)])
        ids = nrng.integers(0, rng.choice([1, 2, 3, 28, 1000]), n).astype(
            rng.choice([np.int32, np.int64, np.uint8])
        )
        if rng.random() < 0.3:
            ids = np.repeat(ids, nrng.integers(1, 4, n))
        return DecodingCase(function, [ids], args)
    if function == "log_softmax":
        x, how = _values(rng, nrng, _shape(rng, rng.choice([1, 2, 2, 3])), dtype)
        return DecodingCase(function, [x], {}, how)
    # The rest take well-formed (time, classes) log posteriors: they are the transcriber's
    # helpers, fed by log_softmax of the model's output, so only the values are hostile.
    frames = _shape(rng, 1)[0]
    classes = max(blank + 1, rng.choice([1, 2, 3, 5, 28, rng.randint(1, 40)]))
    x, how = _values(rng, nrng, (frames, classes), rng.choice([np.float32, np.float32, np.float64]))
    if function == "split_at_blanks":
        args["max_frames"] = rng.choice([-1, 0, 1, 2, 3, 7, rng.randint(1, 60), 10**6])
        if rng.random() < 0.3:
            args["min_blank"] = rng.choice([0.0, 0.5, 1.0, 1.5, float("nan")])
        return DecodingCase(function, [x], args, how)
    if function == "alignment":
        return DecodingCase(function, [x], args, how)
    if function == "forced_alignment":
        args["label"] = [i if i != blank else i + 1 for i in _labels(rng, classes, frames)]
        args["label"] = [i for i in args["label"] if i < classes]  # type: ignore[attr-defined]
        return DecodingCase(function, [x], args, how)
    # beam_search: a list of sequences, sometimes ill-formed
    count = rng.choice([0, 1, 1, 2, 3])
    arrays = []
    for _ in range(count):
        shape: tuple[int, ...] = (rng.choice([0, 1, 2, rng.randint(1, 30)]), classes)
        if rng.random() < 0.1:
            shape = rng.choice([(classes,), (2, classes + 1), (2, 0), (1, 2, classes)])
        arrays.append(_values(rng, nrng, shape, np.float32)[0])
    args = {"beam_width": rng.choice([1, 2, 4, 8, 16, 0, -3]), "blank": 0}
    return DecodingCase("beam_search", arrays, args, how)


def _shape_named(message: str, case: DecodingCase) -> None:
    """A ValueError from a decoder states the shape or argument it refused."""
    tokens = [str(tuple(a.shape)) for a in case.arrays]
    tokens += [str(v) for v in case.args.values() if isinstance(v, int | float)]
    tokens += [str(x) for v in case.args.values() if isinstance(v, list) for x in [len(v), *v]]
    _expect(any(t in message for t in tokens), f"ValueError names no shape/argument: {message!r}")


def _ids_in_range(ids: object, classes: int, blank: int, what: str) -> list[int]:
    """A list of Python ints, none of them blank, all in 0..classes-1."""
    _expect(isinstance(ids, list), f"{what} returned {type(ids).__name__}")
    assert isinstance(ids, list)
    _expect(
        all(isinstance(i, int) and 0 <= i < classes and i != blank for i in ids),
        f"{what} ids out of range or blank: {_short(ids, 120)}",
    )
    return ids


def _finite_f32(x: np.ndarray) -> bool:
    """Whether every value is finite once cast to float32 (what the decoders compute in)."""
    with np.errstate(all="ignore"):
        return bool(np.isfinite(np.asarray(x, dtype=np.float32)).all())


def check_decoding(case: DecodingCase, workdir: Path) -> str:
    """The decoder's result satisfies CTC's invariants, or a one-line ValueError names the shape."""
    x = case.arrays[0] if case.arrays else np.zeros((0, 1), np.float32)
    args = case.args
    blank = int(args.get("blank", 0))  # type: ignore[arg-type]
    fn = {
        "greedy_decode": lambda: dec.greedy_decode(x, args.get("length"), blank),
        "greedy_decode_batch": lambda: dec.greedy_decode_batch(x, args.get("lengths"), blank),
        "collapse": lambda: dec.collapse(x, blank),
        "log_softmax": lambda: dec.log_softmax(x),
        "split_at_blanks": lambda: dec.split_at_blanks(x, **args),
        "alignment": lambda: dec.greedy_alignment(x, blank),
        "forced_alignment": lambda: dec.forced_alignment(x, args["label"], blank),
        "beam_search": lambda: dec.beam_search(case.arrays, args["beam_width"], blank),
    }[case.function]
    ok, out = _call(fn, (ValueError,))
    if not ok:
        _shape_named(str(out), case)
        return "rejected"
    return _DECODING_CHECKS[case.function](case, x, blank, out)


def _check_greedy(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    _expect(x.ndim == 2 and x.shape[1] > blank, f"accepted shape {x.shape} with blank {blank}")
    length = case.args.get("length")
    _expect(length is None or length >= 0, f"accepted length {length}")  # type: ignore[operator]
    ids = _ids_in_range(out, x.shape[1], blank, "greedy_decode")
    frames = x.shape[0] if length is None else min(x.shape[0], length)  # type: ignore[type-var]
    _expect(dec.min_frames_for_label(ids) <= frames, f"{len(ids)} ids from {frames} frames")
    return "valid"


def _check_batch(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    _expect(x.ndim == 3, f"accepted shape {x.shape}")
    lengths = case.args.get("lengths")
    _expect(isinstance(out, list) and len(out) == x.shape[0], "one result per batch row")
    assert isinstance(out, list)
    for i, ids in enumerate(out):
        n = x.shape[1] if lengths is None else lengths[i]  # type: ignore[index]
        _expect(n >= 0, f"accepted length {n}")
        _ids_in_range(ids, x.shape[2], blank, "greedy_decode_batch")
        if x.shape[2] > blank:
            _expect(ids == dec.greedy_decode(x[i], n, blank), f"row {i} differs from greedy_decode")
    return "valid"


def _check_collapse(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    _expect(isinstance(out, list), "collapse returns a list")
    assert isinstance(out, list)
    want = [int(v) for k, v in enumerate(x.tolist()) if v != blank and (k == 0 or v != x[k - 1])]
    _expect(out == want, f"collapse gave {_short(out, 80)}, want {_short(want, 80)}")
    return "valid"


def _check_log_softmax(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    _expect(isinstance(out, np.ndarray) and out.shape == x.shape, "log_softmax keeps the shape")
    assert isinstance(out, np.ndarray)
    if _finite_f32(x) and x.size:
        _expect(bool(np.isfinite(out).all()), "non-finite log_softmax of finite logits")
        _expect(float(out.max()) <= 1e-5, f"log probability {out.max()} > 0")
        total = np.exp(out.astype(np.float64)).sum(-1)
        _expect(bool(np.allclose(total, 1.0, atol=1e-4)), "probabilities do not sum to 1")
    return "valid"


def _check_split(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    max_frames = case.args["max_frames"]
    _expect(max_frames >= 1, f"accepted max_frames={max_frames}")  # type: ignore[operator]
    _expect(isinstance(out, list) and len(out) >= 1, f"split_at_blanks gave {_short(out)}")
    assert isinstance(out, list)
    total = x.shape[0]
    _expect(out[0][0] == 0 and out[-1][1] == total, f"pieces {out[:3]}... do not cover {total}")
    for (a, b), (c, _) in zip(out, out[1:] + [(total, total)], strict=True):
        _expect(isinstance(a, int) and isinstance(b, int), f"piece ({a!r}, {b!r}) not ints")
        _expect(b == c, f"pieces not contiguous at {b}/{c}")
        _expect(a < b or total == 0, f"empty piece ({a}, {b})")
        _expect(b - a <= max_frames, f"piece ({a}, {b}) longer than {max_frames}")  # type: ignore[operator]
    best = np.argmax(x, axis=-1)
    joined = [i for a, b in out for i in dec.greedy_decode(x[a:b], blank=blank)]
    split_letter = any(best[a - 1] == best[a] != blank for a, _ in out[1:])
    _expect(
        split_letter or joined == dec.greedy_decode(x, blank=blank),
        "pieces decode differently from the whole",
    )
    return "valid"


def _check_alignment(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    ids, owner = out  # type: ignore[misc]
    _expect(ids == dec.greedy_decode(x, blank=blank), "greedy_alignment ids != greedy_decode")
    _ids_in_range(ids, x.shape[1], blank, "greedy_alignment")
    _check_owner(owner, len(ids), x.shape[0])
    spans = dec.token_spans(ids, owner, x)
    _expect([s.id for s in spans] == ids, "token_spans ids differ from the alignment")
    for s in spans:
        _expect(0 <= s.first <= s.last < x.shape[0], f"span {s} outside the frames")
        if _finite_f32(x) and float(np.max(x)) <= 0:
            _expect(0.0 <= s.prob <= 1.0, f"span probability {s.prob}")
    words = dec.split_words(spans, separator=1)
    _expect(
        sum(len(w) for w in words) == sum(1 for s in spans if s.id != 1), "split_words lost ids"
    )
    conf = dec.geometric_mean([s.prob for s in spans])
    if _finite_f32(x) and float(np.max(x, initial=0)) <= 0:
        _expect(0.0 <= conf <= 1.0, f"confidence {conf}")
    return "valid"


def _check_owner(owner: object, tokens: int, frames: int) -> None:
    """Per-frame owners: -1 or token indexes, non-decreasing, every token owning a frame."""
    _expect(isinstance(owner, np.ndarray) and owner.shape == (frames,), "owner shape")
    assert isinstance(owner, np.ndarray)
    own = owner[owner >= 0]
    _expect(bool(np.all(owner >= -1)) and bool(np.all(own < tokens)), "owner out of range")
    _expect(bool(np.all(np.diff(own) >= 0)), "owners go backwards")
    _expect(set(own.tolist()) == set(range(tokens)), "a token owns no frame")


def _check_forced(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    label: list[int] = case.args["label"]  # type: ignore[assignment]
    _expect(dec.min_frames_for_label(label) <= x.shape[0], "aligned a label that cannot fit")
    owner = out
    _expect(isinstance(owner, np.ndarray) and owner.shape == (x.shape[0],), "owner shape")
    assert isinstance(owner, np.ndarray)
    if _finite_f32(x) and float(np.abs(x).max(initial=0)) < 1e30:
        _check_owner(owner, len(label), x.shape[0])
        for k in range(1, len(label)):  # a blank frame between doubled letters
            if label[k] == label[k - 1]:
                gap = owner[np.flatnonzero(owner == k - 1)[-1] : np.flatnonzero(owner == k)[0]]
                _expect(bool((gap == -1).any()), f"no blank between doubled label {k - 1},{k}")
    else:
        _expect(bool(np.all((owner >= -1) & (owner < max(1, len(label))))), "owner range")
    return "valid"


def _check_beam(case: DecodingCase, x: np.ndarray, blank: int, out: object) -> str:
    _expect(case.args["beam_width"] >= 1, "accepted beam width < 1")  # type: ignore[operator]
    _expect(isinstance(out, list) and len(out) == len(case.arrays), "one result per sequence")
    assert isinstance(out, list)
    for a, ids in zip(case.arrays, out, strict=True):
        _expect(
            a.ndim == 2 and a.shape[1] == case.arrays[0].shape[1] and a.shape[1] > blank,
            f"accepted shapes {[c.shape for c in case.arrays]}",
        )
        _ids_in_range(ids, a.shape[1], blank, "beam_search")
        _expect(dec.min_frames_for_label(ids) <= a.shape[0], "more ids than frames allow")
    return "valid"


_DECODING_CHECKS: dict[str, Callable[[DecodingCase, np.ndarray, int, object], str]] = {
    "greedy_decode": _check_greedy,
    "greedy_decode_batch": _check_batch,
    "collapse": _check_collapse,
    "log_softmax": _check_log_softmax,
    "split_at_blanks": _check_split,
    "alignment": _check_alignment,
    "forced_alignment": _check_forced,
    "beam_search": _check_beam,
}


# ============================================================================== running


@dataclass(frozen=True)
class Target:
    """A generator of cases and the check of one case; warnings fail unless tolerated."""

    generate: Callable[[random.Random], object]
    check: Callable[..., str]
    warnings_fail: bool
    extension: str  # for saved failing inputs


TARGETS: dict[str, Target] = {
    "audio": Target(generate_audio, check_audio, True, "audio"),
    "manifest": Target(generate_manifest, check_manifest, True, "manifest"),
    # NaN/inf logits may warn from NumPy (invalid value in subtract); that is not a failure.
    "decoding": Target(generate_decoding, check_decoding, False, "npz"),
}


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise CaseTimeout in the main thread after ``seconds`` (no-op where SIGALRM is missing)."""
    usable = seconds > 0 and hasattr(signal, "SIGALRM")
    if usable:
        import threading

        usable = threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"ran past {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_case(target: str, case: object, workdir: Path, timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Check one case under a time limit; every way it can go wrong becomes a failure."""
    spec = TARGETS[target]
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught, time_limit(timeout):
            warnings.simplefilter("always")
            kind = spec.check(case, workdir)
        if spec.warnings_fail and caught:
            first = caught[0]
            raise Failure(f"warning leaked: {first.category.__name__}: {first.message}")
        outcome = Outcome(kind)
    except CaseTimeout as exc:
        outcome = Outcome("failure", f"hang: {exc}")
    except Failure as exc:
        cause = exc.__cause__
        tb = "".join(traceback.format_exception(cause)) if cause is not None else ""
        outcome = Outcome("failure", str(exc) + ("\n" + tb if tb else ""))
    except Exception:  # a bug in a check is reported like any other failure
        outcome = Outcome("failure", "check crashed:\n" + traceback.format_exc())
    outcome.seconds = time.perf_counter() - start
    if outcome.kind != "failure" and outcome.seconds > timeout:  # stuck where no signal got in
        outcome = Outcome("failure", f"hang: took {outcome.seconds:.1f} s", outcome.seconds)
    return outcome


def import_keras_quietly() -> None:
    """Import Keras (for beam_search) before timing starts, with TensorFlow's C++ start-up
    chatter sent to /dev/null, as the ``asr`` command does."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def make_case(target: str, rng: random.Random, beam: bool = True) -> object:
    """One generated case for ``target`` (beam=False keeps Keras out of decoding)."""
    if target == "decoding":
        return generate_decoding(rng, beam=beam)
    return TARGETS[target].generate(rng)


def save_input(case: object, target: str, seed: int, folder: Path) -> Path:
    """Write a failing input where a person can open it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{target}-{seed}.{TARGETS[target].extension}"
    if isinstance(case, DecodingCase):
        buf = io.BytesIO()
        np.savez(buf, *case.arrays, args=json.dumps(case.args, default=str), function=case.function)
        path.write_bytes(buf.getvalue())
    else:
        path.write_bytes(case.data)  # type: ignore[attr-defined]
    return path


@dataclass
class Tally:
    """Counts of one target's run."""

    target: str
    cases: int = 0
    valid: int = 0
    rejected: int = 0
    failures: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)  # failure kind -> count


def fuzz_target(
    target: str,
    cases: int,
    seed: int,
    workdir: Path,
    timeout: float,
    beam: bool,
    save_dir: Path,
    out: io.TextIOBase | None = None,
) -> Tally:
    """Run ``cases`` cases of one target, printing each new kind of failure with a reproducer."""
    out = out or sys.stdout  # type: ignore[assignment]
    tally = Tally(target)
    start = time.perf_counter()
    for index in range(cases):
        case_seed = seed * SEED_STRIDE + index
        try:
            case = make_case(target, random.Random(case_seed), beam)
        except Exception:  # a bug in the tool itself: say so rather than stop the run
            traceback.print_exc()
            tally.cases += 1
            tally.failures += 1
            print(
                f"FAIL {target} case {case_seed}: the generator crashed (a fuzz.py bug)", file=out
            )
            continue
        outcome = run_case(target, case, workdir, timeout)
        tally.cases += 1
        if outcome.kind == "valid":
            tally.valid += 1
        elif outcome.kind == "rejected":
            tally.rejected += 1
        else:
            tally.failures += 1
            headline = outcome.detail.splitlines()[0].replace(str(workdir), "$TMP")
            key = re.sub(r"\d+", "N", headline.split(": ")[0])[:70]  # the kind of failure
            tally.kinds[key] = tally.kinds.get(key, 0) + 1
            if (
                tally.kinds[key] <= SEEN_DUPLICATES
                and sum(tally.kinds.values()) <= SHOWN_FAILURES * 3
            ):
                saved = save_input(case, target, case_seed, save_dir)
                print(f"FAIL {target} case {case_seed}: {outcome.detail.rstrip()}", file=out)
                print(f"  input: {case.describe()}", file=out)  # type: ignore[attr-defined]
                print(f"  saved: {saved}", file=out)
                print(
                    f"  reproduce: python tools/fuzz.py --target {target} --replay {case_seed}",
                    file=out,
                )
    tally.seconds = time.perf_counter() - start
    for key, count in sorted(tally.kinds.items(), key=lambda kv: -kv[1]):
        print(f"{target}: {count} x {key}", file=out)
    return tally


def _row(t: Tally) -> str:
    """One line of the summary table."""
    return (
        f"{t.target:<10}{t.cases:>8}{t.valid:>8}{t.rejected:>10}{t.failures:>10}{t.seconds:>9.1f}"
    )


def print_table(tallies: list[Tally], out: io.TextIOBase | None = None) -> None:
    """The one summary table: target, cases, valid, rejected cleanly, failures, seconds."""
    out = out or sys.stdout  # type: ignore[assignment]
    print(
        f"{'target':<10}{'cases':>8}{'valid':>8}{'rejected':>10}{'failures':>10}{'seconds':>9}",
        file=out,
    )
    for t in tallies:
        print(_row(t), file=out)
    if len(tallies) > 1:
        total = Tally("total")
        for t in tallies:
            for key in ("cases", "valid", "rejected", "failures", "seconds"):
                setattr(total, key, getattr(total, key) + getattr(t, key))
        print(_row(total), file=out)


def replay(target: str, case_seed: int, workdir: Path, timeout: float, beam: bool) -> int:
    """Re-run one case verbosely: its description, outcome and any traceback."""
    case = make_case(target, random.Random(case_seed), beam)
    print(f"{target} case {case_seed}: {case.describe()}")  # type: ignore[attr-defined]
    outcome = run_case(target, case, workdir, timeout)
    print(
        f"{outcome.kind} in {outcome.seconds:.3f} s"
        + (f": {outcome.detail}" if outcome.detail else "")
    )
    return 1 if outcome.kind == "failure" else 0


def main(argv: list[str] | None = None) -> int:
    """Parse options, fuzz the chosen targets, print the table; 1 if anything failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases per target")
    parser.add_argument("--seed", type=int, default=0, help="case seeds start at SEED*1e6")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds one case may take before it counts as a hang",
    )
    parser.add_argument(
        "--no-beam",
        action="store_true",
        help="leave beam_search (and its Keras import) out of decoding",
    )
    parser.add_argument("--replay", type=int, metavar="CASE_SEED", help="re-run one case")
    parser.add_argument(
        "--save-failures",
        type=Path,
        default=Path(tempfile.gettempdir()) / "asr-fuzz-failures",
        help="folder for failing inputs (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.cases < 0:
        parser.error(f"--cases must be >= 0, got {args.cases}")
    targets = list(TARGETS) if args.target == "all" else [args.target]
    if "decoding" in targets and not args.no_beam:
        import_keras_quietly()
    with tempfile.TemporaryDirectory(prefix="asr-fuzz-") as tmp:
        workdir = Path(tmp)
        if args.replay is not None:
            if args.target == "all":
                parser.error("--replay needs one --target")
            return replay(args.target, args.replay, workdir, args.timeout, not args.no_beam)
        tallies = [
            fuzz_target(
                t,
                args.cases,
                args.seed,
                workdir,
                args.timeout,
                not args.no_beam,
                args.save_failures,
            )
            for t in targets
        ]
    print_table(tallies)
    return 1 if any(t.failures for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
