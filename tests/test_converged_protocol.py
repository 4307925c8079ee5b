"""examples/translation/converged.sh and scripts/converged_report.py: the runs
the driver lists, its errors, one tiny real run through the whole pipeline, and
the report's arithmetic on hand-made runs."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli import MULTI30K, REPO, load_script, run

EX = REPO / "examples/translation"
from rdrop_analysis import converged_report


def driver(*runs, check=True, **env):
    return run(["bash", EX / "converged.sh", *runs], check=check, env_extra=env)


def listed(*runs, **env):
    """{run: fairseq-train argv} from DRY_RUN."""
    out, name = {}, None
    for line in driver(*runs, DRY_RUN="1", **env).stdout.splitlines():
        if line.startswith("== "):
            name = line[3:]
        elif line.strip():
            out[name] = shlex.split(line)
    return out


def flag(cmd, name):
    idx = [i for i, c in enumerate(cmd) if c == name]
    assert idx, f"{name} not in {cmd}"
    return cmd[idx[-1] + 1]


def test_groups_list_the_issues_runs():
    assert list(listed()) == ["baseline_s1", "rdrop_s1", "baseline_s2", "rdrop_s2", "baseline_s3", "rdrop_s3"]
    abl = listed("ablations")
    assert list(abl) == ["alpha_0_s1", "alpha_1_s1", "alpha_3_s1", "alpha_7_s1", "alpha_10_s1", "k_2_s1",
                         "k_5_s1", "k_10_s1", "passes_3_s1", "realformer_s1", "realformer_rdrop_s1"]
    assert len(listed("all", "headline", "rdrop_s1")) == 17  # each run once


def test_each_configuration_gets_its_flags_and_the_protocols():
    cmds = listed("baseline_s2", "rdrop_s1", "alpha_0_s1", "alpha_10_s1", "k_5_s1", "passes_3_s1",
                  "realformer_s1", "realformer_rdrop_s3")
    for name, cmd in cmds.items():
        assert flag(cmd, "--seed") == name.rsplit("_s", 1)[1]
        assert flag(cmd, "--encoder-embed-dim") == "128" and flag(cmd, "--decoder-ffn-embed-dim") == "256"
        assert flag(cmd, "--validate-interval-updates") == "100" and flag(cmd, "--validate-interval") == "1000"
        assert flag(cmd, "--max-update") == "1000" and "--stop-time-hours" not in cmd
        assert flag(cmd, "--dropout") == "0.3" and flag(cmd, "--label-smoothing") == "0.1"
        assert flag(cmd, "--lr") == "2e-3" and flag(cmd, "--warmup-updates") == "500"  # pilot H's schedule
        assert flag(cmd, "--save-dir").endswith("/" + name)
        assert "data-2000p-2000v" in cmd[1]
    crit = {n: flag(c, "--criterion") for n, c in cmds.items()}
    assert crit["baseline_s2"] == crit["realformer_s1"] == "label_smoothed_cross_entropy"
    assert flag(cmds["rdrop_s1"], "--rdrop-alpha") == "5" and flag(cmds["alpha_0_s1"], "--rdrop-alpha") == "0"
    assert flag(cmds["alpha_10_s1"], "--rdrop-alpha") == "10"
    assert flag(cmds["k_5_s1"], "--task") == "translation_rdrop" and flag(cmds["k_5_s1"], "--rdrop-k-step") == "5"
    assert flag(cmds["passes_3_s1"], "--rdrop-passes") == "3"
    assert flag(cmds["realformer_rdrop_s3"], "--arch") == "transformer_realformer_iwslt_de_en"
    assert flag(cmds["realformer_rdrop_s3"], "--rdrop-alpha") == "5"


@pytest.mark.parametrize("args, env, message", [
    (["rdrop"], {}, "converged.sh: RUN: expected headline, ablations, all or CONFIG_sSEED"),
    (["k_1_s1"], {}, "got 'k_1_s1'"),
    (["dropout_s1"], {}, "got 'dropout_s1'"),
    (["rdrop_s0"], {}, "got 'rdrop_s0'"),
    ([], {"LANES": "0"}, "converged.sh: LANES: expected a whole number >= 1, got '0'"),
    ([], {"DEVICE": "gpu"}, "converged.sh: DEVICE: expected cpu or cuda, got 'gpu'"),
    ([], {"TEST_PROTOCOL": "FRACTION=1"}, "converged.sh: TEST_PROTOCOL: expected KEY=NUMBER"),
    ([], {"TEST_PROTOCOL": "MIN_DELTA=-1"}, "converged.sh: TEST_PROTOCOL: expected KEY=NUMBER"),
    ([], {"TEST_PROTOCOL": "PATIENCE=0.5"}, "got 'PATIENCE=0.5'"),
])
def test_bad_input_is_named(args, env, message):
    proc = driver(*args, check=False, DRY_RUN="1", **env)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


TINY = dict(
    # MIN_DELTA 0: the tiny model's BLEU stays near 0, and the run must train in segments
    TEST_PROTOCOL="TRAIN_PAIRS=300 VOCAB=400 VALID_EVERY=5 PATIENCE=5 MIN_UPDATES=10 MAX_UPDATES=20 MIN_DELTA=0",
    TEST_FLAGS="--encoder-embed-dim 32 --decoder-embed-dim 32 --encoder-ffn-embed-dim 64 "
               "--decoder-ffn-embed-dim 64 --max-tokens 512 --log-interval 5 --max-valid-steps 1 "
               "--max-tokens-valid 256",
    TEST_SCORE_FLAGS="--max-len-b 3 --beam 1",
)


@pytest.mark.slow
def test_a_tiny_real_run_resumes_skips_and_reports(tmp_path):
    if not (MULTI30K / "train.de").exists():
        raise AssertionError(f"Multi30k not found at {MULTI30K} (set MULTI30K_DIR)")
    env = dict(TINY, WORK=str(tmp_path / "work"), RESULTS=str(tmp_path / "results"), RAW=str(MULTI30K))
    proc = driver("baseline_s1", "rdrop_s1", **env)
    for name in ("baseline_s1", "rdrop_s1"):
        out = tmp_path / "results/runs" / name
        assert sorted(p.name for p in out.iterdir()) == [
            "commands.sh", "curves.csv", "run.json", "test_bleu.json", "test_hyp.txt", "train.log"]
        rj = json.loads((out / "run.json").read_text())
        assert rj["name"] == name and rj["seed"] == 1 and rj["protocol"]["train_pairs"] == 300
        assert rj["protocol"]["min_delta"] == 0 and rj["assess"]["min_delta"] == 0
        assert rj["assess"]["updates"] == 20 and rj["verdict"] in ("cap 20", "converged 20", "converged 15")
        assert len((out / "test_hyp.txt").read_text().splitlines()) == 1000
        segments = [line for line in (out / "commands.sh").read_text().splitlines()
                    if line.startswith("OMP_NUM_THREADS=")]
        assert len(segments) >= 2 and "--max-update 10 " in segments[0]  # trained in segments
        # the log keeps every segment: one valid record per VALID_EVERY updates
        valid = [r for r in (out / "curves.csv").read_text().splitlines() if ",valid," in r]
        assert len(valid) == 4
    assert json.loads((tmp_path / "results/runs/rdrop_s1/run.json").read_text())["alpha"] == 5
    summary = json.loads((tmp_path / "results/summary.json").read_text())
    assert [r["name"] for r in summary["runs"]] == ["baseline_s1", "rdrop_s1"]
    assert (tmp_path / "results/figure2.png").read_bytes()[:4] == b"\x89PNG"
    assert "baseline_s1" in proc.stdout
    # a second call skips what is committed and trains nothing
    again = driver("baseline_s1", **env)
    assert "baseline_s1: results committed, skipped" in again.stdout


@pytest.mark.slow
def test_the_driver_keeps_best_so_far_checkpoints_and_scores_the_best_within_each_budget(tmp_path):
    """With speed.json and a committed baseline, an R-Drop run keeps every checkpoint that was
    best so far (only those can be the best within a budget), two interval checkpoints besides,
    and scores on test the ones scripts/budget.py names."""
    if not (MULTI30K / "train.de").exists():
        raise AssertionError(f"Multi30k not found at {MULTI30K} (set MULTI30K_DIR)")
    results = tmp_path / "results"
    results.mkdir()
    # R-Drop at 3x the baseline's cost: its 1x budget ends well before its last validation
    (results / "speed.json").write_text(json.dumps({"s_per_update": {"baseline": 1.0, "rdrop": 3.0}}))
    env = dict(TINY, WORK=str(tmp_path / "work"), RESULTS=str(results), RAW=str(MULTI30K), REPORT="0")
    driver("baseline_s1", "rdrop_s1", **env)
    save, out = tmp_path / "work/rdrop_s1", results / "runs/rdrop_s1"
    from rdrop_analysis import budget
    from rdrop_analysis import convergence
    from rdrop_analysis.parse_logs import parse_log

    curve = convergence.valid_curve(parse_log((out / "train.log").read_text(), "r"))
    assert sorted(int(p.stem) for p in (save / "best").iterdir()) == budget.records(curve)
    assert len(list(save.glob("checkpoint_*_*.pt"))) == 2
    to_score = subprocess.run([sys.executable, REPO / "scripts/budget.py", "to-score", out / "train.log",
                               "--config", "rdrop", "--results", results], capture_output=True, text=True,
                              check=True).stdout.split()
    assert to_score, "the 1x budget's best must be an earlier checkpoint than the final best"
    scores = json.loads((out / "budget_scores.json").read_text())["scores"]
    assert sorted(scores) == sorted(to_score) and all("sacrebleu" in s for s in scores.values())
    assert all(f"best/{u}.pt" in (out / "commands.sh").read_text() for u in to_score)


@pytest.mark.slow
def test_lanes_started_together_prepare_the_data_once(tmp_path):
    """Two drivers started at once (two lanes): both get complete data, and a
    data folder left half-written (a driver killed while preparing) is redone,
    not trained on."""
    if not (MULTI30K / "train.de").exists():
        raise AssertionError(f"Multi30k not found at {MULTI30K} (set MULTI30K_DIR)")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHON=sys.executable, OMP_NUM_THREADS="1", WORK=str(tmp_path / "work"), RAW=str(MULTI30K),
               TEST_PROTOCOL=TINY["TEST_PROTOCOL"])
    lanes = [subprocess.Popen(["bash", str(EX / "converged.sh"), "prepare"], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in lanes]
    assert [p.returncode for p in lanes] == [0, 0], outs
    data = tmp_path / "work/data-300p-400v"
    assert (data / "ready").exists() and sum("prepare-multi30k: wrote" in o for o in outs) == 1, outs
    files = {p.name: p.read_bytes() for p in (data / "data-bin").iterdir() if p.suffix in (".bin", ".idx")}
    assert len(files) == 12
    # half-written: the dictionary is there, the split files are not, no marker
    (data / "ready").unlink()
    for name in files:
        (data / "data-bin" / name).unlink()
    driver("prepare", **{k: env[k] for k in ("WORK", "RAW", "TEST_PROTOCOL")})
    assert {n: (data / "data-bin" / n).read_bytes() for n in files} == files


# ---- the report on hand-made runs ----
def write_run(results, name, bleus, test, experiment="baseline", alpha=5, k=1, extra=""):
    out = results / "runs" / name
    out.mkdir(parents=True)
    lines = ["2026-01-01 10:00:00 | INFO | fairseq_cli.train | task: TranslationTask"]
    for i, b in enumerate(bleus):
        lines.append('2026-01-01 10:00:01 | INFO | valid | {"epoch": 1, "valid_loss": "%s", '
                     '"valid_bleu": "%s", "valid_num_updates": "%d"}' % (10 - b / 10, b, 100 * (i + 1)))
    (out / "train.log").write_text("\n".join(lines) + "\n")
    converged_report.main(["record", str(out / "run.json"), "--name", name, "--experiment", experiment,
                           "--alpha", str(alpha), "--k", str(k), "--extra", extra, "--verdict", "x",
                           "--started", "t", "--threads", "2", "--git-commit", "abc", "--fraction", "0.7",
                           "--patience", "200", "--min-updates", "0", "--max-updates", "0",
                           "--protocol", "train_pairs=2000 vocab=2000"])
    (out / "test_bleu.json").write_text(json.dumps(
        {"sacrebleu": test, "tokenized_bleu": test - 1, "sacrebleu_signature": "sig"}))


def test_report_arithmetic(tmp_path):
    res = tmp_path / "res"
    write_run(res, "baseline_s1", [10, 20, 25, 24, 24, 23, 23, 23, 23, 23], 25.0)
    write_run(res, "baseline_s2", [12, 21, 26, 25, 25, 24, 24, 24, 24, 24], 26.0)
    write_run(res, "rdrop_s1", [5, 15, 22, 26, 28, 29, 28, 28, 28, 28, 28, 28, 28], 28.0, "rdrop")
    write_run(res, "rdrop_s2", [6, 16, 24, 27, 29, 30, 29, 29, 29, 29, 29, 29, 29], 30.0, "rdrop")
    write_run(res, "alpha_1_s1", [5, 15, 24, 26, 26, 25, 25, 25, 25, 25], 26.5, "rdrop", alpha=1)
    write_run(res, "alpha_10_s1", [5, 10, 20, 22, 22, 21, 21, 21, 21, 21], 22.0, "rdrop", alpha=10)
    write_run(res, "k_2_s1", [5, 15, 24, 26, 27, 26, 26, 26, 26, 26], 27.0, "kstep", k=2)
    write_run(res, "k_10_s1", [5, 15, 24, 26, 26, 25, 25, 25, 25, 25], 26.0, "kstep", k=10)
    write_run(res, "passes_3_s1", [5, 15, 24, 26, 29, 28, 28, 28, 28, 28], 28.5, "rdrop",
              extra="--rdrop-passes 3")
    write_run(res, "simcut_s1", [5, 15, 24, 27, 29, 28, 28, 28, 28, 28], 29.5, "simcut", alpha=3)
    (res / "speed.json").write_text(json.dumps({"s_per_update": {"baseline": 1.0, "rdrop": 2.0}}))
    (res / "runs/unfinished_s1").mkdir()  # no test_bleu.json: left out
    converged_report.main(["--results", str(res)])
    runs = {r["name"]: r for r in json.loads((res / "summary.json").read_text())["runs"]}
    assert len(runs) == 10
    b1, r1 = runs["baseline_s1"], runs["rdrop_s1"]
    assert (b1["best_update"], b1["best_valid_bleu"], b1["updates"]) == (300, 25.0, 1000)
    assert b1["converged"] and b1["stop_update"] == 500  # 300 <= 0.7 * 500 and 200 after
    assert r1["best_update"] == 600 and r1["converged"] and r1["stop_update"] == 900
    assert r1["alpha"] == 5 and r1["passes"] == 2 and runs["passes_3_s1"]["passes"] == 3
    assert runs["baseline_s1"]["alpha"] is None and runs["baseline_s1"]["passes"] == 1
    # time to the same seed's baseline best (25 for s1, 26 for s2)
    assert r1["baseline_best_valid_bleu"] == 25 and r1["updates_to_baseline_bleu"] == 400
    assert r1["hours_to_baseline_bleu"] == pytest.approx(400 * 2.0 / 3600)
    assert runs["rdrop_s2"]["updates_to_baseline_bleu"] == 400
    assert runs["k_2_s1"]["s_per_update"] == pytest.approx(1.5)   # (1 x 1.0 + 2.0) / 2
    assert runs["k_10_s1"]["s_per_update"] == pytest.approx(1.1)
    assert runs["k_10_s1"]["s_per_update_source"] == "derived: (9 baseline + 1 rdrop) / 10"
    assert runs["alpha_1_s1"]["s_per_update_source"] == "measured" and runs["passes_3_s1"]["s_per_update_source"] is None
    assert runs["alpha_1_s1"]["s_per_update"] == 2.0 and runs["passes_3_s1"]["s_per_update"] is None
    assert runs["rdrop_s1"]["train_hours"] == pytest.approx(1300 * 2.0 / 3600)
    head = (res / "headline.md").read_text()
    assert "| Transformer | 2 | 25.50 ± 0.71 (n=2)" in head and "| + R-Drop | 2 | 29.00 ± 1.41 (n=2)" in head
    assert "R-Drop − baseline, test sacreBLEU: **+3.50 ± 0.71** over 2 seed(s) (s1: +3.00, s2: +4.00)" in head
    claims = (res / "claims.md").read_text()
    assert "1. **R-Drop ends ahead of the baseline**: held" in claims
    assert "2. **The baseline is ahead early**: held" in claims and "from update 400 on" in claims
    assert "seed 1: baseline ahead at 3 of 3 validations before update 400 (widest gap at 100: 10.00 vs 5.00)" \
        in claims
    assert "difference +3.50 ± 0.71 (std) over 2 seed(s), ahead on 2 of 2" in claims
    # compared at the seed every value has (1), not against alpha 5's two-seed mean (29.0):
    # alpha 1: 26.5, 5: 28.0, 10: 22.0 -> peak in the middle, by more than R-Drop's seed std (1.41)
    assert "3. **BLEU peaks at a middle alpha**: held so far — test sacreBLEU by alpha (1: 26.50, 5: 28.00, " \
        "10: 22.00; seed(s) 1, the seeds every alpha has); best at alpha = 5; " \
        "not finished yet: alpha = 0, 3, 7." in claims
    # k 1: 28.0, 2: 27.0, 10: 26.0 -> smaller is better, but each step is inside the seed spread
    assert "4. **smaller k is better**: held so far" in claims and "not finished yet: k = 5." in claims
    hours = ", ".join(f"{k}: {runs[n]['best_update'] * spu / 3600:.2f}"
                      for k, n, spu in ((1, "rdrop_s1", 2.0), (2, "k_2_s1", 1.5), (10, "k_10_s1", 1.1)))
    assert f"best at k = 1; training hours to the tested (best) checkpoint by k: {hours}; steps" in claims
    assert "steps between neighbouring k over the seeds both have: 1→2 -1.00 (seed 1), 2→10 -1.00 (seed 1); " \
        "2 of 2 are smaller than R-Drop's seed spread (std 1.41 over 2 seeds: 1→2, 2→10): " \
        "more seeds decide them; not finished yet: k = 5." in claims
    abl = (res / "ablations.md").read_text()
    assert "compare the values at seed(s) 1, which every alpha has" in abl
    assert "| 1.50* |" in abl and "| 2.00 |" in abl and "\\* k-step: not measured alone" in abl
    # the sweeps' curves: one line per value at the seed every value has, and that seed's baseline
    assert (res / "curves_alpha.png").is_file() and (res / "curves_k.png").is_file()
    assert not (res / "curves_realformer.png").exists()  # no RealFormer run
    assert (res / "curves_cutoff.png").read_bytes()[:4] == b"\x89PNG"  # simcut_s1
    entries = [dict(e, _rows=[]) for e in runs.values()]
    groups = {label: [e["name"] for e in es] for label, es in converged_report.sweep_groups(entries, "k")}
    assert groups == {"k = 1": ["rdrop_s1"], "k = 2": ["k_2_s1"], "k = 10": ["k_10_s1"],
                      "Transformer (no R-Drop)": ["baseline_s1"]}
    assert converged_report.sweep_groups(entries, "realformer") == []
    entries.append(dict(runs["baseline_s2"], name="realformer_s2", config="realformer", _rows=[]))
    groups = {label: [e["name"] for e in es] for label, es in converged_report.sweep_groups(entries, "realformer")}
    assert groups == {"Transformer": ["baseline_s2"], "RealFormer": ["realformer_s2"],
                      "Transformer + R-Drop": ["rdrop_s2"]}  # the seed all three have
    groups = {label: [e["name"] for e in es] for label, es in converged_report.sweep_groups(entries, "cutoff")}
    assert groups == {"Transformer": ["baseline_s1"], "R-Drop (alpha 5)": ["rdrop_s1"],
                      "SimCut (alpha 3, cutoff 0.05)": ["simcut_s1"]}  # seed 1: simcut's only
    assert converged_report.sweep_groups([e for e in entries if e["config"] != "simcut"], "cutoff") == []
    assert "## R-Drop copies m, alpha 5" in abl and "| 3 | passes_3_s1 |" in abl
    # every sweep value against the headline's R-Drop, paired by seed (s1: 28.5 - 28.0, 22.0 - 28.0)
    assert "Differences from passes 2 (the headline's R-Drop) at the seeds both have:" in abl
    assert "- passes 3 − passes 2, test sacreBLEU: **+0.50** over 1 seed(s) (s1: +0.50); " \
        "inside R-Drop's seed spread (std 1.41)" in abl
    assert "- alpha 10 − alpha 5, test sacreBLEU: **-6.00** over 1 seed(s) (s1: -6.00); " \
        "outside R-Drop's seed spread (std 1.41)\n" in abl
    assert "- k 2 − k 1, test sacreBLEU: **-1.00**" in abl and "k 1 − k 1" not in abl
    assert "which every passes has" not in abl  # no claim or figure for m: no such footnote
    assert "## Cutoff and SimCut" in abl and "| SimCut (alpha 3, cutoff 0.05) | simcut_s1 | 29.50" in abl
    # paired with R-Drop at the seed both have (s1: 29.5 - 28.0), set against R-Drop's seed std (1.41)
    assert "- SimCut (alpha 3, cutoff 0.05) − R-Drop (alpha 5), test sacreBLEU: **+1.50** over 1 seed(s) " \
        "(s1: +1.50); outside R-Drop's seed spread (std 1.41)" in abl
    assert "- SimCut (alpha 3, cutoff 0.05) − R-Drop (alpha 3)" not in abl  # no alpha 3 run here
    assert "R-Drop + Cutoff (alpha 5, cutoff 0.05) −" not in abl  # no run: no difference
    assert "## RealFormer" not in abl  # no RealFormer run: no section
    assert runs["simcut_s1"]["alpha"] == 3 and runs["simcut_s1"]["experiment"] == "simcut"
    for png in ("figure2.png", "ablation_alpha.png", "ablation_k.png"):
        assert (res / png).read_bytes()[:4] == b"\x89PNG"


def test_report_says_what_is_not_measured(tmp_path):
    res = tmp_path / "res"
    write_run(res, "baseline_s1", [10, 20, 25, 24], 25.0)
    write_run(res, "rdrop_s1", [5, 15, 26, 24], 24.0, "rdrop")
    converged_report.main(["--results", str(res)])
    claims = (res / "claims.md").read_text()
    assert "1. **R-Drop ends ahead of the baseline**: did not hold" in claims
    assert "difference -1.00 over 1 seed(s)" in claims  # no spread from one seed
    assert "2. **The baseline is ahead early**: held" in claims
    # a second seed where R-Drop leads at the first validation: not ahead at every early one
    write_run(res, "baseline_s2", [10, 20, 25, 24], 25.0)
    write_run(res, "rdrop_s2", [12, 15, 26, 24], 26.0, "rdrop")
    converged_report.main(["--results", str(res)])
    claims = (res / "claims.md").read_text()
    assert "2. **The baseline is ahead early**: did not hold" in claims
    assert "seed 2: baseline ahead at 1 of 2 validations before update 300" in claims
    assert "except at 100 (10.00 vs 12.00)" in claims
    assert "3. BLEU peaks at a middle alpha: not measured yet (1 value(s) of alpha finished)" in claims
    runs = json.loads((res / "summary.json").read_text())["runs"]
    assert not runs[0]["converged"] and runs[0]["s_per_update"] is None  # 300 > 0.7 * 400; no speed.json


def test_report_names_the_device_and_keeps_gpu_runs_out_of_cpu_hours(tmp_path):
    res = tmp_path / "res"
    write_run(res, "baseline_s1", [10, 20, 25, 24], 25.0)
    write_run(res, "rdrop_s1", [5, 15, 26, 24], 26.0, "rdrop")
    (res / "speed.json").write_text(json.dumps({"s_per_update": {"baseline": 1.0, "rdrop": 2.0}}))
    converged_report.main(["--results", str(res)])
    head = (res / "headline.md").read_text()
    assert "Trained on: cpu." in head and "both CPU and GPU" not in head
    # one run from a GPU in the same folder: named, and given no CPU seconds per update
    meta = json.loads((res / "runs/rdrop_s1/run.json").read_text())
    (res / "runs/rdrop_s1/run.json").write_text(json.dumps(dict(meta, device="cuda: NVIDIA H200")))
    converged_report.main(["--results", str(res)])
    head = (res / "headline.md").read_text()
    assert "Trained on: cpu, cuda: NVIDIA H200." in head
    assert "**Warning: these runs trained on both CPU and GPU**" in head
    runs = {r["name"]: r for r in json.loads((res / "summary.json").read_text())["runs"]}
    assert runs["baseline_s1"]["s_per_update"] == 1.0
    assert runs["rdrop_s1"]["s_per_update"] is None and runs["rdrop_s1"]["train_hours"] is None
    assert runs["rdrop_s1"]["device"] == "cuda: NVIDIA H200"


def test_a_sweep_value_cut_before_converging_is_a_lower_bound_and_leaves_the_claim_open(tmp_path):
    res = tmp_path / "res"
    plateau, rising = [5, 15, 24, 26, 26, 25, 25, 25, 25, 25], [5, 10, 15, 18, 20, 21]
    write_run(res, "baseline_s1", [10, 20, 25, 24, 24, 23, 23, 23, 23, 23], 20.0)
    write_run(res, "rdrop_s1", plateau, 28.0, "rdrop")
    write_run(res, "alpha_1_s1", plateau, 25.0, "rdrop", alpha=1)
    write_run(res, "alpha_10_s1", rising, 22.0, "rdrop", alpha=10)   # still rising at its last update
    write_run(res, "k_2_s1", rising, 26.0, "kstep", k=2)
    write_run(res, "k_10_s1", plateau, 25.0, "kstep", k=10)
    converged_report.main(["--results", str(res)])
    claims = (res / "claims.md").read_text()
    # without alpha 10's fall the peak at 5 rests on a value that could still rise
    assert "3. **BLEU peaks at a middle alpha**: open so far" in claims
    assert "cut at the cap before converging, so a lower bound: alpha = 10 (600 updates)" in claims
    # k 1 -> 2 steps down to a run that had not converged: not settled either
    assert "4. **smaller k is better**: open so far" in claims and "k = 2 (600 updates)" in claims
    abl = (res / "ablations.md").read_text()
    assert "- alpha 10 − alpha 5, test sacreBLEU: **-6.00** over 1 seed(s) (s1: -6.00); " \
        "alpha_10_s1 cut before converging (a lower bound)" in abl  # one R-Drop seed: no spread
    assert "alpha 1 − alpha 5, test sacreBLEU: **-3.00** over 1 seed(s) (s1: -3.00)\n" in abl
    # the same numbers from converged runs: the claims hold
    for name in ("alpha_10_s1", "k_2_s1"):
        shutil.rmtree(res / "runs" / name)
    write_run(res, "alpha_10_s1", plateau, 22.0, "rdrop", alpha=10)
    write_run(res, "k_2_s1", plateau, 26.0, "kstep", k=2)
    converged_report.main(["--results", str(res)])
    claims = (res / "claims.md").read_text()
    assert "3. **BLEU peaks at a middle alpha**: held so far" in claims
    assert "4. **smaller k is better**: held so far" in claims and "lower bound" not in claims


def test_early_verdict_has_a_middle_ground():
    assert converged_report.early_verdict([1.0, 1.0]) == "held"
    assert converged_report.early_verdict([1.0, 8 / 9]) == "held at most validations"
    assert converged_report.early_verdict([1.0, 0.5]) == "did not hold"
    assert converged_report.early_verdict([]) == "did not hold"


def test_report_without_runs_folder_names_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        converged_report.main(["--results", str(tmp_path)])
    assert "--results: no runs/ folder" in capsys.readouterr().err


# ---- the protocol benchmark's pieces ----
benchmark_protocol = load_script("benchmark_protocol")


def test_benchmark_reads_fairseqs_rates_and_replaces_flags():
    log = "\n".join('2026-01-01 10:00:00 | INFO | train_inner | {"num_updates": "%d", "ups": "%s"}' % (10 * i, u)
                    for i, u in enumerate(["0.1", "0.5", "0.25"], 1))
    assert benchmark_protocol.seconds_per_update(log) == pytest.approx(3.0)  # first interval left out
    with pytest.raises(RuntimeError):
        benchmark_protocol.seconds_per_update(log.splitlines()[0])
    cmd = ["fairseq-train", "D", "--max-update", "1000", "--log-interval", "20", "--no-save"]
    out = benchmark_protocol.with_flag(benchmark_protocol.with_flag(cmd, "--max-update", 50), "--no-save")
    assert out == ["fairseq-train", "D", "--log-interval", "20", "--max-update", "50", "--no-save"]


def test_benchmark_commands_are_the_drivers(tmp_path):
    cmd = benchmark_protocol.protocol_command("passes_3", dict(os.environ, WORK=str(tmp_path)))
    assert cmd[0] == "fairseq-train" and flag(cmd, "--rdrop-passes") == "3"
    with pytest.raises(SystemExit, match="--configs: 'dropout'"):
        benchmark_protocol.protocol_command("dropout", dict(os.environ))


def test_benchmark_adds_configurations_as_ratios_to_the_same_runs_baseline():
    existing = {"s_per_update": {"baseline": 0.5, "rdrop": 1.2}, "runs": {"baseline": [0.5], "rdrop": [1.2]},
                "threads": 2}
    # this run's machine is 20% slower: every figure enters scaled back by 0.5 / 0.6
    out = benchmark_protocol.add_measurements(
        existing, {"baseline": 0.6, "rdrop": 1.5, "k_5": 0.9}, {"baseline": [0.6], "rdrop": [1.5], "k_5": [0.9, 0.9]},
        "baseline", {"date": "d"})
    assert out["s_per_update"]["k_5"] == pytest.approx(0.75)
    assert out["runs"]["k_5"] == pytest.approx([0.75, 0.75])
    # figures the file has are kept; the new ones only checked
    assert out["s_per_update"]["baseline"] == 0.5 and out["s_per_update"]["rdrop"] == 1.2
    added = out["added"][-1]
    assert added["configs"] == ["k_5"] and added["scale"] == pytest.approx(0.5 / 0.6)
    assert added["check"] == {"rdrop": {"file": 1.2, "this_run_scaled": pytest.approx(1.25)}}
    assert "added" not in existing and "k_5" not in existing["s_per_update"]  # the input is not changed
    with pytest.raises(ValueError, match="'baseline' must be measured too"):
        benchmark_protocol.add_measurements(existing, {"k_5": 0.9}, {"k_5": [0.9]}, "baseline", {})
    with pytest.raises(ValueError, match="no 'baseline' figure"):
        benchmark_protocol.add_measurements({"s_per_update": {}}, {"baseline": 1}, {"baseline": [1]}, "baseline", {})


@pytest.mark.parametrize("args, message", [
    (["--add-to", "X", "--json", "Y"], "--add-to and --json: give one"),
    (["--add-to", "/no/such/speed.json"], "--add-to: cannot read /no/such/speed.json"),
    (["--add-to", "SPEED", "--configs", "k_5"], "--configs: 'baseline' must be measured too"),
    (["--add-to", "SPEED", "--threads", "1"], "--threads: 1, but"),
])
def test_benchmark_add_to_errors_are_named(args, message, tmp_path, capsys):
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"s_per_update": {"baseline": 0.5}, "threads": 2}))
    with pytest.raises(SystemExit):
        benchmark_protocol.main([str(speed) if a == "SPEED" else a for a in args])
    assert message in capsys.readouterr().err


def test_benchmark_names_a_missing_fairseq_train():
    with pytest.raises(SystemExit, match="no-such-fairseq-train not found on PATH nor beside"):
        benchmark_protocol.resolve("no-such-fairseq-train")
    # found beside the interpreter even when the virtual environment is not on PATH
    assert Path(benchmark_protocol.resolve("fairseq-train")).name == "fairseq-train"


def test_record_names_a_negative_min_delta(tmp_path, capsys):
    with pytest.raises(SystemExit):
        converged_report.main(["record", str(tmp_path / "run.json"), "--name", "rdrop_s1", "--experiment",
                               "rdrop", "--alpha", "5", "--k", "1", "--verdict", "x", "--started", "t",
                               "--threads", "1", "--git-commit", "abc", "--fraction", "0.7", "--patience",
                               "5", "--min-updates", "0", "--max-updates", "0", "--min-delta", "-1"])
    assert "--min-delta: expected a number >= 0, got -1.0" in capsys.readouterr().err


def test_missing_fairseq_is_named_before_any_run(tmp_path):
    """A driver started outside the environment stops at once, saying so
    (instead of every run failing in its log)."""
    import subprocess

    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "WORK": str(tmp_path / "w")}
    proc = subprocess.run(["bash", EX / "converged.sh", "rdrop_s1"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "converged.sh: fairseq-train not on PATH: activate the environment first" in proc.stderr
    assert not (tmp_path / "w").exists()


def test_device_cuda_drops_only_the_cpu_flag():
    cpu, gpu = listed("rdrop_s1"), listed("rdrop_s1", DEVICE="cuda")
    assert "--cpu" in cpu["rdrop_s1"] and "--cpu" not in gpu["rdrop_s1"]
    assert [c for c in cpu["rdrop_s1"] if c != "--cpu"] == gpu["rdrop_s1"]


def test_sweep_claims_compare_matched_seeds_and_name_what_is_inside_the_spread(tmp_path):
    res = tmp_path / "res"  # every run converged: best at 300 of 500 updates, 200 before the end
    write_run(res, "baseline_s1", [10, 20, 25, 24, 24], 25.0)
    write_run(res, "rdrop_s1", [5, 15, 26, 24, 24], 28.0, "rdrop")
    write_run(res, "rdrop_s2", [5, 15, 26, 24, 24], 30.0, "rdrop")  # R-Drop's seed std: 1.41
    write_run(res, "alpha_1_s1", [5, 15, 26, 24, 24], 27.5, "rdrop", alpha=1)
    write_run(res, "alpha_10_s1", [5, 15, 26, 24, 24], 22.0, "rdrop", alpha=10)
    converged_report.main(["--results", str(res)])
    claims = (res / "claims.md").read_text()
    assert "(1: 27.50, 5: 28.00, 10: 22.00; seed(s) 1, the seeds every alpha has); best at alpha = 5; " \
        "the best leads alpha = 1 by less than R-Drop's seed spread (std 1.41 over 2 seeds): " \
        "more seeds decide it; not finished yet: alpha = 0, 3, 7." in claims
    # the best at the largest alpha finished, with larger ones planned: open, not refuted
    for name in ("alpha_1_s1", "alpha_10_s1"):
        shutil.rmtree(res / "runs" / name)
    write_run(res, "alpha_0_s1", [5, 15, 26, 24, 24], 21.0, "rdrop", alpha=0)
    write_run(res, "alpha_3_s1", [5, 15, 26, 24, 24], 25.0, "rdrop", alpha=3)
    converged_report.main(["--results", str(res)])
    claims = (res / "claims.md").read_text()
    assert "3. **BLEU peaks at a middle alpha**: open so far — " in claims
    assert "not finished yet: alpha = 1, 7, 10 (the best so far is at the edge of those finished, " \
        "alpha = 7, 10 lie beyond it)." in claims
    # and once every planned value is in, the verdict is final
    for a, t in ((1, 24.0), (7, 29.0), (10, 26.0)):
        write_run(res, f"alpha_{a}_s1", [5, 15, 26, 24, 24], t, "rdrop", alpha=a)
    converged_report.main(["--results", str(res)])
    claims = (res / "claims.md").read_text()
    assert "3. **BLEU peaks at a middle alpha**: held — " in claims and "best at alpha = 7" in claims
    assert "not finished yet" not in claims.split("3. ")[1].split("4.")[0]


def test_seed_matched_keeps_every_run_when_no_seed_is_shared():
    pts = {3: [{"seed": 2}], 5: [{"seed": 1}, {"seed": 2}, {"seed": 3}]}
    assert converged_report.seed_matched(pts) == ({3: [{"seed": 2}], 5: [{"seed": 2}]}, [2])
    pts = {3: [{"seed": 4}], 5: [{"seed": 1}]}
    assert converged_report.seed_matched(pts) == (pts, None)


def k_sweep(bleu_by_k, rdrop_seeds=(24.0, 25.0, 26.0)):
    """claims()'s entries: R-Drop at k = 1 over three seeds (std 1.0), k-step runs at seed 1."""
    def entry(config, experiment, k, seed, bleu):
        return {"config": config, "experiment": experiment, "alpha": 5, "k": k, "passes": 2, "seed": seed,
                "test_sacrebleu": bleu, "best_update": 1000, "updates": 1500, "converged": True,
                "s_per_update": 1.0, "_rows": []}
    return ([entry("rdrop", "rdrop", 1, s + 1, b) for s, b in enumerate(rdrop_seeds)]
            + [entry(f"k_{k}", "kstep", k, 1, b) for k, b in bleu_by_k.items()])


