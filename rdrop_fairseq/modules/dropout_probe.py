"""The "will R-Drop help here?" probe: how far apart two dropout passes of the
current model are on the current batch, in a run that does not pay for them.

The R-Drop authors' own diagnostic (their reply on dropreg/R-Drop#5): R-Drop
pays off where this KL grows as the baseline trains. :func:`dropout_probe_kl`
runs the batch twice, as one no-grad forward of ``[x; x]`` in training mode (so
each copy draws its own dropout masks), and returns the symmetric KL between
the two copies' output distributions summed over non-pad target tokens.

It runs under a forked RNG: the dropout masks it draws are not taken from the
training's random stream, so a probed run trains bit for bit like the same run
without the probe (tested), and the probe's curve is the curve of that run.
"""

import contextlib

import torch

from rdrop_fairseq.modules.rdrop_loss import multi_pass_symmetric_kl, repeat_batch


def _rng_devices(model):
    p = next(model.parameters(), None)
    if p is not None and p.is_cuda:
        return [p.device.index if p.device.index is not None else torch.cuda.current_device()]
    return []


def dropout_probe_kl(model, sample, padding_idx: int):
    """(symmetric KL between two dropout passes summed over non-pad target
    tokens, in nats; the number of those tokens). ``model`` must be in
    training mode; nothing it holds is changed, no gradient is made."""
    if not model.training:
        raise ValueError("the dropout probe needs the model in training mode (dropout on)")
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        stack.enter_context(torch.random.fork_rng(devices=_rng_devices(model)))
        net_output = model(**repeat_batch(sample["net_input"], 2))
        inner = getattr(model, "module", model)
        while not hasattr(inner, "get_normalized_probs") and hasattr(inner, "module"):
            inner = inner.module
        lprobs = inner.get_normalized_probs(net_output, log_probs=True)
        pad_mask = sample["target"].eq(padding_idx)
        kl = multi_pass_symmetric_kl(lprobs, 2, pad_mask)
    return kl.detach(), int((~pad_mask).sum())
