"""asr.ensemble: several classifiers' clip probabilities averaged, from Python and the shell
(predict and evaluate with --model twice, detect with --label-with twice)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from classify_support import join_clips, keyword_corpus_or_skip
from e2e_support import one_line_error, run_cli

from asr.classify import Classifier, Span, evaluate_classifier
from asr.classify_train import ClassifyTrainOptions, train_classifier
from asr.config import ClassifierModelConfig
from asr.ensemble import Ensemble, load_classifier
from asr.errors import ConfigError
from asr.features import FeatureConfig

TINY = {"units": 16, "filters": 8, "conv_layers": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return keyword_corpus_or_skip(tmp_path_factory)


@pytest.fixture(scope="module")
def members(kw, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny models of the same labels: a dense and a cnn on 99 frames, a variable-length lstm,
    a dense on 8 kHz audio; and a per-frame crnn that finds words."""
    root = tmp_path_factory.mktemp("members")
    made = {}
    for name, model in {
        "dense": {"arch": "dense"},
        "cnn": {"arch": "cnn", "seed": 1},
        "lstm": {"arch": "lstm", "frames": 0},
        "frames": {"arch": "crnn", "frames": 0, "per_frame": True},
        "dense8k": {"arch": "dense", "rate": 8000},
    }.items():
        seed = model.pop("seed", 0)
        rate = model.pop("rate", 16000)
        options = ClassifyTrainOptions(
            train=kw["train"],
            val=kw["val"],
            out=root / name,
            model=ClassifierModelConfig(**{**TINY, **model}),
            features=FeatureConfig(sample_rate=rate),
            epochs=3,
            batch_size=8,
            learning_rate=3e-3,
            jobs=1,
            progress=False,
            seed=seed,
        )
        train_classifier(options)
        made[name] = root / name
    return made


def _clips(kw) -> list[Path]:
    """The val clips in manifest order."""
    rows = [json.loads(line) for line in kw["val"].read_text().splitlines()]
    return [kw["val"].parent / r["audio_filepath"] for r in rows]


