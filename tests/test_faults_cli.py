"""Bad input and faults, end to end: every broken input is one line naming it, never a traceback.

The real ``asr transcribe`` process over every bad WAV of tests/test_audio.py's BAD_CASES;
unusual but valid WAVs made from real espeak-ng speech; ``asr evaluate`` on manifests with a
bad line; regressions for the bugs fuzzing found; and tools/fuzz.py's generators under
hypothesis: FUZZ_EXAMPLES (200) cases per target, 600 in all (the tool itself runs 3000 per
target by default).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import jiwer
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from asr.audio import WavStream, audio_duration, load_audio
from asr.cli import main
from asr.decoding import beam_search, greedy_decode_batch, log_softmax, split_at_blanks
from asr.errors import AudioError, ManifestError
from asr.manifest import read_manifest
from asr.text import normalize_text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "006075.wav"  # shipped speech: "let's have a look down here"
CLI_TIMEOUT = 180  # seconds; a hang fails the test instead of stalling the suite
FUZZ_EXAMPLES = 200  # hypothesis cases per fuzz target, half seeded, half hypothesis's Random


def _load(name: str, path: Path) -> ModuleType:
    """Import a file that is not in a package (tools/, a sibling test) once, by path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


fuzz = _load("asr_tools_fuzz", ROOT / "tools" / "fuzz.py")
BAD_CASES = _load("test_audio", ROOT / "tests" / "test_audio.py").BAD_CASES


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m asr.cli ARGS`` in a fresh process, as a user would run it."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "asr.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=CLI_TIMEOUT,
    )


def _bad_files(folder: Path) -> list[Path]:
    """One file (or missing path, or directory) per BAD_CASES entry."""
    folder.mkdir()
    return [make(folder) for make, _, _ in BAD_CASES.values()]


