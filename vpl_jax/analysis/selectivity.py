"""Orientation selectivity of network units (seed 004), Gabor fits of conv1 filters, ablation.

Conventions:

* **Responses** to a grating set are arrays of shape ``(..., O, S, P)``: any leading unit axes,
  then orientations, spatial frequencies (wavelengths) and phases. A *tuning curve* has shape
  ``(..., O)``. Responses are in network units (post-ReLU activations are >= 0).
* **Orientations** are in degrees on the 180-degree cycle, in the convention of the stimuli that
  produced the responses (``vpl_jax.stimuli``: 0 deg = vertical stripes, clockwise on screen).
  A grid of orientations is a concrete (non-traced) array: it is part of the stimulus set.
* **gOSI** (seed 004, Eq. 2; Woergoetter & Eysel 1987) of a tuning curve ``R_k`` is
  ``|sum_k R_k exp(2 i theta_k)| / sum_k R_k``, i.e. one minus the circular variance. A unit is
  *orientation-selective* when gOSI > 0.33.
* **Keys**: every stochastic function takes a PRNG key as its first positional argument.

All functions are pure; the JAX ones are jit-compatible in their array arguments.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from vpl_jax import alexnet, stimuli

SELECTIVITY_THRESHOLD = 0.33
"""Seed 004's criterion: a unit with gOSI > 0.33 is orientation-selective."""

INCLUSION_THRESHOLD = 1.0
"""Seed 000's tuning protocol keeps units whose mean activation is >= 1.0 (paper; code: > 1.0)."""

PROTOCOL_LAYERS = ("norm1", "norm2", "conv3", "conv4", "conv5")
"""Layers whose centre units seed 000 records tuning curves from (spec of seed 000, section 4.3)."""


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _float_array(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if not jnp.issubdtype(x.dtype, jnp.number) and x.dtype != jnp.bool_:
            raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
        x = x.astype(jnp.float32)
    return x


def _orientation_grid(orientations_deg: ArrayLike, n: int, name: str = "orientations_deg"):
    """Check a concrete 1-D orientation grid of length ``n`` and return it as a NumPy array."""
    try:
        theta = np.asarray(orientations_deg, dtype=np.float64)
    except jax.errors.ConcretizationTypeError:
        raise TypeError(
            f"{name} must be a concrete array (a stimulus grid), not a traced value"
        ) from None
    if theta.ndim != 1:
        raise ValueError(f"{name} must be 1-D (O,), got shape {theta.shape}")
    if theta.shape[0] != n:
        raise ValueError(
            f"{name} has {theta.shape[0]} orientations but the responses have {n} along the "
            "orientation axis"
        )
    if n < 2:
        raise ValueError(f"{name} needs at least 2 orientations, got {n}")
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"{name} must be finite, got {theta}")
    return theta


def _check_threshold(threshold: float, name: str = "threshold") -> float:
    try:
        value = float(threshold)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(f"{name} must be a Python number, got {type(threshold).__name__}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1] (a gOSI value), got {threshold=}")
    return value


def _check_responses(responses: ArrayLike, name: str = "responses") -> Array:
    responses = _float_array(responses, name)
    if responses.ndim < 3:
        raise ValueError(
            f"{name} must have shape (..., O, S, P) (orientations, spatial frequencies, phases), "
            f"got shape {responses.shape}"
        )
    return responses


# --------------------------------------------------------------------------------------------
# gOSI and tuning
# --------------------------------------------------------------------------------------------


def _resultant(tuning: Array, theta_deg: np.ndarray) -> tuple[Array, Array, Array]:
    """``(sum r cos 2theta, sum r sin 2theta, sum r)`` of rectified tuning curves."""
    r = jnp.maximum(tuning, 0)
    two_theta = np.deg2rad(2.0 * theta_deg)
    cos = jnp.asarray(np.cos(two_theta), r.dtype)
    sin = jnp.asarray(np.sin(two_theta), r.dtype)
    return r @ cos, r @ sin, jnp.sum(r, axis=-1)


def _safe_ratio(num_sq: Array, den: Array) -> Array:
    """``sqrt(num_sq) / den``, 0 where ``den <= 0``; double ``where`` keeps gradients finite."""
    pos = num_sq > 0
    num = jnp.where(pos, jnp.sqrt(jnp.where(pos, num_sq, 1)), 0)
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def gosi(tuning: Float[ArrayLike, "... O"], orientations_deg: ArrayLike) -> Float[Array, "..."]:
    r"""Global orientation selectivity index of tuning curves (seed 004, Eq. 2).

    .. math:: \mathrm{gOSI} = \frac{\left|\sum_k R_k e^{2 i \theta_k}\right|}{\sum_k R_k}

    Responses are rectified (``max(R, 0)``) first: the index is defined for non-negative
    responses, and post-ReLU activations are non-negative anyway; with negative values the ratio
    could exceed 1 or change sign. A unit whose rectified responses are all 0 gets gOSI = 0 (the
    seed code's convention for silent units). The value lies in [0, 1]; it is invariant to a
    rotation of the tuning curve on the orientation grid and to a positive rescaling.

    Args:
        tuning: responses ``(..., O)`` at the orientations ``orientations_deg``.
        orientations_deg: concrete ``(O,)`` grid in degrees (any convention; only differences
            matter). For gOSI = 0 of a flat curve the grid must be equally spaced over 180 deg.

    Returns:
        ``(...)`` gOSI values.

    Raises:
        ValueError: if ``orientations_deg`` is not 1-D of length ``O`` (>= 2).

    Examples:
        >>> import numpy as np
        >>> theta = np.arange(12) * 15.0
        >>> round(float(gosi(1 + np.cos(np.deg2rad(2 * (theta - 30))), theta)), 6)
        0.5

    References:
        Woergoetter & Eysel (1987) Biol. Cybern. 57:349; seed 004 (Ukita), Eq. 2.
    """
    tuning = _float_array(tuning, "tuning")
    if tuning.ndim < 1:
        raise ValueError(f"tuning must have shape (..., O), got shape {tuning.shape}")
    theta = _orientation_grid(orientations_deg, tuning.shape[-1])
    return _gosi_core(tuning, tuple(theta.tolist()))


@jax.jit(static_argnums=1)
def _gosi_core(tuning, theta):
    c, s, total = _resultant(tuning, np.asarray(theta))
    return _safe_ratio(c * c + s * s, total)


def preferred_orientation(
    tuning: Float[ArrayLike, "... O"], orientations_deg: ArrayLike
) -> Float[Array, "..."]:
    """Preferred orientation by the vector average, ``arg(sum_k R_k e^{2 i theta_k}) / 2``.

    Args:
        tuning: responses ``(..., O)`` (rectified as in ``gosi``).
        orientations_deg: concrete ``(O,)`` grid in degrees.

    Returns:
        ``(...)`` preferred orientations in degrees in [0, 180), in the grid's convention
        (0 for a silent or perfectly flat unit).

    Examples:
        >>> import numpy as np
        >>> theta = np.arange(12) * 15.0
        >>> round(float(preferred_orientation(1 + np.cos(np.deg2rad(2 * (theta - 100))), theta)), 4)
        100.0
    """
    tuning = _float_array(tuning, "tuning")
    if tuning.ndim < 1:
        raise ValueError(f"tuning must have shape (..., O), got shape {tuning.shape}")
    theta = _orientation_grid(orientations_deg, tuning.shape[-1])
    return _preferred_core(tuning, tuple(theta.tolist()))


@jax.jit(static_argnums=1)
def _preferred_core(tuning, theta):
    c, s, _ = _resultant(tuning, np.asarray(theta))
    return jnp.mod(jnp.rad2deg(jnp.arctan2(s, c)) / 2, 180.0)


class OrientationTuning(NamedTuple):
    """Seed 004's reduction of a unit's grating responses to one tuning curve.

    Attributes:
        gosi: ``(...)`` gOSI of ``tuning``.
        tuning: ``(..., O)`` responses maximised over phase, at the best spatial frequency.
        best_frequency: ``(...)`` int index of the spatial frequency with the largest response.
        preferred_orientation_deg: ``(...)`` vector-average preferred orientation, [0, 180).
        peak: ``(...)`` the largest response over the whole grating set (0 for a silent unit).
    """

    gosi: Float[Array, "..."]
    tuning: Float[Array, "... O"]
    best_frequency: Int[Array, "..."]
    preferred_orientation_deg: Float[Array, "..."]
    peak: Float[Array, "..."]


