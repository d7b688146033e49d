"""The tab similarity head: token sets, aggregation, blending and loss against the float64 reference."""

from __future__ import annotations

import math

import _clip2video_reference as reference
import pytest
import torch
from c2vbench_builtins.align._tab_head import text_token_weights
from c2vbench_builtins.align.tab import TabOptions, build_tab
from c2vbench_builtins.backbones.tiny_clip import TinyClipOptions, build_tiny_clip
from c2vbench_builtins.temporal.meanp import build_meanp
from c2vbench_builtins.temporal.tdb import TdbOptions, build_tdb
from test_temporal_modules import WIDTH, context, randomise_, video_batch

from c2vbench.model.retrieval_model import RetrievalModel
from c2vbench.platform.errors import C2VBenchError
from c2vbench.platform.interfaces import BuildContext, TextFeatures


def text_batch(lengths: list[int], words: int = 9, width: int = WIDTH, seed: int = 3) -> TextFeatures:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(len(lengths), words, width, generator=generator)
    mask = torch.zeros(len(lengths), words, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
    eot = tokens[torch.arange(len(lengths)), torch.tensor(lengths) - 1]
    return TextFeatures(eot=eot, tokens=tokens, token_mask=mask)


def build_pair(slots: int = 12, centers: int = 5, legacy: bool = True, layers: int = 2, stream: str = "auto"):
    build = context(slots=slots)
    temporal = randomise_(build_tdb(TdbOptions(layers=layers, legacy_mask=legacy), build), seed=5)
    head = build_tab(TabOptions(centers=centers, stream=stream, legacy_mask=legacy),
                     BuildContext(build.backbone, WIDTH, slots, temporal=temporal))
    with torch.no_grad():
        head.weight_center.normal_(0, 0.125)
        head.emb_center.normal_(0, 0.125)
        head.logit_scale.fill_(math.log(30.0))
    return temporal, head.eval()


def official_state(*modules) -> dict[str, torch.Tensor]:
    state = {}
    for module in modules:
        state.update({key: value.detach().double() for key, value in module.state_dict().items()})
    return state


def test_text_weights_drop_start_of_text_and_padding_but_keep_end_of_text():
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    assert text_token_weights(mask).tolist() == [[0, 1, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0]]


def test_video_tokens_are_the_raw_frames_then_the_half_rate_tdb_stream():
    temporal, head = build_pair(slots=12)
    frames, mask = video_batch([12, 7, 3], slots=12)
    video = temporal(frames, mask, want_alignment_tokens=head.wants_alignment_tokens)
    tokens, weights = head.video_tokens(video)
    assert head.stream == "tdb" and tokens.shape == (3, 18, WIDTH)
    assert torch.equal(tokens[:, :12], frames)
    assert weights[1].tolist() == [1] * 7 + [0] * 5 + [1, 1, 1, 1, 0, 0]
    assert weights[2].tolist() == [1] * 3 + [0] * 9 + [1, 1, 0, 0, 0, 0]


def test_aggregation_matches_the_token_by_token_reference():
    _, head = build_pair(centers=3)
    generator = torch.Generator().manual_seed(9)
    tokens = torch.randn(4, 10, WIDTH, generator=generator)
    weights = (torch.rand(4, 10, generator=generator) > 0.3).float()
    got = head.aggregate(tokens, weights)
    expected = reference.tab_aggregate(tokens.double(), weights.double(), official_state(head))
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("legacy", [False, True])
def test_scores_are_the_blend_of_global_and_tab_scores(legacy):
    temporal, head = build_pair(slots=6, centers=7, legacy=legacy)
    frames, mask = video_batch([6, 3, 5, 4], slots=6)
    text = text_batch([9, 4, 6])
    logits = head(text, temporal(frames, mask, want_alignment_tokens=True))
    state = official_state(temporal, head)
    scale = 30.0
    video_vector = reference.tdb_pooled(frames.double(), mask, state, legacy)
    global_logits = scale * reference.l2(text.eot.double()) @ video_vector.T
    video_tokens, video_weights = reference.tab_video_tokens(frames.double(), mask, state, legacy)
    text_vlad = reference.tab_aggregate(text.tokens.double(), reference.tab_text_weights(text.token_mask), state)
    tab_logits = scale * text_vlad @ reference.tab_aggregate(video_tokens, video_weights, state).T
    torch.testing.assert_close(logits.double(), 0.5 * global_logits + 0.5 * tab_logits, rtol=1e-5, atol=1e-4)


def test_loss_is_the_weighted_sum_of_both_symmetric_infonce_terms():
    temporal, head = build_pair(slots=6)
    frames, mask = video_batch([6, 3, 5, 4], slots=6)
    text = text_batch([9, 4, 6, 5])
    video = temporal(frames, mask, want_alignment_tokens=True)
    global_logits, tab_logits = (m.detach().double() for m in head.logit_pair(text, video))

    def brute_force_infonce(logits):
        n = logits.shape[0]
        rows = sum(-logits[i, i] + math.log(sum(math.exp(logits[i, j]) for j in range(n))) for i in range(n)) / n
        cols = sum(-logits[i, i] + math.log(sum(math.exp(logits[j, i]) for j in range(n))) for i in range(n)) / n
        return 0.5 * (rows + cols)

    expected = 0.5 * brute_force_infonce(global_logits) + 0.5 * brute_force_infonce(tab_logits)
    assert head.loss(text, video).item() == pytest.approx(float(expected), rel=1e-5)


def test_without_a_tdb_stream_tab_falls_back_to_its_own_plain_half_rate_stream():
    build = context(slots=6)
    meanp = build_meanp(None, build)
    head = build_tab(TabOptions(centers=4), BuildContext(build.backbone, WIDTH, 6, temporal=meanp))
    assert head.stream == "plain" and not head.wants_alignment_tokens
    randomise_(head)
    frames, mask = video_batch([6, 2, 4], slots=6)
    tokens, weights = head.video_tokens(meanp(frames, mask))
    state = official_state(head)
    sub_frames, sub_mask = frames[:, ::2].double(), mask[:, ::2]
    positions = state["frame_position_embeddings.weight"][:3]
    stream = reference.cross_transformer(sub_frames + positions, sub_mask, state, "actionClip", False) + sub_frames
    torch.testing.assert_close(tokens.double(), torch.cat([frames.double(), stream], dim=1), rtol=1e-5, atol=1e-5)
    assert weights.tolist() == torch.cat([mask, sub_mask], dim=1).float().tolist()

    frames_only = build_tab(TabOptions(stream="frames"), BuildContext(build.backbone, WIDTH, 6, temporal=meanp))
    tokens, weights = frames_only.video_tokens(meanp(frames, mask))
    assert torch.equal(tokens, frames) and set(dict(frames_only.named_parameters())) == {
        "logit_scale", "weight_center", "emb_center"}
    with pytest.raises(C2VBenchError, match="alignment tokens"):
        build_tab(TabOptions(stream="tdb"), BuildContext(build.backbone, WIDTH, 6, temporal=meanp))


def test_shared_tdb_parameters_are_registered_once_under_official_names():
    temporal, head = build_pair()
    backbone = build_tiny_clip(TinyClipOptions())
    keys = list(RetrievalModel(backbone, temporal, head).state_dict())
    assert len(keys) == len(set(keys))
    assert sorted(key for key in keys if key.startswith("align_head.")) == [
        "align_head.emb_center", "align_head.logit_scale", "align_head.weight_center"]
    assert "temporal.actionClip.resblocks.0.attn.in_proj_weight" in keys
    assert sum(key.startswith("temporal.frame_position_embeddings") for key in keys) == 1


def test_logit_scale_is_clamped_only_while_training():
    temporal, head = build_pair(slots=4)
    with torch.no_grad():
        head.logit_scale.fill_(math.log(200.0))
    assert head.scale().item() == pytest.approx(200.0, rel=1e-5)
    assert head.train().scale().item() == pytest.approx(100.0, rel=1e-5)


def test_full_model_loss_decreases_over_a_few_training_steps():
    torch.manual_seed(0)
    backbone = build_tiny_clip(TinyClipOptions())
    build = BuildContext(backbone=backbone, embed_dim=64, max_frames=4)
    temporal = build_tdb(TdbOptions(layers=1), build)
    head = build_tab(TabOptions(), BuildContext(backbone, 64, 4, temporal=temporal))
    model = RetrievalModel(backbone, temporal, head).train()
    images = torch.randn(6, 4, 3, 32, 32)
    frame_mask = torch.tensor([[1, 1, 1, 1]] * 3 + [[1, 1, 1, 0]] * 3)
    input_ids = torch.randint(1, 49405, (6, 8))
    input_ids[:, 0], input_ids[:, 7] = 49406, 49407
    attention_mask = torch.ones(6, 8, dtype=torch.long)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    losses = []
    for _ in range(8):
        loss = model.loss(model.encode_text(input_ids, attention_mask), model.encode_video(images, frame_mask))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    assert all(p.grad is not None for p in head.parameters())
    assert temporal.actionClip.resblocks[0].attn.in_proj_weight.grad.abs().sum() > 0


def test_videos_without_real_frames_and_cpu_autocast_give_finite_scores():
    temporal, head = build_pair(slots=6, legacy=False)
    frames, mask = video_batch([6, 4, 5], slots=6)
    mask[2] = 0  # a video with no real frame at all (the official loader's "get raw video error" case)
    text = text_batch([9, 4, 6])
    logits = head(text, temporal(frames, mask, want_alignment_tokens=True))
    assert torch.isfinite(logits).all()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        video = temporal(frames, mask, want_alignment_tokens=True)
        loss = head.train().loss(text, video)
        low_precision = head.eval()(text, video)
    assert torch.isfinite(loss) and low_precision.dtype == torch.float32
    torch.testing.assert_close(low_precision, logits, rtol=0, atol=0.1 * logits.abs().max().item())


def test_a_third_party_temporal_module_can_feed_tab_through_the_alignment_token_interface():
    from c2vbench_builtins._layers.pooling import masked_mean_pool

    from c2vbench.platform.interfaces import VideoFeatures

    class MaxAndMeanTokens(torch.nn.Module):
        """Offers two tokens per video: the mean and the max of its real frames."""

        provides_alignment_tokens = True

        def forward(self, frames, frame_mask, want_alignment_tokens=False):
            features = VideoFeatures(masked_mean_pool(frames, frame_mask), frames, frame_mask)
            if want_alignment_tokens:
                weights = frame_mask.unsqueeze(-1).float()
                mean = (frames * weights).sum(1) / weights.sum(1)
                peak = frames.masked_fill(weights == 0, -1e9).amax(1)
                features.alignment_tokens = torch.stack([mean, peak], dim=1)
                features.alignment_mask = torch.ones(len(frames), 2)
            return features

    build = context(slots=6)
    temporal = MaxAndMeanTokens()
    head = build_tab(TabOptions(centers=3), BuildContext(build.backbone, WIDTH, 6, temporal=temporal)).eval()
    assert head.stream == "tdb" and head.wants_alignment_tokens
    frames, mask = video_batch([6, 2], slots=6)
    video = temporal(frames, mask, want_alignment_tokens=True)
    tokens, weights = head.video_tokens(video)
    assert tokens.shape == (2, 2, WIDTH) and torch.equal(tokens, video.alignment_tokens)
    with pytest.raises(C2VBenchError, match="want_alignment_tokens=True"):
        head(text_batch([5, 4]), temporal(frames, mask))
