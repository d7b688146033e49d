"""Order probes: does a model use frame order (and word order)?

``--probe order`` scores the test split again under four rearrangements and compares each with the unprobed
scores, query by query:

* ``reverse``: each video's valid frames in reverse order;
* ``shuffle``: each video's valid frames in a fixed random order, for several fixed seeds (``0 .. shuffles-1``);
  the probe's per-query values are the mean over those permutations;
* ``repeat_middle``: every valid slot holds the video's middle frame (one frame, repeated);
* ``shuffle_words``: each caption's words in a fixed random order, tokenised again (special tokens in place).

The frame probes rearrange the **per-frame backbone embeddings at the temporal module's input** (frames are
decoded and encoded once, by the unprobed evaluation), with :mod:`c2vbench.probes.frame_order`: padded slots and the
frame mask are untouched. Only the temporal module, the align head, post-processing and the ranking run again. The word
probe re-encodes the captions only. Nothing here writes into the unprobed features or scores, and every probe draws from
its own seeded generator, so a probed run's unprobed numbers equal those of a run without probes.

Each probe reports its metrics (and, for subsets with rival videos such as synthetic-motion's order twins, the
pairwise accuracy own > rival) and, for ``R@1 R@5 R@10 MnR MRR`` in both directions, the paired difference
``probed - unprobed`` with the suite's paired percentile bootstrap CI (text queries resampled by video) and the
paired sign-flip randomisation test (:mod:`c2vbench.results.stats`). What was permuted, with which seeds and which test,
is written in the block's own protocol card (``probes.protocol``, hashed); the result's main protocol card is
left as it is, so probed and unprobed results of one protocol still rank together.

The pure reorderings (``reverse``, ``shuffle``) are refused, and the refusal recorded, when the temporal module
*and* the align head declare themselves order-invariant (``order_sensitive=False`` on their specs): such a model
could only move by float rounding. ``repeat_middle`` still runs for them, since it changes *which* frames are seen
(for mean pooling: one frame instead of the average), and so does the word probe. Videos with fewer than two
valid frames, and captions with fewer than two different words, cannot change; they stay in every probe and are
listed as unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from c2vbench.platform.errors import C2VBenchError
from c2vbench.probes.frame_order import ORDER_KINDS, rearrange_frames, valid_lengths
from c2vbench.probes.text_order import WORD_SHUFFLE, shuffle_words, special_token_ids, special_tokens_moved
from c2vbench.results.comparison import direction_values
from c2vbench.results.probes_block import unmoved
from c2vbench.results.result_file import protocol_card
from c2vbench.results.stats import (
    COMPARE_METRICS,
    DEFAULT_RESAMPLES,
    bootstrap_differences,
    paired_randomization_test,
    percentile_interval,
)

if TYPE_CHECKING:
    import torch

    from c2vbench.data.types import RetrievalDataset, RetrievalSplit
    from c2vbench.evaluation.features import EncodedSplit
    from c2vbench.evaluation.plan import EvaluationPlan
    from c2vbench.runtime.progress import Reporter

FRAME_PROBES = ORDER_KINDS
# the probes that only change the order of the frames (repeat_middle also changes which frames are seen)
PERMUTATION_PROBES = ("reverse", "shuffle")
PROBE_NAMES = (*FRAME_PROBES, WORD_SHUFFLE)
DEFAULT_SHUFFLES = 3
PROBE_METRICS = COMPARE_METRICS
CONFIDENCE = 0.95
PROBES_FORMAT_VERSION = 1

FRAME_INPUT = "per-frame backbone embeddings at the temporal module's input (frames decoded and encoded once)"
DESCRIPTIONS = {
    "reverse": "each video's valid frames in reverse order (slot i takes frame n-1-i)",
    "shuffle": "each video's valid frames in a fixed random order (torch.randperm on a CPU generator seeded per "
               "permutation, videos in split order; an identity draw is replaced by a rotation by one)",
    "repeat_middle": "every valid slot takes the middle frame, index (n-1)//2",
    WORD_SHUFFLE: "each caption's whitespace-separated words in a fixed random order (numpy default_rng, captions "
                  "in split order; an unchanged draw is replaced by a rotation by one word), tokenised again by "
                  "the backbone's tokenizer, which places its special tokens as for any caption",
}


def declared_order_sensitivity(components: Mapping[str, Any]) -> dict[str, bool | None]:
    """``{"temporal": ..., "align": ...}``: each component's ``order_sensitive`` declaration (None: undeclared)."""
    declared = {}
    for role in ("temporal", "align"):
        spec = getattr(components.get(role), "spec", None)
        declared[role] = getattr(spec, "order_sensitive", None)
    return declared