def _check_skipped(stderr: str, bad: list[Path], total: int) -> None:
    """Exactly one 'skipped' line per bad input, the summary last, nothing else."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    for path in bad:
        mine = [line for line in lines if line.startswith(f"asr transcribe: skipped {path}: ")]
        assert len(mine) == 1, f"{path}: {mine or lines}"
        assert "; " in mine[0]  # the fix
    assert len(lines) == len(bad) + 1, lines
    assert lines[-1] == f"asr transcribe: {len(bad)} of {total} inputs failed"


def test_transcribe_skips_each_bad_file_in_one_line_and_transcribes_the_good_one(
    tmp_path: Path,
) -> None:
    bad = _bad_files(tmp_path / "bad")
    good = tmp_path / "good.wav"
    shutil.copy(SAMPLE, good)
    done = _run_cli("transcribe", *map(str, bad[:5]), str(good), *map(str, bad[5:]))
    assert done.returncode == 1, done.stderr
    _check_skipped(done.stderr, bad, len(bad) + 1)
    assert "Traceback" not in done.stdout
    [line] = done.stdout.splitlines()
    path, text = line.split("\t")
    assert path == str(good) and text.strip()


def test_transcribe_with_only_bad_files_exits_2(tmp_path: Path) -> None:
    bad = _bad_files(tmp_path / "bad")
    done = _run_cli("transcribe", *map(str, bad))
    assert done.returncode == 2, done.stderr
    _check_skipped(done.stderr, bad, len(bad))
    assert done.stdout == ""


# ---- unusual but valid WAVs

SENTENCE = "please call stella and ask her to bring these things"
# name -> sox output options; made from the 16 kHz 16-bit original without dither, so the
# 24-bit, float and stereo files hold exactly the same samples and must give the same text
VARIANTS = {
    "8k": ["-r", "8000", "-b", "16", "-c", "1"],
    "24bit": ["-r", "16000", "-b", "24", "-c", "1"],
    "float32": ["-r", "16000", "-e", "floating-point", "-b", "32", "-c", "1"],
    "stereo": ["-r", "16000", "-b", "16", "-c", "2"],
    "48k": ["-r", "48000", "-b", "16", "-c", "1"],
}
EXACT = {"24bit", "float32", "stereo"}


def _fmt(path: Path) -> tuple[int, int, int]:
    """(channels, sample rate, bits) from a canonical 'fmt ' chunk."""
    channels, rate = struct.unpack_from("<HI", path.read_bytes(), 22)
    bits = struct.unpack_from("<H", path.read_bytes(), 34)[0]
    return channels, rate, bits


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox make the speech (apt-get install espeak-ng sox)",
)
def test_unusual_valid_wavs_transcribe_like_the_16k_original(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spoken = tmp_path / "espeak.wav"  # espeak-ng writes 22050 Hz 16-bit mono
    subprocess.run(["espeak-ng", "-w", str(spoken), SENTENCE], check=True, capture_output=True)
    original = tmp_path / "original.wav"
    sox = ["sox", "-D"]  # -D: no dither, so the variants are exact copies where they can be
    subprocess.run(
        [*sox, spoken, "-r", "16000", "-b", "16", "-c", "1", original],
        check=True,
        capture_output=True,
    )
    files = {"original": original}
    for name, options in VARIANTS.items():
        files[name] = tmp_path / f"{name}.wav"
        subprocess.run([*sox, original, *options, files[name]], check=True, capture_output=True)
    assert _fmt(files["stereo"])[0] == 2 and _fmt(files["8k"])[1] == 8000
    assert _fmt(files["24bit"])[2] == 24 and _fmt(files["float32"])[2] == 32

    # greedy: the acoustic model's reading of each file, which no LM smooths or magnifies
    argv = ["transcribe", *map(str, files.values()), "--format", "jsonl", "--decoder", "greedy"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    texts = {Path(r["path"]).stem: r["text"] for r in map(json.loads, captured.out.splitlines())}
    reference = texts.pop("original")
    assert jiwer.cer(normalize_text(SENTENCE), reference) < 0.3, reference  # it heard speech
    for name, text in texts.items():
        if name in EXACT:
            assert text == reference, name
        else:  # resampled: the same words, give or take a letter
            assert jiwer.cer(reference, text) < 0.25, (name, text, reference)


# ---- asr evaluate on a manifest with a bad line


def _bad_audio(folder: Path) -> str:
    (folder / "junk.wav").write_bytes(b"this is not audio")
    return "junk.wav"


BAD_LINES = {
    "malformed-json": (lambda folder: '{"audio_filepath": "x.wav", "text": "hi"', "JSON"),
    "missing-audio": (
        lambda folder: json.dumps({"audio_filepath": "gone.wav", "text": "hello"}),
        "gone.wav",
    ),
    "bad-audio": (
        lambda folder: json.dumps({"audio_filepath": _bad_audio(folder), "text": "hello"}),
        "not an audio file",
    ),
}


@pytest.mark.parametrize("case", BAD_LINES)
def test_evaluate_names_the_manifest_line_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    make, words = BAD_LINES[case]
    manifest = tmp_path / "m.jsonl"
    good = json.dumps({"audio_filepath": str(SAMPLE), "text": "let's have a look down here"})
    manifest.write_text(good + "\n" + make(tmp_path) + "\n", encoding="utf-8")
    assert main(["evaluate", "--manifest", str(manifest)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    [line] = captured.err.splitlines()
    assert line.startswith(f"asr evaluate: error: {manifest}:2: ") and words in line, line


# ---- regressions for the bugs fuzzing (and probing around it) found


@pytest.mark.parametrize("rate", [16000, 8000])
def test_wavstream_scales_float_wavs_by_the_files_peak_like_load_audio(
    tmp_path: Path, rate: int
) -> None:
    """Each block was scaled by its own peak and then again by the file's: a float WAV past
    full scale (peak 2) came out at half load_audio's level in long-file transcription."""
    path = tmp_path / "loud.wav"
    wavfile.write(path, 16000, (2.0 * np.sin(np.arange(48000) / 10)).astype(np.float32))
    stream = WavStream(path, rate)
    whole = stream.read(0, stream.num_samples)
    np.testing.assert_allclose(whole, load_audio(path, rate), atol=1e-5)
    assert np.abs(whole).max() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(stream.read(5000, 9000), whole[5000:9000], atol=1e-3)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_wavstream_path_problems_are_one_line_audio_errors(tmp_path: Path, kind: str) -> None:
    """They were FileNotFoundError/IsADirectoryError tracebacks."""
    path = tmp_path / "x.wav"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(AudioError, match=f"^{re.escape(str(path))}: [^\n]*; "):
        WavStream(path, 16000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
def test_audio_duration_refuses_a_named_pipe_instead_of_hanging(tmp_path: Path) -> None:
    """It opened the pipe (blocking forever with no writer, so `asr transcribe pipe.wav` hung)
    and called a process substitution, <(sox ...), an empty file."""
    pipe = tmp_path / "pipe.wav"
    os.mkfifo(pipe)
    with fuzz.time_limit(10.0), pytest.raises(AudioError, match="not a regular file"):
        audio_duration(pipe)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: greedy_decode_batch(np.zeros((2, 3, 4)), [3, -1]), "lengths must be >= 0"),
        (lambda: greedy_decode_batch(np.zeros((2, 3, 0))), "(2, 3, 0)"),
        (lambda: split_at_blanks(np.zeros((5, 4)), 0), "max_frames must be >= 1, got 0"),
        (lambda: log_softmax(np.zeros((3, 0))), "(3, 0)"),
        (lambda: beam_search([np.zeros(4)], 4), "(4,)"),
        (lambda: beam_search([np.zeros((2, 0))], 4), "(2, 0)"),
        (lambda: beam_search([np.zeros((2, 4)), np.zeros((2, 5))], 4), "(2, 4), (2, 5)"),
    ],
    ids=[
        "negative-length",
        "no-classes",
        "max-frames-0",
        "softmax-no-classes",
        "beam-1d",
        "beam-no-classes",
        "beam-mixed-classes",
    ],
)
def test_decoders_refuse_bad_shapes_with_a_value_error_naming_them(call, words: str) -> None:
    """Negative lengths decoded the wrong frames silently; the rest were NumPy/TensorFlow
    errors that named nothing (or, from TensorFlow, were not even ValueErrors)."""
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value) and "\n" not in str(info.value)


