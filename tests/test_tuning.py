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
    result = tune_lm(stored, SAMPLES, weights=[0.0, 0.5], bonuses=[1.0], beam_width=2)
    assert (stored.weight, stored.bonus) == (result.best.weight, result.best.bonus)
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


def test_word_lm_tuning_picks_by_wer_and_stores_the_pair(tmp_path: Path) -> None:
    """`asr lm --word --tune`: the grid is decoded beside the model's character LM, the
    lowest-WER pair is stored in the ARPA file's header, and a rerun without text re-tunes."""
    from asr.tuning import tune_word_lm
    from asr.wordlm import WordLM

    text = tmp_path / "text.txt"
    text.write_text("lets have a look down here\nas with all matters of the heart\n", "utf-8")
    out = tmp_path / "words.arpa"
    argv = ["lm", "--word", str(text), "--out", str(out), "--min-count", "1", "--tune"]
    rc, stdout, stderr = run_cli(
        [*argv, str(SAMPLES), "--weights", "0", "0.4", "--bonuses", "0", "3", "--beam-width", "4"]
    )
    assert rc == 0, stderr
    assert stderr.count("WER") == 4  # one progress line per grid point
    stored = WordLM.load(out)
    result = tune_word_lm(stored, SAMPLES, weights=(0, 0.4), bonuses=(0, 3), beam_width=4)
    best = min(result.points, key=lambda p: (p.wer, p.cer))
    assert (
        (stored.weight, stored.bonus)
        == (best.weight, best.bonus)
        == (
            result.best.weight,
            result.best.bonus,
        )
    )
    assert f"weight {stored.weight:g} bonus {stored.bonus:g}" in stdout
    # the same grid point through asr evaluate gives the same figures: one decoder
    report = evaluate(
        SAMPLES, decoder="beam", beam_width=4, word_lm=out, word_weight=0.4
    )  # bonus from the file
    point = next(p for p in result.points if (p.weight, p.bonus) == (0.4, stored.bonus))
    assert (report.cer, report.wer) == pytest.approx((point.cer, point.wer))
    rc, _, stderr = run_cli(
        ["lm", "--word", "--out", str(out), "--tune", str(SAMPLES), "--weights", "0.2",
         "--bonuses", "1", "--beam-width", "4"]
    )  # fmt: skip
    assert rc == 0, stderr
    assert (WordLM.load(out).weight, WordLM.load(out).bonus) == (0.2, 1.0)
