"""System 3's side-by-side: dense vs cnn vs lstm vs crnn on one label corpus.

Trains each architecture with the same data, epochs and schedule (``asr classify train``'s
code path), then reports held-out accuracy, parameters, training time and inference speed
(clips a second, batch of 64, and one clip at a time) on this machine.

    python tools/compare_classifiers.py --corpus corpora/keywords --out runs/compare \
        --epochs 30 > docs/classifier_comparison.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.classify import Classifier, evaluate_classifier  # noqa: E402
from asr.classify_train import ClassifyTrainOptions, train_classifier  # noqa: E402
from asr.config import ClassifierModelConfig  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402

ARCHS = {
    "dense": ClassifierModelConfig(arch="dense"),
    "cnn": ClassifierModelConfig(arch="cnn"),
    "lstm": ClassifierModelConfig(arch="lstm", frames=0),
    "crnn": ClassifierModelConfig(arch="crnn", frames=0, filters=16),
}


def speed(classifier: Classifier, manifest: Path, clips: int = 256) -> tuple[float, float]:
    """(clips/s in batches, ms per clip one at a time) on features already computed."""
    paths = [u.audio_filepath for u in read_manifest(manifest, labels=True)][:clips]
    feats = [classifier.features(p) for p in paths]
    classifier.clip_probabilities(feats[:8])  # compile/warm up
    start = time.perf_counter()
    classifier.clip_probabilities(feats)
    batched = len(feats) / (time.perf_counter() - start)
    start = time.perf_counter()
    for f in feats[:32]:
        classifier.clip_probabilities([f])
    single = (time.perf_counter() - start) / 32 * 1000
    return batched, single


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder with train/val/test")
    parser.add_argument("--out", type=Path, required=True, help="where the models go")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    args = parser.parse_args(argv)
    print(
        "| model | parameters | val acc. | test acc. | train time | clips/s (batch 64) |"
        " ms per clip (1 at a time) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.archs:
        out = args.out / name
        start = time.perf_counter()
        result = train_classifier(
            ClassifyTrainOptions(
                train=args.corpus / "train.jsonl",
                val=args.corpus / "val.jsonl",
                out=out,
                model=ARCHS[name],
                epochs=args.epochs,
                learning_rate=3e-3,
                lr_schedule="cosine",
                force=True,
                progress=False,
            )
        )
        minutes = (time.perf_counter() - start) / 60
        classifier = Classifier.load(out)
        test = evaluate_classifier(classifier, args.corpus / "test.jsonl")
        batched, single = speed(classifier, args.corpus / "test.jsonl")
        print(
            f"| {name} | {result.parameters:,} | {result.best_accuracy:.1%} | "
            f"{test.accuracy:.1%} | {minutes:.1f} min | {batched:,.0f} | {single:.1f} |",
            flush=True,
        )
    print(f"\n{args.epochs} epochs each, cosine from 3e-3; machine: {os.cpu_count()} cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
