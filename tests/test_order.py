"""Results keep their inputs' order: long files (transcribed at once, window by window) and
short ones (held until a batch fills) mixed in several orders, with a bad file among them.

The bug this pins: ``evaluate`` paired references with results by position while
``transcribe_files`` returned long files first, so a manifest with one long clip scored
every utterance against another's reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from asr.audio import load_audio
from asr.errors import AsrError, AudioError
from asr.evaluate import evaluate
from asr.manifest import read_manifest
from asr.text import normalize_text
from asr.transcribe import CONTEXT_SECONDS, WINDOW_SECONDS, Transcriber

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber.load()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """name -> (audio, reference): the four samples and one long file made of all of them."""
    folder = tmp_path_factory.mktemp("order")
    utts = read_manifest(SAMPLES / "manifest.jsonl")
    out = {Path(u.audio_filepath).stem: (Path(u.audio_filepath), u.text) for u in utts}
    gap = np.zeros(8000, np.float32)
    unit = np.concatenate([np.concatenate([load_audio(u.audio_filepath), gap]) for u in utts])
    reps = 3  # 3 x 17.3 s: past the 40 s at which a file is windowed
    long = np.tile(unit, reps)
    assert len(long) / 16000 > WINDOW_SECONDS + 2 * CONTEXT_SECONDS
    path = folder / "long.wav"
    wavfile.write(path, 16000, (long * 32767).astype(np.int16))
    out["long"] = (path, " ".join([u.text for u in utts] * reps))
    return out


@pytest.fixture(scope="module")
def alone(transcriber: Transcriber, clips: dict[str, tuple[Path, str]]) -> dict[str, str]:
    """Each clip transcribed on its own: what it must get whatever its neighbours."""
    return {k: transcriber.transcribe_files([p])[0].text for k, (p, _) in clips.items()}


ORDERS = [
    ("long", "005943", "006075", "006070", "006114"),
    ("005943", "006075", "long", "006070", "006114"),
    ("006114", "006070", "006075", "005943", "long"),
]


@pytest.mark.parametrize("order", ORDERS)
def test_transcribe_files_returns_inputs_in_order(
    transcriber: Transcriber,
    clips: dict[str, tuple[Path, str]],
    alone: dict[str, str],
    order: tuple[str, ...],
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    paths = [clips[k][0] for k in order]
    paths.insert(2, bad)  # a bad file is reported and skipped; the others keep their order
    errors: list[AudioError] = []
    # batch_seconds=4: short files flush in several batches, around the long one
    results = transcriber.transcribe_files(paths, on_error=errors.append, batch_seconds=4)
    assert len(errors) == 1 and str(bad) in str(errors[0])
    assert [r.path for r in results] == [str(p) for p in paths if p != bad]
    assert [r.text for r in results] == [alone[k] for k in order]


@pytest.mark.parametrize("order", ORDERS)
def test_evaluate_pairs_each_reference_with_its_own_hypothesis(
    clips: dict[str, tuple[Path, str]], alone: dict[str, str], order: tuple[str, ...], tmp_path
) -> None:
    manifest = tmp_path / "m.jsonl"
    lines = [{"audio_filepath": str(clips[k][0]), "text": clips[k][1]} for k in order]
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    report = evaluate(manifest)
    by_path = {str(p): k for k, (p, _) in clips.items()}
    assert len(report.per_utterance) == len(order)
    for row in report.per_utterance:
        key = by_path[row.audio_filepath]
        assert row.reference == normalize_text(clips[key][1])
        assert row.hypothesis == normalize_text(alone[key])
    # the shipped model is far from perfect, but mispaired rows would score ~100 % WER
    assert report.wer < 0.6, report.wer


def test_evaluate_names_the_bad_line_and_scores_the_rest(
    clips: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF")
    manifest = tmp_path / "m.jsonl"
    rows = [(clips["long"][0], clips["long"][1]), (bad, "x"), (clips["006075"][0], "look")]
    manifest.write_text(
        "".join(json.dumps({"audio_filepath": str(p), "text": t}) + "\n" for p, t in rows),
        encoding="utf-8",
    )
    with pytest.raises(AsrError, match=rf"{manifest}:2: "):
        evaluate(manifest)
    report = evaluate(manifest, skip_invalid=True)
    assert [s.split(": ")[0] for s in report.skipped] == [f"{manifest}:2"]
    scored = {row.audio_filepath: row.reference for row in report.per_utterance}
    assert scored == {
        str(clips["long"][0]): normalize_text(clips["long"][1]),
        str(rows[2][0]): "look",
    }
