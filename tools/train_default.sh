#!/usr/bin/env bash
# The shipped default model from nothing: its corpora, the eleven training stages of
# docs/MODEL_CARD.md ("Training stages") one after another, then its word LM, into
# $OUT/s1 ... $OUT/s11; $OUT/s11 is a complete model directory (model, config, character
# LM tuned on real + synthetic dev, words.arpa). checkpoints/default is never touched.
#
# Rerunning it resumes: a finished stage is skipped, a stopped one continues after its last
# epoch (asr train --resume), corpora and packs already made are reused.
#
# Hours on 2 CPU cores, from each stage's epochs at the throughput measured for it (MODEL_CARD
# "Training stages", with the current code's 284x real time for stages 1-7): corpora and
# packs ~0.8 h; stages 1-2 (5.4 h corpus, 137 epochs) ~2.9 h; 3-5 (21.5 h, 36 epochs) ~2.8 h;
# 6-7 (43 and 64.6 h, 12 epochs) ~2.3 h; 8-11 (real voices beside the synthetic speech, 16
# epochs) ~3.9 h; the LMs ~0.5 h: about 13 h.
# The chain has not been timed end to end in one go: stages 1-2 of the shipped model ran
# on a GPU, the rest in sessions on 2 cores. A rerun gives a model of the same recipe, not
# the same weights (random initialisation, takes, batch order and augmentation).
#
# Needs what tools/real_speech_stage.sh needs: espeak-ng, flite, sox, fortunes, Debian
# non-free uqm-voice + uqm-content, flight-of-the-amazon-queen, beneath-a-steel-sky (and
# drascula, whose dev and test text the word LM leaves out).
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

epochs_done() {  # rows of a run's history.csv (0 when there is none)
  if [ -f "$1/history.csv" ]; then echo $(($(wc -l < "$1/history.csv") - 1)); else echo 0; fi
}

# stage NAME EPOCHS START ARGS...: asr train into $OUT/NAME for EPOCHS epochs; START is
# "--config FILE" or "--init-from DIR" for a new run; a run already there resumes instead
stage() {
  local name=$1 epochs=$2 start=$3 from=$4
  shift 4
  local dir="$OUT/$name"
  if [ "$(epochs_done "$dir")" -ge "$epochs" ]; then
    echo "$dir: $epochs epochs done"
    return
  fi
  if [ -f "$dir/config.json" ]; then
    run asr train "$@" --out "$dir" --epochs "$epochs" --resume
  else
    run asr train "$@" --out "$dir" --epochs "$epochs" "$start" "$from"
  fi
}

corpus() {  # corpus DIR HOURS [TAKES_SEED]: a synthetic corpus from the fortunes
  [ -f "$1/train.jsonl" ] || run python3 tools/make_corpus.py --text data/text/sentences.txt \
    --text /usr/share/games/fortunes --out "$1" --hours "$2" --seed 0 \
    --takes-seed "${3:-0}" --jobs 2
}

pack() {  # pack MANIFEST PACK: features once into disk shards (again: only changed audio)
  run asr pack "$1" --out "$2" --skip-invalid
}

# --- corpora: synthetic ones from the fortunes, real ones from the games -------------------
corpus corpora/default 6
corpus corpora/big 24
corpus corpora/big2 24 1
corpus corpora/big3 24 2
[ -f corpora/uqm/train.jsonl ] || run python3 tools/uqm_corpus.py --out corpora/uqm
[ -f corpora/fotaq/train.jsonl ] || run python3 tools/fotaq_corpus.py --out corpora/fotaq
[ -f corpora/bass/train.jsonl ] || run python3 tools/bass_corpus.py --out corpora/bass
# Drascula trains nothing here, but the word LM holds its dev and test text out
if [ ! -f corpora/drascula/train.jsonl ] && [ -d /usr/share/scummvm/drascula ]; then
  run python3 tools/drascula_corpus.py --out corpora/drascula
fi
run mkdir -p cache "$OUT"
pack corpora/default/train.jsonl cache/default_train.pack
pack corpora/default/val.jsonl cache/default_val.pack
for c in big big2 big3; do pack "corpora/$c/train.jsonl" "cache/${c}_train.pack"; done
[ -f "$OUT/words.arpa" ] || run python3 tools/build_word_lm.py --out "$OUT/words.arpa"

# --- stages 1-7: synthetic speech, synthetic val (held-out sentences) ----------------------
# 1-2: the first corpus, batch 64, constant learning rate, masking but no warp (the warp
# came with stage 5)
syn=(--val cache/default_val.pack --skip-invalid)
stage s1 65 --config data/recipes/default_model.json --train cache/default_train.pack \
  "${syn[@]}" --batch-size 64 --learning-rate 1e-3 --no-warp
stage s2 72 --init-from "$OUT/s1" --train cache/default_train.pack \
  "${syn[@]}" --batch-size 64 --learning-rate 4e-4 --no-warp
# 3: four times the data (the shipped run was cut by its session after 20 of 40 epochs)
stage s3 20 --init-from "$OUT/s2" --train cache/big_train.pack "${syn[@]}" \
  --learning-rate 5e-4 --no-warp
stage s4 9 --init-from "$OUT/s3" --train cache/big_train.pack "${syn[@]}" \
  --learning-rate 3e-4 --lr-schedule cosine --no-warp
stage s5 7 --init-from "$OUT/s4" --train cache/big_train.pack "${syn[@]}" \
  --learning-rate 3e-4 --lr-schedule cosine
stage s6 6 --init-from "$OUT/s5" --train cache/big_train.pack cache/big2_train.pack \
  "${syn[@]}" --learning-rate 2e-4 --lr-schedule cosine
stage s7 6 --init-from "$OUT/s6" \
  --train cache/big_train.pack cache/big2_train.pack cache/big3_train.pack \
  "${syn[@]}" --learning-rate 2e-4 --lr-schedule cosine

# --- stages 8-11: real voices (tools/real_speech_stage.sh), chosen by real-dev CER --------
# 8-10 only pass their weights on: no character LM of their own (LM=0)
real() {  # real NAME INIT EPOCHS [VAR=VALUE...]: done when trained (and its LM made, unless LM=0)
  local name=$1 init=$2 epochs=$3
  shift 3
  local needs_lm=1
  [[ " $* " == *" LM=0 "* ]] && needs_lm=0
  if [ "$(epochs_done "$OUT/$name")" -ge "$epochs" ] \
    && { [ $needs_lm = 0 ] || [ -f "$OUT/$name/lm.npz" ]; }; then
    echo "$OUT/$name: done"
    return
  fi
  # every setting the stage script reads is named, so none leaks in from the caller's shell
  run env OUT="$OUT/$name" INIT="$init" EPOCHS="$epochs" WORDS="$OUT/words.arpa" CONFIG= \
    EXTRA= LR=3e-4 SYNTH_COPIES=1 TUNE=corpora/real_dev.jsonl LM=1 "$@" \
    bash tools/real_speech_stage.sh
}
real s8 "$OUT/s7" 6 SOURCES=uqm LM=0
real s9 "$OUT/s8" 4 SOURCES="uqm fotaq" LM=0
real s10 "$OUT/s9" 4 SOURCES="uqm fotaq bass" LM=0
real s11 "$OUT/s10" 2 SOURCES="uqm fotaq bass" LR=1e-4 SYNTH_COPIES=2 \
  TUNE=corpora/dev_mixed.jsonl
echo "the model: $OUT/s11 (asr transcribe --model $OUT/s11 ...)"