def orientation_tuning(
    responses: Float[ArrayLike, "... O S P"], orientations_deg: ArrayLike
) -> OrientationTuning:
    """Max over phase, the best spatial frequency, then gOSI (seed 004, section 2.2).

    Args:
        responses: ``(..., O, S, P)`` responses of units to gratings at ``O`` orientations,
            ``S`` spatial frequencies and ``P`` phases.
        orientations_deg: concrete ``(O,)`` orientation grid in degrees.

    Returns:
        An ``OrientationTuning`` whose fields have the leading shape ``(...)``.

    Raises:
        ValueError: on a responses array of rank < 3 or a grid of the wrong length.

    Examples:
        >>> import numpy as np
        >>> theta = np.arange(12) * 15.0
        >>> curve = 1 + np.cos(np.deg2rad(2 * (theta - 45)))
        >>> resp = curve[:, None, None] * np.array([0.5, 1.0])[:, None] * np.ones(4)
        >>> t = orientation_tuning(resp, theta)
        >>> round(float(t.gosi), 6), int(t.best_frequency), round(float(t.preferred_orientation_deg), 4)
        (0.5, 1, 45.0)
    """
    responses = _check_responses(responses)
    theta = _orientation_grid(orientations_deg, responses.shape[-3])
    return _tuning_core(responses, tuple(theta.tolist()))


@jax.jit(static_argnums=1)
def _tuning_core(responses, theta):
    rmax = jnp.max(responses, axis=-1)  # (..., O, S)
    best = jnp.argmax(jnp.max(rmax, axis=-2), axis=-1)  # (...)
    tuning = jnp.take_along_axis(rmax, best[..., None, None], axis=-1)[..., 0]
    c, s, total = _resultant(tuning, np.asarray(theta))
    return OrientationTuning(
        gosi=_safe_ratio(c * c + s * s, total),
        tuning=tuning,
        best_frequency=best,
        preferred_orientation_deg=jnp.mod(jnp.rad2deg(jnp.arctan2(s, c)) / 2, 180.0),
        peak=jnp.maximum(jnp.max(rmax, axis=(-2, -1)), 0),
    )


def is_selective(
    gosi_values: Float[ArrayLike, "..."], threshold: float = SELECTIVITY_THRESHOLD
) -> Bool[Array, "..."]:
    """``gosi_values > threshold`` (seed 004: orientation-selective means gOSI > 0.33).

    Raises:
        ValueError: if ``threshold`` is outside [0, 1].
    """
    threshold = _check_threshold(threshold)
    return _float_array(gosi_values, "gosi_values") > threshold


def fraction_selective(
    gosi_values: Float[ArrayLike, "... U"],
    threshold: float = SELECTIVITY_THRESHOLD,
    *,
    where: Bool[ArrayLike, "... U"] | None = None,
) -> Float[Array, "..."]:
    """Fraction of units (last axis) with gOSI > ``threshold``, among those where ``where`` is True.

    Args:
        gosi_values: ``(..., U)`` gOSI of ``U`` units.
        threshold: selectivity criterion in [0, 1].
        where: optional ``(..., U)`` mask of the units to count (e.g. responsive units).

    Returns:
        ``(...)`` fractions in [0, 1] (NaN when no unit is counted).

    Raises:
        ValueError: if ``threshold`` is outside [0, 1] or ``where`` has another shape.
    """
    sel = is_selective(gosi_values, threshold)
    if where is None:
        where = jnp.ones(sel.shape, bool)
    where = jnp.asarray(where, bool)
    if where.shape != sel.shape:
        raise ValueError(f"where must have the shape of gosi_values {sel.shape}, got {where.shape}")
    n = jnp.sum(where, axis=-1)
    return jnp.sum(sel & where, axis=-1) / jnp.where(n > 0, n, jnp.nan)


# --------------------------------------------------------------------------------------------
# Shuffle control
# --------------------------------------------------------------------------------------------

_SHUFFLE_MODES = ("matrix", "orientation")


def shuffled_gosi(
    key: Array,
    responses: Float[ArrayLike, "... O S P"],
    orientations_deg: ArrayLike,
    *,
    num_shuffles: int = 100,
    mode: str = "matrix",
    per_unit: bool = True,
) -> Float[Array, "num_shuffles ..."]:
    """gOSI after shuffling the stimulus labels of the responses: seed 004's control.

    Args:
        key: PRNG key.
        responses: ``(..., O, S, P)`` grating responses.
        orientations_deg: concrete ``(O,)`` grid in degrees.
        num_shuffles: number of independent shuffles (>= 1).
        mode: ``"matrix"`` permutes all ``O * S * P`` entries of a unit's activation matrix
            before the max over phase and the choice of the best frequency (the paper's
            control); ``"orientation"`` permutes only the orientation labels of the tuning curve.
        per_unit: a fresh permutation for every unit (the paper's text) if True; one permutation
            per shuffle shared by all units (the seed's code) if False.

    Returns:
        ``(num_shuffles, ...)`` gOSI of the shuffled responses.

    Raises:
        ValueError: on an unknown ``mode``, ``num_shuffles < 1`` or bad shapes.

    Examples:
        >>> import jax, numpy as np
        >>> theta = np.arange(12) * 15.0
        >>> resp = np.random.default_rng(0).exponential(size=(5, 12, 3, 4))
        >>> shuffled_gosi(jax.random.key(0), resp, theta, num_shuffles=7).shape
        (7, 5)
    """
    if mode not in _SHUFFLE_MODES:
        raise ValueError(f"mode must be one of {_SHUFFLE_MODES}, got {mode=}")
    if int(num_shuffles) != num_shuffles or num_shuffles < 1:
        raise ValueError(f"num_shuffles must be an integer >= 1, got {num_shuffles=}")
    responses = _check_responses(responses)
    theta = _orientation_grid(orientations_deg, responses.shape[-3])
    return _shuffled_gosi(
        key,
        responses,
        tuple(float(t) for t in theta),
        int(num_shuffles),
        mode,
        bool(per_unit),
    )


@jax.jit(static_argnums=(2, 3, 4, 5))
def _shuffled_gosi(key, responses, theta, num_shuffles, mode, per_unit):
    theta = np.asarray(theta)
    lead = responses.shape[:-3]
    o, s, p = responses.shape[-3:]
    flat = responses.reshape((-1, o, s, p))
    u = flat.shape[0]
    if mode == "orientation":
        # Max over phase and the best frequency do not depend on the orientation labels.
        base = orientation_tuning(flat, theta).tuning  # (U, O)
        entries, size = base, o
    else:
        entries, size = flat.reshape((u, o * s * p)), o * s * p

    def permute(k):
        # Sorting i.i.d. 32-bit keys gives a uniform random permutation (ties have probability
        # ~size^2 / 2^33 and are broken by position); one sort per shuffle, vectorised over units.
        bits = jax.random.bits(k, (u if per_unit else 1, size))
        order = jnp.broadcast_to(jnp.argsort(bits, axis=-1), entries.shape)
        return jnp.take_along_axis(entries, order, axis=-1)

    def one(k):
        shuffled = permute(k)
        if mode == "orientation":
            return gosi(shuffled, theta)
        return orientation_tuning(shuffled.reshape((u, o, s, p)), theta).gosi

    out = jax.lax.map(one, jax.random.split(key, num_shuffles))
    return out.reshape((num_shuffles, *lead))


def permutation_chance_gosi(tuning: Float[ArrayLike, "... O"]) -> Float[Array, "..."]:
    r"""Root-mean-square gOSI of a tuning curve whose orientation labels are permuted at random.

    For ``N`` orientations equally spaced over 180 deg (so that ``sum_k e^{2 i theta_k} = 0``) and
    a uniformly random permutation of the rectified responses ``r``,

    .. math:: E\left[\mathrm{gOSI}^2\right] = \frac{N \sum_k r_k^2 - (\sum_k r_k)^2}{(N - 1)(\sum_k r_k)^2}
              = \frac{\mathrm{CV}^2}{N},

    with ``CV`` the coefficient of variation (sample standard deviation over the mean) of the
    responses. It is the chance level of the ``mode="orientation"`` shuffle control.

    Args:
        tuning: ``(..., O)`` responses, ``O >= 2``.

    Returns:
        ``(...)`` ``sqrt(E[gOSI^2])`` (0 for a silent unit).

    Examples:
        >>> round(float(permutation_chance_gosi([1.0, 0.0, 0.0, 0.0])), 6)  # CV^2 = 4
        1.0
    """
    tuning = _float_array(tuning, "tuning")
    if tuning.ndim < 1 or tuning.shape[-1] < 2:
        raise ValueError(f"tuning must have shape (..., O) with O >= 2, got {tuning.shape}")
    r = jnp.maximum(tuning, 0)
    n = r.shape[-1]
    total = jnp.sum(r, axis=-1)
    num = jnp.maximum(n * jnp.sum(r * r, axis=-1) - total * total, 0) / (n - 1)
    return _safe_ratio(num, total)


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------


