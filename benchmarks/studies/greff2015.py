"""Greff et al. 2015 ("LSTM: A Search Space Odyssey"): the eight LSTM variants against the
vanilla LSTM, on two long-dependency tasks.

Their data sets (TIMIT, IAM Online, JSB Chorales) are not available offline, so this study
is a *comparison*, not a reproduction: it asks whether the order they found holds on the
adding and temporal-order problems (Pascanu et al. 2013's variants). Their finding, as we
read Sec. 5.1 and Fig. 3 (test error of 200 random-search trials per variant and data set,
Welch's t-test against V): removing the forget gate (NFG) or the output activation (NOAF)
hurts most, on all three data sets; coupling the input and forget gates (CIFG) and
dropping the peepholes (NP) cost little (not significantly different from V).

Greff's names and this suite's presets (``models/__init__.py``): V = ``lstm_peephole``
(the vanilla LSTM has peepholes); NP = ``lstm``; NFG = ``lstm_nofg`` with
``model.peepholes=true``; NIG, NOG, NIAF, NOAF, CIFG, FGR = ``lstm_nig``, ``lstm_nog``,
``lstm_niaf``, ``lstm_noaf``, ``lstm_cifg``, ``lstm_fgr`` (all with peepholes).

Statistics per task: each variant's success rate (95% Wilson interval) against V's with
Fisher's exact test for two proportions, and its final evaluation losses against V's with
the Mann-Whitney U test (the finer signal when success rates tie); both two-sided and
Holm-corrected across the eight variants. A difference with a corrected p above 0.05 is
"not distinguishable at these seeds". Every seed trains the full budget
(``stop_when_solved=false``), so final losses compare equal training. A caveat on the
loss: once every sequence is classified right, cross-entropy keeps falling as the logits
grow, and a variant without the output squashing (NOAF) can grow them further, so a
lower temporal-order loss there says less about memory than a higher success rate would.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import study_greff2015
from benchmarks.stats import fisher_p, holm, mannwhitney_p, quartiles
from benchmarks.studies import common
from benchmarks.studies.base import Claim, Grid, RunRecord, Study

ALPHA = 0.05
VANILLA = "V"
# Greff's name -> (preset, peepholes), V first, then in the order Greff et al. list them.
VARIANTS: dict[str, tuple[str, bool]] = {
    "V": ("lstm_peephole", True),
    "NIG": ("lstm_nig", True),
    "NFG": ("lstm_nofg", True),
    "NOG": ("lstm_nog", True),
    "NIAF": ("lstm_niaf", True),
    "NOAF": ("lstm_noaf", True),
    "NP": ("lstm", False),
    "CIFG": ("lstm_cifg", True),
    "FGR": ("lstm_fgr", True),
}
ORDER = list(VARIANTS)
# What Greff et al. found per variant against V (our reading of Sec. 5.1 / Fig. 3), for the
# claims this study tests; the others are drawn without a published mark.
PAPER = {"NFG": "worse", "NOAF": "worse", "CIFG": "no worse", "NP": "no worse"}
PUBLISHED = {
    "worse": "significantly worse than V on all three data sets",
    "no worse": "not significantly different from V",
}
TASKS = "adding,temporal_order"


def variant_name(preset: str, peepholes: bool) -> str:
    """Greff's name for a preset and its peephole flag; a combination they did not name
    reads ``<preset>+peepholes`` or ``<preset>-peepholes``."""
    for name, (p, peep) in VARIANTS.items():
        if (p, peep) == (preset, bool(peepholes)):
            return name
    return f"{preset}{'+' if peepholes else '-'}peepholes"


def _protocol(
    length: int, steps: int, seeds: int, hidden: int, eval_size: int, lr: float, tasks: str = TASKS
) -> tuple[str, ...]:
    return (
        f"task={tasks}",
        "task.variant=pascanu2013",
        f"task.length={length}",
        f"model.hidden={hidden}",
        "optim=adam",
        f"optim.lr={lr}",
        "optim.clip=global_norm",
        "optim.clip_value=1.0",
        f"seeds={seeds}",
        f"train.steps={steps}",
        "train.batch_size=20",
        f"train.eval_every={max(steps // 10, 10)}",
        f"train.eval_size={eval_size}",
        "train.stop_when_solved=false",
        "train.strategy=vmap",
        "diagnostics=none",
        "logger=none",
    )


def _grids(base: tuple[str, ...], peephole_models: str) -> tuple[Grid, ...]:
    """The variants with peepholes in one multirun, NP (no peepholes) in another."""
    return (
        Grid("peepholes", (*base, f"model={peephole_models}", "model.peepholes=true")),
        Grid("np", (*base, "model=lstm", "model.peepholes=false")),
    )


_ALL = ",".join(p for name, (p, peep) in VARIANTS.items() if peep)
SCALES: dict[str, tuple[Grid, ...]] = {
    "smoke": _grids(_protocol(10, 20, 2, 8, 100, 0.003, "adding"), "lstm_peephole,lstm_nofg")[:1],
    "cpu": _grids(_protocol(40, 700, 8, 32, 1000, 0.003), _ALL),
    "paper": _grids(_protocol(200, 20000, 30, 128, 10000, 0.001), _ALL),
}
SCALE_NOTES = {
    "smoke": "adding T=10, 20 steps, 2 seeds, hidden 8, V and NFG only (one sweep): checks the pipeline",
    "cpu": (
        "a comparison, not a reproduction (TIMIT, IAM Online, JSB Chorales are not available offline): "
        "adding and temporal order (pascanu2013) at T=40, hidden 32, Adam lr 0.003, batch 20, clip 1, "
        "700 steps, 8 seeds per variant and task, eval on 1,000 sequences (18 jobs, 100,800 "
        "seed-steps, about 6 minutes on 2 cores). Greff et al. ran 200 random-search trials per "
        "variant and data set (SGD with momentum; 5,400 runs) and compared test errors; we fix one "
        "setting for all variants and compare success rates and final losses over seeds"
    ),
    "faithful": (
        "Greff et al.'s protocol is a random search of 200 trials per variant on TIMIT, IAM "
        "Online and JSB Chorales, data sets the suite does not ship and cannot download; the cpu and "
        "paper scales compare the variants on the suite's synthetic tasks instead"
    ),
    "paper": (
        "T=200, hidden 128, Adam lr 0.001, batch 20, 20,000 steps, 30 seeds, eval on 10,000 "
        "sequences: 18 jobs, 10.8M seed-steps (216M training sequences of length 200); still one "
        "fixed setting, not Greff et al.'s random search, and not their data sets"
    ),
}


# ---------------------------------------------------------------------------- the study


def task_key(record: RunRecord) -> str:
    return f"{record.get('task.name')} T={record.get('task.length')}"


def _rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    """Seeds pooled per task and variant."""
    rows = []
    for task in sorted({task_key(r) for r in records}):
        for r in common.pooled(
            [x for x in records if task_key(x) == task], ["model.name", "model.peepholes"]
        ):
            r.update(
                task=task,
                variant=variant_name(r["name"], r["peepholes"]),
                loss_q=quartiles(r["final_eval_loss"]),
            )
            rows.append(r)
    return sorted(rows, key=lambda r: (r["task"], _order(r["variant"])))


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """For one task: every variant against V (rate difference, Fisher and Mann-Whitney p,
    both Holm-corrected across the variants), and the variants ranked best first by
    success rate, then by median final loss."""
    by = {r["variant"]: r for r in rows}
    base = by.get(VANILLA)
    others = [v for v in sorted(by, key=_order) if v != VANILLA]
    out: dict[str, Any] = {"vanilla": base is not None, "variants": {}}
    if base is not None and others:
        fisher = [fisher_p(by[v]["solved"], by[v]["seeds"], base["solved"], base["seeds"]) for v in others]
        mw = [mannwhitney_p(by[v]["final_eval_loss"], base["final_eval_loss"]) for v in others]
        for v, pf, pf_holm, pm, pm_holm in zip(others, fisher, holm(fisher), mw, holm(mw), strict=True):
            out["variants"][v] = {
                "rate_diff": by[v]["rate"] - base["rate"],
                "loss_ratio": by[v]["loss_q"][0] / base["loss_q"][0] if base["loss_q"][0] else math.nan,
                "fisher_p": pf,
                "fisher_holm": pf_holm,
                "mannwhitney_p": pm,
                "mannwhitney_holm": pm_holm,
                "effect": effect(by[v], base, pf_holm, pm_holm),
            }
    ranked = sorted(by, key=lambda v: (-by[v]["rate"], _nan_last(by[v]["loss_q"][0])))
    out["ranking"] = ranked
    return out


def _order(v: str) -> int:
    return ORDER.index(v) if v in ORDER else len(ORDER)


def _nan_last(x: float) -> float:
    return x if np.isfinite(x) else math.inf


def effect(row: dict[str, Any], base: dict[str, Any], fisher_holm: float, mw_holm: float) -> str:
    """``worse`` / ``better`` than V by success rate (Holm p < ALPHA), else by final loss
    (Holm p < ALPHA, medians compared), else ``not distinguishable``."""
    if fisher_holm < ALPHA:
        return "worse" if row["rate"] < base["rate"] else "better"
    if mw_holm < ALPHA:
        return "worse" if _nan_last(row["loss_q"][0]) > _nan_last(base["loss_q"][0]) else "better"
    return "not distinguishable"


def analyse(records: list[RunRecord]) -> dict[str, Any]:
    """Pooled rows per task and variant, and each task's comparison with V."""
    rows = _rows(records)
    tasks = sorted({r["task"] for r in rows})
    return {
        "rows": rows,
        "tasks": tasks,
        "compare": {t: compare([r for r in rows if r["task"] == t]) for t in tasks},
    }


