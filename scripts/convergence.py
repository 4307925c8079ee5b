#!/usr/bin/env python
"""CLI of rdrop_analysis/convergence.py (its docstring says how to call it)."""
from rdrop_analysis.convergence import main

if __name__ == "__main__":
    main()
