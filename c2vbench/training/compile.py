"""``--compile`` and ``--checkpoint-activations``: how the model executes, not what it computes.

* ``--compile``: ``torch.compile`` of the backbone's encoders (``encode_frames``, ``encode_text``) and of the
  temporal module, in place: parameters, state dicts and checkpoints are those of the plain model. The align head
  and the run-time contract checks around the components stay eager. The first steps pay for the compilation
  (minutes for a ViT on a CPU). Compiled kernels fuse operations, so sums may round differently: the numbers agree
  with the plain model to float32 rounding, not bit for bit (1e-6 relative on the tiny model, inductor on a CPU).
* ``--checkpoint-activations``: the frame encoder keeps only each block's input during the forward pass and
  recomputes the block in the backward pass (less memory, about a third more compute): ViT-B/16 with 12 frames and
  a global batch of 128 then fits on one 80 GB card. The recomputation is the same arithmetic, so the numbers are
  those of the plain model, bit for bit. A backbone offers it through ``set_activation_checkpointing(enabled)``
  (the built-in ``clip``, ``tiny-clip`` and ``timm`` do); asking it of one that does not is refused.

Both are recorded in the result's ``config`` and stay out of its ``config_key`` (runs with and without are the same
configuration, as runs on different numbers of processes are).
"""

from __future__ import annotations

from typing import Any

import torch

from c2vbench.platform.errors import C2VBenchError

COMPILED_PARTS = ("backbone.encode_frames", "backbone.encode_text", "temporal")


def apply_execution_options(model, compile_model: bool, checkpoint_activations: bool) -> dict[str, Any]:
    """Switch on what was asked, in place; returns what was done, for the result."""
    done: dict[str, Any] = {"compiled": [], "activation_checkpointing": False}
    if checkpoint_activations:
        enable_activation_checkpointing(model)
        done["activation_checkpointing"] = True
    if compile_model:
        done["compiled"] = compile_components(model)
    return done


def enable_activation_checkpointing(model) -> None:
    """Ask the backbone to checkpoint its frame encoder's blocks (one error line when it cannot)."""
    switch = getattr(model.backbone, "set_activation_checkpointing", None)
    if not callable(switch):
        raise C2VBenchError(f"the backbone ({type(model.backbone).__name__}) offers no activation checkpointing",
                            "leave out --checkpoint-activations, or give the backbone a "
                            "set_activation_checkpointing(enabled) method")
    switch(True)


def compile_components(model) -> list[str]:
    """``torch.compile`` the backbone's encoders and the temporal module in place; the parts compiled."""
    backbone = model.backbone
    for method in ("encode_frames", "encode_text"):
        # an instance attribute shadows the method: the module, its parameters and state dict are untouched
        setattr(backbone, method, torch.compile(getattr(backbone, method)))
    model.temporal.compile()
    return list(COMPILED_PARTS)
