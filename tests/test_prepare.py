"""Tests of asr.prepare on tiny corpora committed in their real layouts.

The fixtures under tests/fixtures/corpora/ are written by ``write_fixture_corpora`` below;
after changing it, regenerate them with ``python tests/test_prepare.py`` (a test checks that
the committed files still match what it writes).
"""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.errors import ManifestError
from asr.manifest import read_manifest
from asr.prepare import (
    FORMATS,
    PrepareResult,
    check_split,
    detect_corpus,
    parse_split,
    prepare,
)

CORPORA = Path(__file__).parent / "fixtures" / "corpora"
SAMPLE_RATE = 16_000  # Hz
CLIP_SECONDS = 0.1  # each fixture WAV: 1600 samples, 3244 bytes

LJSPEECH_METADATA = (
    "LJ001-0001|Printing, in the only sense with which we are at present concerned|"
    "Printing, in the only sense with which we are at present concerned\n"
    "LJ001-0002|in being comparatively modern, from 1455.|"
    "in being comparatively modern, from fourteen fifty-five.\n"
)
LIBRISPEECH_TRANS = (
    "84-121123-0000 GO DO YOU HEAR\n"
    "84-121123-0001 BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED BENEATH AN "
    "EXTRAORDINARY WEIGHT\n"
)
COMMONVOICE_TSV = (
    "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment\n"
    'c1a2\tcommon_voice_en_1.mp3\tThe "quick" brown fox.\t2\t0\ttwenties\tmale\t\ten\t\n'
    "d3e4\tcommon_voice_en_2.mp3\tIt's 5 o'clock.\t3\t0\t\t\t\ten\t\n"
)
DEEPSPEECH_CSV = (
    "wav_filename,wav_filesize,transcript\n"
    "audio/a.wav,3244,hello world\n"
    'audio/b.wav,3244,"good morning, sir"\n'
)


def write_wav(path: Path, seconds: float = CLIP_SECONDS, rate: int = SAMPLE_RATE) -> Path:
    """Write a quiet 440 Hz sine as 16-bit mono PCM: real audio, a few KB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * rate)) / rate
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def _write_text(path: Path, text: str) -> None:
    """Write a fixture text file with Unix newlines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_fixture_corpora(root: Path) -> None:
    """Write one tiny corpus per layout under ``root`` (the committed fixtures)."""
    lj = root / "ljspeech"
    _write_text(lj / "metadata.csv", LJSPEECH_METADATA)
    for uid in ("LJ001-0001", "LJ001-0002"):
        write_wav(lj / "wavs" / f"{uid}.wav")
    # LibriSpeech ships FLAC and Common Voice MP3 (both import as they are: see the tests
    # writing them below); the committed fixtures hold converted WAVs, the smallest audio.
    chapter = root / "librispeech" / "LibriSpeech" / "dev-clean" / "84" / "121123"
    _write_text(chapter / "84-121123.trans.txt", LIBRISPEECH_TRANS)
    for uid in ("84-121123-0000", "84-121123-0001"):
        write_wav(chapter / f"{uid}.wav")
    cv = root / "commonvoice"
    _write_text(cv / "validated.tsv", COMMONVOICE_TSV)
    for n in (1, 2):
        write_wav(cv / "clips" / f"common_voice_en_{n}.wav")
    ds = root / "deepspeech"
    _write_text(ds / "train.csv", DEEPSPEECH_CSV)
    for name in ("a", "b"):
        write_wav(ds / "audio" / f"{name}.wav")
    folder = root / "folder"
    write_wav(folder / "one.wav")
    _write_text(folder / "one.txt", "Hello there.\n")
    write_wav(folder / "sub" / "two.wav")
    _write_text(folder / "sub" / "two.txt", "Second file\non two lines\n")
    write_wav(folder / "orphan.wav")  # no transcript: skipped and counted


