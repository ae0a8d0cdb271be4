"""Flight of the Amazon Queen importer: the resource table, dialogue (.DOG), cutaway (.CUT)
and game database (.JAS) readers, clip naming and line selection, on hand-built bytes; and
a smoke test on the installed game when it is there."""

from __future__ import annotations

import io
import struct
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
fotaq = load_tool("fotaq_corpus")

BANK_HEADER = b"AmBk" + bytes(16)  # the 20 bytes every .DOG/.CUT/.JAS starts with


def _i16(*values: int) -> bytes:
    return struct.pack(f">{len(values)}h", *values)


def _string(text: str, at: int, align: int = 2) -> bytes:
    """A length-prefixed string written at ``at``, padded as the reader expects."""
    raw = bytes([len(text)]) + text.encode("latin-1")
    end = at + len(raw)
    if text:
        end = (end + align - 1) & ~(align - 1)
    return raw + bytes(end - at - len(raw))


def test_table() -> None:
    entries = [("020006J1.SB", 100, 7), ("BOB1.DOG", 200, 30)]
    head = b"QTBL" + b"CEM10\0" + b"\0\0" + bytes([1]) + struct.pack(">H", len(entries))
    for name, offset, size in entries:
        head += name.encode().ljust(12, b"\0") + struct.pack(">BII", 1, offset, size)
    table = fotaq.read_table(head)
    assert (table.version, table.compression) == ("CEM10", 1)
    assert table.entries == {"020006J1.SB": (100, 7), "BOB1.DOG": (200, 30)}
    with pytest.raises(ValueError, match="QTBL"):
        fotaq.read_table(b"\0" * 32)


def test_segments_follow_the_stage_commands() -> None:
    seg = fotaq.speech_segments
    assert seg("Does she live here?*04*02") == [(1, "Does she live here?"), (2, "")]
    assert seg("Brunettes*14And blondes*14*WTRedheads too...*24") == [
        (1, "Brunettes"),
        (2, "And blondes"),
        (3, ""),
        (4, "Redheads too..."),
    ]
    # a trailing segment without a command; *XY carries 11 more characters of coordinates
    assert seg("Fix her?*00You'd need a miracle") == [(1, "Fix her?"), (2, "You'd need a miracle")]
    assert seg("*XY00(237,112)Over here") == [(1, ""), (2, "Over here")]
    # grabbing (*GD, *GM) is not spoken but still takes a number
    assert seg("Hmm*GDGot it") == [(2, "Got it")]
    assert seg("Plain") == [(1, "Plain")]


def test_clip_names() -> None:
    assert fotaq.clip_name(f"{2:2d}{6:4x}J", 1) == "020006J1.SB"
    assert fotaq.clip_name(f"{12:2d}{0xFBB:4x}P", 11) == "120FBBPB.SB"
    assert fotaq.clip_name("JOE0041", 2) == "JOE00412.SB"
    assert fotaq.cutaway_prefix("C1A", 5) == "C1A__05"
    assert fotaq.cutaway_prefix("CDINT", 103) == "CDINT10"  # %02d cut to 2 characters
    assert fotaq.clip_name(fotaq.cutaway_prefix("c41b", 74), 2) == "C41B_742.SB"


def test_read_string_alignment() -> None:
    data = b"\x03abc" + b"\0" * 8
    assert fotaq.read_string(data, 0) == ("abc", 4)
    assert fotaq.read_string(data, 0, 4) == ("abc", 4)
    assert fotaq.read_string(b"\x02ab\0\0\0\0", 0, 4) == ("ab", 4)
    assert fotaq.read_string(b"\x00\x05", 0) == ("", 1)


def _dog() -> bytes:
    """One level; Joe: opening (id 0) and id 6; the person: ids 6 and 0x1E; repeat lines."""
    joe_at = 32 + 96
    body = b""
    for ident, text in [(0, "Excuse me Bob.*03"), (6, "Nice shop.*01*02")]:
        at = joe_at + len(body)
        body += _i16(0, ident) + _string(text, at + 4, 4)
    person_at = joe_at + len(body)
    for ident, text in [(6, "Thanks.*00I made it myself."), (0x1E, "Bye.")]:
        at = joe_at + len(body)
        body += _i16(0, ident) + _string(text, at + 4, 4)
    cutaway_at = joe_at + len(body)
    body += _i16(0, 0) + _string("", cutaway_at + 4)
    again_at = joe_at + len(body)
    body += _string("What now?", again_at)
    body += _string("Hello again.", again_at + len(_string("What now?", again_at)))
    head = _i16(1, 7, 2, 2, 2) + _i16(0, 0, 0, 0, 0, 0)
    head += struct.pack(">3H", person_at, cutaway_at, again_at)
    head = head.ljust(32, b"\0") + bytes(96)
    return BANK_HEADER + head + body


