"""R-Drop's loss from the logits in one chunked pass, with an analytic gradient.

The plain criterion builds log-softmax, softmax, their differences and products
as separate tokens x vocab tensors, and autograd keeps most of them alive until
backward. Here, for each chunk of target positions, the m copies' logits are
read once (in float32), and the loss AND its gradient w.r.t. the logits are
computed right away; only the gradient (one tensor the size of the logits, in
their dtype) is kept for backward, which is then a scalar multiply.

Per target position, with copies i = 1..m, l_i = log_softmax(z_i), p_i = exp(l_i),
eps' = eps / (V - 1) and q the label-smoothed target (1 - eps on the gold token,
eps' elsewhere; fairseq's weighting):

    loss  = sum_i [(1 - eps - eps') (-l_i[y]) + eps' (-sum_v l_i[v])]
            + alpha / P * sum_{i<j} 1/2 <p_i - p_j, l_i - l_j>,     P = m(m-1)/2

With D_i = sum_j (l_i - l_j) = m l_i - sum_j l_j, the pair sum is
1/2 sum_i <p_i, D_i>, and

    d loss / d z_i = (p_i - q) + alpha / P * 1/2 [p_i (D_i - <p_i, D_i>) + m p_i - sum_j p_j]

(for m = 2: 1/2 [p_1 (l_1 - l_2 - KL(p_1||p_2)) + p_1 - p_2]). Padding
positions contribute nothing. Tested against autograd through the plain
implementation in float64 and float32.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor

# float32 elements of one chunk's per-copy working tensors (~32 MiB each).
CHUNK_ELEMENTS = 1 << 23


def _chunk_loss_and_grad(z, target, keep, eps, alpha, num_passes):
    """z: (m, n, V) float32 logits; target: (n,); keep: (n,) bool.

    Returns (ls_sum, nll_sum, kl_sum, grad (m, n, V) float32)."""
    m, n, V = z.shape
    lp = torch.log_softmax(z, dim=-1)
    p = lp.exp()
    eps_i = eps / (V - 1)
    keep_f = keep.to(z.dtype)

    gold = lp.gather(-1, target.view(1, n, 1).expand(m, n, 1)).squeeze(-1)  # (m, n)
    nll = -(gold * keep_f).sum()
    smooth = -(lp.sum(-1) * keep_f).sum()
    ls = (1.0 - eps - eps_i) * nll + eps_i * smooth

    # d(label-smoothed NLL)/dz = p - q
    grad = p.clone()
    grad -= eps_i
    grad.scatter_add_(
        -1, target.view(1, n, 1).expand(m, n, 1),
        torch.full((m, n, 1), -(1.0 - eps - eps_i), dtype=z.dtype, device=z.device),
    )

    # The KL is always computed (logged even at alpha = 0); its gradient only
    # when it counts.
    pairs = num_passes * (num_passes - 1) / 2
    lp_sum = lp.sum(0, keepdim=True)
    D = lp * num_passes - lp_sum  # (m, n, V): sum_j (l_i - l_j)
    pD = (p * D).sum(-1, keepdim=True)  # <p_i, D_i>, (m, n, 1)
    kl = 0.5 * (pD.squeeze(-1).sum(0) * keep_f).sum() / pairs
    if alpha != 0.0:
        coef = alpha * 0.5 / pairs
        grad += coef * (p * (D - pD) + num_passes * p - p.sum(0, keepdim=True))

    grad *= keep_f.view(1, n, 1)
    return ls, nll, kl, grad


class _FusedRDropLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target, pad_mask, eps, alpha, num_passes, chunk_tokens):
        mB = logits.shape[0]
        V = logits.shape[-1]
        z_all = logits.reshape(num_passes, -1, V)  # (m, N, V), copies stacked on dim 0
        tgt = target.reshape(-1)
        keep = ~pad_mask.reshape(-1)
        N = tgt.numel()
        grad = torch.empty_like(logits).reshape(num_passes, N, V)
        totals = torch.zeros(3, dtype=torch.float32 if logits.dtype != torch.float64 else torch.float64,
                             device=logits.device)
        acc_dtype = totals.dtype
        step = chunk_tokens or max(1, CHUNK_ELEMENTS // (V * num_passes))
        for s in range(0, N, step):
            e = min(N, s + step)
            ls, nll, kl, g = _chunk_loss_and_grad(
                z_all[:, s:e].to(acc_dtype), tgt[s:e], keep[s:e], eps, alpha, num_passes
            )
            totals += torch.stack([ls, nll, kl])
            grad[:, s:e] = g.to(grad.dtype)
        ctx.save_for_backward(grad)
        ctx.grad_shape = logits.shape
        loss = totals[0] + alpha * totals[2]
        nll_sum, kl_sum = totals[1].clone(), totals[2].clone()
        ctx.mark_non_differentiable(nll_sum, kl_sum)  # for logging only
        return loss, nll_sum, kl_sum

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll, _grad_kl):
        (grad,) = ctx.saved_tensors
        # A new tensor, not an in-place scale: the saved gradient stays valid for
        # a second backward (retain_graph, gradcheck).
        return grad.reshape(ctx.grad_shape) * grad_loss.to(grad.dtype), None, None, None, None, None, None


def fused_rdrop_loss(
    logits: Tensor,
    target: Tensor,
    pad_mask: Tensor,
    epsilon: float,
    alpha: float,
    num_passes: int,
    chunk_tokens: Optional[int] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """R-Drop loss of ``num_passes`` stacked copies from their logits.

    ``logits``: ``(num_passes * B, T, V)`` (any float dtype; computed in float32,
    or float64 for float64 input). ``target`` and ``pad_mask``: ``(B, T)`` for ONE
    copy. Returns ``(loss, nll_sum, kl_sum)``: loss = label-smoothed NLL summed
    over all copies + alpha * the pair-averaged symmetric KL summed over non-pad
    positions (differentiable w.r.t. ``logits``); ``nll_sum`` (all copies) and
    ``kl_sum`` are detached, for logging.
    """
    if num_passes < 2 or logits.shape[0] != num_passes * target.shape[0]:
        raise ValueError(
            f"logits batch {logits.shape[0]} is not num_passes ({num_passes}) x "
            f"target batch {target.shape[0]}"
        )
    # Copies are the outer dim: flatten each copy's (B, T) to N positions.
    m = num_passes
    z = logits.reshape(m, -1, logits.shape[-1])
    tgt = target.reshape(-1)
    pad = pad_mask.reshape(-1)
    return _FusedRDropLoss.apply(z, tgt, pad, float(epsilon), float(alpha), m, chunk_tokens)
