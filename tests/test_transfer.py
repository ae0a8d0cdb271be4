"""The encoder classifier: a speech model's frozen conv + RNN layers under a trained head.

The speech model here is a tiny CTC network with random weights (what is checked is that
its weights, features and normalization carry over and stay put, not what it knows); the
clips are the real synthesized words of classify_support.py.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from classify_support import keyword_corpus_or_skip
from e2e_support import history_losses, one_line_error, run_cli

from asr.classify import Classifier, place
from asr.classify_train import ClassifyTrainOptions, train_classifier
from asr.config import ClassifierModelConfig, Config, ModelConfig, load_config, save_config
from asr.errors import AsrError
from asr.model import build_inference_model, encoder_layer_names
from asr.modelio import load_inference_model, save_inference_model
from asr.transfer import speech_encoder_config

SPEECH = ModelConfig(rnn_units=12, rnn_layers=2, conv_filters=12, dropout=0.0)


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return keyword_corpus_or_skip(tmp_path_factory)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A speech model directory with its own (non-trivial) normalization."""
    folder = tmp_path_factory.mktemp("speech")
    rng = np.random.default_rng(0)
    base = Config(model=SPEECH)
    dim = base.features.dim
    config = dataclasses.replace(
        base,
        mean=tuple(rng.normal(0, 1, dim).tolist()),
        std=tuple(rng.uniform(1, 5, dim).tolist()),
    )
    save_inference_model(build_inference_model(config), folder, config)
    save_config(config, folder)
    return folder


def _weights(model, names: list[str]) -> list[np.ndarray]:
    return [w for name in names for w in model.get_layer(name).get_weights()]


def test_cli_trains_on_the_frozen_encoder_and_predicts(kw, speech, tmp_path) -> None:
    out = tmp_path / "enc"
    rc, stdout, stderr = run_cli(
        ["classify", "train", "--train", str(kw["train"]), "--val", str(kw["val"]),
         "--out", str(out), "--encoder", str(speech), "--epochs", "8", "--batch-size", "8",
         "--learning-rate", "1e-2", "--no-augment", "--jobs", "1"]
    )  # fmt: skip
    assert rc == 0, stderr[-2000:]
    assert "best val accuracy" in stdout
    config, speech_config = load_config(out), load_config(speech)
    assert config.model.arch == "encoder" and config.model.frames == 0
    assert config.model.encoder == speech_config.model
    # the encoder's own features and normalization, not ones fitted to the clips
    assert config.features == speech_config.features
    assert config.mean == speech_config.mean and config.std == speech_config.std
    losses = history_losses(out)
    assert len(losses) == 8 and losses[-1] < 0.7 * losses[0], losses
    # frozen: the saved encoder layers hold the speech model's weights exactly
    names = encoder_layer_names(speech_config.model)
    trained = load_inference_model(out, config)
    original = load_inference_model(speech, speech_config)
    for a, b in zip(_weights(trained, names), _weights(original, names), strict=True):
        np.testing.assert_array_equal(a, b)
    classifier = Classifier.load(out)
    clips = sorted((kw["root"] / "val").glob("*.wav"))[:4]
    results = classifier.predict_files(clips, top_k=3)
    assert [p for p, _ in results] == [str(c) for c in clips]
    for _, top in results:
        assert sum(q for _, q in top) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("cnn_branch", [False, True], ids=["encoder", "with_cnn_branch"])
def test_padding_does_not_change_a_clip(kw, speech, tmp_path, cnn_branch) -> None:
    """Masked pooling (and per-clip mean normalization in the cnn branch): a clip scored
    alone or in a padded batch of longer clips agrees."""
    out = tmp_path / "enc"
    spec = ClassifierModelConfig(
        arch="encoder", frames=0, units=8, filters=8, conv_layers=2, dropout=0.0,
        encoder=SPEECH, cnn_branch=cnn_branch,
    )  # fmt: skip
    train_classifier(
        ClassifyTrainOptions(
            train=kw["train"], val=kw["val"], out=out, model=spec, epochs=1, batch_size=8,
            jobs=1, progress=False, encoder=speech,
        )
    )  # fmt: skip
    classifier = Classifier.load(out)
    clips = sorted((kw["root"] / "val").glob("*.wav"))
    feats = classifier.features(clips[0])
    n = feats.shape[0]
    exact = classifier._run([feats], [n])
    padded = classifier._run([place(feats, 2 * n + 7, 0)], [n])
    assert np.allclose(exact, padded, atol=1e-5)
    garbage = place(feats, 2 * n + 7, 0)
    garbage[n:] = 5.0  # what lies past the length must not matter either
    assert np.allclose(exact, classifier._run([garbage], [n]), atol=1e-5)
    if not cnn_branch:
        return
    # and it exports (both branches): ONNX gives Keras's labels and probabilities
    pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx (pip install 'asr[export]')")
    pytest.importorskip("onnxruntime", reason="checking an export needs onnxruntime")
    from asr.export import check_export, export_model

    assert export_model(out, "onnx") == out / "model.onnx"
    agreement = check_export(out, "onnx", out / "model.onnx", clips)
    assert agreement.same == len(clips) and agreement.max_prob_diff < 1e-4


