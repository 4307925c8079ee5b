#!/usr/bin/env python
"""Time and peak memory per update of training configurations, on real Multi30k
batches, through fairseq's own Trainer (forward, backward, Adam step).

Each (configuration, run) is a fresh subprocess, so peak memory is per
configuration; runs are interleaved (A B C A B C ...) so that machine noise hits
every configuration alike. Prints a table of medians and ratios to the first
configuration's baseline and writes JSON.

    python scripts/benchmark.py --data work/multi30k/data-bin --runs 5 \
        --configs ls@N ls@2N rdrop@N --json docs/results/benchmark_rdrop.json

Training configurations (N = --max-tokens):
  ls@N, ls@2N          fairseq's label_smoothed_cross_entropy at N and 2N tokens
  rdrop@N              label_smoothed_cross_entropy_rdrop (alpha 5, fused loss)
  rdrop_plain@N        the same with --rdrop-loss-impl plain (autograd)
  realformer@N         transformer_realformer_iwslt_de_en (all three streams),
                       fairseq's criterion
  realformer_rdrop@N   RealFormer + R-Drop
  simcut@N             SimCut (alpha 3, token cutoff 0.05 on the second copy)
  rdrop_cutoff@N       R-Drop + Cutoff (alpha 5, token cutoff 0.05 on both copies)
  rdrop_linear@N       R-Drop with --rdrop-loss-impl fused_linear (from the hidden
                       states, never holding the logits)
  ls_fused@N           label_smoothed_cross_entropy_fused (fairseq's LS that way)

--vocab-size V pads the dictionaries with unused symbols to V entries, so that
the embedding, the output projection and the softmax have a WMT-sized
vocabulary (Multi30k's own is ~8k); the batches stay Multi30k's.

Generation configurations (beam 5 on Multi30k test2016, untrained weights shared
by both models, every hypothesis forced to --gen-len tokens so both do the same
number of decoding steps; reports sentences/s):
  gen_transformer, gen_realformer
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SMALL = [
    "--encoder-layers", "3", "--decoder-layers", "3",
    "--encoder-embed-dim", "256", "--decoder-embed-dim", "256",
    "--encoder-ffn-embed-dim", "512", "--decoder-ffn-embed-dim", "512",
    "--encoder-attention-heads", "4", "--decoder-attention-heads", "4",
]
COMMON = [
    "--share-all-embeddings", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)",
    "--lr", "5e-4", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "4000",
    "--dropout", "0.3", "--label-smoothing", "0.1", "--seed", "1", "--num-workers", "0",
]
LS = ["--criterion", "label_smoothed_cross_entropy"]
RDROP = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "5"]
RDROP_PLAIN = RDROP + ["--rdrop-loss-impl", "plain"]
SIMCUT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "3",
          "--cutoff-rate", "0.05", "--cutoff-copies", "second"]
RDROP_CUTOFF = RDROP + ["--cutoff-rate", "0.05", "--cutoff-copies", "all"]
RDROP_LINEAR = RDROP + ["--rdrop-loss-impl", "fused_linear"]
LS_FUSED = ["--criterion", "label_smoothed_cross_entropy_fused"]
GENERATE = {"gen_transformer": "transformer_iwslt_de_en", "gen_realformer": "transformer_realformer_iwslt_de_en"}


def config_flags(name: str, max_tokens: int):
    """(arch, flags) for a configuration name like 'rdrop@N' or 'ls@2N'."""
    if name in GENERATE:
        return GENERATE[name], LS + ["--max-tokens", str(max_tokens)]
    kind, _, scale = name.partition("@")
    factor = {"N": 1, "2N": 2}.get(scale)
    table = {
        "ls": ("transformer_iwslt_de_en", LS),
        "rdrop": ("transformer_iwslt_de_en", RDROP),
        "rdrop_plain": ("transformer_iwslt_de_en", RDROP_PLAIN),
        "realformer": ("transformer_realformer_iwslt_de_en", LS),
        "realformer_rdrop": ("transformer_realformer_iwslt_de_en", RDROP),
        "simcut": ("transformer_iwslt_de_en", SIMCUT),
        "rdrop_cutoff": ("transformer_iwslt_de_en", RDROP_CUTOFF),
        "rdrop_linear": ("transformer_iwslt_de_en", RDROP_LINEAR),
        "ls_fused": ("transformer_iwslt_de_en", LS_FUSED),
    }
    if factor is None or kind not in table:
        raise SystemExit(
            f"--configs: expected NAME@N or NAME@2N with NAME in {sorted(table)}, "
            f"or one of {sorted(GENERATE)}; got {name!r}"
        )
    arch, flags = table[kind]
    return arch, flags + ["--max-tokens", str(max_tokens * factor)]


def setup_task(data, arch, flags, device):
    """fairseq's config and task for fairseq-train flags, with this plugin loaded."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    import rdrop_fairseq

    argv = [data, "--user-dir", rdrop_fairseq.USER_DIR, "--arch", arch]
    argv += flags + (["--cpu"] if device == "cpu" else [])
    cfg = convert_namespace_to_omegaconf(
        options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
    )
    return cfg, tasks.setup_task(cfg.task)


