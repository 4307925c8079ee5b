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


# ---- `slow`: every test that runs fairseq-train, fairseq-generate, fairseq-preprocess
# or a prepare script is marked slow, so that `pytest -m "not slow"` is the quick
# inner loop. Enforced: outside slow tests, those programs stop the test with a line
# saying so, whether a test starts them directly or through a driver script.
HEAVY = ("fairseq-train", "fairseq-generate", "fairseq-preprocess", "fairseq-interactive")


@pytest.fixture(autouse=True)
def _heavy_runs_need_the_slow_mark(request, monkeypatch, tmp_path_factory):
    import os
    import shutil
    import subprocess

    if request.node.get_closest_marker("slow"):
        yield
        return
    if "data_bin" in request.fixturenames:  # a session fixture: set up before this one runs
        raise AssertionError("this test uses data_bin (prepare-multi30k.sh): mark it @pytest.mark.slow")
    shims = tmp_path_factory.getbasetemp() / "not-slow-shims"
    if not shims.is_dir():
        shims.mkdir()
        for name in HEAVY:
            (shims / name).write_text(
                f"#!/bin/sh\necho 'this test runs {name}: mark it @pytest.mark.slow' >&2\nexit 97\n")
            (shims / name).chmod(0o755)
    original = subprocess.Popen.__init__

    def guarded(self, args, *a, **kw):
        argv = [str(x) for x in ([args] if isinstance(args, (str, os.PathLike)) else args)]
        names = [os.path.basename(x) for x in argv]
        heavy = [n for n in names if n in HEAVY or (n.startswith("prepare-") and n.endswith(".sh"))]
        if heavy:
            raise AssertionError(f"this test runs {heavy[0]}: mark it @pytest.mark.slow")
        env = dict(kw.get("env") or os.environ)
        if any(shutil.which(name, path=env.get("PATH")) for name in HEAVY):  # a test may hide them on purpose
            env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
        kw["env"] = env
        return original(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    yield
