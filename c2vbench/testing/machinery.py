"""The conformance kit's shared machinery: the report and its recorder, the tiny inputs, the reference parts
(a small backbone and mean pooling), and the comparisons every kind's rules use."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

from c2vbench.model.contracts import (
    RULES,
    SUBRULES,
    Violation,
)
from c2vbench.platform.errors import C2VBenchError

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
    """The outcome of one rule: passed, failed or skipped, with what was seen or why it was skipped.

    ``subrule`` names the finer check that failed (see :data:`c2vbench.model.contracts.SUBRULES`), when one did;
    the detail then starts with it in brackets (``[output-width] ...``).
    """

    rule: str
    status: str
    detail: str = ""
    subrule: str = ""

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ConformanceReport:
    """Every rule checked on one component."""

    kind: str
    name: str
    provider: str
    outcomes: list[RuleOutcome] = dataclasses.field(default_factory=list)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

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
                "options": self.options, "outcomes": [outcome.to_dict() for outcome in self.outcomes]}


class RuleFailed(Exception):
    """Raised inside a rule's check with the one-line description of what was seen (and the sub-rule broken)."""

    def __init__(self, message: str, subrule: str = ""):
        super().__init__(message)
        self.subrule = subrule


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
            self.fail(rule, str(failure), failure.subrule)
        except C2VBenchError as error:
            self.fail(rule, str(error))
        except Exception as error:  # a plug-in's own bug: one line, never a traceback
            self.fail(rule, _one_line(error))
        else:
            if self.report.outcome(rule) is None:
                self.report.outcomes.append(RuleOutcome(rule, PASSED))

    def fail(self, rule: str, detail: str, subrule: str = "") -> None:
        if subrule == rule:
            subrule = ""
        assert not subrule or subrule in SUBRULES or subrule in RULES, subrule
        self._set(RuleOutcome(rule, FAILED, f"[{subrule}] {detail}" if subrule else detail, subrule))

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


def _require(violation: Violation | None, context: str = "") -> None:
    """Fail with a contract violation's message (its rule becomes the sub-rule), after ``context`` if given."""
    if violation is not None:
        raise RuleFailed(f"{context}{violation.message}", violation.rule)


# -- the kit's reference parts ---------------------------------------------------------------------------------


def _reference_backbone_class():
    import torch
    from torch import nn

    from c2vbench.platform.interfaces import TextFeatures

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

    from c2vbench.platform.interfaces import VideoFeatures

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
    from c2vbench.platform.interfaces import BuildContext

    backbone = reference_backbone()
    return BuildContext(backbone=backbone, embed_dim=backbone.embed_dim, max_frames=max_frames)


# -- inputs that real runs produce and tiny random inputs miss -------------------------------------------------


def _padding_fills(frames, mask, seed: int, blank, keep_slots: int = 0) -> dict[str, tuple[Any, str]]:
    """What padded slots of ``frames [B, T, D]`` may hold in a real run, each as ``(frames, sub-rule)``.

    ``noise``: large random values (a module that reads padding changes visibly); ``other videos' frames``: the
    valid frames of the next video in the batch (real embeddings, scale and all); ``a blank image's embedding``:
    ``blank [D]`` in every padded slot, as the loaders fill them. The first ``keep_slots`` padded slots of each
    video keep their values (a declared ``reads_padded_slots``).
    """
    import torch

    lengths = mask.long().sum(dim=1)
    slots = torch.arange(mask.shape[1])
    target = (slots[None, :] >= (lengths[:, None] + keep_slots)).unsqueeze(-1)
    donors = torch.empty_like(frames)
    for row in range(len(frames)):
        donor = (row + 1) % len(frames)
        length = max(int(lengths[donor]), 1)
        donors[row] = frames[donor, slots % length]
    blank_slots = blank.to(frames.dtype).reshape(1, 1, -1).expand_as(frames)
    return {"noise": (_with_garbage(frames, mask, seed, keep_slots), ""),
            "other videos' frames": (torch.where(target, donors, frames), "realistic-padding"),
            "a blank image's embedding": (torch.where(target, blank_slots, frames), "realistic-padding")}


def _static_clips(frames, mask) -> dict[str, tuple[Any, Any]]:
    """Inputs whose valid frames repeat, as ``(frames, mask)``: the second valid frame equal to the first (two
    identical consecutive frames), and every valid frame equal to the middle one (the ``repeat_middle`` probe)."""
    from c2vbench.probes.frame_order import rearrange_frames

    repeated = frames.clone()
    two_or_more = mask.long().sum(dim=1) >= 2
    repeated[two_or_more, 1] = repeated[two_or_more, 0]
    return {"two identical consecutive valid frames": (repeated, mask),
            "a static clip (every valid frame the same)": (rearrange_frames(frames, mask, "repeat_middle", 0), mask)}


def _one_frame_batch(frames, mask):
    """The same videos cut to their first frame (padded slots zero): a batch in which no video has two frames."""
    import torch

    single = torch.zeros_like(mask)
    single[:, 0] = 1
    return frames * single.unsqueeze(-1).to(frames.dtype), single


def _perturbed(module, seed: int):
    """A copy of ``module`` with every floating-point parameter moved by a little noise (a tenth of its RMS, 0.02
    for an all-zero tensor): what a module looks like after some training. A zero-initialised residual branch that
    hides what the architecture does at initialisation shows it here."""
    import copy

    import torch

    copied = copy.deepcopy(module)
    generator = _generator(seed + 104729)
    with torch.no_grad():
        for parameter in copied.parameters():
            if not parameter.is_floating_point() or parameter.numel() == 0:
                continue
            rms = float(parameter.float().pow(2).mean().sqrt())
            scale = 0.1 * rms if rms > 0 else 0.02
            noise = torch.randn(parameter.shape, generator=generator) * scale
            parameter.add_(noise.to(parameter.dtype))
    return copied


@contextlib.contextmanager
def _train_mode(module) -> Iterator[Any]:
    """``module`` in train mode, its buffers (BatchNorm's running statistics) restored and eval mode set on exit:
    later rules see the module as built, and no copy of its weights is made (a full-size backbone is large)."""
    import torch

    saved = {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
    module.train()
    try:
        yield module
    finally:
        module.eval()
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                if name in saved:
                    buffer.copy_(saved[name])


def _train_mode_changes(module, call, inputs: Any, rows: list[int], replace, seed: int) -> list[int]:
    """Rows whose train-mode output changes when the *other* rows of the batch change.

    ``call(module, inputs) -> [B, ...]`` runs the module; ``replace(inputs, row) -> inputs`` gives the same inputs
    with every row but ``row`` replaced. Both calls run in train mode under the same seed (dropout draws the same
    masks for the same shapes), so only a dependence on the rest of the batch (batch statistics) moves the output
    of ``row``.
    """
    import torch

    changed = []
    with _train_mode(module) as trained, torch.no_grad():
        torch.manual_seed(seed)
        reference = call(trained, inputs)
        for row in rows:
            torch.manual_seed(seed)
            other = call(trained, replace(inputs, row))
            if not _same(other[row], reference[row]):
                changed.append(row)
    return changed


def _bf16_autocast():
    """CPU autocast to bfloat16, as ``--precision bf16`` runs on a CPU."""
    import torch

    return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
