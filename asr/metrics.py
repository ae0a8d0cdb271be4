"""Scoring and its result types: WER and CER with jiwer on normalized text.

Pure Python (no TensorFlow): ``score`` is a function of (references, hypotheses, paths);
jiwer aligns each pair, and the report is built from its alignment chunks (totals,
per-utterance counts, confusions). ``asr.report`` renders these types; ``asr.evaluate``
runs a model to get hypotheses. Neither of those is imported here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import jiwer

from asr.text import normalize_text

TOP = 20  # confusions and inserted/deleted words kept in a report
TERMINAL_TOP = 5  # word confusions printed after the totals


@dataclass(frozen=True)
class AlignedWord:
    """One column of a word alignment: ``ref`` is "" for an insertion, ``hyp`` for a deletion."""

    op: str  # jiwer's chunk type: "equal", "substitute", "delete" or "insert"
    ref: str
    hyp: str


@dataclass(frozen=True)
class Confusion:
    """A reference token the model replaced by a hypothesis token, and how often."""

    ref: str
    hyp: str
    count: int


@dataclass(frozen=True)
class WordCount:
    """A word and how often it was deleted (or inserted)."""

    word: str
    count: int


@dataclass(frozen=True)
class UtteranceScore:
    """One utterance's reference, hypothesis, error counts and word alignment."""

    audio_filepath: str
    reference: str
    hypothesis: str
    word_errors: int
    words: int  # reference words
    char_errors: int
    chars: int  # reference characters, spaces included (as jiwer counts them)
    wer: float = 0.0
    cer: float = 0.0
    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    char_hits: int = 0
    char_substitutions: int = 0
    char_deletions: int = 0
    char_insertions: int = 0
    duration: float = 0.0  # seconds of audio, 0 when unknown
    alignment: tuple[AlignedWord, ...] = ()


@dataclass
class EvalReport:
    """Corpus totals (jiwer's alignment counts), confusions, per-utterance scores worst first."""

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
    char_hits: int = 0
    audio_seconds: float = 0.0
    model: str = ""
    manifest: str = ""
    decoder: str = ""  # e.g. "greedy", "beam 16", "beam 16 + lm.npz (weight 0.7, bonus 1)"
    word_confusions: list[Confusion] = field(default_factory=list)
    char_confusions: list[Confusion] = field(default_factory=list)
    deleted_words: list[WordCount] = field(default_factory=list)
    inserted_words: list[WordCount] = field(default_factory=list)
    per_utterance: list[UtteranceScore] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<manifest>:<line>: <why>", not scored

    @property
    def audio_hours(self) -> float:
        """Hours of audio scored."""
        return self.audio_seconds / 3600

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, plus ``audio_hours``."""
        data = asdict(self)
        data["audio_hours"] = self.audio_hours
        return data

    def summary(self) -> str:
        """The lines printed on the terminal: totals, then the top word confusions."""
        lines = [
            f"WER {self.wer:.2%}  CER {self.cer:.2%}  over {self.utterances} utterances "
            f"({self.audio_hours:.3f} h of audio)"
            + (f", decoder: {self.decoder}" if self.decoder else ""),
            f"words: {self.hits} hits, {self.substitutions} substitutions, "
            f"{self.deletions} deletions, {self.insertions} insertions",
            f"chars: {self.char_hits} hits, {self.char_substitutions} substitutions, "
            f"{self.char_deletions} deletions, {self.char_insertions} insertions",
        ]
        if self.skipped:
            lines.append(
                f"skipped {len(self.skipped)} of {self.utterances + len(self.skipped)} "
                f"utterances (not scored), first: {self.skipped[0]}"
            )
        top = self.word_confusions[:TERMINAL_TOP]
        if top:
            lines.append("most frequent word confusions (reference -> hypothesis):")
            lines += [f"  {c.count:4d}  {c.ref} -> {c.hyp}" for c in top]
        return "\n".join(lines)


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


def _counts(chunks: Sequence[jiwer.AlignmentChunk]) -> dict[str, int]:
    """Hits, substitutions, deletions and insertions of one utterance's alignment chunks."""
    n = Counter()
    for c in chunks:
        n[c.type] += max(c.ref_end_idx - c.ref_start_idx, c.hyp_end_idx - c.hyp_start_idx)
    return {
        "hits": n["equal"],
        "substitutions": n["substitute"],
        "deletions": n["delete"],
        "insertions": n["insert"],
    }


