"""Fails to import, as a plug-in whose dependency is missing does."""

import c2vbench_broken_loading_missing_dependency  # noqa: F401
