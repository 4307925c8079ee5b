"""k-step R-Drop through fairseq-train: exact resume after a kill, a second task,
and two-process (gloo) training equal to one process."""

import os
import sys

import pytest
import torch

import rdrop_fairseq
from cli import BIN, SMALL_MODEL, TRAIN_FLAGS, json_logs, kill_after_checkpoint, run
from fairseq_helpers import model_flags

K_STEP = ["--task", "translation_rdrop", "--rdrop-k-step", "3",
          "--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "5"]


def per_update(records, *keys):
    return {int(r["num_updates"]): tuple(r[k] for k in keys) for r in records}


@pytest.mark.slow
def test_killed_run_resumes_exactly(data_bin, tmp_path):
    flags = (SMALL_MODEL + K_STEP + TRAIN_FLAGS
             + ["--user-dir", rdrop_fairseq.USER_DIR, "--max-update", "36",
                "--save-interval-updates", "12", "--log-interval", "1"])
    straight = run([BIN / "fairseq-train", data_bin, "--save-dir", tmp_path / "a"] + flags)
    want = per_update(json_logs(straight.stderr + straight.stdout, "train_inner"),
                      "loss", "nll_loss", "rdrop_frac")
    assert len(want) == 36
    assert [want[u][2] for u in (1, 2, 3, 4)] == ["1", "0", "0", "1"]  # update_num 0, 3, ...

    # The same run, killed (SIGKILL) right after its first mid-epoch checkpoint.
    save = tmp_path / "b"
    cmd = [str(BIN / "fairseq-train"), str(data_bin), "--save-dir", str(save)] + flags
    kill_after_checkpoint(cmd, 12, dict(os.environ, OMP_NUM_THREADS="2"))
    resumed_at = torch.load(save / "checkpoint_last.pt")["optimizer_history"][-1]["num_updates"]
    assert 12 <= resumed_at < 36

    again = run([BIN / "fairseq-train", data_bin, "--save-dir", save] + flags)
    out = again.stderr + again.stdout
    assert f"@ {resumed_at} updates)" in out
    got = per_update(json_logs(out, "train_inner"), "loss", "nll_loss", "rdrop_frac")
    assert sorted(got) == list(range(resumed_at + 1, 37))
    for u, (loss, nll, frac) in got.items():
        assert frac == want[u][2], u  # same k-step phase
        assert float(loss) == pytest.approx(float(want[u][0]), abs=2e-3), u
        assert float(nll) == pytest.approx(float(want[u][1]), abs=2e-3), u


@pytest.mark.slow
def test_k_step_on_the_multilingual_task(data_bin, tmp_path):
    proc = run([BIN / "fairseq-train", data_bin, "--user-dir", rdrop_fairseq.USER_DIR,
                "--save-dir", tmp_path, "--max-update", "12",
                "--task", "translation_multi_simple_epoch_rdrop", "--rdrop-k-step", "2",
                "--lang-pairs", "de-en", "--source-lang", "de", "--target-lang", "en",
                "--criterion", "label_smoothed_cross_entropy_rdrop"]
               + SMALL_MODEL + TRAIN_FLAGS)
    final = json_logs(proc.stderr + proc.stdout, "train")[-1]
    assert int(final["train_num_updates"]) == 12
    assert float(final["train_rdrop_frac"]) == pytest.approx(0.5, abs=1e-3)


def _dist_flags(save, extra):
    return model_flags(layers=1, dim=32, ffn=64) + [
        "--user-dir", rdrop_fairseq.USER_DIR, "--cpu", "--save-dir", str(save),
        "--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "5",
        "--batch-size", "8", "--log-format", "json", "--log-interval", "1",
        "--disable-validation", "--num-workers", "0", "--no-epoch-checkpoints", "--seed", "3",
    ] + extra


def torchrun(nproc, args, port):
    return run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
                "--master_port", str(port), "-m", "rdrop_fairseq.train"] + args)


@pytest.mark.slow
def test_two_processes_equal_one_process_with_twice_the_batch(data_bin, tmp_path):
    # One update of plain SGD: parameters after it = before - lr * gradient, so
    # equal checkpoints mean equal gradients. Two workers x B sentences each
    # (fairseq gives worker r the batches r, r+2, ...) against one process
    # accumulating the same two batches of B (--update-freq 2): 2B sentences.
    sgd = ["--optimizer", "sgd", "--lr", "1.0", "--max-update", "1", "--dropout", "0",
           "--attention-dropout", "0", "--activation-dropout", "0"]
    two_proc = torchrun(2, [data_bin] + _dist_flags(tmp_path / "two", sgd + [
        "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp"]), port=29611)
    one_proc = run([sys.executable, "-m", "rdrop_fairseq.train", data_bin]
                   + _dist_flags(tmp_path / "one", sgd + ["--update-freq", "2"]))
    two_log = json_logs(two_proc.stderr + two_proc.stdout, "train_inner")[0]
    one_log = json_logs(one_proc.stderr + one_proc.stdout, "train_inner")[0]
    assert two_log["bsz"] == one_log["bsz"] == "16" and two_log["loss"] == one_log["loss"]
    assert float(one_log["gnorm"]) > 0.1  # a real step, not a no-op
    two = torch.load(tmp_path / "two/checkpoint_last.pt")["model"]
    one = torch.load(tmp_path / "one/checkpoint_last.pt")["model"]
    assert two.keys() == one.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_processes_with_dropout_train(data_bin, tmp_path):
    proc = torchrun(2, [data_bin] + _dist_flags(tmp_path, [
        "--optimizer", "adam", "--lr", "2e-3", "--max-update", "25", "--dropout", "0.2",
        "--batch-size", "16", "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp"]),
        port=29612)
    inner = json_logs(proc.stderr + proc.stdout, "train_inner")
    assert float(inner[-1]["loss"]) < float(inner[0]["loss"]) - 1.0
    assert int(inner[-1]["bsz"]) == 32  # 2 workers x 16 sentences per update
    assert all(float(r["kl_loss"]) > 0 for r in inner)


@pytest.mark.slow
def test_cpu_torch_ddp_is_rejected_by_name(data_bin, tmp_path):
    proc = run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29613", "-m", "rdrop_fairseq.train", data_bin]
               + _dist_flags(tmp_path, ["--max-update", "1", "--distributed-backend", "gloo"]),
               check=False)
    assert proc.returncode != 0
    assert "--ddp-backend: expected legacy_ddp (or no_c10d) for multi-process --cpu training" in proc.stderr
