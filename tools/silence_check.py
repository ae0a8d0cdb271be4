"""Does a model read words into silence? Noise-only clips and speech padded with noise.

Why a tool: the test sets are trimmed clips, so a model that turns room noise into words
passes them; recordings with pauses do not. Two measures, with the decoder asked for:

- **noise only**: ``--noise-clips`` clips of 3 s, white, pink and brown noise at levels
  spread over -80..-30 dBFS (RMS), seeded apart from any training noise: the share of clips
  given any text, and the letters given per minute of noise;
- **padded speech**: every ``--every``-th line of ``--manifest``, each clip with 1 s of noise
  before and after it and the same noise under it, at each ``--levels`` dBFS: CER / WER
  against the transcripts, beside the clean clips'.

    python tools/silence_check.py --model checkpoints/default --manifest corpora/real_dev.jsonl
    python tools/silence_check.py ... --decoder greedy --json runs/x/silence.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.audio import load_audio  # noqa: E402
from asr.channel import colored_noise  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.metrics import error_rates  # noqa: E402
from asr.text import normalize_text  # noqa: E402
from asr.transcribe import Transcriber  # noqa: E402
from asr.vad import VAD_DEFAULT  # noqa: E402

SEED = 20261130  # apart from asr.data.NoiseRows' training bank (seed 0)


def noise(
    n: int, dbfs: float, color: int, rng: np.random.Generator, rate: int = 16000
) -> np.ndarray:
    """``n`` samples of white (0), pink (1) or brown (2) noise at ``dbfs`` RMS (audible band)."""
    return (colored_noise(n, rng, float(color), rate) * 10 ** (dbfs / 20)).astype(np.float32)


def _scores(refs: list[str], hyps: list[str]) -> dict:
    wer, cer = error_rates(refs, hyps)
    return {"cer": cer, "wer": wer}


def noise_only(t: Transcriber, decoder: str, clips: int) -> dict:
    """Share of noise clips given text, and letters per minute of noise."""
    rng = np.random.default_rng(SEED)
    rate = t.config.features.sample_rate
    levels = np.linspace(-80.0, -30.0, clips)
    texts = [
        t.transcribe(noise(3 * rate, level, k % 3, rng, rate), decoder=decoder)
        for k, level in enumerate(levels)
    ]
    letters = sum(len(x.replace(" ", "")) for x in texts)
    return {
        "clips": clips,
        "with_text": sum(bool(x) for x in texts) / clips,
        "letters_per_minute": letters / (clips * 3 / 60),
        "examples": [f"{lv:.0f} dBFS: {x}" for lv, x in zip(levels, texts, strict=True) if x][:8],
    }


def padded(
    t: Transcriber, decoder: str, manifest: Path, every: int, levels: list[float], offset: int = 0
) -> dict:
    """CER / WER of clean clips and of the same clips in noise, 1 s of it on each side: every
    ``every``-th line of ``manifest`` from line ``offset`` (0-based) on."""
    rows = read_manifest(manifest)[offset::every]
    refs = [normalize_text(u.text) for u in rows]
    out: dict = {"clips": len(rows)}
    rate = t.config.features.sample_rate
    audio = [load_audio(u.audio_filepath, rate) for u in rows]
    hyps = [t.transcribe(a, decoder=decoder) for a in audio]
    out["clean"] = _scores(refs, hyps)
    for level in levels:
        rng = np.random.default_rng(SEED + int(-level))
        hyps = []
        for k, a in enumerate(audio):
            bed = noise(len(a) + 2 * rate, level, k % 3, rng, rate)
            bed[rate : rate + len(a)] += a
            hyps.append(t.transcribe(bed, decoder=decoder))
        out[f"{level:.0f} dBFS"] = _scores(refs, hyps)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model directory (default: the shipped one)")
    p.add_argument("--manifest", type=Path, default=ROOT / "corpora" / "real_dev.jsonl")
    p.add_argument("--every", type=int, default=20, help="every Nth manifest line (default 20)")
    p.add_argument("--levels", type=float, nargs="+", default=[-70.0, -60.0, -50.0])
    p.add_argument("--noise-clips", type=int, default=60)
    p.add_argument("--decoder", default="auto", help="greedy, beam or auto (default)")
    p.add_argument("--offset", type=int, default=0, help="first manifest line taken (default 0)")
    p.add_argument(
        "--vad",
        action=argparse.BooleanOptionalAction,
        default=VAD_DEFAULT,
        help="gate frames away from speech as transcribe can (asr.vad; default: %(default)s)",
    )
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    if args.offset < 0 or args.every < 1:
        p.error("--offset must be >= 0 and --every >= 1")
    t = Transcriber.load(args.model, vad=args.vad)
    start = time.perf_counter()
    result = {
        "model": str(args.model or "checkpoints/default"),
        "decoder": t.resolve_decoder(args.decoder),
        "vad": t.vad,
        "noise_only": noise_only(t, args.decoder, args.noise_clips),
        "padded": padded(t, args.decoder, args.manifest, args.every, args.levels, args.offset),
    }
    result["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
