"""Tests for theory.sv_dynamics: closed forms vs ODE vs gradient descent, half-times, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special

from theory import deep_linear as dl
from theory import sv_dynamics as sv

RTOL_ODE = 1e-10  # solver rtol used below; comparisons allow 10x
TS = np.linspace(0.0, 100.0, 121)  # one save grid for every ODE test: diffrax compiles once


def _orthogonal(seed, n, m=None):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q if m is None else q[:, :m]


# ----------------------------------------------------------------------------- closed form vs ODE


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 6])
def test_closed_form_matches_ode(depth):
    ts = TS
    lam, sigma0 = jnp.array([0.3, 2.0]), jnp.array([1e-3, 0.2])
    solve = lambda l, s: sv.integrate(ts, l, depth, s, rtol=RTOL_ODE, atol=1e-12)
    ode, ok = jax.vmap(solve)(lam, sigma0)
    assert bool(jnp.all(ok))
    cf = sv.closed_form(ts[None, :], lam[:, None], depth, sigma0[:, None])
    np.testing.assert_allclose(cf, ode, rtol=0, atol=10 * RTOL_ODE)
    assert float(jnp.min(cf[:, -1])) > 0.99  # learned
    assert np.all(np.diff(np.asarray(cf), axis=1) >= 0)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_supervised_closed_form_matches_ode(depth):
    lam, s_yx, sigma0 = 0.8, 0.5, 0.01  # asymptote a = 0.625
    ts = TS
    ode, ok = sv.integrate(ts, lam, depth, sigma0, s_yx=s_yx, rtol=RTOL_ODE, atol=1e-12)
    assert bool(ok)
    cf = sv.supervised_closed_form(ts, lam, s_yx, depth, sigma0)
    np.testing.assert_allclose(cf, ode, rtol=0, atol=10 * RTOL_ODE)
    np.testing.assert_allclose(cf[-1], s_yx / lam, rtol=1e-6)


def test_supervised_reduces_to_autoencoder_and_explicit_forms():
    ts = jnp.linspace(0.0, 5.0, 11)
    lam, sigma0 = 0.7, 0.05
    for depth in (1, 2, 3):
        np.testing.assert_allclose(
            sv.supervised_closed_form(ts, lam, lam, depth, sigma0),
            sv.closed_form(ts, lam, depth, sigma0),
            rtol=1e-13,
            atol=1e-15,
        )
    # spec B.6.4 explicit forms for N = 1, 2
    a, s_yx = 2.0, 1.4
    lam = s_yx / a
    n1 = a + (sigma0 - a) * np.exp(-2 * lam * np.asarray(ts))
    e = np.exp(4 * s_yx * np.asarray(ts))
    n2 = a * sigma0 * e / (a - sigma0 + sigma0 * e)
    np.testing.assert_allclose(sv.supervised_closed_form(ts, lam, s_yx, 1, sigma0), n1, rtol=1e-13)
    np.testing.assert_allclose(sv.supervised_closed_form(ts, lam, s_yx, 2, sigma0), n2, rtol=1e-13)


def test_explicit_depth_1_and_2_formulas():
    t = np.linspace(0.0, 3.0, 7)
    lam, s0 = 0.9, 0.02
    np.testing.assert_allclose(
        sv.closed_form(t, lam, 1, s0), 1 - (1 - s0) * np.exp(-2 * lam * t), rtol=1e-14
    )
    e = np.exp(4 * lam * t)
    np.testing.assert_allclose(
        sv.closed_form(t, lam, 2, s0), s0 * e / (1 - s0 + s0 * e), rtol=1e-13
    )
    # limits: t = 0 gives sigma0, t -> inf gives 1 (no overflow for the logistic)
    for depth in (1, 2, 3, 4):
        assert float(sv.closed_form(0.0, lam, depth, s0)) == pytest.approx(s0, rel=1e-15)
        assert float(sv.closed_form(1e6, lam, depth, s0)) == 1.0


# ----------------------------------------------------------------------------- the 2F1 form


@pytest.mark.parametrize("depth", [3, 4, 7])
def test_hypergeometric_time_matches_quadrature(depth):
    lam, sigma0 = 0.4, 1e-3
    q = 2.0 - 2.0 / depth
    for sigma in (0.01, 0.3, 0.5, 0.9, 0.999):
        quad, err = scipy.integrate.quad(
            lambda s: 1.0 / (2 * depth * lam * s**q * (1 - s)),
            sigma0,
            sigma,
            epsabs=0,
            epsrel=1e-13,
            limit=200,
        )
        assert err < 1e-10 * quad
        got = float(sv.implicit_time(sigma, lam, depth, sigma0))
        assert got == pytest.approx(quad, rel=1e-11)


def test_potential_matches_scipy_series_definition():
    depth = 4
    p = 2.0 / depth - 1.0
    x = np.array([1e-6, 0.1, 0.5, 0.9, 0.999])
    ref = x**p / p * scipy.special.hyp2f1(1.0, p, p + 1.0, x)
    np.testing.assert_allclose(sv.potential(x, depth), ref, rtol=1e-14)
    # dF/dx = 1 / (x^q (1 - x)) by central differences
    h = 1e-6
    x0 = np.array([0.2, 0.6])
    fd = (np.asarray(sv.potential(x0 + h, depth)) - np.asarray(sv.potential(x0 - h, depth))) / (
        2 * h
    )
    np.testing.assert_allclose(fd, 1.0 / (x0 ** (2 - 2 / depth) * (1 - x0)), rtol=1e-7)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_closed_form_inverts_implicit_time(depth):
    lam, sigma0 = 1.3, 1e-4
    sig = np.array([1e-3, 0.2, 0.5, 0.8, 0.99, 1 - 1e-9])
    t = sv.implicit_time(sig, lam, depth, sigma0)
    np.testing.assert_allclose(sv.closed_form(t, lam, depth, sigma0), sig, rtol=1e-12, atol=1e-15)


def test_closed_form_jvp_matches_vector_field_and_finite_differences():
    lam, sigma0, depth = 0.5, 1e-2, 3
    t = 4.0
    sigma, dsigma_dt = jax.jvp(lambda tt: sv.closed_form(tt, lam, depth, sigma0), (t,), (1.0,))
    rhs = sv.vector_field(0.0, sigma, {"lam": lam, "s_yx": lam, "depth": float(depth)})
    np.testing.assert_allclose(dsigma_dt, rhs, rtol=1e-12)
    h = 1e-5
    for arg, f in (
        (lam, lambda x: sv.closed_form(t, x, depth, sigma0)),
        (sigma0, lambda x: sv.closed_form(t, lam, depth, x)),
    ):
        fd = (float(f(arg + h)) - float(f(arg - h))) / (2 * h)
        np.testing.assert_allclose(float(jax.grad(f)(arg)), fd, rtol=1e-6)


# ----------------------------------------------------------------------------- half-times


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 8])
def test_half_time_inverse_proportional_to_variance(depth):
    sigma0 = 1e-3
    lam = jnp.array([0.1, 0.37, 1.0, 4.2])
    t_half = sv.half_time(lam, depth, sigma0)
    t_half_2 = sv.half_time(2 * lam, depth, sigma0)
    np.testing.assert_allclose(t_half / t_half_2, 2.0, rtol=1e-13)
    np.testing.assert_allclose(sv.closed_form(t_half, lam, depth, sigma0), 0.5, rtol=1e-12)
    # ordering: higher variance is learned first
    assert np.all(np.diff(np.asarray(t_half)) < 0)


def test_half_time_explicit_values_and_small_init_asymptote():
    lam, s0 = 0.8, 0.01
    assert float(sv.half_time(lam, 1, s0)) == pytest.approx(
        np.log(2 * (1 - s0)) / (2 * lam), rel=1e-14
    )
    assert float(sv.half_time(lam, 2, s0)) == pytest.approx(
        np.log((1 - s0) / s0) / (4 * lam), rel=1e-14
    )
    for depth in (3, 4, 6):
        errs = [
            abs(
                float(sv.half_time_small_init(lam, depth, s)) / float(sv.half_time(lam, depth, s))
                - 1
            )
            for s in (1e-3, 1e-6, 1e-9)
        ]
        assert errs[0] > errs[1] > errs[2]
        assert errs[2] < 2e-2


def test_rise_time_sharpens_with_depth():
    lam, s0 = 1.0, 1e-4
    ratio = [float(sv.rise_time(lam, d, s0) / sv.half_time(lam, d, s0)) for d in (1, 2, 3, 4)]
    assert ratio[0] == pytest.approx(np.log(9) / np.log(2 * (1 - s0)), rel=1e-12)
    assert ratio[1] == pytest.approx(2 * np.log(9) / np.log((1 - s0) / s0), rel=1e-12)
    assert ratio[0] > ratio[1] > ratio[2] > ratio[3]


def test_supervised_half_time_depends_on_rate_of_each_depth():
    s0 = 1e-3
    # N = 1: only lam matters (a fixed ratio s0 / a keeps the prefactor)
    t1 = sv.supervised_half_time(jnp.array([0.5, 1.0]), jnp.array([0.5, 1.0]), 1, s0)
    np.testing.assert_allclose(t1[0] / t1[1], 2.0, rtol=1e-13)
    # N = 2 with a fixed regression coefficient a: rate 4 s_yx = 4 lam a
    lam = jnp.array([0.5, 1.0])
    t2 = sv.supervised_half_time(lam, 0.8 * lam, 2, s0)
    np.testing.assert_allclose(t2[0] / t2[1], 2.0, rtol=1e-13)
    sig = sv.supervised_closed_form(t2, lam, 0.8 * lam, 2, s0)
    np.testing.assert_allclose(sig, 0.4, rtol=1e-12)


# ----------------------------------------------------------------------------- gradient descent


def _gd_diagonals(w0, sxx, syx, u, v, lrs, num_steps, record_every):
    """Run GD at several step sizes in one vmapped call; return U^T W V diagonals, off-diag max."""

    def observe(ws):
        m = u.T @ dl.product(ws) @ v
        return jnp.diagonal(m), jnp.max(jnp.abs(m - jnp.diag(jnp.diagonal(m))))

    # E||y - Wx||^2 = 2 L(S_xx, S_yx) + const: descend L with doubled moments, t = step * lr
    run = lambda lr: dl.gradient_descent(
        w0,
        2 * sxx,
        2 * syx,
        lr=lr,
        num_steps=num_steps,
        record_every=record_every,
        observe=observe,
    )[1]
    diag, off = jax.vmap(run)(jnp.asarray(lrs))
    steps = np.arange(diag.shape[1]) * record_every
    return steps, np.asarray(diag), np.asarray(off)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_gradient_descent_matches_closed_form_with_error_order_eta(depth):
    lam = np.array([1.0, 0.55, 0.3, 0.12])
    sigma0, lrs = 0.05, np.array([0.02, 0.01])
    v = jnp.asarray(_orthogonal(3, 4))
    hidden = tuple(_orthogonal(10 + k, 5, 4) for k in range(depth - 1))
    w0 = sv.aligned_balanced_weights(jnp.full(4, sigma0), depth, v, hidden_bases=hidden)
    sxx = v @ jnp.diag(lam) @ v.T
    steps, diag, off = _gd_diagonals(w0, sxx, sxx, v, v, lrs, 1200, 10)
    assert np.max(off) < 1e-12  # modes stay decoupled (aligned init)
    errors = []
    ts = (
        steps[:61] * lrs[0]
    )  # common grid 0, 0.2, ..., 12: every record of lr 0.02, every 2nd of 0.01
    theory = np.asarray(sv.closed_form(ts[:, None], lam[None, :], depth, sigma0))
    assert np.min(theory[-1]) > 0.5  # the window covers the learning of every mode
    for k in range(2):
        errors.append(np.max(np.abs(diag[k, : 61 * (k + 1) : k + 1] - theory)))
    assert errors[1] < 1e-2
    # first-order convergence: halving the step halves the error
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.1)


def test_gradient_descent_supervised_matches_closed_form():
    depth, sigma0, lrs = 2, 0.05, np.array([0.01, 0.005])
    v = jnp.asarray(_orthogonal(4, 4))
    u = jnp.asarray(_orthogonal(5, 3))
    lam = np.array([1.0, 0.6, 0.3, 0.2])
    s_yx = np.array([0.8, 0.3, 0.45])
    sxx = v @ jnp.diag(lam) @ v.T
    syx = u @ jnp.diag(s_yx) @ v[:, :3].T
    w0 = sv.aligned_balanced_weights(jnp.full(3, sigma0), depth, v[:, :3], out_basis=u)
    steps, diag, off = _gd_diagonals(w0, sxx, syx, u, v[:, :3], lrs, 2000, 25)
    assert np.max(off) < 1e-12
    ts = steps[:41] * lrs[0]  # common grid 0, 0.25, ..., 10
    theory = sv.supervised_closed_form(ts[:, None], lam[:3][None, :], s_yx[None, :], depth, sigma0)
    errors = [
        float(np.max(np.abs(diag[k, : 41 * (k + 1) : k + 1] - np.asarray(theory))))
        for k in range(2)
    ]
    assert errors[1] < 5e-3
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.1)


def test_aligned_balanced_weights_are_balanced_and_aligned():
    depth, n = 3, 4
    v = _orthogonal(1, n)
    hidden = (_orthogonal(2, 6, n), _orthogonal(3, 5, n))
    s0 = jnp.array([0.5, 0.2, 0.1, 0.01])
    ws = sv.aligned_balanced_weights(s0, depth, v, hidden_bases=hidden)
    assert [w.shape for w in ws] == [(6, 4), (5, 6), (4, 5)]
    for k in range(depth - 1):
        np.testing.assert_allclose(ws[k + 1].T @ ws[k + 1], ws[k] @ ws[k].T, atol=1e-14)
    np.testing.assert_allclose(dl.product(ws), v @ np.diag(s0) @ v.T, atol=1e-14)


# ----------------------------------------------------------------------------- vmap, jit, errors


def test_vmap_over_conditions_equals_loop():
    ts = jnp.linspace(0.0, 10.0, 11)
    lams = jnp.array([0.2, 0.5])
    s0s = jnp.array([1e-3, 0.1])
    for depth in (2, 3):
        batched = jax.vmap(lambda l, s, d=depth: sv.closed_form(ts, l, d, s))(lams, s0s)
        loop = jnp.stack([sv.closed_form(ts, l, depth, s) for l, s in zip(lams, s0s, strict=True)])
        np.testing.assert_allclose(batched, loop, rtol=1e-15)
    solve = lambda l, s: sv.integrate(TS, l, 3, s, rtol=RTOL_ODE, atol=1e-12)
    ode, ok = jax.vmap(solve)(lams, s0s)
    assert bool(jnp.all(ok))
    for i in range(2):
        single, _ = solve(lams[i], s0s[i])
        np.testing.assert_allclose(ode[i], single, rtol=1e-12, atol=1e-15)


def test_jit_does_not_recompile():
    traces = []

    @jax.jit
    def f(t, lam):
        traces.append(1)
        return sv.closed_form(t, lam, 3, 1e-3)

    f(jnp.ones(4), 0.5)
    f(2 * jnp.ones(4), 0.7)
    assert len(traces) == 1


def test_disable_jit_smoke():
    with jax.disable_jit():
        for depth in (1, 2, 3):
            t_half = sv.half_time(1.0, depth, 0.1)
            assert float(sv.closed_form(t_half, 1.0, depth, 0.1)) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sv.closed_form(1.0, 1.0, 0, 0.1), r"depth must be an integer >= 1"),
        (lambda: sv.closed_form(1.0, 1.0, 2.5, 0.1), r"depth must be an integer >= 1"),
        (lambda: sv.closed_form(-1.0, 1.0, 2, 0.1), r"t must be a finite time >= 0"),
        (lambda: sv.closed_form(1.0, 0.0, 2, 0.1), r"lam must be > 0"),
        (lambda: sv.closed_form(1.0, -2.0, 1, 0.1), r"lam must be > 0"),
        (lambda: sv.closed_form(1.0, 1.0, 2, 0.0), r"sigma0 must be in \(0, 1.0\)"),
        (lambda: sv.closed_form(1.0, 1.0, 3, 1.0), r"sigma0 must be in \(0, 1.0\)"),
        (lambda: sv.closed_form(1.0, 1.0, 1, -0.1), r"sigma0 must be in \[0, 1.0\)"),
        (lambda: sv.half_time(1.0, 2, 0.6), r"sigma0 must be in \(0, 0.5\)"),
        (lambda: sv.half_time_small_init(1.0, 2, 0.01), r"depth must be >= 3"),
        (lambda: sv.implicit_time(1.0, 1.0, 3, 0.1), r"sigma must be in \[sigma0, 1\)"),
        (lambda: sv.rise_time(1.0, 2, 0.01, low=0.9, high=0.1), r"0 < low < high < 1"),
        (lambda: sv.integrate(jnp.array([0.0, -1.0]), 1.0, 2, 0.1), r"t must be a finite time"),
        (lambda: sv.integrate(jnp.ones((2, 2)), 1.0, 2, 0.1), r"ts must be a 1-D array"),
        (lambda: sv.supervised_closed_form(1.0, 1.0, 0.5, 2, 0.6), r"sigma0 / \(s_yx / lam\)"),
        (lambda: sv.supervised_closed_form(1.0, 1.0, -0.5, 2, 0.1), r"s_yx must be > 0"),
        (lambda: sv.potential(0.5, 2), r"depth must be >= 3"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_values_under_jit_give_nan_or_not_ok():
    # the traced-value policy: concrete bad values raise (above); traced ones cannot, so the
    # functions answer NaN where an input is outside its range, and integrate says ok = False
    f = jax.jit(lambda lam: sv.closed_form(1.0, lam, 2, 0.1))
    assert np.isnan(float(f(-1.0)))
    assert float(f(1.0)) == pytest.approx(float(sv.closed_form(1.0, 1.0, 2, 0.1)), rel=1e-15)
    g = jax.jit(lambda t: sv.closed_form(t, 1.0, 3, 0.1))
    out = np.asarray(g(jnp.array([-1.0, 1.0])))
    assert np.isnan(out[0]) and out[1] == pytest.approx(float(sv.closed_form(1.0, 1.0, 3, 0.1)))
    h = jax.jit(jax.vmap(lambda s0: sv.half_time(1.0, 2, s0)))
    out = np.asarray(h(jnp.array([0.1, 0.6])))
    assert out[0] == pytest.approx(np.log(9) / 4, rel=1e-14) and np.isnan(out[1])
    solve = jax.jit(lambda ts, lam: sv.integrate(ts, lam, 2, 0.1, rtol=RTOL_ODE, atol=1e-12)[1])
    assert bool(solve(jnp.array([0.0, 1.0, 2.0]), 1.0))
    assert not bool(solve(jnp.array([0.0, -1.0, 2.0]), 1.0))  # a negative time
    assert not bool(solve(jnp.array([0.0, 2.0, 1.0]), 1.0))  # decreasing save times
    assert not bool(solve(jnp.array([0.0, 1.0, 2.0]), -1.0))  # lam <= 0


# ----------------------------------------------------------------------------- forward mode


@pytest.mark.parametrize("depth", [2, 3])  # the logistic and the 2F1 closed forms
def test_jacfwd_through_integrate_matches_the_closed_form_derivative(depth):
    lam, sigma0 = 0.6, 0.05
    ts = TS
    solve = lambda l, s: sv.integrate(ts, l, depth, s, rtol=RTOL_ODE, atol=1e-12)[0]
    d_ode = jax.jacfwd(solve, argnums=(0, 1))(lam, sigma0)
    d_cf = jax.jacfwd(lambda l, s: sv.closed_form(ts, l, depth, s), argnums=(0, 1))(lam, sigma0)
    for got, want in zip(d_ode, d_cf, strict=True):
        assert got.shape == ts.shape and np.max(np.abs(np.asarray(want))) > 0.1
        scale = np.max(np.abs(np.asarray(want)))
        # ODE tolerance x 10 (rtol relative to the derivative's scale, plus the solver's atol)
        np.testing.assert_allclose(got, want, rtol=0, atol=10 * (RTOL_ODE * scale + 1e-12))
    # the closed form's derivative itself is right (central differences)
    h = 1e-6
    fd = sv.closed_form(ts, lam + h, depth, sigma0) - sv.closed_form(ts, lam - h, depth, sigma0)
    np.testing.assert_allclose(d_cf[0], fd / (2 * h), rtol=0, atol=1e-6 * np.max(np.abs(fd / h)))