def test_dialogue() -> None:
    d = fotaq.parse_dialogue(_dog())
    assert d.talk_key == 2
    assert d.joe == [(0, "Excuse me Bob.*03"), (6, "Nice shop.*01*02")]
    assert d.person == [(6, "Thanks.*00I made it myself."), (0x1E, "Bye.")]
    assert (d.person_again, d.joe_again) == ("What now?", "Hello again.")
    lines = fotaq.dialogue_lines(d)
    assert [(p, j) for p, _, j in lines] == [
        (" 2SSSSJ", True),
        (" 2   6J", True),
        (" 2   6P", False),
        (" 2  1eP", False),
        (" 2XXXXP", False),
        (" 2XXXXJ", True),
    ]
    clips = [fotaq.clip_name(p, k) for p, s, _ in lines for k, _ in fotaq.speech_segments(s)]
    assert clips[:5] == ["02SSSSJ1.SB", "020006J1.SB", "020006J2.SB", "020006P1.SB", "020006P2.SB"]
    assert "02001EP1.SB" in clips


def _cut() -> bytes:
    """Joe speaks; an animated object (one frame) says nothing; person object 5 speaks; a
    caption is read out; then the bank list and the dialogue that follows."""

    def obj(number: int, anim_list: int = 0, execute: int = 0, people: tuple = ()) -> bytes:
        fields = [number, 0, 0, 0, anim_list, execute] + [0] * 11
        return _i16(*fields) + _i16(len(people), *people)

    objects = obj(0) + obj(9, anim_list=1, execute=1, people=(3,))
    objects += _i16(0, *range(1, 10)) + _i16(-2)  # one animation frame, then the end mark
    objects += obj(5) + obj(-2)
    state_at = 12 + len(objects)
    state = _i16(0, 0, 0, 0)
    sentence_at = state_at + len(state)
    sentences = b""
    for text in ["*FL", "Hello there.*02", "", "Hi Joe!*00Long time.", "Read me."]:
        sentences += _string(text, sentence_at + len(sentences))
    banks_at = sentence_at + len(sentences)
    banks = struct.pack(">H", 1) + _string("BANK.BBK", banks_at + 2)
    banks += _string("FOO.DOG", banks_at + len(banks)) + _i16(5)
    head = struct.pack(">HhhHHH", 0, -4, 0, state_at, sentence_at, banks_at)
    return BANK_HEADER + head + objects + state + sentences + banks


def test_cutaway() -> None:
    cut = fotaq.parse_cutaway(_cut(), is_person=lambda n: n == 5)
    got = [(o.index, o.number, o.kind, o.sentence) for o in cut.objects]
    assert got == [
        (1, 0, fotaq.PERSON, "Hello there.*02"),
        (2, 9, fotaq.OTHER, ""),
        (3, 5, fotaq.PERSON, "Hi Joe!*00Long time."),
        (4, -2, fotaq.TEXT_SPEAK, "Read me."),
    ]
    assert (cut.talk_file, cut.talk_to) == ("FOO.DOG", 5)
    # object 5 drawn as something else is an (unexecuted) animation: it says nothing
    assert fotaq.parse_cutaway(_cut(), is_person=lambda n: False).objects[2].kind == fotaq.OTHER


def _jas() -> tuple[bytes, bytes]:
    """Two rooms; room 1 holds a lamp and Faye (a person), room 2 a parrot drawn as person 1
    whose actor depends on game state (PARROT or HENRY)."""
    objects = [(1, 1, 0), (2, 1, -3), (3, 2, -4)]  # (name, room, image)
    data = struct.pack(">4H", 2, 3, len(objects), 1)
    for name, room, image in objects:
        data += struct.pack(">hHHHhHHh", name, 0, 0, 1, 0, room, 0, image)
    data += struct.pack(">3H", 0, 2, 3)  # the object before each room's first, and the end
    data += bytes(10)  # everything the reader skips
    actors = [(1, 1, 1), (2, 1, 2), (2, 1, 3)]  # (room, person slot, actor name)
    data += struct.pack(">4H", len(actors), 1, 3, 1)
    for room, bob, name in actors:
        data += struct.pack(">hhH", room, bob, name) + bytes(18)
    data += struct.pack(">H", 1) + bytes(6) + b"CEM10\0"
    text = ["It's a lamp*03", "lamp", "Faye", "Parrot", "R1", "R2"]
    text += ["verb"] * 12 + [f"reply {n}*02" for n in range(1, 41)]
    text += ["001,000", "FAYE-H", "PARROT", "HENRY", "faye.act"]
    return BANK_HEADER + data, "\r\n".join(text).encode("latin-1")


