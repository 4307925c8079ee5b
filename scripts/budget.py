#!/usr/bin/env python
"""CLI of rdrop_analysis/budget.py (its docstring says how to call it)."""
import sys

from rdrop_analysis.budget import main

if __name__ == "__main__":
    sys.exit(main())
