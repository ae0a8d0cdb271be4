"""tools/judge_stage.py: a gate that fails spends no test set; limits are applied as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
judge_stage = load_tool("judge_stage")


def _candidate(tmp_path: Path, cers: list[float]) -> Path:
    model = tmp_path / "cand"
    (model / "resume").mkdir(parents=True)
    rows = "".join(f"{i + 1},1.0,1.0,{c},0.9,10,100\n" for i, c in enumerate(cers))
    head = "epoch,loss,val_loss,val_cer,val_wer,seconds,train_xrt\n"
    (model / "history.csv").write_text(head + rows)
    (model / "model.keras").write_bytes(b"x" * 2**20)  # 1 MiB ships
    (model / "resume" / "state.bin").write_bytes(b"x" * 5 * 2**20)  # training state does not
    return model


def _rule(model: Path) -> dict:
    return {
        "candidate": str(model),
        "gate": {"metric": "val_cer", "below": 0.40},
        "sets": [
            {"manifest": "a.jsonl", "metric": "wer", "at_most": 0.60},
            {"manifest": "b.jsonl", "metric": "wer", "below": 0.50},
        ],
        "report": ["c.jsonl"],
        "max_folder_mb": 2,
    }


def test_a_failed_gate_scores_no_test_set(tmp_path: Path) -> None:
    model = _candidate(tmp_path, [0.45, 0.41, 0.42])

    def never(*_):
        raise AssertionError("a test set was scored past a failed gate")

    result = judge_stage.judge(_rule(model), tmp_path / "out", never)
    assert result["gate"]["value"] == pytest.approx(0.41) and not result["gate"]["passed"]
    assert result["verdict"].startswith("not shipped: the gate failed")
    assert not (tmp_path / "out").exists()


def test_limits_are_applied_as_written(tmp_path: Path) -> None:
    model = _candidate(tmp_path, [0.45, 0.39])
    wers = {"a.jsonl": 0.60, "b.jsonl": 0.50, "c.jsonl": 0.99}  # at_most holds, below does not
    scored = []

    def fake(m: Path, manifest: str, report: Path) -> judge_stage.Score:
        assert m == model and report.parent == tmp_path / "out"
        scored.append(manifest)
        return judge_stage.Score(manifest, wers[manifest], 0.3, "beam 16")

    result = judge_stage.judge(_rule(model), tmp_path / "out", fake)
    assert sorted(scored) == ["a.jsonl", "b.jsonl", "c.jsonl"]  # reported sets are scored too
    assert [(c["what"], c["passed"]) for c in result["checks"]] == [
        ("wer a.jsonl", True),
        ("wer b.jsonl", False),
        ("folder MB", True),  # 1 MiB: the resume folder is not counted
    ]
    assert result["verdict"] == "not shipped: wer b.jsonl"
    wers["b.jsonl"] = 0.49
    assert judge_stage.judge(_rule(model), tmp_path / "out", fake)["verdict"] == "ship"


def test_an_unfinished_run_is_not_judged(tmp_path: Path) -> None:
    model = _candidate(tmp_path, [0.45, 0.30])
    with pytest.raises(SystemExit, match="2 of 20 epochs trained"):
        judge_stage.judge({**_rule(model), "epochs": 20}, tmp_path / "out")


def test_a_candidate_without_its_lms_is_not_judged(tmp_path: Path) -> None:
    model = _candidate(tmp_path, [0.30])
    with pytest.raises(SystemExit, match="no lm.npz yet"):
        judge_stage.judge({**_rule(model), "needs": ["lm.npz"]}, tmp_path / "out")


def test_the_committed_rules_parse() -> None:
    for path in sorted((ROOT / "data/recipes/rules").glob("*.json")):
        rule = json.loads(path.read_text())
        judge_stage._limit(rule["gate"], path.name)
        for s in rule["sets"]:
            judge_stage._limit(s, path.name)
            assert (ROOT / s["manifest"]).suffix == ".jsonl" and s["metric"] in ("wer", "cer")
