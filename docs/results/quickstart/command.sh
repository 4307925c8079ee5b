# README main job, 2026-12-06, 2 cores alone (training lanes stopped): the 10-minute settings
# (300 updates, k-step R-Drop k = 4, dropout 0.1, vocabulary 4000, fused_linear loss);
# test2016 sacreBLEU and minutes in run.json
bash scripts/install.sh && PATH=$PWD/.venv/bin:$PATH bash examples/translation/quickstart-multi30k.sh
