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
import functools
import math

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from theory.checks import InputError, InputTypeError

__all__ = [
    "ARCHITECTURES",
    "ArchSpec",
    "CAFFE_ALEXNET",
    "CONV_GRADIENTS",
    "ConvSpec",
    "TORCHVISION_ALEXNET",
    "check_params",
    "conv_layer",
    "features",
    "get_arch",
    "init_params",
    "layer_shapes",
    "lrn",
    "lrn_jvp",
    "max_pool",
    "min_input_size",
    "param_shapes",
]


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
                raise InputError(f"ConvSpec.{field} must be >= 1, got {getattr(self, field)}")
        if self.padding < 0:
            raise InputError(f"ConvSpec.padding must be >= 0, got {self.padding}")
        if self.out_channels % self.groups:
            raise InputError(
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
        conv_gradient: how ``features`` differentiates the convolutions of >= 16 input
            channels, one of ``CONV_GRADIENTS``: ``"xla"`` (default; every mode) or
            ``"forward"`` (reverse mode only; same values). Not a property of the network: a
            computational choice, kept here so that it is static wherever the spec goes.
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
    conv_gradient: str = "xla"

    def __repr__(self) -> str:
        # short, so that signatures with an ArchSpec default stay readable
        return f"ArchSpec({self.name!r}, in_channels={self.in_channels})"

    def __post_init__(self):
        if self.lrn_size < 1 or self.lrn_size % 2 == 0:
            raise InputError(
                f"ArchSpec.lrn_size must be a positive odd integer, got {self.lrn_size}"
            )
        if self.pool_window < 1 or self.pool_stride < 1:
            raise InputError(
                f"ArchSpec.pool_window and pool_stride must be >= 1, got "
                f"{self.pool_window=}, {self.pool_stride=}"
            )
        if self.in_channels < 1:
            raise InputError(f"ArchSpec.in_channels must be >= 1, got {self.in_channels}")
        if self.conv_gradient not in ("xla", "forward"):
            raise InputError(
                f"ArchSpec.conv_gradient must be 'xla' or 'forward', got {self.conv_gradient!r}"
            )
        if not self.convs:
            raise InputError("ArchSpec.convs must hold at least one ConvSpec")
        c_in = self.in_channels
        for conv in self.convs:
            if c_in % conv.groups:
                raise InputError(
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
        raise InputError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}") from None


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


@functools.partial(jax.jit, static_argnames=("arch", "dtype"))
def init_params(key: jax.Array, arch: ArchSpec = CAFFE_ALEXNET, dtype=jnp.float32) -> dict:
    """Random params: He-normal kernels (std sqrt(2 / fan_in)), zero biases.

    All kernels are drawn by one ``jax.random.normal`` call and cut into layers (one random
    kernel compiles in well under a second; one per layer took ~5 s here). Jitted with ``arch``
    and ``dtype`` static.

    Args:
        key: PRNG key.
        arch: architecture spec.
        dtype: floating dtype of the params.

    Returns:
        The params dict with shapes from ``param_shapes(arch)``.
    """
    shapes = param_shapes(arch)
    sizes = [math.prod(shape["w"]) for shape in shapes.values()]
    flat = jax.random.normal(key, (sum(sizes),), dtype)
    params = {}
    start = 0
    for size, (name, shape) in zip(sizes, shapes.items(), strict=True):
        kh, kw, c_in, _ = shape["w"]
        std = math.sqrt(2.0 / (kh * kw * c_in))
        params[name] = {
            "w": std * flat[start : start + size].reshape(shape["w"]),
            "b": jnp.zeros(shape["b"], dtype),
        }
        start += size
    return params


def layer_shapes(
    arch: ArchSpec = CAFFE_ALEXNET, height: int | None = None, width: int | None = None
) -> dict[str, tuple[int, int, int]]:
    """Per-image output shape ``(h, w, c)`` of every key of ``arch.output_keys``.

    Convolutions and pools use floor arithmetic (pools are VALID); see ``features``.

    Args:
        arch: architecture spec.
        height, width: input size in pixels (default ``arch.input_size``; ``width`` defaults to
            ``height``).

    Returns:
        ``{key: (h, w, c)}`` in network order, e.g. ``pool5: (6, 6, 256)`` for the Caffe stack at 227.

    Raises:
        ValueError: if some layer would have an empty output (the input is too small).
    """
    height = arch.input_size if height is None else int(height)
    width = height if width is None else int(width)
    h, w = height, width
    shapes = {}
    for i, conv in enumerate(arch.convs, start=1):
        h = (h + 2 * conv.padding - conv.kernel) // conv.stride + 1
        w = (w + 2 * conv.padding - conv.kernel) // conv.stride + 1
        if h < 1 or w < 1:
            raise InputError(
                f"input of {height}x{width} px is too small for {arch.name}: {conv.name} "
                f"(kernel {conv.kernel}, stride {conv.stride}, padding {conv.padding}) would be empty; "
                f"the smallest input is {min_input_size(arch)}x{min_input_size(arch)} px"
            )
        shapes[conv.name] = (h, w, conv.out_channels)
        if conv.lrn:
            shapes[f"norm{i}"] = (h, w, conv.out_channels)
        if conv.pool:
            if h < arch.pool_window or w < arch.pool_window:
                raise InputError(
                    f"input of {height}x{width} px is too small for {arch.name}: pool{i} needs a "
                    f"{arch.pool_window}x{arch.pool_window} input, {conv.name} gives {h}x{w}; "
                    f"the smallest input is {min_input_size(arch)}x{min_input_size(arch)} px"
                )
            h = (h - arch.pool_window) // arch.pool_stride + 1
            w = (w - arch.pool_window) // arch.pool_stride + 1
            shapes[f"pool{i}"] = (h, w, conv.out_channels)
    return shapes


def min_input_size(arch: ArchSpec = CAFFE_ALEXNET) -> int:
    """Smallest square input side (pixels) for which every layer of ``arch`` is non-empty.

    Examples:
        >>> min_input_size(CAFFE_ALEXNET), min_input_size(TORCHVISION_ALEXNET)
        (67, 63)
    """
    size = 1
    for conv in reversed(arch.convs):
        if conv.pool:
            size = (size - 1) * arch.pool_stride + arch.pool_window
        size = max((size - 1) * conv.stride + conv.kernel - 2 * conv.padding, 1)
    return size


def check_params(params: dict, arch: ArchSpec = CAFFE_ALEXNET) -> None:
    """Raise ``ValueError`` unless ``params`` holds every layer of ``arch`` with the right shapes.

    Keys other than ``arch.layer_names`` (e.g. a readout) are ignored.

    Raises:
        ValueError: naming the layer and the expected versus found shape.
    """
    if not isinstance(params, dict):
        raise InputError(f"params must be a dict of layers, got {type(params).__name__}")
    for name, shapes in param_shapes(arch).items():
        if name not in params:
            raise InputError(
                f"params for {arch.name} are missing layer {name!r}; found layers {sorted(params)}"
            )
        layer = params[name]
        for leaf, expected in shapes.items():
            if not isinstance(layer, dict) or leaf not in layer:
                raise InputError(f"params[{name!r}] must hold {leaf!r} of shape {expected}")
            got = tuple(jnp.shape(layer[leaf]))
            if got != expected:
                raise InputError(
                    f"params[{name!r}][{leaf!r}] has shape {got}, expected {expected} for "
                    f"{arch.name} (kernels are HWIO: (kh, kw, c_in // groups, c_out))"
                )


def _strided_window_slice(x: jax.Array, i: int, j: int, out_h: int, out_w: int, stride: int):
    """``x[:, i + stride * r, j + stride * c, :]`` for ``r < out_h``, ``c < out_w``."""
    n, _, _, c = x.shape
    start = (0, i, j, 0)
    limit = (n, i + stride * (out_h - 1) + 1, j + stride * (out_w - 1) + 1, c)
    return jax.lax.slice(x, start, limit, (1, stride, stride, 1))


_DIMS = ("NHWC", "HWIO", "NHWC")

# Convolutions with fewer input channels than this (conv1: 1 grey channel) get the im2col kernel
# gradient below; wider ones keep XLA's, which measured as fast and compiles faster.
_IM2COL_MAX_CHANNELS = 16


def _pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """``p`` or ``((top, bottom), (left, right))`` as the latter."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    (t, b), (left, r) = padding
    return ((int(t), int(b)), (int(left), int(r)))


def _xla_conv(x: jax.Array, w: jax.Array, stride: int, padding) -> jax.Array:
    """Ungrouped cross-correlation, NHWC x HWIO -> NHWC (XLA's convolution)."""
    pad = _pairs(padding)
    return jax.lax.conv_general_dilated(x, w, (stride, stride), pad, dimension_numbers=_DIMS)


def _conv2d_im2col(x: jax.Array, w: jax.Array, stride: int, padding) -> jax.Array:
    """The same cross-correlation as one matrix product with a patch matrix (im2col).

    Linear in ``w``; the kernel tangent of ``_conv_few_channels``. The patch matrix is laid out
    ``(kh * kw * c_in, n * out_h * out_w)`` so that the transposed product (the kernel gradient)
    contracts the long axis in XLA's canonical dot form; with the other layout XLA transposes
    the incoming gradient and fuses the upstream backward pass into that transpose (measured
    3-4x slower).
    """
    kh, kw, c_in, c_out = w.shape
    n = x.shape[0]
    xp = jnp.pad(x, ((0, 0), *_pairs(padding), (0, 0)))
    out_h = (xp.shape[1] - kh) // stride + 1
    out_w = (xp.shape[2] - kw) // stride + 1
    patches_t = jnp.concatenate(
        [
            _strided_window_slice(xp, i, j, out_h, out_w, stride).reshape(-1, c_in).T
            for i in range(kh)
            for j in range(kw)
        ],
        axis=0,
    )
    y = jnp.einsum("km,ko->mo", patches_t, w.reshape(kh * kw * c_in, c_out))
    return y.reshape(n, out_h, out_w, c_out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _conv_few_channels(x: jax.Array, w: jax.Array, stride: int, padding) -> jax.Array:
    """XLA's convolution with an im2col kernel tangent, for inputs with few channels.

    The primal and the input tangent stay XLA convolutions (fast); the kernel tangent is
    ``_conv2d_im2col``, whose transpose -- the kernel gradient of reverse mode -- ran 2.5x faster
    on CPU than XLA's kernel-gradient convolution for conv1 (1 input channel, 11 x 11, stride 4).
    Forward- and reverse-mode derivatives of any order remain exact.
    """
    return _xla_conv(x, w, stride, padding)


def _conv_few_channels_jvp(stride, padding, primals, tangents):
    x, w = primals
    x_dot, w_dot = tangents
    y = _conv_few_channels(x, w, stride, padding)
    y_dot = None
    if type(x_dot) is not SymbolicZero:
        y_dot = _xla_conv(x_dot, w, stride, padding)
    if type(w_dot) is not SymbolicZero:
        w_term = _conv2d_im2col(x, w_dot, stride, padding)
        y_dot = w_term if y_dot is None else y_dot + w_term
    if y_dot is None:
        y_dot = jnp.zeros_like(y)
    return y, y_dot


_conv_few_channels.defjvp(_conv_few_channels_jvp, symbolic_zeros=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_forward_grads(x: jax.Array, w: jax.Array, stride: int, padding) -> jax.Array:
    """XLA's convolution whose two gradients are written out as forward convolutions.

    * by input (stride 1): the output gradient convolved with the spatially flipped kernel with
      input and output channels swapped, padded by ``k - 1 - p``; for stride > 1, XLA's own;
    * by kernel: the input with batch and channels swapped (``(C, H, W, N)``) convolved with the
      output gradient as a kernel (``(oh, ow, N, O)``, dilated by the stride).

    Reverse mode only (``custom_vjp``: no ``jvp``/``jacfwd``); ``ArchSpec.conv_gradient``
    selects it. Measured against XLA's gradients in ``benchmarks/bench_alexnet.py``.
    """
    return _xla_conv(x, w, stride, padding)


def _conv_forward_grads_fwd(x, w, stride, padding):
    return _xla_conv(x, w, stride, padding), (x, w)


def _conv_forward_grads_bwd(stride, padding, res, dy):
    x, w = res
    (pt, pb), (pl, pr) = _pairs(padding)
    kh, kw = w.shape[:2]
    if stride == 1:
        flipped = jnp.transpose(w[::-1, ::-1], (0, 1, 3, 2))
        pad = ((kh - 1 - pt, kh - 1 - pb), (kw - 1 - pl, kw - 1 - pr))
        dx = jax.lax.conv_general_dilated(dy, flipped, (1, 1), pad, dimension_numbers=_DIMS)
        dx = dx[:, : x.shape[1], : x.shape[2], :]
    else:
        dx = jax.vjp(lambda x: _xla_conv(x, w, stride, padding), x)[1](dy)[0]
    lhs = jnp.transpose(x, (3, 1, 2, 0))  # (C, H, W, N): the batch is the contraction
    rhs = jnp.transpose(dy, (1, 2, 0, 3))  # (oh, ow, N, O)
    dw = jax.lax.conv_general_dilated(
        lhs,
        rhs,
        (1, 1),
        ((pt, pb), (pl, pr)),
        rhs_dilation=(stride, stride),
        dimension_numbers=_DIMS,
    )
    dw = jnp.transpose(dw[:, :kh, :kw, :], (1, 2, 0, 3))
    return dx, dw


_conv_forward_grads.defvjp(_conv_forward_grads_fwd, _conv_forward_grads_bwd)

CONV_GRADIENTS = ("xla", "forward")
"""How ``features`` differentiates its convolutions (``ArchSpec.conv_gradient``): ``"xla"``,
XLA's own gradients (any mode, the default), or ``"forward"``, both gradients written out as
forward convolutions (reverse mode only)."""


def _conv2d(x: jax.Array, w: jax.Array, stride: int, padding, gradient: str = "xla") -> jax.Array:
    """Ungrouped convolution, choosing the fastest differentiable form for the channel count."""
    if x.shape[-1] < _IM2COL_MAX_CHANNELS:
        return _conv_few_channels(x, w, stride, padding)
    if gradient == "forward":
        return _conv_forward_grads(x, w, stride, _pairs(padding))
    return _xla_conv(x, w, stride, padding)


def conv_layer(
    x: jax.Array,
    w: jax.Array,
    b: jax.Array,
    conv: ConvSpec,
    padding: tuple[tuple[int, int], tuple[int, int]] | None = None,
    gradient: str = "xla",
) -> jax.Array:
    """Convolution + bias of one layer; grouped convolutions as per-group convolutions concatenated.

    Args:
        x: ``(N, H, W, C_in)`` input.
        w: ``(kh, kw, C_in / groups, C_out)`` kernel (HWIO).
        b: ``(C_out,)`` bias.
        conv: the layer's `ConvSpec` (stride, padding, groups).
        padding: explicit zero padding ``((top, bottom), (left, right))`` instead of
            ``conv.padding`` on every side (used by ``vpl_jax.receptive_field`` on crops).
        gradient: one of ``CONV_GRADIENTS`` (how the convolution is differentiated; the same
            values either way).

    XLA's CPU backend runs ``feature_group_count`` about 4x slower than this split (see
    ``benchmarks/bench_alexnet.py``).
    """
    pad = conv.padding if padding is None else _pairs(padding)
    if gradient not in CONV_GRADIENTS:
        raise InputError(f"gradient must be one of {CONV_GRADIENTS}, got {gradient=}")
    if conv.groups == 1:
        y = _conv2d(x, w, conv.stride, pad, gradient)
    else:
        c_in = x.shape[-1] // conv.groups
        c_out = conv.out_channels // conv.groups
        y = jnp.concatenate(
            [
                _conv2d(
                    x[..., g * c_in : (g + 1) * c_in],
                    w[..., g * c_out : (g + 1) * c_out],
                    conv.stride,
                    pad,
                    gradient,
                )
                for g in range(conv.groups)
            ],
            axis=-1,
        )
    return y + b.reshape((1,) * (y.ndim - 1) + (-1,))


def lrn(
    a: jax.Array, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> jax.Array:
    r"""Caffe's across-channel local response normalisation on an NHWC array.

    .. math:: b_c = a_c \left(k + \frac{\alpha}{n} \sum_{c' = c - (n-1)/2}^{c + (n-1)/2} a_{c'}^2\right)^{-\beta}

    with ``n = size`` (odd), the window centred on channel ``c`` and zero-padded at the ends
    (equal to ``torch.nn.LocalResponseNorm(size, alpha, beta, k)`` on NCHW).

    Args:
        a: ``(..., C)`` activations (channels last).
        size: window length ``n`` in channels (odd).
        alpha, beta, k: Caffe's ``alpha``, ``beta`` and ``k``.

    Returns:
        ``b`` with the shape of ``a``.

    References:
        Krizhevsky, Sutskever & Hinton (2012), Sec. 3.3; Caffe ``LRNLayer`` (ACROSS_CHANNELS).
    """
    scale = k + (alpha / size) * _channel_window_sum(a * a, size)
    if beta == 0.75:  # s^-3/4 = rsqrt(s) * sqrt(rsqrt(s)): cheaper than pow (exp + log) on CPU
        r = jax.lax.rsqrt(scale)
        return a * (r * jnp.sqrt(r))
    return a * scale ** (-beta)


def _channel_window_sum(x: jax.Array, size: int) -> jax.Array:
    """Sum over the ``size`` channels centred on each channel (zero-padded at the ends)."""
    if size < 1 or size % 2 == 0:
        raise InputError(f"LRN size must be a positive odd integer, got {size=}")
    half = (size - 1) // 2
    window = (1,) * (x.ndim - 1) + (size,)
    padding = ((0, 0),) * (x.ndim - 1) + ((half, half),)
    return jax.lax.reduce_window(x, 0.0, jax.lax.add, window, (1,) * x.ndim, padding)


def lrn_jvp(
    a: jax.Array,
    da: jax.Array,
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    r"""``lrn(a)`` and its forward-mode tangent along ``da``, written out.

    .. math:: db_c = s_c^{-\beta} \Big(da_c - \frac{2 \beta \alpha}{n}\, \frac{a_c}{s_c}
              \sum_{c' \in W(c)} a_{c'}\, da_{c'}\Big), \quad
              s_c = k + \frac{\alpha}{n} \sum_{c' \in W(c)} a_{c'}^2

    The value of ``jax.jvp(lrn, (a,), (da,))`` (to float32 round-off) with one window sum for
    the tangent instead of the differentiated chain; ``vpl_jax.receptive_field`` carries tuning
    tangents with it. ``da`` may have a leading axis of 1 (one tangent for every ``a``).

    Args:
        a: ``(..., C)`` activations; da: the tangent, broadcastable to ``a``.
        size, alpha, beta, k: as ``lrn``.

    Returns:
        ``(b, db)`` with the shape of ``a``.
    """
    scale = k + (alpha / size) * _channel_window_sum(a * a, size)
    if beta == 0.75:
        r = jax.lax.rsqrt(scale)
        power, inverse = r * jnp.sqrt(r), r * r
    else:
        power, inverse = scale ** (-beta), 1.0 / scale
    cross = _channel_window_sum(a * da, size)
    db = power * (da - (2.0 * beta * alpha / size) * a * inverse * cross)
    return a * power, db


def _pool_reduce_window(x: jax.Array, window: int, stride: int) -> jax.Array:
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, stride, stride, 1), "VALID"
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def max_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
    """VALID max-pooling of an NHWC array; the gradient goes to the first maximum, as Caffe.

    The value is ``lax.reduce_window``'s. The tangent is written out: for each of the
    ``window**2`` offsets (row-major, the order of the window), the strided slice of the input
    tangent where that slice holds the window's maximum and no earlier offset did. Its transpose,
    the reverse-mode gradient, is then masked strided pads of the output gradient, which XLA:CPU
    fuses (measured 3.4x faster than ``select_and_scatter``, the transpose of XLA's own rule, for
    pool1 of a 40-image batch at 227 px). Values and derivatives equal ``lax.reduce_window``'s
    exactly (tested, ties included).
    """
    return _pool_reduce_window(x, window, stride)


def _max_pool_jvp(window, stride, primals, tangents):
    (x,), (x_dot,) = primals, tangents
    y = _pool_reduce_window(x, window, stride)
    out_h, out_w = y.shape[1], y.shape[2]
    taken = jnp.zeros(y.shape, bool)
    y_dot = jnp.zeros(y.shape, x_dot.dtype)
    for i in range(window):
        for j in range(window):
            hit = (_strided_window_slice(x, i, j, out_h, out_w, stride) == y) & ~taken
            taken = taken | hit
            t = _strided_window_slice(x_dot, i, j, out_h, out_w, stride)
            y_dot = y_dot + jnp.where(hit, t, jnp.zeros((), t.dtype))
    return y, y_dot


max_pool.defjvp(_max_pool_jvp)


def features(params: dict, images: jax.Array, arch: ArchSpec = CAFFE_ALEXNET) -> dict:
    """Every layer of the conv1-5 stack for a batch of images.

    Per layer ``i``: ``conv<i>`` = ReLU(conv + bias); if the layer has LRN, ``norm<i>`` = Caffe
    LRN of that; if it pools, ``pool<i>`` = max-pool (window ``arch.pool_window``, stride
    ``arch.pool_stride``, VALID, i.e. floor arithmetic; at the canonical sizes this equals
    Caffe's ceil mode because every pool fits exactly). The stack runs as one program jitted
    with ``arch`` static; the dict comes back in network order.

    Args:
        params: ``{"conv1": {"w": (kh, kw, c_in // groups, c_out), "b": (c_out,)}, ...}`` as
            given by ``param_shapes(arch)``; extra top-level keys are ignored.
        images: ``(N, H, W, arch.in_channels)`` floats in network units (for the paper,
            ``contrast * (I - 125) + noise`` on the 0-255 scale); any ``N >= 1`` and any
            ``H, W >= min_input_size(arch)`` (67 px for the Caffe stack).
        arch: architecture spec (static).

    Returns:
        ``{key: (N, h, w, c)}`` for every key of ``arch.output_keys`` (``conv1, norm1, pool1,
        conv2, norm2, pool2, conv3, conv4, conv5, pool5`` for ``CAFFE_ALEXNET``), shapes as in
        ``layer_shapes(arch, H, W)``.

    Raises:
        ValueError: wrong rank, channel count or too small an input (expected vs got), or
            params missing a layer or with a wrong shape.
        TypeError: non-floating images.

    Examples:
        >>> import jax
        >>> params = init_params(jax.random.key(0))
        >>> out = features(params, jax.numpy.zeros((2, 67, 67, 1)))
        >>> out["pool5"].shape
        (2, 1, 1, 256)
        >>> list(out)[:4]
        ['conv1', 'norm1', 'pool1', 'conv2']
    """
    if images.ndim != 4:
        raise InputError(
            f"expected images of rank 4 (N, H, W, C={arch.in_channels}), got {images.shape=}"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise InputTypeError(f"expected floating images in network units, got {images.dtype=}")
    n, h, w, c = images.shape
    if c != arch.in_channels:
        raise InputError(
            f"{arch.name} takes {arch.in_channels} input channel(s) (NHWC), got {c} "
            f"({images.shape=})"
        )
    if n < 1:
        raise InputError(f"expected at least one image, got {images.shape=}")
    layer_shapes(arch, h, w)  # raises for an input the stack cannot take
    check_params(params, arch)
    out = _features(params, images, arch)
    return {key: out[key] for key in arch.output_keys}  # jit returns dicts sorted by key


@functools.partial(jax.jit, static_argnames=("arch",))
def _features(params: dict, images: jax.Array, arch: ArchSpec) -> dict:
    out = {}
    x = images
    for i, conv in enumerate(arch.convs, start=1):
        p = params[conv.name]
        x = jax.nn.relu(conv_layer(x, p["w"], p["b"], conv, gradient=arch.conv_gradient))
        out[conv.name] = x
        if conv.lrn:
            x = lrn(x, arch.lrn_size, arch.lrn_alpha, arch.lrn_beta, arch.lrn_k)
            out[f"norm{i}"] = x
        if conv.pool:
            x = max_pool(x, arch.pool_window, arch.pool_stride)
            out[f"pool{i}"] = x
    return out
