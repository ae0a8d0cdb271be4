"""Sharded feature packs: `asr pack`, reads on demand, reuse of unchanged shards, training."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from e2e_support import Corpus, history_losses, one_line_error, train_argv

from asr.cli import main
from asr.config import ModelConfig
from asr.data import CTCBatches, FeatureSet, collate, extract_features, prepare_examples
from asr.errors import ManifestError
from asr.features import FeatureConfig, Normalizer
from asr.manifest import read_manifest
from asr.shards import MappedFeatures, ShardedFeatures, frame_lengths
from asr.text import Tokenizer


def _pack(corpus: Corpus, out: Path, *extra: str) -> str:
    argv = ["pack", str(corpus.train), "--out", str(out), "--jobs", "1", "--shard-utterances", "10"]
    assert main([*argv, *extra]) == 0
    return out.as_posix()


def _shards(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("shard-*.npy")}


def test_pack_reads_back_what_extraction_gives_in_manifest_order(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "train.pack"
    _pack(corpus, pack)
    assert "24 utterances" in capsys.readouterr().out and len(_shards(pack)) == 3
    config = FeatureConfig()
    lazy = FeatureSet.open_pack(pack, config)
    eager = extract_features(read_manifest(corpus.train), config, jobs=1)
    assert isinstance(lazy.features, ShardedFeatures)
    assert lazy.texts == eager.texts and lazy.paths == eager.paths
    assert [lazy.where(i) for i in (0, 23)] == [eager.where(0), eager.where(23)]
    assert lazy.hours == pytest.approx(eager.hours)
    np.testing.assert_array_equal(frame_lengths(lazy.features), frame_lengths(eager.features))
    for a, b in zip(lazy.features, eager.features, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=3e-2)  # float16 storage


def test_packing_again_extracts_only_changed_audio(corpus: Corpus, tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    shutil.copytree(corpus.folder, audio)  # manifests with their audio (relative paths)
    manifest = audio / corpus.train.relative_to(corpus.folder)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    local = Corpus(audio, manifest, corpus.val, corpus.config)
    pack = tmp_path / "p"
    _pack(local, pack)
    before = _shards(pack)
    written = {name: (pack / name).stat().st_mtime_ns for name in before}
    _pack(local, pack)
    assert _shards(pack) == before  # nothing changed: every shard reused, not rewritten
    assert {name: (pack / name).stat().st_mtime_ns for name in before} == written
    os.utime(
        manifest.parent / rows[12]["audio_filepath"], ns=(1, 1)
    )  # the second shard's audio "changed"
    _pack(local, pack)
    after = _shards(pack)
    assert len(after) == 3 and len(after & before) == 2  # one re-extracted, stale one deleted
    assert all((pack / name).stat().st_mtime_ns == written[name] for name in after & before)
    # other feature settings: every shard is new
    settings = tmp_path / "fbank.json"
    settings.write_text(json.dumps({"features": {"kind": "fbank"}}))
    _pack(local, pack, "--config", str(settings))
    assert not _shards(pack) & after


def test_pack_refuses_other_settings_a_missing_shard_and_a_foreign_folder(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "p"
    _pack(corpus, pack)
    with pytest.raises(ManifestError, match="pack it again"):
        FeatureSet.open_pack(pack, FeatureConfig(kind="fbank"))
    # CMN and deltas are applied on read: a pack serves models with or without them
    assert FeatureSet.open_pack(pack, FeatureConfig(cmn=True)).features[0].shape[1] == 39
    next(pack.glob("shard-*.npy")).unlink()
    with pytest.raises(ManifestError, match="missing; pack it again"):
        FeatureSet.open_pack(pack, FeatureConfig())
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["pack", str(corpus.train), "--out", str(foreign), "--jobs", "1"]) == 2
    assert "not a pack" in one_line_error(capsys.readouterr().err)
    assert (foreign / "mine.txt").read_text() == "keep me"


def test_prepared_pack_stays_lazy_and_batches_equal_eager_ones(
    corpus: Corpus, tmp_path: Path
) -> None:
    pack = tmp_path / "p"
    _pack(corpus, pack)
    config, model = FeatureConfig(), ModelConfig(conv_stride=2)
    lazy = FeatureSet.open_pack(pack, config)
    eager = FeatureSet(list(lazy.features), lazy.texts, lazy.paths, config, lazy.durations)
    norm = Normalizer.fit(lazy.features)
    fitted = Normalizer.fit(eager.features)
    np.testing.assert_allclose(norm.mean, fitted.mean, rtol=1e-6)
    tokenizer = Tokenizer()
    lazy_ex = prepare_examples(lazy, norm, tokenizer, model)
    eager_ex = prepare_examples(eager, norm, tokenizer, model)
    assert isinstance(lazy_ex.features, MappedFeatures)
    idx = CTCBatches(lazy_ex, model, batch_size=8, seed=3).batch_indices(0)
    assert (
        idx.tolist() == CTCBatches(eager_ex, model, batch_size=8, seed=3).batch_indices(0).tolist()
    )
    a, b = collate(lazy_ex, idx, model), collate(eager_ex, idx, model)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    # a pack joined with a manifest set keeps both, in order
    joined = FeatureSet.join([lazy, eager])
    assert len(joined.features) == 48 and joined.texts == lazy.texts + eager.texts
    np.testing.assert_array_equal(joined.features[30], eager.features[6])


def test_train_from_a_pack(corpus: Corpus, tmp_path: Path) -> None:
    pack = tmp_path / "p"
    _pack(corpus, pack)
    argv = train_argv(corpus, tmp_path / "run", 3)
    argv[argv.index(str(corpus.train))] = str(pack)
    assert main(argv) == 0
    losses = history_losses(tmp_path / "run")
    assert losses[-1] < losses[0]


def test_a_pack_from_before_a_new_option_still_loads(corpus: Corpus, tmp_path: Path) -> None:
    """pack.json's settings are completed with today's defaults: adding a feature option
    never invalidates the packs made before it."""
    pack = tmp_path / "p"
    _pack(corpus, pack)
    meta = json.loads((pack / "pack.json").read_text())
    del meta["features"]["zcr"]  # as written before the zero-crossing-rate option existed
    (pack / "pack.json").write_text(json.dumps(meta))
    assert len(FeatureSet.open_pack(pack, FeatureConfig()).features) == 24
    with pytest.raises(ManifestError, match="pack it again"):
        FeatureSet.open_pack(pack, FeatureConfig(zcr=True))
    with pytest.raises(ManifestError, match="pack it again"):
        FeatureSet.open_pack(pack, FeatureConfig(pitch=True))


def test_nan_features_and_old_npz_packs_are_refused(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "p"
    _pack(corpus, pack)
    shard = pack / json.loads((pack / "pack.json").read_text())["shards"][0]
    values = np.load(shard)
    values[-1, 2] = np.nan  # in the shard's last utterance (10 a shard)
    np.save(shard, values)
    lazy = FeatureSet.open_pack(pack, FeatureConfig())
    assert np.isfinite(lazy.features[0]).all()
    with pytest.raises(ManifestError, match="utterance 9 holds NaN or infinite features"):
        lazy.features[9]
    old = tmp_path / "train.npz"
    old.write_bytes(b"PK")
    argv = train_argv(corpus, tmp_path / "run", 1)
    argv[argv.index(str(corpus.train))] = str(old)
    capsys.readouterr()
    assert main(argv) == 2
    assert "asr pack MANIFEST --out DIR" in one_line_error(capsys.readouterr().err)


def test_bad_audio_names_its_line_or_is_skipped_and_a_damaged_shard_is_refused(
    corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = tmp_path / "audio"
    shutil.copytree(corpus.folder, audio)
    manifest = audio / corpus.train.relative_to(corpus.folder)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    (manifest.parent / rows[4]["audio_filepath"]).write_bytes(b"RIFF\x00\x00not audio")
    local = Corpus(audio, manifest, corpus.val, corpus.config)
    argv = ["pack", str(manifest), "--out", str(tmp_path / "p"), "--jobs", "1"]
    capsys.readouterr()
    assert main(argv) == 2
    error = one_line_error(capsys.readouterr().err)
    assert f"{manifest}:5: " in error and "--skip-invalid" in error
    pack = Path(_pack(local, tmp_path / "p", "--skip-invalid"))
    data = FeatureSet.open_pack(pack, FeatureConfig())
    assert len(data.paths) == len(rows) - 1  # the bad line left out, the rest in order
    assert data.paths[3:5] == [str(manifest.parent / rows[k]["audio_filepath"]) for k in (3, 5)]
    assert len(json.loads((pack / "pack.json").read_text())["skipped"]) == 1
    # a shard cut short (a full disk, a copy stopped midway) is named, not read as zeros
    shard = max(pack.glob("shard-*.npy"), key=lambda p: p.stat().st_size)
    shard.write_bytes(shard.read_bytes()[:-64])
    damaged = FeatureSet.open_pack(pack, FeatureConfig()).features
    with pytest.raises(ManifestError, match="truncated shard; pack again"):
        list(damaged)
    shard.write_bytes(b"not a numpy file")
    with pytest.raises(ManifestError, match="not a readable shard .*; pack again"):
        list(FeatureSet.open_pack(pack, FeatureConfig()).features)
