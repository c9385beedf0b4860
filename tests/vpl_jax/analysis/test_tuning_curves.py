"""Tests of vpl_jax.analysis.tuning: smoothing/gradients vs scipy, attributes vs closed forms,
Fisher information vs closed forms and NumPy, jacfwd vs central differences on the network,
batched vs per-network recording, the contract's tables, error paths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special
from scipy.ndimage import gaussian_filter1d

from vpl_jax import weights
from vpl_jax.analysis import tuning as T
from vpl_jax.analysis.recording import UNIT_COLUMNS

SIZE = 67  # smallest input of the Caffe stack: fast tests, centre unit = map centre
LAYERS = ("norm1", "conv3", "conv5")
PROTOCOL = dict(size=SIZE, num_orientations=6, num_noise=4, layers=LAYERS)


@pytest.fixture(scope="module")
def params():
    return weights.load("default")


@pytest.fixture(scope="module")
def recording(params):
    return T.record_tuning(jax.random.key(3), params, 30.0, **PROTOCOL)


def von_mises(theta_deg, theta0_deg, kappa, a=2.0, b=0.5):
    return b + a * np.exp(kappa * (np.cos(np.deg2rad(2 * (theta_deg - theta0_deg))) - 1))


# ------------------------------------------------------------------------------------------
# Smoothing and the paper's gradient == scipy.ndimage.gaussian_filter1d (mode="wrap")
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [6, 25, 100])
@pytest.mark.parametrize("sigma", [1.0, 3.0])
def test_gaussian_smooth_matches_scipy_wrap(n, sigma):
    x = np.random.default_rng(n).normal(size=(2, n, 5))
    ref = gaussian_filter1d(x, sigma, axis=-2, mode="wrap")
    with jax.enable_x64(True):
        np.testing.assert_allclose(T.gaussian_smooth(x, sigma), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [6, 100])
def test_smoothed_gradient_matches_scipy_order1(n):
    x = np.random.default_rng(1).normal(size=(n, 4))
    spacing = 180.0 / (n - 1)
    ref = gaussian_filter1d(x, 3.0, axis=0, order=1, mode="wrap") / spacing
    with jax.enable_x64(True):
        np.testing.assert_allclose(T.smoothed_gradient(x, spacing), ref, rtol=0, atol=1e-12)


def test_smoothed_gradient_of_a_cosine_is_its_attenuated_derivative():
    # On a periodic grid the derivative-of-Gaussian filter maps cos(w i) to -G sin(w i) with the
    # filter's gain G = sum_k (k / sigma^2) phi_k sin(w k) (phi: the normalised sampled Gaussian
    # on |k| <= 4 sigma), close to w exp(-w^2 sigma^2 / 2) for the continuous filter.
    n, sigma = 360, 3.0
    theta = np.arange(n) * 0.5  # 0.5 deg spacing, a full 180 deg period
    f = np.cos(np.deg2rad(2 * theta))[:, None]
    w = 2 * np.pi / n
    k = np.arange(-12, 13)
    phi = np.exp(-0.5 * (k / sigma) ** 2)
    phi /= phi.sum()
    gain = np.sum(k / sigma**2 * phi * np.sin(w * k))
    np.testing.assert_allclose(gain, w * np.exp(-((w * sigma) ** 2) / 2), rtol=1e-3)
    expected = -np.sin(np.deg2rad(2 * theta)) * gain / 0.5
    with jax.enable_x64(True):
        got = T.smoothed_gradient(f, 0.5, sigma)[:, 0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------
# Attributes on synthetic tuning curves with analytic answers
# ------------------------------------------------------------------------------------------


def test_po_and_amplitude_of_von_mises_curves():
    theta = T.relative_orientations(101)  # 1.8 deg spacing, 0 on the grid
    theta0 = np.array([-45.0, 0.0, 18.0, 90.0])
    kappa = np.array([0.5, 1.0, 2.0, 4.0])
    curves = von_mises(theta[:, None], theta0[None, :], kappa[None, :])
    po = T.preferred_orientation(curves, theta)
    # The grid holds both -90 and +90 (the same orientation): PO 90 is reported as -90.
    np.testing.assert_allclose(po, [-45.0, 0.0, 18.0, -90.0], atol=1e-4)
    # max = b + a at theta0, min = b + a exp(-2 kappa) at theta0 +/- 90 (on the grid).
    np.testing.assert_allclose(T.amplitude(curves), 2.0 * (1 - np.exp(-2 * kappa)), rtol=1e-5)


def test_si_closed_forms():
    theta = np.arange(36) * 5.0 - 90.0  # 180 deg evenly, one endpoint
    # 1 + a cos 2(theta - theta0): SI = a / 2.
    a = np.array([0.0, 0.3, 1.0])
    curves = 1 + a[None, :] * np.cos(np.deg2rad(2 * (theta[:, None] - 17.0)))
    np.testing.assert_allclose(T.selectivity_index(curves, theta), a / 2, atol=1e-6)
    # exp(kappa cos 2(theta - theta0)) on a fine grid: SI = I1(kappa) / I0(kappa).
    fine = np.arange(720) * 0.25 - 90.0
    kappa = np.array([0.2, 1.0, 3.0])
    vm = np.exp(kappa[None, :] * np.cos(np.deg2rad(2 * (fine[:, None] + 33.0))))
    np.testing.assert_allclose(
        T.selectivity_index(vm, fine), special.i1(kappa) / special.i0(kappa), rtol=1e-5
    )


def test_slope_at_reference_vs_analytic_derivative():
    theta = T.relative_orientations(101)
    theta0, a = np.array([10.0, -30.0, 45.0]), 0.8
    curves = 1 + a * np.cos(np.deg2rad(2 * (theta[:, None] - theta0[None, :])))
    deriv = -a * np.sin(np.deg2rad(2 * (theta[:, None] - theta0[None, :]))) * 2 * np.pi / 180
    peak = curves.max(0)  # 1 + a only where theta0 falls on the grid
    expected = np.abs(a * np.sin(np.deg2rad(-2 * theta0)) * 2 * np.pi / 180) / peak
    got = T.slope_at_reference(deriv, curves, theta)
    np.testing.assert_allclose(got, expected, rtol=1e-4)  # float32
    # TO midway between samples (the paper's even grid): linear interpolation of f'.
    theta100 = T.relative_orientations(100)
    c100 = 1 + a * np.cos(np.deg2rad(2 * (theta100[:, None] - theta0[None, :])))
    d100 = -a * np.sin(np.deg2rad(2 * (theta100[:, None] - theta0[None, :]))) * 2 * np.pi / 180
    expected = expected * peak / c100.max(0)
    got = T.slope_at_reference(d100, c100, theta100)
    np.testing.assert_allclose(got, expected, rtol=2e-3)  # interpolation error ~ (0.9 deg)^2


def test_variance_attributes_closed_forms():
    theta = T.relative_orientations(51)
    mean = von_mises(theta[:, None], np.array([[20.0, -60.0]]), 1.5)
    fano = np.array([[0.7, 2.0]])
    var = fano * mean
    np.testing.assert_allclose(
        T.normalised_variance_at_po(mean, var), fano[0] + 1e-4 / mean.max(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        T.variance_ratio(mean, var), np.mean(var / (0.1 + mean), axis=0), rtol=1e-5
    )
    grad = np.gradient(mean, theta, axis=0)
    fi = grad**2 / (var + 0.01)
    np.testing.assert_allclose(T.single_unit_fisher(grad, var), fi, rtol=1e-5)
    np.testing.assert_allclose(T.best_discriminability(grad, var), 1 / fi.max(0), rtol=1e-5)


# ------------------------------------------------------------------------------------------
# Population Fisher information
# ------------------------------------------------------------------------------------------


def test_fisher_of_independent_population_is_the_sum_over_units():
    rng = np.random.default_rng(0)
    o, c = 7, 30
    grad = rng.normal(size=(o, c))
    var = rng.uniform(0.1, 3.0, size=(o, c))
    mean = rng.uniform(0.0, 3.0, size=(o, c))  # about a third of the units below 1.0
    cov = var[..., None] * np.eye(c)
    used = mean >= 1.0
    expected = np.sum(np.where(used, grad**2 / (var + 0.01), 0), -1) / used.sum(-1)
    with jax.enable_x64(True):
        got = T.population_fisher(grad, cov, mean)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # A single unit: the single-unit FI.
    with jax.enable_x64(True):
        one = T.population_fisher(grad[:, :1], cov[:, :1, :1], np.ones((o, 1)) * 5)
    np.testing.assert_allclose(one, T.single_unit_fisher(grad[:, :1], var[:, :1])[:, 0], rtol=1e-6)


def test_fisher_of_correlated_population_vs_numpy_solve():
    rng = np.random.default_rng(1)
    o, c, n = 5, 40, 20  # fewer samples than units: singular without the ridge
    x = rng.normal(size=(o, n, c)) @ rng.normal(size=(c, c)) * 0.3
    d = x - x.mean(1, keepdims=True)
    cov = np.einsum("onc,ond->ocd", d, d) / n
    grad = rng.normal(size=(o, c))
    mean = rng.uniform(0.5, 2.0, size=(o, c))
    expected = np.empty(o)
    for i in range(o):
        u = mean[i] >= 1.0
        sub = cov[i][np.ix_(u, u)] + 0.01 * np.eye(u.sum())
        expected[i] = grad[i, u] @ np.linalg.solve(sub, grad[i, u]) / u.sum()
    with jax.enable_x64(True):
        got = jax.jit(T.population_fisher)(grad, cov, mean)
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    # float32: stated tolerance 1e-3 relative (condition number of Sigma + 0.01 I ~ 1e4).
    got32 = T.population_fisher(*(a.astype(np.float32) for a in (grad, cov, mean)))
    np.testing.assert_allclose(got32, expected, rtol=1e-3)


def test_sample_space_fisher_in_float32_matches_float64_solve():
    # The recording's FI works on the (N, C) samples: N = 8 samples of C = 60 units with
    # activations ~300 (Sigma + 0.01 I has condition number ~1e8). float32 vs float64: 1e-3.
    rng = np.random.default_rng(2)
    n, c = 8, 60
    samples = 300 * np.abs(rng.normal(size=(n, c)) @ rng.normal(size=(c, c)) / 8) + 0.5
    grad = 50 * rng.normal(size=c)
    mu = samples.mean(0)
    d = samples - mu
    u = mu >= 1.0
    sub = (d.T @ d / n)[np.ix_(u, u)] + 0.01 * np.eye(u.sum())
    expected = grad[u] @ np.linalg.solve(sub, grad[u]) / u.sum()
    got = T._fisher_from_samples(
        jnp.asarray(grad, jnp.float32), jnp.asarray(samples, jnp.float32), 0.01, 1.0
    )
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    with jax.enable_x64(True):
        cov = (d.T @ d / n)[None]
        full = T.population_fisher(grad[None], cov, mu[None])
    np.testing.assert_allclose(full[0], expected, rtol=1e-8)


def test_fisher_is_nan_without_included_units():
    fi = T.population_fisher(np.ones((2, 3)), np.zeros((2, 3, 3)), np.zeros((2, 3)))
    assert np.all(np.isnan(fi))


# ------------------------------------------------------------------------------------------
# Recording on the network
# ------------------------------------------------------------------------------------------


def test_recording_shapes_and_order(recording):
    assert recording.layers == LAYERS
    for layer, c in zip(LAYERS, (96, 384, 256), strict=True):
        for field in (recording.mean, recording.var, recording.grad):
            assert field[layer].shape == (6, c)
        assert recording.fisher[layer].shape == (6,)
        assert np.all(np.asarray(recording.var[layer]) >= 0)
    np.testing.assert_allclose(recording.orientations_rel_deg, np.linspace(-90, 90, 6))


def test_jacfwd_gradient_matches_central_differences(params, recording, compilations):
    # Same noise at theta +/- h (the keys depend on the grid index only). float32 network:
    # h = 0.1 deg; an entry agrees within 5% + 2% of the layer's largest gradient (round-off of
    # activations up to ~1e3 over 2h). Units crossing their ReLU threshold within +/- h have no
    # derivative there: at most 1% of entries may differ, and the correlation must be > 0.999.
    h = 0.1
    up = T.record_tuning(jax.random.key(3), params, 30.0 + h, **PROTOCOL)
    with compilations() as names:
        down = T.record_tuning(jax.random.key(3), params, 30.0 - h, **PROTOCOL)
    assert "_record_chunk" not in names, names  # a new reference does not recompile
    for layer in LAYERS:
        fd = (np.asarray(up.mean[layer]) - np.asarray(down.mean[layer])) / (2 * h)
        jac = np.asarray(recording.grad[layer])
        scale = np.abs(jac).max()
        assert scale > 0
        close = np.abs(jac - fd) <= 0.05 * np.abs(fd) + 0.02 * scale
        assert close.mean() >= 0.99, (layer, close.mean())
        assert np.corrcoef(jac.ravel(), fd.ravel())[0, 1] > 0.999


def test_jacfwd_gradient_equals_jax_jacfwd_of_the_full_forward(params, recording):
    """The hand-carried cone tangent (centre_jvp) equals jax.jacfwd of the sample mean through
    the full feature maps on the same images (an independent path), and so do the mean, the
    variance and the Fisher information."""
    from vpl_jax import alexnet, stimuli

    arch, n, o = alexnet.CAFFE_ALEXNET, PROTOCOL["num_noise"], PROTOCOL["num_orientations"]
    keys = jax.random.split(jax.random.key(3), (o, n))
    thetas = 30.0 + np.asarray(T.relative_orientations(o), np.float32)
    make = stimuli.NoisyGaborInput(SIZE, 1)
    consts = stimuli.NoisyGaborParams(10.0, 50.0, 0.2, 15.0).as_arrays()

    def samples(theta, k):
        stim = stimuli.NoisyGaborStimulus(jnp.broadcast_to(theta, (n,)), k)
        out = alexnet.features(params, jax.vmap(make, in_axes=(0, None))(stim, consts), arch)
        return {l: out[l][:, out[l].shape[1] // 2, out[l].shape[2] // 2, :] for l in LAYERS}

    for i in range(o):
        theta = jnp.float32(thetas[i])
        x = samples(theta, keys[i])
        grad = jax.jacfwd(lambda t, i=i: {l: v.mean(0) for l, v in samples(t, keys[i]).items()})(
            theta
        )
        for layer in LAYERS:
            g_rec = np.asarray(recording.grad[layer][i])
            scale = float(np.abs(grad[layer]).max())
            assert scale > 0, layer
            np.testing.assert_allclose(g_rec, grad[layer], rtol=1e-4, atol=1e-5 * scale)
            np.testing.assert_allclose(
                recording.mean[layer][i], x[layer].mean(0), rtol=1e-5, atol=1e-4
            )
            fi = T._fisher_from_samples(
                grad[layer], x[layer], T.FISHER_RIDGE, T.INCLUSION_THRESHOLD
            )
            np.testing.assert_allclose(recording.fisher[layer][i], fi, rtol=1e-3)


def test_smoothed_gradient_recording_matches_scipy(params, recording):
    rec = T.record_tuning(jax.random.key(3), params, 30.0, gradient="smoothed", **PROTOCOL)
    spacing = 180.0 / 5
    for layer in LAYERS:
        mean = np.asarray(rec.mean[layer], np.float64)
        # Same noise, same means as the jacfwd recording.
        np.testing.assert_allclose(mean, recording.mean[layer], rtol=1e-4, atol=1e-3)
        ref = gaussian_filter1d(mean, 3.0, axis=0, order=1, mode="wrap") / spacing
        np.testing.assert_allclose(rec.grad[layer], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_batched_recording_equals_per_network(params, recording):
    other = jax.tree.map(lambda x: x * 1.1, params)
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, other)
    batch = T.record_tuning(
        jax.random.key(3), stacked, jnp.array([30.0, -20.0]), network_batch=2, **PROTOCOL
    )
    single = T.record_tuning(jax.random.key(3), other, -20.0, **PROTOCOL)
    for layer in LAYERS:
        for got, ref in ((batch.mean, recording.mean), (batch.grad, recording.grad)):
            scale = np.abs(np.asarray(ref[layer])).max()
            np.testing.assert_allclose(got[layer][0], ref[layer], rtol=1e-4, atol=1e-5 * scale)
        for field in ("mean", "var", "grad"):
            ref = np.asarray(getattr(single, field)[layer])
            np.testing.assert_allclose(
                getattr(batch, field)[layer][1], ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max()
            )
        np.testing.assert_allclose(batch.fisher[layer][1], single.fisher[layer], rtol=1e-3)


def test_unit_table_and_curves_follow_the_contract(recording):
    df = T.unit_table(recording, network=4, separation_deg=1.0, trained=True)
    assert tuple(df.columns) == UNIT_COLUMNS
    assert len(df) == 96 + 384 + 256
    assert df["layer_index"].tolist() == [1] * 96 + [3] * 384 + [5] * 256
    curves = T.unit_curves(recording)
    assert curves.shape == (len(df), 6)
    conv3 = (df["layer"] == "conv3").to_numpy()
    smoothed = gaussian_filter1d(
        np.asarray(recording.mean["conv3"], np.float64), 1.0, axis=0, mode="wrap"
    )
    np.testing.assert_allclose(curves[conv3], smoothed.T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(df["mean_activation"], curves.mean(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(df["included"], df["mean_activation"] >= 1.0)
    assert df["included"].any() and not df["included"].all()
    assert (df["reference_deg"] == 30.0).all() and (df["network"] == 4).all()
    po = df["po_rel_deg"]
    assert ((po >= -90) & (po < 90)).all()
    naive = T.unit_table(recording, network=-1, separation_deg=1.0, trained=False)
    assert naive["separation_deg"].isna().all() and not naive["trained"].any()


def test_fisher_frame_and_value_at_reference(recording):
    fr = T.fisher_frame(recording, network=2, separation_deg=5.0)
    assert tuple(fr.columns) == T.FISHER_COLUMNS and len(fr) == 3 * 6
    at = T.fisher_at_reference(fr)
    for layer in LAYERS:
        fi = np.asarray(recording.fisher[layer], np.float64)
        expected = np.interp(0.0, recording.orientations_rel_deg, fi)
        np.testing.assert_allclose(at.loc[at.layer == layer, "fi"], expected, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Error paths
# ------------------------------------------------------------------------------------------


def test_bad_inputs(params):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="gradient must be one of"):
        T.record_tuning(key, params, 0.0, gradient="fd", size=SIZE)
    with pytest.raises(ValueError, match="num_noise must be an integer >= 2"):
        T.record_tuning(key, params, 0.0, num_noise=1, size=SIZE)
    with pytest.raises(ValueError, match="size must be an integer >= 67"):
        T.record_tuning(key, params, 0.0, size=40)
    with pytest.raises(ValueError, match="unknown layer"):
        T.record_tuning(key, params, 0.0, layers=("fc6",), size=SIZE)
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), params)
    with pytest.raises(ValueError, match="reference_deg must have shape \\(2,\\)"):
        T.record_tuning(key, stacked, jnp.zeros(3), size=SIZE)
    with pytest.raises(ValueError, match="cov must have shape"):
        T.population_fisher(np.ones((2, 3)), np.ones((2, 3, 4)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="ridge must be > 0"):
        T.population_fisher(np.ones((2, 3)), np.ones((2, 3, 3)), np.ones((2, 3)), ridge=0.0)
    with pytest.raises(ValueError, match="orientations_rel_deg must have shape"):
        T.selectivity_index(np.ones((5, 2)), np.arange(4.0))
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        T.gaussian_smooth(np.ones((5, 2)), -1.0)
    with pytest.raises(ValueError, match="grad and mean must have the same shape"):
        T.slope_at_reference(np.ones((5, 2)), np.ones((5, 3)), np.arange(5.0) - 2)


def test_unit_table_rejects_bad_metadata(recording):
    with pytest.raises(ValueError, match="network must be a scalar or have shape"):
        T.unit_table(recording, network=[1, 2])
