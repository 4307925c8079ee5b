"""``--criterion label_smoothed_cross_entropy_rdrop``: R-Drop (Liang et al., 2021).

In training, the batch goes through the model ``--rdrop-passes`` times as ONE
concatenated batch ``[x; x; ...]`` (so each copy draws its own dropout masks);
the loss is the label-smoothed NLL summed over all copies plus
``--rdrop-alpha`` times the symmetric KL between the copies' output
distributions, summed over non-pad target tokens. ``sample_size`` is the number
of target tokens of ONE copy, as in the paper's official code. With alpha = 0
the loss is exactly ``--rdrop-passes`` times fairseq's
``label_smoothed_cross_entropy`` on the same batch.

``--cutoff-rate`` with ``--cutoff-copies second|all`` cuts token embeddings of
the chosen copies (SimCut; R-Drop + Cutoff): see
``rdrop_fairseq/modules/token_cutoff.py`` for exactly what is implemented.

In evaluation (``model.eval()``: validation, ``--eval-bleu``) it runs one pass and
computes exactly fairseq's label-smoothed loss. A task can also ask for the
single-pass loss during training (the k-step task does) by passing
``rdrop=False`` to :meth:`forward`.
"""

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
    label_smoothed_nll_loss,
)
from fairseq.dataclass import ChoiceEnum
from fairseq.logging import metrics
from torch import nn

