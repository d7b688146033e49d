"""Embeddings and search for one's own videos: ``c2vbench embed`` and ``c2vbench search``.

* :mod:`c2vbench.search.model_source` — the model (a checkpoint, a run, or components for zero-shot use) and its
  identity;
* :mod:`c2vbench.search.embed` — listing videos and embedding the new ones, chunk by chunk, resumably;
* :mod:`c2vbench.search.index_file` — the embeddings file (safetensors: ids, stamps, the video side of the scores);
* :mod:`c2vbench.search.query` — exact top-k search for a text.

This stage sits below the pipeline and above evaluation: it encodes videos through evaluation's own feed and
embedding cache, and ranks with its streamed tile sources.
"""
