#!/usr/bin/env bash
# The paper's ablations: R-Drop's alpha, k-step R-Drop's k, or the whole set.
#
#   sweep.sh alpha|k|all DATA_BIN SAVE_ROOT RAW_TEST_REF [SEED] [extra fairseq-train flags]
#
# alpha  runs alpha_<a> (R-Drop, alpha a) for a in ALPHAS (default "1 3 5 7 10").
# k      runs k_<k> (k-step R-Drop, alpha ALPHA, default 5) for k in KS (default
#        "1 2 5 10"); k = 1 is R-Drop on every update: the run alpha_<ALPHA>.
# all    both, plus baseline, realformer and realformer_rdrop (alpha ALPHA).
# Each run is train.sh (PRESET etc. as for train.sh) into SAVE_ROOT/<name>, then
# score.sh on its checkpoint_best.pt into SAVE_ROOT/<name>/TEST_DIR (default
# test) with SCORE_FLAGS. A run whose train.log says "done training" is not
# trained again, one already scored into TEST_DIR not scored again, so a second
# sweep into the same SAVE_ROOT reuses the first one's runs. RUNS (names) picks
# some runs; LANES (default 1) runs go at a time, each on nproc / LANES threads.
# GPUS=N places runs on N GPUs instead: GPUS_PER_RUN (default 1) GPUs each
# (CUDA_VISIBLE_DEVICES; fairseq trains data-parallel over them), so
# N / GPUS_PER_RUN runs at a time.
# Finally scripts/ablation_table.py writes SAVE_ROOT/ablation_{alpha,k}<TEST_DIR
# without "test">.{md,png}, titled with TITLE, and the sweep exits 1 if a run
# failed. DRY_RUN=1 prints the runs' fairseq-train and score.sh commands instead.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# This checkout's code, not whichever one is installed: a run from a worktree at a fixed
# commit stays at that commit (rdrop_analysis for scripts/, rdrop_fairseq for python -m).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ $# -lt 4 ]; then sed -n '2,22p' "$0" >&2; exit 2; fi
WHAT=$1; DATA=$2; SAVE=$3; REF=$4; shift 4
SEED=1
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then SEED=$1; shift; fi
PY=${PYTHON:-python}
ALPHA=${ALPHA:-5}; ALPHAS=${ALPHAS:-1 3 5 7 10}; KS=${KS:-1 2 5 10}
LANES=${LANES:-1}; TEST_DIR=${TEST_DIR:-test}; SCORE_FLAGS=${SCORE_FLAGS:-}
[[ $LANES =~ ^[1-9][0-9]*$ ]] || { echo "sweep.sh: LANES: expected a whole number >= 1, got '$LANES'" >&2; exit 2; }
GPUS=${GPUS:-}; GPUS_PER_RUN=${GPUS_PER_RUN:-1}
if [ -n "$GPUS" ]; then
  [[ $GPUS =~ ^[1-9][0-9]*$ ]] || { echo "sweep.sh: GPUS: expected a whole number >= 1, got '$GPUS'" >&2; exit 2; }
  [[ $GPUS_PER_RUN =~ ^[1-9][0-9]*$ && $GPUS_PER_RUN -le $GPUS ]] ||
    { echo "sweep.sh: GPUS_PER_RUN: expected a whole number from 1 to GPUS ($GPUS), got '$GPUS_PER_RUN'" >&2; exit 2; }
  LANES=$(( GPUS / GPUS_PER_RUN ))
fi
export PRESET=${PRESET:-iwslt14}  # train.sh's and score.sh's

# The runs, "name:experiment:alpha:k", longest first so that lanes end together.
alpha_runs() { for a in $ALPHAS; do echo "alpha_$a:rdrop:$a:1"; done; }
k_runs() { for k in $KS; do
  if [ "$k" = 1 ]; then echo "alpha_$ALPHA:rdrop:$ALPHA:1"; else echo "k_$k:kstep:$ALPHA:$k"; fi; done; }
case "$WHAT" in
  alpha) LIST=$(alpha_runs) ;;
  k) LIST=$(k_runs) ;;
  all) LIST=$( { alpha_runs; echo "realformer_rdrop:realformer_rdrop:$ALPHA:1"; k_runs;
                 echo "realformer:realformer:$ALPHA:1"; echo "baseline:baseline:$ALPHA:1"; } | awk '!seen[$0]++') ;;
  *) echo "sweep.sh: expected alpha, k or all, got '$WHAT'" >&2; exit 2 ;;
esac
NAMES=" $(for r in $LIST; do printf '%s ' "${r%%:*}"; done)"
for n in ${RUNS:-}; do
  [[ $NAMES == *" $n "* ]] || { echo "sweep.sh: RUNS: '$n' is not one of:$NAMES" >&2; exit 2; }
