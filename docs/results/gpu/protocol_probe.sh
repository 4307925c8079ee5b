#!/usr/bin/env bash
# protocol-speed probe on the GPU (after run.sh's install, same shell env): train.sh directly
# needs .gpu/pd/data-bin: the protocol's data (bash examples/translation/converged.sh prepare; copy
# WORK/data-2000p-2000v/data-bin there). Env: VE (validate every, 1000 = none in 300 updates), MANY (lanes).
R=$(pwd); OUT=$1
python3 -c "import sacrebleu; print('sacrebleu', sacrebleu.__version__)" 2>&1 | tail -2
python3 -c "import matplotlib; print('matplotlib', matplotlib.__version__)" 2>&1 | tail -2
mkdir -p /tmp/pd; cp -r .gpu/pd/data-bin /tmp/pd/
P="--encoder-embed-dim 128 --decoder-embed-dim 128 --encoder-ffn-embed-dim 256 --decoder-ffn-embed-dim 256 --validate-interval 1000 --save-interval 1000 --lr 2e-3 --warmup-updates 500"
V=${VE:-100}
one() { PRESET=multi30k-cpu DEVICE=cuda UPDATES=$3 VALID_EVERY=$V ALPHA=5 K=1 OMP_NUM_THREADS=1 bash examples/translation/train.sh $1 /tmp/pd/data-bin /tmp/p/$2 1 $P > /tmp/p/$2.log 2>&1; echo "$2 rc $?"; }
mkdir -p /tmp/p
for e in baseline rdrop; do t=$(date +%s); timeout 60 bash -c "$(declare -f one); P='$P' V=$V one $e ${e}_1lane 300"; echo "$e 1 lane: $(( $(date +%s)-t ))s"; done
t=$(date +%s); for i in $(seq 1 ${MANY:-8}); do (timeout 90 bash -c "$(declare -f one); P='$P' V=$V one rdrop rdrop_8lanes_$i 300") & done; wait; echo "rdrop ${MANY:-8} lanes: $(( $(date +%s)-t ))s"
tar czf $OUT/probe_logs.tgz /tmp/p/*.log /tmp/p/*/train.log $OUT/prep.log 2>/dev/null; ls -la $OUT/probe_logs.tgz
for f in /tmp/p/*.log; do echo "== $f"; grep -E "train_inner|valid|Error|error" $f | tail -3 | cut -c1-400; done
