r"""Stimuli of Benjamin et al. (2022), differentiable in the varied parameter.

Benjamin, Zhang, Qiu, Stocker & Kording (2022), "Efficient neural codes naturally emerge through
gradient descent learning", Nat. Commun. 13:7972 (Methods: "Stimuli and calculation of network
sensitivity", "Supervised label noise experiment").

* :func:`gabor` -- the paper's Gabor: 224 px, spatial frequency 0.02 cycles/px (2 cycles per
  100 px), Gaussian envelope sigma = 50 px, pixel values in ``[-1, 1]`` fed **directly as the
  z-scored (ImageNet-normalised) image**, identical in every channel. The contrast is fixed (the
  envelope times a cosine), never rescaled per image: :func:`vpl_jax.stimuli.gabor` min-max
  rescales each image, which makes the pixel values depend on orientation and phase, so it is not
  this stimulus. :func:`paper_phases` gives the paper's 10 phases ``linspace(-pi, pi, 10)``,
  whose first and last phase are the same stimulus (the paper's duplicated endpoint: phase
  ``-pi`` counts twice in every average, the other 8 phases once).
* :func:`hsv_to_rgb` -- HSV to RGB in ``jnp``, piecewise linear in hue (differentiable almost
  everywhere; the kinks are at multiples of 60 deg), equal to ``skimage.color.hsv2rgb``;
  :func:`rgb_to_hsv` its inverse (not differentiated); :func:`imagenet_normalise` the torchvision
  normalisation; :func:`hue_image` a uniform HSV image; :func:`sv_grid` the 6 x 6 grid of
  saturation and value on ``[0.5, 1]`` over which hue sensitivity is averaged.
* :func:`rgb_to_lab` -- sRGB to CIELAB (D65, 2 deg observer), equal to ``skimage.color.rgb2lab``.
* :func:`grating` -- the label-noise experiment's 64 x 64 grating, period 12.8 px (5 cycles per
  image), ``sin(2 pi <p, n(theta)> / 12.8 + phase)``.

Conventions: pixel coordinates and rotations are those of :mod:`theory.stimuli` (centre
``(size - 1) / 2``, x right, y up; an orientation of 0 deg has vertical stripes and the stripes
turn clockwise on screen as the angle grows). Orientations and hues are in **degrees** (so a
sensitivity ``D = |dy/d theta|^2`` is per deg^2), phases in radians. Images are ``(H, W, C)``
(channels last; batch with ``jax.vmap``). Nothing here is random.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from theory.checks import InputError
from theory.stimuli import pixel_grid, rotate

__all__ = [
    "GABOR_FREQUENCY",
    "GABOR_SIGMA",
    "GABOR_SIZE",
    "GRATING_PERIOD",
    "GRATING_SIZE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "gabor",
    "grating",
    "hsv_to_rgb",
    "hue_image",
    "imagenet_normalise",
    "paper_phases",
    "rgb_to_hsv",
    "rgb_to_lab",
    "scaled_gabor_parameters",
    "sv_grid",
]

GABOR_SIZE = 224
"""Image side of the paper's Gabor (the torchvision networks' input), pixels."""
GABOR_FREQUENCY = 0.02
"""Spatial frequency of the paper's Gabor, cycles per pixel (2 cycles per 100 px)."""
GABOR_SIGMA = 50.0
"""Gaussian envelope standard deviation of the paper's Gabor, pixels."""
GRATING_SIZE = 64
"""Image side of the label-noise gratings, pixels."""
GRATING_PERIOD = 12.8
"""Period of the label-noise gratings, pixels (5 cycles per 64 px)."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""torchvision's ImageNet channel means (R, G, B), for pixels in ``[0, 1]``."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""torchvision's ImageNet channel standard deviations (R, G, B)."""

# skimage.color: sRGB (D65) to XYZ, and the D65 2-degree white point.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _check_positive(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number > 0, got {value!r}") from None
    if not value > 0:
        raise InputError(f"{name} must be > 0, got {value}")
    return value


