"""The KL term against a hand-written reference built on torch's own kl_div."""

from itertools import combinations

import pytest
import torch
import torch.nn.functional as F

from rdrop_fairseq.modules.rdrop_loss import (
    multi_pass_symmetric_kl,
    repeat_batch,
    symmetric_kl,
)


def reference_symmetric_kl(lp, lq, pad_mask):
    # F.kl_div(input=log q, target=p) is KL(p || q), elementwise before the sum.
    kl_pq = F.kl_div(lq, lp, log_target=True, reduction="none").sum(-1)
    kl_qp = F.kl_div(lp, lq, log_target=True, reduction="none").sum(-1)
    per_token = 0.5 * (kl_pq + kl_qp)
    return per_token.masked_fill(pad_mask, 0.0).sum()


def random_lprobs(*shape, dtype=torch.float64, scale=3.0, requires_grad=False):
    logits = scale * torch.randn(*shape, dtype=dtype)
    lp = logits.log_softmax(-1)
    return lp.detach().requires_grad_(requires_grad)


@pytest.fixture
def pad_mask():
    # B=3, T=5: the last sentence is short, the second has one pad.
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[2, 2:] = True
    mask[1, 4] = True
    return mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_symmetric_kl_matches_kl_div_both_ways(dtype, pad_mask):
    torch.manual_seed(0)
    lp = random_lprobs(3, 5, 11, dtype=dtype)
    lq = random_lprobs(3, 5, 11, dtype=dtype)
    got = symmetric_kl(lp, lq, pad_mask)
    want = reference_symmetric_kl(lp, lq, pad_mask)
    assert got.dtype == dtype
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert got > 0


def test_symmetric_kl_is_zero_for_identical_and_ignores_padding(pad_mask):
    torch.manual_seed(1)
    lp = random_lprobs(3, 5, 7)
    assert symmetric_kl(lp, lp.clone(), pad_mask).item() == 0.0
    lq = lp.clone()
    lq[pad_mask] = random_lprobs(int(pad_mask.sum()), 7)  # differ only on pads
    assert symmetric_kl(lp, lq, pad_mask).item() == 0.0
    assert symmetric_kl(lp, lq).item() > 0.0  # ...which do count without a mask


def test_symmetric_kl_accumulates_half_precision_in_float32():
    torch.manual_seed(2)
    lp = random_lprobs(4, 50, dtype=torch.float32)
    lq = random_lprobs(4, 50, dtype=torch.float32)
    got = symmetric_kl(lp.to(torch.bfloat16), lq.to(torch.bfloat16))
    assert got.dtype == torch.float32
    want = reference_symmetric_kl(
        lp.to(torch.bfloat16).float(), lq.to(torch.bfloat16).float(),
        torch.zeros(4, dtype=torch.bool),
    )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_two_passes_is_the_papers_term(pad_mask):
    torch.manual_seed(3)
    lp = random_lprobs(3, 5, 9)
    lq = random_lprobs(3, 5, 9)
    stacked = torch.cat([lp, lq], 0)  # the model's output for [x; x]
    got = multi_pass_symmetric_kl(stacked, 2, pad_mask)
    torch.testing.assert_close(got, reference_symmetric_kl(lp, lq, pad_mask))


@pytest.mark.parametrize("m", [3, 4])
def test_more_passes_average_all_pairs(m, pad_mask):
    torch.manual_seed(4)
    copies = [random_lprobs(3, 5, 9) for _ in range(m)]
    got = multi_pass_symmetric_kl(torch.cat(copies, 0), m, pad_mask)
    pairs = list(combinations(range(m), 2))
    want = sum(reference_symmetric_kl(copies[i], copies[j], pad_mask) for i, j in pairs)
    torch.testing.assert_close(got, want / len(pairs))


def test_gradcheck_float64(pad_mask):
    torch.manual_seed(5)
    lp = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    lq = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)

    def f(a, b):
        return multi_pass_symmetric_kl(
            torch.cat([a.log_softmax(-1), b.log_softmax(-1)], 0), 2, pad_mask
        )

    assert torch.autograd.gradcheck(f, (lp, lq))


def test_bad_pass_counts_are_rejected():
    lp = random_lprobs(4, 3, 5)
    with pytest.raises(ValueError, match="num_passes must be >= 2"):
        multi_pass_symmetric_kl(lp, 1)
    with pytest.raises(ValueError, match="not a multiple"):
        multi_pass_symmetric_kl(lp, 3)


def test_repeat_batch_stacks_copies_and_passes_non_tensors():
    net_input = {
        "src_tokens": torch.tensor([[4, 5, 2], [6, 2, 1]]),
        "src_lengths": torch.tensor([3, 2]),
        "flag": None,
    }
    out = repeat_batch(net_input, 3)
    assert out["src_tokens"].shape == (6, 3)
    assert torch.equal(out["src_tokens"][4:], net_input["src_tokens"])
    assert torch.equal(out["src_lengths"], torch.tensor([3, 2, 3, 2, 3, 2]))
    assert out["flag"] is None
