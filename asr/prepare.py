"""``asr prepare``: turn a corpus in one of the common layouts into JSON Lines manifests.

Layouts (``fmt``): ``folder`` (any tree of X.wav/.flac/.mp3/... + X.txt), ``ljspeech``
(``metadata.csv`` + ``wavs/``), ``librispeech`` (``*.trans.txt`` beside the audio),
``commonvoice`` (``validated.tsv`` or ``train/dev/test.tsv`` + ``clips/``) and ``deepspeech``
(CSV ``wav_filename,wav_filesize,transcript``), plus ``manifest`` (a JSONL manifest, or a
folder holding the ``manifest.jsonl`` that `asr synth` writes) to check and split.
LibriSpeech's FLAC and Common Voice's MP3 are imported as they are (asr.audio reads them
through libsndfile); a ``.wav`` converted beside an original is preferred. Durations come
from the audio headers via ``asr.audio.audio_duration``. No TensorFlow.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asr.audio import audio_duration, is_audio_file
from asr.errors import AsrError, ManifestError
from asr.manifest import (
    CSV_HEADER,
    StrPath,
    Utterance,
    read_manifest_report,
    transcript_problem,
    write_manifest,
)
from asr.text import normalize_text

FORMATS = ("folder", "ljspeech", "librispeech", "commonvoice", "deepspeech", "manifest")
SPLIT_NAMES = ("train", "val", "test")
SYNTH_MANIFEST = "manifest.jsonl"  # what `asr synth` writes into its --out folder
SPLIT_TOLERANCE = 1e-6  # how far the ratios may sum from 1
_CV_TABLES = ("train.tsv", "dev.tsv", "test.tsv")  # read when there is no validated.tsv
_LOOKED_FOR = (
    "metadata.csv (ljspeech), *.trans.txt (librispeech), validated.tsv or train.tsv with a "
    "sentence column (commonvoice), a .csv with the header wav_filename,wav_filesize,transcript "
    "(deepspeech), a JSONL manifest or a folder with manifest.jsonl such as `asr synth` "
    "writes (manifest), audio files with same-named .txt files (folder)"
)


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` wrote, for the CLI to print and for scripts to chain on."""

    manifests: dict[str, Path]  # "all", or "train"/"val"/"test"
    count: int  # utterances written, over all manifests
    hours: float  # audio hours written
    skipped: list[str] = field(default_factory=list)  # one line per file or line left out
    fmt: str = "folder"  # the corpus layout that was read

    def summary(self) -> str:
        """A few human-readable lines: counts, hours, where the manifests went, what was skipped."""
        lines = [f"{self.count} utterances ({self.hours:.2f} h) from a {self.fmt} corpus"]
        lines += [f"  {name}: {path}" for name, path in self.manifests.items()]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}, first: {self.skipped[0]}")
        return "\n".join(lines)


@dataclass
class _Scan:
    """A corpus read from disk: (audio, transcript) pairs and what was left out."""

    pairs: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, candidates: Sequence[Path], text: str, where: str) -> None:
        """Take the first audio file that exists (a converted .wav before the original FLAC or
        MP3), else skip ``where`` naming the original, the last candidate."""
        audio = next((p for p in candidates if p.is_file()), None)
        if audio is None:
            self.skipped.append(f"{where}: audio {candidates[-1]} not found")
        else:
            self.pairs.append((audio, text.strip()))


def _read_corpus_text(path: Path) -> str:
    """Read a corpus' index file as UTF-8, as a ManifestError when that fails."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read ({e}); check the file is UTF-8 text") from e


def _first_line(path: Path) -> str:
    """The first non-blank line of a text file, or "" when it cannot be read; for detection."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                if line.strip():
                    return line.rstrip("\r\n")
    except OSError:
        pass
    return ""


def _is_deepspeech_csv(path: Path) -> bool:
    """Whether a file starts with DeepSpeech's CSV header."""
    return tuple(part.strip() for part in _first_line(path).split(",")) == CSV_HEADER


def _is_commonvoice_tsv(path: Path) -> bool:
    """Whether a file starts with a Common Voice header (has ``path`` and ``sentence``)."""
    columns = _first_line(path).split("\t")
    return "path" in columns and "sentence" in columns


def _has_audio(folder: Path) -> bool:
    """Whether any audio file (by extension, as directory search sees it) lies in the tree."""
    return any(is_audio_file(p) for p in folder.rglob("*"))


