#!/usr/bin/env python
"""The converged protocol's stopping rule, read off a run's valid BLEU curve.

A run has *converged* at a validation at update u when
  (a) its best valid BLEU so far came at update b <= FRACTION * u (0.7): the
      last 30% of the run brought nothing better, and
  (b) u - b >= PATIENCE updates: a plateau longer than one noisy dip (fairseq's
      --patience, counted in updates rather than validations), and
  (c) u >= MIN_UPDATES (the driver's first segment).
"Best" for (a) and (b) is the rule's *reference*: the last validation whose
BLEU beat the reference before it by at least MIN_DELTA (--min-delta; with 0,
the best valid BLEU, the last one on ties, as fairseq's checkpoint_best.pt).
A positive MIN_DELTA keeps gains below the validation's noise (a run creeping
up by 0.01-0.04 BLEU per new best) from restarting the wait: "flat" means
within MIN_DELTA. The checkpoint a run is scored with is still fairseq's
checkpoint_best.pt, the highest valid BLEU of the trained updates.

The driver (examples/translation/converged.sh) trains in segments: it asks
`next` for the update at which the rule would hold if no new best appears,
trains to exactly there (fairseq resumes from checkpoint_last.pt), and asks
again. A new best during a segment always moves that point beyond the
segment's end, so a run never trains past the validation at which the rule
first holds: the result equals that of a run stopped by the rule itself.

    python scripts/convergence.py next  RUN/train.log --min-updates 1000 --max-updates 8000
        -> "train N" | "converged U" | "cap U"
    python scripts/convergence.py assess RUN/train.log   (JSON)
"""

import argparse
import json
import math
from pathlib import Path

from rdrop_analysis.parse_logs import parse_log

FRACTION = 0.7
PATIENCE = 500
INTERVAL = 100
MIN_DELTA = 0.0
EPS = 1e-9  # BLEU is logged with two decimals: 20.11 - 20.01 (0.0999...) counts as 0.1


def valid_curve(rows, metric="bleu"):
    """[(update, value)] of the valid records, sorted by update.

    A resumed run may log the updates between its last checkpoint and a crash
    twice; the later record (the one the resumed run produced) wins."""
    by_update = {}
    for r in rows:
        if r["split"] == "valid" and metric in r:
            by_update[r["num_updates"]] = r[metric]
    return sorted(by_update.items())


def improves(v, ref, min_delta):
    return ref is None or v - ref[1] >= min_delta - EPS


def reference_point(curve, min_delta=MIN_DELTA):
    """(update, bleu) the rule counts from: the last validation that beat the
    reference before it by at least min_delta (min_delta 0: the best point)."""
    ref = None
    for u, v in curve:
        if improves(v, ref, min_delta):
            ref = (u, v)
    return ref


def best_point(curve):
    """(update, bleu) of the best valid BLEU; the last one on ties (as checkpoint_best.pt)."""
    return reference_point(curve, 0.0)


def stop_update(curve, fraction=FRACTION, patience=PATIENCE, min_updates=0, min_delta=MIN_DELTA):
    """The first validation update (>= min_updates) at which the rule holds, or None."""
    ref = None
    for u, v in curve:
        if improves(v, ref, min_delta):
            ref = (u, v)
        if u >= min_updates and ref[0] <= fraction * u and u - ref[0] >= patience:
            return u
    return None


def round_up(n, interval):
    return int(math.ceil(n / interval) * interval)


def next_target(curve, fraction=FRACTION, patience=PATIENCE, interval=INTERVAL,
                min_updates=0, min_delta=MIN_DELTA):
    """The smallest validation update (a multiple of interval, >= min_updates) at
    which the rule would hold if no better BLEU (by min_delta) came before it."""
    if not curve:
        return round_up(max(min_updates, interval), interval)
    b = reference_point(curve, min_delta)[0]
    return round_up(max(b / fraction, b + patience, min_updates, curve[-1][0] + 1), interval)


