"""Fixture plug-in whose registration hook calls sys.exit()."""

import sys

from c2vbench.plugin import hookimpl


@hookimpl
def c2vbench_register_temporal_modules():
    sys.exit(3)
