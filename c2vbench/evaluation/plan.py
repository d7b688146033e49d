"""What the evaluation stage needs to know about a run: the :class:`EvaluationPlan` the pipeline hands it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class EvaluationPlan:
    """How a split is encoded, scored and ranked.

    Attributes:
        batch_size: videos (and captions) per encoding batch.
        num_workers: decoding worker processes (``-1``: one per CPU core).
        preprocess: the preprocessing path, ``tensor`` or ``pil``.
        precision: ``fp32``, ``fp16`` or ``bf16`` (autocast where the device supports it).
        tie: how tied scores rank: ``optimistic``, ``pessimistic`` or ``expected``.
        v2t_mode: ``all-captions`` or the legacy ``group-max`` video-to-text ranking.
        postprocess: the post-processing track (``none``, ``dsl``, ``qb-norm``).
    """

    batch_size: int = 64
    num_workers: int = 0
    preprocess: str = "tensor"
    precision: str = "fp32"
    tie: str = "expected"
    v2t_mode: str = "all-captions"
    postprocess: str = "none"

    @property
    def streams(self) -> bool:
        """Whether the split can be ranked streamed: every post-processing track and the legacy video→text mode
        need the whole score matrix (dual softmax normalises over it; group-max compares videos with videos)."""
        return self.postprocess == "none" and self.v2t_mode == "all-captions"
