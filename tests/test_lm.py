"""The character language model and the beam search that uses it (NumPy only, no Keras)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from asr.decoding import greedy_decode, lm_beam_search
from asr.errors import ConfigError
from asr.lm import CharLM, read_sentences
from asr.text import Tokenizer

TEXT = [
    "as with all matters of the heart",
    "the heart of the matter",
    "you will know when you find it",
    "a heart of gold",
    "the night is dark",
    "all the world is a stage",
    "she ate the pear",
    "we heard the news",
]
TOK = Tokenizer()


@pytest.fixture(scope="module")
def lm() -> CharLM:
    return CharLM.train(TEXT, order=5, weight=1.0, bonus=1.5)


@pytest.mark.parametrize("history", ["", "the hea", "as with all", "zzzzqx", "q"])
def test_every_history_gives_a_distribution(lm: CharLM, history: str) -> None:
    probs = np.exp(lm.next_log_probs(history))
    assert probs.shape == (len(lm.alphabet) + 1,)
    assert probs.sum() == pytest.approx(1.0)
    assert (probs > 0).all()  # interpolation down to uniform: nothing is impossible


def test_it_learns_spelling(lm: CharLM) -> None:
    after = lm.next_log_probs("the hea")
    assert after[TOK.encode("r")[0]] > after[TOK.encode("q")[0]] + 3
    assert lm.sentence_log_prob("the heart") > lm.sentence_log_prob("the heat")
    held_out = ["the heart of all the world", "we know the night"]
    scrambled = ["".join(sorted(s)) for s in held_out]
    assert lm.bits_per_character(held_out) < lm.bits_per_character(scrambled) - 1


def test_save_load_round_trip(lm: CharLM, tmp_path: Path) -> None:
    path = lm.save(tmp_path / "lm.npz")
    again = CharLM.load(path)
    assert (again.order, again.alphabet, again.weight, again.bonus) == (5, lm.alphabet, 1.0, 1.5)
    for history in ["", "the hea", "xyz"]:
        np.testing.assert_allclose(again.next_log_probs(history), lm.next_log_probs(history))
    with np.load(path, allow_pickle=False) as data:  # plain arrays: no pickle needed
        assert "meta" in data.files


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04broken"])
def test_bad_files_name_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "lm.npz"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"lm\.npz: not an asr language model.*asr lm"):
        CharLM.load(path)
    with pytest.raises(ConfigError, match="not found"):
        CharLM.load(tmp_path / "missing.npz")


def test_an_npz_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, meta=np.array('{"format": "other"}'))
    with pytest.raises(ConfigError, match="format 'other'"):
        CharLM.load(path)


def test_an_lm_file_with_mismatched_arrays_is_refused(lm: CharLM, tmp_path: Path) -> None:
    path = lm.save(tmp_path / "lm.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["counts3"] = arrays["counts3"][:-1]  # one count short
    np.savez(path, **arrays)
    with pytest.raises(ConfigError, match=r"lm\.npz: not an asr language model.*grams3"):
        CharLM.load(path)


def test_training_input_errors() -> None:
    with pytest.raises(ValueError, match="no text"):
        CharLM.train(["", ""])
    with pytest.raises(ValueError, match=r"sentence 2 has characters outside the alphabet"):
        CharLM.train(["ok", "Not normalized!"])
    with pytest.raises(ValueError, match="order"):
        CharLM.train(["ok"], order=0)


def test_read_sentences_normalizes_text_and_manifests(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("Hello, World!\n\n  It's 2 o'clock.\n", encoding="utf-8")
    assert read_sentences(text) == ["hello world", "its two oclock"]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio_filepath": "a.wav", "text": "The Heart."}\n')
    assert read_sentences(manifest) == ["the heart"]  # a.wav need not exist: text only


def _posteriors(frames: list[dict[str, float]]) -> np.ndarray:
    """(time, classes) log-probabilities; each frame gives some characters' probabilities
    ("_" is the blank) and spreads the rest evenly."""
    rows = []
    for frame in frames:
        row = np.full(len(TOK.alphabet) + 1, 1e-6)
        for ch, p in frame.items():
            row[0 if ch == "_" else TOK.encode(ch)[0]] = p
        rows.append(np.log(row / row.sum()))
    return np.array(rows, dtype=np.float32)


def _spell(text: str, p: float = 0.98) -> list[dict[str, float]]:
    """Frames for ``text`` (each letter at probability ``p``), a blank between letters."""
    frames: list[dict[str, float]] = []
    for ch in text:
        frames += [{ch: p, "_": 1 - p}, {"_": 0.98}]
    return frames


def test_the_language_model_fixes_a_spelling_the_acoustics_doubt(lm: CharLM) -> None:
    # "the hea?t": the r frame is 45 % r, 55 % blank, so the best path says "heat"
    frames = _spell("the hea") + [{"r": 0.45, "_": 0.55}] + _spell("t")
    lp = _posteriors(frames)
    assert TOK.decode(greedy_decode(lp)) == "the heat"
    assert TOK.decode(lm_beam_search(lp, lm, beam_width=8, weight=0.0, bonus=0.0)) == "the heat"
    assert TOK.decode(lm_beam_search(lp, lm, beam_width=8)) == "the heart"


def test_without_doubt_the_acoustics_win(lm: CharLM) -> None:
    """A confident (99.9 %), unusual spelling survives the LM (weight 1, the test model's)."""
    lp = _posteriors(_spell("zebra qat", p=0.999))
    assert TOK.decode(lm_beam_search(lp, lm, beam_width=8)) == "zebra qat"


def test_repeated_letters_need_a_blank(lm: CharLM) -> None:
    # "l l" with a blank between is two letters; "l l" in adjacent frames is one
    two = _posteriors([{"a": 0.99}, {"l": 0.99}, {"_": 0.99}, {"l": 0.99}])
    one = _posteriors([{"a": 0.99}, {"l": 0.99}, {"l": 0.99}, {"_": 0.99}])
    assert TOK.decode(lm_beam_search(two, lm, 4, weight=0.0, bonus=0.0)) == "all"
    assert TOK.decode(lm_beam_search(one, lm, 4, weight=0.0, bonus=0.0)) == "al"


def test_history_and_end_carry_context_across_pieces(lm: CharLM) -> None:
    piece = _posteriors([{"r": 0.45, "_": 0.55}] + _spell("t"))
    assert TOK.decode(lm_beam_search(piece, lm, 8, history="the hea")) == "rt"
    assert TOK.decode(lm_beam_search(piece, lm, 8, history="", end=False)) in {"t", "rt"}


def test_shapes_and_widths_are_checked(lm: CharLM) -> None:
    with pytest.raises(ValueError, match="beam width"):
        lm_beam_search(_posteriors(_spell("a")), lm, beam_width=0)
    with pytest.raises(ValueError, match="classes"):
        lm_beam_search(np.zeros((4, 10), np.float32), lm)
    with pytest.raises(ValueError, match="shape"):
        lm_beam_search(np.zeros((2, 4, 28), np.float32), lm)
    assert lm_beam_search(np.zeros((0, 28), np.float32), lm) == []


def test_scores_are_finite_on_flat_output(lm: CharLM) -> None:
    """Uniform posteriors (an untrained model) decode to something, quickly, without NaN."""
    ids = lm_beam_search(np.zeros((50, 28), np.float32), lm, beam_width=16)
    assert all(1 <= i < 28 for i in ids)
    assert math.isfinite(lm.sentence_log_prob(TOK.decode(ids)))
