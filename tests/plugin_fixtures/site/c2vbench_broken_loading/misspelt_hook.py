"""Implements ``c2vbench_register_temporal_module`` (the hook is ``..._modules``)."""

from c2vbench.plugin import TemporalSpec, hookimpl


@hookimpl
def c2vbench_register_temporal_module():
    yield TemporalSpec(name="misspelt-hook", summary="never registered", factory=lambda options, context: None)
