"""Tests of vpl_jax.analysis.theory_fit (the alpha/beta model beside a run's layer change) and of
its figure, on results Datasets with a planted model run, a planted null and untestable runs.

References: data generated from `theory.saxe.closed_form` and `theory.tuning.task_vectors`
directly (not through the module), exact permutation counts, a NumPy half-time by brute force.
"""

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from theory import saxe  # noqa: E402
from theory import tuning as theory_tuning  # noqa: E402
from theory.checks import InputError  # noqa: E402
from vpl_jax.analysis import theory_fit  # noqa: E402
from vpl_jax.experiment import Grid, RunConfig, results_dataset  # noqa: E402
from vpl_jax.figures.theory_fit import theory_fit_figure  # noqa: E402
from vpl_jax.train import TrainConfig  # noqa: E402

WEIGHTS_INFO = {"source": "random:0", "requested": "random:0", "random": True, "sha256": "0"}
WEIGHTS_INFO["note"] = ""
SEPS = (0.5, 1.0, 2.0, 5.0, 10.0)


def make_ds(readout, stack, seps=SEPS, refs=(0.0, 90.0), num_iterations=300, eval_points=12):
    """A results Dataset whose readout and conv1-5 ``d_rel1`` are ``readout(sep, its)`` and
    ``stack(sep, its)`` (conv layers scaled 1.5, 1.25, 1, 0.75, 0.5 around the mean)."""
    grid = Grid(
        reference_deg=refs, separation_deg=seps, wavelength_px=(20.0,), contrast=(0.5,),
        noise_sd=(5.0,),
    )  # fmt: skip
    tc = TrainConfig(
        image_size=67, num_iterations=num_iterations, num_eval_points=eval_points,
        test_pairs=20, fold_pairs=10, test_separations=(1.0, 10.0),
    )  # fmt: skip
    config = RunConfig(preset="smoke", grid=grid, train=tc)
    its = np.asarray(tc.eval_iterations, float)
    sep = grid.table()["separation_deg"].astype(float)
    c, e = sep.size, its.size
    change = np.zeros((c, e, 6, 4), np.float32)
    for i, s in enumerate(sep):
        r, st = readout(s, its), stack(s, its)
        for layer, w in enumerate((1.5, 1.25, 1.0, 0.75, 0.5)):
            change[i, :, layer, :] = (w * st)[:, None]
        change[i, :, 5, :] = r[:, None]
    results = {
        "accuracy": np.full((c, e, 5), 0.5, np.float32),
        "accuracy_sym": np.full((c, e, 5), 0.5, np.float32),
        "layer_change": change,
        "train_loss": np.ones((c, e), np.float32),
        "separation_accuracy": np.full((c, 5, 2), 0.5, np.float32),
        "separation_accuracy_sym": np.full((c, 5, 2), 0.5, np.float32),
    }
    return results_dataset(config, results, WEIGHTS_INFO)


def planted_model(k=3.0, tau=40.0, amp_beta=0.01, amp_alpha=0.002):
    """Trajectories of the model itself: readout a_b beta, stack a_a alpha of task k * s."""

    def curves(s, its):
        v = float(theory_tuning.task_vectors(np.deg2rad(k * s)).v)
        alpha, beta = saxe.closed_form(its / tau, v)
        return np.asarray(beta, float), np.asarray(alpha, float)

    readout = lambda s, its: amp_beta * curves(s, its)[0]  # noqa: E731
    stack = lambda s, its: amp_alpha * curves(s, its)[1]  # noqa: E731
    return readout, stack


def test_planted_model_is_recovered():
    readout, stack = planted_model(k=3.0, tau=40.0)
    fit = theory_fit.fit_alpha_beta(make_ds(readout, stack))
    q = fit.quality
    assert q["testable"] and q["reason"] == ""
    assert fit.params["k"] == pytest.approx(3.0, rel=0.05)
    assert fit.params["tau"] == pytest.approx(40.0, rel=0.05)
    assert q["r2"] > 0.999 and q["r2_readout"] > 0.999 and q["r2_stack"] > 0.999
    assert q["r2_ratio"] > 0.999
    # the amplitudes' ratio is the free scale: a = amp_beta / amp_alpha
    assert fit.params["ratio_scale"] == pytest.approx(0.01 / 0.002, rel=0.05)
    assert q["readout_first_fraction"] == 1.0 and q["model_readout_first_fraction"] == 1.0
    # 5 separations in order: the exact one-sided p is 1/120
    assert q["ratio_spearman"] == pytest.approx(1.0)
    assert q["ratio_p"] == pytest.approx(1 / 120)
    np.testing.assert_allclose(fit.table.model_ratio, fit.table.ratio, rtol=0.05)
    np.testing.assert_allclose(fit.table.model_t_half_stack, fit.table.t_half_stack, rtol=0.1)
    assert not q["k_at_bound"]
    assert "R^2 = 1.00" in theory_fit.describe(fit)


def test_planted_null_fails_both_predictions():
    """The stack changes first and the ratio falls with separation: the fit says so."""
    its_scale = 30.0

    def readout(s, its):  # late, larger for fine tasks
        return (1.0 / s) * (1 - np.exp(-((its / (3 * its_scale)) ** 2)))

    def stack(s, its):  # early, larger for coarse tasks
        return 0.01 * s * (1 - np.exp(-its / (0.3 * its_scale)))

    fit = theory_fit.fit_alpha_beta(make_ds(readout, stack))
    q = fit.quality
    assert q["testable"]
    assert q["readout_first_fraction"] == 0.0  # measured: the stack first everywhere
    assert q["model_readout_first_fraction"] == 1.0  # the model cannot do otherwise
    assert q["ratio_spearman"] == pytest.approx(-1.0)
    assert q["ratio_p"] == pytest.approx(1.0)
    assert q["r2_ratio"] < 0.2
    assert q["r2"] < 0.9
    assert "0/5 separations" in theory_fit.describe(fit)


