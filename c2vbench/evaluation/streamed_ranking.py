"""Exact retrieval ranks without the whole score matrix: scores computed tile by tile, ranks counted tile by tile.

The in-memory path (:func:`c2vbench.evaluation.metrics.evaluate_similarity`) needs the ``[n_text, n_video]`` matrix; at
100k × 100k that is 40 GB in float32. Here the matrix is never held: a :class:`TileScores` source computes one
``text_block × video_block`` tile at a time on the device, and every query's ``g`` (candidates strictly above its
ground truth) and ``e`` (candidates tied with it) are summed tile by tile. The counts are the ones
``evaluate_similarity`` computes from the matrix made of those same tiles, ties included, for text→video and for
the default multi-caption video→text (``all-captions``): the same numbers, from a bounded amount of memory.

How the ground-truth scores stay consistent with the tiles (what makes the tie counts exact): the texts are put in
ground-truth-video order, so the ground truths of one block of texts fall in one or two video blocks. A first pass
computes only those tiles and reads every ground-truth score out of them; the second pass computes every tile
(the same tiles with the same shapes, so the same kernel gives the same bits) and counts. Every tile has the same
padded shape, so a duplicated video scores exactly like the original wherever it lies. The first pass costs about
``2 · video_block / n_video`` of the second.

The one public entry point is :func:`evaluate_streamed` (metrics, per-query ranks, subsets, like
``evaluate_similarity``); :func:`count_streamed` gives the raw counts (e.g. for a sharded evaluation that adds
counts from several processes). Score sources: :class:`DotProductScores` (``text @ video.T``: the ``cosine`` and
``tab`` heads' scores in factorised form, and ``c2vbench score EMB.npz``) and :class:`HeadScores` (any align head,
called on tiles).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from c2vbench.evaluation.metrics import (
    METRIC_NAMES,
    RetrievalEvaluation,
    _check_indices,
    _direction_results,
    check_tie_policy,
    metrics_from_ranks,
    validate_text_to_video,
)
from c2vbench.platform.errors import DataError

DEFAULT_TEXT_BLOCK = 4096
DEFAULT_VIDEO_BLOCK = 4096
# Dot-product tiles on CUDA are wider: the sparse counter synchronises once per tile, and on an H100 (100k x 100k,
# d = 512, fp16) 4096 x 4096 tiles took 2.0x the bare reference, 4096 x 32768 tiles 0.81x (BENCHMARKS.md).
CUDA_DOT_PRODUCT_VIDEO_BLOCK = 32768


def dot_product_blocks(device: torch.device | str) -> tuple[int, int]:
    """The default ``(text_block, video_block)`` tile for dot-product scores on ``device``."""
    if torch.device(device).type == "cuda":
        return DEFAULT_TEXT_BLOCK, CUDA_DOT_PRODUCT_VIDEO_BLOCK
    return DEFAULT_TEXT_BLOCK, DEFAULT_VIDEO_BLOCK


class TileScores(Protocol):
    """A source of score tiles. Rows are addressed in the order given to :meth:`prepare` (ground-truth order)."""

    n_text: int
    n_video: int

    def prepare(self, text_order: np.ndarray, text_block: int, video_block: int, device: torch.device) -> None:
        """Put the text rows in ``text_order`` (a permutation) and get ready to serve tiles of this size."""

    def tile(self, text_block_index: int, video_block_index: int) -> torch.Tensor:
        """The scores of one (text block, video block): ``[rows, cols]`` on the device (partial blocks trimmed),
        valid until the next call (a source may reuse one buffer)."""


class DotProductScores:
    """``score[t, v] = text[t] · video[v]``, one padded matrix product per tile.

    Args:
        text: ``[n_text, F]``; video: ``[n_video, F]`` (torch tensors or numpy arrays).
        dtype: compute dtype (default: float32 on CPU, the inputs' dtype on CUDA). float16/bfloat16 inputs are upcast
            exactly on CPU, where half-precision matrix products are slow.
    """

    def __init__(self, text: Any, video: Any, dtype: torch.dtype | None = None):
        self.text = torch.as_tensor(text)
        self.video = torch.as_tensor(video)
        if self.text.ndim != 2 or self.video.ndim != 2 or self.text.shape[1] != self.video.shape[1]:
            raise DataError(f"text and video embeddings must be [n, d] with the same d, got {tuple(self.text.shape)} "
                            f"and {tuple(self.video.shape)}", "save text_emb as [n_text, d] and video_emb as "
                            "[n_video, d]")
        for name, array in (("text", self.text), ("video", self.video)):
            if not array.is_floating_point():
                raise DataError(f"{name} embeddings must be floating point, got {array.dtype}",
                                "save them as float32 or float16")
            if array.numel() and not bool(torch.isfinite(array).all()):
                raise DataError(f"{name} embeddings contain NaN or infinite values",
                                "fix the model output (such scores cannot be ranked)")
        self.n_text, self.n_video = self.text.shape[0], self.video.shape[0]
        self.dtype = dtype
        self._text_blocks: list[torch.Tensor] = []
        self._video_blocks: list[torch.Tensor] = []
        self._sizes: tuple[list[int], list[int]] = ([], [])
        self._product: torch.Tensor | None = None

    def prepare(self, text_order: np.ndarray, text_block: int, video_block: int, device: torch.device) -> None:
        dtype = self.dtype or (self.text.dtype if device.type == "cuda" else torch.float32)
        text = self.text.to(device=device, dtype=dtype)
        if not np.array_equal(text_order, np.arange(self.n_text)):
            text = text[torch.from_numpy(text_order).to(device)]
        video = self.video.to(device=device, dtype=dtype)
        self._text_blocks, text_sizes = _padded_blocks(text, text_block)
        # transposed views: the product reads them with a transposed-operand flag, no copy
        video_blocks, video_sizes = _padded_blocks(video, video_block)
        self._video_blocks = [block.t() for block in video_blocks]
        self._sizes = (text_sizes, video_sizes)

    def tile(self, text_block_index: int, video_block_index: int) -> torch.Tensor:
        """The tile, written into one buffer reused by every call (a fresh 64 MB product per tile costs a third
        more on a CPU, in page faults): it is valid until the next call."""
        text, video = self._text_blocks[text_block_index], self._video_blocks[video_block_index]
        shape = (text.shape[0], video.shape[1])
        if self._product is None or self._product.shape != shape:
            self._product = text.new_empty(shape)
        torch.mm(text, video, out=self._product)
        return self._product[: self._sizes[0][text_block_index], : self._sizes[1][video_block_index]]


def _padded_blocks(matrix: torch.Tensor, block: int) -> tuple[list[torch.Tensor], list[int]]:
    """Row blocks of ``matrix``; a shorter last block is zero-padded so that every product has the same shape."""
    blocks, sizes = [], []
    for start in range(0, matrix.shape[0], block):
        part = matrix[start:start + block]
        sizes.append(part.shape[0])
        if part.shape[0] < block and matrix.shape[0] > block:
            padded = matrix.new_zeros((block, matrix.shape[1]))
            padded[: part.shape[0]] = part
            part = padded
        blocks.append(part)
    return blocks, sizes


class HeadScores:
    """Any align head's scores, one tile at a time (for heads that offer no factorised form).

    ``text`` and ``video`` are :class:`~c2vbench.platform.interfaces.TextFeatures` / :class:`VideoFeatures` of a whole
    split; ``autocast`` is an optional context-manager factory the tiles are computed under.
    """

    def __init__(self, model, text, video, autocast=None):
        self.model, self.text, self.video = model, text, video
        self.n_text, self.n_video = len(text), len(video)
        self.autocast = autocast

    def prepare(self, text_order: np.ndarray, text_block: int, video_block: int, device: torch.device) -> None:
        self._text = self.text.index(torch.from_numpy(text_order))
        self._video = self.video.to(device)
        self._blocks = (text_block, video_block)
        self._device = device

    @torch.no_grad()
    def tile(self, text_block_index: int, video_block_index: int) -> torch.Tensor:
        text_block, video_block = self._blocks
        rows = slice(text_block_index * text_block, (text_block_index + 1) * text_block)
        cols = slice(video_block_index * video_block, (video_block_index + 1) * video_block)
        text = self._text.index(rows).to(self._device)
        with self.autocast() if self.autocast else contextlib.nullcontext():
            return self.model.similarity(text, self._video.index(cols)).float()


@dataclasses.dataclass
class StreamedCounts:
    """``g`` and ``e`` of every query, in the caller's query order.

    Attributes:
        t2v_above, t2v_tied: per text query (int64 arrays).
        v2t_above, v2t_tied: per video query, multi-caption ``all-captions`` convention.
        truth_scores: each text's ground-truth score (float64, as computed in its tile).
        entries: the scores of the ``(text, video)`` pairs asked for, as computed in their tiles.
    """

    t2v_above: np.ndarray
    t2v_tied: np.ndarray
    v2t_above: np.ndarray
    v2t_tied: np.ndarray
    truth_scores: np.ndarray
    entries: np.ndarray


def _block_range(first: int, last: int, block: int) -> range:
    return range(first // block, last // block + 1)


@torch.no_grad()
def count_streamed(scores: TileScores, text_to_video: Sequence[int], device: torch.device | str = "cpu",
                   text_block: int = DEFAULT_TEXT_BLOCK, video_block: int = DEFAULT_VIDEO_BLOCK,
                   entries: Sequence[tuple[int, int]] = (), method: str = "auto") -> StreamedCounts:
    """Count, tile by tile, how many candidates score above and exactly at every query's ground truth.

    Args:
        scores: the tile source (:class:`DotProductScores`, :class:`HeadScores`).
        text_to_video: ground-truth video of every text; every video needs at least one text.
        device: where the tiles are computed and counted.
        text_block, video_block: tile size (memory: one ``text_block × video_block`` tile and its comparisons).
        entries: ``(text, video)`` pairs whose scores to return (e.g. a pairwise order-twin accuracy).
        method: ``dense`` (four comparisons and four sums per tile) or ``sparse`` (two comparisons, then the
            equalities among the few candidates at or above a threshold: :class:`_SparseTileCounter`); ``auto`` is
            ``sparse``, the faster of the two wherever it was measured (2-core CPU; H100 at every tile size). All
            give the same counts.
    """
    device = torch.device(device)
    if text_block < 1 or video_block < 1:
        raise DataError(f"block sizes must be positive, got {text_block} x {video_block}")
    n_text, n_video = scores.n_text, scores.n_video
    if n_text == 0 or n_video == 0:
        raise DataError(f"nothing to rank: {n_text} texts and {n_video} videos", "give at least one of each")
    mapping = validate_text_to_video(text_to_video, n_text, n_video)
    order = np.argsort(mapping, kind="stable")
    sorted_map = mapping[order]
    position = np.empty(n_text, dtype=np.int64)
    position[order] = np.arange(n_text)
    scores.prepare(order, text_block, video_block, device)
    n_text_blocks = -(-n_text // text_block)
    n_video_blocks = -(-n_video // video_block)
    truth_on_device = torch.from_numpy(sorted_map).to(device)

    # pass 1: each text's ground-truth score, read from the tiles that hold it
    truth: torch.Tensor | None = None
    for tb in range(n_text_blocks):
        start, stop = tb * text_block, min((tb + 1) * text_block, n_text)
        block_truth = truth_on_device[start:stop]
        for vb in _block_range(int(sorted_map[start]), int(sorted_map[stop - 1]), video_block):
            tile = scores.tile(tb, vb)
            if truth is None:
                truth = torch.empty(n_text, dtype=tile.dtype, device=device)
            inside = (block_truth >= vb * video_block) & (block_truth < (vb + 1) * video_block)
            rows = torch.nonzero(inside).squeeze(1)
            truth[start + rows] = tile[rows, block_truth[rows] - vb * video_block]
    assert truth is not None
    if bool(torch.isnan(truth).any()):
        raise DataError("some ground-truth scores are NaN", "fix the model output (NaN scores cannot be ranked)")
    # a video query's ground truth is its best caption (all-captions convention)
    best = torch.full((n_video,), float("-inf"), dtype=truth.dtype, device=device)
    best.scatter_reduce_(0, truth_on_device, truth, reduce="amax")
    truth_at_best = torch.bincount(truth_on_device, weights=(truth == best[truth_on_device]).double(),
                                   minlength=n_video).long()

    wanted = _group_entries(entries, position, text_block, video_block, n_text, n_video)
    entry_values = np.full(len(entries), np.nan)
    counts = {name: torch.zeros(size, dtype=torch.int64, device=device)
              for name, size in (("t2v_at_or_above", n_text), ("t2v_equal", n_text),
                                 ("v2t_at_or_above", n_video), ("v2t_equal", n_video))}
    if method not in ("auto", "dense", "sparse"):
        raise DataError(f"unknown counting method {method!r}", "use auto, dense or sparse")
    count_tile = _count_tile_dense if method == "dense" else _SparseTileCounter()
    # pass 2: every tile once, counted in both directions
    for tb in range(n_text_blocks):
        start, stop = tb * text_block, min((tb + 1) * text_block, n_text)
        row_truth = truth[start:stop].unsqueeze(1)
        for vb in range(n_video_blocks):
            first, last = vb * video_block, min((vb + 1) * video_block, n_video)
            tile = scores.tile(tb, vb)
            count_tile(tile, row_truth, best[first:last].unsqueeze(0), slice(start, stop), slice(first, last),
                       counts)
            for index, row, col in wanted.get((tb, vb), ()):
                entry_values[index] = float(tile[row, col])
    t2v_above = counts["t2v_at_or_above"] - counts["t2v_equal"]
    t2v_equal = counts["t2v_equal"]
    v2t_above = counts["v2t_at_or_above"] - counts["v2t_equal"]
    v2t_equal = counts["v2t_equal"]

    sorted_t2v_above = t2v_above.cpu().numpy()
    # the ground truth equals its own score (same tile, same bits): it is not an "other" candidate
    sorted_t2v_tied = t2v_equal.cpu().numpy() - 1
    truth_sorted = truth.double().cpu().numpy()
    return StreamedCounts(
        t2v_above=sorted_t2v_above[position],
        t2v_tied=sorted_t2v_tied[position],
        # ground-truth captions never score above the best one; those equal to it are not other candidates
        v2t_above=v2t_above.cpu().numpy(),
        v2t_tied=(v2t_equal - truth_at_best).cpu().numpy(),
        truth_scores=truth_sorted[position],
        entries=entry_values,
    )


def _count_tile_dense(tile: torch.Tensor, row_truth: torch.Tensor, column_best: torch.Tensor, rows: slice,
                      cols: slice, counts: dict[str, torch.Tensor]) -> None:
    """Four comparisons and four sums over the whole tile (the reference method: no synchronisation, but every
    pass reads the whole tile)."""
    counts["t2v_at_or_above"][rows] += (tile >= row_truth).sum(dim=1)
    counts["t2v_equal"][rows] += (tile == row_truth).sum(dim=1)
    counts["v2t_at_or_above"][cols] += (tile >= column_best).sum(dim=0)
    counts["v2t_equal"][cols] += (tile == column_best).sum(dim=0)


class _SparseTileCounter:
    """Counts a tile with two comparisons and no reductions over it. On a CPU every pass over a 64 MB tile costs
    about a sixth of its matrix product and a boolean sum costs three passes; on a GPU the passes are cheap but
    the reductions are not, and the synchronisation this method needs once per tile is paid back on wide tiles.

    ``tile >= row_truth`` and ``tile >= column_best`` are written into two reused boolean buffers. Candidates at or
    above a threshold are rare in retrieval, so each buffer is read as 64-bit words (8 flags per word): the few
    non-zero words are found in one pass over an eighth of the memory, and only their bytes are decoded into
    ``(row, column)`` candidates, whose scores are then compared for equality. When candidates are not rare (more
    than one word in ``DENSE_WORD_FRACTION`` set: an untrained model, say) the same buffers are summed instead; on
    a 4096 × 4096 tile decoding stays the faster of the two up to about 400 candidates per row, where about half
    the words are set. Both give exactly the counts of :func:`_count_tile_dense`."""

    DENSE_WORD_FRACTION = 2

    def __init__(self) -> None:
        self._flags: dict[tuple[int, int], torch.Tensor] = {}

    def _buffers(self, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
        """Two flat flag buffers of a whole number of words; the padding past the tile stays False."""
        if shape not in self._flags:
            words = -(-(shape[0] * shape[1]) // 8)
            self._flags[shape] = torch.zeros((2, words * 8), dtype=torch.bool, device=device)
        return self._flags[shape]

    def __call__(self, tile: torch.Tensor, row_truth: torch.Tensor, column_best: torch.Tensor, rows: slice,
                 cols: slice, counts: dict[str, torch.Tensor]) -> None:
        n_rows, n_cols = tile.shape
        flags = self._buffers((n_rows, n_cols), tile.device)
        above_row = flags[0, : n_rows * n_cols].view(n_rows, n_cols)
        above_column = flags[1, : n_rows * n_cols].view(n_rows, n_cols)
        torch.ge(tile, row_truth, out=above_row)
        torch.ge(tile, column_best, out=above_column)
        words = flags.view(torch.int64)
        hit_row, hit_column = words[0].nonzero().squeeze(1), words[1].nonzero().squeeze(1)
        if max(len(hit_row), len(hit_column)) * self.DENSE_WORD_FRACTION > words.shape[1]:
            counts["t2v_at_or_above"][rows] += above_row.sum(dim=1)
            counts["v2t_at_or_above"][cols] += above_column.sum(dim=0)
            counts["t2v_equal"][rows] += (tile == row_truth).sum(dim=1)
            counts["v2t_equal"][cols] += (tile == column_best).sum(dim=0)
            return
        bytes_of = flags.view(2, -1, 8)
        # per direction: its flags (0: text queries, one per row; 1: video queries, one per column), threshold, counts
        directions = ((0, hit_row, row_truth[:, 0], "t2v", rows, n_rows),
                      (1, hit_column, column_best[0], "v2t", cols, n_cols))
        for which, hit, threshold, direction, span, size in directions:
            word, byte = bytes_of[which, hit].nonzero(as_tuple=True)
            position = hit[word] * 8 + byte
            row, col = position // n_cols, position % n_cols
            query = row if which == 0 else col
            equal = tile[row, col] == threshold[query]
            counts[f"{direction}_at_or_above"][span] += torch.bincount(query, minlength=size)
            counts[f"{direction}_equal"][span] += torch.bincount(query[equal], minlength=size)


def _group_entries(entries: Sequence[tuple[int, int]], position: np.ndarray, text_block: int, video_block: int,
                   n_text: int, n_video: int) -> dict[tuple[int, int], list[tuple[int, int, int]]]:
    grouped: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for index, (text, video) in enumerate(entries):
        if not (0 <= text < n_text and 0 <= video < n_video):
            raise DataError(f"entry ({text}, {video}) lies outside the {n_text} x {n_video} scores")
        row = int(position[text])
        grouped.setdefault((row // text_block, video // video_block), []).append(
            (index, row % text_block, video % video_block))
    return grouped


def evaluate_streamed(
    scores: TileScores,
    text_to_video: Sequence[int],
    tie: str = "expected",
    subsets: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None,
    device: torch.device | str = "cpu",
    text_block: int = DEFAULT_TEXT_BLOCK,
    video_block: int = DEFAULT_VIDEO_BLOCK,
) -> RetrievalEvaluation:
    """Metrics, per-query ranks and subsets as :func:`c2vbench.evaluation.metrics.evaluate_similarity` gives them
    (``v2t_mode="all-captions"``), without ever holding more than one tile of scores."""
    check_tie_policy(tie)
    counts = count_streamed(scores, text_to_video, device, text_block, video_block)
    return evaluation_from_counts(counts, np.asarray(text_to_video, dtype=np.int64), tie, subsets)


def evaluation_from_counts(counts: StreamedCounts, text_to_video: np.ndarray, tie: str,
                           subsets: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None
                           ) -> RetrievalEvaluation:
    """The :class:`RetrievalEvaluation` of streamed counts (shaped exactly as ``evaluate_similarity``'s)."""
    t2v_metrics, t2v_ranks, t2v_ties = _direction_results(counts.t2v_above, counts.t2v_tied, tie)
    v2t_metrics, v2t_ranks, v2t_ties = _direction_results(counts.v2t_above, counts.v2t_tied, tie)
    per_query = {"t2v_rank": t2v_ranks, "v2t_rank": v2t_ranks, "t2v_ties": t2v_ties, "v2t_ties": v2t_ties,
                 "t2v_video": text_to_video.tolist()}
    n_text, n_video = len(counts.t2v_above), len(counts.v2t_above)
    subset_results: dict[str, dict[str, Any]] = {}
    t2v_ranks_array, v2t_ranks_array = np.asarray(t2v_ranks), np.asarray(v2t_ranks)
    for name, (caption_indices, video_indices) in (subsets or {}).items():
        captions = _check_indices(caption_indices, n_text, "caption", name)
        videos = _check_indices(video_indices, n_video, "video", name)
        subset_results[name] = {
            "metrics": {
                "t2v": metrics_from_ranks(t2v_ranks_array[captions], counts.t2v_tied[captions], tie)
                if captions.size else dict.fromkeys(METRIC_NAMES),
                "v2t": metrics_from_ranks(v2t_ranks_array[videos], counts.v2t_tied[videos], tie)
                if videos.size else dict.fromkeys(METRIC_NAMES),
            },
            "per_query": {
                "t2v_rank": t2v_ranks_array[captions].tolist(),
                "v2t_rank": v2t_ranks_array[videos].tolist(),
                "t2v_ties": counts.t2v_tied[captions].tolist(),
                "v2t_ties": counts.v2t_tied[videos].tolist(),
                "t2v_video": text_to_video[captions].tolist(),
            },
        }
    return RetrievalEvaluation(metrics={"t2v": t2v_metrics, "v2t": v2t_metrics}, per_query=per_query,
                               subsets=subset_results, tie=tie, v2t_mode="all-captions")


@dataclasses.dataclass
class StreamedScores:
    """A split's scores ready to be ranked streamed: what evaluation passes around instead of a score matrix."""

    source: TileScores
    device: torch.device
    text_block: int = DEFAULT_TEXT_BLOCK
    video_block: int = DEFAULT_VIDEO_BLOCK

    @property
    def shape(self) -> tuple[int, int]:
        return self.source.n_text, self.source.n_video

    def evaluate(self, text_to_video: Sequence[int], tie: str = "expected",
                 subsets: Mapping[str, tuple[Sequence[int], Sequence[int]]] | None = None,
                 entries: Sequence[tuple[int, int]] = ()) -> tuple[RetrievalEvaluation, np.ndarray]:
        """The evaluation (as :func:`evaluate_streamed`) and the scores of the ``(text, video)`` ``entries``."""
        check_tie_policy(tie)
        counts = count_streamed(self.source, text_to_video, self.device, self.text_block, self.video_block, entries)
        return evaluation_from_counts(counts, np.asarray(text_to_video, dtype=np.int64), tie, subsets), counts.entries

    def matrix(self) -> np.ndarray:
        """The whole ``[n_text, n_video]`` matrix in the caller's text order, assembled from the tiles: for small
        splits only (tests, probes that need every score)."""
        n_text, n_video = self.shape
        order = np.arange(n_text)
        self.source.prepare(order, self.text_block, self.video_block, self.device)
        out = np.empty((n_text, n_video), dtype=np.float64)
        for tb in range(-(-n_text // self.text_block)):
            for vb in range(-(-n_video // self.video_block)):
                tile = self.source.tile(tb, vb).double().cpu().numpy()
                out[tb * self.text_block: tb * self.text_block + tile.shape[0],
                    vb * self.video_block: vb * self.video_block + tile.shape[1]] = tile
        return out
