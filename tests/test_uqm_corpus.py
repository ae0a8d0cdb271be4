"""The Ur-Quan Masters importer: dialogue and timing files parsed, clips cut at subtitle
times snapped to silence, text that is not read as written left out (on hand-made packs)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
uqm = load_tool("uqm_corpus")

RATE = 11025  # Hz, as the game's clips

DIALOGUE = """#(HELLO_1)\tfoo-000.ogg
Hello there, Captain.
We meet again.

#(PLAYER_LINE)
I am the player, I have no clip.

#(FRACTION)\tfoo-001.ogg
Two thirds of 2/3 are gone.
"""
TIMES = "#(HELLO_1) 1500\n#(PLAYER_LINE) \n#(FRACTION) \n"


def _tone_with_gap() -> np.ndarray:
    """1.3 s of tone, 0.4 s of silence, 1.0 s of tone: the line change sits in the gap."""
    t = np.arange(int(1.3 * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    return np.concatenate([tone, np.zeros(int(0.4 * RATE), np.float32), tone[:RATE]])


def test_parsers() -> None:
    entries = uqm.parse_dialogue(DIALOGUE, "foo")
    assert [(e.ident, e.clip, e.lines) for e in entries] == [
        ("HELLO_1", "foo-000.ogg", ("Hello there, Captain.", "We meet again.")),
        ("FRACTION", "foo-001.ogg", ("Two thirds of 2/3 are gone.",)),
    ]
    assert uqm.parse_times(TIMES) == {"HELLO_1": [1500], "PLAYER_LINE": [], "FRACTION": []}


def test_cut_snaps_to_the_quiet_gap() -> None:
    entry = uqm.parse_dialogue(DIALOGUE, "foo")[0]
    samples = _tone_with_gap()
    (t1, a1, b1), (t2, a2, b2) = uqm.cut(entry, [1500], samples, RATE)
    assert (t1, t2) == ("Hello there, Captain.", "We meet again.")
    assert a1 == 0 and b1 == a2 and b2 == len(samples)
    assert 1.3 * RATE <= b1 <= 1.7 * RATE  # moved from 1.5 s into the silence
    assert np.abs(samples[b1 - 50 : b1 + 50]).max() == 0.0


def test_build_writes_flac_and_speaker_manifest(tmp_path: Path) -> None:
    voice, content = tmp_path / "voice.uqm", tmp_path / "content.uqm"
    with zipfile.ZipFile(voice, "w") as z:
        for clip in ("foo-000.ogg", "foo-001.ogg"):
            buf = io.BytesIO()
            sf.write(buf, _tone_with_gap(), RATE, format="OGG", subtype="VORBIS")
            z.writestr(f"3dovoice/foo/{clip}", buf.getvalue())
        z.writestr("3dovoice/foo/foo.ts", TIMES)
    with zipfile.ZipFile(content, "w") as z:
        z.writestr("base/comm/foo/foo.txt", DIALOGUE)
    out = tmp_path / "out"
    assert (
        uqm.main(["--out", str(out), "--voice-pack", str(voice), "--content-pack", str(content)])
        == 0
    )
    rows = [json.loads(x) for x in (out / "all.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Hello there, Captain.", "We meet again."]  # no "2/3"
    assert {r["speaker"] for r in rows} == {"foo"}
    info = sf.info(out / rows[0]["audio_filepath"])
    assert info.format == "FLAC" and info.samplerate == RATE
    assert abs(sum(r["duration"] for r in rows) - len(_tone_with_gap()) / RATE) < 0.01
