"""Real human speech from The Ur-Quan Masters (Debian non-free `uqm-voice` + `uqm-content`).

The voice pack (a zip) holds ``3dovoice/<race>/<race>-NNN.ogg`` dialogue clips and
``<race>.ts`` (per clip ID, the ms at which each subtitle line after the first starts,
relative to the previous one); the content pack holds ``base/comm/<race>/<race>.txt``
(``#(ID)<TAB>clip.ogg`` and then the spoken lines, entries separated by blank lines). Each
clip is cut into one utterance per subtitle line, at the line times snapped to the quietest
10 ms nearby, so no word is split. One race is one character (one voice actor as far as
the credits go), which is what the splits hold out.

    apt-get install uqm-voice uqm-content     # needs Debian's non-free component
    python tools/uqm_corpus.py --out corpora/uqm

Writes ``OUT/audio/<race>/<clip>-<k>.flac`` (the game's 11,025 Hz, 16-bit; asr resamples on
load), ``OUT/all.jsonl`` (every utterance, with ``speaker``), and the speaker-disjoint
``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` (see ``DEV``/``TEST``/``EXCLUDED``).
License of the recordings: CC BY-NC-SA 2.5 (see /usr/share/doc/uqm-voice/copyright).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from game_corpus import keep_clip, report_dropped, write_speaker_splits  # noqa: E402

from asr.text import normalize_text  # noqa: E402

VOICE_PACK = Path("/usr/share/games/uqm/content/addons/uqm-0.8.0-voice.uqm")
CONTENT_PACK = Path("/usr/share/games/uqm/content/packages/uqm-0.8.0-content.uqm")
SNAP_SECONDS = 0.25  # a cut moves to the quietest 10 ms frame within this of the line time
MIN_SECONDS = 0.6  # shorter pieces are joined to the next line's
# Text that is not read as written: fractions and percentages ("2/3", "1%"), on-screen
# markup ("<...>", "+"); lines holding them are left out.
UNSPOKEN = re.compile(r"[/%<>+]")

# Held-out characters, chosen before any model was trained on this corpus from
# PocketSphinx's WER on 20 clips of each (tools/compare_peer.py --per-speaker; the figures are
# in docs/EXPERIMENTS.md): the most human-sounding voices (Sphinx WER 54-69 %) are held out,
# Commander Hayes ("commander" and "starbase" are one actor) as test. The two voices whose
# Sphinx WER is past 120 % (more words inserted than said: the electronically processed
# Ur-Quan and Umgah) are left out. Everyone else trains.
DEV = ("syreen", "vux")
TEST = ("commander", "starbase", "druuge")
EXCLUDED = ("umgah", "urquan")


@dataclass(frozen=True)
class Entry:
    """One dialogue clip and its subtitle lines."""

    race: str
    ident: str
    clip: str
    lines: tuple[str, ...]


def parse_dialogue(text: str, race: str) -> list[Entry]:
    """Entries of a ``<race>.txt`` that have a voice clip (player lines have none)."""
    entries = []
    for block in re.split(r"\n(?=#\()", text.replace("\r\n", "\n")):
        head, *rest = block.strip("\n").split("\n")
        m = re.match(r"#\((\w+)\)\s*(\S*)", head)
        if m and m.group(2):
            lines = tuple(line.strip() for line in rest if line.strip())
            entries.append(Entry(race, m.group(1), m.group(2), lines))
    return entries


def parse_times(text: str) -> dict[str, list[int]]:
    """``<race>.ts``: clip ID -> ms lengths of every subtitle line but the last."""
    times = {}
    for line in text.splitlines():
        m = re.match(r"#\((\w+)\)\s*(.*)", line)
        if m:
            times[m.group(1)] = [int(x) for x in m.group(2).split(",") if x.strip()]
    return times


def _quietest(samples: np.ndarray, rate: int, at: int) -> int:
    """The start of the quietest 10 ms frame within SNAP_SECONDS of sample ``at``."""
    hop = rate // 100
    lo, hi = max(0, at - int(SNAP_SECONDS * rate)), min(len(samples), at + int(SNAP_SECONDS * rate))
    if hi - lo < 2 * hop:
        return at
    frames = [(float(np.mean(samples[i : i + hop] ** 2)), i) for i in range(lo, hi - hop, hop)]
    return min(frames)[1] + hop // 2


def cut(entry: Entry, times: list[int], samples: np.ndarray, rate: int):
    """(text, start, stop) pieces of one clip, one per subtitle line, short ones merged."""
    if len(times) != len(entry.lines) - 1:
        return [(" ".join(entry.lines), 0, len(samples))] if len(entry.lines) else []
    bounds = [0]
    for ms in times:
        bounds.append(bounds[-1] + int(ms * rate / 1000))
    if bounds[-1] >= len(samples):
        return [(" ".join(entry.lines), 0, len(samples))]
    bounds = [0, *(_quietest(samples, rate, b) for b in bounds[1:]), len(samples)]
    pieces = []
    text, start = "", 0
    for line, stop in zip(entry.lines, bounds[1:], strict=True):
        text = f"{text} {line}".strip()
        if stop - start >= MIN_SECONDS * rate or stop == len(samples):
            pieces.append((text, start, stop))
            text, start = "", stop
    return pieces


def build(out: Path, voice_pack: Path, content_pack: Path) -> list[dict]:
    """Extract every usable utterance; returns the manifest rows (paths relative to OUT)."""
    voice, content = zipfile.ZipFile(voice_pack), zipfile.ZipFile(content_pack)
    names = set(voice.namelist())
    rows, dropped = [], Counter()
    for name in sorted(content.namelist()):
        m = re.fullmatch(r"base/comm/(\w+)/\1\.txt", name)
        if not m:
            continue
        race = m.group(1)
        ts = f"3dovoice/{race}/{race}.ts"
        times = parse_times(voice.read(ts).decode("latin-1")) if ts in names else {}
        for entry in parse_dialogue(content.read(name).decode("latin-1"), race):
            member = f"3dovoice/{race}/{entry.clip}"
            if member not in names:
                dropped["clip missing"] += 1
                continue
            samples, rate = sf.read(io.BytesIO(voice.read(member)), dtype="float32")
            if samples.ndim == 2:
                samples = samples.mean(axis=1)
            pieces = cut(entry, times.get(entry.ident, []), samples, rate)
            for k, (text, a, b) in enumerate(pieces):
                if UNSPOKEN.search(text) or not normalize_text(text):
                    dropped["text not read as written"] += 1
                    continue
                rel = Path("audio") / race / f"{Path(entry.clip).stem}-{k}.flac"
                piece = (samples[a:b], rate)
                seconds = keep_clip(out, rel, text, lambda piece=piece: piece, dropped, b - a)
                if seconds is None:
                    continue
                rows.append(
                    {
                        "audio_filepath": str(rel),
                        "text": text,
                        "duration": round(seconds, 3),
                        "speaker": race,
                    }
                )
    report_dropped(dropped)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--voice-pack", type=Path, default=VOICE_PACK)
    parser.add_argument("--content-pack", type=Path, default=CONTENT_PACK)
    args = parser.parse_args(argv)
    for pack in (args.voice_pack, args.content_pack):
        if not pack.is_file():
            parser.error(f"{pack}: not found; apt-get install uqm-voice uqm-content (non-free)")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = build(args.out, args.voice_pack, args.content_pack)
    write_speaker_splits(args.out, rows, {"dev": DEV, "test": TEST, "excluded": EXCLUDED})
    return 0


if __name__ == "__main__":
    sys.exit(main())
