#!/usr/bin/env bash
# The converged protocol on 2 CPU cores (docs/results/converged): Multi30k
# De->En, every run trained until its own valid BLEU has stopped rising, scored
# on test2016, and its small results written to RESULTS/runs/<run>/.
#
#   converged.sh [RUN|GROUP ...]                      (default: headline)
#   converged.sh prepare                  (only the protocol's data, in WORK)
#
# RUN is CONFIG_sSEED with CONFIG one of
#   baseline | rdrop (R-Drop, alpha 5) | alpha_A (R-Drop, alpha A) |
#   k_K (k-step R-Drop, alpha 5) | passes_M (R-Drop over M copies, alpha 5) |
#   realformer | realformer_rdrop (alpha 5) | simcut (SimCut: alpha 3, token
#   cutoff 0.05 on the second copy) | rdrop_cutoff (R-Drop + Cutoff: alpha 5,
#   cutoff 0.05 on both copies) | probe (the baseline with the dropout probe
#   every 100 updates: it trains exactly as the baseline) | a schedule (R-Drop,
#   alpha 5, issue 40): parts joined by '-', each one of start_N (plain before
#   update N), warmup_W (alpha ramp over W updates), share (one encoder pass),
#   lr_X (peak lr X, e.g. lr_0.003), k_K (k-step), e.g. start_600-warmup_1000
# GROUP: headline = baseline and rdrop, seeds 1 2 3; ablations = seed 1 of
# alpha 0 1 3 7 10, k 2 5 10, passes_3, realformer, realformer_rdrop (alpha 5
# and k 1 are rdrop_s1); all = both.
# Stopping rule (scripts/convergence.py): valid BLEU every VALID_EVERY updates;
# a run stops at the first validation where its best came at <= FRACTION of
# its updates and >= PATIENCE updates ago (never before MIN_UPDATES; cut, and
# marked not converged, at MAX_UPDATES); a new best counts only if it beats the
# rule's previous one by >= MIN_DELTA BLEU. It trains in segments to exactly that
# point (fairseq resumes from checkpoint_last.pt). Then score.sh scores
# checkpoint_best.pt on test2016 (beam 5), and RESULTS/runs/<run>/ gets
# train.log, curves.csv, test_bleu.json, test_hyp.txt, commands.sh, run.json.
# A run whose RESULTS/runs/<run>/test_bleu.json exists is skipped; an
# unfinished one continues from its checkpoint in WORK/<run>.
# Knobs: WORK (runs and data, default ~/runs/converged), RESULTS (default
# docs/results/converged), RAW (Multi30k, default ../shared/data/multi30k),
# LANES (runs at a time, each on nproc/LANES threads; default 1), DEVICE
# (cpu, the protocol's, or cuda: train and score on the GPU, fp32), COMMIT=1
# (git-commit each run's results with the regenerated report and README blocks
# as soon as it ends, in the repository holding RESULTS), REPORT=0 (skip
# scripts/converged_report.py at the end), DRY_RUN=1 (list each run's first
# fairseq-train command), GIT_COMMIT (recorded in run.json; default: the
# checkout's HEAD, for copies without .git).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# This checkout's code, not whichever one is installed: a run from a worktree at a fixed
# commit stays at that commit (rdrop_analysis for scripts/, rdrop_fairseq for python -m).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}
case "${1:-}" in -h|--help) sed -n '2,40p' "$0"; exit 0 ;; esac

# ---- the protocol: change it only together with docs/results/converged ----
TRAIN_PAIRS=2000        # the first N pairs of Multi30k's training set
VOCAB=2000              # joint sentencepiece BPE, learned on those pairs
MODEL=(--encoder-embed-dim 128 --decoder-embed-dim 128
       --encoder-ffn-embed-dim 256 --decoder-ffn-embed-dim 256)
