"""tools/keyword_corpus.py: voices go to their recorded speaker's split, and a supplement of
named voices writes only the splits they belong to, with scaled take counts."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
from e2e_support import load_tool

from asr.synth import Voice

ROOT = Path(__file__).resolve().parents[1]
keyword_corpus = load_tool("keyword_corpus")


def test_a_speaker_keeps_its_split_across_engines() -> None:
    split = keyword_corpus.voice_split
    assert split(Voice("flite", "slt")) == split(Voice("rhvoice", "slt")) == "test"
    assert split(Voice("flite", "awb")) == split(Voice("rhvoice", "alan")) == "test"
    assert split(Voice("flite", "rms")) == "val"
    assert split(Voice("flite", "kal")) == split(Voice("piper", "joe")) == "train"
    variant = split(Voice("espeak-ng", "en-us+f3"))
    assert variant == split(Voice("espeak-ng", "en-gb+f3")) and variant in ("train", "val", "test")


def test_scaled_take_counts() -> None:
    assert [keyword_corpus.scaled(n, 0.25) for n in (300, 16, 2, 0)] == [75, 4, 1, 0]


def test_a_supplement_of_one_voice_writes_only_its_split(tmp_path: Path) -> None:
    if shutil.which("flite") is None:
        pytest.skip("flite not on PATH")
    out = tmp_path / "digits_kal"
    counts = keyword_corpus.build(
        "digits", out, seed=0, jobs=1, only=[Voice("flite", "kal")], scale=0.01
    )
    assert set(counts) == {"train"} and not (out / "val.jsonl").exists()
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert Counter(r["label"] for r in rows) == dict.fromkeys(keyword_corpus.DIGITS, 2)
    assert {r["speaker"] for r in rows} == {"flite:kal"}
    audio, rate = sf.read(out / rows[0]["audio_filepath"])
    assert rate == 16_000 and len(audio) >= rate  # one word in at least a second of room


def test_a_voice_no_split_holds_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delitem(keyword_corpus.SPEAKER_SPLIT, "piper:joe")
    with pytest.raises(SystemExit, match="no split holds piper:joe"):
        keyword_corpus.build("keywords", tmp_path / "x", 0, 1, only=[Voice("piper", "joe")])


def test_a_missing_engine_is_refused_not_left_out(tmp_path: Path, monkeypatch) -> None:
    """Without RHVoice the corpus would quietly lose four training speakers and change."""
    installed = [Voice("flite", "kal"), Voice("flite", "slt"), Voice("espeak-ng", "mb-us1")]
    monkeypatch.setattr(keyword_corpus, "list_voices", lambda: installed)
    with pytest.raises(SystemExit, match="arctic:bdl, arctic:clb, .*rhvoice:lyubov: no inst"):
        keyword_corpus.build("digits", tmp_path / "x", 0, 1)
    assert not (tmp_path / "x").exists()
