"""The TensorFlow-free fast path: a model directory's ``model.onnx`` under onnxruntime.

Why: importing TensorFlow and building a Keras model costs seconds and hundreds of MB before
the first frame is decoded; onnxruntime loads the exported graph (``asr export``) in a
fraction of that. ``Transcriber`` and ``Classifier`` use it when the directory has
``model.onnx`` and onnxruntime is installed; everything around the network (features,
decoding, LM, long audio, windows and spans) is the same NumPy code either way.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from asr.errors import ConfigError

ONNX_NAME = "model.onnx"
TFLITE_NAME = "model.tflite"  # asr export --format tflite (asr.tflite_runtime runs it)
# auto: ONNX when the directory and Python allow it; model.tflite runs only when asked for
RUNTIMES = ("auto", "onnx", "tflite", "keras")
CTC_INPUTS = frozenset({"features", "input_length"})
# fixed-frame classifiers take only features (a fixed frame count); lstm/crnn also lengths
CLASSIFIER_INPUTS = (frozenset({"features"}), CTC_INPUTS)


class OnnxModel:
    """model.onnx in an onnxruntime session, answering the one call Transcriber and
    Classifier make of a Keras model (``predict_on_batch``) and saying its input and output
    widths.

    ``accepted``: the input-name sets this caller can feed (a CTC export needs both
    ``features`` and ``input_length``); only the inputs the graph has are fed.
    """

    def __init__(
        self, path: str | os.PathLike, accepted: tuple[frozenset[str], ...] = (CTC_INPUTS,)
    ) -> None:
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ConfigError(f"{path}: cannot load the ONNX model ({e}); re-run asr export") from e
        inputs = {i.name: i for i in self.session.get_inputs()}
        if frozenset(inputs) not in accepted:
            need = " or ".join(str(sorted(names)) for names in accepted)
            raise ConfigError(
                f"{path}: not an asr export of this kind of model (inputs {sorted(inputs)}, "
                f"need {need}); re-run asr export"
            )
        self.input_names = frozenset(inputs)
        shape = inputs["features"].shape
        self.input_dim = int(shape[-1])
        # a fixed time axis (fixed-frame classifiers) is an int; a dynamic one a name or None
        self.frames = shape[1] if len(shape) == 3 and isinstance(shape[1], int) else None
        self.output_dim = int(self.session.get_outputs()[0].shape[-1])

    def predict_on_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The outputs of a padded batch, as the Keras model gives them: (B, T', classes)
        logits of a CTC model, (B, C) or (B, T, C) probabilities of a classifier."""
        feed = {"features": np.asarray(batch["features"], np.float32)}
        if "input_length" in self.input_names:
            feed["input_length"] = np.asarray(batch["input_length"], np.int32)
        return self.session.run(None, feed)[0]


def classifier_onnx(path: str | os.PathLike, config: Any) -> OnnxModel:
    """A classifier's model.onnx, refused unless its inputs, frame count and widths are
    those ``config`` (a classify Config) describes.

    Raises:
        ConfigError: the export belongs to another model (re-run asr export).
    """
    model = OnnxModel(path, CLASSIFIER_INPUTS)
    check_classifier_export(model, path, config)
    return model


def check_classifier_export(model: Any, path: str | os.PathLike, config: Any) -> None:
    """Refuse an exported classifier (an OnnxModel or a TfliteModel) whose inputs, frame
    count and widths are not those ``config`` describes.

    Raises:
        ConfigError: the export belongs to another model (re-run asr export).
    """
    spec = config.model
    want = CTC_INPUTS if spec.recurrent else CLASSIFIER_INPUTS[0]
    dims = (model.input_dim, model.output_dim, model.frames or 0)
    expected = (config.features.dim, config.num_classes, spec.frames)
    if model.input_names != want or dims != expected:
        raise ConfigError(
            f"{path}: the export takes {sorted(model.input_names)} of "
            f"{model.frames or 'any'} frames x {model.input_dim} dims and emits "
            f"{model.output_dim} classes, but config.json describes {sorted(want)} of "
            f"{spec.frames or 'any'} frames x {config.features.dim} dims and "
            f"{config.num_classes} classes; re-run asr export"
        )


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
    return runtime not in ("keras", "tflite") and has_file and onnx_available()


def uses_tflite(model_dir: str | os.PathLike, runtime: str = "auto") -> bool:
    """Whether ``model_dir`` runs its model.tflite under the LiteRT interpreter: only when
    ``runtime`` is "tflite" (auto prefers onnxruntime, which runs a padded batch at once).

    Raises:
        ConfigError: an unknown runtime, or "tflite" asked for without model.tflite.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose one of {list(RUNTIMES)}")
    path = Path(model_dir) / TFLITE_NAME
    if runtime == "tflite" and not path.is_file():
        raise ConfigError(f"the TFLite runtime needs {path} (run asr export --format tflite)")
    return runtime == "tflite"


def model_dims(model: Any) -> tuple[int, int]:
    """(feature dims in, classes out) of a Keras inference model or an exported one (an
    OnnxModel or a ``asr.tflite_runtime.TfliteModel``)."""
    if isinstance(model, OnnxModel) or hasattr(model, "output_dim"):
        return model.input_dim, model.output_dim
    return int(model.input["features"].shape[-1]), int(model.output.shape[-1])
