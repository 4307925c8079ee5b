"""R-Drop schedules and the dropout probe: ``--task translation_rdrop``.

:class:`RDropScheduleMixin` adds to any fairseq task:

- **k-step R-Drop** (``--rdrop-k-step k``): R-Drop only on every k-th update,
  one plain pass otherwise, as in the R-Drop paper's k-step variant;
- **a late start** (``--rdrop-start-update N``): one plain label-smoothed pass,
  at the baseline's cost, before update N, R-Drop from N on;
- **an alpha warm-up** (``--rdrop-alpha-warmup-updates W``): alpha ramps
  linearly from 0 to ``--rdrop-alpha`` over W updates after the start;
- **the dropout probe** (``--rdrop-probe-interval N``): every N updates, one
  extra no-grad forward of the batch as ``[x; x]`` (a fresh dropout mask per
  copy, under a forked RNG) and the symmetric KL between the copies, logged as
  ``probe_kl`` (per target token, base 2, like ``kl_loss``). It works with any
  criterion, and leaves the run's training exactly as it is without it.

The schedule (``modules/rdrop_schedule.py``) is asked once per update with
fairseq's ``update_num``, the count of finished updates, restored from
checkpoints and identical on every worker: the schedule survives restarts and
agrees across processes; all micro-batches of one update (``--update-freq``)
share it. The task then hands the criterion its choice and lets its own
``train_step`` (AMP, profiler ranges, backward) run unchanged.

Registered on two tasks: ``translation_rdrop`` (fairseq's ``translation``) and
``translation_multi_simple_epoch_rdrop`` (fairseq's multilingual
``translation_multi_simple_epoch``).
"""

import math
from dataclasses import dataclass, field

from fairseq import utils
from fairseq.logging import metrics
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask
from fairseq.tasks.translation_multi_simple_epoch import TranslationMultiSimpleEpochTask

from rdrop_fairseq.criterions.label_smoothed_cross_entropy_rdrop import (
    LabelSmoothedCrossEntropyRDropCriterion,
)
from rdrop_fairseq.flags import FlagError, check_flag
from rdrop_fairseq.modules.dropout_probe import dropout_probe_kl
from rdrop_fairseq.modules.rdrop_schedule import RDropSchedule
from rdrop_fairseq.modules.resume_batches import first_epoch_batches

HELP = {
    "rdrop_k_step": "run R-Drop on every k-th update (when update_num %% k == 0) and one plain "
    "label-smoothed pass on the others; 1 = every update, as in the paper's main results (the "
    "paper's k-step study uses 1, 2, 5, 10)",
    "rdrop_start_update": "no R-Drop before this update (fairseq's update count, from 0): one "
    "plain label-smoothed pass at the baseline's cost, then R-Drop (with --rdrop-k-step: on "
    "every k-th update from here); 0 = from the first update",
    "rdrop_alpha_warmup_updates": "from --rdrop-start-update on, ramp the KL weight linearly "
    "from 0 to --rdrop-alpha over this many updates (logged as rdrop_alpha); 0 = full alpha "
    "at once",
    "rdrop_probe_interval": "every N updates, one extra no-grad forward of the batch with fresh "
    "dropout masks, logging the symmetric KL between two dropout passes as probe_kl (the R-Drop "
    "authors' diagnostic of whether R-Drop will help); training is unchanged; 0 = off",
}


def rdrop_on_update(update_num: int, k: int) -> bool:
    return RDropSchedule(k_step=k).plan(update_num)[0]


def _flag(task, name, default):
    cfg = getattr(task, "cfg", None)
    value = getattr(cfg, name, None) if cfg is not None else None
    return getattr(getattr(task, "args", None), name, default) if value is None else value