# name -> (audio paths relative to the corpus, texts, skipped count)
EXPECTED = {
    "ljspeech": (
        ["wavs/LJ001-0001.wav", "wavs/LJ001-0002.wav"],
        [
            "Printing, in the only sense with which we are at present concerned",
            "in being comparatively modern, from fourteen fifty-five.",
        ],
        0,
    ),
    "librispeech": (
        [
            "LibriSpeech/dev-clean/84/121123/84-121123-0000.wav",
            "LibriSpeech/dev-clean/84/121123/84-121123-0001.wav",
        ],
        [
            "GO DO YOU HEAR",
            "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED BENEATH AN EXTRAORDINARY WEIGHT",
        ],
        0,
    ),
    "commonvoice": (
        ["clips/common_voice_en_1.wav", "clips/common_voice_en_2.wav"],
        ['The "quick" brown fox.', "It's 5 o'clock."],
        0,
    ),
    "deepspeech": (["audio/a.wav", "audio/b.wav"], ["hello world", "good morning, sir"], 0),
    "folder": (["one.wav", "sub/two.wav"], ["Hello there.", "Second file on two lines"], 1),
}


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, for comparing trees."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_committed_fixtures_match_their_generator(tmp_path: Path) -> None:
    """The committed corpora are exactly what write_fixture_corpora writes, and stay tiny."""
    write_fixture_corpora(tmp_path)
    committed = _files(CORPORA)
    assert committed == _files(tmp_path)
    assert sum(len(b) for b in committed.values()) < 100_000


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_auto_detects_each_layout(fmt: str) -> None:
    """Each fixture corpus is recognized from its files alone."""
    assert detect_corpus(CORPORA / fmt) == fmt


@pytest.mark.parametrize("given", ["auto", "explicit"])
@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_prepare_each_layout(tmp_path: Path, fmt: str, given: str) -> None:
    """Prepared manifests hold absolute paths, the expected texts and header durations."""
    src = CORPORA / fmt
    out = tmp_path / "out" / "manifest.jsonl"
    result = prepare(src, out, fmt=fmt if given == "explicit" else "auto")
    audio, texts, n_skipped = EXPECTED[fmt]
    utterances = read_manifest(out)
    assert [u.audio_filepath for u in utterances] == [str((src / a).resolve()) for a in audio]
    assert all(os.path.isabs(u.audio_filepath) for u in utterances)
    assert [u.text for u in utterances] == texts
    assert all(u.duration == pytest.approx(CLIP_SECONDS) for u in utterances)
    assert result == PrepareResult(
        {"all": out},
        len(texts),
        pytest.approx(len(texts) * CLIP_SECONDS / 3600),
        result.skipped,
        fmt,
    )
    assert len(result.skipped) == n_skipped
    assert f"{len(texts)} utterances" in result.summary()


def test_manifest_paths_are_written_relative(tmp_path: Path) -> None:
    """Audio under the manifest's folder is stored relative (corpus + manifest can move);
    audio elsewhere keeps its absolute path."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPORA / "folder", corpus)
    prepare(corpus, corpus / "m.jsonl")
    records = [json.loads(line) for line in (corpus / "m.jsonl").read_text().splitlines()]
    assert records[0]["audio_filepath"] == "one.wav"
    assert set(records[0]) == {"audio_filepath", "text", "duration"}
    prepare(CORPORA / "folder", tmp_path / "outside.jsonl")
    outside = json.loads((tmp_path / "outside.jsonl").read_text().splitlines()[0])
    assert outside["audio_filepath"] == str((CORPORA / "folder" / "one.wav").resolve())


def test_folder_skips_wav_without_transcript(tmp_path: Path) -> None:
    """A wav with no .txt beside it is left out and named in the skipped list."""
    result = prepare(CORPORA / "folder", tmp_path / "m.jsonl")
    assert result.count == 2
    assert len(result.skipped) == 1 and "orphan.wav" in result.skipped[0]
    assert "skipped 1" in result.summary()


def test_index_file_as_src(tmp_path: Path) -> None:
    """SRC may be the index file itself (metadata.csv, a Common Voice TSV, a DeepSpeech CSV)."""
    for fmt, index in [
        ("ljspeech", "metadata.csv"),
        ("commonvoice", "validated.tsv"),
        ("deepspeech", "train.csv"),
        ("librispeech", "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt"),
    ]:
        src = CORPORA / fmt / index
        assert detect_corpus(src) == fmt
        assert prepare(src, tmp_path / f"{fmt}.jsonl").count == 2


def test_unrecognized_layout_lists_what_was_looked_for(tmp_path: Path) -> None:
    """A folder matching no layout is an error naming every layout looked for."""
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ManifestError) as err:
        prepare(tmp_path, tmp_path / "m.jsonl")
    message = str(err.value)
    assert str(tmp_path) in message and "\n" not in message
    for fmt in FORMATS:
        assert fmt in message


def test_missing_src_and_unknown_format(tmp_path: Path) -> None:
    """A missing corpus and an unknown --format are one-line errors."""
    with pytest.raises(ManifestError, match="no such file or folder"):
        prepare(tmp_path / "nope", tmp_path / "m.jsonl")
    with pytest.raises(ManifestError, match="unknown corpus format 'timit'"):
        prepare(CORPORA / "folder", tmp_path / "m.jsonl", fmt="timit")


def write_audio(path: Path, fmt: str, rate: int, seconds: float = CLIP_SECONDS) -> Path:
    """Write a quiet 440 Hz sine as ``fmt`` (FLAC, MP3, OGG...) with libsndfile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), rate, format=fmt)
    return path


