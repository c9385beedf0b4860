r"""Read-outs, output nonlinearities, the Poisson loss and the penalties of Cadena et al. (2019).

Everything here is a pure JAX function of arrays (jit-, grad- and vmap-friendly).

Shapes: a batch of feature maps is ``phi: (B, h, w, k)``; a dense read-out holds
``w: (h, w, k, N)`` and ``b: (N,)`` for ``N`` neurons; a factorised read-out ``u: (h, w, N)``
(spatial masks) and ``v: (k, N)`` (feature weights). Predictions and responses are ``(B, N)``.

Read-outs (Eq. 5 and Eq. 11):

.. math:: \hat r_n = f\Big(\sum_{ijk} w^n_{ijk} \Phi_{ijk}(x) + b_n\Big), \qquad
          w^n_{ijk} = u^n_{ij} v^n_k \ \text{(factorised)}

Output nonlinearities: the shifted ELU ``g(x) = ELU(x - 1) + 1`` (Eq. 13), used by every model
but the data-driven CNN, which learns ``f(x) = h(x) g(x)`` (Eq. 12) with
``h(x) = sum_i alpha_i t_i(x)`` (Eq. 14), ``alpha_i = exp(a_i)``, on tent bases with knots
``-3, -2.82, ..., 6`` (Eq. 15; ``Delta x = 0.18``; 50 parameters: 49 tents centred on
``-2.82 ... 5.82`` and a ramp from 5.82 to 6 that stays 1 above, so that ``h = 1`` on
``[-2.82, inf)`` at ``a = 0`` and ``h = 0`` below -3, as the authors' code).

Loss (Eq. 9): the Poisson negative log-likelihood up to constants, a masked mean over each
neuron's real trials, then a mean over neurons,

.. math:: L_{Pois} = \frac1N \sum_n \frac{\sum_t m_{tn} (\hat r_{tn} - y_{tn} \log(\hat r_{tn}
          + 10^{-9}))}{\sum_t m_{tn}}

Penalties on a dense read-out, averaged over neurons (Eqs. 6-8):

.. math:: L_{sparse} = \frac1N\sum_n \sum_{ijk} |w^n_{ijk}|, \quad
          L_{Laplace} = \frac1N\sum_n\sum_k \sum_{ij} \big((W^n_{::k} \star \Lambda)_{ij}\big)^2,
          \quad L_{group} = \frac1N\sum_n \sum_k \sqrt{\textstyle\sum_{ij} (w^n_{ijk})^2}

with ``Lambda = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]`` (`LAPLACE`) and SAME zero padding. The
LNP (Eq. 17) uses the 8-neighbour kernel `LAPLACE_8` ``[[.25, .5, .25], [.5, -3, .5],
[.25, .5, .25]]``. The data-driven CNN penalises its first-layer kernels by the
filter-normalised Laplacian (`normalised_laplace_penalty`), its other kernels by group sparsity
over input-output channel pairs (`kernel_group_penalty`), its factorised read-out by
``sum_n (sum_ij |u|)(sum_k |v|)`` (`factorised_l1_penalty`, Klindt et al. 2017) and its output
nonlinearity by the squared first and second differences of ``a`` (Eq. 16, `tent_smoothness`).

References:
    Cadena et al. (2019), "Deep convolutional models improve predictions of macaque V1 responses
    to natural images", PLoS Comput Biol, Eqs. 5-16; Klindt, Ecker, Euler & Bethge (2017),
    "Neural system identification for large populations separating what and where".
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "BN_EPS",
    "LAPLACE",
    "LAPLACE_8",
    "NUM_TENTS",
    "TENT_KNOTS",
    "dense_readout",
    "factorised_l1_penalty",
    "factorised_readout",
    "feature_batchnorm",
    "group_sparsity_penalty",
    "kernel_group_penalty",
    "l1_penalty",
    "laplace_penalty",
    "learned_output",
    "normalised_laplace_penalty",
    "poisson_loss",
    "poisson_loss_per_neuron",
    "shifted_elu",
    "tent_basis",
    "tent_nonlinearity",
    "tent_smoothness",
]

#: The 4-neighbour Laplacian of the VGG read-out smoothness penalty (Eq. 7).
LAPLACE = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]], np.float32)
#: The 8-neighbour Laplacian of the LNP and the CNN's first layer.
LAPLACE_8 = np.array([[0.25, 0.5, 0.25], [0.5, -3.0, 0.5], [0.25, 0.5, 0.25]], np.float32)
#: Knots of the tent basis, -3, -2.82, ..., 6 (Eq. 15).
TENT_KNOTS = np.linspace(-3.0, 6.0, 51)
#: Number of tent parameters per neuron.
NUM_TENTS = 50
#: BatchNorm epsilon of the VGG read-out (the authors' 1e-4).
BN_EPS = 1e-4


@jax.jit
def shifted_elu(x: jax.Array) -> jax.Array:
    """``g(x) = ELU(x - 1) + 1`` (Eq. 13): ``x`` for ``x >= 1``, ``exp(x - 1)`` below; > 0.

    Computed as ``exp(x - 1)`` rather than ``expm1(x - 1) + 1``, which cancels to 0 in float32
    for ``x < -16`` (and then gave NaN gradients through ``log`` in compiled code).
    """
    return jnp.where(x >= 1.0, x, jnp.exp(jnp.minimum(x, 1.0) - 1.0))


@jax.jit
def tent_basis(x: jax.Array) -> jax.Array:
    """The 50 basis functions ``t_i(x)`` of the learned nonlinearity, shape ``x.shape + (50,)``.

    Tents of half-width 0.18 centred on ``-2.82, ..., 5.82`` and a final ramp from 5.82 to 6
    that stays at 1 beyond (Eq. 15).
    """
    knots = jnp.asarray(TENT_KNOTS, x.dtype)
    delta = knots[1] - knots[0]
    centres = knots[1:-1].reshape((1,) * x.ndim + (-1,))  # -2.82 ... 5.82 (49 tents)
    xe = x[..., None]
    tents = jnp.maximum(0.0, 1.0 - jnp.abs(xe - centres) / delta)
    ramp = jnp.clip((x - knots[-2]) / delta, 0.0, 1.0)[..., None]
    return jnp.concatenate([tents, ramp], axis=-1)


@jax.jit
def tent_nonlinearity(x: jax.Array, log_alpha: jax.Array) -> jax.Array:
    """``h(x) = sum_i exp(a_i) t_i(x)`` (Eq. 14).

    Args:
        x: ``(B, N)`` read-out outputs.
        log_alpha: ``(50, N)`` the parameters ``a`` (0 at initialisation: ``h = 1`` above -2.82).

    Returns:
        ``(B, N)``, non-negative.
    """
    return jnp.einsum("bni,in->bn", tent_basis(x), jnp.exp(log_alpha))


@jax.jit
def learned_output(x: jax.Array, log_alpha: jax.Array) -> jax.Array:
    """The data-driven CNN's output nonlinearity ``f(x) = h(x) g(x)`` (Eq. 12), ``(B, N)``."""
    return tent_nonlinearity(x, log_alpha) * shifted_elu(x)


