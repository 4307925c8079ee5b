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
