"""The evaluation report: pure scoring on hand-made transcripts, the HTML page, the report
files and their safety rules, one `asr evaluate` run with the shipped model, and the page as a
real browser (headless Chromium, when installed) parses it."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import string
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from e2e_support import load_tool

from asr.errors import AsrError
from asr.evaluate import check_report_paths, report_paths, write_report
from asr.fileio import default_file_mode, file_mode
from asr.metrics import TOP, AlignedWord, Confusion, WordCount, score
from asr.report import render_html

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data/samples/manifest.jsonl"
EVIL = "<script>alert('x')</script>"
LETTERS = string.ascii_lowercase  # distinct words without digits (normalization spells those)


def _score(refs: list[str], hyps: list[str], **kw):
    """Score with made-up file names u0.wav, u1.wav, ..."""
    return score(refs, hyps, [f"u{i}.wav" for i in range(len(refs))], **kw)


# --- scoring -----------------------------------------------------------------------------


def test_substitution_and_insertion() -> None:
    r = _score(["the cat sat"], ["the bat sat down"])
    assert (r.hits, r.substitutions, r.deletions, r.insertions) == (2, 1, 0, 1)
    assert r.wer == pytest.approx(2 / 3)
    assert r.word_confusions == [Confusion("cat", "bat", 1)]
    assert r.inserted_words == [WordCount("down", 1)] and r.deleted_words == []
    # characters: c -> b, and " down" inserted (the space counts, as jiwer counts it)
    assert (r.char_substitutions, r.char_deletions, r.char_insertions) == (1, 0, 5)
    assert r.char_hits == len("the cat sat") - 1
    assert r.char_confusions == [Confusion("c", "b", 1)]
    u = r.per_utterance[0]
    assert u.alignment == (
        AlignedWord("equal", "the", "the"),
        AlignedWord("substitute", "cat", "bat"),
        AlignedWord("equal", "sat", "sat"),
        AlignedWord("insert", "", "down"),
    )
    assert (u.words, u.word_errors, u.chars, u.char_errors) == (3, 2, 11, 6)
    assert u.wer == pytest.approx(2 / 3) and u.cer == pytest.approx(6 / 11)


def test_deletions_and_empty_hypothesis() -> None:
    r = _score(["a b c", "one two"], ["a c", ""])
    assert (r.hits, r.substitutions, r.deletions, r.insertions) == (2, 0, 3, 0)
    assert r.deleted_words == [WordCount("b", 1), WordCount("one", 1), WordCount("two", 1)]
    worst = r.per_utterance[0]
    assert worst.audio_filepath == "u1.wav" and worst.wer == 1.0 and worst.cer == 1.0
    assert [a.op for a in worst.alignment] == ["delete", "delete"]
    assert "(empty transcript)" in render_html(r)


def test_references_are_normalized_and_empty_ones_dropped() -> None:
    r = _score(["Hello, World!", "...", "It's 2 o'clock"], ["hello world", "x", "its two oclock"])
    assert r.utterances == 2 and r.wer == 0.0 and r.cer == 0.0
    assert [u.audio_filepath for u in r.per_utterance] == ["u0.wav", "u2.wav"]
    assert r.per_utterance[0].reference == "hello world"
    with pytest.raises(ValueError, match="no non-empty reference"):
        _score(["", "?!"], ["a", "b"])
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        _score(["a", "b"], ["a"])


def test_confusions_counted_over_the_corpus_and_ranked() -> None:
    refs = ["the cat sat", "a cat ran", "the dog", "the cat"]
    hyps = ["the bat sat", "a bat ran", "a dog", "the hat"]
    r = _score(refs, hyps)
    assert r.word_confusions == [
        Confusion("cat", "bat", 2),
        Confusion("cat", "hat", 1),
        Confusion("the", "a", 1),
    ]
    assert r.char_confusions[0] == Confusion("c", "b", 2)
    # a multi-word substitute chunk is split into its word pairs, not one "x y -> p q" entry
    r = _score(["x y z"], ["p q z"])
    assert r.word_confusions == [Confusion("x", "p", 1), Confusion("y", "q", 1)]
    # only the TOP most frequent are kept
    n = TOP + 5
    r = _score([f"r{c}" for c in LETTERS[:n]], [f"h{c}" for c in LETTERS[:n]])
    assert len(r.word_confusions) == TOP and r.substitutions == n


def test_totals_add_up_over_utterances() -> None:
    refs = ["the quick brown fox", "jumps over", "the lazy dog", "today"]
    hyps = ["the quik brown fox fox", "jump over", "lazy dog", "to day"]
    r = _score(refs, hyps, durations=[1.0, 2.0, 3.5, 0.5])
    us = r.per_utterance
    assert r.substitutions == sum(u.substitutions for u in us)
    assert r.deletions == sum(u.deletions for u in us)
    assert r.insertions == sum(u.insertions for u in us)
    assert r.hits == sum(u.hits for u in us)
    assert r.char_hits == sum(u.char_hits for u in us)
    assert r.wer == pytest.approx(sum(u.word_errors for u in us) / sum(u.words for u in us))
    assert r.cer == pytest.approx(sum(u.char_errors for u in us) / sum(u.chars for u in us))
    assert r.audio_seconds == 7.0 and r.audio_hours == pytest.approx(7 / 3600)


def test_worst_first_by_wer_then_cer() -> None:
    refs = ["aaaa bbbb", "aaaa bbbb", "aaaa bbbb", "aaaa bbbb", "aaaa bbbb"]
    hyps = ["aaaa bbbb", "aaab bbbb", "x bbbb", "xxxx yyyy", "aaaa bbbc"]
    r = _score(refs, hyps)
    order = [u.audio_filepath for u in r.per_utterance]
    # u3 WER 1.0; then WER 0.5: u2 (CER 4/9) before u1 and u4 (CER 1/9, file order kept); u0
    assert order == ["u3.wav", "u2.wav", "u1.wav", "u4.wav", "u0.wav"]
    keys = [(u.wer, u.cer) for u in r.per_utterance]
    assert keys == sorted(keys, reverse=True)


def test_summary_prints_totals_and_top_five_word_confusions() -> None:
    n = 8
    r = _score([f"r{c} x" for c in LETTERS[:n]], [f"h{c} x" for c in LETTERS[:n]])
    text = r.summary()
    assert text.startswith(f"WER 50.00%  CER {r.cer:.2%}  over {n} utterances")
    assert f"words: {n} hits, {n} substitutions, 0 deletions, 0 insertions" in text
    assert f"chars: {r.char_hits} hits" in text
    shown = re.findall(r"^\s+1  r[a-z] -> h[a-z]$", text, flags=re.M)
    assert len(shown) == 5


def test_pure_modules_need_no_tensorflow() -> None:
    code = (
        "import sys, asr.evaluate, asr.metrics, asr.report, asr.decoding, asr.tuning, "
        "asr.architectures, asr.config; "
        "bad = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- the HTML page -----------------------------------------------------------------------


def _evil_report():
    """A report whose every free-text field carries markup."""
    r = score(["the cat sat"], ["the bat sat down"], [f"clips/{EVIL}.wav"])
    u = r.per_utterance[0]
    u = replace(u, reference=EVIL, alignment=(AlignedWord("substitute", EVIL, "<b>&amp;"),))
    r.per_utterance = [u]
    r.model, r.manifest = f"models/{EVIL}", f"{EVIL}.jsonl"
    r.word_confusions = [Confusion(EVIL, "<i>", 3)]
    r.inserted_words = [WordCount("</table>", 1)]
    return r


def test_html_escapes_all_text() -> None:
    page = render_html(_evil_report()).replace("<mark>", "").replace("</mark>", "")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;&amp;amp;" in page and "&lt;/table&gt;" in page and "&lt;i&gt;" in page


def test_html_is_self_contained_with_legend_and_worst_first() -> None:
    r = _score(["the cat sat", "a b c", "one two three"], ["the bat sat down", "a c", "x y z"])
    page = render_html(r)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for forbidden in ("http:", "https:", "//", "src=", "href=", "@import", "url(", "<link"):
        assert forbidden not in page, forbidden
    for text in ("substitution", "deletion", "insertion", "Word confusions", "Most deleted"):
        assert text in page
    for cls in ('class="col sub"', 'class="col del"', 'class="col ins"', 'class="col eq"'):
        assert cls in page
    # worst first: "x y z" (WER 1), "the bat sat down" (2/3), "a c" (1/3)
    assert [u.audio_filepath for u in r.per_utterance] == ["u2.wav", "u0.wav", "u1.wav"]
    positions = [page.index(f">{u.audio_filepath}<") for u in r.per_utterance]
    assert positions == sorted(positions)


def test_html_marks_the_letters_that_differ_in_a_substituted_word() -> None:
    r = _score(["the cat sat with all her heart"], ["the bat sat with al her heat"])
    page = render_html(r)
    assert '<span class="r"><mark>c</mark>at</span><span class="h"><mark>b</mark>at</span>' in page
    # a dropped letter is marked on the reference side; the shorter hypothesis has nothing to mark
    assert '<span class="r">al<mark>l</mark></span><span class="h">al</span>' in page
    assert '<span class="r">hea<mark>r</mark>t</span><span class="h">heat</span>' in page
    # equal words carry no marks, and the marks never split an escaped entity
    assert '<span class="r">the</span><span class="h">the</span>' in page
    page = render_html(_evil_report())
    assert "&lt;b&gt;&amp;amp;" in page.replace("<mark>", "").replace("</mark>", "")


# --- report files --------------------------------------------------------------------------


def test_report_paths() -> None:
    assert report_paths("runs/x/test.json") == (Path("runs/x/test.json"), Path("runs/x/test.html"))
    assert report_paths("r.HTML") == (Path("r.json"), Path("r.HTML"))
    for bad, hint in (("runs/mine", "runs/mine/report.json"), ("r.txt", "r.json")):
        with pytest.raises(AsrError) as info:
            report_paths(bad)
        message = str(info.value)
        assert "\n" not in message and ".json or .html" in message and hint in message


def test_write_report_refuses_to_overwrite(tmp_path: Path) -> None:
    r = _score(["the cat sat"], ["the bat sat"])
    json_path, html_path = write_report(r, tmp_path / "sub" / "rep.json")
    assert json_path == tmp_path / "sub/rep.json" and html_path == tmp_path / "sub/rep.html"
    data = json.loads(json_path.read_text())
    assert data["word_confusions"] == [{"ref": "cat", "hyp": "bat", "count": 1}]
    column = {"op": "substitute", "ref": "cat", "hyp": "bat"}
    assert data["per_utterance"][0]["alignment"][1] == column
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    assert file_mode(json_path) == file_mode(html_path) == default_file_mode()  # not 0600
    assert not list((tmp_path / "sub").glob(".*"))  # no temp file left
    before = json_path.read_text()

    # either twin existing blocks the write, with a one-line message naming --force
    html_path.unlink()
    for target in (tmp_path / "sub/rep.json", tmp_path / "sub/rep.html"):
        with pytest.raises(AsrError, match="already exists; pass --force"):
            write_report(_score(["a"], ["b"]), target)
    assert json_path.read_text() == before and not html_path.exists()
    write_report(_score(["a"], ["b"]), tmp_path / "sub/rep.html", force=True)
    assert json.loads(json_path.read_text())["wer"] == 1.0 and html_path.is_file()

    (tmp_path / "d.json").mkdir()
    with pytest.raises(AsrError, match="is a folder"):
        check_report_paths(tmp_path / "d.json", force=True)


# --- the command line, with the shipped model ------------------------------------------------


@dataclass
class SampleRun:
    """`asr evaluate` on the shipped samples with the default model: its folder and output."""

    folder: Path
    rc: int
    out: str
    err: str


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    from asr.cli import main

    folder = tmp_path_factory.mktemp("report")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["evaluate", "--manifest", str(SAMPLES), "--report", str(folder / "r.json")])
    assert rc == 0, err.getvalue()
    return SampleRun(folder, rc, out.getvalue(), err.getvalue())


def test_cli_evaluate_samples(sample_run: SampleRun) -> None:
    out, sample_report = sample_run.out, sample_run.folder
    json_path, html_path = sample_report / "r.json", sample_report / "r.html"
    data = json.loads(json_path.read_text())
    for key in (
        "wer", "cer", "substitutions", "deletions", "insertions", "hits", "char_substitutions",
        "char_deletions", "char_insertions", "char_hits", "utterances", "audio_seconds",
        "audio_hours", "model", "manifest", "word_confusions", "char_confusions",
        "deleted_words", "inserted_words", "per_utterance",
    ):  # fmt: skip
        assert key in data, key
    assert data["utterances"] == 5 == len(data["per_utterance"])
    assert data["manifest"] == str(SAMPLES) and Path(data["model"]).name == "default"
    assert 20 < data["audio_seconds"] < 25
    keys = [(u["wer"], u["cer"]) for u in data["per_utterance"]]
    assert keys == sorted(keys, reverse=True)
    u = data["per_utterance"][0]
    for key in ("audio_filepath", "reference", "hypothesis", "word_errors", "words", "alignment"):
        assert key in u, key
    assert " ".join(a["ref"] for a in u["alignment"] if a["ref"]) == u["reference"]
    assert " ".join(a["hyp"] for a in u["alignment"] if a["hyp"]) == u["hypothesis"]

    # the terminal: the same totals, the top word confusions, both files named
    assert f"WER {data['wer']:.2%}  CER {data['cer']:.2%}  over 5 utterances" in out
    assert f"words: {data['hits']} hits, {data['substitutions']} substitutions" in out
    assert "most frequent word confusions" in out
    top = data["word_confusions"][0]
    assert f"{top['ref']} -> {top['hyp']}" in out
    assert f"report written to {json_path} and {html_path}" in out

    page = html_path.read_text()
    for u in data["per_utterance"]:
        assert Path(u["audio_filepath"]).name in page
    assert f"WER {data['wer']:.1%}" in page


def test_cli_refuses_existing_report_and_bad_suffix(
    sample_run: SampleRun, capsys: pytest.CaptureFixture[str]
) -> None:
    from asr.cli import main

    sample_report = sample_run.folder
    existing = sample_report / "r.html"
    before = existing.read_bytes()
    for report, needle in (
        (existing, "already exists; pass --force"),
        (sample_report / "reports", f"--report {sample_report / 'reports' / 'report.json'}"),
    ):
        capsys.readouterr()
        assert main(["evaluate", "--manifest", str(SAMPLES), "--report", str(report)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("asr evaluate: error:"), captured.err
        assert needle in lines[0]
    assert existing.read_bytes() == before
    assert not (sample_report / "reports").exists()


# --- a real browser ----------------------------------------------------------------------------


@functools.cache
def _render_tool():
    """Import tools/render_report.py, a script rather than a package module."""
    return load_tool("render_report")


def _need_chromium():
    tool = _render_tool()
    if tool.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI has none")
    return tool


def test_page_renders_in_headless_chromium(sample_run: SampleRun, tmp_path: Path) -> None:
    tool = _need_chromium()
    sample_report = sample_run.folder
    data = json.loads((sample_report / "r.json").read_text())
    dom = tool.dump_dom(sample_report / "r.html").replace("<mark>", "").replace("</mark>", "")
    assert "ASR evaluation" in dom and "Utterances, worst first (5)" in dom
    assert dom.count('class="utt"') == 5
    for u in data["per_utterance"]:
        assert Path(u["audio_filepath"]).name in dom
        for a in u["alignment"]:
            assert a["ref"] in dom and a["hyp"] in dom

    # markup in the text stays text: no script element appears in the parsed page
    evil = tmp_path / "evil.html"
    evil.write_text(render_html(_evil_report()), encoding="utf-8")
    dom = tool.dump_dom(evil)
    assert "<script" not in dom.lower() and "&lt;script&gt;alert" in dom

    png = tool.screenshot(sample_report / "r.html", tmp_path / "page.png", "1200,2000")
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(header[16:20], "big") == 1200  # IHDR width


def test_render_tool_says_how_to_install_chromium(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = _render_tool()
    monkeypatch.setattr(tool.shutil, "which", lambda name: None)
    page = tmp_path / "r.html"
    page.write_text("<!DOCTYPE html><title>t</title>", encoding="utf-8")
    assert tool.main([str(page)]) == 2
    err = capsys.readouterr().err
    assert "apt-get install chromium" in err and len(err.strip().splitlines()) == 1


# --- per-voice breakdown (tools/voice_breakdown.py) -------------------------------------------


def test_voice_breakdown_groups_a_report_by_engine_and_family(tmp_path: Path, capsys) -> None:
    tool = load_tool("voice_breakdown")
    voices = {"a.wav": "espeak-ng:en-gb+steph2", "b.wav": "espeak-ng:en-us+Steph"}
    voices["c.wav"] = "flite:awb"
    (tmp_path / "voices.jsonl").write_text(
        "".join(
            json.dumps({"audio_filepath": f"wavs/{a}", "voice": v}) + "\n"
            for a, v in voices.items()
        )
    )
    scores = {"a.wav": (1, 10, 1, 2), "b.wav": (3, 10, 1, 2), "c.wav": (5, 10, 2, 2)}
    per = [
        dict(
            audio_filepath=str(tmp_path / "wavs" / a),
            char_errors=ce,
            chars=c,
            word_errors=we,
            words=w,
        )
        for a, (ce, c, we, w) in scores.items()
    ]
    report = {"decoder": "greedy", "cer": 0.3, "wer": 4 / 6, "per_utterance": per}
    (tmp_path / "r.json").write_text(json.dumps(report))
    assert tool.main([str(tmp_path / "r.json"), str(tmp_path / "voices.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "| flite:awb | 1 | 50.00% | 100.00% | 33% |" in out
    assert "| espeak-ng:steph | 2 | 20.00% | 50.00% | 67% |" in out  # steph2 and Steph: one family
    assert "| espeak-ng | 2 | 20.00% | 50.00% | 67% |" in out
    (tmp_path / "voices.jsonl").write_text('{"audio_filepath": "wavs/a.wav"}\n')
    with pytest.raises(SystemExit, match=r"voices.jsonl:1: .*make_corpus"):
        tool.main([str(tmp_path / "r.json"), str(tmp_path / "voices.jsonl")])
