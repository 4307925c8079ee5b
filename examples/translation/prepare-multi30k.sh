#!/usr/bin/env bash
# Multi30k De->En for fairseq: joint sentencepiece BPE (learned on train only),
# then fairseq-preprocess with a joined dictionary. Works offline.
#
#   prepare-multi30k.sh [RAW_DIR] [OUT_DIR] [VOCAB_SIZE] [TRAIN_LINES]
#
# RAW_DIR holds {train,val,test}.{de,en} (default ../shared/data/multi30k from
# the repository root). OUT_DIR gets spm.model, bpe/*, and data-bin/ for
# fairseq-train. TRAIN_LINES (optional) keeps only the first N training pairs.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RAW=${1:-$ROOT/../shared/data/multi30k}
OUT=${2:-$ROOT/work/multi30k}
VOCAB=${3:-8000}
TRAIN_LINES=${4:-}
SRC=de; TGT=en
PY=${PYTHON:-python}

for split in train val test; do
  for l in $SRC $TGT; do
    if [ ! -s "$RAW/$split.$l" ]; then
      echo "prepare-multi30k: missing $RAW/$split.$l (expected {train,val,test}.{de,en})" >&2
      exit 1
    fi
  done
done

mkdir -p "$OUT/raw" "$OUT/bpe"
for split in train val test; do
  for l in $SRC $TGT; do
    if [ "$split" = train ] && [ -n "$TRAIN_LINES" ]; then
      head -n "$TRAIN_LINES" "$RAW/$split.$l" > "$OUT/raw/$split.$l"
    else
      cp "$RAW/$split.$l" "$OUT/raw/$split.$l"
    fi
  done
done

"$PY" "$HERE/spm_bpe.py" train --model "$OUT/spm" --vocab-size "$VOCAB" \
  "$OUT/raw/train.$SRC" "$OUT/raw/train.$TGT"
for split in train val test; do
  for l in $SRC $TGT; do
    "$PY" "$HERE/spm_bpe.py" encode --model "$OUT/spm.model" < "$OUT/raw/$split.$l" > "$OUT/bpe/$split.$l"
  done
done

rm -rf "$OUT/data-bin"
fairseq-preprocess --source-lang $SRC --target-lang $TGT \
  --trainpref "$OUT/bpe/train" --validpref "$OUT/bpe/val" --testpref "$OUT/bpe/test" \
  --destdir "$OUT/data-bin" --joined-dictionary --workers 2 \
  > "$OUT/preprocess.log" 2>&1 || { cat "$OUT/preprocess.log" >&2; exit 1; }
echo "prepare-multi30k: wrote $OUT/data-bin ($(wc -l < "$OUT/raw/train.$SRC") training pairs)"
