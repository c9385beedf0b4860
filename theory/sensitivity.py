r"""Sensitivity ``D(theta) = sum_i (dy_i/dtheta)^2`` by forward-mode autodiff.

The measure of Benjamin, Zhang, Qiu, Stocker & Kording (2022), *Efficient neural codes naturally
emerge through gradient descent learning*.

A stimulus generator ``theta -> x`` (e.g. :func:`theory.stimuli.sinusoid`) composed with a
response function ``x -> y`` (a layer of a network, a matrix ``W``) gives ``fn(theta) -> y``. The
sensitivity is the squared norm of the tangent ``dy/dtheta``, computed with one ``jax.jvp`` per
stimulus parameter value (forward mode: one scalar input, many outputs). If ``y = f(theta) + eps``
with ``eps ~ N(0, I)``, ``D`` is the Fisher information about ``theta`` and the discrimination
threshold at ``d' = 1`` is ``1 / sqrt(D)``. Sensitivity is averaged over nuisance parameters
(phase): ``Dbar(theta) = mean_phi D(y(theta, phi); theta)``, the average Fisher information with the
phase known, not the information of the phase mixture.

Conventions: ``fn`` may return any pytree of arrays (for example a dict of per-layer
activations); sensitivities come back with the same tree structure, one scalar per leaf. Write the
function for one ``theta``; the curve helpers vmap over ``theta`` and the phases. Orientations are
in degrees (period 180), frequencies in cycles per image, phases in radians. Nothing is random.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from theory.checks import InputError, is_concrete

__all__ = [
    "acuity",
    "cardinal_oblique_ratio",
    "equally_spaced_phases",
    "linear_sensitivity",
    "phase_averaged_sensitivity",
    "sensitivity",
    "sensitivity_curve",
    "threshold",
]


def sensitivity(fn: Callable[[Array], Any], theta: Float[ArrayLike, ""]) -> Any:
    r"""``D(theta) = sum_i (d fn(theta)_i / d theta)^2`` by one forward-mode ``jax.jvp``.

    .. math:: D(\mathbf y;\theta) = \sum_{i=1}^{N} \left(\frac{\partial y_i}{\partial\theta}\right)^2

    Args:
        fn: differentiable function of a scalar ``theta`` returning an array or a pytree of
            arrays (any shapes).
        theta: scalar stimulus parameter (units of ``fn``'s argument).

    Returns:
        Scalar ``D`` per leaf of ``fn(theta)`` (same tree structure; a scalar for an array).

    Raises:
        InputError: if ``theta`` is not a scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> float(sensitivity(lambda t: jnp.array([3.0 * t, t**2]), 1.0))  # 3^2 + 2^2
        13.0

    References:
        Benjamin et al. (2022), Methods, eq. (1).
    """
    theta = jnp.asarray(theta, jnp.result_type(theta, float))
    if theta.ndim != 0:
        raise InputError(f"theta must be a scalar (vmap for curves), got shape {theta.shape}")
    _, tangent = jax.jvp(fn, (theta,), (jnp.ones_like(theta),))
    return jax.tree_util.tree_map(lambda t: jnp.sum(jnp.square(t)), tangent)


def phase_averaged_sensitivity(
    fn: Callable[[Array, Array], Any],
    theta: Float[ArrayLike, ""],
    phases: Float[ArrayLike, " P"],
) -> Any:
    """Mean over nuisance phases of :func:`sensitivity` of ``theta -> fn(theta, phase)``.

    Args:
        fn: differentiable ``fn(theta, phase) -> pytree of arrays``.
        theta: scalar stimulus parameter.
        phases: nuisance values, shape ``(P,)`` (e.g. :func:`equally_spaced_phases`).

    Returns:
        Pytree of scalars, ``mean_phase D``.

    Raises:
        InputError: if ``phases`` is not a non-empty 1-D array or ``theta`` is not a scalar.
    """
    phases = jnp.asarray(phases)
    if phases.ndim != 1 or phases.shape[0] < 1:
        raise InputError(f"phases must be a non-empty 1-D array, got shape {phases.shape}")
    per_phase = jax.vmap(lambda ph: sensitivity(lambda th: fn(th, ph), theta))(phases)
    return jax.tree_util.tree_map(lambda d: jnp.mean(d, axis=0), per_phase)


def sensitivity_curve(
    fn: Callable[[Array, Array], Any],
    thetas: Float[ArrayLike, " T"],
    phases: Float[ArrayLike, " P"],
) -> Any:
    """Phase-averaged sensitivity on a grid of ``theta`` (vmap of :func:`phase_averaged_sensitivity`).

    Args:
        fn: differentiable ``fn(theta, phase) -> pytree of arrays``.
        thetas: stimulus values, shape ``(T,)``.
        phases: nuisance values, shape ``(P,)``.

    Returns:
        Pytree whose leaves have shape ``(T,)``.

    Raises:
        InputError: if ``thetas`` or ``phases`` is not 1-D.
    """
    thetas = jnp.asarray(thetas, jnp.result_type(thetas, float))
    if thetas.ndim != 1:
        raise InputError(f"thetas must be a 1-D array, got shape {thetas.shape}")
    return jax.vmap(lambda th: phase_averaged_sensitivity(fn, th, phases))(thetas)


def equally_spaced_phases(num: int, dtype=None) -> Float[Array, " P"]:
    """``num`` phases ``2 pi k / num``, ``k = 0 .. num - 1``, on ``[0, 2 pi)``.

    Averages of ``cos^2(a + phase)`` over these phases equal 1/2 exactly for ``num >= 3``.

    Raises:
        InputError: if ``num`` is not an integer >= 1.
    """
    if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 1:
        raise InputError(f"num must be an integer >= 1 (number of phases), got {num=}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    return 2.0 * jnp.pi * jnp.arange(num, dtype=dtype) / num


def threshold(d: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """Discrimination threshold ``1 / sqrt(D)`` at d' = 1 (``inf`` where ``D = 0``).

    Uses a double ``where`` so that gradients stay finite at ``D = 0``.

    Args:
        d: sensitivities (Fisher information with unit noise), >= 0, any shape.

    Returns:
        Thresholds, same shape, in units of the stimulus parameter.
    """
    d = jnp.asarray(d, jnp.result_type(d, float))
    positive = d > 0
    safe = jnp.where(positive, d, 1.0)
    return jnp.where(positive, 1.0 / jnp.sqrt(safe), jnp.inf)


def linear_sensitivity(
    weight: Float[ArrayLike, "m n"], dx_dtheta: Float[ArrayLike, " n"]
) -> Float[Array, ""]:
    r"""Exact sensitivity of ``y = W x`` via the SVD: ``D = sum_j sigma_j^2 (v_j^T dx/dtheta)^2``.

    With ``W = U S V^T``, ``dy/dtheta = sum_j sigma_j u_j (v_j^T dx/dtheta)`` and the ``u_j`` are
    orthonormal. For ``theta_j = v_j^T x`` this gives ``D = sigma_j^2``.

    Args:
        weight: matrix ``W``, shape ``(m, n)``.
        dx_dtheta: stimulus tangent, shape ``(n,)`` (e.g. a flattened ``jax.jacfwd`` of a
            generator).

    Returns:
        Scalar ``D``.

    Raises:
        InputError: if the shapes do not match.
    """
    weight = jnp.asarray(weight)
    dx = jnp.asarray(dx_dtheta)
    if weight.ndim != 2 or dx.shape != (weight.shape[1],):
        raise InputError(
            f"expected weight (m, n) and dx_dtheta (n,), got {weight.shape=} and {dx.shape=}"
        )
    _, s, vh = jnp.linalg.svd(weight, full_matrices=False)
    return jnp.sum(jnp.square(s) * jnp.square(vh @ dx))


def _circular_distance_deg(theta, centre, period=180.0):
    return jnp.abs(jnp.mod(theta - centre + period / 2.0, period) - period / 2.0)


def cardinal_oblique_ratio(
    theta_deg: Float[ArrayLike, " T"],
    d: Float[ArrayLike, " T"],
    *,
    half_width_deg: float = 5.0,
) -> Float[Array, ""]:
    """Cardinal/oblique ratio ``CO`` of an orientation-sensitivity curve.

    ``CO = mean D over theta within half_width of 0 or 90 deg / mean D within half_width of 45 or
    135 deg``, with orientation distances taken modulo 180 deg. ``CO > 1`` means more sensitivity
    near the cardinals (the oblique effect).

    Args:
        theta_deg: orientation grid, degrees, shape ``(T,)``.
        d: sensitivities on that grid, shape ``(T,)``.
        half_width_deg: window half-width, degrees, in ``(0, 22.5)`` so the windows do not
            overlap.

    Returns:
        Scalar ratio.

    Raises:
        InputError: for mismatched shapes, a bad ``half_width_deg``, or a grid with no point in
            one of the windows (when the grid is concrete).

    Examples:
        >>> import jax.numpy as jnp
        >>> th = jnp.arange(0.0, 180.0, 1.0)
        >>> round(float(cardinal_oblique_ratio(th, 2.0 + jnp.cos(jnp.deg2rad(4 * th)))), 3)
        2.906
    """
    if not 0.0 < half_width_deg < 22.5:
        raise InputError(f"half_width_deg must lie in (0, 22.5) degrees, got {half_width_deg=}")
    theta = jnp.asarray(theta_deg, jnp.result_type(theta_deg, float))
    d = jnp.asarray(d)
    if theta.ndim != 1 or d.shape != theta.shape:
        raise InputError(
            f"theta_deg and d must be 1-D of equal length, got {theta.shape}, {d.shape}"
        )
    near = lambda centres: jnp.any(
        jnp.stack([_circular_distance_deg(theta, c) <= half_width_deg for c in centres]), axis=0
    )
    cardinal, oblique = near((0.0, 90.0)), near((45.0, 135.0))
    if is_concrete(theta):
        for name, mask in (("cardinal", cardinal), ("oblique", oblique)):
            if not bool(jnp.any(mask)):
                raise InputError(
                    f"theta_deg has no point within {half_width_deg} deg of the {name} orientations"
                )
    mean = lambda mask: jnp.sum(jnp.where(mask, d, 0.0)) / jnp.sum(mask)
    return mean(cardinal) / mean(oblique)


def acuity(
    freqs: Float[ArrayLike, " F"],
    thresholds: Float[ArrayLike, " F"],
    *,
    cutoff: float = 0.1,
) -> Float[Array, ""]:
    """Acuity: the highest frequency whose threshold is below ``cutoff``.

    Takes the last grid point ``k`` with ``T_k < cutoff``; if the next point is above the cutoff,
    the crossing is interpolated linearly in ``f`` between them (a continuous measure on a coarse
    grid). Returns ``freqs[-1]`` if every threshold passes and ``0`` if none does.

    Args:
        freqs: increasing frequencies, shape ``(F,)`` (cycles per image).
        thresholds: ``T(f) = 1 / sqrt(D(f))`` on that grid, shape ``(F,)``; ``inf`` allowed.
        cutoff: threshold criterion (> 0; 0.1 in the paper, which depends on the data scale).

    Returns:
        Scalar acuity in the units of ``freqs``.

    Raises:
        InputError: for mismatched shapes or ``cutoff <= 0``.

    Examples:
        >>> import jax.numpy as jnp
        >>> f = jnp.arange(1.0, 11.0)
        >>> round(float(acuity(f, 0.05 + 0.01 * f)), 4)  # T crosses 0.1 at f = 5
        5.0
    """
    if not cutoff > 0:
        raise InputError(f"cutoff must be > 0, got {cutoff=}")
    freqs = jnp.asarray(freqs, jnp.result_type(freqs, float))
    t = jnp.asarray(thresholds, freqs.dtype)
    if freqs.ndim != 1 or t.shape != freqs.shape or freqs.shape[0] < 1:
        raise InputError(
            f"freqs and thresholds must be 1-D of equal length, got {freqs.shape}, {t.shape}"
        )
    below = t < cutoff
    n = freqs.shape[0]
    idx = jnp.arange(n)
    k = jnp.max(jnp.where(below, idx, -1))
    k_safe = jnp.clip(k, 0, n - 1)
    k_next = jnp.clip(k + 1, 0, n - 1)
    t_k, t_next = t[k_safe], t[k_next]
    gap = jnp.where(jnp.isfinite(t_next), t_next - t_k, jnp.inf)
    frac = jnp.where(gap > 0, (cutoff - t_k) / jnp.where(gap > 0, gap, 1.0), 0.0)
    crossing = freqs[k_safe] + jnp.clip(frac, 0.0, 1.0) * (freqs[k_next] - freqs[k_safe])
    return jnp.where(k < 0, 0.0, jnp.where(k == n - 1, freqs[-1], crossing)).astype(freqs.dtype)
