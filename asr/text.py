"""Text normalization and the character tokenizer (pure Python + NumPy, no TensorFlow).

Blank convention, used everywhere in asr: class 0 is the CTC blank (``mask_index=0`` in
``keras.ops.ctc_loss`` / ``ctc_decode``), class 1 is space, classes 2..27 are ``a``..``z``.
The model therefore has ``len(alphabet) + 1 == 28`` output units and emits logits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

BLANK = 0
DEFAULT_ALPHABET = " abcdefghijklmnopqrstuvwxyz"

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in English words ("2024" -> "two thousand twenty four")."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return (
                number_to_words(head)
                + " "
                + name
                + ("" if rest == 0 else " " + number_to_words(rest))
            )
    raise AssertionError("unreachable")


def _spell_digits(match: re.Match[str]) -> str:
    digits = match.group(0)
    # Very long digit runs (phone numbers, ids) are read digit by digit.
    if len(digits) > 15:
        return " " + " ".join(_ONES[int(d)] for d in digits) + " "
    return " " + number_to_words(int(digits)) + " "


def spell_numbers(text: str) -> str:
    """``text`` with every digit run spelled out in words, all else untouched ("1,000" is one
    number); the one place numbers become words, for transcripts and for synthesis alike."""
    text = re.sub(r"(?<=\d)[,_](?=\d{3})", "", text)
    return re.sub(r"\d+", _spell_digits, text)


def normalize_text(text: str) -> str:
    """Normalize a transcript as DESIGN.md says: lower case, digits spelled out,
    apostrophes removed ("don't" -> "dont"), other punctuation dropped, whitespace collapsed.

    Letters with accents are folded to ASCII ("café" -> "cafe"); anything else outside
    a-z becomes a word break.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.lower()
    text = spell_numbers(text)
    text = re.sub(r"['\u2019\u2018`]", "", text)
    text = re.sub(r"[^a-z]+", " ", text)
    return " ".join(text.split())


def foreign_letters(text: str) -> list[str]:
    """Letters that normalization cannot fold to a-z ("привет", "ß", "日"), each once.

    normalize_text turns them into word breaks; in a transcript that silently drops words the
    audio contains, so manifests reject such lines instead.
    """
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()
    seen: dict[str, None] = {}
    for c in folded:
        if c.isalpha() and not ("a" <= c <= "z"):
            seen.setdefault(c, None)
    return list(seen)


class Tokenizer:
    """Maps normalized text to class ids and back; id 0 is the CTC blank."""

    def __init__(self, alphabet: str = DEFAULT_ALPHABET) -> None:
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet has repeated characters: {alphabet!r}")
        self.alphabet = alphabet
        self._index = {c: i + 1 for i, c in enumerate(alphabet)}

    @property
    def num_classes(self) -> int:
        """Output units of the model: one per character plus the blank."""
        return len(self.alphabet) + 1

    def encode(self, text: str) -> np.ndarray:
        """Encode already-normalized text; raises ValueError naming the first unknown character."""
        try:
            return np.array([self._index[c] for c in text], dtype=np.int32)
        except KeyError as e:
            raise ValueError(
                f"character {e.args[0]!r} in {text!r} is not in the alphabet {self.alphabet!r}; "
                "run the text through normalize_text first"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Map ids to text, skipping blanks (no CTC collapsing: see asr.decoding)."""
        chars = self.alphabet
        return "".join(chars[i - 1] for i in ids if 0 < i <= len(chars))

    def decode_batch(self, batch: Sequence[Iterable[int]]) -> list[str]:
        """Decode several id sequences."""
        return [self.decode(ids) for ids in batch]
