#!/usr/bin/env python
"""CLI of rdrop_analysis/runs_table.py (its docstring says how to call it)."""
from rdrop_analysis.runs_table import main

if __name__ == "__main__":
    main()
