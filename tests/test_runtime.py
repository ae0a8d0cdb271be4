"""The TensorFlow-free path: a model directory with model.onnx transcribes under onnxruntime
without importing TensorFlow or Keras, and gives what the Keras model gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asr.errors import ConfigError
from asr.export import export_model
from asr.runtime import uses_onnx
from asr.transcribe import Transcriber

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "default"
SAMPLES = sorted(
    str(p) for p in (ROOT / "data" / "samples").iterdir() if p.suffix in (".wav", ".flac")
)
pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx (pip install 'asr[export]')")
pytest.importorskip("onnxruntime", reason="the fast path needs onnxruntime")


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.json, both LMs and model.onnx of the shipped model: no model.keras at all."""
    folder = tmp_path_factory.mktemp("onnx_model")
    export_model(SHIPPED, "onnx", folder / "model.onnx")
    for name in ("config.json", "lm.npz", "words.arpa"):
        shutil.copy(SHIPPED / name, folder / name)
    return folder


def test_onnx_directory_transcribes_without_tensorflow(onnx_dir: Path) -> None:
    script = (
        "import json, sys\n"
        "from asr import Transcriber\n"
        "t = Transcriber.load(sys.argv[1])\n"
        "paths = sys.argv[2:]\n"
        "out = {d: [r.text for r in t.transcribe_files(paths, decoder=d)]\n"
        "       for d in ('greedy', 'beam')}\n"
        "out['loaded'] = sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules)\n"
        "print(json.dumps(out))\n"
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-c", script, str(onnx_dir), *SAMPLES],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["loaded"] == []
    keras_side = Transcriber.load(SHIPPED, runtime="keras")
    for decoder in ("greedy", "beam"):
        expected = [r.text for r in keras_side.transcribe_files(SAMPLES, decoder=decoder)]
        assert got[decoder] == expected, decoder


def test_runtime_choice(onnx_dir: Path, tmp_path: Path) -> None:
    keras_only = tmp_path / "keras_only"
    keras_only.mkdir()
    for name in ("config.json", "model.keras"):
        shutil.copy(SHIPPED / name, keras_only / name)
    assert uses_onnx(onnx_dir) and not uses_onnx(onnx_dir, "keras")
    assert not uses_onnx(keras_only)
    with pytest.raises(ConfigError, match="run asr export"):
        Transcriber.load(keras_only, runtime="onnx")
    # a directory with both runs the export; retraining into it drops the stale export
    shutil.copy(onnx_dir / "model.onnx", keras_only / "model.onnx")
    t = Transcriber.load(keras_only)
    assert type(t.model).__name__ == "OnnxModel"
    from asr.config import load_config
    from asr.modelio import load_inference_model, save_inference_model

    config = load_config(keras_only)
    save_inference_model(load_inference_model(keras_only, config), keras_only, config)
    assert not (keras_only / "model.onnx").exists()


def test_shipped_model_carries_its_export() -> None:
    """The default model directory has model.onnx, so `asr transcribe` starts without
    TensorFlow wherever onnxruntime is installed."""
    assert uses_onnx(SHIPPED)
    assert type(Transcriber.load(SHIPPED).model).__name__ == "OnnxModel"
