"""The ``vmap`` strategy over several devices (``train.devices``): a run's models sharded
over 4 host devices give the numbers of the one-device run, bit for bit.

XLA makes the CPU into several devices only when it starts (``XLA_FLAGS``), so the runs
train in a fresh process (:data:`RUNS`) with 4 host devices; YNNPACK's fusions off, so a
vmapped model's numbers do not depend on how many models are batched beside it (the
:class:`~benchmarks.run.strategies.VmapStrategy` docstring), and XLA's own fusion
emitters, not the suite's older ones, which round a program differently at each batch width
(as ``test_pack.py``'s vmapped sweep). 6 models on 4 devices: 2 per device and 2 padding
copies, which must not show anywhere. The process writes what it trained; the tests read it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from run_files import assert_same_runs

REPO = Path(__file__).resolve().parents[4]
XLA_FLAGS = (
    "--xla_force_host_platform_device_count=4 --xla_cpu_experimental_ynn_fusion_type="
    " --xla_backend_optimization_level=0"
)

# One process, one compiled program set: the one-device run compiles it on device 0, the
# sharded runs on devices 1-3 as well, and the packs and the resumed run reuse them.
RUNS = r"""
import json, sys
from pathlib import Path
import jax, numpy as np
from benchmarks.config import Experiment, LoggerSpec
from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec
from benchmarks.run import pack
from benchmarks.run.checkpoint import Checkpointer
from benchmarks.run.strategies import vmap
from benchmarks.run.training_loop import train
from models import make_model
from tasks.adding import AddingTask

out = Path(sys.argv[1])
assert len(jax.devices()) == 4
task = AddingTask(variant="pascanu2013", length=12)
model = make_model("rnn", task.input_size, task.output_size, hidden=8)  # compiles faster than an LSTM

def trainer(devices, lr=1e-2, **kw):
    spec = TrainSpec(steps=6, batch_size=8, eval_every=3, eval_size=64, stop_when_solved=False,
                     strategy="vmap", devices=devices, **kw)
    return Trainer(model, task, OptimSpec(name="adam", lr=lr), spec)

used = []  # the devices each training chunk's results came from
real = vmap.compiled
def spy(trainer, batched):
    fns = real(trainer, batched)
    def chunk(*args):
        result = fns.train_chunk(*args)
        used[-1].update(d.id for x in jax.tree.leaves(result) for d in x.devices())
        return result
    return fns._replace(train_chunk=chunk)
vmap.compiled = spy

def save(name, result):
    leaves = {f"param{i}": x for i, x in enumerate(jax.tree.leaves(result.params_final))}
    series = {f"series.{k}": v for k, v in result.step_series.items()}
    np.savez(out / f"{name}.npz", **leaves, **series)
    (out / f"{name}.json").write_text(json.dumps([vars(s) for s in result.seeds]))

seeds = list(range(6))
for devices in (1, 4):
    used.append(set())
    save(f"devices{devices}", train(trainer(devices), seeds))
(out / "used.json").write_text(json.dumps([sorted(u) for u in used]))

# a sharded run checkpointed at steps 3 and 6; resumed from step 3, sharded again
ckpt = out / "ckpt"
ckpt.mkdir()
train(trainer(4), seeds, checkpoint=Checkpointer(ckpt, 3))
(ckpt / "checkpoint.npz").unlink()  # the one at step 6: the one at step 3 is left
save("resumed", train(trainer(4), seeds, checkpoint=Checkpointer(ckpt, 3)))

# two jobs of a sweep (3 seeds each, two learning rates) packed: 6 models
for devices in (1, 4):
    root = out / f"pack{devices}"
    jobs = [
        pack.Job(Experiment(trainer(devices, lr), [0, 1, 2], LoggerSpec(name="none"), "rnn", "adding"),
                 root / f"job{i}")
        for i, lr in enumerate((1e-2, 3e-2))
    ]
    outcomes = pack.run_jobs(jobs, root, progress=False, isolate=False)
    assert all(isinstance(o, dict) for o in outcomes.values()), outcomes
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("devices")
    env = {
        **os.environ,
        "XLA_FLAGS": XLA_FLAGS,
        "JAX_PLATFORMS": "cpu",
        "WANDB_MODE": "disabled",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, "-c", RUNS, str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def assert_same(a: Path, b: Path, from_step: int = 0) -> None:
    """Two runs' final parameters, their per-step series (the steps from ``from_step``:
    [steps, seeds] each) and their per-seed results, exactly."""
    with np.load(a.with_suffix(".npz")) as x, np.load(b.with_suffix(".npz")) as y:
        assert sorted(x.files) == sorted(y.files)
        kept = x["series.step"] >= from_step, y["series.step"] >= from_step
        for k in x.files:
            u, v = (x[k][kept[0]], y[k][kept[1]]) if k.startswith("series.") else (x[k], y[k])
            assert u.size, k
            np.testing.assert_array_equal(u, v, err_msg=k)
    assert json.loads(a.with_suffix(".json").read_text()) == json.loads(b.with_suffix(".json").read_text())


def test_models_sharded_over_four_devices_equal_the_one_device_run(runs):
    """6 models, 4 devices: the final parameters, every step's loss, global and
    per-parameter gradient norms, and each seed's results, bit for bit; the sharded run's
    chunks ran on all 4 devices, the other's on one."""
    assert json.loads((runs / "used.json").read_text()) == [[0], [0, 1, 2, 3]]
    with np.load(runs / "devices4.npz") as x:
        assert x["param0"].shape[0] == 6 and x["series.loss"].shape == (6, 6)  # no padding copy
        assert np.isfinite(x["series.loss"]).all() and np.isfinite(x["series.global"]).all()
    assert_same(runs / "devices1", runs / "devices4")


def test_a_sharded_run_resumed_from_its_checkpoint_gives_the_same_numbers(runs):
    assert_same(runs / "devices1", runs / "resumed", from_step=3)


def test_a_packed_sweep_sharded_writes_what_it_writes_on_one_device(runs):
    """Two jobs of a sweep, 3 seeds each, packed as 6 models over 4 devices or on one:
    each job's run files hold the same numbers (all but timings and ``train.devices``)."""
    one, four = runs / "pack1", runs / "pack4"
    assert {"params_final.npz", "summary.json"} <= {f.name for f in (one / "job0").iterdir()}
    assert_same_runs(one, four, ignore_train=("devices",))
    with np.load(four / "job1" / "params_final.npz") as x, np.load(four / "job0" / "params_final.npz") as y:
        assert x["W_hh"].shape[0] == 3 and not np.array_equal(x["W_hh"], y["W_hh"])  # the jobs' own models
