r"""The siamese two-interval decision stage of Wenliang & Seitz (2018).

Two weight-shared AlexNet streams map the reference image to :math:`h_r` and the target image to
:math:`h_t` through a scalar readout on the flattened last feature map (``pool5``: 6 x 6 x 256 =
9216 inputs at 227 px). The decision is

.. math:: p(\mathrm{CW}) = \sigma(\Delta h), \qquad \Delta h = h_t - h_r,

and the loss is the binary cross-entropy against the label (1 = target more clockwise), averaged
over the batch. The readout starts at zero (weights and bias), so at the first iteration every
output is 0, :math:`p = 1/2`, and the lower layers receive exactly zero gradient. The bias cancels
in :math:`\Delta h` and never receives gradient.

Conventions: images are ``(N, H, W, C)`` floats in network units (``contrast * (I - 125) +
noise``); a *pair* batch is ``reference, target`` of the same shape; model params are the conv1-5
dict of ``vpl_jax.alexnet`` plus ``params["readout"] = {"w": (D,), "b": ()}`` with ``D`` the size
of the flattened last feature map (``readout_size``). The flattening order is NHWC (``h, w, c``);
it differs from Caffe's ``c, h, w`` order, which only matters when importing a trained Caffe
readout (the paper's readout starts at zero).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from theory.checks import InputError
from vpl_jax import alexnet

__all__ = [
    "READOUT",
    "decision_logit",
    "init_model",
    "init_readout",
    "loss",
    "p_clockwise",
    "readout_size",
    "response",
]

READOUT = "readout"


def readout_size(
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET, image_size: int | None = None
) -> int:
    """Number of readout inputs: the size of the last feature map (9216 for Caffe AlexNet at 227 px).

    Examples:
        >>> readout_size(), readout_size(image_size=99)
        (9216, 1024)
    """
    shapes = alexnet.layer_shapes(arch, image_size)
    return math.prod(shapes[arch.output_keys[-1]])


def init_readout(
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET, image_size: int | None = None, dtype=jnp.float32
) -> dict:
    """The zero-initialised readout ``{"w": zeros(D), "b": zeros(())}``."""
    return {
        "w": jnp.zeros((readout_size(arch, image_size),), dtype),
        "b": jnp.zeros((), dtype),
    }


def init_model(
    backbone: dict, arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET, image_size: int | None = None
) -> dict:
    """Model params: the conv1-5 ``backbone`` plus a zero readout (the paper's initial network).

    Raises:
        ValueError: if ``backbone`` does not match ``arch`` (layer names or shapes).
    """
    alexnet.check_params(backbone, arch)
    dtype = jnp.result_type(backbone[arch.layer_names[0]]["w"])
    params = {name: dict(backbone[name]) for name in arch.layer_names}
    params[READOUT] = init_readout(arch, image_size, dtype)
    return params


def response(params: dict, images: jax.Array, arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET):
    """Scalar readout ``h`` of every image: ``flatten(last feature map) @ w + b``.

    Args:
        params: model params (conv layers and ``"readout"``).
        images: ``(N, H, W, C)`` floats in network units.
        arch: architecture spec.

    Returns:
        ``(N,)`` responses.
    """
    feats = alexnet.features(params, images, arch)[arch.output_keys[-1]]
    flat = feats.reshape(feats.shape[0], -1)
    w, b = params[READOUT]["w"], params[READOUT]["b"]
    if flat.shape[1] != w.shape[0]:
        raise InputError(
            f"readout expects {w.shape[0]} inputs, the last feature map of {images.shape=} has "
            f"{flat.shape[1]} (build the readout with the same image size)"
        )
    return flat @ w + b


def decision_logit(
    params: dict,
    reference: jax.Array,
    target: jax.Array,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
) -> jax.Array:
    r"""The decision variable :math:`\Delta h = h(\mathrm{target}) - h(\mathrm{reference})`.

    Both streams run as one batch of ``2N`` images through the shared weights.

    Args:
        params: model params.
        reference, target: ``(N, H, W, C)`` images of the same shape.
        arch: architecture spec.

    Returns:
        ``(N,)`` logits of p(target more clockwise).
    """
    if reference.shape != target.shape:
        raise InputError(
            f"expected reference and target of one shape, got {reference.shape=}, {target.shape=}"
        )
    n = reference.shape[0]
    h = response(params, jnp.concatenate([reference, target], axis=0), arch)
    return h[n:] - h[:n]


def p_clockwise(params, reference, target, arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET):
    r"""p(CW) = :math:`\sigma(h_t - h_r)` (Eq. 1 of the paper), shape ``(N,)``."""
    return jax.nn.sigmoid(decision_logit(params, reference, target, arch))


def loss(params, reference, target, labels, arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET):
    """Binary cross-entropy of p(CW) against ``labels`` (1 = target more clockwise), batch mean.

    Args:
        params: model params.
        reference, target: ``(N, H, W, C)`` images.
        labels: ``(N,)`` 0/1 labels (any real dtype).
        arch: architecture spec.

    Returns:
        Scalar loss (``log 2`` with a zero readout).
    """
    logits = decision_logit(params, reference, target, arch)
    if labels.shape != logits.shape:
        raise InputError(f"expected labels of shape {logits.shape}, got {labels.shape=}")
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype)))
