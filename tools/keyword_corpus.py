"""Labeled word corpora for `asr classify`, spoken by the synthesizers with held-out voices.

Presets:
  keywords  the Speech Commands 12-class task: yes no up down left right on off stop go,
            ``unknown`` (twenty-five other words, the dataset's auxiliary ones) and
            ``silence`` (noise only)
  digits    the ten digits zero..nine

Every recorded speaker belongs to one split, whichever engine voices it: the CMU ARCTIC
speakers slt (flite and RHVoice) and awb (flite awb, RHVoice alan), and the MBROLA voice
us2, are test; rms and MBROLA us1 are val; flite kal, RHVoice bdl/clb/evgeniy-eng/lyubov
and MBROLA us3/en1 train (two of the four female recorded speakers train, one is in val
and one in test: with clb the only female one in training, held-out female voices fell
to 61-82 % on an earlier split). espeak-ng's own formant voices are split
70/15/15 by a hash of the variant name (the same variant is held out in every English
accent). So val and test are voices never trained on. Each take is placed at a
random offset in a 1 s clip (longer words keep their length), a third through an 8 or
11.025 kHz channel, with noise at a random SNR (white, pink, brown or mains hum, 5-40 dB, a
fifth clean), as Speech Commands clips are recorded: one word in a second of room sound.

    python tools/keyword_corpus.py --preset keywords --out corpora/keywords
    asr classify train --train corpora/keywords/train.jsonl --val corpora/keywords/val.jsonl ...

Writes ``OUT/<split>/<label>/NNNNNN.wav`` and ``OUT/{train,val,test}.jsonl`` (label
manifests with ``speaker`` = the voice). Deterministic for a ``--seed``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr.audio import resample  # noqa: E402
from asr.fileio import atomic_write_text  # noqa: E402
from asr.synth import (  # noqa: E402
    Voice,
    list_voices,
    parse_voices,
    plan_takes,
    render_takes,
    voice_speaker,
)  # noqa: E402

RATE = 16000
CLIP_SECONDS = 1.0
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = (
    "bed bird cat dog eight five four happy house marvin nine one seven sheila six three "
    "tree two wow zero learn follow forward backward visual"
).split()
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPEAKER_SPLIT = {  # recorded speakers (asr.synth.voice_speaker) behind flite, RHVoice, MBROLA
    **dict.fromkeys(
        (
            "cmu-diphone:kal",
            "arctic:bdl",
            "arctic:clb",
            "rhvoice:evgeniy-eng",
            "rhvoice:lyubov",
            "mbrola:us3",
            "mbrola:en1",
        ),
        "train",
    ),
    "piper:joe": "train",  # Piper's one voice: only when named (--voices piper:joe)
    **dict.fromkeys(("arctic:rms", "mbrola:us1"), "val"),
    **dict.fromkeys(("arctic:slt", "arctic:awb", "mbrola:us2"), "test"),
}
NAMED_ONLY = {"piper:joe"}  # speakers a corpus holds only when --voices names them
INSTALL = "rhvoice rhvoice-english mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1"
SPLITS = ("train", "val", "test")
# takes per (word, split): keywords/digits, each unknown word, silence clips
PRESETS = {
    "keywords": {
        "words": KEYWORDS,
        "unknown": UNKNOWN_WORDS,
        "takes": {"train": 300, "val": 30, "test": 50},
        "unknown_takes": {"train": 16, "val": 2, "test": 3},
        "silence": {"train": 300, "val": 40, "test": 60},
    },
    "digits": {
        "words": DIGITS,
        "unknown": (),
        "takes": {"train": 200, "val": 30, "test": 50},
        "unknown_takes": {"train": 0, "val": 0, "test": 0},
        "silence": {"train": 0, "val": 0, "test": 0},
    },
}


def recipe_voices() -> list[Voice]:
    """Every installed voice, refused if a speaker of :data:`SPEAKER_SPLIT` has none: a
    missing engine (RHVoice, an MBROLA voice) would otherwise quietly give other splits."""
    pool = list_voices()
    have = {voice_speaker(v) for v in pool}
    missing = sorted(s for s in SPEAKER_SPLIT if s not in have and s not in NAMED_ONLY)
    if missing:
        raise SystemExit(
            f"{', '.join(missing)}: no installed voice speaks as them, and the splits need "
            f"every one; install them (apt-get install {INSTALL}) or name the voices to use "
            "with --voices"
        )
    return pool


def voice_split(voice: Voice) -> str | None:
    """Which split a voice belongs to: its recorded speaker's (one speaker may sound through
    several engines: flite's awb and RHVoice's alan are both Alan W Black), or for
    espeak-ng's formant voices a stable hash of the variant name."""
    speaker = voice_speaker(voice)
    if speaker != str(voice) or voice.engine != "espeak-ng":
        return SPEAKER_SPLIT.get(speaker)  # None: a speaker this recipe does not use
    variant = voice.name.partition("+")[2] or "(none)"
    bucket = int(hashlib.sha1(variant.encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "val" if bucket < 85 else "test"


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise of one colour (or mains hum with harmonics)."""
    if kind == "hum":
        t = np.arange(n) / RATE
        base = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)) / k for k in (1, 2, 3, 5))
    else:
        white = rng.standard_normal(n)
        if kind == "white":
            x = white
        else:  # pink: 1/f power, brown: 1/f^2, shaped in the frequency domain
            spectrum = np.fft.rfft(white)
            f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
            spectrum /= np.sqrt(f) if kind == "pink" else f
            x = np.fft.irfft(spectrum, n)
    x = np.asarray(x, dtype=np.float64)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def narrowband(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A third of takes through an 8 kHz (telephone) or 11.025 kHz (old game audio) channel:
    recordings often carry nothing above 4-5.5 kHz, which moves the top mel bands."""
    if rng.random() >= 1 / 3:
        return speech
    rate = int(rng.choice([8000, 11025]))
    return resample(resample(speech, RATE, rate), rate, RATE)[: len(speech)]


def room(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``speech`` through a random channel at a random place in a >= 1 s clip, with noise at a
    random SNR (or none)."""
    speech = narrowband(speech, rng)
    length = max(int(CLIP_SECONDS * RATE), len(speech))
    out = np.zeros(length)
    start = int(rng.integers(0, length - len(speech) + 1))
    out[start : start + len(speech)] = speech
    if rng.random() < 0.8:
        level = np.sqrt(np.mean(speech**2)) + 1e-9
        snr = rng.uniform(5, 40)
        kind = str(rng.choice(["white", "pink", "brown", "hum"]))
        out += noise(kind, length, rng) * level / 10 ** (snr / 20)
    return out


def silence_clip(rng: np.random.Generator) -> np.ndarray:
    """One second of room sound only: noise of a random colour and level (-70 to -20 dBFS)."""
    n = int(CLIP_SECONDS * RATE)
    kind = str(rng.choice(["white", "pink", "brown", "hum"]))
    return noise(kind, n, rng) * 10 ** (rng.uniform(-70, -20) / 20)


def write_clip(path: Path, samples: np.ndarray) -> None:
    """16-bit PCM at 16 kHz, peak-limited so noise never clips."""
    peak = np.max(np.abs(samples))
    if peak > 0.99:
        samples = samples * (0.99 / peak)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples.astype(np.float32), RATE, subtype="PCM_16")


def scaled(takes: int, scale: float) -> int:
    """A take count times ``scale``, at least one where there were any."""
    return max(1, round(takes * scale)) if takes else 0


def build(
    preset: str,
    out: Path,
    seed: int,
    jobs: int,
    only: Sequence[Voice] | None = None,
    scale: float = 1.0,
) -> dict[str, Counter]:
    """Render the corpus; returns label counts per split.

    ``only``: these voices instead of every installed one (each still in its speaker's
    split; a split none of them belongs to is not written), e.g. a supplement of one new
    voice; ``scale`` multiplies every take count.
    """
    spec = PRESETS[preset]
    pool = recipe_voices() if only is None else list(only)
    unused = [str(v) for v in pool if voice_split(v) is None]
    if only is not None and unused:
        raise SystemExit(f"no split holds {', '.join(unused)}; add it to SPEAKER_SPLIT")
    voices = {s: [v for v in pool if voice_split(v) == s] for s in SPLITS}
    rng = np.random.default_rng(seed)
    counts: dict[str, Counter] = {}
    for s_index, split in enumerate(SPLITS):
        if not voices[split]:
            continue
        rows: list[dict] = []
        plan = [(w, scaled(spec["takes"][split], scale)) for w in spec["words"]]
        plan += [(w, scaled(spec["unknown_takes"][split], scale)) for w in spec["unknown"]]
        sentences = [w for w, n in plan for _ in range(n)]
        labels = {w: (w if w in spec["words"] else "unknown") for w, _ in plan}
        with tempfile.TemporaryDirectory() as tmp:
            takes = plan_takes(sentences, voices[split], seed=seed * 10 + s_index)
            rendered, failed = render_takes(takes, tmp, jobs=jobs, desc=f"{split} words")
            if failed:
                print(f"{split}: {len(failed)} takes failed, first: {failed[0]}", file=sys.stderr)
            for r in rendered:
                speech, rate = sf.read(Path(tmp) / r.take.wav, dtype="float64")
                assert rate == RATE
                label = labels[r.take.text]
                path = out / split / label / Path(r.take.wav).name
                write_clip(path, room(speech, rng))
                rows.append(
                    {
                        "audio_filepath": str(path.relative_to(out)),
                        "label": label,
                        "text": r.take.text,
                        "speaker": str(r.take.voice),
                    }
                )
        for i in range(scaled(spec["silence"][split], scale)):
            path = out / split / "silence" / f"{i + 1:06d}.wav"
            write_clip(path, silence_clip(rng))
            rows.append({"audio_filepath": str(path.relative_to(out)), "label": "silence"})
        random.Random(seed + s_index).shuffle(rows)
        text = "".join(json.dumps(row) + "\n" for row in rows)
        atomic_write_text(out / f"{split}.jsonl", text)
        counts[split] = Counter(row["label"] for row in rows)
        voices_used = len({row.get("speaker") for row in rows if "speaker" in row})
        print(f"{split}: {len(rows)} clips, {voices_used} voices, {dict(counts[split])}")
    return counts


def real_clips(manifests: list[Path], words: tuple[str, ...]) -> list[dict]:
    """Clips of real people (game dialogue manifests) whose whole line is one of ``words``:
    the only human recordings of these words this machine has, for an honest check."""
    from asr.manifest import read_manifest
    from asr.text import normalize_text

    rows = []
    for manifest in manifests:
        for u in read_manifest(manifest):
            text = normalize_text(u.text)
            if text in words:
                rows.append(
                    {"audio_filepath": u.audio_filepath, "label": text, "speaker": u.speaker or ""}
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="keywords")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="write into a non-empty --out")
    parser.add_argument(
        "--real-from",
        nargs="+",
        type=Path,
        metavar="MANIFEST",
        help="only write OUT/real.jsonl: the clips of these (real speech) manifests whose "
        "whole line is one of the preset's words",
    )
    parser.add_argument(
        "--voices",
        help="only these voices (asr synth's --voices syntax, e.g. piper:joe), each in its "
        "speaker's split: a supplement of new voices beside an existing corpus",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every take count (e.g. 0.25)"
    )
    args = parser.parse_args(argv)
    if args.real_from:
        rows = real_clips(args.real_from, PRESETS[args.preset]["words"])
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "real.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        print(f"{len(rows)} real clips, {dict(Counter(r['label'] for r in rows))}")
        return 0
    if args.out.is_dir() and any(args.out.iterdir()) and not args.force:
        parser.error(f"{args.out} is not empty; pass --force or choose another --out")
    if args.scale <= 0:
        parser.error(f"--scale must be positive, got {args.scale}")
    only = parse_voices(args.voices) if args.voices else None
    build(args.preset, args.out, args.seed, args.jobs, only=only, scale=args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
