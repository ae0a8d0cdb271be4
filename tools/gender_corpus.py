"""Speaker-gender corpora for `asr classify`: synthetic sentences to train on, and the real
game characters whose gender the games state, to train and test on.

Synthetic: sentences of ``data/text/sentences.txt`` (each split its own sentences) spoken by
voices of known gender (``asr.synth.voice_gender``), the genders balanced, split by recorded
speaker exactly as ``tools/keyword_corpus.py`` splits them, through the same random channel
and noise. Real: clips of The Ur-Quan Masters and Flight of the Amazon Queen by human
characters whose gender the game makes plain (names, pronouns, how others address them);
aliens, animals, robots, processed voices and unnamed extras are left out, because their
label could not be assigned honestly. The real clips keep the speech corpora's speaker
splits (train/dev/test manifests become real_train/real_val/real_test), so the characters
tested on are never trained on:

    python tools/gender_corpus.py --out corpora/gender --real corpora/uqm corpora/fotaq \
        corpora/bass [corpora/drascula]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keyword_corpus import RATE, recipe_voices, room, voice_split, write_clip  # noqa: E402

from asr.fileio import atomic_write_text  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.synth import plan_takes, read_sentences, render_takes, voice_gender  # noqa: E402

SPLITS = ("train", "val", "test")
SENTENCE_SHARE = {"train": 0.7, "val": 0.1, "test": 0.2}
TAKES = {"train": 4, "val": 1, "test": 1}  # per sentence
# Human characters and their gender as the games present them.
REAL_GENDERS = {
    # The Ur-Quan Masters: Commander Hayes (also the starbase voice) and Talana of the Syreen
    "commander": "male",
    "starbase": "male",
    "syreen": "female",
    # Flight of the Amazon Queen
    "joe": "male",
    "bob": "male",
    "jimmy": "male",
    "henry": "male",
    "frank": "male",
    "johan": "male",
    "anderson": "male",
    "mike": "male",
    "ian": "male",
    "hugh": "male",
    "faye": "female",
    "azura": "female",
    "mary-lou": "female",
    "naomi": "female",
    "secretary": "female",
    "lola": "female",
    "rita": "female",
    # Beneath a Steel Sky: Robert Foster, Anita, Mr Lamb, Danielle, Dr Burke
    "foster": "male",
    "anita": "female",
    "lamb": "male",
    "danielle": "female",
    "burke": "male",
    # named by a kinship word or a gendered first name: BASS's Dad, Son, Father, Trevor,
    # Vincent, Walter, Helga, Babs; FOTAQ's Man 1 and Man 2
    "dad": "male",
    "son": "male",
    "father": "male",
    "trevor": "male",
    "vincent": "male",
    "walter": "male",
    "helga": "female",
    "babs": "female",
    "man1": "male",
    "man2": "male",
    # Drascula: Billie Jean (B.J.) is its one woman; John Hacker, Count Drascula, Igor,
    # Professor Von Braun, the werewolf, the blind man, the bartender, the pianist, the drunk
    # and the prisoner are men (the pitch agrees: B.J. 231 Hz; the men 81-191 Hz)
    "bj": "female",
    "hacker": "male",
    "drascula": "male",
    "igor": "male",
    "vonbraun": "male",
    "werewolf": "male",
    "blind": "male",
    "bartender": "male",
    "pianist": "male",
    "drunk": "male",
    "prisoner": "male",
}
REAL_SPLITS = {"train": "real_train", "dev": "real_val", "test": "real_test"}
TRAIN_PER_SPEAKER = 150  # real training clips per character (Joe and Foster speak thousands)


def real_rows(manifest: Path, per_speaker: int, seed: int) -> list[dict]:
    """Up to ``per_speaker`` clips (at least 1.5 s) of each character in REAL_GENDERS."""
    by_speaker: dict[str, list] = {}
    for u in read_manifest(manifest):
        if u.speaker in REAL_GENDERS and (u.duration or 0) >= 1.5:
            by_speaker.setdefault(u.speaker, []).append(u)
    rng = random.Random(seed)
    rows = []
    for speaker, utterances in sorted(by_speaker.items()):
        for u in rng.sample(utterances, min(per_speaker, len(utterances))):
            rows.append(
                {
                    "audio_filepath": u.audio_filepath,
                    "label": REAL_GENDERS[speaker],
                    "speaker": speaker,
                }
            )
    return rows


def write_real(out: Path, corpora: list[Path], per_speaker: int, seed: int) -> None:
    """real_train/real_val/real_test.jsonl from the corpora's train/dev/test manifests."""
    for split, name in REAL_SPLITS.items():
        limit = TRAIN_PER_SPEAKER if split == "train" else per_speaker
        rows = []
        for corpus in corpora:
            if (corpus / f"{split}.jsonl").is_file():
                rows += real_rows(corpus / f"{split}.jsonl", limit, seed)
        atomic_write_text(out / f"{name}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        speakers = sorted({r["speaker"] for r in rows})
        print(
            f"{name}: {len(rows)} clips of {len(speakers)} characters "
            f"({', '.join(speakers)}), {dict(Counter(r['label'] for r in rows))}"
        )


def build(
    out: Path, seed: int, jobs: int, splits: tuple[str, ...] = SPLITS, test_takes: int = 1
) -> None:
    """Render the synthetic ``splits`` into ``out``; ``test_takes`` voices speak each test
    sentence (more takes measure the same held-out voices and sentences more finely)."""
    sentences = read_sentences(Path(__file__).resolve().parent.parent / "data/text/sentences.txt")
    random.Random(seed).shuffle(sentences)
    cut1 = int(len(sentences) * SENTENCE_SHARE["train"])
    cut2 = cut1 + int(len(sentences) * SENTENCE_SHARE["val"])
    parts = {"train": sentences[:cut1], "val": sentences[cut1:cut2], "test": sentences[cut2:]}
    rng = np.random.default_rng(seed)
    pool = recipe_voices()
    for index, split in enumerate(SPLITS):
        if split not in splits:
            continue
        voices = [v for v in pool if voice_split(v) == split and voice_gender(v)]
        takes = plan_takes(
            parts[split],
            voices,
            per_sentence=test_takes if split == "test" else TAKES[split],
            seed=seed * 10 + index,
            label_by="voice-gender",
        )
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            rendered, failed = render_takes(takes, tmp, jobs=jobs, desc=f"{split}")
            if failed:
                print(f"{split}: {len(failed)} takes failed, first: {failed[0]}", file=sys.stderr)
            for r in rendered:
                speech, rate = sf.read(Path(tmp) / r.take.wav, dtype="float64")
                assert rate == RATE
                path = out / split / Path(r.take.wav).name
                write_clip(path, room(speech, rng))
                rows.append(
                    {
                        "audio_filepath": str(path.relative_to(out)),
                        "label": r.take.label,
                        "text": r.take.text,
                        "speaker": str(r.take.voice),
                    }
                )
        atomic_write_text(out / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        print(
            f"{split}: {len(rows)} clips, {len({r['speaker'] for r in rows})} voices, "
            f"{dict(Counter(r['label'] for r in rows))}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--real", nargs="*", type=Path, default=[], metavar="CORPUS", help="speech corpus folders"
    )
    parser.add_argument(
        "--per-speaker", type=int, default=40, help="real val/test clips per character"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="synthetic splits made"
    )
    parser.add_argument(
        "--test-takes", type=int, default=1, help="voices per test sentence (default 1)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not any((args.out / f"{s}.jsonl").is_file() for s in args.splits):
        build(args.out, args.seed, args.jobs, tuple(args.splits), args.test_takes)
    if args.real:
        write_real(args.out, args.real, args.per_speaker, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
