"""Generated parts of ``docs/plugins.md``: the hook reference (from the hook docstrings), the spec types (from their
docstrings) and the conformance rules (from :mod:`c2vbench.model.contracts` and :mod:`c2vbench.testing`).

    python -m c2vbench.authoring.hook_reference            # rewrite the generated section of docs/plugins.md in place
    python -m c2vbench.authoring.hook_reference --check    # exit 1 when the committed file is not current

Only the text between the two markers is generated; the rest of the file is written by hand and kept as it is.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from c2vbench.authoring.generated_section import END_MARKER, GeneratedSection

BEGIN = ("<!-- BEGIN GENERATED: python -m c2vbench.authoring.hook_reference renders this section from the docstrings; "
         "do not edit -->")
END = END_MARKER
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
SECTION_NAMES = ("Arguments:", "Yields:", "Attributes:")


def roles_to_code(text: str) -> str:
    """reST roles as code spans: ``:class:`~a.B``` becomes ```a.B```."""
    return re.sub(r":(?:class|func|data|meth|mod|attr|exc|obj):`~?([^`]+)`", r"`\1`", text)


def _markdown(docstring: str) -> str:
    """A Google-style docstring as markdown: roles to code, sections in bold, ``Example::`` blocks fenced."""
    text = roles_to_code(docstring)
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    section = ""
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if stripped.endswith("::"):
            lead = stripped[:-2].rstrip()
            if lead:
                out.append(f"**{lead}**" if lead == "Example" else lead + ":")
            out.append("")
            out.append("```python")
            index += 1
            block: list[str] = []
            while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
                block.append(lines[index])
                index += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            indent = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
            out.extend(b[indent:] for b in block)
            out.append("```")
            out.append("")
            continue
        if stripped in SECTION_NAMES:
            out.append(f"**{stripped[:-1]}**")
            out.append("")
            section = stripped
        elif section == "Attributes:" and re.match(r"^    \w[\w, ]*: ", line):
            entry, _, rest = line.strip().partition(": ")
            out.append(f"- `{entry}`: {rest}")
        elif section == "Attributes:" and line.startswith("        "):
            out.append("  " + stripped)
        else:
            out.append(line.strip() if not line.startswith("    ") else line[4:] if stripped.startswith(
                ("*", "-")) else line.strip())
        index += 1
    return "\n".join(out).strip()


def render_hooks() -> str:
    from c2vbench.platform import hookspecs

    parts = ["### Hooks", ""]
    for name, function in vars(hookspecs).items():
        if not (name.startswith("c2vbench_") and callable(function)):
            continue
        parts += [f"#### `{name}()`", "", _markdown(inspect.getdoc(function) or ""), ""]
    return "\n".join(parts)


def render_spec_types() -> str:
    from c2vbench.platform.specs import SPEC_TYPES, ComponentSpec

    parts = ["### Spec types", "",
             "Every hook yields spec objects (frozen dataclasses), all from `c2vbench.plugin`.", ""]
    for spec_type in (ComponentSpec, *SPEC_TYPES.values()):
        heading = f"#### `{spec_type.__name__}`"
        if spec_type is not ComponentSpec:
            heading += f" — kind `{spec_type.kind}`, hook `{spec_type.hook}`"
            if spec_type.role:
                heading += f", result role `{spec_type.role}`"
        parts += [heading, "", _markdown(inspect.getdoc(spec_type) or ""), ""]
    return "\n".join(parts)


def render_rules() -> str:
    from c2vbench.model.contracts import RULES
    from c2vbench.testing import KIND_RULES

    kinds = [kind for kind in KIND_RULES if kind != "checkpoint_format"]
    parts = ["### Conformance rules", "",
             "Checked by `c2vbench check-plugin NAME` and `c2vbench.testing.assert_plugin_conforms` (✓: checked for "
             "that kind); the type, shape, width and finiteness rules are also checked on every output during a "
             "run.", "",
             "| rule | what it requires | " + " | ".join(kinds) + " |",
             "|---|---|" + "---|" * len(kinds)]
    for rule, meaning in RULES.items():
        marks = ["✓" if rule in KIND_RULES[kind] or (rule in {"dtype", "output-shape", "output-width"}
                                                    and "output-type" in KIND_RULES[kind]) else ""
                 for kind in kinds]
        parts.append(f"| `{rule}` | {meaning} | " + " | ".join(marks) + " |")
    return "\n".join(parts) + "\n"


def _render_body() -> str:
    return "\n".join([render_hooks(), render_spec_types(), render_rules()])


SECTION = GeneratedSection(begin=BEGIN, render_body=_render_body, command="python -m c2vbench.authoring.hook_reference",
                           default_path=DEFAULT_PATH)


def render_reference() -> str:
    """The whole generated section, markers included."""
    return SECTION.render()


def updated_document(text: str) -> str:
    """``text`` with its generated section replaced by a fresh rendering (appended when it has none)."""
    return SECTION.updated(text)


def main(argv: list[str] | None = None) -> int:
    """``[PATH] [--check]``: rewrite docs/plugins.md's generated section, or exit 1 when it is not current."""
    return SECTION.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
