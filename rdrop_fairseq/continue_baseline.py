"""Continue a trained baseline checkpoint with R-Drop, keeping its optimizer.

fairseq's ``load_checkpoint`` restores Adam's state, the LR scheduler and the
update count only if the checkpoint was written under the same criterion class;
otherwise it stops ("Criterion does not match; please reset the optimizer")
and ``--reset-optimizer`` drops all three, so the warm-up starts again. The
R-Drop criterion holds no state of its own and its single-pass loss is fairseq's
label-smoothed cross-entropy, so a baseline's optimizer state is valid for it
as it is: this tool writes a copy of the checkpoint whose optimizer history
names the R-Drop criterion, and nothing else changes.

    python -m rdrop_fairseq.continue_baseline BASELINE.pt OUT.pt
    fairseq-train DATA --user-dir rdrop_fairseq --task translation_rdrop \\
        --criterion label_smoothed_cross_entropy_rdrop ... \\
        --restore-file OUT.pt --save-dir NEW_DIR

(``--restore-file`` is read only when NEW_DIR has no ``checkpoint_last.pt``; a
run killed later resumes from its own checkpoints.) The update count goes on
from the baseline's, so ``--rdrop-start-update`` at or below it means R-Drop
from the first update of the continuation.
"""

import argparse
import sys

import torch

RDROP_CRITERION = "LabelSmoothedCrossEntropyRDropCriterion"
# Criteria whose training loss is exactly the R-Drop criterion's single pass.
SINGLE_PASS_CRITERIA = ("LabelSmoothedCrossEntropyCriterion", "LabelSmoothedCrossEntropyFusedCriterion")


def continue_with_rdrop(state: dict) -> str:
    """Rename the criterion in ``state``'s optimizer history (in place); returns
    the criterion name it had."""
    history = state.get("optimizer_history") or []
    if not history or "criterion_name" not in history[-1]:
        raise ValueError("not a fairseq training checkpoint: it has no optimizer_history")
    was = history[-1]["criterion_name"]
    if was not in SINGLE_PASS_CRITERIA + (RDROP_CRITERION,):
        raise ValueError(
            f"the checkpoint was trained with {was}; expected one of "
            f"{', '.join(SINGLE_PASS_CRITERIA)} (label_smoothed_cross_entropy[_fused]), whose "
            "optimizer state the R-Drop criterion can continue")
    history[-1]["criterion_name"] = RDROP_CRITERION
    return was


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m rdrop_fairseq.continue_baseline",
        description="Write a copy of a baseline checkpoint that fairseq-train continues with "
        "--criterion label_smoothed_cross_entropy_rdrop (via --restore-file), keeping Adam's "
        "state, the LR schedule and the update count.")
    p.add_argument("checkpoint", help="the baseline's checkpoint (e.g. checkpoint_last.pt)")
    p.add_argument("out", help="where to write the copy")
    a = p.parse_args(argv)
    import rdrop_fairseq  # noqa: F401  (lets fairseq checkpoints load under torch >= 2.6)

    state = torch.load(a.checkpoint, map_location="cpu")
    try:
        was = continue_with_rdrop(state)
    except ValueError as e:
        p.error(f"{a.checkpoint}: {e}")
    torch.save(state, a.out)
    last = state["optimizer_history"][-1]
    print(f"continue_baseline: wrote {a.out}: {was} -> {RDROP_CRITERION}, "
          f"{last.get('num_updates')} updates, optimizer {last.get('optimizer_name')} kept")


if __name__ == "__main__":
    sys.exit(main())
