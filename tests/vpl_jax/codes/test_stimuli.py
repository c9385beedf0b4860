"""Tests for vpl_jax.codes.stimuli: the paper's Gabor, HSV/Lab conversions, gratings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color

from theory.checks import InputError
from vpl_jax.codes import stimuli


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _random_hsv(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 360, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)


def test_hsv_to_rgb_matches_skimage(x64):
    h, s, v = _random_hsv()
    ref = skimage.color.hsv2rgb(np.stack([h / 360.0, s, v], -1)[None])[0]
    np.testing.assert_allclose(np.asarray(stimuli.hsv_to_rgb(h, s, v)), ref, atol=1e-6, rtol=0)
    # periodic in hue
    np.testing.assert_allclose(
        np.asarray(stimuli.hsv_to_rgb(h + 360.0, s, v)), ref, atol=1e-6, rtol=0
    )


def test_rgb_to_hsv_and_lab_match_skimage(x64):
    rgb = np.random.default_rng(1).uniform(0, 1, (2000, 3))
    ours = np.asarray(stimuli.rgb_to_hsv(rgb))
    ref = skimage.color.rgb2hsv(rgb[None])[0]
    np.testing.assert_allclose(ours[:, 0] / 360.0, ref[:, 0], atol=1e-9)
    np.testing.assert_allclose(ours[:, 1:], ref[:, 1:], atol=1e-12)
    dark = np.concatenate([rgb, rgb * 0.01])  # also the linear branches of sRGB and f(t)
    np.testing.assert_allclose(
        np.asarray(stimuli.rgb_to_lab(dark)), skimage.color.rgb2lab(dark[None])[0], atol=1e-6
    )


def test_hsv_and_lab_derivatives_match_central_differences(x64):
    h, s, v = _random_hsv(200, seed=2)
    h = h[np.abs(np.mod(h + 2.0, 60.0) - 2.0) > 0.5]  # away from the 60-deg kinks
    jac = jax.jit(jax.vmap(jax.jacfwd(stimuli.hsv_to_rgb)))(h, s[: h.size], v[: h.size])
    eps = 1e-6
    fd = (
        np.asarray(stimuli.hsv_to_rgb(h + eps, s[: h.size], v[: h.size]))
        - np.asarray(stimuli.hsv_to_rgb(h - eps, s[: h.size], v[: h.size]))
    ) / (2 * eps)
    np.testing.assert_allclose(np.asarray(jac), fd, atol=1e-7)
    rgb = np.random.default_rng(3).uniform(0.05, 1, (50, 3))
    jl = np.asarray(jax.jit(jax.vmap(jax.jacfwd(stimuli.rgb_to_lab)))(rgb))
    for k in range(3):
        d = np.zeros(3)
        d[k] = eps
        fd = (np.asarray(stimuli.rgb_to_lab(rgb + d)) - np.asarray(stimuli.rgb_to_lab(rgb - d))) / (
            2 * eps
        )
        np.testing.assert_allclose(jl[:, :, k], fd, rtol=1e-6, atol=1e-5)


def test_gabor_is_the_papers_closed_form(x64):
    f, sigma = stimuli.GABOR_FREQUENCY, stimuli.GABOR_SIGMA
    img = np.asarray(stimuli.gabor(30.0, 0.7))
    assert img.shape == (224, 224, 3)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])  # identical channels
    c = 111.5
    rows, cols = np.mgrid[0:224, 0:224]
    x, y = cols - c, c - rows
    a = np.deg2rad(30.0)
    xr = np.cos(a) * x - np.sin(a) * y
    ref = np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.cos(2 * np.pi * f * xr + 0.7)
    np.testing.assert_allclose(img[..., 1], ref, atol=1e-12)
    assert img.min() >= -1 and img.max() <= 1
    # 0 deg: vertical stripes (constant along the columns once the envelope is divided out)
    g0 = np.asarray(stimuli.gabor(0.0, 0.0, channels=1))[..., 0]
    carrier = g0 / np.exp(-(x**2 + y**2) / (2 * sigma**2))
    np.testing.assert_allclose(carrier[10], carrier[200], atol=1e-9)


def test_gabor_derivative_in_orientation_matches_central_differences(x64):
    fn = lambda t: stimuli.gabor(t, 0.3, size=48, frequency=0.1, sigma=10.0, channels=1)
    _, tangent = jax.jvp(fn, (jnp.float64(20.0),), (jnp.float64(1.0),))
    fd = (fn(20.0 + 1e-5) - fn(20.0 - 1e-5)) / 2e-5
    np.testing.assert_allclose(np.asarray(tangent), np.asarray(fd), atol=1e-8)


def test_paper_phases_duplicate_the_endpoint():
    p = np.asarray(stimuli.paper_phases())
    assert p.shape == (10,)
    np.testing.assert_allclose([p[0], p[-1]], [-np.pi, np.pi], atol=1e-6)
    a = np.asarray(stimuli.gabor(10.0, p[0], size=32))
    b = np.asarray(stimuli.gabor(10.0, p[-1], size=32))
    np.testing.assert_allclose(a, b, atol=1e-5)  # the same stimulus twice


def test_scaled_gabor_keeps_cycles_per_image():
    f, s = stimuli.scaled_gabor_parameters(56)
    assert f * 56 == pytest.approx(0.02 * 224) and s / 56 == pytest.approx(50 / 224)


def test_grating_period_and_orientation(x64):
    g = np.asarray(stimuli.grating(0.0, 0.0))
    assert g.shape == (64, 64)
    x = np.arange(64) - 31.5
    np.testing.assert_allclose(g[5], np.sin(2 * np.pi * x / 12.8), atol=1e-12)
    g90 = np.asarray(stimuli.grating(90.0, 0.0))
    np.testing.assert_allclose(g90[:, 0], g90[:, 40], atol=1e-12)  # horizontal stripes


def test_hue_image_and_sv_grid():
    img = np.asarray(stimuli.hue_image(0.0, 1.0, 1.0, size=4))
    red = (np.array([1.0, 0.0, 0.0]) - np.array(stimuli.IMAGENET_MEAN)) / np.array(
        stimuli.IMAGENET_STD
    )
    np.testing.assert_allclose(img, np.broadcast_to(red, (4, 4, 3)), rtol=1e-6)
    grid = np.asarray(stimuli.sv_grid())
    assert grid.shape == (36, 2)
    np.testing.assert_allclose(np.unique(grid[:, 0]), np.linspace(0.5, 1.0, 6), rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: stimuli.gabor(0.0, size=0), r"size must be an integer >= 1"),
        (lambda: stimuli.gabor(0.0, sigma=-1.0), r"sigma must be > 0"),
        (lambda: stimuli.gabor(0.0, channels=0), r"channels must be an integer >= 1"),
        (lambda: stimuli.grating(0.0, period=0.0), r"period must be > 0"),
        (lambda: stimuli.paper_phases(1), r"num must be an integer >= 2"),
        (lambda: stimuli.sv_grid(low=0.7, high=0.5), r"0 <= low <= high <= 1"),
        (lambda: stimuli.scaled_gabor_parameters(4), r"size must be an integer >= 8"),
    ],
)
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()
