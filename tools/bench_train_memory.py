"""Peak resident memory of `asr train` on a corpus: in-memory packs vs disk shards.

Runs ``asr train --train INPUTS... --val VAL`` in a child process for ``--seconds`` (long
enough to load the data and train a few hundred steps), samples its resident set size from
/proc every 0.2 s, then stops it. Peak RSS in flat memory should not grow with the corpus:

    python tools/bench_train_memory.py --train cache/fotaq_train.pack --val cache/real_dev.npz
    python tools/bench_train_memory.py --train cache/union_train.pack --val cache/real_dev.npz

Linux only (reads /proc/PID/status). Prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB; zeros once it is gone."""
    try:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
    except (OSError, ValueError):
        return 0.0, 0.0
    kib = [float(fields.get(k, "0 kB").split()[0]) for k in ("VmRSS", "VmHWM")]
    return kib[0] / 1024, kib[1] / 1024


def measure(train: list[str], val: str, seconds: float, extra: list[str]) -> dict:
    """Peak RSS and RSS when the first training step ran, for one `asr train` run."""
    out = Path(tempfile.mkdtemp(prefix="asr-mem-"))
    cmd = [sys.executable, "-m", "asr.cli", "train", "--train", *train, "--val", val]
    cmd += ["--out", str(out / "run"), "--epochs", "1", "--skip-invalid", *extra]
    with (out / "log.txt").open("w") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        start = time.monotonic()
        peak = loaded = 0.0
        trace = []
        while time.monotonic() - start < seconds and child.poll() is None:
            rss, hwm = _rss_mib(child.pid)
            peak = max(peak, hwm)
            trace.append(round(rss))
            if not loaded and "training on" in (out / "log.txt").read_text():
                loaded = rss
            time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
    text = (out / "log.txt").read_text()
    line = next((x for x in text.splitlines() if x.startswith("training on")), "")
    shutil.rmtree(out, ignore_errors=True)
    tail = [x for x in text.splitlines() if x.strip() and not x.startswith(("I0000", "W0000"))]
    return {
        "exit": child.returncode,
        "last_line": tail[-1][-300:] if tail else "",
        "train": train,
        "corpus": line,
        "seconds": seconds,
        "rss_after_load_mib": round(loaded),
        "peak_rss_mib": round(peak),
        "rss_last_mib": trace[-1] if trace else 0,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", nargs="+", required=True, help="packs or manifests")
    parser.add_argument("--val", required=True)
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("extra", nargs="*", help="more `asr train` options, after --")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.train, args.val, args.seconds, args.extra)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
