"""`asr prepare` on a Speech Commands tree: label folders, split lists, keywords, silence.

Each test builds a tiny tree in ``tmp_path`` with real WAVs written by soundfile: 4 words
said by 5 speakers twice each (0.1 s sines), and two 6 s noise recordings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from e2e_support import one_line_error, run_cli

from asr.errors import ManifestError
from asr.manifest import read_manifest
from asr.prepare import SC_NOISE, detect_corpus, parse_keywords, prepare

WORDS = ("down", "no", "up", "yes")
SPEAKERS = ("0a7c2a8d", "1b2c3d4e", "2c3d4e5f", "3d4e5f60", "4e5f6071")
TAKES = 2  # clips per speaker and word
RATE = 16_000  # Hz
NOISE_SECONDS = 6.0


def _sine(path: Path, hz: float, seconds: float = 0.1) -> None:
    """A quiet sine as 16 kHz mono PCM16."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * RATE)) / RATE
    sf.write(path, 0.3 * np.sin(2 * np.pi * hz * t), RATE, subtype="PCM_16")


def make_tree(root: Path, *, lists: bool = False, noise: bool = True) -> Path:
    """A Speech Commands tree; with ``lists``, speaker 1 is validation and speaker 2 test."""
    for w, word in enumerate(WORDS):
        for s, speaker in enumerate(SPEAKERS):
            for k in range(TAKES):
                _sine(root / word / f"{speaker}_nohash_{k}.wav", 200 + 50 * w + 10 * s + k)
    if noise:
        rng = np.random.default_rng(0)
        (root / SC_NOISE).mkdir()
        for name in ("white_noise", "pink_noise"):
            samples = 0.1 * rng.standard_normal(round(NOISE_SECONDS * RATE))
            sf.write(root / SC_NOISE / f"{name}.wav", samples, RATE, subtype="PCM_16")
        (root / SC_NOISE / "README.md").write_text("not audio\n")
    if lists:
        for file, speaker in [
            ("validation_list.txt", SPEAKERS[1]),
            ("testing_list.txt", SPEAKERS[2]),
        ]:
            lines = [f"{w}/{speaker}_nohash_{k}.wav" for w in WORDS for k in range(TAKES)]
            (root / file).write_text("\n".join(lines) + "\n")
    return root


def _parts(result) -> dict[str, list]:
    """The classification manifests a result names, read back (noise list excluded)."""
    return {
        name: read_manifest(path, labels=True)
        for name, path in result.manifests.items()
        if name != "noise"
    }


def test_detected_by_noise_folder_or_lists(tmp_path: Path) -> None:
    assert detect_corpus(make_tree(tmp_path / "a")) == "speechcommands"
    assert detect_corpus(make_tree(tmp_path / "b", lists=True, noise=False)) == "speechcommands"
    # label folders of audio alone are not enough to tell it from a folder corpus
    assert detect_corpus(make_tree(tmp_path / "c", noise=False)) == "folder"


def test_lists_are_honoured(tmp_path: Path) -> None:
    """validation_list.txt and testing_list.txt pick val and test; the rest is train."""
    src = make_tree(tmp_path / "sc", lists=True)
    result = prepare(src, tmp_path / "out" / "kws.jsonl")
    assert result.fmt == "speechcommands"
    assert list(result.manifests) == ["train", "val", "test", "noise"]
    assert result.manifests["val"] == tmp_path / "out" / "kws.val.jsonl"
    parts = _parts(result)
    speakers = {name: {u.speaker for u in part} for name, part in parts.items()}
    assert speakers == {
        "train": {SPEAKERS[0], *SPEAKERS[3:]},
        "val": {SPEAKERS[1]},
        "test": {SPEAKERS[2]},
    }
    assert [len(p) for p in parts.values()] == [24, 8, 8]
    assert result.labels == {word: 10 for word in WORDS}
    assert "labels: down 10, no 10, up 10, yes 10" in result.summary()
    for part in parts.values():
        for u in part:
            assert u.label == Path(u.audio_filepath).parent.name and u.duration == pytest.approx(
                0.1
            )
    assert result.skipped == []


