"""Tests of vpl_jax.figures.fisher.figure_4 on planted FI curves."""

import numpy as np
import pandas as pd
import pytest

from vpl_jax.analysis.tuning import FISHER_COLUMNS
from vpl_jax.analysis.tuning_run import fisher_gains
from vpl_jax.figures.fisher import figure_4

THETA = np.linspace(-90, 90, 21)
LAYER_INDEX = {"norm1": 1, "norm2": 2, "conv3": 3, "conv4": 4, "conv5": 5}


def frame(network, layer, ref, sep, trained, fi):
    return pd.DataFrame(
        {
            "network": network,
            "layer": layer,
            "layer_index": LAYER_INDEX[layer],
            "reference_deg": ref,
            "separation_deg": sep if trained else np.nan,
            "trained": trained,
            "orientation_rel_deg": THETA,
            "fi": fi,
        },
        columns=list(FISHER_COLUMNS),
    )


def planted(layers=("norm1", "conv5"), seps=(1.0, 5.0), n_ref=6, bump=5.0):
    rng = np.random.default_rng(0)
    rows = []
    for r in range(n_ref):
        ref = 15.0 * r
        for layer in layers:
            rows.append(frame(-1, layer, ref, np.nan, False, 1 + 0.05 * rng.normal(size=21)))
            for k, sep in enumerate(seps):
                fi = 1 + bump * np.exp(-(THETA**2) / 200) + 0.05 * rng.normal(size=21)
                rows.append(frame(10 * k + r, layer, ref, sep, True, fi))
    return pd.concat(rows, ignore_index=True)


def test_figure_4_panels_means_and_asterisks(tmp_path):
    df = planted()
    fig = figure_4(df, layers=("norm1", "conv5"))
    axes = np.array(fig.axes).reshape(2, 2)
    ax = axes[1, 0]  # conv5, 1.0 deg
    naive_line, trained_line = ax.lines[0], ax.lines[1]
    tr = df[(df.layer == "conv5") & (df.separation_deg == 1.0)]
    expected = tr.groupby("orientation_rel_deg")["fi"].mean().to_numpy()
    np.testing.assert_allclose(trained_line.get_ydata(), expected, rtol=1e-12)
    nv = df[(df.layer == "conv5") & ~df.trained]
    np.testing.assert_allclose(
        naive_line.get_ydata(), nv.groupby("orientation_rel_deg")["fi"].mean(), rtol=1e-12
    )
    # 6 vs 6 networks, FI ~6 vs ~1 near TO: p = 1/924 < 0.01 / 4 -> asterisk in every panel.
    assert all(any(t.get_text() == "*" for t in a.texts) for a in axes.ravel())
    assert "FI" in axes[0, 0].get_ylabel() and "deg" in axes[1, 0].get_xlabel()
    path = tmp_path / "fig4.png"
    fig.savefig(path)
    assert path.stat().st_size > 5000


def test_figure_4_no_asterisk_without_an_increase(tmp_path):
    fig = figure_4(planted(bump=0.0), layers=("norm1", "conv5"))
    assert not any(t.get_text() == "*" for a in fig.axes for t in a.texts)
    fig.savefig(tmp_path / "flat.png")


def test_figure_4_missing_data_says_not_available(tmp_path):
    df = planted(layers=("norm1",))
    fig = figure_4(df, layers=("norm1", "conv3"), separations=(1.0, 5.0, 10.0))
    axes = np.array(fig.axes).reshape(2, 3)
    no_data = lambda ax: any(t.get_text().startswith("no data") for t in ax.texts)  # noqa: E731
    assert no_data(axes[1, 0])  # no conv3 data
    assert no_data(axes[0, 2])  # no network trained on 10 deg
    assert not no_data(axes[0, 0])
    path = tmp_path / "missing.png"
    fig.savefig(path)
    assert path.stat().st_size > 0


def test_figure_4_rejects_a_frame_without_fi():
    with pytest.raises(ValueError, match="missing columns"):
        figure_4(planted().drop(columns="fi"))


def test_figure_4_asterisks_are_the_verdicts_test():
    """The asterisk of a panel is exactly fisher_gains' p < alpha / panels (the report's test)."""
    df = planted(bump=0.15, n_ref=5)  # a weak gain: some panels significant, some not
    fig = figure_4(df, layers=("norm1", "conv5"))
    axes = np.array(fig.axes).reshape(2, 2)
    gains = fisher_gains(df).set_index(["layer_index", "separation_deg"]).p
    for i, layer in enumerate(("norm1", "conv5")):
        for j, sep in enumerate((1.0, 5.0)):
            starred = any(t.get_text() == "*" for t in axes[i, j].texts)
            assert starred == bool(gains.loc[(LAYER_INDEX[layer], sep)] < 0.01 / 4), (layer, sep)


def test_figure_4_is_fit_for_a_paper(tmp_path, paper_ready):
    fig = figure_4(planted(bump=0.5), layers=("norm1", "conv5"))
    assert paper_ready(fig, tmp_path) == ["A", "B", "C", "D"]
    # the figure legend explains every line, band and marker: trained, naive, SEM, TO, asterisk
    (legend,) = fig.legends
    assert len(legend.legend_handles) == 5
    assert any("p <" in t.get_text() for t in legend.get_texts())
