#!/usr/bin/env bash
# One R-Drop-paper experiment with fairseq-train and this plugin.
#
#   train.sh EXPERIMENT DATA_BIN SAVE_DIR [SEED] [extra fairseq-train flags...]
#
# EXPERIMENT  baseline | rdrop | kstep | schedule | realformer | realformer_rdrop | simcut |
#             rdrop_cutoff (rdrop/kstep/schedule/realformer_rdrop/rdrop_cutoff read ALPHA,
#             default 5; kstep reads K, default 2; schedule = kstep on --task
#             translation_rdrop, its schedule flags (--rdrop-start-update, ...) given as
#             extra flags; simcut = SimCut's published setting: ALPHA default 3,
#             token cutoff CUTOFF (default 0.05) on the second copy; rdrop_cutoff =
#             R-Drop + Cutoff: CUTOFF on both copies)
# PRESET      iwslt14 (default): the paper's IWSLT14 De-En recipe, as the official
#               code's run_train.sh (github.com/dropreg/R-Drop,
#               fairseq_src/examples/translation_rdrop/script/run_train.sh):
#               transformer_iwslt_de_en, shared embeddings, Adam (0.9, 0.98),
#               lr 5e-4, inverse_sqrt with 4,000 warm-up updates from 1e-7,
#               dropout 0.3, label smoothing 0.1, weight decay 1e-4,
#               max-tokens 4096, max-update 300k, --eval-bleu (beam 5, Moses
#               detokenized) picks checkpoint_best, checkpoints every epoch
#               (the resume guard's fallback after a torn checkpoint_last.pt).
#             wmt14: the paper's WMT14 En-De Transformer-big setting, as the
#               official authors gave it (github.com/dropreg/R-Drop/issues/19):
#               transformer_vaswani_wmt_en_de_big (RealFormer:
#               transformer_realformer_wmt_en_de_big), shared embeddings, Adam
#               (0.9, 0.98), lr 1e-3, inverse_sqrt with 6,000 warm-up updates
#               from 1e-7, dropout, attention and ReLU dropout 0.1 (their
#               --relu-dropout is today's --activation-dropout), weight decay
#               0, label smoothing 0.1, max-tokens 4096 x update-freq 16 per GPU,
#               max-update 300k; no --eval-bleu (checkpoint_best by valid loss).
#               Added: an interval checkpoint every 1,000 updates, 2 kept (an
#               epoch is ~4k updates; the resume guard's fallback).
#               Data: prepare-wmt14en2de.sh (the issue also points at fairseq's
#               issue 202: Google's preprocessed WMT16 En-De, 32k joined BPE).
#               Score with score-wmt14.sh (beam 4, lenpen 0.6, compound split).
#             multi30k-cpu: the reduced protocol run on 2 CPU cores (docs/results):
#               3+3 layers, 256 dim, 512 FFN; lr 1e-3 with 150 warm-up updates;
#               UPDATES updates if set, else MINUTES of training wall-clock
#               (default 20); detokenized valid BLEU every VALID_EVERY updates
#               (default 100). DEVICE=cuda trains it on the GPU instead (fp32, as
#               on the CPU; default DEVICE=cpu).
# FP16        iwslt14 and wmt14 train in fp16 (as the official code) when
#             nvidia-smi sees a GPU; FP16=1 / FP16=0 forces it on / off.
# RDROP_CUDNN_ATTENTION  0 unless set: torch's cuDNN attention off for the run.
#             On an H100 with torch 2.11, cuDNN re-planned for every batch shape and
#             made fairseq's updates 5.5x slower (docs/gpu.md); 1 keeps torch's choice.
#             No effect on the CPU. The plugin logs it when it loads.
# Always: --log-format json appended to SAVE_DIR/train.log (fairseq resumes from
# SAVE_DIR/checkpoint_last.pt, and the log keeps the whole run); TensorBoard too
# when TENSORBOARD_DIR is set (needs tensorboardX). DRY_RUN=1 prints the command.
# Extra flags are passed to fairseq-train last, so they override the preset.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# This checkout's code, not whichever one is installed: a run from a worktree at a fixed
# commit stays at that commit (rdrop_analysis for scripts/, rdrop_fairseq for python -m).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ $# -lt 3 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2
fi
EXP=$1; DATA=$2; SAVE=$3; shift 3
SEED=1
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then SEED=$1; shift; fi
PRESET=${PRESET:-iwslt14}; K=${K:-2}; CUTOFF=${CUTOFF:-0.05}
if [ "$EXP" = simcut ]; then ALPHA=${ALPHA:-3}; else ALPHA=${ALPHA:-5}; fi
[[ $CUTOFF =~ ^0*([.][0-9]+)?$|^0[.][0-9]*$ ]] ||
  { echo "train.sh: CUTOFF: expected a cutoff rate in [0, 1), got '$CUTOFF'" >&2; exit 2; }
