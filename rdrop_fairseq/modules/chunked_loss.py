"""The one chunked-loss engine behind ``fused_rdrop_loss`` (from the logits) and
``fused_linear_loss`` (from the hidden states and the output projection).

Both walk the target positions in chunks; for each chunk they hand the chunk's
logits of every copy, ``z: (m, n, V)``, to one of the chunk functions below,
which returns the chunk's sums and writes the gradient of the loss w.r.t. ``z``
in place. The label-smoothed NLL (fairseq's weighting) is written once,
:func:`label_smoothed_nll`; the loop over chunks once, :func:`chunk_totals`.

Chunk functions take ``(z, target, pad_rows, eps, alpha, num_passes, out)``:
``z`` in the accumulation dtype, ``target: (n,)``, ``pad_rows`` the indices of
padding positions in the chunk (or None), ``out: (m, n, V)`` written in place;
they return ``(ls_sum, nll_sum, kl_sum)`` over the chunk's non-pad positions, in
nats. Their math is in the docstrings of fused_rdrop_loss.py.
"""

from typing import Callable, Optional, Tuple

import torch
from torch import Tensor


def label_smoothed_nll(lp: Tensor, target: Tensor, pad_rows: Optional[Tensor], eps: float) -> Tuple[Tensor, Tensor]:
    """fairseq's label-smoothed NLL of the copies in ``lp: (k, n, V)``
    (log-probabilities), summed over copies and non-pad positions:
    ``(1 - eps - eps') * nll - eps' * sum_v lp``, ``eps' = eps / (V - 1)``.
    Returns ``(ls_sum, nll_sum)``."""
    k, n, V = lp.shape
    eps_i = eps / (V - 1)
    gold = lp.gather(-1, target.view(1, n, 1).expand(k, n, 1)).view(k, n)
    smooth = lp.sum(-1)
    if pad_rows is not None:
        gold = gold.index_fill(1, pad_rows, 0.0)
        smooth = smooth.index_fill(1, pad_rows, 0.0)
    nll = -gold.sum()
    return (1.0 - eps - eps_i) * nll - eps_i * smooth.sum(), nll


def subtract_gold(out: Tensor, target: Tensor, eps: float) -> None:
    """``out[..., y] -= 1 - eps - eps'`` on every copy of ``out: (k, n, V)``: the
    gold token's part of the label-smoothed target q (its uniform part, eps',
    is subtracted by the caller, fused with its own terms)."""
    k, n, V = out.shape
    eps_i = eps / (V - 1)
    out.scatter_add_(-1, target.view(1, n, 1).expand(k, n, 1), out.new_full((k, n, 1), -(1.0 - eps - eps_i)))


def ls_chunk(z, target, pad_rows, eps, alpha, num_passes, out):
    """One copy, no consistency term: fairseq's label-smoothed NLL and its
    gradient p - q."""
    eps_i = eps / (z.shape[-1] - 1)
    lp = torch.log_softmax(z, dim=-1)
    ls, nll = label_smoothed_nll(lp[:1], target, pad_rows, eps)
    torch.sub(lp.exp_(), eps_i, out=out)
    subtract_gold(out[:1], target, eps)
    if pad_rows is not None:
        out.index_fill_(1, pad_rows, 0.0)
    return ls, nll, nll.new_zeros(())


