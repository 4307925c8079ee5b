#!/usr/bin/env bash
# The paper's ablations: R-Drop's alpha, or k-step R-Drop's k, one run per value.
#
#   sweep.sh alpha|k DATA_BIN SAVE_ROOT RAW_TEST_REF [SEED] [extra fairseq-train flags]
#
# alpha: ALPHAS (default "1 3 5 7 10", the paper's); k: KS (default "1 2 5 10").
# Each run is train.sh (PRESET as for train.sh) into SAVE_ROOT/<name>, then
# score.sh on its best checkpoint into SAVE_ROOT/<name>/test; finally
# scripts/ablation_table.py writes SAVE_ROOT/ablation.md and ablation.png.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ $# -lt 4 ]; then sed -n '2,10p' "$0" >&2; exit 2; fi
WHAT=$1; DATA=$2; SAVE=$3; REF=$4; shift 4
SEED=1
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then SEED=$1; shift; fi
PY=${PYTHON:-python}
case "$WHAT" in
  alpha) VALUES=${ALPHAS:-1 3 5 7 10} ;;
  k) VALUES=${KS:-1 2 5 10} ;;
  *) echo "sweep.sh: expected alpha or k, got '$WHAT'" >&2; exit 2 ;;
esac
CPU=(); [ "${PRESET:-iwslt14}" = multi30k-cpu ] && CPU=(--cpu)
RESULTS=()
for v in $VALUES; do
  name="${WHAT}_$v"
  if [ "$WHAT" = alpha ]; then
    ALPHA=$v bash "$HERE/train.sh" rdrop "$DATA" "$SAVE/$name" "$SEED" "$@"
  elif [ "$v" = 1 ]; then
    bash "$HERE/train.sh" rdrop "$DATA" "$SAVE/$name" "$SEED" "$@"
  else
    K=$v bash "$HERE/train.sh" kstep "$DATA" "$SAVE/$name" "$SEED" "$@"
  fi
  bash "$HERE/score.sh" "$DATA" "$SAVE/$name/checkpoint_best.pt" "$REF" "$SAVE/$name/test" "${CPU[@]}"
  RESULTS+=("$WHAT=$v=$SAVE/$name/test/bleu.json")
done
"$PY" "$ROOT/scripts/ablation_table.py" "${RESULTS[@]}" --md "$SAVE/ablation.md" --png "$SAVE/ablation.png"
