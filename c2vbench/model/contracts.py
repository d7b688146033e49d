"""What a plug-in's outputs must look like: one set of rules, used by the conformance kit and at run time.

The conformance kit (:mod:`c2vbench.testing`) runs these checks on small inputs before a plug-in is published; the
model (:class:`c2vbench.model.retrieval_model.RetrievalModel`) runs them on every output during a run, so that a
component that returns the wrong type, width or shape, or NaN, stops the run with one line naming the plug-in and the
rule instead of a traceback from deep inside another component.

Rules (their names appear in every message) are listed in :data:`RULES`; a rule's finer checks have names of their
own in :data:`SUBRULES` (``output-width`` is a sub-rule of ``output-type``), and a failure names the sub-rule it broke
both in its message (``[output-width] ...``) and in the conformance report's JSON (``subrule``). At run time the
model checks ``output-type`` with its sub-rules ``dtype``, ``autocast-dtype``, ``output-shape`` and ``output-width``,
``finite`` and ``loss`` on every output (``finite`` in training only on the first batches, see
:class:`c2vbench.model.retrieval_model.RetrievalModel`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

RULES: dict[str, str] = {
    "builds": "the factory builds the component from its options",
    "cpu": "the component builds and runs on the CPU, with every tensor on the device of its inputs",
    "tokenize": "tokenize gives LongTensor ids and attention mask [B, L] with L <= context_length",
    "output-type": "outputs are the types the interface promises (VideoFeatures, TextFeatures, tensors), with the "
                   "input's batch, frame and token axes, the backbone's embed_dim and a float dtype",
    "finite": "outputs hold no NaN or infinity, also for static clips, one-frame videos and blank images",
    "padding-ignored": "what padded frame slots, padded text tokens or padded alignment tokens hold (noise, other "
                       "videos' frames, a blank image's embedding) does not change the output",
    "order-declared": "the output depends on frame order exactly as TemporalSpec.order_sensitive declares, at "
                      "initialisation and on perturbed weights",
    "batch-independent": "a video's, a caption's or a text-video pair's output does not depend on the rest of the "
                         "batch, in eval and in train mode",
    "orientation": "logits[i, j] scores text i against video j, in square batches too",
    "alignment-tokens": "a module that provides alignment tokens fills alignment_tokens and alignment_mask",
    "deterministic": "the same seed builds the same component, and the same input gives the same output",
    "loss": "an align head's loss is a finite scalar tensor, computed from its inputs alone",
    "gradients": "a loss on the outputs reaches every trainable parameter (and the features the head reads) with "
                 "a finite gradient",
    "records": "the dataset's splits, videos, captions and subsets are well-formed",
    "disjoint": "no video of the test split is in the train split, by id or by source file",
    "selection-split": "the split the dataset names for model selection exists",
    "sources-present": "every test video's source file or frame folder exists",
    "sampling": "the dataset names a valid frame-sampling protocol",
    "protocol-stable": "the protocol description is JSON data and the same on every build",
    "decodable": "a test video decodes into the sampling's frame slots with a left-aligned mask",
}

SUBRULES: dict[str, tuple[str, str]] = {
    "dtype": ("output-type", "embeddings and logits are floating-point, float32 for float32 inputs (never float64)"),
    "autocast-dtype": ("output-type", "under fp16/bf16 autocast, outputs are float32 or the autocast dtype"),
    "output-shape": ("output-type", "outputs keep the batch, frame and token axes of the inputs"),
    "output-width": ("output-type", "embeddings have the backbone's embed_dim"),
    "static-clip": ("finite", "identical consecutive valid frames (a static clip) give finite outputs"),
    "one-frame-videos": ("finite", "a batch of one-frame videos gives finite outputs"),
    "blank-images": ("finite", "blank (all-zero) and identical images give finite embeddings"),
    "realistic-padding": ("padding-ignored", "padded slots holding other videos' frames or a blank image's "
                                             "embedding do not change the output"),
    "padded-text-tokens": ("padding-ignored", "padded text token positions do not change an align head's logits"),
    "padded-alignment-tokens": ("padding-ignored", "alignment tokens with alignment_mask 1 do not depend on padded "
                                                   "frame slots"),
    "reads-padded-slots": ("padding-ignored", "TemporalSpec.reads_padded_slots is at most 1 (the first padded slot, "
                                              "as CLIP2Video's TDB reads it)"),
    "train-mode": ("batch-independent", "in train mode too (no batch statistics: BatchNorm, batch-mean "
                                        "subtraction)"),
    "tokenised-alone": ("batch-independent", "a caption tokenised alone gets the same sentence vector as in a "
                                             "batch of captions of other lengths"),
    "loss-stateless": ("loss", "the loss on the same inputs is the same after a loss on other inputs (no state "
                               "carried between batches)"),
}
"""Sub-rule name -> (its rule, what it requires)."""

def rule_of(name: str) -> str:
    """The rule a rule or sub-rule name belongs to (a rule is its own)."""
    return SUBRULES[name][0] if name in SUBRULES else name


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken rule and what was seen."""

    rule: str
    message: str