def detect_corpus(src: StrPath) -> str:
    """Tell a corpus' layout from its files (see the module docstring for the layouts).

    Args:
        src: the corpus folder, or its index file (metadata.csv, a .tsv, a .csv, a .trans.txt).

    Returns:
        One of ``FORMATS``.

    Raises:
        ManifestError: nothing matches; the message lists what was looked for.
    """
    src = Path(src)
    if src.is_file():
        if src.name == "metadata.csv":
            return "ljspeech"
        if src.name.endswith(".trans.txt"):
            return "librispeech"
        if src.suffix.lower() == ".tsv" and _is_commonvoice_tsv(src):
            return "commonvoice"
        if src.suffix.lower() == ".csv" and _is_deepspeech_csv(src):
            return "deepspeech"
        if src.suffix.lower() in (".jsonl", ".json"):
            return "manifest"
    elif src.is_dir():
        if (src / "metadata.csv").is_file():
            return "ljspeech"
        if next(src.rglob("*.trans.txt"), None) is not None:
            return "librispeech"
        if any(_is_commonvoice_tsv(src / name) for name in ("validated.tsv", "train.tsv")):
            return "commonvoice"
        if any(_is_deepspeech_csv(p) for p in sorted(src.glob("*.csv"))):
            return "deepspeech"
        if (src / SYNTH_MANIFEST).is_file():
            return "manifest"
        if _has_audio(src):
            return "folder"
    else:
        raise ManifestError(f"{src}: no such file or folder; give the corpus folder as SRC")
    raise ManifestError(
        f"{src}: cannot tell the corpus layout; looked for {_LOOKED_FOR}; "
        "point SRC at the corpus folder or pass the format"
    )


def _scan_folder(src: Path) -> _Scan:
    """Pair every audio file X.wav/.flac/.mp3/... in the tree with X.txt beside it; audio
    without text is skipped, and a .wav converted beside X.flac stands for both."""
    if not src.is_dir():
        raise ManifestError(f"{src}: not a folder; the folder format reads a tree of audio + .txt")
    scan = _Scan()
    by_stem: dict[Path, Path] = {}  # X (no suffix) -> its audio file
    for audio in sorted(p for p in src.rglob("*") if is_audio_file(p) and p.is_file()):
        if audio.with_suffix("") not in by_stem or audio.suffix.lower() == ".wav":
            by_stem[audio.with_suffix("")] = audio
    for audio in sorted(by_stem.values()):
        txt = audio.with_suffix(".txt")
        if not txt.is_file():
            scan.skipped.append(f"{audio}: no transcript {txt.name} beside it")
            continue
        try:
            text = " ".join(txt.read_text(encoding="utf-8-sig").split())
        except (OSError, UnicodeDecodeError) as e:
            scan.skipped.append(f"{txt}: cannot read the transcript ({e})")
            continue
        scan.pairs.append((audio, text))
    return scan


