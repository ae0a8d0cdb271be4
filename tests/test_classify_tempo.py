"""A random tempo per training clip (`asr classify train --stretch F`)."""

from __future__ import annotations

import numpy as np
import pytest
from classify_support import keyword_corpus_or_skip
from e2e_support import history_losses, run_cli

from asr.classify_train import ClipBatches, Examples
from asr.cli import main
from asr.config import ClassifierModelConfig
from asr.data import resample_frames


def test_resample_frames_keeps_a_line_straight_and_its_ends() -> None:
    ramp = np.arange(50, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], np.float32)
    for m in (40, 50, 61):
        out = resample_frames(ramp, m)
        assert out.shape == (m, 2) and out.dtype == np.float32
        np.testing.assert_allclose(out[:, 0], np.linspace(0, 49, m), atol=1e-4)
        np.testing.assert_allclose(out[:, 1], -2 * np.linspace(0, 49, m), atol=1e-4)


def _examples(lengths: list[int], dim: int = 3) -> Examples:
    """Clips whose every frame holds its own index + 1 (so no frame is padding-like zero),
    labelled by clip, with per-frame targets 1 on the middle third."""
    feats = [np.repeat(np.arange(1, n + 1, dtype=np.float32)[:, None], dim, 1) for n in lengths]
    targets = []
    for n in lengths:
        t = np.zeros(n, np.int32)
        t[n // 3 : 2 * n // 3] = 1
        targets.append(t)
    labels = np.arange(len(lengths), dtype=np.int32) % 2
    return Examples(feats, labels, targets, [f"{i}.wav" for i in range(len(lengths))])


def test_fixed_length_clips_change_tempo_but_not_shape_or_label() -> None:
    ex = _examples([99] * 8)
    ex.targets.clear()
    model = ClassifierModelConfig(arch="cnn", frames=99)
    plain = ClipBatches(ex, model, 0, batch_size=8, seed=1, shift=False)
    fast = ClipBatches(ex, model, 0, batch_size=8, seed=1, shift=False, stretch=0.3)
    (x0, y0), (x1, y1) = plain[0], fast[0]
    assert x0["features"].shape == x1["features"].shape == (8, 99, 3)
    np.testing.assert_array_equal(y0, y1)
    # unstretched rows end on their last frame (99); stretched ones now run 1..99 over
    # another number of frames: padded when shorter, cropped when longer
    assert (x0["features"][:, -1, 0] == 99).all()
    steps = np.diff(x1["features"][:, :, 0], axis=1)
    slopes = {round(float(np.median(s[s > 0])), 3) for s in steps}
    assert len(slopes) > 1 and all(0.7 < 1 / s < 1.3 for s in slopes)


def test_variable_length_clips_and_their_frame_targets_stretch_together() -> None:
    ex = _examples([60, 64, 70, 75])
    model = ClassifierModelConfig(arch="crnn", frames=0, per_frame=True)
    batches = ClipBatches(ex, model, 0, batch_size=4, seed=3, stretch=0.4)
    seen = set()
    for epoch in range(3):
        inputs, y, weights = batches[0]
        width = inputs["features"].shape[1]
        for row, n in enumerate(inputs["input_length"]):
            assert 1 <= n <= width and weights[row].sum() == n
            feats = inputs["features"][row, :n, 0]
            assert feats[0] == 1 and not inputs["features"][row, n:].any()
            # the targets' middle third moved with the frames: 1 where the value is there
            original = int(round(feats[-1]))
            middle = (feats >= original // 3 + 1) & (feats <= 2 * original // 3)
            assert (y[row, :n][middle[:n]] == 1).mean() > 0.9
            seen.add(int(n))
        batches.on_epoch_end()
        del epoch
    assert len(seen) > 4  # lengths vary clip to clip and epoch to epoch


def test_cli_trains_with_a_tempo_change_and_refuses_a_wild_one(
    tmp_path_factory, tmp_path, capsys
) -> None:
    kw = keyword_corpus_or_skip(tmp_path_factory)
    base = ["classify", "train", "--train", str(kw["train"]), "--val", str(kw["val"])]
    with pytest.raises(SystemExit):
        main([*base, "--out", str(tmp_path / "a"), "--stretch", "0.6"])
    assert "expected a fraction from 0 to below 0.5, got '0.6'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    out = tmp_path / "b"
    rc, stdout, stderr = run_cli(
        [*base, "--out", str(out), "--stretch", "0.15", "--epochs", "6", "--batch-size", "8",
         "--learning-rate", "3e-3", "--jobs", "1"]
    )  # fmt: skip
    assert rc == 0, stderr[-2000:]
    losses = history_losses(out)
    assert len(losses) == 6 and losses[-1] < losses[0], losses
    assert "best val accuracy" in stdout
