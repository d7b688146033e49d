"""Reading a local weights file into a plain state dict (shared by the ``clip`` and ``timm`` backbones).

Accepted: ``.safetensors`` files, state dicts saved with ``torch.save`` (read with ``weights_only=True``, so a file
cannot run code; a ``{"state_dict": ...}`` wrapper is unwrapped), and OpenAI's TorchScript ``.pt`` archives. A
``module.`` prefix left by DataParallel is removed.
"""

from __future__ import annotations

from pathlib import Path

from c2vbench.plugin import C2VBenchError


def read_weights_file(path: Path) -> dict:
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except Exception as error:
            raise C2VBenchError(f"cannot read weights file {path}: {error}", "give a valid .safetensors file") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            try:  # OpenAI's released .pt files are TorchScript archives
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
            except Exception as error:
                raise C2VBenchError(f"cannot read weights file {path}: {error}",
                                    "give a state dict saved with torch.save, a .safetensors file, or an OpenAI "
                                    "CLIP .pt file") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise C2VBenchError(f"weights file {path} holds a {type(state).__name__}, not a state dict",
                            "save the model's state_dict()")
    return {key.removeprefix("module."): value for key, value in state.items()}
