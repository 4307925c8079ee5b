#!/usr/bin/env python
"""The converged protocol's stopping rule, read off a run's valid BLEU curve.

A run has *converged* at a validation at update u when
  (a) its best valid BLEU so far came at update b <= FRACTION * u (0.7): the
      last 30% of the run brought nothing better, and
  (b) u - b >= PATIENCE updates: a plateau longer than one noisy dip (fairseq's
      --patience, counted in updates rather than validations), and
  (c) u >= MIN_UPDATES (the driver's first segment).
The best is the *last* update reaching the maximum, as fairseq's
checkpoint_best.pt (it is replaced on ties), so a flat top counts as
"still rising" until it is followed by PATIENCE updates of nothing better.

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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_logs import parse_log  # noqa: E402

FRACTION = 0.7
PATIENCE = 500
INTERVAL = 100


def valid_curve(rows, metric="bleu"):
    """[(update, value)] of the valid records, sorted by update.

    A resumed run may log the updates between its last checkpoint and a crash
    twice; the later record (the one the resumed run produced) wins."""
    by_update = {}
    for r in rows:
        if r["split"] == "valid" and metric in r:
            by_update[r["num_updates"]] = r[metric]
    return sorted(by_update.items())


def best_point(curve):
    """(update, bleu) of the best valid BLEU; the last one on ties."""
    best = None
    for u, v in curve:
        if best is None or v >= best[1]:
            best = (u, v)
    return best


def stop_update(curve, fraction=FRACTION, patience=PATIENCE, min_updates=0):
    """The first validation update (>= min_updates) at which the rule holds, or None."""
    best = None
    for u, v in curve:
        if best is None or v >= best[1]:
            best = (u, v)
        if u >= min_updates and best[0] <= fraction * u and u - best[0] >= patience:
            return u
    return None


def round_up(n, interval):
    return int(math.ceil(n / interval) * interval)


def next_target(curve, fraction=FRACTION, patience=PATIENCE, interval=INTERVAL,
                min_updates=0):
    """The smallest validation update (a multiple of interval, >= min_updates) at
    which the rule would hold if no better BLEU came before it."""
    if not curve:
        return round_up(max(min_updates, interval), interval)
    b = best_point(curve)[0]
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


def assess(rows, fraction=FRACTION, patience=PATIENCE, min_updates=0):
    """What the rule says of a finished (or stopped) run."""
    curve = valid_curve(rows)
    if not curve:
        return {"updates": max((r["num_updates"] for r in rows), default=0), "validations": 0,
                "best_update": None, "best_valid_bleu": None, "converged": False,
                "stop_update": None, "best_fraction": None, "slope_after_best": None}
    b, v = best_point(curve)
    last = curve[-1][0]
    stop = stop_update(curve, fraction, patience, min_updates)
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
    args = p.parse_args(argv)
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
        print(json.dumps(assess(rows, args.fraction, args.patience, args.min_updates), indent=1))
        return
    curve = valid_curve(rows)
    stop = stop_update(curve, args.fraction, args.patience, args.min_updates)
    if stop is not None:
        print(f"converged {stop}")
        return
    target = next_target(curve, args.fraction, args.patience, args.interval, args.min_updates)
    done = curve[-1][0] if curve else 0
    if args.max_updates and target > args.max_updates:
        if done >= args.max_updates:
            print(f"cap {done}")
            return
        target = args.max_updates
    print(f"train {target}")


if __name__ == "__main__":
    main()
