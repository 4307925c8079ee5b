#!/usr/bin/env bash
# The standard IWSLT14 De-En preparation (as fairseq's prepare-iwslt14.sh):
# download the IWSLT 2014 archive, clean, Moses-tokenise and lowercase
# (sacremoses), joint BPE with 10,000 merges (subword-nmt), fairseq-preprocess.
# Expected: 160,239 train / 7,283 valid / 6,750 test pairs.
#
#   prepare-iwslt14.sh [OUT_DIR]
#
# IWSLT14_ARCHIVE=/path/de-en.tgz uses a local copy instead of downloading.
# IWSLT17_DIR=DIR (a folder with the IWSLT 2017 test archives de-en.tgz and
# en-de.tgz) also prepares tst2016 and tst2017 the same way, as extra held-out
# test sets: fairseq subsets test1 (tst2016) and test2 (tst2017), references
# OUT_DIR/tst2016.detok.en and OUT_DIR/tst2017.detok.en for score.sh.
# BPE_CODE=FILE applies that code (e.g. fairseq's standard one) instead of
# learning BPE_MERGES merges on train.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/work/iwslt14}
URL=${IWSLT14_URL:-http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz}
ARCHIVE=${IWSLT14_ARCHIVE:-$OUT/orig/de-en.tgz}
BPE_MERGES=${BPE_MERGES:-10000}
PY=${PYTHON:-python}

mkdir -p "$OUT/orig" "$OUT/tok"
if [ ! -s "$ARCHIVE" ]; then
  echo "prepare-iwslt14: downloading $URL"
  if ! curl -fL --connect-timeout 20 --retry 2 -o "$ARCHIVE.part" "$URL"; then
    rm -f "$ARCHIVE.part"
    cat >&2 <<MSG
prepare-iwslt14: could not download the IWSLT 2014 De-En archive:
    $URL
This machine may be offline. Fetch that file elsewhere and either put it at
    $ARCHIVE
or point IWSLT14_ARCHIVE at it, then rerun this script.
MSG
    exit 1
  fi
  mv "$ARCHIVE.part" "$ARCHIVE"
fi
tar -xzf "$ARCHIVE" -C "$OUT/orig"
SRC_DIR=$OUT/orig/de-en
[ -d "$SRC_DIR" ] || { echo "prepare-iwslt14: $ARCHIVE has no de-en/ folder" >&2; exit 1; }

"$PY" "$HERE/iwslt14_text.py" train "$SRC_DIR" "$OUT/tok"
"$PY" "$HERE/iwslt14_text.py" test "$SRC_DIR" "$OUT/tok"
EXTRA_TESTS=
if [ -n "${IWSLT17_DIR:-}" ]; then
  mkdir -p "$OUT/orig/iwslt17"
  for a in de-en en-de; do
    [ -s "$IWSLT17_DIR/$a.tgz" ] || { echo "prepare-iwslt14: IWSLT17_DIR: no $IWSLT17_DIR/$a.tgz" \
      "(the folder must hold the IWSLT 2017 test archives de-en.tgz and en-de.tgz)" >&2; exit 2; }
    tar -xzf "$IWSLT17_DIR/$a.tgz" -C "$OUT/orig/iwslt17"
  done
  "$PY" "$HERE/iwslt14_text.py" iwslt17 "$OUT/orig/iwslt17" "$OUT/tok"
  EXTRA_TESTS="tst2016 tst2017"
fi

# Detokenized (still lowercased) test references, for sacreBLEU in score.sh.
for t in test $EXTRA_TESTS; do
  "$PY" -c "import sys; from sacremoses import MosesDetokenizer as D; d = D(lang='en'); [print(d.detokenize(l.split())) for l in sys.stdin]" \
    < "$OUT/tok/$t.en" > "$OUT/$t.detok.en"
done

EXTRA_TESTS=$EXTRA_TESTS bash "$HERE/bpe-and-binarize.sh" "$OUT" de en "$BPE_MERGES"

counts="$(wc -l < "$OUT/tok/train.en") / $(wc -l < "$OUT/tok/valid.en") / $(wc -l < "$OUT/tok/test.en")"
echo "prepare-iwslt14: wrote $OUT/data-bin: train / valid / test = $counts pairs"
[ -z "$EXTRA_TESTS" ] || echo "prepare-iwslt14: extra test sets: test1 = IWSLT17 tst2016 ($(wc -l < "$OUT/tok/tst2016.en") pairs)," \
  "test2 = tst2017 ($(wc -l < "$OUT/tok/tst2017.en") pairs); score with --gen-subset test1 and $OUT/tst2016.detok.en"
if [ "$counts" != "160239 / 7283 / 6750" ]; then
  echo "prepare-iwslt14: note: the standard split is 160239 / 7283 / 6750" >&2
fi