PY=${PYTHON:-python}
export RDROP_CUDNN_ATTENTION=${RDROP_CUDNN_ATTENTION:-0}

case "$PRESET" in
  iwslt14|multi30k-cpu) ARCH=transformer_iwslt_de_en; REALFORMER_ARCH=transformer_realformer_iwslt_de_en ;;
  wmt14) ARCH=transformer_vaswani_wmt_en_de_big; REALFORMER_ARCH=transformer_realformer_wmt_en_de_big ;;
  *) echo "train.sh: PRESET: expected iwslt14, wmt14 or multi30k-cpu, got '$PRESET'" >&2; exit 2 ;;
esac
TASK=(--task translation)
CRIT=(--criterion label_smoothed_cross_entropy)
case "$EXP" in
  baseline) ;;
  rdrop) CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA") ;;
  kstep|schedule) TASK=(--task translation_rdrop --rdrop-k-step "$K")
         CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA") ;;
  realformer) ARCH=$REALFORMER_ARCH ;;
  realformer_rdrop) ARCH=$REALFORMER_ARCH
         CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA") ;;
  simcut) CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA"
                --cutoff-rate "$CUTOFF" --cutoff-copies second) ;;
  rdrop_cutoff) CRIT=(--criterion label_smoothed_cross_entropy_rdrop --rdrop-alpha "$ALPHA"
                      --cutoff-rate "$CUTOFF" --cutoff-copies all) ;;
  *) echo "train.sh: EXPERIMENT: expected baseline, rdrop, kstep, schedule, realformer, realformer_rdrop, simcut" \
       "or rdrop_cutoff, got '$EXP'" >&2; exit 2 ;;
esac

COMMON=(--share-all-embeddings --label-smoothing 0.1 --optimizer adam --adam-betas '(0.9, 0.98)'
        --lr-scheduler inverse_sqrt --max-tokens 4096 --log-format json --log-interval 100)
EVAL_BLEU=(--eval-bleu --eval-bleu-args '{"beam": 5, "max_len_a": 1.2, "max_len_b": 10}'
           --best-checkpoint-metric bleu --maximize-best-checkpoint-metric)
FP16=${FP16:-auto}
case "$FP16" in
  auto) if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then FP16=1; else FP16=0; fi ;;
  0|1) ;;
  *) echo "train.sh: FP16: expected 1, 0 or auto, got '$FP16'" >&2; exit 2 ;;
