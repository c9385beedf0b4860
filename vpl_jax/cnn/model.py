r"""The 7-layer CNN of the orientation-selectivity study (a flax linen module with BatchNorm).

The network (Appendix A.1 of the ICLR 2019 submission *Causal importance of orientation
selectivity for generalization in image recognition*; the layer order, padding and BatchNorm
settings are those of the authors' Keras code):

====  ==========================================  =================  ==========
name  layer                                       output (N, ...)    parameters
====  ==========================================  =================  ==========
conv1 Conv 3x3, 32, stride 1, VALID -> ReLU       30 x 30 x 32       896
bn1   BatchNorm (momentum 0.99, eps 1e-3)         30 x 30 x 32       64 (+64)
conv2 Conv 3x3, 32, stride 2 -> ReLU              14 x 14 x 32       9,248
conv3 Conv 3x3, 64, stride 1 -> ReLU              12 x 12 x 64       18,496
conv4 Conv 3x3, 64, stride 2 -> ReLU              5 x 5 x 64         36,928
conv5 Conv 3x3, 128, stride 1 -> ReLU             3 x 3 x 128        73,856
conv6 Conv 3x3, 128, stride 2 -> ReLU             1 x 1 x 128        147,584
fc1   Flatten, Dense 512 -> ReLU (then bn7)       512                66,048
fc2   Dense 10 (softmax in the loss)              10                 5,130
====  ==========================================  =================  ==========

Each conv layer is followed by its BatchNorm ``bn1`` ... ``bn6``; 360,106 trainable parameters in
all (the BatchNorm scales and offsets included; the running means and variances, 1,920 numbers,
are state, not trainable). Kernels are Glorot-uniform and biases zero, as Keras initialises them.

Conventions: images are NHWC float32 in network units (``/255`` minus the per-pixel training mean
image, see `vpl_jax.cnn.data`); kernels are HWIO. ``apply`` returns the logits (N, 10) and a dict
of every layer's activations: ``conv1..conv6`` and ``fc1`` are post-ReLU, pre-BN (where the paper's
code measures orientation tuning), ``bn1..bn7`` are the BatchNorm outputs (where its ablation
zeroes channels). ``masks`` multiplies BatchNorm outputs channel-wise (1 keeps, 0 ablates).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from theory.checks import InputError

__all__ = [
    "BN_LAYERS",
    "CNN7",
    "CNNConfig",
    "LAYERS",
    "LayerRow",
    "PAPER_CONFIG",
    "PAPER_PARAMETER_COUNT",
    "TUNING_LAYERS",
    "apply",
    "init",
    "layer_table",
    "num_parameters",
]

PAPER_PARAMETER_COUNT = 360_106
"""Trainable parameters of the paper's network (Keras ``model.summary()`` of the authors' code)."""

TUNING_LAYERS: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "fc1")
"""Layers whose units are analysed (post-ReLU, pre-BN), named Conv 1-6 and FC 1 in the paper."""

BN_LAYERS: tuple[str, ...] = ("bn1", "bn2", "bn3", "bn4", "bn5", "bn6", "bn7")
"""BatchNorm outputs, one per analysed layer (``bn7`` follows ``fc1``): the ablation points."""

LAYERS = TUNING_LAYERS
"""Alias of `TUNING_LAYERS`: the paper's seven hidden layers."""


