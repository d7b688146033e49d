"""docs/plugins.md: its reference section is rendered from the hook and spec docstrings and the conformance rules,
and the committed file is current; ``c2vbench plugins --options NAME`` and its rendering in the guide."""

from __future__ import annotations

import json
import re
from pathlib import Path

from _cli_runner import run_cli

from c2vbench.authoring import hook_reference as docs
from c2vbench.model.contracts import RULES
from c2vbench.platform import hookspecs

ROOT = Path(__file__).resolve().parents[1]
PLUGINS_DOC = ROOT / "docs" / "plugins.md"


def test_the_committed_plugin_docs_are_current():
    committed = PLUGINS_DOC.read_text()
    assert docs.updated_document(committed) == committed, "run: python -m c2vbench.authoring.hook_reference"
    assert docs.main([str(PLUGINS_DOC), "--check"]) == 0


def test_the_reference_follows_the_hook_docstrings(monkeypatch):
    monkeypatch.setattr(hookspecs.c2vbench_register_datasets, "__doc__",
                        "Register datasets, reworded.\n\nArguments:\n    none.\n")
    rendered = docs.render_reference()
    assert "Register datasets, reworded." in rendered
    assert docs.updated_document(PLUGINS_DOC.read_text()) != PLUGINS_DOC.read_text()


def test_check_mode_fails_on_a_stale_file_and_the_generator_repairs_it(tmp_path):
    stale = tmp_path / "plugins.md"
    stale.write_text(PLUGINS_DOC.read_text().replace("#### `c2vbench_register_backbones()`", "#### old name"))
    assert docs.main([str(stale), "--check"]) == 1
    assert docs.main([str(stale)]) == 0
    assert stale.read_text() == PLUGINS_DOC.read_text()


def test_the_docs_cover_every_hook_rule_and_convention():
    text = PLUGINS_DOC.read_text()
    for name, value in vars(hookspecs).items():
        if name.startswith("c2vbench_") and callable(value):
            assert f"#### `{name}()`" in text
    for rule in RULES:
        assert f"| `{rule}` |" in text
    for phrase in ("left-aligned", "need not be normalised", "C2VBenchError(problem, fix)", "check-plugin",
                   "new-plugin", "Publishing", "version"):
        assert phrase in text


def test_plugins_options_lists_types_defaults_and_allowed_values(capsys):
    code, out, err = run_cli(["plugins", "--options", "tdb", "--json"], capsys)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["layers"] == {"name": "layers", "type": "int", "default": 4, "allowed": "1 to 24",
                              "help": "temporal transformer blocks"}
    assert rows["difference"]["allowed"] == "one of sigmoid_selfA, sigmoid_mlp, raw"
    assert list(rows) == ["layers", "difference", "legacy_mask", "alignment_stream", "positions"]
    code, out, _ = run_cli(["plugins", "--options", "tdb"], capsys)
    assert code == 0 and "layers" in out and "--temporal-option KEY=VALUE" in out
    code, out, _ = run_cli(["plugins", "--options", "meanp"], capsys)
    assert code == 0 and "none" in out
    code, _, err = run_cli(["plugins", "--options", "tbd"], capsys)
    assert code == 2 and "no plug-in registers a component called 'tbd'" in err


def test_the_guide_shows_the_current_options_of_tdb(capsys):
    block = re.search(r"\$ c2vbench plugins --options tdb\n(.*?)\n\n", PLUGINS_DOC.read_text(), re.S)
    assert block, "docs/plugins.md lacks the output of `c2vbench plugins --options tdb`"
    _, out, _ = run_cli(["plugins", "--options", "tdb", "--json"], capsys)
    for row in json.loads(out):
        line = next((line for line in block.group(1).splitlines() if f" {row['name']} " in line), "")
        assert str(row["default"]) in line and row["allowed"].split(",")[0] in line, row
