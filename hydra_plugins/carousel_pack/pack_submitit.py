"""``hydra/launcher=pack_slurm``: a packed sweep submitted to SLURM, one job per pack.

    python -m benchmarks.train -m hydra/launcher=pack_slurm hydra.launcher.partition=gpu \
        model=rnn_tanh_basic,rnn_tanh_smart task=temporal_order optim.lr=0.01,0.03,0.1 seeds=5

As with ``hydra/launcher=pack``, every job of the multirun is composed, given its run
directory (its ``.hydra/`` files) and built in the launching process, and the jobs are
grouped by compiled program (:func:`benchmarks.run.pack.plan`). Each group, cut into parts
of at most ``max_models_per_job`` models (:func:`split`), becomes ONE submitit job: a task of
one SLURM job array, or with ``cluster=local`` a process on this machine (submitit's local
executor, for tests). The submitted :class:`PackJob` builds its jobs again from their
configs, so the memory and precision checks speak of the node that trains them (and one of
the whole pack's memory, :func:`benchmarks.run.memory.check_memory`), then trains them as
one pack (:func:`benchmarks.run.pack.run_jobs`), writing each job's usual run directory.
Jobs already finished are not submitted. The pack trains in the submitted job's own process,
not in a child of it (:mod:`benchmarks.run.isolation`): that process already fails alone (the
launcher records a job that died), and the pack's checkpointer hands a signal straight to
submitit's requeueing handler.

Time limits and preemption: submitit signals the job ``signal_delay_s`` before its limit;
the pack saves its checkpoint in ``<sweep dir>/.pack/<id>/`` and submitit requeues the same
callable (:meth:`PackJob.checkpoint`; after a time limit at most ``max_num_timeout`` times),
which resumes the pack from there. Failures: a job that does not build, or a failed pack,
gets its ``error.json`` from the submitted job; a submitted job that ended without a result
(killed, timed out too often) gets one for each of its jobs from the launcher, which waits
for every submitted job and names the failed jobs at the end, as for any sweep. With
``wait=false`` it prints the job ids and returns.
"""

import copy
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.carousel_pack.pack_launcher import build_job, compose_jobs

CLUSTERS = ("slurm", "local")


@dataclass
class PackSubmititConf(SlurmQueueConf):
    """The SLURM fields of hydra-submitit-launcher's ``submitit_slurm``, and the packing's."""

    _target_: str = "hydra_plugins.carousel_pack.pack_submitit.PackSubmititLauncher"
    cluster: str = "slurm"  # or local: each pack a process on this machine (submitit's local executor)
    # the most models (seeds summed over a pack's jobs) one submitted job trains; null: no cap
    max_models_per_job: Optional[int] = None
    wait: bool = True  # wait for the submitted jobs and name the failed ones; false: print the job ids
    progress: bool = True  # each pack's progress bar, in its job's log


ConfigStore.instance().store(
    group="hydra/launcher", name="pack_submitit", node=PackSubmititConf, provider="carousel"
)


class Failed(NamedTuple):
    """A job that failed in its submitted job, where its error.json was written (or why not: ``held``)."""

    type: str
    error: str
    held: str | None


class PackJobFailed(RuntimeError):
    """The submitted job of a pack ended without a result: each of its jobs failed."""


def _collect(cfg: DictConfig) -> tuple[Any, DictConfig] | None:
    """The task of one job in the first pass: the job built (:func:`build_job`, recorded and
    None when it does not build) and its config, resolved, for the submitted job."""
    job = build_job(cfg)
    if job is None:
        return None
    config = copy.deepcopy(cfg)
    OmegaConf.resolve(config)
    return job, config


def split(group: list[Any], max_models: int | None) -> list[list[Any]]:
    """A group of :func:`~benchmarks.run.pack.plan` cut, in its order, into parts of at most
    ``max_models`` models (seeds summed over the jobs); a job's seeds stay together, so a job
    with more seeds than that is a part alone. None: the group whole."""
    if not max_models:
        return [group]
    parts: list[list[Any]] = [[]]
    models = 0
    for job in group:
        n = len(job.experiment.seeds)
        if parts[-1] and models + n > max_models:
            parts.append([])
            models = 0
        parts[-1].append(job)
        models += n
    return parts


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@dataclass
class PackJob:
    """What one submitted job runs: its sweep jobs (configs and run directories), built
    again here and trained as one pack; returns each job's summary, or :class:`Failed`.
    Checkpointable: submitit requeues it as it is, and the pack resumes from its checkpoint."""

    configs: list[DictConfig]
    outs: list[Path]
    sweep_dir: Path
    progress: bool = True

    def __call__(self) -> dict[Path, dict[str, Any] | Failed]:
        from benchmarks.run import pack
        from benchmarks.run.experiment import HELD, record_failure

        logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU" notices
        todo, outcomes = self._build()
        if todo:
            outcomes.update(pack.run_jobs(todo, self.sweep_dir, progress=self.progress, isolate=False))
        returned: dict[Path, dict[str, Any] | Failed] = {}
        for out, outcome in outcomes.items():
            if isinstance(outcome, Exception):
                record_failure(out, outcome)
                outcome = Failed(type(outcome).__name__, _first_line(outcome), HELD.get(out))
            returned[out] = outcome
        return returned

    def _build(self) -> tuple[list[Any], dict[Path, Any]]:
        """The jobs to train here, built again, and the outcome of each other one: already
        finished, its directory another run's, its config not building here, or the whole
        pack too large for this node's memory."""
        from benchmarks.config import build
        from benchmarks.run import pack
        from benchmarks.run.memory import check_memory

        jobs, failed = [], {}
        for cfg, out in zip(self.configs, self.outs, strict=True):
            try:
                jobs.append(pack.Job(build(cfg), out))
            except Exception as e:  # noqa: BLE001 - recorded; the other jobs go on
                failed[out] = e
        todo, outcomes = pack.unfinished(jobs)
        models = sum(len(job.experiment.seeds) for job in todo)
        try:
            if todo:
                check_memory(pack.pack_trainer(todo), models)
        except ValueError as e:
            too_large = ValueError(f"the pack of {models} models: {e}, or hydra.launcher.max_models_per_job")
            return [], {**failed, **outcomes, **dict.fromkeys([job.out for job in todo], too_large)}
        return todo, {**failed, **outcomes}

    def checkpoint(self) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self)


