"""Tests for theory.stimuli.sinusoid (the shared grid helpers are tested by their owner)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import stimuli


def test_values_on_the_centred_grid():
    size, f, ph = 8, 1.5, 0.3
    img = np.asarray(stimuli.sinusoid(f, ph, size=size, amplitude=2.0))
    x = np.arange(size) - (size - 1) / 2
    expected = 2.0 * np.sin(2 * np.pi * f * x / size + ph)
    np.testing.assert_allclose(img, np.broadcast_to(expected, (size, size)), rtol=1e-14, atol=1e-15)
    assert img.dtype == np.float64  # x64 in theory tests


def test_orientation_convention_vertical_then_horizontal_stripes():
    img0 = np.asarray(stimuli.sinusoid(3.0, 0.4, size=16))
    assert np.allclose(img0, img0[:1, :])  # constant down each column: vertical stripes
    img90 = np.asarray(stimuli.sinusoid(3.0, 0.4, size=16, orientation_deg=90.0))
    assert np.allclose(img90, img90[:, :1], atol=1e-12)  # constant along rows: horizontal stripes
    # 90 deg: x' = -y and y points up, so the top row has x' = -(size-1)/2
    y = (16 - 1) / 2 - np.arange(16)
    np.testing.assert_allclose(img90[:, 0], np.sin(-2 * np.pi * 3.0 * y / 16 + 0.4), atol=1e-12)


@pytest.mark.parametrize("f", [1.0, 3.0, 7.0])
def test_energy_and_mean_for_whole_cycles(f):
    size = 16
    img = np.asarray(stimuli.sinusoid(f, 0.7, size=size))
    assert abs(img.mean()) < 1e-13
    np.testing.assert_allclose(np.sum(img**2), size * size / 2, rtol=1e-12)


def test_derivatives_in_frequency_and_phase_are_analytic():
    size, f, ph, amp = 12, 2.3, 1.1, 0.8
    x = np.arange(size) - (size - 1) / 2
    arg = 2 * np.pi * f * x / size + ph
    d_f = jax.jacfwd(lambda ff: stimuli.sinusoid(ff, ph, size=size, amplitude=amp))(f)
    np.testing.assert_allclose(
        d_f[0], amp * 2 * np.pi * x / size * np.cos(arg), rtol=1e-12, atol=1e-14
    )
    d_ph = jax.jacfwd(lambda pp: stimuli.sinusoid(f, pp, size=size, amplitude=amp))(ph)
    np.testing.assert_allclose(d_ph[0], amp * np.cos(arg), rtol=1e-12, atol=1e-14)
    # windowed variants are differentiable too and scale the plain derivative by the window
    for window in ("hann", "radial"):
        w = stimuli.sinusoid(0.0, np.pi / 2, size=size, window=window)  # the window itself
        d_w = jax.jacfwd(
            lambda ff, win=window: stimuli.sinusoid(ff, ph, size=size, amplitude=amp, window=win)
        )(f)
        np.testing.assert_allclose(d_w, d_f * w, rtol=1e-12, atol=1e-14)


def test_windows():
    size = 32
    hann = np.asarray(stimuli.sinusoid(0.0, np.pi / 2, size=size, window="hann"))
    radial = np.asarray(stimuli.sinusoid(0.0, np.pi / 2, size=size, window="radial"))
    for w in (hann, radial):
        np.testing.assert_allclose(w, w[::-1, :], atol=1e-15)  # symmetric about the centre
        np.testing.assert_allclose(w, w[:, ::-1], atol=1e-15)
        assert w.max() <= 1.0 and w.min() >= 0.0
    np.testing.assert_allclose(hann, hann.T, atol=1e-15)
    assert hann[0, 0] < 1e-4 and hann[15, 15] > 0.99
    assert radial[0, 0] == 0.0  # corners are outside the inscribed circle


def test_float32_default_and_vmap_equals_loop():
    with jax.enable_x64(False):
        assert jax.eval_shape(lambda: stimuli.sinusoid(1.0, 0.0)).dtype == jnp.float32
    freqs = jnp.array([0.5, 2.0, 5.5])
    phases = jnp.array([0.0, 1.0, 2.0])
    batched = jax.vmap(lambda f, p: stimuli.sinusoid(f, p, size=8, window="radial"))(freqs, phases)
    single = jax.jit(lambda f, p: stimuli.sinusoid(f, p, size=8, window="radial"))
    loop = jnp.stack([single(f, p) for f, p in zip(freqs, phases, strict=True)])
    np.testing.assert_array_equal(batched, loop)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": "gauss"}, r"window must be one of"),
        ({"size": 0}, r"size must be an integer >= 1"),
        ({"size": 2.5}, r"size must be an integer >= 1"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stimuli.sinusoid(1.0, 0.0, **kwargs)


def test_non_scalar_frequency_raises():
    with pytest.raises(ValueError, match=r"freq_cpi must be a scalar"):
        stimuli.sinusoid(jnp.ones(2), 0.0)
    with pytest.raises(ValueError, match=r"phase_rad must be a scalar"):
        jax.jit(lambda p: stimuli.sinusoid(1.0, p))(jnp.ones(3))
