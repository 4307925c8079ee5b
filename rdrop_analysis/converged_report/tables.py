"""The generated Markdown: headline.md, ablations.md, claims.md (prose and
tables from the statistics; nothing typed)."""

import json
import statistics

from rdrop_analysis import convergence
from rdrop_analysis.converged_report.stats import (
    ablation_points, crossover, derived, fmt, mean_std, paired, paired_runs, paired_text, pm, population,
    rdrop_seed_spread, seed_list, seed_matched, step_means,
)


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

