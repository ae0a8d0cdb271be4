"""``asr prepare``: turn a corpus in one of the common layouts into JSON Lines manifests.

Layouts (``fmt``): ``folder`` (any tree of X.wav/.flac/.mp3/... + X.txt), ``ljspeech``
(``metadata.csv`` + ``wavs/``), ``librispeech`` (``*.trans.txt`` beside the audio),
``commonvoice`` (``validated.tsv`` or ``train/dev/test.tsv`` + ``clips/``) and ``deepspeech``
(CSV ``wav_filename,wav_filesize,transcript``), plus ``manifest`` (a JSONL manifest, or a
folder holding the ``manifest.jsonl`` that `asr synth` writes) to check and split, and
``speechcommands`` (a folder per label, as Google's Speech Commands: classification
manifests, see ``_scan_speechcommands``).
LibriSpeech's FLAC and Common Voice's MP3 are imported as they are (asr.audio reads them
through libsndfile); a ``.wav`` converted beside an original is preferred. Durations come
from the audio headers via ``asr.audio.audio_duration``. No TensorFlow.
"""

from __future__ import annotations

import bisect
import collections
import csv
import io
import itertools
import math
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.audio import audio_duration, is_audio_file, load_audio
from asr.errors import AsrError, ManifestError
from asr.fileio import atomic_path
from asr.manifest import (
    CSV_HEADER,
    StrPath,
    Utterance,
    read_manifest_report,
    transcript_problem,
    write_manifest,
)
from asr.text import normalize_text

