"""A word n-gram language model in the ARPA format (pure Python, no TensorFlow, no kenlm).

Why words beside the character LM: the character model knows spelling but not which words
follow which ("the whale" vs "the wail"); a word trigram scores whole words in context, and
the character LM, kept in the same search, still lets words outside its vocabulary decode.

The file is standard ARPA (``\\data\\``, ``\\N-grams:`` sections of log10 probabilities and
back-off weights, ``\\end\\``), so kenlm, SRILM or any other tool reads what ``asr lm --word``
writes, and an ARPA file from them (lower-case words, like asr's transcripts) works here.
Lines starting with ``#`` before ``\\data\\`` are comments (kenlm allows them); asr keeps the
fusion weight, bonus and unknown-word score there (``# asr-word-lm weight=0.3 bonus=0
oov=0``).

Training is interpolated modified Kneser-Ney (Chen & Goodman 1998, as kenlm's lmplz does it),
written in back-off form; n-grams of order >= 2 seen fewer than ``min_count`` times are
pruned and the back-off weights recomputed, so every context's distribution still sums to 1.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from asr.errors import ConfigError
from asr.fileio import atomic_write_text

WORDS_NAME = "words.arpa"  # a model directory's word LM, used by beam search when present
BOS, EOS, UNK = "<s>", "</s>", "<unk>"
DEFAULT_ORDER = 3
# natural-log scale in beam search: with the default model and its character LM, 0.3 was best
# of 0.15/0.2/0.3/0.4/0.5/0.8 on real dev (WER 65.5 % -> 63.4 %; 0.5 and up merge words)
DEFAULT_WEIGHT = 0.3
DEFAULT_BONUS = 0.0  # added per completed word
DEFAULT_OOV = 0.0  # added per completed word outside the vocabulary
DEFAULT_MIN_COUNT = 2  # n-grams of order >= 2 seen once are pruned (keeps the file small)
LN10 = math.log(10.0)
NO_PROB = -99.0  # log10 "probability" of <s>, which is never predicted (as lmplz writes it)
_HEADER = re.compile(r"#\s*asr-word-lm\b(.*)")


class WordLM:
    """A back-off word n-gram model: ``score(previous words, word)`` in natural log.

    ``probs[n - 1]`` maps each n-gram (its words joined by single spaces) to its log10
    probability, ``backoffs[n - 1]`` each context n-gram to its log10 back-off weight (absent:
    0). Words outside the vocabulary score as ``<unk>``; a file without ``<unk>`` gives them
    the rarest unigram's probability (kenlm would give -100, which would forbid them outright
    and defeat the character LM's purpose of keeping unseen words possible).
    """

    def __init__(
        self,
        probs: list[dict[str, float]],
        backoffs: list[dict[str, float]],
        weight: float = DEFAULT_WEIGHT,
        bonus: float = DEFAULT_BONUS,
        oov: float = DEFAULT_OOV,
    ) -> None:
        if not probs or not probs[0]:
            raise ValueError("a word LM needs at least one unigram")
        self.order = len(probs)
        self.probs = probs
        self.backoffs = backoffs
        self.weight = weight  # log-probability scale in beam search (shallow fusion)
        self.bonus = bonus  # score added per completed word (offsets the LM's cost per word)
        # score added per completed word outside the vocabulary: P(<unk>) is the mass of every
        # unseen word together, too cheap for any one of them (two words run together as one)
        self.oov = oov
        unigrams = probs[0]
        if UNK in unigrams:
            self.unk_log10 = unigrams[UNK]
        else:
            self.unk_log10 = min(p for w, p in unigrams.items() if w != BOS)
        self._cache: dict[tuple[tuple[str, ...], str], float] = {}

    @property
    def vocab_size(self) -> int:
        """Distinct words, counting ``</s>`` and ``<unk>`` but not ``<s>``."""
        return len(self.probs[0]) - (BOS in self.probs[0])

    @property
    def num_ngrams(self) -> int:
        return sum(len(p) for p in self.probs)

    def __contains__(self, word: str) -> bool:
        """Whether ``word`` is in the vocabulary (as a unigram of its own)."""
        return word in self.probs[0] and word not in (BOS, UNK)

    def score(self, prev_words: Sequence[str], word: str) -> float:
        """Natural-log P(``word`` | the sentence's previous words); ``</s>`` ends it.

        ``prev_words`` are the sentence's words so far (the model prepends ``<s>`` and uses
        the last order-1; a longer tail than that is fine).
        """
        context = (BOS, *prev_words)[-(self.order - 1) :] if self.order > 1 else ()
        key = (tuple(context), word)
        cached = self._cache.get(key)
        if cached is None:
            cached = self.log10_prob(context, word) * LN10
            if len(self._cache) > 200_000:  # bounded: a long file visits many contexts
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def log10_prob(self, context: Sequence[str], word: str) -> float:
        """log10 P(word | context) by the ARPA back-off rule; ``context`` at most order-1."""
        unigrams = self.probs[0]
        if word not in unigrams or word == BOS:
            word = UNK
        context = [w if w in unigrams else UNK for w in context]
        total = 0.0
        for start in range(len(context) + 1):
            ctx = context[start:]
            n = len(ctx) + 1
            if n > self.order:
                continue
            p = self.probs[n - 1].get(" ".join([*ctx, word]))
            if p is not None:
                return total + p
            if ctx:
                total += self.backoffs[n - 2].get(" ".join(ctx), 0.0)
        return total + self.unk_log10  # only <unk> absent from the file gets here

    def sentence_log_prob(self, words: Sequence[str]) -> float:
        """Natural-log probability of a sentence's words, its end included."""
        words = list(words)
        return sum(self.score(words[:i], w) for i, w in enumerate([*words, EOS]))

    def perplexity(self, sentences: Iterable[str]) -> float:
        """Per-word perplexity on held-out normalized sentences (end symbols counted)."""
        nats, count = 0.0, 0
        for s in sentences:
            words = s.split()
            nats -= self.sentence_log_prob(words)
            count += len(words) + 1
        return math.exp(nats / max(count, 1))

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        order: int = DEFAULT_ORDER,
        min_count: int = DEFAULT_MIN_COUNT,
        max_vocab: int | None = None,
        weight: float = DEFAULT_WEIGHT,
        bonus: float = DEFAULT_BONUS,
        oov: float = DEFAULT_OOV,
    ) -> WordLM:
        """Interpolated modified Kneser-Ney on normalized sentences (words split at spaces).

        ``min_count``: n-grams of order >= 2 seen fewer times are pruned (1 keeps all).
        ``max_vocab``: keep only the most frequent words; the rest are counted as ``<unk>``.

        Raises:
            ValueError: a bad order or count, or no words at all.
        """
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_vocab is not None and max_vocab < 1:
            raise ValueError(f"max_vocab must be >= 1, got {max_vocab}")
        texts = [s.split() for s in sentences]
        texts = [t for t in texts if t]
        if not texts:
            raise ValueError("no text to train the word language model on")
        for t in texts:
            bad = next((w for w in t if w in (BOS, EOS, UNK)), None)
            if bad is not None:
                raise ValueError(f"{bad!r} is a reserved word; normalize the text first")
        if max_vocab is not None:
            freq = Counter(w for t in texts for w in t)
            keep = {w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:max_vocab]}
            texts = [[w if w in keep else UNK for w in t] for t in texts]
        raw = _raw_counts(texts, order)
        probs, backoffs = _kneser_ney(raw, order, min_count)
        return cls(probs, backoffs, weight, bonus, oov)

    def to_arpa(self) -> str:
        """The model as ARPA text (log10 values, tab-separated fields, lmplz's layout)."""
        header = f"# asr-word-lm weight={self.weight:g} bonus={self.bonus:g} oov={self.oov:g}"
        lines = [header, "", "\\data\\"]
        lines += [f"ngram {n}={len(p)}" for n, p in enumerate(self.probs, 1)]
        for n, grams in enumerate(self.probs, 1):
            lines += ["", f"\\{n}-grams:"]
            backoffs = self.backoffs[n - 1] if n < self.order else {}
            for gram, p in grams.items():
                bo = backoffs.get(gram)
                lines.append(f"{p:.7g}\t{gram}" + (f"\t{bo:.7g}" if bo is not None else ""))
        lines += ["", "\\end\\", ""]
        return "\n".join(lines)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the ARPA file atomically."""
        return atomic_write_text(path, self.to_arpa())

    @classmethod
    def load(cls, path: str | os.PathLike) -> WordLM:
        """Read an ARPA file; a malformed one is a ConfigError naming the file and line."""
        path = Path(path)
        try:
            with open(path, encoding="utf-8") as f:
                return _parse_arpa(f, path)
        except FileNotFoundError as e:
            raise ConfigError(
                f"{path}: word language model not found; make one with `asr lm --word`"
            ) from e
        except UnicodeDecodeError as e:
            raise ConfigError(
                f"{path}: not an ARPA text file (not UTF-8: {e.reason}); a binary kenlm "
                "model cannot be read, give the ARPA file it was built from"
            ) from e
        except OSError as e:
            raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from e


def _raw_counts(texts: list[list[str]], order: int) -> list[Counter[tuple[str, ...]]]:
    """Counts of every n-gram ending at a predicted token (the words and ``</s>``; ``<s>`` is
    only ever context), for n = 1..order."""
    raw: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order)]
    for words in texts:
        tokens = (BOS, *words, EOS)
        for i in range(1, len(tokens)):
            for n in range(1, min(order, i + 1) + 1):
                raw[n - 1][tokens[i - n + 1 : i + 1]] += 1
    return raw


def _discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the counts of counts (Chen & Goodman);
    a tiny corpus without the needed counts falls back to 0.5/1.0/1.5."""
    t = Counter(c for c in counts if c <= 4)
    t1, t2, t3, t4 = (t[k] for k in (1, 2, 3, 4))
    if min(t1, t2, t3, t4) == 0:
        return 0.5, 1.0, 1.5
    y = t1 / (t1 + 2 * t2)
    d1, d2, d3 = 1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3
    return (min(max(d1, 0.05), 0.95), min(max(d2, 0.05), 1.95), min(max(d3, 0.05), 2.95))


