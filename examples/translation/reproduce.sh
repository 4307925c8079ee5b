#!/usr/bin/env bash
# The R-Drop paper's translation experiments in one command, for GPUs
# (reproduce-iwslt14.sh and reproduce-wmt14.sh call this):
#
#   reproduce.sh iwslt14|wmt14 [WORK] [extra fairseq-train flags]
#                                      (WORK default ./work/reproduce-<benchmark>)
#
# iwslt14: prepare-iwslt14.sh; baseline, R-Drop (alpha 5), the alpha sweep
#          (1 3 5 7 10), k-step R-Drop (k 2 5 10), RealFormer with and without
#          R-Drop: train.sh's iwslt14 preset (the official recipe); score.sh
#          PRESET=iwslt14 on test (and IWSLT17 tst2016/tst2017 when prepared).
# wmt14:   prepare-wmt14en2de.sh; Transformer-big baseline, R-Drop (alpha 5),
#          RealFormer-big with and without R-Drop (RUNS can add the sweeps'
#          alpha_A / k_K): train.sh's wmt14 preset (the authors' setting);
#          score.sh PRESET=wmt14 (beam 4, lenpen 0.6, compound split).
# Then the tables (WORK/runs.md, runs.json; WORK/runs/ablation_{alpha,k}.md
# and .png) and the Figure-2 curves of baseline, R-Drop and RealFormer +
# R-Drop (WORK/figure2.png).
#
# Resumable: a rerun continues every unfinished run from its checkpoint_last.pt
# and skips the finished ones (trained and scored). Knobs: GPUS (how many GPUs;
# default: those nvidia-smi lists, else one run at a time on the CPU),
# GPUS_PER_RUN (default 1: one run per GPU), RUNS (run names to do), SEED
# (default 1), FP16 (train.sh's), SCORE_FLAGS (extra fairseq-generate flags),
# and the prepare scripts' (IWSLT14_ARCHIVE, IWSLT17_DIR, WMT14_ORIG). DRY_RUN=1
# lists every command and the estimated GPU hours (scripts/gpu_hours.py; for
# iwslt14 also those measured on an H100, GPU_HOURS_MEASURED=JSON for another
# benchmark.py measurement, empty for none) and runs nothing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# This checkout's code, not whichever one is installed: a run from a worktree at a fixed
# commit stays at that commit (rdrop_analysis for scripts/, rdrop_fairseq for python -m).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
case "${1:-}" in
  iwslt14) PREPARE=prepare-iwslt14.sh; REF=test.detok.en; TITLE="IWSLT14 De-En"
           DEFAULT_RUNS= ;;  # the whole sweep
  wmt14) PREPARE=prepare-wmt14en2de.sh; REF=tok/test.raw.de; TITLE="WMT14 En-De"
         DEFAULT_RUNS="baseline alpha_5 realformer realformer_rdrop" ;;
  -h|--help|"") sed -n '2,28p' "$0"; [ -n "${1:-}" ]; exit $? ;;
  *) echo "reproduce.sh: BENCHMARK: expected iwslt14 or wmt14, got '$1'" >&2; exit 2 ;;
