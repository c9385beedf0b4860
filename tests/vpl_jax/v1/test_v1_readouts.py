"""Tests for vpl_jax.v1.readouts: every penalty and the Poisson loss against a NumPy reference
(written here from the formulas), their gradients against central finite differences (float64),
and the output nonlinearities' closed-form properties."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vpl_jax.v1 import readouts


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


def _np_conv_same(m: np.ndarray, k: np.ndarray) -> np.ndarray:
    """3x3 cross-correlation of a 2-D map with zero padding (SAME), by explicit loops."""
    h, w = m.shape
    p = np.pad(m, 1)
    out = np.zeros_like(m)
    for r in range(h):
        for c in range(w):
            out[r, c] = np.sum(p[r : r + 3, c : c + 3] * k)
    return out


def _np_penalties(w: np.ndarray) -> dict[str, float]:
    """The VGG read-out penalties (Eqs. 6-8) of w (h, w, k, N), averaged over neurons."""
    h, wd, k, n = w.shape
    l1 = np.mean([np.abs(w[..., j]).sum() for j in range(n)])
    lap = np.mean(
        [sum((_np_conv_same(w[:, :, c, j], readouts.LAPLACE) ** 2).sum() for c in range(k))
         for j in range(n)]
    )  # fmt: skip
    group = np.mean([sum(np.sqrt((w[:, :, c, j] ** 2).sum()) for c in range(k)) for j in range(n)])
    return {"l1": l1, "laplace": lap, "group": group}


def _central_difference(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences along every coordinate, all perturbations in one vmapped call."""
    steps = eps * np.eye(x.size).reshape((x.size, *x.shape))
    fv = jax.jit(jax.vmap(f))
    return np.asarray((fv(x + steps) - fv(x - steps)) / (2 * eps)).reshape(x.shape)


@pytest.fixture
def w():
    return np.random.default_rng(0).standard_normal((4, 5, 3, 2))


def test_penalties_match_numpy(w):
    ref = _np_penalties(w)
    np.testing.assert_allclose(readouts.l1_penalty(jnp.asarray(w)), ref["l1"], rtol=1e-12)
    np.testing.assert_allclose(readouts.laplace_penalty(jnp.asarray(w)), ref["laplace"], rtol=1e-12)
    np.testing.assert_allclose(
        readouts.group_sparsity_penalty(jnp.asarray(w)), ref["group"], rtol=1e-12
    )
    # LNP: a one-channel read-out (h, w, N) with the 8-neighbour kernel
    w2 = w[:, :, 0, :]
    ref8 = np.mean([(_np_conv_same(w2[..., j], readouts.LAPLACE_8) ** 2).sum() for j in range(2)])
    np.testing.assert_allclose(
        readouts.laplace_penalty(jnp.asarray(w2), readouts.LAPLACE_8), ref8, rtol=1e-12
    )


def test_laplacian_of_a_constant_map_is_zero_inside():
    # Interior of a constant map: 4 - 4 = 0; SAME zero padding leaves the border non-zero.
    m = np.ones((5, 5, 1, 1))
    lap = np.asarray(readouts._depthwise_same(jnp.asarray(m), jnp.asarray(readouts.LAPLACE)))
    np.testing.assert_allclose(lap[1:-1, 1:-1], 0.0, atol=1e-12)
    assert lap[0, 2, 0, 0] == 1.0 and lap[0, 0, 0, 0] == 2.0


def test_cnn_penalties_match_numpy():
    rng = np.random.default_rng(1)
    k = rng.standard_normal((5, 5, 2, 3))
    num = sum((_np_conv_same(k[:, :, i, o], readouts.LAPLACE_8) ** 2).sum() / (k[:, :, i, o] ** 2).sum()
              for i in range(2) for o in range(3))  # fmt: skip
    np.testing.assert_allclose(readouts.normalised_laplace_penalty(jnp.asarray(k)), num, rtol=1e-12)
    grp = sum(np.sqrt((k[:, :, i, o] ** 2).sum()) for i in range(2) for o in range(3))
    np.testing.assert_allclose(readouts.kernel_group_penalty(jnp.asarray(k)), grp, rtol=1e-12)
    u, v = rng.standard_normal((4, 4, 3)), rng.standard_normal((6, 3))
    fac = sum(np.abs(u[..., n]).sum() * np.abs(v[:, n]).sum() for n in range(3))
    np.testing.assert_allclose(
        readouts.factorised_l1_penalty(jnp.asarray(u), jnp.asarray(v)), fac, rtol=1e-12
    )
    a = rng.standard_normal((50, 3))
    d1, d2 = np.diff(a, axis=0), np.diff(a, n=2, axis=0)
    ref = sum(np.mean(d1[:, n] ** 2) + np.mean(d2[:, n] ** 2) for n in range(3))
    np.testing.assert_allclose(readouts.tent_smoothness(jnp.asarray(a)), ref, rtol=1e-12)


