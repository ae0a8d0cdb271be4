"""Classifiers that read through a trained speech model (the "encoder" architecture).

The word classifiers' errors sit on voices unlike any they trained on; the CTC speech model
heard tens of hours of many voices and real people, and its RNN layers carry what was said
more than who said it. This classifier keeps the speech model's conv front end and its first
RNN layers, frozen (or its top ``encoder_tune`` RNN layers fine-tuned, and past them its conv
front end), and trains a small head on their outputs: a Conv1D, max and mean pooling over
the real frames, one hidden layer and the softmax (docs/EXPERIMENTS.md has the held-out
figures against the cnn).

The speech model's weights are copied in when training starts, and its features and
normalization become the classifier's own: the classifier's directory needs nothing from
the speech model's afterwards, and its config.json records the encoder's shape. The speech
model's dropout stays active in training, as when it learned (the measured runs trained so).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import keras
from keras import layers, ops

from asr.architectures import CTC
from asr.classifiers import _head, _model_config
from asr.config import (
    MODEL_NAME,
    ClassifierModelConfig,
    Config,
    ModelConfig,
    encoder_tune_groups,
    load_config,
)
from asr.errors import AsrError, ConfigError
from asr.model import _length_mask, encoder_layer_names, speech_encoder

BRANCH_DROP = 1 / 3  # the chance that a training clip's encoder (or cnn) branch is dropped


def speech_encoder_config(model_dir: str | os.PathLike, layers: int | None = None) -> Config:
    """The speech model's config with its RNN stack cut to the first ``layers`` (all when
    None): what an encoder classifier copies. A non-CTC directory is an error naming it."""
    config = load_config(Path(model_dir))
    if config.task != CTC:
        raise AsrError(
            f"{model_dir}: holds a {config.task} model; --encoder needs a speech model made "
            "by asr train (e.g. checkpoints/default)"
        )
    if not (Path(model_dir) / MODEL_NAME).is_file():
        raise AsrError(
            f"{Path(model_dir) / MODEL_NAME}: not found; --encoder needs a speech model "
            "directory with its weights (e.g. checkpoints/default)"
        )
    total = config.model.rnn_layers
    if layers is not None and not 1 <= layers <= total:
        raise AsrError(
            f"--encoder-layers {layers}: {model_dir} has {total} RNN layers; pass 1 to {total}"
        )
    return replace(config, model=replace(config.model, rnn_layers=layers or total))


def build_encoder_classifier(config: Config, fast: bool = True) -> keras.Model:
    """Frozen speech encoder, then Conv1D, masked max + mean pooling, hidden layer, softmax;
    with ``cnn_branch`` a cnn on the clip's own mean-normalized features joins before the
    hidden layer.

    ``input_length`` counts feature frames, as for the other recurrent classifiers; the
    encoder's own output lengths follow from its conv stride.
    """
    m = _model_config(config)
    encoder = m.encoder
    assert encoder is not None  # ClassifierModelConfig refuses the encoder arch without one
    features = keras.Input((m.frames or None, config.features.dim), name="features")
    input_length = keras.Input((), dtype="int32", name="input_length")
    stride = encoder.time_reduction
    lengths = ops.floor_divide(ops.cast(input_length, "int32") + (stride - 1), stride)
    # zero what lies past each clip's length: the conv front end reaches a few frames past
    x = speech_encoder(features * _real(features, input_length), lengths, encoder, fast)
    pooled = _conv_pooled(x, lengths, m, "encoder")
    if m.cnn_branch:
        own = _conv_pooled(_mean_normalized(features, input_length), input_length, m, "cnn")
        # each branch is dropped whole at random in training, so that either alone can name
        # a clip and the head does not lean on the one that fits the training voices best
        pooled = layers.Concatenate(name="join")(
            [
                layers.Dropout(BRANCH_DROP, noise_shape=(None, 1), name="drop_encoder")(pooled),
                layers.Dropout(BRANCH_DROP, noise_shape=(None, 1), name="drop_cnn")(own),
            ]
        )
    x = layers.Dense(m.units, activation="relu", name="head_hidden")(pooled)
    inputs = {"features": features, "input_length": input_length}
    model = keras.Model(inputs, _head(x, config), name="encoder_classifier")
    groups = encoder_tune_groups(encoder)
    for group in groups[: len(groups) - m.encoder_tune]:  # the top encoder_tune groups train
        for name in group:
            model.get_layer(name).trainable = False
    return model


def _real(x, lengths):
    """(B, T, 1) float: 1 on each row's first ``lengths`` frames, 0 on padding."""
    return ops.cast(ops.expand_dims(_length_mask(x, lengths), -1), x.dtype)


def _conv_pooled(x, lengths, m: ClassifierModelConfig, name: str):
    """Padding zeroed, dropout, Conv1D + ReLU blocks (one over the encoder, ``conv_layers``
    over the clip's own features), then max and mean over the real frames."""
    real = _real(x, lengths)
    x = x * real  # padding to zero (and any RNN mask off: the layers below take none)
    if m.dropout > 0:
        x = layers.Dropout(m.dropout, name=f"{name}_dropout")(x)
    blocks = m.conv_layers if name == "cnn" else 1
    for i in range(blocks):
        suffix = f"_{i}" if blocks > 1 else ""
        x = layers.Conv1D(
            m.filters, m.kernel, padding="same", activation="relu", name=f"{name}_conv{suffix}"
        )(x)
        x = x * real  # ReLU outputs are >= 0, so zeroed padding never wins the max
    count = ops.maximum(ops.sum(real, axis=1), 1.0)
    return layers.Concatenate(name=f"{name}_pool")([ops.max(x, axis=1), ops.sum(x, axis=1) / count])


def _mean_normalized(features, lengths):
    """Each clip's features less their mean over its real frames (per-utterance CMN; the
    speech model's features come without it)."""
    real = _real(features, lengths)
    mean = ops.sum(features * real, axis=1, keepdims=True) / ops.maximum(
        ops.sum(real, axis=1, keepdims=True), 1.0
    )
    return (features - mean) * real


def copy_encoder_weights(
    model: keras.Model, model_dir: str | os.PathLike, encoder: ModelConfig
) -> None:
    """Copy the speech model's conv and RNN weights into ``model``'s encoder, layer by name."""
    from asr.modelio import load_inference_model

    try:
        speech = load_inference_model(Path(model_dir), load_config(Path(model_dir)))
    except ConfigError as e:
        raise AsrError(f"--encoder {model_dir}: {e}") from e
    for name in encoder_layer_names(encoder):
        model.get_layer(name).set_weights(speech.get_layer(name).get_weights())
