"""Cutoff on the input token embeddings of R-Drop's copies: Cutoff (Shen et
al., 2020, "A Simple but Tough-to-Beat Data Augmentation Approach for Natural
Language Understanding and Generation") and SimCut (Gao et al., NAACL 2022,
"Bi-SimCut: A Simple Strategy for Boosting Neural Machine Translation").

What is implemented (``--cutoff-rate r``, ``--cutoff-copies``, ``--cutoff-mode``):

- Token cutoff (mode ``token``): in each chosen copy of ``[x; x; ...]``, every
  token position is cut with probability r, independently per copy and per
  position, on both the source tokens and the decoder's input tokens
  (``prev_output_tokens``). Cutting a position zeroes its whole token-embedding
  vector (the lookup, before fairseq's embedding scale and before the positional
  embedding is added, so the position itself stays known), as SimCut's released
  code does.
- Span cutoff (mode ``span``, Shen et al.'s second variant): in each chosen copy,
  each sentence loses one contiguous span of round(r x n) of its n cuttable
  positions (at least 1 when r > 0), at a uniformly drawn start, on each side.
- Never cut: padding and the end-of-sentence symbol (the source's final </s>
  and the decoder's leading </s>, fairseq's BOS there), as SimCut's code keeps
  the source's last and the target's first position.
- Which copies: ``none`` (plain R-Drop), ``all`` (every copy cut: R-Drop +
  Cutoff; the loss stays R-Drop's: label-smoothed NLL of every copy plus alpha x
  the pair-averaged symmetric KL), ``second`` (SimCut: copy 1 clean, copies
  2..m cut; the loss is SimCut's: the label-smoothed NLL of the clean copy only
  plus alpha x KL(P_clean || P_cut), averaged over the cut copies, gradients
  through both distributions, as in the Bi-SimCut code).
- Masks are drawn with torch's generator, which fairseq seeds per update from
  ``--seed`` and the update number: they differ across copies and updates and
  repeat under the same seed. They are applied only inside the criterion's
  training forward (forward hooks on the embedding modules for that one call):
  validation, ``--eval-bleu`` and generation never see them.

What was read, through the search tool: Shen et al.'s abstract (cutoff erases
part of an input's information to give restricted views; a Jensen-Shannon
consistency loss ties the views together) and their repository's README (aug_type
token_cutoff / span_cutoff / dim_cutoff, a cutoff ratio, and separate
coefficients for the cross-entropy on the cut examples and for the JS loss;
IWSLT14 De-En transformer-small 36.2 -> 37.6 BLEU); the Bi-SimCut paper's
abstract and introduction (SimCut "can be viewed as a simplified version of Token
Cutoff", whose four extra hyper-parameters it removes; KL regularization with
gradients through both distributions "plays a key role"; Bi-SimCut IWSLT14
De->En 38.37 in the abstract) and its released code; the R-Drop paper's
IWSLT14 figures (R-Drop 37.25, R-Drop + Cutoff 37.90). Shen et al.'s full method
section was not available offline: their JS form (consistency over the clean and
cut views' mean distribution, with its own cross-entropy weight) and their
dimension cutoff are NOT implemented; ``all`` uses R-Drop's symmetric KL instead.

Ambiguities and what was chosen: Shen et al. describe translation cutoff on the
input embeddings without fixing whether the target side is cut and how the
consistency loss is weighted; here both sides are cut (as SimCut does) and
``all`` keeps R-Drop's loss. SimCut's code draws masks with numpy's generator;
torch's is used here (same distribution). The published SimCut setting is
alpha 3 and p 0.05: ``--rdrop-alpha 3 --cutoff-rate 0.05 --cutoff-copies second``.
"""

from contextlib import contextmanager
from typing import Optional

import torch
from torch import Tensor

CUTOFF_COPIES = ("none", "second", "all")
CUTOFF_MODES = ("token", "span")


def cut_copy_rows(batch: int, num_passes: int, copies: str, device=None) -> Tensor:
    """Bool ``(num_passes * batch,)``: which rows of ``[x; x; ...]`` are cut."""
    if copies not in CUTOFF_COPIES:
        raise ValueError(f"copies must be one of {CUTOFF_COPIES}, got {copies!r}")
    cut = torch.zeros(num_passes, dtype=torch.bool, device=device)
    if copies == "all":
        cut[:] = True
    elif copies == "second":
        cut[1:] = True
    return cut.repeat_interleave(batch)


