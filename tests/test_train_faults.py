"""Training under faults: kill -9 at any moment, NaN losses, bad and unfit manifest lines.

Real processes and real synthesized speech (the session's ``corpus`` fixture); the model is
tiny, so an epoch takes about a second on 2 CPU cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import wave
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from e2e_support import (
    ROOT,
    Corpus,
    history_epochs,
    one_line_error,
    read_history,
    train_argv,
)

import asr.train
from asr.cli import main
from asr.data import CTCBatches, SpecAugment
from asr.manifest import read_manifest

KILL_EPOCHS = 7
WAIT_SECONDS = 240  # a generous bound for TensorFlow start-up and one epoch on a busy CI box


def _asr(*argv: str) -> list[str]:
    return [sys.executable, "-m", "asr.cli", *argv]


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def _latest_epoch(out: Path) -> int:
    pointer = out / "resume" / "latest"
    try:  # epoch-0002, or epoch-0002-batch-000005 inside epoch 3
        return int(pointer.read_text().strip().split("-")[1])
    except (OSError, ValueError, IndexError):
        return 0


def _rows(out: Path) -> int:
    try:
        return len(read_history(out))
    except (OSError, ValueError):
        return 0


def _kill_when(argv: list[str], ready: Callable[[], bool], log: Path) -> None:
    """Start ``asr train``, SIGKILL it the moment ``ready()`` holds (polled every 2 ms)."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=sink, stderr=sink)
        deadline = time.monotonic() + WAIT_SECONDS
        try:
            while not ready():
                assert proc.poll() is None, f"asr train ended early: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "asr train made no progress"
                time.sleep(0.002)
        finally:
            proc.kill()
            proc.wait()


def _assert_intact(out: Path) -> None:
    """What a kill may leave: whole files only, and a history with one row per epoch."""
    config = json.loads((out / "config.json").read_text())
    assert config["mean"]
    if (out / "model.keras").exists():
        with zipfile.ZipFile(out / "model.keras") as z:
            assert z.testzip() is None
    rows = read_history(out) if (out / "history.csv").exists() else []
    assert all(r["epoch"].isdigit() for r in rows[:-1])  # only the last row may be half written


def _optimizer_steps(out: Path) -> int:
    """The optimizer's iteration counter in the latest resume point."""
    folder = out / "resume" / (out / "resume" / "latest").read_text().strip()
    with np.load(folder / "optimizer.npz") as saved:
        return int(saved["arr_0"])