def frame_probe_refusal(components: Mapping[str, Any]) -> str | None:
    """Why the reordering probes (reverse, shuffle) are refused for these components, or None when they run."""
    declared = declared_order_sensitivity(components)
    if declared["temporal"] is False and declared["align"] is False:
        names = {role: getattr(getattr(components.get(role), "spec", None), "name", "?") for role in declared}
        return (f"temporal module '{names['temporal']}' and align head '{names['align']}' declare themselves "
                "order-invariant (order_sensitive=False): reversing or shuffling frames could only move their "
                "scores by float rounding")
    return None


# ---------------------------------------------------------------------------------------------------------------
# paired differences


def _direction_matrix(per_query_list: Sequence[Mapping[str, Any]], direction: str, tie: str) -> np.ndarray:
    """``[n_queries, n_metrics]`` per-query contributions, averaged over the given runs."""
    values = direction_values([{"per_query": per_query} for per_query in per_query_list], direction, PROBE_METRICS,
                              tie)
    return values.mean(axis=0)


def paired_difference(unprobed: Mapping[str, Any], probed_runs: Sequence[Mapping[str, Any]], tie: str,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"t2v"|"v2t": {METRIC: {"unprobed", "probed", "diff", "ci", "p"}}}`` with ``diff = probed - unprobed``.

    ``unprobed`` and every run are ``per_query`` mappings over the same queries; several runs (the shuffle
    permutations) are averaged per query first. CI: paired percentile bootstrap (text queries resampled by their
    video when ``unprobed`` carries ``t2v_video``); p: paired sign-flip randomisation test.
    """
    clusters = unprobed.get("t2v_video")
    block: dict[str, dict[str, dict[str, Any]]] = {}
    for direction in ("t2v", "v2t"):
        before = _direction_matrix([unprobed], direction, tie)
        after = _direction_matrix(probed_runs, direction, tie)
        groups = None if direction == "v2t" or clusters is None else np.asarray(clusters)
        samples = bootstrap_differences(before[None], after[None], groups, n_resamples, seed)
        low, high = percentile_interval(samples, CONFIDENCE)
        p_values = np.atleast_1d(paired_randomization_test(before, after, groups, n_resamples, seed))
        block[direction] = {
            metric: {
                "unprobed": float(before[:, i].mean()),
                "probed": float(after[:, i].mean()),
                "diff": float(after[:, i].mean() - before[:, i].mean()),
                "ci": [float(low[i]), float(high[i])],
                "p": float(p_values[i]),
            }
            for i, metric in enumerate(PROBE_METRICS)
        }
    return block


def _mean_metrics(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Each metric averaged over the runs (for MdR: the mean of the runs' medians)."""
    return {direction: {name: float(np.mean([run["metrics"][direction][name] for run in runs]))
                        for name in runs[0]["metrics"][direction]}
            for direction in ("t2v", "v2t")}


# ---------------------------------------------------------------------------------------------------------------
# rescoring


