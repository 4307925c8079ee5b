"""scripts/benchmark.py: a tiny real run's JSON, and its flag errors."""

import pytest
import json
import sys

from cli import REPO, run

SCRIPT = REPO / "scripts/benchmark.py"


def bench(*args, check=True):
    return run([sys.executable, SCRIPT, *args], check=check, timeout=600)


@pytest.mark.slow
def test_a_tiny_run_writes_medians_and_its_setting(data_bin, tmp_path):
    out = tmp_path / "b.json"
    proc = bench("--data", data_bin, "--runs", "1", "--steps", "1", "--warmup", "1", "--threads", "1",
                 "--max-tokens", "512", "--configs", "ls@N", "rdrop@N", "--json", out)
    d = json.loads(out.read_text())
    assert d["complete"] is True and d["device"] == "cpu" and d["precision"] == "fp32"
    assert set(d["median"]) == {"ls@N", "rdrop@N"} and len(d["runs_raw"]["rdrop@N"]) == 1
    ls, rd = d["median"]["ls@N"], d["median"]["rdrop@N"]
    assert rd["tokens_per_update"] == ls["tokens_per_update"] > 0  # the same batches
    # R-Drop runs [x; x]: per processed token it is half its per-token figure
    assert abs(rd["ms_per_1k_processed_tokens"] * 2 - rd["ms_per_1k_tokens"]) < 1e-6 * rd["ms_per_1k_tokens"]
    assert "rdrop@N" in proc.stdout
    # cuDNN attention is off in the workers unless asked for (docs/gpu.md)
    assert d["cudnn_attention"] == "off" and ls["cudnn_attention_enabled"] == rd["cudnn_attention_enabled"] == 0


@pytest.mark.slow
def test_cudnn_attention_on_reaches_the_workers(data_bin, tmp_path):
    out = tmp_path / "b.json"
    bench("--data", data_bin, "--runs", "1", "--steps", "1", "--warmup", "1", "--threads", "1",
          "--max-tokens", "512", "--configs", "ls@N", "--cudnn-attention", "on", "--json", out)
    d = json.loads(out.read_text())
    assert d["cudnn_attention"] == "on" and d["median"]["ls@N"]["cudnn_attention_enabled"] == 1


@pytest.mark.slow
def test_half_precision_needs_a_gpu(data_bin):
    proc = bench("--data", data_bin, "--precision", "fp16", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--precision fp16: needs --device cuda" in proc.stderr


@pytest.mark.slow
def test_more_steps_than_one_epoch_is_named(data_bin):
    proc = bench("--data", data_bin, "--runs", "1", "--steps", "5000", "--threads", "1",
                 "--configs", "ls@N", check=False)
    assert proc.returncode != 0
    assert "--warmup + --steps: 5003 updates, but one epoch of" in proc.stderr
