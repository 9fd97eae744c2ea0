"""The offline HTML report (scripts/report.py, benchmarks/analysis/html_report.py) in a real headless browser.

The two figure runs (tests/conftest.py: an LSTM trained 200 steps and an RNN at
initialisation, adding T=20, 2 seeds each) are copied into a study root with a
reproduction.json, an answer.md and a figure of its own, and reported. Debian's chromium
(installed by ``make browser``, which ``make test`` runs first) loads the file from disk
through its chromedriver (selenium): no console errors, every image decoded and not
blank, the success-rate cells equal to the rates computed here from each summary.json,
the study's claim in its table; a screenshot stays in the test's tmp_path. Without
chromium the browser test is skipped, except in CI (CI=true), where it fails.
"""

import html
import json
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import binomtest

from benchmarks.analysis import html_report
from scripts.report import main

CLAIM = {
    "claim": "LSTM solves adding T=20",
    "paper": "100%",
    "ours": "see table",
    "verdict": "agrees",
    "reason": "r",
}
# Every image must have loaded, decoded, and not be one flat colour: drawn onto a canvas,
# its pixels' luminance must vary (a blank or broken figure has spread 0).
IMAGES_JS = """
return Array.from(document.images).map(im => {
  const c = document.createElement('canvas');
  c.width = im.naturalWidth; c.height = im.naturalHeight;
  const g = c.getContext('2d');
  let spread = 0;
  if (im.complete && im.naturalWidth > 0) {
    g.drawImage(im, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4 * 97) {
      const y = (d[i] + d[i + 1] + d[i + 2]) / 3; lo = Math.min(lo, y); hi = Math.max(hi, y);
    }
    spread = hi - lo;
  }
  return {alt: im.alt, complete: im.complete, width: im.naturalWidth, spread: spread};
});
"""
RATES_JS = """
return Array.from(document.querySelectorAll('#success-rates tbody tr')).map(tr => ({
  model: tr.cells[0].textContent,
  rate: parseFloat(tr.querySelector('td.success_rate').dataset.value),
  shown: tr.querySelector('td.success_rate').textContent,
  low: parseFloat(tr.querySelector('td.ci95').dataset.low),
  high: parseFloat(tr.querySelector('td.ci95').dataset.high),
}));
"""


@pytest.fixture(scope="module")
def study(figure_runs, tmp_path_factory) -> Path:
    """A study root around copies of the two figure runs."""
    root = tmp_path_factory.mktemp("study") / "demo" / "cpu"
    for name, run in figure_runs.items():
        shutil.copytree(run, root / "adding" / name, ignore=shutil.ignore_patterns("figures"))
    # one comparable group with a rate other than 0 or 1: the RNN's config as if trained 200
    # steps too, and the LSTM's seed 0 marked solved at step 100
    config = yaml.safe_load((root / "adding" / "rnn" / "config.yaml").read_text())
    config["train"]["steps"] = 200
    (root / "adding" / "rnn" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    summary = json.loads((root / "adding" / "lstm" / "summary.json").read_text())
    summary["seeds"][0].update(solved=True, steps_to_solve=100)
    (root / "adding" / "lstm" / "summary.json").write_text(json.dumps(summary))
    (root / "reproduction.json").write_text(
        json.dumps({"study": "demo", "title": "A demo study", "claims": [CLAIM]})
    )
    (root / "answer.md").write_text("# Answer\n\nThe **LSTM** keeps `dL/dc_t`.\n\n- one\n- two\n")
    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1, 2], [2, 0, 1])
    (root / "figures").mkdir()
    fig.savefig(root / "figures" / "study_panel.png")
    return root


def _expected(study: Path) -> dict[str, tuple[float, float, float]]:
    """Per model: the success rate and 95% Wilson interval from its summary.json's seeds."""
    out = {}
    for model in ("lstm", "rnn"):
        seeds = json.loads((study / "adding" / model / "summary.json").read_text())["seeds"]
        k, n = sum(s["solved"] for s in seeds), len(seeds)
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        out[model] = (k / n, ci.low, ci.high)
    return out


@pytest.fixture(scope="module")
def page(study) -> tuple[Path, list[str], float]:
    """The study's report, its progress lines and the seconds it took."""
    lines: list[str] = []
    start = time.perf_counter()
    out = html_report.write(study, study / "report.html", echo=lines.append)
    return out, lines, time.perf_counter() - start


@pytest.mark.slow
def test_the_file_is_self_contained_and_logs_each_figure(page):
    out, lines, seconds = page
    text = out.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    srcs = text.count("<img ")
    assert srcs == text.count('src="data:image/png;base64,') > 10
    total = int(lines[0].split("/")[1].split("]")[0])
    assert len(lines) == total and lines[-1].startswith(f"[{total}/{total}] ")
    assert seconds < 30


