"""A model directory's ``model.tflite`` (``asr export --format tflite``) under the LiteRT
interpreter, answering the one call Transcriber and Classifier make of a Keras model.

Why batch 1: the TFLite converter lowers a Keras RNN's time loop to builtin ``WHILE`` ops
only when the per-step state shape is static, so a recurrent export has a fixed batch of 1
and a dynamic time axis (with a dynamic batch the converter needs TensorFlow's Flex
``TensorList*`` kernels, which the standalone LiteRT runtime lacks; see ``asr.export``).
``TfliteModel`` therefore runs a padded batch row by row, each row cut to its own frames
(see ``TfliteModel.predict_on_batch`` for why that gives what Keras gives for the batch).
Dense and cnn classifiers keep a dynamic batch and run in one call.

The interpreter comes from ``ai-edge-litert`` (TensorFlow-free) when it is installed, else
from TensorFlow's deprecated ``tf.lite.Interpreter``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from asr.errors import ConfigError
from asr.runtime import CLASSIFIER_INPUTS, CTC_INPUTS, check_classifier_export

SIGNATURE = "serving_default"  # the one endpoint Keras's LiteRT export writes


def interpreter_class() -> Any:
    """The LiteRT ``Interpreter`` class: ai_edge_litert's, else TensorFlow's.

    Raises:
        ConfigError: neither is installed.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ConfigError(
            "running a .tflite model needs the LiteRT interpreter: pip install ai-edge-litert"
        ) from e
    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
    return tf.lite.Interpreter


class TfliteModel:
    """model.tflite in a LiteRT interpreter with ``predict_on_batch`` and the input and
    output widths, as ``asr.runtime.OnnxModel`` has them.

    ``accepted``: the input-name sets this caller can feed (a CTC export needs both
    ``features`` and ``input_length``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        accepted: tuple[frozenset[str], ...] = (CTC_INPUTS,),
        num_threads: int | None = None,
    ) -> None:
        interpreter = interpreter_class()
        try:
            self.interpreter = interpreter(model_path=str(path), num_threads=num_threads)
            signatures = self.interpreter.get_signature_list()
            self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        except (ValueError, RuntimeError) as e:
            raise ConfigError(
                f"{path}: cannot load the TFLite model ({e}); re-run asr export"
            ) from e
        names = frozenset(signatures.get(SIGNATURE, {}).get("inputs", ()))
        if names not in accepted:
            need = " or ".join(str(sorted(n)) for n in accepted)
            raise ConfigError(
                f"{path}: not an asr export of this kind of model (inputs {sorted(names)}, "
                f"need {need}); re-run asr export"
            )
        self.input_names = names
        details = self.runner.get_input_details()
        shape = [int(d) for d in details["features"]["shape_signature"]]
        self.input_dim = shape[-1]
        self.frames = shape[1] if len(shape) == 3 and shape[1] > 0 else None  # fixed-frame
        self.batch = shape[0] if shape[0] > 0 else None  # 1 for a recurrent export
        if self.batch not in (None, 1):
            raise ConfigError(f"{path}: a fixed batch of {self.batch} is not supported")
        (out,) = self.runner.get_output_details().values()
        self.output_dim = int(out["shape_signature"][-1])

    def predict_on_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The outputs of a padded batch, as the Keras model gives them: (B, T', classes)
        logits of a CTC model, (B, C) or (B, T, C) probabilities of a classifier.

        A batch-1 export runs the batch row by row, each row cut to its own frames (its
        zero padding at the end dropped; the longest row keeps the batch's width). That
        changes nothing a caller reads: padding frames enter the model only as zeros, which
        the convolutions' own zero padding supplies, and masked RNN steps are skipped; a
        sequence output is filled back to the batch's width with zeros past each row's
        length. A row whose output would come out shorter than its ``input_length`` (real
        frames that are exactly zero) runs at the full width.
        """
        feed = {"features": np.ascontiguousarray(batch["features"], np.float32)}
        if "input_length" in self.input_names:
            feed["input_length"] = np.ascontiguousarray(batch["input_length"], np.int32)
        if self.batch is None:
            return self._run(feed)
        x = feed["features"]
        if len(x) == 1 or self.frames is not None:
            return np.concatenate([self._row(feed, b, x.shape[1]) for b in range(len(x))])
        frames = [_frames_used(row) for row in x]
        longest = int(np.argmax(frames))
        outputs = {longest: self._row(feed, longest, x.shape[1])}
        for b in range(len(x)):
            if b not in outputs:
                outputs[b] = self._row(feed, b, frames[b], outputs[longest].shape[1:])
        return np.concatenate([outputs[b] for b in range(len(x))])

    def _row(self, feed: dict[str, np.ndarray], b: int, frames: int, shape=None) -> np.ndarray:
        """Row ``b`` of ``feed`` cut to ``frames``; a sequence output filled with zeros to
        ``shape`` (T', classes) when given."""
        row = {k: v[b : b + 1] for k, v in feed.items()}
        full = row["features"]
        row["features"] = full[:, :frames]
        out = self._run(row)
        if shape is None or out.ndim == 2:
            return out
        if "input_length" in row and out.shape[1] < row["input_length"][0]:
            row["features"] = full
            return self._run(row)
        filled = np.zeros((1, *shape), out.dtype)
        filled[:, : min(out.shape[1], shape[0])] = out[:, : shape[0]]
        return filled

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        (out,) = self.runner(**feed).values()
        return np.array(out)  # a copy: the interpreter reuses its buffers on the next call


def _frames_used(features: np.ndarray) -> int:
    """Frames of a (T, D) row up to its last one that is not all zeros (at least 1)."""
    used = np.flatnonzero(np.any(features != 0, axis=-1))
    return int(used[-1]) + 1 if used.size else 1


def classifier_tflite(path: str | os.PathLike, config: Any) -> TfliteModel:
    """A classifier's model.tflite, refused unless its inputs, frame count and widths are
    those ``config`` (a classify Config) describes.

    Raises:
        ConfigError: the export belongs to another model (re-run asr export).
    """
    model = TfliteModel(path, CLASSIFIER_INPUTS)
    check_classifier_export(model, path, config)
    return model


def operator_names(path: str | os.PathLike) -> set[str]:
    """Every operator a .tflite file uses, in all its subgraphs (a ``WHILE`` loop's body
    too): builtin names such as ``FULLY_CONNECTED``, custom ones by their code (a Flex op,
    one the standalone runtime cannot run, as ``Flex`` + its TensorFlow name)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        custom = code.CustomCode()
        # builtin codes past 127 live in BuiltinCode; DeprecatedBuiltinCode keeps the rest
        number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        names.add(custom.decode() if custom else builtin.get(number, f"BUILTIN_{number}"))
    return names
