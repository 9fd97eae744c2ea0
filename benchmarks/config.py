"""The typed config tree (Hydra structured configs) and its translation into objects.

One source of defaults, and ``--cfg job`` shows them: every schema here is built from a
frozen spec with that spec's real defaults (:class:`~models.base.ModelSpec` and its
:class:`~models.base.InitSpec`, :class:`~benchmarks.core.optim.OptimSpec`,
:class:`~benchmarks.core.trainer.TrainSpec`, :class:`~benchmarks.core.diagnostics.DiagnosticsSpec`,
:class:`LoggerSpec`, and each task's own dataclass). A model preset
(``conf/model/<name>.yaml``, written from :data:`models.MODELS` by ``scripts/presets.py``)
lists only where it differs from ModelSpec's defaults; each task's YAML extends its own
schema ``<task>_schema`` in the ``task`` group (Hydra's "extending configs" pattern).

Every named choice (cell, activation, initialisers, each task's variant, optimizer,
clipping, strategy, diagnostics level, logger and W&B mode) is an Enum, so Hydra and
OmegaConf themselves reject an unknown key, a value outside the choices or a mistyped
value while composing, sweeps included, naming what is valid (see :mod:`benchmarks.cli`
for the one-line form). :func:`build` turns a composed config back into the frozen specs
(plain ``str`` fields) and raises one-line ValueErrors for out-of-range values: a
non-finite number (the specs' own checks), seeds outside the 32-bit key range, more
``train.devices`` than the backend has, and sizes
whose largest arrays cannot fit in memory (:mod:`benchmarks.run.memory`); all before anything
is allocated or written.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import os
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from benchmarks.core.diagnostics import LEVELS, DiagnosticsSpec
from benchmarks.core.online import SCHEDULES
from benchmarks.core.optim import CLIPPING, OPTIMIZERS, OptimSpec
from benchmarks.core.trainer import PRECISIONS, STRATEGIES, Trainer, TrainSpec
from benchmarks.run.memory import check_memory
from benchmarks.run.strategies import model_devices
from carousel_checks import check_choice
from models import make_model
from models.base import ACTIVATIONS, CELLS, INITIALIZERS, READOUTS, SQUASHINGS, InitSpec, ModelSpec
from models.scan import GRADIENTS
from tasks import TASKS, make_task

LOGGERS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")
SCHEMA_SUFFIX = "_schema"  # a task's schema in the ``task`` group: ``adding_schema``
SEED_LIMIT = 2**32  # seeds are 32-bit: every seed of a run must be below this

# What a one-line error calls a value of each Enum; "{key}" stands for the config key
# (e.g. ``model.init.recurrent``), and an Enum not listed here is called by its key.
CHOICE_KINDS: dict[type[enum.Enum], str] = {}


def _export(cls: Any) -> Any:
    """Make a generated class importable as ``benchmarks.config.<name>``: a pickled config
    (e.g. sent to a submitit job) finds its schema and Enum classes by that name."""
    cls.__module__ = __name__
    globals()[cls.__name__] = cls
    return cls


def choices(name: str, values: Iterable[str], kind: str = "{key}", *, ordered: bool = False) -> Any:
    """An Enum of the named ``values`` (member name == value, so OmegaConf's ``enum_to_str``
    gives the value back), sorted unless ``ordered``; errors list them in that order."""
    members = list(values) if ordered else sorted(values)
    cls = enum.Enum(name, [(v, v) for v in members])  # type: ignore[misc]  # mypy: a literal name
    CHOICE_KINDS[cls] = kind
    return _export(cls)


Cell = choices("Cell", CELLS)
Activation = choices("Activation", ACTIVATIONS)
Squashing = choices("Squashing", SQUASHINGS)
Readout = choices("Readout", READOUTS)
Initializer = choices("Initializer", INITIALIZERS, "{key} initializer")
Optimizer = choices("Optimizer", OPTIMIZERS, "optimizer")
Clipping = choices("Clipping", CLIPPING)
Strategy = choices("Strategy", STRATEGIES)
Precision = choices("Precision", PRECISIONS, "matmul precision {key}", ordered=True)
Gradient = choices("Gradient", GRADIENTS)
Schedule = choices("Schedule", SCHEDULES)
Level = choices("Level", LEVELS)
LoggerName = choices("LoggerName", LOGGERS)
WandbMode = choices("WandbMode", WANDB_MODES, ordered=True)  # the default (offline) first


@dataclasses.dataclass(frozen=True)
class LoggerSpec:
    """name: "wandb" or "none"; mode: W&B's mode (offline needs no account or network)."""

    name: str = "wandb"
    mode: str = "offline"
    project: str = "carousel"
    entity: Optional[str] = None  # noqa: UP045
    group: Optional[str] = None  # noqa: UP045

    def __post_init__(self) -> None:
        check_choice("logger", self.name, LOGGERS)
        check_choice("logger.mode", self.mode, WANDB_MODES)


