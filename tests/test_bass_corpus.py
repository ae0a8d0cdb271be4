"""Beneath a Steel Sky importer: the disk index, RNC unpacking, the text Huffman code, the
compact table, the script scan and the speaker rule, on hand-built bytes; and a smoke test
on the installed game when it is there."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
bass = load_tool("bass_corpus")


def test_index() -> None:
    def entry(number: int, offset: int, size: int, flags: int) -> bytes:
        return (
            struct.pack("<H", number)
            + offset.to_bytes(3, "little")
            + (size | flags << 22).to_bytes(3, "little")
        )

    dnr = struct.pack("<I", 2) + entry(60600, 1234, 99, 0b01) + entry(50007, 0x800000 | 10, 7, 0b10)
    index = bass.read_index(dnr)
    assert index[60600] == bass.Entry(1234, 99, False, True)
    assert index[50007] == bass.Entry(160, 7, True, False)  # bit 23: offset in 16-byte units
    with pytest.raises(ValueError, match="announced"):
        bass.read_index(struct.pack("<I", 3) + dnr[4:])


def test_crc16() -> None:
    assert bass.crc16(b"123456789") == 0xBB3D  # CRC-16/ARC check value
    assert bass.crc16(b"") == 0


class _Stream:
    """Writes an RNC bit stream the way the reader takes it: bits LSB first into 16-bit LE
    word slots, a new slot taken at the end of the output when one is full; literal bytes
    go at the end of the output (the reader holds one word in reserve, and that is where
    they start), so the bits pending in a part-filled slot are used before the slot after
    the literals."""

    def __init__(self) -> None:
        self.out = bytearray(2)
        self.slot = 0
        self.used = 0

    def put(self, value: int, k: int) -> None:
        for i in range(k):
            if self.used == 16:
                self.slot = len(self.out)
                self.out += bytes(2)
                self.used = 0
            if value >> i & 1:
                self.out[self.slot + self.used // 8] |= 1 << (self.used % 8)
            self.used += 1

    def code(self, bits: str) -> None:  # a Huffman code, its first bit first
        for c in bits:
            self.put(int(c), 1)

    def table(self, lengths: list[int]) -> None:
        self.put(len(lengths), 5)
        for n in lengths:
            self.put(n, 4)

    def literal(self, data: bytes) -> None:
        self.out += data

    def bytes(self) -> bytes:
        return bytes(self.out) + bytes(4)


def _pack(stream: bytes, out: bytes, blocks: int = 1) -> bytes:
    return (
        b"RNC\x01"
        + struct.pack(">II", len(out), len(stream))
        + struct.pack(">HH", bass.crc16(out), bass.crc16(stream))
        + bytes([0, blocks])
        + stream
    )


def _literal_only(payload: bytes) -> bytes:
    """One block, one step: a literal run of the whole payload. The run-length symbol
    k = bit_length(n) stands for 2**(k-1) plus k-1 more bits; it has the code "0"."""
    n = len(payload)
    k = n.bit_length()
    s = _Stream()
    s.put(0, 2)  # two flag bits
    s.table([1 if i == k else 0 for i in range(k + 1)])
    s.table([1])
    s.table([1])
    s.put(1, 16)  # one step
    s.code("0")
    if k >= 2:
        s.put(n - (1 << (k - 1)), k - 1)
    s.literal(payload)
    return s.bytes()


def test_rnc_literal_then_match() -> None:
    """ "abcabcabcX": literal "abc", a match 3 back of length 6, then literal "X"."""
    s = _Stream()
    s.put(0, 2)
    s.table([2, 2, 1])  # run lengths: symbol 2 "0", 0 "10", 1 "11"
    s.table([1, 2, 2])  # distances: 0 "0", 1 "10", 2 "11"
    s.table([2, 2, 2, 2])  # match lengths: 0 "00", 1 "01", 2 "10", 3 "11"
    s.put(2, 16)  # two steps
    s.code("0")  # run: symbol 2 = 2 + one bit
    s.put(1, 1)  # 3
    s.literal(b"abc")
    s.code("11")  # distance symbol 2 = 2 + one bit (0): 2, + 1 = 3
    s.put(0, 1)
    s.code("11")  # length symbol 3 = 4 + two bits (0): 4, + 2 = 6
    s.put(0, 2)
    s.code("11")  # run: symbol 1 = 1
    s.literal(b"X")
    out = b"abcabcabcX"
    assert bass.rnc_unpack(_pack(s.bytes(), out)) == out


@pytest.mark.parametrize("payload", [b"x", b"hello", b"0123456789abcdef" * 3])
def test_rnc_literal_runs(payload: bytes) -> None:
    stream = _literal_only(payload)
    assert bass.rnc_unpack(_pack(stream, payload)) == payload


def test_rnc_rejects_damage() -> None:
    stream = _literal_only(b"hello")
    packed = bytearray(_pack(stream, b"hello"))
    with pytest.raises(ValueError, match="RNC method 1"):
        bass.rnc_unpack(b"XXXX" + bytes(packed[4:]))
    packed[20] ^= 0xFF
    with pytest.raises(ValueError, match="CRC"):
        bass.rnc_unpack(bytes(packed))


def test_unpack_file_keeps_the_header() -> None:
    payload = b"\x80\x81\x7f" * 5
    header = struct.pack("<11H", 0x80, *[0] * 10)
    packed = _pack(_literal_only(payload), payload)
    entry = bass.Entry(0, 0, False, False)
    assert bass.unpack_file(header + packed, entry) == header + payload
    assert bass.unpack_file(header + packed, bass.Entry(0, 0, False, True)) == payload
    assert bass.unpack_file(header + packed, bass.Entry(0, 0, True, False)) == header + packed
    samples = bass.speech_samples(header + payload)
    np.testing.assert_allclose(samples[:3], [0.0, 1 / 128, -1 / 128])


def test_huffman_code_is_complete() -> None:
    codes = bass.huffman_codes()
    assert len(codes) == 123
    assert codes["000"] == ord(" ") and codes["100000"] == 0
    with pytest.raises(ValueError, match="prefix"):
        bass.huffman_codes("200 650 61000 7001")  # "0" is a prefix of "000"


def _section(lines: list[str], codes: dict[str, int]) -> bytes:
    """A text section: skips at word 0's offset, coded bits at word 1's, block lengths
    from byte 4 (in 2-bit units, like the skips); each line padded to whole 2-bit units."""
    by_char = {v: k for k, v in codes.items()}
    bitstrings = []
    for line in lines:
        b = "".join(by_char[ord(c)] for c in line) + by_char[0]
        b += "0" * (-len(b) % 2)
        bitstrings.append(b)
    units = [len(b) // 2 for b in bitstrings]
    blocks = [sum(units[i : i + 32]) for i in range(0, len(units), 32)]
    skips = b""
    for u in units:
        assert u < 0x80 or u % 8 == 0
        skips += bytes([u]) if u < 0x80 else bytes([0x80 | u >> 3])
    table = struct.pack(f"<{len(blocks) - 1}H", *blocks[:-1]) if len(blocks) > 1 else b""
    skips_at = 4 + len(table)
    bits_at = skips_at + len(skips)
    allbits = "".join(bitstrings)
    allbits += "0" * (-len(allbits) % 8)
    coded = bytes(int(allbits[i : i + 8], 2) for i in range(0, len(allbits), 8))
    return struct.pack("<HH", skips_at, bits_at) + table + skips + coded + bytes(2)


def test_text_lines() -> None:
    codes = bass.huffman_codes()
    lines = ["Foster", "What YOU want?", "", "It's just a lump of plaster..."] + [
        f"line {c}" for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
    ]
    section = _section(lines, codes)
    assert bass.text_count(section) == len(lines)
    for i in (0, 1, 2, 3, 31, 32, 33, len(lines) - 1):
        assert bass.decode_text(section, i, codes) == lines[i]


def test_speech_file_numbers() -> None:
    assert bass.speech_file(0x0007) == 50007
    assert bass.speech_file(0x1000) == 50600
    assert bass.speech_file(0x4012) == 50000 + 3380 + 0x12
    assert bass.speech_file(0x6000) == 55080


def test_compacts() -> None:
    table = [3, 1, 10, 20, 30, 0, 2, 4, 7, 8]  # list 0: element 0 (size 3), element 1 empty
    table += [1, 5, 99]  # list 1: element 0 (size 1)
    names = b"joey\0foster\0lamb\0"
    cpt = struct.pack("<HH", 0, 2) + struct.pack("<HH", 3, 1)
    cpt += struct.pack("<II", 0, len(table)) + struct.pack(f"<{len(table)}H", *table)
    cpt += struct.pack("<I", len(names)) + names
    out = bass.read_compacts(cpt)
    assert out == {
        0: ("joey", 1, (10, 20, 30)),
        2: ("foster", 4, (7, 8)),
        0x1000: ("lamb", 5, (99,)),
    }
    with pytest.raises(ValueError, match="version"):
        bass.read_compacts(struct.pack("<HH", 1, 0))


def _module(code: list[int], scripts: int = 2) -> bytes:
    # word 0: how many scripts; words 1..n their offsets; script 2 after the first command
    start = scripts + 1
    offsets = [start, start + 9][:scripts]
    return struct.pack(f"<{start + len(code)}H", scripts, *offsets, *code)


def test_scan_module() -> None:
    code = [
        0,
        48,
        2,
        4122,
        2,
        9,
        11,
        3,
        36 * 4,  # speak_me_dir(CUR_ID, 4122, 9)
        2,
        1,
        2,
        0x1044,
        2,
        26,
        11,
        3,
        37 * 4,  # speak_wait(joey=1, 0x1044, 26)
        2,
        0x20,
        2,
        7,
        11,
        2,
        70 * 4,  # ask_this(0x20, 7)
        14,
        1,
        5,
        2,
        4,  # a switch: one case and a default
        15,
        3,
        2,
        0x21,
        2,
        1,
        11,
        3,
        35 * 4,  # speak_me(a field, 0x21, 1)
        0,
        480,
        0,
        4,
        2,
        1,
        11,
        3,
        35 * 4,  # text from a variable: not a constant, skipped
        19,
    ]
    found = bass.scan_module(2, _module(code))
    assert [(s.script, s.target, s.text, s.anim, s.directional) for s in found] == [
        (0x2001, ("variable", 12), 4122, ("number", 9), True),
        (0x2002, ("number", 1), 0x1044, ("number", 26), False),
        (0x2002, ("player", 0), 0x20, ("number", 7), False),
        (0x2002, ("field", 3), 0x21, ("number", 1), False),
    ]
    with pytest.raises(ValueError, match="unknown operation"):
        bass.scan_module(0, _module([99]))


def test_speaker_rule() -> None:
    names = {
        1: "joey",
        3: "foster",
        50: "lamb_normal",
        51: "big_f_up",
        52: "rad_up",
        4122: "jobsworth",
        60: "opentalk",
    }
    talk = (0, 50, 0, 0, 0, 0, 0, 0, 0, 0, 51, 52, 51, 52, 51, 52, 51, 52, 60)

    def who(target, anim, directional=False):
        return bass.speaker_of(bass.Speak(0, target, 1, anim, directional), names, talk)

    assert who(("variable", 120), ("number", 1)) == "lamb"  # the animation says who
    assert who(("variable", 12), ("number", 9), True) == "foster"  # 10..16: Foster's outfits
    assert who(("variable", 120), ("number", 9)) is None  # entry 9 empty, not directional
    assert who(("number", 4122), ("number", 18)) == "jobsworth"  # unknown animation: the target
    assert who(("variable", 12), ("variable", 5)) == "foster"  # the player runs the script
    assert who(("player", 0), ("number", 7)) == "foster"
    assert who(("field", 3), ("number", 18)) is None
    assert bass.character("sc42_jdg_to_jobs") == "judge"
    assert bass.character("sc42_jobs_talk") == "jobsworth"
    assert bass.character("gal_speech") is None


def test_clean() -> None:
    assert bass.clean("`FIRE EXIT - do not  obstruct.'") == "'FIRE EXIT - do not obstruct.'"


GAME = bass.GAME_DIR


@pytest.mark.skipif(not (GAME / "sky.dsk").is_file(), reason="beneath-a-steel-sky is not installed")
def test_installed_game(tmp_path: Path) -> None:
    disk = bass.Disk(GAME)
    assert len(disk.index) == bass.CD_ENTRIES
    codes = bass.huffman_codes()
    section = disk.load(bass.TEXT_FILE + 1)
    assert bass.decode_text(section, 1, codes) == "What YOU want?"
    samples = bass.speech_samples(disk.load(bass.speech_file(7)))
    assert 0.5 < len(samples) / bass.SAMPLE_RATE < 3
    speakers, check = bass.line_speakers(disk, GAME)
    assert check["disagree"] == 0 and check["target and animation agree"] > 300
    assert Counter(speakers.values())["foster"] > 1000
    rows = bass.build(tmp_path, GAME, limit=5)
    assert len(rows) == 5 and all(r["speaker"] for r in rows)
    assert all((tmp_path / r["audio_filepath"]).is_file() for r in rows)