@pytest.mark.parametrize("bleu_by_k, verdict, says", [
    ({2: 23.5, 5: 23.0, 10: 22.0}, "held", "best at k = 1"),
    # k 5 -> 10 rises by 0.5, inside R-Drop's seed spread (std 1.0): not evidence against the claim
    ({2: 23.5, 5: 22.0, 10: 22.5}, "open", "BLEU rises from k = 5 to 10 (22.00 → 22.50, seed 1), inside that spread"),
    # a rise by 2.0, twice the spread: the claim fails
    ({2: 23.5, 5: 21.0, 10: 23.0}, "did not hold", "BLEU rises from k = 5 to 10 (21.00 → 23.00, seed 1)."),
])
def test_k_claim_tells_an_inversion_inside_the_seed_spread_from_one_outside(bleu_by_k, verdict, says):
    text = converged_report.claims(k_sweep(bleu_by_k)).splitlines()[-1]
    assert text.startswith(f"4. **smaller k is better**: {verdict} — test sacreBLEU by k (1: 24.00, ")
    assert says in text and "not finished yet" not in text


def test_k_claim_judges_each_step_over_the_seeds_its_two_values_share():
    """k = 5 and 10 with three seeds, k = 2 with one: the 5 -> 10 step is judged over
    seeds 1-3 (where the seed-1 inversion reverses), the others over seed 1."""
    entries = k_sweep({2: 23.5, 5: 22.0, 10: 22.5})
    for seed, b5, b10 in ((2, 23.0, 21.0), (3, 22.5, 21.5)):
        entries += [dict(entries[-1], config="k_5", k=5, seed=seed, test_sacrebleu=b5),
                    dict(entries[-1], config="k_10", k=10, seed=seed, test_sacrebleu=b10)]
    text = converged_report.claims(entries).splitlines()[-1]
    # the series stays at the seed every k has; the steps use what each pair shares
    assert "(1: 24.00, 2: 23.50, 5: 22.00, 10: 22.50; seed(s) 1, the seeds every k has)" in text
    assert "1→2 -0.50 (seed 1), 2→5 -1.50 (seed 1), 5→10 -0.83 (seeds 1, 2, 3)" in text
    assert text.startswith("4. **smaller k is better**: held — ") and "rises" not in text
    # no seed shared by two neighbours: their step compares all their runs, and says so
    lone = [e for e in entries if not (e["k"] == 10 and e["seed"] == 1)]
    lone = [dict(e, seed=e["seed"] + 10) if e["k"] == 10 else e for e in lone]
    assert "5→10 -1.25 (all runs, no seed shared)" in converged_report.claims(lone)


