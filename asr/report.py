"""The evaluation report as one self-contained HTML page: inline CSS, no script, no URLs.

Pure Python (no TensorFlow): ``render_html`` turns an ``EvalReport`` into a page a person
reads in a browser. Every piece of text from a manifest, a model or a path goes through
``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING

import jiwer

if TYPE_CHECKING:
    from asr.classmetrics import ClassReport
    from asr.metrics import AlignedWord, Confusion, EvalReport, UtteranceScore, WordCount

SPACE = "\u2423"  # "␣": how a space is shown in character confusions
GAP = "\u2014"  # "—": the empty side of an insertion or a deletion

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color: #1f2328; background: #fff; max-width: 72rem; margin: 1.5rem auto;
       padding: 0 1rem; }
h1 { font-size: 1.55rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #d0d7de;
     padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 0 0 .4rem; }
.meta { color: #59636e; margin: 0; overflow-wrap: anywhere; }
.meta code { font-size: .9em; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1.2rem 0; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .45rem .9rem;
        min-width: 7.5rem; }
.card .v { display: block; font-size: 1.55rem; font-weight: 600;
           font-variant-numeric: tabular-nums; }
.card .k { color: #59636e; font-size: .85rem; }
table { border-collapse: collapse; }
th, td { padding: .2rem .65rem; text-align: left; border-bottom: 1px solid #eaeef2;
         vertical-align: top; }
th { font-weight: 600; background: #f6f8fa; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.t { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       overflow-wrap: anywhere; }
.grid > div { min-width: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr));
        gap: 1.2rem 2rem; align-items: start; }
.none { color: #59636e; font-style: italic; }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1.4rem; align-items: center;
          margin: .2rem 0 1rem; }
.utt { border: 1px solid #d0d7de; border-radius: 6px; padding: .55rem .8rem .35rem;
       margin: 0 0 .8rem; }
.utt header { display: flex; flex-wrap: wrap; gap: .2rem 1rem; align-items: baseline;
              margin-bottom: .45rem; }
.utt .rank { color: #59636e; font-variant-numeric: tabular-nums; }
.utt .file { font-weight: 600; overflow-wrap: anywhere; }
.utt .score { font-variant-numeric: tabular-nums; }
.utt .counts, .utt .path { color: #59636e; font-size: .85rem; }
.utt .path { overflow-wrap: anywhere; margin: -.3rem 0 .45rem; }
.align { display: flex; align-items: flex-start; gap: .5rem;
         font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
         font-size: .95rem; }
.words { display: flex; flex-wrap: wrap; gap: .35rem .3rem; flex: 1; }
.col { display: inline-flex; flex-direction: column; }
.col span { padding: 0 .25rem; border-radius: 3px; white-space: pre; min-height: 1.35em; }
.labels span { color: #59636e; font-size: .75rem; line-height: 1.45rem; padding: 0; }
.caption { color: #59636e; font-size: .85rem; margin: .3rem 0 0; }
.col .h { margin-top: 1px; }
.sub span { background: #ffe3a3; }
.sub .h { color: #7a4b00; }
.sub mark { background: #f2b350; color: #4d2e00; font-weight: 700; border-radius: 2px;
            padding: 0; }
.del .r { background: #ffcdd2; color: #8e1b1b; text-decoration: line-through; }
.ins .h { background: #c8ecd0; color: #135c25; text-decoration: underline; font-weight: 700; }
.gap { color: #9aa4ae; }
.sw { display: inline-block; padding: 0 .35rem; border-radius: 3px;
      font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.sw.sub { background: #ffe3a3; color: #7a4b00; }
.sw.del { background: #ffcdd2; color: #8e1b1b; text-decoration: line-through; }
.sw.ins { background: #c8ecd0; color: #135c25; text-decoration: underline; font-weight: 700; }
footer { color: #59636e; font-size: .85rem; margin: 2rem 0 1rem; }
"""

_OP_CLASS = {"equal": "eq", "substitute": "sub", "delete": "del", "insert": "ins"}