# lr 2e-3 with 500 warm-up updates (pilot H), not the preset's 1e-3 / 150:
# inverse_sqrt then keeps ~3.6x the preset's lr, and R-Drop peaks in ~2-3k
# updates instead of > 3.5k (pilot G), so that a pair fits in a session.
SCHEDULE=(--lr 2e-3 --warmup-updates 500)
VALID_EVERY=100; FRACTION=0.7; PATIENCE=500; MIN_UPDATES=1000; MAX_UPDATES=8000
# Amended 2026-11-26 (docs/results/converged/README.md, "The stopping rule"): gains
# below 0.1 valid BLEU are noise and no longer restart the wait.
MIN_DELTA=0.1
ALPHA=5
# train.sh's multi30k-cpu preset (3+3 layers, dropout 0.3, label smoothing
# 0.1, max-tokens 4096) with the model and schedule above; validation and
# checkpoints only every VALID_EVERY updates, not at epoch ends (an epoch of
# 2,000 pairs is ~13 updates).
PROTOCOL=("${MODEL[@]}" --validate-interval 1000 --save-interval 1000 "${SCHEDULE[@]}")
# For tests and quick looks only, TEST_PROTOCOL="KEY=VALUE ..." replaces
# TRAIN_PAIRS, VOCAB, VALID_EVERY, PATIENCE, MIN_UPDATES, MAX_UPDATES or MIN_DELTA and
# TEST_FLAGS adds fairseq-train flags, TEST_SCORE_FLAGS fairseq-generate flags;
# run.json records what was used, and the report flags runs whose protocol
# differs.
for kv in ${TEST_PROTOCOL:-}; do
  [[ $kv =~ ^(TRAIN_PAIRS|VOCAB|VALID_EVERY|PATIENCE|MIN_UPDATES|MAX_UPDATES)=[0-9]+$ ||
     $kv =~ ^MIN_DELTA=[0-9]+([.][0-9]+)?$ ]] ||
    { echo "converged.sh: TEST_PROTOCOL: expected KEY=NUMBER with KEY in TRAIN_PAIRS, VOCAB, VALID_EVERY," \
        "PATIENCE, MIN_UPDATES, MAX_UPDATES (whole numbers) or MIN_DELTA; got '$kv'" >&2; exit 2; }
  declare "$kv"
done
# shellcheck disable=SC2206
PROTOCOL+=(${TEST_FLAGS:-})
# -------------------------------------------------------------------------

WORK=${WORK:-$HOME/runs/converged}
RESULTS=${RESULTS:-$ROOT/docs/results/converged}
RAW=${RAW:-$ROOT/../shared/data/multi30k}
LANES=${LANES:-1}
DEVICE=${DEVICE:-cpu}
case "$DEVICE" in
  cpu) ON_CPU=--cpu ;;
  cuda) ON_CPU= ;;
  *) echo "converged.sh: DEVICE: expected cpu or cuda, got '$DEVICE'" >&2; exit 2 ;;
esac
[[ $LANES =~ ^[1-9][0-9]*$ ]] || { echo "converged.sh: LANES: expected a whole number >= 1, got '$LANES'" >&2; exit 2; }

HEADLINE="baseline_s1 rdrop_s1 baseline_s2 rdrop_s2 baseline_s3 rdrop_s3"
ABLATIONS="alpha_0_s1 alpha_1_s1 alpha_3_s1 alpha_7_s1 alpha_10_s1 k_2_s1 k_5_s1 k_10_s1
           passes_3_s1 realformer_s1 realformer_rdrop_s1"
NUM='(0|[1-9][0-9]*)([.][0-9]+)?'
config() {  # RUN -> "experiment alpha k extra-flags..." or an error
  local run=$1
  [[ $run =~ ^(.+)_s([1-9][0-9]*)$ ]] || return 1
  local c=${BASH_REMATCH[1]}
  case "$c" in
    baseline) echo "baseline $ALPHA 1" ;;
    rdrop) echo "rdrop $ALPHA 1" ;;
    realformer) echo "realformer $ALPHA 1" ;;
    realformer_rdrop) echo "realformer_rdrop $ALPHA 1" ;;
    simcut) echo "simcut 3 1" ;;
    rdrop_cutoff) echo "rdrop_cutoff $ALPHA 1" ;;
    probe) echo "baseline $ALPHA 1 --task translation_rdrop --rdrop-probe-interval 100" ;;
    *) if [[ $c =~ ^alpha_$NUM$ ]]; then echo "rdrop ${c#alpha_} 1"
       elif [[ $c =~ ^k_([2-9]|[1-9][0-9]+)$ ]]; then echo "kstep $ALPHA ${c#k_}"
       elif [[ $c =~ ^passes_([2-9]|[1-9][0-9]+)$ ]]; then echo "rdrop $ALPHA 1 --rdrop-passes ${c#passes_}"
       else schedule "$c"; fi ;;
  esac
}
schedule() {  # start_600-warmup_1000-... -> "schedule ALPHA K flags..." or an error
  local part k=1 flags=() parts
  IFS=- read -r -a parts <<< "$1"
  for part in "${parts[@]}"; do
    if [[ $part =~ ^start_([1-9][0-9]*)$ ]]; then flags+=(--rdrop-start-update "${BASH_REMATCH[1]}")
    elif [[ $part =~ ^warmup_([1-9][0-9]*)$ ]]; then flags+=(--rdrop-alpha-warmup-updates "${BASH_REMATCH[1]}")
    elif [[ $part == share ]]; then flags+=(--rdrop-share-encoder)
    elif [[ $part =~ ^lr_(0[.][0-9]+)$ ]]; then flags+=(--lr "${BASH_REMATCH[1]}")
    elif [[ $part =~ ^k_([2-9]|[1-9][0-9]+)$ ]]; then k=${BASH_REMATCH[1]}
    else return 1; fi
  done
  echo "schedule $ALPHA $k ${flags[*]}"
}

