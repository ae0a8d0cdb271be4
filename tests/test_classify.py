"""Audio classification end to end: label manifests, the four architectures, predict,
evaluate (with its HTML confusion matrix), detect, resume and the one-line refusals.

The corpus is real synthesized speech (classify_support.py): three words, four training
voices and two held-out validation voices.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from classify_support import join_clips, keyword_corpus_or_skip, write_labels
from e2e_support import history_losses, one_line_error, read_history, run_cli

from asr.classify import Classifier, place
from asr.classify_train import ClassifyTrainOptions, batch_augmentations, train_classifier
from asr.classmetrics import score_classes
from asr.config import ClassifierModelConfig, Config, load_config
from asr.data import SpecAugment, VocalTractWarp
from asr.errors import AsrError, ManifestError
from asr.features import FeatureConfig, Normalizer

TINY = {"units": 16, "filters": 8, "conv_layers": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def kw(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return keyword_corpus_or_skip(tmp_path_factory)


def _train(
    kw,
    out: Path,
    epochs: int = 3,
    augment: bool = True,
    rate: float = 3e-3,
    pitch: bool = False,
    **model,
) -> Path:
    features = FeatureConfig(zcr=bool(model.get("aux")), pitch=pitch)
    options = ClassifyTrainOptions(
        train=kw["train"],
        val=kw["val"],
        out=out,
        model=ClassifierModelConfig(**{**TINY, **model}),
        features=features,
        epochs=epochs,
        batch_size=8,
        learning_rate=rate,
        jobs=1,
        progress=False,
        augment=augment,
    )
    train_classifier(options)
    return out


@pytest.mark.parametrize(
    "model",
    [
        {"arch": "dense"},
        {"arch": "cnn"},
        {"arch": "matchbox"},
        {"arch": "lstm", "frames": 0},
        {"arch": "crnn", "frames": 0},
        {"arch": "crnn", "frames": 0, "per_frame": True},
        {"arch": "cnn", "pitch": True},
    ],
    ids=["dense", "cnn", "matchbox", "lstm", "crnn", "crnn_per_frame_variable_length", "cnn_pitch"],
)
def test_each_architecture_trains_saves_and_predicts(kw, tmp_path, model) -> None:
    out = _train(kw, tmp_path / "m", **model)
    config = load_config(out)
    assert config.features.pitch == model.get("pitch", False)
    background = ("_background_",) if model.get("per_frame") else ()
    assert config.task == "classify" and config.labels == (*background, "no", "up", "yes")
    assert config.model.arch == model["arch"] and len(config.mean) == config.features.dim
    assert len(history_losses(out)) == 3
    classifier = Classifier.load(out)
    clips = sorted((kw["root"] / "val").glob("*.wav"))[:5]
    results = classifier.predict_files(clips, top_k=3)
    assert [p for p, _ in results] == [str(c) for c in clips]  # input order
    for _, top in results:
        assert [lab for lab, _ in top] != [] and {lab for lab, _ in top} <= set(config.labels)
        if not background:  # the top 3 are all the classes
            assert sum(q for _, q in top) == pytest.approx(1.0, abs=1e-4)


def test_loss_falls_and_held_out_voices_are_recognized(kw, tmp_path) -> None:
    out = _train(kw, tmp_path / "cnn", epochs=12, augment=False, rate=1e-2, arch="cnn")
    losses = history_losses(out)
    assert losses[-1] < 0.5 * losses[0], losses
    with (out / "history.csv").open() as f:
        accuracy = max(float(row.split(",")[3]) for row in list(f)[1:])
    assert accuracy > 0.5  # 12 clips of voices never trained on, chance is 1/3


def test_per_frame_crnn_with_aux_branch_detects_words_in_long_audio(kw, tmp_path) -> None:
    out = _train(kw, tmp_path / "det", epochs=2, arch="crnn", frames=100, per_frame=True, aux=True)
    config = load_config(out)
    assert config.labels[0] == "_background_" and config.features.zcr
    long_wav = tmp_path / "long.wav"
    clips = sorted((kw["root"] / "val").glob("yes_*.wav"))[:2]
    times = join_clips(clips, long_wav)
    rc, stdout, _ = run_cli(
        ["classify", "detect", "--model", str(out), str(long_wav), "--format", "jsonl"]
        + ["--threshold", "0.1"]
    )
    assert rc == 0
    duration = sf.info(long_wav).duration
    spans = [json.loads(line) for line in stdout.splitlines()]
    for span in spans:
        assert span["path"] == str(long_wav) and span["label"] in ("no", "up", "yes")
        assert 0 <= span["start"] < span["end"] <= duration + 0.03
    # two epochs find little, but a span lies on one of the words
    assert any(s["start"] < end and start < s["end"] for s in spans for start, end in times)
    classifier = Classifier.load(out)
    probs = classifier.frame_probabilities(classifier.features(long_wav))
    assert probs.shape == (config.features.num_frames(int(duration * 16000)), 4)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    # a clip model names the spans: only its target labels come out, at its probability
    rc, stdout, _ = run_cli(
        ["classify", "detect", "--model", str(out), str(long_wav), "--format", "jsonl"]
        + ["--label-with", "checkpoints/keywords", "--threshold", "0.3"]
    )
    assert rc == 0
    for line in stdout.splitlines():
        span = json.loads(line)
        assert span["label"] in load_config("checkpoints/keywords").labels
        assert span["label"] not in ("silence", "unknown") and span["score"] >= 0.3
    rc, _, stderr = run_cli(
        ["classify", "detect", "--model", str(out), str(long_wav)]
        + ["--label-with", "checkpoints/keywords", "--target", "maybe"]
    )
    assert rc != 0 and "'maybe' is not one of this model's labels" in stderr


def test_a_clip_model_names_the_spans_of_a_recording() -> None:
    """The shipped keyword model labels spans cut from a recording of the sample clips;
    a span of silence is dropped, and so is every span under the threshold."""
    from asr.audio import load_audio
    from asr.classify import Span

    labeler = Classifier.load("checkpoints/keywords")
    words = ["go", "no", "stop", "up", "yes"]
    gap = np.zeros(8000, np.float32)
    parts, spans = [gap], []
    for word in words:
        clip = load_audio(Path("data/keywords") / f"{word}.wav", 16_000)
        start = sum(len(p) for p in parts) / 16_000
        spans.append(Span(start + 0.2, start + len(clip) / 16_000 - 0.2, "?", 0.0))
        parts += [clip, gap]
    samples = np.concatenate(parts)
    quiet = Span(0.05, 0.45, "?", 0.0)
    named = labeler.name_spans(samples, 16_000, [*spans, quiet], threshold=0.5)
    assert [s.label for s in named] == words
    assert [(s.start, s.end) for s in named] == [(s.start, s.end) for s in spans]
    assert labeler.name_spans(samples, 16_000, spans, threshold=0.999) != named
    # at another rate the recording is resampled first: each span keeps its own word
    # (at 8 kHz "go" falls under the threshold; measured)
    at_8k = labeler.name_spans(scipy.signal.resample_poly(samples, 1, 2), 8_000, spans, 0.5)
    word_at = {s.start: w for s, w in zip(spans, words, strict=True)}
    assert len(at_8k) >= 4 and all(s.label == word_at[s.start] for s in at_8k)


def test_a_variable_length_labeler_hears_a_second_around_each_span(kw, tmp_path) -> None:
    """A word cut bare is not what word classifiers learn from: the clip is 1 s or more."""
    from asr.classify import LABEL_CLIP_SECONDS, Span

    labeler = Classifier.load(_train(kw, tmp_path / "lstm", epochs=1, arch="lstm", frames=0))
    heard: list[int] = []
    scored = labeler.clip_probabilities

    def recording(feats):
        heard.extend(f.shape[0] for f in feats)
        return scored(feats)

    labeler.clip_probabilities = recording  # type: ignore[method-assign]
    samples = np.random.default_rng(0).normal(0, 0.05, 48_000).astype(np.float32)
    labeler.name_spans(samples, 16_000, [Span(1.2, 1.5, "?", 0.0), Span(0.0, 0.1, "?", 0.0)], 0.0)
    hop = labeler.config.features.hop_seconds
    assert heard[0] * hop >= LABEL_CLIP_SECONDS - 0.03  # centred on the span: 0.7 to 1.7 s
    assert heard[1] * hop >= LABEL_CLIP_SECONDS / 2 - 0.03  # at the start, cut by 0 s


def test_a_student_learns_from_a_teacher(kw, tmp_path) -> None:
    """--teacher: each training target is the one-hot label mixed with the teacher's
    probabilities (columns matched by label name), and the student trains on them."""
    from asr.classify_train import Examples, teacher_targets

    teacher_dir = _train(kw, tmp_path / "teacher", epochs=2, arch="dense")
    teacher = Classifier.load(teacher_dir)
    clips = sorted((kw["root"] / "train").glob("*.wav"))[:3]
    labels = tuple(reversed(teacher.labels))  # another order than the teacher's
    ex = Examples([], np.array([0, 1, 2], np.int32), [], [str(c) for c in clips])
    soft = teacher_targets(teacher_dir, ex, labels, 0.25)
    probs = teacher.clip_probabilities([teacher.features(c) for c in clips])[:, ::-1]
    np.testing.assert_allclose(soft, 0.75 * np.eye(3) + 0.25 * probs, atol=1e-5)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(AsrError, match="a teacher must be a whole-clip classifier of the same"):
        teacher_targets(teacher_dir, ex, ("no", "yes"), 0.5)
    student = ClassifyTrainOptions(
        train=kw["train"], val=kw["val"], out=tmp_path / "student",
        model=ClassifierModelConfig(**{**TINY, "arch": "cnn"}), epochs=2, batch_size=8,
        jobs=1, progress=False, teacher=teacher_dir, distill=0.5,
    )  # fmt: skip
    assert train_classifier(student).epochs == 2
    assert len(history_losses(tmp_path / "student")) == 2
    bad = dataclasses.replace(student, out=tmp_path / "bad", distill=0.0)
    with pytest.raises(AsrError, match=r"--distill 0.0: give a weight in \(0, 1\]"):
        train_classifier(bad)


def test_cli_trains_a_gender_style_model_with_pitch_and_without_the_warp(kw, tmp_path) -> None:
    """`asr classify train --pitch --no-warp`: the pitch pair lands in the model's config
    (so predict computes it too) and the clips still classify."""
    out = tmp_path / "voice"
    argv = ["classify", "train", "--train", str(kw["train"]), "--val", str(kw["val"])]
    argv += ["--out", str(out), "--arch", "cnn", "--epochs", "1", "--jobs", "1"]
    rc, stdout, _ = run_cli([*argv, "--pitch", "--no-warp", "--batch-size", "8"])
    assert rc == 0 and "best val accuracy" in stdout
    config = load_config(out)
    assert config.features.pitch and len(config.mean) == config.features.dim
    clip = sorted((kw["root"] / "val").glob("*.wav"))[0]
    rc, stdout, _ = run_cli(["classify", "predict", "--model", str(out), str(clip)])
    assert rc == 0 and stdout.split("\t")[0] == str(clip)


def test_cli_scores_several_val_manifests_as_one_set(kw, tmp_path) -> None:
    """`--val A B` (synthetic + real val, say) is one val set: the same accuracy as the
    manifests joined, and a bad line in the second is named by its own file and line."""
    from asr.manifest import read_manifest, write_manifest

    val = read_manifest(kw["val"], labels=True)
    half = len(val) // 2
    first = write_manifest(tmp_path / "a" / "val.jsonl", val[:half])
    second = write_manifest(tmp_path / "b" / "val.jsonl", val[half:])
    argv = ["classify", "train", "--train", str(kw["train"]), "--arch", "cnn", "--epochs", "1"]
    argv += ["--jobs", "1", "--batch-size", "8", "--seed", "3"]
    both = [str(first), str(second)]
    rc_one, _, _ = run_cli([*argv, "--val", str(kw["val"]), "--out", str(tmp_path / "one")])
    rc_two, _, _ = run_cli([*argv, "--val", *both, "--out", str(tmp_path / "two")])
    assert rc_one == rc_two == 0
    accuracy = [float(read_history(tmp_path / d)[-1]["val_accuracy"]) for d in ("one", "two")]
    assert accuracy[0] == pytest.approx(accuracy[1], abs=1e-6)

    lines = second.read_text().splitlines()
    lines[1] = lines[1].replace(f'"label": "{val[half + 1].label}"', '"label": "never_seen"')
    second.write_text("\n".join(lines) + "\n")
    rc, _, stderr = run_cli([*argv, "--val", *both, "--out", str(tmp_path / "x")])
    assert rc != 0
    line = one_line_error(stderr)
    assert f"{second}:2" in line and "'never_seen' never occurs in the training manifests" in line


def test_a_speech_span_is_narrowed_to_its_voiced_frames() -> None:
    """A span that starts well before a word (as a per-frame model's did) is moved onto
    the word's voiced frames, as the word alone would have them."""
    from asr.audio import load_audio
    from asr.classify import Span, voiced_frames, voiced_span
    from asr.features import compute_features

    config = Config(
        task="classify",
        features=FeatureConfig(kind="fbank", num_filters=40),
        model=ClassifierModelConfig(arch="cnn", frames=99),
        labels=("a", "b"),
    )
    word = load_audio(Path(__file__).parents[1] / "data" / "keywords" / "stop.wav", 16_000)
    alone = np.flatnonzero(voiced_frames(compute_features(word, config.features), config))
    gap = np.random.default_rng(0).normal(0, 1e-4, 16_000).astype(np.float32)
    samples = np.concatenate([gap, word, gap])
    onset = 1.0 + alone[0] * 0.01  # where the word's voiced frames begin, in the recording
    offset = 1.0 + alone[-1] * 0.01 + 0.025
    wide = Span(onset - 0.45, min(offset + 0.3, 3.0), "speech", 0.9)
    narrowed = voiced_span(samples, wide, config)
    assert narrowed.start == pytest.approx(onset, abs=0.03)
    assert narrowed.end == pytest.approx(offset, abs=0.03)
    assert (narrowed.label, narrowed.score) == ("speech", 0.9)


def test_model_loads_with_safe_mode_without_importing_asr(kw, tmp_path) -> None:
    out = _train(kw, tmp_path / "m", epochs=1, arch="crnn", frames=100, per_frame=True, aux=True)
    classifier = Classifier.load(out)
    feats = classifier.features(sorted((kw["root"] / "val").glob("*.wav"))[0])
    n = min(feats.shape[0], 100)
    np.save(tmp_path / "x.npy", place(feats, 100, 0))
    code = (
        "import sys, keras, numpy as np\n"
        f"m = keras.saving.load_model({str(out / 'model.keras')!r}, safe_mode=True)\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})[None]\n"
        f"y = m.predict_on_batch({{'features': x, 'input_length': np.array([{n}], 'int32')}})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y)\n"
        "assert not any(k == 'asr' or k.startswith('asr.') for k in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    plain = np.load(tmp_path / "y.npy")
    assert plain.shape == (1, 100, 4)  # per frame: background and the three words
    np.testing.assert_allclose(plain, classifier._run([place(feats, 100, 0)], [n]), atol=1e-5)


def test_padding_does_not_change_a_variable_length_clip(kw, tmp_path) -> None:
    out = _train(kw, tmp_path / "lstm", epochs=1, arch="lstm", frames=0)
    classifier = Classifier.load(out)
    clips = sorted((kw["root"] / "val").glob("*.wav"))
    feats = classifier.features(clips[0])
    n = feats.shape[0]
    exact = classifier._run([feats], [n])
    # clip_probabilities pads each clip to its own bucket, so pad by hand well past that
    padded = place(feats, 2 * n + 7, 0)
    assert np.allclose(exact, classifier._run([padded], [n]), atol=1e-5)
    padded[n:] = 5.0  # what lies past the length must not matter either
    assert np.allclose(exact, classifier._run([padded], [n]), atol=1e-5)


def test_resume_continues_the_history(kw, tmp_path) -> None:
    out = _train(kw, tmp_path / "r", epochs=2, arch="dense")
    options = ClassifyTrainOptions(
        train=kw["train"], val=kw["val"], out=out, epochs=3, jobs=1, progress=False, resume=True
    )
    result = train_classifier(options)
    assert result.epochs == 3
    assert [r.split(",")[0] for r in (out / "history.csv").read_text().split()[1:]] == [
        "1",
        "2",
        "3",
    ]


def test_cli_predict_evaluate_and_report(kw, tmp_path) -> None:
    out = _train(kw, tmp_path / "m", epochs=2, arch="dense")
    clips = sorted((kw["root"] / "val").glob("*.wav"))[:3]
    rc, stdout, _ = run_cli(["classify", "predict", "--model", str(out), *map(str, clips)])
    assert rc == 0
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert [r[0] for r in rows] == [str(c) for c in clips]
    assert all(r[1] in ("no", "up", "yes") and 0 < float(r[2]) <= 1 for r in rows)
    rc, stdout, _ = run_cli(
        ["classify", "predict", "--model", str(out), str(clips[0]), "--format", "json"]
    )
    [row] = json.loads(stdout)
    assert row["label"] == row["top"][0]["label"] and len(row["top"]) == 3
    report = tmp_path / "eval.json"
    rc, stdout, _ = run_cli(
        ["classify", "evaluate", "--model", str(out), "--manifest", str(kw["val"]),
         "--report", str(report)]
    )  # fmt: skip
    assert rc == 0 and stdout.startswith("accuracy ")
    data = json.loads(report.read_text())
    assert data["count"] == 12 and np.array(data["confusion"]).sum() == 12
    assert data["labels"] == ["no", "up", "yes"] and len(data["clips"]) == 12
    page = report.with_suffix(".html").read_text()
    assert "Confusion matrix" in page and '<table class="matrix">' in page
    # a manifest that names speakers gets accuracy per speaker (file names are word_voice_rate)
    named = tmp_path / "named.jsonl"
    lines = [json.loads(line) for line in kw["val"].read_text().splitlines()]
    for row in lines:
        row["audio_filepath"] = str(kw["val"].parent / row["audio_filepath"])
        row["speaker"] = "voice" + Path(row["audio_filepath"]).stem.split("_")[1]
    named.write_text("".join(json.dumps(row) + "\n" for row in lines))
    rc, stdout, _ = run_cli(
        ["classify", "evaluate", "--model", str(out), "--manifest", str(named),
         "--report", str(tmp_path / "named_eval.json")]
    )  # fmt: skip
    table = stdout.split("speaker\taccuracy\tclips\n")[1].splitlines()[:-1]  # then "report..."
    assert sorted(line.split("\t")[0] for line in table) == ["voice0", "voice1"]
    assert all(line.split("\t")[2] == "6" for line in table)
    speakers = json.loads((tmp_path / "named_eval.json").read_text())["speakers"]
    assert "Per speaker" in (tmp_path / "named_eval.html").read_text()
    assert "Per speaker" not in page  # a manifest without speakers gets no such table
    assert sum(s["clips"] for s in speakers) == 12
    rc, _, stderr = run_cli(
        ["classify", "evaluate", "--model", str(out), "--manifest", str(kw["val"]),
         "--report", str(report)]
    )  # fmt: skip
    assert rc == 2 and "already exists" in one_line_error(stderr)


def test_refusals_name_the_file_and_line(kw, tmp_path) -> None:
    root = kw["root"]
    wavs = sorted((root / "train").glob("*.wav"))
    one_class = write_labels(root / "one.jsonl", [(w, "yes") for w in wavs[:4]])
    with pytest.raises(AsrError, match=r"one.jsonl: every clip has the label 'yes'.*two"):
        train_classifier(
            ClassifyTrainOptions(
                train=one_class, val=kw["val"], out=tmp_path / "a", jobs=1, progress=False
            )
        )
    unseen = write_labels(root / "unseen.jsonl", [(wavs[0], "yes"), (wavs[1], "maybe")])
    with pytest.raises(AsrError, match=r"unseen.jsonl:2: label 'maybe' never occurs"):
        train_classifier(
            ClassifyTrainOptions(
                train=kw["train"], val=unseen, out=tmp_path / "b", jobs=1, progress=False
            )
        )
    blip = root / "blip.wav"
    sf.write(blip, np.zeros(800, np.float32), 16000)  # 50 ms: 4 frames of a 99-frame model
    short = write_labels(root / "short.jsonl", [(wavs[0], "yes"), (blip, "no")])
    with pytest.raises(AsrError, match=r"short.jsonl:2: audio of 4 frames is too short"):
        train_classifier(
            ClassifyTrainOptions(
                train=kw["train"], val=short, out=tmp_path / "c", jobs=1, progress=False
            )
        )
    assert not (tmp_path / "c" / "config.json").exists()  # refused before writing anything
    missing = root / "missing.jsonl"
    missing.write_text(json.dumps({"audio_filepath": str(wavs[0])}) + "\n")
    with pytest.raises(ManifestError, match=r"missing.jsonl:1: missing key 'label'"):
        train_classifier(
            ClassifyTrainOptions(
                train=missing, val=kw["val"], out=tmp_path / "d", jobs=1, progress=False
            )
        )


def test_evaluate_refuses_a_label_the_model_does_not_know(kw, tmp_path) -> None:
    out = _train(kw, tmp_path / "m", epochs=1, arch="dense")
    wavs = sorted((kw["root"] / "val").glob("*.wav"))
    odd = write_labels(kw["root"] / "odd.jsonl", [(wavs[0], "yes"), (wavs[1], "left")])
    rc, _, stderr = run_cli(["classify", "evaluate", "--model", str(out), "--manifest", str(odd)])
    assert rc == 2
    assert "odd.jsonl:2: label 'left' is not one this model knows" in one_line_error(stderr)
    rc, _, stderr = run_cli(["classify", "detect", "--model", str(out), str(wavs[0])])
    assert rc == 2 and "detection needs --per-frame" in one_line_error(stderr)


def test_accuracy_by_speaker_puts_the_worst_first() -> None:
    rows = [
        {"label": "a", "predicted": "a", "speaker": "kim"},
        {"label": "a", "predicted": "b", "speaker": "kim"},
        {"label": "b", "predicted": "b", "speaker": "lee"},
        {"label": "b", "predicted": "b"},  # no speaker: counted overall only
    ]
    report = score_classes(["a", "b"], [0, 0, 1, 1], [0, 1, 1, 1], rows)
    assert report.by_speaker() == [("kim", 1, 2), ("lee", 1, 1)]
    assert report.to_dict()["speakers"][0] == {"speaker": "kim", "accuracy": 0.5, "clips": 2}
    assert score_classes(["a", "b"], [0], [0], [{"label": "a"}]).by_speaker() == []


def test_config_rules() -> None:
    with pytest.raises(ValueError, match="dense needs a fixed frame count"):
        ClassifierModelConfig(arch="dense", frames=0)
    with pytest.raises(ValueError, match="per-frame output needs a recurrent"):
        ClassifierModelConfig(arch="cnn", per_frame=True)
    with pytest.raises(ValueError, match="auxiliary"):
        ClassifierModelConfig(arch="lstm", aux=True)
    with pytest.raises(ValueError, match="two or more distinct labels"):
        Config(task="classify", model=ClassifierModelConfig(), labels=("yes",))
    config = Config(task="classify", model=ClassifierModelConfig(arch="lstm"), labels=("a", "b"))
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert "labels" not in Config().to_dict()  # CTC configs are as before
    # the pitch key is written only when on, so older releases read configs without it
    assert "pitch" not in config.to_dict()["features"]
    pitched = dataclasses.replace(config, features=FeatureConfig(pitch=True))
    assert Config.from_dict(json.loads(json.dumps(pitched.to_dict()))) == pitched


def test_warp_can_be_left_out_for_labels_about_the_voice(tmp_path) -> None:
    """--no-warp keeps placement and masking; the warp would blur a speaker-gender cue."""
    features = FeatureConfig(kind="fbank", num_filters=40)
    norm = Normalizer(np.zeros(features.dim), np.ones(features.dim))

    def kinds(**kw) -> list[type]:
        options = ClassifyTrainOptions(train=[tmp_path], val=tmp_path, out=tmp_path, **kw)
        return [type(a) for a in batch_augmentations(options, features, norm)]

    assert kinds() == [VocalTractWarp, SpecAugment]
    assert kinds(warp=False) == [SpecAugment]
    assert kinds(augment=False) == []
    options = ClassifyTrainOptions(train=[tmp_path], val=tmp_path, out=tmp_path)
    zcr = FeatureConfig(zcr=True)
    norm_zcr = Normalizer(np.zeros(zcr.dim), np.ones(zcr.dim))
    assert [type(a) for a in batch_augmentations(options, zcr, norm_zcr)] == [SpecAugment]


def test_shipped_keyword_model_labels_the_sample_clips() -> None:
    from asr.classify import default_classifier_dir

    model_dir = default_classifier_dir()
    config = load_config(model_dir)
    assert config.task == "classify" and len(config.labels) == 12
    assert {"silence", "unknown", "yes", "go"} <= set(config.labels)
    size = sum(f.stat().st_size for f in model_dir.iterdir())
    assert size < 5 * 2**20
    samples = sorted((Path(__file__).parents[1] / "data" / "keywords").glob("*.wav"))
    assert len(samples) == 5
    for runtime in ("keras", "onnx"):
        classifier = Classifier.load(model_dir, runtime=runtime)
        assert classifier.model.count_params() < 100_000 if runtime == "keras" else True
        results = classifier.predict_files(samples)
        right = [p for p, top in results if Path(p).stem == top[0][0]]
        assert len(right) >= 4, results  # the clips' voices were never trained on
        real = Path(__file__).parents[1] / "data" / "keywords" / "real" / "no.wav"
        assert classifier.predict(real)[0] == "no"  # a real person (measured: 0.99)
    rc, stdout, _ = run_cli(["classify", "predict", *map(str, samples)])
    assert rc == 0 and [line.split("\t")[0] for line in stdout.splitlines()] == list(
        map(str, samples)
    )


def test_a_detection_window_is_mean_normalized_on_its_own() -> None:
    """Over a long recording, each window of a CMN model looks as its audio alone would."""
    from asr.features import Normalizer, compute_features

    features = FeatureConfig(kind="fbank", num_filters=20, cmn=True)
    rng = np.random.default_rng(0)
    samples = rng.normal(0, 0.05, 16000 * 3).astype(np.float32)
    samples[16000:20000] *= 10  # a loud stretch, so window means differ from the file's
    mean, std = rng.normal(0, 0.3, features.dim), rng.uniform(0.5, 2, features.dim)
    config = Config(
        task="classify",
        features=features,
        model=ClassifierModelConfig(arch="lstm", frames=100, per_frame=True),
        labels=("_background_", "a"),
        mean=tuple(mean),
        std=tuple(std),
    )
    classifier = Classifier(None, config)
    whole = classifier.features(samples)
    start, width = 120, 100
    window = classifier._recenter(whole[start : start + width], width)
    hop, win = 160, 400
    alone = compute_features(samples[start * hop : (start + width - 1) * hop + win], features)
    expected = Normalizer(mean, std)(alone)
    static = features.base_dim
    assert alone.shape[0] == width
    # frame 0 differs a little: pre-emphasis has no previous sample at the cut
    assert np.allclose(window[1:, :static], expected[1:, :static], atol=1e-3)
    assert not np.allclose(whole[start : start + width, :static], expected[:, :static], atol=0.1)


def test_bidirectional_is_for_recurrent_models() -> None:
    with pytest.raises(ValueError, match="bidirectional needs a recurrent"):
        ClassifierModelConfig(arch="cnn", bidirectional=True)
    config = Config(
        task="classify",
        model=ClassifierModelConfig(arch="lstm", frames=0, per_frame=True, bidirectional=True),
        labels=("_background_", "a"),
    )
    from asr.classifiers import build_lstm

    model = build_lstm(config)
    x = np.zeros((2, 30, config.features.dim), np.float32)
    x[0, 0] = 5.0  # an event at the first frame must reach frame 0's output of row 0 only
    y = model.predict_on_batch({"features": x, "input_length": np.array([30, 20], np.int32)})
    assert y.shape == (2, 30, 2) and "bilstm" in [layer.name for layer in model.layers]


def test_crnn_aux_branch_takes_the_pitch_beside_the_zero_crossing_rate() -> None:
    """With pitch on, the frame convolution still sees only the spectrum; the pitch pair
    joins the auxiliary branch with the zero-crossing rate and the deltas."""
    from asr.classifiers import build_crnn

    features = FeatureConfig(kind="fbank", num_filters=20, zcr=True, pitch=True)
    config = Config(
        task="classify",
        features=features,
        model=ClassifierModelConfig(arch="crnn", frames=0, per_frame=True, aux=True, **TINY),
        labels=("_background_", "a", "b"),
    )
    model = build_crnn(config)
    assert model.get_layer("add_channel").output.shape[2] == features.spectral_dim
    assert model.get_layer("aux_dense").input.shape[-1] == features.dim - features.spectral_dim
    x = np.zeros((2, 30, features.dim), np.float32)
    probs = model.predict_on_batch({"features": x, "input_length": np.array([30, 12], np.int32)})
    assert probs.shape == (2, 30, 3)
