"""Experiment loggers. The result store never depends on them.

``none`` logs nothing; ``wandb`` logs the same scalars as the store, offline by default
(no account, no network; upload later with ``wandb sync <run dir>/wandb/offline-run-*``).

W&B is an outside service, so nothing it does may stop or stall training: a missing API
key or network for ``logger.mode=online``, an unwritable ``<run dir>/wandb/``, or any
exception from ``wandb.init``, ``log``, ``Histogram`` or ``finish`` becomes one warning
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
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("carousel")
INIT_TIMEOUT_S = 30.0  # seconds wandb.init may wait for the W&B server before giving up
FINISH_TIMEOUT_S = 120.0  # seconds finish may wait for the last uploads of an online run
STRICTNESS = ("online", "offline", "disabled")  # W&B modes, each stricter than the one before


class Logger(Protocol):
    def log(self, metrics: dict[str, Any], step: int) -> None: ...
    def histogram(self, values: Any) -> Any: ...
    def finish(self) -> None: ...


class NullLogger:
    def log(self, metrics: dict[str, Any], step: int) -> None:
        pass

    def histogram(self, values: Any) -> Any:
        return None

    def finish(self) -> None:
        pass


def _reason(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def warn_degraded(what: str, reason: str) -> None:
    log.warning("W&B %s failed (%s); continuing with the local result store only", what, reason)


class WandbLogger:
    """A W&B run in ``<run dir>/wandb/``. The first exception from any call is warned about
    once and turns this logger into a NullLogger for the rest of the run."""

    def __init__(self, cfg: Any, mode: str, run_dir: Path, config: dict[str, Any], name: str):
        timeout = float(os.environ.get("WANDB_INIT_TIMEOUT", INIT_TIMEOUT_S))
        finish_timeout = float(os.environ.get("WANDB_FINISH_TIMEOUT", FINISH_TIMEOUT_S))
        os.environ.setdefault("WANDB_SILENT", "true")
        # W&B reads its login timeout from the environment when it first sets up, not from
        # init's settings; without it an interactive terminal would wait at the prompt.
        os.environ.setdefault("WANDB_LOGIN_TIMEOUT", str(timeout))
        import wandb

        self._wandb = wandb
        self.run: Any = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            mode=mode,  # type: ignore[arg-type]  # a W&B mode: LoggerSpec checks it
            dir=str(run_dir),
            config=config,
            name=name,
            reinit="finish_previous",
            settings=wandb.Settings(init_timeout=timeout, finish_timeout=finish_timeout),
        )
        if getattr(self.run, "disabled", False):  # e.g. its login prompt timed out
            raise RuntimeError("wandb.init gave a disabled run")

    def _guard(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        if self.run is None:
            return None
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # an outside service: never stop training for it
            warn_degraded(what, _reason(exc))
            self.run = None
            return None

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if self.run is not None:
            self._guard("log", self.run.log, metrics, step=step)

    def histogram(self, values: Any) -> Any:
        return self._guard("Histogram", self._wandb.Histogram, values)

    def finish(self) -> None:
        if self.run is not None:
            self._guard("finish", self.run.finish)


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


def make_logger(cfg: Any, run_dir: Path, config: dict[str, Any], name: str) -> Logger:
    """The run's logger: a :class:`WandbLogger`, or the :class:`NullLogger` for
    ``logger=none``, W&B disabled (by the config or by ``WANDB_MODE``), or W&B failing."""
    mode = wandb_mode(cfg.mode) if cfg.name == "wandb" else "disabled"
    if mode == "disabled":
        return NullLogger()
    try:
        _writable_dir(Path(run_dir) / "wandb")
        return WandbLogger(cfg, mode, run_dir, config, name)
    except Exception as exc:  # no key, no network, no wandb, an unwritable directory, ...
        warn_degraded(f"init ({mode})", _reason(exc))
        with contextlib.suppress(OSError):  # leave no empty wandb/ behind
            (Path(run_dir) / "wandb").rmdir()
        return NullLogger()
