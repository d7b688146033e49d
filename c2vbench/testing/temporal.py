"""The temporal-module rules of the conformance kit: padding, frame order, batch independence, alignment
tokens, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from c2vbench.model.contracts import (
    allowed_output_dtypes,
    finite_problem,
    video_features_problem,
)
from c2vbench.testing.machinery import (
    EMBED_DIM,
    FRAME_SLOTS,
    PASSED,
    RuleFailed,
    _bf16_autocast,
    _built_module,
    _check_cpu,
    _check_gradients,
    _frame_inputs,
    _generator,
    _max_difference,
    _needs,
    _one_frame_batch,
    _padding_fills,
    _perturbed,
    _Recorder,
    _require,
    _same,
    _same_state,
    _seeded,
    _Skip,
    _static_clips,
    _temporal_context,
    _train_mode_changes,
)

TEMPORAL_RULES = ("builds", "cpu", "output-type", "finite", "padding-ignored", "order-declared", "batch-independent",
                  "alignment-tokens", "deterministic", "gradients")
TEMPORAL_SUBRULES = ("dtype", "autocast-dtype", "output-shape", "output-width", "static-clip", "one-frame-videos",
                     "realistic-padding", "padded-alignment-tokens", "reads-padded-slots", "train-mode")


def run_temporal_rules(recorder: _Recorder, build: Callable[[Any], Any], spec: Any, seed: int,
                       options: Any = None) -> None:
    import torch

    from c2vbench.platform.specs import declared_order_sensitivity

    context = _seeded(seed, _temporal_context)
    module = _built_module(recorder, lambda: _seeded(seed, lambda: build(context)), TEMPORAL_RULES[1:])
    if module is None:
        return
    module.eval()
    frames, mask = _frame_inputs(seed)
    provides = bool(getattr(module, "provides_alignment_tokens", False))

    def run(target, inputs, frame_mask=mask, tokens: bool = False):
        with torch.no_grad():
            return target(inputs, frame_mask, want_alignment_tokens=tokens)

    def pooled(target, inputs, frame_mask=mask):
        return run(target, inputs, frame_mask).pooled

    with recorder.rule("cpu"):
        _check_cpu(module)
    with recorder.rule("output-type"):
        output = run(module, frames)
        _require(video_features_problem(output, len(frames), FRAME_SLOTS, EMBED_DIM, allowed_output_dtypes(frames)))
        with _bf16_autocast():
            cast = run(module, frames, tokens=provides)
            _require(video_features_problem(cast, len(frames), FRAME_SLOTS, EMBED_DIM, allowed_output_dtypes(frames)),
                     "under bf16 autocast: ")
    outputs_ok = recorder.report.outcome("output-type").status == PASSED
    reason = "the outputs have the wrong type or shape"
    with recorder.rule("finite"):
        _needs(outputs_ok, reason)
        _require(finite_problem(**{"VideoFeatures.pooled": output.pooled}))
        _check_edge_cases_finite(run, module, frames, mask, provides)
    if outputs_ok and recorder.report.outcome("finite").status != PASSED:
        outputs_ok, reason = False, "the outputs are not finite"
    perturbed = _perturbed(module, seed).eval() if outputs_ok else None
    with recorder.rule("padding-ignored"):
        _needs(outputs_ok, reason)
        readable = _declared_padded_reads(spec)
        checked = [row for row, length in enumerate(mask.sum(dim=1).tolist()) if not readable or length >= 2]
        blank = context.backbone.encode_frames(torch.zeros(1, 3, 16, 16)).detach()[0]
        for weights, target in (("", module), (" on perturbed weights", perturbed)):
            clean = run(target, frames, tokens=provides)
            fills = _padding_fills(frames, mask, seed, blank, keep_slots=readable)
            for fill, (noisy_frames, subrule) in fills.items():
                noisy = run(target, noisy_frames, tokens=provides)
                changed = [row for row in checked if not _same(noisy.pooled[row], clean.pooled[row])]
                if changed:
                    raise RuleFailed(f"the pooled output of video(s) {changed} changes (by up to "
                                     f"{_max_difference(noisy.pooled, clean.pooled):.3g}){weights} when padded frame "
                                     f"slots hold {fill}: mask them out (frame_mask[b, t] == 0)", subrule)
                if provides:
                    _check_alignment_padding(clean, noisy, checked, fill, weights)
        if readable:
            recorder.note("padding-ignored", f"declared reads_padded_slots={readable}: later padded slots are "
                                             "ignored by videos of two or more frames")
    with recorder.rule("order-declared"):
        _needs(outputs_ok, reason)
        declared = declared_order_sensitivity(spec, options)
        if declared is None:
            raise _Skip("undeclared: set order_sensitive=True or False on the TemporalSpec")
        differs = _order_changes(pooled, module, frames, mask, seed)
        moved = _order_changes(pooled, perturbed, frames, mask, seed)
        if declared is False:
            for weights, rows in (("", differs), (" (on perturbed weights, as after training)", moved)):
                if any(rows.values()):
                    kind = next(kind for kind, changed in rows.items() if changed)
                    raise RuleFailed(f"declared order-insensitive, but {kind} frame order changes the output of "
                                     f"video(s) {rows[kind]}{weights}: declare order_sensitive=True")
        if declared is True and not any(differs.values()) and not any(moved.values()):
            raise RuleFailed("declared order-sensitive, but reversing or shuffling the valid frames leaves every "
                             "output unchanged, also on perturbed weights: declare order_sensitive=False (or a "
                             "function of the options, when an option decides it)")
        where = "" if any(differs.values()) or declared is False else " (seen on perturbed weights)"
        recorder.note("order-declared", f"order_sensitive={declared} holds{where}")
    with recorder.rule("batch-independent"):
        _needs(outputs_ok, reason)
        for weights, target in (("", module), (" on perturbed weights", perturbed)):
            batch = pooled(target, frames)
            alone = [pooled(target, frames[row:row + 1], mask[row:row + 1])[0] for row in range(len(frames))]
            changed = [row for row in range(len(frames)) if not _same(alone[row], batch[row])]
            if changed:
                raise RuleFailed(f"video(s) {changed} get another output alone than in a batch{weights}")
        noise = torch.randn(frames.shape, generator=_generator(seed + 31)) * mask.unsqueeze(-1)

        def others_replaced(inputs, row):
            replaced = noise.clone()
            replaced[row] = inputs[row]
            return replaced

        changed = _train_mode_changes(module, lambda target, inputs: target(inputs, mask).pooled, frames,
                                      [0, len(frames) - 1], others_replaced, seed)
        if changed:
            raise RuleFailed(f"in train mode, the output of video(s) {changed} changes with the other videos of the "
                             "batch: use no batch statistics (BatchNorm over the batch, subtracting the batch mean); "
                             "normalise each video on its own (LayerNorm)", "train-mode")
    with recorder.rule("alignment-tokens"):
        _needs(outputs_ok, reason)
        if not provides:
            raise _Skip("the module does not provide alignment tokens")
        with_tokens = run(module, frames, tokens=True)
        _require(video_features_problem(with_tokens, len(frames), FRAME_SLOTS, EMBED_DIM,
                                        allowed_output_dtypes(frames)))
        if with_tokens.alignment_tokens is None or with_tokens.alignment_mask is None:
            raise RuleFailed("provides_alignment_tokens is True, but alignment_tokens or alignment_mask is None "
                             "when asked for them")
        _require(finite_problem(**{"VideoFeatures.alignment_tokens": with_tokens.alignment_tokens}))
    with recorder.rule("deterministic"):
        _needs(outputs_ok, reason)
        again = _seeded(seed, lambda: build(context)).eval()
        if not _same_state(module, again):
            raise RuleFailed("two builds under the same seed hold different weights")
        second = pooled(again, frames)
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


def _declared_padded_reads(spec: Any) -> int:
    """``spec.reads_padded_slots``, refused beyond the bound: a declaration that covers every slot hides any leak."""
    from c2vbench.platform.specs import MAX_READS_PADDED_SLOTS

    readable = int(getattr(spec, "reads_padded_slots", 0) or 0)
    if not 0 <= readable <= MAX_READS_PADDED_SLOTS:
        raise RuleFailed(f"declares reads_padded_slots={readable}, but a module may read at most "
                         f"{MAX_READS_PADDED_SLOTS} padded slot (the first, as CLIP2Video's TDB does): mask the "
                         "padded slots out and declare 0 (or 1)", "reads-padded-slots")
    return readable


def _check_alignment_padding(clean, noisy, rows: list[int], fill: str, weights: str) -> None:
    """Alignment tokens with weight (alignment_mask != 0) must not change when padded frame slots do, and
    neither may the mask: a head such as TAB reads every weighted token."""
    import torch

    if clean.alignment_tokens is None or noisy.alignment_tokens is None:
        return
    for row in rows:
        same_mask = torch.equal(clean.alignment_mask[row], noisy.alignment_mask[row])
        weighted = (clean.alignment_mask[row] != 0).unsqueeze(-1)
        kept = torch.where(weighted, clean.alignment_tokens[row], torch.zeros_like(clean.alignment_tokens[row]))
        moved = torch.where(weighted, noisy.alignment_tokens[row], torch.zeros_like(noisy.alignment_tokens[row]))
        if not same_mask or not _same(kept, moved):
            raise RuleFailed(f"the alignment tokens of video {row} with alignment_mask 1 change{weights} when "
                             f"padded frame slots hold {fill}: give tokens that read padding alignment_mask 0",
                             "padded-alignment-tokens")


def _order_changes(pooled, target, frames, mask, seed: int) -> dict[str, list[int]]:
    """Videos (of two or more frames) whose output changes when their valid frames are reversed or shuffled."""
    from c2vbench.probes.frame_order import rearrange_frames

    reference = pooled(target, frames)
    movable = [row for row, length in enumerate(mask.sum(dim=1).tolist()) if length >= 2]
    changes = {}
    for kind in ("reverse", "shuffle"):
        values = pooled(target, rearrange_frames(frames, mask, kind, seed))
        changes[kind] = [row for row in movable if not _same(values[row], reference[row])]
    return changes


def _check_edge_cases_finite(run, module, frames, mask, provides: bool) -> None:
    """Static clips and one-frame videos happen in every real split (and in the ``repeat_middle`` probe)."""
    cases = [(name, inputs, "static-clip") for name, inputs in _static_clips(frames, mask).items()]
    cases.append(("a batch of one-frame videos", _one_frame_batch(frames, mask), "one-frame-videos"))
    for name, (inputs, frame_mask), subrule in cases:
        result = run(module, inputs, frame_mask, tokens=provides)
        problem = finite_problem(**{"VideoFeatures.pooled": result.pooled,
                                    "VideoFeatures.alignment_tokens": getattr(result, "alignment_tokens", None)})
        if problem:
            raise RuleFailed(f"for {name}, {problem.message}: guard divisions and normalisations (clamp the "
                             "norm, add an epsilon)", subrule)
