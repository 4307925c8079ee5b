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

from rdrop_fairseq.criterions.fused_linear_path import FusedLinearPath
from rdrop_fairseq.flags import check_flag


@dataclass
class LabelSmoothedCrossEntropyFusedConfig(LabelSmoothedCrossEntropyCriterionConfig):
    pass


@register_criterion("label_smoothed_cross_entropy_fused", dataclass=LabelSmoothedCrossEntropyFusedConfig)
class LabelSmoothedCrossEntropyFusedCriterion(FusedLinearPath, LabelSmoothedCrossEntropyCriterion):
    fused_linear_fallback = "label_smoothed_cross_entropy_fused: computing the loss as fairseq does"

    def __init__(self, task, sentence_avg, label_smoothing, ignore_prefix_size=0, report_accuracy=False):
        # fairseq's own criterion takes any value: -1 or 1.5 train silently to a loss below the NLL
        check_flag(0.0 <= label_smoothing < 1.0, "--label-smoothing", "a float in [0, 1)", label_smoothing)
        check_flag(ignore_prefix_size >= 0, "--ignore-prefix-size", "an integer >= 0", ignore_prefix_size)
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)

    def forward(self, model, sample, reduce=True):
        linear = self.fused_linear_output(model) if model.training and reduce else None
        if linear is None:
            return super().forward(model, sample, reduce)
        return self.fused_linear_forward(model, sample, linear)
