"""CTC decoding over NumPy posteriors (no TensorFlow): greedy best path and helpers.

Inputs are ``(time, classes)`` arrays of logits or probabilities; class ``blank`` (0 by the
convention in :mod:`asr.text`) separates repeated characters, so "hello" needs ``l _ l``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from asr.text import BLANK


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
    if lengths is None:
        lengths = [array.shape[1]] * array.shape[0]
    if len(lengths) != array.shape[0]:
        raise ValueError(f"got {len(lengths)} lengths for a batch of {array.shape[0]}")
    best = np.argmax(array, axis=-1)
    return [collapse(best[i, : int(n)], blank) for i, n in enumerate(lengths)]


def min_frames_for_label(label: Sequence[int] | np.ndarray) -> int:
    """Frames CTC needs to emit ``label``: one per character plus a blank between repeats."""
    ids = np.asarray(label)
    if ids.size == 0:
        return 0
    return int(ids.size + np.count_nonzero(ids[1:] == ids[:-1]))
