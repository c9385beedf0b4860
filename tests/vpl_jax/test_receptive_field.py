"""Tests for vpl_jax.receptive_field: the cone forward equals the full forward where it is read."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax import receptive_field as rf
from vpl_jax.alexnet import CAFFE_ALEXNET, TORCHVISION_ALEXNET

PROTOCOL = ("norm1", "norm2", "conv3", "conv4", "conv5")


def _params(arch, seed=0):
    """He-normal kernels and non-zero biases (so that no layer is silent)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shapes in alexnet.param_shapes(arch).items():
        kh, kw, c_in, _ = shapes["w"]
        w = rng.normal(size=shapes["w"]) * np.sqrt(2.0 / (kh * kw * c_in))
        out[name] = {
            "w": jnp.asarray(w, jnp.float32),
            "b": jnp.asarray(rng.normal(size=shapes["b"]), jnp.float32),
        }
    return out


@pytest.fixture(scope="module")
def params():
    return {arch.name: _params(arch) for arch in (CAFFE_ALEXNET, TORCHVISION_ALEXNET)}


def _images(shape, seed=1):
    return jnp.asarray(50.0 * np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _close(got, want, name):
    scale = float(np.max(np.abs(want)))
    assert scale > 0.1, name  # a live unit, not a zero-vs-zero comparison
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale, err_msg=name)