def _librispeech_flac(root: Path) -> Path:
    """LibriSpeech as downloaded: 16 kHz FLAC beside the chapter's .trans.txt."""
    chapter = root / "LibriSpeech" / "dev-clean" / "84" / "121123"
    _write_text(chapter / "84-121123.trans.txt", LIBRISPEECH_TRANS)
    for uid in ("84-121123-0000", "84-121123-0001"):
        write_audio(chapter / f"{uid}.flac", "FLAC", 16000)
    return chapter


def _commonvoice_mp3(root: Path) -> Path:
    """Common Voice as downloaded: 48 kHz MP3 clips and validated.tsv."""
    _write_text(root / "validated.tsv", COMMONVOICE_TSV)
    for n in (1, 2):
        write_audio(root / "clips" / f"common_voice_en_{n}.mp3", "MP3", 48000)
    return root / "clips"


def _folder_mixed(root: Path) -> Path:
    """A folder corpus whose audio comes in several formats, each with its transcript."""
    for name, fmt, rate in [("a.flac", "FLAC", 16000), ("b.mp3", "MP3", 44100)]:
        write_audio(root / name, fmt, rate)
        _write_text((root / name).with_suffix(".txt"), f"file {name[0]}")
    write_audio(root / "sub" / "c.ogg", "OGG", 22050)
    _write_text(root / "sub" / "c.txt", "file c")
    return root


# layout -> (corpus writer, format, expected audio files relative to the corpus root)
ORIGINAL_FORMATS = {
    "librispeech-flac": (
        _librispeech_flac,
        "librispeech",
        [
            "LibriSpeech/dev-clean/84/121123/84-121123-0000.flac",
            "LibriSpeech/dev-clean/84/121123/84-121123-0001.flac",
        ],
    ),
    "commonvoice-mp3": (
        _commonvoice_mp3,
        "commonvoice",
        ["clips/common_voice_en_1.mp3", "clips/common_voice_en_2.mp3"],
    ),
    "folder-flac-mp3-ogg": (_folder_mixed, "folder", ["a.flac", "b.mp3", "sub/c.ogg"]),
}


@pytest.mark.parametrize("layout", ORIGINAL_FORMATS)
def test_corpora_in_their_original_formats_import_without_conversion(
    tmp_path: Path, layout: str
) -> None:
    """LibriSpeech FLAC and Common Voice MP3 (and any audio in a folder corpus) go into the
    manifest as they are, with durations from their headers; nothing asks for sox."""
    write, fmt, audio = ORIGINAL_FORMATS[layout]
    src = tmp_path / "corpus"
    write(src)
    assert detect_corpus(src) == fmt
    result = prepare(src, tmp_path / "m.jsonl")
    assert (result.fmt, result.count, result.skipped) == (fmt, len(audio), [])
    utterances = read_manifest(tmp_path / "m.jsonl")
    assert [u.audio_filepath for u in utterances] == [str((src / a).resolve()) for a in audio]
    assert all(u.duration == pytest.approx(CLIP_SECONDS, abs=1e-3) for u in utterances)
    assert result.hours == pytest.approx(len(audio) * CLIP_SECONDS / 3600, rel=1e-2)
    assert not list(src.rglob("*.wav"))  # nothing was converted


