"""CTC decoding over NumPy posteriors (no TensorFlow): greedy best path, beam search with or
without a character LM (and a word LM and hotwords beside it), alignment, and the ``Decoder``
protocol that transcribe, evaluate and LM tuning share.

Inputs are ``(time, classes)`` arrays of logits or probabilities; class ``blank`` (0 by the
convention in :mod:`asr.text`) separates repeated characters, so "hello" needs ``l _ l``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from asr.text import BLANK, normalize_text


def _check_2d(posteriors: np.ndarray, blank: int) -> np.ndarray:
    """Validate a (time, classes) array and return it as an ndarray."""
    array = np.asarray(posteriors)
    if array.ndim != 2:
        raise ValueError(
            f"expected posteriors of shape (time, classes), got shape {array.shape}; "
            "pass one utterance at a time or use greedy_decode_batch"
        )
    if array.shape[1] <= blank:
        raise ValueError(
            f"posteriors of shape {array.shape} have {array.shape[1]} classes but the blank "
            f"index is {blank}; "
            "need at least blank + 1 classes"
        )
    return array


def collapse(path: Sequence[int] | np.ndarray, blank: int = BLANK) -> list[int]:
    """Merge repeated ids, then drop blanks: the CTC many-to-one map."""
    ids = np.asarray(path, dtype=np.int64)
    if ids.size == 0:
        return []
    keep = np.ones(ids.shape, dtype=bool)
    keep[1:] = ids[1:] != ids[:-1]
    keep &= ids != blank
    return ids[keep].tolist()


def greedy_decode(
    posteriors: np.ndarray, length: int | None = None, blank: int = BLANK
) -> list[int]:
    """Best-path decoding of one utterance; ``length`` ignores padded frames past it."""
    array = _check_2d(posteriors, blank)
    if length is not None:
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        array = array[:length]
    if array.shape[0] == 0:
        return []
    return collapse(np.argmax(array, axis=-1), blank)


def greedy_decode_batch(
    posteriors: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None, blank: int = BLANK
) -> list[list[int]]:
    """Best-path decoding of a padded ``(batch, time, classes)`` array with true lengths."""
    array = np.asarray(posteriors)
    if array.ndim != 3:
        raise ValueError(f"expected (batch, time, classes) posteriors, got shape {array.shape}")
    if array.shape[2] <= blank:
        raise ValueError(
            f"posteriors of shape {array.shape} have {array.shape[2]} classes but the blank "
            f"index is {blank}; need at least blank + 1 classes"
        )
    if lengths is None:
        lengths = [array.shape[1]] * array.shape[0]
    if len(lengths) != array.shape[0]:
        raise ValueError(f"got {len(lengths)} lengths for a batch of {array.shape[0]}")
    if any(int(n) < 0 for n in lengths):  # a negative slice bound would decode the wrong frames
        raise ValueError(f"lengths must be >= 0, got {min(int(n) for n in lengths)}")
    best = np.argmax(array, axis=-1)
    return [collapse(best[i, : int(n)], blank) for i, n in enumerate(lengths)]


def min_frames_for_label(label: Sequence[int] | np.ndarray) -> int:
    """Frames CTC needs to emit ``label``: one per character plus a blank between repeats."""
    ids = np.asarray(label)
    if ids.size == 0:
        return 0
    return int(ids.size + np.count_nonzero(ids[1:] == ids[:-1]))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log posteriors from logits along the class axis (float64-free, stable)."""
    x = np.asarray(logits, dtype=np.float32)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"expected logits of shape (..., classes >= 1), got shape {x.shape}")
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def split_at_blanks(
    log_probs: np.ndarray, max_frames: int, blank: int = BLANK, min_blank: float = 0.9
) -> list[tuple[int, int]]:
    """Cut a long (time, classes) sequence into [start, stop) pieces at blank frames.

    Why this is exact for CTC: a frame whose best class is blank separates the tokens on
    either side (it is never merged with them), so decoding the pieces one by one and joining
    the results gives the same best path as decoding the whole, while keeping beam search and
    alignment cost per piece bounded. Cuts go at the most confident blank in the last half of
    each piece; a piece without any blank frame is cut at ``max_frames`` (rare, and harmless
    unless a character spans that exact frame).
    """
    if max_frames < 1:  # a piece holds at least one frame (NumPy's error named nothing)
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    total = log_probs.shape[0]
    if total <= max_frames:
        return [(0, total)]
    best = np.argmax(log_probs, axis=-1)
    blank_p = np.exp(log_probs[:, blank])
    pieces, start = [], 0
    while total - start > max_frames:
        lo, hi = start + max_frames // 2, start + max_frames
        window = np.where(best[lo:hi] == blank, blank_p[lo:hi], -1.0)
        cut = lo + int(np.argmax(window)) if window.max() >= 0 else hi
        if window.max() >= min_blank:  # prefer a confident blank near the end
            confident = np.flatnonzero(window >= min_blank)
            cut = lo + int(confident[-1])
        cut = max(cut, start + 1)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, total))
    return pieces


