"""Text normalization and the tokenizer's blank convention."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asr.text import (
    BLANK,
    DEFAULT_ALPHABET,
    Tokenizer,
    foreign_letters,
    normalize_text,
    number_to_words,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("Don't STOP", "dont stop"),
        ("It’s 5 o'clock", "its five oclock"),
        ("  many   spaces\tand\nlines ", "many spaces and lines"),
        ("I have 2024 cats", "i have two thousand twenty four cats"),
        ("$1,250", "one thousand two hundred fifty"),
        ("café naïve", "cafe naive"),
        ("e-mail/web", "e mail web"),
        ("3rd", "three rd"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (101, "one hundred one"),
        (1000000, "one million"),
        (999, "nine hundred ninety nine"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_blank_is_class_zero_and_classes_are_alphabet_plus_one() -> None:
    tok = Tokenizer()
    assert BLANK == 0
    assert tok.num_classes == len(DEFAULT_ALPHABET) + 1 == 28
    assert tok.encode(" ").tolist() == [1]
    assert tok.encode("az").tolist() == [2, 27]
    assert BLANK not in tok.encode(DEFAULT_ALPHABET).tolist()


def test_decode_skips_blanks() -> None:
    tok = Tokenizer()
    assert tok.decode([0, 9, 0, 10, 0]) == "hi"


def test_encode_rejects_unknown_character_with_hint() -> None:
    with pytest.raises(ValueError, match="normalize_text"):
        Tokenizer().encode("hi!")


@given(st.text(max_size=200))
def test_normalized_text_round_trips(raw: str) -> None:
    tok = Tokenizer()
    norm = normalize_text(raw)
    assert set(norm) <= set(DEFAULT_ALPHABET)
    assert norm == norm.strip() and "  " not in norm
    assert tok.decode(tok.encode(norm)) == norm
    assert normalize_text(norm) == norm


@pytest.mark.parametrize(
    ("text", "foreign"),
    [
        ("Café naïve, don't 42!", []),  # accents fold, punctuation and digits are fine
        ("ﬁne", []),  # a ligature decomposes to letters
        ("straße", ["ß"]),
        ("привет мир", ["п", "р", "и", "в", "е", "т", "м"]),
        ("日本 ok 日", ["日", "本"]),
    ],
)
def test_foreign_letters(text: str, foreign: list[str]) -> None:
    assert foreign_letters(text) == foreign