def _weights(where, shape, name):
    if where is None:
        return jnp.ones(shape, jnp.int32)
    where = jnp.asarray(where)
    if where.shape != shape:
        raise ValueError(f"where must have shape {shape}, got {where.shape}")
    return where.astype(jnp.int32)


def orientation_coverage(
    preferred_orientation_deg: Float[ArrayLike, "..."],
    *,
    num_bins: int = 12,
    where: Bool[ArrayLike, "..."] | None = None,
) -> Int[Array, " num_bins"]:
    """Histogram of preferred orientations on the 180-degree cycle.

    Bin ``k`` is centred on ``k * 180 / num_bins`` deg (so a 12-orientation grid falls on the
    centres) and wraps around: 179 deg counts in bin 0.

    Args:
        preferred_orientation_deg: preferred orientations in degrees, any shape.
        num_bins: number of bins (>= 1).
        where: optional mask of the same shape (e.g. the selective units).

    Returns:
        ``(num_bins,)`` integer counts.
    """
    if int(num_bins) != num_bins or num_bins < 1:
        raise ValueError(f"num_bins must be an integer >= 1, got {num_bins=}")
    po = _float_array(preferred_orientation_deg, "preferred_orientation_deg")
    weights = _weights(where, po.shape, "where")
    width = 180.0 / num_bins
    idx = jnp.floor(jnp.mod(po + width / 2, 180.0) / width).astype(jnp.int32)
    idx = jnp.clip(idx, 0, num_bins - 1)
    return jnp.zeros(num_bins, jnp.int32).at[idx.ravel()].add(weights.ravel())


def frequency_coverage(
    best_frequency: Int[ArrayLike, "..."],
    num_frequencies: int,
    *,
    where: Bool[ArrayLike, "..."] | None = None,
) -> Int[Array, " num_frequencies"]:
    """Counts of units per preferred (best) spatial-frequency index.

    Args:
        best_frequency: integer indices into the frequency grid, any shape.
        num_frequencies: length of the frequency grid.
        where: optional mask of the same shape.

    Returns:
        ``(num_frequencies,)`` integer counts.
    """
    if int(num_frequencies) != num_frequencies or num_frequencies < 1:
        raise ValueError(f"num_frequencies must be an integer >= 1, got {num_frequencies=}")
    best = jnp.asarray(best_frequency)
    if not jnp.issubdtype(best.dtype, jnp.integer):
        raise TypeError(f"best_frequency must hold integer indices, got dtype {best.dtype}")
    weights = _weights(where, best.shape, "where")
    return jnp.zeros(num_frequencies, jnp.int32).at[best.ravel()].add(weights.ravel(), mode="drop")


# --------------------------------------------------------------------------------------------
# Included units of the paper's tuning protocol
# --------------------------------------------------------------------------------------------


def included_units(
    responses: Float[ArrayLike, "... U"], *, threshold: float = INCLUSION_THRESHOLD
) -> Bool[Array, " U"]:
    """Units whose mean activation over all stimuli is >= ``threshold`` (seed 000, section 4.3).

    Args:
        responses: ``(..., U)``: all leading axes index stimuli (e.g. orientations x noise
            samples), the last axis indexes units.
        threshold: activation threshold, >= 0 (the paper's 1.0, in network units).

    Returns:
        ``(U,)`` boolean mask.

    Raises:
        ValueError: on a responses array of rank < 2 or a negative/non-finite threshold.
    """
    responses = _float_array(responses, "responses")
    if responses.ndim < 2:
        raise ValueError(
            f"responses must have shape (..., U) with at least one stimulus axis, got {responses.shape}"
        )
    value = float(threshold)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"threshold must be a finite activation >= 0, got {threshold=}")
    mean = jnp.mean(responses.reshape((-1, responses.shape[-1])), axis=0)
    return mean >= value


def included_unit_count(
    responses: Float[ArrayLike, "... U"], *, threshold: float = INCLUSION_THRESHOLD
) -> Int[Array, ""]:
    """Number of units included by the paper's criterion (see ``included_units``)."""
    return jnp.sum(included_units(responses, threshold=threshold))


# --------------------------------------------------------------------------------------------
# Gabor fits of conv1 filters
# --------------------------------------------------------------------------------------------

GABOR_PARAM_NAMES = (
    "amplitude",
    "x0",
    "y0",
    "theta_deg",
    "sigma_x",
    "sigma_y",
    "frequency",
    "phase_deg",
    "offset",
)
"""Columns of ``GaborFit.params``: see ``gabor_kernel``."""


def _kernel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    # The shared convention of theory.stimuli: x = col - c right, y = c - row up.
    x = np.arange(width, dtype=np.float64) - (width - 1) / 2.0
    y = (height - 1) / 2.0 - np.arange(height, dtype=np.float64)
    return np.broadcast_to(x[None, :], (height, width)), np.broadcast_to(
        y[:, None], (height, width)
    )


