"""Tests for vpl_jax.stimuli: the original Gabor conventions, derivatives, trials, transfer, noise."""

import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory.stimuli
from theory.checks import InputError
from vpl_jax import stimuli

# ------------------------------------------------------------------ independent NumPy reference


def _screen_gabor(angle, wave, sigma=50.0, size=227):
    """NumPy transcription of the original ``Screen.Gabor`` steps (float64): meshgrid with y up,
    rotation matrix applied to the coordinates, normalised Gaussian times cosine with pi as
    3.1416, rescale with ``bgd = (0 - min) * r``, clip to 0..255, then the uint8 store."""
    mid = (size - 1) / 2.0
    x, y = np.meshgrid(np.arange(size) - mid, np.arange(size - 1, -1, -1) - mid, indexing="xy")
    a = angle * np.pi / 180
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    xr, yr = np.einsum("ji,mni->jmn", rot, np.dstack([x, y]))
    freq = 2 * 3.1416 / wave
    g = (
        1
        / (2 * np.pi * sigma * sigma)
        * np.exp(-0.5 * (xr**2 + yr**2) / sigma / sigma)
        * np.cos(freq * xr)
    )
    r = 255.0 / (g.max() - g.min())
    bgd = (0.0 - g.min()) * r
    img = np.clip(g * r + bgd, 0.0, 255.0)
    return img, img.astype(np.uint8), bgd


@pytest.mark.parametrize(("angle", "wave"), [(0.0, 10.0), (37.5, 30.0), (165.0, 20.0)])
def test_gabor_matches_original_screen_gabor(angle, wave):
    want, want_u8, _ = _screen_gabor(angle, wave)
    got = stimuli.gabor(angle, wave)
    assert got.shape == (227, 227) and got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-3)  # float32 on a 0..255 scale
    assert float(got.min()) == 0.0 and float(got.max()) == pytest.approx(255.0, abs=1e-3)
    q = np.asarray(stimuli.gabor(angle, wave, quantize=True))
    assert np.all(q == np.floor(q)) and q.min() >= 0 and q.max() <= 255
    diff = np.abs(q - want_u8.astype(np.float64))
    # identical except where float32 rounding crosses an integer (the max pixel, 255 vs 254.99..)
    assert diff.max() <= 1.0 and np.mean(diff == 0) > 0.999


def test_background_values_from_the_spec():
    spec = {10.0: 127.18, 20.0: 126.23, 30.0: 124.63, 40.0: 122.4, 5.0: 113.99, 80.0: 108.44}
    for wave, value in spec.items():
        assert float(stimuli.gabor_background(wave)) == pytest.approx(value, abs=0.006), wave
        assert _screen_gabor(0.0, wave)[2] == pytest.approx(value, abs=0.006)
    # far from the centre (envelope < 1e-6 of the peak) the image is that background
    img = stimuli.gabor(0.0, 10.0, sigma_px=20.0)
    bg = float(stimuli.gabor_background(10.0, sigma_px=20.0))
    np.testing.assert_allclose(img[:30, :30], bg, atol=1e-3)


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 100.0, 160.0])
def test_orientation_of_maximum_fourier_energy(angle):
    """Wave vector of the carrier: (sin a, cos a) / lambda in (row, col) frequency coordinates,
    i.e. stripes vertical at 0 deg and rotating clockwise."""
    wave, n_fft = 10.0, 2048
    img = np.asarray(stimuli.gabor(angle, wave), np.float64)
    power = np.abs(np.fft.fft2(img - img.mean(), s=(n_fft, n_fft))) ** 2
    k_row, k_col = np.unravel_index(np.argmax(power), power.shape)
    f_row = np.fft.fftfreq(n_fft)[k_row]
    f_col = np.fft.fftfreq(n_fft)[k_col]
    assert math.hypot(f_row, f_col) == pytest.approx(1.0 / wave, abs=1.5 / n_fft)
    peak_angle = math.degrees(math.atan2(f_row, f_col)) % 180.0
    err = (peak_angle - angle + 90.0) % 180.0 - 90.0
    assert abs(err) < 0.3


