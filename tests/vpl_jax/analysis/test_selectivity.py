"""Tests of vpl_jax.analysis.selectivity: gOSI, shuffle control, coverage, the table."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vpl_jax import alexnet
from vpl_jax.analysis import gabor_fit, recording
from vpl_jax.analysis import selectivity as sel

THETA12 = np.arange(12) * 15.0


def cos_tuning(theta_deg, theta0_deg, baseline=1.0):
    return baseline + np.cos(np.deg2rad(2 * (np.asarray(theta_deg) - theta0_deg)))


# ------------------------------------------------------------------------------------------
# gOSI of synthetic tuning curves
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_ori", [4, 12, 36])
def test_gosi_of_one_plus_cos_is_one_half(n_ori):
    # Any theta0 (on or off the grid) and any positive scale: |sum| = N/2 * scale, sum = N * scale.
    theta = np.arange(n_ori) * 180.0 / n_ori
    theta0 = np.array([0.0, 7.3, 45.0, 100.0, 179.0])
    scale = np.array([1e-3, 1.0, 1e3])
    curves = scale[:, None, None] * cos_tuning(theta[None, None, :], theta0[None, :, None])
    value = jax.jit(lambda r: sel.gosi(r, theta))(curves.astype(np.float32))
    assert value.shape == (3, 5)
    np.testing.assert_allclose(value, 0.5, rtol=0, atol=2e-6)


@pytest.mark.parametrize("n_ori", [2, 12])
def test_gosi_of_constant_is_zero_and_of_delta_is_one(n_ori):
    theta = np.arange(n_ori) * 180.0 / n_ori
    delta = np.zeros((n_ori, n_ori))
    delta[np.arange(n_ori), np.arange(n_ori)] = 3.0  # a delta at every orientation
    np.testing.assert_allclose(sel.gosi(np.full(n_ori, 2.5), theta), 0.0, atol=1e-6)
    np.testing.assert_allclose(sel.gosi(delta, theta), np.ones(n_ori), rtol=0, atol=1e-6)


def test_gosi_closed_form_for_baseline_plus_cos():
    # b + cos 2(theta - theta0) on a 12-grid: |sum| = N/2, sum = N b  ->  gOSI = 1 / (2 b), b >= 1.
    for b in (1.0, 1.5, 4.0):
        np.testing.assert_allclose(
            sel.gosi(cos_tuning(THETA12, 30.0, baseline=b), THETA12), 1 / (2 * b), atol=2e-6
        )


def test_gosi_invariant_to_rotation_on_the_grid_and_to_scale():
    rng = np.random.default_rng(1)
    curves = rng.exponential(size=(20, 12)).astype(np.float32)
    ref = sel.gosi(curves, THETA12)
    for shift in (1, 5, 11):
        np.testing.assert_allclose(
            sel.gosi(np.roll(curves, shift, axis=-1), THETA12), ref, rtol=1e-5, atol=1e-6
        )
    np.testing.assert_allclose(sel.gosi(7.5 * curves, THETA12), ref, rtol=1e-5, atol=1e-6)
    assert np.all((np.asarray(ref) >= 0) & (np.asarray(ref) <= 1))


def test_gosi_rectifies_and_silent_units_score_zero_with_finite_gradient():
    curve = cos_tuning(THETA12, 60.0, baseline=0.0)  # half negative
    np.testing.assert_allclose(
        sel.gosi(curve, THETA12), sel.gosi(np.maximum(curve, 0), THETA12), atol=1e-7
    )
    assert float(sel.gosi(np.zeros(12), THETA12)) == 0.0
    assert float(sel.gosi(-np.ones(12), THETA12)) == 0.0
    grad = jax.grad(lambda r: sel.gosi(r, THETA12))(jnp.zeros(12))
    assert np.all(np.isfinite(grad))


def test_preferred_orientation_vector_average():
    for theta0 in (0.0, 22.0, 100.0, 179.0):
        po = float(sel.preferred_orientation(cos_tuning(THETA12, theta0), THETA12))
        diff = (po - theta0 + 90) % 180 - 90
        assert abs(diff) < 1e-3, (theta0, po)
        assert 0.0 <= po < 180.0


def test_orientation_tuning_takes_max_over_phase_at_the_best_frequency():
    rng = np.random.default_rng(2)
    n_sf, n_phase = 5, 4
    resp = rng.uniform(0.0, 0.5, size=(12, n_sf, n_phase))  # weak, untuned elsewhere
    curve = 2.5 + 2.0 * np.cos(np.deg2rad(2 * (THETA12 - 75.0)))  # in [0.5, 4.5], peak at 75 deg
    resp[:, 3, 2] = curve  # the best frequency (index 3), phase 2 carries the tuning
    resp[:, 3, 0] = 0.5 * curve  # a lower phase at the same frequency
    t = jax.jit(lambda r: sel.orientation_tuning(r, THETA12))(resp)
    assert int(t.best_frequency) == 3
    np.testing.assert_allclose(t.tuning, curve, rtol=1e-6)
    np.testing.assert_allclose(t.gosi, 0.4, atol=1e-6)  # 1 / (2 * 1.25)
    np.testing.assert_allclose(t.preferred_orientation_deg, 75.0, atol=1e-3)
    np.testing.assert_allclose(t.peak, 4.5, rtol=1e-6)
    # Leading unit axes are carried through.
    batch = sel.orientation_tuning(np.stack([resp, 2 * resp, 0 * resp]), THETA12)
    assert batch.gosi.shape == (3,) and batch.tuning.shape == (3, 12)
    np.testing.assert_allclose(batch.gosi, [0.4, 0.4, 0.0], atol=1e-6)


def test_threshold_is_strict_and_fraction_counts_where():
    g = np.array([0.1, 0.33, 0.34, 0.9])
    np.testing.assert_array_equal(sel.is_selective(g), [False, False, True, True])
    np.testing.assert_allclose(sel.fraction_selective(g), 0.5)
    np.testing.assert_allclose(
        sel.fraction_selective(g, where=np.array([True, True, True, False])), 1 / 3
    )
    np.testing.assert_allclose(sel.fraction_selective(g, 0.0), 1.0)


# ------------------------------------------------------------------------------------------
# Shuffle control
# ------------------------------------------------------------------------------------------


def test_orientation_shuffle_matches_the_analytic_chance_level(key):
    # E[gOSI^2] of a random relabelling is CV^2 / N exactly; compare a Monte Carlo mean of
    # gOSI^2 with it within 4 standard errors, for several curves.
    rng = np.random.default_rng(3)
    curves = np.concatenate(
        [rng.exponential(size=(3, 12)), cos_tuning(THETA12, 40.0)[None], rng.uniform(size=(1, 12))]
    )
    resp = np.broadcast_to(curves[:, :, None, None], (5, 12, 2, 3))  # same at every SF / phase
    num = 4000
    g = sel.shuffled_gosi(key, resp, THETA12, num_shuffles=num, mode="orientation")
    assert g.shape == (num, 5)
    g2 = np.asarray(g, np.float64) ** 2
    expected = np.asarray(sel.permutation_chance_gosi(curves), np.float64) ** 2
    se = g2.std(axis=0) / np.sqrt(num)
    assert np.all(np.abs(g2.mean(axis=0) - expected) < 4 * se + 1e-6), (g2.mean(0), expected, se)
    # A delta is still a delta after relabelling: chance level 1, every shuffle gives 1.
    delta = np.zeros(12)
    delta[4] = 1.0
    np.testing.assert_allclose(sel.permutation_chance_gosi(delta), 1.0, atol=1e-6)


def _shuffle_population():
    """600 i.i.d. exponential units, 3 copies of one more such unit, and 2 cos-tuned units."""
    rng = np.random.default_rng(4)
    iid = rng.exponential(size=(601, 12, 3, 4))
    copies = np.broadcast_to(iid[-1:], (2, 12, 3, 4))
    tuned = np.broadcast_to(cos_tuning(THETA12, 30.0)[:, None, None], (12, 3, 4))
    return np.concatenate([iid, copies, tuned[None], 3 * tuned[None]]).astype(np.float32)


@pytest.mark.parametrize("per_unit", [True, False])
def test_matrix_shuffle_control(key, per_unit, compilations):
    resp = _shuffle_population()
    num = 20
    shuf = np.asarray(
        sel.shuffled_gosi(key, resp, THETA12, num_shuffles=num, per_unit=per_unit), np.float64
    )
    assert shuf.shape == (num, 605)
    # For i.i.d. responses a shuffle is another draw of the same law, so the mean shuffled gOSI
    # equals the mean gOSI of independent units (Monte Carlo, within 4 standard errors).
    orig = np.asarray(sel.orientation_tuning(resp[:600], THETA12).gosi, np.float64)
    se = np.sqrt(orig.var() / 600 + shuf[:, :600].mean(axis=0).var() / 600)
    assert abs(orig.mean() - shuf[:, :600].mean()) < 4 * se, (orig.mean(), shuf.mean(), se)
    # Real tuning (gOSI 0.5) is destroyed by the shuffle.
    np.testing.assert_allclose(sel.orientation_tuning(resp[-2:], THETA12).gosi, 0.5, atol=1e-6)
    assert shuf[:, -2:].mean() < 0.3
    assert sel.fraction_selective(shuf[:, -2:].ravel()) < 0.5
    # Identical units: independent permutations (paper) or one shared permutation (seed code).
    if per_unit:
        assert not np.allclose(shuf[:, 600], shuf[:, 601])
    else:
        np.testing.assert_array_equal(shuf[:, 600], shuf[:, 601])
        np.testing.assert_array_equal(shuf[:, 600], shuf[:, 602])
    # Deterministic given the key, different for another key, no recompilation on a new key.
    other_key = jax.random.key(9)
    with compilations() as names:
        again = sel.shuffled_gosi(key, resp, THETA12, num_shuffles=num, per_unit=per_unit)
        other = sel.shuffled_gosi(other_key, resp, THETA12, num_shuffles=num, per_unit=per_unit)
    np.testing.assert_array_equal(again, shuf.astype(np.float32))
    assert not np.allclose(other, again)
    assert "_shuffled_gosi" not in names, names


def test_disable_jit_smoke(key):
    resp = np.random.default_rng(10).exponential(size=(3, 12, 2, 2)).astype(np.float32)
    jitted = sel.orientation_tuning(resp, THETA12).gosi
    with jax.disable_jit():
        t = sel.orientation_tuning(resp, THETA12)
        g = sel.shuffled_gosi(key, resp, THETA12, num_shuffles=2)
    np.testing.assert_allclose(t.gosi, jitted, rtol=1e-6)
    assert g.shape == (2, 3) and np.all((np.asarray(g) >= 0) & (np.asarray(g) <= 1))


# ------------------------------------------------------------------------------------------
# Coverage
# ------------------------------------------------------------------------------------------


def test_orientation_coverage_bins_wrap_and_mask():
    po = np.array([0.0, 7.4, 179.0, 15.0, 90.0, 170.0, 172.6])  # bin k covers k*15 +- 7.5 deg
    counts = sel.orientation_coverage(po, num_bins=12)
    expected = np.zeros(12, int)
    expected[0], expected[1], expected[6], expected[11] = 4, 1, 1, 1
    np.testing.assert_array_equal(counts, expected)
    masked = sel.orientation_coverage(po, where=po < 100)
    np.testing.assert_array_equal(masked, np.eye(12, dtype=int)[[0, 0, 1, 6]].sum(0))


def test_frequency_coverage_counts():
    best = np.array([0, 2, 2, 5, 2])
    np.testing.assert_array_equal(sel.frequency_coverage(best, 6), [1, 0, 3, 0, 0, 1])
    np.testing.assert_array_equal(
        sel.frequency_coverage(best, 6, where=best != 2), [1, 0, 0, 0, 0, 1]
    )


# ------------------------------------------------------------------------------------------
# Error paths
# ------------------------------------------------------------------------------------------


def test_errors_name_the_argument(key):
    resp = np.ones((4, 12, 2, 3))
    with pytest.raises(ValueError, match="responses"):
        jax.jit(lambda r: sel.orientation_tuning(r, THETA12).gosi)(np.ones((12, 3)))
    with pytest.raises(ValueError, match="orientations_deg"):
        jax.jit(lambda r: sel.orientation_tuning(r, THETA12[:6]).gosi)(resp)
    with pytest.raises(ValueError, match="orientations_deg"):
        sel.gosi(np.ones(12), THETA12.reshape(3, 4))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            jax.jit(lambda g, bad=bad: sel.is_selective(g, bad))(np.ones(3))
        with pytest.raises(ValueError, match="threshold"):
            sel.fraction_selective(np.ones(3), bad)
    with pytest.raises(ValueError, match="where"):
        sel.fraction_selective(np.ones(3), where=np.ones(4, bool))
    with pytest.raises(ValueError, match="mode"):
        sel.shuffled_gosi(key, resp, THETA12, mode="phase")
    with pytest.raises(ValueError, match="num_shuffles"):
        sel.shuffled_gosi(key, resp, THETA12, num_shuffles=0)
    with pytest.raises(ValueError, match="num_bins"):
        sel.orientation_coverage(np.ones(3), num_bins=0)


# ------------------------------------------------------------------------------------------
# Gratings through the network and the table (small images: 67 px is the smallest input of
# the Caffe stack, where every layer still has a centre unit)
# ------------------------------------------------------------------------------------------


# Module-scoped fixtures run outside the function-scoped strict-rank fixture of conftest.py:
# they enter the same context themselves (and compiled programs are then shared with the tests).


@pytest.fixture(scope="module")
def he_params():
    with jax.numpy_rank_promotion("raise"):
        return alexnet.init_params(jax.random.key(0))


SMALL = 67  # the smallest input of the Caffe stack: every layer still has a centre unit
TABLE_LAYERS = ("conv1", "norm1", "conv2", "norm2", "conv3", "conv4", "conv5")


def gabor_bank_params(params, n=96, wavelength=6.0, sigma=2.5):
    """``params`` with conv1 replaced by an ideal Gabor bank (n orientations, one frequency)."""
    rng = np.random.default_rng(0)
    gp = np.stack(
        [
            np.ones(n),
            np.zeros(n),
            np.zeros(n),
            np.arange(n) * 180.0 / n,
            np.full(n, sigma),
            np.full(n, sigma),
            np.full(n, 1 / wavelength),
            rng.uniform(0, 360, n),
            np.zeros(n),
        ],
        axis=1,
    )
    k = gabor_fit.gabor_kernel(gp, (11, 11))
    k *= np.sqrt(2) / np.linalg.norm(k, axis=(1, 2), keepdims=True)  # He-like scale
    w = np.transpose(k, (1, 2, 0))[:, :, None, :].astype(np.float32)
    return {**params, "conv1": {"w": jnp.asarray(w), "b": params["conv1"]["b"]}}


@pytest.fixture(scope="module")
def grating_gosi(he_params):
    """gOSI per layer for He weights and for the same net with a Gabor-bank conv1."""
    with jax.numpy_rank_promotion("raise"):
        return _grating_gosi(he_params)


def _grating_gosi(he_params):
    out = {}
    for name, params in (("he", he_params), ("gabor", gabor_bank_params(he_params))):
        resp = recording.grating_responses(params, layers=TABLE_LAYERS, size=SMALL)
        out[name] = {
            layer: sel.orientation_tuning(
                jnp.moveaxis(r, -1, 0), recording.DEFAULT_ORIENTATIONS_DEG
            )
            for layer, r in resp.items()
        }
    return out


def test_gabor_bank_conv1_is_orientation_selective_and_random_he_is_not(grating_gosi):
    # Note pretraining-measurements.md: ideal Gabor bank 0.76, random He conv1 0.14-0.17
    # (Gaussian filters 0.17); generous margins for our grid and image size.
    he = float(np.median(grating_gosi["he"]["conv1"].gosi))
    gabor = float(np.median(grating_gosi["gabor"]["conv1"].gosi))
    assert gabor > 0.6, gabor
    assert he < 0.3, he
    assert float(sel.fraction_selective(grating_gosi["gabor"]["conv1"].gosi)) > 0.9
    assert float(sel.fraction_selective(grating_gosi["he"]["conv1"].gosi)) < 0.4
    # The selectivity carries through random higher layers (the note: 0.45-0.50 vs 0.17-0.23).
    for layer in ("norm1", "norm2", "conv3"):
        assert np.median(grating_gosi["gabor"][layer].gosi) > np.median(
            grating_gosi["he"][layer].gosi
        ), layer
    # A Gabor bank covers all orientations: every 15-degree bin holds some preferred orientation.
    cover = sel.orientation_coverage(grating_gosi["gabor"]["conv1"].preferred_orientation_deg)
    assert np.all(np.asarray(cover) >= 4), cover
    # ... and prefers the wavelength nearest its own (6 px): index 1 (5.66 px) of the grid.
    freq = sel.frequency_coverage(grating_gosi["gabor"]["conv1"].best_frequency, 6)
    assert int(np.argmax(freq)) == 1, freq


def test_grating_orientation_convention_matches_the_filter(grating_gosi):
    # Gabor filter j has its wave vector at j * 180/96 deg in (x right, y up) coordinates, i.e.
    # carrier x' = cos(a) x - sin(a) y with a = -j * 1.875 deg: it must prefer that grating angle.
    po = np.asarray(grating_gosi["gabor"]["conv1"].preferred_orientation_deg)
    expected = np.mod(-np.arange(96) * 180.0 / 96, 180.0)
    diff = (po - expected + 90) % 180 - 90
    assert np.median(np.abs(diff)) < 5.0, diff


def test_selectivity_table_and_format(he_params, key):
    params = gabor_bank_params(he_params)
    df = sel.selectivity_table(
        params, key=key, size=SMALL, num_shuffles=4, num_noise=1, layers=TABLE_LAYERS
    )
    assert list(df["layer"]) == list(TABLE_LAYERS)
    assert list(df["n_units"]) == [96, 96, 256, 256, 384, 384, 256]
    conv1 = df.set_index("layer").loc["conv1"]
    assert conv1["median_gosi"] > 0.6 and conv1["frac_selective"] > 0.9
    assert conv1["shuffle_frac_selective"] < conv1["frac_selective"]
    assert conv1["frac_gabor_r2"] == 1.0 and conv1["gabor_r2_median"] > 0.99
    assert np.isnan(df.set_index("layer").loc["conv3", "frac_gabor_r2"])
    assert all(0 <= n <= u for n, u in zip(df["n_included"], df["n_units"], strict=True))
    text = sel.format_table(df)
    for layer in TABLE_LAYERS:
        assert f"\n{layer} " in text
    assert "median gOSI" in text and "gOSI > 0.33" in text
    with pytest.raises(ValueError, match="layers"):
        sel.selectivity_table(params, key=key, size=SMALL, layers=("conv9",))
    with pytest.raises(ValueError, match="threshold"):
        sel.selectivity_table(params, key=key, size=SMALL, threshold=2.0)
    with pytest.raises(ValueError, match="size"):
        sel.selectivity_table(params, key=key, size=40)
