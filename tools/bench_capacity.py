"""What more acoustic-model capacity costs per training step on this machine.

Why: the real-speech issue asks whether a wider or deeper model lowers real-dev WER, and
warns that on 2 CPU cores the recurrence (a chain of small matrix products) leaves the
cores half idle. Before spending days of training on a variant, this measures each one's
train step (batch of ``--batch`` utterances of ``--seconds`` s, fresh weights, the shipped
model's features and the in-graph CTC loss), its parameters, and the arithmetic it does per
second: the share of the machine's matrix-multiply rate (measured just before each variant,
since shared cores drift) that it uses.

    python tools/bench_capacity.py                      # about 5 minutes on 2 CPU cores
    python tools/bench_capacity.py --variants 192x3/2 256x3/2 192x3/3 --steps 5

A variant is ``UNITSxLAYERS/STRIDE`` (per-direction GRU units, recurrent layers, conv
stride); the conv front end keeps as many filters as units. Arithmetic is counted from the
weights: each weight matrix does one multiply-add per frame it sees, forward, and a training
step is about three forward passes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

# the shipped shape first and last, so drift of the shared cores shows
DEFAULT_VARIANTS = ("192x3/2", "256x3/2", "320x3/2", "192x4/2", "192x3/3", "256x4/3", "192x3/2")


def parse_variant(spec: str) -> tuple[int, int, int]:
    """``"256x4/3"`` -> (256 units, 4 layers, stride 3)."""
    match = re.fullmatch(r"(\d+)x(\d+)/(\d+)", spec)
    if not match:
        raise argparse.ArgumentTypeError(f"variant {spec!r} is not UNITSxLAYERS/STRIDE")
    units, layers, stride = (int(g) for g in match.groups())
    return units, layers, stride


def step_flops(model, config, frames: int) -> float:
    """Forward FLOPs x 3 (backward about twice forward) of one utterance of ``frames``."""
    out_frames = config.model.output_length(frames)
    total = 0.0
    for weight in model.weights:
        if len(weight.shape) < 2 or "bias" in weight.path:
            continue
        size = int(np.prod(weight.shape))
        # conv kernels (kernel, in, out) run once per output frame too: all after the stride
        total += 2 * size * out_frames
    return 3 * total


def matmul_rate(n: int = 1024, repeats: int = 20) -> float:
    """GFLOP/s of float32 matrix products on this machine (TensorFlow's CPU kernels)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.linalg.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def measure(spec: str, batch: int, seconds: float, steps: int) -> dict[str, object]:
    """One variant's parameters, ms per train step, x real time and GFLOP/s."""
    import keras

    from asr.config import Config, load_config
    from asr.model import build_inference_model, build_training_model

    units, layers, stride = parse_variant(spec)
    shipped = load_config(Path(__file__).resolve().parent.parent / "checkpoints" / "default")
    model_config = dataclasses.replace(
        shipped.model,
        rnn_units=units,
        rnn_layers=layers,
        conv_filters=units,
        conv_stride=stride,
    )
    config = Config(model=model_config, features=shipped.features)
    inference = build_inference_model(config)
    training = build_training_model(inference)
    training.compile(optimizer=keras.optimizers.Adam(1e-4))
    frames = config.features.num_frames(int(seconds * config.features.sample_rate))
    rng = np.random.default_rng(0)
    label_len = int(seconds * 14)  # about 14 characters a second of speech
    inputs = {
        "features": rng.standard_normal((batch, frames, config.features.dim)).astype(np.float32),
        "input_length": np.full((batch,), config.model.output_length(frames), np.int32),
        "labels": rng.integers(1, config.num_classes - 1, (batch, label_len)).astype(np.int32),
        "label_length": np.full((batch,), label_len, np.int32),
    }
    training.train_on_batch(inputs)  # compile
    training.train_on_batch(inputs)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        training.train_on_batch(inputs)
        times.append(time.perf_counter() - start)
    step = float(np.median(times))
    flops = step_flops(inference, config, frames) * batch
    return {
        "variant": spec,
        "params": int(inference.count_params()),
        "ms_per_step": round(step * 1000, 1),
        "x_real_time": round(batch * seconds / step, 1),
        "gflops": round(flops / step / 1e9, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each utterance")
    parser.add_argument("--steps", type=int, default=7, help="timed steps per variant (median)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    for spec in args.variants:
        parse_variant(spec)
    rows = []
    print(
        "| variant (units x layers / stride) | parameters | ms per step | x real time | "
        "GFLOP/s | matmul GFLOP/s just before | share |"
    )
    print("|---|---|---|---|---|---|---|")
    for spec in args.variants:
        peak = matmul_rate()  # shared cores drift: the ceiling is measured beside each variant
        row = measure(spec, args.batch, args.seconds, args.steps)
        row["matmul_gflops"] = round(peak, 1)
        row["share"] = round(float(row["gflops"]) / peak, 2)
        rows.append(row)
        print(
            f"| {spec} | {row['params']:,} | {row['ms_per_step']} | {row['x_real_time']} | "
            f"{row['gflops']} | {peak:.0f} | {row['share']:.0%} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
