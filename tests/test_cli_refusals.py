"""Refusals found by auditing the CLI with bad values: each is one line naming the problem,
given before any work, never a traceback (DESIGN.md: "exits non-zero with a one-line reason
on bad input")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from e2e_support import one_line_error

from asr.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "006075.wav"
MANIFEST = ROOT / "data" / "samples" / "manifest.jsonl"
KEYWORDS = ROOT / "checkpoints" / "keywords"


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of a command that exits 2 (argparse's usage line left out)."""
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("usage:", " "))]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["train", "--epochs", "0"], "argument --epochs: expected a whole number, 1 or more"),
        (["train", "--batch-size", "0"], "argument --batch-size: expected a whole number"),
        (["train", "--learning-rate", "nan"], "argument --learning-rate: expected a number above"),
        (["train", "--learning-rate", "-1"], "argument --learning-rate: expected a number above"),
        (["classify", "train", "--epochs", "-1"], "argument --epochs: expected a whole number"),
        (["classify", "train", "--batch-size", "0"], "argument --batch-size: expected a whole"),
        (["pack", "m.jsonl", "--out", "p", "--shard-utterances", "0"], "--shard-utterances"),
        (["lm", "t.txt", "--out", "x.npz", "--weight", "nan"], "argument --weight: expected a"),
        (["lm", "t.txt", "--out", "x.npz", "--weight", "-5"], "argument --weight: expected a"),
        (["lm", "t.txt", "--out", "x.npz", "--bonus", "inf"], "argument --bonus: expected a fin"),
        (["lm", "--out", "x.npz", "--tune", "m", "--weights", "0", "nan"], "argument --weights"),
        (["transcribe", "a.wav", "--word-weight", "nan"], "argument --word-weight: expected a"),
        (["evaluate", "--manifest", "m", "--word-weight", "inf"], "argument --word-weight"),
    ],
)
def test_numbers_that_cannot_work_are_refused_by_the_parser(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reason in _refused(argv, capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["transcribe", str(SAMPLE), "--model", str(KEYWORDS)],
        ["transcribe", str(SAMPLE), "--model", str(KEYWORDS), "--runtime", "keras"],
        ["evaluate", "--manifest", str(MANIFEST), "--model", str(KEYWORDS)],
    ],
    ids=["transcribe_onnx", "transcribe_keras", "evaluate"],
)
def test_a_classifier_given_to_a_speech_command_is_named_as_such(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused(argv, capsys)
    assert f"{KEYWORDS}: a classify model, where a ctc model is needed" in line
    assert "asr classify predict" in line


def test_fine_tuning_from_a_classifier_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--train", str(MANIFEST), "--val", str(MANIFEST), "--out", str(tmp_path / "m")]
    line = _refused([*argv, "--epochs", "1", "--init-from", str(KEYWORDS)], capsys)
    assert "a classify model, where a ctc model is needed" in line


def test_a_file_given_as_the_model_directory(capsys: pytest.CaptureFixture[str]) -> None:
    line = _refused(["transcribe", str(SAMPLE), "--model", str(SAMPLE)], capsys)
    assert f"{SAMPLE}: a file, not a model directory" in line


def test_outputs_that_cannot_be_written_are_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    text = tmp_path / "text.txt"
    text.write_text("hello there\n")
    predict = ["classify", "predict", "--model", str(KEYWORDS), str(ROOT / "data/keywords/yes.wav")]
    cases = [
        ([*predict, "--output", str(folder), "--force"], f"{folder}: is a folder; name a file"),
        (
            ["transcribe", str(SAMPLE), "--output", str(tmp_path / "missing" / "out.txt")],
            f"its folder {tmp_path / 'missing'} does not exist",
        ),
        (["lm", str(text), "--out", str(a_file / "x.npz")], f"its folder {a_file} is a file"),
        (["lm", str(text), "--out", str(folder), "--force"], "is a folder"),
        (
            ["evaluate", "--manifest", str(MANIFEST), "--report", str(a_file / "r.json")],
            f"its folder {a_file} is a file",
        ),
    ]
    for argv, reason in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert reason in one_line_error(captured.err), argv
        assert "WER" not in captured.out  # refused before evaluating anything
    assert a_file.read_text() == "keep me" and not any(folder.iterdir())


def test_a_path_error_inside_a_command_is_one_line_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What no check foresaw still reaches the user as the path and the OS's reason."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    shutil.copy(MANIFEST, tmp_path / "m.jsonl")
    rows = [json.loads(line) for line in MANIFEST.read_text().splitlines()]
    for row in rows:
        row["audio_filepath"] = str(ROOT / "data" / "samples" / row["audio_filepath"])
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    capsys.readouterr()
    assert main(["pack", str(tmp_path / "m.jsonl"), "--out", str(a_file / "pk")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("asr pack: error: ") and str(a_file) in line
    assert a_file.read_text() == "keep me"


def test_lm_refuses_audio_named_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _refused(["lm", str(SAMPLE), "--out", str(tmp_path / "x.npz")], capsys)
    assert f"{SAMPLE}: a binary file (it holds NUL bytes), not text" in line
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"model": {"rnn_units": 1.5}}, "rnn_units must be int, got 1.5"),
        ({"model": {"rnn_units": "abc"}}, "rnn_units must be int, got 'abc'"),
        ({"model": {"conv_filters": -5}}, "conv_filters must be >= 0"),
        ({"model": {"units": 4}}, "unknown setting 'units'"),
        ({"alphabet": ""}, "the alphabet must be distinct characters, got ''"),
        ({"features": {"sample_rate": 0}}, "sample_rate must be 1000 Hz or more"),
        ({"features": {"deltas": 1}}, "deltas must be bool, got 1"),
    ],
)
def test_bad_settings_in_a_config_file_name_the_file_and_the_setting(
    settings: dict, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps(settings))
    argv = ["train", "--train", str(MANIFEST), "--val", str(MANIFEST), "--out", str(tmp_path / "m")]
    line = _refused([*argv, "--config", str(config)], capsys)
    assert f"{config}: invalid settings ({reason}" in line
    assert not (tmp_path / "m").exists()


