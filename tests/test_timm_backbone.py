"""The ``timm`` backbone: a timm image model + an open_clip text tower, tiny random models on CPU, local weights."""

from __future__ import annotations

import json
import socket

import pytest
import torch
from _cli_runner import run_cli
from _small_runs import SMALL_DATASET

from c2vbench.platform.errors import C2VBenchError
from c2vbench.platform.registry import load_registry
from c2vbench.platform.specs import build_options

TINY_VIT = "img_size=32,patch_size=8,embed_dim=48,depth=1,num_heads=2"
TINY_TEXT = "width=32,layers=1,heads=2,context_length=16"
TINY = {"model_kwargs": TINY_VIT, "text_kwargs": TINY_TEXT, "embed_dim": "24"}


@pytest.fixture(scope="module")
def registry():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")  # the built-ins alone
        return load_registry()


def build(registry, **overrides):
    spec = registry.get("backbone", "timm").spec
    return spec.factory(build_options(spec, {key: str(value) for key, value in overrides.items()}))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (weights come from local files only)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the timm backbone tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def tiny_open_clip(seed=0, logit_scale=3.912):
    """An open_clip CLIP with the tiny text config (its own code, as a user's checkpoint would come from)."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    clip = CLIP(24, vision_cfg=CLIPVisionCfg(layers=1, width=32, patch_size=8, image_size=32, head_width=16),
                text_cfg=CLIPTextCfg(context_length=16, width=32, heads=2, layers=1))
    with torch.no_grad():
        clip.logit_scale.fill_(logit_scale)
    return clip.eval()


def test_tiny_vit_frames_and_text_meet_at_the_joint_width(registry, no_network):
    import timm

    backbone = build(registry, **TINY)
    frames = backbone.encode_frames(torch.randn(3, 3, 32, 32))
    input_ids, mask = backbone.tokenize(["a cat jumps", "two dogs run on the beach"])
    text = backbone.encode_text(input_ids, mask)
    assert frames.shape == (3, 24) and text.eot.shape == (2, 24) and text.tokens.shape == (2, 16, 24)
    assert backbone.embed_dim == 24 and backbone.image_size == 32 and backbone.context_length == 16
    details = backbone.describe()
    assert details["image_feature_width"] == 48 and details["image_projection"].startswith("linear 48 -> 24")
    # preprocessing constants are timm's for this model (CLIP's), not a default of ours
    reference = timm.models.get_pretrained_cfg("vit_base_patch32_clip_224")
    assert backbone.image_mean == tuple(reference.mean) and backbone.image_std == tuple(reference.std)
    # every parameter, both towers and the projection, is trainable from a retrieval loss
    loss = (frames[:2] * text.eot).sum() + text.tokens.sum()
    loss.backward()
    silent = [name for name, p in backbone.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == [] and backbone.image_projection.weight.grad.abs().sum() > 0, silent


def test_convnet_with_matching_width_needs_no_projection(registry):
    backbone = build(registry, model="test_resnet", image_size=32, embed_dim=96, text_kwargs=TINY_TEXT)
    assert backbone.image_projection is None and backbone.describe()["image_projection"] == "none (widths match)"
    assert backbone.encode_frames(torch.randn(2, 3, 32, 32)).shape == (2, 96)
    assert backbone.image_mean == (0.5, 0.5, 0.5)  # test_resnet's own data config, unlike CLIP's
    assert sum(p.numel() for name, p in backbone.named_parameters() if "projection" in name
               and name.startswith("image")) == 0


def test_text_tower_from_an_open_clip_checkpoint_reproduces_open_clip(registry, tmp_path, no_network):
    clip = tiny_open_clip()
    path = tmp_path / "tiny_open_clip.pt"
    torch.save(clip.state_dict(), path)
    backbone = build(registry, **TINY, text_weights=path).eval()
    input_ids, mask = backbone.tokenize(["a person is cooking", "a car drives at night", "x"])
    with torch.no_grad():
        ours = backbone.encode_text(input_ids, mask).eot
        theirs = clip.encode_text(input_ids)  # open_clip's own forward over the full context
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert backbone.initial_logit_scale() == pytest.approx(3.912)
    assert backbone.describe()["text_weights"]["file"] == "tiny_open_clip.pt"
    assert backbone.recommended_lr_scale == 1.0  # only one tower has trained weights
    # the temporal modules can copy the text blocks (CLIP key names)
    blocks = backbone.temporal_init_state().blocks
    torch.testing.assert_close(blocks[0]["attn.in_proj_weight"],
                               clip.transformer.resblocks[0].attn.in_proj_weight.detach())


def test_image_weights_from_a_local_file(registry, tmp_path, no_network):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(1)
    reference = timm.create_model("vit_base_patch32_clip_224", num_classes=24, img_size=32, patch_size=8,
                                  embed_dim=48, depth=1, num_heads=2).eval()
    path = tmp_path / "tiny_vit.safetensors"
    save_file({key: value.contiguous() for key, value in reference.state_dict().items()}, str(path))
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        # keeping the file's 24-wide head: it is the projection, nothing new is added
        kept = build(registry, **{**TINY, "model_kwargs": TINY_VIT + ",num_classes=24"}, image_weights=path).eval()
        assert kept.image_projection is None
        torch.testing.assert_close(kept.encode_frames(images), reference(images))
        # pooled features only: the head is dropped (and recorded), a new projection maps 48 -> 24
        pooled = build(registry, **TINY, image_weights=path).eval()
        torch.testing.assert_close(pooled.image_model(images),
                                   reference.forward_head(reference.forward_features(images), pre_logits=True))
    assert pooled.describe()["image_weights"]["dropped_head"] == ["head.weight", "head.bias"]
    assert len(pooled.describe()["image_weights"]["sha256"]) == 64


@pytest.mark.parametrize(("overrides", "message"), [
    ({"model": "no_such_model"}, "timm has no model 'no_such_model'"),
    ({"model": "hf-hub:timm/vit_base_patch32_clip_224.openai"}, "names a hub source; this backbone never downloads"),
    ({"model_kwargs": TINY_VIT + ",wings=2"}, "timm could not build 'vit_base_patch32_clip_224'"),
    ({"text_model": "ViT-Q-99"}, "open_clip has no architecture 'ViT-Q-99'"),
    ({"text_model": "ViT-B-16-SigLIP"}, "needs another tokenizer or pooling than CLIP's"),
    ({"text_kwargs": TINY_TEXT + ",depth=3"}, "text config has no depth"),
    ({"image_weights": "/nonexistent/vit.safetensors"}, "image_weights file /nonexistent/vit.safetensors does not"),
    ({"image_size": "31"}, "patch_size=8 does not divide the image side 31"),  # refused before anything is built
])
def test_bad_settings_give_one_clear_error(registry, overrides, message):
    with pytest.raises(C2VBenchError, match=message):
        build(registry, **{**TINY, **overrides})


def test_a_file_of_another_model_is_refused_not_ignored(registry, tmp_path):
    import timm

    other = tmp_path / "resnet.pt"
    torch.save(timm.create_model("test_resnet", num_classes=0).state_dict(), other)
    with pytest.raises(C2VBenchError, match="image_weights: .*does not match the model: missing"):
        build(registry, **TINY, image_weights=other)
    with pytest.raises(C2VBenchError, match="text_weights: .*lacks .* text-tower tensor"):
        build(registry, **TINY, text_weights=other)


def test_run_end_to_end_with_the_timm_backbone(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("C2VBENCH_LOAD_PLUGINS", "c2vbench")
    dataset_options = [arg for key, value in SMALL_DATASET.items() for arg in ("--dataset-option", f"{key}={value}")]
    code, out, err = run_cli([
        "run", "--backbone", "timm", "--backbone-option", f"model_kwargs={TINY_VIT}",
        "--backbone-option", "text_kwargs=width=24,layers=1,heads=2,context_length=16",
        "--backbone-option", "embed_dim=24", "--temporal", "seqtransf", "--temporal-option", "layers=1",
        "--dataset", "synthetic-motion", *dataset_options,
        "--epochs", "1", "--batch-size", "8", "--eval-batch-size", "16", "--out", str(tmp_path / "results"),
        "--quiet", "--json", "--no-checkpoint"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["plugins"]["backbone"]["name"] == "timm"
    details = result["config"]["backbone_details"]
    assert details["image_feature_width"] == 48 and details["embed_dim"] == 24
    assert details["image_projection"].startswith("linear 48 -> 24")
    assert result["config"]["resolved_options"]["backbone"]["model"] == "vit_base_patch32_clip_224"
    assert result["config"]["image_size"] == 32
    assert len(result["per_query"]["t2v_rank"]) == result["protocol"]["n_captions"]
