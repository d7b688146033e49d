"""Spec objects: what the four registration hooks yield.

A spec describes one component and how to build it, without building it: ``factory`` is called only when the
component is selected, so listing plug-ins never imports torch. Specs are frozen so that nothing can rename or
mutate a component after its provider registered it.

The factory signatures (each receives the resolved ``options`` object, an instance of ``options_type``):

* :class:`BackboneSpec`: ``factory(options) -> backbone`` (see :class:`c2vbench.interfaces.Backbone`)
* :class:`TemporalSpec`: ``factory(options, context) -> temporal module``
  (see :class:`c2vbench.interfaces.TemporalModule`; ``context`` is a :class:`c2vbench.interfaces.BuildContext`)
* :class:`SimilaritySpec`: ``factory(options, context) -> similarity`` (see :class:`c2vbench.interfaces.Similarity`)
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

    Attributes:
        name: lower-case identifier used on the command line (``--temporal tdb``).
        summary: one line shown by ``c2vbench plugins``.
        factory: builds the component; see the module docstring for its signature per kind.
        options_type: a dataclass whose fields (all with defaults) are the component's options.
        paper: citation of the method, if any.
        url: where to read more.
    """

    kind: ClassVar[str] = "component"

    name: str
    summary: str
    factory: Callable[..., Any]
    options_type: type = NoOptions
    paper: str = ""
    url: str = ""

    def default_options(self) -> Any:
        return self.options_type()


@dataclasses.dataclass(frozen=True)
class BackboneSpec(ComponentSpec):
    """An image and text encoder pair; see :class:`c2vbench.interfaces.Backbone`."""

    kind: ClassVar[str] = "backbone"


@dataclasses.dataclass(frozen=True)
class TemporalSpec(ComponentSpec):
    """Frame embeddings and a frame mask to a video embedding; see :class:`c2vbench.interfaces.TemporalModule`."""

    kind: ClassVar[str] = "temporal"


@dataclasses.dataclass(frozen=True)
class SimilaritySpec(ComponentSpec):
    """Text and video features to retrieval logits and a loss; see :class:`c2vbench.interfaces.Similarity`."""

    kind: ClassVar[str] = "similarity"


@dataclasses.dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """Videos, captions, splits and a frame-sampling protocol; see :class:`c2vbench.data.types.RetrievalDataset`.

    Attributes:
        needs_data_root: True when the dataset reads files the user downloaded (``--data-root``); False when it is
            generated or shipped.
    """

    kind: ClassVar[str] = "dataset"

    needs_data_root: bool = True


@dataclasses.dataclass(frozen=True)
class CheckpointFormatSpec(ComponentSpec):
    """A checkpoint file format that :func:`c2vbench.load_checkpoint` can read.

    ``factory(path, legacy_mask=False, **options)`` returns a :class:`c2vbench.model.RetrievalModel`.
    """

    kind: ClassVar[str] = "checkpoint_format"


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    spec_type.kind: spec_type
    for spec_type in (BackboneSpec, TemporalSpec, SimilaritySpec, DatasetSpec, CheckpointFormatSpec)
}
KINDS: tuple[str, ...] = tuple(SPEC_TYPES)


def build_options(spec: ComponentSpec, overrides: dict[str, Any] | None = None) -> Any:
    """Return ``spec.options_type`` filled with its defaults and the given overrides.

    Overrides for fields the options type does not have are refused by name, so a misspelt option never passes
    silently. Values are converted to the field's default type when that is a plain scalar type.
    """
    from .errors import C2VBenchError

    overrides = dict(overrides or {})
    if not dataclasses.is_dataclass(spec.options_type):
        if overrides:
            raise C2VBenchError(f"{spec.kind} '{spec.name}' takes no options (got {sorted(overrides)})")
        return spec.options_type()
    fields = {field.name: field for field in dataclasses.fields(spec.options_type)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise C2VBenchError(
            f"{spec.kind} '{spec.name}' has no option {', '.join(unknown)}",
            f"its options are: {', '.join(sorted(fields)) or '(none)'}",
        )
    defaults = spec.options_type()
    converted = {}
    for key, value in overrides.items():
        default = getattr(defaults, key)
        if isinstance(value, str) and isinstance(default, (bool, int, float)):
            converted[key] = _parse_scalar(value, type(default), spec, key)
        else:
            converted[key] = value
    return dataclasses.replace(defaults, **converted)


def _parse_scalar(text: str, target: type, spec: ComponentSpec, key: str) -> Any:
    from .errors import C2VBenchError

    try:
        if target is bool:
            lowered = text.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        return target(text)
    except ValueError:
        raise C2VBenchError(
            f"option {key}={text!r} of {spec.kind} '{spec.name}' is not a valid {target.__name__}",
            f"give a {target.__name__} value",
        ) from None


def options_as_dict(options: Any) -> dict[str, Any]:
    """The options object as a JSON-friendly dict (for the result file)."""
    if dataclasses.is_dataclass(options):
        return dataclasses.asdict(options)
    return {}