def test_resume_copies_the_encoder_again_only_before_an_epoch_finished(
    kw, speech, tmp_path
) -> None:
    out = tmp_path / "enc"
    spec = ClassifierModelConfig(
        arch="encoder", frames=0, units=8, filters=8, dropout=0.0, encoder=SPEECH
    )
    options = ClassifyTrainOptions(
        train=kw["train"], val=kw["val"], out=out, model=spec, epochs=1, batch_size=8,
        jobs=1, progress=False, encoder=speech,
    )  # fmt: skip
    train_classifier(options)
    # after an epoch the stored config and resume point suffice: no --encoder needed
    more = dataclasses.replace(options, epochs=2, resume=True, encoder=None)
    assert train_classifier(more).epochs == 2
    # before any epoch finished, the weights must come from the speech model again
    shutil.rmtree(out / "resume")
    (out / "history.csv").unlink()
    with pytest.raises(AsrError, match="pass --encoder DIR"):
        train_classifier(more)
    other = tmp_path / "other"
    shutil.copytree(speech, other)
    config = load_config(other)
    save_config(dataclasses.replace(config, mean=tuple(m + 1 for m in config.mean)), other)
    with pytest.raises(AsrError, match="features or normalization differ"):
        train_classifier(dataclasses.replace(more, encoder=other))
    assert train_classifier(dataclasses.replace(more, encoder=speech)).epochs == 2


@pytest.mark.parametrize(("tune", "frozen"), [(1, 3), (3, 0)])  # conv, conv_norm, rnn 0, rnn 1
def test_encoder_tune_trains_the_top_layers_only(kw, speech, tmp_path, tune, frozen) -> None:
    out = tmp_path / "tuned"
    rc, _, stderr = run_cli(
        ["classify", "train", "--train", str(kw["train"]), "--val", str(kw["val"]),
         "--out", str(out), "--encoder", str(speech), "--encoder-tune", str(tune),
         "--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-2", "--no-augment",
         "--jobs", "1"]
    )  # fmt: skip
    assert rc == 0, stderr[-2000:]
    config, speech_config = load_config(out), load_config(speech)
    assert config.model.encoder_tune == tune
    assert Config.from_dict(config.to_dict()) == config
    names = encoder_layer_names(speech_config.model)
    trained = load_inference_model(out, config)
    original = load_inference_model(speech, speech_config)
    for name in names[:frozen]:  # frozen: exactly the speech model's
        for a, b in zip(_weights(trained, [name]), _weights(original, [name]), strict=True):
            np.testing.assert_array_equal(a, b)
    tuned = names[frozen:]
    moved = [
        not np.array_equal(a, b)
        for a, b in zip(_weights(trained, tuned), _weights(original, tuned), strict=True)
    ]
    assert moved and all(moved), moved  # the tuned layers learned (3: the conv front end too)


def test_encoder_layers_keeps_the_first_rnn_layers(speech) -> None:
    assert speech_encoder_config(speech, 1).model.rnn_layers == 1
    assert speech_encoder_config(speech).model == SPEECH
    with pytest.raises(AsrError, match="--encoder-layers 3: .* has 2 RNN layers; pass 1 to 2"):
        speech_encoder_config(speech, 3)


def test_a_cut_encoder_trains_on_its_first_rnn_layers(kw, speech, tmp_path) -> None:
    """--encoder-layers 1: the classifier reads the speech model's conv front end and first
    RNN layer, unchanged, and its config says so (so predict builds the same cut)."""
    out = tmp_path / "cut"
    rc, _, stderr = run_cli(
        ["classify", "train", "--train", str(kw["train"]), "--val", str(kw["val"]),
         "--out", str(out), "--encoder", str(speech), "--encoder-layers", "1",
         "--epochs", "1", "--batch-size", "8", "--no-augment", "--jobs", "1"]
    )  # fmt: skip
    assert rc == 0, stderr[-2000:]
    config, speech_config = load_config(out), load_config(speech)
    assert config.model.encoder == dataclasses.replace(SPEECH, rnn_layers=1)
    kept = encoder_layer_names(config.model.encoder)
    assert len(kept) == len(encoder_layer_names(speech_config.model)) - 1
    trained = load_inference_model(out, config)
    original = load_inference_model(speech, speech_config)
    for a, b in zip(_weights(trained, kept), _weights(original, kept), strict=True):
        np.testing.assert_array_equal(a, b)
    assert Classifier.load(out).predict(sorted((kw["root"] / "val").glob("*.wav"))[0])[0] in (
        config.labels
    )


