"""Shared checks of the figure tests: a figure fit for a paper has no overlapping tick labels (by
their bounding boxes), no legend over its data, unique consecutive panel letters, and writes PNG
and vector files (`vpl_jax.figures.style`)."""

import string

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from vpl_jax.figures import style  # noqa: E402


def check_paper_ready(fig, tmp_path=None, *, letters: bool = True) -> list[str]:
    """Assert the layout properties a test can see; returns the panel letters."""
    assert style.overlapping_tick_labels(fig) == []
    assert style.legend_overlaps(fig) == []
    found = style.panel_letters(fig)
    if letters:
        assert found == list(string.ascii_uppercase[: len(found)]) and found, found
    width, height = fig.get_size_inches()
    assert width <= style.TWO_COLUMNS + 1e-6 and height <= style.MAX_HEIGHT + 1e-6
    if tmp_path is not None:
        paths = style.save(fig, tmp_path / "figure.png", formats=("png", "pdf", "svg"), dpi=60)
        heads = [p.read_bytes()[:8] for p in paths]
        assert heads[0] == b"\x89PNG\r\n\x1a\n" and heads[1].startswith(b"%PDF")
        assert b"<svg" in paths[2].read_bytes()[:2000]
    return found


@pytest.fixture
def paper_ready():
    return check_paper_ready
