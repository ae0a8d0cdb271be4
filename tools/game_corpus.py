"""What every game-dialogue importer does once it has its clips: manifests split by speaker.

Shared by tools/uqm_corpus.py, tools/fotaq_corpus.py, tools/bass_corpus.py and
tools/drascula_corpus.py, which differ only in how they read their game's data. Whole
speakers (characters) are held out as dev and test, so both measure voices the model never
trained on.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.fileio import atomic_path, atomic_write_text  # noqa: E402
from asr.text import normalize_text  # noqa: E402

MAX_SECONDS = 20.0  # longer clips are left out (they would dominate a batch's padding)
MAX_CHARS_PER_SECOND = 25  # more is not speech of that text (fast speech is ~15 chars/s)
# Characters a line is not read as written with: markup, symbols and digits ("WD40").
UNSPOKEN = re.compile(r"[<>#/%+=\[\]{}|~^_\\*@$&0-9]")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """One JSON object a line, written atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def text_problem(text: str) -> str:
    """Why a line's text cannot be a transcript as written ("" when it can): nothing to
    say, letters outside ASCII, or symbols and digits read some other way than spelled."""
    if not normalize_text(text):
        return "empty text"
    if not all(c.isascii() for c in text):
        return "non-ASCII text"
    if UNSPOKEN.search(text):
        return "text not read as written (symbols)"
    return ""


def unfit(
    text: str,
    seconds: float,
    max_seconds: float = MAX_SECONDS,
    max_chars_per_second: float = MAX_CHARS_PER_SECOND,
) -> str:
    """Why a clip cannot train a CTC model ("" when it can): too long for a batch, or more
    text than its audio can hold (usually a line matched to the wrong clip)."""
    if seconds > max_seconds:
        return f"longer than {max_seconds:g} s"
    if len(text) > max_chars_per_second * seconds:
        return "more text than the audio can hold"
    return ""


def keep_clip(
    out: Path,
    rel: Path,
    text: str,
    load: Callable[[], tuple[np.ndarray, int]],
    dropped: Counter,
    frames: int | None = None,
) -> float | None:
    """The clip's duration in seconds if it can train, its FLAC at ``out / rel`` written once
    (atomically; an existing file is kept, so a rerun only reads what it lacks); None, with
    why counted in ``dropped``, if it cannot. ``load`` gives (samples, sample rate).
    ``frames``, when the caller knows the clip's length: an existing file of another length
    is written again (a clip cut from a longer file whose cut points changed)."""
    path = out / rel
    if path.exists() and (frames is None or sf.info(path).frames == frames):
        seconds = sf.info(path).duration
    else:
        samples, rate = load()
        seconds = len(samples) / rate
        if not unfit(text, seconds):
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as temp:
                sf.write(temp, samples, rate, subtype="PCM_16", format="FLAC")
    why = unfit(text, seconds)
    if why:
        dropped[why] += 1
        return None
    return seconds


def report_dropped(dropped: Mapping[str, int]) -> None:
    """How many clips were left out, and why, on stderr."""
    for why, n in sorted(dropped.items()):
        print(f"left out {n}: {why}", file=sys.stderr)


def write_speaker_splits(
    out: Path, rows: list[dict], held_out: Mapping[str, Collection[str]]
) -> dict[str, list[dict]]:
    """Write all.jsonl, train.jsonl and one manifest per held-out group except "excluded"
    (e.g. {"dev": {...}, "test": {...}, "excluded": {...}}: speakers in no manifest but
    all.jsonl), and print hours per speaker and per split; returns the parts."""
    write_jsonl(out / "all.jsonl", rows)
    hours: dict[str, float] = defaultdict(float)
    for r in rows:
        hours[r["speaker"]] += r["duration"] / 3600
    total = sum(hours.values()) or 1.0
    parts = {name: [r for r in rows if r["speaker"] in group] for name, group in held_out.items()}
    held = {s for group in held_out.values() for s in group}
    parts["train"] = [r for r in rows if r["speaker"] not in held]
    for name, part in parts.items():
        if name != "excluded":
            write_jsonl(out / f"{name}.jsonl", part)
    for speaker, h in sorted(hours.items(), key=lambda kv: -kv[1]):
        role = next((n for n, group in held_out.items() if speaker in group), "train")
        n = sum(r["speaker"] == speaker for r in rows)
        print(f"{speaker}\t{n}\t{h:.3f} h\t{100 * h / total:.1f} %\t{role}")
    for name, part in parts.items():
        h = sum(r["duration"] for r in part) / 3600
        print(f"{name}: {len(part)} clips, {h:.2f} h ({100 * h / total:.1f} %)")
    print(f"{len(rows)} clips, {sum(hours.values()):.2f} h, {len(hours)} speakers")
    return parts
