"""Classifier scores against hand-counted cases: per-class precision/recall/F1, the confusion
matrix's orientation, event F1's matching rules, and the HTML page that shows them."""

from __future__ import annotations

import re

import pytest

from asr.classmetrics import event_score, score_classes
from asr.report import render_class_html


def test_per_class_scores_and_matrix_match_a_hand_count() -> None:
    # truth a a b c, predicted a b b b: a 1 of 2 right, b 1 of 1, c 0 of 1.
    report = score_classes(["a", "b", "c"], [0, 0, 1, 2], [0, 1, 1, 1])
    assert report.confusion == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]  # rows true, columns predicted
    assert report.accuracy == pytest.approx(0.5)
    a, b, c = report.classes
    assert (a.precision, a.recall, a.f1, a.support) == pytest.approx((1.0, 0.5, 2 / 3, 2))
    assert (b.precision, b.recall, b.f1, b.support) == pytest.approx((1 / 3, 1.0, 0.5, 1))
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 1)
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)


def test_macro_f1_leaves_out_classes_absent_from_the_test_set() -> None:
    report = score_classes(["a", "b", "c"], [0, 1], [0, 1])  # no clip of c, none called c
    assert report.classes[2].support == 0
    assert report.macro_f1 == 1.0
    assert score_classes(["a"], [], []).macro_f1 == 0.0


def test_an_event_matches_within_the_onset_tolerance_and_only_its_own_label() -> None:
    reference = [(1.0, 1.5, "yes"), (3.0, 3.4, "no")]
    inside = [(1.19, 1.6, "yes"), (3.0, 3.4, "yes")]  # second: right time, wrong label
    score = event_score(reference, inside, onset_tolerance=0.2)
    assert (score.matched, score.predicted, score.reference) == (1, 2, 2)
    assert (score.precision, score.recall, score.f1) == (0.5, 0.5, 0.5)
    assert event_score(reference, [(1.21, 1.6, "yes")], onset_tolerance=0.2).matched == 0


def test_two_predictions_cannot_share_one_event_and_the_closest_pairs_match_first() -> None:
    reference = [(1.0, 1.5, "yes"), (1.3, 1.8, "yes")]
    # 1.2 is nearer the second event, but 1.35 can only match the second: pairing the
    # closest onsets first gives each prediction an event (2 matches, not 1).
    score = event_score(reference, [(1.2, 1.6, "yes"), (1.35, 1.7, "yes")], onset_tolerance=0.2)
    assert score.matched == 2
    lone = event_score(reference[:1], [(1.05, 1.4, "yes"), (0.95, 1.4, "yes")], 0.2)
    assert (lone.matched, lone.predicted, lone.reference) == (1, 2, 1)
    assert lone.precision == 0.5 and lone.recall == 1.0


def test_no_predictions_and_no_events_score_zero_not_a_division_error() -> None:
    assert event_score([], []).f1 == 0.0
    assert event_score([(1.0, 2.0, "yes")], []).recall == 0.0


def test_the_html_page_escapes_labels_and_paths_and_draws_the_counts() -> None:
    labels = ["<b>", "ok"]
    rows = [
        {"audio_filepath": "d/<img onerror=go>.wav", "label": "<b>", "predicted": "ok",
         "probability": 0.75},
        {"audio_filepath": "d/fine.wav", "label": "ok", "predicted": "ok", "probability": 0.9},
        {"audio_filepath": "d/also.wav", "label": "ok", "predicted": "ok", "probability": 0.8},
    ]  # fmt: skip
    page = render_class_html(score_classes(labels, [0, 1, 1], [1, 1, 1], rows))
    assert "<img" not in page and "&lt;img onerror=go&gt;.wav" in page
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert "Misclassified clips (1)" in page and "0.750" in page
    matrix = page.split('<table class="matrix">')[1].split("</table>")[0]
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r'<td class="c"[^>]*>.*?</td>', matrix)]
    assert cells == ["", "1", "", "2"]  # row <b>: 0 right, 1 called ok; row ok: 2 right


def test_the_html_page_says_none_when_nothing_was_misclassified() -> None:
    rows = [{"audio_filepath": "a.wav", "label": "a", "predicted": "a", "probability": 1.0}]
    page = render_class_html(score_classes(["a", "b"], [0], [0], rows))
    assert "Misclassified clips (0)" in page and '<p class="none">none</p>' in page
