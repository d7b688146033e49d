"""The conformance kit: the rules every component of a kind must follow, checked on tiny CPU inputs.

For plug-in authors, one line in a test file::

    from c2vbench.testing import assert_plugin_conforms

    def test_conforms():
        assert_plugin_conforms("maxpool")          # found through its entry point, like any run finds it

and on the command line ``c2vbench check-plugin maxpool`` (exit 0 when it conforms, one line per failed rule
otherwise). The checks depend only on the component's kind:

* every kind: ``builds`` (the factory builds it from its ``check_options``), ``deterministic`` (the same seed builds
  the same component and the same input gives the same output), ``cpu``;
* backbones: ``tokenize``, ``output-type``/``dtype``/``output-shape``/``output-width``/``finite`` of
  ``encode_frames`` and ``encode_text``, ``batch-independent``, ``gradients`` (every trainable parameter);
* temporal modules: the output rules, ``padding-ignored`` (the output is unchanged when padded frame slots hold
  garbage; a module may declare ``TemporalSpec.reads_padded_slots``), ``order-declared`` (the output changes under
  frame reversal or shuffling exactly when ``TemporalSpec.order_sensitive`` says so, using
  :mod:`c2vbench.frame_order`, the code behind the order probes), ``batch-independent``, ``alignment-tokens``,
  ``gradients`` (every trainable parameter, and the input frames, so that a fine-tuned backbone learns);
* align heads: logits ``[n_text, n_video]``, ``padding-ignored`` (padded frames and padded text tokens),
  ``batch-independent`` (a pair's score does not depend on the rest of the gallery), ``loss`` (a finite scalar),
  ``gradients`` (every trainable parameter and the text and video features);
* datasets: ``records`` (splits, videos, captions, subsets well-formed; train and test disjoint), ``sampling``,
  ``protocol-stable`` (JSON data, identical on a second build), ``decodable`` (a test video decodes into frame slots
  with a left-aligned mask). A dataset that reads downloaded files needs ``data_root``; without it every rule is
  skipped with that reason;
* checkpoint formats need a checkpoint file and are skipped.

Temporal modules and align heads are built against the kit's own small reference backbone
(:class:`ReferenceBackbone`, ``embed_dim`` 32), so their checks never depend on another plug-in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .contracts import (
    RULES,
    Violation,
    finite_problem,
    frame_embeddings_problem,
    logits_problem,
    loss_problem,
    text_features_problem,
    video_features_problem,
)
from .errors import C2VBenchError, PluginError

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
EMBED_DIM = 32
FRAME_SLOTS = 4
TEXT_LENGTH = 6
# Left-aligned masks: full, partly padded, one valid frame (a video must have at least one).
VIDEO_MASK = ((1, 1, 1, 1), (1, 1, 1, 0), (1, 1, 0, 0), (1, 0, 0, 0))
TEXT_MASK = ((1, 1, 1, 1, 1, 1), (1, 1, 1, 1, 0, 0), (1, 1, 1, 0, 0, 0))
GARBAGE_SCALE = 100.0
CAPTIONS = ("a red square moves left on a black background", "a blue circle grows", "x")


@dataclasses.dataclass(frozen=True)
class RuleOutcome:
    """The outcome of one rule: passed, failed or skipped, with what was seen or why it was skipped."""

    rule: str
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ConformanceReport:
    """Every rule checked on one component."""

    kind: str
    name: str
    provider: str
    outcomes: list[RuleOutcome] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[RuleOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == FAILED]

    @property
    def skipped(self) -> list[RuleOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == SKIPPED]

    def outcome(self, rule: str) -> RuleOutcome | None:
        return next((outcome for outcome in self.outcomes if outcome.rule == rule), None)

    def failure_lines(self) -> list[str]:
        """One line per failed rule: ``temporal 'leaky': padding-ignored: ...``."""
        return [f"{self.kind} '{self.name}': {o.rule}: {o.detail}" for o in self.failures]

    def summary(self) -> str:
        counts = {status: sum(o.status == status for o in self.outcomes) for status in (PASSED, FAILED, SKIPPED)}
        verdict = "conforms" if self.ok else "does not conform"
        return (f"{self.kind} '{self.name}' ({self.provider}) {verdict}: {counts[PASSED]} rule(s) passed, "
                f"{counts[FAILED]} failed, {counts[SKIPPED]} skipped")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "provider": self.provider, "ok": self.ok,
                "outcomes": [outcome.to_dict() for outcome in self.outcomes]}


class RuleFailed(Exception):
    """Raised inside a rule's check with the one-line description of what was seen."""


