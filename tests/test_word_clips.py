"""Forced alignment (``Transcriber.align``) and the word-clip cutter built on it
(tools/word_clips.py), on the shipped model and the shipped human sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from e2e_support import load_tool

from asr.audio import load_audio
from asr.text import normalize_text
from asr.transcribe import Transcriber, Word

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "uqm_commander_001.flac"
SAMPLE_TEXT = "We do have a small amount of Starship fuel which is of no use to our power systems."
word_clips = load_tool("word_clips")


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber.load()


def test_align_times_every_word_of_the_transcript_in_order(transcriber: Transcriber) -> None:
    samples = load_audio(SAMPLE, 16_000)
    (words,) = transcriber.align([samples], [SAMPLE_TEXT])
    assert [w.word for w in words] == normalize_text(SAMPLE_TEXT).split()
    end = 0.0
    for w in words:
        assert end <= w.start < w.end <= len(samples) / 16_000
        assert 0.0 < w.confidence <= 1.0
        end = w.end
    # the model hears these words clearly: they align where the speech is (measured 2.54 s)
    no = words[normalize_text(SAMPLE_TEXT).split().index("no")]
    assert 2.3 < no.start < 2.8 and no.confidence > 0.5


def test_align_gives_none_for_a_text_longer_than_its_audio(transcriber: Transcriber) -> None:
    short = load_audio(SAMPLE, 16_000)[:3200]  # 0.2 s: 10 output frames
    assert transcriber.align([short], [SAMPLE_TEXT]) == [None]


def test_wrong_text_aligns_with_low_confidence(transcriber: Transcriber) -> None:
    samples = load_audio(SAMPLE, 16_000)
    (right,) = transcriber.align([samples], [SAMPLE_TEXT])
    (wrong,) = transcriber.align([samples], ["purple elephants dance quietly under bright moons"])
    assert np.mean([w.confidence for w in wrong]) < np.mean([w.confidence for w in right]) / 3


def test_word_bounds_stop_at_the_neighbouring_words() -> None:
    words = [Word("a", 0.10, 0.20, 1.0), Word("no", 0.30, 0.40, 1.0), Word("b", 0.90, 1.0, 1.0)]
    assert word_clips.word_bounds(words, 1, 1.2, 0.15) == (0.20, 0.55)
    assert word_clips.word_bounds(words, 0, 1.2, 0.15) == (0.0, 0.30)
    assert word_clips.word_bounds(words, 2, 1.2, 0.15) == (0.75, 1.15)


def test_cut_fades_both_ends() -> None:
    piece = word_clips.cut(np.ones(16_000), 0.25, 0.5)
    assert len(piece) == 4000
    assert piece[0] == 0.0 and piece[-1] < 0.01 and piece[2000] == 1.0


def test_label_of() -> None:
    assert word_clips.label_of("no", ("yes", "no"), ("cat",)) == "no"
    assert word_clips.label_of("cat", ("yes", "no"), ("cat",)) == "unknown"
    assert word_clips.label_of("dog", ("yes", "no"), ("cat",)) is None


def test_clips_from_a_corpus_keep_its_splits(tmp_path: Path) -> None:
    corpus = tmp_path / "game"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / "a.flac")
    row = {"audio_filepath": "a.flac", "text": SAMPLE_TEXT, "speaker": "commander"}
    (corpus / "test.jsonl").write_text(json.dumps(row) + "\n")
    out = tmp_path / "clips"
    assert word_clips.main([str(corpus), "--out", str(out)]) == 0
    (clip,) = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    assert clip["label"] == "no" and clip["speaker"] == "game:commander"
    assert (out / "train.jsonl").read_text() == ""
    samples, rate = sf.read(out / clip["audio_filepath"])
    assert rate == 16_000 and len(samples) == 16_000
    assert clip["end"] - clip["start"] < 0.6
    with pytest.raises(SystemExit):  # never writes into a folder that holds something
        word_clips.main([str(corpus), "--out", str(out)])
