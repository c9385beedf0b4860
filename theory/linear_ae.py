r"""Linear autoencoder on natural-image patches (paper Fig. 5, SI Fig. 2).

The paper: Benjamin, Zhang, Qiu, Stocker & Kording (2022), *Efficient neural codes naturally
emerge through gradient descent learning*.

A depth-N fully connected linear network ``y = W_N ... W_1 x`` (no biases, every width
``n = patch_size^2``, so there is no bottleneck) is trained to reconstruct centred greyscale
patches with the mean-squared error ``mean over patches and outputs of (x - W x)^2`` (PyTorch's
``MSELoss``). During training we record, every ``record_every`` steps:

* the PC projections ``pi_i = u_i^T W u_i`` for every PCA vector ``u_i`` of the patches;
* the alignment diagnostic: the off-diagonal fraction ``||offdiag(U^T W U)||_F / ||U^T W U||_F``;
* the spatial-frequency sensitivity ``D(f) = mean_phi ||W dx/df||^2`` of the plane wave
  :func:`theory.stimuli.sinusoid` (forward mode, :mod:`theory.sensitivity`), the threshold
  ``T(f) = 1/sqrt(D(f))`` and the acuity ``max{f : T(f) < cutoff}``.

Training (``LinearAEConfig.batch_size``):

* ``None`` (**default**): full-batch gradient descent on the patch covariance with
  :func:`theory.deep_linear.gradient_descent`. The mean-MSE gradient over all patches is
  ``-(2/n)(I - W) S_xx`` (times the chain factors), i.e. the gradient of
  ``(2/n) L(S_xx, S_yx = S_xx)`` in that module's convention, so it runs with ``lr_dl = 2 lr / n``.
  This is the exact full-data gradient, which the paper's batch of 16 384 approximates ("the
  large batch size minimizes effects relating to batch stochasticity"); it is deterministic and
  its cost per step (``n^3``) does not grow with the number of patches.
* an integer: minibatch SGD on the patches as in the paper (``optax.sgd``, batches drawn with
  replacement from the fixed patch set with an explicit key).

Time: one step of either is ``lr / n`` units of the gradient flow of ``E||x - W x||^2`` in which
:mod:`theory.sv_dynamics` is written (``times = steps * lr / n``); for depth 1 and aligned modes
``pi_i(t) = 1 - (1 - pi_i(0)) exp(-2 lam_i t)``.

Sizes (:meth:`LinearAEConfig.reduced` and :meth:`LinearAEConfig.full`):

* reduced, the default of ``vpl-jax theory svd`` (a few minutes on 2 CPU cores): 16x16 patches
  (n = 256), 50 000 patches, lr 2, 4 000 steps, records every 50 steps, and an initial scale of
  ``0.01 ** (1/N)`` times the PyTorch default per layer, so that the *end-to-end* initial scale is
  about the same for every depth (with 0.01 per layer, a depth-4 network would need ~10^4 times
  more steps than depth 1, see :func:`theory.sv_dynamics.half_time_small_init`);
* full, the paper: 32x32 patches (n = 1024), 100 000 patches, PyTorch-default init x 0.01 per
  layer, lr 1, batch 16 384 recorded in the config (the default trainer still uses the exact
  full-batch gradient), 5 000 steps.

Conventions: patches are ``(P, n)`` rows in row-major pixel order (``patch.reshape(-1)``); weights
are input-first tuples as in :mod:`theory.deep_linear`; keys come first. Plotting and file output
live in :mod:`theory.report_svd`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from theory import deep_linear, sensitivity, stimuli
from theory.checks import InputError

__all__ = [
    "LinearAEConfig",
    "LinearAEResult",
    "crossing_times",
    "frequency_sensitivity",
    "init_weights",
    "linear_fit",
    "loglog_fit",
    "observables",
    "patch_statistics",
    "pca",
    "power_law_exponent",
    "threshold_slope",
    "train",
]


@dataclasses.dataclass(frozen=True)
class LinearAEConfig:
    """Static configuration of the linear-autoencoder experiment (validated on construction).

    Attributes:
        patch_size: patch side in pixels (n = patch_size^2 inputs), >= 2.
        depth: number of weight matrices N >= 1.
        hidden_width: width of the hidden layers; ``None`` means ``n`` (no bottleneck).
        init_scale: multiplier of the PyTorch-default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
            init of every layer, > 0 (paper: 0.01).
        lr: learning rate of the mean-MSE loss, > 0 (paper: 1.0).
        num_steps: training steps, >= 1, a multiple of ``record_every``.
        record_every: steps between records, >= 1.
        batch_size: ``None`` for full-batch GD on the covariance (default); an integer >= 1 for
            minibatch SGD on the patches (paper: 16 384).
        num_patches: patches sampled from the photos, >= 2 (paper: > 100 000).
        center: subtract the mean patch before PCA and training (recommended, so that the
            PCA basis is the eigenbasis of the second moments the network sees).
        num_freqs: frequencies ``f_k = k (patch_size / 2) / num_freqs``, ``k = 1..num_freqs``
            (up to Nyquist), >= 2.
        num_phases: phases averaged in ``D(f)``, >= 1 (paper: 64).
        window: sinusoid window, ``None``, ``"hann"`` or ``"radial"``.
        orientation_deg: sinusoid orientation in degrees (0 = vertical stripes).
        amplitude: sinusoid amplitude in data units (pixel values in [0, 1]), > 0.
        acuity_cutoff: threshold criterion of the acuity, > 0 (paper: 0.1).
    """

    patch_size: int = 16
    depth: int = 1
    hidden_width: int | None = None
    init_scale: float = 0.01
    lr: float = 2.0
    num_steps: int = 4000
    record_every: int = 50
    batch_size: int | None = None
    num_patches: int = 50_000
    center: bool = True
    num_freqs: int = 32
    num_phases: int = 64
    window: str | None = None
    orientation_deg: float = 0.0
    amplitude: float = 1.0
    acuity_cutoff: float = 0.1

    def __post_init__(self):
        def _int(name, lo):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InputError(f"{name} must be an integer >= {lo}, got {name}={v!r}")

        for name, lo in (
            ("patch_size", 2),
            ("depth", 1),
            ("num_steps", 1),
            ("record_every", 1),
            ("num_patches", 2),
            ("num_freqs", 2),
            ("num_phases", 1),
        ):
            _int(name, lo)
        if self.hidden_width is not None:
            _int("hidden_width", 1)
        if self.batch_size is not None:
            _int("batch_size", 1)
        if self.num_steps % self.record_every != 0:
            raise InputError(
                f"record_every must divide num_steps, got num_steps={self.num_steps} and "
                f"record_every={self.record_every}"
            )
        for name in ("init_scale", "lr", "amplitude", "acuity_cutoff"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise InputError(f"{name} must be a finite number > 0, got {name}={v!r}")
        if self.window not in stimuli.SINUSOID_WINDOWS:
            raise InputError(
                f"window must be one of {stimuli.SINUSOID_WINDOWS}, got {self.window!r}"
            )

    @property
    def n_inputs(self) -> int:
        """Number of pixels ``n = patch_size^2``."""
        return self.patch_size**2

    @property
    def time_per_step(self) -> float:
        """Gradient-flow time of ``E||x - W x||^2`` per step: ``lr / n``."""
        return self.lr / self.n_inputs

    def frequencies(self, dtype=None) -> Float[Array, " F"]:
        """The frequency grid ``k (patch_size/2) / num_freqs``, ``k = 1..num_freqs`` (cycles/image)."""
        dtype = jnp.result_type(float) if dtype is None else dtype
        k = jnp.arange(1, self.num_freqs + 1, dtype=dtype)
        return k * (self.patch_size / 2.0) / self.num_freqs

    @classmethod
    def reduced(cls, depth: int = 1, **overrides) -> LinearAEConfig:
        """The documented CPU size (minutes on 2 cores); see the module docstring."""
        kw = dict(depth=depth, init_scale=0.01 ** (1.0 / depth))
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def full(cls, depth: int = 1, **overrides) -> LinearAEConfig:
        """The paper's size: 32x32, width 1024, init x 0.01, lr 1, batch 16 384, 100k patches.

        ``batch_size`` is set to ``None`` (exact full-batch gradient, the default trainer);
        pass ``batch_size=16384`` for the paper's minibatch SGD.
        """
        kw = dict(
            patch_size=32,
            depth=depth,
            init_scale=0.01,
            lr=1.0,
            num_steps=5000,
            record_every=50,
            batch_size=None,
            num_patches=100_000,
        )
        kw.update(overrides)
        return cls(**kw)


class LinearAEResult(NamedTuple):
    """Records of one training run (leading axis R = num_steps / record_every + 1).

    Attributes:
        steps: step of each record, ``(R,)``.
        times: gradient-flow time ``steps * lr / n``, ``(R,)``.
        pc_projection: ``u_i^T W u_i`` for every PC (variance order), ``(R, n)``.
        offdiag_fraction: ``||offdiag(U^T W U)||_F / ||U^T W U||_F``, ``(R,)``.
        sensitivity: ``D(f)``, ``(R, F)``.
        threshold: ``T(f) = 1/sqrt(D(f))``, ``(R, F)``.
        acuity: ``max{f : T(f) < cutoff}``, ``(R,)``.
        freqs: the frequency grid, ``(F,)``.
        eigvals: PCA variances, descending, ``(n,)``.
        weights: the final weights (input-first tuple).
    """

    steps: Array
    times: Array
    pc_projection: Array
    offdiag_fraction: Array
    sensitivity: Array
    threshold: Array
    acuity: Array
    freqs: Array
    eigvals: Array
    weights: tuple[Array, ...]


# ----------------------------------------------------------------------------- data statistics


def patch_statistics(
    patches: Float[ArrayLike, "P ..."], *, center: bool = True, chunk_size: int = 8192
) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
    """Mean patch and second-moment matrix ``S_xx = mean_p (x_p - m)(x_p - m)^T``.

    Accumulated in chunks so that large patch sets need no second full copy. With
    ``center=False`` the mean is still returned but ``S_xx`` is the uncentred ``mean_p x x^T``.

    Args:
        patches: ``(P, n)`` or ``(P, h, w)`` patches (flattened row-major), ``P >= 2``.
        center: subtract the mean patch.
        chunk_size: rows per accumulation chunk, >= 1.

    Returns:
        ``(mean, sigma_xx)`` of shapes ``(n,)`` and ``(n, n)`` (dtype of ``patches``).

    Raises:
        InputError: if there are fewer than 2 patches or ``chunk_size < 1``.
    """
    x = jnp.asarray(patches)
    if x.ndim < 2 or x.shape[0] < 2:
        raise InputError(f"patches must have shape (P, ...) with P >= 2, got {x.shape}")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size=}")
    x = x.reshape(x.shape[0], -1)
    x = x.astype(jnp.result_type(x, float))
    num = x.shape[0]
    mean = jnp.mean(x, axis=0)
    shift = mean if center else jnp.zeros_like(mean)
    acc = jnp.zeros((x.shape[1], x.shape[1]), x.dtype)
    for start in range(0, num, chunk_size):
        c = x[start : start + chunk_size] - shift[None, :]
        acc = acc + c.T @ c
    return mean, acc / num


def pca(sigma_xx: Float[ArrayLike, "n n"]) -> tuple[Float[Array, " n"], Float[Array, "n n"]]:
    """Eigen-decomposition of a covariance, sorted by decreasing variance.

    Args:
        sigma_xx: symmetric PSD matrix ``(n, n)``.

    Returns:
        ``(eigvals, basis)``: variances ``(n,)`` in decreasing order and the PCA vectors as
        the *columns* of ``basis`` ``(n, n)``, each with a non-negative largest component
        (a deterministic sign).

    Raises:
        InputError: if ``sigma_xx`` is not square.
    """
    s = jnp.asarray(sigma_xx)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise InputError(f"sigma_xx must be a square matrix, got shape {s.shape}")
    vals, vecs = jnp.linalg.eigh(0.5 * (s + s.T))
    vals, vecs = vals[::-1], vecs[:, ::-1]
    pivot = jnp.take_along_axis(vecs, jnp.argmax(jnp.abs(vecs), axis=0)[None, :], axis=0)
    return vals, vecs * jnp.where(pivot < 0, -1.0, 1.0)


def loglog_fit(x: Float[ArrayLike, " K"], y: Float[ArrayLike, " K"]) -> tuple[float, float, float]:
    """Least-squares line through ``(log x, log y)``: ``(slope, intercept, R^2)``.

    Host-side (NumPy) analysis; non-finite or non-positive points are dropped.

    Raises:
        InputError: if fewer than 3 usable points remain.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 3:
        raise InputError(f"need >= 3 positive finite points for a log-log fit, got {int(ok.sum())}")
    return linear_fit(np.log(x[ok]), np.log(y[ok]))


