"""Tests of the siamese decision stage (spec section 1.3) at 67 x 67 px."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vpl_jax import alexnet, siamese

SIZE = 67  # smallest input of the Caffe stack: pool5 is 1 x 1 x 256


@pytest.fixture(scope="module")
def params():
    return siamese.init_model(alexnet.init_params(jax.random.key(0)), image_size=SIZE)


def _images(key, n=6):
    ref_key, tgt_key = jax.random.split(key)
    shape = (n, SIZE, SIZE, 1)
    return 30.0 * jax.random.normal(ref_key, shape), 30.0 * jax.random.normal(tgt_key, shape)


def test_readout_size_and_zero_init(params):
    assert siamese.readout_size() == 9216  # 6 x 6 x 256 at 227 px, as in the paper
    assert siamese.readout_size(image_size=SIZE) == 256
    assert params["readout"]["w"].shape == (256,)
    assert params["readout"]["b"].shape == ()
    assert not np.any(np.asarray(params["readout"]["w"]))
    assert float(params["readout"]["b"]) == 0.0


def test_zero_readout_gives_chance_and_log2_loss(params):
    ref, tgt = _images(jax.random.key(1))
    labels = jnp.asarray([1.0, 0.0] * 3)
    np.testing.assert_array_equal(
        siamese.p_clockwise(params, ref, tgt), np.full(6, 0.5, np.float32)
    )
    np.testing.assert_allclose(
        siamese.loss(params, ref, tgt, labels), np.log(2.0), rtol=1e-6, atol=0
    )


def test_lower_layer_gradients_exactly_zero_with_zero_readout(params):
    ref, tgt = _images(jax.random.key(2))
    labels = jnp.asarray([1.0, 0.0] * 3)
    grads = jax.jit(jax.grad(siamese.loss))(params, ref, tgt, labels)
    for name in alexnet.CAFFE_ALEXNET.layer_names:
        for leaf in ("w", "b"):
            assert not np.any(np.asarray(grads[name][leaf])), f"{name}.{leaf} got a gradient"
    assert np.any(np.asarray(grads["readout"]["w"]))  # only the readout learns at iteration 1
    assert float(grads["readout"]["b"]) == 0.0  # the bias cancels in h_t - h_r


def test_logit_is_target_minus_reference_and_loss_is_bce(params):
    key_w, key_img = jax.random.split(jax.random.key(3))
    model = dict(params)
    model["readout"] = {"w": 0.01 * jax.random.normal(key_w, (256,)), "b": jnp.asarray(0.7)}
    ref, tgt = _images(key_img)
    logit = siamese.decision_logit(model, ref, tgt)
    h_ref, h_tgt = siamese.response(model, ref), siamese.response(model, tgt)
    np.testing.assert_allclose(logit, h_tgt - h_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        siamese.decision_logit(model, tgt, ref), -logit, rtol=1e-5, atol=1e-5
    )
    labels = jnp.asarray([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    p = jax.nn.sigmoid(logit)
    manual = -jnp.mean(labels * jnp.log(p) + (1 - labels) * jnp.log1p(-p))
    np.testing.assert_allclose(siamese.loss(model, ref, tgt, labels), manual, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        siamese.loss(model, ref, tgt, labels),
        jnp.mean(optax.sigmoid_binary_cross_entropy(logit, labels)),
        rtol=1e-6,
        atol=0,
    )


def test_errors(params):
    ref, tgt = _images(jax.random.key(4))
    with pytest.raises(ValueError, match="one shape"):
        siamese.decision_logit(params, ref, tgt[:3])
    with pytest.raises(ValueError, match="labels of shape"):
        siamese.loss(params, ref, tgt, jnp.ones((5,)))
    with pytest.raises(ValueError, match="readout expects 256 inputs"):
        siamese.response(params, jnp.zeros((2, 99, 99, 1)))
    with pytest.raises(ValueError, match="conv2"):
        bad = {k: v for k, v in alexnet.init_params(jax.random.key(0)).items() if k != "conv2"}
        siamese.init_model(bad, image_size=SIZE)