def _scan_ljspeech(src: Path) -> _Scan:
    """Read ``metadata.csv`` (``id|raw|normalized``, no quoting) with audio in ``wavs/ID.wav``."""
    meta = src if src.is_file() else src / "metadata.csv"
    scan = _Scan()
    for number, line in enumerate(_read_corpus_text(meta).split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("|")
        if len(fields) < 2:
            scan.skipped.append(f"{meta}:{number}: expected id|text|normalized text")
            continue
        # The third column has numbers and abbreviations spelled out: better labels.
        text = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        wav = meta.parent / "wavs" / f"{fields[0].strip()}.wav"
        if wav.is_file():
            scan.pairs.append((wav, text.strip()))
        else:
            scan.skipped.append(f"{meta}:{number}: audio {wav} not found")
    return scan


def _scan_librispeech(src: Path) -> _Scan:
    """Read every ``*.trans.txt`` (lines ``UTTID TEXT``), audio ``UTTID.flac`` (or a converted
    ``UTTID.wav``) beside it."""
    scan = _Scan()
    for trans in [src] if src.is_file() else sorted(src.rglob("*.trans.txt")):
        for number, line in enumerate(_read_corpus_text(trans).split("\n"), start=1):
            uttid, _, text = line.strip().partition(" ")
            if not uttid:
                continue
            if not text.strip():
                scan.skipped.append(f"{trans}:{number}: expected UTTID TEXT")
            else:
                audio = [trans.parent / f"{uttid}{ext}" for ext in (".wav", ".flac")]
                scan.add(audio, text, f"{trans}:{number}")
    return scan


def _commonvoice_tables(src: Path) -> list[Path]:
    """The TSVs to read: the given one, else validated.tsv, else train/dev/test.tsv."""
    if src.is_file():
        return [src]
    if _is_commonvoice_tsv(src / "validated.tsv"):
        return [src / "validated.tsv"]
    tables = [src / name for name in _CV_TABLES if _is_commonvoice_tsv(src / name)]
    if not tables:
        raise ManifestError(
            f"{src}: no Common Voice table; expected validated.tsv or train.tsv with a header "
            "holding path and sentence"
        )
    return tables


def _scan_commonvoice(src: Path) -> _Scan:
    """Read Common Voice TSVs (columns ``path`` and ``sentence``), clips (MP3, or a converted
    .wav beside each) in ``clips/``."""
    scan = _Scan()
    for table in _commonvoice_tables(src):
        text = _read_corpus_text(table)
        reader = csv.DictReader(
            io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE
        )
        if not {"path", "sentence"} <= set(reader.fieldnames or ()):
            raise ManifestError(f"{table}:1: expected a header with path and sentence columns")
        for row in reader:
            where = f"{table}:{reader.line_num}"
            name, sentence = row.get("path"), row.get("sentence")
            if not name or sentence is None:
                scan.skipped.append(f"{where}: missing path or sentence")
                continue
            clip = table.parent / "clips" / name
            scan.add([clip.with_suffix(".wav"), clip], sentence, where)
    return scan


def _scan_deepspeech(src: Path) -> _Scan:
    """Read DeepSpeech CSVs through the manifest reader (paths relative to each CSV)."""
    tables = (
        [src] if src.is_file() else [p for p in sorted(src.glob("*.csv")) if _is_deepspeech_csv(p)]
    )
    if not tables:
        raise ManifestError(f"{src}: no CSV with the header {','.join(CSV_HEADER)}")
    scan = _Scan()
    for table in tables:
        utterances, skipped = read_manifest_report(table, skip_invalid=True)
        scan.pairs += [(Path(u.audio_filepath), u.text) for u in utterances]
        scan.skipped += skipped
    return scan


def _scan_manifest(src: Path) -> _Scan:
    """Re-read a JSONL manifest (e.g. `asr synth` output) to check, re-time or split it."""
    path = src if src.is_file() else src / SYNTH_MANIFEST
    scan = _Scan()
    utterances, skipped = read_manifest_report(path, skip_invalid=True)
    scan.pairs += [(Path(u.audio_filepath), u.text) for u in utterances]
    scan.skipped += skipped
    return scan


_SCANNERS = {
    "folder": _scan_folder,
    "ljspeech": _scan_ljspeech,
    "librispeech": _scan_librispeech,
    "commonvoice": _scan_commonvoice,
    "deepspeech": _scan_deepspeech,
    "manifest": _scan_manifest,
}


def _utterances(scan: _Scan) -> tuple[list[Utterance], list[str]]:
    """Check each pair's transcript and read its duration; bad pairs join the skipped list."""
    utterances: list[Utterance] = []
    skipped = list(scan.skipped)
    for audio, text in scan.pairs:
        problem = transcript_problem(text)
        if problem:
            skipped.append(f"{audio}: {problem}")
            continue
        try:
            seconds = audio_duration(audio)
        except AsrError as e:  # AudioError: one line naming the file, the problem, the fix
            skipped.append(str(e))
            continue
        utterances.append(Utterance(os.path.abspath(audio), text, seconds))
    return utterances, skipped


def check_split(split: Sequence[float]) -> tuple[float, ...]:
    """Validate train/val(/test) ratios: 2 or 3 positive numbers that sum to 1."""
    ratios = tuple(float(r) for r in split)
    if (
        len(ratios) not in (2, 3)
        or not all(math.isfinite(r) and r > 0 for r in ratios)
        or abs(sum(ratios) - 1.0) > SPLIT_TOLERANCE
    ):
        shown = ",".join(f"{r:g}" for r in ratios)
        raise ManifestError(
            f"split {shown}: give 2 or 3 positive ratios (train,val[,test]) that sum to 1; "
            "e.g. 0.9,0.05,0.05"
        )
    return ratios


def parse_split(text: str) -> tuple[float, ...]:
    """Parse the CLI's ``--split 0.9,0.05,0.05`` into checked ratios."""
    try:
        ratios = [float(part) for part in text.split(",")]
    except ValueError:
        raise ManifestError(
            f"split {text!r}: not comma-separated numbers; e.g. 0.9,0.05,0.05"
        ) from None
    return check_split(ratios)


def _split_sizes(total: int, ratios: Sequence[float]) -> list[int]:
    """Whole sizes close to ``ratios * total``, adding up to ``total``, none of them zero."""
    exact = [r * total for r in ratios]
    sizes = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: exact[i] - sizes[i], reverse=True)
    for i in by_remainder[: total - sum(sizes)]:
        sizes[i] += 1
    for i in range(len(sizes)):  # an empty manifest is unreadable: borrow from the largest
        if sizes[i] == 0:
            largest = max(range(len(sizes)), key=sizes.__getitem__)
            sizes[largest] -= 1
            sizes[i] += 1
    return sizes


