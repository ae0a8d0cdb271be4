"""The runtime-only install (`pip install asr`, no `asr[train]`): model.onnx directories
transcribe, evaluate and classify; what needs Keras says which extra to install.

TensorFlow, Keras and friends are hidden from a subprocess by a ``sitecustomize`` that
refuses to import them, as on a machine where they were never installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "tf2onnx", "tensorboard", "jax"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""

pytest.importorskip("onnxruntime", reason="the runtime-only install runs model.onnx")


def _asr(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    code = "import sys; from asr.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, cwd=ROOT
    )


def test_transcribe_evaluate_and_classify_run_without_tensorflow(tmp_path) -> None:
    done = _asr(tmp_path, "transcribe", "data/samples/006070.wav", "--decoder", "beam")
    assert done.returncode == 0, done.stderr
    assert "matters of the heart" in done.stdout
    done = _asr(tmp_path, "evaluate", "--manifest", "data/samples/manifest.jsonl")
    assert done.returncode == 0 and done.stdout.startswith("WER "), done.stderr
    done = _asr(tmp_path, "classify", "predict", "data/keywords/yes.wav")
    assert done.returncode == 0 and done.stdout.split("\t")[1] == "yes", done.stderr


def test_what_needs_keras_names_the_extra(tmp_path) -> None:
    for argv in (
        ("transcribe", "--runtime", "keras", "data/samples/006070.wav"),
        ("train", "--train", "data/samples/manifest.jsonl", "--val",
         "data/samples/manifest.jsonl", "--out", str(tmp_path / "m")),
    ):  # fmt: skip
        done = _asr(tmp_path, *argv)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert "pip install 'asr[train]'" in lines[0] and "keras" in lines[0]
    assert not (tmp_path / "m").exists()
