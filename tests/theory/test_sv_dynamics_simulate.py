"""theory.sv_dynamics.simulate: gradient descent from E[xx^T], E[yx^T] against the closed forms.

Runs in float64 (tests/theory/conftest.py). The closed forms are independent of the simulation
(hypergeometric / logistic solutions of the singular-value ODE); forward Euler converges to them
at first order in the step, which the tests check by halving the step.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from theory import sv_dynamics as sv
from theory.checks import InputError


def _orthogonal(seed, n, m=None):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q if m is None else q[:, :m]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_autoencoder_follows_the_closed_form_at_first_order(depth):
    lam = np.array([1.0, 0.5, 0.2])
    v = _orthogonal(1, 4, 3)
    sxx = v @ np.diag(lam) @ v.T  # rank 3 in 4 dimensions
    errors = []
    for lr, every in ((0.02, 10), (0.01, 20)):
        sim = sv.simulate(sxx, depth=depth, sigma0=0.05, lr=lr, num_steps=every * 60,
                          record_every=every)  # fmt: skip
        assert sim.sigma.shape == (61, 3)  # the zero-variance direction is not a mode
        np.testing.assert_allclose(sim.lam, lam, rtol=1e-12)  # largest variance first
        np.testing.assert_allclose(np.abs(np.sum(sim.in_basis * v, 0)), 1.0, rtol=1e-10)
        theory = np.asarray(sv.closed_form(sim.t[:, None], lam[None, :], depth, 0.05))
        assert np.min(theory[-1]) > 0.5  # the window covers the learning of every mode
        errors.append(np.max(np.abs(np.asarray(sim.sigma) - theory)))
        assert np.max(sim.residual) < 1e-12  # aligned: the modes never couple
        # the classic factor-2 slip (descending E||y - Wx||^2 / 2) would be off by far more
        slow = np.asarray(sv.closed_form(sim.t[:, None] / 2, lam[None, :], depth, 0.05))
        assert np.max(np.abs(np.asarray(sim.sigma) - slow)) > 20 * errors[-1]
    assert errors[1] < 1e-2
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.15)


def test_supervised_follows_the_supervised_closed_form():
    v, u = _orthogonal(2, 4), _orthogonal(3, 3)
    lam = np.array([0.9, 0.6, 0.3, 0.2])
    s_yx = np.array([0.8, 0.45, 0.3])
    sxx = v @ np.diag(lam) @ v.T
    syx = u @ np.diag(s_yx) @ v[:, :3].T
    errors = []
    for lr, every in ((0.01, 25), (0.005, 50)):
        sim = sv.simulate(sxx, syx, depth=2, sigma0=0.05, lr=lr, num_steps=every * 40,
                          record_every=every)  # fmt: skip
        np.testing.assert_allclose(sim.s_yx, s_yx, rtol=1e-12)
        np.testing.assert_allclose(sim.lam, lam[:3], rtol=1e-12)
        theory = sv.supervised_closed_form(sim.t[:, None], sim.lam, sim.s_yx, 2, 0.05)
        errors.append(float(np.max(np.abs(np.asarray(sim.sigma - theory)))))
        # the asymptote s_yx / lam is approached, not the autoencoder's 1
        assert np.all(np.abs(sim.sigma[-1] - s_yx / lam[:3]) < 0.1 * s_yx / lam[:3])
    assert errors[1] < 5e-3
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.15)


def test_misaligned_statistics_are_refused_or_show_coupling():
    v, w = _orthogonal(4, 3), _orthogonal(5, 3)  # different bases: the modes couple
    sxx = v @ np.diag([1.0, 0.5, 0.25]) @ v.T
    syx = np.diag([0.9, 0.4, 0.2]) @ w.T
    with pytest.raises(InputError, match="not diagonal in the right singular vectors"):
        sv.simulate(sxx, syx, depth=2, num_steps=10, record_every=10)
    sim = sv.simulate(sxx, syx, depth=2, sigma0=0.1, lr=0.01, num_steps=400, record_every=100,
                      check_alignment=False)  # fmt: skip
    assert sim.residual[0] < 1e-12 and sim.residual[-1] > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(sigma_xx=np.ones((2, 3))), "sigma_xx must be a square matrix"),
        (dict(sigma_xx=np.array([[1.0, 0.5], [0.0, 1.0]])), "symmetric"),
        (dict(sigma_xx=np.eye(2), sigma_yx=np.ones((2, 3))), r"sigma_yx must have shape"),
        (dict(sigma_xx=np.zeros((2, 2))), "nothing to learn"),
        (dict(sigma_xx=np.eye(2), rank=3), r"rank must be in \[1, 2\]"),
        (dict(sigma_xx=np.eye(2), sigma0=0.0), "sigma0"),
        (dict(sigma_xx=np.eye(2), lr=-1.0), "lr"),
        (dict(sigma_xx=np.eye(2), depth=0), "depth must be an integer >= 1"),
        (dict(sigma_xx=np.eye(2), num_steps=10, record_every=3), "record_every"),
    ],
)
def test_bad_input_raises_naming_the_parameter(kwargs, match):
    kwargs = dict(dict(depth=2, num_steps=10, record_every=10), **kwargs)
    with pytest.raises(InputError, match=match):
        sv.simulate(**kwargs)


def test_float32_inputs_give_float32_results():
    sim = sv.simulate(jnp.eye(2, dtype=jnp.float32) * 0.5, depth=2, num_steps=10, record_every=5)
    assert sim.sigma.dtype == jnp.float32 and sim.t.shape == (3,)
