"""A FLAC / Ogg / MP3 corpus goes through `asr prepare` and `asr evaluate` as it is: no
conversion, and lossless FLAC scores exactly what the WAV originals score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from e2e_support import run_cli

from asr.audio import load_audio
from asr.manifest import read_manifest

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "manifest.jsonl"
FORMATS = {"flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


def _cli(argv: list[str]) -> str:
    rc, out, err = run_cli(argv)
    assert rc == 0, err
    return out


def _wer_cer(summary: str) -> tuple[str, str]:
    first = summary.splitlines()[0].split()
    return first[1], first[3]


@pytest.fixture(scope="module")
def wav_scores() -> tuple[str, str]:
    return _wer_cer(_cli(["evaluate", "--manifest", str(SAMPLES), "--decoder", "greedy"]))


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_compressed_corpus_imports_and_evaluates(
    ext: str, tmp_path: Path, wav_scores: tuple[str, str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for u in read_manifest(SAMPLES):
        stem = Path(u.audio_filepath).stem
        fmt, subtype = FORMATS[ext]
        if ext == "flac":  # each sample's own 16-bit samples at its own rate (UQM's is 11 kHz)
            samples, rate = sf.read(u.audio_filepath, dtype="int16")
        else:
            samples, rate = load_audio(u.audio_filepath), 16000
        sf.write(corpus / f"{stem}.{ext}", samples, rate, format=fmt, subtype=subtype)
        (corpus / f"{stem}.txt").write_text(u.text, encoding="utf-8")
    manifest = tmp_path / "m.jsonl"
    _cli(["prepare", str(corpus), "--out", str(manifest)])
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(rows) == len(read_manifest(SAMPLES)) and all(
        r["audio_filepath"].endswith(f".{ext}") for r in rows
    )
    wer, cer = _wer_cer(_cli(["evaluate", "--manifest", str(manifest), "--decoder", "greedy"]))
    if ext == "flac":  # lossless: the very same samples, so the very same scores
        assert (wer, cer) == wav_scores
    else:  # lossy codecs move a few letters, not the whole result
        assert abs(float(cer.rstrip("%")) - float(wav_scores[1].rstrip("%"))) < 5.0
