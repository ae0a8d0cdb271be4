"""Real human speech from Drascula: The Vampire Strikes Back (Debian `drascula`, main).

The English game ships one raw speech file per recorded line (``N.ALS``, ``D12.ALS``,
``VB7.ALS``, ... in ``/usr/share/scummvm/drascula/en``) and ScummVM's ``drascula.dat`` holds
the text of every line. Learned from ScummVM's ``engines/drascula`` (``loadDrasculaDat``,
``talk*``, ``playFile``): our own reader, no engine code.

- ``drascula.dat``: ``DRASCULA``, a version byte, then tables of game data, each a uint16
  BE count of fixed-size records (``TABLES``), then a uint16 BE language count and 15 text
  tables (``TEXT_TABLES``). A text table is a uint16 BE string count, then per language a
  uint16 BE byte length and that many bytes: NUL-padded strings, each after a 4-byte
  big-endian size (string 0 is empty; see ``text_block_strings``). English is language 0.
- A speech file's prefix names the table of its text and so who says it: ``N.ALS`` is
  line N of ``_text`` (John Hacker, the player), ``D`` of ``_textd`` (Drascula; lines
  56-67 are John's replies to the blind man, ``talk_hacker``, and from line 68,
  ``TEXTD_START``, the blind man's own, ``talk_blind``), ``B`` the drunk, ``BJ`` B.J.,
  ``E`` the prisoner (a villager Drascula keeps for parts), ``I`` Igor, ``L`` the
  werewolf, ``P`` the pianist, ``T`` the bartender, ``VB`` Von Braun. ``S`` and ``F``
  files are played by name from scripts with texts picked there, and ``D82``/``D83`` say
  lines of other tables: all are left out.
- Audio: 8-bit unsigned mono PCM at 11,025 Hz, no header. The English ``3.ALS`` opens with
  6.7 s and ends with 2.4 s of silence, which the engine skips (``TRIM``); so do we.

    apt-get install drascula                   # Debian main
    python tools/drascula_corpus.py --out corpora/drascula

Writes ``OUT/audio/<speaker>/<file>.flac`` (11,025 Hz, 16-bit; asr resamples on load),
``OUT/all.jsonl`` (every kept clip, with ``speaker`` and ``speech_file``) and the
speaker-disjoint ``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` (``DEV``, ``TEST``); what is
left out, and why, goes to stderr. Existing FLACs are kept, so a second run only rewrites
the manifests.

License of the game data: the Drascula license, (C) 1996-2008 Alcachofa Soft S.L. (see
/usr/share/doc/drascula/copyright): made freely available in the same terms as Beneath a
Steel Sky and Flight of the Amazon Queen (free to copy and distribute with the notices
intact, no fee for the game itself, free to modify); provided as is.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from game_corpus import keep_clip, report_dropped, text_problem, write_speaker_splits  # noqa: E402

GAME_DIR = Path("/usr/share/scummvm/drascula/en")
DAT_FILE = Path("/usr/share/scummvm/drascula.dat")
MAGIC = b"DRASCULA"
DAT_VERSION = 6  # the layout below; ScummVM 2.7 reads this one
# The game-data tables before the texts, in file order: (name, bytes per record).
TABLES = (
    ("char map", 4),
    ("item locations", 4),
    ("polygon", 4),
    ("verb bar", 2),
    ("menu", 4),
    ("frames", 2),
    ("candles", 4),
    ("pianist frames", 2),
    ("drunk frames", 2),
    ("room pre-updates", 20),
    ("room updates", 20),
    ("room actions", 10),
    ("talk sequences", 8),
)
TEXT_TABLES = (
    "text", "textd", "textb", "textbj", "texte", "texti", "textl", "textp", "textt",
    "textvb", "textsys", "texthis", "textverbs", "textmisc", "textd1",
)  # fmt: skip
ENGLISH = 0
SLOT_HEADER = 4  # bytes before string 1: string 0 (empty) and the first size
# speech-file prefix -> (text table, speaker)
PREFIXES = {
    "": ("text", "hacker"),
    "B": ("textb", "drunk"),
    "BJ": ("textbj", "bj"),
    "D": ("textd", "drascula"),
    "E": ("texte", "prisoner"),  # the village drunkard Drascula keeps for parts
    "I": ("texti", "igor"),
    "L": ("textl", "werewolf"),
    "P": ("textp", "pianist"),
    "T": ("textt", "bartender"),
    "VB": ("textvb", "vonbraun"),
}
# who says the D table's lines, from each first line on: Drascula, then John's replies in the
# blind man's scene (talk_hacker), then the blind man (talk_blind, from TEXTD_START = 68)
D_SPEAKERS = ((1, "drascula"), (56, "hacker"), (68, "blind"))
OTHER_TABLE = {"D82", "D83"}  # the bartender's and the trunk's lines, said from D files
# the engine's one special case: English 3.ALS (this many bytes) played from..to these offsets
TRIM = {"3": (145166, 73959, 145166 - 26306)}
SPEECH_NAME = re.compile(r"([A-Z]*)(\d+)\.ALS", re.IGNORECASE)
SAMPLE_RATE = 11025
# Held-out characters (whole voices), chosen from the minutes per character, before any
# model trained on this corpus: B.J. (the one woman) and Von Braun for test, Igor and the
# werewolf for dev; John Hacker (the player, 22.6 of 48.7 minutes) and the rest train. The
# credits are not in the data: whether one actor voices two characters is not known.
DEV = ("igor", "werewolf")
TEST = ("bj", "vonbraun")


def _u16(data: bytes, pos: int) -> int:
    return struct.unpack_from(">H", data, pos)[0]


def text_block_strings(block: bytes, count: int) -> list[str]:
    """The ``count`` strings of one language's block (the engine's walk): string 0 starts
    the block; string i starts where i - 1 did plus the 16-bit size stored in the two bytes
    before i - 1's start (the first size sits in bytes 2-3 and reaches string 1 at 4)."""
    starts, pos = [0], SLOT_HEADER
    for _ in range(1, count):
        pos += _u16(block, pos - 2)
        if pos > len(block):
            raise ValueError(f"text slot runs past its block ({pos} > {len(block)} bytes)")
        starts.append(pos)
    out = []
    for start in starts:
        end = block.find(b"\0", start)
        out.append(block[start : end if end >= 0 else len(block)].decode("latin-1"))
    return out


