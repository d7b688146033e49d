"""Training schedule pieces: steps per epoch, warm-up + cosine, parameter groups."""

from __future__ import annotations

import math

import pytest
import torch

from c2vbench.training.loop import parameter_groups, steps_per_epoch, warmup_cosine


@pytest.mark.parametrize("videos, batch, expected", [(10, 4, 3), (9, 4, 2), (8, 4, 2), (1, 4, 1), (33, 32, 1),
                                                     (34, 32, 2)])
def test_steps_per_epoch_counts_batches_with_negatives(videos, batch, expected):
    sizes = [min(batch, videos - start) for start in range(0, videos, batch)]
    assert steps_per_epoch(videos, batch) == max(1, sum(1 for size in sizes if size >= 2)) == expected


def test_warmup_then_cosine_reaches_zero_only_at_the_end():
    total = 50
    factor = warmup_cosine(total, 0.1)
    values = [factor(step) for step in range(total)]
    assert values[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    after = values[5:]
    assert all(a >= b for a, b in zip(after, after[1:], strict=False))
    assert values[-1] > 0
    progress = (total - 1 - 5) / (total - 5)
    assert values[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * progress)))


def test_parameter_groups_split_backbone_and_decay():
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(3, 3)
    model.head = torch.nn.Linear(3, 3)
    model.head_embedding = torch.nn.Embedding(4, 3)
    groups = parameter_groups(model, lr=1.0, backbone_lr=0.1, weight_decay=0.2, train_backbone=True)
    by_content = {(g["lr"], g["weight_decay"]): sum(p.numel() for p in g["params"]) for g in groups}
    assert by_content == {(0.1, 0.0): 3, (0.1, 0.2): 9, (1.0, 0.0): 3 + 12, (1.0, 0.2): 9}
    frozen = parameter_groups(model, lr=1.0, backbone_lr=0.1, weight_decay=0.2, train_backbone=False)
    assert all(g["lr"] == 1.0 for g in frozen)
