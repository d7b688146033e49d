"""The resolved run configuration: CLI flags (and an optional TOML file) become one object, saved in every result.

Only the pipeline, the CLI and the Python API read a :class:`RunConfig`. The stages below the pipeline receive the
small plans it makes from it (:meth:`RunConfig.assembly_plan`, :meth:`~RunConfig.training_plan`,
:meth:`~RunConfig.evaluation_plan`) and, where the result records the whole configuration, its dict.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c2vbench.platform.errors import C2VBenchError
from c2vbench.results.identity import NON_NUMERIC_SETTINGS
from c2vbench.runtime.hashing import canonical_hash

if TYPE_CHECKING:
    from c2vbench.evaluation.plan import EvaluationPlan
    from c2vbench.model.assembly import AssemblyPlan
    from c2vbench.training.plan import TrainingPlan

PROTOCOLS = ("zeroshot", "frozen", "finetune")
DEVICES = ("auto", "cpu", "cuda")
CUDA_INDEX = re.compile(r"cuda:\d+")
PROBE_SETS = ("none", "order")  # --probe: see c2vbench.probes.order_probes

PRECISIONS = ("fp32", "fp16", "bf16")
PREPROCESS_PATHS = ("tensor", "pil")


@dataclasses.dataclass
class RunConfig:
    """Every setting of a run that can change a number, plus where to write.

    Learning rates follow CLIP4Clip's split: ``lr`` for the temporal and similarity modules, ``backbone_lr`` for
    the backbone under ``finetune``. When ``backbone_lr`` is None it is ``lr × backbone_lr_scale``, and when that
    scale is None too, ``lr ×`` the backbone's own recommendation (``recommended_lr_scale``: 1e-3 for pretrained
    CLIP weights as in CLIP4Clip, 1 for a randomly initialised backbone).
    """

    backbone: str = "tiny-clip"
    temporal: str = "meanp"
    align: str = "cosine"
    dataset: str = "synthetic-motion"
    backbone_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    temporal_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    align_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_root: str | None = None
    protocol: str = "finetune"
    epochs: int = 20
    batch_size: int = 32
    eval_batch_size: int = 64
    max_frames: int | None = None
    seed: int = 0
    device: str = "auto"
    lr: float = 1e-3
    backbone_lr: float | None = None
    backbone_lr_scale: float | None = None
    weight_decay: float = 0.2
    warmup_proportion: float = 0.1
    grad_clip: float = 1.0
    select_on: str = "auto"
    tie: str = "expected"
    v2t_mode: str = "all-captions"
    postprocess: str = "none"
    allow_missing: bool = False
    decoder: str = "auto"
    num_workers: int = 0
    precision: str = "fp32"
    preprocess: str = "tensor"
    embedding_cache: bool = True
    save_checkpoint: bool | None = None  # None: save trained models only (zeroshot runs save nothing)
    out: str = "results"
    probe: str = "none"
    probe_shuffles: int = 3

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise C2VBenchError(f"unknown protocol '{self.protocol}'", f"use one of {', '.join(PROTOCOLS)}")
        if self.device not in DEVICES and not CUDA_INDEX.fullmatch(str(self.device)):
            raise C2VBenchError(f"unknown device '{self.device}'",
                                f"use one of {', '.join(DEVICES)}, or cuda:N for the N-th GPU (cuda:0, cuda:1, ...)")
        if self.precision not in PRECISIONS:
            raise C2VBenchError(f"unknown precision '{self.precision}'", f"use one of {', '.join(PRECISIONS)}")
        if self.preprocess not in PREPROCESS_PATHS:
            raise C2VBenchError(f"unknown preprocessing path '{self.preprocess}'",
                                f"use one of {', '.join(PREPROCESS_PATHS)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if value < (0 if name == "epochs" else 1):
                raise C2VBenchError(f"--{name.replace('_', '-')} must be positive (got {value})")
        if self.probe not in PROBE_SETS:
            raise C2VBenchError(f"unknown probe set '{self.probe}'", "use --probe order (or none)")
        if self.probe_shuffles < 1:
            raise C2VBenchError(f"--probe-shuffles must be at least 1 (got {self.probe_shuffles})")
        from c2vbench.data.decoders import check_decoder_choice

        self.decoder = check_decoder_choice(self.decoder)
        if self.max_frames is not None and self.max_frames < 1:
            raise C2VBenchError(f"--max-frames must be at least 1 (got {self.max_frames})")
        if self.protocol != "zeroshot" and self.epochs == 0:
            raise C2VBenchError("--epochs 0 trains nothing", "use --protocol zeroshot to evaluate without training")
        self.backbone, self.temporal, self.align, self.dataset = (
            name.lower() for name in (self.backbone, self.temporal, self.align, self.dataset))

    def saves_checkpoint(self) -> bool:
        """Whether the run saves its model: when asked, else only when it trained one."""
        return self.save_checkpoint if self.save_checkpoint is not None else self.protocol != "zeroshot"

    def assembly_plan(self) -> AssemblyPlan:
        """What the assembly stage builds: the four components, their options, the data root and decoder."""
        from c2vbench.model.assembly import AssemblyPlan

        return AssemblyPlan(
            names={"backbone": self.backbone, "temporal": self.temporal, "align": self.align,
                   "dataset": self.dataset},
            options={"backbone": dict(self.backbone_options), "temporal": dict(self.temporal_options),
                     "align": dict(self.align_options), "dataset": dict(self.dataset_options)},
            data_root=self.data_root, decoder=self.decoder, max_frames=self.max_frames)

    def evaluation_plan(self) -> EvaluationPlan:
        """How the test split (and the selection split, every epoch) is encoded, scored and ranked."""
        from c2vbench.evaluation.plan import EvaluationPlan

        return EvaluationPlan(batch_size=self.eval_batch_size, num_workers=self.num_workers,
                              preprocess=self.preprocess, precision=self.precision, tie=self.tie,
                              v2t_mode=self.v2t_mode, postprocess=self.postprocess)

    def training_plan(self) -> TrainingPlan:
        """How the model is trained (``frozen`` or ``finetune``)."""
        from c2vbench.training.plan import TrainingPlan

        return TrainingPlan(
            protocol=self.protocol, epochs=self.epochs, batch_size=self.batch_size, seed=self.seed, lr=self.lr,
            backbone_lr=self.backbone_lr, backbone_lr_scale=self.backbone_lr_scale, weight_decay=self.weight_decay,
            warmup_proportion=self.warmup_proportion, grad_clip=self.grad_clip, num_workers=self.num_workers,
            preprocess=self.preprocess, precision=self.precision, selection=self.evaluation_plan(),
            components=f"{self.temporal}/{self.align}")

    def reuses_backbone_features(self) -> bool:
        """Whether the backbone's embeddings may come from the embedding cache: it is on, and the protocol does not
        train the backbone (``zeroshot``, ``frozen``)."""
        return self.embedding_cache and self.protocol in ("zeroshot", "frozen")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def config_key(self) -> str:
        """A hash of every number-changing setting except the seed: runs differing only by seed share it."""
        relevant = {key: value for key, value in self.to_dict().items() if key not in NON_NUMERIC_SETTINGS}
        return canonical_hash(relevant)


def parse_option_pairs(pairs: tuple[str, ...], flag: str) -> dict[str, str]:
    """``("a=1", "b=x")`` to ``{"a": "1", "b": "x"}``, refusing anything without ``=``."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise C2VBenchError(f"{flag} expects key=value, got {pair!r}", f"for example {flag} layers=2")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML file (keys as in :class:`RunConfig`; option tables as ``[temporal_options]``)."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise C2VBenchError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise C2VBenchError(f"config file {path} is not valid TOML: {error}") from None
    known = {field.name for field in dataclasses.fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise C2VBenchError(f"config file {path} has unknown setting(s) {', '.join(unknown)}",
                            f"known settings: {', '.join(sorted(known))}")
    return data
