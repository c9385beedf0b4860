"""Tests for vpl_jax.codes.label_noise: H_b^-1, the conditions' statistics, batches, losses,
first-layer sensitivity, vmapped training and resuming."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, optimize, stats

from theory.checks import InputError
from vpl_jax.codes import label_noise as ln
from vpl_jax.codes import sensitivity

TINY = ln.LabelNoiseConfig(
    size=16,
    period=3.2,
    hidden=(16, 16),
    num_bins=12,
    batch=8,
    num_steps=2,
    record_every=2,
    num_orientations=12,
    num_phases=4,
)


def _hb(p):
    return -p * np.log2(p) - (1 - p) * np.log2(1 - p)


def test_inverse_binary_entropy_matches_brentq():
    h = np.linspace(0.01, 0.99, 50)
    ref = [optimize.brentq(lambda p, t=t: _hb(p) - t, 0.5, 1 - 1e-15, xtol=1e-14) for t in h]
    np.testing.assert_allclose(
        np.asarray(ln.inverse_binary_entropy(jnp.asarray(h, jnp.float32))), ref, atol=1e-6
    )
    np.testing.assert_allclose(float(ln.inverse_binary_entropy(0.0)), 1.0, atol=1e-6)
    np.testing.assert_allclose(float(ln.inverse_binary_entropy(1.0)), 0.5, atol=1e-6)


def test_balanced_condition_reproduces_the_spec_table():
    theta = np.array([0.0, 22.5, 45.0, 67.5, 90.0])
    sigma = np.asarray(ln.label_rate(theta, "6d"))
    np.testing.assert_allclose(sigma, [1.000, 0.963, 0.890, 0.842, 0.826], atol=6e-4)
    p = np.asarray(ln.density(theta, 1.0))
    np.testing.assert_allclose(p, [0.1592, 0.2058, 0.3183, 0.4308, 0.4775], atol=1e-4)
    info = np.asarray(ln.information(theta, "6d"))
    np.testing.assert_allclose(p * info, ln.DEFAULT_A, rtol=1e-5)  # p I = a: balanced
    info_b = np.asarray(ln.information(theta, "6b"))
    np.testing.assert_allclose(info_b, (2 - np.cos(np.deg2rad(2 * theta))) / 3, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(ln.label_rate(theta, "6c")), 1.0)


def test_density_normalises_and_the_sampler_follows_it(key):
    t = np.linspace(0.0, np.pi, 20001)
    for w in (0.0, 1.0):
        with jax.enable_x64(True):
            p = np.asarray(ln.density(np.rad2deg(t), w))
        assert integrate.trapezoid(p, t) == pytest.approx(1.0, abs=1e-8)
    draws = np.asarray(ln.sample_orientations(key, 20000, 1.0))
    assert draws.min() >= 0 and draws.max() < 180
    cdf = lambda d: np.deg2rad(d) / np.pi - np.sin(2 * np.deg2rad(d)) / (4 * np.pi)
    assert stats.kstest(draws, cdf).pvalue > 0.01
    uniform = np.asarray(ln.sample_orientations(key, 20000, 0.0))
    assert stats.kstest(uniform, lambda d: d / 180.0).pvalue > 0.01


def test_batches_drop_labels_at_the_condition_rate(key):
    cfg = ln.LabelNoiseConfig(batch=4000, size=8, period=3.2)
    cond = ln.condition_arrays("6d", cfg)
    images, labels, theta = jax.jit(lambda k: ln.make_batch(k, cond, cfg))(key)
    assert images.shape == (4000, 64) and labels.shape == (4000, 60)
    kept = np.asarray(labels.sum(1))
    assert set(np.unique(kept)) <= {0.0, 1.0}
    bins = np.argmax(np.asarray(labels), 1)
    np.testing.assert_array_equal(bins[kept == 1], (np.asarray(theta)[kept == 1] // 3).astype(int))
    expected = float(np.mean(np.asarray(ln.label_rate(np.asarray(theta), "6d"))))
    assert kept.mean() == pytest.approx(expected, abs=3 * np.sqrt(expected * (1 - expected) / 4000))


def test_softmax_ignores_all_zero_labels_while_sigmoid_does_not(key):
    logits = jax.random.normal(key, (3, 60))
    zeros = jnp.zeros((3, 60))
    g_soft = jax.grad(lambda z: optax.softmax_cross_entropy(z, zeros).sum())(logits)
    g_sig = jax.grad(lambda z: optax.sigmoid_binary_cross_entropy(z, zeros).sum())(logits)
    assert float(jnp.abs(g_soft).max()) == 0.0 and float(jnp.abs(g_sig).max()) > 0.0


def test_first_layer_sensitivity_matches_central_differences(key):
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), ln.init_mlp(key, TINY))
        d = np.asarray(jax.jit(lambda p: ln.first_layer_sensitivity(p, TINY))(params))
        phases = 2 * np.pi * np.arange(TINY.num_phases) / TINY.num_phases
        theta = 15.0 * 3  # grid point 3 (15 deg spacing)

        def h1(t, ph):
            x = ln.stimuli.grating(t, ph, size=TINY.size, period=TINY.period).reshape(1, -1)
            return jax.nn.relu(x @ params["fc1"]["w"] + params["fc1"]["b"][None, :])

        fd = np.mean(
            [
                float(
                    sensitivity.finite_difference_sensitivity(
                        lambda t, ph=ph: h1(t, ph), theta, step=1e-6
                    )
                )
                for ph in phases
            ]
        )
        assert d.shape == (12,)
        np.testing.assert_allclose(d[3], fd, rtol=1e-5)


def test_training_is_vmapped_per_condition_and_resumes(key, tmp_path):
    res = ln.train(key, ("6c", "control"), 2, TINY, checkpoint_dir=tmp_path)
    assert res.sensitivity.shape == (2, 2, 2, 12) and res.steps.tolist() == [0, 2]
    # seed r shares its initialisation across conditions
    np.testing.assert_allclose(res.sensitivity[0, :, 0], res.sensitivity[1, :, 0], rtol=1e-6)
    assert np.isfinite(res.loss[..., 1:]).all()
    again = ln.train(key, ("6c", "control"), 2, TINY, checkpoint_dir=tmp_path)  # from checkpoints
    np.testing.assert_array_equal(again.sensitivity, res.sensitivity)
    summary = ln.summarise(res)
    assert set(summary) == {"6c", "control"} and len(summary["6c"]["ratios"]) == 2


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ln.label_rate(0.0, "6e"), r"condition must be one of"),
        (
            lambda: ln.LabelNoiseConfig(num_steps=10, record_every=3),
            r"record_every \(3\) must divide",
        ),
        (lambda: ln.LabelNoiseConfig(loss="mse"), r"loss must be 'sigmoid' or 'softmax'"),
        (lambda: ln.LabelNoiseConfig(a=0.5), r"a must lie in \(0, 1/\(2 pi\)\]"),
        (lambda: ln.train(jax.random.key(0), (), 1, TINY), r"conditions must name"),
        (
            lambda: ln.train(jax.random.key(0), ("6b",), 0, TINY),
            r"num_seeds must be an integer >= 1",
        ),
    ],
)
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()
