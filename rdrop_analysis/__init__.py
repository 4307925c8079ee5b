"""The analysis behind scripts/: log parsing, convergence, the converged
protocol's report and budget view, tables and curves. Apart from the plugin
(``rdrop_fairseq``) so that it imports without fairseq; scripts/*.py are its CLIs."""