def gabor_kernel(params: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """Evaluate Gabor functions on a kernel's pixel grid (NumPy).

    ``g = A exp(-x'^2 / (2 sx^2) - y'^2 / (2 sy^2)) cos(2 pi f x' + phi) + c`` with
    ``x' = (x - x0) cos(theta) + (y - y0) sin(theta)``, ``y' = -(x - x0) sin(theta) + (y - y0) cos(theta)``
    on the shared pixel grid (``x = col - (W-1)/2`` right, ``y = (H-1)/2 - row`` up); ``theta`` is
    the direction of the carrier's wave vector, ``f`` its frequency in cycles/px.

    Args:
        params: ``(..., 9)`` in the order of ``GABOR_PARAM_NAMES`` (angles in degrees).
        shape: ``(H, W)`` of the kernel.

    Returns:
        ``(..., H, W)`` float64 array.
    """
    p = np.asarray(params, dtype=np.float64)
    if p.shape[-1:] != (len(GABOR_PARAM_NAMES),):
        raise ValueError(f"params must have shape (..., {len(GABOR_PARAM_NAMES)}), got {p.shape}")
    x, y = _kernel_grid(*shape)
    a, x0, y0, th, sx, sy, f, ph, c = (p[..., i, None, None] for i in range(p.shape[-1]))
    th, ph = np.deg2rad(th), np.deg2rad(ph)
    dx, dy = x - x0, y - y0
    xr = dx * np.cos(th) + dy * np.sin(th)
    yr = -dx * np.sin(th) + dy * np.cos(th)
    env = np.exp(-(xr**2) / (2 * sx**2) - yr**2 / (2 * sy**2))
    return a * env * np.cos(2 * np.pi * f * xr + ph) + c


def _gabor_jacobian(params: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Analytic Jacobian of ``gabor_kernel(params, shape).ravel()``: ``(H * W, 9)``."""
    x, y = _kernel_grid(*shape)
    a, x0, y0, th, sx, sy, f, ph, _ = params
    th, ph = np.deg2rad(th), np.deg2rad(ph)
    cos_t, sin_t = np.cos(th), np.sin(th)
    dx, dy = x - x0, y - y0
    xr = dx * cos_t + dy * sin_t
    yr = -dx * sin_t + dy * cos_t
    env = np.exp(-(xr**2) / (2 * sx**2) - yr**2 / (2 * sy**2))
    arg = 2 * np.pi * f * xr + ph
    c, s = np.cos(arg), np.sin(arg)
    d_xr = a * env * (-xr / sx**2 * c - 2 * np.pi * f * s)
    d_yr = a * env * c * (-yr / sy**2)
    deg = np.pi / 180.0
    cols = [
        env * c,
        -cos_t * d_xr + sin_t * d_yr,
        -sin_t * d_xr - cos_t * d_yr,
        (yr * d_xr - xr * d_yr) * deg,
        a * env * c * xr**2 / sx**3,
        a * env * c * yr**2 / sy**3,
        -a * env * s * 2 * np.pi * xr,
        -a * env * s * deg,
        np.ones_like(x),
    ]
    return np.stack([col.ravel() for col in cols], axis=1)


class GaborFit(NamedTuple):
    """Least-squares Gabor fits of ``K`` kernels.

    Attributes:
        params: ``(K, 9)`` fitted parameters (``GABOR_PARAM_NAMES``; angles in degrees).
        r2: ``(K,)`` coefficient of determination ``1 - SS_res / SS_tot`` (``SS_tot`` about the
            kernel's mean); 0 for a constant kernel.
        orientation_deg: ``(K,)`` orientation of the fitted carrier in the stimulus convention
            (0 deg = vertical stripes, clockwise), in [0, 180).
        wavelength_px: ``(K,)`` carrier wavelength ``1 / f`` in pixels (inf for ``f = 0``).
    """

    params: np.ndarray
    r2: np.ndarray
    orientation_deg: np.ndarray
    wavelength_px: np.ndarray


def _gabor_inits(kernels: np.ndarray, pad: int = 64) -> np.ndarray:
    """Vectorised initial guesses from each kernel's FFT peak and energy moments: ``(K, 9)``."""
    k, h, w = kernels.shape
    x, y = _kernel_grid(h, w)
    centred = kernels - kernels.mean(axis=(1, 2), keepdims=True)
    spectrum = np.abs(np.fft.fft2(centred, s=(pad, pad))) ** 2
    spectrum[:, 0, 0] = 0.0
    peak = spectrum.reshape(k, -1).argmax(axis=1)
    row_f = np.fft.fftfreq(pad)[peak // pad]  # cycles/px along +row = -y
    col_f = np.fft.fftfreq(pad)[peak % pad]  # cycles/px along +x
    fx, fy = col_f, -row_f
    energy = centred**2
    mass = energy.sum(axis=(1, 2))
    mass = np.where(mass > 0, mass, 1.0)
    x0 = (energy * x).sum(axis=(1, 2)) / mass
    y0 = (energy * y).sum(axis=(1, 2)) / mass
    var = (energy * ((x - x0[:, None, None]) ** 2 + (y - y0[:, None, None]) ** 2)).sum(
        axis=(1, 2)
    ) / (2 * mass)
    # The squared envelope has width sigma / sqrt(2); sigma is bounded in the fit below.
    sigma = np.clip(np.sqrt(2 * var), 1.0, max(h, w) / 2)
    proj = (
        centred
        * np.exp(
            -2j
            * np.pi
            * (
                fx[:, None, None] * (x - x0[:, None, None])
                + fy[:, None, None] * (y - y0[:, None, None])
            )
        )
    ).sum(axis=(1, 2))
    phase = np.angle(proj)
    amp = np.abs(centred).max(axis=(1, 2))
    theta = np.arctan2(fy, fx)
    freq = np.hypot(fx, fy)
    return np.stack(
        [
            amp,
            x0,
            y0,
            np.rad2deg(theta),
            sigma,
            sigma,
            freq,
            np.rad2deg(phase),
            kernels.mean(axis=(1, 2)),
        ],
        axis=1,
    )


def fit_gabors(kernels: ArrayLike, *, num_starts: int = 3) -> GaborFit:
    """Fit a 2-D Gabor (``gabor_kernel``) to each kernel by least squares, and report R^2.

    Each kernel is fitted with ``scipy.optimize.least_squares`` (trust-region reflective, with
    bounds: centre within a pixel of the kernel, ``0.5 <= sigma <= max(H, W)``,
    ``0 <= f <= 0.5`` cycles/px) from initial guesses taken from the kernel's zero-padded FFT
    peak (orientation, frequency), the phase of its projection on that carrier, and the centroid
    and spread of its energy; the best of ``num_starts`` starts (the FFT guess, then the same
    with a narrower and a wider envelope) is kept. The initial guesses are vectorised; the
    fits loop over kernels.

    Args:
        kernels: ``(K, H, W)`` kernels (for conv1 weights see ``conv1_kernels``).
        num_starts: 1 to 3 initial guesses per kernel.

    Returns:
        A ``GaborFit`` with ``K`` rows.

    Raises:
        ValueError: on kernels that are not ``(K, H, W)`` with ``H, W >= 3`` or contain
            non-finite values, or ``num_starts`` outside 1..3.

    Examples:
        >>> import numpy as np
        >>> true = np.array([[1.0, 0.3, -0.5, 30.0, 2.0, 2.5, 0.2, 45.0, 0.0]])
        >>> fit = fit_gabors(gabor_kernel(true, (11, 11)))
        >>> bool(fit.r2[0] > 0.999), round(float(fit.orientation_deg[0]), 3)
        (True, 150.0)
    """
    from scipy.optimize import least_squares

    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim != 3 or min(kernels.shape[1:]) < 3:
        raise ValueError(f"kernels must have shape (K, H, W) with H, W >= 3, got {kernels.shape}")
    if not np.all(np.isfinite(kernels)):
        raise ValueError("kernels must be finite")
    if num_starts not in (1, 2, 3):
        raise ValueError(f"num_starts must be 1, 2 or 3, got {num_starts=}")
    k, h, w = kernels.shape
    half = (max(h, w) - 1) / 2.0 + 1.0
    lower = np.array([-np.inf, -half, -half, -np.inf, 0.5, 0.5, 0.0, -np.inf, -np.inf])
    upper = np.array([np.inf, half, half, np.inf, max(h, w), max(h, w), 0.5, np.inf, np.inf])
    inits = _gabor_inits(kernels)
    params = np.empty((k, len(GABOR_PARAM_NAMES)))
    r2 = np.zeros(k)
    for i in range(k):
        target = kernels[i]
        ss_tot = float(((target - target.mean()) ** 2).sum())
        if ss_tot == 0.0:
            params[i] = inits[i]
            params[i, 0] = 0.0
            continue
        best_cost, best_x = np.inf, inits[i]
        for scale in (1.0, 0.6, 1.6)[:num_starts]:
            x0 = inits[i].copy()
            x0[4:6] *= scale
            x0 = np.clip(x0, lower + 1e-6, upper - 1e-6)

            def residual(p, target=target):
                return (gabor_kernel(p, (h, w)) - target).ravel()

            sol = least_squares(
                residual,
                x0,
                jac=lambda p: _gabor_jacobian(p, (h, w)),
                bounds=(lower, upper),
                x_scale="jac",
                max_nfev=100,
                ftol=1e-6,
                xtol=1e-6,
                gtol=1e-6,
            )
            if sol.cost < best_cost:
                best_cost, best_x = sol.cost, sol.x
        params[i] = best_x
        r2[i] = 1.0 - 2.0 * best_cost / ss_tot
    freq = params[:, 6]
    with np.errstate(divide="ignore"):
        wavelength = np.where(freq > 0, 1.0 / np.where(freq > 0, freq, 1.0), np.inf)
    # Wave vector (cos theta, sin theta) <-> stimulus angle a with x' = cos(a) x - sin(a) y.
    orientation = np.mod(-params[:, 3], 180.0)
    return GaborFit(params=params, r2=r2, orientation_deg=orientation, wavelength_px=wavelength)


def conv1_kernels(params: dict, layer: str = "conv1") -> np.ndarray:
    """The first layer's filters as ``(C_out, kh, kw)`` grey kernels (summed over input channels).

    Summing an RGB kernel over its colour channels gives the filter seen by a grey image copied
    to all channels (the RGB -> grey convention of ``vpl_jax.weights``).

    Args:
        params: params pytree with ``params[layer]["w"]`` of shape ``(kh, kw, c_in, c_out)`` (HWIO).
        layer: the layer name.

    Returns:
        ``(C_out, kh, kw)`` float64 array.
    """
    if layer not in params or "w" not in params[layer]:
        raise ValueError(f"layer {layer!r} with a kernel 'w' not found in params: {sorted(params)}")
    w = np.asarray(params[layer]["w"], dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(
            f"params[{layer!r}]['w'] must be HWIO (kh, kw, c_in, c_out), got {w.shape}"
        )
    return np.transpose(w.sum(axis=2), (2, 0, 1))


# --------------------------------------------------------------------------------------------
# Recording responses through the network
# --------------------------------------------------------------------------------------------

_POSITIONS = ("centre", "all")


def _check_layers(layers, arch: alexnet.ArchSpec, name: str = "layers") -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    if not layers:
        raise ValueError(f"{name} must name at least one layer of {arch.name}")
    unknown = [layer for layer in layers if layer not in arch.output_keys]
    if unknown:
        raise ValueError(
            f"{name} has unknown layer(s) {unknown} for {arch.name}; known: {arch.output_keys}"
        )
    return layers


def _check_batch_size(batch_size: int) -> int:
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size=}")
    return int(batch_size)


def centre_units(activations: Float[Array, "N h w C"]) -> Float[Array, "N C"]:
    """The unit at the spatial centre ``(h // 2, w // 2)`` of each channel map.

    This is seed 000's recording site: index 27 of norm1's 55 x 55 map, 13 of 27 x 27, 6 of 13 x 13.
    """
    if activations.ndim != 4:
        raise ValueError(f"activations must be (N, h, w, C), got shape {activations.shape}")
    _, h, w, _ = activations.shape
    return activations[:, h // 2, w // 2, :]


def _select(out: dict, layers: tuple[str, ...], positions: str) -> dict:
    if positions == "centre":
        return {layer: centre_units(out[layer]) for layer in layers}
    return {layer: out[layer] for layer in layers}


def _blocked_map(fn, xs, batch_size: int):
    """``fn`` over blocks of ``batch_size`` items of the pytree ``xs`` (leading axis ``N``).

    The items are padded (repeating the last) to whole blocks, so one compiled body of
    ``batch_size`` items runs sequentially over the blocks (``lax.map``); the padding is dropped.
    """
    n = jax.tree.leaves(xs)[0].shape[0]
    size = min(batch_size, n)
    blocks = -(-n // size)
    pad = blocks * size - n

    def to_blocks(a):
        if pad:
            a = jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)])
        return a.reshape((blocks, size) + a.shape[1:])

    out = jax.lax.map(fn, jax.tree.map(to_blocks, xs))
    return jax.tree.map(lambda a: a.reshape((blocks * size,) + a.shape[2:])[:n], out)


@jax.jit(static_argnames=("arch", "layers", "batch_size", "positions"))
def _record(params, images, arch, layers, batch_size, positions):
    def block(batch):
        return _select(alexnet.features(params, batch, arch), layers, positions)

    return _blocked_map(block, images, batch_size)


def record(
    params: dict,
    images: Float[ArrayLike, "N H W C"],
    *,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    layers: tuple[str, ...] = PROTOCOL_LAYERS,
    batch_size: int = 32,
    positions: str = "centre",
) -> dict[str, Array]:
    """Responses of chosen layers to a batch of images, computed in fixed-size blocks.

    One jitted program (``arch``, ``layers``, ``batch_size`` and ``positions`` static) runs
    ``alexnet.features`` on blocks of ``batch_size`` images in sequence, so memory stays bounded
    for any ``N``; the unused layers are pruned by the compiler.

    Args:
        params: conv1-5 params of ``arch``.
        images: ``(N, H, W, arch.in_channels)`` network input (network units).
        arch: architecture spec.
        layers: keys of ``alexnet.features``' output to keep.
        batch_size: images per block (>= 1).
        positions: ``"centre"`` for the centre unit of each channel (``centre_units``) or
            ``"all"`` for every position.

    Returns:
        ``{layer: (N, C)}`` for ``positions="centre"``, ``{layer: (N, h, w, C)}`` for ``"all"``.

    Raises:
        ValueError: on an unknown layer, a bad ``positions`` or ``batch_size``, or an image shape
            ``alexnet.features`` rejects.
    """
    layers = _check_layers(layers, arch)
    if positions not in _POSITIONS:
        raise ValueError(f"positions must be one of {_POSITIONS}, got {positions=}")
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (N, H, W, C={arch.in_channels}), got {images.shape}"
        )
    return _record(params, images, arch, layers, _check_batch_size(batch_size), positions)


# --------------------------------------------------------------------------------------------
# Ablation
# --------------------------------------------------------------------------------------------

_WHICH = ("top", "bottom")


def _producing_conv(layer: str, arch: alexnet.ArchSpec) -> alexnet.ConvSpec:
    """The conv layer whose channels a layer key carries (``norm1``/``pool1`` -> ``conv1``)."""
    if layer not in arch.output_keys:
        raise ValueError(f"unknown layer {layer!r} for {arch.name}; known: {arch.output_keys}")
    for i, conv in enumerate(arch.convs, start=1):
        if layer in (conv.name, f"norm{i}", f"pool{i}"):
            return conv
    raise ValueError(f"layer {layer!r} is not produced by a conv layer of {arch.name}")


def ablation_channels(
    gosi_values: Float[ArrayLike, " C"], *, which: str = "top", fraction: float = 0.5
) -> np.ndarray:
    """Channels to ablate: the ``round(fraction * C)`` most (``"top"``) or least selective units.

    Seed 004 splits a layer's units at the median gOSI and ablates those strictly above
    (``top``) or strictly below (``bottom``) it. Here both sets have exactly
    ``round(fraction * C)`` units, so the two ablations remove the same number of channels;
    ties are broken by the lower channel index (a stable sort). For distinct gOSI values and an
    even ``C`` at ``fraction=0.5`` this is the seed's split.

    Args:
        gosi_values: ``(C,)`` gOSI of the layer's units (e.g. ``orientation_tuning(...).gosi``).
        which: ``"top"`` or ``"bottom"``.
        fraction: fraction of the layer to ablate, in [0, 1].

    Returns:
        ``(k,)`` sorted int channel indices.

    Raises:
        ValueError: on an unknown ``which``, ``fraction`` outside [0, 1] or non-1-D ``gosi_values``.
    """
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which=}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction=}")
    g = np.asarray(gosi_values, dtype=np.float64)
    if g.ndim != 1:
        raise ValueError(f"gosi_values must be 1-D (C,), got shape {g.shape}")
    k = int(round(float(fraction) * g.shape[0]))
    order = np.argsort(-g if which == "top" else g, kind="stable")
    return np.sort(order[:k])


