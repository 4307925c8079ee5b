"""transformer_realformer: residual attention and multi-sample dropout."""

import pytest
import torch
import torch.nn.functional as F
from fairseq.sequence_generator import SequenceGenerator

from fairseq_helpers import TINY_REALFORMER, TINY_TRANSFORMER, build, make_sample
from rdrop_fairseq import FlagError
from rdrop_fairseq.modules.multi_sample_dropout import multi_sample_dropout_mean
from rdrop_fairseq.modules.residual_attention import (
    ResidualMultiheadAttention,
    ResidualScoreStream,
    add_residual_scores,
)

CRIT = ["--criterion", "label_smoothed_cross_entropy"]


def realformer(tmp_path, *extra):
    return build(tmp_path, TINY_REALFORMER + CRIT + list(extra))


def transformer(tmp_path, *extra):
    return build(tmp_path, TINY_TRANSFORMER + CRIT + list(extra))


def logits(model, sample, seed=7):
    torch.manual_seed(seed)
    return model(**sample["net_input"])[0]


# --- the pure score update ---------------------------------------------------

def test_add_residual_scores():
    s = torch.arange(6.0).view(1, 2, 3)
    prev = torch.full((1, 2, 3), 0.5)
    assert torch.equal(add_residual_scores(s, None), s)
    assert torch.equal(add_residual_scores(s, prev), s + 0.5)
    with pytest.raises(RuntimeError, match="do not match"):
        add_residual_scores(s, prev[:, :1])


