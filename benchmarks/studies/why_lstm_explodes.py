"""Why do LSTMs still explode? The accepted answer, and three mechanisms measured apart.

The accepted answer (Hochreiter & Schmidhuber 1997; Greff et al. 2015, App. A.2; the reason
Sutskever et al. 2014 clip LSTM gradients at norm 5): the cell state's additive update
passes error back unchanged while the forget gate is near 1, but every other path between
two steps crosses a recurrent matrix R_z, R_i, R_f or R_o once per step, as in a vanilla
RNN, and can vanish or explode; and the bigger the net, the more probable an explosion.
The study measures that answer and three mechanisms behind it, each with its own sweep or
measurement, theory line, figure panel and claim:

1. **R-path products, size or radius.** U[-0.08, 0.08] makes rho(R) grow like
   0.08 sqrt(H/3), so "bigger" and "larger radius" are confounded. Sweeps ``size`` (the
   fixed-scale draw), ``fixed_radius_fan_in`` (N(0, s^2/H): the uniform draw's spectrum at
   the smallest and the largest size, at every size) and ``fixed_radius_orthogonal``; the
   measurement ``growth`` (random draws, no training): the share whose product of step
   Jacobians grows, against H at each draw; and the dominant path's growth per step of lag
   against rho(R_g) and sigma_max(R_g), at initialisation and trained.
2. **The curse of memory** (Zucchet & Orvieto 2024): as the carousel's memory f -> 1 the
   parameters' sensitivity through it explodes even where the error passed back does not.
   Measured on untrained nets (``curse``): the linear recurrence against its closed form,
   plain and LRU-normalised; the LSTM's CEC-only gradient, the CIFG's (i = 1 - f) and the
   GRU's against 1 - (memory gate), forget biases 0-7; trained: sweep ``forget_bias``.
3. **The learning rule.** The 1997 truncated gradient never crosses an R_g hop: sweep
   ``truncated`` trains the same LSTM with it and with full BPTT, forget bias 1 and 3,
   unclipped and clipped at 5.

Plus the accepted answer's own sweeps (``clip``: norm 5 or 1; ``radius``: orthogonal
matrices scaled to rho, every model) and a **success axis** (``success_sgd``,
``success_adam``): a task, budget and learning rates at which some seeds solve, so that
exploding and failing can be compared seed by seed, and clipping's cost in steps.

Protocol of the explosion sweeps (Sutskever et al. 2014's optimisation on a long-dependency
task): the adding problem in Pascanu et al.'s variant at T=100 (``cpu``; 200 at ``paper``),
plain SGD at learning rate 0.7, every weight drawn from U[-0.08, 0.08] unless the sweep
says otherwise, no early stop (event rates are per trained step). Exploding event: a global
gradient norm above 10x the median of the preceding 100 steps, or a non-finite one.

The house: this file holds the question and the grids per scale;
:mod:`~benchmarks.studies.explode_runs` reads each run and slices them;
:mod:`~benchmarks.studies.explode_claims` holds the claims on the trained runs and writes
``answer.md``; :mod:`~benchmarks.studies.explode_measures` holds the measurements' sizes
per scale and their claims (the JAX work: :mod:`benchmarks.core.untrained`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.analysis.figures import study_why_lstm_explodes
from benchmarks.studies import explode_measures
from benchmarks.studies.base import Grid, Study
from benchmarks.studies.explode_claims import answer, claims
from benchmarks.studies.explode_runs import analyse, largest

MODELS = "lstm,lstm_nofg,rnn,gru"
UNIFORM = tuple(
    f"model.init.{w}={v}"
    for w, v in (("input", "uniform"), ("input_scale", 0.08), ("readout", "uniform"), ("readout_scale", 0.08))
)
UNIFORM_R = ("model.init.recurrent=uniform", "model.init.recurrent_scale=0.08")


def _protocol(length: int, steps: int, seeds: int, batch: int, every: int) -> tuple[str, ...]:
    return (
        "task=adding",
        "task.variant=pascanu2013",
        f"task.length={length}",
        "optim=sgd",
        "optim.lr=0.7",
        "optim.clip=none",
        f"seeds={seeds}",
        f"train.steps={steps}",
        f"train.batch_size={batch}",
        f"train.eval_every={min(100, steps)}",
        "train.eval_size=1000",
        "train.stop_when_solved=false",
        "logger=none",
        "diagnostics=full",
        f"diagnostics.every={every}",
        "diagnostics.batch_size=16",
        "diagnostics.jacobian_sequences=1",
        "diagnostics.lyapunov_k=4",
        *UNIFORM,
    )


def _grids(base: tuple[str, ...], **f: Any) -> tuple[Grid, ...]:
    """The grids over the factor values ``f`` (comma lists, as Hydra takes them): the
    accepted answer's, then the mechanisms'."""
    return (*_accepted(base, **f), *_mechanisms(base, **f))


def _accepted(base: tuple[str, ...], **f: Any) -> tuple[Grid, ...]:
    """Size (fixed-scale draw), clipping, radius (orthogonal) and forget bias."""
    return (
        Grid("size", (*base, f"model={f['models']}", f"model.hidden={f['sizes']}", *UNIFORM_R)),
        Grid(
            "clip",
            (
                *base,
                f"model={f['clip_models']}",
                f"model.hidden={f['clip_sizes']}",
                "optim.clip=global_norm",
                f"optim.clip_value={f['clips']}",
                *UNIFORM_R,
            ),
        ),
        Grid(
            "radius",
            (
                *base,
                f"model={f['radius_models']}",
                f"model.hidden={f['radius_size']}",
                "model.init.recurrent=orthogonal",
                f"model.init.recurrent_scale={f['radii']}",
            ),
        ),
        Grid(
            "forget_bias",
            (
                *base,
                "model=lstm",
                f"model.hidden={f['fb_size']}",
                f"model.forget_bias={f['biases']}",
                *UNIFORM_R,
            ),
        ),
    )


def _mechanisms(base: tuple[str, ...], **f: Any) -> tuple[Grid, ...]:
    """Size at a fixed radius, the truncated rule against full BPTT, the success axis."""
    lstm = (*base, "model=lstm")
    clip_or_not = ("optim.clip=none,global_norm", "optim.clip_value=5")
    return (
        # the same sizes at a radius held fixed: a fan-in draw N(0, s^2/H) (the uniform draw's
        # spectrum at the smallest and the largest size, at every size) and an orthogonal one
        *(
            Grid(
                f"fixed_radius_{init}",
                (
                    *lstm,
                    f"model.hidden={f['sizes']}",
                    f"model.init.recurrent={init}",
                    f"model.init.recurrent_scale={f[init]}",
                ),
            )
            for init in ("fan_in", "orthogonal")
        ),
        # the 1997 truncated rule against full BPTT, unclipped and clipped at Sutskever's 5, at
        # the size sweep's largest H (where full BPTT explodes at forget bias 1)
        Grid(
            "truncated",
            (
                *lstm,
                f"model.hidden={f['trunc_size']}",
                "train.gradient=full,truncated",
                f"model.forget_bias={f['trunc_biases']}",
                f"optim.clip={f['trunc_clips']}",
                "optim.clip_value=5",
                *UNIFORM_R,
            ),
        ),
        # a task, budget and learning rates at which some seeds solve: the success axis
        Grid("success_sgd", (*lstm, *f["success"], "optim=sgd", "optim.lr=0.7", *clip_or_not, *UNIFORM_R)),
        Grid(
            "success_adam",
            (*lstm, *f["success"], "optim=adam", f"optim.lr={f['adam_lrs']}", *clip_or_not, *UNIFORM_R),
        ),
    )


def _success(length: int, steps: int, seeds: int, hidden: int) -> tuple[str, ...]:
    """The success axis's protocol: the adding problem in Arjovsky et al.'s variant (solved:
    an evaluation MSE below 1/12, half the constant baseline's), where the LSTM learns within
    a CPU budget; the Pascanu variant above is not learnt in 3,000 steps at T=20 or more
    (measured: SGD at 0.7 or Adam at 0.01 stay at the constant baseline)."""
    return (
        "task.variant=arjovsky2016",
        f"task.length={length}",
        f"train.steps={steps}",
        f"seeds={seeds}",
        f"model.hidden={hidden}",
        "diagnostics=basic",
        f"train.eval_every={min(100, steps)}",
    )


SCALES = {
    "smoke": _grids(
        _protocol(20, 20, 2, 8, 20),
        models="lstm,lstm_nofg",
        sizes="8,16",
        fan_in="0.74",
        orthogonal="0.74",
        clip_models="lstm",
        clip_sizes="16",
        clips="5",
        radius_models="lstm",
        radius_size="8",
        radii="0.5,1.5",
        fb_size="16",
        biases="3",
        trunc_size="16",
        trunc_biases="1,3",
        trunc_clips="none",
        adam_lrs="0.01",
        success=_success(10, 20, 2, 8),
    ),
    "cpu": _grids(
        _protocol(100, 300, 4, 20, 300),
        models=MODELS,
        sizes="32,64,128,256",
        fan_in="0.26,0.74",
        orthogonal="0.74",
        clip_models="lstm,rnn",
        clip_sizes="64,256",
        clips="5,1",
        radius_models=MODELS,
        radius_size="64",
        radii="0.5,1.0,1.5,2.0",
        fb_size="128",
        biases="0,3,5",
        trunc_size="256",
        trunc_biases="1,3",
        trunc_clips="none,global_norm",
        adam_lrs="0.01,0.03",
        success=_success(50, 2000, 8, 64),
    ),
    "paper": _grids(
        _protocol(200, 5000, 10, 128, 1000),
        models=MODELS,
        sizes="32,64,128,256,512",
        fan_in="0.26,1.04",
        orthogonal="1.04",
        clip_models="lstm,rnn",
        clip_sizes="64,512",
        clips="5,1",
        radius_models=MODELS,
        radius_size="64",
        radii="0.5,0.8,1.0,1.2,1.5,2.0",
        fb_size="256",
        biases="0,3,5,7",
        trunc_size="512",
        trunc_biases="1,3",
        trunc_clips="none,global_norm",
        adam_lrs="0.01,0.03",
        success=_success(100, 20000, 20, 128),
    ),
}
# The paper scale's cheapest row (:attr:`Study.unfit`, measured by --costs for the faithful
# scale, not defined yet): the smallest net of the size sweep, the tanh RNN at hidden 32.
CHEAPEST = (
    Grid(
        "size_rnn_32",
        tuple(
            "model=rnn"
            if o.startswith("model=")
            else "model.hidden=32"
            if o.startswith("model.hidden=")
            else o
            for o in SCALES["paper"][0].overrides
        ),
    ),
)
SCALE_NOTES = {
    "smoke": "T=20, 20 steps, 2 seeds, hidden 8-16, 3 random draws: checks the pipeline, too small to tell",
    "faithful": (
        "Sutskever et al.'s protocol on every row (the paper scale: 85 jobs, 6.35 M model-steps at "
        "T=200, batch 128) takes at least 6.5 h on 2 cores at the cheapest job's rate (the tanh RNN at "
        "hidden 32, 3.1 min: --costs why_lstm_explodes --scale faithful), and a mechanism needs all of "
        "its sweep's sizes or rules to be compared, so no subset answers the question; --scale paper on "
        "a GPU does"
    ),
    "cpu": (
        "T=100, 300 steps, 4 seeds, batch 20, hidden 32-256; the success axis at T=50, 2,000 steps, 8 "
        "seeds; 20 random draws per size up to hidden 512: about 45 minutes on 2 CPU cores"
    ),
    "paper": "T=200, 5,000 steps, 10 seeds, batch 128 (Sutskever et al.), hidden 32-512: a GPU or a cluster",
}


def figure(result: dict[str, Any], out: Path) -> list[Path]:
    """The accepted answer's six panels, then the mechanisms' eight."""
    return [
        *study_why_lstm_explodes.figure(result, out, largest=largest),
        study_why_lstm_explodes.mechanisms(result, out, writers=explode_measures.WRITERS),
    ]


STUDY = Study(
    name="why_lstm_explodes",
    title="Why do LSTMs still explode?",
    source=(
        "Sutskever et al. 2014 (clipping at 5); Greff et al. 2015 App. A.2 (paths); Pascanu et al. 2013; "
        "Hochreiter & Schmidhuber 1997 (truncated rule); Zucchet & Orvieto 2024 (curse of memory)"
    ),
    scales=SCALES,
    scale_notes=SCALE_NOTES,
    unfit={"faithful": CHEAPEST},
    measure=explode_measures.measure,
    analyse=analyse,
    claims=claims,
    figure=figure,
    paragraph=answer,
)