@jax.jit
def tent_smoothness(log_alpha: jax.Array) -> jax.Array:
    """Eq. 16: ``sum_n [mean_i (Delta a)^2 + mean_i (Delta^2 a)^2]`` over the 50 parameters.

    Penalises the first and second finite differences of ``a = log alpha`` along the knots (as
    the authors' code), pulling ``h`` towards a smooth curve.
    """
    d1 = jnp.diff(log_alpha, axis=0)
    d2 = jnp.diff(d1, axis=0)
    return jnp.sum(jnp.mean(d1**2, axis=0) + jnp.mean(d2**2, axis=0))


@functools.partial(jax.jit, static_argnames=("eps",))
def feature_batchnorm(
    phi: jax.Array,
    mean: jax.Array,
    var: jax.Array,
    scale: jax.Array,
    bias: jax.Array,
    eps: float = BN_EPS,
) -> jax.Array:
    """BatchNorm of frozen feature maps followed by ReLU: ``relu((phi - mean) / sqrt(var + eps)
    * scale + bias)``, with per-channel ``(k,)`` statistics and learned ``scale``/``bias``
    shared by all neurons."""
    shape = (1,) * (phi.ndim - 1) + (-1,)
    z = (phi - mean.reshape(shape)) * jax.lax.rsqrt(var.reshape(shape) + eps)
    return jax.nn.relu(z * scale.reshape(shape) + bias.reshape(shape))


