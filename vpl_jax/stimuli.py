"""Stimuli of the VPL experiments: Gabor patches, trial templates, transfer conditions, gratings.

Conventions (shared with :mod:`theory.stimuli`, whose ``pixel_grid``/``rotate`` are used here):

* images are indexed ``[row, col]``; the centre is ``c = (size - 1) / 2`` (113 for 227 px),
  ``x = col - c`` points right and ``y = c - row`` points up;
* rotation by ``angle_deg`` gives ``x' = cos(a) x - sin(a) y``, ``y' = sin(a) x + cos(a) y``; a
  carrier varying along ``x'`` has **vertical stripes at 0 deg** and turns **clockwise** on screen
  as the angle grows (the original code's ``Screen.Gabor``);
* angles are in degrees, phases in degrees, and wavelengths and sigmas in **pixels of the image
  the function draws** (the one unit convention of the package's image-making functions; the
  paper states its sizes for a 227-px frame, and :func:`paper_px` converts them to any image
  size);
* every generator takes scalars and returns one ``(size, size)`` image: ``jax.vmap`` for
  batches. They are pure and jitted (``size``, ``quantize``, ``pi`` and ``centre`` are static,
  so a new angle or wavelength never recompiles) and, unless quantized, differentiable in every
  float argument (``jax.jacfwd`` over the angle is the intended use).

Deterministic generators take no PRNG key; the only stochastic function, :func:`network_input`,
takes its ``key`` first.

**Network inputs of generated stimuli** (used by ``vpl_jax.analysis.recording`` and
``vpl_jax.analysis.tuning``): an *input maker* (:class:`NoisyGaborInput`, :class:`GratingInput`)
holds the static structure (image side, input channels; hashable, a ``jax.jit`` static argument)
and maps one stimulus record (:class:`NoisyGaborStimulus`, :class:`GratingStimulus`: the
per-image values) and one parameter record (:class:`NoisyGaborParams`, :class:`GratingParams`:
the values shared by a whole stimulus set, traced so that a new contrast or noise level never
recompiles) to one ``(size, size, channels)`` network input, the grey image copied to every
channel. ``jax.vmap(maker, in_axes=(0, None))`` makes a batch.

References:
    Wenliang & Seitz (2018), Deep neural networks for modeling visual perceptual learning,
    J. Neurosci. 38(27):6028-6044; the authors' ``Screen.py`` and ``generate_pair_angle.py``.
    Gratings: Ukita (2019), Causal importance of orientation selectivity for generalization in
    image recognition (ICLR 2019 submission), section 2.2.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from theory.checks import InputError, require
from theory.stimuli import pixel_grid, rotate
from theory.stimuli import sinusoid as sinusoid

__all__ = [
    "BACKGROUND_OFFSET",
    "ORIGINAL_PI",
    "PAPER_IMAGE_SIZE",
    "TRANSFER_CONDITIONS",
    "GratingInput",
    "GratingParams",
    "GratingStimulus",
    "NoisyGaborInput",
    "NoisyGaborParams",
    "NoisyGaborStimulus",
    "PairTemplates",
    "gabor",
    "gabor_background",
    "grating",
    "grating_frequencies",
    "network_input",
    "pair_templates",
    "paper_px",
    "sinusoid",
    "to_channels",
    "transfer_parameters",
    "transfer_templates",
    "trial_pairs",
]

ORIGINAL_PI = 3.1416
"""The value of pi inside the original code's carrier frequency ``2 * 3.1416 / wavelength``."""

BACKGROUND_OFFSET = 125.0
"""Caffe ``mean_value`` subtracted in training: ``x = contrast * (I - 125) + noise``."""

TRANSFER_CONDITIONS = ("trained", "ori+45", "ori+90", "sf*0.5", "sf*2")
"""Order of the leading axis of :func:`transfer_parameters` / :func:`transfer_templates`:
the trained condition, the reference rotated clockwise by 45 and 90 deg (mod 180), spatial
frequency halved (wavelength x 2) and doubled (wavelength x 0.5)."""


