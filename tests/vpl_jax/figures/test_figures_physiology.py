"""Figures 6-10 run on small synthetic contract tables and write non-empty PNGs."""

from __future__ import annotations

import string

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from vpl_jax.figures import physiology as figs
from vpl_jax.figures import style

LAYERS = ("norm1", "norm2", "conv3", "conv4", "conv5")


def _table(seed=0, layers=LAYERS, seps=(1.0, 5.0), refs=(0.0, 45.0, 90.0), n_units=24, o=100):
    """Contract table plus aligned curves; trained units raise their response near TO."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-90.0, 90.0, o)
    frames, curves = [], []
    nets = [(-1, ref, np.nan, False) for ref in refs]
    nets += [(k, ref, sep, True) for k, (sep, ref) in enumerate((s, r) for s in seps for r in refs)]
    for net, ref, sep, trained in nets:
        for layer in layers:
            po = rng.uniform(-90.0, 90.0, n_units)
            d = (x[None, :] - po[:, None] + 90.0) % 180.0 - 90.0
            base = 0.1 if trained else 0.4
            c = 2.0 * (base + np.exp(-0.5 * (d / 25.0) ** 2))
            c = c + 0.05 * rng.standard_normal(c.shape)
            curves.append(c)
            act = c.mean(axis=1) * rng.uniform(0.5, 2.0, n_units)
            frames.append(
                pd.DataFrame(
                    dict(
                        network=net,
                        layer=layer,
                        layer_index=LAYERS.index(layer) + 1,
                        reference_deg=ref,
                        separation_deg=sep,
                        trained=trained,
                        unit=np.arange(n_units),
                        mean_activation=act,
                        included=act >= 1.0,
                        po_rel_deg=po,
                        amplitude=c.max(axis=1) - c.min(axis=1),
                        slope_to=rng.lognormal(-3.0 + 0.5 * trained, 0.4, n_units),
                        si=rng.beta(2.0 + 2 * trained, 5.0, n_units),
                        norm_var_po=rng.lognormal(-0.3 * trained, 0.3, n_units),
                        var_ratio=rng.lognormal(0.0, 0.3, n_units),
                        best_disc=rng.lognormal(-0.5 * trained, 0.5, n_units),
                        fi_to=rng.lognormal(0.3 * trained, 1.0, n_units),
                    )
                )
            )
    return pd.concat(frames, ignore_index=True), np.concatenate(curves)


def _eq7_tables(seed=0):
    rng = np.random.default_rng(seed)
    rows, units = [], []
    for li in range(1, 6):
        for sep in (0.5, 1.0, 2.0, 5.0, 10.0):
            for r in range(6):
                fi = rng.uniform(0.1, 2.0)
                rows.append(
                    dict(
                        d_rel1=0.1 * li + 1.0 / sep + 0.05 * rng.standard_normal(),
                        fi=fi,
                        layer_index=li,
                        separation_deg=sep,
                        reference_deg=15.0 * r,
                    )
                )
            fi = rng.lognormal(0.0, 1.0, 20)
            units.append(
                pd.DataFrame(
                    dict(
                        d_rel1=0.2 * fi + rng.uniform(0, 1, 20),
                        fi=fi,
                        layer_index=li,
                        separation_deg=sep,
                    )
                )
            )
    return pd.DataFrame(rows), pd.concat(units, ignore_index=True)


def _save(fig, path):
    assert isinstance(fig, plt.Figure)
    for ax in fig.axes:
        if ax.axison and ax.has_data():
            assert ax.get_xlabel() and ax.get_ylabel()
    # fit for a paper: readable ticks, legends beside the data, one letter per panel
    assert style.overlapping_tick_labels(fig) == []
    assert style.legend_overlaps(fig) == []
    letters = style.panel_letters(fig)
    assert letters == list(string.ascii_uppercase[: len(letters)]) and letters
    fig.savefig(path, dpi=50)
    plt.close(fig)
    assert path.exists() and path.stat().st_size > 1000


@pytest.fixture(scope="module")
def data():
    return _table()


def test_figure_6(data, tmp_path):
    table, curves = data
    _save(figs.figure_6(table, curves), tmp_path / "fig6.png")
    _save(figs.figure_6(table), tmp_path / "fig6_nocurves.png")


def test_figure_7(data, tmp_path):
    _save(figs.figure_7(data[0]), tmp_path / "fig7.png")


def test_figure_8(data, tmp_path):
    _save(figs.figure_8(data[0]), tmp_path / "fig8.png")


def test_figure_9(data, tmp_path):
    table, curves = data
    fig = figs.figure_9(table, curves)
    # the planted baseline drop gives red lines in the non-preferred range
    assert any(line.get_color() == "red" for ax in fig.axes for line in ax.get_lines())
    _save(fig, tmp_path / "fig9.png")


def test_figure_10(data, tmp_path):
    layer_table, unit_table = _eq7_tables()
    _save(figs.figure_10(layer_table, unit_table, data[0]), tmp_path / "fig10.png")
    _save(figs.figure_10(), tmp_path / "fig10_empty.png")


def test_figures_on_untestable_data(tmp_path):
    table, curves = _table(layers=("norm2",), seps=(1.0,), n_units=6)
    _save(figs.figure_8(table), tmp_path / "fig8_untestable.png")
    _save(figs.figure_9(table, curves), tmp_path / "fig9_untestable.png")
    _save(figs.figure_6(table, curves), tmp_path / "fig6_partial.png")
