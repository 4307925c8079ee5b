"""label_smoothed_cross_entropy_rdrop against fairseq's own criterion, in-process."""

import logging

import pytest
import torch
import torch.nn.functional as F
from fairseq import tasks
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
)
from fairseq.logging import metrics

from fairseq_helpers import TINY_REALFORMER, TINY_TRANSFORMER, build, concat_sample, make_sample, parse, write_dicts
from rdrop_fairseq import FlagError

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--label-smoothing", "0.1"]
NO_DROPOUT = ["--dropout", "0", "--attention-dropout", "0", "--activation-dropout", "0"]


def fairseq_criterion(task, eps=0.1, ignore_prefix_size=0, report_accuracy=False):
    return LabelSmoothedCrossEntropyCriterion(
        task, False, eps, ignore_prefix_size=ignore_prefix_size,
        report_accuracy=report_accuracy,
    )


def seeded(fn, seed=123):
    torch.manual_seed(seed)
    return fn()


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("passes", [2, 3])
def test_alpha_zero_is_m_times_fairseq_without_dropout(tmp_path, passes):
    _, task, model, crit = build(
        tmp_path, TINY_TRANSFORMER + CRIT + NO_DROPOUT
        + ["--rdrop-alpha", "0", "--rdrop-passes", str(passes)]
    )
    sample = make_sample(task)
    model.train()
    loss, sample_size, log = crit(model, sample)
    ref_loss, ref_size, ref_log = fairseq_criterion(task)(model, sample)
    torch.testing.assert_close(loss, passes * ref_loss, rtol=1e-6, atol=1e-6)
    assert sample_size == ref_size == sample["ntokens"]
    torch.testing.assert_close(log["nll_loss"], ref_log["nll_loss"], rtol=1e-6, atol=1e-6)
    assert log["kl_loss"].item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("impl, grad_atol", [("plain", 1e-7), ("fused", 1e-6)])
def test_alpha_zero_with_dropout_equals_fairseq_on_the_concatenated_batch(tmp_path, impl, grad_atol):
    # Same seed and the same [x; x] tensor shapes -> the same dropout masks, so
    # loss and gradients must equal fairseq's criterion on the doubled batch
    # (the fused loss's analytic gradient rounds differently in float32).
    _, task, model, crit = build(
        tmp_path, TINY_TRANSFORMER + CRIT
        + ["--dropout", "0.3", "--rdrop-alpha", "0", "--rdrop-loss-impl", impl]
    )
    sample = make_sample(task)
    model.train()

    loss, _, _ = seeded(lambda: crit(model, sample))
    loss.backward()
    ours = grads(model)
    model.zero_grad()
    ref_loss, _, _ = seeded(lambda: fairseq_criterion(task)(model, concat_sample(sample, 2)))
    ref_loss.backward()
    ref = grads(model)

    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-6)
    assert ours.keys() == ref.keys() and len(ours) > 0
    for name in ours:
        torch.testing.assert_close(ours[name], ref[name], rtol=1e-5, atol=grad_atol)


def test_alpha_adds_the_symmetric_kl_of_the_two_passes(tmp_path):
    alpha = 5.0
    _, task, model, crit = build(
        tmp_path, TINY_TRANSFORMER + CRIT + ["--dropout", "0.3", "--rdrop-alpha", str(alpha)]
    )
    sample = make_sample(task)
    model.train()
    loss, _, log = seeded(lambda: crit(model, sample))

    torch.manual_seed(123)
    doubled = concat_sample(sample, 2)
    out = model(**doubled["net_input"])
    lprobs = model.get_normalized_probs(out, log_probs=True)
    p, q = lprobs.chunk(2, 0)
    pad = sample["target"].eq(task.target_dictionary.pad())
    kl_pq = F.kl_div(q, p, log_target=True, reduction="none").sum(-1)
    kl_qp = F.kl_div(p, q, log_target=True, reduction="none").sum(-1)
    ref_kl = (0.5 * (kl_pq + kl_qp)).masked_fill(pad, 0).sum()
    torch.manual_seed(123)
    ref_ls, _, _ = fairseq_criterion(task)(model, doubled)

    assert ref_kl > 0
    torch.testing.assert_close(log["kl_loss"], ref_kl.detach(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss, ref_ls + alpha * ref_kl, rtol=1e-5, atol=1e-6)


def test_kl_logged_positive_with_dropout_and_zero_without(tmp_path):
    _, task, model, crit = build(tmp_path / "a", TINY_TRANSFORMER + CRIT + ["--dropout", "0.3"])
    model.train()
    _, _, log = crit(model, make_sample(task))
    assert log["kl_loss"].item() > 1e-6

    _, task, model, crit = build(tmp_path / "b", TINY_TRANSFORMER + CRIT + NO_DROPOUT)
    model.train()
    _, _, log = crit(model, make_sample(task))
    assert log["kl_loss"].item() == pytest.approx(0.0, abs=1e-7)


def test_no_dropout_warns_once(tmp_path, caplog):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT + NO_DROPOUT)
    model.train()
    with caplog.at_level(logging.WARNING):
        crit(model, make_sample(task))
        crit(model, make_sample(task))
    warnings = [r for r in caplog.records if "KL term is 0" in r.getMessage()]
    assert len(warnings) == 1 and "--dropout" in warnings[0].getMessage()