def channel_mask(num_channels: int, channels: ArrayLike) -> Float[Array, " C"]:
    """A ``(num_channels,)`` float mask: 0 at ``channels``, 1 elsewhere.

    Raises:
        ValueError: if a channel index is outside ``[0, num_channels)`` or not an integer.
    """
    idx = np.asarray(channels)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"channels must be integer indices, got dtype {idx.dtype}")
    idx = idx.astype(np.int64).ravel()
    if np.any((idx < 0) | (idx >= num_channels)):
        raise ValueError(f"channels must lie in [0, {num_channels}), got {idx.tolist()}")
    mask = np.ones(num_channels, np.float32)
    mask[idx] = 0.0
    return jnp.asarray(mask)


def ablate(
    params: dict, masks: dict[str, ArrayLike], arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET
) -> dict:
    """Params whose masked output channels are silenced: ``w[..., c] * m[c]``, ``b[c] * m[c]``.

    A channel whose kernel and bias are zero outputs ReLU(0) = 0 at every position, so the unit is
    clamped to 0 (seed 004's ablation) in its conv layer and in everything computed from it (its
    LRN and pooled maps). The masks are arrays, so the function is jit- and vmap-friendly (e.g.
    vmap over a stack of masks). For ``norm1``/``norm2`` the channel is zeroed before the LRN, so
    the LRN of its neighbours no longer sees it; for conv3-5 it is exactly the unit's output.

    Args:
        params: conv1-5 params of ``arch``.
        masks: ``{layer: (C,) mask}`` with 1 to keep and 0 to ablate (values in between scale the
            channel); ``layer`` is any output key of ``arch`` (``norm1`` and ``pool1`` mean the
            channels of ``conv1``).
        arch: architecture spec.

    Returns:
        A new params dict (the input is not modified).

    Raises:
        ValueError: on an unknown layer or a mask of the wrong shape.

    Examples:
        >>> import jax
        >>> p = alexnet.init_params(jax.random.key(0))
        >>> q = ablate(p, {"conv3": channel_mask(384, [0, 5])})
        >>> float(abs(q["conv3"]["w"][..., 5]).sum()), bool((q["conv2"]["w"] == p["conv2"]["w"]).all())
        (0.0, True)
    """
    new = {name: dict(layer) for name, layer in params.items()}
    for layer, mask in masks.items():
        conv = _producing_conv(layer, arch)
        mask = jnp.asarray(mask)
        if mask.shape != (conv.out_channels,):
            raise ValueError(
                f"masks[{layer!r}] must have shape ({conv.out_channels},) for {conv.name}, "
                f"got {mask.shape}"
            )
        p = new[conv.name]
        p["w"] = p["w"] * mask.astype(p["w"].dtype).reshape((1,) * (p["w"].ndim - 1) + (-1,))
        p["b"] = p["b"] * mask.astype(p["b"].dtype)
    return new