class Rescorer:
    """Scores probed features exactly as the unprobed evaluation did: temporal module, align head, post-processing,
    metrics."""

    def __init__(self, model, dataset: RetrievalDataset, split: RetrievalSplit, plan: EvaluationPlan,
                 device: torch.device, reporter: Reporter):
        from c2vbench.evaluation.postprocess import get_postprocessor

        self.model, self.dataset, self.split, self.plan = model, dataset, split, plan
        self.device, self.reporter = device, reporter
        self.processor = get_postprocessor(plan.postprocess)
        self._bank_text = None

    def videos(self, frame_features: torch.Tensor, frame_mask: torch.Tensor):
        from c2vbench.evaluation.encoding import FrameBank, encode_videos_from_bank

        bank = FrameBank(frame_features, frame_mask, 0.0)
        return encode_videos_from_bank(self.model, bank, self.plan.batch_size, self.device,
                                       precision=self.plan.precision)

    def texts(self, captions: list[str]):
        from c2vbench.evaluation.encoding import encode_texts
        from c2vbench.runtime.progress import Reporter

        return encode_texts(self.model, captions, self.plan.batch_size, self.device, Reporter(quiet=True),
                            precision=self.plan.precision)

    def evaluate(self, text, video) -> dict[str, Any]:
        """``{"metrics", "per_query"}`` of the (post-processed) scores of ``text`` against ``video``, scored and
        ranked on the same path as the unprobed evaluation (streamed where it streams)."""
        from c2vbench.evaluation.encoding import score_all, streamed_scores
        from c2vbench.results.result_file import evaluation_block

        if self.plan.streams:
            sim = streamed_scores(self.model, text, video, self.device)
        else:
            sim = score_all(self.model, text, video, self.device)
            bank_sim = None
            if self.processor.needs_bank:
                if self._bank_text is None:
                    self._bank_text = self.texts([c.text for c in self.dataset.split("train").captions])
                bank_sim = score_all(self.model, self._bank_text, video, self.device)
            sim = self.processor.apply(sim, bank_sim=bank_sim)
        evaluated = evaluation_block(sim, self.split, self.plan)
        per_query = {key: evaluated["per_query"][key] for key in ("t2v_rank", "t2v_ties", "v2t_rank", "v2t_ties")}
        run: dict[str, Any] = {"metrics": evaluated["metrics"], "per_query": per_query}
        pairwise = {name: subset["pairwise"]["accuracy"] for name, subset in evaluated.get("subsets", {}).items()
                    if "pairwise" in subset}
        if pairwise:
            run["pairwise_accuracy"] = pairwise
        return run


# ---------------------------------------------------------------------------------------------------------------
# the probes block


def probe_card(plan: EvaluationPlan, shuffle_seeds: Sequence[int], word_seed: int, n_resamples: int, seed: int,
               refusal: str | None) -> dict[str, Any]:
    """Exactly what the probes permuted and how they were compared (hashed like a protocol card)."""
    return protocol_card({
        "set": "order",
        "format_version": PROBES_FORMAT_VERSION,
        "frames": {
            "input": FRAME_INPUT,
            "padded_slots": "untouched",
            "frame_mask": "unchanged",
            "probes": {
                **({} if refusal else {
                    "reverse": {"description": DESCRIPTIONS["reverse"]},
                    "shuffle": {"description": DESCRIPTIONS["shuffle"], "seeds": list(shuffle_seeds)},
                }),
                "repeat_middle": {"description": DESCRIPTIONS["repeat_middle"]},
            },
            "refused": {name: refusal for name in PERMUTATION_PROBES} if refusal else {},
        },
        "text": {WORD_SHUFFLE: {"description": DESCRIPTIONS[WORD_SHUFFLE], "seed": int(word_seed)}},
        "postprocess": plan.postprocess,
        "comparison": {
            "pairing": "the same queries with and without the probe",
            "diff": "probed - unprobed",
            "metrics": list(PROBE_METRICS),
            "ci": f"paired percentile bootstrap, {int(CONFIDENCE * 100)}%, text queries resampled by video",
            "p": "paired sign-flip randomisation test, two-sided",
            "n_resamples": int(n_resamples),
            "seed": int(seed),
        },
    })


def _probe_entry(target: str, description: str, runs: list[dict[str, Any]], unprobed: Mapping[str, Any],
                 tie: str, n_resamples: int, seed: int) -> dict[str, Any]:
    probed = [run["per_query"] for run in runs]
    entry = {
        "target": target,
        "description": description,
        "metrics": runs[0]["metrics"] if len(runs) == 1 else _mean_metrics(runs),
        "difference": paired_difference(unprobed, probed, tie, n_resamples, seed),
        "unmoved": unmoved(unprobed, probed),
        "runs": runs,
    }
    if "pairwise_accuracy" in runs[0]:
        # subsets with a rival per query (synthetic-motion's order twins): own video above its rival, in percent
        entry["pairwise_accuracy"] = {name: float(np.mean([run["pairwise_accuracy"][name] for run in runs]))
                                      for name in runs[0]["pairwise_accuracy"]}
    return entry


