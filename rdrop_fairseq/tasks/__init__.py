"""Registered as fairseq tasks on import."""
