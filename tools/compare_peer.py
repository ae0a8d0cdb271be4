"""asr beside PocketSphinx on the same clips: WER, CER and x real time for both, in one process.

PocketSphinx 5 (``pip install pocketsphinx``) with its bundled 2015-era en-us acoustic model,
language model and dictionary is the peer: a mature, offline, CPU-only recognizer. Both see
the same 16 kHz mono samples (asr's loader); references and hypotheses go through asr's
text normalization before jiwer scores them.

    python tools/compare_peer.py corpora/uqm/dev.jsonl --decoder beam
    python tools/compare_peer.py corpora/uqm/all.jsonl --per-speaker --limit-per-speaker 20

``--per-speaker`` adds a row per manifest ``speaker`` (what decides which real voices to
keep). ``--json F`` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.audio import load_audio  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.metrics import error_rates  # noqa: E402
from asr.text import normalize_text  # noqa: E402

RATE = 16000  # Hz: what both recognizers are fed


def pocketsphinx_decoder():
    """PocketSphinx with its bundled en-us model, or an error saying how to install it."""
    try:
        from pocketsphinx import Decoder
    except ImportError as e:
        raise SystemExit("pocketsphinx is not installed: pip install pocketsphinx") from e
    return Decoder(samprate=RATE, loglevel="FATAL")


def sphinx_text(decoder, samples: np.ndarray) -> str:
    """PocketSphinx's best hypothesis for one utterance of float samples."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def _rates(refs: list[str], hyps: list[str]) -> dict[str, float]:
    wer, cer = error_rates(refs, hyps)
    return {"wer": wer, "cer": cer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--model", help="asr model directory (default: the shipped model)")
    parser.add_argument("--decoder", default="beam", help="asr decoder (default: beam)")
    parser.add_argument("--beam-width", type=int, default=16)
    parser.add_argument("--per-speaker", action="store_true", help="a row per speaker too")
    parser.add_argument("--limit-per-speaker", type=int, help="at most N clips per speaker")
    parser.add_argument("--seed", type=int, default=0, help="which clips --limit picks")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)

    from asr.transcribe import Transcriber

    utts = read_manifest(args.manifest)
    if args.limit_per_speaker:
        by: dict[str, list] = defaultdict(list)
        for u in utts:
            by[u.speaker or ""].append(u)
        rng = random.Random(args.seed)
        utts = [
            u
            for group in by.values()
            for u in rng.sample(group, min(len(group), args.limit_per_speaker))
        ]
    signals = [load_audio(u.audio_filepath, RATE) for u in utts]
    seconds = sum(len(s) for s in signals) / RATE
    refs = [normalize_text(u.text) for u in utts]

    transcriber = Transcriber.load(args.model)
    start = time.perf_counter()
    ours = transcriber.transcribe_arrays(signals, args.decoder, args.beam_width)
    ours_s = time.perf_counter() - start
    sphinx = pocketsphinx_decoder()
    start = time.perf_counter()
    theirs = [normalize_text(sphinx_text(sphinx, s)) for s in signals]
    theirs_s = time.perf_counter() - start

    keep = [i for i, r in enumerate(refs) if r]
    result = {
        "manifest": str(args.manifest),
        "utterances": len(keep),
        "audio_hours": seconds / 3600,
        "asr": {
            "decoder": transcriber.describe_decoder(args.decoder, args.beam_width),
            **_rates([refs[i] for i in keep], [ours[i] for i in keep]),
            "xrt": seconds / ours_s,
        },
        "pocketsphinx": {
            **_rates([refs[i] for i in keep], [theirs[i] for i in keep]),
            "xrt": seconds / theirs_s,
        },
        "speakers": {},
    }
    print(f"{args.manifest}: {len(keep)} utterances, {seconds / 3600:.2f} h")
    print(f"{'':16}{'asr WER':>9}{'CER':>8}{'sphinx WER':>12}{'CER':>8}{'clips':>7}")

    def row(name: str, idx: list[int]) -> dict:
        a = _rates([refs[i] for i in idx], [ours[i] for i in idx])
        p = _rates([refs[i] for i in idx], [theirs[i] for i in idx])
        print(
            f"{name[:16]:16}{a['wer']:9.1%}{a['cer']:8.1%}{p['wer']:12.1%}{p['cer']:8.1%}"
            f"{len(idx):7d}"
        )
        return {"asr": a, "pocketsphinx": p, "utterances": len(idx)}

    if args.per_speaker:
        speakers: dict[str, list[int]] = defaultdict(list)
        for i in keep:
            speakers[utts[i].speaker or "?"].append(i)
        for name in sorted(speakers):
            result["speakers"][name] = row(name, speakers[name])
    row("all", keep)
    print(
        f"x real time: asr {result['asr']['xrt']:.1f} ({result['asr']['decoder']}), "
        f"pocketsphinx {result['pocketsphinx']['xrt']:.1f}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
