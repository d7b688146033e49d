"""Align head ``tmass``: T-MASS's stochastic text embeddings (Wang et al., Text Is MASS, CVPR 2024).

A caption is a mass ``t + σ ⊙ R(t, v)`` around its sentence vector t, with a radius R computed from t's cosines with
the video's frames (the similarity-aware radius module), scored against X-Pool's text-conditioned video vector.
Training adds the support-text term (``support_weight``; 0.8 in the official MSR-VTT recipe). At test time the
official protocol draws ``trials`` stochastic texts per pair (20) and keeps the best cosine; ``trials=0`` scores the
mass's centre in one deterministic pass. See :mod:`._tmass_head` for the formulas and the files they come from.

**Trials and leaderboards**: a stochastic test-time protocol is part of how a number was obtained. With
``trials >= 1`` the head's ``evaluation_protocol()`` (trial count, prior, selection rule) enters the result's
protocol card, so its protocol hash differs from single-pass results and from other trial counts: they are never
ranked together (each gets its own leaderboard section). ``trials=0`` adds nothing and ranks with every
single-pass head. The draws are reproducible and the same for a pair in every tile (:mod:`._stochastic_draws`,
salted with ``trial_seed``).

**The official evaluation's indexing** (not an option): the official ``sim_matrix_inference_stochastic`` scores the
chosen stochastic text of a pair (t, v) against v's vector pooled for *v's own* caption (the one in t's place among
v's captions), not for t; only matching pairs are scored as the method describes. Reproducing it needs each
caption's ground-truth video, which no align head sees, so the head scores every pair with ``p(t, v)``;
``TMassHead.official_indexing_cosines`` computes the official numbers for comparison (``tests/test_successor_heads.py``
shows they match the official code) and ``benchmarks/bench_tmass_indexing.py`` measures the difference.

Reads ``TextFeatures.eot`` and ``VideoFeatures.frames`` (pair it with ``--temporal meanp``); scored tile by tile
through ``forward``. The radius module weighs frame slots by position, so the head is order-sensitive. State-dict
keys under ``align_head.``: ``logit_scale``, ``pool_frames.<X-Pool key>``, ``radius.linear_proj.{weight,bias}``
(official ``stochastic.std_branch.linear_proj``).
"""

from __future__ import annotations

import dataclasses

from c2vbench.plugin import AlignSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class TMassOptions:
    """Official defaults: ``trials`` 20 (``--stochasic_trials``), ``prior`` uniform01, ``support_weight`` 0.8 (the
    README's MSR-VTT training command; the argparse default is 0), X-Pool's ``heads`` 1 and ``dropout`` 0.3."""

    trials: int = option(20, min=0, max=1000, help="test-time stochastic trials per pair (0: the mass's centre only)")
    prior: str = option("uniform01", choices=("uniform01", "normal"), help="distribution of σ")
    prior_std: float = option(1.0, min=0.0, help="standard deviation of the normal prior (LSMDC recipe: 3e-3)")
    support_weight: float = option(0.8, min=0.0, help="weight of the support-text loss (official MSR-VTT: 0.8)")
    trial_seed: int = option(24, min=0, help="salt of the test-time draws (official --seed 24)")
    heads: int = option(1, min=1, max=64, help="attention heads of the X-Pool pooling")
    dropout: float = option(0.3, min=0.0, max=0.9, help="dropout in the X-Pool pooling (official 0.3)")
    learn_scale: bool = option(True, help="train the logit scale (clamped to ln 100 while training)")


def build_tmass(options: TMassOptions, context):
    from ._tmass_head import TMassHead

    return TMassHead(context.embed_dim, context.max_frames, options.heads, options.dropout,
                     context.backbone.initial_logit_scale(), options.trials, options.prior, options.prior_std,
                     options.support_weight, options.trial_seed, options.learn_scale)


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(
        name="tmass",
        summary="T-MASS: stochastic text mass with a similarity-aware radius over X-Pool; best of N test-time trials",
        order_sensitive=True,
        factory=build_tmass,
        options_type=TMassOptions,
        paper="Wang et al., Text Is MASS: Modeling as Stochastic Embedding for Text-Video Retrieval, CVPR 2024",
        url="https://github.com/Jiamian-Wang/T-MASS-text-video-retrieval",
    )