def cutoff_keep_mask(
    tokens: Tensor,
    cut_rows: Tensor,
    rate: float,
    mode: str = "token",
    protected: Optional[Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """Bool ``tokens.shape``: True where the token embedding is kept.

    ``tokens``: ``(rows, T)``; ``cut_rows``: bool ``(rows,)``, the rows that may
    be cut; ``protected``: bool ``(rows, T)``, positions never cut.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    if mode not in CUTOFF_MODES:
        raise ValueError(f"mode must be one of {CUTOFF_MODES}, got {mode!r}")
    rows, T = tokens.shape
    cuttable = cut_rows.view(rows, 1).expand(rows, T)
    if protected is not None:
        cuttable = cuttable & ~protected
    if rate == 0.0:
        return torch.ones_like(tokens, dtype=torch.bool)
    if mode == "token":
        u = torch.rand(rows, T, device=tokens.device, generator=generator)
        return ~(cuttable & (u < rate))
    # span: in each row, one run of round(rate * n) cuttable positions
    n = cuttable.sum(1)  # cuttable positions per row
    length = torch.clamp(torch.round(rate * n.to(torch.float64)).long(), min=1)
    length = torch.minimum(length, n)
    u = torch.rand(rows, device=tokens.device, generator=generator, dtype=torch.float64)
    start = torch.floor(u * (n - length + 1).to(torch.float64)).long()
    # rank of each cuttable position among its row's cuttable positions (0-based)
    rank = cuttable.long().cumsum(1) - 1
    in_span = cuttable & (rank >= start.view(rows, 1)) & (rank < (start + length).view(rows, 1))
    return ~in_span


def apply_keep_mask(embeddings: Tensor, keep: Tensor) -> Tensor:
    """Zero the embedding vectors of the cut positions: ``(rows, T, C) * keep``."""
    return embeddings * keep.unsqueeze(-1).to(embeddings.dtype)


@contextmanager
def cut_embeddings(embeds, net_input, num_passes: int, copies: str, rate: float, mode: str,
                   padding_idx: int, src_eos: int, tgt_eos: int):
    """Cut the chosen copies' token embeddings during one forward of ``net_input``
    (the batch ``[x; x; ...]``): a forward hook on each module of ``embeds`` (the
    encoder's and the decoder's ``embed_tokens``, possibly one shared module)
    multiplies the lookup of exactly this call's ``src_tokens`` /
    ``prev_output_tokens`` by the keep mask. Yields the counts of cut and
    cuttable positions, as tensors (summed by reduce_metrics: no device sync in
    the step). Raises after the forward if either lookup never went through
    ``embeds``, since nothing was cut there."""
    src, prev = net_input["src_tokens"], net_input["prev_output_tokens"]
    rows = cut_copy_rows(src.size(0) // num_passes, num_passes, copies, src.device)
    keep, stats = {}, {"cut": 0, "eligible": 0}
    for name, tokens in (("src", src), ("prev", prev)):
        eos = src_eos if name == "src" else tgt_eos
        protected = tokens.eq(padding_idx) | tokens.eq(eos)
        keep[name] = cutoff_keep_mask(tokens, rows, rate, mode, protected)
        eligible = rows.view(-1, 1) & ~protected
        stats["cut"] = stats["cut"] + (eligible & ~keep[name]).sum()
        stats["eligible"] = stats["eligible"] + eligible.sum()
    applied = set()

    def hook(module, inputs, output):
        tokens = inputs[0]
        name = "src" if tokens is src else "prev" if tokens is prev else None
        if name is None:
            return None
        applied.add(name)
        return apply_keep_mask(output, keep[name])

    handles = [e.register_forward_hook(hook) for e in {id(e): e for e in embeds}.values()]
    try:
        yield stats
    finally:
        for h in handles:
            h.remove()
    missing = sorted({"src", "prev"} - applied)
    if missing:
        raise RuntimeError(
            f"cutoff: the model did not look up {missing} tokens through "
            "encoder/decoder.embed_tokens, so nothing was cut there")
