"""Several classifiers as one: each clip's class probabilities averaged over the members.

Why: runs of one recipe that differ only in their seed err on different speakers (the gender
recipe's three seeds scored one real character 82.5, 90 and 95 %), and averaging their
probabilities is the cheapest way to keep what each got right. Members must have the same
labels in the same order; each reads a clip with its own features and normalization, so a
cnn on log-mel and a model on a speech encoder can stand side by side. An ensemble names
clips and spans (``predict``, ``evaluate``, ``detect --label-with``); it does not find spans
itself, which needs one per-frame model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asr.classify import Classifier
from asr.errors import ConfigError


class Ensemble(Classifier):
    """Classifiers whose clip probabilities are averaged (equal weights)."""

    def __init__(self, members: Sequence[Classifier]) -> None:  # noqa: D107 - see the class
        if len(members) < 2:
            raise ConfigError("an ensemble needs at least two classifiers")
        first = members[0]
        for other in members[1:]:
            if other.spec.per_frame != first.spec.per_frame:
                raise ConfigError("ensemble members must all be clip models or all per-frame")
            if other.labels != first.labels:
                raise ConfigError(
                    f"ensemble members need the same labels in the same order: "
                    f"{first.labels} vs {other.labels}"
                )
        self.members = list(members)
        self.model = None
        # audio is read once, at the highest member rate; each member resamples from there
        self.config = max(members, key=lambda m: m.config.features.sample_rate).config
        self.spec = first.spec
        self.labels = list(first.labels)

    @classmethod
    def load(cls, model_dirs: Sequence[str | os.PathLike], runtime: str = "auto") -> Ensemble:
        """Each directory's classifier (``Classifier.load``), as one ensemble."""
        return cls([Classifier.load(Path(d), runtime=runtime) for d in model_dirs])

    def features(self, audio, sample_rate: int | None = None):
        """One clip's features for every member, read once: a tuple in member order."""
        samples = self.samples(audio, sample_rate)
        rate = self.config.features.sample_rate
        return tuple(m.features(samples, rate) for m in self.members)

    def clip_probabilities(self, feats_list: Sequence[tuple[np.ndarray, ...]]) -> np.ndarray:
        """(clips, classes): the members' clip probabilities, averaged."""
        return np.mean(
            [
                m.clip_probabilities([feats[i] for feats in feats_list])
                for i, m in enumerate(self.members)
            ],
            axis=0,
        )

    def span_probabilities(self, samples: np.ndarray, rate: int, spans) -> np.ndarray:
        """(spans, classes): each member names the spans from clips of its own length."""
        samples, rate = self.samples(samples, rate), self.config.features.sample_rate
        return np.mean([m.span_probabilities(samples, rate, spans) for m in self.members], axis=0)

    def _finds_no_spans(self, *_args, **_kwargs):
        raise ConfigError(
            "an ensemble names clips and spans; give one per-frame model as --model and the "
            "ensemble as --label-with"
        )

    # finding spans needs one per-frame network; an ensemble has none of its own
    detect = frame_probabilities = _run = _finds_no_spans


def load_classifier(model_dirs: Sequence[str | os.PathLike], runtime: str = "auto") -> Classifier:
    """One directory's classifier, or an ensemble of several."""
    if not model_dirs:
        raise ConfigError("no classifier directory given")
    if len(model_dirs) == 1:
        return Classifier.load(Path(model_dirs[0]), runtime=runtime)
    return Ensemble.load(model_dirs, runtime=runtime)
