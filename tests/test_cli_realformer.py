"""transformer_realformer through the real CLIs: train with R-Drop, generate."""

import pytest
import re

import rdrop_fairseq
from cli import BIN, SMALL_REALFORMER, TRAIN_FLAGS, generate_valid, json_logs, run

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "5"]


@pytest.mark.slow
def test_realformer_with_rdrop_and_multi_sample_dropout_trains_and_decodes(data_bin, tmp_path):
    proc = run([BIN / "fairseq-train", data_bin, "--user-dir", rdrop_fairseq.USER_DIR,
                "--save-dir", tmp_path, "--max-update", "30",
                "--decoder-output-dropout-samples", "2", "--decoder-output-dropout", "0.1"]
               + SMALL_REALFORMER + CRIT + TRAIN_FLAGS)
    inner = json_logs(proc.stderr + proc.stdout, "train_inner")
    assert float(inner[-1]["loss"]) < float(inner[0]["loss"]) - 1.0
    assert "RealformerModel" in proc.stderr + proc.stdout or "ResidualMultiheadAttention" in proc.stderr + proc.stdout

    gen = generate_valid(data_bin, tmp_path / "checkpoint_last.pt", "--cpu")
    assert sum(l.startswith("H-") for l in gen.stdout.splitlines()) == 1014
    assert re.search(r"BLEU4? = \d", gen.stdout)


@pytest.mark.slow
def test_bad_realformer_flag_on_the_command_line(data_bin, tmp_path):
    proc = run([BIN / "fairseq-train", data_bin, "--user-dir", rdrop_fairseq.USER_DIR,
                "--save-dir", tmp_path, "--max-update", "1", "--residual-attention", "encoder,cros"]
               + SMALL_REALFORMER + CRIT + TRAIN_FLAGS, check=False)
    assert proc.returncode != 0
    assert ("--residual-attention: expected a comma-separated subset of "
            "encoder,decoder,cross, or none, got 'encoder,cros'") in proc.stderr
    assert "Traceback" not in proc.stderr
