"""The converged protocol's figures: Figure 2, the ablation plots, the sweep curves."""

import statistics

from rdrop_analysis import convergence
from rdrop_analysis.converged_report.stats import ablation_points, band, seed_matched
from rdrop_analysis.converged_report.tables import ABLATIONS, COMPARISONS, comparison_rows


def figure2(entries, out, speed_note):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, metric, label in ((0, "bleu", "valid BLEU (beam 5, detok.)"), (1, "loss", "valid loss (bits / token)")):
        for i, (config, name) in enumerate((("baseline", "Transformer"), ("rdrop", "+ R-Drop (alpha 5)"))):
            es = [e for e in entries if e["config"] == config]
            if not es:
                continue
            curves = [dict(convergence.valid_curve(e["_rows"], metric)) for e in es]
            us, mean, lo, hi = band(curves)
            spu = es[0]["s_per_update"]
            for row, scale, xlabel in ((0, 1, "updates"), (1, (spu or 0) / 3600, "training hours")):
                ax = axes[row][col]
                if row == 1 and not spu:
                    continue
                xs = [u * scale for u in us]
                ax.plot(xs, mean, color=f"C{i}", lw=1.8, label=f"{name} (mean of {len(es)})")
                if len(es) > 1:
                    ax.fill_between(xs, lo, hi, color=f"C{i}", alpha=0.2, lw=0)
                    for c in curves:  # each seed to its own end (the mean stops at the shortest)
                        ax.plot([u * scale for u in sorted(c)], [c[u] for u in sorted(c)],
                                color=f"C{i}", lw=0.6, alpha=0.5)
                ax.set_xlabel(xlabel)
                ax.set_ylabel(label)
                ax.grid(alpha=0.3)
                ax.legend(fontsize=9)
    fig.suptitle("Multi30k De→En (converged protocol): thick = mean over seeds, band = min–max "
                 "(to the shortest run's end); thin = each seed")
    fig.text(0.5, 0.005, speed_note, ha="center", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def ablation_plot(entries, param, title, select, value, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = ablation_points(entries, select, value)
    if len(pts) < 2:
        return False
    xs = list(pts)
    matched, seeds = seed_matched(pts)  # lines: the seeds every value has, as claims.md
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, marker in (("test_sacrebleu", "test sacreBLEU (detok.)", "o"),
                               ("test_tokenized_bleu", "test tokenized BLEU", "s"),
                               ("best_valid_bleu", "best valid BLEU", "^")):
        ax.plot(xs, [statistics.mean(e[key] for e in matched[x]) for x in xs], marker=marker, label=label)
    extra = [(x, e["test_sacrebleu"]) for x in xs for e in pts[x] if e not in matched[x]]
    if extra:
        ax.scatter(*zip(*extra), marker="x", color="tab:blue", alpha=0.5, label="test sacreBLEU, other seeds")
    base = [e["test_sacrebleu"] for e in entries if e["config"] == "baseline"]
    if base:
        ax.axhline(statistics.mean(base), color="grey", ls="--", lw=1,
                   label=f"baseline test sacreBLEU (mean of {len(base)} seed{'s' if len(base) > 1 else ''})")
    ax.set_xlabel(param)
    ax.set_xticks(xs)
    ax.set_ylabel("BLEU")
    ax.set_title(f"{title} (converged runs"
                 + (f", seed {', '.join(map(str, seeds))})" if seeds else ")"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- main
def sweep_groups(entries, param):
    """[(label, entries)] of the curves figure for a sweep ('alpha', 'k') or a comparison's
    key ('realformer', 'cutoff').

    The sweeps: one line per value at the seeds every value has (claims.md's
    comparison), plus the same seeds' baseline for reference. A comparison: each of its
    systems that has runs (e.g. the transformer and RealFormer, each with and without
    R-Drop), at the seeds all of them have."""
    comparison = next((c for c in COMPARISONS if c[0] == param), None)
    if comparison:
        rows = comparison_rows(entries, comparison[2])
        if len(rows) < 2:
            return []
        matched, _ = seed_matched(dict(rows))
        return list(matched.items())
    _, _, select, value = next(a for a in ABLATIONS if a[0] == param)
    pts = ablation_points(entries, select, value)
    if len(pts) < 2:
        return []
    matched, seeds = seed_matched(pts)
    groups = [(f"{param} = {v:g}", es) for v, es in matched.items()]
    base = [e for e in entries if e["config"] == "baseline" and (seeds is None or e["seed"] in seeds)]
    return groups + ([("Transformer (no R-Drop)", base)] if base else [])


def sweep_curves(groups, title, out, speed_note):
    """Valid BLEU along updates and along training hours, one line per group (its mean)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, (label, es) in enumerate(groups):
        curves = [dict(convergence.valid_curve(e["_rows"])) for e in es]
        us, mean, _, _ = band(curves)
        spu = es[0]["s_per_update"]
        style = dict(color="grey", ls="--") if label.startswith("Transformer (no") else dict(color=f"C{i}")
        seeds = ", ".join(str(e["seed"]) for e in es)
        for ax, scale in ((axes[0], 1), (axes[1], spu / 3600 if spu else None)):
            if scale is None:
                continue
            ax.plot([u * scale for u in us], mean, lw=1.5, label=f"{label} (seed {seeds})", **style)
            for e in es:  # fairseq's checkpoint_best: what the run is tested with
                ax.plot(e["best_update"] * scale, e["best_valid_bleu"], marker="*", ms=10, ls="",
                        color=style["color"])
    for ax, xlabel in ((axes[0], "updates"), (axes[1], "training hours")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("valid BLEU (beam 5, detok.)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: valid BLEU to convergence (mean over the seeds shown; * = the best "
                 "checkpoint, which is tested)")
    fig.text(0.5, 0.005, speed_note, ha="center", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    fig.savefig(out, dpi=110)
    plt.close(fig)

