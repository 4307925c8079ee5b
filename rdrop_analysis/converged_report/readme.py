"""The README's result figures, written between markers by the report, never typed:

    <!-- generated: NAME (scripts/converged_report.py; do not edit) -->
    ...
    <!-- end generated: NAME -->

``headline`` (the converged protocol's systems: test sacreBLEU and hours to the best
checkpoint), ``budget`` (issue 40's seed-1 budget table), ``quickstart`` (the main
job's BLEU and minutes, docs/results/quickstart/run.json) and ``kill_loop`` (issue 42's
kill loop, docs/results/resume_guard/kill_loop.json). A test checks that
the committed README equals what the report writes from the committed results.
"""

import json
import re
import statistics
from pathlib import Path

from rdrop_analysis import budget_report
from rdrop_analysis.converged_report.stats import mean_std, paired

BEGIN = "<!-- generated: {} (scripts/converged_report.py; do not edit) -->"
END = "<!-- end generated: {} -->"
README_SCHEDULES = 3
HEADLINE_SYSTEMS = ["baseline", "rdrop", "k_2", "alpha_3", "k_10", "realformer", "realformer_rdrop",
                    "simcut", "rdrop_cutoff"]
HEADLINE_NAMES = {"baseline": "Transformer", "rdrop": "**+ R-Drop (alpha 5)**", "k_2": "+ R-Drop, k = 2",
                  "alpha_3": "+ R-Drop, alpha 3", "k_10": "+ R-Drop, k = 10", "realformer": "RealFormer",
                  "realformer_rdrop": "RealFormer + R-Drop", "simcut": "SimCut (alpha 3, cutoff 0.05)",
                  "rdrop_cutoff": "R-Drop + Cutoff"}


def headline_block(entries):
    base = budget_report.base_hours(entries)
    lines = ["| system | seeds | test sacreBLEU | − Transformer, same seeds | hours to best (× Transformer) |",
             "|---|---:|---:|---:|---:|"]
    for config in HEADLINE_SYSTEMS:
        es = sorted((e for e in entries if e["config"] == config), key=lambda e: e["seed"])
        if not es:
            continue
        m, s, n = mean_std([e["test_sacrebleu"] for e in es])
        diff = paired(entries, "baseline", config, "test_sacrebleu") if config != "baseline" else {}
        hours = [e["hours_to_best"] for e in es if e.get("hours_to_best")]
        h = statistics.mean(hours) if hours else None
        lines.append(" | ".join([
            f"| {HEADLINE_NAMES[config]}", ",".join(str(e["seed"]) for e in es),
            f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}",
            f"{statistics.mean(diff.values()):+.2f}" if diff else "",
            f"{h:.2f} ({h / base:.1f}×)" if h and base else "–"]) + " |")
    sig = next((e["sacrebleu_signature"] for e in entries if e.get("sacrebleu_signature")), "")
    lines += ["", f"Mean ± std over seeds; test2016, beam 5, the best-valid checkpoint of runs trained to "
              f"convergence; hours = updates × s/update measured alone on 2 cores. sacreBLEU `{sig}`."]
    return "\n".join(lines)


def budget_block(entries):
    rows, base = budget_report.budget_rows(entries, seeds={1})
    if base is None:
        return "No baseline run with a measured cost yet."
    # The README stays short however many schedules are run: the references and the
    # README_SCHEDULES schedules with the best valid BLEU within the target's budget.
    keep = {"baseline", "rdrop", "k_2"}
    T = budget_report.TARGET
    schedules = [r for r in budget_report.schedules_by_budget(entries, rows) if r["config"] not in keep]
    shown = {r["config"] for r in schedules[:README_SCHEDULES]}
    rows = [r for r in rows if r["config"] in keep or r["config"] in shown]
    all_rows, _ = budget_report.budget_rows(entries)
    verdicts = budget_report.target_lines(entries, all_rows, base)
    reached = [line.split("**")[1] for line in verdicts if "**Target reached**" in line]
    more = len(schedules) - len(shown)
    seeded = seeds_1_to_3_line(entries, all_rows, base)
    return "\n".join([f"Seed 1; budget unit: the Transformer's mean hours to its best, {base:.2f} h; "
                      "each budget cell: best valid BLEU within it / the test sacreBLEU of that checkpoint; "
                      f"the {len(shown)} schedules best within {T['hours']:g}x"
                      + (f" ({more} more in [budget.md](docs/results/converged/budget.md))" if more else "") + ".", "",
                      budget_report.budget_table(rows, base).rstrip(), "",
                      (seeded + " " if seeded else "")
                      + f"Issue 40's target (within {T['bleu_gap']} test BLEU of R-Drop over seeds 1-3, best within "
                      f"{T['hours']:g}x the baseline's hours, never {T['deficit']} valid BLEU behind it at equal "
                      "hours): reached by "
                      f"{', '.join(reached) if reached else 'none'} of the {len(verdicts)} systems judged "
                      "([budget.md](docs/results/converged/budget.md#the-target))."])