def greedy_alignment(log_probs: np.ndarray, blank: int = BLANK) -> tuple[list[int], np.ndarray]:
    """Best-path ids and, per frame, the index of the emitted token it belongs to (-1: blank)."""
    best = np.argmax(log_probs, axis=-1)
    previous = np.concatenate(([blank], best[:-1]))
    emitting = best != blank
    new = emitting & (best != previous)
    owner = np.where(emitting, np.cumsum(new) - 1, -1)
    return best[new].tolist(), owner


def forced_alignment(log_probs: np.ndarray, label: Sequence[int], blank: int = BLANK) -> np.ndarray:
    """Viterbi CTC alignment of ``label``: per frame, the label index emitted (-1: blank).

    Used to time the tokens a beam search chose; raises ValueError when the label cannot fit.
    """
    label = list(label)
    frames = log_probs.shape[0]
    if not label:
        return np.full(frames, -1, dtype=np.int64)
    if min_frames_for_label(label) > frames:
        raise ValueError(f"a {len(label)}-token label cannot align to {frames} frames")
    ext = np.full(2 * len(label) + 1, blank, dtype=np.int64)
    ext[1::2] = label
    states = ext.size
    skip = np.zeros(states, dtype=bool)  # s-2 -> s allowed: a token unlike the one before it
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    neg = -np.inf
    score = np.full(states, neg)
    score[:2] = log_probs[0, ext[:2]]
    back = np.zeros((frames, states), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, frames):
        one = np.concatenate(([neg], score[:-1]))
        two = np.where(skip, np.concatenate(([neg, neg], score[:-2])), neg)
        stacked = np.stack([score, one, two])
        back[t] = np.argmax(stacked, axis=0)
        score = stacked[back[t], np.arange(states)] + log_probs[t, ext]
    s = states - 1 if score[-1] >= score[-2] else states - 2
    owner = np.empty(frames, dtype=np.int64)
    for t in range(frames - 1, -1, -1):
        owner[t] = (s - 1) // 2 if s % 2 else -1
        s -= int(back[t, s])
    return owner


@dataclass(frozen=True)
class TokenSpan:
    """One emitted token: its id, first and last frame (inclusive), and its peak posterior."""

    id: int
    first: int
    last: int
    prob: float


def token_spans(ids: Sequence[int], owner: np.ndarray, log_probs: np.ndarray) -> list[TokenSpan]:
    """Frames and confidence of each token of an alignment (see greedy/forced_alignment)."""
    frames = np.flatnonzero(owner >= 0)
    if frames.size == 0:
        return []
    token = owner[frames]  # non-decreasing: tokens own consecutive runs of frames
    starts = np.flatnonzero(np.diff(token, prepend=-1) != 0)
    stops = np.append(starts[1:], frames.size) - 1
    scores = log_probs[frames, np.asarray(ids)[token]]
    peaks = np.exp(np.maximum.reduceat(scores, starts))
    return [
        TokenSpan(int(ids[k]), int(frames[a]), int(frames[b]), float(p))
        for k, a, b, p in zip(token[starts], starts, stops, peaks, strict=True)
    ]


def split_words(spans: Sequence[TokenSpan], separator: int) -> list[list[TokenSpan]]:
    """Group token spans into words at ``separator`` (the space id); empty words dropped."""
    words: list[list[TokenSpan]] = [[]]
    for span in spans:
        if span.id == separator:
            words.append([])
        else:
            words[-1].append(span)
    return [w for w in words if w]


