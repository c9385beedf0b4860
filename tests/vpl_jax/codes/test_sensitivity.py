"""Tests for vpl_jax.codes.sensitivity: forward-mode D vs central differences for every network
family, the vmapped seed axis vs a loop, ratios, bootstrap intervals and circular shifts."""

import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax.codes import models, sensitivity, stimuli
from vpl_jax.networks import resnet, vgg

# Small but real architectures of every family (same code paths as the full ones).
TINY_VGG = vgg.VGGSpec(name="vgg_tiny_bn", config=(4, "M", 8, 8, "M"), batch_norm=True)
TINY_RESNET = resnet.ResNetSpec(name="resnet_tiny", widths=(4, 4, 8, 8), num_classes=3)
TINY_CNN = models.SmallCNNSpec(
    in_channels=1, channels=(4, 6), kernel=3, num_classes=3, input_size=16
)

NETWORKS = {
    "caffe_alexnet": (models.alexnet_network(input_size=67), 67),
    "torchvision_alexnet": (models.alexnet_network(alexnet.TORCHVISION_ALEXNET, input_size=63), 63),
    "vgg": (models.vgg_network(TINY_VGG, input_size=16), 16),
    "resnet": (
        models.resnet_network(TINY_RESNET, layers=("layer1.0", "layer4.1"), input_size=32),
        32,
    ),
    "small_cnn": (models.small_cnn_network(TINY_CNN), 16),
}


def _bn_params(params, key):
    """Give every BatchNorm non-trivial running statistics and affine terms."""

    def fix(path, leaf):
        name = path[-1].key
        k = jax.random.fold_in(key, zlib.crc32(jax.tree_util.keystr(path).encode()) % (2**31))
        if name == "var":
            return jax.random.uniform(k, leaf.shape, leaf.dtype, 0.5, 2.0)
        if name in ("mean", "bias", "b"):
            return 0.1 * jax.random.normal(k, leaf.shape, leaf.dtype)
        if name == "scale":
            return jax.random.uniform(k, leaf.shape, leaf.dtype, 0.5, 1.5)
        return leaf

    return jax.tree_util.tree_map_with_path(fix, params)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_forward_mode_sensitivity_matches_central_differences(name):
    net, size = NETWORKS[name]
    with jax.enable_x64(True):
        params = jax.tree.map(
            lambda a: jnp.asarray(a, jnp.float64), models.load_params(net, "random:3")
        )
        params = _bn_params(params, jax.random.key(1))
        make = sensitivity.GaborStimulus(
            size, *stimuli.scaled_gabor_parameters(size), net.in_channels
        )
        thetas = np.array([17.0])
        got = sensitivity.stimulus_sensitivity(net, params, make, thetas, np.array([0.4]), chunk=2)
        for i, theta in enumerate(thetas):
            fn = lambda t: models.apply(net, params, make(t, 0.4)[None])
            fd = sensitivity.finite_difference_sensitivity(fn, theta, step=1e-6)
            for layer in net.layers:
                assert got[layer][0, i] > 0, (name, layer)
                np.testing.assert_allclose(
                    got[layer][0, i], float(fd[layer]), rtol=1e-4, err_msg=f"{name} {layer}"
                )


def test_stacked_seeds_equal_a_loop_over_seeds():
    net, _ = NETWORKS["small_cnn"]
    keys = jax.random.split(jax.random.key(0), 3)
    stacked = jax.vmap(lambda k: models.init_small_cnn(k, TINY_CNN))(keys)
    thetas, phases = np.array([0.0, 45.0, 90.0]), np.array([0.0, 1.0])
    together = sensitivity.orientation_sensitivity(
        net, stacked, thetas, phases, stacked=True, chunk=4
    )
    for r in range(3):
        one = sensitivity.orientation_sensitivity(
            net, jax.tree.map(lambda a, r=r: a[r], stacked), thetas, phases, chunk=5
        )
        for layer in net.layers:
            assert together[layer].shape == (3, 2, 3)
            np.testing.assert_allclose(together[layer][r], one[layer], rtol=1e-5)


