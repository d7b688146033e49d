"""Reading a local weights file into a plain state dict (shared by the ``clip`` and ``timm`` backbones).

Accepted: ``.safetensors`` files and state dicts saved with ``torch.save`` (read as tensors only, see
``c2vbench.plugin.read_tensor_file``: a TorchScript archive such as OpenAI's released ``.pt`` files holds code and is
refused before anything in it is loaded; a ``{"state_dict": ...}`` wrapper is unwrapped). A ``module.`` prefix left
by DataParallel is removed.
"""

from __future__ import annotations

from pathlib import Path

from c2vbench.plugin import C2VBenchError


def read_weights_file(path: Path) -> dict:
    from c2vbench.plugin import read_tensor_file

    path = Path(path)
    state = read_tensor_file(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise C2VBenchError(f"weights file {path} holds a {type(state).__name__}, not a state dict",
                            "save the model's state_dict()")
    return {key.removeprefix("module."): value for key, value in state.items()}
