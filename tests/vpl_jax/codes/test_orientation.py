"""Tests for vpl_jax.codes.orientation: pooling variants, CO summaries, orientation energy,
the architecture experiment's vmapped seeds and checkpoints."""

import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax.codes import orientation, sensitivity, stimuli


def test_pooling_variants_change_only_the_pooling():
    v = orientation.pooling_variants(2)
    assert set(v) == set(orientation.POOLINGS)
    assert (v["overlap_3s2"].pool_window, v["overlap_3s2"].pool_stride) == (3, 2)
    assert (v["nonoverlap_2s2"].pool_window, v["nonoverlap_2s2"].pool_stride) == (2, 2)
    assert "pool1" not in v["none"].output_keys and "conv2" in v["none"].output_keys
    shapes = {k: alexnet.param_shapes(a) for k, a in v.items()}
    assert shapes["overlap_3s2"] == shapes["none"] == shapes["nonoverlap_2s2"]  # same weights


def test_orientation_energy_peaks_at_the_planted_orientation():
    size = 48
    f, s = stimuli.scaled_gabor_parameters(size)
    th = np.arange(36) * 5.0
    for planted in (0.0, 30.0, 90.0, 135.0):
        imgs = np.stack(
            [
                np.asarray(stimuli.gabor(planted, p, size=size, frequency=f, sigma=s, channels=1))[
                    ..., 0
                ]
                for p in (0.0, 1.0, 2.0)
            ]
        )
        e = orientation.orientation_energy(imgs)
        assert e.sum() == pytest.approx(1.0) and th[int(np.argmax(e))] == planted


def test_co_summary_per_seed_and_per_phase(key):
    th = sensitivity.orientation_grid()
    curve = 2.0 + np.cos(np.deg2rad(4 * th))
    rng = np.random.default_rng(0)
    d = curve[None, None] * rng.uniform(0.9, 1.1, (5, 4, th.size))
    s = orientation.co_summary(key, th, d, num_boot=200)
    assert len(s["per_seed"]) == 5 and s["low"] < s["co"] < s["high"]
    one = orientation.co_summary(key, th, d[0], num_boot=200)
    assert one["per_seed"] == [] and one["low"] < one["co"] < one["high"]
    with pytest.raises(InputError, match=r"d must have shape"):
        orientation.co_summary(key, th, np.ones(th.size))


def test_architecture_experiment_resumes_from_checkpoints(key, tmp_path):
    th = np.array([0.0, 45.0, 90.0, 135.0])
    kw = dict(
        num_seeds=2, size=67, stages=1, thetas_deg=th, phases=np.array([0.0]), checkpoint=tmp_path
    )
    res = orientation.architecture_experiment(key, **kw)
    assert res.d["overlap_3s2"]["pool1"].shape == (2, 1, 4)
    # conv1 does not depend on the pooling: the variants agree there (paired seeds)
    np.testing.assert_allclose(res.d["none"]["conv1"], res.d["overlap_3s2"]["conv1"], rtol=1e-5)
    again = orientation.architecture_experiment(key, **kw)
    np.testing.assert_array_equal(again.d["none"]["norm1"], res.d["none"]["norm1"])
    with pytest.raises(InputError, match=r"another grid or seed count"):
        orientation.architecture_experiment(key, **{**kw, "thetas_deg": th + 1.0})
    with pytest.raises(InputError, match=r"num_seeds must be an integer >= 2"):
        orientation.architecture_experiment(key, num_seeds=1)
    with pytest.raises(InputError, match=r"too small"):
        orientation.architecture_experiment(key, num_seeds=2, size=20)
