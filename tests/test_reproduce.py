"""reproduce-iwslt14.sh / reproduce-wmt14.sh: the commands they list (DRY_RUN),
GPU placement, the GPU-hours estimate, their errors, and a tiny real run on the
CPU through prepare, training, scoring, tables and figure, then a resume."""

import json
import shlex

import pytest

from cli import REPO, run
from test_prepare_scripts import make_archive

EX = REPO / "examples/translation"
TINY = ["--encoder-embed-dim", "32", "--decoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64",
        "--decoder-ffn-embed-dim", "64", "--encoder-layers", "1", "--decoder-layers", "1",
        "--encoder-attention-heads", "2", "--decoder-attention-heads", "2", "--no-epoch-checkpoints",
        "--required-batch-size-multiple", "1"]  # fairseq 0.12 drops batches under the multiple: 2 valid pairs


def listing(stdout):
    """[(run, devices or None, fairseq-train argv, score.sh command)] of a DRY_RUN."""
    runs, lines = [], stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("== "):
            name, _, devices = line[3:].partition(" on CUDA_VISIBLE_DEVICES=")
            runs.append((name, devices or None, shlex.split(lines[i + 1]), lines[i + 2]))
    return runs


def flag(cmd, name):
    return cmd[len(cmd) - 1 - cmd[::-1].index(name) + 1]


def test_iwslt14_lists_every_run_on_its_gpu_and_the_cost(tmp_path):
    est = tmp_path / "hours.json"
    proc = run(["bash", EX / "reproduce-iwslt14.sh", tmp_path / "w"],
               env_extra={"DRY_RUN": "1", "GPUS": "2", "FP16": "1", "GPU_HOURS_JSON": str(est)})
    assert f"prepare-iwslt14.sh {tmp_path / 'w' / 'data'}" in proc.stdout
    runs = listing(proc.stdout)
    names = [r[0] for r in runs]
    assert sorted(names) == sorted(["baseline", "alpha_1", "alpha_3", "alpha_5", "alpha_7", "alpha_10",
                                    "k_2", "k_5", "k_10", "realformer", "realformer_rdrop"])
    assert [r[1] for r in runs[:4]] == ["0", "1", "0", "1"]
    for name, _, cmd, score in runs:
        assert cmd[0] == "fairseq-train" and flag(cmd, "--lr") == "5e-4" and "--fp16" in cmd
        assert flag(cmd, "--save-dir") == str(tmp_path / "w" / "runs" / name)
        assert score.startswith("PRESET=iwslt14 bash") and f"runs/{name}/checkpoint_best.pt" in score
        assert score.split()[5] == str(tmp_path / "w" / "data" / "test.detok.en")
    k5 = dict((r[0], r[2]) for r in runs)["k_5"]
    assert flag(k5, "--rdrop-k-step") == "5" and flag(k5, "--rdrop-alpha") == "5"
    hours = json.loads(est.read_text())
    by_run = {r["run"]: r for r in hours["runs"]}
    assert by_run["alpha_5"]["hours"] == pytest.approx(2 * by_run["baseline"]["hours"], rel=0.01)
    assert by_run["baseline"]["updates"] == 300000 and "| all |" in proc.stdout
    # and the hours measured on the H100 (docs/gpu.md), k-step between the baseline and R-Drop
    measured = {r["run"]: r for r in hours["measured"]["runs"]}
    assert measured["baseline"]["hours"] < measured["k_2"]["hours"] < measured["alpha_5"]["hours"]
    assert "Measured on one NVIDIA H100 80GB HBM3" in proc.stdout


def test_iwslt14_hours_without_the_measurement(tmp_path):
    est = tmp_path / "hours.json"
    proc = run(["bash", EX / "reproduce-iwslt14.sh", tmp_path / "w"],
               env_extra={"DRY_RUN": "1", "GPUS": "1", "GPU_HOURS_JSON": str(est), "GPU_HOURS_MEASURED": ""})
    assert "measured" not in json.loads(est.read_text()) and "Measured on" not in proc.stdout


