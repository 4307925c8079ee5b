#!/usr/bin/env python
"""Seconds the resume guard (rdrop_fairseq/resume_guard.py) spends checking a
checkpoint_last.pt of a given size: a fairseq-like checkpoint of --gb GB
(model plus two Adam moments) is written to a temporary folder and checked
--repeats times (the file stays in the page cache, as after a save; a cold disk
reads the zip directory and the pickle only).

    python scripts/benchmark_resume_guard.py --gb 1 --json /tmp/guard.json
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rdrop_fairseq.resume_guard import readable


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gb", type=float, default=1.0, help="checkpoint size in GB (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="checks (default 3)")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    n = int(a.gb * 2**30 / 4 / 3 / 64)  # float32, model + 2 Adam moments, 64 tensors each
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint_last.pt"
        params = {f"p{i}": torch.zeros(n) for i in range(64)}
        torch.save({"model": params, "last_optimizer_state": {"state": {
            i: {"exp_avg": torch.zeros(n), "exp_avg_sq": torch.zeros(n)} for i in range(64)}},
            "optimizer_history": [{"num_updates": 1}]}, path)
        size = path.stat().st_size / 2**30
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            assert readable(path)[0]
            times.append(time.perf_counter() - t)
    out = {"checkpoint_gb": size, "seconds": times, "median_s": statistics.median(times)}
    print(f"| checkpoint | guard check, median of {a.repeats} |\n|---:|---:|\n| {size:.2f} GB | {out['median_s']:.3f} s |")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
