"""Library entry point for transcription: ``Transcriber.load(dir).transcribe(...)``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.audio import load_audio, resample
from asr.config import MODEL_NAME, Config, load_config
from asr.data import bucket_width
from asr.decoding import greedy_decode_batch
from asr.errors import ConfigError
from asr.features import Normalizer, compute_features
from asr.text import Tokenizer

MAX_BATCH_FRAMES = 32 * 1000  # feature frames per forward pass (~5 min of audio)
MAX_BATCH_SIZE = 64


def default_model_dir() -> Path:
    """The shipped model: checkpoints/default in a checkout, or the copy a wheel installs.

    pyproject.toml maps checkpoints/default to the package data ``asr/checkpoints/default``,
    so an installed asr finds it beside this file, from any working directory.
    """
    here = Path(__file__).resolve().parent
    checkout = here.parent / "checkpoints" / "default"
    if (checkout / MODEL_NAME).is_file():
        return checkout
    return here / "checkpoints" / "default"


@dataclass(frozen=True)
class Transcription:
    """One file's result."""

    path: str | None
    text: str
    duration: float  # seconds of audio


class Transcriber:
    """A trained model with the featurizer and tokenizer its config.json describes."""

    def __init__(self, model, config: Config) -> None:
        if not config.mean:
            raise ConfigError("config.json has no normalization statistics; retrain the model")
        self.model = model
        self.config = config
        self.tokenizer = Tokenizer(config.alphabet)
        self.normalizer = Normalizer(np.array(config.mean), np.array(config.std))
        self._check_shapes()

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None) -> Transcriber:
        """Load DIR/model.keras (safe_mode=True) and DIR/config.json."""
        from asr.modelio import load_inference_model

        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        config = load_config(model_dir)
        return cls(load_inference_model(model_dir, config), config)

    def _check_shapes(self) -> None:
        """Refuse a config.json that does not describe this model.keras."""
        in_dim = self.model.input["features"].shape[-1]
        out_dim = self.model.output.shape[-1]
        if in_dim != self.config.features.dim or out_dim != self.config.num_classes:
            raise ConfigError(
                f"config.json describes {self.config.features.dim} feature dims and "
                f"{self.config.num_classes} classes but model.keras takes {in_dim} and emits "
                f"{out_dim}; the two files come from different models"
            )

    def features(self, samples: np.ndarray) -> np.ndarray:
        """Normalized features of float samples at the model's sample rate."""
        return self.normalizer(compute_features(samples, self.config.features))

    def logits(self, feats: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-utterance (frames, classes) logits, run in length-sorted padded batches."""
        out: list[np.ndarray | None] = [None] * len(feats)
        order = np.argsort([f.shape[0] for f in feats], kind="stable")
        for batch in _batches(order, [f.shape[0] for f in feats]):
            width = bucket_width(max(feats[i].shape[0] for i in batch))
            x = np.zeros((len(batch), width, self.config.features.dim), dtype=np.float32)
            lengths = np.zeros(len(batch), dtype=np.int32)
            for row, i in enumerate(batch):
                x[row, : feats[i].shape[0]] = feats[i]
                lengths[row] = self.config.model.output_length(feats[i].shape[0])
            y = np.asarray(self.model.predict_on_batch({"features": x, "input_length": lengths}))
            for row, i in enumerate(batch):
                out[i] = y[row, : lengths[row]]
        return out  # type: ignore[return-value]

    def transcribe_arrays(self, signals: Sequence[np.ndarray]) -> list[str]:
        """Texts for float signals already at the model's sample rate."""
        logits = self.logits([self.features(s) for s in signals])
        return [self.tokenizer.decode(greedy_decode_batch(lg[None])[0]) for lg in logits]

    def transcribe(
        self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None
    ) -> str:
        """Text of one file path or sample array (``sample_rate`` defaults to the model's)."""
        if isinstance(audio, np.ndarray):
            samples = np.asarray(audio, dtype=np.float32)
            if samples.ndim == 2:  # (samples, channels)
                samples = samples.mean(axis=1)
            rate = sample_rate or self.config.features.sample_rate
            samples = resample(samples, rate, self.config.features.sample_rate)
        else:
            samples = load_audio(audio, self.config.features.sample_rate)
        return self.transcribe_arrays([samples])[0]

    def transcribe_files(self, paths: Iterable[str | os.PathLike]) -> list[Transcription]:
        """Load and transcribe many files in batches (a bad file raises AudioError)."""
        paths = list(paths)
        rate = self.config.features.sample_rate
        signals = [load_audio(p, rate) for p in paths]
        texts = self.transcribe_arrays(signals)
        return [
            Transcription(str(p), t, len(s) / rate)
            for p, s, t in zip(paths, signals, texts, strict=True)
        ]


def _batches(order: np.ndarray, frames: Sequence[int]) -> Iterable[list[int]]:
    """Split length-sorted indices into batches bounded in count and padded frames."""
    batch: list[int] = []
    for i in order:
        longest = max([frames[j] for j in batch] + [frames[i]])
        if batch and (
            len(batch) >= MAX_BATCH_SIZE or longest * (len(batch) + 1) > MAX_BATCH_FRAMES
        ):
            yield batch
            batch = []
        batch.append(int(i))
    if batch:
        yield batch
