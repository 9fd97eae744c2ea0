"""W&B never stops a run: every failure of it is one warning and the NullLogger."""

import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchmarks.config import LoggerSpec
from benchmarks.run.logger import LIGHT, NullLogger, WandbLogger, make_logger, wandb_mode
from benchmarks.tracking import experiment_group, seed_runs

REPO = Path(__file__).resolve().parents[3]


class FakeSummary(dict):
    def __init__(self, run):
        super().__init__()
        self.run = run

    def update(self, values):
        if "summary" in self.run.fail_on:
            raise RuntimeError("summary rejected")
        super().update(values)


class FakeRun:
    def __init__(self, fail_on=()):
        self.fail_on, self.logged, self.finished, self.disabled = set(fail_on), [], False, False
        self.summary = FakeSummary(self)

    def log(self, metrics, step):
        if "log" in self.fail_on:
            raise ConnectionError("upload stream closed\nsecond line")
        self.logged.append((step, metrics))

    def finish(self):
        if "finish" in self.fail_on:
            raise OSError("disk full")
        self.finished = True


def fake_wandb(monkeypatch, init=None, run=None, histogram=None):
    """A stand-in ``wandb`` module in ``sys.modules``; records every init call and the runs
    it gave (``run`` for every one, if given)."""
    module = types.ModuleType("wandb")
    module.calls, module.runs = [], []
    module.Settings = lambda **kw: kw
    module.Image = lambda path, caption: ("image", path, caption)
    module.Table = lambda columns, data: ("table", columns, data)

    def default_init(**kw):
        module.runs.append(run or FakeRun())
        return module.runs[-1]

    def recording_init(**kw):
        module.calls.append(kw)
        return (init or default_init)(**kw)

    module.init = recording_init
    module.Histogram = histogram or (lambda values: ("histogram", len(values)))
    monkeypatch.setitem(sys.modules, "wandb", module)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    return module


CONFIG = {"model": {"name": "lstm", "hidden": 8}, "task": {"name": "adding", "length": 20}, "seeds": [3, 4]}


def make(tmp_path, mode="offline", name="wandb", config=None):
    runs = seed_runs(config or {**CONFIG, "seeds": [0]}, tmp_path)
    return make_logger(LoggerSpec(name=name, mode=mode), tmp_path, runs)


def warnings_of(caplog):
    return [r for r in caplog.records if r.name == "carousel" and r.levelno == logging.WARNING]


def test_an_init_that_raises_gives_the_null_logger_and_one_warning_naming_why(tmp_path, monkeypatch, caplog):
    def init(**kw):
        raise RuntimeError("Timed out while retrying: no such host\nConsider increasing init_timeout")

    module = fake_wandb(monkeypatch, init=init)
    logger = make(tmp_path, mode="online")
    assert isinstance(logger, NullLogger) and len(module.calls) == 1
    [warning] = warnings_of(caplog)
    message = warning.getMessage()
    assert "\n" not in message and "RuntimeError: Timed out while retrying: no such host" in message
    assert "init (online)" in message and "local result store only" in message
    assert not (tmp_path / "wandb").exists()  # no empty directory left behind
    logger.log(0, {"a": 1.0}, 0)
    logger.finish()  # the run goes on


def test_init_gets_a_short_timeout_and_the_run_directory(tmp_path, monkeypatch):
    module = fake_wandb(monkeypatch)
    monkeypatch.delenv("WANDB_INIT_TIMEOUT", raising=False)
    monkeypatch.delenv("WANDB_FINISH_TIMEOUT", raising=False)
    logger = make(tmp_path)
    assert isinstance(logger, WandbLogger)
    [call] = module.calls
    assert call["settings"] == {"init_timeout": 30.0, "finish_timeout": 120.0} and call["mode"] == "offline"
    assert call["reinit"] == "create_new"
    assert call["dir"] == str(tmp_path) and (tmp_path / "wandb").is_dir()
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "5")
    monkeypatch.setenv("WANDB_FINISH_TIMEOUT", "7")
    make(tmp_path)
    assert module.calls[-1]["settings"] == {"init_timeout": 5.0, "finish_timeout": 7.0}


