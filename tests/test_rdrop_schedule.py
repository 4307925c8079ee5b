"""Issue 40's schedules, the dropout probe and the shared encoder pass, in-process
on a tiny real fairseq model, each against a hand-written reference."""

import copy

import pytest
import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

from fairseq_helpers import TINY_REALFORMER, TINY_TRANSFORMER, build, make_sample
from rdrop_fairseq import FlagError
from rdrop_fairseq.modules.dropout_probe import dropout_probe_kl
from rdrop_fairseq.modules.rdrop_loss import multi_pass_symmetric_kl, repeat_batch
from rdrop_fairseq.modules.rdrop_schedule import RDropSchedule

RDROP = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--dropout", "0.2"]


def task_args(*flags):
    return ("--task", "translation_rdrop", "-s", "de", "-t", "en") + tuple(str(f) for f in flags)


class BackwardOnly:
    def backward(self, loss):
        loss.backward()


def loss_and_grads(fn, model, seed=0):
    model.zero_grad()
    torch.manual_seed(seed)
    loss = fn()
    return loss.detach().clone(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same(a, b, exact=True):
    (la, ga), (lb, gb) = a, b
    assert ga.keys() == gb.keys()
    if exact:
        assert torch.equal(la, lb)
        assert all(torch.equal(ga[n], gb[n]) for n in ga)
    else:
        torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-5)
        for n in ga:
            torch.testing.assert_close(ga[n], gb[n], rtol=1e-4, atol=1e-5, msg=lambda m, n=n: f"{n}: {m}")


def test_plan_is_exact_at_chosen_updates():
    plan = RDropSchedule(k_step=1, start_update=10, alpha_warmup_updates=4).plan
    assert [plan(u) for u in (0, 9, 10, 11, 12, 13, 14, 15, 1000)] == [
        (False, 0.0), (False, 0.0), (True, 0.0), (True, 0.25), (True, 0.5), (True, 0.75),
        (True, 1.0), (True, 1.0), (True, 1.0)]
    k2 = RDropSchedule(k_step=2, start_update=3).plan
    assert [k2(u)[0] for u in range(8)] == [False, False, False, False, True, False, True, False]
    assert RDropSchedule().plan(0) == (True, 1.0)
    assert not RDropSchedule().needs_rdrop_criterion
    assert RDropSchedule(start_update=1).needs_rdrop_criterion


def test_before_the_start_loss_and_gradients_equal_plain_label_smoothing(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + RDROP,
                                 task_args("--rdrop-start-update", 3))
    _, _, _, plain = build(tmp_path / "ls", TINY_TRANSFORMER + [
        "--criterion", "label_smoothed_cross_entropy", "--dropout", "0.2"])
    sample = make_sample(task)
    model.train()
    for update in (0, 2):
        got = loss_and_grads(lambda: task.train_step(sample, model, crit, BackwardOnly(), update)[0], model)
        want = loss_and_grads(lambda: task.train_step(sample, model, plain, BackwardOnly(), update)[0], model)
        assert_same(got, want)
    log = task.train_step(sample, model, crit, BackwardOnly(), 2)[2]
    assert "rdrop_batches" not in log and log["nbatches"] == 1


def test_from_the_start_loss_and_gradients_equal_rdrop(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + RDROP,
                                 task_args("--rdrop-start-update", 3))
    sample = make_sample(task)
    model.train()

    def rdrop():
        loss, _, _ = crit(model, sample, rdrop=True)
        loss.backward()
        return loss

    for update in (3, 7):
        got = loss_and_grads(lambda: task.train_step(sample, model, crit, BackwardOnly(), update)[0], model)
        assert_same(got, loss_and_grads(rdrop, model))


def test_alpha_warmup_uses_the_ramped_alpha_and_logs_it(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + RDROP + ["--rdrop-alpha", "4"],
                                 task_args("--rdrop-start-update", 2, "--rdrop-alpha-warmup-updates", 4))
    sample = make_sample(task)
    model.train()
    for update, alpha in ((2, 0.0), (3, 1.0), (5, 3.0), (6, 4.0), (9, 4.0)):
        _, _, ref = build(tmp_path / str(update), TINY_TRANSFORMER + RDROP + ["--rdrop-alpha", str(alpha)])[1:]

        def reference():
            loss, _, _ = ref(model, sample)
            loss.backward()
            return loss

        got = loss_and_grads(lambda: task.train_step(sample, model, crit, BackwardOnly(), update)[0], model)
        assert_same(got, loss_and_grads(reference, model), exact=False)
        torch.manual_seed(0)
        assert task.train_step(sample, model, crit, BackwardOnly(), update)[2]["rdrop_alpha"] == alpha


def shared_encoder_reference(model, sample, alpha, eps, pad):
    """R-Drop's loss with the encoder called once and the decoder on both copies."""
    src, lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
    prev, target = sample["net_input"]["prev_output_tokens"], sample["target"]
    enc = model.encoder(src, src_lengths=lengths, return_all_hiddens=True)
    both = model.encoder.reorder_encoder_out(enc, torch.arange(src.size(0)).repeat(2))
    out = model.decoder(prev.repeat(2, 1), encoder_out=both, src_lengths=lengths.repeat(2),
                        return_all_hiddens=True)
    lprobs = model.get_normalized_probs(out, log_probs=True)
    nll, _ = label_smoothed_nll_loss(lprobs.reshape(-1, lprobs.size(-1)), target.repeat(2, 1).reshape(-1),
                                     eps, ignore_index=pad, reduce=True)
    return nll + alpha * multi_pass_symmetric_kl(lprobs, 2, target.eq(pad))


