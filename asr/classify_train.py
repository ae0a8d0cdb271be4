"""`asr classify train`: features once, padded or cropped batches of integer labels,
``model.fit`` with the sparse cross-entropy, best model by validation accuracy.

The same safety as CTC training (asr.train): refusals before anything is written, atomic
saves of a stock-Keras model.keras, a resume point and a history.csv row every epoch, and
one-line errors that name the manifest line. Validation scores clips exactly as
``Classifier`` does at inference (same windows, same padding), so its accuracy is the one
users get.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from asr.architectures import CLASSIFY, get_architecture
from asr.buckets import bucket_width
from asr.classify import (
    BACKGROUND,
    Classifier,
    frame_targets,
    min_clip_frames,
    place,
)
from asr.config import ClassifierModelConfig, Config, load_config, save_config
from asr.data import (
    SORT_JITTER,
    Augmentation,
    FeatureSet,
    SpecAugment,
    VocalTractWarp,
    resample_frames,
)
from asr.errors import AsrError
from asr.features import FeatureConfig, Normalizer
from asr.modelio import (
    latest_resume_state,
    load_resume_state,
    remove_stale_temp_files,
    save_inference_model,
    save_resume_state,
)
from asr.train import (
    HISTORY_NAME,
    TqdmProgress,
    _as_paths,
    _check_out_dir,
    _log,
    _names,
    _truncate_history,
    _write_skipped,
    append_history,
    learning_rate,
)

HISTORY_FIELDS = ["epoch", "loss", "val_loss", "val_accuracy", "seconds"]


@dataclass
class ClassifyTrainOptions:
    """What `asr classify train` was asked to do."""

    train: Path | Sequence[Path]
    val: Path | Sequence[Path]
    out: Path
    model: ClassifierModelConfig = field(default_factory=ClassifierModelConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    resume: bool = False
    force: bool = False
    seed: int = 0
    jobs: int | None = None
    progress: bool = True
    augment: bool = True  # random placement in the window, vocal-tract warp, masking
    # the warp makes one voice sound like another's vocal tract: off when the labels are
    # about the voice (speaker gender), where it would teach the model to ignore the cue
    warp: bool = True
    # a random tempo change per training clip, up to +-stretch (0: off; with augment only)
    stretch: float = 0.0
    skip_invalid: bool = False
    init_from: Path | None = None  # unused by classifiers; _check_out_dir reads it
    # the "encoder" architecture: the speech model directory whose weights, features and
    # normalization it starts from (asr.transfer)
    encoder: Path | None = None
    # distillation: a trained classifier of the same labels whose probabilities on each
    # training clip are mixed into its target, weighted ``distill`` (asr.classify_train)
    teacher: Path | None = None
    distill: float = 0.5


@dataclass
class ClassifyTrainResult:
    """Where training ended."""

    epochs: int
    best_epoch: int
    best_accuracy: float
    train_clips: int
    parameters: int
    skipped: list[str]


@dataclass
class Examples:
    """Normalized clips with integer labels (and per-frame targets for per-frame models)."""

    features: list[np.ndarray]
    labels: np.ndarray  # (clips,) int32
    targets: list[np.ndarray]  # per-frame models: (frames,) int32 per clip; else empty
    paths: list[str]
    soft: np.ndarray | None = None  # (clips, classes) training targets from a teacher


def _read(paths: Path | Sequence[Path], config: FeatureConfig, jobs, desc, skip) -> tuple:
    """Label manifests -> one FeatureSet (manifest order) and the bad lines left out."""
    from asr.data import extract_features
    from asr.manifest import read_manifest_report

    sets, bad = [], []
    for path in _as_paths(paths):
        if path.suffix == ".npz" or path.is_dir():
            raise AsrError(f"{path}: classifiers train from label manifests; pass the manifest")
        utterances, bad_lines = read_manifest_report(path, skip_invalid=skip, labels=True)
        sets.append(extract_features(utterances, config, jobs=jobs, desc=desc, skip_invalid=skip))
        bad += bad_lines
    return FeatureSet.join(sets), bad


def class_labels(train: FeatureSet, per_frame: bool, manifests: str) -> tuple[str, ...]:
    """The label list, sorted (background first for per-frame models); one class is an error."""
    found = sorted(set(train.labels))
    if len(found) < 2:
        raise AsrError(
            f"{manifests}: every clip has the label {found[0]!r}; a classifier needs at least "
            "two classes: add clips of another class"
        )
    return (BACKGROUND, *found) if per_frame else tuple(found)


def check_val_labels(val: FeatureSet, labels: Sequence[str], train_names: str) -> None:
    """A validation label never seen in training cannot be predicted: say where it is."""
    known = set(labels)
    for i, label in enumerate(val.labels):
        if label not in known:
            raise AsrError(
                f"{val.where(i)}: label {label!r} never occurs in the training manifests "
                f"({train_names}); add training clips of it, or remove the line"
            )


def too_short(data: FeatureSet, model: ClassifierModelConfig) -> list[str]:
    """Clips too short for a fixed-length model: broken files rather than short words."""
    need = min_clip_frames(model)
    return [
        f"{data.where(i)}: audio of {f.shape[0]} frames is too short for a {model.frames}-frame "
        f"model (at least {need}); check the file, or lower --frames"
        for i, f in enumerate(data.features)
        if f.shape[0] < need
    ]


def make_examples(data: FeatureSet, config: Config, drop: set[int]) -> Examples:
    """Normalize, encode labels and (per-frame) mark voiced frames; ``drop`` indices out."""
    norm = Normalizer(np.array(config.mean), np.array(config.std))
    index = {label: i for i, label in enumerate(config.labels)}
    per_frame = isinstance(config.model, ClassifierModelConfig) and config.model.per_frame
    keep = [i for i in range(len(data.features)) if i not in drop]
    labels = np.array([index[data.labels[i]] for i in keep], dtype=np.int32)
    targets = [
        frame_targets(data.features[i], int(label), index.get(BACKGROUND, 0), config)
        for i, label in zip(keep, labels, strict=True)
        if per_frame
    ]
    feats = [norm(data.features[i]) for i in keep]
    return Examples(feats, labels, targets, [data.paths[i] for i in keep])


class ClipBatches(keras.utils.PyDataset):
    """Training batches: fixed-length windows (randomly placed) or length-bucketed padding.

    Yields ``(inputs, labels)``, or ``(inputs, frame_labels, frame_weights)`` for per-frame
    models, where padding weighs 0.
    """

    def __init__(
        self,
        examples: Examples,
        model: ClassifierModelConfig,
        background: int,
        batch_size: int,
        seed: int,
        augment: Sequence[Augmentation] = (),
        shift: bool = True,
        stretch: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.examples, self.model, self.background = examples, model, background
        self.batch_size, self.augment, self.shift = batch_size, tuple(augment), shift
        self.stretch = stretch
        self._rng = np.random.default_rng(seed)
        self._frames = np.array([f.shape[0] for f in examples.features])
        self._batches = self._make_batches()

    def _make_batches(self) -> list[np.ndarray]:
        n = len(self._frames)
        if self.model.frames:
            order = self._rng.permutation(n)
        else:  # similar lengths together, a little jitter so batches vary by epoch
            keys = self._frames * self._rng.uniform(1 - SORT_JITTER, 1 + SORT_JITTER, n)
            order = np.argsort(keys, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        self._rng.shuffle(batches)
        return self._distinct_first_two(batches)

    def _width(self, batch: np.ndarray) -> int:
        return self.model.frames or bucket_width(int(self._frames[batch].max()))

    def _distinct_first_two(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """Two batches of different widths first: under TensorFlow, Keras fixes every
        dimension the first two batches share (see asr.data.CTCBatches)."""
        widths = [self._width(b) for b in batches]
        for j in range(1, len(batches)):
            if widths[j] != widths[0]:
                return [batches[0], batches[j], *batches[1:j], *batches[j + 1 :]]
        return batches

    def __len__(self) -> int:
        return len(self._batches)

    def on_epoch_end(self) -> None:
        self._batches = self._make_batches()

    def _offset(self, frames: int, width: int) -> int:
        """Where a clip goes in its window: anywhere it fits (training), else centered."""
        if frames == width:
            return 0
        if frames < width:
            return int(self._rng.integers(0, width - frames + 1)) if self.shift else 0
        return -int(self._rng.integers(0, frames - width + 1)) if self.shift else 0

    def _tempo(
        self, feats: np.ndarray, target: np.ndarray | None, width: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """A clip (and its per-frame targets) at a random tempo within 1 +- ``stretch``; a
        variable-length clip never outgrows its batch's padded width."""
        n = feats.shape[0]
        if not self.stretch or n < 2:
            return feats, target
        m = max(2, round(n * self._rng.uniform(1 - self.stretch, 1 + self.stretch)))
        if not self.model.frames:
            m = min(m, width)
        if target is not None:  # each new frame takes the label of the frame it mostly is
            target = target[np.rint(np.linspace(0.0, n - 1.0, m)).astype(np.int64)]
        return resample_frames(feats, m), target

    def __getitem__(self, index: int):
        idx = self._batches[index]
        ex = self.examples
        width = self._width(idx)
        x = np.zeros((len(idx), width, ex.features[0].shape[1]), dtype=np.float32)
        y = np.full((len(idx), width), self.background, dtype=np.int32)
        weights = np.zeros((len(idx), width), dtype=np.float32)
        lengths = np.zeros(len(idx), dtype=np.int32)
        for row, i in enumerate(idx):
            feats, target = self._tempo(
                ex.features[i], ex.targets[i] if ex.targets else None, width
            )
            offset = self._offset(feats.shape[0], width) if self.model.frames else 0
            x[row] = place(feats, width, offset)
            real = place(np.ones((feats.shape[0], 1), np.float32), width, offset)[:, 0]
            weights[row] = real
            lengths[row] = int(real.sum()) if not self.model.frames else width
            if target is not None:
                y[row] = place(target[:, None].astype(np.float32), width, offset)[:, 0]
                y[row][real == 0] = self.background
        for augmentation in self.augment:
            augmentation(x, np.maximum(lengths, 1), self._rng)
        inputs = {"features": x}
        if self.model.recurrent:
            inputs["input_length"] = lengths
        if self.model.per_frame:
            return inputs, y, weights
        return inputs, ex.labels[idx] if ex.soft is None else ex.soft[idx]


