"""asr.synth against the real engines (espeak-ng, flite, sox: installed by .ci/run).

RHVoice is optional (``apt-get install rhvoice rhvoice-english``): its tests skip without it.
"""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from e2e_support import load_tool, one_line_error, run_cli

from asr import synth
from asr.errors import SynthError
from asr.manifest import read_manifest
from asr.synth import (
    ENGINES,
    FLITE_GENDERS,
    RHVOICE_GENDERS,
    VOICE_SPEAKERS,
    Take,
    Voice,
    list_voices,
    parse_voices,
    plan_takes,
    render_takes,
    select_voices,
    spoken_form,
    synthesize,
    synthesize_corpus,
    voice_gender,
    voice_speaker,
)
from asr.text import normalize_text

ROOT = Path(__file__).resolve().parents[1]
needs_rhvoice = pytest.mark.skipif(
    shutil.which("RHVoice-test") is None,
    reason="RHVoice-test is not installed (apt-get install rhvoice rhvoice-english)",
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "",
    "-dash first: this line starts with a hyphen.",
    "?!",  # nothing left after normalization: skipped
    "We counted 12 boats in the harbor.",
    "Could you pass the salt, please?",
]
KEPT = [s for s in SENTENCES if s and s != "?!"]


def _read_wav(path: Path) -> tuple[np.ndarray, wave._wave_params]:
    """Samples and header of a WAV, for checking what the engines wrote."""
    with wave.open(str(path), "rb") as f:
        params = f.getparams()
        samples = np.frombuffer(f.readframes(params.nframes), dtype="<i2")
    return samples, params


def test_list_voices_covers_both_engines() -> None:
    voices = list_voices()
    espeak = {v.name for v in voices if v.engine == "espeak-ng"}
    flite = {v.name for v in voices if v.engine == "flite"}
    assert {"en-us", "en-gb", "en-us+f3", "en-gb-scotland+m3", "en-us+klatt"} <= espeak
    assert {"slt", "kal"} <= flite
    assert "awb_time" not in flite  # limited domain: says only clock times
    assert list_voices(("flite",)) == [v for v in voices if v.engine == "flite"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("espeak-ng:en-us+f3,flite:slt", [Voice("espeak-ng", "en-us+f3"), Voice("flite", "slt")]),
        (" flite:slt , flite:slt ", [Voice("flite", "slt")]),
    ],
)
def test_parse_voices_names(spec: str, expected: list[Voice]) -> None:
    assert parse_voices(spec) == expected


def test_parse_voices_groups() -> None:
    assert parse_voices("all") == list_voices()
    assert parse_voices("flite") == list_voices(("flite",))
    assert str(parse_voices("espeak-ng:en-us+f3")[0]) == "espeak-ng:en-us+f3"


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("espeak-ng:xx-nowhere,flite:slt", "espeak-ng:xx-nowhere"),
        ("flite:nobody", "flite:nobody"),
        ("espeak-ng:en-us+nosuchvariant", "espeak-ng:en-us+nosuchvariant"),
        ("festival:kal", "festival:kal"),
        ("slt", "slt"),
    ],
)
def test_parse_voices_unknown_names_them_and_lists_available(spec: str, named: str) -> None:
    with pytest.raises(SynthError) as e:
        parse_voices(spec)
    message = str(e.value)
    assert named in message and "available" in message and "flite:{" in message
    assert "\n" not in message


def test_parse_voices_empty() -> None:
    with pytest.raises(SynthError, match="no voices"):
        parse_voices(" , ")


@pytest.mark.parametrize(
    ("voice", "rate", "pitch"),
    [(Voice("espeak-ng", "en-gb+f3"), 1.2, 65), (Voice("flite", "slt"), 0.9, 35)],
)
def test_synthesize_writes_16k_mono_int16(
    tmp_path: Path, voice: Voice, rate: float, pitch: int
) -> None:
    out = tmp_path / "sub" / "x.wav"
    duration = synthesize("-Hello there, this is a test.", voice, out, rate=rate, pitch=pitch)
    samples, params = _read_wav(out)
    assert (params.framerate, params.nchannels, params.sampwidth) == (16000, 1, 2)
    assert duration > 0.3
    assert duration == pytest.approx(params.nframes / 16000)
    assert np.abs(samples).max() > 1000  # speech, not silence