# ---------------------------------------------------------------------------- claims


def _fmt_p(p: float) -> str:
    return f"{p:.2g}"


def _ours(result: dict[str, Any], variant: str) -> str:
    parts = []
    for task in result["tasks"]:
        by = {r["variant"]: r for r in result["rows"] if r["task"] == task}
        c = result["compare"][task]["variants"].get(variant)
        if variant not in by or VANILLA not in by or c is None:
            parts.append(f"{task}: not run")
            continue
        v, b = by[variant], by[VANILLA]
        parts.append(
            f"{task}: {common.fmt_rate(v)} vs V {common.fmt_rate(b)} "
            f"(Fisher Holm p={_fmt_p(c['fisher_holm'])}), "
            f"median final loss {v['loss_q'][0]:.3g} vs {b['loss_q'][0]:.3g} "
            f"(Mann-Whitney Holm p={_fmt_p(c['mannwhitney_holm'])}): {c['effect']}"
        )
    return "; ".join(parts)


def task_verdict(expected: str, effect: str, seeds: int) -> str:
    """One task's verdict on a published effect (``worse`` or ``no worse`` than V)."""
    if seeds < common.MIN_SEEDS:
        return "not comparable"
    if expected == "worse":
        return {"worse": "agrees", "better": "disagrees"}.get(effect, "not comparable")
    return "disagrees" if effect == "worse" else "agrees"