def teacher_targets(
    teacher_dir: Path, examples: Examples, labels: Sequence[str], weight: float
) -> np.ndarray:
    """(clips, classes): each clip's one-hot label mixed with a teacher classifier's
    probabilities on the clip (the teacher's own features, no augmentation), ``weight`` on
    the teacher's.

    Why: a small model learns from a bigger one's view of its training clips (which other
    words a clip resembles) what it cannot learn from the labels alone; the teacher may be
    one the target's size bound rules out, such as a classifier on a speech encoder.
    """
    teacher = Classifier.load(teacher_dir, runtime="keras")
    if teacher.spec.per_frame or set(teacher.labels) != set(labels):
        raise AsrError(
            f"{teacher_dir}: a teacher must be a whole-clip classifier of the same labels "
            f"(it has {sorted(teacher.labels)}, the training manifests {sorted(labels)})"
        )
    probs = teacher.clip_probabilities([teacher.features(p) for p in examples.paths])
    probs = probs[:, [list(teacher.labels).index(label) for label in labels]]
    hard = np.eye(len(labels), dtype=np.float32)[examples.labels]
    return ((1 - weight) * hard + weight * probs).astype(np.float32)


def validate(classifier: Classifier, examples: Examples) -> tuple[float, float]:
    """(mean negative log-likelihood, accuracy) scored as inference scores: per clip, or per
    voiced/background frame for a per-frame model."""
    eps = 1e-7
    if classifier.spec.per_frame:
        nll, hits, total = 0.0, 0, 0
        for feats, target in zip(examples.features, examples.targets, strict=True):
            probs = classifier.frame_probabilities(feats)
            picked = probs[np.arange(len(target)), target]
            nll += float(-np.log(picked + eps).sum())
            hits += int((probs.argmax(axis=1) == target).sum())
            total += len(target)
        return nll / total, hits / total
    probs = classifier.clip_probabilities(examples.features)
    picked = probs[np.arange(len(examples.labels)), examples.labels]
    accuracy = float((probs.argmax(axis=1) == examples.labels).mean())
    return float(-np.log(picked + eps).mean()), accuracy


