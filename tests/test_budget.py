"""scripts/budget.py (hours of a schedule, the best checkpoint within a budget) and
the report's budget view (scripts/budget_report.py), on hand-made curves."""

import json

import pytest


from rdrop_analysis import budget
from rdrop_analysis import converged_report

SPEED = {"baseline": 0.5, "rdrop": 1.0, "share": 0.8, "probe": 0.51}


@pytest.mark.parametrize("config, plain, after, start", [
    ("baseline", 0.5, 0.5, 0),
    ("rdrop", 1.0, 1.0, 0),
    ("alpha_3", 1.0, 1.0, 0),          # alpha changes no cost
    ("probe", 0.51, 0.51, 0),
    ("k_2", 0.5, 0.75, 0),             # one R-Drop update in every two
    ("start_600", 0.5, 1.0, 600),
    ("start_600-share", 0.5, 0.8, 600),
    ("share-k_4", 0.5, (3 * 0.5 + 0.8) / 4, 0),
    ("warmup_1000", 0.5, 1.0, 0),      # the ramp changes alpha, not the cost
    ("lr_0.003", 0.5, 1.0, 0),
])
def test_update_cost_of_each_configuration(config, plain, after, start):
    p, a, s, how = budget.update_cost(config, SPEED)
    assert (p, s) == (plain, start) and a == pytest.approx(after)
    assert how == "measured" or how.startswith("derived")


def test_a_missing_measurement_is_named():
    with pytest.raises(budget.CostError, match="'share'"):
        budget.update_cost("start_600-share", {"baseline": 0.5, "rdrop": 1.0})
    with pytest.raises(budget.CostError, match="'simcut'"):
        budget.update_cost("simcut", SPEED)


def test_hours_count_plain_updates_then_rdrop_ones():
    cost = budget.update_cost("start_600", SPEED)
    assert budget.hours_at(400, cost) == pytest.approx(400 * 0.5 / 3600)
    assert budget.hours_at(1000, cost) == pytest.approx((600 * 0.5 + 400 * 1.0) / 3600)


def test_best_within_a_budget_takes_the_later_of_ties_and_stops_at_the_budget():
    curve = [(100, 5.0), (200, 7.0), (300, 7.0), (400, 6.0), (500, 9.0)]
    cost = budget.update_cost("baseline", {"baseline": 36.0})  # 0.01 h per update
    assert budget.best_within(curve, cost, 3.0) == (300, 7.0)   # 300 updates = 3 h: in, the tie's later
    assert budget.best_within(curve, cost, 4.99) == (300, 7.0)
    assert budget.best_within(curve, cost, 5.0) == (500, 9.0)
    assert budget.best_within(curve, cost, 0.5) is None
    assert budget.records(curve) == [100, 200, 300, 500]        # what made checkpoint_best.pt


def test_budget_points_and_the_baselines_hours():
    base = [[(100, 1.0), (200, 3.0), (300, 2.0)], [(100, 1.0), (200, 2.0), (400, 4.0)]]
    speed = {"baseline": 36.0, "rdrop": 72.0}
    assert budget.baseline_hours(base, speed) == pytest.approx((2.0 + 4.0) / 2)  # 200 and 400 updates
    rd = [(100, 1.0), (200, 5.0), (300, 6.0)]  # 0.02 h per update: 2, 4, 6 h
    pts = budget.budget_points(rd, budget.update_cost("rdrop", speed), 3.0, budgets=(1.0, 1.5, 2.0, 3.0))
    assert pts == {1.0: (100, 1.0), 1.5: (200, 5.0), 2.0: (300, 6.0), 3.0: (300, 6.0)}


def _log(points):
    """A train.log with one valid record per (update, bleu)."""
    return "".join(f'2026-01-01 00:00:{i % 60:02d} | INFO | valid | {{"epoch": 1, "valid_loss": "5", '
                   f'"valid_bleu": "{b}", "valid_num_updates": "{u}"}}\n' for i, (u, b) in enumerate(points))