def paper_phases(num: int = 10, dtype=None) -> Float[Array, " P"]:
    """The paper's Gabor phases ``linspace(-pi, pi, num)`` in radians (endpoints included).

    ``-pi`` and ``pi`` give the same image, so a phase average over these weighs that phase
    twice; this keeps the paper's choice (Methods: "10 linearly spaced spatial phases tiling the
    interval [-pi, pi]").

    Args:
        num: number of phases, integer >= 2 (10 in the paper).
        dtype: float dtype (default: JAX's default float).

    Returns:
        Phases, shape ``(num,)``.

    Raises:
        InputError: for ``num < 2``.

    Examples:
        >>> p = paper_phases()
        >>> p.shape, bool(abs(float(p[0]) + 3.14159265) < 1e-6), bool(abs(float(p[-1]) - 3.14159265) < 1e-6)
        ((10,), True, True)
    """
    _check_int("num", num, 2)
    dtype = jnp.result_type(float) if dtype is None else dtype
    return jnp.linspace(-jnp.pi, jnp.pi, num, dtype=dtype)


def scaled_gabor_parameters(size: int) -> tuple[float, float]:
    """The paper's Gabor scaled to another image side: ``(frequency, sigma)``.

    Keeps the number of cycles per image (4.48) and the envelope relative to the image
    (sigma = 50/224 of the side): ``frequency = 0.02 * 224 / size`` cycles/px and
    ``sigma = 50 * size / 224`` px. At 224 px this is the paper's Gabor.

    Args:
        size: image side in pixels, integer >= 8.

    Returns:
        ``(frequency in cycles/px, sigma in px)``.

    Raises:
        InputError: for ``size < 8``.

    Examples:
        >>> scaled_gabor_parameters(224)
        (0.02, 50.0)
    """
    _check_int("size", size, 8)
    return GABOR_FREQUENCY * GABOR_SIZE / size, GABOR_SIGMA * size / GABOR_SIZE


@functools.partial(jax.jit, static_argnames=("size", "channels"))
def _gabor(theta_deg, phase_rad, frequency, sigma, *, size, channels):
    dtype = jnp.result_type(theta_deg, phase_rad, float)
    x, y = pixel_grid(size, dtype)
    xr, _ = rotate(x, y, theta_deg)
    envelope = jnp.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    img = envelope * jnp.cos(2.0 * jnp.pi * frequency * xr + phase_rad)
    return jnp.broadcast_to(img[:, :, None], (size, size, channels)).astype(dtype)


def gabor(
    theta_deg: Float[ArrayLike, ""],
    phase_rad: Float[ArrayLike, ""] = 0.0,
    *,
    size: int = GABOR_SIZE,
    frequency: float = GABOR_FREQUENCY,
    sigma: float = GABOR_SIGMA,
    channels: int = 3,
) -> Float[Array, "size size channels"]:
    r"""The paper's Gabor ``exp(-|p|^2 / 2 sigma^2) cos(2 pi f x'(theta) + phase)``, in ``[-1, 1]``.

    .. math:: G(p; \theta, \phi) = e^{-\|p\|^2 / 2\sigma^2} \cos(2\pi f \langle p, n(\theta)
        \rangle + \phi)

    The values are the network input itself (z-scored units: 0 is the ImageNet mean), the same in
    every channel. Differentiable in ``theta_deg``, ``phase_rad``, ``frequency`` and ``sigma``.

    Args:
        theta_deg: orientation in degrees (period 180; 0 = vertical stripes, clockwise).
        phase_rad: carrier phase at the image centre, radians.
        size: image side in pixels (static; 224 in the paper).
        frequency: carrier frequency, cycles per pixel (0.02 in the paper).
        sigma: envelope standard deviation, pixels (50 in the paper).
        channels: number of identical channels (static; 3 for RGB networks, 1 for grey ones).

    Returns:
        Image of shape ``(size, size, channels)``.

    Raises:
        InputError: for a non-positive ``size``, ``channels``, ``frequency`` or ``sigma``.

    Examples:
        >>> img = gabor(0.0, 0.0, size=32, frequency=0.1, sigma=8.0, channels=1)
        >>> img.shape, bool(img.max() <= 1.0 and img.min() >= -1.0)
        ((32, 32, 1), True)
    """
    _check_int("size", size, 1)
    _check_int("channels", channels, 1)
    if isinstance(frequency, int | float):
        _check_positive("frequency", frequency)
    if isinstance(sigma, int | float):
        _check_positive("sigma", sigma)
    return _gabor(theta_deg, phase_rad, frequency, sigma, size=size, channels=channels)


@functools.partial(jax.jit, static_argnames=("size",))
def _grating(theta_deg, phase_rad, period, *, size):
    dtype = jnp.result_type(theta_deg, phase_rad, float)
    x, y = pixel_grid(size, dtype)
    xr, _ = rotate(x, y, theta_deg)
    return jnp.sin(2.0 * jnp.pi * xr / period + phase_rad).astype(dtype)


