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
import time
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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(argv: list[str], logs: Path, processes: int = 2) -> list[subprocess.Popen]:
    """``processes`` JAX processes of one run, talking over loopback; stderr to logs/I.txt."""
    port = _free_port()
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    env.pop("XLA_FLAGS", None)  # one device per process
    logs.mkdir(parents=True, exist_ok=True)
    workers = []
    for i in range(processes):
        run = [*argv, "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes)]
        run += ["--process-id", str(i)]
        with (logs / f"{i}.txt").open("w") as err:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", _RUN, json.dumps([run])],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    text=True,
                )
            )
    return workers


def _log_lines(logs: Path, i: int) -> str:
    """A worker's stderr without the engines' start-up chatter and C++ stack frames."""
    lines = (logs / f"{i}.txt").read_text().splitlines()
    keep = [x for x in lines if not x.lstrip().startswith(("@", "I0000", "WARNING: All"))]
    return "\n".join(keep[-40:])


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_two_processes_train_like_one(corpus: Corpus, tmp_path: Path) -> None:
    """Two processes over 127.0.0.1, one device each, a global batch of 8 (4 rows each),
    train like one process on the same batches. Augmentation is off: its draws are per
    process (statistically the same, not bit for bit)."""
    one, two = tmp_path / "one", tmp_path / "two"
    flags = (*BUCKETED_FLAGS, "--no-augment")
    done = _run("jax", [train_argv(corpus, one, 2, flags=flags)])
    assert done.returncode == 0, done.stderr[-3000:]
    logs = tmp_path / "logs"
    workers = _workers(train_argv(corpus, two, 2, flags=flags), logs)
    codes = [w.wait(timeout=600) for w in workers]
    assert codes == [0, 0], _log_lines(logs, 0) + "\n----\n" + _log_lines(logs, 1)
    assert "in 2 processes, 4 utterances each per step" in (logs / "0.txt").read_text()
    assert "epoch 1:" not in (logs / "1.txt").read_text()  # process 1 neither logs nor writes
    _same_training(one, two)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_a_killed_process_stops_the_run_and_resume_continues_it(
    corpus: Corpus, tmp_path: Path
) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    argv = train_argv(corpus, run, 12, flags=BUCKETED_FLAGS)
    workers = _workers(argv, logs)
    deadline = time.monotonic() + 300
    # after epoch 1's resume point (the run's epoch-0 point exists from the start)
    latest = run / "resume" / "latest"
    while time.monotonic() < deadline and not (
        latest.is_file() and latest.read_text().strip() not in ("", "epoch-0000")
    ):
        time.sleep(0.5)
    assert latest.is_file() and latest.read_text().strip() != "epoch-0000", _log_lines(logs, 0)
    workers[1].kill()
    assert workers[0].wait(timeout=120) == 2  # at once, not after the engine's heartbeat timeout
    error = (logs / "0.txt").read_text().strip().splitlines()[-1]
    assert error.startswith("asr train: error: process 0 of 2: another process died"), error
    assert "start all 2 again with --resume" in error
    done = len(_history(run))
    assert f"continues after epoch {done}" in error
    assert 1 <= done < 12
    workers = _workers([*argv, "--resume"], tmp_path / "logs2")
    codes = [w.wait(timeout=600) for w in workers]
    assert codes == [0, 0], _log_lines(tmp_path / "logs2", 0)
    assert len(_history(run)) == 12
