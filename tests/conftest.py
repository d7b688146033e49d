"""Test isolation: private dataset and embedding caches, built-in plug-ins only, a fresh registry per test."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    # The PyAV-only CI step (.ci/run, tox -e nodecord) sets this: it must really run where neither decord nor
    # TorchCodec can be imported.
    if os.environ.get("C2VBENCH_TEST_WITHOUT_DECORD") == "1":
        import importlib.util

        for module in ("decord", "torchcodec"):
            if importlib.util.find_spec(module) is not None:
                raise pytest.UsageError(f"C2VBENCH_TEST_WITHOUT_DECORD=1 but {module} is importable: "
                                        "uninstall it first")


@pytest.fixture(scope="session")
def c2vbench_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("c2vbench-cache")


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, c2vbench_cache, tmp_path_factory):
    from c2vbench.platform.registry import get_registry

    monkeypatch.setenv("C2VBENCH_CACHE", str(c2vbench_cache))
    # the embedding cache is private to each test (the dataset cache is shared: it is only ever read the same way)
    monkeypatch.setenv("C2VBENCH_EMBEDDING_CACHE", str(tmp_path_factory.mktemp("embeddings")))
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()