def batch_augmentations(
    options: ClassifyTrainOptions, features: FeatureConfig, norm: Normalizer
) -> list[Augmentation]:
    """What changes training batches: the vocal-tract warp (unless ``options.warp`` is off
    or the features carry a zero-crossing rate, which a warp cannot move) and masking."""
    if not options.augment:
        return []
    augment: list[Augmentation] = []
    if options.warp and not features.zcr:
        augment.append(VocalTractWarp.build(features, norm))
    augment.append(SpecAugment(features.base_dim))
    return augment


def _speech_encoder(options: ClassifyTrainOptions, spec: ClassifierModelConfig) -> Config | None:
    """The speech model an encoder classifier starts from, checked against its spec."""
    if spec.encoder is None:
        if options.encoder is not None:
            raise AsrError(f"--encoder {options.encoder} goes with --arch encoder, not {spec.arch}")
        return None
    if options.encoder is None:
        if options.resume:
            return None  # the stored config has all it needs once an epoch has finished
        raise AsrError("the encoder architecture needs --encoder DIR (a speech model directory)")
    from asr.transfer import speech_encoder_config

    speech = speech_encoder_config(options.encoder, spec.encoder.rnn_layers)
    if speech.model != spec.encoder:
        raise AsrError(
            f"{options.encoder}: its model ({speech.model}) is not the encoder this classifier "
            f"was set up with ({spec.encoder}); pass the speech model it names"
        )
    return speech


