"""The backbone rules of the conformance kit: tokenizer, frame and text encoders, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from c2vbench.model.contracts import (
    finite_problem,
    frame_embeddings_problem,
    text_features_problem,
)
from c2vbench.testing.machinery import (
    CAPTIONS,
    PASSED,
    RuleFailed,
    _check_cpu,
    _check_gradients,
    _generator,
    _is_module,
    _needs,
    _Recorder,
    _require,
    _same,
    _same_state,
    _seeded,
    _skip_rest,
)


def run_backbone_rules(recorder: _Recorder, build: Callable[[], Any], seed: int) -> None:
    import torch

    with recorder.rule("builds"):
        backbone = _seeded(seed, build)
        if not _is_module(backbone):
            raise RuleFailed(f"the factory returned a {type(backbone).__name__}, not a torch nn.Module")
        for attribute in ("embed_dim", "image_size", "context_length"):
            value = getattr(backbone, attribute, None)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RuleFailed(f"{attribute} is {value!r}, not a positive int")
        for attribute in ("image_mean", "image_std"):
            value = getattr(backbone, attribute, None)
            if len(tuple(value or ())) != 3:
                raise RuleFailed(f"{attribute} is {value!r}, not three per-channel numbers")
    if recorder.report.outcome("builds").status != PASSED:
        _skip_rest(recorder, ("cpu", "tokenize", "output-type", "finite", "batch-independent", "deterministic",
                              "gradients"))
        return
    backbone.eval()
    dim, size = backbone.embed_dim, backbone.image_size
    images = torch.randn(3, 3, size, size, generator=_generator(seed))
    with recorder.rule("cpu"):
        _check_cpu(backbone)
    with recorder.rule("tokenize"):
        ids, mask = backbone.tokenize(list(CAPTIONS))
        for what, tensor in (("input_ids", ids), ("attention_mask", mask)):
            if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.long or tensor.dim() != 2 \
                    or tensor.shape[0] != len(CAPTIONS):
                raise RuleFailed(f"{what} must be a LongTensor [{len(CAPTIONS)}, L], got "
                                 f"{getattr(tensor, 'dtype', type(tensor).__name__)} "
                                 f"{tuple(getattr(tensor, 'shape', ()))}")
        if ids.shape != mask.shape or ids.shape[1] > backbone.context_length:
            raise RuleFailed(f"ids {tuple(ids.shape)} and mask {tuple(mask.shape)} must match, with L <= "
                             f"context_length {backbone.context_length}")
        from c2vbench.probes.frame_order import valid_lengths

        try:
            valid_lengths(mask)
        except ValueError as error:
            raise RuleFailed(f"attention_mask: {error}".replace("frame_mask", "the mask")) from None
    tokens_ok = recorder.report.outcome("tokenize").status == PASSED
    if not tokens_ok:
        ids, mask = torch.ones(len(CAPTIONS), 2, dtype=torch.long), torch.ones(len(CAPTIONS), 2, dtype=torch.long)
    with recorder.rule("output-type"):
        with torch.no_grad():
            frames_out = backbone.encode_frames(images)
            text_out = backbone.encode_text(ids, mask)
        _require(frame_embeddings_problem(frames_out, len(images), dim))
        _require(text_features_problem(text_out, *ids.shape, dim))
    outputs_ok = recorder.report.outcome("output-type").status == PASSED
    reason = "the outputs have the wrong type or shape"
    with recorder.rule("finite"):
        _needs(outputs_ok, reason)
        _require(finite_problem(**{"encode_frames output": frames_out, "TextFeatures.eot": text_out.eot,
                                   "TextFeatures.tokens": text_out.tokens}))
    if outputs_ok and recorder.report.outcome("finite").status != PASSED:
        outputs_ok, reason = False, "the outputs are not finite"
    with recorder.rule("batch-independent"):
        _needs(outputs_ok, reason)
        with torch.no_grad():
            single_frame = backbone.encode_frames(images[:1])
            single_text = backbone.encode_text(ids[:1], mask[:1])
        if not _same(single_frame[0], frames_out[0]) or not _same(single_text.eot[0], text_out.eot[0]):
            raise RuleFailed("an image's or a caption's embedding changes with the other items of its batch")
    with recorder.rule("deterministic"):
        _needs(outputs_ok, reason)
        again = _seeded(seed, build).eval()
        if not _same_state(backbone, again):
            raise RuleFailed("two builds under the same seed hold different weights")
        with torch.no_grad():
            repeat = backbone.encode_frames(images)
        if not _same(repeat, frames_out, atol=0, rtol=0):
            raise RuleFailed("encode_frames gives different outputs for the same input")
    with recorder.rule("gradients"):
        _needs(outputs_ok, reason)
        backbone.train()
        backbone.zero_grad(set_to_none=True)
        weights = torch.randn(dim, generator=_generator(seed + 1))
        text = backbone.encode_text(ids, mask)
        loss = (backbone.encode_frames(images) @ weights).sum() + (text.eot @ weights).sum() \
            + ((text.tokens @ weights) * mask).sum()
        loss.backward()
        recorder.note("gradients", _check_gradients(backbone))
