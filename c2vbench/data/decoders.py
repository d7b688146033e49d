"""Which video decoders this installation has, and turning the decoder a user asks for into one that can run.

decord publishes wheels for x86-64 Linux and 64-bit Windows only (``pyproject.toml`` requires it there and nowhere
else); PyAV has wheels everywhere and is always installed; TorchCodec, PyTorch's own decoder, is an optional extra
(``pip install 'c2vbench[torchcodec]'``) that loads the FFmpeg shared libraries of the system (``apt-get install
ffmpeg``, ``brew install ffmpeg``, ``conda install ffmpeg``). The choices:

* ``auto`` (the default): TorchCodec where it is installed and its FFmpeg libraries load, else decord where it is
  installed (both seek straight to the sampled frames), else PyAV. The protocol card names the decoder that ran, so
  installing the extra moves later ``auto`` runs to a protocol of their own (results decoded by decord keep theirs):
  pass ``--decoder decord`` to stay on an existing board's protocol;
* ``decord`` / ``pyav`` / ``torchcodec``: that library, or one error line saying how to install it;
* ``frames``: no video library at all, the frame folders ``c2vbench prepare`` extracted (read with PIL).

Kept free of heavy imports: the CLI validates ``--decoder`` before anything is loaded.
"""

from __future__ import annotations

import functools
import importlib

from c2vbench.platform.errors import C2VBenchError

DECODER_CHOICES = ("auto", "decord", "pyav", "torchcodec", "frames")
VIDEO_DECODERS = ("decord", "pyav", "torchcodec")
# The order in which ``auto`` takes the video decoders this installation has (PyAV is always installed).
AUTO_PREFERENCE = ("torchcodec", "decord", "pyav")
# The module each decoder imports (PyAV's is ``av``; frame folders are read with PIL).
DECODER_MODULES = {"decord": "decord", "pyav": "av", "torchcodec": "torchcodec", "frames": "PIL"}
INSTALL_HINTS = {
    "decord": "pip install decord (wheels exist for x86-64 Linux and 64-bit Windows only), "
              "or use --decoder pyav (or auto)",
    "pyav": "pip install av",
    "torchcodec": "pip install 'c2vbench[torchcodec]' and FFmpeg's shared libraries (e.g. apt-get install ffmpeg), "
                  "or use --decoder auto",
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


def import_torchcodec():
    """``import torchcodec``: it loads its core against the system's FFmpeg libraries, and raises when none fit."""
    import torchcodec
    import torchcodec.decoders  # noqa: F401  (the video decoder, whose core needs FFmpeg)

    return torchcodec


@functools.cache
def decoder_available(decoder: str) -> bool:
    """True when the library behind ``decoder`` imports (a broken install, or TorchCodec without FFmpeg's shared
    libraries, counts as absent)."""
    try:
        if decoder == "decord":
            import_decord()
        elif decoder == "torchcodec":
            import_torchcodec()
        else:
            importlib.import_module(DECODER_MODULES[decoder])
    except Exception:  # ImportError, or a shared library that fails to load
        return False
    return True


def auto_decoder() -> str:
    """What ``auto`` means on this installation: the first of :data:`AUTO_PREFERENCE` that is available."""
    return next(name for name in AUTO_PREFERENCE if name == "pyav" or decoder_available(name))


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
    """The video library to decode files with: ``auto`` becomes :func:`auto_decoder`.

    An explicit ``decord``, ``pyav`` or ``torchcodec`` must be installed (see :func:`require_decoder`); ``frames``
    is refused (it reads no video file).
    """
    name = check_decoder_choice(decoder)
    if name == "frames":
        raise C2VBenchError("the 'frames' decoder reads extracted frame folders, not video files",
                            "use --decoder auto, decord, pyav or torchcodec to decode video files")
    if name == "auto":
        return require_decoder(auto_decoder())
    return require_decoder(name)


@functools.cache
def decoder_versions() -> dict[str, str]:
    """Versions of the decoding libraries (for the protocol card); ``unavailable`` for one that is not installed."""
    versions: dict[str, str] = {}
    for module_name in ("decord", "av", "torchcodec", "PIL"):
        try:
            if module_name == "decord":
                module = import_decord()
            elif module_name == "torchcodec":
                module = import_torchcodec()
            else:
                module = importlib.import_module(module_name)
            versions[module_name] = str(getattr(module, "__version__", "unknown"))
            if module_name == "torchcodec":  # it decodes with the system's FFmpeg, whose version matters too
                versions[module_name] += f" (FFmpeg {getattr(module, 'ffmpeg_major_version', '?')})"
        except Exception:  # an absent decoder is reported, not fatal here
            versions[module_name] = "unavailable"
    return versions


def decoder_version(decoder: str) -> str:
    """Version of the library behind ``decoder`` (``unavailable`` when it does not import)."""
    return decoder_versions()[DECODER_MODULES[decoder]]
