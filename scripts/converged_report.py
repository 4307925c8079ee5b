#!/usr/bin/env python
"""The converged protocol's report (rdrop_analysis/converged_report/):
    python scripts/converged_report.py [--results docs/results/converged]
    python scripts/converged_report.py record OUT/run.json --name rdrop_s1 ..."""
from pathlib import Path

from rdrop_analysis.converged_report import main

if __name__ == "__main__":
    repo = Path(__file__).resolve().parents[1]
    main(default_results=repo / "docs/results/converged", default_readme=repo / "README.md")
