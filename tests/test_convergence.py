"""scripts/convergence.py: the converged protocol's stopping rule on hand-made curves."""

import json

import pytest


from rdrop_analysis import convergence as cv


def curve(*bleus, every=100):
    return [(every * (i + 1), b) for i, b in enumerate(bleus)]


def log_text(points, resumed=()):
    """A fairseq JSON log with one valid record per (update, bleu), plus repeats."""
    lines = ["2026-01-01 10:00:00 | INFO | fairseq_cli.train | task: TranslationTask"]
    for u, b in list(points) + list(resumed):
        lines.append('2026-01-01 10:00:01 | INFO | valid | {"epoch": 1, "valid_loss": "5", '
                     f'"valid_bleu": "{b}", "valid_num_updates": "{u}"}}')
    return "\n".join(lines) + "\n"


def test_best_is_the_last_of_equal_maxima_as_checkpoint_best():
    assert cv.best_point(curve(1, 5, 3, 5, 4)) == (400, 5)


def test_stop_needs_both_the_fraction_and_the_patience():
    rising_then_flat = curve(1, 2, 3, 4, 5, 4, 4, 4, 4, 4, 4, 4)  # best at 500
    # patience 500 -> u >= 1000; fraction: 500 <= 0.7 u -> u >= 715: 1000 decides
    assert cv.stop_update(rising_then_flat, 0.7, 500) == 1000
    # patience 100 -> u >= 600; fraction -> u >= 800 (first validation >= 714.3)
    assert cv.stop_update(rising_then_flat, 0.7, 100) == 800
    assert cv.stop_update(rising_then_flat, 0.7, 100, min_updates=1100) == 1100
    assert cv.stop_update(curve(1, 2, 3, 4, 5, 6), 0.7, 100) is None  # still rising


def test_a_late_new_best_restarts_the_wait():
    c = curve(1, 5, 4, 4, 4, 4, 4, 6, 5, 5, 5, 5, 5, 5)  # 5 @200, 6 @800
    # the rule stops at 500, before the late best at 800: a stopped run never sees it
    assert cv.stop_update(c, 0.7, 300) == 500
    late = curve(1, 5, 4, 4, 6, 5, 5, 5, 5, 5, 5, 5)  # 6 @500 before the wait for 200 ended
    assert cv.stop_update(late, 0.7, 400) == 900  # 500 + 400; 500 <= 0.7 * 900 holds


def test_next_target_is_where_the_rule_would_hold_without_a_new_best():
    assert cv.next_target([], min_updates=1000) == 1000
    assert cv.next_target([], min_updates=0) == 100
    c = curve(*range(1, 21))  # best at 2000
    # 2000 / 0.7 = 2857.1 -> 2900; 2000 + 500 = 2500
    assert cv.next_target(c, 0.7, 500, 100) == 2900
    assert cv.next_target(c, 0.7, 1000, 100) == 3000
    assert cv.next_target(c, 0.7, 500, 100, min_updates=4000) == 4000
    # training to the target with no better BLEU makes the rule hold exactly there
    flat = c + [(u, 19.5) for u in range(2100, 3000, 100)]
    assert cv.stop_update(flat, 0.7, 500) == 2900
    assert cv.stop_update(flat[:-1], 0.7, 500) is None


def test_min_delta_keeps_tiny_gains_from_restarting_the_wait():
    # seed 1's R-Drop run: new bests of +0.01..+0.04 BLEU after 24.12 at 4,100
    c = [(3800, 23.99), (3900, 23.8), (4000, 24.01), (4100, 24.12), (4200, 24.13), (4300, 23.9),
         (4400, 24.14), (4500, 23.77), (4600, 23.87), (4700, 23.54), (4800, 23.6), (4900, 23.85),
         (5000, 24.16)]
    assert cv.best_point(c) == (5000, 24.16)
    assert cv.reference_point(c, 0.0) == cv.best_point(c)  # min_delta 0: the old rule
    assert cv.reference_point(c, 0.1) == (4100, 24.12)      # 24.12 - 23.99 = 0.13 >= 0.1
    assert cv.reference_point(c, 0.2) == (3800, 23.99)
    assert cv.next_target(c, 0.7, 500, 100, 1000, min_delta=0.1) == 5900  # 4100 / 0.7
    assert cv.next_target(c, 0.7, 500, 100, 1000) == 7200                 # 5000 / 0.7
    flat = c + [(u, 24.0) for u in range(5100, 6000, 100)]
    assert cv.stop_update(flat, 0.7, 500, 1000, min_delta=0.1) == 5900
    assert cv.stop_update(flat, 0.7, 500, 1000) is None


