"""The math of R-Drop, as small pure functions on tensors.

Everything here is free of fairseq state so that it can be unit-tested against a
hand-written reference on tiny tensors. The criterion in
``rdrop_fairseq/criterions`` only gathers log-probabilities and targets and calls
these.

Conventions: ``lprobs`` are log-probabilities over the vocabulary in the last
dimension; ``pad_mask`` is a bool tensor with the shape of ``lprobs`` minus the
last dimension, ``True`` where the target is padding. Sums are in nats.
"""

from itertools import combinations
from typing import Optional

import torch
from torch import Tensor


def accumulation_dtype(t: Tensor) -> torch.dtype:
    # fp16/bf16 models: the KL is a small difference of large sums, so it is
    # accumulated in at least float32 (float64 stays float64 for gradcheck).
    return torch.promote_types(t.dtype, torch.float32)


def symmetric_kl(
    lprobs_p: Tensor,
    lprobs_q: Tensor,
    pad_mask: Optional[Tensor] = None,
    reduce: bool = True,
) -> Tensor:
    """½ (KL(P‖Q) + KL(Q‖P)) per token, summed over tokens when ``reduce``.

    Uses the one-pass form ½ Σ_v (p_v − q_v)(log p_v − log q_v), which equals the
    two KL terms added (the cross terms cancel) but reads each tensor once.
    """
    dtype = accumulation_dtype(lprobs_p)
    lp = lprobs_p.to(dtype)
    lq = lprobs_q.to(dtype)
    per_token = 0.5 * ((lp.exp() - lq.exp()) * (lp - lq)).sum(dim=-1)
    if pad_mask is not None:
        per_token = per_token.masked_fill(pad_mask, 0.0)
    return per_token.sum() if reduce else per_token


def kl_divergence(
    lprobs_p: Tensor,
    lprobs_q: Tensor,
    pad_mask: Optional[Tensor] = None,
    reduce: bool = True,
) -> Tensor:
    """KL(P‖Q) = Σ_v p_v (log p_v − log q_v) per token, summed when ``reduce``."""
    dtype = accumulation_dtype(lprobs_p)
    lp = lprobs_p.to(dtype)
    per_token = (lp.exp() * (lp - lprobs_q.to(dtype))).sum(dim=-1)
    if pad_mask is not None:
        per_token = per_token.masked_fill(pad_mask, 0.0)
    return per_token.sum() if reduce else per_token


def clean_to_cut_kl(
    lprobs: Tensor,
    num_passes: int,
    pad_mask: Optional[Tensor] = None,
    reduce: bool = True,
) -> Tensor:
    """SimCut's consistency term: KL(P_clean ‖ P_cut) with copy 0 of ``lprobs``
    (stacked as for :func:`multi_pass_symmetric_kl`) clean and the others cut,
    averaged over the cut copies."""
    if num_passes < 2 or lprobs.size(0) % num_passes != 0:
        raise ValueError(f"need num_passes >= 2 dividing dim 0 ({lprobs.size(0)}), got {num_passes}")
    copies = lprobs.chunk(num_passes, dim=0)
    total = sum(kl_divergence(copies[0], c, pad_mask, reduce=reduce) for c in copies[1:])
    return total / (num_passes - 1)


def multi_pass_symmetric_kl(
    lprobs: Tensor,
    num_passes: int,
    pad_mask: Optional[Tensor] = None,
    reduce: bool = True,
) -> Tensor:
    """The R-Drop consistency term for ``num_passes`` copies of one batch.

    ``lprobs`` holds the copies stacked along dim 0, as the model returns them
    for the input ``[x; x; ...]``: shape ``(num_passes * B, ...)``. ``pad_mask`` is
    for ONE copy, shape ``(B, ...)``. Returns the symmetric KL averaged over all
    ``num_passes * (num_passes - 1) / 2`` pairs of copies, so that two passes give
    exactly ½(KL(P1‖P2) + KL(P2‖P1)).
    """
    if num_passes < 2:
        raise ValueError(f"num_passes must be >= 2, got {num_passes}")
    if lprobs.size(0) % num_passes != 0:
        raise ValueError(
            f"dim 0 of lprobs ({lprobs.size(0)}) is not a multiple of "
            f"num_passes ({num_passes})"
        )
    copies = lprobs.chunk(num_passes, dim=0)
    pairs = list(combinations(range(num_passes), 2))
    total = sum(
        symmetric_kl(copies[i], copies[j], pad_mask, reduce=reduce) for i, j in pairs
    )
    return total / len(pairs)


def repeat_batch(value, num_passes: int):
    """``[x; x; ...]``: a net_input value repeated ``num_passes`` times along dim 0.

    Tensors are repeated, nested dicts/lists walked, anything else (flags, None)
    passed through unchanged.
    """
    if torch.is_tensor(value):
        if value.dim() == 0:
            return value
        return value.repeat(num_passes, *([1] * (value.dim() - 1)))
    if isinstance(value, dict):
        return {k: repeat_batch(v, num_passes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(repeat_batch(v, num_passes) for v in value)
    return value
