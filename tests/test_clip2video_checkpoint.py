"""Official-format CLIP2Video checkpoints through ``c2vbench.load_checkpoint``.

The files are written here from the key names and shapes of reference/clip2video.md §5.2 (tiny sizes, fp16 CLIP
Conv/Linear tensors as in the released model) and the loaded model's logits are compared with the float64
re-statement in ``_clip2video_reference``.
"""

from __future__ import annotations

import math

import _clip2video_reference as reference
import pytest
import torch

import c2vbench
from c2vbench.platform.errors import C2VBenchError

BLOCK_SHAPES = {
    "attn.in_proj_weight": lambda w: (3 * w, w), "attn.in_proj_bias": lambda w: (3 * w,),
    "attn.out_proj.weight": lambda w: (w, w), "attn.out_proj.bias": lambda w: (w,),
    "ln_1.weight": lambda w: (w,), "ln_1.bias": lambda w: (w,),
    "mlp.c_fc.weight": lambda w: (4 * w, w), "mlp.c_fc.bias": lambda w: (4 * w,),
    "mlp.c_proj.weight": lambda w: (w, 4 * w), "mlp.c_proj.bias": lambda w: (w,),
    "ln_2.weight": lambda w: (w,), "ln_2.bias": lambda w: (w,),
}
FP16_PARTS = ("attn.in_proj", "attn.out_proj", "mlp.c_fc", "mlp.c_proj", "conv1", "visual.proj", "text_projection")


def blocks(prefix: str, count: int, width: int) -> dict[str, tuple]:
    return {f"{prefix}.resblocks.{i}.{key}": shape(width) for i in range(count) for key, shape in BLOCK_SHAPES.items()}


def official_shapes(embed=512, vision_width=768, vision_layers=12, patch=32, image=224, context=77, vocab=49408,
                    text_layers=12, temporal_layers=4, centers=5, action_clip=True, tab=True, tdb=True):
    """Key → shape of an official state dict, in the order of §5.2 (text width = embed dim, as CLIP2Video needs)."""
    grid = image // patch
    clip = {"visual.conv1.weight": (vision_width, 3, patch, patch), "visual.class_embedding": (vision_width,),
            "visual.positional_embedding": (grid * grid + 1, vision_width),
            "visual.ln_pre.weight": (vision_width,), "visual.ln_pre.bias": (vision_width,),
            **blocks("visual.transformer", vision_layers, vision_width),
            "visual.ln_post.weight": (vision_width,), "visual.ln_post.bias": (vision_width,),
            "visual.proj": (vision_width, embed),
            "token_embedding.weight": (vocab, embed), "positional_embedding": (context, embed),
            **blocks("transformer", text_layers, embed),
            "ln_final.weight": (embed,), "ln_final.bias": (embed,), "text_projection": (embed, embed),
            "logit_scale": ()}
    shapes = {f"clip.{key}": shape for key, shape in clip.items()}
    if tab:
        shapes.update({"weight_center": (centers, embed), "emb_center": (centers, embed)})
    shapes["frame_position_embeddings.weight"] = (context, embed)
    shapes.update(blocks("transformerClip", temporal_layers, embed))
    if tdb:
        shapes.update(blocks("frame2t_attention", 1, embed))
        shapes.update({"type_position_embeddings.weight": (2, embed), "trans_layernorm.weight": (embed,),
                       "trans_layernorm.bias": (embed,)})
    if action_clip:
        shapes.update(blocks("actionClip", 1, embed))
    return shapes


def official_state(seed: int = 0, **sizes) -> dict[str, torch.Tensor]:
    """Random tensors for :func:`official_shapes` (tiny by default), CLIP Conv/Linear tensors stored in fp16."""
    sizes = {"embed": 128, "vision_width": 64, "vision_layers": 1, "patch": 8, "image": 16, "context": 16,
             "vocab": 300, "text_layers": 1, "temporal_layers": 2, **sizes}
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_shapes(**sizes).items():
        noise = torch.randn(shape, generator=generator)
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight",
                         "trans_layernorm.weight")):
            value = 1.0 + 0.1 * noise
        elif key == "clip.logit_scale":
            value = torch.tensor(math.log(20.0))
        elif key.endswith(("_center",)):
            value = 0.125 * noise
        elif key.endswith(("embedding", "embedding.weight", "embeddings.weight")):
            value = 0.3 * noise
        else:
            value = noise / math.sqrt(shape[-1]) if len(shape) > 1 else 0.05 * noise
        if key.startswith("clip.") and any(part in key for part in FP16_PARTS):
            value = value.half()
        state[key] = value
    return state