def _results(tmp_path, runs, speed):
    """A results folder of hand-made runs: {name: (config, experiment, [(update, bleu)], test, scores)}."""
    for name, (config, exp, points, test, scores) in runs.items():
        d = tmp_path / "runs" / name
        d.mkdir(parents=True)
        (d / "train.log").write_text(_log(points))
        (d / "test_bleu.json").write_text(json.dumps({"sacrebleu": test, "tokenized_bleu": test - 1}))
        if scores:
            (d / "budget_scores.json").write_text(json.dumps({"scores": {
                str(u): {"sacrebleu": s, "tokenized_bleu": s - 1} for u, s in scores.items()}}))
        (d / "run.json").write_text(json.dumps({
            "name": name, "config": config, "experiment": exp, "seed": int(name.rsplit("_s", 1)[1]),
            "arch": "a", "alpha": 5, "k": 1, "passes": 2, "threads": 2, "device": "cpu", "git_commit": "x",
            "protocol": {"fraction": 0.7, "patience": 200, "min_updates": 0, "min_delta": 0.0}}))
    (tmp_path / "speed.json").write_text(json.dumps({"s_per_update": speed}))
    return tmp_path


def test_the_budget_cli_lists_the_checkpoints_to_score(tmp_path, capsys):
    res = _results(tmp_path, {"baseline_s1": ("baseline", "baseline", [(100, 1.0), (200, 3.0), (300, 2.0)], 3.0, {})},
                   {"baseline": 36.0, "rdrop": 72.0})  # the baseline's best: 200 updates = 2 h
    log = tmp_path / "rd.log"
    log.write_text(_log([(100, 1.0), (200, 5.0), (300, 6.0), (400, 5.5)]))  # 2, 4, 6, 8 h
    assert budget.main(["to-score", str(log), "--config", "rdrop", "--results", str(res)]) == 0
    assert capsys.readouterr().out.split() == ["100", "200"]  # 1x: 100, 1.5x/2x: 200; 3x and 5x: 300 (final)
    assert budget.main(["records", str(log)]) == 0
    assert capsys.readouterr().out.split() == ["100", "200", "300"]
    # without the measurement the driver scores nothing and says why
    assert budget.main(["to-score", str(log), "--config", "start_600-share", "--results", str(res)]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == "" and "no 'share'" in cap.err


def test_the_report_shows_only_scored_test_figures(tmp_path):
    res = _results(tmp_path, {
        "baseline_s1": ("baseline", "baseline", [(100, 1.0), (200, 3.0), (300, 2.0)], 3.0, {}),
        # 2 h per 100 updates; the best within 1x (2 h) is update 100, scored; 1.5x (3 h) also 100
        "rdrop_s1": ("rdrop", "rdrop", [(100, 2.0), (200, 5.0), (300, 6.0), (400, 5.5)], 6.5, {100: 2.5}),
        # plain until 200 (1 h per 100), then R-Drop: 4 h at 300; nothing of it was scored but the final best
        "start_200_s1": ("start_200", "schedule", [(100, 1.0), (200, 3.5), (300, 4.0), (400, 3.9)], 5.0, {}),
    }, {"baseline": 36.0, "rdrop": 72.0})
    converged_report.report(res)
    md = (res / "budget.md").read_text()
    assert "**2.00 h**" in md  # the baseline's hours to its best
    row = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in md.splitlines()
           if line.startswith("| ") and "---" not in line}
    rd, st = row["R-Drop (alpha 5)"], row["start_200"]
    assert rd[5] == "2.00 / 2.50"          # 1x: update 100, scored by the driver
    assert rd[7] == "5.00 / not scored"    # 2x = 4 h: update 200, no score kept
    assert rd[8].startswith("6.00 / 6.50")  # 3x = 6 h: the final best
    assert st[5] == "3.50 / not scored"    # 1x = 2 h: update 200 (plain updates at the baseline's cost)
    assert st[7] == "4.00 / 5.00"          # 2x = 4 h: update 300, the final best
    assert st[3] == "4.00 (2.0)"           # hours to best, x the baseline's
    assert "**start_200** (seed 1 only" in md and "Target not reached" in md
    summary = json.loads((res / "summary.json").read_text())
    assert {r["name"]: r["hours_to_best"] for r in summary["runs"]}["start_200_s1"] == pytest.approx(4.0)
    assert (res / "budget.png").read_bytes()[:4] == b"\x89PNG"
