"""Tests for theory.natural_images: offline photo loading and keyed patch sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import natural_images as ni


def test_every_listed_photo_loads_offline_as_grey_unit_range():
    photos = ni.load_photos()
    assert len(photos) == len(ni.PHOTO_NAMES) == 15
    for name, img in zip(ni.PHOTO_NAMES, photos, strict=True):
        assert img.ndim == 2 and img.dtype == np.float64, name
        assert min(img.shape) >= 150, name
        assert 0.0 <= img.min() and img.max() <= 1.0, name
        assert img.std() > 0.02, name  # a real photograph, not a constant
    for excluded in ("text", "page", "checkerboard", "logo", "colorwheel", "horse", "cell"):
        assert excluded not in ni.PHOTO_NAMES
        assert excluded in ni.EXCLUDED


def test_scale_resamples():
    full = ni.load_photo("camera")
    half = ni.load_photo("camera", scale=0.5)
    assert half.shape == (full.shape[0] // 2, full.shape[1] // 2)
    np.testing.assert_allclose(half.mean(), full.mean(), atol=5e-3)


def _stack():
    a = np.arange(6 * 7, dtype=np.float64).reshape(6, 7)
    b = 1000.0 + np.arange(5 * 9, dtype=np.float64).reshape(5, 9)
    return (a, b), ni.pack((a, b), jnp.float64)


def _locate(images, patch):
    for im in images:
        h, w = patch.shape
        for r in range(im.shape[0] - h + 1):
            for c in range(im.shape[1] - w + 1):
                if np.array_equal(im[r : r + h, c : c + w], patch):
                    return True
    return False


def test_patches_are_exact_crops_and_cover_both_images():
    images, stack = _stack()
    patches = np.asarray(ni.sample_patches(jax.random.key(3), stack, 60, size=4))
    assert patches.shape == (60, 4, 4)
    assert all(_locate(images, p) for p in patches)
    from_b = patches[:, 0, 0] >= 1000
    assert 0 < from_b.sum() < 60  # both photos are drawn
    # every valid corner of the small image can occur: rows 0..2, cols 0..3 for image a
    corners = {(int(p[0, 0]) // 7, int(p[0, 0]) % 7) for p in patches[~from_b]}
    assert corners <= {(r, c) for r in range(3) for c in range(4)}


def test_flips_mirror_columns_and_keys_are_deterministic():
    images, stack = _stack()
    p = np.asarray(ni.sample_patches(jax.random.key(5), stack, 40, size=3, flips=True))
    mirrored = [not _locate(images, q) and _locate(images, q[:, ::-1]) for q in p]
    assert 0 < sum(mirrored) < 40
    assert all(_locate(images, q) or _locate(images, q[:, ::-1]) for q in p)
    again = np.asarray(ni.sample_patches(jax.random.key(5), stack, 40, size=3, flips=True))
    np.testing.assert_array_equal(p, again)


def test_power_law_noise_has_the_requested_spectrum():
    img = np.asarray(ni.power_law_noise(jax.random.key(0), 128, exponent=2.0))
    assert abs(img.mean()) < 1e-12 and abs(img.std() - 1) < 1e-12
    power = np.abs(np.fft.fft2(img)) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
    bins = np.logspace(np.log10(2 / 128), np.log10(0.5), 12)
    idx = np.digitize(f, bins)
    fb = [f[idx == i].mean() for i in range(1, 11)]
    pb = [power[idx == i].mean() for i in range(1, 11)]
    slope = np.polyfit(np.log(fb), np.log(pb), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.15)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ni.load_photo("text"), r"name must be one of"),
        (lambda: ni.load_photo("camera", scale=1.5), r"scale must lie in \(0, 1\]"),
        (lambda: ni.load_photos(()), r"at least one photo"),
        (lambda: ni.pack(()), r"at least one image"),
        (lambda: ni.pack((np.ones((2, 2, 3)),)), r"images\[0\] must be 2-D"),
        (
            lambda: ni.sample_patches(jax.random.key(0), _stack()[1], 0),
            r"num_patches must be an integer >= 1",
        ),
        (
            lambda: ni.sample_patches(jax.random.key(0), _stack()[1], 3, size=6),
            r"size must be <= the smallest photo side \(5 px\)",
        ),
        (lambda: ni.power_law_noise(jax.random.key(0), 1), r"size must be an integer >= 2"),
        (lambda: ni.power_law_noise(jax.random.key(0), 8, exponent=-1.0), r"exponent must be >= 0"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
