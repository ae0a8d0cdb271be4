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

import keras
import numpy as np
from tqdm import tqdm

from asr.audio import load_audio
from asr.config import ModelConfig
from asr.decoding import min_frames_for_label
from asr.errors import AsrError, ManifestError
from asr.features import FeatureConfig, Normalizer, add_deltas, base_features
from asr.manifest import Utterance
from asr.text import Tokenizer, normalize_text

TIME_BUCKET_GROWTH = 1.1  # padded widths grow geometrically: few shapes, <10% padding waste
MIN_TIME_BUCKET = 32  # frames
LABEL_PAD_MULTIPLE = 16  # characters


@dataclass
class FeatureSet:
    """Un-normalized features and normalized transcripts of a corpus, in manifest order."""

    features: list[np.ndarray]
    texts: list[str]
    paths: list[str]
    config: FeatureConfig
    durations: list[float] = field(default_factory=list)

    @property
    def hours(self) -> float:
        """Audio hours covered."""
        return sum(self.durations) / 3600.0

    def save(self, path: Path) -> None:
        """Store base features as float16 (deltas are recomputed on load) in one .npz."""
        base = [f[:, : self.config.base_dim] for f in self.features]
        lengths = np.array([b.shape[0] for b in base], dtype=np.int64)
        np.savez(
            path,
            base=np.concatenate(base).astype(np.float16),
            lengths=lengths,
            texts=np.array(self.texts, dtype=object).astype(str),
            paths=np.array(self.paths, dtype=object).astype(str),
            durations=np.array(self.durations, dtype=np.float64),
            config=np.array(repr(self.config)),
        )

    @classmethod
    def load(cls, path: Path, config: FeatureConfig) -> FeatureSet:
        """Read a pack written by :meth:`save` for the same feature settings."""
        try:
            pack = np.load(path, allow_pickle=False)
            stored = str(pack["config"])
        except (OSError, ValueError, KeyError) as e:
            raise ManifestError(f"{path}: not a feature pack ({e}); rebuild it") from e
        if stored != repr(config):
            raise ManifestError(
                f"{path}: made with {stored}, but the model uses {config!r}; rebuild the pack"
            )
        splits = np.cumsum(pack["lengths"])[:-1]
        base = np.split(pack["base"].astype(np.float32), splits)
        feats = [add_deltas(b) if config.deltas else b for b in base]
        return cls(
            feats,
            pack["texts"].tolist(),
            pack["paths"].tolist(),
            config,
            pack["durations"].tolist(),
        )


def _featurize(job: tuple[str, FeatureConfig]) -> np.ndarray | str:
    """Worker: features of one file, or the one-line error message."""
    path, config = job
    try:
        samples = load_audio(path, config.sample_rate)
    except AsrError as e:
        return str(e)
    base = base_features(samples, config)
    return add_deltas(base) if config.deltas else base


def extract_features(
    utterances: Sequence[Utterance],
    config: FeatureConfig,
    jobs: int | None = None,
    desc: str = "features",
) -> FeatureSet:
    """Load and featurize every utterance in parallel processes; any bad file is an error."""
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
                )
            )
    else:
        results = [_featurize(w) for w in tqdm(work, desc=desc, unit="utt", leave=False)]
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AsrError(errors[0] + more)
    feats = [r for r in results if not isinstance(r, str)]
    return FeatureSet(
        features=feats,
        texts=[normalize_text(u.text) for u in utterances],
        paths=[u.audio_filepath for u in utterances],
        config=config,
        durations=[f.shape[0] / config.frames_per_second for f in feats],
    )


def bucket_width(length: int) -> int:
    """Padded width for a batch whose longest item has ``length`` frames."""
    width = MIN_TIME_BUCKET
    while width < length:
        width = max(width + 1, math.ceil(width * TIME_BUCKET_GROWTH))
    # keep widths divisible by 8 so strided shapes stay few and aligned
    return int(math.ceil(width / 8) * 8)


@dataclass
class Prepared:
    """Normalized features and labels ready for batching, plus what was dropped and why."""

    features: list[np.ndarray]
    labels: list[np.ndarray]
    texts: list[str]
    paths: list[str]
    output_lengths: np.ndarray
    skipped: list[str]


def prepare_examples(
    data: FeatureSet, normalizer: Normalizer, tokenizer: Tokenizer, model: ModelConfig
) -> Prepared:
    """Normalize, encode and drop utterances CTC cannot align (label longer than frames)."""
    feats, labels, texts, paths, lengths, skipped = [], [], [], [], [], []
    for f, text, path in zip(data.features, data.texts, data.paths, strict=True):
        if not text:
            skipped.append(f"{path}: empty transcript after normalization")
            continue
        label = tokenizer.encode(text)
        out_len = model.output_length(f.shape[0])
        need = min_frames_for_label(label)
        if need > out_len:
            skipped.append(
                f"{path}: transcript needs {need} output frames but the audio gives {out_len}"
            )
            continue
        feats.append(normalizer(f))
        labels.append(label)
        texts.append(text)
        paths.append(path)
        lengths.append(out_len)
    return Prepared(feats, labels, texts, paths, np.array(lengths, dtype=np.int32), skipped)


class CTCBatches(keras.utils.PyDataset):
    """Length-bucketed, zero-padded batches; batch order reshuffled every epoch."""

    def __init__(
        self,
        examples: Prepared,
        model: ModelConfig,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not examples.features:
            raise AsrError("no usable utterances to batch (all were skipped)")
        self.examples = examples
        self.model = model
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._frames = np.array([f.shape[0] for f in examples.features])
        self._batches = self._make_batches()

    def _make_batches(self) -> list[np.ndarray]:
        """Group similar lengths; jitter the sort when shuffling so batches vary by epoch."""
        keys = self._frames.astype(np.float64)
        if self.shuffle:
            keys = keys * self._rng.uniform(0.9, 1.1, size=keys.shape)
        order = np.argsort(keys, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            self._rng.shuffle(batches)
        return batches

    def __len__(self) -> int:
        return len(self._batches)

    @property
    def total_frames(self) -> int:
        """Feature frames per pass over the data."""
        return int(self._frames.sum())

    def batch_indices(self, index: int) -> np.ndarray:
        """Utterance indices in batch ``index``."""
        return self._batches[index]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return collate(self.examples, self._batches[index], self.model)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._batches = self._make_batches()


def collate(examples: Prepared, idx: np.ndarray, model: ModelConfig) -> dict[str, np.ndarray]:
    """Zero-pad one batch to bucketed widths; zeros are the normalized mean, as in inference."""
    feats = [examples.features[i] for i in idx]
    labels = [examples.labels[i] for i in idx]
    width = bucket_width(max(f.shape[0] for f in feats))
    lab_width = int(math.ceil(max(len(lb) for lb in labels) / LABEL_PAD_MULTIPLE))
    lab_width = max(lab_width, 1) * LABEL_PAD_MULTIPLE
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
