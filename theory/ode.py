"""The one ODE solve of ``theory``: diffrax Tsit5 with an adaptive PID step, saved at given times.

Every differential equation of the package (the alpha/beta equations and the scalar chain of
:mod:`theory.saxe`, the singular-value flow of :mod:`theory.sv_dynamics`) goes through
:func:`solve`, so they share one set-up:

* ``diffrax.Tsit5`` (5th order, embedded 4th-order error estimate) with
  ``PIDController(rtol, atol)``;
* ``SaveAt(ts=...)``: values at the requested save times, from dense interpolation;
* ``throw=False``: a failed solve (``max_steps`` exhausted, a non-finite state) does not raise,
  so solves vmap over conditions; the status comes back as the boolean ``ok``;
* ``adjoint=diffrax.ForwardMode()``, and a forward-mode derivative (``jax.jvp``,
  ``jax.jacfwd``) in the initial state, the arguments and the times that is error-controlled
  like the state itself (see :func:`solve`).

Save times before ``t0``, out of order or not finite cannot be integrated; under ``jit`` they
cannot raise either (the traced-value policy of :mod:`theory`), so :func:`solve` integrates the
nearest valid grid and returns ``ok = False``. Callers check concrete inputs first and raise
`theory.checks.InputError`.

Examples:
    >>> import jax.numpy as jnp
    >>> ys, ok = solve(lambda t, y, args: -y, jnp.array([0.0, 1.0]), jnp.array(1.0),
    ...                rtol=1e-6, atol=1e-8)
    >>> bool(ok), round(float(ys[1]), 5)  # exp(-1)
    (True, 0.36788)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float

__all__ = ["solve"]


def solve(
    field: Callable[[Array, Any, Any], Any],
    ts: Float[ArrayLike, " T"],
    y0: Any,
    args: Any = None,
    *,
    t0: Float[ArrayLike, ""] = 0.0,
    rtol: Float[ArrayLike, ""],
    atol: Float[ArrayLike, ""],
    max_steps: int = 16_384,
    norm: Callable[[Any], Array] = optx.rms_norm,
) -> tuple[Any, Bool[Array, ""]]:
    """Integrate ``dy/dt = field(t, y, args)`` from ``t0`` and save ``y`` at the times ``ts``.

    Differentiable in forward mode (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian`` of forward
    passes) in ``ts``, ``y0``, ``args`` and ``t0``. The derivative is error-controlled: a
    ``jvp`` integrates the state together with its tangent (the forward sensitivity equation
    ``d(dy)/dt = df/dy dy + df/dargs dargs``) as one system under the same tolerances, rather than
    differentiating the solver's steps (whose sizes adapt to the state alone, so that tangents
    through a converged, flat solution can be off by many times the tolerance). The primal of a
    ``jvp`` is the plain solve's; tangents are ``NaN`` if the joint solve fails. Reverse mode
    (``jax.grad``) is not supported.

    Args:
        field: vector field ``f(t, y, args)`` (diffrax signature), returning the pytree
            structure of ``y0``. It must not close over traced values: pass them in ``args``.
        ts: save times, shape ``(T,)``, ``T >= 1``, finite, non-decreasing and ``>= t0``; the
            solve ends at ``ts[-1]``.
        y0: initial state at ``t0`` (a pytree of floating arrays).
        args: a pytree of arrays passed to ``field`` unchanged (``None`` for none).
        t0: initial time.
        rtol, atol: relative and absolute tolerances of the PID step-size controller (may be
            traced).
        max_steps: step budget (static, default 16 384).
        norm: norm of the error estimate used by the controller; ``optimistix.rms_norm``
            (diffrax's default) or ``optimistix.max_norm`` for a system of independent equations
            that must each meet the tolerance.

    Returns:
        ``(ys, ok)``: ``ys`` with a leading axis of length ``T`` on every leaf of ``y0``, and a
        boolean scalar that is ``True`` iff diffrax reported success and the save times were
        valid (finite, non-decreasing, ``>= t0``).
    """
    ts = jnp.asarray(ts)
    t0 = jnp.asarray(t0, ts.dtype)
    return _solve(field, max_steps, norm, ts, y0, args, t0, rtol, atol)


def _safe_times(ts, t0):
    """The nearest valid save grid (finite, ``>= t0``, non-decreasing) and whether ``ts`` is it."""
    valid = jnp.all(jnp.isfinite(ts) & (ts >= t0)) & jnp.all(ts[1:] >= ts[:-1])
    return lax.cummax(jnp.maximum(jnp.where(jnp.isfinite(ts), ts, t0), t0)), valid


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _solve(field, max_steps, norm, ts, y0, args, t0, rtol, atol):
    # invalid save times cannot raise under jit: integrate the nearest valid grid, flag it
    ts_safe, ts_valid = _safe_times(ts, t0)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Tsit5(),
        t0=t0,
        t1=ts_safe[-1],
        dt0=None,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts_safe),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, norm=norm),
        max_steps=max_steps,
        throw=False,
        adjoint=diffrax.ForwardMode(),
    )
    return sol.ys, (sol.result == diffrax.RESULTS.successful) & ts_valid


@_solve.defjvp
def _solve_jvp(field, max_steps, norm, primals, tangents):
    ts, y0, args, t0, rtol, atol = primals
    dts, dy0, dargs, dt0, _, _ = tangents
    # carry the tangents of the floating leaves of args; the others (integers, booleans) get
    # float0 zeros inside the field
    arg_leaves, arg_tree = jax.tree.flatten(args)
    inexact = [jnp.issubdtype(jnp.result_type(a), jnp.inexact) for a in arg_leaves]
    dargs_carried = [d for d, keep in zip(jax.tree.leaves(dargs), inexact, strict=True) if keep]

    def expand(carried):
        it = iter(carried)
        full = [
            next(it) if keep else np.zeros(np.shape(a), jax.dtypes.float0)
            for a, keep in zip(arg_leaves, inexact, strict=True)
        ]
        return jax.tree.unflatten(arg_tree, full)

    def joint_field(t, state, joint_args):
        (y, dy), (a, da) = state, joint_args
        return jax.jvp(lambda yy, aa: field(t, yy, aa), (y, a), (dy, expand(da)))

    # moving t0 by dt0 moves the start of the trajectory: dy(t0) = dy0 - f(t0, y0) dt0
    f0 = field(t0, y0, args)
    dy_start = jax.tree.map(lambda d, f: d - f * dt0, dy0, f0)
    ys, ok = _solve(field, max_steps, norm, ts, y0, args, t0, rtol, atol)
    (_, dys), joint_ok = _solve(
        joint_field,
        max_steps,
        norm,
        ts,
        (y0, dy_start),
        (args, dargs_carried),
        t0,
        rtol,
        atol,
    )
    # moving a save time moves the saved value along the trajectory: + f(ts, y(ts)) dts
    ts_safe, _ = _safe_times(ts, t0)
    fs = jax.vmap(lambda t, y: field(t, y, args))(ts_safe, ys)
    dys = jax.tree.map(
        lambda d, f: jnp.where(
            joint_ok, d + f * dts.reshape(dts.shape + (1,) * (f.ndim - 1)), jnp.nan
        ),
        dys,
        fs,
    )
    return (ys, ok), (dys, np.zeros(np.shape(ok), jax.dtypes.float0))
