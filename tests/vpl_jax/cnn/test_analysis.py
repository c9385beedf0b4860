"""The CNN analyses on planted data: correlations, ablation, SF range, shift invariance."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from scipy import stats

from theory.checks import InputError
from vpl_jax.analysis import selectivity
from vpl_jax.cnn import analysis, model, tuning

LAYERS = model.TUNING_LAYERS


def _history(val_loss, test_loss, gosi, best_epoch, groups):
    c, e = val_loss.shape
    return xr.Dataset(
        {
            "val_loss": (("network", "epoch"), val_loss),
            "test_loss": (("network", "epoch"), test_loss),
            "mean_gosi": (("network", "epoch", "layer"), gosi),
        },
        coords={
            "network": np.arange(c),
            "epoch": np.arange(1, e + 1),
            "layer": list(LAYERS),
            "best_epoch": ("network", best_epoch),
            "group": ("network", groups),
        },
    )


def test_spearman_by_layer_against_scipy_with_planted_signs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = np.stack([-x, x**3, rng.normal(size=30), np.ones(30), x, -x, x], axis=1)
    t = analysis.spearman_by_layer(x, y)
    np.testing.assert_allclose(t["rho"].to_numpy()[[0, 1, 4, 5]], [-1, 1, 1, -1], atol=1e-12)
    ref = stats.spearmanr(x, y[:, 2])
    assert t.loc["conv3", "rho"] == pytest.approx(ref.statistic, abs=1e-12)
    assert t.loc["conv3", "p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert np.isnan(t.loc["conv4", "rho"])  # a constant series has no rank correlation
    with pytest.raises(InputError, match="y must be"):
        analysis.spearman_by_layer(x, y[:, :3])


def test_dynamics_uses_the_first_50_epochs_only():
    e = 80
    val = np.linspace(2.0, 1.0, e)[None]
    g = np.zeros((1, e, 7))
    g[0, :50, :] = np.linspace(0.1, 0.5, 50)[:, None]  # rises while val loss falls
    g[0, 50:, :] = np.linspace(0.5, 0.0, 30)[:, None]  # later epochs would break the order
    h = _history(val, val, g, np.array([80]), ["dynamics"])
    t = analysis.dynamics_correlation(h, 0)
    np.testing.assert_allclose(t["rho"], -1.0, atol=1e-12)
    assert (t["n"] == 50).all()
    assert analysis.dynamics_correlation(h, 0, first=80)["rho"].iloc[0] > -0.9


def test_population_reads_each_networks_best_epoch():
    rng = np.random.default_rng(1)
    c, e = 12, 5
    test = rng.uniform(1, 2, (c, e))
    g = rng.uniform(0, 1, (c, e, 7))
    best = rng.integers(1, e + 1, c)
    loss_at_best = test[np.arange(c), best - 1]
    g[np.arange(c), best - 1, 1] = -loss_at_best  # Conv 2 planted: rho = -1
    h = _history(test, test, g, best, ["population"] * c)
    t, (loss, gg) = analysis.population_correlation(h, np.arange(c))
    np.testing.assert_allclose(loss, loss_at_best)
    assert t.loc["conv2", "rho"] == pytest.approx(-1.0)
    assert abs(t.loc["conv1", "rho"]) < 0.9


def _network(key):
    return model.init(key)


def test_per_image_loss_and_fc_ablation_against_numpy(key):
    """Ablating bn7 channels: the loss change computed independently from bn7 and fc2."""
    v = _network(key)
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (16, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, 16)
    mean = np.full((32, 32, 3), 0.5, np.float32)
    gosi = rng.uniform(0, 1, 512)
    res = analysis.ablation_impact(v, images, labels, mean, gosi, "fc1")
    _, acts = model.apply(v, (images / 255.0 - mean).astype(np.float32))
    bn7 = np.asarray(acts["bn7"], np.float64)
    w = np.asarray(v["params"]["fc2"]["kernel"], np.float64)
    b = np.asarray(v["params"]["fc2"]["bias"], np.float64)

    def ce(h):
        z = h @ w + b
        z = z - z.max(1, keepdims=True)
        return -(z[np.arange(16), labels] - np.log(np.exp(z).sum(1)))

    order = np.argsort(-gosi)
    top, bottom = np.sort(order[:256]), np.sort(order[256:])
    np.testing.assert_array_equal(res.top_channels, top)
    np.testing.assert_array_equal(res.bottom_channels, bottom)
    for chans, got in ((top, res.top), (bottom, res.bottom)):
        h = bn7.copy()
        h[:, chans] = 0
        np.testing.assert_allclose(got, ce(h) - ce(bn7), rtol=1e-4, atol=1e-5)
    ref_p = stats.wilcoxon(res.top, res.bottom).pvalue
    assert res.p == pytest.approx(ref_p)


def test_ablation_planted_effect_and_null(key):
    """fc2 reads only the top-gOSI half of bn7: top ablation changes the loss, bottom cannot."""
    v = _network(key)
    gosi = np.linspace(0, 1, 512)  # channels 256..511 are the top half
    kernel = np.asarray(v["params"]["fc2"]["kernel"]).copy()
    kernel[:256] = 0.0
    v = {
        "params": {**v["params"], "fc2": {**v["params"]["fc2"], "kernel": jnp.asarray(kernel)}},
        "batch_stats": v["batch_stats"],
    }
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (12, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, 12)
    res = analysis.ablation_impact(
        v, images, labels, np.zeros((32, 32, 3), np.float32), gosi, "fc1"
    )
    assert np.all(res.bottom == 0.0)
    assert np.all(res.top != 0.0)
    assert np.isnan(res.activity_top)  # no grating responses given
    with pytest.raises(InputError, match="layer must be one of"):
        analysis.ablation_impact(v, images, labels, np.zeros((32, 32, 3)), gosi, "bn7")


def test_conv_ablation_zeroes_bn_output(key):
    v = _network(key)
    images = np.random.default_rng(4).integers(0, 256, (6, 32, 32, 3)).astype(np.uint8)
    labels = np.arange(6)
    mean = np.zeros((32, 32, 3), np.float32)
    gosi = np.arange(32.0) / 32
    res = analysis.ablation_impact(v, images, labels, mean, gosi, "conv2")
    # the same loss change by masking bn2 channels 16..31 directly
    m = jnp.ones(32).at[16:].set(0.0)
    got = analysis.per_image_loss(
        v, images, labels, mean, masks={"bn2": m}
    ) - analysis.per_image_loss(v, images, labels, mean)
    np.testing.assert_allclose(res.top, got, rtol=1e-5, atol=1e-6)


def test_preferred_orientation_range_circular_and_rules():
    r = np.zeros((3, 12, 4, 2))
    r[0, 2, :, 0] = 1.0  # 30 deg at every SF: range 0
    r[1, 2, :3, 0] = 1.0
    r[1, 10, 3, 0] = 0.8  # 150 deg at the 4th SF (80 % of the peak): wraps, range 60
    r[2, 2, :3, 0] = 1.0
    r[2, 6, 3, 0] = 0.4  # 90 deg at 40 % of the peak: excluded by the paper's 50 % rule
    gosi = np.array([0.9, 0.9, 0.9])
    got = analysis.preferred_orientation_range(r, gosi)
    np.testing.assert_allclose(got, [0.0, 60.0, 0.0])
    # the code's rule keeps SFs above the midpoint of the per-SF peaks: unit 1's peaks are
    # 1, 1, 1, 0.8 (midpoint 0.9), so its 150-deg SF drops out and the range is 0
    np.testing.assert_allclose(
        analysis.preferred_orientation_range(r, gosi, rule="code"), [0.0, 0.0, 0.0]
    )
    r[2, 2, 0, 0] = 0.5  # peaks now 0.5, 1, 1, 0.4 -> code threshold 0.7 drops SF 0 only
    assert analysis.preferred_orientation_range(r, gosi, rule="code")[2] == 0.0
    assert np.isnan(analysis.preferred_orientation_range(r, np.array([0.9, 0.2, 0.9]))[1])


def test_shift_invariance_planted_null_and_effect(key):
    v = _network(key)
    mean = np.zeros((32, 32, 3), np.float32)
    flat = np.full((6, 32, 32, 3), 100, np.uint8)
    flat[3:] = 200
    res = analysis.shift_invariance(v, flat, mean)
    # uniform images do not change under shifts with nearest fill: every CV is exactly 0
    for k in LAYERS:
        finite = res.cv[k][np.isfinite(res.cv[k])]
        assert finite.size > 0 and np.all(finite == 0.0)
    noise = np.random.default_rng(5).integers(0, 256, (20, 32, 32, 3)).astype(np.uint8)
    res2 = analysis.shift_invariance(v, noise, mean)
    assert res2.mean["conv1"] > 0.1
    assert np.isfinite(res2.se["conv1"])


def test_shift_images_nearest_fill():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    y = np.asarray(analysis.shift_images(x, 1, 0))[0, :, :, 0]
    np.testing.assert_array_equal(y[0], [0, 1, 2, 3])  # the edge row repeats
    np.testing.assert_array_equal(y[1:], np.arange(12.0).reshape(3, 4))


def test_shuffle_control_lowers_a_selective_unit(key):
    theta = tuning.ORIENTATIONS_DEG
    sharp = np.exp(4 * (np.cos(np.deg2rad(2 * (theta - 60))) - 1))
    r = {
        "conv1": np.broadcast_to(
            sharp[:, None, None] * np.linspace(0.2, 1, 9)[:, None], (12, 9, 4)
        )[None].repeat(50, 0)
    }
    shuffled = analysis.shuffle_control(key, r)["conv1"]
    original = float(selectivity.orientation_tuning(r["conv1"][0], theta).gosi)
    assert original > 0.7
    assert shuffled.shape == (50,) and shuffled.mean() < 0.5 * original
    assert np.unique(np.round(shuffled, 6)).size > 10  # a fresh permutation per unit