def test_a_listed_file_that_is_missing_is_skipped_with_its_line(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc", lists=True)
    with (src / "testing_list.txt").open("a") as f:
        f.write("yes/ffffffff_nohash_0.wav\n")
    result = prepare(src, tmp_path / "kws.jsonl")
    [reason] = result.skipped
    assert reason.startswith(f"{src / 'testing_list.txt'}:9: audio ")
    assert "ffffffff_nohash_0.wav not found" in reason and "\n" not in reason
    assert result.count == 40


def test_lists_and_split_contradict(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc", lists=True)
    with pytest.raises(ManifestError, match=r"validation_list\.txt: .*drop --split"):
        prepare(src, tmp_path / "kws.jsonl", split=(0.8, 0.1, 0.1))


def test_split_by_speaker_without_lists(tmp_path: Path) -> None:
    """Without lists, --split cuts by speaker: no speaker in two parts; seeded."""
    src = make_tree(tmp_path / "sc")
    result = prepare(src, tmp_path / "a.jsonl", split=(0.6, 0.2, 0.2), seed=1)
    parts = _parts(result)
    owner: dict[str, str] = {}
    for name, part in parts.items():
        for u in part:
            assert owner.setdefault(u.speaker, name) == name, f"{u.speaker} in two splits"
    assert sorted(owner) == sorted(SPEAKERS) and set(owner.values()) == {"train", "val", "test"}
    assert sum(len(p) for p in parts.values()) == result.count == 40
    again = prepare(src, tmp_path / "b.jsonl", split=(0.6, 0.2, 0.2), seed=1, overwrite=True)
    assert _parts(again) == parts
    assert SC_NOISE not in result.labels and "unknown" not in result.labels


def test_noise_manifest_lists_the_background_noise(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc")
    result = prepare(src, tmp_path / "out" / "all.jsonl")
    assert result.manifests["noise"] == tmp_path / "out" / "noise.jsonl"
    noise = read_manifest(result.manifests["noise"], labels=True)
    assert [Path(u.audio_filepath).name for u in noise] == ["pink_noise.wav", "white_noise.wav"]
    assert {u.label for u in noise} == {SC_NOISE}
    assert all(u.duration == pytest.approx(NOISE_SECONDS) for u in noise)
    assert result.count == 40  # the noise is not part of the corpus


def test_keywords_fold_the_rest_into_unknown_and_cut_silence(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc", lists=True)
    out = tmp_path / "out" / "kws.jsonl"
    result = prepare(src, out, keywords=["yes", "no"], seed=4)
    # 10 clips per keyword on average -> 10 silence crops, spread 6/2/2 like the corpus
    assert result.labels == {"no": 10, "silence": 10, "unknown": 20, "yes": 10}
    parts = _parts(result)
    silence = {name: [u for u in part if u.label == "silence"] for name, part in parts.items()}
    assert {name: len(s) for name, s in silence.items()} == {"train": 6, "val": 2, "test": 2}
    for u in parts["train"]:
        folder = Path(u.audio_filepath).parent.name
        assert u.label == {"yes": "yes", "no": "no", "silence": "silence"}.get(folder, "unknown")
    crops = [u for s in silence.values() for u in s]
    assert {u.speaker for u in crops} == {"white_noise", "pink_noise"}  # from both recordings
    audio = {}
    for u in crops:
        info = sf.info(u.audio_filepath)
        assert Path(u.audio_filepath).parent == out.parent / "silence"
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            RATE,
            1,
            RATE,
            "PCM_16",
        )
        samples, _ = sf.read(u.audio_filepath)
        assert 0.05 < samples.std() < 0.2  # real noise, not zeros
        audio[u.audio_filepath] = samples
    assert len({a.tobytes() for a in audio.values()}) == len(crops)  # different offsets
    records = [json.loads(line) for line in (out.parent / "kws.val.jsonl").read_text().splitlines()]
    assert records[-1]["audio_filepath"].startswith("silence/")  # relative: the folder moves
    # the same seed cuts the same crops
    again = prepare(src, tmp_path / "again" / "kws.jsonl", keywords=["yes", "no"], seed=4)
    crops_again = [u for p in _parts(again).values() for u in p if u.label == "silence"]
    assert [sf.read(u.audio_filepath)[0].tobytes() for u in crops_again] == [
        a.tobytes() for a in audio.values()
    ]


def test_refuses_to_overwrite_manifests_noise_and_crops(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc")
    out = tmp_path / "out" / "kws.jsonl"
    prepare(src, out, keywords=["yes"], split=(0.6, 0.2, 0.2))
    before = sorted(p.name for p in (out.parent / "silence").iterdir())
    with pytest.raises(ManifestError, match=r"kws\.train\.jsonl: already exists.*--force"):
        prepare(src, out, keywords=["yes"], split=(0.6, 0.2, 0.2))
    for p in out.parent.glob("kws.*.jsonl"):
        p.unlink()
    with pytest.raises(ManifestError, match=r"noise\.jsonl: already exists.*--force"):
        prepare(src, out, keywords=["yes"], split=(0.6, 0.2, 0.2))
    (out.parent / "noise.jsonl").unlink()
    with pytest.raises(ManifestError, match=r"silence: already holds files.*--force"):
        prepare(src, out, keywords=["yes"], split=(0.6, 0.2, 0.2))
    assert sorted(p.name for p in (out.parent / "silence").iterdir()) == before
    # --force: replaced, and crops of a bigger earlier run do not linger
    (out.parent / "silence" / "train-00099.wav").write_bytes(b"old crop")
    (out.parent / "silence" / "mine.txt").write_text("not a crop: kept")
    result = prepare(src, out, keywords=["yes"], split=(0.6, 0.2, 0.2), overwrite=True)
    left = sorted(p.name for p in (out.parent / "silence").iterdir())
    assert left == sorted([*before, "mine.txt"]) and result.labels["silence"] == 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"keywords": ["yes", "maybe"]},
            r"sc/maybe: no such label folder; --keywords .*found: down, no, up, yes",
        ),
        ({"keywords": [" ", ""]}, "no keyword"),
    ],
)
def test_keyword_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    src = make_tree(tmp_path / "sc")
    with pytest.raises(ManifestError, match=match) as err:
        prepare(src, tmp_path / "kws.jsonl", **kwargs)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "kws.jsonl").exists()


