import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/fairseq_helpers.py, tests/cli.py

from cli import prepare_multi30k  # noqa: E402


@pytest.fixture(scope="session")
def data_bin(tmp_path_factory):
    """A 3,000-pair Multi30k slice with a 1k BPE, binarized by fairseq-preprocess."""
    return prepare_multi30k(tmp_path_factory.mktemp("multi30k"))
