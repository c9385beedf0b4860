"""Tests for theory.linear_ae on tiny configurations (exact depth-1 dynamics, PC order, PCA)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import PCA

from theory import linear_ae as lae
from theory import natural_images as ni
from theory import sensitivity as sens
from theory import sv_dynamics as sv


def _spectral_cov(lam, seed=0):
    n = lam.shape[0]
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q @ np.diag(lam) @ q.T


@pytest.fixture(scope="module")
def field_patches():
    """16x16 patches of periodic 1/f^2 noise (float64), the synthetic natural-image control."""
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(0), 4)
        imgs = [np.asarray(ni.power_law_noise(k, 256)) for k in keys]
        stack = ni.pack(imgs, jnp.float64)
        return np.asarray(ni.sample_patches(jax.random.key(1), stack, 20000, size=16))


def test_pca_exponent_of_one_over_f_squared_field_is_about_one(field_patches):
    _, sxx = lae.patch_statistics(field_patches)
    eigvals, basis = lae.pca(sxx)
    gamma, r2 = lae.power_law_exponent(eigvals)
    assert gamma == pytest.approx(1.0, abs=0.15)
    assert r2 > 0.98
    # matches scikit-learn's PCA (which divides by P - 1)
    x = field_patches.reshape(len(field_patches), -1)
    skl = PCA(n_components=20).fit(x)
    p = len(x)
    np.testing.assert_allclose(eigvals[:20] * p / (p - 1), skl.explained_variance_, rtol=1e-9)
    overlap = np.abs(np.sum(np.asarray(basis[:, :5]) * skl.components_[:5].T, axis=0))
    np.testing.assert_allclose(overlap, 1.0, rtol=1e-6)


def test_patch_statistics_match_numpy_and_chunking():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((101, 3, 3)) + 2.0
    mean, sxx = lae.patch_statistics(x, chunk_size=17)
    flat = x.reshape(101, 9)
    np.testing.assert_allclose(mean, flat.mean(0), rtol=1e-13)
    np.testing.assert_allclose(sxx, np.cov(flat.T, bias=True), rtol=1e-12, atol=1e-14)
    _, raw = lae.patch_statistics(x, center=False)
    np.testing.assert_allclose(raw, flat.T @ flat / 101, rtol=1e-12)


def test_depth_one_training_follows_the_exact_discrete_solution_in_chunks():
    # For N = 1, W_k = I - (I - W_0)(I - (2 lr / n) S)^k, so on each PC
    # pi_i(k) = 1 - (1 - pi_i(0)) (1 - 2 lr lam_i / n)^k exactly. Training is run in two chunks
    # (the second starts from the first's weights) and must continue the same trajectory.
    cfg = lae.LinearAEConfig(
        patch_size=3, depth=1, lr=1.0, num_steps=30, record_every=10, num_freqs=3, num_phases=4
    )
    lam = np.array([4.0, 2.5, 1.5, 1.0, 0.6, 0.3, 0.2, 0.1, 0.05])
    first = lae.train(jax.random.key(0), cfg, _spectral_cov(lam))
    second = lae.train(jax.random.key(0), cfg, _spectral_cov(lam), weights0=first.weights)
    proj = np.concatenate([first.pc_projection, second.pc_projection[1:]])
    pi0 = proj[0]
    k = np.arange(7)[:, None] * 10
    exact = 1 - (1 - pi0[None, :]) * (1 - 2 * cfg.lr * lam[None, :] / 9) ** k
    np.testing.assert_allclose(proj, exact, rtol=0, atol=1e-12)
    np.testing.assert_allclose(first.eigvals, lam, rtol=1e-12)
    np.testing.assert_allclose(first.times, np.asarray(first.steps) / 9.0, rtol=1e-15)
    # and the gradient-flow closed form of sv_dynamics to O(lr)
    flow = sv.closed_form(k / 9.0, lam[None, :], 1, 0.0)
    assert np.max(np.abs(proj - flow)) < 0.05


def test_deeper_network_learns_pcs_in_variance_order_with_sharper_curves():
    lam = 0.1 * np.array([3.0, 1.5, 0.75, 0.375, 0.19, 0.09, 0.05, 0.02, 0.01])
    sxx = _spectral_cov(lam, seed=1)
    ratios = []
    for depth, steps, every in ((1, 400, 2), (2, 1600, 4)):
        cfg = lae.LinearAEConfig.reduced(
            depth,
            patch_size=3,
            lr=1.0,
            num_steps=steps,
            record_every=every,
            num_freqs=3,
            num_phases=4,
        )
        res = lae.train(jax.random.key(depth), cfg, sxx)
        t_half = lae.crossing_times(res.times, res.pc_projection, 0.5)
        learned = np.isfinite(t_half)
        assert learned[:5].all()
        assert np.all(np.diff(t_half[learned]) > 0)  # variance order
        slope, _, r2 = lae.loglog_fit(lam[learned], t_half[learned])
        assert slope == pytest.approx(-1.0, abs=0.1)
        t10 = lae.crossing_times(res.times, res.pc_projection, 0.1)
        t90 = lae.crossing_times(res.times, res.pc_projection, 0.9)
        ratios.append(np.nanmedian(((t90 - t10) / t_half)[:4]))
        assert float(res.offdiag_fraction[-1]) < 0.1  # aligned with the PCs
    assert ratios[0] == pytest.approx(np.log(9) / np.log(2), rel=0.05)
    assert ratios[1] < 0.5 * ratios[0]  # the sigmoid sharpens with depth


def test_minibatch_sgd_approximates_the_exact_full_batch_trajectory():
    rng = np.random.default_rng(2)
    lam_true = np.array([2.0, 1.0, 0.5, 0.25])
    x = rng.standard_normal((4000, 4)) * np.sqrt(lam_true)
    x = x - x.mean(0)
    _, sxx = lae.patch_statistics(x)
    lam = np.linalg.eigvalsh(np.asarray(sxx))[::-1]
    cfg = lae.LinearAEConfig(
        patch_size=2,
        depth=1,
        lr=0.5,
        num_steps=100,
        record_every=10,
        num_freqs=2,
        num_phases=4,
        batch_size=1000,
    )
    k = np.arange(11)[:, None] * 10
    for seed in (1, 2):  # different keys: different init (scale 0.01) and batches
        sgd = lae.train(jax.random.key(seed), cfg, sxx, patches=x)
        pi = np.asarray(sgd.pc_projection)
        full_batch = 1 - (1 - pi[0][None, :]) * (1 - 2 * cfg.lr * lam[None, :] / 4) ** k
        np.testing.assert_allclose(pi, full_batch, atol=0.05)
        assert pi[-1, 0] > 0.9


def test_frequency_sensitivity_matches_linear_formula_and_acuity():
    cfg = lae.LinearAEConfig(patch_size=6, num_freqs=4, num_phases=8, window="hann")
    w = np.random.default_rng(3).standard_normal((36, 36)) / 6
    freqs = np.asarray(cfg.frequencies())
    d = lae.frequency_sensitivity(jnp.asarray(w), freqs, cfg)
    # NumPy reference: dx/df = (2 pi x / size) cos(2 pi f x / size + phi) * hann window, and
    # D = sum_j s_j^2 (v_j^T dx/df)^2 averaged over the 8 phases
    c = np.arange(6) - 2.5
    x, y = np.meshgrid(c, -c)
    window = np.cos(np.pi * x / 6) ** 2 * np.cos(np.pi * y / 6) ** 2
    _, s_w, vh = np.linalg.svd(w)
    for i, f in enumerate(freqs):
        ds = []
        for ph in 2 * np.pi * np.arange(8) / 8:
            dx = (2 * np.pi * x / 6 * np.cos(2 * np.pi * f * x / 6 + ph) * window).ravel()
            ds.append(np.sum(s_w**2 * (vh @ dx) ** 2))
        np.testing.assert_allclose(d[i], np.mean(ds), rtol=1e-10)
    obs = lae.observables((jnp.asarray(w),), jnp.eye(36), jnp.asarray(freqs), cfg)
    np.testing.assert_allclose(obs["sensitivity"], d, rtol=1e-12)
    np.testing.assert_allclose(obs["acuity"], sens.acuity(freqs, sens.threshold(d), cutoff=0.1))


def test_init_weights_follow_pytorch_default_scaled():
    cfg = lae.LinearAEConfig(patch_size=8, depth=3, hidden_width=50, init_scale=0.01)
    ws = [np.asarray(w) for w in lae.init_weights(jax.random.key(0), cfg)]
    assert [w.shape for w in ws] == [(50, 64), (50, 50), (64, 50)]
    for w in ws:
        bound = 0.01 / np.sqrt(w.shape[1])
        assert np.max(np.abs(w)) <= bound
        assert np.std(w) == pytest.approx(bound / np.sqrt(3), rel=0.1)


def test_analysis_helpers():
    t = np.linspace(0, 10, 11)
    curves = np.stack([t / 10, np.minimum(t / 5, 1.0), np.full(11, 0.7), np.zeros(11)], axis=1)
    ct = lae.crossing_times(t, curves, 0.5)
    np.testing.assert_allclose(ct[:3], [5.0, 2.5, 0.0])
    assert np.isnan(ct[3])
    slope, icpt, r2 = lae.loglog_fit(
        np.array([1.0, 2.0, 4.0, 8.0]), 3 * np.array([1.0, 2.0, 4.0, 8.0]) ** -1.0
    )
    assert (slope, np.exp(icpt), r2) == pytest.approx((-1.0, 3.0, 1.0))
    f = np.arange(1.0, 17.0)
    thr = np.where(f < 6, 0.05, 0.05 * (f / 5.0) ** 1.5)
    s, elbow, r2 = lae.threshold_slope(f, thr)
    assert elbow == 8.0 and s == pytest.approx(1.5, rel=1e-10) and r2 == pytest.approx(1.0)
    assert lae.power_law_exponent(np.arange(1.0, 65.0) ** -1.3)[0] == pytest.approx(1.3, rel=1e-12)


def test_presets_and_jit_cache():
    red, full = lae.LinearAEConfig.reduced(4), lae.LinearAEConfig.full(2)
    assert red.patch_size == 16 and red.init_scale == pytest.approx(0.01**0.25)
    assert (full.n_inputs, full.init_scale, full.lr, full.num_patches) == (1024, 0.01, 1.0, 100_000)
    assert full.time_per_step == 1.0 / 1024
    hash(red)  # static configs are hashable
    freqs = lae.LinearAEConfig(patch_size=8, num_freqs=4).frequencies()
    np.testing.assert_allclose(freqs, [1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patch_size": 1}, r"patch_size must be an integer >= 2"),
        ({"depth": 0}, r"depth must be an integer >= 1"),
        ({"num_steps": 10, "record_every": 3}, r"record_every must divide num_steps"),
        ({"lr": 0.0}, r"lr must be a finite number > 0"),
        ({"init_scale": -1.0}, r"init_scale must be a finite number > 0"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1"),
        ({"window": "box"}, r"window must be one of"),
        ({"num_phases": 0}, r"num_phases must be an integer >= 1"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lae.LinearAEConfig(**kwargs)


def test_bad_arguments_raise():
    cfg = lae.LinearAEConfig(patch_size=2, batch_size=4, num_steps=2, record_every=1)
    with pytest.raises(ValueError, match=r"sigma_xx must have shape \(n, n\) = \(4, 4\)"):
        lae.train(jax.random.key(0), cfg, jnp.eye(3))
    with pytest.raises(ValueError, match=r"patches of shape \(P, 4\) are required"):
        lae.train(jax.random.key(0), cfg, jnp.eye(4))
    with pytest.raises(ValueError, match=r"k_min and k_max must satisfy"):
        lae.power_law_exponent(np.ones(8), k_min=5, k_max=6)
    with pytest.raises(ValueError, match=r"P >= 2"):
        lae.patch_statistics(np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"weight must have shape \(m, 4\)"):
        lae.frequency_sensitivity(jnp.eye(3), jnp.ones(2), lae.LinearAEConfig(patch_size=2))
