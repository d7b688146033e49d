"""The align-head rules of the conformance kit: logits and their orientation, padding, batch independence, the
loss, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from c2vbench.model.contracts import (
    allowed_output_dtypes,
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
    _bf16_autocast,
    _built_module,
    _check_cpu,
    _check_gradients,
    _frame_inputs,
    _generator,
    _masked_mean,
    _needs,
    _one_frame_batch,
    _padding_fills,
    _Recorder,
    _reference_temporal_module,
    _require,
    _same,
    _same_state,
    _seeded,
    _static_clips,
    _temporal_context,
    _train_mode_changes,
    _with_garbage,
)

ALIGN_RULES = ("builds", "cpu", "output-type", "finite", "padding-ignored", "orientation", "batch-independent",
               "deterministic", "loss", "gradients")
ALIGN_SUBRULES = ("dtype", "autocast-dtype", "output-shape", "output-width", "static-clip", "one-frame-videos",
                  "realistic-padding", "padded-text-tokens", "padded-alignment-tokens", "train-mode", "loss-stateless")


def _align_inputs(seed: int, with_tokens: bool = False):
    """Three captions and four videos (one per mask of the kit). ``with_tokens``: the videos carry alignment tokens
    (their frames, weighted by the frame mask), for heads that want them."""
    import torch

    from c2vbench.platform.interfaces import TextFeatures

    generator = _generator(seed + 2)
    token_mask = torch.tensor(TEXT_MASK, dtype=torch.long)
    tokens = torch.randn(len(TEXT_MASK), TEXT_LENGTH, EMBED_DIM, generator=generator) * token_mask.unsqueeze(-1)
    last = token_mask.sum(dim=1) - 1
    text = TextFeatures(eot=tokens[torch.arange(len(tokens)), last].clone(), tokens=tokens, token_mask=token_mask)
    frames, mask = _frame_inputs(seed)
    return text, _video(frames, mask, with_tokens)


def _video(frames, mask, with_tokens: bool):
    from c2vbench.platform.interfaces import VideoFeatures

    video = VideoFeatures(pooled=_masked_mean(frames, mask), frames=frames, frame_mask=mask)
    if with_tokens:
        video.alignment_tokens, video.alignment_mask = frames, mask
    return video


def run_align_rules(recorder: _Recorder, build: Callable[[Any], Any], seed: int) -> None:
    import dataclasses as dc

    import torch

    from c2vbench.platform.interfaces import TextFeatures, VideoFeatures

    def make_context():
        context = _temporal_context()
        return dc.replace(context, temporal=_reference_temporal_module())

    context = _seeded(seed, make_context)
    head = _built_module(recorder, lambda: _seeded(seed, lambda: build(context)), ALIGN_RULES[1:])
    if head is None:
        return
    head.eval()
    wants_tokens = bool(getattr(head, "wants_alignment_tokens", False))
    text, video = _align_inputs(seed, wants_tokens)
    n_text, n_video = len(text), len(video)

    def logits(text_features=text, video_features=video, target=head):
        with torch.no_grad():
            return target(text_features, video_features)

    def allowed():
        return allowed_output_dtypes(text.eot, video.pooled)

    with recorder.rule("cpu"):
        _check_cpu(head)
    with recorder.rule("output-type"):
        scores = logits()
        _require(logits_problem(scores, n_text, n_video, allowed()))
        with _bf16_autocast():
            _require(logits_problem(logits(), n_text, n_video, allowed()), "under bf16 autocast: ")
    outputs_ok = recorder.report.outcome("output-type").status == PASSED
    reason = "the logits have the wrong type or shape"
    with recorder.rule("finite"):
        _needs(outputs_ok, reason)
        _require(finite_problem(logits=scores))
        frames, mask = video.frames, video.frame_mask
        cases = [(name, inputs, "static-clip") for name, inputs in _static_clips(frames, mask).items()]
        cases.append(("a batch of one-frame videos", _one_frame_batch(frames, mask), "one-frame-videos"))
        for name, (case_frames, case_mask), subrule in cases:
            problem = finite_problem(logits=logits(video_features=_video(case_frames, case_mask, wants_tokens)))
            if problem:
                raise RuleFailed(f"for {name}, {problem.message}: guard divisions and normalisations (clamp the "
                                 "norm, add an epsilon)", subrule)
    if outputs_ok and recorder.report.outcome("finite").status != PASSED:
        outputs_ok, reason = False, "the logits are not finite"
    with recorder.rule("padding-ignored"):
        _needs(outputs_ok, reason)
        blank = torch.randn(EMBED_DIM, generator=_generator(seed + 3))
        for fill, (noisy_frames, subrule) in _padding_fills(video.frames, video.frame_mask, seed, blank).items():
            noisy_video = VideoFeatures(video.pooled, noisy_frames, video.frame_mask)
            if wants_tokens:
                noisy_video.alignment_tokens, noisy_video.alignment_mask = noisy_frames, video.frame_mask
            if not _same(logits(video_features=noisy_video), scores):
                raise RuleFailed(f"the logits change when padded frame slots hold {fill}: mask them out "
                                 "(frame_mask == 0, alignment_mask == 0)",
                                 subrule or ("padded-alignment-tokens" if wants_tokens else ""))
        noisy_text = TextFeatures(text.eot, _with_garbage(text.tokens, text.token_mask, seed), text.token_mask)
        if not _same(logits(text_features=noisy_text), scores):
            raise RuleFailed("the logits change when padded text tokens hold other values: mask them out "
                             "(token_mask == 0)", "padded-text-tokens")
    with recorder.rule("orientation"):
        _needs(outputs_ok, reason)
        square = logits(video_features=video.index(slice(0, n_text)))
        _require(logits_problem(square, n_text, n_text), "in a square batch: ")
        if not _same(square, scores[:, :n_text]):
            if _same(square.t(), scores[:, :n_text]):
                raise RuleFailed(f"the logits of a square batch ({n_text} texts, {n_text} videos) are transposed: "
                                 "logits[i, j] must score text i against video j, whatever the shapes")
            raise RuleFailed(f"the logits of a square batch ({n_text} texts, {n_text} videos) differ from the same "
                             "pairs scored in a larger gallery: logits[i, j] scores text i against video j")
        for row, column in ((0, 1), (1, 0), (2, 1)):
            single = logits(text.index(slice(row, row + 1)), video.index(slice(column, column + 1)))
            if not _same(single.reshape(-1), scores[row, column].reshape(-1)):
                raise RuleFailed(f"text {row} scored alone against video {column} gets another score than "
                                 f"logits[{row}, {column}]: rows are texts, columns videos")
    with recorder.rule("batch-independent"):
        _needs(outputs_ok, reason)
        columns = logits(video_features=video.index(slice(0, 2)))
        rows = logits(text_features=text.index(slice(1, 2)))
        if not _same(columns, scores[:, :2]) or not _same(rows, scores[1:2]):
            raise RuleFailed("a text-video score changes with the other texts or videos scored with it")
        other_text, other_video = _align_inputs(seed + 17, wants_tokens)

        def score(target, inputs):  # text i against video i: the pair both batches share
            return target(*inputs).diagonal()

        def others_replaced(inputs, row):
            keep = torch.zeros(n_text, dtype=torch.bool)
            keep[row] = True
            tokens = torch.where(keep[:, None, None], text.tokens, other_text.tokens)
            mixed_text = TextFeatures(torch.where(keep[:, None], text.eot, other_text.eot), tokens, text.token_mask)
            kept_video = torch.zeros(n_video, dtype=torch.bool)
            kept_video[row] = True
            return mixed_text, _mix_videos(video, other_video, kept_video)

        changed = _train_mode_changes(head, score, (text, video), [0, n_text - 1], others_replaced, seed)
        if changed:
            raise RuleFailed(f"in train mode, the score of text {changed[0]} against video {changed[0]} changes with "
                             "the other texts and videos of the batch: use no batch statistics", "train-mode")
    with recorder.rule("deterministic"):
        _needs(outputs_ok, reason)
        again = _seeded(seed, lambda: build(context)).eval()
        if not _same_state(head, again):
            raise RuleFailed("two builds under the same seed hold different weights")
        if not _same(logits(target=again), scores, atol=0, rtol=0):
            raise RuleFailed("the same input gives different logits")
    pair_video = video.index(slice(0, n_text))
    with recorder.rule("loss"):
        head.train()
        loss = head.loss(text, pair_video)
        _require(loss_problem(loss, allowed()))
        _require(finite_problem(loss=loss))
        _check_stateless_loss(head, text, pair_video, _align_inputs(seed + 23, wants_tokens), n_text, seed)
    with recorder.rule("gradients"):
        _needs(recorder.report.outcome("loss").status == PASSED, "the loss is not a finite scalar")
        head.train()
        head.zero_grad(set_to_none=True)
        eot = text.eot.clone().requires_grad_(True)
        tokens = text.tokens.clone().requires_grad_(True)
        pooled = pair_video.pooled.clone().requires_grad_(True)
        frames = pair_video.frames.clone().requires_grad_(True)
        graded_video = VideoFeatures(pooled, frames, pair_video.frame_mask)
        video_inputs = [pooled, frames]
        if wants_tokens:
            alignment = pair_video.alignment_tokens.clone().requires_grad_(True)
            graded_video.alignment_tokens, graded_video.alignment_mask = alignment, pair_video.alignment_mask
            video_inputs.append(alignment)
        loss = head.loss(TextFeatures(eot, tokens, text.token_mask), graded_video)
        loss.backward()
        detail = _check_gradients(head)
        text_reached = any(_reached(tensor) for tensor in (eot, tokens))
        video_reached = any(_reached(tensor) for tensor in video_inputs)
        if not (text_reached and video_reached):
            raise RuleFailed("the loss does not reach the " + ("text" if not text_reached else "video")
                             + " features (neither " + ("eot nor tokens" if not text_reached else
                                                        "pooled, frames nor alignment tokens")
                             + "), so nothing before the head can learn")
        recorder.note("gradients", detail)


def _reached(tensor) -> bool:
    return tensor.grad is not None and bool(tensor.grad.abs().sum() > 0)


def _mix_videos(video, other, keep):
    """``video``'s rows where ``keep``, ``other``'s elsewhere (same shapes, same masks)."""
    import torch

    from c2vbench.platform.interfaces import VideoFeatures

    def mix(first, second):
        if first is None:
            return None
        shaped = keep.reshape(-1, *([1] * (first.dim() - 1)))
        return torch.where(shaped, first, second)

    return VideoFeatures(mix(video.pooled, other.pooled), mix(video.frames, other.frames), video.frame_mask,
                         mix(video.alignment_tokens, other.alignment_tokens), video.alignment_mask)


def _check_stateless_loss(head, text, video, other_inputs, n_text: int, seed: int) -> None:
    """The loss on the same batch, before and after a loss on another batch, under the same seed, is the same."""
    import torch

    other_text, other_video = other_inputs
    values = []
    for batch in ((text, video), (other_text, other_video.index(slice(0, n_text))), (text, video)):
        torch.manual_seed(seed)
        values.append(head.loss(*batch).detach())
    if not _same(values[0], values[2]):
        raise RuleFailed(f"the loss on the same batch is {float(values[0]):.6g}, then {float(values[2]):.6g} after a "
                         "loss on another batch: compute it from its inputs alone (no state kept between calls)",
                         "loss-stateless")
