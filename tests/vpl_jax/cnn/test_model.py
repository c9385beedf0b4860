"""The 7-layer CNN: parameter count, layer table, BatchNorm behaviour, masks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.cnn import model


def test_parameter_count_is_the_papers(key):
    v = model.init(key)
    assert model.num_parameters(v["params"]) == model.PAPER_PARAMETER_COUNT == 360_106
    # closed form: 3x3 convs with biases, dense layers with biases, BN scale + offset
    feats, chans = (32, 32, 64, 64, 128, 128), (3, 32, 32, 64, 64, 128)
    convs = sum(9 * c * f + f for c, f in zip(chans, feats, strict=True))
    dense = 128 * 512 + 512 + 512 * 10 + 10
    bn = 2 * (sum(feats) + 512)
    assert convs + dense + bn == 360_106
    # running means and variances are state, not parameters
    assert model.num_parameters(v["batch_stats"]) == 2 * (sum(feats) + 512)


def test_layer_table_shapes_and_total():
    rows = model.layer_table()
    shapes = {r.name: r.output_shape for r in rows}
    assert [shapes[f"conv{i}"][0] for i in range(1, 7)] == [30, 14, 12, 5, 3, 1]
    assert list(model.CNNConfig().map_sizes()) == [30, 14, 12, 5, 3, 1]
    assert shapes["fc1"] == (512,) and shapes["fc2"] == (10,)
    assert sum(r.parameters for r in rows) == 360_106
    assert [r.name for r in rows][:4] == ["conv1", "bn1", "conv2", "bn2"]


def test_conv_relu_bn_order_and_inference_bn(key):
    v = model.init(key)
    x = jax.random.normal(key, (4, 32, 32, 3))
    logits, acts = model.apply(v, x)
    assert logits.shape == (4, 10)
    assert float(jnp.min(acts["conv1"])) >= 0.0  # post-ReLU
    # fresh running stats (mean 0, var 1), scale 1, offset 0: bn = conv / sqrt(1 + eps)
    np.testing.assert_allclose(acts["bn1"], acts["conv1"] / np.sqrt(1 + 1e-3), rtol=1e-5, atol=1e-6)
    # conv1 by hand (VALID, stride 1): one output pixel
    w, b = v["params"]["conv1"]["kernel"], v["params"]["conv1"]["bias"]
    manual = jnp.maximum(jnp.einsum("ijc,ijcf->f", x[0, 5:8, 7:10], w) + b, 0)
    np.testing.assert_allclose(acts["conv1"][0, 5, 7], manual, rtol=1e-5, atol=1e-6)


def test_train_mode_updates_running_stats_with_momentum(key):
    v = model.init(key)
    x = jax.random.normal(key, (8, 32, 32, 3)) + 1.0
    (_, acts), new_bs = model.apply(v, x, train=True)
    batch_mean = jnp.mean(acts["conv1"], axis=(0, 1, 2))
    # Keras/flax: running = 0.99 * running + 0.01 * batch
    np.testing.assert_allclose(new_bs["bn1"]["mean"], 0.01 * batch_mean, rtol=1e-5, atol=1e-7)
    # in training mode the BN output of conv1 has zero mean per channel
    np.testing.assert_allclose(jnp.mean(acts["bn1"], axis=(0, 1, 2)), 0.0, atol=1e-4)


def test_mask_zeroes_bn_channels_exactly(key):
    v = model.init(key)
    x = jax.random.normal(key, (2, 32, 32, 3))
    mask = jnp.ones(32).at[jnp.array([1, 4])].set(0.0)
    _, acts = model.apply(v, x, masks={"bn2": mask})
    assert float(jnp.abs(acts["bn2"][..., 1]).max()) == 0.0
    _, plain = model.apply(v, x)
    np.testing.assert_array_equal(acts["bn2"][..., 0], plain["bn2"][..., 0])
    np.testing.assert_array_equal(acts["conv2"], plain["conv2"])  # upstream unchanged


def test_config_errors():
    with pytest.raises(InputError, match="conv_features and conv_strides must each hold 6"):
        model.CNNConfig(conv_features=(32, 32))
    with pytest.raises(InputError, match="image_size must leave a map"):
        model.CNNConfig(image_size=16)
    with pytest.raises(InputError, match="bn_momentum must be in"):
        model.CNNConfig(bn_momentum=1.0)
