#!/usr/bin/env bash
# The shipped default model from nothing: its corpora, its word LM, then the two training
# runs of docs/MODEL_CARD.md ("Training"):
#   1. stage 13: the 256 x 4 BiGRU with a stride-3 front end (data/recipes/capacity_256x4s3.json)
#      from fresh weights, 20 cosine epochs from 1e-3 on the synthetic corpus (twice an epoch)
#      beside three games' real voices (each twice), chosen by real-dev CER;
#   2. stage 15: from stage 13, 3 cosine epochs from 3e-4 on the same mix plus each game's
#      train split rendered once through rooms, noise and phone lines, with 5 % of rows
#      turned into noise with an empty label; chosen by real-dev CER; then its character LM,
#      tuned on real + synthetic dev.
# Into $OUT/model, a complete model directory (model, config, character LM, words.arpa);
# checkpoints/default is never touched.
#
# Rerunning it resumes: finished steps are skipped, a stopped run continues from its last
# resume point (asr train --resume), corpora, renders and packs already made are reused.
#
# Hours on 2 CPU cores, measured for the shipped runs (docs/EXPERIMENTS.md, stages 13, 15):
# corpora and packs ~0.7 h; stage 13: 20 epochs of 69 h of speech at 135-211x real time,
# 20-30 minutes each, ~8.5 h; channel renders and packs ~0.2 h; stage 15: 3 epochs of 82 h
# at 51-58x real time, ~1.5 h each, ~4.5 h; the word LM and the character LM with its
# tuning ~0.5 h: about 14.5 h.
# A rerun gives a model of the same recipe, not the same weights (random initialisation,
# takes, batch order and augmentation).
#
# Needs what tools/real_speech_stage.sh needs: espeak-ng, flite, sox, fortunes, Debian
# non-free uqm-voice + uqm-content, flight-of-the-amazon-queen, beneath-a-steel-sky (and
# drascula, whose dev and test text the word LM leaves out); pyroomacoustics for the rooms.
# DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/default_chain}

run() {  # print a command (quoted so it can be pasted back), then run it unless DRY_RUN=1
  printf '+'
  printf ' %q' "$@"
  echo
  if [ "${DRY_RUN:-0}" = 0 ]; then "$@"; fi
}

corpus() {  # corpus DIR HOURS: a synthetic corpus from the fortunes
  [ -f "$1/train.jsonl" ] || run python3 tools/make_corpus.py --text data/text/sentences.txt \
    --text /usr/share/games/fortunes --out "$1" --hours "$2" --seed 0 --takes-seed 0 --jobs 2
}

# --- corpora: synthetic ones from the fortunes, real ones from the games -------------------
corpus corpora/default 6  # its val (held-out voices) joins real dev to tune the LM
corpus corpora/big 24
[ -f corpora/uqm/train.jsonl ] || run python3 tools/uqm_corpus.py --out corpora/uqm
[ -f corpora/fotaq/train.jsonl ] || run python3 tools/fotaq_corpus.py --out corpora/fotaq
[ -f corpora/bass/train.jsonl ] || run python3 tools/bass_corpus.py --out corpora/bass
# Drascula trains nothing here, but the word LM holds its dev and test text out
if [ ! -f corpora/drascula/train.jsonl ] && [ -d /usr/share/scummvm/drascula ]; then
  run python3 tools/drascula_corpus.py --out corpora/drascula
fi
run mkdir -p "$OUT"
[ -f "$OUT/words.arpa" ] || run python3 tools/build_word_lm.py --out "$OUT/words.arpa"

# --- stage 13 (tools/real_speech_stage.sh packs the features and trains; no character LM,
# the weights only pass on); every setting the stage script reads is named, so none leaks in
# from the caller's shell
run env OUT="$OUT/stage13" INIT= EPOCHS=20 WORDS="$OUT/words.arpa" \
  CONFIG=data/recipes/capacity_256x4s3.json EXTRA= LR=1e-3 SOURCES="uqm fotaq bass" \
  SYNTH_COPIES=2 STRETCH=0 NOISE_ROWS=0 SAVE_EVERY=30 \
  TUNE=corpora/dev_mixed.jsonl LM=0 bash tools/real_speech_stage.sh

# --- each game's train split once more, through rooms, noise and phone lines ------------
run mkdir -p cache
for g in uqm fotaq bass; do
  [ -f corpora/${g}_channel/manifest.jsonl ] || run python3 tools/augment_corpus.py \
    corpora/$g/train.jsonl --out corpora/${g}_channel --seed 11
  [ -d cache/${g}_channel.pack ] || run asr pack corpora/${g}_channel/manifest.jsonl \
    --out cache/${g}_channel.pack --skip-invalid
done

# --- stage 15: from stage 13, with the rendered copies and noise rows; then the character LM
run env OUT="$OUT/model" INIT="$OUT/stage13" EPOCHS=3 WORDS="$OUT/words.arpa" CONFIG= \
  EXTRA="cache/uqm_channel.pack cache/fotaq_channel.pack cache/bass_channel.pack" LR=3e-4 \
  SOURCES="uqm fotaq bass" SYNTH_COPIES=2 STRETCH=0 NOISE_ROWS=0.05 SAVE_EVERY=30 \
  TUNE=corpora/dev_mixed.jsonl LM=1 bash tools/real_speech_stage.sh
echo "the model: $OUT/model (asr transcribe --model $OUT/model ...)"
