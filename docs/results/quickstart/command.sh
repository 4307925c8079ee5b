# README main job, 2026-11-25, 2 threads alone: 400 updates, test2016 sacreBLEU 13.71
bash scripts/install.sh && PATH=$PWD/.venv/bin:$PATH bash examples/translation/quickstart-multi30k.sh ~/runs/quickstart
