"""What the training stage needs to know about a run: the :class:`TrainingPlan` the pipeline hands it."""

from __future__ import annotations

import dataclasses

from c2vbench.evaluation.plan import EvaluationPlan


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
    """How a model is trained, and how each epoch is scored on the selection split.

    Learning rates follow CLIP4Clip's split: ``lr`` for the temporal module and the align head, the backbone's
    rate for the backbone under ``finetune`` (see :meth:`backbone_lr_for`).

    Attributes:
        protocol: ``frozen`` (the backbone's features are computed once and reused) or ``finetune``.
        epochs, batch_size, seed: the schedule; ``batch_size`` is the global batch under torchrun.
        lr, backbone_lr, backbone_lr_scale, weight_decay, warmup_proportion, grad_clip: the optimiser.
        num_workers, preprocess, precision: how batches are decoded and computed.
        selection: how an epoch is scored on the selection split.
        components: ``"temporal/align"``, for messages.
        prefetch_batches: ``finetune`` batches prepared ahead while the model works (0: each when its step asks;
            the numbers are the same either way, see :mod:`c2vbench.training.feed`).
    """

    protocol: str
    epochs: int
    batch_size: int
    seed: int
    lr: float
    backbone_lr: float | None
    backbone_lr_scale: float | None
    weight_decay: float
    warmup_proportion: float
    grad_clip: float
    num_workers: int
    preprocess: str
    precision: str
    selection: EvaluationPlan
    components: str = ""
    prefetch_batches: int = 2

    @property
    def frozen(self) -> bool:
        return self.protocol == "frozen"

    def backbone_lr_for(self, model) -> float:
        """The backbone's learning rate: explicit, or ``lr`` times the configured scale or the backbone's own
        recommendation (``recommended_lr_scale``: 1e-3 for pretrained CLIP weights, 1 for a random backbone)."""
        recommended = float(getattr(model.backbone, "recommended_lr_scale", 1e-3))
        return effective_backbone_lr(self.lr, self.backbone_lr, self.backbone_lr_scale, recommended)


def effective_backbone_lr(lr: float, backbone_lr: float | None, backbone_lr_scale: float | None,
                          recommended_scale: float = 1e-3) -> float:
    """``backbone_lr`` when given, else ``lr × backbone_lr_scale``, else ``lr ×`` the recommended scale."""
    if backbone_lr is not None:
        return backbone_lr
    scale = backbone_lr_scale if backbone_lr_scale is not None else recommended_scale
    return lr * scale