def test_synthesize_rate_changes_duration(tmp_path: Path) -> None:
    voice = Voice("flite", "kal16")
    slow = synthesize("one two three four five", voice, tmp_path / "a.wav", rate=0.7)
    fast = synthesize("one two three four five", voice, tmp_path / "b.wav", rate=1.4)
    assert slow > 1.5 * fast


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("   ", {}, "empty"),
        ("hello", {"rate": 0.0}, "rate"),
        ("hello", {"pitch": 120}, "pitch"),
    ],
)
def test_synthesize_rejects_bad_input(
    tmp_path: Path, text: str, kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(SynthError, match=match):
        synthesize(text, Voice("espeak-ng", "en-us"), tmp_path / "x.wav", **kwargs)


def test_missing_engine_names_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = tmp_path / "s.txt"
    text.write_text("hello world\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SynthError, match="apt-get install espeak-ng flite sox"):
        synthesize_corpus(text, tmp_path / "out", voices=[Voice("flite", "slt")], progress=False)


def test_synthesize_corpus(tmp_path: Path) -> None:
    text = tmp_path / "sentences.txt"
    text.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    voices = parse_voices("espeak-ng:en-us,espeak-ng:en-gb-scotland+f2,flite:slt,flite:kal")
    out = tmp_path / "corpus"
    result = synthesize_corpus(
        text, out, voices=voices, per_sentence=2, jobs=2, seed=3, progress=False
    )
    assert result.failed == []
    assert result.count == 2 * len(KEPT)
    rows = [json.loads(line) for line in result.manifest.read_text().splitlines()]
    assert result.manifest == out / "manifest.jsonl" and len(rows) == result.count
    assert [r["text"] for r in rows] == [s for s in KEPT for _ in range(2)]  # original text
    assert result.hours == pytest.approx(sum(r["duration"] for r in rows) / 3600, rel=1e-3)
    meta = [json.loads(line) for line in (out / "voices.jsonl").read_text().splitlines()]
    assert [m["audio_filepath"] for m in meta] == [r["audio_filepath"] for r in rows]
    for row, m in zip(rows, meta, strict=True):
        samples, params = _read_wav(out / row["audio_filepath"])
        assert (params.framerate, params.nchannels, params.sampwidth) == (16000, 1, 2)
        assert row["duration"] > 0.3 and parse_voices(m["voice"])[0] in voices
        assert 0.8 <= m["rate"] <= 1.3 and 30 <= m["pitch"] <= 70
    assert read_manifest(result.manifest)[0].text == KEPT[0]  # the project's reader agrees

    with pytest.raises(SynthError, match=r"not empty.*--force"):
        synthesize_corpus(text, out, voices=voices, progress=False)
    again = synthesize_corpus(text, out, voices=voices[:1], overwrite=True, progress=False)
    assert again.count == len(KEPT)
    assert len(list((out / "wavs").glob("*.wav"))) == len(KEPT)  # old takes cleared


def test_plan_takes_is_seeded_and_balances_engines() -> None:
    voices = list_voices()
    plan = plan_takes(["a b c"] * 400, voices, seed=7)
    assert plan == plan_takes(["a b c"] * 400, voices, seed=7)
    assert plan != plan_takes(["a b c"] * 400, voices, seed=8)
    flite_share = sum(t.voice.engine == "flite" for t in plan) / len(plan)
    engines = len({v.engine for v in voices})  # 3 where RHVoice is installed
    # 5 flite voices are not drowned by ~800 espeak-ng ones
    assert abs(flite_share - 1 / engines) < 0.1
    assert len({t.wav for t in plan}) == len(plan)


def test_render_takes_records_failures_and_goes_on(tmp_path: Path) -> None:
    takes = [
        Take("wavs/000001.wav", "hello world", Voice("flite", "no-such-voice"), 1.0, 50),
        Take("wavs/000002.wav", "hello world", Voice("espeak-ng", "en-us"), 1.0, 50),
    ]
    rendered, failed = render_takes(takes, tmp_path, jobs=2, progress=False)
    assert [r.take for r in rendered] == takes[1:]
    assert len(failed) == 1 and "000001.wav" in failed[0] and "no-such-voice" in failed[0]
    assert not (tmp_path / "wavs/000001.wav").exists()


@pytest.mark.parametrize(
    "text", ["Room 204, since 1998.", "It costs $1,000,000!", "3rd of 12", "call 12345678901234567"]
)
def test_spoken_form_says_the_normalized_transcript(text: str) -> None:
    spoken = spoken_form(text)
    assert not any(c.isdigit() for c in spoken)
    assert normalize_text(spoken) == normalize_text(text)


def _make_corpus_module() -> ModuleType:
    return load_tool("make_corpus")


@pytest.mark.parametrize(
    ("sentence", "kept"),
    [
        ("We don't have enough chairs for twelve guests.", True),
        ("Is it going to rain?", True),
        ("Too short.", False),
        ("The NASA launch was delayed again.", False),  # acronym: spelled out by the engines
        ("Mr. Smith went to the market today.", False),
        ("Meet me at 3pm near the gate.", False),
        ("See http://example.com for more details.", False),
        ("An unfinished thought without an ending", False),
    ],
)
def test_recipe_sentence_filter(sentence: str, kept: bool) -> None:
    assert (_make_corpus_module().clean_sentence(sentence) is not None) is kept


def test_recipe_holds_out_sentences_and_voices(tmp_path: Path) -> None:
    recipe = _make_corpus_module()
    fortune = tmp_path / "fortunes"
    fortune.write_text(
        "The early bird gets the worm,\nbut the second mouse gets the cheese.\n"
        "\t\t-- Steven Wright\n%\nNever trust a computer you cannot throw out a window.\n%\n"
    )
    out = tmp_path / "corpus"
    argv = ["--text", str(ROOT / "data/text/sentences.txt"), "--text", str(fortune)]
    argv += ["--out", str(out), "--hours", "0.02", "--jobs", "2", "--augment-test"]
    assert recipe.main(argv) == 0
    rows = {
        name: [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        for name in ("train", "val", "test")
    }
    assert all(rows.values())
    texts = {name: {r["text"] for r in split} for name, split in rows.items()}
    meta = [json.loads(line) for line in (out / "voices.jsonl").read_text().splitlines()]
    assert len(meta) == sum(len(split) for split in rows.values())
    voices = {name: {m["voice"] for m in meta if m["split"] == name} for name in rows}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["val"]
    assert not (voices["train"] | voices["val"]) & voices["test"]
    assert any(m["augment"] != "none" for m in meta if m["split"] in ("train", "test"))
    assert all(m["augment"] == "none" for m in meta if m["split"] == "val")
    for r in rows["train"][:5] + rows["test"][:5]:
        samples, params = _read_wav(out / r["audio_filepath"])
        assert (params.framerate, params.nchannels, params.sampwidth) == (16000, 1, 2)
    meta = json.loads((out / "recipe.json").read_text())
    assert meta["text_sources"][str(fortune)] == 2  # wrapped fortune joined, author dropped
    assert recipe.main(argv) == 1  # refuses the now non-empty --out

    # Another --takes-seed renders the same splits with other takes: more training data
    # that never touches the first corpus's test sentences or voices.
    again = tmp_path / "again"
    assert (
        recipe.main([str(again) if a == str(out) else a for a in argv] + ["--takes-seed", "1"]) == 0
    )
    meta_again = [json.loads(line) for line in (again / "voices.jsonl").read_text().splitlines()]
    recipe_again = json.loads((again / "recipe.json").read_text())
    assert recipe_again["voices"]["held_out"] == meta["voices"]["held_out"]
    assert recipe_again["takes_seed"] == 1 and meta["takes_seed"] == 0
    texts_again = {
        name: {
            json.loads(line)["text"] for line in (again / f"{name}.jsonl").read_text().splitlines()
        }
        for name in ("train", "val", "test")
    }
    assert not texts_again["train"] & texts["test"] and not texts["train"] & texts_again["test"]
    train_again = {m["voice"] for m in meta_again if m["split"] == "train"}
    assert not train_again & voices["test"]
    first = [json.loads(line) for line in (out / "voices.jsonl").read_text().splitlines()]
    takes, takes_again = (
        [(m["voice"], m["rate"]) for m in rows if m["split"] == "train"]
        for rows in (first, meta_again)
    )
    assert takes != takes_again


@pytest.mark.parametrize(
    ("voice", "gender"),
    [
        ("espeak-ng:en-us", "male"),  # the language voice alone: espeak-ng's default male voice
        ("espeak-ng:en-gb+f3", "female"),
        ("espeak-ng:en-us+m3", "male"),
        ("espeak-ng:en-gb-scotland+Alicia", "female"),
        ("espeak-ng:en-us+zac", None),  # listed M by --voices=variant, but declares nothing
        ("espeak-ng:en-us+klatt", None),
        ("flite:slt", "female"),
        ("flite:awb", "male"),
        ("flite:kal16", "male"),
    ],
)
def test_voice_gender(voice: str, gender: str | None) -> None:
    assert voice_gender(parse_voices(voice)[0]) == gender


def test_every_installed_flite_voice_has_a_gender() -> None:
    """FLITE_GENDERS covers what `flite -lv` lists here (a new voice would need an entry)."""
    assert all(voice_gender(v) for v in list_voices(("flite",)))
    assert set(FLITE_GENDERS.values()) == {"male", "female"}


def test_plan_takes_label_by_balances_genders_and_leaves_default_alone() -> None:
    voices = [v for v in list_voices() if voice_gender(v)]
    plan = plan_takes(["a b c"] * 400, voices, seed=7, label_by="voice-gender")
    assert all(t.label == voice_gender(t.voice) for t in plan)
    assert 0.4 < sum(t.label == "female" for t in plan) / len(plan) < 0.6  # fewer female voices
    default = plan_takes(["a b c"] * 40, voices, seed=7)
    assert all(t.label is None for t in default)
    assert default == plan_takes(["a b c"] * 40, voices, seed=7, label_by=None)
    labeled = plan_takes(["Yes!", "no"], voices, seed=7, label_by="text")
    assert [t.label for t in labeled] == ["yes", "no"]
    assert [t.voice for t in labeled] == [
        t.voice for t in plan_takes(["Yes!", "no"], voices, seed=7)
    ]
    with pytest.raises(SynthError, match="without a known gender"):
        plan_takes(["a"], [Voice("espeak-ng", "en-us+zac")], label_by="voice-gender")


def test_label_by_text_makes_a_keyword_corpus(tmp_path: Path) -> None:
    text = tmp_path / "words.txt"
    text.write_text("yes\nNo!\n", encoding="utf-8")
    voices = parse_voices("espeak-ng:en-us,flite:slt")
    result = synthesize_corpus(
        text,
        tmp_path / "kw",
        voices=voices,
        per_sentence=2,
        jobs=2,
        label_by="text",
        progress=False,
    )
    utterances = read_manifest(result.manifest, labels=True)
    assert [u.label for u in utterances] == ["yes", "yes", "no", "no"]
    assert [u.text for u in utterances] == ["yes", "yes", "No!", "No!"]
    assert {u.speaker for u in utterances} <= {"espeak-ng:en-us", "flite:slt"}
    meta = [
        json.loads(line) for line in (tmp_path / "kw" / "voices.jsonl").read_text().splitlines()
    ]
    assert [u.speaker for u in utterances] == [m["voice"] for m in meta]


def test_label_by_voice_gender(tmp_path: Path) -> None:
    """Takes are labeled by their voice's gender; voices of unknown gender are left out (and
    said so); the manifest's speaker is the voice."""
    text = tmp_path / "words.txt"
    text.write_text("up\ndown\n", encoding="utf-8")
    voices = parse_voices("espeak-ng:en-us+f3,espeak-ng:en-us+zac,flite:awb,flite:slt")
    notes: list[str] = []
    result = synthesize_corpus(
        text,
        tmp_path / "g",
        voices=voices,
        per_sentence=3,
        jobs=2,
        seed=1,
        label_by="voice-gender",
        log=notes.append,
        progress=False,
    )
    assert result.failed == [] and result.count == 6
    [note] = notes
    assert "left out 1 of 4 voices" in note and "espeak-ng:en-us+zac" in note
    for u in read_manifest(result.manifest, labels=True):
        assert u.speaker != "espeak-ng:en-us+zac"
        assert u.label == voice_gender(parse_voices(u.speaker)[0])
    rows = [json.loads(line) for line in result.manifest.read_text().splitlines()]
    assert set(rows[0]) == {"audio_filepath", "text", "label", "duration", "speaker"}


def test_label_by_voice_gender_without_any_known_gender(tmp_path: Path) -> None:
    text = tmp_path / "words.txt"
    text.write_text("up\n", encoding="utf-8")
    with pytest.raises(SynthError, match="none of the 1 voices has a known gender") as err:
        synthesize_corpus(
            text,
            tmp_path / "g",
            voices=parse_voices("espeak-ng:en-us+zac"),
            label_by="voice-gender",
            progress=False,
        )
    assert "flite:slt (female)" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "g").exists()


def test_default_manifest_has_no_label_or_speaker(tmp_path: Path) -> None:
    text = tmp_path / "words.txt"
    text.write_text("left\n", encoding="utf-8")
    result = synthesize_corpus(
        text, tmp_path / "d", voices=parse_voices("flite:slt"), progress=False
    )
    assert set(json.loads(result.manifest.read_text())) == {"audio_filepath", "text", "duration"}


def test_cli_label_by(tmp_path: Path) -> None:
    text = tmp_path / "words.txt"
    text.write_text("yes\n", encoding="utf-8")
    out = tmp_path / "c"
    base = ["synth", "--out", str(out), "--voices", "flite:slt,flite:awb", "--jobs", "1"]
    rc, stdout, stderr = run_cli([*base, "--text", str(text), "--label-by", "voice-gender"])
    assert rc == 0, stderr
    assert "1 utterances" in stdout
    [u] = read_manifest(out / "manifest.jsonl", labels=True)
    assert u.label == {"flite:slt": "female", "flite:awb": "male"}[u.speaker]
    rc, _, stderr = run_cli(["synth", str(text), "--text", str(text), "--out", str(tmp_path / "x")])
    assert rc == 2 and "give the text file once" in one_line_error(stderr)
    with pytest.raises(SystemExit) as exited:  # argparse's own refusal
        run_cli([*base, str(text), "--label-by", "colour"])
    assert exited.value.code == 2


def test_select_voices_engines() -> None:
    assert select_voices(None, None) is None  # every voice, the corpus default
    assert select_voices("flite:slt", None) == [Voice("flite", "slt")]
    assert select_voices(None, "flite") == list_voices(("flite",))
    both = select_voices(None, " flite , espeak-ng ")
    assert both == list_voices(("flite",)) + list_voices(("espeak-ng",))
    # beside --voices, --engines keeps only the named voices of its engines
    assert select_voices("espeak-ng:en-us+f3,flite:slt", "flite") == [Voice("flite", "slt")]
    assert select_voices("all", "flite") == list_voices(("flite",))


@pytest.mark.parametrize(
    ("voices", "engines", "named"),
    [
        (None, "festival", "unknown engine festival"),
        (None, " , ", "unknown engine (none given)"),
        ("espeak-ng:en-us+f3", "flite", "names no voice of --engines 'flite'"),
    ],
)
def test_select_voices_refusals(voices: str | None, engines: str, named: str) -> None:
    with pytest.raises(SynthError) as e:
        select_voices(voices, engines)
    assert named in str(e.value) and "\n" not in str(e.value)


def test_cli_engines(tmp_path: Path) -> None:
    text = tmp_path / "words.txt"
    text.write_text("go\n", encoding="utf-8")
    out = tmp_path / "c"
    argv = ["synth", str(text), "--out", str(out), "--engines", "flite", "--jobs", "1"]
    voices = ["--voices", "flite:kal,espeak-ng:en-us+f3", "--label-by", "voice-gender"]
    rc, stdout, stderr = run_cli([*argv, *voices])
    assert rc == 0, stderr
    assert "1 utterances" in stdout
    [u] = read_manifest(out / "manifest.jsonl", labels=True)
    assert (u.speaker, u.label) == ("flite:kal", "male")  # the espeak-ng voice left out
    rc, _, stderr = run_cli(["synth", str(text), "--out", str(tmp_path / "x"), "--engines", "sapi"])
    assert rc != 0 and "unknown engine sapi" in one_line_error(stderr)


# ---------------------------------------------------------------- RHVoice


def _f0(path: Path) -> float:
    """Median pitch (Hz) of a WAV's loud voiced frames, by autocorrelation (60..500 Hz)."""
    samples, params = _read_wav(path)
    x, rate = samples.astype(np.float64), params.framerate
    n, lo, hi = int(0.04 * rate), rate // 500, rate // 60
    found = []
    for start in range(0, len(x) - n, n // 2):
        frame = x[start : start + n] - x[start : start + n].mean()
        if np.sqrt(np.mean(frame**2)) < 300:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1 :] / (np.dot(frame, frame) + 1e-9)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.6:
            found.append(rate / lag)
    assert found, f"no voiced frame in {path}"
    return float(np.median(found))


@needs_rhvoice
def test_rhvoice_voices_are_listed_and_parsed() -> None:
    voices = list_voices(("rhvoice",))
    assert {"slt", "bdl", "clb", "alan"} <= {v.name for v in voices}  # rhvoice-english
    assert all(v.engine == "rhvoice" for v in voices)
    assert [v for v in list_voices() if v.engine == "rhvoice"] == voices  # part of "all"
    assert parse_voices("rhvoice") == voices
    assert parse_voices("rhvoice:slt,flite:slt") == [Voice("rhvoice", "slt"), Voice("flite", "slt")]
    with pytest.raises(SynthError, match=r"unknown voices: rhvoice:nobody; .*rhvoice:\{") as e:
        parse_voices("rhvoice:nobody")  # RHVoice itself would quietly speak its default voice
    assert "\n" not in str(e.value)


def test_missing_rhvoice_is_left_out_of_all_and_named_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without RHVoice-test "all" is espeak-ng and flite; asking for rhvoice says what to
    install, in one line (runs with or without RHVoice installed)."""
    for tool in ("espeak-ng", "flite", "sox", "mbrola"):
        if found := shutil.which(tool):
            os.symlink(found, tmp_path / tool)
    monkeypatch.setenv("PATH", str(tmp_path))
    synth._list_engine_voices.cache_clear()
    synth._rhvoice_voices.cache_clear()
    try:
        voices = list_voices()
        assert voices and {v.engine for v in voices} == {"espeak-ng", "flite"}
        assert parse_voices("all") == voices
        for ask in (lambda: list_voices(("rhvoice",)), lambda: parse_voices("rhvoice:slt")):
            with pytest.raises(SynthError, match="apt-get install rhvoice rhvoice-english") as e:
                ask()
            assert str(e.value).startswith("RHVoice-test not found") and "\n" not in str(e.value)
        with pytest.raises(SynthError, match="RHVoice-test not found"):
            synthesize("hello", Voice("rhvoice", "slt"), tmp_path / "x.wav")
    finally:
        synth._list_engine_voices.cache_clear()
        synth._rhvoice_voices.cache_clear()


@needs_rhvoice
def test_rhvoice_renders_16k_mono_int16(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "x.wav"
    duration = synthesize("Hello there.", Voice("rhvoice", "slt"), out, rate=1.1, pitch=60)
    samples, params = _read_wav(out)
    assert (params.framerate, params.nchannels, params.sampwidth) == (16000, 1, 2)
    assert 0.4 < duration < 3.0  # two words
    assert duration == pytest.approx(params.nframes / 16000)
    assert np.abs(samples).max() > 1000  # speech, not silence


@needs_rhvoice
def test_every_rhvoice_voice_speaks_as_itself(tmp_path: Path) -> None:
    """Each listed voice renders, and differently: RHVoice answers a profile it cannot find
    with its default voice, which would put one speaker under several names."""
    renders = {}
    for voice in list_voices(("rhvoice",)):
        out = tmp_path / f"{voice.name}.wav"
        assert synthesize("Good morning.", voice, out) > 0.3
        renders[voice.name] = _read_wav(out)[0].tobytes()
    assert len(set(renders.values())) == len(renders)


@needs_rhvoice
def test_rhvoice_rate_and_pitch(tmp_path: Path) -> None:
    voice, text = Voice("rhvoice", "bdl"), "one two three"
    normal = synthesize(text, voice, tmp_path / "n.wav")
    slow = synthesize(text, voice, tmp_path / "s.wav", rate=0.7)
    fast = synthesize(text, voice, tmp_path / "f.wav", rate=1.4)
    assert slow > 1.2 * normal > 1.2 * 1.2 * fast  # duration ~ 1 / rate
    # Beyond RHVoice's own 0.5..2 sox's tempo does the rest: 0.3 vs 3.0 is 10x.
    slowest = synthesize(text, voice, tmp_path / "s3.wav", rate=0.3)
    fastest = synthesize(text, voice, tmp_path / "f3.wav", rate=3.0)
    assert slowest > 8 * fastest
    low = synthesize(text, voice, tmp_path / "lo.wav", pitch=10)
    high = synthesize(text, voice, tmp_path / "hi.wav", pitch=90)
    assert low == pytest.approx(normal, rel=0.02) and high == pytest.approx(normal, rel=0.02)
    assert _f0(tmp_path / "hi.wav") > 1.25 * _f0(tmp_path / "lo.wav")  # 2**(640/1200) = 1.45


@needs_rhvoice
def test_rhvoice_voice_gender() -> None:
    """Genders come from each voice's voice.info, and RHVOICE_GENDERS agrees with them."""
    genders = {v.name: voice_gender(v) for v in list_voices(("rhvoice",))}
    assert all(genders.values())  # every installed voice.info names one
    for name, gender in genders.items():
        assert RHVOICE_GENDERS.get(name, gender) == gender
    for name, gender in [("slt", "female"), ("clb", "female"), ("bdl", "male"), ("alan", "male")]:
        assert genders[name] == gender  # what rhvoice-english ships
    assert voice_gender(Voice("rhvoice", "lyubov")) == "female"  # voice.info or the table


@needs_rhvoice
def test_cli_synth_with_rhvoice(tmp_path: Path) -> None:
    text = tmp_path / "words.txt"
    text.write_text("stop\n", encoding="utf-8")
    out = tmp_path / "c"
    argv = ["synth", str(text), "--out", str(out), "--voices", "rhvoice:slt,rhvoice:bdl"]
    rc, stdout, stderr = run_cli([*argv, "--per-sentence", "2", "--label-by", "voice-gender"])
    assert rc == 0, stderr
    utterances = read_manifest(out / "manifest.jsonl", labels=True)
    assert len(utterances) == 2
    for u in utterances:
        assert u.label == {"rhvoice:slt": "female", "rhvoice:bdl": "male"}[u.speaker]


@pytest.mark.parametrize(
    ("voice", "speaker"),
    [
        ("flite:slt", "arctic:slt"),
        ("rhvoice:slt", "arctic:slt"),  # one CMU ARCTIC speaker behind both engines
        ("rhvoice:bdl", "arctic:bdl"),
        ("flite:awb", "arctic:awb"),
        ("rhvoice:alan", "arctic:awb"),
        ("flite:kal16", "cmu-diphone:kal"),
        ("flite:kal", "cmu-diphone:kal"),
        ("rhvoice:lyubov", "rhvoice:lyubov"),
        ("espeak-ng:mb-us1", "mbrola:us1"),
        ("espeak-ng:mb-us1+f3", "mbrola:us1"),  # a variant on a recorded MBROLA speaker
        ("espeak-ng:mb-de1-en", "mbrola:de1"),
        ("espeak-ng:en-us+f3", "espeak-ng:en-us+f3"),
        ("espeak-ng:en-us", "espeak-ng:en-us"),
    ],
)
def test_voice_speaker(voice: str, speaker: str) -> None:
    engine, name = voice.split(":", 1)
    assert voice_speaker(Voice(engine, name)) == speaker  # type: ignore[arg-type]


def test_voice_speakers_table_names_real_engines() -> None:
    assert all(key.split(":", 1)[0] in ENGINES for key in VOICE_SPEAKERS)
    speakers = sorted(VOICE_SPEAKERS.values())
    assert all(speakers.count(s) == 2 for s in ("arctic:slt", "arctic:bdl", "arctic:clb"))


def test_recipe_holds_out_recorded_speakers_across_engines() -> None:
    """flite awb and RHVoice alan are one man, and an MBROLA database is one speaker whatever
    espeak-ng variant it wears: a held-out speaker must not train through another engine."""
    import random

    split_voices = _make_corpus_module().split_voices
    voices = [
        *(Voice("flite", n) for n in ("kal", "kal16", "awb", "rms", "slt")),
        *(Voice("rhvoice", n) for n in ("alan", "bdl", "clb", "slt", "lyubov")),
        *(Voice("espeak-ng", f"mb-{db}{v}") for db in ("us1", "us2", "en1") for v in ("", "+f3")),
        *(Voice("espeak-ng", f"en-us+{v}") for v in ("m1", "m2", "f1", "f2", "klatt", "croak")),
    ]
    for seed in range(20):
        seen, held, chosen = split_voices(voices, random.Random(seed))
        assert {voice_speaker(v) for v in seen}.isdisjoint({voice_speaker(v) for v in held})
        assert len(chosen["recorded speakers"]) == 2, chosen


def test_train_voices_drop_held_out_speakers_under_every_engine() -> None:
    train_voices = _make_corpus_module().train_voices
    held = [Voice("flite", "awb"), Voice("espeak-ng", "en-us+klatt")]
    named = [Voice("rhvoice", "alan"), Voice("rhvoice", "bdl"), Voice("espeak-ng", "en-us+klatt")]
    keep, dropped = train_voices(named, held)
    assert keep == [Voice("rhvoice", "bdl")]  # alan is awb's speaker under RHVoice
    assert dropped == ["rhvoice:alan", "espeak-ng:en-us+klatt"]
    with pytest.raises(SynthError, match="held out for test.*flite:awb"):
        train_voices([Voice("flite", "awb")], held)


def test_recipe_train_voices_render_only_train_beside_the_same_test(tmp_path: Path) -> None:
    """--train-voices with --splits train adds voices to a corpus: none of its val or test
    sentences, the same held-out test voices recorded, no val or test rendered."""
    recipe = _make_corpus_module()
    argv = ["--text", str(ROOT / "data/text/sentences.txt"), "--hours", "0.01", "--jobs", "2"]
    assert recipe.main([*argv, "--out", str(tmp_path / "full")]) == 0
    full = json.loads((tmp_path / "full" / "recipe.json").read_text())
    seen_flite = sorted(
        v
        for v in ("flite:slt", "flite:rms", "flite:awb", "flite:kal")
        if v not in full["voices"]["test_list"]
    )[0]
    extra = [*argv, "--out", str(tmp_path / "extra"), "--takes-seed", "3", "--splits", "train"]
    assert recipe.main([*extra, "--train-voices", seen_flite]) == 0
    made = json.loads((tmp_path / "extra" / "recipe.json").read_text())
    assert made["splits_rendered"] == ["train"] and list(made["splits"]) == ["train"]
    assert made["voices"]["held_out"] == full["voices"]["held_out"]
    assert not (tmp_path / "extra" / "val.jsonl").exists()
    assert not (tmp_path / "extra" / "test.jsonl").exists()
    meta = [json.loads(ln) for ln in (tmp_path / "extra" / "voices.jsonl").read_text().splitlines()]
    assert meta and {m["voice"] for m in meta} == {seen_flite}
    full_texts = {
        name: {json.loads(ln)["text"] for ln in (tmp_path / "full" / f"{name}.jsonl").open()}
        for name in ("val", "test")
    }
    extra_texts = {json.loads(ln)["text"] for ln in (tmp_path / "extra" / "train.jsonl").open()}
    assert not extra_texts & (full_texts["val"] | full_texts["test"])