def grating(
    theta_deg: Float[ArrayLike, ""],
    phase_rad: Float[ArrayLike, ""] = 0.0,
    *,
    size: int = GRATING_SIZE,
    period: float = GRATING_PERIOD,
) -> Float[Array, "size size"]:
    """The label-noise grating ``sin(2 pi x'(theta) / period + phase)`` (paper's Fig. 6).

    Args:
        theta_deg: orientation in degrees (0 = vertical stripes, clockwise).
        phase_rad: phase at the image centre, radians (random per image in the paper).
        size: image side in pixels (static; 64 in the paper).
        period: carrier period in pixels (12.8 in the paper).

    Returns:
        Image of shape ``(size, size)`` with values in ``[-1, 1]``.

    Raises:
        InputError: for a non-positive ``size`` or ``period``.

    Examples:
        >>> grating(90.0, 0.0).shape
        (64, 64)
    """
    _check_int("size", size, 1)
    if isinstance(period, int | float):
        _check_positive("period", period)
    return _grating(theta_deg, phase_rad, period, size=size)


@jax.jit
def hsv_to_rgb(
    h_deg: Float[ArrayLike, "..."], s: Float[ArrayLike, "..."], v: Float[ArrayLike, "..."]
) -> Float[Array, "... 3"]:
    r"""HSV to RGB, piecewise linear in hue: ``c_n = v - v s clip(min(k_n, 4 - k_n), 0, 1)``.

    With ``k_n = (n + h / 60) mod 6`` and ``n = 5, 3, 1`` for R, G, B. Equal to
    ``skimage.color.hsv2rgb`` with hue ``h / 360``; differentiable in ``h`` except at multiples
    of 60 deg (the kinks), and in ``s`` and ``v`` everywhere.

    Args:
        h_deg: hue in degrees (any real; period 360).
        s: saturation in ``[0, 1]``.
        v: value in ``[0, 1]``.

    Returns:
        RGB in ``[0, 1]``, shape ``broadcast(h, s, v) + (3,)``.

    Examples:
        >>> [round(float(c), 6) for c in hsv_to_rgb(120.0, 1.0, 1.0)]
        [0.0, 1.0, 0.0]
    """
    h, s, v = jnp.broadcast_arrays(
        *(jnp.asarray(a, jnp.result_type(a, float)) for a in (h_deg, s, v))
    )
    dtype = jnp.result_type(h, s, v)
    n = jnp.asarray([5.0, 3.0, 1.0], dtype).reshape((1,) * h.ndim + (3,))
    k = jnp.mod(n + (h / 60.0)[..., None], 6.0)
    ramp = jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)
    return v[..., None] - (v * s)[..., None] * ramp


@jax.jit
def rgb_to_hsv(rgb: Float[ArrayLike, "... 3"]) -> Float[Array, "... 3"]:
    """RGB in ``[0, 1]`` to HSV with hue in degrees ``[0, 360)`` (``skimage.color.rgb2hsv``).

    Used for hue histograms and hue rotation of photos; grey pixels get hue 0 and saturation 0.
    Not meant to be differentiated (argmax branches).

    Args:
        rgb: colours, shape ``(..., 3)``.

    Returns:
        ``(h_deg, s, v)`` stacked on the last axis.
    """
    rgb = jnp.asarray(rgb, jnp.result_type(rgb, float))
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = jnp.max(rgb, axis=-1)
    delta = v - jnp.min(rgb, axis=-1)
    safe = jnp.where(delta > 0, delta, 1.0)
    s = jnp.where(v > 0, delta / jnp.where(v > 0, v, 1.0), 0.0)
    h = jnp.where(
        v == r, (g - b) / safe, jnp.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe)
    )
    h = jnp.where(delta > 0, jnp.mod(h * 60.0, 360.0), 0.0)
    return jnp.stack([h, s, v], axis=-1)


@jax.jit
def imagenet_normalise(rgb: Float[ArrayLike, "... 3"]) -> Float[Array, "... 3"]:
    """``(rgb - mean) / std`` with torchvision's ImageNet statistics (RGB in ``[0, 1]``).

    Examples:
        >>> [round(float(c), 6) for c in imagenet_normalise(jnp.array([0.485, 0.456, 0.406]))]
        [0.0, 0.0, 0.0]
    """
    rgb = jnp.asarray(rgb, jnp.result_type(rgb, float))
    shape = (1,) * (rgb.ndim - 1) + (3,)
    mean = jnp.asarray(IMAGENET_MEAN, rgb.dtype).reshape(shape)
    std = jnp.asarray(IMAGENET_STD, rgb.dtype).reshape(shape)
    return (rgb - mean) / std


