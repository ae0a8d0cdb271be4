"""Padded batch widths, shared by training batches and batched inference (Keras-free, so
the ONNX runtime path needs no deep-learning framework)."""

from __future__ import annotations

import math

# Padded widths grow geometrically so a corpus yields ~30 distinct batch shapes (1-16 s): every
# new shape is a compile (XLA under JAX, a retrace under TensorFlow), measured at 5-10 s each on
# a GPU and 2-4 s on 2 CPU cores, paid once per run. Padding is paid on every step instead:
# growth 1.25 with a +-10 % sort jitter left 21 % of the benchmark's padded frames empty and
# 1.1 with +-5 % leaves 13 %, which took JAX training from 218x to 266x real time.
TIME_BUCKET_GROWTH = 1.1  # frames
MIN_BUCKET = 32  # frames: the narrowest padded width


def bucket_width(length: int, growth: float = TIME_BUCKET_GROWTH) -> int:
    """Padded width (frames or characters) for a batch whose longest item has ``length``."""
    width = MIN_BUCKET
    while width < length:
        width = max(width + 1, math.ceil(width * growth))
    # keep widths divisible by 8 so strided shapes stay few and aligned
    return int(math.ceil(width / 8) * 8)
