"""The README's result figures are the report's: the committed README equals what
scripts/converged_report.py writes from the committed results, and is short."""

import re
from pathlib import Path

import pytest

from rdrop_analysis.converged_report import readme
from rdrop_analysis.converged_report.cli import entries_of

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs/results/converged"


def entries():
    return entries_of(RESULTS)[2]


def test_committed_readme_is_what_the_report_writes():
    text = (REPO / "README.md").read_text()
    assert readme.fill(text, readme.blocks(entries(), REPO)) == text, (
        "README.md's generated blocks are stale: run python scripts/converged_report.py")


def test_readme_is_short_and_every_block_is_there():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 205
    for name in ("quickstart", "headline", "budget", "kill_loop"):
        assert readme.BEGIN.format(name) in text and readme.END.format(name) in text


def test_fill_replaces_only_between_markers_and_names_a_missing_block():
    text = f"a\n{readme.BEGIN.format('x')}\nold\n{readme.END.format('x')}\nb\n"
    assert readme.fill(text, {"x": "new"}) == f"a\n{readme.BEGIN.format('x')}\nnew\n{readme.END.format('x')}\nb\n"
    with pytest.raises(ValueError, match="'y'"):
        readme.fill(text, {"y": "new"})


def test_no_result_figure_outside_the_generated_blocks():
    """Outside the blocks the README has no BLEU, hours or s/update figure typed by hand."""
    text = (REPO / "README.md").read_text()
    outside = re.sub(r"<!-- generated: (\w+) .*?<!-- end generated: \1 -->", "", text, flags=re.S)
    assert not re.search(r"\bBLEU\b[^\n|]{0,20}\d+\.\d\d", outside)
    assert not re.search(r"\d+\.\d+ ?(h|s / update|s/update)\b", outside)


def test_relative_links_in_readme_and_docs_resolve():
    for page in [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(REPO)}: broken link {target}"


def test_budget_block_keeps_the_references_and_the_schedules_best_within_the_target_budget():
    """However many schedules are run, the README shows the baseline, R-Drop, k = 2 and
    the README_SCHEDULES schedules with the best seed-1 valid BLEU within the target's
    budget, and points to budget.md for the rest."""
    from rdrop_analysis import budget_report
    es = entries()
    block = readme.budget_block(es)
    rows, _ = budget_report.budget_rows(es, seeds={1})
    schedules = {e["config"] for e in es if e["experiment"] == "schedule"}
    hours = budget_report.TARGET["hours"]
    ranked = sorted((r for r in rows if r["config"] in schedules),
                    key=lambda r: -r["budgets"][hours]["valid"])
    shown = [r["config"] for r in rows if f"| {budget_report.name(r['config'])} |" in block]
    best = {r["config"] for r in ranked[:readme.README_SCHEDULES]}
    assert set(shown) == {"baseline", "rdrop", "k_2"} | best
    if len(ranked) > readme.README_SCHEDULES:
        assert f"{len(ranked) - readme.README_SCHEDULES} more in [budget.md]" in block


def test_seeds_1_to_3_line_names_the_best_three_seed_schedule_and_waits_for_all_three():
    """The budget block's seeds 1-3 sentence is the in-budget best among the schedules run on
    all three seeds, with the references' means over the same seeds; none before a schedule
    has three seeds."""
    from rdrop_analysis import budget_report
    es = entries()
    all_rows, base = budget_report.budget_rows(es)
    line = readme.seeds_1_to_3_line(es, all_rows, base)
    full = [r for r in budget_report.schedules_by_budget(es, all_rows) if sorted(r["seeds"]) == [1, 2, 3]]
    rdrop = next(r for r in all_rows if r["config"] == "rdrop")
    assert full, "the committed results have a schedule on seeds 1-3"
    assert f"({budget_report.name(full[0]['config'])})" in line and f"{full[0]['test']:.2f}" in line
    assert f"R-Drop's {rdrop['test']:.2f}" in line
    # drop seed 3 of every schedule: no schedule has all three seeds, so no sentence
    schedules = {r["config"] for r in budget_report.schedules_by_budget(es, all_rows)}
    fewer = [e for e in es if not (e["config"] in schedules and e["seed"] == 3)]
    assert readme.seeds_1_to_3_line(fewer, *budget_report.budget_rows(fewer)) is None