def _split(
    utterances: list[Utterance], ratios: Sequence[float], seed: int
) -> dict[str, list[Utterance]]:
    """Shuffle deterministically and cut; each part keeps the corpus order.

    Utterances with the same normalized transcript (one sentence read by several voices, as
    `asr synth` makes) stay in one split, so validation never scores a memorized sentence.
    """
    if len(utterances) < len(ratios):
        raise ManifestError(
            f"{len(utterances)} utterances cannot fill {len(ratios)} splits; "
            "add audio or prepare without --split"
        )
    groups: dict[str, list[int]] = {}
    for i, u in enumerate(utterances):
        groups.setdefault(normalize_text(u.text), []).append(i)
    shuffled = list(groups.values())
    random.Random(seed).shuffle(shuffled)
    order = [i for group in shuffled for i in group]
    ends = list(itertools.accumulate(len(g) for g in shuffled))
    cuts = [0]
    for target in itertools.accumulate(_split_sizes(len(utterances), ratios)):
        cuts.append(ends[bisect.bisect_left(ends, target)] if target < len(order) else target)
    parts: dict[str, list[Utterance]] = {}
    for name, start, stop in zip(SPLIT_NAMES[: len(ratios)], cuts[:-1], cuts[1:], strict=True):
        if stop <= start:
            raise ManifestError(
                f"{len(groups)} distinct transcripts cannot fill {len(ratios)} splits "
                "without sharing a sentence; add sentences or prepare without --split"
            )
        parts[name] = [utterances[i] for i in sorted(order[start:stop])]
    return parts


def _output_paths(out: Path, names: Sequence[str] | None) -> dict[str, Path]:
    """``{"all": out}``, or ``<out stem>.<name>.jsonl`` next to ``out`` for each split."""
    if out.suffix.lower() in (".csv", ".tsv"):
        raise ManifestError(f"{out}: manifests are written as JSON Lines; name it .jsonl")
    if names is None:
        return {"all": out}
    stem = out.stem if out.suffix.lower() in (".jsonl", ".json") else out.name
    return {name: out.with_name(f"{stem}.{name}.jsonl") for name in names}


def _refuse_overwrite(paths: dict[str, Path]) -> None:
    """Stop before any work when an output already exists; DESIGN.md: never overwrite untold."""
    for path in paths.values():
        if path.is_dir():
            raise ManifestError(f"{path}: is a folder; give a file name such as {path}.jsonl")
        if path.exists():
            raise ManifestError(
                f"{path}: already exists; choose another --out or delete it "
                "(or pass --force to overwrite)"
            )


def prepare(
    src: StrPath,
    out: StrPath,
    *,
    fmt: str = "auto",
    split: Sequence[float] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> PrepareResult:
    """Turn a corpus into JSON Lines manifests with durations read from the audio headers.

    Args:
        src: the corpus folder (or its index file: metadata.csv, a .tsv, .csv or .trans.txt).
        out: the manifest to write; with ``split``, ``<stem>.train/val/test.jsonl`` beside it.
        fmt: ``"auto"`` or one of ``FORMATS``.
        split: train/val(/test) ratios summing to 1, e.g. ``(0.9, 0.05, 0.05)``.
        seed: seed of the shuffle before splitting; the same seed gives the same split.
        overwrite: replace existing output files instead of refusing.

    Returns:
        The manifests written, utterance count, audio hours and the skipped files' reasons.

    Raises:
        ManifestError: unknown or undetectable layout, bad ratios, an output that exists,
            or no usable utterance.
    """
    src, out = Path(src), Path(out)
    if fmt != "auto" and fmt not in FORMATS:
        raise ManifestError(f"unknown corpus format {fmt!r}; choose auto or one of {FORMATS}")
    ratios = check_split(split) if split is not None else None
    paths = _output_paths(out, SPLIT_NAMES[: len(ratios)] if ratios else None)
    if not overwrite:
        _refuse_overwrite(paths)
    if not src.exists():
        raise ManifestError(f"{src}: no such file or folder; give the corpus folder as SRC")
    fmt = detect_corpus(src) if fmt == "auto" else fmt
    scan = _SCANNERS[fmt](src)
    utterances, skipped = _utterances(scan)
    if not utterances:
        first = f" (skipped {len(skipped)}, first: {skipped[0]})" if skipped else ""
        raise ManifestError(f"{src}: no usable utterances in this {fmt} corpus{first}")
    parts = _split(utterances, ratios, seed) if ratios else {"all": utterances}
    manifests = {name: write_manifest(paths[name], part) for name, part in parts.items()}
    hours = sum(u.duration or 0.0 for u in utterances) / 3600.0
    return PrepareResult(manifests, len(utterances), hours, skipped, fmt)
