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


# ---- alignment, timings, pieces and beam search (issue 3)

from asr.decoding import (  # noqa: E402
    beam_search,
    forced_alignment,
    geometric_mean,
    greedy_alignment,
    log_softmax,
    split_at_blanks,
    split_words,
    token_spans,
)


def _onehot_logp(path: list[int], classes: int = 5, sure: float = 0.97) -> np.ndarray:
    probs = np.full((len(path), classes), (1 - sure) / (classes - 1))
    probs[np.arange(len(path)), path] = sure
    return np.log(probs)


def test_greedy_alignment_owns_frames_per_token() -> None:
    lp = _onehot_logp([0, 2, 2, 0, 2, 3, 3, 1, 0])
    ids, owner = greedy_alignment(lp)
    assert ids == [2, 2, 3, 1] == greedy_decode(lp)
    assert owner.tolist() == [-1, 0, 0, -1, 1, 2, 2, 3, -1]
    spans = token_spans(ids, owner, lp)
    assert [(s.first, s.last) for s in spans] == [(1, 2), (4, 4), (5, 6), (7, 7)]
    assert all(s.prob == pytest.approx(0.97) for s in spans)
    assert [[s.id for s in w] for w in split_words(spans, separator=1)] == [[2, 2, 3]]


def test_forced_alignment_matches_best_path_and_handles_repeats() -> None:
    path = [0, 2, 2, 0, 2, 3, 3, 0, 0]
    lp = _onehot_logp(path)
    assert forced_alignment(lp, [2, 2, 3]).tolist() == [-1, 0, 0, -1, 1, 2, 2, -1, -1]
    # a label the frames do not favour still gets a valid monotonic alignment
    owner = forced_alignment(lp, [4, 4])
    assert sorted(set(owner.tolist()) - {-1}) == [0, 1]
    assert np.all(np.diff(owner[owner >= 0]) >= 0)
    with pytest.raises(ValueError, match="cannot align"):
        forced_alignment(lp[:2], [2, 2])


def test_split_at_blanks_is_exact_for_greedy() -> None:
    rng = np.random.default_rng(0)
    lp = log_softmax(rng.normal(size=(500, 6)) + np.eye(6)[rng.integers(0, 6, 500)] * 3)
    lp[::7, 0] = 0.0  # regular confident blanks
    lp = log_softmax(lp)
    pieces = split_at_blanks(lp, max_frames=40)
    assert pieces[0][0] == 0 and pieces[-1][1] == 500
    assert all(a < b and b - a <= 40 for a, b in pieces)
    assert all(p[1] == q[0] for p, q in zip(pieces, pieces[1:], strict=False))
    joined = [c for a, b in pieces for c in greedy_decode(lp[a:b])]
    assert joined == greedy_decode(lp)


def test_geometric_mean() -> None:
    assert geometric_mean([]) == 1.0
    assert geometric_mean([0.25, 1.0]) == pytest.approx(0.5)


def test_beam_search_finds_the_likelier_prefix_that_greedy_misses() -> None:
    """Two frames of p(blank)=0.55, p(a)=0.45: greedy says "", but "a" has 0.6975."""
    lp = np.log(np.array([[0.55, 0.0001, 0.4499]] * 2))
    assert greedy_decode(lp) == []
    assert beam_search([lp], beam_width=4) == [[2]]


def test_beam_search_batches_ragged_sequences() -> None:
    a = _onehot_logp([0, 2, 0, 3, 3])
    b = _onehot_logp([4, 4, 0, 4])
    assert beam_search([a, b], beam_width=8) == [[2, 3], [4, 4]]
    with pytest.raises(ValueError, match="beam width"):
        beam_search([a], beam_width=0)


@pytest.mark.parametrize("blank", [0, 5, 27])
def test_tensorflow_beam_search_matches_keras_ctc_decode(blank: int) -> None:
    """Non-TensorFlow backends decode beams with tf.nn directly (Keras' JAX beam search runs
    at ~1x real time); it must agree with keras.ops.ctc_decode, for any blank index."""
    import keras

    from asr.decoding import _tf_beam_search

    rng = np.random.default_rng(blank)
    lengths = np.array([1, 37, 80, 12], np.int32)
    batch = np.log(rng.dirichlet(np.full(28, 0.2), size=(4, 80))).astype(np.float32)
    mine = _tf_beam_search(batch, lengths, 8, blank)
    paths, _ = keras.ops.ctc_decode(
        batch, lengths, strategy="beam_search", beam_width=8, top_paths=1, mask_index=blank
    )
    theirs = np.asarray(keras.ops.convert_to_numpy(paths))[0]
    for a, b in zip(mine, theirs, strict=True):
        assert [c for c in a if c >= 0 and c != blank] == [c for c in b if c >= 0 and c != blank]