done
SELECTED=${RUNS:-$NAMES}
CPU=(); [ "$PRESET" = multi30k-cpu ] && CPU=(--cpu)
if [ "$LANES" -gt 1 ] && [ -z "$GPUS" ]; then
  THREADS=$(( $(nproc) / LANES )); [ "$THREADS" -ge 1 ] || THREADS=1
  export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
fi

one_run() {  # name experiment alpha k
  local out="$SAVE/$1"
  if [ -n "${DRY_RUN:-}" ]; then
    echo "== $1${devices:+ on CUDA_VISIBLE_DEVICES=$devices}"
    ALPHA=$3 K=$4 bash "$HERE/train.sh" "$2" "$DATA" "$out" "$SEED" "${EXTRA[@]}"
    echo "PRESET=$PRESET bash $HERE/score.sh $DATA $out/checkpoint_best.pt $REF $out/$TEST_DIR ${CPU[*]} $SCORE_FLAGS"
    return
  fi
  if [ -f "$out/$TEST_DIR/bleu.json" ]; then echo "sweep: $1 already done"; return; fi
  if ! grep -q "done training" "$out/train.log" 2>/dev/null; then
    ALPHA=$3 K=$4 bash "$HERE/train.sh" "$2" "$DATA" "$out" "$SEED" "${EXTRA[@]}"
  fi
  # shellcheck disable=SC2086
  bash "$HERE/score.sh" "$DATA" "$out/checkpoint_best.pt" "$REF" "$out/$TEST_DIR" "${CPU[@]}" $SCORE_FLAGS
}

free_lane() {  # the first lane with no run going, waiting for one if all are busy
  local i
  while :; do
    for (( i = 0; i < LANES; i++ )); do
      if [ -z "${LANE_PID[i]:-}" ] || ! kill -0 "${LANE_PID[i]}" 2> /dev/null; then echo "$i"; return; fi
    done
    wait -n || true
  done
}

EXTRA=("$@")
LANE_PID=()
mkdir -p "$SAVE"
for r in $LIST; do
  IFS=: read -r name exp alpha k <<< "$r"
  [[ " $SELECTED " == *" $name "* ]] || continue
  # (a dry run starts nothing: it shows the first LANES runs' lanes, and later
  # runs round-robin, where a real sweep gives each the lane that frees first)
  if [ -n "${DRY_RUN:-}" ]; then lane=$(( ${DRY_COUNT:=0} % LANES )); DRY_COUNT=$(( DRY_COUNT + 1 )); else lane=$(free_lane); fi
  devices=
  [ -z "$GPUS" ] || devices=$(seq -s, $(( lane * GPUS_PER_RUN )) $(( (lane + 1) * GPUS_PER_RUN - 1 )))
  if [ -n "${DRY_RUN:-}" ]; then one_run "$name" "$exp" "$alpha" "$k"; continue; fi
  rm -f "$SAVE/$name.failed"
  ( [ -z "$devices" ] || export CUDA_VISIBLE_DEVICES=$devices
    if one_run "$name" "$exp" "$alpha" "$k" > "$SAVE/$name.out" 2>&1; then
      echo "sweep: $name done${devices:+ (GPUs $devices)}"
    else
      echo "sweep: $name FAILED (see $SAVE/$name.out)"; touch "$SAVE/$name.failed"
    fi ) &
  LANE_PID[lane]=$!
done
wait
[ -n "${DRY_RUN:-}" ] && exit 0

# One table per swept parameter, from the runs scored so far.
table() {  # param title runs...
  local param=$1 title=$2 specs=() r name v; shift 2
  for r in "$@"; do
    IFS=: read -r name _ alpha k <<< "$r"
    v=$alpha; [ "$param" = k ] && v=$k
    [ -f "$SAVE/$name/$TEST_DIR/bleu.json" ] && specs+=("$param=$v=$SAVE/$name/$TEST_DIR/bleu.json")
  done
  [ ${#specs[@]} -gt 0 ] || return 0
  "$PY" "$ROOT/scripts/ablation_table.py" "${specs[@]}" --md "$SAVE/ablation_$param${TEST_DIR#test}.md" \
    --png "$SAVE/ablation_$param${TEST_DIR#test}.png" --title "${TITLE:+$TITLE: }$title"
}
[ "$WHAT" = k ] || table alpha "R-Drop alpha" $(alpha_runs)
[ "$WHAT" = alpha ] || table k "k-step R-Drop (alpha $ALPHA)" $(k_runs)
echo "sweep: tables in $SAVE/ablation_*${TEST_DIR#test}.md"
failed=()
for f in "$SAVE"/*.failed; do [ -e "$f" ] && failed+=("$(basename "$f" .failed)"); done
[ ${#failed[@]} -eq 0 ] || { echo "sweep: failed runs: ${failed[*]} (rerun to continue them)" >&2; exit 1; }
