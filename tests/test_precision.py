"""``--precision`` and the fp16 towers: every norm and product sees one dtype (CUDA refuses mixed ones), the
precision is recorded and keys the configuration, and zero-shot runs save no model unless asked."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _small_runs import small_config
from c2vbench_builtins.backbones._clip_model import ClipBackbone, half_precision_towers, make_clip
from torch.overrides import TorchFunctionMode

from c2vbench.config import RunConfig
from c2vbench.runtime.progress import Reporter

CHECKED = {F.layer_norm, F.linear, F.conv2d, torch.matmul, torch.Tensor.__matmul__, torch.addmm, torch.bmm,
           torch.baddbmm, F.scaled_dot_product_attention}


class SingleDtypeCheck(TorchFunctionMode):
    """Fails on any norm or product whose floating-point operands differ in dtype, as CUDA kernels do (on a CPU
    torch quietly accepts e.g. an fp16 input with fp32 LayerNorm weights)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in CHECKED:
            dtypes = {value.dtype for value in [*args, *kwargs.values()]
                      if isinstance(value, torch.Tensor) and value.is_floating_point()}
            if len(dtypes) > 1:
                raise TypeError(f"{getattr(func, '__name__', func)} mixes {sorted(map(str, dtypes))}")
        return func(*args, **kwargs)


def tiny_clip() -> torch.nn.Module:
    torch.manual_seed(0)
    return make_clip(embed_dim=32, image_size=32, patch_size=8, vision_width=64, vision_layers=1,
                     context_length=16, vocab_size=49408, text_width=64, text_layers=1)


def encode(backbone: ClipBackbone):
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    input_ids, attention_mask = backbone.tokenize(["a red square moves left", "a circle"])
    with torch.no_grad():
        return backbone.encode_frames(images), backbone.encode_text(input_ids, attention_mask)


def test_fp16_towers_run_with_one_dtype_per_operation_and_match_fp32():
    reference_frames, reference_text = encode(ClipBackbone(tiny_clip(), max_words=16))
    half = ClipBackbone(half_precision_towers(tiny_clip()), max_words=16)
    assert half.clip.visual.conv1.weight.dtype == torch.float16
    assert half.clip.ln_final.weight.dtype == torch.float32
    with SingleDtypeCheck():
        frames, text = encode(half)
    assert frames.dtype == text.eot.dtype == text.tokens.dtype == torch.float32
    assert torch.allclose(frames, reference_frames, atol=2e-2) and torch.allclose(text.eot, reference_text.eot,
                                                                                 atol=2e-2)


def test_the_dtype_check_catches_the_old_conversion():
    from open_clip.model import convert_weights_to_lp

    clip = tiny_clip()
    convert_weights_to_lp(clip, dtype=torch.float16)  # fp16 weights, fp32 LayerNorms fed fp16 states
    with SingleDtypeCheck(), pytest.raises(TypeError, match="layer_norm mixes"):
        encode(ClipBackbone(clip, max_words=16))


def test_precision_is_validated_recorded_and_keys_the_configuration(tmp_path):
    from c2vbench.pipeline import run_benchmark
    from c2vbench.platform.errors import C2VBenchError

    with pytest.raises(C2VBenchError, match="unknown precision"):
        RunConfig(precision="fp8")
    assert RunConfig(precision="bf16").config_key() != RunConfig().config_key()
    outcome = run_benchmark(small_config(tmp_path, protocol="zeroshot", precision="bf16", save_checkpoint=None),
                            reporter=Reporter(quiet=True))
    assert outcome.result["config"]["precision"] == "bf16"
    assert outcome.result["config"]["effective_precision"] == "bf16"  # CPU autocast supports bf16
    assert outcome.result["protocol"]["preprocess"]["path"] == "tensor"
    # a zero-shot run trains nothing and saves nothing unless asked
    assert outcome.checkpoint_path is None and not (tmp_path / "checkpoints").exists()
