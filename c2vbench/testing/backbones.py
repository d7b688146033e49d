"""The backbone rules of the conformance kit: tokenizer, frame and text encoders, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from c2vbench.model.contracts import (
    allowed_output_dtypes,
    finite_problem,
    frame_embeddings_problem,
    text_features_problem,
)
from c2vbench.testing.machinery import (
    CAPTIONS,
    PASSED,
    RuleFailed,
    _bf16_autocast,
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
    _train_mode_changes,
)

BACKBONE_RULES = ("builds", "cpu", "tokenize", "output-type", "finite", "batch-independent", "deterministic",
                  "gradients")
BACKBONE_SUBRULES = ("dtype", "autocast-dtype", "output-shape", "output-width", "blank-images", "tokenised-alone",
                     "train-mode")


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
        _skip_rest(recorder, BACKBONE_RULES[1:])
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
        _require(frame_embeddings_problem(frames_out, len(images), dim, allowed_output_dtypes(images)))
        _require(text_features_problem(text_out, *ids.shape, dim, allowed_output_dtypes()))
        with torch.no_grad(), _bf16_autocast():  # one image: bfloat16 products are slow on CPUs without support
            _require(frame_embeddings_problem(backbone.encode_frames(images[:1]), 1, dim,
                                              allowed_output_dtypes(images)), "under bf16 autocast: ")
            _require(text_features_problem(backbone.encode_text(ids, mask), *ids.shape, dim, allowed_output_dtypes()),
                     "under bf16 autocast: ")
    outputs_ok = recorder.report.outcome("output-type").status == PASSED
    reason = "the outputs have the wrong type or shape"
    with recorder.rule("finite"):
        _needs(outputs_ok, reason)
        _require(finite_problem(**{"encode_frames output": frames_out, "TextFeatures.eot": text_out.eot,
                                   "TextFeatures.tokens": text_out.tokens}))
        blank = torch.cat([torch.zeros_like(images[:1]), images[:1].expand(2, -1, -1, -1)])
        with torch.no_grad():
            problem = finite_problem(**{"encode_frames output": backbone.encode_frames(blank)})
        if problem:
            raise RuleFailed(f"for blank and identical images, {problem.message}: guard divisions and "
                             "normalisations (clamp the norm, add an epsilon)", "blank-images")
    if outputs_ok and recorder.report.outcome("finite").status != PASSED:
        outputs_ok, reason = False, "the outputs are not finite"
    with recorder.rule("batch-independent"):
        _needs(outputs_ok, reason)
        with torch.no_grad():
            single_frame = backbone.encode_frames(images[:1])
        if not _same(single_frame[0], frames_out[0]):
            raise RuleFailed("an image's embedding changes with the other images of its batch")
        if tokens_ok:
            _check_captions_alone(backbone, text_out)
        _check_train_mode(backbone, images, ids, mask, seed)
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


def _check_captions_alone(backbone, batch_text) -> None:
    """Each caption tokenised and encoded on its own gets the sentence vector it gets in a batch of captions of
    other lengths (a tokenizer that pads to the longest caption, with an encoder that averages over padding, does
    not)."""
    import torch

    for row, caption in enumerate(CAPTIONS):
        ids, mask = backbone.tokenize([caption])
        with torch.no_grad():
            alone = backbone.encode_text(ids, mask)
        if not _same(alone.eot[0], batch_text.eot[row]):
            raise RuleFailed(f"the caption {caption!r} tokenised alone gets another sentence vector (eot) than in a "
                             "batch of captions of other lengths: mask the padding (attention_mask == 0) out of "
                             "the text encoder", "tokenised-alone")


def _check_train_mode(backbone, images, ids, mask, seed: int) -> None:
    """In train mode, an image's (a caption's) embedding does not change when the rest of its batch does."""
    import torch

    other_images = torch.randn(images.shape, generator=_generator(seed + 41))

    def images_replaced(inputs, row):
        replaced = other_images.clone()
        replaced[row] = inputs[row]
        return replaced

    rows = [0]  # batch statistics move every row; one keeps a full-size backbone's check short
    changed = _train_mode_changes(backbone, lambda target, inputs: target.encode_frames(inputs), images, rows,
                                  images_replaced, seed)
    if changed:
        raise RuleFailed(f"in train mode, the embedding of image {changed[0]} changes with the other images of the "
                         "batch: use no batch statistics (BatchNorm over the batch); normalise each image on its "
                         "own (LayerNorm, GroupNorm)", "train-mode")
    # Other captions: each other row's words in reverse order (start and end tokens stay), same lengths and mask.
    reversed_ids = ids.clone()
    for row, length in enumerate(mask.long().sum(dim=1).tolist()):
        if length > 3:
            reversed_ids[row, 1:length - 1] = ids[row, 1:length - 1].flip(0)

    def captions_replaced(inputs, row):
        replaced = reversed_ids.clone()
        replaced[row] = inputs[row]
        return replaced

    changed = _train_mode_changes(backbone, lambda target, inputs: target.encode_text(inputs, mask).eot, ids, rows,
                                  captions_replaced, seed)
    if changed:
        raise RuleFailed(f"in train mode, the sentence vector of caption {changed[0]} changes with the other "
                         "captions of the batch: use no batch statistics", "train-mode")
