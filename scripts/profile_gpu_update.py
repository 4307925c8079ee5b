#!/usr/bin/env python
"""Where an fp16 training update's time goes on a GPU: wall-clock per update, and
a torch.profiler table of host and kernel time, through fairseq's Trainer, for
each @N configuration on the same IWSLT14-sized batches (full transformer_iwslt_de_en,
6+6 layers, 512; --max-tokens 4096; configurations as in scripts/benchmark.py).

    python scripts/profile_gpu_update.py DATA_BIN ls@N realformer@N rdrop@N   # from the repo root

Per configuration: 20 untimed updates, 30 timed (median, min, max printed with
the updates actually applied and fp16's loss scale), then 5 profiled. "Self CUDA
time total" over the 5 is the GPU's kernel time; wall-clock far above it means
the update is host-bound and a ratio of wall-clocks says nothing about the
configurations' arithmetic. This is the script that produced docs/gpu.md's
figures (H200), run as it stands.
"""
import statistics, sys, time
import torch
import benchmark as B  # a sibling: Python puts scripts/ first on the import path when running a script
from fairseq.trainer import Trainer
from torch.profiler import ProfilerActivity, profile

data = sys.argv[1]
for name in sys.argv[2:]:
    arch, flags = B.config_flags(name, 4096)
    cfg, task = B.setup_task(data, arch, B.COMMON + flags + ["--fp16"], "cuda")
    task.load_dataset("train")
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    itr = task.get_batch_iterator(dataset=task.dataset("train"), max_tokens=4096, max_positions=(1024, 1024),
                                  required_batch_size_multiple=8, seed=1).next_epoch_itr(shuffle=True)
    batches = [next(itr) for _ in range(60)]
    for b in batches[:20]:
        trainer.train_step([b])
    torch.cuda.synchronize()
    t = []
    for b in batches[20:50]:
        t0 = time.perf_counter(); trainer.train_step([b]); torch.cuda.synchronize(); t.append(time.perf_counter() - t0)
    print(f"== {name}: median {statistics.median(t):.4f} s, min {min(t):.4f}, max {max(t):.4f}; "
          f"updates done {trainer.get_num_updates()} of 50 steps; loss scale {getattr(getattr(trainer.optimizer, 'scaler', None), 'loss_scale', None)}", flush=True)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for b in batches[50:55]:
            trainer.train_step([b])
        torch.cuda.synchronize()
    ka = prof.key_averages()
    print(ka.table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=60), flush=True)
    print(ka.table(sort_by="self_cuda_time_total", row_limit=8, max_name_column_width=60), flush=True)
    del trainer, model
    torch.cuda.empty_cache()
