"""A character n-gram language model for beam search (interpolated Kneser-Ney, pure NumPy).

Why characters, not words: the acoustic model spells, so its errors are misspellings
("biligy" for "biology", "now" for "know"); a character model scores any spelling, needs no
vocabulary and no external toolkit, and a 6-gram trained on a few MB of text knows English
spelling well enough to pick the right one among the beam's candidates.

The file (``lm.npz``, plain arrays, loaded with ``allow_pickle=False``) holds every n-gram
count up to ``order``; the probabilities are computed on demand and cached per history.
Token ids follow the tokenizer (1.. for the alphabet); id 0, the CTC blank, stands for the
end of the sentence here, so ``next_log_probs(h)[0]`` is log P(end | h).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from asr.errors import ConfigError
from asr.fileio import atomic_path
from asr.text import DEFAULT_ALPHABET

START = "^"  # pads the history before a sentence's first character
END = "$"  # the end-of-sentence symbol; id 0
LM_NAME = "lm.npz"
DEFAULT_ORDER = 6
FORMAT = "asr-char-lm-1"


class CharLM:
    """P(next character | the previous order-1 characters), interpolated Kneser-Ney."""

    def __init__(
        self,
        alphabet: str,
        order: int,
        grams: dict[int, tuple[np.ndarray, np.ndarray]],
        weight: float,
        bonus: float,
    ) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if START in alphabet or END in alphabet:
            raise ValueError(f"alphabet must not contain {START!r} or {END!r}")
        self.alphabet = alphabet
        self.order = order
        # n -> (n-gram strings, counts: raw for order n, else continuation), as saved
        self.grams = grams
        self.weight = weight  # log-probability scale in beam search (shallow fusion)
        self.bonus = bonus  # per-character reward that offsets the LM's bias to short text
        self._vocab = END + alphabet  # index = token id; 0 is the end of the sentence
        self._index = {c: i for i, c in enumerate(self._vocab)}
        self._tables = {n: _ContextTable(g, c, self._index) for n, (g, c) in grams.items()}
        self._discount = {n: _discount(c) for n, (_, c) in grams.items()}
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        order: int = DEFAULT_ORDER,
        alphabet: str = DEFAULT_ALPHABET,
        weight: float = 0.5,
        bonus: float = 1.0,
    ) -> CharLM:
        """Count n-grams of normalized sentences (characters outside ``alphabet`` raise)."""
        allowed = set(alphabet)
        raw: Counter[str] = Counter()
        pad = START * (order - 1)
        for line_no, sentence in enumerate(sentences, 1):
            if not sentence:
                continue
            bad = set(sentence) - allowed
            if bad:
                raise ValueError(
                    f"sentence {line_no} has characters outside the alphabet: {sorted(bad)}"
                )
            text = pad + sentence + END
            raw.update(text[i - order + 1 : i + 1] for i in range(order - 1, len(text)))
        if not raw:
            raise ValueError("no text to train the language model on")
        grams = {
            n: (np.array(list(g), dtype=f"<U{n}"), np.fromiter(g.values(), np.int64, len(g)))
            for n, g in _kneser_ney_counts(raw, order).items()
        }
        return cls(alphabet, order, grams, weight, bonus)

    @property
    def num_ngrams(self) -> int:
        return sum(len(g) for g, _ in self.grams.values())

    def next_log_probs(self, history: str) -> np.ndarray:
        """log P(token | history) for every token id (0 = end of sentence)."""
        key = history[-(self.order - 1) :] if self.order > 1 else ""
        if len(key) < self.order - 1:
            key = START * (self.order - 1 - len(key)) + key
        cached = self._cache.get(key)
        if cached is None:
            cached = np.log(self._probs(key))
            if len(self._cache) > 200_000:  # bounded: long files visit many histories
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def _probs(self, key: str) -> np.ndarray:
        vocab = len(self._vocab)
        probs = np.full(vocab, 1.0 / vocab)
        for n in range(1, self.order + 1):
            context = key[len(key) - (n - 1) :] if n > 1 else ""
            row = self._tables[n].get(context)
            if row is None:
                continue  # unseen context: the lower-order estimate stands
            ids, counts, total = row
            d = self._discount[n]
            probs = probs * (d * len(ids) / total)
            probs[ids] += (counts - d) / total
        return probs

    def sentence_log_prob(self, sentence: str) -> float:
        """Natural-log probability of a normalized sentence, its end included."""
        total = 0.0
        for i, c in enumerate(sentence + END):
            total += float(self.next_log_probs(sentence[:i])[self._index[c]])
        return total

    def bits_per_character(self, sentences: Iterable[str]) -> float:
        """Cross-entropy on held-out text (end symbols counted as characters)."""
        nats, chars = 0.0, 0
        for s in sentences:
            if s:
                nats -= self.sentence_log_prob(s)
                chars += len(s) + 1
        return nats / max(chars, 1) / np.log(2)

    def save(self, path: str | os.PathLike) -> Path:
        """Write plain arrays (no pickle) with the alphabet, order and fusion weights."""
        path = Path(path)
        meta = {
            "format": FORMAT,
            "alphabet": self.alphabet,
            "order": self.order,
            "weight": self.weight,
            "bonus": self.bonus,
        }
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
        for n, (g, c) in self.grams.items():
            arrays[f"grams{n}"] = g
            arrays[f"counts{n}"] = c.astype(np.uint32)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharLM:
        """Read a file written by ``save``; anything else is a ConfigError naming the file."""
        path = Path(path)
        if path.is_file() and not zipfile.is_zipfile(path):  # np.load would talk of pickles
            raise ConfigError(
                f"{path}: not an asr language model (not an .npz archive); make one with `asr lm`"
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
                order = int(meta["order"])
                grams = {
                    n: (data[f"grams{n}"], data[f"counts{n}"].astype(np.int64))
                    for n in range(1, order + 1)
                }
                for n, (g, c) in grams.items():
                    if g.dtype != np.dtype(f"<U{n}") or g.shape != c.shape:
                        raise ValueError(f"grams{n} is not {n}-character strings with counts")
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: language model not found; make one with `asr lm`") from e
        except (OSError, EOFError, zipfile.BadZipFile, ValueError, KeyError, TypeError) as e:
            raise ConfigError(
                f"{path}: not an asr language model ({e}); make one with `asr lm`"
            ) from e
        return cls(meta["alphabet"], order, grams, float(meta["weight"]), float(meta["bonus"]))


def _kneser_ney_counts(raw: Counter[str], order: int) -> dict[int, dict[str, int]]:
    """Raw counts for the top order; below it, continuation counts (distinct left
    neighbours), which is what makes Kneser-Ney's lower orders good back-off estimates."""
    grams: dict[int, dict[str, int]] = {order: dict(raw)}
    for n in range(order - 1, 0, -1):
        continuation: Counter[str] = Counter(g[1:] for g in grams[n + 1])
        grams[n] = dict(continuation)
    return grams


