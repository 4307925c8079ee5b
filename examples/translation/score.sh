#!/usr/bin/env bash
# Test BLEU of a checkpoint, tokenized (as the paper reports) and sacreBLEU on
# detokenized output (with its signature); see scripts/score_generate.py.
#
#   score.sh DATA_BIN CHECKPOINT RAW_REF OUT_DIR [extra fairseq-generate flags]
#
# PRESET (train.sh's names) multi30k-cpu (default here): sentencepiece, beam 5.
#        iwslt14: subword-nmt BPE, beam 5 (the official run_inference.sh);
#                 bleu.json also has the compound-split tokenized BLEU that
#                 script's compound_split_bleu.sh reports.
#        wmt14:   subword-nmt BPE, beam 4, lenpen 0.6, compound-split tokenized
#                 BLEU (dropreg/R-Drop issue 19; fairseq's scaling_nmt recipe).
# BPE=sentencepiece|subword_nmt and COMPOUND_SPLIT=1 override the preset's;
# extra flags go to fairseq-generate last (e.g. --gen-subset test1).
# Writes OUT_DIR/{generate.txt, hyp.txt, bleu.json}. RDROP_CUDNN_ATTENTION: 0
# unless set, as in train.sh (whose validation decodes that way; docs/gpu.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# This checkout's code, not whichever one is installed: a run from a worktree at a fixed
# commit stays at that commit (rdrop_analysis for scripts/, rdrop_fairseq for python -m).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ $# -lt 4 ]; then sed -n '2,16p' "$0" >&2; exit 2; fi
export RDROP_CUDNN_ATTENTION=${RDROP_CUDNN_ATTENTION:-0}
DATA=$1; CKPT=$2; REF=$3; OUT=$4; shift 4
case "${PRESET:-multi30k-cpu}" in
  multi30k-cpu) P_BPE=sentencepiece; P_SPLIT=; TGT=en; SEARCH=(--beam 5) ;;
  iwslt14) P_BPE=subword_nmt; P_SPLIT=; TGT=en; SEARCH=(--beam 5) ;;
  wmt14) P_BPE=subword_nmt; P_SPLIT=1; TGT=de; SEARCH=(--beam 4 --lenpen 0.6) ;;
  *) echo "score.sh: PRESET: expected iwslt14, wmt14 or multi30k-cpu, got '$PRESET'" >&2; exit 2 ;;
esac
BPE=${BPE:-$P_BPE}
case "$BPE" in
  sentencepiece) REMOVE=(--remove-bpe sentencepiece); DETOK=none ;;
  subword_nmt) REMOVE=(--remove-bpe); DETOK=moses ;;
  *) echo "score.sh: BPE: expected sentencepiece or subword_nmt, got '$BPE'" >&2; exit 2 ;;
esac
SPLIT=(); [ -n "${COMPOUND_SPLIT-$P_SPLIT}" ] && SPLIT=(--compound-split)
mkdir -p "$OUT"
# --required-batch-size-multiple 1: fairseq 0.12 drops a last batch of fewer
# than 8 sentences (facebookresearch/fairseq#5036).
fairseq-generate "$DATA" --user-dir "$ROOT/rdrop_fairseq" --gen-subset test --path "$CKPT" \
  "${SEARCH[@]}" --max-tokens 8000 "${REMOVE[@]}" --required-batch-size-multiple 1 \
  "$@" > "$OUT/generate.txt" 2> "$OUT/generate.log" || { tail -5 "$OUT/generate.log" >&2; exit 1; }
"${PYTHON:-python}" "$ROOT/scripts/score_generate.py" "$OUT/generate.txt" --ref "$REF" \
  --lang "$TGT" --detok "$DETOK" "${SPLIT[@]}" --json "$OUT/bleu.json" --hyp-out "$OUT/hyp.txt"
