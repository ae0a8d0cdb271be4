"""Real human speech from Beneath a Steel Sky (Debian `beneath-a-steel-sky`, main).

The game ships ``sky.dnr`` (the disk index) and ``sky.dsk`` (every file, one after the
other); this is the CD release v0.0372, the one with speech (5,097 index entries). Learned
from ScummVM's ``engines/sky`` (disk, text, sound): our own reader, no engine code.

- ``sky.dnr``: a uint32 LE entry count, then 8 bytes per file: uint16 LE file number, a
  24-bit LE offset (bit 23: the offset is in 16-byte units), a 24-bit LE size and flags
  (bit 23: stored as is; bit 22: the packed file has no 22-byte header of its own).
- A file that is not stored as is starts with a 22-byte header (11 uint16 LE); bit 7 of its
  first word says it is packed: Rob Northen (RNC) method 1 follows the header (the RNC
  header gives the unpacked size).
- Text: file ``60600 + 8 * language + section`` (English: language 0) holds the lines of
  one section, Huffman coded (a fixed tree per game version, ``HUFF_CODES``); line ``i``
  of section ``s`` has text number ``s << 12 | i``.
- Speech: line ``s << 12 | i`` is file ``50000 + SPEECH_BASE[s] + i`` when it was recorded:
  the header, then 8-bit unsigned mono PCM at 11,025 Hz.

- Speakers: a line carries no speaker; the scripts say it (``sky.cpt``, ScummVM's extract
  of the game's object table, names every compact). Script modules (files 60400 + m) are
  read command by command; a speak command pushes a target compact, a text number and a
  talk animation, an index into the talk table (compact ``data_7``) whose entries are named
  after the character they show (``lamb_normal``, ``sc42_judge_talk``). The speaker is the
  character of that animation, else of the target compact, else Foster when the target is
  the compact running the script (the player); lines offered to the player to choose
  (``ask_this``) are Foster's. Where the target is a compact, animation and target agree
  on every command (326 of 326). Lines said by "the person talked to" with an animation
  that names no one (183), and lines no script names (20), are left out.

    apt-get install beneath-a-steel-sky        # Debian main
    python tools/bass_corpus.py --out corpora/bass

Writes ``OUT/audio/<speaker>/<text number>.flac`` (11,025 Hz, 16-bit; asr resamples on
load), ``OUT/all.jsonl`` (every kept clip, with ``speaker`` and ``text_number``) and the
speaker-disjoint ``train.jsonl``, ``dev.jsonl``, ``test.jsonl`` (``DEV``, ``TEST``,
``EXCLUDED``); what is left out, and why, goes to stderr. Existing FLACs are kept, so a
second run only rewrites the manifests.

License of the game data: the Beneath a Steel Sky license, (C) Revolution Software Ltd
(see /usr/share/doc/beneath-a-steel-sky/copyright): free to distribute with the readme and
notices intact, no fee for the game itself (a reasonable copying fee, or as part of a
larger distribution, is allowed), free to modify, modified versions marked as such;
provided as is.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from game_corpus import keep_clip, report_dropped, text_problem, write_speaker_splits  # noqa: E402

GAME_DIR = Path("/usr/share/scummvm/beneath-a-steel-sky")
CD_ENTRIES = 5097  # index entries of the CD release v0.0372 (the English speech one)
HEADER = 22  # the data-file header: 11 uint16 LE
TEXT_FILE = 60600
SECTIONS = 7  # sections with speech (an 8th holds control-panel texts)
SPEECH_FILE = 50000
# First speech file of each section (past SPEECH_FILE): sections have room for 600, 500,
# 1330, 950, 1150, 550 and 150 lines.
SPEECH_BASE = (0, 600, 1100, 2430, 3380, 4530, 5080)
SAMPLE_RATE = 11025
# Held-out characters (whole voices), chosen from the hours per character this script
# prints, before any model saw this corpus: see docs/EXPERIMENTS.md. Foster (the player)
# and everyone else train. The credits are not in the data: whether one actor voices two
# characters (and so is in two splits) is not known.
DEV = ("lamb", "anita", "henri", "medi")
TEST = ("danielle", "burke", "gardener", "gallagher")
EXCLUDED = ("monitor", "jukebox", "android")  # machine voices, processed

# The text Huffman code of v0.0372, as (character code, bits: first read first), "0" for
# the left branch. Written out from the game's tree (the engine's table for this version).
HUFF_CODES = (
    "20000 650010 610011 6f01000 7301001 7401010 6e01011 2e01100 6901101 720111 00100000 "
    "45100001 7510001 6d10010 4110011 6c101000 49101001 64101010 52101011 4e101100 "
    "53101101 5410111 4f1100000 681100001 63110001 44110010 67110011 4c1101000 "
    "431101001 701101010 551101011 211101100 791101101 4d110111 5011100000 7611100001 "
    "481110001 3f1110010 621110011 2711101000 6611101001 2c1110101 471110110 421110111 "
    "56111100000 6b111100001 4611110001 7111110010 7711110011 4b111101000 2d111101001 "
    "5711110101 4a11110110 2a11110111 7a111110000 59111110001 6a111110010 2b111110011 "
    "511111101000 851111101001 29111110101 5a1111101100 8b1111101101 3c111110111 "
    "9511111100000 7e11111100001 8a1111110001 871111110010 3a1111110011 7f11111101000 "
    "5d11111101001 231111110101 7811111101100 5811111101101 911111110111 "
    "88111111100000 60111111100001 3211111110001 30111111100100 83111111100101 "
    "3111111110011 2f111111101000 28111111101001 3d11111110101 8611111110110 "
    "5e11111110111 33111111110000 39111111110001 98111111110010 34111111110011 "
    "7d1111111101000 381111111101001 5c111111110101 22111111110110 90111111110111 "
    "261111111110000 8d1111111110001 351111111110010 361111111110011 921111111110100 "
    "8f1111111110101 8e1111111110110 931111111110111 8c11111111110000 3711111111110001 "
    "801111111111001 8111111111110100 9911111111110101 2411111111110110 "
    "4011111111110111 5b111111111110000 9a111111111110001 5f11111111111001 "
    "3e11111111111010 9611111111111011 82111111111111000 25111111111111001 "
    "0911111111111101 9c111111111111100 97111111111111101 7b111111111111110 "
    "941111111111111110 7c1111111111111111"
)


def huffman_codes(spec: str = HUFF_CODES) -> dict[str, int]:
    """``{bits: character code}`` from ``HUFF_CODES``; checks it is a complete prefix code."""
    codes = {}
    for item in spec.split():
        codes[item[2:]] = int(item[:2], 16)
    if abs(sum(2.0 ** -len(c) for c in codes) - 1) > 1e-12:
        raise ValueError("not a complete prefix code")
    if any(c[:k] in codes for c in codes for k in range(1, len(c))):
        raise ValueError("not a prefix code")
    return codes


# --- the disk index and files -----------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    offset: int  # bytes into sky.dsk
    size: int  # bytes stored
    stored: bool  # flag bit 23: kept as is (never unpacked)
    headerless: bool  # flag bit 22: packed data without the file's own header


def read_index(dnr: bytes) -> dict[int, Entry]:
    (count,) = struct.unpack_from("<I", dnr)
    if len(dnr) < 4 + 8 * count:
        raise ValueError(f"sky.dnr: {count} entries announced, {(len(dnr) - 4) // 8} present")
    entries = {}
    for i in range(count):
        number, off_lo, off_hi, flag_lo, flag_hi = struct.unpack_from("<HHBHB", dnr, 4 + 8 * i)
        offset = off_lo | off_hi << 16
        flags = flag_lo | flag_hi << 16
        if offset & 0x800000:
            offset = (offset & 0x7FFFFF) << 4
        entries[number] = Entry(
            offset, flags & 0x3FFFFF, bool(flags >> 23 & 1), bool(flags >> 22 & 1)
        )
    return entries


def crc16(data: bytes) -> int:
    """CRC-16 with the reflected polynomial 0xA001, starting at 0 (what RNC files carry)."""
    crc = 0
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def _crc_table() -> list[int]:
    out = []
    for n in range(256):
        for _ in range(8):
            n = (n >> 1) ^ 0xA001 if n & 1 else n >> 1
        out.append(n)
    return out


_CRC_TABLE = _crc_table()


def rnc_unpack(packed: bytes) -> bytes:
    """Rob Northen method 1: an 18-byte header (``RNC\\x01``, BE unpacked and packed sizes,
    BE CRCs of both, a byte, the block count), then a little-endian bit stream read LSB
    first in 16-bit words, with runs of literal bytes set in it at word boundaries. Each
    block has three Huffman tables (literal-run length, match distance, match length: a
    5-bit symbol count and 4-bit code lengths, codes given in order of length then symbol)
    and a 16-bit count of steps; a step is a literal run, then (except the last) a match.
    A symbol ``k >= 2`` stands for ``2**(k-1)`` plus ``k-1`` more bits."""
    if packed[:4] != b"RNC\x01":
        raise ValueError("not RNC method 1")
    unpacked_size, packed_size, crc_out, crc_in = struct.unpack_from(">IIHH", packed, 4)
    blocks = packed[17]
    data = packed[18 : 18 + packed_size]
    if len(data) != packed_size or crc16(data) != crc_in:
        raise ValueError("RNC: packed data damaged (CRC)")
    data += bytes(4)
    out = bytearray()
    pos = 0  # the word at pos is the last one read into buf, not yet used
    buf = data[0] | data[1] << 8
    have = 16

    def bits(k: int) -> int:
        nonlocal buf, have, pos
        value = buf & ((1 << k) - 1)
        buf >>= k
        have -= k
        if have < 16:
            pos += 2
            buf |= (data[pos] | data[pos + 1] << 8) << have
            have += 16
        return value

    def table() -> tuple[list, int] | None:
        count = bits(5)
        if not count:
            return None
        lengths = [bits(4) for _ in range(count)]
        longest = max(lengths)
        lookup: list = [None] * (1 << longest)
        code = 0
        for length in range(1, 17):
            for symbol, n in enumerate(lengths):
                if n != length:
                    continue
                first = code >> (16 - length)  # the code, its first bit highest
                reverse = int(f"{first:0{length}b}"[::-1], 2)  # read LSB first
                for fill in range(1 << (longest - length)):
                    lookup[reverse | fill << length] = (symbol, length)
                code += 1 << (16 - length)
        return lookup, (1 << longest) - 1

    def value(tab) -> int:
        lookup, mask = tab
        hit = lookup[buf & mask]
        if hit is None:
            raise ValueError("RNC: bad Huffman code")
        symbol, length = hit
        bits(length)
        if symbol >= 2:
            return (1 << (symbol - 1)) | bits(symbol - 1)
        return symbol

    bits(2)  # two flag bits
    raw = dist = size = None
    for _ in range(blocks):
        raw = table() or raw
        dist = table() or dist
        size = table() or size
        steps = bits(16)
        for step in range(steps, 0, -1):
            run = value(raw)
            if run:
                have -= 16  # drop the read-ahead word: the bytes start there
                buf &= (1 << have) - 1
                out += data[pos : pos + run]
                pos += run
                buf |= (data[pos] | data[pos + 1] << 8) << have
                have += 16
            if step > 1:
                back = value(dist) + 1
                length = value(size) + 2
                start = len(out) - back
                if start < 0:
                    raise ValueError("RNC: match before the start")
                if back >= length:
                    out += out[start : start + length]
                else:
                    for i in range(length):
                        out.append(out[start + i])
    if len(out) != unpacked_size or crc16(out) != crc_out:
        raise ValueError("RNC: unpacked data wrong (size or CRC)")
    return bytes(out)


class Disk:
    def __init__(self, game: Path):
        self.index = read_index((game / "sky.dnr").read_bytes())
        self._file = open(game / "sky.dsk", "rb")

    def raw(self, number: int) -> bytes:
        entry = self.index[number]
        self._file.seek(entry.offset)
        return self._file.read(entry.size)

    def load(self, number: int) -> bytes:
        """A file as the game uses it (unpacked, with its header where it has one)."""
        entry = self.index[number]
        return unpack_file(self.raw(number), entry)


def unpack_file(data: bytes, entry: Entry) -> bytes:
    if entry.stored or len(data) < HEADER or not data[0] & 0x80:
        return data
    if entry.headerless:
        return rnc_unpack(data[HEADER:])
    return data[:HEADER] + rnc_unpack(data[HEADER:])


# --- text --------------------------------------------------------------------------------


def text_count(section: bytes) -> int:
    """Lines in a text section: the per-line skip bytes run from word 0 to word 1."""
    start, bits_at = struct.unpack_from("<HH", section)
    return bits_at - start


def decode_text(section: bytes, line: int, codes: dict[str, int]) -> str:
    """Line ``line`` of a text section: word 0 is where the per-line skips start, word 1
    where the coded bits start, then per block of 32 lines its length; the lengths are in
    2-bit units (a skip byte with bit 7 set counts its low 7 bits times 8). The line's bits
    are read from the high bit of each byte down, to a NUL."""
    skips_at, bits_at = struct.unpack_from("<HH", section)
    block, within = divmod(line, 32)
    offset = sum(struct.unpack_from(f"<{block}H", section, 4)) if block else 0
    for skip in section[skips_at + 32 * block : skips_at + 32 * block + within]:
        offset += (skip & 0x7F) << 3 if skip & 0x80 else skip
    bit = ((bits_at + (offset >> 2)) << 3) + 2 * (offset & 3)
    chars = []
    code = ""
    limit = len(section) * 8
    while bit < limit:
        code += "1" if section[bit >> 3] >> (7 - (bit & 7)) & 1 else "0"
        bit += 1
        if code in codes:
            c = codes[code]
            if c == 0:
                return "".join(chars)
            chars.append(chr(c))
            code = ""
    raise ValueError(f"text line {line} runs past the section")


def speech_file(text_number: int) -> int:
    section, line = text_number >> 12, text_number & 0xFFF
    return SPEECH_FILE + SPEECH_BASE[section] + line


def speech_samples(data: bytes) -> np.ndarray:
    """The PCM of an (unpacked) speech file: everything after the header, 8-bit unsigned.
    (The header's ``s_tot_size`` holds only the low 16 bits of the size; the high bits are
    in the high byte of its flag word, so the unpacked length is what counts.)"""
    pcm = np.frombuffer(data[HEADER:], dtype=np.uint8)
    return (pcm.astype(np.float32) - 128.0) / 128.0


# --- compacts (sky.cpt) and scripts: who speaks a line -----------------------------------

CPT_FILE = "sky.cpt"  # ScummVM's extract of the game's object table ("compacts"), with names
SCRIPT_FILE = 60400  # script module m is file 60400 + m
CUR_ID = 12  # script variable: the compact running the script
TALK_TABLE = "data_7"  # the list of talk animations a speak command's animation indexes
SPEAK_MCODES = {35: "speak_me", 36: "speak_me_dir", 37: "speak_wait", 38: "speak_wait_dir"}
# Script operations and how many 16-bit operands follow each (14, switch, has a count n,
# then n (value, jump) pairs and a default jump).
OPERANDS = {
    0: 1,
    1: 0,
    2: 1,
    3: 0,
    4: 0,
    5: 1,
    6: 1,
    7: 0,
    8: 0,
    9: 1,
    10: 0,
    11: 2,
    12: 0,
    13: 0,
    15: 1,
    16: 1,
    17: 0,
    18: 1,
    19: 0,
    20: 0,
}
PUSH_VARIABLE, PUSH_NUMBER, CALL, PUSH_OFFSET = 0, 2, 11, 15
ASK_THIS = 70  # adds (text, animation) to the player's choices: Foster says the chosen one


def clip_audio(disk: Disk, number: int) -> tuple[np.ndarray, int]:
    """Speech file ``number``'s samples and sample rate."""
    return speech_samples(disk.load(number)), SAMPLE_RATE


