"""The word n-gram LM (ARPA), its fusion into beam search, and hotwords (NumPy only)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from asr.cli import main
from asr.decoding import (
    BeamDecoder,
    GreedyDecoder,
    Hotwords,
    LMBeamDecoder,
    NoCharLM,
    lm_beam_search,
    with_words,
)
from asr.errors import ConfigError
from asr.lm import CharLM
from asr.text import DEFAULT_ALPHABET, Tokenizer
from asr.wordlm import BOS, DEFAULT_BONUS, DEFAULT_OOV, DEFAULT_WEIGHT, EOS, UNK, WordLM

TEXT = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat ate the fish",
    "on the mat the cat sat",
    "the dog ate",
    "the cat sat",
    "i left my heart in san francisco",
    "san francisco is far",
    "we went to san francisco",
]
TOK = Tokenizer()
NO_CHARS = NoCharLM(DEFAULT_ALPHABET)
SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
MODEL = Path(__file__).resolve().parent.parent / "checkpoints" / "default"


@pytest.fixture(scope="module")
def lm() -> WordLM:
    return WordLM.train(TEXT, order=3, min_count=1, weight=1.0, bonus=0.0)


def _vocab(model: WordLM) -> list[str]:
    return [w for w in model.probs[0] if w != BOS]


@pytest.mark.parametrize("min_count", [1, 2, 3])
@pytest.mark.parametrize(
    "context", [[], ["the"], ["the", "cat"], ["cat", "sat"], ["zebra"], ["the", "zebra"], ["san"]]
)
def test_every_context_gives_a_distribution(context: list[str], min_count: int) -> None:
    """Kneser-Ney in back-off form sums to one, pruned or not (back-offs are recomputed)."""
    model = WordLM.train(TEXT, order=3, min_count=min_count)
    total = sum(math.exp(model.score(context, w)) for w in _vocab(model))
    assert total == pytest.approx(1.0, abs=1e-9)


def test_pruning_drops_singletons_of_two_words_and_more(lm: WordLM) -> None:
    pruned = WordLM.train(TEXT, order=3, min_count=2)
    assert len(pruned.probs[0]) == len(lm.probs[0])  # every word stays
    assert "cat sat" in pruned.probs[1] and "a cat" not in pruned.probs[1]
    assert pruned.num_ngrams < lm.num_ngrams


def test_context_and_continuation_counts(lm: WordLM) -> None:
    assert lm.score(["the"], "cat") > lm.score(["the"], "francisco") + 1
    assert lm.score(["san"], "francisco") > math.log(0.5)
    # Kneser-Ney: "francisco" is frequent but only ever follows "san", so as a guess in a new
    # context it ranks below "the", which follows many different words
    assert lm.score(["zebra"], "francisco") < lm.score(["zebra"], "the")
    assert lm.sentence_log_prob("the cat sat".split()) > lm.sentence_log_prob("sat the cat".split())
    assert lm.perplexity(["the cat sat on the log"]) < lm.perplexity(["log the on sat cat the"])


def test_unknown_words_score_as_unk(lm: WordLM) -> None:
    assert "zebra" not in lm and UNK not in lm and "cat" in lm
    assert lm.score([], "zebra") == lm.score([], "aardvark") == lm.score([], UNK)
    assert math.isfinite(lm.score(["zebra", "qux"], "zebra"))


def test_arpa_round_trip(lm: WordLM, tmp_path: Path) -> None:
    path = lm.save(tmp_path / "words.arpa")
    text = path.read_text()
    assert text.startswith("# asr-word-lm weight=1 bonus=0 oov=0\n")
    assert "\\data\\\nngram 1=" in text and "\\3-grams:" in text and text.endswith("\\end\\\n")
    again = WordLM.load(path)
    assert (again.order, again.weight, again.bonus) == (3, 1.0, 0.0)
    assert again.probs[0].keys() == lm.probs[0].keys()
    for context in [[], ["the"], ["the", "cat"], ["zebra", "the"], ["san"]]:
        for word in ["cat", "sat", "francisco", "zebra", EOS]:
            assert again.score(context, word) == pytest.approx(lm.score(context, word), abs=1e-5)
    assert again.to_arpa() == lm.to_arpa()  # what it reads it writes back the same


HANDMADE = """\\data\\
ngram 1=5
ngram 2=2

\\1-grams:
-1.0\t</s>
-0.5\ta\t-0.3
-0.7\tb\t-0.2
-2.0\t<unk>
-99\t<s>\t-0.1

\\2-grams:
-0.2\ta b
-0.4\t<s> a

