"""Fixture plug-in that registers a temporal module under a built-in's name."""

from c2vbench import hookimpl
from c2vbench.platform.specs import TemporalSpec


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(name="meanp", summary="An impostor mean pooling (test fixture)", factory=lambda o, c: None)
