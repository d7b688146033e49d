"""A griffe extension for the Python API pages of the documentation site (``mkdocs.yml`` names it).

mkdocstrings reads the sources without importing them, which misses two things this project does:

* ``c2vbench.plugin`` resolves its heavier names on first use (``_LAZY``: name -> defining module), so that a
  plug-in's import stays fast; the extension adds each of them as an alias of its definition, and takes the module's
  public names from its real ``__all__``;
* the docstrings name other objects with reST roles (``:class:`TemporalSpec```) and introduce code with ``::``; the
  extension turns roles into code spans and ``::`` blocks into fenced code, as the hook reference of
  ``docs/plugins.md`` does.

Only mkdocstrings imports this module; it needs the ``docs`` extra.
"""

from __future__ import annotations

import textwrap
from typing import Any

import griffe

from c2vbench.authoring.hook_reference import roles_to_code


def literal_blocks_fenced(text: str) -> str:
    """A paragraph ending in ``::`` followed by an indented block: the paragraph ends in ``:``, the block is fenced."""
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.rstrip().endswith("::"):
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        block: list[str] = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith(indent + " ")):
            block.append(lines[index])
            index += 1
        lead = line.rstrip()[:-2].rstrip()
        if lead.strip():
            out.append(lead + ":")
        code = textwrap.dedent("\n".join(block)).strip("\n").splitlines()
        out += ["", indent + "```python", *(indent + row for row in code), indent + "```", ""]
    return "\n".join(out)


class PublicApi(griffe.Extension):
    """Lazy names of ``c2vbench.plugin`` as aliases; reST roles and literal blocks as markdown."""

    def on_module_members(self, *, mod: griffe.Module, **_: Any) -> None:
        if mod.path != "c2vbench.plugin":
            return
        import c2vbench.plugin as plugin

        for name, module in plugin._LAZY.items():
            if name not in mod.members:
                mod.set_member(name, griffe.Alias(name, f"{module}.{name}", parent=mod))
        mod.exports = list(plugin.__all__)

    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = literal_blocks_fenced(roles_to_code(obj.docstring.value))
