"""Classifying audio with a model directory of task "classify": labels per clip, label
probabilities per frame, and spans where a per-frame model hears a target class.

The clip framing below (pad or crop to the model's frame count, windows over longer audio,
voiced frames) is pure NumPy and shared with training (asr.classify_train), so a clip is
cut the same way in both. The network runs under Keras (model.keras, safe_mode=True) or,
when the directory holds an export, onnxruntime.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.architectures import CLASSIFY
from asr.audio import load_audio, resample
from asr.buckets import bucket_width
from asr.classmetrics import ClassReport, score_classes
from asr.config import ClassifierModelConfig, Config, load_config, shipped_model_dir
from asr.errors import AsrError, AudioError, ConfigError, ManifestError
from asr.features import Normalizer, compute_features
from asr.runtime import ONNX_NAME, TFLITE_NAME, classifier_onnx, uses_onnx, uses_tflite

BACKGROUND = "_background_"  # a per-frame model's class for frames outside any clip's sound
# Classes that are not events: detect reports spans of every other class.
NON_TARGETS = frozenset({BACKGROUND, "silence", "_silence_", "unknown", "_unknown_"})
VOICED_DB = 30.0  # a frame is voiced within this many dB of its clip's loudest frame ...
FLOOR_DB = 6.0  # ... and this many dB above its noise floor
FLOOR_PERCENTILE = 20  # the noise floor: this percentile of the clip's frame energies
MIN_CLIP_FRACTION = 0.1  # of the frame count: shorter clips are broken, not short words
VARIABLE_WINDOW = 1000  # frames per window when a variable-length model scans long audio
# a variable-length clip model names a span from at least this much audio around it: word
# classifiers learn from 1 s clips with quiet around the word, not from the word cut bare
LABEL_CLIP_SECONDS = 1.0
BATCH = 64


def default_classifier_dir() -> Path:
    """The shipped keyword model (checkpoints/keywords)."""
    return shipped_model_dir("keywords")


@dataclass(frozen=True)
class Span:
    """A stretch of audio where a per-frame model hears ``label``."""

    start: float  # seconds
    end: float
    label: str
    score: float  # mean probability of ``label`` over the span


def window_starts(frames: int, width: int) -> list[int]:
    """Starts of ``width``-frame windows covering ``frames`` frames, half overlapping, the
    last one flush with the end (a single window at 0 when the audio is shorter)."""
    if frames <= width:
        return [0]
    hop = max(1, width // 2)
    starts = list(range(0, frames - width, hop))
    return [*starts, frames - width]


def place(feats: np.ndarray, width: int, offset: int) -> np.ndarray:
    """(width, D) of ``feats`` shifted right by ``offset`` (>= 0) or cropped from ``-offset``;
    zeros (the normalized mean) elsewhere."""
    out = np.zeros((width, feats.shape[1]), dtype=np.float32)
    src = feats[max(0, -offset) :]
    start = max(0, offset)
    n = min(width - start, src.shape[0])
    if n > 0:
        out[start : start + n] = src[:n]
    return out


def centered_offset(frames: int, width: int) -> int:
    """Where inference puts a clip shorter than the window: in the middle."""
    return max(0, (width - frames) // 2)


def voiced_frames(feats: np.ndarray, config: Config) -> np.ndarray:
    """(frames,) bool: frames within VOICED_DB of the clip's loudest and FLOOR_DB above its
    noise floor, from un-normalized features (MFCC c0 is the log frame energy; log-mel bands
    are summed).

    Why: a per-frame model needs to know *where* in a labeled clip the sound is; for the
    clean clips keyword corpora are made of, energy says it.
    """
    base = feats[:, : config.features.spectral_dim]
    if config.features.kind == "mfcc":
        energy = base[:, 0]
    else:
        top = base.max(axis=1, keepdims=True)
        energy = top[:, 0] + np.log(np.exp(base - top).sum(axis=1))
    db = math.log(10) / 10  # natural-log energy per dB
    floor = np.percentile(energy, FLOOR_PERCENTILE)
    peak = energy.max()
    # in heavy noise the floor rule would leave nothing: keep at least the loudest frames
    return energy >= min(max(peak - VOICED_DB * db, floor + FLOOR_DB * db), peak - 3 * db)


def frame_targets(feats: np.ndarray, label: int, background: int, config: Config) -> np.ndarray:
    """(frames,) int: ``label`` on voiced frames, ``background`` elsewhere."""
    return np.where(voiced_frames(feats, config), label, background).astype(np.int32)


def voiced_span(samples: np.ndarray, span: Span, config: Config) -> Span:
    """``span`` of ``samples`` narrowed to its first and last voiced frames
    (:func:`voiced_frames` on the span's own audio).

    Why: a per-frame model's speech probability rises 0.2-0.5 s before a word, so its
    spans started before their words (a third of the missed events in the synthetic test
    recordings), and the clip a labeler heard was centred off the word.
    """
    fc = config.features
    first = int(span.start * fc.sample_rate)
    spectrum = dataclasses.replace(fc, zcr=False, pitch=False, deltas=False)  # all it reads
    feats = compute_features(samples[first : int(span.end * fc.sample_rate) + 1], spectrum)
    voiced = np.flatnonzero(voiced_frames(feats, config))
    if voiced.size == 0:
        return span
    start = first / fc.sample_rate + voiced[0] * fc.hop_seconds
    end = first / fc.sample_rate + voiced[-1] * fc.hop_seconds + fc.window_seconds
    return Span(round(start, 3), round(min(end, span.end), 3), span.label, span.score)


def min_clip_frames(model: ClassifierModelConfig) -> int:
    """The fewest frames a clip may have for a fixed-length model (1 for variable ones)."""
    return max(1, math.ceil(model.frames * MIN_CLIP_FRACTION)) if model.frames else 1


def target_labels(labels: Sequence[str]) -> list[str]:
    """The classes whose spans detection reports: all but background, silence and unknown."""
    return [label for label in labels if label not in NON_TARGETS]


def find_spans(
    probs: np.ndarray,
    labels: Sequence[str],
    hop_seconds: float,
    window_seconds: float,
    threshold: float = 0.5,
    min_frames: int = 10,
    max_gap: int = 10,
    targets: Sequence[str] | None = None,
) -> list[Span]:
    """Spans of consecutive frames whose most likely class is a target with probability
    >= ``threshold``; runs of one label closer than ``max_gap`` frames merge, and spans
    shorter than ``min_frames`` are dropped (a word lasts longer than 100 ms)."""
    wanted = {labels.index(t) for t in (targets if targets is not None else target_labels(labels))}
    best = probs.argmax(axis=1)
    active = np.array([b in wanted for b in best]) & (probs.max(axis=1) >= threshold)
    runs: list[list[int]] = []  # [label, first, last]
    for i in np.flatnonzero(active):
        label = int(best[i])
        if runs and runs[-1][0] == label and i - runs[-1][2] <= max_gap:
            runs[-1][2] = int(i)
        else:
            runs.append([label, int(i), int(i)])
    spans = []
    for label, first, last in runs:
        if last - first + 1 < min_frames:
            continue
        score = float(probs[first : last + 1, label].mean())
        start = first * hop_seconds
        end = last * hop_seconds + window_seconds
        spans.append(Span(round(start, 3), round(end, 3), labels[label], score))
    return spans


class Classifier:
    """A trained classifier with the featurizer, normalization and labels of its config.json."""

    def __init__(self, model, config: Config) -> None:
        if config.task != CLASSIFY or not isinstance(config.model, ClassifierModelConfig):
            raise ConfigError(
                f"this is a {config.task} model, not a classifier; use asr transcribe with it"
            )
        if not config.mean:
            raise ConfigError("config.json has no normalization statistics; retrain the model")
        self.model = model
        self.config = config
        self.spec: ClassifierModelConfig = config.model
        self.labels = list(config.labels)
        self.normalizer = Normalizer(np.array(config.mean), np.array(config.std))

    @classmethod
    def load(cls, model_dir: str | os.PathLike, runtime: str = "auto") -> Classifier:
        """DIR/config.json and the network: DIR/model.onnx under onnxruntime (no TensorFlow)
        when it is there and onnxruntime is installed, else DIR/model.keras (loaded with
        safe_mode=True). ``runtime``: "auto", "onnx" or "keras"."""
        model_dir = Path(model_dir)
        config = load_config(model_dir)
        if config.task != CLASSIFY:
            raise ConfigError(
                f"{model_dir}: a {config.task} model, not a classifier; "
                "use asr transcribe, or train one with asr classify train"
            )
        if uses_tflite(model_dir, runtime):
            from asr.tflite_runtime import classifier_tflite

            return cls(classifier_tflite(model_dir / TFLITE_NAME, config), config)
        if uses_onnx(model_dir, runtime):
            return cls(classifier_onnx(model_dir / ONNX_NAME, config), config)
        from asr.modelio import load_inference_model

        return cls(load_inference_model(model_dir, config), config)

    def features(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None):
        """Normalized features of a file, or of float samples (at ``sample_rate``, default
        the model's own)."""
        return self.normalizer(
            compute_features(self.samples(audio, sample_rate), self.config.features)
        )

    def samples(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None):
        """Float samples at the model's rate from a file, or from samples at ``sample_rate``."""
        rate = self.config.features.sample_rate
        if isinstance(audio, np.ndarray):
            return audio if sample_rate in (None, rate) else resample(audio, sample_rate, rate)
        return load_audio(audio, rate)

    def _run(self, batch: Sequence[np.ndarray], lengths: Sequence[int]) -> np.ndarray:
        """Probabilities of equally long (frames, D) windows; ``lengths`` are the real frames."""
        x = np.stack(batch).astype(np.float32)
        feed = {"features": x}
        if self.spec.recurrent:
            feed["input_length"] = np.asarray(lengths, dtype=np.int32)
        return np.asarray(self.model.predict_on_batch(feed))

    def _windows(self, feats: np.ndarray) -> tuple[list[np.ndarray], list[int], list[int]]:
        """The windows a clip is scored in: (inputs, real lengths, starts in the clip)."""
        width = self.spec.frames
        if not width:  # variable length: the whole clip, or long windows over long audio
            starts = window_starts(feats.shape[0], VARIABLE_WINDOW)
            parts = [feats[s : s + VARIABLE_WINDOW] for s in starts]
            return parts, [p.shape[0] for p in parts], starts
        if feats.shape[0] < width:
            offset = centered_offset(feats.shape[0], width)
            return [place(feats, width, offset)], [width], [-offset]
        starts = window_starts(feats.shape[0], width)
        return [feats[s : s + width] for s in starts], [width] * len(starts), starts

    def clip_probabilities(self, feats_list: Sequence[np.ndarray]) -> np.ndarray:
        """(clips, classes): each clip's class probabilities, averaged over its windows (and
        over its frames, for a per-frame model)."""
        jobs: list[tuple[int, np.ndarray, int]] = []
        for index, feats in enumerate(feats_list):
            parts, lengths, _ = self._windows(feats)
            jobs += [(index, p, n) for p, n in zip(parts, lengths, strict=True)]
        sums = np.zeros((len(feats_list), len(self.labels)))
        counts = np.zeros(len(feats_list))
        for index, probs in self._scored(jobs):
            sums[index] += probs
            counts[index] += 1
        return sums / counts[:, None]

    def _scored(self, jobs: list[tuple[int, np.ndarray, int]]):
        """(clip index, probabilities) per window, in batches of one padded width (a
        variable-length model's windows are padded to bucket widths and masked)."""
        by_width: dict[int, list[tuple[int, np.ndarray, int]]] = {}
        for job in jobs:
            width = self.spec.frames or bucket_width(job[1].shape[0])
            by_width.setdefault(width, []).append(job)
        for width, group in by_width.items():
            for i in range(0, len(group), BATCH):
                chunk = group[i : i + BATCH]
                out = self._run([place(p, width, 0) for _, p, _ in chunk], [n for *_, n in chunk])
                for (index, _, n), probs in zip(chunk, out, strict=True):
                    yield index, probs[:n].mean(axis=0) if probs.ndim == 2 else probs

    def frame_probabilities(self, feats: np.ndarray) -> np.ndarray:
        """(frames, classes) of a per-frame model over audio of any length: half-overlapping
        windows, each frame's probabilities averaged over the windows that saw it."""
        if not self.spec.per_frame:
            raise ConfigError("this classifier labels whole clips; detection needs --per-frame")
        parts, lengths, starts = self._windows(feats)
        if self.config.features.cmn:
            parts = [self._recenter(p, n) for p, n in zip(parts, lengths, strict=True)]
        total = np.zeros((feats.shape[0], len(self.labels)))
        seen = np.zeros(feats.shape[0])
        for i in range(0, len(parts), BATCH):
            chunk = slice(i, i + BATCH)
            out = self._run(parts[chunk], lengths[chunk])
            for probs, n, start in zip(out, lengths[chunk], starts[chunk], strict=True):
                lo, hi = max(0, start), min(feats.shape[0], start + n)
                total[lo:hi] += probs[lo - start : hi - start]
                seen[lo:hi] += 1
        return total / np.maximum(seen, 1)[:, None]

    def _recenter(self, window: np.ndarray, length: int) -> np.ndarray:
        """A window as if its audio had been mean-normalized on its own.

        Why: a per-frame model learns on clips as long as its window, each with its own
        mean removed; over a long recording the mean is mostly silence, which made every
        word look louder than in training. Shifting a window's static dims by their window
        mean (in normalized units, plus the training mean) undoes that.
        """
        static = self.config.features.cmn_dim
        shift = (
            window[:length, :static].mean(axis=0)
            + self.normalizer.mean[:static] / (self.normalizer.std[:static])
        )
        out = window.copy()
        out[:length, :static] -= shift
        return out

    def predict(
        self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None
    ) -> tuple[str, float]:
        """The most likely label of one clip and its probability."""
        probs = self.clip_probabilities([self.features(audio, sample_rate)])[0]
        best = int(probs.argmax())
        return self.labels[best], float(probs[best])

    def top(self, probs: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` most likely (label, probability) pairs of one clip's probabilities."""
        order = np.argsort(-probs, kind="stable")[: max(1, k)]
        return [(self.labels[i], float(probs[i])) for i in order]

    def predict_files(
        self,
        paths: Sequence[str | os.PathLike],
        top_k: int = 1,
        on_error: Callable[[AudioError], None] | None = None,
    ) -> list[tuple[str, list[tuple[str, float]]]]:
        """(path, top-k labels) per readable file, in input order; unreadable files go to
        ``on_error`` (or raise)."""
        feats, kept = [], []
        for path in paths:
            try:
                feats.append(self.features(path))
            except AudioError as e:
                if on_error is None:
                    raise
                on_error(e)
                continue
            kept.append(str(path))
        if not feats:
            return []
        probs = self.clip_probabilities(feats)
        return [(p, self.top(row, top_k)) for p, row in zip(kept, probs, strict=True)]

    def detect(
        self,
        audio: str | os.PathLike | np.ndarray,
        threshold: float = 0.5,
        targets: Sequence[str] | None = None,
        sample_rate: int | None = None,
        labeler: Classifier | None = None,
    ) -> list[Span]:
        """Spans where a per-frame model hears a target class (default: every class but
        background, silence and unknown).

        With a ``labeler`` (a whole-clip classifier), this model only finds where words
        are (frames whose background and silence probabilities sum under one half) and
        the labeler names each span from a clip of its own length (at least its input's, or
        ``LABEL_CLIP_SECONDS`` for a variable-length labeler) around the span; spans it
        calls a non-target, or names with probability under ``threshold``, are dropped.
        Why: a clip model tells words apart better than a per-frame one (on held-out voices
        the per-frame model's errors were mostly wrong labels, not missed words). Each span
        is narrowed to its voiced frames before it is named (:func:`voiced_span`).
        """
        names = labeler.labels if labeler is not None else self.labels
        if targets is not None:
            unknown = [t for t in targets if t not in names]
            if unknown:
                raise AsrError(f"--target {unknown[0]!r} is not one of this model's labels {names}")
        samples = self.samples(audio, sample_rate)
        probs = self.frame_probabilities(self.features(samples))
        fc = self.config.features
        if labeler is None:
            return find_spans(
                probs, self.labels, fc.hop_seconds, fc.window_seconds, threshold, targets=targets
            )
        quiet = [self.labels.index(q) for q in (BACKGROUND, "silence") if q in self.labels]
        speech = 1.0 - probs[:, quiet].sum(axis=1)
        found = find_spans(
            np.stack([1.0 - speech, speech], axis=1),
            ["quiet", "speech"],
            fc.hop_seconds,
            fc.window_seconds,
            0.5,
            targets=["speech"],
        )
        words = [voiced_span(samples, span, self.config) for span in found]
        return labeler.name_spans(
            samples, self.config.features.sample_rate, words, threshold, targets
        )

    def span_probabilities(
        self, samples: np.ndarray, rate: int, spans: Sequence[Span]
    ) -> np.ndarray:
        """(spans, classes): each span named from a clip of at least this model's input
        length (``LABEL_CLIP_SECONDS`` for a variable-length model) centred on it."""
        samples, rate = self.samples(samples, rate), self.config.features.sample_rate
        hop = self.config.features.hop_seconds
        least = self.spec.frames * hop if self.spec.frames else LABEL_CLIP_SECONDS
        clips = []
        for span in spans:
            half = max(span.end - span.start, least) / 2
            middle = (span.start + span.end) / 2
            first = max(0, int((middle - half) * rate))
            clips.append(samples[first : int((middle + half) * rate) + 1])
        return self.clip_probabilities([self.features(c) for c in clips])

    def name_spans(
        self,
        samples: np.ndarray,
        rate: int,
        spans: Sequence[Span],
        threshold: float,
        targets: Sequence[str] | None = None,
    ) -> list[Span]:
        """``spans`` of ``samples`` labeled by this clip model; non-targets and labels
        under ``threshold`` dropped."""
        if not spans:
            return []
        wanted = set(targets if targets is not None else target_labels(self.labels))
        probs = self.span_probabilities(samples, rate, spans)
        named = []
        for span, row in zip(spans, probs, strict=True):
            best = int(row.argmax())
            if self.labels[best] in wanted and row[best] >= threshold:
                named.append(
                    Span(span.start, span.end, self.labels[best], round(float(row[best]), 4))
                )
        return named


def evaluate_classifier(
    classifier: Classifier,
    manifest: str | os.PathLike,
    skip_invalid: bool = False,
    on_error: Callable[[str], None] | None = None,
) -> ClassReport:
    """Score a label manifest: accuracy, per-class precision/recall/F1, confusion matrix.

    A label the model does not know is an error naming the line (or, with
    ``skip_invalid``, a line left out and passed to ``on_error``), as is unreadable audio.
    """
    from asr.manifest import read_manifest_report

    utterances, bad = read_manifest_report(manifest, skip_invalid=skip_invalid, labels=True)
    problems = list(bad)
    feats, truth, rows = [], [], []
    index = {label: i for i, label in enumerate(classifier.labels)}
    for u in utterances:
        if u.label not in index:
            message = (
                f"{u.source}: label {u.label!r} is not one this model knows "
                f"({', '.join(classifier.labels)}); fix the line or evaluate another model"
            )
            if not skip_invalid:
                raise ManifestError(message)
            problems.append(message)
            continue
        try:
            feats.append(classifier.features(u.audio_filepath))
        except AudioError as e:
            if not skip_invalid:
                raise AudioError(f"{u.source}: {e}") from e
            problems.append(f"{u.source}: {e}")
            continue
        truth.append(index[u.label])
        row: dict[str, object] = {"audio_filepath": u.audio_filepath, "label": u.label}
        if u.speaker is not None:
            row["speaker"] = u.speaker
        rows.append(row)
    for problem in problems:
        if on_error is not None:
            on_error(problem)
    if not feats:
        raise AsrError(f"{manifest}: no clip could be scored (first problem: {problems[0]})")
    probs = classifier.clip_probabilities(feats)
    predicted = probs.argmax(axis=1)
    for row, p, guess in zip(rows, probs, predicted, strict=True):
        row.update(predicted=classifier.labels[int(guess)], probability=float(p[int(guess)]))
    return score_classes(classifier.labels, truth, predicted.tolist(), rows)
