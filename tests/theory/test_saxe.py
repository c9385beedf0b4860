"""Tests for theory.saxe: alpha/beta ODE, closed form, fixed point, chain, transfer (spec A)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import deep_linear as dl
from theory import saxe
from theory import tuning as tu

DTHETAS = (1.0, 2.0, 5.0, 10.0, 20.0, 45.0, 90.0)
TS = np.linspace(0.0, 12.0, 121)  # float64 (module level runs before x64 is enabled)
SQRT2 = np.sqrt(2.0)


def _task(dtheta_deg, **kwargs):
    return tu.task_vectors(np.deg2rad(dtheta_deg), **kwargs)


def _v(dtheta_deg):
    return float(_task(dtheta_deg).v)


# Shared schedules keep the number of distinct compilations (and the test time) small.
GD_SCHEDULES = {1e-2: (800, 50), 1e-3: (8000, 500)}  # lr -> (num_steps, record_every), t = 0..8


def _simulate(task, lr, **kwargs):
    steps, every = GD_SCHEDULES[lr]
    return saxe.simulate(task, lr=lr, num_steps=steps, record_every=every, **kwargs)


@functools.partial(jax.jit, static_argnames=("num_steps", "record_every"))
def _train_pool(params, pool, location, task, lr, *, num_steps=2000, record_every=100):
    """Pooling network trained at one location; records every 0.1 time units (= TS spacing)."""
    return dl.pooling_gradient_descent(
        params,
        pool,
        location,
        lr=lr,
        num_steps=num_steps,
        record_every=record_every,
        observe=lambda q: dl.pooling_projection(q, pool, task),
    )


# --- closed form, ODE, fixed point -------------------------------------------------------------


@pytest.mark.parametrize("dtheta", [1.0, 10.0, 90.0])
@pytest.mark.parametrize("beta0", [0.0, 1e-3, 0.3])
def test_closed_form_matches_ode(dtheta, beta0):
    v = _v(dtheta)
    for c, tau in ((1.0, 1.0), (2.0, 3.0)):
        sol = saxe.integrate(TS, v, c, beta0, tau)
        assert bool(sol.ok)
        alpha, beta = saxe.closed_form(TS, v, c, beta0, tau)
        np.testing.assert_allclose(alpha, sol.alpha, rtol=0, atol=1e-8)
        np.testing.assert_allclose(beta, sol.beta, rtol=0, atol=1e-8)
        assert float(alpha[0]) == 0.0 and float(beta[0]) == pytest.approx(beta0, abs=1e-15)


def test_closed_form_is_tight_with_tight_solver():
    # the ODE error shrinks with the tolerance: the closed form is the exact solution
    v = _v(5.0)
    alpha, beta = saxe.closed_form(TS, v)
    errs = []
    for rtol in (1e-7, 1e-10):
        sol = saxe.integrate(TS, v, rtol=rtol, atol=rtol * 1e-2)
        errs.append(float(jnp.max(jnp.abs(sol.alpha - alpha))))
    assert errs[1] < 1e-10 and errs[1] < errs[0] / 100


def test_closed_form_satisfies_the_ode_by_finite_differences():
    v, c, beta0, tau = 0.4, 1.3, 0.2, 0.7
    t = jnp.linspace(0.05, 3.0, 25)
    eps = 1e-6
    a_p, b_p = saxe.closed_form(t + eps, v, c, beta0, tau)
    a_m, b_m = saxe.closed_form(t - eps, v, c, beta0, tau)
    a, b = saxe.closed_form(t, v, c, beta0, tau)
    rhs = jax.vmap(lambda y: saxe.vector_field(0.0, y, {"v": v, "c": c, "tau": tau}))(
        jnp.stack([a, b], axis=-1)
    )
    np.testing.assert_allclose((a_p - a_m) / (2 * eps), rhs[:, 0], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose((b_p - b_m) / (2 * eps), rhs[:, 1], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtheta", DTHETAS)
def test_fixed_point_is_the_limit_and_a_zero_of_the_field(dtheta):
    v = _v(dtheta)
    a_star, b_star = saxe.fixed_point(v)
    a_inf, b_inf = saxe.closed_form(1e4, v)
    np.testing.assert_allclose([a_inf, b_inf], [a_star, b_star], rtol=1e-12)
    rhs = saxe.vector_field(0.0, jnp.stack([a_star, b_star]), {"v": v, "c": 1.0, "tau": 1.0})
    np.testing.assert_allclose(rhs, 0.0, atol=1e-12)
    # the general formula u*^2 = (1 + sqrt(1 + 8 c^2 / v^2)) / 2
    u2 = (1 + np.sqrt(1 + 8 / v**2)) / 2
    np.testing.assert_allclose(1 + 2 * a_star, np.sqrt(u2), rtol=1e-13)


def test_fixed_point_with_beta0_matches_long_ode():
    v, beta0 = 0.3, 0.9  # outside the closed form's domain: C < 0
    a_star, b_star = saxe.fixed_point(v, 1.0, beta0)
    sol = saxe.integrate(TS, v, 1.0, beta0, 1.0 / 16)  # t/tau up to 192
    np.testing.assert_allclose([sol.alpha[-1], sol.beta[-1]], [a_star, b_star], rtol=1e-9)


def test_fixed_point_easy_and_hard_limits():
    c = 1.0
    # easy, low-precision task v >> c: alpha* ~ c^2/(2 v^2), beta* ~ c/v, alpha*/beta* -> 0
    v = 1e3
    a_star, b_star = saxe.fixed_point(v, c)
    np.testing.assert_allclose(a_star, c**2 / (2 * v**2), rtol=1e-5)
    np.testing.assert_allclose(b_star, c / v, rtol=1e-5)
    np.testing.assert_allclose(a_star / b_star, c / (2 * v), rtol=1e-5)
    # hard, high-precision task v << c: u* ~ (2 c^2 / v^2)^(1/4), beta*/alpha* -> sqrt(2)
    v = 1e-6
    a_star, b_star = saxe.fixed_point(v, c)
    u_star = (2 * c**2 / v**2) ** 0.25
    np.testing.assert_allclose(a_star, u_star / 2, rtol=2e-3)
    np.testing.assert_allclose(b_star, u_star / SQRT2, rtol=2e-3)
    np.testing.assert_allclose(b_star / a_star, SQRT2, rtol=2e-3)
    # and the ratio always equals sqrt(2 + 2/alpha*)
    for v in (1e-6, 0.1, 10.0, 1e3):
        a_star, b_star = saxe.fixed_point(v, c)
        np.testing.assert_allclose(b_star / a_star, np.sqrt(2 + 2 / a_star), rtol=1e-10)


# --- conservation law, layer ordering, asymptotics --------------------------------------------


@pytest.mark.parametrize("beta0", [0.0, 0.05])
def test_conservation_law(beta0):
    for dtheta in (1.0, 10.0, 90.0):
        v = _v(dtheta)
        sol = saxe.integrate(TS, v, 1.0, beta0)
        np.testing.assert_allclose(
            saxe.conserved_quantity(sol.alpha, sol.beta), beta0**2, rtol=0, atol=1e-9
        )
        alpha, beta = saxe.closed_form(TS, v, 1.0, beta0)
        np.testing.assert_allclose(
            saxe.conserved_quantity(alpha, beta), beta0**2, rtol=0, atol=1e-11
        )


def test_beta_exceeds_sqrt2_alpha_for_all_positive_times():
    t = jnp.concatenate([jnp.logspace(-6, 1, 200), jnp.linspace(10.0, 100.0, 50)])
    for dtheta in DTHETAS:
        v = _v(dtheta)
        alpha, beta = saxe.closed_form(t, v)
        assert np.all(np.asarray(alpha) > 0)
        assert np.all(np.asarray(beta) > SQRT2 * np.asarray(alpha))
        np.testing.assert_allclose(beta / alpha, saxe.beta_over_alpha(alpha), rtol=1e-7)
        sol = saxe.integrate(TS, v)
        assert np.all(np.asarray(sol.beta[1:]) > SQRT2 * np.asarray(sol.alpha[1:]))


def test_beta_over_alpha_asymptotes():
    v = _v(1.0)  # hard task: alpha* large, so both regimes are visible
    alpha, beta = saxe.closed_form(jnp.array([1e-5, 1e-4]), v)
    # early: beta/alpha ~ sqrt(2)/sqrt(alpha)  (slope -1/2 on log-log axes)
    np.testing.assert_allclose((beta / alpha) * jnp.sqrt(alpha), SQRT2, rtol=1e-4)
    # late: beta/alpha -> sqrt(2 + 2/alpha*) (close to sqrt(2) for the hardest tasks)
    a_star, _ = saxe.fixed_point(v)
    alpha, beta = saxe.closed_form(50.0, v)
    np.testing.assert_allclose(beta / alpha, np.sqrt(2 + 2 / a_star), rtol=1e-10)
    assert abs(float(beta / alpha) - SQRT2) < 0.2


def test_early_time_asymptotics_third_order():
    v, c, tau = 0.7, 1.2, 1.5
    for beta0 in (0.0, 0.1):
        errs = []
        for t in (1e-2, 1e-3):
            exact = saxe.closed_form(t, v, c, beta0, tau)
            approx = saxe.early_time(t, v, c, beta0, tau)
            errs.append([abs(float(e) - float(a)) for e, a in zip(exact, approx, strict=True)])
        errs = np.asarray(errs)
        np.testing.assert_allclose(errs[0] / errs[1], 1e3, rtol=0.05)  # O(t^3)
    # leading terms for beta0 = 0: beta ~ c t / tau, alpha ~ c^2 t^2 / (2 tau^2)
    a, b = saxe.closed_form(1e-4, v, c, 0.0, tau)
    np.testing.assert_allclose(b, c * 1e-4 / tau, rtol=1e-4)
    np.testing.assert_allclose(a, c**2 * 1e-8 / (2 * tau**2), rtol=1e-4)


def test_half_times_order_and_values():
    v = jnp.asarray([_v(d) for d in DTHETAS])
    t_a, t_b = saxe.half_times(v)
    assert np.all(np.asarray(t_b) < np.asarray(t_a))
    a_star, b_star = saxe.fixed_point(v)
    for i in range(len(DTHETAS)):
        a, _ = saxe.closed_form(t_a[i], v[i])
        _, b = saxe.closed_form(t_b[i], v[i])
        np.testing.assert_allclose(a, a_star[i] / 2, rtol=1e-10)
        np.testing.assert_allclose(b, b_star[i] / 2, rtol=1e-10)
    # with beta0 > 0: half of each layer's change
    t_a, t_b = saxe.half_times(0.5, 1.0, 0.2)
    a_star, b_star = saxe.fixed_point(0.5, 1.0, 0.2)
    np.testing.assert_allclose(saxe.closed_form(t_b, 0.5, 1.0, 0.2)[1], (0.2 + b_star) / 2)
    np.testing.assert_allclose(saxe.closed_form(t_a, 0.5, 1.0, 0.2)[0], a_star / 2)
    assert float(t_b) < float(t_a)


def test_time_at_output_quadrature_matches_closed_form_inversion():
    v, c = 0.5, 1.0
    for beta0 in (0.0, 0.3):
        t_q = saxe.time_at_output(0.6, v, c, beta0)[0]
        alpha, beta = saxe.closed_form(t_q, v, c, beta0)
        np.testing.assert_allclose(v * beta * (1 + 2 * alpha), 0.6, rtol=1e-9)
    # already above the level: zero time
    t0, ok = saxe.time_at_output(0.1, v, c, 0.5)
    assert float(t0) == 0.0 and bool(ok)


# --- gradient descent on the full network -----------------------------------------------------


@pytest.mark.parametrize("dtheta", [2.0, 20.0])
def test_gradient_descent_stays_on_manifold_and_converges_at_order_eta(dtheta):
    task = _task(dtheta)
    ode = saxe.integrate(TS, task.v)  # the GD records (every 0.5 up to t = 8) lie on TS[::5]
    ode_alpha, ode_beta = np.asarray(ode.alpha[:81:5]), np.asarray(ode.beta[:81:5])
    dist = []
    for lr in (1e-2, 1e-3):
        sim = _simulate(task, lr)
        np.testing.assert_allclose(np.asarray(sim.t), np.asarray(TS[:81:5]), atol=1e-12)
        assert float(np.max(np.asarray(sim.residual))) < 1e-9
        alpha, beta = np.asarray(sim.alpha), np.asarray(sim.beta)
        dist.append(float(np.max(np.abs(alpha - ode_alpha) + np.abs(beta - ode_beta))))
        # conservation law O(eta); ||dW2||_F > ||dW1||_F
        cons = np.asarray(saxe.conserved_quantity(alpha, beta))
        assert np.max(np.abs(cons)) < 20 * lr * (1 + np.max(beta) ** 2)
        assert np.all(beta[1:] > SQRT2 * alpha[1:])
    assert dist[1] < 5e-3
    np.testing.assert_allclose(dist[0] / dist[1], 10.0, rtol=0.15)


def test_simulate_projection_equals_direct_weights():
    task = _task(5.0)
    weights0, sxx, syx = dl.saxe_network(task, c=1.0, beta0=0.01)
    (w1, w2), _ = dl.gradient_descent(weights0, sxx, syx, lr=1e-2, num_steps=800, record_every=800)
    sim = _simulate(task, 1e-2, beta0=0.01)
    # Delta W1[j, +-] = +- alpha d_j (within-layer change profile), W2 = beta d^T
    g = jnp.stack([task.g_plus, task.g_minus], axis=-1)
    np.testing.assert_allclose(w1 - g, sim.alpha[-1] * jnp.stack([task.d, -task.d], -1), atol=1e-12)
    np.testing.assert_allclose(w2[0], sim.beta[-1] * task.d, atol=1e-12)
    np.testing.assert_allclose(
        saxe.change_profile(sim.alpha[-1], task.d), jnp.abs(w1[:, 0] - g[:, 0]), atol=1e-12
    )


def test_unequal_norms_leave_the_manifold():
    task = _task(10.0)
    broken = tu.TaskVectors(task.g_plus, 1.2 * task.g_minus, task.g_plus - 1.2 * task.g_minus, 0.0)
    with pytest.raises(ValueError, match="g_plus and g_minus must have equal norms"):
        saxe.simulate(broken, lr=1e-2, num_steps=10, record_every=10)
    with pytest.raises(ValueError, match="equal norms"):
        saxe.reduce_task(broken)
    sim = _simulate(broken, 1e-2, check_norms=False)
    assert float(sim.residual[-1]) > 1e-3  # the ansatz is no longer invariant


# --- within-layer profile ------------------------------------------------------------------


def test_most_changed_neuron_fine_vs_coarse():
    fine, coarse = _task(1.0), _task(90.0)
    assert 18.0 <= float(saxe.most_changed_offset_deg(fine.d)) <= 21.0
    assert float(saxe.most_changed_offset_deg(coarse.d)) == pytest.approx(45.0)
    profile = saxe.change_profile(jnp.array([0.0, 0.5]), fine.d)
    assert profile.shape == (2, 180)
    np.testing.assert_allclose(profile[0], 0.0)
    np.testing.assert_allclose(profile[1], 0.5 * jnp.abs(fine.d), rtol=1e-15)


# --- reverse hierarchy (spec A.6) ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [4, 5])
def test_scalar_chain_reverse_hierarchy(depth):
    v = _v(10.0)
    b0 = jnp.sqrt(v) * jnp.linspace(1.0, 0.3, depth)  # b_L(0) < ... < b_1(0)
    chain = saxe.integrate_chain(TS, b0)
    q, ok = saxe.integrate_q(TS, b0)
    assert bool(chain.ok) and bool(ok)
    # equal increments of b_k^2, given by Q(t)
    incr = chain.b**2 - b0[None, :] ** 2
    np.testing.assert_allclose(incr, jnp.broadcast_to(q[:, None], incr.shape), atol=1e-8)
    deltas = saxe.chain_deltas(q, b0)
    np.testing.assert_allclose(deltas, chain.b - b0[None, :], atol=1e-8)
    # reversed ordering: Delta_L > ... > Delta_1 for all t > 0
    assert np.all(np.diff(np.asarray(deltas[1:]), axis=-1) > 0)
    # the product converges to the target
    np.testing.assert_allclose(saxe.KAPPA_SAXE * jnp.prod(chain.b[-1]), 1.0, rtol=1e-6)


def test_chain_of_depth_two_is_the_alpha_beta_model():
    v, beta0 = _v(5.0), 0.05
    sol = saxe.integrate(TS, v, 1.0, beta0)
    b = saxe.saxe_chain_strengths(sol.alpha, sol.beta, v)
    chain = saxe.integrate_chain(TS, b[0])
    np.testing.assert_allclose(chain.b, b, atol=1e-8)


@pytest.mark.parametrize("depth", [4, 5])
def test_full_matrix_chain_gradient_descent(depth):
    task = _task(10.0, n=60)
    v = float(task.v)
    b0 = np.sqrt(v) * np.linspace(1.0, 0.3, depth)
    weights0, sxx, syx = dl.chain_network(task, b0[1:])
    assert len(weights0) == depth
    q = np.asarray(saxe.integrate_q(TS, b0)[0])  # on TS = 0, 0.1, ..., 12

    @jax.jit
    def run(ws, lr):  # 300 steps, 7 records; lr is traced, so both step sizes share a compile
        return dl.gradient_descent(
            ws,
            sxx,
            syx,
            lr=lr,
            num_steps=300,
            record_every=50,
            observe=lambda w: dl.chain_projection(w, task),
        )

    # lr = 1e-2: one call covers t = 0..3 (records every 0.5)
    _, (b_coarse, res_coarse) = run(weights0, 1e-2)
    # lr = 1e-3: ten calls of 300 steps, ending at t = 0.3, 0.6, ..., 3
    ws, ends, res_fine = weights0, [np.asarray(b_coarse[0])], []
    for _ in range(10):
        ws, (b, res) = run(ws, 1e-3)
        ends.append(np.asarray(b[-1]))
        res_fine.append(np.asarray(res))
    runs = (
        (1e-2, np.asarray(b_coarse), np.arange(7) * 5, np.asarray(res_coarse)),
        (1e-3, np.stack(ends), np.arange(11) * 3, np.concatenate(res_fine)),
    )
    spreads = []
    for lr, b, t_index, res in runs:
        np.testing.assert_allclose(b[0], b0, rtol=1e-12)
        assert res.max() < 1e-9  # every layer stays on its task mode
        incr = b**2 - b[:1] ** 2  # equal increments of b_k^2 ...
        spreads.append(incr[-1].max() - incr[-1].min())
        np.testing.assert_allclose(incr.mean(axis=1), q[t_index], atol=30 * lr)
        assert np.all(np.diff(b[1:] - b[:1], axis=-1) > 0)  # ... and reversed ordering
    assert spreads[1] < 1e-2
    np.testing.assert_allclose(spreads[0] / spreads[1], 10.0, rtol=0.2)  # equal to O(eta)


# --- transfer with pooling (spec A.7) -----------------------------------------------------------


def _pool(c_ab):
    return jnp.array([[1.0, 0.0], [c_ab, np.sqrt(1 - c_ab**2)]])


@pytest.mark.parametrize("c_ab", [0.25, 0.75])
def test_transfer_untrained_alpha_zero_and_output_ratio(c_ab):
    task = _task(5.0, n=60)
    v = task.v
    pool = _pool(c_ab)
    params0 = dl.pooling_network(task, pool)
    lr = 1e-3
    _, rec = _train_pool(params0, pool, 0, task, lr)
    assert np.all(np.asarray(rec["alpha"][:, 1]) == 0.0)  # exactly zero
    alpha_a, beta = rec["alpha"][:, 0], rec["beta"][:, 0]
    np.testing.assert_allclose(rec["beta"][:, 1], c_ab * beta, rtol=1e-12, atol=1e-15)
    out = rec["outputs"]
    np.testing.assert_allclose(
        out[1:, 1, 0] / out[1:, 0, 0], c_ab / (1 + 2 * alpha_a[1:]), rtol=1e-10
    )
    np.testing.assert_allclose(out[:, 1, 0], saxe.transfer_output(beta, v, c_ab), rtol=1e-10)
    np.testing.assert_allclose(
        out[1:, 1, 0] / out[1:, 0, 0], saxe.transfer_ratio(alpha_a[1:], c_ab), rtol=1e-10
    )
    # identical reduced dynamics at the trained location (to O(eta))
    a_ref, b_ref = saxe.closed_form(TS[:21], v)
    np.testing.assert_allclose(alpha_a, a_ref, atol=5 * lr)
    np.testing.assert_allclose(beta, b_ref, atol=5 * lr)


def test_savings_after_training_elsewhere():
    task = _task(5.0, n=60)
    v, c_ab, lr = task.v, 0.5, 1e-3
    pool = _pool(c_ab)
    params_a, _ = _train_pool(dl.pooling_network(task, pool), pool, 0, task, lr)
    _, rec_b = _train_pool(params_a, pool, 1, task, lr)
    beta_a = dl.pooling_projection(params_a, pool, task)["beta"][0]
    res = saxe.savings(v, c_ab, 2.0)
    # effective start at b: beta_b(0) = c_ab beta_a(T), alpha_b(0) = 0
    np.testing.assert_allclose(rec_b["beta"][0, 1], c_ab * beta_a, rtol=1e-12)
    np.testing.assert_allclose(res["beta_b0"], c_ab * beta_a, atol=5 * lr)
    assert float(rec_b["alpha"][0, 1]) == 0.0
    # reduced dynamics at b from the pre-trained start (to O(eta))
    sol = saxe.integrate(TS, v, 1.0, rec_b["beta"][0, 1])
    np.testing.assert_allclose(rec_b["alpha"][:, 1], sol.alpha[:21], atol=5 * lr)
    np.testing.assert_allclose(rec_b["beta"][:, 1], sol.beta[:21], atol=5 * lr)
    # b learns faster than from scratch
    assert float(res["t_pretrained"]) < float(res["t_fresh"])
    assert float(res["saving"]) > 0


# --- vmap, jit and error paths ---------------------------------------------------------------


def test_vmap_over_tasks_equals_loop_with_per_task_status():
    # the last task is invalid (v < 0, beta0 outside the closed form's domain): inside jit/vmap
    # nothing raises; integrate flags it with ok=False and closed_form returns NaN
    v = jnp.array([_v(d) for d in (1.0, 10.0, 45.0)] + [-1.0])
    c = jnp.array([1.0, 0.5, 2.0, 1.0])
    beta0 = jnp.array([0.0, 0.1, 0.4, 0.8])
    batched_cf = jax.jit(jax.vmap(lambda v, c, b: saxe.closed_form(TS, v, c, b)))(v, c, beta0)
    batched_ode = jax.jit(jax.vmap(lambda v, c, b: saxe.integrate(TS, v, c, b)))(v, c, beta0)
    assert batched_ode.alpha.shape == (4, TS.shape[0])
    assert np.asarray(batched_ode.ok).tolist() == [True, True, True, False]
    assert np.all(np.isnan(np.asarray(batched_cf[0][3])))
    fp = jax.vmap(saxe.fixed_point)(v[:3], c[:3])
    for i in range(3):
        a, b = saxe.closed_form(TS, v[i], c[i], beta0[i])
        np.testing.assert_allclose(batched_cf[0][i], a, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(batched_cf[1][i], b, rtol=1e-13, atol=1e-15)
        sol = saxe.integrate(TS, v[i], c[i], beta0[i])
        np.testing.assert_allclose(batched_ode.alpha[i], sol.alpha, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fp[0][i], saxe.fixed_point(v[i], c[i])[0], rtol=1e-14)
    tasks = tu.task_vectors(jnp.deg2rad(jnp.array([2.0, 20.0])))
    sims = jax.vmap(lambda t: _simulate(t, 1e-2))(tasks)
    for i in range(2):
        single = _simulate(tu.TaskVectors(*(x[i] for x in tasks)), 1e-2)
        np.testing.assert_allclose(sims.alpha[i], single.alpha, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(sims.beta[i], single.beta, rtol=1e-12, atol=1e-15)


def test_integrate_many_matches_closed_form_and_per_task_solves():
    v = jnp.array([_v(d) for d in (1.0, 10.0, 90.0)])
    beta0 = jnp.array([0.0, 0.2, 0.01])
    sol = saxe.integrate_many(TS, v, 1.0, beta0)
    assert sol.alpha.shape == (3, TS.shape[0]) and np.asarray(sol.ok).tolist() == [True] * 3
    for i in range(3):
        a, b = saxe.closed_form(TS, v[i], 1.0, beta0[i])
        np.testing.assert_allclose(np.asarray(sol.alpha[i]), np.asarray(a), rtol=0, atol=1e-8)
        np.testing.assert_allclose(np.asarray(sol.beta[i]), np.asarray(b), rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match="v must be a 1-D array"):
        saxe.integrate_many(TS, 0.5)


def test_failed_concrete_solve_raises():
    # a tolerance float64 cannot meet exhausts the step budget (no extra compilation needed)
    with pytest.raises(RuntimeError, match="did not succeed"):
        saxe.integrate(TS, 0.5, rtol=1e-30, atol=1e-30)


def test_disable_jit_smoke():
    with jax.disable_jit():
        a, b = saxe.closed_form(jnp.array([0.0, 0.5]), 0.5)
        a_star, _ = saxe.fixed_point(0.5)
        w, rec = dl.gradient_descent(
            (jnp.array([[0.5]]), jnp.array([[0.5]])),
            jnp.eye(1),
            jnp.array([[1.0]]),
            lr=0.1,
            num_steps=2,
            observe=dl.product,
        )
    a_jit, b_jit = saxe.closed_form(0.5, 0.5)
    np.testing.assert_allclose([a[-1], b[-1]], [a_jit, b_jit], rtol=1e-14)
    assert 0 < float(a[-1]) < float(a_star)
    # W = 0.25 -> each factor gains 0.1 * 0.75 * 0.5: product 0.5375^2
    np.testing.assert_allclose(np.asarray(rec)[:, 0, 0][:2], [0.25, 0.5375**2], rtol=1e-14)


def test_compilation_counter_sees_a_planted_compilation(compilations):
    f = jax.jit(lambda x: 3.0 * x + 1.0)
    x, y = jnp.ones(3), jnp.zeros(3)
    with compilations() as first:
        f(x)
    with compilations() as second:
        f(y)
    assert first == ["<lambda>"] and second == []


def test_second_call_does_not_recompile(compilations):
    entry_points = [
        lambda v: saxe.closed_form(TS, v),
        lambda v: saxe.closed_form(TS[:50], v),  # another grid size, the same bucket
        lambda v: saxe.integrate(TS, v),
        lambda v: saxe.integrate_q(TS, jnp.array([v, 0.5, 0.3, 0.2])),
        lambda v: _simulate(_task(10.0 * v), 1e-2),
    ]
    for call in entry_points:
        jax.block_until_ready(call(0.7))
        with compilations() as compiled:
            jax.block_until_ready(call(0.9))
        assert compiled == []
    with compilations() as compiled:
        saxe.closed_form(np.linspace(0.0, 1.0, 7), 0.9)  # padded to the same 128 points
    assert compiled.count("closed_form") == 0
    with compilations() as compiled:
        saxe.closed_form(np.linspace(0.0, 1.0, 3000), 0.9)  # a bucket no other test uses: 4096
    assert compiled.count("closed_form") == 1


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: saxe.closed_form(1.0, 0.0), r"v must be > 0"),
        (lambda: saxe.integrate(TS, -0.5), r"v must be > 0"),
        (lambda: saxe.fixed_point(-1.0), r"v must be > 0"),
        (lambda: saxe.half_times(0.0), r"v must be > 0"),
        (lambda: saxe.closed_form(1.0, 0.5, 1.0, 0.75), r"beta0 must be in \[0, 1/sqrt\(2\)\)"),
        (lambda: saxe.closed_form(1.0, 0.5, 1.0, -0.1), r"beta0 must be in \[0, 1/sqrt\(2\)\)"),
        (lambda: saxe.integrate(TS, 0.5, 1.0, -0.1), r"beta0 must be >= 0"),
        (lambda: saxe.closed_form(-1.0, 0.5), r"t must be >= 0"),
        (lambda: saxe.integrate(jnp.array([-1.0, 1.0]), 0.5), r"t must be >= 0"),
        (lambda: saxe.integrate_q(TS, jnp.array([])), r"depth >= 1"),
        (lambda: saxe.integrate_chain(TS, jnp.ones((2, 2))), r"depth >= 1"),
        (lambda: saxe.integrate_q(TS, jnp.array([1.0, -1.0])), r"b0 must be > 0"),
        (lambda: saxe.closed_form(1.0, 0.5, tau=0.0), r"tau must be > 0"),
        (lambda: saxe.fixed_point(1.0, -1.0), r"c must be >= 0"),
        (lambda: saxe.time_at_output(1.5, 0.5), r"y must be in \[0, c\)"),
        (lambda: saxe.savings(0.5, 1.2, 1.0), r"c_ab must be in \[0, 1\)"),
        (lambda: saxe.reference_table((0.0, 1.0)), r"dthetas_deg must be .* > 0"),
        (
            lambda: saxe.reference_table((5.0,), theta0_rad=0.1, n=7),
            r"g_plus and g_minus must have equal norms",
        ),
        (lambda: dl.chain_network(_task(5.0, n=12), jnp.array([])), r"depth L >= 2"),
        (lambda: dl.pooling_network(_task(5.0, n=12), jnp.ones((2, 2))), r"unit norm"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_static_errors_raise_under_jit():
    with pytest.raises(ValueError, match="ts must be a 1-D array"):
        jax.jit(lambda ts: saxe.integrate(ts, 0.5).alpha)(jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="depth >= 1"):
        jax.jit(lambda b: saxe.integrate_q(TS, b)[0])(jnp.ones((0,)))
    with pytest.raises(ValueError, match="record_every must divide num_steps"):
        jax.jit(lambda lr: saxe.simulate(_task(5.0, n=12), lr=lr, num_steps=5, record_every=2))(0.1)


# --- reference table ---------------------------------------------------------------------------


def test_reference_table_consistency():
    table = saxe.reference_table()
    assert list(table["dtheta_deg"]) == list(DTHETAS)
    v = table["v"]
    a_star, b_star = saxe.fixed_point(jnp.asarray(v))
    np.testing.assert_allclose(table["alpha_star"], a_star, rtol=1e-14)
    np.testing.assert_allclose(table["beta_over_alpha"], np.sqrt(2 + 2 / table["alpha_star"]))
    np.testing.assert_allclose(table["dW2_over_dW1"], table["beta_over_alpha"] / SQRT2)
    assert np.all(table["dW2_over_dW1"] > 1)  # ||dW2|| > ||dW1||
    assert np.all(table["t_half_beta"] < table["t_half_alpha"])
    assert np.all(np.diff(table["transfer_over_c_ab"]) > 0)  # coarse tasks transfer better
    assert table["most_changed_offset_deg"][-1] == 45.0
    assert np.all(
        (table["most_changed_offset_deg"][:3] >= 18) & (table["most_changed_offset_deg"][:3] <= 21)
    )
