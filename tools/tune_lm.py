"""Grid-search the LM's weight and per-character bonus for beam search on a validation set.

Why a tool: the best fusion weights depend on the acoustic model (how peaky it is) and the
LM, so they are tuned per pair, on validation data (never the test set), and stored in the
LM file where `asr transcribe --decoder beam` reads them.

    python tools/tune_lm.py corpora/default/val.jsonl --model checkpoints/default \\
        --lm checkpoints/default/lm.npz --write

The model runs once; each grid point only re-runs the beam search (a few seconds each).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jiwer  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.decoding import greedy_decode, lm_beam_search, log_softmax  # noqa: E402
from asr.lm import CharLM  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.text import normalize_text  # noqa: E402
from asr.transcribe import Transcriber  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", help="validation manifest (not the test set)")
    parser.add_argument("--model", help="model directory (default: the shipped model)")
    parser.add_argument("--lm", required=True, help="the lm.npz to tune")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.9, 1.1])
    parser.add_argument("--bonuses", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--beam-width", type=int, default=16)
    parser.add_argument(
        "--write", action="store_true", help="store the lowest-CER pair in the --lm file"
    )
    args = parser.parse_args(argv)
    t = Transcriber.load(args.model, lm=None)
    lm = CharLM.load(args.lm)
    utts = read_manifest(args.manifest)
    rate = t.config.features.sample_rate
    refs = [normalize_text(u.text) for u in utts]
    logits = t.logits([t.features(load_audio(u.audio_filepath, rate)) for u in utts])
    log_probs = [log_softmax(x) for x in logits]
    greedy = [t.tokenizer.decode(greedy_decode(x)) for x in log_probs]
    print(
        f"{len(utts)} utterances; greedy: CER {jiwer.cer(refs, greedy):.2%}  "
        f"WER {jiwer.wer(refs, greedy):.2%}"
    )
    results = []
    for weight in args.weights:
        for bonus in args.bonuses:
            start = time.perf_counter()
            hyps = [
                t.tokenizer.decode(lm_beam_search(x, lm, args.beam_width, weight, bonus))
                for x in log_probs
            ]
            cer, wer = jiwer.cer(refs, hyps), jiwer.wer(refs, hyps)
            results.append((cer, wer, weight, bonus))
            print(
                f"weight {weight:g} bonus {bonus:g}: CER {cer:.2%}  WER {wer:.2%}  "
                f"({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    cer, wer, weight, bonus = min(results)
    print(f"best: weight {weight:g} bonus {bonus:g} (CER {cer:.2%}, WER {wer:.2%})")
    if args.write:
        lm.weight, lm.bonus = weight, bonus
        lm.save(args.lm)
        print(f"stored in {args.lm}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
