"""Transcription speed of a model on a manifest, stage by stage, in x real time.

Why a tool and not a test: speed depends on the machine, so the figures go in the README's
benchmark table with the machine named, never into assertions.

    python tools/bench_transcribe.py corpora/default/test.jsonl --model checkpoints/default

A first pass compiles one program per batch shape and is reported apart ("warm-up"); the
timed pass that follows is what a long-running process sees.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.audio import load_audio  # noqa: E402
from asr.decoding import greedy_decode_batch  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.transcribe import Transcriber  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Time load, features, model and greedy decoding over a manifest's files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (best is kept)")
    args = parser.parse_args(argv)

    import keras

    t = Transcriber.load(args.model)
    rate = t.config.features.sample_rate
    utts = read_manifest(args.manifest)
    start = time.perf_counter()
    signals = [load_audio(u.audio_filepath, rate) for u in utts]
    load_s = time.perf_counter() - start
    audio_s = sum(len(s) for s in signals) / rate

    def one_pass() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        feats = [t.features(s) for s in signals]
        t1 = time.perf_counter()
        logits = t.logits(feats)
        t2 = time.perf_counter()
        for lg in logits:
            t.tokenizer.decode(greedy_decode_batch(lg[None])[0])
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    warm = sum(one_pass())
    runs = [one_pass() for _ in range(args.repeats)]
    feat_s, model_s, dec_s = min(runs, key=sum)
    total = feat_s + model_s + dec_s
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; backend {keras.backend.backend()}"
    )
    print(f"{len(utts)} files, {audio_s / 60:.1f} min of audio")
    print(f"warm-up pass (compiles per shape): {warm:.2f} s ({audio_s / warm:.0f}x real time)")
    for name, sec in [
        ("load WAV", load_s),
        ("features", feat_s),
        ("model", model_s),
        ("greedy decode", dec_s),
    ]:
        print(f"{name:>14}: {sec:7.3f} s  {audio_s / sec:8.0f}x real time")
    print(
        f"{'end to end':>14}: {total + load_s:7.3f} s  {audio_s / (total + load_s):8.0f}x real time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