@pytest.mark.slow
def test_in_chromium_no_errors_every_image_drawn_and_the_numbers_are_the_runs(page, study, tmp_path):
    webdriver = _browser()
    out, _, _ = page
    with webdriver as driver:
        driver.get(out.as_uri())
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
        images = driver.execute_script(IMAGES_JS)
        assert len(images) > 10
        for im in images:
            assert im["complete"] and im["width"] > 0 and im["spread"] > 50, im
        rows = {r["model"]: r for r in driver.execute_script(RATES_JS)}
        expected = _expected(study)
        assert expected["lstm"][0] == 0.5  # the fixture's one solved seed of two
        for model, (rate, low, high) in expected.items():
            assert rows[model]["rate"] == pytest.approx(rate)
            assert rows[model]["shown"] == f"{rate:.0%}"
            assert (rows[model]["low"], rows[model]["high"]) == pytest.approx((low, high))
        claims = driver.execute_script(
            "return Array.from(document.querySelectorAll('#claims td')).map(td => td.textContent)"
        )
        assert claims[:4] == [CLAIM["claim"], CLAIM["paper"], CLAIM["ours"], CLAIM["verdict"]]
        pairs = driver.execute_script(
            "return Array.from(document.querySelectorAll('td')).map(td => td.textContent)"
            ".filter(t => t.endsWith(' vs rnn') || t.endsWith(' vs lstm'))"
        )
        assert pairs == ["lstm vs rnn"]  # the comparison section holds the one pair
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(height, 12000))
        assert driver.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 50_000


def _browser():
    """A headless chromium driven through Debian's chromedriver; skip (fail in CI) without it."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        missing = "chromium" if not chromium else "chromedriver"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} is not installed: CI must run `make browser` before the tests")
        pytest.skip(f"{missing} not installed (make browser installs Debian's chromium and chromium-driver)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_bad_directory_is_one_error_line_and_exit_2(tmp_path, capsys):
    for target, message in (
        (tmp_path / "nope", f"error: no such directory: {tmp_path / 'nope'}"),
        (tmp_path, f"error: no run directories under {tmp_path} (none holds config.yaml or summary.json)"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([str(target)])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "report.html").exists()


def test_markdown_tables_lists_and_inline_marks():
    html = html_report.markdown("### T\n\n| a | n |\n|---|---:|\n| x<y | 3 |\n\n- **b** `c`\n")
    assert "<h4>T</h4>" in html
    assert "<td>x&lt;y</td><td class=num>3</td>" in html
    assert "<li><strong>b</strong> <code>c</code></li>" in html


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_chromium_the_browser_test_skips_but_fails_in_ci(monkeypatch, ci):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="chromium"):
        _browser()


@pytest.mark.slow
@pytest.mark.parametrize("run_figures", [False, True], ids=["no-run-figures", "run-figures"])
def test_a_run_with_a_corrupt_metrics_part_is_left_out_with_a_warning_the_others_drawn(
    figure_runs, tmp_path, capsys, monkeypatch, run_figures
):
    """The LSTM's last metrics.parquet part overwritten in a copy of the two figure runs:
    the sweep figures are drawn from the RNN alone, the RNN's own figures (learning curves
    only, to be quick) too, and each thing left out is one ``warning:`` line on stderr
    naming the run and the part, and a note in the page."""
    root = tmp_path / "sweep"
    for name, run in figure_runs.items():
        shutil.copytree(run, root / name, ignore=shutil.ignore_patterns("figures"))
    metrics = root / "lstm" / "metrics.parquet"
    part = sorted(metrics.glob("part-*.parquet"))[-1]
    part.write_bytes(b"not parquet")
    with pytest.raises(ValueError) as e:
        pd.read_parquet(metrics)
    reason = f"cannot read {metrics}: {' '.join(str(e.value).split())}"
    assert f"'{part}'" in reason
    monkeypatch.setattr(html_report, "RUN_SECTIONS", {"learning_curves.png": "Learning curves"})

    main([str(root), *([] if run_figures else ["--no-run-figures"])])
    out, err = capsys.readouterr()
    left_out = [f"sweep figures without run lstm: {reason}"]
    left_out += [f"no figures of run lstm: {reason}"] if run_figures else []
    assert err.splitlines() == [f"warning: {line}" for line in left_out]
    n = 4 if run_figures else 3
    assert [line.split(" (")[0] for line in out.splitlines()] == [
        f"[1/{n}] success_rate.png",
        f"[2/{n}] steps_to_solve.png skipped",
        f"[3/{n}] grad_at_lags.png",
        *(["[4/4] rnn: learning_curves.png"] if run_figures else []),
        f"report: {root / 'report.html'}",
    ]
    text = (root / "report.html").read_text()
    drawn = ["success_rate.png", "grad_at_lags.png", *(["rnn: learning_curves.png"] if run_figures else [])]
    assert re.findall(r'<img alt="([^"]*)"', text) == drawn
    assert all(f'<p class="note">{html.escape(line)}</p>' in text for line in left_out)
