#!/usr/bin/env bash
# The keyword models and keyword spotting from nothing (docs/EXPERIMENTS.md, "Two labelers
# for keyword spotting"): corpora, the per-frame speech finder, the encoder keyword model,
# and event F1 on long recordings built from held-out voices; and the spoken digits.
#
#   tools/keyword_recipe.sh [STEP ...]   steps: corpora frames encoder detect test keywords digits
#
# With no STEP it runs corpora, frames, encoder and detect. `keywords` retrains the shipped
# keyword model's recipe into runs/kw (checkpoints/keywords is never touched).
#   corpora   synthetic words (tools/keyword_corpus.py, ~3 min), the three games' speech
#             corpora (~4 min) and real keywords cut from them by forced alignment with
#             checkpoints/default (tools/word_clips.py, ~7 min)
#   frames    runs/kws_frames_mix: bidirectional per-frame crnn with the deltas + zero-crossing
#             -rate branch, 20 cosine epochs (~200 s each): it finds words
#   encoder   runs/enc_kw: a head on the frozen encoder of stage 11 (the default speech model
#             until 2026-11-30, taken from git), 30 cosine epochs: it names the spans
#   detect    val recordings scored with each labeler and with both averaged
#   test      synthetic and real test recordings, with the labelers and threshold that val
#             chose (LABELERS="checkpoints/keywords runs/enc_kw" THRESHOLD=0.5)
#   keywords  runs/kw: the shipped keyword model's recipe (cnn, 72 filters, 60 epochs)
#   digits    the digit corpora (~9 min with the games'), runs/enc_digits_t3 (stage 11's
#             encoder, its three RNN layers fine-tuned, 30 epochs, ~15 min) and its
#             accuracy on both test sets: the README's digits row
# Everything trains on synthetic + real train clips, best epoch by synthetic + real val.
# Rerunning skips finished steps; a stopped training continues (--resume).
# CORPORA=DIR and RUNS=DIR put the corpora and runs there (default corpora/ and runs/);
# DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${*:-corpora frames encoder detect}
CORPORA=${CORPORA:-corpora}
RUNS=${RUNS:-runs}
KW=$CORPORA/keywords
REAL=$CORPORA/keywords_real
DIG=$CORPORA/digits
DIG_REAL=$CORPORA/digits_real
TRAIN="$KW/train.jsonl $REAL/train.jsonl"
VAL="$KW/val.jsonl $REAL/val.jsonl"

run() {  # print a command (quoted so it can be pasted back), then run it unless DRY_RUN=1
  printf '+'
  printf ' %q' "$@"
  echo
  if [ "${DRY_RUN:-0}" = 0 ]; then "$@"; fi
}

train() {  # train OUT EPOCHS ARGS...: a classifier, resumed if its folder has a run
  local out=$1 epochs=$2
  shift 2
  if [ -f "$out/done" ]; then return; fi
  local resume=()
  if [ -f "$out/config.json" ]; then resume=(--resume); fi
  # shellcheck disable=SC2086
  run asr classify train --train $TRAIN --val $VAL --out "$out" --epochs "$epochs" \
    --learning-rate 3e-3 --lr-schedule cosine --batch-size 64 "${resume[@]}" "$@"
  [ "${DRY_RUN:-0}" = 0 ] && touch "$out/done"
  return 0
}

stage11() {  # the speech model whose encoder the word classifiers read through
  if [ ! -f $RUNS/stage11/model.keras ]; then
    echo "+ git archive cd7db5a checkpoints/default | tar -x -C $RUNS/stage11 --strip-components=2"
    if [ "${DRY_RUN:-0}" = 0 ]; then
      mkdir -p $RUNS/stage11
      git archive cd7db5a checkpoints/default | tar -x -C $RUNS/stage11 --strip-components=2
    fi
  fi
}

games() {  # the three games' speech corpora, where the real words are cut from
  for g in uqm fotaq bass; do
    [ -f "$CORPORA/$g/train.jsonl" ] || run python3 tools/${g}_corpus.py --out "$CORPORA/$g"
  done
}

for step in $STEPS; do
  case $step in
  corpora)
    [ -f $KW/train.jsonl ] || run python3 tools/keyword_corpus.py --preset keywords --out $KW
    games
    [ -f $REAL/test.jsonl ] || run python3 tools/word_clips.py --preset keywords --out $REAL \
      "$CORPORA/uqm" "$CORPORA/fotaq" "$CORPORA/bass"
    ;;
  frames)
    train $RUNS/kws_frames_mix 20 --config data/recipes/kws_frames.json --arch crnn \
      --frames 100 --per-frame --aux --bidirectional
    ;;
  encoder)
    stage11
    train $RUNS/enc_kw 30 --encoder $RUNS/stage11
    ;;
  detect)
    for labelers in checkpoints/keywords $RUNS/enc_kw "checkpoints/keywords $RUNS/enc_kw"; do
      # shellcheck disable=SC2086
      run python3 tools/detect_eval.py --model $RUNS/kws_frames_mix --manifest $KW/val.jsonl \
        --out $RUNS/detect_val --threshold 0.5 0.7 --label-with $labelers
    done
    ;;
  test)  # the labelers and threshold chosen on val: LABELERS="..." THRESHOLD=...
    # shellcheck disable=SC2086
    for manifest in $KW/test.jsonl $REAL/test.jsonl; do
      run python3 tools/detect_eval.py --model $RUNS/kws_frames_mix --manifest "$manifest" \
        --out "$RUNS/detect_$(basename "$(dirname "$manifest")")" --threshold "${THRESHOLD:-0.7}" \
        --label-with ${LABELERS:-$RUNS/enc_kw}
    done
    ;;
  keywords)
    train $RUNS/kw 60 --config data/recipes/keywords.json
    ;;
  digits)  # the README's digits row: corpora, the tuned encoder model, both test sets
    [ -f $DIG/train.jsonl ] || run python3 tools/keyword_corpus.py --preset digits --out $DIG
    games
    [ -f $DIG_REAL/test.jsonl ] || run python3 tools/word_clips.py --preset digits \
      --out $DIG_REAL "$CORPORA/uqm" "$CORPORA/fotaq" "$CORPORA/bass"
    stage11
    TRAIN="$DIG/train.jsonl $DIG_REAL/train.jsonl" VAL="$DIG/val.jsonl $DIG_REAL/val.jsonl" \
      train $RUNS/enc_digits_t3 30 --encoder $RUNS/stage11 --encoder-tune 3
    for manifest in $DIG/test.jsonl $DIG_REAL/test.jsonl; do
      run asr classify evaluate --model $RUNS/enc_digits_t3 --manifest "$manifest"
    done
    ;;
  *)
    echo "unknown step $step (corpora frames encoder detect test keywords digits)" >&2
    exit 2
    ;;
  esac
done
