"""The registries at the model joints: tasks, and architectures (name -> builder).

Keras-free on purpose: config.json is validated against these tables, and `asr --help` lists
their names, without importing a deep-learning framework. A builder is named as
``"module:function"`` and imported only when a model is built.

To add an architecture, write its builder ``(config, fast: bool) -> keras.Model`` in a module
of its own and add one ``Architecture`` line below; the CLI's ``--arch`` choices follow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asr.config import Config, ModelConfig

CTC = "ctc"  # character CTC speech-to-text
CLASSIFY = "classify"  # one label per clip, or per frame (asr.classify)
TASKS = (CTC, CLASSIFY)  # what config.json's "task" may say
ENCODER = "encoder"  # the classifier that reads through a trained speech model (asr.transfer)


@dataclass(frozen=True)
class Architecture:
    """A named network family for one task, and how much it shortens time."""

    name: str
    task: str
    builder: str  # "module:function" taking (Config, fast: bool) and returning a keras.Model
    summary: str  # one line for --help
    time_reduction: Callable[[Any], int]  # input frames per output frame, from the model config
    recurrent: bool = False  # takes masked variable-length input (and may output per frame)

    def build(self, config: Config, fast: bool = True) -> Any:
        """The inference model; ``fast=False`` uses only stock Keras layers (for saving)."""
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)(config, fast=fast)


def _conv_stride(model: ModelConfig) -> int:
    return model.conv_stride


def _no_reduction(model: Any) -> int:
    return 1


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "bigru",
            CTC,
            "asr.model:build_rnn_ctc",
            "strided Conv1D front end + bidirectional GRU stack",
            _conv_stride,
        ),
        Architecture(
            "bilstm",
            CTC,
            "asr.model:build_rnn_ctc",
            "strided Conv1D front end + bidirectional LSTM stack",
            _conv_stride,
        ),
        Architecture(
            "dense",
            CLASSIFY,
            "asr.classifiers:build_dense",
            "the perceptron: fixed frames flattened, one hidden layer",
            _no_reduction,
        ),
        Architecture(
            "cnn",
            CLASSIFY,
            "asr.classifiers:build_cnn",
            "Conv1D blocks along time (batch norm, pooling), global pooling, dropout",
            _no_reduction,
        ),
        Architecture(
            "matchbox",
            CLASSIFY,
            "asr.classifiers:build_matchbox",
            "MatchboxNet: residual blocks of time-channel separable Conv1D, global pooling",
            _no_reduction,
        ),
        Architecture(
            "lstm",
            CLASSIFY,
            "asr.classifiers:build_lstm",
            "masked LSTM over variable-length frames; per clip or per frame",
            _no_reduction,
            recurrent=True,
        ),
        Architecture(
            "crnn",
            CLASSIFY,
            "asr.classifiers:build_crnn",
            "TimeDistributed Conv1D over each frame's features + LSTM, optional "
            "deltas/zero-crossing-rate branch; per clip or per frame",
            _no_reduction,
            recurrent=True,
        ),
        Architecture(
            ENCODER,
            CLASSIFY,
            "asr.transfer:build_encoder_classifier",
            "a trained speech model's conv + RNN layers (--encoder DIR, frozen) under a small "
            "conv head; per clip",
            _no_reduction,
            recurrent=True,
        ),
    )
}


def architecture_names(task: str = CTC) -> list[str]:
    """Names registered for ``task``, sorted: the CLI's ``--arch`` choices."""
    return sorted(name for name, a in ARCHITECTURES.items() if a.task == task)


def get_architecture(name: str, task: str = CTC) -> Architecture:
    """The registered architecture; ValueError naming the choices otherwise."""
    arch = ARCHITECTURES.get(name)
    if arch is None or arch.task != task:
        raise ValueError(
            f"unknown {task} architecture {name!r}; choose one of {architecture_names(task)}"
        )
    return arch
