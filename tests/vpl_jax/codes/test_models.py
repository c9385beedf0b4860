"""Tests for vpl_jax.codes.models: descriptors, input scaling, weights, shuffling."""

import jax
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax.codes import models
from vpl_jax.networks import resnet


def test_caffe_alexnet_takes_z_scored_images_in_grey_levels(key):
    net = models.alexnet_network(input_size=67)
    params = models.load_params(net, "random:0")
    x = jax.random.normal(key, (1, 67, 67, 1))
    got = models.apply(net, params, x)
    ref = alexnet.features(params, x * models.CAFFE_PIXEL_STD)
    assert list(got) == list(alexnet.CAFFE_ALEXNET.output_keys)
    np.testing.assert_allclose(np.asarray(got["pool5"]), np.asarray(ref["pool5"]), rtol=1e-6)


def test_shuffling_permutes_within_each_tensor_and_keeps_buffers(key):
    spec = resnet.ResNetSpec(widths=(4, 4, 4, 4), num_classes=2)
    net = models.resnet_network(spec)
    p = models.load_params(net, "random:1")
    s = models.load_params(net, "random:1", shuffle_seed=0)
    w, ws = np.asarray(p["layer1.0"]["conv1"]["w"]), np.asarray(s["layer1.0"]["conv1"]["w"])
    assert not np.array_equal(w, ws)
    np.testing.assert_array_equal(np.sort(w.ravel()), np.sort(ws.ravel()))
    np.testing.assert_array_equal(np.asarray(p["bn1"]["var"]), np.asarray(s["bn1"]["var"]))
    again = models.load_params(net, "random:1", shuffle_seed=0)
    jax.tree.map(np.testing.assert_array_equal, s, again)


def test_descriptors_name_their_layers():
    assert models.resnet_network().layers == resnet.block_names()
    vgg = models.network_by_name("vgg16_bn")
    assert vgg.layers[:3] == ("conv1_1", "conv1_2", "pool1") and len(vgg.layers) == 18
    assert models.network_by_name("torchvision_alexnet").in_channels == 3
    assert hash(models.alexnet_network()) == hash(models.alexnet_network())  # a static argument


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: models.network_by_name("vit"), r"network must be one of"),
        (
            lambda: models.load_params(models.resnet_network(), "default"),
            r"weights 'default' are the bundled Caffe AlexNet",
        ),
        (lambda: models.load_params(models.alexnet_network(), "random:x"), r"random:SEED"),
        (lambda: models.alexnet_network(layers=("fc6",)), r"layers must be keys"),
        (lambda: models.SmallCNNSpec(downsample="avg"), r"downsample must be"),
        (lambda: models.load_params(models.resnet_network(), "/nonexistent.pth"), r"no such file"),
    ],
)
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()