class RDropScheduleMixin:
    """Put before a FairseqTask in the bases: ``class T(RDropScheduleMixin, Task)``."""

    def check_rdrop_schedule(self):
        k, start, warmup, probe = (_flag(self, n, d) for n, d in (
            ("rdrop_k_step", 1), ("rdrop_start_update", 0),
            ("rdrop_alpha_warmup_updates", 0), ("rdrop_probe_interval", 0)))
        whole = lambda v, low: isinstance(v, int) and not isinstance(v, bool) and v >= low  # noqa: E731
        check_flag(whole(k, 1), "--rdrop-k-step", "an integer >= 1", k)
        check_flag(whole(start, 0), "--rdrop-start-update", "an integer >= 0", start)
        check_flag(whole(warmup, 0), "--rdrop-alpha-warmup-updates", "an integer >= 0", warmup)
        check_flag(whole(probe, 0), "--rdrop-probe-interval", "an integer >= 0 (0 = off)", probe)
        self.rdrop_schedule = RDropSchedule(k, start, warmup)
        self.rdrop_probe_interval = probe

    def build_criterion(self, cfg, *args, **kwargs):
        criterion = super().build_criterion(cfg, *args, **kwargs)
        plan = self.rdrop_schedule
        if plan.needs_rdrop_criterion and not isinstance(criterion, LabelSmoothedCrossEntropyRDropCriterion):
            used = [flag for flag, on in (
                ("--rdrop-k-step", plan.k_step != 1), ("--rdrop-start-update", plan.start_update > 0),
                ("--rdrop-alpha-warmup-updates", plan.alpha_warmup_updates > 0)) if on]
            raise FlagError(
                "--criterion",
                "label_smoothed_cross_entropy_rdrop (or a subclass) with "
                f"--task {self._task_name()} and {', '.join(used)}, which need a "
                "criterion with an R-Drop path (--rdrop-probe-interval alone works with any)",
                getattr(cfg, "_name", type(criterion).__name__),
            )
        return criterion

    def _task_name(self):
        return getattr(type(self), "_rdrop_task_name", type(self).__name__)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        if isinstance(criterion, LabelSmoothedCrossEntropyRDropCriterion):
            rdrop, alpha_scale = self.rdrop_schedule.plan(update_num)
            with criterion.rdrop_for_this_step(rdrop, alpha_scale):
                out = super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
        else:
            out = super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
        interval = self.rdrop_probe_interval
        if interval > 0 and update_num % interval == 0:
            kl, ntokens = dropout_probe_kl(model, sample, self.target_dictionary.pad())
            out[2]["probe_kl"], out[2]["probe_ntokens"] = kl, ntokens
        return out

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        ntokens = utils.item(sum(log.get("probe_ntokens", 0) for log in logging_outputs))
        if ntokens > 0:
            kl = utils.item(sum(log.get("probe_kl", 0) for log in logging_outputs))
            metrics.log_scalar("probe_kl", kl / ntokens / math.log(2), ntokens, round=4)


@dataclass
class TranslationRDropConfig(TranslationConfig):
    rdrop_k_step: int = field(default=1, metadata={"help": HELP["rdrop_k_step"]})
    rdrop_start_update: int = field(default=0, metadata={"help": HELP["rdrop_start_update"]})
    rdrop_alpha_warmup_updates: int = field(
        default=0, metadata={"help": HELP["rdrop_alpha_warmup_updates"]})
    rdrop_probe_interval: int = field(default=0, metadata={"help": HELP["rdrop_probe_interval"]})


@register_task("translation_rdrop", dataclass=TranslationRDropConfig)
class TranslationRDropTask(RDropScheduleMixin, TranslationTask):
    """fairseq's ``translation`` task with R-Drop schedules and the dropout probe; a run
    resumed in any epoch trains on the batches of an uninterrupted run
    (:func:`rdrop_fairseq.modules.resume_batches.first_epoch_batches`)."""

    _rdrop_task_name = "translation_rdrop"

    def __init__(self, cfg, src_dict, tgt_dict):
        super().__init__(cfg, src_dict, tgt_dict)
        self.check_rdrop_schedule()

    def get_batch_iterator(self, dataset, *args, **kwargs):
        with first_epoch_batches(self, super().get_batch_iterator, dataset, args, kwargs):
            return super().get_batch_iterator(dataset, *args, **kwargs)


@register_task("translation_multi_simple_epoch_rdrop")
class TranslationMultiSimpleEpochRDropTask(RDropScheduleMixin, TranslationMultiSimpleEpochTask):
    """fairseq's multilingual ``translation_multi_simple_epoch`` with R-Drop schedules."""

    _rdrop_task_name = "translation_multi_simple_epoch_rdrop"

    @staticmethod
    def add_args(parser):
        TranslationMultiSimpleEpochTask.add_args(parser)
        for name, meta in (("rdrop_k_step", "K"), ("rdrop_start_update", "N"),
                           ("rdrop_alpha_warmup_updates", "W"), ("rdrop_probe_interval", "N")):
            parser.add_argument("--" + name.replace("_", "-"), type=int, default=1 if name == "rdrop_k_step" else 0,
                                metavar=meta, help=HELP[name])

    def __init__(self, args, langs, dicts, training):
        super().__init__(args, langs, dicts, training)
        self.check_rdrop_schedule()
