"""tools/train_default.sh, the shipped model's recipe: the run it plans is the shipped model's.

Run dry (DRY_RUN=1), so the test checks the plan, not the 10 hours of training.
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


def test_the_recipe_trains_the_shipped_models_shape_and_epochs(tmp_path: Path) -> None:
    out = tmp_path / "chain"
    plan = _plan(out)
    runs = [cmd for cmd in plan if cmd[:1] == ["env"]]
    assert len(runs) == 1 and runs[0][-2:] == ["bash", "tools/real_speech_stage.sh"]
    settings = dict(v.split("=", 1) for v in runs[0][1:-2])
    # every setting the stage script reads is named, so none leaks in from the caller's shell
    read = set(
        re.findall(r"^([A-Z_]+)=\$\{", (ROOT / "tools/real_speech_stage.sh").read_text(), re.M)
    )
    assert read <= set(settings)
    assert settings["OUT"] == str(out / "model") and settings["WORDS"] == str(out / "words.arpa")
    assert settings["INIT"] == "" and settings["LM"] == "1"
    assert settings["SOURCES"].split() == ["uqm", "fotaq", "bass"]
    assert any(cmd[1:2] == ["tools/build_word_lm.py"] for cmd in plan)

    # from fresh weights, in the shipped model's shape, for as many epochs as its history holds
    recipe = Config.from_dict(json.loads((ROOT / settings["CONFIG"]).read_text()))
    shipped = load_config(ROOT / "checkpoints/default")
    assert recipe.model == shipped.model and recipe.features == shipped.features
    with open(ROOT / "checkpoints/default/history.csv") as f:
        rows = list(csv.DictReader(f))
    assert int(settings["EPOCHS"]) == len(rows) == 20


def test_a_finished_step_is_skipped(tmp_path: Path) -> None:
    out = tmp_path / "chain"
    out.mkdir()
    assert any(cmd[1:2] == ["tools/build_word_lm.py"] for cmd in _plan(out))
    (out / "words.arpa").write_text("\\data\\\n")
    assert not any(cmd[1:2] == ["tools/build_word_lm.py"] for cmd in _plan(out))
