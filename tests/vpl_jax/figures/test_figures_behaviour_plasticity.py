"""Figures 2 and 3 and the learning curves on small synthetic results Datasets: each writes a
non-empty PNG, panels the run lacks say "not available in this run" instead of failing, the
paper's metric is the default and the symmetrised one is drawn beside it where they disagree."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vpl_jax import train  # noqa: E402
from vpl_jax.experiment import Grid, RunConfig, results_dataset  # noqa: E402
from vpl_jax.figures.behaviour import figure_2, metrics_disagree  # noqa: E402
from vpl_jax.figures.learning import learning_curves  # noqa: E402
from vpl_jax.figures.plasticity import figure_3  # noqa: E402
from vpl_jax.train import TrainConfig  # noqa: E402

WEIGHTS_INFO = {
    "source": "random:0",
    "requested": "random:0",
    "random": True,
    "sha256": "0",
    "note": "",
}


def synthetic_ds(seps=train.PAPER_SEPARATIONS, refs=(0.0, 60.0, 120.0), seed=0):
    """Plausible synthetic results: accuracy rising faster for coarse separations, sigmoidal
    layer change larger for fine separations and low layers."""
    grid = Grid(
        reference_deg=refs,
        separation_deg=seps,
        wavelength_px=(20.0,),
        contrast=(0.5,),
        noise_sd=(5.0,),
    )
    tc = TrainConfig(num_iterations=300, num_eval_points=12)
    config = RunConfig(preset="smoke", grid=grid, train=tc)
    rng = np.random.default_rng(seed)
    sep = grid.table()["separation_deg"].astype(float)
    its = np.asarray(tc.eval_iterations, float)
    c, e, s = sep.size, its.size, len(tc.test_separations)
    rate = 0.02 * sep[:, None] ** 0.5
    acc = np.empty((c, e, 5))
    for j, ceiling in enumerate((1.0, 0.8, 0.7, 0.85, 0.9)):
        acc[:, :, j] = 0.5 + (ceiling - 0.5) * (1 - np.exp(-rate * its[None, :]))
    acc += rng.normal(0, 0.01, acc.shape)
    layers = np.arange(1, 7, dtype=float)
    t0 = 80.0 - 10 * np.log(sep)[:, None] - 2 * layers[None, :]
    scale = np.exp(-3.0 - np.log(sep)[:, None] - 0.15 * layers[None, :])
    shape = 1 / (1 + np.exp(-(its[None, :, None] - t0[:, None, :]) / (0.3 * t0[:, None, :])))
    shape = shape - shape[:, :1]
    change = np.repeat((scale[:, None, :] * shape)[..., None], 4, axis=-1)
    test_seps = np.asarray(tc.test_separations, float)
    sep_acc = (
        0.6
        + 0.05 * np.log(test_seps)[None, None, :]
        - 0.01 * np.log(sep)[:, None, None]
        + rng.normal(0, 0.01, (c, 5, s))
    )
    results = {
        "accuracy": acc,
        "accuracy_sym": np.maximum(acc, 1 - acc),
        "layer_change": change,
        "train_loss": np.zeros((c, e)),
        "separation_accuracy": sep_acc,
        "separation_accuracy_sym": sep_acc,
    }
    results = {k: np.asarray(v, np.float32) for k, v in results.items()}
    return results_dataset(config, results, WEIGHTS_INFO)


def _texts(fig) -> str:
    return " ".join(" ".join(t.get_text().split()) for ax in fig.axes for t in ax.texts)


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() not in ("legend",)]


def _save(fig, path):
    fig.savefig(path, dpi=50)
    plt.close(fig)
    assert path.exists() and path.stat().st_size > 5000
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_figure_2_full_run(tmp_path, paper_ready):
    fig = figure_2(synthetic_ds())
    assert isinstance(fig, plt.Figure)
    assert "not available" not in _texts(fig)
    labelled = [ax for ax in _panels(fig) if ax.get_label() != "<colorbar>"]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in labelled)
    assert paper_ready(fig, tmp_path) == list("ABCDEFGHIJKLMNO")  # 15 panels, none repeated
    # legends: 5 separations + SD band + chance; 5 tests; 4 transfer tests in the regression
    counts = sorted(len(leg.legend_handles) for leg in _legends(fig))
    assert counts == [4, 5, 7], counts
    _save(fig, tmp_path / "fig2.png")


def test_figure_2_lacking_data(tmp_path):
    ds = synthetic_ds(seps=(2.0,)).drop_vars(["separation_accuracy", "separation_accuracy_sym"])
    fig = figure_2(ds)
    assert "not available in this run" in _texts(fig)
    _save(fig, tmp_path / "fig2_partial.png")
    with pytest.raises(ValueError, match="ds"):
        figure_2(ds.drop_vars("accuracy"))
    with pytest.raises(ValueError, match="ds"):
        figure_2(ds.drop_vars("accuracy_sym"), symmetric=True)


def _legends(fig):
    return [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]


def _panel_b_labels(fig) -> list[str]:
    legend = next(g for g in _legends(fig) if "acc ~ ln" in g.get_title().get_text())
    return [t.get_text() for t in legend.get_texts()]


def test_figure_2_shows_the_symmetrised_metric_where_it_disagrees():
    ds = synthetic_ds(seps=(1.0, 5.0), refs=(0.0, 60.0))
    assert not metrics_disagree(ds)  # accuracy >= 0.5 everywhere: max(m, 1 - m) = m
    fig = figure_2(ds)
    assert "mean p(correct)" in fig._suptitle.get_text()
    assert not any("symmetrised" in t for t in _panel_b_labels(fig))
    plt.close(fig)
    wrong = ds.copy()
    acc = wrong.accuracy.values.copy()
    acc[:, 1:, 1] = 1.0 - acc[:, 1:, 1]  # systematically wrong on ori+45
    wrong["accuracy"] = (wrong.accuracy.dims, acc)
    assert metrics_disagree(wrong)
    fig = figure_2(wrong)
    labels = _panel_b_labels(fig)
    assert "ori+45 (symmetrised)" in labels
    plt.close(fig)
    fig = figure_2(wrong, symmetric=True)
    assert "symmetrised" in fig._suptitle.get_text()
    assert any("(mean p(correct))" in t for t in _panel_b_labels(fig))
    plt.close(fig)
    fig = figure_2(wrong, symmetric=True, show_other=False)
    assert not any("(mean p(correct))" in t for t in _panel_b_labels(fig))
    plt.close(fig)


def test_learning_curves_metric(tmp_path, paper_ready):
    ds = synthetic_ds(seps=(1.0, 5.0))
    fig = learning_curves(ds)
    assert fig.axes[0].get_ylabel() == "accuracy (mean p correct)"
    assert paper_ready(fig, tmp_path) == ["A", "B"]
    # every line style and colour is explained: 2 separations + 5 tests; 6 layers
    assert [len(leg.legend_handles) for leg in _legends(fig)] == [7, 6]
    _save(fig, tmp_path / "curves.png")
    fig = learning_curves(ds, variable="accuracy_sym")
    assert "symmetrised" in fig.axes[0].get_ylabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="variable"):
        learning_curves(ds, variable="loss")


def test_figure_3_full_run(tmp_path, paper_ready):
    fig = figure_3(synthetic_ds())
    assert "not available" not in _texts(fig)
    labelled = _panels(fig)
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in labelled)
    assert paper_ready(fig, tmp_path) == list("ABCDEFGHI")  # 6 layers, PSI, final, ratio
    counts = sorted(len(leg.legend_handles) for leg in _legends(fig))
    assert counts == [5, 6], counts  # the 5 separations; the 6 layers of B-D
    _save(fig, tmp_path / "fig3.png")


def test_figure_3_without_ten_degrees(tmp_path):
    fig = figure_3(synthetic_ds(seps=(1.0, 5.0)))
    assert "not available in this run" in _texts(fig)
    _save(fig, tmp_path / "fig3_partial.png")
    with pytest.raises(ValueError, match="ds"):
        figure_3(synthetic_ds().drop_vars("layer_change"))


def test_figure_3_when_no_weight_moved(tmp_path):
    """A run whose weights did not change (d_rel1 = 0 everywhere) still draws, with linear axes
    that say why, instead of failing on a log axis."""
    ds = synthetic_ds()
    ds["layer_change"] = ds["layer_change"] * 0.0
    fig = figure_3(ds)
    assert "no positive values to show on a log axis" in _texts(fig)
    # every layer panel of A says "no data" (the smoke run's conv layers that did not move)
    notes = [t for ax in fig.axes[:6] for t in ax.texts if t.get_text().startswith("no data")]
    assert len(notes) == 6
    _save(fig, tmp_path / "fig3_zero.png")
