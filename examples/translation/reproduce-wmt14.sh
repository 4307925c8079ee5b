#!/usr/bin/env bash
# The R-Drop paper's WMT14 experiments in one resumable command: reproduce.sh wmt14
# (see it for the runs, knobs and outputs).
#
#   reproduce-wmt14.sh [WORK] [extra fairseq-train flags]
exec bash "$(dirname "$0")/reproduce.sh" wmt14 "$@"
