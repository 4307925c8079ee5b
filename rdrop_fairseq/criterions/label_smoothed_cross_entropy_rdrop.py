"""``--criterion label_smoothed_cross_entropy_rdrop``: R-Drop (Liang et al., 2021).

In training, the batch goes through the model ``--rdrop-passes`` times as ONE
concatenated batch ``[x; x; ...]`` (so each copy draws its own dropout masks);
the loss is the label-smoothed NLL summed over all copies plus
``--rdrop-alpha`` times the symmetric KL between the copies' output
distributions, summed over non-pad target tokens. ``sample_size`` is the number
of target tokens of ONE copy, as in the paper's official code. With alpha = 0
the loss is exactly ``--rdrop-passes`` times fairseq's
``label_smoothed_cross_entropy`` on the same batch.

In evaluation (``model.eval()``: validation, ``--eval-bleu``) it runs one pass and
computes exactly fairseq's label-smoothed loss. A task can also ask for the
single-pass loss during training (the k-step task does) by passing
``rdrop=False`` to :meth:`forward`.
"""

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
    label_smoothed_nll_loss,
)
from fairseq.dataclass import ChoiceEnum
from fairseq.logging import metrics
from fairseq.models import BaseFairseqModel, FairseqDecoder
from fairseq.models.transformer import TransformerModelBase
from fairseq.modules import FairseqDropout
from torch import nn

from rdrop_fairseq.flags import FlagError, check_flag
from rdrop_fairseq.modules.fused_rdrop_loss import fused_rdrop_loss
from rdrop_fairseq.modules.multi_sample_dropout import MultiSampleDropout
from rdrop_fairseq.modules.rdrop_loss import multi_pass_symmetric_kl, repeat_batch

logger = logging.getLogger(__name__)


@dataclass
class LabelSmoothedCrossEntropyRDropConfig(LabelSmoothedCrossEntropyCriterionConfig):
    rdrop_alpha: float = field(
        default=5.0,
        metadata={
            "help": "weight of the symmetric-KL consistency term (>= 0); the paper "
            "uses 5 on IWSLT14 De-En; 0 gives plain label-smoothed training on "
            "the duplicated batch"
        },
    )
    rdrop_passes: int = field(
        default=2,
        metadata={
            "help": "forward passes per batch (>= 2); the paper uses 2; with more, "
            "the KL term is averaged over all pairs of passes"
        },
    )
    rdrop_loss_impl: ChoiceEnum(["fused", "plain"]) = field(
        default="fused",
        metadata={
            "help": "fused: loss and its gradient from the logits in one chunked "
            "pass (faster, less memory; used when the decoder's output "
            "distribution is a plain log-softmax of its logits, else plain); "
            "plain: autograd through log-softmax, NLL and KL. Same values."
        },
    )


def _seq2seq_task_types():
    from fairseq.tasks.translation import TranslationTask
    from fairseq.tasks.translation_multi_simple_epoch import (
        TranslationMultiSimpleEpochTask,
    )

    types = [TranslationTask, TranslationMultiSimpleEpochTask]
    try:  # speech-to-text is seq2seq too, when its extras import
        from fairseq.tasks.speech_to_text import SpeechToTextTask

        types.append(SpeechToTextTask)
    except Exception:  # pragma: no cover - depends on optional audio packages
        pass
    return tuple(types)


def check_seq2seq_task(task) -> None:
    """R-Drop needs source -> target samples (``net_input`` and ``target``)."""
    if not isinstance(task, _seq2seq_task_types()):
        raise FlagError(
            "--task",
            "a sequence-to-sequence task for --criterion "
            "label_smoothed_cross_entropy_rdrop (translation, translation_rdrop, "
            "translation_multi_simple_epoch[_rdrop], another subclass of "
            "TranslationTask, or speech_to_text)",
            type(task).__name__,
        )


def unwrap(model: nn.Module) -> nn.Module:
    """The fairseq model inside DDP / fairseq's ModuleProxyWrapper."""
    while not isinstance(model, BaseFairseqModel) and hasattr(model, "module"):
        model = model.module
    return model


