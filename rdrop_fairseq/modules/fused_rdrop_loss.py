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

from rdrop_fairseq.modules.rdrop_loss import accumulation_dtype

# Elements per copy in one chunk: small enough on CPU that a chunk's working
# tensors stay in cache across the ~10 passes below; large on GPU, where the
# per-chunk launch overhead dominates instead.
CHUNK_ELEMENTS_CPU = 1 << 18
CHUNK_ELEMENTS_GPU = 1 << 24


def _chunk_loss_and_grad(z, target, pad_rows, eps, alpha, num_passes, out):
    """One chunk. z: (m, n, V) logits in the accumulation dtype; target: (n,);
    pad_rows: indices of padding positions in the chunk; out: (m, n, V) view of
    the gradient buffer, written in place.

    Returns (ls_sum, nll_sum, kl_sum) over the chunk's non-pad positions.
    """
    m, n, V = z.shape
    eps_i = eps / (V - 1)
    pairs = m * (m - 1) / 2
    c = alpha * 0.5 / pairs

    lp = torch.log_softmax(z, dim=-1)
    p = lp.exp()
    D = lp * m - lp.sum(0, keepdim=True)  # (m, n, V): sum_j (l_i - l_j)
    # <p_i, D_i> per row, as a batched dot product (no (m, n, V) temporary).
    pD = torch.bmm(p.view(m * n, 1, V), D.view(m * n, V, 1)).view(m, n, 1)
    gold = lp.gather(-1, target.view(1, n, 1).expand(m, n, 1)).view(m, n)
    smooth = lp.sum(-1)  # (m, n)
    pD_rows = pD.view(m, n)
    if pad_rows is not None:
        gold = gold.index_fill(1, pad_rows, 0.0)
        smooth = smooth.index_fill(1, pad_rows, 0.0)
        pD_rows = pD_rows.index_fill(1, pad_rows, 0.0)
    nll = -gold.sum()
    ls = (1.0 - eps - eps_i) * nll - eps_i * smooth.sum()
    kl = 0.5 * pD_rows.sum() / pairs

    # grad = (p - q) + c [p (D - <p, D>) + m p - sum_j p_j]
    #      = p * (1 + c (m + D - <p, D>)) - (c sum_j p_j + eps') - (1 - eps - eps') [v = y]
    if c != 0.0:
        torch.add(1.0 + c * m - c * pD, D, alpha=c, out=out)
        out.mul_(p)
        out.sub_(p.sum(0, keepdim=True).mul_(c).add_(eps_i))
    else:
        torch.sub(p, eps_i, out=out)
    out.scatter_add_(
        -1, target.view(1, n, 1).expand(m, n, 1),
        out.new_full((m, n, 1), -(1.0 - eps - eps_i)),
    )
    if pad_rows is not None:
        out.index_fill_(1, pad_rows, 0.0)
    return ls, nll, kl


def _chunk_simcut_loss_and_grad(z, target, pad_rows, eps, alpha, num_passes, out):
    """SimCut's loss on one chunk (copy 0 clean, copies 1..m-1 cut): the
    label-smoothed NLL of copy 0 plus alpha / (m - 1) * sum_i KL(p_0 || p_i).

    d/dz_0 = (p_0 - q) + c p_0 (sum_i (l_0 - l_i) - sum_i KL_i),
    d/dz_i = c (p_i - p_0),   c = alpha / (m - 1).
    Arguments and return as _chunk_loss_and_grad (nll: copy 0's; kl: the
    average over cut copies).
    """
    m, n, V = z.shape
    eps_i = eps / (V - 1)
    c = alpha / (m - 1)
    lp = torch.log_softmax(z, dim=-1)
    p = lp.exp()
    diff = lp[:1] - lp[1:]  # (m-1, n, V): l_0 - l_i
    kl_rows = torch.bmm(p[:1].expand(m - 1, n, V).reshape((m - 1) * n, 1, V),
                        diff.reshape((m - 1) * n, V, 1)).view(m - 1, n)
    gold = lp[0].gather(-1, target.view(n, 1)).view(n)
    smooth = lp[0].sum(-1)
    if pad_rows is not None:
        gold = gold.index_fill(0, pad_rows, 0.0)
        smooth = smooth.index_fill(0, pad_rows, 0.0)
        kl_rows = kl_rows.index_fill(1, pad_rows, 0.0)
    nll = -gold.sum()
    ls = (1.0 - eps - eps_i) * nll - eps_i * smooth.sum()
    kl = kl_rows.sum() / (m - 1)

    torch.sub(diff.sum(0), kl_rows.sum(0).unsqueeze(-1), out=out[0])
    out[0].mul_(p[0]).mul_(c).add_(p[0]).sub_(eps_i)
    out[0].scatter_add_(-1, target.view(n, 1), out.new_full((n, 1), -(1.0 - eps - eps_i)))
    torch.sub(p[1:], p[:1], out=out[1:])
    out[1:].mul_(c)
    if pad_rows is not None:
        out.index_fill_(1, pad_rows, 0.0)
    return ls, nll, kl


