"""The converged report's budget view (issue 40): budget.md, budget.png and probe.png.

Called by converged_report.py with its entries (summary rows plus each run's
parsed log, "_rows", its scored budget checkpoints, "_budget_scores", and its
update cost, "_cost"). Every number comes from committed results; a test
score appears only for a checkpoint that was scored on test.
"""

import statistics

from rdrop_analysis import budget
from rdrop_analysis import convergence

TARGET = dict(bleu_gap=0.3, hours=2.0, deficit=0.3)  # issue 40's target, against R-Drop and the baseline
SYSTEMS = ("baseline", "rdrop", "k_2", "k_10", "alpha_3", "simcut")  # then every schedule
NAMES = {"baseline": "Transformer", "rdrop": "R-Drop (alpha 5)", "k_2": "k = 2", "k_10": "k = 10",
         "alpha_3": "alpha 3", "simcut": "SimCut"}


def systems(entries):
    """[(config, [entries])] of the systems the budget view compares, in table order."""
    by = {}
    for e in entries:
        if e.get("_cost") and (e["config"] in SYSTEMS or e["experiment"] == "schedule"):
            by.setdefault(e["config"], []).append(e)
    order = [c for c in SYSTEMS if c in by] + sorted(c for c in by if c not in SYSTEMS)
    return [(c, sorted(by[c], key=lambda e: e["seed"])) for c in order]


def name(config):
    return NAMES.get(config, config)


def base_hours(entries):
    """The baseline's mean hours to its best checkpoint, or None."""
    hs = [e["hours_to_best"] for e in entries if e["config"] == "baseline" and e.get("hours_to_best")]
    return statistics.mean(hs) if hs else None


def test_score(e, update):
    """Test sacreBLEU of run E's checkpoint at UPDATE if it was scored, else None."""
    if update == e["best_update"]:
        return e["test_sacrebleu"]  # checkpoint_best.pt, scored by the driver
    s = (e.get("_budget_scores") or {}).get(str(update))
    return s["sacrebleu"] if s else None


def within(e, hours):
    """(update, valid BLEU, test sacreBLEU or None) of run E's best checkpoint within HOURS, or None."""
    pt = budget.best_within(convergence.valid_curve(e["_rows"]), e["_cost"], hours)
    return None if pt is None else (pt[0], pt[1], test_score(e, pt[0]))


def _mean(xs):
    return statistics.mean(xs) if xs else None


def _f(v, f=".2f"):
    return "–" if v is None else format(v, f)


def budget_rows(entries, seeds=None):
    """One dict per system: seeds, hours to best / to the baseline's best valid BLEU (x the
    baseline's), test sacreBLEU, and per budget the mean best valid BLEU within it and the
    mean test sacreBLEU of those checkpoints (None unless every seed's was scored)."""
    base = base_hours(entries)
    rows = []
    for config, es in systems(entries):
        es = [e for e in es if seeds is None or e["seed"] in seeds]
        if not es:
            continue
        row = dict(config=config, seeds=[e["seed"] for e in es],
                   test=_mean([e["test_sacrebleu"] for e in es]),
                   hours_to_best=_mean([e["hours_to_best"] for e in es]),
                   to_baseline=_mean([e["hours_to_baseline_bleu"] for e in es])
                   if all(e["hours_to_baseline_bleu"] for e in es) else None,
                   budgets={})
        for b in budget.BUDGETS:
            pts = [within(e, b * base) for e in es]
            valid = _mean([p[1] for p in pts]) if all(pts) else None
            tests = [p[2] for p in pts if p]
            scored = sum(t is not None for t in tests)
            row["budgets"][b] = dict(valid=valid, test=_mean(tests) if scored == len(es) and all(pts) else None,
                                     scored=scored, runs=len(es))
        rows.append(row)
    return rows, base