def test_poisson_loss_matches_numpy_with_mask():
    rng = np.random.default_rng(2)
    pred = rng.uniform(0.1, 3.0, (7, 3))
    y = rng.poisson(1.0, (7, 3)).astype(float)
    mask = (rng.uniform(size=(7, 3)) > 0.3).astype(float)
    mask[:, 2] = 0.0  # a neuron without real trials contributes 0
    per = []
    for n in range(3):
        m = mask[:, n] > 0
        per.append(np.mean(pred[m, n] - y[m, n] * np.log(pred[m, n] + 1e-9)) if m.any() else 0.0)
    got = readouts.poisson_loss_per_neuron(jnp.asarray(pred), jnp.asarray(y), jnp.asarray(mask))
    np.testing.assert_allclose(got, per, rtol=1e-12)
    np.testing.assert_allclose(
        readouts.poisson_loss(jnp.asarray(pred), jnp.asarray(y), jnp.asarray(mask)), np.mean(per),
        rtol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize(
    "name", ["l1", "laplace", "group", "poisson", "normalised_laplace", "kernel_group", "tent"]
)
def test_gradients_match_finite_differences(name, w):
    rng = np.random.default_rng(3)
    y = rng.poisson(1.0, (6, 2)).astype(float)
    mask = (rng.uniform(size=(6, 2)) > 0.2).astype(float)
    x_lin = rng.standard_normal((6, 4 * 5 * 3))
    f = {
        "l1": readouts.l1_penalty,
        "laplace": readouts.laplace_penalty,
        "group": readouts.group_sparsity_penalty,
        # the Poisson loss through a shifted-ELU read-out of w
        "poisson": lambda w: readouts.poisson_loss(
            readouts.shifted_elu(x_lin @ w.reshape(-1, 2)), y, mask
        ),
        "normalised_laplace": readouts.normalised_laplace_penalty,
        "kernel_group": readouts.kernel_group_penalty,
        "tent": lambda w: readouts.tent_smoothness(w.reshape(-1, 2)[:50]),
    }[name]
    x = w if name != "tent" else rng.standard_normal((50, 2))
    grad = np.asarray(jax.grad(f)(jnp.asarray(x)))
    fd = _central_difference(f, x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


def test_group_sparsity_gradient_is_finite_at_zero():
    w = jnp.zeros((3, 3, 2, 1)).at[:, :, 0, 0].set(1.0)  # map 1 all zero
    g = jax.grad(readouts.group_sparsity_penalty)(w)
    assert np.all(np.isfinite(g)) and np.all(np.asarray(g[:, :, 1]) == 0.0)


def test_shifted_elu_and_tent_basis():
    x = jnp.linspace(-6.0, 9.0, 1501)
    g = readouts.shifted_elu(x)
    np.testing.assert_allclose(g, np.where(x >= 1, x, np.exp(x - 1)), rtol=1e-12)
    basis = np.asarray(readouts.tent_basis(x))
    assert basis.shape == (1501, readouts.NUM_TENTS) and readouts.NUM_TENTS == 50
    xs = np.asarray(x)
    total = basis.sum(axis=1)
    np.testing.assert_allclose(total[xs >= -2.82 + 1e-9], 1.0, atol=1e-12)  # partition of unity
    np.testing.assert_allclose(total[xs <= -3.0], 0.0, atol=1e-12)
    ramp = (xs > -3.0) & (xs < -2.82)
    np.testing.assert_allclose(total[ramp], (xs[ramp] + 3.0) / 0.18, atol=1e-9)
    # at initialisation (a = 0) the learned output equals the shifted ELU above -2.82
    h = readouts.learned_output(x[:, None], jnp.zeros((50, 1)))[:, 0]
    keep = xs >= -2.82
    np.testing.assert_allclose(np.asarray(h)[keep], np.asarray(g)[keep], rtol=1e-12)
    assert np.all(np.asarray(h) >= 0)


def test_readouts_dense_factorised_and_batchnorm():
    rng = np.random.default_rng(4)
    phi = rng.standard_normal((3, 4, 5, 6))
    u, v, b = rng.standard_normal((4, 5, 2)), rng.standard_normal((6, 2)), rng.standard_normal(2)
    w = np.einsum("hwn,kn->hwkn", u, v)
    dense = readouts.dense_readout(jnp.asarray(phi), jnp.asarray(w), jnp.asarray(b))
    fac = readouts.factorised_readout(
        jnp.asarray(phi), jnp.asarray(u), jnp.asarray(v), jnp.asarray(b)
    )
    ref = np.einsum("bhwk,hwkn->bn", phi, w) + b
    np.testing.assert_allclose(dense, ref, rtol=1e-10)
    np.testing.assert_allclose(fac, ref, rtol=1e-10)
    mean, var = phi.mean(axis=(0, 1, 2)), phi.var(axis=(0, 1, 2))
    z = readouts.feature_batchnorm(
        jnp.asarray(phi), jnp.asarray(mean), jnp.asarray(var), jnp.ones(6), jnp.zeros(6), eps=0.0
    )
    np.testing.assert_allclose(z, np.maximum((phi - mean) / np.sqrt(var), 0), rtol=1e-10)
