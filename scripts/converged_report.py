#!/usr/bin/env python
"""Tables, figures and summary.json of the converged protocol, rebuilt from the
committed results alone (examples/translation/converged.sh writes them).

    python scripts/converged_report.py [--results docs/results/converged]

Reads RESULTS/runs/<run>/{run.json, train.log, test_bleu.json} and, if present,
RESULTS/speed.json (scripts/benchmark_protocol.py: seconds per update of each
configuration measured alone on the machine). Writes into RESULTS:
  summary.json   one entry per run: configuration, seed, updates, best valid
                 BLEU and its update, converged (scripts/convergence.py), test
                 sacreBLEU / tokenized BLEU, s/update, time to baseline BLEU
  headline.md    baseline vs R-Drop (alpha 5) over seeds: mean +- std, the
                 per-seed differences, time to the baseline's best valid BLEU
  ablations.md   alpha, k, passes and RealFormer tables (seed 1 and any others)
  claims.md      the paper's claims (1)-(4) checked against these numbers
  figure2.png    valid BLEU / valid loss against updates and against training
                 hours (updates x isolated s/update): mean over seeds, min-max band
  ablation_alpha.png, ablation_k.png
  budget.md      issue 40's budget view: best valid BLEU and the test sacreBLEU of the
                 best checkpoint within 1x-5x the baseline's hours (scripts/budget_report.py)
  budget.png, probe.png  valid BLEU against hours; the dropout probe's KL

`record` writes one run's run.json (converged.sh calls it):
    python scripts/converged_report.py record OUT/run.json --name rdrop_s1 ...
"""

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import budget  # noqa: E402
import budget_report  # noqa: E402
import convergence  # noqa: E402
from parse_logs import parse_log  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RDROP_EXPERIMENTS = ("rdrop", "kstep", "realformer_rdrop", "simcut", "rdrop_cutoff", "schedule")
EXPERIMENTS = ("baseline",) + RDROP_EXPERIMENTS[:2] + ("realformer",) + RDROP_EXPERIMENTS[2:]


