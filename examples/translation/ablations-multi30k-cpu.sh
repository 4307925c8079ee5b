#!/usr/bin/env bash
# The reduced protocol's ablations on Multi30k (docs/results/multi30k_cpu):
# R-Drop's alpha, k-step R-Drop's k, and RealFormer with and without R-Drop,
# every run trained for the same number of updates, then scored on test2016.
#
#   ablations-multi30k-cpu.sh DATA_BIN SAVE_ROOT RAW_DIR [SEED]
#
# RAW_DIR holds test.en (the raw reference, e.g. ../shared/data/multi30k).
# UPDATES (default 300) updates per run; LANES (default 2) runs at a time, each
# on LANES-th of the cores (OMP_NUM_THREADS), so the lanes do not fight over
# threads; RUNS (default: all) picks run names from the list below.
# Each run: train.sh with PRESET=multi30k-cpu into SAVE_ROOT/<name> (skipped
# when that finished before), then score.sh on its checkpoint_best.pt into
# SAVE_ROOT/<name>/TEST_DIR (default test) with SCORE_FLAGS (default
# "--max-len-a 1.2 --max-len-b 10": the length limit of the valid BLEU that
# picked the checkpoint; short runs' models still fall into repetition loops,
# which fairseq's default limit of 200 tokens turns into test BLEU noise).
# Finally the alpha and k tables (scripts/ablation_table.py), named
# ablation_{alpha,k}<TEST_DIR without "test">.{md,png}.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ $# -lt 3 ]; then sed -n '2,14p' "$0" >&2; exit 2; fi
DATA=$1; SAVE=$2; RAW=$3; SEED=${4:-1}
UPDATES=${UPDATES:-300}; LANES=${LANES:-2}
PY=${PYTHON:-python}
TEST_DIR=${TEST_DIR:-test}; SCORE_FLAGS=${SCORE_FLAGS:---max-len-a 1.2 --max-len-b 10}
[ -f "$RAW/test.en" ] || { echo "ablations: RAW_DIR: no test.en in '$RAW'" >&2; exit 2; }

# name:experiment:alpha:k, longest runs first so the lanes finish together.
ALL="alpha_10:rdrop:10:1 alpha_7:rdrop:7:1 alpha_5:rdrop:5:1 alpha_3:rdrop:3:1
alpha_1:rdrop:1:1 alpha_0:rdrop:0:1 realformer_rdrop:realformer_rdrop:5:1 k_2:kstep:5:2
k_5:kstep:5:5 k_10:kstep:5:10 realformer:realformer:0:1 baseline:baseline:0:1"
SELECTED=${RUNS:-$(for r in $ALL; do printf '%s ' "${r%%:*}"; done)}
THREADS=$(( $(nproc) / LANES )); [ "$THREADS" -ge 1 ] || THREADS=1

one_run() {  # name experiment alpha k
  local out="$SAVE/$1"
  if [ -f "$out/$TEST_DIR/bleu.json" ]; then echo "ablations: $1 already done"; return; fi
  if ! grep -q "done training" "$out/train.log" 2>/dev/null; then
  OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS PRESET=multi30k-cpu MINUTES=120 \
    VALID_EVERY=100 ALPHA=$3 K=$4 PYTHON=$PY \
    bash "$HERE/train.sh" "$2" "$DATA" "$out" "$SEED" --max-update "$UPDATES"
  fi
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS PYTHON=$PY \
    bash "$HERE/score.sh" "$DATA" "$out/checkpoint_best.pt" "$RAW/test.en" "$out/$TEST_DIR" --cpu $SCORE_FLAGS
}

mkdir -p "$SAVE"
for r in $ALL; do
  IFS=: read -r name exp alpha k <<< "$r"
  [[ " $SELECTED " == *" $name "* ]] || continue
  while [ "$(jobs -rp | wc -l)" -ge "$LANES" ]; do wait -n || true; done
  ( one_run "$name" "$exp" "$alpha" "$k" > "$SAVE/$name.out" 2>&1 \
      && echo "ablations: $name done" || echo "ablations: $name FAILED (see $SAVE/$name.out)" ) &
done
wait

specs() { for v in "$@"; do f="$SAVE/${PARAM}_$v/$TEST_DIR/bleu.json"; [ -f "$f" ] && printf '%s ' "$PARAM=$v=$f"; done; }
PARAM=alpha; A=$(specs 0 1 3 5 7 10)
# k = 1 is R-Drop on every update: the alpha 5 run.
PARAM=k; K1=""; [ -f "$SAVE/alpha_5/$TEST_DIR/bleu.json" ] && K1="k=1=$SAVE/alpha_5/$TEST_DIR/bleu.json"
K=$(specs 2 5 10)
SUFFIX=${TEST_DIR#test}   # tables of another TEST_DIR do not overwrite these
[ -n "$A" ] && "$PY" "$ROOT/scripts/ablation_table.py" $A --md "$SAVE/ablation_alpha$SUFFIX.md" --png "$SAVE/ablation_alpha$SUFFIX.png" --title "Multi30k, $UPDATES updates each: R-Drop alpha"
[ -n "$K$K1" ] && "$PY" "$ROOT/scripts/ablation_table.py" $K1 $K --md "$SAVE/ablation_k$SUFFIX.md" --png "$SAVE/ablation_k$SUFFIX.png" --title "Multi30k, $UPDATES updates each: k-step R-Drop (alpha 5)"
echo "ablations: tables in $SAVE/ablation_{alpha,k}$SUFFIX.md"
