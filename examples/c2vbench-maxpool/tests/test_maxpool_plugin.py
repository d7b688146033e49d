"""The first test of any plug-in: it is installed, discovered, and attributed to its distribution."""

from __future__ import annotations

import json

import torch


def test_plugin_shows_up_in_the_registry_with_its_distribution():
    from c2vbench.platform.registry import load_registry

    component = load_registry().get("temporal", "maxpool")
    assert component.provider.distribution == "c2vbench-maxpool"
    assert component.provider.version == "0.1.0"


def test_plugins_command_lists_it(capsys):
    from c2vbench.cli.main import main

    try:
        main(["plugins", "--json"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    rows = json.loads(capsys.readouterr().out)
    assert {"kind": "temporal", "name": "maxpool", "distribution": "c2vbench-maxpool", "version": "0.1.0",
            "description": "Element-wise max over real frames (example plug-in)"} in rows


def test_it_passes_the_conformance_kit():
    from c2vbench.testing import assert_plugin_conforms

    assert_plugin_conforms("maxpool")  # padded frames, order declaration, gradients, determinism, shapes ...


def test_padded_frames_are_ignored():
    from c2vbench.platform.registry import load_registry

    module = load_registry().get("temporal", "maxpool").spec.factory(None, None)
    frames = torch.randn(2, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    noisy = frames.clone()
    noisy[0, 2:] = 100.0
    assert torch.allclose(module(frames, mask).pooled[0], module(noisy, mask).pooled[0])