@pytest.mark.parametrize("arch", ["transformer", "realformer"])
@pytest.mark.parametrize("impl", ["fused", "plain", "fused_linear"])
def test_share_encoder_equals_one_encoder_call_and_two_decoder_calls(tmp_path, arch, impl):
    flags = (TINY_TRANSFORMER if arch == "transformer" else TINY_REALFORMER) + RDROP + [
        "--rdrop-share-encoder", "--rdrop-loss-impl", impl, "--attention-dropout", "0.1"]
    _, task, model, crit = build(tmp_path, flags)
    sample = make_sample(task, bsz=4)
    model.train()

    def ours():
        loss, _, _ = crit(model, sample)
        loss.backward()
        return loss

    def reference():
        loss = shared_encoder_reference(model, sample, crit.alpha, crit.eps, crit.padding_idx)
        loss.backward()
        return loss

    got, want = loss_and_grads(ours, model, seed=3), loss_and_grads(reference, model, seed=3)
    assert_same(got, want, exact=False)
    # and it differs from R-Drop with two encoder passes (the encoder's dropout differs)
    crit.share_encoder = False
    assert not torch.allclose(loss_and_grads(ours, model, seed=3)[0], got[0])


def test_share_encoder_without_dropout_equals_rdrop(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + [
        "--criterion", "label_smoothed_cross_entropy_rdrop", "--dropout", "0", "--rdrop-share-encoder"])
    sample = make_sample(task)
    shared = crit(model, sample)[0]
    crit.share_encoder = False
    torch.testing.assert_close(shared, crit(model, sample)[0])


def test_share_encoder_under_k_step(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + RDROP + ["--rdrop-share-encoder"],
                                 task_args("--rdrop-k-step", 2))
    sample = make_sample(task)
    logs = [task.train_step(sample, model, crit, BackwardOnly(), u)[2] for u in range(4)]
    assert [log.get("rdrop_batches", 0) for log in logs] == [1, 0, 1, 0]


def test_probe_changes_no_parameter_gradient_or_later_step(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + [
        "--criterion", "label_smoothed_cross_entropy", "--dropout", "0.3"], task_args("--rdrop-probe-interval", 2))
    twin = copy.deepcopy(model)
    sample = make_sample(task)
    model.train(), twin.train()
    probed, plain = [], []
    torch.manual_seed(5)
    for u in range(4):
        model.zero_grad()
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        loss, _, log = task.train_step(sample, model, crit, BackwardOnly(), u)
        assert ("probe_kl" in log) == (u % 2 == 0)
        assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
        probed.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    task.rdrop_probe_interval = 0
    torch.manual_seed(5)
    for u in range(4):
        twin.zero_grad()
        loss, _, log = task.train_step(sample, twin, crit, BackwardOnly(), u)
        assert "probe_kl" not in log
        plain.append((loss.detach(), [p.grad.clone() for p in twin.parameters()]))
    for (la, ga), (lb, gb) in zip(probed, plain):
        assert torch.equal(la, lb) and all(torch.equal(a, b) for a, b in zip(ga, gb))


def test_probe_kl_is_the_symmetric_kl_of_two_dropout_passes(tmp_path):
    _, task, model, _ = build(tmp_path, TINY_TRANSFORMER + ["--dropout", "0.3"])
    sample = make_sample(task)
    pad = task.target_dictionary.pad()
    model.train()
    torch.manual_seed(11)
    kl, ntokens = dropout_probe_kl(model, sample, pad)
    torch.manual_seed(11)
    with torch.no_grad():
        lprobs = model.get_normalized_probs(model(**repeat_batch(sample["net_input"], 2)), log_probs=True)
    assert torch.equal(kl, multi_pass_symmetric_kl(lprobs, 2, sample["target"].eq(pad)))
    assert ntokens == int(sample["target"].ne(pad).sum()) and kl > 0
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    with pytest.raises(ValueError, match="training mode"):
        dropout_probe_kl(model, sample, pad)


def test_probe_kl_is_zero_without_dropout(tmp_path):
    _, task, model, _ = build(tmp_path, TINY_TRANSFORMER + ["--dropout", "0"])
    model.train()
    kl, _ = dropout_probe_kl(model, make_sample(task), task.target_dictionary.pad())
    assert kl.item() == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("flags, message", [
    (("--rdrop-start-update", "-1"), "--rdrop-start-update: expected an integer >= 0, got -1"),
    (("--rdrop-alpha-warmup-updates", "-5"), "--rdrop-alpha-warmup-updates: expected an integer >= 0, got -5"),
    (("--rdrop-probe-interval", "-1"), r"--rdrop-probe-interval: expected an integer >= 0 \(0 = off\), got -1"),
])
def test_bad_schedule_values(tmp_path, flags, message):
    with pytest.raises(FlagError, match=message):
        build(tmp_path, TINY_TRANSFORMER + RDROP, task_args(*flags))


def test_schedule_needs_the_rdrop_criterion_and_the_probe_does_not(tmp_path):
    plain = TINY_TRANSFORMER + ["--criterion", "label_smoothed_cross_entropy"]
    with pytest.raises(FlagError, match="--criterion: expected label_smoothed_cross_entropy_rdrop .* "
                       "and --rdrop-start-update, which need"):
        build(tmp_path, plain, task_args("--rdrop-start-update", 5))
    build(tmp_path, plain, task_args("--rdrop-probe-interval", 5))


def test_share_encoder_with_cutoff_is_rejected(tmp_path):
    with pytest.raises(FlagError, match="--rdrop-share-encoder: expected off when --cutoff-rate > 0"):
        build(tmp_path, TINY_TRANSFORMER + RDROP + [
            "--rdrop-share-encoder", "--cutoff-rate", "0.1", "--cutoff-copies", "second"])
