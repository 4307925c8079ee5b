"""Resume guard: make ``checkpoint_last.pt`` readable before fairseq starts (issue 42).

fairseq 0.12 writes a save's first checkpoint atomically (a .tmp file, then a
rename), then *copies* it to ``checkpoint_last.pt`` and ``checkpoint_best.pt``
with ``PathManager.copy``, which is not atomic: a kill during that copy leaves a
torn ``checkpoint_last.pt``, and ``fairseq-train`` then stops with
"PytorchStreamReader failed reading zip archive". This guard runs first:

    python -m rdrop_fairseq.resume_guard SAVE_DIR [--allow-scratch]

- ``checkpoint_last.pt`` readable (its zip central directory reads and
  ``torch.load`` opens it with ``mmap``, reading no tensor): nothing to do.
- torn or empty: it is moved aside as ``checkpoint_last.pt.torn`` (kept for
  inspection) and the newest readable checkpoint takes its place:
  ``checkpoint_E_U.pt`` or ``checkpointE.pt`` by update count, else
  ``checkpoint_best.pt``; one line names both files.
- missing while interval checkpoints exist (a kill between fairseq's rename and
  its copy): the newest readable one takes its place, as above.
- nothing readable: exit 2 with one line, unless ``--allow-scratch`` (or
  ``RDROP_ALLOW_SCRATCH=1``) lets the run start from scratch, which it says.
"""

import argparse
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

ALLOW_SCRATCH_ENV = "RDROP_ALLOW_SCRATCH"
LAST = "checkpoint_last.pt"
INTERVAL = re.compile(r"checkpoint_(\d+)_(\d+)\.pt")
EPOCH = re.compile(r"checkpoint(\d+)\.pt")


class NothingReadable(RuntimeError):
    pass


def scratch_allowed_by_env(environ=os.environ) -> bool:
    """RDROP_ALLOW_SCRATCH: "1" allows, "0" or unset does not; anything else stops
    with one line (a typo must not silently keep or lose a run)."""
    value = environ.get(ALLOW_SCRATCH_ENV, "")
    if value not in ("", "0", "1"):
        print(f"resume_guard: {ALLOW_SCRATCH_ENV}: expected 0 or 1, got '{value}'", file=sys.stderr)
        sys.exit(2)
    return value == "1"


def readable(path: Path):
    """(True, "") if PATH is a checkpoint torch can open, else (False, why), reading
    only the zip's directory and the pickled structure (tensors stay mmapped)."""
    try:
        if path.stat().st_size == 0:
            return False, "empty"
        with zipfile.ZipFile(path) as z:
            z.namelist()
    except (OSError, zipfile.BadZipFile) as e:
        return False, f"not a readable zip ({e})"
    import torch

    try:
        torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as e:  # any failure to open is a torn file to the guard
        return False, f"torch.load failed ({type(e).__name__}: {e})"
    return True, ""


def updates_of(path: Path) -> int:
    """The update count a checkpoint was saved at: from an interval checkpoint's name,
    else from its pickled state (mmapped: no tensor read); -1 if unreadable."""
    m = INTERVAL.fullmatch(path.name)
    if m:
        return int(m.group(2))
    try:
        import torch

        state = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
        return int(state["optimizer_history"][-1]["num_updates"])
    except Exception:
        return -1


def fallbacks(save_dir: Path):
    """Candidates to resume from, best first: interval checkpoints (checkpoint_E_U.pt)
    and epoch checkpoints (checkpointE.pt, the IWSLT14 recipe's) by update count,
    newest first, then checkpoint_best.pt."""
    saves = [p for p in save_dir.glob("checkpoint*.pt") if INTERVAL.fullmatch(p.name) or EPOCH.fullmatch(p.name)]
    best = save_dir / "checkpoint_best.pt"
    return sorted(saves, key=updates_of, reverse=True) + ([best] if best.is_file() else [])


def _restore(src: Path, last: Path):
    tmp = last.with_name(last.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, last)  # atomic: a kill here leaves the old state, never a torn file


def guard(save_dir, allow_scratch=False):
    """Make SAVE_DIR's checkpoint_last.pt readable or absent-by-choice; returns the
    one line to print ("" if nothing was done). Raises NothingReadable."""
    save_dir = Path(save_dir)
    last = save_dir / LAST
    torn = last.with_name(LAST + ".torn")
    if last.is_file():
        ok, why = readable(last)
        if ok:
            return ""
        state = f"{last} was unreadable ({why}; kept as {torn.name})"
    else:
        if not save_dir.is_dir() or not fallbacks(save_dir):
            return ""  # a new run
        state = f"{last} was missing"
    source = next((cand for cand in fallbacks(save_dir) if readable(cand)[0]), None)
    if source is None and not allow_scratch:
        # nothing is moved: the refusal stands until the user decides
        raise NothingReadable(
            f"resume_guard: {state.replace('; kept as ' + torn.name, '')} and no checkpoint in {save_dir} is "
            f"readable; to start from scratch, pass --allow-scratch or set {ALLOW_SCRATCH_ENV}=1")
    if last.is_file():
        os.replace(last, torn)
    if source is None:
        return f"resume_guard: {state} and no checkpoint in {save_dir} is readable; starting from scratch " \
               f"(--allow-scratch / {ALLOW_SCRATCH_ENV}=1)"
    _restore(source, last)
    return f"resume_guard: {state}; resuming from {source.name}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("save_dir", help="fairseq's --save-dir")
    p.add_argument("--allow-scratch", action="store_true",
                   help=f"start from scratch when no checkpoint is readable (also {ALLOW_SCRATCH_ENV}=1)")
    a = p.parse_args(argv)
    try:
        line = guard(a.save_dir, a.allow_scratch or scratch_allowed_by_env())
    except NothingReadable as e:
        print(e, file=sys.stderr)
        return 2
    if line:
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
