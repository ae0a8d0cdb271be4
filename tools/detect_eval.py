"""Keyword spotting in long audio, scored against known times.

Builds long recordings by joining a label manifest's clips (keywords, other words and
silence, in a seeded random order, with pauses and a noise bed), runs a per-frame model's
``Classifier.detect`` over each whole file, and scores the spans with event F1: a detected
span matches a true keyword of the same label whose onset is within the tolerance (200 ms).

    python tools/detect_eval.py --model runs/kws_frames --manifest corpora/keywords/test.jsonl \
        --out runs/detect_eval [--label-with checkpoints/keywords --threshold 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.classify import Classifier, target_labels, voiced_frames  # noqa: E402
from asr.classmetrics import event_score  # noqa: E402
from asr.ensemble import load_classifier  # noqa: E402
from asr.features import compute_features  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402

RATE = 16000


def word_times(classifier: Classifier, samples: np.ndarray) -> tuple[float, float]:
    """(start, end) in seconds of the voiced part of one clip (the true event inside it)."""
    config = classifier.config
    voiced = voiced_frames(compute_features(samples, config.features), config)
    idx = np.flatnonzero(voiced)
    if idx.size == 0:
        return 0.0, len(samples) / RATE
    hop = config.features.hop_seconds
    return idx[0] * hop, idx[-1] * hop + config.features.window_seconds


def build_long_files(
    classifier: Classifier, manifest: Path, out: Path, files: int, clips_per_file: int, seed: int
) -> list[tuple[Path, list[tuple[float, float, str]]]]:
    """Long WAVs and their true keyword events (start, end, label)."""
    rng = np.random.default_rng(seed)
    utterances = read_manifest(manifest, labels=True)
    targets = set(target_labels(classifier.labels))
    made = []
    out.mkdir(parents=True, exist_ok=True)
    order = rng.permutation(len(utterances))
    for f in range(files):
        picks = order[f * clips_per_file : (f + 1) * clips_per_file]
        parts, events, t = [], [], 0.0
        for i in picks:
            u = utterances[int(i)]
            pause = np.zeros(int(rng.uniform(0.3, 1.5) * RATE), dtype=np.float32)
            clip = load_audio(u.audio_filepath, RATE)
            start, end = word_times(classifier, clip)
            t += len(pause) / RATE
            if u.label in targets:
                events.append((t + start, t + end, u.label))
            parts += [pause, clip]
            t += len(clip) / RATE
        signal = np.concatenate(parts)
        signal += rng.normal(0, 3e-4, signal.shape).astype(np.float32)
        path = out / f"long_{f:03d}.wav"
        sf.write(path, np.clip(signal, -1, 1), RATE, subtype="PCM_16")
        (out / f"long_{f:03d}.json").write_text(json.dumps(events))
        made.append((path, events))
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a per-frame classifier")
    parser.add_argument("--manifest", type=Path, required=True, help="held-out label manifest")
    parser.add_argument("--out", type=Path, required=True, help="where the long files go")
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--clips-per-file", type=int, default=40)
    parser.add_argument("--threshold", type=float, nargs="+", default=[0.5])
    parser.add_argument(
        "--label-with",
        type=Path,
        nargs="+",
        help="a clip model that names the spans (several: their probabilities averaged)",
    )
    parser.add_argument("--tolerance", type=float, default=0.2, help="onset tolerance, s")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    classifier = Classifier.load(args.model)
    labeler = load_classifier(args.label_with) if args.label_with else None
    files = build_long_files(
        classifier, args.manifest, args.out, args.files, args.clips_per_file, args.seed
    )
    hours = sum(sf.info(p).duration for p, _ in files) / 3600
    print(
        f"{len(files)} files, {hours * 60:.1f} min, {sum(len(e) for _, e in files)} keyword events"
    )
    for threshold in args.threshold:
        matched = predicted = reference = 0
        for path, events in files:
            spans = classifier.detect(path, threshold=threshold, labeler=labeler)
            score = event_score(events, [(s.start, s.end, s.label) for s in spans], args.tolerance)
            matched, predicted = matched + score.matched, predicted + score.predicted
            reference += score.reference
        precision = matched / predicted if predicted else 0.0
        recall = matched / reference if reference else 0.0
        f1 = 2 * matched / (predicted + reference) if predicted + reference else 0.0
        print(
            f"threshold {threshold}: event F1 {f1:.3f} (precision {precision:.3f}, "
            f"recall {recall:.3f}; {matched} of {reference} found, {predicted} spans)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
