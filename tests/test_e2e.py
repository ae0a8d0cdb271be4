"""End to end through `asr.cli.main`: synth a corpus, train, transcribe, evaluate, resume,
fine-tune, and train on a second Keras backend.

Everything runs on real audio rendered by espeak-ng (and flite when installed) through sox;
the model is tiny, so the whole module takes about a minute on 2 CPU cores.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from e2e_support import (
    BUCKETED_FLAGS,
    LOSS_DROP,
    ROOT,
    TINY_MODEL,
    Corpus,
    assert_loss_falls,
    history_epochs,
    history_losses,
    one_line_error,
    read_history,
    train_argv,
)

from asr.cli import main
from asr.errors import AsrError
from asr.manifest import read_manifest
from asr.text import normalize_text
from asr.train import COSINE_FLOOR, learning_rate

EPOCHS = 6


@dataclass(frozen=True)
class Trained:
    """A model directory trained once for the module, with what `asr train` returned."""

    out: Path
    rc: int
    stdout: str


@pytest.fixture(scope="module")
def trained(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One tiny model trained for EPOCHS epochs; the tests copy it rather than retrain."""
    out = tmp_path_factory.mktemp("trained") / "model"
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        rc = main(train_argv(corpus, out, EPOCHS))
    return Trained(out, rc, stdout.getvalue())


