"""The output projection and the loss in one chunked pass: label-smoothed CE,
R-Drop's and SimCut's losses from the decoder's hidden states and the output
projection's weight, without ever holding the tokens x vocabulary logits.

``fused_rdrop_loss`` (fused_rdrop_loss.py) starts from the logits, which the
output projection has already built for the whole ``[x; x]`` batch and autograd
keeps for backward, with a gradient of the same size. Here, for each chunk of
target positions, the chunk's logits of every copy are computed from the
hidden states (``z = h W^T + b``), the loss and its gradient w.r.t. those
logits come from the same per-chunk functions as the fused loss, and the
gradient is pushed through the projection right away:

    dL/dh_chunk = G W          (kept: the size of the hidden states)
    dL/dW      += G^T h_chunk  (accumulated: the size of W)
    dL/db      += sum_rows G

so the largest live tensor is one chunk's logits and their gradient. Chunks
are computed in float32 (float64 for float64 input) whatever the model's
dtype. With one copy and alpha = 0 this is fairseq's label-smoothed cross
entropy (``--rdrop-passes``-free: the plain updates of k-step R-Drop, and
baselines).

Used by ``--rdrop-loss-impl fused_linear`` (R-Drop / SimCut passes and, in
training, single passes such as k-step's plain updates); tested against
autograd and against the other implementations in
tests/test_fused_linear_loss.py.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor

from rdrop_fairseq.modules.chunked_loss import CHUNK_FUNCTIONS, chunk_totals, loss_from_totals, ls_chunk
from rdrop_fairseq.modules.rdrop_loss import accumulation_dtype

# Logits elements (all copies) per chunk. Larger than the logits-path loss's
# chunks: here each chunk also runs three matrix products with the projection,
# which need a few dozen positions to be efficient; a chunk's working set is a
# handful of tensors of this size (16 MB each at float32 on CPU, 64 MB on GPU).
CHUNK_ELEMENTS_CPU = 1 << 22
CHUNK_ELEMENTS_GPU = 1 << 24


class _FusedLinearLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, bias, tgt, pad, eps, alpha, num_passes, kind, chunk_tokens):
        # h: (m, N, C) hidden states, copies on dim 0; weight: (V, C); tgt, pad: (N,).
        m, N, C = h.shape
        V = weight.shape[0]
        acc = accumulation_dtype(h)
        w = weight.to(acc)
        b = bias.to(acc) if bias is not None else None
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros((V, C), dtype=acc, device=h.device)
        grad_b = torch.zeros(V, dtype=acc, device=h.device) if bias is not None else None
        budget = CHUNK_ELEMENTS_GPU if h.is_cuda else CHUNK_ELEMENTS_CPU
        step = chunk_tokens or max(1, budget // (m * V))
        chunk_fn = ls_chunk if m == 1 else CHUNK_FUNCTIONS[kind]

        def chunk(s, e, rows):
            hc = h[:, s:e].to(acc)
            z = torch.matmul(hc, w.t())
            if b is not None:
                z += b
            g = torch.empty_like(z)
            sums = chunk_fn(z, tgt[s:e], rows, eps, alpha, m, g)
            del z
            grad_h[:, s:e] = torch.matmul(g, w)
            grad_w.addmm_(g.reshape(-1, V).t(), hc.reshape(-1, C))
            if grad_b is not None:
                grad_b.add_(g.sum((0, 1)))
            return sums

        totals = chunk_totals(N, step, pad, acc, chunk)
        ctx.save_for_backward(grad_h, grad_w.to(weight.dtype),
                              grad_b.to(bias.dtype) if grad_b is not None else None)
        return loss_from_totals(ctx, totals, alpha)

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll, _grad_kl):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        gl = grad_loss.to(grad_h.dtype)
        return (grad_h * gl, grad_w * gl.to(grad_w.dtype),
                grad_b * gl.to(grad_b.dtype) if grad_b is not None else None,
                None, None, None, None, None, None, None)


def fused_linear_loss(
    hidden: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    target: Tensor,
    pad_mask: Tensor,
    epsilon: float,
    alpha: float = 0.0,
    num_passes: int = 1,
    kind: str = "rdrop",
    chunk_tokens: Optional[int] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """The loss of ``logits = hidden @ weight.T + bias`` without building them.

    ``hidden``: ``(num_passes * B, T, C)``, the copies stacked as the model
    returns them for ``[x; x; ...]``; ``weight``: ``(V, C)`` (tied or not);
    ``bias``: ``(V,)`` or None; ``target``, ``pad_mask``: ``(B, T)`` for ONE
    copy. ``num_passes`` 1: fairseq's label-smoothed CE (alpha ignored);
    ``kind`` "rdrop": R-Drop's loss (NLL of every copy + alpha x pair-averaged
    symmetric KL); "simcut": SimCut's (NLL of copy 0 + alpha x KL(P_0 || P_i)
    averaged over the others). Returns ``(loss, nll_sum, kl_sum)``, the last two
    detached, for logging; sums over non-pad positions, in nats.
    """
    m = num_passes
    if m < 1 or hidden.shape[0] != m * target.shape[0]:
        raise ValueError(f"hidden batch {hidden.shape[0]} is not num_passes ({m}) x target batch {target.shape[0]}")
    if kind not in CHUNK_FUNCTIONS:
        raise ValueError(f"kind must be one of {sorted(CHUNK_FUNCTIONS)}, got {kind!r}")
    h = hidden.reshape(m, -1, hidden.shape[-1])
    return _FusedLinearLoss.apply(h, weight, bias, target.reshape(-1), pad_mask.reshape(-1),
                                  float(epsilon), float(alpha if m > 1 else 0.0), m, kind, chunk_tokens)
