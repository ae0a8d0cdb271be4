"""`asr train --devices N`: one global batch split over two devices trains like one device.

Two devices on a CPU-only machine: JAX with ``--xla_force_host_platform_device_count=2``,
TensorFlow with two logical CPU devices. Each case runs in a fresh process, because both
settings must be made before the engine starts. Tolerance: float32 sums reduced in another
order differ by about 1e-6 relative per step; after a few steps of Adam we allow 1e-4
relative on the losses and 2e-4 absolute on the weights.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from e2e_support import BUCKETED_FLAGS, ROOT, TRAIN_FLAGS, Corpus, one_line_error, train_argv

from asr.cli import main
from asr.distribute import parse_devices
from asr.errors import AsrError

LOSS_RTOL = 1e-4
WEIGHT_ATOL = 2e-4

_RUN = """
import json, sys
from asr.cli import main
for argv in json.loads(sys.argv[1]):
    if main(argv) != 0:
        sys.exit(1)
"""

_TWO_TF_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def _run(backend: str, runs: list[list[str]], prelude: str = "") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-c", prelude + _RUN, json.dumps(runs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _history(run: Path) -> np.ndarray:
    lines = (run / "history.csv").read_text().splitlines()
    head = lines[0].split(",")
    return np.array(
        [[float(row.split(",")[head.index(k)]) for k in ("loss", "val_loss")] for row in lines[1:]]
    )


def _weights(run: Path) -> list[np.ndarray]:
    latest = (run / "resume" / "latest").read_text().strip()
    arrays: list[np.ndarray] = []
    with h5py.File(run / "resume" / latest / "training.weights.h5") as f:
        f.visititems(lambda _, v: arrays.append(v[()]) if isinstance(v, h5py.Dataset) else None)
    return arrays


def _same_training(one: Path, two: Path) -> None:
    np.testing.assert_allclose(_history(two), _history(one), rtol=LOSS_RTOL)
    for a, b in zip(_weights(one), _weights(two), strict=True):
        np.testing.assert_allclose(b, a, atol=WEIGHT_ATOL)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_jax_data_parallel_equals_one_device(corpus: Corpus, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    runs = [
        train_argv(corpus, one, 2, "--devices", "1", flags=BUCKETED_FLAGS),
        train_argv(corpus, two, 2, "--devices", "2", flags=BUCKETED_FLAGS),
    ]
    done = _run("jax", runs)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data parallel over 2 devices (cpu:0, cpu:1), 4 utterances each" in done.stderr
    _same_training(one, two)
    # resuming a two-device run continues it (the resume state is the engine's, not per device)
    done = _run(
        "jax", [train_argv(corpus, two, 3, "--devices", "2", "--resume", flags=BUCKETED_FLAGS)]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_history(two)) == 3


def test_tensorflow_mirrored_strategy_equals_one_device(corpus: Corpus, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    runs = [
        train_argv(corpus, one, 2, "--devices", "1", flags=TRAIN_FLAGS),
        train_argv(corpus, two, 2, "--devices", "all", flags=TRAIN_FLAGS),
    ]
    done = _run("tensorflow", runs, prelude=_TWO_TF_CPUS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data parallel over 2 devices" in done.stderr
    _same_training(one, two)


def test_devices_errors_are_one_line_and_write_nothing(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for text in ("0", "two", "-1"):
        with pytest.raises(AsrError, match="positive number of devices or 'all'"):
            parse_devices(text)
    assert parse_devices("all") is None and parse_devices("3") == 3
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(train_argv(corpus, out, 1, "--devices", "64")) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "--devices 64" in line and "ask for at most" in line
    assert not out.exists()