def _check_same_encoder(options: ClassifyTrainOptions, speech: Config, stored: Config) -> None:
    """A resumed encoder classifier's --encoder must be the speech model it started from."""
    if (speech.features, speech.mean, speech.std) != (stored.features, stored.mean, stored.std):
        raise AsrError(
            f"{options.encoder}: its features or normalization differ from those "
            f"{options.out} was started with; pass the speech model it started from"
        )


def train_classifier(options: ClassifyTrainOptions) -> ClassifyTrainResult:
    """Run `asr classify train`; returns the best validation accuracy."""
    _check_out_dir(options)  # type: ignore[arg-type]  (the same refusal rules as asr train)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    keras.utils.set_random_seed(options.seed)
    log = _log(options.progress)
    stored = load_config(out) if options.resume else None
    if stored is not None and stored.task != CLASSIFY:
        raise AsrError(f"{out}: holds a {stored.task} model; resume it with asr train")
    spec = stored.model if stored is not None else options.model
    feature_config = stored.features if stored is not None else options.features
    assert isinstance(spec, ClassifierModelConfig)
    speech = _speech_encoder(options, spec)
    if speech is not None and stored is not None:
        _check_same_encoder(options, speech, stored)
    if options.teacher is not None:
        if spec.per_frame:
            raise AsrError("--teacher distills whole-clip classifiers, not per-frame ones")
        if not 0.0 < options.distill <= 1.0:
            raise AsrError(f"--distill {options.distill}: give a weight in (0, 1]")
    if speech is not None:
        feature_config = speech.features  # the encoder's weights expect its own features

    skip = options.skip_invalid
    train_set, train_bad = _read(options.train, feature_config, options.jobs, "train", skip)
    val_set, val_bad = _read(options.val, feature_config, options.jobs, "val", skip)
    names = _names(options.train)
    labels = stored.labels if stored is not None else class_labels(train_set, spec.per_frame, names)
    check_val_labels(val_set, labels, names)
    short = too_short(train_set, spec) + too_short(val_set, spec)
    if short and not skip:
        more = f" (and {len(short) - 1} more)" if len(short) > 1 else ""
        raise AsrError(f"{short[0]}{more}; or pass --skip-invalid to leave such clips out")
    if stored is not None:
        config = stored
    else:
        if speech is not None:  # the encoder's weights expect its own normalization
            mean, std = speech.mean, speech.std
        else:
            fitted = Normalizer.fit(train_set.features)
            mean, std = tuple(fitted.mean.tolist()), tuple(fitted.std.tolist())
        config = Config(
            task=CLASSIFY,
            features=feature_config,
            model=spec,
            mean=mean,
            std=std,
            labels=tuple(labels),
        )
    need = min_clip_frames(spec)
    train_ex = make_examples(
        train_set, config, {i for i, f in enumerate(train_set.features) if f.shape[0] < need}
    )
    val_ex = make_examples(
        val_set, config, {i for i, f in enumerate(val_set.features) if f.shape[0] < need}
    )
    if options.teacher is not None:
        log(f"soft targets from {options.teacher} (weight {options.distill})")
        train_ex.soft = teacher_targets(options.teacher, train_ex, labels, options.distill)
    if not options.resume:
        save_config(config, out)
    skipped = train_bad + val_bad + train_set.skipped + val_set.skipped + short
    _write_skipped(out, skipped)
    if skipped:
        log(f"left out {len(skipped)} clips, listed in {out / 'skipped.txt'}; first: {skipped[0]}")
    counts = np.bincount(train_ex.labels, minlength=len(labels))
    log(
        f"training on {len(train_ex.labels)} clips in {len(labels)} classes "
        f"({', '.join(f'{lab} {n}' for lab, n in zip(labels, counts, strict=True))}), "
        f"validating on {len(val_ex.labels)}"
    )

    model = get_architecture(spec.arch, CLASSIFY).build(config, fast=True)
    norm = Normalizer(np.array(config.mean), np.array(config.std))
    augment = batch_augmentations(options, feature_config, norm)
    background = labels.index(BACKGROUND) if BACKGROUND in labels else 0

    def batches_for(epoch: int) -> ClipBatches:
        return ClipBatches(
            train_ex,
            spec,
            background,
            options.batch_size,
            seed=options.seed + epoch,
            augment=augment,
            shift=options.augment,
            stretch=options.stretch if options.augment else 0.0,
        )

    batches = batches_for(0)
    rate = learning_rate(options.learning_rate, options.lr_schedule, options.epochs * len(batches))
    model.compile(
        optimizer=keras.optimizers.Adam(rate, global_clipnorm=5.0),
        loss=keras.losses.SparseCategoricalCrossentropy()
        if train_ex.soft is None
        else keras.losses.CategoricalCrossentropy(),
    )
    state: dict[str, Any] = {"best_accuracy": -1.0, "best_epoch": 0}
    initial_epoch = 0
    if options.resume:
        folder = latest_resume_state(out)
        if folder is not None:
            state = load_resume_state(folder, model)
            initial_epoch = int(state["epoch"])
            _truncate_history(out / HISTORY_NAME, initial_epoch)
            log(
                f"resuming after epoch {initial_epoch} (best val accuracy "
                f"{state['best_accuracy']:.2%})"
            )
            batches = batches_for(initial_epoch)
    if initial_epoch == 0 and spec.encoder is not None:
        if options.encoder is None:
            raise AsrError(
                f"{out}: no epoch finished yet, so the encoder's weights must be copied again: "
                "pass --encoder DIR (the speech model it was started from)"
            )
        from asr.transfer import copy_encoder_weights

        copy_encoder_weights(model, options.encoder, spec.encoder)
    if initial_epoch >= options.epochs:
        log(f"already trained {initial_epoch} epochs; raise --epochs to train more")
    monitor = ClassifyEpochEnd(Classifier(model, config), val_ex, out, config, state, log)
    callbacks: list[keras.callbacks.Callback] = [monitor]
    if options.progress:
        callbacks.insert(0, TqdmProgress(len(batches)))
    if initial_epoch < options.epochs:
        model.fit(
            batches,
            epochs=options.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            shuffle=False,  # the batches shuffle themselves, from --seed (Keras' would not)
            verbose=0,
        )
    if monitor.non_finite is not None:
        raise AsrError(
            f"training loss became {monitor.non_finite[1]} in epoch {monitor.non_finite[0]}; "
            f"stopped without saving that epoch; lower --learning-rate and --resume"
        )
    return ClassifyTrainResult(
        epochs=max(initial_epoch, monitor.last_epoch),
        best_epoch=int(state["best_epoch"]),
        best_accuracy=float(state["best_accuracy"]),
        train_clips=len(train_ex.labels),
        parameters=model.count_params(),
        skipped=skipped,
    )


