"""Pure-NumPy CTC decoding on hand-built posteriors (no TensorFlow imported)."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asr.decoding import collapse, greedy_decode, greedy_decode_batch, min_frames_for_label
from asr.text import Tokenizer


def one_hot(path: str, tok: Tokenizer) -> np.ndarray:
    """Posteriors spelling ``path`` frame by frame, '_' meaning blank."""
    ids = [0 if c == "_" else int(tok.encode(c)[0]) for c in path]
    out = np.full((len(ids), tok.num_classes), 0.01, dtype=np.float32)
    out[np.arange(len(ids)), ids] = 1.0
    return out


def test_hello_needs_blank_between_doubled_letters() -> None:
    tok = Tokenizer()
    assert tok.decode(greedy_decode(one_hot("hh_e_ll_lo__ ww_orld", tok))) == "hello world"
    assert tok.decode(greedy_decode(one_hot("hhellllo", tok))) == "helo"


def test_length_ignores_padding() -> None:
    tok = Tokenizer()
    post = one_hot("hi_xx", tok)
    assert tok.decode(greedy_decode(post, length=3)) == "hi"
    assert greedy_decode(post, length=0) == []


def test_batch_matches_single() -> None:
    tok = Tokenizer()
    a, b = one_hot("c_a_t", tok), one_hot("d_o_g__zz", tok)
    batch = np.zeros((2, 9, tok.num_classes), np.float32)
    batch[0, :5], batch[1] = a, b
    assert greedy_decode_batch(batch, [5, 7]) == [greedy_decode(a), greedy_decode(b, 7)]


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 5), (4, 0)])
def test_bad_shape_names_shapes(shape: tuple) -> None:
    with pytest.raises(ValueError, match="shape"):
        greedy_decode(np.zeros(shape))


def test_min_frames_counts_repeats() -> None:
    assert min_frames_for_label([]) == 0
    assert min_frames_for_label(Tokenizer().encode("hello")) == 6
    assert min_frames_for_label([3, 3, 3]) == 5


def test_collapse() -> None:
    assert collapse([0, 1, 1, 0, 1, 2, 2, 0]) == [1, 1, 2]
    assert collapse([]) == []


def test_no_tensorflow_needed() -> None:
    assert "asr.decoding" in sys.modules
    import asr.decoding as d

    assert "tensorflow" not in d.__dict__ and "keras" not in d.__dict__


@given(
    arrays(
        np.float32,
        st.tuples(st.integers(0, 50), st.integers(1, 30)),
        elements=st.floats(-1e6, 1e6, width=32),
    )
)
def test_greedy_never_crashes(post: np.ndarray) -> None:
    ids = greedy_decode(post)
    assert all(0 < i < post.shape[1] for i in ids)
    assert len(ids) <= post.shape[0]