def _columns(
    chunks: Sequence[jiwer.AlignmentChunk], ref: Sequence[str], hyp: Sequence[str]
) -> list[AlignedWord]:
    """Token-by-token columns of an alignment (a substitute chunk pairs its tokens in order)."""
    columns = []
    for c in chunks:
        r, h = ref[c.ref_start_idx : c.ref_end_idx], hyp[c.hyp_start_idx : c.hyp_end_idx]
        if c.type == "delete":
            columns += [AlignedWord(c.type, t, "") for t in r]
        elif c.type == "insert":
            columns += [AlignedWord(c.type, "", t) for t in h]
        else:  # equal and substitute chunks have as many tokens on both sides
            columns += [AlignedWord(c.type, a, b) for a, b in zip(r, h, strict=True)]
    return columns


def _tally(
    columns: Sequence[AlignedWord], confusions: Counter, deleted: Counter, inserted: Counter
) -> None:
    """Add one utterance's substituted pairs, deleted and inserted tokens to the counters."""
    for col in columns:
        if col.op == "substitute":
            confusions[(col.ref, col.hyp)] += 1
        elif col.op == "delete":
            deleted[col.ref] += 1
        elif col.op == "insert":
            inserted[col.hyp] += 1


def _top_confusions(counter: Counter, n: int = TOP) -> list[Confusion]:
    """The ``n`` most frequent pairs, ties in alphabetical order so reports are reproducible."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return [Confusion(ref, hyp, count) for (ref, hyp), count in ranked[:n]]


def _top_words(counter: Counter, n: int = TOP) -> list[WordCount]:
    """The ``n`` most frequent tokens, ties in alphabetical order."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return [WordCount(word, count) for word, count in ranked[:n]]


def score(
    references: Sequence[str],
    hypotheses: Sequence[str],
    paths: Sequence[str],
    durations: Sequence[float] | None = None,
) -> EvalReport:
    """Full report from raw references (normalized here) and model hypotheses; no model needed.

    Args:
        references: the manifest transcripts, as written.
        hypotheses: the model's transcripts, in the same order.
        paths: each utterance's audio file, shown in the report.
        durations: each utterance's audio length in seconds, when known.

    Returns:
        Corpus totals, the top word and character confusions, the most deleted and inserted
        words, and every utterance's scores and word alignment, worst first (by WER, then
        CER; ties keep manifest order). Utterances whose normalized reference is empty carry
        no words to score and are left out.

    Raises:
        ValueError: the sequences differ in length, or every reference is empty.
    """
    n = len(references)
    durations = [0.0] * n if durations is None else list(durations)
    if not len(hypotheses) == len(paths) == len(durations) == n:
        raise ValueError(
            f"{n} references but {len(hypotheses)} hypotheses, {len(paths)} paths and "
            f"{len(durations)} durations; pass one of each per utterance"
        )
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    if not keep:
        raise ValueError("no non-empty reference transcripts to score")
    refs, hyps = [refs[i] for i in keep], [hyps[i] for i in keep]
    paths, durations = [str(paths[i]) for i in keep], [float(durations[i]) for i in keep]

    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    word_conf, char_conf, deleted, inserted = Counter(), Counter(), Counter(), Counter()
    per_utt = []
    for i, (r, h) in enumerate(zip(refs, hyps, strict=True)):
        w = _counts(words.alignments[i])
        c = _counts(chars.alignments[i])
        columns = _columns(words.alignments[i], words.references[i], words.hypotheses[i])
        _tally(columns, word_conf, deleted, inserted)
        char_columns = _columns(chars.alignments[i], chars.references[i], chars.hypotheses[i])
        _tally(char_columns, char_conf, Counter(), Counter())
        word_errors = w["substitutions"] + w["deletions"] + w["insertions"]
        char_errors = c["substitutions"] + c["deletions"] + c["insertions"]
        n_words, n_chars = len(words.references[i]), len(chars.references[i])
        per_utt.append(
            UtteranceScore(
                audio_filepath=paths[i],
                reference=r,
                hypothesis=h,
                word_errors=word_errors,
                words=n_words,
                char_errors=char_errors,
                chars=n_chars,
                wer=word_errors / n_words,
                cer=char_errors / n_chars,
                **w,
                **{f"char_{k}": v for k, v in c.items()},
                duration=durations[i],
                alignment=tuple(columns),
            )
        )
    per_utt.sort(key=lambda u: (u.wer, u.cer), reverse=True)  # stable: ties keep file order
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
        char_hits=chars.hits,
        utterances=len(refs),
        audio_seconds=sum(durations),
        word_confusions=_top_confusions(word_conf),
        char_confusions=_top_confusions(char_conf),
        deleted_words=_top_words(deleted),
        inserted_words=_top_words(inserted),
        per_utterance=per_utt,
    )
