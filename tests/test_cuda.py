"""The plugin on a CUDA GPU, in the precisions GPU users train in.

What a GPU changes that the CPU suite cannot see: the fused losses keep their
gradient in the logits' dtype (fp16 / bf16 under --fp16 / --bf16) and fairseq's
loss scaling multiplies it afterwards; RealFormer's residual scores add up in
half precision across layers; cutoff masks come from the CUDA generator; and
fairseq-train takes its --fp16 / --bf16 paths (FP16Optimizer, dynamic loss
scale, overflow skipping).

The references are the same functions in float64 on the CPU, which the CPU
suite checks against autograd and against fairseq's own criterion.

Where torch sees no GPU these tests are deselected (pytest's summary counts
them), never skipped or passed. On a GPU machine:

    pytest tests/test_cuda.py          # (-n 4 with pytest-xdist)
"""

import copy
import math
import os
import re

import pytest
import torch

import rdrop_fairseq
from cli import BIN, SMALL_MODEL, SMALL_REALFORMER, TRAIN_FLAGS, generate_valid, json_logs, run
from fairseq_helpers import build, make_sample, model_flags
from rdrop_fairseq.modules.fused_linear_loss import fused_linear_loss
from rdrop_fairseq.modules.fused_rdrop_loss import fused_rdrop_loss, fused_simcut_loss
from rdrop_fairseq.modules.token_cutoff import apply_keep_mask, cut_copy_rows, cutoff_keep_mask

pytestmark = pytest.mark.cuda

# RDROP_CUDA_TESTS_DEVICE=cpu runs them on the CPU: a check of the tests
# themselves on a machine without a GPU, not of the plugin on one.
CUDA = torch.device(os.environ.get("RDROP_CUDA_TESTS_DEVICE", "cuda"))
PAD = 1
LOSS_SCALE = 128.0  # fairseq's --fp16-init-scale: the loss is multiplied before backward
# Gradients are kept in the input dtype: its rounding bounds the error, relative
# to the largest gradient (float32 loses that much to cancellation in p - q).
GRAD_TOL = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}
DTYPES = list(GRAD_TOL)


