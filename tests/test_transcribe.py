"""The shipped default model through Transcriber and `asr transcribe`: the README's main job."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jiwer
import numpy as np
import pytest
import scipy.signal

from asr.audio import load_audio
from asr.cli import main
from asr.errors import ConfigError
from asr.manifest import read_manifest
from asr.text import normalize_text
from asr.transcribe import Transcriber, default_model_dir

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber.load()


def test_default_model_is_the_checkout_copy() -> None:
    assert default_model_dir() == ROOT / "checkpoints" / "default"
    assert (default_model_dir() / "model.keras").stat().st_size < 20 * 2**20


def test_shipped_model_reads_the_samples(transcriber: Transcriber) -> None:
    """Held-out voices and unseen sentences, the default decoder (beam 16 + both LMs)."""
    utts = read_manifest(SAMPLES / "manifest.jsonl")
    hyps = [r.text for r in transcriber.transcribe_files([u.audio_filepath for u in utts])]
    refs = [normalize_text(u.text) for u in utts]
    assert jiwer.cer(refs, hyps) < 0.35
    assert hyps[1].startswith("lets have a")


def test_batch_and_single_give_the_same_text(transcriber: Transcriber) -> None:
    """Padding inside a batch must not change any utterance's transcript."""
    paths = sorted(SAMPLES.glob("*.wav"))
    together = [r.text for r in transcriber.transcribe_files(paths)]
    alone = [transcriber.transcribe(p) for p in paths]
    assert together == alone


def test_arrays_at_other_rates_are_resampled(transcriber: Transcriber) -> None:
    path = SAMPLES / "006070.wav"
    samples = load_audio(path, 16_000)
    at_16k = transcriber.transcribe(samples)
    at_48k = scipy.signal.resample_poly(samples, 3, 1).astype(np.float32)
    stereo = np.stack([at_48k, at_48k], axis=1)
    text = transcriber.transcribe(stereo, sample_rate=48_000)
    assert jiwer.cer(at_16k, text) < 0.1


def test_cli_transcribes_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(SAMPLES)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5  # four WAVs and a FLAC: a folder is searched for every format
    assert sorted(line.split("\t")[0].rsplit(".", 1)[1] for line in lines) == ["flac"] + ["wav"] * 4


