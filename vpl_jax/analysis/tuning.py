"""Tuning curves of centre units, their attributes and linear Fisher information.

The tuning protocol of Wenliang & Seitz (2018), *Deep neural networks for modeling visual
perceptual learning*: Gabors (wavelength 10 px, sigma 50 px, cosine phase;
``vpl_jax.stimuli.NoisyGaborInput``) at ``O = 100`` orientations ``np.linspace(-90, 90, O) + TO``
around a network's trained orientation ``TO``, each shown with ``N = 50`` independent noise
samples, input ``0.2 (G - 125) + N(0, 15^2)``; the centre unit of every channel of
``vpl_jax.analysis.recording.PROTOCOL_LAYERS`` (``norm1, norm2, conv3, conv4, conv5``, the paper's
layers 1-5) is recorded. A unit is *included* by the one rule of
``vpl_jax.analysis.recording.is_included`` (mean activation >= 1.0), the mean taken over this
protocol's grid (the smoothed mean tuning curve); ``unit_table`` writes the contract's table
(``vpl_jax.analysis.recording.UNIT_COLUMNS``).

Conventions:

* **Orientations** are in degrees (0 = vertical stripes, clockwise on screen, as in
  ``vpl_jax.stimuli``). ``orientations_rel_deg`` are offsets from TO, ``linspace(-90, 90, O)``
  (both ends included: the grid spacing is ``180 / (O - 1)`` deg, 1.818 deg for ``O = 100``).
* **Arrays** of per-orientation statistics have shape ``(..., O, C)``: optional leading network
  axes, orientations, units (channels). Covariances are ``(..., O, C, C)``. Attribute functions
  reduce the orientation axis (``-2``) and return ``(..., C)``.
* **Gradients** ``f'(theta)`` are per degree. Two estimators:

  1. ``"jacfwd"`` (default, exact): the forward-mode derivative (the value of ``jax.jacfwd``) of
     the sample-mean response with respect to the Gabor orientation (degrees), through the
     differentiable ``vpl_jax.stimuli.gabor``, at the fixed noise samples of that orientation.
     It is the exact derivative of the quantity whose covariance enters the Fisher information.
     The tangent is carried through the receptive-field cone with the responses
     (``vpl_jax.receptive_field.centre_jvp``); the noise is additive, so the image tangent is
     one image per orientation and conv1's tangent is computed once for all samples.
  2. ``"smoothed"`` (the paper's code): the raw mean tuning curve filtered by a first derivative
     of a Gaussian (scipy's ``gaussian_filter1d(order=1, sigma=3 samples, mode="wrap")``),
     divided by the grid spacing (per sample -> per degree).

* **Smoothing**: the mean and variance curves used for tuning attributes are smoothed along
  orientation by a Gaussian of ``sigma = 1`` sample with circular (``wrap``) padding
  (``gaussian_filter1d(sigma=1, mode="wrap")``). The wrap treats the 100 samples as one period
  (181.8 deg with both ends included), as the paper's code does. Unit attributes that need a
  slope use the slope of that smoothed curve: for ``"jacfwd"`` the jacfwd gradient smoothed with
  the same Gaussian (smoothing commutes with differentiation); for ``"smoothed"`` the paper's
  derivative-of-Gaussian gradient. The population and single-unit Fisher information use the
  unsmoothed gradient of the chosen estimator and the unsmoothed (co)variance.
* **Keys**: ``record_tuning`` and ``tuning_analysis`` take the PRNG key for the pixel noise as
  their first argument. Every network of a batch sees the same noise (common random numbers).

All array functions are pure; the JAX ones are jit-compatible in their array arguments, and the
orientation grids (which define the stimulus set) are concrete NumPy arrays.

References:
    Wenliang & Seitz (2018), J. Neurosci. 38(27):6028-6044, Eqs. 5 and 6; the authors'
    ``compute_tuning.py`` (``gaussian_filter1d(..., mode='wrap')``, the 0.01 ridge).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from theory.checks import InputError
from vpl_jax import alexnet, receptive_field, stimuli
from vpl_jax.analysis.recording import (
    INCLUSION_THRESHOLD,
    LAYER_INDEX,
    PROTOCOL_LAYERS,
    UNIT_COLUMNS,
    blocked_map,
    centre_responses,
    check_inclusion_threshold,
    check_layers,
    check_size,
    is_included,
)

# TUNING_LAYERS stays importable from here until vpl_jax.figures.fisher and
# vpl_jax.analysis.tuning_run import recording.PROTOCOL_LAYERS.
TUNING_LAYERS = PROTOCOL_LAYERS

__all__ = [
    "FISHER_COLUMNS",
    "FISHER_RIDGE",
    "MEAN_SMOOTHING_SAMPLES",
    "NORM_VAR_EPS",
    "VAR_RATIO_OFFSET",
    "included_mask",
    "GRADIENT_SMOOTHING_SAMPLES",
    "TUNING_LAYERS",
    "TuningAnalysis",
    "TuningRecording",
    "amplitude",
    "best_discriminability",
    "fisher_frame",
    "fisher_at_reference",
    "gaussian_smooth",
    "interpolate_at",
    "normalised_variance_at_po",
    "population_fisher",
    "preferred_orientation",
    "record_tuning",
    "relative_orientations",
    "selectivity_index",
    "single_unit_fisher",
    "slope_at_reference",
    "smoothed_gradient",
    "tuning_analysis",
    "unit_attributes",
    "unit_curves",
    "unit_table",
    "variance_ratio",
    "wrap_orientation",
]

FISHER_RIDGE = 0.01
"""Ridge added to covariances (and variances) in the Fisher information (the paper's code)."""

MEAN_SMOOTHING_SAMPLES = 1.0
"""Gaussian SD, in grid samples, smoothing the mean and variance tuning curves (paper's code)."""

GRADIENT_SMOOTHING_SAMPLES = 3.0
"""Gaussian SD, in grid samples, of the paper's derivative-of-Gaussian gradient filter."""

NORM_VAR_EPS = 1e-4
"""Offset of the normalised variance at PO, ``(var + 1e-4) / mean`` (Raiguel; paper's code)."""

VAR_RATIO_OFFSET = 0.1
"""Offset of the variance ratio, ``mean_theta var / (0.1 + mean)`` (Ghose; paper's code)."""

_GRADIENTS = ("jacfwd", "smoothed")


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _float(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_):
            raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
        x = x.astype(jnp.float32)
    return x


def _curves(x: ArrayLike, name: str, min_orientations: int = 2) -> Array:
    x = _float(x, name)
    if x.ndim < 2 or x.shape[-2] < min_orientations:
        raise InputError(
            f"{name} must have shape (..., O, C) with O >= {min_orientations} orientations, "
            f"got shape {x.shape}"
        )
    return x


def _rel_grid(orientations_rel_deg: ArrayLike, n: int, name="orientations_rel_deg") -> np.ndarray:
    try:
        theta = np.asarray(orientations_rel_deg, dtype=np.float64)
    except jax.errors.ConcretizationTypeError:
        raise TypeError(f"{name} must be a concrete array (a stimulus grid)") from None
    if theta.ndim != 1 or theta.shape[0] != n:
        raise InputError(f"{name} must have shape ({n},) to match the curves, got {theta.shape}")
    if not np.all(np.isfinite(theta)) or np.any(np.diff(theta) <= 0):
        raise InputError(f"{name} must be finite and strictly increasing, got {theta}")
    return theta


def _same_shape(a: Array, b: Array, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise InputError(
            f"{name_a} and {name_b} must have the same shape, got {a.shape} vs {b.shape}"
        )


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def _nonneg(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(f"{name} must be a Python number, got {type(value).__name__}") from None
    if not (math.isfinite(v) and v >= 0):
        raise InputError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return v


def relative_orientations(num_orientations: int = 100) -> np.ndarray:
    """The tuning grid relative to TO: ``np.linspace(-90, 90, num_orientations)`` degrees.

    Examples:
        >>> relative_orientations(5).tolist()
        [-90.0, -45.0, 0.0, 45.0, 90.0]
    """
    return np.linspace(-90.0, 90.0, _positive_int(num_orientations, "num_orientations", 2))


def wrap_orientation(theta_deg: ArrayLike) -> Array:
    """Wrap orientations (degrees) to the 180-degree cycle ``[-90, 90)``.

    Examples:
        >>> wrap_orientation(jnp.array([90.0, -91.0, 179.0])).tolist()
        [-90.0, 89.0, -1.0]
    """
    theta = _float(theta_deg, "theta_deg")
    return jnp.mod(theta + 90.0, 180.0) - 90.0


# --------------------------------------------------------------------------------------------
# Gaussian smoothing and gradients (circular, scipy.ndimage.gaussian_filter1d-equivalent)
# --------------------------------------------------------------------------------------------


def _gaussian_kernel(sigma: float, order: int, truncate: float = 4.0) -> tuple[np.ndarray, int]:
    """scipy's ``_gaussian_kernel1d``: weights at offsets ``-r..r`` of a (derivative of) Gaussian."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / sigma) ** 2)
    phi /= phi.sum()
    if order == 0:
        return phi, radius
    return -x / sigma**2 * phi, radius


def _circulant(n: int, sigma: float, order: int) -> np.ndarray:
    """``(n, n)`` matrix ``F`` with ``F @ x == gaussian_filter1d(x, sigma, order, mode='wrap')``."""
    kernel, radius = _gaussian_kernel(sigma, order)
    mat = np.zeros((n, n))
    rows = np.arange(n)
    for k, w in zip(range(-radius, radius + 1), kernel, strict=True):
        # scipy convolves: out[i] = sum_k kernel[k] x[i - k], indices wrapped periodically.
        np.add.at(mat, (rows, (rows - k) % n), w)
    return mat


def _apply_filter(x: Array, mat: np.ndarray) -> Array:
    return jnp.einsum("po,...oc->...pc", jnp.asarray(mat, x.dtype), x)


def gaussian_smooth(
    curves: Float[ArrayLike, "... O C"], sigma: float = MEAN_SMOOTHING_SAMPLES
) -> Float[Array, "... O C"]:
    """Gaussian smoothing along orientation (axis ``-2``) with circular padding.

    Equals ``scipy.ndimage.gaussian_filter1d(curves, sigma, axis=-2, mode="wrap")`` (truncated
    at 4 SD, as scipy). ``sigma = 0`` returns the curves unchanged.

    Args:
        curves: ``(..., O, C)`` tuning curves on an equally spaced grid.
        sigma: Gaussian SD in grid samples, >= 0 (paper's code: 1 sample for mean and variance).

    Returns:
        ``(..., O, C)`` smoothed curves.

    Raises:
        InputError: on curves of rank < 2 or a negative sigma.

    Examples:
        >>> import numpy as np
        >>> x = np.zeros((8, 1)); x[0] = 1.0
        >>> round(float(gaussian_smooth(x, 1.0).sum()), 6)  # mass is preserved
        1.0
    """
    curves = _curves(curves, "curves", 1)
    sigma = _nonneg(sigma, "sigma")
    if sigma == 0:
        return curves
    return _apply_filter(curves, _circulant(curves.shape[-2], sigma, 0))


def smoothed_gradient(
    curves: Float[ArrayLike, "... O C"],
    spacing_deg: float,
    sigma: float = GRADIENT_SMOOTHING_SAMPLES,
) -> Float[Array, "... O C"]:
    """The paper's tuning gradient: derivative-of-Gaussian filter along orientation, per degree.

    ``scipy.ndimage.gaussian_filter1d(curves, sigma, axis=-2, order=1, mode="wrap") /
    spacing_deg``: the first derivative of the curve smoothed by a Gaussian of ``sigma`` samples,
    converted from per sample to per degree.

    Args:
        curves: ``(..., O, C)`` raw mean tuning curves on an equally spaced grid.
        spacing_deg: grid spacing in degrees, > 0 (``180 / (O - 1)`` for the paper's grid).
        sigma: Gaussian SD in samples, > 0 (paper's code: 3 samples, about 5.5 deg).

    Returns:
        ``(..., O, C)`` gradients in response units per degree.

    Raises:
        InputError: on curves of rank < 2, a non-positive spacing or sigma.

    Examples:
        >>> import numpy as np
        >>> theta = np.arange(36) * 5.0
        >>> f = np.cos(np.deg2rad(2 * theta))[:, None]
        >>> from scipy.ndimage import gaussian_filter1d
        >>> ref = gaussian_filter1d(f, 3.0, axis=0, order=1, mode="wrap") / 5.0
        >>> bool(np.allclose(smoothed_gradient(f, 5.0), ref, rtol=1e-5, atol=1e-7))
        True
    """
    curves = _curves(curves, "curves", 1)
    spacing = _nonneg(spacing_deg, "spacing_deg")
    sigma = _nonneg(sigma, "sigma")
    if spacing == 0 or sigma == 0:
        raise InputError(f"spacing_deg and sigma must be > 0, got {spacing_deg=}, {sigma=}")
    return _apply_filter(curves, _circulant(curves.shape[-2], sigma, 1) / spacing)


def interpolate_at(
    curves: Float[ArrayLike, "... O C"], orientations_rel_deg: ArrayLike, at_deg: float = 0.0
) -> Float[Array, "... C"]:
    """Linear interpolation of curves at one orientation (default TO, i.e. offset 0).

    On the paper's grid (``linspace(-90, 90, 100)``) TO falls midway between samples 49 and 50,
    so this is their average. (The paper's code averages samples 49-51; see the spec, 4.4.)

    Args:
        curves: ``(..., O, C)``.
        orientations_rel_deg: concrete increasing ``(O,)`` grid in degrees.
        at_deg: where to evaluate, within the grid's range.

    Returns:
        ``(..., C)`` interpolated values.
    """
    curves = _curves(curves, "curves", 2)
    theta = _rel_grid(orientations_rel_deg, curves.shape[-2])
    at = float(at_deg)
    if not theta[0] <= at <= theta[-1]:
        raise InputError(f"at_deg must lie in [{theta[0]}, {theta[-1]}], got {at_deg=}")
    i = int(np.clip(np.searchsorted(theta, at, side="right") - 1, 0, theta.size - 2))
    w = (at - theta[i]) / (theta[i + 1] - theta[i])
    return (1.0 - w) * curves[..., i, :] + w * curves[..., i + 1, :]


# --------------------------------------------------------------------------------------------
# Unit attributes (spec 4.4) on (..., O, C) curves
# --------------------------------------------------------------------------------------------


def preferred_orientation(
    mean: Float[ArrayLike, "... O C"], orientations_rel_deg: ArrayLike
) -> Float[Array, "... C"]:
    """Preferred orientation relative to TO: the grid orientation of the curve's peak.

    Args:
        mean: ``(..., O, C)`` (smoothed) mean tuning curves.
        orientations_rel_deg: concrete ``(O,)`` grid of offsets from TO in degrees.

    Returns:
        ``(..., C)`` PO - TO in degrees, wrapped to ``[-90, 90)`` (the first peak on ties).
    """
    mean = _curves(mean, "mean")
    theta = _rel_grid(orientations_rel_deg, mean.shape[-2])
    idx = jnp.argmax(mean, axis=-2)
    return wrap_orientation(jnp.asarray(theta, mean.dtype)[idx])


def amplitude(mean: Float[ArrayLike, "... O C"]) -> Float[Array, "... C"]:
    """Tuning amplitude ``max_theta f - min_theta f`` of (smoothed) mean curves ``(..., O, C)``."""
    mean = _curves(mean, "mean")
    return jnp.max(mean, axis=-2) - jnp.min(mean, axis=-2)


def slope_at_reference(
    grad: Float[ArrayLike, "... O C"],
    mean: Float[ArrayLike, "... O C"],
    orientations_rel_deg: ArrayLike,
) -> Float[Array, "... C"]:
    """Normalised slope at TO: ``|f'(TO)| / max_theta f`` (Schoups et al. 2001; per unit).

    ``f'(TO)`` is linearly interpolated at offset 0 (``interpolate_at``). A unit whose maximum
    is <= 0 (silent) gets NaN.

    Args:
        grad: ``(..., O, C)`` slope of the (smoothed) mean curve, per degree.
        mean: ``(..., O, C)`` (smoothed) mean curve.
        orientations_rel_deg: concrete ``(O,)`` grid of offsets from TO in degrees.

    Returns:
        ``(..., C)`` in 1/degree.
    """
    grad, mean = _curves(grad, "grad"), _curves(mean, "mean")
    _same_shape(grad, mean, "grad", "mean")
    peak = jnp.max(mean, axis=-2)
    slope = jnp.abs(interpolate_at(grad, orientations_rel_deg, 0.0))
    return jnp.where(peak > 0, slope / jnp.where(peak > 0, peak, 1.0), jnp.nan)


def selectivity_index(
    mean: Float[ArrayLike, "... O C"], orientations_rel_deg: ArrayLike
) -> Float[Array, "... C"]:
    r"""Selectivity index (Eq. 5; Raiguel et al. 2006) of (smoothed) mean curves.

    .. math:: \mathrm{SI} = \frac{\sqrt{(\sum_i s_i \sin 2\theta_i)^2
              + (\sum_i s_i \cos 2\theta_i)^2}}{\sum_i s_i}

    over the grid orientations ``theta_i`` (any offset: SI is rotation invariant). NaN where
    ``sum_i s_i <= 0``.

    Args:
        mean: ``(..., O, C)`` mean responses ``s_i``.
        orientations_rel_deg: concrete ``(O,)`` grid in degrees.

    Returns:
        ``(..., C)`` SI, in [0, 1] for non-negative responses.

    References:
        Wenliang & Seitz (2018) Eq. 5; Raiguel et al. (2006) J. Neurosci. 26:6589.
    """
    mean = _curves(mean, "mean")
    theta = np.deg2rad(2.0 * _rel_grid(orientations_rel_deg, mean.shape[-2]))
    c = jnp.einsum("...oc,o->...c", mean, jnp.asarray(np.cos(theta), mean.dtype))
    s = jnp.einsum("...oc,o->...c", mean, jnp.asarray(np.sin(theta), mean.dtype))
    total = jnp.sum(mean, axis=-2)
    ok = total > 0
    return jnp.where(ok, jnp.sqrt(c * c + s * s) / jnp.where(ok, total, 1.0), jnp.nan)


def normalised_variance_at_po(
    mean: Float[ArrayLike, "... O C"], var: Float[ArrayLike, "... O C"]
) -> Float[Array, "... C"]:
    """``(var + 1e-4) / mean`` at the preferred orientation (Raiguel, Fig. 8H; paper's code).

    Args:
        mean, var: ``(..., O, C)`` (smoothed) mean and variance curves.

    Returns:
        ``(..., C)``; NaN where the peak mean is <= 0.
    """
    mean, var = _curves(mean, "mean"), _curves(var, "var")
    _same_shape(mean, var, "mean", "var")
    idx = jnp.argmax(mean, axis=-2)[..., None, :]
    m = jnp.take_along_axis(mean, idx, axis=-2)[..., 0, :]
    v = jnp.take_along_axis(var, idx, axis=-2)[..., 0, :]
    return jnp.where(m > 0, (v + NORM_VAR_EPS) / jnp.where(m > 0, m, 1.0), jnp.nan)


def variance_ratio(
    mean: Float[ArrayLike, "... O C"], var: Float[ArrayLike, "... O C"]
) -> Float[Array, "... C"]:
    """Mean over orientations of ``var / (0.1 + mean)`` (Ghose, Fig. 7D; paper's code).

    Args:
        mean, var: ``(..., O, C)`` (smoothed) mean (>= 0) and variance curves.

    Returns:
        ``(..., C)``.
    """
    mean, var = _curves(mean, "mean"), _curves(var, "var")
    _same_shape(mean, var, "mean", "var")
    return jnp.mean(var / (VAR_RATIO_OFFSET + mean), axis=-2)


def single_unit_fisher(
    grad: Float[ArrayLike, "... O C"],
    var: Float[ArrayLike, "... O C"],
    *,
    ridge: float = FISHER_RIDGE,
) -> Float[Array, "... O C"]:
    """Single-unit linear Fisher information ``f'(theta)^2 / (var(theta) + ridge)``.

    The ridge is the population FI's (``population_fisher`` of one unit equals this), so a
    silent unit (``f' = var = 0``) gets 0 rather than NaN.

    Args:
        grad: ``(..., O, C)`` tuning gradients, per degree.
        var: ``(..., O, C)`` response variances (>= 0).
        ridge: >= 0 added to the variance.

    Returns:
        ``(..., O, C)`` in 1/degree^2.
    """
    grad, var = _curves(grad, "grad", 1), _curves(var, "var", 1)
    _same_shape(grad, var, "grad", "var")
    ridge = _nonneg(ridge, "ridge")
    return grad * grad / (var + ridge)


def best_discriminability(
    grad: Float[ArrayLike, "... O C"],
    var: Float[ArrayLike, "... O C"],
    *,
    ridge: float = FISHER_RIDGE,
) -> Float[Array, "... C"]:
    """Best discriminability (Yang & Maunsell 2004): ``1 / max_theta f'^2 / (var + ridge)``.

    Lower is better (the code's form of ``min_theta var / f'^2``); ``inf`` for a flat unit.

    Args:
        grad: ``(..., O, C)`` tuning gradients, per degree.
        var: ``(..., O, C)`` variances.
        ridge: >= 0 added to the variance (as in ``single_unit_fisher``).

    Returns:
        ``(..., C)`` in degree^2.
    """
    best = jnp.max(single_unit_fisher(grad, var, ridge=ridge), axis=-2)
    return jnp.where(best > 0, 1.0 / jnp.where(best > 0, best, 1.0), jnp.inf)


# --------------------------------------------------------------------------------------------
# Population linear Fisher information (Eq. 6)
# --------------------------------------------------------------------------------------------


def _fisher_core(grad, cov, mean, ridge, threshold):
    use = mean >= threshold  # (..., O, C)
    m = use.astype(cov.dtype)
    c = cov.shape[-1]
    eye = jnp.broadcast_to(jnp.eye(c, dtype=cov.dtype), cov.shape)
    # Excluded units: their rows/columns become ridge * identity and their gradient 0, so the
    # quadratic form equals the one of the included sub-population exactly.
    sigma = cov * m[..., :, None] * m[..., None, :] + ridge * eye
    g = grad * m
    chol = jnp.linalg.cholesky(sigma)
    z = jax.scipy.linalg.solve_triangular(chol, g[..., None], lower=True)[..., 0]
    n = jnp.sum(m, axis=-1)
    quad = jnp.sum(z * z, axis=-1)
    return jnp.where(n > 0, quad / jnp.where(n > 0, n, 1.0), jnp.nan)


def _fisher_from_samples(grad, samples, ridge, threshold):
    """Eq. 6 at one orientation from the ``(N, C)`` samples, in the sample space (float32-safe).

    With the centred, masked samples ``X = U S V^T`` (thin SVD, ``V^T`` of shape ``(N, C)``
    with orthonormal rows), ``(X^T X / N + lambda I)^{-1} = V diag(1 / (s^2 / N + lambda)) V^T
    + (I - V V^T) / lambda``. The ridge term uses the explicit residual ``r = g - V V^T g``, so
    it is accurate to float32 round-off of ``g`` even where ``Sigma + lambda I`` has condition
    number ~1e8 (a float32 Cholesky factorisation of the ``C x C`` matrix, or an eigensolver of
    the Gram matrix ``X X^T``, loses the small-variance directions there).
    """
    mu = jnp.mean(samples, axis=0)
    m = (mu >= threshold).astype(samples.dtype)
    x = (samples - mu[None, :]) * m[None, :]
    g = grad * m
    _, sv, vt = jnp.linalg.svd(x, full_matrices=False)  # (K,), (K, C), K = min(N, C)
    p = vt @ g
    r = g - vt.T @ p
    quad = jnp.sum(p * p / (sv * sv / samples.shape[0] + ridge)) + jnp.sum(r * r) / ridge
    n = jnp.sum(m)
    return jnp.where(n > 0, quad / jnp.where(n > 0, n, 1.0), jnp.nan)


def population_fisher(
    grad: Float[ArrayLike, "... O C"],
    cov: Float[ArrayLike, "... O C C"],
    mean: Float[ArrayLike, "... O C"],
    *,
    ridge: float = FISHER_RIDGE,
    threshold: float = INCLUSION_THRESHOLD,
) -> Float[Array, "... O"]:
    r"""Population linear Fisher information per orientation, normalised per unit (Eq. 6).

    .. math:: \mathrm{FI}(\theta) = \frac{1}{n}\, f'(\theta)^\top
              \left(\Sigma(\theta) + \lambda I\right)^{-1} f'(\theta)

    over the ``n`` units whose mean response at ``theta`` is >= ``threshold`` (the others are
    excluded at that orientation; ``n`` varies with ``theta``); ``lambda`` = ``ridge``. NaN
    where no unit is included. Solved by Cholesky factorisation (``Sigma + lambda I`` is SPD).

    Args:
        grad: ``(..., O, C)`` tuning gradients ``f'``, per degree.
        cov: ``(..., O, C, C)`` response covariances (ddof 0), without the ridge.
        mean: ``(..., O, C)`` mean responses deciding inclusion at each orientation.
        ridge: ``lambda`` >= 0 (paper's code: 0.01; needed when ``C`` exceeds the samples).
        threshold: inclusion threshold on the mean, >= 0 (paper: 1.0).

    Returns:
        ``(..., O)`` FI in 1/degree^2.

    Raises:
        InputError: on inconsistent shapes or a negative ridge/threshold.

    Examples:
        >>> import numpy as np
        >>> g = np.array([[1.0, 2.0]]); v = np.array([[0.99, 3.99]])
        >>> cov = v[..., None] * np.eye(2)
        >>> round(float(population_fisher(g, cov, np.full((1, 2), 5.0))[0]), 6)  # (1 + 1) / 2
        1.0

    References:
        Wenliang & Seitz (2018), Eq. 6.
    """
    grad, mean = _curves(grad, "grad", 1), _curves(mean, "mean", 1)
    cov = _float(cov, "cov")
    _same_shape(grad, mean, "grad", "mean")
    if cov.shape != grad.shape + grad.shape[-1:]:
        raise InputError(
            f"cov must have shape (..., O, C, C) = {grad.shape + grad.shape[-1:]}, got {cov.shape}"
        )
    ridge = _nonneg(ridge, "ridge")
    threshold = _nonneg(threshold, "threshold")
    if ridge == 0:
        raise InputError("ridge must be > 0 (the covariance of few samples is singular)")
    dtype = jnp.result_type(grad, cov, mean)
    return _fisher_core(grad.astype(dtype), cov.astype(dtype), mean.astype(dtype), ridge, threshold)


# --------------------------------------------------------------------------------------------
# Recording (one jitted computation, vmapped over orientations and noise, mapped over networks)
# --------------------------------------------------------------------------------------------


class TuningRecording(NamedTuple):
    """Per-orientation statistics of centre units under the tuning protocol.

    Leading network axes ``(...)`` are ``()`` for one network or ``(B,)`` for a batch.

    Attributes:
        reference_deg: ``(...)`` TO of each network's grid, degrees.
        orientations_rel_deg: ``(O,)`` offsets from TO, degrees (``linspace(-90, 90, O)``).
        mean: ``{layer: (..., O, C)}`` sample mean responses (unsmoothed).
        var: ``{layer: (..., O, C)}`` sample variances, ddof 0 (unsmoothed).
        grad: ``{layer: (..., O, C)}`` tuning gradients ``d mean / d theta`` per degree, from the
            estimator chosen in ``record_tuning`` (``jacfwd``: exact, unsmoothed; ``smoothed``:
            the paper's derivative-of-Gaussian filter of ``mean``).
        fisher: ``{layer: (..., O)}`` population FI (Eq. 6) from ``grad``, the covariance
            (ddof 0) with the ridge and the units with mean >= the threshold at each orientation.
        num_noise: ``()`` int, noise samples per orientation.
    """

    reference_deg: Array
    orientations_rel_deg: np.ndarray
    mean: dict
    var: dict
    grad: dict
    fisher: dict
    num_noise: Array

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.mean)

    @property
    def spacing_deg(self) -> float:
        theta = np.asarray(self.orientations_rel_deg)
        return float(theta[1] - theta[0])


def _record_one(params, reference, key, offsets, consts, make_input, arch, layers, num_noise,
                block, gradient, ridge, threshold):  # fmt: skip
    """Statistics of one network on its grid ``reference + offsets``; see ``record_tuning``.

    The population FI is computed per orientation from the samples (``_fisher_from_samples``),
    so no ``(O, C, C)`` covariance is ever formed. For ``gradient="jacfwd"`` it happens inside
    the map over orientation blocks; for ``"smoothed"`` the ``(O, N, C)`` centre-unit samples
    are kept, the mean curves filtered, and the statistics formed in a second map.
    """
    num_o = offsets.shape[0]
    thetas = reference + jnp.asarray(offsets, jnp.float32)
    keys = jax.random.split(key, (num_o, num_noise))

    def inputs(theta, noise_keys):
        stim = stimuli.NoisyGaborStimulus(jnp.broadcast_to(theta, noise_keys.shape), noise_keys)
        return jax.vmap(make_input, in_axes=(0, None))(stim, consts)

    def responses(theta, noise_keys):
        images = inputs(theta, noise_keys)
        return centre_responses(params, images, arch, tuple(layers))  # (N, C): the cone only

    def stats_of(x, grad):
        mu = jnp.mean(x, axis=0)
        var = jnp.mean(jnp.square(x - mu[None, :]), axis=0)
        return mu, var, grad, _fisher_from_samples(grad, x, ridge, threshold)

    if gradient == "jacfwd":

        def one_orientation(theta, noise_keys):
            # the exact derivative of the sample mean (jax.jacfwd's value), the image tangent
            # shared by the samples (the noise is additive and independent of theta): conv1's
            # tangent is computed once
            images = inputs(theta, noise_keys)
            _, d_image = jax.jvp(
                lambda t: make_input.noiseless(t, consts), (theta,), (jnp.ones_like(theta),)
            )
            samples, tangents = receptive_field.centre_jvp(
                params, images, d_image, tuple(layers), arch
            )
            return {
                layer: stats_of(samples[layer], jnp.mean(tangents[layer], axis=0))
                for layer in layers
            }

        stats = blocked_map(lambda items: jax.vmap(one_orientation)(*items), (thetas, keys), block)
    else:
        # The filtered gradient needs the whole mean curve: keep the (O, N, C) samples (small:
        # centre units only), filter the means, then the per-orientation statistics and FI.
        samples = blocked_map(lambda items: jax.vmap(responses)(*items), (thetas, keys), block)
        filt = _circulant(num_o, GRADIENT_SMOOTHING_SAMPLES, 1) / float(offsets[1] - offsets[0])
        grads = {layer: _apply_filter(jnp.mean(samples[layer], 1), filt) for layer in layers}

        def one_block(items):
            x, g = items
            return {layer: jax.vmap(stats_of)(x[layer], g[layer]) for layer in layers}

        stats = blocked_map(one_block, (samples, grads), block)
    return {
        "mean": {layer: stats[layer][0] for layer in layers},
        "var": {layer: stats[layer][1] for layer in layers},
        "grad": {layer: stats[layer][2] for layer in layers},
        "fisher": {layer: stats[layer][3] for layer in layers},
    }


@jax.jit(
    static_argnames=(
        "offsets",
        "make_input",
        "arch",
        "layers",
        "num_noise",
        "block",
        "gradient",
        "ridge",
        "threshold",
        "batched",
    )
)
def _record_chunk(params, references, key, consts, offsets, make_input, arch, layers,
                  num_noise, block, gradient, ridge, threshold, batched):  # fmt: skip
    """``_record_one`` vmapped over a chunk of networks (``references`` ``(b,)``)."""
    offsets = np.asarray(offsets)

    def one(p, ref):
        return _record_one(p, ref, key, offsets, consts, make_input, arch, layers, num_noise,
                           block, gradient, ridge, threshold)  # fmt: skip

    return jax.vmap(one, in_axes=(0 if batched else None, 0))(params, references)


def record_tuning(
    key: Array,
    params: dict,
    reference_deg: Float[ArrayLike, "..."],
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layers: tuple[str, ...] = TUNING_LAYERS,
    num_orientations: int = 100,
    num_noise: int = 50,
    wavelength_px: float = 10.0,
    sigma_px: float = 50.0,
    contrast: float = 0.2,
    noise_sd: float = 15.0,
    size: int | None = None,
    gradient: str = "jacfwd",
    ridge: float = FISHER_RIDGE,
    threshold: float = INCLUSION_THRESHOLD,
    batch_size: int = 64,
    network_batch: int | None = None,
    progress: bool | None = None,
) -> TuningRecording:
    """Record tuning statistics and population FI of one network or a batch (spec 4.3-4.4).

    One jitted computation per chunk of ``network_batch`` networks (``vmap`` over the chunk; the
    chunks run in sequence through the same compiled program). For each block of orientations
    (``lax.map``) the Gabors at ``TO + linspace(-90, 90, O)`` with ``num_noise`` noise samples
    each are generated and run through the centre units' receptive-field cone
    (``recording.centre_responses``; ``vmap`` over orientations and samples). Per orientation:
    the centre units' mean and variance (ddof 0); the gradient, by
    ``jax.jacfwd`` of the sample mean with respect to the orientation (``gradient="jacfwd"``) or
    the paper's filter of the mean curve (``"smoothed"``); and the population FI of Eq. 6 with
    the covariance (ddof 0) + ``ridge * I``, evaluated exactly in the sample space (a thin SVD
    of the ``(N, C)`` centred samples, see ``_fisher_from_samples``) so that it is accurate in
    float32 and no ``(C, C)`` matrix is formed. Only ``(O, C)`` statistics and ``(O,)`` FI are
    returned; memory is bounded by one block of images (and, for ``"smoothed"``, the
    ``(O, N, C)`` centre-unit samples) per network of a chunk.

    The noise keys come from ``key`` split to ``(O, num_noise)``: every network of the batch
    sees the same noise, and a shifted reference keeps the same noise (for finite differences).

    Args:
        key: PRNG key for the pixel noise.
        params: conv1-5 params of ``arch``; either one network, or stacked on a leading axis
            ``B`` (then ``reference_deg`` must be ``(B,)``).
        reference_deg: TO in degrees: a scalar, or ``(B,)``. With one network and ``(B,)``
            references the network is recorded on every reference's grid (the naive network).
        arch: architecture spec.
        layers: layers whose centre units are recorded (default the paper's five).
        num_orientations: ``O`` >= 3 (paper: 100).
        num_noise: noise samples per orientation, >= 2 (paper: 50).
        wavelength_px, sigma_px: Gabor wavelength and envelope SD in pixels of the image
            drawn (``size``; paper: 10 and 50 at 227 px). For a network trained at another
            size use ``vpl_jax.stimuli.paper_px(10.0, size)``, or for its training stimulus
            ``config.image_px(condition.wavelength_px)`` and ``config.sigma_image_px`` of its
            ``vpl_jax.train.TrainConfig``.
        contrast, noise_sd: input ``contrast (G - 125) + N(0, noise_sd^2)`` (paper: 0.2, 15).
        size: image side in pixels (default ``arch.input_size``; >= 67 for Caffe AlexNet, the
            recorded unit is always the map centre).
        gradient: ``"jacfwd"`` (exact, default) or ``"smoothed"`` (the paper's filter).
        ridge: covariance ridge of the FI, > 0 (paper's code: 0.01).
        threshold: activity threshold for units entering the FI at an orientation (paper: 1.0).
        batch_size: images per block (at least one orientation's ``num_noise`` images per block).
        network_batch: networks vmapped together in one call (default 1).
        progress: show a tqdm bar over the chunks of networks on stderr; ``None`` (default):
            only when there is more than one chunk; ``False``: never.

    Returns:
        A ``TuningRecording`` with leading axis ``(B,)`` for batched references, ``()`` else.

    Raises:
        InputError: on an unknown layer or gradient, bad counts or sizes, mismatched batch
            shapes or params of the wrong architecture.
    """
    layers = check_layers(layers, arch)
    if gradient not in _GRADIENTS:
        raise InputError(f"gradient must be one of {_GRADIENTS}, got {gradient=}")
    num_o = _positive_int(num_orientations, "num_orientations", 3)
    num_noise = _positive_int(num_noise, "num_noise", 2)
    batch_size = _positive_int(batch_size, "batch_size")
    size = check_size(size, arch)
    ridge = _nonneg(ridge, "ridge")
    if ridge == 0:
        raise InputError("ridge must be > 0 (the covariance of few samples is singular)")
    threshold = _nonneg(threshold, "threshold")
    for name, value in (("wavelength_px", wavelength_px), ("sigma_px", sigma_px)):
        if not (math.isfinite(float(value)) and float(value) > 0):
            raise InputError(f"{name} must be a finite number > 0, got {name}={value!r}")
    _nonneg(contrast, "contrast")
    _nonneg(noise_sd, "noise_sd")

    refs = _float(reference_deg, "reference_deg").astype(jnp.float32)
    if refs.ndim > 1:
        raise InputError(f"reference_deg must be a scalar or (B,), got shape {refs.shape}")
    w1 = jnp.shape(params[arch.convs[0].name]["w"]) if arch.convs[0].name in params else None
    batched = w1 is not None and len(w1) == 5
    if batched:
        b = w1[0]
        if refs.shape != (b,):
            raise InputError(
                f"params are stacked over {b} networks, so reference_deg must have shape ({b},), "
                f"got {refs.shape}"
            )
        alexnet.check_params(jax.tree.map(lambda x: x[0], params), arch)
        leading = jax.tree.leaves(params)
        if any(jnp.shape(x)[0] != b for x in leading):
            raise InputError("every params leaf must have the same leading (network) axis")
    else:
        alexnet.check_params(params, arch)
    scalar = refs.ndim == 0
    refs_b = refs[None] if scalar else refs
    n_net = refs_b.shape[0]
    network_batch = 1 if network_batch is None else _positive_int(network_batch, "network_batch")
    network_batch = min(network_batch, n_net)
    if batched and scalar:
        raise InputError("stacked params need reference_deg of shape (B,)")
    offsets = relative_orientations(num_o)
    block = max(1, batch_size // num_noise)
    consts = stimuli.NoisyGaborParams(
        wavelength_px=wavelength_px, sigma_px=sigma_px, contrast=contrast, noise_sd=noise_sd
    ).as_arrays()
    make_input = stimuli.NoisyGaborInput(size, arch.in_channels)
    static = dict(
        offsets=tuple(float(t) for t in offsets),
        make_input=make_input,
        arch=arch,
        layers=layers,
        num_noise=num_noise,
        block=block,
        gradient=gradient,
        ridge=ridge,
        threshold=threshold,
        batched=batched,
    )
    # Chunks of ``network_batch`` networks (vmapped), one compiled program for all chunks (the
    # last is padded). A Python loop, not lax.map: a while loop around the per-orientation
    # Cholesky factorisations deadlocked XLA:CPU (jax 0.10.2).
    chunks = []
    starts = range(0, n_net, network_batch)
    if progress is None:
        progress = len(starts) > 1
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"tuning curves ({n_net} networks)", unit="chunk")
    for start in starts:
        idx = np.minimum(np.arange(start, start + network_batch), n_net - 1)
        chunk_params = jax.tree.map(lambda x, idx=idx: x[idx], params) if batched else params
        res = _record_chunk(chunk_params, refs_b[idx], key, consts, **static)
        keep = min(network_batch, n_net - start)
        chunks.append(jax.tree.map(lambda x, keep=keep: x[:keep], res))
        if progress:
            jax.block_until_ready(chunks[-1])  # the bar ticks when a chunk is done
    out = jax.tree.map(lambda *xs: jnp.concatenate(xs), *chunks) if len(chunks) > 1 else chunks[0]
    if scalar:
        out = jax.tree.map(lambda x: x[0], out)
    out = {field: {layer: out[field][layer] for layer in layers} for field in out}  # jit sorts
    return TuningRecording(
        reference_deg=refs,
        orientations_rel_deg=offsets,
        num_noise=jnp.asarray(num_noise),
        **out,
    )


# --------------------------------------------------------------------------------------------
# Unit attributes and the tables of the data contract
# --------------------------------------------------------------------------------------------


def unit_attributes(
    mean: Float[ArrayLike, "... O C"],
    var: Float[ArrayLike, "... O C"],
    grad: Float[ArrayLike, "... O C"],
    orientations_rel_deg: ArrayLike,
    *,
    gradient: str = "jacfwd",
    smoothing: float = MEAN_SMOOTHING_SAMPLES,
    ridge: float = FISHER_RIDGE,
    threshold: float = INCLUSION_THRESHOLD,
) -> dict[str, Array]:
    """All unit attributes of the contract from raw per-orientation statistics.

    ``mean`` and ``var`` are smoothed (``gaussian_smooth``, ``smoothing`` samples, wrap). The
    slope used by ``slope_to`` and ``best_disc`` is the slope of the smoothed mean: for
    ``gradient="jacfwd"`` the exact gradient smoothed with the same Gaussian, for
    ``"smoothed"`` ``grad`` as given (already the paper's derivative-of-Gaussian filter).
    ``fi_to`` is the single-unit FI at TO from the unsmoothed ``grad`` and ``var`` (linear
    interpolation at offset 0) with the ridge.

    Args:
        mean, var, grad: ``(..., O, C)`` raw statistics (``TuningRecording`` fields).
        orientations_rel_deg: concrete ``(O,)`` offsets from TO in degrees.
        gradient: which estimator ``grad`` comes from (``"jacfwd"`` or ``"smoothed"``).
        smoothing: Gaussian SD in samples for mean and variance (paper's code: 1).
        ridge: variance ridge of the single-unit FI and best discriminability.
        threshold: inclusion threshold on ``mean_activation``.

    Returns:
        ``{column: (..., C)}`` for ``mean_activation, included, po_rel_deg, amplitude, slope_to,
        si, norm_var_po, var_ratio, best_disc, fi_to`` and ``curve`` ``(..., O, C)`` (the
        smoothed mean).
    """
    if gradient not in _GRADIENTS:
        raise InputError(f"gradient must be one of {_GRADIENTS}, got {gradient=}")
    mean, var, grad = _curves(mean, "mean"), _curves(var, "var"), _curves(grad, "grad")
    _same_shape(mean, var, "mean", "var")
    _same_shape(mean, grad, "mean", "grad")
    theta = _rel_grid(orientations_rel_deg, mean.shape[-2])
    threshold = _nonneg(threshold, "threshold")
    mean_s = gaussian_smooth(mean, smoothing)
    var_s = gaussian_smooth(var, smoothing)
    slope = gaussian_smooth(grad, smoothing) if gradient == "jacfwd" else grad
    mean_activation = jnp.mean(mean_s, axis=-2)
    fi = single_unit_fisher(grad, var, ridge=ridge)
    return {
        "mean_activation": mean_activation,
        "included": is_included(mean_activation, threshold),
        "po_rel_deg": preferred_orientation(mean_s, theta),
        "amplitude": amplitude(mean_s),
        "slope_to": slope_at_reference(slope, mean_s, theta),
        "si": selectivity_index(mean_s, theta),
        "norm_var_po": normalised_variance_at_po(mean_s, var_s),
        "var_ratio": variance_ratio(mean_s, var_s),
        "best_disc": best_discriminability(slope, var_s, ridge=ridge),
        "fi_to": interpolate_at(fi, theta, 0.0),
        "curve": mean_s,
    }


def _network_meta(recording: TuningRecording, network, separation_deg, trained):
    refs = np.atleast_1d(np.asarray(recording.reference_deg, np.float64))
    b = refs.shape[0]

    def per_network(value, name, dtype):
        arr = np.asarray(value, dtype)
        if arr.ndim == 0:
            arr = np.full(b, arr, dtype)
        if arr.shape != (b,):
            raise InputError(f"{name} must be a scalar or have shape ({b},), got {arr.shape}")
        return arr

    network = per_network(0 if network is None else network, "network", np.int64)
    trained = per_network(True if trained is None else trained, "trained", bool)
    sep = per_network(np.nan if separation_deg is None else separation_deg, "separation_deg", float)
    sep = np.where(trained, sep, np.nan)
    return refs, network, sep, trained


def _batched(x, scalar_recording: bool) -> np.ndarray:
    x = np.asarray(x)
    return x[None] if scalar_recording else x


def unit_table(
    recording: TuningRecording,
    *,
    network=None,
    separation_deg=None,
    trained=None,
    gradient: str = "jacfwd",
    threshold: float = INCLUSION_THRESHOLD,
):
    """One row per (network, layer, unit) with the contract's columns (``UNIT_COLUMNS``).

    Rows are ordered network-major, then layer (recording order), then unit; ``unit_curves``
    returns the tuning curves in the same order.

    Args:
        recording: a ``TuningRecording`` of one network or a batch ``B``.
        network: int or ``(B,)`` network indices (the run's condition; -1 for the naive network;
            default 0).
        separation_deg: float or ``(B,)`` training separations in degrees (NaN where
            ``trained`` is False; default NaN).
        trained: bool or ``(B,)`` (default True).
        gradient: the estimator ``recording`` was made with (see ``unit_attributes``).
        threshold: inclusion threshold on ``mean_activation``.

    Returns:
        A ``pandas.DataFrame`` with columns ``UNIT_COLUMNS``.

    Raises:
        InputError: on metadata of the wrong shape.
    """
    import pandas as pd

    refs, network, sep, trained = _network_meta(recording, network, separation_deg, trained)
    scalar = np.ndim(recording.reference_deg) == 0
    frames = []
    per_layer = {}
    for layer in recording.layers:
        attrs = unit_attributes(
            recording.mean[layer],
            recording.var[layer],
            recording.grad[layer],
            recording.orientations_rel_deg,
            gradient=gradient,
            threshold=threshold,
        )
        per_layer[layer] = {k: _batched(v, scalar) for k, v in attrs.items() if k != "curve"}
    for b in range(refs.shape[0]):
        for layer in recording.layers:
            attrs = per_layer[layer]
            c = attrs["mean_activation"].shape[-1]
            frame = {
                "network": np.full(c, network[b], np.int64),
                "layer": np.full(c, layer, object),
                "layer_index": np.full(c, LAYER_INDEX.get(layer, -1), np.int64),
                "reference_deg": np.full(c, refs[b], np.float64),
                "separation_deg": np.full(c, sep[b], np.float64),
                "trained": np.full(c, trained[b], bool),
                "unit": np.arange(c, dtype=np.int64),
            }
            for col in UNIT_COLUMNS[7:]:
                dtype = bool if col == "included" else np.float64
                frame[col] = attrs[col][b].astype(dtype)
            frames.append(pd.DataFrame(frame, columns=list(UNIT_COLUMNS)))
    return pd.concat(frames, ignore_index=True)


def unit_curves(recording: TuningRecording) -> np.ndarray:
    """Smoothed mean tuning curves ``(n_rows, O)``, aligned row-for-row with ``unit_table``.

    Each row is the unit's mean curve on ``linspace(-90, 90, O) + TO`` smoothed with a Gaussian
    of 1 sample (wrap), as used for the attributes.
    """
    scalar = np.ndim(recording.reference_deg) == 0
    smoothed = {
        layer: _batched(gaussian_smooth(recording.mean[layer]), scalar)
        for layer in recording.layers
    }
    b = next(iter(smoothed.values())).shape[0]
    rows = [smoothed[layer][i].T for i in range(b) for layer in recording.layers]
    return np.concatenate(rows, axis=0).astype(np.float64)


FISHER_COLUMNS = (
    "network",
    "layer",
    "layer_index",
    "reference_deg",
    "separation_deg",
    "trained",
    "orientation_rel_deg",
    "fi",
)
"""Columns of ``fisher_frame`` (long format, one row per network, layer and orientation)."""


def fisher_frame(recording: TuningRecording, *, network=None, separation_deg=None, trained=None):
    """Population FI curves in long format: one row per (network, layer, orientation).

    Args:
        recording: a ``TuningRecording`` (one network or a batch).
        network, separation_deg, trained: as in ``unit_table``.

    Returns:
        A ``pandas.DataFrame`` with columns ``FISHER_COLUMNS`` (``orientation_rel_deg``: test
        orientation minus TO in degrees; ``fi`` in 1/degree^2).
    """
    import pandas as pd

    refs, network, sep, trained = _network_meta(recording, network, separation_deg, trained)
    scalar = np.ndim(recording.reference_deg) == 0
    theta = np.asarray(recording.orientations_rel_deg, np.float64)
    frames = []
    for b in range(refs.shape[0]):
        for layer in recording.layers:
            fi = _batched(recording.fisher[layer], scalar)[b]
            o = theta.size
            frames.append(
                pd.DataFrame(
                    {
                        "network": np.full(o, network[b], np.int64),
                        "layer": np.full(o, layer, object),
                        "layer_index": np.full(o, LAYER_INDEX.get(layer, -1), np.int64),
                        "reference_deg": np.full(o, refs[b]),
                        "separation_deg": np.full(o, sep[b]),
                        "trained": np.full(o, trained[b], bool),
                        "orientation_rel_deg": theta,
                        "fi": np.asarray(fi, np.float64),
                    },
                    columns=list(FISHER_COLUMNS),
                )
            )
    return pd.concat(frames, ignore_index=True)


def fisher_at_reference(fisher):
    """Population FI at TO per (network, layer, reference): linear interpolation at offset 0.

    Args:
        fisher: a ``fisher_frame`` DataFrame.

    Returns:
        A ``pandas.DataFrame`` with the identifying columns of ``fisher_frame`` and ``fi`` (the
        layer-level FI of the initial-sensitivity regression, Eq. 7, for naive rows).
    """
    keys = ["network", "layer", "layer_index", "reference_deg", "separation_deg", "trained"]
    missing = set(FISHER_COLUMNS) - set(fisher.columns)
    if missing:
        raise InputError(f"fisher is not a fisher_frame (missing columns {sorted(missing)})")

    def at_zero(group):
        g = group.sort_values("orientation_rel_deg")
        return float(np.interp(0.0, g["orientation_rel_deg"], g["fi"]))

    out = (
        fisher.groupby(keys, dropna=False, sort=False)[["orientation_rel_deg", "fi"]]
        .apply(at_zero)
        .rename("fi")
        .reset_index()
    )
    return out


class TuningAnalysis(NamedTuple):
    """Output of ``tuning_analysis``.

    Attributes:
        recording: the ``TuningRecording``.
        fisher: ``fisher_frame`` (FI vs orientation per layer and network).
        units: ``unit_table`` (the contract's DataFrame).
        curves: ``unit_curves`` ``(len(units), O)``.
    """

    recording: TuningRecording
    fisher: object
    units: object
    curves: np.ndarray


def tuning_analysis(
    key: Array,
    params: dict,
    reference_deg: Float[ArrayLike, "..."],
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    network=None,
    separation_deg=None,
    trained=None,
    gradient: str = "jacfwd",
    **protocol,
) -> TuningAnalysis:
    """Record one network (or a batch) and return FI curves per layer and the unit table.

    Args:
        key: PRNG key for the pixel noise.
        params, reference_deg, arch: as in ``record_tuning`` (one network, a stacked batch, or
            one network on several references).
        network, separation_deg, trained: per-network metadata (see ``unit_table``).
        gradient: ``"jacfwd"`` or ``"smoothed"``.
        **protocol: further keyword arguments of ``record_tuning`` (``num_orientations``,
            ``num_noise``, ``size``, ``layers``, ...).

    Returns:
        A ``TuningAnalysis``.
    """
    rec = record_tuning(key, params, reference_deg, arch, gradient=gradient, **protocol)
    threshold = protocol.get("threshold", INCLUSION_THRESHOLD)
    meta = dict(network=network, separation_deg=separation_deg, trained=trained)
    return TuningAnalysis(
        recording=rec,
        fisher=fisher_frame(rec, **meta),
        units=unit_table(rec, gradient=gradient, threshold=threshold, **meta),
        curves=unit_curves(rec),
    )


def included_mask(
    recording: TuningRecording, layer: str, *, threshold: float = INCLUSION_THRESHOLD
) -> Bool[Array, "... C"]:
    """Units of ``layer`` included by the rule of ``vpl_jax.analysis.recording.is_included``.

    The mean activation is the mean over the recording's orientation grid (``TO + linspace(-90,
    90, O)``, ``num_noise`` samples each) of the unsmoothed mean responses.

    Args:
        recording: a ``TuningRecording``.
        layer: a recorded layer.
        threshold: inclusion threshold, finite and >= 0 (default 1.0).

    Returns:
        ``(..., C)`` boolean mask.

    Raises:
        InputError: on a layer that was not recorded or a bad threshold.
    """
    if layer not in recording.mean:
        raise InputError(f"layer {layer!r} not recorded; recorded: {recording.layers}")
    threshold = check_inclusion_threshold(threshold)
    return is_included(jnp.mean(recording.mean[layer], axis=-2), threshold)
