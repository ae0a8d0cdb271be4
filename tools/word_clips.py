"""Real spoken words cut from transcribed speech, for `asr classify`: keywords and digits
said by the game characters of The Ur-Quan Masters, Flight of the Amazon Queen and Beneath a
Steel Sky (or any transcribed corpus with train/dev/test manifests split by speaker).

Each transcript is force-aligned to its audio with a CTC model (``Transcriber.align``); each
target word (and each of the preset's ``unknown`` words) is cut from the gap after the word
before it to the gap before the word after it (at most ``--pad`` beyond the word's letters),
faded at both ends and placed in a 1 s clip through the same random channel and noise as
``tools/keyword_corpus.py``. Words whose letters the model found unlikely on the forced path
(geometric mean posterior under ``--min-confidence``) are dropped as probable misalignments.
A corpus's splits become train/val/test, so its held-out speakers stay held out:

    python tools/word_clips.py --preset keywords --out corpora/keywords_real \
        corpora/uqm corpora/fotaq corpora/bass

Writes ``OUT/<split>/<label>/<source>-NNNNNN.wav`` and ``OUT/{train,val,test}.jsonl`` (label
manifests; ``speaker`` is ``source:character``). Deterministic for a ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keyword_corpus import DIGITS, KEYWORDS, RATE, UNKNOWN_WORDS, room, write_clip  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.fileio import atomic_write_text  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.text import normalize_text  # noqa: E402

SPLITS = {"train": "train", "dev": "val", "test": "test"}  # corpus split -> classifier split
PRESETS = {"keywords": (KEYWORDS, UNKNOWN_WORDS), "digits": (DIGITS, ())}
FADE_SECONDS = 0.01
BATCH = 32


def word_bounds(words: Sequence, index: int, duration: float, pad: float) -> tuple[float, float]:
    """Seconds to cut word ``index`` at: its letters widened by up to ``pad`` on each side,
    never into the letters of the words beside it (CTC marks a letter where the model emits
    it, often narrower than the sound, so the gaps between words are where to cut)."""
    w = words[index]
    before = words[index - 1].end if index > 0 else 0.0
    after = words[index + 1].start if index + 1 < len(words) else duration
    return max(before, w.start - pad, 0.0), min(after, w.end + pad, duration)


def cut(samples: np.ndarray, start: float, end: float, rate: int = RATE) -> np.ndarray:
    """Samples between two times, faded in and out so the cut makes no click."""
    piece = samples[int(start * rate) : int(np.ceil(end * rate))].astype(np.float64)
    fade = min(int(FADE_SECONDS * rate), len(piece) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
    return piece


def label_of(word: str, targets: Sequence[str], unknown: Sequence[str]) -> str | None:
    """The class a word belongs to: itself if a target, ``unknown`` if one of the others."""
    if word in targets:
        return word
    return "unknown" if word in unknown else None


def clips_of_source(
    transcriber,
    source: Path,
    targets: Sequence[str],
    unknown: Sequence[str],
    out: Path,
    rng: np.random.Generator,
    pad: float = 0.15,
    min_confidence: float = 0.05,
) -> dict[str, list[dict]]:
    """Rows per classifier split of one corpus folder's word clips (clips written to OUT)."""
    wanted = set(targets) | set(unknown)
    rows: dict[str, list[dict]] = {}
    for split, target_split in SPLITS.items():
        manifest = source / f"{split}.jsonl"
        if not manifest.is_file():
            continue
        chosen = [
            u for u in read_manifest(manifest) if wanted & set(normalize_text(u.text).split())
        ]
        rows[target_split] = []
        for first in range(0, len(chosen), BATCH):
            batch = chosen[first : first + BATCH]
            signals = [load_audio(u.audio_filepath, RATE) for u in batch]
            aligned = transcriber.align(signals, [u.text for u in batch])
            for u, samples, words in zip(batch, signals, aligned, strict=True):
                if words is None:
                    continue
                duration = len(samples) / RATE
                for i, w in enumerate(words):
                    label = label_of(w.word, targets, unknown)
                    if label is None or w.confidence < min_confidence:
                        continue
                    start, end = word_bounds(words, i, duration, pad)
                    clip = room(cut(samples, start, end), rng)
                    n = sum(len(r) for r in rows.values())
                    path = out / target_split / label / f"{source.name}-{n:06d}.wav"
                    write_clip(path, clip)
                    rows[target_split].append(
                        {
                            "audio_filepath": str(path.relative_to(out)),
                            "label": label,
                            "speaker": f"{source.name}:{u.speaker}",
                            "word": w.word,
                            "source": u.audio_filepath,
                            "start": round(start, 3),
                            "end": round(end, 3),
                            "confidence": w.confidence,
                        }
                    )
        print(
            f"{source.name} {split}: {len(rows[target_split])} clips from {len(chosen)} lines",
            file=sys.stderr,
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="corpus folders with split manifests")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="keywords")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="checkpoints/default", help="CTC model that aligns")
    parser.add_argument("--pad", type=float, default=0.15, help="seconds beyond the letters")
    parser.add_argument("--min-confidence", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from asr.transcribe import Transcriber

    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty; choose a new --out")
    transcriber = Transcriber.load(args.model)
    targets, unknown = PRESETS[args.preset]
    rng = np.random.default_rng(args.seed)
    rows: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for source in args.sources:
        for split, more in clips_of_source(
            transcriber, source, targets, unknown, args.out, rng, args.pad, args.min_confidence
        ).items():
            rows[split] += more
    for split, split_rows in rows.items():
        text = "".join(json.dumps(r) + "\n" for r in split_rows)
        atomic_write_text(args.out / f"{split}.jsonl", text)
        counts = Counter(r["label"] for r in split_rows)
        print(f"{split}: {len(split_rows)} clips {dict(sorted(counts.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