def ablated_features(
    params: dict,
    images: Float[ArrayLike, "N H W C"],
    masks: dict[str, ArrayLike],
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
) -> dict[str, Array]:
    """``alexnet.features`` of the network with the masked channels silenced (see ``ablate``)."""
    return alexnet.features(ablate(params, masks, arch), jnp.asarray(images), arch)


# --------------------------------------------------------------------------------------------
# Stimulus protocols: gratings (seed 004) and the noisy Gabor tuning protocol (seed 000)
# --------------------------------------------------------------------------------------------

DEFAULT_ORIENTATIONS_DEG = tuple(15.0 * k for k in range(12))
"""Seed 004's 12 orientations, 15 deg apart."""

DEFAULT_WAVELENGTHS_PX = tuple(4.0 * 2.0 ** (k / 2) for k in range(6))
"""Six wavelengths a half-octave apart, 4 to 22.6 px (conv1 kernels span 11 px at stride 4)."""

DEFAULT_PHASES_DEG = (0.0, 90.0, 180.0, 270.0)
"""Seed 004's four phases, 90 deg apart."""


@dataclasses.dataclass(frozen=True)
class _GratingInput:
    """Network input for one full-field grating: ``contrast * (I - 125)``, ``I = 127.5 (1 + G)``.

    ``G = stimuli.grating(...)`` in [-1, 1] (seed 004, Eq. 1) becomes the full-range 0-255 image
    ``I``, fed with seed 000's input transform. Static structure only (hashable, a jit static
    argument); the numbers are traced ``consts``.
    """

    size: int
    channels: int

    def __call__(self, stim, consts):
        k = 2.0 * jnp.pi / stim["wavelength"]
        g = stimuli.grating(stim["angle"], k, phase_deg=stim["phase"], size=self.size)
        image = 127.5 * (1.0 + g)
        return _to_input(consts["contrast"] * (image - stimuli.BACKGROUND_OFFSET), self.channels)


@dataclasses.dataclass(frozen=True)
class _NoisyGaborInput:
    """Network input ``contrast * (Gabor - 125) + N(0, noise_sd^2)`` (seed 000's protocol)."""

    size: int
    channels: int

    def __call__(self, stim, consts):
        image = stimuli.gabor(
            stim["angle"], consts["wavelength"], sigma_px=consts["sigma"], size=self.size
        )
        grey = stimuli.network_input(stim["key"], image, consts["contrast"], consts["noise_sd"])
        return _to_input(grey, self.channels)


def _to_input(grey: Array, channels: int) -> Array:
    """A grey ``(H, W)`` image as ``(H, W, channels)`` (the grey copied to every channel)."""
    return jnp.broadcast_to(grey[:, :, None], (*grey.shape, channels))


def _consts(**values) -> dict[str, Array]:
    return {name: jnp.asarray(value, jnp.float32) for name, value in values.items()}


@jax.jit(static_argnames=("make_input", "arch", "layers", "batch_size", "positions", "grid_shape"))
def _record_generated(
    params, stim, consts, make_input, arch, layers, batch_size, positions, grid_shape
):
    """Generate each stimulus with ``make_input`` and record; outputs ``grid_shape + unit dims``."""

    def block(items):
        images = jax.vmap(make_input, in_axes=(0, None))(items, consts)
        return _select(alexnet.features(params, images, arch), layers, positions)

    out = _blocked_map(block, stim, batch_size)
    return {layer: value.reshape(grid_shape + value.shape[1:]) for layer, value in out.items()}


def _check_size(size, arch) -> int:
    size = arch.input_size if size is None else size
    if int(size) != size or size < alexnet.min_input_size(arch):
        raise ValueError(
            f"size must be an integer >= {alexnet.min_input_size(arch)} px for {arch.name}, "
            f"got {size=}"
        )
    return int(size)


def _grid(values, name: str, *, positive: bool = False) -> np.ndarray:
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)) or (positive and np.any(grid <= 0)):
        raise ValueError(f"{name} must be finite{' and > 0' if positive else ''}, got {grid}")
    return grid


def grating_responses(
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layers: tuple[str, ...] = PROTOCOL_LAYERS,
    orientations_deg: ArrayLike = DEFAULT_ORIENTATIONS_DEG,
    wavelengths_px: ArrayLike = DEFAULT_WAVELENGTHS_PX,
    phases_deg: ArrayLike = DEFAULT_PHASES_DEG,
    size: int | None = None,
    contrast: float = 0.5,
    batch_size: int = 32,
    positions: str = "centre",
) -> dict[str, Array]:
    """Responses to seed 004's full-field gratings (orientations x wavelengths x phases).

    Each grating ``G = vpl_jax.stimuli.grating(angle, 2 pi / wavelength, phase, size)`` (seed
    004's ``cos(k u + tau)``, in [-1, 1], phase at the image centre) becomes the full-range
    0-255 image ``I = 127.5 (1 + G)``, fed to the network with seed 000's input transform
    ``contrast * (I - 125)`` (contrast 0.5: amplitude 64 network units), the grey image copied to
    every input channel. The images are generated inside one jitted program, ``batch_size`` at
    a time.

    Args:
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        layers: output keys of ``alexnet.features`` to record.
        orientations_deg: ``(O,)`` orientations in degrees (0 = vertical stripes, clockwise).
        wavelengths_px: ``(S,)`` carrier wavelengths in pixels (> 0).
        phases_deg: ``(P,)`` phases in degrees.
        size: image side in pixels (default ``arch.input_size``).
        contrast: multiplies ``G - 125``.
        batch_size: images per block.
        positions: ``"centre"`` (centre unit of each channel) or ``"all"``.

    Returns:
        ``{layer: (O, S, P, C)}`` for ``positions="centre"``, ``{layer: (O, S, P, h, w, C)}`` for
        ``"all"``; move the channel axis first (``jnp.moveaxis(r, -1, 0)``) for
        ``orientation_tuning``.

    Raises:
        ValueError: on an unknown layer, an empty or non-finite grid, a non-positive wavelength,
            a too small ``size`` or a bad ``batch_size``/``positions``.
    """
    layers = _check_layers(layers, arch)
    if positions not in _POSITIONS:
        raise ValueError(f"positions must be one of {_POSITIONS}, got {positions=}")
    theta = _grid(orientations_deg, "orientations_deg")
    wl = _grid(wavelengths_px, "wavelengths_px", positive=True)
    ph = _grid(phases_deg, "phases_deg")
    size = _check_size(size, arch)
    a, w, p = np.meshgrid(theta, wl, ph, indexing="ij")
    stim = {
        "angle": jnp.asarray(a.ravel(), jnp.float32),
        "wavelength": jnp.asarray(w.ravel(), jnp.float32),
        "phase": jnp.asarray(p.ravel(), jnp.float32),
    }
    return _record_generated(
        params,
        stim,
        _consts(contrast=contrast),
        _GratingInput(size, arch.in_channels),
        arch,
        layers,
        _check_batch_size(batch_size),
        positions,
        (theta.size, wl.size, ph.size),
    )


