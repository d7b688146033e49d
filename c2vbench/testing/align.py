"""The align-head rules of the conformance kit: logits, padding, batch independence, the loss, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from c2vbench.model.contracts import (
    finite_problem,
    logits_problem,
    loss_problem,
)
from c2vbench.testing.machinery import (
    EMBED_DIM,
    PASSED,
    TEXT_LENGTH,
    TEXT_MASK,
    RuleFailed,
    _built_module,
    _check_cpu,
    _check_gradients,
    _frame_inputs,
    _generator,
    _masked_mean,
    _needs,
    _Recorder,
    _reference_temporal_module,
    _require,
    _same,
    _same_state,
    _seeded,
    _temporal_context,
    _with_garbage,
)


def _align_inputs(seed: int):
    import torch

    from c2vbench.platform.interfaces import TextFeatures, VideoFeatures

    generator = _generator(seed + 2)
    token_mask = torch.tensor(TEXT_MASK, dtype=torch.long)
    tokens = torch.randn(len(TEXT_MASK), TEXT_LENGTH, EMBED_DIM, generator=generator) * token_mask.unsqueeze(-1)
    last = token_mask.sum(dim=1) - 1
    text = TextFeatures(eot=tokens[torch.arange(len(tokens)), last].clone(), tokens=tokens, token_mask=token_mask)
    frames, mask = _frame_inputs(seed)
    video = VideoFeatures(pooled=_masked_mean(frames, mask), frames=frames, frame_mask=mask)
    return text, video


def run_align_rules(recorder: _Recorder, build: Callable[[Any], Any], seed: int) -> None:
    import dataclasses as dc

    import torch

    from c2vbench.platform.interfaces import TextFeatures, VideoFeatures

    def make_context():
        context = _temporal_context()
        return dc.replace(context, temporal=_reference_temporal_module())

    context = _seeded(seed, make_context)
    head = _built_module(recorder, lambda: _seeded(seed, lambda: build(context)),
                         ("cpu", "output-type", "finite", "padding-ignored", "batch-independent", "deterministic",
                          "loss", "gradients"))
    if head is None:
        return
    head.eval()
    text, video = _align_inputs(seed)
    n_text, n_video = len(text), len(video)

    def logits(text_features=text, video_features=video):
        with torch.no_grad():
            return head(text_features, video_features)

    with recorder.rule("cpu"):
        _check_cpu(head)
    with recorder.rule("output-type"):
        scores = logits()
        _require(logits_problem(scores, n_text, n_video))
    outputs_ok = recorder.report.outcome("output-type").status == PASSED
    reason = "the logits have the wrong type or shape"
    with recorder.rule("finite"):
        _needs(outputs_ok, reason)
        _require(finite_problem(logits=scores))
    if outputs_ok and recorder.report.outcome("finite").status != PASSED:
        outputs_ok, reason = False, "the logits are not finite"
    with recorder.rule("padding-ignored"):
        _needs(outputs_ok, reason)
        noisy_video = VideoFeatures(video.pooled, _with_garbage(video.frames, video.frame_mask, seed),
                                    video.frame_mask)
        if not _same(logits(video_features=noisy_video), scores):
            raise RuleFailed("the logits change when padded frame slots hold other values: mask them out "
                             "(frame_mask == 0)")
        noisy_text = TextFeatures(text.eot, _with_garbage(text.tokens, text.token_mask, seed), text.token_mask)
        if not _same(logits(text_features=noisy_text), scores):
            raise RuleFailed("the logits change when padded text tokens hold other values: mask them out "
                             "(token_mask == 0)")
    with recorder.rule("batch-independent"):
        _needs(outputs_ok, reason)
        columns = logits(video_features=video.index(slice(0, 2)))
        rows = logits(text_features=text.index(slice(1, 2)))
        if not _same(columns, scores[:, :2]) or not _same(rows, scores[1:2]):
            raise RuleFailed("a text-video score changes with the other texts or videos scored with it")
    with recorder.rule("deterministic"):
        _needs(outputs_ok, reason)
        again = _seeded(seed, lambda: build(context)).eval()
        if not _same_state(head, again):
            raise RuleFailed("two builds under the same seed hold different weights")
        with torch.no_grad():
            second = again(text, video)
        if not _same(second, scores, atol=0, rtol=0):
            raise RuleFailed("the same input gives different logits")
    with recorder.rule("loss"):
        head.train()
        pair_video = video.index(slice(0, n_text))
        loss = head.loss(text, pair_video)
        _require(loss_problem(loss))
        _require(finite_problem(loss=loss))
    with recorder.rule("gradients"):
        _needs(recorder.report.outcome("loss").status == PASSED, "the loss is not a finite scalar")
        head.train()
        head.zero_grad(set_to_none=True)
        eot = text.eot.clone().requires_grad_(True)
        tokens = text.tokens.clone().requires_grad_(True)
        pooled = pair_video.pooled.clone().requires_grad_(True)
        frames = pair_video.frames.clone().requires_grad_(True)
        loss = head.loss(TextFeatures(eot, tokens, text.token_mask),
                         VideoFeatures(pooled, frames, pair_video.frame_mask))
        loss.backward()
        detail = _check_gradients(head)

        def reached(*tensors) -> bool:
            return any(t.grad is not None and bool(t.grad.abs().sum() > 0) for t in tensors)

        # a head may read the sentence vector or the word tokens (drl reads only the tokens)
        text_reached, video_reached = reached(eot, tokens), reached(pooled, frames)
        if not (text_reached and video_reached):
            raise RuleFailed("the loss does not reach the " + ("text" if not text_reached else "video")
                             + " features, so nothing before the head can learn")
        recorder.note("gradients", detail)
