"""`asr export --format tflite`: builtin LiteRT ops only (no Flex ops the standalone runtime
lacks), a dynamic time axis, and the greedy transcripts (a classifier's labels) Keras gives.

The tiny models are untrained (random weights): what is compared is the network's output
on the same inputs, which training does not make any easier to match.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from e2e_support import run_cli

from asr.architectures import CLASSIFY, get_architecture
from asr.config import ClassifierModelConfig, Config, ModelConfig, save_config
from asr.errors import ConfigError
from asr.export import Agreement, LabelAgreement, check_export, export_model

tf = pytest.importorskip("tensorflow", reason="TFLite export needs TensorFlow")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export runs under the TensorFlow backend only", allow_module_level=True)
if not hasattr(tf, "lite") or not hasattr(tf.lite, "TFLiteConverter"):
    pytest.skip("this TensorFlow has no TFLite converter", allow_module_level=True)

from asr.modelio import save_inference_model  # noqa: E402
from asr.tflite_runtime import TfliteModel, classifier_tflite, operator_names  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
WAVS = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".wav", ".flac"))
MAX_DIFF = 1e-4


def _normalized(config: Config) -> Config:
    dim = config.features.dim
    return dataclasses.replace(config, mean=(0.0,) * dim, std=(10.0,) * dim)


def _model_dir(folder: Path, config: Config) -> Path:
    """A model directory with random weights: config.json and model.keras."""
    config = _normalized(config)
    folder.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    model = get_architecture(config.model.arch, config.task).build(config, fast=False)
    save_inference_model(model, folder, config)
    save_config(config, folder)
    return folder


def _assert_builtin_only(path: Path, recurrent: bool) -> None:
    ops = operator_names(path)
    assert not [op for op in ops if op.startswith("Flex")], ops
    assert ("WHILE" in ops) == recurrent, ops  # the RNN's time loop, as a builtin


@pytest.fixture(scope="module")
def ctc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    config = Config(model=ModelConfig(rnn_units=16, rnn_layers=2, conv_filters=16, dropout=0.0))
    folder = _model_dir(tmp_path_factory.mktemp("ctc") / "m", config)
    return folder, export_model(folder, "tflite")


def test_ctc_export_is_builtin_only_with_a_dynamic_time_axis(ctc) -> None:
    folder, path = ctc
    assert path == folder / "model.tflite"
    _assert_builtin_only(path, recurrent=True)
    model = TfliteModel(path)
    assert model.input_names == {"features", "input_length"}
    assert (model.batch, model.frames, model.input_dim, model.output_dim) == (1, None, 39, 28)

    # a padded batch of mixed lengths, as Transcriber makes it, gives Keras's outputs
    from asr.transcribe import Transcriber

    keras_model = Transcriber.load(folder, lm=None, runtime="keras").model
    rng = np.random.default_rng(0)
    frames = [120, 37, 80, 9]
    x = np.zeros((4, 120, 39), np.float32)
    for row, n in enumerate(frames):
        x[row, :n] = rng.normal(size=(n, 39))
    x[2, 70:80] = 0.0  # real frames that are exactly zero: cut off, then run at full width
    lengths = np.array([(n + 1) // 2 for n in frames], np.int32)
    batch = {"features": x, "input_length": lengths}
    ours = np.asarray(keras_model.predict_on_batch(batch))
    theirs = model.predict_on_batch(batch)
    assert theirs.shape == ours.shape
    for row, n in enumerate(lengths):
        assert np.abs(ours[row, :n] - theirs[row, :n]).max() < MAX_DIFF


def test_ctc_check_agrees_and_the_cli_says_so(ctc, tmp_path: Path) -> None:
    folder, path = ctc
    agreement = check_export(folder, "tflite", path, WAVS)
    assert isinstance(agreement, Agreement)
    assert agreement.same == len(WAVS) and agreement.keras == agreement.exported
    assert agreement.max_logit_diff < MAX_DIFF

    manifest = tmp_path / "m.jsonl"  # --check takes manifests too
    manifest.write_text(
        "".join(f'{{"audio_filepath": "{w}", "text": "x"}}\n' for w in WAVS[:2]), "utf-8"
    )
    out = tmp_path / "again.tflite"
    argv = ["export", "--model", str(folder), "--format", "tflite", "--out", str(out)]
    rc, stdout, stderr = run_cli([*argv, "--check", str(manifest), WAVS[2]])
    assert rc == 0, stderr
    assert "greedy transcripts: 3 of 3 files the same as Keras" in stdout
    rc, _, stderr = run_cli(argv)
    assert rc == 2 and "already exists; pass --force" in stderr


CLASSIFIERS = {
    "dense": {"arch": "dense", "frames": 50},  # features only, fixed frames, dynamic batch
    "cnn": {"arch": "cnn", "frames": 50},
    "lstm": {"arch": "lstm", "frames": 0},  # any length, (B, C)
    "bilstm_per_frame": {"arch": "lstm", "frames": 60, "per_frame": True, "bidirectional": True},
    "crnn_per_frame": {"arch": "crnn", "frames": 60, "per_frame": True},
}


@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
def test_classifier_exports_agree(kind: str, tmp_path: Path) -> None:
    spec = ClassifierModelConfig(
        units=8, filters=4, conv_layers=2, dropout=0.0, **CLASSIFIERS[kind]
    )
    config = Config(task=CLASSIFY, model=spec, labels=("a", "b", "c"))
    folder = _model_dir(tmp_path / "m", config)
    path = export_model(folder, "tflite")
    _assert_builtin_only(path, recurrent=spec.recurrent)
    model = classifier_tflite(path, _normalized(config))
    assert model.batch == (1 if spec.recurrent else None)
    assert model.frames == (spec.frames or None)

    agreement = check_export(
        folder, "tflite", path, WAVS
    )  # windows of mixed lengths, padded batches
    assert isinstance(agreement, LabelAgreement)
    assert agreement.same == len(WAVS) and agreement.max_prob_diff < MAX_DIFF

    other = dataclasses.replace(config, labels=("a", "b"))
    with pytest.raises(ConfigError, match="re-run asr export"):
        classifier_tflite(path, _normalized(other))


def test_refusals(ctc, tmp_path: Path) -> None:
    folder, path = ctc
    cnn = Config(task=CLASSIFY, model=ClassifierModelConfig(arch="dense", frames=20, units=4),
                 labels=("a", "b"))  # fmt: skip
    cnn_dir = _model_dir(tmp_path / "cnn", cnn)
    with pytest.raises(ConfigError, match="not an asr export"):
        TfliteModel(export_model(cnn_dir, "tflite"))  # a features-only graph is no CTC model
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer")
    with pytest.raises(ConfigError, match="cannot load the TFLite model"):
        TfliteModel(junk)


def test_shipped_model_exports_and_agrees(tmp_path: Path) -> None:
    out = tmp_path / "model.tflite"
    rc, stdout, stderr = run_cli(["export", "--format", "tflite", "--out", str(out), "--check",
                                  str(SAMPLES)])  # fmt: skip
    assert rc == 0, stderr
    assert f"greedy transcripts: {len(WAVS)} of {len(WAVS)} files the same as Keras" in stdout
    _assert_builtin_only(out, recurrent=True)


def test_tensorflow_interpreter_when_ai_edge_litert_is_missing(ctc, monkeypatch) -> None:
    folder, path = ctc
    lite = TfliteModel(path)
    x = np.random.default_rng(1).normal(size=(2, 30, 39)).astype(np.float32)
    batch = {"features": x, "input_length": np.array([15, 15], np.int32)}
    expected = lite.predict_on_batch(batch)
    for name in (
        "ai_edge_litert",
        "ai_edge_litert.interpreter",
        "ai_edge_litert.schema_py_generated",
    ):
        monkeypatch.setitem(sys.modules, name, None)  # import fails: TensorFlow's own
    fallback = TfliteModel(path)
    assert type(fallback.interpreter).__module__.startswith("tensorflow")
    np.testing.assert_allclose(fallback.predict_on_batch(batch), expected, atol=1e-5)
    assert "WHILE" in operator_names(path)


def test_transcribe_runtime_tflite(ctc, tmp_path: Path) -> None:
    """--runtime tflite runs model.tflite through the same Transcriber code as Keras: the
    same transcripts; asking for it without a model.tflite names the fix."""
    from asr.errors import ConfigError
    from asr.transcribe import Transcriber

    folder, _ = ctc
    lite = Transcriber.load(folder, lm=None, runtime="tflite")
    assert type(lite.model).__name__ == "TfliteModel"
    keras_side = Transcriber.load(folder, lm=None, runtime="keras")
    assert [r.text for r in lite.transcribe_files(WAVS)] == [
        r.text for r in keras_side.transcribe_files(WAVS)
    ]
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / "model.tflite").unlink()
    with pytest.raises(ConfigError, match="asr export --format tflite"):
        Transcriber.load(bare, lm=None, runtime="tflite")
