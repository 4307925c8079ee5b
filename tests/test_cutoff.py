"""Cutoff / SimCut (--cutoff-rate, --cutoff-copies, --cutoff-mode): the masks,
the criterion in-process against hand-written references, and the flags."""

import pytest
import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

import rdrop_fairseq.modules.token_cutoff as crit_module  # where the cut is applied
from fairseq_helpers import TINY_REALFORMER, TINY_TRANSFORMER, build, make_sample
from rdrop_fairseq import FlagError
from rdrop_fairseq.modules.rdrop_loss import kl_divergence
from rdrop_fairseq.modules.token_cutoff import apply_keep_mask, cut_copy_rows, cutoff_keep_mask

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--label-smoothing", "0.1", "--dropout", "0.3"]


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


# ---- the masks ------------------------------------------------------------

def test_cut_rows_by_copy():
    assert cut_copy_rows(2, 3, "none").tolist() == [False] * 6
    assert cut_copy_rows(2, 3, "all").tolist() == [True] * 6
    assert cut_copy_rows(2, 3, "second").tolist() == [False, False, True, True, True, True]


def test_token_mask_rate_rows_and_protected_positions():
    torch.manual_seed(0)
    tokens = torch.zeros(400, 300, dtype=torch.long)
    rows = torch.arange(400) >= 100  # rows 0..99 not cut
    protected = torch.zeros(400, 300, dtype=torch.bool)
    protected[:, -1] = True
    keep = cutoff_keep_mask(tokens, rows, 0.3, "token", protected)
    assert keep[:100].all() and keep[:, -1].all()
    frac = 1 - keep[100:, :-1].float().mean().item()
    assert abs(frac - 0.3) < 0.01
    assert cutoff_keep_mask(tokens, rows, 0.0, "token", protected).all()


def test_span_mask_is_one_run_of_the_rate_times_the_length():
    torch.manual_seed(1)
    tokens = torch.zeros(50, 40, dtype=torch.long)
    protected = torch.zeros(50, 40, dtype=torch.bool)
    lengths = torch.randint(3, 39, (50,))
    for r, n in enumerate(lengths.tolist()):
        protected[r, n:] = True  # padding after n cuttable positions
    keep = cutoff_keep_mask(tokens, torch.ones(50, dtype=torch.bool), 0.2, "span", protected)
    for r, n in enumerate(lengths.tolist()):
        cut = (~keep[r]).nonzero().view(-1).tolist()
        assert len(cut) == max(1, round(0.2 * n))
        assert cut == list(range(cut[0], cut[0] + len(cut))) and cut[-1] < n


def test_masks_repeat_under_a_seed_and_differ_across_copies_and_seeds():
    tokens = torch.zeros(8, 30, dtype=torch.long)
    rows = cut_copy_rows(4, 2, "all")

    def draw(seed):
        torch.manual_seed(seed)
        return cutoff_keep_mask(tokens, rows, 0.3, "token")

    a, b, c = draw(5), draw(5), draw(6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:4], a[4:])  # the two copies draw their own masks


