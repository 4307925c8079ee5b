"""What the criteria need to know about a model's output layer, asked of the
model itself: whether its output distribution is a plain log-softmax of its
logits (then the fused loss may start from the logits), whether its logits are
one linear projection of its features (then the fused-linear loss may start
from the features), and whether it has any dropout at all.

A decoder whose ``output_layer`` does more than fairseq's (RealFormer's applies
multi-sample dropout first) says how its logits are made by defining
``linear_output()`` next to that ``output_layer``: ``(features -> projection
input, the projection)``. No model class is imported here.
"""

import logging

from fairseq.models import BaseFairseqModel, FairseqDecoder
from fairseq.models.transformer import TransformerDecoderBase, TransformerModelBase
from fairseq.modules import FairseqDropout
from torch import nn

from rdrop_fairseq.modules.multi_sample_dropout import MultiSampleDropout

logger = logging.getLogger(__name__)


def unwrap(model: nn.Module) -> nn.Module:
    """The fairseq model inside DDP / fairseq's ModuleProxyWrapper."""
    while not isinstance(model, BaseFairseqModel) and hasattr(model, "module"):
        model = model.module
    return model


def output_is_log_softmax_of_logits(model: nn.Module) -> bool:
    """Whether ``get_normalized_probs`` is fairseq's plain log-softmax of
    ``net_output[0]``, so that the fused loss may start from the logits."""
    model = unwrap(model)
    dec = getattr(model, "decoder", None)
    return (
        isinstance(dec, FairseqDecoder)
        and getattr(dec, "adaptive_softmax", None) is None
        and type(dec).get_normalized_probs is FairseqDecoder.get_normalized_probs
        and type(dec).get_normalized_probs_scriptable
        is FairseqDecoder.get_normalized_probs_scriptable
        and type(model).get_normalized_probs
        in (BaseFairseqModel.get_normalized_probs, TransformerModelBase.get_normalized_probs)
        and type(model).get_normalized_probs_scriptable
        is BaseFairseqModel.get_normalized_probs_scriptable
    )


def _defining_class(cls, name):
    return next((k for k in cls.__mro__ if name in vars(k)), None)


def linear_output_of(model: nn.Module):
    """(features -> projection input, the projection) when the decoder's logits
    are exactly ``projection(pre(features))`` with a plain log-softmax on top:
    fairseq's transformer decoder (``pre`` is the identity), and any decoder
    whose class defines ``linear_output()`` beside its ``output_layer``. None
    otherwise (adaptive softmax, other decoders, a subclass that overrides
    ``output_layer`` alone)."""
    dec = getattr(unwrap(model), "decoder", None)
    if not output_is_log_softmax_of_logits(model) or not isinstance(
        getattr(dec, "output_projection", None), nn.Linear
    ):
        return None
    owner = _defining_class(type(dec), "output_layer")
    if owner is TransformerDecoderBase:
        return (lambda features: features), dec.output_projection
    if owner is not None and "linear_output" in vars(owner):
        return dec.linear_output()
    return None


def fused_linear_or_fallback(model: nn.Module, report_accuracy: bool, fallback: str):
    """:func:`linear_output_of`, or False (logging why and ``fallback`` once)
    where the fused-linear path cannot apply."""
    linear = None if report_accuracy else linear_output_of(model)
    if linear is None:
        logger.info(
            "%s: it needs a decoder whose output layer is one linear projection under a "
            "plain log-softmax, and no --report-accuracy", fallback)
        return False
    return linear


def has_active_dropout(model: nn.Module) -> bool:
    return any(
        isinstance(m, (nn.modules.dropout._DropoutNd, FairseqDropout, MultiSampleDropout))
        and m.p > 0
        for m in model.modules()
    )
