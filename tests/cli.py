"""Run the real fairseq CLIs (and the project's scripts) as a user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import rdrop_fairseq
from fairseq_helpers import model_flags

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MULTI30K = Path(os.environ.get("MULTI30K_DIR", REPO.parent / "shared" / "data" / "multi30k"))


def run(cmd, cwd=REPO, check=True, timeout=900, env_extra=None):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHON=sys.executable, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
               **(env_extra or {}))
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc


def prepare_multi30k(out_dir: Path, vocab=1000, train_lines=3000) -> Path:
    if not (MULTI30K / "train.de").exists():
        raise AssertionError(f"Multi30k not found at {MULTI30K} (set MULTI30K_DIR)")
    run(["bash", REPO / "examples/translation/prepare-multi30k.sh", MULTI30K, out_dir,
         vocab, train_lines])
    return out_dir / "data-bin"


def json_logs(text: str, tag: str):
    """The JSON records fairseq logs under ``| tag |`` (train_inner, train, valid)."""
    out = []
    for line in text.splitlines():
        marker = f"| {tag} | "
        if marker in line and line.rstrip().endswith("}"):
            out.append(json.loads(line.split(marker, 1)[1]))
    return out


# A small transformer that trains in seconds on 2 cores.
SMALL_MODEL = model_flags(dim=64, ffn=128)
SMALL_REALFORMER = model_flags("transformer_realformer_iwslt_de_en", dim=64, ffn=128)

TRAIN_FLAGS = [
    "--cpu", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "1e-3",
    "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "10", "--dropout", "0.2",
    "--label-smoothing", "0.1", "--max-tokens", "1024", "--seed", "1",
    "--log-format", "json", "--log-interval", "5", "--num-workers", "0",
    "--no-epoch-checkpoints", "--disable-validation",
]


def generate_valid(data_bin, checkpoint, *flags):
    """fairseq-generate, beam 5, over all 1,014 valid sentences (none dropped)."""
    return run([BIN / "fairseq-generate", data_bin, "--user-dir", rdrop_fairseq.USER_DIR,
                "--path", checkpoint, "--gen-subset", "valid", "--beam", "5", "--max-tokens", "4000",
                "--max-len-b", "30", "--required-batch-size-multiple", "1", *flags])


def kill_after_checkpoint(cmd, updates, env):
    """Run fairseq-train CMD and SIGKILL it as soon as it has saved the checkpoint of
    UPDATES updates: the kill a preemption gives, at a known point."""
    import signal

    proc = subprocess.Popen([str(c) for c in cmd], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    for line in proc.stdout:
        if "Saved checkpoint" in line and f"@ {updates} updates" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"fairseq-train ended before saving update {updates}"


def load_script(name: str):
    """scripts/NAME.py as a module, loaded from its file (a benchmark or tool that
    lives in scripts/ rather than in rdrop_analysis)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"scripts_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