@dataclasses.dataclass(frozen=True)
class CNNConfig:
    """Structure of the network (static, hashable).

    Attributes:
        conv_features: filters of the six conv layers (paper: 32, 32, 64, 64, 128, 128).
        conv_strides: strides of the six conv layers (paper: 1, 2, 1, 2, 1, 2).
        fc_features: units of FC 1 (paper: 512).
        num_classes: output classes (CIFAR-10: 10).
        image_size: input side in pixels (32).
        channels: input channels (3).
        bn_momentum: BatchNorm running-average momentum (Keras default 0.99).
        bn_epsilon: BatchNorm epsilon (Keras default 1e-3).
    """

    conv_features: tuple[int, ...] = (32, 32, 64, 64, 128, 128)
    conv_strides: tuple[int, ...] = (1, 2, 1, 2, 1, 2)
    fc_features: int = 512
    num_classes: int = 10
    image_size: int = 32
    channels: int = 3
    bn_momentum: float = 0.99
    bn_epsilon: float = 1e-3

    def __post_init__(self):
        if len(self.conv_features) != 6 or len(self.conv_strides) != 6:
            raise InputError(
                "conv_features and conv_strides must each hold 6 values (Conv 1-6), got "
                f"{len(self.conv_features)} and {len(self.conv_strides)}"
            )
        if any(int(f) < 1 for f in self.conv_features) or any(
            int(s) < 1 for s in self.conv_strides
        ):
            raise InputError(
                f"conv_features and conv_strides must be >= 1, got {self.conv_features}, "
                f"{self.conv_strides}"
            )
        for name in ("fc_features", "num_classes", "channels"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise InputError(f"num_classes must be >= 2, got {self.num_classes}")
        side = int(self.image_size)
        for s in self.conv_strides:
            side = (side - 3) // s + 1
            if side < 1:
                raise InputError(
                    f"image_size must leave a map of >= 1 px after the six VALID 3x3 convs, got "
                    f"image_size={self.image_size}"
                )
        if not 0.0 <= self.bn_momentum < 1.0:
            raise InputError(f"bn_momentum must be in [0, 1), got {self.bn_momentum}")
        if not self.bn_epsilon > 0:
            raise InputError(f"bn_epsilon must be > 0, got {self.bn_epsilon}")

    def map_sizes(self) -> tuple[int, ...]:
        """Spatial side of each conv layer's output (paper: 30, 14, 12, 5, 3, 1)."""
        sides, side = [], int(self.image_size)
        for s in self.conv_strides:
            side = (side - 3) // s + 1
            sides.append(side)
        return tuple(sides)


PAPER_CONFIG = CNNConfig()
"""The paper's network (all `CNNConfig` defaults)."""


class CNN7(nn.Module):
    """Six VALID 3x3 convs (Conv -> ReLU -> BN), FC 512 -> ReLU -> BN, dense output."""

    config: CNNConfig = CNNConfig()

    @nn.compact
    def __call__(
        self,
        x: Float[Array, "N H W C"],
        *,
        train: bool,
        masks: dict[str, Array] | None = None,
    ) -> tuple[Float[Array, "N K"], dict[str, Array]]:
        cfg = self.config
        masks = masks or {}
        acts: dict[str, Array] = {}
        kinit = nn.initializers.glorot_uniform()

        def bn(h, name):
            h = nn.BatchNorm(
                use_running_average=not train,
                momentum=cfg.bn_momentum,
                epsilon=cfg.bn_epsilon,
                name=name,
            )(h)
            if name in masks:
                m = jnp.asarray(masks[name], h.dtype)
                h = h * m.reshape((1,) * (h.ndim - 1) + (h.shape[-1],))
            acts[name] = h
            return h

        for i, (f, s) in enumerate(zip(cfg.conv_features, cfg.conv_strides, strict=True)):
            x = nn.Conv(
                f, (3, 3), strides=(s, s), padding="VALID", kernel_init=kinit, name=f"conv{i + 1}"
            )(x)
            x = nn.relu(x)
            acts[f"conv{i + 1}"] = x
            x = bn(x, f"bn{i + 1}")
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(cfg.fc_features, kernel_init=kinit, name="fc1")(x))
        acts["fc1"] = x
        x = bn(x, "bn7")
        logits = nn.Dense(cfg.num_classes, kernel_init=kinit, name="fc2")(x)
        return logits, acts


def init(key: Array, config: CNNConfig = CNNConfig()) -> dict:
    """Fresh variables ``{"params": ..., "batch_stats": ...}`` of one network.

    Args:
        key: PRNG key (Glorot-uniform kernels; biases 0; BN scale 1, offset 0, mean 0, var 1).
        config: network structure.

    Returns:
        The flax variable dict (plain nested dicts of float32 arrays).

    Examples:
        >>> import jax
        >>> v = init(jax.random.key(0))
        >>> num_parameters(v["params"])
        360106
    """
    return _init(key, config)


