"""Tests of vpl_jax.analysis.plasticity on synthetic results Datasets and random params.

References: NumPy loops (unit change, proportions, group means), the analytic steepest point of a
logistic trajectory (PSI), statsmodels called directly (regressions) and planted coefficients.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from vpl_jax import train
from vpl_jax.analysis import plasticity
from vpl_jax.experiment import Grid, RunConfig, results_dataset
from vpl_jax.train import TrainConfig

WEIGHTS_INFO = {
    "source": "random:0",
    "requested": "random:0",
    "random": True,
    "sha256": "0",
    "note": "",
}
REFS = tuple(float(a) for a in range(0, 180, 15))


def make_config(seps=train.PAPER_SEPARATIONS, refs=REFS, wavelengths=(20.0,), **tc):
    grid = Grid(
        reference_deg=refs,
        separation_deg=seps,
        wavelength_px=wavelengths,
        contrast=(0.5,),
        noise_sd=(5.0,),
    )
    return RunConfig(preset="smoke", grid=grid, train=TrainConfig(**tc))


def make_ds(config, layer_change):
    """A results Dataset of ``config`` with the given ``layer_change`` (C, E, 6, 4), other zeros."""
    tc = config.train
    c, e = len(config.grid), len(tc.eval_iterations)
    n_s = len(tc.test_separations)
    results = {
        "accuracy": np.zeros((c, e, 5), np.float32),
        "accuracy_sym": np.zeros((c, e, 5), np.float32),
        "layer_change": np.asarray(layer_change, np.float32),
        "train_loss": np.zeros((c, e), np.float32),
        "separation_accuracy": np.zeros((c, 5, n_s), np.float32),
        "separation_accuracy_sym": np.zeros((c, 5, n_s), np.float32),
    }
    return results_dataset(config, results, WEIGHTS_INFO)


def logistic(t, t0, width):
    return 1.0 / (1.0 + np.exp(-(np.asarray(t, float) - t0) / width))


# --------------------------------------------------------------------------------------------
# unit_change


def _random_params(rng, batch=()):
    return {
        "conv1": {"w": rng.normal(size=(*batch, 3, 3, 1, 4)), "b": rng.normal(size=(*batch, 4))},
        "conv2": {"w": rng.normal(size=(*batch, 5, 5, 4, 6)), "b": rng.normal(size=(*batch, 6))},
        "readout": {"w": rng.normal(size=(*batch, 24)), "b": rng.normal(size=batch)},
    }


def _unit_change_loop(w0, w1):
    out = np.empty(w0.shape[-1])
    for u in range(w0.shape[-1]):
        num = 0.0
        den = 0.0
        for i in range(w0.shape[0]):
            for j in range(w0.shape[1]):
                for c in range(w0.shape[2]):
                    num += abs(w1[i, j, c, u] - w0[i, j, c, u])
                    den += abs(w0[i, j, c, u])
        out[u] = num / den
    return out


def test_unit_change_matches_numpy_loop_batched_and_vmapped():
    rng = np.random.default_rng(0)
    initial = _random_params(rng)
    finals = _random_params(rng, batch=(3,))
    for layer in ("conv1", "conv2"):
        batched = np.asarray(plasticity.unit_change(initial, finals, layer))
        assert batched.shape == (3, initial[layer]["w"].shape[-1])
        for n in range(3):
            want = _unit_change_loop(initial[layer]["w"], finals[layer]["w"][n])
            np.testing.assert_allclose(batched[n], want, rtol=1e-5)
        vmapped = jax.vmap(lambda f, lay=layer: plasticity.unit_change(initial, f, lay))(
            jax.tree.map(jnp.asarray, finals)
        )
        np.testing.assert_allclose(np.asarray(vmapped), batched, rtol=1e-6)
        jitted = jax.jit(plasticity.unit_change, static_argnames="layer")
        np.testing.assert_allclose(
            np.asarray(jitted(initial, finals, layer=layer)), batched, rtol=1e-6
        )
    # the bias does not enter: changing it leaves the unit change unchanged
    moved = jax.tree.map(lambda x: x, finals)
    moved["conv2"] = {"w": finals["conv2"]["w"], "b": finals["conv2"]["b"] + 100.0}
    np.testing.assert_allclose(
        plasticity.unit_change(initial, moved, "conv2"),
        plasticity.unit_change(initial, finals, "conv2"),
        rtol=0,
    )


def test_unit_change_zero_filter_nan_and_errors():
    rng = np.random.default_rng(1)
    initial = _random_params(rng)
    initial["conv1"]["w"][..., 2] = 0.0
    final = _random_params(rng)
    out = np.asarray(plasticity.unit_change(initial, final, "conv1"))
    assert np.isnan(out[2]) and np.isfinite(np.delete(out, 2)).all()
    np.testing.assert_allclose(plasticity.unit_change(initial, initial, "conv2"), 0.0, atol=0)
    with pytest.raises(ValueError, match="conv9"):
        plasticity.unit_change(initial, final, "conv9")
    with pytest.raises(ValueError, match="rank >= 4"):
        plasticity.unit_change(initial, final, "readout")
    with pytest.raises(ValueError, match="must match"):
        plasticity.unit_change(initial, {"conv1": {"w": np.zeros((3, 3, 1, 5))}}, "conv1")


# --------------------------------------------------------------------------------------------
# PSI


def test_psi_logistic_analytic_steepest_point():
    t = np.arange(0.0, 1001.0)
    for t0, width in ((40.0, 8.0), (250.0, 30.0), (600.0, 100.0)):
        # d/dt of the logistic peaks exactly at t0; the dense grid recovers it to 0.5 iteration
        assert abs(float(plasticity.psi(t, 2.0 * logistic(t, t0, width))) - t0) <= 0.5


@pytest.mark.parametrize("t0", [20.0, 50.0, 120.0, 300.0, 500.0])
@pytest.mark.parametrize("rel_width", [0.1, 0.2, 0.3])
def test_psi_is_robust_to_the_evaluation_grid(t0, rel_width):
    """Log-spaced (the paper's 21 points), 10-iteration linear and every-iteration grids agree:
    each PSI is within 10% of the analytic steepest point t0 (so within ~20% of each other)."""
    grids = {
        "paper_log": np.asarray(train.eval_iterations(1000), float),
        "linear_10": np.arange(0.0, 1001.0, 10.0),
        "dense": np.arange(0.0, 1001.0),
    }
    got = {
        k: float(plasticity.psi(g, 0.3 * logistic(g, t0, rel_width * t0))) for k, g in grids.items()
    }
    for name, value in got.items():
        assert abs(value - t0) <= 0.1 * t0, (name, got)
    assert abs(got["paper_log"] - got["dense"]) <= 0.1 * t0


def test_psi_vectorised_edges_and_errors():
    t = np.asarray(train.eval_iterations(1000), float)
    rng = np.random.default_rng(2)
    t0s = rng.uniform(30, 600, (3, 4))
    values = logistic(t[None, None, :], t0s[..., None], 0.2 * t0s[..., None])
    batch = plasticity.psi(t, values)
    assert batch.shape == (3, 4)
    loop = np.array([[float(plasticity.psi(t, values[i, j])) for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(batch, loop, rtol=0)
    assert np.isnan(plasticity.psi(t, np.ones(t.size)))  # no learning
    assert np.isnan(plasticity.psi(t, -t))  # decreasing only
    bad = logistic(t, 100.0, 20.0)
    bad[4] = np.nan
    assert np.isnan(plasticity.psi(t, bad))
    # a concave trajectory (fastest at the start) peaks in the first interval
    assert float(plasticity.psi(t, 1.0 - np.exp(-t / 50.0))) == 0.5
    with pytest.raises(ValueError, match="iterations"):
        plasticity.psi([0.0, 2.0, 1.0], np.zeros(3))
    with pytest.raises(ValueError, match="values"):
        plasticity.psi(t, np.zeros(5))


# --------------------------------------------------------------------------------------------
# Dataset-level functions and regressions


B_PSI_LOGSEP, B_PSI_LAYER = -40.0, -6.0
B_LOGD_LOGSEP, B_LOGD_LAYER = -1.0, -0.15


@pytest.fixture(scope="module")
def planted():
    """d_rel1(c, l, t) = D(c, l) * logistic(t; T0(c, l), 0.25 T0) on a dense log grid, with
    T0 = 260 - 40 ln s - 6 l + N(0, 8^2) and ln D = -3 - 1.0 ln s - 0.15 l + N(0, 0.1^2)."""
    config = make_config(num_iterations=1000, num_eval_points=300)
    rng = np.random.default_rng(3)
    seps = config.grid.table()["separation_deg"].astype(float)
    c = seps.size
    its = np.asarray(config.train.eval_iterations, float)
    layers = np.arange(1, 7, dtype=float)
    t0 = (
        260.0
        + B_PSI_LOGSEP * np.log(seps)[:, None]
        + B_PSI_LAYER * layers[None, :]
        + rng.normal(0, 8.0, (c, 6))
    )
    log_d = (
        -3.0
        + B_LOGD_LOGSEP * np.log(seps)[:, None]
        + B_LOGD_LAYER * layers[None, :]
        + rng.normal(0, 0.1, (c, 6))
    )
    shape = logistic(its[None, :, None], t0[:, None, :], 0.25 * t0[:, None, :])
    shape = shape - shape[:, :1, :]  # zero change at iteration 0
    shape = shape / shape[:, -1:, :]  # final value exactly D
    change = np.zeros((c, its.size, 6, 4))
    change[..., 0] = np.exp(log_d)[:, None, :] * shape
    change[..., 2] = 0.5 * change[..., 0]
    ds = make_ds(config, change)
    return ds, t0, np.exp(log_d)


def test_psi_regressions_recover_planted_effects(planted):
    ds, t0, _ = planted
    psi = plasticity.peak_speed_iteration(ds)
    assert psi.dims == ("condition", "layer")
    np.testing.assert_allclose(psi.values, t0, atol=0.03 * t0.max())
    table = plasticity.psi_regressions(ds)
    assert set(table.model) == {"interaction", "main_effects", "per_separation"}
    main = table[table.model == "main_effects"].set_index("term")
    for term, beta in (("log_sep", B_PSI_LOGSEP), ("layer", B_PSI_LAYER)):
        assert abs(main.loc[term, "beta"] - beta) <= 4 * main.loc[term, "se"] + 0.05 * abs(beta)
    n = ds.sizes["condition"] * 5
    assert main.loc["log_sep", "n"] == n and main.loc["log_sep", "df_resid"] == n - 3
    inter = table[table.model == "interaction"].set_index("term")
    assert inter.loc["log_sep", "df_resid"] == n - 4 and set(inter.index) == {
        "log_sep",
        "layer",
        "log_sep:layer",
    }
    # statsmodels directly on the same PSI values (layers 1-5) gives identical numbers
    data = pd.DataFrame(
        {
            "psi": psi.sel(layer=list(plasticity.CONV_LAYERS)).values.reshape(-1),
            "x": np.repeat(np.log(ds.separation_deg.values.astype(float)), 5),
            "z": np.tile(np.arange(1.0, 6.0), ds.sizes["condition"]),
        }
    )
    fit = smf.ols("psi ~ x * z", data).fit()
    np.testing.assert_allclose(inter.loc["log_sep:layer", "beta"], fit.params["x:z"], rtol=1e-9)
    np.testing.assert_allclose(inter.loc["log_sep:layer", "p"], fit.pvalues["x:z"], rtol=1e-6)
    np.testing.assert_allclose(inter.loc["layer", "t"], fit.tvalues["z"], rtol=1e-9)
    per = table[table.model == "per_separation"]
    assert sorted(per.separation) == sorted(train.PAPER_SEPARATIONS)
    assert (per.beta < 0).all()


def test_final_change_regressions_recover_planted_effects(planted):
    ds, _, d = planted
    fin = plasticity.final_change(ds)
    np.testing.assert_allclose(fin.values, d, rtol=1e-5)
    table = plasticity.final_change_regressions(ds)
    log_model = table[table.model == "log_main_effects"].set_index("term")
    assert log_model.testable.all()
    for term, beta in (("log_sep", B_LOGD_LOGSEP), ("layer", B_LOGD_LAYER)):
        assert log_model.loc[term, "ci_low"] < beta < log_model.loc[term, "ci_high"]
    lin = table[table.model == "linear_interaction"].set_index("term")
    data = pd.DataFrame(
        {
            "d": fin.sel(layer=list(plasticity.CONV_LAYERS)).values.astype(float).reshape(-1),
            "x": np.repeat(np.log(ds.separation_deg.values.astype(float)), 5),
            "z": np.tile(np.arange(1.0, 6.0), ds.sizes["condition"]),
        }
    )
    fit = smf.ols("d ~ x * z", data).fit()
    for term, sm in (("log_sep", "x"), ("layer", "z"), ("log_sep:layer", "x:z")):
        np.testing.assert_allclose(lin.loc[term, "beta"], fit.params[sm], rtol=1e-9)
        np.testing.assert_allclose(lin.loc[term, "p"], fit.pvalues[sm], rtol=1e-6, atol=1e-300)
    assert 0 < lin.loc["log_sep", "r2_term"] < lin.loc["log_sep", "r2"] <= 1


def test_change_curves_match_group_means(planted):
    ds, _, _ = planted
    curves = plasticity.change_curves(ds, measure="d_m1", layers=["conv2", "readout"])
    assert curves["mean"].dims == ("separation", "iteration", "layer")
    raw = ds.layer_change.sel(measure="d_m1", layer=["conv2", "readout"]).values.astype(float)
    seps = ds.separation_deg.values
    for i, sep in enumerate(np.unique(seps)):
        np.testing.assert_allclose(curves["mean"].values[i], raw[seps == sep].mean(0), rtol=1e-5)


def test_ratio_to_ten_degrees_known_factors():
    seps = (1.0, 2.0, 10.0)
    config = make_config(seps=seps, refs=(0.0, 45.0), wavelengths=(10.0, 20.0))
    table = config.grid.table()
    e = len(config.train.eval_iterations)
    factor = {1.0: 4.0, 2.0: 2.5, 10.0: 1.0}
    layer_scale = np.arange(1.0, 7.0)
    stim = 1.0 + table["reference_deg"] / 45.0 + table["wavelength_px"] / 10.0
    final = np.array([factor[float(s)] for s in table["separation_deg"]])[:, None] * (
        stim[:, None] * layer_scale[None, :]
    )
    change = np.zeros((len(stim), e, 6, 4))
    change[:, -1, :, 0] = final
    ds = make_ds(config, change)
    ratio = plasticity.ratio_to_separation(ds)
    assert ratio.attrs["testable"]
    want = np.array([factor[float(s)] for s in table["separation_deg"]])[:, None] * np.ones(6)
    np.testing.assert_allclose(ratio.values, want, rtol=1e-6)
    # missing 10 deg -> not testable, all NaN, with a reason
    sub = ds.isel(condition=np.flatnonzero(table["separation_deg"] != 10.0))
    missing = plasticity.ratio_to_separation(sub)
    assert not missing.attrs["testable"] and "10" in missing.attrs["reason"]
    assert np.isnan(missing.values).all()
    with pytest.raises(ValueError, match="reference_separation"):
        plasticity.ratio_to_separation(ds, reference_separation=0.0)
    doubled = ds.assign_coords(reference_deg=("condition", np.zeros(len(stim), np.float32)))
    with pytest.raises(ValueError, match="two conditions"):
        plasticity.ratio_to_separation(doubled)


def test_change_proportions_sum_to_one(planted):
    ds, _, d = planted
    for layers in (plasticity.CONV_LAYERS, plasticity.CONV_LAYERS[1:]):
        prop = plasticity.change_proportions(ds, layers=layers)
        np.testing.assert_allclose(prop.sum("layer").values, 1.0, rtol=1e-6)
        idx = [int(name[-1]) - 1 for name in layers]
        np.testing.assert_allclose(
            prop.values, d[:, idx] / d[:, idx].sum(1, keepdims=True), rtol=1e-5
        )


def test_not_testable_single_separation_and_bad_arguments(planted):
    ds, _, _ = planted
    one = ds.isel(condition=np.flatnonzero(ds.separation_deg.values == 2.0))
    table = plasticity.psi_regressions(one)
    pooled = table[table.model != "per_separation"]
    assert not pooled.testable.any() and pooled.beta.isna().all()
    assert all("log_sep" in r for r in pooled.reason)
    assert table[table.model == "per_separation"].testable.all()
    with pytest.raises(ValueError, match="measure"):
        plasticity.final_change(ds, measure="d_rel3")
    with pytest.raises(ValueError, match="layers"):
        plasticity.change_trajectories(ds, layers=["conv6"])
    with pytest.raises(ValueError, match="iteration"):
        plasticity.final_change(ds, iteration=-3)
    with pytest.raises(ValueError, match="ds"):
        plasticity.peak_speed_iteration(ds.drop_vars("layer_change"))
