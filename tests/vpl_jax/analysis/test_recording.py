"""Tests of vpl_jax.analysis.recording: the blocked recorder, generated stimuli, the inclusion rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import alexnet, stimuli
from vpl_jax.analysis import recording as rec

SMALL = 67  # the smallest input of the Caffe stack: every layer still has a centre unit
TABLE_LAYERS = ("conv1", "norm1", "conv2", "norm2", "conv3", "conv4", "conv5")


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


# ------------------------------------------------------------------------------------------
# The inclusion rule and the contract
# ------------------------------------------------------------------------------------------


def test_included_units_use_the_mean_over_all_stimuli():
    resp = np.zeros((100, 5, 4), np.float32)  # orientations x noise x units
    resp[..., 0] = 1.0  # exactly at threshold: included (paper: >= 1.0)
    resp[..., 1] = 0.999
    resp[:50, :, 2] = 2.0  # mean 1.0 over orientations
    resp[..., 3] = 30.0
    np.testing.assert_array_equal(rec.included_units(resp), [True, False, True, True])
    assert int(rec.included_unit_count(resp)) == 3
    assert int(rec.included_unit_count(resp, threshold=5.0)) == 1


def test_is_included_is_the_one_rule():
    assert rec.INCLUSION_THRESHOLD == 1.0
    mean = np.array([0.0, 0.999, 1.0, 1.001, 7.0], np.float32)
    np.testing.assert_array_equal(rec.is_included(mean), [False, False, True, True, True])
    np.testing.assert_array_equal(rec.is_included(mean, 0.0), np.ones(5, bool))
    # Under jit the activations are traced; the threshold is a concrete number.
    np.testing.assert_array_equal(jax.jit(rec.is_included)(mean), rec.is_included(mean))
    # included_units is the rule applied to the mean over every stimulus axis.
    resp = np.random.default_rng(0).exponential(size=(6, 3, 40)).astype(np.float32)
    np.testing.assert_array_equal(
        rec.included_units(resp), rec.is_included(resp.reshape(-1, 40).mean(0))
    )


def test_contract_constants():
    assert rec.PROTOCOL_LAYERS == ("norm1", "norm2", "conv3", "conv4", "conv5")
    assert [rec.LAYER_INDEX[layer] for layer in rec.PROTOCOL_LAYERS] == [1, 2, 3, 4, 5]
    assert len(set(rec.UNIT_COLUMNS)) == len(rec.UNIT_COLUMNS) == 17
    assert rec.UNIT_COLUMNS[:7] == (
        "network",
        "layer",
        "layer_index",
        "reference_deg",
        "separation_deg",
        "trained",
        "unit",
    )
    assert {"mean_activation", "included"} <= set(rec.UNIT_COLUMNS)
    assert set(rec.PROTOCOL_LAYERS) <= set(alexnet.CAFFE_ALEXNET.output_keys)


def test_inclusion_errors_name_the_argument():
    with pytest.raises(ValueError, match="threshold"):
        rec.included_units(np.ones((3, 4)), threshold=-1.0)
    with pytest.raises(ValueError, match="threshold"):
        rec.is_included(np.ones(3), float("nan"))
    with pytest.raises(ValueError, match="responses"):
        jax.jit(rec.included_units)(np.ones(4))
    with pytest.raises(TypeError, match="threshold"):
        jax.jit(lambda t: rec.is_included(np.ones(3), t))(1.0)


# ------------------------------------------------------------------------------------------
# The recorder
# ------------------------------------------------------------------------------------------


def test_centre_units_and_blocked_map():
    x = jnp.arange(2 * 5 * 4 * 3, dtype=jnp.float32).reshape(2, 5, 4, 3)
    np.testing.assert_array_equal(rec.centre_units(x), x[:, 2, 2, :])
    with pytest.raises(ValueError, match="activations"):
        rec.centre_units(x[0])
    # 7 items in blocks of 3 (padded to 9, the padding dropped) equal the plain map.
    xs = {"a": jnp.arange(7.0), "b": jnp.arange(14.0).reshape(7, 2)}
    out = jax.jit(lambda t: rec.blocked_map(lambda d: d["a"][:, None] * d["b"], t, 3))(xs)
    np.testing.assert_array_equal(out, xs["a"][:, None] * xs["b"])
    np.testing.assert_array_equal(rec.blocked_map(lambda v: v + 1, jnp.arange(2.0), 8), [1.0, 2.0])


def test_record_matches_features_in_blocks_without_recompiling(he_params, images7, compilations):
    images = images7
    full = alexnet.features(he_params, images)
    layers = ("conv1", "norm2", "conv5")
    out = rec.record(he_params, images, layers=layers, batch_size=3)  # 7 = 2 blocks + 1
    assert set(out) == set(layers)
    for layer in layers:
        np.testing.assert_allclose(
            out[layer],
            rec.centre_units(full[layer]),
            rtol=1e-5,
            atol=1e-5 * float(jnp.abs(full[layer]).max()),
        )
    assert out["conv1"].shape == (7, 96)
    shifted = images + 1.0
    with compilations() as names:
        rec.record(he_params, shifted, layers=layers, batch_size=3)
    assert "_record" not in names, names
    # The counter does see a compilation: new static arguments make a new program.
    with compilations() as names:
        rec.record(he_params, shifted, layers=("conv1",), batch_size=2)
    assert "_record" in names, names
    allpos = rec.record(he_params, images, layers=("pool2",), batch_size=4, positions="all")
    assert allpos["pool2"].shape == full["pool2"].shape
    np.testing.assert_allclose(allpos["pool2"], full["pool2"], rtol=1e-5, atol=1e-3)


def test_centre_responses_equal_the_full_maps_and_their_orientation_derivative(he_params):
    """The cone forward of the recorders: values and the jacfwd orientation gradient of noisy
    Gabors (the tuning protocol's exact gradient) equal the full-map path's."""
    make = stimuli.NoisyGaborInput(99, 1)
    consts = stimuli.NoisyGaborParams(
        wavelength_px=10.0, sigma_px=50.0, contrast=0.2, noise_sd=15.0
    ).as_arrays()
    keys = jax.random.split(jax.random.key(3), 4)
    layers = rec.PROTOCOL_LAYERS

    def images(theta):
        stim = stimuli.NoisyGaborStimulus(jnp.broadcast_to(theta, keys.shape), keys)
        return jax.vmap(make, in_axes=(0, None))(stim, consts)

    def full(theta):
        out = alexnet.features(he_params, images(theta))
        return {layer: rec.centre_units(out[layer]).mean(0) for layer in layers}

    def cone(theta):
        out = rec.centre_responses(he_params, images(theta), alexnet.CAFFE_ALEXNET, layers)
        return {layer: value.mean(0) for layer, value in out.items()}

    theta = jnp.float32(37.0)
    got, want = jax.jit(jax.jacfwd(cone))(theta), jax.jit(jax.jacfwd(full))(theta)
    got_y, want_y = jax.jit(cone)(theta), jax.jit(full)(theta)
    for layer in layers:
        for a, b in ((got_y[layer], want_y[layer]), (got[layer], want[layer])):
            scale = float(jnp.abs(b).max())
            assert scale > 0, layer
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * scale, err_msg=layer)


def test_record_generated_equals_recording_the_images(he_params, compilations):
    # Gratings generated inside the program == the same inputs made one by one and recorded.
    stim = stimuli.GratingStimulus(
        angle_deg=jnp.array([0.0, 30.0, 95.0, 150.0, 10.0]),
        wavelength_px=jnp.array([6.0, 8.0, 11.3, 4.0, 16.0]),
        phase_deg=jnp.array([0.0, 90.0, 45.0, 270.0, 180.0]),
    )
    params = stimuli.GratingParams(contrast=0.4).as_arrays()
    make = stimuli.GratingInput(SMALL)
    got = rec.record_generated(
        he_params, stim, params, make, layers=("conv1", "conv2"), batch_size=2, grid_shape=(5, 1)
    )
    images = jnp.stack([make(jax.tree.map(lambda a, i=i: a[i], stim), params) for i in range(5)])
    direct = rec.record(he_params, images, layers=("conv1", "conv2"), batch_size=5)
    for layer in ("conv1", "conv2"):
        assert got[layer].shape == (5, 1, direct[layer].shape[-1])
        scale = float(jnp.abs(direct[layer]).max())
        np.testing.assert_allclose(got[layer][:, 0], direct[layer], rtol=1e-4, atol=1e-5 * scale)
    # A new contrast is a traced value: no recompilation.
    other = stimuli.GratingParams(contrast=0.3).as_arrays()
    with compilations() as names:
        again = rec.record_generated(
            he_params,
            stim,
            other,
            make,
            layers=("conv1", "conv2"),
            batch_size=2,
            grid_shape=(5, 1),
        )
    assert "_record_generated" not in names, names
    assert not np.allclose(again["conv1"], got["conv1"])
    with pytest.raises(ValueError, match="grid_shape"):
        rec.record_generated(he_params, stim, params, make, grid_shape=(2, 2))


def test_grating_responses_shapes_and_stimuli(he_params):
    # The grating set is the GratingInput of every (orientation, wavelength, phase).
    theta, wl, ph = (0.0, 45.0, 90.0), (6.0, 12.0), (0.0, 180.0)
    out = rec.grating_responses(
        he_params,
        layers=("conv2",),
        orientations_deg=theta,
        wavelengths_px=wl,
        phases_deg=ph,
        size=SMALL,
        contrast=0.5,
        batch_size=5,
    )
    assert out["conv2"].shape == (3, 2, 2, 256)
    make = stimuli.GratingInput(SMALL)
    image = make(stimuli.GratingStimulus(45.0, 12.0, 180.0), stimuli.GratingParams(0.5))
    direct = rec.record(he_params, image[None], layers=("conv2",))["conv2"][0]
    scale = float(jnp.abs(direct).max())
    np.testing.assert_allclose(out["conv2"][1, 1, 1], direct, rtol=1e-4, atol=1e-5 * scale)
    allpos = rec.grating_responses(
        he_params,
        layers=("conv5",),
        orientations_deg=(0.0,),
        wavelengths_px=(8.0,),
        phases_deg=(0.0,),
        size=SMALL,
        positions="all",
    )
    assert allpos["conv5"].shape == (1, 1, 1, 3, 3, 256)


def test_tuning_protocol_and_included_counts(he_params, key):
    # Without noise the protocol is the recorder applied to contrast * (Gabor - 125).
    k1, k2 = jax.random.split(key)
    clean = rec.tuning_protocol_responses(
        k1, he_params, layers=TABLE_LAYERS, num_noise=1, noise_sd=0.0, size=SMALL
    )
    assert clean["norm1"].shape == (100, 1, 96) and clean["conv3"].shape == (100, 1, 384)
    angles = np.arange(7) * 1.8  # the first 7 of 100 orientations over 180 deg
    images = jnp.stack(
        [
            0.2 * (stimuli.gabor(a, 10.0, sigma_px=50.0, size=SMALL) - stimuli.BACKGROUND_OFFSET)
            for a in angles
        ]
    )[..., None]
    direct = rec.record(he_params, images, layers=("conv1", "norm2", "conv5"), batch_size=3)
    for layer in ("conv1", "norm2", "conv5"):
        scale = float(jnp.abs(direct[layer]).max())
        np.testing.assert_allclose(clean[layer][:7, 0], direct[layer], rtol=1e-4, atol=1e-5 * scale)
    counts = [int(rec.included_unit_count(clean["conv3"], threshold=t)) for t in (0.0, 1.0, 1e9)]
    assert counts[0] == 384 and counts[2] == 0 and 0 <= counts[1] <= 384
    # Pixel noise changes the responses, reproducibly for a key.
    noisy = [
        rec.tuning_protocol_responses(k, he_params, layers=TABLE_LAYERS, num_noise=1, size=SMALL)
        for k in (k1, k2, k1)
    ]
    assert not np.allclose(noisy[0]["conv3"], clean["conv3"])
    assert not np.allclose(noisy[0]["conv3"], noisy[1]["conv3"])
    np.testing.assert_array_equal(noisy[0]["conv3"], noisy[2]["conv3"])


# ------------------------------------------------------------------------------------------
# Error paths
# ------------------------------------------------------------------------------------------


def test_network_errors_name_the_argument(he_params, key):
    images = np.zeros((2, 67, 67, 1), np.float32)
    with pytest.raises(ValueError, match="layers"):
        rec.record(he_params, images, layers=("conv1", "fc6"))
    with pytest.raises(ValueError, match="positions"):
        rec.record(he_params, images, positions="corner")
    with pytest.raises(ValueError, match="batch_size"):
        rec.record(he_params, images, batch_size=0)
    with pytest.raises(ValueError, match="images"):
        rec.record(he_params, images[0])
    with pytest.raises(ValueError, match="layers"):
        rec.record(he_params, images, layers=())
    with pytest.raises(ValueError, match="wavelengths_px"):
        rec.grating_responses(he_params, wavelengths_px=(4.0, 0.0), size=SMALL)
    with pytest.raises(ValueError, match="orientations_deg"):
        rec.grating_responses(he_params, orientations_deg=(), size=SMALL)
    with pytest.raises(ValueError, match="size must be an integer >= 67"):
        rec.grating_responses(he_params, size=40)
    with pytest.raises(ValueError, match="num_noise"):
        rec.tuning_protocol_responses(key, he_params, num_noise=0, size=SMALL)
    with pytest.raises(ValueError, match="noise_sd"):
        rec.tuning_protocol_responses(key, he_params, num_noise=1, noise_sd=-1.0, size=SMALL)
    # Bad input is the project's InputError (a ValueError), naming the parameter.
    with pytest.raises(InputError, match="batch_size"):
        rec.check_batch_size(0)
    with pytest.raises(InputError, match="threshold"):
        rec.check_inclusion_threshold(-1.0)
    assert rec.check_layers("conv3", alexnet.CAFFE_ALEXNET) == ("conv3",)
    assert rec.check_size(None, alexnet.CAFFE_ALEXNET) == alexnet.CAFFE_ALEXNET.input_size
    assert rec.check_batch_size(4.0) == 4
    np.testing.assert_array_equal(rec.check_grid([1, 2], "g", positive=True), [1.0, 2.0])
