"""Fixture plug-in: mean pooling that, while evaluating (no gradients), touches a signal file and sleeps.

The interrupt test uses it to send SIGINT at a known point: after the last epoch, during test encoding.
``C2VBENCH_TEST_EVAL_SIGNAL`` names the file to create; ``C2VBENCH_TEST_EVAL_SLEEP`` the seconds per call.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from c2vbench.plugin import TemporalSpec, hookimpl


def build_slow_eval(options, context):
    import torch
    from torch import nn

    from c2vbench.plugin import VideoFeatures

    class SlowEvalMeanPool(nn.Module):
        def forward(self, frames, frame_mask, want_alignment_tokens: bool = False) -> VideoFeatures:
            if not torch.is_grad_enabled() and os.environ.get("C2VBENCH_TEST_EVAL_SIGNAL"):
                Path(os.environ["C2VBENCH_TEST_EVAL_SIGNAL"]).touch()
                time.sleep(float(os.environ.get("C2VBENCH_TEST_EVAL_SLEEP", "0")))
            weights = frame_mask.unsqueeze(-1).to(frames.dtype)
            pooled = (frames * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
            pooled = pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return VideoFeatures(pooled=pooled, frames=frames, frame_mask=frame_mask)

    return SlowEvalMeanPool()


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(name="slow-eval", summary="Mean pooling that can slow evaluation down (test fixture)",
                       factory=build_slow_eval)
