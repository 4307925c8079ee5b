"""`converged_report record`: one run's run.json, written by converged.sh when a run ends."""

import argparse
import json
import re
import time
from pathlib import Path

from rdrop_analysis import convergence
from rdrop_analysis.converged_report.stats import EXPERIMENTS, RDROP_EXPERIMENTS
from rdrop_analysis.parse_logs import parse_log


# ---------------------------------------------------------------- record
def record(argv):
    p = argparse.ArgumentParser(prog="converged_report.py record")
    p.add_argument("out", help="run.json to write; train.log must be beside it")
    p.add_argument("--name", required=True)
    p.add_argument("--experiment", required=True,
                   choices=list(EXPERIMENTS))
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--extra", default="", help="extra fairseq-train flags of this configuration")
    p.add_argument("--verdict", required=True, help="convergence.py's last answer")
    p.add_argument("--started", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the run trained")
    p.add_argument("--git-commit", required=True)
    p.add_argument("--fraction", type=float, required=True)
    p.add_argument("--patience", type=int, required=True)
    p.add_argument("--min-updates", type=int, required=True)
    p.add_argument("--max-updates", type=int, required=True)
    p.add_argument("--min-delta", type=float, default=0.0,
                   help="the rule's MIN_DELTA (scripts/convergence.py --min-delta)")
    p.add_argument("--protocol", default="", help="KEY=VALUE ... of the protocol")
    p.add_argument("--protocol-flags", default="", help="the protocol's fairseq-train flags")
    p.add_argument("--score-flags", default="", help="extra fairseq-generate flags of the test scoring")
    a = p.parse_args(argv)
    if not a.min_delta >= 0:
        p.error(f"--min-delta: expected a number >= 0, got {a.min_delta}")
    out = Path(a.out)
    rows = parse_log((out.parent / "train.log").read_text(errors="replace"), a.name)
    extra = a.extra.split()
    rdrop = a.experiment in RDROP_EXPERIMENTS
    protocol = {k: _number(v) for k, v in (kv.split("=", 1) for kv in a.protocol.split())}
    protocol.update(fraction=a.fraction, patience=a.patience, min_updates=a.min_updates,
                    min_delta=a.min_delta,
                    max_updates=a.max_updates, flags=a.protocol_flags, score_flags=a.score_flags)
    run = {
        "name": a.name,
        "config": re.sub(r"_s\d+$", "", a.name),
        "seed": int(a.name.rsplit("_s", 1)[1]),
        "experiment": a.experiment,
        "arch": ("transformer_realformer_iwslt_de_en" if a.experiment.startswith("realformer")
                 else "transformer_iwslt_de_en"),
        "alpha": a.alpha if rdrop else None,
        "k": a.k if rdrop else None,
        "passes": (int(extra[extra.index("--rdrop-passes") + 1]) if "--rdrop-passes" in extra
                   else 2) if rdrop else 1,
        "verdict": a.verdict,
        "assess": convergence.assess(rows, a.fraction, a.patience, a.min_updates, a.min_delta),
        "protocol": protocol,
        "threads": a.threads,
        "device": a.device if a.device == "cpu" else _gpu_name(),
        "git_commit": a.git_commit,
        "started": a.started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.write_text(json.dumps(run, indent=1) + "\n")
    print(f"converged_report: wrote {out}")


def _gpu_name():
    try:
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}"
    except Exception:  # recorded after the run: a missing name must not lose its results
        return "cuda"


def _number(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v