def slope_after(curve, start):
    """Least-squares slope of valid BLEU per 1,000 updates over updates >= start."""
    pts = [(u, v) for u, v in curve if u >= start]
    if len(pts) < 2:
        return None
    mu = sum(u for u, _ in pts) / len(pts)
    mv = sum(v for _, v in pts) / len(pts)
    den = sum((u - mu) ** 2 for u, _ in pts)
    return 1000 * sum((u - mu) * (v - mv) for u, v in pts) / den


def assess(rows, fraction=FRACTION, patience=PATIENCE, min_updates=0, min_delta=MIN_DELTA):
    """What the rule says of a finished (or stopped) run."""
    curve = valid_curve(rows)
    if not curve:
        return {"updates": max((r["num_updates"] for r in rows), default=0), "validations": 0,
                "best_update": None, "best_valid_bleu": None, "converged": False,
                "stop_update": None, "best_fraction": None, "slope_after_best": None,
                "min_delta": min_delta, "reference_update": None, "reference_valid_bleu": None}
    b, v = best_point(curve)
    ref = reference_point(curve, min_delta)
    last = curve[-1][0]
    stop = stop_update(curve, fraction, patience, min_updates, min_delta)
    return {
        "updates": last,
        "validations": len(curve),
        "best_update": b,
        "best_valid_bleu": v,
        "best_fraction": b / last,
        "converged": stop is not None,
        "stop_update": stop,
        # flat (~0) or falling (< 0) after the best on a converged run
        "slope_after_best": slope_after(curve, b),
        # the point the rule counted from (== the best when min_delta is 0)
        "min_delta": min_delta,
        "reference_update": ref[0],
        "reference_valid_bleu": ref[1],
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["next", "assess"], help="next: where to train to; assess: JSON verdict")
    p.add_argument("log", help="the run's fairseq-train log (--log-format json)")
    p.add_argument("--fraction", type=float, default=FRACTION,
                   help="the best must come at or before this fraction of the updates (default 0.7)")
    p.add_argument("--patience", type=int, default=PATIENCE,
                   help="updates without a better valid BLEU before a run may stop (default 500)")
    p.add_argument("--interval", type=int, default=INTERVAL, help="updates between validations (default 100)")
    p.add_argument("--min-updates", type=int, default=0, help="never stop before this many updates")
    p.add_argument("--max-updates", type=int, default=0,
                   help="'next' answers 'cap U' instead of training past this (0: no cap)")
    p.add_argument("--min-delta", type=float, default=MIN_DELTA,
                   help="valid BLEU a new best must gain over the rule's reference to restart "
                        "the wait (default 0: any new best)")
    args = p.parse_args(argv)
    if not args.min_delta >= 0:
        p.error(f"--min-delta: expected a number >= 0, got {args.min_delta}")
    if not 0 < args.fraction <= 1:
        p.error(f"--fraction: expected a number in (0, 1], got {args.fraction}")
    for name in ("patience", "min_updates", "max_updates"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')}: expected a whole number >= 0, got {getattr(args, name)}")
    if args.interval < 1:
        p.error(f"--interval: expected a whole number >= 1, got {args.interval}")
    log = Path(args.log)
    rows = parse_log(log.read_text(errors="replace"), "run") if log.is_file() else []
    if args.what == "assess":
        print(json.dumps(assess(rows, args.fraction, args.patience, args.min_updates, args.min_delta),
                         indent=1))
        return
    curve = valid_curve(rows)
    stop = stop_update(curve, args.fraction, args.patience, args.min_updates, args.min_delta)
    if stop is not None:
        print(f"converged {stop}")
        return
    target = next_target(curve, args.fraction, args.patience, args.interval, args.min_updates,
                         args.min_delta)
    done = curve[-1][0] if curve else 0
    if args.max_updates and target > args.max_updates:
        if done >= args.max_updates:
            print(f"cap {done}")
            return
        target = args.max_updates
    print(f"train {target}")


if __name__ == "__main__":
    main()
