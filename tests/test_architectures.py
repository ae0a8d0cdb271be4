"""The architecture registry: a new model is one builder and one registry entry; the config,
the model factory, output lengths and the CLI's --arch choices all follow from it."""

from __future__ import annotations

import argparse

import keras
import numpy as np
import pytest

import asr.architectures as registry
from asr.architectures import CTC, Architecture, architecture_names, get_architecture
from asr.cli import build_parser
from asr.config import Config, ModelConfig
from asr.model import build_inference_model


def build_framewise(config: Config, fast: bool = True) -> keras.Model:
    """A per-frame dense CTC model: no conv, no RNN (time reduction 1)."""
    features = keras.Input((None, config.features.dim), name="features")
    lengths = keras.Input((), dtype="int32", name="input_length")
    logits = keras.layers.Dense(config.num_classes, name="logits")(features)
    return keras.Model({"features": features, "input_length": lengths}, logits)


@pytest.fixture
def framewise(monkeypatch: pytest.MonkeyPatch) -> Architecture:
    arch = Architecture(
        "framewise", CTC, f"{__name__}:build_framewise", "per-frame dense", lambda m: 1
    )
    monkeypatch.setitem(registry.ARCHITECTURES, "framewise", arch)
    return arch


def _arch_choices() -> list[str]:
    train = next(
        a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
        if "--arch" in a.option_strings
    )  # fmt: skip
    assert isinstance(train, argparse.Action)
    return list(train.choices)


def test_shipped_architectures_are_registered() -> None:
    assert architecture_names() == ["bigru", "bilstm"] == _arch_choices()
    assert get_architecture("bigru").time_reduction(ModelConfig(conv_stride=3)) == 3


def test_a_registered_architecture_plugs_in_everywhere(framewise: Architecture) -> None:
    assert "framewise" in _arch_choices()
    config = Config(model=ModelConfig(arch="framewise", conv_filters=0, conv_stride=1))
    assert config.model.time_reduction == 1 and config.model.output_length(37) == 37
    model = build_inference_model(config)
    x = np.zeros((2, 37, config.features.dim), np.float32)
    y = model.predict_on_batch({"features": x, "input_length": np.array([37, 20], np.int32)})
    assert y.shape == (2, 37, config.num_classes)


def test_unknown_architecture_and_task_name_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown ctc architecture 'transformer'.*bigru"):
        ModelConfig(arch="transformer")
    with pytest.raises(ValueError, match="unknown task 'speak'"):
        Config(task="speak")
    with pytest.raises(ValueError, match="classify config needs a ClassifierModelConfig"):
        Config(task="classify")  # a CTC model config under the classify task
    assert Config.from_dict({}).task == CTC  # config.json of older models: CTC
