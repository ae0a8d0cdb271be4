"""Greedy vs beam search, without and with the character LM, on a held-out manifest:
WER, CER and end-to-end speed.

Why: beam search and the LM must earn their cost; this prints each so the README can say
by how much.

    python tools/bench_decoders.py corpora/default/test.jsonl --beams 16 64
    python tools/bench_decoders.py test.jsonl --model runs/mine --lm runs/mine/lm.npz
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jiwer  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.text import normalize_text  # noqa: E402
from asr.transcribe import Transcriber  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Transcribe the manifest once per decoder (after a warm-up) and score each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("--model")
    parser.add_argument("--beams", type=int, nargs="*", default=[16, 64])
    parser.add_argument("--lm", help="language model (default: the model directory's lm.npz)")
    args = parser.parse_args(argv)
    t = Transcriber.load(args.model, lm=args.lm or "auto")
    lm_path = t.lm_path
    utts = read_manifest(args.manifest)
    rate = t.config.features.sample_rate
    signals = [load_audio(u.audio_filepath, rate) for u in utts]
    refs = [normalize_text(u.text) for u in utts]
    audio_s = sum(len(s) for s in signals) / rate
    t.transcribe_arrays(signals, "greedy")  # compile every batch shape once
    print(f"{len(utts)} utterances, {audio_s / 60:.1f} min, {os.cpu_count()} cores")
    runs = [("greedy", 1, None)] + [("beam", w, None) for w in args.beams]
    if lm_path is not None:
        runs += [("beam", w, lm_path) for w in args.beams]
    for decoder, width, lm in runs:
        t.lm_path = lm
        if lm is not None:
            _ = t.lm  # reading the LM file (~0.6 s) is start-up, not decoding
        start = time.perf_counter()
        hyps = t.transcribe_arrays(signals, decoder=decoder, beam_width=width)
        seconds = time.perf_counter() - start
        name = decoder if decoder == "greedy" else f"beam {width}" + (" + LM" if lm else "")
        print(
            f"{name:>13}: WER {jiwer.wer(refs, hyps):.2%}  CER {jiwer.cer(refs, hyps):.2%}  "
            f"{seconds:.2f} s ({audio_s / seconds:.0f}x real time, features+model+decoding)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
