"""A retrieval model assembled from three components: backbone, temporal module, align head."""

from __future__ import annotations

import torch
from torch import nn

from c2vbench.model import contracts
from c2vbench.platform.interfaces import TextFeatures, VideoFeatures

CHECKED_TRAINING_CALLS = 2
"""Training calls of each kind (text, frames, video, logits) whose outputs are also checked to be finite."""

DEFAULT_COMPONENT_LABELS = {"backbone": ("the backbone", ""), "temporal": ("the temporal module", ""),
                            "align": ("the align head", "")}


class RetrievalModel(nn.Module):
    """Backbone + temporal module + align head, with the checkpoint API of the contract.

    ``encode_text`` and ``encode_video`` can run on separate batches; ``similarity`` scores any text batch against
    any video batch, so evaluation encodes every text and every video once.

    Every output of a component is checked against the plug-in rules of :mod:`c2vbench.model.contracts`, the ones the
    conformance kit checks on tiny inputs: type, shape, width and dtype (float32 for float32 inputs, or the autocast
    dtype) always; finiteness outside training and on the first :data:`CHECKED_TRAINING_CALLS` calls of each kind
    in training (later, a non-finite loss stops the run as divergence, and a check on every batch would make the
    GPU wait for the host). A violation raises :class:`c2vbench.platform.errors.PluginContractError` naming the
    component (``component_labels``: role → (how messages name it, its registered name), filled by
    :func:`c2vbench.model.assembly.build_model`) and the rule, so that a broken plug-in stops on its first batch
    instead of after training or with a traceback from the next component.
    """

    def __init__(self, backbone: nn.Module, temporal: nn.Module, align_head: nn.Module, max_frames: int = 12):
        super().__init__()
        self.max_frames = max_frames  # frame slots the temporal module was built for
        self.backbone = backbone
        self.temporal = temporal
        self.align_head = align_head
        self.component_labels: dict[str, tuple[str, str]] = dict(DEFAULT_COMPONENT_LABELS)
        self._training_checks_left: dict[str, int] = {}

    def _enforce(self, role: str, violation: contracts.Violation | None) -> None:
        if violation is not None:
            label, name = self.component_labels.get(role, DEFAULT_COMPONENT_LABELS[role])
            contracts.raise_violation(violation, label, name)

    def _enforce_finite(self, role: str, call: str, **tensors: torch.Tensor | None) -> None:
        """Check ``tensors`` are finite: always outside training, on the first calls of ``call`` in training."""
        if self.training:
            left = self._training_checks_left.setdefault(call, CHECKED_TRAINING_CALLS)
            if left <= 0:
                return
            self._training_checks_left[call] = left - 1
        self._enforce(role, contracts.finite_problem(**tensors))

    @property
    def embed_dim(self) -> int:
        return int(self.backbone.embed_dim)

    @property
    def similarity_head(self) -> nn.Module:
        """Deprecated name of :attr:`align_head`."""
        return self.align_head

    @property
    def wants_alignment_tokens(self) -> bool:
        return bool(getattr(self.align_head, "wants_alignment_tokens", False))

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextFeatures:
        """``[B, L]`` token ids and mask to :class:`TextFeatures`."""
        text = self.backbone.encode_text(input_ids, attention_mask)
        self._enforce("backbone", contracts.text_features_problem(text, *input_ids.shape[:2], self.embed_dim,
                                                                  contracts.allowed_output_dtypes()))
        self._enforce_finite("backbone", "text", **{"TextFeatures.eot": text.eot, "TextFeatures.tokens": text.tokens})
        return text

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, 3, H, W]`` images to ``[B, T, D]`` per-frame backbone embeddings (padded slots included)."""
        batch, slots = frames.shape[:2]
        flat = self.backbone.encode_frames(frames.reshape(batch * slots, *frames.shape[2:]))
        self._enforce("backbone", contracts.frame_embeddings_problem(flat, batch * slots, self.embed_dim,
                                                                     contracts.allowed_output_dtypes(frames)))
        self._enforce_finite("backbone", "frames", **{"encode_frames output": flat})
        return flat.reshape(batch, slots, -1).float()

    def encode_video_from_frame_features(self, frame_features: torch.Tensor,
                                         frame_mask: torch.Tensor) -> VideoFeatures:
        """Run the temporal module on precomputed frame embeddings (the ``frozen`` protocol's path)."""
        video = self.temporal(frame_features, frame_mask, want_alignment_tokens=self.wants_alignment_tokens)
        self._enforce("temporal", contracts.video_features_problem(video, *frame_mask.shape[:2], self.embed_dim,
                                                                   contracts.allowed_output_dtypes(frame_features)))
        self._enforce_finite("temporal", "video", **{"VideoFeatures.pooled": video.pooled,
                                                     "VideoFeatures.alignment_tokens": video.alignment_tokens})
        return video

    def encode_video(self, frames: torch.Tensor, frame_mask: torch.Tensor) -> VideoFeatures:
        """``[B, T, 3, H, W]`` images and ``[B, T]`` frame mask to :class:`VideoFeatures`."""
        return self.encode_video_from_frame_features(self.encode_frames(frames), frame_mask)

    def similarity(self, text_features: TextFeatures, video_features: VideoFeatures) -> torch.Tensor:
        """Retrieval logits ``[n_text, n_video]``."""
        logits = self.align_head(text_features, video_features)
        allowed = contracts.allowed_output_dtypes(text_features.eot, video_features.pooled)
        self._enforce("align", contracts.logits_problem(logits, len(text_features), len(video_features), allowed))
        self._enforce_finite("align", "logits", logits=logits)
        return logits

    def evaluation_protocol(self) -> dict:
        """What the align head does at test time that a score must be read with (its optional
        ``evaluation_protocol()``; e.g. T-MASS's stochastic trials), or ``{}``. It goes into the result's protocol
        card, so scores obtained differently are never ranked together."""
        describe = getattr(self.align_head, "evaluation_protocol", None)
        protocol = describe() if callable(describe) else {}
        if not isinstance(protocol, dict):
            self._enforce("align", contracts.Violation(
                "output-type", f"evaluation_protocol() returned {type(protocol).__name__}, not a dict"))
        return protocol

    def loss(self, text_features: TextFeatures, video_features: VideoFeatures) -> torch.Tensor:
        """Training loss on a batch of matching pairs (text i matches video i).

        On the first training batches the head also scores the batch (without gradients, random state untouched),
        so that logits of the wrong dtype, shape or finiteness stop training at once rather than at evaluation.
        """
        if self.training and self._training_checks_left.get("logits", CHECKED_TRAINING_CALLS) > 0:
            device = text_features.eot.device
            with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                self.similarity(text_features, video_features)
        loss = self.align_head.loss(text_features, video_features)
        allowed = contracts.allowed_output_dtypes(text_features.eot, video_features.pooled)
        self._enforce("align", contracts.loss_problem(loss, allowed))
        return loss  # a non-finite loss is the training loop's divergence error: it need not be the head's fault


LEGACY_STATE_PREFIXES = {"similarity_head.": "align_head."}


def upgrade_state_dict_keys(state: dict) -> dict:
    """Rename the keys of state dicts written before the head was called ``align_head``."""
    upgraded = {}
    for key, value in state.items():
        for old, new in LEGACY_STATE_PREFIXES.items():
            if key.startswith(old):
                key = new + key[len(old):]
        upgraded[key] = value
    return upgraded
