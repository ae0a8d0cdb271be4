"""Real human speech from Flight of the Amazon Queen (Debian `flight-of-the-amazon-queen`, main).

The game ships one file, ``queen.1c``: the ScummVM "rebuilt" CD release, a table of
resources followed by their data. Its speech is ~6,700 ``.SB`` resources (MP3, 11,025 Hz
mono), one per spoken *segment*; the words are in the dialogue files (``*.DOG``), the
cutaway scripts (``*.CUT``) and the game text list (``QUEEN2.JAS``). Clip names follow the
engine (ScummVM ``engines/queen``): a sentence is cut into segments at its ``*XX`` stage
commands, and segment k (1-based, one hex digit) of a sentence is ``PREFIX + k``, where

- Joe's look-at descriptions and stock replies (``QUEEN2.JAS``) have ``JOE%04d``;
- a dialogue's lines have ``%2d%4x`` of the file's talk key and the line's id, then ``J``
  (Joe) or ``P`` (the person); the opening and repeat lines ``SSSS``/``XXXX``;
- a cutaway's lines have the script name padded with ``_`` to 5 characters and the
  object's number (``%02d``),

spaces in the first 8 characters becoming ``0``. The speaker of a person's line in a
cutaway is the actor the engine would animate (the ``queen.jas`` actor in that room with
that person slot); in a dialogue, the person the file is named after (``DOG_PERSON``);
folded into one name per character (``FAYE-H``, the talking head, is Faye).

    apt-get install flight-of-the-amazon-queen        # Debian main
    python tools/fotaq_corpus.py --out corpora/fotaq

Writes ``OUT/audio/<speaker>/<clip>.flac`` (11,025 Hz, 16-bit; asr resamples on load),
``OUT/all.jsonl`` (every kept clip, with ``speaker``) and the speaker-disjoint
``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` (see ``DEV``/``TEST``/``EXCLUDED``); what
is left out, and why, goes to stderr. Existing FLACs are
kept, so a second run only rewrites the manifests. License of the game data: the Flight of
the Amazon Queen freeware license, (C) John Passfield and Steven Stamatiadis (see
/usr/share/doc/flight-of-the-amazon-queen/copyright): free to redistribute and modify
with the readme and notices intact, modified versions marked as such, no fee for the
game itself.
"""

from __future__ import annotations

import argparse
import io
import re
import struct
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from game_corpus import keep_clip, report_dropped, write_speaker_splits  # noqa: E402

from asr.text import normalize_text  # noqa: E402

