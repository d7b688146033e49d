"""Hook specifications: the plug-in API of c2vbench.

A plug-in is any module (or object) with functions decorated by :data:`c2vbench.hookimpl` whose names match the
hooks below. Distributions register such modules under the entry-point group ``c2vbench``::

    [project.entry-points.c2vbench]
    my-temporal = "my_package.temporal"

Every registration hook returns an iterable (a generator is fine) of spec objects from :mod:`c2vbench.platform.specs`.
The core collects the specs of all plug-ins, checks that every name is lower-case and unique within its kind, and
records which distribution provided each one. Factories are called only for the components a run selects.

No plug-in of any kind may use ``torch.distributed``: under torchrun the core shards the batches and the splits,
gathers features and averages gradients for every component (see :func:`c2vbench_register_align_heads`); a
component only computes on the tensors it is given, the same way on every process.

The docstrings in this module are the reference for plug-in authors; ``tests/test_hookspecs.py`` fails when a hook
lacks its arguments, yields and example sections.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

PROJECT_NAME = "c2vbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""The marker of a plug-in's hook implementations: ``@hookimpl`` over a function named after a hook."""


@hookspec
def c2vbench_register_backbones() -> Iterable:
    """Register image-and-text encoders.

    Arguments:
        none.

    Yields:
        :class:`c2vbench.platform.specs.BackboneSpec` objects. ``factory(options)`` returns an ``nn.Module``
        implementing :class:`c2vbench.platform.interfaces.Backbone`: ``encode_frames`` (images to per-frame embeddings),
        ``encode_text`` (token ids to EOT and per-token embeddings), ``tokenize``, and the preprocessing constants
        ``image_size``, ``image_mean`` and ``image_std``.

    Example::

        @c2vbench.hookimpl
        def c2vbench_register_backbones():
            yield BackboneSpec(name="my-clip", summary="CLIP with my tweaks", factory=build_my_clip,
                               options_type=MyClipOptions)
    """


@hookspec
def c2vbench_register_temporal_modules() -> Iterable:
    """Register temporal modules: frame embeddings and a frame mask to a video embedding.

    Arguments:
        none.

    Yields:
        :class:`c2vbench.platform.specs.TemporalSpec` objects. ``factory(options, context)`` receives a
        :class:`c2vbench.platform.interfaces.BuildContext` (the built backbone, its embedding width, the number of
        frames) and returns an ``nn.Module`` implementing :class:`c2vbench.platform.interfaces.TemporalModule`:
        ``forward(frames, frame_mask, want_alignment_tokens=False)`` returning
        :class:`c2vbench.platform.interfaces.VideoFeatures`. A module that can offer richer tokens to an alignment head
        (as TDB offers its difference-enhanced half-rate stream to TAB) sets ``provides_alignment_tokens = True`` and
        fills ``VideoFeatures.alignment_tokens`` and ``alignment_mask`` when asked to.

    Example::

        @c2vbench.hookimpl
        def c2vbench_register_temporal_modules():
            yield TemporalSpec(name="maxp", summary="max pooling over frames",
                               factory=lambda options, context: MaxPool())
    """


@hookspec
def c2vbench_register_align_heads() -> Iterable:
    """Register align (similarity) heads, selected with ``--align``.

    Arguments:
        none.

    Yields:
        :class:`c2vbench.platform.specs.AlignSpec` objects. ``factory(options, context)`` receives a
        :class:`c2vbench.platform.interfaces.BuildContext` (with ``context.temporal`` set to the built temporal module)
        and returns an ``nn.Module`` implementing :class:`c2vbench.platform.interfaces.AlignHead`: ``forward(text,
        video)`` gives the retrieval logits ``[n_text, n_video]`` (a float tensor, finite) and ``loss(text, video)`` the
        training loss on a batch of matching pairs (row i matches column i). A head that wants token-level video
        features sets ``wants_alignment_tokens = True``.

        Under torchrun (data-parallel training, see :mod:`c2vbench.runtime.distributed`) the core gathers the text and
        video features of the whole global batch from every process before it calls ``loss``, with a gather whose
        backward hands each process the gradient of its own rows, and DDP averages the gradients: ``loss`` sees
        exactly the batch a single process would, and a head needs nothing for data parallelism. A head must not
        call ``torch.distributed`` itself (no all-gather, all-reduce or barrier of its own: the core has gathered
        already, and a collective only some ranks reach hangs the run), must not depend on the rank or the world
        size, and must compute ``loss`` from its inputs alone (no state carried between batches).

    Example::

        @c2vbench.hookimpl
        def c2vbench_register_align_heads():
            yield AlignSpec(name="dot", summary="unscaled dot product",
                            factory=lambda options, context: DotProduct())
    """


@hookspec(warn_on_impl=DeprecationWarning(
    "c2vbench_register_similarities is deprecated: implement c2vbench_register_align_heads (same specs)"))
def c2vbench_register_similarities() -> Iterable:
    """Deprecated spelling of :func:`c2vbench_register_align_heads`; still collected, with a DeprecationWarning.

    Arguments:
        none.

    Yields:
        :class:`c2vbench.platform.specs.AlignSpec` objects (``SimilaritySpec`` is the same class under its old name).

    Example::

        @c2vbench.hookimpl
        def c2vbench_register_similarities():  # old name: prefer c2vbench_register_align_heads
            yield SimilaritySpec(name="dot", summary="unscaled dot product",
                                 factory=lambda options, context: DotProduct())
    """


@hookspec
def c2vbench_register_datasets() -> Iterable:
    """Register retrieval datasets: videos, captions, splits and their frame-sampling protocol.

    Arguments:
        none.

    Yields:
        :class:`c2vbench.platform.specs.DatasetSpec` objects. ``factory(options, data_root)`` receives the dataset's
        options and the ``--data-root`` path (``None`` when not given; a spec with ``needs_data_root=False`` generates
        or ships its data) and returns a :class:`c2vbench.data.types.RetrievalDataset`: named splits of
        :class:`c2vbench.data.types.RetrievalSplit` (video records, caption records, optional query subsets) and a
        protocol description that goes, hashed, into every result.

    Example::

        @c2vbench.hookimpl
        def c2vbench_register_datasets():
            yield DatasetSpec(name="my-clips", summary="our lab's clips", factory=load_my_clips,
                              options_type=MyClipsOptions)
    """


@hookspec
def c2vbench_register_checkpoint_formats() -> Iterable:
    """Register checkpoint file formats readable by :func:`c2vbench.load_checkpoint` and ``c2vbench eval``.

    Arguments:
        none.

    Yields:
        :class:`c2vbench.platform.specs.CheckpointFormatSpec` objects. ``factory(path, legacy_mask=False, **options)``
        reads the file at ``path`` (safely: ``torch.load(..., weights_only=True)`` or safetensors) and returns a
        :class:`c2vbench.model.retrieval_model.RetrievalModel` in eval mode, with every size inferred from the file.

    Example::

        @c2vbench.hookimpl
        def c2vbench_register_checkpoint_formats():
            yield CheckpointFormatSpec(name="xclip", summary="X-CLIP release files", factory=load_xclip_file)
    """
