import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import natural_images
from vpl_jax import alexnet, pretrain, weights

# Tiny FastICA runs stop before convergence on purpose (see ica_max_iter below).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = pretrain.PretrainConfig(
    seed=3,
    ica_patches=2000,
    ica_max_iter=10,  # FastICA dominates the cost; convergence is not what these tests check
    crop_size=67,
    batch_size=4,
    num_steps=24,
    steps_per_call=4,
    checkpoint_every=8,
    learning_rate=1e-3,
    scale_range=(0.8, 1.2),
)


def _smooth_photos(seed=0, n=3, size=160):
    """1/f-amplitude random fields (natural-image-like spectra) in [0, 1]."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / size)
    photos = []
    for _ in range(n):
        phase = np.exp(2j * np.pi * rng.random((size, size)))
        field = np.real(np.fft.ifft2(amplitude * phase))
        field = (field - field.min()) / (field.max() - field.min())
        photos.append(field)
    return photos


@pytest.fixture(scope="module")
def uninterrupted():
    return pretrain.pretrain(TINY, _smooth_photos(), progress=False)


def test_nt_xent_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(8, 5))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    t = 0.3
    sim = z @ z.T / t
    expected = 0.0
    for i in range(8):
        j = (i + 4) % 8
        others = [k for k in range(8) if k != i]
        expected += -sim[i, j] + np.log(np.sum(np.exp(sim[i, others])))
    expected /= 8
    got = pretrain.nt_xent(jnp.asarray(z, jnp.float32), t)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_ica_filters_are_zero_mean_norm_sqrt2_and_oriented():
    stack = natural_images.pack(_smooth_photos(seed=1))
    patches = pretrain.ica_patches(jax.random.key(0), stack, 3000)
    assert patches.shape == (3000, 11, 11)
    np.testing.assert_allclose(patches.mean(axis=(1, 2)), 0.0, atol=1e-3)
    filters = pretrain.ica_filters(patches, 16, seed=0, max_iter=50)
    assert filters.shape == (11, 11, 1, 16)
    flat = filters.reshape(121, 16)
    np.testing.assert_allclose(flat.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(flat, axis=0), np.sqrt(2.0), rtol=1e-5)


def test_views_share_a_region_and_are_in_network_units():
    stack = natural_images.pack(_smooth_photos())
    views = pretrain.sample_views(jax.random.key(0), stack, TINY)
    assert views.shape == (2 * TINY.batch_size, 67, 67, 1)
    assert np.all(np.isfinite(np.asarray(views)))
    # Positive pairs (i, i + B) view the same region with the same rotation and flip, so their
    # pixels correlate far more than views of different regions.
    flat = np.asarray(views).reshape(2 * TINY.batch_size, -1)
    b = TINY.batch_size
    corr = np.corrcoef(flat)
    positive = np.mean([corr[i, i + b] for i in range(b)])
    negative = np.mean([abs(corr[i, (i + 1) % b + b]) for i in range(b)])
    assert positive > 0.3 and positive > 2 * negative, (positive, negative)


def test_views_differ_only_by_the_per_view_augmentations():
    # With zoom, shift, contrast and noise switched off, the two views of a region are identical:
    # rotation and flip belong to the region (orientation must not be an augmentation).
    fixed = dataclasses.replace(
        TINY, scale_range=(1.0, 1.0), shift_fraction=0.0, contrast_range=(1.0, 1.0), noise_sd=0.0
    )
    stack = natural_images.pack(_smooth_photos())
    views = np.asarray(pretrain.sample_views(jax.random.key(1), stack, fixed))
    b = fixed.batch_size
    np.testing.assert_allclose(views[:b], views[b:], atol=1e-3)
    assert np.std(views[:b] - np.roll(views[:b], 1, axis=0)) > 1.0


def test_training_lowers_the_loss_on_held_out_views(uninterrupted):
    params, head, log = uninterrupted
    assert len(log["loss"]) == TINY.num_steps
    stack = natural_images.pack(_smooth_photos())
    views = pretrain.sample_views(jax.random.key(123), stack, TINY)
    conv1 = np.asarray(params["conv1"]["w"])
    before = pretrain.init_state(jax.random.split(jax.random.key(TINY.seed), 3)[1], conv1, TINY)
    loss_before = pretrain.nt_xent(
        pretrain.embed(before.params, before.head, views), TINY.temperature
    )
    loss_after = pretrain.nt_xent(pretrain.embed(params, head, views), TINY.temperature)
    first, last = np.mean(log["loss"][:4]), np.mean(log["loss"][-4:])
    assert last < first - 0.05, (first, last)
    assert float(loss_after) < float(loss_before) - 0.05, (float(loss_before), float(loss_after))


def test_conv1_stays_frozen(uninterrupted):
    params = uninterrupted.params
    stack = natural_images.pack(_smooth_photos())
    ica_key = jax.random.split(jax.random.key(TINY.seed), 3)[0]
    patches = pretrain.ica_patches(ica_key, stack, TINY.ica_patches)
    expected = pretrain.ica_filters(patches, 96, TINY.seed, TINY.ica_max_iter)
    np.testing.assert_array_equal(np.asarray(params["conv1"]["w"]), expected)
    alexnet.check_params(params, alexnet.CAFFE_ALEXNET)


def test_interrupted_and_resumed_run_equals_uninterrupted(uninterrupted, tmp_path):
    photos = _smooth_photos()
    _, _, log = pretrain.pretrain(
        TINY, photos, checkpoint_dir=tmp_path, progress=False, stop_after=8
    )
    assert len(log["loss"]) == 8
    resumed, _, log = pretrain.pretrain(TINY, photos, checkpoint_dir=tmp_path, progress=False)
    assert len(log["loss"]) == TINY.num_steps
    expected, _, expected_log = uninterrupted
    np.testing.assert_allclose(log["loss"], expected_log["loss"], rtol=0, atol=0)
    for layer in expected:
        np.testing.assert_array_equal(resumed[layer]["w"], expected[layer]["w"])
        np.testing.assert_array_equal(resumed[layer]["b"], expected[layer]["b"])


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("crop_size", 40, "crop_size must be >= 67"),
        ("temperature", 0.0, "temperature must be > 0"),
        ("checkpoint_every", 6, "checkpoint_every must be a positive multiple"),
        ("contrast_range", (0.5, 1.5), "contrast_range"),
        ("noise_sd", -1.0, "noise_sd must be >= 0"),
    ],
)
def test_bad_config_is_rejected(field, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **{field: value})


def test_photos_must_be_large_enough_for_every_view():
    with pytest.raises(ValueError, match=r"photos\[1\] is \(100, 100\) px.*>= 152 px"):
        pretrain.pretrain(TINY, [np.zeros((200, 200)), np.zeros((100, 100))], progress=False)


def test_photos_must_be_grey():
    with pytest.raises(ValueError, match=r"images\[0\] must be 2-D"):
        pretrain.pretrain(TINY, [np.zeros((100, 100, 3))], progress=False)


def test_bundled_default_weights_carry_their_recipe_and_meet_the_qualification_bar():
    # The bundled file's own metadata (measured when it was made, docs/pretrain.md): conv1 and
    # conv2 must be clearly more orientation-selective than random weights of the architecture.
    from vpl_jax import weights

    params, arch, info = weights.load_with_info("default")
    assert arch == alexnet.CAFFE_ALEXNET
    extra = info["extra"]
    config = pretrain.PretrainConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in extra["config"].items()}
    )
    assert (
        pretrain.recipe_metadata(config, extra["photos"])["config_sha256"] == extra["config_sha256"]
    )
    assert len(extra["loss"]) == config.num_steps == extra["steps"]
    rows = {
        kind: {r["layer"]: r for r in extra["qualification"][kind]}
        for kind in ("pretrained", "random")
    }
    for layer in ("conv1", "conv2"):
        bundled, random = rows["pretrained"][layer], rows["random"][layer]
        assert bundled["median_gosi"] > random["median_gosi"] + 0.2, layer
        assert bundled["frac_selective"] > random["frac_selective"] + 0.15, layer
    assert rows["pretrained"]["conv1"]["frac_gabor_r2"] >= 0.9
    assert rows["random"]["conv1"]["frac_gabor_r2"] <= 0.1


def test_make_weights_file_refuses_an_existing_file_before_training(tmp_path, monkeypatch):
    out = tmp_path / "w.npz"
    out.write_bytes(b"keep me")
    monkeypatch.setattr(pretrain, "pretrain", lambda *a, **k: pytest.fail("trained anyway"))
    with pytest.raises(weights.WeightsError, match="already exists"):
        pretrain.make_weights_file(out)
    assert out.read_bytes() == b"keep me"
