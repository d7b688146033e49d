"""What a plug-in's outputs must look like: one set of rules, used by the conformance kit and at run time.

The conformance kit (:mod:`c2vbench.testing`) runs these checks on small inputs before a plug-in is published; the
model (:class:`c2vbench.model.retrieval_model.RetrievalModel`) runs them on every output during a run, so that a
component that returns the wrong type, width or shape, or NaN, stops the run with one line naming the plug-in and the
rule instead of a traceback from deep inside another component.

Rules (their names appear in every message):

* ``output-type``: the container the interface promises (:class:`~c2vbench.platform.interfaces.VideoFeatures`,
  :class:`~c2vbench.platform.interfaces.TextFeatures`, a tensor);
* ``dtype``: floating-point embeddings and logits;
* ``output-shape``: the batch, frame and token axes of the inputs are kept;
* ``output-width``: embeddings have the backbone's ``embed_dim``;
* ``finite``: no NaN or infinity;
* ``loss``: a head's loss is a scalar tensor.
"""

from __future__ import annotations

import dataclasses
from typing import Any

RULES: dict[str, str] = {
    "builds": "the factory builds the component from its options",
    "output-type": "outputs are the types the interface promises (VideoFeatures, TextFeatures, tensors)",
    "dtype": "embeddings and logits are floating-point tensors",
    "output-shape": "outputs keep the batch, frame and token axes of the inputs",
    "output-width": "embeddings have the backbone's embed_dim",
    "finite": "outputs hold no NaN or infinity",
    "loss": "an align head's loss is a finite scalar tensor that can be differentiated",
    "padding-ignored": "what padded frame slots (or padded text tokens) hold does not change the output",
    "order-declared": "the output depends on frame order exactly as TemporalSpec.order_sensitive declares",
    "batch-independent": "a video's (or a text-video pair's) output does not depend on the rest of the batch",
    "alignment-tokens": "a module that provides alignment tokens fills alignment_tokens and alignment_mask",
    "deterministic": "the same seed builds the same component, and the same input gives the same output",
    "cpu": "the component builds and runs on the CPU, with every tensor on the device of its inputs",
    "gradients": "a loss on the outputs reaches every trainable parameter with a finite gradient",
    "tokenize": "tokenize gives LongTensor ids and attention mask [B, L] with L <= context_length",
    "records": "the dataset's splits, videos, captions and subsets are well-formed",
    "sampling": "the dataset names a valid frame-sampling protocol",
    "protocol-stable": "the protocol description is JSON data and the same on every build",
    "decodable": "a test video decodes into the sampling's frame slots with a left-aligned mask",
}


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken rule and what was seen."""

    rule: str
    message: str


def _shape(value: Any) -> str:
    return "[" + ", ".join(str(size) for size in value.shape) + "]"


def _tensor_problem(value: Any, what: str, expected: tuple[int | None, ...], width_axis: int | None = None,
                    floating: bool = True) -> Violation | None:
    """``expected`` gives each axis's size (None: any). ``width_axis`` names the axis that must be embed_dim."""
    import torch

    if not isinstance(value, torch.Tensor):
        return Violation("output-type", f"{what} is a {type(value).__name__}, not a torch.Tensor")
    if floating and not value.is_floating_point():
        return Violation("dtype", f"{what} has dtype {value.dtype}, not a floating-point dtype")
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


def frame_embeddings_problem(value: Any, images: int, embed_dim: int) -> Violation | None:
    """``Backbone.encode_frames`` must give ``[N, D]`` floats for ``N`` images."""
    return _tensor_problem(value, "encode_frames output", (images, embed_dim), width_axis=1)


def text_features_problem(value: Any, batch: int, length: int, embed_dim: int) -> Violation | None:
    """``Backbone.encode_text`` must give :class:`TextFeatures` with ``eot [B, D]``, ``tokens [B, L, D]``,
    ``token_mask [B, L]``."""
    from c2vbench.platform.interfaces import TextFeatures

    if not isinstance(value, TextFeatures):
        return Violation("output-type", f"encode_text returned a {type(value).__name__}, not TextFeatures")
    return _first(
        _tensor_problem(value.eot, "TextFeatures.eot", (batch, embed_dim), width_axis=1),
        _tensor_problem(value.tokens, "TextFeatures.tokens", (batch, length, embed_dim), width_axis=2),
        _tensor_problem(value.token_mask, "TextFeatures.token_mask", (batch, length), floating=False),
    )


def video_features_problem(value: Any, batch: int, slots: int, embed_dim: int) -> Violation | None:
    """A temporal module must give :class:`VideoFeatures` with ``pooled [B, D]``; optional alignment tokens
    ``[B, N, D]`` with a mask ``[B, N]``."""
    from c2vbench.platform.interfaces import VideoFeatures

    if not isinstance(value, VideoFeatures):
        return Violation("output-type", f"the temporal module returned a {type(value).__name__}, not VideoFeatures")
    problem = _first(
        _tensor_problem(value.pooled, "VideoFeatures.pooled", (batch, embed_dim), width_axis=1),
        _tensor_problem(value.frames, "VideoFeatures.frames", (batch, slots, None)),
        _tensor_problem(value.frame_mask, "VideoFeatures.frame_mask", (batch, slots), floating=False),
    )
    if problem or value.alignment_tokens is None:
        return problem
    tokens = value.alignment_tokens
    problem = _tensor_problem(tokens, "VideoFeatures.alignment_tokens", (batch, None, embed_dim), width_axis=2)
    if problem:
        return problem
    if value.alignment_mask is None:
        return Violation("alignment-tokens", "alignment_tokens are set but alignment_mask is None")
    return _tensor_problem(value.alignment_mask, "VideoFeatures.alignment_mask", (batch, tokens.shape[1]),
                           floating=False)


def logits_problem(value: Any, n_text: int, n_video: int) -> Violation | None:
    """An align head must score every text against every video: ``[n_text, n_video]`` floats."""
    return _tensor_problem(value, "the align head's logits", (n_text, n_video))


def loss_problem(value: Any) -> Violation | None:
    """An align head's loss must be a scalar float tensor."""
    import torch

    if not isinstance(value, torch.Tensor):
        return Violation("loss", f"loss() returned a {type(value).__name__}, not a torch.Tensor")
    if value.dim() != 0 or not value.is_floating_point():
        return Violation("loss", f"loss() returned a {value.dtype} tensor of shape {_shape(value)}, "
                                 "not a floating-point scalar")
    return None


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
