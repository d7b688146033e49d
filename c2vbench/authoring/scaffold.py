"""``c2vbench new-plugin``: a new plug-in distribution, ready to install, test and publish.

``scaffold(name, kind, folder)`` writes ``folder/c2vbench-NAME/``:

* ``pyproject.toml``: the distribution ``c2vbench-NAME`` (hatchling), one entry point in the ``c2vbench`` group;
* ``src/c2vbench_NAME/__init__.py``: a working example component of the kind (its summary says it is the scaffold's
  example and what it computes), importing only :mod:`c2vbench.plugin`;
* ``tests/test_plugin.py``: the conformance kit in one line, a check that ``c2vbench plugins --json`` lists it, and
  a tiny real training and evaluation with it (:func:`c2vbench.testing.run_tiny_benchmark`); it imports only
  :mod:`c2vbench.testing`;
* ``.github/workflows/test.yml``: GitHub Actions for the plug-in's own repository: install, the kit, the tests;
* ``README.md``: how to install, test and publish it.

Nothing is overwritten: a folder that already exists is refused.
"""

from __future__ import annotations

import string
from pathlib import Path

from c2vbench.platform.errors import C2VBenchError
from c2vbench.platform.specs import NAME_PATTERN, canonical_kind

SCAFFOLD_KINDS = ("backbone", "temporal", "align", "dataset")

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "c2vbench-$name"
version = "0.1.0"
description = "c2vbench plug-in: the $label '$name', $what."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["c2vbench>=$c2vbench_version"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

# The one line that makes c2vbench find the plug-in: an entry point in the "c2vbench" group naming the module that
# holds the hook implementations.
[project.entry-points.c2vbench]
$name = "$module"

[tool.hatch.build.targets.wheel]
packages = ["src/$module"]
"""

README = """\
# c2vbench-$name

A c2vbench plug-in providing the $label `$name`:
$what.

It starts as the example that `c2vbench new-plugin` writes: replace its body with your method (and its summary with
what it does), and keep the tests green.

    pip install -e '.[test]'          # install it (c2vbench finds it through its entry point)
    c2vbench plugins                  # lists: $kind  $name  c2vbench-$name  0.1.0
    c2vbench check-plugin $name       # the conformance kit: every rule of its kind
    pytest -q tests                   # the same kit, a check that it is listed, a tiny training and evaluation
    $usage

`.github/workflows/test.yml` runs the same three steps on every push and pull request (GitHub Actions).

Publish: set the version in `pyproject.toml`, then `python -m build` and `twine upload dist/*`. See c2vbench's
docs/plugins.md for the rules each kind follows and the hook reference.
"""

TESTS = """\
\"\"\"The plug-in is installed, listed with its distribution, passes c2vbench's conformance kit, and trains and
evaluates in a tiny real run.\"\"\"

from __future__ import annotations

from c2vbench.testing import assert_plugin_conforms, listed_components, run_tiny_benchmark


def test_it_conforms($fixture_args):
    assert_plugin_conforms("$name", "$kind"$conform_args)


def test_it_is_listed_by_c2vbench_plugins():
    row = next(row for row in listed_components() if row["name"] == "$name" and row["kind"] == "$kind")
    assert (row["distribution"], row["version"]) == ("c2vbench-$name", "0.1.0")


def test_it_trains_and_evaluates(tmp_path$tiny_fixture_args):
    run = run_tiny_benchmark(tmp_path / "results", $role="$name"$tiny_args)
    assert run.result["plugins"]["$role"]["distribution"] == "c2vbench-$name"
    assert run.ranks_are_complete() and run.result["training"]["history"]
"""

WORKFLOW = """\
# GitHub Actions for c2vbench-$name: install, run c2vbench's conformance kit on the $label, run the tests.
name: test

on:
  push:
  pull_request:

jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: $${{ matrix.python-version }}
      - name: install
        run: |
          python -m pip install --upgrade pip
          python -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -e '.[test]'
      - name: conformance kit
        run: c2vbench check-plugin $name --kind $kind$check_args
      - name: tests
        run: pytest -q tests
"""

DATASET_FIXTURE = """\


def write_video(path, frames):
    \"\"\"A real encoded video (lossless H.264 in Matroska, written with PyAV).\"\"\"
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=8)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture
def data_root(tmp_path):
    \"\"\"A tiny folder in the layout the dataset reads: videos/ and captions.csv.\"\"\"
    import numpy as np

    (tmp_path / "videos").mkdir()
    rows = ["video_id,caption,split"]
    for index, split in enumerate(["train", "train", "val", "test", "test"]):
        frames = np.full((8, 64, 64, 3), 40 * index, dtype=np.uint8)
        frames[:, 16:48, 8 * index:8 * index + 16] = 255
        write_video(tmp_path / "videos" / f"clip{index}.mkv", frames)
        rows.append(f"clip{index},a white square at place {index},{split}")
    (tmp_path / "captions.csv").write_text("\\n".join(rows) + "\\n")
    return tmp_path
