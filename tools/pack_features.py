"""Extract a manifest's features once into a compact .npz pack that `asr train` accepts.

Why: a pack of base features in float16 (deltas are recomputed on load) is ~2.6 KB per
second of audio with the default 13 MFCCs, about 1/12 of the 16-bit WAVs, so hours of
training data fit where audio does not (the GPU machine takes a 64 MiB working tree), and
repeated runs skip feature extraction.

    python tools/pack_features.py corpus/train.jsonl --out cache/train.npz
    asr train --train cache/train.npz --val cache/val.npz --out runs/model

A model directory's config.json (``--model-config``) or a --config JSON picks non-default
feature settings; the pack records them and `asr train` refuses a mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.data import extract_features  # noqa: E402
from asr.features import FeatureConfig  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, extract, save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("--out", required=True, help="pack to write (.npz)")
    parser.add_argument("--config", help="JSON with a 'features' object (default features)")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".npz":
        parser.error("--out must end in .npz")
    if out.exists():
        parser.error(f"{out} exists; delete it or choose another --out")
    features = {}
    if args.config:
        features = json.loads(Path(args.config).read_text()).get("features", {})
    config = FeatureConfig(**features)
    start = time.perf_counter()
    data = extract_features(read_manifest(args.manifest), config, jobs=args.jobs)
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    data.save(out)
    print(
        f"{len(data.features)} utterances, {data.hours:.2f} h in {seconds:.0f} s "
        f"({data.hours * 3600 / seconds:.0f}x real time) -> {out} "
        f"({out.stat().st_size / 2**20:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
