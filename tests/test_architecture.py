"""The core's shape, as CI keeps it: no import cycles, and only the pipeline reads the whole run configuration.

The layers themselves (the CLI on top, the plug-in platform at the bottom) are import-linter contracts in
``pyproject.toml``, checked by ``lint-imports`` in the lint step of ``.ci/run``. This file adds what a layers
contract cannot see: cycles between modules of one layer.
"""

from __future__ import annotations

import grimp


def _graph():
    return grimp.build_graph("c2vbench", "c2vbench_builtins", exclude_type_checking_imports=True)


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    class Graph:  # a → b → c → a, and d alone
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, module):
            return self.edges[module]

    assert _cycles(Graph()) == [["a", "b", "c"]]


def test_no_module_of_the_core_or_the_built_in_plugins_is_part_of_an_import_cycle():
    assert _cycles(_graph()) == []


def test_below_the_pipeline_no_module_imports_the_run_configuration():
    graph = _graph()
    stages = ("probes", "results", "training", "evaluation", "model", "data", "runtime", "platform")
    importers = sorted(module for module in graph.find_modules_that_directly_import("c2vbench.config")
                       if module.split(".")[1] in stages)
    assert importers == []
