#!/usr/bin/env bash
# Joint subword-nmt BPE learned on train, applied to every split, then
# fairseq-preprocess with a joined dictionary. Shared by prepare-iwslt14.sh and
# prepare-wmt14en2de.sh.
#
#   bpe-and-binarize.sh OUT_DIR SRC TGT MERGES
#
# Reads OUT_DIR/tok/{train,valid,test}.{SRC,TGT}; writes OUT_DIR/code,
# OUT_DIR/bpe/ and OUT_DIR/data-bin/.
# BPE_CODE=FILE applies that BPE code instead of learning one (e.g. fairseq's
# standard IWSLT14 code, to check the pipeline against the standard files).
# EXTRA_TESTS="NAME ..." binarizes OUT_DIR/tok/NAME.{SRC,TGT} as further test
# sets: fairseq subsets test1, test2, ... in that order (--gen-subset test1).
set -euo pipefail
OUT=$1; SRC=$2; TGT=$3; MERGES=$4
mkdir -p "$OUT/bpe"
if [ -n "${BPE_CODE:-}" ]; then
  [ -s "$BPE_CODE" ] || { echo "bpe-and-binarize: BPE_CODE: no such file: $BPE_CODE" >&2; exit 2; }
  [ "$BPE_CODE" -ef "$OUT/code" ] || cp "$BPE_CODE" "$OUT/code"
else
  cat "$OUT/tok/train.$SRC" "$OUT/tok/train.$TGT" | subword-nmt learn-bpe -s "$MERGES" > "$OUT/code"
fi
read -r -a EXTRA <<< "${EXTRA_TESTS:-}"
TESTPREF=$OUT/bpe/test
for split in train valid test "${EXTRA[@]}"; do
  for l in "$SRC" "$TGT"; do
    subword-nmt apply-bpe -c "$OUT/code" < "$OUT/tok/$split.$l" > "$OUT/bpe/$split.$l"
  done
done
for t in "${EXTRA[@]}"; do TESTPREF+=",$OUT/bpe/$t"; done
rm -rf "$OUT/data-bin"
fairseq-preprocess --source-lang "$SRC" --target-lang "$TGT" \
  --trainpref "$OUT/bpe/train" --validpref "$OUT/bpe/valid" --testpref "$TESTPREF" \
  --destdir "$OUT/data-bin" --joined-dictionary --workers 2 > "$OUT/preprocess.log" 2>&1 \
  || { cat "$OUT/preprocess.log" >&2; exit 1; }