def budget_table(rows, base):
    head = ["system", "seeds", "test sacreBLEU (best)", "hours to best (x)", "hours to the baseline's best valid (x)"]
    head += [f"{b:g}x: valid / test" for b in budget.BUDGETS]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [name(r["config"]), ",".join(map(str, r["seeds"])), _f(r["test"]),
                 f"{_f(r['hours_to_best'])} ({_f(r['hours_to_best'] / base if r['hours_to_best'] else None, '.1f')})",
                 "–" if r["to_baseline"] is None else f"{r['to_baseline']:.2f} ({r['to_baseline'] / base:.1f})"]
        for b in budget.BUDGETS:
            c = r["budgets"][b]
            test = _f(c["test"]) if c["test"] is not None else (
                "not scored" if c["valid"] is not None and c["scored"] == 0 else
                f"{c['scored']}/{c['runs']} scored" if c["valid"] is not None else "–")
            cells.append(f"{_f(c['valid'])} / {test}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def deficit_at_equal_hours(sched, base):
    """(largest deficit of SCHED's mean valid BLEU below the baseline's at equal hours, its hours),
    over the hours both mean curves cover; the baseline's curve is interpolated linearly
    between its validations (a comparison of curves, never a test score)."""
    def mean_curve(es):
        curves = [dict(convergence.valid_curve(e["_rows"])) for e in es]
        common = sorted(set.intersection(*(set(c) for c in curves)))
        return [(budget.hours_at(u, es[0]["_cost"]), statistics.mean(c[u] for c in curves)) for u in common]

    s, b = mean_curve(sched), mean_curve(base)
    worst = None
    for h, v in s:
        if not b or h < b[0][0] or h > b[-1][0]:
            continue
        j = next(i for i in range(len(b)) if b[i][0] >= h)
        ref = b[j][1] if b[j][0] == h or j == 0 else \
            b[j - 1][1] + (b[j][1] - b[j - 1][1]) * (h - b[j - 1][0]) / (b[j][0] - b[j - 1][0])
        if worst is None or ref - v > worst[0]:
            worst = (ref - v, h)
    return worst


def target_lines(entries, rows, base):
    """Issue 40's target, system by system (schedules and k-step)."""
    rd = next((r for r in rows if r["config"] == "rdrop"), None)
    base_es = [e for e in entries if e["config"] == "baseline"]
    out = []
    for r in rows:
        if r["config"] in ("baseline", "rdrop"):
            continue
        es = [e for e in entries if e["config"] == r["config"]]
        gap = None if rd is None else r["test"] - rd["test"]
        x = r["hours_to_best"] / base if r["hours_to_best"] else None
        worst = deficit_at_equal_hours(es, base_es) if base_es else None
        ok = [gap is not None and gap >= -TARGET["bleu_gap"], x is not None and x <= TARGET["hours"],
              worst is not None and worst[0] <= TARGET["deficit"]]
        seeds_note = "" if set(r["seeds"]) >= {1, 2, 3} else f" (seed {','.join(map(str, r['seeds']))} only: " \
                                                               "the target is judged over seeds 1-3)"
        out.append(f"- **{name(r['config'])}**{seeds_note}: test {_f(r['test'])} vs R-Drop's "
                   f"{_f(rd['test'] if rd else None)} ({'+' if gap is not None and gap >= 0 else ''}{_f(gap)}; "
                   f"{'met' if ok[0] else 'not met'}); best at {_f(x, '.1f')}x the baseline's hours "
                   f"({'met' if ok[1] else 'not met'}); largest valid-BLEU deficit to the baseline at equal hours "
                   + ("–" if worst is None else f"{worst[0]:.2f} at {worst[1]:.2f} h") +
                   f" ({'met' if ok[2] else 'not met'}). **{'All three met' if all(ok) else 'Target not reached'}**.")
    return out


COST_ROWS = (("baseline", "Transformer"), ("probe", "Transformer + probe (--rdrop-probe-interval 100)"),
             ("rdrop", "R-Drop"), ("share", "R-Drop, --rdrop-share-encoder"), ("k_2", "k = 2"))


def cost_table(speed):
    """Seconds per update of the budget's configurations (speed.json), x the baseline's."""
    rows = [(label, speed[c]) for c, label in COST_ROWS if c in speed]
    if "baseline" not in speed or not rows:
        return ""
    lines = ["| configuration | s / update | x baseline |", "|---|---:|---:|"]
    lines += [f"| {label} | {v:.3f} | {v / speed['baseline']:.2f} |" for label, v in rows]
    return "\n".join(lines) + "\n"


def budget_md(entries, speed_note, speed=None):
    rows, base = budget_rows(entries)
    out = ["# R-Drop at the baseline's budget (issue 40)", "",
           "Generated by `scripts/converged_report.py` from the committed runs; do not edit.", ""]
    if base is None:
        return "\n".join(out + ["No baseline run with a measured cost yet.", ""])
    out += [f"Budget unit: the baseline's mean hours to its best checkpoint, **{base:.2f} h** "
            f"({speed_note}). A schedule's hours count its plain updates at the baseline's cost and its "
            "R-Drop updates at R-Drop's (or the shared-encoder R-Drop's); k-step averages them.", "",
            "Each budget cell: the best valid BLEU within the budget (mean over the seeds) / the **test** "
            "sacreBLEU of that checkpoint, only where it was scored: the driver scores the checkpoint best "
            "within each budget (`scripts/budget.py`); runs trained before it kept them are scored only where "
            "that checkpoint is their final best. Nothing is interpolated.", "",
            ]
    if speed and cost_table(speed):
        out += ["Cost per update, measured alone (`speed.json`; configurations added later enter as their "
                "ratio to the baseline measured beside them, its `added` records):", "", cost_table(speed)]
    out += ["## All seeds", "", budget_table(rows, base)]
    s1, _ = budget_rows(entries, seeds={1})
    out += ["## Seed 1 of every system (matched)", "", budget_table(s1, base)]
    out += ["## The target", "",
            f"Test sacreBLEU within {TARGET['bleu_gap']} of R-Drop's over seeds 1-3, the best checkpoint within "
            f"{TARGET['hours']:g}x the baseline's hours, and valid BLEU never more than {TARGET['deficit']} below "
            "the baseline's at equal hours (mean curves):", ""]
    out += target_lines(entries, rows, base) + [""]
    out += ["Figures: [budget.png](budget.png) (valid BLEU against training hours), "
            "[probe.png](probe.png) (the dropout probe along the baseline's valid loss and BLEU).", ""]
    return "\n".join(out)


def schedules_by_budget(entries, rows):
    """The schedules' ROWS, highest mean valid BLEU within the target budget first (none last)."""
    scheds = [r for r in rows if any(e["config"] == r["config"] and e["experiment"] == "schedule" for e in entries)]
    return sorted(scheds, key=lambda r: -(r["budgets"][TARGET["hours"]]["valid"] or float("-inf")))


def best_schedule(entries, rows, base):
    """The schedule with the highest mean valid BLEU within the target budget, or None."""
    cands = [r for r in schedules_by_budget(entries, rows) if r["budgets"][TARGET["hours"]]["valid"] is not None]
    return cands[0]["config"] if cands else None


def budget_figure(entries, out, speed_note, band):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, base = budget_rows(entries)
    if base is None:
        return False
    chosen = [c for c in ("baseline", "rdrop", "k_2", best_schedule(entries, rows, base)) if c]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for i, config in enumerate(chosen):
        es = [e for e in entries if e["config"] == config and e.get("_cost")]
        if not es:
            continue
        curves = [dict(convergence.valid_curve(e["_rows"])) for e in es]
        us, mean, lo, hi = band(curves)
        hs = [budget.hours_at(u, es[0]["_cost"]) for u in us]
        ax.plot(hs, mean, color=f"C{i}", lw=1.8, label=f"{name(config)} (mean of {len(es)})")
        if len(es) > 1:
            ax.fill_between(hs, lo, hi, color=f"C{i}", alpha=0.2, lw=0)
        for e in es:
            ax.plot(e["hours_to_best"], e["best_valid_bleu"], marker="*", ms=10, ls="", color=f"C{i}")
    for b in budget.BUDGETS:
        ax.axvline(b * base, color="grey", lw=0.7, ls=":")
        ax.text(b * base, ax.get_ylim()[0], f" {b:g}x", fontsize=8, color="dimgrey", va="bottom")
    ax.set_xlabel("training hours")
    ax.set_ylabel("valid BLEU (beam 5, detok.)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower right")
    ax.set_title("Valid BLEU against training hours; band = min-max over seeds, * = best checkpoint; "
                 "dotted = budgets (x the baseline's mean hours to best)", fontsize=9)
    fig.text(0.5, 0.005, speed_note, ha="center", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def probe_figure(entries, out, band):
    """probe_kl of the probe runs (train_inner records) above the baselines' valid loss and BLEU."""
    probes = [e for e in entries if e["config"] == "probe"]
    if not probes:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for e in probes:
        pts = [(r["num_updates"], r["probe_kl"]) for r in e["_rows"] if r["split"] == "train_inner" and "probe_kl" in r]
        axes[0].plot(*zip(*pts), marker=".", label=f"{e['name']}: probe_kl (sym. KL per token, bits)")
    bases = [e for e in entries if e["config"] == "baseline"]
    for ax, metric, label in ((axes[1], "loss", "valid loss (bits / token)"), (axes[2], "bleu", "valid BLEU")):
        for e in probes:
            ax.plot(*zip(*convergence.valid_curve(e["_rows"], metric)), color="C0", label=e["name"])
        if bases:
            us, mean, lo, hi = band([dict(convergence.valid_curve(e["_rows"], metric)) for e in bases])
            ax.plot(us, mean, color="grey", ls="--", label=f"baseline (mean of {len(bases)})")
            ax.fill_between(us, lo, hi, color="grey", alpha=0.2, lw=0)
        ax.set_ylabel(label)
    for ax in axes:
        for e in probes:
            ax.axvline(e["best_update"], color="C3", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("probe_kl")
    axes[2].set_xlabel("updates (dotted: the probe run's best checkpoint)")
    fig.suptitle("The dropout probe (--rdrop-probe-interval 100) along the baseline's valid loss and BLEU")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True
