"""Scoring a split's text contrasts (:class:`c2vbench.data.types.TextContrast`): for every pair, the model's score
of its video with the true caption and with the contrasting text, and the outcome (1 when the caption wins, 0.5
on a tie, 0 otherwise).

Only the pairs are scored (the video with its two texts), never a whole matrix: the align head is called on
chunks of pairs and the diagonal kept, so a head that looks at its whole video batch (TAB's plain stream) sees
chunk-mates; the record says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

PAIR_CHUNK = 128


@torch.no_grad()
def pair_scores(model, text, video, text_rows, video_columns, device: torch.device,
                chunk: int = PAIR_CHUNK) -> np.ndarray:
    """``score(text_rows[i], video_columns[i])`` for every i (text and video features already encoded)."""
    model.eval()
    rows = torch.as_tensor(np.asarray(text_rows, dtype=np.int64))
    columns = torch.as_tensor(np.asarray(video_columns, dtype=np.int64))
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), chunk):
        stop = min(start + chunk, len(rows))
        block = model.similarity(text.index(rows[start:stop]).to(device), video.index(columns[start:stop]).to(device))
        out[start:stop] = torch.diagonal(block).double().cpu().numpy()
    return out


def score_contrasts(model, split, encoded, device: torch.device, batch_size: int, reporter,
                    precision: str = "fp32") -> dict[str, dict[str, Any]]:
    """``{name: {"description", "outcome", "group", "video", "own", "rival"}}`` for every contrast of ``split``
    (per-pair lists in the contrast's order; ``video`` is the cluster the intervals and tests resample)."""
    from c2vbench.evaluation.encoding import encode_texts

    blocks = {}
    for name, contrast in split.contrasts.items():
        if not contrast.video_indices:
            continue
        rivals = encode_texts(model, list(contrast.rival_texts), batch_size, device, reporter, precision=precision)
        own = pair_scores(model, encoded.text, encoded.video, contrast.caption_indices, contrast.video_indices,
                          device)
        rival = pair_scores(model, rivals, encoded.video, np.arange(len(contrast.rival_texts)),
                            contrast.video_indices, device)
        outcome = np.where(own > rival, 1.0, np.where(own == rival, 0.5, 0.0))
        blocks[name] = {
            "description": contrast.description,
            "outcome": outcome.tolist(),
            "group": list(contrast.groups) if contrast.groups else [name] * len(outcome),
            "video": [int(v) for v in contrast.video_indices],
            "own": own.tolist(),
            "rival": rival.tolist(),
            "scoring": f"each pair scored with the align head in chunks of {PAIR_CHUNK} pairs (diagonal kept)",
        }
    return blocks
