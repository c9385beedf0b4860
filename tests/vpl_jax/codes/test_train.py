"""Tests for vpl_jax.codes.train: crops are exact (rotated) samples, hue rotation, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color

from theory.checks import InputError
from vpl_jax.codes import models, train


def _ramp(h=40, w=50):
    rows, cols = np.mgrid[0:h, 0:w]
    return (0.01 * cols + 0.003 * rows).astype(np.float64)


def test_unrotated_crops_are_exact_crops_and_rotation_turns_the_gradient(key):
    photo = _ramp()
    bank = train.pack_photos((photo,))
    crops, labels = train.sample_crops(key, bank, 20, side=9, flips=False)
    crops = np.asarray(crops)[..., 0]
    assert labels.shape == (20,) and int(labels.max()) == 0
    # a linear ramp is reproduced exactly by bilinear interpolation: slopes along columns/rows
    np.testing.assert_allclose(np.diff(crops, axis=2), 0.01, atol=1e-5)  # along columns
    np.testing.assert_allclose(np.diff(crops, axis=1), 0.003, atol=1e-5)  # along rows
    rot, _ = train.sample_crops(key, bank, 20, side=9, angle_deg=jnp.float32(90.0), flips=False)
    rot = np.asarray(rot)[..., 0]
    # rotating the sampling grid by 90 deg turns the column gradient into a row gradient
    np.testing.assert_allclose(np.abs(np.diff(rot, axis=1)), 0.01, atol=1e-4)
    np.testing.assert_allclose(np.abs(np.diff(rot, axis=2)), 0.003, atol=1e-4)
    margin = train.crop_margin(9)
    centre = crops[:, 4, 4]
    assert centre.min() >= 0.01 * margin - 1e-5  # the centre keeps the rotation margin


def test_rotate_hue_matches_a_scikit_image_hue_shift(key):
    rgb = np.asarray(jax.random.uniform(key, (100, 3)))
    ours = np.asarray(train.rotate_hue(jnp.asarray(rgb), 90.0))
    hsv = skimage.color.rgb2hsv(rgb[None])[0]
    hsv[:, 0] = np.mod(hsv[:, 0] + 0.25, 1.0)
    np.testing.assert_allclose(ours, skimage.color.hsv2rgb(hsv[None])[0], atol=1e-5)


def test_training_learns_to_tell_photos_apart(key):
    rng = np.random.default_rng(0)
    photos = tuple(np.clip(rng.normal(m, 0.05, (40, 40)), 0, 1) for m in (0.2, 0.5, 0.8))
    spec = models.SmallCNNSpec(
        in_channels=1, channels=(4, 4), kernel=3, num_classes=3, input_size=12
    )
    cfg = train.PhotoTrainConfig(spec=spec, batch=16, num_steps=30, learning_rate=3e-2)
    out = train.train_photo_cnn(key, train.pack_photos(photos), (0.0, 45.0), (0.0, 0.0), 1, cfg)
    assert out.loss.shape == (2, 3) and out.accuracy[:, -1].min() > 0.6
    assert out.loss[:, -1].max() < out.loss[:, 0].min()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: train.pack_photos(()), r"at least one photo"),
        (lambda: train.pack_photos((np.zeros((5, 5)), np.zeros((5, 5, 3)))), r"one C"),
        (lambda: train.PhotoTrainConfig(spec=models.SmallCNNSpec(), batch=0), r"batch must be"),
    ],
)
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_training_checks_the_bank_against_the_spec(key):
    spec = models.SmallCNNSpec(
        in_channels=1, channels=(4, 4), kernel=3, num_classes=2, input_size=12
    )
    cfg = train.PhotoTrainConfig(spec=spec, batch=4, num_steps=2)
    small = train.pack_photos((np.zeros((10, 10)), np.zeros((30, 30))))
    with pytest.raises(InputError, match=r"every photo side must be >= 19 px"):
        train.train_photo_cnn(key, small, (0.0,), (0.0,), 1, cfg)
    three = train.pack_photos((np.zeros((30, 30)),) * 3)
    with pytest.raises(InputError, match=r"num_classes = 3 photos"):
        train.train_photo_cnn(key, three, (0.0,), (0.0,), 1, cfg)
    with pytest.raises(InputError, match=r"equal length"):
        train.train_photo_cnn(key, three, (0.0, 45.0), (0.0,), 1, cfg)
