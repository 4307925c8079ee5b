"""A run resumed in a later epoch trains on an uninterrupted run's batches
(rdrop_fairseq/modules/resume_batches.py): fairseq's own translation task cuts them
anew, from examples ordered with seed + the epoch it resumed in."""

import torch
from fairseq.data import LanguagePairDataset

from fairseq_helpers import TINY_TRANSFORMER, build


def dataset(task, n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = task.source_dictionary
    lengths = torch.randint(3, 8, (n,), generator=g)  # many ties: equal lengths share buckets
    src = [torch.cat([torch.randint(d.nspecial, len(d), (int(k) - 1,), generator=g), torch.tensor([d.eos()])])
           for k in lengths]
    tgt = [s.flip(0) for s in src]
    return LanguagePairDataset(src, lengths, d, tgt, lengths, task.target_dictionary, shuffle=True)


def batches(tmp_path, task_name, epoch):
    _, task, _, _ = build(tmp_path / f"{task_name}{epoch}", TINY_TRANSFORMER, ("--task", task_name, "-s", "de", "-t", "en"))
    data = dataset(task)
    itr = task.get_batch_iterator(dataset=data, max_tokens=40, seed=1, epoch=epoch)
    return [tuple(int(i) for i in b) for b in itr.frozen_batches], data


def test_a_resumed_iterator_cuts_the_first_epochs_batches(tmp_path):
    fresh, _ = batches(tmp_path, "translation_rdrop", 1)
    resumed, data = batches(tmp_path, "translation_rdrop", 3)
    assert resumed == fresh
    assert "ordered_indices" not in vars(data)  # the dataset is left as it was


def test_fairseqs_own_task_cuts_other_batches_when_resumed(tmp_path):
    """What the above fixes: with --task translation the batches depend on the epoch
    the run was resumed in."""
    fresh, _ = batches(tmp_path, "translation", 1)
    resumed, _ = batches(tmp_path, "translation", 3)
    assert sorted(map(sorted, resumed)) != sorted(map(sorted, fresh))
