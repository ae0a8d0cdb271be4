"""Tests of asr.manifest: the three read formats, atomic JSONL writing, one-line errors."""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.errors import ManifestError
from asr.manifest import (
    Utterance,
    detect_format,
    read_manifest,
    read_manifest_report,
    write_manifest,
)


def _wav(path: Path) -> Path:
    """Write a 10 ms silent 16 kHz WAV: the reader only checks that audio files exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\0\0" * 160)
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder with a.wav, b.wav and sub/c.wav."""
    for name in ("a.wav", "b.wav", "sub/c.wav"):
        _wav(tmp_path / name)
    return tmp_path


def _write(path: Path, *lines: str) -> Path:
    """Write a manifest's lines with Unix newlines."""
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _json(**record: object) -> str:
    """One JSON Lines record."""
    return json.dumps(record)


def test_jsonl_round_trip_with_relative_paths(corpus: Path) -> None:
    """Written paths are relative to the manifest's folder and read back absolute."""
    utterances = [
        Utterance(str(corpus / "a.wav"), "Hello, World!", 1.5),
        Utterance(str(corpus / "sub" / "c.wav"), "café au lait", None),
    ]
    path = write_manifest(corpus / "m.jsonl", utterances)
    assert path == corpus / "m.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records == [
        {"audio_filepath": "a.wav", "text": "Hello, World!", "duration": 1.5},
        {"audio_filepath": os.path.join("sub", "c.wav"), "text": "café au lait"},
    ]
    assert read_manifest(path) == utterances


def test_audio_outside_manifest_folder_stays_absolute(corpus: Path) -> None:
    """A manifest beside, not above, its audio keeps absolute paths ("../" breaks on copy)."""
    utterances = [Utterance(str(corpus / "a.wav"), "hi")]
    path = write_manifest(corpus / "manifests" / "m.jsonl", utterances)
    assert json.loads(path.read_text())["audio_filepath"] == str(corpus / "a.wav")
    assert read_manifest(path) == utterances
    absolute = write_manifest(corpus / "abs.jsonl", utterances, relative_to_manifest=False)
    assert json.loads(absolute.read_text())["audio_filepath"] == str(corpus / "a.wav")