\\end\\
"""


def test_backoff_follows_the_arpa_rule(tmp_path: Path) -> None:
    """A file from another tool (no asr header): back-off weights in log10, scores in ln."""
    path = tmp_path / "other.arpa"
    path.write_text(HANDMADE)
    model = WordLM.load(path)
    assert model.order == 2
    assert (model.weight, model.bonus, model.oov) == (DEFAULT_WEIGHT, DEFAULT_BONUS, DEFAULT_OOV)

    def log10(context, word):
        return model.score(context, word) / math.log(10)

    assert log10(["a"], "b") == pytest.approx(-0.2)  # seen bigram
    assert log10([], "a") == pytest.approx(-0.4)  # the sentence start is <s>: "<s> a"
    assert log10(["b"], "a") == pytest.approx(-0.2 - 0.5)  # back-off(b) + P(a)
    assert log10(["a"], "zebra") == pytest.approx(-0.3 - 2.0)  # back-off(a) + P(<unk>)
    assert log10(["a", "b"], EOS) == pytest.approx(-0.2 - 1.0)  # the order caps the context


def test_a_file_without_unk_gives_unknown_words_the_rarest_unigram(tmp_path: Path) -> None:
    path = tmp_path / "no_unk.arpa"
    path.write_text(HANDMADE.replace("ngram 1=5", "ngram 1=4").replace("-2.0\t<unk>\n", ""))
    # after <s>: its back-off, then </s>'s -1.0, the rarest unigram
    assert WordLM.load(path).score([], "zebra") == pytest.approx((-0.1 - 1.0) * math.log(10))


def test_another_arpa_reader_agrees(lm: WordLM, tmp_path: Path) -> None:
    """PocketSphinx's own ARPA reader (where installed) gives the same probabilities."""
    ps = pytest.importorskip("pocketsphinx")
    path = lm.save(tmp_path / "words.arpa")
    logmath = ps.LogMath()
    theirs = ps.NGramModel(ps.Config(), logmath, str(path))
    for context, word in [
        ((), "cat"),
        (("the",), "cat"),
        ((BOS, "the"), "cat"),
        (("a", "cat"), "sat"),
    ]:
        expected = logmath.log_to_ln(theirs.prob([word, *reversed(context)]))  # newest first
        ours = lm.log10_prob(list(context), word) * math.log(10)
        assert ours == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    "content, where",
    [
        ("", "line 0: the file ends without \\data\\"),
        ("hello\n\\data\\\n", "line 1: found 'hello' before \\data\\"),
        ("\\data\\\nngram 2=1\n", "line 2: bad count line"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\n", "line 5: 1 fields in a 1-gram line"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\nx a\n", "line 5: 'x a' has a number"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n0.5 a\n", "line 5: log10 probability 0.5"),
        ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1 a\n\\end\\\n", "line 6: 1 1-grams, but"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n-1 a\n", "line 5: the file ends without \\end\\"),
        ("\\data\\\nngram 1=1\n\n\\2-grams:\n", "line 4: section \\2-grams: out of order"),
        (
            "\\data\\\nngram 1=1\nngram 2=1\n\n\\1-grams:\n-1 a\n\\end\\\n",
            "1 n-gram sections, but \\data\\ declares 2",
        ),
        ("# asr-word-lm weight=x\n\\data\\\n", "line 1: 'weight=x' is not a number"),
    ],
)
def test_bad_arpa_files_name_the_file_and_line(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "bad.arpa"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        WordLM.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line ") and where in message
    assert "\n" not in message


def test_unreadable_and_missing_arpa_files(tmp_path: Path) -> None:
    binary = tmp_path / "model.binary"
    binary.write_bytes(b"mmap lm http://kheafield.com/code\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not an ARPA text file"):
        WordLM.load(binary)
    with pytest.raises(ConfigError, match="not found; make one with `asr lm --word`"):
        WordLM.load(tmp_path / "missing.arpa")


def test_training_input_errors() -> None:
    with pytest.raises(ValueError, match="no text"):
        WordLM.train(["", "  "])
    with pytest.raises(ValueError, match="order"):
        WordLM.train(TEXT, order=0)
    with pytest.raises(ValueError, match="reserved"):
        WordLM.train(["the </s> cat"])


def test_a_capped_vocabulary_counts_the_rest_as_unk() -> None:
    model = WordLM.train(TEXT, max_vocab=3)
    assert model.vocab_size == 3 + 2  # the words, </s> and <unk>
    assert "the" in model and "francisco" not in model
    assert model.probs[0][UNK] > -2  # rare words pooled: <unk> is a frequent "word"


# --- fusion in beam search ----------------------------------------------------------------


def _posteriors(frames: list[dict[str, float]]) -> np.ndarray:
    """(time, classes) log-probabilities; each frame gives some characters' probabilities
    ("_" is the blank) and spreads the rest evenly."""
    rows = []
    for frame in frames:
        row = np.full(len(TOK.alphabet) + 1, 1e-6)
        for ch, p in frame.items():
            row[0 if ch == "_" else TOK.encode(ch)[0]] = p
        rows.append(np.log(row / row.sum()))
    return np.array(rows, dtype=np.float32)


def _spell(text: str, p: float = 0.98) -> list[dict[str, float]]:
    frames: list[dict[str, float]] = []
    for ch in text:
        frames += [{ch: p, "_": 1 - p}, {"_": 0.98}]
    return frames


def _decode(lp: np.ndarray, **kwargs) -> str:
    return TOK.decode(lm_beam_search(lp, kwargs.pop("chars", NO_CHARS), 8, **kwargs))


# "the ?at sat": the doubtful letter is k at 55 %, c at 45 %: the audio leans to a misspelling
DOUBT = _posteriors(_spell("the ") + [{"k": 0.55, "c": 0.45}] + _spell("at sat"))


def test_the_word_lm_prefers_a_word_it_knows_over_an_equal_sounding_misspelling(
    lm: WordLM,
) -> None:
    assert _decode(DOUBT) == "the kat sat"
    assert _decode(DOUBT, word_lm=lm) == "the cat sat"
    assert _decode(DOUBT, word_lm=lm, word_weight=0.0) == "the kat sat"


def test_an_unknown_word_score_counts_against_words_outside_the_vocabulary(
    lm: WordLM, tmp_path: Path
) -> None:
    """With no weight on the LM's probabilities, only the unknown-word score decides."""
    assert _decode(DOUBT, word_lm=lm, word_weight=0.0, word_oov=-1.0) == "the cat sat"
    lm_oov = WordLM.train(TEXT, min_count=1, weight=0.0, oov=-1.0)
    again = WordLM.load(lm_oov.save(tmp_path / "oov.arpa"))  # kept in the file's header
    assert (again.weight, again.oov) == (0.0, -1.0)
    assert _decode(DOUBT, word_lm=again) == "the cat sat"


def test_beside_the_character_lm_unseen_words_still_decode(lm: WordLM) -> None:
    chars = CharLM.train(TEXT, order=4, weight=0.5, bonus=1.0)
    assert _decode(DOUBT, chars=chars, word_lm=lm) == "the cat sat"
    clear = _posteriors(_spell("the zebra sat", p=0.999))
    assert _decode(clear, chars=chars, word_lm=lm) == "the zebra sat"  # zebra: <unk>


def test_the_last_word_and_the_end_are_scored(lm: WordLM) -> None:
    tail = _posteriors(_spell("the ") + [{"k": 0.55, "c": 0.45}] + _spell("at"))
    assert _decode(tail, word_lm=lm) == "the cat"
    # a piece with more to come leaves its unfinished word unscored
    assert _decode(tail, word_lm=lm, end=False) == "the kat"


def test_history_gives_the_first_words_their_context(lm: WordLM) -> None:
    piece = _posteriors(_spell(" ") + [{"k": 0.55, "c": 0.45}] + _spell("at sat"))
    assert _decode(piece, word_lm=lm, history="the") == " cat sat"


def test_without_a_word_lm_or_hotwords_nothing_changes(lm: WordLM) -> None:
    chars = CharLM.train(TEXT, order=4)
    flat = np.random.default_rng(0).normal(size=(60, 28)).astype(np.float32)
    for lp in (DOUBT, flat):
        plain = lm_beam_search(lp, chars, 8)
        assert lm_beam_search(lp, chars, 8, word_lm=None, hotwords=Hotwords()) == plain


def test_a_hotword_flips_a_decision() -> None:
    names = _posteriors([{"s": 0.6, "z": 0.4}, {"_": 0.98}] + _spell("elda is here"))
    assert _decode(names) == "selda is here"
    assert _decode(names, hotwords=Hotwords.parse(["Zelda"])) == "zelda is here"
    assert _decode(names, hotwords=Hotwords.parse(["zelda:0.1"])) == "selda is here"
    assert _decode(names, hotwords=Hotwords.parse(["selda:-5", "other"])) == "zelda is here"


def test_a_hotword_prefix_that_does_not_complete_earns_nothing() -> None:
    """A prefix's share is taken back: "cat" is 3/7 of the hotword "catalog", and its share
    (1.3, more than the audio's 0.2 lead for "kat") helps while the beam spells it, but goes
    when the word ends as "cat", so the audio's "kat" still wins."""
    hot = Hotwords.parse(["catalog"])
    assert hot.partial("cat") == pytest.approx(3.0 * 3 / 7) and hot.boost("cat") == 0.0
    assert hot.partial("catalog") == hot.boost("catalog") == 3.0 and hot.partial("x") == 0.0
    assert _decode(DOUBT, hotwords=hot) == "the kat sat"
    assert _decode(DOUBT, hotwords=Hotwords.parse(["cat:1"])) == "the cat sat"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("zelda:x", "boost 'x' is not a number; write WORD or WORD:BOOST"),
        ("zelda:", "boost '' is not a number"),
        ("zelda:nan", "boost 'nan' is not a number"),
        (":3", "has no letters"),
        ("new york", "is 2 words"),
    ],
)
def test_bad_hotwords_say_what_to_write(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Hotwords.parse([spec])


def test_hotwords_are_normalized_like_transcripts() -> None:
    hot = Hotwords.parse(["Zelda", "don't:2.5", "x:-1"])
    assert hot.boosts == (("zelda", 3.0), ("dont", 2.5), ("x", -1.0))
    with pytest.raises(ValueError, match="one normalized word"):
        Hotwords((("Zelda", 1.0),))


def test_with_words_builds_the_fused_decoder(lm: WordLM) -> None:
    beam = BeamDecoder(4)
    assert with_words(beam, DEFAULT_ALPHABET) is beam  # nothing to fuse: unchanged
    fused = with_words(beam, DEFAULT_ALPHABET, lm, Hotwords.parse(["zelda"]), 0.5)
    assert isinstance(fused, LMBeamDecoder) and isinstance(fused.lm, NoCharLM)
    assert fused.describe() == "beam 4 + 3-gram word LM (weight 0.5, bonus 0) + 1 hotword"
    chars = LMBeamDecoder(CharLM.train(TEXT, order=4), 8)
    assert with_words(chars, DEFAULT_ALPHABET, lm).describe() == (
        "beam 8 + 4-gram character LM (weight 0.5, bonus 1) + 3-gram word LM (weight 1, bonus 0)"
    )
    with pytest.raises(ValueError, match="greedy decoder cannot use a word LM"):
        with_words(GreedyDecoder(), DEFAULT_ALPHABET, lm)
    ids, _ = fused.decode([DOUBT])[0]
    assert TOK.decode(ids) == "the cat sat"


# --- the model directory and the command line ------------------------------------------------


def _model_dir(tmp_path: Path) -> Path:
    """The shipped model's ONNX export and config, without its LMs."""
    if not (MODEL / "model.onnx").is_file():
        pytest.skip("the shipped model has no model.onnx")
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "model.onnx"):
        shutil.copy(MODEL / name, folder / name)
    return folder


