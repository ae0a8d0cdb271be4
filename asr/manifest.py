"""Manifests: the list of (audio file, transcript or label, duration) a corpus is made of.

JSON Lines is the native format, read and written; DeepSpeech CSV and plain TSV are read too
(DESIGN.md, "Manifest"). Relative audio paths resolve against the manifest's own folder, so a
corpus folder can be moved or committed as a whole. Every problem is a ``ManifestError`` whose
message is one line, ``<manifest>:<line>: <what is wrong>; <how to fix>``; problems with the
whole file leave out the line. A classification manifest (``labels=True``) carries a
``label`` per line instead of a transcript: JSON ``"label"``, CSV ``wav_filename,label``,
TSV ``path<TAB>label``. Pure standard library: no TensorFlow, no NumPy.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from asr.errors import ManifestError, one_line
from asr.fileio import atomic_path
from asr.text import foreign_letters, normalize_text

Format = Literal["jsonl", "csv", "tsv"]
StrPath = str | os.PathLike[str]

CSV_HEADER = ("wav_filename", "wav_filesize", "transcript")  # DeepSpeech's training CSV
LABEL_CSV_HEADER = ("wav_filename", "label")  # a classification CSV
_EXTENSIONS: dict[str, Format] = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv"}
_EXAMPLES: dict[Format, str] = {
    "jsonl": '{"audio_filepath": "a.wav", "text": "hello world", "duration": 1.5}',
    "csv": "a.wav,12345,hello world (after the header wav_filename,wav_filesize,transcript)",
    "tsv": "a.wav<TAB>hello world",
}
_LABEL_EXAMPLES: dict[Format, str] = {
    "jsonl": '{"audio_filepath": "a.wav", "label": "yes"}',
    "csv": "a.wav,yes (after the header wav_filename,label)",
    "tsv": "a.wav<TAB>yes",
}
_FORMATS_HINT = (
    "expected JSON Lines, CSV with the header wav_filename,wav_filesize,transcript, "
    "or TSV path<TAB>text"
)
_SHOWN_CHARS = 60  # a bad value is quoted up to this many characters


@dataclass(frozen=True)
class Utterance:
    """One manifest line: where the audio is, what is said in it, and how long it lasts."""

    audio_filepath: str  # absolute after reading; relative ones resolve against the manifest
    text: str  # as written in the manifest; normalize_text is applied later
    duration: float | None = None  # seconds, when the manifest says
    speaker: str | None = None  # who speaks, when known: corpora are split by it
    label: str | None = None  # the class of a classification corpus ("yes", "female", ...)
    # "<manifest>:<line>" it was read from, so later stages (audio, alignment) can name the line
    source: str = field(default="", compare=False)


class _LineProblem(Exception):
    """A bad line, worded ``<what is wrong>; <how to fix>`` without the location."""


class _FileProblem(Exception):
    """A problem that makes the rest of the file unreadable (bad header, broken CSV quoting)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class _Row:
    """Fields of one line before they are checked; values may have any JSON type."""

    audio: object
    text: object
    duration: object = None
    speaker: object = None
    label: object = None


_Parsed = Iterator[tuple[int, _Row | _LineProblem]]


def _show(value: object) -> str:
    """Quote a user's value on one line, shortened so a message stays readable."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def transcript_problem(text: str) -> str | None:
    """Say why a transcript cannot be trained on (``what; fix``), or None when it can."""
    foreign = foreign_letters(text)
    if foreign:
        shown = ", ".join(repr(c) for c in foreign[:5])
        return (
            f"transcript {_show(text)} has letters outside the alphabet a-z ({shown}); "
            "transliterate them to English letters, or remove the line"
        )
    if normalize_text(text):
        return None
    if not text.strip():
        return "empty transcript; write the words spoken in the audio, or remove the line"
    return (
        f"transcript {_show(text)} has no letters or digits that normalize to a-z; "
        "transliterate it to English letters, or remove the line"
    )


def _read_text(path: StrPath) -> str:
    """Read a manifest as UTF-8 (a byte-order mark is fine), naming the line of a bad byte."""
    try:
        data = Path(path).read_bytes()
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ManifestError(
            f"{path}: cannot read the manifest ({reason}); check the path and its permissions"
        ) from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ManifestError(
            f"{path}:{line}: not UTF-8 text (byte {data[e.start]:#04x}); save the manifest as UTF-8"
        ) from e


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with 1-based numbers; splits on newlines only, as editors count them."""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, line


