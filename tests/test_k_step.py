"""translation_rdrop: k-step R-Drop, in-process and through fairseq-train."""

import pytest
import torch

from fairseq_helpers import TINY_TRANSFORMER, build, make_sample
from rdrop_fairseq import FlagError
from rdrop_fairseq.tasks.translation_rdrop import rdrop_on_update

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop"]


def k_step_task(k):
    return ("--task", "translation_rdrop", "-s", "de", "-t", "en", "--rdrop-k-step", str(k))


class BackwardOnly:
    """What FairseqTask.train_step needs of an optimizer."""

    def backward(self, loss):
        loss.backward()


def test_rdrop_on_update():
    assert [rdrop_on_update(u, 1) for u in range(3)] == [True] * 3
    assert [rdrop_on_update(u, 3) for u in range(7)] == [True, False, False, True, False, False, True]


def test_train_step_runs_rdrop_every_kth_update_and_plain_otherwise(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT, task_args=k_step_task(3))
    sample = make_sample(task)
    ran, losses = [], []
    for update in range(6):
        loss, size, log = task.train_step(sample, model, crit, BackwardOnly(), update)
        ran.append(log.get("rdrop_batches", 0))
        losses.append(loss.item())
        assert size == sample["ntokens"] and log["nbatches"] == 1
    assert ran == [1, 0, 0, 1, 0, 0]
    # Plain steps optimise one copy's loss, R-Drop steps two copies plus the KL.
    assert losses[0] > 1.5 * losses[1]
    # Validation is one plain pass whatever the update.
    model.eval()
    with torch.no_grad():
        _, _, log = task.valid_step(sample, model, crit)
    assert "rdrop_batches" not in log and "kl_loss" not in log


def test_criterion_alone_keeps_rdrop_on_every_update(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT)  # --task translation
    sample = make_sample(task)
    logs = [task.train_step(sample, model, crit, BackwardOnly(), u)[2] for u in range(3)]
    assert [log.get("rdrop_batches") for log in logs] == [1, 1, 1]


def test_bad_k(tmp_path):
    with pytest.raises(FlagError, match="--rdrop-k-step: expected an integer >= 1, got 0"):
        build(tmp_path, TINY_TRANSFORMER + CRIT, task_args=k_step_task(0))


def test_k_step_task_needs_the_rdrop_criterion(tmp_path):
    with pytest.raises(FlagError, match="--criterion: expected label_smoothed_cross_entropy_rdrop"):
        build(tmp_path, TINY_TRANSFORMER + ["--criterion", "label_smoothed_cross_entropy"],
              task_args=k_step_task(2))