def test_comparison_differences_pair_seeds_and_name_the_noise():
    entry = lambda config, seed, bleu: {"config": config, "seed": seed, "test_sacrebleu": bleu}  # noqa: E731
    entries = [entry("baseline", 1, 21.0), entry("baseline", 2, 22.0), entry("baseline", 3, 21.5),
               entry("realformer", 1, 21.5), entry("realformer", 2, 21.0),  # no seed 3: left out
               entry("realformer_rdrop", 1, 25.0)]
    _, title, systems, pairs = converged_report.COMPARISONS[0]
    lines = converged_report.comparison_differences(entries, systems, pairs, spread=0.8)
    assert lines == [
        "- RealFormer − Transformer, test sacreBLEU: **-0.25 ± 1.06** over 2 seed(s) (s1: +0.50, s2: -1.00); "
        "inside R-Drop's seed spread (std 0.80)",
        "- RealFormer + R-Drop − RealFormer, test sacreBLEU: **+3.50** over 1 seed(s) (s1: +3.50); "
        "outside R-Drop's seed spread (std 0.80)"]
    # no yardstick (R-Drop has under two seeds): no verdict on the noise
    assert converged_report.comparison_differences(entries, systems, pairs, spread=0.0)[0].endswith("(s1: +0.50, s2: -1.00)")


