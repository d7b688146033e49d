"""The public API for plug-in authors: everything a plug-in imports from c2vbench, in one place.

Import from here, never from deeper modules (their layout may change between releases; this module's names will
not, except through a deprecation)::

    from c2vbench.plugin import TemporalSpec, VideoFeatures, hookimpl

What is here, by topic:

* registering: :data:`hookimpl` (the marker) and the spec types each hook yields — :class:`BackboneSpec`,
  :class:`TemporalSpec`, :class:`AlignSpec` (formerly ``SimilaritySpec``), :class:`DatasetSpec`,
  :class:`CheckpointFormatSpec` — plus :class:`NoOptions` for components without options;
* options: component options are frozen dataclasses with defaults; :func:`option` declares a field's help text and
  allowed values (type, range, choices), which ``c2vbench plugins --options NAME`` shows and the core enforces;
* the model side: the interfaces (:class:`Backbone`, :class:`TemporalModule`, :class:`AlignHead`), the feature
  containers (:class:`TextFeatures`, :class:`VideoFeatures`), :class:`BuildContext` (what factories receive),
  :class:`TemporalInitState` and :class:`RetrievalModel` (what checkpoint formats return);
* errors: raise :class:`C2VBenchError` (or :class:`DataError` for data problems) with ``(problem, fix)``: the CLI
  prints it as one line and exits 2; any other exception from a plug-in is reported as a failure of that plug-in;
* datasets: the records (:class:`VideoRecord`, :class:`CaptionRecord`, :class:`QuerySubset`,
  :class:`TextContrast`, :class:`RetrievalSplit`, :class:`RetrievalDataset`), :class:`FrameSampling`, and the
  building blocks the built-in datasets use (:class:`VideoSources`, :func:`build_split`, :func:`protocol_card`,
  :class:`RealDatasetOptions`, the annotation readers, :func:`reversed_copy`).

Conventions every component follows (checked by :mod:`c2vbench.testing`):

* frame masks are **left-aligned**: a video's valid frames fill slots ``0 .. n-1`` and its padded slots follow,
  ``frame_mask[b, t] == 1`` for valid frames; padded slots may hold anything (the embedding of a blank image today)
  and must not change a temporal module's output;
* ``VideoFeatures.pooled`` and ``TextFeatures.eot`` are float tensors ``[B, D]`` with the backbone's ``embed_dim``;
  they need not be normalised (the built-in align heads normalise what they score);
* nothing in a component moves tensors between devices: components follow the device of their inputs.

Heavier names (those that import numpy or torch) are resolved on first use, so importing this module from a
plug-in's top level keeps ``c2vbench plugins`` fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from c2vbench.platform.errors import C2VBenchError, DataError, PluginError
from c2vbench.platform.hookspecs import hookimpl
from c2vbench.platform.options import option
from c2vbench.platform.specs import (
    AlignSpec,
    BackboneSpec,
    CheckpointFormatSpec,
    ComponentSpec,
    DatasetSpec,
    NoOptions,
    SimilaritySpec,
    TemporalSpec,
)

# name -> module that defines it, imported when the name is first used
_LAZY = {
    # model side
    "Backbone": "c2vbench.platform.interfaces",
    "TemporalModule": "c2vbench.platform.interfaces",
    "AlignHead": "c2vbench.platform.interfaces",
    "Similarity": "c2vbench.platform.interfaces",
    "TextFeatures": "c2vbench.platform.interfaces",
    "VideoFeatures": "c2vbench.platform.interfaces",
    "BuildContext": "c2vbench.platform.interfaces",
    "TemporalInitState": "c2vbench.platform.interfaces",
    "RetrievalModel": "c2vbench.model.retrieval_model",
    # dataset records and sampling
    "VideoRecord": "c2vbench.data.types",
    "CaptionRecord": "c2vbench.data.types",
    "QuerySubset": "c2vbench.data.types",
    "TextContrast": "c2vbench.data.types",
    "RetrievalSplit": "c2vbench.data.types",
    "RetrievalDataset": "c2vbench.data.types",
    "FrameSampling": "c2vbench.data.sampling",
    "VIDEO_SUFFIXES": "c2vbench.data.decoding",
    "decoder_versions": "c2vbench.data.decoders",
    "sha256_file": "c2vbench.data.extraction",
    "reversed_copy": "c2vbench.data.reversal",
    # dataset building blocks
    "RealDatasetOptions": "c2vbench.data.dataset_options",
    "VideoSources": "c2vbench.data.building",
    "build_split": "c2vbench.data.building",
    "split_of_records": "c2vbench.data.building",
    "carve_validation": "c2vbench.data.building",
    "carving_description": "c2vbench.data.building",
    "validation_or_test": "c2vbench.data.building",
    "check_selection": "c2vbench.data.building",
    "protocol_card": "c2vbench.data.building",
    "refuse_overlap": "c2vbench.data.building",
    "refuse_overlaps": "c2vbench.data.building",
    "frame_sampling": "c2vbench.data.building",
    "require_root": "c2vbench.data.building",
    "read_annotation_files": "c2vbench.data.building",
    "confined_name": "c2vbench.data.building",
    "require_file": "c2vbench.data.annotations",
    "read_id_list": "c2vbench.data.annotations",
    "read_csv_rows": "c2vbench.data.annotations",
    "read_csv_column": "c2vbench.data.annotations",
    "read_json": "c2vbench.data.annotations",
    "read_text": "c2vbench.data.annotations",
    "load_plain_pickle": "c2vbench.data.annotations",
    # weights files: tensors only, never code
    "read_tensor_file": "c2vbench.runtime.tensor_files",
    "refuse_code_archive": "c2vbench.runtime.tensor_files",
    "CodeArchiveError": "c2vbench.runtime.tensor_files",
}

__all__ = [
    "hookimpl",
    "ComponentSpec", "BackboneSpec", "TemporalSpec", "AlignSpec", "SimilaritySpec", "DatasetSpec",
    "CheckpointFormatSpec", "NoOptions", "option",
    "C2VBenchError", "DataError", "PluginError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'c2vbench.plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
