"""R-Drop through the real CLIs on a Multi30k slice: preprocess, train, generate, resume."""

import re

import pytest

import rdrop_fairseq
from cli import BIN, SMALL_MODEL, TRAIN_FLAGS, json_logs, run

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "5"]


@pytest.fixture(scope="module")
def trained(data_bin, tmp_path_factory):
    """40 R-Drop updates, with --user-dir given as the repo-relative folder."""
    save = tmp_path_factory.mktemp("ckpt")
    proc = run([BIN / "fairseq-train", data_bin, "--user-dir", "rdrop_fairseq",
                "--save-dir", save, "--max-update", "40"] + SMALL_MODEL + CRIT + TRAIN_FLAGS)
    return save, proc


@pytest.mark.slow
def test_training_loss_falls_and_kl_is_logged(trained):
    _, proc = trained
    inner = json_logs(proc.stderr + proc.stdout, "train_inner")
    assert len(inner) >= 6, proc.stderr[-2000:]
    first, last = float(inner[0]["loss"]), float(inner[-1]["loss"])
    assert last < first - 1.0, (first, last)
    assert all(float(r["kl_loss"]) > 0 for r in inner)
    assert all(float(r["rdrop_frac"]) == 1.0 for r in inner)
    assert float(inner[-1]["nll_loss"]) < float(inner[0]["nll_loss"])


@pytest.mark.slow
def test_generate_from_saved_checkpoint(trained, data_bin):
    save, _ = trained
    # The installed package's path as --user-dir, the form the README gives.
    proc = run([BIN / "fairseq-generate", data_bin, "--user-dir", rdrop_fairseq.USER_DIR,
                "--cpu", "--path", save / "checkpoint_last.pt", "--gen-subset", "valid",
                "--beam", "2", "--max-tokens", "4000", "--max-len-b", "30",
                "--remove-bpe", "sentencepiece"])
    hyps = [l for l in proc.stdout.splitlines() if l.startswith("H-")]
    translated = int(re.search(r"Translated ([\d,]+) sentences", proc.stderr).group(1).replace(",", ""))
    assert len(hyps) == translated > 1000  # of 1,014 (fairseq drops a few long ones)
    assert re.search(r"BLEU4? = \d", proc.stdout + proc.stderr)


@pytest.mark.slow
def test_resume_from_checkpoint_last(trained, data_bin):
    save, _ = trained
    proc = run([BIN / "fairseq-train", data_bin, "--user-dir", rdrop_fairseq.USER_DIR,
                "--save-dir", save, "--max-update", "50"] + SMALL_MODEL + CRIT + TRAIN_FLAGS)
    out = proc.stdout + proc.stderr
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 40 updates\)", out), out[-3000:]
    final = json_logs(out, "train")[-1]
    assert int(final["train_num_updates"]) == 50


@pytest.mark.slow
def test_bad_flag_gives_a_clear_error_not_a_traceback(data_bin, tmp_path):
    proc = run([BIN / "fairseq-train", data_bin, "--user-dir", rdrop_fairseq.USER_DIR,
                "--save-dir", tmp_path, "--max-update", "1", "--rdrop-alpha", "-2"]
               + SMALL_MODEL + CRIT[:2] + TRAIN_FLAGS, check=False)
    assert proc.returncode != 0
    assert "fairseq-train: error: --rdrop-alpha: expected a finite float >= 0, got -2.0" in proc.stderr
    assert "Traceback" not in proc.stderr
