"""Live streaming (`asr stream`): CER against offline decoding, and how soon text shows up.

Why: the bidirectional model streams in overlapping windows (asr/stream.py); its chunk and
context sizes trade latency against agreement with offline decoding. The goals: text within
1.5 s of being spoken, and final text within 0.5 CER points of offline decoding.

    python tools/bench_stream.py                       # accuracy, then latency at real time
    python tools/bench_stream.py --test 60 --left 1 2 --right 1 3 --latency-files 0  # a grid

Accuracy: each file streamed on its own (at full speed: updates depend only on the samples,
so this equals real time), its finals joined, against ``Transcriber.transcribe`` of the same
file and against the reference (``--join K``: K files at a time as one continuous stream).
Latency: the first 8 files joined with 1 s pauses after 2 s of silence, fed at real-time
pace in 20 ms blocks, in process for each chunk/context setting and then piped as raw PCM
into ``asr stream - --format jsonl`` (defaults; the model loads during the silence). For
each word offline decoding of its file finds: the delay from its end in the audio to the
first update spelling it so, and to the first update with a word in its place; for each
segment, from the end of its speech to its final. Per-step compute time is measured too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jiwer  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.stream import (  # noqa: E402
    CHUNK_SECONDS,
    LEFT_CONTEXT_SECONDS,
    RIGHT_CONTEXT_SECONDS,
    StreamTranscriber,
)
from asr.text import normalize_text  # noqa: E402
from asr.transcribe import Transcriber  # noqa: E402

BLOCK_SECONDS = 0.02  # what arecord hands over per period, roughly
TARGET_SECONDS = 1.5  # the latency goal
GAP_SECONDS = 1.0  # pause between files in the latency stream
JOIN_GAP_SECONDS = 0.2  # between files joined into one accuracy stream (--join)
LEAD_SECONDS = 2.0  # silence before the first file: model loading is not what is measured


def utterances(test: int) -> list[tuple[Path, str]]:
    """The shipped samples, then the first ``test`` of corpora/default/test.jsonl if there."""
    items = [
        (u.audio_filepath, u.text) for u in read_manifest(ROOT / "data/samples/manifest.jsonl")
    ]
    corpus = ROOT / "corpora/default/test.jsonl"
    if test and corpus.is_file():
        items += [(u.audio_filepath, u.text) for u in read_manifest(corpus)[:test]]
    return [(Path(p), normalize_text(t)) for p, t in items]


def stream_text(streamer: StreamTranscriber, samples: np.ndarray) -> tuple[str, list[float]]:
    """Joined finals of ``samples`` fed in blocks, and the seconds each model step took."""
    block = round(BLOCK_SECONDS * streamer.rate)
    finals, steps = [], []
    for i in range(0, len(samples), block):
        start, before = time.perf_counter(), streamer.seconds_committed
        updates = streamer.feed(samples[i : i + block])
        if streamer.seconds_committed > before:  # a model step ran on this block
            steps.append(time.perf_counter() - start)
        finals += [u.text for u in updates if u.final]
    finals += [u.text for u in streamer.finish() if u.final]
    return " ".join(t for t in finals if t), steps


def accuracy(t: Transcriber, items, signals, args) -> None:
    """CER of joined finals vs offline and vs references, for each context setting."""
    refs = [ref for _, ref in items]
    offline = [t.transcribe(s, decoder=args.decoder) for s in signals]
    seconds = sum(len(s) for s in signals) / t.config.features.sample_rate
    print(f"{len(items)} files, {seconds:.0f} s; decoder {args.decoder}; {os.cpu_count()} cores")
    print(f"offline: CER {jiwer.cer(refs, offline):.2%} vs references")
    for chunk in args.chunk:
        for left in args.left:
            for right in args.right:
                streams, steps = [], []
                for s in signals:
                    st = StreamTranscriber(t, args.decoder, 16, chunk, left, right)
                    text, took = stream_text(st, s)
                    streams.append(text)
                    steps += took
                same = sum(a == b for a, b in zip(streams, offline, strict=True))
                ref_cer, off_cer = jiwer.cer(refs, offline), jiwer.cer(refs, streams)
                vs = jiwer.cer(offline, [s or "-" for s in streams])
                print(
                    f"chunk {chunk:g} s, left {left:g} s, right {right:g} s: "
                    f"CER vs offline {vs:.2%}; vs references {off_cer:.2%} "
                    f"({100 * (off_cer - ref_cer):+.2f} points); {same}/{len(items)} "
                    f"identical; step {1000 * np.median(steps):.0f} ms median, "
                    f"{1000 * np.max(steps):.0f} ms max"
                )
                if args.latency_files:
                    n = args.latency_files
                    audio = joined_stream(signals[:n], t.config.features.sample_rate)
                    st = StreamTranscriber(t, args.decoder, 16, chunk, left, right)
                    t0, arrivals = in_process(st, audio)
                    print(
                        "  real time, in process: " + latency(t, audio, t0, arrivals, args.decoder)
                    )


def joined_stream(signals: list[np.ndarray], rate: int) -> np.ndarray:
    """The files after LEAD_SECONDS of silence, each followed by a GAP_SECONDS pause."""
    gap = np.zeros(round(GAP_SECONDS * rate), np.float32)
    pieces = [np.zeros(round(LEAD_SECONDS * rate), np.float32)]
    for s in signals:
        pieces += [s, gap]
    return np.concatenate(pieces)


def through_cli(audio: np.ndarray, rate: int, decoder: str) -> tuple[float, list]:
    """Pipe 16-bit PCM into `asr stream - --format jsonl` at real-time pace in 20 ms blocks;
    the wall time the audio started and (arrival time, update) of each output line."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    cmd = [sys.executable, "-m", "asr.cli", "stream", "-", "--format", "jsonl"]
    proc = subprocess.Popen(
        [*cmd, "--decoder", decoder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    arrivals: list[tuple[float, dict]] = []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            arrivals.append((time.perf_counter(), json.loads(line)))

    reader = threading.Thread(target=read)
    reader.start()
    block = round(BLOCK_SECONDS * rate) * 2
    t0 = time.perf_counter()
    for k, i in enumerate(range(0, len(pcm), block)):
        time.sleep(max(0.0, t0 + k * BLOCK_SECONDS - time.perf_counter()))
        proc.stdin.write(pcm[i : i + block])  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait()
    reader.join()
    return t0, arrivals


def in_process(streamer: StreamTranscriber, audio: np.ndarray) -> tuple[float, list]:
    """The same at real-time pace in this process (any chunk/context setting; no start-up)."""
    block = round(BLOCK_SECONDS * streamer.rate)
    arrivals: list[tuple[float, dict]] = []
    t0 = time.perf_counter()
    for k, i in enumerate(range(0, len(audio), block)):
        time.sleep(max(0.0, t0 + k * BLOCK_SECONDS - time.perf_counter()))
        for u in streamer.feed(audio[i : i + block]):
            arrivals.append((time.perf_counter(), dataclasses.asdict(u)))
    for u in streamer.finish():
        arrivals.append((time.perf_counter(), dataclasses.asdict(u)))
    return t0, arrivals


def latency(t: Transcriber, audio: np.ndarray, t0: float, arrivals, decoder: str) -> str:
    """How long after a word's end (offline decoding of the same audio times it) it first
    shows up: spelled as offline decoding spells it (its k-th occurrence in the text so far,
    finals and partial), and as any word in its place (the text so far has that many words);
    how long after a segment's speech its final comes."""
    words = t.decode(t.gate(audio, t.signal_logits([audio])[0]), decoder)[2]
    shown: list[tuple[float, list[str]]] = []  # (arrival, words of the finals + the partial)
    done: list[str] = []
    for at, u in arrivals:
        shown.append((at, done + u["text"].split()))
        if u["final"]:
            done = done + u["text"].split()
    exact, placed, unmatched = [], [], 0
    seen: Counter[str] = Counter()
    for i, w in enumerate(words):
        seen[w.word] += 1
        spoken = t0 + w.end
        when = next((a for a, text in shown if text.count(w.word) >= seen[w.word]), None)
        if when is None:
            unmatched += 1
        else:
            exact.append(when - spoken)
        when = next((a for a, text in shown if len(text) > i), None)
        if when is not None:
            placed.append(when - spoken)
    finals = [at - (t0 + u["end"]) for at, u in arrivals if u["final"]]
    e, p, f = np.array(exact), np.array(placed), np.array(finals)
    return (
        f"{len(finals)} segments; a word shown as offline decoding spells it: median "
        f"{np.median(e):.2f} s, 90th pct {np.percentile(e, 90):.2f} s, max {e.max():.2f} s, "
        f"{np.mean(e <= TARGET_SECONDS):.0%} within {TARGET_SECONDS:g} s ({unmatched} of "
        f"{len(words)} words never spelled so); any word in its place: median "
        f"{np.median(p):.2f} s, 90th pct {np.percentile(p, 90):.2f} s, max {p.max():.2f} s; "
        f"final after speech ends: median {np.median(f):.2f} s, max {f.max():.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Accuracy over the chunk/context grid, then latency with the defaults."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--test", type=int, default=20, help="files of the test corpus")
    parser.add_argument("--decoder", default="greedy")
    parser.add_argument("--chunk", type=float, nargs="+", default=[CHUNK_SECONDS])
    parser.add_argument("--left", type=float, nargs="+", default=[LEFT_CONTEXT_SECONDS])
    parser.add_argument("--right", type=float, nargs="+", default=[RIGHT_CONTEXT_SECONDS])
    parser.add_argument(
        "--join",
        type=int,
        default=1,
        help="stream K files at a time joined by 0.2 s of silence (continuous speech: "
        "the left context matters more)",
    )
    parser.add_argument(
        "--latency-files",
        type=int,
        default=8,
        help="files joined into the real-time latency stream (0: accuracy only)",
    )
    args = parser.parse_args(argv)
    t = Transcriber.load()
    items = utterances(args.test)
    signals = [load_audio(p, t.config.features.sample_rate) for p, _ in items]
    if args.join > 1:
        gap = np.zeros(round(JOIN_GAP_SECONDS * t.config.features.sample_rate), np.float32)
        groups = [range(i, min(i + args.join, len(items))) for i in range(0, len(items), args.join)]
        joined = [np.concatenate([np.concatenate([signals[i], gap]) for i in g]) for g in groups]
        texts = [(items[g[0]][0], " ".join(items[i][1] for i in g)) for g in groups]
        args.latency_files = 0  # accuracy only
        accuracy(t, texts, joined, args)
        return 0
    accuracy(t, items, signals, args)
    if args.latency_files:
        n = args.latency_files
        audio = joined_stream(signals[:n], t.config.features.sample_rate)
        t0, arrivals = through_cli(audio, t.config.features.sample_rate, args.decoder)
        print(
            f"`asr stream -` at real-time pace ({len(audio) / 16000:.0f} s: {n} files, "
            f"{GAP_SECONDS:g} s pauses): " + latency(t, audio, t0, arrivals, args.decoder)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
