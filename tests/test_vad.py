"""asr.vad: where speech is, and transcription that reads no words into silence or noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.audio import load_audio
from asr.decoding import greedy_decode
from asr.text import BLANK
from asr.transcribe import Transcriber
from asr.vad import (
    SPEECH_LEAD_SECONDS,
    SPEECH_TAIL_SECONDS,
    VAD_DEFAULT,
    PauseDetector,
    blank_outside,
    dilate,
    frame_energies,
    speech_frames,
    speech_mask,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
RATE = 16000
FRAME = 0.03  # seconds per frame in the energy tests


def test_pause_detector_follows_the_noise_floor() -> None:
    d = PauseDetector(0.02)
    assert not any(d.is_speech(-60.0) for _ in range(50))  # room noise
    assert d.is_speech(-20.0)  # a vowel
    assert not d.is_speech(-58.0)
    fan = [d.is_speech(-40.0) for _ in range(500)]  # a fan comes on: speech for a while,
    assert fan[0] and 0.5 < sum(fan) * 0.02 < 3.0  # learned within seconds
    assert not d.is_speech(-35.0) and d.is_speech(-20.0)


def test_frame_energies_reads_dbfs() -> None:
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)  # RMS 0.0707: -23 dBFS
    e = frame_energies(tone, 480)
    assert e.shape == (33,)
    np.testing.assert_allclose(e, -23.0, atol=0.3)
    assert frame_energies(np.zeros(960), 480).tolist() == [-100.0, -100.0]
    short = np.concatenate([np.zeros(480), np.full(100, 0.1)])  # a last frame of 100 samples
    assert frame_energies(short, 480).tolist() == [-100.0]
    np.testing.assert_allclose(frame_energies(short, 480, partial=True), [-100.0, -20.0])


def test_speech_frames() -> None:
    """Noise, a word, noise: the word only. A recording that opens mid-word keeps that word,
    which a detector starting its floor at the first frame (as live) would lose; so does a
    trimmed clip that is speech from its first frame to its last, with quieter gaps."""
    energies = np.array([-60.0] * 20 + [-20.0] * 10 + [-60.0] * 20)
    assert np.flatnonzero(speech_frames(energies, FRAME)).tolist() == list(range(20, 30))
    opens_loud = energies[20:]
    assert np.flatnonzero(speech_frames(opens_loud, FRAME)).tolist() == list(range(10))
    live = PauseDetector(FRAME)
    assert not any(live.is_speech(e) for e in opens_loud)
    syllables = np.tile([-20.0, -20.0, -20.0, -40.0], 10)
    assert speech_frames(syllables, FRAME).tolist() == (syllables == -20.0).tolist()
    assert speech_frames(np.zeros(0), FRAME).shape == (0,)


def test_digital_silence_does_not_open_the_gate_over_noise() -> None:
    """Zeros (a device starting up, zero padding, a dropout) next to steady noise: learnt as
    the floor, they made the noise 'speech' for seconds; they are ignored instead."""
    noise = np.random.default_rng(0).normal(0, 10 ** (-45 / 20), 6 * RATE)  # -45 dBFS hiss
    frame = int(FRAME * RATE)
    samples_with_dropout = np.concatenate([noise[: 3 * RATE], np.zeros(frame), noise[3 * RATE :]])
    for samples in (
        np.concatenate([np.zeros(3 * frame), noise]),  # zeros first
        samples_with_dropout,
        np.concatenate([np.zeros(RATE), noise[:RATE]]),  # half the recording zeros
    ):
        energies = frame_energies(samples, frame)
        assert not speech_mask(energies, len(energies), FRAME).any()
    live = PauseDetector(FRAME)  # live, a dropout in noise
    assert not any(live.is_speech(float(e)) for e in frame_energies(samples_with_dropout, frame))
    live = PauseDetector(FRAME)  # leading zeros, then a word: heard at once
    assert not live.is_speech(-100.0) and live.floor == -70.0
    assert live.is_speech(-20.0)
    with pytest.raises(ValueError, match="3 keep flags for 2 frames"):
        blank_outside(np.zeros((2, 29)), np.ones(3, bool))
    ints = blank_outside(np.zeros((2, 29)), np.array([1, 0]))  # 0/1 flags read as booleans
    assert ints[0].tolist() == [0.0] * 29 and ints[1].argmax() == BLANK


def test_speech_mask_pads_and_fits_the_frames() -> None:
    energies = np.array([-60.0] * 40 + [-20.0] * 5 + [-60.0] * 40)
    lead, tail = round(SPEECH_LEAD_SECONDS / FRAME), round(SPEECH_TAIL_SECONDS / FRAME)
    mask = speech_mask(energies, 90, FRAME)
    assert mask.shape == (90,)  # padded past the energies' end
    assert np.flatnonzero(mask).tolist() == list(range(40 - lead, 45 + tail))
    assert speech_mask(energies, 42, FRAME).shape == (42,)  # or cut to the frames
    assert not speech_mask(np.full(100, -45.0), 100, FRAME).any()  # steady noise
    assert not speech_mask(np.full(100, -100.0), 100, FRAME).any()  # digital silence


def test_dilate() -> None:
    m = np.zeros(10, bool)
    m[5] = True
    assert np.flatnonzero(dilate(m, 2, 1)).tolist() == [3, 4, 5, 6]
    assert np.flatnonzero(dilate(m, 0, 0)).tolist() == [5]
    assert np.flatnonzero(dilate(m, 9, 9)).tolist() == list(range(10))
    m[0] = True
    assert np.flatnonzero(dilate(m, 1, 2)).tolist() == [0, 1, 2, 4, 5, 6, 7]
    assert not dilate(np.zeros(4, bool), 3, 3).any()


def test_blank_outside_silences_only_the_frames_left_out() -> None:
    """One-hot logits spelling "ab": with the "a" frame left out only "b" remains."""
    a, b = 1, 2
    logits = np.full((4, 5), -5.0, np.float32)
    for t, k in enumerate([a, BLANK, b, BLANK]):
        logits[t, k] = 5.0
    assert greedy_decode(logits) == [a, b]
    keep = np.array([False, True, True, True])
    assert greedy_decode(blank_outside(logits, keep)) == [b]
    assert blank_outside(logits, np.ones(4, bool)) is logits  # nothing to do, no copy


# ---------------------------------------------------------------- with the shipped model


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber.load(vad=True)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return load_audio(SAMPLES / "uqm_commander_001.flac", RATE)


def _noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(round(seconds * RATE)).astype(np.float32)
    return x * np.float32(10 ** (dbfs / 20))


def _wav(x: np.ndarray) -> Path:
    import tempfile

    import soundfile as sf

    path = Path(tempfile.mkdtemp()) / "x.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    return path


def test_noise_alone_gives_no_words(transcriber: Transcriber) -> None:
    """Steady noise holds no speech: every frame is gated, nothing is decoded (stage 13
    reads letters into such noise without the gate: docs/EXPERIMENTS.md)."""
    for dbfs in (-70.0, -50.0, -30.0):
        x = _noise(3.0, dbfs)
        logits = transcriber.signal_logits([x])[0]
        gated = transcriber.gate(x, logits)
        assert (gated.argmax(axis=1) == BLANK).all()
        assert transcriber.transcribe(x, decoder="greedy") == ""
        assert transcriber.transcribe(x, decoder="beam") == ""  # with both LMs


def test_tiny_and_trimmed_clips(transcriber: Transcriber) -> None:
    """The shipped samples are trimmed (speech from first frame to last): the gate takes
    nothing from them. Sub-frame and empty input decode to nothing without error."""
    ungated = Transcriber(transcriber.model, transcriber.config, vad=False)
    for path in sorted(SAMPLES.glob("*.*")):
        if path.suffix in (".wav", ".flac"):
            x = load_audio(path, RATE)
            assert transcriber.transcribe(x, decoder="greedy") == ungated.transcribe(
                x, decoder="greedy"
            ), path
    assert transcriber.transcribe(np.full(100, 0.1, np.float32), decoder="greedy") == ""
    assert transcriber.transcribe(np.zeros(0, np.float32), decoder="greedy") == ""


def test_energies_of_arrays_and_streams_agree(
    transcriber: Transcriber, clip, tmp_path: Path, monkeypatch
) -> None:
    """Read in blocks (here 0.5 s) from an array or streamed from disk, a last shorter frame
    included: the same energies as in one piece."""
    import soundfile as sf

    import asr.transcribe as transcribe_module
    from asr.audio import AudioStream

    monkeypatch.setattr(transcribe_module, "ENERGY_BLOCK_SECONDS", 0.5)
    x = clip[: len(clip) // 480 * 480 + 123]
    whole = frame_energies(x, 480, partial=True)
    np.testing.assert_allclose(transcriber.energies(x), whole)
    path = tmp_path / "clip.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    with AudioStream(path, RATE) as stream:
        np.testing.assert_allclose(transcriber.energies(stream), whole, atol=1e-3)


def test_the_gate_keeps_the_speech_of_a_padded_clip(transcriber: Transcriber, clip) -> None:
    """A clip with two seconds of quiet room noise on each side: the gate takes nothing from
    the words (the same text as decoding every frame) and they lie within the clip's span."""
    bed = _noise(len(clip) / RATE + 4.0, -60.0, seed=1)
    bed[2 * RATE : 2 * RATE + len(clip)] = clip
    ungated = Transcriber(transcriber.model, transcriber.config, vad=False)
    (padded,) = transcriber.transcribe_files([_wav(bed)], decoder="greedy")
    assert padded.text == ungated.transcribe(bed, decoder="greedy")
    assert len(padded.words) >= 10  # "we do have a small amount of starship fuel ..."
    keep = speech_mask(transcriber.energies(bed), len(bed) // 480, 0.03)
    spf, end = 0.03, 2.0 + len(clip) / RATE
    kept = np.flatnonzero(keep) * spf
    assert 2.0 - SPEECH_LEAD_SECONDS - spf <= kept[0] and kept[-1] <= end + SPEECH_TAIL_SECONDS
    assert padded.words[0].start >= 2.0 - SPEECH_LEAD_SECONDS
    assert padded.words[-1].end <= 2.0 + len(clip) / RATE + SPEECH_TAIL_SECONDS


def test_long_files_are_gated_too(transcriber: Transcriber, clip, tmp_path: Path) -> None:
    """A file longer than a window (streamed from disk): a clip, a minute of room noise, the
    clip again. No word in the minute, and greedy decoding keeps every word of the clips
    that decoding every frame gives."""
    import soundfile as sf

    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate([clip, _noise(60.0, -65.0, seed=2), clip]), RATE, "FLOAT")
    (gated,) = transcriber.transcribe_files([path], decoder="greedy")
    ungated = Transcriber(transcriber.model, transcriber.config, vad=False)
    (every,) = ungated.transcribe_files([path], decoder="greedy")
    gap = (len(clip) / RATE + SPEECH_TAIL_SECONDS, len(clip) / RATE + 60.0 - SPEECH_LEAD_SECONDS)
    assert not [w for w in gated.words if w.end > gap[0] and w.start < gap[1]]
    spoken = [w for w in every.words if w.end <= gap[0] or w.start >= gap[1]]
    assert gated.words == tuple(spoken)
    assert len(gated.words) >= 20


