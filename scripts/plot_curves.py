#!/usr/bin/env python
"""CLI of rdrop_analysis/plot_curves.py (its docstring says how to call it)."""
from rdrop_analysis.plot_curves import main

if __name__ == "__main__":
    main()