def loss_case(m, B=6, T=11, V=1000, C=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(4, V, (B, T), generator=g)
    target[B - 1, 3:] = PAD
    target[0, T - 1] = PAD
    logits = 3 * torch.randn(m * B, T, V, generator=g)
    hidden = torch.randn(m * B, T, C, generator=g)
    weight = torch.randn(V, C, generator=g) / math.sqrt(C)
    bias = 0.1 * torch.randn(V, generator=g)
    return target, logits, hidden, weight, bias


def loss_and_grads(fn, inputs, device, dtype):
    """fn(*inputs) with the float inputs in dtype on device; the loss times the
    loss scale is back-propagated, as fairseq's FP16Optimizer does."""
    leaves = [x.detach().to(device=device, dtype=dtype).requires_grad_() for x in inputs]
    loss, nll, kl = fn(*leaves)
    (loss * LOSS_SCALE).backward()
    return loss.detach().double().cpu(), [x.grad.double().cpu() for x in leaves]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind, m", [("rdrop", 2), ("rdrop", 3), ("simcut", 2)])
def test_fused_logit_losses_on_cuda_match_float64(dtype, kind, m):
    target, logits, *_ = loss_case(m)
    logits = logits.to(dtype).double()  # the values the GPU sees, exactly
    fn = fused_rdrop_loss if kind == "rdrop" else fused_simcut_loss
    alpha = 5.0 if kind == "rdrop" else 3.0

    def call(device):
        return lambda z: fn(z, target.to(device), target.eq(PAD).to(device), 0.1, alpha, m)

    want, (want_grad,) = loss_and_grads(call("cpu"), [logits], "cpu", torch.float64)
    got, (got_grad,) = loss_and_grads(call(CUDA), [logits], CUDA, dtype)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)  # accumulated in float32
    tol = GRAD_TOL[dtype]
    torch.testing.assert_close(got_grad, want_grad, rtol=tol, atol=tol * want_grad.abs().max())
    B, T = target.shape
    assert got_grad.view(m, B, T, -1)[:, B - 1, 3:].abs().max() == 0  # no gradient at padding


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind, m", [("rdrop", 1), ("rdrop", 2), ("simcut", 2)])
def test_fused_linear_loss_on_cuda_matches_float64(dtype, kind, m):
    target, _, hidden, weight, bias = loss_case(m)
    inputs = [x.to(dtype).double() for x in (hidden, weight, bias)]

    def call(device):
        return lambda h, w, b: fused_linear_loss(h, w, b, target.to(device), target.eq(PAD).to(device),
                                                 0.1, 5.0, m, kind)

    want, want_grads = loss_and_grads(call("cpu"), inputs, "cpu", torch.float64)
    got, got_grads = loss_and_grads(call(CUDA), inputs, CUDA, dtype)
    # The logits are a matmul in the input dtype on the GPU (float32 accumulate).
    rtol = {torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[dtype]
    torch.testing.assert_close(got, want, rtol=rtol, atol=1e-3)
    for name, g, w in zip(("hidden", "weight", "bias"), got_grads, want_grads):
        scale = w.abs().max()
        err = (g - w).abs().max() / scale
        assert err < 4 * rtol, (name, float(err))


def cuda_sample(task, **kw):
    from fairseq import utils

    return utils.apply_to_sample(lambda t: t.to(CUDA), make_sample(task, **kw))


RDROP = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--label-smoothing", "0.1", "--rdrop-alpha", "5"]
REALFORMER_MSD = model_flags("transformer_realformer_iwslt_de_en", layers=3, dim=64, ffn=128, heads=4) + [
    "--decoder-output-dropout-samples", "2", "--decoder-output-dropout", "0.1"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("arch_flags", [model_flags(layers=3, dim=64, ffn=128, heads=4), REALFORMER_MSD],
                         ids=["transformer", "realformer_msd"])
def test_fused_and_plain_criterion_agree_on_a_half_precision_model(tmp_path, dtype, arch_flags):
    """Same weights, same dropout masks (same CUDA seed): the two loss
    implementations give the same loss and the same parameter gradients."""
    results, state = [], None
    for impl in ("fused", "plain"):
        _, task, model, crit = build(tmp_path / impl, arch_flags + RDROP + ["--dropout", "0.3",
                                                                            "--rdrop-loss-impl", impl])
        if state is not None:
            model.load_state_dict(state)
        state = copy.deepcopy(model.state_dict())
        model = model.to(device=CUDA, dtype=dtype).train()
        sample = cuda_sample(task, bsz=8, src_len=12, tgt_len=10)
        torch.manual_seed(5)
        loss, _, log = crit(model, sample)
        (loss * LOSS_SCALE).backward()
        grads = {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}
        results.append((loss.float(), log, grads))
    (fl, flog, fg), (pl, plog, pg) = results
    assert torch.isfinite(fl) and float(flog["kl_loss"]) > 0
    torch.testing.assert_close(fl, pl, rtol=1e-4, atol=1e-3)
    assert float(flog["kl_loss"]) == pytest.approx(float(plog["kl_loss"]), rel=1e-3, abs=1e-3)
    assert fg.keys() == pg.keys()
    assert all(torch.isfinite(g).all() for g in fg.values())
    # As one vector: per parameter is too strict where the exact gradient is
    # zero and both sides are rounding noise (attention's key bias).
    a, b = (torch.cat([g[n].flatten() for n in sorted(g)]) for g in (fg, pg))
    cos = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    assert cos > 0.9999 and (a - b).norm() <= 0.01 * b.norm(), (cos, float((a - b).norm() / b.norm()))


@pytest.mark.parametrize("arch", ["transformer_iwslt_de_en", "transformer_realformer_iwslt_de_en"])
def test_forward_in_half_precision_stays_close_to_float64(tmp_path, arch):
    """Residual attention adds each layer's scores to the next: six layers of
    it in fp16 must stay finite and near the float64 result."""
    _, task, model, _ = build(tmp_path, model_flags(arch, layers=6, dim=64, ffn=128, heads=4)
                              + ["--dropout", "0.1"])
    model.eval()
    sample = make_sample(task, bsz=8, src_len=20, tgt_len=16)

    def log_probs(m, s):
        with torch.no_grad():
            out = m(**s["net_input"])
            return m.get_normalized_probs(out, log_probs=True).double().cpu()

    want = log_probs(copy.deepcopy(model).double(), sample)
    got32 = log_probs(copy.deepcopy(model).to(CUDA), cuda_sample(task, bsz=8, src_len=20, tgt_len=16))
    got16 = log_probs(copy.deepcopy(model).to(CUDA).half(), cuda_sample(task, bsz=8, src_len=20, tgt_len=16))
    torch.testing.assert_close(got32, want, rtol=1e-4, atol=1e-4)
    assert torch.isfinite(got16).all()
    assert (got16.exp() - want.exp()).abs().max() < 2e-2  # probabilities, fp16 through 6+6 layers


@pytest.mark.parametrize("mode", ["token", "span"])
def test_cutoff_masks_on_cuda_are_seeded_and_exact(mode):
    tokens = torch.randint(4, 100, (8, 12), device=CUDA)
    rows = cut_copy_rows(4, 2, "second", device=CUDA)
    torch.manual_seed(7)
    a = cutoff_keep_mask(tokens, rows, 0.3, mode)
    torch.manual_seed(7)
    b = cutoff_keep_mask(tokens, rows, 0.3, mode)
    later = [cutoff_keep_mask(tokens, rows, 0.3, mode) for _ in range(3)]
    assert a.device.type == CUDA.type and torch.equal(a, b)
    assert any(not torch.equal(a, c) for c in later)
    assert a[:4].all() and not a[4:].all()  # the clean copy is never cut
    emb = torch.randn(8, 12, 16, device=CUDA, dtype=torch.float16)
    out = apply_keep_mask(emb, a)
    assert (out[~a] == 0).all() and torch.equal(out[a], emb[a])


# ---------------------------------------------------------------- the real CLIs
# One GPU even where there are more (fairseq-train would otherwise spawn one
# worker per GPU).
GPU_TRAIN_FLAGS = [f for f in TRAIN_FLAGS if f != "--cpu"] + ["--distributed-world-size", "1"]
CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--user-dir", rdrop_fairseq.USER_DIR]
ALPHA5 = ["--rdrop-alpha", "5"]
SIMCUT = ["--rdrop-alpha", "3", "--cutoff-rate", "0.05", "--cutoff-copies", "second"]

CLI_MODES = {
    "rdrop_fp32": SMALL_MODEL + ALPHA5,
    "rdrop_fp16": SMALL_MODEL + ALPHA5 + ["--fp16"],
    # fairseq 0.12's --bf16 means TPU (it "implies --tpu"): on a GPU, mixed
    # precision is --fp16, --memory-efficient-fp16 or --amp (autocast).
    "rdrop_amp": SMALL_MODEL + ALPHA5 + ["--amp"],
    "rdrop_memory_efficient_fp16": SMALL_MODEL + ALPHA5 + ["--memory-efficient-fp16"],
    "rdrop_plain_fp16": SMALL_MODEL + ALPHA5 + ["--fp16", "--rdrop-loss-impl", "plain"],
    "rdrop_fused_linear_fp16": SMALL_MODEL + ALPHA5 + ["--fp16", "--rdrop-loss-impl", "fused_linear"],
    "rdrop_3_passes_fp16": SMALL_MODEL + ALPHA5 + ["--fp16", "--rdrop-passes", "3"],
    "kstep_2_fp16": SMALL_MODEL + ALPHA5 + ["--fp16", "--task", "translation_rdrop", "--rdrop-k-step", "2"],
    "realformer_msd_rdrop_fp16": SMALL_REALFORMER + ALPHA5 + [
        "--fp16", "--decoder-output-dropout-samples", "2", "--decoder-output-dropout", "0.1"],
    "simcut_fp16": SMALL_MODEL + SIMCUT + ["--fp16"],
    "rdrop_cutoff_span_fp16": SMALL_MODEL + ALPHA5 + [
        "--fp16", "--cutoff-rate", "0.1", "--cutoff-copies", "all", "--cutoff-mode", "span"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLI_MODES))
def test_fairseq_train_on_cuda(data_bin, tmp_path, name):
    proc = run([BIN / "fairseq-train", data_bin, "--save-dir", tmp_path, "--max-update", "40"]
               + GPU_TRAIN_FLAGS + CRIT + CLI_MODES[name])
    out = proc.stdout + proc.stderr
    if CUDA.type == "cuda":
        assert "CUDA enviroments for all 1 workers" in out  # (sic) fairseq's line for GPU training
    log = {int(r["num_updates"]): r for r in json_logs(out, "train_inner")}
    assert sorted(log)[-1] == 40, sorted(log)
    losses = [float(r["loss"]) for _, r in sorted(log.items())]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0] - 1.0, losses
    rdrop = [r for r in log.values() if float(r["rdrop_frac"]) > 0]
    assert rdrop and all(float(r["kl_loss"]) > 0 for r in rdrop)
    if name.startswith("kstep"):  # every other update (fp16 overflow skips shift it a little)
        assert all(0.3 <= float(r["rdrop_frac"]) <= 0.7 for r in log.values())
    if "cutoff" in name or "simcut" in name:
        assert all(0 < float(r["cutoff_frac"]) < 0.3 for r in log.values())
    if name.endswith("fp16"):
        assert all("loss_scale" in r for r in log.values())


@pytest.mark.slow
def test_fp16_checkpoint_generates_on_cuda(data_bin, tmp_path):
    run([BIN / "fairseq-train", data_bin, "--save-dir", tmp_path, "--max-update", "60"]
        + GPU_TRAIN_FLAGS + CRIT + CLI_MODES["realformer_msd_rdrop_fp16"])
    gen = generate_valid(data_bin, tmp_path / "checkpoint_last.pt", "--fp16")
    assert sum(l.startswith("H-") for l in gen.stdout.splitlines()) == 1014
    assert re.search(r"BLEU4? = \d", gen.stdout)


@pytest.mark.slow
def test_fp16_resume_continues_the_run(data_bin, tmp_path):
    """Killed after 6 updates and restarted: the loss scale, k-step phase and cutoff
    masks carry on, so updates 7-12 match an uninterrupted run (up to the GPU's
    non-deterministic reductions)."""
    flags = GPU_TRAIN_FLAGS + CRIT + CLI_MODES["kstep_2_fp16"] + [
        "--cutoff-rate", "0.05", "--cutoff-copies", "second", "--log-interval", "1",
        "--save-interval-updates", "6"]

    def train(save, updates):
        out = run([BIN / "fairseq-train", data_bin, "--save-dir", save, "--max-update", str(updates)] + flags)
        text = out.stdout + out.stderr
        return text, {int(r["num_updates"]): r for r in json_logs(text, "train_inner")}

    _, straight = train(tmp_path / "a", 12)
    train(tmp_path / "b", 6)
    out, resumed = train(tmp_path / "b", 12)
    assert "@ 6 updates)" in out and sorted(resumed) == list(range(7, 13))
    for u in range(7, 13):
        assert resumed[u]["rdrop_frac"] == straight[u]["rdrop_frac"], u
        assert resumed[u]["loss_scale"] == straight[u]["loss_scale"], u
        assert float(resumed[u]["loss"]) == pytest.approx(float(straight[u]["loss"]), rel=1e-2), u
