"""An options dataclass with a field that has no default: the core cannot build the options."""

import dataclasses

from c2vbench.plugin import TemporalSpec, hookimpl


@dataclasses.dataclass(frozen=True)
class NoDefaultOptions:
    layers: int
    width: int = 8


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(name="no-default", summary="options without defaults", options_type=NoDefaultOptions,
                       factory=lambda options, context: None)
