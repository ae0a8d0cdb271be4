"""``asr evaluate``: transcribe a manifest with a model, score it, write the report files.

Scoring itself is ``asr.metrics`` (pure); the HTML page is ``asr.report``. The Keras-backed
Transcriber is imported only when ``evaluate`` runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from asr.classmetrics import ClassReport
from asr.decoding import AUTO_DECODER, Hotwords
from asr.errors import AsrError, AudioError
from asr.fileio import atomic_write_text, refuse_overwrite
from asr.manifest import read_manifest_report
from asr.metrics import EvalReport, score
from asr.report import render_class_html, render_html
from asr.vad import VAD_DEFAULT


def report_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The JSON and HTML files a ``--report`` path names: the one given and its twin beside it.

    Raises:
        AsrError: the path ends in neither ``.json`` nor ``.html``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return p, p.with_suffix(".html")
    if suffix in (".html", ".htm"):
        return p.with_suffix(".json"), p
    example = p / "report.json" if not suffix or p.is_dir() else p.with_suffix(".json")
    raise AsrError(
        f"--report {path}: name a .json or .html file (the other is written beside it), "
        f"e.g. --report {example}"
    )


def check_report_paths(path: str | os.PathLike, force: bool = False) -> tuple[Path, Path]:
    """``report_paths``, refusing files that exist unless ``force`` (checked before any work).

    Raises:
        AsrError: a bad suffix, a folder in the way, or an existing file without ``force``.
    """
    pair = report_paths(path)
    for p in pair:
        refuse_overwrite(p, force, make_parents=True)
    return pair


def write_report(
    result: EvalReport | ClassReport, path: str | os.PathLike, force: bool = False
) -> tuple[Path, Path]:
    """Write the JSON report and its HTML page atomically; returns (json_path, html_path).

    Raises:
        AsrError: as ``check_report_paths``.
    """
    json_path, html_path = check_report_paths(path, force)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json_path, json.dumps(result.to_dict(), indent=2) + "\n")
    page = render_class_html(result) if isinstance(result, ClassReport) else render_html(result)
    atomic_write_text(html_path, page)
    return json_path, html_path


def evaluate(
    manifest: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    force: bool = False,
    decoder: str = AUTO_DECODER,
    beam_width: int = 16,
    skip_invalid: bool = False,
    lm: str | os.PathLike | None = "auto",
    word_lm: str | os.PathLike | None = "auto",
    hotwords: Hotwords | None = None,
    word_weight: float | None = None,
    vad: bool = VAD_DEFAULT,
) -> EvalReport:
    """Transcribe every utterance of ``manifest`` and score it; optionally write the report.

    Args:
        manifest: the utterances to score (see ``asr.manifest``).
        model_dir: a model directory; None for the shipped default model.
        report: a ``.json`` or ``.html`` path; both files are written (see ``report_paths``).
        force: overwrite existing report files.
        decoder: ``"auto"`` (beam search when the model has a language model, else
            greedy, as ``asr transcribe``), ``"greedy"`` or ``"beam"`` (``beam_width`` beams).
        skip_invalid: leave out bad manifest lines and unreadable audio (listed in
            ``EvalReport.skipped``) instead of stopping at the first.
        lm: the beam decoder's language model: "auto" (the model directory's lm.npz when
            there is one), a path, or None.
        word_lm: the word LM fused beside it: "auto" (the model directory's words.arpa when
            there is one), a path, or None; ``hotwords`` and ``word_weight`` go with it.
        vad: as ``Transcriber.load``'s (False decodes every frame).

    Raises:
        AsrError: a bad report path or an existing report without ``force`` (both before
            the model runs), a bad manifest line or audio file (naming the manifest line),
            or a bad model directory.
    """
    from asr.transcribe import Transcriber, default_model_dir

    if report is not None:
        check_report_paths(report, force)
    utts, skipped = read_manifest_report(manifest, skip_invalid=skip_invalid)
    transcriber = Transcriber.load(
        model_dir, lm=lm, word_lm=word_lm, hotwords=hotwords, word_weight=word_weight, vad=vad
    )

    def on_error(index: int, error: AudioError) -> None:
        message = f"{utts[index].source}: {error}"
        if not skip_invalid:
            raise AsrError(f"{message}; or pass --skip-invalid to leave such lines out")
        skipped.append(message)

    results = transcriber.transcribe_indexed(
        [u.audio_filepath for u in utts], decoder=decoder, beam_width=beam_width, on_error=on_error
    )
    # Paired by manifest position, never by finishing order (long files finish first).
    pairs = [(u, results[i]) for i, u in enumerate(utts) if i in results]
    if not pairs:
        raise AsrError(f"{manifest}: no utterance could be scored, first: {skipped[0]}")
    result = score(
        [u.text for u, _ in pairs],
        [r.text for _, r in pairs],
        [r.path for _, r in pairs],
        [r.duration for _, r in pairs],
    )
    result.model = str(model_dir if model_dir is not None else default_model_dir())
    result.manifest = str(manifest)
    result.decoder = transcriber.describe_decoder(decoder, beam_width) + (
        ", speech gate (asr.vad)" if vad else ""
    )
    result.skipped = skipped
    if report is not None:
        write_report(result, report, force)
    return result