def _field(tp: Any, default: Any) -> Any:
    """The schema field for a spec field's type ``tp`` and ``default``: an Enum's default
    becomes its member, a nested schema is built fresh per instance."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return dataclasses.field(default=tp[default])
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
    with the types in ``types`` replacing the spec's (an Enum for a named choice, a schema
    for a nested spec), after the fields ``first`` ({name: (type, default)})."""
    hints = typing.get_type_hints(cls)
    types = types or {}
    fields = [(key, tp, dataclasses.field(default=default)) for key, (tp, default) in (first or {}).items()]
    for f in dataclasses.fields(cls):
        tp = types.get(f.name, hints[f.name])
        fields.append((f.name, tp, _field(tp, f.default)))
    return _export(dataclasses.make_dataclass(name, fields))


OptimConfig = _schema("OptimConfig", OptimSpec, {"name": Optimizer, "clip": Clipping})
DiagnosticsConfig = _schema("DiagnosticsConfig", DiagnosticsSpec, {"level": Level})
TrainConfig = _schema(
    "TrainConfig",
    TrainSpec,
    {"strategy": Strategy, "precision": Precision, "gradient": Gradient, "schedule": Schedule},
)
LoggerConfig = _schema("LoggerConfig", LoggerSpec, {"name": LoggerName, "mode": WandbMode})
InitConfig = _schema("InitConfig", InitSpec, dict.fromkeys(("input", "recurrent", "readout"), Initializer))
ModelConfig = _schema(
    "ModelConfig",
    ModelSpec,
    {"cell": Cell, "activation": Activation, "squashing": Squashing, "readout": Readout, "init": InitConfig},
    first={"name": (str, MISSING)},  # the preset, chosen as the group option model=<name>
)


def _task_schema(task: str, cls: Any) -> Any:
    """The schema of one task: its name, then its dataclass's fields and defaults, with
    ``variant`` an Enum of the task's published variants."""
    title = cls.__name__.removesuffix("Task")
    variant = choices(f"{title}Variant", cls.VARIANTS, f"{task} variant")
    return _schema(f"{title}TaskConfig", cls, {"variant": variant}, first={"name": (str, task)})


TASK_SCHEMAS: dict[str, Any] = {task: _task_schema(task, cls) for task, cls in TASKS.items()}


@dataclasses.dataclass
class Config:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)  # type: ignore[valid-type]
    task: Any = MISSING  # one of TASK_SCHEMAS, from the task group option
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)  # type: ignore[valid-type]
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)  # type: ignore[valid-type]
    logger: LoggerConfig = dataclasses.field(default_factory=LoggerConfig)  # type: ignore[valid-type]
    diagnostics: DiagnosticsConfig = dataclasses.field(default_factory=DiagnosticsConfig)  # type: ignore[valid-type]
    seeds: int = 4
    seed_offset: int = 0