def save(state, tmp_path, name="pytorch_model.bin.2"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def inputs(vocab=300, slots=6, image=16, lengths=(6, 3, 5, 4), words=(8, 3, 6), seed=4):
    """Captions ``[SOT] w… [EOT]`` 0-padded to 8 ids; videos whose padded slots are all-zero images."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.zeros(len(words), 8, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, count in enumerate(words):
        input_ids[row, :count] = torch.randint(1, vocab - 2, (count,), generator=generator)
        input_ids[row, 0], input_ids[row, count - 1] = vocab - 2, vocab - 1  # SOT, EOT (the largest id)
        attention_mask[row, :count] = 1
    videos = torch.zeros(len(lengths), slots, 3, image, image)
    video_mask = torch.zeros(len(lengths), slots, dtype=torch.long)
    for row, length in enumerate(lengths):
        videos[row, :length] = torch.randn(length, 3, image, image, generator=generator)
        video_mask[row, :length] = 1
    return input_ids, attention_mask, videos, video_mask


def logits_of(model, input_ids, attention_mask, videos, video_mask):
    with torch.no_grad():
        return model.similarity(model.encode_text(input_ids, attention_mask), model.encode_video(videos, video_mask))


def test_shape_table_reproduces_the_released_key_counts_and_parameter_counts():
    shapes = official_shapes()
    clip_keys = [key for key in shapes if key.startswith("clip.")]
    assert len(shapes) == 380 and len(clip_keys) == 302
    assert sum(math.prod(shape) for key, shape in shapes.items() if key in clip_keys) == 151_277_313
    assert sum(math.prod(shape) for key, shape in shapes.items() if key not in clip_keys) == 18_960_896


def test_released_size_modules_have_exactly_the_official_non_clip_keys_and_shapes():
    from c2vbench_builtins.align.tab import TabOptions, build_tab
    from c2vbench_builtins.temporal.tdb import TdbOptions, build_tdb

    from c2vbench.platform.interfaces import BuildContext

    class Backbone:
        def temporal_init_state(self):
            return None

        def initial_logit_scale(self):
            return math.log(100)

    build = BuildContext(Backbone(), 512, 12)
    temporal = build_tdb(TdbOptions(), build)
    head = build_tab(TabOptions(), BuildContext(Backbone(), 512, 12, temporal=temporal))
    ours = {**{k: tuple(v.shape) for k, v in temporal.state_dict().items()},
            **{k: tuple(v.shape) for k, v in head.state_dict().items() if k != "logit_scale"}}
    official = {k: v for k, v in official_shapes().items() if not k.startswith("clip.")}
    assert ours == official


@pytest.mark.parametrize(("temporal_layers", "centers"), [(2, 5), (1, 7)])
def test_legacy_mask_logits_match_the_reference(tmp_path, temporal_layers, centers):
    state = official_state(temporal_layers=temporal_layers, centers=centers)
    model = c2vbench.load_checkpoint(save(state, tmp_path), format="clip2video", legacy_mask=True,
                                     variant="TAB_TDB")
    batch = inputs()
    got = logits_of(model, *batch)
    expected = reference.official_logits(state, *batch, legacy=True)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    info = model.checkpoint_info
    assert info["temporal_options"]["layers"] == temporal_layers and info["align_options"]["centers"] == centers
    assert info["clip_sizes"]["vocab_size"] == 300 and info["clip_sizes"]["context_length"] == 16
    assert info["clip_sizes"]["image_size"] == 16 and info["clip_sizes"]["patch_size"] == 8
    assert "float16" in info["clip_dtypes"] and next(model.parameters()).dtype == torch.float32
    assert model.component_names == {"backbone": "clip", "temporal": "tdb", "align": "tab"}


def test_default_corrected_mask_is_batch_independent_and_differs_from_legacy(tmp_path):
    path = save(official_state(), tmp_path)
    corrected = c2vbench.load_checkpoint(path, variant="TAB_TDB")
    legacy = c2vbench.load_checkpoint(path, legacy_mask=True, variant="TAB_TDB")
    input_ids, attention_mask, videos, video_mask = inputs()
    batched = logits_of(corrected, input_ids, attention_mask, videos, video_mask)
    expected = reference.official_logits(official_state(), input_ids, attention_mask, videos, video_mask, legacy=False)
    torch.testing.assert_close(batched.double(), expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    one_by_one = torch.cat([logits_of(corrected, input_ids, attention_mask, videos[i:i + 1], video_mask[i:i + 1])
                            for i in range(len(videos))], dim=1)
    torch.testing.assert_close(one_by_one, batched, rtol=1e-5, atol=1e-4)
    legacy_batched = logits_of(legacy, input_ids, attention_mask, videos, video_mask)
    legacy_alone = logits_of(legacy, input_ids, attention_mask, videos[1:2], video_mask[1:2])
    assert (legacy_batched[:, 1:2] - legacy_alone).abs().max() > 1e-3
    assert (legacy_batched - batched).abs().max() > 1e-3


def test_variants_are_inferred_from_the_tensors(tmp_path):
    no_action = c2vbench.load_checkpoint(save(official_state(action_clip=False), tmp_path, "a.bin"))
    assert no_action.align_head.stream == "frames" and not hasattr(no_action.temporal, "actionClip")
    no_tab = c2vbench.load_checkpoint(save(official_state(action_clip=False, tab=False), tmp_path, "b.bin"))
    assert no_tab.component_names["align"] == "cosine"
    seq = c2vbench.load_checkpoint(save(official_state(tdb=False, action_clip=False, temporal_layers=3), tmp_path,
                                        "c.bin"))
    assert seq.component_names["temporal"] == "seqtransf" and len(seq.temporal.transformerClip.resblocks) == 3
    # The same official file read as center_proj=TAB: the plain stream with a copy of the shared positions.
    state = official_state(tdb=False)
    plain = c2vbench.load_checkpoint(save(state, tmp_path, "d.bin"))
    assert plain.align_head.stream == "plain"
    assert torch.equal(plain.align_head.frame_position_embeddings.weight,
                       state["frame_position_embeddings.weight"])
    assert torch.equal(plain.align_head.actionClip.resblocks[0].mlp.c_fc.weight,
                       state["actionClip.resblocks.0.mlp.c_fc.weight"])


def test_every_official_tensor_lands_in_exactly_one_named_parameter(tmp_path):
    state = official_state()
    model = c2vbench.load_checkpoint(save(state, tmp_path), variant="TAB_TDB")
    own = model.state_dict()
    for key, value in state.items():
        target = f"backbone.{key}" if key.startswith("clip.") else (
            f"align_head.{key}" if key.endswith("_center") else f"temporal.{key}")
        assert torch.equal(own[target], value.float()), key
    assert own["align_head.logit_scale"] == state["clip.logit_scale"]
    assert model.checkpoint_info["unused_keys"] == []


def test_a_missing_or_unknown_tensor_is_an_error_naming_it(tmp_path):
    state = official_state()
    del state["transformerClip.resblocks.1.ln_2.bias"]
    with pytest.raises(C2VBenchError, match=r"missing: temporal\.transformerClip\.resblocks\.1\.ln_2\.bias"):
        c2vbench.load_checkpoint(save(state, tmp_path, "missing.bin"), variant="TAB_TDB")
    state = official_state()
    state["mystery_module.weight"] = torch.zeros(3)
    with pytest.raises(C2VBenchError, match="unexpected: temporal.mystery_module.weight"):
        c2vbench.load_checkpoint(save(state, tmp_path, "extra.bin"), variant="TAB_TDB")


def test_unreadable_files_give_clear_errors(tmp_path):
    with pytest.raises(C2VBenchError, match="does not exist"):
        c2vbench.load_checkpoint(tmp_path / "pytorch_model.bin.9")
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"\x80\x02not really a pickle" * 10)
    with pytest.raises(C2VBenchError, match="cannot read"):
        c2vbench.load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(save(official_state(), tmp_path).read_bytes()[:5000])
    with pytest.raises(C2VBenchError, match="cannot read"):
        c2vbench.load_checkpoint(truncated)
    not_clip2video = save({"weight": torch.zeros(2)}, tmp_path, "plain.bin")
    with pytest.raises(C2VBenchError, match="no 'clip.' tensors"):
        c2vbench.load_checkpoint(not_clip2video)
    with pytest.raises(C2VBenchError, match="unknown checkpoint format 'xclip'"):
        c2vbench.load_checkpoint(not_clip2video, format="xclip")


class Payload:
    """Anything that is not a tensor: weights_only loading must refuse to unpickle it."""


def test_files_with_arbitrary_objects_are_refused_not_executed(tmp_path):
    path = save({"clip.logit_scale": torch.zeros(()), "payload": Payload()}, tmp_path, "pickled.bin")
    with pytest.raises(C2VBenchError, match="cannot read"):
        c2vbench.load_checkpoint(path)


def test_fp16_clip_mode_keeps_the_towers_in_half_precision_and_stays_close(tmp_path):
    path = save(official_state(), tmp_path)
    full = c2vbench.load_checkpoint(path, legacy_mask=True, variant="TAB_TDB")
    half = c2vbench.load_checkpoint(path, legacy_mask=True, clip_precision="fp16", variant="TAB_TDB")
    assert half.backbone.clip.visual.conv1.weight.dtype == torch.float16
    assert half.backbone.clip.ln_final.weight.dtype == torch.float32
    assert half.temporal.transformerClip.resblocks[0].attn.in_proj_weight.dtype == torch.float32
    batch = inputs()
    gap = (logits_of(full, *batch) - logits_of(half, *batch)).abs().max().item()
    assert 0 < gap < 0.05
    with pytest.raises(C2VBenchError, match="clip_precision"):
        c2vbench.load_checkpoint(path, clip_precision="int8", variant="TAB_TDB")