GAME_FILE = Path("/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
HEADER = 20  # every .DOG, .CUT and .JAS resource starts with a 20-byte AMOS bank header
JOE_RESPONSE_MAX = 40  # Joe's stock replies come before the object descriptions in JOEnnnn
# Text that is not read as written: sound effects in angle brackets ("<gulp>"), and digits
# other than plain numbers are absent from this game; lines holding them are left out.
UNSPOKEN = re.compile(r"[<>#/%+=\[\]{}|~^_\\]")
MARKUP = re.compile(r"@+")  # "@@ I think I'm in love @@": the font's heart glyphs
SPEECH_RESOURCE = re.compile(r"[A-Z0-9_]{8}\.SB")
SOUND_EFFECT = re.compile(r"\d+[A-Z]?S+\.SB")  # "1001SSSS.SB", "103ASSSS.SB": room sounds

# Which person answers in a dialogue file, by the file's stem (digits dropped): the .DOG
# files are named after them. Values are queen.jas actor names.
DOG_PERSON = {
    "AND": "ANDERSON",
    "APE": "APE",
    "BOB": "BOB",
    "BUD": "BUD",
    "CHEF": "CHEF",
    "CHIEF": "CHIEF",
    "DEATH": "DEATH",
    "DOG": "DOG",
    "FAYE": "FAYE",
    "FRANK": "FRANK",
    "HENRY": "HENRY",
    "IAN": "IAN",
    "JIM": "JIMMY",
    "JOHN": "JOHAN",
    "KLUNK": "KLUNK",
    "LARIS": "MIKE",  # "I'm Mike Laris the bellboy."
    "LOLA": "LOLA",
    "LOU": "LOU",  # the boy Skip
    "MAN": None,  # MAN1.DOG, MAN2.DOG: two different men (actors MAN1, MAN2)
    "NAOMI": "NAOMI",
    "ORACLE": "ORACLE",
    "PRIN": "PRINCESS1",
    "SEC": "SECRETARY",
    "SHOWERAM": "SHOWERAM",
    "SPARKY": "SPARKY",
    "TALLPYG": "PYGMY",
    "TAM": "TAMMY",  # Mary-Lou Cook
    "WEDGE": "WEDGEWOOD",
    "WITCH": "WITCH",
    "ZOMBIE": "ZOMBIE",
}
# Actor names that are one character drawn another way (a head, a pose, a scene), and
# actor names that are not what the game calls the character (the actor TAMMY is Mary-Lou
# Cook, LOU is the boy Skip, WITCH the witch doctor).
CHARACTER = {
    "ANDSON": "anderson",
    "PRINCESS1": "azura",
    "PRINCESS2": "azura",
    "AZURA": "azura",
    "TAMMY": "mary-lou",
    "LOU": "skip",
    "WITCH": "witch-doctor",
}

# Held-out characters (whole voices), chosen from the hours per character this script prints
# (before any model saw this corpus) so that dev and test are each ~10 % of the hours with
# two female and two male voices each: dev the missionaries Mary-Lou and Jimmy, Naomi and
# the guard Henry; test the secretary, the zombie woman, Frank and Klunk. Joe (38 % of
# the hours) and everyone else train. The game's credits are not in the data, so whether
# one actor voices several characters (and so is in two splits) is not known.
DEV = ("mary-lou", "jimmy", "naomi", "henry")
TEST = ("secretary", "zombie", "frank", "klunk")
EXCLUDED = ("dog",)  # a dog: it barks


# --- the resource table ---------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    version: str  # e.g. "CEM10": CD, English, version 1.0
    compression: int  # 0 none, 1 MP3, 2 Ogg Vorbis, 3 FLAC (speech and sound effects)
    entries: dict[str, tuple[int, int]]  # resource name -> (offset, size) in the file


def read_table(head: bytes) -> Table:
    """The table at the start of a rebuilt ``queen.1c``: ``QTBL``, a 6-byte version string,
    2 bytes, a compression byte, a big-endian entry count, and per entry a 12-byte
    NUL-padded name, a bundle byte, a 32-bit offset and a 32-bit size."""
    if head[:4] != b"QTBL":
        raise ValueError("not a rebuilt queen.1c (no QTBL header); only those are supported")
    version = head[4:10].split(b"\0")[0].decode("ascii")
    compression = head[12]
    (count,) = struct.unpack_from(">H", head, 13)
    entries = {}
    pos = 15
    for _ in range(count):
        name = head[pos : pos + 12].split(b"\0")[0].decode("ascii")
        _bundle, offset, size = struct.unpack_from(">BII", head, pos + 12)
        entries[name] = (offset, size)
        pos += 21
    return Table(version, compression, entries)


# --- sentences, segments and clip names -----------------------------------------------


def speech_segments(sentence: str) -> list[tuple[int, str]]:
    """``(k, text)`` for every segment the engine plays clip ``PREFIX + k`` for.

    A ``*`` ends a segment and starts a 2-character stage command (``*XY`` takes 11 more);
    the text before it is spoken as segment k. ``*GD``/``*GM`` (grab) are not spoken but
    still count. Text after the last command is one more segment.
    """
    out = []
    index = start = i = 0
    while i < len(sentence):
        if sentence[i] != "*":
            i += 1
            continue
        text = sentence[start:i]
        command = sentence[i + 1 : i + 3]
        i += 3 + (11 if command == "XY" else 0)
        if command not in ("GD", "GM"):
            out.append((index + 1, text))
        index += 1
        start = i
    if start < len(sentence):
        out.append((index + 1, sentence[start:]))
    return out


def clip_name(prefix: str, k: int) -> str:
    """The resource a segment plays: spaces in the first 8 characters become zeros."""
    name = f"{prefix}{k:x}"
    return (name[:8].replace(" ", "0") + name[8:]).upper() + ".SB"


def read_string(data: bytes, pos: int, align: int = 2) -> tuple[str, int]:
    """A length-prefixed string and the position after it, rounded up to ``align`` (the
    position is not moved past an empty string's length byte's padding)."""
    length = data[pos]
    pos += 1
    text = data[pos : pos + length].decode("latin-1")
    if length:
        pos = (pos + length + align - 1) & ~(align - 1)
    return text, pos


# --- dialogue files (.DOG) ------------------------------------------------------------


@dataclass
class Dialogue:
    talk_key: int
    joe: list[tuple[int, str]] = field(default_factory=list)  # (id, sentence), first = opening
    person: list[tuple[int, str]] = field(default_factory=list)
    person_again: str = ""  # the person's line when Joe talks to them again
    joe_again: str = ""  # Joe's opening line when he talks to them again


def parse_dialogue(resource: bytes) -> Dialogue:
    """A ``.DOG`` file: after the header, int16 level count (negative: can't quit), unique
    key, talk key, Joe line count, person line count, 2 x 3 int16 of game state, then the
    offsets of the person lines, the cutaway and the repeat lines; the dialogue tree
    (96 bytes a level) from byte 32, then Joe's lines. A line is 2 bytes, an int16 id and a
    length-prefixed string padded to 4 bytes; a list ends at its count or at the next part.
    """
    data = resource[HEADER:]
    levels, _unique, talk_key, joe_max, person_max = struct.unpack_from(">5h", data, 0)
    person_at, cutaway_at, again_at = struct.unpack_from(">3H", data, 22)

    def lines(pos: int, count: int, end: int) -> list[tuple[int, str]]:
        out = []
        for _ in range(count):
            if pos + 5 > end:
                break
            (ident,) = struct.unpack_from(">h", data, pos + 2)
            text, pos = read_string(data, pos + 4, 4)
            out.append((ident, text))
        return out

    dialogue = Dialogue(talk_key)
    dialogue.joe = lines(32 + abs(levels) * 96, joe_max, person_at)
    dialogue.person = lines(person_at, person_max, cutaway_at)
    dialogue.person_again, pos = read_string(data, again_at)
    dialogue.joe_again, _ = read_string(data, pos)
    return dialogue


def dialogue_lines(d: Dialogue) -> list[tuple[str, str, bool]]:
    """``(clip prefix, sentence, is Joe)`` for every line, as ``Talk`` names their clips."""
    out = []
    for n, (ident, text) in enumerate(d.joe):
        head = "SSSS" if n == 0 else f"{ident:4x}"  # the first is the opening line
        out.append((f"{d.talk_key:2d}{head}J", text, True))
    for ident, text in d.person:
        out.append((f"{d.talk_key:2d}{ident:4x}P", text, False))
    out.append((f"{d.talk_key:2d}XXXXP", d.person_again, False))
    out.append((f"{d.talk_key:2d}XXXXJ", d.joe_again, True))
    return out


# --- cutaway scripts (.CUT) -----------------------------------------------------------

PERSON, TEXT_SPEAK, OTHER = "person", "text", "other"


@dataclass
class CutObject:
    index: int  # 1-based position in the script: the clip prefix's number
    number: int  # queen.jas object (0: Joe; -2, -3: a caption read out)
    kind: str
    sentence: str


@dataclass
class Cutaway:
    objects: list[CutObject]
    talk_file: str  # a .DOG run after the cutaway, or ""
    talk_to: int  # the object Joe talks to in it


def parse_cutaway(resource: bytes, is_person) -> Cutaway:
    """A ``.CUT`` script: after the header, uint16 panel, int16 object count (negative: can't
    skip), int16 flags, then the offsets of the game state, the sentences and the bank
    names; the objects from byte 12. An object is 17 int16 (number, moveToX, moveToY, bank,
    animList, execute, 4 x limit, specialMove, animType, fromObject, bobStartX, bobStartY,
    room, scale), an int16 count of people and their int16s, and, when it is an animation,
    frames of 10 int16 until a -2. The sentences are length-prefixed strings: the entry
    line, then one per object. ``is_person(n)``: whether object n is drawn as a person.
    """
    data = resource[HEADER:]
    _panel, count, _flags, state_at, sentence_at, banks_at = struct.unpack_from(">HhhHHH", data)
    count = abs(count)
    _entry, pos = read_string(data, sentence_at)
    sentences = []
    for _ in range(count):
        text, pos = read_string(data, pos)
        sentences.append(text)
    objects = []
    pos = 12
    for i in range(count):
        fields = struct.unpack_from(">17h", data, pos)
        number, anim_list, execute, from_object = fields[0], fields[4], fields[5], fields[12]
        (people,) = struct.unpack_from(">h", data, pos + 34)
        pos += 36 + 2 * people
        number = 0 if number == -1 else number  # -1: Joe, after fading the room in
        kind = "animation"
        if number > 0 and not anim_list and is_person(number):
            kind = PERSON
        elif number == 0 and not anim_list:
            kind = PERSON
        if from_object > 0:
            kind = OTHER
        if number in (-2, -3):
            kind = TEXT_SPEAK
        elif number == -4:
            kind = OTHER  # a caption shown, not read
        if kind == "animation" and not execute:
            kind = OTHER
        animated = kind == "animation"
        if animated:
            while struct.unpack_from(">h", data, pos)[0] != -2:
                pos += 20
            pos += 2
            kind = OTHER
        objects.append(CutObject(i + 1, number, kind, sentences[i]))
    if pos > state_at:
        raise ValueError("cutaway objects run past the game state: misread animation frames")
    pos = banks_at
    (banks,) = struct.unpack_from(">H", data, pos)
    pos += 2
    for _ in range(banks):
        _name, pos = read_string(data, pos)
    talk_file, pos = read_string(data, pos)
    (talk_to,) = struct.unpack_from(">h", data, pos)
    return Cutaway(objects, talk_file, talk_to)


def cutaway_prefix(name: str, index: int) -> str:
    """``findCdCut``: the script name padded with ``_`` to 5, then ``%02d`` cut to 2."""
    return name.ljust(5, "_") + f"{index:02d}"[:2]


# --- the game database (QUEEN.JAS + QUEEN2.JAS) ---------------------------------------


@dataclass
class Jas:
    descriptions: list[str]  # object descriptions (Joe's look-at lines), 1-based in the game
    responses: list[str]  # Joe's stock replies
    object_name: list[str]  # per object (index 0 unused)
    object_room: list[int]
    object_image: list[int]  # -3/-4: drawn as a person
    room_first: list[int]  # per room, the object before its first
    actors: list[tuple[int, int, str]]  # (room, person slot, actor name)

    def is_person(self, obj: int) -> bool:
        return 0 < obj < len(self.object_image) and self.object_image[obj] in (-3, -4)

    def speaker(self, obj: int) -> str | None:
        """The character speaking as person object ``obj``: the actor in its room with its
        person slot; where game state picks one of several, the one the object is named
        after ("Princess Azura" is ``PRINCESS1``, not ``TMPD``); None if still unknown."""
        room = self.object_room[obj]
        slot = sum(self.is_person(i) for i in range(self.room_first[room] + 1, obj + 1))
        found = {character(a) for r, bob, a in self.actors if r == room and bob == slot}
        if len(found) > 1:
            words = set(re.findall(r"[a-z]+", self.object_name[obj].lower()))
            found = {c for c in found if c in words}
        return found.pop() if len(found) == 1 else None


def parse_jas(binary: bytes, text: bytes, version: str) -> Jas:
    """``QUEEN.JAS``: after the header, uint16 room, name, object and description counts,
    16 bytes per object (name, x, y, description, entry, room, state, image), the first
    object of each room; much later the actors: uint16 actor, animation, actor-name and
    file counts, 24 bytes per actor (room, person slot, name, ...), uint16 animation count
    and 6 bytes each, then the version string. ``QUEEN2.JAS``: CRLF lines, in this order:
    descriptions, object names, room names, 12 verbs, 40 replies, animations, actor names,
    actor files."""
    data = binary[HEADER:]
    rooms, names, objects, descriptions = struct.unpack_from(">4H", data)
    lines = text.decode("latin-1").split("\r\n")
    image, room_of, name_of = [0], [0], [""]
    for i in range(objects):
        fields = struct.unpack_from(">hHHHhHHh", data, 8 + 16 * i)
        name_of.append(lines[descriptions + abs(fields[0]) - 1] if fields[0] else "")
        room_of.append(fields[5])
        image.append(fields[7])
    first_at = 8 + 16 * objects
    room_first = [0, *struct.unpack_from(f">{rooms + 1}H", data, first_at)]
    responses_at = descriptions + names + rooms + 12
    marker = version.encode("ascii")[:5]
    for pos in range(first_at, len(data) - 10, 2):
        count, anims, actor_names, _files = struct.unpack_from(">4H", data, pos)
        end = pos + 8 + 24 * count
        if end + 2 > len(data):
            continue
        (graphic,) = struct.unpack_from(">H", data, end)
        if data[end + 2 + 6 * graphic :][:5] == marker:
            break
    else:
        raise ValueError("QUEEN.JAS: actor table not found")
    names_at = responses_at + JOE_RESPONSE_MAX + anims
    actors = []
    for i in range(count):
        room, bob, name = struct.unpack_from(">hhH", data, pos + 8 + 24 * i)
        if 1 <= name <= actor_names:
            actors.append((room, bob, lines[names_at + name - 1]))
    return Jas(
        descriptions=lines[:descriptions],
        responses=lines[responses_at : responses_at + JOE_RESPONSE_MAX],
        object_name=name_of,
        object_room=room_of,
        object_image=image,
        room_first=room_first,
        actors=actors,
    )


def character(actor: str) -> str:
    """One speaker name per character: ``FAYE-H`` (head), ``X3_RITA`` (intro scene),
    ``LOLA_SHOWER`` (pose) are Faye, Rita, Lola."""
    name = re.sub(r"^X\d+_", "", actor.upper())
    name = re.sub(r"[-_](H|E|F|STAND|SHOWER)$", "", name)
    return CHARACTER.get(name, name.lower())


# --- putting it together --------------------------------------------------------------


@dataclass
class Line:
    clip: str  # resource name, e.g. "020006P1.SB"
    text: str
    speaker: str | None
    source: str  # the file the line is in


def game_lines(read, table: Table) -> list[Line]:
    """Every spoken segment in the game with its clip, text and speaker (None where the
    game data does not say who speaks)."""
    jas = parse_jas(read("QUEEN.JAS"), read("QUEEN2.JAS"), table.version)
    lines: list[Line] = []

    def add(prefix: str, sentence: str, speaker: str | None, source: str) -> None:
        for k, text in speech_segments(sentence):
            lines.append(Line(clip_name(prefix, k), text, speaker, source))

    for n, text in enumerate(jas.responses, 1):
        add(f"JOE{n:04d}", text, "joe", "QUEEN2.JAS")
    for n, text in enumerate(jas.descriptions, 1):
        if not re.fullmatch(r"\S+\.(CUT|DOG)", text, re.IGNORECASE):  # those run scripts
            add(f"JOE{n + JOE_RESPONSE_MAX:04d}", text, "joe", "QUEEN2.JAS")

    for name in sorted(n for n in table.entries if n.endswith(".DOG")):
        stem = re.sub(r"\d+$", "", name[:-4])
        actor = DOG_PERSON.get(stem) or (name[:-4] if stem == "MAN" else None)
        person = character(actor) if actor else None
        for prefix, sentence, is_joe in dialogue_lines(parse_dialogue(read(name))):
            add(prefix, sentence, "joe" if is_joe else person, name)

    for name in sorted(n for n in table.entries if n.endswith(".CUT")):
        base = name[:-4]
        for obj in parse_cutaway(read(name), jas.is_person).objects:
            prefix = cutaway_prefix(base, obj.index)
            if obj.kind == TEXT_SPEAK:  # a caption read out, by whom the data does not say
                lines.append(Line(clip_name(prefix, 1), obj.sentence, None, name))
            elif obj.kind == PERSON and obj.sentence != "*" and not obj.sentence.startswith("#"):
                if obj.number <= 0:
                    add(prefix, obj.sentence, "joe", name)
                else:
                    add(prefix, obj.sentence, jas.speaker(obj.number), name)
    return lines


def clean(text: str) -> str:
    """The words as spoken: game markup (the heart glyphs ``@``) and spacing removed."""
    return " ".join(MARKUP.sub(" ", text).split())


def english(text: str) -> bool:
    return all(c.isascii() for c in text if c.isalpha())


def select(lines: list[Line], table: Table, dropped: Counter) -> list[Line]:
    """One line per clip that exists; lines without a clip, clips with two different texts,
    and texts that are empty, not English or not read as written are counted in
    ``dropped``."""
    by_clip: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        by_clip[line.clip].append(line)
    kept = []
    for clip, group in sorted(by_clip.items()):
        text = clean(group[0].text)
        if clip not in table.entries:
            if normalize_text(text):
                dropped["line has no clip (never recorded)"] += 1
            continue
        if len({clean(g.text) for g in group}) > 1 or len({g.speaker for g in group}) > 1:
            dropped["two different lines name one clip"] += 1
        elif not normalize_text(text):
            dropped["empty text"] += 1
        elif group[0].speaker is None:
            dropped["speaker not in the game data"] += 1
        elif not english(text):
            dropped["non-English letters"] += 1
        elif UNSPOKEN.search(text):
            dropped["text not read as written (<sound>, symbols)"] += 1
        elif " " not in text and not any(c.islower() for c in text):
            dropped["one word in capitals: a spelled letter, a code or a noise"] += 1
        else:
            kept.append(Line(clip, text, group[0].speaker, group[0].source))
    named = set(by_clip)
    for name in table.entries:
        if SPEECH_RESOURCE.fullmatch(name) and name not in named:
            if not SOUND_EFFECT.fullmatch(name):
                dropped["clip has no text in the game data"] += 1
    return kept


def clip_samples(read: Callable[[str], bytes], name: str) -> tuple[np.ndarray, int]:
    """A speech clip's (MP3) samples, mono float32, and its sample rate."""
    samples, rate = sf.read(io.BytesIO(read(name)), dtype="float32")
    return (samples.mean(axis=1) if samples.ndim == 2 else samples), rate


def build(out: Path, game: Path) -> list[dict]:
    """Extract every usable clip; returns the manifest rows (paths relative to OUT)."""
    with open(game, "rb") as f:
        head = f.read(1 << 20)
        table = read_table(head)
        if table.compression != 1:
            raise SystemExit(f"{game}: speech compression {table.compression}, expected MP3 (1)")

        def read(name: str) -> bytes:
            offset, size = table.entries[name]
            f.seek(offset)
            return f.read(size)

        lines = game_lines(read, table)
        dropped: Counter = Counter()
        kept = select(lines, table, dropped)
        rows = []
        for line in kept:
            rel = Path("audio") / line.speaker / (line.clip[:-3] + ".flac")
            load = partial(clip_samples, read, line.clip)
            seconds = keep_clip(out, rel, line.text, load, dropped)
            if seconds is None:
                continue
            rows.append(
                {
                    "audio_filepath": str(rel),
                    "text": line.text,
                    "duration": round(seconds, 3),
                    "speaker": line.speaker,
                }
            )
    report_dropped(dropped)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--game", type=Path, default=GAME_FILE, help="queen.1c")
    args = parser.parse_args(argv)
    if not args.game.is_file():
        parser.error(f"{args.game}: not found; apt-get install flight-of-the-amazon-queen")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = build(args.out, args.game)
    write_speaker_splits(args.out, rows, {"dev": DEV, "test": TEST, "excluded": EXCLUDED})
    return 0


if __name__ == "__main__":
    sys.exit(main())
