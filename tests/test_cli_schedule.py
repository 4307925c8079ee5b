"""Issue 40 through the real fairseq-train: a SIGKILLed run resumes exactly across
--rdrop-start-update, a baseline checkpoint continues with R-Drop keeping its
update count and LR, and the probe logs probe_kl without changing training."""

import os
import sys

import pytest
import torch

import rdrop_fairseq
from cli import BIN, SMALL_MODEL, TRAIN_FLAGS, json_logs, kill_after_checkpoint, run

pytestmark = pytest.mark.slow

SCHEDULE = ["--task", "translation_rdrop", "--rdrop-start-update", "16", "--rdrop-alpha-warmup-updates", "6",
            "--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "5"]
PLAIN = ["--criterion", "label_smoothed_cross_entropy"]


def train(data_bin, save, *flags):
    proc = run([BIN / "fairseq-train", data_bin, "--save-dir", save, "--user-dir", rdrop_fairseq.USER_DIR]
               + SMALL_MODEL + TRAIN_FLAGS + ["--log-interval", "1"] + [str(f) for f in flags])
    return proc.stderr + proc.stdout


def per_update(out, *keys):
    return {int(r["num_updates"]): tuple(r.get(k) for k in keys) for r in json_logs(out, "train_inner")}


def test_killed_run_resumes_exactly_across_the_start_update(data_bin, tmp_path):
    flags = SCHEDULE + ["--max-update", "30", "--save-interval-updates", "12"]
    want = per_update(train(data_bin, tmp_path / "a", *flags), "loss", "nll_loss", "rdrop_frac", "rdrop_alpha")
    assert len(want) == 30
    assert [want[u][2] for u in (16, 17)] == ["0", "1"]  # update_num 15 plain, 16 R-Drop
    assert [want[u][3] for u in (17, 18, 20, 23, 30)] == ["0", "0.833", "2.5", "5", "5"]

    save = tmp_path / "b"
    cmd = [str(BIN / "fairseq-train"), str(data_bin), "--save-dir", str(save), "--user-dir",
           rdrop_fairseq.USER_DIR] + SMALL_MODEL + TRAIN_FLAGS + ["--log-interval", "1"] + flags
    kill_after_checkpoint(cmd, 12, dict(os.environ, OMP_NUM_THREADS="2", PATH=f"{BIN}:{os.environ['PATH']}"))
    resumed_at = torch.load(save / "checkpoint_last.pt")["optimizer_history"][-1]["num_updates"]
    assert 12 <= resumed_at < 16  # before the start: the resume crosses it

    out = train(data_bin, save, *flags)
    assert f"@ {resumed_at} updates)" in out
    got = per_update(out, "loss", "nll_loss", "rdrop_frac", "rdrop_alpha")
    assert sorted(got) == list(range(resumed_at + 1, 31))
    for u, (loss, nll, frac, alpha) in got.items():
        assert (frac, alpha) == want[u][2:], u
        assert float(loss) == pytest.approx(float(want[u][0]), abs=2e-3), u
        assert float(nll) == pytest.approx(float(want[u][1]), abs=2e-3), u


def test_a_baseline_checkpoint_continues_with_rdrop_keeping_updates_and_lr(data_bin, tmp_path):
    base = tmp_path / "baseline"
    straight = per_update(train(data_bin, tmp_path / "straight", *PLAIN, "--max-update", "18"), "lr")
    train(data_bin, base, *PLAIN, "--max-update", "12")

    # fairseq alone refuses it, and --reset-optimizer would drop Adam, the LR and the count
    refused = run([BIN / "fairseq-train", data_bin, "--save-dir", tmp_path / "refused", "--user-dir",
                   rdrop_fairseq.USER_DIR, "--restore-file", base / "checkpoint_last.pt"] + SMALL_MODEL
                  + TRAIN_FLAGS + SCHEDULE + ["--max-update", "18"], check=False)
    assert refused.returncode != 0 and "Criterion does not match" in refused.stderr + refused.stdout

    cont = tmp_path / "continued.pt"
    made = run([sys.executable, "-m", "rdrop_fairseq.continue_baseline", base / "checkpoint_last.pt", cont])
    assert "LabelSmoothedCrossEntropyCriterion -> LabelSmoothedCrossEntropyRDropCriterion, 12 updates" in made.stdout
    out = train(data_bin, tmp_path / "rdrop", *SCHEDULE[:2], "--criterion", "label_smoothed_cross_entropy_rdrop",
                "--restore-file", cont, "--max-update", "18")
    assert "@ 12 updates)" in out
    got = per_update(out, "lr", "rdrop_frac")
    assert sorted(got) == list(range(13, 19))
    for u, (lr, frac) in got.items():
        assert lr == straight[u][0] and frac == "1", u  # the baseline's schedule goes on


def test_continue_baseline_rejects_other_criteria(tmp_path):
    state = {"optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "num_updates": 3}]}
    torch.save(state, tmp_path / "ce.pt")
    proc = run([sys.executable, "-m", "rdrop_fairseq.continue_baseline", tmp_path / "ce.pt", tmp_path / "o.pt"],
               check=False)
    assert proc.returncode == 2
    assert "the checkpoint was trained with CrossEntropyCriterion; expected one of" in proc.stderr
    assert not (tmp_path / "o.pt").exists()


def test_probe_logs_probe_kl_and_trains_exactly_like_the_baseline(data_bin, tmp_path):
    keys = ("loss", "nll_loss", "gnorm", "probe_kl")
    plain = per_update(train(data_bin, tmp_path / "a", *PLAIN, "--max-update", "8"), *keys)
    probed = per_update(train(data_bin, tmp_path / "b", *PLAIN, "--task", "translation_rdrop",
                              "--rdrop-probe-interval", "2", "--max-update", "8"), *keys)
    assert sorted(probed) == sorted(plain) == list(range(1, 9))
    for u in plain:
        assert probed[u][:3] == plain[u][:3], u  # bit for bit, as logged
        assert plain[u][3] is None
        assert (probed[u][3] is not None) == (u % 2 == 1), u  # update_num 0, 2, 4, 6
    assert all(float(probed[u][3]) > 0 for u in (1, 3, 5, 7))


def test_bad_schedule_value_is_one_line_on_the_command_line(data_bin, tmp_path):
    proc = run([BIN / "fairseq-train", data_bin, "--save-dir", tmp_path, "--user-dir", rdrop_fairseq.USER_DIR]
               + SMALL_MODEL + TRAIN_FLAGS + SCHEDULE + ["--rdrop-start-update", "-3"], check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "fairseq-train: error: --rdrop-start-update: expected an integer >= 0, got -3")
    assert "Traceback" not in proc.stderr