def combine(verdicts: dict[str, str]) -> tuple[str, str]:
    """Verdicts over tasks: any disagreement disagrees, else any agreement agrees."""
    listed = ", ".join(f"{t}: {v}" for t, v in verdicts.items())
    if "disagrees" in verdicts.values():
        return "disagrees", listed
    if "agrees" in verdicts.values():
        return "agrees", listed
    return "not comparable", listed


def _task_note(result: dict[str, Any], task: str, variant: str) -> tuple[str, str]:
    """One task's verdict on ``variant``'s published effect, with why."""
    c = result["compare"][task]["variants"].get(variant)
    if c is None:
        return "not comparable", f"{task}: {variant} or V not run"
    seeds = min(
        r["seeds"] for r in result["rows"] if r["task"] == task and r["variant"] in (variant, VANILLA)
    )
    verdict = task_verdict(PAPER[variant], c["effect"], seeds)
    if seeds < common.MIN_SEEDS:
        return verdict, f"{task}: {seeds} seeds, too few"
    if c["effect"] == "not distinguishable":
        return verdict, f"{task}: {verdict}, not distinguishable from V at these seeds (Holm p > {ALPHA})"
    return verdict, f"{task}: {verdict}, significantly {c['effect']} than V"


def _variant_claim(result: dict[str, Any], variant: str, small: bool) -> Claim:
    expected = PAPER[variant]
    notes = {t: _task_note(result, t, variant) for t in result["tasks"]}
    verdict, _ = combine({t: "not comparable" if small else v for t, (v, _) in notes.items()})
    why = "smoke scale: too few seeds and steps" if small else "; ".join(n for _, n in notes.values())
    if expected == "no worse" and verdict == "agrees":
        why += " ('no worse' read as not significantly worse: weak evidence at few seeds)"
    return Claim(
        f"{variant} is {expected} than the vanilla LSTM (V)",
        "Greff et al. 2015, Sec. 5.1 / Fig. 3: test error per variant on TIMIT, IAM Online, JSB "
        "(Welch t-test vs V); compared here on adding and temporal order, not their data sets",
        f"{variant} {PUBLISHED[expected]}",
        _ours(result, variant),
        verdict,
        why,
    )


