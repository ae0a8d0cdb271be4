"""`asr export`: the ONNX export gives Keras's logits and greedy transcripts; SavedModel too;
nothing of the user's is overwritten without --force."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from e2e_support import run_cli

from asr.config import load_config
from asr.export import check_export

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx (pip install 'asr[export]')")
ort = pytest.importorskip("onnxruntime", reason="checking an export needs onnxruntime")


def test_onnx_export_of_the_shipped_model_agrees_with_keras(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    rc, stdout, stderr = run_cli(["export", "--out", str(out), "--check", str(SAMPLES)])
    assert rc == 0, stderr
    files = len([p for p in SAMPLES.iterdir() if p.suffix in (".wav", ".flac")])
    assert f"greedy transcripts: {files} of {files} files the same as Keras" in stdout
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["features", "input_length"]
    # batch and time are dynamic: two lengths in one padded batch, padding masked
    x = np.random.default_rng(0).normal(size=(2, 120, 39)).astype(np.float32)
    y = session.run(None, {"features": x, "input_length": np.array([60, 25], np.int32)})[0]
    frames = load_config(ROOT / "checkpoints" / "default").model.output_length(120)
    assert y.shape == (2, frames, 28)
    rc, _, stderr = run_cli(["export", "--out", str(out)])
    assert rc == 2 and "already exists; pass --force" in stderr


def test_agreement_counts_and_savedmodel(tmp_path: Path) -> None:
    """The committed model.onnx is the committed weights' (a ship that forgot to export
    again fails here), and a SavedModel export agrees through TensorFlow's loader."""
    default = ROOT / "checkpoints" / "default"
    paths = [str(SAMPLES / "006075.wav"), str(SAMPLES / "006070.wav")]
    agreement = check_export(default, "onnx", default / "model.onnx", paths)
    assert agreement.same == 2 and agreement.keras == agreement.exported
    assert agreement.max_logit_diff < 1e-3
    saved = tmp_path / "sm"
    rc, stdout, stderr = run_cli(
        ["export", "--format", "savedmodel", "--out", str(saved), "--check", *paths]
    )
    assert rc == 0 and "2 of 2 files the same as Keras" in stdout, stderr
    assert (saved / "saved_model.pb").is_file()
    largest = re.search(r"largest logit difference (\S+)", stdout)
    assert largest and float(largest[1]) < 1e-3, stdout
