"""The criteria ask the model how its logits are made; criterions/ imports no model."""

import ast
from pathlib import Path

import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

from fairseq_helpers import TINY_REALFORMER, TINY_TRANSFORMER, build
from rdrop_fairseq.modules.chunked_loss import label_smoothed_nll
from rdrop_fairseq.modules.model_introspection import linear_output_of

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--rdrop-loss-impl", "fused_linear"]


def test_criterions_import_no_model_module():
    for path in (Path(__file__).parents[1] / "rdrop_fairseq" / "criterions").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not any(n.startswith("rdrop_fairseq.models") for n in names), path


def test_linear_output_of_fairseq_and_realformer_decoders(tmp_path):
    _, _, model, _ = build(tmp_path / "t", TINY_TRANSFORMER + CRIT)
    pre, proj = linear_output_of(model)
    x = torch.randn(2, 3, 16)
    assert torch.equal(pre(x), x) and proj is model.decoder.output_projection

    _, _, model, _ = build(tmp_path / "r", TINY_REALFORMER + CRIT + ["--decoder-output-dropout", "0.1"])
    pre, proj = linear_output_of(model)
    assert pre is model.decoder.output_dropout and proj is model.decoder.output_projection


def test_subclass_overriding_output_layer_alone_gets_no_linear_path(tmp_path):
    _, _, model, _ = build(tmp_path / "r", TINY_REALFORMER + CRIT)

    class Scaled(type(model.decoder)):
        def output_layer(self, features):
            return 2 * super().output_layer(features)

    model.decoder.__class__ = Scaled
    assert linear_output_of(model) is None


def test_label_smoothed_nll_equals_fairseqs():
    torch.manual_seed(0)
    lp = torch.randn(2, 5, 11, dtype=torch.float64).log_softmax(-1)
    target = torch.randint(1, 11, (5,))
    pad_rows = torch.tensor([1, 4])
    ls, nll = label_smoothed_nll(lp, target, pad_rows, 0.1)
    tgt = target.clone()
    tgt[pad_rows] = 0  # padding index 0 in fairseq's call
    ref_ls, ref_nll = label_smoothed_nll_loss(lp.reshape(-1, 11), tgt.repeat(2), 0.1, ignore_index=0)
    assert torch.allclose(ls, ref_ls) and torch.allclose(nll, ref_nll)