def test_wandb_mode_disabled_in_the_environment_wins_without_importing_wandb(tmp_path, monkeypatch, caplog):
    module = fake_wandb(monkeypatch)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setitem(sys.modules, "wandb", None)  # importing it would now raise ImportError
    for mode in ("offline", "online"):
        assert isinstance(make(tmp_path, mode=mode), NullLogger)
    assert module.calls == [] and warnings_of(caplog) == []
    assert not (tmp_path / "wandb").exists()


def test_the_stricter_of_config_and_environment_mode_is_used(monkeypatch):
    for env, configured, used in [
        ("disabled", "online", "disabled"),
        ("offline", "online", "offline"),
        ("dryrun", "online", "offline"),
        ("online", "offline", "offline"),
        ("", "online", "online"),
        ("OFFLINE", "disabled", "disabled"),
    ]:
        monkeypatch.setenv("WANDB_MODE", env)
        assert wandb_mode(configured) == used, (env, configured)


def test_the_environment_turns_online_into_offline(tmp_path, monkeypatch):
    module = fake_wandb(monkeypatch)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert isinstance(make(tmp_path, mode="online"), WandbLogger)
    assert module.calls[-1]["mode"] == "offline"


def test_an_unwritable_wandb_directory_gives_the_null_logger(tmp_path, monkeypatch, caplog):
    module = fake_wandb(monkeypatch)
    (tmp_path / "wandb").write_text("a file where W&B wants its directory")
    assert isinstance(make(tmp_path), NullLogger) and module.calls == []
    [warning] = warnings_of(caplog)
    assert "FileExistsError" in warning.getMessage()


