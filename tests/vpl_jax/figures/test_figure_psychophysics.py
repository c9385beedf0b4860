"""Tests of vpl_jax.figures.psychophysics: panels, legends, log axes, errors."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from theory.checks import InputError
from vpl_jax import psychophysics as ps
from vpl_jax.figures import style
from vpl_jax.figures.psychophysics import psychophysics_figure

SEPS = np.array([0.5, 1.0, 2.0, 5.0, 10.0])
ITS = np.array([0, 10, 100, 1000])


def _data():
    planted = np.array(
        [[8.0, 4.0, 2.0, 1.0], [20.0, 6.0, 3.0, 0.3]]
    )  # (N, E); 20 and 0.3 extrapolate
    acc_t = ps.psychometric_function(SEPS[None, None], planted[..., None], 2.0)
    return planted, acc_t, acc_t[:, -1]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def test_three_panels_with_legends_log_axes_and_the_planted_thresholds():
    planted, acc_t, final = _data()
    ideal = (
        np.geomspace(0.1, 20, 50),
        ps.psychometric_function(np.geomspace(0.1, 20, 50), 0.2, 1.0),
    )
    fig = psychophysics_figure(
        SEPS,
        final,
        1000,
        labels=["0.5 deg net", "10 deg net"],
        ideal=ideal,
        iterations=ITS,
        accuracy_over_training=acc_t,
        ideal_threshold=0.2,
    )
    axes = fig.axes
    assert len(axes) == 3
    assert style.panel_letters(fig) == ["A", "B", "C"]
    for ax in axes:
        assert ax.get_legend() is not None and ax.get_xscale() == "log"
    assert axes[1].get_yscale() == "log" and axes[2].get_yscale() == "log"
    names = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert {"0.5 deg net", "10 deg net", "ideal observer", "weibull fit"} <= set(names)
    assert any("threshold" in n for n in names)
    names_b = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert "outside the tested separations" in names_b and any("ideal" in n for n in names_b)
    # readable ticks: plain numbers on the separation axis
    _png(fig)  # draw, so that tick labels exist
    labels = [t.get_text() for t in axes[0].get_xticklabels() if t.get_text()]
    assert "1" in labels and "10" in labels
    # panel B draws the recovered thresholds: its first line passes through the planted ones
    y = axes[1].get_lines()[0].get_ydata()
    np.testing.assert_allclose(y, planted[0], rtol=1e-2)
    # panel C: efficiency (0.2 / t)^2
    np.testing.assert_allclose(
        axes[2].get_lines()[0].get_ydata(), (0.2 / planted[0]) ** 2, rtol=2e-2
    )
    assert len(_png(fig)) > 1000


def test_one_panel_without_training_data_and_precomputed_thresholds():
    planted, acc_t, final = _data()
    fig = psychophysics_figure(SEPS, final[0], 200, model="log_gaussian")
    assert len(fig.axes) == 1 and style.panel_letters(fig) == ["A"]
    thr = ps.threshold_curves(acc_t, SEPS, 1000, ci="none")
    fig2 = psychophysics_figure(SEPS, final, 1000, iterations=ITS, thresholds=thr)
    assert len(fig2.axes) == 2
    assert len(_png(fig2)) > 1000


def test_chance_data_draw_an_unbounded_interval():
    fig = psychophysics_figure(SEPS, np.full((1, 5), 0.5), 100)
    ax = fig.axes[0]
    markers = [line.get_marker() for line in ax.get_lines()]
    assert ">" in markers  # the interval runs off the right edge


def test_errors():
    _, acc_t, final = _data()
    with pytest.raises(InputError, match="accuracy must have shape"):
        psychophysics_figure(SEPS, final[:, :3], 100)
    with pytest.raises(InputError, match="labels must hold 2"):
        psychophysics_figure(SEPS, final, 100, labels=["a"])
    with pytest.raises(InputError, match="iterations must be given"):
        psychophysics_figure(SEPS, final, 100, accuracy_over_training=acc_t)
    with pytest.raises(InputError, match="accuracy_over_training must have shape"):
        psychophysics_figure(SEPS, final, 100, iterations=ITS[:2], accuracy_over_training=acc_t)
    with pytest.raises(InputError, match="ideal_threshold"):
        psychophysics_figure(
            SEPS, final, 100, iterations=ITS, accuracy_over_training=acc_t, ideal_threshold=-1.0
        )
    with pytest.raises(InputError, match="model must be one of"):
        psychophysics_figure(SEPS, final, 100, model="probit")
    with pytest.raises(InputError, match="separations must be"):
        psychophysics_figure([1.0], final[:, :1], 100)


def test_psychophysics_figure_is_fit_for_a_paper(tmp_path, paper_ready):
    planted, acc_t, final = _data()
    fig = psychophysics_figure(SEPS, final, 1000, labels=["0.5 deg net", "10 deg net"],
                               iterations=ITS, accuracy_over_training=acc_t,
                               ideal_threshold=0.2)  # fmt: skip
    assert paper_ready(fig, tmp_path) == ["A", "B", "C"]