def output_is_log_softmax_of_logits(model: nn.Module) -> bool:
    """Whether ``get_normalized_probs`` is fairseq's plain log-softmax of
    ``net_output[0]``, so that the fused loss may start from the logits."""
    model = unwrap(model)
    dec = getattr(model, "decoder", None)
    return (
        isinstance(dec, FairseqDecoder)
        and getattr(dec, "adaptive_softmax", None) is None
        and type(dec).get_normalized_probs is FairseqDecoder.get_normalized_probs
        and type(dec).get_normalized_probs_scriptable
        is FairseqDecoder.get_normalized_probs_scriptable
        and type(model).get_normalized_probs
        in (BaseFairseqModel.get_normalized_probs, TransformerModelBase.get_normalized_probs)
        and type(model).get_normalized_probs_scriptable
        is BaseFairseqModel.get_normalized_probs_scriptable
    )


def has_active_dropout(model: nn.Module) -> bool:
    return any(
        isinstance(m, (nn.modules.dropout._DropoutNd, FairseqDropout, MultiSampleDropout))
        and m.p > 0
        for m in model.modules()
    )


@register_criterion(
    "label_smoothed_cross_entropy_rdrop",
    dataclass=LabelSmoothedCrossEntropyRDropConfig,
)
class LabelSmoothedCrossEntropyRDropCriterion(LabelSmoothedCrossEntropyCriterion):
    def __init__(
        self,
        task,
        sentence_avg,
        label_smoothing,
        ignore_prefix_size=0,
        report_accuracy=False,
        rdrop_alpha=5.0,
        rdrop_passes=2,
        rdrop_loss_impl="fused",
    ):
        check_flag(
            rdrop_alpha >= 0 and math.isfinite(rdrop_alpha),
            "--rdrop-alpha", "a finite float >= 0", rdrop_alpha,
        )
        check_flag(
            isinstance(rdrop_passes, int) and rdrop_passes >= 2,
            "--rdrop-passes", "an integer >= 2", rdrop_passes,
        )
        check_flag(
            0.0 <= label_smoothing < 1.0,
            "--label-smoothing", "a float in [0, 1)", label_smoothing,
        )
        check_flag(
            ignore_prefix_size >= 0,
            "--ignore-prefix-size", "an integer >= 0", ignore_prefix_size,
        )
        check_flag(
            str(rdrop_loss_impl) in ("fused", "plain"),
            "--rdrop-loss-impl", "fused or plain", rdrop_loss_impl,
        )
        check_seq2seq_task(task)
        super().__init__(
            task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy
        )
        self.alpha = rdrop_alpha
        self.num_passes = rdrop_passes
        self.loss_impl = str(rdrop_loss_impl)
        self._checked_dropout = False
        self._step_rdrop = None  # set by rdrop_for_this_step
        self._fused_ok = None  # whether the fused loss applies to the model

    @contextmanager
    def rdrop_for_this_step(self, rdrop: bool):
        """Make the training forwards inside the block R-Drop (True) or plain
        (False): how a task (k-step R-Drop) chooses per update while leaving
        its own ``train_step`` as it is."""
        self._step_rdrop = rdrop
        try:
            yield
        finally:
            self._step_rdrop = None

    def forward(self, model, sample, reduce=True, rdrop=None):
        """Loss, sample size and logging outputs for one batch.

        ``rdrop``: None (default) runs R-Drop whenever the model is in training
        mode, unless a task chose otherwise with :meth:`rdrop_for_this_step`;
        False forces one plain pass; True forces R-Drop.
        """
        if rdrop is None:
            rdrop = model.training and self._step_rdrop is not False
        if not rdrop:
            return self._forward_single_pass(model, sample, reduce)
        if not reduce:
            raise ValueError("R-Drop needs reduce=True: the KL term couples copies")
        self._warn_if_no_dropout(model)
        return self._forward_rdrop(model, sample)

    def _forward_single_pass(self, model, sample, reduce):
        loss, sample_size, logging_output = super().forward(model, sample, reduce)
        if model.training:
            logging_output["nbatches"] = 1
        return loss, sample_size, logging_output

    def _forward_rdrop(self, model, sample):
        net_output = model(**repeat_batch(sample["net_input"], self.num_passes))
        return self._loss_from_output(model, sample, net_output)

    def _loss_from_output(self, model, sample, net_output):
        """The R-Drop loss of the model's output for ``[x; x; ...]``."""
        m = self.num_passes
        target = model.get_targets(sample, net_output)  # one copy: B x T
        p = self.ignore_prefix_size
        if p > 0:
            target = target[:, p:]
        pad_mask = target.eq(self.padding_idx)
        all_targets = target.repeat(m, 1)

        if self.loss_impl == "fused" and self._fused_applies(model):
            logits = net_output[0][:, p:, :] if p > 0 else net_output[0]
            loss, nll_loss, kl_loss = fused_rdrop_loss(
                logits, target, pad_mask, self.eps, self.alpha, m
            )
            scores = logits  # argmax of logits = argmax of log-probs
        else:
            lprobs = model.get_normalized_probs(net_output, log_probs=True)
            if p > 0:
                lprobs = lprobs[:, p:, :]
            # m x the label-smoothed NLL of one copy, as fairseq computes it.
            loss, nll_loss = label_smoothed_nll_loss(
                lprobs.reshape(-1, lprobs.size(-1)),
                all_targets.reshape(-1),
                self.eps,
                ignore_index=self.padding_idx,
                reduce=True,
            )
            kl_loss = multi_pass_symmetric_kl(lprobs, m, pad_mask)
            loss = loss + self.alpha * kl_loss
            scores = lprobs

        ntokens = sample["ntokens"]
        sample_size = sample["target"].size(0) if self.sentence_avg else ntokens
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll_loss.data / m,  # per copy, comparable to baseline
            "kl_loss": kl_loss.data,
            "ntokens": ntokens,
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
            "nbatches": 1,
            "rdrop_batches": 1,
            "rdrop_ntokens": ntokens,
        }
        if self.report_accuracy:
            mask = all_targets.ne(self.padding_idx)
            n_correct = scores.argmax(-1).masked_select(mask).eq(
                all_targets.masked_select(mask)
            )
            logging_output["n_correct"] = utils.item(n_correct.sum().data)
            logging_output["total"] = utils.item(mask.sum().data)
        return loss, sample_size, logging_output

    def _fused_applies(self, model) -> bool:
        if self._fused_ok is None:
            self._fused_ok = output_is_log_softmax_of_logits(model)
            if not self._fused_ok:
                logger.info(
                    "label_smoothed_cross_entropy_rdrop: the model's output "
                    "distribution is not a plain log-softmax of its logits "
                    "(adaptive softmax or a custom get_normalized_probs), so "
                    "--rdrop-loss-impl fused falls back to the plain loss (same values)"
                )
        return self._fused_ok

    def _warn_if_no_dropout(self, model):
        if self._checked_dropout:
            return
        self._checked_dropout = True
        if not has_active_dropout(model):
            logger.warning(
                "label_smoothed_cross_entropy_rdrop: the model has no dropout "
                "(--dropout, --attention-dropout, --activation-dropout are all 0), "
                "so every pass is identical and the KL term is 0: R-Drop then only "
                "duplicates the batch. Set --dropout > 0."
            )

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        super().reduce_metrics(logging_outputs)

        def total(key):
            return utils.item(sum(log.get(key, 0) for log in logging_outputs))

        rdrop_ntokens = total("rdrop_ntokens")
        if rdrop_ntokens > 0:
            # Per target token, base 2 like fairseq's loss, before alpha.
            metrics.log_scalar(
                "kl_loss",
                total("kl_loss") / rdrop_ntokens / math.log(2),
                rdrop_ntokens,
                round=4,
            )
        nbatches = total("nbatches")
        if nbatches > 0:
            metrics.log_scalar(
                "rdrop_frac", total("rdrop_batches") / nbatches, nbatches, round=3
            )

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
