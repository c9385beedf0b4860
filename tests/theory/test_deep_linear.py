"""Tests for theory.deep_linear: the general gradient-descent solver and the Saxe networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import deep_linear as dl


def _random_problem(seed, dims=(3, 4, 5, 2)):
    rng = np.random.default_rng(seed)
    weights = tuple(0.3 * rng.standard_normal((dims[i + 1], dims[i])) for i in range(len(dims) - 1))
    x = rng.standard_normal((dims[0], 7))
    y = rng.standard_normal((dims[-1], 7))
    return weights, x @ x.T, y @ x.T, x, y


def _numpy_gd(weights, sxx, syx, lr, num_steps):
    ws = [np.array(w) for w in weights]
    for _ in range(num_steps):
        prods = [np.eye(ws[0].shape[1])]
        for w in ws:
            prods.append(w @ prods[-1])
        err = prods[-1] @ sxx - syx
        grads = []
        for l in range(len(ws)):
            top = np.eye(ws[-1].shape[0])
            for w in reversed(ws[l + 1 :]):
                top = top @ w
            grads.append(top.T @ err @ prods[l].T)
        ws = [w - lr * g for w, g in zip(ws, grads, strict=True)]
    return ws


@pytest.mark.parametrize("dims", [(3, 2), (3, 4, 2), (3, 4, 5, 2), (2, 3, 3, 3, 1)])
def test_gradients_match_autodiff_and_sample_loss(dims):
    weights, sxx, syx, x, y = _random_problem(1, dims)
    weights = tuple(jnp.asarray(w) for w in weights)
    auto = jax.grad(dl.loss)(weights, sxx, syx)
    mine = dl.gradients(weights, sxx, syx)
    for a, b in zip(auto, mine, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    # the moment form equals 1/2 sum_mu ||y - W x||^2 up to 1/2 tr(Syy)
    w_tot = np.array(dl.product(weights))
    direct = 0.5 * np.sum((y - w_tot @ x) ** 2)
    np.testing.assert_allclose(
        float(dl.loss(weights, sxx, syx)) + 0.5 * np.sum(y * y), direct, rtol=1e-12
    )


def test_gradient_descent_matches_numpy_loop_and_records():
    weights, sxx, syx, _, _ = _random_problem(2)
    lr, num_steps = 0.01, 40
    final, records = jax.jit(
        lambda ws: dl.gradient_descent(ws, sxx, syx, lr=lr, num_steps=num_steps, record_every=10)
    )(tuple(jnp.asarray(w) for w in weights))
    ref = _numpy_gd(weights, sxx, syx, lr, num_steps)
    for a, b in zip(final, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    assert records[0].shape == (5, 4, 3)
    np.testing.assert_allclose(records[0][0], weights[0], rtol=0, atol=0)
    np.testing.assert_allclose(records[2][-1], final[2], rtol=0, atol=0)
    mid = _numpy_gd(weights, sxx, syx, lr, 20)
    np.testing.assert_allclose(records[1][2], mid[1], rtol=1e-11, atol=1e-12)


def test_gradient_descent_observe_and_vmap_over_tasks():
    weights, sxx, syx, _, _ = _random_problem(3)
    weights = tuple(jnp.asarray(w) for w in weights)
    lrs = jnp.array([0.001, 0.005, 0.01])
    syxs = jnp.stack([syx, 2.0 * syx, -syx])

    def run(lr, s):
        return dl.gradient_descent(
            weights,
            sxx,
            s,
            lr=lr,
            num_steps=30,
            record_every=5,
            observe=lambda ws: dl.loss(ws, sxx, s),
        )

    finals, losses = jax.jit(jax.vmap(run))(lrs, syxs)
    assert losses.shape == (3, 7)
    for i in range(3):
        f_i, l_i = run(lrs[i], syxs[i])
        np.testing.assert_allclose(losses[i], l_i, rtol=1e-12, atol=1e-12)
        for a, b in zip(finals, f_i, strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-12)
    # small steps decrease the loss monotonically
    assert np.all(np.diff(np.asarray(losses[0])) < 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_steps": 10, "record_every": 3}, "record_every must divide num_steps"),
        ({"num_steps": -1}, "num_steps must be an integer >= 0"),
        ({"num_steps": 4, "record_every": 0}, "record_every must be an integer >= 1"),
    ],
)
def test_gradient_descent_bad_arguments(kwargs, match):
    weights, sxx, syx, _, _ = _random_problem(4)
    with pytest.raises(ValueError, match=match):
        jax.jit(lambda ws: dl.gradient_descent(ws, sxx, syx, lr=0.1, **kwargs))(weights)


def test_gradient_descent_bad_shapes():
    weights, sxx, syx, _, _ = _random_problem(5)
    with pytest.raises(ValueError, match=r"weights\[1\] has shape"):
        dl.gradient_descent((weights[0], weights[0]), sxx, syx, lr=0.1, num_steps=1)
    with pytest.raises(ValueError, match="sigma_xx must have shape"):
        dl.gradient_descent(weights, sxx[:2, :2], syx, lr=0.1, num_steps=1)
    with pytest.raises(ValueError, match="depth >= 1"):
        dl.gradient_descent((), sxx, syx, lr=0.1, num_steps=1)
