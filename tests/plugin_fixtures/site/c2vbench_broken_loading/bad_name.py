"""Yields a spec whose name is not a valid component name."""

from c2vbench.plugin import TemporalSpec, hookimpl


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(name="Bad Name", summary="an invalid name", factory=lambda options, context: None)
