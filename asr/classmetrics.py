"""Scores of a classifier: accuracy, per-class precision/recall/F1, the confusion matrix, and
event F1 for detected spans. Pure NumPy, so reports and tests need no deep-learning import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ClassScore:
    """One class's precision, recall and F1 over a test set."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int  # clips whose true label this is


@dataclass(frozen=True)
class ClassReport:
    """What `asr classify evaluate` prints and writes."""

    labels: list[str]
    accuracy: float
    classes: list[ClassScore]
    confusion: list[list[int]]  # rows: true label, columns: predicted, in ``labels`` order
    rows: list[dict[str, object]]  # per clip: path, label, predicted, probability

    @property
    def count(self) -> int:
        """Clips scored."""
        return len(self.rows)

    @property
    def macro_f1(self) -> float:
        """Mean F1 over classes present in the test set."""
        present = [c.f1 for c in self.classes if c.support]
        return float(np.mean(present)) if present else 0.0

    def by_speaker(self) -> list[tuple[str, int, int]]:
        """(speaker, right, clips) for each speaker the manifest names, worst first.

        Why: test sets here hold whole speakers out, and one figure over them hides that
        errors gather on a few voices (the gender model's on one or two characters).
        """
        tally: dict[str, list[int]] = {}
        for row in self.rows:
            speaker = row.get("speaker")
            if speaker is None:
                continue
            counts = tally.setdefault(str(speaker), [0, 0])
            counts[0] += int(row.get("predicted") == row.get("label"))
            counts[1] += 1
        return sorted(
            ((s, right, n) for s, (right, n) in tally.items()), key=lambda t: (t[1] / t[2], t[0])
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: totals, per class, per speaker, the matrix and per-clip rows."""
        return {
            "count": self.count,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "labels": self.labels,
            "classes": [asdict(c) for c in self.classes],
            "speakers": [
                {"speaker": s, "accuracy": right / n, "clips": n}
                for s, right, n in self.by_speaker()
            ],
            "confusion": self.confusion,
            "clips": self.rows,
        }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def score_classes(
    labels: Sequence[str],
    truth: Sequence[int],
    predicted: Sequence[int],
    rows: Sequence[dict[str, object]] = (),
) -> ClassReport:
    """Accuracy, per-class scores and the confusion matrix of integer labels."""
    n = len(labels)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, int), np.asarray(predicted, int)), 1)
    classes = []
    for i, label in enumerate(labels):
        tp = matrix[i, i]
        precision = _ratio(tp, matrix[:, i].sum())
        recall = _ratio(tp, matrix[i].sum())
        f1 = _ratio(2 * precision * recall, precision + recall)
        classes.append(ClassScore(label, precision, recall, f1, int(matrix[i].sum())))
    accuracy = _ratio(np.trace(matrix), matrix.sum())
    return ClassReport(list(labels), accuracy, classes, matrix.tolist(), list(rows))


@dataclass(frozen=True)
class EventScore:
    """Detection against known events: matched spans, precision, recall, F1."""

    matched: int
    predicted: int
    reference: int

    @property
    def precision(self) -> float:
        return _ratio(self.matched, self.predicted)

    @property
    def recall(self) -> float:
        return _ratio(self.matched, self.reference)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.matched, self.predicted + self.reference)


def event_score(
    reference: Sequence[tuple[float, float, str]],
    predicted: Sequence[tuple[float, float, str]],
    onset_tolerance: float = 0.2,
) -> EventScore:
    """Match each predicted (start, end, label) to at most one reference event of the same
    label whose onset is within ``onset_tolerance`` seconds, closest onsets first (the
    onset-only event F1 of DCASE-style detection)."""
    pairs = sorted(
        (abs(p[0] - r[0]), i, j)
        for i, p in enumerate(predicted)
        for j, r in enumerate(reference)
        if p[2] == r[2] and abs(p[0] - r[0]) <= onset_tolerance
    )
    used_p: set[int] = set()
    used_r: set[int] = set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
    return EventScore(len(used_p), len(predicted), len(reference))
