"""Experiment loggers. The result store never depends on them.

``none`` logs nothing; ``wandb`` opens one W&B run per seed (the layout, names and metrics
are :mod:`benchmarks.tracking`'s), offline by default (no account, no network; upload
later with ``wandb sync <run dir>/wandb/offline-run-*``, into the project named by
``logger.project`` and ``logger.entity`` at training time).

W&B is an outside service, so nothing it does may stop or stall training: a missing API
key or network for ``logger.mode=online``, an unwritable ``<run dir>/wandb/``, or any
exception from ``wandb.init``, ``log``, a summary update, ``Histogram``, ``Image``,
``Table`` or ``finish`` becomes one warning
line on the ``carousel`` logger (the terminal and Hydra's ``train.log``), and the run goes
on with the local store only (:class:`NullLogger`). ``wandb.init`` waits at most
``WANDB_INIT_TIMEOUT`` seconds (default :data:`INIT_TIMEOUT_S`; W&B's own default is 90)
for its server, and a login prompt at most as long; ``finish`` waits at most
``WANDB_FINISH_TIMEOUT`` seconds (default :data:`FINISH_TIMEOUT_S`; W&B's own default is
no limit) for the last uploads, whose data stay in ``<run dir>/wandb/`` for ``wandb sync``.
The environment outranks the config
when it is stricter: ``WANDB_MODE=disabled`` gives the NullLogger without importing
wandb, ``WANDB_MODE=offline`` turns ``logger.mode=online`` into offline.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from benchmarks.tracking import SeedRun

log = logging.getLogger("carousel")
INIT_TIMEOUT_S = 30.0  # seconds wandb.init may wait for the W&B server before giving up
FINISH_TIMEOUT_S = 120.0  # seconds finish may wait for the last uploads of an online run
STRICTNESS = ("online", "offline", "disabled")  # W&B modes, each stricter than the one before
# W&B settings of every seed run but the first: no system metrics or console capture (the
# first run has them, and they would be the same), no machine info. Offline on a busy 2-core
# machine: 0.08 to 0.17 s to open a run (about the same without these), 5 ms to finish one.
LIGHT = {"console": "off", "x_disable_stats": True, "x_disable_machine_info": True}


class Logger(Protocol):
    """One experiment's tracker backend (W&B, or none): one run per seed, addressed by the
    seed's position. Not itself a listener of the run: the listener
    :class:`benchmarks.run.experiment.Tracker` (a :class:`~benchmarks.run.history.Listener`) turns
    the run's evaluations, chunks and measurements into calls on it."""

    @property
    def live(self) -> bool:
        """Whether anything sent still goes somewhere (skip work that only it would use)."""
        ...

    def log(self, index: int, metrics: dict[str, Any], step: int) -> None: ...
    def summarise(self, index: int, values: dict[str, Any]) -> None: ...
    def histogram(self, values: Any) -> Any: ...
    def image(self, path: Path, caption: str) -> Any: ...
    def table(self, columns: Sequence[str], rows: list[list[Any]]) -> Any: ...
    def finish(self) -> None: ...


class NullLogger:
    @property
    def live(self) -> bool:
        return False

    def log(self, index: int, metrics: dict[str, Any], step: int) -> None:
        pass

    def summarise(self, index: int, values: dict[str, Any]) -> None:
        pass

    def histogram(self, values: Any) -> Any:
        return None

    def image(self, path: Path, caption: str) -> Any:
        return None

    def table(self, columns: Sequence[str], rows: list[list[Any]]) -> Any:
        return None

    def finish(self) -> None:
        pass


