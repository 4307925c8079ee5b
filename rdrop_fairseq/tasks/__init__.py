"""Registered as fairseq tasks on import."""
from rdrop_fairseq.tasks import translation_rdrop  # noqa: F401