def tuning_protocol_responses(
    key: Array,
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layers: tuple[str, ...] = PROTOCOL_LAYERS,
    num_orientations: int = 100,
    num_noise: int = 10,
    wavelength_px: float = 10.0,
    sigma_px: float = 50.0,
    contrast: float = 0.2,
    noise_sd: float = 15.0,
    size: int | None = None,
    batch_size: int = 32,
) -> dict[str, Array]:
    """Centre-unit responses under seed 000's tuning protocol (spec of seed 000, section 4.3).

    Gabors (``vpl_jax.stimuli.gabor``: wavelength 10 px, sigma 50 px, cosine phase) at
    ``num_orientations`` orientations evenly spaced over 180 deg, each with ``num_noise``
    independent noise samples; input ``contrast * (G - 125) + N(0, noise_sd^2)``. The paper uses
    100 orientations x 50 noise samples; the mean activation that decides inclusion is already
    precise to well under 1 % with 10.

    Args:
        key: PRNG key for the pixel noise.
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        layers: layers to record (centre unit of each channel).
        num_orientations, num_noise: the stimulus grid (>= 1 each).
        wavelength_px, sigma_px, contrast, noise_sd: the Gabor and the input transform.
        size: image side (default ``arch.input_size``).
        batch_size: images per block.

    Returns:
        ``{layer: (num_orientations, num_noise, C)}``; feed to ``included_unit_count``.
    """
    layers = _check_layers(layers, arch)
    for name, value in (("num_orientations", num_orientations), ("num_noise", num_noise)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value}")
    size = _check_size(size, arch)
    angles = np.arange(num_orientations) * 180.0 / num_orientations
    stim = {
        "angle": jnp.asarray(np.repeat(angles, num_noise), jnp.float32),
        "key": jax.random.split(key, num_orientations * num_noise),
    }
    return _record_generated(
        params,
        stim,
        _consts(wavelength=wavelength_px, sigma=sigma_px, contrast=contrast, noise_sd=noise_sd),
        _NoisyGaborInput(size, arch.in_channels),
        arch,
        layers,
        _check_batch_size(batch_size),
        "centre",
        (int(num_orientations), int(num_noise)),
    )


# --------------------------------------------------------------------------------------------
# The effect of ablation on an orientation-discrimination task
# --------------------------------------------------------------------------------------------


