"""The TFLite export beside ONNX and Keras: agreement, file size and speed on a manifest.

Why a tool and not a test: speed depends on the machine, so the figures go in
docs/BENCHMARKS.md with the machine named, never into assertions.

    python tools/bench_tflite.py corpora/default/test.jsonl --model checkpoints/default

Exports the model to a temporary model.tflite (and model.onnx unless the directory has
one), computes every file's normalized features once, then runs the same length-sorted
padded batches (``Transcriber.logits``) through Keras, onnxruntime and the LiteRT
interpreter (``asr.tflite_runtime.TfliteModel``: batch 1, a padded batch row by row), and
each file alone (batch 1, the on-device case). Reports greedy transcripts equal to Keras's,
the largest logit difference, network time in x real time (best of ``--repeats`` after a
warm-up pass) and the time to load each file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _best(fn, repeats: int) -> float:
    fn()  # warm-up: first-call allocation (and Keras tracing)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    """Export, check and time; print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--limit", type=int, help="only the first N utterances")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes (best is kept)")
    args = parser.parse_args(argv)

    import numpy as np

    from asr.audio import load_audio
    from asr.export import export_model
    from asr.manifest import read_manifest
    from asr.runtime import ONNX_NAME, OnnxModel
    from asr.tflite_runtime import TfliteModel
    from asr.transcribe import Transcriber, default_model_dir

    model_dir = Path(args.model) if args.model else default_model_dir()
    utts = read_manifest(args.manifest)[: args.limit]
    keras_side = Transcriber.load(model_dir, lm=None, runtime="keras")
    config = keras_side.config
    rate = config.features.sample_rate
    signals = [load_audio(u.audio_filepath, rate) for u in utts]
    audio_s = sum(len(s) for s in signals) / rate
    feats = [keras_side.features(s) for s in signals]

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        tflite = export_model(model_dir, "tflite", Path(tmp) / "model.tflite")
        export_s = time.perf_counter() - start
        onnx = model_dir / ONNX_NAME
        if not onnx.is_file():
            onnx = export_model(model_dir, "onnx", Path(tmp) / "model.onnx")
        start = time.perf_counter()
        lite_model = TfliteModel(tflite)
        load = {"tflite": time.perf_counter() - start}
        start = time.perf_counter()
        onnx_model = OnnxModel(onnx)
        load["onnx"] = time.perf_counter() - start
        sides = {
            "keras": keras_side,
            "onnx": Transcriber(onnx_model, config),
            "tflite": Transcriber(lite_model, config),
        }
        sizes = {"tflite": tflite.stat().st_size, "onnx": onnx.stat().st_size}
        sizes["keras"] = (model_dir / "model.keras").stat().st_size

        logits = {name: t.logits(feats) for name, t in sides.items()}
        texts = {
            name: [keras_side.decode(lg, "greedy")[0] for lg in out] for name, out in logits.items()
        }
        result: dict = {
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "files": len(utts),
            "audio_s": round(audio_s, 1),
            "export_s": round(export_s, 1),
            "bytes": sizes,
            "load_s": {k: round(v, 3) for k, v in load.items()},
        }
        for name in ("onnx", "tflite"):
            diff = max(
                float(np.abs(a - b).max())
                for a, b in zip(logits["keras"], logits[name], strict=True)
            )
            same = sum(a == b for a, b in zip(texts["keras"], texts[name], strict=True))
            result[f"{name}_same_as_keras"] = f"{same} of {len(utts)}"
            result[f"{name}_max_logit_diff"] = f"{diff:.2e}"
        batched, single = {}, {}
        for name, t in sides.items():
            batched[name] = audio_s / _best(lambda t=t: t.logits(feats), args.repeats)
            single[name] = audio_s / _best(lambda t=t: [t.logits([f]) for f in feats], args.repeats)
        result["xRT_padded_batches"] = {k: round(v) for k, v in batched.items()}
        result["xRT_one_file_a_call"] = {k: round(v) for k, v in single.items()}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
