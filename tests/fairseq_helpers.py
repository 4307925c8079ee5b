"""Build real fairseq tasks, models and criteria in-process, from CLI-style flags.

Goes through the same path as fairseq-train (parse_args_and_arch ->
convert_namespace_to_omegaconf -> setup_task -> build_model/build_criterion),
on a tiny vocabulary, so that unit tests exercise the real fairseq glue.
"""

from pathlib import Path

import torch
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

import rdrop_fairseq

VOCAB = [f"w{i}" for i in range(24)]

def model_flags(arch="transformer_iwslt_de_en", layers=2, dim=16, ffn=32, heads=2):
    """fairseq-train flags for an encoder-decoder of the given size, shared embeddings."""
    return [
        "--arch", arch, "--encoder-layers", str(layers), "--decoder-layers", str(layers),
        "--encoder-embed-dim", str(dim), "--decoder-embed-dim", str(dim),
        "--encoder-ffn-embed-dim", str(ffn), "--decoder-ffn-embed-dim", str(ffn),
        "--encoder-attention-heads", str(heads), "--decoder-attention-heads", str(heads),
        "--share-all-embeddings",
    ]


TINY_TRANSFORMER = model_flags()
TINY_REALFORMER = model_flags("transformer_realformer_iwslt_de_en")


def write_dicts(data_dir: Path, langs=("de", "en")) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    for lang in langs:
        (data_dir / f"dict.{lang}.txt").write_text(
            "".join(f"{w} {100 - i}\n" for i, w in enumerate(VOCAB))
        )
    return data_dir


def parse(data_dir: Path, args):
    parser = options.get_training_parser()
    argv = [str(data_dir), "--user-dir", rdrop_fairseq.USER_DIR, "--cpu"] + list(args)
    ns = options.parse_args_and_arch(parser, input_args=argv)
    return convert_namespace_to_omegaconf(ns)


def build(data_dir: Path, args, task_args=("--task", "translation", "-s", "de", "-t", "en")):
    """(cfg, task, model, criterion) for the given flags."""
    cfg = parse(write_dicts(data_dir), list(task_args) + list(args))
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    return cfg, task, model, criterion


def make_sample(task, bsz=3, src_len=7, tgt_len=6, seed=0):
    """A left-padded source / right-padded target batch, as fairseq collates it."""
    d = task.target_dictionary
    g = torch.Generator().manual_seed(seed)
    nspecial = d.nspecial
    vocab = len(d)

    def tokens(length, lengths, left_pad):
        out = torch.full((bsz, length), d.pad(), dtype=torch.long)
        for b, n in enumerate(lengths):
            body = torch.randint(nspecial, vocab, (n - 1,), generator=g)
            row = torch.cat([body, torch.tensor([d.eos()])])
            if left_pad:
                out[b, length - n:] = row
            else:
                out[b, :n] = row
        return out

    src_lengths = [src_len] + [max(2, src_len - 2 - b) for b in range(1, bsz)]
    tgt_lengths = [tgt_len] + [max(2, tgt_len - 1 - b) for b in range(1, bsz)]
    src = tokens(src_len, src_lengths, left_pad=True)
    tgt = tokens(tgt_len, tgt_lengths, left_pad=False)
    prev = torch.full_like(tgt, d.pad())
    for b, n in enumerate(tgt_lengths):  # eos moved to the front, as fairseq does
        prev[b, 0] = d.eos()
        prev[b, 1:n] = tgt[b, : n - 1]
    return {
        "id": torch.arange(bsz),
        "nsentences": bsz,
        "ntokens": int(tgt.ne(d.pad()).sum()),
        "net_input": {
            "src_tokens": src,
            "src_lengths": torch.tensor(src_lengths),
            "prev_output_tokens": prev,
        },
        "target": tgt,
    }


def concat_sample(sample, m):
    """The sample fairseq's own criterion would see for the batch [x; x; ...]."""
    from rdrop_fairseq.modules.rdrop_loss import repeat_batch

    out = dict(sample)
    out["net_input"] = repeat_batch(sample["net_input"], m)
    out["target"] = repeat_batch(sample["target"], m)
    out["ntokens"] = sample["ntokens"] * m
    out["nsentences"] = sample["nsentences"] * m
    return out
