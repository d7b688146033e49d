"""``c2vbench search``: the best videos of an embeddings file for a text, exactly.

The text is encoded by the model the videos were embedded with (rebuilt from the file's identity and checked
against its weights' SHA-256), then:

* **dot-product heads** (the file holds ``factors``; ``cosine`` and ``tab`` are such heads): every video's score is
  ``text_factors(text) · factors[v]`` (in float64, each video's score reduced on its own), found tile by tile and
  merged into the top k as the tiles go by (:func:`~c2vbench.evaluation.streamed_topk.top_k_dot`: a float32 product
  per tile, and the exact score for the few videos within its error bound of the k-th): exact over every video,
  never holding all scores;
* **other heads**: the ``candidates`` videos whose pooled embedding is closest to the text's (exact top by cosine,
  streamed the same way) are re-scored by the head itself, and the top k of those returned; with ``candidates``
  at least the number of videos, the head scores every video and the answer is exact.

Ranks: score descending, ties broken by id; a tie at the cut is reported (``tied_beyond``: videos outside the top
k that score exactly as the last one shown).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from c2vbench.platform.errors import C2VBenchError
from c2vbench.platform.interfaces import VideoFeatures
from c2vbench.search.index_file import VideoEmbeddings, read_embeddings

DEFAULT_CANDIDATES = 1000


@dataclasses.dataclass
class SearchHit:
    rank: int
    video_id: str
    score: float


@dataclasses.dataclass
class SearchResult:
    """The top videos of one text.

    Attributes:
        method: how the scores were found (exact dot products, or the head on how many candidates).
        tied_beyond: videos outside ``hits`` (among those scored) whose score equals the last hit's.
        scored: how many videos the final scores were computed for.
    """

    text: str
    hits: list[SearchHit]
    tied_beyond: int
    method: str
    scored: int

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "method": self.method, "scored": self.scored, "tied_beyond": self.tied_beyond,
                "hits": [dataclasses.asdict(hit) for hit in self.hits]}


@torch.no_grad()
def encode_queries(model, texts: list[str], device: torch.device, precision: str):
    from c2vbench.runtime.precision import autocast

    input_ids, attention_mask = model.backbone.tokenize(list(texts))
    with autocast(precision, device):
        text = model.encode_text(input_ids.to(device), attention_mask.to(device))
    return text


def stored_video_features(embeddings: VideoEmbeddings) -> VideoFeatures:
    tensors = embeddings.tensors
    return VideoFeatures(tensors["pooled"], tensors["frames"], tensors["frame_mask"], tensors.get("alignment_tokens"),
                         tensors.get("alignment_mask"))


@torch.no_grad()
def search_embeddings(index: str | Path | VideoEmbeddings, texts: list[str], top: int = 10,
                      candidates: int = DEFAULT_CANDIDATES, device: str = "auto", checkpoint: str | None = None,
                      registry=None, model=None) -> list[SearchResult]:
    """The ``top`` videos of ``index`` for each text (see the module docs).

    Args:
        index: an embeddings file (or its contents).
        candidates: for heads that are not dot products: how many videos (closest by pooled cosine) the head
            re-scores.
        checkpoint: where the model's checkpoint lies now, when it moved.
        model: the model itself, when the caller has it (it must be the one the file names).
    """
    from c2vbench.evaluation.streamed_ranking import HeadScores
    from c2vbench.evaluation.streamed_topk import top_k_dot, top_k_streamed
    from c2vbench.runtime.distributed import select_device
    from c2vbench.search.model_source import rebuild

    texts = list(texts)
    if not texts or any(not text.strip() for text in texts):
        raise C2VBenchError("search needs a non-empty text", 'for example: c2vbench search "a dog runs" --index FILE')
    if top < 1 or candidates < 1:
        raise C2VBenchError(f"--top and --candidates must be at least 1 (got {top} and {candidates})")
    embeddings = index if isinstance(index, VideoEmbeddings) else read_embeddings(index)
    if not len(embeddings):
        raise C2VBenchError("the embeddings file holds no video", "embed some with `c2vbench embed`")
    identity = embeddings.identity
    device_ = select_device(device)
    model = (model if model is not None else rebuild(identity, checkpoint, registry)).to(device_).eval()
    text = encode_queries(model, texts, device_, str(identity.get("precision", "fp32")))
    n_video = len(embeddings)
    results = []
    if embeddings.scores == "dot":
        factors = model.align_head.text_factors(text).float().cpu()
        found = top_k_dot(factors, embeddings.tensors["factors"], top, device_)
        for row, query in enumerate(texts):
            hits = [SearchHit(rank + 1, embeddings.ids[index], float(score))
                    for rank, (index, score) in enumerate(zip(found.indices[row], found.scores[row], strict=True))]
            results.append(SearchResult(query, hits, int(found.tied_beyond[row]),
                                        f"exact: dot products with all {n_video} videos", n_video))
        return results
    # a head whose scores are no dot products: exact top candidates by pooled cosine, re-scored by the head
    video = stored_video_features(embeddings)
    pooled = torch.nn.functional.normalize(video.pooled.double(), dim=1)
    eot = torch.nn.functional.normalize(text.eot.double().cpu(), dim=1)
    shortlist = top_k_dot(eot, pooled, candidates, device_)
    for row, query in enumerate(texts):
        chosen = torch.as_tensor(sorted(shortlist.indices[row].tolist()), dtype=torch.long)  # id order: ties by id
        scores = HeadScores(model, text.index(slice(row, row + 1)), video.index(chosen))
        found = top_k_streamed(scores, top, device_, video_block=256)
        hits = [SearchHit(rank + 1, embeddings.ids[int(chosen[index])], float(score))
                for rank, (index, score) in enumerate(zip(found.indices[0], found.scores[0], strict=True))]
        method = (f"exact: the align head on all {n_video} videos" if len(chosen) == n_video else
                  f"re-scored: the align head on the {len(chosen)} videos closest by pooled cosine (of {n_video})")
        results.append(SearchResult(query, hits, int(found.tied_beyond[0]), method, len(chosen)))
    return results
