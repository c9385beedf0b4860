"""Tests of vpl_jax.analysis.ablation: channel masks, silenced params, the discrimination task."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vpl_jax import alexnet
from vpl_jax.analysis import ablation as ab
from vpl_jax.analysis import recording, selectivity

SMALL = 67  # the smallest input of the Caffe stack: every layer still has a centre unit


# Module-scoped fixtures run outside the function-scoped strict-rank fixture of conftest.py:
# they enter the same context themselves (and compiled programs are then shared with the tests).


@pytest.fixture(scope="module")
def he_params():
    with jax.numpy_rank_promotion("raise"):
        return alexnet.init_params(jax.random.key(0))


@pytest.fixture(scope="module")
def images7():
    with jax.numpy_rank_promotion("raise"):
        return 40.0 * jax.random.normal(jax.random.key(1), (7, 67, 67, 1))


def test_ablation_masks_zero_exactly_the_chosen_channels(he_params, images7):
    images = images7
    full = alexnet.features(he_params, images)
    chosen1, chosen3 = np.array([0, 7, 95]), np.array([3, 100, 383])
    masks = {"norm1": ab.channel_mask(96, chosen1), "conv3": ab.channel_mask(384, chosen3)}
    out = ab.ablated_features(he_params, images, masks)
    for layer in ("conv1", "norm1", "pool1"):
        assert float(jnp.abs(out[layer][..., chosen1]).max()) == 0.0
    keep1 = np.setdiff1d(np.arange(96), chosen1)
    np.testing.assert_array_equal(out["conv1"][..., keep1], full["conv1"][..., keep1])
    assert float(jnp.abs(out["conv3"][..., chosen3]).max()) == 0.0
    # conv3 with only conv3 ablated: the other channels are untouched, bit for bit.
    only3 = ab.ablated_features(he_params, images, {"conv3": masks["conv3"]})
    keep3 = np.setdiff1d(np.arange(384), chosen3)
    np.testing.assert_array_equal(only3["conv3"][..., keep3], full["conv3"][..., keep3])
    np.testing.assert_array_equal(only3["conv2"], full["conv2"])
    assert float(jnp.abs(full["conv3"][..., chosen3]).max()) > 0  # there was something to zero
    # The params are not modified in place.
    assert float(jnp.abs(he_params["conv3"]["w"][..., 3]).sum()) > 0


def test_ablation_channels_top_bottom_and_ties():
    g = np.array([0.9, 0.1, 0.5, 0.1, 0.7, 0.3])
    np.testing.assert_array_equal(ab.ablation_channels(g, which="top"), [0, 2, 4])
    np.testing.assert_array_equal(ab.ablation_channels(g, which="bottom"), [1, 3, 5])
    np.testing.assert_array_equal(ab.ablation_channels(g, which="bottom", fraction=1 / 6), [1])
    assert ab.ablation_channels(g, fraction=0.0).size == 0
    np.testing.assert_array_equal(ab.ablation_channels(g, fraction=1.0), np.arange(6))


def test_ablation_effect_on_discrimination(he_params, key):
    g = np.asarray(
        selectivity.orientation_tuning(
            np.random.default_rng(9).exponential(size=(256, 12, 2, 2)),
            recording.DEFAULT_ORIENTATIONS_DEG,
        ).gosi
    )
    task = dict(
        readout_layer="pool2", num_train=12, num_test=12, size=SMALL, separations_deg=(45.0,)
    )
    df = ab.ablation_effect(key, he_params, layer="norm2", gosi_values=g, **task)
    assert list(df["ablation"]) == ["none", "top", "bottom"]
    assert list(df["n_ablated"]) == [0, 128, 128]
    assert df["accuracy"].between(0, 1).all()
    assert df.loc[0, "accuracy"] >= 0.9  # a 45-degree difference is easy for a linear readout
    # Silencing every channel the readout sees leaves nothing to read: exactly chance.
    all_off = ab.ablation_effect(key, he_params, layer="conv2", gosi_values=g, fraction=1.0, **task)
    np.testing.assert_allclose(all_off.loc[1:, "accuracy"], 0.5)
    np.testing.assert_allclose(all_off.loc[1:, "accuracy_change"], 0.5 - df.loc[0, "accuracy"])
    with pytest.raises(ValueError, match="gosi_values"):
        ab.ablation_effect(key, he_params, layer="conv2", gosi_values=g[:10], **task)


def test_errors_name_the_argument(he_params, key):
    with pytest.raises(ValueError, match="layer"):
        ab.ablate(he_params, {"fc7": np.ones(96)})
    with pytest.raises(ValueError, match="masks"):
        ab.ablate(he_params, {"conv1": np.ones(95)})
    with pytest.raises(ValueError, match="channels"):
        ab.channel_mask(96, [96])
    with pytest.raises(ValueError, match="channels"):
        ab.channel_mask(96, [1.5])
    with pytest.raises(ValueError, match="which"):
        ab.ablation_channels(np.ones(4), which="middle")
    with pytest.raises(ValueError, match="fraction"):
        ab.ablation_channels(np.ones(4), fraction=1.5)
    with pytest.raises(ValueError, match="gosi_values"):
        ab.ablation_channels(np.ones((2, 2)))
    with pytest.raises(ValueError, match="readout_layer"):
        ab.discrimination_accuracy(key, he_params, readout_layer="fc6", size=SMALL)
    with pytest.raises(ValueError, match="separations_deg"):
        ab.discrimination_accuracy(key, he_params, separations_deg=(0.0,), size=SMALL)
    with pytest.raises(ValueError, match="num_train"):
        ab.discrimination_accuracy(key, he_params, num_train=1, size=SMALL)
    with pytest.raises(ValueError, match="regularization"):
        ab.discrimination_accuracy(key, he_params, regularization=0.0, size=SMALL)
