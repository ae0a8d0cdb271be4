"""Choosing an LM's fusion weights on validation data (``asr lm [--word] --tune``).

Why here and not in a tool: the weights must be tuned on the decoder that will use them, so
every grid point decodes through ``Transcriber.decode`` with an ``LMBeamDecoder``, exactly as
``asr transcribe`` and ``asr evaluate`` do (blank splitting, LM history across pieces, sentence
end). The model runs once; each grid point only re-runs the beam search.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asr.audio import load_audio
from asr.decoding import LMBeamDecoder, with_words
from asr.errors import AsrError
from asr.lm import CharLM
from asr.manifest import read_manifest
from asr.metrics import error_rates
from asr.text import normalize_text
from asr.wordlm import WordLM

WEIGHTS = (0.3, 0.5, 0.7, 0.9, 1.1)  # LM log-probability scales tried by default
BONUSES = (0.0, 0.5, 1.0, 1.5, 2.0)  # per-character bonuses tried by default
WORD_WEIGHTS = (0.2, 0.3, 0.4, 0.5)  # the word LM's scales (a word's log-probability is large)
WORD_BONUSES = (0.0, 0.5, 1.0, 2.0)  # per-word bonuses (offset the LM's cost of each word)


@dataclass(frozen=True)
class GridPoint:
    """Validation error rates of one (weight, bonus) pair."""

    weight: float
    bonus: float
    cer: float
    wer: float


@dataclass(frozen=True)
class TuneResult:
    """Every grid point, the best one (lowest CER, then WER) and greedy's rates to compare."""

    points: tuple[GridPoint, ...]
    best: GridPoint
    greedy_cer: float
    greedy_wer: float
    utterances: int


def _logits(transcriber, manifest: str | os.PathLike):
    """The model's outputs for every utterance of ``manifest`` (computed once) and the
    normalized references."""
    utts = read_manifest(manifest)
    rate = transcriber.config.features.sample_rate
    signals = [load_audio(u.audio_filepath, rate) for u in utts]
    logits = transcriber.signal_logits(signals)
    # gated as transcribe gates them by default (asr.vad.VAD_DEFAULT): tuned on what it sees
    logits = [transcriber.gate(s, lg) for s, lg in zip(signals, logits, strict=True)]
    return logits, [normalize_text(u.text) for u in utts]


def _grid(
    transcriber,
    logits,
    refs: list[str],
    make: Callable[[float, float], object],
    weights: Sequence[float],
    bonuses: Sequence[float],
    progress: Callable[[GridPoint], None] | None,
    best_by: Callable[[GridPoint], tuple[float, float]],
) -> TuneResult:
    """Decode ``logits`` once greedily and once per (weight, bonus) with ``make(w, b)``."""
    if not weights or not bonuses:
        raise AsrError("--weights and --bonuses need at least one value each")

    def rates(decoder) -> tuple[float, float]:
        hyps = [transcriber.decode(lg, decoder)[0] for lg in logits]
        wer, cer = error_rates(refs, hyps)
        return cer, wer

    greedy_cer, greedy_wer = rates("greedy")
    points = []
    for weight in weights:
        for bonus in bonuses:
            cer, wer = rates(make(weight, bonus))
            point = GridPoint(weight, bonus, cer, wer)
            points.append(point)
            if progress is not None:
                progress(point)
    best = min(points, key=best_by)
    return TuneResult(tuple(points), best, greedy_cer, greedy_wer, len(refs))


def tune_lm(
    lm: CharLM,
    manifest: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    weights: Sequence[float] = WEIGHTS,
    bonuses: Sequence[float] = BONUSES,
    beam_width: int = 16,
    progress: Callable[[GridPoint], None] | None = None,
) -> TuneResult:
    """Grid-search ``lm``'s weight and bonus for beam search on ``manifest`` (never the test
    set), best by CER (then WER): letters are what a character LM is for. ``lm`` is left
    unchanged (store ``result.best`` in it to keep the choice).

    Raises:
        AsrError: a bad manifest, audio file or model directory; an empty grid; an LM whose
            alphabet differs from the model's.
    """
    from asr.transcribe import Transcriber

    transcriber = Transcriber.load(model_dir, lm=None)
    if lm.alphabet != transcriber.config.alphabet:
        raise AsrError(
            f"the language model's alphabet {lm.alphabet!r} differs from the model's "
            f"{transcriber.config.alphabet!r}; build it with `asr lm` for this model"
        )
    logits, refs = _logits(transcriber, manifest)

    def make(weight: float, bonus: float):
        # the model directory's word LM (words.arpa) takes part, as in `asr evaluate`
        return with_words(
            LMBeamDecoder(lm, beam_width, weight, bonus),
            transcriber.config.alphabet,
            transcriber.word_lm,
            transcriber.hotwords,
            transcriber.word_weight,
        )

    return _grid(
        transcriber, logits, refs, make, weights, bonuses, progress, lambda p: (p.cer, p.wer)
    )


def tune_word_lm(
    word_lm: WordLM,
    manifest: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    weights: Sequence[float] = WORD_WEIGHTS,
    bonuses: Sequence[float] = WORD_BONUSES,
    beam_width: int = 16,
    progress: Callable[[GridPoint], None] | None = None,
) -> TuneResult:
    """Grid-search a word LM's weight and per-word bonus on ``manifest`` (never the test set),
    fused beside the model directory's character LM as ``asr evaluate`` fuses them; best by
    WER (then CER): whole words are what a word LM is for. ``word_lm`` is left unchanged.

    Raises:
        AsrError: as ``tune_lm``.
    """
    from asr.transcribe import Transcriber

    transcriber = Transcriber.load(model_dir, word_lm=None)
    logits, refs = _logits(transcriber, manifest)
    base = transcriber.decoder("beam", beam_width)  # with the character LM, if any

    def make(weight: float, bonus: float):
        return with_words(
            base,
            transcriber.config.alphabet,
            word_lm,
            transcriber.hotwords,
            word_weight=weight,
            word_bonus=bonus,
        )

    return _grid(
        transcriber, logits, refs, make, weights, bonuses, progress, lambda p: (p.wer, p.cer)
    )