def read_compacts(cpt: bytes) -> dict[int, tuple[str, int, tuple[int, ...]]]:
    """``sky.cpt``: uint16 version (0) and list count, the length of each list, uint32 sizes
    of the compacts' data and of the table (in words), the table: per compact a uint16
    size and (when not 0) a uint16 type and ``size`` words, then a uint32 byte count and
    the compacts' names, NUL-terminated, in the same order. Compact ``l << 12 | e`` is
    element ``e`` of list ``l``; returns ``{id: (name, type, words)}``."""
    version, lists = struct.unpack_from("<HH", cpt)
    if version != 0:
        raise ValueError(f"sky.cpt version {version}, expected 0")
    lengths = struct.unpack_from(f"<{lists}H", cpt, 4)
    pos = 4 + 2 * lists
    _data_words, table_words = struct.unpack_from("<II", cpt, pos)
    pos += 8
    table = struct.unpack_from(f"<{table_words}H", cpt, pos)
    pos += 2 * table_words
    (name_bytes,) = struct.unpack_from("<I", cpt, pos)
    names = iter(cpt[pos + 4 : pos + 4 + name_bytes].split(b"\0"))
    out = {}
    k = 0
    for lst, length in enumerate(lengths):
        for element in range(length):
            size = table[k]
            k += 1
            if size:
                kind = table[k]
                out[lst << 12 | element] = (
                    next(names).decode("latin-1"),
                    kind,
                    table[k + 1 : k + 1 + size],
                )
                k += 1 + size
    return out