def worker(spec):
    import torch
    from fairseq.trainer import Trainer

    torch.set_num_threads(spec["threads"])
    cfg, task = setup_task(spec["data"], spec["arch"], spec["flags"], spec["device"])
    for d in {id(d): d for d in (task.source_dictionary, task.target_dictionary)}.values():
        while len(d) < spec.get("vocab_size", 0):  # unused symbols: a WMT-sized softmax
            d.add_symbol(f"benchmarkpad{len(d)}")
    if spec.get("generate"):
        return generate_worker(spec, cfg, task, torch)
    task.load_dataset("train")
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, model, criterion)
    itr = task.get_batch_iterator(
        dataset=task.dataset("train"), max_tokens=cfg.dataset.max_tokens,
        max_positions=(1024, 1024), required_batch_size_multiple=8, seed=1,
    ).next_epoch_itr(shuffle=True)
    wanted = spec["warmup"] + spec["steps"]
    if len(itr) < wanted:
        raise SystemExit(f"--warmup + --steps: {wanted} updates, but one epoch of {spec['data']} has "
                         f"{len(itr)} batches at --max-tokens {cfg.dataset.max_tokens}; ask for fewer")
    batches = [next(itr) for _ in range(wanted)]
    cuda = spec["device"] == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for b in batches[: spec["warmup"]]:
        trainer.train_step([b])
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, tokens = [], []
    for b in batches[spec["warmup"]:]:
        sync()
        t0 = time.perf_counter()
        trainer.train_step([b])
        sync()
        times.append(time.perf_counter() - t0)
        tokens.append(int(b["ntokens"]))
    peak_mb = (
        torch.cuda.max_memory_allocated() / 2**20 if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    # Target positions the model actually processes: R-Drop's [x; x] counts twice.
    passes = 2 if "label_smoothed_cross_entropy_rdrop" in spec["flags"] else 1
    return {
        "s_per_update": statistics.median(times),
        "ms_per_1k_tokens": 1000 * sum(times) / sum(tokens) * 1000,
        "ms_per_1k_processed_tokens": 1000 * sum(times) / (passes * sum(tokens)) * 1000,
        "tokens_per_update": sum(tokens) / len(tokens),
        "peak_mem_mb": peak_mb,
        "peak_rss_before_timing_mb": rss_before / 1024,
        "cudnn_attention_enabled": int(torch.backends.cuda.cudnn_sdp_enabled()),  # what the worker ran with
    }


def print_table(med, names, keys):
    """Medians, and each as a ratio to the first configuration listed."""
    if not names:
        return
    base = names[0]
    head = " | ".join(f"{k:>16} | {'x ' + base:>14}" for k in keys)
    print(f"\n{'config':>18} | {head}")
    print("-" * (21 + 36 * len(keys)))
    for n in names:
        cells = " | ".join(
            f"{med[n][k]:16.4g} | {med[n][k] / med[base][k]:14.3f}" for k in keys
        )
        print(f"{n:>18} | {cells}")


def generate_worker(spec, cfg, task, torch):
    task.load_dataset("test")
    torch.manual_seed(1)
    model = task.build_model(cfg.model)
    if spec["device"] == "cuda":
        model = model.cuda()
    model.eval()
    cfg.generation.beam = 5
    cfg.generation.min_len = cfg.generation.max_len_b = spec["gen_len"]
    cfg.generation.max_len_a = 0
    generator = task.build_generator([model], cfg.generation)
    itr = task.get_batch_iterator(
        dataset=task.dataset("test"), max_tokens=cfg.dataset.max_tokens,
        max_positions=(1024, 1024), required_batch_size_multiple=1,
    ).next_epoch_itr(shuffle=False)
    batches = list(itr)
    from fairseq import utils

    sentences, t0 = 0, time.perf_counter()
    with torch.no_grad():
        for b in batches:
            if spec["device"] == "cuda":
                b = utils.move_to_cuda(b)
            task.inference_step(generator, [model], b)
            sentences += b["nsentences"]
    if spec["device"] == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    return {"sentences_per_s": sentences / elapsed, "s_total": elapsed, "sentences": sentences}


def run_setting(args):
    """What the JSON says of the whole run, found once (the device's name needs CUDA)."""
    import torch

    return {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {os.cpu_count()} cores",
        "precision": args.precision, "torch": torch.__version__, "max_tokens": args.max_tokens,
        "runs": args.runs, "steps": args.steps, "warmup": args.warmup, "full_size": args.full_size,
        "vocab_size": args.vocab_size, "cudnn_attention": args.cudnn_attention,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO / "work/multi30k/data-bin"), help="fairseq data-bin (prepare-multi30k.sh)")
    p.add_argument("--configs", nargs="+", default=["ls@N", "ls@2N", "rdrop@N"], help="configurations; ratios are to the first")
    p.add_argument("--max-tokens", type=int, default=4096, help="N")
    p.add_argument("--runs", type=int, default=5, help="subprocess runs per configuration")
    p.add_argument("--steps", type=int, default=10, help="timed updates per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed updates per run")
    p.add_argument("--full-size", action="store_true", help="transformer_iwslt_de_en sizes (6+6, 512) instead of 3+3, 256")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to train")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="fp16 / bf16: fairseq's --fp16 / --bf16 (mixed precision, --device cuda only)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--gen-len", type=int, default=20, help="tokens per hypothesis in gen_* configs")
    p.add_argument("--vocab-size", type=int, default=0,
                   help="pad the dictionaries with unused symbols to this many entries (0: as they are)")
    p.add_argument("--cudnn-attention", choices=["off", "on"], default="off",
                   help="torch's cuDNN fused attention for fairseq's MultiheadAttention (RDROP_CUDNN_ATTENTION); "
                        "off by default, as train.sh: on Hopper GPUs with torch 2.11 it made updates several times slower (docs/gpu.md)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return
    for flag, v in (("--runs", args.runs), ("--steps", args.steps), ("--max-tokens", args.max_tokens)):
        if v < 1:
            p.error(f"{flag}: expected an integer >= 1, got {v}")
    if args.precision != "fp32" and args.device != "cuda":
        p.error(f"--precision {args.precision}: needs --device cuda (fairseq trains fp16/bf16 on GPUs only)")
    if args.vocab_size < 0:
        p.error(f"--vocab-size: expected 0 (the data's dictionary) or a size, got {args.vocab_size}")
    if not Path(args.data, "dict.de.txt").exists():
        p.error(f"--data: no fairseq data-bin at {args.data} (run examples/translation/prepare-multi30k.sh)")

    # read by the plugin when each worker imports it
    os.environ["RDROP_CUDNN_ATTENTION"] = "0" if args.cudnn_attention == "off" else "1"
    specs = {}
    for name in args.configs:
        arch, flags = config_flags(name, args.max_tokens)
        specs[name] = {
            "data": args.data, "arch": arch, "device": args.device, "threads": args.threads,
            "flags": COMMON + ([] if args.full_size else SMALL) + flags
                     + ([] if args.precision == "fp32" else [f"--{args.precision}"]),
            "steps": args.steps, "warmup": args.warmup,
            "generate": name in GENERATE, "gen_len": args.gen_len, "vocab_size": args.vocab_size,
        }
    setting = run_setting(args) if args.json else None
    results = {name: [] for name in args.configs}
    for run in range(args.runs):
        for name in args.configs:
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", json.dumps(specs[name])],
                capture_output=True, text=True, cwd=REPO,
            )
            line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                sys.exit(f"benchmark: {name} failed:\n{proc.stderr[-3000:]}")
            results[name].append(json.loads(line[0][7:]))
            r = results[name][-1]
            print(f"run {run + 1}/{args.runs} {name:>18}: "
                  + ", ".join(f"{k} {v:.4g}" for k, v in r.items()), file=sys.stderr)
            write_json(args.json, setting, results, complete=False)  # a run cut short keeps what it finished

    med = write_json(args.json, setting, results, complete=True)
    print_table(med, [n for n in args.configs if n not in GENERATE],
                ["s_per_update", "ms_per_1k_processed_tokens", "peak_mem_mb"])
    print_table(med, [n for n in args.configs if n in GENERATE], ["sentences_per_s"])


def write_json(path, setting, results, complete):
    """Medians of the runs so far; written to path (if given) and returned."""
    done = {n: rs for n, rs in results.items() if rs}
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in done.items()}
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(dict(setting, complete=complete, median=med, runs_raw=done), indent=2))
    return med


if __name__ == "__main__":
    main()
