"""Align head ``drl``: DRL's weighted token-wise interaction and channel decorrelation regulariser (Wang et al., 2022).

Every word of a caption meets every frame of a video: each word keeps its best frame, each frame its best word,
and learned softmax weights over words and over frames combine them (``interaction=wti``; ``ti`` averages
instead). The frames pass first through CLIP4Clip's sequence transformer (``frames=seqtransf``, DRL's
``agg_module``; ``none`` uses the raw frames). The loss adds the channel decorrelation regulariser (``cdcr``) to
the symmetric InfoNCE. See :mod:`._drl_head` for the formulas and the official files they come from.

Reads ``TextFeatures.tokens`` and ``token_mask`` (every position from start-of-text to end-of-text, as DRL's own
text mask) and ``VideoFeatures.frames``; ``VideoFeatures.pooled`` is not used, so pair it with ``--temporal
meanp``. Scored tile by tile through ``forward``. With ``frames=seqtransf`` the head is order-sensitive (frame
positions); with ``none`` it is not, though it still declares itself order-sensitive.

``legacy_padding=True`` reproduces the official maxima, in which padded words and frames take part with a cosine
of 0 (see :mod:`._drl_head`); the default leaves them out. Where the official CDCR divides by a channel's standard
deviation of 0 (NaN, which stops training: it happens when every frame's best word is the start-of-text token),
that channel standardises to 0 here.

Official defaults (foolwood/DRL ``main.py`` and the README's MSR-VTT command): ``wti`` with ``wti_arch`` 2,
``seqTransf`` with 4 layers, ``cdcr`` 3 with ``α1`` 0.11, ``α2`` 0 and ``λ`` 0.001 (``main.py``'s own argparse
defaults are ``α1`` 1.0 and ``α2`` 0.06; ``scripts/msrvtt.sh`` uses 0.14). State-dict keys under ``align_head.``:
``logit_scale``, ``text_weight_fc.*`` and ``video_weight_fc.*`` (official names), and for ``seqtransf``
``frame_encoder.frame_position_embeddings.weight`` and ``frame_encoder.transformerClip.resblocks.<i>.*``.
"""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import AlignSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class DrlOptions:
    """DRL's ``interaction``, ``wti_arch`` (``weight_layers``), ``agg_module`` (``frames``), ``cdcr``,
    ``cdcr_alpha1``, ``cdcr_alpha2`` and ``cdcr_lambda`` (``cdcr_weight``), with its README's MSR-VTT values."""

    interaction: str = option("wti", choices=("wti", "ti"), help="weighted (wti) or plain (ti) token-wise interaction")
    weight_layers: int = option(2, min=1, max=3, help="layers of the word and frame weight MLPs (wti_arch)")
    frames: str = option("seqtransf", choices=("seqtransf", "none"), help="frame states: sequence transformer or raw")
    frame_layers: int = option(4, min=1, max=24, help="blocks of the frame sequence transformer")
    positions: int = option(0, min=0, help="rows of its position embedding (0: the backbone's context length)")
    cdcr: int = option(3, choices=(0, 2, 3), help="channel decorrelation: 0 off, 2 plain, 3 weighted (wti)")
    cdcr_alpha1: float = option(0.11, min=0.0, help="weight of the diagonal term (README recipe 0.11)")
    cdcr_alpha2: float = option(0.0, min=0.0, help="weight of the off-diagonal term (README recipe 0)")
    cdcr_weight: float = option(0.001, min=0.0, help="λ: weight of the regulariser in the loss")
    legacy_padding: bool = option(False, help="official maxima: padded words and frames enter with cosine 0")
    learn_scale: bool = option(True, help="train the logit scale (clamped to ln 100 while training)")


def build_drl(options: DrlOptions, context):
    from ..temporal._modules import SequenceTransformer
    from ..temporal.seqtransf import SeqTransfOptions
    from ._drl_head import DrlHead

    encoder = None
    if options.frames == "seqtransf":
        encoder = SequenceTransformer.from_context(
            SeqTransfOptions(layers=options.frame_layers, positions=options.positions), context, component="drl")
    head = DrlHead(context.embed_dim, options.interaction, options.weight_layers, encoder, options.cdcr,
                   options.cdcr_alpha1, options.cdcr_alpha2, options.cdcr_weight,
                   context.backbone.initial_logit_scale(), options.legacy_padding, options.learn_scale)
    head.initialisation_note = "" if encoder is None else encoder.initialisation_note
    return head


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(
        name="drl",
        summary="DRL: weighted token-wise interaction of words and frames; channel decorrelation in the loss",
        order_sensitive=True,
        factory=build_drl,
        options_type=DrlOptions,
        paper="Wang et al., Disentangled Representation Learning for Text-Video Retrieval, arXiv:2203.07111, 2022",
        url="https://github.com/foolwood/DRL",
    )