def test_apply_zeroes_exactly_the_cut_vectors():
    emb = torch.randn(2, 5, 3)
    keep = torch.tensor([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = apply_keep_mask(emb, keep)
    assert (out[~keep] == 0).all() and torch.equal(out[keep], emb[keep])


# ---- the criterion ----------------------------------------------------------

@pytest.mark.parametrize("impl", ["fused", "plain"])
def test_rate_zero_is_todays_rdrop_loss_and_gradients(tmp_path, impl):
    runs = []
    for name, extra in (("rdrop", []), ("cut0", ["--cutoff-rate", "0", "--cutoff-copies", "all"])):
        _, task, model, crit = build(tmp_path / name, TINY_TRANSFORMER + CRIT + ["--rdrop-loss-impl", impl] + extra)
        if runs:
            model.load_state_dict(runs[0][0])
        model.train()
        torch.manual_seed(3)
        loss, _, log = crit(model, make_sample(task))
        loss.backward()
        runs.append(({k: v.clone() for k, v in model.state_dict().items()}, loss, log, grads(model)))
    (_, l1, log1, g1), (_, l2, log2, g2) = runs
    assert torch.equal(l1, l2) and torch.equal(log1["kl_loss"], log2["kl_loss"])
    for n in g1:
        assert torch.equal(g1[n], g2[n]), n


def record_cuts(monkeypatch):
    calls = []

    def recording(output, keep):
        result = apply_keep_mask(output, keep)
        calls.append((output.detach().clone(), keep.clone(), result.detach().clone()))
        return result

    monkeypatch.setattr(crit_module, "apply_keep_mask", recording)
    return calls


@pytest.mark.parametrize("arch", [TINY_TRANSFORMER, TINY_REALFORMER], ids=["transformer", "realformer"])
@pytest.mark.parametrize("copies", ["second", "all"])
def test_cut_copies_zero_exactly_the_drawn_positions(tmp_path, monkeypatch, arch, copies):
    calls = record_cuts(monkeypatch)
    _, task, model, crit = build(tmp_path, arch + CRIT + ["--cutoff-rate", "0.3", "--cutoff-copies", copies,
                                                          "--rdrop-passes", "3"])
    sample = make_sample(task, bsz=4, src_len=9, tgt_len=8)
    model.train()
    torch.manual_seed(0)
    _, _, log = crit(model, sample)
    assert len(calls) == 2  # the source lookup and the decoder-input lookup, once each
    B = sample["target"].size(0)
    d = task.target_dictionary
    for (output, keep, result), tokens in zip(calls, (sample["net_input"]["src_tokens"],
                                                      sample["net_input"]["prev_output_tokens"])):
        tokens = tokens.repeat(3, 1)
        assert keep.shape == tokens.shape
        assert keep[tokens.eq(d.pad()) | tokens.eq(d.eos())].all()  # never cut
        assert (result[~keep] == 0).all() and torch.equal(result[keep], output[keep])
        if copies == "second":
            assert keep[:B].all()  # the clean copy is untouched
        assert not keep[B:].all()
        assert not torch.equal(keep[B:2 * B], keep[2 * B:])  # per-copy masks
    assert 0 < log["cutoff_cut"] < log["cutoff_eligible"]
    for emb in {id(e): e for e in (model.encoder.embed_tokens, model.decoder.embed_tokens)}.values():
        assert not emb._forward_hooks  # nothing left behind for evaluation or generation


def test_encoder_sees_zero_embeddings_at_the_cut_positions(tmp_path, monkeypatch):
    calls = record_cuts(monkeypatch)
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT + ["--cutoff-rate", "0.4", "--cutoff-copies", "all"])
    seen = {}
    model.encoder.register_forward_hook(lambda m, i, o: seen.update(emb=o["encoder_embedding"][0]))
    model.train()
    sample = make_sample(task)
    crit(model, sample)
    keep = calls[0][1]
    real = sample["net_input"]["src_tokens"].repeat(2, 1).ne(task.source_dictionary.pad())  # pad's row is 0
    assert (seen["emb"][~keep] == 0).all() and (seen["emb"][keep & real].abs().sum(-1) > 0).all()


@pytest.mark.parametrize("impl", ["fused", "plain"])
def test_simcut_loss_is_clean_nll_plus_kl_clean_to_cut(tmp_path, impl):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT + [
        "--rdrop-alpha", "3", "--cutoff-rate", "0.05", "--cutoff-copies", "second", "--rdrop-loss-impl", impl])
    sample = make_sample(task)
    model.train()
    outputs = []
    model.register_forward_hook(lambda m, i, o: outputs.append(o))
    torch.manual_seed(9)
    loss, sample_size, log = crit(model, sample)
    lprobs = model.get_normalized_probs(outputs[0], log_probs=True)
    B, pad = sample["target"].size(0), sample["target"].eq(task.target_dictionary.pad())
    nll_ref, _ = label_smoothed_nll_loss(lprobs[:B].reshape(-1, lprobs.size(-1)), sample["target"].reshape(-1),
                                         0.1, ignore_index=task.target_dictionary.pad())
    kl_ref = kl_divergence(lprobs[:B], lprobs[B:], pad)
    torch.testing.assert_close(loss, nll_ref + 3 * kl_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(log["kl_loss"], kl_ref.detach(), rtol=1e-5, atol=1e-6)
    assert sample_size == sample["ntokens"]


def test_evaluation_is_untouched(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT + ["--cutoff-rate", "0.5", "--cutoff-copies", "all"])
    _, _, plain_model, plain = build(tmp_path / "p", TINY_TRANSFORMER + CRIT)
    plain_model.load_state_dict(model.state_dict())
    model.eval(), plain_model.eval()
    sample = make_sample(task)
    with torch.no_grad():
        a, _, log = crit(model, sample)
        b, _, _ = plain(plain_model, sample)
    assert torch.equal(a, b) and "cutoff_cut" not in log


@pytest.mark.parametrize("flags, match", [
    (["--cutoff-rate", "1.0", "--cutoff-copies", "all"], "--cutoff-rate: expected a float in \\[0, 1\\), got 1.0"),
    (["--cutoff-rate", "-0.1", "--cutoff-copies", "all"], "--cutoff-rate: expected a float in \\[0, 1\\)"),
    (["--cutoff-rate", "0.1"], "--cutoff-copies: expected second \\(SimCut\\) or all \\(R-Drop \\+ Cutoff\\) "
                               "when --cutoff-rate > 0, got none"),
])
def test_bad_flags_name_the_flag(tmp_path, flags, match):
    with pytest.raises(FlagError, match=match):
        build(tmp_path, TINY_TRANSFORMER + CRIT + flags)


@pytest.mark.parametrize("flag, value", [("--cutoff-copies", "third"), ("--cutoff-mode", "word")])
def test_unknown_choices_are_named_by_argparse(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit):
        build(tmp_path, TINY_TRANSFORMER + CRIT + ["--cutoff-rate", "0.1", "--cutoff-copies", "all", flag, value])
    err = capsys.readouterr().err
    assert flag in err and "invalid choice" in err


def test_a_model_without_token_embeddings_is_named(tmp_path):
    _, task, model, crit = build(tmp_path, TINY_TRANSFORMER + CRIT + ["--cutoff-rate", "0.1", "--cutoff-copies", "all"])
    model.encoder.embed_tokens = None  # e.g. a speech encoder: features, not tokens
    model.train()
    with pytest.raises(FlagError, match="--cutoff-rate: expected 0 for a model without token embeddings"):
        crit(model, make_sample(task))


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("alpha, eps", [(3.0, 0.1), (0.0, 0.0)])
def test_fused_simcut_loss_equals_autograd_in_float64(m, alpha, eps):
    """The analytic gradient of SimCut's fused loss against autograd through the
    plain formula, with padding and chunk boundaries inside the batch."""
    from rdrop_fairseq.modules.fused_rdrop_loss import fused_simcut_loss
    from rdrop_fairseq.modules.rdrop_loss import clean_to_cut_kl

    torch.manual_seed(m)
    B, T, V = 3, 4, 7
    z = torch.randn(m * B, T, V, dtype=torch.float64, requires_grad=True)
    tgt = torch.randint(2, V, (B, T))
    tgt[0, -1] = tgt[2, -2:] = 1
    pad = tgt.eq(1)
    lp = torch.log_softmax(z, -1)
    nll, _ = label_smoothed_nll_loss(lp[:B].reshape(-1, V), tgt.reshape(-1), eps, ignore_index=1)
    ref = nll + alpha * clean_to_cut_kl(lp, m, pad)
    (g_ref,) = torch.autograd.grad(ref, z)
    loss, nll_sum, kl_sum = fused_simcut_loss(z, tgt, pad, eps, alpha, m, chunk_tokens=5)
    (g,) = torch.autograd.grad(loss, z)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-12)
    assert kl_sum.item() > 0
