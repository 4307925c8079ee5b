"""fused_linear_loss against autograd through the plain path (projection,
log-softmax, fairseq's label-smoothed NLL, the KL terms), on tiny tensors."""

import pytest
import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

from rdrop_fairseq.modules.fused_linear_loss import fused_linear_loss
from rdrop_fairseq.modules.rdrop_loss import clean_to_cut_kl, multi_pass_symmetric_kl

PAD = 1


def case(m, dtype, bias, seed=0, B=3, T=5, C=6, V=11):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(m * B, T, C, generator=g, dtype=dtype, requires_grad=True)
    w = torch.randn(V, C, generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(V, generator=g, dtype=dtype, requires_grad=True) if bias else None
    tgt = torch.randint(2, V, (B, T), generator=g)
    tgt[0, -1] = tgt[2, -3:] = PAD
    return h, w, b, tgt


def plain(h, w, b, tgt, eps, alpha, m, kind):
    logits = h @ w.t() + (b if b is not None else 0)
    lp = torch.log_softmax(logits, -1)
    B, V = tgt.size(0), lp.size(-1)
    pad = tgt.eq(PAD)
    counted = lp[:B] if (kind == "simcut" or m == 1) else lp
    targets = tgt if (kind == "simcut" or m == 1) else tgt.repeat(m, 1)
    loss, nll = label_smoothed_nll_loss(counted.reshape(-1, V), targets.reshape(-1), eps, ignore_index=PAD)
    if m > 1:
        kl = (clean_to_cut_kl if kind == "simcut" else multi_pass_symmetric_kl)(lp, m, pad)
        loss = loss + alpha * kl
    return loss, nll


def params(h, w, b):
    return [t for t in (h, w, b) if t is not None]


@pytest.mark.parametrize("m, kind, alpha", [(1, "rdrop", 0.0), (2, "rdrop", 5.0), (3, "rdrop", 5.0),
                                             (2, "rdrop", 0.0), (2, "simcut", 3.0), (3, "simcut", 3.0)])
@pytest.mark.parametrize("eps", [0.1, 0.0])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chunk", [None, 4])  # 4 positions: chunks cross rows and padding
def test_float64_equals_autograd(m, kind, alpha, eps, bias, chunk):
    h, w, b, tgt = case(m, torch.float64, bias)
    ref, ref_nll = plain(h, w, b, tgt, eps, alpha, m, kind)
    ref_grads = torch.autograd.grad(ref, params(h, w, b))
    loss, nll, kl = fused_linear_loss(h, w, b, tgt, tgt.eq(PAD), eps, alpha, m, kind, chunk_tokens=chunk)
    grads = torch.autograd.grad(loss, params(h, w, b))
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(nll, ref_nll.detach(), rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    assert (kl > 0) == (m > 1)


@pytest.mark.parametrize("m, kind", [(1, "rdrop"), (2, "rdrop"), (2, "simcut")])
def test_float32_within_1e5(m, kind):
    h, w, b, tgt = case(m, torch.float32, bias=False, seed=3, B=4, T=9, C=16, V=50)
    ref, _ = plain(h, w, b, tgt, 0.1, 5.0, m, kind)
    ref_grads = torch.autograd.grad(ref, params(h, w, b))
    loss, _, _ = fused_linear_loss(h, w, b, tgt, tgt.eq(PAD), 0.1, 5.0, m, kind, chunk_tokens=7)
    grads = torch.autograd.grad(loss, params(h, w, b))
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, ref_grads):
        # relative to the gradient's norm: single elements near 0 carry float32
        # rounding of either path (both are ~1e-6 from float64 here)
        assert ((got - want).norm() / want.norm()).item() < 1e-5


def test_tied_weight_gets_both_gradients():
    """A projection tied to the embedding: the weight's gradient is the lookup's
    plus the projection's, as autograd sums them on the plain path."""
    torch.manual_seed(0)
    emb = torch.nn.Embedding(11, 6)
    tokens = torch.randint(2, 11, (2 * 3, 5))
    tgt = torch.randint(2, 11, (3, 5))
    tgt[1, -2:] = PAD
    grads = []
    for fused in (False, True):
        emb.zero_grad()
        h = torch.tanh(emb(tokens))
        if fused:
            loss, _, _ = fused_linear_loss(h, emb.weight, None, tgt, tgt.eq(PAD), 0.1, 5.0, 2)
        else:
            loss, _ = plain(h, emb.weight, None, tgt, 0.1, 5.0, 2, "rdrop")
        loss.backward()
        grads.append(emb.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_bad_shapes_are_named():
    h, w, b, tgt = case(2, torch.float32, False)
    with pytest.raises(ValueError, match="is not num_passes \\(3\\) x target batch 3"):
        fused_linear_loss(h, w, b, tgt, tgt.eq(PAD), 0.1, 5.0, 3)
    with pytest.raises(ValueError, match="kind must be one of"):
        fused_linear_loss(h, w, b, tgt, tgt.eq(PAD), 0.1, 5.0, 2, kind="js")


# ---- in the criterion (--rdrop-loss-impl fused_linear) ----------------------

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--label-smoothing", "0.1", "--dropout", "0.3"]


def criterion_run(tmp_path, arch, impl, extra, state=None, rdrop=None):
    from fairseq_helpers import build, make_sample

    _, task, model, crit = build(tmp_path / impl, arch + CRIT + ["--rdrop-loss-impl", impl] + extra)
    if state is not None:
        model.load_state_dict(state)
    model.train()
    torch.manual_seed(11)
    loss, size, log = crit(model, make_sample(task), rdrop=rdrop)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    if impl == "fused_linear":
        assert crit._linear, "fused_linear fell back to the logits path"
    return {k: v.clone() for k, v in model.state_dict().items()}, loss, log, grads


@pytest.mark.parametrize("arch_name, extra", [
    ("transformer", []),
    ("transformer", ["--rdrop-passes", "3", "--ignore-prefix-size", "1"]),
    ("transformer", ["--rdrop-alpha", "0"]),
    ("transformer", ["--rdrop-alpha", "3", "--cutoff-rate", "0.1", "--cutoff-copies", "second"]),
    ("realformer", ["--decoder-output-dropout", "0.2", "--decoder-output-dropout-samples", "2"]),
])
@pytest.mark.parametrize("rdrop", [None, False])  # R-Drop passes, and one plain training pass
def test_criterion_fused_linear_equals_fused(tmp_path, arch_name, extra, rdrop):
    from fairseq_helpers import TINY_REALFORMER, TINY_TRANSFORMER

    arch = TINY_REALFORMER if arch_name == "realformer" else TINY_TRANSFORMER
    state, fl, flog, fg = criterion_run(tmp_path, arch, "fused", extra, rdrop=rdrop)
    _, ll, llog, lg = criterion_run(tmp_path, arch, "fused_linear", extra, state, rdrop=rdrop)
    torch.testing.assert_close(ll, fl, rtol=1e-5, atol=1e-5)
    for key in ("nll_loss",) + (("kl_loss",) if rdrop is None else ()):
        torch.testing.assert_close(llog[key], flog[key], rtol=1e-5, atol=1e-5)
    assert set(lg) == set(fg)
    for name in fg:  # the tied embedding / projection weight included; the
        # attention key bias's gradient is 0 up to rounding (softmax ignores it)
        assert (lg[name] - fg[name]).norm().item() <= 1e-5 * fg[name].norm().item() + 1e-6, name


def test_fused_linear_falls_back_with_report_accuracy(tmp_path, caplog):
    from fairseq_helpers import TINY_TRANSFORMER

    with caplog.at_level("INFO"):
        state, fl, _, _ = criterion_run(tmp_path, TINY_TRANSFORMER, "fused", ["--report-accuracy"])
        from fairseq_helpers import build, make_sample

        _, task, model, crit = build(tmp_path / "x", TINY_TRANSFORMER + CRIT + [
            "--rdrop-loss-impl", "fused_linear", "--report-accuracy"])
        model.load_state_dict(state)
        model.train()
        torch.manual_seed(11)
        loss, _, log = crit(model, make_sample(task))
    assert crit._linear is False and "n_correct" in log
    torch.testing.assert_close(loss, fl)
    assert "using the fused loss from the logits" in caplog.text


@pytest.mark.slow
def test_fairseq_train_with_each_loss_impl_gives_the_same_run(data_bin, tmp_path):
    """k-step R-Drop (R-Drop and plain updates) through fairseq-train: the
    fused_linear run's losses equal the fused and plain runs' update by update."""
    import rdrop_fairseq
    from cli import BIN, SMALL_MODEL, TRAIN_FLAGS, json_logs, run

    logs = {}
    for impl in ("plain", "fused", "fused_linear"):
        proc = run([BIN / "fairseq-train", data_bin, "--save-dir", tmp_path / impl, "--max-update", "6",
                    "--user-dir", rdrop_fairseq.USER_DIR, "--criterion", "label_smoothed_cross_entropy_rdrop",
                    "--task", "translation_rdrop", "--rdrop-k-step", "2", "--rdrop-loss-impl", impl]
                   + SMALL_MODEL + TRAIN_FLAGS + ["--log-interval", "1"])
        logs[impl] = {int(r["num_updates"]): r for r in json_logs(proc.stdout + proc.stderr, "train_inner")}
    assert sorted(logs["fused_linear"]) == list(range(1, 7))
    for u in range(1, 7):
        for impl in ("plain", "fused"):
            assert float(logs["fused_linear"][u]["loss"]) == pytest.approx(float(logs[impl][u]["loss"]), abs=2e-3)
    assert {logs["fused_linear"][u]["rdrop_frac"] for u in range(1, 7)} == {"1", "0"}


@pytest.mark.parametrize("arch_name", ["transformer", "realformer"])
def test_fused_baseline_criterion_equals_fairseqs(tmp_path, arch_name):
    from fairseq_helpers import TINY_REALFORMER, TINY_TRANSFORMER, build, make_sample

    arch = TINY_REALFORMER if arch_name == "realformer" else TINY_TRANSFORMER
    runs = []
    for name in ("label_smoothed_cross_entropy", "label_smoothed_cross_entropy_fused"):
        _, task, model, crit = build(tmp_path / name, arch + [
            "--criterion", name, "--label-smoothing", "0.1", "--dropout", "0.3", "--ignore-prefix-size", "1"])
        if runs:
            model.load_state_dict(runs[0][0])
        model.train()
        torch.manual_seed(5)
        loss, size, log = crit(model, make_sample(task))
        loss.backward()
        runs.append(({k: v.clone() for k, v in model.state_dict().items()}, loss, log,
                     {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, crit))
    (_, l0, log0, g0, _), (_, l1, log1, g1, crit) = runs
    assert crit._linear  # the fused path ran
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(log1["nll_loss"], log0["nll_loss"], rtol=1e-5, atol=1e-5)
    for name in g0:
        assert (g1[name] - g0[name]).norm().item() <= 1e-5 * g0[name].norm().item() + 1e-6, name
