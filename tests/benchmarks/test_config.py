"""Every registry name has its YAML, every YAML composes and builds, the composed config
shows every default; bad input is one line."""

import dataclasses
import pickle
import re

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks import cli
from benchmarks.config import build, register
from models import MODELS, make_spec
from tasks import TASKS

register()


def composed(overrides):
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def check_argv(argv):
    """What ``python -m benchmarks.train`` does with a command line before training, in
    process: compose it (Hydra's and OmegaConf's errors) and build it (the range checks),
    each failure one line through the same :func:`cli.one_line_errors`."""
    with cli.one_line_errors(ValueError):
        cli.check_additions(argv)
    with cli.one_line_errors():
        cfg = composed(argv)
    with cli.one_line_errors(ValueError):
        build(cfg)


def test_every_registry_name_has_its_yaml():
    assert set(cli.group_options("model")) == set(MODELS)
    assert set(cli.group_options("task")) == set(TASKS)


@pytest.mark.parametrize("group", ["model", "task", "optim", "logger", "experiment"])
def test_every_yaml_composes_and_builds(group):
    for option in cli.group_options(group):
        # an RNN takes every optim preset; pascanu2013_cr's regulariser refuses the default LSTM
        exp = build(composed([f"{group}={option}", *(["model=rnn"] if group == "optim" else [])]))
        if group == "model":
            assert exp.model_name == option
        if group == "task":
            assert exp.task_name == option and exp.trainer.task.name == option


def test_defaults_and_the_main_job():
    exp = build(composed([]))
    assert (exp.model_name, exp.task_name) == ("lstm", "adding")
    assert exp.trainer.task.variant == "pascanu2013" and exp.trainer.task.length == 100
    assert exp.trainer.eval_size == 10000  # the paper's evaluation size unless overridden
    assert exp.trainer.model.spec.forget_gate and exp.seeds == [0, 1, 2, 3]
    exp = build(composed(["experiment=demo"]))
    assert exp.trainer.task.length == 50 and exp.trainer.eval_size == 2000 and len(exp.seeds) == 8
    exp = build(composed(["model.init.recurrent=identity", "model.init.recurrent_scale=0.5"]))
    assert (exp.trainer.model.spec.init.recurrent, exp.trainer.model.spec.init.recurrent_scale) == (
        "identity",
        0.5,
    )
    exp = build(composed(["model=lstm_nofg", "model.hidden=7", "seeds=2", "seed_offset=5"]))
    assert not exp.trainer.model.spec.forget_gate and exp.trainer.model.spec.hidden == 7
    assert exp.seeds == [5, 6]