def test_an_ensemble_averages_its_members_probabilities(kw, members) -> None:
    dirs = [members["dense"], members["cnn"], members["lstm"]]
    ensemble = load_classifier(dirs)
    assert isinstance(ensemble, Ensemble) and ensemble.labels == ["no", "up", "yes"]
    alone = [Classifier.load(d) for d in dirs]
    clips = _clips(kw)
    probs = ensemble.clip_probabilities([ensemble.features(c) for c in clips])
    each = [m.clip_probabilities([m.features(c) for c in clips]) for m in alone]
    np.testing.assert_allclose(probs, np.mean(each, axis=0), atol=1e-6)
    assert probs.shape == (len(clips), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    report = evaluate_classifier(ensemble, kw["val"])
    truth = [json.loads(line)["label"] for line in kw["val"].read_text().splitlines()]
    guessed = [ensemble.labels[i] for i in probs.argmax(axis=1)]
    assert report.accuracy == pytest.approx(
        np.mean([t == g for t, g in zip(truth, guessed, strict=True)])
    )
    # spans: each member names them from clips of its own length, and the names are averaged
    samples = np.concatenate([alone[0].samples(c) for c in clips[:3]])
    spans = [Span(0.2, 0.6, "?", 0.0), Span(1.1, 1.5, "?", 0.0)]
    np.testing.assert_allclose(
        ensemble.span_probabilities(samples, 16_000, spans),
        np.mean([m.span_probabilities(samples, 16_000, spans) for m in alone], axis=0),
        atol=1e-6,
    )
    # one directory is the classifier itself, not an ensemble of one
    assert type(load_classifier([members["dense"]])) is Classifier
    with pytest.raises(ConfigError, match="no classifier directory given"):
        load_classifier([])


def test_audio_is_read_at_the_highest_member_rate(kw, members) -> None:
    """An 8 kHz member first does not band-limit what a 16 kHz member hears."""
    low, high = Classifier.load(members["dense8k"]), Classifier.load(members["dense"])
    ensemble = Ensemble([low, high])
    assert ensemble.config.features.sample_rate == 16_000
    clip = _clips(kw)[0]
    probs = ensemble.clip_probabilities([ensemble.features(clip)])
    alone = [m.clip_probabilities([m.features(clip)]) for m in (low, high)]
    np.testing.assert_allclose(probs, np.mean(alone, axis=0), atol=1e-6)


def test_members_must_agree_on_labels_and_kind(members) -> None:
    dense = Classifier.load(members["dense"])
    shuffled = copy.copy(dense)
    shuffled.labels = ["yes", "no", "up"]
    with pytest.raises(ConfigError, match="same labels in the same order"):
        Ensemble([dense, shuffled])
    with pytest.raises(ConfigError, match="all be clip models or all per-frame"):
        Ensemble([dense, Classifier.load(members["frames"])])
    with pytest.raises(ConfigError, match="at least two"):
        Ensemble([dense])


def test_cli_predict_and_evaluate_with_two_models(kw, members, tmp_path) -> None:
    both = ["--model", str(members["dense"]), "--model", str(members["cnn"])]
    clips = _clips(kw)[:4]
    rc, stdout, stderr = run_cli(["classify", "predict", *both, *map(str, clips)])
    assert rc == 0, stderr
    ensemble = load_classifier([members["dense"], members["cnn"]])
    expected = ensemble.predict_files(clips)
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [(p, top[0][0]) for p, top in expected]
    assert [float(r[2]) for r in rows] == pytest.approx([t[0][1] for _, t in expected], abs=1e-4)
    rc, stdout, _ = run_cli(["classify", "evaluate", *both, "--manifest", str(kw["val"])])
    accuracy = evaluate_classifier(ensemble, kw["val"]).accuracy
    assert rc == 0 and stdout.startswith(f"accuracy {accuracy:.2%} on 12 clips"), stdout[:80]


def test_an_ensemble_names_spans_but_does_not_find_them(kw, members, tmp_path) -> None:
    clips = [c for c in _clips(kw) if c.name.endswith("_0_0.wav")]
    recording = tmp_path / "long.wav"
    join_clips(clips, recording)
    finder = Classifier.load(members["frames"])
    labeler = load_classifier([members["dense"], members["lstm"]])
    spans = finder.detect(recording, threshold=0.01, labeler=labeler)
    assert spans, "the per-frame model found no words to name"
    label_with = ["--label-with", str(members["dense"]), "--label-with", str(members["lstm"])]
    rc, stdout, stderr = run_cli(
        ["classify", "detect", "--model", str(members["frames"]), *label_with,
         "--threshold", "0.01", str(recording)]
    )  # fmt: skip
    assert rc == 0, stderr
    named = [(row[3], float(row[4])) for row in (ln.split("\t") for ln in stdout.splitlines())]
    assert named == [(s.label, pytest.approx(s.score, abs=6e-4)) for s in spans]
    alone = finder.detect(recording, threshold=0.01, labeler=Classifier.load(members["dense"]))
    assert [s.score for s in alone] != [s.score for s in spans]  # both members counted
    with pytest.raises(ConfigError, match="give one per-frame model"):
        labeler.detect(recording)
    rc, _, stderr = run_cli(
        ["classify", "predict", "--model", str(members["dense"]), "--model",
         str(members["frames"]), str(recording)]
    )  # fmt: skip
    assert rc != 0 and "all be clip models or all per-frame" in one_line_error(stderr)
    rc, _, stderr = run_cli(
        ["classify", "detect", "--model", str(members["frames"]), "--model",
         str(members["frames"]), str(recording)]
    )  # fmt: skip
    assert rc == 2 and "one per-frame --model" in one_line_error(stderr)