PAPER_IMAGE_SIZE = 227
"""Side of the images for which Wenliang & Seitz (2018) state their stimulus sizes (a Gabor of
wavelength 10-40 px and Gaussian SD 50 px on a 227 x 227 image)."""


def paper_px(value, image_size: int):
    """Pixels of an ``image_size``-px image that correspond to ``value`` px of the paper's frame.

    The paper's stimuli are 227 x 227 px; a smaller image keeps the same picture (the same number
    of stripes and the same window relative to the image) when every size is scaled by
    ``image_size / 227``. This is the one conversion the package uses (training at a reduced
    image size draws its Gabors at these sizes); pass its result to any function that draws an
    image (`gabor`, `NoisyGaborParams`, ``vpl_jax.analysis.tuning.record_tuning``, ...).

    Args:
        value: a size in pixels of the 227-px frame (a number or an array; an array keeps its
            dtype, so a float32 value is converted in float32 exactly as the training programs
            do).
        image_size: side of the image to draw, an int >= 1.

    Returns:
        ``value * (image_size / 227)``.

    Raises:
        InputError: ``image_size`` is not a positive int.

    Examples:
        >>> paper_px(50.0, 227)
        50.0
        >>> round(paper_px(20.0, 67), 4)  # the demo's wavelength at 67 px
        5.9031
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise InputError(f"image_size must be an int >= 1 (pixels), got {image_size!r}")
    if image_size < 1:
        raise InputError(f"image_size must be an int >= 1 (pixels), got {image_size!r}")
    return value * (int(image_size) / PAPER_IMAGE_SIZE)


def _check_scalars(**values) -> None:
    for name, value in values.items():
        if jnp.ndim(value) != 0:
            raise InputError(
                f"{name} must be a scalar (use jax.vmap for batches), got shape {jnp.shape(value)}"
            )


def _float_dtype(*values):
    return jnp.result_type(*values, float)


def _raw_gabor(angle_deg, wavelength_px, sigma_px, size, phase_deg, pi, dtype):
    """``exp(-(x^2 + y^2) / (2 sigma^2)) * cos(2 pi x' / wavelength + phase)``, unscaled."""
    x, y = pixel_grid(size, dtype)
    xr, _ = rotate(x, y, jnp.asarray(angle_deg, dtype))
    sigma = jnp.asarray(sigma_px, dtype)
    envelope = jnp.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    freq = 2.0 * jnp.asarray(pi, dtype) / jnp.asarray(wavelength_px, dtype)
    return envelope * jnp.cos(freq * xr + jnp.deg2rad(jnp.asarray(phase_deg, dtype)))


@functools.partial(jax.jit, static_argnames=("size", "quantize", "pi"))
def gabor(
    angle_deg: Float[ArrayLike, ""],
    wavelength_px: Float[ArrayLike, ""],
    sigma_px: Float[ArrayLike, ""] = 50.0,
    size: int = 227,
    phase_deg: Float[ArrayLike, ""] = 0.0,
    *,
    quantize: bool = False,
    pi: float = ORIGINAL_PI,
) -> Float[Array, "size size"]:
    r"""The paper's Gabor patch, min-max rescaled to 0..255 (the original ``Screen.Gabor``).

    .. math::
        G = \exp\!\left(-\frac{x^2 + y^2}{2\sigma^2}\right)
            \cos\!\left(\frac{2\pi}{\lambda} x' + \phi\right), \qquad
        I = 255\,\frac{G - \min G}{\max G - \min G}

    so the zero of ``G`` (the grey background far from the centre) maps to
    :func:`gabor_background` (127.18 for wavelength 10 px, sigma 50 px, 227 px). Phase 0 is
    cosine phase: a luminance peak at the centre.

    Args:
        angle_deg: orientation in degrees, scalar; 0 = vertical stripes, increasing clockwise.
        wavelength_px: carrier wavelength in pixels of this image, scalar > 0 (the paper's
            10-40 px are for 227 px: ``paper_px(10.0, size)`` at another size).
        sigma_px: standard deviation of the Gaussian window in pixels of this image, scalar > 0
            (paper: 50 at 227 px; ``paper_px(50.0, size)`` at another size).
        size: image side in pixels (static; paper: 227).
        phase_deg: carrier phase at the centre in degrees, scalar (paper: 0).
        quantize: truncate to integers as the original uint8 storage did (static). The result is
            then piecewise constant, so its derivatives are zero.
        pi: the value of pi in the carrier frequency (static). The original code used 3.1416
            (the default); pass ``math.pi`` for the exact value (a 2.3e-6 relative change).

    Returns:
        ``(size, size)`` image, indexed ``[row, col]``, values in ``[0, 255]``; float32 by
        default (float64 for float64 inputs or in x64 mode).

    Raises:
        InputError: if an angle/wavelength/sigma/phase is not a scalar or ``size < 1``.

    Examples:
        >>> img = gabor(0.0, 10.0)
        >>> img.shape, float(img.min()), float(img.max())
        ((227, 227), 0.0, 255.0)
        >>> round(float(img[113, 113]), 1)  # cosine phase: the peak is at the centre
        255.0
    """
    _check_scalars(
        angle_deg=angle_deg, wavelength_px=wavelength_px, sigma_px=sigma_px, phase_deg=phase_deg
    )
    dtype = _float_dtype(angle_deg, wavelength_px, sigma_px, phase_deg)
    g = _raw_gabor(angle_deg, wavelength_px, sigma_px, size, phase_deg, pi, dtype)
    lo, hi = jnp.min(g), jnp.max(g)
    img = (g - lo) * (255.0 / (hi - lo))
    if quantize:
        img = jnp.floor(jnp.clip(img, 0.0, 255.0))
    return img


@functools.partial(jax.jit, static_argnames=("size", "pi"))
def gabor_background(
    wavelength_px: Float[ArrayLike, ""],
    sigma_px: Float[ArrayLike, ""] = 50.0,
    size: int = 227,
    angle_deg: Float[ArrayLike, ""] = 0.0,
    phase_deg: Float[ArrayLike, ""] = 0.0,
    *,
    pi: float = ORIGINAL_PI,
) -> Float[Array, ""]:
    """Grey level that :func:`gabor` assigns to ``G = 0``: ``-min(G) * 255 / (max G - min G)``.

    Examples:
        >>> round(float(gabor_background(10.0)), 2), round(float(gabor_background(80.0)), 2)
        (127.18, 108.44)
    """
    _check_scalars(
        angle_deg=angle_deg, wavelength_px=wavelength_px, sigma_px=sigma_px, phase_deg=phase_deg
    )
    dtype = _float_dtype(angle_deg, wavelength_px, sigma_px, phase_deg)
    g = _raw_gabor(angle_deg, wavelength_px, sigma_px, size, phase_deg, pi, dtype)
    lo, hi = jnp.min(g), jnp.max(g)
    return -lo * (255.0 / (hi - lo))


class PairTemplates(NamedTuple):
    """Noiseless images of one discrimination condition (a pytree; fields share leading axes).

    Attributes:
        reference: the reference Gabor, ``(..., size, size)``.
        clockwise: the target at ``reference + separation`` (label 1, "more clockwise").
        counterclockwise: the target at ``reference - separation`` (label 0).
    """

    reference: Float[Array, "... size size"]
    clockwise: Float[Array, "... size size"]
    counterclockwise: Float[Array, "... size size"]


@functools.partial(jax.jit, static_argnames=("size", "quantize", "pi"))
def pair_templates(
    reference_deg: Float[ArrayLike, ""],
    separation_deg: Float[ArrayLike, ""],
    wavelength_px: Float[ArrayLike, ""],
    sigma_px: Float[ArrayLike, ""] = 50.0,
    size: int = 227,
    phase_deg: Float[ArrayLike, ""] = 0.0,
    *,
    quantize: bool = False,
    pi: float = ORIGINAL_PI,
) -> PairTemplates:
    """The three noiseless templates of a trial: reference, clockwise and counter-clockwise target.

    The target is ``reference +/- separation`` with everything else equal (the original stored
    set holds exactly these two target images; trial-to-trial variability is only the noise).

    Args:
        reference_deg: reference orientation in degrees (0 = vertical, clockwise positive).
        separation_deg: angle between reference and target in degrees (paper: 0.5 ... 10).
        wavelength_px, sigma_px, size, phase_deg, quantize, pi: as in :func:`gabor`.

    Returns:
        :class:`PairTemplates` of ``(size, size)`` images.

    Examples:
        >>> t = pair_templates(30.0, 5.0, 10.0, size=67)
        >>> t.clockwise.shape
        (67, 67)
    """
    _check_scalars(reference_deg=reference_deg, separation_deg=separation_deg)

    def make(angle):
        return gabor(angle, wavelength_px, sigma_px, size, phase_deg, quantize=quantize, pi=pi)

    return PairTemplates(
        reference=make(reference_deg),
        clockwise=make(jnp.add(reference_deg, separation_deg)),
        counterclockwise=make(jnp.subtract(reference_deg, separation_deg)),
    )


def trial_pairs(
    templates: PairTemplates, labels: ArrayLike
) -> tuple[Float[Array, "B size size"], Float[Array, "B size size"]]:
    """Reference and target images for a batch of labels (1 = target clockwise of reference).

    Args:
        templates: one condition's :class:`PairTemplates` (fields ``(size, size)``).
        labels: ``(B,)`` integers or booleans.

    Returns:
        ``(references, targets)``, each ``(B, size, size)``.

    Raises:
        InputError: if ``labels`` is not one-dimensional or the templates are not single images.
    """
    labels = jnp.asarray(labels)
    if labels.ndim != 1:
        raise InputError(f"labels must have shape (B,), got {labels.shape=}")
    if templates.reference.ndim != 2:
        raise InputError(
            "templates must hold single (size, size) images (vmap over conditions), got "
            f"{templates.reference.shape=}"
        )
    shape = (labels.shape[0], *templates.reference.shape)
    cw = labels.astype(bool)[:, None, None]
    targets = jnp.where(cw, templates.clockwise[None], templates.counterclockwise[None])
    return jnp.broadcast_to(templates.reference[None], shape), targets


def transfer_parameters(
    reference_deg: Float[ArrayLike, ""], wavelength_px: Float[ArrayLike, ""]
) -> tuple[Float[Array, " 5"], Float[Array, " 5"]]:
    """Reference orientations and wavelengths of the trained and the four transfer conditions.

    Order as :data:`TRANSFER_CONDITIONS`: trained; reference + 45 deg and + 90 deg (clockwise,
    mod 180); wavelength x 2 ("SF x 0.5") and x 0.5 ("SF x 2"). Contrast, noise and separation
    are unchanged.

    Returns:
        ``(angles_deg, wavelengths_px)``, each of shape ``(5,)``.

    Examples:
        >>> angles, waves = transfer_parameters(150.0, 20.0)
        >>> angles.tolist(), waves.tolist()
        ([150.0, 15.0, 60.0, 150.0, 150.0], [20.0, 20.0, 20.0, 40.0, 10.0])
    """
    _check_scalars(reference_deg=reference_deg, wavelength_px=wavelength_px)
    dtype = _float_dtype(reference_deg, wavelength_px)
    ref = jnp.asarray(reference_deg, dtype)
    lam = jnp.asarray(wavelength_px, dtype)
    angles = jnp.stack([ref, jnp.mod(ref + 45.0, 180.0), jnp.mod(ref + 90.0, 180.0), ref, ref])
    wavelengths = jnp.stack([lam, lam, lam, 2.0 * lam, 0.5 * lam])
    return angles, wavelengths


@functools.partial(jax.jit, static_argnames=("size", "quantize", "pi"))
def transfer_templates(
    reference_deg: Float[ArrayLike, ""],
    separation_deg: Float[ArrayLike, ""],
    wavelength_px: Float[ArrayLike, ""],
    sigma_px: Float[ArrayLike, ""] = 50.0,
    size: int = 227,
    phase_deg: Float[ArrayLike, ""] = 0.0,
    *,
    quantize: bool = False,
    pi: float = ORIGINAL_PI,
) -> PairTemplates:
    """:func:`pair_templates` for the trained and the four transfer conditions at once.

    Returns:
        :class:`PairTemplates` whose fields have shape ``(5, size, size)``, leading axis ordered
        as :data:`TRANSFER_CONDITIONS`.
    """
    angles, wavelengths = transfer_parameters(reference_deg, wavelength_px)

    def one(angle, wavelength):
        return pair_templates(
            angle,
            separation_deg,
            wavelength,
            sigma_px,
            size,
            phase_deg,
            quantize=quantize,
            pi=pi,
        )

    return jax.vmap(one)(angles, wavelengths)


def network_input(
    key: jax.Array,
    images: Float[ArrayLike, "*batch H W"],
    contrast: Float[ArrayLike, ""],
    noise_sd: Float[ArrayLike, ""],
    offset: Float[ArrayLike, ""] | None = BACKGROUND_OFFSET,
) -> Float[Array, "*batch H W"]:
    r"""Network units from 0..255 images: ``contrast * (I - offset) + N(0, noise_sd^2)``.

    .. math:: x = c\,(I - 125) + \varepsilon, \quad \varepsilon \sim \mathcal{N}(0, \sigma_n^2)
              \text{ i.i.d. per pixel}

    Fresh noise for every pixel and image; no clipping or re-quantisation (the original Caffe
    pipeline). Add the channel axis (``[..., None]``) before :func:`vpl_jax.alexnet.features`.

    Args:
        key: PRNG key (first, as for every stochastic function here).
        images: ``(..., H, W)`` noiseless images on the 0-255 scale.
        contrast: multiplicative contrast ``c`` (paper: 0.2-0.5), scalar.
        noise_sd: noise standard deviation ``sigma_n`` in network units (paper: 5, 10, 15), scalar.
        offset: the subtracted mean, 125 (Caffe's training ``mean_value``, default) or ``None``
            for each image's own mean (the original test nets).

    Returns:
        Array of the shape of ``images`` (float32 by default).

    Raises:
        InputError: if ``images`` has fewer than 2 axes or ``contrast``/``noise_sd`` is not scalar.

    Examples:
        >>> import jax
        >>> x = network_input(jax.random.key(0), gabor(0.0, 10.0, size=67), 0.5, 0.0)
        >>> round(float(x.max()), 2)  # 0.5 * (255 - 125)
        65.0
    """
    _check_scalars(contrast=contrast, noise_sd=noise_sd)
    images = jnp.asarray(images)
    if images.ndim < 2:
        raise InputError(f"images must have shape (..., H, W), got {images.shape=}")
    dtype = _float_dtype(images, contrast, noise_sd)
    images = images.astype(dtype)
    if offset is None:
        mean = jnp.mean(images, axis=(-2, -1), keepdims=True)
    else:
        _check_scalars(offset=offset)
        mean = jnp.asarray(offset, dtype)
    noise = jax.random.normal(key, images.shape, dtype)
    return jnp.asarray(contrast, dtype) * (images - mean) + jnp.asarray(noise_sd, dtype) * noise


@functools.partial(jax.jit, static_argnames=("size", "centre"))
def grating(
    angle_deg: Float[ArrayLike, ""],
    k_rad_per_px: Float[ArrayLike, ""],
    phase_deg: Float[ArrayLike, ""] = 0.0,
    size: int = 32,
    *,
    centre: float | None = None,
) -> Float[Array, "size size"]:
    r"""Full-field grating ``cos(k u + tau)`` of Ukita (2019, Eq. 1), values in ``[-1, 1]``.

    ``u`` is the coordinate along the wave vector in this module's convention, ``u = x'`` of
    :func:`theory.stimuli.rotate`: 0 deg gives vertical stripes and angles turn clockwise, as for
    :func:`gabor`. Ukita's formula ``cos(k0 y' + tau)`` with ``y' = -(x - x0) sin(theta) +
    (y - y0) cos(theta)``, ``x`` the row and ``y`` the column index and ``(x0, y0) = (H//2,
    W//2)``, is exactly ``grating(-theta, k0, tau, size, centre=size // 2)``.

    Args:
        angle_deg: orientation in degrees, scalar.
        k_rad_per_px: spatial frequency ``k`` in radians per pixel (period ``2 pi / k``), scalar.
        phase_deg: phase ``tau`` at the centre, degrees, scalar.
        size: image side in pixels (static; 32 for the CIFAR networks).
        centre: pixel (row = column) of the origin (static); default ``(size - 1) / 2``.

    Returns:
        ``(size, size)`` image, raw cosine values (Ukita then min-max scales each grating to
        ``[0, 1]``; do that in the experiment, not here).

    Examples:
        >>> g = grating(0.0, 3.14159265 / 2, size=4, centre=0.0)  # period 4 px along columns
        >>> [round(v, 3) + 0.0 for v in g[0].tolist()]
        [1.0, 0.0, -1.0, 0.0]
    """
    _check_scalars(angle_deg=angle_deg, k_rad_per_px=k_rad_per_px, phase_deg=phase_deg)
    dtype = _float_dtype(angle_deg, k_rad_per_px, phase_deg)
    x, y = pixel_grid(size, dtype)
    if centre is not None:
        shift = (size - 1) / 2.0 - float(centre)
        x, y = x + shift, y - shift
    u, _ = rotate(x, y, jnp.asarray(angle_deg, dtype))
    k = jnp.asarray(k_rad_per_px, dtype)
    return jnp.cos(k * u + jnp.deg2rad(jnp.asarray(phase_deg, dtype)))


def grating_frequencies(size: int = 32, n: int = 9) -> Float[Array, " n"]:
    """Ukita's spatial frequencies ``k_s = pi / (size / 2 + 4) * (s + 1)``, rad/px, s < n.

    For 32 px the periods are 40, 20, 13.3, 10, 8, 6.7, 5.7, 5 and 4.4 px (9 frequencies; VGG16
    at 224 px uses 57).

    Examples:
        >>> [round(2 * 3.14159265 / float(k), 1) for k in grating_frequencies(32, 3)]
        [40.0, 20.0, 13.3]
    """
    if int(n) != n or n < 1:
        raise InputError(f"n must be an integer >= 1, got {n=}")
    return jnp.pi / (size / 2.0 + 4.0) * jnp.arange(1, n + 1, dtype=jnp.float32)


# --------------------------------------------------------------------------------------------
# Network inputs of generated stimuli: parameter records, stimulus records and input makers
# --------------------------------------------------------------------------------------------


def _as_float32(record):
    return type(record)(*(jnp.asarray(value, jnp.float32) for value in record))


class NoisyGaborParams(NamedTuple):
    """Shared parameters of noisy-Gabor network inputs (Wenliang & Seitz 2018, tuning protocol).

    The input is ``contrast * (I - 125) + N(0, noise_sd^2)`` with ``I = gabor(angle,
    wavelength_px, sigma_px)`` (cosine phase, 0..255). A pytree of scalars: pass it to a jitted
    function as a traced argument (a new value does not recompile).

    Attributes:
        wavelength_px: carrier wavelength in pixels of the image drawn, > 0 (paper: 10 at
            227 px; `paper_px` converts).
        sigma_px: standard deviation of the Gaussian window in pixels of the image drawn, > 0
            (paper: 50 at 227 px; `paper_px` converts).
        contrast: the factor of ``I - 125``, dimensionless (paper: 0.2).
        noise_sd: standard deviation of the i.i.d. pixel noise in network units, >= 0
            (paper: 15).

    Examples:
        >>> NoisyGaborParams().as_arrays().sigma_px.dtype
        dtype('float32')
    """

    wavelength_px: Float[ArrayLike, ""] = 10.0
    sigma_px: Float[ArrayLike, ""] = 50.0
    contrast: Float[ArrayLike, ""] = 0.2
    noise_sd: Float[ArrayLike, ""] = 15.0

    def as_arrays(self) -> NoisyGaborParams:
        """The record with float32 scalar arrays, after checking concrete values.

        Raises:
            InputError: on a non-scalar field, a wavelength or sigma that is not finite and > 0,
                a non-finite contrast or a noise SD that is not finite and >= 0.
        """
        _check_scalars(**self._asdict())
        require("wavelength_px", self.wavelength_px, _finite_positive, "finite and > 0")
        require("sigma_px", self.sigma_px, _finite_positive, "finite and > 0")
        require("contrast", self.contrast, _finite, "finite")
        require("noise_sd", self.noise_sd, _finite_nonneg, "finite and >= 0")
        return _as_float32(self)


class GratingParams(NamedTuple):
    """Shared parameters of full-field grating network inputs (Ukita's gratings).

    The input is ``contrast * (I - 125)`` with ``I = 127.5 (1 + G)`` the full-range 0..255
    image of ``G = grating(...)`` in [-1, 1]. A pytree of scalars (traced).

    Attributes:
        contrast: the factor of ``I - 125``, dimensionless (0.5: amplitude 64 network units).
    """

    contrast: Float[ArrayLike, ""] = 0.5

    def as_arrays(self) -> GratingParams:
        """The record with float32 scalar arrays, after checking concrete values.

        Raises:
            InputError: on a non-scalar or non-finite contrast.
        """
        _check_scalars(**self._asdict())
        require("contrast", self.contrast, _finite, "finite")
        return _as_float32(self)


class NoisyGaborStimulus(NamedTuple):
    """Per-image values of a noisy Gabor (fields share their leading axes, ``()`` for one image).

    Attributes:
        angle_deg: orientation in degrees (0 = vertical stripes, clockwise).
        key: PRNG key of the image's pixel noise.
    """

    angle_deg: Float[ArrayLike, "..."]
    key: Array


class GratingStimulus(NamedTuple):
    """Per-image values of a full-field grating (fields share their leading axes).

    Attributes:
        angle_deg: orientation in degrees (0 = vertical stripes, clockwise).
        wavelength_px: period in pixels, > 0.
        phase_deg: phase at the image centre in degrees.
    """

    angle_deg: Float[ArrayLike, "..."]
    wavelength_px: Float[ArrayLike, "..."]
    phase_deg: Float[ArrayLike, "..."]


def _finite(x):
    return np.isfinite(x)


def _finite_positive(x):
    return np.isfinite(x) & (x > 0)


def _finite_nonneg(x):
    return np.isfinite(x) & (x >= 0)


def _check_structure(size, channels) -> None:
    for name, value in (("size", size), ("channels", channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be an integer >= 1, got {name}={value!r}")


def to_channels(grey: Float[ArrayLike, "H W"], channels: int) -> Float[Array, "H W channels"]:
    """A grey ``(H, W)`` image as ``(H, W, channels)``: the grey copied to every input channel.

    Examples:
        >>> to_channels(jnp.zeros((4, 5)), 3).shape
        (4, 5, 3)
    """
    grey = jnp.asarray(grey)
    return jnp.broadcast_to(grey[:, :, None], (*grey.shape, channels))


@dataclasses.dataclass(frozen=True)
class NoisyGaborInput:
    """Network input of one noisy Gabor: ``contrast * (I - 125) + N(0, noise_sd^2)``.

    ``I = gabor(angle, wavelength_px, sigma_px, size)`` (cosine phase, 0..255), the noise drawn
    from the stimulus's key by :func:`network_input` (Wenliang & Seitz 2018's training and tuning
    stimuli). Static structure only (hashable: a ``jax.jit`` static argument).

    Attributes:
        size: image side in pixels (>= 1).
        channels: network input channels (>= 1); the grey image is copied to each.

    Examples:
        >>> import jax
        >>> make = NoisyGaborInput(67)
        >>> make(NoisyGaborStimulus(30.0, jax.random.key(0)), NoisyGaborParams()).shape
        (67, 67, 1)
    """

    size: int
    channels: int = 1

    def __post_init__(self):
        _check_structure(self.size, self.channels)

    def __call__(
        self, stimulus: NoisyGaborStimulus, params: NoisyGaborParams
    ) -> Float[Array, "size size channels"]:
        """One ``(size, size, channels)`` input (``jax.vmap`` over ``stimulus`` for batches)."""
        image = gabor(
            stimulus.angle_deg, params.wavelength_px, sigma_px=params.sigma_px, size=self.size
        )
        grey = network_input(stimulus.key, image, params.contrast, params.noise_sd)
        return to_channels(grey, self.channels)

    def noiseless(
        self, angle_deg: Float[ArrayLike, ""], params: NoisyGaborParams
    ) -> Float[Array, "size size channels"]:
        """The input without its noise, ``contrast * (I - 125)``: its expectation over keys.

        The noise is additive and does not depend on the angle, so the derivative of every
        noisy input with respect to ``angle_deg`` is this image's (``jax.jvp`` of it).
        """
        image = gabor(angle_deg, params.wavelength_px, sigma_px=params.sigma_px, size=self.size)
        grey = jnp.asarray(params.contrast, image.dtype) * (image - BACKGROUND_OFFSET)
        return to_channels(grey, self.channels)


@dataclasses.dataclass(frozen=True)
class GratingInput:
    """Network input of one full-field grating: ``contrast * (I - 125)``, ``I = 127.5 (1 + G)``.

    ``G = grating(angle, 2 pi / wavelength_px, phase_deg, size)`` in [-1, 1] (Ukita 2019, Eq. 1)
    becomes the full-range 0..255 image ``I``, fed with the input transform of Wenliang & Seitz
    (2018) without noise. Static structure only (hashable: a ``jax.jit`` static argument).

    Attributes:
        size: image side in pixels (>= 1).
        channels: network input channels (>= 1); the grey image is copied to each.

    Examples:
        >>> x = GratingInput(9)(GratingStimulus(0.0, 4.0, 0.0), GratingParams(0.5))
        >>> x.shape, round(float(x.max()), 2)  # 0.5 * (255 - 125)
        ((9, 9, 1), 65.0)
    """

    size: int
    channels: int = 1

    def __post_init__(self):
        _check_structure(self.size, self.channels)

    def __call__(
        self, stimulus: GratingStimulus, params: GratingParams
    ) -> Float[Array, "size size channels"]:
        """One ``(size, size, channels)`` input (``jax.vmap`` over ``stimulus`` for batches)."""
        k = 2.0 * jnp.pi / stimulus.wavelength_px
        g = grating(stimulus.angle_deg, k, phase_deg=stimulus.phase_deg, size=self.size)
        image = 127.5 * (1.0 + g)
        return to_channels(params.contrast * (image - BACKGROUND_OFFSET), self.channels)
