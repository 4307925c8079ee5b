#!/usr/bin/env python
"""CLI of rdrop_analysis/gpu_hours.py (its docstring says how to call it)."""
import sys

from rdrop_analysis.gpu_hours import main

if __name__ == "__main__":
    sys.exit(0 if main() else 1)
