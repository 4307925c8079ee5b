"""A resumed run trains on the same batches as an uninterrupted one, in every epoch.

fairseq 0.12 builds a training set's batches once, when its batch iterator is
created, from the examples ordered under ``numpy_seed(seed + epoch)``, and reuses
that iterator (and so those batches, reshuffled as a whole each epoch) for every
later epoch. An uninterrupted run creates it in epoch 1. A run resumed from a
checkpoint of epoch E creates it in epoch E: examples of equal length fall into
other batches, and from the first update after the resume the run trains on other
batches than the uninterrupted run would have (measured: the parameters differ
after a resume in epoch 2; they are equal after one in epoch 1).

:func:`first_epoch_batches` makes the order the batches are cut from that of
epoch 1 whenever fairseq will reuse the iterator, so that resuming changes nothing.
Iterators that fairseq rebuilds every epoch (``--rebuild-batches``-style tasks,
``disable_iterator_cache``, datasets that cannot be reused) are left as they are:
there an uninterrupted run also cuts new batches per epoch, with ``seed + epoch``.
"""

import inspect
from contextlib import contextmanager

from fairseq.data import data_utils


@contextmanager
def first_epoch_batches(task, get_batch_iterator, dataset, args, kwargs):
    """Around ``task.get_batch_iterator(dataset, *args, **kwargs)`` (the parent's,
    passed as ``get_batch_iterator``): if it will build a reusable iterator in an
    epoch after the first, the examples are ordered as in epoch 1."""
    bound = inspect.signature(get_batch_iterator).bind(dataset, *args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    epoch, seed = a.get("epoch", 1), a.get("seed", 1)
    reusable = (not a.get("disable_iterator_cache", False) and not a.get("update_epoch_batch_itr", False)
                and not getattr(task.cfg, "rebuild_batches", False) and task.can_reuse_epoch_itr(dataset))
    if epoch <= 1 or not reusable or dataset in task.dataset_to_epoch_iter:
        yield
        return
    order = dataset.ordered_indices

    def ordered_as_in_epoch_1():
        with data_utils.numpy_seed(seed + 1):  # what an uninterrupted run's iterator used
            return order()

    dataset.ordered_indices = ordered_as_in_epoch_1
    try:
        yield
    finally:
        del dataset.ordered_indices
