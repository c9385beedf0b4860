"""Full-batch gradient descent on deep linear networks, in ``lax.scan``.

Conventions:

* Weights are a tuple ordered **input first**: ``weights[0] = W_1`` is applied first and the
  network computes ``y = W_tot x`` with ``W_tot = W_L ... W_2 W_1``. Layer ``l`` has shape
  ``(n_l, n_{l-1})`` with ``n_0 = n_in`` and ``n_L = n_out``.
* The loss is given by second-order statistics of the data,
  ``L(W) = 1/2 tr(W_tot S_xx W_tot^T) - tr(W_tot S_yx^T)`` (+ a constant), which equals
  ``1/2 sum_mu ||y_mu - W_tot x_mu||^2`` when ``S_xx = sum_mu x_mu x_mu^T`` and
  ``S_yx = sum_mu y_mu x_mu^T`` (or the mean squared error with expectations instead of sums).
* Its gradient is ``dL/dW_l = (W_L...W_{l+1})^T (W_tot S_xx - S_yx) (W_{l-1}...W_1)^T``, and one
  gradient-descent step is ``W_l <- W_l - lr dL/dW_l`` for all layers at once. Gradient flow
  ``tau dW_l/dt = -dL/dW_l`` is the ``lr -> 0`` limit with ``t = step * lr`` (tau = 1).
* Everything is a pure function of its arguments; nothing is random, so no key is taken. All
  functions are jittable and vmap over tasks (stack the weights / statistics / learning rates
  along a leading axis ``C``).

On top of the general solver this module builds the networks of Saxe's theory of perceptual
learning (*A deep learning theory of perceptual learning dynamics*, poster): the 3-layer network ``W1 in R^{N x 2}, W2 in R^{1 x N}`` with its projections onto the
alpha/beta manifold and the off-manifold residual, the depth-L full-matrix construction for the
reverse hierarchy, and the multi-location pooling network for transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from theory.checks import InputError, is_concrete
from theory.tuning import TaskVectors

__all__ = [
    "PoolingParams",
    "chain_network",
    "chain_projection",
    "check_schedule",
    "gradient_descent",
    "gradients",
    "loss",
    "pooling_gradient_descent",
    "pooling_loss",
    "pooling_network",
    "pooling_outputs",
    "pooling_projection",
    "product",
    "saxe_network",
    "saxe_projection",
]


def _check_chain(weights: tuple, sigma_xx, sigma_yx) -> None:
    """Static shape checks (trace time) for a weight chain and its data statistics."""
    if not isinstance(weights, tuple | list) or len(weights) < 1:
        raise InputError(
            f"weights must be a non-empty tuple of matrices (depth >= 1), got {type(weights)=}"
        )
    for i, w in enumerate(weights):
        if np.ndim(w) != 2:
            raise InputError(f"weights[{i}] must be a matrix (rank 2), got shape {np.shape(w)}")
    for i in range(1, len(weights)):
        if weights[i].shape[1] != weights[i - 1].shape[0]:
            raise InputError(
                f"weights[{i}] has shape {weights[i].shape} but weights[{i - 1}] has shape "
                f"{weights[i - 1].shape}: expected weights[{i}].shape[1] == "
                f"weights[{i - 1}].shape[0] (input-first ordering)"
            )
    n_in = weights[0].shape[1]
    n_out = weights[-1].shape[0]
    if jnp.shape(sigma_xx) != (n_in, n_in):
        raise InputError(
            f"sigma_xx must have shape (n_in, n_in) = {(n_in, n_in)}, got {jnp.shape(sigma_xx)}"
        )
    if jnp.shape(sigma_yx) != (n_out, n_in):
        raise InputError(
            f"sigma_yx must have shape (n_out, n_in) = {(n_out, n_in)}, got {jnp.shape(sigma_yx)}"
        )


def product(weights: tuple[Float[Array, "_ _"], ...]) -> Float[Array, "n_out n_in"]:
    """The end-to-end matrix ``W_tot = W_L ... W_1`` of an input-first weight tuple.

    Args:
        weights: tuple of ``L >= 1`` matrices, ``weights[l]`` of shape ``(n_{l+1}, n_l)``.

    Returns:
        ``W_tot`` of shape ``(n_out, n_in)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> product((jnp.eye(2), 2.0 * jnp.ones((1, 2)))).tolist()
        [[2.0, 2.0]]
    """
    out = weights[0]
    for w in weights[1:]:
        out = w @ out
    return out


def loss(
    weights: tuple[Float[Array, "_ _"], ...],
    sigma_xx: Float[ArrayLike, "n_in n_in"],
    sigma_yx: Float[ArrayLike, "n_out n_in"],
) -> Float[Array, ""]:
    r"""Quadratic loss ``1/2 tr(W_tot S_xx W_tot^T) - tr(W_tot S_yx^T)`` (data constant dropped).

    .. math:: L = \tfrac12 \operatorname{tr}(W \Sigma^{xx} W^\top) - \operatorname{tr}(W \Sigma^{yx\top})

    Args:
        weights: input-first tuple of matrices, see the module docstring.
        sigma_xx: input second-moment matrix, shape ``(n_in, n_in)``, symmetric PSD.
        sigma_yx: input-output cross-moment matrix, shape ``(n_out, n_in)``.

    Returns:
        Scalar loss; add ``1/2 tr(S_yy)`` to get ``1/2 sum_mu ||y_mu - W_tot x_mu||^2``.
    """
    _check_chain(tuple(weights), sigma_xx, sigma_yx)
    w_tot = product(tuple(weights))
    return 0.5 * jnp.sum((w_tot @ sigma_xx) * w_tot) - jnp.sum(w_tot * sigma_yx)


def gradients(
    weights: tuple[Float[Array, "_ _"], ...],
    sigma_xx: Float[ArrayLike, "n_in n_in"],
    sigma_yx: Float[ArrayLike, "n_out n_in"],
) -> tuple[Float[Array, "_ _"], ...]:
    r"""Exact gradient of :func:`loss` with respect to every layer.

    .. math:: \partial L / \partial W_l = (W_L\cdots W_{l+1})^\top
              (W_{tot}\Sigma^{xx} - \Sigma^{yx}) (W_{l-1}\cdots W_1)^\top

    Args:
        weights: input-first tuple of ``L >= 1`` matrices.
        sigma_xx: shape ``(n_in, n_in)``.
        sigma_yx: shape ``(n_out, n_in)``.

    Returns:
        Tuple of gradients with the shapes of ``weights``.

    References:
        Saxe, McClelland & Ganguli (2014), eq. (2); Saxe, *A deep learning theory of perceptual
        learning dynamics* (poster), the gradient-descent equation.
    """
    weights = tuple(weights)
    _check_chain(weights, sigma_xx, sigma_yx)
    depth = len(weights)
    # prefix[l] = W_l ... W_1 (prefix[0] = None means identity); suffix[l] = W_L ... W_{l+2}.
    prefixes: list[Any] = [None]
    for w in weights[:-1]:
        prefixes.append(w if prefixes[-1] is None else w @ prefixes[-1])
    w_tot = weights[-1] if prefixes[-1] is None else weights[-1] @ prefixes[-1]
    err = w_tot @ sigma_xx - sigma_yx  # (n_out, n_in)
    grads: list[Any] = [None] * depth
    left = err  # (W_L ... W_{l+1})^T err, built from the top down
    for l in range(depth - 1, -1, -1):
        below = prefixes[l]
        grads[l] = left if below is None else left @ below.T
        left = weights[l].T @ left
    return tuple(grads)


def gradient_descent(
    weights0: tuple[Float[Array, "_ _"], ...],
    sigma_xx: Float[ArrayLike, "n_in n_in"],
    sigma_yx: Float[ArrayLike, "n_out n_in"],
    *,
    lr: float | Float[ArrayLike, ""],
    num_steps: int,
    record_every: int = 1,
    observe: Callable[[tuple[Array, ...]], Any] | None = None,
) -> tuple[tuple[Float[Array, "_ _"], ...], Any]:
    """Full-batch gradient descent on a deep linear network, recorded every ``record_every`` steps.

    Each step updates all layers at once, ``W_l <- W_l - lr dL/dW_l`` with the gradient of
    :func:`gradients`. The loop is a ``lax.scan`` (an outer scan over records, an inner scan over
    ``record_every`` steps), so the call is jittable and vmaps over tasks (weights, statistics and
    ``lr`` batched along a leading axis).

    Args:
        weights0: input-first tuple of ``L >= 1`` initial matrices, ``W_tot = W_L ... W_1``.
        sigma_xx: input second moments ``sum_mu x_mu x_mu^T``, shape ``(n_in, n_in)``.
        sigma_yx: input-output moments ``sum_mu y_mu x_mu^T``, shape ``(n_out, n_in)``.
        lr: learning rate (scalar, may be traced; > 0 for descent). Time in units of gradient
            flow is ``t = step * lr``.
        num_steps: number of steps, an integer >= 0 (static).
        record_every: recording period in steps, an integer >= 1 dividing ``num_steps`` (static).
        observe: optional pure function ``observe(weights) -> pytree`` evaluated at steps
            ``0, record_every, ..., num_steps``; default records the weights themselves. Must be
            hashable if this call is jitted with it as a static argument.

    Returns:
        ``(weights_final, records)``: the weights after ``num_steps`` steps (same shapes and
        dtypes as ``weights0``) and the recorded pytree with a leading axis of length
        ``num_steps // record_every + 1``.

    Raises:
        InputError: if the shapes do not chain, ``num_steps < 0``, ``record_every < 1`` or
            ``num_steps % record_every != 0``.

    Examples:
        >>> import jax.numpy as jnp
        >>> w, rec = gradient_descent((jnp.array([[0.5]]),), jnp.eye(1), jnp.array([[1.0]]),
        ...                           lr=0.5, num_steps=2, observe=lambda ws: ws[0][0, 0])
        >>> rec.tolist()
        [0.5, 0.75, 0.875]
    """
    weights0 = tuple(jnp.asarray(w) for w in weights0)
    _check_chain(weights0, sigma_xx, sigma_yx)
    check_schedule(num_steps, record_every)
    dtype = jnp.result_type(*weights0)
    sigma_xx = jnp.asarray(sigma_xx, dtype=dtype)
    sigma_yx = jnp.asarray(sigma_yx, dtype=dtype)
    return _descend(
        lambda ws: gradients(ws, sigma_xx, sigma_yx),
        weights0,
        lr,
        num_steps,
        record_every,
        observe,
    )


def check_schedule(num_steps: int | float, record_every: int | float) -> tuple[int, int]:
    """Validate a gradient-descent schedule and return it as Python ``int``s.

    Args:
        num_steps: number of steps, an integer >= 0.
        record_every: recording period, an integer >= 1 that divides ``num_steps``.

    Returns:
        ``(num_steps, record_every)`` as ``int``.

    Raises:
        InputError: naming the parameter, for a value outside its range or a period that does
            not divide ``num_steps``.

    Examples:
        >>> check_schedule(10.0, 5)
        (10, 5)
    """
    if isinstance(num_steps, bool) or int(num_steps) != num_steps or num_steps < 0:
        raise InputError(f"num_steps must be an integer >= 0, got {num_steps=}")
    if isinstance(record_every, bool) or int(record_every) != record_every or record_every < 1:
        raise InputError(f"record_every must be an integer >= 1, got {record_every=}")
    if num_steps % record_every != 0:
        raise InputError(
            f"record_every must divide num_steps, got {num_steps=} and {record_every=}"
        )
    return int(num_steps), int(record_every)


def _descend(grad_fn, params0, lr, num_steps, record_every, observe):
    """Generic plain gradient descent ``p <- p - lr grad_fn(p)`` with recording (lax.scan)."""
    num_steps, record_every = check_schedule(num_steps, record_every)
    if observe is None:
        observe = lambda p: p
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params0))
    lr = jnp.asarray(lr, dtype=dtype)

    def step(p, _):
        g = grad_fn(p)
        return jax.tree_util.tree_map(lambda w, gw: (w - lr * gw).astype(w.dtype), p, g), None

    def chunk(p, _):
        p, _ = lax.scan(step, p, None, length=record_every)
        return p, observe(p)

    first = observe(params0)
    params, later = lax.scan(chunk, params0, None, length=num_steps // record_every)
    records = jax.tree_util.tree_map(
        lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b], axis=0), first, later
    )
    return params, records


# ---------------------------------------------------------------------------------------------
# the 3-layer Saxe network


def _two_stimulus_statistics(c, dtype) -> tuple[Array, Array]:
    """``S_xx = I_2`` (one-hot inputs, summed) and ``S_yx = [[c, -c]]`` (targets +-c)."""
    c = jnp.asarray(c, dtype)
    return jnp.eye(2, dtype=dtype), jnp.stack([c, -c])[None, :]


def saxe_network(
    task: TaskVectors, *, c: Float[ArrayLike, ""] = 1.0, beta0: Float[ArrayLike, ""] = 0.0
) -> tuple[tuple[Array, Array], Array, Array]:
    """Initial weights and data statistics of the 3-layer network of Saxe's poster.

    ``W1(0) = G = [g+, g-]`` (shape ``(N, 2)``), ``W2(0) = beta0 d^T`` (shape ``(1, N)``), inputs
    one-hot ``x+ = e1, x- = e2`` with targets ``+c, -c`` and the loss summed over both stimuli,
    so ``S_xx = I_2`` and ``S_yx = [[c, -c]]``.

    Args:
        task: :class:`theory.tuning.TaskVectors` of one task (``g_plus`` of shape ``(N,)``).
        c: target amplitude.
        beta0: initial decision strength.

    Returns:
        ``((W1, W2), sigma_xx, sigma_yx)`` ready for :func:`gradient_descent`.

    Raises:
        InputError: if the task vectors are not 1-D of equal length.
    """
    g_plus, g_minus, d = (jnp.asarray(a) for a in (task.g_plus, task.g_minus, task.d))
    if g_plus.ndim != 1 or g_plus.shape != g_minus.shape:
        raise InputError(
            f"task.g_plus and task.g_minus must be 1-D of equal length (one task; vmap for "
            f"many), got shapes {g_plus.shape} and {g_minus.shape}"
        )
    dtype = jnp.result_type(g_plus, float)
    w1 = jnp.stack([g_plus, g_minus], axis=-1).astype(dtype)
    w2 = (jnp.asarray(beta0, dtype) * d)[None, :]
    sxx, syx = _two_stimulus_statistics(c, dtype)
    return (w1, w2), sxx, syx


def saxe_projection(
    weights: tuple[Array, Array], task: TaskVectors
) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
    """Project the 3-layer weights onto the alpha/beta manifold of :mod:`theory.saxe`.

    ``alpha_hat = <W1 - G, D>_F / ||D||_F^2`` with ``D = [d, -d]``, ``beta_hat = W2 d / ||d||^2``
    and the residual ``r = ||W1 - G - alpha_hat D||_F + ||W2 - beta_hat d^T||``.

    Args:
        weights: ``(W1 (N, 2), W2 (1, N))``.
        task: the task's population vectors.

    Returns:
        ``(alpha_hat, beta_hat, residual)`` scalars.
    """
    w1, w2 = weights
    g = jnp.stack([task.g_plus, task.g_minus], axis=-1)
    big_d = jnp.stack([task.d, -task.d], axis=-1)
    dw1 = w1 - g
    alpha = jnp.sum(dw1 * big_d) / jnp.sum(big_d * big_d)
    beta = (w2[0] @ task.d) / (task.d @ task.d)
    residual = jnp.linalg.norm(dw1 - alpha * big_d) + jnp.linalg.norm(w2[0] - beta * task.d)
    return alpha, beta, residual


# ---------------------------------------------------------------------------------------------
# depth-L full-matrix construction (the reverse hierarchy)


def chain_network(
    task: TaskVectors, b0_upper: Float[ArrayLike, " Lm1"], *, c: Float[ArrayLike, ""] = 1.0
) -> tuple[tuple[Array, ...], Array, Array]:
    """Depth-L linear network whose dynamics are exactly the scalar chain (reverse hierarchy).

    ``W1 = G = [g+, g-]`` (so ``b1(0) = sqrt(v)``), hidden layers ``W_k = b_k(0) dhat dhat^T``
    (``N x N``, ``k = 2..L-1``) and readout ``W_L = b_L(0) dhat^T`` with ``dhat = d/||d||``.
    Gradient descent keeps every layer on its rank-one task mode; the strengths follow
    ``tau b_k' = 2 kappa e prod_{j != k} b_j`` with ``kappa = 1/sqrt(2)``.

    Args:
        task: one task's population vectors (``g_plus`` of shape ``(N,)``).
        b0_upper: initial strengths ``(b_2(0), ..., b_L(0))``, shape ``(L - 1,)``; depth
            ``L >= 2``.
        c: target amplitude.

    Returns:
        ``(weights0, sigma_xx, sigma_yx)`` with ``weights0`` input-first of length ``L``.

    Raises:
        InputError: if ``b0_upper`` is not 1-D with at least one entry (depth >= 2).
    """
    b0_upper = jnp.asarray(b0_upper)
    if b0_upper.ndim != 1 or b0_upper.shape[0] < 1:
        raise InputError(
            "b0_upper must be 1-D with L - 1 >= 1 entries (network depth L >= 2), got shape "
            f"{b0_upper.shape}"
        )
    (w1, _), sxx, syx = saxe_network(task, c=c)
    dhat = task.d / jnp.linalg.norm(task.d)
    b0_upper = b0_upper.astype(w1.dtype)
    hidden = tuple(b0_upper[k] * jnp.outer(dhat, dhat) for k in range(b0_upper.shape[0] - 1))
    readout = (b0_upper[-1] * dhat)[None, :]
    return (w1, *hidden, readout), sxx, syx


def chain_projection(
    weights: tuple[Array, ...], task: TaskVectors
) -> tuple[Float[Array, " L"], Float[Array, ""]]:
    """Layer strengths along the task mode and the total off-mode residual of a chain network.

    ``b_1 = <W1, D>_F / ||D||_F`` (``= sqrt(v)(1 + 2 alpha)``), ``b_k = dhat^T W_k dhat`` for the
    hidden layers and ``b_L = W_L dhat``; the residual sums ``||W1 - G - alpha_hat D||_F``,
    ``||W_k - b_k dhat dhat^T||_F`` and ``||W_L - b_L dhat^T||``.

    Args:
        weights: input-first tuple of a :func:`chain_network`.
        task: the task's population vectors.

    Returns:
        ``(b, residual)``, ``b`` of shape ``(L,)``.
    """
    w1, *hidden, readout = weights
    dhat = task.d / jnp.linalg.norm(task.d)
    g = jnp.stack([task.g_plus, task.g_minus], axis=-1)
    big_d = jnp.stack([task.d, -task.d], axis=-1)
    d_norm = jnp.linalg.norm(big_d)
    alpha = jnp.sum((w1 - g) * big_d) / d_norm**2
    b = [jnp.sum(w1 * big_d) / d_norm]
    residual = jnp.linalg.norm(w1 - g - alpha * big_d)
    proj = jnp.outer(dhat, dhat)
    for w in hidden:
        bk = dhat @ w @ dhat
        b.append(bk)
        residual = residual + jnp.linalg.norm(w - bk * proj)
    bl = readout[0] @ dhat
    b.append(bl)
    residual = residual + jnp.linalg.norm(readout[0] - bl * dhat)
    return jnp.stack(b), residual


# ---------------------------------------------------------------------------------------------
# multi-location pooling network for transfer


class PoolingParams(NamedTuple):
    """Plastic weights of the pooling network.

    Attributes:
        w1: location-specific input layers, shape ``(P, N, 2)``: block ``p`` maps the one-hot
            (stimulus +, stimulus -) input at location ``p`` to its ``N`` neurons.
        w2: decision layer over the ``K`` pooled copies, shape ``(K, N)`` (the row vector
            ``W2 in R^{1 x KN}`` reshaped).
    """

    w1: Array
    w2: Array


def _check_pool(pool) -> None:
    if np.ndim(pool) != 2:
        raise InputError(f"pool must be a (P, K) matrix of pooling rows c_p, got {jnp.shape(pool)}")
    if is_concrete(pool):
        norms = np.linalg.norm(np.asarray(pool), axis=1)
        if not np.allclose(norms, 1.0, rtol=1e-6, atol=0):
            raise InputError(f"pool rows c_p must have unit norm (||c_p|| = 1), got norms {norms}")


def pooling_network(
    task: TaskVectors,
    pool: Float[ArrayLike, "P K"],
    *,
    beta0: Float[ArrayLike, ""] = 0.0,
    location: int | ArrayLike = 0,
) -> PoolingParams:
    """Initial weights of the pooling network: ``W1 = blockdiag_p(G)``, ``W2 = beta0 (c_a x d)^T``.

    The network computes ``y = W2 (C^T x I_N) W1 x`` for a one-hot input ``x in R^{2P}`` over
    (location, stimulus); the pooling ``C^T x I_N`` is fixed, ``W1`` and ``W2`` are plastic. The
    effective readout of location ``p`` is ``r_p = sum_k C[p, k] W2_k``.

    Args:
        task: one task's population vectors (length ``N``).
        pool: pooling matrix ``C``, shape ``(P, K)``, rows ``c_p`` of unit norm.
        beta0: initial decision strength along ``c_a x d``.
        location: the location ``a`` whose pooled direction seeds ``W2`` (int, may be traced).

    Returns:
        :class:`PoolingParams`.

    Raises:
        InputError: if ``pool`` is not a matrix with unit-norm rows.
    """
    _check_pool(pool)
    pool = jnp.asarray(pool)
    g = jnp.stack([task.g_plus, task.g_minus], axis=-1)
    dtype = jnp.result_type(g, pool, float)
    w1 = jnp.broadcast_to(g, (pool.shape[0], *g.shape)).astype(dtype)
    w2 = jnp.asarray(beta0, dtype) * jnp.outer(pool[location], task.d).astype(dtype)
    return PoolingParams(w1, w2)


def pooling_outputs(params: PoolingParams, pool: Float[ArrayLike, "P K"]) -> Float[Array, "P 2"]:
    """Network outputs ``y[p, s]`` for stimulus ``s in (+, -)`` shown at location ``p``.

    Args:
        params: :class:`PoolingParams`.
        pool: pooling matrix ``(P, K)``.

    Returns:
        Shape ``(P, 2)``.
    """
    readout = jnp.asarray(pool) @ params.w2  # (P, N)
    return jnp.einsum("pn,pns->ps", readout, params.w1)


def pooling_loss(
    params: PoolingParams,
    pool: Float[ArrayLike, "P K"],
    location: int | ArrayLike,
    c: Float[ArrayLike, ""] = 1.0,
) -> Float[Array, ""]:
    """Loss ``1/2 sum_s (y*_s - y[a, s])^2`` of training at location ``a`` only (targets ``+-c``).

    Args:
        params: :class:`PoolingParams`.
        pool: pooling matrix ``(P, K)``.
        location: trained location ``a`` (int, may be traced).
        c: target amplitude.

    Returns:
        Scalar loss.
    """
    y = pooling_outputs(params, pool)
    mask = (jnp.arange(y.shape[0]) == location).astype(y.dtype)
    target = jnp.stack([jnp.asarray(c, y.dtype), -jnp.asarray(c, y.dtype)])
    return 0.5 * jnp.sum(mask[:, None] * (target[None, :] - y) ** 2)


def pooling_gradient_descent(
    params0: PoolingParams,
    pool: Float[ArrayLike, "P K"],
    location: int | ArrayLike,
    *,
    c: Float[ArrayLike, ""] = 1.0,
    lr: Float[ArrayLike, ""],
    num_steps: int,
    record_every: int = 1,
    observe: Callable[[PoolingParams], Any] | None = None,
) -> tuple[PoolingParams, Any]:
    """Full-batch gradient descent on the pooling network, training at one location.

    Only the diagonal blocks of ``W1`` exist (location-specific populations, no weight sharing),
    so blocks of untrained locations receive exactly zero gradient.

    Args:
        params0: initial :class:`PoolingParams`.
        pool: pooling matrix ``(P, K)`` with unit-norm rows.
        location: trained location (int, may be traced).
        c: target amplitude.
        lr: learning rate.
        num_steps: number of steps (static).
        record_every: recording period (static, divides ``num_steps``).
        observe: ``observe(params) -> pytree`` recorded at steps ``0, record_every, ...``;
            default records the params.

    Returns:
        ``(params_final, records)``.

    Raises:
        InputError: for a bad schedule or pooling matrix.
    """
    _check_pool(pool)
    pool = jnp.asarray(pool)
    grad_fn = jax.grad(lambda p: pooling_loss(p, pool, location, c))
    return _descend(grad_fn, params0, lr, num_steps, record_every, observe)


def pooling_projection(
    params: PoolingParams, pool: Float[ArrayLike, "P K"], task: TaskVectors
) -> dict[str, Array]:
    """Per-location reduced variables of the pooling network.

    Args:
        params: :class:`PoolingParams`.
        pool: pooling matrix ``(P, K)``.
        task: the task's population vectors.

    Returns:
        dict with ``alpha`` (``(P,)``: ``<W1_p - G, D>_F / ||D||_F^2``), ``beta`` (``(P,)``: the
        strength ``r_p d / ||d||^2`` of the effective readout of each location, equal to
        ``c_ap beta`` after training at a) and ``outputs`` (``(P, 2)``).
    """
    g = jnp.stack([task.g_plus, task.g_minus], axis=-1)
    big_d = jnp.stack([task.d, -task.d], axis=-1)
    alpha = jnp.sum((params.w1 - g[None]) * big_d[None], axis=(1, 2)) / jnp.sum(big_d * big_d)
    readout = jnp.asarray(pool) @ params.w2
    beta = readout @ task.d / (task.d @ task.d)
    return {"alpha": alpha, "beta": beta, "outputs": pooling_outputs(params, pool)}
