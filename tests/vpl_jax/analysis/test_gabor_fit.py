"""Tests of vpl_jax.analysis.gabor_fit: the Gabor model, its Jacobian, fits and conv1 kernels."""

import numpy as np
import pytest

from vpl_jax.analysis import gabor_fit as gf

# ------------------------------------------------------------------------------------------
# Gabor fits
# ------------------------------------------------------------------------------------------


def random_gabor_params(rng, k):
    return np.stack(
        [
            rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 2.0, k),
            rng.uniform(-1.5, 1.5, k),
            rng.uniform(-1.5, 1.5, k),
            rng.uniform(0, 180, k),
            rng.uniform(1.3, 3.0, k),
            rng.uniform(1.3, 3.0, k),
            1 / rng.uniform(3.0, 9.0, k),
            rng.uniform(-180, 180, k),
            rng.normal(0, 0.05, k),
        ],
        axis=1,
    )


def test_gabor_bank_fits_well_and_white_noise_does_not():
    rng = np.random.default_rng(7)
    true = random_gabor_params(rng, 16)
    bank = gf.gabor_kernel(true, (11, 11))
    bank = bank + 0.02 * np.abs(bank).max() * rng.normal(size=bank.shape)
    fit = gf.fit_gabors(bank)
    assert np.all(fit.r2 >= 0.9), fit.r2
    # Orientation in the stimulus convention: the wave vector angle theta is a = -theta.
    diff = (fit.orientation_deg - np.mod(-true[:, 3], 180) + 90) % 180 - 90
    assert np.all(np.abs(diff) < 5.0), diff
    np.testing.assert_allclose(fit.wavelength_px, 1 / true[:, 6], rtol=0.1)

    noise = gf.fit_gabors(rng.normal(size=(16, 11, 11)))
    assert np.all(noise.r2 < 0.5), noise.r2
    assert np.all(noise.r2 >= 0.0)


def test_gabor_jacobian_matches_central_differences():
    p = np.array([1.3, 0.3, -0.5, 30.0, 2.0, 2.5, 0.2, 45.0, 0.1])
    eps = 1e-6
    numeric = np.stack(
        [
            (gf.gabor_kernel(p + eps * e, (11, 9)) - gf.gabor_kernel(p - eps * e, (11, 9))).ravel()
            / (2 * eps)
            for e in np.eye(9)
        ],
        axis=1,
    )
    np.testing.assert_allclose(gf._gabor_jacobian(p, (11, 9)), numeric, rtol=1e-6, atol=1e-7)


def test_conv1_kernels_sum_colour_channels():
    w = np.random.default_rng(8).normal(size=(11, 11, 3, 5))
    k = gf.conv1_kernels({"conv1": {"w": w, "b": np.zeros(5)}})
    assert k.shape == (5, 11, 11)
    np.testing.assert_allclose(k[2], w[:, :, :, 2].sum(-1))


def test_gabor_kernel_closed_form_and_fit_example():
    # At the centre of an odd kernel (x = y = 0) with x0 = y0 = 0: A cos(phase) + c.
    p = np.array([2.0, 0.0, 0.0, 30.0, 2.0, 3.0, 0.1, 60.0, 0.25])
    k = gf.gabor_kernel(p, (7, 9))
    assert k.shape == (7, 9)
    np.testing.assert_allclose(k[3, 4], 2.0 * np.cos(np.deg2rad(60.0)) + 0.25, rtol=1e-12)
    assert gf.GABOR_PARAM_NAMES[3] == "theta_deg" and len(gf.GABOR_PARAM_NAMES) == 9
    # A constant kernel: R^2 = 0 and amplitude 0 (no fit is attempted).
    flat = gf.fit_gabors(np.full((1, 5, 5), 3.0))
    assert flat.r2[0] == 0.0 and flat.params[0, 0] == 0.0


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="kernels"):
        gf.fit_gabors(np.ones((11, 11)))
    with pytest.raises(ValueError, match="kernels"):
        gf.fit_gabors(np.full((1, 11, 11), np.nan))
    with pytest.raises(ValueError, match="num_starts"):
        gf.fit_gabors(np.ones((1, 11, 11)), num_starts=5)
    with pytest.raises(ValueError, match="params"):
        gf.gabor_kernel(np.ones(8), (5, 5))
    with pytest.raises(ValueError, match="layer"):
        gf.conv1_kernels({"conv2": {}})
    with pytest.raises(ValueError, match="HWIO"):
        gf.conv1_kernels({"conv1": {"w": np.ones((3, 3, 2))}})
