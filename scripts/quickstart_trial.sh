#!/usr/bin/env bash
# One trial of docs/results/quickstart/trials.md: the main job's training with extra
# fairseq-train flags, then (with SCORE=1) test2016 BLEU. Run from the repository root
# with the venv on PATH.
#
#   scripts/quickstart_trial.sh NAME VOCAB UPDATES [fairseq-train flags...]
#
# WORK (default /tmp/qs) holds the data (one per vocabulary size), NAME.log and test_NAME/.
set -euo pipefail
NAME=$1; V=$2; U=$3; shift 3
WORK=${WORK:-/tmp/qs}; RAW=${RAW:-$PWD/../shared/data/multi30k}
D=$WORK/data$V
[ -d "$D/data-bin" ] || bash examples/translation/prepare-multi30k.sh "$RAW" "$D" "$V" > /dev/null
rm -rf "$WORK/ck_$NAME"
s=$(date +%s)
fairseq-train "$D/data-bin" --user-dir rdrop_fairseq --cpu \
  --arch transformer_iwslt_de_en --share-all-embeddings \
  --encoder-layers 3 --decoder-layers 3 --encoder-embed-dim 256 --decoder-embed-dim 256 \
  --encoder-ffn-embed-dim 512 --decoder-ffn-embed-dim 512 \
  --criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha 5 --label-smoothing 0.1 \
  --optimizer adam --adam-betas '(0.9, 0.98)' --lr 1e-3 --lr-scheduler inverse_sqrt \
  --warmup-updates 150 --weight-decay 1e-4 --clip-norm 0.0 --dropout 0.3 \
  --max-tokens 4096 --max-update "$U" \
  --save-dir "$WORK/ck_$NAME" --no-epoch-checkpoints --validate-interval 1000 \
  --log-format json --log-interval 10 --num-workers 0 --seed 1 "$@" > "$WORK/$NAME.log" 2>&1
echo "$NAME: $U updates in $(( $(date +%s) - s )) s"
if [ "${SCORE:-0}" = 1 ]; then
  bash examples/translation/score.sh "$D/data-bin" "$WORK/ck_$NAME/checkpoint_last.pt" "$D/raw/test.en" \
    "$WORK/test_$NAME" --cpu > "$WORK/score_$NAME.log" 2>&1
  python -c "import json; d = json.load(open('$WORK/test_$NAME/bleu.json')); print('$NAME: sacreBLEU', d['sacrebleu'])"
fi