def test_untestable_runs_say_why():
    readout, stack = planted_model()
    few = make_ds(readout, stack, seps=(10.0,), num_iterations=4, eval_points=2)
    fit = theory_fit.fit_alpha_beta(few)
    assert not fit.quality["testable"] and "evaluation iterations" in fit.quality["reason"]
    assert np.isnan(fit.params["k"])
    frozen = make_ds(readout, lambda s, its: 0.0 * its)
    fit = theory_fit.fit_alpha_beta(frozen)
    assert not fit.quality["testable"] and "stack" in fit.quality["reason"]
    assert "not fitted" in theory_fit.describe(fit)
    one = theory_fit.fit_alpha_beta(make_ds(readout, stack, seps=(2.0,)))
    assert one.quality["testable"] and np.isnan(one.quality["ratio_p"])
    assert "not tested" in theory_fit.describe(one)
    fig = theory_fit_figure(frozen)  # the figure draws its notes instead of failing
    note = " ".join(t.get_text() for t in fig.axes[1].texts).replace("\n", " ")  # panel B
    assert "stack change" in note and ("no data" in note or "not available" in note)
    assert "not fitted" in fig._suptitle.get_text()
    assert all("model" not in t.get_text() for t in fig.legends[0].get_texts())
    plt.close(fig)
    fig = theory_fit_figure(few)
    assert "not fitted" in fig._suptitle.get_text()
    plt.close(fig)


def test_layer_groups_and_bad_input():
    readout, stack = planted_model()
    ds = make_ds(readout, stack)
    groups = theory_fit.layer_groups(ds)
    assert groups.dims == ("condition", "iteration", "group")
    np.testing.assert_allclose(
        groups.sel(group="stack"), ds.layer_change.sel(measure="d_rel1").isel(layer=slice(0, 5))
        .mean("layer"), rtol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        groups.sel(group="readout"), ds.layer_change.sel(measure="d_rel1", layer="readout")
    )
    with pytest.raises(InputError, match="measure"):
        theory_fit.layer_groups(ds, measure="d_rel9")
    with pytest.raises(InputError, match="stack_layers"):
        theory_fit.layer_groups(ds, stack_layers=("conv9",))
    with pytest.raises(InputError, match="xarray"):
        theory_fit.fit_alpha_beta({"layer_change": 1})
    with pytest.raises(InputError, match="grid_size"):
        theory_fit.fit_alpha_beta(ds, grid_size=2)
    with pytest.raises(InputError, match="tau"):
        theory_fit.model_curves(
            {"k": 1.0, "tau": 0.0, "ratio_scale": 1.0, "t_final": 1.0}, [1], [0]
        )
    with pytest.raises(InputError, match="k \\* separations"):
        theory_fit.model_curves(
            {"k": 100.0, "tau": 1.0, "ratio_scale": 1.0, "t_final": 1.0}, [1], [0]
        )


def test_half_time_against_brute_force():
    rng = np.random.default_rng(0)
    its = np.array([0, 1, 2, 4, 8, 16, 32, 64], float)
    values = np.cumsum(rng.uniform(0, 1, (20, its.size)), axis=1)
    got = theory_fit.half_time(its, values)
    fine = np.linspace(0, 64, 640001)
    for row, t in zip(values, got, strict=True):
        interp = np.interp(fine, its, row)
        assert t == pytest.approx(fine[np.argmax(interp >= row[-1] / 2)], abs=2e-4)
    assert np.isnan(theory_fit.half_time(its, np.zeros(its.size)))
    with pytest.raises(InputError, match="increasing"):
        theory_fit.half_time([0, 0, 1], [0, 1, 2])


def test_spearman_rises_exact_p():
    x = np.arange(6.0)
    y = np.array([0.0, 2.0, 1.0, 3.0, 5.0, 4.0])
    rho, p = theory_fit.spearman_rises(x, y)
    count = sum(
        np.corrcoef(x, perm)[0, 1] >= rho - 1e-12 for perm in itertools.permutations(np.arange(6.0))
    )
    assert p == pytest.approx(count / 720)
    assert rho == pytest.approx(np.corrcoef(x, [0, 2, 1, 3, 5, 4])[0, 1])
    with pytest.raises(InputError):
        theory_fit.spearman_rises([1, 2], [1, 2])


def test_figure_panels_and_legend():
    readout, stack = planted_model()
    ds = make_ds(readout, stack)
    fig = theory_fit_figure(ds)
    letters = sorted(t.get_text() for ax in fig.axes for t in ax.texts if len(t.get_text()) == 1)
    assert letters == ["A", "B", "C", "D"]
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == [f"trained {s:g} deg" for s in SEPS] + ["alpha/beta model (fitted)"]
    assert "R^2" in fig._suptitle.get_text()
    # every separation has markers and a model line in A and B
    for ax in fig.axes[:2]:
        assert len(ax.get_lines()) == 2 * len(SEPS)
    plt.close(fig)
