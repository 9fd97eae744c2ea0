"""A study's section of the HTML report reads top to bottom as a reader asks: the question
and its answer, the evidence (the figures), then every claim with its verdict."""

import json

from benchmarks.analysis.html_report import study_section


def test_the_study_section_puts_the_answer_before_the_figures_before_the_claims(tmp_path):
    claim = {"claim": "C1", "source": "S", "paper": "P", "ours": "O", "verdict": "agrees", "reason": "R"}
    (tmp_path / "reproduction.json").write_text(json.dumps({"title": "T", "scale": "cpu", "claims": [claim]}))
    (tmp_path / "answer.md").write_text("**Question.** Why?\n\n### 1. First mechanism\n\nBecause.\n")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "panel.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    html = study_section(tmp_path)
    order = [html.index(s) for s in ("<h2>Study: T</h2>", "Why?", "First mechanism", "panel", 'id="claims"')]
    assert order == sorted(order)
    assert "<td>C1</td>" in html[html.index('id="claims"') :]
    assert study_section(tmp_path / "nothing") == ""