def test_a_converted_wav_beside_the_original_is_preferred(tmp_path: Path) -> None:
    """A .wav a user converted beside the FLAC/MP3 (the old advice) is what gets listed."""
    chapter = _librispeech_flac(tmp_path / "ls")
    write_wav(chapter / "84-121123-0000.wav")
    clips = _commonvoice_mp3(tmp_path / "cv")
    write_wav(clips / "common_voice_en_2.wav")
    ls = read_manifest(prepare(tmp_path / "ls", tmp_path / "ls.jsonl").manifests["all"])
    assert [Path(u.audio_filepath).name for u in ls] == [
        "84-121123-0000.wav",
        "84-121123-0001.flac",
    ]
    cv = read_manifest(prepare(tmp_path / "cv", tmp_path / "cv.jsonl").manifests["all"])
    assert [Path(u.audio_filepath).name for u in cv] == [
        "common_voice_en_1.mp3",
        "common_voice_en_2.wav",
    ]


def test_folder_lists_a_converted_wav_once(tmp_path: Path) -> None:
    """x.flac with x.wav converted beside it is one utterance (the .wav), not two."""
    write_audio(tmp_path / "x.flac", "FLAC", 16000)
    write_wav(tmp_path / "x.wav")
    write_audio(tmp_path / "y.mp3", "MP3", 16000)
    for stem in "xy":
        _write_text(tmp_path / f"{stem}.txt", f"file {stem}")
    result = prepare(tmp_path, tmp_path / "m.jsonl")
    names = [Path(u.audio_filepath).name for u in read_manifest(result.manifests["all"])]
    assert names == ["x.wav", "y.mp3"] and result.skipped == []


def test_missing_and_broken_originals_are_skipped_with_reasons(tmp_path: Path) -> None:
    """A clip the TSV names but the folder lacks, and a clip that is not audio, are skipped;
    each reason is one line naming the file."""
    clips = _commonvoice_mp3(tmp_path)
    (clips / "common_voice_en_1.mp3").unlink()
    (clips / "common_voice_en_2.mp3").write_bytes(b"ID3\x03" + bytes(100))
    with pytest.raises(ManifestError, match="no usable utterances") as err:
        prepare(tmp_path, tmp_path / "m.jsonl")
    assert "common_voice_en_1.mp3 not found" in str(err.value)
    chapter = _librispeech_flac(tmp_path / "ls")
    (chapter / "84-121123-0001.flac").write_bytes(b"fLaC" + bytes(50))
    result = prepare(tmp_path / "ls", tmp_path / "ls.jsonl")
    assert result.count == 1
    [reason] = result.skipped
    assert reason.startswith(f"{chapter / '84-121123-0001.flac'}: ") and "\n" not in reason


def test_commonvoice_without_validated_reads_train_dev_test(tmp_path: Path) -> None:
    """Without validated.tsv, the train/dev/test tables are read together."""
    header, row1, row2 = COMMONVOICE_TSV.splitlines(keepends=True)
    _write_text(tmp_path / "train.tsv", header + row1)
    _write_text(tmp_path / "dev.tsv", header + row2)
    for n in (1, 2):
        write_wav(tmp_path / "clips" / f"common_voice_en_{n}.wav")
    result = prepare(tmp_path, tmp_path / "m.jsonl")
    assert (result.fmt, result.count) == ("commonvoice", 2)


