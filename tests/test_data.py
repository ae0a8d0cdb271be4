"""Batches carry true lengths (never padded widths); unfit utterances are skipped and counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.buckets import TIME_BUCKET_GROWTH
from asr.config import ModelConfig
from asr.data import (
    CTCBatches,
    FeatureSet,
    NoiseRows,
    SpecAugment,
    TimeStretch,
    VocalTractWarp,
    bucket_width,
    label_width,
    prepare_examples,
)
from asr.errors import AsrError
from asr.features import FeatureConfig, Normalizer, frequency_warp
from asr.text import Tokenizer


def _feature_set(frames: list[int], texts: list[str]) -> FeatureSet:
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(n, 39)).astype(np.float32) for n in frames]
    paths = [f"u{i}.wav" for i in range(len(frames))]
    return FeatureSet(feats, texts, paths, FeatureConfig(), [n / 100 for n in frames])


def test_batches_carry_true_lengths() -> None:
    model = ModelConfig(conv_stride=2)
    data = _feature_set([101, 40, 250, 77, 60], ["hello", "hi", "a longer one", "abc", "x"])
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)
    batches = CTCBatches(ex, model, batch_size=2, shuffle=False)
    seen = 0
    for b in range(len(batches)):
        batch = batches[b]
        idx = batches.batch_indices(b)
        assert batch["features"].shape[1] == bucket_width(max(ex.features[i].shape[0] for i in idx))
        for row, i in enumerate(idx):
            n = ex.features[i].shape[0]
            assert batch["input_length"][row] == int(np.ceil(n / 2))
            assert batch["label_length"][row] == len(ex.texts[i])
            assert batch["labels"][row, : len(ex.texts[i])].tolist() == ex.labels[i].tolist()
            assert not batch["labels"][row, len(ex.texts[i]) :].any()
            assert not batch["features"][row, n:].any()  # padding is zero (the mean)
            seen += 1
        assert batch["input_length"].dtype == np.int32
        assert len(set(batch["input_length"])) > 1 or len(idx) == 1
    assert seen == 5


def test_unfit_and_empty_utterances_are_skipped_and_counted() -> None:
    model = ModelConfig(conv_stride=3)
    # 30 frames -> 10 output frames; "hello world" needs 12 (one repeat).
    data = _feature_set([30, 30, 300], ["hello world", "!!!", "hello world"])
    data.texts[1] = ""
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)
    assert ex.paths == ["u2.wav"]
    assert len(ex.skipped) == 2
    assert "CTC needs 12 output frames, the model gives 10" in ex.skipped[0]
    assert "empty transcript" in ex.skipped[1]


def test_drop_remainder_and_reshuffle() -> None:
    model = ModelConfig()
    data = _feature_set(list(range(50, 150, 10)), ["abc"] * 10)
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)
    batches = CTCBatches(ex, model, batch_size=4, shuffle=True, drop_remainder=True, seed=1)
    assert len(batches) == 2
    assert all(len(batches.batch_indices(b)) == 4 for b in range(2))
    first = [tuple(batches.batch_indices(b)) for b in range(2)]
    orders = set()
    for epoch in range(1, 6):
        batches.set_epoch(epoch)
        orders.add(tuple(tuple(batches.batch_indices(b)) for b in range(2)))
    assert len(orders | {tuple(first)}) > 1


def _epoch_batches(batches: CTCBatches) -> dict[tuple[int, ...], np.ndarray]:
    """Each batch's utterances -> its (augmented) features, whatever its position."""
    return {
        tuple(batches.batch_indices(b).tolist()): batches[b]["features"]
        for b in range(len(batches))
    }