def run_order_probes(model, dataset: RetrievalDataset, split: RetrievalSplit, encoded: EncodedSplit,
                     unprobed: Mapping[str, Any], components: Mapping[str, Any], plan: EvaluationPlan,
                     device: torch.device, reporter: Reporter, shuffles: int = DEFAULT_SHUFFLES,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                     honour_declarations: bool = True) -> dict[str, Any]:
    """The result's ``probes`` block for one evaluated test split.

    Args:
        encoded: the unprobed evaluation's features; ``encoded.frames`` (the per-frame embeddings) is required.
        unprobed: the result's ``per_query`` (what every probe is paired with).
        components: the run's registered components (their ``order_sensitive`` declarations).
        shuffles: number of fixed shuffle permutations (seeds ``0 .. shuffles-1``).
        honour_declarations: False runs the frame probes even for declared order-invariant components (used to
            check a declaration, as the conformance kit does).
    """
    if shuffles < 1:
        raise C2VBenchError(f"--probe-shuffles must be at least 1 (got {shuffles})")
    if encoded.frames is None:
        raise C2VBenchError("order probes need the per-frame embeddings of the evaluation",
                            "evaluate through c2vbench's pipeline (encode_split keeps them)")
    start = time.perf_counter()
    tie = plan.tie
    refusal = frame_probe_refusal(components) if honour_declarations else None
    shuffle_seeds = list(range(int(shuffles)))
    rescorer = Rescorer(model, dataset, split, plan, device, reporter)
    bank = encoded.frames
    lengths = valid_lengths(bank.frame_mask)
    video_ids = split.video_ids()
    unaffected_videos = [video_ids[i] for i in np.flatnonzero(lengths.numpy() < 2)]
    probes: dict[str, Any] = {}

    kinds = [kind for kind in FRAME_PROBES if refusal is None or kind not in PERMUTATION_PROBES]
    if refusal is not None:
        reporter.note(f"order probes {' and '.join(PERMUTATION_PROBES)} refused: {refusal}")
    for kind in reporter.track(kinds, "order probes (frames)", total=len(kinds)):
        seeds = shuffle_seeds if kind == "shuffle" else [None]
        runs = []
        for probe_seed in seeds:
            features = rearrange_frames(bank.features, bank.frame_mask, kind, probe_seed or 0)
            run = rescorer.evaluate(encoded.text, rescorer.videos(features, bank.frame_mask))
            runs.append({"seed": probe_seed, **run})
        probes[kind] = _probe_entry("frames", DESCRIPTIONS[kind], runs, unprobed, tie, n_resamples, seed)

    captions = [caption.text for caption in split.captions]
    word_seed = 0
    shuffled, changed = shuffle_words(captions, word_seed)
    tokenize = model.backbone.tokenize
    moved = special_tokens_moved(tokenize(captions), tokenize(shuffled), special_token_ids(tokenize))
    run = rescorer.evaluate(rescorer.texts(shuffled), encoded.video)
    probes[WORD_SHUFFLE] = _probe_entry("text", DESCRIPTIONS[WORD_SHUFFLE], [{"seed": word_seed, **run}], unprobed,
                                        tie, n_resamples, seed)
    probes[WORD_SHUFFLE]["special_tokens_moved"] = moved

    return {
        "set": "order",
        "protocol": probe_card(plan, shuffle_seeds, word_seed, n_resamples, seed, refusal),
        "declared_order_sensitive": declared_order_sensitivity(components),
        "refused": {name: refusal for name in PERMUTATION_PROBES} if refusal else {},
        "unaffected": {
            "videos": {"total": len(video_ids), "count": len(unaffected_videos), "ids": unaffected_videos,
                       "why": "fewer than two valid frames: no frame probe can change them"},
            "captions": {"total": len(captions), "count": int(len(changed) - sum(changed)),
                         "indices": [i for i, flag in enumerate(changed) if not flag],
                         "why": "fewer than two different words: shuffling cannot change them"},
        },
        "probes": probes,
        "cost": {"seconds": round(time.perf_counter() - start, 3)},
    }
