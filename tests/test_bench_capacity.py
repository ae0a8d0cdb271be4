"""tools/bench_capacity.py: variants parse, and one tiny variant's row is measured."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from e2e_support import load_tool

_TOOL = Path(__file__).resolve().parents[1] / "tools" / "bench_capacity.py"
bench_capacity = load_tool("bench_capacity")


def test_variants_parse_and_bad_ones_are_named() -> None:
    assert bench_capacity.parse_variant("256x4/3") == (256, 4, 3)
    with pytest.raises(argparse.ArgumentTypeError, match="'256x4' is not UNITSxLAYERS/STRIDE"):
        bench_capacity.parse_variant("256x4")


def test_a_tiny_variant_is_measured() -> None:
    slow = bench_capacity.measure("16x1/2", batch=2, seconds=1.0, steps=1)
    fast = bench_capacity.measure("16x1/4", batch=2, seconds=1.0, steps=1)
    assert slow["params"] == fast["params"] > 0  # the stride changes time, not weights
    assert slow["ms_per_step"] > 0 and slow["x_real_time"] > 0 and slow["gflops"] > 0