"""

TEMPORAL = """\
\"\"\"Temporal module ``$name``: attention pooling — a learned query weighs the valid frames.

The example ``c2vbench new-plugin`` wrote: replace its body with your method (and its summary with what it does).

Order-insensitive (no positions), so it declares ``order_sensitive=False``; padded slots get weight 0.
\"\"\"

from __future__ import annotations

import dataclasses

from c2vbench.plugin import TemporalSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class ${class_name}Options:
    temperature: float = option(1.0, min=0.01, max=100.0, help="softmax temperature of the frame weights")


def build_$function(options: ${class_name}Options, context):
    # torch is imported here, not at the top, so that `c2vbench plugins` stays fast.
    import torch
    from torch import nn

    from c2vbench.plugin import VideoFeatures

    class AttentionPooling(nn.Module):
        def __init__(self, width: int):
            super().__init__()
            self.query = nn.Parameter(torch.zeros(width))

        def forward(self, frames, frame_mask, want_alignment_tokens: bool = False) -> VideoFeatures:
            # Masks are left-aligned (valid frames first); padded slots (mask 0) may hold anything.
            scores = (frames @ self.query) / options.temperature
            scores = scores.masked_fill(frame_mask == 0, float("-inf"))
            weights = torch.softmax(scores, dim=1).unsqueeze(-1)
            pooled = (weights * frames).sum(dim=1)
            pooled = pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return VideoFeatures(pooled=pooled, frames=frames, frame_mask=frame_mask)

    return AttentionPooling(context.embed_dim)


@hookimpl
def c2vbench_register_temporal_modules():
    yield TemporalSpec(name="$name", summary="$summary",
                       factory=build_$function, options_type=${class_name}Options, order_sensitive=False)
"""

ALIGN = """\
\"\"\"Align head ``$name``: a learned bilinear score between sentence and video embeddings, symmetric InfoNCE.

The example ``c2vbench new-plugin`` wrote: replace its body with your method (and its summary with what it does).
\"\"\"

from __future__ import annotations

import dataclasses

from c2vbench.plugin import AlignSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class ${class_name}Options:
    learn_scale: bool = option(True, help="train the logit scale")


def build_$function(options: ${class_name}Options, context):
    import torch
    from torch import nn

    def normalise(x):
        return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    class BilinearHead(nn.Module):
        wants_alignment_tokens = False

        def __init__(self, width: int, initial_log_scale: float):
            super().__init__()
            self.mixing = nn.Parameter(torch.eye(width))
            self.logit_scale = nn.Parameter(torch.tensor(float(initial_log_scale)), requires_grad=options.learn_scale)

        def forward(self, text, video):
            # Logits [n_text, n_video]: every text against every video, independently of the rest of the batch.
            return self.logit_scale.exp() * normalise(text.eot) @ self.mixing @ normalise(video.pooled).t()

        def loss(self, text, video):
            logits = self.forward(text, video)
            target = torch.arange(len(logits), device=logits.device)
            return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.t(), target)) / 2

    return BilinearHead(context.embed_dim, context.backbone.initial_logit_scale())


@hookimpl
def c2vbench_register_align_heads():
    yield AlignSpec(name="$name", summary="$summary",
                    factory=build_$function, options_type=${class_name}Options)
"""

BACKBONE = """\
\"\"\"Backbone ``$name``: a small convolutional frame encoder and a bag-of-words text encoder, from scratch.

