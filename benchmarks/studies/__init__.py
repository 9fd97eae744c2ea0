"""The registry of studies: each a published result (or the suite's own question) that
``scripts/reproduce.py NAME --scale smoke|cpu|paper`` runs, collects, compares and draws."""

from __future__ import annotations

from benchmarks.studies import (
    arjovsky2016,
    gers2000,
    gradient_over_time,
    greff2015,
    hochreiter1997,
    le2015,
    pascanu2013,
    why_lstm_explodes,
)
from benchmarks.studies.base import SCALES, Claim, Grid, RunRecord, Study, load_runs, reproduce

# the order of the Reproductions tables (README.md, benchmarks/studies/README.md): the papers
# by year, then the suite's question
STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        hochreiter1997.STUDY,
        gers2000.STUDY,
        pascanu2013.STUDY,
        le2015.STUDY,
        greff2015.STUDY,
        arjovsky2016.STUDY,
        gradient_over_time.STUDY,
        why_lstm_explodes.STUDY,
    )
}


def get_study(name: str) -> Study:
    """The study ``name``; a one-line ValueError naming the valid ones otherwise."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; valid: {', '.join(sorted(STUDIES))}")
    return STUDIES[name]


__all__ = ["SCALES", "STUDIES", "Claim", "RunRecord", "Study", "Grid", "get_study", "load_runs", "reproduce"]
