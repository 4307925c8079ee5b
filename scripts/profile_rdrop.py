#!/usr/bin/env python
"""Where does an R-Drop update spend its time? Splits one training step into
model forward, loss, backward (and lists the top operators with torch.profiler),
for fairseq's criterion on a doubled batch and for R-Drop (plain and fused) on
the same real Multi30k batches, so the phases compare like for like.

    python scripts/profile_rdrop.py --data work/multi30k/data-bin --steps 5
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from benchmark import COMMON, LS, RDROP, RDROP_PLAIN, SMALL, setup_task  # a sibling: Python puts scripts/ first on the import path when running a script

REPO = Path(__file__).resolve().parents[1]


def build(data, criterion_flags, device):
    cfg, task = setup_task(data, "transformer_iwslt_de_en",
                           ["--max-tokens", "4096"] + COMMON + SMALL + criterion_flags, device)
    task.load_dataset("train")
    torch.manual_seed(1)
    model = task.build_model(cfg.model).to(device)
    return task, model, task.build_criterion(cfg.criterion)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO / "work/multi30k/data-bin"), help="fairseq data-bin")
    p.add_argument("--steps", type=int, default=5, help="timed steps per configuration")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to run")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--top", type=int, default=12, help="operators to list per configuration")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from fairseq import utils
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    from rdrop_fairseq.modules.rdrop_loss import repeat_batch

    configs = {"ls@2N (doubled batch)": LS, "rdrop@N plain": RDROP_PLAIN,
               "rdrop@N fused": RDROP + ["--rdrop-loss-impl", "fused"]}
    def loss_of(name, model, crit, sample, net_output):
        if name.startswith("ls"):  # fairseq's loss on the doubled batch
            lprobs = model.get_normalized_probs(net_output, log_probs=True)
            target = sample["target"].repeat(2, 1)
            return label_smoothed_nll_loss(lprobs.view(-1, lprobs.size(-1)), target.view(-1),
                                           0.1, ignore_index=crit.padding_idx)[0]
        return crit._loss_from_output(model, sample, net_output)[0]  # the criterion's own path

    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    for name, flags in configs.items():
        task, model, crit = build(args.data, flags, args.device)
        model.train()
        itr = task.get_batch_iterator(dataset=task.dataset("train"), max_tokens=4096,
                                      max_positions=(1024, 1024), seed=1).next_epoch_itr(shuffle=True)
        batches = [next(itr) for _ in range(args.steps + 1)]
        phases = {"forward": [], "loss": [], "backward": []}
        for i, sample in enumerate(batches):
            sample = utils.move_to_cuda(sample) if args.device == "cuda" else sample
            doubled = repeat_batch(sample["net_input"], 2)
            sync(); t0 = time.perf_counter()
            net_output = model(**doubled)
            sync(); t1 = time.perf_counter()
            loss = loss_of(name, model, crit, sample, net_output)
            sync(); t2 = time.perf_counter()
            loss.backward()
            sync(); t3 = time.perf_counter()
            model.zero_grad(set_to_none=True)
            if i > 0:  # first step warms up
                phases["forward"].append(t1 - t0)
                phases["loss"].append(t2 - t1)
                phases["backward"].append(t3 - t2)
        med = {k: statistics.median(v) for k, v in phases.items()}
        total = sum(med.values())
        print(f"\n{name}: " + ", ".join(f"{k} {v:.3f} s" for k, v in med.items()) + f", total {total:.3f} s")
        with torch.profiler.profile() as prof:
            net_output = model(**repeat_batch(batches[1]["net_input"], 2))
            loss_of(name, model, crit, batches[1], net_output).backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
