"""RDROP_CUDNN_ATTENTION=0: keep torch's scaled-dot-product attention off cuDNN.

fairseq's ``MultiheadAttention`` calls torch's ``multi_head_attention_forward``,
which recent torch builds send to cuDNN's fused attention on Hopper GPUs. On an
H200 with torch 2.11 each such call cost far more host time than GPU time:
consistent with a new cuDNN plan for every sequence length, which translation
batches change at every update. Switching it off made fp16 updates several
times faster (the figures: docs/gpu.md); the switch lives here because ``fairseq-train`` can only be
reached through this plugin's import. ``examples/translation/train.sh`` sets it
to 0 unless told otherwise.

torch's own opt-in ``TORCH_CUDNN_SDPA_AVOID_RECOMPILE=1`` (pytorch/pytorch#155958)
targets the same recompiling while keeping cuDNN; it needs nothing from us, and
on the H100 it saved only 6-17% (docs/gpu.md).

Read once, when the plugin is imported (``--user-dir``); unset or ``1`` leaves
torch's choice alone. It changes a process-wide torch setting, hence opt-in.
"""

import logging
import os

import torch

from rdrop_fairseq.flags import FlagError

logger = logging.getLogger(__name__)
ENV = "RDROP_CUDNN_ATTENTION"


def apply_cudnn_attention_setting(value=None) -> bool:
    """Apply ``RDROP_CUDNN_ATTENTION`` (or ``value``); True if cuDNN attention was switched off."""
    value = os.environ.get(ENV, "") if value is None else value
    if value in ("", "1"):
        return False
    if value != "0":
        raise FlagError(ENV, "0 (switch cuDNN attention off) or 1 / unset (torch's default)", value)
    torch.backends.cuda.enable_cudnn_sdp(False)
    logger.info(f"{ENV}=0: torch's scaled-dot-product attention will not use cuDNN")
    return True
