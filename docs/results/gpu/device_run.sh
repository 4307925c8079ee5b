#!/usr/bin/env bash
# On the lent GPU machine (python3 with torch, no fairseq, no network): fairseq
# from its sdist on PYTHONPATH, then, each stage optional:
#   tests     tests/test_cuda.py (TESTS_K=skip: none; else a -k expression or all)
#   DIAG      scripts/profile_gpu_update.py's predecessor on the listed configs
#   PROTOCOL_RUNS  converged.sh runs with DEVICE=cuda (PROTOCOL_LANES at a time,
#             PROTOCOL_ENV e.g. RDROP_CUDNN_ATTENTION=0, PROTOCOL_TIMEOUT s);
#             results and logs come back as protocol_results.tgz / protocol_logs.tgz
#   PROFILE   scripts/profile_gpu_update.py on the listed configs under each attention
#             setting (default, RDROP_CUDNN_ATTENTION=0, TORCH_CUDNN_SDPA_AVOID_RECOMPILE=1);
#             the fastest on rdrop@N is kept for the bench stage
#   bench     scripts/benchmark.py with BENCH_ARGS (skip: none)
#   PROBE_RUNS  converged.sh at PROBE_UPDATES updates, one lane, then PROBE_MANY in PROBE_LANES
#             (protocol_probe.sh, which ran, is the train.sh-only version of it)
#   bash .gpu/run.sh OUT_DIR
# Ran on an H200 on 2026-11-26 (tests, DIAG, bench) and an H100 on 2026-11-26
# (tests, PROFILE, bench; the PROBE stage failed on the python link, fixed since); the
# PROTOCOL stage has run only in a CPU rehearsal (PROTOCOL_DEVICE=cpu).
set -u
export PYTHONUNBUFFERED=1
R=$(cd "$(dirname "$0")/.." && pwd); OUT=${1:?OUT}; mkdir -p "$OUT"
WHL=${WHL:-$R/.gpu/whl}
t0=$(date +%s); stamp() { echo "[run.sh $(( $(date +%s) - t0 ))s] $*"; }
{
stamp start
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(0))"
rm -rf /tmp/site /tmp/fs && mkdir -p /tmp/site /tmp/fs
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHL"/*.whl || exit 3
cp -r "$R/.gpu/pure/antlr4" /tmp/site/
tar xzf "$R"/.gpu/fairseq_fixed-0.12.3.1.tar.gz -C /tmp/fs
FS=/tmp/fs/fairseq_fixed-0.12.3.1
(cd "$FS" && PYTHONPATH=/tmp/site python3 "$R/.gpu/build_ext.py" > /tmp/fs/build.log 2>&1) || { tail -30 /tmp/fs/build.log; exit 4; }
export PYTHONPATH=/tmp/site:$FS:$R
BIN=$(python3 -c "import os, sys; print(os.path.dirname(sys.executable))")
for t in train preprocess generate; do
  printf '#!/bin/sh\nexec "%s" -m fairseq_cli.%s "$@"\n' "$BIN/python3" "$t" > "$BIN/fairseq-$t"; chmod +x "$BIN/fairseq-$t"
done
python3 -c "import numpy, torch, fairseq, rdrop_fairseq; print('numpy', numpy.__version__, 'fairseq', fairseq.__version__, 'plugin', rdrop_fairseq.USER_DIR)" || exit 5
stamp installed
if [ "${TESTS_K:-}" != skip ]; then
N=""; python3 -c "import xdist" 2>/dev/null && N="-n 4"
MULTI30K_DIR=$R/.gpu/multi30k timeout "${TEST_TIMEOUT:-220}" python3 -m pytest tests/test_cuda.py $N -q -rA ${TESTS_K:+-k "$TESTS_K"} \
  --junitxml "$OUT/test_cuda.xml" > "$OUT/test_cuda.txt" 2>&1
echo "pytest rc $?"; grep -E "^(PASSED|FAILED|ERROR)|passed|failed" "$OUT/test_cuda.txt" | tail -50
fi
stamp tested
if [ -n "${DIAG:-}" ]; then
  timeout "${DIAG_TIMEOUT:-120}" python3 "$R/.gpu/diag.py" "$R/.gpu/iwslt14-bin" $DIAG > "$OUT/diag.txt" 2>&1
  echo "diag rc $?"; grep "^==" "$OUT/diag.txt"
  stamp diag
