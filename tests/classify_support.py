"""Tiny labeled corpora made with the real synthesizers, for the classifier tests.

Words are spoken by a few espeak-ng and flite voices at two rates; train and val use
different voices, so validation is on voices never trained on (as the targets demand).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.synth import Voice, synthesize

WORDS = ("yes", "no", "up")
TRAIN_VOICES = (
    Voice("espeak-ng", "en-us"),
    Voice("espeak-ng", "en-us+f3"),
    Voice("flite", "kal"),
    Voice("espeak-ng", "en-gb+m3"),
)
VAL_VOICES = (Voice("flite", "slt"), Voice("espeak-ng", "en-us+f2"))
RATES = (0.9, 1.2)


def write_labels(path: Path, rows: list[tuple[Path, str]]) -> Path:
    """A JSONL label manifest with paths relative to its folder."""
    lines = [
        json.dumps({"audio_filepath": str(wav.relative_to(path.parent)), "label": label})
        for wav, label in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_keyword_corpus(root: Path, words=WORDS) -> dict[str, Path]:
    """Render ``words`` with the train and val voices into ``root``; returns the manifests."""
    manifests = {}
    for split, voices in (("train", TRAIN_VOICES), ("val", VAL_VOICES)):
        rows = []
        for word in words:
            for v, voice in enumerate(voices):
                for r, rate in enumerate(RATES):
                    wav = root / split / f"{word}_{v}_{r}.wav"
                    synthesize(word, voice, wav, rate=rate)
                    rows.append((wav, word))
        manifests[split] = write_labels(root / f"{split}.jsonl", rows)
    return manifests


def keyword_corpus_or_skip(factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The module fixtures' corpus (manifests and their ``root``); skips the module when a
    synthesizer is missing."""
    for binary in ("espeak-ng", "flite", "sox"):
        if shutil.which(binary) is None:
            pytest.skip(f"{binary} not on PATH: cannot synthesize the keyword corpus")
    root = factory.mktemp("kw")
    return {**make_keyword_corpus(root), "root": root}


def join_clips(
    clips: list[Path], out: Path, gap_seconds: float = 0.7, sample_rate: int = 16000
) -> list[tuple[float, float]]:
    """Write ``clips`` one after another with silence (and faint noise) between them; returns
    each clip's (start, end) in seconds, so detections can be checked against known times."""
    rng = np.random.default_rng(0)
    gap = np.zeros(int(gap_seconds * sample_rate), dtype=np.float32)
    parts, times, t = [gap], [], gap_seconds
    for clip in clips:
        audio, rate = sf.read(clip, dtype="float32")
        assert rate == sample_rate
        parts += [audio, gap]
        times.append((t, t + len(audio) / sample_rate))
        t += (len(audio) + len(gap)) / sample_rate
    signal = np.concatenate(parts)
    signal += rng.normal(0, 1e-3, signal.shape).astype(np.float32)
    sf.write(out, signal, sample_rate, subtype="PCM_16")
    return times
