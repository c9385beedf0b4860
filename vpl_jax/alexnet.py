"""The AlexNet conv1-5 feature stack as pure functions.

Layout: images are NHWC floats in network units (for the paper, ``contrast * (I - 125) + noise``
on the 0-255 scale); kernels are HWIO, i.e. ``w`` has shape ``(kh, kw, c_in // groups, c_out)``
and ``b`` has shape ``(c_out,)``. For a grouped convolution the output channels are split into
``groups`` contiguous blocks, block ``g`` seeing input channels ``g*c_in/groups:(g+1)*c_in/groups``
(Caffe's and PyTorch's convention).

Params are a plain dict pytree ``{"conv1": {"w": ..., "b": ...}, ..., "conv5": {...}}``.

Two architectures:

* ``CAFFE_ALEXNET`` — Caffe ``bvlc_alexnet`` as used by Wenliang & Seitz (2018): 96/256(2 groups)/
  384/384(2)/256(2) channels, LRN (size 5, alpha 1e-4, beta 0.75, k 1, Caffe's formula) after relu1
  and relu2, max-pool 3/2 after norm1, norm2 and relu5, one input channel, 227 x 227 input.
* ``TORCHVISION_ALEXNET`` — torchvision's ``alexnet``: 64/192/384/256/256 channels, no LRN, no
  groups, conv1 padding 2, three input channels, 224 x 224 input.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """One convolutional layer followed by ReLU and, optionally, LRN and max-pooling.

    Attributes:
        name: layer name (``conv1`` .. ``conv5``).
        out_channels: number of output channels.
        kernel: square kernel side in pixels.
        stride: stride in pixels.
        padding: zero padding on each side, in pixels.
        groups: number of channel groups (Caffe ``group``).
        lrn: apply local response normalisation after the ReLU (output key ``norm<i>``).
        pool: apply max-pooling after ReLU/LRN (output key ``pool<i>``).
    """

    name: str
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    lrn: bool = False
    pool: bool = False

    def __post_init__(self):
        for field in ("out_channels", "kernel", "stride", "groups"):
            if getattr(self, field) < 1:
                raise ValueError(f"ConvSpec.{field} must be >= 1, got {getattr(self, field)}")
        if self.padding < 0:
            raise ValueError(f"ConvSpec.padding must be >= 0, got {self.padding}")
        if self.out_channels % self.groups:
            raise ValueError(
                f"ConvSpec.out_channels ({self.out_channels}) must be divisible by groups ({self.groups})"
            )


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """A conv1-5 AlexNet-style stack (static structure only; hashable, usable as a jit static arg).

    Attributes:
        name: short identifier stored in weight files (``caffe_alexnet`` / ``torchvision_alexnet``).
        in_channels: image channels (1 for the paper's grey network, 3 for RGB).
        convs: the five layers in order.
        input_size: the canonical input side in pixels (other sizes are allowed if the stack fits).
        lrn_size, lrn_alpha, lrn_beta, lrn_k: Caffe LRN ``b = a / (k + alpha/n * sum a^2)^beta``.
        pool_window, pool_stride: max-pooling window and stride in pixels.
    """

    name: str
    in_channels: int
    convs: tuple[ConvSpec, ...]
    input_size: int
    lrn_size: int = 5
    lrn_alpha: float = 1e-4
    lrn_beta: float = 0.75
    lrn_k: float = 1.0
    pool_window: int = 3
    pool_stride: int = 2

    def __post_init__(self):
        if self.in_channels < 1:
            raise ValueError(f"ArchSpec.in_channels must be >= 1, got {self.in_channels}")
        if not self.convs:
            raise ValueError("ArchSpec.convs must hold at least one ConvSpec")
        c_in = self.in_channels
        for conv in self.convs:
            if c_in % conv.groups:
                raise ValueError(
                    f"{conv.name}: input channels ({c_in}) must be divisible by groups ({conv.groups})"
                )
            c_in = conv.out_channels

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the parameterised layers, e.g. ``("conv1", ..., "conv5")``."""
        return tuple(conv.name for conv in self.convs)

    @property
    def output_keys(self) -> tuple[str, ...]:
        """Keys of the dict returned by ``features`` in network order."""
        keys = []
        for i, conv in enumerate(self.convs, start=1):
            keys.append(conv.name)
            if conv.lrn:
                keys.append(f"norm{i}")
            if conv.pool:
                keys.append(f"pool{i}")
        return tuple(keys)


CAFFE_ALEXNET = ArchSpec(
    name="caffe_alexnet",
    in_channels=1,
    input_size=227,
    convs=(
        ConvSpec("conv1", 96, kernel=11, stride=4, padding=0, lrn=True, pool=True),
        ConvSpec("conv2", 256, kernel=5, padding=2, groups=2, lrn=True, pool=True),
        ConvSpec("conv3", 384, kernel=3, padding=1),
        ConvSpec("conv4", 384, kernel=3, padding=1, groups=2),
        ConvSpec("conv5", 256, kernel=3, padding=1, groups=2, pool=True),
    ),
)

TORCHVISION_ALEXNET = ArchSpec(
    name="torchvision_alexnet",
    in_channels=3,
    input_size=224,
    convs=(
        ConvSpec("conv1", 64, kernel=11, stride=4, padding=2, pool=True),
        ConvSpec("conv2", 192, kernel=5, padding=2, pool=True),
        ConvSpec("conv3", 384, kernel=3, padding=1),
        ConvSpec("conv4", 256, kernel=3, padding=1),
        ConvSpec("conv5", 256, kernel=3, padding=1, pool=True),
    ),
)

ARCHITECTURES = {arch.name: arch for arch in (CAFFE_ALEXNET, TORCHVISION_ALEXNET)}


def get_arch(name: str) -> ArchSpec:
    """Look up an architecture by its ``name`` (``caffe_alexnet`` or ``torchvision_alexnet``)."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}") from None


def param_shapes(arch: ArchSpec = CAFFE_ALEXNET) -> dict[str, dict[str, tuple[int, ...]]]:
    """Expected parameter shapes: ``{layer: {"w": (kh, kw, c_in // groups, c_out), "b": (c_out,)}}``."""
    shapes = {}
    c_in = arch.in_channels
    for conv in arch.convs:
        shapes[conv.name] = {
            "w": (conv.kernel, conv.kernel, c_in // conv.groups, conv.out_channels),
            "b": (conv.out_channels,),
        }
        c_in = conv.out_channels
    return shapes


def init_params(key: jax.Array, arch: ArchSpec = CAFFE_ALEXNET, dtype=jnp.float32) -> dict:
    """Random params: He-normal kernels (std sqrt(2 / fan_in)), zero biases.

    Args:
        key: PRNG key.
        arch: architecture spec.
        dtype: floating dtype of the params.

    Returns:
        The params dict with shapes from ``param_shapes(arch)``.
    """
    shapes = param_shapes(arch)
    keys = jax.random.split(key, len(shapes))
    params = {}
    for layer_key, (name, shape) in zip(keys, shapes.items(), strict=True):
        kh, kw, c_in, _ = shape["w"]
        std = math.sqrt(2.0 / (kh * kw * c_in))
        params[name] = {
            "w": std * jax.random.normal(layer_key, shape["w"], dtype),
            "b": jnp.zeros(shape["b"], dtype),
        }
    return params
