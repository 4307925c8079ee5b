"""The converged protocol's numbers: committed runs loaded, summarized per run,
and compared (means, spreads, seed-paired differences, time to a BLEU)."""

import json
import statistics
from pathlib import Path

from rdrop_analysis import budget, convergence
from rdrop_analysis.parse_logs import parse_log


RDROP_EXPERIMENTS = ("rdrop", "kstep", "realformer_rdrop", "simcut", "rdrop_cutoff", "schedule")


EXPERIMENTS = ("baseline",) + RDROP_EXPERIMENTS[:2] + ("realformer",) + RDROP_EXPERIMENTS[2:]


# ---------------------------------------------------------------- loading
def speed_key(run):
    """The benchmark configuration whose s/update a run has (alpha changes no cost)."""
    c = run["config"]
    if c.startswith("alpha_"):
        return "rdrop"
    return c


def load(results: Path):
    runs = []
    for d in sorted((results / "runs").glob("*/")):
        if not (d / "run.json").is_file() or not (d / "test_bleu.json").is_file():
            continue  # unfinished: converged.sh writes test_bleu.json last
        run = json.loads((d / "run.json").read_text())
        rows = parse_log((d / "train.log").read_text(errors="replace"), run["name"])
        run["rows"] = rows
        run["test"] = json.loads((d / "test_bleu.json").read_text())
        scores = d / "budget_scores.json"  # the checkpoints best within a budget (scripts/budget.py)
        run["budget_scores"] = json.loads(scores.read_text())["scores"] if scores.is_file() else {}
        runs.append(run)
    speed = {}
    if (results / "speed.json").is_file():
        speed = json.loads((results / "speed.json").read_text()).get("s_per_update", {})
    return runs, speed


def population(device):
    """'cpu' or 'cuda': runs on the two draw different dropout masks under one seed."""
    return "cpu" if device == "cpu" else "cuda"


def update_cost(run, speed):
    """budget.update_cost() of RUN's configuration (plain s/update, s/update after the
    start, start update, source), or None where it is not measured."""
    if population(run.get("device", "cpu")) != "cpu":  # runs before the field: CPU
        return None  # speed.json is benchmark_protocol.py's 2-core CPU measurement
    try:
        return budget.update_cost(speed_key(run), speed)
    except budget.CostError:
        return None


def s_per_update(run, speed):
    """(seconds per update, where it comes from) of RUN's configuration, or (None, None);
    for a schedule with a late start, the seconds per update after it."""
    cost = update_cost(run, speed)
    return (cost[1], cost[3]) if cost else (None, None)


def first_reaching(curve, target):
    """The first validation update whose BLEU >= target, or None."""
    return next((u for u, v in curve if v >= target), None)


def summarize(runs, speed):
    baselines = {r["seed"]: r for r in runs if r["config"] == "baseline"}
    out = []
    for r in runs:
        curve = convergence.valid_curve(r["rows"])
        p = r["protocol"]
        a = convergence.assess(r["rows"], p.get("fraction", convergence.FRACTION),
                               p.get("patience", convergence.PATIENCE), p.get("min_updates", 0),
                               p.get("min_delta", convergence.MIN_DELTA))
        cost = update_cost(r, speed)
        spu, spu_source = (cost[1], cost[3]) if cost else (None, None)
        hours = (lambda u: budget.hours_at(u, cost)) if cost else (lambda u: None)
        base = baselines.get(r["seed"]) or (next(iter(baselines.values())) if baselines else None)
        target = convergence.best_point(convergence.valid_curve(base["rows"]))[1] if base else None
        reach = first_reaching(curve, target) if target is not None else None
        out.append({
            "name": r["name"], "config": r["config"], "experiment": r["experiment"],
            "arch": r["arch"], "alpha": r["alpha"], "k": r["k"], "passes": r["passes"],
            "seed": r["seed"], "updates": a["updates"], "validations": a["validations"],
            "best_valid_bleu": a["best_valid_bleu"], "best_update": a["best_update"],
            "converged": a["converged"], "stop_update": a["stop_update"],
            "rule_reference_update": a["reference_update"],
            "best_fraction": a["best_fraction"], "slope_after_best": a["slope_after_best"],
            "test_sacrebleu": r["test"]["sacrebleu"], "test_tokenized_bleu": r["test"]["tokenized_bleu"],
            "sacrebleu_signature": r["test"].get("sacrebleu_signature"),
            "s_per_update": spu, "s_per_update_source": spu_source,
            "rdrop_start_update": cost[2] if cost else None,
            "train_hours": hours(a["updates"]),
            "hours_to_best": hours(a["best_update"]),
            "baseline_best_valid_bleu": target,
            "updates_to_baseline_bleu": reach,
            "hours_to_baseline_bleu": hours(reach) if reach else None,
            "threads": r["threads"], "device": r.get("device", "cpu"),  # runs before the field: CPU
            "git_commit": r["git_commit"],
        })
    return out


