"""tools/silence_check.py: its noise has the level asked for, and it counts what a model
reads into noise."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import silence_check  # noqa: E402


@pytest.mark.parametrize("color", [0, 1, 2])
def test_noise_has_the_level_asked_for(color: int) -> None:
    x = silence_check.noise(48000, -40.0, color, np.random.default_rng(0))
    assert 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) == pytest.approx(
        -40, abs=0.1
    )


class _Hears:
    """A stand-in transcriber that reads "mm" into anything louder than -45 dBFS."""

    config = SimpleNamespace(features=SimpleNamespace(sample_rate=16000))

    def transcribe(self, samples: np.ndarray, decoder: str = "auto") -> str:
        loud = 20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) > -45
        return "mm" if loud else ""


def test_noise_only_counts_clips_with_text_and_letters_per_minute() -> None:
    got = silence_check.noise_only(_Hears(), "greedy", clips=6)  # -80, -70, ..., -30 dBFS
    assert got["with_text"] == pytest.approx(2 / 6)  # -40 and -30
    assert got["letters_per_minute"] == pytest.approx(4 / (6 * 3 / 60))
    assert got["examples"] == ["-40 dBFS: mm", "-30 dBFS: mm"]