@functools.partial(jax.jit, static_argnums=1)
def _init(key, config):
    x = jnp.zeros((1, config.image_size, config.image_size, config.channels), jnp.float32)
    return dict(CNN7(config).init(key, x, train=False))


@functools.partial(jax.jit, static_argnames=("config", "train"))
def apply(
    variables: dict,
    images: Float[Array, "N H W C"],
    *,
    config: CNNConfig = CNNConfig(),
    train: bool = False,
    masks: dict[str, Array] | None = None,
):
    """Run the network.

    Args:
        variables: ``{"params", "batch_stats"}`` from `init`.
        images: ``(N, H, W, C)`` preprocessed images.
        config: network structure.
        train: BatchNorm uses batch statistics and the new running averages are returned.
        masks: optional ``{bn_layer: (C,)}`` multipliers of BatchNorm outputs (ablation).

    Returns:
        ``(logits (N, K), activations)`` when ``train`` is False; ``((logits, activations),
        new_batch_stats)`` when True.
    """
    model = CNN7(config)
    if train:
        (logits, acts), updates = model.apply(
            variables, images, train=True, masks=masks, mutable=["batch_stats"]
        )
        return (logits, acts), updates["batch_stats"]
    return model.apply(variables, images, train=False, masks=masks)


def num_parameters(params: dict) -> int:
    """Number of trainable numbers in a params pytree (``variables["params"]``)."""
    return int(sum(np.prod(np.shape(a)) for a in jax.tree.leaves(params)))


class LayerRow(NamedTuple):
    """One row of the layer table: name, kind, output shape (without N), trainable parameters."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int


def layer_table(config: CNNConfig = CNNConfig()) -> tuple[LayerRow, ...]:
    """The layer table of the network (what Keras ``model.summary()`` prints), computed from shapes.

    Returns:
        One `LayerRow` per conv, BatchNorm and dense layer, in order; the parameter column sums to
        `num_parameters` (360,106 for the paper's network).

    Examples:
        >>> rows = layer_table()
        >>> [r.output_shape for r in rows if r.name.startswith("conv")][-1], sum(r.parameters for r in rows)
        ((1, 1, 128), 360106)
    """
    x = jax.ShapeDtypeStruct(
        (1, config.image_size, config.image_size, config.channels), jnp.float32
    )
    variables = jax.eval_shape(
        lambda k, a: CNN7(config).init(k, a, train=False), jax.random.key(0), x
    )
    (logits, acts) = jax.eval_shape(
        lambda v, a: CNN7(config).apply(v, a, train=False), variables, x
    )
    params = variables["params"]
    rows = []
    order = [f"conv{i}" for i in range(1, 7)] + ["fc1"]
    bns = [f"bn{i}" for i in range(1, 8)]
    kinds = {
        f"conv{i + 1}": f"Conv 3x3/{s}, {f}, VALID, ReLU"
        for i, (f, s) in enumerate(zip(config.conv_features, config.conv_strides, strict=True))
    }
    kinds["fc1"] = f"Dense {config.fc_features}, ReLU"
    for name, bn_name in zip(order, bns, strict=True):
        rows.append(
            LayerRow(name, kinds[name], tuple(acts[name].shape[1:]), num_parameters(params[name]))
        )
        rows.append(
            LayerRow(
                bn_name,
                f"BatchNorm (momentum {config.bn_momentum}, eps {config.bn_epsilon})",
                tuple(acts[bn_name].shape[1:]),
                num_parameters(params[bn_name]),
            )
        )
    rows.append(
        LayerRow(
            "fc2",
            f"Dense {config.num_classes} (softmax)",
            tuple(logits.shape[1:]),
            num_parameters(params["fc2"]),
        )
    )
    return tuple(rows)