def test_two_layers_attend_with_summed_scores_against_a_hand_reference():
    torch.manual_seed(0)
    T, B, C, H = 4, 2, 8, 2
    stream = ResidualScoreStream("t")
    a1, a2 = (ResidualMultiheadAttention(C, H, self_attention=True, stream=stream) for _ in range(2))
    x1, x2 = torch.randn(T, B, C), torch.randn(T, B, C)
    pad = torch.zeros(B, T, dtype=torch.bool)
    pad[1, 0] = True  # one padded key

    def raw_scores(attn, x):
        q = attn.q_proj(x) * attn.scaling
        k = attn.k_proj(x)
        q = q.view(T, B * H, C // H).transpose(0, 1)
        k = k.view(T, B * H, C // H).transpose(0, 1)
        return q @ k.transpose(1, 2)  # (B*H, T, T)

    def attend(attn, x, scores):
        masked = scores.view(B, H, T, T).masked_fill(pad[:, None, None, :], float("-inf"))
        probs = masked.view(B * H, T, T).softmax(-1)
        v = attn.v_proj(x).view(T, B * H, C // H).transpose(0, 1)
        out = (probs @ v).transpose(0, 1).reshape(T, B, C)
        return attn.out_proj(out)

    with stream.open():
        y1, _ = a1(x1, x1, x1, key_padding_mask=pad, need_weights=False)
        y2, _ = a2(x2, x2, x2, key_padding_mask=pad, need_weights=False)
    s1 = raw_scores(a1, x1)
    s2 = raw_scores(a2, x2) + s1
    torch.testing.assert_close(y1, attend(a1, x1, s1))
    torch.testing.assert_close(y2, attend(a2, x2, s2))
    assert stream.scores is None  # nothing kept after the pass


# --- equivalences with fairseq's transformer ---------------------------------

def test_all_streams_off_is_fairseqs_transformer(tmp_path):
    _, task, ref, _ = transformer(tmp_path / "t", "--dropout", "0.3")
    _, _, model, _ = realformer(tmp_path / "r", "--dropout", "0.3", "--residual-attention", "none")
    model.load_state_dict(ref.state_dict(), strict=True)
    sample = make_sample(task)
    for mode in ("train", "eval"):
        getattr(ref, mode)()
        getattr(model, mode)()
        assert torch.equal(logits(model, sample), logits(ref, sample)), mode


@pytest.mark.parametrize("streams", ["encoder", "decoder", "cross", "encoder,decoder,cross"])
def test_each_stream_changes_the_output_and_keeps_the_weights(tmp_path, streams):
    _, task, ref, _ = transformer(tmp_path / "t")
    _, _, model, _ = realformer(tmp_path / "r", "--residual-attention", streams)
    model.load_state_dict(ref.state_dict(), strict=True)  # same parameters
    ref.eval()
    model.eval()
    sample = make_sample(task)
    assert not torch.allclose(logits(model, sample), logits(ref, sample), atol=1e-4)


def test_pre_ln_trains(tmp_path):
    _, task, model, crit = realformer(
        tmp_path, "--encoder-normalize-before", "--decoder-normalize-before"
    )
    model.train()
    loss, _, _ = crit(model, make_sample(task))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# --- incremental decoding -----------------------------------------------------

@pytest.mark.parametrize("streams", ["encoder,decoder,cross", "decoder", "cross"])
def test_incremental_decoding_matches_full_forward_with_beam_reordering(tmp_path, streams):
    _, task, model, _ = realformer(tmp_path, "--residual-attention", streams)
    model.eval()
    sample = make_sample(task, bsz=3, src_len=7, tgt_len=6)
    # A beam of 3 hypotheses for one (padded) source sentence: beam search only
    # ever reorders within a sentence's beam, and fairseq's cross-attention
    # cache relies on that.
    src = sample["net_input"]["src_tokens"][1:2].repeat(3, 1)
    src_len = sample["net_input"]["src_lengths"][1:2].repeat(3)
    prev = sample["net_input"]["prev_output_tokens"].clone()
    prev[prev.eq(task.target_dictionary.pad())] = 5  # full-length prefixes
    with torch.no_grad():
        enc = model.encoder(src, src_lengths=src_len)
        state = {}
        order = torch.arange(3)
        for t in range(prev.size(1)):
            if t == 3:  # a beam step: reorder the hypotheses, and their caches
                new_order = torch.tensor([2, 2, 0])
                model.decoder.reorder_incremental_state_scripting(state, new_order)
                enc = model.encoder.reorder_encoder_out(enc, new_order)
                order = order[new_order]
            step = model.decoder(prev[order, : t + 1], encoder_out=enc, incremental_state=state)[0]
            full = model(src[order], src_len[order], prev[order, : t + 1])[0]
            torch.testing.assert_close(step[:, -1], full[:, -1], rtol=1e-5, atol=1e-5)


def test_beam_search_scores_equal_teacher_forced_scores(tmp_path):
    # fairseq-generate's path: SequenceGenerator with beam 4, incremental states,
    # reordering, cached cross-attention keys. Its per-token scores must be the
    # full forward's log-probabilities of the same hypotheses.
    _, task, model, _ = realformer(tmp_path)
    model.eval()
    sample = make_sample(task, bsz=2)
    gen = SequenceGenerator([model], task.target_dictionary, beam_size=4, max_len_b=8)
    with torch.no_grad():
        hypos = gen.forward(sample)
        d = task.target_dictionary
        for b, beams in enumerate(hypos):
            for h in beams:
                tokens = h["tokens"]
                prev = torch.cat([torch.tensor([d.eos()]), tokens[:-1]])[None]
                net = sample["net_input"]
                out = model(net["src_tokens"][b : b + 1], net["src_lengths"][b : b + 1], prev)
                lp = model.get_normalized_probs(out, log_probs=True)[0]
                want = lp.gather(-1, tokens[:, None]).squeeze(-1)
                torch.testing.assert_close(h["positional_scores"], want, rtol=1e-4, atol=1e-4)


# --- multi-sample dropout -----------------------------------------------------

def test_multi_sample_mean_equals_averaged_logits():
    torch.manual_seed(0)
    h = torch.randn(5, 8, dtype=torch.float64)
    W = torch.randn(11, 8, dtype=torch.float64)
    torch.manual_seed(1)
    got = multi_sample_dropout_mean(h, 0.4, 3, training=True) @ W.T
    torch.manual_seed(1)
    want = sum(F.dropout(h, 0.4, training=True) @ W.T for _ in range(3)) / 3
    torch.testing.assert_close(got, want)
    assert torch.equal(multi_sample_dropout_mean(h, 0.4, 3, training=False), h)


def test_one_sample_without_dropout_is_the_plain_model(tmp_path):
    _, task, ref, _ = transformer(tmp_path / "t", "--dropout", "0.3")
    _, _, model, _ = realformer(
        tmp_path / "r", "--dropout", "0.3", "--residual-attention", "none",
        "--decoder-output-dropout-samples", "1",
    )
    model.load_state_dict(ref.state_dict())
    ref.train()
    model.train()
    sample = make_sample(task)
    assert torch.equal(logits(model, sample), logits(ref, sample))


def test_more_samples_change_training_but_not_evaluation(tmp_path):
    _, task, one, _ = realformer(tmp_path / "a", "--dropout", "0")
    _, _, many, _ = realformer(
        tmp_path / "b", "--dropout", "0", "--decoder-output-dropout-samples", "4",
        "--decoder-output-dropout", "0.3",
    )
    many.load_state_dict(one.state_dict())
    sample = make_sample(task)
    one.train()
    many.train()
    assert not torch.allclose(logits(many, sample), logits(one, sample))
    a, b = logits(many, sample, seed=1), logits(many, sample, seed=2)
    assert not torch.allclose(a, b)  # fresh masks each call
    one.eval()
    many.eval()
    assert torch.equal(logits(many, sample), logits(one, sample))


def test_multi_sample_dropout_with_rdrop(tmp_path):
    _, task, model, crit = build(
        tmp_path, TINY_REALFORMER + ["--criterion", "label_smoothed_cross_entropy_rdrop",
                                "--dropout", "0", "--attention-dropout", "0",
                                "--decoder-output-dropout-samples", "2",
                                "--decoder-output-dropout", "0.2"]
    )
    model.train()
    loss, _, log = crit(model, make_sample(task))
    loss.backward()
    assert log["kl_loss"] > 0  # each R-Drop copy drew its own output masks


# --- bad input ----------------------------------------------------------------

@pytest.mark.parametrize(
    "extra, match",
    [
        (["--residual-attention", "encoder,self"], "--residual-attention: expected a comma-separated subset"),
        (["--decoder-output-dropout-samples", "0"], "--decoder-output-dropout-samples: expected an integer >= 1"),
        (["--decoder-output-dropout", "1.0"], r"--decoder-output-dropout: expected a float in \[0, 1\)"),
        (["--decoder-output-dropout-samples", "3"], "--decoder-output-dropout: expected a value > 0"),
        (["--checkpoint-activations"], "--checkpoint-activations: expected off with --residual-attention"),
        (["--cross-self-attention"], "--cross-self-attention: expected off"),
    ],
)
def test_bad_flags(tmp_path, extra, match):
    with pytest.raises(FlagError, match=match):
        realformer(tmp_path, *extra)


def test_residual_flag_on_plain_transformer_is_rejected_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        transformer(tmp_path, "--residual-attention", "encoder")
    assert "--residual-attention" in capsys.readouterr().err