RUNS_LIST=(); PREPARE_ONLY=
for a in "${@:-headline}"; do
  case "$a" in
    prepare) PREPARE_ONLY=1 ;;
    headline) RUNS_LIST+=($HEADLINE) ;;
    ablations) RUNS_LIST+=($ABLATIONS) ;;
    all) RUNS_LIST+=($HEADLINE $ABLATIONS) ;;
    *) config "$a" > /dev/null || { echo "converged.sh: RUN: expected headline, ablations, all or" \
         "CONFIG_sSEED with CONFIG baseline, rdrop, alpha_A, k_K (K >= 2), passes_M (M >= 2)," \
         "realformer, realformer_rdrop, simcut, rdrop_cutoff, probe or a schedule (start_N, warmup_W," \
         "share, lr_X, k_K joined by '-'); got '$a'" >&2; exit 2; }
       RUNS_LIST+=("$a") ;;
  esac
done

# The tools every run needs, checked before hours are spent: a run that fails
# on a missing command is otherwise only seen in its log.
if [ -z "${DRY_RUN:-}" ]; then
  for tool in fairseq-train fairseq-generate fairseq-preprocess; do
    command -v "$tool" > /dev/null || { echo "converged.sh: $tool not on PATH: activate the" \
      "environment first (bash scripts/install.sh; source .venv/bin/activate)" >&2; exit 2; }
  done
  "$PY" -c "import matplotlib, sacrebleu" 2> /dev/null || { echo "converged.sh:" \
    "$PY cannot import matplotlib and sacrebleu (the report and the scores need them):" \
    "activate the environment first" >&2; exit 2; }
fi

# shellcheck disable=SC2207
RUNS_LIST=($(printf '%s\n' "${RUNS_LIST[@]}" | awk '!seen[$0]++'))
THREADS=$(( $(nproc) / LANES )); [ "$THREADS" -ge 1 ] || THREADS=1
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
DATA=$WORK/data-${TRAIN_PAIRS}p-${VOCAB}v/data-bin

train() {  # run updates: train.sh with the protocol (DRY_RUN=1 train ...: its command)
  local run=$1 updates=$2 exp alpha k extra
  read -r exp alpha k extra <<< "$(config "$run")"
  # shellcheck disable=SC2086
  # every interval checkpoint of a segment is kept until keep_records picks the best-so-far ones
  PRESET=multi30k-cpu DEVICE=$DEVICE UPDATES=$updates VALID_EVERY=$VALID_EVERY ALPHA=$alpha K=$k \
    bash "$HERE/train.sh" "$exp" "$DATA" "$WORK/$run" "${run##*_s}" "${PROTOCOL[@]}" $extra --keep-interval-updates -1
}

keep_records() {  # save dir: copy each best-so-far checkpoint into best/ (only those can be the best
  # within a budget: scripts/budget.py), then drop the interval checkpoints but the newest two
  local save=$1 u f
  mkdir -p "$save/best" || return 1
  for u in $("$PY" "$ROOT/scripts/budget.py" records "$save/train.log"); do
    [ -e "$save/best/$u.pt" ] && continue
    for f in "$save"/checkpoint_*_"$u".pt; do
      if [ -f "$f" ]; then cp "$f" "$save/best/$u.pt.tmp" && mv "$save/best/$u.pt.tmp" "$save/best/$u.pt" || return 1; fi
    done
  done
  # shellcheck disable=SC2012
  ls "$save"/checkpoint_*_*.pt 2> /dev/null | awk -F_ '{print $NF, $0}' | sort -n | head -n -2 | cut -d' ' -f2- |
    xargs -r rm -f
}