# ---------------------------------------------------------------- record
def record(argv):
    p = argparse.ArgumentParser(prog="converged_report.py record")
    p.add_argument("out", help="run.json to write; train.log must be beside it")
    p.add_argument("--name", required=True)
    p.add_argument("--experiment", required=True,
                   choices=list(EXPERIMENTS))
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--extra", default="", help="extra fairseq-train flags of this configuration")
    p.add_argument("--verdict", required=True, help="convergence.py's last answer")
    p.add_argument("--started", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where the run trained")
    p.add_argument("--git-commit", required=True)
    p.add_argument("--fraction", type=float, required=True)
    p.add_argument("--patience", type=int, required=True)
    p.add_argument("--min-updates", type=int, required=True)
    p.add_argument("--max-updates", type=int, required=True)
    p.add_argument("--min-delta", type=float, default=0.0,
                   help="the rule's MIN_DELTA (scripts/convergence.py --min-delta)")
    p.add_argument("--protocol", default="", help="KEY=VALUE ... of the protocol")
    p.add_argument("--protocol-flags", default="", help="the protocol's fairseq-train flags")
    p.add_argument("--score-flags", default="", help="extra fairseq-generate flags of the test scoring")
    a = p.parse_args(argv)
    if not a.min_delta >= 0:
        p.error(f"--min-delta: expected a number >= 0, got {a.min_delta}")
    out = Path(a.out)
    rows = parse_log((out.parent / "train.log").read_text(errors="replace"), a.name)
    extra = a.extra.split()
    rdrop = a.experiment in RDROP_EXPERIMENTS
    protocol = {k: _number(v) for k, v in (kv.split("=", 1) for kv in a.protocol.split())}
    protocol.update(fraction=a.fraction, patience=a.patience, min_updates=a.min_updates,
                    min_delta=a.min_delta,
                    max_updates=a.max_updates, flags=a.protocol_flags, score_flags=a.score_flags)
    run = {
        "name": a.name,
        "config": re.sub(r"_s\d+$", "", a.name),
        "seed": int(a.name.rsplit("_s", 1)[1]),
        "experiment": a.experiment,
        "arch": ("transformer_realformer_iwslt_de_en" if a.experiment.startswith("realformer")
                 else "transformer_iwslt_de_en"),
        "alpha": a.alpha if rdrop else None,
        "k": a.k if rdrop else None,
        "passes": (int(extra[extra.index("--rdrop-passes") + 1]) if "--rdrop-passes" in extra
                   else 2) if rdrop else 1,
        "verdict": a.verdict,
        "assess": convergence.assess(rows, a.fraction, a.patience, a.min_updates, a.min_delta),
        "protocol": protocol,
        "threads": a.threads,
        "device": a.device if a.device == "cpu" else _gpu_name(),
        "git_commit": a.git_commit,
        "started": a.started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.write_text(json.dumps(run, indent=1) + "\n")
    print(f"converged_report: wrote {out}")


def _gpu_name():
    try:
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}"
    except Exception:  # recorded after the run: a missing name must not lose its results
        return "cuda"


def _number(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


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


def runs_table(entries):
    lines = ["| run | seed | updates | best valid BLEU (update) | converged (rule's reference update) "
             "| test sacreBLEU "
             "| test tokenized BLEU | s / update | training h | updates (h) to baseline's best valid |",
             "|---|---:|---:|---:|:---:|---:|---:|---:|---:|---:|"]
    for e in entries:
        reach = "-" if e["updates_to_baseline_bleu"] is None else (
            f"{e['updates_to_baseline_bleu']} ({fmt(e['hours_to_baseline_bleu'])})")
        lines.append(
            f"| {e['name']} | {e['seed']} | {e['updates']} | {fmt(e['best_valid_bleu'])} ({e['best_update']}) "
            f"| {'yes' if e['converged'] else 'no'} ({e['rule_reference_update']}) "
            f"| {fmt(e['test_sacrebleu'])} | {fmt(e['test_tokenized_bleu'])} "
            f"| {fmt(e['s_per_update'])}{'*' if derived(e) else ''} | {fmt(e['train_hours'])} | {reach} |")
    if any(derived(e) for e in entries):
        lines += ["", "\\* k-step: not measured alone; (k − 1) baseline updates and one R-Drop update "
                      "in every k, each as measured (`s_per_update_source` in summary.json)."]
    return "\n".join(lines) + "\n"


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


def headline(entries):
    base = [e for e in entries if e["config"] == "baseline"]
    rd = [e for e in entries if e["config"] == "rdrop"]
    out = ["# Headline: Transformer vs + R-Drop (alpha 5), converged runs", ""]
    protocols = {json.dumps(e["_protocol"], sort_keys=True) for e in entries}
    if len(protocols) > 1:
        out += ["**Warning: these runs were made under different protocols** (run.json's `protocol`); "
                "their numbers are not comparable.", ""]
    devices = sorted({e["device"] for e in entries})
    if len({population(d) for d in devices}) > 1:
        out += ["**Warning: these runs trained on both CPU and GPU** (run.json's `device`): under one "
                "seed the two draw different dropout masks, so they are two populations, to be reported "
                "side by side (converged.sh's RESULTS), never averaged together.", ""]
    if entries:
        out += [f"Trained on: {', '.join(devices)}.", ""]
    if not base and not rd:
        return "\n".join(out + ["No headline run has finished yet.", ""])
    out += ["| system | runs | test sacreBLEU | test tokenized BLEU | best valid BLEU | updates "
            "| training h |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, es in (("Transformer", base), ("+ R-Drop", rd)):
        out.append(f"| {name} | {len(es)} | {pm([e['test_sacrebleu'] for e in es])} "
                   f"| {pm([e['test_tokenized_bleu'] for e in es])} | {pm([e['best_valid_bleu'] for e in es])} "
                   f"| {pm([e['updates'] for e in es], '.0f')} | {pm([e['train_hours'] for e in es])} |")
    out.append("")
    for key, label in (("test_sacrebleu", "test sacreBLEU"), ("test_tokenized_bleu", "test tokenized BLEU"),
                       ("best_valid_bleu", "best valid BLEU")):
        d = paired(entries, "baseline", "rdrop", key)
        if d:
            out.append(f"- R-Drop − baseline, {label}: {paired_text(d)}; "
                       f"range {min(d.values()):+.2f} to {max(d.values()):+.2f}")
    out.append("")
    out.append("Every run (time to the baseline's best valid BLEU: the same seed's baseline):")
    out.append("")
    out.append(runs_table(base + rd))
    sig = next((e["sacrebleu_signature"] for e in entries if e["sacrebleu_signature"]), None)
    if sig:
        out.append(f"sacreBLEU signature: `{sig}`")
    return "\n".join(out) + "\n"


# The values the issue's sweeps cover (converged.sh's ABLATIONS plus the headline's
# alpha 5 / k 1): a claim is final only when all of them have finished.
PLANNED = {"alpha": (0, 1, 3, 5, 7, 10), "k": (1, 2, 5, 10)}
ABLATIONS = [
    ("alpha", "R-Drop alpha (k = 1)", lambda e: e["experiment"] == "rdrop" and e["passes"] == 2,
     lambda e: e["alpha"]),
    ("k", "k-step R-Drop, alpha 5", lambda e: e["experiment"] in ("rdrop", "kstep") and e["alpha"] == 5
     and e["passes"] == 2, lambda e: e["k"]),
    ("passes", "R-Drop copies m, alpha 5", lambda e: e["experiment"] == "rdrop" and e["alpha"] == 5
     and e["k"] == 1, lambda e: e["passes"]),
]


# Other systems next to the transformer and R-Drop: (key of its curves_<key>.png, title,
# ((config, label), ...), ((reference, system), ...): the per-seed differences
# system - reference to print)
COMPARISONS = (
    ("realformer", "RealFormer with and without R-Drop",
     (("baseline", "Transformer"), ("realformer", "RealFormer"),
      ("rdrop", "Transformer + R-Drop"), ("realformer_rdrop", "RealFormer + R-Drop")),
     (("baseline", "realformer"), ("rdrop", "realformer_rdrop"), ("realformer", "realformer_rdrop"))),
    # SimCut runs at its paper's alpha 3: R-Drop at alpha 3 is its like-for-like reference
    ("cutoff", "Cutoff and SimCut",
     (("baseline", "Transformer"), ("rdrop", "R-Drop (alpha 5)"), ("alpha_3", "R-Drop (alpha 3)"),
      ("rdrop_cutoff", "R-Drop + Cutoff (alpha 5, cutoff 0.05)"),
      ("simcut", "SimCut (alpha 3, cutoff 0.05)")),
     (("rdrop", "rdrop_cutoff"), ("rdrop", "simcut"), ("alpha_3", "simcut"), ("simcut", "rdrop_cutoff"))),
)


def comparison_differences(entries, systems, pairs, spread):
    """Lines: each pair's per-seed test sacreBLEU difference over the seeds both systems
    have, its mean ± std, and whether the mean is inside R-Drop's seed spread (a
    difference between two systems' means says little when it is smaller than the
    noise between seeds of one system)."""
    labels = dict(systems)
    out = []
    for a, b in pairs:
        d = paired(entries, a, b, "test_sacrebleu")
        if d:
            out.append(difference_line(f"{labels[b]} − {labels[a]}", d, spread))
    return out


def difference_line(label, d, spread):
    """'- label, test sacreBLEU: mean ± std over n seed(s) (...); inside/outside R-Drop's
    seed spread' of paired()'s test sacreBLEU differences."""
    noise = ""
    if spread:
        inside = abs(statistics.mean(d.values())) < spread
        noise = f"; {'inside' if inside else 'outside'} R-Drop's seed spread (std {spread:.2f})"
    return f"- {label}, test sacreBLEU: {paired_text(d)}{noise}"


def comparison_rows(entries, systems):
    """[(label, runs)] of a comparison's systems that have runs; [] while none of its
    own systems (other than the transformer and R-Drop) has a finished run."""
    rows = [(label, [e for e in entries if e["config"] == c]) for c, label in systems]
    if not any(es for (_, es), (c, _) in zip(rows, systems) if c not in ("baseline", "rdrop")):
        return []
    return [(label, es) for label, es in rows if es]


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


def sweep_differences(pts, param, spread):
    """Lines: each sweep value's per-seed test sacreBLEU difference from the headline's
    R-Drop value (alpha 5, k 1, m 2), over the seeds both have; a run cut before
    converging is named, its difference a lower bound."""
    ref = next((v for v, es in pts.items() if any(e["config"] == "rdrop" for e in es)), None)
    if ref is None:
        return []
    out = []
    for v, es in pts.items():
        d = paired_runs(pts[ref], es, "test_sacrebleu") if v != ref else None
        if d:
            cut = [e["name"] for e in es if e["seed"] in d and not e["converged"]]
            out.append(difference_line(f"{param} {v:g} − {param} {ref:g}", d, spread)
                       + (f"; {', '.join(cut)} cut before converging (a lower bound)" if cut else ""))
    if out:
        out = ["", f"Differences from {param} {ref:g} (the headline's R-Drop) at the seeds both have:", ""] + out
    return out


def ablations(entries):
    out = ["# Ablations at convergence", ""]
    spread = rdrop_seed_spread(entries)
    for param, title, select, value in ABLATIONS:
        pts = ablation_points(entries, select, value)
        if len(pts) < 2:
            continue
        best = max(statistics.mean(e["test_sacrebleu"] for e in es) for es in pts.values())
        out += [f"## {title}", "", f"| {param} | runs (seeds) | test sacreBLEU | test tokenized BLEU "
                "| best valid BLEU | updates | converged |", "|---:|---|---:|---:|---:|---:|:---:|"]
        for v, es in pts.items():
            sb = pm([e["test_sacrebleu"] for e in es])
            if statistics.mean(e["test_sacrebleu"] for e in es) == best:
                sb = f"**{sb}**"
            out.append(f"| {v:g} | {', '.join(e['name'] for e in es)} | {sb} "
                       f"| {pm([e['test_tokenized_bleu'] for e in es])} | {pm([e['best_valid_bleu'] for e in es])} "
                       f"| {pm([e['updates'] for e in es], '.0f')} "
                       f"| {'/'.join('yes' if e['converged'] else 'no' for e in es)} |")
        matched, seeds = seed_matched(pts)
        if seeds and matched != pts and param in PLANNED:
            out += ["", f"(Each value over all its seeds. [claims.md](claims.md) and the figure compare "
                        f"the values at seed(s) {', '.join(map(str, seeds))}, which every {param} has.)"]
        out += sweep_differences(pts, param, spread)
        out.append("")
    for _, title, systems, pairs in COMPARISONS:
        rows = comparison_rows(entries, systems)
        if not rows:
            continue
        out += [f"## {title}", "", "| system | runs | test sacreBLEU "
                "| test tokenized BLEU | best valid BLEU | updates |", "|---|---|---:|---:|---:|---:|"]
        for label, es in rows:
            out.append(f"| {label} | {', '.join(e['name'] for e in es)} | {pm([e['test_sacrebleu'] for e in es])} "
                       f"| {pm([e['test_tokenized_bleu'] for e in es])} | {pm([e['best_valid_bleu'] for e in es])} "
                       f"| {pm([e['updates'] for e in es], '.0f')} |")
        diffs = comparison_differences(entries, systems, pairs, spread)
        if diffs:
            out += ["", "Differences at the seeds both systems have:", ""] + diffs
        out.append("")
    if len(out) == 2:
        out.append("No ablation run has finished yet.")
    out += ["## Every run", "", runs_table(entries)]
    return "\n".join(out) + "\n"


MOSTLY = 0.75  # claim (2)'s middle verdict: the baseline ahead at >= this share of early validations


def early_verdict(shares):
    """Claim (2)'s verdict from each seed's share of early validations where the baseline leads.

    The middle verdict exists because near-zero BLEU at the first validations is noise: seed 2
    of the protocol had R-Drop ahead only at update 200 (2.14 vs 1.79), which an all-or-nothing
    verdict called "did not hold". The exceptions are always listed next to the verdict.
    """
    if not shares:
        return "did not hold"
    if min(shares) == 1.0:
        return "held"
    return "held at most validations" if min(shares) >= MOSTLY else "did not hold"


def claims(entries):
    """The paper's claims, each with the numbers that decide it here."""
    out = ["# The paper's claims, checked at convergence", ""]
    by = lambda c: [e for e in entries if e["config"] == c]  # noqa: E731
    base, rd = by("baseline"), by("rdrop")
    spread = rdrop_seed_spread(entries)  # the yardstick for the sweeps' differences
    d = paired(entries, "baseline", "rdrop", "test_sacrebleu")
    if d:
        m, s, n = mean_std(list(d.values()))
        held = all(v > 0 for v in d.values())
        out.append(f"1. **R-Drop ends ahead of the baseline**: {'held' if held else 'did not hold'} — "
                   f"test sacreBLEU {pm([e['test_sacrebleu'] for e in rd])} vs "
                   f"{pm([e['test_sacrebleu'] for e in base])}, difference {m:+.2f}"
                   + (f" ± {s:.2f} (std)" if n > 1 else "") + f" over {n} seed(s), "
                   f"ahead on {sum(v > 0 for v in d.values())} of {n}.")
    else:
        out.append("1. R-Drop ends ahead: not measured yet (no seed with both runs).")
    parts, shares = [], []
    for s in sorted({e["seed"] for e in base} & {e["seed"] for e in rd}):
        cb = dict(convergence.valid_curve(next(e for e in base if e["seed"] == s)["_rows"]))
        cr = dict(convergence.valid_curve(next(e for e in rd if e["seed"] == s)["_rows"]))
        common = sorted(cb.keys() & cr.keys())
        if not common:
            continue
        cross = crossover(common, cb, cr)
        # "early" = every validation before R-Drop draws level for good (all of them if it never does)
        early = [u for u in common if cross is None or u < cross]
        behind = [u for u in early if cb[u] <= cr[u]]  # the exceptions, named below
        ahead = len(early) - len(behind)
        shares.append(ahead / len(early) if early else 0.0)
        text = f"seed {s}: baseline ahead at {ahead} of {len(early)} validations before "
        text += f"update {cross}" if cross else "the end"
        if early:
            u = max(early, key=lambda v: cb[v] - cr[v])  # the widest early gap, as an example
            text += f" (widest gap at {u}: {cb[u]:.2f} vs {cr[u]:.2f})"
        if behind:
            text += " except at " + ", ".join(f"{u} ({cb[u]:.2f} vs {cr[u]:.2f})" for u in behind)
        text += (f", R-Drop level or ahead at every validation from update {cross} on" if cross
                 else ", R-Drop behind at the last shared validation")
        parts.append(text)
    if parts:
        out.append(f"2. **The baseline is ahead early**: {early_verdict(shares)} — " + "; ".join(parts) + ".")
    else:
        out.append("2. Baseline ahead early: not measured yet.")
    for param, title, select, value, claim in (
            ("alpha", "BLEU peaks at a middle alpha", ABLATIONS[0][2], ABLATIONS[0][3], "middle"),
            ("k", "smaller k is better", ABLATIONS[1][2], ABLATIONS[1][3], "decreasing")):
        pts = ablation_points(entries, select, value)
        num = "3" if param == "alpha" else "4"
        if len(pts) < 3:
            out.append(f"{num}. {title}: not measured yet ({len(pts)} value(s) of {param} finished).")
            continue
        matched, seeds = seed_matched(pts)
        means = {v: statistics.mean(e["test_sacrebleu"] for e in es) for v, es in matched.items()}
        vals = list(means)
        best = max(means, key=means.get)
        missing = [v for v in PLANNED[param] if v not in means]
        # a run cut at the cap before converging still had BLEU to gain: its value is a lower bound,
        # and a claim that rests on it being below another value is not settled
        cut = {v: max(e["updates"] for e in es) for v, es in matched.items()
               if not all(e["converged"] for e in es)}
        if claim == "middle":
            held = vals[0] < best < vals[-1]
            # a best at the edge of what has finished, with planned values beyond it: not decided
            beyond = [v for v in missing if (best == vals[-1] and v > best) or (best == vals[0] and v < best)]
            # the peak needs a converged value below the best on each side of it
            sides = ([v for v in vals if v < best], [v for v in vals if v > best])
            undecided = bool(beyond) or (held and not all(any(v not in cut for v in side) for side in sides))
            close = [v for v in vals if v != best and means[best] - means[v] < spread] if spread else []
            noise = (f"; the best leads {param} = {', '.join(f'{v:g}' for v in close)} by less than R-Drop's "
                     f"seed spread (std {spread:.2f} over {len(rd)} seeds): more seeds decide it") if close else ""
        else:
            # each step between neighbouring values over the seeds both have, so that extra seeds of
            # two neighbours (the cheap k = 5 and 10 runs) decide their step without waiting for every k's
            steps = [(a, b) + step_means(pts[a], pts[b]) for a, b in zip(list(pts), list(pts)[1:])]
            inversions = [(a, b, ma, mb, st, sd) for a, b, ma, mb, st, sd in steps if st > 0]
            held = not inversions
            # an inversion smaller than R-Drop's seed spread is not evidence against the claim: open;
            # so is a step down to a value that was cut before converging
            beyond = []
            undecided = bool(inversions and spread and all(st < spread for *_, st, _ in inversions)) \
                or (held and any(b in cut for _, b, *_ in steps))
            noise = "; steps between neighbouring " + param + " over the seeds both have: " + ", ".join(
                f"{a:g}→{b:g} {st:+.2f} ({seed_list(sd)})" for a, b, _, _, st, sd in steps)
            close = [(a, b) for a, b, _, _, st, _ in steps if abs(st) < spread] if spread else []
            if close:
                noise += (f"; {len(close)} of {len(steps)} are smaller than R-Drop's seed spread "
                          f"(std {spread:.2f} over {len(rd)} seeds: {', '.join(f'{a:g}→{b:g}' for a, b in close)}): "
                          "more seeds decide them")
            if inversions:
                noise += ("; BLEU rises from " + ", ".join(f"{param} = {a:g} to {b:g} ({ma:.2f} → {mb:.2f}, "
                                                           f"{seed_list(sd)})" for a, b, ma, mb, _, sd in inversions)
                          + (", inside that spread" if undecided else ""))
        if cut:
            noise += (f"; cut at the cap before converging, so a lower bound: "
                      + ", ".join(f"{param} = {v:g} ({u} updates)" for v, u in cut.items()))
        series = ", ".join(f"{v:g}: {m:.2f}" for v, m in means.items())
        over = (f"seed(s) {', '.join(map(str, seeds))}, the seeds every {param} has" if seeds
                else "all runs (no seed shared by every value)")
        verdict = ("open" if undecided else "held" if held else "did not hold") + (" so far" if missing else "")
        pending = (f"; not finished yet: {param} = {', '.join(f'{v:g}' for v in missing)}"
                   + (f" (the best so far is at the edge of those finished, {param} = "
                      f"{', '.join(f'{v:g}' for v in beyond)} lie beyond it)" if beyond else "")) if missing else ""
        cost = ""
        if param == "k" and all(e["s_per_update"] for es in matched.values() for e in es):
            # the paper's other half of the k study: larger k is cheaper; here, the hours to the tested checkpoint
            hours = {v: statistics.mean(e["best_update"] * e["s_per_update"] / 3600 for e in es)
                     for v, es in matched.items()}
            cost = ("; training hours to the tested (best) checkpoint by k: "
                    + ", ".join(f"{v:g}: {h:.2f}" for v, h in hours.items()))
        out.append(f"{num}. **{title}**: {verdict} — test sacreBLEU by {param} "
                   f"({series}; {over}); best at {param} = {best:g}{cost}{noise}{pending}.")
    return "\n".join(out) + "\n"


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


def report(results: Path):
    runs, speed = load(results)
    entries = summarize(runs, speed)
    for e, r in zip(entries, runs):
        e["_rows"], e["_protocol"] = r["rows"], r["protocol"]
        e["_cost"], e["_budget_scores"] = update_cost(r, speed), r["budget_scores"]
    public = [{k: v for k, v in e.items() if not k.startswith("_")} for e in entries]
    (results / "summary.json").write_text(json.dumps(
        {"protocol": runs[0]["protocol"] if runs else None, "runs": public}, indent=1) + "\n")
    (results / "headline.md").write_text(headline(entries))
    (results / "ablations.md").write_text(ablations(entries))
    (results / "claims.md").write_text(claims(entries))
    wrote = ["summary.json", "headline.md", "ablations.md", "claims.md"]
    note = ("training hours = updates × seconds per update measured alone on 2 cores "
            "(scripts/benchmark_protocol.py, speed.json); validation time excluded" if speed else
            "no speed.json: the training-hours panels are left empty")
    if any(e["config"] in ("baseline", "rdrop") for e in entries):
        figure2(entries, results / "figure2.png", note)
        wrote.append("figure2.png")
    (results / "budget.md").write_text(budget_report.budget_md(entries, note, speed))
    wrote.append("budget.md")
    if speed and budget_report.budget_figure(entries, results / "budget.png", note, band):
        wrote.append("budget.png")
    if budget_report.probe_figure(entries, results / "probe.png", band):
        wrote.append("probe.png")
    for param, title, select, value in ABLATIONS[:2]:
        if ablation_plot(entries, param, title, select, value, results / f"ablation_{param}.png"):
            wrote.append(f"ablation_{param}.png")
    for param, title in [(a[0], a[1]) for a in ABLATIONS[:2]] + [(c[0], c[1]) for c in COMPARISONS]:
        groups = sweep_groups(entries, param)
        if groups:
            sweep_curves(groups, title, results / f"curves_{param}.png",
                         note + ("; k-step: derived from the baseline's and R-Drop's"
                                        if param == "k" and any(derived(e) for e in entries) else ""))
            wrote.append(f"curves_{param}.png")
    print(f"converged_report: {len(entries)} finished run(s); wrote {', '.join(wrote)} in {results}")
    return public


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "record":
        return record(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(REPO / "docs/results/converged"),
                   help="the protocol's results folder (default docs/results/converged)")
    args = p.parse_args(argv)
    results = Path(args.results)
    if not (results / "runs").is_dir():
        p.error(f"--results: no runs/ folder in {results} (converged.sh writes RESULTS/runs/<run>/)")
    return report(results)


if __name__ == "__main__":
    main()
