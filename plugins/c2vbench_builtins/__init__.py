"""The built-in c2vbench plug-ins, one folder per kind.

Each public module (no leading ``_``) of ``backbones/``, ``temporal/``, ``align/``, ``datasets/`` and
``checkpoint_formats/`` is registered through the ``c2vbench`` entry-point group of the project's own
``pyproject.toml``, exactly as a third-party package registers its plug-ins; modules with a leading ``_`` (and
``_layers/``) are shared building blocks. The core never imports this package by name, and these modules import
nothing from the core but :mod:`c2vbench.plugin`.
"""
