"""Classifier networks (task "classify"): the builders asr.architectures names for dense,
cnn, matchbox, lstm and crnn.

Every model maps ``{"features": (B, T, D) float}`` (plus ``"input_length": (B,) int`` for
the recurrent families, which mask padding) to class probabilities: ``(B, C)`` per clip, or
``(B, T, C)`` per frame. Outputs are softmax probabilities trained with the *sparse*
cross-entropy on integer labels, so nobody one-hot-encodes anything (the classic
``(5, 1) vs (5, 10)`` shape error of a one-hot loss fed integers cannot happen). Only stock
Keras layers and ``keras.ops`` calls: model.keras loads with ``safe_mode=True``.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from asr.config import ClassifierModelConfig, Config
from asr.model import _length_mask

OUTPUT = "probs"


def _model_config(config: Config) -> ClassifierModelConfig:
    model = config.model
    if not isinstance(model, ClassifierModelConfig):
        raise ValueError(f"not a classifier config: task {config.task!r}")
    return model


def _features(config: Config) -> keras.KerasTensor:
    frames = _model_config(config).frames or None
    return keras.Input((frames, config.features.dim), name="features")


def _head(x, config: Config) -> keras.KerasTensor:
    """Dropout, then class probabilities (per frame when ``x`` is (B, T, units))."""
    m = _model_config(config)
    if m.dropout > 0:
        x = layers.Dropout(m.dropout, name="head_dropout")(x)
    return layers.Dense(config.num_classes, activation="softmax", name=OUTPUT, dtype="float32")(x)


def build_dense(config: Config, fast: bool = True) -> keras.Model:
    """The perceptron of system 3: every frame of a fixed-length clip into one hidden layer."""
    m = _model_config(config)
    features = _features(config)
    x = layers.Flatten(name="flatten")(features)
    x = layers.Dense(m.units, activation="relu", name="hidden")(x)
    return keras.Model({"features": features}, _head(x, config), name="dense")


def build_cnn(config: Config, fast: bool = True) -> keras.Model:
    """Conv1D blocks along time with each frame's features as channels (batch norm, ReLU,
    pooling), then global average pooling over time and dropout.

    Why along time: cepstral or mel axes are not translation-invariant, so Conv2D blocks
    pooled over both axes threw away which band a pattern was in. On the synthetic keyword
    task (12 classes, held-out voices, 8 epochs) Conv2D + global pooling reached 37 % val
    accuracy at 5 s an epoch; these temporal blocks 76 % at 0.5 s (docs/EXPERIMENTS.md).
    Pooling over time lets a word sit anywhere in the clip and keeps the model small.
    """
    m = _model_config(config)
    features = _features(config)
    x = features
    for i in range(m.conv_layers):
        x = layers.Conv1D(m.filters, m.kernel, padding="same", use_bias=False, name=f"conv_{i}")(x)
        x = layers.BatchNormalization(name=f"conv_norm_{i}")(x)
        x = layers.ReLU(name=f"conv_relu_{i}")(x)
        x = layers.MaxPooling1D(2, padding="same", name=f"conv_pool_{i}")(x)
    x = layers.GlobalAveragePooling1D(name="global_pool")(x)
    return keras.Model({"features": features}, _head(x, config), name="cnn")


MATCHBOX_REPEATS = 2  # separable conv layers inside each residual block


def _separable(x, filters: int, kernel: int, name: str, dilation: int = 1):
    """A time-channel separable Conv1D (a depthwise conv along time, then a pointwise one
    across channels), batch norm; the caller adds the ReLU."""
    x = layers.SeparableConv1D(
        filters, kernel, padding="same", dilation_rate=dilation, use_bias=False, name=name
    )(x)
    return layers.BatchNormalization(name=f"{name}_norm")(x)


def build_matchbox(config: Config, fast: bool = True) -> keras.Model:
    """MatchboxNet's shape (Majumdar & Ginsburg, 2020) at our scale: a separable prologue,
    ``conv_layers`` residual blocks of ``filters`` channels (each two separable convs, widths
    ``kernel``, ``kernel`` + 2, ...), a dilated separable epilogue and a pointwise layer of
    ``units``, then global average pooling and the head.

    Why: at under 100 k parameters a plain conv stack is three layers deep, and its errors
    sit on voices it never heard; separable convs buy depth and a wide receptive field
    (about 1 s of context at the epilogue) for the same parameter count.
    """
    m = _model_config(config)
    features = _features(config)
    x = layers.ReLU(name="prologue_relu")(_separable(features, m.filters, 11, "prologue"))
    for b in range(m.conv_layers):
        width = m.kernel + 2 * b
        shortcut = layers.Conv1D(m.filters, 1, use_bias=False, name=f"block_{b}_shortcut")(x)
        shortcut = layers.BatchNormalization(name=f"block_{b}_shortcut_norm")(shortcut)
        for r in range(MATCHBOX_REPEATS):
            x = _separable(x, m.filters, width, f"block_{b}_conv_{r}")
            if r + 1 < MATCHBOX_REPEATS:
                x = layers.ReLU(name=f"block_{b}_relu_{r}")(x)
        x = layers.Add(name=f"block_{b}_add")([x, shortcut])
        x = layers.ReLU(name=f"block_{b}_relu")(x)
    x = layers.ReLU(name="epilogue_relu")(_separable(x, m.units, 29, "epilogue", dilation=2))
    x = layers.Conv1D(m.units, 1, use_bias=False, name="pointwise")(x)
    x = layers.BatchNormalization(name="pointwise_norm")(x)
    x = layers.ReLU(name="pointwise_relu")(x)
    x = layers.GlobalAveragePooling1D(name="global_pool")(x)
    return keras.Model({"features": features}, _head(x, config), name="matchbox")


def _lstm(m: ClassifierModelConfig) -> layers.Layer:
    """The LSTM, read both ways when asked: a per-frame model then knows a word from its
    first frame on instead of near its end, which is what onsets in detection need."""
    lstm = layers.LSTM(m.units, return_sequences=m.per_frame, name="lstm")
    return layers.Bidirectional(lstm, name="bilstm") if m.bidirectional else lstm


def _recurrent_inputs(config: Config) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    return _features(config), keras.Input((), dtype="int32", name="input_length")


def build_lstm(config: Config, fast: bool = True) -> keras.Model:
    """A masked LSTM (systems 1 and 2): its last real frame per clip, or every frame."""
    m = _model_config(config)
    features, input_length = _recurrent_inputs(config)
    mask = _length_mask(features, input_length)
    x = _lstm(m)(features, mask=mask)
    inputs = {"features": features, "input_length": input_length}
    return keras.Model(inputs, _head(x, config), name="lstm")


def build_crnn(config: Config, fast: bool = True) -> keras.Model:
    """System 4: a convolution along each frame's features (with the channel axis it needs
    added first), batch norm, pooling, then a masked LSTM; with ``aux`` a second per-frame
    branch on the deltas and zero-crossing rate joins before the head.

    System 4 wrote the frame convolution as ``TimeDistributed(Conv1D(f, k))``; here it is
    the identical ``Conv2D(f, (1, k))`` (and ``MaxPooling2D((1, 2))``), because Keras 3.15's
    TimeDistributed maps over the *batch* size instead of the time steps when the time axis
    is dynamic inside a compiled graph (``vectorized_map(step, arange(input_shape[0]))`` is
    taken before the transpose), which broke per-frame training on variable-length clips.
    """
    m = _model_config(config)
    fc = config.features
    features, input_length = _recurrent_inputs(config)
    main = features
    if m.aux:  # the spectrum; aux: the zero-crossing rate, the pitch and all deltas
        main = features[..., : fc.spectral_dim]
        aux = features[..., fc.spectral_dim :]
    dims = int(main.shape[-1])
    x = layers.Reshape((-1, dims, 1), name="add_channel")(main)
    width = min(m.kernel, dims)
    x = layers.Conv2D(m.filters, (1, width), padding="same", activation="relu", name="frame_conv")(
        x
    )
    x = layers.BatchNormalization(name="frame_norm")(x)
    x = layers.MaxPooling2D((1, 2), padding="same", name="frame_pool")(x)
    x = layers.Reshape((-1, math.ceil(dims / 2) * m.filters), name="frame_flatten")(x)
    if m.dropout > 0:
        x = layers.Dropout(m.dropout, name="frame_dropout")(x)
    mask = _length_mask(features, input_length)
    x = _lstm(m)(x, mask=mask)
    if m.aux:
        side = layers.Dense(m.units, activation="relu", name="aux_dense")(aux)
        x = layers.Concatenate(name="join")([x, side])
    inputs = {"features": features, "input_length": input_length}
    return keras.Model(inputs, _head(x, config), name="crnn")