def test_zero_is_vertical_and_angles_turn_clockwise():
    img = np.asarray(stimuli.gabor(0.0, 10.0, size=101, sigma_px=30.0))
    c = 50
    # vertical stripes: the centre column only sees the Gaussian envelope (monotone from centre)
    assert np.all(np.diff(img[c:, c]) <= 1e-4) and np.ptp(img[c, :]) > 200
    # at 45 deg the stripe through the centre runs up-right ("/"): x' = 0 on that diagonal
    img45 = np.asarray(stimuli.gabor(45.0, 10.0, size=101, sigma_px=30.0))
    bg = float(stimuli.gabor_background(10.0, 30.0, 101, 45.0))
    for d in (5, 10, 20):
        on_stripe = bg + (255.0 - bg) * math.exp(-(2 * d * d) / (2 * 30.0**2))
        assert img45[c - d, c + d] == pytest.approx(on_stripe, abs=1e-3)
        assert abs(img45[c - d, c - d] - on_stripe) > 1.0  # the other diagonal is not


def test_phase_is_cosine_at_centre():
    assert float(stimuli.gabor(20.0, 10.0)[113, 113]) == pytest.approx(255.0, abs=1e-3)
    assert float(stimuli.gabor(20.0, 10.0, phase_deg=180.0)[113, 113]) == pytest.approx(
        0.0, abs=1e-3
    )


def test_exact_pi_option():
    a = stimuli.gabor(30.0, 10.0)
    b = stimuli.gabor(30.0, 10.0, pi=math.pi)
    assert 0 < float(jnp.max(jnp.abs(a - b))) < 0.1


# ------------------------------------------------------------------ derivatives


def test_jacfwd_matches_central_differences():
    """d image / d (angle, wavelength, phase) by forward mode vs central differences (float64)."""
    with jax.enable_x64(True):
        params = jnp.array([30.0, 10.0, 20.0])  # angle, wavelength, phase

        def img(p):
            return stimuli.gabor(p[0], p[1], sigma_px=15.0, size=61, phase_deg=p[2])

        jac = jax.jit(jax.jacfwd(img))(params)
        assert jac.shape == (61, 61, 3) and jac.dtype == jnp.float64
        eps = 1e-5
        for i in range(3):
            step = jnp.zeros(3).at[i].set(eps)
            fd = (img(params + step) - img(params - step)) / (2 * eps)
            np.testing.assert_allclose(jac[..., i], fd, rtol=1e-5, atol=1e-5)
            assert float(jnp.max(jnp.abs(fd))) > 1.0  # a real derivative, not two zeros


def test_template_derivative_in_reference_angle():
    with jax.enable_x64(True):
        f = lambda a: stimuli.pair_templates(a, 2.0, 10.0, sigma_px=15.0, size=41).clockwise
        d = jax.jacfwd(f)(jnp.float64(20.0))
        eps = 1e-5
        np.testing.assert_allclose(d, (f(20.0 + eps) - f(20.0 - eps)) / (2 * eps), atol=1e-5)


# ------------------------------------------------------------------ batching, jit


def test_vmap_over_angles_equals_loop():
    angles = jnp.array([0.0, 12.5, 90.0, 171.0])
    batched = jax.vmap(lambda a: stimuli.gabor(a, 20.0, size=67))(angles)
    for i, a in enumerate(angles):
        np.testing.assert_allclose(batched[i], stimuli.gabor(a, 20.0, size=67), atol=2e-3)
    tmpl = jax.vmap(lambda a: stimuli.pair_templates(a, 1.0, 20.0, size=67))(angles)
    assert tmpl.clockwise.shape == (4, 67, 67)
    np.testing.assert_allclose(tmpl.clockwise[2], stimuli.gabor(91.0, 20.0, size=67), atol=2e-3)


def test_no_recompilation_for_new_angles():
    fn = stimuli.gabor
    fn(10.0, 20.0, size=67).block_until_ready()
    handler_messages = []

    class Handler(logging.Handler):
        def emit(self, record):
            handler_messages.append(record.getMessage())

    handler = Handler()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            fn(33.0, 12.0, size=67).block_until_ready()
            assert not [m for m in handler_messages if "Compiling jit(gabor)" in m]
            fn(33.0, 12.0, size=69).block_until_ready()  # a new static size does compile
    finally:
        logger.removeHandler(handler)
    assert [m for m in handler_messages if "Compiling jit(gabor)" in m]


