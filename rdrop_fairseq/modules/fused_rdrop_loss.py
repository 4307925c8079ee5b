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
positions contribute nothing. The chunk functions and the loop over chunks are in
chunked_loss.py, shared with fused_linear_loss.py. Tested against autograd through
the plain implementation in float64 and float32.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor

from rdrop_fairseq.modules.chunked_loss import CHUNK_FUNCTIONS, chunk_totals, loss_from_totals
from rdrop_fairseq.modules.rdrop_loss import accumulation_dtype

# Elements per copy in one chunk: small enough on CPU that a chunk's working
# tensors stay in cache across the ~10 passes of the chunk function; large on
# GPU, where the per-chunk launch overhead dominates instead.
CHUNK_ELEMENTS_CPU = 1 << 18
CHUNK_ELEMENTS_GPU = 1 << 24


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
        budget = CHUNK_ELEMENTS_GPU if z_all.is_cuda else CHUNK_ELEMENTS_CPU
        step = chunk_tokens or max(1, budget // V)

        def chunk(s, e, rows):
            out = grad[:, s:e] if acc_dtype == z_all.dtype else torch.empty(
                (num_passes, e - s, V), dtype=acc_dtype, device=z_all.device)
            sums = CHUNK_FUNCTIONS[kind](z_all[:, s:e].to(acc_dtype), tgt[s:e], rows, eps, alpha, num_passes, out)
            if out.dtype != grad.dtype:
                grad[:, s:e] = out
            return sums

        totals = chunk_totals(N, step, pad, acc_dtype, chunk)
        ctx.save_for_backward(grad)
        return loss_from_totals(ctx, totals, alpha)

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
