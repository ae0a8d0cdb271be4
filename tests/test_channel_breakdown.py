"""tools/channel_breakdown.py: CER per simulated channel effect, rendered beside clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
tool = load_tool("channel_breakdown")

CLIPS = [  # channel, reference, rendered char errors, clean char errors (10 chars each)
    ("room noise:babble@6dB gain:-3dB", "aaaa bbbbb", 6, 2),
    ("noise:white@25dB band:8000 gain:-10dB clip", "cccc ddddd", 3, 1),
    ("codec:GSM610 gain:-1dB", "eeee fffff", 4, 0),
    ("gain:-5dB", "gggg hhhhh", 1, 1),
]


def _write(tmp_path: Path, swap: bool = False) -> tuple[Path, Path, Path, Path]:
    """A rendered manifest, the clean one it came from, and a report on each, listed worst
    first as asr evaluate lists them (not in manifest order)."""
    manifest = tmp_path / "render" / "manifest.jsonl"
    manifest.parent.mkdir()
    rows, clean_rows, rendered, clean = [], [], [], []
    for i, (channel, ref, r, c) in enumerate(CLIPS):
        audio, source = f"audio/{i:06d}.flac", str(tmp_path / f"clean{i}.flac")
        rows.append({"audio_filepath": audio, "text": ref, "channel": channel})
        clean_rows.append({"audio_filepath": source, "text": ref})
        Path(source).touch()  # the clean manifest is read as a manifest: its files must exist
        common = {"reference": ref, "chars": len(ref)}
        rendered.append({"audio_filepath": str(manifest.parent / audio), "char_errors": r} | common)
        clean.append({"audio_filepath": source, "char_errors": c} | common)
    if swap:
        clean_rows[0], clean_rows[1] = clean_rows[1], clean_rows[0]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    clean_manifest = tmp_path / "clean.jsonl"
    clean_manifest.write_text("".join(json.dumps(r) + "\n" for r in clean_rows))
    paths = tmp_path / "rendered.json", tmp_path / "clean.json"
    for path, per in zip(paths, (rendered, clean), strict=True):
        per = sorted(per, key=lambda u: -u["char_errors"])
        path.write_text(json.dumps({"per_utterance": per}))
    return manifest, clean_manifest, *paths


def test_effect_groups_name_each_effect_its_kind_and_snr_band() -> None:
    groups = tool.effect_groups("room noise:pink@14dB codec:ULAW gain:-8dB clip")
    assert groups == ["room", "noise", "noise:pink", "noise SNR 10-20 dB"] + [
        "codec",
        "codec:ULAW",
        "clip",
    ]
    assert tool.effect_groups("noise:brown@30dB gain:0dB")[-2:] == [
        "noise SNR 20-30 dB",
        "noise alone",
    ]
    assert tool.effect_groups("gain:-20dB") == ["gain only"]


def test_table_pairs_each_clip_with_its_clean_self(tmp_path: Path, capsys) -> None:
    manifest, clean_manifest, rendered, clean = _write(tmp_path)
    argv = [str(manifest), "--clean", str(clean_manifest), "--pair", "m", str(rendered)]
    assert tool.main([*argv, str(clean)]) == 0
    rows = {
        line.strip("| ").split(" | ")[0]: line.strip("| ").split(" | ")[1:]
        for line in capsys.readouterr().out.splitlines()[2:]
    }
    assert rows["all"][:4] == ["4", "35.0%", "10.0%", "+25.0"]
    assert rows["noise"][:4] == ["2", "45.0%", "15.0%", "+30.0"]  # (6+3)/20 against (2+1)/20
    assert rows["codec:GSM610"][:4] == rows["codec alone"][:4] == ["1", "40.0%", "0.0%", "+40.0"]
    assert "room alone" not in rows  # its clip has noise too
    assert rows["gain only"][:4] == ["1", "10.0%", "10.0%", "+0.0"]
    assert rows["noise SNR 0-10 dB"][0] == rows["noise SNR 20-30 dB"][0] == "1"
    assert list(rows)[0] == "all"


def test_a_clean_manifest_out_of_order_is_refused(tmp_path: Path) -> None:
    manifest, clean_manifest, rendered, clean = _write(tmp_path, swap=True)
    argv = [str(manifest), "--clean", str(clean_manifest), "--pair", "m", str(rendered)]
    with pytest.raises(SystemExit, match="line 1: the rendered clip says 'aaaa bbbbb', the "):
        tool.main([*argv, str(clean)])


def test_snr_bands_have_edges_where_the_numbers_say() -> None:
    bands = [tool.snr_band(v) for v in (-3.0, 0.0, 9.9, 10.0, 20.0, 29.6, 30.0, 35.0)]
    assert bands == [
        "noise SNR -10-0 dB",
        "noise SNR 0-10 dB",
        "noise SNR 0-10 dB",
        "noise SNR 10-20 dB",
        "noise SNR 20-30 dB",
        "noise SNR 20-30 dB",
        "noise SNR 20-30 dB",
        "noise SNR 30-40 dB",
    ]


def test_a_line_no_report_scored_is_left_out_and_a_bad_channel_is_named(tmp_path: Path) -> None:
    manifest, clean_manifest, rendered, clean = _write(tmp_path)
    for report in (rendered, clean):  # as asr evaluate does for a line with no words
        per = json.loads(report.read_text())["per_utterance"]
        kept = [u for u in per if not u["reference"].startswith("gggg")]
        report.write_text(json.dumps({"per_utterance": kept}))
    rows = tool.read_channels(manifest)
    clips = tool.paired_errors(
        rows,
        tool.read_paths(clean_manifest),
        (tool._per_utterance(rendered), tool._per_utterance(clean)),
        ("r", "c"),
    )
    assert len(clips) == 3 and "gain:-5dB" not in [c[0] for c in clips]
    lines = manifest.read_text().splitlines()
    lines[2] = lines[2].replace("codec:GSM610", "noise:pink")
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit, match=r"manifest.jsonl:3: not a rendered manifest line"):
        tool.read_channels(manifest)
