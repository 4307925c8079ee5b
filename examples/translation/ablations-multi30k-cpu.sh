#!/usr/bin/env bash
# The reduced protocol's ablations on Multi30k (docs/results/multi30k_cpu):
# R-Drop's alpha, k-step R-Drop's k, and RealFormer with and without R-Drop,
# every run trained for the same number of updates, then scored on test2016.
#
#   ablations-multi30k-cpu.sh DATA_BIN SAVE_ROOT RAW_DIR [SEED]
#
# RAW_DIR holds test.en (the raw reference, e.g. ../shared/data/multi30k).
# This is sweep.sh all with PRESET=multi30k-cpu and alphas 0 1 3 5 7 10:
# UPDATES (default 300) updates per run; LANES (default 2) runs at a time, each
# on one core of two; RUNS, TEST_DIR, DRY_RUN as for sweep.sh. SCORE_FLAGS
# defaults to "--max-len-a 1.2 --max-len-b 10", the length limit of the valid
# BLEU that picked the checkpoint: short runs' models still fall into
# repetition loops, which fairseq's default limit of 200 tokens turns into test
# BLEU noise.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 3 ]; then sed -n '2,15p' "$0" >&2; exit 2; fi
DATA=$1; SAVE=$2; RAW=$3; SEED=${4:-1}
UPDATES=${UPDATES:-300}
[[ $UPDATES =~ ^[1-9][0-9]*$ ]] || { echo "ablations: UPDATES: expected a whole number >= 1, got '$UPDATES'" >&2; exit 2; }
[ -f "$RAW/test.en" ] || { echo "ablations: RAW_DIR: no test.en in '$RAW'" >&2; exit 2; }
PRESET=multi30k-cpu MINUTES=120 VALID_EVERY=100 LANES=${LANES:-2} ALPHA=5 ALPHAS="10 7 5 3 1 0" KS="1 2 5 10" \
  SCORE_FLAGS=${SCORE_FLAGS:---max-len-a 1.2 --max-len-b 10} TITLE="Multi30k, $UPDATES updates each" \
  exec bash "$HERE/sweep.sh" all "$DATA" "$SAVE" "$RAW/test.en" "$SEED" --max-update "$UPDATES"
