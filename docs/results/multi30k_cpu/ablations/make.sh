#!/usr/bin/env bash
# Every file in this folder, from the repository root (after scripts/install.sh
# and examples/translation/prepare-multi30k.sh ../shared/data/multi30k work/multi30k 8000).
set -euo pipefail
source .venv/bin/activate
A=work/ablations; OUT=docs/results/multi30k_cpu/ablations
# 12 runs of 300 updates, 2 at a time, then test BLEU with fairseq's default
# length limit (200 tokens) and with the valid BLEU's (1.2 x source + 10, the default).
TEST_DIR=test_maxlen200 SCORE_FLAGS="--max-len-b 200" \
  bash examples/translation/ablations-multi30k-cpu.sh work/multi30k/data-bin $A ../shared/data/multi30k 1
bash examples/translation/ablations-multi30k-cpu.sh work/multi30k/data-bin $A ../shared/data/multi30k 1
mkdir -p $OUT/logs
RUNS="baseline realformer alpha_0 alpha_1 alpha_3 alpha_5 alpha_7 alpha_10 k_2 k_5 k_10 realformer_rdrop"
python scripts/runs_table.py $(for r in $RUNS; do printf '%s=%s ' $r $A/$r; done) --md $OUT/runs.md --json $OUT/runs.json
python scripts/runs_table.py $(for r in $RUNS; do printf '%s=%s ' $r $A/$r; done) --test-dir test_maxlen200 --md $OUT/runs_maxlen200.md
python scripts/plot_curves.py $(for a in 0 1 3 5 7 10; do printf 'alpha_%s=%s ' $a $A/alpha_$a/train.log; done) \
  --out $OUT/curves_alpha.png --title "Multi30k, 300 updates each, 2 CPU lanes: R-Drop alpha"
python scripts/plot_curves.py k_1=$A/alpha_5/train.log $(for k in 2 5 10; do printf 'k_%s=%s ' $k $A/k_$k/train.log; done) \
  --out $OUT/curves_k.png --title "Multi30k, 300 updates each, 2 CPU lanes: k-step R-Drop (alpha 5)"
python scripts/plot_curves.py transformer=$A/baseline/train.log realformer=$A/realformer/train.log \
  transformer+rdrop=$A/alpha_5/train.log realformer+rdrop=$A/realformer_rdrop/train.log \
  --out $OUT/curves_realformer.png --title "Multi30k, 300 updates each, 2 CPU lanes: RealFormer with and without R-Drop (alpha 5)"
python scripts/parse_logs.py $(for r in $RUNS; do printf '%s=%s ' $r $A/$r/train.log; done) --csv $OUT/curves.csv
cp $A/ablation_*.md $A/ablation_*.png $OUT/
for r in $RUNS; do
  cp $A/$r/train.log $OUT/logs/train_$r.log
  cp $A/$r/test/bleu.json $OUT/logs/test_bleu_$r.json
  if [ -f $A/$r/test_maxlen200/bleu.json ]; then cp $A/$r/test_maxlen200/bleu.json $OUT/logs/test_bleu_maxlen200_$r.json; fi
done
ls -la $OUT
