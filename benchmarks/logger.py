"""Experiment loggers. The result store never depends on them.

``none`` logs nothing; ``wandb`` logs the same scalars as the store, offline by default
(no account, no network; upload later with ``wandb sync <run dir>/wandb/offline-run-*``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol


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


class WandbLogger:
    def __init__(self, cfg: Any, run_dir: Path, config: dict[str, Any], name: str):
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        self._wandb = wandb
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            mode=cfg.mode,
            dir=str(run_dir),
            config=config,
            name=name,
            reinit="finish_previous",
        )

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.run.log(metrics, step=step)

    def histogram(self, values: Any) -> Any:
        return self._wandb.Histogram(values)

    def finish(self) -> None:
        self.run.finish()


def make_logger(cfg: Any, run_dir: Path, config: dict[str, Any], name: str) -> Logger:
    if cfg.name == "wandb" and cfg.mode != "disabled":
        return WandbLogger(cfg, run_dir, config, name)
    return NullLogger()
