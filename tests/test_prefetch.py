"""Model input one batch ahead: the same batches in the same order as the plain loop, the next one prepared while
the caller works, errors raised in the caller's thread, and no thread left behind."""

from __future__ import annotations

import threading

import pytest
import torch
from _video_fixtures import encode_video, write_frame_folder

from c2vbench.data.feed import FrameFeed
from c2vbench.data.loader import ImageFormat, VideoClipDataset, make_video_loader
from c2vbench.data.prefetch import prefetched
from c2vbench.data.preprocess import CLIP_MEAN, CLIP_STD
from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import VideoRecord

CPU = torch.device("cpu")


def prefetch_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "c2vbench-prefetch"]


def test_the_batches_of_real_videos_are_those_of_the_plain_loop_in_order(tmp_path):
    records = [VideoRecord("a", encode_video(tmp_path / "a.mp4", n_frames=20, width=48, height=32)),
               VideoRecord("b", write_frame_folder(tmp_path / "b", 15, width=40, height=30)),
               VideoRecord("c", encode_video(tmp_path / "c.mp4", n_frames=12, width=32, height=48, seed=3))] * 3
    sampling = FrameSampling(max_frames=4, feature_framerate=1)
    image = ImageFormat(24, CLIP_MEAN, CLIP_STD)
    feed = FrameFeed(24, CLIP_MEAN, CLIP_STD, 4, CPU)

    def loader():
        return make_video_loader(VideoClipDataset(records, sampling, image, preprocess="tensor"), batch_size=2,
                                 num_workers=2)

    plain = [(feed(frames), mask, indices) for frames, mask, indices in loader()]
    ahead = list(prefetched(loader(), feed, CPU))
    assert len(ahead) == len(plain) == 5
    for (a, mask_a, indices_a), (b, mask_b, indices_b) in zip(ahead, plain, strict=True):
        assert torch.equal(a, b) and torch.equal(mask_a, mask_b) and torch.equal(indices_a, indices_b)
    assert not prefetch_threads()


def test_the_next_batch_is_prepared_while_the_caller_still_holds_this_one():
    started = [threading.Event() for _ in range(3)]

    def feed(frames):
        started[int(frames)].set()
        return torch.tensor([float(frames)])

    batches = ((i, torch.ones(1), torch.tensor([i])) for i in range(3))
    seen = []
    for model_input, _, _ in prefetched(batches, feed, CPU):
        index = int(model_input)
        seen.append(index)
        if index + 1 < 3:
            # a plain loop would only start the next batch after this body: here it is already under way
            assert started[index + 1].wait(timeout=30)
    assert seen == [0, 1, 2] and not prefetch_threads()


def test_an_error_in_the_loader_reaches_the_caller_after_the_batches_before_it():
    def failing_loader():
        yield 0, torch.ones(1), torch.tensor([0])
        yield 1, torch.ones(1), torch.tensor([1])
        raise OSError("frame 3 of video x is unreadable")

    seen = []
    with pytest.raises(OSError, match="unreadable"):
        for model_input, _, _ in prefetched(failing_loader(), lambda frames: torch.tensor([frames]), CPU):
            seen.append(int(model_input))
    assert seen == [0, 1] and not prefetch_threads()


def test_a_caller_that_stops_early_stops_the_thread_without_draining_the_loader():
    taken = []

    def endless_loader():
        index = 0
        while True:
            taken.append(index)
            yield index, torch.ones(1), torch.tensor([index])
            index += 1

    batches = prefetched(endless_loader(), lambda frames: torch.tensor([frames]), CPU, depth=2)
    first = next(batches)
    batches.close()
    assert int(first[0]) == 0 and not prefetch_threads()
    assert len(taken) <= 5  # the batch in hand, the queue of two, one in the feed and one more at most
