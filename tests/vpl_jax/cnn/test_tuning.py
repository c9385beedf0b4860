"""The paper's grating set and unit gOSI, against the authors' formulas in NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.cnn import model, tuning


def _authors_grating(phi, tau, k, h, w):
    """Eq. 1 as the authors' grating.py writes it (x = row, origin at H//2, W//2)."""
    gx, gy = np.ogrid[0:h, 0:w]
    gx, gy = gx - h // 2, gy - w // 2
    rot = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    k_rot = rot.T @ np.array([k, 0.0])
    g = np.cos(k_rot[1] * gx + k_rot[0] * gy + tau)
    return (g - g.min()) / (g.max() - g.min())


def _authors_gosi(r):
    """gOSI of a (O,) tuning curve, the authors' get_oristats."""
    n = r.shape[0]
    ang = 2 * np.pi / n * np.arange(n)
    if np.sum(r**2) == 0:
        return 0.0
    return np.hypot(np.sum(r * np.sin(ang)), np.sum(r * np.cos(ang))) / np.sum(r)


def test_grating_set_matches_eq1_and_the_sf_rule():
    g = np.asarray(tuning.grating_set())
    assert g.shape == (12, 9, 4, 32, 32)
    for o, s, p in [(0, 0, 0), (3, 4, 1), (7, 8, 3), (11, 2, 2)]:
        ref = _authors_grating(np.pi / 12 * o, np.pi / 2 * p, np.pi / 20 * (s + 1), 32, 32)
        np.testing.assert_allclose(g[o, s, p], ref, atol=2e-6)


def test_grating_images_subtract_the_mean_in_every_channel():
    mean = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
    x = np.asarray(tuning.grating_images(mean))
    g = np.asarray(tuning.grating_set()).reshape(432, 32, 32)
    assert x.shape == (432, 32, 32, 3)
    for c in range(3):
        np.testing.assert_allclose(x[..., c], g - mean[..., c], atol=1e-6)
    with pytest.raises(InputError, match=r"mean_image must be \(H, W, C\)"):
        tuning.grating_images(np.zeros((32, 32)))


def test_conv1_gosi_matches_a_numpy_reference(key):
    """Unit = spatial mean of post-ReLU conv1 maps; gOSI as in the authors' code."""
    v = model.init(key)
    mean = np.full((32, 32, 3), 0.4, np.float32)
    images = tuning.grating_images(mean)
    r = tuning.unit_responses(v, images, layers=("conv1",))
    g = np.asarray(tuning.layer_gosi(r)["conv1"])
    w = np.asarray(v["params"]["conv1"]["kernel"], np.float64)
    b = np.asarray(v["params"]["conv1"]["bias"], np.float64)
    x = np.asarray(images, np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # N,30,30,3,3,3
    conv = np.einsum("nijcyx,yxcf->nijf", windows, w) + b
    units = np.maximum(conv, 0).mean(axis=(1, 2)).reshape(12, 9, 4, 32)
    for c in range(32):
        m = units[..., c].max(axis=2)  # (O, S)
        best = np.argmax(m.max(axis=0))
        assert g[c] == pytest.approx(_authors_gosi(m[:, best]), abs=2e-5)


def test_layer_gosi_of_planted_tuning():
    theta = tuning.ORIENTATIONS_DEG
    curve = 1 + np.cos(np.deg2rad(2 * (theta - 45)))  # gOSI exactly 0.5
    onehot = (np.arange(12) == 4).astype(float)  # gOSI exactly 1
    flat = np.ones(12)  # gOSI 0
    rows = []
    for tune in (curve, onehot, flat, np.zeros(12)):
        rows.append(
            tune[:, None, None]
            * np.array([0.3, 1.0, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])[:, None]
            * np.ones(4)
        )
    r = np.stack(rows, -1).reshape(432, 4)
    g = np.asarray(tuning.layer_gosi({"x": jnp.asarray(r)})["x"])
    np.testing.assert_allclose(g, [0.5, 1.0, 0.0, 0.0], atol=1e-6)
    mean, frac = tuning.layer_summary({"x": jnp.asarray(g)})
    np.testing.assert_allclose(mean, [0.375], atol=1e-6)
    np.testing.assert_allclose(frac, [0.5], atol=1e-6)
    with pytest.raises(InputError, match="must have 432 rows"):
        tuning.layer_gosi({"x": jnp.zeros((10, 2))})


def test_unit_responses_fc1_is_unpooled(key):
    v = model.init(key)
    x = jax.random.normal(key, (3, 32, 32, 3))
    r = tuning.unit_responses(v, x, layers=("conv6", "fc1"))
    assert r["conv6"].shape == (3, 128) and r["fc1"].shape == (3, 512)
    _, acts = model.apply(v, x)
    np.testing.assert_allclose(r["fc1"], acts["fc1"], rtol=1e-6)
