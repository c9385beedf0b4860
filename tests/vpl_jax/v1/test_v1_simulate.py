"""Tests for vpl_jax.v1.simulate: the ground truth is known, so the metric and the in-silico
analysis must recover it (FEV of the true rate ~ 1, of a constant ~ 0; linearity index high for
simple and ~0 for complex cells), and the recording is in the published layout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.v1 import data, metrics, simulate


def test_published_layout_round_trip(paper_sim, tmp_path):
    d = paper_sim.data
    assert d.images.shape == (500, 140, 140) and d.responses.shape == (4, 500, 30)
    assert set(d.image_types.tolist()) == set(data.IMAGE_TYPES)
    # every source image has its original and its four variants
    for i in np.unique(d.image_ids)[:5]:
        assert sorted(d.image_types[d.image_ids == i].tolist()) == sorted(data.IMAGE_TYPES)
    two = d.repetitions == 2
    assert two.any() and (~two).any()
    assert np.isnan(d.responses[2:, :, two]).all()  # 2-repeat neurons: slots 3-4 empty
    missing = np.isnan(d.responses[:2]).mean()
    assert 0.0 < missing < 0.03  # ~1 % missing trials
    assert d.images.min() >= 0 and d.images.max() <= 255
    np.testing.assert_array_equal(d.images, np.round(d.images))  # 8-bit grey levels
    back = data.load(data.save(d, tmp_path / "sim.pkl"))
    np.testing.assert_array_equal(back.images, d.images)
    np.testing.assert_array_equal(np.isnan(back.responses), np.isnan(d.responses))
    # the rates are those of the model inputs the loader's pipeline produces
    rates = simulate.cell_rates(paper_sim.cells, jnp.asarray(data.model_inputs(back.images)))
    np.testing.assert_allclose(rates, paper_sim.true_rates, rtol=1e-5, atol=1e-5)


def test_noise_matches_the_papers_explainable_variance(paper_sim):
    ratio = data.explainable_variance_ratio(paper_sim.data.responses)
    # built for a uniform target in 0.2-0.37 (mean 0.285); sampling error of 500 images
    np.testing.assert_allclose(ratio.mean(), 0.285, atol=0.04)
    np.testing.assert_allclose(ratio, paper_sim.target_ratio, atol=0.15)
    mean_count = np.nanmean(paper_sim.data.responses, axis=(0, 1))
    assert np.median(mean_count) == pytest.approx(1.27, rel=0.15)


def test_fev_of_true_rate_is_one_and_of_a_constant_zero(paper_sim):
    d = paper_sim.data
    split = data.split_images(d.num_images)
    const = np.nanmean(d.responses[:, split.train], axis=(0, 1))
    # All 500 images (2-4 repeats): the population mean is within 0.05 of 1 and of 0.
    true = metrics.fev(d.responses, paper_sim.true_rates)
    zero = metrics.fev(d.responses, np.broadcast_to(const, paper_sim.true_rates.shape))
    assert abs(true.mean() - 1.0) < 0.05 and abs(zero.mean()) < 0.05
    # The 100 test images alone: per-neuron FEV is heavy-tailed (a small explainable variance in
    # the denominator), so compare medians (within 0.1).
    test = d.responses[:, split.test]
    true_t = metrics.fev(test, paper_sim.true_rates[split.test])
    zero_t = metrics.fev(test, np.broadcast_to(const, (len(split.test), 30)))
    assert abs(np.median(true_t) - 1.0) < 0.1 and abs(np.median(zero_t)) < 0.1


def test_ground_truth_tuning_separates_simple_and_complex(clean_sim):
    tuning = metrics.insilico_tuning(lambda x: simulate.cell_rates(clean_sim.cells, jnp.asarray(x)))
    kind = clean_sim.cells["cell_type"]
    assert np.all(tuning.linearity[kind == 0] > 0.8)  # half-squared: ~1.6 with a baseline
    assert np.all(tuning.linearity[kind == 1] < 0.1)  # energy: phase invariant
    assert np.all((tuning.fwhm > 5) & (tuning.fwhm < 90))
    # the von Mises width (16 orientations) matches the width read off a dense curve (180
    # orientations) at the same frequency and the best phase (the fraction above half height)
    for j in [*np.flatnonzero(kind == 0)[:2], *np.flatnonzero(kind == 1)[:2]]:
        stim = metrics.gabor_stimuli(
            40, num_orientations=180, frequencies=(tuning.preferred_frequency[j],), num_phases=12
        )
        imgs = jnp.asarray(stim["images"].reshape(-1, 40, 40))
        r = np.asarray(simulate.cell_rates(clean_sim.cells, imgs))[:, j].reshape(180, 12)
        curve = r[:, np.unravel_index(np.argmax(r), r.shape)[1]]
        half = curve.min() + (curve.max() - curve.min()) / 2
        assert tuning.fwhm[j] == pytest.approx(180.0 * np.mean(curve >= half), abs=8.0)
    # the preferred orientation is the cell's wave-vector angle (16 orientations: 11.25 deg bins)
    diff = np.angle(np.exp(2j * (tuning.preferred_orientation - clean_sim.cells["theta"]))) / 2
    assert np.median(np.abs(np.degrees(diff))) < 12


def test_seeded_and_phase_scramble(photos):
    cfg = simulate.SimConfig(num_sources=3, num_neurons=2)
    a = simulate.simulate(jax.random.key(5), cfg, photos=photos)
    b = simulate.simulate(jax.random.key(5), cfg, photos=photos)
    c = simulate.simulate(jax.random.key(6), cfg, photos=photos)
    np.testing.assert_array_equal(a.data.images, b.data.images)
    np.testing.assert_array_equal(np.nan_to_num(a.data.responses), np.nan_to_num(b.data.responses))
    assert not np.array_equal(a.data.images, c.data.images)
    img = np.random.default_rng(0).standard_normal((32, 32)).cumsum(axis=1)
    full = simulate.phase_scramble(jax.random.key(0), img, 1.0)
    amp = lambda x: np.abs(np.fft.rfft2(x - x.mean()))
    np.testing.assert_allclose(amp(full), amp(img) * full.std() / img.std(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(simulate.phase_scramble(jax.random.key(0), img, 0.0), img, atol=1e-9)
    assert abs(np.corrcoef(full.ravel(), img.ravel())[0, 1]) < 0.5
    with pytest.raises(InputError, match=r"alpha must lie in \[0, 1\]"):
        simulate.phase_scramble(jax.random.key(0), img, 1.5)


def test_gabor_filters_unit_norm_zero_dc():
    g = np.asarray(simulate.gabor_filters(19.5, 19.5, 0.3, 0.1, 4.0, 0.0, 1.0, 40))
    np.testing.assert_allclose(np.sum(g**2), 1.0, rtol=1e-5)
    assert abs(g.sum()) < 1e-4


def test_config_errors(photos):
    with pytest.raises(InputError, match=r"cell_fractions must be 3 numbers >= 0 summing to 1"):
        simulate.SimConfig(cell_fractions=(0.5, 0.6, 0.0))
    with pytest.raises(InputError, match=r"ratio_range must satisfy 0 < lo <= hi < 1"):
        simulate.SimConfig(ratio_range=(0.3, 1.2))
    with pytest.raises(InputError, match=r"photos\[0\] must be a 2-D grey image at least 140 px"):
        simulate.simulate(
            jax.random.key(0), simulate.SimConfig(num_sources=2), photos=(np.zeros((50, 50)),)
        )
