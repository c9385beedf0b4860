"""Orientation selectivity of network units: gOSI, its shuffle control, coverage, the table.

The method of Ukita (2019), *Causal importance of orientation selectivity for
generalization in image recognition*): full-field gratings at several orientations, spatial
frequencies and phases; a unit's responses are reduced to one tuning curve (max over phase, the
best frequency) and scored by the global orientation selectivity index. Siblings:
``vpl_jax.analysis.recording`` (the grating responses and the included-unit counts),
``vpl_jax.analysis.gabor_fit`` (Gabor fits of conv1 filters) and ``vpl_jax.analysis.ablation``
(silencing the most or least selective units).

Conventions:

* **Responses** to a grating set are arrays of shape ``(..., O, S, P)``: any leading unit axes,
  then orientations, spatial frequencies (wavelengths) and phases. A *tuning curve* has shape
  ``(..., O)``. Responses are in network units (post-ReLU activations are >= 0).
* **Orientations** are in degrees on the 180-degree cycle, in the convention of the stimuli that
  produced the responses (``vpl_jax.stimuli``: 0 deg = vertical stripes, clockwise on screen).
  A grid of orientations is a concrete (non-traced) array: it is part of the stimulus set.
* **gOSI** (Ukita 2019, Eq. 2; Woergoetter & Eysel 1987) of a tuning curve ``R_k`` is
  ``|sum_k R_k exp(2 i theta_k)| / sum_k R_k``, i.e. one minus the circular variance. A unit is
  *orientation-selective* when gOSI > 0.33.
* **Keys**: every stochastic function takes a PRNG key as its first positional argument.

All functions are pure; the JAX ones are jit-compatible in their array arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax.analysis.gabor_fit import conv1_kernels, fit_gabors
from vpl_jax.analysis.recording import (
    DEFAULT_ORIENTATIONS_DEG,
    DEFAULT_PHASES_DEG,
    DEFAULT_WAVELENGTHS_PX,
    check_grid,
    check_layers,
    check_size,
    grating_responses,
    included_units,
    tuning_protocol_responses,
)

__all__ = [
    "SELECTIVITY_THRESHOLD",
    "OrientationTuning",
    "format_table",
    "fraction_selective",
    "frequency_coverage",
    "gosi",
    "is_selective",
    "orientation_coverage",
    "orientation_tuning",
    "permutation_chance_gosi",
    "preferred_orientation",
    "selectivity_table",
    "shuffled_gosi",
]

SELECTIVITY_THRESHOLD = 0.33
"""Ukita's criterion: a unit with gOSI > 0.33 is orientation-selective."""


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


def _orientation_grid(
    orientations_deg: ArrayLike | Sequence[float], n: int, name: str = "orientations_deg"
):
    """Check a concrete 1-D orientation grid of length ``n`` and return it as a NumPy array."""
    try:
        theta = np.asarray(orientations_deg, dtype=np.float64)
    except jax.errors.ConcretizationTypeError:
        raise TypeError(
            f"{name} must be a concrete array (a stimulus grid), not a traced value"
        ) from None
    if theta.ndim != 1:
        raise InputError(f"{name} must be 1-D (O,), got shape {theta.shape}")
    if theta.shape[0] != n:
        raise InputError(
            f"{name} has {theta.shape[0]} orientations but the responses have {n} along the "
            "orientation axis"
        )
    if n < 2:
        raise InputError(f"{name} needs at least 2 orientations, got {n}")
    if not np.all(np.isfinite(theta)):
        raise InputError(f"{name} must be finite, got {theta}")
    return theta


def _check_threshold(threshold: float, name: str = "threshold") -> float:
    try:
        value = float(threshold)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(f"{name} must be a Python number, got {type(threshold).__name__}") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must lie in [0, 1] (a gOSI value), got {threshold=}")
    return value


