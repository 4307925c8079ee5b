#!/usr/bin/env python
"""The kill loop (issue 42): a tiny real R-Drop run (k-step 2) SIGKILLed at random
instants (40% inside fairseq's copy of a save to checkpoint_last.pt, 40% 1-15 updates
into a start's training, 20% during start-up),
restarted each time by the driver (``python -m rdrop_fairseq.train``, which runs the
resume guard first) until it finishes; its final parameters are compared with an
uninterrupted run's, bit for bit.

    python scripts/kill_loop.py --data DATA_BIN --work DIR [--kills 20] [--json OUT]

To hit the copy on purpose, the runs start with ``tests/kill_loop_shim`` on
PYTHONPATH: its sitecustomize makes fairseq's ``PathManager.copy`` copy in small
chunks with a pause between them (``RDROP_SLOW_COPY_S`` seconds) and print
``slow-copy: start`` first, so that a kill can land inside the copy and leave a
torn checkpoint_last.pt, as a preemption during a multi-GB copy does.

Prints one line per kill and a summary; ``--json`` writes kills survived, kills
inside a copy, torn files the guard moved aside, updates lost per kill (last update
logged before the kill minus the update the next start resumed from) and whether
the final parameters equal the uninterrupted run's.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from rdrop_fairseq.resume_guard import readable

REPO = Path(__file__).resolve().parents[1]
SHIM = REPO / "tests" / "kill_loop_shim"
SAVE_INTERVAL = 10
MAX_UPDATE = 500  # 20 kills advance the run by at most ~16 updates each: it cannot finish first


def train_command(data, save_dir, max_update):
    return [sys.executable, "-m", "rdrop_fairseq.train", str(data), "--user-dir", str(REPO / "rdrop_fairseq"),
            "--cpu", "--task", "translation_rdrop", "--rdrop-k-step", "2",
            "--arch", "transformer_iwslt_de_en", "--share-all-embeddings",
            "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "32",
            "--decoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64",
            "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
            "--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-alpha", "5", "--label-smoothing", "0.1",
            "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "1e-3", "--lr-scheduler", "inverse_sqrt",
            "--warmup-updates", "10", "--dropout", "0.2", "--max-tokens", "512", "--seed", "1",
            "--max-update", str(max_update), "--save-dir", str(save_dir),
            "--save-interval-updates", str(SAVE_INTERVAL), "--keep-interval-updates", "2", "--no-epoch-checkpoints",
            "--disable-validation", "--log-format", "json", "--log-interval", "1", "--num-workers", "0"]


def environment(slow_copy_s):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    env["PYTHONPATH"] = os.pathsep.join([str(SHIM), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["RDROP_SLOW_COPY_S"] = str(slow_copy_s)
    return env


class Attempt:
    """One start of the driver, read line by line in a thread."""

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines, self.copying, self.update = [], threading.Event(), None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("slow-copy: start"):
                self.copying.set()
            m = re.search(r'"num_updates": "(\d+)"', line)
            if m:
                self.update = int(m.group(1))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join()

    def text(self):
        return "".join(self.lines)


def last_update(text):
    ups = [int(m) for m in re.findall(r'"num_updates": "(\d+)"', text)]
    return max(ups) if ups else None


def resumed_from(text):
    """The update count this start resumed from (0: a new run), or None if it was killed
    before loading anything."""
    m = re.search(r"Loaded checkpoint \S+ \(epoch \d+ @ (\d+) updates\)", text)
    if m:
        return int(m.group(1))
    return 0 if "No existing checkpoint found" in text else None


def final_state(save_dir):
    import torch

    state = torch.load(Path(save_dir) / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    return state["model"], state["optimizer_history"][-1]["num_updates"]


def run(data, work, kills=20, max_update=MAX_UPDATE, seed=0, slow_copy_s=0.02, log=print):
    work = Path(work)
    env = environment(slow_copy_s)
    ref = Attempt(train_command(data, work / "uninterrupted", max_update), env)
    ref.proc.wait()
    ref.reader.join()
    (work / "uninterrupted.log").write_text(ref.text())
    if ref.proc.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed:\n{ref.text()[-3000:]}")

    rng = random.Random(seed)
    save = work / "killed"
    records, starts, text = [], 0, ""
    pending = []  # kills whose run had trained, waiting for the next resume to count their loss

    def settle(resumed):
        for rec in pending:
            rec["updates_lost"] = rec["last_update"] - resumed
        pending.clear()

    while True:
        starts += 1
        a = Attempt(train_command(data, save, max_update), env)
        if len(records) < kills:
            mode = rng.choices(["copy", "training", "start-up"], [0.4, 0.4, 0.2])[0]
            in_copy = mode == "copy"
            if in_copy:  # somewhere inside the next copy to checkpoint_last.pt
                while not a.copying.wait(timeout=0.05) and a.proc.poll() is None:
                    pass
                time.sleep(rng.uniform(0, 0.4))
            elif mode == "training":  # between 1 and 15 updates into this start's training
                steps, first = rng.randint(1, 15), None
                while a.proc.poll() is None:
                    if a.update is not None:
                        first = a.update if first is None else first
                        if a.update >= first + steps - 1:
                            break
                    time.sleep(0.01)
                time.sleep(rng.uniform(0, 0.3))
            else:  # start-up: imports, the resume guard, loading the checkpoint
                time.sleep(rng.uniform(0, 4.0))
            if a.proc.poll() is None:
                a.kill()
                text = a.text()
                (work / f"start_{starts:02d}.log").write_text(text)
                resumed = resumed_from(text)
                if resumed is not None:
                    settle(resumed)
                last = save / "checkpoint_last.pt"
                rec = dict(kill=len(records) + 1, mode=mode, inside_copy=in_copy and a.copying.is_set(),
                           left_torn=last.exists() and not readable(last)[0],
                           resumed_from=resumed, last_update=last_update(text),
                           guard=[line.strip() for line in text.splitlines() if line.startswith("resume_guard:")])
                if rec["last_update"] is not None:
                    pending.append(rec)
                else:
                    rec["updates_lost"] = 0  # killed before it trained: nothing in memory to lose
                records.append(rec)
                log(f"kill {rec['kill']:2d}: {'inside a copy' if rec['inside_copy'] else 'in ' + mode}"
                    f"{', left checkpoint_last.pt torn' if rec['left_torn'] else ''}; this start resumed from "
                    f"{resumed}, reached {rec['last_update']}" + (f"; {rec['guard'][0]}" if rec["guard"] else ""))
                continue
        a.proc.wait()
        a.reader.join()
        text = a.text()
        (work / f"start_{starts:02d}.log").write_text(text)
        if resumed_from(text) is not None:
            settle(resumed_from(text))
        if a.proc.returncode != 0:
            raise RuntimeError(f"a restart failed (exit {a.proc.returncode}):\n{text[-3000:]}")
        # Finished (or every kill done): stop. A finished run is never restarted, since
        # fairseq 0.12 trains one update past --max-update on every start.
        break
    (ref_model, ref_updates), (model, updates) = final_state(work / "uninterrupted"), final_state(save)
    import torch

    equal = ref_updates == updates and ref_model.keys() == model.keys() and all(
        torch.equal(ref_model[k], model[k]) for k in ref_model)
    torn = sum(any("unreadable" in g for g in r["guard"]) for r in records) + sum(
        "unreadable" in line for line in text.splitlines() if line.startswith("resume_guard:"))
    return dict(kills=len(records), kills_inside_copy=sum(r["inside_copy"] for r in records),
                kills_that_left_a_torn_file=sum(r["left_torn"] for r in records), torn_files_moved_aside=torn,
                starts=starts, max_update=max_update,
                save_interval_updates=SAVE_INTERVAL, max_updates_lost=max(r["updates_lost"] for r in records),
                final_updates=updates, final_parameters_equal_uninterrupted=equal, records=records)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a fairseq data-bin (prepare-multi30k.sh's)")
    p.add_argument("--work", required=True, help="a scratch folder for the two runs")
    p.add_argument("--kills", type=int, default=20, help="SIGKILLs before the run may finish (default 20)")
    p.add_argument("--max-update", type=int, default=MAX_UPDATE, help=f"the run's length (default {MAX_UPDATE})")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill instants (default 0)")
    p.add_argument("--json", help="write the summary here")
    a = p.parse_args(argv)
    out = run(a.data, a.work, a.kills, a.max_update, a.seed)
    print(f"kill loop: {out['kills']} kills survived ({out['kills_inside_copy']} inside a copy to "
          f"checkpoint_last.pt, {out['torn_files_moved_aside']} torn files moved aside), at most "
          f"{out['max_updates_lost']} updates lost per kill (save interval {SAVE_INTERVAL}); final parameters "
          f"{'equal' if out['final_parameters_equal_uninterrupted'] else 'DIFFER FROM'} the uninterrupted run's")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(command="python scripts/kill_loop.py " + " ".join(
            argv if argv is not None else sys.argv[1:]), **out), indent=1) + "\n")
    return 0 if out["final_parameters_equal_uninterrupted"] else 1


if __name__ == "__main__":
    sys.exit(main())
