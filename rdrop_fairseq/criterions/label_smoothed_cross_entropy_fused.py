"""``--criterion label_smoothed_cross_entropy_fused``: fairseq's
label_smoothed_cross_entropy, computed in training from the decoder's hidden
states and output projection chunk by chunk (``fused_linear_loss``), never
holding the tokens x vocabulary logits.

The baseline's counterpart of ``--rdrop-loss-impl fused_linear``, so that a
baseline and an R-Drop run compared by speed or memory use the same output-layer
path. Same loss and gradients as fairseq's criterion (tested); evaluation
(validation, ``--eval-bleu``) and ``--report-accuracy`` use fairseq's own
computation, as do decoders whose output layer is not one linear projection
under a plain log-softmax (adaptive softmax; logged once).
"""

from dataclasses import dataclass

from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)

from rdrop_fairseq.criterions.label_smoothed_cross_entropy_rdrop import fused_linear_or_fallback
from rdrop_fairseq.flags import check_flag
from rdrop_fairseq.modules.fused_linear_loss import fused_linear_loss


@dataclass
class LabelSmoothedCrossEntropyFusedConfig(LabelSmoothedCrossEntropyCriterionConfig):
    pass


@register_criterion("label_smoothed_cross_entropy_fused", dataclass=LabelSmoothedCrossEntropyFusedConfig)
class LabelSmoothedCrossEntropyFusedCriterion(LabelSmoothedCrossEntropyCriterion):
    _linear = None  # (features -> projection input, projection), or False

    def __init__(self, task, sentence_avg, label_smoothing, ignore_prefix_size=0, report_accuracy=False):
        # fairseq's own criterion takes any value: -1 or 1.5 train silently to a loss below the NLL
        check_flag(0.0 <= label_smoothing < 1.0, "--label-smoothing", "a float in [0, 1)", label_smoothing)
        check_flag(ignore_prefix_size >= 0, "--ignore-prefix-size", "an integer >= 0", ignore_prefix_size)
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)

    def forward(self, model, sample, reduce=True):
        linear = self._linear_output(model) if model.training and reduce else None
        if linear is None:
            return super().forward(model, sample, reduce)
        net_output = model(**sample["net_input"], features_only=True)
        target = model.get_targets(sample, net_output)
        features = linear[0](net_output[0])
        p = self.ignore_prefix_size
        if p > 0:
            target, features = target[:, p:], features[:, p:]
        loss, nll_loss, _ = fused_linear_loss(
            features, linear[1].weight, linear[1].bias, target, target.eq(self.padding_idx), self.eps)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        return loss, sample_size, {
            "loss": loss.data, "nll_loss": nll_loss.data, "ntokens": sample["ntokens"],
            "nsentences": sample["target"].size(0), "sample_size": sample_size,
        }

    def _linear_output(self, model):
        if self._linear is None:
            self._linear = fused_linear_or_fallback(
                model, self.report_accuracy,
                "label_smoothed_cross_entropy_fused: computing the loss as fairseq does")
        return self._linear or None
