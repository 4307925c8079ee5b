#!/usr/bin/env python
"""One summary row per training run: updates, time, valid and test BLEU.

    python scripts/runs_table.py baseline=work/ablations/baseline \
        rdrop=work/ablations/alpha_5 --md runs.md --json runs.json

Each argument is NAME=RUN_DIR, where RUN_DIR holds train.sh's train.log
(fairseq --log-format json) and, once scored, score.sh's test/bleu.json
(--test-dir picks another folder than test/).
Columns: updates reached; minutes of training (fairseq's train_wall, which
leaves validation out) and seconds per update; the last and the best valid
BLEU; test sacreBLEU (detokenized) and tokenized BLEU ("-" if not scored).
"""

import argparse
import json
from pathlib import Path

from rdrop_analysis.parse_logs import load_runs


def summarize(name, rows, test=None):
    """The summary of one run from parse_log rows and score.sh's bleu.json (or None)."""
    valid = [r for r in rows if r["split"] == "valid" and "bleu" in r]
    updates = max(r["num_updates"] for r in rows)
    # fairseq resets its train_wall meter with every record it logs: the epoch
    # records' values add up to the run's training time; without an epoch
    # record yet, the train_inner intervals do.
    per_epoch = [r["train_wall"] for r in rows if r["split"] == "train" and "train_wall" in r]
    train_s = sum(per_epoch or [r["train_wall"] for r in rows
                                if r["split"] == "train_inner" and "train_wall" in r])
    return {
        "run": name,
        "updates": updates,
        "train_min": train_s / 60,
        "s_per_update": train_s / updates if updates else float("nan"),
        "last_valid_bleu": valid[-1]["bleu"] if valid else None,
        "best_valid_bleu": max(r["bleu"] for r in valid) if valid else None,
        "test_sacrebleu": test["sacrebleu"] if test else None,
        "test_tokenized_bleu": test["tokenized_bleu"] if test else None,
    }


def markdown(summaries):
    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = ["| run | updates | train min | s / update | last valid BLEU | best valid BLEU "
             "| test sacreBLEU | test tokenized BLEU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        lines.append(f"| {s['run']} | {s['updates']} | {s['train_min']:.1f} | {s['s_per_update']:.2f} "
                     f"| {num(s['last_valid_bleu'], '.2f')} | {num(s['best_valid_bleu'], '.2f')} "
                     f"| {num(s['test_sacrebleu'], '.2f')} | {num(s['test_tokenized_bleu'], '.2f')} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="NAME=RUN_DIR", help="run name and its save dir")
    p.add_argument("--md", help="write the markdown table here")
    p.add_argument("--json", help="write the summaries as JSON here")
    p.add_argument("--test-dir", default="test", help="the folder in RUN_DIR with score.sh's bleu.json")
    args = p.parse_args(argv)
    summaries = []
    for name, (run_dir, rows) in load_runs(p, args.runs, log_name="train.log").items():
        bleu = run_dir / args.test_dir / "bleu.json"
        summaries.append(summarize(name, rows, json.loads(bleu.read_text()) if bleu.is_file() else None))
    table = markdown(summaries)
    print(table, end="")
    if args.md:
        Path(args.md).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps(summaries, indent=1))
    return summaries


if __name__ == "__main__":
    main()