# ------------------------------------------------------------------ trials and transfer


def test_pair_templates_and_trial_pairs():
    t = stimuli.pair_templates(170.0, 5.0, 10.0, size=67)
    # float32 on a 0..255 scale: 2e-3 is ~1e-5 relative
    np.testing.assert_allclose(t.reference, stimuli.gabor(170.0, 10.0, size=67), atol=2e-3)
    np.testing.assert_allclose(t.clockwise, stimuli.gabor(175.0, 10.0, size=67), atol=2e-3)
    np.testing.assert_allclose(t.counterclockwise, stimuli.gabor(165.0, 10.0, size=67), atol=2e-3)
    labels = jnp.array([1, 0, 0, 1])
    refs, targets = stimuli.trial_pairs(t, labels)
    assert refs.shape == targets.shape == (4, 67, 67)
    np.testing.assert_array_equal(targets[0], t.clockwise)
    np.testing.assert_array_equal(targets[1], t.counterclockwise)
    np.testing.assert_array_equal(refs[2], t.reference)


def test_transfer_conditions():
    angles, waves = stimuli.transfer_parameters(150.0, 20.0)
    np.testing.assert_allclose(angles, [150.0, 15.0, 60.0, 150.0, 150.0])
    np.testing.assert_allclose(waves, [20.0, 20.0, 20.0, 40.0, 10.0])
    assert stimuli.TRANSFER_CONDITIONS == ("trained", "ori+45", "ori+90", "sf*0.5", "sf*2")
    tt = stimuli.transfer_templates(150.0, 2.0, 20.0, size=67)
    assert tt.reference.shape == (5, 67, 67)
    np.testing.assert_allclose(tt.clockwise[1], stimuli.gabor(17.0, 20.0, size=67), atol=2e-3)
    np.testing.assert_allclose(
        tt.counterclockwise[3], stimuli.gabor(148.0, 40.0, size=67), atol=2e-3
    )
    np.testing.assert_allclose(tt.reference[4], stimuli.gabor(150.0, 10.0, size=67), atol=2e-3)


# ------------------------------------------------------------------ network input


def test_network_input_deterministic_part_and_noise_statistics():
    img = stimuli.gabor(0.0, 10.0, size=67)
    x0 = stimuli.network_input(jax.random.key(0), img, 0.3, 0.0)
    np.testing.assert_allclose(x0, 0.3 * (img - 125.0), atol=2e-3)
    images = jnp.broadcast_to(img, (8, 67, 67))
    stats = []
    for seed in range(3):
        x = stimuli.network_input(jax.random.key(seed), images, 0.3, 15.0)
        noise = np.asarray(x - 0.3 * (images - 125.0), np.float64)
        n = noise.size
        assert abs(noise.mean()) < 4 * 15.0 / math.sqrt(n)
        assert noise.std() == pytest.approx(15.0, rel=4 * math.sqrt(2.0 / n))
        stats.append(noise[0, 0, 0])
    assert len(set(stats)) == 3  # different keys, different noise
    x = stimuli.network_input(jax.random.key(1), images, 0.3, 15.0)
    assert not np.allclose(x[0], x[1])  # fresh noise per image
    per_image = stimuli.network_input(jax.random.key(0), images, 0.5, 0.0, offset=None)
    np.testing.assert_allclose(per_image.mean(axis=(-2, -1)), 0.0, atol=1e-3)


# ------------------------------------------------------------------ seed-004 gratings, sinusoid