def order_verdict(comparison: dict[str, Any]) -> str:
    """Does 'NFG and NOAF hurt most' hold on one task? ``agrees`` when both are
    significantly worse than V and are the two lowest ranked; ``disagrees`` when either is
    significantly better than V, or another variant is significantly worse while one of
    them is not; else ``not comparable`` (not distinguishable at these seeds)."""
    effects = {v: c["effect"] for v, c in comparison["variants"].items()}
    if not {"NFG", "NOAF"} <= set(effects):
        return "not comparable"
    worst = set(comparison["ranking"][-2:])
    if effects["NFG"] == effects["NOAF"] == "worse" and worst == {"NFG", "NOAF"}:
        return "agrees"
    if "better" in (effects["NFG"], effects["NOAF"]):
        return "disagrees"
    others_worse = any(e == "worse" for v, e in effects.items() if v not in ("NFG", "NOAF"))
    if others_worse and "worse" not in (effects["NFG"], effects["NOAF"]):
        return "disagrees"
    return "not comparable"


def _order_claim(result: dict[str, Any], small: bool) -> Claim:
    per_task = {
        t: "not comparable" if small else order_verdict(result["compare"][t]) for t in result["tasks"]
    }
    verdict, listed = combine(per_task)
    ranks = "; ".join(f"{t}: {' > '.join(result['compare'][t]['ranking'])}" for t in result["tasks"])
    return Claim(
        "NFG and NOAF hurt most of the eight variants",
        "Greff et al. 2015, Sec. 5.1 / Fig. 3 (their data sets; here adding and temporal order)",
        "NFG and NOAF the two worst variants on every data set",
        f"ranked best first by success rate, then median final loss: {ranks}",
        verdict,
        "smoke scale: too few seeds and steps"
        if small
        else f"{listed} (agrees needs both significantly worse than V and ranked last)",
    )


def claims(result: dict[str, Any], scale: str) -> list[Claim]:
    """One claim per published finding tested here, and the order."""
    small = scale == "smoke"
    return [_order_claim(result, small), *(_variant_claim(result, v, small) for v in PAPER)]


def paragraph(result: dict[str, Any]) -> str:
    """The comparison in a few sentences with the measured numbers."""
    if not result["tasks"]:
        return "No run was found."
    text = [
        "A comparison on long-dependency tasks, not a reproduction (Greff et al.'s data sets are not used)."
    ]
    for task in result["tasks"]:
        comp = result["compare"][task]
        by = {r["variant"]: r for r in result["rows"] if r["task"] == task}
        rates = ", ".join(f"{v} {by[v]['solved']}/{by[v]['seeds']}" for v in sorted(by, key=_order))
        worse = [v for v, c in comp["variants"].items() if c["effect"] == "worse"]
        better = [v for v, c in comp["variants"].items() if c["effect"] == "better"]
        text.append(
            f"On {task}, seeds solved: {rates}; ranked best first: {' > '.join(comp['ranking'])}. "
            f"Significantly worse than V (Holm-corrected, success rate or final loss): "
            f"{', '.join(worse) or 'none'}; better: {', '.join(better) or 'none'}."
        )
    return " ".join(text)


# ---------------------------------------------------------------------------- figure


def figure(result: dict[str, Any], out: Path) -> list[Path]:
    return study_greff2015.figure(result, out, order=_order, vanilla=VANILLA, paper=PAPER)


STUDY = Study(
    name="greff2015",
    title="Greff et al. 2015: LSTM variants compared (not their data sets)",
    source="Greff, Srivastava, Koutnik, Steunebrink, Schmidhuber 2015, LSTM: A Search Space Odyssey",
    scales=SCALES,
    scale_notes=SCALE_NOTES,
    unfit={"faithful": ()},  # not the cost: the data
    analyse=analyse,
    claims=claims,
    figure=figure,
    paragraph=paragraph,
)