def test_kill_9_at_any_moment_then_resume(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "run"
    log = tmp_path / "train.log"
    argv = _asr(*train_argv(corpus, out, KILL_EPOCHS))

    # 1: killed in the middle of epoch 3, after epoch 2's resume point was written
    _kill_when(argv, lambda: _latest_epoch(out) >= 2, log)
    _assert_intact(out)
    # 2: killed the instant a history row appears: after the model was saved, before (or
    # while) the resume point is written; --resume must drop that epoch's orphan row
    before = _rows(out)
    _kill_when([*argv, "--resume"], lambda: _rows(out) > before, log)
    _assert_intact(out)
    resumed_from = _latest_epoch(out)
    assert resumed_from >= 2

    proc = subprocess.run(
        [*argv, "--resume"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )
    assert proc.returncode == 0, log.read_text()[-2000:] + proc.stderr[-2000:]
    assert f"resuming after epoch {resumed_from}" in proc.stderr
    assert "Traceback" not in proc.stderr + log.read_text()
    assert history_epochs(out) == list(range(1, KILL_EPOCHS + 1))
    # one batch per epoch: the optimizer counted every step across three processes, so its
    # state (moments included) came back each time rather than starting over
    assert _optimizer_steps(out) == KILL_EPOCHS
    assert not list(out.glob(".model.*")) and not list((out / "resume").glob(".epoch-*"))
    from asr.transcribe import Transcriber

    wav = read_manifest(corpus.val)[0].audio_filepath
    assert isinstance(Transcriber.load(out).transcribe(wav), str)


def test_a_run_stopped_in_its_first_epoch_resumes_from_its_starting_weights(
    corpus: Corpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A fine-tune (--init-from) that dies in its first epoch: --resume must start again from
    the weights it was given (epoch 0's resume point), not from new random ones."""
    from asr.config import load_config
    from asr.model import build_inference_model, build_training_model
    from asr.modelio import load_inference_model

    base = tmp_path / "base"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(train_argv(corpus, base, 1)) == 0

    class PowerCut(SpecAugment):
        def __call__(self, x: np.ndarray, frames: np.ndarray, rng: np.random.Generator) -> None:
            raise RuntimeError("power cut")

    out = tmp_path / "tuned"
    monkeypatch.setattr(asr.train, "SpecAugment", PowerCut)
    with pytest.raises(RuntimeError, match="power cut"), contextlib.redirect_stdout(io.StringIO()):
        main(train_argv(corpus, out, 2, "--init-from", str(base)))
    assert (out / "resume" / "latest").read_text().strip() == "epoch-0000"
    config = load_config(out)
    inference = build_inference_model(config)
    build_training_model(inference).load_weights(out / "resume/epoch-0000/training.weights.h5")
    given = load_inference_model(base, config).get_weights()
    for saved, start in zip(inference.get_weights(), given, strict=True):
        np.testing.assert_array_equal(saved, start)

    monkeypatch.undo()
    capsys.readouterr()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(train_argv(corpus, out, 2, "--resume")) == 0
    assert "resuming at epoch 1, from the weights the run started with" in capsys.readouterr().err
    assert history_epochs(out) == [1, 2]


def test_crashes_inside_an_epoch_resume_after_the_last_batch_saved(
    corpus: Corpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--save-every writes resume points between batches. Twice a crash cuts epoch 2 (the
    second time in its resumed, reordered rest); each --resume trains only the batches not
    yet trained: by the optimizer's step count, every batch of every epoch exactly once."""
    out = tmp_path / "run"
    flags = ("--batch-size", "4", "--learning-rate", "3e-3", "--jobs", "1")
    argv = train_argv(corpus, out, 2, "--save-every", "1e-6", flags=flags)
    real_getitem = CTCBatches.__getitem__

    def power_cut(self: CTCBatches, index: int) -> dict[str, np.ndarray]:
        if self.shuffle and self.epoch == 1 and index == 2:
            raise RuntimeError("power cut")
        return real_getitem(self, index)

    monkeypatch.setattr(CTCBatches, "__getitem__", power_cut)
    done = 0
    for _ in range(2):
        capsys.readouterr()
        with pytest.raises(Exception, match="power cut"), contextlib.redirect_stdout(io.StringIO()):
            main([*argv, "--resume"] if done else argv)
        if done:
            assert f"resuming in epoch 2, after {done} of its 6 batches" in capsys.readouterr().err
        latest = (out / "resume" / "latest").read_text().strip()
        saved = int(re.fullmatch(r"epoch-0001-batch-(\d{6})", latest)[1])
        assert done + 1 <= saved <= done + 2  # Keras may read a batch ahead of the one it trains
        assert sorted(p.name for p in (out / "resume").iterdir()) == [latest, "latest"]
        done = saved
    assert history_epochs(out) == [1]

    monkeypatch.undo()
    capsys.readouterr()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"resuming in epoch 2, after {done} of its 6 batches" in err, err
    assert history_epochs(out) == [1, 2]
    assert _optimizer_steps(out) == 2 * 6
    assert (out / "resume" / "latest").read_text().strip() == "epoch-0002"


def test_sigterm_saves_a_resume_point_then_stops(
    corpus: Corpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A SIGTERM (or Ctrl-C) in the middle of epoch 2 costs nothing: a resume point is
    written after the batch in flight, the exit status is 143, and --resume carries on."""
    out = tmp_path / "run"
    flags = ("--batch-size", "4", "--learning-rate", "3e-3", "--jobs", "1")
    argv = train_argv(corpus, out, 2, flags=flags)
    real_getitem = CTCBatches.__getitem__
    sent = []

    def terminate(self: CTCBatches, index: int) -> dict[str, np.ndarray]:
        if self.shuffle and self.epoch == 1 and index == 1 and not sent:
            sent.append(index)
            os.kill(os.getpid(), signal.SIGTERM)
        return real_getitem(self, index)

    monkeypatch.setattr(CTCBatches, "__getitem__", terminate)
    capsys.readouterr()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    latest = (out / "resume" / "latest").read_text().strip()
    done = int(re.fullmatch(r"epoch-0001-batch-(\d{6})", latest)[1])
    assert "SIGTERM: saving a resume point after this batch" in err, err
    assert f"holds resume point {latest}: continue with --resume" in err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone again

    monkeypatch.undo()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--resume"]) == 0
    assert f"resuming in epoch 2, after {done} of its 6 batches" in capsys.readouterr().err
    assert history_epochs(out) == [1, 2]
    assert _optimizer_steps(out) == 2 * 6


def test_stale_temp_files_of_a_killed_save_are_removed(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(train_argv(corpus, out, 1)) == 0
    (out / ".model.abc123.keras").write_bytes(b"PK\x03\x04half")
    (out / ".config.json.xyz.tmp").write_text("{")
    (out / "resume" / ".epoch-q1w2").mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(train_argv(corpus, out, 2, "--resume")) == 0
    assert history_epochs(out) == [1, 2]
    assert not list(out.glob(".*")) and not list((out / "resume").glob(".epoch-*"))


def test_nan_loss_stops_before_anything_is_saved(
    corpus: Corpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After two epochs a training batch carries a NaN: training stops in that epoch, the
    saved model and resume point stay those of the epoch before, and --resume carries on."""
    out = tmp_path / "run"
    finished = [0]
    real_epoch_end = CTCBatches.on_epoch_end

    def counting_epoch_end(self: CTCBatches) -> None:
        if self.shuffle:  # the training batches (validation is not shuffled)
            finished[0] += 1
        real_epoch_end(self)

    class Poisoned(SpecAugment):
        def __call__(self, x: np.ndarray, frames: np.ndarray, rng: np.random.Generator) -> None:
            super().__call__(x, frames, rng)
            if finished[0] >= 2:
                x[0, 0, 0] = np.nan

    monkeypatch.setattr(CTCBatches, "on_epoch_end", counting_epoch_end)
    monkeypatch.setattr(asr.train, "SpecAugment", Poisoned)
    capsys.readouterr()
    assert main(train_argv(corpus, out, 5)) == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("asr train: error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    err = errors[0]
    # Keras may fetch a batch ahead, so the poisoned one lands in epoch 2 or 3
    bad = int(re.search(r"training loss became nan at epoch (\d+), batch 1;", err)[1])
    assert bad >= 2
    assert re.search(rf"the best model, of epoch \d, and resume point epoch-{bad - 1:04d}\)", err)
    assert "--learning-rate" in err and "--resume" in err
    assert history_epochs(out) == list(range(1, bad))
    assert _latest_epoch(out) == bad - 1
    with zipfile.ZipFile(out / "model.keras") as z:
        assert z.testzip() is None

    monkeypatch.setattr(asr.train, "SpecAugment", SpecAugment)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(train_argv(corpus, out, 4, "--resume")) == 0
    assert history_epochs(out) == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss"])) for r in read_history(out))


def _bad_manifest(corpus: Corpus, folder: Path) -> tuple[Path, int]:
    """The training manifest plus four bad lines; returns it and its count of good lines."""
    good = (corpus.train).read_text(encoding="utf-8").splitlines()
    base = corpus.train.parent
    short = folder / "short.wav"
    with wave.open(str(short), "wb") as w:  # 0.3 s of real speech cannot carry 200 letters
        first = read_manifest(corpus.train)[0].audio_filepath
        with wave.open(first, "rb") as r:
            w.setparams(r.getparams())
            w.writeframes(r.readframes(int(0.3 * r.getframerate())))
    broken = folder / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    lines = [
        *good[:3],
        '{"audio_filepath": "wavs/x.wav", "text": ',  # line 4: malformed JSON
        json.dumps({"audio_filepath": str(base / "gone.wav"), "text": "hello"}),  # 5
        json.dumps({"audio_filepath": str(broken), "text": "hello"}),  # 6: truncated WAV
        json.dumps({"audio_filepath": str(short), "text": "a very long story " * 12}),  # 7
        *good[3:],
    ]
    path = base / "with-bad-lines.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(good)


def test_bad_lines_stop_training_naming_the_line_or_are_skipped(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, good = _bad_manifest(corpus, tmp_path)
    out = tmp_path / "run"
    argv = train_argv(corpus, out, 1)
    argv[argv.index(str(corpus.train))] = str(manifest)

    capsys.readouterr()
    assert main(argv) == 2
    err = one_line_error(capsys.readouterr().err)
    assert f"{manifest}:4: malformed JSON" in err and "asr train: error:" in err
    assert not (out / "config.json").exists()  # nothing half-made: the retry is not refused

    # each later problem is found, named by its line, before any training
    lines = manifest.read_text(encoding="utf-8").splitlines()
    later = ((5, "not found"), (6, "truncated"), (7, "characters is too long for 0."))
    for number, part in later:
        del lines[3]  # drop the line that failed last time; the next bad one is now line 4
        manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert main(argv) == 2
        err = one_line_error(capsys.readouterr().err)
        assert f"{manifest}:4: " in err and part in err, (number, err)
        assert "--skip-invalid" in err or number == 5
        assert not (out / "config.json").exists()

    manifest, good = _bad_manifest(corpus, tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--skip-invalid"]) == 0
    err = capsys.readouterr().err
    assert (
        f"{manifest}: skipped 4 of {good + 4} utterances (2 bad manifest lines, "
        "1 unreadable audio files, 1 transcripts too long for their audio)" in err
    )
    listed = (out / "skipped.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split(": ", 1)[0] for line in listed] == [f"{manifest}:{n}" for n in (4, 5, 6, 7)]
    assert history_epochs(out) == [1]


def test_several_train_manifests_train_as_one_corpus(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--train A B: both are read, bad lines are named by their own file, counts cover both."""
    manifest, good = _bad_manifest(corpus, tmp_path)
    out = tmp_path / "run"
    argv = train_argv(corpus, out, 1, "--skip-invalid")
    at = argv.index(str(corpus.train))
    argv[at : at + 1] = [str(corpus.train), str(manifest)]

    capsys.readouterr()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"{corpus.train}, {manifest}: skipped 4 of {2 * good + 4} utterances" in err
    assert f"training on {2 * good} utterances" in err
    listed = (out / "skipped.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split(": ", 1)[0] for line in listed] == [f"{manifest}:{n}" for n in (4, 5, 6, 7)]
    assert history_epochs(out) == [1]


def test_evaluate_skip_invalid_scores_the_rest(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, good = _bad_manifest(corpus, tmp_path)
    capsys.readouterr()
    assert main(["evaluate", "--manifest", str(manifest)]) == 2
    assert f"{manifest}:4: malformed JSON" in one_line_error(capsys.readouterr().err)
    report = tmp_path / "r.json"
    argv = ["evaluate", "--manifest", str(manifest), "--skip-invalid", "--report", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"over {good + 1} utterances" in out  # the too-long line is still scored
    assert f"skipped 3 of {good + 4} utterances (not scored), first: {manifest}:4:" in out
    data = json.loads(report.read_text())
    assert [s.split(": ", 1)[0] for s in data["skipped"]] == [f"{manifest}:{n}" for n in (4, 5, 6)]
    assert "3 utterances skipped" in report.with_suffix(".html").read_text()


def test_refuses_a_non_empty_out_it_did_not_make(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    capture = io.StringIO()
    with contextlib.redirect_stderr(capture):
        assert main(train_argv(corpus, out, 1)) == 2
    assert "not empty" in capture.getvalue() and "--force" in capture.getvalue()
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    shutil.rmtree(out)