def test_jas() -> None:
    binary, text = _jas()
    jas = fotaq.parse_jas(binary, text, "CEM10")
    assert jas.descriptions == ["It's a lamp*03"]
    assert jas.responses[0] == "reply 1*02" and len(jas.responses) == 40
    assert jas.object_name == ["", "lamp", "Faye", "Parrot"]
    assert [jas.is_person(n) for n in (1, 2, 3)] == [False, True, True]
    assert jas.speaker(2) == "faye"  # FAYE-H, the talking head, is Faye
    assert jas.speaker(3) == "parrot"  # PARROT or HENRY by game state: named after the object


def test_character() -> None:
    names = ["FAYE-H", "X3_RITA", "PRINCESS1", "ANDSON-E", "LOLA_SHOWER", "SPARKY-F", "MAN2"]
    assert [fotaq.character(n) for n in names] == [
        "faye",
        "rita",
        "azura",
        "anderson",
        "lola",
        "sparky",
        "man2",
    ]


def test_select_counts_what_it_leaves_out() -> None:
    Line = fotaq.Line
    lines = [
        Line("A0000001.SB", "@@ I think I'm in love @@", "joe", "x"),
        Line("A0000002.SB", "Never recorded.", "joe", "x"),
        Line("A0000003.SB", "", "joe", "x"),
        Line("A0000004.SB", "Café au lait", "joe", "x"),
        Line("A0000005.SB", "<gulp> Thanks.", "joe", "x"),
        Line("A0000006.SB", "NVHHZTV", "lou", "x"),
        Line("A0000007.SB", "One.", "bob", "x"),
        Line("A0000007.SB", "Two.", "bob", "y"),
        Line("A0000008.SB", "Who said this?", None, "x"),
        Line("A0000009.SB", "WE DON'T HAVE A TELEPHONE!", "secretary", "x"),
    ]
    names = ["A0000001", "A0000003", "A0000004", "A0000005", "A0000006", "A0000007"]
    names += ["A0000008", "A0000009", "ORPHAN01", "1001SSSS"]
    entries = {f"{n}.SB": (0, 0) for n in names}
    dropped: Counter = Counter()
    kept = fotaq.select(lines, fotaq.Table("CEM10", 1, entries), dropped)
    assert [(k.clip, k.text) for k in kept] == [
        ("A0000001.SB", "I think I'm in love"),
        ("A0000009.SB", "WE DON'T HAVE A TELEPHONE!"),
    ]
    assert dropped == {
        "line has no clip (never recorded)": 1,
        "empty text": 1,
        "non-English letters": 1,
        "text not read as written (<sound>, symbols)": 1,
        "one word in capitals: a spelled letter, a code or a noise": 1,
        "two different lines name one clip": 1,
        "speaker not in the game data": 1,
        "clip has no text in the game data": 1,  # ORPHAN01; 1001SSSS is a sound effect
    }


@pytest.mark.skipif(not fotaq.GAME_FILE.is_file(), reason="the game is not installed")
def test_installed_game() -> None:
    with open(fotaq.GAME_FILE, "rb") as f:
        table = fotaq.read_table(f.read(1 << 20))

        def read(name: str) -> bytes:
            offset, size = table.entries[name]
            f.seek(offset)
            return f.read(size)

        assert (table.version, table.compression) == ("CEM10", 1)
        dog = fotaq.parse_dialogue(read("BOB1.DOG"))
        assert dog.talk_key == 6 and dog.joe[0] == (0, "Excuse me Bob.*03")
        lines = fotaq.game_lines(read, table)
        by_clip = {line.clip: line for line in lines}
        assert by_clip["JOE00011.SB"].text == "It doesn't seem to open"
        assert by_clip["060009J1.SB"].text == "I think I'll browse."
        assert by_clip["0800B7P2.SB"].speaker == "bud"
        named = {line.clip for line in lines} & set(table.entries)
        speech = [n for n in table.entries if fotaq.SPEECH_RESOURCE.fullmatch(n)]
        speech = [n for n in speech if not fotaq.SOUND_EFFECT.fullmatch(n)]
        assert len(named) >= 0.99 * len(speech)  # nearly every clip has its line
        samples, rate = sf.read(io.BytesIO(read("JOE00011.SB")), dtype="float32")
        assert rate == 11025 and 0.5 < len(samples) / rate < 5
