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

On top of the general solver this module builds the networks of the Saxe theory (spec A.4, A.6,
A.7): the 3-layer network ``W1 in R^{N x 2}, W2 in R^{1 x N}`` with its projections onto the
alpha/beta manifold and the off-manifold residual, the depth-L full-matrix construction for the
reverse hierarchy, and the multi-location pooling network for transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

__all__ = [
    "gradient_descent",
    "gradients",
    "loss",
    "product",
]


def _check_chain(weights: tuple, sigma_xx, sigma_yx) -> None:
    """Static shape checks (trace time) for a weight chain and its data statistics."""
    if not isinstance(weights, tuple | list) or len(weights) < 1:
        raise ValueError(
            f"weights must be a non-empty tuple of matrices (depth >= 1), got {type(weights)=}"
        )
    for i, w in enumerate(weights):
        if jnp.ndim(w) != 2:
            raise ValueError(f"weights[{i}] must be a matrix (rank 2), got shape {jnp.shape(w)}")
    for i in range(1, len(weights)):
        if weights[i].shape[1] != weights[i - 1].shape[0]:
            raise ValueError(
                f"weights[{i}] has shape {weights[i].shape} but weights[{i - 1}] has shape "
                f"{weights[i - 1].shape}: expected weights[{i}].shape[1] == "
                f"weights[{i - 1}].shape[0] (input-first ordering)"
            )
    n_in = weights[0].shape[1]
    n_out = weights[-1].shape[0]
    if jnp.shape(sigma_xx) != (n_in, n_in):
        raise ValueError(
            f"sigma_xx must have shape (n_in, n_in) = {(n_in, n_in)}, got {jnp.shape(sigma_xx)}"
        )
    if jnp.shape(sigma_yx) != (n_out, n_in):
        raise ValueError(
            f"sigma_yx must have shape (n_out, n_in) = {(n_out, n_in)}, got {jnp.shape(sigma_yx)}"
        )


def product(weights: tuple[Float[Array, "n_l n_lm1"], ...]) -> Float[Array, "n_out n_in"]:
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
    weights: tuple[Float[Array, "n_l n_lm1"], ...],
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
    weights: tuple[Float[Array, "n_l n_lm1"], ...],
    sigma_xx: Float[ArrayLike, "n_in n_in"],
    sigma_yx: Float[ArrayLike, "n_out n_in"],
) -> tuple[Float[Array, "n_l n_lm1"], ...]:
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
    weights0: tuple[Float[Array, "n_l n_lm1"], ...],
    sigma_xx: Float[ArrayLike, "n_in n_in"],
    sigma_yx: Float[ArrayLike, "n_out n_in"],
    *,
    lr: float | Float[ArrayLike, ""],
    num_steps: int,
    record_every: int = 1,
    observe: Callable[[tuple[Array, ...]], Any] | None = None,
) -> tuple[tuple[Float[Array, "n_l n_lm1"], ...], Any]:
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
        ValueError: if the shapes do not chain, ``num_steps < 0``, ``record_every < 1`` or
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
    if int(num_steps) != num_steps or num_steps < 0:
        raise ValueError(f"num_steps must be an integer >= 0, got {num_steps=}")
    if int(record_every) != record_every or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every=}")
    if num_steps % record_every != 0:
        raise ValueError(
            f"record_every must divide num_steps, got {num_steps=} and {record_every=}"
        )
    num_steps, record_every = int(num_steps), int(record_every)
    if observe is None:
        observe = lambda ws: ws
    dtype = jnp.result_type(*weights0)
    sigma_xx = jnp.asarray(sigma_xx, dtype=dtype)
    sigma_yx = jnp.asarray(sigma_yx, dtype=dtype)
    lr = jnp.asarray(lr, dtype=dtype)

    def step(ws, _):
        gs = gradients(ws, sigma_xx, sigma_yx)
        return tuple((w - lr * g).astype(w.dtype) for w, g in zip(ws, gs, strict=True)), None

    def chunk(ws, _):
        ws, _ = lax.scan(step, ws, None, length=record_every)
        return ws, observe(ws)

    first = observe(weights0)
    weights, later = lax.scan(chunk, weights0, None, length=num_steps // record_every)
    records = jax.tree_util.tree_map(
        lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b], axis=0), first, later
    )
    return weights, records
