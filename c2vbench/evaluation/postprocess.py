"""Similarity post-processors and the leaderboard track each one belongs to.

Post-processing changes what a number means, so every post-processor declares a *track*, and leaderboards never
rank rows of different tracks together:

* ``inductive`` — ``none``: each query is scored on its own; deployable as is.
* ``transductive`` — ``dsl``: uses the scores of *all test queries* at once (the test query set acts as a prior).
  Not possible for a system answering one query at a time.
* ``query-bank`` — ``qbnorm``: normalises with a bank of *training* queries only; deployable, but still a
  post-processing step with an extra bank. It is applied per direction (:class:`DirectionalScores`): text→video
  with a bank of training captions scored against the test videos, video→text with a bank of training *videos*
  scored against the test captions (a matrix normalised for one direction says nothing about the other).

All functions take and return ``[n_text, n_video]`` matrices (texts are the queries of text-to-video retrieval).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from c2vbench.evaluation.metrics import validate_similarity
from c2vbench.platform.errors import DataError

TRACKS = ("inductive", "query-bank", "transductive")

# rows of a query-bank normalisation processed at once (float64 temporaries of chunk x n_video)
_CHUNK_ROWS = 1024


def _float_matrix(sim: Any, name: str) -> np.ndarray:
    array = validate_similarity(sim, name)
    if np.isinf(array).any():
        raise DataError(f"{name} contains infinite values", "post-processors need finite scores")
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _log_softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def dual_softmax(sim: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Dual softmax (DSL, CAMoE): ``S' = S * softmax(S / temperature)`` with the softmax taken over the text axis.

    Each text-to-video score is re-weighted by how strongly *that video* prefers *that text* among all test texts
    (a column-wise softmax over every test query). This is **transductive**: the score of one query depends on
    all the other test queries, so it needs the whole test query set up front. Constant factors (CAMoE's extra
    ``* N``) do not change any ranking and are left out.

    Args:
        sim: ``[n_text, n_video]`` scores.
        temperature: softmax temperature (CAMoE uses 1 at inference).

    Returns:
        a new matrix of sim's float dtype (float64 for integer input).
    """
    if not temperature > 0:
        raise DataError(f"DSL temperature must be positive, got {temperature}")
    scores = _float_matrix(sim, "sim")
    prior = np.exp(_log_softmax(scores / scores.dtype.type(temperature), axis=0))
    return (scores * prior).astype(scores.dtype, copy=False)


def qb_norm(sim: np.ndarray, bank_sim: np.ndarray, beta: float = 20.0, k: int = 1) -> np.ndarray:
    """Query-bank normalisation with the dynamic inverted softmax (Bogolin et al., CVPR 2022).

    Let ``active`` be the set of videos that are among the top ``k`` videos of at least one bank query. A test
    query whose top-1 video is in ``active`` gets the row ``exp(beta * s) / sum_b exp(beta * bank_sim[b, video])``
    (per video column); other rows are returned unchanged. The division is done in log space
    (``beta * s - logsumexp_b(beta * bank_sim[b, video])``) so large ``beta`` cannot overflow the normaliser.

    The normalised and unchanged rows are on different scales, so only text-to-video rankings (row-wise) are
    meaningful afterwards; video-to-text numbers of a query-bank-normalised matrix should not be reported.

    Args:
        sim: ``[n_text, n_video]`` test scores.
        bank_sim: ``[n_bank, n_video]`` scores of the bank (training) captions against the same test videos.
        beta: inverse temperature (20 in the paper; 1/1.99 reported for CLIP2Video).
        k: how many top videos of each bank query make a video "active".

    Returns:
        a new matrix of sim's float dtype (float64 for integer input).
    """
    scores = _float_matrix(sim, "sim")
    bank = _float_matrix(bank_sim, "bank_sim")
    if bank.shape[1] != scores.shape[1]:
        raise DataError(
            f"bank_sim has {bank.shape[1]} video columns but sim has {scores.shape[1]}",
            "score the bank captions against the same test videos, in the same column order",
        )
    if not 1 <= k <= scores.shape[1]:
        raise DataError(f"qbnorm k must lie in 1..{scores.shape[1]}, got {k}")
    if not beta > 0:
        raise DataError(f"qbnorm beta must be positive, got {beta}")

    # top-k videos of every bank query (argpartition: order within the top k is irrelevant)
    bank_top = np.argpartition(-bank, k - 1, axis=1)[:, :k]
    active = np.zeros(scores.shape[1], dtype=bool)
    active[bank_top.ravel()] = True

    # log of the per-video normaliser, accumulated chunk by chunk in float64
    log_normaliser = np.full(scores.shape[1], -np.inf)
    for start in range(0, bank.shape[0], _CHUNK_ROWS):
        logits = beta * bank[start : start + _CHUNK_ROWS].astype(np.float64)
        log_normaliser = np.logaddexp(log_normaliser, _logsumexp_columns(logits))

    result = scores.copy()
    normalised_rows = np.flatnonzero(active[np.argmax(scores, axis=1)])
    for start in range(0, normalised_rows.size, _CHUNK_ROWS):
        rows = normalised_rows[start : start + _CHUNK_ROWS]
        result[rows] = np.exp(beta * scores[rows].astype(np.float64) - log_normaliser[None, :])
    return result