esac
HALF=(); [ "$FP16" = 1 ] && HALF=(--fp16)
case "$PRESET" in
  iwslt14)
    SETUP=(--source-lang de --target-lang en --lr 5e-4 --warmup-updates 4000 --warmup-init-lr 1e-07
           --max-update 300000 --dropout 0.3 --weight-decay 1e-4 "${EVAL_BLEU[@]}"
           --eval-bleu-detok moses --eval-bleu-remove-bpe "${HALF[@]}") ;;
  wmt14)
    SETUP=(--source-lang en --target-lang de --lr 1e-3 --warmup-updates 6000 --warmup-init-lr 1e-07
           --max-update 300000 --dropout 0.1 --attention-dropout 0.1 --activation-dropout 0.1
           --weight-decay 0.0 --update-freq 16 "${HALF[@]}"
           --save-interval-updates 1000 --keep-interval-updates 2) ;;  # the resume guard's fallback
  multi30k-cpu)
    VALID_EVERY=${VALID_EVERY:-100}
    if [ -n "${UPDATES:-}" ]; then
      [[ $UPDATES =~ ^[1-9][0-9]*$ ]] ||
        { echo "train.sh: UPDATES: expected a whole number of updates >= 1, got '$UPDATES'" >&2; exit 2; }
      BUDGET=(--max-update "$UPDATES")
    else
      MINUTES=${MINUTES:-20}
      [[ $MINUTES =~ ^[0-9]*[.]?[0-9]+$ && ! $MINUTES =~ ^[0.]+$ ]] ||
        { echo "train.sh: MINUTES: expected a number of minutes > 0, got '$MINUTES'" >&2; exit 2; }
      BUDGET=(--max-update 100000 --stop-time-hours "$("$PY" -c "print($MINUTES / 60)")")
    fi
    [[ $VALID_EVERY =~ ^[1-9][0-9]*$ ]] ||
      { echo "train.sh: VALID_EVERY: expected a whole number of updates >= 1, got '$VALID_EVERY'" >&2; exit 2; }
    case "${DEVICE:-cpu}" in
      cpu) ON_CPU=(--cpu) ;;
      cuda) ON_CPU=() ;;
      *) echo "train.sh: DEVICE: expected cpu or cuda, got '$DEVICE'" >&2; exit 2 ;;
    esac
    SETUP=(--dropout 0.3 --weight-decay 1e-4 "${EVAL_BLEU[@]}" --required-batch-size-multiple 1
           "${ON_CPU[@]}" --encoder-layers 3 --decoder-layers 3 --encoder-embed-dim 256 --decoder-embed-dim 256
           --encoder-ffn-embed-dim 512 --decoder-ffn-embed-dim 512 --lr 1e-3 --warmup-updates 150
           "${BUDGET[@]}"
           --eval-bleu-remove-bpe sentencepiece --eval-bleu-detok space
           --validate-interval-updates "$VALID_EVERY" --save-interval-updates "$VALID_EVERY"
           --keep-interval-updates 2 --no-epoch-checkpoints --log-interval 20 --num-workers 0) ;;
esac
TB=(); [ -n "${TENSORBOARD_DIR:-}" ] && TB=(--tensorboard-logdir "$TENSORBOARD_DIR")

CMD=(fairseq-train "$DATA" --user-dir "$ROOT/rdrop_fairseq" "${TASK[@]}" --arch "$ARCH"
     "${CRIT[@]}" "${COMMON[@]}" "${SETUP[@]}" --seed "$SEED" --save-dir "$SAVE" "${TB[@]}" "$@")
if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "${CMD[@]}"; echo; exit 0; fi
mkdir -p "$SAVE"
# a kill during fairseq's (non-atomic) copy to checkpoint_last.pt leaves it torn: resume from the
# newest readable checkpoint instead (run as a file: no fairseq import, under a second)
if compgen -G "$SAVE/checkpoint*.pt" > /dev/null; then  # a new run has nothing to guard
  "$PY" "$ROOT/rdrop_fairseq/resume_guard.py" "$SAVE" 2>&1 | tee -a "$SAVE/train.log" >&2
  [ "${PIPESTATUS[0]}" = 0 ] || exit 2
fi
"${CMD[@]}" >> "$SAVE/train.log" 2>&1 || { tail -20 "$SAVE/train.log" >&2; exit 1; }
echo "train.sh: $EXP ($PRESET, seed $SEED) done: $SAVE/train.log"
