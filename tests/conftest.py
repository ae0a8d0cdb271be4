"""Shared fixtures: tiny model configs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from asr.config import Config, ModelConfig  # noqa: E402


@pytest.fixture
def tiny_config() -> Config:
    """A model small enough to build and run in well under a second."""
    return Config(model=ModelConfig(rnn_units=16, rnn_layers=2, conv_filters=16, dropout=0.0))
