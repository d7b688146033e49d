"""An independent, deliberately plain re-statement of CLIP2Video's inference maths, for tests only.

Written straight from reference/clip2video.md §1.5 and §2-§3, with none of the plug-in code: explicit loops over
samples, heads, centres and tokens, a hand-written softmax and LayerNorm, and the official per-head mask rule spelt
out as an index. It reads an *official-layout* state dict (``clip.*``, ``transformerClip.*``, ``weight_center`` …)
and computes in float64, so agreement with the fp32 modules checks both the maths and the key mapping.
"""

from __future__ import annotations

import math

import torch

MASKED = -1e6


def layer_norm(x, weight, bias, eps):
    mean = x.mean(dim=-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias


def softmax(scores):
    shifted = scores - scores.max(dim=-1, keepdim=True).values
    exp = torch.exp(shifted)
    return exp / exp.sum(dim=-1, keepdim=True)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def l2(x):
    return x / torch.sqrt((x * x).sum(dim=-1, keepdim=True))


def attention(x, sd, prefix, head_biases):
    """One sample's self-attention; ``head_biases[h]`` is the ``[L_q, L_k]`` additive bias of head h."""
    width = x.shape[-1]
    heads = len(head_biases)
    head_width = width // heads
    weight, bias = sd[prefix + "in_proj_weight"], sd[prefix + "in_proj_bias"]
    outputs = []
    for h in range(heads):
        rows = slice(h * head_width, (h + 1) * head_width)
        q = x @ weight[rows].T + bias[rows]
        k = x @ weight[width:][rows].T + bias[width:][rows]
        v = x @ weight[2 * width:][rows].T + bias[2 * width:][rows]
        scores = (q / math.sqrt(head_width)) @ k.T + head_biases[h]
        outputs.append(softmax(scores) @ v)
    return torch.cat(outputs, dim=-1) @ sd[prefix + "out_proj.weight"].T + sd[prefix + "out_proj.bias"]


def residual_block(x, sd, prefix, head_biases, eps):
    x = x + attention(layer_norm(x, sd[prefix + "ln_1.weight"], sd[prefix + "ln_1.bias"], eps), sd,
                      prefix + "attn.", head_biases)
    hidden = layer_norm(x, sd[prefix + "ln_2.weight"], sd[prefix + "ln_2.bias"], eps)
    hidden = quick_gelu(hidden @ sd[prefix + "mlp.c_fc.weight"].T + sd[prefix + "mlp.c_fc.bias"])
    return x + hidden @ sd[prefix + "mlp.c_proj.weight"].T + sd[prefix + "mlp.c_proj.bias"]


def count_blocks(sd, prefix):
    return len({key[len(prefix):].split(".")[0] for key in sd if key.startswith(prefix)})


def cross_transformer(tokens, masks, sd, name, legacy):
    """Official cross blocks over a batch ``[B, L, D]`` with key masks ``[B, L]`` (LayerNorm eps 1e-12)."""
    batch, length, width = tokens.shape
    heads = max(1, width // 64)
    prefix = f"{name}.resblocks."
    out = []
    for b in range(batch):
        head_biases = []
        for h in range(heads):
            source = (b * heads + h) % batch if legacy else b  # the tiling of reference §2.6
            key_bias = (1.0 - masks[source].double()) * MASKED
            head_biases.append(key_bias[None, :].expand(length, length))
        x = tokens[b]
        for layer in range(count_blocks(sd, prefix)):
            x = residual_block(x, sd, f"{prefix}{layer}.", head_biases, 1e-12)
        out.append(x)
    return torch.stack(out)


def mean_pool(frames, mask):
    out = []
    for b in range(frames.shape[0]):
        total = torch.zeros(frames.shape[-1], dtype=frames.dtype)
        count = 0.0
        for t in range(frames.shape[1]):
            if mask[b, t]:
                total = total + l2(frames[b, t])
                count += 1.0
        out.append(l2(total / max(count, 1.0)))
    return torch.stack(out)


def difference_tokens(frames, mask, sd, legacy, difference):
    delta = frames[:, 1:] - frames[:, :-1]
    if difference == "raw":
        return delta
    if difference == "sigmoid_mlp":
        hidden = delta @ sd["frame2t_projection"]
    else:
        positions = sd["frame_position_embeddings.weight"][1: frames.shape[1]]
        hidden = cross_transformer(delta + positions, mask[:, 1:], sd, "frame2t_attention", legacy)
    normed = layer_norm(hidden, sd["trans_layernorm.weight"], sd["trans_layernorm.bias"], 1e-5)
    return 2 * torch.sigmoid(normed) - 1


def tdb_frames(frames, mask, sd, transformer_name, legacy, difference):
    """Interleave frames and difference tokens one token at a time, run the transformer, keep frame slots + X."""
    batch, slots, width = frames.shape
    diffs = difference_tokens(frames, mask, sd, legacy, difference) if slots > 1 else None
    positions = sd["frame_position_embeddings.weight"]
    types = sd["type_position_embeddings.weight"]
    sequences, sequence_masks = [], []
    for b in range(batch):
        tokens, token_mask = [], []
        for i in range(slots):
            tokens.append(frames[b, i] + positions[i] + types[1])
            token_mask.append(mask[b, i])
            if i < slots - 1:
                tokens.append(diffs[b, i] + positions[i] + types[0])
                token_mask.append(mask[b, i])
        sequences.append(torch.stack(tokens))
        sequence_masks.append(torch.stack(token_mask))
    encoded = cross_transformer(torch.stack(sequences), torch.stack(sequence_masks), sd, transformer_name, legacy)
    return torch.stack([encoded[:, 2 * i] for i in range(slots)], dim=1) + frames


def seqtransf_pooled(frames, mask, sd, legacy):
    positions = sd["frame_position_embeddings.weight"][: frames.shape[1]]
    encoded = cross_transformer(frames + positions, mask, sd, "transformerClip", legacy) + frames
    return mean_pool(encoded, mask)


def tdb_pooled(frames, mask, sd, legacy, difference="sigmoid_selfA"):
    return mean_pool(tdb_frames(frames, mask, sd, "transformerClip", legacy, difference), mask)


def tab_video_tokens(frames, mask, sd, legacy, difference="sigmoid_selfA"):
    """E_v = [X, TDB-enhanced half-rate stream] and w_v = [m, m_s] (reference §3.2)."""
    sub_frames, sub_mask = frames[:, 0::2], mask[:, 0::2]
    stream = tdb_frames(sub_frames, sub_mask, sd, "actionClip", legacy, difference)
    return torch.cat([frames, stream], dim=1), torch.cat([mask, sub_mask], dim=1).double()


def tab_text_weights(attention_mask):
    weights = attention_mask.double().clone()
    weights[:, 0] = 0.0  # SOT never counts; EOT does
    return weights


def tab_aggregate(tokens, weights, sd):
    """The NetVLAD-like aggregation of §3.4, token by token and centre by centre."""
    assign_w, centres = sd["weight_center"], sd["emb_center"]
    centre_count = centres.shape[0]
    out = []
    for b in range(tokens.shape[0]):
        residuals = [torch.zeros(tokens.shape[-1], dtype=tokens.dtype) for _ in range(centre_count)]
        for n in range(tokens.shape[1]):
            assignment = softmax(torch.stack([tokens[b, n] @ assign_w[k] for k in range(centre_count)]))
            for k in range(centre_count):
                residuals[k] = residuals[k] + weights[b, n] * assignment[k] * (tokens[b, n] - centres[k])
        out.append(l2(torch.stack([l2(r) for r in residuals]).mean(dim=0)))
    return torch.stack(out)


def clip_image(sd, images):
    """OpenAI ViT: patchify, CLS, positions, ln_pre, blocks, ln_post, proj, token 0."""
    conv = sd["clip.visual.conv1.weight"]
    width, _, patch, _ = conv.shape
    heads = max(1, width // 64)
    layers = count_blocks(sd, "clip.visual.transformer.resblocks.")
    out = []
    for image in images:
        grid = image.shape[-1] // patch
        patches = image.reshape(3, grid, patch, grid, patch).permute(1, 3, 0, 2, 4).reshape(grid * grid, -1)
        x = patches @ conv.reshape(width, -1).T
        x = torch.cat([sd["clip.visual.class_embedding"][None], x]) + sd["clip.visual.positional_embedding"]
        x = layer_norm(x, sd["clip.visual.ln_pre.weight"], sd["clip.visual.ln_pre.bias"], 1e-5)
        no_mask = [torch.zeros(x.shape[0], x.shape[0], dtype=x.dtype)] * heads
        for layer in range(layers):
            x = residual_block(x, sd, f"clip.visual.transformer.resblocks.{layer}.", no_mask, 1e-5)
        x = layer_norm(x, sd["clip.visual.ln_post.weight"], sd["clip.visual.ln_post.bias"], 1e-5)
        out.append(x[0] @ sd["clip.visual.proj"])
    return torch.stack(out)


def clip_text(sd, input_ids):
    """OpenAI text tower on every position (causal mask), ln_final, projection; EOT = argmax id."""
    length = input_ids.shape[1]
    width = sd["clip.ln_final.weight"].shape[0]
    heads = max(1, width // 64)
    layers = count_blocks(sd, "clip.transformer.resblocks.")
    causal = torch.triu(torch.full((length, length), float("-inf"), dtype=torch.float64), diagonal=1)
    tokens_out, eot_out = [], []
    for ids in input_ids:
        x = sd["clip.token_embedding.weight"][ids] + sd["clip.positional_embedding"][:length]
        for layer in range(layers):
            x = residual_block(x, sd, f"clip.transformer.resblocks.{layer}.", [causal] * heads, 1e-5)
        x = layer_norm(x, sd["clip.ln_final.weight"], sd["clip.ln_final.bias"], 1e-5) @ sd["clip.text_projection"]
        tokens_out.append(x)
        eot_out.append(x[int(ids.argmax())])
    return torch.stack(eot_out), torch.stack(tokens_out)


def official_logits(sd, input_ids, attention_mask, videos, video_mask, legacy=True, centre_weight=0.5):
    """``get_inference_logits`` of the released model (seqTransf + TDB sigmoid_selfA + TAB_TDB), one text batch
    against one video batch: ``λ·S_global + (1-λ)·S_TAB``, both scaled by exp(logit_scale)."""
    sd = {key: value.double() for key, value in sd.items()}
    batch, slots = videos.shape[:2]
    frames = clip_image(sd, videos.reshape(batch * slots, *videos.shape[2:]).double()).reshape(batch, slots, -1)
    eot, text_tokens = clip_text(sd, input_ids)
    scale = math.exp(float(sd["clip.logit_scale"]))
    video_vector = tdb_pooled(frames, video_mask, sd, legacy)
    global_logits = scale * l2(eot) @ video_vector.T
    video_tokens, video_weights = tab_video_tokens(frames, video_mask, sd, legacy)
    text_vlad = tab_aggregate(text_tokens, tab_text_weights(attention_mask), sd)
    video_vlad = tab_aggregate(video_tokens, video_weights, sd)
    tab_logits = scale * text_vlad @ video_vlad.T
    return centre_weight * global_logits + (1 - centre_weight) * tab_logits
