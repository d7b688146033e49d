"""``--precision fp32|fp16|bf16``: the autocast a run computes under, where the device supports it.

``fp32`` computes in float32 everywhere. ``fp16`` and ``bf16`` run the model's matrix products under
``torch.autocast`` on CUDA, and on a CPU where torch's CPU autocast supports the dtype (bf16 always; fp16 on
recent torch); elsewhere the run stays in float32 and the result says so (``effective_precision``). Align heads
keep their own score arithmetic in float32, and ranking compares float32 scores.
"""

from __future__ import annotations

import contextlib

import torch

PRECISION_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def effective_precision(precision: str, device: torch.device) -> str:
    """The precision that really runs on ``device`` (``fp32`` where autocast cannot give the one asked for)."""
    if precision == "fp32":
        return "fp32"
    dtype = PRECISION_DTYPES[precision]
    if device.type == "cuda":
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            return "fp32"
        return precision
    try:
        with torch.autocast(device_type=device.type, dtype=dtype):
            pass
    except (RuntimeError, ValueError):
        return "fp32"
    return precision


def autocast(precision: str, device: torch.device):
    """A context manager: ``torch.autocast`` for fp16/bf16 where supported, a no-op for fp32."""
    effective = effective_precision(precision, device)
    if effective == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=PRECISION_DTYPES[effective])


# How far one training step under autocast may be from float32 on the tiny model of tests/test_training_switches.py
# (TDB + TAB, random weights, CPU autocast): the loss (relative) and the whole gradient (relative L2 error), about 4x
# what was measured (bf16: 9e-4 and 0.023; fp16: 4e-4 and 0.005). For fp16, also how far the parameters of a short
# run may drift (0.004 measured over two steps, the first skipped by the grad scaler while it finds its scale).
TRAINING_PRECISION_BOUND = {"bf16": {"loss_relative": 4e-3, "gradient_relative": 0.1},
                            "fp16": {"loss_relative": 2e-3, "gradient_relative": 0.02,
                                     "parameter_absolute_run": 0.02}}
