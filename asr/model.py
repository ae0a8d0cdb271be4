"""Networks only: the conv + bidirectional RNN CTC model and the training model that shares
its layers. ``build_rnn_ctc`` is the builder the architecture registry names for "bigru" and
"bilstm" (see asr/architectures.py).

Written with keras.layers and keras.ops, so the same code trains under
KERAS_BACKEND=tensorflow, jax or torch; the one tf.* call is TensorFlow's compiled CTC
kernel, used under that backend on a CPU only (see :func:`_ctc_loss`). The inference
model maps ``{"features": (B, T, D) float, "input_length": (B,) int}`` to
``(B, ceil(T / stride), C)`` logits (no softmax; class 0 is the CTC blank);
``input_length`` counts *output* frames and masks both RNN directions, so padding never
changes an utterance's output. The mask is built from ``keras.ops`` calls, which Keras saves
as stock operations: with ``fast=False`` (how model.keras is saved) the inference model holds
no class of ours and loads with ``safe_mode=True`` without ``import asr``.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from asr.architectures import get_architecture
from asr.config import Config, ModelConfig, encoder_tune_groups
from asr.rnn import PACKAGE, FastGRU, FastLSTM, tensorflow_gpu


def _ctc_loss(labels, logits, label_length, logit_length):
    """Per-utterance CTC loss, blank 0, from int32 labels and lengths and float32 logits.

    Why not always ``ops.ctc_loss``: under TensorFlow it runs the dense forward-backward as
    a graph loop, 200 ms of a 560 ms training step on 2 CPU cores (batch 32, 200 output
    frames). TensorFlow's C++ kernel (``tf.nn.ctc_loss`` with sparse labels, the kernel the
    classic ``ctc_batch_cost`` used) gives the same losses and gradients in 12 ms. It runs
    on the CPU, so a GPU keeps Keras's path. Infeasible labels never reach either: the
    batcher drops utterances too short for their transcript.
    """
    if keras.backend.backend() != "tensorflow" or tensorflow_gpu():
        return ops.ctc_loss(labels, logits, label_length, logit_length, mask_index=0)
    import tensorflow as tf

    # The kernel refuses empty labels (a noise row's: asr.data.NoiseRows). Such a row gets a
    # one-letter stand-in for the kernel and, as its loss, all blank frames' -log p.
    empty = tf.equal(label_length, 0)
    label_length = tf.where(empty, tf.ones_like(label_length), label_length)
    first = tf.equal(tf.range(tf.shape(labels)[1]), 0)[None, :]
    labels = tf.where(empty[:, None] & first, tf.ones_like(labels), labels)
    mask = tf.sequence_mask(label_length, tf.shape(labels)[1])
    sparse = tf.SparseTensor(
        tf.where(mask), tf.boolean_mask(labels, mask), tf.cast(tf.shape(labels), tf.int64)
    )
    loss = tf.nn.ctc_loss(
        sparse, logits, None, logit_length, logits_time_major=False, blank_index=0
    )
    frames = tf.sequence_mask(logit_length, tf.shape(logits)[1], dtype=logits.dtype)
    blank = -tf.reduce_sum(tf.nn.log_softmax(logits)[..., 0] * frames, axis=1)
    return tf.where(empty, blank, loss)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LengthMask(layers.Layer):
    """Boolean (B, T) mask of the first ``lengths[b]`` steps of ``x``.

    Kept only so that model.keras files written before the mask became stock ops still load.
    """

    def call(self, x, lengths):
        return _length_mask(x, lengths)

    def compute_output_spec(self, x, lengths):
        return keras.KerasTensor((x.shape[0], x.shape[1]), dtype="bool")


def _length_mask(x, lengths):
    """(B, T) bool: step t of row b is real when t < lengths[b]; stock ops, so it saves as such."""
    steps = ops.cumsum(ops.ones_like(x[..., 0], dtype="int32"), axis=1)  # 1..T per row
    return ops.less_equal(steps, ops.expand_dims(ops.cast(lengths, "int32"), 1))


@keras.saving.register_keras_serializable(package=PACKAGE)
class CTCLoss(layers.Layer):
    """Adds the mean CTC loss of a batch to the model and returns per-utterance losses.

    The Keras 3 successor of the ``ctc_batch_cost`` Lambda wrapper: true label and logit
    lengths per utterance, logits in (not softmax), blank at index 0.
    """

    def call(self, labels, logits, input_length, label_length):
        loss = _ctc_loss(
            ops.cast(labels, "int32"),
            ops.cast(logits, "float32"),
            ops.cast(label_length, "int32"),
            ops.cast(input_length, "int32"),
        )
        self.add_loss(ops.mean(loss))
        return loss

    def compute_output_spec(self, labels, logits, input_length, label_length):
        return keras.KerasTensor((labels.shape[0],), dtype="float32")


def _rnn(m: ModelConfig, index: int, fast: bool) -> layers.Layer:
    """One cuDNN-compatible bidirectional layer (default activations, no recurrent dropout).

    FastGRU and FastLSTM are Keras's GRU and LSTM with a cheaper training gradient (same
    weights and outputs); ``fast=False`` takes Keras's own.
    """
    cells = {"bigru": (FastGRU, layers.GRU), "bilstm": (FastLSTM, layers.LSTM)}
    cell = cells[m.arch][0 if fast else 1]
    return layers.Bidirectional(
        cell(m.rnn_units, return_sequences=True, name=f"{m.arch[2:]}_{index}"),
        name=f"{m.arch}_{index}",
    )


def encoder_layer_names(m: ModelConfig) -> list[str]:
    """The weighted layers of the speech encoder (conv front end, RNN stack), by name: what a
    classifier built on a speech model copies (asr.transfer)."""
    return [name for group in encoder_tune_groups(m) for name in group]


def speech_encoder(features, input_length, m: ModelConfig, fast: bool = True):
    """Conv front end and bidirectional RNN stack: (B, T, D) features -> (B, T', 2 * units).

    ``input_length`` counts output frames (ceil(T / conv_stride)) and masks the RNNs. Shared
    by the CTC model and the classifiers built on a trained speech model, with the same
    layer names, so weights move between them by name.
    """
    x = features
    if m.conv_filters > 0:
        # Explicit symmetric padding + 'valid' keeps frame alignment independent of the
        # padded batch width ('same' shifts it with parity when stride > 1).
        pad = m.conv_kernel // 2
        x = layers.ZeroPadding1D((pad, pad), name="conv_pad")(x)
        x = layers.Conv1D(
            m.conv_filters,
            m.conv_kernel,
            strides=m.conv_stride,
            padding="valid",
            activation="relu",
            name="conv",
        )(x)
        x = layers.LayerNormalization(name="conv_norm")(x)
    mask = _length_mask(x, input_length)
    for i in range(m.rnn_layers):
        if m.dropout > 0:
            x = layers.Dropout(m.dropout, name=f"dropout_{i}")(x)
        x = _rnn(m, i, fast)(x, mask=mask)
    return x


def build_rnn_ctc(config: Config, fast: bool = True) -> keras.Model:
    """The inference network: conv front end, BiGRU/BiLSTM stack, per-frame logits."""
    assert isinstance(config.model, ModelConfig)
    features = keras.Input((None, config.features.dim), name="features")
    input_length = keras.Input((), dtype="int32", name="input_length")
    x = speech_encoder(features, input_length, config.model, fast)
    logits = layers.Dense(config.num_classes, name="logits", dtype="float32")(x)
    return keras.Model({"features": features, "input_length": input_length}, logits, name="asr")


def build_inference_model(config: Config, fast: bool = True) -> keras.Model:
    """The inference model of ``config``'s registered architecture."""
    return get_architecture(config.model.arch, config.task).build(config, fast=fast)


def build_training_model(inference: keras.Model) -> keras.Model:
    """Wrap ``inference`` with a CTC-loss layer; both share every weight.

    Outputs ``{"ctc_loss": (B,), "logits": (B, T', C)}``; the layer adds the batch's mean loss,
    so ``fit`` needs no ``y`` and no compiled loss.
    """
    features, input_length = inference.input["features"], inference.input["input_length"]
    labels = keras.Input((None,), dtype="int32", name="labels")
    label_length = keras.Input((), dtype="int32", name="label_length")
    logits = inference.output
    loss = CTCLoss(name="ctc_loss")(labels, logits, input_length, label_length)
    inputs = {
        "features": features,
        "labels": labels,
        "input_length": input_length,
        "label_length": label_length,
    }
    # Logits come out too, so validation gets loss and transcripts from one compiled call.
    return keras.Model(inputs, {"ctc_loss": loss, "logits": logits}, name="asr_train")
