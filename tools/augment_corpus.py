"""Render a corpus once more as if recorded: rooms, noise, phone lines (asr.channel).

    python tools/augment_corpus.py corpora/big/train.jsonl --out corpora/big_channel
    asr pack corpora/big_channel/manifest.jsonl --out cache/big_channel.pack

Every utterance gets its own random channel (seeded by --seed and its line, so a rerun
writes the same audio); the manifest keeps each line's text, speaker and label and adds a
``channel`` field saying what was done. Babble noise is drawn from --babble-size other
utterances of the same corpus, rooms from --rooms pyroomacoustics shoeboxes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.audio import load_audio  # noqa: E402
from asr.channel import Channel, ChannelConfig, room_impulses  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402

RATE = 16000
_channel: Channel | None = None


def _init(channel: Channel) -> None:
    global _channel
    _channel = channel


def _render(job: tuple[int, str, str, int]) -> str:
    """Worker: one utterance through its channel, written as FLAC; returns the description."""
    index, source, target, seed = job
    assert _channel is not None
    samples = load_audio(source, RATE)
    out, description = _channel(samples, np.random.default_rng([seed, index]))
    sf.write(target, out, RATE, subtype="PCM_16")
    return description


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, render, write the manifest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("--out", required=True, help="folder for audio/ and manifest.jsonl")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rooms", type=int, default=200, help="simulated rooms to draw from")
    parser.add_argument("--babble-size", type=int, default=300)
    parser.add_argument("--no-reverb", action="store_true", help="no rooms (no pyroomacoustics)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if (out / "manifest.jsonl").exists():
        parser.error(f"{out}/manifest.jsonl exists; choose another --out")
    (out / "audio").mkdir(parents=True, exist_ok=True)
    utterances = read_manifest(args.manifest)
    rng = np.random.default_rng(args.seed)
    config = ChannelConfig()
    if args.no_reverb:
        config = replace(config, reverb=0.0)
    rooms = [] if args.no_reverb else room_impulses(args.rooms, RATE, rng, config.rt60)
    picks = rng.choice(len(utterances), size=min(args.babble_size, len(utterances)), replace=False)
    babble = [load_audio(utterances[int(i)].audio_filepath, RATE) for i in picks]
    channel = Channel(config, RATE, rooms, babble)
    jobs = [
        (i, u.audio_filepath, str(out / "audio" / f"{i:06d}.flac"), args.seed)
        for i, u in enumerate(utterances)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, initializer=_init, initargs=(channel,)) as pool:
        described = list(pool.map(_render, jobs, chunksize=16))
    with (out / "manifest.jsonl.tmp").open("w") as f:
        for i, (u, what) in enumerate(zip(utterances, described, strict=True)):
            row = {"audio_filepath": f"audio/{i:06d}.flac", "text": u.text}
            row["duration"] = sf.info(str(out / "audio" / f"{i:06d}.flac")).duration
            for key in ("speaker", "label"):
                value = getattr(u, key, None)
                if value is not None:
                    row[key] = value
            row["channel"] = what
            f.write(json.dumps(row) + "\n")
    os.replace(out / "manifest.jsonl.tmp", out / "manifest.jsonl")
    print(f"{len(jobs)} utterances in {time.perf_counter() - start:.0f} s -> {out}/manifest.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