def test_read_resolves_against_manifest_folder_not_cwd(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative paths start at the manifest's folder whatever the working directory is."""
    _write(corpus / "sub" / "m.jsonl", _json(audio_filepath="c.wav", text="x"))
    monkeypatch.chdir(corpus)
    [utterance] = read_manifest(Path("sub") / "m.jsonl")
    assert utterance.audio_filepath == str(corpus / "sub" / "c.wav")


def test_read_csv(corpus: Path) -> None:
    """DeepSpeech CSV: header, quoted commas, CRLF line ends, blank lines, BOM."""
    text = (
        "\ufeffwav_filename,wav_filesize,transcript\r\n"
        f"a.wav,320,hello world\r\n\r\n"
        f'{corpus / "b.wav"},320,"hello, again"\r\n'
    )
    (corpus / "m.csv").write_text(text, encoding="utf-8", newline="")
    assert read_manifest(corpus / "m.csv") == [
        Utterance(str(corpus / "a.wav"), "hello world"),
        Utterance(str(corpus / "b.wav"), "hello, again"),
    ]


@pytest.mark.parametrize("header", [False, True])
def test_read_tsv(corpus: Path, header: bool) -> None:
    """TSV path<TAB>text, with or without a literal path<TAB>text header."""
    lines = ["path\ttext"] if header else []
    _write(corpus / "m.tsv", *lines, "a.wav\thello", "", "sub/c.wav\tgood bye")
    assert read_manifest(corpus / "m.tsv") == [
        Utterance(str(corpus / "a.wav"), "hello"),
        Utterance(str(corpus / "sub" / "c.wav"), "good bye"),
    ]


@pytest.mark.parametrize(
    ("name", "first_line", "fmt"),
    [
        ("m.jsonl", "anything", "jsonl"),
        ("m.JSON", "anything", "jsonl"),
        ("m.csv", "anything", "csv"),
        ("m.tsv", "anything", "tsv"),
        ("m.txt", '{"audio_filepath": "a.wav", "text": "x"}', "jsonl"),
        ("m.list", "wav_filename, wav_filesize, transcript", "csv"),
        ("manifest", "a.wav\thello", "tsv"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, first_line: str, fmt: str) -> None:
    """The extension decides; otherwise the first non-blank line does."""
    path = _write(tmp_path / name, "", first_line)
    assert detect_format(path) == fmt


def test_detect_format_failure_names_line(tmp_path: Path) -> None:
    """An unknown extension with an unrecognizable first line is an error at that line."""
    path = _write(tmp_path / "manifest.txt", "", "just words")
    with pytest.raises(ManifestError, match=r"manifest\.txt:2: cannot tell the manifest format"):
        read_manifest(path)


def test_sniffed_manifest_is_read(corpus: Path) -> None:
    """A .txt manifest holding JSON Lines is read as such."""
    path = _write(corpus / "list.txt", _json(audio_filepath="a.wav", text="hi"))
    assert read_manifest(path) == [Utterance(str(corpus / "a.wav"), "hi")]


GOOD = _json(audio_filepath="a.wav", text="fine")

# (third line of manifest.jsonl, words expected in the message)
JSONL_ERRORS = [
    ('{"audio_filepath": "a.wav", "text": ', "malformed JSON"),
    ('["a.wav", "x"]', "expected a JSON object, found list"),
    ('{"audio_filepath": "a.wav"}', "missing key 'text'"),
    ('{"path": "a.wav", "text": "x"}', "missing key 'audio_filepath'"),
    (_json(audio_filepath="a.wav", text="   "), "empty transcript"),
    (_json(audio_filepath="a.wav", text="?!"), "no letters or digits"),
    (_json(audio_filepath="a.wav", text="日本語"), "transliterate"),
    # letters normalization would silently drop: the words are in the audio, not the label
    (_json(audio_filepath="a.wav", text="hello мир"), "outside the alphabet a-z ('м', 'и'"),
    (_json(audio_filepath="a.wav", text="die straße"), "outside the alphabet a-z ('ß')"),
    (_json(audio_filepath="a.wav", text=42), "not a string"),
    (_json(audio_filepath="", text="x"), "not a file name"),
    (_json(audio_filepath=None, text="x"), "not a file name"),
    (_json(audio_filepath="missing.wav", text="x"), "audio file 'missing.wav' not found"),
    (_json(audio_filepath="sub", text="x"), "is a folder"),  # not an audio file
    (_json(audio_filepath="a.wav", text="x", duration=-1), "not a number of seconds"),
    (_json(audio_filepath="a.wav", text="x", duration="3.2"), "not a number of seconds"),
    (_json(audio_filepath="a.wav", text="x", duration=True), "not a number of seconds"),
    ('{"audio_filepath": "a.wav", "text": "x", "duration": NaN}', "not a number of seconds"),
    ('{"audio_filepath": "a.wav", "text": "x", "duration": 1e999}', "not a number of seconds"),
]


@pytest.mark.parametrize(("line", "words"), JSONL_ERRORS)
def test_jsonl_errors_name_file_and_line(corpus: Path, line: str, words: str) -> None:
    """Each bad line is a one-line ManifestError at manifest.jsonl:3 saying what and how to fix."""
    path = _write(corpus / "manifest.jsonl", GOOD, "", line, GOOD)
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    message = str(err.value)
    assert message.startswith(f"{path}:3: ")
    assert "manifest.jsonl:3:" in message and words in message
    assert "\n" not in message and "; " in message
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("name", "lines", "where", "words"),
    [
        ("manifest.csv", ["wav_filename,transcript", "a.wav,x"], 1, "expected the header"),
        ("manifest.csv", ["", "path,text"], 2, "expected the header"),
        (
            "manifest.csv",
            ["wav_filename,wav_filesize,transcript", "a.wav,1,x", "a.wav,1,x,y"],
            3,
            "found 4",
        ),
        (
            "manifest.csv",
            ["wav_filename,wav_filesize,transcript", "a.wav,1,x", "b.wav"],
            3,
            "found 1",
        ),
        ("manifest.tsv", ["a.wav\tx", "", "a.wav hello"], 3, "found no TAB"),
        ("manifest.tsv", ["a.wav\tx", "a.wav\tx", "a.wav\tx\t3"], 3, "found 3 columns"),
        ("manifest.tsv", ["a.wav\tx", "a.wav\tx", "nope.wav\tx"], 3, "not found"),
    ],
)
def test_csv_tsv_errors_name_file_and_line(
    corpus: Path, name: str, lines: list[str], where: int, words: str
) -> None:
    """CSV header and column errors, and TSV column errors, name file and line."""
    path = _write(corpus / name, *lines)
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    message = str(err.value)
    assert f"{name}:{where}: " in message and words in message and "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    """A missing file, a folder and non-UTF-8 bytes are errors naming the file."""
    with pytest.raises(ManifestError, match=r"nope\.jsonl: cannot read the manifest"):
        read_manifest(tmp_path / "nope.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(ManifestError, match=r"dir\.jsonl: cannot read the manifest"):
        read_manifest(tmp_path / "dir.jsonl")
    (tmp_path / "latin.jsonl").write_bytes(b'\n\n{"text": "caf\xe9"}\n')
    with pytest.raises(ManifestError, match=r"latin\.jsonl:3: not UTF-8 text.*save the manifest"):
        read_manifest(tmp_path / "latin.jsonl")


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv", "empty.tsv", "empty.txt"])
@pytest.mark.parametrize("content", ["", "\n  \n\n"])
def test_empty_manifest_is_an_error(tmp_path: Path, name: str, content: str) -> None:
    """A manifest without utterances (blank lines only) is an error naming the file."""
    (tmp_path / name).write_text(content)
    with pytest.raises(ManifestError, match=rf"{name}: the manifest (is empty|has no utterances)"):
        read_manifest(tmp_path / name)


def test_header_only_csv_is_empty(tmp_path: Path) -> None:
    """A DeepSpeech CSV with only its header has no utterances."""
    path = _write(tmp_path / "m.csv", "wav_filename,wav_filesize,transcript")
    with pytest.raises(ManifestError, match="has no utterances"):
        read_manifest(path)


def test_json_array_gets_a_hint(corpus: Path) -> None:
    """A whole JSON array on line 1 is told to become one object per line."""
    path = _write(corpus / "m.json", json.dumps([{"audio_filepath": "a.wav", "text": "x"}]))
    with pytest.raises(ManifestError, match=r"m\.json:1: .*a JSON array\?"):
        read_manifest(path)


def test_missing_audio_allowed_when_not_checked(tmp_path: Path) -> None:
    """check_audio_exists=False reads manifests whose audio is elsewhere or not yet made."""
    path = _write(tmp_path / "m.jsonl", _json(audio_filepath="later.wav", text="x", duration=2))
    assert read_manifest(path, check_audio_exists=False) == [
        Utterance(str(tmp_path / "later.wav"), "x", 2.0)
    ]


def test_skip_invalid_counts_and_reasons(corpus: Path) -> None:
    """skip_invalid keeps the good lines and reports each bad one in one line."""
    path = _write(
        corpus / "manifest.jsonl",
        GOOD,
        "{broken",
        _json(audio_filepath="gone.wav", text="x"),
        "",
        _json(audio_filepath="b.wav", text="!!!"),
        _json(audio_filepath="b.wav", text="also fine"),
    )
    utterances, reasons = read_manifest_report(path, skip_invalid=True)
    assert [u.text for u in utterances] == ["fine", "also fine"]
    assert [r.split(": ", 1)[0] for r in reasons] == [
        f"{path}:2",
        f"{path}:3",
        f"{path}:5",
    ]
    assert all("\n" not in r for r in reasons)
    assert read_manifest(path, skip_invalid=True) == utterances
    with pytest.raises(ManifestError, match="manifest.jsonl:2: malformed JSON"):
        read_manifest(path)


def test_skip_invalid_with_nothing_valid_is_an_error(corpus: Path) -> None:
    """Skipping every line leaves no utterances: an error quoting the first reason."""
    path = _write(corpus / "manifest.jsonl", "{", "[]")
    with pytest.raises(ManifestError, match=r"no valid utterances, all 2 lines are bad"):
        read_manifest(path, skip_invalid=True)


def test_skip_invalid_does_not_hide_a_bad_header(corpus: Path) -> None:
    """A wrong CSV header makes the whole file unreadable, skip or not."""
    path = _write(corpus / "m.csv", "file,size,text", "a.wav,1,x")
    with pytest.raises(ManifestError, match=r"m\.csv:1: expected the header"):
        read_manifest(path, skip_invalid=True)


def test_write_is_atomic_and_leaves_no_temp_files(corpus: Path) -> None:
    """A failure while writing keeps the old manifest intact and cleans up its temp file."""
    path = write_manifest(corpus / "m.jsonl", [Utterance(str(corpus / "a.wav"), "old")])
    before = path.read_bytes()

    def failing() -> object:
        yield Utterance(str(corpus / "b.wav"), "new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_manifest(path, failing())  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert sorted(p.name for p in corpus.iterdir()) == ["a.wav", "b.wav", "m.jsonl", "sub"]


def test_write_refuses_empty_and_non_jsonl(tmp_path: Path) -> None:
    """An empty manifest would be unreadable; a .csv name would be misread."""
    with pytest.raises(ManifestError, match="no utterances to write"):
        write_manifest(tmp_path / "m.jsonl", [])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ManifestError, match="name the file .jsonl"):
        write_manifest(tmp_path / "m.csv", [Utterance("a.wav", "x")])


def test_write_creates_folders_and_keeps_umask_permissions(tmp_path: Path) -> None:
    """Output folders are made; the file is not left private like a mkstemp file."""
    path = write_manifest(tmp_path / "a" / "b" / "m.jsonl", [Utterance("/x.wav", "x")])
    assert path.is_file()
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_utterance_is_frozen() -> None:
    """Utterances are values: hashable and immutable."""
    utterance = Utterance("/a.wav", "x")
    with pytest.raises(AttributeError):
        utterance.text = "y"  # type: ignore[misc]
    assert hash(utterance) == hash(Utterance("/a.wav", "x"))


# -- fuzzing: any text is either read or refused with a ManifestError -------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
_records = st.fixed_dictionaries(
    {},
    optional={
        "audio_filepath": st.sampled_from(["a.wav", "sub", "", "missing.wav"]) | _json_values,
        "text": st.text(max_size=20) | _json_values,
        "duration": _json_values,
    },
).map(lambda r: json.dumps(r, ensure_ascii=False))
_lines = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="a.wav\t,\"'{}[]:\r 0123456789", max_size=30),
    _records,
    st.just("wav_filename,wav_filesize,transcript"),
    st.just("path\ttext"),
)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder with real audio for all fuzz examples (function-scoped tmp_path is per test)."""
    root = tmp_path_factory.mktemp("fuzz")
    _wav(root / "a.wav")
    (root / "sub").mkdir()
    return root


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_lines, max_size=6),
    suffix=st.sampled_from([".jsonl", ".csv", ".tsv", ".txt"]),
    skip=st.booleans(),
    check=st.booleans(),
)
def test_any_text_reads_or_raises_manifest_error(
    fuzz_dir: Path, lines: list[str], suffix: str, skip: bool, check: bool
) -> None:
    """Random lines never crash the reader: utterances come back, or a one-line ManifestError."""
    path = fuzz_dir / f"manifest{suffix}"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        utterances, reasons = read_manifest_report(
            path, skip_invalid=skip, check_audio_exists=check
        )
    except ManifestError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
        return
    assert utterances and all(os.path.isabs(u.audio_filepath) for u in utterances)
    assert all(isinstance(u.text, str) for u in utterances)
    assert skip or not reasons


def test_speaker_is_read_and_written_back(corpus: Path) -> None:
    """Corpora are split by speaker, so a manifest's ``speaker`` survives a round trip."""
    path = _write(
        corpus / "m.jsonl",
        _json(audio_filepath="a.wav", text="one", speaker="hayes"),
        _json(audio_filepath="b.wav", text="two"),
        _json(audio_filepath="sub/c.wav", text="three", speaker=7),
    )
    utts = read_manifest(path)
    assert [u.speaker for u in utts] == ["hayes", None, "7"]
    again = read_manifest(write_manifest(corpus / "out.jsonl", utts))
    assert again == utts
    records = [json.loads(line) for line in (corpus / "out.jsonl").read_text().splitlines()]
    assert [r.get("speaker") for r in records] == ["hayes", None, "7"]