def test_grating_is_seed004_formula():
    """cos(k0 y' + tau), y' = -(x - x0) sin(theta) + (y - y0) cos(theta), x = row, y = col."""
    size, tau = 32, 90.0
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    for theta, k in [(0.0, 0.5), (15.0, 1.2), (120.0, 0.3)]:
        t = math.radians(theta)
        yp = -(rows - size // 2) * math.sin(t) + (cols - size // 2) * math.cos(t)
        want = np.cos(k * yp + math.radians(tau))
        got = stimuli.grating(-theta, k, tau, size, centre=size // 2)
        np.testing.assert_allclose(got, want, atol=2e-5)


def test_grating_shares_the_gabor_convention():
    """The Gabor is the min-max rescaled product of a Gaussian and a grating at the same angle."""
    angle, wave = 25.0, 10.0
    x, y = theory.stimuli.pixel_grid(67)
    envelope = jnp.exp(-(x**2 + y**2) / (2 * 15.0**2))
    g = envelope * stimuli.grating(angle, 2 * stimuli.ORIGINAL_PI / wave, 30.0, 67)
    want = 255.0 * (g - g.min()) / (g.max() - g.min())
    got = stimuli.gabor(angle, wave, sigma_px=15.0, size=67, phase_deg=30.0)
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_grating_frequencies_and_sinusoid_reexport():
    periods = 2 * np.pi / np.asarray(stimuli.grating_frequencies(32, 9))
    np.testing.assert_allclose(
        periods, [40, 20, 40 / 3, 10, 8, 40 / 6, 40 / 7, 5, 40 / 9], rtol=1e-6
    )
    assert stimuli.sinusoid is theory.stimuli.sinusoid


# ------------------------------------------------------------------ errors


def test_errors():
    with pytest.raises(ValueError, match=r"angle_deg must be a scalar .*got shape \(2,\)"):
        stimuli.gabor(jnp.array([0.0, 1.0]), 10.0)
    with pytest.raises(ValueError, match=r"wavelength_px must be a scalar"):
        jax.jit(lambda w: stimuli.gabor(0.0, w, size=67))(jnp.ones(3))
    with pytest.raises(ValueError, match=r"size must be an integer >= 1"):
        stimuli.gabor(0.0, 10.0, size=0)
    t = stimuli.pair_templates(0.0, 1.0, 10.0, size=67)
    with pytest.raises(ValueError, match=r"labels must have shape \(B,\)"):
        stimuli.trial_pairs(t, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="templates must hold single"):
        stimuli.trial_pairs(stimuli.transfer_templates(0.0, 1.0, 10.0, size=67), jnp.ones(2))
    with pytest.raises(ValueError, match="contrast must be a scalar"):
        stimuli.network_input(jax.random.key(0), t.reference, jnp.ones(2), 5.0)
    with pytest.raises(ValueError, match=r"images must have shape \(\.\.\., H, W\)"):
        stimuli.network_input(jax.random.key(0), jnp.ones(5), 0.5, 5.0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        stimuli.grating_frequencies(32, 0)


# ------------------------------------------------------------------ network inputs of generated stimuli


def test_noisy_gabor_input_is_network_input_of_the_gabor():
    key = jax.random.key(4)
    params = stimuli.NoisyGaborParams(wavelength_px=12.0, sigma_px=20.0, contrast=0.3, noise_sd=5.0)
    x = stimuli.NoisyGaborInput(67, channels=3)(stimuli.NoisyGaborStimulus(25.0, key), params)
    grey = stimuli.network_input(key, stimuli.gabor(25.0, 12.0, sigma_px=20.0, size=67), 0.3, 5.0)
    assert x.shape == (67, 67, 3)
    for c in range(3):
        np.testing.assert_array_equal(x[..., c], grey)
    # The paper's defaults and the float32 form.
    assert tuple(stimuli.NoisyGaborParams()) == (10.0, 50.0, 0.2, 15.0)
    arrays = stimuli.NoisyGaborParams().as_arrays()
    assert all(a.dtype == jnp.float32 and a.shape == () for a in arrays)


def test_grating_input_is_the_full_range_grating_without_noise():
    stim = stimuli.GratingStimulus(angle_deg=40.0, wavelength_px=7.0, phase_deg=90.0)
    x = stimuli.GratingInput(33)(stim, stimuli.GratingParams(contrast=0.5))
    g = stimuli.grating(40.0, 2 * np.pi / 7.0, phase_deg=90.0, size=33)
    np.testing.assert_allclose(x[..., 0], 0.5 * (127.5 * (1 + g) - 125.0), rtol=1e-6, atol=1e-4)
    assert x.shape == (33, 33, 1)
    assert stimuli.GratingParams().contrast == 0.5
    np.testing.assert_array_equal(stimuli.to_channels(g, 2)[..., 1], g)


def test_input_makers_are_static_and_params_traced(compilations):
    make = stimuli.NoisyGaborInput(67)
    assert make == stimuli.NoisyGaborInput(67, 1) and hash(make) == hash(
        stimuli.NoisyGaborInput(67)
    )
    keys = jax.random.split(jax.random.key(0), 3)
    stim = stimuli.NoisyGaborStimulus(jnp.array([0.0, 30.0, 60.0]), keys)

    @jax.jit
    def batch(params):
        return jax.vmap(make, in_axes=(0, None))(stim, params)

    first = batch(stimuli.NoisyGaborParams().as_arrays())
    assert first.shape == (3, 67, 67, 1)
    other = stimuli.NoisyGaborParams(wavelength_px=20.0, contrast=0.5).as_arrays()
    with compilations() as names:
        second = batch(other)
    assert "batch" not in names, names
    assert not np.allclose(first, second)


def test_stimulus_record_errors():
    with pytest.raises(InputError, match="size must be an integer >= 1"):
        stimuli.NoisyGaborInput(0)
    with pytest.raises(InputError, match="channels must be an integer >= 1"):
        stimuli.GratingInput(32, channels=1.5)
    with pytest.raises(InputError, match="wavelength_px must be finite and > 0"):
        stimuli.NoisyGaborParams(wavelength_px=0.0).as_arrays()
    with pytest.raises(InputError, match="sigma_px must be finite and > 0"):
        stimuli.NoisyGaborParams(sigma_px=float("inf")).as_arrays()
    with pytest.raises(InputError, match="noise_sd must be finite and >= 0"):
        stimuli.NoisyGaborParams(noise_sd=-1.0).as_arrays()
    with pytest.raises(InputError, match="contrast must be finite"):
        stimuli.GratingParams(contrast=float("nan")).as_arrays()
    with pytest.raises(ValueError, match="contrast must be a scalar"):
        stimuli.GratingParams(contrast=jnp.ones(2)).as_arrays()


def test_paper_px_scales_the_227_px_frame_and_keeps_the_picture():
    assert stimuli.PAPER_IMAGE_SIZE == 227
    assert stimuli.paper_px(50.0, 227) == 50.0
    assert stimuli.paper_px(20.0, 67) == pytest.approx(20.0 * 67 / 227, rel=1e-15)
    lam = np.asarray([10.0, 20.0], np.float32)
    out = stimuli.paper_px(lam, 99)
    assert out.dtype == np.float32  # float32 stays float32, as in the training programs
    np.testing.assert_allclose(out, lam * 99 / 227, rtol=1e-6)
    # the picture is the same: the 67-px Gabor at converted sizes is the 227-px Gabor sampled
    # at the matching positions (the centres coincide; compare the centre row's zero crossings)
    big = np.asarray(stimuli.gabor(0.0, 40.0, 50.0, 227)) - stimuli.gabor_background(40.0, 50.0)
    small = np.asarray(
        stimuli.gabor(0.0, stimuli.paper_px(40.0, 67), stimuli.paper_px(50.0, 67), 67)
    ) - stimuli.gabor_background(stimuli.paper_px(40.0, 67), stimuli.paper_px(50.0, 67), 67)

    def crossings(row, size):
        x = np.arange(size) - (size - 1) / 2
        s = np.sign(row)
        i = np.nonzero(s[:-1] * s[1:] < 0)[0]
        t = row[i] / (row[i] - row[i + 1])
        return (x[i] + t) / size  # in units of the image side

    np.testing.assert_allclose(crossings(small[33], 67), crossings(big[113], 227), atol=2e-3)
    for bad in (0, -3, 67.0, True):
        with pytest.raises(InputError, match="image_size must be an int >= 1"):
            stimuli.paper_px(10.0, bad)
