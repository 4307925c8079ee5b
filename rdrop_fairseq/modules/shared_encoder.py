"""``--rdrop-share-encoder``: R-Drop with ONE encoder pass.

The model is still called once on the concatenated batch ``[x; x; ...]`` (so
the call goes through DDP and the model's own ``forward`` unchanged), but for
the duration of :func:`share_encoder_pass` the encoder sees only the first copy
of the source, with its own dropout masks, and its output is repeated to all
copies with the encoder's ``reorder_encoder_out`` (the method beam search uses):
the decoder then runs on every copy, each with its own dropout masks, and the KL
is taken on the decoder's outputs as in R-Drop. The gradients of all copies flow
back into the one encoder pass.
"""

from contextlib import contextmanager

import torch


def _first_copy(value, rows: int):
    return value[:rows] if torch.is_tensor(value) and value.dim() > 0 else value


@contextmanager
def share_encoder_pass(encoder, num_passes: int):
    """While inside, ``encoder(src_tokens, src_lengths=..., ...)`` on a batch of
    ``num_passes`` stacked copies encodes the first copy once and returns its
    output repeated ``num_passes`` times along the batch."""
    state = {}

    def before(module, args, kwargs):
        src_tokens, rest = args[0], args[1:]
        if src_tokens.size(0) % num_passes != 0:
            raise ValueError(
                f"share_encoder_pass: batch of {src_tokens.size(0)} rows is not "
                f"{num_passes} stacked copies")
        rows = src_tokens.size(0) // num_passes
        state["order"] = torch.arange(rows, device=src_tokens.device).repeat(num_passes)
        args = (src_tokens[:rows],) + tuple(_first_copy(a, rows) for a in rest)
        kwargs = {k: _first_copy(v, rows) for k, v in kwargs.items()}
        return args, kwargs

    def after(module, args, kwargs, output):
        return module.reorder_encoder_out(output, state.pop("order"))

    handles = [encoder.register_forward_pre_hook(before, with_kwargs=True),
               encoder.register_forward_hook(after, with_kwargs=True)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