def rdrop_chunk(z, target, pad_rows, eps, alpha, num_passes, out):
    """R-Drop: the label-smoothed NLL of every copy + alpha x the pair-averaged
    symmetric KL, and its gradient (derived in fused_rdrop_loss.py)."""
    m, n, V = z.shape
    eps_i = eps / (V - 1)
    pairs = m * (m - 1) / 2
    c = alpha * 0.5 / pairs

    lp = torch.log_softmax(z, dim=-1)
    p = lp.exp()
    D = lp * m - lp.sum(0, keepdim=True)  # (m, n, V): sum_j (l_i - l_j)
    # <p_i, D_i> per row, as a batched dot product (no (m, n, V) temporary).
    pD = torch.bmm(p.view(m * n, 1, V), D.view(m * n, V, 1)).view(m, n, 1)
    ls, nll = label_smoothed_nll(lp, target, pad_rows, eps)
    pD_rows = pD.view(m, n)
    if pad_rows is not None:
        pD_rows = pD_rows.index_fill(1, pad_rows, 0.0)
    kl = 0.5 * pD_rows.sum() / pairs

    # grad = (p - q) + c [p (D - <p, D>) + m p - sum_j p_j]
    #      = p * (1 + c (m + D - <p, D>)) - (c sum_j p_j + eps') - (1 - eps - eps') [v = y]
    if c != 0.0:
        torch.add(1.0 + c * m - c * pD, D, alpha=c, out=out)
        out.mul_(p)
        out.sub_(p.sum(0, keepdim=True).mul_(c).add_(eps_i))
    else:
        torch.sub(p, eps_i, out=out)
    subtract_gold(out, target, eps)
    if pad_rows is not None:
        out.index_fill_(1, pad_rows, 0.0)
    return ls, nll, kl


def simcut_chunk(z, target, pad_rows, eps, alpha, num_passes, out):
    """SimCut (copy 0 clean, copies 1..m-1 cut): the label-smoothed NLL of copy 0
    + alpha / (m - 1) x sum_i KL(p_0 || p_i), and its gradient (derived in
    fused_rdrop_loss.py). nll: copy 0's; kl: the average over cut copies."""
    m, n, V = z.shape
    eps_i = eps / (V - 1)
    c = alpha / (m - 1)
    lp = torch.log_softmax(z, dim=-1)
    p = lp.exp()
    diff = lp[:1] - lp[1:]  # (m-1, n, V): l_0 - l_i
    kl_rows = torch.bmm(p[:1].expand(m - 1, n, V).reshape((m - 1) * n, 1, V),
                        diff.reshape((m - 1) * n, V, 1)).view(m - 1, n)
    ls, nll = label_smoothed_nll(lp[:1], target, pad_rows, eps)
    if pad_rows is not None:
        kl_rows = kl_rows.index_fill(1, pad_rows, 0.0)
    kl = kl_rows.sum() / (m - 1)

    torch.sub(diff.sum(0), kl_rows.sum(0).unsqueeze(-1), out=out[0])
    out[0].mul_(p[0]).mul_(c).add_(p[0]).sub_(eps_i)
    subtract_gold(out[:1], target, eps)
    torch.sub(p[1:], p[:1], out=out[1:])
    out[1:].mul_(c)
    if pad_rows is not None:
        out.index_fill_(1, pad_rows, 0.0)
    return ls, nll, kl


CHUNK_FUNCTIONS = {"rdrop": rdrop_chunk, "simcut": simcut_chunk}


def chunk_totals(
    num_positions: int,
    step: int,
    pad: Tensor,
    dtype: torch.dtype,
    chunk: Callable[[int, int, Optional[Tensor]], Tuple[Tensor, Tensor, Tensor]],
) -> Tensor:
    """Call ``chunk(s, e, pad_rows)`` on positions ``[s, e)`` in steps of ``step``
    (``pad_rows``: the chunk's padding positions relative to ``s``, or None) and
    return the sums of its ``(ls, nll, kl)`` as one tensor of 3."""
    totals = torch.zeros(3, dtype=dtype, device=pad.device)
    pad_positions = pad.nonzero().view(-1)
    for s in range(0, num_positions, step):
        e = min(num_positions, s + step)
        rows = pad_positions[(pad_positions >= s) & (pad_positions < e)] - s
        totals += torch.stack(chunk(s, e, rows if rows.numel() else None))
    return totals


def loss_from_totals(ctx, totals: Tensor, alpha: float):
    """``(loss, nll_sum, kl_sum)`` of an autograd Function's forward from the
    totals; the last two are for logging, marked non-differentiable."""
    loss = totals[0] + alpha * totals[2]
    nll_sum, kl_sum = totals[1].clone(), totals[2].clone()
    ctx.mark_non_differentiable(nll_sum, kl_sum)
    return loss, nll_sum, kl_sum
