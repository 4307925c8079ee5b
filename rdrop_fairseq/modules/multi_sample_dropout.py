"""Multi-sample dropout (Inoue, 2019) in front of a linear output layer.

N dropout masks on the same features, the following layer shared, outputs
averaged. Because the output projection is linear, the average of the N
projected logits equals the projection of the N-sample average of the
features, exactly (forward and gradient); so we average the features and
project once, which costs one vocabulary projection instead of N.
"""

import torch.nn.functional as F
from torch import Tensor, nn


def multi_sample_dropout_mean(features: Tensor, p: float, num_samples: int, training: bool) -> Tensor:
    """Mean of ``num_samples`` independent dropout masks applied to ``features``.

    In evaluation (``training=False``) dropout is the identity and this returns
    ``features`` unchanged (one unmasked pass).
    """
    if not training or p == 0.0:
        return features
    total = F.dropout(features, p, training=True)
    for _ in range(num_samples - 1):
        total = total + F.dropout(features, p, training=True)
    return total / num_samples if num_samples > 1 else total


class MultiSampleDropout(nn.Module):
    """Module form of :func:`multi_sample_dropout_mean` (``p`` visible to checks
    that look for active dropout)."""

    def __init__(self, p: float, num_samples: int):
        super().__init__()
        self.p = p
        self.num_samples = num_samples

    def forward(self, features: Tensor) -> Tensor:
        return multi_sample_dropout_mean(features, self.p, self.num_samples, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, num_samples={self.num_samples}"
