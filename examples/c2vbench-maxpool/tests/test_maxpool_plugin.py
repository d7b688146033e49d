"""The first tests of any plug-in: it is installed, discovered and attributed to its distribution; it passes the
conformance kit; it trains and evaluates in a tiny real run. Only ``c2vbench.testing`` is imported."""

from __future__ import annotations

import torch

from c2vbench.testing import assert_plugin_conforms, find_component, listed_components, run_tiny_benchmark


def test_plugin_is_listed_with_its_distribution():
    assert {"kind": "temporal", "name": "maxpool", "distribution": "c2vbench-maxpool", "version": "0.1.0",
            "description": "Element-wise max over real frames (example plug-in)"} in listed_components()


def test_it_passes_the_conformance_kit():
    assert_plugin_conforms("maxpool")  # padded frames, order declaration, gradients, determinism, shapes ...


def test_padded_frames_are_ignored():
    module = find_component("maxpool", "temporal").spec.factory(None, None)
    frames = torch.randn(2, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    noisy = frames.clone()
    noisy[0, 2:] = 100.0
    assert torch.allclose(module(frames, mask).pooled[0], module(noisy, mask).pooled[0])


def test_it_trains_and_evaluates(tmp_path):
    run = run_tiny_benchmark(tmp_path, temporal="maxpool")
    assert run.result["plugins"]["temporal"] == {"name": "maxpool", "distribution": "c2vbench-maxpool",
                                                 "version": "0.1.0"}
    assert run.ranks_are_complete()
