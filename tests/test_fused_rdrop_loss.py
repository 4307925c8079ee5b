"""The fused R-Drop loss against autograd through the plain implementation."""

import pytest
import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

from rdrop_fairseq.modules.fused_rdrop_loss import fused_rdrop_loss
from rdrop_fairseq.modules.rdrop_loss import multi_pass_symmetric_kl

PAD = 1


def plain(logits, target, eps, alpha, m):
    lprobs = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), -1)
    loss, nll = label_smoothed_nll_loss(
        lprobs.reshape(-1, lprobs.size(-1)), target.repeat(m, 1).reshape(-1), eps,
        ignore_index=PAD,
    )
    kl = multi_pass_symmetric_kl(lprobs, m, target.eq(PAD))
    return loss + alpha * kl, nll, kl


def case(m, dtype, B=3, T=5, V=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(4, V, (B, T), generator=g)
    target[B - 1, 2:] = PAD
    target[0, T - 1] = PAD
    logits = (3 * torch.randn(m * B, T, V, generator=g)).to(dtype).requires_grad_()
    return logits, target


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-9), (torch.float32, 1e-5)])
@pytest.mark.parametrize("m, alpha, eps", [(2, 5.0, 0.1), (2, 0.0, 0.1), (3, 3.0, 0.0), (4, 1.0, 0.2)])
@pytest.mark.parametrize("chunk", [None, 2])
def test_loss_and_gradient_match_plain(dtype, rtol, m, alpha, eps, chunk):
    logits, target = case(m, dtype)
    pad = target.eq(PAD)
    want, want_nll, want_kl = plain(logits, target, eps, alpha, m)
    (want_grad,) = torch.autograd.grad(want, logits)
    got, got_nll, got_kl = fused_rdrop_loss(logits, target, pad, eps, alpha, m, chunk_tokens=chunk)
    (got_grad,) = torch.autograd.grad(got, logits)
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol)
    torch.testing.assert_close(got_nll, want_nll, rtol=rtol, atol=rtol)
    if alpha:
        torch.testing.assert_close(got_kl, want_kl, rtol=rtol, atol=rtol)
    torch.testing.assert_close(got_grad, want_grad, rtol=rtol, atol=rtol * 1e-2)
    B, T, V = target.shape + logits.shape[-1:]
    assert got_grad.view(m, B, T, V)[:, B - 1, 2:].abs().max() == 0  # padding: no gradient


def test_upstream_gradient_scales_and_half_precision_accumulates_in_float32():
    logits, target = case(2, torch.float32)
    pad = target.eq(PAD)
    want, _, _ = plain(logits, target, 0.1, 5.0, 2)
    (want_grad,) = torch.autograd.grad(want * 128.0, logits)  # fp16 loss scaling
    got, _, _ = fused_rdrop_loss(logits, target, pad, 0.1, 5.0, 2)
    (got_grad,) = torch.autograd.grad(got * 128.0, logits)
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-5, atol=128 * 1e-7)

    half = logits.detach().to(torch.bfloat16).requires_grad_()
    got, _, _ = fused_rdrop_loss(half, target, pad, 0.1, 5.0, 2)
    assert got.dtype == torch.float32
    want, _, _ = plain(half.detach().float(), target, 0.1, 5.0, 2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    got.backward()
    assert half.grad.dtype == torch.bfloat16


def test_backward_twice_with_retain_graph():
    logits, target = case(2, torch.float32)
    loss, _, _ = fused_rdrop_loss(logits, target, target.eq(PAD), 0.1, 5.0, 2)
    (first,) = torch.autograd.grad(loss, logits, retain_graph=True)
    (second,) = torch.autograd.grad(loss, logits)
    assert torch.equal(first, second)


def test_gradcheck():
    logits, target = case(2, torch.float64, B=2, T=3, V=5)
    pad = target.eq(PAD)
    assert torch.autograd.gradcheck(
        lambda z: fused_rdrop_loss(z, target, pad, 0.1, 5.0, 2)[0], (logits,)
    )