# ---------------------------------------------------------------- tables
def fmt(v, f=".2f"):
    return "-" if v is None else format(v, f)


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None, 0
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0), len(xs)


def pm(xs, f=".2f"):
    m, s, n = mean_std(xs)
    if m is None:
        return "-"
    return f"{m:{f}}" if n == 1 else f"{m:{f}} ± {s:{f}} (n={n})"


def derived(e):
    return (e.get("s_per_update_source") or "").startswith("derived")


def paired_runs(runs_a, runs_b, key):
    """Per-seed differences b - a of key, over the seeds both lists of runs have."""
    A = {e["seed"]: e[key] for e in runs_a}
    B = {e["seed"]: e[key] for e in runs_b}
    return {s: B[s] - A[s] for s in sorted(A.keys() & B.keys())}


def paired(entries, a, b, key):
    """Per-seed differences b - a of key, over the seeds both configs have."""
    return paired_runs([e for e in entries if e["config"] == a], [e for e in entries if e["config"] == b], key)


def paired_text(d):
    """'**mean ± std** over n seed(s) (s1: ..., s2: ...)' of paired()'s differences."""
    m, s, n = mean_std(list(d.values()))
    per = ", ".join(f"s{k}: {v:+.2f}" for k, v in d.items())
    return f"**{m:+.2f}" + (f" ± {s:.2f}" if n > 1 else "") + f"** over {n} seed(s) ({per})"


def rdrop_seed_spread(entries):
    """The yardstick for differences between systems: R-Drop's test sacreBLEU std over
    its seeds (0 / None with under two seeds: no yardstick)."""
    return mean_std([e["test_sacrebleu"] for e in entries if e["config"] == "rdrop"])[1]


def ablation_points(entries, select, value):
    """{value: [entries]} of a sweep."""
    pts = {}
    for e in entries:
        if select(e):
            pts.setdefault(value(e), []).append(e)
    return dict(sorted(pts.items()))


def seed_matched(pts):
    """A sweep restricted to the seeds every one of its values has, and those seeds.

    The sweeps run at seed 1 while alpha 5 / k 1 (the headline's R-Drop) has three
    seeds: comparing seed 1's alpha 3 with a three-seed mean would set one draw
    against an average. With no seed shared by all values, every run is kept
    (and the seeds are None)."""
    shared = set.intersection(*({e["seed"] for e in es} for es in pts.values()))
    if not shared:
        return pts, None
    return {v: [e for e in es if e["seed"] in shared] for v, es in pts.items()}, sorted(shared)


def step_means(runs_a, runs_b):
    """(mean test sacreBLEU of A, of B, the step B - A, seeds) over the seeds A and B
    share, or over all their runs (seeds None) when they share none. Over shared seeds
    the step is the mean of the per-seed differences, as ablations.md's lines compute
    it, so that one step never reads +0.04 there and +0.05 here (float rounding)."""
    shared = sorted({e["seed"] for e in runs_a} & {e["seed"] for e in runs_b})
    pick = (lambda es: [e for e in es if e["seed"] in shared]) if shared else (lambda es: es)
    ma = statistics.mean(e["test_sacrebleu"] for e in pick(runs_a))
    mb = statistics.mean(e["test_sacrebleu"] for e in pick(runs_b))
    step = statistics.mean(paired_runs(runs_a, runs_b, "test_sacrebleu").values()) if shared else mb - ma
    return ma, mb, step, shared or None


def seed_list(seeds):
    if not seeds:
        return "all runs, no seed shared"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def crossover(updates, base, rdrop):
    """The first update from which R-Drop's valid BLEU is >= the baseline's at every later one."""
    cross = None
    for u in reversed(updates):
        if rdrop[u] < base[u]:
            break
        cross = u
    return cross


# ---------------------------------------------------------------- figures
def band(curves):
    """Mean, min and max over runs at the updates every run has."""
    common = sorted(set.intersection(*(set(c) for c in curves)))
    return common, [statistics.mean(c[u] for c in curves) for u in common], \
        [min(c[u] for c in curves) for u in common], [max(c[u] for c in curves) for u in common]

