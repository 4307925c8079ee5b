"""RealFormer's residual attention (Liu et al., 2020) for fairseq's attention.

Each attention layer adds the previous layer's raw (pre-softmax) scores, per
head, to its own scores before the softmax, and hands the sum on to the next
layer. A :class:`ResidualScoreStream` carries the scores from one layer to the
next; every :class:`ResidualMultiheadAttention` of one stack shares it. The
encoder/decoder that owns a stream opens it around its forward pass
(:meth:`ResidualScoreStream.open`), so fairseq's layer code runs unchanged.

Why a shared stream rather than new layer signatures: fairseq's encoder and
decoder layers (Post-LN and Pre-LN, incremental decoding, layerdrop) stay
exactly fairseq's own; only the attention module differs.

Incremental decoding needs no extra cache: row t of a layer's scores depends
only on row t of the previous layer's scores, so the one-row scores of the
current step are all there is to hand on, for self- and cross-attention alike,
and beam reordering only has to reorder fairseq's usual key/value cache.
"""

from contextlib import contextmanager
from typing import Optional

from fairseq.modules import MultiheadAttention
from torch import Tensor


def add_residual_scores(scores: Tensor, prev_scores: Optional[Tensor]) -> Tensor:
    """RealFormer's score update: this layer's raw scores plus the previous
    layer's (both ``(batch * heads, tgt_len, src_len)``); the first layer has none."""
    if prev_scores is None:
        return scores
    if prev_scores.shape != scores.shape:
        raise RuntimeError(
            f"residual attention: previous layer's scores {tuple(prev_scores.shape)} "
            f"do not match this layer's {tuple(scores.shape)}"
        )
    return scores + prev_scores


class ResidualScoreStream:
    """The running pre-softmax scores of one attention stack (not a module: it
    holds no parameters, only the scores of the forward pass in progress)."""

    def __init__(self, name: str):
        self.name = name
        self.scores: Optional[Tensor] = None

    @contextmanager
    def open(self):
        # Cleared on exit too, so that no score tensor (and its autograd graph)
        # outlives the forward pass that made it.
        self.scores = None
        try:
            yield self
        finally:
            self.scores = None

    def add_and_pass_on(self, scores: Tensor) -> Tensor:
        scores = add_residual_scores(scores, self.scores)
        self.scores = scores
        return scores


class ResidualMultiheadAttention(MultiheadAttention):
    """fairseq's MultiheadAttention with RealFormer's residual scores.

    The scores are added in ``apply_sparse_mask``, fairseq's hook between
    ``q @ k^T`` and the masks. fairseq then adds the attention mask and fills
    padded keys with -inf, so the masks apply after the add. (The causal mask is
    added in place, so the decoder's stream carries -inf at future positions;
    they are masked again in every layer, so the result is the same as passing
    on unmasked scores.)
    """

    def __init__(self, *args, stream: ResidualScoreStream, **kwargs):
        super().__init__(*args, **kwargs)
        self.stream = stream
        # fairseq takes torch's fused attention kernel when it can, which never
        # exposes the scores; this flag is what routes it to the explicit path.
        self.skip_embed_dim_check = True

    def apply_sparse_mask(self, attn_weights, tgt_len: int, src_len: int, bsz: int):
        attn_weights = super().apply_sparse_mask(attn_weights, tgt_len, src_len, bsz)
        return self.stream.add_and_pass_on(attn_weights)
