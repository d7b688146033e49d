"""seqtransf and tdb against an independent float64 re-statement of the reference maths, plus behaviour tests."""

from __future__ import annotations

import _clip2video_reference as reference
import pytest
import torch
from c2vbench_builtins._layers.blocks import CLIP_BLOCK_KEYS, key_padding_bias
from c2vbench_builtins.backbones.tiny_clip import TinyClipOptions, build_tiny_clip
from c2vbench_builtins.temporal._modules import SequenceTransformer, TemporalDifferenceBlock
from c2vbench_builtins.temporal.meanp import build_meanp
from c2vbench_builtins.temporal.seqtransf import SeqTransfOptions, build_seqtransf
from c2vbench_builtins.temporal.tdb import TdbOptions, build_tdb

from c2vbench.platform.interfaces import BuildContext

WIDTH = 128  # two heads of 64, so the per-head mask tiling is visible
SLOTS = 7


class NoTextBackbone:
    """A backbone without a text transformer: temporal modules must fall back to random initialisation."""

    embed_dim = WIDTH

    def temporal_init_state(self):
        return None

    def initial_logit_scale(self):
        return 4.6


def context(width: int = WIDTH, slots: int = SLOTS, backbone=None) -> BuildContext:
    return BuildContext(backbone=backbone or NoTextBackbone(), embed_dim=width, max_frames=slots)


def randomise_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter random (LayerNorm weights around 1), so that no term of the maths can hide."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith(("ln_1.weight", "ln_2.weight", "trans_layernorm.weight")):
                parameter.copy_(1.0 + 0.1 * noise)
            else:
                parameter.copy_(0.1 * noise)
    return module.eval()