def _shape(value: Any) -> str:
    return "[" + ", ".join(str(size) for size in value.shape) + "]"


def allowed_output_dtypes(*inputs: Any) -> frozenset:
    """The dtypes a component's floating-point outputs may have, given its inputs.

    float32 always; the dtype of every floating-point input (float16 frame features give float16 outputs); and the
    autocast dtype of any device where ``torch.autocast`` is active now. Never float64 for float32 inputs: the next
    component would multiply it with float32 tensors and fail deep inside its own code.
    """
    import torch

    allowed = {torch.float32}
    allowed.update(value.dtype for value in inputs if isinstance(value, torch.Tensor) and value.is_floating_point())
    allowed.update(torch.get_autocast_dtype(device) for device in _AUTOCAST_DEVICES
                   if torch.is_autocast_enabled(device))
    return frozenset(allowed)


_AUTOCAST_DEVICES = ("cpu", "cuda")


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _dtype_problem(value: Any, what: str, allowed: frozenset | None) -> Violation | None:
    import torch

    if not value.is_floating_point():
        return Violation("dtype", f"{what} has dtype {_dtype_name(value.dtype)}, not a floating-point dtype")
    if allowed is None or value.dtype in allowed:
        return None
    names = " or ".join(sorted(_dtype_name(dtype) for dtype in allowed))
    autocast = any(torch.is_autocast_enabled(device) for device in _AUTOCAST_DEVICES)
    return Violation("autocast-dtype" if autocast else "dtype",
                     f"{what} has dtype {_dtype_name(value.dtype)}, expected {names}"
                     + (" under autocast" if autocast else " for these inputs")
                     + ": compute in the inputs' dtype (no .double(), no fixed dtype in tensor factories)")


def _tensor_problem(value: Any, what: str, expected: tuple[int | None, ...], width_axis: int | None = None,
                    floating: bool = True, allowed: frozenset | None = None) -> Violation | None:
    """``expected`` gives each axis's size (None: any). ``width_axis`` names the axis that must be embed_dim.
    ``allowed``: the dtypes a floating-point output may have (None: any floating dtype)."""
    import torch

    if not isinstance(value, torch.Tensor):
        return Violation("output-type", f"{what} is a {type(value).__name__}, not a torch.Tensor")
    if floating:
        problem = _dtype_problem(value, what, allowed)
        if problem:
            return problem
    want = "[" + ", ".join("*" if size is None else str(size) for size in expected) + "]"
    if value.dim() != len(expected):
        return Violation("output-shape", f"{what} is {_shape(value)}, expected {want}")
    for axis, size in enumerate(expected):
        if size is not None and value.shape[axis] != size:
            rule = "output-width" if axis == width_axis else "output-shape"
            detail = " (the backbone's embed_dim)" if axis == width_axis else ""
            return Violation(rule, f"{what} is {_shape(value)}, expected {want}{detail}")
    return None


def _first(*problems: Violation | None) -> Violation | None:
    return next((problem for problem in problems if problem is not None), None)


def finite_problem(**tensors: Any) -> Violation | None:
    """The first of the named tensors that holds NaN or infinity (None-valued entries are skipped)."""
    import torch

    for name, tensor in tensors.items():
        if tensor is not None and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            return Violation("finite", f"{name} holds {bad} NaN or infinite value(s)")
    return None


def frame_embeddings_problem(value: Any, images: int, embed_dim: int,
                             allowed: frozenset | None = None) -> Violation | None:
    """``Backbone.encode_frames`` must give ``[N, D]`` floats for ``N`` images."""
    return _tensor_problem(value, "encode_frames output", (images, embed_dim), width_axis=1, allowed=allowed)


