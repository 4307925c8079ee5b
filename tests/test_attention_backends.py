"""RDROP_CUDNN_ATTENTION: torch's cuDNN attention switch, and a named error."""

import subprocess
import sys

import pytest
import torch

from cli import BIN, SMALL_MODEL, TRAIN_FLAGS, run
from rdrop_fairseq import FlagError
from rdrop_fairseq.attention_backends import apply_cudnn_attention_setting


@pytest.fixture
def restore_cudnn_sdp():
    before = torch.backends.cuda.cudnn_sdp_enabled()
    yield
    torch.backends.cuda.enable_cudnn_sdp(before)


@pytest.mark.parametrize("value, off", [("", False), ("1", False), ("0", True)])
def test_zero_switches_cudnn_attention_off_and_nothing_else_does(restore_cudnn_sdp, value, off):
    torch.backends.cuda.enable_cudnn_sdp(True)
    assert apply_cudnn_attention_setting(value) is off
    assert torch.backends.cuda.cudnn_sdp_enabled() is (not off)


def test_other_values_are_named(restore_cudnn_sdp):
    with pytest.raises(FlagError, match=r"RDROP_CUDNN_ATTENTION: expected 0 .* got 'no'"):
        apply_cudnn_attention_setting("no")


def test_read_when_the_plugin_is_imported():
    code = "import torch, rdrop_fairseq; print(torch.backends.cuda.cudnn_sdp_enabled())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"RDROP_CUDNN_ATTENTION": "0", "PATH": "/usr/bin:/bin"}).stdout
    assert out.strip().splitlines()[-1] == "False"


@pytest.mark.slow
def test_a_bad_value_stops_fairseq_train_with_the_name(data_bin, tmp_path):
    proc = run([BIN / "fairseq-train", data_bin, "--user-dir", "rdrop_fairseq", "--save-dir", tmp_path,
                "--max-update", "1"] + SMALL_MODEL + TRAIN_FLAGS,
               check=False, env_extra={"RDROP_CUDNN_ATTENTION": "off"})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "RDROP_CUDNN_ATTENTION: expected 0" in proc.stderr


def stand_in_env(tmp_path, cli, body, given):
    """An environment whose PATH finds a stand-in `cli` running `body`, with the variable as given."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / cli).write_text(f"#!/bin/sh\n{body}\n")
    (fake / cli).chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    if given is not None:
        env["RDROP_CUDNN_ATTENTION"] = given
    return env


@pytest.mark.slow
@pytest.mark.parametrize("given, seen", [(None, "0"), ("1", "1"), ("0", "0")])
def test_train_sh_switches_cudnn_attention_off_unless_told(tmp_path, given, seen):
    # a stand-in fairseq-train that records the variable train.sh hands it
    env = stand_in_env(tmp_path, "fairseq-train", 'echo "RDROP_CUDNN_ATTENTION=${RDROP_CUDNN_ATTENTION-unset}"', given)
    env.update(PRESET="multi30k-cpu", UPDATES="1")
    subprocess.run(["bash", "examples/translation/train.sh", "baseline", str(tmp_path / "data"), str(tmp_path / "save")],
                   env=env, check=True, capture_output=True, text=True)
    assert (tmp_path / "save" / "train.log").read_text().splitlines() == [f"RDROP_CUDNN_ATTENTION={seen}"]


@pytest.mark.slow
@pytest.mark.parametrize("given, seen", [(None, "0"), ("1", "1")])
def test_score_sh_decodes_with_cudnn_attention_off_unless_told(tmp_path, given, seen):
    record = tmp_path / "seen.txt"
    env = stand_in_env(tmp_path, "fairseq-generate", f'echo "${{RDROP_CUDNN_ATTENTION-unset}}" > {record}', given)
    # the stand-in writes no translations, so scoring fails after it: only what it saw matters here
    subprocess.run(["bash", "examples/translation/score.sh", str(tmp_path / "data"), str(tmp_path / "ckpt.pt"),
                    str(tmp_path / "ref.txt"), str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert record.read_text().strip() == seen
