"""Tests for vpl_jax.v1.metrics: FEV against its definition, the statistics with planted effects
and nulls, the von Mises width in closed form, the linearity index, the read-out energy."""

from __future__ import annotations

import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.v1 import metrics


def test_fev_equals_its_definition_with_nans():
    rng = np.random.default_rng(0)
    rate = rng.uniform(0.5, 5, (300, 3))
    y = rng.poisson(np.broadcast_to(rate, (4, 300, 3))).astype(float)
    y[2:, :, 0] = np.nan  # a 2-repeat neuron
    y[0, :10, 1] = np.nan
    pred = rate + rng.normal(0, 0.5, rate.shape)
    parts = metrics.fev_parts(y, pred)
    for n in range(3):
        yn = y[:, :, n]
        real = ~np.isnan(yn)
        mse = np.mean(((yn - pred[None, :, n]) ** 2)[real])
        tot = np.var(yn[real], ddof=1)
        noise = np.mean([np.var(c[~np.isnan(c)], ddof=1) for c in yn.T])
        np.testing.assert_allclose(parts["fev"][n], (tot - mse) / (tot - noise), rtol=1e-10)
        # equivalently 1 - (MSE - noise) / (Var - noise)
        np.testing.assert_allclose(parts["fev"][n], 1 - (mse - noise) / (tot - noise), rtol=1e-10)
    with pytest.raises(InputError, match=r"predictions must have shape \(n_images, N\)"):
        metrics.fev(y, pred[:10])


def test_mean_ci_and_paired_tests():
    rng = np.random.default_rng(1)
    x = rng.normal(0.5, 0.1, 200)
    m, lo, hi = metrics.mean_ci(x)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(2 * 1.972 * 0.1 / np.sqrt(200), rel=0.1)
    base = rng.uniform(0, 1, 80)
    scores = {
        "a": base + 0.05 + rng.normal(0, 0.01, 80),  # planted: a > b
        "b": base,
        "c": base + rng.normal(0, 0.01, 80),  # planted null: c ~ b
    }
    rows = {(r["a"], r["b"]): r for r in metrics.paired_tests(scores)}
    assert rows[("a", "b")]["significant"] and rows[("a", "b")]["mean_diff"] > 0.04
    assert not rows[("b", "c")]["significant"]
    for r in rows.values():
        assert r["p_holm"] >= r["p"] and r["n"] == 80
    with pytest.raises(InputError, match=r"at least two models"):
        metrics.paired_tests({"a": base})


def test_von_mises_width_closed_form_and_fit():
    theta = np.linspace(0, np.pi, 3601)
    for kappa in (0.5, 1.5, 4.0, 20.0):
        r = metrics.von_mises(theta, 0.0, 1.0, kappa, np.pi / 2)
        above = theta[r >= 0.5]
        # numerical width around theta0 = 90 deg (no wrap: every width here is < 180 deg)
        width = np.degrees(above.max() - above.min())
        assert metrics.fwhm_from_kappa(kappa) == pytest.approx(width, abs=0.2)
    assert metrics.fwhm_from_kappa(0.2) == 180.0  # never falls to half
    grid = np.arange(16) * np.pi / 16
    fit = metrics.fit_von_mises(grid, metrics.von_mises(grid, 2.0, 5.0, 3.0, 1.0))
    assert fit["fwhm"] == pytest.approx(float(metrics.fwhm_from_kappa(3.0)), abs=0.5)
    assert fit["theta0"] == pytest.approx(1.0, abs=0.01) and fit["baseline"] == pytest.approx(
        2.0, abs=0.05
    )
    assert np.isnan(metrics.fit_von_mises(grid, np.ones(16))["fwhm"])


def test_linearity_index():
    phi = np.arange(12) * 2 * np.pi / 12
    assert metrics.linearity_index(phi, 2.0 + 1.0 * np.cos(phi - 0.4)) == pytest.approx(
        0.5, abs=1e-12
    )
    assert metrics.linearity_index(phi, np.full(12, 3.0)) == pytest.approx(0.0, abs=1e-12)
    # half-wave rectified cosine: first harmonic 1/2, mean 1/pi -> pi/2
    assert metrics.linearity_index(phi, np.maximum(np.cos(phi), 0)) == pytest.approx(
        np.pi / 2, rel=0.05
    )


def test_insilico_tuning_of_planted_models():
    stim = metrics.gabor_stimuli(24, num_orientations=12, frequencies=(0.1, 0.2), num_phases=8)
    assert stim["images"].shape == (12, 2, 8, 24, 24)
    pref = stim["images"][3, 1, 2].ravel()  # a linear filter matched to one stimulus
    quad = stim["images"][3, 1, 4].ravel()  # the same, 90 deg out of phase

    def model(x):
        flat = x.reshape(len(x), -1)
        u, v = flat @ pref, flat @ quad
        return np.stack([1 + np.maximum(u, 0), 1 + (u**2 + v**2) / 100], axis=1)

    t = metrics.insilico_tuning(model, stim)
    assert t.linearity[0] > 1.0 and t.linearity[1] < 0.01
    assert t.preferred_orientation.tolist() == [stim["orientations"][3]] * 2
    assert np.all(t.preferred_frequency == 0.2)
    assert 0 < t.fwhm[0] < 90 and 0 < t.fwhm[1] < 90


def test_readout_energy():
    w = np.zeros((2, 2, 5, 2))
    w[:, :, 3, 0] = 1.0  # neuron 0: all energy in one map
    w[:, :, :, 1] = 1.0  # neuron 1: spread evenly
    e = metrics.readout_energy(w)
    np.testing.assert_allclose(e[0], 1.0)
    np.testing.assert_allclose(e[1], np.arange(1, 6) / 5)
