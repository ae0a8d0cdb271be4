"""Classifier directories export and run as CTC ones do: `asr export` writes ONNX (and
SavedModel) for each input kind, the export gives Keras's labels and probabilities, and
`asr classify predict|evaluate|detect` run model.onnx under onnxruntime without TensorFlow.

Input kinds: cnn takes only ``features`` of a fixed frame count; lstm takes ``features``
and ``input_length`` at any length; a per-frame lstm/crnn emits (B, T, C).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from classify_support import join_clips, keyword_corpus_or_skip
from e2e_support import one_line_error, run_cli

from asr.classify import Classifier
from asr.classify_train import ClassifyTrainOptions, train_classifier
from asr.cli import _needs_keras, build_parser
from asr.config import ClassifierModelConfig
from asr.errors import ConfigError
from asr.export import LabelAgreement, check_export, export_model
from asr.features import FeatureConfig

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx (pip install 'asr[export]')")
ort = pytest.importorskip("onnxruntime", reason="checking an export needs onnxruntime")

TINY = {"units": 16, "filters": 8, "conv_layers": 2, "dropout": 0.0}
KINDS = {
    "cnn": {"arch": "cnn"},  # features only, 99 frames: (B, C)
    "matchbox": {"arch": "matchbox"},  # separable and dilated convs
    "lstm": {"arch": "lstm", "frames": 0},  # features + input_length, any length: (B, C)
    "lstm_per_frame": {"arch": "lstm", "frames": 100, "per_frame": True},  # (B, T, C)
    "crnn_per_frame": {"arch": "crnn", "frames": 100, "per_frame": True},  # slow to convert
}
MAX_PROB_DIFF = 1e-4


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return keyword_corpus_or_skip(tmp_path_factory)


def _train(kw, out: Path, epochs: int = 2, force: bool = False, **model) -> Path:
    options = ClassifyTrainOptions(
        train=kw["train"],
        val=kw["val"],
        out=out,
        model=ClassifierModelConfig(**{**TINY, **model}),
        features=FeatureConfig(),
        epochs=epochs,
        batch_size=8,
        learning_rate=3e-3,
        jobs=1,
        progress=False,
        force=force,
    )
    train_classifier(options)
    return out


@pytest.fixture(scope="module")
def exported(kw, tmp_path_factory: pytest.TempPathFactory):
    """kind -> a trained model directory holding model.keras and its model.onnx (each made
    once, on first use)."""
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            folder = _train(kw, tmp_path_factory.mktemp(kind) / "m", **KINDS[kind])
            assert export_model(folder, "onnx") == folder / "model.onnx"
            made[kind] = folder
        return made[kind]

    return get


def _clips(kw, split: str = "val") -> list[str]:
    return sorted(str(p) for p in (kw["root"] / split).glob("*.wav"))


@pytest.mark.parametrize(
    "kind",
    [
        "cnn",
        "matchbox",
        "lstm",
        "lstm_per_frame",
        pytest.param("crnn_per_frame", marks=pytest.mark.slow),
    ],
)
def test_export_agrees_with_keras(kw, exported, kind: str) -> None:
    folder = exported(kind)
    spec = ClassifierModelConfig(**{**TINY, **KINDS[kind]})
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert set(inputs) == ({"features", "input_length"} if spec.recurrent else {"features"})
    frames = inputs["features"][1]  # fixed for a fixed frame count, else a dynamic axis
    assert frames == spec.frames if spec.frames else not isinstance(frames, int)
    assert len(session.get_outputs()[0].shape) == (3 if spec.per_frame else 2)

    clips = _clips(kw, "val") + _clips(kw, "train")  # 36 clips, padded batches of mixed lengths
    agreement = check_export(folder, "onnx", folder / "model.onnx", clips)
    assert isinstance(agreement, LabelAgreement)
    assert agreement.same == len(clips) and agreement.keras == agreement.exported
    assert agreement.max_prob_diff < MAX_PROB_DIFF

    fast = Classifier.load(folder)  # auto: the export
    keras_side = Classifier.load(folder, runtime="keras")
    assert type(fast.model).__name__ == "OnnxModel"
    assert type(keras_side.model).__name__ != "OnnxModel"
    ours = keras_side.predict_files(clips[:6], top_k=3)
    theirs = fast.predict_files(clips[:6], top_k=3)
    for (p, a), (q, b) in zip(ours, theirs, strict=True):
        assert p == q and [lab for lab, _ in a] == [lab for lab, _ in b]
        assert np.allclose([x for _, x in a], [x for _, x in b], atol=MAX_PROB_DIFF)
    if spec.per_frame:  # detection on long audio: the same spans either way
        long_wav = kw["root"] / f"long_{kind}.wav"
        join_clips([Path(c) for c in clips[:3]], long_wav)
        a_spans, b_spans = keras_side.detect(long_wav), fast.detect(long_wav)
        assert [(s.start, s.end, s.label) for s in a_spans] == [
            (s.start, s.end, s.label) for s in b_spans
        ]
        assert np.allclose([s.score for s in a_spans], [s.score for s in b_spans], atol=1e-4)


def test_export_cli_check_savedmodel_and_disagreement(kw, exported, tmp_path, monkeypatch) -> None:
    folder = exported("cnn")
    out = tmp_path / "cnn.onnx"
    rc, stdout, stderr = run_cli(
        ["export", "--model", str(folder), "--out", str(out), "--check", str(kw["root"] / "val")]
    )
    assert rc == 0, stderr
    assert "predicted labels: 12 of 12 files the same as Keras; largest probability" in stdout
    assert "differs" not in stdout

    rc, _, stderr = run_cli(
        ["export", "--model", str(exported("lstm")), "--format", "savedmodel",
         "--out", str(tmp_path / "sm")]
    )  # fmt: skip
    assert rc == 0, stderr
    import tensorflow as tf

    loaded = tf.saved_model.load(str(tmp_path / "sm"))  # held: serve needs its variables
    served = loaded.serve(
        {"features": np.zeros((2, 50, 39), np.float32), "input_length": np.array([50, 20], "i4")}
    )
    assert np.asarray(served).shape == (2, 3)

    # any label that differs is listed and makes the exit status 1
    clips = _clips(kw)[:2]
    fake = LabelAgreement(tuple(clips), ("no", "up"), ("no", "yes"), 0.3)
    monkeypatch.setattr("asr.export.check_export", lambda *args: fake)
    rc, stdout, _ = run_cli(
        ["export", "--model", str(folder), "--out", str(out), "--force", "--check", *clips]
    )
    assert rc == 1
    assert "predicted labels: 1 of 2 files the same as Keras" in stdout
    assert f"differs\t{clips[1]}\tkeras: up\texport: yes" in stdout


def test_classify_commands_run_the_export_without_tensorflow(kw, exported, tmp_path) -> None:
    cnn, lstm, per_frame = exported("cnn"), exported("lstm"), exported("lstm_per_frame")
    clips = _clips(kw)[:4]
    long_wav = tmp_path / "long.wav"
    join_clips([Path(c) for c in clips[:2]], long_wav)
    script = (
        "import json, sys\n"
        "from asr.cli import main\n"
        "cnn, lstm, per_frame, manifest, long_wav, *clips = sys.argv[1:]\n"
        "rcs = [main(['classify', 'predict', '--model', cnn, *clips]),\n"
        "       main(['classify', 'evaluate', '--model', lstm, '--manifest', manifest]),\n"
        "       main(['classify', 'detect', '--model', per_frame, long_wav])]\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules)\n"
        "print(json.dumps({'rc': rcs, 'loaded': loaded}))\n"
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-c", script, str(cnn), str(lstm), str(per_frame), str(kw["val"]),
         str(long_wav), *clips],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    *printed, last = run.stdout.strip().splitlines()
    got = json.loads(last)
    assert got == {"rc": [0, 0, 0], "loaded": []}, run.stderr[-2000:]

    rc, keras_out, _ = run_cli(
        ["classify", "predict", "--model", str(cnn), "--runtime", "keras", *clips]
    )
    assert rc == 0
    onnx_rows = [line.split("\t") for line in printed[: len(clips)]]
    keras_rows = [line.split("\t") for line in keras_out.splitlines()]
    assert [r[:2] for r in onnx_rows] == [r[:2] for r in keras_rows]  # path, label
    assert np.allclose(
        [float(r[2]) for r in onnx_rows], [float(r[2]) for r in keras_rows], atol=2e-4
    )
    rc, keras_eval, _ = run_cli(
        ["classify", "evaluate", "--model", str(lstm), "--runtime", "keras",
         "--manifest", str(kw["val"])]
    )  # fmt: skip
    assert rc == 0 and printed[len(clips)] == keras_eval.splitlines()[0]  # the accuracy line


def test_runtime_choice_and_refusals(kw, exported, tmp_path) -> None:
    cnn = exported("cnn")
    parse = build_parser().parse_args
    for action in (
        ["predict", "x.wav"],
        ["evaluate", "--manifest", "m.jsonl"],
        ["detect", "x.wav"],
    ):
        assert not _needs_keras(parse(["classify", action[0], "--model", str(cnn), *action[1:]]))
        assert _needs_keras(
            parse(["classify", action[0], "--model", str(cnn), "--runtime", "keras", *action[1:]])
        )
    assert _needs_keras(parse(["classify", "train", "--train", "t", "--val", "v", "--out", "o"]))

    keras_only = tmp_path / "keras_only"
    keras_only.mkdir()
    for name in ("config.json", "model.keras"):
        shutil.copy(cnn / name, keras_only / name)
    assert _needs_keras(parse(["classify", "predict", "--model", str(keras_only), "x.wav"]))
    # an ensemble, or a labeler, with one member that has no export needs Keras too
    both = ["--model", str(cnn), "--model", str(keras_only)]
    assert _needs_keras(parse(["classify", "predict", *both, "x.wav"]))
    assert not _needs_keras(
        parse(["classify", "predict", "--model", str(cnn), "--model", str(cnn), "x.wav"])
    )
    detect = ["classify", "detect", "--model", str(cnn), "x.wav", "--label-with", str(cnn)]
    assert not _needs_keras(parse(detect))
    assert _needs_keras(parse([*detect, "--label-with", str(keras_only)]))
    with pytest.raises(ConfigError, match="run asr export"):
        Classifier.load(keras_only, runtime="onnx")
    rc, _, stderr = run_cli(
        ["classify", "predict", "--model", str(keras_only), "--runtime", "onnx", _clips(kw)[0]]
    )
    assert rc == 2 and "run asr export" in one_line_error(stderr)

    # another classifier's export beside this config.json is refused, not run
    shutil.copy(exported("lstm") / "model.onnx", keras_only / "model.onnx")
    with pytest.raises(ConfigError, match="re-run asr export"):
        Classifier.load(keras_only)
    assert type(Classifier.load(keras_only, runtime="keras").model).__name__ != "OnnxModel"

    # the CTC check stays strict: a features-only graph is no CTC export
    from asr.runtime import OnnxModel

    with pytest.raises(ConfigError, match="not an asr export"):
        OnnxModel(cnn / "model.onnx")


def test_training_into_the_directory_drops_a_stale_export(kw, exported, tmp_path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(exported("cnn"), folder)
    assert (folder / "model.onnx").is_file()
    _train(kw, folder, epochs=1, force=True, arch="dense")
    assert not (folder / "model.onnx").exists()
    classifier = Classifier.load(folder)
    assert classifier.spec.arch == "dense"
    assert type(classifier.model).__name__ != "OnnxModel"
