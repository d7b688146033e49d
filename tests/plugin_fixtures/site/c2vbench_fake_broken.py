"""Fixture plug-in whose import fails, as a third-party package with a missing dependency would."""

import c2vbench_dependency_that_does_not_exist  # noqa: F401