def _discount(values: np.ndarray) -> float:
    """Absolute discount D = n1 / (n1 + 2 n2) from the counts of counts (Ney et al.)."""
    n1, n2 = int((values == 1).sum()), int((values == 2).sum())
    if n1 == 0 or n2 == 0:
        return 0.5
    return min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)


class _ContextTable:
    """Every n-gram of one order grouped by context, in flat arrays: the rows a context
    indexes are ``ids[offsets[r]:offsets[r + 1]]``, and row ``r`` is found by binary search
    of the context's integer key (its characters as base-``2**bits`` digits) in ``keys``.

    One NumPy array per context took 1 GiB and 15 s to load for a 10-gram; a dict from
    context string to row still took 1.6 s and 560 MB, most of a `--decoder beam` cold
    start; sorted integer keys take a fraction of both."""

    def __init__(self, grams: np.ndarray, counts: np.ndarray, index: dict[str, int]) -> None:
        self.symbols = {c: i + 1 for i, c in enumerate(START + "".join(index))}
        self.bits = max(1, int(np.ceil(np.log2(len(self.symbols) + 1))))
        n = grams.dtype.itemsize // 4
        if self.bits * max(n - 1, 1) > 63:
            raise ValueError(f"{n}-grams over {len(self.symbols)} symbols do not fit a 64-bit key")
        codes = grams.view(np.uint32).reshape(len(grams), n)  # one code point per character
        lut = np.zeros(max(int(codes.max(initial=0)), max(map(ord, self.symbols))) + 1, np.uint8)
        for c, v in self.symbols.items():
            lut[ord(c)] = v
        digits = lut[codes]
        keys = np.zeros(len(grams), dtype=np.int64)
        for k in range(n - 1):
            keys = (keys << self.bits) | digits[:, k].astype(np.int64)
        order = np.argsort(keys, kind="stable")
        keys, digits, counts = keys[order], digits[order], counts[order]
        new = np.ones(len(grams), dtype=bool)
        new[1:] = keys[1:] != keys[:-1]
        starts = np.flatnonzero(new)
        self.keys = keys[starts]
        self.offsets = np.append(starts, len(grams)).astype(np.int64)
        to_id = np.zeros(len(self.symbols) + 1, dtype=np.intp)
        for c, v in self.symbols.items():
            to_id[v] = index.get(c, 0)
        self.ids = to_id[digits[:, -1]] if len(grams) else np.zeros(0, dtype=np.intp)
        self.counts = counts.astype(np.float64)
        self.totals = np.add.reduceat(self.counts, starts) if len(grams) else np.zeros(0)

    def _key(self, context: str) -> int | None:
        key = 0
        for c in context:
            v = self.symbols.get(c)
            if v is None:
                return None
            key = (key << self.bits) | v
        return key

    def get(self, context: str) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(next token ids, their counts, the counts' sum), or None for an unseen context."""
        key = self._key(context)
        if key is None or not len(self.keys):
            return None
        r = int(np.searchsorted(self.keys, key))
        if r == len(self.keys) or self.keys[r] != key:
            return None
        a, b = self.offsets[r], self.offsets[r + 1]
        return self.ids[a:b], self.counts[a:b], float(self.totals[r])


def read_sentences(path: Path) -> list[str]:
    """Normalized sentences from a text file (one a line) or a manifest's transcripts."""
    from asr.manifest import read_manifest
    from asr.text import normalize_text

    if path.suffix.lower() in {".jsonl", ".json", ".csv", ".tsv"}:
        # only the transcripts matter here: the audio may live elsewhere
        return [normalize_text(u.text) for u in read_manifest(path, check_audio_exists=False)]
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from e
    if "\x00" in text:  # odd bytes in real text are replaced; NUL bytes mean audio or binary
        raise ConfigError(f"{path}: a binary file (it holds NUL bytes), not text; name text files")
    return [s for s in (normalize_text(line) for line in text.splitlines()) if s]