def test_manifest_named_with_a_newline_still_gives_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "new\nline.jsonl"
    path.write_text('{"audio_filepath": "a.wav"\n', encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert "\n" not in str(info.value)


def test_transcribe_output_in_a_missing_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once a FileNotFoundError escaped main() (a traceback, after all the transcribing)."""
    out = tmp_path / "no" / "such" / "folder.txt"
    status = main(["transcribe", str(SAMPLE), "--output", str(out)])
    err = capsys.readouterr().err
    written = status == 0 and out.is_file()  # creating the folder is a fix too
    assert written or (status == 2 and len(err.splitlines()) == 1 and str(out) in err), err


# ---- the fuzzer's generators, driven by hypothesis


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for all examples (hypothesis reuses the fixture across them)."""
    fuzz.import_keras_quietly()  # beam_search's import, outside the examples and their timer
    return tmp_path_factory.mktemp("fuzz")


# Two sources of randomness per target: a seed gives the tool's own distribution (most WAVs
# well formed, and a failure replays with tools/fuzz.py --replay SEED); hypothesis's Random
# leans on edge values, so every "rarely" branch fires often, and it shrinks what fails.
SOURCES = {
    "seed": st.integers(0, 2**32 - 1),
    "hypothesis": st.randoms(use_true_random=False),
}


@pytest.mark.parametrize("target", list(fuzz.TARGETS))
@pytest.mark.parametrize("kind", list(SOURCES))
@settings(
    max_examples=FUZZ_EXAMPLES // len(SOURCES),
    deadline=None,
    # the same examples every run: CI must not fail by chance; tools/fuzz.py explores
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_fuzz_target_gives_a_result_or_a_clean_error(
    fuzz_dir: Path, target: str, kind: str, data: st.DataObject
) -> None:
    """Valid output, or the project's error in one line naming the input; no hang (30 s)."""
    source = data.draw(SOURCES[kind], label="source")
    rng = random.Random(source) if isinstance(source, int) else source
    if target == "manifest":
        case = fuzz.generate_manifest(rng)
    else:
        case = fuzz.make_case(target, rng)
    outcome = fuzz.run_case(target, case, fuzz_dir, timeout=30.0)
    replay = f"python tools/fuzz.py --target {target} --replay {source}"
    how = f"{case.describe()}\n{outcome.detail}" + (f"\n{replay}" if kind == "seed" else "")
    assert outcome.kind in ("valid", "rejected"), how


def test_expected_retracing_warning_is_dropped() -> None:
    """Bucketed batch widths retrace by design; TensorFlow's warning about it is dropped,
    its other warnings are not."""
    import logging

    from asr.cli import _quiet_backends

    _quiet_backends()
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        logger.warning("5 of the last 14 calls to <function f> triggered tf.function retracing.")
        logger.warning("something else")
    finally:
        logger.removeHandler(handler)
    assert seen == ["something else"]
