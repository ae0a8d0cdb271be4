"""LM tuning decodes exactly as `asr evaluate` does: each grid point's error rates equal an
evaluate run with those weights stored in the LM, and the best pair is what gets stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import run_cli

from asr.evaluate import evaluate
from asr.lm import CharLM
from asr.tuning import tune_lm

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples" / "manifest.jsonl"
SHIPPED_LM = ROOT / "checkpoints" / "default" / "lm.npz"


def test_grid_points_equal_evaluate_with_those_weights(tmp_path: Path) -> None:
    lm = CharLM.load(SHIPPED_LM)
    result = tune_lm(lm, SAMPLES, weights=[0.0, 0.7], bonuses=[1.0], beam_width=4)
    assert [(p.weight, p.bonus) for p in result.points] == [(0.0, 1.0), (0.7, 1.0)]
    assert result.best == min(result.points, key=lambda p: (p.cer, p.wer))
    assert (lm.weight, lm.bonus) == (CharLM.load(SHIPPED_LM).weight, CharLM.load(SHIPPED_LM).bonus)
    for point in result.points:
        lm.weight, lm.bonus = point.weight, point.bonus
        lm.save(tmp_path / "lm.npz")
        report = evaluate(SAMPLES, decoder="beam", beam_width=4, lm=tmp_path / "lm.npz")
        assert (report.cer, report.wer) == pytest.approx((point.cer, point.wer))
    greedy = evaluate(SAMPLES, decoder="greedy")
    assert (result.greedy_cer, result.greedy_wer) == pytest.approx((greedy.cer, greedy.wer))


def test_asr_lm_tune_builds_then_stores_the_best_pair(tmp_path: Path) -> None:
    text = tmp_path / "text.txt"
    text.write_text("lets have a look down here\nas with all matters of the heart\n", "utf-8")
    out = tmp_path / "lm.npz"
    argv = ["lm", str(text), "--out", str(out), "--order", "4", "--tune", str(SAMPLES)]
    rc, stdout, stderr = run_cli(
        [*argv, "--weights", "0", "0.5", "--bonuses", "1", "--beam-width", "2"]
    )
    assert rc == 0, stderr
    assert stderr.count("CER") == 2  # one progress line per grid point
    stored = CharLM.load(out)
    assert f"weight {stored.weight:g} bonus {stored.bonus:g}" in stdout
    assert stored.weight in (0.0, 0.5) and stored.bonus == 1.0
    # without text files, --tune re-tunes the LM already at --out, in place
    argv = ["lm", "--out", str(out), "--tune", str(SAMPLES)]
    rc, stdout, stderr = run_cli([*argv, "--weights", "0.3", "--bonuses", "2", "--beam-width", "2"])
    assert rc == 0, stderr
    assert (CharLM.load(out).weight, CharLM.load(out).bonus) == (0.3, 2.0)


def test_asr_lm_needs_text_or_tune(tmp_path: Path) -> None:
    rc, _, stderr = run_cli(["lm", "--out", str(tmp_path / "lm.npz")])
    assert rc == 2 and "--tune" in stderr
    rc, _, stderr = run_cli(["lm", "--out", str(tmp_path / "lm.npz"), "--tune", str(SAMPLES)])
    assert rc == 2 and "no language model to tune" in stderr