def test_bad_entries_are_skipped_with_reasons(tmp_path: Path) -> None:
    """Missing audio, unspellable text and broken WAVs are skipped, one reason each."""
    _write_text(
        tmp_path / "metadata.csv",
        "ok|hello|hello\nmissing|gone|gone\nkanji|日本|日本\nbroken|bad header|bad header\nshort\n",
    )
    write_wav(tmp_path / "wavs" / "ok.wav")
    write_wav(tmp_path / "wavs" / "kanji.wav")
    (tmp_path / "wavs" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    result = prepare(tmp_path, tmp_path / "m.jsonl")
    assert result.count == 1
    reasons = result.skipped
    assert len(reasons) == 4
    assert any("metadata.csv:2:" in r and "not found" in r for r in reasons)
    assert any("metadata.csv:5:" in r for r in reasons)
    assert any("kanji.wav" in r and "a-z" in r for r in reasons)
    assert any("broken.wav" in r for r in reasons)
    assert all("\n" not in r for r in reasons)


def test_no_usable_utterance_is_an_error(tmp_path: Path) -> None:
    """A corpus whose every entry is bad is an error that shows the first reason."""
    write_wav(tmp_path / "a.wav")
    _write_text(tmp_path / "a.txt", "!!!")
    with pytest.raises(ManifestError, match="no usable utterances.*a.wav"):
        prepare(tmp_path, tmp_path / "m.jsonl", fmt="folder")


def _corpus(root: Path, n: int) -> Path:
    """A folder corpus of n utterances."""
    for i in range(n):
        write_wav(root / f"u{i:02d}.wav", seconds=0.01)
        _write_text(root / f"u{i:02d}.txt", f"utterance {i}")
    return root


def test_split_writes_three_disjoint_manifests(tmp_path: Path) -> None:
    """--split writes <stem>.train/.val/.test.jsonl beside --out, covering every utterance once."""
    src = _corpus(tmp_path / "corpus", 40)
    result = prepare(src, tmp_path / "ds.jsonl", split=(0.8, 0.1, 0.1), seed=3)
    assert result.manifests == {
        name: tmp_path / f"ds.{name}.jsonl" for name in ("train", "val", "test")
    }
    assert not (tmp_path / "ds.jsonl").exists()
    parts = {name: read_manifest(path) for name, path in result.manifests.items()}
    assert [len(p) for p in parts.values()] == [32, 4, 4]
    paths = [u.audio_filepath for p in parts.values() for u in p]
    assert len(set(paths)) == 40 == result.count
    for part in parts.values():  # each part keeps the corpus order
        assert [u.audio_filepath for u in part] == sorted(u.audio_filepath for u in part)


def test_split_is_deterministic_per_seed(tmp_path: Path) -> None:
    """The same seed gives the same split; another seed gives another."""
    src = _corpus(tmp_path / "corpus", 30)

    def val_of(seed: int, name: str) -> list[str]:
        result = prepare(src, tmp_path / f"{name}.jsonl", split=(0.5, 0.5), seed=seed)
        assert set(result.manifests) == {"train", "val"}
        return [u.audio_filepath for u in read_manifest(result.manifests["val"])]

    first = val_of(0, "a")
    assert first == val_of(0, "b")
    assert first != val_of(1, "c")


def test_split_never_writes_an_empty_part(tmp_path: Path) -> None:
    """A small corpus still gives every split one utterance; too small is an error."""
    src = _corpus(tmp_path / "corpus", 3)
    result = prepare(src, tmp_path / "s.jsonl", split=(0.9, 0.05, 0.05))
    assert [len(read_manifest(p)) for p in result.manifests.values()] == [1, 1, 1]
    tiny = _corpus(tmp_path / "tiny", 2)
    with pytest.raises(ManifestError, match="2 utterances cannot fill 3 splits"):
        prepare(tiny, tmp_path / "t.jsonl", split=(0.9, 0.05, 0.05))


@pytest.mark.parametrize(
    "ratios", [(0.9, 0.05), (0.5, 0.6, -0.1), (1.0,), (0.25,) * 4, (0.5, float("nan"), 0.5)]
)
def test_bad_split_ratios(tmp_path: Path, ratios: tuple[float, ...]) -> None:
    """Ratios must be 2 or 3 positive numbers summing to 1; the error is a ValueError too."""
    with pytest.raises(ManifestError, match="sum to 1") as err:
        prepare(CORPORA / "folder", tmp_path / "m.jsonl", split=ratios)
    assert isinstance(err.value, ValueError)


def test_split_ratio_parsing() -> None:
    """The CLI's --split text parses to checked ratios, within 1e-6 of summing to 1."""
    assert parse_split("0.9,0.05,0.05") == (0.9, 0.05, 0.05)
    assert check_split([1 / 3, 1 / 3, 1 / 3 + 5e-7]) == pytest.approx((1 / 3,) * 3, abs=1e-6)
    with pytest.raises(ManifestError, match="not comma-separated numbers"):
        parse_split("0.9;0.1")
    with pytest.raises(ManifestError):
        parse_split("0.9,0.1001")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    """An existing output stops prepare before any work, unless overwrite=True."""
    out = tmp_path / "m.jsonl"
    out.write_text("precious\n")
    with pytest.raises(ManifestError, match=r"already exists; choose another --out or delete it"):
        prepare(CORPORA / "folder", out)
    assert out.read_text() == "precious\n"
    prepare(CORPORA / "folder", out, overwrite=True)
    assert len(read_manifest(out)) == 2


def test_refuses_to_overwrite_any_split(tmp_path: Path) -> None:
    """One existing split file is enough to refuse, and nothing else is written."""
    src = _corpus(tmp_path / "corpus", 5)
    (tmp_path / "d.val.jsonl").write_text("keep\n")
    with pytest.raises(ManifestError, match=r"d\.val\.jsonl: already exists"):
        prepare(src, tmp_path / "d.jsonl", split=(0.6, 0.2, 0.2))
    assert not (tmp_path / "d.train.jsonl").exists()


def test_out_must_be_jsonl(tmp_path: Path) -> None:
    """Manifests are JSON Lines; a .csv --out is refused instead of written misnamed."""
    with pytest.raises(ManifestError, match="name it .jsonl"):
        prepare(CORPORA / "folder", tmp_path / "m.csv")


if __name__ == "__main__":
    write_fixture_corpora(CORPORA)
    print(f"wrote {CORPORA}")


def _synth_like(root: Path, sentences: int, voices: int) -> Path:
    """A folder as `asr synth` leaves it: WAVs and manifest.jsonl, each sentence in n voices."""
    lines = []
    for s in range(sentences):
        for v in range(voices):
            name = f"wavs/{s:02d}-{v}.wav"
            write_wav(root / name, seconds=0.01)
            text = f"Sentence number {s}!" if v else f"sentence NUMBER {s}"  # same once normalized
            lines.append(json.dumps({"audio_filepath": name, "text": text}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_manifest_format_detected_for_synth_folder_and_jsonl(tmp_path: Path) -> None:
    src = _synth_like(tmp_path / "syn", 3, 2)
    assert detect_corpus(src) == "manifest"
    assert detect_corpus(src / "manifest.jsonl") == "manifest"
    result = prepare(src, tmp_path / "all.jsonl")
    assert result.fmt == "manifest" and result.count == 6
    assert [Path(u.audio_filepath).name for u in read_manifest(tmp_path / "all.jsonl")][:2] == [
        "00-0.wav",
        "00-1.wav",
    ]


def test_split_keeps_each_sentence_in_one_part(tmp_path: Path) -> None:
    """Several voices reading one sentence never straddle train and val."""
    src = _synth_like(tmp_path / "syn", 20, 4)
    result = prepare(src, tmp_path / "ds.jsonl", split=(0.8, 0.1, 0.1), seed=1)
    seen: dict[str, str] = {}
    total = 0
    for name, path in result.manifests.items():
        for u in read_manifest(path):
            key = u.text.lower().rstrip("!")
            assert seen.setdefault(key, name) == name, f"{key!r} in {seen[key]} and {name}"
            total += 1
    assert total == 80
    assert {len(read_manifest(p)) for p in result.manifests.values()} <= {64, 8}


def test_split_needs_enough_distinct_sentences(tmp_path: Path) -> None:
    src = _synth_like(tmp_path / "syn", 2, 5)
    with pytest.raises(ManifestError, match="2 distinct transcripts cannot fill 3 splits"):
        prepare(src, tmp_path / "ds.jsonl", split=(0.8, 0.1, 0.1))
