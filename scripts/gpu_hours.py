#!/usr/bin/env python
"""Estimated GPU hours of each paper-scale run of reproduce-iwslt14.sh and
reproduce-wmt14.sh. An estimate, not a measurement: no GPU was available to
this project when it was written. Every input is stated here with its source:

    python scripts/gpu_hours.py iwslt14 baseline alpha_5 k_2 [--gpus-per-run N] [--json out.json]

hours per run = updates x (target tokens per update per GPU / target tokens
per second per GPU) x cost factor / 3600, and GPU hours = hours x GPUs per run.

- updates: the paper's --max-update (300,000 in both official settings:
  dropreg/R-Drop run_train.sh for IWSLT14, dropreg/R-Drop issue 19 for WMT14);
  fairseq trains to it, and checkpoint_best is picked along the way.
- tokens per update per GPU: max-tokens x update-freq x the fill fairseq
  reaches (617k target tokens per update from 5,120 x 128 GPUs in Ott et al.'s
  WMT log, fairseq issue 233/361: 0.94; taken as 0.9 for IWSLT's shorter
  sentences).
- tokens per second per V100 with --fp16: 40,000 for a base-size Transformer
  (fairseq issue 940: "at least 160k wps on 4 x V100 with --fp16",
  transformer_wmt_en_de), used for IWSLT's smaller transformer_iwslt_de_en;
  12,900 for Transformer-big (fairseq issue 361: 1.6-1.7M wps on 128 V100s).
  Newer GPUs (A100, H100) are several times faster.
- cost factor per update, relative to the baseline: R-Drop runs the batch
  twice (docs/results/converged/speed.json measures 1.97 on 2 CPU cores; 2.0
  used here), k-step R-Drop (k+1)/k on average, --rdrop-passes m: m,
  RealFormer 1.0 (the same FLOPs plus one addition per attention layer).
"""

import argparse
import json
import re
import sys
from pathlib import Path

PRESETS = {
    "iwslt14": {"updates": 300_000, "max_tokens": 4096, "update_freq": 1, "fill": 0.9,
                "wps_per_gpu": 40_000, "gpu": "V100, fp16"},
    "wmt14": {"updates": 300_000, "max_tokens": 4096, "update_freq": 16, "fill": 0.94,
              "wps_per_gpu": 12_900, "gpu": "V100, fp16"},
}


def cost_factor(run: str) -> float:
    """Cost of one update of RUN relative to the baseline's (names as sweep.sh's)."""
    if run in ("baseline", "realformer"):
        return 1.0
    if run in ("rdrop", "realformer_rdrop") or re.fullmatch(r"alpha_[0-9.]+", run):
        return 2.0
    m = re.fullmatch(r"k_([1-9][0-9]*)", run)
    if m:
        k = int(m.group(1))
        return (k + 1) / k
    m = re.fullmatch(r"passes_([2-9]|[1-9][0-9]+)", run)
    if m:
        return float(m.group(1))
    raise SystemExit(f"gpu_hours: RUN: expected baseline, rdrop, alpha_A, k_K, passes_M, realformer or "
                     f"realformer_rdrop, got {run!r}")


def estimate(preset: str, runs, gpus_per_run: int = 1):
    p = PRESETS[preset]
    s_per_update = p["max_tokens"] * p["update_freq"] * p["fill"] / p["wps_per_gpu"]
    rows = []
    for run in runs:
        hours = p["updates"] * s_per_update * cost_factor(run) / 3600
        rows.append({"run": run, "updates": p["updates"], "cost_factor": cost_factor(run),
                     "hours": round(hours, 1), "gpu_hours": round(hours * gpus_per_run, 1)})
    return {"preset": preset, "gpus_per_run": gpus_per_run, "assumed": p,
            "baseline_s_per_update": round(s_per_update, 3), "runs": rows,
            "total_gpu_hours": round(sum(r["gpu_hours"] for r in rows), 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=sorted(PRESETS), help="train.sh's preset")
    ap.add_argument("runs", nargs="+", help="run names, as sweep.sh names them")
    ap.add_argument("--gpus-per-run", type=int, default=1,
                    help="GPUs per run (data parallel: each GPU does its own max-tokens x update-freq)")
    ap.add_argument("--json", type=Path, help="write the estimate here")
    args = ap.parse_args(argv)
    if args.gpus_per_run < 1:
        ap.error(f"--gpus-per-run: expected a whole number >= 1, got {args.gpus_per_run}")
    est = estimate(args.preset, args.runs, args.gpus_per_run)
    a = est["assumed"]
    print(f"Estimated cost at {a['updates']:,} updates ({a['gpu']}; {a['wps_per_gpu']:,} target tokens/s per GPU, "
          f"{a['max_tokens']} x {a['update_freq']} x {a['fill']} tokens per update per GPU; "
          f"see scripts/gpu_hours.py): baseline {est['baseline_s_per_update']} s/update")
    print("| run | x baseline | hours | GPU hours |\n|---|---:|---:|---:|")
    for r in est["runs"]:
        print(f"| {r['run']} | {r['cost_factor']:.2f} | {r['hours']:,.1f} | {r['gpu_hours']:,.1f} |")
    print(f"| all | | | {est['total_gpu_hours']:,.1f} |")
    if args.json:
        args.json.write_text(json.dumps(est, indent=1))
    return est


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