@jax.jit
def dense_readout(phi: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """``sum_ijk w_ijkn phi_bijk + b_n``: ``(B, h, w, k) x (h, w, k, N) -> (B, N)``."""
    return jnp.tensordot(phi, w, axes=((1, 2, 3), (0, 1, 2))) + b[None, :]


@jax.jit
def factorised_readout(phi: jax.Array, u: jax.Array, v: jax.Array, b: jax.Array) -> jax.Array:
    """``sum_ijk u_ijn v_kn phi_bijk + b_n`` (Eq. 11): ``u (h, w, N)``, ``v (k, N)`` -> ``(B, N)``."""
    spatial = jnp.einsum("bhwk,hwn->bkn", phi, u)
    return jnp.einsum("bkn,kn->bn", spatial, v) + b[None, :]


@jax.jit
def poisson_loss_per_neuron(pred: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Masked Poisson negative log-likelihood (up to constants) per neuron, ``(N,)``.

    ``sum_t m (pred - y log(pred + 1e-9)) / sum_t m``; a neuron with no real trial gives 0.

    Args:
        pred: ``(T, N)`` predicted rates (> 0).
        y: ``(T, N)`` counts (0 where missing).
        mask: ``(T, N)`` 1 for a real trial, 0 for a missing one.
    """
    nll = mask * (pred - y * jnp.log(pred + 1e-9))
    count = jnp.sum(mask, axis=0)
    return jnp.sum(nll, axis=0) / jnp.maximum(count, 1.0)


@jax.jit
def poisson_loss(pred: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Eq. 9's data term: `poisson_loss_per_neuron` averaged over neurons (a scalar)."""
    return jnp.mean(poisson_loss_per_neuron(pred, y, mask))


@jax.jit
def l1_penalty(w: jax.Array) -> jax.Array:
    """Eq. 6: ``mean_n sum |w|`` over every axis but the last (neurons)."""
    return jnp.mean(jnp.sum(jnp.abs(w).reshape(-1, w.shape[-1]), axis=0))


def _depthwise_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """3x3 cross-correlation of every ``(h, w)`` map of ``x: (h, w, ...)`` with SAME zeros."""
    h, wd = x.shape[:2]
    flat = x.reshape(h, wd, -1)
    padded = jnp.pad(flat, ((1, 1), (1, 1), (0, 0)))
    out = jnp.zeros_like(flat)
    for i in range(3):
        for j in range(3):
            out = out + kernel[i, j] * padded[i : i + h, j : j + wd]
    return out.reshape(x.shape)


@jax.jit
def laplace_penalty(w: jax.Array, kernel=LAPLACE) -> jax.Array:
    """Eq. 7: ``mean_n sum_k sum_ij ((W^n_{::k} * Lambda)_ij)^2`` with SAME zero padding.

    Args:
        w: ``(h, w, k, N)`` (or ``(h, w, N)`` for a one-channel read-out such as the LNP).
        kernel: ``(3, 3)``, `LAPLACE` (VGG) or `LAPLACE_8` (LNP).
    """
    lap = _depthwise_same(w, jnp.asarray(kernel, w.dtype))
    return jnp.mean(jnp.sum((lap**2).reshape(-1, w.shape[-1]), axis=0))


def _safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` with a zero (not NaN) gradient at ``x = 0`` (the double-where trick)."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


@jax.jit
def group_sparsity_penalty(w: jax.Array) -> jax.Array:
    """Eq. 8: ``mean_n sum_k sqrt(sum_ij (w^n_ijk)^2)`` for ``w: (h, w, k, N)``."""
    return jnp.mean(jnp.sum(_safe_sqrt(jnp.sum(w**2, axis=(0, 1))), axis=0))


@jax.jit
def normalised_laplace_penalty(kernel: jax.Array, lap=LAPLACE_8) -> jax.Array:
    """CNN first-layer smoothness: ``sum_{c_in, c_out} ||W * Lambda'||^2 / ||W||^2``.

    Args:
        kernel: ``(kh, kw, c_in, c_out)`` conv kernels.
        lap: the ``(3, 3)`` Laplacian (`LAPLACE_8`), SAME zero padding.
    """
    filt = _depthwise_same(kernel, jnp.asarray(lap, kernel.dtype))
    num = jnp.sum(filt**2, axis=(0, 1))
    den = jnp.sum(kernel**2, axis=(0, 1))
    ok = den > 0
    return jnp.sum(jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0))


@jax.jit
def kernel_group_penalty(kernel: jax.Array) -> jax.Array:
    """CNN deeper-layer group sparsity: ``sum_{c_in, c_out} sqrt(sum_ij W_ij^2)``."""
    return jnp.sum(_safe_sqrt(jnp.sum(kernel**2, axis=(0, 1))))


@jax.jit
def factorised_l1_penalty(u: jax.Array, v: jax.Array) -> jax.Array:
    """``sum_n (sum_ij |u^n_ij|)(sum_k |v^n_k|)`` for ``u: (h, w, N)``, ``v: (k, N)``."""
    return jnp.sum(jnp.sum(jnp.abs(u), axis=(0, 1)) * jnp.sum(jnp.abs(v), axis=0))
