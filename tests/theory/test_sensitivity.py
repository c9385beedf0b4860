"""Tests for theory.sensitivity: forward mode vs finite differences and vs the linear formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import sensitivity as sens
from theory import stimuli

SIZE = 12


def _mlp(seed, n_in, widths=(20, 7)):
    rng = np.random.default_rng(seed)
    params, n = [], n_in
    for w in widths:
        params.append(
            (
                jnp.asarray(rng.standard_normal((w, n)) / np.sqrt(n)),
                jnp.asarray(rng.standard_normal(w)),
            )
        )
        n = w

    def net(x):
        h = x.reshape(-1)
        out = {}
        for i, (w, b) in enumerate(params):
            h = jnp.tanh(w @ h + b)
            out[f"layer{i + 1}"] = h
        return out

    return net


def _fd_sensitivity(fn, theta, h=1e-6):
    plus, minus = fn(theta + h), fn(theta - h)
    return jax.tree_util.tree_map(
        lambda a, b: float(np.sum(((np.asarray(a) - np.asarray(b)) / (2 * h)) ** 2)), plus, minus
    )


@pytest.mark.parametrize("window", [None, "hann"])
@pytest.mark.parametrize("param", ["freq", "phase", "orientation"])
def test_forward_mode_matches_central_differences(param, window):
    net = _mlp(0, SIZE * SIZE)
    base = {"freq": 2.7, "phase": 0.9, "orientation": 20.0}

    def fn(value):
        kw = dict(base, **{param: value})
        return net(
            stimuli.sinusoid(
                kw["freq"], kw["phase"], size=SIZE, orientation_deg=kw["orientation"], window=window
            )
        )

    got = sens.sensitivity(fn, base[param])
    ref = _fd_sensitivity(fn, base[param])
    assert set(got) == {"layer1", "layer2"}
    for k in got:
        assert float(got[k]) > 0
        np.testing.assert_allclose(float(got[k]), ref[k], rtol=1e-7)


def test_linear_network_matches_svd_formula():
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.standard_normal((30, SIZE * SIZE)) / 10)
    for f, ph in ((1.3, 0.2), (4.0, 2.5)):
        fn = lambda ff, ph=ph: w @ stimuli.sinusoid(ff, ph, size=SIZE).reshape(-1)
        dx = jax.jacfwd(lambda ff, ph=ph: stimuli.sinusoid(ff, ph, size=SIZE).reshape(-1))(f)
        np.testing.assert_allclose(
            sens.sensitivity(fn, f), sens.linear_sensitivity(w, dx), rtol=1e-11
        )


def test_sensitivity_to_singular_directions_is_sigma_squared():
    rng = np.random.default_rng(2)
    w = jnp.asarray(rng.standard_normal((6, 9)))
    x0 = jnp.asarray(rng.standard_normal(9))
    _, s, vh = np.linalg.svd(np.asarray(w), full_matrices=False)
    for j in range(6):
        # x(theta) = x0 + (theta - v_j^T x0) v_j  has  v_j^T x = theta
        fn = lambda th, j=j: w @ (x0 + (th - vh[j] @ x0) * vh[j])
        np.testing.assert_allclose(sens.sensitivity(fn, 0.3), s[j] ** 2, rtol=1e-12)
        np.testing.assert_allclose(
            sens.linear_sensitivity(w, jnp.asarray(vh[j])), s[j] ** 2, rtol=1e-12
        )


def test_phase_average_closed_form_for_identity_network():
    # W = I: D(f) = mean_phi ||dx/df||^2 = A^2 (2 pi / size)^2 sum_p x_p^2 / 2 for >= 3 phases
    amp, f = 1.7, 3.2
    phases = sens.equally_spaced_phases(64)
    fn = lambda ff, ph: stimuli.sinusoid(ff, ph, size=SIZE, amplitude=amp)
    x = np.arange(SIZE) - (SIZE - 1) / 2
    expected = amp**2 * (2 * np.pi / SIZE) ** 2 * SIZE * np.sum(x**2) / 2
    np.testing.assert_allclose(sens.phase_averaged_sensitivity(fn, f, phases), expected, rtol=1e-12)
    np.testing.assert_allclose(sens.threshold(expected), 1 / np.sqrt(expected), rtol=1e-15)


def test_sensitivity_curve_vmap_equals_loop():
    rng = np.random.default_rng(3)
    w = jnp.asarray(rng.standard_normal((5, SIZE * SIZE)))
    fn = lambda f, ph: w @ stimuli.sinusoid(f, ph, size=SIZE, window="radial").reshape(-1)
    freqs = jnp.linspace(0.5, 6.0, 5)
    phases = sens.equally_spaced_phases(8)
    curve = sens.sensitivity_curve(fn, freqs, phases)
    single = jax.jit(lambda f: sens.phase_averaged_sensitivity(fn, f, phases))
    loop = [single(f) for f in freqs]
    np.testing.assert_allclose(curve, jnp.stack(loop), rtol=1e-13)
    with jax.disable_jit():  # smoke test: one tangent without compilation
        d = sens.sensitivity(lambda f: fn(f, phases[1]), freqs[1])
        assert np.isfinite(float(d)) and float(d) > 0


def test_threshold_safe_at_zero():
    t = sens.threshold(jnp.array([0.0, 4.0]))
    assert np.isinf(t[0]) and float(t[1]) == 0.5
    g = jax.grad(
        lambda d: jnp.sum(jnp.where(jnp.isfinite(sens.threshold(d)), sens.threshold(d), 0.0))
    )(jnp.array([0.0, 4.0]))
    assert np.all(np.isfinite(g))


def test_cardinal_oblique_ratio():
    th = jnp.arange(0.0, 180.0, 1.0)
    d = 2.0 + jnp.cos(jnp.deg2rad(4 * th))
    card = np.r_[0:6, 175:180, 85:96]
    obl = np.r_[40:51, 130:141]
    ref = np.mean(np.asarray(d)[card]) / np.mean(np.asarray(d)[obl])
    np.testing.assert_allclose(sens.cardinal_oblique_ratio(th, d), ref, rtol=1e-13)
    assert ref > 1
    np.testing.assert_allclose(sens.cardinal_oblique_ratio(th, jnp.ones_like(th)), 1.0, rtol=1e-15)
    shifted = 2.0 + jnp.cos(jnp.deg2rad(4 * (th - 45.0)))  # peaks at the obliques
    assert float(sens.cardinal_oblique_ratio(th, shifted)) < 1
    np.testing.assert_allclose(jax.jit(sens.cardinal_oblique_ratio)(th, d), ref, rtol=1e-13)


def test_acuity_interpolates_the_crossing():
    f = jnp.arange(1.0, 11.0)
    acuity = jax.jit(sens.acuity)
    assert float(acuity(f, 0.05 + 0.01 * f)) == pytest.approx(5.0, rel=1e-12)
    assert float(acuity(f, 0.052 + 0.01 * f)) == pytest.approx(4.8, rel=1e-12)
    assert float(acuity(f, jnp.full(10, 0.01))) == 10.0
    assert float(acuity(f, jnp.full(10, 1.0))) == 0.0
    t = jnp.where(f > 3, jnp.inf, 0.01)  # D = 0 above f = 3
    assert float(acuity(f, t)) == 3.0
    batched = jax.vmap(lambda c: sens.acuity(f, 0.05 + c * f))(jnp.array([0.01, 0.02]))
    np.testing.assert_allclose(batched, [5.0, 2.5], rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sens.sensitivity(lambda t: t, jnp.ones(2)), r"theta must be a scalar"),
        (
            lambda: sens.phase_averaged_sensitivity(lambda t, p: t, 1.0, jnp.ones((2, 2))),
            r"phases must be a non-empty 1-D",
        ),
        (lambda: sens.equally_spaced_phases(0), r"num must be an integer >= 1"),
        (
            lambda: sens.linear_sensitivity(jnp.ones((2, 3)), jnp.ones(2)),
            r"expected weight \(m, n\)",
        ),
        (
            lambda: sens.cardinal_oblique_ratio(jnp.arange(3.0), jnp.ones(3), half_width_deg=30.0),
            r"half_width_deg must lie in \(0, 22.5\)",
        ),
        (
            lambda: sens.cardinal_oblique_ratio(jnp.array([0.0, 10.0]), jnp.ones(2)),
            r"no point within .* oblique",
        ),
        (lambda: sens.acuity(jnp.arange(3.0), jnp.ones(3), cutoff=0.0), r"cutoff must be > 0"),
        (lambda: sens.acuity(jnp.arange(3.0), jnp.ones(2)), r"equal length"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
