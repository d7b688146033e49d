"""The built-in c2vbench plug-ins.

Each module here is registered through the ``c2vbench`` entry-point group of the project's own ``pyproject.toml``,
exactly as a third-party package registers its plug-ins; the core never imports this package by name.
"""
