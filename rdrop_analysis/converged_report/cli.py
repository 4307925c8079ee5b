"""`python scripts/converged_report.py [--results DIR]` and its `record` subcommand."""

import argparse
import json
import sys
from pathlib import Path

from rdrop_analysis import budget_report
from rdrop_analysis.converged_report.figures import ablation_plot, figure2, sweep_curves, sweep_groups
from rdrop_analysis.converged_report.readme import blocks, fill
from rdrop_analysis.converged_report.record import record
from rdrop_analysis.converged_report.stats import band, derived, load, summarize, update_cost
from rdrop_analysis.converged_report.tables import ABLATIONS, COMPARISONS, ablations, claims, headline


def entries_of(results: Path):
    """(runs, speed, entries): each run's summary with what the tables and figures read
    beside it (its validation rows, protocol, cost per update, budget scores; keys in _)."""
    runs, speed = load(results)
    entries = summarize(runs, speed)
    for e, r in zip(entries, runs):
        e["_rows"], e["_protocol"] = r["rows"], r["protocol"]
        e["_cost"], e["_budget_scores"] = update_cost(r, speed), r["budget_scores"]
    return runs, speed, entries


def report(results: Path, readme: Path = None):
    runs, speed, entries = entries_of(results)
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
    if readme is not None:
        readme.write_text(fill(readme.read_text(), blocks(entries, readme.resolve().parent)))
        wrote.append(str(readme))
    print(f"converged_report: {len(entries)} finished run(s); wrote {', '.join(wrote)} in {results}")
    return public


def main(argv=None, default_results=None, default_readme=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "record":
        return record(argv[1:])
    p = argparse.ArgumentParser(description=sys.modules['rdrop_analysis.converged_report'].__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=str(default_results or Path("docs/results/converged")),
                   help="the protocol's results folder (default docs/results/converged)")
    p.add_argument("--readme", default=None,
                   help="the README whose generated blocks to rewrite (default: the repository's README.md "
                   "when --results is the repository's docs/results/converged; else none)")
    args = p.parse_args(argv)
    results = Path(args.results)
    readme = Path(args.readme) if args.readme else (
        default_readme if default_results and results.resolve() == Path(default_results).resolve() else None)
    if not (results / "runs").is_dir():
        p.error(f"--results: no runs/ folder in {results} (converged.sh writes RESULTS/runs/<run>/)")
    return report(results, readme)

