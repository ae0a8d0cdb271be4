"""Training: features once, bucketed CTC batches, ``model.fit``, best-by-CER checkpoints.

Each epoch ends with validation loss, CER and WER, a history.csv row, TensorBoard scalars
(when TensorFlow is importable) and a resume point; long epochs get one every --save-every
minutes too, so a crash loses minutes of training, not an hour-long epoch.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm import tqdm

from asr.architectures import CTC
from asr.config import CONFIG_NAME, Config, load_config, save_config
from asr.data import (
    Augmentation,
    BatchEdit,
    CTCBatches,
    FeatureSet,
    NoiseRows,
    Prepared,
    SpecAugment,
    TimeStretch,
    VocalTractWarp,
    extract_features,
    prepare_examples,
)
from asr.decoding import greedy_decode_batch
from asr.distribute import Parallel, adam, initialize_processes
from asr.distribute import setup as setup_parallel
from asr.errors import AsrError, ManifestError, ProcessLost
from asr.features import FeatureConfig, Normalizer
from asr.fileio import atomic_path, atomic_write_text
from asr.manifest import read_manifest_report
from asr.metrics import error_rates
from asr.model import build_inference_model, build_training_model
from asr.modelio import (
    latest_resume_state,
    load_inference_model,
    load_resume_state,
    remove_stale_temp_files,
    save_inference_model,
    save_resume_state,
)
from asr.shards import is_pack_dir
from asr.text import Tokenizer

HISTORY_NAME = "history.csv"
CLIPNORM = 5.0  # the gradient's global norm is clipped to this (CTC's early steps spike)
SKIPPED_NAME = "skipped.txt"
HISTORY_FIELDS = ["epoch", "loss", "val_loss", "val_cer", "val_wer", "seconds", "train_xrt"]
BLANK_WARNING_EPOCHS = 3
LR_SCHEDULES = ("constant", "cosine")
COSINE_FLOOR = 0.05


@dataclass
class TrainOptions:
    """What `asr train` was asked to do."""

    train: Path | Sequence[Path]  # several manifests (or packs) train as one corpus
    val: Path
    out: Path
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    config: Config = field(default_factory=Config)
    resume: bool = False
    force: bool = False
    seed: int = 0
    jobs: int | None = None
    progress: bool = True
    augment: bool = True  # SpecAugment-style masking of training batches
    warp: bool = True  # a random vocal-tract (frequency) warp per training utterance
    stretch: float = 0.0  # a random tempo change per training utterance, up to +-stretch
    noise_rows: float = 0.0  # this share of training rows becomes noise with an empty label
    init_from: Path | None = None  # start from this model directory's weights (fine-tuning)
    skip_invalid: bool = False  # leave out bad lines/audio/unfit transcripts instead of failing
    devices: int | None = 1  # split each batch over this many local devices (None: all)
    coordinator: str | None = None  # HOST:PORT of process 0, for a multi-process JAX run
    num_processes: int = 1
    process_id: int = 0
    lr_schedule: str = "constant"  # or "cosine": decay to COSINE_FLOOR x the rate by --epochs
    cmn: bool | None = None  # with init_from: switch per-utterance CMN (normalization refit)
    save_every: float = 30.0  # minutes between resume points inside an epoch (0: none)


@dataclass
class TrainResult:
    """Where training ended."""

    epochs: int
    best_epoch: int
    best_cer: float
    best_wer: float
    train_hours: float
    train_xrt: float  # audio seconds trained per wall-clock second, last epoch
    skipped: list[str]


def _check_out_dir(options: TrainOptions) -> None:
    """Refuse to mix a new run into a folder the user already has, unless asked."""
    out = options.out
    if options.init_from is not None and options.resume:
        raise AsrError("--init-from starts a new run and --resume continues one; pick one")
    if options.resume:
        if not (out / CONFIG_NAME).is_file():
            raise AsrError(f"{out}: nothing to resume (no {CONFIG_NAME}); drop --resume")
        return
    if out.exists() and not out.is_dir():
        raise AsrError(f"{out}: exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not options.force:
        raise AsrError(
            f"{out}: directory is not empty; pass --resume to continue that run, "
            "--force to train over it, or choose another --out"
        )


def _as_paths(path: Path | Sequence[Path]) -> list[Path]:
    """``--train`` may name one manifest or several."""
    return [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]


def load_feature_set(
    path: Path | Sequence[Path],
    config: FeatureConfig,
    jobs: int | None,
    desc: str,
    skip_invalid: bool = False,
) -> tuple[FeatureSet, list[str]]:
    """Manifests (features extracted now) or packs (``asr pack``: read on demand),
    joined in the order given, and the manifest lines left out (only with ``skip_invalid``;
    otherwise they raise)."""
    paths = _as_paths(path)
    if not paths:
        raise AsrError(f"{desc}: no manifest given; name at least one")
    sets: list[FeatureSet] = []
    bad: list[str] = []
    for one in paths:
        if one.suffix == ".npz":
            raise ManifestError(
                f"{one}: a feature pack of an earlier asr (.npz); make a pack of its manifest "
                "with `asr pack MANIFEST --out DIR` and train on DIR"
            )
        if is_pack_dir(one):
            sets.append(FeatureSet.open_pack(one, config))
            continue
        utterances, bad_lines = read_manifest_report(one, skip_invalid=skip_invalid)
        sets.append(
            extract_features(utterances, config, jobs=jobs, desc=desc, skip_invalid=skip_invalid)
        )
        bad += bad_lines
    return FeatureSet.join(sets), bad


@dataclass
class Skipped:
    """What one manifest lost before training, by stage, so the user hears how many and why."""

    manifest: str  # one manifest, or several joined with ", "
    total: int  # lines with an utterance, bad ones included
    bad_lines: list[str]
    bad_audio: list[str]
    unfit: list[str]

    @property
    def messages(self) -> list[str]:
        """One ``<manifest>:<line>: <reason>`` per utterance left out."""
        return self.bad_lines + self.bad_audio + self.unfit

    def summary(self) -> str:
        """``m.jsonl: skipped 3 of 40 utterances (1 bad manifest line, 2 ...)``."""
        counts = [
            (len(self.bad_lines), "bad manifest lines"),
            (len(self.bad_audio), "unreadable audio files"),
            (len(self.unfit), "transcripts too long for their audio"),
        ]
        why = ", ".join(f"{n} {what}" for n, what in counts if n)
        return f"{self.manifest}: skipped {len(self.messages)} of {self.total} utterances ({why})"


def _names(paths: Path | Sequence[Path]) -> str:
    """How a summary names the manifests it counts."""
    return ", ".join(map(str, _as_paths(paths)))


def _check_skipped(skips: list[Skipped], skip_invalid: bool) -> None:
    """Without --skip-invalid, unfit transcripts stop the run before any training (bad lines
    and audio already did, where they were read)."""
    unfit = [m for s in skips for m in s.unfit]
    if unfit and not skip_invalid:
        more = f" (and {len(unfit) - 1} more)" if len(unfit) > 1 else ""
        raise AsrError(
            f"{unfit[0]}{more}; fix or remove such lines, or pass --skip-invalid to leave them out"
        )


def train(options: TrainOptions) -> TrainResult:
    """Run `asr train`; returns the best validation CER/WER and throughput."""
    if options.num_processes > 1:
        initialize_processes(options.coordinator or "", options.num_processes, options.process_id)
    if options.process_id == 0:  # the others write nothing, so they check nothing either
        _check_out_dir(options)
    parallel = setup_parallel(options.devices, options.batch_size)  # bad --devices: nothing made
    try:
        return _train(options, parallel)
    finally:
        parallel.close()


def _train(options: TrainOptions, parallel: Parallel) -> TrainResult:
    out = options.out
    if parallel.chief:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(out)  # left by a run killed in the middle of a save
    keras.utils.set_random_seed(options.seed)
    if options.resume:
        config = load_config(out)
    elif options.init_from is not None:
        # fine-tuning keeps the source model's features, normalization and alphabet
        config = load_config(options.init_from, task=CTC)
        if options.cmn is not None and options.cmn != config.features.cmn:
            # same dimensions, new statistics: the weights carry over, the normalizer is refit
            features = dataclasses.replace(config.features, cmn=options.cmn)
            config = dataclasses.replace(config, features=features, mean=(), std=())
    else:
        config = options.config
    log = _log(options.progress and parallel.chief)

    skip = options.skip_invalid
    train_set, train_bad = load_feature_set(
        options.train, config.features, options.jobs, "train features", skip
    )
    val_set, val_bad = load_feature_set(
        options.val, config.features, options.jobs, "val features", skip
    )
    if not config.mean:
        fitted = Normalizer.fit(train_set.features)
        config = dataclasses.replace(
            config, mean=tuple(fitted.mean.tolist()), std=tuple(fitted.std.tolist())
        )
    norm = Normalizer(np.array(config.mean), np.array(config.std))
    tokenizer = Tokenizer(config.alphabet)
    train_ex = prepare_examples(train_set, norm, tokenizer, config.model)
    val_ex = prepare_examples(val_set, norm, tokenizer, config.model)
    skips = [
        Skipped(
            _names(options.train),
            len(train_set.features) + len(train_bad) + len(train_set.skipped),
            train_bad,
            train_set.skipped,
            train_ex.skipped,
        ),
        Skipped(
            _names(options.val),
            len(val_set.features) + len(val_bad) + len(val_set.skipped),
            val_bad,
            val_set.skipped,
            val_ex.skipped,
        ),
    ]
    _check_skipped(skips, skip)
    skipped = [m for s in skips for m in s.messages]
    if parallel.chief:
        if not options.resume:
            save_config(config, out)  # only now: bad input must not leave a half-made --out
        _write_skipped(out, skipped)
    for s in skips:
        if s.messages:
            log(f"{s.summary()}; first: {s.messages[0]}")
    if skipped:
        log(f"every utterance left out, and why: {out / SKIPPED_NAME}")
    log(
        f"training on {len(train_ex.features)} utterances ({train_set.hours:.2f} h), "
        f"validating on {len(val_ex.features)}"
    )

    if parallel.count > 1:
        log(
            f"data parallel over {parallel.count} devices ({', '.join(parallel.names)})"
            + (f" in {parallel.num_processes} processes" if parallel.num_processes > 1 else "")
            + f", {options.batch_size // parallel.count} utterances each per step"
        )
    with parallel.scope():
        inference = build_inference_model(config)
        if options.init_from is not None:
            source = load_inference_model(options.init_from, config)
            inference.set_weights(source.get_weights())
            log(f"starting from the weights of {options.init_from}")
        training = build_training_model(inference)
    return _fit(
        options,
        config,
        inference,
        training,
        train_ex,
        val_ex,
        train_set,
        skipped,
        norm,
        parallel,
        log,
    )


def _fit(
    options: TrainOptions,
    config: Config,
    inference: keras.Model,
    training: keras.Model,
    train_ex: Prepared,
    val_ex: Prepared,
    train_set: FeatureSet,
    skipped: list[str],
    norm: Normalizer,
    parallel: Parallel,
    log,
) -> TrainResult:
    """Compile, resume if asked, and run ``model.fit`` with the per-epoch callbacks."""
    out = options.out
    tokenizer = Tokenizer(config.alphabet)
    augmentations: list[Augmentation] = []
    if options.warp:  # first: masks stay at the mean instead of being warped away from it
        augmentations.append(VocalTractWarp.build(config.features, norm))
    if options.augment:
        augmentations.append(SpecAugment(config.features.base_dim))
    edits: list[BatchEdit] = []
    if options.augment and options.stretch:
        edits.append(TimeStretch(config.model, options.stretch))
    if options.augment and options.noise_rows:
        edits.append(NoiseRows.build(config.features, norm, options.noise_rows))

    def train_batches(epoch: int) -> CTCBatches:
        return CTCBatches(
            train_ex,
            config.model,
            options.batch_size,
            seed=options.seed,
            epoch=epoch,
            drop_remainder=True,
            augment=augmentations,
            share=parallel.share,
            edits=edits,
        )

    batches = train_batches(0)  # a cosine schedule needs the number of steps per epoch
    rate = learning_rate(options.learning_rate, options.lr_schedule, options.epochs * len(batches))
    with parallel.scope():
        training.compile(optimizer=adam(rate, parallel, CLIPNORM))
    if options.lr_schedule == "cosine":
        log(
            f"learning rate: cosine from {options.learning_rate:g} to "
            f"{options.learning_rate * COSINE_FLOOR:g} at epoch {options.epochs}"
        )
    state: dict[str, Any] = {"best_cer": math.inf, "best_wer": math.inf, "best_epoch": 0}
    initial_epoch = done = 0
    if options.resume:
        folder = latest_resume_state(out)
        if folder is not None:
            with parallel.scope():
                state = load_resume_state(folder, training)
            initial_epoch, trained = int(state["epoch"]), state.pop("trained", [])
            state.pop("batch", None)
            done = len(trained)
            _truncate_history(out / HISTORY_NAME, initial_epoch)
            batches = train_batches(initial_epoch)  # the order that epoch would have had
            best = f" (best val CER {state['best_cer']:.2%})" if initial_epoch else ""
            if done:
                log(
                    f"resuming in epoch {initial_epoch + 1}, after {done} of its "
                    f"{len(batches)} batches{best}"
                )
                batches.skip(trained)
            elif initial_epoch:
                log(f"resuming after epoch {initial_epoch}{best}")
            else:
                log("resuming at epoch 1, from the weights the run started with")
        else:  # a run from before epoch-0 resume points, stopped in its first epoch
            log("no resume point (the run stopped in its first epoch): starting it over")
    else:
        # Epoch 0's resume point: a run stopped in its first epoch resumes from the weights it
        # started with (--init-from's, or its own random ones), not from new random weights.
        # Reading the variables is collective under several processes, so all save, all but
        # process 0 into a scratch folder (as EpochEnd does).
        with parallel.scope():
            training.optimizer.build(training.trainable_variables)
        with contextlib.ExitStack() as stack:
            folder = out
            if not parallel.chief:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="asr-")))
            save_resume_state(folder, 0, training, state)
    if initial_epoch >= options.epochs:
        log(f"already trained {initial_epoch} epochs; raise --epochs to train more")
    val_batches = CTCBatches(val_ex, config.model, options.batch_size, shuffle=False)
    monitor = EpochEnd(
        config, inference, training, val_batches, val_ex, tokenizer, out, state, batches, log
    )
    monitor.parallel, monitor.done = parallel, done
    callbacks: list[keras.callbacks.Callback] = [monitor]
    # Collective saves cannot follow each process's own clock: one process only.
    saver = None
    if options.save_every > 0 and parallel.num_processes == 1:
        saver = MidEpochSave(out, monitor, options.save_every * 60)
        callbacks.append(saver)
    progress = TqdmProgress(len(batches)) if options.progress and parallel.chief else None
    if progress is not None:
        callbacks.insert(0, progress)
    tensorboard = _tensorboard(out) if parallel.chief else None
    if tensorboard is not None:
        callbacks.append(tensorboard)
    signals = saver.stop_on_signals() if saver is not None else contextlib.nullcontext()

    def fit(batches: CTCBatches, first: int, last: int) -> None:
        # shuffle=False: CTCBatches orders each epoch itself, by (seed, epoch)
        training.fit(
            batches, epochs=last, initial_epoch=first, callbacks=callbacks, shuffle=False, verbose=0
        )

    if initial_epoch < options.epochs:
        with signals:
            try:
                if done:  # the rest of the resumed epoch, then whole epochs from the next one on
                    fit(batches, initial_epoch, initial_epoch + 1)
                    if not training.stop_training:
                        initial_epoch += 1
                        batches = monitor.train_batches = train_batches(initial_epoch)
                        if progress is not None:
                            progress.steps = len(batches)
                if initial_epoch < options.epochs and not training.stop_training:
                    fit(batches, initial_epoch, options.epochs)
            except Exception as e:
                if parallel.num_processes == 1 or "JaxRuntimeError" not in type(e).__name__:
                    raise
                saved = max(initial_epoch, monitor.last_epoch)
                n = parallel.num_processes
                raise ProcessLost(
                    f"process {parallel.process_id} of {n}: another process died or lost contact "
                    f"({str(e).splitlines()[0][:200]}); start all {n} again with --resume: the "
                    f"run continues after epoch {saved}"
                ) from e
    if monitor.non_finite is not None:
        resume = latest_resume_state(out)
        kept = resume.name if resume is not None else None
        best = int(state["best_epoch"])
        raise AsrError(_non_finite_message(monitor.non_finite, out, best, kept))
    return TrainResult(
        epochs=max(initial_epoch, monitor.last_epoch),
        best_epoch=int(state["best_epoch"]),
        best_cer=float(state["best_cer"]),
        best_wer=float(state["best_wer"]),
        train_hours=train_set.hours,
        train_xrt=monitor.last_xrt,
        skipped=skipped,
    )


def learning_rate(
    peak: float, schedule: str, total_steps: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Adam's rate. The cosine schedule is a function of the optimizer's step counter, which
    the resume point restores, so a resumed run continues the same curve (given the same
    --epochs)."""
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(peak, max(total_steps, 1), alpha=COSINE_FLOOR)
    raise AsrError(f"unknown learning-rate schedule {schedule!r}; use one of {LR_SCHEDULES}")


