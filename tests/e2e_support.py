"""The end-to-end corpus and helpers shared by test_e2e.py and test_train_faults.py.

A corpus of ~30 real espeak-ng/flite utterances is synthesized once per session (the
``corpus`` fixture in conftest.py) and trained on with a tiny model.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib.util
import io
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from asr.cli import main
from asr.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def load_tool(name: str) -> ModuleType:
    """Import ``tools/NAME.py``, a script rather than a package module, once per process."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SENTENCES = [
    "The cat sat on the mat.",
    "A dog ran in the park.",
    "We like green tea.",
    "The sun is hot today.",
    "She has a red hat.",
    "Open the door please.",
    "My bike is fast.",
    "The bird can sing.",
    "Put the cup on the table.",
    "He reads a good book.",
]
PER_SENTENCE = 3  # 30 utterances: 24 train, 6 val
VAL_EVERY = 5  # every 5th utterance goes to val
TINY_MODEL = {
    "arch": "bigru",
    "rnn_units": 32,
    "rnn_layers": 1,
    "conv_filters": 32,
    "conv_kernel": 5,
    "conv_stride": 2,
    "dropout": 0.0,
}
# One batch per epoch (24 training utterances): with the TensorFlow backend, batches of
# several bucket widths crash `asr train` whenever the first two share a width (see
# test_bucketed_batches_of_several_widths); a single batch has the same shape every epoch.
# --jobs 1: feature extraction stays in this process (no fork of a TensorFlow-initialized
# process; 24 short files featurize in well under a second anyway).
TRAIN_FLAGS = ("--batch-size", "32", "--learning-rate", "1e-2", "--jobs", "1")
# jax compiles each batch shape on its own, so there the bucketed batches of 8 are fine.
BUCKETED_FLAGS = ("--batch-size", "8", "--learning-rate", "3e-3", "--jobs", "1")
LOSS_DROP = 0.8  # last epoch's training loss must be below this fraction of the first's


@dataclass(frozen=True)
class Corpus:
    """The synthesized corpus, its train/val split and the tiny model config."""

    folder: Path
    train: Path
    val: Path
    config: Path


def voices() -> str:
    """A few fixed voices: both engines when flite is installed, else two espeak-ng ones."""
    if shutil.which("flite"):
        return "espeak-ng:en-us,espeak-ng:en-gb+f3,flite:slt"
    return "espeak-ng:en-us,espeak-ng:en-gb+f3"


def read_history(model_dir: Path) -> list[dict[str, str]]:
    with (model_dir / "history.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def history_epochs(model_dir: Path) -> list[int]:
    return [int(row["epoch"]) for row in read_history(model_dir)]


def history_losses(model_dir: Path) -> list[float]:
    return [float(row["loss"]) for row in read_history(model_dir)]


def train_argv(
    corpus: Corpus, out: Path, epochs: int, *extra: str, flags: tuple[str, ...] = TRAIN_FLAGS
) -> list[str]:
    return [
        "train",
        "--train",
        str(corpus.train),
        "--val",
        str(corpus.val),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--config",
        str(corpus.config),
        *flags,
        *extra,
    ]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run `asr ARGV...` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def one_line_error(stderr: str) -> str:
    """The single non-empty stderr line of a refused command."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def assert_loss_falls(model_dir: Path) -> None:
    losses = history_losses(model_dir)
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < LOSS_DROP * losses[0], f"training loss did not fall: {losses}"


def make_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """~30 utterances made by `asr synth`, split into train (24) and val (6) manifests."""
    for binary in ("espeak-ng", "sox"):
        if shutil.which(binary) is None:
            pytest.skip(f"{binary} not on PATH: cannot synthesize the end-to-end corpus")
    root = tmp_path_factory.mktemp("e2e")
    text = root / "sentences.txt"
    text.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    folder = root / "corpus"
    argv = ["synth", str(text), "--out", str(folder), "--per-sentence", str(PER_SENTENCE)]
    argv += ["--voices", voices(), "--jobs", "2", "--seed", "7"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rc = main(argv)
    assert rc == 0, out.getvalue()
    lines = (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(SENTENCES) * PER_SENTENCE
    # Split manifests live beside manifest.jsonl, so the relative wavs/... paths still resolve.
    train, val = folder / "train.jsonl", folder / "val.jsonl"
    train.write_text("".join(ln + "\n" for i, ln in enumerate(lines) if i % VAL_EVERY), "utf-8")
    val.write_text("".join(ln + "\n" for i, ln in enumerate(lines) if not i % VAL_EVERY), "utf-8")
    assert all(Path(u.audio_filepath).is_file() for u in read_manifest(train) + read_manifest(val))
    config = root / "tiny.json"
    config.write_text(json.dumps({"model": TINY_MODEL}), encoding="utf-8")
    return Corpus(folder, train, val, config)
