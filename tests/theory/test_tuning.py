"""Tests for theory.tuning: population tuning curves and the task vectors g+-, d, v."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import tuning as tu


def test_von_mises_matches_formula_and_design_defaults():
    theta = 0.3
    phi = np.arange(180) * np.pi / 180
    expected = 0.1 + 1.0 * np.exp(2.0 * (np.cos(2 * (theta - phi)) - 1.0))
    np.testing.assert_allclose(tu.von_mises_population(theta), expected, rtol=1e-14, atol=0)
    # the neuron preferring the stimulus responds baseline + amplitude; period pi
    f = tu.von_mises_population(np.pi / 3, n=6, kappa=3.0, amplitude=2.0, baseline=0.5)
    np.testing.assert_allclose(f[2], 2.5, rtol=1e-14)
    g = tu.von_mises_population(np.pi / 3 + np.pi, n=6, kappa=3.0, amplitude=2.0, baseline=0.5)
    np.testing.assert_allclose(f, g, rtol=1e-12, atol=1e-14)


def test_gaussian_wraps_with_period_pi_and_peaks_at_preference():
    f = tu.gaussian_population(0.1, n=90, sigma_rad=0.2)
    g = tu.gaussian_population(0.1 + np.pi, n=90, sigma_rad=0.2)
    np.testing.assert_allclose(f, g, rtol=1e-12, atol=1e-14)
    phi = np.asarray(tu.preferred_orientations(90))
    delta = (0.1 - phi + np.pi / 2) % np.pi - np.pi / 2
    np.testing.assert_allclose(f, 0.1 + np.exp(-0.5 * (delta / 0.2) ** 2), rtol=1e-13, atol=0)


def test_population_broadcasts_over_stimuli():
    thetas = jnp.array([[0.1, 0.2], [0.3, 0.4]])
    out = tu.von_mises_population(thetas, n=12)
    assert out.shape == (2, 2, 12)
    np.testing.assert_allclose(out[1, 0], tu.von_mises_population(0.3, n=12), rtol=1e-14)


@pytest.mark.parametrize("tuning", ["von_mises", "gaussian"])
@pytest.mark.parametrize("n", [60, 180])
def test_task_vectors_equal_norms_and_v_is_half_d_squared(tuning, n):
    dth = jnp.deg2rad(jnp.array([1.0, 5.0, 20.0, 90.0]))
    task = tu.task_vectors(dth, n=n, tuning=tuning)
    assert task.g_plus.shape == (4, n) and task.v.shape == (4,)
    np.testing.assert_array_less(np.asarray(tu.norm_mismatch(task.g_plus, task.g_minus)), 1e-13)
    np.testing.assert_allclose(task.v, 0.5 * jnp.sum(task.d * task.d, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(task.v, -jnp.sum(task.d * task.g_minus, axis=-1), rtol=1e-12)
    assert np.all(np.diff(np.asarray(task.v)) > 0)  # larger separation = easier task


def test_small_separation_v_matches_fisher_slope():
    # v ~ 1/2 dtheta^2 sum_j f_j'(theta0)^2, f' by forward-mode autodiff
    theta0 = np.pi / 4
    slope = jax.jacfwd(tu.von_mises_population)(jnp.asarray(theta0))
    for dth in (1e-3, 1e-2):
        v = tu.task_vectors(dth).v
        approx = 0.5 * dth**2 * jnp.sum(slope**2)
        np.testing.assert_allclose(v, approx, rtol=dth**2)  # error O(dtheta^2) relative


def test_task_vectors_vmap_equals_loop():
    dths = jnp.deg2rad(jnp.array([2.0, 10.0, 45.0]))
    kappas = jnp.array([1.0, 2.0, 4.0])
    batched = jax.jit(jax.vmap(lambda d, k: tu.task_vectors(d, kappa=k)))(dths, kappas)
    for i in range(3):
        single = tu.task_vectors(dths[i], kappa=kappas[i])
        for a, b in zip(batched, single, strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-13, atol=1e-15)


def test_check_equal_norms_raises_and_flags():
    task = tu.task_vectors(0.1)
    tu.check_equal_norms(task.g_plus, task.g_minus)  # symmetric: no error
    g_minus = task.g_minus * 1.01
    with pytest.raises(ValueError, match=r"g_plus and g_minus must have equal norms"):
        tu.check_equal_norms(task.g_plus, g_minus)
    # inside jit the check cannot raise; the mismatch is the status value
    flag = jax.jit(tu.norm_mismatch)(task.g_plus, g_minus)
    np.testing.assert_allclose(flag, 1.01**2 - 1, rtol=1e-10)
    # off-grid reference orientation with a coarse grid breaks the symmetry
    off = tu.task_vectors(0.3, theta0_rad=0.1, n=7)
    with pytest.raises(ValueError, match="equal norms"):
        tu.check_equal_norms(off.g_plus, off.g_minus)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: tu.von_mises_population(0.0, n=0),
            r"n \(number of neurons\) must be an integer >= 1",
        ),
        (lambda: tu.von_mises_population(0.0, kappa=-1.0), "kappa must be >= 0"),
        (lambda: tu.gaussian_population(0.0, sigma_rad=0.0), "sigma_rad must be > 0"),
        (lambda: tu.task_vectors(0.1, tuning="cosine"), "tuning must be one of"),
        (lambda: tu.preferred_orientations(2.5), "n .* must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_static_errors_raise_under_jit():
    with pytest.raises(ValueError, match="n .* must be an integer >= 1"):
        jax.jit(lambda th: tu.von_mises_population(th, n=0))(0.1)
    with pytest.raises(ValueError, match="tuning must be one of"):
        jax.jit(lambda d: tu.task_vectors(d, tuning="box").v)(0.1)
