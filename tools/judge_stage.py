"""Judge a trained candidate by a shipping rule written (and committed) before its evaluation.

The rule is a JSON file (``data/recipes/rules/``) naming the candidate's model directory, a
gate on its validation history (the figure that chose it, e.g. real-dev greedy CER), the
test sets with a limit each, sets only reported, and the largest shipped folder size:

    {"candidate": "runs/cap1",
     "epochs": 20, "needs": ["lm.npz", "words.arpa"],
     "gate": {"metric": "val_cer", "below": 0.3989},
     "sets": [{"manifest": "corpora/uqm/test.jsonl", "metric": "wer", "at_most": 0.6145}],
     "report": ["corpora/drascula/test.jsonl"],
     "max_folder_mb": 60}

A candidate that fails its gate is never scored on a test set: test figures are spent only
on a model that earned them. Otherwise every set is scored with ``asr evaluate`` (its default
decoder: beam 16 with the candidate's LMs), two at a time (beam search keeps one core
busy), each report beside the others in ``--out``; the verdict, with every figure and limit,
is printed and written to ``OUT/judgement.json``. A set already scored (its report exists)
is read, not scored again, so an interrupted judgement resumes.

    python tools/judge_stage.py data/recipes/rules/stage13.json --out runs/cap1/judge
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.fileio import atomic_write_text  # noqa: E402

NOT_SHIPPED = ("resume", "logs")  # training state, not part of a shipped model folder
LIMITS = {
    "at_most": lambda value, limit: value <= limit,
    "below": lambda value, limit: value < limit,
}


@dataclass
class Score:
    manifest: str
    wer: float
    cer: float
    decoder: str


@dataclass
class Check:
    what: str
    value: float
    limit: str  # "at_most 0.6145"
    passed: bool


def _limit(spec: dict, what: str) -> tuple[str, float]:
    """The one comparison a rule entry names ("at_most" or "below") and its value."""
    found = [(k, float(spec[k])) for k in LIMITS if k in spec]
    if len(found) != 1:
        raise SystemExit(f"{what}: give exactly one of {sorted(LIMITS)}")
    return found[0]


def check(what: str, value: float, spec: dict) -> Check:
    kind, limit = _limit(spec, what)
    return Check(what, value, f"{kind} {limit:g}", LIMITS[kind](value, limit))


def best_val(history: Path, metric: str, epochs: int | None = None) -> float:
    """The best (lowest) value of ``metric`` over a run's epochs; a run short of the
    ``epochs`` its rule planned is not judged yet."""
    with history.open() as f:
        values = [float(row[metric]) for row in csv.DictReader(f)]
    if not values or len(values) < (epochs or 1):
        raise SystemExit(
            f"{history}: {len(values)} of {epochs or 1} epochs trained; judge it when it ends"
        )
    return min(values)


def folder_mb(model_dir: Path) -> float:
    """Size of what would ship: the model directory without its training state."""
    files = [
        p
        for p in model_dir.rglob("*")
        if p.is_file() and p.relative_to(model_dir).parts[0] not in NOT_SHIPPED
    ]
    return sum(p.stat().st_size for p in files) / 2**20


def evaluate_with_cli(model: Path, manifest: str, report: Path) -> Score:
    """``asr evaluate`` with its default decoder; an existing report is read instead."""
    if not report.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "asr.cli",
                "evaluate",
                "--manifest",
                str(ROOT / manifest),
                "--model",
                str(model),
                "--report",
                str(report),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    data = json.loads(report.read_text())
    return Score(manifest, data["wer"], data["cer"], data["decoder"])


def judge(
    rule: dict, out: Path, evaluate: Callable[[Path, str, Path], Score] = evaluate_with_cli
) -> dict:
    """The judgement of ``rule``'s candidate: gate, test sets (only past the gate), size."""
    model = ROOT / rule["candidate"]
    gate_spec = rule["gate"]
    metric = gate_spec["metric"]
    missing = [name for name in rule.get("needs", []) if not (model / name).is_file()]
    if missing:  # e.g. its LM, still being tuned: scored without it, the figures would lie
        raise SystemExit(f"{model}: no {', '.join(missing)} yet; judge it when it has them")
    best = best_val(model / "history.csv", metric, rule.get("epochs"))
    gate = check(f"best {metric}", best, gate_spec)
    result: dict = {"candidate": rule["candidate"], "gate": asdict(gate), "checks": []}
    if not gate.passed:
        result["verdict"] = "not shipped: the gate failed, no test set was scored"
        return result
    out.mkdir(parents=True, exist_ok=True)
    manifests = [s["manifest"] for s in rule["sets"]] + list(rule.get("report", []))

    def one(manifest: str) -> Score:
        return evaluate(model, manifest, out / (manifest.replace("/", "_") + ".json"))

    with ThreadPoolExecutor(2) as pool:
        scores = dict(zip(manifests, pool.map(one, manifests), strict=True))
    checks = [
        check(f"{s['metric']} {s['manifest']}", getattr(scores[s["manifest"]], s["metric"]), s)
        for s in rule["sets"]
    ]
    if "max_folder_mb" in rule:
        size = folder_mb(model)
        checks.append(check("folder MB", size, {"below": rule["max_folder_mb"]}))
    result["checks"] = [asdict(c) for c in checks]
    result["scores"] = [asdict(s) for s in scores.values()]
    failed = [c.what for c in checks if not c.passed]
    result["verdict"] = "ship" if not failed else f"not shipped: {', '.join(failed)}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rule", type=Path, help="the rule's JSON file")
    parser.add_argument("--out", type=Path, required=True, help="folder for reports")
    args = parser.parse_args(argv)
    result = judge(json.loads(args.rule.read_text()), args.out)
    gate = result["gate"]
    print(f"gate: {gate['what']} {gate['value']:.4f} ({gate['limit']}): "
          f"{'passed' if gate['passed'] else 'FAILED'}")  # fmt: skip
    for s in result.get("scores", []):
        print(f"{s['manifest']}: WER {s['wer']:.2%}  CER {s['cer']:.2%}")
    for c in result["checks"]:
        print(f"{c['what']}: {c['value']:.4f} ({c['limit']}): {'pass' if c['passed'] else 'FAIL'}")
    print(f"verdict: {result['verdict']}")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "judgement.json", json.dumps(result, indent=2) + "\n")
    return 0 if result["verdict"] == "ship" else 1


if __name__ == "__main__":
    sys.exit(main())
