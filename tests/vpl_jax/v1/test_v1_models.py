"""Tests for vpl_jax.v1.models: the paper's shapes and parameter counts (Table 2), the feature
stacks' conventions, the Gabor filter bank's quadrature pairs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax.networks import vgg
from vpl_jax.v1 import models


def _count(tree) -> int:
    return sum(int(np.prod(np.shape(a))) for a in jax.tree.leaves(tree))


def test_cnn_shapes_and_parameter_counts(key):
    x = jnp.zeros((2, 40, 40))
    cnn = models.CNN(num_layers=3)
    # shapes only (jax.eval_shape: nothing is compiled)
    params, state = jax.eval_shape(lambda k: cnn.init(k, x, 5, jnp.ones(5)), key)
    assert params["u"].shape == (28, 28, 5)  # 40 -> 28 after the 13 x 13 VALID layer
    assert params["v"].shape == (32, 5)
    core = {k: v for k, v in params.items() if k.startswith(("conv", "bn"))}
    assert _count(core) == cnn.core_parameter_count() == 23_936  # the paper prints 23,963
    per_neuron = (_count(params) - _count(core)) // 5
    assert per_neuron == 28 * 28 + 32 + 1 + 50 == 867  # Table 2
    small = models.CNN(num_layers=2, channels=4, first_kernel=5)
    p, s = small.init(key, jnp.zeros((2, 12, 12)), 3, jnp.ones(3))
    out, new_state = small.apply(p, s, jax.random.normal(key, (2, 12, 12)), True)
    assert out.shape == (2, 3) and bool(jnp.all(out >= 0))
    assert jax.tree.structure(new_state) == jax.tree.structure(s)
    with pytest.raises(InputError, match=r"num_layers must lie in 1..8"):
        models.CNN(num_layers=0)


def test_glm_lnp_gfb_parameter_counts(key):
    phi = jnp.zeros((2, 10, 10, 256))  # conv3_1 of a 40 px input
    glm = models.FeatureGLM()
    params, state = glm.init(key, phi, 3, np.ones(3))
    # (the factorised and LNP counts from shapes only)
    assert (params["w"].size + params["b"].size) // 3 == 25_601
    assert params["bn_scale"].size + params["bn_bias"].size == 512  # the core
    fac, _ = jax.eval_shape(
        lambda k: models.FeatureGLM(factorised=True).init(k, phi, 3, np.ones(3)), key
    )
    assert (fac["u"].size + fac["v"].size + fac["b"].size) // 3 == 10 * 10 + 256 + 1
    lnp, _ = jax.eval_shape(
        lambda k: models.LNP().init(k, jnp.zeros((2, 40, 40)), 3, np.ones(3)), key
    )
    assert (lnp["w"].size + lnp["b"].size) // 3 == 1601
    bank = models.gabor_bank(40)
    assert [b["size"] for b in bank] == [6, 11, 21]
    feats = models.gfb_features(np.zeros((2, 40, 40), np.float32), bank)
    assert feats.shape == (2, 1, 1, 3 * 24 * (36 + 25 + 16)) and feats.shape[-1] + 1 == 5545
    # the prediction of a fresh read-out is the mean rate (the bias init)
    pred, _ = glm.apply(params, state, phi)
    np.testing.assert_allclose(pred, 1.0, rtol=1e-5)


def test_gabor_bank_quadrature_energy_is_phase_invariant():
    bank = models.gabor_bank(21, sizes=(21,), num_frequencies=2, num_orientations=4)
    even, odd = bank[0]["even"][:, :, 0, 5], bank[0]["odd"][:, :, 0, 5]  # f = 2/(4 sigma), 45 deg
    sigma, f, th = 21 / 4, 2 / 21, np.pi / 4
    y, x = np.mgrid[0:21, 0:21] - 10.0
    xr = x * np.cos(th) + y * np.sin(th)
    energies = []
    for phase in np.linspace(0, 2 * np.pi, 9):
        grating = np.cos(2 * np.pi * f * xr + phase)
        energies.append(np.sum(grating * even) ** 2 + np.sum(grating * odd) ** 2)
    energies = np.asarray(energies)
    assert energies.std() / energies.mean() < 0.05
    assert np.sum(even * np.exp(-(x**2 + y**2) / (2 * sigma**2))) != 0  # even has a DC part


def test_vgg_and_alexnet_feature_conventions(key):
    params = vgg.init_params(key, vgg.VGG19)
    images = np.asarray(jax.random.normal(key, (4, 40, 40)), np.float32)
    feats = models.vgg_features(params, images, "conv3_1", batch_size=2)
    assert feats.shape == (4, 10, 10, 256)
    tiled = jnp.repeat(jnp.asarray(images[2:])[..., None], 3, axis=-1)
    ref = vgg.features(params, tiled, vgg.VGG19, layers=("conv3_1_nobias",))["conv3_1_nobias"]
    np.testing.assert_allclose(feats[2:], ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match=r"layer must be a conv or pool layer of vgg19"):
        models.vgg_features(params, images, "fc6")
    a_params = alexnet.init_params(key, alexnet.CAFFE_ALEXNET)
    a = models.alexnet_features(a_params, images, "conv2")
    assert a.shape == (4, 8, 8, 256)  # 80 px: conv1 18, pool1 8
    with pytest.raises(InputError, match=r"upsample must give at least 67 px"):
        models.alexnet_features(a_params, images, "conv2", upsample=1)
