"""Spec objects: what the four registration hooks yield.

A spec describes one component and how to build it, without building it: ``factory`` is called only when the
component is selected, so listing plug-ins never imports torch. Specs are frozen so that nothing can rename or
mutate a component after its provider registered it.

The factory signatures (each receives the resolved ``options`` object, an instance of ``options_type``):

* :class:`BackboneSpec`: ``factory(options) -> backbone`` (see :class:`c2vbench.platform.interfaces.Backbone`)
* :class:`TemporalSpec`: ``factory(options, context) -> temporal module``
  (see :class:`c2vbench.platform.interfaces.TemporalModule`; ``context`` is a
  :class:`c2vbench.platform.interfaces.BuildContext`)
* :class:`AlignSpec`: ``factory(options, context) -> align head`` (see :class:`c2vbench.platform.interfaces.AlignHead`)
* :class:`DatasetSpec`: ``factory(options, data_root) -> dataset`` (see :class:`c2vbench.data.types.RetrievalDataset`)
* :class:`CheckpointFormatSpec`: ``factory(path, legacy_mask=False, **options) -> RetrievalModel``
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, ClassVar

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Options type of a component that takes none."""


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    """Fields shared by every kind of component.

    Each subclass is the one place that says what its kind is: ``kind`` (the value in ``c2vbench plugins --json``),
    ``hook`` (the registration hook that yields it), ``label`` (how messages name it), ``role`` (its key in a
    result file's ``plugins`` and in the run configuration, or None when a run does not select one) and any
    deprecated spellings of the kind and hook that are still accepted. Every kind table in the core is derived
    from these; a new kind is one spec class here and one hook specification in :mod:`c2vbench.platform.hookspecs`.

    Attributes:
        name: lower-case identifier used on the command line (``--temporal tdb``).
        summary: one line shown by ``c2vbench plugins``.
        factory: builds the component; see the module docstring for its signature per kind.
        options_type: a dataclass whose fields (all with defaults) are the component's options.
        paper: citation of the method, if any.
        url: where to read more.
        check_options: option overrides the conformance kit builds the component with (``c2vbench check-plugin``
            and :func:`c2vbench.testing.assert_plugin_conforms`): small sizes keep the checks fast. Empty: the
            defaults.
    """

    kind: ClassVar[str] = "component"
    hook: ClassVar[str] = ""
    label: ClassVar[str] = "component"
    role: ClassVar[str | None] = None
    deprecated_kinds: ClassVar[tuple[str, ...]] = ()
    deprecated_hooks: ClassVar[tuple[str, ...]] = ()

    name: str
    summary: str
    factory: Callable[..., Any]
    options_type: type = NoOptions
    paper: str = ""
    url: str = ""
    check_options: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def default_options(self) -> Any:
        from c2vbench.platform.options import default_options

        return default_options(self.options_type, f"{self.label} '{self.name}'")


@dataclasses.dataclass(frozen=True)
class BackboneSpec(ComponentSpec):
    """An image and text encoder pair; see :class:`c2vbench.platform.interfaces.Backbone`."""

    kind: ClassVar[str] = "backbone"
    hook: ClassVar[str] = "c2vbench_register_backbones"
    label: ClassVar[str] = "backbone"
    role: ClassVar[str | None] = "backbone"


MAX_READS_PADDED_SLOTS = 1
"""The most padded slots a temporal module may declare that it reads (``TemporalSpec.reads_padded_slots``)."""

@dataclasses.dataclass(frozen=True)
class TemporalSpec(ComponentSpec):
    """Frame embeddings and a frame mask to a video embedding; see :class:`c2vbench.platform.interfaces.TemporalModule`.

    Attributes:
        order_sensitive: True when the module's output depends on the order of the valid frames (``tdb``,
            ``seqtransf``), False when it declares itself invariant to it (``meanp``), None when undeclared; or a
            function of the resolved options giving one of these, when an option decides it (a temporal
            convolution with ``kernel=1`` is order-insensitive: ``order_sensitive=lambda options: options.kernel >
            1``). The conformance kit checks the declaration for the options it builds with, at initialisation and
            on perturbed weights (a zero-initialised residual branch hides order at first); the reordering probes
            (``--probe order``: reverse, shuffle) are refused when the module and the align head both declare
            False.
        reads_padded_slots: how many padded frame slots right after a video's valid frames its output may depend
            on (0, the rule: padded slots are ignored; at most 1). ``tdb`` declares 1, as the official CLIP2Video
            code behaves: its last difference token compares the last valid frame with the first padded slot (the
            blank image's embedding). With a declaration the conformance kit checks that every later padded slot
            is ignored by videos of two or more valid frames (tdb's difference attention in a one-frame video has
            no valid key and reads every slot, also as the official code does). A declaration is recorded in
            every result file, beside the component's name and version.
    """

    kind: ClassVar[str] = "temporal"
    hook: ClassVar[str] = "c2vbench_register_temporal_modules"
    label: ClassVar[str] = "temporal module"
    role: ClassVar[str | None] = "temporal"

    order_sensitive: bool | None | Callable[[Any], bool | None] = None
    reads_padded_slots: int = 0


