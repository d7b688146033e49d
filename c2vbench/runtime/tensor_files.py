"""Reading weights files as tensors only: nothing in a file c2vbench reads can make it run code.

A weights file is read one of two ways: a ``.safetensors`` file (a header and raw bytes), or a ``torch.save`` file
through ``torch.load(weights_only=True)`` (an unpickler that builds tensors and plain containers, nothing else).
Before either, :func:`refuse_code_archive` looks at the file's zip directory *without loading anything in it*: a
TorchScript archive (``code/``, ``constants.pkl``, a mobile ``bytecode.pkl`` or the old ``model.json`` layout) holds
program code that ``torch.jit.load`` would run (its ``__setstate__`` methods run at load time and can write files),
so it is refused in one line that says how to turn it into a file of tensors where the file is trusted.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from c2vbench.platform.errors import C2VBenchError

# Members of a zip archive that only TorchScript (or its mobile form) writes: torch.save archives hold data.pkl,
# data/N, byteorder, version and .data/ alone.
CODE_MEMBERS = ("code", "constants.pkl", "bytecode.pkl", "model.json", "extra")
ZIP_MAGIC = b"PK\x03\x04"


class CodeArchiveError(C2VBenchError):
    """A weights file that holds code (a TorchScript archive): refused before anything in it is loaded."""


def code_members(path: Path, what: str = "file") -> list[str]:
    """The members of the zip archive ``path`` that hold code (empty for a plain ``torch.save`` archive).

    A file that starts like a zip archive but whose directory cannot be read is refused (torch's own reader might
    still find something in it, so it is not loaded at all)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise C2VBenchError(f"cannot read {what} {path}: its zip archive is incomplete (truncated or damaged)",
                            "download or write the file again") from None
    found = []
    for name in names:
        parts = [part for part in name.split("/") if part]
        # torch archives put everything under one top folder: <archive>/code/..., <archive>/constants.pkl
        inner = parts[1:] if len(parts) > 1 else parts
        if inner and inner[0] in CODE_MEMBERS:
            found.append(name)
    return found


def refuse_code_archive(path: str | Path, what: str = "weights file") -> None:
    """Raise :class:`CodeArchiveError` if ``path`` is an archive that holds code; read nothing else from it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise C2VBenchError(f"cannot read {what} {path}: {error.strerror or error}", "check the path") from None
    if head != ZIP_MAGIC and not zipfile.is_zipfile(path):
        return
    members = code_members(path, what)
    if members:
        kinds = sorted({member.split("/")[1] if member.count("/") >= 1 else member for member in members})
        raise CodeArchiveError(
            f"{what} {path} is a TorchScript archive (it holds code: {', '.join(kinds)}); c2vbench reads "
            "tensors only and never runs code from a file",
            "where you trust the file, save its tensors once with torch.save(torch.jit.load(FILE).state_dict(), "
            "OUT) (or as .safetensors) and pass OUT")


def refuse_code_in_checkpoint(path: str | Path) -> None:
    """:func:`refuse_code_archive` on a checkpoint file, or on every file of a checkpoint folder."""
    path = Path(path)
    files = sorted(child for child in path.iterdir() if child.is_file()) if path.is_dir() else [path]
    for file in files:
        refuse_code_archive(file, "checkpoint file")


def read_tensor_file(path: str | Path, what: str = "weights file") -> Any:
    """The content of a ``.safetensors`` file or a ``torch.save`` file of tensors and plain containers.

    A TorchScript archive is refused before anything in it is loaded (:func:`refuse_code_archive`); a pickle that
    names anything but tensors and containers is refused by ``torch.load(weights_only=True)``. Errors are one line.
    """
    import pickle
    import warnings

    import torch

    path = Path(path)
    refuse_code_archive(path, what)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as error:  # safetensors raises its own SafetensorError on damaged files
            raise C2VBenchError(f"cannot read {what} {path}: {first_line(error)}",
                                "the file is truncated or damaged; give a valid .safetensors file") from None
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before failing on a foreign file
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError,
            TypeError) as error:
        raise C2VBenchError(f"cannot read {what} {path} as tensors: {describe_load_error(error)}",
                            "give a .safetensors file or a state dict saved with torch.save") from None


def describe_load_error(error: Exception) -> str:
    """torch.load's failure in a few words, without its advice to load untrusted files with weights_only=False."""
    text = str(error)
    if "Weights only load failed" in text:
        detail = text.partition("WeightsUnpickler error:")[2].partition("Check the documentation")[0]
        detail = " ".join(detail.split()) or "unsupported content"
        return f"it is not a plain file of tensors ({detail[:120]}; c2vbench never runs code from a file)"
    if "TorchScript" in text:
        return "it is a TorchScript archive (code); c2vbench never runs code from a file"
    if "central directory" in text or "PytorchStreamReader" in text:
        return "its zip archive is incomplete (truncated or damaged)"
    return first_line(error)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (" ".join(text.splitlines()[0].split()) if text else type(error).__name__)[:160]
