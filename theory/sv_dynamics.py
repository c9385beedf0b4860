r"""Singular-value dynamics of deep linear networks: ODEs, closed forms, half-times.

Setting (Benjamin, Zhang, Qiu, Stocker & Kording 2022, *Efficient neural codes naturally emerge
through gradient descent learning*, Methods; Arora, Cohen, Hu & Luo 2019; Saxe, McClelland &
Ganguli 2014, *Exact solutions to the nonlinear dynamics of learning in deep linear neural
networks*). A depth-N
linear network ``W = W_N ... W_1`` is trained by gradient flow with **unit rate on each factor**,
``dW_j/dt = -d loss/dW_j``, from a *balanced* (``W_{j+1}^T W_{j+1} = W_j W_j^T``) initialisation
whose end-to-end singular vectors are *aligned* with the data. Each singular value of ``W`` then
evolves on its own:

* autoencoder, ``loss = E||x - W x||^2`` with ``E[x x^T] = V diag(lam) V^T`` and ``W = V S V^T``:

  .. math:: \dot\sigma_i = 2 N \lambda_i \sigma_i^{2 - 2/N} (1 - \sigma_i);

* supervised, ``loss = E||y - W x||^2`` with ``E[y x^T] = U diag(s_yx) V^T``:

  .. math:: \dot\sigma_i = 2 N \sigma_i^{2 - 2/N} (s_{yx,i} - \lambda_i \sigma_i),

  which approaches ``a_i = s_yx,i / lam_i``. With ``x = sigma / a`` the supervised flow is the
  autoencoder flow with the effective rate ``lam a^{2 - 2/N}``.

Closed forms of the autoencoder flow (all verified in the tests against the ODE and against full
gradient descent):

* N = 1: ``sigma(t) = 1 - (1 - sigma0) exp(-2 lam t)``;
* N = 2: ``sigma(t) = sigmoid(logit(sigma0) + 4 lam t)`` (the logistic of Saxe et al. 2014);
* N >= 3: implicit, ``t(sigma) = [F(sigma) - F(sigma0)] / (2 N lam)`` with
  ``F(x) = (x^p / p) 2F1(1, p; p + 1; x)`` and ``p = 2/N - 1``, evaluated with
  ``scipy.special.hyp2f1`` through ``jax.pure_callback`` and inverted to ``sigma(t)`` by a
  monotone Newton iteration (see :func:`closed_form`).

Conventions: times ``t`` are gradient-flow times of the loss as written above (no factor 1/2).
:func:`simulate` is the gradient-descent counterpart (the analogue of :func:`theory.saxe.simulate`):
it takes ``E[x x^T]`` and ``E[y x^T]`` as they are, builds the aligned balanced network and returns
the singular values along the modes at ``t = step * lr``, directly comparable with
:func:`closed_form` and :func:`supervised_closed_form`. (It calls
:func:`theory.deep_linear.gradient_descent`, which descends ``L = 1/2 tr(W S_xx W^T) - tr(W
S_yx^T)``, with ``S_xx = 2 E[x x^T]`` and ``S_yx = 2 E[y x^T]``.)
The eigenvalues ``lam`` are **variances** (eigenvalues of ``E[x x^T]``), not standard deviations
(the paper's main text says the rate follows each PC's standard deviation; the gradient flow
above gives its variance). Depth is a static Python ``int``; ``t``, ``lam``, ``sigma0`` broadcast
against each other and may be traced (jit/vmap/jvp/jacfwd all work; depth >= 3 differentiates
through a custom JVP built from the ODE itself, and :func:`integrate` through the forward-mode
solve of :func:`theory.ode.solve`). Nothing here is random, so no function takes a key.

Bad values follow the traced-value policy of :mod:`theory`: concrete inputs are checked and raise
`theory.checks.InputError` naming the parameter, the allowed range and the value got; traced
inputs (under ``jit``/``vmap``) cannot raise, so the functions return ``NaN`` where an input is
outside its range (and :func:`integrate` returns ``ok = False``).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jaxtyping import Array, ArrayLike, Bool, Float

from theory import deep_linear, ode
from theory.checks import InputError, is_concrete, require

__all__ = [
    "Simulation",
    "aligned_balanced_weights",
    "closed_form",
    "half_time",
    "half_time_small_init",
    "implicit_time",
    "integrate",
    "potential",
    "rise_time",
    "simulate",
    "supervised_closed_form",
    "supervised_half_time",
    "vector_field",
]

# scipy's hyp2f1(1, p; p + 1; x) is accurate to ~1e-15 up to x = 1 - 1e-13 and breaks down
# beyond; above it we use F(x) = F(x_max) - log((1 - x) / (1 - x_max)), exact to O(1e-13).
_ONE_MINUS_X_MAX = 1e-13
_NEWTON_MAX_ITER = 500


# ----------------------------------------------------------------------------- validation


def _check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer) or depth < 1:
        raise InputError(f"depth must be an integer >= 1 (number of weight matrices), got {depth=}")
    return int(depth)


def _check(name: str, x, predicate, allowed: str):
    """The traced-value policy for one input.

    Concrete ``x``: `theory.checks.require` (raises `InputError` naming ``name``, ``allowed`` and
    the value) and returns ``True``. Traced ``x``: returns the boolean mask ``predicate(x)``, with
    which the caller turns the outputs of invalid entries into ``NaN`` (:func:`_nan_unless`).
    ``predicate`` uses ``jnp`` functions, so it works on NumPy and JAX arrays alike.
    """
    if is_concrete(x):
        require(name, x, predicate, allowed)
        return True
    return predicate(x)


def _safe(valid, x, fill):
    """``x`` where ``valid``, else ``fill`` (keeps the computation on invalid entries finite)."""
    return x if valid is True else jnp.where(valid, x, jnp.asarray(fill, x.dtype))


def _nan_unless(valid, out):
    return out if valid is True else jnp.where(valid, out, jnp.nan)


def _guarded(valid, fn, args, fills):
    """``fn(*args)``, with ``NaN`` where ``valid`` is False (invalid entries computed on ``fills``).

    ``valid`` is ``True`` when every input was concrete (and checked), else a mask of the shape
    of the (broadcast) ``args``.
    """
    if valid is True:
        return fn(*args)
    return _nan_unless(valid, fn(*(_safe(valid, a, f) for a, f in zip(args, fills, strict=True))))


def _check_t(t):
    return _check(
        "t", t, lambda v: jnp.isfinite(v) & (v >= 0), "a finite time >= 0 (gradient-flow time)"
    )


def _check_lam(lam, name="lam"):
    return _check(
        name,
        lam,
        lambda v: jnp.isfinite(v) & (v > 0),
        "> 0 and finite (a variance, eigenvalue of E[x x^T])",
    )


def _check_sigma0(sigma0, depth: int, upper: float = 1.0, name="sigma0"):
    if depth == 1:
        return _check(
            name, sigma0, lambda v: (v >= 0) & (v < upper), f"in [0, {upper}) for depth 1"
        )
    return _check(
        name,
        sigma0,
        lambda v: (v > 0) & (v < upper),
        f"in (0, {upper}) for depth >= 2 (0 is a fixed point)",
    )


def _float_dtype(*xs):
    return jnp.result_type(*xs, float)


# ----------------------------------------------------------------------------- the ODE


def vector_field(
    t: Float[ArrayLike, ""], sigma: Float[ArrayLike, "..."], args: dict
) -> Float[Array, "..."]:
    r"""Right-hand side ``d sigma/dt`` of the singular-value flow (diffrax signature ``f(t, y, args)``).

    .. math:: \dot\sigma = 2 N \sigma^{2 - 2/N} (s_{yx} - \lambda \sigma)

    (autoencoder: ``s_yx = lam``).

    Args:
        t: time (unused; the flow is autonomous).
        sigma: singular value(s), any shape, >= 0.
        args: dict with array leaves ``"lam"`` (input variance, > 0), ``"s_yx"`` (input-output
            singular value; equal to ``lam`` for the autoencoder) and ``"depth"`` (N >= 1, may be
            a float array so that the field vmaps over depth), each broadcastable to ``sigma``.

    Returns:
        ``d sigma/dt`` with the shape of ``sigma``.

    References:
        Arora, Cohen, Hu & Luo (2019), Theorem 3; Benjamin et al. (2022), eqs. 4, 7 and 10-11,
        with the factor 2 of ``d/dW ||y - W x||^2`` restored and the exponent of eq. 11 written
        ``2 - 2/N`` (the power that the depth-N flow of Arora et al. gives).
    """
    del t
    depth = args["depth"]
    q = 2.0 - 2.0 / depth
    return (
        2.0 * depth * jnp.power(jnp.maximum(sigma, 0.0), q) * (args["s_yx"] - args["lam"] * sigma)
    )


def integrate(
    ts: Float[ArrayLike, " T"],
    lam: Float[ArrayLike, ""],
    depth: int,
    sigma0: Float[ArrayLike, ""],
    *,
    s_yx: Float[ArrayLike, ""] | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = 16384,
) -> tuple[Float[Array, " T"], Bool[Array, ""]]:
    """Integrate the singular-value ODE from ``t = 0`` with diffrax (Tsit5, PID step control).

    Args:
        ts: save times, shape ``(T,)``, non-decreasing, ``ts[0] >= 0``.
        lam: input variance along the mode, scalar > 0.
        depth: number of weight matrices N >= 1 (static).
        sigma0: initial singular value, scalar, in ``[0, inf)`` (``(0, inf)`` for depth >= 2).
        s_yx: input-output singular value (supervised case); ``None`` means the autoencoder
            (``s_yx = lam``).
        rtol, atol: tolerances of the PID step-size controller.
        max_steps: maximum number of solver steps.

    Returns:
        ``(sigma, success)``: ``sigma`` of shape ``(T,)`` and a boolean scalar that is ``True``
        iff diffrax reported success and the (traced) inputs were valid. The solve
        (:func:`theory.ode.solve`) runs with ``throw=False`` so that it vmaps over conditions;
        always check ``success`` (a solve that hits ``max_steps`` returns partial values
        silently). It is differentiable in forward mode (``jax.jvp``, ``jax.jacfwd``) in ``ts``,
        ``lam``, ``sigma0`` and ``s_yx``.

    Raises:
        InputError: for ``depth < 1``, ``ts`` not 1-D, or concrete bad values of ``ts`` (``< 0``,
            not finite or decreasing), ``lam``, ``s_yx`` or ``sigma0``.

    Examples:
        >>> import jax.numpy as jnp
        >>> s, ok = integrate(jnp.array([0.0, 1.0]), 0.5, 1, 0.0)
        >>> bool(ok), round(float(s[1]), 6)  # 1 - exp(-1)
        (True, 0.632121)
    """
    depth = _check_depth(depth)
    ts = jnp.asarray(ts)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise InputError(f"ts must be a 1-D array of save times, got shape {ts.shape}")
    dtype = _float_dtype(ts, lam, sigma0)
    ts, lam, sigma0 = ts.astype(dtype), jnp.asarray(lam, dtype), jnp.asarray(sigma0, dtype)
    _check_t(ts)
    _check("ts", ts, lambda v: jnp.all(v[1:] >= v[:-1]), "non-decreasing (save times)")
    valid = _check_lam(lam) & _check_sigma0(sigma0, depth, upper=np.inf)
    if s_yx is None:
        s_yx = lam
    else:
        s_yx = jnp.asarray(s_yx, dtype)
        valid = valid & _check_lam(s_yx, "s_yx")
    args = {"lam": lam, "s_yx": s_yx, "depth": jnp.asarray(float(depth), dtype)}
    ys, ok = ode.solve(vector_field, ts, sigma0, args, rtol=rtol, atol=atol, max_steps=max_steps)
    return ys, ok & valid


# ----------------------------------------------------------------------------- F and its inverse


def _potential_np(x: np.ndarray, p: float) -> np.ndarray:
    """``F(x) = sum_k x^(k+p) / (k+p) = (x^p / p) 2F1(1, p; p+1; x)``, float64, x in (0, 1]."""
    x = np.asarray(x, np.float64)
    x_max = 1.0 - _ONE_MINUS_X_MAX
    xc = np.minimum(x, x_max)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = xc**p / p * scipy.special.hyp2f1(1.0, p, p + 1.0, xc)
        f_max = x_max**p / p * scipy.special.hyp2f1(1.0, p, p + 1.0, x_max)
        tail = f_max - np.log((1.0 - x) / _ONE_MINUS_X_MAX)
    return np.where(x > x_max, tail, f)


def _inverse_potential_np(target: np.ndarray, p: float, sigma_start: np.ndarray) -> np.ndarray:
    """Solve ``F(sigma) = target`` for ``sigma >= sigma_start`` (where ``F(sigma_start) <= target``).

    In ``u = logit(sigma)``, ``G(u) = F(sigmoid(u))`` is increasing and concave (``G' = sigma^p``,
    ``p < 0``), so Newton's method started left of the root moves monotonically right and never
    overshoots. Above ``1 - 1e-13`` the logarithmic tail of ``F`` is inverted in closed form.
    """
    target = np.asarray(target, np.float64)
    x_max = 1.0 - _ONE_MINUS_X_MAX
    f_max = _potential_np(np.float64(x_max), p)
    u_max = math.log(x_max / _ONE_MINUS_X_MAX)
    u = np.log(sigma_start) - np.log1p(-sigma_start)
    u = np.minimum(np.broadcast_to(u, target.shape).copy(), u_max)
    for _ in range(_NEWTON_MAX_ITER):
        s = scipy.special.expit(u)
        step = (target - _potential_np(s, p)) / s**p
        u_new = np.minimum(u + np.maximum(step, 0.0), u_max)
        done = np.all(np.abs(u_new - u) <= 4e-16 * (1.0 + np.abs(u)))
        u = u_new
        if done:
            break
    sigma = scipy.special.expit(u)
    with np.errstate(over="ignore"):
        tail = 1.0 - _ONE_MINUS_X_MAX * np.exp(-(target - f_max))
    return np.where(target >= f_max, tail, sigma)


@functools.cache
def _host_callbacks(depth: int):
    """Host functions for depth N (one stable object per depth, so jit caches hit).

    Returns ``(sigma_of_t, potential)``: ``sigma_of_t(t, lam, sigma0)`` inverts
    ``F(sigma) = F(sigma0) + 2 N lam t``; ``potential(x)`` is ``F(x)``. Both compute in float64
    and return the dtype of their first argument.
    """
    p = 2.0 / depth - 1.0

    def sigma_of_t(t, lam, sigma0):
        dtype = np.asarray(t).dtype
        t, lam, sigma0 = (np.asarray(a, np.float64) for a in (t, lam, sigma0))
        target = _potential_np(sigma0, p) + 2.0 * depth * lam * t
        out = _inverse_potential_np(target, p, sigma0)
        return np.asarray(np.where(t == 0, sigma0, out), dtype=dtype)

    def potential(x):
        return np.asarray(_potential_np(x, p), dtype=np.asarray(x).dtype)

    return sigma_of_t, potential


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _deep_closed_form(t, lam, sigma0, depth):
    shape = jnp.broadcast_shapes(t.shape, lam.shape, sigma0.shape)
    out = jax.ShapeDtypeStruct(shape, t.dtype)
    cb = _host_callbacks(depth)[0]
    return jax.pure_callback(cb, out, t, lam, sigma0, vmap_method="broadcast_all")


@_deep_closed_form.defjvp
def _deep_closed_form_jvp(depth, primals, tangents):
    # Implicit differentiation of F(sigma) = F(sigma0) + 2 N lam t, with F'(x) = 1/(x^q (1-x)).
    t, lam, sigma0 = primals
    dt, dlam, dsigma0 = tangents
    sigma = _deep_closed_form(t, lam, sigma0, depth)
    q = 2.0 - 2.0 / depth
    g = jnp.power(sigma, q) * (1.0 - sigma)  # 1 / F'(sigma)
    g0 = jnp.power(sigma0, q) * (1.0 - sigma0)
    tangent = g * (2.0 * depth * (lam * dt + t * dlam) + dsigma0 / g0)
    return sigma, tangent


def _potential_jax(x, depth: int):
    x = jnp.asarray(x)
    cb = _host_callbacks(depth)[1]
    return jax.pure_callback(
        cb, jax.ShapeDtypeStruct(x.shape, x.dtype), x, vmap_method="broadcast_all"
    )


def potential(x: Float[ArrayLike, "..."], depth: int) -> Float[Array, "..."]:
    r"""The time potential ``F`` of depth ``N >= 3``: ``t(sigma) = [F(sigma) - F(sigma0)]/(2 N lam)``.

    .. math:: F(x) = \int^x \frac{ds}{s^{2-2/N}(1-s)} = \frac{x^p}{p}\,{}_2F_1(1, p; p+1; x),
              \quad p = 2/N - 1

    Evaluated in float64 with ``scipy.special.hyp2f1`` (via ``jax.pure_callback``, so it works
    under jit and vmap); for ``x > 1 - 1e-13`` the logarithmic tail ``F(x) ~ C - log(1 - x)`` is
    used. ``F(1) = +inf``.

    Args:
        x: values in ``(0, 1]``, any shape.
        depth: N >= 3 (static).

    Returns:
        ``F(x)``, same shape and float dtype as ``x``.

    Raises:
        InputError: if ``depth < 3`` or (concrete) ``x`` outside ``(0, 1]`` (traced: ``NaN``).
    """
    depth = _check_depth(depth)
    if depth < 3:
        raise InputError(f"depth must be >= 3 for the 2F1 potential, got {depth=}")
    x = jnp.asarray(x, _float_dtype(x))
    valid = _check("x", x, lambda v: (v > 0) & (v <= 1), "in (0, 1]")
    return _guarded(valid, lambda y: _potential_jax(y, depth), (x,), (0.5,))


# ----------------------------------------------------------------------------- closed forms


def _closed_form_unchecked(t, lam, depth: int, sigma0):
    if depth == 1:
        return 1.0 - (1.0 - sigma0) * jnp.exp(-2.0 * lam * t)
    if depth == 2:
        return jax.nn.sigmoid(jnp.log(sigma0) - jnp.log1p(-sigma0) + 4.0 * lam * t)
    return _deep_closed_form(t, lam, sigma0, depth)


def _broadcast_float(*xs):
    dtype = _float_dtype(*xs)
    return jnp.broadcast_arrays(*(jnp.asarray(x, dtype) for x in xs))


def closed_form(
    t: Float[ArrayLike, "..."],
    lam: Float[ArrayLike, "..."],
    depth: int,
    sigma0: Float[ArrayLike, "..."],
) -> Float[Array, "..."]:
    r"""Autoencoder singular value ``sigma(t)`` in closed form, for any depth.

    Solves :math:`\dot\sigma = 2N\lambda\sigma^{2-2/N}(1-\sigma)`:

    * N = 1: :math:`\sigma = 1 - (1-\sigma_0)e^{-2\lambda t}` (exponential);
    * N = 2: :math:`\sigma = \sigma_0 e^{4\lambda t}/(1-\sigma_0+\sigma_0 e^{4\lambda t})`
      (logistic, evaluated as ``sigmoid(logit(sigma0) + 4 lam t)``);
    * N >= 3: inverts :math:`F(\sigma) = F(\sigma_0) + 2N\lambda t` (see :func:`potential`) with a
      monotone Newton iteration in ``logit(sigma)`` to float64 round-off. This branch runs on the
      host through ``jax.pure_callback`` (jit/vmap work) and has a custom JVP from the ODE.

    Args:
        t: gradient-flow time(s), >= 0.
        lam: PC variance(s), > 0.
        depth: number of weight matrices N >= 1 (static).
        sigma0: initial singular value(s), in ``[0, 1)`` for N = 1 and ``(0, 1)`` for N >= 2.
            ``t``, ``lam`` and ``sigma0`` broadcast against each other.

    Returns:
        ``sigma(t)`` with the broadcast shape, in ``[sigma0, 1]``.

    Raises:
        InputError: for ``depth < 1``, or concrete ``t < 0``, ``lam <= 0`` or ``sigma0`` outside
            its range (traced: ``NaN`` there).

    Examples:
        >>> round(float(closed_form(1.0, 0.5, 2, 0.5)), 6)  # sigmoid(2)
        0.880797

    References:
        Saxe, McClelland & Ganguli (2014), eq. (5); Arora et al. (2019); Benjamin et al.
        (2022), Methods.
    """
    depth = _check_depth(depth)
    t, lam, sigma0 = _broadcast_float(t, lam, sigma0)
    valid = _check_t(t) & _check_lam(lam) & _check_sigma0(sigma0, depth)
    fn = lambda tt, ll, ss: _closed_form_unchecked(tt, ll, depth, ss)
    return _guarded(valid, fn, (t, lam, sigma0), (0.0, 1.0, 0.5))


def _implicit_time_unchecked(sigma, lam, depth: int, sigma0):
    if depth == 1:
        return (jnp.log1p(-sigma0) - jnp.log1p(-sigma)) / (2.0 * lam)
    if depth == 2:
        logit = lambda s: jnp.log(s) - jnp.log1p(-s)
        return (logit(sigma) - logit(sigma0)) / (4.0 * lam)
    return (_potential_jax(sigma, depth) - _potential_jax(sigma0, depth)) / (2.0 * depth * lam)


def implicit_time(
    sigma: Float[ArrayLike, "..."],
    lam: Float[ArrayLike, "..."],
    depth: int,
    sigma0: Float[ArrayLike, "..."],
) -> Float[Array, "..."]:
    r"""Time ``t(sigma)`` at which the autoencoder singular value reaches ``sigma``.

    * N = 1: :math:`t = \ln\frac{1-\sigma_0}{1-\sigma}/(2\lambda)`;
    * N = 2: :math:`t = [\operatorname{logit}\sigma - \operatorname{logit}\sigma_0]/(4\lambda)`;
    * N >= 3: :math:`t = [F(\sigma) - F(\sigma_0)]/(2N\lambda)`,
      :math:`F(x) = (x^p/p)\,{}_2F_1(1,p;p+1;x)`, :math:`p = 2/N-1`.

    Args:
        sigma: target value(s) in ``[sigma0, 1)``.
        lam: PC variance(s), > 0.
        depth: N >= 1 (static).
        sigma0: initial value(s), ``[0, 1)`` for N = 1, ``(0, 1)`` for N >= 2.

    Returns:
        ``t(sigma)`` with the broadcast shape, >= 0.

    Raises:
        InputError: for bad ``depth``/``lam``/``sigma0`` or ``sigma`` outside ``[sigma0, 1)``
            (concrete inputs; traced: ``NaN`` there).

    Examples:
        >>> round(float(implicit_time(0.5, 1.0, 1, 0.0)), 6)  # ln 2 / 2
        0.346574
    """
    depth = _check_depth(depth)
    sigma, lam, sigma0 = _broadcast_float(sigma, lam, sigma0)
    valid = _check_lam(lam) & _check_sigma0(sigma0, depth)
    if is_concrete(sigma0):
        s0 = np.asarray(sigma0)
        valid = valid & _check("sigma", sigma, lambda v: (v >= s0) & (v < 1), "in [sigma0, 1)")
    else:
        valid = valid & (sigma >= sigma0) & (sigma < 1)
    # an invalid entry is evaluated at sigma = sigma0 = 1/2 (time 0), then set to NaN
    fn = lambda ss, ll, s0: _implicit_time_unchecked(ss, ll, depth, s0)
    return _guarded(valid, fn, (sigma, lam, sigma0), (0.5, 1.0, 0.5))


def half_time(
    lam: Float[ArrayLike, "..."], depth: int, sigma0: Float[ArrayLike, "..."]
) -> Float[Array, "..."]:
    r"""Time at which the autoencoder singular value reaches 1/2 (exact, every depth).

    * N = 1: :math:`\ln(2(1-\sigma_0))/(2\lambda)`;
    * N = 2: :math:`\ln((1-\sigma_0)/\sigma_0)/(4\lambda)`;
    * N >= 3: :math:`[F(1/2) - F(\sigma_0)]/(2N\lambda)` (small-init asymptote in
      :func:`half_time_small_init`).

    All are exactly proportional to ``1/lam``: PCs are learned in order of variance.

    Args:
        lam: PC variance(s), > 0.
        depth: N >= 1 (static).
        sigma0: initial value(s), ``[0, 1/2)`` for N = 1, ``(0, 1/2)`` for N >= 2.

    Returns:
        Half-time(s), broadcast shape of ``lam`` and ``sigma0``.

    Raises:
        InputError: for ``depth < 1``, or concrete ``lam <= 0`` or ``sigma0`` outside its range
            (traced: ``NaN`` there).

    Examples:
        >>> round(float(half_time(1.0, 2, 0.1)), 6)  # ln 9 / 4
        0.549306
    """
    depth = _check_depth(depth)
    lam, sigma0 = _broadcast_float(lam, sigma0)
    valid = _check_lam(lam) & _check_sigma0(sigma0, depth, upper=0.5)
    fn = lambda ll, s0: _implicit_time_unchecked(jnp.full_like(s0, 0.5), ll, depth, s0)
    return _guarded(valid, fn, (lam, sigma0), (1.0, 0.25))


def half_time_small_init(
    lam: Float[ArrayLike, "..."], depth: int, sigma0: Float[ArrayLike, "..."]
) -> Float[Array, "..."]:
    r"""Leading small-``sigma0`` asymptote of :func:`half_time` for N >= 3.

    .. math:: t_{1/2} \approx \frac{\sigma_0^{-(N-2)/N}}{2(N-2)\lambda}

    Its relative error vanishes as ``sigma0 -> 0`` (it drops ``F(1/2)`` and the higher terms of
    ``F(sigma0)``).

    Args:
        lam: PC variance(s), > 0.
        depth: N >= 3 (static).
        sigma0: initial value(s) in ``(0, 1/2)``.

    Returns:
        Approximate half-time(s).

    Raises:
        InputError: if ``depth < 3``, or concrete ``lam <= 0`` or ``sigma0`` outside
            ``(0, 1/2)`` (traced: ``NaN`` there).
    """
    depth = _check_depth(depth)
    if depth < 3:
        raise InputError(f"depth must be >= 3 for the small-init asymptote, got {depth=}")
    lam, sigma0 = _broadcast_float(lam, sigma0)
    valid = _check_lam(lam) & _check_sigma0(sigma0, depth, upper=0.5)
    fn = lambda ll, s0: jnp.power(s0, -(depth - 2.0) / depth) / (2.0 * (depth - 2.0) * ll)
    return _guarded(valid, fn, (lam, sigma0), (1.0, 0.25))


def rise_time(
    lam: Float[ArrayLike, "..."],
    depth: int,
    sigma0: Float[ArrayLike, "..."],
    *,
    low: float = 0.1,
    high: float = 0.9,
) -> Float[Array, "..."]:
    """Rise time ``t(high) - t(low)`` of the autoencoder singular value (default 10-90 %).

    Divided by :func:`half_time` it measures how step-like learning is: ``ln 9 / ln(2 (1 - sigma0))`` (3.17 at
    ``sigma0 = 0``) for N = 1, independent of ``lam``,, ``2 ln 9 / ln((1 - sigma0)/sigma0)`` for N = 2, and smaller
    still for deeper networks at small ``sigma0`` (the sigmoid sharpens with depth).

    Args:
        lam: PC variance(s), > 0.
        depth: N >= 1 (static).
        sigma0: initial value(s), below ``low`` (``>= 0`` for N = 1, ``> 0`` otherwise).
        low, high: levels with ``0 < low < high < 1``.

    Returns:
        Rise time(s), broadcast shape.

    Raises:
        InputError: if ``not 0 < low < high < 1`` or for the errors of :func:`implicit_time`.
    """
    if not 0.0 < low < high < 1.0:
        raise InputError(f"low and high must satisfy 0 < low < high < 1, got {low=}, {high=}")
    depth = _check_depth(depth)
    lam, sigma0 = _broadcast_float(lam, sigma0)
    valid = _check_lam(lam) & _check_sigma0(sigma0, depth, upper=low, name="sigma0 (below low)")

    def fn(ll, s0):
        t_hi = _implicit_time_unchecked(jnp.full_like(s0, high), ll, depth, s0)
        t_lo = _implicit_time_unchecked(jnp.full_like(s0, low), ll, depth, s0)
        return t_hi - t_lo

    return _guarded(valid, fn, (lam, sigma0), (1.0, 0.5 * low))


# ----------------------------------------------------------------------------- supervised


def supervised_closed_form(
    t: Float[ArrayLike, "..."],
    lam: Float[ArrayLike, "..."],
    s_yx: Float[ArrayLike, "..."],
    depth: int,
    sigma0: Float[ArrayLike, "..."],
) -> Float[Array, "..."]:
    r"""Supervised singular value ``sigma(t)`` for ``loss = E||y - W x||^2``.

    Solves :math:`\dot\sigma = 2N\sigma^{2-2/N}(s_{yx} - \lambda\sigma)` with asymptote
    :math:`a = s_{yx}/\lambda`. Substituting ``x = sigma / a`` gives the autoencoder flow with rate
    :math:`\lambda a^{2-2/N}`, so ``sigma(t) = a * closed_form(t, lam a^{2-2/N}, N, sigma0 / a)``.
    For N = 1 this is :math:`a + (\sigma_0 - a)e^{-2\lambda t}`; for N = 2 the logistic with rate
    :math:`4 s_{yx}`.

    Args:
        t: time(s) >= 0.
        lam: input variance(s) along the mode, > 0.
        s_yx: input-output singular value(s) (diagonal of ``U^T E[y x^T] V``), > 0.
        depth: N >= 1 (static).
        sigma0: initial value(s), ``sigma0 / a`` in ``[0, 1)`` (N = 1) or ``(0, 1)`` (N >= 2).

    Returns:
        ``sigma(t)``, broadcast shape.

    Raises:
        InputError: for bad ``depth``, or concrete bad ``t``, ``lam``, ``s_yx`` or ``sigma0``
            (traced: ``NaN`` there).

    Examples:
        >>> round(float(supervised_closed_form(10.0, 2.0, 1.0, 1, 0.0)), 6)  # -> a = 0.5
        0.5

    References:
        Benjamin et al. (2022), eqs. 10-11, with the factor 2 restored and the exponent written
        ``2(N-1)/N``.
    """
    depth = _check_depth(depth)
    t, lam, s_yx, sigma0 = _broadcast_float(t, lam, s_yx, sigma0)
    valid = _check_t(t) & _check_lam(lam) & _check_lam(s_yx, "s_yx")
    valid = valid & _check_sigma0(sigma0 / (s_yx / lam), depth, name="sigma0 / (s_yx / lam)")

    def fn(tt, ll, sy, s0):
        a = sy / ll
        rate = ll * jnp.power(a, 2.0 - 2.0 / depth)
        return a * _closed_form_unchecked(tt, rate, depth, s0 / a)

    return _guarded(valid, fn, (t, lam, s_yx, sigma0), (0.0, 1.0, 1.0, 0.5))


def supervised_half_time(
    lam: Float[ArrayLike, "..."],
    s_yx: Float[ArrayLike, "..."],
    depth: int,
    sigma0: Float[ArrayLike, "..."],
) -> Float[Array, "..."]:
    """Time at which the supervised singular value reaches half its asymptote ``s_yx / lam``.

    Equals ``half_time(lam * a^(2 - 2/N), N, sigma0 / a)`` with ``a = s_yx / lam``: for N = 1 it
    depends on ``lam`` only, for N = 2 on ``s_yx`` only.

    Args:
        lam: input variance(s), > 0.
        s_yx: input-output singular value(s), > 0.
        depth: N >= 1 (static).
        sigma0: initial value(s) with ``sigma0 / a`` in ``[0, 1/2)`` (N = 1) or ``(0, 1/2)``.

    Returns:
        Half-time(s), broadcast shape.

    Raises:
        InputError: for bad ``depth``, or concrete bad ``lam``, ``s_yx`` or ``sigma0`` (traced:
            ``NaN`` there).
    """
    depth = _check_depth(depth)
    lam, s_yx, sigma0 = _broadcast_float(lam, s_yx, sigma0)
    valid = _check_lam(lam) & _check_lam(s_yx, "s_yx")
    x0 = sigma0 / (s_yx / lam)
    valid = valid & _check_sigma0(x0, depth, upper=0.5, name="sigma0 / (s_yx / lam)")

    def fn(ll, sy, s0):
        a = sy / ll
        rate = ll * jnp.power(a, 2.0 - 2.0 / depth)
        x = s0 / a
        return _implicit_time_unchecked(jnp.full_like(x, 0.5), rate, depth, x)

    return _guarded(valid, fn, (lam, s_yx, sigma0), (1.0, 1.0, 0.25))


# ----------------------------------------------------------------------------- GD initialisation


def aligned_balanced_weights(
    sigma0: Float[ArrayLike, " r"],
    depth: int,
    in_basis: Float[ArrayLike, "n_in r"],
    out_basis: Float[ArrayLike, "n_out r"] | None = None,
    hidden_bases: tuple[Float[ArrayLike, "h r"], ...] | None = None,
) -> tuple[Float[Array, "_ _"], ...]:
    """Balanced, aligned factors of ``W = out_basis diag(sigma0) in_basis^T`` (input first).

    With ``s = sigma0^(1/N)`` the layers are ``W_1 = R_1 diag(s) V^T``,
    ``W_k = R_k diag(s) R_{k-1}^T`` and ``W_N = U diag(s) R_{N-1}^T``, so that
    ``W_{k+1}^T W_{k+1} = W_k W_k^T`` (balanced) and the end-to-end singular vectors are ``U``
    and ``V``. Gradient descent from these weights keeps every mode decoupled, which is the
    setting of :func:`closed_form` (with ``U = V`` the PCs) and :func:`supervised_closed_form`.

    Args:
        sigma0: initial end-to-end singular values, shape ``(r,)``, >= 0.
        depth: number of layers N >= 1 (static).
        in_basis: ``V``, shape ``(n_in, r)``, orthonormal columns.
        out_basis: ``U``, shape ``(n_out, r)``, orthonormal columns; default ``in_basis``.
        hidden_bases: ``N - 1`` matrices ``R_k`` of shape ``(h_k, r)`` with orthonormal columns
            (hidden widths ``h_k >= r``); default ``I_r`` (hidden width ``r``).

    Returns:
        Tuple of ``N`` matrices, input first, for :func:`theory.deep_linear.gradient_descent`.

    Raises:
        InputError: for ``depth < 1``, inconsistent shapes, or (concrete) negative ``sigma0``
            (traced: ``NaN`` weights).
    """
    depth = _check_depth(depth)
    sigma0 = jnp.asarray(sigma0, _float_dtype(sigma0, in_basis))
    if sigma0.ndim != 1:
        raise InputError(f"sigma0 must be a vector of singular values (r,), got {sigma0.shape=}")
    r = sigma0.shape[0]
    sigma0 = _nan_unless(
        _check("sigma0", sigma0, lambda v: v >= 0, ">= 0 (singular values)"), sigma0
    )
    v = jnp.asarray(in_basis, sigma0.dtype)
    u = v if out_basis is None else jnp.asarray(out_basis, sigma0.dtype)
    for name, m in (("in_basis", v), ("out_basis", u)):
        if m.ndim != 2 or m.shape[1] != r:
            raise InputError(f"{name} must have shape (n, r) with r = {r}, got {m.shape}")
    if hidden_bases is None:
        hidden_bases = tuple(jnp.eye(r, dtype=sigma0.dtype) for _ in range(depth - 1))
    hidden_bases = tuple(jnp.asarray(h, sigma0.dtype) for h in hidden_bases)
    if len(hidden_bases) != depth - 1:
        raise InputError(
            f"hidden_bases must hold depth - 1 = {depth - 1} matrices, got {len(hidden_bases)}"
        )
    for k, h in enumerate(hidden_bases):
        if h.ndim != 2 or h.shape[1] != r or h.shape[0] < r:
            raise InputError(
                f"hidden_bases[{k}] must have shape (h, r) with h >= r = {r}, got {h.shape}"
            )
    s = jnp.power(sigma0, 1.0 / depth)
    bases = (v, *hidden_bases, u)
    return tuple((bases[k + 1] * s[None, :]) @ bases[k].T for k in range(depth))


# ----------------------------------------------------------------------------- gradient descent


class Simulation(NamedTuple):
    """Gradient descent of a deep linear network, projected onto the modes of the data.

    Attributes:
        t: ``(R,)`` gradient-flow times ``step * lr`` of the records.
        sigma: ``(R, r)`` end-to-end singular values along the modes, ``u_i^T W(t) v_i``.
        lam: ``(r,)`` input variances along the modes, ``v_i^T E[x x^T] v_i``.
        s_yx: ``(r,)`` input-output singular values (``lam`` for the autoencoder).
        residual: ``(R,)`` Frobenius norm of ``W(t) - U diag(sigma) V^T`` (0 while the modes stay
            decoupled; grows when they are not aligned).
        in_basis: ``(n_in, r)`` the modes ``V``; ``out_basis``: ``(n_out, r)`` ``U``.
    """

    t: Array
    sigma: Array
    lam: Array
    s_yx: Array
    residual: Array
    in_basis: Array
    out_basis: Array


def simulate(
    sigma_xx: Float[ArrayLike, "n_in n_in"],
    sigma_yx: Float[ArrayLike, "n_out n_in"] | None = None,
    *,
    depth: int,
    sigma0: Float[ArrayLike, "..."] = 1e-3,
    lr: float = 1e-3,
    num_steps: int = 5000,
    record_every: int = 50,
    rank: int | None = None,
    check_alignment: bool = True,
) -> Simulation:
    r"""Full-batch gradient descent of a depth-N linear network from ``E[x x^T]`` and ``E[y x^T]``.

    The counterpart of :func:`theory.saxe.simulate` for the singular-value theory: pass the
    statistics as they are (no factor 2 to remember), get the singular values at gradient-flow
    times ``t = step * lr`` of the loss ``E||y - W x||^2``, the times of :func:`closed_form` and
    :func:`supervised_closed_form`:

    * autoencoder (``sigma_yx=None``, ``y = x``): the modes are the eigenvectors of ``sigma_xx``
      (largest variance first) and ``sigma`` follows ``closed_form(t, lam, depth, sigma0)``;
    * supervised: the modes are the singular vectors of ``sigma_yx`` (largest first) and
      ``sigma`` follows ``supervised_closed_form(t, lam, s_yx, depth, sigma0)``, which needs
      ``sigma_xx`` diagonal in the right singular vectors (``check_alignment``).

    The network starts balanced and aligned (:func:`aligned_balanced_weights`, hidden width
    ``r``) with end-to-end singular values ``sigma0``, and is trained by
    :func:`theory.deep_linear.gradient_descent` on ``2 sigma_xx`` and ``2 sigma_yx`` (it descends
    half that loss). Forward Euler: the closed forms hold to ``O(lr)``.

    Args:
        sigma_xx: input second moments ``E[x x^T]``, symmetric ``(n_in, n_in)``.
        sigma_yx: input-output moments ``E[y x^T]``, ``(n_out, n_in)``; ``None`` for the
            autoencoder.
        depth: number of weight matrices N >= 1 (static).
        sigma0: initial singular values, a scalar or ``(r,)``, >= 0 (> 0 for depth >= 2: 0 is a
            fixed point).
        lr: learning rate, > 0.
        num_steps, record_every: as in :func:`theory.deep_linear.gradient_descent`.
        rank: number of modes ``r`` (default: every mode with a variance, resp. singular value,
            above ``1e-6`` of the largest).
        check_alignment: raise unless ``sigma_xx`` is diagonal in the modes (always true for the
            autoencoder). ``False`` simulates a misaligned task; ``residual`` then shows the
            coupling.

    Returns:
        A :class:`Simulation` with ``num_steps // record_every + 1`` records.

    Raises:
        InputError: shapes that do not match, a non-symmetric ``sigma_xx``, a bad ``depth``,
            ``lr``, ``rank``, ``sigma0`` or step schedule, or misaligned statistics.

    Examples:
        >>> import jax.numpy as jnp
        >>> sim = simulate(jnp.diag(jnp.array([1.0, 0.25])), depth=2, sigma0=0.01, lr=1e-2,
        ...                num_steps=400, record_every=400)
        >>> theory = closed_form(sim.t[-1], sim.lam, 2, 0.01)
        >>> bool(jnp.allclose(sim.sigma[-1], theory, atol=0.02))
        True
    """
    depth = _check_depth(depth)
    sxx = np.asarray(sigma_xx)
    if sxx.ndim != 2 or sxx.shape[0] != sxx.shape[1]:
        raise InputError(f"sigma_xx must be a square matrix (n_in, n_in), got shape {sxx.shape}")
    dtype = _float_dtype(sigma_xx) if sigma_yx is None else _float_dtype(sigma_xx, sigma_yx)
    sxx = sxx.astype(np.float64)
    scale = max(float(np.max(np.abs(sxx))), np.finfo(np.float64).tiny)
    if not np.all(np.isfinite(sxx)) or np.max(np.abs(sxx - sxx.T)) > 1e-6 * scale:
        raise InputError("sigma_xx must be finite and symmetric (E[x x^T])")
    require("lr", lr, lambda v: np.isfinite(v) & (v > 0), "> 0 and finite")
    if sigma_yx is None:
        lam_all, vecs = np.linalg.eigh(sxx)
        order = np.argsort(lam_all)[::-1]
        strengths, v_all = lam_all[order], vecs[:, order]
        u_all = v_all
        what = "variances of sigma_xx"
    else:
        syx = np.asarray(sigma_yx, np.float64)
        if syx.ndim != 2 or syx.shape[1] != sxx.shape[0]:
            raise InputError(
                f"sigma_yx must have shape (n_out, n_in = {sxx.shape[0]}), got {syx.shape}"
            )
        if not np.all(np.isfinite(syx)):
            raise InputError("sigma_yx must be finite (E[y x^T])")
        u_full, strengths, vt = np.linalg.svd(syx, full_matrices=False)
        u_all, v_all = u_full, vt.T
        what = "singular values of sigma_yx"
    if strengths[0] <= 0:
        raise InputError(f"the {what} are all <= 0: nothing to learn")
    if rank is None:
        rank = int(np.sum(strengths > 1e-6 * strengths[0]))
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 1 <= rank:
        raise InputError(f"rank must be an int >= 1, got {rank!r}")
    if rank > len(strengths) or strengths[rank - 1] <= 0:
        n_pos = int(np.sum(strengths > 0))
        raise InputError(f"rank must be in [1, {n_pos}] (the positive {what}), got {rank}")
    v, u = v_all[:, :rank], u_all[:, :rank]
    lam = np.einsum("ir,ij,jr->r", v, sxx, v)
    if sigma_yx is not None and check_alignment:
        coupling = np.linalg.norm(sxx @ v - v * lam[None, :])
        if coupling > 1e-4 * max(np.linalg.norm(sxx), np.finfo(np.float64).tiny):
            raise InputError(
                "sigma_xx is not diagonal in the right singular vectors of sigma_yx (relative "
                f"coupling {coupling / np.linalg.norm(sxx):.2g}): the modes couple and the "
                "closed forms do not apply; pass check_alignment=False to simulate it anyway"
            )
    s_yx = lam if sigma_yx is None else strengths[:rank]
    sigma0 = np.broadcast_to(np.asarray(sigma0, np.float64), (rank,))
    allowed = ">= 0" if depth == 1 else "> 0 for depth >= 2 (0 is a fixed point)"
    require("sigma0", sigma0, (lambda x: x >= 0) if depth == 1 else (lambda x: x > 0), allowed)
    to = functools.partial(jnp.asarray, dtype=dtype)
    v, u, lam, s_yx = to(v), to(u), to(lam), to(s_yx)
    weights0 = aligned_balanced_weights(to(sigma0), depth, v, u)
    target = 2.0 * (to(sxx) if sigma_yx is None else to(sigma_yx))

    def observe(ws):
        w = deep_linear.product(ws)
        sigma = jnp.einsum("ir,ij,jr->r", u, w, v)
        return sigma, jnp.linalg.norm(w - (u * sigma[None, :]) @ v.T)

    _, (sigma, residual) = deep_linear.gradient_descent(
        weights0,
        2.0 * to(sxx),
        target,
        lr=lr,
        num_steps=num_steps,
        record_every=record_every,
        observe=observe,
    )
    steps = jnp.arange(num_steps // record_every + 1, dtype=sigma.dtype) * record_every
    return Simulation(steps * lr, sigma, lam, s_yx, residual, v, u)
