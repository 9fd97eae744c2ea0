"""The study figures' canvas and how they are saved (each study's own figure is drawn by
its tests in tests/benchmarks/studies)."""

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas


def test_a_study_figure_is_saved_as_png_pdf_and_svg(tmp_path):
    fig, axes = canvas(1)
    axes[0][0].plot([0, 1], [1, 0])
    png = save(fig, tmp_path / "figures", "panel")[0]
    assert png == tmp_path / "figures" / "panel.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in png.with_suffix(".svg").read_bytes()[:2000]