@dataclass(frozen=True)
class Speak:
    script: int  # module << 12 | script number
    target: tuple[str, int]  # ("number", compact id) or ("variable", index)
    text: int
    anim: tuple[str, int]
    directional: bool  # speak_me_dir / speak_wait_dir: the engine adds 2 * direction to anim


def scan_module(module: int, data: bytes) -> list[Speak]:
    """Every speak command in a script module whose text number is a constant, found by
    reading its operations in order: a module starts with a table of its scripts' word
    offsets (word 0: how many); a speak command is a ``call`` (operation 11: argument
    count, function * 4) of a speak function after three pushes (target, text number,
    animation); ``ask_this`` (text, animation) offers the player a line to say (target
    ``("player", 0)``)."""
    words = struct.unpack_from(f"<{len(data) // 2}H", data)
    count = words[0]  # script i (1..count) starts at word words[i]
    starts = sorted((words[i], i) for i in range(1, count + 1) if words[i])
    out = []
    pushes: list[tuple[str, int]] = []
    pos = count + 1
    script = 0
    nxt = 0
    while pos < len(words):
        while nxt < len(starts) and starts[nxt][0] <= pos:
            script = starts[nxt][1]
            nxt += 1
        op = words[pos]
        if op == 14:
            size = 3 + 2 * words[pos + 1]
        elif op in OPERANDS:
            size = 1 + OPERANDS[op]
        else:
            raise ValueError(f"module {module}: unknown operation {op} at word {pos}")
        if op == PUSH_NUMBER:
            pushes.append(("number", words[pos + 1]))
        elif op == PUSH_VARIABLE:
            pushes.append(("variable", words[pos + 1] // 4))
        elif op == PUSH_OFFSET:
            pushes.append(("field", words[pos + 1]))
        else:
            mcode = words[pos + 2] // 4 if op == CALL else None
            if mcode == ASK_THIS and len(pushes) >= 2 and pushes[-2][0] == "number":
                out.append(
                    Speak(module << 12 | script, ("player", 0), pushes[-2][1], pushes[-1], False)
                )
            elif mcode in SPEAK_MCODES and len(pushes) >= 3:
                target, text, anim = pushes[-3:]
                if text[0] == "number":
                    directional = SPEAK_MCODES[mcode].endswith("_dir")
                    out.append(Speak(module << 12 | script, target, text[1], anim, directional))
            pushes = []
        pos += size
    return out


# Talk animations (entries of the talk table) and compacts, by name, to the character
# they show. Foster appears in several outfits and sizes (big_f, rad = radiation suit,
# fost_*, sml/bigfost); Joey in his bodies (big_j, welder). Names not here (opentalk,
# body_talk, stuck_talk, chairtlk_anim, gal_speech, sc38_phone_talk, sc75_*, leaflet_speech,
# show_mag, uchar_conv, spec_dat_talk, mini_so, full_so) do not say who speaks.
CHARACTER_PATTERNS = (
    (
        r"(sml|big)fost_conv|big_f_.*|rad_(up|down|left|right)|fost_\d|foster_give|fost_conv_left"
        r"|fost[abc]_conv|sc42_fos_talk_[lr]|sc81_fos_sat_tlk|fost_pipe_talk|crouch_talk"
        r"|fsit_talk_seq|foster",
        "foster",
    ),
    (r"big_j_.*|joey_talk_.*|welder_.*|joey", "joey"),
    (
        r"(sml|big)jobs_talk|jobs_\d|(sc42_|sc82_)?jobsworth|sc42_jobs_(talk|point)|sc82_jobs_talk2?",
        "jobsworth",
    ),
    (r"smlguard_talk", "guard"),
    (r"anita(_normal|_shout|_holo_talk)?|hologram_b", "anita"),
    (r"lamb(_normal|_talk_right)?", "lamb"),
    (r"foreman(_normal|_shout_down|_shout_left)?|forprod", "foreman"),
    (r"shades[12]?", "shades"),
    (r"monitor(_talk(_up|_down|_left|_right)?|_irate)?", "monitor"),
    (r"dad(_to_foster|_to_son|_with_gun|_look_card|_gun_away|_draw_gun)?", "dad"),
    (r"son(_to_dad|_to_foster)?", "son"),
    (r"skorl_(talk|worried|mmm)", "skorl"),
    (r"big_ss_talk", "big-ss"),
    (r"radman[12]?", "radman"),
    (r"walter_(talk_up|talk_dwn|talk_lft|conv)", "walter"),
    (r"burke_(normal|medi_talk)", "burke"),
    (r"anchor(_talk[23]?_anim)?", "anchor"),
    (r"trevor_talk_anim", "trevor"),
    (r"medi(_talk_(up|down|left|right))?", "medi"),
    (r"(sc36_)?gallagher|gall_talk_(up|left)|sc36_gal_talk", "gallagher"),
    (r"helga[123]|holo", "helga"),
    (r"ken|ken_talk_(up|down|left|right)|sc81_ken_(talk[12]|sat_tlk)|sc82_ken_sat_tlk", "ken"),
    (r"android_babble|sc76_android_\d", "android"),
    (r"danielle|dani_conv|sc38_dani_sattlk|sc42_dani_talk", "danielle"),
    (r"sc30_henri(_talk)?", "henri"),
    (r"sc32_vinc(ent|_talk)", "vincent"),
    (r"sc31_guard(_talk2?)?|sc42_blunt_talk", "blunt"),
    (r"sc32_garden(er|_talk)", "gardener"),
    (r"(sc36_)?barman(_talk)?", "barman"),
    (r"sc36_col(ston|_talk[12])", "colston"),
    (r"sc36_juke(box|_talk)", "jukebox"),
    (r"sc36_babs(_talk)?", "babs"),
    (r"sc42_(judge(_talk|_point)?|jdg_to_jobs)", "judge"),
    (r"sc42_pros(ecution|_talk)", "prosecutor"),
    (r"sc42_clerk(_talk)?", "clerk"),
    (r"witness", "witness"),
    (r"sc81_(father|dad_tlk2?)", "father"),  # the man in the cell of scene 81
)


def character(name: str) -> str | None:
    for pattern, who in CHARACTER_PATTERNS:
        if re.fullmatch(pattern, name):
            return who
    return None


def speaker_of(speak: Speak, names: dict[int, str], talk: tuple[int, ...]) -> str | None:
    """Who says a line: the character its talk animation shows; for a directional speak
    (the engine adds 2 * direction) the one character all 8 entries from it show. Failing
    that, the compact named as target; failing that, Foster when the target is the compact
    running the script (the player runs the scripts of what he looks at and talks to);
    otherwise None ("the person talked to", a variable the scripts set at run time)."""
    kind, anim = speak.anim
    if kind == "number":
        span = range(anim, anim + 8) if speak.directional else range(anim, anim + 1)
        shown = {character(names.get(talk[i], "")) for i in span if i < len(talk) and talk[i]}
        shown.discard(None)
        if len(shown) == 1:
            return shown.pop()
    kind, target = speak.target
    if kind == "player":
        return "foster"
    if kind == "number":
        return character(names.get(target, ""))
    if target == CUR_ID:
        return "foster"
    return None


def line_speakers(disk: Disk, game: Path) -> tuple[dict[int, str | None], Counter]:
    """``{text number: speaker}`` over every speak command in the scripts (None: unknown,
    or two commands disagree), and counts of how the target and the animation agree."""
    compacts = read_compacts((game / CPT_FILE).read_bytes())
    names = {k: v[0] for k, v in compacts.items()}
    talk = next(words for name, _kind, words in compacts.values() if name == TALK_TABLE)
    found: dict[int, set] = {}
    check: Counter = Counter()
    for module in range(SECTIONS):
        for speak in scan_module(module, disk.load(SCRIPT_FILE + module)):
            who = speaker_of(speak, names, talk)
            found.setdefault(speak.text, set()).add(who)
            if speak.target[0] == "number":
                named = character(names.get(speak.target[1], ""))
                if named and who:
                    check["target and animation agree" if named == who else "disagree"] += 1
    return {text: (s.pop() if len(s) == 1 else None) for text, s in found.items()}, check


# --- putting it together ----------------------------------------------------------------


@dataclass
class Line:
    number: int  # text number: section << 12 | line
    text: str
    speaker: str | None = None


def game_lines(disk: Disk, language: int = 0) -> list[Line]:
    codes = huffman_codes()
    lines = []
    for section in range(SECTIONS):
        data = disk.load(TEXT_FILE + 8 * language + section)
        for i in range(text_count(data)):
            lines.append(Line(section << 12 | i, decode_text(data, i, codes)))
    return lines


def clean(text: str) -> str:
    """The words as spoken: an opening quote written as a backquote becomes ``'``."""
    return " ".join(text.replace("`", "'").split())


def build(out: Path, game: Path, limit: int | None = None) -> list[dict]:
    disk = Disk(game)
    if len(disk.index) != CD_ENTRIES:
        raise SystemExit(
            f"{game}: {len(disk.index)} index entries; only the CD v0.0372 "
            f"({CD_ENTRIES}) is supported"
        )
    dropped: Counter = Counter()
    rows = []
    lines = game_lines(disk)
    speakers, agreement = line_speakers(disk, game)
    for why, n in sorted(agreement.items()):
        print(f"speaker check: {n} speak commands, {why}", file=sys.stderr)
    for line in lines:
        line.speaker = speakers.get(line.number)
    spoken = {speech_file(line.number) for line in lines}
    for number in disk.index:
        if SPEECH_FILE <= number < SPEECH_FILE + 6000 and number not in spoken:
            dropped["speech file with no text line"] += 1
    for line in lines:
        if limit is not None and len(rows) >= limit:
            break
        number = speech_file(line.number)
        if number not in disk.index:
            continue  # never recorded (object names, menus, unrecorded lines)
        text = clean(line.text)
        if line.number not in speakers:
            dropped["line not in the scripts (speaker unknown)"] += 1
            continue
        if line.speaker is None:
            dropped["speaker not determined (the person talked to, set at run time)"] += 1
            continue
        if line.speaker in EXCLUDED:
            dropped[f"speaker {line.speaker} (not a person's voice)"] += 1
            continue
        problem = text_problem(text)
        if problem:
            dropped[problem] += 1
            continue
        rel = Path("audio") / line.speaker / f"{line.number:05d}.flac"
        seconds = keep_clip(out, rel, text, partial(clip_audio, disk, number), dropped)
        if seconds is None:
            continue
        rows.append(
            {
                "audio_filepath": str(rel),
                "text": text,
                "duration": round(seconds, 3),
                "speaker": line.speaker,
                "text_number": line.number,
            }
        )
    report_dropped(dropped)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--game", type=Path, default=GAME_DIR, help="folder with sky.dnr, sky.dsk, sky.cpt"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="stop after this many clips (a quick look)"
    )
    args = parser.parse_args(argv)
    if not (args.game / "sky.dsk").is_file():
        parser.error(f"{args.game}/sky.dsk: not found; apt-get install beneath-a-steel-sky")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = build(args.out, args.game, args.limit)
    write_speaker_splits(args.out, rows, {"dev": DEV, "test": TEST})
    return 0


if __name__ == "__main__":
    sys.exit(main())
