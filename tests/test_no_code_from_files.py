"""No code from any file c2vbench reads: a TorchScript archive is refused through every weights option.

The archive built here is really malicious: its ``__setstate__`` (TorchScript, run by ``torch.jit.load``) writes a
file. The first test shows that it does; the others give it to every option that reads weights and check that the
file is never written and that the refusal is one line.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from _cli_runner import run_cli
from _small_runs import TINY_DATASET

TINY_TIMM = ["model=vit_tiny_patch16_224", "model_kwargs=img_size=32,patch_size=8,embed_dim=48,depth=1,num_heads=2",
             "text_kwargs=width=32,layers=1,heads=2,context_length=16", "embed_dim=24"]


def malicious_archive(path: Path, marker: Path) -> Path:
    """A TorchScript archive whose ``__setstate__`` writes ``marker`` when the archive is loaded."""
    from typing import Tuple  # noqa: UP035 - TorchScript's type annotations

    class Planted(torch.nn.Module):
        def __init__(self, target: str):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(2))
            self.target = target

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.weight

        @torch.jit.export
        def __getstate__(self) -> Tuple[torch.Tensor, str, bool]:  # noqa: UP006
            return (self.weight, self.target, self.training)

        @torch.jit.export
        def __setstate__(self, state: Tuple[torch.Tensor, str, bool]) -> None:  # noqa: UP006
            self.weight = state[0]
            self.target = state[1]
            self.training = state[2]
            torch.save(self.weight, state[1])  # runs inside torch.jit.load: writes a file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(Planted(str(marker))).save(str(path))
    return path


@pytest.fixture
def archive(tmp_path):
    marker = tmp_path / "planted-by-the-archive"
    return malicious_archive(tmp_path / "weights.pt", marker), marker


def test_the_crafted_archive_really_runs_code_when_torchscript_loads_it(archive):
    path, marker = archive
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path))
    assert marker.is_file()  # the control: what every option below must never let happen


def refused_in_one_line(code: int, err: str, marker: Path) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "TorchScript archive" in lines[0] and "never runs code" in lines[0], lines[0]
    assert not marker.exists()
    return lines[0]


def test_pretrained_of_the_clip_backbone(archive, tmp_path, capsys):
    path, marker = archive
    code, _, err = run_cli(["run", "--backbone", "clip", "--pretrained", str(path), "--protocol", "zeroshot",
                            "--out", str(tmp_path / "out"), "--dataset-option", "test_twin_pairs=1"], capsys)
    refused_in_one_line(code, err, marker)


@pytest.mark.parametrize("option", ["image_weights", "text_weights"])
def test_image_and_text_weights_of_the_timm_backbone(archive, tmp_path, capsys, option):
    path, marker = archive
    args = ["run", "--backbone", "timm", "--protocol", "zeroshot", "--out", str(tmp_path / "out")]
    for value in [*TINY_TIMM, f"{option}={path}"]:
        args += ["--backbone-option", value]
    line = refused_in_one_line(*run_cli(args, capsys)[::2], marker)
    assert option in line


@pytest.mark.parametrize(("backbone", "option"), [("clip", "pretrained"), ("timm", "image_weights"),
                                                 ("timm", "text_weights")])
def test_the_backbone_plug_ins_refuse_it_themselves(archive, backbone, option):
    """Past the command line's check (the Python API, another caller): the plug-in's own reader refuses it."""
    from c2vbench.platform.registry import load_registry
    from c2vbench.platform.specs import build_options
    from c2vbench.runtime.tensor_files import CodeArchiveError

    path, marker = archive
    spec = load_registry().get("backbone", backbone).spec
    overrides = dict(value.split("=", 1) for value in TINY_TIMM) if backbone == "timm" else {}
    with pytest.raises(CodeArchiveError, match="TorchScript archive"):
        spec.factory(build_options(spec, {**overrides, option: str(path)}))
    assert not marker.exists()


def test_eval_of_an_official_checkpoint_file(archive, tmp_path, capsys):
    path, marker = archive
    official = path.rename(tmp_path / "pytorch_model.bin.2")
    code, _, err = run_cli(["eval", "--checkpoint", str(official), "--out", str(tmp_path / "out")], capsys)
    refused_in_one_line(code, err, marker)


def test_eval_of_a_native_checkpoint_folder(archive, tmp_path, capsys):
    path, marker = archive
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    path.rename(folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({"format": "c2vbench", "components": {
        "backbone": "tiny-clip", "temporal": "meanp", "align": "cosine"}, "options": {}}))
    code, _, err = run_cli(["eval", "--checkpoint", str(folder), "--out", str(tmp_path / "out")], capsys)
    refused_in_one_line(code, err, marker)


@pytest.mark.parametrize("checkpoint_format", ["clip2video", "c2vbench"])
def test_the_python_api(archive, tmp_path, checkpoint_format):
    import c2vbench
    from c2vbench.runtime.tensor_files import CodeArchiveError

    path, marker = archive
    if checkpoint_format == "c2vbench":
        folder = tmp_path / "native"
        folder.mkdir()
        path = path.rename(folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps({"format": "c2vbench", "components": {
            "backbone": "tiny-clip", "temporal": "meanp", "align": "cosine"}, "options": {}}))
        path = folder
    with pytest.raises(CodeArchiveError, match="TorchScript archive"):
        c2vbench.load_checkpoint(path, format=checkpoint_format)
    assert not marker.exists()


def test_a_planted_training_state_is_refused_when_a_run_resumes(archive, tmp_path, capsys):
    from c2vbench.config import RunConfig
    from c2vbench.pipeline import training_state_dir

    path, marker = archive
    out = tmp_path / "out"
    args = ["run", "--epochs", "2", "--batch-size", "4", "--out", str(out), "--no-checkpoint", "--quiet",
            "--backbone-option", "vision_layers=1", "--backbone-option", "text_layers=1"]
    for value in TINY_DATASET:
        args += ["--dataset-option", value]
    config = RunConfig(epochs=2, batch_size=4, out=str(out),
                       backbone_options={"vision_layers": "1", "text_layers": "1"},
                       dataset_options=dict(value.split("=") for value in TINY_DATASET))
    state_dir = training_state_dir(config)
    state_dir.mkdir(parents=True)
    path.rename(state_dir / "training_state.pt")
    code, _, err = run_cli(args, capsys)
    refused_in_one_line(code, err, marker)


def test_a_plain_state_dict_and_a_safetensors_file_still_read(tmp_path):
    from safetensors.torch import save_file

    from c2vbench.runtime.tensor_files import read_tensor_file

    tensors = {"a": torch.arange(4.0), "b": torch.ones(2, 2)}
    torch.save(tensors, tmp_path / "plain.pt")
    save_file(tensors, str(tmp_path / "plain.safetensors"))
    for name in ("plain.pt", "plain.safetensors"):
        read = read_tensor_file(tmp_path / name)
        assert all(torch.equal(read[key], tensors[key]) for key in tensors)
