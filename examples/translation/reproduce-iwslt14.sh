#!/usr/bin/env bash
# The R-Drop paper's IWSLT14 experiments in one resumable command: reproduce.sh iwslt14
# (see it for the runs, knobs and outputs).
#
#   reproduce-iwslt14.sh [WORK] [extra fairseq-train flags]
exec bash "$(dirname "$0")/reproduce.sh" iwslt14 "$@"
