"""tools/train_default.sh, the shipped model's stage chain: its commands parse and chain up.

Run dry (DRY_RUN=1), so the test checks the plan, not the 13 hours of training.
"""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
from pathlib import Path

from asr.cli import build_parser

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


def test_the_chain_trains_the_shipped_models_epochs_stage_by_stage(tmp_path: Path) -> None:
    out = tmp_path / "chain"
    plan = _plan(out)
    trains = [cmd for cmd in plan if cmd[:2] == ["asr", "train"]]
    reals = [cmd for cmd in plan if cmd[:1] == ["env"]]
    parser = build_parser()
    stages = []
    for cmd in trains:
        args = parser.parse_args(cmd[1:])  # every synthetic stage is a valid asr train line
        stages.append(args)
    assert [Path(a.out).name for a in stages] == [f"s{k}" for k in range(1, 8)]
    # stage 1 starts from the shipped recipe, each later one from the stage before
    assert stages[0].config == "data/recipes/default_model.json" and not stages[0].init_from
    assert (ROOT / stages[0].config).is_file()
    for before, after in zip(stages, stages[1:], strict=False):
        assert after.init_from == before.out and after.config is None
    # the warp came with stage 5; the cosine schedule with stage 4
    assert [a.no_warp for a in stages] == [True] * 4 + [False] * 3
    assert [a.lr_schedule for a in stages] == ["constant"] * 3 + ["cosine"] * 4

    variables = [dict(v.split("=", 1) for v in cmd[1:] if "=" in v) for cmd in reals]
    assert [Path(v["OUT"]).name for v in variables] == ["s8", "s9", "s10", "s11"]
    assert variables[0]["INIT"] == stages[-1].out
    for before, after in zip(variables, variables[1:], strict=False):
        assert after["INIT"] == before["OUT"]
    assert [v["LM"] for v in variables] == ["0", "0", "0", "1"]  # the last makes its LM
    assert all(v["CONFIG"] == "" for v in variables)  # from INIT, whatever the shell holds
    assert all(v["WORDS"] == str(out / "words.arpa") for v in variables)
    assert any(cmd[1:2] == ["tools/build_word_lm.py"] for cmd in plan)

    # as many epochs as the shipped model's history holds, stage by stage
    epochs = [a.epochs for a in stages] + [int(v["EPOCHS"]) for v in variables]
    with open(ROOT / "checkpoints/default/history.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(epochs) == len(rows) == 201


def test_a_finished_stage_is_skipped(tmp_path: Path) -> None:
    out = tmp_path / "chain"
    (out / "s1").mkdir(parents=True)
    (out / "s1" / "config.json").write_text("{}")
    history = "epoch,loss\n" + "".join(f"{k},1.0\n" for k in range(1, 66))
    (out / "s1" / "history.csv").write_text(history)
    (out / "s2").mkdir()
    (out / "s2" / "config.json").write_text("{}")
    (out / "s2" / "history.csv").write_text("epoch,loss\n1,1.0\n")
    plan = _plan(out)
    trains = [cmd for cmd in plan if cmd[:2] == ["asr", "train"]]
    assert not any(str(out / "s1") == cmd[cmd.index("--out") + 1] for cmd in trains)
    s2 = next(cmd for cmd in trains if cmd[cmd.index("--out") + 1] == str(out / "s2"))
    assert "--resume" in s2 and "--init-from" not in s2  # a stopped stage continues
