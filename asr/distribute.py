"""Data parallelism on Keras' own engines: ``asr train --devices N|all``.

Each global batch (``--batch-size``) is split evenly over N local devices. The engine is the
active Keras backend's: ``keras.distribution.DataParallel`` under JAX (variables replicated,
the batch sharded along its first axis, gradients reduced by XLA), TensorFlow's
``MirroredStrategy`` under TensorFlow (one replica per device, gradients all-reduced). Nothing
here is a home-made gradient exchange; this module only picks the devices, checks that the
batch splits, and gives `asr train` a scope to build and compile the model in.

One device means no distribution at all: the code path of a plain run.

One correction to an engine: Keras 3 under ``MirroredStrategy`` applies ``global_clipnorm``
to each replica's own gradients before they are summed (a known trade-off of Keras'
optimizer design, tensorflow/tensorflow#33929), so N devices clipped N partial gradients
and trained differently from one device. :func:`adam` sums first, then clips.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from asr.errors import AsrError


def parse_devices(text: str) -> int | None:
    """``--devices``: a positive count, or ``all`` (None)."""
    if text == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise AsrError(f"--devices {text!r}: give a positive number of devices or 'all'")
    return count


@dataclass
class Parallel:
    """The devices a run trains on and the scope its model must be built and compiled in."""

    names: list[str]
    backend: str
    _strategy: Any = field(default=None, repr=False)
    process_id: int = 0
    num_processes: int = 1

    @property
    def count(self) -> int:
        """Replicas each batch is split over (all processes' devices together)."""
        return len(self.names)

    @property
    def chief(self) -> bool:
        """Process 0 alone writes the model directory, history and resume state."""
        return self.process_id == 0

    @property
    def share(self) -> tuple[int, int]:
        """(this process, processes): which rows of every global batch this process feeds."""
        return self.process_id, self.num_processes

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build and compile inside this: TensorFlow's strategy places mirrored variables."""
        if self._strategy is not None:
            with self._strategy.scope():
                yield
        else:
            yield

    def close(self) -> None:
        """Undo a global JAX distribution, so later models in this process are plain again."""
        if self.backend == "jax" and (self.count > 1 or self.num_processes > 1):
            keras.distribution.set_distribution(None)

    def pad_rows(self, batch: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        # every process feeds the whole validation batch and gets its own rows back, so the
        # rows must split over this process's devices
        """A batch with rows repeated up to a multiple of the device count, and the true row
        count (outputs beyond it are dropped). Validation batches are not dropped when ragged,
        and a sharded batch must split evenly."""
        rows = len(batch["features"])
        extra = -rows % (self.count // self.num_processes)
        if not extra:
            return batch, rows
        take = np.concatenate([np.arange(rows), np.zeros(extra, dtype=np.int64)])
        return {k: v[take] for k, v in batch.items()}, rows


def initialize_processes(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join a multi-process (multi-machine) JAX run through ``keras.distribution.initialize``
    (``jax.distributed`` underneath: process 0 hosts the coordinator at HOST:PORT)."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise AsrError(
            f"--num-processes needs KERAS_BACKEND=jax (the {backend} backend has no "
            "multi-process engine here); set it, or train on one machine with --devices"
        )
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise AsrError(
            f"--process-id {process_id} with --num-processes {num_processes}: "
            f"give each process an id from 0 to {num_processes - 1}"
        )
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise AsrError(f"--coordinator {coordinator!r}: give HOST:PORT, e.g. 10.0.0.1:1234")
    keras.distribution.initialize(coordinator, num_processes, process_id)


def available_devices(backend: str, per_process: int | None = None) -> list[str]:
    """Accelerators if there are any, else the CPU devices the engine sees; in a
    multi-process JAX run the first ``per_process`` local devices of every process."""
    if backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"] or jax.devices("cpu")
        if jax.process_count() > 1:
            by_process: dict[int, list] = {}
            for d in devices:
                by_process.setdefault(d.process_index, []).append(d)
            devices = [d for p in sorted(by_process) for d in by_process[p][:per_process]]
        return [f"{d.platform}:{d.id}" for d in devices]
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return [d.name for d in devices]
    return ["cpu:0"]


def setup(requested: int | None, batch_size: int) -> Parallel:
    """Choose ``requested`` devices (None: all of them) and install the engine's data
    parallelism; call before the model is built."""
    backend = keras.backend.backend()
    processes, process_id = 1, 0
    if backend == "jax":
        import jax

        processes, process_id = jax.process_count(), jax.process_index()
    if processes > 1:  # --devices counts each process's own devices
        found = available_devices(backend, requested)
        local = len(found) // processes
        if requested is not None and requested > local:
            raise AsrError(
                f"--devices {requested}: each process has {local}; ask for at most {local}"
            )
        if batch_size % len(found):
            raise AsrError(
                f"--batch-size {batch_size} does not split evenly over {len(found)} devices "
                f"in {processes} processes; use a multiple of {len(found)}"
            )
        distribution = keras.distribution.DataParallel(devices=found)
        distribution.auto_shard_dataset = False  # each process reads its own rows already
        keras.distribution.set_distribution(distribution)
        return Parallel(found, backend, None, process_id, processes)
    found = available_devices(backend)
    count = len(found) if requested is None else requested
    if count > len(found):
        raise AsrError(
            f"--devices {count}: the {backend} backend sees {len(found)} "
            f"({', '.join(found)}); ask for at most {len(found)}"
        )
    names = found[:count]
    if count == 1:
        return Parallel(names, backend)
    if batch_size % count:
        raise AsrError(
            f"--batch-size {batch_size} does not split evenly over {count} devices; "
            f"use a multiple of {count}"
        )
    if backend == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=names))
        return Parallel(names, backend)
    if backend == "tensorflow":
        import tensorflow as tf

        return Parallel(names, backend, tf.distribute.MirroredStrategy(devices=names))
    raise AsrError(f"--devices needs the jax or tensorflow backend, not {backend}")


def adam(rate: Any, parallel: Parallel, clipnorm: float) -> keras.optimizers.Optimizer:
    """Adam with the gradient clipped by its global norm over the whole batch, however many
    replicas computed it."""
    if parallel.backend != "tensorflow" or parallel.count == 1:
        return keras.optimizers.Adam(rate, global_clipnorm=clipnorm)
    import tensorflow as tf

    class SumThenClipAdam(keras.optimizers.Adam):
        """Adam whose clipping sees the all-reduced gradient (see the module docstring)."""

        def _clip_gradients(self, grads):
            context = tf.distribute.get_replica_context()
            if context is not None and all(g is not None for g in grads):
                grads = context.all_reduce(tf.distribute.ReduceOp.SUM, list(grads))
            return super()._clip_gradients(grads)

        def _all_reduce_sum_gradients(self, grads_and_vars):
            return list(grads_and_vars)  # summed already, before clipping

    return SumThenClipAdam(rate, global_clipnorm=clipnorm)