def test_train_transcribe_evaluate(
    trained: Trained, corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # train
    assert trained.rc == 0
    out = trained.out
    for name in ("model.keras", "config.json", "history.csv"):
        assert (out / name).is_file(), name
    assert f"of {EPOCHS}; model in {out}" in trained.stdout
    assert "best val CER" in trained.stdout
    epochs = history_epochs(out)
    assert epochs == list(range(1, EPOCHS + 1))  # each epoch once, in order
    assert_loss_falls(out)
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == TINY_MODEL
    assert len(config["mean"]) == len(config["std"]) > 0
    assert all(s > 0 for s in config["std"])

    # transcribe: one WAV -> one bare line (a tiny model's text may be anything, even empty)
    utts = read_manifest(corpus.val)
    capsys.readouterr()
    assert main(["transcribe", "--model", str(out), utts[0].audio_filepath]) == 0
    printed = capsys.readouterr().out
    assert printed.endswith("\n") and printed.count("\n") == 1
    assert set(printed.strip()) <= set(config["alphabet"])
    # several WAVs as JSON Lines: one object per file, in order
    wavs = [u.audio_filepath for u in utts[:2]]
    assert main(["transcribe", "--model", str(out), "--format", "jsonl", *wavs]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == wavs
    assert all(isinstance(r["text"], str) and r["duration"] > 0.3 for r in rows)

    # evaluate
    report = tmp_path / "report.json"
    argv = ["evaluate", "--manifest", str(corpus.val), "--model", str(out)]
    assert main([*argv, "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "WER" in printed and "CER" in printed and f"over {len(utts)} utterances" in printed
    assert str(report) in printed
    data = json.loads(report.read_text())
    for key in ("wer", "cer"):
        assert isinstance(data[key], float) and 0.0 <= data[key] <= 10.0, data[key]
    assert data["utterances"] == len(utts) == len(data["per_utterance"])
    assert data["audio_seconds"] > 0
    assert data["model"] == str(out) and data["manifest"] == str(corpus.val)
    per_utt = data["per_utterance"]
    assert sorted(u["audio_filepath"] for u in per_utt) == sorted(u.audio_filepath for u in utts)
    refs = {u.audio_filepath: normalize_text(u.text) for u in utts}
    assert all(u["reference"] == refs[u["audio_filepath"]] for u in per_utt)
    # corpus rates are the per-utterance error counts over the reference sizes
    words = sum(u["words"] for u in per_utt)
    chars = sum(u["chars"] for u in per_utt)
    assert data["wer"] == pytest.approx(sum(u["word_errors"] for u in per_utt) / words)
    assert data["cer"] == pytest.approx(sum(u["char_errors"] for u in per_utt) / chars)


def test_resume_continues(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(train_argv(corpus, run, 2)) == 0
    assert history_epochs(run) == [1, 2]
    first_rows = read_history(run)

    # the same --out without --resume/--force: refused in one line that names --resume
    capsys.readouterr()
    assert main(train_argv(corpus, run, 3)) == 2
    captured = capsys.readouterr()
    line = one_line_error(captured.err)
    assert line.startswith("asr train: error:") and "--resume" in line and "--force" in line
    assert captured.out == ""
    assert read_history(run) == first_rows  # untouched

    # a run that crashed after writing epoch 3's history row but before its resume point
    crashed = tmp_path / "crashed"
    shutil.copytree(run, crashed)
    with (crashed / "history.csv").open("a", newline="") as f:
        csv.writer(f).writerow([3, 999.0, 999.0, 1.0, 1.0, 1.0, 1.0])
    assert history_epochs(crashed) == [1, 2, 3]

    for folder in (run, crashed):
        capsys.readouterr()
        assert main(train_argv(corpus, folder, 3, "--resume")) == 0
        assert "resuming after epoch 2" in capsys.readouterr().err
        rows = read_history(folder)
        assert Counter(int(r["epoch"]) for r in rows) == {1: 1, 2: 1, 3: 1}
        assert history_epochs(folder) == [1, 2, 3]
        assert rows[:2] == first_rows  # earlier epochs kept as they were
        assert float(rows[2]["loss"]) != 999.0  # the crashed run's row was replaced
        # the weights and optimizer came back: epoch 3 goes on from where epoch 2 stopped
        # instead of starting over at a fresh model's loss
        losses = [float(r["loss"]) for r in rows]
        assert losses[2] < LOSS_DROP * losses[0], losses

    # resuming a finished run trains nothing and leaves the history alone
    done = read_history(run)
    capsys.readouterr()
    assert main(train_argv(corpus, run, 3, "--resume")) == 0
    assert "already trained 3 epochs" in capsys.readouterr().err
    assert read_history(run) == done


def test_init_from(
    trained: Trained, corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert trained.rc == 0
    source = tmp_path / "source"
    shutil.copytree(trained.out, source)
    new = tmp_path / "new"
    capsys.readouterr()
    argv = ["--init-from", str(source)]
    assert main(train_argv(corpus, new, 1, *argv)) == 0
    assert f"starting from the weights of {source}" in capsys.readouterr().err
    assert (new / "model.keras").is_file()
    # same features, alphabet, architecture and normalization as the source
    source_config = json.loads((source / "config.json").read_text())
    assert json.loads((new / "config.json").read_text()) == source_config
    assert source_config["mean"]
    assert history_epochs(new) == [1]
    # it starts from trained weights: its first epoch is far below a fresh model's first
    assert history_losses(new)[0] < LOSS_DROP * history_losses(source)[0]
    assert (source / "config.json").read_text() == (trained.out / "config.json").read_text()

    # --init-from with --resume: a one-line usage error, and nothing is written
    other = tmp_path / "other"
    capsys.readouterr()
    assert main(train_argv(corpus, other, 1, *argv, "--resume")) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "--init-from" in line and "--resume" in line
    assert not other.exists()

    # --cmn switches the front end's normalization: same weights shape, statistics refit
    cmn = tmp_path / "cmn"
    assert main(train_argv(corpus, cmn, 1, *argv, "--cmn")) == 0
    cmn_config = json.loads((cmn / "config.json").read_text())
    assert cmn_config["features"]["cmn"] is True
    assert cmn_config["mean"] != source_config["mean"]
    assert abs(cmn_config["mean"][1]) < abs(source_config["mean"][1]) + 1e-6

    # --stretch and --noise-rows: tempo-perturbed batches and noise rows with empty labels
    # train through the same graph
    stretched = tmp_path / "stretched"
    extra = ("--stretch", "0.15", "--noise-rows", "0.3")
    assert main(train_argv(corpus, stretched, 1, *argv, *extra)) == 0
    assert all(np.isfinite(history_losses(stretched)))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(train_argv(corpus, tmp_path / "too_far", 1, *argv, "--stretch", "0.7"))
    assert "expected a fraction from 0 to below 0.5, got '0.7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(train_argv(corpus, tmp_path / "too_noisy", 1, *argv, "--noise-rows", "0.6"))
    assert "expected a share from 0 to 0.5, got '0.6'" in capsys.readouterr().err


def test_second_backend(corpus: Corpus, tmp_path: Path) -> None:
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax not installed: second-backend end-to-end not run")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out = tmp_path / "jax-model"

    def asr(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "asr.cli", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    proc = asr(*train_argv(corpus, out, 3, flags=BUCKETED_FLAGS))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert history_epochs(out) == [1, 2, 3]
    assert_loss_falls(out)
    wav = read_manifest(corpus.val)[0].audio_filepath
    proc = asr("transcribe", "--model", str(out), wav)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.endswith("\n") and proc.stdout.count("\n") == 1

    # a model written under jax loads and runs under this process's backend too
    from asr.transcribe import Transcriber

    assert isinstance(Transcriber.load(out).transcribe(wav), str)


def test_bucketed_batches_of_several_widths(corpus: Corpus, tmp_path: Path) -> None:
    """Regression: with seed 1 the first two batches once shared one padded width, Keras'
    TensorFlow adapter fixed that width, and a later, wider batch crashed model.fit."""
    seed = 1
    out = tmp_path / "bucketed"
    argv = train_argv(corpus, out, 1, "--seed", str(seed), flags=BUCKETED_FLAGS)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    assert history_epochs(out) == [1]


def test_failed_init_from_leaves_out_reusable(
    trained: Trained, corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert trained.rc == 0
    out = tmp_path / "fine-tuned"
    argv = train_argv(corpus, out, 1, "--init-from", str(trained.out))
    missing = [*argv]
    missing[missing.index(str(corpus.train))] = str(tmp_path / "no-such.jsonl")
    assert main(missing) == 2
    assert "no-such.jsonl" in one_line_error(capsys.readouterr().err)
    assert not (out / "config.json").exists()  # the retry below would be refused
    assert main(argv) == 0


def test_resume_refuses_other_settings(
    trained: Trained, corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--arch that disagrees with the run's config.json is an error, not silently ignored."""
    out = tmp_path / "run"
    shutil.copytree(trained.out, out)
    assert main(train_argv(corpus, out, 9, "--resume", "--arch", "bilstm")) == 2
    err = one_line_error(capsys.readouterr().err)
    assert "config.json" in err and "--resume" in err


def test_cosine_schedule_ends_at_its_floor(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--lr-schedule cosine: the rate follows the optimizer's step counter (which the resume
    point keeps) from --learning-rate down to COSINE_FLOOR of it at the last epoch."""
    run = tmp_path / "run"
    assert main(train_argv(corpus, run, 3, "--lr-schedule", "cosine")) == 0
    assert "learning rate: cosine from 0.01 to 0.0005 at epoch 3" in capsys.readouterr().err
    assert history_epochs(run) == [1, 2, 3]
    assert all(np.isfinite(history_losses(run)))
    folder = run / "resume" / (run / "resume" / "latest").read_text().strip()
    with np.load(folder / "optimizer.npz") as saved:
        steps = int(saved["arr_0"])  # 3 epochs of batches
    assert steps >= 3 and steps % 3 == 0
    schedule = learning_rate(1e-2, "cosine", steps)
    assert float(schedule(0)) == pytest.approx(1e-2)
    a_third = COSINE_FLOOR + (1 - COSINE_FLOOR) * (1 + 0.5) / 2  # cos(pi/3) = 0.5
    assert float(schedule(steps // 3)) == pytest.approx(1e-2 * a_third)
    assert float(schedule(steps)) == pytest.approx(1e-2 * COSINE_FLOOR)


def test_learning_rate_choices() -> None:
    assert learning_rate(3e-4, "constant", 100) == 3e-4
    with pytest.raises(AsrError, match="unknown learning-rate schedule 'step'"):
        learning_rate(3e-4, "step", 100)