@pytest.mark.parametrize("arch", [CAFFE_ALEXNET, TORCHVISION_ALEXNET], ids=lambda a: a.name)
@pytest.mark.parametrize("size", [67, 99, 227])
def test_centre_features_equal_the_full_forward_for_every_layer(params, arch, size):
    p = params[arch.name]
    x = _images((2, size, size, arch.in_channels), seed=size)
    full = alexnet.features(p, x, arch)
    got = rf.centre_features(p, x, None, arch)
    assert list(got) == list(arch.output_keys)
    for layer, value in got.items():
        h, w = full[layer].shape[1:3]
        assert value.shape == (2, full[layer].shape[-1])
        _close(value, full[layer][:, h // 2, w // 2, :], f"{arch.name} {size} {layer}")


@pytest.mark.parametrize("arch", [CAFFE_ALEXNET, TORCHVISION_ALEXNET], ids=lambda a: a.name)
def test_regions_at_the_border_and_several_layers_at_once(params, arch):
    """Corners and edges (where the crop runs into the zero padding), a whole map and a
    non-square input: every requested block equals the full map's block."""
    p = params[arch.name]
    x = _images((1, 71, 83, arch.in_channels), seed=5)
    full = alexnet.features(p, x, arch)
    shapes = alexnet.layer_shapes(arch, 71, 83)
    h2, w2, _ = shapes["conv2"]
    h4, w4, _ = shapes["conv4"]
    regions = {
        "conv2": (0, 2, w2 - 3, w2),  # top-right corner
        "conv4": (h4 - 1, h4, 0, w4),  # bottom row, all columns
        "pool1": (0, shapes["pool1"][0], 0, shapes["pool1"][1]),  # the whole map
        "conv1": (5, 6, 7, 9),
    }
    got = rf.cone_features(p, x, regions, arch)
    assert list(got) == list(regions)
    for layer, (top, bottom, left, right) in regions.items():
        _close(got[layer], full[layer][:, top:bottom, left:right, :], f"{arch.name} {layer}")


@pytest.mark.parametrize(
    ("arch", "size"), [(CAFFE_ALEXNET, 227), (TORCHVISION_ALEXNET, 99)], ids=lambda a: str(a)
)
def test_jvp_and_grad_equal_the_full_path(params, arch, size):
    p = params[arch.name]
    x = _images((2, size, size, arch.in_channels), seed=7)
    t = _images(x.shape, seed=8) / 50.0
    layers = PROTOCOL if arch is CAFFE_ALEXNET else ("conv1", "conv3", "conv5")

    def full(x):
        out = alexnet.features(p, x, arch)
        return {k: out[k][:, out[k].shape[1] // 2, out[k].shape[2] // 2, :] for k in layers}

    def cone(x):
        return rf.centre_features(p, x, layers, arch)

    (y_full, dy_full), (y_cone, dy_cone) = jax.jvp(full, (x,), (t,)), jax.jvp(cone, (x,), (t,))
    for layer in layers:
        _close(y_cone[layer], y_full[layer], layer)
        _close(dy_cone[layer], dy_full[layer], f"jvp {layer}")
    loss = lambda f: lambda x: sum(jnp.sum(jnp.sin(v / 10.0)) for v in f(x).values())
    _close(jax.grad(loss(cone))(x), jax.grad(loss(full))(x), "grad")


@pytest.mark.parametrize("arch", [CAFFE_ALEXNET, TORCHVISION_ALEXNET], ids=lambda a: a.name)
@pytest.mark.parametrize("size", [67, 99, 227])
@pytest.mark.parametrize("shared", [True, False], ids=["one tangent", "a tangent per image"])
def test_centre_jvp_equals_jax_jvp_of_the_full_forward(params, arch, size, shared):
    """The hand-carried tangent (conv1's computed once for a shared tangent) equals jax.jvp of
    the full forward's centre units, for every layer, both architectures and three sizes."""
    p = params[arch.name]
    x = _images((3, size, size, arch.in_channels), seed=size + 1)
    one = _images((size, size, arch.in_channels), seed=size + 2) / 50.0
    t = one if shared else _images(x.shape, seed=size + 3) / 50.0
    t_full = jnp.broadcast_to(t, x.shape)

    def full(x):
        out = alexnet.features(p, x, arch)
        return {k: v[:, v.shape[1] // 2, v.shape[2] // 2, :] for k, v in out.items()}

    y_full, dy_full = jax.jvp(full, (x,), (t_full,))
    y, dy = rf.centre_jvp(p, x, t, None, arch)
    assert list(y) == list(dy) == list(arch.output_keys)
    for layer in arch.output_keys:
        assert dy[layer].shape == y_full[layer].shape
        _close(y[layer], y_full[layer], f"{arch.name} {size} {layer}")
        _close(dy[layer], dy_full[layer], f"{arch.name} {size} jvp {layer}")


def test_cone_jvp_at_the_border_and_under_vmap(params):
    """Blocks that run into the zero padding, several layers at once, and a vmap over a batch
    of image stacks: equal to jax.jvp of cone_features."""
    p = params[CAFFE_ALEXNET.name]
    x = _images((2, 2, 71, 83, 1), seed=11)
    t = _images((2, 71, 83, 1), seed=12) / 50.0  # one tangent per stack, shared by its images
    regions = {"conv2": (0, 2, 2, 5), "norm1": (3, 4, 0, 17), "pool2": (0, 1, 0, 1)}

    def ref(x, t):
        return jax.jvp(
            lambda y: rf.cone_features(p, y, regions), (x,), (jnp.broadcast_to(t, x.shape),)
        )

    want = jax.vmap(ref)(x, t)
    got = jax.vmap(lambda x, t: rf.cone_jvp(p, x, t, regions))(x, t)
    for layer in regions:
        _close(got[0][layer], want[0][layer], layer)
        _close(got[1][layer], want[1][layer], f"jvp {layer}")


def test_cone_sizes_of_the_tuning_protocol():
    """At 227 px the centre units of layers 1-5 see conv1 39 x 39, conv2 15 x 15, conv3 5 x 5,
    conv4 3 x 3, conv5 1 x 1 and 163 x 163 pixels; at 67 px the cone is the whole image."""
    got = rf.cone_regions(CAFFE_ALEXNET, rf.centre_regions(CAFFE_ALEXNET, PROTOCOL))
    sides = {k: (r[1] - r[0], r[3] - r[2]) for k, r in got.items()}
    assert sides["image"] == (163, 163)
    for layer, side in (("conv1", 39), ("conv2", 15), ("conv3", 5), ("conv4", 3), ("conv5", 1)):
        assert sides[layer] == (side, side), layer
    assert "pool5" not in got  # nothing above conv5 was asked for
    small = rf.cone_regions(CAFFE_ALEXNET, rf.centre_regions(CAFFE_ALEXNET, PROTOCOL, 67), 67)
    assert small["image"] == (0, 67, 0, 67)
    # conv1 alone: one 11 x 11 kernel window at stride 4
    one = rf.cone_regions(CAFFE_ALEXNET, {"conv1": (27, 28, 27, 28)})
    assert one["image"] == (108, 119, 108, 119)


def test_the_image_region_is_the_receptive_field(params):
    """A pixel just outside the cone's image region leaves the full forward's conv5 centre unit
    unchanged; one on its edge changes it."""
    p = params[CAFFE_ALEXNET.name]
    region = rf.cone_regions(CAFFE_ALEXNET, rf.centre_regions(CAFFE_ALEXNET, ("conv5",)))
    top, bottom, left, right = region["image"]
    x = _images((1, 227, 227, 1), seed=9)

    def centre(img):
        return alexnet.features(p, img, CAFFE_ALEXNET)["conv5"][0, 6, 6, :]

    base = centre(x)
    outside = centre(x.at[0, top - 1, (left + right) // 2, 0].add(1e4))
    inside = centre(x.at[0, top, (left + right) // 2, 0].add(1e4))
    np.testing.assert_array_equal(outside, base)
    assert float(jnp.max(jnp.abs(inside - base))) > 1e-3


def test_cone_macs_closed_form():
    full = rf.cone_macs(CAFFE_ALEXNET)
    by_hand = (
        55 * 55 * 11 * 11 * 1 * 96
        + 27 * 27 * 5 * 5 * 48 * 256
        + 13 * 13 * 3 * 3 * 256 * 384
        + 13 * 13 * 3 * 3 * 192 * 384
        + 13 * 13 * 3 * 3 * 192 * 256
    )
    assert full == by_hand
    cone = rf.cone_macs(CAFFE_ALEXNET, rf.centre_regions(CAFFE_ALEXNET, PROTOCOL))
    assert cone == (
        39 * 39 * 11 * 11 * 96
        + 15 * 15 * 25 * 48 * 256
        + 5 * 5 * 9 * 256 * 384
        + 3 * 3 * 9 * 192 * 384
        + 9 * 192 * 256
    )


def test_errors_name_the_argument(params):
    p = params[CAFFE_ALEXNET.name]
    x = _images((1, 67, 67, 1))
    with pytest.raises(InputError, match="unknown layer 'fc6'"):
        rf.cone_features(p, x, {"fc6": (0, 1, 0, 1)})
    with pytest.raises(InputError, match=r"regions\['conv5'\].*bottom <= 3"):
        rf.cone_features(p, x, {"conv5": (0, 4, 0, 1)})
    with pytest.raises(InputError, match="top < bottom"):
        rf.cone_features(p, x, {"conv5": (1, 1, 0, 1)})
    with pytest.raises(InputError, match="4 integers"):
        rf.cone_features(p, x, {"conv5": (0, 1)})
    with pytest.raises(InputError, match="4 integers"):
        rf.cone_features(p, x, {"conv5": (0, 1.5, 0, 1)})
    with pytest.raises(InputError, match="non-empty mapping"):
        rf.cone_features(p, x, {})
    with pytest.raises(InputError, match="input channel"):
        rf.centre_features(p, jnp.zeros((1, 67, 67, 3)))
    with pytest.raises(InputError, match="too small"):
        rf.centre_features(p, jnp.zeros((1, 60, 60, 1)))
    with pytest.raises(TypeError, match="floating"):
        rf.centre_features(p, jnp.zeros((1, 67, 67, 1), jnp.int32))
    with pytest.raises(InputError, match="unknown layer"):
        rf.centre_regions(CAFFE_ALEXNET, ("fc7",))
    with pytest.raises(InputError, match=r"image_tangent must have the shape of images"):
        rf.centre_jvp(p, x, jnp.zeros((2, 67, 67, 1)))
    with pytest.raises(TypeError, match="image_tangent must have the dtype"):
        rf.centre_jvp(p, x, jnp.zeros((67, 67, 1), jnp.float16))
