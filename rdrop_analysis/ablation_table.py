#!/usr/bin/env python
"""Ablation table and plot from score.sh's bleu.json files.

    python scripts/ablation_table.py alpha=1=runs/alpha_1/test/bleu.json \
        alpha=3=runs/alpha_3/test/bleu.json ... --md ablation.md --png ablation.png

Each argument is PARAM=VALUE=BLEU_JSON. Prints a markdown table (test sacreBLEU
and tokenized BLEU per value, best in bold) and draws both against the value.
"""

import argparse
import json
from pathlib import Path


def load(specs):
    rows = []
    for spec in specs:
        parts = spec.split("=", 2)
        if len(parts) != 3 or not Path(parts[2]).is_file():
            raise SystemExit(f"ablation_table: expected PARAM=VALUE=BLEU_JSON with an existing file, got {spec!r}")
        param, value, path = parts
        res = json.loads(Path(path).read_text())
        rows.append({"param": param, "value": float(value), **res})
    if len({r["param"] for r in rows}) != 1:
        raise SystemExit("ablation_table: all arguments must sweep the same PARAM")
    return sorted(rows, key=lambda r: r["value"])


def markdown(rows):
    param = rows[0]["param"]
    best = max(r["sacrebleu"] for r in rows)
    lines = [f"| {param} | test sacreBLEU | tokenized BLEU |", "|---:|---:|---:|"]
    for r in rows:
        sb = f"**{r['sacrebleu']:.2f}**" if r["sacrebleu"] == best else f"{r['sacrebleu']:.2f}"
        lines.append(f"| {r['value']:g} | {sb} | {r['tokenized_bleu']:.2f} |")
    lines.append("")
    lines.append(f"sacreBLEU signature: `{rows[0].get('sacrebleu_signature', '?')}`")
    return "\n".join(lines) + "\n"


def plot(rows, out, title=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["value"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [r["sacrebleu"] for r in rows], marker="o", label="sacreBLEU (detok.)")
    ax.plot(xs, [r["tokenized_bleu"] for r in rows], marker="s", label="tokenized BLEU")
    ax.set_xlabel(rows[0]["param"])
    ax.set_ylabel("test BLEU")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="PARAM=VALUE=BLEU_JSON")
    p.add_argument("--md", help="write the markdown table here")
    p.add_argument("--png", help="write the plot here")
    p.add_argument("--title", help="the plot's title")
    args = p.parse_args(argv)
    rows = load(args.results)
    table = markdown(rows)
    print(table)
    if args.md:
        Path(args.md).write_text(table)
    if args.png:
        plot(rows, args.png, args.title)
    return rows


if __name__ == "__main__":
    main()
