"""``hydra/launcher=pack``: a Hydra multirun whose jobs share compiled programs.

    python -m benchmarks.train -m hydra/launcher=pack model=rnn_tanh_basic \
        optim=pascanu2013_msgd,pascanu2013 optim.lr=0.01,0.03 seeds=5

Every job is composed and given its run directory as with Hydra's own launcher (its
``.hydra/`` files, its ``train.log``); then the jobs that share a compiled program are
trained side by side in it (:mod:`benchmarks.run.pack`), and each job's run directory gets its
usual files. Jobs that cannot share (another model size, task length, optimizer, ...) make
further packs, trained one after another, each in a child process of its own
(:mod:`benchmarks.run.isolation`), so a pack whose process dies fails alone. A job that fails
to build, or a pack that fails, is recorded in each job's ``error.json`` and named at the
end, as for any sweep; a directory another run holds gets none (it is not ours), and the
final line says so. ``hydra/launcher=pack_slurm`` (:mod:`.pack_submitit`) submits each pack
as a SLURM job of its own instead.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class PackLauncherConf:
    _target_: str = "hydra_plugins.carousel_pack.pack_launcher.PackLauncher"
    progress: bool = True  # the pack's progress bar on the terminal


ConfigStore.instance().store(group="hydra/launcher", name="pack", node=PackLauncherConf, provider="carousel")


def build_job(cfg: DictConfig) -> Any:
    """The task of one job in the first pass: its experiment and run directory, or None
    when its config does not build (recorded like any failed sweep job)."""
    from benchmarks.config import build
    from benchmarks.run.experiment import record_failure
    from benchmarks.run.pack import Job

    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        return Job(build(cfg), out)
    except Exception as e:  # noqa: BLE001 - recorded; the other jobs go on
        record_failure(out, e)
        return None


class PackLauncher(Launcher):
    def __init__(self, progress: bool = True) -> None:
        super().__init__()
        self.progress = progress
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # carousel's own task runs the jobs (collected first, then trained in packs), not
        # ``task_function``, which would train each job alone
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from benchmarks.run import pack
        from benchmarks.run.experiment import record_failure

        assert self.hydra_context is not None and self.config is not None
        runs = compose_jobs(self.config, self.hydra_context, job_overrides, initial_job_idx, build_job)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        jobs = [r.return_value for r in runs if r.return_value is not None]
        outcomes = pack.run_jobs(jobs, sweep_dir, progress=self.progress)
        for r in runs:
            job = r.return_value
            if job is None:
                continue
            outcome = outcomes[job.out]
            if isinstance(outcome, Exception):
                record_failure(job.out, outcome)
                r.return_value = None
            else:
                r.return_value = outcome
        return runs


def compose_jobs(
    config: DictConfig,
    hydra_context: HydraContext,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    task: TaskFunction,
) -> list[JobReturn]:
    """The first pass of a packed sweep: every job composed and given its run directory
    (its ``.hydra/`` files, its ``train.log``) as Hydra's own launcher does, and ``task``
    run there (:func:`build_job`: the job built, or None); the sweep directory made."""
    setup_globals()
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU" notices
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    runs: list[JobReturn] = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = idx
            sweep_config.hydra.job.num = idx
        runs.append(
            run_job(
                hydra_context=hydra_context,
                task_function=task,
                config=sweep_config,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
        )
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    return runs
