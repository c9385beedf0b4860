"""Figures 2-6 and A2 from a planted analysis result: panels, legends, no-data notes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from vpl_jax.cnn import analysis, figures, model

LAYERS = model.TUNING_LAYERS


def _result(with_data: bool = True):
    rng = np.random.default_rng(0)
    sizes = {
        "conv1": 32,
        "conv2": 32,
        "conv3": 64,
        "conv4": 64,
        "conv5": 128,
        "conv6": 128,
        "fc1": 512,
    }
    g = {k: rng.uniform(0, 1, n) for k, n in sizes.items()}
    tun = analysis.LayerTuning(g, {k: rng.uniform(0, 1, (n, 12, 9, 4)) for k, n in sizes.items()})
    c, e = 6, 4
    groups = ["population"] * 4 + ["dynamics", "corruption"]
    h = xr.Dataset(
        {
            v: (("network", "epoch"), rng.uniform(0.5, 2, (c, e)))
            for v in ("train_loss", "val_loss", "test_loss", "val_acc", "test_acc")
        }
        | {"mean_gosi": (("network", "epoch", "layer"), rng.uniform(0, 1, (c, e, 7)))},
        coords={
            "network": np.arange(c),
            "epoch": np.arange(1, e + 1),
            "layer": list(LAYERS),
            "group": ("network", groups),
            "augmentation": (
                "network",
                ["none", "shift", "flip", "shift+flip", "shift+flip", "none"],
            ),
            "learning_rate": ("network", [1e-3] * 4 + [1e-4, 1e-3]),
            "best_epoch": ("network", [4] * c),
        },
    )
    table = pd.DataFrame(
        {
            "layer": list(LAYERS),
            "rho": rng.uniform(-1, 1, 7),
            "p": [0.01, 0.2, np.nan, 0.03, 0.5, 0.9, 0.04],
            "n": 4,
        }
    ).set_index("layer")
    corr = pd.DataFrame(
        {"corruption": [0.0, 0.5, 1.0], "train_acc": [1.0, 0.9, 0.8], "test_acc": [0.6, 0.4, 0.1]}
        | {f"gosi_{k}": [0.5, 0.4, 0.3] for k in LAYERS}
    )
    abl = {
        k: analysis.AblationResult(
            rng.normal(0.2, 0.1, 50),
            rng.normal(0.05, 0.1, 50),
            np.arange(3),
            np.arange(3, 6),
            0.001,
            4.0,
            0.1,
            0.2,
        )
        for k in LAYERS
    }
    shift = {
        cond: analysis.ShiftResult(
            {k: rng.uniform(0, 1, 10) for k in LAYERS},
            {k: 0.5 for k in LAYERS},
            {k: 0.05 for k in LAYERS},
        )
        for cond in ("none", "conv2", "conv3")
    }
    sf = {
        k: np.where(g[k] > 0.33, rng.choice([0.0, 15.0, 30.0], g[k].size), np.nan) for k in LAYERS
    }
    sf["conv6"][:] = np.nan  # a layer without selective units
    if not with_data:
        return analysis.RunAnalysis(
            h,
            3,
            tun,
            g,
            tun,
            None,
            None,
            None,
            None,
            None,
            None,
            abl,
            sf,
            {"none": shift["none"]},
            {},
        )
    return analysis.RunAnalysis(
        h,
        3,
        tun,
        g,
        tun,
        None,
        table,
        4,
        table,
        (rng.uniform(1, 2, 4), rng.uniform(0, 1, (4, 7))),
        corr,
        abl,
        sf,
        shift,
        {"conv2": 0.01, "conv3": 0.3},
    )


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_every_figure_renders_with_letters_and_legends():
    res = _result()
    for name, fn in figures.FIGURES.items():
        fig = fn(res)
        assert isinstance(fig, Figure), name
        fig.canvas.draw()  # renders without error
        assert "a" in _texts(fig), name
        assert any(ax.get_legend() is not None for ax in fig.axes), name


def test_missing_data_is_said():
    res = _result(with_data=False)
    assert any("no training-dynamics network" in t for t in _texts(figures.figure_3(res)))
    texts4 = _texts(figures.figure_4(res))
    assert any("fewer than 3 population networks" in t for t in texts4)
    assert any("no label-corruption networks" in t for t in texts4)
    assert any("no ablation result" in t for t in _texts(figures.figure_6(res)))
    assert any("no unit with gOSI > 0.33" in t for t in _texts(figures.figure_a2(res)))


def test_ablation_asterisk_marks_twofold_significant_layers():
    res = _result()
    fig = figures.figure_5(res)
    ax = fig.axes[0]
    stars = [c for c in ax.collections if c.get_label().startswith("top > 2 x bottom")]
    assert len(stars) == 1
    top = np.array([np.mean(res.ablation[k].top) for k in LAYERS])
    bot = np.array([np.mean(res.ablation[k].bottom) for k in LAYERS])
    expected = int(np.sum((top > 2 * np.maximum(bot, 0)) & (top > 0)))
    assert stars[0].get_offsets().shape[0] == expected
    # a planted null: equal impacts mark no layer, and the figure says so
    null = res._replace(ablation={k: a._replace(top=a.bottom) for k, a in res.ablation.items()})
    fig = figures.figure_5(null)
    assert not [c for c in fig.axes[0].collections if c.get_label().startswith("top > 2")]
    assert any("no layer with top > 2 x bottom" in t for t in _texts(fig))