def test_a_model_folder_with_a_mistyped_config_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "kw"
    shutil.copytree(KEYWORDS, model)
    config = json.loads((model / "config.json").read_text())
    config["labels"] = "yes"
    (model / "config.json").write_text(json.dumps(config))
    wav = str(ROOT / "data/keywords/yes.wav")
    line = _refused(["classify", "predict", "--model", str(model), wav], capsys)
    assert f"{model / 'config.json'}: invalid config (labels must be a list, got 'yes')" in line


def test_classify_predict_counts_failures_like_transcribe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Some inputs bad: 1, the rest labelled; all bad: 2, and no empty --output left behind
    that a rerun would then need --force for."""
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00not audio")
    good = str(ROOT / "data/keywords/yes.wav")
    out = tmp_path / "labels.tsv"
    predict = ["classify", "predict", "--model", str(KEYWORDS)]
    capsys.readouterr()
    assert main([*predict, str(bad), "--output", str(out)]) == 2
    assert "1 of 1 inputs failed" in capsys.readouterr().err and not out.exists()
    assert main([*predict, str(bad), good, "--output", str(out)]) == 1
    assert "1 of 2 inputs failed" in capsys.readouterr().err
    assert out.read_text().startswith(f"{good}\tyes\t")


def test_damaged_model_and_lm_files_and_a_folder_as_audio_are_named_for_what_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "kw"
    shutil.copytree(KEYWORDS, model)
    (model / "model.onnx").unlink()
    (model / "model.keras").write_bytes(b"not a zip archive")
    wav = str(ROOT / "data/keywords/yes.wav")
    line = _refused(["classify", "predict", "--model", str(model), wav], capsys)
    assert "model.keras: not a .keras archive (damaged or another format)" in line
    notes = tmp_path / "notes.txt"
    notes.write_text("not a language model\n")
    line = _refused(["transcribe", str(SAMPLE), "--decoder", "beam", "--lm", str(notes)], capsys)
    assert f"{notes}: not an asr language model (not an .npz archive)" in line
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(tmp_path), "text": "hello"}) + "\n")
    line = _refused(["evaluate", "--manifest", str(manifest)], capsys)
    assert f"{manifest}:1: " in line and "is a folder" in line


def test_force_replaces_outputs_not_inputs_or_unrelated_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "clip.wav"
    shutil.copy(SAMPLE, clip)
    line = _refused(["transcribe", str(clip), "--output", str(clip), "--force"], capsys)
    assert "is one of the audio inputs" in line and clip.read_bytes() == SAMPLE.read_bytes()
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"\xff\xd8 a picture")
    argv = ["export", "--model", str(KEYWORDS), "--format", "savedmodel", "--out", str(photos)]
    line = _refused([*argv, "--force"], capsys)
    assert f"{photos}: a folder that holds no SavedModel" in line
    assert (photos / "holiday.jpg").read_bytes() == b"\xff\xd8 a picture"
