"""Peak memory and speed of `asr transcribe` on one long file, for several lengths.

Why: long audio must transcribe with memory that does not grow with the file (goal: under
1 GB for one hour). Each length runs in a fresh process so peaks do not mix.

    python tools/bench_long_audio.py --minutes 10 20 60

The long file is the shipped samples tiled with half-second gaps (16 kHz 16-bit mono).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.audio import load_audio  # noqa: E402


def write_long_wav(path: Path, minutes: float) -> float:
    """Tile data/samples/*.wav with 0.5 s gaps to ``minutes``; returns seconds written."""
    pieces = [load_audio(p) for p in sorted((ROOT / "data" / "samples").glob("*.wav"))]
    gap = np.zeros(8000, np.float32)
    unit = np.concatenate([np.concatenate([p, gap]) for p in pieces])
    reps = int(np.ceil(minutes * 60 * 16000 / len(unit)))
    pcm = (np.clip(unit, -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        for _ in range(reps):
            w.writeframes(pcm)
    return reps * len(unit) / 16000


def main(argv: list[str] | None = None) -> int:
    """Transcribe files of each length in a child process and report its peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 20, 60])
    parser.add_argument("--decoder", default="greedy")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores; decoder {args.decoder}")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = Path(tmp) / f"long-{minutes:g}.wav"
            seconds = write_long_wav(path, minutes)
            code = (
                "import resource,sys,time;from asr.transcribe import Transcriber;"
                "t=Transcriber.load();s=time.perf_counter();"
                f"r=t.transcribe_files([sys.argv[1]],decoder={args.decoder!r});"
                "e=time.perf_counter()-s;"
                "print(len(r[0].words),e,resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            )
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", code, str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout.split()
            wall = time.perf_counter() - start
            words, secs, peak_kb = int(out[0]), float(out[1]), int(out[2])
            print(
                f"{seconds / 60:6.1f} min: {words} words, transcribe {secs:.1f} s "
                f"({seconds / secs:.0f}x real time), process wall {wall:.1f} s, "
                f"peak RSS {peak_kb / 1024:.0f} MiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