@dataclasses.dataclass(frozen=True)
class AlignSpec(ComponentSpec):
    """An align (similarity) head: text and video features to retrieval logits and a loss.

    Selected with ``--align``; see :class:`c2vbench.platform.interfaces.AlignHead`. Formerly ``SimilaritySpec`` (kind
    ``similarity``, hook ``c2vbench_register_similarities``): those spellings still work and are deprecated.

    Attributes:
        order_sensitive: False when the head's scores cannot depend on the order of the valid frames (``cosine``
            reads only the pooled video vector), True when they may (``tab`` aligns frame tokens with positions),
            None when undeclared, or a function of the resolved options giving one of these. Frame-order probes are
            refused only when the temporal module and the head both declare False.
    """

    kind: ClassVar[str] = "align"
    hook: ClassVar[str] = "c2vbench_register_align_heads"
    label: ClassVar[str] = "align head"
    role: ClassVar[str | None] = "align"
    deprecated_kinds: ClassVar[tuple[str, ...]] = ("similarity",)
    deprecated_hooks: ClassVar[tuple[str, ...]] = ("c2vbench_register_similarities",)

    order_sensitive: bool | None | Callable[[Any], bool | None] = None


SimilaritySpec = AlignSpec  # deprecated alias: the kind's old name


@dataclasses.dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """Videos, captions, splits and a frame-sampling protocol; see :class:`c2vbench.data.types.RetrievalDataset`.

    Attributes:
        needs_data_root: True when the dataset reads files the user downloaded (``--data-root``); False when it is
            generated or shipped (then a ``--data-root`` given to it is refused rather than written into).
        data_layout: what ``--data-root`` must hold, in a phrase (shown when it is missing), e.g.
            ``"MSRVTT_data.json, the MSRVTT_*.csv split files and videos/ (or frames/)"``.
    """

    kind: ClassVar[str] = "dataset"
    hook: ClassVar[str] = "c2vbench_register_datasets"
    label: ClassVar[str] = "dataset"
    role: ClassVar[str | None] = "dataset"

    needs_data_root: bool = True
    data_layout: str = ""


@dataclasses.dataclass(frozen=True)
class CheckpointFormatSpec(ComponentSpec):
    """A checkpoint file format that :func:`c2vbench.load_checkpoint` can read.

    ``factory(path, legacy_mask=False, **options)`` returns a :class:`c2vbench.model.retrieval_model.RetrievalModel`.
    """

    kind: ClassVar[str] = "checkpoint_format"
    hook: ClassVar[str] = "c2vbench_register_checkpoint_formats"
    label: ClassVar[str] = "checkpoint format"


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    spec_type.kind: spec_type
    for spec_type in (BackboneSpec, TemporalSpec, AlignSpec, DatasetSpec, CheckpointFormatSpec)
}
KINDS: tuple[str, ...] = tuple(SPEC_TYPES)
# Derived tables: every hook name (current and deprecated) to its kind, old kind spellings to current ones, and a
# run's roles (the keys of a result's ``plugins``) to the kind each is looked up as.
KIND_FOR_HOOK: dict[str, str] = {
    hook: spec_type.kind
    for spec_type in SPEC_TYPES.values()
    for hook in (spec_type.hook, *spec_type.deprecated_hooks)
}
KIND_ALIASES: dict[str, str] = {
    alias: spec_type.kind for spec_type in SPEC_TYPES.values() for alias in spec_type.deprecated_kinds
}
ROLE_KIND: dict[str, str] = {
    spec_type.role: spec_type.kind for spec_type in SPEC_TYPES.values() if spec_type.role is not None
}
ROLES: tuple[str, ...] = tuple(ROLE_KIND)


def canonical_kind(kind: str) -> str:
    """The current name of a kind given in any accepted spelling (``similarity`` → ``align``)."""
    kind = kind.strip().lower()
    kind = KIND_ALIASES.get(kind, kind)
    if kind not in SPEC_TYPES:
        from c2vbench.platform.errors import C2VBenchError

        raise C2VBenchError(f"unknown plug-in kind '{kind}'", f"kinds are: {', '.join(KINDS)}")
    return kind


def kind_label(kind: str) -> str:
    """How messages name a kind (``temporal module``, ``align head``)."""
    return SPEC_TYPES[canonical_kind(kind)].label


def build_options(spec: ComponentSpec, overrides: dict[str, Any] | None = None) -> Any:
    """Return ``spec.options_type`` filled with its defaults and the given overrides, converted and checked.

    Overrides for fields the options type does not have are refused by name, so a misspelt option never passes
    silently; values outside a field's declared choices or range are refused (see :mod:`c2vbench.platform.options`).
    """
    from c2vbench.platform.options import resolve_options

    return resolve_options(spec.options_type, overrides or {}, spec.label, spec.name)


def options_as_dict(options: Any) -> dict[str, Any]:
    """The options object as a JSON-friendly dict (for the result file)."""
    if dataclasses.is_dataclass(options):
        return dataclasses.asdict(options)
    return {}


def declared_order_sensitivity(spec: Any, options: Any = None) -> bool | None:
    """What ``spec.order_sensitive`` declares for these options (True, False or None: undeclared).

    ``options`` is the resolved options object or a dict of option values (as a result file records them); None
    stands for the defaults. A declaration that is a function is called with the options object.
    """
    declared = getattr(spec, "order_sensitive", None)
    if not callable(declared):
        return declared
    if options is None or isinstance(options, dict):
        options = build_options(spec, options)
    try:
        value = declared(options)
    except Exception as error:  # the plug-in's own function
        from c2vbench.platform.errors import PluginError

        raise PluginError(f"the order_sensitive declaration of {spec.label} '{spec.name}' failed: "
                          f"{type(error).__name__}: {error}",
                          "this is a bug in the plug-in: order_sensitive(options) must return True, False or None",
                          ) from None
    return None if value is None else bool(value)


def declarations(spec: Any) -> dict[str, Any]:
    """What a result file records about a component besides its name and version: a temporal module's
    ``reads_padded_slots`` when it reads any padded slot (empty otherwise)."""
    slots = int(getattr(spec, "reads_padded_slots", 0) or 0)
    return {"reads_padded_slots": slots} if slots else {}
