"""Saving and loading model directories: atomic writes, safe loading, resume state.

A kill at any moment leaves either the previous or the new file, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

import asr.model  # noqa: F401  (registers the layers that models saved before 0.2 name)
from asr.architectures import get_architecture
from asr.config import MODEL_NAME, Config
from asr.errors import ConfigError
from asr.fileio import atomic_path, atomic_write_text, make_private_dir, stale_temp_files
from asr.runtime import ONNX_NAME, TFLITE_NAME

RESUME_DIR = "resume"
LATEST = "latest"


def save_inference_model(model: keras.Model, model_dir: Path, config: Config) -> Path:
    """Write DIR/model.keras atomically, built from stock Keras layers only.

    Why stock: the file then loads with ``keras.saving.load_model(path, safe_mode=True)``
    in any Python with Keras, no ``import asr`` needed, and converters (ONNX, LiteRT) see
    plain GRU/LSTM layers. FastGRU/FastLSTM differ from Keras's GRU/LSTM only in their
    training gradient, so the twin has the same weights and gives the same outputs.
    """
    stock = get_architecture(config.model.arch, config.task).build(config, fast=False)
    stock.set_weights(model.get_weights())
    path = Path(model_dir) / MODEL_NAME
    with atomic_path(path, suffix=".keras") as tmp:
        stock.save(tmp)
    # An export of the weights this file replaces would be used in its place: drop it.
    for name in (ONNX_NAME, TFLITE_NAME):
        (Path(model_dir) / name).unlink(missing_ok=True)
    return path


def load_inference_model(model_dir: Path, config: Config) -> keras.Model:
    """Load DIR/model.keras with safe_mode=True; code-carrying or broken files are refused."""
    path = Path(model_dir) / MODEL_NAME
    if not path.is_file():
        raise ConfigError(f"{path}: not found; pass --model with a directory made by `asr train`")
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" of a damaged file
        raise ConfigError(
            f"{path}: not a .keras archive (damaged or another format); restore it from "
            "training or retrain"
        )
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as e:
        if "lambda" in str(e).lower() or "safe_mode" in str(e):
            raise ConfigError(
                f"{path}: refusing to load a model that carries Python code (Lambda layer); "
                "asr models never need it: retrain or re-export without Lambda layers"
            ) from e
        raise ConfigError(f"{path}: cannot load model ({_first_line(e)})") from e
    except Exception as e:  # zip, h5 and deserialization errors come in many types
        raise ConfigError(f"{path}: cannot load model ({_first_line(e)})") from e
    expected = _expected_inputs(config)
    if not isinstance(model.input, dict) or set(model.input) != expected:
        raise ConfigError(
            f"{path}: not an asr {config.task} model of this config (inputs must be "
            f"{sorted(expected)}); the files come from different models"
        )
    return model


def _expected_inputs(config: Config) -> set[str]:
    """A CTC model and a recurrent classifier take lengths; fixed-frame classifiers don't."""
    recurrent = getattr(config.model, "recurrent", True)
    return {"features", "input_length"} if recurrent else {"features"}


def _first_line(error: BaseException) -> str:
    """First line of an exception message, for one-line errors."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def save_resume_state(
    model_dir: Path, epoch: int, training: keras.Model, state: dict[str, Any], batch: int = 0
) -> Path:
    """Write weights, optimizer variables and ``state`` after ``epoch`` epochs (and ``batch``
    batches of the next one) into a fresh folder, then point DIR/resume/latest at it; older
    folders are removed afterwards."""
    root = Path(model_dir) / RESUME_DIR
    root.mkdir(parents=True, exist_ok=True)
    target = root / (f"epoch-{epoch:04d}" + (f"-batch-{batch:06d}" if batch else ""))
    tmp = make_private_dir(root, ".epoch-")
    try:
        training.save_weights(tmp / "training.weights.h5")
        opt_values = [np.asarray(v) for v in training.optimizer.variables]
        np.savez(tmp / "optimizer.npz", *opt_values)
        saved = {**state, "epoch": epoch, "batch": batch}
        (tmp / "state.json").write_text(json.dumps(saved, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / LATEST, target.name + "\n")
    for old in root.glob("epoch-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".epoch-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return target


def remove_stale_temp_files(model_dir: Path) -> list[Path]:
    """Delete the temp files a killed save leaves (``.*.tmp*`` files, unfinished
    ``resume/.epoch-*`` folders and the ``.model.*.keras`` of older versions); the files
    they were meant to replace are intact."""
    model_dir = Path(model_dir)
    stale = [*stale_temp_files(model_dir), *model_dir.glob(".model.*.keras")]
    stale += [*(model_dir / RESUME_DIR).glob(".epoch-*"), *stale_temp_files(model_dir / RESUME_DIR)]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def latest_resume_state(model_dir: Path) -> Path | None:
    """The folder DIR/resume/latest points at, or None when training never finished an epoch."""
    root = Path(model_dir) / RESUME_DIR
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    target = root / pointer.read_text().strip()
    return target if (target / "state.json").is_file() else None


def load_resume_state(folder: Path, training: keras.Model) -> dict[str, Any]:
    """Restore weights and optimizer variables into a compiled ``training`` model."""
    optimizer = training.optimizer
    optimizer.build(training.trainable_variables)  # before loading, so its slots load too
    training.load_weights(folder / "training.weights.h5")
    with np.load(folder / "optimizer.npz") as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise ConfigError(
            f"{folder}: optimizer state has {len(values)} variables, the model needs "
            f"{len(optimizer.variables)}; resume with the same --arch and config"
        )
    for var, value in zip(optimizer.variables, values, strict=True):
        var.assign(value)
    return json.loads((folder / "state.json").read_text())