BAD = [
    (["model=transformer"], f"unknown model 'transformer'; valid: {', '.join(sorted(MODELS))}"),
    (["task=sorting"], "unknown task 'sorting'; valid: "),
    (["optim=adamw"], "unknown optim 'adamw'; valid: adam, momentum"),
    (["task.variant=graves2014"], "valid: arjovsky2016, hochreiter1997, pascanu2013"),
    (["task.length=-5"], "length"),
    (["task.length=0"], "length"),
    (["seeds=0"], "seeds must be an integer >= 1"),
    (["task.lenght=50"], "unknown config key 'task.lenght'; valid keys here: "),
    (["trian.steps=5"], "unknown config key 'trian'; valid keys here: diagnostics, logger, model"),
    (["train.steps=many"], "train.steps"),
    (["optim.name=adamw"], "unknown optimizer 'adamw'; valid: adam, momentum, rmsprop, sgd"),
    (["model.activation=swish"], "valid: identity, relu, sigmoid, tanh"),
    (["model.init.recurrent=he"], "unknown model.init.recurrent initializer 'he'; valid: "),
    (["model.init.recurent=identity"], "unknown config key 'model.init.recurent'; valid keys here: input"),
    (["diagnostics=everything"], "unknown diagnostics 'everything'; valid: basic, full, none"),
    (["diagnostics.layer=3"], "diagnostics.layer must be < model.layers"),
    (["train.strategy=threads"], "valid: auto, loop, processes, vmap"),
    (["train.gradient=rtrl"], "valid: full, truncated"),
    (["train.schedule=online"], "valid: batch, step, stream"),
    (
        ["train.schedule=stream", "train.gradient=truncated", "optim=sgd", "optim.clip=none"],
        "train.schedule=stream (continual streams, an update after every symbol, Gers et al. 2000) needs a"
        " task that samples continual streams, not task=adding; valid: task=continual_reber, or"
        " train.schedule=batch or step",
    ),
    (
        ["task=continual_reber", "train.schedule=stream"],
        "computes the truncated gradient; set train.gradient=",
    ),
    (
        ["task=continual_reber", "train.schedule=stream", "train.gradient=truncated", "optim=adam"],
        "is plain SGD; set optim.name=sgd and optim.clip=none",
    ),
    (
        ["task=continual_reber", "model=lstm_peephole", "train.schedule=stream", "train.gradient=truncated"],
        "implemented for one layer of lstm, lstm_nofg or lstm1997 (input and output gates,",
    ),
    (["train.schedule=step"], "computes the truncated gradient; set train.gradient=truncated"),
    (["train.schedule=step", "train.gradient=truncated"], "is plain SGD; set optim.name=sgd and optim.clip="),
    (
        ["model=lstm_peephole", "train.schedule=step", "train.gradient=truncated", "optim=sgd"],
        "not this 'lstm' model with 1 layer(s) (model.peepholes=true); valid here: train.schedule=batch",
    ),
    (
        ["model=gru", "train.gradient=truncated"],
        "train.gradient=truncated is the LSTM's 1997 rule (error flows back in time only along the"
        " cell state), and a 'gru' cell has no cell state; valid here: full",
    ),
    (["logger.mode=cloud"], "valid: offline, online, disabled"),
    (["experiment=nope"], "unknown experiment 'nope'; valid: demo, gradient_flow"),
    (["logger=cloud"], "unknown logger 'cloud'; valid: none, wandb"),
    (["optim.clip=foo"], "unknown optim.clip 'foo'; valid: elementwise, global_norm, none"),
    (["model.cell=transformer"], "unknown model.cell 'transformer'; valid: gru, lstm, rnn"),
    (["diagnostics.level=most"], "unknown diagnostics.level 'most'; valid: basic, full, none"),
    (["logger.name=tensorboard"], "unknown logger.name 'tensorboard'; valid: none, wandb"),
    (
        ["task=temporal_order", "task.variant=x"],
        "unknown temporal_order variant 'x'; valid: hochreiter1997_6a",
    ),
    (["task.length=abc"], "task.length must be an integer, got 'abc'"),
    (["optim.lr=fast"], "optim.lr must be a number, got 'fast'"),
    (["train.stop_when_solved=maybe"], "train.stop_when_solved must be true or false, got 'maybe'"),
    (["seeds=1.5"], "seeds must be an integer, got 1.5"),
    (
        ["task=reber", "task.length=5"],
        "unknown config key 'task.length'; valid keys here: max_length, name, variant",
    ),
    (["task=reber", "experiment=demo"], "unknown reber variant 'pascanu2013'; valid: hochreiter1997"),
    (["+task.lenght=5"], "unknown config key 'task.lenght'; valid keys here: distractors, length, max_extra"),
    (["+foo=1"], "unknown config key 'foo'; valid keys here: diagnostics, logger, model, optim, seed_"),
    (["+seed=3"], "unknown config key 'seed'; valid keys here: diagnostics,"),
    (["++train.stepz=5"], "unknown config key 'train.stepz'; valid keys here: batch_size, checkpoint_every,"),
    (["+model.init.gain=2"], "unknown config key 'model.init.gain'; valid keys here: input, "),
    (["+seeds.x=1"], "unknown config key 'seeds.x': seeds is a value, not a group"),
    (["task=copy", "+task.distractors=3"], "key 'task.distractors'; valid keys here: length, name, variant"),
    (["task.length=["], "cannot parse 'task.length=['"),
    (["optim.lr=inf"], "optim.lr must be a finite number, got inf"),
    (["optim.clip_value=nan"], "optim.clip_value must be a finite number, got nan"),
    (["model.forget_bias=inf"], "model.forget_bias must be a finite number, got inf"),
    (["model.init.recurrent_scale=nan"], "model.init.recurrent_scale must be a finite number, got nan"),
    (["model.bias=-inf"], "model.bias must be a finite number, got -inf"),
    (["seed_offset=4294967296"], "seed_offset + seeds must be <= 2**32 = 4294967296 (jax.random.key"),
    (["seeds=2", "seed_offset=4294967295"], "got 4294967295 + 2 = 4294967297"),
    (["seed_offset=-1"], "seed_offset must be an integer >= 0, got -1"),
    (["train.devices=0"], "train.devices must be a positive integer, got 0"),
    (["train.devices=auto"], "train.devices must be an integer, got 'auto'"),
    (  # the test process has one CPU device
        ["train.devices=2"],
        "train.devices=2, but the cpu backend has 1 local device(s); valid: null (all of them) or an"
        " integer from 1 to 1",
    ),
    (["train.strategy=loop", "train.devices=2"], "=loop runs on one device; valid with it: null or 1"),
    (["task.length=100000000"], "GiB for diagnostics: diagnostics: 4 x 109999999 step Jacobians of 100"),
    (["model.squashing=logistic"], "unknown model.squashing 'logistic'; valid: hochreiter1997, tanh"),
    (["model.readout=softmax"], "unknown model.readout 'softmax'; valid: linear, sigmoid"),
    (
        ["model.input_gate_biases=high"],
        "model.input_gate_biases must be a list ([1, 2]; [] for none), got 'high'",
    ),
    (["model.input_gate_biases=[-1,a]"], "model.input_gate_biases[1] must be a number, got 'a'"),
    (
        ["model=lstm1997", "model.hidden=5"],
        "model.hidden=5 is not a whole number of blocks of model.block_size=2",
    ),
    (
        ["model=lstm1997", "model.input_gate_biases=[-1]"],
        "model.input_gate_biases has 1 value(s), one per block, and model.hidden=4 / model.block_size=2"
        " makes 2 block(s); valid: 2 values, or [] for model.bias on every input gate",
    ),
    (
        ["model=lstm1997", "task=copy"],
        "model.readout=sigmoid puts every output in (0, 1), for a squared error on targets in [0, 1];"
        " task copy (variant arjovsky2016) reads the outputs as logits; valid tasks: adding (hochreiter1997,",
    ),
    (
        [
            "model=lstm1997",
            "model.peepholes=true",
            "train.schedule=step",
            "train.gradient=truncated",
            "optim=sgd",
            "optim.clip=none",
        ],
        "not this 'lstm' model with 1 layer(s) (model.peepholes=true); valid here: train.schedule=batch",
    ),
    (
        ["model=lstm_cifg", "train.schedule=step", "train.gradient=truncated", "optim=sgd"],
        "(model.peepholes=true, model.coupled=true); valid here: train.schedule=batch",
    ),
]