def _non_finite_message(
    where: tuple[int, int, float], out: Path, best_epoch: int, resume: str | None
) -> str:
    """Why training stopped on a NaN/inf loss, what was kept, and what to try."""
    epoch, batch, loss = where
    at = f"epoch {epoch}, batch {batch}" if batch else f"epoch {epoch}"
    model = f"the best model, of epoch {best_epoch}" if best_epoch else "no model yet"
    point = f"resume point {resume}" if resume else "no resume point"
    return (
        f"training loss became {loss} at {at}; stopped before saving anything after it "
        f"({out} holds {model}, and {point}); lower --learning-rate and --resume, or check "
        "the data for broken audio"
    )


def _write_skipped(out: Path, skipped: list[str]) -> None:
    """List this run's left-out utterances in DIR/skipped.txt (removed when there are none)."""
    path = out / SKIPPED_NAME
    if skipped:
        atomic_write_text(path, "".join(m + "\n" for m in skipped))
    else:
        path.unlink(missing_ok=True)


def _truncate_history(path: Path, epoch: int) -> None:
    """Drop rows after the resumed epoch (written by the crashed run), so epochs stay unique."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    kept = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= epoch]
    if len(kept) != len(rows) - 1:
        with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
            csv.writer(f).writerows([rows[0], *kept])


def append_history(path: Path, fields: list[str], row: list) -> None:
    """Add one epoch's row to history.csv (header first), flushed to disk at once so a
    crash right after an epoch still leaves it recorded."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(fields)
        writer.writerow([row[0]] + [f"{v:.6g}" for v in row[1:]])
        f.flush()
        os.fsync(f.fileno())


