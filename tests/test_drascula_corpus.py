"""Drascula importer: drascula.dat's tables and text blocks, the speech-file naming rule and
the 8-bit audio, on hand-built bytes; and a smoke test on the installed game when it is
there."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
dr = load_tool("drascula_corpus")


def text_block(strings: list[str]) -> bytes:
    """One language's block as the game stores it: string 0 (empty) at the start, then each
    string NUL-padded to an even length after 4 bytes whose last two give the distance
    from its start to the next string's (the first distance sits in bytes 2-3)."""
    padded = [s.encode("latin-1") + b"\0" * (2 - len(s) % 2) for s in strings[1:]]
    out = bytearray(b"\0\0" + struct.pack(">H", 4))
    for p in padded:
        out += b"\0\0" + struct.pack(">H", len(p) + 4) + p
    return bytes(out)


def dat_file(languages: list[dict[str, list[str]]], trailing: bytes = b"") -> bytes:
    """A drascula.dat: two records in the first game-data table, none in the others, then
    every text table in each language (missing tables: one empty string)."""
    out = bytearray(dr.MAGIC + bytes([dr.DAT_VERSION]))
    for i, (_, size) in enumerate(dr.TABLES):
        count = 2 if i == 0 else 0
        out += struct.pack(">H", count) + bytes(count * size)
    out += struct.pack(">H", len(languages))
    for name in dr.TEXT_TABLES:
        per_language = [lang.get(name, [""]) for lang in languages]
        out += struct.pack(">H", len(per_language[0]))
        for strings in per_language:
            block = text_block(strings)
            out += struct.pack(">H", len(block)) + block
    return bytes(out + trailing)


def test_text_block_walk() -> None:
    strings = ["", "THAT'S A DOOR", "NO", "HEY IGOR, HOW IS EVERYTHING GOING?"]
    assert dr.text_block_strings(text_block(strings), len(strings)) == strings
    with pytest.raises(ValueError, match="past its block"):
        dr.text_block_strings(text_block(strings), len(strings) + 3)


def test_the_real_first_bytes_of_the_english_text_table() -> None:
    """The first bytes of the installed game's English `_text` block, as stored."""
    first = b"THAT'S THE SECOND BIGGEST DOOR I'VE SEEN IN MY LIFE\x00"
    block = b"\x00\x00\x00\x04\x00\x00\x008" + first + b"\x00\x00\x00\x10NOT REALLY\x00\x00"
    assert dr.text_block_strings(block, 3) == ["", first[:-1].decode(), "NOT REALLY"]


def test_read_texts_picks_the_language_and_checks_the_file() -> None:
    english = {"text": ["", "YES", "NOT REALLY"], "textd": ["", "HEY IGOR"]}
    spanish = {"text": ["", "SI", "NO MUCHO"], "textd": ["", "OYE IGOR"]}
    dat = dat_file([english, spanish])
    assert dr.read_texts(dat)["text"] == ["", "YES", "NOT REALLY"]
    assert dr.read_texts(dat, language=1)["textd"] == ["", "OYE IGOR"]
    assert dr.read_texts(dat)["textvb"] == [""]
    with pytest.raises(ValueError, match="language 2"):
        dr.read_texts(dat, language=2)
    with pytest.raises(ValueError, match="after its last table"):
        dr.read_texts(dat_file([english], trailing=b"\0\0"))
    with pytest.raises(ValueError, match="magic"):
        dr.read_texts(b"DRASCULO" + dat[8:])
    with pytest.raises(ValueError, match="version 5"):
        dr.read_texts(dat[:8] + bytes([5]) + dat[9:])


def test_each_speech_file_names_its_text_and_speaker() -> None:
    texts = {name: [""] for name in dr.TEXT_TABLES}
    texts["text"] = ["", "THAT'S A DOOR", "NOT REALLY"]
    texts["textd"] = [""] + [f"D LINE {i}" for i in range(1, 84)]
    texts["textvb"] = ["", "WHO IS CALLING?"]
    texts["textbj"] = ["", "ARE YOU ALL RIGHT?"]
    assert dr.line_of("1.ALS", texts) == ("hacker", "THAT'S A DOOR")
    assert dr.line_of("d10.als", texts) == ("drascula", "D LINE 10")  # names in any case
    assert dr.line_of("D57.ALS", texts) == ("hacker", "D LINE 57")  # John's replies
    assert dr.line_of("D70.ALS", texts) == ("blind", "D LINE 70")
    assert dr.line_of("VB1.ALS", texts) == ("vonbraun", "WHO IS CALLING?")
    assert dr.line_of("BJ1.ALS", texts) == ("bj", "ARE YOU ALL RIGHT?")
    assert dr.line_of("S3.ALS", texts).startswith("S files (no text table")
    assert dr.line_of("D83.ALS", texts) == "line of another table said from a D file"
    assert dr.line_of("3.ALS", texts) == "no text line for the file"
    assert dr.line_of("0.ALS", texts) == "no text line for the file"
    assert dr.line_of("INTRO.BIN", texts) == "not a speech file name"