def test_evaluation_is_one_pass_and_identical_to_fairseq(tmp_path):
    _, task, model, crit = build(
        tmp_path, TINY_TRANSFORMER + CRIT + ["--dropout", "0.3", "--report-accuracy"]
    )
    sample = make_sample(task)
    model.eval()
    calls = []
    hook = model.encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    with torch.no_grad():
        loss, size, log = crit(model, sample)
        ref_loss, ref_size, ref_log = fairseq_criterion(task, report_accuracy=True)(model, sample)
    hook.remove()
    assert calls[0][0] == sample["target"].size(0)  # one copy, not [x; x]
    assert torch.equal(loss, ref_loss) and size == ref_size
    assert torch.equal(log["nll_loss"], ref_log["nll_loss"])
    assert log["n_correct"] == ref_log["n_correct"] and "kl_loss" not in log


def test_ignore_prefix_and_accuracy(tmp_path):
    _, task, model, crit = build(
        tmp_path, TINY_TRANSFORMER + CRIT + NO_DROPOUT
        + ["--rdrop-alpha", "0", "--ignore-prefix-size", "1", "--report-accuracy"]
    )
    sample = make_sample(task)
    model.train()
    loss, _, log = crit(model, sample)
    ref = fairseq_criterion(task, ignore_prefix_size=1, report_accuracy=True)
    ref_loss, _, ref_log = ref(model, sample)
    torch.testing.assert_close(loss, 2 * ref_loss, rtol=1e-6, atol=1e-6)
    assert log["total"] == 2 * ref_log["total"]
    assert log["n_correct"] == 2 * ref_log["n_correct"]


def test_reduce_metrics_logs_every_curve(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT + ["--dropout", "0.3"])
    model.train()
    logs = [crit(model, make_sample(task, seed=s))[2] for s in range(2)]
    logs.append(crit(model, make_sample(task, seed=3), rdrop=False)[2])  # a plain step
    with metrics.aggregate() as agg:
        type(crit).reduce_metrics(logs)
        values = agg.get_smoothed_values()
    for key in ("loss", "nll_loss", "ppl", "kl_loss", "rdrop_frac"):
        assert key in values, key
    assert values["rdrop_frac"] == pytest.approx(2 / 3, abs=1e-3)
    rdrop_tokens = sum(log.get("rdrop_ntokens", 0) for log in logs)
    kl_sum = sum(float(log.get("kl_loss", 0)) for log in logs)
    assert values["kl_loss"] == pytest.approx(kl_sum / rdrop_tokens / 0.6931471805599453, rel=1e-3)


@pytest.mark.parametrize(
    "flag, value, match",
    [
        ("--rdrop-alpha", "-1", "--rdrop-alpha: expected a finite float >= 0, got -1.0"),
        ("--rdrop-passes", "1", "--rdrop-passes: expected an integer >= 2, got 1"),
        ("--label-smoothing", "1.5", "--label-smoothing: expected a float in"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path, flag, value, match):
    with pytest.raises(FlagError, match=match):
        build(tmp_path, TINY_TRANSFORMER + CRIT + [flag, value])


def test_non_seq2seq_task_is_rejected(tmp_path):
    write_dicts(tmp_path)
    (tmp_path / "dict.txt").write_text((tmp_path / "dict.en.txt").read_text())
    cfg = parse(tmp_path, ["--task", "language_modeling", "--arch", "transformer_lm"] + CRIT)
    task = tasks.setup_task(cfg.task)
    with pytest.raises(FlagError, match="--task: expected a sequence-to-sequence task"):
        task.build_criterion(cfg.criterion)


@pytest.mark.parametrize("arch_flags", [TINY_TRANSFORMER, TINY_REALFORMER])
def test_fused_and_plain_loss_impls_agree(tmp_path, arch_flags):
    from rdrop_fairseq.modules.model_introspection import (
        output_is_log_softmax_of_logits,
    )

    results = []
    for impl in ("fused", "plain"):
        _, task, model, crit = build(
            tmp_path / impl, arch_flags + CRIT + ["--dropout", "0.3", "--rdrop-loss-impl", impl,
                                                   "--report-accuracy", "--ignore-prefix-size", "1"]
        )
        if results:
            model.load_state_dict(results[0][0])
        assert output_is_log_softmax_of_logits(model)
        model.train()
        loss, _, log = seeded(lambda: crit(model, make_sample(task)))
        loss.backward()
        results.append(({k: v.detach().clone() for k, v in model.state_dict().items()}, loss, log, grads(model)))
    (_, fl, flog, fg), (_, pl, plog, pg) = results
    torch.testing.assert_close(fl, pl, rtol=1e-5, atol=1e-5)
    for key in ("nll_loss", "kl_loss"):
        torch.testing.assert_close(flog[key], plog[key], rtol=1e-5, atol=1e-6)
    assert flog["n_correct"] == plog["n_correct"] and flog["kl_loss"] > 0
    for name in fg:
        torch.testing.assert_close(fg[name], pg[name], rtol=1e-4, atol=1e-6)


def test_bad_loss_impl_is_rejected_by_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit):
        build(tmp_path, TINY_TRANSFORMER + CRIT + ["--rdrop-loss-impl", "fast"])
    assert "--rdrop-loss-impl" in capsys.readouterr().err
