"""Registered as fairseq models on import."""
from rdrop_fairseq.models import transformer_realformer  # noqa: F401
