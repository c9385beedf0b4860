r"""Saxe's deep-linear theory of perceptual learning: alpha/beta dynamics and their consequences.

The 3-layer linear network of Saxe's poster has input layer ``W1 in R^{N x 2}`` (columns = the
population responses ``g+, g-`` to the two stimuli, one-hot inputs ``x+ = e1, x- = e2``) and a
scalar decision layer ``W2 in R^{1 x N}``, targets ``y* = +-c`` and the loss summed over the two
stimuli, ``L = 1/2 sum_mu (y*_mu - W2 W1 x_mu)^2``. Gradient flow ``tau dW/dt = -dL/dW`` keeps the
weights on the manifold ``W1 = [g+, g-] + alpha [d, -d]``, ``W2 = beta d^T`` with

.. math::
    \tau \dot\alpha = \beta\, e, \qquad \tau \dot\beta = (1 + 2\alpha)\, e, \qquad
    e = c - v\beta(1 + 2\alpha),

``d = g+ - g-`` and ``v = d^T g+`` (needs ``||g+|| = ||g-||``). Conventions used throughout:

* ``c``: target amplitude (default 1); ``tau``: time constant (default 1, so ``t = step * lr``
  for gradient descent with learning rate ``lr``); ``alpha(0) = 0``, ``beta(0) = beta0 >= 0``.
* Conserved along trajectories: ``beta^2 - 2 alpha - 2 alpha^2 = beta0^2`` (with ``alpha0 = 0``).
* All functions are pure, jittable and vmap over tasks (``v, c, beta0, tau, ...``). They follow
  the traced-value policy of :mod:`theory`: value checks (``v > 0``, ``0 <= beta0 < 1/sqrt(2)``,
  ``t >= 0``, ...) raise `theory.checks.InputError` when the inputs are concrete; inside
  ``jit``/``vmap`` they cannot raise, and the functions return ``NaN`` outside their domain or a
  boolean ``ok`` status flag instead. Each checked function runs its checks on the caller's
  arguments and then one jitted kernel (all floating arguments cast to one dtype first, so
  repeated calls with the same shapes share one compilation).
* ODE solves go through :func:`theory.ode.solve` (diffrax ``Tsit5`` + ``PIDController`` +
  ``SaveAt(ts=...)``, ``throw=False``, forward-mode adjoint, so ``jax.jacfwd`` works through
  them); the solver status is always returned (``ok``) and, for concrete calls, a failed solve
  raises ``RuntimeError``.

Also here: the fixed point, early-time asymptotics, half-times, the within-layer change profile,
the depth-L scalar chain (the reverse hierarchy of the poster), the pooling/transfer model with
its savings corollary, and the table of reference numbers per stimulus separation.
Gradient-descent simulations of the full networks live in :mod:`theory.deep_linear`;
:func:`simulate` wraps the 3-layer one.

References:
    A. M. Saxe, *A deep learning theory of perceptual learning dynamics* (poster);
    A. M. Saxe, J. L. McClelland & S. Ganguli (2014), *Exact solutions to the nonlinear dynamics
    of learning in deep linear neural networks* (ICLR).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, ArrayLike, Bool, Float

from theory import deep_linear, ode
from theory import tuning as tu
from theory.checks import InputError, is_concrete, require

__all__ = [
    "ChainSolution",
    "ODESolution",
    "Simulation",
    "beta_over_alpha",
    "chain_deltas",
    "change_profile",
    "closed_form",
    "conserved_quantity",
    "early_time",
    "fixed_point",
    "half_times",
    "integrate",
    "integrate_chain",
    "integrate_many",
    "integrate_q",
    "most_changed_offset_deg",
    "reduce_task",
    "reference_table",
    "saxe_chain_strengths",
    "savings",
    "simulate",
    "time_at_alpha",
    "time_at_beta",
    "time_at_output",
    "transfer_output",
    "transfer_ratio",
    "vector_field",
    "chain_vector_field",
]

BETA0_MAX = float(1.0 / np.sqrt(2.0))  # closed form domain: 0 <= beta0 < 1/sqrt(2)
KAPPA_SAXE = float(1.0 / np.sqrt(2.0))  # chain output gain that maps the 3-layer model
REFERENCE_DTHETAS_DEG = (1.0, 2.0, 5.0, 10.0, 20.0, 45.0, 90.0)


# ---------------------------------------------------------------------------------------------
# input checks (concrete inputs raise; traced inputs are handled with NaN / status flags)


def _check_task_args(*, v=None, c=None, beta0=None, tau=None, t=None, closed=False) -> None:
    """`theory.checks.require` on every task argument that is given (``None``: not an input)."""
    if closed:
        beta0_rule = (
            lambda a: (a >= 0) & (a < BETA0_MAX),
            "in [0, 1/sqrt(2)) for the closed form (use integrate() otherwise)",
        )
    else:
        beta0_rule = (lambda a: a >= 0, ">= 0")
    rules = {
        "v": (v, lambda a: a > 0, "> 0 (v = d^T g+ is the task's discriminability)"),
        "c": (c, lambda a: a >= 0, ">= 0 (target amplitude)"),
        "tau": (tau, lambda a: a > 0, "> 0 (time constant)"),
        "t": (t, lambda a: a >= 0, ">= 0 (times since the start of training)"),
        "beta0": (beta0, *beta0_rule),
    }
    for name, (value, predicate, allowed) in rules.items():
        if value is not None:
            require(name, value, predicate, allowed)


def _check_save_times(ts) -> None:
    """Save times: a 1-D array (static, raises under jit too), non-decreasing (concrete)."""
    if np.ndim(ts) != 1:
        raise InputError(f"ts must be a 1-D array of save times, got shape {np.shape(ts)}")
    require("ts", ts, lambda a: np.all(np.diff(a) >= 0), "non-decreasing (save times)")


def _raise_if_failed(ok, what: str) -> None:
    if is_concrete(ok) and not bool(np.all(np.asarray(ok))):
        raise RuntimeError(
            f"{what}: the diffrax solve did not succeed (sol.result != successful); "
            "increase max_steps or loosen rtol/atol"
        )


def _is_number(x) -> bool:
    return not isinstance(x, bool) and (
        isinstance(x, int | float) or jnp.issubdtype(jnp.result_type(x), jnp.number)
    )


def _entry(
    check: Callable[..., dict | None],
    *,
    static_argnames: tuple[str, ...] = (),
    solver: str | None = None,
    bucket: str | None = None,
):
    """Decorator: a public function = eager input checks, then one jitted kernel (the decorated).

    The public function keeps the kernel's signature and docstring. On each call it

    1. binds the caller's arguments to that signature (defaults applied) and calls
       ``check(**arguments)``, which raises `InputError` for concrete bad values (traced values
       pass: the kernel answers ``NaN`` or ``ok = False`` for them) and may return a dict of
       replaced arguments (e.g. validated integers);
    2. casts every numeric argument that is not static to one floating dtype (the promotion of
       all of them), so Python numbers, NumPy and JAX arrays share one compilation;
    3. with ``bucket`` (an argument name): pads that argument, flattened, to 128 entries or the
       next power of two, and cuts every output back to its shape, so that all grids of up to
       128 points share one compilation;
    4. calls the jitted kernel and, with ``solver`` (the name shown), raises ``RuntimeError``
       if a concrete solve failed (the status ``ok`` is the last field of the output).
    """

    def decorate(kernel):
        signature = inspect.signature(kernel)
        jitted = jax.jit(kernel, static_argnames=static_argnames)

        @functools.wraps(kernel)
        def entry(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = {
                k: np.asarray(x) if type(x) in (list, tuple) else x
                for k, x in bound.arguments.items()
            }
            arguments.update(check(**arguments) or {})
            traced = [k for k in arguments if k not in static_argnames]
            numbers = [x for k in traced for x in jax.tree.leaves(arguments[k]) if _is_number(x)]
            dtype = jnp.result_type(*numbers, float)
            for k in traced:
                arguments[k] = jax.tree.map(
                    lambda x: jnp.asarray(x, dtype) if _is_number(x) else x, arguments[k]
                )
            if bucket is None:
                out = jitted(**arguments)
            else:
                grid = arguments[bucket]
                size = grid.size
                padded = max(128, 1 << max(size - 1, 0).bit_length())
                flat = jnp.concatenate([grid.reshape(-1), jnp.zeros((padded - size,), dtype)])
                out = jitted(**{**arguments, bucket: flat})
                out = jax.tree.map(lambda y: y[:size].reshape(grid.shape), out)
            if solver is not None:
                _raise_if_failed(out[-1], solver)
            return out

        return entry

    return decorate


def _check_ode(ts, v, c, beta0, tau, **_) -> None:
    _check_save_times(ts)
    _check_task_args(v=v, c=c, beta0=beta0, tau=tau, t=ts)


def _check_closed(v, c, beta0, tau, t=None, **_) -> None:
    _check_task_args(v=v, c=c, beta0=beta0, tau=tau, t=t, closed=True)


def _check_open(v, c, beta0, tau=None, t=None, **_) -> None:
    _check_task_args(v=v, c=c, beta0=beta0, tau=tau, t=t)


# ---------------------------------------------------------------------------------------------
# the reduced alpha/beta dynamics


def reduce_task(task: tu.TaskVectors, *, rtol: float = 1e-6) -> Array:
    """The reduction's single task parameter ``v = d^T g+``, after checking its assumption.

    Args:
        task: population vectors (:func:`theory.tuning.task_vectors`), any batch shape.
        rtol: allowed relative mismatch of ``||g+||^2`` and ``||g-||^2``.

    Returns:
        ``v`` with the task's batch shape.

    Raises:
        InputError: if ``||g+|| != ||g-||`` (the alpha/beta manifold is then not invariant).
    """
    tu.check_equal_norms(task.g_plus, task.g_minus, rtol=rtol)
    return tu.difficulty(task.g_plus, task.g_minus)


def vector_field(t, y: Float[Array, "2"], args: dict) -> Float[Array, "2"]:
    r"""The alpha/beta vector field ``f(t, y, args)`` (diffrax convention).

    .. math:: \tau\dot\alpha = \beta e,\quad \tau\dot\beta = (1+2\alpha) e,\quad
              e = c - v\beta(1+2\alpha)

    Args:
        t: time (unused; autonomous system).
        y: state ``(alpha, beta)``, shape ``(2,)``.
        args: dict with scalar arrays ``v`` (> 0), ``c`` and ``tau`` (> 0).

    Returns:
        ``(d alpha/dt, d beta/dt)``, shape ``(2,)``.
    """
    del t
    alpha, beta = y[0], y[1]
    u = 1.0 + 2.0 * alpha
    err = args["c"] - args["v"] * beta * u
    return jnp.stack([beta * err, u * err]) / args["tau"]


class ODESolution(NamedTuple):
    """Numerical alpha/beta trajectory.

    Attributes:
        ts: save times, shape ``(T,)``.
        alpha: shape ``(T,)``.
        beta: shape ``(T,)``.
        ok: scalar bool, ``True`` iff the solver succeeded and the inputs were valid.
    """

    ts: Array
    alpha: Array
    beta: Array
    ok: Array


@_entry(_check_ode, static_argnames=("max_steps",), solver="integrate")
def integrate(
    ts: Float[ArrayLike, " T"],
    v: Float[ArrayLike, ""],
    c: Float[ArrayLike, ""] = 1.0,
    beta0: Float[ArrayLike, ""] = 0.0,
    tau: Float[ArrayLike, ""] = 1.0,
    *,
    alpha0: Float[ArrayLike, ""] = 0.0,
    rtol: Float[ArrayLike, ""] = 1e-10,
    atol: Float[ArrayLike, ""] = 1e-12,
    max_steps: int = 16_384,
) -> ODESolution:
    """Integrate the alpha/beta ODE numerically from ``t = 0`` (diffrax Tsit5, adaptive).

    Valid for any ``beta0 >= 0`` and ``alpha0`` (no closed-form restriction). Jittable and
    vmappable over tasks; the status flag ``ok`` reports solver failure and invalid inputs.

    Args:
        ts: non-decreasing save times >= 0, shape ``(T,)`` (units of ``tau``).
        v: task discriminability ``d^T g+`` (> 0).
        c: target amplitude (>= 0).
        beta0: initial decision-layer strength (>= 0).
        tau: time constant (> 0).
        alpha0: initial input-layer change (default 0).
        rtol: relative tolerance of the PID step-size controller (float64 needed below ~1e-6).
        atol: absolute tolerance.
        max_steps: maximum number of solver steps (static).

    Returns:
        :class:`ODESolution` ``(ts, alpha, beta, ok)``.

    Raises:
        InputError: for concrete invalid inputs (``v <= 0``, ``tau <= 0``, ``t < 0``,
            ``beta0 < 0``, ``c < 0``, decreasing ``ts``) or ``ts`` not of rank 1.
        RuntimeError: if a concrete solve fails (``sol.result`` not successful).

    Examples:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     sol = integrate([0.0, 1.0, 50.0], v=0.5)
        ...     a, b = fixed_point(0.5)
        ...     print(bool(sol.ok), bool(abs(sol.alpha[-1] - a) < 1e-9))
        True True
    """
    y0 = jnp.stack([alpha0, beta0])
    args = {"v": v, "c": c, "tau": tau}
    ys, ok = ode.solve(vector_field, ts, y0, args, rtol=rtol, atol=atol, max_steps=max_steps)
    return ODESolution(ts, ys[:, 0], ys[:, 1], ok & (v > 0) & (tau > 0))


def _check_many(ts, v, c, beta0, tau, **_) -> None:
    _check_save_times(ts)
    if np.ndim(v) != 1:
        raise InputError(f"v must be a 1-D array of task discriminabilities, got {np.shape(v)}")
    _check_task_args(v=v, c=c, beta0=beta0, tau=tau, t=ts)


@_entry(_check_many, static_argnames=("max_steps",), solver="integrate_many")
def integrate_many(
    ts: Float[ArrayLike, " T"],
    v: Float[ArrayLike, " C"],
    c: Float[ArrayLike, " C"] = 1.0,
    beta0: Float[ArrayLike, " C"] = 0.0,
    tau: Float[ArrayLike, " C"] = 1.0,
    *,
    alpha0: Float[ArrayLike, " C"] = 0.0,
    rtol: Float[ArrayLike, ""] = 1e-10,
    atol: Float[ArrayLike, ""] = 1e-12,
    max_steps: int = 16_384,
) -> ODESolution:
    """Integrate ``C`` tasks at once as one ODE system with shared adaptive steps.

    The fast path for thousands of tasks: the vector field is vmapped over the task axis inside a
    single diffrax solve, and the step-size controller uses the **max** norm, so every task meets
    the tolerances (steps are those of the hardest task). Compared with ``jax.vmap(integrate)``
    there is no per-task control flow and the save-time interpolation is done once per step.

    Args:
        ts: save times >= 0, shape ``(T,)``, shared by all tasks.
        v: discriminabilities > 0, shape ``(C,)``.
        c, beta0, tau, alpha0: scalars or shape ``(C,)`` (broadcast to ``(C,)``).
        rtol, atol, max_steps: solver controls (``max_steps`` static).

    Returns:
        :class:`ODESolution` with ``alpha, beta`` of shape ``(C, T)`` and ``ok`` of shape ``(C,)``
        (``False`` for invalid inputs, or for every task if the shared solve failed).

    Raises:
        InputError: for concrete invalid inputs or ``v`` not of rank 1.
        RuntimeError: if a concrete solve fails for valid inputs.
    """
    c, beta0, tau, alpha0 = (jnp.broadcast_to(x, v.shape) for x in (c, beta0, tau, alpha0))
    y0 = jnp.stack([alpha0, beta0], axis=-1)  # (C, 2)
    args = {"v": v, "c": c, "tau": tau}
    field = jax.vmap(vector_field, in_axes=(None, 0, {"v": 0, "c": 0, "tau": 0}))
    ys, ok = ode.solve(
        field, ts, y0, args, rtol=rtol, atol=atol, max_steps=max_steps, norm=optx.max_norm
    )
    return ODESolution(ts, ys[..., 0].T, ys[..., 1].T, ok & (v > 0) & (tau > 0))


# ---------------------------------------------------------------------------------------------
# closed form, fixed point, conservation, asymptotics


def _zpm(v, c, beta0):
    """Constants of the closed form: C, R, z+, z-, sqrt(z0) and z0 - 1 (see :func:`closed_form`).

    Only algebraic functions are used (``z0 = e^{psi0} = (x + sqrt(x^2 + 1))^2`` with
    ``x = beta0 sqrt(2/C)``), which keeps the compiled program small.
    """
    big_c = 1.0 - 2.0 * beta0**2
    a = 2.0 * jnp.sqrt(2.0) * c
    b = v * big_c
    r = jnp.sqrt(a * a + b * b)
    z_plus = (a + r) / b
    z_minus = -1.0 / z_plus  # z+ z- = -1; avoids the cancellation in (A - R) / B
    x = beta0 * jnp.sqrt(2.0 / big_c)
    root = jnp.sqrt(x * x + 1.0)
    s0 = x + root  # e^{psi0 / 2}
    z0_minus_1 = (x + x * x / (root + 1.0)) * (s0 + 1.0)  # (s0 - 1)(s0 + 1), no cancellation
    return big_c, r, z_plus, z_minus, s0, z0_minus_1


def _valid_closed(v, c, beta0, tau):
    return (v > 0) & (c >= 0) & (beta0 >= 0) & (beta0 < BETA0_MAX) & (tau > 0)


@_entry(_check_closed, bucket="t")
def closed_form(
    t: Float[ArrayLike, "*T"],
    v: Float[ArrayLike, ""],
    c: Float[ArrayLike, ""] = 1.0,
    beta0: Float[ArrayLike, ""] = 0.0,
    tau: Float[ArrayLike, ""] = 1.0,
) -> tuple[Float[Array, "*T"], Float[Array, "*T"]]:
    r"""Exact solution ``(alpha(t), beta(t))`` of the alpha/beta ODE with ``alpha(0) = 0``.

    With ``C = 1 - 2 beta0^2``, ``u = 1 + 2 alpha = sqrt(C) cosh(psi/2)``,
    ``beta = sqrt(C/2) sinh(psi/2)``, the angle obeys ``tau psi' = A - B sinh psi`` with
    ``A = 2 sqrt(2) c``, ``B = v C``, solved by ``z = e^psi``:

    .. math:: z(t) = \frac{z_+ + z_- E(t)}{1 + E(t)},\quad
              E(t) = \frac{z_+ - z_0}{z_0 - z_-} e^{-R t/\tau},\quad
              z_\pm = \frac{A \pm R}{B},\quad R = \sqrt{A^2 + B^2}

    (a logistic approach at rate ``R/tau``), evaluated in a cancellation-free form.

    Args:
        t: times >= 0, any shape (units of ``tau``).
        v: discriminability, > 0.
        c: target amplitude, >= 0.
        beta0: initial decision strength, in ``[0, 1/sqrt(2))``.
        tau: time constant, > 0.

    Returns:
        ``(alpha, beta)``, each of the shape of ``t``; ``NaN`` where (traced) inputs are outside
        the domain. Grids of up to 128 points share one compilation.

    Raises:
        InputError: for concrete inputs outside the domain, naming the parameter and range.

    References:
        Derived here from the alpha/beta equations of Saxe's poster, *A deep learning theory
        of perceptual learning dynamics* (a logistic approach in ``z = e^psi``, as in Saxe,
        McClelland & Ganguli 2014).

    Examples:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     a, b = closed_form(1e9, v=0.5)
        ...     print([round(float(x), 9) for x in (a, b)] == [round(float(x), 9)
        ...           for x in fixed_point(0.5)])
        True
    """
    big_c, r, z_plus, z_minus, s0, z0_minus_1 = _zpm(v, c, beta0)
    z0 = s0 * s0
    m = jnp.expm1(-r * t / tau)  # e^{-Rt/tau} - 1
    big_e = (z_plus - z0) / (z0 - z_minus) * (1.0 + m)
    # z - z0 = (z+ - z0)(1 - e^{-Rt/tau}) / (1 + E): exact and free of cancellation near t = 0
    dz = -(z_plus - z0) * m / (1.0 + big_e)
    w = jnp.sqrt(1.0 + dz / z0)  # e^{(psi - psi0)/2}
    s = s0 * w  # e^{psi/2}
    z_minus_1 = z0_minus_1 + dz
    # beta = sqrt(C/2) sinh(psi/2), u = sqrt(C) cosh(psi/2), written with s = e^{psi/2}
    beta = jnp.sqrt(big_c / 2.0) * z_minus_1 / (2.0 * s)
    u = jnp.sqrt(big_c) * (s + 1.0 / s) / 2.0
    # alpha = (u - 1)/2 = (beta^2 - beta0^2)/(u + 1), and
    # beta^2 - beta0^2 = (C/2) sinh((psi - psi0)/2) sinh((psi + psi0)/2)
    sinh_half_dpsi = (dz / z0) / (2.0 * w)
    sinh_half_sum = (z_minus_1 * z0 + z0_minus_1) / (2.0 * s * s0)
    alpha = 0.5 * big_c * sinh_half_dpsi * sinh_half_sum / (u + 1.0)
    bad = ~_valid_closed(v, c, beta0, tau) | ~(t >= 0)
    return jnp.where(bad, jnp.nan, alpha), jnp.where(bad, jnp.nan, beta)


@_entry(_check_open)
def fixed_point(
    v: Float[ArrayLike, "*B"],
    c: Float[ArrayLike, "*B"] = 1.0,
    beta0: Float[ArrayLike, "*B"] = 0.0,
) -> tuple[Float[Array, "*B"], Float[Array, "*B"]]:
    r"""Fixed point ``(alpha*, beta*)`` reached from ``alpha(0) = 0, beta(0) = beta0``.

    Solves ``c = v beta* u*`` on the conserved curve ``u*^2 - 2 beta*^2 = C = 1 - 2 beta0^2``:

    .. math:: u_*^2 = \tfrac12\left(C + \sqrt{C^2 + 8c^2/v^2}\right),\quad
              \alpha_* = (u_* - 1)/2,\quad \beta_* = c / (v u_*)

    Limits: easy tasks (``v >> c``): ``alpha* ~ c^2/(2v^2)``, ``beta* ~ c/v``; hard tasks
    (``v << c``): ``u* ~ (2c^2/v^2)^{1/4}``, ``alpha* ~ u*/2``, ``beta* ~ u*/sqrt(2)``.

    Args:
        v: discriminability, > 0.
        c: target amplitude, >= 0.
        beta0: initial decision strength, >= 0 (default 0, the poster's case).

    Returns:
        ``(alpha*, beta*)`` with the broadcast shape of the inputs.

    Raises:
        InputError: for concrete ``v <= 0``, ``c < 0`` or ``beta0 < 0``.

    Examples:
        >>> a, b = fixed_point(1.0, 0.0)
        >>> float(a), float(b)
        (0.0, 0.0)
    """
    big_c = 1.0 - 2.0 * beta0**2
    x = 8.0 * c**2 / v**2
    # u*^2 - 1 written without cancellation for small x (easy tasks)
    root = jnp.sqrt(big_c**2 + x)
    u2_minus_1 = jnp.where(
        big_c > 0,
        big_c - 1.0 + x / (2.0 * (root + big_c)),
        (big_c + root) / 2.0 - 1.0,
    )
    u = jnp.sqrt(1.0 + u2_minus_1)
    alpha = u2_minus_1 / (2.0 * (u + 1.0))
    beta = c / (v * u)
    bad = ~(v > 0) | ~(c >= 0) | ~(beta0 >= 0)
    return jnp.where(bad, jnp.nan, alpha), jnp.where(bad, jnp.nan, beta)


@jax.jit
def conserved_quantity(alpha: Float[ArrayLike, "*T"], beta: Float[ArrayLike, "*T"]) -> Array:
    """The invariant ``beta^2 - 2 alpha - 2 alpha^2`` (equals ``beta0^2`` when ``alpha0 = 0``).

    It is the trace of the deep-linear invariant ``W2^T W2 - W1 W1^T`` divided by ``2v``.

    Args:
        alpha: any shape.
        beta: same shape.

    Returns:
        Array of the common shape.
    """
    alpha, beta = jnp.asarray(alpha), jnp.asarray(beta)
    return beta**2 - 2.0 * alpha - 2.0 * alpha**2


@jax.jit
def beta_over_alpha(alpha: Float[ArrayLike, "*T"], beta0: Float[ArrayLike, ""] = 0.0) -> Array:
    r"""Exact ratio ``beta/alpha = sqrt(2/alpha + 2 + beta0^2/alpha^2)`` on the conserved curve.

    Asymptotes: ``sqrt(2)/sqrt(alpha)`` as ``alpha -> 0`` (``beta0 = 0``) and ``sqrt(2)`` as
    ``alpha -> infinity``; always ``> sqrt(2)`` for ``alpha > 0``.

    Args:
        alpha: input-layer change(s) > 0, any shape.
        beta0: initial decision strength >= 0.

    Returns:
        Ratio with the shape of ``alpha``.
    """
    alpha = jnp.asarray(alpha, jnp.result_type(alpha, float))
    return jnp.sqrt(2.0 / alpha + 2.0 + (beta0 / alpha) ** 2)


@_entry(_check_open)
def early_time(
    t: Float[ArrayLike, "*T"],
    v: Float[ArrayLike, ""],
    c: Float[ArrayLike, ""] = 1.0,
    beta0: Float[ArrayLike, ""] = 0.0,
    tau: Float[ArrayLike, ""] = 1.0,
) -> tuple[Float[Array, "*T"], Float[Array, "*T"]]:
    r"""Second-order Taylor expansion of ``(alpha, beta)`` at ``t = 0`` (error ``O(t^3)``).

    With ``s = t/tau`` and ``e0 = c - v beta0``:

    .. math:: \alpha \approx \beta_0 e_0 s + \tfrac12 (e_0^2 - v\beta_0 e_0 (1+2\beta_0^2)) s^2,
              \quad
              \beta \approx \beta_0 + e_0 s + \tfrac12 (2\beta_0 e_0^2 - v e_0 (1+2\beta_0^2)) s^2

    For ``beta0 = 0`` the leading terms are ``beta ~ c t/tau`` (linear) and
    ``alpha ~ c^2 t^2/(2 tau^2)`` (quadratic): the decision layer changes first.

    Args:
        t: times >= 0, any shape.
        v: discriminability, > 0.
        c: target amplitude.
        beta0: initial decision strength, >= 0.
        tau: time constant, > 0.

    Returns:
        ``(alpha, beta)`` approximations, shape of ``t``.

    Raises:
        InputError: for concrete invalid inputs.
    """
    s = t / tau
    e0 = c - v * beta0
    k = 1.0 + 2.0 * beta0**2
    alpha = beta0 * e0 * s + 0.5 * (e0**2 - v * beta0 * e0 * k) * s**2
    beta = beta0 + e0 * s + 0.5 * (2.0 * beta0 * e0**2 - v * e0 * k) * s**2
    return alpha, beta


# ---------------------------------------------------------------------------------------------
# times to reach a level (closed-form inversion, and quadrature for any beta0)


def _time_from_z(z, v, c, beta0, tau):
    _, r, z_plus, z_minus, s0, _ = _zpm(v, c, beta0)
    z0 = s0 * s0
    return (tau / r) * jnp.log(((z_plus - z0) * (z - z_minus)) / ((z0 - z_minus) * (z_plus - z)))


def _z_of_beta(beta, beta0):
    big_c = 1.0 - 2.0 * beta0**2
    x = beta * jnp.sqrt(2.0 / big_c)
    return (x + jnp.sqrt(x * x + 1.0)) ** 2  # e^{2 asinh(x)}


@_entry(_check_closed)
def time_at_beta(
    beta: Float[ArrayLike, "*B"],
    v: Float[ArrayLike, ""],
    c: Float[ArrayLike, ""] = 1.0,
    beta0: Float[ArrayLike, ""] = 0.0,
    tau: Float[ArrayLike, ""] = 1.0,
) -> Float[Array, "*B"]:
    """Time at which ``beta(t)`` reaches ``beta`` (inverse of :func:`closed_form`).

    Args:
        beta: level(s) strictly between ``beta0`` and ``beta*`` (else ``NaN``/``inf``).
        v, c, beta0, tau: as in :func:`closed_form` (``0 <= beta0 < 1/sqrt(2)``).

    Returns:
        Times, shape of ``beta``.

    Raises:
        InputError: for concrete inputs outside the closed form's domain.
    """
    return _time_from_z(_z_of_beta(beta, beta0), v, c, beta0, tau)


@_entry(_check_closed)
def time_at_alpha(
    alpha: Float[ArrayLike, "*B"],
    v: Float[ArrayLike, ""],
    c: Float[ArrayLike, ""] = 1.0,
    beta0: Float[ArrayLike, ""] = 0.0,
    tau: Float[ArrayLike, ""] = 1.0,
) -> Float[Array, "*B"]:
    """Time at which ``alpha(t)`` reaches ``alpha`` (via the conservation law and the closed form).

    Args:
        alpha: level(s) strictly between 0 and ``alpha*``.
        v, c, beta0, tau: as in :func:`closed_form`.

    Returns:
        Times, shape of ``alpha``.

    Raises:
        InputError: for concrete inputs outside the closed form's domain.
    """
    beta = jnp.sqrt(beta0**2 + 2.0 * alpha + 2.0 * alpha**2)
    return _time_from_z(_z_of_beta(beta, beta0), v, c, beta0, tau)


@_entry(_check_closed)
def half_times(
    v: Float[ArrayLike, "*B"],
    c: Float[ArrayLike, "*B"] = 1.0,
    beta0: Float[ArrayLike, "*B"] = 0.0,
    tau: Float[ArrayLike, "*B"] = 1.0,
) -> tuple[Float[Array, "*B"], Float[Array, "*B"]]:
    """Half-times ``(t_half(alpha), t_half(beta))``: times to cover half of each layer's change.

    ``alpha(t_half) = alpha*/2`` and ``beta(t_half) = beta0 + (beta* - beta0)/2``. Because
    ``alpha`` is a convex function of ``beta`` on the conserved curve,
    ``t_half(beta) < t_half(alpha)`` for every task.

    Args:
        v, c, beta0, tau: as in :func:`closed_form` (broadcast together).

    Returns:
        ``(t_half_alpha, t_half_beta)``.

    Raises:
        InputError: for concrete inputs outside the closed form's domain.
    """
    a_star, b_star = fixed_point(v, c, beta0)
    t_alpha = time_at_alpha(0.5 * a_star, v, c, beta0, tau)
    t_beta = time_at_beta(beta0 + 0.5 * (b_star - beta0), v, c, beta0, tau)
    return t_alpha, t_beta


def _dt_dbeta(b, t, args):
    """``dt/dbeta`` along the conserved curve (``beta`` is the independent variable)."""
    del t
    u = jnp.sqrt(args["C"] + 2.0 * b**2)
    return args["tau"] / (u * (args["c"] - args["v"] * b * u))


def _check_output_level(y, v, c, beta0, tau, **_) -> None:
    _check_task_args(v=v, c=c, beta0=beta0, tau=tau)
    if is_concrete(c):
        require(
            "y",
            y,
            lambda a: (a >= 0) & (a < np.asarray(c)),
            f"in [0, c) (an output level below the target c = {c})",
        )


@_entry(_check_output_level, static_argnames=("max_steps",), solver="time_at_output")
def time_at_output(
    y: Float[ArrayLike, ""],
    v: Float[ArrayLike, ""],
    c: Float[ArrayLike, ""] = 1.0,
    beta0: Float[ArrayLike, ""] = 0.0,
    tau: Float[ArrayLike, ""] = 1.0,
    *,
    rtol: Float[ArrayLike, ""] = 1e-10,
    atol: Float[ArrayLike, ""] = 1e-12,
    max_steps: int = 4096,
) -> tuple[Float[Array, ""], Bool[Array, ""]]:
    """Time at which the network output ``y+ = v beta (1 + 2 alpha)`` first reaches ``y``.

    Works for any ``beta0 >= 0`` (also outside the closed form's domain): on the conserved curve
    ``beta`` increases monotonically, so ``t(y) = tau int_{beta0}^{beta(y)} db / (u (c - v b u))``
    is integrated with diffrax (Tsit5, ``beta`` as the independent variable). Returns 0 if the
    initial output already exceeds ``y``.

    Args:
        y: output level, ``0 <= y < c``.
        v: discriminability, > 0.
        c: target amplitude, > 0.
        beta0: initial decision strength (``alpha0 = 0``), >= 0 and below ``beta*``.
        tau: time constant, > 0.
        rtol, atol, max_steps: diffrax tolerances and step budget.

    Returns:
        ``(t, ok)``: the time (``NaN`` if not ok) and the status flag.

    Raises:
        InputError: for concrete invalid inputs (including ``y`` outside ``[0, c)``).
        RuntimeError: if a concrete solve fails.
    """
    big_c = 1.0 - 2.0 * beta0**2
    # beta level at which v beta u = y on the conserved curve u^2 = C + 2 beta^2
    beta_target = jnp.sqrt((-big_c + jnp.sqrt(big_c**2 + 8.0 * (y / v) ** 2)) / 4.0)
    already = beta_target <= beta0
    b1 = jnp.where(already, beta0 + 1.0, beta_target)  # dummy, non-degenerate interval
    args = {"C": big_c, "c": c, "v": v, "tau": tau}
    ts, ok = ode.solve(
        _dt_dbeta,
        b1[None],
        jnp.zeros_like(beta0),
        args,
        t0=beta0,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    ok = ok & (y < c) & (y >= 0) & (v > 0)
    t = jnp.where(already, 0.0, ts[-1])
    return jnp.where(ok | already, t, jnp.nan), ok | already


# ---------------------------------------------------------------------------------------------
# within-layer profile


@jax.jit
def change_profile(alpha: Float[ArrayLike, "*T"], d: Float[ArrayLike, " n"]) -> Array:
    """Within-layer change ``|alpha d_j|`` of each input neuron (``Delta W1[j, +-] = +-alpha d_j``).

    Args:
        alpha: input-layer change(s), shape ``T`` (any).
        d: task direction ``g+ - g-``, shape ``(n,)``.

    Returns:
        Shape ``T + (n,)``.
    """
    alpha, d = jnp.asarray(alpha), jnp.asarray(d)
    return jnp.abs(alpha[..., None] * d.reshape((1,) * alpha.ndim + d.shape))


@jax.jit
def most_changed_offset_deg(
    d: Float[ArrayLike, "*B n"], theta0_rad: Float[ArrayLike, ""] = tu.THETA0_RAD
) -> Array:
    """|preferred orientation - theta0| (degrees, in [0, 90]) of the most-changed neuron.

    The most-changed neuron maximises ``|d_j|`` (the change is ``alpha |d_j|``); preferred
    orientations are the uniform grid ``j pi / n`` of :mod:`theory.tuning`.

    Args:
        d: task direction(s), shape ``(..., n)``.
        theta0_rad: reference orientation (radians).

    Returns:
        Offsets in degrees, shape ``(...)``.
    """
    d = jnp.asarray(d)
    phi = tu.preferred_orientations(d.shape[-1], dtype=jnp.result_type(d, float))
    j = jnp.argmax(jnp.abs(d), axis=-1)
    offset = jnp.mod(phi[j] - theta0_rad + jnp.pi / 2, jnp.pi) - jnp.pi / 2
    return jnp.rad2deg(jnp.abs(offset))


# ---------------------------------------------------------------------------------------------
# the depth-L scalar chain (the reverse hierarchy)


def chain_vector_field(t, b: Float[Array, " L"], args: dict) -> Float[Array, " L"]:
    r"""Scalar chain ``tau b_k' = 2 kappa e prod_{j != k} b_j``, ``e = c - kappa prod_j b_j``.

    Args:
        t: time (unused).
        b: layer strengths along the task mode, shape ``(L,)``.
        args: dict with ``c``, ``kappa``, ``tau`` scalars and optionally ``mask`` (bool ``(L,)``):
            entries where ``mask`` is False are padding (factor 1, zero derivative).

    Returns:
        ``db/dt``, shape ``(L,)``.
    """
    del t
    depth = b.shape[0]
    mask = args.get("mask", jnp.ones((depth,), bool))
    b = jnp.where(mask, b, 1.0)
    idx = jnp.arange(depth)
    others = jnp.stack([jnp.prod(jnp.where(idx == k, 1.0, b)) for k in range(depth)])
    err = args["c"] - args["kappa"] * jnp.prod(b)
    return jnp.where(mask, 2.0 * args["kappa"] * err * others / args["tau"], 0.0)


class ChainSolution(NamedTuple):
    """Scalar-chain trajectory: ``ts (T,)``, ``b (T, L)`` and status ``ok``."""

    ts: Array
    b: Array
    ok: Array


def _check_chain(ts, b0, tau, **_) -> None:
    if np.ndim(b0) != 1 or np.shape(b0)[0] < 1:
        raise InputError(
            f"b0 must be a 1-D array of initial layer strengths with depth >= 1, got shape "
            f"{np.shape(b0)}"
        )
    require("b0", b0, lambda a: a > 0, "> 0 (initial layer strengths along the task mode)")
    _check_save_times(ts)
    _check_task_args(tau=tau, t=ts)


@_entry(_check_chain, static_argnames=("max_steps",), solver="integrate_chain")
def integrate_chain(
    ts: Float[ArrayLike, " T"],
    b0: Float[ArrayLike, " L"],
    c: Float[ArrayLike, ""] = 1.0,
    kappa: Float[ArrayLike, ""] = KAPPA_SAXE,
    tau: Float[ArrayLike, ""] = 1.0,
    *,
    rtol: Float[ArrayLike, ""] = 1e-10,
    atol: Float[ArrayLike, ""] = 1e-12,
    max_steps: int = 16_384,
) -> ChainSolution:
    """Integrate the depth-L scalar chain (all ``b_k`` together) with diffrax.

    Args:
        ts: save times >= 0, shape ``(T,)``.
        b0: initial strengths ``b_k(0) > 0``, shape ``(L,)``, ``L >= 1`` (layer 1 = input).
        c: target amplitude.
        kappa: output gain (``1/sqrt(2)`` for the mapping of the 3-layer model).
        tau: time constant, > 0.
        rtol, atol, max_steps: solver controls.

    Returns:
        :class:`ChainSolution`.

    Raises:
        InputError: for depth < 1, non-positive ``b0``, negative or decreasing times,
            ``tau <= 0``.
        RuntimeError: for a failed concrete solve.
    """
    args = {"c": c, "kappa": kappa, "tau": tau}
    ys, ok = ode.solve(chain_vector_field, ts, b0, args, rtol=rtol, atol=atol, max_steps=max_steps)
    return ChainSolution(ts, ys, ok & jnp.all(b0 > 0) & (tau > 0))


def _q_field(t, q, args):
    del t
    p = jnp.prod(jnp.sqrt(args["b0"] ** 2 + q))
    return 4.0 * args["kappa"] / args["tau"] * (args["c"] - args["kappa"] * p) * p


@_entry(_check_chain, static_argnames=("max_steps",), solver="integrate_q")
def integrate_q(
    ts: Float[ArrayLike, " T"],
    b0: Float[ArrayLike, " L"],
    c: Float[ArrayLike, ""] = 1.0,
    kappa: Float[ArrayLike, ""] = KAPPA_SAXE,
    tau: Float[ArrayLike, ""] = 1.0,
    *,
    rtol: Float[ArrayLike, ""] = 1e-10,
    atol: Float[ArrayLike, ""] = 1e-12,
    max_steps: int = 16_384,
) -> tuple[Float[Array, " T"], Bool[Array, ""]]:
    r"""The common increment ``Q(t) = b_k(t)^2 - b_k(0)^2`` of every layer of the chain.

    Every layer has the same ``d(b_k^2)/dt``, so one scalar ODE describes the whole chain:

    .. math:: \dot Q = \frac{4\kappa}{\tau}\,(c - \kappa P)\,P,\quad
              P = \prod_j \sqrt{b_j(0)^2 + Q},\quad Q(0) = 0.

    Args:
        ts: save times >= 0, shape ``(T,)``.
        b0: initial strengths > 0, shape ``(L,)``, ``L >= 1``.
        c, kappa, tau: as in :func:`integrate_chain`.
        rtol, atol, max_steps: solver controls.

    Returns:
        ``(Q, ok)``, ``Q`` of shape ``(T,)``.

    Raises:
        InputError: for depth < 1, non-positive ``b0``, negative or decreasing times or
            ``tau <= 0``.
        RuntimeError: for a failed concrete solve.
    """
    args = {"b0": b0, "c": c, "kappa": kappa, "tau": tau}
    q, ok = ode.solve(
        _q_field, ts, jnp.zeros((), ts.dtype), args, rtol=rtol, atol=atol, max_steps=max_steps
    )
    return q, ok & jnp.all(b0 > 0) & (tau > 0)


@jax.jit
def chain_deltas(q: Float[ArrayLike, "*T"], b0: Float[ArrayLike, " L"]) -> Float[Array, "*T L"]:
    r"""Per-layer changes ``Delta_k = sqrt(b_k(0)^2 + Q) - b_k(0)`` (reverse hierarchy).

    ``Delta_k`` is strictly decreasing in ``b_k(0)`` for ``Q > 0``: the least informative layer
    (smallest ``b_k(0)``) changes most. Computed as ``Q / (sqrt(b0^2 + Q) + b0)``.

    Args:
        q: common increment(s) ``Q >= 0``, shape ``T``.
        b0: initial strengths, shape ``(L,)``.

    Returns:
        Shape ``T + (L,)``.
    """
    q, b0 = jnp.asarray(q), jnp.asarray(b0)
    b0 = b0.reshape((1,) * q.ndim + b0.shape)
    q = q[..., None]
    return q / (jnp.sqrt(b0**2 + q) + b0)


@jax.jit
def saxe_chain_strengths(
    alpha: Float[ArrayLike, "*T"], beta: Float[ArrayLike, "*T"], v: Float[ArrayLike, ""]
) -> Float[Array, "*T 2"]:
    """Map the 3-layer model onto the chain: ``b1 = sqrt(v)(1 + 2 alpha)``, ``b2 = beta sqrt(2v)``.

    With ``kappa = 1/sqrt(2)`` the chain reproduces the alpha/beta ODE exactly.

    Args:
        alpha, beta: trajectories, same shape ``T``.
        v: discriminability > 0.

    Returns:
        Shape ``T + (2,)``.
    """
    alpha, beta = jnp.asarray(alpha), jnp.asarray(beta)
    return jnp.stack([jnp.sqrt(v) * (1.0 + 2.0 * alpha), beta * jnp.sqrt(2.0 * v)], axis=-1)


# ---------------------------------------------------------------------------------------------
# transfer with pooling


@jax.jit
def transfer_ratio(alpha: Float[ArrayLike, "*T"], c_ab: Float[ArrayLike, ""]) -> Array:
    """Relative transfer ``y_b / y_a = c_ab / (1 + 2 alpha)`` after training at location a.

    Args:
        alpha: input-layer change at the trained location, any shape.
        c_ab: pooling overlap ``c_a^T c_b`` of the two locations, in [-1, 1].

    Returns:
        Ratio with the shape of ``alpha``.
    """
    return c_ab / (1.0 + 2.0 * jnp.asarray(alpha))


@jax.jit
def transfer_output(
    beta: Float[ArrayLike, "*T"], v: Float[ArrayLike, ""], c_ab: Float[ArrayLike, ""]
) -> Array:
    """Output ``y_b+ = c_ab beta v`` at an untrained location b (its ``alpha_b`` stays 0).

    Args:
        beta: decision strength learned at location a, any shape.
        v: discriminability > 0.
        c_ab: pooling overlap.

    Returns:
        Output with the shape of ``beta``.
    """
    return c_ab * jnp.asarray(beta) * v


def savings(
    v: Float[ArrayLike, ""],
    c_ab: Float[ArrayLike, ""],
    train_time: Float[ArrayLike, ""],
    c: Float[ArrayLike, ""] = 1.0,
    tau: Float[ArrayLike, ""] = 1.0,
    *,
    level: float = 0.5,
    rtol: Float[ArrayLike, ""] = 1e-10,
    atol: Float[ArrayLike, ""] = 1e-12,
) -> dict[str, Array]:
    """Savings corollary: training at b after training at a learns faster than from scratch.

    After training at location a for ``train_time`` (from ``beta0 = 0``), location b starts from
    ``alpha_b(0) = 0`` and ``beta_b(0) = c_ab beta_a(train_time)`` with identical reduced dynamics.
    Returns the times to reach the output ``level * c`` at b with and without the pre-training.

    Args:
        v: discriminability > 0 (same task at both locations).
        c_ab: pooling overlap in [0, 1).
        train_time: training time at location a, >= 0.
        c: target amplitude > 0.
        tau: time constant > 0.
        level: output fraction in (0, 1) defining the criterion.
        rtol, atol: tolerances of :func:`time_at_output`.

    Returns:
        dict with ``beta_b0`` (effective initial strength at b), ``t_fresh``, ``t_pretrained``
        and ``saving = t_fresh - t_pretrained`` (>= 0).

    Raises:
        InputError: for concrete invalid inputs.
    """
    _check_task_args(v=v, c=c, tau=tau, t=train_time)
    require("c_ab", c_ab, lambda a: (a >= 0) & (a < 1), "in [0, 1) (pooling overlap)")
    require("level", level, lambda a: (a > 0) & (a < 1), "in (0, 1)")
    _, beta_a = closed_form(train_time, v, c, 0.0, tau)
    beta_b0 = c_ab * beta_a
    y = jnp.asarray(level, beta_b0.dtype) * c
    t_fresh, _ = time_at_output(y, v, c, 0.0, tau, rtol=rtol, atol=atol)
    t_pre, _ = time_at_output(y, v, c, beta_b0, tau, rtol=rtol, atol=atol)
    return {
        "beta_b0": beta_b0,
        "t_fresh": t_fresh,
        "t_pretrained": t_pre,
        "saving": t_fresh - t_pre,
    }


# ---------------------------------------------------------------------------------------------
# full gradient descent on the 3-layer network, projected on (alpha, beta)


class Simulation(NamedTuple):
    """Projected gradient-descent trajectory of the 3-layer network.

    Attributes:
        t: times ``step * lr``, shape ``(R,)``.
        alpha: projection ``<W1 - G, D>_F / ||D||_F^2``, shape ``(R,)``.
        beta: projection ``W2 d / ||d||^2``, shape ``(R,)``.
        residual: off-manifold residual, shape ``(R,)``.
    """

    t: Array
    alpha: Array
    beta: Array
    residual: Array


def _check_simulate(task, lr, num_steps, record_every, check_norms, **_) -> dict:
    require("lr", lr, lambda a: a > 0, "> 0 (learning rate)")
    if check_norms:
        tu.check_equal_norms(task.g_plus, task.g_minus)
    num_steps, record_every = deep_linear.check_schedule(num_steps, record_every)
    return {"num_steps": num_steps, "record_every": record_every}


@_entry(_check_simulate, static_argnames=("num_steps", "record_every", "check_norms"))
def simulate(
    task: tu.TaskVectors,
    *,
    c: Float[ArrayLike, ""] = 1.0,
    beta0: Float[ArrayLike, ""] = 0.0,
    lr: Float[ArrayLike, ""] = 1e-3,
    num_steps: int = 5000,
    record_every: int = 50,
    check_norms: bool = True,
) -> Simulation:
    """Full-batch gradient descent on the 3-layer network, projected onto ``(alpha, beta)``.

    Builds ``W1(0) = [g+, g-]``, ``W2(0) = beta0 d^T`` and trains with
    :func:`theory.deep_linear.gradient_descent` on the loss summed over the two stimuli
    (``tau = 1``, so ``t = step * lr``); see :func:`theory.deep_linear.saxe_network`.

    Args:
        task: population vectors (:func:`theory.tuning.task_vectors`).
        c: target amplitude.
        beta0: initial decision strength.
        lr: learning rate (> 0).
        num_steps: number of steps (static).
        record_every: recording period (static, divides ``num_steps``).
        check_norms: raise unless ``||g+|| = ||g-||`` (the reduction's assumption). Pass
            ``False`` to simulate a task that breaks the symmetry and read the deviation from
            the manifold in ``residual``.

    Returns:
        :class:`Simulation` with ``num_steps // record_every + 1`` records.

    Raises:
        InputError: for a bad step schedule (see ``gradient_descent``), ``lr <= 0``, or
            ``||g+|| != ||g-||`` when ``check_norms``.
    """
    weights0, sxx, syx = deep_linear.saxe_network(task, c=c, beta0=beta0)
    _, records = deep_linear.gradient_descent(
        weights0,
        sxx,
        syx,
        lr=lr,
        num_steps=num_steps,
        record_every=record_every,
        observe=functools.partial(deep_linear.saxe_projection, task=task),
    )
    alpha, beta, residual = records
    steps = jnp.arange(num_steps // record_every + 1, dtype=alpha.dtype) * record_every
    return Simulation(steps * lr, alpha, beta, residual)


# ---------------------------------------------------------------------------------------------
# reference table


def reference_table(
    dthetas_deg: tuple[float, ...] = REFERENCE_DTHETAS_DEG,
    *,
    c: float = 1.0,
    tau: float = 1.0,
    n: int = 180,
    tuning: str = "von_mises",
    kappa: float = 2.0,
    sigma_rad: float = tu.SIGMA_RAD,
    amplitude: float = 1.0,
    baseline: float = 0.1,
    theta0_rad: float = tu.THETA0_RAD,
) -> dict[str, np.ndarray]:
    """Reference numbers of the theory per stimulus separation (``beta0 = 0``, ``alpha0 = 0``).

    Columns (each a NumPy array over ``dthetas_deg``):

    * ``dtheta_deg``; ``v`` (discriminability);
    * ``alpha_star``, ``beta_star`` (fixed point) and ``beta_over_alpha`` (``= sqrt(2+2/alpha*)``);
    * ``t_half_alpha``, ``t_half_beta`` (half-times, units of ``tau``);
    * ``dW2_over_dW1``: ``||Delta W2||_F / ||Delta W1||_F = beta*/(sqrt(2) alpha*)`` at convergence;
    * ``transfer_over_c_ab``: relative transfer ``y_b/y_a`` divided by ``c_ab``,
      ``= 1/(1 + 2 alpha*)`` at convergence;
    * ``most_changed_offset_deg``: |preferred orientation - theta0| of the most-changed neuron.

    Args:
        dthetas_deg: separations in degrees (> 0).
        c, tau: target amplitude and time constant.
        n, tuning, kappa, sigma_rad, amplitude, baseline, theta0_rad: the population, see
            :func:`theory.tuning.task_vectors`.

    Returns:
        dict of column name -> ``np.ndarray`` of shape ``(len(dthetas_deg),)``.

    Raises:
        InputError: if a separation is not > 0 or the tuning violates ``||g+|| = ||g-||``.
    """
    dth = np.asarray(dthetas_deg, dtype=float)
    if dth.ndim != 1 or np.any(~(dth > 0)):
        raise InputError(f"dthetas_deg must be a 1-D sequence of values > 0, got {dthetas_deg}")
    task = tu.task_vectors(
        jnp.deg2rad(jnp.asarray(dth)),
        theta0_rad=theta0_rad,
        n=n,
        tuning=tuning,
        kappa=kappa,
        sigma_rad=sigma_rad,
        amplitude=amplitude,
        baseline=baseline,
    )
    v = reduce_task(task)
    a_star, b_star = fixed_point(v, c)
    t_a, t_b = half_times(v, c, 0.0, tau)
    table = {
        "dtheta_deg": dth,
        "v": v,
        "alpha_star": a_star,
        "beta_star": b_star,
        "beta_over_alpha": b_star / a_star,
        "t_half_alpha": t_a,
        "t_half_beta": t_b,
        "dW2_over_dW1": b_star / (np.sqrt(2.0) * a_star),
        "transfer_over_c_ab": 1.0 / (1.0 + 2.0 * a_star),
        "most_changed_offset_deg": most_changed_offset_deg(task.d, theta0_rad),
    }
    return {k: np.asarray(col, dtype=float) for k, col in table.items()}
