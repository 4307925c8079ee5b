#!/usr/bin/env bash
# Beam-5 test BLEU of a checkpoint, tokenized (as the paper reports) and
# sacreBLEU on detokenized output (with its signature); see
# scripts/score_generate.py.
#
#   score.sh DATA_BIN CHECKPOINT RAW_REF OUT_DIR [extra fairseq-generate flags]
#
# BPE=sentencepiece (default; Multi30k) or subword_nmt (IWSLT14, WMT14: then the
# hypotheses are Moses-detokenized for sacreBLEU). COMPOUND_SPLIT=1 for WMT14
# En-De's tokenized BLEU. Writes OUT_DIR/{generate.txt, hyp.txt, bleu.json}.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ $# -lt 4 ]; then sed -n '2,10p' "$0" >&2; exit 2; fi
DATA=$1; CKPT=$2; REF=$3; OUT=$4; shift 4
BPE=${BPE:-sentencepiece}
case "$BPE" in
  sentencepiece) REMOVE=(--remove-bpe sentencepiece); DETOK=none ;;
  subword_nmt) REMOVE=(--remove-bpe); DETOK=moses ;;
  *) echo "score.sh: BPE: expected sentencepiece or subword_nmt, got '$BPE'" >&2; exit 2 ;;
esac
SPLIT=(); [ -n "${COMPOUND_SPLIT:-}" ] && SPLIT=(--compound-split)
mkdir -p "$OUT"
# --required-batch-size-multiple 1: fairseq 0.12 drops a last batch of fewer
# than 8 sentences (facebookresearch/fairseq#5036).
fairseq-generate "$DATA" --user-dir "$ROOT/rdrop_fairseq" --gen-subset test --path "$CKPT" \
  --beam 5 --max-tokens 8000 "${REMOVE[@]}" --required-batch-size-multiple 1 \
  "$@" > "$OUT/generate.txt" 2> "$OUT/generate.log" || { tail -5 "$OUT/generate.log" >&2; exit 1; }
"${PYTHON:-python}" "$ROOT/scripts/score_generate.py" "$OUT/generate.txt" --ref "$REF" \
  --detok "$DETOK" "${SPLIT[@]}" --json "$OUT/bleu.json" --hyp-out "$OUT/hyp.txt"
