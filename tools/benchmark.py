"""One table of what asr costs on this machine: synthesis, features, training, transcription.

Why a tool and not a test: speed depends on the machine, so the figures go in the README's
benchmark table with the machine named, never into assertions.

    python tools/benchmark.py                       # about 5 minutes on 2 CPU cores
    python tools/benchmark.py --backends tensorflow,jax --json bench.json

It synthesizes a small corpus (data/text/sentences.txt, one take per sentence, every
espeak-ng and flite voice; about 17 minutes of speech) unless ``--manifest`` names one, then
measures, each stage in a fresh process so peak memory does not mix:

- feature extraction (MFCC + deltas, python_speech_features) in x real time, one process;
- training throughput of ``asr train`` (the shipped model's architecture, fresh weights,
  batch 32, SpecAugment) per Keras backend: the first epoch, which compiles one program per
  batch shape, and the best later epoch, in audio seconds per wall second; then the same
  with the other conv stride (2 or 3) on the last backend (RNN steps are the CPU lever);
- end-to-end transcription with the shipped model (WAV loading, features, model, decoding
  with word timings), greedy, beam 16, and beam 16 and 64 with the shipped LM, after a warm-up;
- peak RSS of each process, and of transcribing one long file (``--long-minutes``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAIN_EPOCHS = 3  # the first compiles; the best of the rest is the steady rate
VAL_EVERY = 10  # every 10th utterance validates, the rest train
STRIDES = (2, 3)  # the shipped model uses one; the other shows what the stride is worth


def _peak_mib() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _device() -> str:
    """What the Keras backend computes on, e.g. 'cpu' or 'gpu'."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].platform
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "?"


def child_features(manifest: Path) -> dict:
    """Load every WAV, then time MFCC + deltas over all of it in this one process."""
    from asr.audio import load_audio
    from asr.config import load_config
    from asr.features import compute_features
    from asr.manifest import read_manifest
    from asr.transcribe import default_model_dir

    config = load_config(default_model_dir()).features
    utts = read_manifest(manifest)
    start = time.perf_counter()
    signals = [load_audio(u.audio_filepath, config.sample_rate) for u in utts]
    load_s = time.perf_counter() - start
    audio_s = sum(len(s) for s in signals) / config.sample_rate
    start = time.perf_counter()
    for s in signals:
        compute_features(s, config)
    feat_s = time.perf_counter() - start
    return {
        "audio_s": audio_s,
        "load_xrt": audio_s / load_s,
        "features_xrt": audio_s / feat_s,
        "peak_mib": _peak_mib(),
    }


def _other_stride() -> int:
    """Of STRIDES, the one the shipped model does not use (its config, read without Keras)."""
    from asr.config import load_config

    shipped = load_config(ROOT / "checkpoints" / "default").model.conv_stride
    return next((s for s in STRIDES if s != shipped), STRIDES[-1])


