"""Scoring: WER and CER with jiwer on normalized text, and the evaluation report."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jiwer

from asr.config import atomic_write_text
from asr.manifest import read_manifest
from asr.text import normalize_text


@dataclass(frozen=True)
class UtteranceScore:
    """One utterance's reference, hypothesis and error counts."""

    audio_filepath: str
    reference: str
    hypothesis: str
    word_errors: int
    words: int
    char_errors: int
    chars: int


@dataclass
class EvalReport:
    """Corpus totals (jiwer's alignment counts) and the per-utterance scores, worst first."""

    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    char_substitutions: int
    char_deletions: int
    char_insertions: int
    utterances: int
    audio_seconds: float = 0.0
    model: str = ""
    manifest: str = ""
    per_utterance: list[UtteranceScore] = field(default_factory=list)

    def summary(self) -> str:
        """The lines printed on the terminal."""
        return (
            f"WER {self.wer:.2%}  CER {self.cer:.2%}  over {self.utterances} utterances "
            f"({self.audio_seconds / 60:.1f} min)\n"
            f"words: {self.hits} hits, {self.substitutions} substitutions, "
            f"{self.deletions} deletions, {self.insertions} insertions\n"
            f"chars: {self.char_substitutions} substitutions, {self.char_deletions} deletions, "
            f"{self.char_insertions} insertions"
        )


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[float, float]:
    """Corpus WER and CER of already-normalized, non-empty references."""
    refs, hyps = _guard_empty(references, hypotheses)
    return float(jiwer.wer(refs, hyps)), float(jiwer.cer(refs, hyps))


def _guard_empty(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[list, list]:
    """jiwer rejects empty references; they carry no words to score, so they are dropped."""
    pairs = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r.strip()]
    if not pairs:
        raise ValueError("no non-empty reference transcripts to score")
    return [r for r, _ in pairs], [h for _, h in pairs]


def score(references: Sequence[str], hypotheses: Sequence[str], paths: Sequence[str]) -> EvalReport:
    """Full report from raw references (normalized here) and model hypotheses."""
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    refs, hyps, paths = [refs[i] for i in keep], [hyps[i] for i in keep], [paths[i] for i in keep]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    per_utt = []
    for i, (r, h) in enumerate(zip(refs, hyps, strict=True)):
        w = jiwer.process_words(r, h)
        c = jiwer.process_characters(r, h)
        per_utt.append(
            UtteranceScore(
                paths[i],
                r,
                h,
                w.substitutions + w.deletions + w.insertions,
                len(r.split()),
                c.substitutions + c.deletions + c.insertions,
                len(r),
            )
        )
    per_utt.sort(key=lambda u: (u.word_errors / max(u.words, 1), u.char_errors), reverse=True)
    return EvalReport(
        wer=float(words.wer),
        cer=float(chars.cer),
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions,
        hits=words.hits,
        char_substitutions=chars.substitutions,
        char_deletions=chars.deletions,
        char_insertions=chars.insertions,
        utterances=len(refs),
        per_utterance=per_utt,
    )


def evaluate(
    manifest: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
) -> EvalReport:
    """Transcribe every utterance of ``manifest`` and score it; optionally write a JSON report."""
    from asr.transcribe import Transcriber, default_model_dir

    utts = read_manifest(manifest)
    transcriber = Transcriber.load(model_dir)
    results = transcriber.transcribe_files([u.audio_filepath for u in utts])
    result = score([u.text for u in utts], [r.text for r in results], [r.path for r in results])
    result.audio_seconds = sum(r.duration for r in results)
    result.model = str(model_dir if model_dir is not None else default_model_dir())
    result.manifest = str(manifest)
    if report is not None:
        write_report(result, Path(report))
    return result


def write_report(result: EvalReport, path: Path) -> Path:
    """Write the JSON report (totals + per-utterance, worst first) atomically."""
    path = path if path.suffix == ".json" else path.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(result), indent=2) + "\n")
    return path
