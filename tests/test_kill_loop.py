"""Issue 42 on a real run: a torn, an empty and a missing checkpoint_last.pt resume from
the right file with the uninterrupted run's losses; the kill loop ends with the
uninterrupted run's parameters; the nothing-readable line through the training CLI."""

import json
import re
import sys

import pytest
import torch

from cli import REPO, SMALL_MODEL, TRAIN_FLAGS, json_logs, load_script, run

pytestmark = pytest.mark.slow
kill_loop = load_script("kill_loop")


def train(data_bin, save, max_update, *extra, check=True):
    flags = [f for f in TRAIN_FLAGS if f != "--no-epoch-checkpoints"]
    return run([sys.executable, "-m", "rdrop_fairseq.train", data_bin, "--user-dir", REPO / "rdrop_fairseq",
                "--save-dir", save, "--max-update", max_update, "--save-interval-updates", "5",
                "--keep-interval-updates", "2", "--no-epoch-checkpoints", *SMALL_MODEL, *flags,
                "--criterion", "label_smoothed_cross_entropy_rdrop", "--log-interval", "1", *extra], check=check)


def losses(text):
    return {r["num_updates"]: r["loss"] for r in json_logs(text, "train_inner")}


@pytest.mark.parametrize("damage", ["torn", "empty", "missing"])
def test_damaged_last_resumes_from_the_newest_interval_checkpoint_with_the_same_losses(data_bin, tmp_path, damage):
    full = losses(train(data_bin, tmp_path / "full", 20).stdout)
    save = tmp_path / "run"
    train(data_bin, save, 15)  # interval checkpoints at 10 and 15; last = 15
    last = save / "checkpoint_last.pt"
    assert sorted(int(p.stem.split("_")[-1]) for p in save.glob("checkpoint_*_*.pt")) == [10, 15]
    if damage == "torn":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    elif damage == "empty":
        last.write_bytes(b"")
    else:
        last.unlink()
    proc = train(data_bin, save, 20)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("resume_guard:"))
    assert re.search(r"resuming from checkpoint_\d+_15\.pt$", line), line
    assert ("kept as checkpoint_last.pt.torn" in line) == (damage != "missing")
    assert "@ 15 updates" in proc.stdout
    resumed = losses(proc.stdout)
    assert resumed and all(resumed[u] == full[u] for u in resumed), (resumed, full)


def test_nothing_readable_stops_the_training_cli_with_one_line(data_bin, tmp_path):
    save = tmp_path / "run"
    save.mkdir()
    (save / "checkpoint_last.pt").write_bytes(b"PK\x03\x04 torn")
    proc = train(data_bin, save, 5, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("resume_guard: ") and "--allow-scratch" in proc.stderr
    proc = train(data_bin, save, 5, "--allow-scratch")
    assert "starting from scratch" in proc.stderr and (save / "checkpoint_last.pt.torn").exists()


def test_kill_loop_ends_with_the_uninterrupted_parameters(data_bin, tmp_path):
    out = kill_loop.run(data_bin, tmp_path, kills=20, max_update=kill_loop.MAX_UPDATE, seed=0, log=print)
    print(json.dumps({k: v for k, v in out.items() if k != "records"}))
    assert out["kills"] == 20
    assert out["kills_that_left_a_torn_file"] >= 1 and out["torn_files_moved_aside"] >= 1
    assert out["max_updates_lost"] <= out["save_interval_updates"]
    assert out["final_updates"] == kill_loop.MAX_UPDATE
    assert out["final_parameters_equal_uninterrupted"]


def test_a_finished_run_is_not_trained_further(data_bin, tmp_path):
    """fairseq 0.12 trains one update past --max-update on every restart of a finished run."""
    save = tmp_path / "run"
    train(data_bin, save, 5)
    proc = train(data_bin, save, 5)
    assert "nothing to train" in proc.stderr
    assert torch.load(save / "checkpoint_last.pt", weights_only=False)["optimizer_history"][-1]["num_updates"] == 5
