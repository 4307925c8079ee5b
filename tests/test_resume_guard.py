"""rdrop_fairseq/resume_guard.py on hand-made checkpoints: a torn, an empty and a
missing checkpoint_last.pt, each with interval checkpoints present; nothing readable."""

import os
import subprocess
import sys

import pytest
import torch

from rdrop_fairseq import resume_guard

from cli import REPO


def save(path, update):
    torch.save({"optimizer_history": [{"num_updates": update}], "model": {"w": torch.full((64,), float(update))}},
               path)


@pytest.fixture
def run_dir(tmp_path):
    for u in (100, 200, 300):
        save(tmp_path / f"checkpoint_{u // 10}_{u}.pt", u)
    save(tmp_path / "checkpoint_best.pt", 200)
    save(tmp_path / "checkpoint_last.pt", 300)
    return tmp_path


def updates(path):
    return torch.load(path, weights_only=False)["optimizer_history"][-1]["num_updates"]


def test_a_readable_last_is_left_alone(run_dir):
    before = (run_dir / "checkpoint_last.pt").read_bytes()
    assert resume_guard.guard(run_dir) == ""
    assert (run_dir / "checkpoint_last.pt").read_bytes() == before


@pytest.mark.parametrize("damage", ["torn", "empty"])
def test_a_torn_or_empty_last_is_kept_aside_and_the_newest_interval_checkpoint_resumes(run_dir, damage):
    last = run_dir / "checkpoint_last.pt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2] if damage == "torn" else b"")
    line = resume_guard.guard(run_dir)
    assert "checkpoint_last.pt.torn" in line and "resuming from checkpoint_30_300.pt" in line
    assert updates(last) == 300 and (run_dir / "checkpoint_last.pt.torn").stat().st_size < len(data)


def test_a_missing_last_resumes_from_the_newest_readable(run_dir):
    (run_dir / "checkpoint_last.pt").unlink()
    (run_dir / "checkpoint_30_300.pt").write_bytes(b"PK\x03\x04 torn")  # the newest is torn too
    assert "was missing; resuming from checkpoint_20_200.pt" in resume_guard.guard(run_dir)
    assert updates(run_dir / "checkpoint_last.pt") == 200


def test_checkpoint_best_is_the_last_resort(tmp_path):
    save(tmp_path / "checkpoint_best.pt", 70)
    (tmp_path / "checkpoint_last.pt").write_bytes(b"")
    assert "resuming from checkpoint_best.pt" in resume_guard.guard(tmp_path)
    assert updates(tmp_path / "checkpoint_last.pt") == 70


def test_a_new_run_is_left_alone(tmp_path):
    assert resume_guard.guard(tmp_path / "absent") == "" and resume_guard.guard(tmp_path) == ""


def test_nothing_readable_stops_with_one_line_unless_scratch_is_allowed(tmp_path):
    (tmp_path / "checkpoint_last.pt").write_bytes(b"")
    (tmp_path / "checkpoint_1_100.pt").write_bytes(b"garbage")
    cli = [sys.executable, "-m", "rdrop_fairseq.resume_guard", str(tmp_path)]
    proc = subprocess.run(cli, capture_output=True, text=True, cwd=REPO)
    ours = [line for line in proc.stderr.splitlines() if line.startswith("resume_guard")]
    assert proc.returncode == 2 and len(ours) == 1  # (importing fairseq logs its own INFO lines before)
    assert "no checkpoint in" in proc.stderr and "--allow-scratch or set RDROP_ALLOW_SCRATCH=1" in proc.stderr
    proc = subprocess.run(cli + ["--allow-scratch"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and "starting from scratch" in proc.stderr
    assert not (tmp_path / "checkpoint_last.pt").exists() and (tmp_path / "checkpoint_last.pt.torn").exists()


def test_epoch_checkpoints_are_fallbacks_by_update_count(tmp_path):
    """The IWSLT14 recipe saves checkpointE.pt every epoch and no interval checkpoint."""
    save(tmp_path / "checkpoint1.pt", 1100)
    save(tmp_path / "checkpoint2.pt", 2200)
    save(tmp_path / "checkpoint_1_1500.pt", 1500)
    save(tmp_path / "checkpoint_best.pt", 2200)
    (tmp_path / "checkpoint_last.pt").write_bytes(b"PK\x03\x04 torn")
    assert "resuming from checkpoint2.pt" in resume_guard.guard(tmp_path)
    assert updates(tmp_path / "checkpoint_last.pt") == 2200


def test_a_refusal_moves_nothing_so_that_it_stands(tmp_path):
    (tmp_path / "checkpoint_last.pt").write_bytes(b"PK\x03\x04 torn")
    for _ in range(2):
        with pytest.raises(resume_guard.NothingReadable):
            resume_guard.guard(tmp_path)
        assert (tmp_path / "checkpoint_last.pt").exists() and not (tmp_path / "checkpoint_last.pt.torn").exists()
    assert "starting from scratch" in resume_guard.guard(tmp_path, allow_scratch=True)
    assert (tmp_path / "checkpoint_last.pt.torn").exists() and not (tmp_path / "checkpoint_last.pt").exists()


def test_a_bad_allow_scratch_value_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rdrop_fairseq.resume_guard", str(tmp_path)], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, RDROP_ALLOW_SCRATCH="yes"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "resume_guard: RDROP_ALLOW_SCRATCH: expected 0 or 1, got 'yes'"