def video_batch(lengths: list[int], slots: int = SLOTS, width: int = WIDTH, seed: int = 1):
    """Frames ``[B, T, D]`` and a left-aligned mask; padded slots share one "zero image" embedding, as CLIP of an
    all-zero image would give."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn(len(lengths), slots, width, generator=generator)
    zero_image = torch.randn(width, generator=generator)
    mask = torch.zeros(len(lengths), slots, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        frames[row, length:] = zero_image
    return frames, mask


def official_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach() for key, value in module.state_dict().items()}


def test_legacy_bias_follows_the_tiling_rule_and_corrected_bias_is_per_sample():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]])
    legacy = key_padding_bias(mask, heads=2, legacy=True, dtype=torch.float32)
    corrected = key_padding_bias(mask, heads=2, legacy=False, dtype=torch.float32)
    # (b, h) -> sample (b*2 + h) mod 3, written out by hand.
    expected_source = {(0, 0): 0, (0, 1): 1, (1, 0): 2, (1, 1): 0, (2, 0): 1, (2, 1): 2}
    for (b, h), source in expected_source.items():
        assert torch.equal(legacy[b, h, 0], (1 - mask[source].float()) * -1e6)
        assert torch.equal(corrected[b, 0, 0], (1 - mask[b].float()) * -1e6)


@pytest.mark.parametrize("legacy", [False, True])
def test_seqtransf_matches_reference(legacy):
    module = randomise_(build_seqtransf(SeqTransfOptions(layers=2, legacy_mask=legacy), context()))
    frames, mask = video_batch([7, 3, 5])
    pooled = module(frames, mask).pooled
    expected = reference.seqtransf_pooled(frames.double(), mask, {k: v.double() for k, v in
                                                                  official_state(module).items()}, legacy)
    torch.testing.assert_close(pooled.double(), expected, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("difference", ["sigmoid_selfA", "sigmoid_mlp", "raw"])
@pytest.mark.parametrize("legacy", [False, True])
def test_tdb_matches_reference(difference, legacy):
    options = TdbOptions(layers=2, difference=difference, legacy_mask=legacy)
    module = randomise_(build_tdb(options, context()))
    frames, mask = video_batch([7, 3, 5])  # >= 3 real frames each: avoids the ill-conditioned rows of Q4
    features = module(frames, mask, want_alignment_tokens=True)
    state = {k: v.double() for k, v in official_state(module).items()}
    expected = reference.tdb_pooled(frames.double(), mask, state, legacy, difference)
    torch.testing.assert_close(features.pooled.double(), expected, rtol=1e-5, atol=2e-6)
    tokens, weights = reference.tab_video_tokens(frames.double(), mask, state, legacy, difference)
    torch.testing.assert_close(features.alignment_tokens.double(), tokens, rtol=1e-5, atol=1e-5)
    assert torch.equal(features.alignment_mask.double(), weights)


def test_tdb_state_dict_has_the_official_keys_and_shapes():
    module = build_tdb(TdbOptions(layers=4), context(slots=12))
    state = module.state_dict()
    block_keys = {f"{name}.resblocks.{i}.{key}" for name, count in
                  (("transformerClip", 4), ("frame2t_attention", 1), ("actionClip", 1))
                  for i in range(count) for key in CLIP_BLOCK_KEYS}
    expected = block_keys | {"frame_position_embeddings.weight", "type_position_embeddings.weight",
                             "trans_layernorm.weight", "trans_layernorm.bias"}
    assert set(state) == expected and len(state) == 76
    assert state["frame_position_embeddings.weight"].shape == (77, WIDTH)
    assert state["type_position_embeddings.weight"].shape == (2, WIDTH)
    assert state["transformerClip.resblocks.3.attn.in_proj_weight"].shape == (3 * WIDTH, WIDTH)
    assert state["transformerClip.resblocks.0.mlp.c_fc.weight"].shape == (4 * WIDTH, WIDTH)
    assert state["transformerClip.resblocks.0.mlp.c_proj.weight"].shape == (WIDTH, 4 * WIDTH)
    assert module.trans_layernorm.eps == 1e-5 and module.transformerClip.resblocks[0].ln_1.eps == 1e-12


@pytest.mark.parametrize("kind", ["seqtransf", "tdb"])
def test_legacy_mask_makes_a_video_depend_on_its_batch_mates_and_the_corrected_one_does_not(kind):
    def build(legacy):
        if kind == "seqtransf":
            return randomise_(build_seqtransf(SeqTransfOptions(layers=2, legacy_mask=legacy), context()))
        return randomise_(build_tdb(TdbOptions(layers=2, legacy_mask=legacy), context()))

    frames, mask = video_batch([4, 7, 6, 3])
    for legacy in (False, True):
        module = build(legacy)
        together = module(frames, mask).pooled[0]
        alone = module(frames[:1], mask[:1]).pooled[0]
        gap = (together - alone).abs().max().item()
        if legacy:
            assert gap > 1e-3, "legacy tiling should let batch-mates' masks reach video 0"
        else:
            assert gap < 1e-5


def test_masked_frames_never_change_meanp_or_seqtransf_but_do_change_tdb():
    frames, mask = video_batch([4, 2, 6])
    noisy = frames.clone()
    noisy[mask == 0] = torch.randn(int((mask == 0).sum()), WIDTH) * 5
    meanp = build_meanp(None, context())
    seqtransf = randomise_(build_seqtransf(SeqTransfOptions(layers=2), context()))
    tdb = randomise_(build_tdb(TdbOptions(layers=2), context()))
    for module in (meanp, seqtransf):
        torch.testing.assert_close(module(noisy, mask).pooled, module(frames, mask).pooled, rtol=0, atol=1e-6)
    # Quirk Q2: the difference into the first padded frame is visible, so padding content matters in TDB.
    assert (tdb(noisy, mask).pooled - tdb(frames, mask).pooled).abs().max() > 1e-3


def test_meanp_ignores_frame_order_while_seqtransf_and_tdb_do_not():
    frames, mask = video_batch([SLOTS, SLOTS])
    order = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    shuffled = frames[:, order]
    meanp = build_meanp(None, context())
    torch.testing.assert_close(meanp(shuffled, mask).pooled, meanp(frames, mask).pooled, rtol=0, atol=1e-6)
    for module in (randomise_(build_seqtransf(SeqTransfOptions(layers=2), context())),
                   randomise_(build_tdb(TdbOptions(layers=2), context()))):
        assert (module(shuffled, mask).pooled - module(frames, mask).pooled).abs().max() > 1e-3


def test_initialisation_copies_the_backbone_text_transformer_as_clip2video_does():
    backbone = build_tiny_clip(TinyClipOptions())  # text width 64 == embed dim 64, 2 text blocks
    build = BuildContext(backbone=backbone, embed_dim=64, max_frames=12)
    clip = backbone.clip
    tdb = build_tdb(TdbOptions(layers=4, difference="sigmoid_mlp"), build)
    seqtransf = build_seqtransf(SeqTransfOptions(layers=1), build)
    positions = clip.positional_embedding.detach()
    assert torch.equal(tdb.frame_position_embeddings.weight, positions)
    assert torch.equal(seqtransf.frame_position_embeddings.weight, positions)
    assert torch.equal(tdb.type_position_embeddings.weight, positions[:2])
    assert torch.equal(tdb.frame2t_projection, clip.visual.proj.detach()[:64])
    text_blocks = [block.state_dict() for block in clip.transformer.resblocks]
    for own, source in ((tdb.transformerClip.resblocks[1], text_blocks[1]), (tdb.actionClip.resblocks[0],
                        text_blocks[0]), (seqtransf.transformerClip.resblocks[0], text_blocks[0])):
        for key in CLIP_BLOCK_KEYS:
            assert torch.equal(own.state_dict()[key], source[key]), key
    # Only two text blocks exist for four temporal blocks: the note says so.
    assert "2 of 4 blocks" in tdb.initialisation_note
    assert not torch.equal(tdb.transformerClip.resblocks[2].attn.in_proj_weight,
                           tdb.transformerClip.resblocks[0].attn.in_proj_weight)


def test_mismatched_text_width_gives_random_initialisation_with_a_note():
    backbone = build_tiny_clip(TinyClipOptions(text_width=128))  # text 128, embed 64
    module = build_tdb(TdbOptions(layers=2), BuildContext(backbone=backbone, embed_dim=64, max_frames=12))
    assert "random" in module.initialisation_note and "128" in module.initialisation_note
    assert module.frame_position_embeddings.weight.shape == (77, 64)
    assert 0.01 < module.frame_position_embeddings.weight.std().item() < 0.03  # N(0, 0.02)
    assert isinstance(module, TemporalDifferenceBlock) and module.provides_alignment_tokens
    assert not SequenceTransformer.provides_alignment_tokens


def test_half_precision_bias_masks_without_infinities():
    from c2vbench_builtins._layers.blocks import as_attention_dtype

    bias = key_padding_bias(torch.tensor([[1, 0, 0]]), heads=1, legacy=False, dtype=torch.float32)
    half = as_attention_dtype(bias, torch.float16)
    assert torch.isfinite(half).all() and half[0, 0, 0, 1] < -3e4 and half[0, 0, 0, 0] == 0


def test_more_frames_than_positions_is_a_clear_error():
    from c2vbench.platform.errors import C2VBenchError

    module = build_seqtransf(SeqTransfOptions(layers=1, positions=8), context(slots=8))
    with pytest.raises(C2VBenchError, match="9 frame slots but only 8 position"):
        module(*video_batch([9], slots=9))


def test_interleaving_puts_difference_i_at_2i_plus_1_with_frame_i_position_type_0_and_mask():
    module = randomise_(build_tdb(TdbOptions(layers=1, difference="raw"), context(slots=5)))
    frames, mask = video_batch([3], slots=5)
    tokens, token_mask = module.interleaved_tokens(frames, mask)
    positions = module.frame_position_embeddings.weight
    frame_type, difference_type = module.type_position_embeddings.weight[1], module.type_position_embeddings.weight[0]
    assert tokens.shape == (1, 9, WIDTH)
    for i in range(5):
        torch.testing.assert_close(tokens[0, 2 * i], frames[0, i] + positions[i] + frame_type)
        if i < 4:
            difference = frames[0, i + 1] - frames[0, i]
            torch.testing.assert_close(tokens[0, 2 * i + 1], difference + positions[i] + difference_type)
    # Difference 2 (last real frame -> first padded frame) carries frame 2's mask, so it stays visible (Q2).
    assert token_mask[0].tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0]
