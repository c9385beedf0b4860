"""Tests for vpl_jax.v1.fit: on simulated simple and complex cells (known ground truth) the LNP
fits simple cells and fails on complex cells while the data-driven CNN fits both, and the
in-silico tuning of the fitted CNN recovers the cells' linearity and width. Tiny sizes: the
model inputs are subsampled to 20 x 20, the CNN has 2 layers of 16 maps (7 x 7 VALID, 3 x 3 SAME).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.v1 import data, fit, metrics, models, simulate

CNN = models.CNN(num_layers=2, channels=16, first_kernel=7)


@pytest.fixture(scope="module")
def fitted(clean_sim):
    d = clean_sim.data
    split = data.split_images(d.num_images)
    x = data.model_inputs(d.images)[:, ::2, ::2]
    fd = fit.fit_data(x, d.responses, split, repetitions=d.repetitions)
    lnp = fit.fit(
        jax.random.key(1), models.LNP(), fd,
        fit.lambda_grid({"sparse": [0.01], "laplace": [0.1]}),
        fit.TrainConfig(learning_rate=1e-2, max_steps=600, eval_every=50, patience=5),
    )  # fmt: skip
    cnn = fit.fit(
        jax.random.key(1), CNN, fd,
        fit.lambda_grid({"conv_smooth": [1e-4], "conv_group": [1e-4], "readout": [1e-4],
                         "nonlin": [0.0]}),
        fit.TrainConfig(learning_rate=1e-2, max_steps=1000, eval_every=50, patience=5,
                        batch_size=64),
        mode="model",
    )  # fmt: skip
    return {"data": fd, "lnp": lnp, "cnn": cnn, "kind": clean_sim.cells["cell_type"]}


def test_lnp_fits_simple_fails_complex_cnn_fits_both(fitted):
    kind = fitted["kind"]
    lnp, cnn = fitted["lnp"].fev, fitted["cnn"].fev
    simple, complex_ = kind == 0, kind == 1
    assert np.mean(lnp[simple]) > 0.25  # a linear filter + exp captures a half-squared Gabor
    assert np.mean(lnp[complex_]) < 0.1  # ... but not a phase-invariant energy model
    assert np.mean(cnn[simple]) > 0.3
    assert np.mean(cnn[complex_]) > 0.25
    assert np.mean(cnn[complex_]) - np.mean(lnp[complex_]) > 0.25


def test_insilico_tuning_of_the_fitted_cnn_recovers_the_ground_truth(fitted, clean_sim):
    stim = metrics.gabor_stimuli(40, num_orientations=16, num_phases=8)
    truth = metrics.insilico_tuning(
        lambda x: simulate.cell_rates(clean_sim.cells, jnp.asarray(x)), stim
    )
    model = metrics.insilico_tuning(
        fit.predictor(CNN, fitted["cnn"], feature_fn=lambda x: np.asarray(x)[:, ::2, ::2]), stim
    )
    kind = fitted["kind"]
    # linearity: simple cells high, complex cells low, in the model as in the ground truth
    assert np.median(model.linearity[kind == 0]) > 2 * np.median(model.linearity[kind == 1])
    assert np.median(model.linearity[kind == 1]) < 0.3 and np.all(truth.linearity[kind == 1] < 0.1)
    # orientation: the model's preferred orientation follows the cell's; its width is of the
    # cell's order (this tiny, regularised CNN is more broadly tuned than the cells)
    diff = np.angle(np.exp(2j * (model.preferred_orientation - truth.preferred_orientation))) / 2
    good = fitted["cnn"].fev > 0.3
    assert good.sum() >= 4
    assert np.median(np.abs(np.degrees(diff[good]))) < 15
    ratio = model.fwhm[good] / truth.fwhm[good]
    assert 0.5 < np.median(ratio) < 2.5 and np.all(model.fwhm[good] < 120)


def test_settings_are_independent_and_match_a_single_run(clean_sim):
    d = clean_sim.data
    split = data.split_images(d.num_images)
    fd = fit.fit_data(data.model_inputs(d.images)[:, ::2, ::2], d.responses, split)
    cfg = fit.TrainConfig(learning_rate=1e-2, max_steps=100, eval_every=50, patience=2)
    both = fit.train(jax.random.key(3), models.LNP(), fd,
                     {"sparse": [0.01, 10.0], "laplace": [0.1, 0.1]}, cfg)  # fmt: skip
    one = fit.train(jax.random.key(3), models.LNP(), fd, {"sparse": [0.01], "laplace": [0.1]}, cfg)
    np.testing.assert_allclose(both.params["w"][0], one.params["w"][0], rtol=1e-3, atol=1e-5)
    # a huge L1 penalty shrinks the filter towards zero
    assert np.abs(both.params["w"][1]).sum() < 0.2 * np.abs(both.params["w"][0]).sum()
    assert both.val_loss.shape == (2, d.num_neurons) and both.history.shape[1] == 2
    np.testing.assert_array_equal(fit.select(both.val_loss, "neuron"), np.argmin(both.val_loss, 0))
    assert len(set(fit.select(both.val_loss, "model"))) == 1


def test_early_stopping_ends_before_the_cap(clean_sim):
    d = clean_sim.data
    split = data.split_images(d.num_images)
    fd = fit.fit_data(data.model_inputs(d.images)[:, ::2, ::2], d.responses, split)
    # a learning rate so large the validation loss stops improving at once: patience 1 and one
    # decay end training after a few evaluations
    cfg = fit.TrainConfig(learning_rate=5.0, max_steps=5000, eval_every=10, patience=1, lr_decays=1)
    res = fit.train(jax.random.key(0), models.LNP(), fd, {"sparse": [0.0], "laplace": [0.0]}, cfg)
    assert res.steps < 5000 and np.all(np.isfinite(res.val_loss))


def test_errors(clean_sim):
    with pytest.raises(InputError, match=r"learning_rate must be > 0"):
        fit.TrainConfig(learning_rate=0.0)
    with pytest.raises(InputError, match=r"hyper-parameter 'sparse' needs finite values >= 0"):
        fit.lambda_grid({"sparse": [-1.0]})
    d = clean_sim.data
    split = data.split_images(d.num_images)
    fd = fit.fit_data(data.model_inputs(d.images)[:, ::2, ::2], d.responses, split)
    with pytest.raises(InputError, match=r"hparams for LNP must hold \['sparse', 'laplace'\]"):
        fit.train(jax.random.key(0), models.LNP(), fd, {"sparse": [0.0]})
    with pytest.raises(InputError, match=r"inputs must hold one entry per image"):
        fit.fit_data(np.zeros((3, 4, 4)), d.responses, split)
    with pytest.raises(InputError, match=r"mode must be 'neuron' or 'model'"):
        fit.select(np.zeros((2, 3)), "best")
