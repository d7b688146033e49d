"""Rearranging valid frames (order probes, order conformance): padded slots and masks are never touched."""

from __future__ import annotations

import pytest
import torch

from c2vbench.probes.frame_order import ORDER_KINDS, affected, permutation_index, rearrange_frames, valid_lengths


def left_aligned_mask(lengths, slots):
    return (torch.arange(slots)[None, :] < torch.tensor(lengths)[:, None]).long()


@pytest.mark.parametrize("kind", ORDER_KINDS)
def test_padded_slots_are_untouched_and_valid_frames_stay_among_valid_slots(kind):
    lengths = [5, 1, 0, 8, 2, 3]
    mask = left_aligned_mask(lengths, 8)
    frames = torch.randn(len(lengths), 8, 4)
    rearranged = rearrange_frames(frames, mask, kind, seed=3)
    for row, length in enumerate(lengths):
        assert torch.equal(rearranged[row, length:], frames[row, length:])
        originals = {tuple(frame.tolist()) for frame in frames[row, :length]}
        assert {tuple(frame.tolist()) for frame in rearranged[row, :length]} <= originals
        if length < 2:
            assert torch.equal(rearranged[row], frames[row])
    assert affected(mask).tolist() == [length >= 2 for length in lengths]


def test_each_kind_does_what_it_says_against_a_brute_force():
    lengths = [4, 7]
    mask = left_aligned_mask(lengths, 7)
    frames = torch.arange(14, dtype=torch.float32).reshape(2, 7, 1)
    reversed_ = rearrange_frames(frames, mask, "reverse")
    assert reversed_[0, :, 0].tolist() == [3, 2, 1, 0, 4, 5, 6]
    assert reversed_[1, :, 0].tolist() == [13, 12, 11, 10, 9, 8, 7]
    middle = rearrange_frames(frames, mask, "repeat_middle")
    assert middle[0, :, 0].tolist() == [1, 1, 1, 1, 4, 5, 6]  # n=4: the earlier middle frame, index 1
    assert middle[1, :, 0].tolist() == [10] * 7  # n=7: index 3
    shuffled = permutation_index(mask, "shuffle", seed=0)
    for row, length in enumerate(lengths):
        assert sorted(shuffled[row, :length].tolist()) == list(range(length))
        assert shuffled[row, :length].tolist() != list(range(length))  # never the identity


def test_shuffles_are_fixed_by_the_seed_and_differ_between_seeds():
    mask = left_aligned_mask([6, 6, 6], 6)
    assert torch.equal(permutation_index(mask, "shuffle", 1), permutation_index(mask, "shuffle", 1))
    assert not torch.equal(permutation_index(mask, "shuffle", 1), permutation_index(mask, "shuffle", 2))


def test_a_mask_that_is_not_left_aligned_is_refused():
    with pytest.raises(ValueError, match="left-aligned"):
        valid_lengths(torch.tensor([[0, 1, 1]]))
    with pytest.raises(ValueError, match="0 and 1"):
        valid_lengths(torch.tensor([[2, 1, 0]]))
