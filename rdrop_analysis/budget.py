#!/usr/bin/env python
"""Training hours and fixed budgets of the converged protocol (issue 40).

A run's hours after U updates are the sum of its updates' costs, each measured
alone (speed.json, scripts/benchmark_protocol.py): a schedule's plain updates
before its start cost what the baseline's cost, the ones after cost R-Drop's
(or the shared-encoder R-Drop's), and under k-step one update in every k is an
R-Drop one. A budget is a multiple of the baseline's mean hours to its best
checkpoint; a run's best checkpoint *within* a budget is its best valid BLEU
among the validations whose hours fit in it (ties: the later one, as fairseq's
checkpoint_best.pt).

The driver (converged.sh) keeps every best-so-far checkpoint of a run (only
those can be the best within any budget) and scores on test the ones that are
best within a budget:

    python scripts/budget.py records LOG          # updates of the best-so-far validations
    python scripts/budget.py to-score LOG --config start_600 --results docs/results/converged
                                                  # updates to score (the final best is scored anyway)

The report takes a test score only for a checkpoint that was scored: none is
interpolated.
"""

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

BUDGETS = (1.0, 1.5, 2.0, 3.0, 5.0)
EPS = 1e-9  # BLEU is logged with two decimals


class CostError(ValueError):
    pass


def schedule_parts(config):
    """The cost-relevant parts of a converged.sh configuration name: (start update,
    k, the R-Drop cost key, plain cost key), or None for a fixed-cost configuration."""
    if config.startswith("k_") and re.fullmatch(r"k_\d+", config):
        return 0, int(config[2:]), "rdrop", "baseline"
    parts = config.split("-")
    known = [re.fullmatch(r"(start|warmup|k)_(\d+)|share|lr_0[.]\d+", p) for p in parts]
    if not any(p.startswith(("start_", "warmup_", "lr_")) or p == "share" for p in parts) or not all(known):
        return None
    start, k, key = 0, 1, "rdrop"
    for p in parts:
        if p.startswith("start_"):
            start = int(p[6:])
        elif p.startswith("k_"):
            k = int(p[2:])
        elif p == "share":
            key = "share"
    return start, k, key, "baseline"


def update_cost(config, speed):
    """(seconds per plain update, seconds per update after the start, start update,
    how it is derived) for CONFIG, from speed.json's s_per_update. Raises CostError
    naming the missing measurement."""
    alias = "rdrop" if re.fullmatch(r"alpha_[\d.]+", config) else config  # alpha changes no cost
    parts = schedule_parts(config) if alias not in speed else None
    if parts is None:
        if alias not in speed:
            raise CostError(f"speed.json has no {alias!r} (scripts/benchmark_protocol.py --configs {alias})")
        return speed[alias], speed[alias], 0, "measured"
    start, k, key, plain = parts
    for need in (key, plain):
        if need not in speed:
            raise CostError(f"speed.json has no {need!r} (scripts/benchmark_protocol.py --configs {need})")
    after = ((k - 1) * speed[plain] + speed[key]) / k
    how = [f"{start} {plain} updates, then " if start else "", f"({k - 1} {plain} + 1 {key}) / {k}" if k > 1 else key]
    return speed[plain], after, start, "derived: " + "".join(how)


def hours_at(update, cost):
    """Training hours after UPDATE updates under update_cost()'s COST."""
    plain, after, start, _ = cost
    return (min(update, start) * plain + max(0, update - start) * after) / 3600


def best_within(curve, cost, hours):
    """(update, valid BLEU) of the best validation whose hours fit in HOURS (ties:
    the later), or None if none does."""
    best = None
    for u, v in curve:
        if hours_at(u, cost) > hours + EPS:
            break
        if best is None or v >= best[1] - EPS:
            best = (u, v)
    return best


def records(curve):
    """Updates of the validations that made checkpoint_best.pt (>= every earlier one)."""
    out, best = [], None
    for u, v in curve:
        if best is None or v >= best - EPS:
            out.append(u)
            best = v
    return out


def baseline_hours(baselines, speed):
    """The baseline's mean hours to its best checkpoint over BASELINES ([(curve)]), or None."""
    if not baselines or "baseline" not in speed:
        return None
    cost = update_cost("baseline", speed)
    return statistics.mean(hours_at(best_within(c, cost, float("inf"))[0], cost) for c in baselines)


def budget_points(curve, cost, base_hours, budgets=BUDGETS):
    """{budget: (update, valid BLEU) best within budget × base_hours, or None}."""
    return {b: best_within(curve, cost, b * base_hours) for b in budgets}


# ---------------------------------------------------------------- CLI (converged.sh)
def _curve(log):
    from rdrop_analysis import convergence
    from rdrop_analysis.parse_logs import parse_log

    return convergence.valid_curve(parse_log(Path(log).read_text(errors="replace"), "run"))


def _committed_baselines(results):
    from rdrop_analysis import convergence
    from rdrop_analysis.parse_logs import parse_log

    curves = []
    for d in sorted((Path(results) / "runs").glob("baseline_s*/")):
        if (d / "test_bleu.json").is_file() and (d / "train.log").is_file():
            curves.append(convergence.valid_curve(parse_log((d / "train.log").read_text(errors="replace"), d.name)))
    return curves


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("records", help="updates of the best-so-far validations in a train.log")
    r.add_argument("log")
    t = sub.add_parser("to-score", help="updates whose checkpoints are best within a budget, other than the final best")
    t.add_argument("log")
    t.add_argument("--config", required=True, help="the converged.sh configuration (e.g. start_600-share)")
    t.add_argument("--results", required=True, help="the protocol's results folder (speed.json, runs/baseline_s*)")
    a = p.parse_args(argv)
    curve = _curve(a.log)
    if a.cmd == "records":
        print(" ".join(str(u) for u in records(curve)))
        return 0
    speed_file = Path(a.results) / "speed.json"
    speed = json.loads(speed_file.read_text())["s_per_update"] if speed_file.is_file() else {}
    try:
        cost = update_cost(a.config, speed)
    except CostError as e:
        print(f"budget: --config {a.config}: {e}; no budget checkpoint is scored", file=sys.stderr)
        return 0
    base = baseline_hours(_committed_baselines(a.results), speed)
    if base is None or not curve:
        print("budget: no committed baseline run (or no validation yet); no budget checkpoint is scored",
              file=sys.stderr)
        return 0
    final = best_within(curve, cost, float("inf"))[0]
    ups = sorted({pt[0] for pt in budget_points(curve, cost, base).values() if pt and pt[0] != final})
    print(" ".join(str(u) for u in ups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