def child_train(
    train_manifest: Path, val_manifest: Path, work: Path, batch_size: int, stride: int
) -> dict:
    """``asr train`` for TRAIN_EPOCHS epochs; per-epoch throughput comes from its history."""
    import csv
    import dataclasses

    from asr.config import Config, load_config
    from asr.train import TrainOptions, train
    from asr.transcribe import default_model_dir

    shipped = load_config(default_model_dir())
    if stride:
        model = dataclasses.replace(shipped.model, conv_stride=stride)
        shipped = dataclasses.replace(shipped, model=model)
    out = Path(tempfile.mkdtemp(prefix="train-", dir=work))
    start = time.perf_counter()
    result = train(
        TrainOptions(
            train=train_manifest,
            val=val_manifest,
            out=out,
            epochs=TRAIN_EPOCHS,
            batch_size=batch_size,
            config=Config(features=shipped.features, model=shipped.model),
            jobs=1,
            progress=False,
            # stride 3 (the shipped model's) cannot align a few of the fastest takes
            skip_invalid=True,
        )
    )
    wall = time.perf_counter() - start
    with (out / "history.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    from asr.model import build_inference_model

    return {
        "device": _device(),
        "params": build_inference_model(Config(model=shipped.model)).count_params(),
        "train_hours": result.train_hours,
        "first_epoch_s": float(rows[0]["seconds"]),
        "first_xrt": float(rows[0]["train_xrt"]),
        "steady_xrt": max(float(r["train_xrt"]) for r in rows[1:]),
        "wall_s": wall,
        "peak_mib": _peak_mib(),
    }


def child_transcribe(manifest: Path, runtime: str = "keras") -> dict:
    """Greedy, beam-16 and (when the shipped model has its LM) beam-16 and beam-64 + LM
    transcription of every file, each timed after a warm-up pass (beam 64 reuses beam 16's:
    same model shapes, and the LM search is NumPy), through Keras or the model.onnx."""
    from asr.audio import audio_duration
    from asr.manifest import read_manifest
    from asr.transcribe import Transcriber

    paths = [u.audio_filepath for u in read_manifest(manifest)]
    audio_s = sum(audio_duration(p) for p in paths)
    t = Transcriber.load(runtime=runtime)
    lm_path = t.lm_path
    device = "CPU (onnxruntime)" if runtime == "onnx" else _device()
    result: dict = {"device": device, "audio_s": audio_s}
    runs = [("greedy_xrt", "greedy", None, 16), ("beam_xrt", "beam", None, 16)]
    if lm_path is not None:
        runs += [("beam_lm_xrt", "beam", lm_path, 16), ("beam64_lm_xrt", "beam", lm_path, 64)]
    for key, decoder, lm, width in runs:
        t.lm_path = lm
        if width == 16:
            t.transcribe_files(paths, decoder=decoder, beam_width=width)  # compiles, reads LM
        start = time.perf_counter()
        t.transcribe_files(paths, decoder=decoder, beam_width=width)
        result[key] = audio_s / (time.perf_counter() - start)
    result["peak_mib"] = _peak_mib()
    return result


def child_long(path: Path) -> dict:
    """One long file, greedy, in a fresh process: memory must not grow with the file."""
    from asr.audio import audio_duration
    from asr.transcribe import Transcriber

    seconds = audio_duration(path)
    t = Transcriber.load()
    start = time.perf_counter()
    t.transcribe_files([path], decoder="greedy")
    return {
        "audio_s": seconds,
        "xrt": seconds / (time.perf_counter() - start),
        "peak_mib": _peak_mib(),
    }


def _run_child(stage: str, args: list[str], backend: str) -> dict:
    """Run one stage in a fresh interpreter with ``KERAS_BACKEND=backend``; its last stdout
    line is the JSON result."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", stage, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:  # report it and go on: the other rows still count
        print(
            f"benchmark stage {stage} ({backend}) failed:\n{proc.stderr[-3000:]}", file=sys.stderr
        )
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _bench_corpus(work: Path, jobs: int) -> tuple[Path, float, float]:
    """Synthesize data/text/sentences.txt once with every voice; returns the manifest, the
    seconds of audio and the synthesis speed in x real time."""
    from asr.synth import synthesize_corpus

    start = time.perf_counter()
    result = synthesize_corpus(
        ROOT / "data" / "text" / "sentences.txt",
        work / "corpus",
        jobs=jobs,
        seed=0,
        progress=False,
    )
    seconds = result.hours * 3600
    return result.manifest, seconds, seconds / (time.perf_counter() - start)


def _split(manifest: Path) -> tuple[Path, Path]:
    """Train/val manifests beside ``manifest`` (so relative WAV paths still resolve)."""
    lines = manifest.read_text(encoding="utf-8").splitlines()
    train, val = manifest.with_name("bench-train.jsonl"), manifest.with_name("bench-val.jsonl")
    train.write_text("".join(x + "\n" for i, x in enumerate(lines) if i % VAL_EVERY), "utf-8")
    val.write_text("".join(x + "\n" for i, x in enumerate(lines) if not i % VAL_EVERY), "utf-8")
    return train, val


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def _available(backend: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(backend) is not None


def main(argv: list[str] | None = None) -> int:
    """Run every stage and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, help="use this corpus instead of synthesizing")
    parser.add_argument(
        "--backends",
        default="tensorflow,jax",
        help="Keras backends to train and transcribe with (missing ones are skipped)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--long-minutes", type=float, default=10.0, help="0 skips the long file")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        a = [Path(x) for x in args.child_args]
        stages = {
            "features": lambda: child_features(a[0]),
            "train": lambda: child_train(
                a[0], a[1], a[2], int(args.child_args[3]), int(args.child_args[4])
            ),
            "transcribe": lambda: child_transcribe(a[0], args.child_args[1]),
            "long": lambda: child_long(a[0]),
        }
        print(json.dumps(stages[args.child]()))
        return 0

    backends = [b for b in args.backends.split(",") if b]
    skipped = [b for b in backends if not _available(b)]
    backends = [b for b in backends if b not in skipped]
    rows: list[tuple[str, str, str]] = []  # (what, figure, conditions)
    figures: dict = {"machine": _machine(), "skipped_backends": skipped}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        work = Path(tmp)
        if args.manifest:
            manifest = args.manifest.resolve()
        else:
            manifest, seconds, xrt = _bench_corpus(work, args.jobs)
            figures["synth"] = {"audio_s": seconds, "xrt": xrt}
            rows.append(
                (
                    "corpus synthesis (espeak-ng/flite + sox)",
                    f"{xrt:.0f}x real time",
                    f"{seconds / 60:.1f} min of speech, {args.jobs} jobs",
                )
            )
        train, val = _split(manifest)
        f = figures["features"] = _run_child("features", [str(manifest)], backends[0])
        f = f or {"load_xrt": float("nan"), "features_xrt": float("nan")}
        rows.append(("WAV loading", f"{f['load_xrt']:.0f}x real time", "one process"))
        rows.append(
            (
                "feature extraction (MFCC 13 + deltas)",
                f"{f['features_xrt']:.0f}x real time",
                "one process, python_speech_features",
            )
        )
        # the shipped architecture on every backend; then the same with the other conv stride
        # (the number of sequential RNN steps is the main lever on CPU) on the last backend
        runs = [(b, 0) for b in backends] + [(backends[-1], _other_stride())]
        for backend, stride in runs:
            key = f"train_{backend}" + (f"_stride{stride}" if stride else "")
            name = backend + (f", conv stride {stride}" if stride else "")
            t = figures[key] = _run_child(
                "train",
                [str(train), str(val), str(work), str(args.batch_size), str(stride)],
                backend,
            )
            if not t:
                rows.append((f"training ({name})", "failed", "see the error above"))
                continue
            where = f"{backend} on {t['device']}, {t['params'] / 1e6:.2f} M params"
            rows.append(
                (
                    f"training, steady epochs ({name})",
                    f"{t['steady_xrt']:.0f}x real time",
                    f"{where}, batch {args.batch_size}, {t['train_hours'] * 60:.0f} min per epoch",
                )
            )
            rows.append(
                (
                    f"training, first epoch ({name})",
                    f"{t['first_xrt']:.0f}x real time",
                    f"{t['first_epoch_s']:.0f} s, compiling each batch shape",
                )
            )
            rows.append((f"training peak RSS ({name})", f"{t['peak_mib']:.0f} MiB", where))
        # Keras on every backend, then the model.onnx under onnxruntime (no backend involved)
        paths = [(b, "keras", b) for b in backends] + [("onnx", "onnx", backends[0])]
        for name, runtime, backend in paths:
            r = figures[f"transcribe_{name}"] = _run_child(
                "transcribe", [str(manifest), runtime], backend
            )
            if not r:
                rows.append((f"transcription ({name})", "failed", "see the error above"))
                continue
            backend = "onnxruntime" if runtime == "onnx" else backend
            where = f"{backend} on {r['device']}, shipped model, {r['audio_s'] / 60:.1f} min"
            lm = f"{where}, its character LM"
            for key, label, conditions in [
                ("greedy_xrt", "greedy", where),
                ("beam_xrt", "beam 16", where),
                ("beam_lm_xrt", "beam 16 + LM", lm),
                ("beam64_lm_xrt", "beam 64 + LM", lm),
            ]:
                if key in r:  # the LM rows only when the shipped model has its LM
                    figure = f"{r[key]:.0f}x real time"
                    rows.append((f"transcription {label} ({backend})", figure, conditions))
            rows.append((f"transcription peak RSS ({backend})", f"{r['peak_mib']:.0f} MiB", where))
        if args.long_minutes > 0:
            from bench_long_audio import write_long_wav

            long_wav = work / "long.wav"
            write_long_wav(long_wav, args.long_minutes)
            r = figures["long"] = _run_child("long", [str(long_wav)], backends[0])
            if not r:
                rows.append(("long file", "failed", "see the error above"))
            else:
                rows.append(
                    (
                        f"one {r['audio_s'] / 60:.0f}-minute file, peak RSS",
                        f"{r['peak_mib']:.0f} MiB",
                        f"{backends[0]}, greedy, {r['xrt']:.0f}x real time, streamed in windows",
                    )
                )
    figures["wall_s"] = time.perf_counter() - began

    print(f"machine: {figures['machine']}")
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)}")
    width = max(len(r[0]) for r in rows)
    print(f"| {'what':<{width}} | figure | conditions |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for what, figure, conditions in rows:
        print(f"| {what:<{width}} | {figure} | {conditions} |")
    print(f"benchmark wall time: {figures['wall_s'] / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
