#!/usr/bin/env bash
# The paper's "realformer" experiment: train.sh realformer with the same arguments and
# environment (PRESET, ALPHA, K, TENSORBOARD_DIR, DRY_RUN; see train.sh).
#
#   train-realformer.sh DATA_BIN SAVE_DIR [SEED] [extra fairseq-train flags...]
exec bash "$(dirname "$0")/train.sh" realformer "$@"