def _log(enabled: bool):
    """Messages that do not break tqdm's bars."""

    def write(message: str) -> None:
        if enabled:
            tqdm.write(message, file=sys.stderr)

    return write


def _tensorboard(out: Path) -> keras.callbacks.Callback | None:
    """TensorBoard scalars need TensorFlow and tensorboard; skip quietly without them."""
    try:
        import tensorboard  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        return None
    return keras.callbacks.TensorBoard(log_dir=str(out / "logs"), write_graph=False)


def validate(
    training: keras.Model,
    batches: CTCBatches,
    tokenizer: Tokenizer,
    parallel: Parallel | None = None,
) -> tuple[float, list[str]]:
    """Mean per-utterance CTC loss and greedy transcripts (in example order) of ``batches``."""
    texts: dict[int, str] = {}
    losses = []
    for b in range(len(batches)):
        batch = batches[b]
        rows = len(batch["features"])
        if parallel is not None:  # a sharded batch must split evenly over the devices
            batch, rows = parallel.pad_rows(batch)
        out = training.predict_on_batch(batch)
        losses.append(np.asarray(out["ctc_loss"])[:rows])
        logits = np.asarray(out["logits"])[:rows]
        ids = greedy_decode_batch(logits, batch["input_length"][:rows])
        for i, seq in zip(batches.batch_indices(b), ids, strict=True):
            texts[int(i)] = tokenizer.decode(seq)
    return float(np.mean(np.concatenate(losses))), [texts[i] for i in range(len(texts))]