def _sniff(path: StrPath, text: str) -> Format:
    """Tell the format from the first non-blank line, for files with an unknown extension."""
    for number, line in _numbered_lines(text):
        stripped = line.strip()
        if stripped.startswith("{"):
            return "jsonl"
        if tuple(field.strip() for field in stripped.split(",")) in (CSV_HEADER, LABEL_CSV_HEADER):
            return "csv"
        if "\t" in line:
            return "tsv"
        raise ManifestError(
            f"{path}:{number}: cannot tell the manifest format from {_show(line)}; "
            f"{_FORMATS_HINT}, or name the file .jsonl, .csv or .tsv"
        )
    raise ManifestError(f"{path}: the manifest is empty; {_FORMATS_HINT}")


def detect_format(path: StrPath) -> Format:
    """Tell a manifest's format from its extension, else from its first non-blank line.

    Args:
        path: the manifest file.

    Returns:
        ``"jsonl"`` (also for ``.json``), ``"csv"`` or ``"tsv"``.

    Raises:
        ManifestError: the extension is unknown and the file is unreadable, empty, or its first
            line looks like none of the three formats.
    """
    known = _EXTENSIONS.get(Path(path).suffix.lower())
    return known if known is not None else _sniff(path, _read_text(path))


def _parse_json_line(number: int, line: str, labels: bool = False) -> _Row | _LineProblem:
    """Decode one JSON Lines record into its fields."""
    example = (_LABEL_EXAMPLES if labels else _EXAMPLES)["jsonl"]
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as e:
        reason = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        return _LineProblem(f"malformed JSON ({reason}); write one object per line, like {example}")
    if not isinstance(record, dict):
        hint = " (a JSON array? write one object per line instead)" if number == 1 else ""
        return _LineProblem(
            f"expected a JSON object, found {type(record).__name__}{hint}; "
            f"write one object per line, like {example}"
        )
    second = "label" if labels else "text"
    missing = [key for key in ("audio_filepath", second) if key not in record]
    if missing:
        what = "line of a classification manifest" if labels else "line"
        return _LineProblem(
            f"missing key {_show(missing[0])} (found {_show(sorted(record))}); "
            f'every {what} needs "audio_filepath" and "{second}", like {example}'
        )
    return _Row(
        record["audio_filepath"],
        record.get("text", ""),
        record.get("duration"),
        record.get("speaker"),
        record.get("label"),
    )


def _jsonl_rows(text: str, labels: bool = False) -> _Parsed:
    """Records of a JSON Lines manifest."""
    for number, line in _numbered_lines(text):
        yield number, _parse_json_line(number, line, labels)


def _csv_rows(text: str, labels: bool = False) -> _Parsed:
    """Records of a DeepSpeech CSV (or a ``wav_filename,label`` CSV), after its header."""
    header = LABEL_CSV_HEADER if labels else CSV_HEADER
    reader = csv.reader(io.StringIO(text, newline=""))
    header_seen = False
    try:
        for record in reader:
            number = reader.line_num  # last physical line of the record
            if not any(field.strip() for field in record):
                continue
            if not header_seen:
                if tuple(field.strip() for field in record) != header:
                    found = _show(",".join(record))
                    kind = "classification CSV" if labels else "DeepSpeech CSV"
                    raise _FileProblem(
                        number,
                        f"expected the header {','.join(header)}, found {found}; "
                        f"make that the first line ({kind})",
                    )
                header_seen = True
            elif len(record) != len(header):
                problem = _LineProblem(
                    f"expected {len(header)} columns ({','.join(header)}), found {len(record)}; "
                    "put values that contain commas in double quotes"
                )
                yield number, problem
            elif labels:
                yield number, _Row(record[0], "", label=record[1])
            else:
                yield number, _Row(record[0], record[2])
    except csv.Error as e:
        raise _FileProblem(
            reader.line_num, f"unreadable CSV ({e}); check the quoting on this line"
        ) from e


