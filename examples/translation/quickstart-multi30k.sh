#!/usr/bin/env bash
# The README's main job: a short real R-Drop training on Multi30k De->En, then
# beam search on test2016 and detokenized sacreBLEU.
#
#   quickstart-multi30k.sh [WORK_DIR]
#
# Environment knobs: UPDATES (training updates, default 400: a fixed number of
# updates, so that every machine reaches the same model, only sooner or
# later), ALPHA (default 5), RAW (Multi30k folder, default
# ../shared/data/multi30k).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# This checkout's code, not whichever one is installed: a run from a worktree at a fixed
# commit stays at that commit (rdrop_analysis for scripts/, rdrop_fairseq for python -m).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
WORK=${1:-$ROOT/work/quickstart}
RAW=${RAW:-$ROOT/../shared/data/multi30k}
UPDATES=${UPDATES:-400}
[[ $UPDATES =~ ^[1-9][0-9]*$ ]] ||
  { echo "quickstart: UPDATES: expected a whole number of updates >= 1, got '$UPDATES'" >&2; exit 2; }
ALPHA=${ALPHA:-5}
PY=${PYTHON:-python}

bash "$HERE/prepare-multi30k.sh" "$RAW" "$WORK/data" 8000
DATA=$WORK/data/data-bin
rm -rf "$WORK/checkpoints"

echo "quickstart: training a 3+3-layer, 256-dim transformer with R-Drop (alpha=$ALPHA) for $UPDATES updates"
fairseq-train "$DATA" --user-dir "$ROOT/rdrop_fairseq" --cpu \
  --arch transformer_iwslt_de_en --share-all-embeddings \
  --encoder-layers 3 --decoder-layers 3 --encoder-embed-dim 256 --decoder-embed-dim 256 \
  --encoder-ffn-embed-dim 512 --decoder-ffn-embed-dim 512 \
  --criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA" --label-smoothing 0.1 \
  --optimizer adam --adam-betas '(0.9, 0.98)' --lr 1e-3 --lr-scheduler inverse_sqrt \
  --warmup-updates 150 --weight-decay 1e-4 --clip-norm 0.0 --dropout 0.3 \
  --max-tokens 4096 --max-update "$UPDATES" \
  --save-dir "$WORK/checkpoints" --no-epoch-checkpoints --validate-interval 1000 \
  --log-format json --log-interval 20 --num-workers 0 --seed 1 \
  2>&1 | tee "$WORK/train.log" | grep --line-buffered -E '\| (train_inner|train|valid) \|' || true
[ -f "$WORK/checkpoints/checkpoint_last.pt" ] || { echo "quickstart: training failed, see $WORK/train.log" >&2; exit 1; }

echo "quickstart: test2016 De->En, beam 5:"
bash "$HERE/score.sh" "$DATA" "$WORK/checkpoints/checkpoint_last.pt" "$WORK/data/raw/test.en" "$WORK/test" --cpu
echo "BLEU = $("$PY" -c "import json; print(json.load(open('$WORK/test/bleu.json'))['sacrebleu'])")"
