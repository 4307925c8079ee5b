import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/fairseq_helpers.py, tests/cli.py

from cli import prepare_multi30k  # noqa: E402


@pytest.fixture(scope="session")
def data_bin(tmp_path_factory):
    """A 3,000-pair Multi30k slice with a 1k BPE, binarized by fairseq-preprocess."""
    return prepare_multi30k(tmp_path_factory.mktemp("multi30k"))


def pytest_collection_modifyitems(config, items):
    """tests marked ``cuda`` need a GPU: without one they are deselected (and
    counted as such), not skipped. RDROP_CUDA_TESTS_DEVICE=cpu keeps them, to
    check the tests themselves."""
    import os

    import torch

    if torch.cuda.is_available() or os.environ.get("RDROP_CUDA_TESTS_DEVICE") == "cpu":
        return
    gpu = [it for it in items if it.get_closest_marker("cuda")]
    if gpu:
        config.hook.pytest_deselected(items=gpu)
        items[:] = [it for it in items if not it.get_closest_marker("cuda")]
