"""Which stretches of audio hold speech: a frame's energy against a running noise floor.

Used twice. Live, ``asr stream`` judges frames as they arrive (``PauseDetector``) to end a
segment at a pause and to show text only from speech on. Offline, ``asr transcribe --vad``
judges a whole recording at once (``speech_mask``) and decodes frames away from any speech as
blank, because a CTC model may read words into room noise or a long pause (stage 13 does: 60
of 60 noise-only clips got text, docs/EXPERIMENTS.md "Stage 14").

Pure NumPy; frames are model output frames (30 ms for the shipped model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.text import BLANK

# Energy per frame, in dB relative to full scale.
SILENCE_DBFS = -100.0  # what digital silence reads as (log of zero, clamped)
# The noise floor follows the quietest recent frames: it drops to a quieter frame at once and
# rises towards louder ones at FLOOR_RISE_DB_PER_SECOND only, so syllables (tenths of a
# second, with quieter gaps between them) barely move it while a fan switched on is learned
# within seconds.
FLOOR_RISE_DB_PER_SECOND = 3.0
MIN_FLOOR_DBFS = -70.0  # digital silence must not make the faintest hiss count as speech
SPEECH_MARGIN_DB = 12.0  # a frame this far above the floor is speech (vowels: 30-50 dB)
# Offline the floor starts at this percentile of the whole recording's frame energies, not at
# its first frame: a trimmed clip that opens and closes on speech still has quieter gaps.
FLOOR_START_PERCENTILE = 10.0
# Text may come from this long before the first and after the last speech frame of a
# stretch: soft first and last sounds (an "f", a trailing "s") sit under the margin, and
# under noise a word's end fades into it sooner than its start rises out of it.
SPEECH_LEAD_SECONDS = 0.3
SPEECH_TAIL_SECONDS = 0.5
# Whether transcribe and evaluate gate by default: off until a gate passes its rule
# (docs/EXPERIMENTS.md, "Offline transcription that reads no words into silence").
VAD_DEFAULT = False


def frame_energies(samples: np.ndarray, frame: int, partial: bool = False) -> np.ndarray:
    """dBFS of each whole ``frame``-sample frame of float samples in [-1, 1]; ``partial``: a
    last shorter frame too (its own samples' power)."""
    samples = np.asarray(samples, np.float32)
    whole = len(samples) // frame * frame
    power = np.mean(np.square(samples[:whole].reshape(-1, frame), dtype=np.float64), axis=1)
    if partial and whole < len(samples):
        power = np.append(power, np.mean(np.square(samples[whole:], dtype=np.float64)))
    return np.maximum(10 * np.log10(np.maximum(power, 1e-30)), SILENCE_DBFS)


@dataclass
class PauseDetector:
    """Speech or not per frame, against a running noise floor (see the constants above)."""

    frame_seconds: float
    margin_db: float = SPEECH_MARGIN_DB
    rise_db_per_second: float = FLOOR_RISE_DB_PER_SECOND
    min_floor_dbfs: float = MIN_FLOOR_DBFS
    floor: float | None = None  # dBFS; set by the first frame

    def is_speech(self, energy_db: float) -> bool:
        """Whether a frame of this energy is speech; then learn from it. A frame at or
        under ``min_floor_dbfs`` (digital silence: a dropout, zero padding) is not speech
        and never lowers a floor already learnt: taken as the floor, it would make the
        steady noise around it count as speech for seconds. Before any floor is known it
        sets the lowest one, so speech right after leading zeros counts at once."""
        if energy_db <= self.min_floor_dbfs:
            if self.floor is None:
                self.floor = self.min_floor_dbfs
            return False
        if self.floor is None:
            self.floor = max(energy_db, self.min_floor_dbfs)
        speech = energy_db > self.floor + self.margin_db
        if energy_db < self.floor:
            self.floor = max(energy_db, self.min_floor_dbfs)
        else:
            self.floor = min(energy_db, self.floor + self.rise_db_per_second * self.frame_seconds)
        return speech


def speech_frames(energies: np.ndarray, frame_seconds: float) -> np.ndarray:
    """Boolean per frame: speech to the pause detector, its floor starting at the
    recording's ``FLOOR_START_PERCENTILE``-th percentile energy (started at the first frame,
    as live, a recording that opens mid-word would lose that word)."""
    energies = np.asarray(energies, np.float64)
    if not len(energies):
        return np.zeros(0, bool)
    heard = energies[energies > MIN_FLOOR_DBFS]  # digital silence says nothing of the room
    start = float(np.percentile(heard, FLOOR_START_PERCENTILE)) if len(heard) else None
    detector = PauseDetector(frame_seconds, floor=start)
    return np.array([detector.is_speech(float(e)) for e in energies], dtype=bool)


def speech_mask(
    energies: np.ndarray,
    frames: int,
    frame_seconds: float,
    lead_seconds: float = SPEECH_LEAD_SECONDS,
    tail_seconds: float = SPEECH_TAIL_SECONDS,
) -> np.ndarray:
    """Boolean per output frame (``frames`` of them; ``energies`` in dBFS, one per frame):
    from ``lead_seconds`` before to ``tail_seconds`` after each frame the detector calls
    speech. All False for a recording without speech (silence or steady noise)."""
    speech = speech_frames(energies, frame_seconds)[:frames]
    speech = np.pad(speech, (0, frames - len(speech)))
    return dilate(speech, round(lead_seconds / frame_seconds), round(tail_seconds / frame_seconds))


def dilate(mask: np.ndarray, before: int, after: int) -> np.ndarray:
    """``mask`` widened: each True frame also makes the ``before`` frames before it and the
    ``after`` frames after it True."""
    mask = np.asarray(mask, bool)
    n = len(mask)
    total = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])  # True frames before i
    i = np.arange(n)
    # frame i is kept when a True frame lies in [i - after, i + before]
    return total[np.minimum(n, i + before + 1)] - total[np.maximum(0, i - after)] > 0


def blank_outside(logits: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``logits`` with every frame not in ``keep`` made a certain blank (decoders then emit
    nothing there, and split pieces at those frames)."""
    keep = np.asarray(keep, bool)
    if len(keep) != len(logits):
        raise ValueError(f"{len(keep)} keep flags for {len(logits)} frames")
    if keep.all():
        return logits
    out = np.array(logits, dtype=np.float32, copy=True)
    out[~keep] = -1e4
    out[~keep, BLANK] = 0.0
    return out
