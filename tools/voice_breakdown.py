"""CER/WER per synthesizer, voice family or accent, from an `asr evaluate` report.

Why: one figure over a test split hides where the errors are. On the shipped model's held-out
split, half the characters come from one flite voice whose CER is three times the espeak-ng
voices'; this table is how the README knows that.

    asr evaluate --manifest corpora/big/test.jsonl --decoder beam --report test.json
    python tools/voice_breakdown.py test.json corpora/big/voices.jsonl --by engine family

voices.jsonl is what tools/make_corpus.py writes beside the manifests: one line per
utterance with its voice ("espeak-ng:en-gb+Alicia", "flite:awb"), rate and pitch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

GROUPS: dict[str, Callable[[str], str]] = {
    "engine": lambda voice: voice.split(":", 1)[0],
    # variant families as make_corpus holds them out: Alicia/alicia, steph2 -> steph
    "family": lambda voice: (
        voice.split(":", 1)[0]
        + ":"
        + voice.split(":", 1)[1].split("+")[-1].lower().rstrip("0123456789")
    ),
    "accent": lambda voice: voice.split("+")[0],  # flite voices are their own accent
    "voice": lambda voice: voice,
}


def read_voices(path: Path) -> dict[Path, str]:
    """Absolute audio path -> voice, from make_corpus's voices.jsonl."""
    voices = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                entry = json.loads(line)
                audio, voice = entry["audio_filepath"], entry["voice"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise SystemExit(
                    f"{path}:{number}: not a voices.jsonl line with audio_filepath and voice "
                    f"({exc}); pass the voices.jsonl that tools/make_corpus.py wrote"
                ) from None
            voices[(path.parent / audio).resolve()] = voice
    return voices


def breakdown(
    utterances: Iterable[dict], voices: dict[Path, str], group: str
) -> list[tuple[str, int, float, float, int]]:
    """(group, utterances, CER, WER, characters) per group, worst CER first."""
    key = GROUPS[group]
    totals: dict[str, list[int]] = {}
    for u in utterances:
        path = Path(u["audio_filepath"]).resolve()
        if path not in voices:
            raise SystemExit(f"{path}: not in voices.jsonl; pass the corpus the report scored")
        t = totals.setdefault(key(voices[path]), [0, 0, 0, 0, 0])
        for i, n in enumerate((1, u["char_errors"], u["chars"], u["word_errors"], u["words"])):
            t[i] += n
    rows = [
        (name, n, ce / max(c, 1), we / max(w, 1), c) for name, (n, ce, c, we, w) in totals.items()
    ]
    return sorted(rows, key=lambda r: -r[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="JSON report of `asr evaluate --report`")
    parser.add_argument("voices", type=Path, help="voices.jsonl of the corpus it scored")
    parser.add_argument("--by", nargs="+", choices=sorted(GROUPS), default=["engine", "family"])
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    voices = read_voices(args.voices)
    print(f"{args.report}: {report['decoder']}, CER {report['cer']:.2%}, WER {report['wer']:.2%}")
    for group in args.by:
        print(f"\n| {group} | utterances | CER | WER | share of characters |")
        print("|---|---|---|---|---|")
        rows = breakdown(report["per_utterance"], voices, group)
        total = sum(r[4] for r in rows)
        for name, n, cer, wer, chars in rows:
            print(f"| {name} | {n} | {cer:.2%} | {wer:.2%} | {chars / total:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
