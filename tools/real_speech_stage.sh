#!/usr/bin/env bash
# The real-speech stage: the shipped model fine-tuned on real voices (The Ur-Quan Masters'
# and Flight of the Amazon Queen's dialogue, each twice per epoch) beside the 21.5 h
# synthetic corpus, chosen by real-dev CER (both games' held-out speakers); then a character
# LM over the training text, tuned on real dev.
# Rerunning it resumes: finished steps are skipped, training continues from its last epoch.
#
# Needs: Debian non-free (uqm-voice uqm-content), flight-of-the-amazon-queen, fortunes,
# espeak-ng, flite, sox.
# Times measured on 2 shared cores (2026-11-29): corpus 10 min + UQM 20 s + packs 4 min;
# training about 13 min an epoch (37.85 h per epoch, ~175x real time).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/real2}
EPOCHS=${EPOCHS:-4}
INIT=${INIT:-checkpoints/default}
# CONFIG=data/recipes/X.json trains a new shape from fresh weights instead of from INIT
CONFIG=${CONFIG:-}
# the real sources trained on, each twice per epoch: stage 9 (shipped) used "uqm fotaq";
# SOURCES="uqm fotaq bass" adds Beneath a Steel Sky (apt-get install beneath-a-steel-sky),
# and "... drascula" Drascula (apt-get install drascula)
SOURCES=${SOURCES:-uqm fotaq}
LR=${LR:-3e-4}  # peak of the cosine schedule
SYNTH_COPIES=${SYNTH_COPIES:-1}  # times the synthetic corpus is given per epoch
STRETCH=${STRETCH:-0}  # asr train --stretch: a random tempo change per utterance, up to +-STRETCH
NOISE_ROWS=${NOISE_ROWS:-0}  # asr train --noise-rows: this share of rows becomes noise, label empty
SAVE_EVERY=${SAVE_EVERY:-30}  # asr train --save-every: minutes between resume points in an epoch
# more packs to train on, e.g. EXTRA=cache/big_channel.pack (the synthetic corpus through
# random rooms, noise and phone lines: tools/augment_corpus.py, then asr pack)
EXTRA=${EXTRA:-}
# the manifest the LM weight is tuned on (stage 11: real dev + synthetic val, mixed)
TUNE=${TUNE:-corpora/real_dev.jsonl}
LM=${LM:-1}  # 0: no character LM (a stage that only passes its weights on)
WORDS=${WORDS:-checkpoints/default/words.arpa}  # the word LM the model directory gets

[ -f corpora/big/train.jsonl ] || python3 tools/make_corpus.py --text data/text/sentences.txt \
    --text /usr/share/games/fortunes --out corpora/big --hours 24 --seed 0 --jobs 2
[ -f corpora/default/test.jsonl ] || python3 tools/make_corpus.py --text data/text/sentences.txt \
    --text /usr/share/games/fortunes --out corpora/default --hours 6 --seed 0 --jobs 2
[ -f corpora/uqm/train.jsonl ] || python3 tools/uqm_corpus.py --out corpora/uqm
[ -f corpora/fotaq/train.jsonl ] || python3 tools/fotaq_corpus.py --out corpora/fotaq
case " $SOURCES " in *" bass "*)
  [ -f corpora/bass/train.jsonl ] || python3 tools/bass_corpus.py --out corpora/bass ;;
esac
case " $SOURCES " in *" drascula "*)  # apt-get install drascula
  [ -f corpora/drascula/train.jsonl ] || python3 tools/drascula_corpus.py --out corpora/drascula ;;
esac
# real dev: both games' held-out speakers in one manifest (absolute paths)
# and dev_mixed: real dev + the synthetic val (held-out voices), for tuning the LM on both
python3 - <<'PY'
import json, os
for name, parts in (
    ("corpora/real_dev.jsonl", ("corpora/uqm/dev.jsonl", "corpora/fotaq/dev.jsonl")),
    ("corpora/dev_mixed.jsonl", ("corpora/real_dev.jsonl", "corpora/default/val.jsonl")),
):
    if os.path.exists(name):
        continue
    with open(name, "w") as out:
        for m in parts:
            folder = os.path.dirname(os.path.abspath(m))
            for line in open(m):
                row = json.loads(line)
                row["audio_filepath"] = os.path.join(folder, row["audio_filepath"])
                out.write(json.dumps(row) + "\n")
PY
mkdir -p cache
# features once into disk shards (asr pack); packing again only redoes changed audio
train=()
for source in $SOURCES; do
  asr pack "corpora/$source/train.jsonl" --out "cache/${source}_train.pack" --skip-invalid
  train+=("cache/${source}_train.pack" "cache/${source}_train.pack")
done
for pack in big/train real_dev; do
  asr pack "corpora/$pack.jsonl" --out "cache/$(echo "$pack" | tr / _).pack" --skip-invalid
done

for _ in $(seq "$SYNTH_COPIES"); do train+=(cache/big_train.pack); done
for pack in $EXTRA; do
  [ -d "$pack" ] || { echo "$pack: no such pack; make it with asr pack" >&2; exit 2; }
  train+=("$pack")
done
args=(--train "${train[@]}" --val cache/real_dev.pack
      --out "$OUT" --epochs "$EPOCHS" --learning-rate "$LR" --lr-schedule cosine --skip-invalid
      --stretch "$STRETCH" --noise-rows "$NOISE_ROWS" --save-every "$SAVE_EVERY")
if [ -f "$OUT/config.json" ]; then
  asr train "${args[@]}" --resume
elif [ -n "$CONFIG" ]; then
  asr train "${args[@]}" --config "$CONFIG"
else
  asr train "${args[@]}" --init-from "$INIT"
fi

# the shipped word LM takes part in tuning, as it will in use
[ -f "$OUT/words.arpa" ] || cp "$WORDS" "$OUT/"
[ "$LM" = 0 ] || [ -f "$OUT/lm.npz" ] || asr lm corpora/big/train.jsonl \
    $(for source in $SOURCES; do echo "corpora/$source/train.jsonl"; done) --unique --order 10 --out "$OUT/lm.npz" \
    --tune "$TUNE" --model "$OUT" --weights 0.5 0.7 0.9 --bonuses 0.5 1.0 1.5
