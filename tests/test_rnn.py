"""FastGRU and FastLSTM: Keras's GRU and LSTM with hand-written training gradients must
equal Keras's own loop, outputs and gradients alike."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from asr.config import Config, ModelConfig
from asr.model import build_inference_model
from asr.rnn import FastGRU, FastLSTM

T, FEATURES, UNITS = 23, 7, 5
LENGTHS = np.array([23, 17, 9, 1])  # full, partial, short and a single frame


def _gradients(layer: layers.Layer, x: np.ndarray, mask, target: np.ndarray):
    """d sum(layer(x) * target) / d(weights, x), training=True, under this process's backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        fixed = [v.value for v in layer.non_trainable_variables]

        def loss(weights, inputs):
            y, _ = layer.stateless_call(weights, fixed, inputs, mask=mask, training=True)
            return (y * target).sum()

        weights, inputs = jax.grad(loss, argnums=(0, 1))(trainable, x)
        return [np.asarray(w) for w in weights], np.asarray(inputs)
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(layer(inputs, mask=mask, training=True) * target)
        *weights, d_inputs = tape.gradient(loss, [*layer.trainable_variables, inputs])
        return [np.asarray(w) for w in weights], np.asarray(d_inputs)
    pytest.skip(f"no gradient helper for the {backend} backend")


CELLS = {"gru": (layers.GRU, FastGRU), "lstm": (layers.LSTM, FastLSTM)}


def _pair(cell: str, kind: str) -> tuple[layers.Layer, layers.Layer]:
    """The same layer built from Keras's cell and from its fast counterpart."""
    if kind == "bidirectional":
        make = lambda cell: layers.Bidirectional(cell(UNITS, return_sequences=True))  # noqa: E731
    elif kind == "backwards":
        make = lambda cell: cell(UNITS, return_sequences=True, go_backwards=True)  # noqa: E731
    else:  # masked steps return the carried state, not zeros
        make = lambda cell: cell(UNITS, return_sequences=True)  # noqa: E731
    keras_cell, fast_cell = CELLS[cell]
    return make(keras_cell), make(fast_cell)


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("kind", ["bidirectional", "backwards", "forward"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_outputs_and_gradients_equal_keras(cell: str, kind: str, masked: bool) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((len(LENGTHS), T, FEATURES)).astype("float32")
    mask = np.arange(T)[None, :] < LENGTHS[:, None] if masked else None
    reference, fast = _pair(cell, kind)
    reference.build(x.shape)
    fast.build(x.shape)
    # non-zero biases, so both bias rows (input and recurrent) are exercised
    weights = [
        w + 0.1 * rng.standard_normal(w.shape).astype("float32") for w in reference.get_weights()
    ]
    reference.set_weights(weights)
    fast.set_weights(weights)

    want = np.asarray(reference(x, mask=mask, training=True))
    got = np.asarray(fast(x, mask=mask, training=True))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if masked and kind == "bidirectional":
        assert np.all(got[3, 1:] == 0)  # padding outputs stay exactly zero

    target = rng.standard_normal(want.shape).astype("float32")
    # Relative tolerance too: a weight gradient summed over all steps reaches ~35, where
    # float32 rounding of another summation order alone is ~1e-5 (seen once in 5 JAX runs).
    want_w, want_x = _gradients(reference, x, mask, target)
    got_w, got_x = _gradients(fast, x, mask, target)
    # kernel, recurrent kernel and bias per direction
    assert len(got_w) == len(want_w) == (6 if kind == "bidirectional" else 3)
    for g, w in zip(got_w, want_w, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_x, want_x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["bigru", "bilstm"])
def test_model_trains_through_the_fast_path(arch: str) -> None:
    model = build_inference_model(Config(model=ModelConfig(arch=arch, rnn_units=4, rnn_layers=2)))
    grus = [
        side
        for layer in model.layers
        if isinstance(layer, layers.Bidirectional)
        for side in (layer.forward_layer, layer.backward_layer)
    ]
    assert len(grus) == 4
    assert all(isinstance(g, CELLS[arch[2:]][1]) and g._fast_path_applies(True) for g in grus)
    # inference keeps Keras's own loop, and configurations it does not cover fall back
    assert not grus[0]._fast_path_applies(False)
    assert not FastGRU(4, return_sequences=True, dropout=0.2)._fast_path_applies(True)
    assert not FastGRU(4, return_sequences=True, reset_after=False)._fast_path_applies(True)
    assert not FastLSTM(4, return_sequences=True, recurrent_dropout=0.1)._fast_path_applies(True)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
@pytest.mark.skipif(keras.backend.backend() == "jax", reason="already running under jax")
def test_equal_under_jax_too() -> None:
    """The suite runs under TensorFlow; the shipped model is trained under JAX."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    here = Path(__file__)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            str(here),
            "-k",
            "equal_keras or loss_falls",
        ],
        env=env,
        cwd=here.parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "14 passed" in result.stdout


@pytest.mark.parametrize("arch", ["bigru", "bilstm"])
def test_ctc_loss_falls_through_the_fast_path(arch: str) -> None:
    """A tiny model memorizes one padded batch: the hand-written gradients really train."""
    from asr.model import build_training_model

    config = Config(model=ModelConfig(arch=arch, rnn_units=16, rnn_layers=1, conv_filters=16))
    training = build_training_model(build_inference_model(config))
    training.compile(optimizer=keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(3)
    frames = np.array([60, 44, 30])
    batch = {
        "features": rng.standard_normal((3, 64, config.features.dim)).astype("float32"),
        "input_length": np.array([config.model.output_length(int(n)) for n in frames], "int32"),
        "labels": rng.integers(1, 28, (3, 8)).astype("int32"),
        "label_length": np.array([8, 6, 4], "int32"),
    }
    batch["features"][np.arange(64)[None, :] >= frames[:, None]] = 0.0
    losses = [float(training.train_on_batch(batch)) for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0], losses