def _e(text: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(text), quote=True)


def _pct(x: float) -> str:
    """A rate as a percentage with one decimal."""
    return f"{x:.1%}"


def _char(token: str) -> str:
    """A character confusion's side, with the space made visible."""
    return SPACE if token == " " else token


def _card(value: str, label: str) -> str:
    """One headline figure."""
    return (
        f'<div class="card"><span class="v">{_e(value)}</span>'
        f'<span class="k">{_e(label)}</span></div>'
    )


def _counts_table(report: EvalReport) -> str:
    """Hits, substitutions, deletions and insertions for words and characters."""
    words = report.hits + report.substitutions + report.deletions
    chars = report.char_hits + report.char_substitutions + report.char_deletions
    rows = [
        ("words", words, report.hits, report.substitutions, report.deletions, report.insertions),
        (
            "characters",
            chars,
            report.char_hits,
            report.char_substitutions,
            report.char_deletions,
            report.char_insertions,
        ),
    ]
    head = "".join(
        f'<th class="n">{h}</th>'
        for h in ("in reference", "hits", "substitutions", "deletions", "insertions")
    )
    body = "".join(
        f"<tr><th>{name}</th>" + "".join(f'<td class="n">{v:,}</td>' for v in values) + "</tr>"
        for name, *values in rows
    )
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _confusion_table(title: str, items: Sequence[Confusion], chars: bool = False) -> str:
    """A ranked table of reference → hypothesis substitutions."""
    show = _char if chars else str
    caption = f'<p class="caption">{SPACE} is a space</p>' if chars else ""
    if not items:
        return f'<div><h3>{_e(title)}</h3><p class="none">none</p></div>'
    rows = "".join(
        f'<tr><td class="n">{c.count:,}</td><td class="t">{_e(show(c.ref))}</td>'
        f'<td class="t">{_e(show(c.hyp))}</td></tr>'
        for c in items
    )
    return (
        f"<div><h3>{_e(title)}</h3><table>"
        '<tr><th class="n">count</th><th>reference</th><th>hypothesis</th></tr>'
        f"{rows}</table>{caption}</div>"
    )


def _word_table(title: str, items: Sequence[WordCount]) -> str:
    """A ranked table of words with their counts."""
    if not items:
        return f'<div><h3>{_e(title)}</h3><p class="none">none</p></div>'
    rows = "".join(
        f'<tr><td class="n">{w.count:,}</td><td class="t">{_e(w.word)}</td></tr>' for w in items
    )
    return (
        f'<div><h3>{_e(title)}</h3><table><tr><th class="n">count</th><th>word</th></tr>'
        f"{rows}</table></div>"
    )


def _marked(segments: list[tuple[str, bool]]) -> str:
    """Escaped text with each run of differing letters in one ``<mark>``."""
    runs: list[tuple[str, bool]] = []
    for text, differs in segments:
        if runs and runs[-1][1] == differs:
            runs[-1] = (runs[-1][0] + text, differs)
        elif text:
            runs.append((text, differs))
    return "".join(f"<mark>{_e(t)}</mark>" if d else _e(t) for t, d in runs)


def _letter_diff(ref: str, hyp: str) -> tuple[str, str]:
    """A substituted word pair as HTML, the letters that differ marked on each side.

    jiwer's character alignment is the one CER counts, so the marks match the score.
    """
    chunks = jiwer.process_characters(ref, hyp).alignments[0]
    ref_parts = [(ref[c.ref_start_idx : c.ref_end_idx], c.type != "equal") for c in chunks]
    hyp_parts = [(hyp[c.hyp_start_idx : c.hyp_end_idx], c.type != "equal") for c in chunks]
    return _marked(ref_parts), _marked(hyp_parts)