score_budgets() {  # run save out: score the checkpoints that are best within a budget (budget.py)
  local run=$1 save=$2 out=$3 u ups
  ups=$("$PY" "$ROOT/scripts/budget.py" to-score "$save/train.log" --config "${run%_s*}" --results "$RESULTS") || return 1
  for u in $ups; do
    if [ ! -f "$save/best/$u.pt" ]; then
      echo "converged: $run: no kept checkpoint of update $u (trained before best/ was kept): not scored"; continue
    fi
    [ -f "$save/test_$u/bleu.json" ] || bash "$HERE/score.sh" "$DATA" "$save/best/$u.pt" "${DATA%/data-bin}/raw/test.en" \
      "$save/test_$u" $ON_CPU ${TEST_SCORE_FLAGS:-} > /dev/null || return 1
    echo "bash examples/translation/score.sh $DATA $save/best/$u.pt ${DATA%/data-bin}/raw/test.en $save/test_$u $ON_CPU ${TEST_SCORE_FLAGS:-}" \
      >> "$save/budget_commands.sh"
  done
  [ -n "$ups" ] || return 0
  "$PY" - "$save" "$out/budget_scores.json" $ups <<'PYEOF' || return 1
import json, sys
save, dest, ups = sys.argv[1], sys.argv[2], sys.argv[3:]
scores = {}
for u in ups:
    try:
        scores[u] = json.load(open(f"{save}/test_{u}/bleu.json"))
    except OSError:
        pass
json.dump({"note": "test scores of checkpoints best within a budget (scripts/budget.py), by update",
           "scores": scores}, open(dest, "w"), indent=1)
PYEOF
}

if [ -n "${DRY_RUN:-}" ] && [ -z "$PREPARE_ONLY" ]; then
  for r in "${RUNS_LIST[@]}"; do echo "== $r"; DRY_RUN=1 train "$r" "$MIN_UPDATES"; done
  exit 0
fi

rule() {  # log -> convergence.py's verdict
  "$PY" "$ROOT/scripts/convergence.py" next "$1" --fraction "$FRACTION" --patience "$PATIENCE" \
    --interval "$VALID_EVERY" --min-updates "$MIN_UPDATES" --max-updates "$MAX_UPDATES" --min-delta "$MIN_DELTA"
}

one_run() {  # errors are checked one by one: set -e does not reach into a backgrounded function
  local run=$1 save=$WORK/$1 out=$RESULTS/runs/$1 verdict exp alpha k extra cmd
  read -r exp alpha k extra <<< "$(config "$run")"
  mkdir -p "$save" || return 1
  [ -f "$save/started" ] || date -u +%FT%TZ > "$save/started"
  while verdict=$(rule "$save/train.log") || return 1; [[ $verdict == train* ]]; do
    cmd=$(DRY_RUN=1 train "$run" "${verdict#train }") || return 1
    echo "OMP_NUM_THREADS=$THREADS $cmd" >> "$save/commands.sh"
    echo "converged: $run: training to ${verdict#train } updates"
    train "$run" "${verdict#train }" > /dev/null || return 1
    keep_records "$save" || return 1
  done
  echo "converged: $run: $verdict; scoring checkpoint_best.pt on test2016"
  bash "$HERE/score.sh" "$DATA" "$save/checkpoint_best.pt" "${DATA%/data-bin}/raw/test.en" "$save/test" $ON_CPU \
    ${TEST_SCORE_FLAGS:-} > /dev/null || return 1
  mkdir -p "$out" && rm -f "$save/budget_commands.sh" && score_budgets "$run" "$save" "$out" &&
  cp "$save/train.log" "$out/train.log" && cp "$save/test/hyp.txt" "$out/test_hyp.txt" &&
  { echo "# $run: fairseq-train segments (each resumes from checkpoint_last.pt), then scoring"
    cat "$save/commands.sh"
    echo "bash examples/translation/score.sh $DATA $save/checkpoint_best.pt ${DATA%/data-bin}/raw/test.en $save/test $ON_CPU ${TEST_SCORE_FLAGS:-}"
    [ ! -f "$save/budget_commands.sh" ] || { echo "# the checkpoints best within a budget"; cat "$save/budget_commands.sh"; }
  } > "$out/commands.sh" &&
  "$PY" "$ROOT/scripts/parse_logs.py" "$run=$save/train.log" --csv "$out/curves.csv" &&
  "$PY" "$ROOT/scripts/converged_report.py" record "$out/run.json" --name "$run" --experiment "$exp" \
    --alpha "$alpha" --k "$k" --extra="$extra" --verdict "$verdict" --started "$(cat "$save/started")" \
    --threads "$THREADS" --device "$DEVICE" --git-commit "${GIT_COMMIT:-$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)}" \
    --fraction "$FRACTION" --patience "$PATIENCE" --min-updates "$MIN_UPDATES" \
    --max-updates "$MAX_UPDATES" --min-delta "$MIN_DELTA" --protocol "train_pairs=$TRAIN_PAIRS vocab=$VOCAB valid_every=$VALID_EVERY" \
    --protocol-flags "${PROTOCOL[*]}" --score-flags "${TEST_SCORE_FLAGS:-}" &&
  cp "$save/test/bleu.json" "$out/test_bleu.json" || return 1  # last: it marks the run as done
  if [ -n "${COMMIT:-}" ]; then
    ( flock 9 && commit_run "$run" "$out" "$verdict" ) 9> "$WORK/.git-lock" \
      || echo "converged: $run: git commit failed; results are in $out" >&2
  fi
  echo "converged: $run: done ($verdict), results in $out"
}