def test_min_delta_counts_a_gain_of_exactly_delta_despite_float_rounding():
    assert 20.11 - 20.01 < 0.1  # the float difference is 0.0999...
    assert cv.reference_point(curve(20.01, 20.11), 0.1) == (200, 20.11)
    assert cv.reference_point(curve(20.01, 20.10), 0.1) == (100, 20.01)


@pytest.mark.parametrize("min_delta", [0.0, 0.3])
@pytest.mark.parametrize("seed", range(30))
def test_segments_never_overshoot_the_rules_stop(seed, min_delta):
    """Training segment by segment to next_target stops exactly where the rule
    first holds on the full curve (the property the driver relies on)."""
    import random

    rng = random.Random(seed)
    import math

    scale, drift = rng.uniform(5, 40), rng.uniform(-0.05, 0.01)
    full = [(100 * i, round(30 * (1 - math.exp(-i / scale)) + drift * i + rng.uniform(-1, 1), 2))
            for i in range(1, 300)]
    truth = cv.stop_update(full, 0.7, 300, min_updates=500, min_delta=min_delta)
    done, seen = 0, []
    while True:
        stop = cv.stop_update(seen, 0.7, 300, min_updates=500, min_delta=min_delta)
        if stop is not None:
            break
        target = cv.next_target(seen, 0.7, 300, 100, min_updates=500, min_delta=min_delta)
        if target > full[-1][0]:
            stop = None
            break
        seen = [p for p in full if p[0] <= target]
        assert target > done
        done = target
    assert stop == truth
    if truth is not None:
        assert done == truth


def test_slope_after_best():
    assert cv.slope_after(curve(1, 3, 2, 1, 0), 200) == pytest.approx(-10.0)
    assert cv.slope_after(curve(1, 3), 200) is None


def test_assess_and_the_cli(tmp_path, capsys):
    log = tmp_path / "train.log"
    points = curve(1, 2, 3, 4, 5, 4, 4, 4, 4, 4)  # best 500, 1000 updates
    log.write_text(log_text(points, resumed=[(900, 3.9), (1000, 4.1)]))
    cv.main(["assess", str(log), "--patience", "500"])
    got = json.loads(capsys.readouterr().out)
    assert got["best_update"] == 500 and got["best_valid_bleu"] == 5.0 and got["updates"] == 1000
    assert got["converged"] and got["stop_update"] == 1000 and got["best_fraction"] == 0.5
    assert got["slope_after_best"] < 0
    assert got["min_delta"] == 0 and got["reference_update"] == 500
    cv.main(["assess", str(log), "--patience", "500", "--min-delta", "2.5"])
    got = json.loads(capsys.readouterr().out)  # 1 -> 4 counts (+3); 4 -> 5 (+1 < 2.5) does not
    assert got["reference_update"] == 400 and got["best_update"] == 500 and got["min_delta"] == 2.5
    cv.main(["next", str(log), "--patience", "500"])
    assert capsys.readouterr().out.strip() == "converged 1000"
    cv.main(["next", str(log), "--patience", "700"])
    assert capsys.readouterr().out.strip() == "train 1200"
    cv.main(["next", str(log), "--patience", "700", "--max-updates", "1100"])
    assert capsys.readouterr().out.strip() == "train 1100"
    cv.main(["next", str(log), "--patience", "700", "--max-updates", "1000"])
    assert capsys.readouterr().out.strip() == "cap 1000"
    cv.main(["next", str(tmp_path / "none.log"), "--min-updates", "800"])
    assert capsys.readouterr().out.strip() == "train 800"


def test_resumed_records_replace_the_earlier_ones():
    from rdrop_analysis.parse_logs import parse_log

    rows = parse_log(log_text(curve(1, 2, 3), resumed=[(300, 2.5)]), "r")
    assert cv.valid_curve(rows) == [(100, 1.0), (200, 2.0), (300, 2.5)]


@pytest.mark.parametrize("argv, message", [
    (["next", "x", "--fraction", "1.5"], "--fraction: expected a number in (0, 1]"),
    (["next", "x", "--patience", "-1"], "--patience: expected a whole number >= 0"),
    (["next", "x", "--interval", "0"], "--interval: expected a whole number >= 1"),
    (["next", "x", "--min-delta", "-0.1"], "--min-delta: expected a number >= 0"),
])
def test_bad_flags_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        cv.main(argv)
    assert message in capsys.readouterr().err
