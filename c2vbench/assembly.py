"""Building a run's components from the registry: dataset, backbone, temporal module, align head."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .config import RunConfig
from .data.sampling import FrameSampling
from .data.types import RetrievalDataset
from .errors import DataError, PluginContractError
from .registry import ComponentRegistry, RegisteredComponent
from .specs import ROLE_KIND, ROLES, build_options, options_as_dict


@dataclasses.dataclass
class Assembly:
    """Everything a run needs, built."""

    model: Any
    dataset: RetrievalDataset
    sampling: FrameSampling
    components: dict[str, RegisteredComponent]
    options: dict[str, dict[str, Any]]


def resolve_components(config: RunConfig, registry: ComponentRegistry) -> tuple[dict, dict]:
    """Look up the four selected components and resolve their options (fails before anything is built)."""
    names = {"backbone": config.backbone, "temporal": config.temporal, "align": config.align,
             "dataset": config.dataset}
    overrides = {"backbone": config.backbone_options, "temporal": config.temporal_options,
                 "align": config.align_options, "dataset": config.dataset_options}
    components = {role: registry.get(ROLE_KIND[role], names[role]) for role in ROLES}
    options = {role: build_options(components[role].spec, overrides[role]) for role in ROLES}
    return components, options


def load_dataset(component: RegisteredComponent, options: Any, data_root: str | None) -> RetrievalDataset:
    spec = component.spec
    root = None
    if data_root is not None:
        root = Path(data_root).expanduser()
        if not root.exists() and getattr(spec, "needs_data_root", True):  # generated datasets create it
            raise DataError(f"--data-root {root} does not exist", f"point it at your {spec.name} folder")
    elif getattr(spec, "needs_data_root", True):
        raise DataError(f"dataset '{spec.name}' needs --data-root PATH (the folder you downloaded it to)",
                        f"see `c2vbench plugins` and the {spec.name} plug-in's documentation for the layout")
    return component.build(options, root)


def build_model(components: dict[str, RegisteredComponent], options: dict[str, Any], max_frames: int):
    """Backbone, then temporal module (seeing the backbone), then the align head (seeing both)."""
    from .interfaces import BuildContext
    from .model import RetrievalModel

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


def assemble(config: RunConfig, registry: ComponentRegistry) -> Assembly:
    """Resolve, load the dataset and build the model (torch's generator must already be seeded)."""
    components, options = resolve_components(config, registry)
    dataset = load_dataset(components["dataset"], options["dataset"], config.data_root)
    sampling = dataset.sampling
    if config.max_frames is not None:
        sampling = dataclasses.replace(sampling, max_frames=config.max_frames)
    model = build_model(components, options, sampling.max_frames)
    return Assembly(model, dataset, sampling, components,
                    {role: options_as_dict(value) for role, value in options.items()})
