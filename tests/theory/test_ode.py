"""Tests for theory.ode: the shared diffrax solve, its status flag and its forward-mode derivative."""

import jax
import jax.numpy as jnp
import numpy as np

from theory import ode

RTOL, ATOL = 1e-10, 1e-12


def _decay(t, y, args):
    # dy/dt = -k y^n with an integer n = 1 in args (the derivative skips integer leaves)
    return -args["k"] * y ** args["n"]


def _exact(ts, y0, k, t0):
    return y0 * jnp.exp(-k * (ts - t0))


def _solve(ts, y0, k, t0):
    args = {"k": k, "n": jnp.asarray(1)}
    return ode.solve(_decay, ts, y0, args, t0=t0, rtol=RTOL, atol=ATOL)


_run = jax.jit(_solve)  # one compilation for the plain solves below (save grids of 4 points)


def test_solution_and_status_match_the_exact_decay():
    ts = jnp.array([0.5, 1.0, 2.0, 4.0])
    ys, ok = _run(ts, 2.0, 0.7, 0.5)
    assert bool(ok)
    np.testing.assert_allclose(ys, _exact(ts, 2.0, 0.7, 0.5), rtol=10 * RTOL, atol=10 * ATOL)


def test_jacfwd_matches_the_exact_derivatives_in_every_input():
    ts = jnp.array([0.5, 1.0, 2.0, 4.0])
    y0, k, t0 = 2.0, 0.7, 0.25
    jac = jax.jit(jax.jacfwd(lambda *a: _solve(*a)[0], argnums=(0, 1, 2, 3)))
    got = jac(ts, y0, k, t0)
    want = jax.jacfwd(_exact, argnums=(0, 1, 2, 3))(ts, y0, k, t0)
    for g, w in zip(got, want, strict=True):
        scale = float(jnp.max(jnp.abs(w)))
        np.testing.assert_allclose(g, w, rtol=0, atol=10 * (RTOL * scale + ATOL))
    # the save-time derivative is diagonal: moving one save time moves only its value
    assert float(jnp.max(jnp.abs(got[0] - jnp.diag(jnp.diagonal(got[0]))))) == 0.0


def test_invalid_save_times_and_failed_solves_give_ok_false_under_jit():
    run = lambda ts: bool(_run(jnp.asarray(ts), 1.0, 1.0, 0.0)[1])
    assert run([0.0, 1.0, 2.0, 3.0])
    assert not run([0.0, 2.0, 1.0, 3.0])  # decreasing
    assert not run([-1.0, 1.0, 2.0, 3.0])  # before t0
    assert not run([0.0, np.nan, 2.0, 3.0])  # not finite
    # a step budget too small for the tolerance is reported, not raised
    _, ok = ode.solve(
        _decay,
        jnp.array([0.0, 50.0]),
        1.0,
        {"k": 1.0, "n": jnp.asarray(1)},
        rtol=RTOL,
        atol=ATOL,
        max_steps=4,
    )
    assert not bool(ok)