def hue_image(
    h_deg: Float[ArrayLike, ""],
    s: Float[ArrayLike, ""] = 1.0,
    v: Float[ArrayLike, ""] = 1.0,
    *,
    size: int = GABOR_SIZE,
    normalise: bool = True,
) -> Float[Array, "size size 3"]:
    """A uniform image of one HSV colour, ImageNet-normalised (paper's Fig. 3a).

    Args:
        h_deg: hue in degrees.
        s: saturation in ``[0, 1]``.
        v: value in ``[0, 1]``.
        size: image side in pixels.
        normalise: apply :func:`imagenet_normalise` (the networks' input units).

    Returns:
        Image of shape ``(size, size, 3)``.

    Raises:
        InputError: for ``size < 1``.
    """
    _check_int("size", size, 1)
    return _hue_image(h_deg, s, v, size=size, normalise=normalise)


@functools.partial(jax.jit, static_argnames=("size", "normalise"))
def _hue_image(h_deg, s, v, *, size, normalise):
    rgb = hsv_to_rgb(h_deg, s, v)
    if normalise:
        rgb = imagenet_normalise(rgb)
    return jnp.broadcast_to(rgb[None, None, :], (size, size, 3))


def sv_grid(num: int = 6, low: float = 0.5, high: float = 1.0, dtype=None) -> Float[Array, "K 2"]:
    """The grid of (saturation, value) pairs over which hue sensitivity is averaged.

    ``num`` values ``linspace(low, high, num)`` for each of S and V, all ``num**2`` pairs (the
    paper marginalises over S, V in [0.5, 1], the range of its hue histogram).

    Args:
        num: values per axis, integer >= 1 (6 by default).
        low, high: range, ``0 <= low <= high <= 1``.
        dtype: float dtype (default: JAX's default float).

    Returns:
        Array ``(num**2, 2)`` of ``(s, v)`` pairs.

    Raises:
        InputError: for a bad ``num`` or range.

    Examples:
        >>> sv_grid().shape
        (36, 2)
    """
    _check_int("num", num, 1)
    if not 0.0 <= low <= high <= 1.0:
        raise InputError(f"low and high must satisfy 0 <= low <= high <= 1, got {low=}, {high=}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    axis = jnp.linspace(low, high, num, dtype=dtype)
    s, v = jnp.meshgrid(axis, axis, indexing="ij")
    return jnp.stack([s.ravel(), v.ravel()], axis=-1)


@jax.jit
def rgb_to_lab(rgb: Float[ArrayLike, "... 3"]) -> Float[Array, "... 3"]:
    r"""sRGB in ``[0, 1]`` to CIELAB ``(L*, a*, b*)``, D65 white, 2-degree observer.

    The formulas of ``skimage.color.rgb2lab``: sRGB linearisation (``((c + 0.055) / 1.055)^2.4``
    above 0.04045, ``c / 12.92`` below), the sRGB-to-XYZ matrix, division by the white point
    ``(0.95047, 1, 1.08883)``, ``f(t) = t^(1/3)`` above 0.008856 else ``7.787 t + 16/116``,
    ``L = 116 f(Y) - 16``, ``a = 500 (f(X) - f(Y))``, ``b = 200 (f(Y) - f(Z))``. Differentiable
    (double ``where`` around the powers).

    Args:
        rgb: colours, shape ``(..., 3)``.

    Returns:
        Lab colours, shape ``(..., 3)``.
    """
    rgb = jnp.asarray(rgb, jnp.result_type(rgb, float))
    high = rgb > 0.04045
    safe = jnp.where(high, rgb, 1.0)
    linear = jnp.where(high, ((safe + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ jnp.asarray(_XYZ_FROM_RGB, rgb.dtype).T
    t = xyz / jnp.asarray(_D65_WHITE, rgb.dtype).reshape((1,) * (rgb.ndim - 1) + (3,))
    big = t > 0.008856
    f = jnp.where(big, jnp.cbrt(jnp.where(big, t, 1.0)), 7.787 * t + 16.0 / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return jnp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)