def seeds_1_to_3_line(entries, all_rows, base):
    """The schedule run on seeds 1-3 with the best mean valid BLEU within the target budget,
    against the references over the same seeds; None before any schedule has all three."""
    want = [1, 2, 3]
    full = [r for r in budget_report.schedules_by_budget(entries, all_rows) if sorted(r["seeds"]) == want]
    refs = {r["config"]: r for r in all_rows if r["config"] in ("baseline", "rdrop") and sorted(r["seeds"]) == want}
    if not full or len(refs) < 2:
        return None
    r = full[0]
    return (f"Over seeds 1-3, the best schedule within {budget_report.TARGET['hours']:g}x "
            f"({budget_report.name(r['config'])}): test sacreBLEU {r['test']:.2f}, against R-Drop's "
            f"{refs['rdrop']['test']:.2f} and the Transformer's {refs['baseline']['test']:.2f}; best checkpoint "
            f"at {r['hours_to_best'] / base:.1f}x the baseline's hours (R-Drop: "
            f"{refs['rdrop']['hours_to_best'] / base:.1f}x).")


def committed(repo: Path, rel: str):
    """The committed JSON result at REPO/REL, or None before it is measured."""
    path = repo / rel
    return json.loads(path.read_text()) if path.exists() else None


def quickstart_block(repo: Path):
    r = committed(repo, "docs/results/quickstart/run.json")
    if r is None:
        return "Not measured yet (docs/results/quickstart/run.json)."
    return (f"On {r['machine']}, it printed `BLEU = {r['sacrebleu']}` (tokenized {r['tokenized_bleu']}) after "
            f"{r['updates']} updates (R-Drop on one update in {r['k_step']}, dropout {r['dropout']}); the whole job took {r['total_minutes']:.1f} min after install "
            f"(training {r['train_minutes']:.1f} min), measured alone ([run.json](docs/results/quickstart/run.json); "
            "how these settings were chosen: [trials.md](docs/results/quickstart/trials.md)).")


def kill_loop_block(repo: Path):
    r = committed(repo, "docs/results/resume_guard/kill_loop.json")
    if r is None:
        return "Kill loop not run yet (`scripts/kill_loop.py`)."
    return (f"The kill loop (`scripts/kill_loop.py`, a tiny real R-Drop run): {r['kills']} SIGKILLs survived, "
            f"{r['kills_inside_copy']} of them inside fairseq's copy to `checkpoint_last.pt` "
            f"({r['torn_files_moved_aside']} torn files moved aside), at most {r['max_updates_lost']} updates lost "
            f"per kill (save interval {r['save_interval_updates']}); final parameters "
            f"{'equal to' if r['final_parameters_equal_uninterrupted'] else 'NOT equal to'} an uninterrupted run's "
            "([kill_loop.json](docs/results/resume_guard/kill_loop.json)).")


def blocks(entries, repo: Path):
    return {"headline": headline_block(entries), "budget": budget_block(entries), "quickstart": quickstart_block(repo),
            "kill_loop": kill_loop_block(repo)}


def fill(text: str, generated: dict) -> str:
    """TEXT with every generated block replaced; a block's markers must be there."""
    for name, body in generated.items():
        pattern = re.compile(re.escape(BEGIN.format(name)) + r"\n.*?" + re.escape(END.format(name)), re.S)
        if not pattern.search(text):
            raise ValueError(f"README: no markers for the generated block {name!r}: {BEGIN.format(name)}")
        text = pattern.sub(lambda _: f"{BEGIN.format(name)}\n{body}\n{END.format(name)}", text)
    return text
