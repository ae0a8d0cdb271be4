"""A test set spoken by Festival, a synthesizer asr never trains on, to check generalization.

Why: the held-out split of tools/make_corpus.py still comes from the engines the model was
trained on (espeak-ng, flite). Festival is a different engine (``apt-get install festival
festvox-kallpc16k``). Its ``kal_diphone`` voice is the speaker behind flite's ``kal``
voices, which are *training* voices, so this set tests a new engine, not a new speaker.

    python tools/festival_set.py corpora/default/test.jsonl --out corpora/festival
    asr evaluate --manifest corpora/festival/manifest.jsonl

Each distinct sentence of the manifest (or text file, one sentence a line) is spoken once,
digits as asr spells them, and written as 16 kHz mono WAV beside ``manifest.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.manifest import Utterance, read_manifest, write_manifest  # noqa: E402
from asr.synth import prepare_out_dir, read_sentences, spoken_form  # noqa: E402
from asr.text import normalize_text  # noqa: E402


def sentences_of(source: Path) -> list[str]:
    """Distinct sentences (by normalized text) of a manifest or a plain text file."""
    if source.suffix in (".jsonl", ".csv", ".tsv"):
        texts = [u.text for u in read_manifest(source, check_audio_exists=False)]
    else:
        texts = read_sentences(source)
    seen: dict[str, str] = {}
    for t in texts:
        seen.setdefault(normalize_text(t), t)
    return list(seen.values())


def speak(text: str, wav: Path) -> str | None:
    """Festival's text2wave, then sox to 16 kHz mono 16-bit; the failure, if any."""
    try:
        _speak(text, wav)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        wav.unlink(missing_ok=True)
        return f"{text!r}: {e}"
    return None


def _speak(text: str, wav: Path) -> None:
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run(
            ["text2wave", "-o", raw.name],
            input=spoken_form(text),
            text=True,
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            ["sox", raw.name, "-r", "16000", "-c", "1", "-b", "16", str(wav)],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a manifest or a text file of sentences")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, help="at most this many sentences")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--force", action="store_true", help="write into a non-empty --out")
    args = parser.parse_args(argv)
    for binary in ("text2wave", "sox"):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} not found; apt-get install festival festvox-kallpc16k sox")
    sentences = sentences_of(args.source)[: args.limit]
    out = prepare_out_dir(args.out, args.force)
    (out / "wavs").mkdir(exist_ok=True)
    wavs = [out / "wavs" / f"{i:05d}.wav" for i in range(len(sentences))]
    with ThreadPoolExecutor(args.jobs) as pool:
        failures = list(pool.map(speak, sentences, wavs))
    spoken = [
        Utterance(str(w), t)
        for w, t, failed in zip(wavs, sentences, failures, strict=True)
        if failed is None
    ]
    manifest = write_manifest(out / "manifest.jsonl", spoken)
    print(f"{len(spoken)} sentences spoken by festival -> {manifest}")
    failed = [f for f in failures if f]
    if failed:  # festival 2.5 crashes on a few inputs; they are left out, not retried
        print(f"{len(failed)} failed, e.g. {failed[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