def text_features_problem(value: Any, batch: int, length: int, embed_dim: int,
                          allowed: frozenset | None = None) -> Violation | None:
    """``Backbone.encode_text`` must give :class:`TextFeatures` with ``eot [B, D]``, ``tokens [B, L, D]``,
    ``token_mask [B, L]``."""
    from c2vbench.platform.interfaces import TextFeatures

    if not isinstance(value, TextFeatures):
        return Violation("output-type", f"encode_text returned a {type(value).__name__}, not TextFeatures")
    return _first(
        _tensor_problem(value.eot, "TextFeatures.eot", (batch, embed_dim), width_axis=1, allowed=allowed),
        _tensor_problem(value.tokens, "TextFeatures.tokens", (batch, length, embed_dim), width_axis=2,
                        allowed=allowed),
        _tensor_problem(value.token_mask, "TextFeatures.token_mask", (batch, length), floating=False),
    )


def video_features_problem(value: Any, batch: int, slots: int, embed_dim: int,
                           allowed: frozenset | None = None) -> Violation | None:
    """A temporal module must give :class:`VideoFeatures` with ``pooled [B, D]``; optional alignment tokens
    ``[B, N, D]`` with a mask ``[B, N]``."""
    from c2vbench.platform.interfaces import VideoFeatures

    if not isinstance(value, VideoFeatures):
        return Violation("output-type", f"the temporal module returned a {type(value).__name__}, not VideoFeatures")
    problem = _first(
        _tensor_problem(value.pooled, "VideoFeatures.pooled", (batch, embed_dim), width_axis=1, allowed=allowed),
        _tensor_problem(value.frames, "VideoFeatures.frames", (batch, slots, None)),
        _tensor_problem(value.frame_mask, "VideoFeatures.frame_mask", (batch, slots), floating=False),
    )
    if problem or value.alignment_tokens is None:
        return problem
    tokens = value.alignment_tokens
    problem = _tensor_problem(tokens, "VideoFeatures.alignment_tokens", (batch, None, embed_dim), width_axis=2,
                              allowed=allowed)
    if problem:
        return problem
    if value.alignment_mask is None:
        return Violation("alignment-tokens", "alignment_tokens are set but alignment_mask is None")
    return _tensor_problem(value.alignment_mask, "VideoFeatures.alignment_mask", (batch, tokens.shape[1]),
                           floating=False)


def logits_problem(value: Any, n_text: int, n_video: int, allowed: frozenset | None = None) -> Violation | None:
    """An align head must score every text against every video: ``[n_text, n_video]`` floats."""
    return _tensor_problem(value, "the align head's logits", (n_text, n_video), allowed=allowed)


def loss_problem(value: Any, allowed: frozenset | None = None) -> Violation | None:
    """An align head's loss must be a scalar float tensor (of an allowed dtype, when given)."""
    import torch

    if not isinstance(value, torch.Tensor):
        return Violation("loss", f"loss() returned a {type(value).__name__}, not a torch.Tensor")
    if value.dim() != 0 or not value.is_floating_point():
        return Violation("loss", f"loss() returned a {value.dtype} tensor of shape {_shape(value)}, "
                                 "not a floating-point scalar")
    return _dtype_problem(value, "the loss", allowed)


def dataset_problem(value: Any) -> Violation | None:
    """A dataset factory must return a :class:`RetrievalDataset` with a ``test`` split of
    :class:`RetrievalSplit` and a :class:`FrameSampling` (the kit checks the records in depth)."""
    from c2vbench.data.sampling import FrameSampling
    from c2vbench.data.types import RetrievalDataset, RetrievalSplit

    if not isinstance(value, RetrievalDataset):
        return Violation("output-type", f"the factory returned a {type(value).__name__}, not a RetrievalDataset")
    if not isinstance(value.splits, dict) or not isinstance(value.splits.get("test"), RetrievalSplit):
        return Violation("records", "splits must be a dict holding a RetrievalSplit 'test'")
    bad = [name for name, split in value.splits.items() if not isinstance(split, RetrievalSplit)]
    if bad:
        return Violation("records", f"split(s) {', '.join(map(str, bad))} are not RetrievalSplit objects")
    if not isinstance(value.sampling, FrameSampling):
        return Violation("sampling", f"sampling is a {type(value.sampling).__name__}, not a FrameSampling")
    if not isinstance(value.protocol, dict):
        return Violation("protocol-stable", f"protocol is a {type(value.protocol).__name__}, not a dict")
    return None


def raise_violation(violation: Violation | None, component: str, name: str) -> None:
    """Turn a violation at run time into one error line naming the plug-in and the rule."""
    if violation is None:
        return
    from c2vbench.platform.errors import PluginContractError

    raise PluginContractError(
        f"{component} broke the plug-in rule '{violation.rule}': {violation.message}",
        f"this is a bug in the plug-in; `c2vbench check-plugin {name}` runs every rule on it" if name
        else "this is a bug in the plug-in that provides it",
        rule=violation.rule,
    )
