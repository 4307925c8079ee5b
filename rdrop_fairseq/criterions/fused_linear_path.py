"""The single-pass fused-linear loss, shared by ``label_smoothed_cross_entropy_fused``
and the R-Drop criterion's single passes (k-step's plain updates, a schedule's
plain phase): fairseq's label-smoothed cross entropy computed from the
decoder's features and output projection, chunk by chunk
(``modules/fused_linear_loss.py``), never holding the logits.
"""

from rdrop_fairseq.modules.fused_linear_loss import fused_linear_loss
from rdrop_fairseq.modules.model_introspection import fused_linear_or_fallback


class FusedLinearPath:
    """Mixin for a subclass of fairseq's ``LabelSmoothedCrossEntropyCriterion``
    (it reads ``eps``, ``padding_idx``, ``ignore_prefix_size``, ``sentence_avg``,
    ``report_accuracy``). ``fused_linear_fallback`` names what is used instead
    where the model's output layer is not one projection (logged once)."""

    _linear = None  # (features -> projection input, projection), or False once checked
    fused_linear_fallback = "computing the loss as fairseq does"

    def fused_linear_output(self, model):
        """(features -> projection input, projection) of ``model``, or None."""
        if self._linear is None:
            self._linear = fused_linear_or_fallback(model, self.report_accuracy, self.fused_linear_fallback)
        return self._linear or None

    def targets_and_features(self, model, sample, net_output, linear):
        """One copy's targets, their pad mask and the projection's input, past
        ``--ignore-prefix-size``."""
        target = model.get_targets(sample, net_output)
        features = linear[0](net_output[0])
        p = self.ignore_prefix_size
        if p > 0:
            target, features = target[:, p:], features[:, p:]
        return target, target.eq(self.padding_idx), features

    def fused_linear_forward(self, model, sample, linear):
        """fairseq's label-smoothed CE of one pass from the features: (loss,
        sample_size, logging_output) as fairseq's criterion returns them."""
        net_output = model(**sample["net_input"], features_only=True)
        target, pad_mask, features = self.targets_and_features(model, sample, net_output, linear)
        loss, nll_loss, _ = fused_linear_loss(features, linear[1].weight, linear[1].bias, target, pad_mask, self.eps)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        return loss, sample_size, {
            "loss": loss.data, "nll_loss": nll_loss.data, "ntokens": sample["ntokens"],
            "nsentences": sample["target"].size(0), "sample_size": sample_size,
        }
