"""tools/keyword_recipe.sh, keyword spotting from nothing: the runs it plans are the ones its
docs describe, and its `keywords` step is the shipped keyword model's recipe.

Run dry (DRY_RUN=1): the test checks the plan, not the hours of corpus building and training.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from asr.cli import build_parser, classify_settings
from asr.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _plan(tmp: Path, *steps: str) -> list[list[str]]:
    """The commands the recipe would run with empty corpora and runs folders under ``tmp``."""
    env = {**os.environ, "DRY_RUN": "1", "CORPORA": str(tmp), "RUNS": str(tmp / "runs")}
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "keyword_recipe.sh"), *steps],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return [shlex.split(line[2:]) for line in done.stdout.splitlines() if line.startswith("+ ")]


def _trainings(plan: list[list[str]]) -> dict[str, object]:
    """--out -> the parsed arguments of each `asr classify train` the plan runs."""
    parser = build_parser()
    runs = [parser.parse_args(cmd[1:]) for cmd in plan if cmd[:3] == ["asr", "classify", "train"]]
    return {args.out: args for args in runs}


def test_the_keywords_step_is_the_shipped_keyword_models_recipe(tmp_path: Path) -> None:
    args = _trainings(_plan(tmp_path, "keywords"))[str(tmp_path / "runs" / "kw")]
    spec, features = classify_settings(args)
    shipped = load_config(ROOT / "checkpoints" / "keywords")
    assert spec == shipped.model and features == shipped.features
    assert (args.epochs, args.batch_size, args.learning_rate) == (60, 64, 3e-3)
    assert args.lr_schedule == "cosine"
    # synthetic + real train, and both val sets scored as one
    assert [Path(m).parent.name for m in args.train] == ["keywords", "keywords_real"]
    assert [Path(m).parent.name for m in args.val] == ["keywords", "keywords_real"]


def test_the_default_steps_train_a_word_finder_and_score_three_labelers(tmp_path: Path) -> None:
    plan = _plan(tmp_path)  # no corpora there yet: every corpus is built
    runs = _trainings(plan)
    frames, encoder = (str(tmp_path / "runs" / name) for name in ("kws_frames_mix", "enc_kw"))
    assert set(runs) == {frames, encoder}
    spec, features = classify_settings(runs[frames])
    assert spec.arch == "crnn" and spec.per_frame and spec.aux and spec.bidirectional
    assert spec.frames == 100 and features.zcr and features.cmn
    assert runs[encoder].encoder == str(tmp_path / "runs" / "stage11")
    labelers = [cmd[cmd.index("--label-with") + 1 :] for cmd in plan if "--label-with" in cmd]
    assert labelers == [["checkpoints/keywords"], [encoder], ["checkpoints/keywords", encoder]]
    # the games' corpora are built before the words are cut from them, all before training
    tools = [cmd[1] for cmd in plan if cmd[0] == "python3"]
    assert tools[:5] == [
        "tools/keyword_corpus.py",
        "tools/uqm_corpus.py",
        "tools/fotaq_corpus.py",
        "tools/bass_corpus.py",
        "tools/word_clips.py",
    ]
    assert plan[4][-3:] == [str(tmp_path / g) for g in ("uqm", "fotaq", "bass")]
    assert plan.index(next(c for c in plan if c[:2] == ["asr", "classify"])) == 5


def test_the_digits_step_tunes_the_encoder_on_the_digit_corpora_and_scores_both_tests(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path, "digits")
    runs = _trainings(plan)
    args = runs[str(tmp_path / "runs" / "enc_digits_t3")]
    assert set(runs) == {str(tmp_path / "runs" / "enc_digits_t3")}
    assert (args.encoder, args.encoder_tune, args.epochs) == (str(tmp_path / "runs/stage11"), 3, 30)
    assert [Path(m).parent.name for m in args.train] == ["digits", "digits_real"]
    assert [Path(m).parent.name for m in args.val] == ["digits", "digits_real"]
    built = [cmd[1] for cmd in plan if cmd[0] == "python3"]
    assert "tools/keyword_corpus.py" in built and "tools/word_clips.py" in built
    scored = [
        cmd[cmd.index("--manifest") + 1] for cmd in plan if cmd[1:3] == ["classify", "evaluate"]
    ]
    assert scored == [str(tmp_path / "digits/test.jsonl"), str(tmp_path / "digits_real/test.jsonl")]