FORMATS = (
    "folder",
    "ljspeech",
    "librispeech",
    "commonvoice",
    "deepspeech",
    "manifest",
    "speechcommands",
)
SPLIT_NAMES = ("train", "val", "test")
SYNTH_MANIFEST = "manifest.jsonl"  # what `asr synth` writes into its --out folder
SPLIT_TOLERANCE = 1e-6  # how far the ratios may sum from 1
_CV_TABLES = ("train.tsv", "dev.tsv", "test.tsv")  # read when there is no validated.tsv
# Speech Commands: label folders beside these; the lists name val/test files relative to SRC.
SC_NOISE = "_background_noise_"  # long noise recordings, never a label
SC_LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
SC_UNKNOWN = "unknown"  # the label of every folder that --keywords leaves out
SC_SILENCE = "silence"  # the class --keywords cuts out of the noise recordings
NOISE_MANIFEST = "noise.jsonl"  # the noise recordings, written beside the manifests
SILENCE_RATE = 16_000  # Hz of the silence crops, as Speech Commands' own clips
SILENCE_SAMPLES = SILENCE_RATE  # 1 s crops, the length of a Speech Commands clip
_CROP_NAME = re.compile(r"(train|val|test|all)-\d{5,}\.wav")  # what --force may replace
_LOOKED_FOR = (
    "metadata.csv (ljspeech), *.trans.txt (librispeech), validated.tsv or train.tsv with a "
    "sentence column (commonvoice), a .csv with the header wav_filename,wav_filesize,transcript "
    "(deepspeech), a JSONL manifest or a folder with manifest.jsonl such as `asr synth` "
    "writes (manifest), label folders of audio beside _background_noise_/ or "
    "validation_list.txt/testing_list.txt (speechcommands), audio files with same-named .txt "
    "files (folder)"
)


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` wrote, for the CLI to print and for scripts to chain on."""

    manifests: dict[str, Path]  # "all", or "train"/"val"/"test"
    count: int  # utterances written, over all manifests
    hours: float  # audio hours written
    skipped: list[str] = field(default_factory=list)  # one line per file or line left out
    fmt: str = "folder"  # the corpus layout that was read
    labels: dict[str, int] = field(default_factory=dict)  # utterances per class (classification)

    def summary(self) -> str:
        """A few human-readable lines: counts, hours, where the manifests went, what was skipped."""
        lines = [f"{self.count} utterances ({self.hours:.2f} h) from a {self.fmt} corpus"]
        lines += [f"  {name}: {path}" for name, path in self.manifests.items()]
        if self.labels:
            lines.append(f"labels: {format_labels(self.labels)}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}, first: {self.skipped[0]}")
        return "\n".join(lines)


def format_labels(labels: dict[str, int]) -> str:
    """``yes 3, no 3, unknown 4``: utterances per class, for summaries."""
    return ", ".join(f"{label} {n}" for label, n in labels.items())


@dataclass(frozen=True)
class _Entry:
    """One utterance found on disk, before its transcript is checked and its audio timed."""

    audio: Path
    text: str = ""
    label: str | None = None  # a classification corpus' class
    speaker: str | None = None
    split: str | None = None  # fixed by the corpus (Speech Commands' lists), else drawn


@dataclass
class _Scan:
    """A corpus read from disk: its utterances and what was left out."""

    entries: list[_Entry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    noise: list[Path] = field(default_factory=list)  # background-noise recordings, not labels

    def add(self, candidates: Sequence[Path], text: str, where: str) -> None:
        """Take the first audio file that exists (a converted .wav before the original FLAC or
        MP3), else skip ``where`` naming the original, the last candidate."""
        audio = next((p for p in candidates if p.is_file()), None)
        if audio is None:
            self.skipped.append(f"{where}: audio {candidates[-1]} not found")
        else:
            self.entries.append(_Entry(audio, text.strip()))


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


def _label_folders(src: Path) -> list[Path]:
    """The subfolders of a Speech Commands tree that can be labels (not noise, not hidden)."""
    return sorted(
        d for d in src.iterdir() if d.is_dir() and d.name != SC_NOISE and not d.name.startswith(".")
    )


def _is_speechcommands(src: Path) -> bool:
    """Label folders of audio beside ``_background_noise_/`` or a validation/testing list."""
    marked = (src / SC_NOISE).is_dir() or any((src / n).is_file() for n in SC_LISTS.values())
    return marked and any(_has_audio(d) for d in _label_folders(src))


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
        if _is_speechcommands(src):
            return "speechcommands"
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
        scan.entries.append(_Entry(audio, text))
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
            scan.entries.append(_Entry(wav, text.strip()))
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
        scan.entries += [_Entry(Path(u.audio_filepath), u.text) for u in utterances]
        scan.skipped += skipped
    return scan


def _scan_manifest(src: Path) -> _Scan:
    """Re-read a JSONL manifest (e.g. `asr synth` output) to check, re-time or split it; labels
    and speakers (`asr synth --label-by`) are kept."""
    path = src if src.is_file() else src / SYNTH_MANIFEST
    scan = _Scan()
    utterances, skipped = read_manifest_report(path, skip_invalid=True)
    scan.entries += [_Entry(Path(u.audio_filepath), u.text, u.label, u.speaker) for u in utterances]
    scan.skipped += skipped
    return scan


def _speaker(audio: Path) -> str | None:
    """Speech Commands' speaker id: the file name before ``_nohash_`` (``0a7c2a8d``)."""
    speaker, found, _ = audio.name.partition("_nohash_")
    return speaker if found and speaker else None


def _read_split_lists(src: Path, scan: _Scan) -> None:
    """Give the files ``validation_list.txt``/``testing_list.txt`` name the split ``val``/``test``
    and every other file ``train``; a listed file that is not a scanned clip is skipped."""
    lists = {name: src / file for name, file in SC_LISTS.items() if (src / file).is_file()}
    if not lists:
        return
    index = {os.path.abspath(e.audio): i for i, e in enumerate(scan.entries)}
    chosen: dict[int, tuple[str, str]] = {}  # entry -> (split, where it was listed)
    for name, path in lists.items():
        for number, line in enumerate(_read_corpus_text(path).split("\n"), start=1):
            rel = line.strip()
            if not rel:
                continue
            where, audio = f"{path}:{number}", os.path.abspath(src / rel)
            if audio not in index:
                problem = "not found" if not os.path.isfile(audio) else "is not in a label folder"
                scan.skipped.append(f"{where}: audio {audio} {problem}; fix or drop the line")
            elif index[audio] in chosen:
                first = chosen[index[audio]][1]
                scan.skipped.append(f"{where}: {rel} is listed before at {first}; kept there")
            else:
                chosen[index[audio]] = (name, where)
    scan.entries = [
        _Entry(e.audio, e.text, e.label, e.speaker, chosen.get(i, ("train", ""))[0])
        for i, e in enumerate(scan.entries)
    ]


def _scan_speechcommands(src: Path, keywords: Sequence[str] | None = None) -> _Scan:
    """Read a Speech Commands tree: ``SRC/LABEL/SPEAKER_nohash_N.wav``, label = the folder.

    ``validation_list.txt``/``testing_list.txt`` fix the split when present. With
    ``keywords``, every other folder's label is ``unknown``. ``_background_noise_`` is never a
    label: its recordings go to ``scan.noise``.
    """
    if not src.is_dir():
        raise ManifestError(
            f"{src}: not a folder; the speechcommands format reads a folder of label folders"
        )
    folders = _label_folders(src)
    names = [f.name for f in folders]
    for keyword in keywords or ():
        if keyword not in names:
            raise ManifestError(
                f"{src / keyword}: no such label folder; --keywords names folders of {src} "
                f"(found: {', '.join(names) or 'none'})"
            )
    if keywords and SC_SILENCE in names:
        raise ManifestError(
            f"{src / SC_SILENCE}: a label folder named {SC_SILENCE} clashes with the class "
            "--keywords cuts out of _background_noise_; rename the folder"
        )
    scan = _Scan()
    for folder in folders:
        audio = [
            p
            for p in sorted(folder.rglob("*"))
            if is_audio_file(p) and p.is_file() and not p.name.startswith(".")
        ]
        if not audio:
            scan.skipped.append(f"{folder}: no audio files in this label folder; left out")
            continue
        label = folder.name if not keywords or folder.name in keywords else SC_UNKNOWN
        scan.entries += [_Entry(p, label=label, speaker=_speaker(p)) for p in audio]
    if not scan.entries:
        raise ManifestError(
            f"{src}: no label folder holds audio; expected e.g. {src}/yes/0a7c2a8d_nohash_0.wav"
        )
    noise = src / SC_NOISE
    if noise.is_dir():
        scan.noise = [
            p
            for p in sorted(noise.iterdir())
            if is_audio_file(p) and p.is_file() and not p.name.startswith(".")
        ]
    _read_split_lists(src, scan)
    return scan


_SCANNERS = {
    "folder": _scan_folder,
    "ljspeech": _scan_ljspeech,
    "librispeech": _scan_librispeech,
    "commonvoice": _scan_commonvoice,
    "deepspeech": _scan_deepspeech,
    "manifest": _scan_manifest,
    "speechcommands": _scan_speechcommands,
}


def _utterances(scan: _Scan) -> tuple[list[tuple[_Entry, Utterance]], list[str]]:
    """Check each entry's transcript (a labeled one needs none) and read its duration; bad
    entries join the skipped list."""
    kept: list[tuple[_Entry, Utterance]] = []
    skipped = list(scan.skipped)
    for e in scan.entries:
        problem = transcript_problem(e.text) if e.label is None else None
        if problem:
            skipped.append(f"{e.audio}: {problem}")
            continue
        try:
            seconds = audio_duration(e.audio)
        except AsrError as err:  # AudioError: one line naming the file, the problem, the fix
            skipped.append(str(err))
            continue
        utterance = Utterance(os.path.abspath(e.audio), e.text, seconds, e.speaker, e.label)
        kept.append((e, utterance))
    return kept, skipped


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
    Labeled utterances (classification) stay with their speaker instead, so validation never
    scores a voice heard in training.
    """
    if len(utterances) < len(ratios):
        raise ManifestError(
            f"{len(utterances)} utterances cannot fill {len(ratios)} splits; "
            "add audio or prepare without --split"
        )
    groups: dict[str, list[int]] = {}
    for i, u in enumerate(utterances):
        groups.setdefault(_split_key(u), []).append(i)
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
            if utterances[0].label is not None:
                raise ManifestError(
                    f"{len(groups)} distinct speakers cannot fill {len(ratios)} splits "
                    "without sharing a speaker; add speakers or prepare without --split"
                )
            raise ManifestError(
                f"{len(groups)} distinct transcripts cannot fill {len(ratios)} splits "
                "without sharing a sentence; add sentences or prepare without --split"
            )
        parts[name] = [utterances[i] for i in sorted(order[start:stop])]
    return parts


def _split_key(utterance: Utterance) -> str:
    """What ties utterances to one split: a labeled one's speaker (its file when unknown),
    else the normalized transcript."""
    if utterance.label is not None:
        return "\0" + (utterance.speaker or utterance.audio_filepath)  # never a transcript
    return normalize_text(utterance.text)


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


def parse_keywords(text: str) -> list[str]:
    """Parse the CLI's ``--keywords yes,no,up`` into folder names (order kept, no duplicates)."""
    return _check_keywords(text.split(","))


def _check_keywords(keywords: Sequence[str]) -> list[str]:
    """Keyword folder names, stripped, in order, each once; none at all is an error."""
    words = list(dict.fromkeys(w.strip() for w in keywords if w.strip()))
    if not words:
        raise ManifestError(
            f"--keywords {','.join(keywords)!r}: no keyword; name label folders, e.g. yes,no,up"
        )
    return words


def _split_names(src: Path, fmt: str, ratios: Sequence[float] | None) -> Sequence[str] | None:
    """The parts to write: Speech Commands' lists fix them (train, val, test), else --split."""
    if fmt == "speechcommands" and src.is_dir():
        listed = [name for name, file in SC_LISTS.items() if (src / file).is_file()]
        if listed and ratios:
            raise ManifestError(
                f"{src / SC_LISTS[listed[0]]}: the corpus' own lists fix its split; drop --split "
                "(or move validation_list.txt and testing_list.txt away to split by speaker)"
            )
        if listed:
            return ("train", *listed)
    return SPLIT_NAMES[: len(ratios)] if ratios else None


def _extra_paths(
    src: Path, out: Path, fmt: str, keywords: Sequence[str] | None, manifests: dict[str, Path]
) -> tuple[Path | None, Path | None]:
    """Where Speech Commands' noise list and silence crops go: ``noise.jsonl`` and ``silence/``
    beside the manifests; None when not written."""
    if fmt != "speechcommands":
        return None, None
    noise = out.parent / NOISE_MANIFEST if (src / SC_NOISE).is_dir() else None
    if noise is not None and any(noise.resolve() == p.resolve() for p in manifests.values()):
        raise ManifestError(
            f"{out}: {noise} is where the noise recordings are listed; choose another --out"
        )
    silence = out.parent / SC_SILENCE if keywords else None
    if silence is not None and noise is None:
        raise ManifestError(
            f"{src / SC_NOISE}: no such folder; --keywords cuts the silence class out of its "
            "noise recordings: add them there, or drop --keywords"
        )
    if silence is not None and out.parent.resolve() == src.resolve():
        raise ManifestError(
            f"{out}: the silence crops would go to {silence}, a label folder of the corpus "
            f"itself; write --out outside {src}"
        )
    return noise, silence


def _refuse_silence_folder(folder: Path, overwrite: bool) -> None:
    """The silence crops' folder must be new or empty, unless --force."""
    if folder.exists() and not folder.is_dir():
        raise ManifestError(f"{folder}: is a file; the silence crops need that folder name")
    if not overwrite and folder.is_dir() and any(folder.iterdir()):
        raise ManifestError(
            f"{folder}: already holds files; choose another --out folder or delete it "
            "(or pass --force to overwrite)"
        )


def _silence_counts(parts: dict[str, list[Utterance]], keywords: Sequence[str]) -> dict[str, int]:
    """About as many silence crops as a keyword has clips on average, spread over the parts
    in their own proportions (every part gets one at least)."""
    clips = sum(u.label in keywords for part in parts.values() for u in part)
    total = max(round(clips / len(keywords)), len(parts))
    sizes = [len(part) for part in parts.values()]
    return dict(zip(parts, _split_sizes(total, [n / sum(sizes) for n in sizes]), strict=True))


def _noise_recordings(noise: Sequence[Path], skipped: list[str]) -> list[tuple[Path, np.ndarray]]:
    """The noise recordings at 16 kHz mono, those of 1 s or more; others are skipped."""
    recordings = []
    for path in noise:
        try:
            samples = load_audio(path, SILENCE_RATE)
        except AsrError as e:
            skipped.append(str(e))
            continue
        if len(samples) < SILENCE_SAMPLES:
            skipped.append(f"{path}: shorter than 1 s; no silence crop is cut from it")
        else:
            recordings.append((path, samples))
    return recordings


def _cut_silence(
    src: Path,
    noise: Sequence[Path],
    counts: dict[str, int],
    folder: Path,
    seed: int,
    skipped: list[str],
) -> dict[str, list[Utterance]]:
    """Cut ``counts[part]`` 1 s crops (16 kHz mono PCM16) out of the noise recordings into
    ``folder``, the ``silence`` class; each crop's speaker is the recording it came from.

    Every recording is cut into consecutive stretches, one per part in proportion to its
    count, so train, val and test crops never overlap; crops go round the recordings at
    seeded random offsets within those stretches.
    """
    recordings = _noise_recordings(noise, skipped)
    if not recordings:
        raise ManifestError(
            f"{src / SC_NOISE}: no noise recording of 1 s or more to cut the silence class "
            "from; add background-noise WAVs there, or drop --keywords"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.wav"):  # --force: a bigger earlier run's crops would linger
        if _CROP_NAME.fullmatch(old.name):
            old.unlink()
    rng = random.Random(seed)
    total, done = sum(counts.values()), 0
    parts: dict[str, list[Utterance]] = {}
    for name, count in counts.items():
        lo, hi = done / total, (done + count) / total
        done += count
        stretches = [(p, x, int(lo * len(x)), int(hi * len(x))) for p, x in recordings]
        stretches = [s for s in stretches if s[3] - s[2] >= SILENCE_SAMPLES] or [
            (p, x, 0, len(x))
            for p, x in recordings  # too short to share: overlap instead
        ]
        parts[name] = []
        for i in range(count):
            path, samples, start, stop = stretches[i % len(stretches)]
            offset = rng.randrange(start, stop - SILENCE_SAMPLES + 1)
            crop = folder / f"{name}-{i:05d}.wav"
            with atomic_path(crop, suffix=".wav") as temp:
                sf.write(temp, samples[offset : offset + SILENCE_SAMPLES], SILENCE_RATE, "PCM_16")
            duration = SILENCE_SAMPLES / SILENCE_RATE
            parts[name].append(
                Utterance(os.path.abspath(crop), "", duration, path.stem, SC_SILENCE)
            )
    return parts


def _noise_utterances(noise: Sequence[Path], skipped: list[str]) -> list[Utterance]:
    """The noise recordings as manifest lines labeled ``_background_noise_``, for mixing in."""
    utterances = []
    for path in noise:
        try:
            seconds = audio_duration(path)
        except AsrError as e:
            skipped.append(str(e))
            continue
        utterances.append(Utterance(os.path.abspath(path), "", seconds, label=SC_NOISE))
    return utterances


def prepare(
    src: StrPath,
    out: StrPath,
    *,
    fmt: str = "auto",
    split: Sequence[float] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    keywords: Sequence[str] | None = None,
) -> PrepareResult:
    """Turn a corpus into JSON Lines manifests with durations read from the audio headers.

    A Speech Commands corpus gives classification manifests (a ``label`` per line): its
    ``validation_list.txt``/``testing_list.txt`` fix the split (then ``split`` is an error),
    else ``split`` cuts it by speaker. ``noise.jsonl`` beside the manifests lists its
    ``_background_noise_`` recordings; with ``keywords``, 1 s crops of them go to
    ``silence/`` beside the manifests as the ``silence`` class.

    Args:
        src: the corpus folder (or its index file: metadata.csv, a .tsv, .csv or .trans.txt).
        out: the manifest to write; with ``split``, ``<stem>.train/val/test.jsonl`` beside it.
        fmt: ``"auto"`` or one of ``FORMATS``.
        split: train/val(/test) ratios summing to 1, e.g. ``(0.9, 0.05, 0.05)``.
        seed: seed of the shuffle before splitting (and of the silence crops); the same seed
            gives the same split.
        overwrite: replace existing output files instead of refusing.
        keywords: Speech Commands only: the label folders to keep as classes; the others are
            labeled ``unknown``, and a ``silence`` class is cut from the noise recordings.

    Returns:
        The manifests written, utterance count, audio hours, the skipped files' reasons and,
        for classification, the utterances per label.

    Raises:
        ManifestError: unknown or undetectable layout, bad ratios, an output that exists,
            no usable utterance, or a keyword without a folder.
    """
    src, out = Path(src), Path(out)
    if fmt != "auto" and fmt not in FORMATS:
        raise ManifestError(f"unknown corpus format {fmt!r}; choose auto or one of {FORMATS}")
    ratios = check_split(split) if split is not None else None
    keywords = _check_keywords(keywords) if keywords is not None else None
    if not src.exists():
        raise ManifestError(f"{src}: no such file or folder; give the corpus folder as SRC")
    fmt = detect_corpus(src) if fmt == "auto" else fmt
    if keywords and fmt != "speechcommands":
        raise ManifestError(
            f"{src}: --keywords picks Speech Commands label folders, but this is a {fmt} corpus; "
            "drop --keywords or pass --format speechcommands"
        )
    names = _split_names(src, fmt, ratios)
    paths = _output_paths(out, names)
    noise_path, silence_dir = _extra_paths(src, out, fmt, keywords, paths)
    if not overwrite:
        _refuse_overwrite(paths | ({"noise": noise_path} if noise_path else {}))
    if silence_dir is not None:
        _refuse_silence_folder(silence_dir, overwrite)
    scan = _scan_speechcommands(src, keywords) if keywords else _SCANNERS[fmt](src)
    kept, skipped = _utterances(scan)
    utterances = [u for _, u in kept]
    if not utterances:
        first = f" (skipped {len(skipped)}, first: {skipped[0]})" if skipped else ""
        raise ManifestError(f"{src}: no usable utterances in this {fmt} corpus{first}")
    if names is not None and kept[0][0].split is not None:  # the corpus' own lists
        parts = {name: [u for e, u in kept if e.split == name] for name in names}
        parts = {name: part for name, part in parts.items() if part}
    else:
        parts = _split(utterances, ratios, seed) if ratios else {"all": utterances}
    noise = _noise_utterances(scan.noise, skipped)
    if keywords and silence_dir is not None:
        counts = _silence_counts(parts, keywords)
        recordings = [Path(u.audio_filepath) for u in noise]
        crops = _cut_silence(src, recordings, counts, silence_dir, seed, skipped)
        parts = {name: part + crops[name] for name, part in parts.items()}
    manifests = {name: write_manifest(paths[name], part) for name, part in parts.items()}
    if noise_path is not None and noise:
        manifests["noise"] = write_manifest(noise_path, noise)
    written = [u for part in parts.values() for u in part]
    hours = sum(u.duration or 0.0 for u in written) / 3600.0
    labels = collections.Counter(u.label for u in written if u.label is not None)
    return PrepareResult(manifests, len(written), hours, skipped, fmt, dict(sorted(labels.items())))
