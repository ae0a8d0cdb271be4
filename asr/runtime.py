"""The TensorFlow-free fast path: a model directory's ``model.onnx`` under onnxruntime.

Why: importing TensorFlow and building a Keras model costs seconds and hundreds of MB before
the first frame is decoded; onnxruntime loads the exported graph (``asr export``) in a
fraction of that. ``Transcriber`` uses it when the directory has ``model.onnx`` and
onnxruntime is installed; everything around the network (features, decoding, LM, long
audio) is the same NumPy code either way.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from asr.errors import ConfigError

ONNX_NAME = "model.onnx"
RUNTIMES = ("auto", "onnx", "keras")  # auto: ONNX when the directory and Python allow it


class OnnxModel:
    """model.onnx in an onnxruntime session, answering the one call Transcriber makes of a
    Keras model (``predict_on_batch``) and saying its input and output widths."""

    def __init__(self, path: str | os.PathLike) -> None:
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ConfigError(f"{path}: cannot load the ONNX model ({e}); re-run asr export") from e
        inputs = {i.name: i for i in self.session.get_inputs()}
        if set(inputs) != {"features", "input_length"}:
            raise ConfigError(
                f"{path}: not an asr export (inputs {sorted(inputs)}, need 'features' and "
                "'input_length'); re-run asr export"
            )
        self.input_dim = int(inputs["features"].shape[-1])
        self.output_dim = int(self.session.get_outputs()[0].shape[-1])

    def predict_on_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(B, T', classes) logits of a padded batch, as the Keras model gives them."""
        feed = {
            "features": np.asarray(batch["features"], np.float32),
            "input_length": np.asarray(batch["input_length"], np.int32),
        }
        return self.session.run(None, feed)[0]


def onnx_available() -> bool:
    """Whether onnxruntime can be imported (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def uses_onnx(model_dir: str | os.PathLike, runtime: str = "auto") -> bool:
    """Whether ``model_dir`` runs under onnxruntime for this ``runtime`` choice.

    Raises:
        ConfigError: an unknown runtime, or "onnx" asked for where it cannot run.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose one of {list(RUNTIMES)}")
    has_file = (Path(model_dir) / ONNX_NAME).is_file()
    if runtime == "onnx" and not (has_file and onnx_available()):
        missing = (
            f"{Path(model_dir) / ONNX_NAME} (run asr export)"
            if not has_file
            else ("onnxruntime (pip install onnxruntime)")
        )
        raise ConfigError(f"the ONNX runtime needs {missing}")
    return runtime != "keras" and has_file and onnx_available()


def model_dims(model: Any) -> tuple[int, int]:
    """(feature dims in, classes out) of a Keras inference model or an OnnxModel."""
    if isinstance(model, OnnxModel):
        return model.input_dim, model.output_dim
    return int(model.input["features"].shape[-1]), int(model.output.shape[-1])