def discrimination_accuracy(
    key: Array,
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    masks: dict[str, ArrayLike] | None = None,
    separations_deg: ArrayLike = (2.0, 10.0),
    reference_deg: float = 45.0,
    readout_layer: str = "pool5",
    num_train: int = 100,
    num_test: int = 100,
    wavelength_px: float = 10.0,
    sigma_px: float = 50.0,
    contrast: float = 0.2,
    noise_sd: float = 15.0,
    size: int | None = None,
    batch_size: int = 32,
    regularization: float = 1.0,
) -> dict[float, float]:
    """Test accuracy of a linear readout discriminating two orientations from noisy Gabors.

    For each separation ``s`` the two classes are Gabors at ``reference_deg -+ s / 2`` (seed 000's
    stimuli and input transform, fresh pixel noise per image). The features of ``readout_layer``
    (all positions, flattened) of the network ablated by ``masks`` are standardised and fed to a
    logistic regression (scikit-learn, L2 penalty with inverse strength ``regularization``)
    trained on ``num_train`` images per class and scored on ``num_test`` others. The noise
    depends only on ``key``, so calls with different ``masks`` and the same key see the same
    images (a paired comparison).

    Args:
        key: PRNG key for the pixel noise.
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        masks: optional ``{layer: (C,) mask}`` for ``ablate``.
        separations_deg: orientation differences to test (fine and coarse), degrees, > 0.
        reference_deg: the centre orientation, degrees.
        readout_layer: the layer the linear readout sees.
        num_train, num_test: images per class (>= 2 and >= 1).
        wavelength_px, sigma_px, contrast, noise_sd: stimulus and input transform.
        size: image side (default ``arch.input_size``).
        batch_size: images per block of the forward pass.
        regularization: scikit-learn's ``C`` (> 0).

    Returns:
        ``{separation_deg: accuracy}``, accuracies in [0, 1] (chance 0.5).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    (readout_layer,) = _check_layers((readout_layer,), arch, "readout_layer")
    seps = _grid(separations_deg, "separations_deg", positive=True)
    if int(num_train) != num_train or num_train < 2:
        raise ValueError(f"num_train must be an integer >= 2, got {num_train=}")
    if int(num_test) != num_test or num_test < 1:
        raise ValueError(f"num_test must be an integer >= 1, got {num_test=}")
    if not float(regularization) > 0:
        raise ValueError(f"regularization must be > 0, got {regularization=}")
    size = _check_size(size, arch)
    if masks:
        params = ablate(params, masks, arch)
    per_class = num_train + num_test
    labels = np.tile(np.repeat([0, 1], per_class), seps.size)
    angles = reference_deg + (labels - 0.5) * np.repeat(seps, 2 * per_class)
    stim = {
        "angle": jnp.asarray(angles, jnp.float32),
        "key": jax.random.split(key, angles.size),
    }
    feats = _record_generated(
        params,
        stim,
        _consts(wavelength=wavelength_px, sigma=sigma_px, contrast=contrast, noise_sd=noise_sd),
        _NoisyGaborInput(size, arch.in_channels),
        arch,
        (readout_layer,),
        _check_batch_size(batch_size),
        "all",
        (int(angles.size),),
    )[readout_layer]
    feats = np.asarray(feats, np.float64).reshape(seps.size, 2, per_class, -1)
    result = {}
    for i, sep in enumerate(seps):
        x_train = feats[i, :, :num_train].reshape(2 * num_train, -1)
        x_test = feats[i, :, num_train:].reshape(2 * num_test, -1)
        y_train = np.repeat([0, 1], num_train)
        y_test = np.repeat([0, 1], num_test)
        scaler = StandardScaler().fit(x_train)
        clf = LogisticRegression(C=float(regularization), max_iter=5000)
        clf.fit(scaler.transform(x_train), y_train)
        result[float(sep)] = float(clf.score(scaler.transform(x_test), y_test))
    return result


def ablation_effect(
    key: Array,
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layer: str,
    gosi_values: ArrayLike,
    fraction: float = 0.5,
    **task,
):
    """Seed 004's ablation on a discrimination task: no ablation vs the top vs the bottom units.

    The ``round(fraction * C)`` most and least orientation-selective channels of ``layer``
    (``ablation_channels``) are silenced in turn (``ablate``), and ``discrimination_accuracy``
    is measured with the same key (the same noisy images) for each network.

    Args:
        key: PRNG key for the task's pixel noise.
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        layer: the layer whose units are ablated (any output key; ``norm1`` means conv1's channels).
        gosi_values: ``(C,)`` gOSI of the layer's units.
        fraction: fraction of the units to ablate in each condition.
        **task: keyword arguments of ``discrimination_accuracy`` (separations, readout layer, ...).

    Returns:
        A ``pandas.DataFrame`` with columns ``ablation`` (``none``/``top``/``bottom``),
        ``n_ablated``, ``separation_deg``, ``accuracy`` and ``accuracy_change`` (vs ``none``).

    Raises:
        ValueError: if ``gosi_values`` does not have one value per channel of ``layer``.
    """
    import pandas as pd

    conv = _producing_conv(layer, arch)
    g = np.asarray(gosi_values)
    if g.shape != (conv.out_channels,):
        raise ValueError(
            f"gosi_values must have shape ({conv.out_channels},) for {layer}, got {g.shape}"
        )
    rows = []
    base = discrimination_accuracy(key, params, arch, **task)
    for which in ("none", *_WHICH):
        if which == "none":
            acc, n = base, 0
        else:
            channels = ablation_channels(g, which=which, fraction=fraction)
            mask = channel_mask(conv.out_channels, channels)
            acc = discrimination_accuracy(key, params, arch, masks={layer: mask}, **task)
            n = int(channels.size)
        for sep, value in acc.items():
            rows.append(
                {
                    "ablation": which,
                    "n_ablated": n,
                    "separation_deg": sep,
                    "accuracy": value,
                    "accuracy_change": value - base[sep],
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The per-layer table
# --------------------------------------------------------------------------------------------


def _default_table_layers(arch: alexnet.ArchSpec) -> tuple[str, ...]:
    return tuple(k for k in arch.output_keys if not k.startswith("pool"))


def selectivity_table(
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    key: Array,
    layers: tuple[str, ...] | None = None,
    orientations_deg: ArrayLike = DEFAULT_ORIENTATIONS_DEG,
    wavelengths_px: ArrayLike = DEFAULT_WAVELENGTHS_PX,
    phases_deg: ArrayLike = DEFAULT_PHASES_DEG,
    size: int | None = None,
    contrast: float = 0.5,
    threshold: float = SELECTIVITY_THRESHOLD,
    num_shuffles: int = 100,
    shuffle_mode: str = "matrix",
    inclusion: bool = True,
    num_noise: int = 10,
    gabor_fits: bool = True,
    gabor_r2_threshold: float = 0.7,
    batch_size: int = 32,
):
    """Per-layer orientation selectivity of centre units, with controls (one row per layer).

    Columns:

    * ``layer``, ``n_units`` (channels), ``n_responsive`` (centre units with a positive response
      to some grating);
    * ``median_gosi`` and ``frac_selective`` (gOSI > ``threshold``) over the responsive units,
      from ``grating_responses`` + ``orientation_tuning``;
    * ``shuffle_median_gosi`` and ``shuffle_frac_selective``: the same after ``shuffled_gosi``
      (``num_shuffles`` shuffles of mode ``shuffle_mode``, averaged over shuffles);
    * ``n_included``: units with mean activation >= 1.0 under seed 000's tuning protocol
      (``tuning_protocol_responses`` with ``num_noise`` noise samples); NA if ``inclusion`` is
      False;
    * ``gabor_r2_median`` and ``frac_gabor_r2`` (fraction of filters with a Gabor fit
      R^2 >= ``gabor_r2_threshold``): first conv layer only (NaN elsewhere, or if ``gabor_fits``
      is False).

    The settings are kept in ``df.attrs`` (used by ``format_table``).

    Args:
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        key: PRNG key (split into the shuffle key and the tuning-protocol noise key).
        layers: layers to report (default: every conv and norm layer of ``arch``).
        orientations_deg, wavelengths_px, phases_deg, size, contrast: the grating set
            (``grating_responses``).
        threshold: gOSI criterion in [0, 1].
        num_shuffles, shuffle_mode: the shuffle control (``shuffled_gosi``).
        inclusion: run the tuning protocol for ``n_included``.
        num_noise: noise samples per orientation in the tuning protocol.
        gabor_fits: fit Gabors to the first layer's filters.
        gabor_r2_threshold: R^2 criterion for ``frac_gabor_r2``.
        batch_size: images per block of the forward passes.

    Returns:
        A ``pandas.DataFrame`` with one row per layer.

    Raises:
        ValueError: on an unknown layer, a threshold outside [0, 1] or a bad grid.
    """
    import pandas as pd

    layers = _default_table_layers(arch) if layers is None else _check_layers(layers, arch)
    threshold = _check_threshold(threshold)
    gabor_r2_threshold = _check_threshold(gabor_r2_threshold, "gabor_r2_threshold")
    theta = _grid(orientations_deg, "orientations_deg")
    wl = _grid(wavelengths_px, "wavelengths_px", positive=True)
    size = _check_size(size, arch)
    shuffle_key, noise_key = jax.random.split(key)

    responses = grating_responses(
        params,
        arch,
        layers=layers,
        orientations_deg=theta,
        wavelengths_px=wl,
        phases_deg=phases_deg,
        size=size,
        contrast=contrast,
        batch_size=batch_size,
    )
    protocol = (
        tuning_protocol_responses(
            noise_key,
            params,
            arch,
            layers=layers,
            num_noise=num_noise,
            size=size,
            batch_size=batch_size,
        )
        if inclusion
        else None
    )
    first = arch.convs[0].name
    fit = fit_gabors(conv1_kernels(params, first)) if gabor_fits and first in layers else None

    # One shuffle run over the units of all layers (per-unit permutations are independent; a
    # shared permutation is shared by every unit, as the seed's code shares it within a layer).
    per_layer = [np.moveaxis(np.asarray(responses[layer]), -1, 0) for layer in layers]
    units = np.concatenate(per_layer)  # (sum of C, O, S, P)
    all_shuffled = np.asarray(
        shuffled_gosi(
            shuffle_key,
            units,
            theta,
            num_shuffles=num_shuffles,
            mode=shuffle_mode,
        )
    )
    bounds = np.cumsum([0] + [r.shape[0] for r in per_layer])
    tuning = orientation_tuning(units, theta)
    included = (
        np.asarray(
            included_units(np.concatenate([np.asarray(protocol[layer]) for layer in layers], -1))
        )
        if protocol is not None
        else None
    )
    all_gosi, all_peak = np.asarray(tuning.gosi), np.asarray(tuning.peak)
    rows = []
    for i, layer in enumerate(layers):
        units = slice(bounds[i], bounds[i + 1])
        responsive = all_peak[units] > 0
        g = all_gosi[units]
        shuffled = all_shuffled[:, units]
        n_resp = int(responsive.sum())
        row = {
            "layer": layer,
            "n_units": int(g.size),
            "n_responsive": n_resp,
            "median_gosi": float(np.median(g[responsive])) if n_resp else np.nan,
            "frac_selective": float(np.mean(g[responsive] > threshold)) if n_resp else np.nan,
            "shuffle_median_gosi": (
                float(np.median(shuffled[:, responsive])) if n_resp else np.nan
            ),
            "shuffle_frac_selective": (
                float(np.mean(shuffled[:, responsive] > threshold)) if n_resp else np.nan
            ),
            "n_included": int(included[units].sum()) if included is not None else pd.NA,
            "gabor_r2_median": np.nan,
            "frac_gabor_r2": np.nan,
        }
        if fit is not None and layer == first:
            row["gabor_r2_median"] = float(np.median(fit.r2))
            row["frac_gabor_r2"] = float(np.mean(fit.r2 >= gabor_r2_threshold))
        rows.append(row)
    df = pd.DataFrame(rows)
    df["n_included"] = df["n_included"].astype("Int64")
    df.attrs.update(
        {
            "arch": arch.name,
            "size": size,
            "orientations_deg": [float(t) for t in theta],
            "wavelengths_px": [float(w) for w in wl],
            "phases_deg": [float(p) for p in np.asarray(phases_deg, np.float64)],
            "contrast": float(contrast),
            "threshold": threshold,
            "num_shuffles": int(num_shuffles),
            "shuffle_mode": shuffle_mode,
            "inclusion": bool(inclusion),
            "num_noise": int(num_noise),
            "gabor_r2_threshold": gabor_r2_threshold,
        }
    )
    return df


def format_table(df) -> str:
    """A plain-text rendering of ``selectivity_table``'s output, with its settings as a header.

    Args:
        df: the ``pandas.DataFrame`` returned by ``selectivity_table``.

    Returns:
        The table as a string (no trailing newline).
    """
    required = {"layer", "n_units", "median_gosi", "frac_selective", "shuffle_frac_selective"}
    missing = required - set(df.columns)
    if missing:
        raise ValueError(f"df is not a selectivity_table (missing columns {sorted(missing)})")
    a = df.attrs
    lines = []
    if a:
        wl = a["wavelengths_px"]
        lines.append(
            f"{a['arch']}: centre units, full-field gratings {len(a['orientations_deg'])} "
            f"orientations x {len(wl)} wavelengths ({min(wl):.3g}-{max(wl):.3g} px) x "
            f"{len(a['phases_deg'])} phases at {a['size']} px, contrast {a['contrast']:g}"
        )
        lines.append(
            f"selective: gOSI > {a['threshold']:g} among responsive units; shuffle control: "
            f"{a['num_shuffles']} x {a['shuffle_mode']}"
            + (
                f"; included: mean activation >= 1.0 over 100 orientations x {a['num_noise']} "
                "noisy Gabors (seed 000)"
                if a["inclusion"]
                else ""
            )
        )
    headers = {
        "layer": "layer",
        "n_units": "units",
        "n_responsive": "responsive",
        "median_gosi": "median gOSI",
        "frac_selective": "selective",
        "shuffle_median_gosi": "shuffled median",
        "shuffle_frac_selective": "shuffled selective",
        "n_included": "included",
        "gabor_r2_median": "Gabor R2 median",
        "frac_gabor_r2": f"R2>={a.get('gabor_r2_threshold', 0.7):g}",
    }
    cols = [c for c in headers if c in df.columns]

    def fmt(value, col):
        if value is None or (not isinstance(value, str) and _isna(value)):
            return "-"
        if col in ("layer",):
            return str(value)
        if col.startswith("n_"):
            return str(int(value))
        return f"{float(value):.3f}" if "gosi" in col or "r2_median" in col else f"{value:.2f}"

    cells = [[headers[c] for c in cols]] + [
        [fmt(row[c], c) for c in cols] for _, row in df.iterrows()
    ]
    widths = [max(len(r[j]) for r in cells) for j in range(len(cols))]
    for r in cells:
        lines.append(
            "  ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
