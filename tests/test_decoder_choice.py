"""Choosing the decoder: decord only where it has wheels, ``--decoder auto|decord|pyav|torchcodec|frames``, the
protocol card, and one line saying how to install a decoder that is asked for by name but missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from _cli_runner import run_cli
from _decoders import AUTO_DECODER, DECORD_INSTALLED, TORCHCODEC_INSTALLED, needs_torchcodec
from _small_runs import small_config
from _video_fixtures import MSVD_IDS, make_msvd_tree, write_frame_folder

from c2vbench.data.sampling import FrameSampling
from c2vbench.platform.errors import C2VBenchError, DataError

ROOT = Path(__file__).resolve().parents[1]

# Platforms as pip's environment markers see them, and whether decord 0.6.0 publishes a wheel there
# (checked with `pip download --only-binary=:all: --platform TAG decord==0.6.0`: manylinux2010_x86_64 and win_amd64
# only; its macOS x86-64 wheels stop at CPython 3.8, below this project's floor).
PLATFORMS = {
    "linux x86-64": ({"sys_platform": "linux", "platform_machine": "x86_64"}, True),
    "linux aarch64 (Grace-Hopper)": ({"sys_platform": "linux", "platform_machine": "aarch64"}, False),
    "macOS Apple silicon": ({"sys_platform": "darwin", "platform_machine": "arm64"}, False),
    "macOS Intel": ({"sys_platform": "darwin", "platform_machine": "x86_64"}, False),
    "windows x64": ({"sys_platform": "win32", "platform_machine": "AMD64"}, True),
}


def _required_on(environment: dict[str, str]) -> set[str]:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    full = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.9", **environment}
    names = set()
    for line in dependencies:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(full):
            names.add(requirement.name.lower())
    return names


@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_decord_is_required_only_where_it_has_wheels_and_pyav_everywhere(platform_name):
    environment, decord_has_wheel = PLATFORMS[platform_name]
    required = _required_on(environment)
    assert "av" in required and "torch" in required
    assert ("decord" in required) == decord_has_wheel


def test_auto_is_torchcodec_else_decord_else_pyav_and_names_are_kept():
    assert FrameSampling().decoder == AUTO_DECODER
    assert FrameSampling(decoder="pyav").decoder == "pyav"
    assert FrameSampling(decoder="frames").describe()["decoder"] == "frames"
    with pytest.raises(ValueError, match="decoder"):
        FrameSampling(decoder="opencv")


def _without(monkeypatch, *modules: str):
    """``import MODULE`` fails, as on a machine without it (None in sys.modules makes the import raise)."""
    from c2vbench.data.decoders import decoder_available

    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    decoder_available.cache_clear()


@pytest.fixture
def without_decord(monkeypatch):
    """decord is missing, as on a machine without its wheels."""
    from c2vbench.data.decoders import decoder_available

    _without(monkeypatch, "decord")
    yield
    decoder_available.cache_clear()


@pytest.fixture
def without_torchcodec(monkeypatch):
    """TorchCodec is missing (the optional extra not installed, or no FFmpeg libraries for it to load)."""
    from c2vbench.data.decoders import decoder_available

    _without(monkeypatch, "torchcodec", "torchcodec.decoders")
    yield
    decoder_available.cache_clear()


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_missing_decord_asked_for_by_name_is_one_line_saying_how_to_install_it(capsys, tmp_path, without_decord):
    videos = tmp_path / "videos"
    videos.mkdir()
    code, _, err = run_cli(["run", "--decoder", "decord", "--protocol", "zeroshot", "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 2
    line = _one_error_line(err)
    assert "decord decoder is not installed" in line and "pip install decord" in line and "--decoder pyav" in line
    assert not (tmp_path / "r").exists()  # refused before anything was generated or written

    code, _, err = run_cli(["prepare", "msvd", "--videos", str(videos), "--out", str(tmp_path / "f"),
                            "--decoder", "decord"], capsys)
    assert code == 2 and "pip install decord" in _one_error_line(err)
    # auto needs no decord: it is TorchCodec where that is installed, else PyAV
    assert FrameSampling().decoder == ("torchcodec" if TORCHCODEC_INSTALLED else "pyav")


def test_missing_torchcodec_asked_for_by_name_is_one_line_naming_the_extra_and_ffmpeg(capsys, tmp_path,
                                                                                       without_torchcodec):
    code, _, err = run_cli(["run", "--decoder", "torchcodec", "--protocol", "zeroshot", "--out", str(tmp_path)],
                           capsys)
    assert code == 2
    line = _one_error_line(err)
    assert "torchcodec decoder is not installed" in line
    assert "c2vbench[torchcodec]" in line and "ffmpeg" in line
    # auto without TorchCodec: decord where installed, else PyAV (the choice of earlier versions)
    assert FrameSampling().decoder == ("decord" if DECORD_INSTALLED else "pyav")


@pytest.mark.parametrize("argv, expected", [
    (("run", "--decoder", "opencv"), "unknown decoder 'opencv'; use one of auto, decord, pyav, torchcodec, frames"),
    (("eval", "--checkpoint", ".", "--decoder", "opencv"), "unknown decoder 'opencv'"),
    (("run", "--decoder", "frames"), "dataset 'synthetic-motion' offers no extracted frame folders"),
])
def test_bad_decoder_choices_are_one_line(capsys, tmp_path, argv, expected):
    code, _, err = run_cli([*argv, "--out", str(tmp_path)], capsys)
    assert code == 2
    assert expected.replace("; use", " — use") in _one_error_line(err)


def test_prepare_refuses_frames_as_a_decoder_of_videos(capsys, tmp_path):
    code, _, err = run_cli(["prepare", "msvd", "--videos", str(tmp_path), "--out", str(tmp_path / "f"),
                            "--decoder", "frames"], capsys)
    assert code == 2 and "reads extracted frame folders, not video files" in _one_error_line(err)


def _msvd(registry_options: dict[str, str], root: Path):
    from c2vbench.platform.registry import load_registry
    from c2vbench.platform.specs import build_options

    spec = load_registry().get("dataset", "msvd").spec
    return spec.factory(build_options(spec, registry_options), root)


def test_real_dataset_decoder_picks_frames_or_videos_and_the_card_names_it(tmp_path):
    import av
    import PIL

    root = make_msvd_tree(tmp_path / "msvd", bad_videos=False)
    for number, video_id in enumerate(MSVD_IDS):
        write_frame_folder(root / "frames" / video_id, 15, seed=number)

    auto = _msvd({}, root)  # as before: frame folders when they exist
    assert auto.protocol["decoder"] == {"name": "PIL (extracted frames)", "version": PIL.__version__}
    assert auto.sampling.decoder == "frames"

    pyav = _msvd({"decoder": "pyav"}, root)  # a video library by name reads the video files
    assert pyav.protocol["video_source"]["kind"] == "videos"
    assert pyav.protocol["decoder"] == {"name": "pyav", "version": av.__version__}
    assert pyav.sampling.decoder == "pyav" and pyav.split("test").videos[0].source.suffix == ".avi"

    assert _msvd({"decoder": "frames"}, root).protocol["video_source"]["kind"] == "frames"
    with pytest.raises(DataError, match="video_source=videos and decoder=frames contradict"):
        _msvd({"decoder": "frames", "video_source": "videos"}, root)


@pytest.mark.parametrize("decoder", ["pyav", pytest.param("torchcodec", marks=needs_torchcodec)])
def test_run_records_the_decoder_that_ran_and_its_version(tmp_path, decoder):
    import importlib

    from c2vbench.pipeline import run_benchmark
    from c2vbench.runtime.progress import Reporter

    result = run_benchmark(small_config(tmp_path, protocol="zeroshot", decoder=decoder),
                           reporter=Reporter(quiet=True)).result
    library = importlib.import_module({"pyav": "av", "torchcodec": "torchcodec"}[decoder])
    assert result["config"]["decoder"] == decoder
    assert result["protocol"]["decoder"]["name"] == decoder
    assert result["protocol"]["decoder"]["version"].startswith(library.__version__)
    if decoder == "torchcodec":  # it decodes with the system's FFmpeg: its major version is part of the card
        assert result["protocol"]["decoder"]["version"].endswith(f"(FFmpeg {library.ffmpeg_major_version})")
    assert result["protocol"]["sampling"]["decoder"] == decoder


def test_decoder_flag_reaches_a_dataset_option_and_must_agree_with_it(tmp_path):
    from c2vbench.model.assembly import dataset_overrides
    from c2vbench.platform.registry import load_registry

    spec = load_registry().get("dataset", "msvd").spec
    assert dataset_overrides("pyav", {}, spec) == {"decoder": "pyav"}
    with pytest.raises(C2VBenchError, match="contradicts --dataset-option decoder=frames"):
        dataset_overrides("pyav", {"decoder": "frames"}, spec)


@pytest.mark.skipif(not DECORD_INSTALLED, reason="compares with decord")
def test_decord_and_pyav_runs_score_the_lossless_dataset_identically(tmp_path):
    from c2vbench.pipeline import run_benchmark
    from c2vbench.runtime.progress import Reporter

    results = {decoder: run_benchmark(small_config(tmp_path / decoder, protocol="zeroshot", decoder=decoder),
                                      reporter=Reporter(quiet=True)).result for decoder in ("decord", "pyav")}
    # synthetic-motion is lossless: the same frames, hence the same ranks; the cards differ by the decoder only.
    assert results["decord"]["per_query"] == results["pyav"]["per_query"]
    cards = {decoder: {k: v for k, v in result["protocol"].items() if k not in ("decoder", "sampling", "hash")}
             for decoder, result in results.items()}
    assert cards["decord"] == cards["pyav"]
    assert results["decord"]["protocol"]["decoder"]["name"] == "decord"
    assert results["decord"]["protocol"]["hash"] != results["pyav"]["protocol"]["hash"]


@pytest.mark.skipif(not DECORD_INSTALLED, reason="about decord's bundled FFmpeg")
def test_decoding_with_decord_first_leaves_pyav_able_to_write_webm(tmp_path):
    from _video_fixtures import encode_video

    clip = encode_video(tmp_path / "clip.mp4", n_frames=10)
    # A fresh interpreter: which FFmpeg loads first is decided once per process.
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
              "from c2vbench.data.decoding import read_sampled_frames\n"
              "from c2vbench.data.sampling import FrameSampling\n"
              f"assert read_sampled_frames({str(clip)!r}, FrameSampling(decoder='decord')).decoder == 'decord'\n"
              "from _video_fixtures import encode_video\n"
              f"encode_video({str(tmp_path / 'out.webm')!r}, n_frames=4, codec='libvpx')\n")
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-600:]
    assert (tmp_path / "out.webm").stat().st_size > 0
