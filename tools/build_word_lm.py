"""Build the word trigram LM (ARPA) for the default model from text available offline.

Sources, never a dev or test manifest:
- the Debian ``fortunes`` files (``/usr/share/games/fortunes``: entries between ``%`` lines;
  ASCII art and attribution lines left out, entries split into sentences),
- ``data/text/sentences.txt`` (the project's own sentences),
- the TRAIN transcripts of the real-speech and synthetic corpora
  (``corpora/{uqm,fotaq,big}/train.jsonl``).

Every sentence is normalized as transcripts are (``asr.text.normalize_text``) and counted
once (the synthetic corpus repeats each sentence per voice). n-grams of 2-3 words seen once
are pruned, which keeps the file a few MB:

    python tools/build_word_lm.py --out runs/wordlm/words.arpa
    asr evaluate --manifest corpora/real_dev.jsonl --decoder beam \\
        --word-lm runs/wordlm/words.arpa
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr.lm import read_sentences  # noqa: E402
from asr.text import normalize_text  # noqa: E402
from asr.wordlm import DEFAULT_MIN_COUNT, DEFAULT_ORDER, WordLM  # noqa: E402

FORTUNES = Path("/usr/share/games/fortunes")
SKIP_FORTUNES = {"ascii-art"}  # pictures, not sentences
TRAIN_TEXT = [
    ROOT / "data/text/sentences.txt",
    ROOT / "corpora/uqm/train.jsonl",
    ROOT / "corpora/fotaq/train.jsonl",
    ROOT / "corpora/big/train.jsonl",
]
# held-out text: a sentence sharing a run of OVERLAP words with any of these (or equal to one,
# when shorter) is left out, so no test or dev transcript is in the LM however the fortune
# files split it into sentences
HELD_OUT = [
    ROOT / f"corpora/{corpus}/{split}.jsonl"
    for corpus, splits in (
        ("big", ("val", "test")),
        ("default", ("val", "test")),
        ("uqm", ("dev", "test")),
        ("fotaq", ("dev", "test")),
        ("bass", ("dev", "test")),
        ("drascula", ("dev", "test")),
    )
    for split in splits
]
OVERLAP = 6
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_OVERSTRIKE = re.compile(r".\x08")  # nroff bold/underline: "_\bw" is an underlined w


def fortune_sentences(folder: Path = FORTUNES) -> list[str]:
    """Normalized sentences of every fortune file in ``folder`` (none if it is missing)."""
    if not folder.is_dir():
        return []
    sentences: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.suffix in (".dat", ".u8") or path.is_symlink() or path.name in SKIP_FORTUNES:
            continue
        if not path.is_file():
            continue
        text = _OVERSTRIKE.sub("", path.read_text(encoding="utf-8", errors="replace"))
        for entry in re.split(r"^%\s*$", text, flags=re.MULTILINE):
            lines = [ln for ln in entry.splitlines() if not ln.lstrip().startswith("--")]
            joined = " ".join(ln.strip() for ln in lines)
            for piece in _SENTENCE_END.split(joined):
                normal = normalize_text(piece)
                if normal:
                    sentences.append(normal)
    return sentences


def _grams(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + OVERLAP]) for i in range(len(words) - OVERLAP + 1)}


def held_out_filter(paths: list[Path]):
    """A predicate that is true for sentences free of held-out text; with the number of
    held-out transcripts read."""
    whole: set[str] = set()
    grams: set[tuple[str, ...]] = set()
    for path in paths:
        if not path.is_file():
            print(
                f"{path}: missing, so its text is not held out (build that corpus first)",
                file=sys.stderr,
            )
            continue
        for text in read_sentences(path):
            whole.add(text)
            grams |= _grams(text.split())

    def clean(sentence: str) -> bool:
        if sentence in whole:
            return False
        return not (_grams(sentence.split()) & grams)

    return clean, len(whole)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs/wordlm/words.arpa")
    parser.add_argument("--order", type=int, default=DEFAULT_ORDER)
    parser.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT)
    parser.add_argument("--max-vocab", type=int, help="keep the N most frequent words")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        parser.error(f"{args.out} exists; pass --force to overwrite it")
    started = time.perf_counter()
    sources = {"fortunes": fortune_sentences()}
    for path in TRAIN_TEXT:
        if "dev" in path.name or "test" in path.name:  # the rule: never held-out text
            raise SystemExit(f"{path}: refusing held-out text")
        sources[str(path.relative_to(ROOT))] = read_sentences(path)
    everything = {s for texts in sources.values() for s in texts}
    clean, held = held_out_filter(HELD_OUT)
    sentences = sorted(s for s in everything if clean(s))
    print(
        f"left out {len(everything) - len(sentences)} sentences sharing {OVERLAP} words in a "
        f"row with one of {held} dev/test transcripts",
        file=sys.stderr,
    )
    for name, texts in sources.items():
        words = sum(len(s.split()) for s in texts)
        print(f"{name}: {len(texts)} sentences, {words} words", file=sys.stderr)
    lm = WordLM.train(sentences, args.order, args.min_count, args.max_vocab)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lm.save(args.out)
    counts = ", ".join(f"{len(p)} {n}-grams" for n, p in enumerate(lm.probs, 1))
    size = args.out.stat().st_size
    print(
        f"{args.out}: {len(sentences)} distinct sentences, "
        f"{sum(len(s.split()) for s in sentences)} words; vocabulary {lm.vocab_size}; "
        f"{counts}; {size / 1e6:.1f} MB; {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