from rdrop_fairseq.criterions.fused_linear_path import FusedLinearPath
from rdrop_fairseq.flags import FlagError, check_flag
from rdrop_fairseq.modules.fused_linear_loss import fused_linear_loss
from rdrop_fairseq.modules.fused_rdrop_loss import fused_rdrop_loss, fused_simcut_loss
from rdrop_fairseq.modules.model_introspection import (
    has_active_dropout,
    output_is_log_softmax_of_logits,
    unwrap,
)
from rdrop_fairseq.modules.shared_encoder import share_encoder_pass
from rdrop_fairseq.modules.rdrop_loss import (
    clean_to_cut_kl,
    multi_pass_symmetric_kl,
    repeat_batch,
)
from rdrop_fairseq.modules.token_cutoff import CUTOFF_COPIES, CUTOFF_MODES, cut_embeddings

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
    rdrop_loss_impl: ChoiceEnum(["fused", "plain", "fused_linear"]) = field(
        default="fused",
        metadata={
            "help": "fused: loss and its gradient from the logits in one chunked "
            "pass (faster, less memory; used when the decoder's output "
            "distribution is a plain log-softmax of its logits, else plain); "
            "plain: autograd through log-softmax, NLL and KL; fused_linear: from "
            "the decoder's hidden states and output projection, chunk by chunk, "
            "never holding the logits (R-Drop passes and, in training, single "
            "passes; falls back to fused where the output layer is not a plain "
            "projection, and with --report-accuracy). Same values."
        },
    )
    rdrop_share_encoder: bool = field(
        default=False,
        metadata={
            "help": "one encoder pass (with its own dropout) instead of one per copy: "
            "the decoder runs on every copy of the encoder's output, each copy with "
            "its own dropout, and the KL is taken on the decoder's outputs as in "
            "R-Drop; cheaper per update (see docs/benchmarks.md); not with "
            "--cutoff-rate > 0 (cutoff cuts each copy's source)"
        },
    )
    cutoff_rate: float = field(
        default=0.0,
        metadata={
            "help": "probability in [0, 1) that a token's embedding is cut (zeroed) "
            "in the copies chosen by --cutoff-copies, on the source and the decoder "
            "input; --cutoff-mode span: the length of one cut span as a fraction of "
            "the sentence. SimCut's published setting: 0.05 with --rdrop-alpha 3"
        },
    )
    cutoff_copies: ChoiceEnum(list(CUTOFF_COPIES)) = field(
        default="none",
        metadata={
            "help": "which copies of [x; x; ...] are cut: none (R-Drop); second "
            "(SimCut: copy 1 clean, the others cut; loss = NLL of the clean copy "
            "+ alpha * KL(clean || cut)); all (R-Drop + Cutoff: every copy cut, "
            "R-Drop's loss)"
        },
    )
    cutoff_mode: ChoiceEnum(list(CUTOFF_MODES)) = field(
        default="token",
        metadata={
            "help": "token: each position cut independently; span: one contiguous "
            "span per sentence and side"
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


@register_criterion(
    "label_smoothed_cross_entropy_rdrop",
    dataclass=LabelSmoothedCrossEntropyRDropConfig,
)
class LabelSmoothedCrossEntropyRDropCriterion(FusedLinearPath, LabelSmoothedCrossEntropyCriterion):
    fused_linear_fallback = (
        "label_smoothed_cross_entropy_rdrop: --rdrop-loss-impl fused_linear: using the "
        "fused loss from the logits (same values)")

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
        rdrop_share_encoder=False,
        cutoff_rate=0.0,
        cutoff_copies="none",
        cutoff_mode="token",
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
            str(rdrop_loss_impl) in ("fused", "plain", "fused_linear"),
            "--rdrop-loss-impl", "fused, plain or fused_linear", rdrop_loss_impl,
        )
        check_flag(
            isinstance(cutoff_rate, (int, float)) and 0.0 <= cutoff_rate < 1.0,
            "--cutoff-rate", "a float in [0, 1)", cutoff_rate,
        )
        check_flag(
            str(cutoff_copies) in CUTOFF_COPIES,
            "--cutoff-copies", " or ".join(CUTOFF_COPIES), cutoff_copies,
        )
        check_flag(
            str(cutoff_mode) in CUTOFF_MODES,
            "--cutoff-mode", " or ".join(CUTOFF_MODES), cutoff_mode,
        )
        check_flag(
            cutoff_rate == 0 or str(cutoff_copies) != "none",
            "--cutoff-copies",
            "second (SimCut) or all (R-Drop + Cutoff) when --cutoff-rate > 0",
            cutoff_copies,
        )
        check_flag(
            not (rdrop_share_encoder and cutoff_rate > 0),
            "--rdrop-share-encoder",
            "off when --cutoff-rate > 0 (cutoff cuts each copy's source; a shared encoder "
            "pass has one)",
            rdrop_share_encoder,
        )
        if str(cutoff_copies) == "second" and cutoff_rate == 0:
            logger.warning(
                "--cutoff-copies second with --cutoff-rate 0: SimCut's loss (NLL of copy 1 + "
                "alpha * KL(copy 1 || copy 2)) with nothing cut; set --cutoff-rate > 0 for SimCut"
            )
        check_seq2seq_task(task)
        super().__init__(
            task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy
        )
        self.alpha = rdrop_alpha
        self.num_passes = rdrop_passes
        self.loss_impl = str(rdrop_loss_impl)
        self._checked_dropout = False
        self.share_encoder = bool(rdrop_share_encoder)
        self._step_rdrop = None  # set by rdrop_for_this_step
        self._step_alpha_scale = 1.0  # likewise: the schedule's alpha warm-up
        self._fused_ok = None  # whether the fused loss applies to the model
        self.cutoff_rate = float(cutoff_rate)
        self.cutoff_copies = str(cutoff_copies)
        self.cutoff_mode = str(cutoff_mode)

    @contextmanager
    def rdrop_for_this_step(self, rdrop: bool, alpha_scale: float = 1.0):
        """Make the training forwards inside the block R-Drop (True) or plain
        (False), with ``alpha_scale`` times ``--rdrop-alpha``: how a task (the
        schedules of ``modules/rdrop_schedule.py``) chooses per update while
        leaving its own ``train_step`` as it is."""
        self._step_rdrop, self._step_alpha_scale = rdrop, float(alpha_scale)
        try:
            yield
        finally:
            self._step_rdrop, self._step_alpha_scale = None, 1.0

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
        linear = self._linear_output(model) if model.training and reduce else None
        if linear is None:
            loss, sample_size, logging_output = super().forward(model, sample, reduce)
        else:  # fairseq's label-smoothed CE, from the hidden states
            loss, sample_size, logging_output = self.fused_linear_forward(model, sample, linear)
        if model.training:
            logging_output["nbatches"] = 1
        return loss, sample_size, logging_output

    def _linear_output(self, model):
        """For --rdrop-loss-impl fused_linear: (the decoder's step from its
        features to the projection's input, the projection), or None where the
        output layer is not that (then the fused loss from the logits is used)."""
        return self.fused_linear_output(model) if self.loss_impl == "fused_linear" else None

    def _forward_rdrop(self, model, sample):
        net_input = repeat_batch(sample["net_input"], self.num_passes)
        linear = self._linear_output(model)
        extra = {"features_only": True} if linear else {}
        if self.cutoff_rate > 0:
            with self._cutoff(model, net_input) as cut_stats:
                net_output = model(**net_input, **extra)
        elif self.share_encoder:
            with share_encoder_pass(unwrap(model).encoder, self.num_passes):
                net_output, cut_stats = model(**net_input, **extra), None
        else:
            net_output, cut_stats = model(**net_input, **extra), None
        loss, sample_size, logging_output = self._loss_from_output(model, sample, net_output, linear)
        if cut_stats is not None:
            logging_output["cutoff_cut"] = cut_stats["cut"]
            logging_output["cutoff_eligible"] = cut_stats["eligible"]
        return loss, sample_size, logging_output

    def _cutoff(self, model, net_input):
        """Cut the chosen copies' token embeddings during one forward
        (modules/token_cutoff.py); yields the counts of cut and cuttable positions."""
        inner = unwrap(model)
        embeds = [getattr(getattr(inner, side, None), "embed_tokens", None) for side in ("encoder", "decoder")]
        if not all(isinstance(e, nn.Module) for e in embeds):
            raise FlagError(
                "--cutoff-rate",
                "0 for a model without token embeddings (encoder.embed_tokens and "
                f"decoder.embed_tokens; {type(inner).__name__} has none)",
                self.cutoff_rate,
            )
        return cut_embeddings(
            embeds, net_input, self.num_passes, self.cutoff_copies, self.cutoff_rate, self.cutoff_mode,
            self.padding_idx, self.task.source_dictionary.eos(), self.task.target_dictionary.eos())

    def _loss_from_output(self, model, sample, net_output, linear=None):
        """The R-Drop loss of the model's output for ``[x; x; ...]`` (its
        features, when ``linear`` is given)."""
        m = self.num_passes
        alpha = self.alpha * self._step_alpha_scale
        target = model.get_targets(sample, net_output)  # one copy: B x T
        p = self.ignore_prefix_size
        if p > 0:
            target = target[:, p:]
        pad_mask = target.eq(self.padding_idx)
        all_targets = target.repeat(m, 1)

        # SimCut: the NLL of the clean copy only and KL(clean || cut); else
        # R-Drop's: the NLL of every copy and the pair-averaged symmetric KL.
        simcut = self.cutoff_copies == "second"
        nll_copies = 1 if simcut else m
        if linear is not None:
            _, _, features = self.targets_and_features(model, sample, net_output, linear)
            loss, nll_loss, kl_loss = fused_linear_loss(
                features, linear[1].weight, linear[1].bias, target, pad_mask, self.eps, alpha, m,
                "simcut" if simcut else "rdrop")
            scores = None  # fused_linear is not used with --report-accuracy
        elif self.loss_impl in ("fused", "fused_linear") and self._fused_applies(model):
            logits = net_output[0][:, p:, :] if p > 0 else net_output[0]
            loss, nll_loss, kl_loss = (fused_simcut_loss if simcut else fused_rdrop_loss)(
                logits, target, pad_mask, self.eps, alpha, m
            )
            scores = logits  # argmax of logits = argmax of log-probs
        else:
            lprobs = model.get_normalized_probs(net_output, log_probs=True)
            if p > 0:
                lprobs = lprobs[:, p:, :]
            # the label-smoothed NLL of each counted copy, as fairseq computes it
            nll_lprobs = lprobs[: target.size(0)] if simcut else lprobs
            loss, nll_loss = label_smoothed_nll_loss(
                nll_lprobs.reshape(-1, lprobs.size(-1)),
                (target if simcut else all_targets).reshape(-1),
                self.eps,
                ignore_index=self.padding_idx,
                reduce=True,
            )
            kl_loss = (clean_to_cut_kl if simcut else multi_pass_symmetric_kl)(lprobs, m, pad_mask)
            loss = loss + alpha * kl_loss
            scores = lprobs

        ntokens = sample["ntokens"]
        sample_size = sample["target"].size(0) if self.sentence_avg else ntokens
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll_loss.data / nll_copies,  # per copy, comparable to baseline
            "kl_loss": kl_loss.data,
            "ntokens": ntokens,
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
            "nbatches": 1,
            "rdrop_batches": 1,
            "rdrop_ntokens": ntokens,
            "rdrop_alpha": alpha,  # summed over R-Drop batches; logged as their mean
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
        eligible = total("cutoff_eligible")
        if eligible > 0:
            metrics.log_scalar("cutoff_frac", total("cutoff_cut") / eligible, eligible, round=4)
        rdrop_batches = total("rdrop_batches")
        if rdrop_batches > 0:
            metrics.log_scalar("rdrop_alpha", total("rdrop_alpha") / rdrop_batches, rdrop_batches, round=3)
        nbatches = total("nbatches")
        if nbatches > 0:
            metrics.log_scalar(
                "rdrop_frac", total("rdrop_batches") / nbatches, nbatches, round=3
            )

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