@pytest.mark.parametrize(("argv", "message"), BAD)
def test_bad_input_is_one_line_naming_valid_choices(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        check_argv(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err, err


def test_good_input_passes():
    check_argv(["model=gru", "task=copy", "task.length=10", "seeds=2", "hydra.run.dir=/tmp/x"])
    check_argv(["model=lstm_peephole", "train.gradient=truncated"])
    online = ["train.schedule=step", "train.gradient=truncated", "optim.name=sgd", "optim.clip=none"]
    check_argv(["model=lstm_nofg", "train.batch_size=1", *online])
    stream = ["task=continual_reber", "train.schedule=stream", *online[1:]]
    check_argv(["model=lstm", "train.batch_size=1", *stream])
    check_argv(["model=lstm_nofg", "train.batch_size=8", "task.length=1000", *stream])
    check_argv(["seed_offset=4294967292"])  # seeds 2**32 - 4 .. 2**32 - 1: the last distinct keys
    check_argv(["model=lstm1997", "task.variant=hochreiter1997", "train.gradient=truncated"])


def test_the_1997_fields_come_from_the_command_line():
    """Each field of the 1997 cell as a config key; a list from the command line (or YAML)
    becomes a tuple of floats, so the spec stays hashable (a static jit argument)."""
    keys = ["model.hidden=6", "model.block_size=3", "model.input_gate_biases=[-1,-2.5]"]
    keys += ["model.squashing=hochreiter1997", "model.readout=sigmoid", "model.forget_gate=false"]
    spec = build(composed(["model=lstm", *keys])).trainer.model.spec
    assert spec.input_gate_biases == (-1.0, -2.5) and all(type(b) is float for b in spec.input_gate_biases)
    assert (spec.blocks, spec.squashing, spec.readout) == (2, "hochreiter1997", "sigmoid")
    assert hash(spec) == hash(dataclasses.replace(spec))
    fields = {"block_size": 3, "squashing": "hochreiter1997", "readout": "sigmoid", "forget_gate": False}
    assert spec == make_spec("lstm", hidden=6, input_gate_biases=[-1, -2.5], **fields)
    assert (
        build(composed(["model=lstm1997", "model.input_gate_biases=[]"])).trainer.model.spec.input_gate_biases
        == ()
    )


def _float_keys(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _float_keys(value, f"{prefix}{key}.")
        elif isinstance(value, float):
            yield prefix + key


# every float key of the config, with a task that has it (the digits task's own float)
FLOAT_KEYS = sorted(
    {
        key: task
        for task in ("digits", "adding")
        for key in _float_keys(OmegaConf.to_container(composed([f"task={task}"])))
    }.items()
)


@pytest.mark.parametrize(("key", "task"), FLOAT_KEYS, ids=[k for k, _ in FLOAT_KEYS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_field_refuses_a_non_finite_value(key, task, value, capsys):
    """Every float of the config (model, its initialisers, optimizer, diagnostics, the
    digits task's target accuracy) is checked by its spec, named as the config names it."""
    with pytest.raises(SystemExit):
        check_argv([f"task={task}", f"{key}={value}"])
    assert capsys.readouterr().err == f"error: {key} must be a finite number, got {value}\n"


def test_the_float_fields_are_the_expected_ones():
    keys = {k for k, _ in FLOAT_KEYS}
    assert keys >= {"optim.lr", "optim.clip_value", "model.forget_bias", "model.bias", "task.target_accuracy"}
    assert keys >= {"model.init.recurrent_scale", "diagnostics.explode_factor"}


def test_normal_lengths_pass_the_memory_check_on_this_machine(monkeypatch):
    """With the memory and cores of the 2-core, 23.5 GiB machine the project runs on, the
    default LSTM at T=10,000 builds with basic diagnostics (8.9 GiB: two workers' evaluation
    sets), and the copy task at 10,000 with full ones (21.6 GiB); the default LSTM's full
    diagnostics at T=10,000 (the Jacobians of two workers, 23.6 GiB) and 16 seeds vmapped
    at once (189 GiB) do not fit, nor does T=100,000,000 in any strategy."""
    monkeypatch.setattr(
        "benchmarks.run.memory.memory_available", lambda: (int(23.5 * 2**30), "physical memory")
    )
    monkeypatch.setattr("benchmarks.run.memory.usable_cores", lambda: [0, 1])
    check_argv(["task.length=10000", "diagnostics=basic"])
    check_argv(["task=copy", "task.length=10000"])
    check_argv(["train.strategy=vmap", "task.length=1000"])
    with pytest.raises(ValueError, match=r"needs about 23.6 GiB .*2 seed\(s\) at once \[processes\]"):
        build(composed(["task.length=10000"]))
    with pytest.raises(ValueError, match=r"needs about 189.0 GiB .*16 seed\(s\) at once \[vmap\]"):
        build(composed(["task.length=10000", "train.strategy=vmap", "seeds=16"]))
    for strategy in ("loop", "vmap", "processes"):
        with pytest.raises(ValueError, match=r"but physical memory is 23.5 GiB; lower task.length"):
            build(composed(["task.length=100000000", f"train.strategy={strategy}", "seeds=1"]))


def hydra_composed(overrides):
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_default_run_directories_are_unique_per_launch(monkeypatch):
    """Two launches in a row (in the same second) get different run and sweep directories:
    the time goes to the microsecond."""
    for key in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(key, raising=False)
    first, second = hydra_composed(["model=gru"]), hydra_composed(["model=gru"])
    assert first.hydra.run.dir != second.hydra.run.dir
    assert first.hydra.sweep.dir != second.hydra.sweep.dir
    assert re.fullmatch(r"runs/\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d-\d{6}_gru_adding", first.hydra.run.dir)
    assert re.fullmatch(r"runs/multi/\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d-\d{6}", first.hydra.sweep.dir)


def test_a_run_directory_in_a_slurm_job_names_the_job_and_array_task(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    assert hydra_composed([]).hydra.run.dir.endswith("_lstm_adding_slurm4242")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4200")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "7")
    assert hydra_composed(["task=copy"]).hydra.run.dir.endswith("_lstm_copy_slurm4200-7")


@pytest.mark.parametrize("preset", ["slurm_cpu", "slurm_gpu"])
def test_the_slurm_presets_compose_over_the_submitit_launcher(preset):
    launcher = hydra_composed([f"hydra/launcher={preset}"]).hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    gpu = preset == "slurm_gpu"
    assert (launcher.partition, launcher.gpus_per_node) == (("gpu", 1) if gpu else ("cpu", None))
    assert launcher.max_num_timeout == 3 and launcher.signal_delay_s == 120
    assert launcher.timeout_min == 240 and launcher.cpus_per_task and launcher.mem_gb
    assert launcher.array_parallelism == (32 if gpu else 64)
    edited = hydra_composed([f"hydra/launcher={preset}", "hydra.launcher.partition=long"])
    assert edited.hydra.launcher.partition == "long"


def test_task_options_leave_out_the_task_schemas(capsys):
    with pytest.raises(SystemExit):
        check_argv(["task=sorting"])
    assert capsys.readouterr().err == f"error: unknown task 'sorting'; valid: {', '.join(sorted(TASKS))}\n"


def test_the_composed_config_shows_the_preset_and_every_default():
    """What ``--cfg job`` prints for model=lstm_cifg: the preset's fields, ModelSpec's
    defaults (hidden, initialisers) and the task's variant and length, none of them null."""
    text = OmegaConf.to_yaml(composed(["model=lstm_cifg"]))
    shown = yaml.safe_load(text)
    model, task = shown["model"], shown["task"]
    assert model["name"] == "lstm_cifg" and model["cell"] == "lstm" and model["hidden"] == 50
    assert model["coupled"] is True and model["peepholes"] is True and model["forget_gate"] is True
    assert model["init"] == {
        "input": "glorot",
        "input_scale": 1.0,
        "recurrent": "orthogonal",
        "recurrent_scale": 1.0,
        "readout": "glorot",
        "readout_scale": 1.0,
        "recurrent_nonzero": 15,
        "peephole_scale": 0.1,
    }
    assert task == {"name": "adding", "variant": "pascanu2013", "length": 100}
    assert "null" not in yaml.safe_dump({"model": model, "task": task})
    assert shown["optim"]["clip"] == "global_norm" and shown["train"]["strategy"] == "auto"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_preset_composes_to_its_python_spec(name):
    assert build(composed([f"model={name}"])).trainer.model.spec == make_spec(name)


def test_every_task_composes_to_its_dataclass_defaults():
    """Each task's schema holds its dataclass's fields and defaults (the digits task's
    ``length`` is null: the data fixes it)."""
    for name, cls in TASKS.items():
        shown = OmegaConf.to_container(composed([f"task={name}"]).task, enum_to_str=True)
        assert shown == {"name": name, **dataclasses.asdict(cls())}, name
    assert composed(["task=digits"]).task.length is None


def test_the_saved_config_holds_plain_strings():
    """Enums are for composing only: the specs and ``describe()`` (config.yaml) hold str."""
    exp = build(composed(["model=irnn", "optim=pascanu2013", "diagnostics=basic"]))
    described = exp.describe()
    assert yaml.safe_load(yaml.safe_dump(described)) == described
    assert type(described["model"]["cell"]) is str and described["model"]["init"]["recurrent"] == "identity"
    assert type(described["task"]["variant"]) is str and described["optim"]["clip"] == "global_norm"
    assert type(exp.trainer.spec.strategy) is str and type(exp.logger.mode) is str
    described = build(composed(["model=lstm1997"])).describe()
    assert yaml.safe_load(yaml.safe_dump(described)) == described
    assert described["model"]["input_gate_biases"] == [-3.0, -6.0]


def test_a_composed_config_pickles():
    """A sweep through the submitit launcher pickles each job's config: the generated
    schema and Enum classes must be importable by name."""
    cfg = composed(["model=lstm_cifg", "task=temporal_order", "optim.clip=elementwise"])
    again = pickle.loads(pickle.dumps(cfg))
    assert again == cfg and build(again).describe() == build(cfg).describe()
