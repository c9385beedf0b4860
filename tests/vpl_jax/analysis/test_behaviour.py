"""Tests of vpl_jax.analysis.behaviour on synthetic results Datasets with planted effects.

References are independent: statsmodels / scipy called directly on the same numbers, numpy
least squares for the type-II sums of squares, and hand-computed group means.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

from vpl_jax import train
from vpl_jax.analysis import behaviour
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


def make_config(seps=train.PAPER_SEPARATIONS, refs=REFS, wavelengths=(20.0, 40.0), **tc):
    grid = Grid(
        reference_deg=refs,
        separation_deg=seps,
        wavelength_px=wavelengths,
        contrast=(0.5,),
        noise_sd=(5.0,),
    )
    tc.setdefault("test_separations", train.PAPER_SEPARATIONS)
    return RunConfig(preset="smoke", grid=grid, train=TrainConfig(**tc))


def make_ds(config, **arrays):
    """A results Dataset of ``config`` (via `results_dataset`), zeros unless given."""
    tc = config.train
    c, e = len(config.grid), len(tc.eval_iterations)
    n_t, n_l, n_s = len(train.TEST_CONDITIONS), len(tc.layer_names), len(tc.test_separations)
    shapes = {
        "accuracy": (c, e, n_t),
        "accuracy_sym": (c, e, n_t),
        "layer_change": (c, e, n_l, len(train.CHANGE_MEASURES)),
        "train_loss": (c, e),
        "separation_accuracy": (c, n_t, n_s),
        "separation_accuracy_sym": (c, n_t, n_s),
    }
    results = {k: np.asarray(arrays.get(k, np.zeros(s)), np.float32) for k, s in shapes.items()}
    for k, s in shapes.items():
        assert results[k].shape == s, k
    return results_dataset(config, results, WEIGHTS_INFO)


BETAS = {"trained": 0.0, "ori+45": 0.04, "ori+90": 0.02, "sf*0.5": 0.03, "sf*2": 0.05}


@pytest.fixture(scope="module")
def planted():
    """Final accuracy = 0.7 + beta_test * ln(sep) + N(0, 0.02^2) (float64 values in float32)."""
    config = make_config()
    rng = np.random.default_rng(0)
    seps = config.grid.table()["separation_deg"].astype(float)
    c, e = len(seps), len(config.train.eval_iterations)
    acc = np.empty((c, e, 5))
    for j, test in enumerate(train.TEST_CONDITIONS):
        final = 0.7 + BETAS[test] * np.log(seps) + rng.normal(0.0, 0.02, c)
        acc[:, :, j] = np.linspace(0.5, 1.0, e)[None, :] * final[:, None]
    acc[:, :, 0] = np.linspace(0.6, 0.98, e)[None, :]
    ds = make_ds(config, accuracy=acc)
    return config, ds


def test_final_transfer_regression_recovers_planted_slope(planted):
    _, ds = planted
    table = behaviour.final_transfer_regression(ds)
    assert list(table.test) == list(behaviour.TRANSFER_TESTS)
    assert table.testable.all()
    seps = ds.separation_deg.values.astype(float)
    for _, row in table.iterrows():
        beta = BETAS[row.test]
        assert row.ci_low < beta < row.ci_high
        assert row.p < 1e-10 and row.n == seps.size and row.df_resid == seps.size - 2
        # statsmodels directly on the same numbers
        y = ds.accuracy.isel(iteration=-1).sel(test=row.test).values.astype(float)
        fit = smf.ols("y ~ x", pd.DataFrame({"y": y, "x": np.log(seps)})).fit()
        np.testing.assert_allclose(row.beta, fit.params["x"], rtol=1e-12)
        np.testing.assert_allclose(row.p, fit.pvalues["x"], rtol=1e-9)
        np.testing.assert_allclose(row.se, fit.bse["x"], rtol=1e-12)
        # scipy's linregress as a second, independent reference (single predictor: r2_term = r2)
        lr = scipy.stats.linregress(np.log(seps), y)
        np.testing.assert_allclose(row.beta, lr.slope, rtol=1e-9)
        np.testing.assert_allclose(row.r2_term, lr.rvalue**2, rtol=1e-9)
        np.testing.assert_allclose(row.r2, lr.rvalue**2, rtol=1e-9)


def ss_res(y, *cols):
    """Residual sum of squares of the least-squares fit of y on an intercept and ``cols``."""
    design = np.stack([np.ones_like(y), *cols], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.sum((y - design @ coef) ** 2))


def test_separation_regression_planted_terms_and_type2_r2():
    config = make_config()
    rng = np.random.default_rng(1)
    seps = config.grid.table()["separation_deg"].astype(float)
    test_seps = np.asarray(config.train.test_separations, float)
    c = seps.size
    b_test, b_train = 0.05, -0.01
    sep_acc = np.empty((c, 5, test_seps.size))
    for j in range(5):
        sep_acc[:, j, :] = (
            0.7
            + b_test * np.log(test_seps)[None, :]
            + b_train * np.log(seps)[:, None]
            + rng.normal(0.0, 0.02, (c, test_seps.size))
        )
    ds = make_ds(config, separation_accuracy=sep_acc)
    table = behaviour.separation_regression(ds)
    assert len(table) == 2 * len(behaviour.TRANSFER_TESTS) and table.testable.all()
    for test in behaviour.TRANSFER_TESTS:
        rows = table[table.test == test].set_index("term")
        assert rows.loc["log_test_sep", "ci_low"] < b_test < rows.loc["log_test_sep", "ci_high"]
        assert rows.loc["log_train_sep", "ci_low"] < b_train < rows.loc["log_train_sep", "ci_high"]
        assert rows.loc["log_train_sep", "beta"] < 0 < rows.loc["log_test_sep", "beta"]
        # type-II SS by numpy least squares: SS_res(without term) - SS_res(full), over SS_tot
        y = ds.separation_accuracy.sel(test=test).values.astype(float).reshape(-1)
        x_test = np.tile(np.log(test_seps), c)
        x_train = np.repeat(np.log(seps), test_seps.size)
        full = ss_res(y, x_test, x_train)
        sst = float(np.sum((y - y.mean()) ** 2))
        np.testing.assert_allclose(
            rows.loc["log_test_sep", "r2_term"], (ss_res(y, x_train) - full) / sst, rtol=1e-8
        )
        np.testing.assert_allclose(
            rows.loc["log_train_sep", "r2_term"], (ss_res(y, x_test) - full) / sst, rtol=1e-8
        )
        np.testing.assert_allclose(rows.loc["log_test_sep", "r2"], 1.0 - full / sst, rtol=1e-8)
        assert rows.loc["log_test_sep", "n"] == y.size
        assert rows.loc["log_test_sep", "df_resid"] == y.size - 3


def test_separation_matrices_mean_over_conditions():
    config = make_config(wavelengths=(20.0,))
    rng = np.random.default_rng(2)
    c = len(config.grid)
    sep_acc = rng.uniform(0.5, 1.0, (c, 5, 5))
    ds = make_ds(config, separation_accuracy=sep_acc)
    mats = behaviour.separation_matrices(ds)
    seps = config.grid.table()["separation_deg"].astype(float)
    assert mats["mean"].dims == ("separation", "test", "test_separation")
    for i, sep in enumerate(np.unique(seps)):
        want = sep_acc[np.isclose(seps, sep)].astype(np.float32).astype(float).mean(axis=0)
        np.testing.assert_allclose(mats["mean"].values[i], want, rtol=1e-6)
        assert int(mats["n"].values[i, 0, 0]) == int(np.sum(np.isclose(seps, sep)))


def test_transfer_index_known_numbers():
    config = make_config(seps=(1.0, 10.0), refs=(0.0,), wavelengths=(20.0,))
    e = len(config.train.eval_iterations)
    acc = np.zeros((2, e, 5))
    acc[:, :, 0] = 0.8
    acc[:, :, 1] = 0.6  # ori+45: TI = 0.75
    acc[:, :, 2] = 0.4  # ori+90: TI = 0.5
    acc[:, :, 3] = 0.8  # sf*0.5: TI = 1
    acc[:, :, 4] = 0.72  # sf*2: TI = 0.9
    acc[1, 3, 0] = 0.0  # a zero trained accuracy gives NaN, never inf
    ds = make_ds(config, accuracy=acc)
    ti = behaviour.transfer_index(ds)
    assert ti.dims == ("condition", "iteration", "test")
    assert list(ti.test.values) == list(behaviour.TRANSFER_TESTS)
    np.testing.assert_allclose(ti.values[0, 0], [0.75, 0.5, 1.0, 0.9], rtol=1e-6)
    assert np.all(np.isnan(ti.values[1, 3]))
    assert np.isfinite(ti.values[1, 2]).all()
    one = behaviour.transfer_index(ds, tests="ori+90")
    np.testing.assert_allclose(one.values[0, :, 0], 0.5, rtol=1e-6)


def test_accuracy_curves_and_initial_accuracy_group_stats(planted):
    config, ds = planted
    acc = ds.accuracy.values.astype(float)
    seps = ds.separation_deg.values.astype(float)
    curves = behaviour.accuracy_curves(ds)
    init = behaviour.initial_accuracy(ds)
    i1 = list(ds.iteration.values).index(1)
    for i, sep in enumerate(np.unique(seps)):
        group = acc[seps == sep]
        np.testing.assert_allclose(curves["mean"].values[i], group.mean(0), rtol=1e-6)
        np.testing.assert_allclose(curves["sd"].values[i], group.std(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(init["mean"].values[i], group[:, i1].mean(0), rtol=1e-6)
    fin = behaviour.final_transfer_accuracy(ds)
    assert fin["mean"].dims == ("separation", "test")
    np.testing.assert_allclose(
        fin["mean"].sel(test="ori+45").values,
        [acc[seps == s, -1, 1].mean() for s in np.unique(seps)],
        rtol=1e-6,
    )


def test_not_testable_rows_single_separation():
    config = make_config(seps=(2.0,), wavelengths=(20.0,))
    rng = np.random.default_rng(3)
    e = len(config.train.eval_iterations)
    ds = make_ds(config, accuracy=rng.uniform(0.5, 1, (12, e, 5)))
    table = behaviour.final_transfer_regression(ds)
    assert len(table) == 4 and not table.testable.any()
    assert table.beta.isna().all() and table.p.isna().all()
    assert all("log_sep" in r for r in table.reason)
    # the 5x5 regression: one training separation makes log_train_sep untestable
    sep_table = behaviour.separation_regression(ds)
    assert not sep_table.testable.any() and all("log_train_sep" in r for r in sep_table.reason)


def test_not_testable_constant_response_and_rank_deficiency():
    data = pd.DataFrame({"y": np.ones(10), "x": np.arange(10.0)})
    table = behaviour.ols_table(data, "y ~ x", ["x"])
    assert not table.testable[0] and "constant" in table.reason[0]
    data = pd.DataFrame({"y": np.arange(10.0) ** 2, "x": np.arange(10.0), "z": 2 * np.arange(10.0)})
    table = behaviour.ols_table(data, "y ~ x + z", ["x", "z"])
    assert not table.testable.any() and "rank" in table.reason[0]
    data = pd.DataFrame({"y": [1.0, 2.0], "x": [0.0, 1.0]})
    table = behaviour.ols_table(data, "y ~ x", ["x"])
    assert not table.testable[0] and "observations" in table.reason[0]
    # non-finite rows are dropped, not propagated
    data = pd.DataFrame({"y": [1.0, 2.0, np.nan, 3.5, 4.0], "x": [0.0, 1.0, 2.0, 3.0, 4.0]})
    table = behaviour.ols_table(data, "y ~ x", ["x"])
    assert table.testable[0] and table.n[0] == 4


def test_bad_arguments_raise(planted):
    _, ds = planted
    with pytest.raises(ValueError, match="variable"):
        behaviour.accuracy_curves(ds, variable="loss")
    with pytest.raises(ValueError, match="tests"):
        behaviour.final_transfer_regression(ds, tests=("ori+30",))
    with pytest.raises(ValueError, match="iteration"):
        behaviour.initial_accuracy(ds, iteration=7)
    with pytest.raises(ValueError, match="ds"):
        behaviour.transfer_index({"accuracy": 1})
    with pytest.raises(ValueError, match="variable"):
        behaviour.separation_matrices(ds, variable="accuracy")
    with pytest.raises(ValueError, match="alpha"):
        behaviour.final_transfer_regression(ds, alpha=1.5)
    with pytest.raises(ValueError, match="column"):
        behaviour.ols_table(pd.DataFrame({"y": [1.0]}), "y ~ x", ["x"])
    with pytest.raises(ValueError, match="ds lacks"):
        behaviour.separation_matrices(ds.drop_vars("separation_accuracy"))