def test_wmt14_runs_big_models_and_scores_the_wmt_way(tmp_path):
    proc = run(["bash", EX / "reproduce-wmt14.sh", tmp_path / "w"], env_extra={"DRY_RUN": "1", "GPUS": "8",
                                                                                "GPUS_PER_RUN": "4"})
    runs = listing(proc.stdout)
    assert sorted(r[0] for r in runs) == ["alpha_5", "baseline", "realformer", "realformer_rdrop"]
    assert {r[1] for r in runs} == {"0,1,2,3", "4,5,6,7"}
    for name, _, cmd, score in runs:
        assert flag(cmd, "--arch").endswith("wmt_en_de_big") and flag(cmd, "--update-freq") == "16"
        assert score.startswith("PRESET=wmt14 bash") and score.split()[5].endswith("data/tok/test.raw.de")
    assert "prepare-wmt14en2de.sh" in proc.stdout


@pytest.mark.parametrize("args, env, message", [
    (["iwslt15"], {}, "reproduce.sh: BENCHMARK: expected iwslt14 or wmt14, got 'iwslt15'"),
    (["iwslt14"], {"GPUS": "two"}, "sweep.sh: GPUS: expected a whole number >= 1, got 'two'"),
    (["iwslt14"], {"GPUS": "2", "GPUS_PER_RUN": "3"}, "GPUS_PER_RUN: expected a whole number from 1 to GPUS (2)"),
    (["wmt14"], {"RUNS": "alpha_4"}, "RUNS: 'alpha_4' is not one of:"),
    (["iwslt14"], {"SEED": "x"}, "reproduce-iwslt14: SEED: expected a whole number, got 'x'"),
])
def test_bad_values_are_named(tmp_path, args, env, message):
    proc = run(["bash", EX / "reproduce.sh", *args, tmp_path / "w"], check=False, env_extra={"DRY_RUN": "1", **env})
    assert proc.returncode == 2 and message in proc.stderr


@pytest.mark.slow
def test_tiny_real_run_on_cpu_then_resume(tmp_path):
    work = tmp_path / "w"
    env = {"IWSLT14_ARCHIVE": str(make_archive(tmp_path)), "BPE_MERGES": "40", "FP16": "0",
           "SCORE_FLAGS": "--beam 1 --max-len-a 0 --max-len-b 5"}
    script = EX / "reproduce-iwslt14.sh"
    run(["bash", script, work, *TINY, "--max-update", "3"], env_extra={**env, "RUNS": "baseline alpha_5"})
    for name in ("baseline", "alpha_5"):
        bleu = json.loads((work / "runs" / name / "test/bleu.json").read_text())
        assert bleu["sentences"] == 10 and "tokenized_bleu_compound_split" in bleu
    table = (work / "runs.md").read_text()
    assert "| baseline | 3 |" in table and "| alpha_5 | 3 |" in table
    assert (work / "figure2.png").stat().st_size > 0 and (work / "runs/ablation_alpha.md").is_file()

    # a rerun skips the finished runs; an unfinished one continues from checkpoint_last.pt
    log = work / "runs/alpha_5/train.log"
    log.write_text("".join(l for l in log.read_text().splitlines(True) if "done training" not in l))
    (work / "runs/alpha_5/test/bleu.json").unlink()
    proc = run(["bash", script, work, *TINY, "--max-update", "5"], env_extra={**env, "RUNS": "baseline alpha_5"})
    assert "sweep: baseline done" in proc.stdout
    assert "already done" in (work / "runs/baseline.out").read_text()
    resumed = log.read_text()
    assert "Loaded checkpoint" in resumed and "@ 3 updates" in resumed and '"valid_num_updates": "5"' in resumed
    assert (work / "runs/alpha_5/test/bleu.json").is_file()
    assert "| alpha_5 | 5 |" in (work / "runs.md").read_text()
