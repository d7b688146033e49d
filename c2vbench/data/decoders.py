"""Which video decoders this installation has, and turning the decoder a user asks for into one that can run.

decord publishes wheels for x86-64 Linux and 64-bit Windows only (``pyproject.toml`` requires it there and nowhere
else); PyAV has wheels everywhere and is always installed. The choices:

* ``auto`` (the default): decord where it is installed (it seeks straight to the sampled frames), else PyAV;
* ``decord`` / ``pyav``: that library, or one error line saying how to install it;
* ``frames``: no video library at all, the frame folders ``c2vbench prepare`` extracted (read with PIL).

Kept free of heavy imports: the CLI validates ``--decoder`` before anything is loaded.
"""

from __future__ import annotations

import functools
import importlib

from c2vbench.platform.errors import C2VBenchError

DECODER_CHOICES = ("auto", "decord", "pyav", "frames")
VIDEO_DECODERS = ("decord", "pyav")
# The module each decoder imports (PyAV's is ``av``; frame folders are read with PIL).
DECODER_MODULES = {"decord": "decord", "pyav": "av", "frames": "PIL"}
INSTALL_HINTS = {
    "decord": "pip install decord (wheels exist for x86-64 Linux and 64-bit Windows only), "
              "or use --decoder pyav (or auto)",
    "pyav": "pip install av",
    "frames": "pip install pillow",
}


def import_decord():
    """``import decord``, after PyAV.

    decord's wheel carries its own FFmpeg libraries; loaded before PyAV's, they leave PyAV unable to open some
    codecs (``avcodec_open2("libvpx")`` fails with EINVAL, so WebM files can no longer be written). Every import of
    decord in c2vbench goes through here.
    """
    import av  # noqa: F401  (loads PyAV's FFmpeg first)
    import decord

    return decord


@functools.cache
def decoder_available(decoder: str) -> bool:
    """True when the library behind ``decoder`` imports (a broken install counts as absent)."""
    try:
        if decoder == "decord":
            import_decord()
        else:
            importlib.import_module(DECODER_MODULES[decoder])
    except Exception:  # ImportError, or a shared library that fails to load
        return False
    return True


def check_decoder_choice(decoder: str) -> str:
    """``decoder`` lower-cased when it is one of :data:`DECODER_CHOICES`; otherwise one error line listing them."""
    name = str(decoder).strip().lower()
    if name not in DECODER_CHOICES:
        raise C2VBenchError(f"unknown decoder '{decoder}'", f"use one of {', '.join(DECODER_CHOICES)}")
    return name


def require_decoder(decoder: str) -> str:
    """``decoder`` itself when its library is installed; otherwise one error line saying how to install it."""
    if not decoder_available(decoder):
        raise C2VBenchError(f"the {decoder} decoder is not installed", INSTALL_HINTS[decoder])
    return decoder


def resolve_video_decoder(decoder: str) -> str:
    """The video library to decode files with: ``auto`` becomes decord where installed, else PyAV.

    An explicit ``decord`` or ``pyav`` must be installed (see :func:`require_decoder`); ``frames`` is refused (it
    reads no video file).
    """
    name = check_decoder_choice(decoder)
    if name == "frames":
        raise C2VBenchError("the 'frames' decoder reads extracted frame folders, not video files",
                            "use --decoder auto, decord or pyav to decode video files")
    if name == "auto":
        return "decord" if decoder_available("decord") else require_decoder("pyav")
    return require_decoder(name)


@functools.cache
def decoder_versions() -> dict[str, str]:
    """Versions of the decoding libraries (for the protocol card); ``unavailable`` for one that is not installed."""
    versions: dict[str, str] = {}
    for module_name in ("decord", "av", "PIL"):
        try:
            module = import_decord() if module_name == "decord" else importlib.import_module(module_name)
            versions[module_name] = str(getattr(module, "__version__", "unknown"))
        except Exception:  # an absent decoder is reported, not fatal here
            versions[module_name] = "unavailable"
    return versions


def decoder_version(decoder: str) -> str:
    """Version of the library behind ``decoder`` (``unavailable`` when it does not import)."""
    return decoder_versions()[DECODER_MODULES[decoder]]