def test_a_model_directory_s_words_arpa_is_used_by_beam_search(lm: WordLM, tmp_path: Path) -> None:
    from asr.transcribe import Transcriber

    folder = _model_dir(tmp_path)
    assert "word LM" not in Transcriber.load(folder).describe_decoder("beam", 4)
    lm.save(folder / "words.arpa")
    t = Transcriber.load(folder, hotwords=Hotwords.parse(["zelda"]), word_weight=0.2)
    assert t.describe_decoder("beam", 4) == (
        f"beam 4 + 3-gram word LM {folder / 'words.arpa'} (weight 0.2, bonus 0) + 1 hotword"
    )
    assert t.describe_decoder("greedy", 4) == "greedy"
    assert "word LM" not in Transcriber.load(folder, word_lm=None).describe_decoder("beam", 4)
    (folder / "words.arpa").write_text("\\data\\\nngram 1=x\n")
    with pytest.raises(ConfigError, match=r"words.arpa, line 2: bad count line"):
        Transcriber.load(folder).decoder("beam", 4)


def test_asr_lm_word_writes_an_arpa_file(tmp_path: Path, capsys) -> None:
    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXT) + "\nThe Cat sat!\n")
    out = tmp_path / "words.arpa"
    assert main(["lm", "--word", str(text), "--out", str(out), "--min-count", "1"]) == 0
    assert "3-gram word LM (ARPA) from 11 sentences" in capsys.readouterr().out
    model = WordLM.load(out)
    assert model.order == 3 and "francisco" in model
    assert main(["lm", "--word", str(text), "--out", str(out)]) == 2  # exists: no --force
    assert "already exists" in capsys.readouterr().err
    assert main(["lm", str(text), "--out", str(tmp_path / "chars.arpa")]) == 2
    assert "add --word" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--decoder", "beam", "--hotword", "zelda:x"], "boost 'x' is not a number"),
        (["--decoder", "greedy", "--hotword", "zelda"], "--hotword is used by beam search only"),
        (["--decoder", "beam", "--word-lm", "missing.arpa"], "missing.arpa: word language model"),
        (["--decoder", "beam", "--word-lm", "w.arpa", "--no-word-lm"], "contradict"),
    ],
)
def test_transcribe_refuses_bad_word_options_in_one_line(extra, message, capsys) -> None:
    assert main(["transcribe", str(SAMPLES / "006075.wav"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