def _column(word: AlignedWord) -> str:
    """One aligned column: the reference token above the hypothesis token."""
    cls = _OP_CLASS.get(word.op, "eq")
    ref = _e(word.ref) if word.ref else f'<i class="gap">{GAP}</i>'
    hyp = _e(word.hyp) if word.hyp else f'<i class="gap">{GAP}</i>'
    if word.op == "substitute" and word.ref and word.hyp:
        ref, hyp = _letter_diff(word.ref, word.hyp)
    return f'<div class="col {cls}"><span class="r">{ref}</span><span class="h">{hyp}</span></div>'


def _utterance(rank: int, u: UtteranceScore) -> str:
    """One utterance: file, scores and its aligned reference and hypothesis."""
    name = PurePath(u.audio_filepath).name or u.audio_filepath
    duration = f" · {u.duration:.1f} s" if u.duration else ""
    counts = (
        f"{u.words} words: {u.substitutions} sub, {u.deletions} del, {u.insertions} ins · "
        f"{u.chars} chars: {u.char_substitutions} sub, {u.char_deletions} del, "
        f"{u.char_insertions} ins{duration}"
    )
    columns = "".join(_column(w) for w in u.alignment)
    if not u.hypothesis:
        columns += ' <span class="none">(empty transcript)</span>'
    return (
        f'<section class="utt" id="u{rank}"><header>'
        f'<span class="rank">#{rank}</span><span class="file">{_e(name)}</span>'
        f'<span class="score">WER <b>{_pct(u.wer)}</b> · CER <b>{_pct(u.cer)}</b></span>'
        f'<span class="counts">{_e(counts)}</span></header>'
        f'<div class="path">{_e(u.audio_filepath)}</div>'
        f'<div class="align"><div class="col labels"><span>REF</span><span>HYP</span></div>'
        f'<div class="words">{columns}</div></div></section>'
    )


def render_html(report: EvalReport) -> str:
    """The whole report as one HTML document (UTF-8, inline CSS, no script or external URL)."""
    title = f"ASR evaluation: WER {_pct(report.wer)}, CER {_pct(report.cer)}"
    meta = []
    if report.model:
        meta.append(f"model <code>{_e(report.model)}</code>")
    if report.manifest:
        meta.append(f"manifest <code>{_e(report.manifest)}</code>")
    if report.decoder:
        meta.append(f"decoder <code>{_e(report.decoder)}</code>")
    if report.skipped:
        meta.append(
            f"<b>{len(report.skipped)} utterances skipped, not scored</b> "
            f"(first: <code>{_e(report.skipped[0])}</code>)"
        )
    cards = "".join(
        [
            _card(_pct(report.wer), "word error rate"),
            _card(_pct(report.cer), "character error rate"),
            _card(f"{report.utterances:,}", "utterances"),
            _card(f"{report.audio_hours:.3f} h", f"audio ({report.audio_seconds:,.1f} s)"),
        ]
    )
    legend = (
        '<div class="legend"><span>legend:</span>'
        '<span><span class="sw">word</span> correct</span>'
        '<span><span class="sw sub">w<mark>o</mark>rd</span> substitution (reference above, '
        "hypothesis below, differing letters marked)</span>"
        '<span><span class="sw del">word</span> deletion (in the reference, missing from '
        "the hypothesis)</span>"
        '<span><span class="sw ins">word</span> insertion (in the hypothesis only)</span>'
        "</div>"
    )
    utterances = "".join(_utterance(i, u) for i, u in enumerate(report.per_utterance, 1))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        + "".join(f'<p class="meta">{m}</p>' for m in meta)
        + f'<div class="cards">{cards}</div>'
        + _counts_table(report)
        + '<h2>Most frequent errors</h2><div class="grid">'
        + _confusion_table("Word confusions", report.word_confusions)
        + _confusion_table("Character confusions", report.char_confusions, chars=True)
        + _word_table("Most deleted words", report.deleted_words)
        + _word_table("Most inserted words", report.inserted_words)
        + "</div>"
        + f"<h2>Utterances, worst first ({report.utterances:,})</h2>"
        + legend
        + utterances
        + "<footer>WER and CER by jiwer on normalized text (lower case, digits spelled out, "
        "punctuation dropped); ties in WER are ordered by CER.</footer>" + "</body></html>\n"
    )