def geometric_mean(probs: Sequence[float]) -> float:
    """Confidence of a sequence of token posteriors: exp(mean log p); 1.0 for nothing."""
    if not probs:
        return 1.0
    return float(np.exp(np.mean(np.log(np.maximum(probs, 1e-12)))))


def beam_search(
    log_probs: Sequence[np.ndarray], beam_width: int, blank: int = BLANK
) -> list[list[int]]:
    """Best beam of each (time, classes) sequence via ``keras.ops.ctc_decode``.

    A maintained implementation (TensorFlow's CTC beam decoder under the TensorFlow backend)
    rather than our own; ``mask_index`` carries our blank convention. Sequences are padded
    into one batch call. Imports Keras lazily so the rest of this module stays NumPy-only.
    """
    import keras

    if beam_width < 1:
        raise ValueError(f"beam width must be >= 1, got {beam_width}")
    if not len(log_probs):  # len(): a 3-D array is a sequence too
        return []
    log_probs = [_check_2d(lp, blank) for lp in log_probs]
    classes = {lp.shape[1] for lp in log_probs}
    if len(classes) > 1:  # they share one padded batch
        shapes = ", ".join(str(lp.shape) for lp in log_probs)
        raise ValueError(f"sequences of shapes {shapes} differ in classes; need the same")
    lengths = np.array([lp.shape[0] for lp in log_probs], dtype=np.int32)
    batch = np.zeros(
        (len(log_probs), max(int(lengths.max()), 1), log_probs[0].shape[1]), np.float32
    )
    for i, lp in enumerate(log_probs):
        batch[i, : lp.shape[0]] = lp
    if keras.backend.backend() != "tensorflow" and _tensorflow() is not None:
        # Keras' JAX beam search runs at about 1x real time on a CPU; TensorFlow's decoder
        # (what keras.ops.ctc_decode calls under TensorFlow) is ~100x faster, so use it
        # whenever TensorFlow is installed, as it is with asr.
        best = _tf_beam_search(batch, lengths, beam_width, blank)
    else:
        paths, _ = keras.ops.ctc_decode(
            batch,
            lengths,
            strategy="beam_search",
            beam_width=beam_width,
            top_paths=1,
            mask_index=blank,
        )
        best = np.asarray(keras.ops.convert_to_numpy(paths))[0]
    return [[int(c) for c in row if c >= 0 and c != blank] for row in best]


