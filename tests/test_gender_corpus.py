"""tools/gender_corpus.py's real clips keep the speech corpora's speaker splits: a character
tested on is never trained on, and only characters with a stated gender are used."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from e2e_support import load_tool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
gender = load_tool("gender_corpus")


def test_real_clips_follow_the_corpus_splits(tmp_path: Path) -> None:
    corpus = tmp_path / "game"
    corpus.mkdir()
    splits = {"train": ["joe", "faye", "sparky"], "dev": ["naomi"], "test": ["frank"]}
    for split, speakers in splits.items():
        rows = [
            {"audio_filepath": f"{s}{i}.flac", "text": "hi", "duration": d, "speaker": s}
            for s in speakers
            for i, d in enumerate([2.0, 2.5, 1.0, 3.0])
        ]
        for r in rows:
            sf.write(corpus / r["audio_filepath"], np.zeros(1600), 16_000)
        (corpus / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "gender"
    out.mkdir()
    gender.write_real(out, [corpus], per_speaker=2, seed=0)

    def read(name: str) -> list[dict]:
        return [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]

    train, val, test = read("real_train"), read("real_val"), read("real_test")
    # sparky (a dog) has no gender; clips under 1.5 s are left out; val/test capped per speaker
    assert sorted({(r["speaker"], r["label"]) for r in train}) == [
        ("faye", "female"),
        ("joe", "male"),
    ]
    assert len(train) == 6
    assert [(r["speaker"], r["label"]) for r in val] == [("naomi", "female")] * 2
    assert [(r["speaker"], r["label"]) for r in test] == [("frank", "male")] * 2


def test_a_larger_test_split_alone(tmp_path: Path, monkeypatch) -> None:
    """--splits test --test-takes 4 renders only the test split, four voices a sentence; an
    existing split is not rendered again."""
    calls = []
    monkeypatch.setattr(gender, "build", lambda out, seed, jobs, *a: calls.append(a))
    out = tmp_path / "g"
    assert gender.main(["--out", str(out), "--splits", "test", "--test-takes", "4"]) == 0
    assert calls == [(("test",), 4)]
    (out / "test.jsonl").write_text("")
    assert gender.main(["--out", str(out), "--splits", "test", "--test-takes", "4"]) == 0
    assert len(calls) == 1


def test_test_takes_reach_the_plan(tmp_path: Path, monkeypatch) -> None:
    seen = {}

    def plan(sentences, voices, per_sentence, seed, label_by):
        seen[seed % 10] = per_sentence
        return []

    monkeypatch.setattr(gender, "plan_takes", plan)
    monkeypatch.setattr(gender, "render_takes", lambda takes, tmp, jobs, desc: ([], []))
    gender.build(tmp_path, 0, 1, ("val", "test"), test_takes=4)
    assert seen == {1: 1, 2: 4}  # val keeps its one take; train was not asked for
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["test.jsonl", "val.jsonl"]