def test_config_round_trip_and_rules() -> None:
    spec = ClassifierModelConfig(arch="encoder", frames=0, encoder=SPEECH)
    config = Config(task="classify", model=spec, labels=("a", "b"))
    assert Config.from_dict(config.to_dict()) == config
    cnn = Config(task="classify", model=ClassifierModelConfig(), labels=("a", "b"))
    assert "encoder" not in cnn.to_dict()["model"]  # older releases read cnn configs as before
    with pytest.raises(ValueError, match="pass --encoder DIR"):
        ClassifierModelConfig(arch="encoder", frames=0)
    with pytest.raises(ValueError, match="pass --encoder DIR"):
        ClassifierModelConfig(arch="cnn", encoder=SPEECH)
    with pytest.raises(ValueError, match="cnn_branch goes beside a speech encoder"):
        ClassifierModelConfig(arch="cnn", cnn_branch=True)
    with_branch = dataclasses.replace(config, model=dataclasses.replace(spec, cnn_branch=True))
    assert Config.from_dict(with_branch.to_dict()) == with_branch
    with pytest.raises(ValueError, match="own \\(bidirectional\\) RNNs"):
        ClassifierModelConfig(arch="encoder", frames=0, bidirectional=True, encoder=SPEECH)
    with pytest.raises(ValueError, match="per-frame output is lstm/crnn's"):
        ClassifierModelConfig(arch="encoder", frames=0, per_frame=True, encoder=SPEECH)
    whole = ClassifierModelConfig(arch="encoder", frames=0, encoder=SPEECH, encoder_tune=3)
    assert whole.encoder_tune == 3  # two RNN layers, then the conv front end
    with pytest.raises(ValueError, match="encoder_tune 4: .* then its conv front end: 0 to 3 here"):
        ClassifierModelConfig(arch="encoder", frames=0, encoder=SPEECH, encoder_tune=4)
    no_front = dataclasses.replace(SPEECH, conv_filters=0, conv_stride=1)
    with pytest.raises(ValueError, match="encoder_tune 3: .* 0 to 2 here"):
        ClassifierModelConfig(arch="encoder", frames=0, encoder=no_front, encoder_tune=3)
    with pytest.raises(ValueError, match="encoder_tune 1: .* 0 to 0 here"):
        ClassifierModelConfig(encoder_tune=1)
    assert "encoder_tune" not in config.to_dict()["model"]  # off: as before the option


def test_refusals(kw, speech, tmp_path) -> None:
    base = ["classify", "train", "--train", str(kw["train"]), "--val", str(kw["val"])]
    rc, _, stderr = run_cli([*base, "--out", str(tmp_path / "a"), "--encoder", str(speech),
                             "--arch", "cnn"])  # fmt: skip
    assert rc == 2 and "it is --arch encoder, not cnn" in stderr
    rc, _, stderr = run_cli([*base, "--out", str(tmp_path / "b"), "--encoder", str(speech),
                             "--pitch"])  # fmt: skip
    assert rc == 2 and "takes the speech model's features" in stderr
    rc, _, stderr = run_cli([*base, "--out", str(tmp_path / "b"), "--cnn-branch"])
    assert rc == 2 and "go with --encoder DIR" in stderr
    rc, _, stderr = run_cli([*base, "--out", str(tmp_path / "b"), "--encoder-layers", "0"])
    assert rc == 2 and "go with --encoder DIR" in stderr
    rc, _, stderr = run_cli([*base, "--out", str(tmp_path / "b"), "--encoder-tune", "1"])
    assert rc == 2 and "go with --encoder DIR" in stderr
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(speech / "config.json", no_weights)
    rc, _, stderr = run_cli([*base, "--out", str(tmp_path / "d"), "--encoder", str(no_weights)])
    assert rc != 0 and one_line_error(stderr).endswith(
        "model.keras: not found; --encoder needs a speech model directory with its weights "
        "(e.g. checkpoints/default)"
    )
    classifier_dir = tmp_path / "cls"
    classifier_dir.mkdir()
    save_config(Config(task="classify", model=ClassifierModelConfig(), labels=("a", "b")),
                classifier_dir)  # fmt: skip
    rc, _, stderr = run_cli([*base, "--out", str(tmp_path / "c"), "--encoder",
                             str(classifier_dir)])  # fmt: skip
    assert rc != 0
    assert one_line_error(stderr).endswith(
        f"{classifier_dir}: holds a classify model; --encoder needs a speech model made by "
        "asr train (e.g. checkpoints/default)"
    )
    assert not (tmp_path / "c").exists()