class ClassifyEpochEnd(keras.callbacks.Callback):
    """Validation accuracy, best-model saving, history and the resume point every epoch."""

    def __init__(self, classifier: Classifier, val_ex: Examples, out, config, state, log):
        super().__init__()
        self.classifier, self.val_ex, self.out = classifier, val_ex, Path(out)
        self.config, self.state, self.log = config, state, log
        self.started = time.perf_counter()
        self.last_epoch = 0
        self.non_finite: tuple[int, float] | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) and self.non_finite is None:
            self.non_finite = (0, loss)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", math.nan))
        if self.non_finite is not None or not math.isfinite(loss):
            self.non_finite = (epoch + 1, loss)
            self.model.stop_training = True
            return
        val_loss, accuracy = validate(self.classifier, self.val_ex)
        seconds = time.perf_counter() - self.started
        self.last_epoch = epoch + 1
        improved = accuracy > self.state["best_accuracy"]
        if improved:
            save_inference_model(self.model, self.out, self.config)
            self.state.update(best_accuracy=accuracy, best_epoch=epoch + 1)
        self._append_history([epoch + 1, loss, val_loss, accuracy, seconds])
        save_resume_state(self.out, epoch + 1, self.model, self.state)
        self.log(
            f"epoch {epoch + 1}: loss {loss:.4f}  val_loss {val_loss:.4f}  "
            f"val accuracy {accuracy:.2%}  {seconds:.0f}s" + ("  [saved best]" if improved else "")
        )

    def _append_history(self, row: list) -> None:
        append_history(self.out / HISTORY_NAME, HISTORY_FIELDS, row)
