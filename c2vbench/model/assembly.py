"""Building a run's components from the registry: dataset, backbone, temporal module, align head."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from c2vbench.data.sampling import FrameSampling
from c2vbench.data.types import RetrievalDataset
from c2vbench.platform.errors import C2VBenchError, DataError, PluginContractError
from c2vbench.platform.registry import ComponentRegistry, RegisteredComponent
from c2vbench.platform.specs import ROLE_KIND, ROLES, build_options, options_as_dict


@dataclasses.dataclass(frozen=True)
class AssemblyPlan:
    """Which components a run builds and from what: the assembly stage's input.

    Attributes:
        names: ``{role: registered name}`` for ``backbone``, ``temporal``, ``align`` and ``dataset``.
        options: ``{role: option overrides}`` as given (strings or values; the spec's options type resolves them).
        data_root: the ``--data-root`` folder, or None.
        decoder: ``--decoder`` (``auto``, ``decord``, ``pyav`` or ``frames``).
        max_frames: ``--max-frames``, or None for the dataset's protocol.
    """

    names: dict[str, str]
    options: dict[str, dict[str, Any]]
    data_root: str | None = None
    decoder: str = "auto"
    max_frames: int | None = None


@dataclasses.dataclass
class Assembly:
    """Everything a run needs, built."""

    model: Any
    dataset: RetrievalDataset
    sampling: FrameSampling
    components: dict[str, RegisteredComponent]
    options: dict[str, dict[str, Any]]
    checkpoint: dict[str, Any] | None = None  # eval: the checkpoint's identity (content hash, format, options)


def resolve_components(plan: AssemblyPlan, registry: ComponentRegistry) -> tuple[dict, dict]:
    """Look up the four selected components and resolve their options (fails before anything is built)."""
    components = {role: registry.get(ROLE_KIND[role], plan.names[role]) for role in ROLES}
    overrides = {role: dict(plan.options.get(role, {})) for role in ROLES}
    overrides["dataset"] = dataset_overrides(plan.decoder, overrides["dataset"], components["dataset"].spec)
    options = {role: build_options(components[role].spec, overrides[role]) for role in ROLES}
    return components, options


def _declares_decoder(spec: Any) -> bool:
    options_type = getattr(spec, "options_type", None)
    return dataclasses.is_dataclass(options_type) and any(
        field.name == "decoder" for field in dataclasses.fields(options_type))


def dataset_overrides(decoder: str, dataset_options: dict[str, Any], spec: Any) -> dict[str, Any]:
    """The dataset's option overrides with ``--decoder`` folded in, for a dataset that declares a ``decoder`` option.

    A dataset without one gets ``--decoder`` applied to its sampling instead (:func:`sampling_with_decoder`). A video
    library asked for by name is checked here, before any data is read or generated.
    """
    from c2vbench.data.decoders import VIDEO_DECODERS, require_decoder

    if decoder in VIDEO_DECODERS:
        require_decoder(decoder)
    overrides = dict(dataset_options)
    if decoder != "auto" and _declares_decoder(spec):
        given = overrides.get("decoder")
        if given is not None and str(given).strip().lower() != decoder:
            raise C2VBenchError(f"--decoder {decoder} contradicts --dataset-option decoder={given}",
                                "give only one of them")
        overrides["decoder"] = decoder
    elif decoder == "frames":
        raise C2VBenchError(f"dataset '{spec.name}' offers no extracted frame folders to read with --decoder frames",
                            "use --decoder auto, decord, pyav or torchcodec")
    return overrides


def sampling_with_decoder(decoder: str, spec: Any, sampling: FrameSampling) -> FrameSampling:
    """``sampling`` with ``--decoder`` applied (datasets without a decoder option), its library checked installed."""
    from c2vbench.data.decoders import VIDEO_DECODERS, require_decoder

    if decoder != "auto" and not _declares_decoder(spec):
        sampling = dataclasses.replace(sampling, decoder=decoder)
    if sampling.decoder in VIDEO_DECODERS:
        require_decoder(sampling.decoder)
    return sampling


def check_data_root(spec: Any, data_root: str | None) -> Path | None:
    """The ``--data-root`` a dataset reads (only ever read), or an error: missing when needed, given when not."""
    needs_root = getattr(spec, "needs_data_root", True)
    if data_root is None:
        if needs_root:
            layout = getattr(spec, "data_layout", "")
            holds = f"DIR holds {layout}" if layout else f"DIR is the folder you downloaded {spec.name} to"
            raise DataError(f"dataset '{spec.name}' needs --data-root DIR (the folder you downloaded it to)",
                            f"pass --data-root DIR where {holds}; nothing is downloaded for you")
        return None
    root = Path(data_root).expanduser()
    if not needs_root:
        raise DataError(f"dataset '{spec.name}' reads no --data-root (c2vbench generates it in its own cache), "
                        f"so --data-root {root} is refused rather than written into",
                        "drop --data-root (set C2VBENCH_CACHE to move the cache)")
    if not root.exists():
        raise DataError(f"--data-root {root} does not exist", f"point it at your {spec.name} folder")
    return root


def load_dataset(component: RegisteredComponent, options: Any, data_root: str | None) -> RetrievalDataset:
    """Build the dataset; ``--data-root`` is only ever read, and refused by a dataset that reads none."""
    root = check_data_root(component.spec, data_root)
    from c2vbench.model import contracts

    dataset = component.build(options, root)
    contracts.raise_violation(contracts.dataset_problem(dataset), component.describe(), component.name)
    return dataset


def build_model(components: dict[str, RegisteredComponent], options: dict[str, Any], max_frames: int):
    """Backbone, then temporal module (seeing the backbone), then the align head (seeing both)."""
    from c2vbench.model.retrieval_model import RetrievalModel
    from c2vbench.platform.interfaces import BuildContext

    backbone = components["backbone"].build(options["backbone"])
    embed_dim = positive_int(getattr(backbone, "embed_dim", None))
    if embed_dim is None:
        raise PluginContractError(f"{components['backbone'].describe()} broke the plug-in rule 'output-type': "
                                  f"its embed_dim is {getattr(backbone, 'embed_dim', None)!r}, "
                                  "not a positive int",
                                  "set embed_dim on the backbone module", rule="output-type")
    context = BuildContext(backbone=backbone, embed_dim=embed_dim, max_frames=max_frames)
    temporal = components["temporal"].build(options["temporal"], context)
    align_head = components["align"].build(options["align"], dataclasses.replace(context, temporal=temporal))
    model = RetrievalModel(backbone, temporal, align_head, max_frames=max_frames)
    model.component_labels = {role: (components[role].describe(), components[role].name)
                               for role in ("backbone", "temporal", "align")}
    return model


def positive_int(value: Any) -> int | None:
    """``value`` as an int when it is a positive integer (of any integer type), else None."""
    import operator

    if isinstance(value, bool):
        return None
    try:
        number = operator.index(value)
    except TypeError:
        return None
    return number if number >= 1 else None


def backbone_options_for(dataset: RetrievalDataset, spec: Any, options: Any, overrides: dict[str, Any]) -> Any:
    """The backbone's options with the caption length the dataset's protocol calls for (``dataset.max_words``), for
    a backbone with a ``max_words`` option that the run did not set; a run that sets another value is refused."""
    wanted = getattr(dataset, "max_words", None)
    if wanted is None or not dataclasses.is_dataclass(options) or \
            "max_words" not in {field.name for field in dataclasses.fields(options)}:
        return options
    if "max_words" in overrides:
        if int(overrides["max_words"]) != int(wanted):
            raise C2VBenchError(f"--backbone-option max_words={overrides['max_words']} contradicts the {dataset.name} "
                                f"protocol's {wanted} caption tokens",
                                f"set --dataset-option max_words={overrides['max_words']} instead (the protocol card "
                                "records it)")
        return options
    return build_options(spec, {**overrides, "max_words": wanted})


def assemble(plan: AssemblyPlan, registry: ComponentRegistry) -> Assembly:
    """Resolve, load the dataset and build the model (torch's generator must already be seeded)."""
    components, options = resolve_components(plan, registry)
    dataset = load_dataset(components["dataset"], options["dataset"], plan.data_root)
    sampling = sampling_with_decoder(plan.decoder, components["dataset"].spec, dataset.sampling)
    if plan.max_frames is not None:
        sampling = dataclasses.replace(sampling, max_frames=plan.max_frames)
    options["backbone"] = backbone_options_for(dataset, components["backbone"].spec, options["backbone"],
                                               plan.options.get("backbone", {}))
    model = build_model(components, options, sampling.max_frames)
    return Assembly(model, dataset, sampling, components,
                    {role: options_as_dict(value) for role, value in options.items()})
