# README main job, 2026-12-06, 2 cores alone (training lanes stopped): 400 updates, fused_linear loss;
# test2016 sacreBLEU and minutes in run.json
bash scripts/install.sh && PATH=$PWD/.venv/bin:$PATH bash examples/translation/quickstart-multi30k.sh ~/runs/quickstart2