def _logsumexp_columns(logits: np.ndarray) -> np.ndarray:
    peak = logits.max(axis=0)
    return peak + np.log(np.exp(logits - peak[None, :]).sum(axis=0))


@dataclasses.dataclass(frozen=True)
class DirectionalScores:
    """Post-processed scores that differ per direction: rank texts for each video in ``v2t`` (columns), videos for
    each text in ``t2v`` (rows); both ``[n_text, n_video]``."""

    t2v: np.ndarray
    v2t: np.ndarray


def qb_norm_both_directions(sim: np.ndarray, text_bank_sim: np.ndarray, video_bank_sim: np.ndarray,
                            beta: float = 20.0, k: int = 1) -> DirectionalScores:
    """QB-Norm for each direction with its own query bank.

    Args:
        sim: ``[n_text, n_video]`` test scores.
        text_bank_sim: ``[n_bank_texts, n_video]`` training captions against the test videos (text→video bank).
        video_bank_sim: ``[n_bank_videos, n_text]`` training videos against the test captions (video→text bank).
    """
    t2v = qb_norm(sim, text_bank_sim, beta, k)
    v2t = qb_norm(np.ascontiguousarray(np.asarray(sim).T), video_bank_sim, beta, k).T
    return DirectionalScores(t2v, np.ascontiguousarray(v2t))


@dataclasses.dataclass(frozen=True)
class PostProcessor:
    """A named post-processor.

    Attributes:
        name: identifier used by ``--postprocess``.
        track: leaderboard track (one of :data:`TRACKS`).
        summary: one line for listings.
        needs_bank: whether :meth:`apply` needs ``bank_sim``.
        function: ``function(sim, **options)`` or ``function(sim, bank_sim, **options)``.
    """

    name: str
    track: str
    summary: str
    needs_bank: bool
    function: Callable[..., np.ndarray]

    def apply(self, sim: np.ndarray, bank_sim: np.ndarray | None = None, **options: Any) -> np.ndarray:
        if self.needs_bank:
            if bank_sim is None:
                raise DataError(
                    f"post-processor {self.name!r} needs a query bank",
                    "provide bank_sim: [n_bank_queries, n_video] similarities of training captions to the videos",
                )
            return self.function(sim, bank_sim, **options)
        return self.function(sim, **options)


def _identity(sim: np.ndarray) -> np.ndarray:
    return validate_similarity(sim)


POSTPROCESSORS: dict[str, PostProcessor] = {
    "none": PostProcessor("none", "inductive", "No post-processing.", False, _identity),
    "dsl": PostProcessor("dsl", "transductive", "Dual softmax over the test query set (CAMoE).", False, dual_softmax),
    "qbnorm": PostProcessor(
        "qbnorm", "query-bank", "Query-bank normalisation, dynamic inverted softmax.", True, qb_norm
    ),
}


def get_postprocessor(name: str) -> PostProcessor:
    """The registered post-processor called ``name`` or a :class:`DataError` listing the known names."""
    try:
        return POSTPROCESSORS[name]
    except KeyError:
        raise DataError(f"unknown post-processor {name!r}", f"use one of {', '.join(POSTPROCESSORS)}") from None
