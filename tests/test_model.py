"""Model shapes, masking (padding never changes the output), CTC loss, safe saving."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from asr.config import Config, ModelConfig, save_config
from asr.errors import ConfigError
from asr.fileio import default_file_mode, file_mode
from asr.model import build_inference_model, build_training_model
from asr.modelio import load_inference_model, save_inference_model
from asr.transcribe import Transcriber

ROOT = Path(__file__).resolve().parents[1]


def _run(model: keras.Model, feats: np.ndarray, lengths: list[int]) -> np.ndarray:
    return np.asarray(
        model.predict_on_batch({"features": feats, "input_length": np.array(lengths, np.int32)})
    )


@pytest.mark.parametrize(
    "model_cfg",
    [
        ModelConfig(arch="bigru", rnn_units=8, rnn_layers=2, conv_filters=8, conv_stride=2),
        ModelConfig(
            arch="bilstm", rnn_units=8, rnn_layers=1, conv_filters=8, conv_stride=3, conv_kernel=5
        ),
        ModelConfig(arch="bigru", rnn_units=8, rnn_layers=1, conv_filters=0, conv_stride=1),
    ],
    ids=["bigru-stride2", "bilstm-stride3", "no-conv"],
)
def test_padding_does_not_change_output(model_cfg: ModelConfig) -> None:
    cfg = Config(model=dataclasses.replace(model_cfg, dropout=0.0))
    model = build_inference_model(cfg)
    rng = np.random.default_rng(0)
    short, long = rng.normal(size=(37, 39)), rng.normal(size=(90, 39))
    alone = _run(model, short[None].astype(np.float32), [cfg.model.output_length(37)])
    batch = np.zeros((2, 96, 39), np.float32)
    batch[0, :37], batch[1, :90] = short, long
    out = _run(model, batch, [cfg.model.output_length(37), cfg.model.output_length(90)])
    n = cfg.model.output_length(37)
    assert alone.shape == (1, n, 28)
    assert out.shape == (2, cfg.model.output_length(96), 28)
    np.testing.assert_allclose(out[0, :n], alone[0], atol=1e-5)


def test_training_model_shares_inference_weights(tiny_config: Config) -> None:
    inf = build_inference_model(tiny_config)
    tr = build_training_model(inf)
    ids = {id(w) for w in tr.weights}
    assert all(id(w) in ids for w in inf.weights)
    assert tr.count_params() == inf.count_params()


def test_ctc_loss_layer_matches_hand_count() -> None:
    # Two frames, two classes, uniform logits, label "a": paths aa, _a, a_ -> p = 3/4.
    from asr.model import CTCLoss

    loss = CTCLoss()(
        np.array([[1]], np.int32),
        np.zeros((1, 2, 2), np.float32),
        np.array([2], np.int32),
        np.array([1], np.int32),
    )
    assert float(np.asarray(loss)[0]) == pytest.approx(-math.log(0.75), rel=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's CTC kernel")
def test_tensorflow_ctc_kernel_matches_keras_ctc_loss() -> None:
    # The training path under TensorFlow uses its C++ kernel; it must equal ops.ctc_loss in
    # losses and gradients, whatever the padding holds past each label (repeats included),
    # and for an empty label (a noise row: all frames blank), which the kernel itself refuses.
    import tensorflow as tf

    from asr.model import _ctc_loss

    rng = np.random.default_rng(3)
    batch, frames, classes, width = 6, 50, 28, 12
    logits = tf.constant(rng.normal(scale=3.0, size=(batch, frames, classes)), tf.float32)
    label_length = np.array([1, 5, 12, 7, 0, 9], np.int32)
    logit_length = np.array([50, 31, 40, 17, 9, 50], np.int32)
    labels = rng.integers(1, classes, size=(batch, width)).astype(np.int32)
    labels[1, :5] = [4, 4, 4, 9, 9]  # repeats need blanks between them
    labels[label_length[:, None] <= np.arange(width)] = 7  # padding that is not 0

    def loss_and_grad(fn) -> tuple[np.ndarray, np.ndarray]:
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = fn()
            total = tf.reduce_sum(loss * tf.range(1.0, batch + 1.0))  # distinct weights
        return loss.numpy(), tape.gradient(total, logits).numpy()

    ours = loss_and_grad(lambda: _ctc_loss(labels, logits, label_length, logit_length))
    keras_ = loss_and_grad(
        lambda: keras.ops.ctc_loss(labels, logits, label_length, logit_length, mask_index=0)
    )
    np.testing.assert_allclose(ours[0], keras_[0], rtol=1e-5)
    # float32 sums in another order: agree to 1e-4 of the largest gradient
    np.testing.assert_allclose(ours[1], keras_[1], atol=1e-4 * np.abs(keras_[1]).max())
    assert np.all(ours[1][3, 17:] == 0)  # frames past an utterance's length get no gradient
    blank = tf.nn.log_softmax(logits[4, :9])[:, 0].numpy()
    assert ours[0][4] == pytest.approx(-blank.sum(), rel=1e-5)


@pytest.mark.parametrize("arch", ["bigru", "bilstm"])
def test_save_load_round_trip_in_safe_mode(tmp_path: Path, tiny_config: Config, arch) -> None:
    config = dataclasses.replace(
        tiny_config, model=dataclasses.replace(tiny_config.model, arch=arch)
    )
    model = build_inference_model(config)
    save_inference_model(model, tmp_path, config)
    assert not list(tmp_path.glob(".*"))  # no temp file left behind
    assert file_mode(tmp_path / "model.keras") == default_file_mode()  # 0644 under umask 022
    loaded = load_inference_model(tmp_path, config)
    x = np.random.default_rng(2).normal(size=(2, 20, 39)).astype(np.float32)
    np.testing.assert_allclose(_run(loaded, x, [10, 7]), _run(model, x, [10, 7]), atol=1e-6)


def test_saved_model_loads_in_plain_keras_without_asr(tmp_path: Path, tiny_config: Config) -> None:
    """model.keras holds only stock Keras layers and ops: a Python that never imports asr
    loads it with safe_mode=True and gets the same logits (padding still masked)."""
    model = build_inference_model(tiny_config)
    save_inference_model(model, tmp_path, tiny_config)
    x = np.random.default_rng(3).normal(size=(2, 24, 39)).astype(np.float32)
    x[1, 14:] = 0.0
    expected = _run(model, x, [12, 7])
    x[1, 18:] = 50.0  # past what row 1's 7 output frames see (kernel 11): the same outputs
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, keras\n"
        "m = keras.saving.load_model(sys.argv[1], safe_mode=True, compile=False)\n"
        "x = np.load(sys.argv[2])\n"
        "y = m.predict({'features': x, 'input_length': np.array([12, 7], 'int32')}, verbose=0)\n"
        "np.save(sys.argv[3], y)\n"
        "assert not [k for k in sys.modules if k == 'asr' or k.startswith('asr.')]\n"
    )
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model.keras"), str(tmp_path / "x.npy"),
         str(tmp_path / "y.npy")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    got = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(got[0, :12], expected[0, :12], atol=1e-5)
    np.testing.assert_allclose(got[1, :7], expected[1, :7], atol=1e-5)


def test_shipped_model_is_stock_keras() -> None:
    """The default checkpoint names no asr class, so it needs no import to load."""
    with zipfile.ZipFile(ROOT / "checkpoints" / "default" / "model.keras") as z:
        text = z.read("config.json").decode()
    assert "asr>" not in text and '"module": "asr' not in text


def test_lambda_model_is_refused(tmp_path: Path) -> None:
    features = keras.Input((None, 39), name="features")
    lengths = keras.Input((), dtype="int32", name="input_length")
    out = keras.layers.Lambda(lambda t: t * 2.0)(features)
    keras.Model({"features": features, "input_length": lengths}, out).save(tmp_path / "model.keras")
    with pytest.raises(ConfigError, match="Python code"):
        load_inference_model(tmp_path, Config())


def test_config_that_does_not_match_model_is_refused(tmp_path: Path, tiny_config: Config) -> None:
    save_inference_model(build_inference_model(tiny_config), tmp_path, tiny_config)
    wrong = dataclasses.replace(tiny_config, alphabet="abc", mean=(0.0,) * 39, std=(1.0,) * 39)
    save_config(wrong, tmp_path)
    with pytest.raises(ConfigError, match="different models"):
        Transcriber.load(tmp_path)


def test_missing_or_corrupt_model_files(tmp_path: Path, tiny_config: Config) -> None:
    with pytest.raises(ConfigError, match="config.json"):
        Transcriber.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="JSON"):
        Transcriber.load(tmp_path)
    save_config(dataclasses.replace(tiny_config, mean=(0.0,) * 39, std=(1.0,) * 39), tmp_path)
    (tmp_path / "model.keras").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="not a .keras archive"):
        Transcriber.load(tmp_path)
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:  # a zip, but not Keras'
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ConfigError, match="cannot load model"):
        Transcriber.load(tmp_path)
