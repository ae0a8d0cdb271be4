"""What each simulated channel effect costs a model: CER on the rendered clips that got it,
beside the same clips clean, from `asr evaluate` reports.

Why: one figure for "real dev through random channels" says the model loses 15 CER points,
not whether rooms, noise, phone codecs or clipping take them, so not what the next
augmentation should target. tools/augment_corpus.py records each clip's effects
("room noise:babble@6dB band:8000 gain:-3dB clip"); this groups the clips by effect.

    asr evaluate --manifest corpora/real_dev.jsonl --decoder greedy --report clean.json
    asr evaluate --manifest corpora/real_dev_channel/manifest.jsonl --decoder greedy \\
        --report rendered.json
    python tools/channel_breakdown.py corpora/real_dev_channel/manifest.jsonl \\
        --clean corpora/real_dev.jsonl --pair stage15 rendered.json clean.json

The rendered manifest's lines are the clean manifest's, in order (augment_corpus keeps it),
so line i of one is line i of the other; a pair whose references differ is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path


def snr_band(snr: float) -> str:
    """A 10 dB band; 30 dB, augment_corpus's top, stays in 20-30."""
    low = 20 if snr == 30 else int(snr // 10) * 10
    return f"noise SNR {low}-{low + 10} dB"


def effect_groups(channel: str) -> list[str]:
    """The groups one clip belongs to, from augment_corpus's description of its channel
    (ValueError for a noise step without its level, e.g. ``noise:pink`` for ``noise:pink@3dB``)."""
    groups = []
    for step in channel.split():
        kind, _, detail = step.partition(":")
        if kind == "noise":
            source, _, level = detail.partition("@")
            snr = float(level.removesuffix("dB"))
            groups += ["noise", f"noise:{source}", snr_band(snr)]
        elif kind in ("codec", "band"):
            groups += [kind, step]
        elif kind in ("room", "clip"):
            groups.append(kind)
    effects = [g for g in groups if g in ("room", "noise", "codec", "band", "clip")]
    if not effects:
        groups.append("gain only")
    elif len(effects) == 1:  # what the effect costs by itself, not beside others
        groups.append(f"{effects[0]} alone")
    return groups


def read_channels(manifest: Path) -> list[tuple[Path, str]]:
    """(absolute audio path, channel description) per line of a rendered manifest."""
    rows = []
    with manifest.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                entry = json.loads(line)
                audio, channel = entry["audio_filepath"], entry["channel"]
                effect_groups(channel)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise SystemExit(
                    f"{manifest}:{number}: not a rendered manifest line with audio_filepath "
                    f"and channel ({exc}); pass the manifest.jsonl tools/augment_corpus.py wrote"
                ) from None
            rows.append(((manifest.parent / audio).resolve(), channel))
    return rows


def _per_utterance(report: Path) -> list[dict]:
    try:
        return json.loads(report.read_text(encoding="utf-8"))["per_utterance"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SystemExit(
            f"{report}: not an `asr evaluate --report` JSON file ({exc}); write one with "
            "asr evaluate --report FILE.json"
        ) from None


def read_paths(manifest: Path) -> list[Path]:
    """Absolute audio paths of a manifest, in order (the clean one: paths may be absolute)."""
    from asr.manifest import read_manifest

    return [Path(e.audio_filepath).resolve() for e in read_manifest(manifest)]


def paired_errors(
    rows: list[tuple[Path, str]],
    clean_paths: list[Path],
    reports: tuple[list[dict], list[dict]],
    names: tuple[str, str],
) -> list[tuple[str, int, int, int]]:
    """(channel, rendered char errors, clean char errors, reference chars) per clip."""
    if len(clean_paths) != len(rows):
        raise SystemExit(
            f"the clean manifest has {len(clean_paths)} lines, the rendered one {len(rows)}; "
            "pass the manifest the rendering was made from"
        )
    found = [{Path(u["audio_filepath"]).resolve(): u for u in report} for report in reports]
    out = []
    for i, ((path, channel), clean_path) in enumerate(zip(rows, clean_paths, strict=True), 1):
        pair = [by_path.get(p) for by_path, p in zip(found, (path, clean_path), strict=True)]
        if pair == [None, None]:
            continue  # in neither report: asr evaluate leaves out lines with no words to score
        for u, p, name in zip(pair, (path, clean_path), names, strict=True):
            if u is None:
                raise SystemExit(f"{name}: no result for {p}; evaluate the manifest it is in")
        r, c = pair
        if r["reference"] != c["reference"]:
            raise SystemExit(
                f"line {i}: the rendered clip says {r['reference']!r}, the clean one "
                f"{c['reference']!r}; pass the manifest the rendering was made from"
            )
        out.append((channel, r["char_errors"], c["char_errors"], r["chars"]))
    return out


def breakdown(
    clips: Iterable[tuple[str, int, int, int]],
) -> dict[str, tuple[int, float, float]]:
    """group -> (clips, CER rendered, CER clean), over every clip and per effect group."""
    totals: dict[str, list[int]] = {}
    for channel, rendered, clean, chars in clips:
        for group in ["all", *effect_groups(channel)]:
            t = totals.setdefault(group, [0, 0, 0, 0])
            t[0] += 1
            t[1] += rendered
            t[2] += clean
            t[3] += chars
    return {g: (n, r / max(c, 1), k / max(c, 1)) for g, (n, r, k, c) in totals.items()}


def _order(group: str) -> tuple[int, str]:
    """all first, then effects, each followed by its kinds."""
    head = re.split(r"[ :]", group)[0]
    rank = ["all", "gain", "room", "noise", "band", "codec", "clip"].index(head)
    return rank, group


def table(results: dict[str, dict[str, tuple[int, float, float]]]) -> str:
    """Markdown: a row per group, a rendered / clean / cost column triple per model."""
    models = list(results)
    groups = sorted({g for r in results.values() for g in r}, key=_order)
    columns = " | ".join(f"{m} rendered | {m} clean | {m} cost" for m in models)
    lines = [f"| effect | clips | {columns} |", "|---|---|" + "---|---|---|" * len(models)]
    for g in groups:
        n = next(r[g][0] for r in results.values() if g in r)
        cells = []
        for m in models:
            _, rendered, clean = results[m].get(g, (0, float("nan"), float("nan")))
            cells += [f"{rendered:.1%}", f"{clean:.1%}", f"{(rendered - clean) * 100:+.1f}"]
        lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, help="the rendered manifest.jsonl")
    parser.add_argument(
        "--clean", type=Path, required=True, help="the manifest the rendering was made from"
    )
    parser.add_argument(
        "--pair",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "RENDERED_REPORT", "CLEAN_REPORT"),
        help="a model's reports on the rendered and the clean clips; repeat for more models",
    )
    args = parser.parse_args(argv)
    rows, clean_paths = read_channels(args.manifest), read_paths(args.clean)
    results = {}
    for name, rendered, clean in args.pair:
        reports = _per_utterance(Path(rendered)), _per_utterance(Path(clean))
        results[name] = breakdown(paired_errors(rows, clean_paths, reports, (rendered, clean)))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
