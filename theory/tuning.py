"""Population tuning curves feeding the deep-linear theory of perceptual learning.

Saxe's poster (*A deep learning theory of perceptual learning dynamics*) starts learning from an
input layer of orientation-tuned neurons but does not give their tuning curves; the defaults
here (von Mises curves, ``n = 180``, ``kappa = 2``, ``A = 1``, ``b0 = 0.1``, ``theta0 = 45``
degrees) are this package's choice, and every one is a parameter.

Conventions:

* Orientations are in **radians** (names end in ``_rad``), period ``pi``; neuron ``j`` of a
  population of ``n`` prefers ``phi_j = j pi / n``, ``j = 0..n-1`` (a uniform periodic grid).
* The last axis of every population response is the neuron axis ``n``; leading axes follow the
  stimulus argument, so the functions vmap (and broadcast) over stimuli and tasks.
* A *task* is a pair of stimuli ``theta_pm = theta0 +- dtheta / 2`` with population responses
  ``g_plus, g_minus``; ``d = g_plus - g_minus`` and the difficulty ``v = d^T g_plus``
  (``= ||d||^2 / 2`` when ``||g_plus|| = ||g_minus||``, the symmetry the alpha/beta reduction
  needs; it holds exactly for shifted copies of one curve on the uniform grid).
* Nothing here is random; no key is taken. Library code is dtype-preserving (float32 unless the
  caller enables x64).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from theory.checks import InputError, is_concrete, require

__all__ = [
    "TaskVectors",
    "check_equal_norms",
    "difficulty",
    "gaussian_population",
    "norm_mismatch",
    "preferred_orientations",
    "task_vectors",
    "von_mises_population",
]

#: Default reference orientation of the Saxe task, 45 degrees.
THETA0_RAD = float(np.pi / 4)
#: Default width of the Gaussian tuning curves, 20 degrees.
SIGMA_RAD = float(np.deg2rad(20.0))


def _check_n(n) -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise InputError(f"n (number of neurons) must be an integer >= 1, got {n=}")
    return int(n)


def _check_positive(name: str, value, *, strict: bool = True) -> None:
    """`theory.checks.require` that a concrete ``value`` is ``> 0`` (``>= 0`` if not strict)."""
    if strict:
        require(name, value, lambda a: a > 0, "> 0")
    else:
        require(name, value, lambda a: a >= 0, ">= 0")


def preferred_orientations(n: int = 180, dtype=None) -> Float[Array, " n"]:
    """Preferred orientations ``phi_j = j pi / n`` (radians), ``j = 0..n-1``.

    Args:
        n: number of neurons, an integer >= 1.
        dtype: floating dtype (default: JAX's default float).

    Returns:
        Array of shape ``(n,)`` in ``[0, pi)``.

    Raises:
        InputError: if ``n < 1``.

    Examples:
        >>> preferred_orientations(4).tolist()  # doctest: +ELLIPSIS
        [0.0, 0.785..., 1.570..., 2.356...]
    """
    n = _check_n(n)
    return jnp.arange(n, dtype=dtype or jnp.result_type(float)) * (jnp.pi / n)


def von_mises_population(
    theta_rad: Float[ArrayLike, "*S"],
    n: int = 180,
    kappa: Float[ArrayLike, ""] = 2.0,
    amplitude: Float[ArrayLike, ""] = 1.0,
    baseline: Float[ArrayLike, ""] = 0.1,
) -> Float[Array, "*S n"]:
    r"""Responses of ``n`` von Mises orientation-tuned neurons to the orientation ``theta_rad``.

    .. math:: f_j(\theta) = b_0 + A \exp(\kappa(\cos 2(\theta - \phi_j) - 1)),
              \quad \phi_j = j\pi/n

    Args:
        theta_rad: stimulus orientation(s) in radians, any shape ``S`` (period ``pi``).
        n: number of neurons, an integer >= 1 (static).
        kappa: concentration, >= 0 (larger = narrower tuning).
        amplitude: peak height above baseline ``A``.
        baseline: baseline response ``b_0``.

    Returns:
        Responses of shape ``S + (n,)``.

    Raises:
        InputError: if ``n < 1`` or a concrete ``kappa < 0``.

    References:
        The input population of Saxe's poster (the defaults ``n=180, kappa=2, A=1, b0=0.1``
        are this package's choice; the poster gives no tuning curves).

    Examples:
        >>> f = von_mises_population(0.0, n=4)
        >>> round(float(f[0]), 6), round(float(f[2]), 6)
        (1.1, 0.118316)
    """
    n = _check_n(n)
    _check_positive("kappa", kappa, strict=False)
    return _von_mises_jit(theta_rad, n, kappa, amplitude, baseline)


@functools.partial(jax.jit, static_argnames=("n",))
def _von_mises_jit(theta_rad, n, kappa, amplitude, baseline):
    theta = jnp.asarray(theta_rad)
    phi = preferred_orientations(n, dtype=jnp.result_type(theta, float))
    delta = theta[..., None] - phi.reshape((1,) * theta.ndim + phi.shape)
    return baseline + amplitude * jnp.exp(kappa * (jnp.cos(2.0 * delta) - 1.0))


def gaussian_population(
    theta_rad: Float[ArrayLike, "*S"],
    n: int = 180,
    sigma_rad: Float[ArrayLike, ""] = SIGMA_RAD,
    amplitude: Float[ArrayLike, ""] = 1.0,
    baseline: Float[ArrayLike, ""] = 0.1,
) -> Float[Array, "*S n"]:
    r"""Responses of ``n`` neurons with wrapped-Gaussian orientation tuning.

    .. math:: f_j(\theta) = b_0 + A \exp(-\delta_j^2 / (2\sigma^2)),
              \quad \delta_j = \mathrm{wrap}_{[-\pi/2, \pi/2)}(\theta - \phi_j)

    Args:
        theta_rad: stimulus orientation(s) in radians, any shape ``S`` (period ``pi``).
        n: number of neurons, an integer >= 1 (static).
        sigma_rad: tuning width in radians, > 0.
        amplitude: peak height above baseline.
        baseline: baseline response.

    Returns:
        Responses of shape ``S + (n,)``.

    Raises:
        InputError: if ``n < 1`` or a concrete ``sigma_rad <= 0``.

    Examples:
        >>> f = gaussian_population(0.0, n=4, sigma_rad=0.5)
        >>> round(float(f[0]), 6), round(float(f[1]), 5) == round(float(f[3]), 5)
        (1.1, True)
    """
    n = _check_n(n)
    _check_positive("sigma_rad", sigma_rad)
    return _gaussian_jit(theta_rad, n, sigma_rad, amplitude, baseline)


@functools.partial(jax.jit, static_argnames=("n",))
def _gaussian_jit(theta_rad, n, sigma_rad, amplitude, baseline):
    theta = jnp.asarray(theta_rad)
    phi = preferred_orientations(n, dtype=jnp.result_type(theta, float))
    phi = phi.reshape((1,) * theta.ndim + phi.shape)
    delta = jnp.mod(theta[..., None] - phi + jnp.pi / 2, jnp.pi) - jnp.pi / 2
    return baseline + amplitude * jnp.exp(-0.5 * (delta / sigma_rad) ** 2)


class TaskVectors(NamedTuple):
    """Population vectors of a two-stimulus discrimination task (a pytree; vmaps over tasks).

    Attributes:
        g_plus: response to ``theta0 + dtheta/2``, shape ``(..., n)``.
        g_minus: response to ``theta0 - dtheta/2``, shape ``(..., n)``.
        d: ``g_plus - g_minus``, shape ``(..., n)``.
        v: difficulty ``d^T g_plus``, shape ``(...)``.
    """

    g_plus: Array
    g_minus: Array
    d: Array
    v: Array


@jax.jit
def difficulty(g_plus: Float[ArrayLike, "*B n"], g_minus: Float[ArrayLike, "*B n"]) -> Array:
    """Task difficulty ``v = d^T g_plus = ||g_plus||^2 - g_plus^T g_minus`` (small v = hard).

    Args:
        g_plus: population response to stimulus +, shape ``(..., n)``.
        g_minus: population response to stimulus -, same shape.

    Returns:
        ``v`` of shape ``(...)``.

    References:
        Saxe (poster), "the constant v = d^T g+ = g+^T g+ - g+^T g- encodes task difficulty".
    """
    g_plus, g_minus = jnp.asarray(g_plus), jnp.asarray(g_minus)
    return jnp.sum((g_plus - g_minus) * g_plus, axis=-1)


@jax.jit
def norm_mismatch(g_plus: Float[ArrayLike, "*B n"], g_minus: Float[ArrayLike, "*B n"]) -> Array:
    """Relative norm mismatch ``| ||g+||^2 - ||g-||^2 | / ||g+||^2`` (jit-safe status value).

    The alpha/beta reduction is exact only when this is 0; use it as a flag inside ``jit``.

    Args:
        g_plus: shape ``(..., n)``.
        g_minus: same shape.

    Returns:
        Shape ``(...)``, >= 0.
    """
    g_plus, g_minus = jnp.asarray(g_plus), jnp.asarray(g_minus)
    pp = jnp.sum(g_plus * g_plus, axis=-1)
    mm = jnp.sum(g_minus * g_minus, axis=-1)
    return jnp.abs(pp - mm) / pp


def check_equal_norms(
    g_plus: Float[ArrayLike, "*B n"], g_minus: Float[ArrayLike, "*B n"], *, rtol: float = 1e-6
) -> None:
    """Raise `InputError` unless ``||g_plus|| = ||g_minus||`` (relative tolerance ``rtol``).

    Skipped (no error possible) when called on traced values; use :func:`norm_mismatch` as a
    status flag inside ``jit``.

    Args:
        g_plus: shape ``(..., n)``.
        g_minus: same shape.
        rtol: allowed relative mismatch of the squared norms, >= 0.

    Raises:
        InputError: naming ``g_plus, g_minus`` and the allowed mismatch.
    """
    if not is_concrete((g_plus, g_minus)):
        return
    mismatch = np.asarray(norm_mismatch(g_plus, g_minus))
    if np.any(mismatch > rtol):
        raise InputError(
            "g_plus and g_minus must have equal norms (||g_plus|| = ||g_minus||, relative "
            f"mismatch of squared norms <= {rtol}) for the alpha/beta reduction, got a mismatch "
            f"of {mismatch.max():.3g}; simulate the full network instead"
        )


def task_vectors(
    dtheta_rad: Float[ArrayLike, "*B"],
    *,
    theta0_rad: Float[ArrayLike, ""] = THETA0_RAD,
    n: int = 180,
    tuning: str = "von_mises",
    kappa: Float[ArrayLike, ""] = 2.0,
    sigma_rad: Float[ArrayLike, ""] = SIGMA_RAD,
    amplitude: Float[ArrayLike, ""] = 1.0,
    baseline: Float[ArrayLike, ""] = 0.1,
) -> TaskVectors:
    """Population vectors ``g_pm = f(theta0 +- dtheta/2)``, ``d`` and ``v`` of a task.

    Args:
        dtheta_rad: stimulus separation(s) in radians, shape ``B`` (any; > 0 for a real task).
        theta0_rad: reference orientation in radians (default 45 degrees).
        n: number of neurons (static).
        tuning: ``"von_mises"`` (uses ``kappa``) or ``"gaussian"`` (uses ``sigma_rad``); static.
        kappa: von Mises concentration.
        sigma_rad: Gaussian width in radians.
        amplitude: tuning amplitude.
        baseline: tuning baseline.

    Returns:
        :class:`TaskVectors` with ``g_plus, g_minus, d`` of shape ``B + (n,)`` and ``v`` of
        shape ``B``.

    Raises:
        InputError: for an unknown ``tuning`` or ``n < 1``.

    Examples:
        >>> import numpy as np
        >>> task = task_vectors(np.deg2rad(10.0))
        >>> bool(abs(task.v - 0.5 * (task.d @ task.d)) < 1e-5)
        True
    """
    if tuning == "von_mises":
        _check_positive("kappa", kappa, strict=False)
        width = kappa
    elif tuning == "gaussian":
        _check_positive("sigma_rad", sigma_rad)
        width = sigma_rad
    else:
        raise InputError(f"tuning must be one of 'von_mises', 'gaussian', got {tuning=}")
    dtype = jnp.result_type(dtheta_rad, float)
    cast = lambda x: jnp.asarray(x, dtype)  # canonical dtypes: one compilation per shape
    return _task_vectors_jit(
        cast(dtheta_rad),
        cast(theta0_rad),
        cast(width),
        cast(amplitude),
        cast(baseline),
        n=_check_n(n),
        tuning=tuning,
    )


@functools.partial(jax.jit, static_argnames=("n", "tuning"))
def _task_vectors_jit(dtheta_rad, theta0_rad, width, amplitude, baseline, *, n, tuning):
    dtheta = jnp.asarray(dtheta_rad)
    plus, minus = theta0_rad + dtheta / 2, theta0_rad - dtheta / 2
    curve_jit = _von_mises_jit if tuning == "von_mises" else _gaussian_jit
    curve = lambda th: curve_jit(th, n, width, amplitude, baseline)
    g_plus, g_minus = curve(plus), curve(minus)
    return TaskVectors(g_plus, g_minus, g_plus - g_minus, difficulty(g_plus, g_minus))
