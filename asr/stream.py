"""Live transcription: audio arriving piece by piece -> partial and final text per segment.

How a bidirectional model streams. Its backward RNN needs the future, so the stream runs in
overlapping windows on the model's output-frame grid (``Transcriber.window_logits``, the same
machinery long files use). Every ``CHUNK_SECONDS`` of audio a step runs the model over
``LEFT_CONTEXT_SECONDS`` of audio already decided (context for the forward RNN; its outputs
are discarded) and everything heard since. Outputs with ``RIGHT_CONTEXT_SECONDS`` of audio
after them are committed, a chunk at a time; the newer ones, made with less of the future,
are shown provisionally in the partial and recomputed by the next step. So words show up
about a chunk after they are spoken, and become final a right context later. A pause ends a
segment early: the audio up to it is committed at once, the pause itself serving as the
last words' right context, and the segment's final text is printed.

Steps fall on a fixed grid of the audio (not on how the bytes happen to arrive), so the
updates depend only on the samples: a file piped at full speed gives the same text as the
same file arriving in real time.

Pure NumPy around ``Transcriber``: with a model.onnx nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import queue
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

import numpy as np
from scipy.signal import resample_poly

from asr.audio import DEFAULT_SAMPLE_RATE, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from asr.decoding import Decoder, log_softmax, split_at_blanks
from asr.errors import AudioError
from asr.transcribe import Transcriber, Word
from asr.vad import SPEECH_LEAD_SECONDS, PauseDetector, blank_outside, frame_energies

__all__ = [
    "CHUNK_SECONDS",
    "LEFT_CONTEXT_SECONDS",
    "PAUSE_SECONDS",
    "RIGHT_CONTEXT_SECONDS",
    "Microphone",
    "PipeReader",
    "Resampler",
    "StreamTranscriber",
    "StreamUpdate",
    "UpdateWriter",
    "run_stream",
]

# ---------------------------------------------------------------- chunking
# Measured with tools/bench_stream.py (docs/BENCHMARKS.md, "Live streaming"). Partials show
# the right margin's provisional text, so words appear within about a chunk of being spoken
# whatever the right context; the contexts set how close the final text comes to offline
# decoding and what each step costs (a window of left + chunk + right: 5.5 s of audio).
# Stage 13 (65 files): left 2 / right 3 s, 2.34 % of characters differ, +0.57 CER points
# against the references (stage 11: 0.48 %, +0.03); left 4 s gave 1.54 %, +0.40, at twice
# the step's cost, and finals that move more when the same speech is resampled twice.
CHUNK_SECONDS = 0.5  # new audio per model call: partials refresh this often
LEFT_CONTEXT_SECONDS = 2.0  # audio before the chunk the forward RNN re-reads
RIGHT_CONTEXT_SECONDS = 3.0  # audio after the chunk the backward RNN reads before committing

# ---------------------------------------------------------------- pause detection
# (asr.vad judges each output frame as speech or not against a running noise floor)
PAUSE_SECONDS = 0.5  # this long below the threshold after speech ends a segment
# A segment's text comes from its speech onset on, less this lead-in for soft first sounds:
# a model may read words into the room noise before it (stage 13 does), and a pause cannot
# end a segment that has not begun. Speech the detector never hears (under ~12 dB above the
# noise floor, or a stream that starts at its loudest) gives no text at all.
LEAD_IN_SECONDS = SPEECH_LEAD_SECONDS
# A segment without such a pause is cut at its surest blank frame once this long, so that
# re-decoding it for every partial stays cheap (and beam search bounded).
MAX_SEGMENT_SECONDS = 20.0

# ---------------------------------------------------------------- input
READ_BYTES = 1 << 16  # most bytes taken from the pipe per read (whatever has arrived)
SNIFF_BYTES = 512  # bytes looked at to tell WAV, raw PCM, text and other containers apart
_PLACEHOLDER_SIZE = 0x7FFF0000  # WAV sizes from here up (and 0) mean "until the end"
_PAD_PERIODS = 2  # resampling periods of context past the filter's reach (a few ms)
_WAVE_PCM, _WAVE_FLOAT, _WAVE_EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_OTHER_FORMATS = (
    (b"fLaC", "FLAC"), (b"OggS", "Ogg"), (b"ID3", "MP3"), (b"FORM", "AIFF"), (b".snd", "AU"),
    (b"RF64", "RF64"), (b"RIFX", "big-endian RIFF"), (b"\x1aE\xdf\xa3", "Matroska/WebM"),
    (b"caff", "CAF"),
)  # fmt: skip
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}
_CONVERT = "convert it, e.g. ffmpeg -i INPUT -f s16le -ar 16000 -ac 1 - | asr stream -"


@dataclass(frozen=True)
class StreamUpdate:
    """One line of ``asr stream``'s output: a segment's text so far, or its final text.

    ``start``: where the segment's speech begins; ``end``: how far into the audio its text
    reaches (for a partial, the last speech heard so far). Seconds from the stream's start.
    Neither goes backwards, within a segment or from one segment to the next, with one
    exception: a segment cut without a pause (``MAX_SEGMENT_SECONDS``) ends where it was cut,
    which its partials may have passed (their last words move on to the next segment).
    """

    text: str
    start: float
    end: float
    final: bool


@dataclass
class _Segment:
    """The segment being heard: frames from ``first`` on (output frames of the stream)."""

    first: int
    onset: int | None = None  # first speech frame
    last_speech: int = -1
    shown: str | None = None  # text of the last update (None: none yet)
    start: float | None = None  # seconds, fixed by the first update
    end: float = 0.0  # seconds, of the last update


class StreamTranscriber:
    """Feed float samples at the model's rate as they arrive; get partial and final updates.

    ``chunk``/``left``/``right`` seconds size the overlapping windows (module docstring);
    ``pause_seconds`` below the running noise floor after speech ends a segment.
    """

    def __init__(
        self,
        transcriber: Transcriber,
        decoder: str | Decoder = "greedy",
        beam_width: int = 16,
        chunk_seconds: float = CHUNK_SECONDS,
        left_seconds: float = LEFT_CONTEXT_SECONDS,
        right_seconds: float = RIGHT_CONTEXT_SECONDS,
        pause_seconds: float = PAUSE_SECONDS,
        max_segment_seconds: float = MAX_SEGMENT_SECONDS,
    ) -> None:
        self.transcriber = transcriber
        self.decoder = (
            transcriber.decoder(decoder, beam_width) if isinstance(decoder, str) else decoder
        )
        self.rate = transcriber.config.features.sample_rate
        self.unit = transcriber.samples_per_output_frame  # samples per output frame
        self.spf = transcriber.seconds_per_output_frame

        def frames(seconds: float) -> int:
            return max(0, round(seconds / self.spf))

        self.chunk, self.left, self.right = (
            max(1, frames(chunk_seconds)),
            frames(left_seconds),
            frames(right_seconds),
        )
        self.pause_frames = max(1, frames(pause_seconds))
        self.lead_in = frames(LEAD_IN_SECONDS)
        self.max_frames = max(2 * self.chunk, frames(max_segment_seconds))
        self.detector = PauseDetector(self.spf)
        self._audio = np.zeros(0, np.float32)  # samples from _audio_start on
        self._audio_start = 0
        self._heard = 0  # samples fed
        self._frames = 0  # whole output frames the pause detector has judged
        self._done = 0  # output frames whose logits are committed
        self._committed: list[np.ndarray] = []  # logits of frames [segment.first, _done)
        self._segment = _Segment(0)
        self._last_end = 0.0  # end of the last final: no later time goes before it
        self._finished = False

    @property
    def seconds_heard(self) -> float:
        """Audio fed so far, in seconds."""
        return self._heard / self.rate

    @property
    def seconds_committed(self) -> float:
        """Audio whose model outputs are final, in seconds."""
        return self._done * self.spf

    def feed(self, samples: np.ndarray) -> list[StreamUpdate]:
        """Take the next float32 mono samples (model rate); the updates they bring about."""
        if self._finished:
            raise ValueError("the stream is finished; start a new StreamTranscriber")
        x = np.asarray(samples, np.float32).reshape(-1)
        self._audio = np.concatenate([self._audio, x])
        self._heard += len(x)
        whole = self._heard // self.unit
        if whole <= self._frames:
            return []
        energies = frame_energies(
            self._slice(self._frames * self.unit, whole * self.unit), self.unit
        )
        out: list[StreamUpdate] = []
        for energy in energies:  # in lockstep, so cuts and steps land where the audio says
            frame = self._frames
            self._frames += 1
            if self._pause_ends_segment(frame, float(energy)):
                out += self._cut_at_pause()
            elif self._frames % self.chunk == 0:
                out += self._step()
        return out

    def finish(self) -> list[StreamUpdate]:
        """End of the stream: commit what is left and give the open segment's final."""
        if self._finished:
            return []
        self._finished = True
        if self._heard > self._done * self.unit:
            self._commit(self._window(self._heard))
        return self._final(self._heard / self.rate)

    # ------------------------------------------------------------ internals

    def _slice(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of the stream (still in the buffer)."""
        return self._audio[start - self._audio_start : stop - self._audio_start]

    def _window(self, stop: int) -> np.ndarray:
        """Logits of frames [done, ...) from audio up to sample ``stop``, with left context."""
        first = max(0, self._done - self.left)
        samples = self._slice(first * self.unit, stop)
        return self.transcriber.window_logits([(samples, self._done - first, None)])[0]

    def _pause_ends_segment(self, frame: int, energy: float) -> bool:
        """Judge one frame; True when it completes a pause after the segment's speech."""
        segment = self._segment
        if self.detector.is_speech(energy):
            if segment.onset is None:
                segment.onset = frame
            segment.last_speech = frame
            return False
        return segment.onset is not None and frame - segment.last_speech >= self.pause_frames

    def _commit(self, logits: np.ndarray) -> None:
        """Logits of the next frames are final; audio no window needs again is let go."""
        self._committed.append(logits)
        self._done += len(logits)
        keep = max(0, self._done - self.left) * self.unit
        if keep > self._audio_start:
            self._audio = self._audio[keep - self._audio_start :]
            self._audio_start = keep
        if self._segment.onset is None:  # no speech yet: only the lead-in can still count
            held = np.concatenate(self._committed)[-self.lead_in :] if self.lead_in else []
            self._committed = [held] if len(held) else []
            self._segment.first = self._done - len(held)

    def _step(self) -> list[StreamUpdate]:
        """Every chunk of audio: commit the chunks whose right context has been heard, and
        show the segment so far (the rest of the window is the provisional margin)."""
        ready = max(0, (self._frames - self.right - self._done) // self.chunk) * self.chunk
        logits = self._window(self._frames * self.unit)
        out: list[StreamUpdate] = []
        if ready:
            self._commit(logits[:ready])
            out = self._cut_if_long()
        return out + self._partial(logits[ready:])

    def _cut_at_pause(self) -> list[StreamUpdate]:
        """A pause completed: commit to here (the pause is the last words' right context)."""
        self._commit(self._window(self._frames * self.unit))
        out = self._final(self._frames * self.spf)
        self._segment = _Segment(self._done)
        return out

    def _cut_if_long(self) -> list[StreamUpdate]:
        """A segment past MAX_SEGMENT_SECONDS ends between two words: in the widest gap of
        its later half (else anywhere; without two words, at its surest blank frame)."""
        segment = self._segment
        if self._done - segment.first <= self.max_frames:
            return []
        logits = np.concatenate(self._committed)
        words = self._decode(logits)[1]
        gaps = [  # (width, middle frame) between consecutive words
            (b.start - a.end, round((a.end + b.start) / 2 / self.spf))
            for a, b in zip(words, words[1:], strict=False)
        ]
        gaps = [g for g in gaps if 0 < g[1] < len(logits)]
        later = [g for g in gaps if g[1] >= len(logits) // 2]
        if later or gaps:
            cut = max(later or gaps)[1]
        else:
            cut = split_at_blanks(log_softmax(logits), self.max_frames)[0][1]
        rest = logits[cut:]
        self._committed = [logits[:cut]]  # what _final decodes
        out = self._final((segment.first + cut) * self.spf, forced=True)
        frame = segment.first + cut
        speaking = segment.onset is not None and segment.last_speech >= frame
        self._segment = _Segment(
            frame, onset=frame if speaking else None, last_speech=segment.last_speech
        )
        self._committed = [rest]
        return out

    def _decode(self, logits: np.ndarray) -> tuple[str, tuple[Word, ...]]:
        """Text and timed words (seconds from the segment's first frame) of the segment's
        logits; frames before its onset, less the lead-in, read as blank."""
        if not len(logits):
            return "", ()
        onset = self._segment.onset
        before = len(logits) if onset is None else onset - self.lead_in - self._segment.first
        if before > 0:
            logits = blank_outside(logits, np.arange(len(logits)) >= before)
        text, _, words = self.transcriber.decode(logits, self.decoder)
        return text, words

    def _partial(self, tail: np.ndarray) -> list[StreamUpdate]:
        """The open segment's text with the provisional right margin, if it changed; nothing
        until the pause detector has heard speech (a model may read words into room noise)."""
        segment = self._segment
        if segment.onset is None:
            return []
        text, words = self._decode(np.concatenate([*self._committed, tail]))
        if text == segment.shown or (not text and segment.shown is None):
            return []
        return [self._update(text, words, self._frames * self.spf, final=False)]

    def _final(self, limit: float, forced: bool = False) -> list[StreamUpdate]:
        """The open segment's final text (none for a segment that never had any, or in which
        no speech was heard); ``forced``: cut without a pause, at ``limit``, which partials
        may have passed."""
        logits = np.concatenate(self._committed) if self._committed else np.zeros((0, 1))
        self._committed = []
        if self._segment.onset is None and self._segment.shown is None:
            return []
        text, words = self._decode(logits)
        if not text and self._segment.shown is None:
            return []
        update = self._update(text, words, limit, final=True, forced=forced)
        self._last_end = update.end
        return [update]

    def _update(
        self, text: str, words: tuple[Word, ...], limit: float, final: bool, forced: bool = False
    ) -> StreamUpdate:
        """An update with times: speech onset to the last speech or word, at most ``limit``
        (and, but for a forced cut, not before the last update's end)."""
        segment = self._segment
        offset = segment.first * self.spf
        if segment.start is None:
            if segment.onset is not None:
                start = segment.onset * self.spf
            else:
                start = offset + (words[0].start if words else 0.0)
            segment.start = round(max(start, self._last_end), 3)
        ends = [segment.start]
        if segment.onset is not None:
            ends.append((segment.last_speech + 1) * self.spf)
        if words:
            ends.append(offset + words[-1].end)
        earlier = segment.start if forced else max(segment.start, segment.end)
        segment.end = round(max(earlier, min(max(ends), limit)), 3)
        segment.shown = text
        return StreamUpdate(text, segment.start, segment.end, final)


# ---------------------------------------------------------------- input


class Resampler:
    """Polyphase resampling of a stream, block by block, as ``asr.audio.resample`` does it
    on the whole (the filter's edge effects fall in context that is cut off)."""

    def __init__(self, orig_rate: int, target_rate: int) -> None:
        g = math.gcd(orig_rate, target_rate)
        self.up, self.down = target_rate // g, orig_rate // g
        # resample_poly's filter reaches 10 * max(up, down) / up input samples each way; in
        # periods (`down` input samples, `up` output samples), plus a margin
        self.pad = math.ceil(10 * max(self.up, self.down) / self.up / self.down) + _PAD_PERIODS
        self._x = np.zeros(0, np.float32)  # input from period _base on
        self._base = 0
        self._emitted = 0  # output periods given out
        self._total = 0  # input samples taken

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Output for the input so far, short of the filter's reach into the future."""
        x = np.asarray(samples, np.float32)
        if self.up == self.down:
            return x
        self._x = np.concatenate([self._x, x])
        self._total += len(x)
        ready = self._total // self.down - self.pad  # output periods with all their context
        return self._emit(ready, None)

    def finish(self) -> np.ndarray:
        """The rest of the output, the end padded as a whole-file resampling pads it."""
        if self.up == self.down:
            return np.zeros(0, np.float32)
        stop = -(-self._total * self.up // self.down)  # resample_poly's output length
        return self._emit(-(-stop // self.up), stop)

    def _emit(self, periods: int, stop: int | None) -> np.ndarray:
        """Output periods [emitted, periods), cut at output sample ``stop`` if given."""
        if periods <= self._emitted:
            return np.zeros(0, np.float32)
        first = max(0, self._emitted - self.pad)  # input period the computation starts from
        raw = self._x[
            (first - self._base) * self.down : (periods + self.pad - self._base) * self.down
        ]
        out = resample_poly(raw, self.up, self.down).astype(np.float32)
        begin = (self._emitted - first) * self.up
        end = (periods - first) * self.up if stop is None else stop - first * self.up
        block = np.clip(out[begin:end], -1.0, 1.0)
        self._emitted = periods
        keep = max(0, periods - self.pad)
        self._x = self._x[(keep - self._base) * self.down :]
        self._base = keep
        return block


@dataclass(frozen=True)
class _Encoding:
    """How a frame of interleaved samples is stored."""

    kind: str  # "pcm" or "float"
    bits: int
    channels: int

    @property
    def frame_bytes(self) -> int:
        return self.bits // 8 * self.channels

    def describe(self) -> str:
        what = "float" if self.kind == "float" else f"{self.bits}-bit PCM"
        return f"{what}, {self.channels} channel{'s' if self.channels > 1 else ''}"


def _samples(data: bytes, enc: _Encoding, name: str) -> np.ndarray:
    """Float32 mono in [-1, 1] from whole frames of ``enc``."""
    if enc.kind == "float":
        x = np.frombuffer(data, "<f4" if enc.bits == 32 else "<f8").astype(np.float32)
        if not np.isfinite(x).all():
            raise AudioError(f"{name}: NaN or infinite samples; re-export it from the source")
    elif enc.bits == 8:
        x = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif enc.bits == 24:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 2**23
    else:
        x = np.frombuffer(data, f"<i{enc.bits // 8}").astype(np.float32) / 2.0 ** (enc.bits - 1)
    if enc.channels > 1:
        x = x.reshape(-1, enc.channels).mean(axis=1)
    return np.clip(x, -1.0, 1.0)


class PipeReader:
    """Samples from a byte stream as they arrive (stdin, never seeking): a WAV, whose header
    gives rate, channels and encoding, or raw 16-bit little-endian PCM at ``rate``.

    The first bytes decide (on construction); text and other containers are refused in one
    line. ``blocks()`` yields float32 mono at ``self.rate``; input that ends inside a sample
    frame raises AudioError after the whole frames before it.
    """

    def __init__(
        self,
        stream: BinaryIO,
        rate: int = DEFAULT_SAMPLE_RATE,
        channels: int = 1,
        name: str = "<stdin>",
    ) -> None:
        self._stream, self.name = stream, name
        self._read = getattr(stream, "read1", None) or stream.read  # what has arrived
        self._buffer = b""
        self._eof = False
        self._left: int | None = None  # WAV data bytes still to come (None: to the end)
        self._fill(SNIFF_BYTES)
        head = self._buffer
        if not head:
            raise AudioError(f"{name}: no audio (0 bytes); pipe raw 16-bit PCM or a WAV into it")
        if head.startswith(b"RIFF"):
            self.kind = "wav"
            self.encoding, self.rate = self._wav_header()
        else:
            self._refuse_other(head)
            self.kind = "raw"
            self.encoding, self.rate = _Encoding("pcm", 16, channels), rate

    def _read_some(self) -> bytes:
        """One read of whatever has arrived (blocks until something has); b"" at the end."""
        try:
            data = self._read(READ_BYTES)
        except OSError as e:
            raise AudioError(f"{self.name}: cannot read it ({e}); check the input") from e
        if not isinstance(data, bytes | bytearray):
            raise AudioError(f"{self.name}: stream is in text mode; pass sys.stdin.buffer")
        self._eof = not data
        return bytes(data)

    def _fill(self, size: int) -> None:
        """Read until ``size`` bytes are buffered or the stream ends."""
        while len(self._buffer) < size and not self._eof:
            self._buffer += self._read_some()

    def _take(self, size: int) -> bytes:
        """Exactly ``size`` header bytes, or a one-line error when the stream ends first."""
        self._fill(size)
        if len(self._buffer) < size:
            raise AudioError(
                f"{self.name}: the WAV header is cut short ({len(self._buffer)} of {size} "
                "bytes); send the whole stream"
            )
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _refuse_other(self, head: bytes) -> None:
        """Text, or a container this reader does not decode: a one-line error."""
        for magic, what in _OTHER_FORMATS:
            if head.startswith(magic):
                raise AudioError(f"{self.name}: a {what} stream, not raw PCM or WAV; {_CONVERT}")
        sample = head[:SNIFF_BYTES]
        if len(sample) >= 8 and all(b in _TEXT_BYTES for b in sample):
            raise AudioError(
                f"{self.name}: text, not audio (starts with {sample[:16]!r}); pipe raw 16-bit "
                "PCM (e.g. arecord -f S16_LE -r 16000 -c 1) or a WAV into it"
            )

    def _wav_header(self) -> tuple[_Encoding, int]:
        """Read RIFF chunks up to ``data``; the encoding and rate from ``fmt ``."""
        riff = self._take(12)
        if riff[8:12] != b"WAVE":
            raise AudioError(
                f"{self.name}: a RIFF stream but not WAVE ({riff[8:12]!r}); {_CONVERT}"
            )
        fmt: bytes | None = None
        while True:
            chunk, size = struct.unpack("<4sI", self._take(8))
            if chunk == b"data":
                break
            if chunk == b"fmt " and size < 1 << 16:
                fmt = self._take(size + (size & 1))[:size]
            else:  # LIST, fact, ...: read past it (a pipe cannot seek)
                remaining = size + (size & 1)
                while remaining:
                    remaining -= len(self._take(min(remaining, READ_BYTES)))
        if fmt is None or len(fmt) < 16:
            raise AudioError(f"{self.name}: WAV stream without a valid fmt chunk; {_CONVERT}")
        tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag == _WAVE_EXTENSIBLE and len(fmt) >= 26:
            tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID's first field
        kind = {_WAVE_PCM: "pcm", _WAVE_FLOAT: "float"}.get(tag)
        if kind is None or bits not in ((8, 16, 24, 32) if kind == "pcm" else (32, 64)):
            raise AudioError(
                f"{self.name}: WAV stream in an encoding read only from files (format tag "
                f"0x{tag:04x}, {bits} bits); stream PCM or float, or {_CONVERT}"
            )
        if channels < 1 or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise AudioError(
                f"{self.name}: WAV header says {channels} channels at {rate} Hz; "
                f"expected >= 1 channel at {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz; {_CONVERT}"
            )
        if 0 < size < _PLACEHOLDER_SIZE:  # a real size (streaming writers put a placeholder)
            self._left = size
        return _Encoding(kind, bits, channels), rate

    def blocks(self) -> Iterator[np.ndarray]:
        """Float32 mono sample blocks at ``self.rate`` as the bytes arrive."""
        frame = self.encoding.frame_bytes
        pending = b""  # the start of a sample frame still to come
        sent = False
        while self._left != 0:
            data, self._buffer = self._buffer, b""
            if not data:
                if self._eof:
                    break
                data = self._read_some()
            if self._left is not None:
                data = data[: self._left]
                self._left -= len(data)
            pending += data
            whole = len(pending) // frame * frame
            if whole:
                yield _samples(pending[:whole], self.encoding, self.name)
                pending = pending[whole:]
                sent = True
        if not sent and not pending and not self._left and self.kind == "wav":
            raise AudioError(f"{self.name}: a WAV with no audio samples (0 frames); send audio")
        if self._left:
            raise AudioError(
                f"{self.name}: the WAV data ends {self._left} bytes short of its declared "
                "size; send the whole stream"
            )
        if pending:
            raise AudioError(
                f"{self.name}: the stream ends inside a sample ({len(pending)} byte"
                f"{'s' if len(pending) > 1 else ''} left over; {self.encoding.describe()} "
                f"takes {frame} bytes per frame); send whole samples"
            )


class Microphone:
    """The default input device through sounddevice (PortAudio), at its own rate.

    Raises:
        AudioError: sounddevice or PortAudio missing, or no input device.
    """

    def __init__(self, block_seconds: float = 0.1) -> None:
        try:
            import sounddevice
        except (ImportError, OSError) as e:  # OSError: the package without PortAudio
            raise AudioError(
                "--mic needs the sounddevice package and the PortAudio library: pip install "
                "sounddevice (Debian/Ubuntu: apt-get install libportaudio2), or pipe audio "
                "into asr stream -"
            ) from e
        self._sd = sounddevice
        try:
            device = sounddevice.query_devices(kind="input")
        except Exception as e:  # sounddevice.PortAudioError or ValueError: no device
            raise AudioError(
                f"--mic: no input device ({e}); connect a microphone or pipe audio into "
                "asr stream -"
            ) from e
        self.rate = int(device["default_samplerate"])
        self.block = max(1, round(block_seconds * self.rate))

    def blocks(self) -> Iterator[np.ndarray]:
        """Float32 mono blocks until the caller stops iterating."""
        arrived: queue.Queue[np.ndarray] = queue.Queue()

        def callback(indata, frames, time, status) -> None:  # PortAudio's thread
            arrived.put(indata[:, 0].copy())

        stream = self._sd.InputStream(
            samplerate=self.rate,
            channels=1,
            dtype="float32",
            blocksize=self.block,
            callback=callback,
        )
        with stream:
            while True:
                with contextlib.suppress(queue.Empty):
                    yield arrived.get(timeout=0.5)


# ---------------------------------------------------------------- running and output


def run_stream(
    streamer: StreamTranscriber,
    blocks: Iterable[np.ndarray],
    rate: int,
    emit: Callable[[StreamUpdate], None],
) -> None:
    """Feed ``blocks`` (float32 mono at ``rate``) to ``streamer`` until they end, then flush.

    A bad-input AudioError from ``blocks`` (say, a stream that ends inside a sample) is
    raised again after the flush, so the text of the audio before it is not lost.
    """
    resampler = Resampler(rate, streamer.rate)
    error: AudioError | None = None
    try:
        for block in blocks:
            for update in streamer.feed(resampler.push(block)):
                emit(update)
    except AudioError as e:
        error = e
    for update in streamer.feed(resampler.finish()) + streamer.finish():
        emit(update)
    if error is not None:
        raise error


class UpdateWriter:
    """Prints updates: ``jsonl`` one object per update on ``out``; ``text`` finals as lines on
    ``out`` and partials on ``err`` only when it is a terminal, redrawn in place on one line
    (so ``asr stream - > file`` still shows live text and the file holds finals only)."""

    def __init__(self, fmt: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        if fmt not in ("text", "jsonl"):
            raise ValueError(f"unknown format {fmt!r}; choose text or jsonl")
        self.fmt, self.out, self.err = fmt, out, err
        self.live = fmt == "text" and _isatty(err)
        self._drawn = False

    def __call__(self, update: StreamUpdate) -> None:
        if self.fmt == "jsonl":
            self.out.write(json.dumps(dataclasses.asdict(update)) + "\n")
            self.out.flush()
            return
        if self.live:
            width = _columns(self.err) - 1
            line = update.text[-width:] if not update.final else ""
            self.err.write("\r\x1b[K" + line)
            self.err.flush()
            self._drawn = bool(line)
        if update.final and update.text:  # a segment whose partial text vanished: no line
            self.out.write(update.text + "\n")
            self.out.flush()

    def close(self) -> None:
        """Clear a partial still drawn on the terminal."""
        if self._drawn:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._drawn = False


def _isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for anything that cannot say)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _columns(stream: TextIO) -> int:
    """The terminal's width, 80 when unknown."""
    try:
        return max(20, os.get_terminal_size(stream.fileno()).columns)
    except (AttributeError, ValueError, OSError):
        return 80