def test_linear_filter_network_has_the_planted_orientation_preference():
    """A linear 'network' of Gabor filters at the cardinals only is sensitive near the cardinals
    (planted effect); a bank at every 7.5 deg is isotropic (planted null)."""
    from theory.sensitivity import sensitivity_curve

    size = 32
    f, s = stimuli.scaled_gabor_parameters(size)
    th = np.arange(0.0, 180.0, 5.0)

    def curve(angles):
        filters = jnp.stack(
            [
                stimuli.gabor(a, 0.0, size=size, frequency=f, sigma=s, channels=1)[..., 0]
                for a in angles
            ]
        )

        def resp(theta, phase):
            img = stimuli.gabor(theta, phase, size=size, frequency=f, sigma=s, channels=1)[..., 0]
            return jnp.einsum("khw,hw->k", filters, img)

        return np.asarray(
            jax.jit(lambda: sensitivity_curve(resp, th, jnp.arange(8) * jnp.pi / 4))()
        )

    assert float(sensitivity.cardinal_oblique(th, curve([0.0, 90.0]))) > 2.0
    assert float(
        sensitivity.cardinal_oblique(th, curve(np.arange(0.0, 180.0, 7.5)))
    ) == pytest.approx(1.0, abs=0.05)


def test_window_ratio_and_bootstrap_interval_cover_the_planted_ratio(key):
    th = sensitivity.orientation_grid(36)
    curve = 2.0 + np.cos(np.deg2rad(4 * th))
    exact = float(sensitivity.cardinal_oblique(th, curve))
    ref = (2 + np.mean(np.cos(np.deg2rad(4 * np.array([-5.0, 0, 5]))))) / (
        2 - np.mean(np.cos(np.deg2rad(4 * np.array([-5.0, 0, 5]))))
    )
    assert exact == pytest.approx(ref, rel=1e-12)
    noise = np.random.default_rng(0).normal(0, 0.3, (40, th.size))
    est, lo, hi = sensitivity.bootstrap_ratio(
        key, curve + noise, functools.partial(sensitivity.cardinal_oblique, th), num=500
    )
    assert lo < exact < hi and lo < est < hi and hi - lo < 1.0
    flat = 2.0 + noise
    _, lo0, hi0 = sensitivity.bootstrap_ratio(
        key, flat, functools.partial(sensitivity.cardinal_oblique, th), num=500
    )
    assert lo0 < 1.0 < hi0  # planted null


def test_circular_shift_recovers_planted_lags():
    t = np.arange(0.0, 360.0, 5.0)
    base = np.exp(np.cos(np.deg2rad(t - 30.0))) + 0.3 * np.cos(np.deg2rad(3 * t))
    for lag in (90.0, -45.0, 0.0):
        moved = np.interp(np.mod(t - lag, 360.0), t, base, period=360.0)
        assert sensitivity.circular_shift(base, moved, period=360.0) == pytest.approx(lag)


def test_orientation_grid_and_errors():
    np.testing.assert_allclose(sensitivity.orientation_grid(4), [0, 45, 90, 135])
    with pytest.raises(InputError, match=r"num must be an integer >= 4"):
        sensitivity.orientation_grid(3)
    with pytest.raises(InputError, match=r"no grid point lies within 1"):
        sensitivity.window_ratio(np.array([0.0, 30.0]), np.ones(2), (0.0,), (45.0,), half_width=1.0)
    with pytest.raises(InputError, match=r"samples must have shape \(S >= 2, T\)"):
        sensitivity.bootstrap_ratio(jax.random.key(0), np.ones((1, 4)), np.mean)
    with pytest.raises(InputError, match=r"hue sensitivity needs an RGB network"):
        sensitivity.hue_sensitivity(NETWORKS["small_cnn"][0], {})
    with pytest.raises(InputError, match=r"chunk must be an integer >= 1"):
        sensitivity.stimulus_sensitivity(
            NETWORKS["small_cnn"][0],
            {},
            sensitivity.HueStimulus(4),
            np.zeros(2),
            np.zeros(2),
            chunk=0,
        )
