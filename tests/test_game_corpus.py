"""What every game importer shares: the text rule, the fit rule and speaker-disjoint splits."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
game = load_tool("game_corpus")


def test_text_problem() -> None:
    assert game.text_problem("OH, ..OH, NO. I'M FINE!") == ""
    assert game.text_problem("...!?") == "empty text"
    assert game.text_problem("QUÉ PASA") == "non-ASCII text"
    for odd in ("ROOM 512", "A WD40 CAN", "<PAUSE> HELLO", "50% OFF", "ME & YOU"):
        assert game.text_problem(odd) == "text not read as written (symbols)", odd


def test_unfit() -> None:
    assert game.unfit("hello there", 1.0, 20.0, 25) == ""
    assert game.unfit("hello", 21.0, 20.0, 25) == "longer than 20 s"
    assert game.unfit("x" * 26, 1.0, 20.0, 25) == "more text than the audio can hold"


def test_speaker_splits_hold_whole_speakers_out(tmp_path: Path, capsys) -> None:
    rows = [
        {"audio_filepath": f"{s}{i}.flac", "text": "hi", "duration": 1.0, "speaker": s}
        for s in ("ann", "bob", "cy", "dee")
        for i in range(2)
    ]
    parts = game.write_speaker_splits(
        tmp_path, rows, {"dev": ("bob",), "test": ("cy",), "excluded": ("dee",)}
    )
    read = {
        name: [json.loads(x)["speaker"] for x in (tmp_path / f"{name}.jsonl").open()]
        for name in ("all", "train", "dev", "test")
    }
    assert read == {
        "all": ["ann", "ann", "bob", "bob", "cy", "cy", "dee", "dee"],
        "train": ["ann", "ann"],
        "dev": ["bob", "bob"],
        "test": ["cy", "cy"],
    }
    assert not (tmp_path / "excluded.jsonl").exists() and len(parts["excluded"]) == 2
    assert "8 clips, 0.00 h, 4 speakers" in capsys.readouterr().out


def test_keep_clip_writes_once_and_counts_what_it_drops(tmp_path: Path) -> None:
    from collections import Counter

    import numpy as np
    import soundfile as sf

    calls = []

    def load():
        calls.append(1)
        return np.linspace(-0.5, 0.5, 8000, dtype=np.float32), 8000

    dropped: Counter = Counter()
    rel = Path("audio") / "ann" / "1.flac"
    assert game.keep_clip(tmp_path, rel, "hello", load, dropped) == 1.0
    assert sf.info(tmp_path / rel).samplerate == 8000 and sf.info(tmp_path / rel).format == "FLAC"
    assert game.keep_clip(tmp_path, rel, "hello", load, dropped) == 1.0  # kept, not reread
    assert len(calls) == 1
    # 26 letters in a second is no speech of that text: counted, nothing written
    long = Path("audio") / "ann" / "2.flac"
    assert game.keep_clip(tmp_path, long, "x" * 26, load, dropped) is None
    assert not (tmp_path / long).exists()
    assert dropped == Counter({"more text than the audio can hold": 1})
    assert [p.name for p in (tmp_path / "audio" / "ann").iterdir()] == ["1.flac"]


def test_keep_clip_rewrites_a_clip_whose_cut_changed(tmp_path: Path) -> None:
    from collections import Counter

    import numpy as np
    import soundfile as sf

    rel = Path("a.flac")
    one = np.zeros(8000, dtype=np.float32), 8000
    two = np.zeros(12000, dtype=np.float32), 8000
    dropped: Counter = Counter()
    assert game.keep_clip(tmp_path, rel, "hi", lambda: one, dropped, 8000) == 1.0
    assert game.keep_clip(tmp_path, rel, "hi", lambda: two, dropped, 12000) == 1.5
    assert sf.info(tmp_path / rel).frames == 12000
