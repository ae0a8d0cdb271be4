"""Shared fixtures: tiny model configs and the synthesized end-to-end corpus."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
from e2e_support import Corpus, make_corpus  # noqa: E402

from asr.config import Config, ModelConfig  # noqa: E402


@pytest.fixture
def tiny_config() -> Config:
    """A model small enough to build and run in well under a second."""
    return Config(model=ModelConfig(rnn_units=16, rnn_layers=2, conv_filters=16, dropout=0.0))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """~30 espeak-ng/flite utterances split 24/6, made once for every end-to-end module."""
    return make_corpus(tmp_path_factory)
