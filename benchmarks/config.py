"""The typed config tree (Hydra structured configs) and its translation into objects.

One source of defaults: the model schema is built from :class:`~models.base.ModelSpec`
(and its :class:`~models.base.InitSpec`) with their real defaults, so ``--cfg job`` shows
them; a preset (``conf/model/<name>.yaml``, written from :data:`models.MODELS` by
``scripts/presets.py``) lists only where it differs from them. The task schema is
generated from the task dataclasses with every field optional (``None`` = the
dataclass's default), and ``optim`` / ``train`` use :class:`~benchmarks.optim.OptimSpec`
and :class:`~benchmarks.trainer.TrainSpec` directly. Hydra rejects unknown keys and
mistyped values against this schema; :func:`build` then rejects unknown names and
out-of-range values with one-line errors.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from benchmarks.diagnostics import DiagnosticsSpec
from benchmarks.optim import OptimSpec
from benchmarks.trainer import Trainer, TrainSpec
from models import make_model
from models.base import InitSpec, ModelSpec
from tasks import TASKS, make_task

LOGGERS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")


def _optional_fields(classes: list[type]) -> list[tuple[str, Any, Any]]:
    seen: dict[str, Any] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name not in seen:
                seen[f.name] = hints[f.name]
    fields = []
    for name, tp in seen.items():
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        base = args[0] if args else tp
        fields.append((name, Optional[base], dataclasses.field(default=None)))  # noqa: UP045
    return fields


def _field(tp: Any, default: Any) -> Any:
    """The schema field for a spec field's type ``tp`` and ``default``: a nested schema is
    built fresh per instance."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return dataclasses.field(default_factory=tp)
    return dataclasses.field(default=default)


def _schema(
    name: str,
    cls: type,
    types: Mapping[str, Any] | None = None,
    first: Mapping[str, tuple[Any, Any]] | None = None,
) -> Any:
    """A mutable copy of the frozen spec ``cls`` for Hydra: the same fields and defaults,
    with the types in ``types`` replacing the spec's (a schema for a nested spec), after
    the fields ``first`` ({name: (type, default)})."""
    hints = typing.get_type_hints(cls)
    types = types or {}
    fields = [(key, tp, dataclasses.field(default=default)) for key, (tp, default) in (first or {}).items()]
    for f in dataclasses.fields(cls):
        tp = types.get(f.name, hints[f.name])
        fields.append((f.name, tp, _field(tp, f.default)))
    return dataclasses.make_dataclass(name, fields)


OptimConfig = _schema("OptimConfig", OptimSpec)
DiagnosticsConfig = _schema("DiagnosticsConfig", DiagnosticsSpec)
TrainConfig = _schema("TrainConfig", TrainSpec)
InitConfig = _schema("InitConfig", InitSpec)
ModelConfig = _schema(
    "ModelConfig",
    ModelSpec,
    {"init": InitConfig},
    first={"name": (str, MISSING)},  # the preset, chosen as the group option model=<name>
)
TaskConfig = dataclasses.make_dataclass(
    "TaskConfig",
    [("name", str, dataclasses.field(default=MISSING))] + _optional_fields(list(TASKS.values())),
)


# make_dataclass files the classes under the module "types"; they must be importable from
# here so that a pickled config (e.g. sent to a submitit job) finds them again.
for _cls in (OptimConfig, DiagnosticsConfig, TrainConfig, InitConfig, ModelConfig, TaskConfig):
    _cls.__module__ = __name__


@dataclasses.dataclass
class LoggerConfig:
    """name: "wandb" or "none"; mode: W&B's mode (offline needs no account or network)."""

    name: str = "wandb"
    mode: str = "offline"
    project: str = "carousel"
    entity: Optional[str] = None  # noqa: UP045
    group: Optional[str] = None  # noqa: UP045


@dataclasses.dataclass
class Config:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)  # type: ignore[valid-type]
    task: TaskConfig = MISSING  # type: ignore[valid-type]
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)  # type: ignore[valid-type]
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)  # type: ignore[valid-type]
    logger: LoggerConfig = dataclasses.field(default_factory=LoggerConfig)
    diagnostics: DiagnosticsConfig = dataclasses.field(default_factory=DiagnosticsConfig)  # type: ignore[valid-type]
    seeds: int = 4
    seed_offset: int = 0


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="carousel_schema", node=Config)


@dataclasses.dataclass(frozen=True)
class Experiment:
    trainer: Trainer
    seeds: list[int]
    logger: LoggerConfig
    model_name: str
    task_name: str

    def describe(self) -> dict[str, Any]:
        """The resolved objects (every default filled in), for the result store."""
        return {
            "model": {"name": self.model_name, **dataclasses.asdict(self.trainer.model.spec)},
            "task": {"name": self.task_name, **dataclasses.asdict(self.trainer.task)},
            "optim": dataclasses.asdict(self.trainer.optim),
            "train": dataclasses.asdict(self.trainer.spec),
            "diagnostics": dataclasses.asdict(self.trainer.diagnostics),
            "seeds": self.seeds,
        }


def _dict(node: Any) -> dict[str, Any]:
    return typing.cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))


def _fields(node: Any) -> dict[str, Any]:
    return {k: v for k, v in _dict(node).items() if k != "name"}


def build(cfg: DictConfig) -> Experiment:
    """Objects from a composed config; raises a one-line ValueError on bad input."""
    task = make_task(cfg.task.name, **_fields(cfg.task))
    model = make_model(cfg.model.name, task.input_size, task.output_size, **_fields(cfg.model))
    optim = OptimSpec(**_dict(cfg.optim))
    spec = TrainSpec(**_dict(cfg.train))
    diagnostics = DiagnosticsSpec(**_dict(cfg.diagnostics))
    if diagnostics.layer >= model.spec.layers:
        raise ValueError(
            f"diagnostics.layer must be < model.layers ({model.spec.layers}), got {diagnostics.layer}"
        )
    if not isinstance(cfg.seeds, int) or cfg.seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {cfg.seeds!r}")
    if cfg.logger.name not in LOGGERS:
        raise ValueError(f"unknown logger {cfg.logger.name!r}; valid: {', '.join(LOGGERS)}")
    if cfg.logger.mode not in WANDB_MODES:
        raise ValueError(f"unknown logger.mode {cfg.logger.mode!r}; valid: {', '.join(WANDB_MODES)}")
    seeds = list(range(cfg.seed_offset, cfg.seed_offset + cfg.seeds))
    logger = LoggerConfig(**_dict(cfg.logger))
    trainer = Trainer(model, task, optim, spec, diagnostics)
    return Experiment(trainer, seeds, logger, cfg.model.name, cfg.task.name)