def read_texts(dat: bytes, language: int = ENGLISH) -> dict[str, list[str]]:
    """Every text table of ``drascula.dat`` in one language."""
    if dat[: len(MAGIC)] != MAGIC:
        raise ValueError("not a drascula.dat (no DRASCULA magic)")
    if dat[len(MAGIC)] != DAT_VERSION:
        raise ValueError(f"drascula.dat version {dat[len(MAGIC)]}; only {DAT_VERSION} is known")
    pos = len(MAGIC) + 1
    for _, size in TABLES:
        pos += 2 + _u16(dat, pos) * size
    languages = _u16(dat, pos)
    pos += 2
    if not 0 <= language < languages:
        raise ValueError(f"language {language} not among the {languages} in drascula.dat")
    tables = {}
    for name in TEXT_TABLES:
        count = _u16(dat, pos)
        pos += 2
        for lang in range(languages):
            length = _u16(dat, pos)
            pos += 2
            if lang == language:
                tables[name] = text_block_strings(dat[pos : pos + length], count)
            pos += length
    if pos != len(dat):
        raise ValueError(f"drascula.dat has {len(dat) - pos} bytes after its last table")
    return tables


def line_of(name: str, texts: dict[str, list[str]]) -> tuple[str, str] | str:
    """(speaker, text) a speech file says, or why it is left out."""
    match = SPEECH_NAME.fullmatch(name)
    if match is None:
        return "not a speech file name"
    prefix, number = match.group(1).upper(), int(match.group(2))
    if prefix not in PREFIXES:
        return f"{prefix} files (no text table; S and F are played by name from scripts)"
    if f"{prefix}{number}" in OTHER_TABLE:
        return "line of another table said from a D file"
    table, speaker = PREFIXES[prefix]
    lines = texts[table]
    if not 0 < number < len(lines):
        return "no text line for the file"
    if prefix == "D":
        speaker = [who for first, who in D_SPEAKERS if number >= first][-1]
    return speaker, lines[number]


def speech_samples(data: bytes, stem: str = "") -> np.ndarray:
    """Float samples in [-1, 1) of 8-bit unsigned PCM, trimmed as the engine plays file
    ``stem`` (``TRIM``)."""
    size, start, end = TRIM.get(stem.upper(), (len(data), 0, len(data)))
    if len(data) == size:
        data = data[start:end]
    return (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0


def clip_audio(path: Path) -> tuple[np.ndarray, int]:
    """A speech file's samples (trimmed as the engine plays it) and sample rate."""
    return speech_samples(path.read_bytes(), path.stem), SAMPLE_RATE


def clean(text: str) -> str:
    """The words as written, spaces tidied ("WAIT...I" keeps its break)."""
    return " ".join(re.sub(r"\.{2,}", " ", text).split())


def build(out: Path, game: Path, dat: Path, limit: int | None = None) -> list[dict]:
    texts = read_texts(dat.read_bytes())
    dropped: Counter = Counter()
    rows = []
    for path in sorted(game.iterdir(), key=lambda p: p.name.upper()):
        if path.suffix.upper() != ".ALS":
            continue
        if limit is not None and len(rows) >= limit:
            break
        line = line_of(path.name, texts)
        if isinstance(line, str):
            dropped[line] += 1
            continue
        speaker, raw = line
        text = clean(raw)
        problem = text_problem(text)
        if problem:
            dropped[problem] += 1
            continue
        rel = Path("audio") / speaker / f"{path.stem.upper()}.flac"
        seconds = keep_clip(out, rel, text, partial(clip_audio, path), dropped)
        if seconds is None:
            continue
        rows.append(
            {
                "audio_filepath": str(rel),
                "text": text,
                "duration": round(seconds, 3),
                "speaker": speaker,
                "speech_file": path.stem.upper(),
            }
        )
    report_dropped(dropped)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--game", type=Path, default=GAME_DIR, help="folder of the .ALS files")
    parser.add_argument("--dat", type=Path, default=DAT_FILE, help="ScummVM's drascula.dat")
    parser.add_argument(
        "--limit", type=int, default=None, help="stop after this many clips (a quick look)"
    )
    args = parser.parse_args(argv)
    for need in (args.game, args.dat):
        if not need.exists():
            parser.error(f"{need}: not found; apt-get install drascula")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = build(args.out, args.game, args.dat, args.limit)
    write_speaker_splits(args.out, rows, {"dev": DEV, "test": TEST})
    return 0


if __name__ == "__main__":
    sys.exit(main())
