# Pilots of 2026-11-25 (one core each, two side by side unless noted), from the repository root.
# Data: the first 2,000 Multi30k pairs, joint sentencepiece BPE of 2,000 pieces.
bash examples/translation/prepare-multi30k.sh ../shared/data/multi30k ~/runs/data/m30k-2k-v2k 2000 2000
PILOT=(--validate-interval 1000 --save-interval 1000 --patience 10)
SMALL=(--encoder-embed-dim 128 --decoder-embed-dim 128 --encoder-ffn-embed-dim 256 --decoder-ffn-embed-dim 256)
# E: the multi30k-cpu model (256 dim, FFN 512) on 2,000 pairs; stopped early (see README)
for e in baseline rdrop; do
  OMP_NUM_THREADS=1 PRESET=multi30k-cpu MINUTES=600 VALID_EVERY=100 bash examples/translation/train.sh $e \
    ~/runs/data/m30k-2k-v2k/data-bin ~/runs/pilots/E-$e 1 "${PILOT[@]}" --max-update 4000 &
done; wait
# G: 128 dim, FFN 256 on 2,000 pairs (G-rdrop moved to OMP_NUM_THREADS=2 at 1,800 updates,
# resuming from checkpoint_last.pt, once G-baseline had finished)
for e in baseline rdrop; do
  OMP_NUM_THREADS=1 PRESET=multi30k-cpu MINUTES=600 VALID_EVERY=100 bash examples/translation/train.sh $e \
    ~/runs/data/m30k-2k-v2k/data-bin ~/runs/pilots/G-$e 1 "${PILOT[@]}" --max-update 5000 "${SMALL[@]}" &
done; wait
bash examples/translation/score.sh ~/runs/data/m30k-2k-v2k/data-bin ~/runs/pilots/G-baseline/checkpoint_best.pt \
  ~/runs/data/m30k-2k-v2k/raw/test.en ~/runs/pilots/G-baseline/test --cpu
python scripts/convergence.py assess docs/results/converged/pilots/G_baseline/train.log --min-updates 1000
# H: G's model and data with lr 2e-3 and 500 warm-up updates (the converged driver itself,
# one core each, side by side; the schedule then became the protocol's, and these two
# runs its baseline_s1 / rdrop_s1: their results are in ../runs/). rdrop_s1 was moved to
# OMP_NUM_THREADS=2 at 1,100 updates (resumed from checkpoint_last.pt) once baseline_s1 ended.
WORK=~/runs/pilots/H RESULTS=docs/results/converged/pilots/H LANES=2 COMMIT=1 REPORT=0 \
  TEST_FLAGS="--lr 2e-3 --warmup-updates 500" bash examples/translation/converged.sh baseline_s1 rdrop_s1
mv ~/runs/pilots/H/baseline_s1 ~/runs/pilots/H/rdrop_s1 ~/runs/converged/
COMMIT=1 bash examples/translation/converged.sh rdrop_s1