def _reason(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def warn_degraded(what: str, reason: str) -> None:
    log.warning("W&B %s failed (%s); continuing with the local result store only", what, reason)


def _settings(wandb: Any, lead: bool) -> Any:
    """The first seed's run keeps W&B's system metrics and console capture; the others,
    which would repeat them, leave them out (:data:`LIGHT`)."""
    timeout = float(os.environ.get("WANDB_INIT_TIMEOUT", INIT_TIMEOUT_S))
    finish_timeout = float(os.environ.get("WANDB_FINISH_TIMEOUT", FINISH_TIMEOUT_S))
    extra = {} if lead else LIGHT
    return wandb.Settings(init_timeout=timeout, finish_timeout=finish_timeout, **extra)


class WandbLogger:
    """One W&B run per seed in ``<run dir>/wandb/``, all open at once
    (``reinit="create_new"``). The first exception from any call is warned about once and
    turns this logger into a NullLogger for the rest of the run."""

    def __init__(self, cfg: Any, mode: str, run_dir: Path, runs: Sequence[SeedRun]):
        timeout = os.environ.get("WANDB_INIT_TIMEOUT", str(INIT_TIMEOUT_S))
        os.environ.setdefault("WANDB_SILENT", "true")
        # W&B reads its login timeout from the environment when it first sets up, not from
        # init's settings; without it an interactive terminal would wait at the prompt.
        os.environ.setdefault("WANDB_LOGIN_TIMEOUT", timeout)
        import wandb

        self._wandb = wandb
        self.runs: list[Any] | None = []
        try:
            for i, spec in enumerate(runs):
                self.runs.append(self._init(cfg, mode, run_dir, spec, lead=i == 0))
        except BaseException:
            self._close()
            raise

    def _init(self, cfg: Any, mode: str, run_dir: Path, spec: SeedRun, lead: bool) -> Any:
        run = self._wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            id=spec.id,
            resume="allow",  # a resumed run continues its seeds' runs (same ids)
            group=spec.group,
            job_type=spec.job_type,
            name=spec.name,
            mode=mode,  # type: ignore[arg-type]  # a W&B mode: LoggerSpec checks it
            dir=str(run_dir),
            config=spec.config,
            reinit="create_new",
            settings=_settings(self._wandb, lead),
        )
        if getattr(run, "disabled", False):  # e.g. its login prompt timed out
            raise RuntimeError("wandb.init gave a disabled run")
        return run

    @property
    def live(self) -> bool:
        return self.runs is not None

    def _close(self) -> None:
        for run in self.runs or []:
            with contextlib.suppress(Exception):
                run.finish()
        self.runs = None

    def _guard(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        if self.runs is None:
            return None
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # an outside service: never stop training for it
            warn_degraded(what, _reason(exc))
            self.runs = None
            return None

    def log(self, index: int, metrics: dict[str, Any], step: int) -> None:
        if self.runs is not None:
            self._guard("log", self.runs[index].log, metrics, step=step)

    def summarise(self, index: int, values: dict[str, Any]) -> None:
        if self.runs is not None:
            self._guard("summary", self.runs[index].summary.update, values)

    def histogram(self, values: Any) -> Any:
        return self._guard("Histogram", self._wandb.Histogram, values)

    def image(self, path: Path, caption: str) -> Any:
        return self._guard("Image", self._wandb.Image, str(path), caption=caption)

    def table(self, columns: Sequence[str], rows: list[list[Any]]) -> Any:
        return self._guard("Table", self._wandb.Table, columns=list(columns), data=rows)

    def finish(self) -> None:
        for run in self.runs or []:
            self._guard("finish", run.finish)


def wandb_mode(configured: str) -> str:
    """The W&B mode to use: the config's, or ``WANDB_MODE`` where that is stricter."""
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    env = {"dryrun": "offline"}.get(env, env)
    if configured not in STRICTNESS:  # not a mode: left for W&B to refuse
        return configured
    if env in STRICTNESS and STRICTNESS.index(env) > STRICTNESS.index(configured):
        return env
    return configured


def _writable_dir(path: Path) -> None:
    """Create ``path`` and make sure files can be written in it: W&B would otherwise move
    its run to the system's temporary directory, with a warning that WANDB_SILENT hides."""
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{path} is not writable")


def make_logger(cfg: Any, run_dir: Path, runs: Sequence[SeedRun]) -> Logger:
    """The experiment's logger: a :class:`WandbLogger` with one run per entry of ``runs``
    (:func:`benchmarks.tracking.seed_runs`), or the :class:`NullLogger` for ``logger=none``,
    W&B disabled (by the config or by ``WANDB_MODE``), or W&B failing."""
    mode = wandb_mode(cfg.mode) if cfg.name == "wandb" else "disabled"
    if mode == "disabled":
        return NullLogger()
    try:
        _writable_dir(Path(run_dir) / "wandb")
        return WandbLogger(cfg, mode, run_dir, runs)
    except Exception as exc:  # no key, no network, no wandb, an unwritable directory, ...
        warn_degraded(f"init ({mode})", _reason(exc))
        with contextlib.suppress(OSError):  # leave no empty wandb/ behind
            (Path(run_dir) / "wandb").rmdir()
        return NullLogger()
