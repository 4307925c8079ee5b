#!/usr/bin/env bash
# One experiment of the CPU-scale R-Drop reproduction on Multi30k De->En.
#
#   train-multi30k.sh EXPERIMENT DATA_BIN SAVE_DIR [SEED] [extra fairseq-train flags...]
#
# EXPERIMENT: baseline | rdrop | kstep | realformer | realformer_rdrop
#   rdrop takes ALPHA (default 5) and kstep K (default 2) from the environment.
# Budget: MINUTES of training wall-clock (default 20) or MAX_UPDATE, whichever
# comes first. Validation (loss and beam-5 BLEU on val, detokenized sacreBLEU)
# every VALID_EVERY updates (default 100). JSON logs go to SAVE_DIR/train.log;
# TENSORBOARD_DIR, if set, also gets TensorBoard logs (needs tensorboardX).
#
# The model is the quickstart's 3+3-layer, 256-dim transformer_iwslt_de_en
# (the paper's IWSLT14 recipe otherwise: shared embeddings, Adam (0.9, 0.98),
# inverse_sqrt, dropout 0.3, label smoothing 0.1, weight decay 1e-4,
# max-tokens 4096; lr 1e-3 with 150 warm-up updates for the short budget).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ $# -lt 3 ]; then
  sed -n '2,17p' "$0" >&2; exit 2
fi
EXP=$1; DATA=$2; SAVE=$3; SEED=${4:-1}; shift $(( $# >= 4 ? 4 : 3 ))
MINUTES=${MINUTES:-20}; MAX_UPDATE=${MAX_UPDATE:-100000}; VALID_EVERY=${VALID_EVERY:-100}
ALPHA=${ALPHA:-5}; K=${K:-2}
PY=${PYTHON:-python}

ARCH=transformer_iwslt_de_en; TASK=translation
CRIT=(--criterion label_smoothed_cross_entropy)
case "$EXP" in
  baseline) ;;
  rdrop) CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA") ;;
  kstep) TASK=translation_rdrop
         CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA" --rdrop-k-step "$K") ;;
  realformer) ARCH=transformer_realformer_iwslt_de_en ;;
  realformer_rdrop) ARCH=transformer_realformer_iwslt_de_en
         CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA") ;;
  *) echo "train-multi30k: EXPERIMENT: expected baseline, rdrop, kstep, realformer or realformer_rdrop, got '$EXP'" >&2; exit 2 ;;
esac
TB=(); [ -n "${TENSORBOARD_DIR:-}" ] && TB=(--tensorboard-logdir "$TENSORBOARD_DIR")

mkdir -p "$SAVE"
STOP_HOURS=$("$PY" -c "print($MINUTES / 60)")
fairseq-train "$DATA" --user-dir "$ROOT/rdrop_fairseq" --cpu --task "$TASK" \
  --arch "$ARCH" --share-all-embeddings \
  --encoder-layers 3 --decoder-layers 3 --encoder-embed-dim 256 --decoder-embed-dim 256 \
  --encoder-ffn-embed-dim 512 --decoder-ffn-embed-dim 512 \
  "${CRIT[@]}" --label-smoothing 0.1 \
  --optimizer adam --adam-betas '(0.9, 0.98)' --lr 1e-3 --lr-scheduler inverse_sqrt \
  --warmup-updates 150 --weight-decay 1e-4 --dropout 0.3 --max-tokens 4096 \
  --stop-time-hours "$STOP_HOURS" --max-update "$MAX_UPDATE" --seed "$SEED" \
  --required-batch-size-multiple 1 \
  --eval-bleu --eval-bleu-args '{"beam": 5, "max_len_a": 1.2, "max_len_b": 10}' \
  --eval-bleu-remove-bpe sentencepiece --eval-bleu-detok space \
  --best-checkpoint-metric bleu --maximize-best-checkpoint-metric \
  --validate-interval-updates "$VALID_EVERY" --save-interval-updates "$VALID_EVERY" \
  --keep-interval-updates 1 --no-epoch-checkpoints \
  --save-dir "$SAVE" --log-format json --log-interval 20 --num-workers 0 "${TB[@]}" "$@" \
  > "$SAVE/train.log" 2>&1 || { tail -20 "$SAVE/train.log" >&2; exit 1; }
echo "train-multi30k: $EXP done: $SAVE/train.log"
