"""Shuffling the words of captions: the text side of the order probes.

A caption's words (its whitespace-separated parts, punctuation staying with its word) are put in a fixed random
order and the caption is tokenised again by the backbone's own tokenizer. The tokenizer therefore puts its special
tokens (start and end of text, padding) where it always does: the same tokens, in the same positions, around the
same words in another order. :func:`special_token_positions` finds those tokens for any tokenizer, so that the probe
can check (and report) that they stayed in place.

Permutations are drawn from ``numpy.random.default_rng(seed)``, caption after caption, only for captions that can
change (two different words or more); a draw that reproduces the caption is replaced by a rotation by one word, so
every such caption really changes. Captions that cannot change are reported as unaffected, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

WORD_SHUFFLE = "shuffle_words"


def can_shuffle(caption: str) -> bool:
    """True when shuffling can change the caption (at least two different words)."""
    return len(set(caption.split())) >= 2


def shuffle_words(captions: Sequence[str], seed: int = 0) -> tuple[list[str], list[bool]]:
    """Captions with their words in a fixed random order, and for each whether it changed."""
    rng = np.random.default_rng(int(seed))
    shuffled, changed = [], []
    for caption in captions:
        words = caption.split()
        if not can_shuffle(caption):
            shuffled.append(caption)
            changed.append(False)
            continue
        order = rng.permutation(len(words))
        moved = [words[i] for i in order]
        if moved == words:
            moved = words[-1:] + words[:-1]  # a rotation by one changes any list of two different words or more
        shuffled.append(" ".join(moved))
        changed.append(True)
    return shuffled, changed


def special_token_ids(tokenize: Callable[[list[str]], tuple[Any, Any]]) -> set[int]:
    """The ids a tokenizer adds on its own: those of the empty caption (e.g. CLIP's start and end of text)."""
    input_ids, attention_mask = tokenize([""])
    ids = np.asarray(input_ids)[0]
    mask = np.asarray(attention_mask)[0].astype(bool)
    return {int(token) for token in ids[mask]}


def special_token_positions(input_ids: Any, attention_mask: Any, special_ids: set[int]) -> list[list[tuple[int, int]]]:
    """For every caption, ``(position, id)`` of each special token among its valid positions."""
    ids = np.asarray(input_ids)
    mask = np.asarray(attention_mask).astype(bool)
    positions = []
    for row in range(ids.shape[0]):
        positions.append([(int(column), int(ids[row, column])) for column in np.flatnonzero(mask[row])
                          if int(ids[row, column]) in special_ids])
    return positions


def special_tokens_moved(original: tuple[Any, Any], probed: tuple[Any, Any], special_ids: set[int]) -> int:
    """How many captions have their special tokens at other positions (or other ones) after shuffling."""
    before = special_token_positions(*original, special_ids)
    after = special_token_positions(*probed, special_ids)
    return sum(1 for a, b in zip(before, after, strict=True) if a != b)