def test_keywords_need_noise_and_a_speech_commands_tree(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc", lists=True, noise=False)
    with pytest.raises(ManifestError, match=r"_background_noise_: no such folder; --keywords"):
        prepare(src, tmp_path / "kws.jsonl", keywords=["yes"])
    with pytest.raises(ManifestError, match="this is a folder corpus; drop --keywords"):
        prepare(src / "yes", tmp_path / "kws.jsonl", fmt="folder", keywords=["yes"])
    result = prepare(src, tmp_path / "all.jsonl")  # without keywords, no noise is fine
    assert "noise" not in result.manifests and not (tmp_path / "noise.jsonl").exists()


def test_silence_beside_the_corpus_would_become_a_label(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc")
    with pytest.raises(ManifestError, match="a label folder of the corpus itself"):
        prepare(src, src / "kws.jsonl", keywords=["yes"])
    assert not (src / "silence").exists()


def test_empty_label_folders(tmp_path: Path) -> None:
    """Label folders without audio are reported; none with audio is an error."""
    src = make_tree(tmp_path / "sc", lists=True)
    (src / "empty").mkdir()
    result = prepare(src, tmp_path / "kws.jsonl")
    assert any(r.startswith(f"{src / 'empty'}: no audio files") for r in result.skipped)
    bare = tmp_path / "bare"
    (bare / "yes").mkdir(parents=True)
    (bare / "validation_list.txt").write_text("")
    with pytest.raises(ManifestError, match="no label folder holds audio"):
        prepare(bare, tmp_path / "bare.jsonl", fmt="speechcommands")


def test_parse_keywords() -> None:
    assert parse_keywords(" yes,no, yes ,up,") == ["yes", "no", "up"]
    with pytest.raises(ManifestError, match="no keyword"):
        parse_keywords(",")


def test_cli(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "sc")
    out = tmp_path / "out" / "kws.jsonl"
    argv = [
        "prepare",
        str(src),
        "--out",
        str(out),
        "--keywords",
        "yes,no",
        "--split",
        "0.6,0.2,0.2",
    ]
    rc, stdout, stderr = run_cli(argv)
    assert rc == 0, stderr
    assert f"noise\t{out.parent / 'noise.jsonl'}" in stdout.splitlines()
    assert "labels: no 10, silence 10, unknown 20, yes 10" in stdout
    assert "50 utterances" in stdout
    rc, _, stderr = run_cli(argv)
    assert rc == 2 and "already exists" in one_line_error(stderr)
    rc, _, stderr = run_cli([*argv[:-4], "--keywords", "yes,maybe", "--force"])
    assert rc == 2 and "maybe: no such label folder" in one_line_error(stderr)
