#!/usr/bin/env python
"""Seconds per training update of the converged protocol's configurations,
measured with their exact fairseq-train commands (converged.sh DRY_RUN), alone
on the machine. The converged report turns updates into training hours with
these figures (wall-clock taken from runs that shared the cores is noise).

    python scripts/benchmark_protocol.py --json docs/results/converged/speed.json

Each (repeat, configuration) is one fairseq-train process of --updates updates
with validation and checkpointing off, interleaved (A B C A B C ...) so that
machine noise hits every configuration alike. Its time per update is taken from
fairseq's own per-interval rates (train_inner "ups", every 10 updates), leaving
out the first interval (start-up, first allocations). Prints medians and
ratios to the baseline; writes JSON with "s_per_update" per configuration.
Run it with nothing else on the machine.
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "examples/translation/converged.sh"
CONFIGS = ["baseline", "rdrop", "passes_3", "realformer", "realformer_rdrop", "simcut", "rdrop_cutoff"]
INTERVAL = 10


def protocol_command(config, env):
    """The protocol's fairseq-train argv for CONFIG (seed 1)."""
    out = subprocess.run(["bash", str(DRIVER), f"{config}_s1"], env=dict(env, DRY_RUN="1"),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark_protocol: --configs: {config!r}: {out.stderr.strip()}")
    return shlex.split([line for line in out.stdout.splitlines() if line.startswith("fairseq-train")][0])


def with_flag(cmd, name, value=None):
    """cmd with --name [value] replacing any earlier occurrence."""
    out, i = [], 0
    while i < len(cmd):
        if cmd[i] == name:
            i += 1 if value is None else 2
            continue
        out.append(cmd[i])
        i += 1
    return out + ([name] if value is None else [name, str(value)])


def seconds_per_update(log_text):
    """Mean seconds per update over the train_inner intervals after the first."""
    rates = []
    for line in log_text.splitlines():
        if "| train_inner | " in line:
            rates.append(float(json.loads(line.split("| train_inner | ", 1)[1])["ups"]))
    if len(rates) < 2:
        raise RuntimeError("fewer than two train_inner records: raise --updates")
    return statistics.mean(1 / r for r in rates[1:])


def resolve(program):
    """program on PATH, else beside this Python (a virtual environment not on PATH)."""
    found = shutil.which(program) or shutil.which(program, path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit(f"benchmark_protocol: {program} not found on PATH nor beside {sys.executable}: "
                         "install fairseq (bash scripts/install.sh) or put .venv/bin on PATH")
    return found


def run_once(cmd, updates, threads, workdir):
    cmd = [resolve(cmd[0])] + cmd[1:]
    cmd = with_flag(cmd, "--max-update", updates)
    cmd = with_flag(cmd, "--save-dir", workdir)
    cmd = with_flag(cmd, "--log-interval", INTERVAL)
    cmd = with_flag(with_flag(cmd, "--disable-validation"), "--no-save")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark_protocol: fairseq-train failed:\n{proc.stderr[-3000:]}")
    return seconds_per_update(proc.stdout + proc.stderr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=CONFIGS,
                   help=f"converged.sh configurations (default: {' '.join(CONFIGS)}); alpha_A costs "
                        "what rdrop costs, and the report derives k_K from baseline and rdrop")
    p.add_argument("--updates", type=int, default=50, help="updates per process (default 50)")
    p.add_argument("--repeats", type=int, default=2, help="processes per configuration (default 2)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP threads (default: all cores)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    if args.updates < 2 * INTERVAL:
        p.error(f"--updates: expected at least {2 * INTERVAL}, got {args.updates}")
    if args.repeats < 1 or args.threads < 1:
        p.error("--repeats and --threads: expected whole numbers >= 1")
    env = dict(os.environ)
    prep = subprocess.run(["bash", str(DRIVER), "prepare"], env=env, capture_output=True, text=True)
    if prep.returncode != 0:
        raise SystemExit(f"benchmark_protocol: preparing the protocol's data failed:\n{prep.stderr}")
    cmds = {c: protocol_command(c, env) for c in args.configs}
    times = {c: [] for c in args.configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for c in args.configs:
                t = run_once(cmds[c], args.updates, args.threads, Path(tmp) / f"{c}_{r}")
                times[c].append(t)
                print(f"  {c} repeat {r + 1}: {t:.3f} s/update", file=sys.stderr)
    med = {c: statistics.median(v) for c, v in times.items()}
    ref = med.get("baseline", next(iter(med.values())))
    print(f"| configuration | s / update (median of {args.repeats}) | x baseline |")
    print("|---|---:|---:|")
    for c in args.configs:
        print(f"| {c} | {med[c]:.3f} | {med[c] / ref:.2f} |")
    result = {
        "s_per_update": med, "runs": times, "threads": args.threads, "updates": args.updates,
        "repeats": args.repeats, "measured_from": "fairseq train_inner ups, first interval left out",
        "command": "python scripts/benchmark_protocol.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "nproc": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
