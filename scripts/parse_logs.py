#!/usr/bin/env python
"""CLI of rdrop_analysis/parse_logs.py (its docstring says how to call it)."""
from rdrop_analysis.parse_logs import main

if __name__ == "__main__":
    main()
