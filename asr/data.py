"""Training data: features extracted once, then length-bucketed padded CTC batches.

A batch is a dict ``{"features": (B, T, D) float32, "labels": (B, L) int32,
"input_length": (B,) int32, "label_length": (B,) int32}`` where ``input_length`` is each
utterance's true *output* frame count after the model's time reduction and ``label_length``
its true label count: never the padded widths.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import keras
import numpy as np
from tqdm import tqdm

from asr.audio import load_audio
from asr.buckets import bucket_width
from asr.channel import colored_noise
from asr.config import ModelConfig
from asr.decoding import min_frames_for_label
from asr.errors import AsrError
from asr.features import (
    FeatureConfig,
    Normalizer,
    compute_features,
    frequency_warp,
)
from asr.manifest import Utterance
from asr.shards import (
    ChainedFeatures,
    MappedFeatures,
    ShardedFeatures,
    frame_lengths,
    is_lazy,
    read_index,
)
from asr.text import Tokenizer, normalize_text

# Label widths follow the time width, so each time bucket has one label width (rarely two)
# and the number of compiled shapes is the number of time buckets, not a product of both.
LABEL_FRACTION = 0.5  # of the output frames; speech carries ~0.3 letters per 20 ms frame
SORT_JITTER = 0.05  # lengths are scaled by up to +-5 % before sorting, so batches vary by epoch


@dataclass
class FeatureSet:
    """Un-normalized features and normalized transcripts of a corpus, in manifest order."""

    features: Sequence[np.ndarray]  # a list, or read on demand from a pack (asr.shards)
    texts: list[str]
    paths: list[str]
    config: FeatureConfig
    durations: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "<manifest>:<line>" per utterance
    skipped: list[str] = field(default_factory=list)  # unreadable audio left out, and why
    labels: list[str] = field(default_factory=list)  # a classification corpus's, per utterance

    def where(self, index: int) -> str:
        """The manifest line of utterance ``index`` when known, else its audio path."""
        return self.sources[index] if self.sources else self.paths[index]

    @classmethod
    def join(cls, sets: Sequence[FeatureSet]) -> FeatureSet:
        """One set from several made with the same features (``asr train --train A B``)."""
        first = sets[0]
        if len(sets) == 1:
            return first
        joined = cls([], [], [], first.config)
        if any(is_lazy(part.features) for part in sets):
            joined.features = ChainedFeatures([part.features for part in sets])
        for part in sets:
            if not is_lazy(joined.features):
                joined.features += part.features  # type: ignore[operator]
            joined.texts += part.texts
            joined.paths += part.paths
            joined.durations += part.durations
            # a pack has no line numbers: its audio paths stand in for them
            joined.sources += part.sources or part.paths
            joined.skipped += part.skipped
            joined.labels += part.labels
        return joined

    @property
    def hours(self) -> float:
        """Audio hours covered."""
        return sum(self.durations) / 3600.0

    @classmethod
    def open_pack(cls, folder: Path, config: FeatureConfig) -> FeatureSet:
        """A sharded pack (``asr pack``), its features read from disk on demand."""
        index = read_index(folder, config)
        sources, labels = index["source"], index["label"]
        return cls(
            ShardedFeatures(folder, config, index),
            index["text"],
            index["path"],
            config,
            index["dur"].tolist(),
            sources=sources if all(sources) else [],
            skipped=index["skipped"],
            labels=labels if all(labels) else [],
        )


def _featurize(job: tuple[str, FeatureConfig]) -> np.ndarray | str:
    """Worker: features of one file, or the one-line error message."""
    path, config = job
    try:
        samples = load_audio(path, config.sample_rate)
    except AsrError as e:
        return str(e)
    return compute_features(samples, config)


def extract_features(
    utterances: Sequence[Utterance],
    config: FeatureConfig,
    jobs: int | None = None,
    desc: str = "features",
    skip_invalid: bool = False,
) -> FeatureSet:
    """Load and featurize every utterance in parallel processes.

    A bad audio file is an error naming its manifest line, or with ``skip_invalid`` is left
    out and listed in ``FeatureSet.skipped``.
    """
    jobs = jobs or os.cpu_count() or 1
    work = [(u.audio_filepath, config) for u in utterances]
    if jobs > 1 and len(work) > 8:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(
                tqdm(
                    pool.map(_featurize, work, chunksize=8),
                    total=len(work),
                    desc=desc,
                    unit="utt",
                    leave=False,
                    disable=None,  # no bars when stderr is not a terminal (logs, CI)
                )
            )
    else:
        results = [
            _featurize(w) for w in tqdm(work, desc=desc, unit="utt", leave=False, disable=None)
        ]
    errors = [
        f"{u.source}: {r}" if u.source else r
        for u, r in zip(utterances, results, strict=True)
        if isinstance(r, str)
    ]
    if errors and not skip_invalid:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AsrError(f"{errors[0]}{more}; or pass --skip-invalid to leave such lines out")
    kept = [(u, r) for u, r in zip(utterances, results, strict=True) if not isinstance(r, str)]
    if not kept:
        raise AsrError(f"no readable audio: all {len(errors)} files failed, first: {errors[0]}")
    feats = [r for _, r in kept]
    return FeatureSet(
        features=feats,
        texts=[normalize_text(u.text) for u, _ in kept],
        paths=[u.audio_filepath for u, _ in kept],
        config=config,
        durations=[f.shape[0] / config.frames_per_second for f in feats],
        sources=[u.source for u, _ in kept] if all(u.source for u, _ in kept) else [],
        skipped=errors,
        labels=[u.label for u, _ in kept] if all(u.label is not None for u, _ in kept) else [],
    )


def label_width(frames_width: int, longest_label: int, model: ModelConfig) -> int:
    """Padded label width for a batch padded to ``frames_width`` feature frames.

    Half the output frames (rounded up to 8) covers ordinary speech; a batch with a longer
    label (still no longer than the output frames, or CTC could not align it) gets the full
    output width instead.
    """
    out = model.output_length(frames_width)
    half = int(math.ceil(out * LABEL_FRACTION / 8) * 8)
    return half if longest_label <= half else max(out, longest_label)


@dataclass
class Prepared:
    """Normalized features and labels ready for batching, plus what was dropped and why."""

    features: Sequence[np.ndarray]  # a list, or normalized on read from a pack
    labels: list[np.ndarray]
    texts: list[str]
    paths: list[str]
    output_lengths: np.ndarray
    skipped: list[str]
    durations: np.ndarray  # seconds of audio per utterance, for honest throughput figures


def prepare_examples(
    data: FeatureSet, normalizer: Normalizer, tokenizer: Tokenizer, model: ModelConfig
) -> Prepared:
    """Normalize, encode and drop utterances CTC cannot align (label longer than frames)."""
    labels, texts, paths, lengths, skipped = [], [], [], [], []
    kept: list[int] = []
    durations: list[float] = []
    frames = frame_lengths(data.features)
    for i, (n, text, path) in enumerate(zip(frames, data.texts, data.paths, strict=True)):
        if not text:
            skipped.append(f"{data.where(i)}: empty transcript after normalization")
            continue
        label = tokenizer.encode(text)
        out_len = model.output_length(int(n))
        need = min_frames_for_label(label)
        if need > out_len:
            seconds = n / data.config.frames_per_second
            skipped.append(
                f"{data.where(i)}: transcript of {len(text)} characters is too long for "
                f"{seconds:.2f} s of audio (CTC needs {need} output frames, the model gives "
                f"{out_len}); check that the line's text belongs to its audio"
            )
            continue
        kept.append(i)
        labels.append(label)
        texts.append(text)
        paths.append(path)
        lengths.append(out_len)
        durations.append(data.durations[i] if data.durations else n / data.config.frames_per_second)
    # a pack stays on disk: rows are read and normalized when a batch needs them
    feats: Sequence[np.ndarray] = (
        MappedFeatures(data.features, kept, normalizer)
        if is_lazy(data.features)
        else [normalizer(data.features[i]) for i in kept]
    )
    return Prepared(
        feats,
        labels,
        texts,
        paths,
        np.array(lengths, dtype=np.int32),
        skipped,
        np.array(durations, dtype=np.float64),
    )


class CTCBatches(keras.utils.PyDataset):
    """Length-bucketed, zero-padded batches; batch order reshuffled every epoch."""

    def __init__(
        self,
        examples: Prepared,
        model: ModelConfig,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        augment: Sequence[Augmentation] = (),
        share: tuple[int, int] = (0, 1),
        edits: Sequence[BatchEdit] = (),
        epoch: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not examples.features:
            raise AsrError("no usable utterances to batch (all were skipped)")
        self.examples = examples
        self.model = model
        self.batch_size = batch_size
        self.shuffle = shuffle
        # A ragged last batch is one more shape to compile; training can skip it (a different
        # remainder each epoch because of the jittered sort).
        self.drop_remainder = drop_remainder and len(examples.features) > batch_size
        self.augment = tuple(augment)
        self.edits = tuple(edits)  # lengths and labels may change: before the augmentations
        self.share = share  # (process, processes): this process feeds its slice of each batch
        self._seed = seed
        # The epoch whose batches these are (set_epoch moves on). Order and augmentation are
        # functions of (seed, epoch) alone, so a run resumed in the middle of an epoch can
        # rebuild that epoch's batches and skip the ones already trained on.
        self.epoch = epoch
        self._skip: tuple[int, frozenset[int]] = (epoch, frozenset())  # (epoch, batches done)
        self._frames = frame_lengths(examples.features)
        self._batches = self._make_batches()

    def _make_batches(self) -> list[np.ndarray]:
        """Group similar lengths; jitter the sort when shuffling so batches vary by epoch."""
        rng = np.random.default_rng([self._seed, self.epoch])
        keys = self._frames.astype(np.float64)
        if self.shuffle:
            keys = keys * rng.uniform(1 - SORT_JITTER, 1 + SORT_JITTER, size=keys.shape)
        order = np.argsort(keys, kind="stable")
        stop = len(order) - (len(order) % self.batch_size if self.drop_remainder else 0)
        batches = [order[i : i + self.batch_size] for i in range(0, stop, self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        skip_epoch, done = self._skip
        if done and skip_epoch == self.epoch:
            batches = [b for b in batches if int(b[0]) not in done]
        return self._distinct_first_two(batches)

    def set_epoch(self, epoch: int) -> None:
        """Batch for ``epoch`` (0-based). Training calls this as each epoch begins: Keras
        also calls ``on_epoch_end`` before the first epoch, so counting those calls would
        put every run one epoch out."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._batches = self._make_batches()

    def trained(self, count: int) -> list[int]:
        """Names of the epoch's batches done once the first ``count`` of this list are
        trained (with any skipped before): each batch is named by its first utterance."""
        _, done = self._skip
        return sorted([*done, *(int(b[0]) for b in self._batches[:count])])

    def resumable_after(self, count: int) -> bool:
        """Whether the batches left after ``count`` can be fed again on their own: under
        TensorFlow they need two of different widths to lead (see _distinct_first_two)."""
        rest = self._batches[count:]
        return 0 < len(rest) and (len(rest) < 3 or self._distinct_pair(rest) is not None)

    def skip(self, done: Sequence[int]) -> None:
        """Leave out the epoch's batches named in ``done`` (trained before a resume point);
        the rest keep their augmentation, and two of different widths go first again."""
        names = {int(b[0]) for b in self._batches}
        if not set(done) <= names or len(done) >= len(names):
            raise AsrError(
                f"cannot resume inside epoch {self.epoch + 1}: its resume point names batches "
                f"these data do not make in {len(names)} batches of {self.batch_size}; resume "
                "with the same manifests, --batch-size and --seed"
            )
        self._skip = (self.epoch, frozenset(int(n) for n in done))
        self._batches = self._make_batches()

    def _distinct_first_two(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """Put two batches that differ in padded width *and* label width first.

        Why: under TensorFlow, Keras' PyDataset adapter infers the tensor spec of every batch
        from the first two and fixes each dimension they share; a later batch of another width
        then fails inside ``model.fit``. Such a pair exists whenever the corpus has two widths
        of each kind (any two batches that disagree must otherwise share a row or column).
        """
        pair = self._distinct_pair(batches) if len(batches) >= 3 else None
        if pair is None:
            return batches
        i, j = pair
        rest = [b for k, b in enumerate(batches) if k not in (i, j)]
        return [batches[i], batches[j], *rest]

    def _distinct_pair(self, batches: list[np.ndarray]) -> tuple[int, int] | None:
        """Two batches whose widths disagree wherever the list's widths vary at all."""
        shapes = [self._widths(b) for b in batches]
        times = {t for t, _ in shapes}
        labels = {lab for _, lab in shapes}
        for i, (t0, l0) in enumerate(shapes):
            for j in range(i + 1, len(shapes)):
                t1, l1 = shapes[j]
                if (t0 != t1 or len(times) == 1) and (l0 != l1 or len(labels) == 1):
                    return i, j
        return None

    def _widths(self, idx: np.ndarray) -> tuple[int, int]:
        """Padded (frames, labels) widths that collate() will give batch ``idx``."""
        frames = bucket_width(int(self._frames[idx].max()))
        labels = max(len(self.examples.labels[i]) for i in idx)
        return frames, label_width(frames, labels, self.model)

    def __len__(self) -> int:
        return len(self._batches)

    @property
    def total_frames(self) -> int:
        """Feature frames per pass over the data."""
        return int(self._frames.sum())

    def audio_seconds(self) -> float:
        """Audio in this epoch's batches: a dropped remainder is not trained on, so it must
        not count towards training throughput (it inflated small-corpus figures)."""
        return float(sum(self.examples.durations[b].sum() for b in self._batches))

    def batch_indices(self, index: int) -> np.ndarray:
        """Utterance indices in batch ``index``."""
        return self._batches[index]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rows = self._batches[index]
        process, processes = self.share
        widths = None
        if processes > 1:  # all processes pad to the global batch's widths, from lengths alone
            widths = self._widths(rows)
            step = len(rows) // processes
            rows = rows[process * step : (process + 1) * step]
        batch = collate(self.examples, rows, self.model, widths)
        # one generator per (epoch, batch, process), the batch named by its first utterance
        # (unique within an epoch): a batch is augmented the same however often, in whatever
        # order and at whatever position the engine reads it (Keras peeks to infer its spec;
        # a resumed epoch skips batches)
        first = int(self._batches[index][0])
        rng = np.random.default_rng([self._seed, self.epoch, first, process])
        frames = self._frames[rows]
        if self.edits:
            need = np.array([min_frames_for_label(self.examples.labels[i]) for i in rows])
            for edit in self.edits:
                frames = edit(batch, frames, need, rng)
            batch["input_length"] = np.array(
                [self.model.output_length(int(n)) for n in frames], dtype=np.int32
            )
        for augmentation in self.augment:
            augmentation(batch["features"], frames, rng)
        return batch


class Augmentation(Protocol):
    """Changes a (B, T, D) batch of normalized features in place; row b has frames[b] frames."""

    def __call__(self, x: np.ndarray, frames: np.ndarray, rng: np.random.Generator) -> None: ...


@dataclass(frozen=True)
class VocalTractWarp:
    """A random frequency warp per utterance (VTLP), as if another vocal tract spoke.

    Why: a held-out espeak-ng variant (Alicia) has formants 15-50 % above the seen voices'
    and was the worst espeak voice (greedy CER 26.7 %); warping its features down by 0.8-0.9
    at inference alone cut that to 19.5-20.8 %. Training on warps teaches that invariance.
    Each transform is (A, b) acting on normalized rows: ``x @ A + b``.
    """

    transforms: tuple[tuple[np.ndarray, np.ndarray], ...]

    @classmethod
    def build(
        cls,
        features: FeatureConfig,
        normalizer: Normalizer,
        low: float = 0.8,
        high: float = 1.25,
        steps: int = 19,
    ) -> VocalTractWarp:
        """Transforms for ``steps`` factors spaced evenly in log between ``low`` and ``high``."""
        blocks = features.dim // features.base_dim
        std, mean = normalizer.std.astype(np.float64), normalizer.mean.astype(np.float64)
        transforms = []
        for alpha in np.geomspace(low, high, steps):
            warp = np.kron(np.eye(blocks), frequency_warp(features, float(alpha)))
            a = (std[:, None] * warp) / std[None, :]
            b = (mean @ warp - mean) / std
            transforms.append((a.astype(np.float32), b.astype(np.float32)))
        return cls(tuple(transforms))

    def __call__(self, x: np.ndarray, frames: np.ndarray, rng: np.random.Generator) -> None:
        """Warp the first ``frames[b]`` frames of each row b of ``x`` in place."""
        for row, n in enumerate(frames):
            a, b = self.transforms[int(rng.integers(len(self.transforms)))]
            x[row, :n] = x[row, :n] @ a + b


class BatchEdit(Protocol):
    """Changes a collated batch's rows, lengths or labels in place; returns the rows' new
    feature frame counts. ``need[b]``: output frames row b's label needs
    (``min_frames_for_label``). The batch's shapes never change."""

    def __call__(
        self,
        batch: dict[str, np.ndarray],
        frames: np.ndarray,
        need: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray: ...


def resample_frames(x: np.ndarray, m: int) -> np.ndarray:
    """(n, D) frames linearly interpolated to (m, D), first and last frames kept: a tempo
    change on features (Kaldi-style speed perturbation without rendering audio again)."""
    n = x.shape[0]
    position = np.linspace(0.0, n - 1.0, m)
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = (position - lo)[:, None].astype(x.dtype)
    return x[lo] * (1 - w) + x[hi] * w


@dataclass(frozen=True)
class TimeStretch:
    """A random tempo change per utterance: its frames resampled to (1 +- max_change) x length.

    Why: how fast people speak is one more way the voices met later differ from the few
    trained on. This is Kaldi-style speed perturbation done on features (linear
    interpolation between frames; the vocal-tract warp supplies the spectral half), so packs
    need no second rendering. An utterance never stretches past the batch's padded width, nor
    shrinks below the output frames its label needs.
    """

    model: ModelConfig
    max_change: float = 0.1

    def __call__(
        self,
        batch: dict[str, np.ndarray],
        frames: np.ndarray,
        need: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Stretch the rows of ``batch["features"]`` in place; return their new frame counts."""
        x = batch["features"]
        width = x.shape[1]
        out = np.array(frames, dtype=np.int64)
        for row, n in enumerate(out.tolist()):
            factor = rng.uniform(1.0 - self.max_change, 1.0 + self.max_change)
            m = min(width, max(1, round(n * factor)))
            if n < 2 or m == n or self.model.output_length(m) < need[row]:
                continue
            x[row, :m] = resample_frames(x[row, :n], m)
            x[row, m:] = 0.0
            out[row] = m
        return out


@dataclass(frozen=True)
class NoiseRows:
    """Now and then a row becomes room noise with an empty transcript.

    Why: trained only on speech, a model may read words into silence (stage 13 turned 3 s
    of -60 dBFS noise into "the more"). Noise rows teach it that noise alone means blank.
    ``bank`` holds normalized feature frames of noise recordings (``build``): white, pink
    and brown noise from faint hiss to loud rumble, and near-digital silence.
    """

    bank: tuple[np.ndarray, ...]
    share: float = 0.05  # of the rows, on average

    @classmethod
    def build(
        cls,
        config: FeatureConfig,
        normalizer: Normalizer,
        share: float = 0.05,
        clips: int = 48,
        seconds: float = 8.0,
        seed: int = 0,
    ) -> NoiseRows:
        """Featurize ``clips`` noise recordings of ``seconds`` each at levels from -90 to -30
        dBFS (RMS), a third each white, pink and brown."""
        rng = np.random.default_rng(seed)
        n = round(seconds * config.sample_rate)
        bank = []
        for k in range(clips):
            level = 10 ** (rng.uniform(-90.0, -30.0) / 20)
            signal = colored_noise(n, rng, float(k % 3), config.sample_rate) * level
            bank.append(normalizer(compute_features(signal.astype(np.float32), config)))
        return cls(tuple(bank), share)

    def __call__(
        self,
        batch: dict[str, np.ndarray],
        frames: np.ndarray,
        need: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Replace about ``share`` of the rows by noise of the same length, label empty."""
        x = batch["features"]
        for row in np.flatnonzero(rng.random(len(frames)) < self.share):
            n = int(frames[row])
            noise = self.bank[int(rng.integers(len(self.bank)))]
            reps = -(-n // len(noise))
            noise = np.concatenate([noise] * reps) if reps > 1 else noise
            start = int(rng.integers(0, len(noise) - n + 1))
            x[row, :n] = noise[start : start + n]
            batch["labels"][row] = 0
            batch["label_length"][row] = 0
        return frames


@dataclass(frozen=True)
class SpecAugment:
    """Time and feature masking (SpecAugment without warping) on normalized features.

    Masked cells are set to 0, the training mean, so the model learns to bridge dropouts of
    frames and bands: the cheapest guard against memorizing the few synthetic voices.
    """

    base_dim: int  # masks cover the same bands in the static, delta and delta-delta blocks
    time_masks: int = 2
    max_time_fraction: float = 0.05  # of each utterance's own length
    feature_masks: int = 2
    max_feature_width: int = 2

    def __call__(self, x: np.ndarray, frames: np.ndarray, rng: np.random.Generator) -> None:
        """Mask ``x`` (B, T, D) in place; only the first ``frames[b]`` frames of row b."""
        blocks = x.shape[2] // self.base_dim
        for row, n in enumerate(frames):
            for _ in range(self.time_masks):
                width = int(rng.integers(0, max(1, int(n * self.max_time_fraction)) + 1))
                start = int(rng.integers(0, max(1, n - width)))
                x[row, start : start + width] = 0.0
            for _ in range(self.feature_masks):
                width = int(rng.integers(0, self.max_feature_width + 1))
                start = int(rng.integers(0, self.base_dim - width + 1))
                for block in range(blocks):
                    lo = block * self.base_dim + start
                    x[row, :n, lo : lo + width] = 0.0


def collate(
    examples: Prepared,
    idx: np.ndarray,
    model: ModelConfig,
    widths: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """Zero-pad one batch to bucketed widths; zeros are the normalized mean, as in inference.

    ``widths`` (frames, labels) pads a process's rows like the whole global batch they are
    part of: every process of a multi-process step must feed arrays of one shape."""
    feats = [examples.features[i] for i in idx]
    labels = [examples.labels[i] for i in idx]
    if widths is None:
        width = bucket_width(max(f.shape[0] for f in feats))
        lab_width = label_width(width, max(len(lb) for lb in labels), model)
    else:
        width, lab_width = widths
    x = np.zeros((len(idx), width, feats[0].shape[1]), dtype=np.float32)
    y = np.zeros((len(idx), lab_width), dtype=np.int32)
    for row, (f, lb) in enumerate(zip(feats, labels, strict=True)):
        x[row, : f.shape[0]] = f
        y[row, : len(lb)] = lb
    return {
        "features": x,
        "labels": y,
        "input_length": examples.output_lengths[idx].astype(np.int32),
        "label_length": np.array([len(lb) for lb in labels], dtype=np.int32),
    }
