#!/usr/bin/env bash
# Joint subword-nmt BPE learned on train, applied to every split, then
# fairseq-preprocess with a joined dictionary. Shared by prepare-iwslt14.sh and
# prepare-wmt14en2de.sh.
#
#   bpe-and-binarize.sh OUT_DIR SRC TGT MERGES
#
# Reads OUT_DIR/tok/{train,valid,test}.{SRC,TGT}; writes OUT_DIR/code,
# OUT_DIR/bpe/ and OUT_DIR/data-bin/.
set -euo pipefail
OUT=$1; SRC=$2; TGT=$3; MERGES=$4
mkdir -p "$OUT/bpe"
cat "$OUT/tok/train.$SRC" "$OUT/tok/train.$TGT" | subword-nmt learn-bpe -s "$MERGES" > "$OUT/code"
for split in train valid test; do
  for l in "$SRC" "$TGT"; do
    subword-nmt apply-bpe -c "$OUT/code" < "$OUT/tok/$split.$l" > "$OUT/bpe/$split.$l"
  done
done
rm -rf "$OUT/data-bin"
fairseq-preprocess --source-lang "$SRC" --target-lang "$TGT" \
  --trainpref "$OUT/bpe/train" --validpref "$OUT/bpe/valid" --testpref "$OUT/bpe/test" \
  --destdir "$OUT/data-bin" --joined-dictionary --workers 2 > "$OUT/preprocess.log" 2>&1 \
  || { cat "$OUT/preprocess.log" >&2; exit 1; }