def test_cli_jsonl_and_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    wav = str(SAMPLES / "006075.wav")
    assert main(["transcribe", wav, "--format", "jsonl", "--output", str(out)]) == 0
    row = json.loads(out.read_text())
    assert row["path"] == wav and row["text"] and row["duration"] == pytest.approx(1.791, 1e-3)
    out.write_text("mine")
    assert main(["transcribe", wav, "--output", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "mine"


def test_cli_bad_file_is_reported_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One bad file: one line naming it, the others transcribed, exit status 1."""
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    good = str(SAMPLES / "006075.wav")
    assert main(["transcribe", good, str(bad), str(tmp_path / "missing.wav")]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and captured.out.startswith(good)
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 2
    assert "broken.wav" in skipped[1] and "missing.wav" in skipped[0]
    assert "2 of 3 inputs failed" in captured.err
    assert main(["transcribe", str(bad)]) == 2  # nothing transcribed at all


def test_cli_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    data = (SAMPLES / "006075.wav").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["transcribe", "-", "--format", "jsonl"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["path"] == "-" and row["text"].startswith("lets have a")


def test_json_words_are_timed_and_confident(capsys: pytest.CaptureFixture[str]) -> None:
    wav = SAMPLES / "006070.wav"
    assert main(["transcribe", str(wav), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    words = row["words"]
    assert " ".join(w["word"] for w in words) == row["text"]
    assert 0.0 < row["confidence"] <= 1.0
    ends = [0.0]
    for w in words:
        assert ends[-1] <= w["start"] < w["end"] <= row["duration"]
        assert 0.0 < w["confidence"] <= 1.0
        ends.append(w["end"])


def test_beam_decoder_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    wav = str(SAMPLES / "006075.wav")
    assert main(["transcribe", wav, "--decoder", "beam", "--beam-width", "8"]) == 0
    assert capsys.readouterr().out.startswith("lets have a")
    assert main(["transcribe", wav, "--decoder", "beam", "--beam-width", "0"]) == 2


def test_cli_model_dir_without_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(default_model_dir() / "config.json", tmp_path / "config.json")
    assert main(["transcribe", "--model", str(tmp_path), str(SAMPLES / "006075.wav")]) == 2
    err = capsys.readouterr().err
    assert "model.keras" in err and len(err.strip().splitlines()) == 1


def test_evaluate_with_beam_is_not_worse_on_the_samples(capsys: pytest.CaptureFixture[str]) -> None:
    manifest = str(SAMPLES / "manifest.jsonl")
    rates = {}
    for decoder in ("greedy", "beam"):
        assert main(["evaluate", "--manifest", manifest, "--decoder", decoder]) == 0
        first = capsys.readouterr().out.splitlines()[0]  # "WER 58.70%  CER 25.51%  over ..."
        rates[decoder] = float(first.split()[3].rstrip("%"))
    assert rates["beam"] <= rates["greedy"] + 1.0  # CER, in points
    assert main(["evaluate", "--manifest", manifest, "--beam-width", "0"]) == 2


def test_asr_lm_builds_and_guards_its_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "text.txt"
    text.write_text("As with all matters of the heart.\nLet's have a look.\n", encoding="utf-8")
    out = tmp_path / "lm.npz"
    assert main(["lm", str(text), "--out", str(out), "--order", "4"]) == 0
    assert "4-gram character LM from 2 sentences" in capsys.readouterr().out
    saved = out.read_bytes()
    for argv, needle in [
        (["lm", str(text), "--out", str(out)], "--force"),  # never overwritten silently
        (["lm", str(text), "--out", str(tmp_path / "no" / "lm.npz")], "does not exist"),
        (["lm", str(text), "--out", str(tmp_path / "x.npz"), "--order", "0"], "--order"),
        (["lm", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "y.npz")], "cannot read"),
    ]:
        assert main(argv) == 2
        line = capsys.readouterr().err.strip()
        assert len(line.splitlines()) == 1 and needle in line, line
    assert out.read_bytes() == saved


def test_lm_options_are_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = str(SAMPLES / "006075.wav")
    lm = tmp_path / "lm.npz"
    for argv, needle in [
        (["transcribe", wav, "--decoder", "beam", "--lm", str(lm)], "not found"),
        (["transcribe", wav, "--decoder", "greedy", "--lm", str(lm)], "--decoder beam"),
        (["transcribe", wav, "--decoder", "beam", "--lm", "x", "--no-lm"], "--no-lm"),
        (["evaluate", "--manifest", "m.jsonl", "--lm", str(lm), "--decoder", "beam"], "asr lm"),
    ]:
        assert main(argv) == 2
        line = capsys.readouterr().err.strip()
        assert len(line.splitlines()) == 1 and needle in line, line
    # a file that is not a language model: one line naming it, when beam search needs it
    lm.write_bytes(b"not an npz")
    assert main(["transcribe", wav, "--decoder", "beam", "--lm", str(lm)]) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and "lm.npz: not an asr language model" in line


def test_beam_with_a_language_model_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An LM built from other text steers beam search, and the report says it was used."""
    text = tmp_path / "text.txt"
    text.write_text("\n".join(["let us have a look", "have a look down here"] * 5))
    lm = tmp_path / "lm.npz"
    assert main(["lm", str(text), "--out", str(lm)]) == 0
    capsys.readouterr()
    wav = str(SAMPLES / "006075.wav")
    assert main(["transcribe", wav, "--decoder", "beam", "--lm", str(lm)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lets have a look")
    manifest = str(SAMPLES / "manifest.jsonl")
    report = tmp_path / "r.json"
    argv = ["evaluate", "--manifest", manifest, "--decoder", "beam", "--lm", str(lm)]
    assert main([*argv, "--report", str(report)]) == 0
    decoder = json.loads(report.read_text())["decoder"]
    assert decoder.startswith("beam 16 + 6-gram character LM") and "lm.npz" in decoder
    assert "decoder <code>beam 16 + 6-gram" in report.with_suffix(".html").read_text()
    assert "decoder: beam 16 + 6-gram" in capsys.readouterr().out
    # --no-lm drops the character LM only; the shipped words.arpa goes with --no-word-lm
    assert main([*argv[:-2], "--no-lm", "--report", str(tmp_path / "w.json")]) == 0
    decoder = json.loads((tmp_path / "w.json").read_text())["decoder"]
    assert decoder.startswith("beam 16 + 3-gram word LM") and "words.arpa" in decoder
    argv = [*argv[:-2], "--no-lm", "--no-word-lm", "--report", str(tmp_path / "s.json")]
    assert main(argv) == 0
    assert json.loads((tmp_path / "s.json").read_text())["decoder"] == "beam 16"
    # the default decoder ("auto"): beam search with the model's LMs when it has them ...
    argv = ["evaluate", "--manifest", manifest, "--report", str(tmp_path / "a.json")]
    assert main(argv) == 0
    decoder = json.loads((tmp_path / "a.json").read_text())["decoder"]
    assert decoder.startswith("beam 16 + 10-gram character LM") and "word LM" in decoder
    # ... and greedy when it has none (--no-lm --no-word-lm), or when asked
    for extra in (["--no-lm", "--no-word-lm"], ["--decoder", "greedy"]):
        report = tmp_path / f"g{len(extra[0])}.json"
        assert main([*argv[:-2], *extra, "--report", str(report)]) == 0
        assert json.loads(report.read_text())["decoder"] == "greedy"


def test_shipped_language_model_is_used_by_beam_search(transcriber: Transcriber) -> None:
    """checkpoints/default/lm.npz: found by default, small, and it fixes what the acoustic
    model spells by ear (greedy says "canop", "wuld" and "powrsystems" on these held-out
    voices); the default decoder ("auto") is beam search with it."""
    lm_file = default_model_dir() / "lm.npz"
    assert transcriber.lm_path == lm_file and lm_file.stat().st_size < 10 * 2**20  # 8.4 MB
    assert transcriber.lm is not None and transcriber.lm.alphabet == transcriber.config.alphabet
    for name, word in [
        ("006114.wav", "cannot"),
        ("005943.wav", "would"),
        ("uqm_commander_001.flac", "systems"),
    ]:
        heard = transcriber.transcribe(SAMPLES / name, decoder="greedy").split()
        assert word not in heard, heard
        text = transcriber.transcribe(SAMPLES / name, decoder="beam").split()
        assert word in text, text
        assert transcriber.transcribe(SAMPLES / name).split() == text  # auto: the beam


def test_auto_decoder_is_beam_only_with_something_to_fuse(transcriber: Transcriber) -> None:
    from asr.decoding import Hotwords

    assert transcriber.resolve_decoder("auto") == "beam"  # the shipped model has both LMs
    bare = Transcriber.load(default_model_dir(), lm=None, word_lm=None)
    assert bare.resolve_decoder("auto") == "greedy"
    assert bare.resolve_decoder("beam") == "beam" and bare.resolve_decoder("greedy") == "greedy"
    bare.hotwords = Hotwords.parse(["zelda"])  # hotwords alone need the beam
    assert bare.resolve_decoder("auto") == "beam"
    with pytest.raises(ConfigError, match="choose one of \\['auto', 'beam', 'greedy'\\]"):
        bare.decoder("viterbi")
