"""Every bad criterion flag value the plugin rejects, with its one error line; and
SimCut's loss without any cutting says so."""

import logging

import pytest

from rdrop_fairseq.criterions.label_smoothed_cross_entropy_fused import LabelSmoothedCrossEntropyFusedCriterion
from rdrop_fairseq.criterions.label_smoothed_cross_entropy_rdrop import LabelSmoothedCrossEntropyRDropCriterion
from rdrop_fairseq.flags import FlagError

RDROP, FUSED = LabelSmoothedCrossEntropyRDropCriterion, LabelSmoothedCrossEntropyFusedCriterion


@pytest.mark.parametrize("criterion, kwargs, line", [
    (FUSED, dict(label_smoothing=-1.0), "--label-smoothing: expected a float in [0, 1), got -1.0"),
    (FUSED, dict(label_smoothing=1.5), "--label-smoothing: expected a float in [0, 1), got 1.5"),
    (FUSED, dict(label_smoothing=0.1, ignore_prefix_size=-1), "--ignore-prefix-size: expected an integer >= 0, got -1"),
    (RDROP, dict(label_smoothing=-1.0), "--label-smoothing: expected a float in [0, 1), got -1.0"),
    (RDROP, dict(label_smoothing=1.5), "--label-smoothing: expected a float in [0, 1), got 1.5"),
    (RDROP, dict(label_smoothing=0.1, ignore_prefix_size=-1), "--ignore-prefix-size: expected an integer >= 0, got -1"),
    (RDROP, dict(label_smoothing=0.1, rdrop_alpha=-1.0), "--rdrop-alpha: expected a finite float >= 0, got -1.0"),
    (RDROP, dict(label_smoothing=0.1, rdrop_alpha=float("inf")), "--rdrop-alpha: expected a finite float >= 0, got inf"),
    (RDROP, dict(label_smoothing=0.1, rdrop_passes=1), "--rdrop-passes: expected an integer >= 2, got 1"),
    (RDROP, dict(label_smoothing=0.1, rdrop_loss_impl="fast"),
     "--rdrop-loss-impl: expected fused, plain or fused_linear, got 'fast'"),
    (RDROP, dict(label_smoothing=0.1, cutoff_rate=1.0, cutoff_copies="all"),
     "--cutoff-rate: expected a float in [0, 1), got 1.0"),
    (RDROP, dict(label_smoothing=0.1, cutoff_copies="first"),
     "--cutoff-copies: expected none or second or all, got 'first'"),
    (RDROP, dict(label_smoothing=0.1, cutoff_mode="word"), "--cutoff-mode: expected token or span, got 'word'"),
    (RDROP, dict(label_smoothing=0.1, cutoff_rate=0.1),
     "--cutoff-copies: expected second (SimCut) or all (R-Drop + Cutoff) when --cutoff-rate > 0, got 'none'"),
    (RDROP, dict(label_smoothing=0.1, cutoff_rate=0.1, cutoff_copies="all", rdrop_share_encoder=True),
     "--rdrop-share-encoder: expected off when --cutoff-rate > 0"),
])
def test_each_bad_value_gets_its_line(criterion, kwargs, line):
    with pytest.raises(FlagError) as e:
        criterion(None, False, **kwargs)  # flags are checked before the task is looked at
    assert str(e.value).startswith(line)


def test_simcut_without_cutting_logs_one_warning(caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(Exception):
        RDROP(None, False, 0.1, cutoff_copies="second", cutoff_rate=0.0)  # the task check fails after
    warned = [r.getMessage() for r in caplog.records if "--cutoff-copies second with --cutoff-rate 0" in r.getMessage()]
    assert len(warned) == 1 and "nothing cut" in warned[0]