def _tensorflow():
    """The tensorflow module, or None where it is not installed."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf


def _tf_beam_search(
    batch: np.ndarray, lengths: np.ndarray, beam_width: int, blank: int
) -> np.ndarray:
    """tf.nn.ctc_beam_search_decoder with our blank: it wants the blank as the last class."""
    tf = _tensorflow()
    order = np.array([c for c in range(batch.shape[2]) if c != blank] + [blank])
    decoded, _ = tf.nn.ctc_beam_search_decoder(
        np.transpose(batch[:, :, order], (1, 0, 2)),
        lengths,
        beam_width=beam_width,
        top_paths=1,
    )
    ids = tf.sparse.to_dense(decoded[0], default_value=-1).numpy()
    return np.where(ids >= 0, order[np.maximum(ids, 0)], -1)


class CharScorer(Protocol):
    """What lm_beam_search needs from a language model (asr.lm.CharLM is one)."""

    alphabet: str
    weight: float
    bonus: float

    def next_log_probs(self, history: str) -> np.ndarray: ...


WORD_END = "</s>"  # the word a WordScorer is asked about at the end of the sentence (ARPA's)


class WordScorer(Protocol):
    """What lm_beam_search needs from a word language model (asr.wordlm.WordLM is one)."""

    order: int
    weight: float  # default fusion weight (natural-log scale)
    bonus: float  # default score added per completed word
    oov: float  # default score added per completed word outside the vocabulary (<= 0)

    def score(self, prev_words: Sequence[str], word: str) -> float:
        """Natural-log P(word | the sentence's previous words); ``WORD_END`` ends it."""
        ...

    def __contains__(self, word: str) -> bool:
        """Whether ``word`` is in the vocabulary."""
        ...


@dataclass(frozen=True)
class NoCharLM:
    """A character "LM" that scores nothing: word LM or hotwords without a character LM."""

    alphabet: str
    weight: float = 0.0
    bonus: float = 0.0

    def next_log_probs(self, history: str) -> np.ndarray:
        return np.zeros(len(self.alphabet) + 1)


# A hotword's default boost, in the beam score's natural-log units. Measured with the default
# model on real dev, 20 game names as hotwords (17 of them spoken): boost 2 found 5 of the 17
# (as none did), 3 found 7, 5 found 9 and 10 found 16, but the names written rose from 6 to
# 13, 24, 58 and 474, and WER from 63.4 % to 63.4, 63.4, 63.8 and 64.9 %. 3 gains what it can
# before false alarms cost words; raise it per word (WORD:BOOST) for names that must win.
DEFAULT_HOTWORD_BOOST = 3.0


@dataclass(frozen=True)
class Hotwords:
    """Words to favour in beam search, each with a boost (natural log; negative disfavours).

    A completed hotword adds its boost. While a beam spells one, each letter already earns
    its share (boost x letters so far / word length), so the word survives pruning before it
    is finished; the share is taken back as soon as the word goes elsewhere ("zeldas" for
    "zelda"), so an unfinished prefix gains nothing in the end.
    """

    boosts: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        full: dict[str, float] = {}
        partial: dict[str, float] = {}
        for word, boost in self.boosts:
            if not word or " " in word or word != normalize_text(word):
                raise ValueError(f"hotword {word!r} must be one normalized word (Hotwords.parse)")
            full[word] = boost
            for k in range(1, len(word) + 1):
                share = boost * k / len(word)
                partial[word[:k]] = max(share, partial.get(word[:k], share))
        object.__setattr__(self, "_full", full)
        object.__setattr__(self, "_partial", partial)

    @classmethod
    def parse(cls, specs: Iterable[str], default: float = DEFAULT_HOTWORD_BOOST) -> Hotwords:
        """``WORD`` or ``WORD:BOOST`` items (the word normalized like transcripts).

        Raises:
            ValueError: a word that normalizes to nothing or to several words, or a BOOST
                that is not a finite number.
        """
        boosts: dict[str, float] = {}
        for spec in specs:
            word, colon, value = spec.rpartition(":")
            if not colon:
                word, value = spec, ""
            boost = default
            if colon:
                try:
                    boost = float(value)
                except ValueError:
                    boost = math.nan
                if not math.isfinite(boost):
                    raise ValueError(
                        f"hotword {spec!r}: boost {value!r} is not a number; write WORD or "
                        "WORD:BOOST, e.g. zelda:5"
                    )
            normal = normalize_text(word)
            if not normal:
                raise ValueError(f"hotword {spec!r} has no letters; write WORD or WORD:BOOST")
            if " " in normal:
                raise ValueError(
                    f"hotword {spec!r} is {len(normal.split())} words ({normal!r}); a hotword "
                    "is one word: give each word its own --hotword"
                )
            boosts[normal] = boost
        return cls(tuple(boosts.items()))

    def __len__(self) -> int:
        return len(self._full)  # type: ignore[attr-defined]

    def boost(self, word: str) -> float:
        """The boost of a completed ``word`` (0 for any other word)."""
        return self._full.get(word, 0.0)  # type: ignore[attr-defined]

    def partial(self, prefix: str) -> float:
        """The share a beam holds while its last word is ``prefix`` (0 off every hotword)."""
        return self._partial.get(prefix, 0.0)  # type: ignore[attr-defined]


def lm_beam_search(
    logits: np.ndarray,
    lm: CharScorer,
    beam_width: int = 16,
    weight: float | None = None,
    bonus: float | None = None,
    blank: int = BLANK,
    prune: float = -7.0,
    history: str = "",
    end: bool = True,
    word_lm: WordScorer | None = None,
    word_weight: float | None = None,
    word_bonus: float | None = None,
    hotwords: Hotwords | None = None,
    word_oov: float | None = None,
) -> list[int]:
    """CTC prefix beam search with a character language model (shallow fusion).

    A prefix scores log P_ctc + weight * log P_lm + bonus * length, and the end of the
    sentence is scored too (unless ``end`` is false: a piece with more to come), so a
    truncated last word costs; ``history`` is the text decoded before this piece.
    Characters whose frame log-probability is below ``prune`` are not tried (CTC output is
    peaky; this keeps the search at a few extensions per beam per frame). Pure Python over
    NumPy rows: the TensorFlow/Keras decoders take no external scorer.

    With ``word_lm``, each word a beam completes (at a space, and the last one at the end)
    adds ``word_weight * log P(word | previous words) + word_bonus``, plus ``word_oov`` for
    a word outside its vocabulary (defaults: the word LM's), and the end adds
    ``word_weight * log P(end | words)``; the character LM stays in, so words the word LM
    has never seen can still win on the audio. ``hotwords`` add their
    boost when completed (see :class:`Hotwords`). Without either, scores are as before.
    """
    log_probs = log_softmax(_check_2d(logits, blank))
    if beam_width < 1:
        raise ValueError(f"beam width must be >= 1, got {beam_width}")
    if log_probs.shape[1] != len(lm.alphabet) + 1:
        raise ValueError(
            f"posteriors have {log_probs.shape[1]} classes but the language model's alphabet "
            f"has {len(lm.alphabet)} characters plus the blank"
        )
    weight = lm.weight if weight is None else weight
    bonus = lm.bonus if bonus is None else bonus
    words = _WordFusion.make(lm.alphabet, word_lm, word_weight, word_bonus, word_oov, hotwords)
    space = words.space if words is not None else -1
    start_share = words.share(history) if words is not None else 0.0
    # prefix -> [log P(prefix, ends in blank), log P(prefix, ends in its last char),
    #            LM score, text, hotword share of the unfinished last word (not in LM score)]
    beams: dict[tuple[int, ...], list] = {(): [0.0, -math.inf, 0.0, history, start_share]}
    for row in log_probs:
        candidates = [c for c in np.flatnonzero(row >= prune).tolist() if c != blank]
        best = int(np.argmax(row))
        if best != blank and best not in candidates:
            candidates.append(best)
        row = row.tolist()  # Python floats: scalar math on NumPy scalars is several times slower
        step: dict[tuple[int, ...], list] = {}
        for prefix, (p_blank, p_char, lm_score, text, share) in beams.items():
            total = _logaddexp(p_blank, p_char)
            entry = step.get(prefix)
            if entry is None:
                entry = step[prefix] = [-math.inf, -math.inf, lm_score, text, share]
            entry[0] = _logaddexp(entry[0], total + row[blank])
            last = prefix[-1] if prefix else None
            lm_row = lm.next_log_probs(text) if candidates else None
            for c in candidates:
                p = row[c]
                if c == last:
                    entry[1] = _logaddexp(entry[1], p_char + p)  # "a a" without a blank: still "a"
                    reach = p_blank + p  # "a _ a": a new character
                else:
                    reach = total + p
                extended = prefix + (c,)
                target = step.get(extended)
                if target is None:
                    score = lm_score + weight * lm_row[c] + bonus
                    longer = text + lm.alphabet[c - 1]
                    new_share = 0.0
                    if words is not None:
                        if c == space:
                            score += words.completed(text)
                        else:
                            new_share = words.share(longer)
                    target = step[extended] = [-math.inf, -math.inf, score, longer, new_share]
                target[1] = _logaddexp(target[1], reach)
        ranked = sorted(
            step.items(), key=lambda kv: _logaddexp(kv[1][0], kv[1][1]) + kv[1][2] + kv[1][4]
        )
        beams = dict(ranked[-beam_width:])
    if not beams:
        return []

    def final(entry: list) -> float:
        closing = weight * lm.next_log_probs(entry[3])[0] if end else 0.0
        if words is not None:
            closing += words.ended(entry[3]) if end else entry[4]
        return _logaddexp(entry[0], entry[1]) + entry[2] + closing

    return list(max(beams.items(), key=lambda kv: final(kv[1]))[0])


@dataclass(frozen=True)
class _WordFusion:
    """The word-level terms of lm_beam_search: a word LM's score and hotword boosts."""

    space: int  # the space's class id: where words end
    lm: WordScorer | None
    weight: float
    bonus: float
    oov: float
    hotwords: Hotwords | None

    @classmethod
    def make(
        cls,
        alphabet: str,
        lm: WordScorer | None,
        weight: float | None,
        bonus: float | None,
        oov: float | None,
        hotwords: Hotwords | None,
    ) -> _WordFusion | None:
        """None when there is nothing to fuse (the search is then exactly as without)."""
        if lm is None and not hotwords:
            return None
        if " " not in alphabet:
            raise ValueError(f"word fusion needs a space in the alphabet, got {alphabet!r}")
        if lm is None:
            weight, bonus, oov = 0.0, 0.0, 0.0
        weight = lm.weight if weight is None else weight  # type: ignore[union-attr]
        bonus = lm.bonus if bonus is None else bonus  # type: ignore[union-attr]
        oov = lm.oov if oov is None else oov  # type: ignore[union-attr]
        return cls(alphabet.index(" ") + 1, lm, weight, bonus, oov, hotwords or None)

    @property
    def context(self) -> int:
        """Previous words the word LM looks at."""
        return self.lm.order - 1 if self.lm is not None else 0

    def completed(self, text: str) -> float:
        """Score of the word that ``text`` ends with, now completed (0 when it ends in a
        space or is empty: a doubled or leading space completes nothing)."""
        if not text or text[-1] == " ":
            return 0.0
        k = self.context
        parts = text.rsplit(None, k + 1)  # the word and up to k words before it, all whole
        word = parts[-1]
        score = self.bonus
        if self.lm is not None:
            score += self.weight * self.lm.score(parts[-(k + 1) : -1] if k else [], word)
            if self.oov and word not in self.lm:
                score += self.oov
        if self.hotwords is not None:
            score += self.hotwords.boost(word)
        return score

    def ended(self, text: str) -> float:
        """Score of the sentence's end after ``text``: its last word, then the end itself."""
        score = self.completed(text)
        if self.lm is not None:
            k = self.context
            prev = text.rsplit(None, k)[-k:] if k and text.strip() else []
            score += self.weight * self.lm.score(prev, WORD_END)
        return score

    def share(self, text: str) -> float:
        """Hotword share held by the unfinished last word of ``text``."""
        if self.hotwords is None or not text or text[-1] == " ":
            return 0.0
        return self.hotwords.partial(text.rsplit(" ", 1)[-1])


def _logaddexp(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for Python floats (np.logaddexp is 10x slower on scalars)."""
    if a < b:
        a, b = b, a
    if b == -math.inf:
        return a
    return a + math.log1p(math.exp(b - a))


Alignment = tuple[list[int], np.ndarray]  # label ids, and the frame each id is emitted at


class Decoder(Protocol):
    """One utterance's log-posterior pieces (cut at blank frames, in order) -> aligned labels.

    Every user of decoding (``asr transcribe``, ``asr evaluate``, ``asr lm --tune``) goes
    through ``Transcriber.decode`` with one of these, so they cannot drift apart. A new
    decoder is a class with these two methods, registered in ``DECODERS``.
    """

    def decode(self, pieces: Sequence[np.ndarray]) -> list[Alignment]: ...

    def describe(self) -> str: ...


def _aligned(pieces: Sequence[np.ndarray], labels: Sequence[list[int]]) -> list[Alignment]:
    """Viterbi-align each piece's chosen labels, for word times and confidences."""
    return [(lab, forced_alignment(lp, lab)) for lab, lp in zip(labels, pieces, strict=True)]


@dataclass(frozen=True)
class GreedyDecoder:
    """Best path: the most likely class per frame, collapsed."""

    def decode(self, pieces: Sequence[np.ndarray]) -> list[Alignment]:
        return [greedy_alignment(lp) for lp in pieces]

    def describe(self) -> str:
        return "greedy"


@dataclass(frozen=True)
class BeamDecoder:
    """CTC beam search without a language model (TensorFlow's decoder via Keras)."""

    width: int = 16

    def decode(self, pieces: Sequence[np.ndarray]) -> list[Alignment]:
        return _aligned(pieces, beam_search(pieces, self.width))

    def describe(self) -> str:
        return f"beam {self.width}"


@dataclass(frozen=True)
class LMBeamDecoder:
    """Prefix beam search fused with a character LM; ``weight``/``bonus`` default to the LM's.

    Each piece is scored in the context of the text decoded before it, and only the last
    piece ends the sentence, so cutting at blanks does not change what the LM sees. A word
    LM and hotwords, when given, are fused beside the character LM (see lm_beam_search).
    """

    lm: CharScorer
    width: int = 16
    weight: float | None = None
    bonus: float | None = None
    name: str = "character LM"  # how describe() names the LM, e.g. its file
    word_lm: WordScorer | None = None
    word_weight: float | None = None
    word_bonus: float | None = None
    hotwords: Hotwords | None = None
    word_name: str = "word LM"  # how describe() names the word LM, e.g. its file
    word_oov: float | None = None

    def decode(self, pieces: Sequence[np.ndarray]) -> list[Alignment]:
        labels: list[list[int]] = []
        history = ""
        for k, lp in enumerate(pieces):
            ids = lm_beam_search(
                lp,
                self.lm,
                self.width,
                self.weight,
                self.bonus,
                history=history,
                end=k == len(pieces) - 1,
                word_lm=self.word_lm,
                word_weight=self.word_weight,
                word_bonus=self.word_bonus,
                hotwords=self.hotwords,
                word_oov=self.word_oov,
            )
            labels.append(ids)
            history += "".join(self.lm.alphabet[i - 1] for i in ids)
        return _aligned(pieces, labels)

    def describe(self) -> str:
        parts = [f"beam {self.width}"]
        if not isinstance(self.lm, NoCharLM):
            weight = self.lm.weight if self.weight is None else self.weight
            bonus = self.lm.bonus if self.bonus is None else self.bonus
            order = getattr(self.lm, "order", None)
            gram = f"{order}-gram " if order else ""
            parts.append(f"{gram}{self.name} (weight {weight:g}, bonus {bonus:g})")
        if self.word_lm is not None:
            weight = self.word_lm.weight if self.word_weight is None else self.word_weight
            bonus = self.word_lm.bonus if self.word_bonus is None else self.word_bonus
            oov = self.word_lm.oov if self.word_oov is None else self.word_oov
            parts.append(
                f"{self.word_lm.order}-gram {self.word_name} (weight {weight:g}, bonus {bonus:g}"
                + (f", unknown word {oov:g})" if oov else ")")
            )
        if self.hotwords:
            parts.append(f"{len(self.hotwords)} hotword{'s' if len(self.hotwords) > 1 else ''}")
        return " + ".join(parts)


def with_words(
    decoder: Decoder,
    alphabet: str,
    word_lm: WordScorer | None = None,
    hotwords: Hotwords | None = None,
    word_weight: float | None = None,
    word_bonus: float | None = None,
    word_name: str = "word LM",
    word_oov: float | None = None,
) -> Decoder:
    """``decoder`` with a word LM and/or hotwords fused in; itself when there are neither.

    A beam decoder without a character LM becomes prefix beam search with a character LM that
    scores nothing (``NoCharLM``): TensorFlow's decoder takes no scorer.

    Raises:
        ValueError: a decoder that cannot fuse words (greedy).
    """
    if word_lm is None and not hotwords:
        return decoder
    if isinstance(decoder, BeamDecoder):
        decoder = LMBeamDecoder(NoCharLM(alphabet), decoder.width)
    if not isinstance(decoder, LMBeamDecoder):
        raise ValueError(
            f"the {decoder.describe()} decoder cannot use a word LM or hotwords; use beam search"
        )
    return dataclasses.replace(
        decoder,
        word_lm=word_lm,
        word_weight=word_weight,
        word_bonus=word_bonus,
        hotwords=hotwords or None,
        word_name=word_name,
        word_oov=word_oov,
    )


# The CLI's --decoder choices: name -> (beam width, LM or None) -> Decoder. "beam" fuses the
# LM when the model has one.
DECODERS: dict[str, Callable[[int, CharScorer | None], Decoder]] = {
    "greedy": lambda width, lm: GreedyDecoder(),
    "beam": lambda width, lm: BeamDecoder(width) if lm is None else LMBeamDecoder(lm, width),
}
# Not a decoder but a choice among them, made per model (``Transcriber.resolve_decoder``):
# beam search when the model has a language model or hotwords, else greedy. The default.
AUTO_DECODER = "auto"