def slurm_tag() -> str:
    """``_slurm<job id>`` inside a SLURM job, ``_slurm<array job id>-<task id>`` inside an
    array task, else empty: the ``${slurm_tag:}`` of the default run directory
    (``conf/config.yaml``), so an array's tasks started in the same microsecond still
    write to different directories, and each directory names its SLURM job."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"_slurm{array_job}-{task}"
    job = os.environ.get("SLURM_JOB_ID")
    return f"_slurm{job}" if job else ""


def register() -> None:
    """File the schemas in Hydra's ConfigStore (the root and one per task) and the
    ``slurm_tag`` resolver the default run directory uses."""
    OmegaConf.register_new_resolver("slurm_tag", slurm_tag, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="carousel_schema", node=Config)
    for task, schema in TASK_SCHEMAS.items():
        cs.store(group="task", name=task + SCHEMA_SUFFIX, node=schema)


@dataclasses.dataclass(frozen=True)
class Experiment:
    trainer: Trainer
    seeds: list[int]
    logger: LoggerSpec
    model_name: str
    task_name: str

    def describe(self) -> dict[str, Any]:
        """The resolved objects (every default filled in), for the result store; YAML's
        types only (a tuple field, ``model.input_gate_biases``, as a list)."""
        return {
            "model": {"name": self.model_name, **_lists(dataclasses.asdict(self.trainer.model.spec))},
            "task": {"name": self.task_name, **dataclasses.asdict(self.trainer.task)},
            "optim": dataclasses.asdict(self.trainer.optim),
            "train": dataclasses.asdict(self.trainer.spec),
            "diagnostics": dataclasses.asdict(self.trainer.diagnostics),
            "seeds": self.seeds,
        }


def _lists(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _lists(v) if isinstance(v, dict) else list(v) if isinstance(v, tuple) else v
        for k, v in spec.items()
    }


def _dict(node: Any) -> dict[str, Any]:
    """A config node as plain Python values: Enums back to their ``str`` names."""
    return typing.cast(dict[str, Any], OmegaConf.to_container(node, resolve=True, enum_to_str=True))


def _fields(node: Any) -> dict[str, Any]:
    return {k: v for k, v in _dict(node).items() if k != "name"}


def unknown_key(path: list[str], valid: Iterable[str]) -> ValueError:
    """The one-line error of an unknown key, in the words of :func:`benchmarks.cli.explain`."""
    return ValueError(f"unknown config key {'.'.join(path)!r}; valid keys here: {', '.join(sorted(valid))}")


def check_schema(node: Any, path: tuple[str, ...] = ()) -> None:
    """A one-line ValueError for a key the schema lacks anywhere in a composed config.
    Hydra lifts the schema's struct flag to apply ``+key=value``, so an addition (``+foo=1``,
    ``+train.stepz=5``) reaches the config unchecked; each node still knows its schema."""
    schema = OmegaConf.get_type(node)
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        return
    fields = {f.name for f in dataclasses.fields(schema)}
    for key in node:
        if key not in fields:
            raise unknown_key([*path, str(key)], fields)
        if isinstance(child := node._get_node(key), DictConfig):
            check_schema(child, (*path, str(key)))


def schema_keys() -> dict[str, Any]:
    """The schema's keys as a nested dict (leaves None), ``task`` holding every task's."""
    tree = OmegaConf.to_container(OmegaConf.structured(Config), throw_on_missing=False)
    assert isinstance(tree, dict)

    def keys(node: Any) -> Any:
        return {str(k): keys(v) for k, v in node.items()} if isinstance(node, dict) else None

    tasks = [OmegaConf.to_container(OmegaConf.structured(s)) for s in TASK_SCHEMAS.values()]
    return {**keys(tree), "task": {str(k): None for t in tasks for k in t}}  # type: ignore[union-attr]


def build(cfg: DictConfig) -> Experiment:
    """Objects from a composed config; raises a one-line ValueError on bad input."""
    check_schema(cfg)
    task = make_task(cfg.task.name, **_fields(cfg.task))
    model = make_model(cfg.model.name, task.input_size, task.output_size, **_fields(cfg.model))
    optim = OptimSpec(**_dict(cfg.optim))
    spec = TrainSpec(**_dict(cfg.train))
    diagnostics = DiagnosticsSpec(**_dict(cfg.diagnostics))
    if diagnostics.layer >= model.spec.layers:
        raise ValueError(
            f"diagnostics.layer must be < model.layers ({model.spec.layers}), got {diagnostics.layer}"
        )
    seeds = seed_range(cfg.seeds, cfg.seed_offset)
    logger = LoggerSpec(**_dict(cfg.logger))
    check_precision(spec.precision)
    if spec.devices is not None:
        model_devices(spec.devices)  # a one-line error when the backend has fewer
    trainer = Trainer(model, task, optim, spec, diagnostics)
    check_memory(trainer, len(seeds))
    return Experiment(trainer, seeds, logger, cfg.model.name, cfg.task.name)


def _compiles_at(precision: str) -> bool:
    """Whether this process's default backend compiles a matrix product at ``precision``."""
    import jax
    import jax.numpy as jnp

    def dot(a: Any) -> Any:
        with jax.default_matmul_precision(PRECISIONS[precision]):
            return a @ a

    try:
        jax.jit(dot).lower(jnp.ones((2, 2), jnp.float32)).compile()
    except Exception:  # JAX raises ValueError for an algorithm the backend lacks, XLA its own errors
        return False
    return True


@functools.cache
def check_precision(precision: str) -> None:
    """A one-line error when the default backend cannot compute a matrix product at
    ``precision`` (a dot algorithm it lacks, such as TF32 on a CPU), before anything is
    allocated or written; JAX's own refusal would come from deep inside tracing."""
    if not _compiles_at(precision):
        import jax

        ok = [p for p in PRECISIONS if _compiles_at(p)]
        raise ValueError(
            f"train.precision {precision!r} is not supported on the {jax.default_backend()} backend;"
            f" valid here: {', '.join(ok)}"
        )


def seed_range(n: Any, offset: Any) -> list[int]:
    """Seeds ``offset .. offset + n - 1``; each must be a distinct key: ``jax.random.key``
    takes a 32-bit seed, so 2**32 would give seed 0's key again and -1 seed 2**32 - 1's."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {n!r}")
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"seed_offset must be an integer >= 0, got {offset!r}")
    if offset + n > SEED_LIMIT:
        raise ValueError(
            f"seed_offset + seeds must be <= 2**32 = {SEED_LIMIT} (jax.random.key takes 32-bit seeds;"
            f" a larger one repeats a smaller one's key), got {offset} + {n} = {offset + n}"
        )
    return list(range(offset, offset + n))