def test_speech_samples_and_clean() -> None:
    np.testing.assert_allclose(dr.speech_samples(bytes([0, 128, 255])), [-1.0, 0.0, 127 / 128])
    # the engine's one trimmed file: English 3.ALS of 145,166 bytes plays 73,959..118,860
    size, start, end = dr.TRIM["3"]
    data = bytes([128]) * start + bytes([200]) * (end - start) + bytes([128]) * (size - end)
    assert (dr.speech_samples(data, "3") == 72 / 128).all()
    assert len(dr.speech_samples(data[:-1], "3")) == size - 1  # another file of that name
    assert len(dr.speech_samples(data, "4")) == size
    assert dr.clean("OH, ..OH, NO, NO....I'M...GANIMEDES") == "OH, OH, NO, NO I'M GANIMEDES"


def test_build_writes_clips_and_speaker_splits(tmp_path: Path) -> None:
    """A tiny game folder: kept lines become FLACs in manifests; the rest are counted."""
    game = tmp_path / "en"
    game.mkdir()
    texts = {
        "text": ["", "THAT'S A DOOR", "", "A LINE FAR TOO LONG FOR THE SHORT CLIP IT HAS"],
        "texti": ["", "MASTER, THIS IS NOT WORKING"],
        "textvb": ["", "WHO IS CALLING?"],
    }
    dat = tmp_path / "drascula.dat"
    dat.write_bytes(dat_file([texts]))
    tone = (128 + 60 * np.sin(np.arange(22050) / 5)).astype(np.uint8).tobytes()
    for name in ("1.ALS", "2.ALS", "I1.ALS", "VB1.ALS", "S1.ALS"):
        (game / name).write_bytes(tone)
    (game / "3.ALS").write_bytes(tone[:1000])  # 0.09 s for 45 characters
    out = tmp_path / "corpus"
    assert dr.main(["--out", str(out), "--game", str(game), "--dat", str(dat)]) == 0
    rows = [json.loads(line) for line in (out / "all.jsonl").read_text().splitlines()]
    assert [(r["speech_file"], r["speaker"]) for r in rows] == [
        ("1", "hacker"),
        ("I1", "igor"),
        ("VB1", "vonbraun"),
    ]
    audio, rate = sf.read(out / rows[0]["audio_filepath"])
    assert rate == dr.SAMPLE_RATE and len(audio) == 22050 and rows[0]["duration"] == 2.0
    splits = {
        name: [json.loads(line)["speaker"] for line in (out / f"{name}.jsonl").open()]
        for name in ("train", "dev", "test")
    }
    assert splits == {"train": ["hacker"], "dev": ["igor"], "test": ["vonbraun"]}


def test_a_missing_game_is_named_with_its_package(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        dr.main(["--out", str(tmp_path / "o"), "--game", str(tmp_path / "none")])
    assert "apt-get install drascula" in capsys.readouterr().err


@pytest.mark.skipif(not dr.DAT_FILE.is_file(), reason="drascula is not installed")
def test_installed_game(tmp_path: Path) -> None:
    texts = dr.read_texts(dr.DAT_FILE.read_bytes())
    assert len(texts["text"]) == 501 and len(texts["textd"]) == 84
    assert texts["text"][1] == "THAT'S THE SECOND BIGGEST DOOR I'VE SEEN IN MY LIFE"
    assert texts["textd"][dr.D_SPEAKERS[-1][0]] == "HI THERE FOREIGNER"  # the blind man
    rows = dr.build(tmp_path, dr.GAME_DIR, dr.DAT_FILE, limit=5)
    assert len(rows) == 5 and all((tmp_path / r["audio_filepath"]).is_file() for r in rows)
