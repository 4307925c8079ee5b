#!/usr/bin/env bash
# The standard WMT14 En-De preparation (as fairseq's prepare-wmt14en2de.sh):
# europarl v7 + commoncrawl + news-commentary v12, newstest2014 (full) as test;
# Moses normalisation and tokenisation (sacremoses), clean-corpus-n (ratio 1.5,
# 1-250), joint BPE with 40,000 merges (subword-nmt), fairseq-preprocess.
#
#   prepare-wmt14en2de.sh [OUT_DIR]
#
# WMT14_ORIG=/path/to/folder with the five archives below uses local copies.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/work/wmt14_en_de}
ORIG=${WMT14_ORIG:-$OUT/orig}
BPE_MERGES=${BPE_MERGES:-40000}
PY=${PYTHON:-python}
URLS=(
  "${WMT14_EUROPARL_URL:-http://statmt.org/wmt13/training-parallel-europarl-v7.tgz}"
  "${WMT14_COMMONCRAWL_URL:-http://statmt.org/wmt13/training-parallel-commoncrawl.tgz}"
  "${WMT14_NC_URL:-http://data.statmt.org/wmt17/translation-task/training-parallel-nc-v12.tgz}"
  "${WMT14_DEV_URL:-http://data.statmt.org/wmt17/translation-task/dev.tgz}"
  "${WMT14_TEST_URL:-http://statmt.org/wmt14/test-full.tgz}"
)

mkdir -p "$ORIG" "$OUT/tok"
for url in "${URLS[@]}"; do
  file="$ORIG/$(basename "$url")"
  if [ ! -s "$file" ]; then
    echo "prepare-wmt14en2de: downloading $url"
    if ! curl -fL --connect-timeout 20 --retry 2 -o "$file.part" "$url"; then
      rm -f "$file.part"
      {
        echo "prepare-wmt14en2de: could not download $url"
        echo "This machine may be offline. Fetch these files elsewhere and put them in"
        echo "    $ORIG"
        echo "(or point WMT14_ORIG at a folder holding them), then rerun:"
        for u in "${URLS[@]}"; do echo "    $(basename "$u")  <-  $u"; done
      } >&2
      exit 1
    fi
    mv "$file.part" "$file"
  fi
  tar -xzf "$file" -C "$ORIG"
done

"$PY" "$HERE/wmt14_text.py" train "$ORIG" "$OUT/tok"
"$PY" "$HERE/wmt14_text.py" test "$ORIG" "$OUT/tok"
bash "$HERE/bpe-and-binarize.sh" "$OUT" en de "$BPE_MERGES"
echo "prepare-wmt14en2de: wrote $OUT/data-bin: train / valid / test =" \
  "$(wc -l < "$OUT/tok/train.en") / $(wc -l < "$OUT/tok/valid.en") / $(wc -l < "$OUT/tok/test.en") pairs;" \
  "sacreBLEU reference: $OUT/tok/test.raw.de"
