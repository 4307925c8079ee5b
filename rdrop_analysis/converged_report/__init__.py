"""The converged protocol's report: tables, figures and summary.json, rebuilt from the
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

Split by job: ``stats`` (load, summarize, compare), ``tables`` (the generated
Markdown), ``figures``, ``record`` (one run's run.json), ``cli`` (report, main).
"""

from rdrop_analysis.converged_report.cli import main, report  # noqa: F401
from rdrop_analysis.converged_report.figures import sweep_groups  # noqa: F401
from rdrop_analysis.converged_report.stats import seed_matched, summarize  # noqa: F401
from rdrop_analysis.converged_report.tables import (  # noqa: F401
    COMPARISONS, claims, comparison_differences, early_verdict,
)