_MATRIX_CSS = """
.matrix td.c { text-align: center; font-variant-numeric: tabular-nums; min-width: 2.2rem; }
.matrix th.rot { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: 600; }
.matrix .axis { color: #59636e; font-size: .85rem; }
"""


def _cell(count: int, row_total: int, diagonal: bool) -> str:
    """One confusion-matrix cell, shaded by its share of the row (green on the diagonal)."""
    share = count / row_total if row_total else 0.0
    hue = "46, 160, 67" if diagonal else "207, 34, 46"
    style = f' style="background: rgba({hue}, {0.08 + 0.8 * share:.2f})"' if count else ""
    return f'<td class="c"{style}>{count or ""}</td>'


def render_class_html(report: ClassReport) -> str:
    """A classifier's evaluation as one HTML page: totals, per-class scores and the confusion
    matrix drawn as a shaded grid (rows: true label, columns: predicted)."""
    title = f"Classifier evaluation: accuracy {_pct(report.accuracy)}"
    cards = "".join(
        [
            _card(_pct(report.accuracy), "accuracy"),
            _card(f"{report.macro_f1:.3f}", "macro F1"),
            _card(f"{report.count:,}", "clips"),
            _card(f"{len(report.labels)}", "classes"),
        ]
    )
    per_class = "".join(
        f'<tr><td class="t">{_e(c.label)}</td><td class="n">{c.precision:.3f}</td>'
        f'<td class="n">{c.recall:.3f}</td><td class="n">{c.f1:.3f}</td>'
        f'<td class="n">{c.support}</td></tr>'
        for c in report.classes
    )
    head = "".join(f'<th class="rot">{_e(label)}</th>' for label in report.labels)
    rows = "".join(
        f"<tr><th>{_e(label)}</th>"
        + "".join(_cell(n, sum(counts), i == j) for j, n in enumerate(counts))
        + "</tr>"
        for i, (label, counts) in enumerate(zip(report.labels, report.confusion, strict=True))
    )
    speakers = "".join(
        f'<tr><td class="t">{_e(name)}</td><td class="n">{_pct(right / n)}</td>'
        f'<td class="n">{n}</td></tr>'
        for name, right, n in report.by_speaker()
    )
    by_speaker = (
        "<h2>Per speaker (worst first)</h2>"
        '<table><tr><th>speaker</th><th class="n">accuracy</th><th class="n">clips</th></tr>'
        f"{speakers}</table>"
        if speakers
        else ""
    )
    wrong = [r for r in report.rows if r.get("label") != r.get("predicted")]
    mistakes = "".join(
        f'<tr><td class="t">{_e(PurePath(str(r["audio_filepath"])).name)}</td>'
        f'<td class="t">{_e(r["label"])}</td><td class="t">{_e(r["predicted"])}</td>'
        f'<td class="n">{float(r["probability"]):.3f}</td></tr>'  # type: ignore[arg-type]
        for r in wrong[:200]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}{_MATRIX_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        f'<div class="cards">{cards}</div>'
        "<h2>Confusion matrix</h2>"
        '<p class="axis">rows: true label; columns: predicted label</p>'
        f'<table class="matrix"><tr><th></th>{head}</tr>{rows}</table>'
        "<h2>Per class</h2>"
        '<table><tr><th>label</th><th class="n">precision</th><th class="n">recall</th>'
        f'<th class="n">F1</th><th class="n">clips</th></tr>{per_class}</table>'
        f"{by_speaker}"
        f"<h2>Misclassified clips ({len(wrong)})</h2>"
        + (
            "<table><tr><th>file</th><th>label</th><th>predicted</th>"
            f'<th class="n">probability</th></tr>{mistakes}</table>'
            if wrong
            else '<p class="none">none</p>'
        )
        + "</body></html>\n"
    )