def test_simcut_is_also_set_against_r_drop_at_its_own_alpha():
    entry = lambda config, seed, bleu: {"config": config, "seed": seed, "test_sacrebleu": bleu}  # noqa: E731
    entries = [entry("rdrop", 1, 24.5), entry("alpha_3", 1, 24.0), entry("simcut", 1, 24.75)]
    key, _, systems, pairs = converged_report.COMPARISONS[1]
    assert key == "cutoff"
    assert converged_report.comparison_differences(entries, systems, pairs, spread=0.0) == [
        "- SimCut (alpha 3, cutoff 0.05) − R-Drop (alpha 5), test sacreBLEU: **+0.25** over 1 seed(s) (s1: +0.25)",
        "- SimCut (alpha 3, cutoff 0.05) − R-Drop (alpha 3), test sacreBLEU: **+0.75** over 1 seed(s) (s1: +0.75)"]


def test_a_k_step_reads_the_same_in_claims_and_ablations(tmp_path):
    # the real k 1 / k 2 seeds 1-2: per-seed differences -0.31 and +0.40, whose mean (0.045)
    # rounds either way by float error; both documents must print the one number
    res = tmp_path / "res"
    plateau = [5, 15, 24, 26, 26, 25, 25, 25, 25, 25]
    for seed, base, rdrop, k2 in ((1, 21.20, 24.60, 24.29), (2, 22.24, 23.26, 23.66)):
        write_run(res, f"baseline_s{seed}", plateau, base)
        write_run(res, f"rdrop_s{seed}", plateau, rdrop, "rdrop")
        write_run(res, f"k_2_s{seed}", plateau, k2, "kstep", k=2)
        write_run(res, f"k_10_s{seed}", plateau, 22.0, "kstep", k=10)  # a claim needs three values
    converged_report.main(["--results", str(res)])
    claims, abl = (res / "claims.md").read_text(), (res / "ablations.md").read_text()
    step = re.search(r"1→2 ([+-]\d+\.\d\d) \(seeds 1, 2\)", claims).group(1)
    line = re.search(r"- k 2 − k 1, test sacreBLEU: \*\*([+-]\d+\.\d\d) ±", abl).group(1)
    assert step == line