class _Recorder:
    """Runs each rule's check, turning any exception into a failed outcome (never a crash of the kit)."""

    def __init__(self, report: ConformanceReport):
        self.report = report

    @contextlib.contextmanager
    def rule(self, rule: str) -> Iterator[None]:
        assert rule in RULES, rule
        try:
            yield
        except _Skip as skip:
            self.skip(rule, str(skip))
        except RuleFailed as failure:
            self.fail(rule, str(failure))
        except C2VBenchError as error:
            self.fail(rule, str(error))
        except Exception as error:  # a plug-in's own bug: one line, never a traceback
            self.fail(rule, _one_line(error))
        else:
            if self.report.outcome(rule) is None:
                self.report.outcomes.append(RuleOutcome(rule, PASSED))

    def fail(self, rule: str, detail: str) -> None:
        self._set(RuleOutcome(rule, FAILED, detail))

    def skip(self, rule: str, detail: str) -> None:
        self._set(RuleOutcome(rule, SKIPPED, detail))

    def note(self, rule: str, detail: str) -> None:
        """A passed rule with a remark (e.g. the declaration it was checked against)."""
        self._set(RuleOutcome(rule, PASSED, detail))

    def _set(self, outcome: RuleOutcome) -> None:
        outcomes = self.report.outcomes
        outcomes[:] = [o for o in outcomes if o.rule != outcome.rule]
        outcomes.append(outcome)


class _Skip(Exception):
    pass


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _require(violation: Violation | None) -> None:
    if violation is not None:
        raise RuleFailed(f"[{violation.rule}] {violation.message}")


# -- the kit's reference parts ---------------------------------------------------------------------------------


