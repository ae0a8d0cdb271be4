"""``asr export``: a model directory's inference model as ONNX, TFLite (LiteRT) or a
TensorFlow SavedModel.

Why it works without graph surgery: model.keras holds only stock Keras layers and ops (see
``asr.modelio.save_inference_model``), so Keras's own exporter (``Model.export``, tf2onnx
underneath for ONNX) converts it with a dynamic batch and time axis. Features stay in NumPy,
as in ``Transcriber``; the exported graph maps ``{"features", "input_length"}`` to logits.

A classifier directory (config.json task "classify") exports the same way: dense, cnn and matchbox
graphs take only ``features``, with the fixed frame count of ``config.model.frames``; lstm
and crnn ones take ``features`` and ``input_length``. Their outputs are softmax
probabilities, ``(B, C)`` per clip or ``(B, T, C)`` per frame, and the windows, averaging
and spans around them stay in NumPy (``Classifier``).

TFLite goes through Keras's LiteRT exporter (``format="litert"``: SavedModel, then
``tf.lite.TFLiteConverter``) with the converter held to builtin ops. Keras's default adds
TensorFlow's "Flex" ops, which the standalone LiteRT runtime (``ai-edge-litert``) cannot
run; builtins alone convert an RNN's time loop to TFLite ``WHILE`` subgraphs only when each
step's state has a static shape (the converter otherwise fails with "'tf.TensorListReserve'
op requires element_shape to be static"), so a model with an RNN layer is exported with a
batch of 1 and a dynamic time axis, and ``asr.tflite_runtime.TfliteModel`` runs a batch row
by row. Models without one (dense, cnn, matchbox) keep a dynamic batch.

``check_export`` runs the export beside Keras (onnxruntime, the LiteRT interpreter, or
TensorFlow's SavedModel loader) and compares greedy transcripts (a classifier's predicted
labels).
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.architectures import CLASSIFY
from asr.config import load_config
from asr.errors import AsrError
from asr.fileio import atomic_path, refuse_overwrite

# --format -> default file name
FORMATS = {"onnx": "model.onnx", "savedmodel": "savedmodel", "tflite": "model.tflite"}
_KERAS_FORMAT = {"onnx": "onnx", "savedmodel": "tf_saved_model"}


@dataclass(frozen=True)
class Agreement:
    """Greedy transcripts of Keras and the export on the same files."""

    paths: tuple[str, ...]
    keras: tuple[str, ...]
    exported: tuple[str, ...]
    max_logit_diff: float

    what = "greedy transcripts"  # what is compared per file, as `asr export --check` says it
    quantity = "logit"

    @property
    def same(self) -> int:
        """Files whose transcripts are identical."""
        return sum(a == b for a, b in zip(self.keras, self.exported, strict=True))

    @property
    def max_diff(self) -> float:
        """The largest difference of the network's outputs."""
        return self.max_logit_diff


@dataclass(frozen=True)
class LabelAgreement:
    """A classifier's predicted labels from Keras and the export on the same files."""

    paths: tuple[str, ...]
    keras: tuple[str, ...]
    exported: tuple[str, ...]
    max_prob_diff: float  # over clip probabilities (and per-frame ones of a per-frame model)

    what = "predicted labels"
    quantity = "probability"

    @property
    def same(self) -> int:
        """Files given the same label."""
        return sum(a == b for a, b in zip(self.keras, self.exported, strict=True))

    @property
    def max_diff(self) -> float:
        """The largest difference of the network's outputs."""
        return self.max_prob_diff


def export_model(
    model_dir: str | os.PathLike,
    fmt: str = "onnx",
    out: str | os.PathLike | None = None,
    force: bool = False,
) -> Path:
    """Write the inference model of ``model_dir`` in ``fmt``; returns where (default
    ``DIR/model.onnx``, ``DIR/model.tflite`` or ``DIR/savedmodel``).

    Raises:
        AsrError: an unknown format, an existing output without ``force``, a missing
            converter (tf2onnx for ONNX; TensorFlow as the Keras backend for TFLite), or a
            bad model directory.
    """
    if fmt not in FORMATS:
        raise AsrError(f"unknown export format {fmt!r}; choose one of {sorted(FORMATS)}")
    if load_config(Path(model_dir)).task == CLASSIFY:
        from asr.classify import Classifier

        model = Classifier.load(model_dir, runtime="keras").model
    else:
        from asr.transcribe import Transcriber

        model = Transcriber.load(model_dir, lm=None, runtime="keras").model
    target = Path(out) if out is not None else Path(model_dir) / FORMATS[fmt]
    refuse_overwrite(target, force, folder=fmt == "savedmodel")
    if fmt == "savedmodel" and target.is_dir() and not (target / "saved_model.pb").is_file():
        # --force replaces an earlier export, never a folder of something else
        raise AsrError(f"{target}: a folder that holds no SavedModel; choose another --out")
    _warm_up(model)  # Keras exports only a called model
    if fmt == "onnx":
        try:
            import tf2onnx  # noqa: F401
        except ImportError as e:
            raise AsrError("ONNX export needs tf2onnx: pip install 'asr[export]'") from e
        with atomic_path(target, suffix=".onnx") as tmp, warnings.catch_warnings():
            # Keras' tf2onnx shim touches np.object on import: NumPy's FutureWarning about it
            # is Keras' to fix and says nothing about this export
            warnings.filterwarnings("ignore", message="In the future `np.object`")
            model.export(str(tmp), format="onnx", verbose=False)
    elif fmt == "tflite":
        with atomic_path(target, suffix=".tflite") as tmp:
            _export_tflite(model, tmp)
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.export(str(tmp), format=_KERAS_FORMAT[fmt], verbose=False)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    return target


