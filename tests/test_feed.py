"""The feed: uint8 frames from workers, batched resize/crop/normalise on the device, within a stated bound of the
official PIL path; JPEG folders decoded in batches; persistent workers that still see every epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _decoders import needs_torchcodec
from _video_fixtures import encode_video, write_frame_folder

from c2vbench.data.feed import (
    RESIZE_METHODS,
    TENSOR_VS_PIL_BOUND,
    FrameFeed,
    RawBatch,
    RawClip,
    antialiased_bicubic_weights,
    describe_preprocessing,
    resize_crop_normalise,
)
from c2vbench.data.loader import ImageFormat, VideoClipDataset, decoded_in_worker, make_video_loader
from c2vbench.data.preprocess import CLIP_MEAN, CLIP_STD, preprocess_frames
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import VideoRecord

STD_LEVELS = np.asarray(CLIP_STD)[None, :, None, None] * 255.0


def natural_frames(rng: np.random.Generator, n: int, height: int, width: int) -> np.ndarray:
    """Smooth structure with sensor-like noise (what video frames look like to a resampler)."""
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for _ in range(n):
        phase = rng.uniform(0, 6, 3)
        image = np.stack([128 + 90 * np.sin(x / rng.uniform(4, 12) + p) * np.cos(y / rng.uniform(5, 15))
                          for p in phase], -1)
        frames.append(np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


def levels_apart(pil: np.ndarray, tensor: torch.Tensor) -> np.ndarray:
    """Per-pixel difference of two normalised images in 0..255 grey levels."""
    return np.abs(pil - tensor.cpu().numpy()) * STD_LEVELS


@pytest.mark.parametrize("method", RESIZE_METHODS)
@pytest.mark.parametrize("height, width, size", [(240, 320, 224), (360, 640, 224), (480, 360, 224), (48, 64, 32),
                                                  (100, 100, 224)])
def test_tensor_preprocessing_stays_within_the_stated_bound_of_pil(height, width, size, method):
    rng = np.random.default_rng(height * width)
    frames = natural_frames(rng, 3, height, width)
    difference = levels_apart(preprocess_frames(frames, size),
                              resize_crop_normalise(torch.from_numpy(frames).permute(0, 3, 1, 2), size, CLIP_MEAN,
                                                    CLIP_STD, method))
    assert difference.max() <= TENSOR_VS_PIL_BOUND["max_levels_natural"]
    assert difference.mean() <= TENSOR_VS_PIL_BOUND["mean_levels"]
    noise = rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8)  # the worst case for any resampler
    noise_difference = levels_apart(preprocess_frames(noise, size),
                                    resize_crop_normalise(torch.from_numpy(noise).permute(0, 3, 1, 2), size,
                                                          CLIP_MEAN, CLIP_STD, method))
    assert noise_difference.mean() <= TENSOR_VS_PIL_BOUND["mean_levels"]
    # and the bound is not vacuous: a nearest-neighbour resize breaks it
    nearest = torch.nn.functional.interpolate(torch.from_numpy(frames).permute(0, 3, 1, 2).float(),
                                              scale_factor=size / min(height, width), mode="nearest")
    crude = resize_crop_normalise(nearest.round().to(torch.uint8), size, CLIP_MEAN, CLIP_STD)
    assert levels_apart(preprocess_frames(frames, size), crude).max() > TENSOR_VS_PIL_BOUND["max_levels_natural"]


@pytest.mark.parametrize("in_size, out_size", [(320, 298), (240, 224), (640, 224), (100, 224), (57, 13), (9, 9)])
def test_the_matmul_filter_is_pils_antialiased_bicubic(in_size, out_size):
    from PIL import Image

    # PIL resamples a float image with the same coefficients: the response to each one-hot column is one column
    # of the weight matrix
    expected = np.zeros((out_size, in_size))
    for column in range(in_size):
        row = np.zeros((1, in_size), dtype=np.float32)
        row[0, column] = 1.0
        resized = Image.fromarray(row, mode="F").resize((out_size, 1), Image.Resampling.BICUBIC)
        expected[:, column] = np.asarray(resized)[0]
    np.testing.assert_allclose(antialiased_bicubic_weights(in_size, out_size).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("height, width", [(240, 320), (320, 240), (100, 180), (480, 640), (224, 224), (30, 40)])
def test_the_two_resize_methods_differ_only_by_rounding_at_half_levels(height, width):
    rng = np.random.default_rng(height + width)
    images = torch.from_numpy(natural_frames(rng, 4, height, width)).permute(0, 3, 1, 2)
    by_kernel = resize_crop_normalise(images, 224, CLIP_MEAN, CLIP_STD, "interpolate")
    by_matmul = resize_crop_normalise(images, 224, CLIP_MEAN, CLIP_STD, "matmul")
    levels = levels_apart(by_kernel.numpy(), by_matmul)
    assert levels.max() <= 1.0 + 1e-4
    assert (levels > 1e-3).mean() < 1e-3
    with pytest.raises(ValueError, match="unknown resize method"):
        resize_crop_normalise(images, 224, CLIP_MEAN, CLIP_STD, "bilinear")


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.9, 1.0])
def test_the_worker_decoded_share_holds_in_every_run_of_consecutive_videos(share):
    chosen = np.array([decoded_in_worker(index, share) for index in range(500)])
    for start in range(0, 400, 7):
        for length in (1, 5, 64, 100):
            assert abs(chosen[start:start + length].sum() - length * share) < 1.0


def test_a_share_of_videos_decoded_by_the_workers_gives_the_same_input_in_mixed_batches(sources):
    records = [VideoRecord(f"{name}{copy}", sources[name]) for copy in range(2) for name in ("folder", "long", "mp4")]
    sampling = FrameSampling(max_frames=6, feature_framerate=1)
    image = ImageFormat(32, CLIP_MEAN, CLIP_STD)
    feed = FrameFeed(32, CLIP_MEAN, CLIP_STD, 6, torch.device("cpu"))

    def inputs(share: float) -> tuple[list[torch.Tensor], list[bool]]:
        dataset = VideoClipDataset(records, sampling, image, preprocess="tensor", jpegs_to_device=True,
                                   worker_decoded_share=share)
        batches = [frames for frames, _, _ in make_video_loader(dataset, batch_size=4, num_workers=2)]
        # per frame folder: did it travel encoded (for the device's decoder) or decoded by a worker?
        travelled = [len(lengths) > 0 for batch in batches for lengths in batch.jpeg_lengths]
        return [feed(batch) for batch in batches], [way for way, record in zip(travelled, records, strict=True)
                                                    if record.source.is_dir()]

    reference, ways = inputs(1.0)
    assert not any(ways)
    for share in (0.0, 0.5):
        got, ways = inputs(share)
        for expected, batch in zip(reference, got, strict=True):
            torch.testing.assert_close(batch, expected, rtol=0, atol=0)
        assert all(ways) if share == 0.0 else (any(ways) and not all(ways))  # 0.5: batches mix the two ways
    with pytest.raises(ValueError, match="worker_decoded_share"):
        VideoClipDataset(records, sampling, image, preprocess="tensor", worker_decoded_share=1.5)


def _pack_in_worker(items):
    batch = RawBatch.pack([RawClip(frames=list(frames)) for frames in items])
    return batch, batch.frame_data.is_shared()


def test_workers_pack_batches_straight_into_shared_memory():
    frames = [torch.randint(0, 256, (3, 3, 8, 10), dtype=torch.uint8) for _ in range(4)]
    loader = torch.utils.data.DataLoader(frames, batch_size=2, num_workers=1, collate_fn=_pack_in_worker)
    for position, (batch, shared_in_worker) in enumerate(loader):
        assert shared_in_worker  # no private buffer left to copy into shared memory when it is sent
        for clip, original in zip(batch.clips, frames[2 * position:2 * position + 2], strict=True):
            assert torch.equal(clip.frames, original)
    batch, shared_here = _pack_in_worker(frames[:2])  # in the main process: an ordinary buffer
    assert not shared_here and torch.equal(batch.clips[1].frames, frames[1])


def test_the_protocol_card_names_the_resize_and_the_jpeg_decoder_that_ran():
    on_cpu = describe_preprocessing("tensor", torch.device("cpu"), frame_folders=True)
    assert "torch bicubic antialias on cpu" in on_cpu["resize"] and on_cpu["jpeg_decoder"].endswith("(cpu)")
    few, many = (describe_preprocessing("tensor", torch.device("cuda"), True, workers) for workers in (2, 12))
    assert "matrix products on cuda" in few["resize"] and "matrix products on cuda" in many["resize"]
    assert few["jpeg_decoder"] == "torchvision decode_jpeg (cuda)"
    assert many["jpeg_decoder"] == "torchvision decode_jpeg (cpu, in the workers)"
    assert describe_preprocessing("pil", torch.device("cuda"), True)["path"] == "pil"


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed")
    return {"mp4": encode_video(root / "a.mp4", n_frames=20, width=64, height=48),
            "wide": encode_video(root / "b.mp4", n_frames=20, width=80, height=40),
            "folder": write_frame_folder(root / "c", 20, width=56, height=48),
            "long": write_frame_folder(root / "d", 40, width=24, height=16)}


def test_the_tensor_feed_gives_the_pil_batch_for_videos_of_different_sizes_and_jpeg_folders(sources):
    records = [VideoRecord(name, sources[name]) for name in ("mp4", "wide", "folder")]
    sampling = FrameSampling(max_frames=6, feature_framerate=1)
    image = ImageFormat(32, CLIP_MEAN, CLIP_STD)
    pil = next(iter(make_video_loader(VideoClipDataset(records, sampling, image), batch_size=3)))
    feed = FrameFeed(image.size, image.mean, image.std, sampling.max_frames, torch.device("cpu"))
    for encoded in (False, True):  # JPEG folders decoded in the workers, or handed over encoded
        dataset = VideoClipDataset(records, sampling, image, preprocess="tensor", jpegs_to_device=encoded)
        raw, mask, _ = next(iter(make_video_loader(dataset, batch_size=3)))
        assert isinstance(raw, RawBatch) and (raw.clips[2].jpegs is not None) == encoded
        assert all(clip.frames is None or clip.frames.dtype == torch.uint8 for clip in raw.clips)
        frames = feed(raw)
        assert frames.shape == pil[0].shape and torch.equal(mask, pil[1])
        assert torch.all(frames[mask == 0] == 0)
        difference = levels_apart(pil[0].numpy(), frames)
        assert difference.mean() <= TENSOR_VS_PIL_BOUND["mean_levels"]


def test_persistent_workers_see_every_epoch_of_the_training_jitter(sources):
    records = [VideoRecord(str(i), sources["long"]) for i in range(4)]
    sampling = FrameSampling(max_frames=3, feature_framerate=1)  # stride 19 on 40 frames: jitter of up to 9
    image = ImageFormat(16, CLIP_MEAN, CLIP_STD)

    def dataset():
        return VideoClipDataset(records, sampling, image, train=True, seed=5, preprocess="tensor")

    def epoch_batches(loader, epoch):
        loader.sampler.set_epoch(epoch)
        return [(torch.cat([clip.frames for clip in raw.clips]), indices) for raw, _, indices in loader]

    persistent = make_video_loader(dataset(), batch_size=2, num_workers=2, shuffle=True, seed=9, persistent=True)
    first = epoch_batches(persistent, 0)
    later = epoch_batches(persistent, 3)
    fresh = epoch_batches(make_video_loader(dataset(), batch_size=2, shuffle=True, seed=9), 3)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(later, fresh, strict=True))
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(first, later, strict=True))


LOW_DESCRIPTOR_LIMIT = """
import resource, sys
import torch
sys.path.insert(0, sys.argv[2])
from c2vbench.data.feed import FrameFeed
from c2vbench.data.loader import ImageFormat, VideoClipDataset, decoded_in_worker, make_video_loader
from c2vbench.data.preprocess import CLIP_MEAN, CLIP_STD
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import VideoRecord
from pathlib import Path

resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[3]), resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
records = [VideoRecord(str(i), Path(sys.argv[1])) for i in range(40)]
sampling = FrameSampling(max_frames=12, feature_framerate=1)
image = ImageFormat(16, CLIP_MEAN, CLIP_STD)
feed = FrameFeed(16, CLIP_MEAN, CLIP_STD, 12, torch.device("cpu"))
for encoded in (True, False):
    dataset = VideoClipDataset(records, sampling, image, preprocess="tensor", jpegs_to_device=encoded)
    loader = make_video_loader(dataset, batch_size=40, num_workers=2, pin_memory=False)
    shapes = [tuple(feed(raw).shape) for raw, _, _ in loader]
    assert shapes == [(40, 12, 3, 16, 16)], shapes
print("ok")
"""


def test_a_batch_of_hundreds_of_frames_crosses_from_the_workers_within_a_low_descriptor_limit(tmp_path):
    """Each tensor a worker sends costs a file descriptor in flight: 40 videos x 12 JPEGs sent one tensor per frame
    exceed a limit of 200 (the DataLoader hangs or fails), packed into one buffer per batch they do not."""
    import subprocess
    import sys
    from pathlib import Path

    folder = write_frame_folder(tmp_path / "clip", 12, width=24, height=16)
    repository = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", LOW_DESCRIPTOR_LIMIT, str(folder), repository, "200"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_packed_batch_gives_back_every_clip_of_mixed_sizes_and_encodings():
    rng = np.random.default_rng(2)
    clips = [RawClip(frames=torch.from_numpy(rng.integers(0, 256, (3, 3, 8, 10), dtype=np.uint8))),
             RawClip(jpegs=[torch.from_numpy(rng.integers(0, 256, n, dtype=np.uint8)) for n in (5, 9, 1)]),
             RawClip(frames=torch.from_numpy(rng.integers(0, 256, (1, 3, 4, 6), dtype=np.uint8))),
             RawClip(jpegs=[torch.from_numpy(rng.integers(0, 256, 7, dtype=np.uint8))])]
    packed = RawBatch.pack(clips)
    assert len(packed) == 4
    for original, unpacked in zip(clips, packed.clips, strict=True):
        if original.frames is not None:
            assert unpacked.jpegs is None and torch.equal(unpacked.frames, original.frames)
        else:
            assert unpacked.frames is None and len(unpacked.jpegs) == len(original.jpegs)
            assert all(torch.equal(a, b) for a, b in zip(unpacked.jpegs, original.jpegs, strict=True))


@needs_torchcodec
def test_videos_handed_over_as_frame_requests_are_decoded_by_the_feed_to_the_same_batch(sources, tmp_path):
    """The NVDEC path's plumbing, run on the CPU: the workers only find the sampled frames (nothing decoded), the
    feed decodes them with TorchCodec on its device, and the batch equals the one of frames decoded in the workers;
    a video TorchCodec cannot seek in (B-frames in AVI) is decoded by PyAV instead, to the same frames."""
    from _video_fixtures import frame_code

    avi = encode_video(tmp_path / "b_frames.avi", n_frames=20, width=64, height=48, codec="libx264")
    records = [VideoRecord("mp4", sources["mp4"]), VideoRecord("wide", sources["wide"]), VideoRecord("avi", avi)]
    sampling = FrameSampling(max_frames=6, feature_framerate=1, decoder="torchcodec")
    image = ImageFormat(32, CLIP_MEAN, CLIP_STD)
    feed = FrameFeed(image.size, image.mean, image.std, sampling.max_frames, torch.device("cpu"))
    batches = {}
    for on_device in (False, True):
        dataset = VideoClipDataset(records, sampling, image, preprocess="tensor", videos_to_device=on_device,
                                   train=True, seed=3)
        raw, mask, _ = next(iter(make_video_loader(dataset, batch_size=3, num_workers=1)))
        assert all((clip.video is not None) == on_device for clip in raw.clips)
        assert all(clip.frames is None for clip in raw.clips) == on_device  # nothing decoded in the workers
        batches[on_device] = (feed(raw), mask)
    assert torch.equal(batches[True][1], batches[False][1])
    torch.testing.assert_close(batches[True][0], batches[False][0], rtol=0, atol=0)
    from c2vbench.data.decoding import decode_frames_on, read_sampled_frames
    from c2vbench.data.video_readers import TimelineMismatch, TorchCodecReader

    wanted = read_sampled_frames(avi, sampling).indices.tolist()
    with pytest.raises(TimelineMismatch):  # the AVI really is one TorchCodec cannot seek in
        TorchCodecReader(avi).frames(wanted)
    on_feed = decode_frames_on(avi, wanted, torch.device("cpu"))
    assert [frame_code(frame) for frame in on_feed.permute(0, 2, 3, 1).numpy()] == wanted
