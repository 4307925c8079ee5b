"""k-step R-Drop: ``--task translation_rdrop --rdrop-k-step k``.

The R-Drop paper's k-step variant runs R-Drop only on every k-th update and a
single plain pass otherwise. :class:`KStepRDropMixin` adds that to any fairseq
task: it asks the criterion for R-Drop when ``update_num % k == 0`` and for one
plain pass otherwise, then lets the task's own ``train_step`` (AMP, profiler
ranges, backward) run unchanged. ``update_num`` is fairseq's count of finished
updates, restored from checkpoints and identical on every worker, so the phase
survives restarts and agrees across processes; all micro-batches of one update
(``--update-freq``) share it.

Registered here on two tasks: ``translation_rdrop`` (fairseq's ``translation``)
and ``translation_multi_simple_epoch_rdrop`` (fairseq's multilingual
``translation_multi_simple_epoch``).
"""

from dataclasses import dataclass, field

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask
from fairseq.tasks.translation_multi_simple_epoch import TranslationMultiSimpleEpochTask

from rdrop_fairseq.criterions.label_smoothed_cross_entropy_rdrop import (
    LabelSmoothedCrossEntropyRDropCriterion,
)
from rdrop_fairseq.flags import FlagError, check_flag

K_STEP_HELP = (
    "run R-Drop on every k-th update (when update_num %% k == 0) and one plain "
    "label-smoothed pass on the others; 1 = every update, as in the paper's main "
    "results (the paper's k-step study uses 1, 2, 5, 10)"
)


def rdrop_on_update(update_num: int, k: int) -> bool:
    return update_num % k == 0


class KStepRDropMixin:
    """Put before a FairseqTask in the bases: ``class T(KStepRDropMixin, Task)``."""

    def _k_step(self) -> int:
        cfg = getattr(self, "cfg", None)
        k = getattr(cfg, "rdrop_k_step", None) if cfg is not None else None
        if k is None:
            k = getattr(getattr(self, "args", None), "rdrop_k_step", 1)
        return k

    def check_k_step(self):
        k = self._k_step()
        check_flag(isinstance(k, int) and k >= 1, "--rdrop-k-step", "an integer >= 1", k)

    def build_criterion(self, cfg, *args, **kwargs):
        criterion = super().build_criterion(cfg, *args, **kwargs)
        if not isinstance(criterion, LabelSmoothedCrossEntropyRDropCriterion):
            raise FlagError(
                "--criterion",
                "label_smoothed_cross_entropy_rdrop (or a subclass) with "
                f"--task {self._task_name()}, whose --rdrop-k-step needs a "
                "criterion with an R-Drop path",
                getattr(cfg, "_name", type(criterion).__name__),
            )
        return criterion

    def _task_name(self):
        return getattr(type(self), "_rdrop_task_name", type(self).__name__)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        with criterion.rdrop_for_this_step(rdrop_on_update(update_num, self._k_step())):
            return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)


@dataclass
class TranslationRDropConfig(TranslationConfig):
    rdrop_k_step: int = field(default=1, metadata={"help": K_STEP_HELP})


@register_task("translation_rdrop", dataclass=TranslationRDropConfig)
class TranslationRDropTask(KStepRDropMixin, TranslationTask):
    """fairseq's ``translation`` task with k-step R-Drop."""

    _rdrop_task_name = "translation_rdrop"

    def __init__(self, cfg, src_dict, tgt_dict):
        super().__init__(cfg, src_dict, tgt_dict)
        self.check_k_step()


@register_task("translation_multi_simple_epoch_rdrop")
class TranslationMultiSimpleEpochRDropTask(KStepRDropMixin, TranslationMultiSimpleEpochTask):
    """fairseq's multilingual ``translation_multi_simple_epoch`` with k-step R-Drop."""

    _rdrop_task_name = "translation_multi_simple_epoch_rdrop"

    @staticmethod
    def add_args(parser):
        TranslationMultiSimpleEpochTask.add_args(parser)
        parser.add_argument("--rdrop-k-step", type=int, default=1, metavar="K", help=K_STEP_HELP)

    def __init__(self, args, langs, dicts, training):
        super().__init__(args, langs, dicts, training)
        self.check_k_step()
