"""scripts/parse_logs.py and scripts/plot_curves.py on a hand-written log."""

import csv
from pathlib import Path


from rdrop_analysis import parse_logs
from rdrop_analysis import plot_curves

LOG = """\
2026-01-01 10:00:00 | INFO | fairseq_cli.train | task: TranslationTask
2026-01-01 10:00:30 | INFO | train_inner | {"epoch": 1, "update": 0.1, "loss": "12.5", "nll_loss": "11", "kl_loss": "0.4", "num_updates": "20", "lr": "1e-05"}
2026-01-01 10:01:00 | INFO | valid | {"epoch": 1, "valid_loss": "9.5", "valid_nll_loss": "9", "valid_bleu": "1.25", "valid_num_updates": "40"}
2026-01-01 10:01:05 | INFO | train | {"epoch": 1, "train_loss": "11.0", "train_num_updates": "40", "train_wall": "60"}
not a record | train_inner | {"num_updates": "1"}
"""


def test_parse_log_rows():
    rows = parse_logs.parse_log(LOG, "r")
    assert [r["split"] for r in rows] == ["train_inner", "valid", "train"]
    inner, valid, train = rows
    assert inner["num_updates"] == 20 and inner["loss"] == 12.5 and inner["kl_loss"] == 0.4
    assert inner["elapsed_s"] == 30.0
    assert valid == {"run": "r", "split": "valid", "elapsed_s": 60.0, "epoch": 1.0,
                     "loss": 9.5, "nll_loss": 9.0, "bleu": 1.25, "num_updates": 40}
    assert train["loss"] == 11.0 and train["num_updates"] == 40


def test_cli_writes_csv_and_a_figure(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    parse_logs.main([f"a={log}", f"b={log}", "--csv", str(tmp_path / "c.csv")])
    with open(tmp_path / "c.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {r["run"] for r in rows} == {"a", "b"}
    png = tmp_path / "curves.png"
    plot_curves.main([f"a={log}", "--out", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_bad_run_spec_names_the_argument(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit):
        parse_logs.main(["no-equals-sign"])
    assert "runs: expected NAME=LOG" in capsys.readouterr().err


from rdrop_analysis import score_generate

GENERATE = """\
S-1\tein test .
T-1\tthe well-known test .
H-1\t-0.3\tthe well-known test .
D-1\t-0.3\tthe well-known test .
S-0\tdas haus .
T-0\tthe house is big .
H-0\t-0.5\tthe house is big .
"""


def test_score_generate_orders_by_id_and_scores_both_ways(tmp_path):
    gen = tmp_path / "generate.txt"
    gen.write_text(GENERATE)
    ref = tmp_path / "ref.en"
    ref.write_text("The house is big.\nThe well-known test.\n")
    res = score_generate.main([str(gen), "--ref", str(ref), "--detok", "moses",
                               "--hyp-out", str(tmp_path / "hyp.txt")])
    assert (tmp_path / "hyp.txt").read_text() == "the house is big.\nthe well-known test.\n"
    assert res["tokenized_bleu"] == 100.0 and res["sentences"] == 2
    assert res["sacrebleu"] < 100.0  # lowercase hypotheses against cased references
    assert res["sacrebleu_signature"].startswith("nrefs:1|case:mixed")
    assert score_generate.compound_split("a well-known, long-term") == \
        "a well ##AT##-##AT## known, long ##AT##-##AT## term"


def test_score_generate_refuses_a_count_mismatch(tmp_path):
    import pytest

    gen = tmp_path / "generate.txt"
    gen.write_text(GENERATE)
    ref = tmp_path / "ref.en"
    ref.write_text("only one line\n")
    with pytest.raises(SystemExit, match="2 hypotheses for 1 references"):
        score_generate.main([str(gen), "--ref", str(ref)])


from rdrop_analysis import ablation_table


def test_ablation_table(tmp_path):
    specs = []
    for alpha, bleu in ((1, 20.0), (5, 22.5), (3, 21.0)):
        f = tmp_path / f"a{alpha}.json"
        f.write_text(f'{{"sacrebleu": {bleu}, "tokenized_bleu": {bleu - 1}, "sacrebleu_signature": "sig"}}')
        specs.append(f"alpha={alpha}={f}")
    rows = ablation_table.main(specs + ["--md", str(tmp_path / "t.md"), "--png", str(tmp_path / "t.png"), "--title", "alpha sweep"])
    assert [r["value"] for r in rows] == [1, 3, 5]
    md = (tmp_path / "t.md").read_text()
    assert "| 5 | **22.50** | 21.50 |" in md and "| 1 | 20.00 | 19.00 |" in md
    assert (tmp_path / "t.png").stat().st_size > 5000


from rdrop_analysis import runs_table


def test_runs_table_sums_epoch_train_time_and_reads_test_bleu(tmp_path):
    log = LOG + (
        '2026-01-01 10:02:00 | INFO | valid | {"epoch": 2, "valid_loss": "8", "valid_bleu": "3.5", "valid_num_updates": "80"}\n'
        '2026-01-01 10:02:05 | INFO | train | {"epoch": 2, "train_loss": "9", "train_num_updates": "80", '
        '"train_train_wall": "50", "train_wall": "125"}\n')
    # the first epoch's record in LOG has no train_train_wall: add one
    log = log.replace('"train_wall": "60"}', '"train_train_wall": "70", "train_wall": "60"}')
    scored, unscored = tmp_path / "a", tmp_path / "b"
    for d in (scored, unscored):
        d.mkdir()
        (d / "train.log").write_text(log)
    (scored / "test").mkdir()
    (scored / "test" / "bleu.json").write_text('{"sacrebleu": 12.5, "tokenized_bleu": 11.0}')
    rows = runs_table.main([f"a={scored}", f"b={unscored}", "--md", str(tmp_path / "t.md")])
    a, b = rows
    assert a["updates"] == 80 and a["train_min"] == 2.0 and a["s_per_update"] == 1.5
    assert a["last_valid_bleu"] == 3.5 and a["best_valid_bleu"] == 3.5 and a["test_sacrebleu"] == 12.5
    assert b["test_sacrebleu"] is None
    md = (tmp_path / "t.md").read_text()
    assert "| a | 80 | 2.0 | 1.50 | 3.50 | 3.50 | 12.50 | 11.00 |" in md
    assert "| b | 80 | 2.0 | 1.50 | 3.50 | 3.50 | - | - |" in md


def test_scripts_import_without_sys_path_edits():
    """scripts/ are CLIs over rdrop_analysis (installed) or run beside their siblings:
    none edits sys.path, and each CLI answers --help."""
    import subprocess
    import sys as _sys

    repo = Path(__file__).resolve().parents[1]
    for path in list((repo / "scripts").glob("*.py")) + list((repo / "rdrop_analysis").rglob("*.py")):
        assert "sys.path" not in path.read_text(), path
    for name in ("parse_logs", "convergence", "budget", "converged_report", "plot_curves", "runs_table",
                 "score_generate", "ablation_table", "gpu_hours"):
        out = subprocess.run([_sys.executable, repo / "scripts" / f"{name}.py", "--help"],
                             capture_output=True, text=True, cwd="/")
        assert out.returncode == 0 and "usage" in out.stdout, (name, out.stderr[-500:])