def _tsv_rows(text: str, labels: bool = False) -> _Parsed:
    """Records of a ``path<TAB>text`` (or ``path<TAB>label``) file, skipping a literal
    header line of those names."""
    second = "label" if labels else "text"
    for index, (number, line) in enumerate(_numbered_lines(text)):
        fields = line.split("\t")
        if index == 0 and tuple(fields) == ("path", second):
            continue
        if len(fields) != 2:
            found = "no TAB" if len(fields) == 1 else f"{len(fields)} columns"
            hint = "" if labels else " (for a Common Voice TSV use asr prepare)"
            problem = _LineProblem(
                f"expected 2 TAB-separated columns (path, {second}), found {found}; "
                f"write path<TAB>{second}{hint}"
            )
            yield number, problem
        elif labels:
            yield number, _Row(fields[0], "", label=fields[1])
        else:
            yield number, _Row(fields[0], fields[1])


_PARSERS = {"jsonl": _jsonl_rows, "csv": _csv_rows, "tsv": _tsv_rows}


def _check_duration(value: object) -> float | None:
    """Accept a missing duration or a finite, non-negative number of seconds."""
    if value is None:
        return None
    seconds = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # a 400-digit integer
            seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise _LineProblem(
            f"duration {_show(value)} is not a number of seconds; write e.g. 3.2, or leave it out"
        )
    return seconds