def _kneser_ney(
    raw: list[Counter[tuple[str, ...]]], order: int, min_count: int
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """log10 probabilities and back-off weights of interpolated modified Kneser-Ney.

    Below the top order an n-gram's count is its number of distinct left neighbours (its
    continuation count), except after ``<s>``, which has no left neighbour. Unigrams are
    interpolated with the uniform distribution over the vocabulary plus ``<unk>``.
    """
    adjusted: list[dict[tuple[str, ...], int]] = [dict(raw[order - 1])]
    for n in range(order - 1, 0, -1):
        left: Counter[tuple[str, ...]] = Counter(g[1:] for g in raw[n])
        adjusted.insert(0, {g: (c if g[0] == BOS else left[g]) for g, c in raw[n - 1].items()})
    vocab = {g[0] for g in raw[0]} | {UNK}
    probs: list[dict[tuple[str, ...], float]] = []  # natural probabilities while estimating
    backoffs: list[dict[tuple[str, ...], float]] = []
    for n in range(1, order + 1):
        counts = adjusted[n - 1]
        d = _discounts(counts.values())
        by_context: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        for g, c in counts.items():
            by_context[g[:-1]].append((g[-1], c))
        level: dict[tuple[str, ...], float] = {}
        level_bo: dict[tuple[str, ...], float] = {}
        lower = probs[-1] if probs else None
        for ctx, followers in by_context.items():
            total = sum(c for _, c in followers)
            kinds = Counter(min(c, 3) for _, c in followers)
            gamma = (d[0] * kinds[1] + d[1] * kinds[2] + d[2] * kinds[3]) / total
            pruned_mass, kept_lower = 0.0, 0.0
            for w, c in followers:
                mass = (c - d[min(c, 3) - 1]) / total
                if n >= 2 and raw[n - 1][ctx + (w,)] < min_count:
                    pruned_mass += mass
                    continue
                # a kept n-gram's suffix is kept too: its raw count is at least as high
                p_lower = lower[ctx[1:] + (w,)] if lower is not None else 1.0 / len(vocab)
                level[ctx + (w,)] = mass + gamma * p_lower
                kept_lower += p_lower
            if n == 1:
                for w in vocab - {g[0] for g in counts}:  # <unk>: only the uniform share
                    level[(w,)] = gamma / len(vocab)
            else:
                # the back-off weight that keeps P(. | ctx) summing to one after pruning
                # (gamma itself when nothing was pruned)
                level_bo[ctx] = gamma + pruned_mass / max(1.0 - kept_lower, 1e-12)
        probs.append(level)
        backoffs.append(level_bo)
    out_probs: list[dict[str, float]] = []
    out_backoffs: list[dict[str, float]] = []
    for n in range(1, order + 1):
        grams = {" ".join(g): math.log10(p) for g, p in sorted(probs[n - 1].items())}
        if n == 1:
            grams[BOS] = NO_PROB
        out_probs.append(grams)
        out_backoffs.append({})
    for n in range(2, order + 1):  # a context of order n-1 owns the back-off weight
        for ctx, bo in backoffs[n - 1].items():
            key = " ".join(ctx)
            if key in out_probs[n - 2]:
                out_backoffs[n - 2][key] = math.log10(bo)
    return out_probs, out_backoffs


def _parse_arpa(lines: Iterable[str], path: Path) -> WordLM:
    """Parse ARPA text; errors name ``path`` and the line."""

    def fail(line_no: int, problem: str) -> ConfigError:
        return ConfigError(
            f"{path}, line {line_no}: {problem}; expected an ARPA language model "
            "(make one with `asr lm --word`)"
        )

    settings = {"weight": DEFAULT_WEIGHT, "bonus": DEFAULT_BONUS, "oov": DEFAULT_OOV}
    declared: list[int] = []
    probs: list[dict[str, float]] = []
    backoffs: list[dict[str, float]] = []
    state = "header"  # header -> counts -> grams -> end
    n = 0
    line_no = 0
    for line_no, line in enumerate(lines, 1):
        text = line.strip()
        if state == "header":
            match = _HEADER.match(text)
            if match:
                _header_values(match.group(1), settings, line_no, fail)
            elif text == "\\data\\":
                state = "counts"
            elif text and not text.startswith("#"):
                raise fail(line_no, f"found {text[:40]!r} before \\data\\")
            continue
        if not text:
            continue
        if state == "counts" and text.startswith("ngram "):
            m = re.fullmatch(r"ngram\s+(\d+)\s*=\s*(\d+)", text)
            if not m or int(m.group(1)) != len(declared) + 1:
                raise fail(
                    line_no, f"bad count line {text[:40]!r} (want 'ngram {len(declared) + 1}=N')"
                )
            declared.append(int(m.group(2)))
            continue
        m = re.fullmatch(r"\\(\d+)-grams:", text)
        if m:
            if not declared:
                raise fail(line_no, "an n-gram section before any 'ngram N=COUNT' line")
            if probs and len(probs[-1]) != declared[len(probs) - 1]:
                raise fail(
                    line_no,
                    f"{len(probs[-1])} {len(probs)}-grams, but \\data\\ declares "
                    f"{declared[len(probs) - 1]}",
                )
            n = int(m.group(1))
            if n != len(probs) + 1 or n > len(declared):
                raise fail(line_no, f"section \\{n}-grams: out of order")
            probs.append({})
            backoffs.append({})
            state = "grams"
            continue
        if text == "\\end\\":
            state = "end"
            break
        if state != "grams":
            raise fail(line_no, f"found {text[:40]!r} where 'ngram N=COUNT' or a section belongs")
        fields = text.split()
        if len(fields) not in (n + 1, n + 2):
            raise fail(
                line_no,
                f"{len(fields)} fields in a {n}-gram line (want a log10 probability, {n} "
                "word(s) and an optional back-off)",
            )
        try:
            p = float(fields[0])
            bo = float(fields[n + 1]) if len(fields) == n + 2 else None
        except ValueError:
            raise fail(line_no, f"{text[:40]!r} has a number that is not one") from None
        if not math.isfinite(p) or p > 0 or (bo is not None and not math.isfinite(bo)):
            raise fail(line_no, f"log10 probability {fields[0]} is not a finite number <= 0")
        gram = " ".join(fields[1 : n + 1])
        probs[-1][gram] = p
        if bo is not None and bo != 0.0:
            backoffs[-1][gram] = bo
    if state != "end":
        where = "\\data\\" if state == "header" else "\\end\\"
        raise fail(line_no, f"the file ends without {where}")
    if len(probs) != len(declared):
        raise fail(line_no, f"{len(probs)} n-gram sections, but \\data\\ declares {len(declared)}")
    if len(probs[-1]) != declared[-1]:
        raise fail(
            line_no,
            f"{len(probs[-1])} {len(probs)}-grams, but \\data\\ declares {declared[-1]}",
        )
    if not probs[0]:
        raise fail(line_no, "no unigrams")
    return WordLM(probs, backoffs, **settings)


def _header_values(text: str, settings: dict[str, float], line_no: int, fail) -> None:
    """weight=, bonus= and oov= from an ``# asr-word-lm`` comment, into ``settings``."""
    for item in text.split():
        key, _, value = item.partition("=")
        if key in settings:
            try:
                settings[key] = float(value)
            except ValueError:
                raise fail(line_no, f"{item!r} is not a number") from None