class PackSubmititLauncher(Launcher):
    def __init__(
        self,
        cluster: str = "slurm",
        max_models_per_job: int | None = None,
        wait: bool = True,
        progress: bool = True,
        **params: Any,
    ) -> None:
        super().__init__()
        if cluster not in CLUSTERS:
            raise ValueError(f"hydra.launcher.cluster must be one of {', '.join(CLUSTERS)}, got {cluster!r}")
        if max_models_per_job is not None and max_models_per_job < 1:
            raise ValueError(f"hydra.launcher.max_models_per_job must be >= 1, got {max_models_per_job}")
        self.cluster, self.max_models, self.wait, self.progress = cluster, max_models_per_job, wait, progress
        self.params: dict[str, Any] = {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in params.items()
        }
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # the submitted PackJobs train the jobs, not ``task_function``
        self.config, self.hydra_context = config, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from benchmarks.run import pack

        assert self.hydra_context is not None and self.config is not None
        runs = compose_jobs(self.config, self.hydra_context, job_overrides, initial_job_idx, _collect)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        built = {r.return_value[0].out: r.return_value for r in runs if r.return_value is not None}
        todo, outcomes = pack.unfinished([job for job, _ in built.values()])
        parts = [part for group in pack.plan(todo) for part in split(group, self.max_models)]
        pack_jobs = [
            PackJob([built[j.out][1] for j in part], [j.out for j in part], sweep_dir, self.progress)
            for part in parts
        ]
        submitted = self._submit(pack_jobs) if pack_jobs else []
        ids = ", ".join(
            f"{job.job_id} ({len(part)} jobs, {sum(len(j.experiment.seeds) for j in part)} models)"
            for job, part in zip(submitted, parts, strict=True)
        )
        print(f"{len(todo)} jobs to train in {len(parts)} submitted {self.cluster} job(s): {ids}", flush=True)
        if self.wait:
            outcomes.update(self._wait(submitted, pack_jobs))
        elif submitted:
            logs = self.params["submitit_folder"]
            print(f"not waiting for them (hydra.launcher.wait=false); their logs: {logs}", flush=True)
        return _returns(runs, outcomes)

    def _submit(self, pack_jobs: list[PackJob]) -> list[Any]:
        """One submitit job per pack, as one job array on SLURM; the parameters go to
        submitit as hydra-submitit-launcher passes them."""
        import submitit

        params = dict(self.params)
        folder = str(params.pop("submitit_folder"))
        executor = submitit.AutoExecutor(
            folder=folder,
            cluster=self.cluster,
            **{f"{self.cluster}_max_num_timeout": params.pop("max_num_timeout")},
        )
        generic = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in generic else f"slurm_{k}": v for k, v in params.items()})
        return executor.submit_array(pack_jobs)

    def _wait(self, submitted: list[Any], pack_jobs: list[PackJob]) -> dict[Path, Any]:
        """Each submitted job's outcomes; a job that ended without a result fails each of its jobs."""
        from submitit.core.utils import UncompletedJobError

        outcomes: dict[Path, Any] = {}
        try:
            for job, pack_job in zip(submitted, pack_jobs, strict=True):
                try:
                    outcomes.update(job.result())
                except UncompletedJobError as e:
                    outcomes.update(dict.fromkeys(pack_job.outs, _job_failure(job, e)))
        except KeyboardInterrupt:
            ids = ", ".join(str(job.job_id) for job in submitted)
            raise KeyboardInterrupt(f"interrupted: stopped waiting for the submitted jobs ({ids})") from None
        return outcomes


def _job_failure(job: Any, e: Exception) -> PackJobFailed:
    """What ended a submitted job without its result: the last line of the trace it raised
    (submitit's FailedJobError holds it between two dashed lines), or its state."""
    from submitit.core.utils import FailedJobError

    words = f"ended without a result (state {job.state})"
    parts = str(e).split("-" * 22)
    if isinstance(e, FailedJobError) and len(parts) > 2:
        lines = [line.strip() for line in parts[1].splitlines() if line.strip()]
        words = f"raised {lines[-1]}" if lines else words
    return PackJobFailed(f"its pack's job {job.job_id} {words}; its log: {job.paths.stderr}")


def _returns(runs: list[JobReturn], outcomes: dict[Path, Any]) -> list[JobReturn]:
    """Each job's JobReturn with its summary, None where it failed (named for the sweep's
    last line: recorded here, or already in its submitted job) or was not waited for."""
    from benchmarks.run.experiment import FAILED, HELD, record_failure

    for r in runs:
        if r.return_value is None:
            continue
        out = r.return_value[0].out
        outcome = outcomes.get(out)
        if isinstance(outcome, Exception):
            record_failure(out, outcome)
            outcome = None
        elif isinstance(outcome, Failed):  # its error.json, if any, was written in its job
            if outcome.held is not None:
                HELD[out] = outcome.held
            print(f"error: job failed ({outcome.type}): {outcome.error} [{out}]", file=sys.stderr, flush=True)
            FAILED.append(out)
            outcome = None
        r.return_value = outcome
    return runs
