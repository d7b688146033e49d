"""The resolved run configuration: CLI flags (and an optional TOML file) become one object, saved in every result.

Only the pipeline, the CLI and the Python API read a :class:`RunConfig`. The stages below the pipeline receive the
small plans it makes from it (:meth:`RunConfig.assembly_plan`, :meth:`~RunConfig.training_plan`,
:meth:`~RunConfig.evaluation_plan`) and, where the result records the whole configuration, its dict.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from c2vbench.platform.choices import POSTPROCESSOR_NAMES, TIE_POLICIES, V2T_MODES
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
SELECTION_CHOICES = ("auto", "none")  # or the name of one of the dataset's splits (checked against the dataset)
SPLIT_NAME = re.compile(r"[a-z][a-z0-9_-]*")
MAX_SEED = 2**32 - 1  # numpy's legacy seed range; torch's generators take it too
MAX_WORKERS = 256


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
    compile: bool = False
    checkpoint_activations: bool = False
    prefetch_batches: int = 2  # training batches prepared ahead (0: each when its step asks)
    preprocess: str = "tensor"
    embedding_cache: bool = True
    save_checkpoint: bool | None = None  # None: save trained models only (zeroshot runs save nothing)
    out: str = "results"
    probe: str = "none"
    probe_shuffles: int = 3

    def __post_init__(self) -> None:
        check_setting_types(self.to_dict(), "")
        self._check_choices()
        self._check_numbers()
        from c2vbench.data.decoders import check_decoder_choice

        self.decoder = check_decoder_choice(self.decoder)
        self.backbone, self.temporal, self.align, self.dataset = (
            name.lower() for name in (self.backbone, self.temporal, self.align, self.dataset))

    def _check_choices(self) -> None:
        """Every setting with a fixed vocabulary: a typo is one line before anything is built or read."""
        if self.protocol not in PROTOCOLS:
            raise C2VBenchError(f"unknown protocol '{self.protocol}'", f"use one of {', '.join(PROTOCOLS)}")
        if self.device not in DEVICES and not CUDA_INDEX.fullmatch(str(self.device)):
            raise C2VBenchError(f"unknown device '{self.device}'",
                                f"use one of {', '.join(DEVICES)}, or cuda:N for the N-th GPU (cuda:0, cuda:1, ...)")
        vocabularies = [("precision", "precision", PRECISIONS), ("preprocess", "preprocessing path", PREPROCESS_PATHS),
                        ("tie", "tie policy", TIE_POLICIES), ("v2t_mode", "video-to-text mode", V2T_MODES),
                        ("postprocess", "post-processor", POSTPROCESSOR_NAMES), ("probe", "probe set", PROBE_SETS)]
        for name, what, allowed in vocabularies:
            if getattr(self, name) not in allowed:
                raise C2VBenchError(f"unknown {what} '{getattr(self, name)}' (--{name.replace('_', '-')})",
                                    f"use one of {', '.join(allowed)}")
        if self.select_on not in SELECTION_CHOICES and not SPLIT_NAME.fullmatch(self.select_on):
            raise C2VBenchError(f"--select-on {self.select_on!r} is not a split name",
                                "use auto (the dataset's choice), none (keep the last epoch), val or test")

    def _check_numbers(self) -> None:
        """Numeric ranges: a negative learning rate or worker count is refused before the work, not after it."""
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if value < (0 if name == "epochs" else 1):
                raise C2VBenchError(f"--{name.replace('_', '-')} must be positive (got {value})")
        if self.prefetch_batches < 0:
            raise C2VBenchError(f"prefetch_batches must be 0 or more (got {self.prefetch_batches})")
        if self.protocol != "zeroshot" and self.epochs == 0:
            raise C2VBenchError("--epochs 0 trains nothing", "use --protocol zeroshot to evaluate without training")
        if not 0 <= self.seed <= MAX_SEED:
            raise C2VBenchError(f"--seed must be between 0 and {MAX_SEED} (got {self.seed})")
        if not -1 <= self.num_workers <= MAX_WORKERS:
            raise C2VBenchError(f"--num-workers must be between -1 (one per CPU core) and {MAX_WORKERS} "
                                f"(got {self.num_workers})", "use 0 to decode in the main process")
        if self.max_frames is not None and self.max_frames < 1:
            raise C2VBenchError(f"--max-frames must be at least 1 (got {self.max_frames})")
        if self.probe_shuffles < 1:
            raise C2VBenchError(f"--probe-shuffles must be at least 1 (got {self.probe_shuffles})")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise C2VBenchError(f"--lr must be a positive number (got {self.lr})", "for example --lr 1e-4")
        ranges = [("backbone_lr", 0.0, math.inf), ("backbone_lr_scale", 0.0, math.inf),
                  ("weight_decay", 0.0, math.inf), ("warmup_proportion", 0.0, 1.0), ("grad_clip", 0.0, math.inf)]
        for name, low, high in ranges:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and low <= value <= high):
                allowed = f"between {low:g} and {high:g}" if math.isfinite(high) else f"a number ≥ {low:g}"
                raise C2VBenchError(f"--{name.replace('_', '-')} must be {allowed} (got {value})")

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
            components=f"{self.temporal}/{self.align}", prefetch_batches=self.prefetch_batches)

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
    """Settings from a TOML file (keys as in :class:`RunConfig`; option tables as ``[temporal_options]``).

    The file must be UTF-8 TOML naming known settings with values of their types; anything else is one line."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise C2VBenchError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise C2VBenchError(f"config file {path} is a folder", "give a .toml file") from None
    except OSError as error:
        raise C2VBenchError(f"cannot read config file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise C2VBenchError(f"config file {path} is not UTF-8 text (byte {error.start} is not valid UTF-8)",
                            "save it as UTF-8 (TOML files are UTF-8)") from None
    except tomllib.TOMLDecodeError as error:
        raise C2VBenchError(f"config file {path} is not valid TOML: {error}") from None
    known = {field.name for field in dataclasses.fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise C2VBenchError(f"config file {path} has unknown setting(s) {', '.join(unknown)}",
                            f"known settings: {', '.join(sorted(known))}")
    check_setting_types(data, f"config file {path}: ")
    return data


# The type of every RunConfig setting, in words, from its annotation (the module uses postponed annotations).
_TYPE_WORDS = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false",
               "dict[str, Any]": "a table of options"}


def _accepts(annotation: str, value: Any) -> bool:
    for part in (piece.strip() for piece in annotation.split("|")):
        if part == "None" and value is None:
            return True
        if part == "bool" and isinstance(value, bool):
            return True
        if part == "int" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if part == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if part == "str" and isinstance(value, (str, PurePath)):  # paths (out, data_root) may come as Path objects
            return True
        if part.startswith("dict") and isinstance(value, dict):
            return True
    return False


def check_setting_types(settings: dict[str, Any], source: str) -> None:
    """Refuse a setting whose value is not of its type (``epochs = "ten"`` in a TOML file), naming it and the
    type it needs; ``source`` prefixes the message (e.g. the config file)."""
    fields = {field.name: str(field.type) for field in dataclasses.fields(RunConfig)}
    for name, value in settings.items():
        annotation = fields.get(name)
        if annotation is None or _accepts(annotation, value):
            continue
        wanted = " or ".join(_TYPE_WORDS.get(part.strip(), part.strip()) for part in annotation.split("|")
                             if part.strip() != "None")
        raise C2VBenchError(f"{source}setting {name} = {value!r} is not valid: it must be {wanted}",
                            f"write it as a [{name}] table" if annotation.startswith("dict") else
                            f"give {name} as {wanted}")