def _check_label(value: object) -> str:
    """A class label: a non-empty string, or an integer (spoken digits are often numbered)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise _LineProblem(
            f"label {_show(value)} is not a class name; write a non-empty label such as "
            '"yes", or remove the line'
        )
    return value.strip()


def _to_utterance(row: _Row, folder: str, check_audio_exists: bool, labels: bool) -> Utterance:
    """Check one record's fields and resolve its audio path against the manifest's folder."""
    if not isinstance(row.audio, str) or not row.audio.strip():
        raise _LineProblem(
            f"audio path {_show(row.audio)} is not a file name; write the path of a WAV file"
        )
    if not isinstance(row.text, str):
        raise _LineProblem(f"transcript {_show(row.text)} is not a string; put it in quotes")
    label = None if row.label is None and not labels else _check_label(row.label)
    problem = None if labels else transcript_problem(row.text)
    if problem:
        raise _LineProblem(problem)
    duration = _check_duration(row.duration)
    audio = os.path.abspath(os.path.join(folder, row.audio))
    if check_audio_exists and os.path.isdir(audio):
        raise _LineProblem(
            f"audio path {_show(row.audio)} is a folder (looked at {_show(audio)}); name one "
            "audio file a line (asr prepare turns a folder of clips into a manifest)"
        )
    if check_audio_exists and not os.path.isfile(audio):
        raise _LineProblem(
            f"audio file {_show(row.audio)} not found (looked at {_show(audio)}); fix the path "
            "(relative paths start at the manifest's folder) or remove the line"
        )
    speaker = None if row.speaker is None else str(row.speaker)
    return Utterance(audio, row.text, duration, speaker, label)


def read_manifest_report(
    path: StrPath,
    *,
    skip_invalid: bool = True,
    check_audio_exists: bool = True,
    labels: bool = False,
) -> tuple[list[Utterance], list[str]]:
    """Read a manifest and say which lines were skipped and why, for reports and ``asr prepare``.

    Args:
        path: a JSON Lines, DeepSpeech CSV or ``path<TAB>text`` file (see ``detect_format``).
        skip_invalid: skip bad lines and report them, instead of raising at the first one.
        check_audio_exists: treat a line whose audio file is missing as bad.
        labels: read a classification manifest: every line needs a ``label``, and a
            transcript is optional.

    Returns:
        The utterances in file order, and one ``<path>:<line>: <reason>`` message per
        skipped line.

    Raises:
        ManifestError: the file is unreadable or has no valid utterance, its header or quoting
            is broken, or (without ``skip_invalid``) a line is bad.
    """
    text = _read_text(path)
    where = one_line(os.fspath(path))  # skip reasons and sources are one line each
    fmt = _EXTENSIONS.get(Path(path).suffix.lower()) or _sniff(path, text)
    folder = os.path.dirname(os.path.abspath(path))
    utterances: list[Utterance] = []
    skipped: list[str] = []
    try:
        for number, row in _PARSERS[fmt](text, labels):
            try:
                if isinstance(row, _LineProblem):
                    raise row
                utterance = _to_utterance(row, folder, check_audio_exists, labels)
                utterances.append(replace(utterance, source=f"{where}:{number}"))
            except _LineProblem as problem:
                message = f"{where}:{number}: {problem}"
                if not skip_invalid:
                    raise ManifestError(message) from None
                skipped.append(message)
    except _FileProblem as problem:
        raise ManifestError(f"{path}:{problem.line}: {problem}") from None
    if not utterances:
        if skipped:
            raise ManifestError(
                f"{path}: no valid utterances, all {len(skipped)} lines are bad "
                f"(first: {skipped[0]})"
            )
        example = (_LABEL_EXAMPLES if labels else _EXAMPLES)[fmt]
        raise ManifestError(
            f"{path}: the manifest has no utterances; add one per line, like {example}"
        )
    return utterances, skipped


def read_manifest(
    path: StrPath,
    *,
    skip_invalid: bool = False,
    check_audio_exists: bool = True,
    labels: bool = False,
) -> list[Utterance]:
    """Read the utterances of a manifest, stopping at the first bad line unless told to skip.

    Args:
        path: a JSON Lines, DeepSpeech CSV or ``path<TAB>text`` file (see ``detect_format``).
        skip_invalid: skip bad lines (``read_manifest_report`` says which and why).
        check_audio_exists: treat a line whose audio file is missing as bad.
        labels: read a classification manifest (a ``label`` per line).

    Returns:
        The utterances in file order, with absolute audio paths.

    Raises:
        ManifestError: naming the file and line of the first problem.
    """
    utterances, _ = read_manifest_report(
        path, skip_invalid=skip_invalid, check_audio_exists=check_audio_exists, labels=labels
    )
    return utterances


def _record(utterance: Utterance, folder: str, relative: bool) -> dict[str, object]:
    """The JSON object for one utterance; its path relative to ``folder`` if asked and possible."""
    audio = os.path.abspath(utterance.audio_filepath)
    if relative:
        with contextlib.suppress(ValueError):  # another drive on Windows: stay absolute
            rel = os.path.relpath(audio, folder)
            # Audio outside the manifest's folder keeps its absolute path: "../../x" breaks
            # as soon as the manifest is copied elsewhere.
            if not rel.startswith(os.pardir + os.sep) and rel != os.pardir:
                audio = rel
    record: dict[str, object] = {"audio_filepath": audio}
    if utterance.label is None or utterance.text:  # a label manifest needs no transcript
        record["text"] = utterance.text
    if utterance.label is not None:
        record["label"] = utterance.label
    if utterance.duration is not None:
        record["duration"] = utterance.duration
    if utterance.speaker is not None:
        record["speaker"] = utterance.speaker
    return record


def write_manifest(
    path: StrPath, utterances: Iterable[Utterance], *, relative_to_manifest: bool = True
) -> Path:
    """Write utterances as JSON Lines atomically, so a crash never leaves half a manifest.

    Args:
        path: the manifest to write (folders are created; an existing file is replaced).
        utterances: what to write, in order.
        relative_to_manifest: write audio paths relative to the manifest's folder.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ManifestError: ``path`` is named ``.csv``/``.tsv``, or there are no utterances.
        OSError: the folder is not writable.
    """
    path = Path(path)
    if _EXTENSIONS.get(path.suffix.lower(), "jsonl") != "jsonl":
        raise ManifestError(f"{path}: manifests are written as JSON Lines; name the file .jsonl")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with atomic_path(path) as temp, temp.open("w", encoding="utf-8", newline="\n") as out:
        count = 0
        for utterance in utterances:
            record = _record(utterance, folder, relative_to_manifest)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        if count == 0:
            raise ManifestError(f"{path}: no utterances to write; an empty manifest is unusable")
    return path
