"""Let fairseq 0.12 checkpoints load under torch >= 2.6.

torch 2.6 made ``torch.load`` default to ``weights_only=True``, which refuses any
pickled object that is not a tensor or a plain container. fairseq 0.12 calls
``torch.load`` without that argument, and its checkpoints hold an argparse
``Namespace`` (``args``), omegaconf containers (model cfg of some tasks), numpy
scalars (``best_checkpoint`` scores) and logging meters, so ``fairseq-generate``
and ``--restore-file`` fail with an ``UnpicklingError``.

Rather than turning the safety check off for every ``torch.load`` in the
process, we allow-list exactly the types fairseq writes into checkpoints, via
``torch.serialization.add_safe_globals``. Importing ``rdrop_fairseq`` (which
``--user-dir`` does before any checkpoint is read) applies it.
"""

import argparse
import collections
import typing

import torch


def fairseq_checkpoint_types():
    import numpy as np
    from omegaconf import DictConfig, ListConfig
    from omegaconf.base import ContainerMetadata, Metadata
    from omegaconf.nodes import (
        AnyNode,
        BooleanNode,
        EnumNode,
        FloatNode,
        IntegerNode,
        StringNode,
    )

    types = [
        argparse.Namespace,
        collections.OrderedDict,
        collections.defaultdict,
        typing.Any,
        dict,
        list,
        int,
        DictConfig,
        ListConfig,
        ContainerMetadata,
        Metadata,
        AnyNode,
        BooleanNode,
        EnumNode,
        FloatNode,
        IntegerNode,
        StringNode,
        np.dtype,
        np.ndarray,
    ]
    # numpy scalars (e.g. a BLEU score kept as the best checkpoint metric) are
    # pickled through numpy's scalar reconstructor and dtype classes.
    try:
        from numpy.core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy >= 2 moved them
        from numpy._core.multiarray import _reconstruct, scalar
    types += [scalar, _reconstruct]
    types += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return types


def allow_fairseq_checkpoints() -> bool:
    """Allow-list fairseq's checkpoint types for ``torch.load``. Idempotent.

    Returns False on torch versions without ``add_safe_globals`` (< 2.4), where
    ``torch.load`` does not default to ``weights_only=True`` anyway.
    """
    add = getattr(torch.serialization, "add_safe_globals", None)
    if add is None:
        return False
    add(fairseq_checkpoint_types())
    return True