# COMMIT=1: one commit per run, in the repository that holds RESULTS (a run from a
# worktree commits into the checkout whose results it writes), together with the
# report and README blocks regenerated by that repository's own report: a commit with
# a run but a stale README fails the README test, so CI would fail on it. A README
# with uncommitted edits is left alone (never commit someone's half-made edit).
commit_run() {
  local run=$1 out=$2 verdict=$3 repo paths
  repo=$(git -C "$RESULTS" rev-parse --show-toplevel) || return 1
  paths=("$out")
  if [ "${REPORT:-1}" != 0 ]; then
    if git -C "$repo" diff --quiet -- README.md; then
      PYTHONPATH="$repo" "$PY" "$repo/scripts/converged_report.py" --results "$RESULTS" > /dev/null || return 1
      paths=("$RESULTS" "$repo/README.md")
    else
      echo "converged: $run: README.md has uncommitted edits: committed the run alone; run scripts/converged_report.py" >&2
    fi
  fi
  git -C "$repo" add -- "${paths[@]}" && git -C "$repo" commit -q -m "converged protocol: $run ($verdict)" -- "${paths[@]}"
}

mkdir -p "$WORK"
# Two drivers (lanes) started together must not prepare the same data at once:
# the second's fairseq-preprocess found the first's dictionary and failed, and a
# driver that tests for the dictionary alone could train on half-written files.
# So the data is prepared under a lock, and marked ready only once complete.
prepare_data() {
  local dir=${DATA%/data-bin}
  [ -f "$dir/ready" ] && return 0
  # without the marker (a driver older than it, or one killed while preparing),
  # the data counts as complete only if fairseq-preprocess's last file is there
  if [ ! -f "$DATA/dict.en.txt" ] || [ ! -f "$DATA/test.de-en.en.idx" ]; then
    bash "$HERE/prepare-multi30k.sh" "$RAW" "$dir" "$VOCAB" "$TRAIN_PAIRS"
  fi
  touch "$dir/ready"
}
( flock 8 && prepare_data ) 8> "$WORK/.prepare-lock"
[ -z "$PREPARE_ONLY" ] || { echo "converged: data in $DATA"; exit 0; }
for r in "${RUNS_LIST[@]}"; do
  if [ -f "$RESULTS/runs/$r/test_bleu.json" ]; then echo "converged: $r: results committed, skipped"; continue; fi
  while [ "$(jobs -rp | wc -l)" -ge "$LANES" ]; do wait -n || true; done
  ( one_run "$r" > "$WORK/$r.out" 2>&1 && tail -1 "$WORK/$r.out" \
      || echo "converged: $r FAILED (see $WORK/$r.out)" ) &
done
wait
if [ "${REPORT:-1}" != 0 ] && [ -d "$RESULTS/runs" ]; then
  "$PY" "$ROOT/scripts/converged_report.py" --results "$RESULTS"
fi
