#!/usr/bin/env python
"""fairseq-train JSON logs (``--log-format json``) -> one tidy CSV / JSON.

    python scripts/parse_logs.py baseline=work/repro/baseline/train.log \
        rdrop=work/repro/rdrop/train.log --csv curves.csv --json curves.json

One row per logged record: run, split (train_inner | train | valid),
num_updates, elapsed_s (wall-clock since the run's first log line, from the
log timestamps, so it includes validation), and every numeric field with the
split's prefix removed (valid_bleu -> bleu, train_loss -> loss).
"""

import argparse
import csv
import json
import re
import sys
from datetime import datetime
from pathlib import Path

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| \w+ \| ([\w.]+) \| (\{.*\})\s*$")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \|")
SPLITS = ("train_inner", "train", "valid")


def parse_log(text: str, run: str):
    rows, start = [], None
    for line in text.splitlines():
        stamp = STAMP.match(line)
        if stamp and start is None:
            start = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")
        m = LINE.match(line)
        if not m or m.group(2) not in SPLITS:
            continue
        split = m.group(2)
        record = json.loads(m.group(3))
        row = {"run": run, "split": split,
               "elapsed_s": (datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S") - start).total_seconds()}
        for key, value in record.items():
            name = key[len(split) + 1:] if split != "train_inner" and key.startswith(split + "_") else key
            try:
                row[name] = float(value)
            except (TypeError, ValueError):
                continue
        if "num_updates" not in row:
            continue
        row["num_updates"] = int(row["num_updates"])
        rows.append(row)
    return rows


def load_runs(parser, specs, log_name=None):
    """NAME=PATH arguments -> {name: (path, rows)}, or parser.error naming the bad one.

    PATH is a fairseq-train log, or with log_name a run directory holding it."""
    runs = {}
    what = "RUN_DIR" if log_name else "LOG"
    for spec in specs:
        name, sep, path = spec.partition("=")
        log = Path(path) / log_name if log_name else Path(path)
        if not sep or not name or not log.is_file():
            parser.error(f"runs: expected NAME={what} with an existing {log_name or 'log file'}, got {spec!r}")
        rows = parse_log(log.read_text(errors="replace"), name)
        if not rows:
            parser.error(f"runs: no JSON log records in {log} (was it trained with --log-format json?)")
        runs[name] = (Path(path), rows)
    return runs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="NAME=LOG", help="run name and its fairseq-train log")
    p.add_argument("--csv", help="write the rows as CSV")
    p.add_argument("--json", help="write the rows as JSON")
    args = p.parse_args(argv)
    rows = [row for _, got in load_runs(p, args.runs).values() for row in got]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.csv:
        keys = ["run", "split", "num_updates", "elapsed_s"]
        keys += sorted({k for r in rows for k in r} - set(keys))
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    if not args.csv and not args.json:
        json.dump(rows, sys.stdout, indent=1)
    return rows


if __name__ == "__main__":
    main()