class TqdmProgress(keras.callbacks.Callback):
    """A per-epoch tqdm bar with the running loss."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.bar: tqdm | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.bar = tqdm(
            total=self.steps, desc=f"epoch {epoch + 1}", unit="batch", leave=False, disable=None
        )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.close()


class EpochEnd(keras.callbacks.Callback):
    """Validation CER/WER, best-model saving, history and resume state after every epoch."""

    def __init__(
        self,
        config: Config,
        inference,
        training,
        val_batches: CTCBatches,
        val_ex: Prepared,
        tokenizer: Tokenizer,
        out: Path,
        state: dict,
        train_batches: CTCBatches,
        log,
    ) -> None:
        super().__init__()
        self.config, self.inference, self.training = config, inference, training
        self.val_batches, self.val_ex, self.tokenizer = val_batches, val_ex, tokenizer
        self.out, self.state, self.train_batches, self.log = out, state, train_batches, log
        self.audio_seconds = 0.0  # in the running epoch's batches
        self.started = time.perf_counter()
        self.last_epoch = 0
        self.last_xrt = 0.0
        self.blank_epochs = 0
        self.epoch = 0
        self.done = 0  # batches of the running epoch trained before this fit (a resume)
        self.non_finite: tuple[int, int, float] | None = None  # (epoch, batch, loss)
        self.parallel: Parallel | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.train_batches.set_epoch(epoch)  # before Keras reads the epoch's first batch
        self.audio_seconds = self.train_batches.audio_seconds()
        self.started = time.perf_counter()
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # A NaN/inf loss has already poisoned the weights: stop at once, so nothing of this
        # epoch is saved and --resume restarts from the last good epoch.
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) and self.non_finite is None:
            self.non_finite = (self.epoch + 1, self.done + batch + 1, loss)
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        seconds = time.perf_counter() - self.started
        loss = float(logs.get("loss", math.nan))
        if self.non_finite is not None or not math.isfinite(loss):
            self.non_finite = self.non_finite or (epoch + 1, 0, loss)
            self.model.stop_training = True
            return
        val_loss, hyps = validate(self.training, self.val_batches, self.tokenizer, self.parallel)
        wer, cer = error_rates(self.val_ex.texts, hyps)
        xrt = self.audio_seconds / seconds
        logs.update(val_loss=val_loss, val_cer=cer, val_wer=wer)
        self.last_epoch, self.last_xrt = epoch + 1, xrt
        improved = cer < self.state["best_cer"]
        chief = self.parallel is None or self.parallel.chief  # only process 0 writes
        if improved:
            self.state.update(best_cer=cer, best_wer=wer, best_epoch=epoch + 1)
        # Saving builds a stock twin of the model and reads every variable: under a
        # multi-process distribution those are collective steps, so every process saves,
        # and all but process 0 into a private scratch folder that is thrown away.
        with contextlib.ExitStack() as stack:
            out = self.out
            if not chief:
                out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="asr-")))
            if improved:
                save_inference_model(self.inference, out, self.config)
            if chief:
                self._append_history([epoch + 1, loss, val_loss, cer, wer, seconds, xrt])
            save_resume_state(out, epoch + 1, self.training, self.state)
        self.log(
            f"epoch {epoch + 1}: loss {loss:.3f}  val_loss {val_loss:.3f}  "
            f"val CER {cer:.2%}  WER {wer:.2%}  {seconds:.0f}s ({xrt:.0f}x real time)"
            + ("  [saved best]" if improved else "")
        )
        self._warn_if_blank(hyps, epoch + 1)
        self.done = 0  # the next epoch starts from its first batch

    def _append_history(self, row: list) -> None:
        append_history(self.out / HISTORY_NAME, HISTORY_FIELDS, row)

    def _warn_if_blank(self, hyps: list[str], epoch: int) -> None:
        """CTC models often emit only blanks for a while; say so when it lasts."""
        self.blank_epochs = self.blank_epochs + 1 if not any(h.strip() for h in hyps) else 0
        if self.blank_epochs >= BLANK_WARNING_EPOCHS:
            self.log(
                f"warning: after epoch {epoch} the model still emits only blanks on every "
                "validation utterance; train longer, check that transcripts match the "
                "audio, or lower the conv stride"
            )


class Stopped(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM after saving a resume point."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


class MidEpochSave(keras.callbacks.Callback):
    """A resume point every ``seconds`` inside an epoch (weights, optimizer, batches done),
    so a crash in a long epoch loses minutes, not the epoch; and one on Ctrl-C or SIGTERM
    before stopping, so those lose nothing. The best model is still chosen at epoch ends
    only, by validation."""

    def __init__(self, out: Path, monitor: EpochEnd, seconds: float) -> None:
        super().__init__()
        self.out, self.monitor, self.seconds = out, monitor, seconds
        self.epoch = 0
        self.last = time.perf_counter()
        self.signal: int | None = None  # a stop asked for, honoured at the next batch end

    @contextlib.contextmanager
    def stop_on_signals(self):
        """While training: the first SIGINT/SIGTERM asks for a save and a stop; a second
        one stops at once (KeyboardInterrupt), as a stuck run must still be stoppable."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def ask(signum: int, frame) -> None:
            if self.signal is not None:
                raise KeyboardInterrupt
            self.signal = signum
            self.monitor.log(
                f"{signal.Signals(signum).name}: saving a resume point after this batch, "
                "then stopping (again to stop at once)"
            )

        old = {s: signal.signal(s, ask) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch
        self.last = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        due = time.perf_counter() - self.last >= self.seconds or self.signal is not None
        if not due or self.monitor.non_finite:
            return
        # Not after the epoch's last batch (its end saves), nor where the batches left could
        # not be fed on their own (TensorFlow's spec from two batches); it tries again later.
        batches = self.monitor.train_batches
        if not batches.resumable_after(batch + 1):
            return
        # self.model, not the model held at construction: under JAX reading it first copies
        # the trainer's live state back into the variables (they are stale in an epoch).
        training = self.model
        if not all(np.isfinite(np.asarray(v)).all() for v in training.trainable_variables):
            return  # a NaN update shows in the loss only a batch later: keep the last point
        trained = batches.trained(batch + 1)
        state = {**self.monitor.state, "trained": trained}
        folder = save_resume_state(self.out, self.epoch, training, state, len(trained))
        self.last = time.perf_counter()
        self._stop_if_asked(folder)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.monitor.non_finite:  # the epoch's own resume point is written by now
            self._stop_if_asked(latest_resume_state(self.out))

    def _stop_if_asked(self, folder: Path | None) -> None:
        if self.signal is None:
            return
        where = f"resume point {folder.name}" if folder is not None else "no resume point"
        self.monitor.log(f"stopped; {self.out} holds {where}: continue with --resume")
        raise Stopped(self.signal)