The example ``c2vbench new-plugin`` wrote: replace its body with your method (and its summary with what it does).
\"\"\"

from __future__ import annotations

import dataclasses

from c2vbench.plugin import BackboneSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class ${class_name}Options:
    embed_dim: int = option(64, min=8, max=1024, help="joint embedding width D")
    image_size: int = option(32, min=16, max=512, help="input image side")
    vocab_size: int = option(4096, min=16, help="hashed word vocabulary")
    max_words: int = option(16, min=3, max=77, help="token positions, start and end included")


def build_$function(options: ${class_name}Options):
    import math
    import zlib

    import torch
    from torch import nn

    from c2vbench.plugin import TextFeatures

    class SmallBackbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_dim = options.embed_dim
            self.image_size = options.image_size
            self.image_mean = (0.5, 0.5, 0.5)
            self.image_std = (0.25, 0.25, 0.25)
            self.context_length = options.max_words
            self.frames = nn.Sequential(nn.Conv2d(3, 16, 5, stride=2), nn.GELU(), nn.AdaptiveAvgPool2d(2),
                                        nn.Flatten(), nn.Linear(64, options.embed_dim))
            self.words = nn.Embedding(options.vocab_size, options.embed_dim)
            self.text_projection = nn.Linear(options.embed_dim, options.embed_dim)

        def encode_frames(self, images):
            return self.frames(images)

        def encode_text(self, input_ids, attention_mask):
            tokens = self.text_projection(self.words(input_ids))
            weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
            sentence = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            return TextFeatures(eot=sentence, tokens=tokens, token_mask=attention_mask)

        def tokenize(self, captions):
            ids = torch.zeros(len(captions), options.max_words, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, caption in enumerate(captions):
                words = [1] + [2 + zlib.crc32(w.encode()) % (options.vocab_size - 2) for w in caption.lower().split()]
                words = words[: options.max_words]
                ids[row, : len(words)] = torch.tensor(words)
                mask[row, : len(words)] = 1
            return ids, mask

        def temporal_init_state(self):
            return None  # no text transformer to initialise temporal transformers from

        def initial_logit_scale(self) -> float:
            return math.log(1 / 0.07)

    return SmallBackbone()


@hookimpl
def c2vbench_register_backbones():
    yield BackboneSpec(name="$name", summary="$summary",
                       factory=build_$function, options_type=${class_name}Options)
"""

DATASET = """\
\"\"\"Dataset ``$name``: a folder of videos and a captions file.

The example ``c2vbench new-plugin`` wrote: replace its body with your method (and its summary with what it does).

Layout of ``--data-root``::

    videos/<video_id>.<ext>        # any format decord or PyAV reads
    captions.csv                   # columns video_id, caption, split (train, val or test); one row per caption
\"\"\"

from __future__ import annotations

import dataclasses

from c2vbench.plugin import DatasetSpec, hookimpl, option


@dataclasses.dataclass(frozen=True)
class ${class_name}Options:
    max_frames: int = option(8, min=1, max=64, help="frame slots per video")


def build_$function(options: ${class_name}Options, data_root):
    from c2vbench.plugin import (
        VIDEO_SUFFIXES,
        CaptionRecord,
        DataError,
        FrameSampling,
        RetrievalDataset,
        RetrievalSplit,
        VideoRecord,
        read_csv_rows,
        require_file,
        require_root,
        sha256_file,
    )

    root = require_root("$name", data_root, "videos/ and captions.csv")
    captions_file = require_file(root, "captions.csv", "$name", "write one row per caption: video_id,caption,split")
    files = {path.stem: path for path in sorted((root / "videos").glob("*")) if path.suffix.lower() in VIDEO_SUFFIXES}
    by_split: dict[str, dict[str, list[str]]] = {}
    for row in read_csv_rows(captions_file, ("video_id", "caption", "split")):
        if row["video_id"] not in files:
            raise DataError(f"$name: no video file for {row['video_id']} in {root / 'videos'}",
                            "add the video or remove its captions")
        by_split.setdefault(row["split"], {}).setdefault(row["video_id"], []).append(row["caption"])
    if not {"train", "test"} <= set(by_split):
        raise DataError("$name: captions.csv needs rows for the train and the test split", "add a split column")
    splits = {}
    for split_name, videos in by_split.items():
        records = [VideoRecord(video_id, files[video_id]) for video_id in videos]
        captions = [CaptionRecord(text, index) for index, texts in enumerate(videos.values()) for text in texts]
        splits[split_name] = RetrievalSplit(split_name, records, captions)
    protocol = {"dataset": "$name", "captions_sha256": sha256_file(captions_file),
                "splits": {name: len(split.videos) for name, split in sorted(splits.items())}}
    return RetrievalDataset("$name", splits, FrameSampling(max_frames=options.max_frames), protocol,
                            selection_split="val" if "val" in splits else "test")


@hookimpl
def c2vbench_register_datasets():
    yield DatasetSpec(name="$name", summary="$summary", factory=build_$function,
                      options_type=${class_name}Options)
"""

SOURCES = {"temporal": TEMPORAL, "align": ALIGN, "backbone": BACKBONE, "dataset": DATASET}
WHAT = {
    "temporal": "attention pooling of the valid frames with a learned query",
    "align": "a learned bilinear score of sentence and video embeddings with symmetric InfoNCE",
    "backbone": "a small convolutional frame encoder and a bag-of-words text encoder",
    "dataset": "a folder of videos with a captions.csv",
}
"""What each kind's example computes: its spec's summary, the distribution's description and its README say it."""
USAGE = {
    "temporal": "c2vbench run --temporal $name --dataset synthetic-motion",
    "align": "c2vbench run --align $name --dataset synthetic-motion",
    "backbone": "c2vbench run --backbone $name --dataset synthetic-motion",
    "dataset": "c2vbench run --dataset $name --data-root DIR",
}


def module_name(name: str) -> str:
    """The import name of the plug-in package: ``c2vbench_`` + the name with ``-`` as ``_``."""
    return "c2vbench_" + name.replace("-", "_")


def scaffold(name: str, kind: str, folder: str | Path = ".") -> Path:
    """Write the distribution ``c2vbench-NAME`` into ``folder``; return its path."""
    from c2vbench import __version__
    from c2vbench.platform.specs import SPEC_TYPES

    kind = canonical_kind(kind)
    if kind not in SCAFFOLD_KINDS:
        raise C2VBenchError(f"new-plugin makes no {kind} plug-in", f"--kind is one of {', '.join(SCAFFOLD_KINDS)}")
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise C2VBenchError(f"'{name}' is not a valid component name",
                            "use lower-case letters and digits, words joined by '-' or '_' (e.g. lstm-pool)")
    target = Path(folder).expanduser() / f"c2vbench-{name}"
    if target.exists():
        raise C2VBenchError(f"{target} already exists", "choose another --dir or name; nothing is overwritten")
    module = module_name(name)
    values = {
        "name": name, "kind": kind, "label": SPEC_TYPES[kind].label, "module": module,
        "function": name.replace("-", "_"), "class_name": "".join(part.title() for part in
                                                                 name.replace("_", "-").split("-")),
        "c2vbench_version": __version__,
    }
    values["usage"] = string.Template(USAGE[kind]).substitute(values)
    values.update(what=WHAT[kind], summary=f"{WHAT[kind][0].upper()}{WHAT[kind][1:]} (new-plugin example)",
                  role=SPEC_TYPES[kind].role, check_args="")
    if kind == "dataset":
        values.update(fixture_args="data_root", conform_args=", data_root=data_root",
                      tiny_fixture_args=", data_root", tiny_args=", data_root=data_root")
    else:
        values.update(fixture_args="", conform_args="", tiny_fixture_args="", tiny_args="")
    tests = string.Template(TESTS).substitute(values)
    if kind == "dataset":
        tests = tests.replace("from __future__ import annotations\n",
                              "from __future__ import annotations\n\nimport pytest\n", 1) + DATASET_FIXTURE
    files = {
        "pyproject.toml": string.Template(PYPROJECT).substitute(values),
        "README.md": string.Template(README).substitute(values),
        f"src/{module}/__init__.py": string.Template(SOURCES[kind]).substitute(values),
        "tests/test_plugin.py": tests,
        ".github/workflows/test.yml": string.Template(WORKFLOW).substitute(values),
    }
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target
