"""The temporal-module rules of the conformance kit: padding, frame order, batch independence, alignment
tokens, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from c2vbench.model.contracts import (
    finite_problem,
    video_features_problem,
)
from c2vbench.testing.machinery import (
    EMBED_DIM,
    FRAME_SLOTS,
    PASSED,
    RuleFailed,
    _built_module,
    _check_cpu,
    _check_gradients,
    _frame_inputs,
    _generator,
    _max_difference,
    _needs,
    _Recorder,
    _require,
    _same,
    _same_state,
    _seeded,
    _Skip,
    _temporal_context,
    _with_garbage,
)


def run_temporal_rules(recorder: _Recorder, build: Callable[[Any], Any], spec: Any, seed: int) -> None:
    import torch

    from c2vbench.probes.frame_order import rearrange_frames

    context = _seeded(seed, _temporal_context)
    module = _built_module(recorder, lambda: _seeded(seed, lambda: build(context)),
                           ("cpu", "output-type", "finite", "padding-ignored", "order-declared", "batch-independent",
                            "alignment-tokens", "deterministic", "gradients"))
    if module is None:
        return
    module.eval()
    frames, mask = _frame_inputs(seed)

    def pooled(inputs, frame_mask=mask):
        with torch.no_grad():
            return module(inputs, frame_mask).pooled

    with recorder.rule("cpu"):
        _check_cpu(module)
    with recorder.rule("output-type"):
        with torch.no_grad():
            output = module(frames, mask)
        _require(video_features_problem(output, len(frames), FRAME_SLOTS, EMBED_DIM))
    outputs_ok = recorder.report.outcome("output-type").status == PASSED
    reason = "the outputs have the wrong type or shape"
    with recorder.rule("finite"):
        _needs(outputs_ok, reason)
        _require(finite_problem(**{"VideoFeatures.pooled": output.pooled}))
    if outputs_ok and recorder.report.outcome("finite").status != PASSED:
        outputs_ok, reason = False, "the outputs are not finite"
    with recorder.rule("padding-ignored"):
        _needs(outputs_ok, reason)
        readable = int(getattr(spec, "reads_padded_slots", 0) or 0)
        noisy = pooled(_with_garbage(frames, mask, seed, keep_slots=readable))
        checked = [row for row, length in enumerate(mask.sum(dim=1).tolist()) if not readable or length >= 2]
        changed = [row for row in checked if not _same(noisy[row], output.pooled[row])]
        if changed:
            raise RuleFailed(f"the pooled output of video(s) {changed} changes (by up to "
                             f"{_max_difference(noisy, output.pooled):.3g}) when padded frame slots hold other "
                             "values: mask them out (frame_mask[b, t] == 0)")
        if readable:
            recorder.note("padding-ignored", f"declared reads_padded_slots={readable}: later padded slots are "
                                             "ignored by videos of two or more frames")
    with recorder.rule("order-declared"):
        _needs(outputs_ok, reason)
        declared = getattr(spec, "order_sensitive", None)
        if declared is None:
            raise _Skip("undeclared: set order_sensitive=True or False on the TemporalSpec")
        rearranged = {kind: pooled(rearrange_frames(frames, mask, kind, seed)) for kind in ("reverse", "shuffle")}
        movable = [row for row, length in enumerate(mask.sum(dim=1).tolist()) if length >= 2]
        differs = {kind: [row for row in movable if not _same(values[row], output.pooled[row])]
                   for kind, values in rearranged.items()}
        if declared is False and any(differs.values()):
            kind = next(kind for kind, rows in differs.items() if rows)
            raise RuleFailed(f"declared order-insensitive, but {kind} frame order changes the output of video(s) "
                             f"{differs[kind]}: declare order_sensitive=True")
        if declared is True and not any(differs.values()):
            raise RuleFailed("declared order-sensitive, but reversing or shuffling the valid frames leaves every "
                             "output unchanged: declare order_sensitive=False")
        recorder.note("order-declared", f"order_sensitive={declared} holds")
    with recorder.rule("batch-independent"):
        _needs(outputs_ok, reason)
        alone = [pooled(frames[row:row + 1], mask[row:row + 1])[0] for row in range(len(frames))]
        changed = [row for row in range(len(frames)) if not _same(alone[row], output.pooled[row])]
        if changed:
            raise RuleFailed(f"video(s) {changed} get another output alone than in a batch")
    provides = bool(getattr(module, "provides_alignment_tokens", False))
    with recorder.rule("alignment-tokens"):
        _needs(outputs_ok, reason)
        if not provides:
            raise _Skip("the module does not provide alignment tokens")
        with torch.no_grad():
            with_tokens = module(frames, mask, want_alignment_tokens=True)
        _require(video_features_problem(with_tokens, len(frames), FRAME_SLOTS, EMBED_DIM))
        if with_tokens.alignment_tokens is None or with_tokens.alignment_mask is None:
            raise RuleFailed("provides_alignment_tokens is True, but alignment_tokens or alignment_mask is None "
                             "when asked for them")
        _require(finite_problem(**{"VideoFeatures.alignment_tokens": with_tokens.alignment_tokens}))
    with recorder.rule("deterministic"):
        _needs(outputs_ok, reason)
        again = _seeded(seed, lambda: build(context)).eval()
        if not _same_state(module, again):
            raise RuleFailed("two builds under the same seed hold different weights")
        with torch.no_grad():
            second = again(frames, mask).pooled
        if not _same(second, output.pooled, atol=0, rtol=0):
            raise RuleFailed("the same input gives different outputs")
    with recorder.rule("gradients"):
        _needs(outputs_ok, reason)
        module.train()
        module.zero_grad(set_to_none=True)
        inputs = frames.clone().requires_grad_(True)
        result = module(inputs, mask, want_alignment_tokens=provides)
        weights = torch.randn(EMBED_DIM, generator=_generator(seed + 1))
        loss = (result.pooled @ weights).sum()
        if provides and result.alignment_tokens is not None:
            token_weights = result.alignment_mask.to(result.alignment_tokens.dtype).unsqueeze(-1)
            loss = loss + ((result.alignment_tokens * token_weights) @ weights).sum()
        if not loss.requires_grad:
            raise RuleFailed("no gradient reaches the input frames or any parameter: the output is cut from the "
                             "graph (detach, no_grad or numpy)")
        loss.backward()
        recorder.note("gradients", _check_gradients(module, {"the input frames": inputs}))