def _export_tflite(model, path: Path) -> None:
    """``model`` as a .tflite of builtin ops only (no Flex ops): batch 1 when it has an RNN
    layer (see the module docstring), else a dynamic batch; time stays dynamic unless the
    model fixes it (fixed-frame classifiers)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise AsrError(
            "TFLite export needs TensorFlow as the Keras backend (KERAS_BACKEND=tensorflow), "
            f"not {keras.backend.backend()}"
        )
    import tensorflow as tf

    recurrent = any(
        isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
        for layer in model._flatten_layers()
    )
    batch = 1 if recurrent else None
    signature = {
        name: tf.TensorSpec((batch, *tensor.shape[1:]), tensor.dtype, name=name)
        for name, tensor in model.input.items()
    }
    model.export(
        str(path),
        format="litert",
        verbose=False,
        input_signature=[signature],
        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]},
    )


def _warm_up(model) -> None:
    """One call on a dummy batch of the inputs the model has (a fixed-frame classifier takes
    no lengths, and its fixed frame count), so Keras knows the model's input structure."""
    _, frames, dim = model.input["features"].shape
    batch = {"features": np.zeros((1, frames or 16, dim), np.float32)}
    if "input_length" in model.input:
        batch["input_length"] = np.ones(1, np.int32)
    model.predict_on_batch(batch)


class SavedModelRunner:
    """A SavedModel export's serving signature, answering ``predict_on_batch`` as a Keras
    model does (TensorFlow needed: this checks the export, it is not a runtime)."""

    def __init__(self, path: str | os.PathLike, config=None) -> None:
        import tensorflow as tf

        try:
            self.serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        except (OSError, KeyError, ValueError) as e:
            raise AsrError(f"{path}: cannot load the SavedModel ({e}); re-run asr export") from e
        inputs = self.serve.structured_input_signature[1]
        self.input_names = frozenset(inputs)
        shape = inputs["features"].shape
        self.input_dim = int(shape[-1])
        self.frames = shape[1] if len(shape) == 3 else None
        self.output_dim = int(next(iter(self.serve.structured_outputs.values())).shape[-1])

    def predict_on_batch(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Outputs of a padded batch, fed only the inputs the signature has."""
        feed = {k: v for k, v in batch.items() if k in self.input_names}
        return next(iter(self.serve(**feed).values())).numpy()


def _runner(fmt: str):
    """``(path, config) -> model`` for each format a check can run."""
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise AsrError(
                "checking an ONNX export needs onnxruntime: pip install onnxruntime"
            ) from e
        from asr.runtime import OnnxModel, classifier_onnx

        return lambda path, config: (
            classifier_onnx(path, config) if config.task == CLASSIFY else OnnxModel(path)
        )
    if fmt == "tflite":
        from asr.tflite_runtime import TfliteModel, classifier_tflite

        return lambda path, config: (
            classifier_tflite(path, config) if config.task == CLASSIFY else TfliteModel(path)
        )
    if fmt == "savedmodel":
        return SavedModelRunner
    raise AsrError(f"unknown export format {fmt!r}; choose one of {sorted(FORMATS)}")


def check_export(
    model_dir: str | os.PathLike, fmt: str, export_path: str | os.PathLike, paths: list[str]
) -> Agreement | LabelAgreement:
    """Greedy transcripts of ``paths`` from Keras and from the export (onnxruntime, the
    LiteRT interpreter, or TensorFlow's SavedModel loader), each through the same
    ``Transcriber`` code (normalized features, length-sorted padded batches); for a
    classifier directory, the predicted labels (``LabelAgreement``)."""
    wrap = _runner(fmt)
    if load_config(Path(model_dir)).task == CLASSIFY:
        return _check_classifier(model_dir, wrap, export_path, paths)
    from asr.audio import load_audio
    from asr.transcribe import Transcriber

    keras_side = Transcriber.load(model_dir, lm=None, runtime="keras")
    export_side = Transcriber(wrap(export_path, keras_side.config), keras_side.config)
    rate = keras_side.config.features.sample_rate
    feats = [keras_side.features(load_audio(p, rate)) for p in paths]
    ours, theirs = keras_side.logits(feats), export_side.logits(feats)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))
    return Agreement(
        tuple(paths),
        tuple(keras_side.decode(lg, "greedy")[0] for lg in ours),
        tuple(keras_side.decode(lg, "greedy")[0] for lg in theirs),
        diff,
    )


def _check_classifier(
    model_dir: str | os.PathLike, wrap, export_path: str | os.PathLike, paths: list[str]
) -> LabelAgreement:
    """Each file's predicted label from Keras and from the export (``wrap(export_path,
    config)``: an OnnxModel, a TfliteModel or a SavedModelRunner), through the same
    ``Classifier`` code
    (windows, padded batches, averaging); the difference is the largest of the clip
    probabilities and, for a per-frame model, of every frame's."""
    from asr.classify import Classifier

    keras_side = Classifier.load(model_dir, runtime="keras")
    export_side = Classifier(wrap(export_path, keras_side.config), keras_side.config)
    feats = [keras_side.features(p) for p in paths]
    ours, theirs = keras_side.clip_probabilities(feats), export_side.clip_probabilities(feats)
    diff = float(np.abs(ours - theirs).max())
    if keras_side.spec.per_frame:
        for f in feats:
            a, b = keras_side.frame_probabilities(f), export_side.frame_probabilities(f)
            diff = max(diff, float(np.abs(a - b).max()))
    labels = keras_side.labels
    return LabelAgreement(
        tuple(paths),
        tuple(labels[int(i)] for i in ours.argmax(axis=1)),
        tuple(labels[int(i)] for i in theirs.argmax(axis=1)),
        diff,
    )