def test_no_vad_decodes_every_frame(transcriber: Transcriber) -> None:
    """The gate is the only difference: without it the same logits are decoded whole."""
    ungated = Transcriber(transcriber.model, transcriber.config, vad=False)
    x = _noise(3.0, -40.0, seed=3)
    logits = transcriber.signal_logits([x])[0]
    assert ungated.gate(x, logits) is logits
    assert not np.array_equal(transcriber.gate(x, logits), logits)
    assert ungated.transcribe(x, decoder="greedy") == transcriber.decode(logits, "greedy")[0]


@pytest.mark.parametrize("command", ["transcribe", "evaluate"])
def test_cli_vad_reaches_the_transcriber(
    command: str, transcriber: Transcriber, tmp_path: Path, monkeypatch
) -> None:
    import soundfile as sf

    from asr.cli import main

    path = tmp_path / "noise.wav"
    sf.write(path, _noise(2.0, -40.0, seed=4), RATE)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(f'{{"audio_filepath": "{path}", "text": "hello"}}\n')
    seen: list[bool] = []

    def load(*args, vad: bool = VAD_DEFAULT, **kwargs) -> Transcriber:
        seen.append(vad)
        return Transcriber(transcriber.model, transcriber.config, vad=vad)

    monkeypatch.setattr(Transcriber, "load", load)
    args = [str(path)] if command == "transcribe" else ["--manifest", str(manifest)]
    for extra in ([], ["--vad"], ["--no-vad"]):
        assert main([command, *args, "--decoder", "greedy", *extra]) == 0
    assert seen == [VAD_DEFAULT, True, False]
