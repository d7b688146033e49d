"""Yields a dict instead of a TemporalSpec."""

from c2vbench.plugin import hookimpl


@hookimpl
def c2vbench_register_temporal_modules():
    yield {"name": "non-spec", "factory": None}
