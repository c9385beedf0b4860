"""Tests for vpl_jax.codes.hue: the CIELAB curve vs scikit-image, its derivative, histograms."""

import jax
import numpy as np
import pytest
import skimage.color

from theory.checks import InputError
from vpl_jax.codes import hue


def _sk_lab_of_hue(h_deg):
    hsv = np.stack([np.mod(h_deg, 360.0) / 360.0, np.ones_like(h_deg), np.ones_like(h_deg)], -1)
    return skimage.color.rgb2lab(skimage.color.hsv2rgb(hsv[None]))[0]


def test_cielab_distance_matches_scikit_image():
    with jax.enable_x64(True):
        h = np.arange(0.0, 360.0, 1.0) + 0.5
        ours = np.asarray(hue.cielab_distance(h, step=1.0))
    ref = np.linalg.norm(_sk_lab_of_hue(h + 0.5) - _sk_lab_of_hue(h - 0.5), axis=-1)
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert ours.argmax() != ours.argmin() and ours.max() > 2 * ours.min()  # not flat


def test_cielab_speed_matches_central_differences():
    with jax.enable_x64(True):
        h = np.array([10.0, 75.0, 130.0, 200.0, 250.0, 330.0])  # away from the 60-deg kinks
        speed = np.asarray(hue.cielab_speed(h))
    eps = 1e-5
    fd = np.linalg.norm(_sk_lab_of_hue(h + eps) - _sk_lab_of_hue(h - eps), axis=-1) / (2 * eps)
    np.testing.assert_allclose(speed, fd, rtol=1e-6)


def test_hue_histogram_counts_only_saturated_bright_pixels():
    img = np.zeros((2, 3, 3))
    img[0, 0] = [1.0, 0.0, 0.0]  # hue 0, S = V = 1
    img[0, 1] = [0.0, 0.8, 0.0]  # hue 120, V 0.8
    img[0, 2] = [0.0, 0.0, 0.3]  # too dark
    img[1, :] = [0.6, 0.6, 0.6]  # grey: S = 0
    h = hue.hue_histogram(img)
    assert h.shape == (360,)
    np.testing.assert_allclose(h[[0, 120]], [0.5, 0.5])
    assert h.sum() == pytest.approx(1.0)
    assert hue.hue_histogram(np.full((2, 2, 3), 0.5)).sum() == 0.0


def test_circular_correlation_and_errors():
    x = np.cos(np.deg2rad(np.arange(0, 360, 5.0)))
    assert hue.circular_correlation(x, 2 * x + 1) == pytest.approx(1.0)
    assert np.isnan(hue.circular_correlation(x, np.ones_like(x)))
    with pytest.raises(InputError, match=r"step must be > 0"):
        hue.cielab_distance(np.zeros(3), step=0.0)
    with pytest.raises(InputError, match=r"images must be RGB"):
        hue.hue_histogram(np.zeros((2, 2)))
