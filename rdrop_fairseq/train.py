"""``fairseq-train`` for processes started by ``torchrun``, on CPU (gloo) or GPU.

fairseq 0.12 cannot start CPU multi-process training on its own:
``--distributed-world-size 2 --cpu`` spawns ``min(cuda_device_count, 2) = 0``
workers and exits 0 without training, and under ``torchrun`` it computes the
device as ``rank % cuda_device_count`` (a ZeroDivisionError without GPUs). This
entry point reads torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR/PORT), fills in fairseq's distributed settings, and runs fairseq's
own training ``main`` unchanged:

    torchrun --nproc_per_node 2 -m rdrop_fairseq.train DATA --cpu \\
        --distributed-backend gloo --ddp-backend legacy_ddp \\
        --user-dir rdrop_fairseq ...

(On CPU, ``--ddp-backend legacy_ddp``: torch's DDP wrapper as fairseq builds it
accepts only GPU modules.)

On GPUs it works the same way (``--distributed-backend nccl``, the default),
across nodes with torchrun's ``--nnodes/--node_rank/--master_addr``. Without
torchrun's environment it is plain ``fairseq-train``.

Before fairseq starts, the resume guard (``resume_guard.py``) makes
``SAVE_DIR/checkpoint_last.pt`` readable, as the example drivers do: on rank 0 only
(the one that reads the checkpoint unless ``--load-checkpoint-on-all-dp-ranks``;
with that flag the other ranks wait until the file is readable). ``--allow-scratch``
(taken off before fairseq parses the rest) or ``RDROP_ALLOW_SCRATCH=1`` lets a run
whose checkpoints are all unreadable start from scratch.
"""

import logging
import os
import sys

TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def apply_torchrun_env(dist_cfg, environ=os.environ) -> bool:
    """Fill fairseq's DistributedTrainingConfig from torchrun's variables.

    Returns False (and changes nothing) outside torchrun, or when the user set
    --distributed-init-method themselves.
    """
    if dist_cfg.distributed_init_method is not None:
        return False
    if not all(k in environ for k in TORCHRUN_ENV):
        return False
    dist_cfg.distributed_init_method = "env://"
    dist_cfg.distributed_world_size = int(environ["WORLD_SIZE"])
    dist_cfg.distributed_rank = int(environ["RANK"])
    dist_cfg.device_id = int(environ["LOCAL_RANK"])
    dist_cfg.distributed_no_spawn = True  # torchrun started the processes
    return True


def check_cpu_ddp_backend(ddp_backend: str) -> None:
    # fairseq hands torch's DistributedDataParallel device_ids=[device_id],
    # which torch refuses for CPU modules; fairseq's own legacy_ddp all-reduces
    # the gradients itself and works on CPU.
    from rdrop_fairseq.flags import check_flag

    check_flag(
        ddp_backend in ("legacy_ddp", "no_c10d"),
        "--ddp-backend", "legacy_ddp (or no_c10d) for multi-process --cpu training",
        ddp_backend,
    )


def guard_before_resume(ckpt_cfg, rank: int, allow_scratch: bool, wait_s: float = 600.0) -> None:
    """The resume guard for fairseq's default resume (``--restore-file
    checkpoint_last.pt`` in ``--save-dir``). Rank 0 repairs; other ranks that read
    the checkpoint themselves wait for it. Exits 2 with the guard's line when
    nothing is readable and scratch is not allowed."""
    import time
    from pathlib import Path

    from rdrop_fairseq.resume_guard import LAST, NothingReadable, fallbacks, guard, readable

    if ckpt_cfg.restore_file != LAST:
        return  # another file to start from: fairseq reads that one
    save_dir = Path(ckpt_cfg.save_dir)
    if rank == 0:
        try:
            line = guard(save_dir, allow_scratch)
        except NothingReadable as e:
            print(e, file=sys.stderr)
            sys.exit(2)
        if line:
            print(line, file=sys.stderr)
        return
    if not ckpt_cfg.load_checkpoint_on_all_dp_ranks:
        return  # rank 0 reads and broadcasts
    deadline = time.monotonic() + wait_s
    last = save_dir / LAST
    while time.monotonic() < deadline:
        if last.is_file() and readable(last)[0]:
            return
        if not last.exists() and not fallbacks(save_dir):
            return  # a new run
        time.sleep(1.0)


def already_finished(cfg) -> bool:
    """True (saying so) when checkpoint_last.pt already has --max-update updates:
    fairseq 0.12 would train one more update on every such start (it checks the
    limit only after an update), so a driver that restarts a finished run would
    drift past it."""
    from pathlib import Path

    from rdrop_fairseq.resume_guard import LAST, updates_of

    last = Path(cfg.checkpoint.save_dir) / LAST
    max_update = cfg.optimization.max_update
    if cfg.checkpoint.restore_file != LAST or not max_update or not last.is_file():
        return False
    done = updates_of(last)
    if done >= max_update:
        print(f"rdrop_fairseq.train: {last} has {done} updates, --max-update {max_update}: "
              "nothing to train", file=sys.stderr)
        return True
    return False


def cli_main(argv=None):
    # The log format of fairseq-train, so that log parsers read both alike (the
    # package import above has already configured logging by then).
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        level=os.environ.get("LOGLEVEL", "INFO").upper(),
        stream=sys.stdout,
        force=True,
    )
    from fairseq import distributed_utils, options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq_cli.train import main

    import rdrop_fairseq  # noqa: F401  (registers the plugin even without --user-dir)

    from rdrop_fairseq.resume_guard import scratch_allowed_by_env

    argv = list(sys.argv[1:] if argv is None else argv)
    allow_scratch = scratch_allowed_by_env() or "--allow-scratch" in argv
    argv = [a for a in argv if a != "--allow-scratch"]
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, input_args=argv)
    cfg = convert_namespace_to_omegaconf(args)
    if apply_torchrun_env(cfg.distributed_training) and cfg.common.cpu:
        check_cpu_ddp_backend(cfg.distributed_training.ddp_backend)
    guard_before_resume(cfg.checkpoint, cfg.distributed_training.distributed_rank, allow_scratch)
    if already_finished(cfg):
        return
    distributed_utils.call_main(cfg, main)


if __name__ == "__main__":
    cli_main()
