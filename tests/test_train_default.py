"""tools/train_default.sh, the shipped model's recipe: the run it plans is the shipped model's.

Run dry (DRY_RUN=1), so the test checks the plan, not the 14 hours of training.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

from asr.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]


def _plan(out: Path) -> list[list[str]]:
    env = {**os.environ, "DRY_RUN": "1", "OUT": str(out)}
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "train_default.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [shlex.split(line[2:]) for line in done.stdout.splitlines() if line.startswith("+ ")]


def _settings(run: list[str]) -> dict[str, str]:
    assert run[-2:] == ["bash", "tools/real_speech_stage.sh"]
    settings = dict(v.split("=", 1) for v in run[1:-2])
    # every setting the stage script reads is named, so none leaks in from the caller's shell
    read = set(
        re.findall(r"^([A-Z_]+)=\$\{", (ROOT / "tools/real_speech_stage.sh").read_text(), re.M)
    )
    assert read <= set(settings)
    return settings


def test_the_recipe_trains_the_shipped_models_shape_and_epochs(tmp_path: Path) -> None:
    out = tmp_path / "chain"
    plan = _plan(out)
    runs = [_settings(cmd) for cmd in plan if cmd[:1] == ["env"]]
    assert len(runs) == 2
    first, second = runs
    assert any(cmd[1:2] == ["tools/build_word_lm.py"] for cmd in plan)
    for settings in runs:
        assert settings["WORDS"] == str(out / "words.arpa")
        assert settings["SOURCES"].split() == ["uqm", "fotaq", "bass"]

    # stage 13: from fresh weights, in the shipped model's shape; its weights only pass on
    assert first["INIT"] == "" and first["LM"] == "0" and first["OUT"] == str(out / "stage13")
    recipe = Config.from_dict(json.loads((ROOT / first["CONFIG"]).read_text()))
    shipped = load_config(ROOT / "checkpoints/default")
    assert recipe.model == shipped.model and recipe.features == shipped.features
    # stage 15: from stage 13, into the model directory, with its character LM
    assert second["INIT"] == first["OUT"] and second["CONFIG"] == ""
    assert second["OUT"] == str(out / "model") and second["LM"] == "1"
    assert float(second["NOISE_ROWS"]) > 0 and len(second["EXTRA"].split()) == 3

    # as many epochs as the shipped history holds: stage 13's, then stage 15's
    with open(ROOT / "checkpoints/default/history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert int(first["EPOCHS"]) + int(second["EPOCHS"]) == len(rows) == 23


def test_a_finished_step_is_skipped(tmp_path: Path) -> None:
    out = tmp_path / "chain"
    out.mkdir()
    assert any(cmd[1:2] == ["tools/build_word_lm.py"] for cmd in _plan(out))
    (out / "words.arpa").write_text("\\data\\\n")
    assert not any(cmd[1:2] == ["tools/build_word_lm.py"] for cmd in _plan(out))