CHUNK_FUNCTIONS = {"rdrop": _chunk_loss_and_grad, "simcut": _chunk_simcut_loss_and_grad}


class _FusedRDropLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z_all, tgt, pad, eps, alpha, num_passes, chunk_tokens, kind="rdrop"):
        # z_all: (m, N, V) logits, copies on dim 0; tgt, pad: (N,) for one copy.
        N, V = tgt.numel(), z_all.shape[-1]
        acc_dtype = accumulation_dtype(z_all)
        # The gradient, one tensor the size of the logits in their dtype. Chunks
        # are computed in the accumulation dtype: in place when it is the same,
        # through a chunk-sized buffer otherwise (fp16/bf16).
        grad = torch.empty((num_passes, N, V), dtype=z_all.dtype, device=z_all.device)
        totals = torch.zeros(3, dtype=acc_dtype, device=z_all.device)
        budget = CHUNK_ELEMENTS_GPU if z_all.is_cuda else CHUNK_ELEMENTS_CPU
        step = chunk_tokens or max(1, budget // V)
        pad_positions = pad.nonzero().view(-1)
        for s in range(0, N, step):
            e = min(N, s + step)
            rows = pad_positions[(pad_positions >= s) & (pad_positions < e)] - s
            out = grad[:, s:e] if acc_dtype == z_all.dtype else torch.empty(
                (num_passes, e - s, V), dtype=acc_dtype, device=z_all.device)
            ls, nll, kl = CHUNK_FUNCTIONS[kind](
                z_all[:, s:e].to(acc_dtype), tgt[s:e], rows if rows.numel() else None,
                eps, alpha, num_passes, out,
            )
            if out.dtype != grad.dtype:
                grad[:, s:e] = out
            totals += torch.stack([ls, nll, kl])
        ctx.save_for_backward(grad)
        loss = totals[0] + alpha * totals[2]
        nll_sum, kl_sum = totals[1].clone(), totals[2].clone()
        ctx.mark_non_differentiable(nll_sum, kl_sum)  # for logging only
        return loss, nll_sum, kl_sum

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll, _grad_kl):
        (grad,) = ctx.saved_tensors
        # A new tensor, not an in-place scale: the saved gradient stays valid for
        # a second backward (retain_graph, gradcheck).
        return grad * grad_loss.to(grad.dtype), None, None, None, None, None, None, None


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
    return _apply("rdrop", logits, target, pad_mask, epsilon, alpha, num_passes, chunk_tokens)


def fused_simcut_loss(
    logits: Tensor,
    target: Tensor,
    pad_mask: Tensor,
    epsilon: float,
    alpha: float,
    num_passes: int,
    chunk_tokens: Optional[int] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """SimCut's loss from the logits of ``[x_clean; x_cut; ...]`` (copy 0 clean):
    the label-smoothed NLL of copy 0 + alpha * KL(P_0 || P_i) averaged over the
    cut copies i, summed over non-pad positions. Shapes and returns as
    :func:`fused_rdrop_loss` (``nll_sum``: copy 0's)."""
    return _apply("simcut", logits, target, pad_mask, epsilon, alpha, num_passes, chunk_tokens)


def _apply(kind, logits, target, pad_mask, epsilon, alpha, num_passes, chunk_tokens):
    if num_passes < 2 or logits.shape[0] != num_passes * target.shape[0]:
        raise ValueError(
            f"logits batch {logits.shape[0]} is not num_passes ({num_passes}) x "
            f"target batch {target.shape[0]}"
        )
    # Copies are the outer dim: flatten each copy's (B, T) to N positions.
    z = logits.reshape(num_passes, -1, logits.shape[-1])
    return _FusedRDropLoss.apply(z, target.reshape(-1), pad_mask.reshape(-1), float(epsilon),
                                 float(alpha), num_passes, chunk_tokens, kind)
