"""Tests for vpl_jax.codes.figures: every figure builds from synthetic results, with panel
letters, legends and no-data notes."""

import numpy as np
from matplotlib.figure import Figure

from vpl_jax.codes import figures, hue, label_noise, orientation


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _has_legend_for_every_axis_with_lines(fig):
    for ax in fig.axes:
        if ax.lines and ax.get_legend() is None:
            return False
    return True


def test_label_noise_figure_has_all_panels():
    th = np.arange(0, 180, 5.0)
    rng = np.random.default_rng(0)
    sens = 1 + rng.uniform(0, 0.1, (2, 3, 4, th.size))
    res = label_noise.LabelNoiseResult(
        ("6c", "control"), np.array([0, 10, 20, 30]), th, sens, np.ones((2, 3, 4))
    )
    summary = label_noise.summarise(res)
    fig = figures.label_noise_figure(res, summary, title="t")
    assert isinstance(fig, Figure)
    texts = _texts(fig)
    assert {"b", "c", "d", "e", "f"} <= set(texts)
    assert any("no data: condition 6b" in t for t in texts)
    assert _has_legend_for_every_axis_with_lines(fig)


def test_architecture_figure_notes_missing_curves():
    th = np.array([0.0, 45.0, 90.0, 135.0])
    d = {"overlap_3s2": {"conv1": np.ones((2, 1, 4))}, "none": {"conv1": np.ones((2, 1, 4))}}
    co = {v: {"conv1": {"co": 1.0, "low": 0.9, "high": 1.1, "per_seed": [1.0, 1.0]}} for v in d}
    fig = figures.architecture_figure(orientation.ArchitectureResult(th, d, co, 67, 2))
    assert any("need the full orientation grid" in t for t in _texts(fig))
    assert _has_legend_for_every_axis_with_lines(fig)


def test_statistics_networks_and_hue_figures_build():
    th = np.arange(0, 180, 5.0)
    d = {
        "conv1": np.ones((4, 2, th.size)),
        "conv2": 1 + np.cos(np.deg2rad(4 * th))[None, None] * np.ones((4, 2, 1)),
    }
    co = {
        "conv1": {"co": 1.0, "low": 1.0, "high": 1.0, "per_seed": []},
        "conv2": {"co": 2.0, "low": 1.9, "high": 2.1, "per_seed": []},
    }
    res = orientation.StatisticsResult(
        np.array([0.0, 45.0]),
        th,
        d,
        d,
        np.full((2, th.size), 1 / th.size),
        {"rotated 0 deg": co, "rotated 45 deg": co},
        {"rotated 0 deg": co, "rotated 45 deg": co},
        {"conv1": 0.0, "conv2": 45.0},
        np.ones((4, 2)),
        np.ones((4, 2)),
        2,
        ("a", "b"),
    )
    fig = figures.statistics_figure(res)
    assert _has_legend_for_every_axis_with_lines(fig) and {"a", "b", "c", "d"} <= set(_texts(fig))
    nets = figures.networks_figure(
        {"x": {"thetas": th, "d": {k: v[0] for k, v in d.items()}, "co": co}},
        notes={"x": figures.DEFAULT_WEIGHTS_NOTE},
    )
    assert any("isotropic by construction" in t for t in _texts(nets))
    assert any("no data" in t for t in _texts(figures.networks_figure({})))
    empty = figures.hue_figure(None)
    assert sum("no data: the hue experiment was not run" in t for t in _texts(empty)) == 2
    hues = np.arange(0, 360, 5.0)
    dh = {"conv1": np.ones((2, 3, hues.size))}
    h = hue.HueResult(
        np.array([0.0, 90.0]),
        hues,
        dh,
        dh,
        np.full((2, 360), 1 / 360),
        {"hue +0 deg": {"conv1": 0.1}, "hue +90 deg": {"conv1": 0.2}},
        {"conv1": 90.0},
        90.0,
        np.ones((2, 2)),
        np.ones((2, 2)),
        1,
        ("p",),
    )
    fig = figures.hue_figure(h)
    assert _has_legend_for_every_axis_with_lines(fig) and {"b", "c", "d"} <= set(_texts(fig))
