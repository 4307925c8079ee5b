"""``--arch transformer_realformer``: fairseq's Transformer with RealFormer's
residual attention and multi-sample dropout on the decoder's output layer.

Three residual-score streams, each its own (``--residual-attention``):

- ``encoder``: encoder self-attention, through the encoder layers;
- ``decoder``: decoder self-attention, through the decoder layers (the causal
  mask applies after the add);
- ``cross``: encoder-decoder attention, through the decoder layers.

With ``--residual-attention none`` and ``--decoder-output-dropout-samples 1``
(``--decoder-output-dropout 0``) the model is fairseq's ``transformer``, weight
for weight and output for output. The RealFormer paper builds on Post-LN
Transformers (fairseq's default); Pre-LN (``--encoder-normalize-before``,
``--decoder-normalize-before``) also works.
"""

from contextlib import ExitStack
from dataclasses import dataclass, field

from fairseq.dataclass import FairseqDataclass
from fairseq.dataclass.utils import gen_parser_from_dataclass
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import (
    TransformerDecoderBase,
    TransformerEncoderBase,
    TransformerModel,
    base_architecture,
    transformer_iwslt_de_en,
    transformer_wmt_en_de_big,
)
from fairseq.modules import transformer_layer

from rdrop_fairseq.flags import FlagError, check_flag
from rdrop_fairseq.modules.multi_sample_dropout import MultiSampleDropout
from rdrop_fairseq.modules.residual_attention import (
    ResidualMultiheadAttention,
    ResidualScoreStream,
)

STREAMS = ("encoder", "decoder", "cross")


@dataclass
class RealformerConfig(FairseqDataclass):
    residual_attention: str = field(
        default="encoder,decoder,cross",
        metadata={
            "help": "which attention stacks get RealFormer residual scores: a "
            "comma-separated subset of encoder,decoder,cross, or 'none' "
            "(cross = encoder-decoder attention)"
        },
    )
    decoder_output_dropout_samples: int = field(
        default=1,
        metadata={
            "help": "multi-sample dropout: number of dropout masks on the decoder's "
            "final hidden state, averaged before the shared output projection "
            "(training only; 1 = a single mask, or none when "
            "--decoder-output-dropout is 0)"
        },
    )
    decoder_output_dropout: float = field(
        default=0.0,
        metadata={"help": "dropout probability of those masks, in [0, 1)"},
    )


def parse_streams(value: str) -> frozenset:
    """'encoder,cross' -> {'encoder', 'cross'}; 'none' -> {}."""
    names = [s.strip() for s in str(value).split(",") if s.strip()]
    if names == ["none"]:
        return frozenset()
    if not names or any(n not in STREAMS for n in names):
        raise FlagError(
            "--residual-attention",
            "a comma-separated subset of encoder,decoder,cross, or none",
            value,
        )
    return frozenset(names)


def check_realformer_flags(args) -> None:
    streams = parse_streams(args.residual_attention)
    n = args.decoder_output_dropout_samples
    p = args.decoder_output_dropout
    check_flag(isinstance(n, int) and n >= 1, "--decoder-output-dropout-samples", "an integer >= 1", n)
    check_flag(0.0 <= p < 1.0, "--decoder-output-dropout", "a float in [0, 1)", p)
    check_flag(
        n == 1 or p > 0.0, "--decoder-output-dropout",
        "a value > 0 when --decoder-output-dropout-samples > 1 (N identical "
        "unmasked samples would only cost time)", p,
    )
    if n > 1 or p > 0:
        check_flag(
            not getattr(args, "adaptive_softmax_cutoff", None),
            "--adaptive-softmax-cutoff",
            "unset with --decoder-output-dropout-samples/--decoder-output-dropout "
            "(multi-sample dropout needs a linear output layer)",
            args.adaptive_softmax_cutoff,
        )
    if streams:
        check_flag(
            not getattr(args, "checkpoint_activations", False)
            and not getattr(args, "offload_activations", False),
            "--checkpoint-activations",
            "off with --residual-attention (recomputing a layer in backward "
            "would not see the scores of the layer before it); use "
            "--residual-attention none",
            True,
        )
    if "decoder" in streams:
        check_flag(
            not getattr(args, "cross_self_attention", False),
            "--cross-self-attention",
            "off with the 'decoder' residual-attention stream",
            True,
        )


class RealformerEncoderLayer(transformer_layer.TransformerEncoderLayerBase):
    def __init__(self, cfg, stream: ResidualScoreStream, return_fc=False):
        self._stream = stream  # read by build_self_attention during __init__
        super().__init__(cfg, return_fc=return_fc)

    def build_self_attention(self, embed_dim, cfg):
        return ResidualMultiheadAttention(
            embed_dim, cfg.encoder.attention_heads, dropout=cfg.attention_dropout,
            self_attention=True, q_noise=self.quant_noise,
            qn_block_size=self.quant_noise_block_size, stream=self._stream,
        )