fi
if [ -n "${PROTOCOL_RUNS:-}" ]; then
  # converged protocol runs on the GPU, many at a time; results come back as one tarball
  [ -e "$BIN/python" ] || ln -s python3 "$BIN/python"  # never -f: python3 may itself link to python
  mkdir -p /tmp/conv-results
  PYTHON=python3 DEVICE=${PROTOCOL_DEVICE:-cuda} LANES=${PROTOCOL_LANES:-12} WORK=/tmp/conv-runs \
    RESULTS=/tmp/conv-results RAW="$R/.gpu/multi30k" REPORT=0 GIT_COMMIT=$(cat "$R/.gpu/commit" 2>/dev/null) \
    env ${PROTOCOL_ENV:-} timeout "${PROTOCOL_TIMEOUT:-400}" \
    bash examples/translation/converged.sh $PROTOCOL_RUNS > "$OUT/protocol.log" 2>&1
  echo "protocol rc $?"; tail -30 "$OUT/protocol.log"
  for f in /tmp/conv-runs/*.out; do echo "== $f"; tail -3 "$f"; done
  tar czf "$OUT/protocol_results.tgz" -C /tmp/conv-results . && ls -la "$OUT/protocol_results.tgz"
  tar czf "$OUT/protocol_logs.tgz" -C /tmp/conv-runs --exclude='*.pt' --exclude='data-*' . 2>/dev/null || true
  stamp protocol
fi
if [ -n "${PROFILE:-}" ]; then
  # the same profile under each attention setting; the fastest on rdrop@N is used for the benchmark
  for v in default RDROP_CUDNN_ATTENTION=0 TORCH_CUDNN_SDPA_AVOID_RECOMPILE=1; do
    e=""; [ "$v" = default ] || e=$v
    env $e timeout "${PROFILE_TIMEOUT:-60}" python3 scripts/profile_gpu_update.py "$R/.gpu/iwslt14-bin" $PROFILE > "$OUT/profile_${v%%=*}.txt" 2>&1
    echo "profile $v rc $?"; grep "^==" "$OUT/profile_${v%%=*}.txt"
  done
  BEST=$(for v in default RDROP_CUDNN_ATTENTION TORCH_CUDNN_SDPA_AVOID_RECOMPILE; do
           m=$(grep -m1 "^== rdrop@N: median" "$OUT/profile_$v.txt" 2>/dev/null | sed 's/.*median \([0-9.]*\) s.*/\1/')
           [ -n "$m" ] && echo "$m $v"; done | sort -n | head -1 | cut -d' ' -f2)
  case "$BEST" in RDROP_CUDNN_ATTENTION) export RDROP_CUDNN_ATTENTION=0 ;; TORCH_CUDNN_SDPA_AVOID_RECOMPILE) export TORCH_CUDNN_SDPA_AVOID_RECOMPILE=1 ;; esac
  echo "fastest attention setting on rdrop@N: ${BEST:-none}" | tee "$OUT/attention_setting.txt"
  stamp profile
fi
[ "${BENCH_ARGS:-}" = skip ] || timeout "${BENCH_TIMEOUT:-280}" python3 scripts/benchmark.py --data "$R/.gpu/iwslt14-bin" \
  ${BENCH_ARGS:---device cuda --precision fp16 --full-size --runs 2 --steps 30 --warmup 5 --configs ls@N rdrop@N ls@2N realformer@N realformer_rdrop@N simcut@N rdrop_cutoff@N rdrop_plain@N rdrop_linear@N} \
  --json "$OUT/benchmark_gpu.json" > "$OUT/benchmark_gpu.txt" 2> "$OUT/benchmark_gpu.err"
echo "benchmark rc $?"; cat "$OUT/benchmark_gpu.txt"; tail -5 "$OUT/benchmark_gpu.err"
stamp bench
if [ -n "${PROBE_RUNS:-}" ]; then
  # a short look at the converged protocol on the GPU: PROBE_UPDATES updates per run, one lane, then PROBE_LANES lanes
  [ -e "$BIN/python" ] || ln -s python3 "$BIN/python"  # never -f: python3 may itself link to python
  export PYTHON=python3 DEVICE=cuda RAW="$R/.gpu/multi30k" REPORT=0 GIT_COMMIT=$(cat "$R/.gpu/commit" 2>/dev/null) \
    TEST_PROTOCOL="MIN_UPDATES=${PROBE_UPDATES:-300} MAX_UPDATES=${PROBE_UPDATES:-300}"
  t1=$(date +%s)
  WORK=/tmp/probe1 RESULTS=/tmp/probe1-results LANES=1 timeout "${PROBE1_TIMEOUT:-90}" bash examples/translation/converged.sh $PROBE_RUNS > "$OUT/probe1.log" 2>&1
  echo "probe lanes=1 rc $? in $(( $(date +%s) - t1 ))s"; tail -5 "$OUT/probe1.log"
  t1=$(date +%s)
  mkdir -p /tmp/probeN; cp -r /tmp/probe1/data-* /tmp/probeN/ 2>/dev/null
  WORK=/tmp/probeN RESULTS=/tmp/probeN-results LANES=${PROBE_LANES:-8} timeout "${PROBEN_TIMEOUT:-90}" bash examples/translation/converged.sh $PROBE_MANY > "$OUT/probeN.log" 2>&1
  echo "probe lanes=${PROBE_LANES:-8} rc $? in $(( $(date +%s) - t1 ))s"; tail -10 "$OUT/probeN.log"
  tar czf "$OUT/probe_logs.tgz" --exclude='*.pt' --exclude='data-bin' /tmp/probe1 /tmp/probeN /tmp/probe1-results /tmp/probeN-results 2>/dev/null; ls -la "$OUT/probe_logs.tgz"
  stamp probe
fi
stamp done
} 2>&1 | tee "$OUT/run.log"
