#!/usr/bin/env bash
# The paper's "baseline" experiment: train.sh baseline with the same arguments and
# environment (PRESET, ALPHA, K, TENSORBOARD_DIR, DRY_RUN; see train.sh).
#
#   train-baseline.sh DATA_BIN SAVE_DIR [SEED] [extra fairseq-train flags...]
exec bash "$(dirname "$0")/train.sh" baseline "$@"