def test_an_epoch_is_rebuilt_alike_from_its_number_and_resumes_where_it_stopped() -> None:
    """A run resumed in epoch 3 must see epoch 3's batches, augmented alike, as the run
    that got there without stopping; skipping the batches already trained on leaves
    exactly the rest (and the first two still differ in width for TensorFlow)."""
    model = ModelConfig(conv_stride=2)
    rng = np.random.default_rng(4)
    frames = rng.integers(40, 400, size=48).tolist()
    data = _feature_set(frames, ["a" * int(rng.integers(3, f // 5)) for f in frames])
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)

    def make(epoch: int) -> CTCBatches:
        augment = (SpecAugment(13),)
        return CTCBatches(ex, model, batch_size=4, seed=7, epoch=epoch, augment=augment)

    running = make(0)
    running.set_epoch(2)
    third = _epoch_batches(running)
    rebuilt = make(2)
    assert [tuple(rebuilt.batch_indices(b)) for b in range(len(rebuilt))] == list(third)
    assert third.keys() != _epoch_batches(make(1)).keys()  # epochs differ

    done = [tuple(rebuilt.batch_indices(b).tolist()) for b in range(5)]
    assert rebuilt.resumable_after(5)
    rebuilt.skip(rebuilt.trained(5))
    rest = _epoch_batches(rebuilt)
    assert len(rest) == len(third) - 5
    assert set(rest) == set(third) - set(done)
    for key, features in rest.items():
        np.testing.assert_array_equal(features, third[key])
    assert rebuilt[0]["features"].shape[1] != rebuilt[1]["features"].shape[1]
    # a second cut in the reordered rest: what was trained is named, not counted
    done += [tuple(rebuilt.batch_indices(b).tolist()) for b in range(3)]
    again = make(2)
    again.skip(rebuilt.trained(3))
    assert set(_epoch_batches(again)) == set(third) - set(done)
    again.set_epoch(2)  # Keras' epoch-begin: the skip holds for the epoch it was made in
    assert len(again) == len(third) - 8
    again.set_epoch(3)
    assert len(again) == len(third) and _epoch_batches(again).keys() != third.keys()
    with pytest.raises(AsrError, match="resume with the same manifests, --batch-size and --seed"):
        make(1).skip(rebuilt.trained(3))  # another epoch's batches
    assert not make(2).resumable_after(len(third))


def test_audio_seconds_counts_only_batched_utterances() -> None:
    """Training throughput divides this by the epoch's time: a dropped remainder (here the
    two longest utterances) was not trained on and must not count."""
    model = ModelConfig()
    frames = list(range(50, 150, 10))
    data = _feature_set(frames, ["abc"] * 10)
    data.durations = [n / 100 + 0.5 for n in frames]  # manifest durations, not frame counts
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)
    dropped = CTCBatches(ex, model, batch_size=4, shuffle=False, drop_remainder=True)
    kept = np.concatenate([dropped.batch_indices(b) for b in range(len(dropped))])
    assert sorted(kept.tolist()) == list(range(8))
    assert dropped.audio_seconds() == pytest.approx(sum(data.durations[:8]))
    whole = CTCBatches(ex, model, batch_size=4, shuffle=False)
    assert whole.audio_seconds() == pytest.approx(sum(data.durations))


@pytest.mark.parametrize("n", [1, 31, 32, 33, 100, 1000, 5000])
def test_bucket_width_covers_and_stays_close(n: int) -> None:
    w = bucket_width(n)
    assert w >= n and w % 8 == 0
    assert w <= max(40, TIME_BUCKET_GROWTH * n + 8)


def test_bucket_widths_never_shrink_and_stay_few() -> None:
    """Each new width is a compile: 1-1600 frames (up to 16 s) must give a few dozen."""
    widths = [bucket_width(n) for n in range(1, 1601)]
    assert all(a <= b for a, b in zip(widths, widths[1:], strict=False))
    assert len(set(widths)) <= 40


def test_joined_sets_keep_order_and_name_every_utterance() -> None:
    """A pack has no manifest lines: its audio paths name its utterances in a joined set."""
    manifest = _feature_set([20, 30], ["one", "two"])
    manifest.sources = ["a.jsonl:1", "a.jsonl:2"]
    manifest.skipped = ["a.jsonl:3: not found"]
    pack = _feature_set([40], ["three"])
    joined = FeatureSet.join([manifest, pack])
    assert joined.texts == ["one", "two", "three"]
    assert [f.shape[0] for f in joined.features] == [20, 30, 40]
    assert [joined.where(i) for i in range(3)] == ["a.jsonl:1", "a.jsonl:2", "u0.wav"]
    assert joined.skipped == ["a.jsonl:3: not found"]
    assert joined.hours == pytest.approx(0.9 / 3600)
    assert FeatureSet.join([pack]) is pack


@pytest.mark.parametrize("seed", range(10))
def test_first_two_batches_differ_in_both_widths(seed: int) -> None:
    """Keras' TensorFlow adapter fixes any dimension the first two batches share."""
    model = ModelConfig(conv_filters=8, conv_kernel=3, conv_stride=2)
    rng = np.random.default_rng(seed)
    frames = rng.integers(40, 600, size=40).tolist()
    texts = ["a" * int(rng.integers(3, f // 4)) for f in frames]
    data = _feature_set(frames, texts)
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)
    batches = CTCBatches(ex, model, batch_size=4, seed=seed, drop_remainder=True)
    for epoch in range(2):
        batches.set_epoch(epoch)
        first, second = batches[0], batches[1]
        assert first["features"].shape[1] != second["features"].shape[1]
        assert first["labels"].shape[1] != second["labels"].shape[1]


def test_label_width_follows_the_time_width() -> None:
    """One label width per time bucket keeps compiled shapes to the number of time buckets."""
    model = ModelConfig(conv_stride=2)
    assert label_width(400, 10, model) == 104  # 200 output frames: half, rounded up to 8
    assert label_width(400, 104, model) == 104
    assert label_width(400, 150, model) == 200  # a dense batch gets every output frame
    rng = np.random.default_rng(0)
    frames = rng.integers(100, 1500, size=400).tolist()
    data = _feature_set(frames, ["ab " * int(f // 30) for f in frames])
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)
    batches = CTCBatches(ex, model, batch_size=8, seed=0)
    shapes = {(batches[i]["features"].shape[1], batches[i]["labels"].shape[1]) for i in range(50)}
    assert len(shapes) == len({t for t, _ in shapes})


def test_warp_equals_warping_the_raw_features_then_normalizing() -> None:
    """The normalized-space transform is exactly raw @ W (per block), renormalized; padding
    beyond each row's frames stays at the mean (0)."""
    cfg = FeatureConfig()
    rng = np.random.default_rng(1)
    raw = [rng.normal(3, 2, size=(n, cfg.dim)).astype(np.float32) for n in (50, 30)]
    norm = Normalizer.fit(raw)
    warp = VocalTractWarp.build(cfg, norm, low=1.2, high=1.2, steps=1)
    x = np.zeros((2, 64, cfg.dim), np.float32)
    for row, f in enumerate(raw):
        x[row, : len(f)] = norm(f)
    warp(x, np.array([50, 30]), rng)
    full = np.kron(np.eye(3), frequency_warp(cfg, 1.2))
    for row, f in enumerate(raw):
        np.testing.assert_allclose(x[row, : len(f)], norm(f @ full), atol=1e-4)
        assert not x[row, len(f) :].any()
    assert not np.allclose(x[0, :50], norm(raw[0]), atol=0.1)  # 1.2 really moved something


def test_batches_apply_their_augmentations_and_keep_labels() -> None:
    model = ModelConfig(conv_stride=2)
    data = _feature_set([120, 90, 100, 80], ["hello", "hi", "abc", "x"])
    norm = Normalizer.fit(data.features)
    ex = prepare_examples(data, norm, Tokenizer(), model)
    warp = VocalTractWarp.build(data.config, norm)
    plain = CTCBatches(ex, model, batch_size=2, shuffle=False)
    augmented = CTCBatches(ex, model, batch_size=2, shuffle=False, augment=(warp, SpecAugment(13)))
    for b in range(len(plain)):
        x, y = plain[b]["features"], augmented[b]["features"]
        assert x.shape == y.shape and not np.array_equal(x, y)
        assert np.isfinite(y).all()
        np.testing.assert_array_equal(plain[b]["labels"], augmented[b]["labels"])


def test_time_stretch_resamples_each_row_within_its_bounds() -> None:
    model = ModelConfig(conv_stride=2)
    ramp = np.arange(100, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    x = np.zeros((3, 128, 3), np.float32)
    x[:, :100] = ramp
    need = np.array([0, 0, 50])  # row 2's label needs all 50 output frames of its 100
    stretch = TimeStretch(model, 0.2)
    frames = stretch({"features": x}, np.array([100, 100, 100]), need, np.random.default_rng(3))
    for row in range(2):
        m = int(frames[row])
        assert 80 <= m <= 120 and m != 100
        # a straight line stays a straight line from the first frame to the last
        np.testing.assert_allclose(x[row, :m, 0], np.linspace(0, 99, m), atol=1e-4)
        assert not x[row, m:].any()
    # shrinking row 2 would leave its label too few output frames: left as it was, or longer
    assert frames[2] >= 100 and model.output_length(int(frames[2])) >= 50
    # never past the padded width
    wide = np.zeros((1, 104, 3), np.float32)
    wide[0, :100] = ramp
    for seed in range(20):
        got = TimeStretch(model, 0.4)(
            {"features": wide.copy()}, np.array([100]), np.array([0]), np.random.default_rng(seed)
        )
        assert got[0] <= 104


def test_stretched_batches_report_their_new_lengths_and_keep_labels() -> None:
    model = ModelConfig(conv_stride=2)
    data = _feature_set([120, 90, 100, 80], ["hello", "hi", "abc", "x"])
    ex = prepare_examples(data, Normalizer.fit(data.features), Tokenizer(), model)
    plain = CTCBatches(ex, model, batch_size=2, shuffle=False)
    stretched = CTCBatches(ex, model, batch_size=2, shuffle=False, edits=[TimeStretch(model, 0.1)])
    changed = 0
    for b in range(len(plain)):
        x, y = plain[b], stretched[b]
        assert x["features"].shape == y["features"].shape
        np.testing.assert_array_equal(x["labels"], y["labels"])
        for row in range(len(y["input_length"])):
            true = int(np.flatnonzero(np.abs(y["features"][row]).sum(axis=1))[-1]) + 1
            assert y["input_length"][row] == model.output_length(true)
            changed += int(y["input_length"][row] != x["input_length"][row])
        # the same batch twice is stretched the same way (Keras peeks at batches)
        np.testing.assert_array_equal(y["features"], stretched[b]["features"])
    assert changed


def test_noise_rows_are_noise_with_empty_labels_and_their_own_length() -> None:
    model = ModelConfig(conv_stride=2)
    data = _feature_set([120, 90, 100, 80, 110, 95], ["hello", "hi", "abc", "x", "yes", "no"])
    norm = Normalizer.fit(data.features)
    ex = prepare_examples(data, norm, Tokenizer(), model)
    noise = NoiseRows.build(data.config, norm, share=0.5, clips=6, seconds=0.5)
    assert len(noise.bank) == 6 and all(b.shape == (49, 39) for b in noise.bank)  # 0.5 s
    # the bank spans faint to loud: its log-energy coefficient (c0) spreads widely
    c0 = [float(b[:, 0].mean()) for b in noise.bank]
    assert max(c0) - min(c0) > 1.0
    plain = CTCBatches(ex, model, batch_size=3, shuffle=False)
    noisy = CTCBatches(ex, model, batch_size=3, shuffle=False, edits=[noise])
    replaced = kept = 0
    for b in range(len(plain)):
        x, y = plain[b], noisy[b]
        np.testing.assert_array_equal(x["input_length"], y["input_length"])  # same lengths
        for row in range(3):
            if y["label_length"][row] == 0:
                replaced += 1
                assert not y["labels"][row].any()
                assert not np.allclose(x["features"][row], y["features"][row])
                n = ex.features[noisy.batch_indices(b)[row]].shape[0]
                assert not y["features"][row, n:].any()  # padding stays zero
            else:
                kept += 1
                np.testing.assert_array_equal(x["features"][row], y["features"][row])
                np.testing.assert_array_equal(x["labels"][row], y["labels"][row])
    assert replaced and kept


def test_training_features_are_the_serving_features() -> None:
    """One featurizer: what asr train extracts is what Transcriber.features normalizes."""
    from asr.audio import load_audio
    from asr.data import extract_features
    from asr.features import compute_features
    from asr.manifest import read_manifest

    utts = read_manifest(Path(__file__).resolve().parents[1] / "data/samples/manifest.jsonl")
    config = FeatureConfig()
    data = extract_features(utts, config, jobs=1)
    for u, feats in zip(utts, data.features, strict=True):
        np.testing.assert_array_equal(feats, compute_features(load_audio(u.audio_filepath), config))