def test_a_missing_wandb_package_gives_the_null_logger(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert isinstance(make(tmp_path), NullLogger)
    assert "ModuleNotFoundError" in warnings_of(caplog)[0].getMessage()


def test_a_failing_log_warns_once_and_stops_logging(tmp_path, monkeypatch, caplog):
    run = FakeRun(fail_on={"log", "finish"})
    fake_wandb(monkeypatch, run=run)
    logger = make(tmp_path)
    for step in range(3):
        logger.log(0, {"loss": 1.0}, step)
    assert logger.histogram([1.0, 2.0]) is None
    logger.finish()
    [warning] = warnings_of(caplog)
    assert "W&B log failed (ConnectionError: upload stream closed)" in warning.getMessage()
    assert not run.finished


def test_a_failing_histogram_or_finish_is_one_warning(tmp_path, monkeypatch, caplog):
    def histogram(values):
        raise ValueError("too many bins")

    run = FakeRun(fail_on={"finish"})
    fake_wandb(monkeypatch, run=run, histogram=histogram)
    logger = make(tmp_path)
    assert logger.histogram([1.0]) is None
    logger.log(0, {"loss": 1.0}, 0)  # after the failure: nothing is sent
    logger.finish()
    assert run.logged == [] and [w.getMessage()[:29] for w in warnings_of(caplog)] == [
        "W&B Histogram failed (ValueEr"
    ]
    fake_wandb(monkeypatch, run=(run := FakeRun(fail_on={"finish"})))
    logger = make(tmp_path)
    logger.log(0, {"loss": 1.0}, 0)
    logger.finish()
    assert run.logged == [(0, {"loss": 1.0})]
    assert "W&B finish failed (OSError: disk full)" in warnings_of(caplog)[-1].getMessage()


def test_logger_none_and_mode_disabled_never_touch_wandb(tmp_path, monkeypatch):
    module = fake_wandb(monkeypatch)
    assert isinstance(make(tmp_path, name="none"), NullLogger)
    assert isinstance(make(tmp_path, mode="disabled"), NullLogger)
    assert module.calls == []


def test_real_wandb_online_without_an_api_key_degrades(tmp_path):
    """The installed wandb, online, with no key anywhere (fresh HOME, no WANDB_API_KEY) and
    no terminal: it raises at once, and the run gets the NullLogger and one warning."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k != "NETRC"}
    env.update(HOME=str(tmp_path), WANDB_INIT_TIMEOUT="5", PYTHONPATH=str(REPO))
    code = (
        "import logging, pathlib; logging.basicConfig(format='%(levelname)s %(message)s');"
        "from benchmarks.config import LoggerSpec; from benchmarks.run.logger import make_logger;"
        f"run = pathlib.Path({str(tmp_path / 'run')!r});"
        "from benchmarks.tracking import SeedRun;"
        "logger = make_logger(LoggerSpec(mode='online'), run, [SeedRun(0, 'x0', 'x-s0', 'x', 'lstm', {})]);"
        "print(type(logger).__name__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.stdout.strip() == "NullLogger", proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "W&B init (online) failed (UsageError: No API key" in warnings[0]


def test_one_run_per_seed_grouped_by_experiment_with_the_model_as_job_type(tmp_path, monkeypatch):
    module = fake_wandb(monkeypatch)
    logger = make(tmp_path, config=CONFIG)
    first, second = module.calls
    group = experiment_group(CONFIG)
    assert group.startswith("lstm-adding-T20-") and len(group) == len("lstm-adding-T20-") + 8
    for call, seed in ((first, 3), (second, 4)):
        assert (call["group"], call["job_type"], call["name"]) == (group, "lstm", f"lstm-adding-T20-s{seed}")
        assert call["config"] == {
            "model": {"name": "lstm", "hidden": 8},
            "task": {"name": "adding", "length": 20},
            "seed": seed,
            "n_seeds": 2,
            "run_dir": str(tmp_path),
        }
    assert set(LIGHT) & set(first["settings"]) == set() and LIGHT.items() <= second["settings"].items()
    logger.log(1, {"train/loss": 0.5}, 7)
    logger.summarise(0, {"solved": True})
    assert logger.image(tmp_path / "a.png", "a") == ("image", str(tmp_path / "a.png"), "a")
    assert logger.table(["seed"], [[3]]) == ("table", ["seed"], [[3]])
    logger.finish()
    runs = module.runs
    assert runs[0].logged == [] and runs[1].logged == [(7, {"train/loss": 0.5})]
    assert runs[0].summary == {"solved": True} and runs[1].summary == {}
    assert runs[0].finished and runs[1].finished


def test_a_seed_whose_init_fails_closes_the_runs_opened_before_it(tmp_path, monkeypatch, caplog):
    opened = []

    def init(**kw):
        if kw["name"].endswith("s4"):
            raise TimeoutError("run init timed out")
        opened.append(FakeRun())
        return opened[-1]

    fake_wandb(monkeypatch, init=init)
    assert isinstance(make(tmp_path, config=CONFIG), NullLogger)
    assert len(opened) == 1 and opened[0].finished
    [warning] = warnings_of(caplog)
    assert "W&B init (offline) failed (TimeoutError: run init timed out)" in warning.getMessage()


def test_a_failing_summary_is_one_warning_and_ends_logging(tmp_path, monkeypatch, caplog):
    module = fake_wandb(monkeypatch, init=lambda **kw: FakeRun(fail_on={"summary"}))
    logger = make(tmp_path, config=CONFIG)
    logger.summarise(0, {"solved": True})
    logger.summarise(1, {"solved": False})
    logger.log(0, {"loss": 1.0}, 0)
    logger.finish()
    [warning] = warnings_of(caplog)
    assert "W&B summary failed (RuntimeError: summary rejected)" in warning.getMessage()
    assert module.calls and logger.image(tmp_path, "x") is None and not logger.live


@pytest.fixture(autouse=True)
def _capture_carousel_warnings(caplog):
    caplog.set_level(logging.WARNING, logger="carousel")