def _check_responses(responses: ArrayLike, name: str = "responses") -> Array:
    responses = _float_array(responses, name)
    if responses.ndim < 3:
        raise InputError(
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


def gosi(
    tuning: Float[ArrayLike, "... O"], orientations_deg: ArrayLike | Sequence[float]
) -> Float[Array, "..."]:
    r"""Global orientation selectivity index of tuning curves (Ukita 2019, Eq. 2).

    .. math:: \mathrm{gOSI} = \frac{\left|\sum_k R_k e^{2 i \theta_k}\right|}{\sum_k R_k}

    Responses are rectified (``max(R, 0)``) first: the index is defined for non-negative
    responses, and post-ReLU activations are non-negative anyway; with negative values the ratio
    could exceed 1 or change sign. A unit whose rectified responses are all 0 gets gOSI = 0 (the
    convention of Ukita's code for silent units). The value lies in [0, 1]; it is invariant to a
    rotation of the tuning curve on the orientation grid and to a positive rescaling.

    Args:
        tuning: responses ``(..., O)`` at the orientations ``orientations_deg``.
        orientations_deg: concrete ``(O,)`` grid in degrees (any convention; only differences
            matter). For gOSI = 0 of a flat curve the grid must be equally spaced over 180 deg.

    Returns:
        ``(...)`` gOSI values.

    Raises:
        InputError: if ``orientations_deg`` is not 1-D of length ``O`` (>= 2).

    Examples:
        >>> import numpy as np
        >>> theta = np.arange(12) * 15.0
        >>> round(float(gosi(1 + np.cos(np.deg2rad(2 * (theta - 30))), theta)), 6)
        0.5

    References:
        Woergoetter & Eysel (1987) Biol. Cybern. 57:349; Ukita (2019), Eq. 2.
    """
    tuning = _float_array(tuning, "tuning")
    if tuning.ndim < 1:
        raise InputError(f"tuning must have shape (..., O), got shape {tuning.shape}")
    theta = _orientation_grid(orientations_deg, tuning.shape[-1])
    return _gosi_core(tuning, tuple(theta.tolist()))


@jax.jit(static_argnums=1)
def _gosi_core(tuning, theta):
    c, s, total = _resultant(tuning, np.asarray(theta))
    return _safe_ratio(c * c + s * s, total)


def preferred_orientation(
    tuning: Float[ArrayLike, "... O"], orientations_deg: ArrayLike | Sequence[float]
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
        raise InputError(f"tuning must have shape (..., O), got shape {tuning.shape}")
    theta = _orientation_grid(orientations_deg, tuning.shape[-1])
    return _preferred_core(tuning, tuple(theta.tolist()))


@jax.jit(static_argnums=1)
def _preferred_core(tuning, theta):
    c, s, _ = _resultant(tuning, np.asarray(theta))
    return jnp.mod(jnp.rad2deg(jnp.arctan2(s, c)) / 2, 180.0)


class OrientationTuning(NamedTuple):
    """Ukita's reduction of a unit's grating responses to one tuning curve.

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
    responses: Float[ArrayLike, "... O S P"], orientations_deg: ArrayLike | Sequence[float]
) -> OrientationTuning:
    """Max over phase, the best spatial frequency, then gOSI (Ukita 2019, section 2.2).

    Args:
        responses: ``(..., O, S, P)`` responses of units to gratings at ``O`` orientations,
            ``S`` spatial frequencies and ``P`` phases.
        orientations_deg: concrete ``(O,)`` orientation grid in degrees.

    Returns:
        An ``OrientationTuning`` whose fields have the leading shape ``(...)``.

    Raises:
        InputError: on a responses array of rank < 3 or a grid of the wrong length.

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
    """``gosi_values > threshold`` (Ukita 2019: orientation-selective means gOSI > 0.33).

    Raises:
        InputError: if ``threshold`` is outside [0, 1].
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
        InputError: if ``threshold`` is outside [0, 1] or ``where`` has another shape.
    """
    sel = is_selective(gosi_values, threshold)
    if where is None:
        where = jnp.ones(sel.shape, bool)
    where = jnp.asarray(where, bool)
    if where.shape != sel.shape:
        raise InputError(f"where must have the shape of gosi_values {sel.shape}, got {where.shape}")
    n = jnp.sum(where, axis=-1)
    return jnp.sum(sel & where, axis=-1) / jnp.where(n > 0, n, jnp.nan)


# --------------------------------------------------------------------------------------------
# Shuffle control
# --------------------------------------------------------------------------------------------

_SHUFFLE_MODES = ("matrix", "orientation")


def shuffled_gosi(
    key: Array,
    responses: Float[ArrayLike, "... O S P"],
    orientations_deg: ArrayLike | Sequence[float],
    *,
    num_shuffles: int = 100,
    mode: str = "matrix",
    per_unit: bool = True,
) -> Float[Array, "num_shuffles ..."]:
    """gOSI after shuffling the stimulus labels of the responses: Ukita's control.

    Args:
        key: PRNG key.
        responses: ``(..., O, S, P)`` grating responses.
        orientations_deg: concrete ``(O,)`` grid in degrees.
        num_shuffles: number of independent shuffles (>= 1).
        mode: ``"matrix"`` permutes all ``O * S * P`` entries of a unit's activation matrix
            before the max over phase and the choice of the best frequency (the paper's
            control); ``"orientation"`` permutes only the orientation labels of the tuning curve.
        per_unit: a fresh permutation for every unit (the paper's text) if True; one permutation
            per shuffle shared by all units (Ukita's code) if False.

    Returns:
        ``(num_shuffles, ...)`` gOSI of the shuffled responses.

    Raises:
        InputError: on an unknown ``mode``, ``num_shuffles < 1`` or bad shapes.

    Examples:
        >>> import jax, numpy as np
        >>> theta = np.arange(12) * 15.0
        >>> resp = np.random.default_rng(0).exponential(size=(5, 12, 3, 4))
        >>> shuffled_gosi(jax.random.key(0), resp, theta, num_shuffles=7).shape
        (7, 5)
    """
    if mode not in _SHUFFLE_MODES:
        raise InputError(f"mode must be one of {_SHUFFLE_MODES}, got {mode=}")
    if int(num_shuffles) != num_shuffles or num_shuffles < 1:
        raise InputError(f"num_shuffles must be an integer >= 1, got {num_shuffles=}")
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
        >>> import numpy as np
        >>> round(float(permutation_chance_gosi(np.array([1.0, 0.0, 0.0, 0.0]))), 6)  # CV^2 = 4
        1.0
    """
    tuning = _float_array(tuning, "tuning")
    if tuning.ndim < 1 or tuning.shape[-1] < 2:
        raise InputError(f"tuning must have shape (..., O) with O >= 2, got {tuning.shape}")
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
        raise InputError(f"where must have shape {shape}, got {where.shape}")
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
        raise InputError(f"num_bins must be an integer >= 1, got {num_bins=}")
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
        raise InputError(f"num_frequencies must be an integer >= 1, got {num_frequencies=}")
    best = jnp.asarray(best_frequency)
    if not jnp.issubdtype(best.dtype, jnp.integer):
        raise TypeError(f"best_frequency must hold integer indices, got dtype {best.dtype}")
    weights = _weights(where, best.shape, "where")
    return jnp.zeros(num_frequencies, jnp.int32).at[best.ravel()].add(weights.ravel(), mode="drop")


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
    orientations_deg: ArrayLike | Sequence[float] = DEFAULT_ORIENTATIONS_DEG,
    wavelengths_px: ArrayLike | Sequence[float] = DEFAULT_WAVELENGTHS_PX,
    phases_deg: ArrayLike | Sequence[float] = DEFAULT_PHASES_DEG,
    size: int | None = None,
    contrast: float = 0.5,
    threshold: float = SELECTIVITY_THRESHOLD,
    num_shuffles: int = 100,
    shuffle_mode: str = "matrix",
    inclusion: bool = True,
    inclusion_orientations: int = 100,
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
    * ``n_included``: units included by the rule of Wenliang & Seitz (2018) (mean activation
      >= 1.0, ``vpl_jax.analysis.recording.included_units``) over noisy Gabors at
      ``inclusion_orientations`` orientations evenly covering 180 deg with ``num_noise`` noise
      samples each (``tuning_protocol_responses``; the paper's unit table uses the trained
      orientation +- 90 deg with 50 samples instead, see ``vpl_jax.analysis.recording``); NA if
      ``inclusion`` is False;
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
        inclusion_orientations: orientations of the inclusion protocol (>= 1).
        num_noise: noise samples per orientation in the inclusion protocol (>= 1).
        gabor_fits: fit Gabors to the first layer's filters.
        gabor_r2_threshold: R^2 criterion for ``frac_gabor_r2``.
        batch_size: images per block of the forward passes.

    Returns:
        A ``pandas.DataFrame`` with one row per layer.

    Raises:
        InputError: on an unknown layer, a threshold outside [0, 1] or a bad grid.
    """
    import pandas as pd

    layers = _default_table_layers(arch) if layers is None else check_layers(layers, arch)
    threshold = _check_threshold(threshold)
    gabor_r2_threshold = _check_threshold(gabor_r2_threshold, "gabor_r2_threshold")
    theta = check_grid(orientations_deg, "orientations_deg")
    wl = check_grid(wavelengths_px, "wavelengths_px", positive=True)
    size = check_size(size, arch)
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
            num_orientations=inclusion_orientations,
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
    # shared permutation is shared by every unit, as Ukita's code shares it within a layer).
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
            "inclusion_orientations": int(inclusion_orientations),
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
        raise InputError(f"df is not a selectivity_table (missing columns {sorted(missing)})")
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
                f"; included: mean activation >= 1.0 over "
                f"{a.get('inclusion_orientations', 100)} orientations x {a['num_noise']} "
                "noisy Gabors (Wenliang & Seitz 2018)"
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
