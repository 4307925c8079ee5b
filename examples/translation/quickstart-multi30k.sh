#!/usr/bin/env bash
# The README's main job: a short real R-Drop training on Multi30k De->En, then
# beam search on test2016 and detokenized sacreBLEU.
#
#   quickstart-multi30k.sh [WORK_DIR]
#
# Environment knobs: UPDATES (training updates, default 300: a fixed number of
# updates, so that every machine reaches the same model, only sooner or
# later), K_STEP (R-Drop on every K_STEP-th update, one plain pass on the others:
# the paper's k-step variant, default 4), ALPHA (default 5), DROPOUT (default 0.1:
# a few epochs are too short to overfit, and 0.3 only slows them), VOCAB
# (sentencepiece size, default 4000), MAX_TOKENS (per copy and update, default
# 4096), LR (peak, default 1e-3), RAW (Multi30k folder, default
# ../shared/data/multi30k). Writes WORK_DIR/run.json: the BLEU, the settings and
# the minutes taken. The loss is computed the fused_linear way (same values as the
# default, less time and memory). The defaults are chosen to finish in about 10
# minutes on 2 cores: docs/results/quickstart/trials.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# This checkout's code, not whichever one is installed: a run from a worktree at a fixed
# commit stays at that commit (rdrop_analysis for scripts/, rdrop_fairseq for python -m).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
WORK=${1:-$ROOT/work/quickstart}
RAW=${RAW:-$ROOT/../shared/data/multi30k}
UPDATES=${UPDATES:-300}
[[ $UPDATES =~ ^[1-9][0-9]*$ ]] ||
  { echo "quickstart: UPDATES: expected a whole number of updates >= 1, got '$UPDATES'" >&2; exit 2; }
ALPHA=${ALPHA:-5}; VOCAB=${VOCAB:-4000}; MAX_TOKENS=${MAX_TOKENS:-4096}; LR=${LR:-1e-3}
K_STEP=${K_STEP:-4}; DROPOUT=${DROPOUT:-0.1}
for knob in VOCAB MAX_TOKENS K_STEP; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] ||
    { echo "quickstart: $knob: expected a whole number >= 1, got '${!knob}'" >&2; exit 2; }
done
for knob in ALPHA LR; do  # a plain decimal or 1e-3 form; ALPHA may be 0, LR may not
  [[ ${!knob} =~ ^([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$ ]] && { [ "$knob" = ALPHA ] || [[ ! ${!knob} =~ ^[0.]+([eE].*)?$ ]]; } ||
    { echo "quickstart: $knob: expected a number$([ "$knob" = LR ] && echo ' > 0' || echo ' >= 0'), got '${!knob}'" >&2; exit 2; }
done
[[ $DROPOUT =~ ^(0|0?[.][0-9]+)$ ]] ||
  { echo "quickstart: DROPOUT: expected a probability in [0, 1), got '$DROPOUT'" >&2; exit 2; }
PY=${PYTHON:-python}
START=$(date +%s)

bash "$HERE/prepare-multi30k.sh" "$RAW" "$WORK/data" "$VOCAB"
DATA=$WORK/data/data-bin
rm -rf "$WORK/checkpoints"

echo "quickstart: training a 3+3-layer, 256-dim transformer with R-Drop (alpha=$ALPHA, on one update in $K_STEP, dropout $DROPOUT) for $UPDATES updates"
TRAIN_START=$(date +%s)
fairseq-train "$DATA" --user-dir "$ROOT/rdrop_fairseq" --cpu \
  --arch transformer_iwslt_de_en --share-all-embeddings \
  --encoder-layers 3 --decoder-layers 3 --encoder-embed-dim 256 --decoder-embed-dim 256 \
  --encoder-ffn-embed-dim 512 --decoder-ffn-embed-dim 512 \
  --criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA" --label-smoothing 0.1 \
  --rdrop-loss-impl fused_linear --task translation_rdrop --rdrop-k-step "$K_STEP" \
  --optimizer adam --adam-betas '(0.9, 0.98)' --lr "$LR" --lr-scheduler inverse_sqrt \
  --warmup-updates 150 --weight-decay 1e-4 --clip-norm 0.0 --dropout "$DROPOUT" \
  --max-tokens "$MAX_TOKENS" --max-update "$UPDATES" \
  --save-dir "$WORK/checkpoints" --no-epoch-checkpoints --validate-interval 1000 \
  --log-format json --log-interval 20 --num-workers 0 --seed 1 \
  2>&1 | tee "$WORK/train.log" | grep --line-buffered -E '\| (train_inner|train|valid) \|' || true
[ -f "$WORK/checkpoints/checkpoint_last.pt" ] || { echo "quickstart: training failed, see $WORK/train.log" >&2; exit 1; }
TRAIN_END=$(date +%s)

echo "quickstart: test2016 De->En, beam 5:"
bash "$HERE/score.sh" "$DATA" "$WORK/checkpoints/checkpoint_last.pt" "$WORK/data/raw/test.en" "$WORK/test" --cpu
END=$(date +%s)
"$PY" - "$WORK" "$START" "$TRAIN_START" "$TRAIN_END" "$END" "$UPDATES" "$ALPHA" "$VOCAB" "$MAX_TOKENS" "$LR" "$K_STEP" "$DROPOUT" <<'PYEOF'
import json, os, platform, sys
work, start, t0, t1, end = sys.argv[1], *map(int, sys.argv[2:6])
updates, alpha, vocab, max_tokens, lr, k_step, dropout = sys.argv[6:13]
bleu = json.load(open(os.path.join(work, "test", "bleu.json")))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()) \
    if os.path.exists("/proc/cpuinfo") else platform.processor()
run = dict(sacrebleu=bleu["sacrebleu"], tokenized_bleu=bleu["tokenized_bleu"], signature=bleu.get("sacrebleu_signature"),
           total_minutes=round((end - start) / 60, 2), train_minutes=round((t1 - t0) / 60, 2),
           machine=f"{os.cpu_count()} cores ({cpu}), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
           updates=int(updates), k_step=int(k_step), alpha=float(alpha), dropout=float(dropout), vocab=int(vocab),
           max_tokens=int(max_tokens), lr=float(lr))
json.dump(run, open(os.path.join(work, "run.json"), "w"), indent=1)
print(f"BLEU = {run['sacrebleu']}  ({run['total_minutes']:.1f} min in all, training {run['train_minutes']:.1f} min)")
PYEOF
