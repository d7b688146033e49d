"""Dataset ``synthetic-motion``: coloured shapes that move, grow, shrink or change colour, generated locally.

Generated from a seed on first use and cached in ``$C2VBENCH_CACHE`` (default ``~/.cache/c2vbench``), in a
folder c2vbench creates and marks as its own; ``--data-root`` is refused (there is nothing to read), and the
generator never writes into a folder it did not create. The files look like a real dataset's: lossless H.264
videos (``videos/<id>.mkv``, encoded with PyAV, decoded with decord like any other dataset), an
``annotations.json`` shaped like MSR-VTT's ``MSRVTT_data.json`` (``videos`` with their split, ``sentences``
with ``video_id`` and ``caption``), and one list file per split.

The test split holds **order twins**: a clip and its exact time reversal, each with its own caption ("moves left" /
"moves right", "turns red then blue" / "turns blue then red"). With ``frames_per_video − 1`` a multiple of
``max_frames − 1`` the sampled frames of a twin are exactly its partner's in reverse order, so an order-blind model
(mean pooling) scores the two alike and cannot beat chance on the ``order_twins`` subset: the subset's pairwise
accuracy (own clip scored above its twin, for each twin caption) is 50% for such a model. The training split is made
of twin pairs too (``train_twins``), so that a temporal module has the signal it needs to learn order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from c2vbench.plugin import DatasetSpec, hookimpl, option

GENERATOR_VERSION = 2

COLOURS = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (230, 210, 40),
    "white": (240, 240, 240), "purple": (150, 60, 190),
}
BACKGROUNDS = {"black": (10, 10, 10), "grey": (120, 120, 120), "dark blue": (20, 20, 70)}
SHAPES = ("square", "circle", "triangle")

# motion -> (caption phrase, phrase of the time-reversed clip)
MOTIONS = {
    "left": ("moves left", "moves right"),
    "right": ("moves right", "moves left"),
    "up": ("moves up", "moves down"),
    "down": ("moves down", "moves up"),
    "grow": ("grows", "shrinks"),
    "shrink": ("shrinks", "grows"),
    "recolour": ("turns {first} then {second}", "turns {second} then {first}"),
}
CAPTION_TEMPLATES = (
    "a {colour} {shape} {motion} on a {background} background",
    "on a {background} background, the {colour} {shape} {motion}",
)


@dataclasses.dataclass(frozen=True)
class SyntheticMotionOptions:
    """Size and seed of the generated dataset."""

    seed: int = option(0, min=0, help="generator seed of the videos and captions")
    train_videos: int = option(240, min=2, help="training videos")
    train_twins: bool = option(True, help="training videos come as order-twin pairs")
    val_videos: int = option(40, min=1, help="validation videos")
    # 300 test videos: the embedded board's headline questions need them (benchmarks/bench_board_power.py)
    test_twin_pairs: int = option(100, min=0, help="test order-twin pairs")
    test_singles: int = option(100, min=0, help="test videos without a twin")
    frames_per_video: int = option(15, min=2, help="frames in each clip")
    fps: int = option(8, min=1, help="frame rate of the clips")
    size: int = option(64, min=64, help="frame side in pixels (decord needs at least 64)")
    max_frames: int = option(8, min=1, help="frame slots per video in the protocol")


@dataclasses.dataclass(frozen=True)
class SceneSpec:
    """Everything needed to draw one clip."""

    video_id: str
    shape: str
    colour: str
    second_colour: str
    background: str
    motion: str
    reversed: bool
    start: tuple[float, float]


def build_synthetic_motion(options: SyntheticMotionOptions, data_root):
    from c2vbench.plugin import (
        CaptionRecord,
        FrameSampling,
        QuerySubset,
        RetrievalDataset,
        RetrievalSplit,
        VideoRecord,
        sha256_file,
    )

    root = Path(data_root) if data_root is not None else default_cache_root() / dataset_folder_name(options)
    ensure_generated(root, options)
    annotations = json.loads((root / "annotations.json").read_text())
    splits: dict[str, RetrievalSplit] = {}
    for split_name in ("train", "val", "test"):
        video_ids = (root / f"{split_name}_list.txt").read_text().split()
        index_of = {video_id: i for i, video_id in enumerate(video_ids)}
        videos = [VideoRecord(video_id, root / "videos" / f"{video_id}.mkv") for video_id in video_ids]
        captions = [CaptionRecord(sentence["caption"], index_of[sentence["video_id"]])
                    for sentence in annotations["sentences"] if sentence["video_id"] in index_of]
        subsets = {}
        if split_name == "test":
            twin_ids = {video_id for pair in annotations["order_twins"] for video_id in pair}
            twin_of = {}
            for first, second in annotations["order_twins"]:
                twin_of[first], twin_of[second] = second, first
            twin_captions = [i for i, c in enumerate(captions) if video_ids[c.video_index] in twin_ids]
            subsets["order_twins"] = QuerySubset(
                caption_indices=tuple(twin_captions),
                video_indices=tuple(i for i, video_id in enumerate(video_ids) if video_id in twin_ids),
                rival_videos=tuple(index_of[twin_of[video_ids[captions[i].video_index]]] for i in twin_captions),
            )
        splits[split_name] = RetrievalSplit(split_name, videos, captions, subsets)
    sampling = FrameSampling(max_frames=options.max_frames, grid_fps=None, feature_framerate=1, mode="clip2video")
    protocol = {
        "dataset": "synthetic-motion",
        "generator_version": GENERATOR_VERSION,
        "options": dataclasses.asdict(options),
        "annotations_sha256": sha256_file(root / "annotations.json"),
        "caption_expansion": "train: every caption is a sample; val/test: one caption per video",
    }
    return RetrievalDataset("synthetic-motion", splits, sampling, protocol, selection_split="val")


def default_cache_root() -> Path:
    return Path(os.environ.get("C2VBENCH_CACHE", Path.home() / ".cache" / "c2vbench"))


def dataset_folder_name(options: SyntheticMotionOptions) -> str:
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(options), sort_keys=True).encode()).hexdigest()[:10]
    return f"synthetic-motion-v{GENERATOR_VERSION}-{digest}"


OWNER_MARKER = ".c2vbench-generated"


def ensure_generated(root: Path, options: SyntheticMotionOptions) -> None:
    """Generate the dataset into ``root`` unless a complete copy is there; atomic (temp folder, then rename).

    Only ever writes into a folder it creates: the data is generated in a fresh staging folder next to ``root``
    (marked with :data:`OWNER_MARKER`) and renamed into place. An existing ``root`` is used only when it is a
    complete copy; one that is not is deleted only when it carries the marker (c2vbench's own, unfinished), and
    otherwise refused: a folder c2vbench did not create is never cleaned, rewritten or re-permissioned.
    """
    if (root / "COMPLETE").exists():
        return
    import shutil
    import tempfile

    from c2vbench.plugin import DataError

    if root.exists():
        if not (root / OWNER_MARKER).is_file():
            raise DataError(f"synthetic-motion: {root} exists but was not created by c2vbench, which will not "
                            "write into it",
                            "leave the dataset in c2vbench's cache (no --data-root), or name a folder that does "
                            "not exist yet")
        shutil.rmtree(root)  # c2vbench's own unfinished attempt
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        (staging / OWNER_MARKER).write_text(json.dumps({"generator": "c2vbench synthetic-motion",
                                                        "version": GENERATOR_VERSION}) + "\n")
        generate(staging, options)
        (staging / "COMPLETE").write_text("ok\n")
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the dataset gets a new folder's permissions
        try:
            staging.rename(root)
        except OSError:
            if not (root / "COMPLETE").exists():  # not another process winning the race
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def plan_scenes(options: SyntheticMotionOptions) -> dict[str, list[SceneSpec]]:
    """The scenes of every split, drawn from ``options.seed`` only."""
    import numpy as np

    rng = np.random.default_rng(options.seed)
    counter = iter(range(10**9))

    def random_scene(reversed_of: SceneSpec | None = None) -> SceneSpec:
        video_id = f"synth{next(counter):05d}"
        if reversed_of is not None:
            return dataclasses.replace(reversed_of, video_id=video_id, reversed=True)
        colour, second = rng.choice(list(COLOURS), size=2, replace=False)
        return SceneSpec(
            video_id=video_id, shape=str(rng.choice(SHAPES)), colour=str(colour), second_colour=str(second),
            background=str(rng.choice(list(BACKGROUNDS))), motion=str(rng.choice(list(MOTIONS))), reversed=False,
            start=(float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7))),
        )

    def twin_pairs(count: int) -> list[SceneSpec]:
        scenes: list[SceneSpec] = []
        for _ in range(count):
            original = random_scene()
            scenes += [original, random_scene(reversed_of=original)]
        return scenes

    if options.train_twins:  # reversed pairs in training teach what the test twins measure: temporal order
        train = twin_pairs((options.train_videos + 1) // 2)[: options.train_videos]
    else:
        train = [random_scene() for _ in range(options.train_videos)]
    scenes = {
        "train": train,
        "val": [random_scene() for _ in range(options.val_videos)],
    }
    test = twin_pairs(options.test_twin_pairs) + [random_scene() for _ in range(options.test_singles)]
    scenes["test"] = test
    return scenes


def caption_for(scene: SceneSpec, template: str) -> str:
    forward_phrase, reversed_phrase = MOTIONS[scene.motion]
    phrase = (reversed_phrase if scene.reversed else forward_phrase).format(first=scene.colour,
                                                                            second=scene.second_colour)
    colour = "coloured" if scene.motion == "recolour" else scene.colour
    return template.format(colour=colour, shape=scene.shape, motion=phrase, background=scene.background)


def render_frames(scene: SceneSpec, options: SyntheticMotionOptions):
    """``[frames, size, size, 3]`` uint8: the clip played forward, or exactly reversed for a twin."""
    import numpy as np

    count, size = options.frames_per_video, options.size
    frames = np.empty((count, size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for t in range(count):
        progress = t / max(count - 1, 1)
        cx, cy = scene.start
        radius = 0.14
        colour = COLOURS[scene.colour]
        shift = 0.5 * (progress - 0.5)
        if scene.motion == "left":
            cx -= shift
        elif scene.motion == "right":
            cx += shift
        elif scene.motion == "up":
            cy -= shift
        elif scene.motion == "down":
            cy += shift
        elif scene.motion == "grow":
            radius = 0.06 + 0.2 * progress
        elif scene.motion == "shrink":
            radius = 0.26 - 0.2 * progress
        elif scene.motion == "recolour":
            first, second = np.array(COLOURS[scene.colour]), np.array(COLOURS[scene.second_colour])
            colour = tuple(int(v) for v in np.round(first + (second - first) * progress))
        if scene.shape == "square":
            inside = (np.abs(xx - cx) <= radius) & (np.abs(yy - cy) <= radius)
        elif scene.shape == "circle":
            inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        else:  # an upward triangle
            inside = (yy <= cy + radius) & (yy >= cy - radius) & (np.abs(xx - cx) <= (yy - (cy - radius)) / 2)
        frame = np.empty((size, size, 3), dtype=np.uint8)
        frame[:] = BACKGROUNDS[scene.background]
        frame[inside] = colour
        frames[t] = frame
    return frames[::-1].copy() if scene.reversed else frames


def write_video(path: Path, frames, fps: int) -> None:
    """Encode frames losslessly (H.264 in RGB at crf 0), so decoding gives back the exact pixels."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb24"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def generate(root: Path, options: SyntheticMotionOptions) -> None:
    """Write videos, annotations and split lists for ``options`` into ``root``."""
    scenes = plan_scenes(options)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    annotation_videos, sentences, twins = [], [], []
    for split_name, split_scenes in scenes.items():
        templates = CAPTION_TEMPLATES if split_name == "train" else CAPTION_TEMPLATES[:1]
        for scene in split_scenes:
            write_video(root / "videos" / f"{scene.video_id}.mkv", render_frames(scene, options), options.fps)
            annotation_videos.append({"video_id": scene.video_id, "split": split_name,
                                      "shape": scene.shape, "motion": scene.motion, "reversed": scene.reversed})
            for template in templates:
                sentences.append({"video_id": scene.video_id, "caption": caption_for(scene, template),
                                  "sen_id": len(sentences)})
        (root / f"{split_name}_list.txt").write_text("".join(f"{s.video_id}\n" for s in split_scenes))
    test = scenes["test"]
    twins = [[test[i].video_id, test[i + 1].video_id] for i in range(0, 2 * options.test_twin_pairs, 2)]
    annotations = {"info": {"generator": "c2vbench synthetic-motion", "version": GENERATOR_VERSION,
                            "options": dataclasses.asdict(options)},
                   "videos": annotation_videos, "sentences": sentences, "order_twins": twins}
    (root / "annotations.json").write_text(json.dumps(annotations, indent=1))


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(
        name="synthetic-motion",
        summary="Embedded: moving / growing / recolouring shapes with time-reversed order twins, generated locally",
        factory=build_synthetic_motion,
        options_type=SyntheticMotionOptions,
        needs_data_root=False,
        check_options={"train_videos": 2, "val_videos": 1, "test_twin_pairs": 1, "test_singles": 1,
                       "frames_per_video": 5, "max_frames": 4},
    )
