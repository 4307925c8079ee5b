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

    python scripts/benchmark_protocol.py --configs baseline rdrop k_2 k_5 k_10 \
        --repeats 3 --add-to docs/results/converged/speed.json

adds configurations to an earlier measurement instead of measuring all again:
each new configuration enters as its ratio to the baseline measured in this
run times the baseline's figure in the file (the machine's speed drifts between
sessions; a ratio within one run does not), and configurations the file already
has are measured again only as a check, printed and kept beside, never replacing.
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
REFERENCE = "baseline"  # --add-to enters new configurations as ratios to it


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


def add_measurements(existing, medians, runs, reference, meta):
    """EXISTING speed.json with MEDIANS' configurations it lacks added, each as
    its ratio to REFERENCE (measured in the same run) times EXISTING's REFERENCE.
    Configurations EXISTING has are kept; their new figure, scaled alike, is
    recorded as a check. Returns a new dict; meta (date, command, ...) goes with
    the record of this addition under "added"."""
    if reference not in medians:
        raise ValueError(f"--configs: {reference!r} must be measured too, as the reference of --add-to")
    if reference not in existing.get("s_per_update", {}):
        raise ValueError(f"--add-to: the file has no {reference!r} figure to scale by")
    scale = existing["s_per_update"][reference] / medians[reference]
    out = json.loads(json.dumps(existing))
    new = [c for c in medians if c not in out["s_per_update"]]
    for c in new:
        out["s_per_update"][c] = medians[c] * scale
        out.setdefault("runs", {})[c] = [t * scale for t in runs[c]]
    check = {c: {"file": existing["s_per_update"][c], "this_run_scaled": medians[c] * scale}
             for c in medians if c in existing["s_per_update"] and c != reference}
    out.setdefault("added", []).append(dict(
        meta, configs=new, reference=reference, scale=scale,
        s_per_update_this_run=medians, runs_this_run=runs, check=check))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=CONFIGS,
                   help=f"converged.sh configurations (default: {' '.join(CONFIGS)}); alpha_A costs "
                        "what rdrop costs, and the report derives k_K from baseline and rdrop")
    p.add_argument("--updates", type=int, default=50, help="updates per process (default 50)")
    p.add_argument("--repeats", type=int, default=2, help="processes per configuration (default 2)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP threads (default: all cores)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--add-to", metavar="JSON",
                   help="add the configurations this earlier speed.json lacks, as ratios to the baseline "
                        "measured in the same run (baseline must be among --configs); rewrites the file")
    args = p.parse_args(argv)
    if args.updates < 2 * INTERVAL:
        p.error(f"--updates: expected at least {2 * INTERVAL}, got {args.updates}")
    if args.repeats < 1 or args.threads < 1:
        p.error("--repeats and --threads: expected whole numbers >= 1")
    existing = None
    if args.add_to:
        if args.json:
            p.error("--add-to and --json: give one (--add-to rewrites its file)")
        try:
            existing = json.loads(Path(args.add_to).read_text())
        except (OSError, ValueError) as e:
            p.error(f"--add-to: cannot read {args.add_to}: {e}")
        if REFERENCE not in args.configs:
            p.error(f"--configs: {REFERENCE!r} must be measured too, as the reference of --add-to")
        if REFERENCE not in existing.get("s_per_update", {}):
            p.error(f"--add-to: the file has no {REFERENCE!r} figure to scale by")  # before minutes of measuring
        if existing.get("threads") != args.threads:
            p.error(f"--threads: {args.threads}, but {args.add_to} was measured with {existing.get('threads')} "
                    "(ratios differ with the thread count)")
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
    ref = med.get(REFERENCE, next(iter(med.values())))
    print(f"| configuration | s / update (median of {args.repeats}) | x baseline |")
    print("|---|---:|---:|")
    for c in args.configs:
        print(f"| {c} | {med[c]:.3f} | {med[c] / ref:.2f} |")
    meta = {
        "threads": args.threads, "updates": args.updates,
        "repeats": args.repeats, "measured_from": "fairseq train_inner ups, first interval left out",
        "command": "python scripts/benchmark_protocol.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "nproc": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
    }
    if existing is not None:
        result = add_measurements(existing, med, times, REFERENCE, meta)
        for c, v in result["added"][-1]["check"].items():
            print(f"check: {c}: {v['this_run_scaled']:.3f} s/update here (scaled) vs {v['file']:.3f} in the file")
        Path(args.add_to).write_text(json.dumps(result, indent=1) + "\n")
        return result
    result = dict({"s_per_update": med, "runs": times}, **meta)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