class RealformerDecoderLayer(transformer_layer.TransformerDecoderLayerBase):
    def __init__(self, cfg, self_stream, cross_stream, no_encoder_attn=False):
        self._self_stream, self._cross_stream = self_stream, cross_stream
        super().__init__(cfg, no_encoder_attn)

    def build_self_attention(self, embed_dim, cfg, add_bias_kv=False, add_zero_attn=False):
        if self._self_stream is None:
            return super().build_self_attention(embed_dim, cfg, add_bias_kv, add_zero_attn)
        return ResidualMultiheadAttention(
            embed_dim, cfg.decoder.attention_heads, dropout=cfg.attention_dropout,
            add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn, self_attention=True,
            q_noise=self.quant_noise, qn_block_size=self.quant_noise_block_size,
            stream=self._self_stream,
        )

    def build_encoder_attention(self, embed_dim, cfg):
        if self._cross_stream is None:
            return super().build_encoder_attention(embed_dim, cfg)
        return ResidualMultiheadAttention(
            embed_dim, cfg.decoder.attention_heads, kdim=cfg.encoder.embed_dim,
            vdim=cfg.encoder.embed_dim, dropout=cfg.attention_dropout,
            encoder_decoder_attention=True, q_noise=self.quant_noise,
            qn_block_size=self.quant_noise_block_size, stream=self._cross_stream,
        )


class RealformerEncoder(TransformerEncoderBase):
    def __init__(self, cfg, dictionary, embed_tokens):
        streams = parse_streams(cfg.residual_attention)
        self._stream = ResidualScoreStream("encoder") if "encoder" in streams else None
        super().__init__(cfg, dictionary, embed_tokens)

    def build_encoder_layer(self, cfg):
        if self._stream is None:
            return super().build_encoder_layer(cfg)
        return RealformerEncoderLayer(cfg, self._stream, return_fc=self.return_fc)

    def forward(self, src_tokens, src_lengths=None, return_all_hiddens: bool = False, token_embeddings=None):
        if self._stream is None:
            return super().forward(src_tokens, src_lengths, return_all_hiddens, token_embeddings)
        with self._stream.open():
            return super().forward(src_tokens, src_lengths, return_all_hiddens, token_embeddings)


class RealformerDecoder(TransformerDecoderBase):
    def __init__(self, cfg, dictionary, embed_tokens, no_encoder_attn=False, output_projection=None):
        streams = parse_streams(cfg.residual_attention)
        self._self_stream = ResidualScoreStream("decoder") if "decoder" in streams else None
        self._cross_stream = ResidualScoreStream("cross") if "cross" in streams else None
        super().__init__(cfg, dictionary, embed_tokens, no_encoder_attn, output_projection)
        self.output_dropout = MultiSampleDropout(
            cfg.decoder_output_dropout, cfg.decoder_output_dropout_samples
        )

    def build_decoder_layer(self, cfg, no_encoder_attn=False):
        if self._self_stream is None and self._cross_stream is None:
            return super().build_decoder_layer(cfg, no_encoder_attn)
        return RealformerDecoderLayer(cfg, self._self_stream, self._cross_stream, no_encoder_attn)

    def extract_features(self, prev_output_tokens, encoder_out, incremental_state=None,
                         full_context_alignment: bool = False, alignment_layer=None,
                         alignment_heads=None):
        with ExitStack() as stack:
            for stream in (self._self_stream, self._cross_stream):
                if stream is not None:
                    stack.enter_context(stream.open())
            return super().extract_features(
                prev_output_tokens, encoder_out, incremental_state,
                full_context_alignment, alignment_layer, alignment_heads,
            )

    def output_layer(self, features):
        return super().output_layer(self.output_dropout(features))

    def linear_output(self):
        """How :meth:`output_layer` makes the logits: ``output_projection`` of
        ``output_dropout(features)``; lets ``--rdrop-loss-impl fused_linear``
        start from the features (rdrop_fairseq/modules/model_introspection.py)."""
        return self.output_dropout, self.output_projection


@register_model("transformer_realformer")
class RealformerModel(TransformerModel):
    """Transformer + RealFormer residual attention + multi-sample output dropout."""

    @classmethod
    def add_args(cls, parser):
        super().add_args(parser)
        gen_parser_from_dataclass(parser, RealformerConfig(), delete_default=True)

    @classmethod
    def build_model(cls, args, task):
        realformer_defaults(args)
        check_realformer_flags(args)
        return super().build_model(args, task)

    @classmethod
    def build_encoder(cls, cfg, src_dict, embed_tokens):
        return RealformerEncoder(cfg, src_dict, embed_tokens)

    @classmethod
    def build_decoder(cls, cfg, tgt_dict, embed_tokens):
        return RealformerDecoder(
            cfg, tgt_dict, embed_tokens, no_encoder_attn=cfg.no_cross_attention
        )


def realformer_defaults(args):
    for name, default in vars(RealformerConfig()).items():
        if not name.startswith("_") and getattr(args, name, None) is None:
            setattr(args, name, default)


@register_model_architecture("transformer_realformer", "transformer_realformer")
def transformer_realformer(args):
    realformer_defaults(args)
    base_architecture(args)


@register_model_architecture("transformer_realformer", "transformer_realformer_iwslt_de_en")
def transformer_realformer_iwslt_de_en(args):
    realformer_defaults(args)
    transformer_iwslt_de_en(args)


@register_model_architecture("transformer_realformer", "transformer_realformer_wmt_en_de_big")
def transformer_realformer_wmt_en_de_big(args):
    realformer_defaults(args)
    transformer_wmt_en_de_big(args)