def _reference_backbone_class():
    import torch
    from torch import nn

    from .interfaces import TextFeatures

    class ReferenceBackbone(nn.Module):
        """A small, deterministic backbone the kit builds temporal modules and align heads against.

        Images are average-pooled to 4x4 and projected; token ids are embedded and projected. It offers no text
        transformer (``temporal_init_state`` is None), so modules that copy one take their random-init path.
        """

        def __init__(self, embed_dim: int = EMBED_DIM, vocab_size: int = 64, context_length: int = 8):
            super().__init__()
            self.embed_dim = embed_dim
            self.image_size = 16
            self.image_mean = (0.5, 0.5, 0.5)
            self.image_std = (0.25, 0.25, 0.25)
            self.context_length = context_length
            self.vocab_size = vocab_size
            self.image_projection = nn.Linear(3 * 4 * 4, embed_dim)
            self.token_embedding = nn.Embedding(vocab_size, embed_dim)
            self.text_projection = nn.Linear(embed_dim, embed_dim)

        def encode_frames(self, images: torch.Tensor) -> torch.Tensor:
            pooled = nn.functional.adaptive_avg_pool2d(images.float(), 4).flatten(1)
            return self.image_projection(pooled)

        def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
            tokens = self.text_projection(self.token_embedding(input_ids))
            last = attention_mask.long().sum(dim=1).clamp(min=1) - 1
            eot = tokens[torch.arange(tokens.shape[0], device=tokens.device), last]
            return TextFeatures(eot=eot, tokens=tokens, token_mask=attention_mask)

        def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
            import zlib

            ids = torch.zeros(len(captions), self.context_length, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, caption in enumerate(captions):
                words = [1] + [3 + zlib.crc32(w.encode()) % (self.vocab_size - 3) for w in caption.split()]
                words = words[: self.context_length - 1] + [2]
                ids[row, : len(words)] = torch.tensor(words)
                mask[row, : len(words)] = 1
            return ids, mask

        def temporal_init_state(self):
            return None

        def initial_logit_scale(self) -> float:
            return math.log(1 / 0.07)

    return ReferenceBackbone


def reference_backbone():
    """The kit's small reference backbone (``embed_dim`` 32), built from torch's current random state."""
    return _reference_backbone_class()()


def _reference_temporal_module():
    from torch import nn

    from .interfaces import VideoFeatures

    class ReferenceMeanPooling(nn.Module):
        provides_alignment_tokens = False

        def forward(self, frames, frame_mask, want_alignment_tokens: bool = False):
            return VideoFeatures(pooled=_masked_mean(frames, frame_mask), frames=frames, frame_mask=frame_mask)

    return ReferenceMeanPooling()


def _masked_mean(frames, frame_mask):
    weights = frame_mask.to(frames.dtype).unsqueeze(-1)
    mean = (frames * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    return mean / mean.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _generator(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


def _frame_inputs(seed: int, videos: int = len(VIDEO_MASK)):
    import torch

    mask = torch.tensor(VIDEO_MASK[:videos], dtype=torch.long)
    frames = torch.randn(videos, FRAME_SLOTS, EMBED_DIM, generator=_generator(seed))
    frames = frames * mask.unsqueeze(-1)  # padded slots: zeros, as a blank image's embedding stands in for them
    return frames, mask


def _with_garbage(tensor, mask, seed: int, keep_slots: int = 0):
    """``tensor [B, T, ...]`` with large random values in the padded slots of ``mask`` (after ``keep_slots``)."""
    import torch

    lengths = mask.long().sum(dim=1)
    slots = torch.arange(mask.shape[1])
    target = slots[None, :] >= (lengths[:, None] + keep_slots)
    noise = torch.randn(tensor.shape, generator=_generator(seed + 7919)) * GARBAGE_SCALE
    shaped = target.reshape(*target.shape, *([1] * (tensor.dim() - 2)))
    return torch.where(shaped, noise.to(tensor.dtype), tensor)


def _same(first, second, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    import torch

    return first.shape == second.shape and bool(torch.allclose(first.float(), second.float(), atol=atol, rtol=rtol))


def _max_difference(first, second) -> float:
    return float((first.float() - second.float()).abs().max())


def _is_module(value: Any) -> bool:
    from torch import nn

    return isinstance(value, nn.Module)


def _trainable(module) -> list[tuple[str, Any]]:
    return [(name, parameter) for name, parameter in module.named_parameters() if parameter.requires_grad]


def _check_gradients(module, extra: dict[str, Any] | None = None) -> str:
    """Fail unless every trainable parameter (and each tensor in ``extra``) got a finite gradient."""
    import torch

    missing = [name for name, parameter in _trainable(module) if parameter.grad is None]
    for name, tensor in (extra or {}).items():
        if tensor.grad is None or not bool(tensor.grad.abs().sum() > 0):
            missing.append(name)
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise RuleFailed(f"no gradient reaches {shown}")
    broken = [name for name, parameter in _trainable(module) if not bool(torch.isfinite(parameter.grad).all())]
    if broken:
        raise RuleFailed(f"non-finite gradient in {', '.join(broken[:6])}")
    count = len(_trainable(module))
    return f"{count} trainable parameter tensor(s)" if count else "no trainable parameters"


def _check_cpu(module) -> None:
    elsewhere = [name for name, tensor in [*module.named_parameters(), *module.named_buffers()]
                 if tensor.device.type != "cpu"]
    if elsewhere:
        raise RuleFailed(f"built on another device than the CPU: {', '.join(elsewhere[:4])}")


def _seeded(seed: int, build: Callable[[], Any]) -> Any:
    import torch

    torch.manual_seed(seed)
    return build()


def _same_state(first, second) -> bool:
    import torch

    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


# -- per-kind checks -------------------------------------------------------------------------------------------


def _check_backbone(recorder: _Recorder, build: Callable[[], Any], seed: int) -> None:
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
        from .frame_order import valid_lengths

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


def _needs(condition: bool, reason: str) -> None:
    if not condition:
        raise _Skip(reason)


def _skip_rest(recorder: _Recorder, rules: tuple[str, ...], reason: str = "the component could not be built"):
    for rule in rules:
        recorder.skip(rule, reason)


def _built_module(recorder: _Recorder, make: Callable[[], Any], later_rules: tuple[str, ...]) -> Any:
    """The ``builds`` rule for a factory that must return a torch ``nn.Module``: the module, or None (and every
    later rule skipped) when it could not be built."""
    with recorder.rule("builds"):
        module = make()
        if not _is_module(module):
            raise RuleFailed(f"the factory returned a {type(module).__name__}, not a torch nn.Module")
    if recorder.report.outcome("builds").status != PASSED:
        _skip_rest(recorder, later_rules)
        return None
    return module


def _temporal_context(max_frames: int = FRAME_SLOTS):
    from .interfaces import BuildContext

    backbone = reference_backbone()
    return BuildContext(backbone=backbone, embed_dim=backbone.embed_dim, max_frames=max_frames)


def _check_temporal(recorder: _Recorder, build: Callable[[Any], Any], spec: Any, seed: int) -> None:
    import torch

    from .frame_order import rearrange_frames

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


def _align_inputs(seed: int):
    import torch

    from .interfaces import TextFeatures, VideoFeatures

    generator = _generator(seed + 2)
    token_mask = torch.tensor(TEXT_MASK, dtype=torch.long)
    tokens = torch.randn(len(TEXT_MASK), TEXT_LENGTH, EMBED_DIM, generator=generator) * token_mask.unsqueeze(-1)
    last = token_mask.sum(dim=1) - 1
    text = TextFeatures(eot=tokens[torch.arange(len(tokens)), last].clone(), tokens=tokens, token_mask=token_mask)
    frames, mask = _frame_inputs(seed)
    video = VideoFeatures(pooled=_masked_mean(frames, mask), frames=frames, frame_mask=mask)
    return text, video


def _check_align(recorder: _Recorder, build: Callable[[Any], Any], seed: int) -> None:
    import dataclasses as dc

    import torch

    from .interfaces import TextFeatures, VideoFeatures

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
        pooled = pair_video.pooled.clone().requires_grad_(True)
        frames = pair_video.frames.clone().requires_grad_(True)
        loss = head.loss(TextFeatures(eot, text.tokens, text.token_mask),
                         VideoFeatures(pooled, frames, pair_video.frame_mask))
        loss.backward()
        detail = _check_gradients(head)
        text_reached = eot.grad is not None and bool(eot.grad.abs().sum() > 0)
        video_reached = any(t.grad is not None and bool(t.grad.abs().sum() > 0) for t in (pooled, frames))
        if not (text_reached and video_reached):
            raise RuleFailed("the loss does not reach the " + ("text" if not text_reached else "video")
                             + " features, so nothing before the head can learn")
        recorder.note("gradients", detail)


def _check_dataset(recorder: _Recorder, build: Callable[[], Any], seed: int) -> None:
    from .data.sampling import FrameSampling
    from .data.types import CaptionRecord, QuerySubset, RetrievalDataset, RetrievalSplit, VideoRecord

    with recorder.rule("builds"):
        dataset = _seeded(seed, build)
        if not isinstance(dataset, RetrievalDataset):
            raise RuleFailed(f"the factory returned a {type(dataset).__name__}, not a RetrievalDataset")
    if recorder.report.outcome("builds").status != PASSED:
        _skip_rest(recorder, ("records", "sampling", "protocol-stable", "deterministic", "decodable"))
        return
    with recorder.rule("records"):
        if not isinstance(dataset.splits, dict) or "test" not in dataset.splits:
            raise RuleFailed(f"splits must be a dict with at least 'test' (and 'train' to train on), got "
                             f"{sorted(dataset.splits) if isinstance(dataset.splits, dict) else dataset.splits!r}")
        for split_name, split in dataset.splits.items():
            if not isinstance(split, RetrievalSplit):
                raise RuleFailed(f"split '{split_name}' is a {type(split).__name__}, not a RetrievalSplit")
            _check_split_records(split_name, split, VideoRecord, CaptionRecord, QuerySubset)
        train_ids = dataset.splits["train"].video_ids() if "train" in dataset.splits else []
        shared = set(train_ids) & set(dataset.splits["test"].video_ids())
        if shared:
            raise RuleFailed(f"{len(shared)} video(s) are in both train and test, e.g. {sorted(shared)[:3]}")
    with recorder.rule("sampling"):
        if not isinstance(dataset.sampling, FrameSampling):
            raise RuleFailed(f"sampling is a {type(dataset.sampling).__name__}, not a FrameSampling")
        if dataset.sampling.max_frames < 1:
            raise RuleFailed(f"sampling.max_frames is {dataset.sampling.max_frames}")
    again = None
    with recorder.rule("protocol-stable"):
        if not isinstance(dataset.protocol, dict) or not dataset.protocol:
            raise RuleFailed("protocol must be a non-empty dict describing the benchmark")
        try:
            first = json.dumps(dataset.protocol, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise RuleFailed(f"protocol is not JSON data: {error}") from None
        again = _seeded(seed + 1, build)
        second = json.dumps(getattr(again, "protocol", None), sort_keys=True, default=repr)
        if first != second:
            raise RuleFailed("a second build gives another protocol description (its hash must identify the "
                             "benchmark)")
    with recorder.rule("deterministic"):
        _needs(again is not None and recorder.report.outcome("records").status == PASSED,
               "the records are malformed")
        for split_name, split in dataset.splits.items():
            other = again.splits.get(split_name)
            if other is None or split.video_ids() != other.video_ids() or \
                    [(c.text, c.video_index) for c in split.captions] != \
                    [(c.text, c.video_index) for c in other.captions]:
                raise RuleFailed(f"split '{split_name}' differs between two builds")
    with recorder.rule("decodable"):
        _needs(recorder.report.outcome("records").status == PASSED
               and recorder.report.outcome("sampling").status == PASSED, "the records or the sampling are malformed")
        _check_decodes(dataset)


def _check_split_records(split_name, split, VideoRecord, CaptionRecord, QuerySubset) -> None:  # noqa: N803
    where = f"split '{split_name}'"
    if not split.videos:
        raise RuleFailed(f"{where} has no video")
    seen: set[str] = set()
    for video in split.videos:
        if not isinstance(video, VideoRecord) or not isinstance(video.video_id, str) or not video.video_id \
                or not isinstance(video.source, Path):
            raise RuleFailed(f"{where}: {video!r} is not a VideoRecord with a non-empty id and a Path source")
        if video.video_id in seen:
            raise RuleFailed(f"{where}: video id {video.video_id!r} appears twice")
        seen.add(video.video_id)
    covered = set()
    for caption in split.captions:
        if not isinstance(caption, CaptionRecord) or not isinstance(caption.text, str) or not caption.text.strip():
            raise RuleFailed(f"{where}: {caption!r} is not a CaptionRecord with text")
        if not 0 <= caption.video_index < len(split.videos):
            raise RuleFailed(f"{where}: caption {caption.text!r} points at video {caption.video_index}")
        covered.add(caption.video_index)
    uncovered = [split.videos[i].video_id for i in range(len(split.videos)) if i not in covered]
    if uncovered:
        raise RuleFailed(f"{where}: video(s) without a caption, e.g. {uncovered[:3]}")
    for subset_name, subset in (split.subsets or {}).items():
        if not isinstance(subset, QuerySubset):
            raise RuleFailed(f"{where}: subset '{subset_name}' is not a QuerySubset")
        bad = [i for i in subset.caption_indices if not 0 <= i < len(split.captions)]
        bad += [i for i in (*subset.video_indices, *subset.rival_videos) if not 0 <= i < len(split.videos)]
        if bad:
            raise RuleFailed(f"{where}: subset '{subset_name}' points outside the split: {bad[:3]}")


def _check_decodes(dataset) -> None:
    from .data.loader import ImageFormat, VideoClipDataset
    from .frame_order import valid_lengths

    split = dataset.splits["test"]
    clip = VideoClipDataset(split.videos[:1], dataset.sampling, ImageFormat(32, (0.5,) * 3, (0.25,) * 3))
    frames, frame_mask, _ = clip[0]
    slots = dataset.sampling.max_frames
    if tuple(frames.shape) != (slots, 3, 32, 32):
        raise RuleFailed(f"video {split.videos[0].video_id} decodes to {tuple(frames.shape)}, expected "
                         f"({slots}, 3, 32, 32)")
    try:
        valid = int(valid_lengths(frame_mask[None])[0])
    except ValueError as error:
        raise RuleFailed(f"video {split.videos[0].video_id}: {error}") from None
    if valid < 1:
        raise RuleFailed(f"video {split.videos[0].video_id} decodes to no valid frame")


# -- entry points ----------------------------------------------------------------------------------------------

KIND_RULES = {
    "backbone": ("builds", "cpu", "tokenize", "output-type", "finite", "batch-independent", "deterministic",
                 "gradients"),
    "temporal": ("builds", "cpu", "output-type", "finite", "padding-ignored", "order-declared",
                 "batch-independent", "alignment-tokens", "deterministic", "gradients"),
    "align": ("builds", "cpu", "output-type", "finite", "padding-ignored", "batch-independent", "deterministic",
              "loss", "gradients"),
    "dataset": ("builds", "records", "sampling", "protocol-stable", "deterministic", "decodable"),
    "checkpoint_format": ("builds",),
}


def check_spec(spec: Any, options: dict[str, Any] | None = None, data_root: str | Path | None = None,
               seed: int = 0, provider: str = "(local)") -> ConformanceReport:
    """Check one spec object (registered or not) and return the report; never raises for a broken plug-in.

    ``options`` override the spec's ``check_options`` (which override its defaults). ``data_root`` is passed to a
    dataset's factory; a dataset with ``needs_data_root`` and no ``data_root`` is skipped with that reason.
    """
    import torch

    from .specs import build_options, canonical_kind

    kind = canonical_kind(spec.kind)
    report = ConformanceReport(kind, spec.name, provider)
    recorder = _Recorder(report)
    overrides = {**dict(getattr(spec, "check_options", {}) or {}), **dict(options or {})}
    try:
        resolved = build_options(spec, overrides)
    except C2VBenchError as error:
        recorder.fail("builds", f"options: {error}")
        _skip_rest(recorder, KIND_RULES[kind][1:], "the options do not resolve")
        return report
    factory = spec.factory
    with _torch_state():
        torch.set_grad_enabled(True)
        if kind == "backbone":
            _check_backbone(recorder, lambda: factory(resolved), seed)
        elif kind == "temporal":
            _check_temporal(recorder, lambda context: factory(resolved, context), spec, seed)
        elif kind == "align":
            _check_align(recorder, lambda context: factory(resolved, context), seed)
        elif kind == "dataset":
            root = None if data_root is None else Path(data_root).expanduser()
            if root is None and getattr(spec, "needs_data_root", True):
                _skip_rest(recorder, KIND_RULES[kind], "needs downloaded data: pass a data root "
                                                       f"(c2vbench check-plugin {spec.name} --data-root DIR)")
            else:
                _check_dataset(recorder, lambda: factory(resolved, root), seed)
        else:
            _skip_rest(recorder, KIND_RULES[kind], "needs a checkpoint file: try it with "
                                                   f"`c2vbench eval --checkpoint FILE --format {spec.name}`")
    return report


@contextlib.contextmanager
def _torch_state() -> Iterator[None]:
    """Leave torch's global random state and grad mode as they were (the kit seeds its own builds)."""
    import torch

    state = torch.random.get_rng_state()
    grad_enabled = torch.is_grad_enabled()
    try:
        yield
    finally:
        torch.random.set_rng_state(state)
        torch.set_grad_enabled(grad_enabled)


def find_component(name: str, kind: str | None = None, registry: Any = None):
    """The registered component called ``name`` (of ``kind`` when given; a name used by two kinds needs it)."""
    from .errors import UnknownComponentError
    from .registry import get_registry
    from .specs import KINDS, kind_label

    registry = registry or get_registry()
    if kind is not None:
        return registry.get(kind, name)
    kinds = [k for k in KINDS if name.lower() in registry.names(k) or (k, name.lower()) in registry.clashes]
    if not kinds:
        known = ", ".join(sorted({c.name for c in registry.all()})) or "(none)"
        raise UnknownComponentError(f"no plug-in registers a component called '{name}'", f"known: {known}")
    if len(kinds) > 1:
        raise PluginError(f"'{name}' names a {' and a '.join(kind_label(k) for k in kinds)}",
                          f"say which with --kind ({', '.join(kinds)})")
    return registry.get(kinds[0], name)


def check_plugin(name: str, kind: str | None = None, options: dict[str, Any] | None = None,
                 data_root: str | Path | None = None, seed: int = 0, registry: Any = None) -> ConformanceReport:
    """Run every rule of its kind on the registered component ``name``; see the module documentation."""
    component = find_component(name, kind, registry)
    version = f" {component.provider.version}" if component.provider.version else ""
    return check_spec(component.spec, options, data_root, seed, f"{component.provider.distribution}{version}")


def assert_plugin_conforms(name: str, kind: str | None = None, options: dict[str, Any] | None = None,
                           data_root: str | Path | None = None, seed: int = 0) -> ConformanceReport:
    """The pytest helper: fail with one line per broken rule; skip when every rule had to be skipped."""
    report = check_plugin(name, kind, options, data_root, seed)
    return _assert_report(report)


def assert_spec_conforms(spec: Any, options: dict[str, Any] | None = None, data_root: str | Path | None = None,
                         seed: int = 0) -> ConformanceReport:
    """:func:`assert_plugin_conforms` for a spec object that is not registered (e.g. one defined in a test)."""
    return _assert_report(check_spec(spec, options, data_root, seed))


def _assert_report(report: ConformanceReport) -> ConformanceReport:
    if report.failures:
        raise AssertionError("\n".join([report.summary(), *report.failure_lines()]))
    if report.outcomes and len(report.skipped) == len(report.outcomes):
        import pytest

        pytest.skip(f"{report.kind} '{report.name}': {report.skipped[0].detail}")
    return report


def registered_components(distribution: str | None = None, kinds: tuple[str, ...] | None = None,
                          registry: Any = None) -> list[tuple[str, str]]:
    """``(kind, name)`` of every registered component (of one distribution, of some kinds): for parametrising."""
    from .registry import load_registry

    registry = registry or load_registry()
    return [(c.kind, c.name) for c in registry.all()
            if (distribution is None or c.provider.distribution.lower() == distribution.lower())
            and (kinds is None or c.kind in kinds)]


__all__ = [
    "ConformanceReport", "RuleOutcome", "RULES", "KIND_RULES", "check_plugin", "check_spec",
    "assert_plugin_conforms", "assert_spec_conforms", "registered_components", "reference_backbone",
    "find_component",
]