def linear_fit(x: Float[ArrayLike, " K"], y: Float[ArrayLike, " K"]) -> tuple[float, float, float]:
    """Least-squares line ``y = slope x + intercept``: ``(slope, intercept, R^2)`` (NumPy).

    Raises:
        InputError: if fewer than 3 finite points are given.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        raise InputError(f"need >= 3 finite points for a linear fit, got {int(ok.sum())}")
    x, y = x[ok], y[ok]
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(resid**2) / ss_tot if ss_tot > 0 else 1.0
    return float(slope), float(intercept), float(r2)


def power_law_exponent(
    eigvals: Float[ArrayLike, " n"], *, k_min: int = 2, k_max: int | None = None
) -> tuple[float, float]:
    """Exponent ``gamma`` of ``lambda_k ~ k^-gamma`` fitted on ranks ``k_min..k_max`` (1-based).

    Natural images with a ``1/f^2`` power spectrum give ``gamma ~ 1``. The default
    range skips the first (mean-luminance) component and stops at ``n / 4``, before the
    pixel-grid corner of the spectrum.

    Args:
        eigvals: variances in decreasing order, ``(n,)``.
        k_min: first rank of the fit, >= 1.
        k_max: last rank (inclusive); default ``n // 4``.

    Returns:
        ``(gamma, r2)``.

    Raises:
        InputError: for a range with fewer than 3 ranks.
    """
    ev = np.asarray(eigvals, np.float64)
    k_max = ev.shape[0] // 4 if k_max is None else k_max
    if not 1 <= k_min < k_max <= ev.shape[0] or k_max - k_min < 2:
        raise InputError(
            f"k_min and k_max must satisfy 1 <= k_min, k_min + 2 <= k_max <= n = {ev.shape[0]}, "
            f"got {k_min=}, {k_max=}"
        )
    k = np.arange(1, ev.shape[0] + 1)
    slope, _, r2 = loglog_fit(k[k_min - 1 : k_max], ev[k_min - 1 : k_max])
    return -slope, r2


# ----------------------------------------------------------------------------- network


def init_weights(key: PRNGKeyArray, config: LinearAEConfig, dtype=None) -> tuple[Array, ...]:
    """PyTorch-default ``nn.Linear`` init scaled by ``config.init_scale`` (input-first tuple).

    Each layer with fan-in ``m`` is ``init_scale * U(-1/sqrt(m), 1/sqrt(m))``; no biases.

    Args:
        key: PRNG key (split into one subkey per layer).
        config: the experiment configuration.
        dtype: float dtype (default JAX's default float).

    Returns:
        ``depth`` matrices, ``weights[0]`` of shape ``(h, n)``, ..., ``weights[-1]`` ``(n, h)``.
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    n = config.n_inputs
    h = n if config.hidden_width is None else config.hidden_width
    dims = [n] + [h] * (config.depth - 1) + [n]
    keys = jax.random.split(key, config.depth)
    out = []
    for k, fan_in, fan_out in zip(keys, dims[:-1], dims[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        w = jax.random.uniform(k, (fan_out, fan_in), dtype, -bound, bound)
        out.append(config.init_scale * w)
    return tuple(out)


@functools.partial(jax.jit, static_argnames=("config",))
def frequency_sensitivity(
    weight: Float[ArrayLike, "m n"], freqs: Float[ArrayLike, " F"], config: LinearAEConfig
) -> Float[Array, " F"]:
    """``D(f) = mean_phi ||W dx(f, phi)/df||^2`` by forward mode through the sinusoid generator.

    Args:
        weight: end-to-end matrix ``W`` of shape ``(m, n)``, ``n = patch_size^2``.
        freqs: frequencies, cycles per image, ``(F,)``.
        config: supplies the sinusoid (size, window, orientation, amplitude) and ``num_phases``.

    Returns:
        ``D(f)``, shape ``(F,)``. Jitted, with ``config`` static.

    Raises:
        InputError: if ``weight`` does not have ``n`` columns.
    """
    w = jnp.asarray(weight)
    if w.ndim != 2 or w.shape[1] != config.n_inputs:
        raise InputError(f"weight must have shape (m, {config.n_inputs}), got {w.shape}")
    dtype = w.dtype
    phases = sensitivity.equally_spaced_phases(config.num_phases, dtype)

    def response(f, phi):
        x = stimuli.sinusoid(
            f,
            phi,
            size=config.patch_size,
            orientation_deg=jnp.asarray(config.orientation_deg, dtype),
            amplitude=jnp.asarray(config.amplitude, dtype),
            window=config.window,
        )
        return w @ x.reshape(-1)

    return sensitivity.sensitivity_curve(response, jnp.asarray(freqs, dtype), phases)


def observables(
    weights: tuple[Array, ...],
    basis: Float[ArrayLike, "n n"],
    freqs: Float[ArrayLike, " F"],
    config: LinearAEConfig,
) -> dict[str, Array]:
    """Everything recorded during training, as a dict of arrays (pure, jittable).

    Args:
        weights: input-first weight tuple.
        basis: PCA vectors as columns, ``(n, n)``, variance order.
        freqs: frequency grid ``(F,)``.
        config: the experiment configuration.

    Returns:
        ``{"pc_projection": (n,), "offdiag_fraction": (), "sensitivity": (F,),
        "threshold": (F,), "acuity": ()}``.
    """
    w = deep_linear.product(tuple(weights))
    u = jnp.asarray(basis, w.dtype)
    m = u.T @ w @ u
    diag = jnp.diagonal(m)
    off = m - jnp.diag(diag)
    total = jnp.sqrt(jnp.sum(m**2))
    offdiag = jnp.sqrt(jnp.sum(off**2)) / jnp.where(total > 0, total, 1.0)
    d = frequency_sensitivity(w, freqs, config)
    thr = sensitivity.threshold(d)
    return {
        "pc_projection": diag,
        "offdiag_fraction": offdiag,
        "sensitivity": d,
        "threshold": thr,
        "acuity": sensitivity.acuity(jnp.asarray(freqs, w.dtype), thr, cutoff=config.acuity_cutoff),
    }


@functools.partial(jax.jit, static_argnames=("config",))
def _train_full_batch(weights0, sxx, basis, freqs, *, config):
    """Full-batch GD on the covariance via ``deep_linear.gradient_descent`` (jitted per config)."""
    # mean-MSE over n outputs = (2/n) * deep_linear's L with S_yx = S_xx
    return deep_linear.gradient_descent(
        weights0,
        sxx,
        sxx,
        lr=2.0 * config.lr / config.n_inputs,
        num_steps=config.num_steps,
        record_every=config.record_every,
        observe=lambda ws: observables(ws, basis, freqs, config),
    )


@functools.partial(jax.jit, static_argnames=("config",))
def _train_minibatch(key, weights0, patches, basis, freqs, *, config):
    """Minibatch SGD (optax.sgd) on the mean-MSE loss; records like ``gradient_descent``."""
    num = patches.shape[0]
    opt = optax.sgd(config.lr)
    observe = lambda ws: observables(ws, basis, freqs, config)

    def loss(ws, batch):
        recon = batch @ deep_linear.product(ws).T
        return jnp.mean((batch - recon) ** 2)

    def step(carry, k):
        ws, opt_state = carry
        idx = jax.random.randint(k, (config.batch_size,), 0, num)
        grads = jax.grad(loss)(ws, patches[idx])
        updates, opt_state = opt.update(grads, opt_state, ws)
        return (optax.apply_updates(ws, updates), opt_state), None

    def chunk(carry, ks):
        carry, _ = lax.scan(step, carry, ks)
        return carry, observe(carry[0])

    num_records = config.num_steps // config.record_every
    keys = jax.random.split(key, config.num_steps).reshape(num_records, config.record_every)
    (weights, _), later = lax.scan(chunk, (weights0, opt.init(weights0)), keys)
    first = observe(weights0)
    records = jax.tree_util.tree_map(
        lambda a, b: jnp.concatenate([a[None], b], axis=0), first, later
    )
    return weights, records


def train(
    key: PRNGKeyArray,
    config: LinearAEConfig,
    sigma_xx: Float[ArrayLike, "n n"],
    *,
    patches: Float[ArrayLike, "P n"] | None = None,
    weights0: tuple[Array, ...] | None = None,
    dtype=None,
) -> LinearAEResult:
    """Train one linear autoencoder and record the observables every ``record_every`` steps.

    The compiled program is cached per (config, shapes), so training in chunks (passing the
    previous ``weights`` as ``weights0``, e.g. for a progress bar) compiles once.

    Args:
        key: PRNG key, split into ``init_key`` (weights) and ``batch_key`` (minibatches).
        config: the experiment configuration (static).
        sigma_xx: (centred) second moments of the patches, ``(n, n)``; its PCA basis defines
            the projections.
        patches: ``(P, n)`` patches, already centred like ``sigma_xx``; required only for
            minibatch SGD (``config.batch_size`` set).
        weights0: initial weights (input-first tuple); default :func:`init_weights` with
            ``init_key``. Steps and times of the result count from 0 either way.
        dtype: float dtype of the weights (default JAX's default float).

    Returns:
        A :class:`LinearAEResult`.

    Raises:
        InputError: if ``sigma_xx`` has the wrong shape, or minibatch SGD is requested without
            ``patches`` of shape ``(P, n)``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> cfg = LinearAEConfig(patch_size=2, num_steps=2, record_every=1, num_freqs=2,
        ...                      num_phases=4, num_patches=2)
        >>> res = train(jax.random.key(0), cfg, jnp.diag(jnp.array([4.0, 3.0, 2.0, 1.0])))
        >>> res.pc_projection.shape, res.times.tolist()
        ((3, 4), [0.0, 0.5, 1.0])
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    n = config.n_inputs
    sxx = jnp.asarray(sigma_xx, dtype)
    if sxx.shape != (n, n):
        raise InputError(f"sigma_xx must have shape (n, n) = {(n, n)}, got {sxx.shape}")
    if config.batch_size is not None:
        if patches is None or jnp.ndim(patches) != 2 or jnp.shape(patches)[1] != n:
            raise InputError(
                f"patches of shape (P, {n}) are required for minibatch SGD (batch_size set), "
                f"got {None if patches is None else jnp.shape(patches)}"
            )
    init_key, batch_key = jax.random.split(key)
    eigvals, basis = pca(sxx)
    freqs = config.frequencies(dtype)
    if weights0 is None:
        weights0 = init_weights(init_key, config, dtype)
    weights0 = tuple(jnp.asarray(w, dtype) for w in weights0)
    if config.batch_size is None:
        weights, rec = _train_full_batch(weights0, sxx, basis, freqs, config=config)
    else:
        weights, rec = _train_minibatch(
            batch_key, weights0, jnp.asarray(patches, dtype), basis, freqs, config=config
        )
    steps = jnp.arange(config.num_steps // config.record_every + 1) * config.record_every
    return LinearAEResult(
        steps=steps,
        times=steps * config.time_per_step,
        pc_projection=rec["pc_projection"],
        offdiag_fraction=rec["offdiag_fraction"],
        sensitivity=rec["sensitivity"],
        threshold=rec["threshold"],
        acuity=rec["acuity"],
        freqs=freqs,
        eigvals=eigvals,
        weights=weights,
    )


# ----------------------------------------------------------------------------- analysis


def crossing_times(
    times: Float[ArrayLike, " R"], curves: Float[ArrayLike, "R K"], level: float
) -> Float[np.ndarray, " K"]:
    """First time each curve reaches ``level`` (linear interpolation between records).

    Host-side (NumPy). Curves that start at or above ``level`` give ``times[0]``; curves that
    never reach it give NaN.

    Args:
        times: record times, increasing, ``(R,)``.
        curves: values per record, ``(R, K)``.
        level: the level to reach.

    Returns:
        Crossing times ``(K,)``.
    """
    t = np.asarray(times, np.float64)
    c = np.asarray(curves, np.float64)
    above = c >= level
    reached = above.any(axis=0)
    first = np.argmax(above, axis=0)
    prev = np.maximum(first - 1, 0)
    cols = np.arange(c.shape[1])
    c1, c0 = c[first, cols], c[prev, cols]
    t1, t0 = t[first], t[prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(c1 > c0, (level - c0) / (c1 - c0), 1.0)
    out = np.where(first == 0, t[0], t0 + frac * (t1 - t0))
    return np.where(reached, out, np.nan)


def threshold_slope(
    freqs: Float[ArrayLike, " F"], thresholds: Float[ArrayLike, " F"], *, rise_factor: float = 2.0
) -> tuple[float, float, float]:
    """Log-log slope of ``T(f)`` above its elbow: ``(slope, elbow_freq, R^2)`` (NumPy).

    The elbow is the first frequency above the minimum of ``T`` where ``T`` exceeds
    ``rise_factor`` times that minimum; the fit uses every finite point from there on. The paper
    describes the rise as linear (slope 1); a ``1/f^2`` spectrum alone predicts up to 2.

    Raises:
        InputError: if ``rise_factor <= 1`` or fewer than 3 points lie above the elbow.
    """
    if not rise_factor > 1:
        raise InputError(f"rise_factor must be > 1, got {rise_factor=}")
    f = np.asarray(freqs, np.float64)
    t = np.asarray(thresholds, np.float64)
    finite = np.isfinite(t)
    i_min = int(np.nanargmin(np.where(finite, t, np.nan)))
    rising = np.nonzero((np.arange(f.size) > i_min) & (t >= rise_factor * t[i_min]))[0]
    if rising.size == 0:
        raise InputError("T(f) never rises above rise_factor times its minimum")
    i0 = int(rising[0])
    slope, _, r2 = loglog_fit(f[i0:][finite[i0:]], t[i0:][finite[i0:]])
    return slope, float(f[i0]), r2
