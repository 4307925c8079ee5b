"""Registered as fairseq models on import."""