esac
BENCH=$1; shift
WORK=$ROOT/work/reproduce-$BENCH
if [ $# -gt 0 ] && [[ $1 != -* ]]; then WORK=$1; shift; fi
PY=${PYTHON:-python}
SEED=${SEED:-1}
[[ $SEED =~ ^[0-9]+$ ]] || { echo "reproduce-$BENCH: SEED: expected a whole number, got '$SEED'" >&2; exit 2; }
if [ -z "${GPUS:-}" ] && command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then
  GPUS=$(nvidia-smi -L | grep -c '^GPU')
fi
[ -z "${GPUS:-}" ] || export GPUS
export PRESET=$BENCH ALPHA=5 ALPHAS="1 3 5 7 10" KS="1 2 5 10" RUNS=${RUNS:-$DEFAULT_RUNS} TITLE
DATA=$WORK/data
SWEEP=(bash "$HERE/sweep.sh" all "$DATA/data-bin" "$WORK/runs" "$DATA/$REF" "$SEED" "$@")

if [ -n "${DRY_RUN:-}" ]; then
  [ -f "$DATA/data-bin/dict.en.txt" ] || echo "bash $HERE/$PREPARE $DATA"
  listing=$(DRY_RUN=1 "${SWEEP[@]}")
  echo "$listing"
  echo "then: scripts/runs_table.py -> $WORK/runs.md; scripts/plot_curves.py -> $WORK/figure2.png"
  # shellcheck disable=SC2046
  # iwslt14: also the hours measured on an H100 (docs/gpu.md); GPU_HOURS_MEASURED= leaves them out
  MEASURED=()
  if [ "$BENCH" = iwslt14 ]; then
    MEASURED_JSON=${GPU_HOURS_MEASURED-$ROOT/docs/results/gpu/benchmark_h100_cudnn_off.json}
    [ -z "$MEASURED_JSON" ] || MEASURED=(--measured "$MEASURED_JSON")
  fi
  "$PY" "$ROOT/scripts/gpu_hours.py" "$BENCH" $(sed -n 's/^== \([^ ]*\).*/\1/p' <<< "$listing") \
    --gpus-per-run "${GPUS_PER_RUN:-1}" --json "${GPU_HOURS_JSON:-/dev/null}" ${MEASURED[@]+"${MEASURED[@]}"}
  exit 0
fi

[ -f "$DATA/data-bin/dict.en.txt" ] || bash "$HERE/$PREPARE" "$DATA"
SWEEP_STATUS=0
"${SWEEP[@]}" || SWEEP_STATUS=$?

# IWSLT17 tst2016 / tst2017 (prepare-iwslt14.sh with IWSLT17_DIR): every scored run.
EXTRA_TESTS=()
[ -f "$DATA/tst2016.detok.en" ] && EXTRA_TESTS=("test1 tst2016" "test2 tst2017")
for t in "${EXTRA_TESTS[@]}"; do
  read -r subset name <<< "$t"
  for d in "$WORK"/runs/*/; do
    [ -f "$d/test/bleu.json" ] && [ ! -f "$d/$name/bleu.json" ] || continue
    # shellcheck disable=SC2086
    bash "$HERE/score.sh" "$DATA/data-bin" "$d/checkpoint_best.pt" "$DATA/$name.detok.en" "$d/$name" \
      --gen-subset "$subset" ${SCORE_FLAGS:-}
  done
done

specs=(); logs=()
for d in "$WORK"/runs/*/; do
  grep -q 'num_updates"' "$d/train.log" 2> /dev/null || continue  # a run that logged an update
  name=$(basename "$d"); specs+=("$name=$d")
  case "$name" in baseline|alpha_5|realformer_rdrop) logs+=("$name=$d/train.log") ;; esac
done
if [ ${#specs[@]} -gt 0 ]; then
  "$PY" "$ROOT/scripts/runs_table.py" "${specs[@]}" --md "$WORK/runs.md" --json "$WORK/runs.json"
  for t in "${EXTRA_TESTS[@]}"; do
    "$PY" "$ROOT/scripts/runs_table.py" "${specs[@]}" --test-dir "${t#* }" --md "$WORK/runs_${t#* }.md" > /dev/null
  done
fi
[ ${#logs[@]} -eq 0 ] || "$PY" "$ROOT/scripts/plot_curves.py" "${logs[@]}" --out "$WORK/figure2.png" \
  --title "$TITLE (alpha_5 = R-Drop)"
echo "reproduce-$BENCH: results in $WORK/runs.md, $WORK/runs/ablation_*.md, $WORK/figure2.png"
[ "$SWEEP_STATUS" = 0 ] || { echo "reproduce-$BENCH: some runs failed (see $WORK/runs/*.out); rerun to continue" >&2
                            exit "$SWEEP_STATUS"; }
