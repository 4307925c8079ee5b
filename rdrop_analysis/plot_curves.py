#!/usr/bin/env python
"""Training curves of several runs on one figure (the R-Drop paper's Figure 2
layout): valid BLEU and valid loss against updates and against wall-clock, and
training loss against updates.

    python scripts/plot_curves.py baseline=work/repro/baseline/train.log \
        rdrop=work/repro/rdrop/train.log --out docs/results/curves.png
"""

import argparse
from pathlib import Path

from rdrop_analysis.parse_logs import load_runs

PANELS = [
    ("valid", "num_updates", "bleu", "valid BLEU (beam 5)", "updates"),
    ("valid", "elapsed_s", "bleu", "valid BLEU (beam 5)", "wall-clock (min)"),
    ("valid", "num_updates", "loss", "valid loss (bits / token)", "updates"),
    ("valid", "elapsed_s", "loss", "valid loss (bits / token)", "wall-clock (min)"),
    ("train_inner", "num_updates", "nll_loss", "train NLL per copy (bits / token)", "updates"),
    ("train_inner", "num_updates", "kl_loss", "train symmetric KL (bits / token)", "updates"),
]


def plot(runs, out, title=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(11, 11))
    for ax, (split, x, y, ylabel, xlabel) in zip(axes.flat, PANELS):
        drawn = False
        for i, (name, rows) in enumerate(runs.items()):
            pts = [(r[x], r[y]) for r in rows if r["split"] == split and y in r]
            if not pts:
                continue
            xs, ys = zip(*pts)
            if x == "elapsed_s":
                xs = [v / 60 for v in xs]
            ax.plot(xs, ys, marker="o" if split == "valid" else None, ms=3, lw=1.5,
                    label=name, color=f"C{i}")  # one colour per run in every panel
            drawn = True
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=9)
        else:
            ax.text(0.5, 0.5, "not logged by these runs", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="NAME=LOG", help="run name and its fairseq-train log")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--title", help="figure title")
    args = p.parse_args(argv)
    runs = {name: rows for name, (_, rows) in load_runs(p, args.runs).items()}
    plot(runs, args.out, args.title)
    print(f"plot_curves: wrote {args.out}")


if __name__ == "__main__":
    main()
