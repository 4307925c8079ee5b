#!/usr/bin/env python
"""Estimated GPU hours of each paper-scale run of reproduce-iwslt14.sh and
reproduce-wmt14.sh, from cited throughputs (written before this project had a
GPU; --measured below adds hours from one). Every input is stated here with its
source:

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

--measured BENCHMARK_JSON adds hours from a GPU measurement instead of cited
throughputs: scripts/benchmark.py's JSON for --device cuda --full-size at the
preset's --max-tokens (transformer_iwslt_de_en, so iwslt14 only), e.g.
docs/results/gpu/benchmark_h100_cudnn_off.json (one H100, fp16, cuDNN attention
off: docs/gpu.md). s/update per run from the configurations measured: baseline
ls@N, R-Drop and alpha_A rdrop@N, realformer(_rdrop) realformer(_rdrop)@N,
k-step ((k-1) ls@N + rdrop@N) / k; a run whose configuration was not measured
(passes_M, or one missing from the JSON) says "not measured". The range is the
fastest and slowest of the benchmark's runs. Training updates only: validation
and checkpoint saving are not in either figure.

    python scripts/gpu_hours.py iwslt14 baseline alpha_5 k_2 \
        --measured docs/results/gpu/benchmark_h100_cudnn_off.json
"""

import argparse
import json
import re
import statistics
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


def measured_configs(run: str):
    """{benchmark configuration: weight} whose weighted s/update is RUN's, or None."""
    cost_factor(run)  # the same names and the same error for an unknown one
    if run == "baseline":
        return {"ls@N": 1.0}
    if run == "rdrop" or re.fullmatch(r"alpha_[0-9.]+", run):
        return {"rdrop@N": 1.0}
    if run in ("realformer", "realformer_rdrop"):
        return {f"{run}@N": 1.0}
    m = re.fullmatch(r"k_([1-9][0-9]*)", run)
    if m:  # k-step: one R-Drop update in every k, plain ones between
        k = int(m.group(1))
        return {"ls@N": (k - 1) / k, "rdrop@N": 1 / k} if k > 1 else {"rdrop@N": 1.0}
    return None  # passes_M: benchmark.py has no such configuration


def load_measurement(preset: str, path: Path):
    """benchmark.py's JSON, checked to be a GPU measurement of PRESET's setting."""
    def bad(why):
        raise SystemExit(f"gpu_hours: --measured {path}: {why}")
    if preset != "iwslt14":
        bad(f"a benchmark.py measurement is of transformer_iwslt_de_en at update-freq 1, i.e. the iwslt14 "
            f"preset; there is none for {preset}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        bad(f"cannot read it as benchmark.py's JSON ({e})")
    if not isinstance(data, dict) or not isinstance(data.get("runs_raw"), dict):
        bad("not benchmark.py's JSON (no 'runs_raw')")
    if data.get("device") != "cuda":
        bad(f"expected a measurement with --device cuda, got device {data.get('device')!r}")
    if not data.get("full_size"):
        bad("expected a measurement with --full-size (transformer_iwslt_de_en's 6+6 layers, 512 wide)")
    if data.get("max_tokens") != PRESETS[preset]["max_tokens"]:
        bad(f"expected --max-tokens {PRESETS[preset]['max_tokens']} as the {preset} preset's, "
            f"got {data.get('max_tokens')}")
    return data


def measured_hours(preset: str, runs, data, gpus_per_run: int = 1):
    """Hours per run from a GPU measurement (load_measurement's): median and range."""
    updates = PRESETS[preset]["updates"]
    times = {c: [r["s_per_update"] for r in rs] for c, rs in data["runs_raw"].items() if rs}
    rows = []
    for run in runs:
        weights = measured_configs(run)
        row = {"run": run, "updates": updates, "configurations": weights}
        if weights is None or any(c not in times for c in weights):
            row["not_measured"] = sorted(c for c in (weights or {}) if c not in times) or "no benchmark configuration"
        else:
            for key, pick in (("s_per_update", statistics.median), ("s_per_update_min", min),
                              ("s_per_update_max", max)):
                row[key] = sum(w * pick(times[c]) for c, w in weights.items())
            for key in ("", "_min", "_max"):
                row["hours" + key] = round(updates * row["s_per_update" + key] / 3600, 1)
            row["gpu_hours"] = round(row["hours"] * gpus_per_run, 1)
        rows.append(row)
    return {"device_name": data.get("device_name"), "precision": data.get("precision"),
            "torch": data.get("torch"), "cudnn_attention": data.get("cudnn_attention", "not recorded"),
            "benchmark_runs": data.get("runs"), "complete": data.get("complete"), "runs": rows,
            "total_gpu_hours": round(sum(r.get("gpu_hours", 0) for r in rows), 1),
            "runs_not_measured": [r["run"] for r in rows if "not_measured" in r]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", choices=sorted(PRESETS), help="train.sh's preset")
    ap.add_argument("runs", nargs="+", help="run names, as sweep.sh names them")
    ap.add_argument("--gpus-per-run", type=int, default=1,
                    help="GPUs per run (data parallel: each GPU does its own max-tokens x update-freq)")
    ap.add_argument("--json", type=Path, help="write the estimate here")
    ap.add_argument("--measured", type=Path, metavar="BENCHMARK_JSON",
                    help="also hours from scripts/benchmark.py's GPU measurement of this setting (iwslt14)")
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
    if args.measured:
        m = est["measured"] = measured_hours(args.preset, args.runs, load_measurement(args.preset, args.measured),
                                             args.gpus_per_run)
        print(f"\nMeasured on one {m['device_name']} ({m['precision']}, torch {m['torch']}, cuDNN attention "
              f"{m['cudnn_attention']}; {args.measured}): s/update as the median of the benchmark's "
              f"{m['benchmark_runs']} runs (range: fastest-slowest run), training updates only")
        print("| run | s / update | hours | range | GPU hours |\n|---|---:|---:|---:|---:|")
        for r in m["runs"]:
            if "not_measured" in r:
                print(f"| {r['run']} | not measured | | | |")
            else:
                print(f"| {r['run']} | {r['s_per_update']:.4f} | {r['hours']:,.1f} | "
                      f"{r['hours_min']:,.1f}-{r['hours_max']:,.1f} | {r['gpu_hours']:,.1f} |")
        note = f" (not measured: {', '.join(m['runs_not_measured'])})" if m["runs_not_measured"] else ""
        print(f"| all | | | | {m['total_gpu_hours']:,.1f}{note} |")
    if args.json:
        args.json.write_text(json.dumps(est, indent=1))
    return est


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
