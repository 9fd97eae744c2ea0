"""The registry of studies: each a published result (or the suite's own question) that
``scripts/reproduce.py NAME --scale smoke|cpu|paper`` runs, collects, compares and draws."""

from __future__ import annotations

from benchmarks.studies import greff2015, le2015, why_lstm_explodes
from benchmarks.studies.base import SCALES, Claim, RunRecord, Study, Sweep, load_runs, reproduce

STUDIES: dict[str, Study] = {s.name: s for s in (greff2015.STUDY, le2015.STUDY, why_lstm_explodes.STUDY)}


def get_study(name: str) -> Study:
    """The study ``name``; a one-line ValueError naming the valid ones otherwise."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; valid: {', '.join(sorted(STUDIES))}")
    return STUDIES[name]


__all__ = ["SCALES", "STUDIES", "Claim", "RunRecord", "Study", "Sweep", "get_study", "load_runs", "reproduce"]
