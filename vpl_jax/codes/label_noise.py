r"""The supervised label-noise experiment (Benjamin et al. 2022, Fig. 6), fully synthetic.

A 3-layer ReLU network ``4096 -> 512 -> 512 -> 60`` classifies the orientation of 64 x 64
gratings (period 12.8 px, random phase; :func:`vpl_jax.codes.stimuli.grating`) into 60 bins of
3 deg. Orientations are drawn from ``p(theta)``, uniform ``1/pi`` or ``(2 - cos 2 theta) /
(2 pi)`` on ``[0, pi)`` (3:1 between 90 and 0 deg). Labels are one-hot vectors whose single 1 is
kept with probability ``sigma(theta)`` and dropped (an all-zero label) otherwise, so a label
carries ``I(theta) = 1 - H_b(sigma(theta))`` bits. Conditions (:data:`CONDITIONS`):

* ``"6b"`` -- uniform ``p``; orientation-dependent noise with ``I(theta) = (2 - cos 2theta)/3``
  (the paper does not give its profile; this one makes 90 deg the most informative, 1 bit, and
  0 deg the least, 1/3 bit);
* ``"6c"`` -- non-uniform ``p``, no noise (``sigma = 1``);
* ``"6d"`` -- non-uniform ``p`` with the balancing noise ``sigma(theta) = H_b^{-1}(1 - a /
  p(theta))`` on the branch ``sigma >= 0.5``, ``a = 1/(2 pi)`` (= min p), so that ``p(theta)
  I(theta) = a`` for every orientation: the data set holds the same information about every
  label;
* ``"control"`` -- uniform ``p``, no noise: the planted null (no orientation is special).

Loss (:class:`LabelNoiseConfig`.loss): ``"sigmoid"`` (default) -- a sigmoid binary
cross-entropy per bin, averaged over bins and batch: "no interactions between neighbouring bins",
and an all-zero label is a negative example for every bin; ``"softmax"`` -- softmax
cross-entropy. With softmax an all-zero label contributes **no loss and no gradient**: a dropped
label simply removes the example, so the noise only thins the data, to an effective frequency
``p(theta) sigma(theta)`` (in ``"6d"`` still 2.5:1 in favour of 90 deg), instead of teaching the
network that the input carries no label.

Measure: the first layer's (post-ReLU) sensitivity ``D(h_1; theta)`` averaged over 16 phases,
on a grid of orientations, recorded over training; summary ratio (:func:`window_ratio`): mean
within +-15 deg of 90 deg over mean within +-15 deg of 0 deg.

Training: Adam (lr 1e-3), fresh samples every step (no image repeats), every condition and seed
trained at once (``jax.vmap`` over ``C x R`` networks; the dense layers run fine inside
``lax.scan``, so the steps between two recordings are one compiled scan). PRNG keys: the
training key is the first argument of :func:`train`; each network gets its own init and data
keys.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray
from tqdm.auto import tqdm

from theory import sensitivity as theory_sensitivity
from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.codes import sensitivity, stimuli

__all__ = [
    "CONDITIONS",
    "DEFAULT_A",
    "LabelNoiseConfig",
    "LabelNoiseResult",
    "binary_entropy",
    "condition_arrays",
    "density",
    "first_layer_sensitivity",
    "information",
    "init_mlp",
    "inverse_binary_entropy",
    "label_rate",
    "make_batch",
    "mlp",
    "sample_orientations",
    "summarise",
    "train",
    "window_ratio",
]

CONDITIONS = ("6b", "6c", "6d", "control")
DEFAULT_A = 1.0 / (2.0 * math.pi)
"""The balancing constant ``a = min p = 1/(2 pi)`` (per radian)."""

_TABLE = 1801  # sigma(theta) tabulated every 0.1 deg on [0, 180]


@dataclasses.dataclass(frozen=True)
class LabelNoiseConfig:
    """Static settings of the label-noise experiment (paper values where the paper gives them).

    Attributes:
        size: grating side, px (64).
        period: grating period, px (12.8).
        hidden: hidden layer widths (the paper does not give them; 512, 512).
        num_bins: orientation bins (60, Methods; the caption's "3 bins" is read as a typo).
        loss: ``"sigmoid"`` (per-bin BCE) or ``"softmax"`` (see the module docstring).
        batch: examples per step.
        num_steps: training steps.
        record_every: steps between sensitivity recordings (divides ``num_steps``).
        learning_rate: Adam learning rate.
        num_orientations: orientations of the sensitivity grid on ``[0, 180)``.
        num_phases: phases averaged in the sensitivity (16).
        a: the balancing constant of ``"6d"`` (``<= min p = 1/(2 pi)``).
    """

    size: int = stimuli.GRATING_SIZE
    period: float = stimuli.GRATING_PERIOD
    hidden: tuple[int, ...] = (512, 512)
    num_bins: int = 60
    loss: str = "sigmoid"
    batch: int = 32
    num_steps: int = 2000
    record_every: int = 200
    learning_rate: float = 1e-3
    num_orientations: int = 36
    num_phases: int = 16
    a: float = DEFAULT_A

    def __post_init__(self):
        for field in ("size", "num_bins", "batch", "num_steps", "record_every"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"LabelNoiseConfig.{field} must be an integer >= 1, got {value!r}")
        if self.num_steps % self.record_every:
            raise InputError(
                f"LabelNoiseConfig.record_every ({self.record_every}) must divide num_steps "
                f"({self.num_steps})"
            )
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise InputError(f"LabelNoiseConfig.hidden must be positive widths, got {self.hidden}")
        if self.loss not in ("sigmoid", "softmax"):
            raise InputError(
                f"LabelNoiseConfig.loss must be 'sigmoid' or 'softmax', got {self.loss!r}"
            )
        if not 0.0 < self.a <= DEFAULT_A + 1e-12:
            raise InputError(f"LabelNoiseConfig.a must lie in (0, 1/(2 pi)], got {self.a}")
        if not self.period > 0 or not self.learning_rate > 0:
            raise InputError("LabelNoiseConfig.period and learning_rate must be > 0")
        if self.num_orientations < 12 or self.num_phases < 1:
            raise InputError("LabelNoiseConfig.num_orientations must be >= 12, num_phases >= 1")


@jax.jit
def density(theta_deg: Float[ArrayLike, "..."], weight: Float[ArrayLike, ""] = 1.0) -> Array:
    """``p(theta) = (1 - w) / pi + w (2 - cos 2 theta) / (2 pi)``, per radian on ``[0, pi)``.

    ``w = 0`` is the uniform density, ``w = 1`` the paper's non-uniform one.

    Examples:
        >>> round(float(density(90.0) / density(0.0)), 6)
        3.0
    """
    theta = jnp.deg2rad(jnp.asarray(theta_deg, jnp.result_type(theta_deg, float)))
    return (1.0 - weight) / jnp.pi + weight * (2.0 - jnp.cos(2.0 * theta)) / (2.0 * jnp.pi)


@functools.partial(jax.jit, static_argnums=(1,))
def sample_orientations(
    key: PRNGKeyArray, num: int, weight: Float[ArrayLike, ""] = 1.0
) -> Float[Array, " num"]:
    """``num`` orientations (degrees, ``[0, 180)``) from :func:`density` by inverting its CDF.

    ``F(theta) = theta / pi - w sin(2 theta) / (4 pi)`` is inverted by 40 bisection steps
    (jit- and vmap-friendly; error below 180 / 2^40 deg).
    """
    u = jax.random.uniform(key, (num,))
    lo, hi = jnp.zeros_like(u), jnp.full_like(u, jnp.pi)

    def cdf(t):
        return t / jnp.pi - weight * jnp.sin(2.0 * t) / (4.0 * jnp.pi)

    def body(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        below = cdf(mid) < u
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 40, body, (lo, hi))
    return jnp.rad2deg(0.5 * (lo + hi))


@jax.jit
def binary_entropy(p: Float[ArrayLike, "..."]) -> Array:
    """``H_b(p) = -p log2 p - (1 - p) log2 (1 - p)`` in bits (0 at p = 0 and 1)."""
    p = jnp.asarray(p, jnp.result_type(p, float))
    inside = (p > 0) & (p < 1)
    q = jnp.where(inside, p, 0.5)
    return jnp.where(inside, -q * jnp.log2(q) - (1 - q) * jnp.log2(1 - q), 0.0)


@jax.jit
def inverse_binary_entropy(h: Float[ArrayLike, "..."]) -> Array:
    """``H_b^{-1}(h)`` on the branch ``p >= 0.5`` (bisection, 60 steps; the paper used a table).

    Args:
        h: entropies in bits, ``[0, 1]`` (clipped).

    Returns:
        ``p in [0.5, 1]`` with ``H_b(p) = h``.

    Examples:
        >>> round(float(inverse_binary_entropy(binary_entropy(0.8))), 6)
        0.8
    """
    h = jnp.clip(jnp.asarray(h, jnp.result_type(h, float)), 0.0, 1.0)
    lo, hi = jnp.full_like(h, 0.5), jnp.ones_like(h)

    def body(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = binary_entropy(mid) > h  # H_b decreases on [0.5, 1]
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 60, body, (lo, hi))
    return 0.5 * (lo + hi)


def _check_condition(condition: str) -> None:
    if condition not in CONDITIONS:
        raise InputError(f"condition must be one of {CONDITIONS}, got {condition!r}")


def label_rate(
    theta_deg: Float[ArrayLike, "..."], condition: str, *, a: float = DEFAULT_A
) -> Array:
    """``sigma(theta)``, the probability that the label is kept, for a condition.

    Examples:
        >>> round(float(label_rate(90.0, "6d")), 3)  # spec table: 0.826
        0.826
    """
    _check_condition(condition)
    theta = jnp.asarray(theta_deg, jnp.result_type(theta_deg, float))
    if condition in ("6c", "control"):
        return jnp.ones_like(theta)
    if condition == "6b":
        info = (2.0 - jnp.cos(2.0 * jnp.deg2rad(theta))) / 3.0
        return inverse_binary_entropy(1.0 - info)
    return inverse_binary_entropy(1.0 - a / density(theta, 1.0))


def information(
    theta_deg: Float[ArrayLike, "..."], condition: str, *, a: float = DEFAULT_A
) -> Array:
    """Bits per label ``I(theta) = 1 - H_b(sigma(theta))``."""
    return 1.0 - binary_entropy(label_rate(theta_deg, condition, a=a))


def condition_arrays(condition: str, config: LabelNoiseConfig) -> dict[str, Array]:
    """The condition as array leaves (vmappable): density weight and a sigma table (0.1 deg)."""
    _check_condition(condition)
    grid = jnp.linspace(0.0, 180.0, _TABLE)
    weight = 1.0 if condition in ("6c", "6d") else 0.0
    return {
        "weight": jnp.asarray(weight, jnp.float32),
        "sigma_table": label_rate(grid, condition, a=config.a).astype(jnp.float32),
    }


def init_mlp(key: PRNGKeyArray, config: LabelNoiseConfig) -> dict:
    """PyTorch ``nn.Linear`` default initialisation: weights and biases ``U(+-1/sqrt(fan_in))``."""
    widths = (config.size * config.size, *config.hidden, config.num_bins)
    keys = jax.random.split(key, 2 * (len(widths) - 1))
    params = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        bound = 1.0 / math.sqrt(n_in)
        params[f"fc{i + 1}"] = {
            "w": jax.random.uniform(keys[2 * i], (n_in, n_out), jnp.float32, -bound, bound),
            "b": jax.random.uniform(keys[2 * i + 1], (n_out,), jnp.float32, -bound, bound),
        }
    return params


def mlp(params: dict, x: Float[Array, "N D"]) -> tuple[Array, list[Array]]:
    """Logits and the post-ReLU hidden layers ``[h1, h2, ...]`` of the MLP."""
    hidden = []
    n_layers = len(params)
    for i in range(1, n_layers + 1):
        p = params[f"fc{i}"]
        x = x @ p["w"] + p["b"][None, :]
        if i < n_layers:
            x = jax.nn.relu(x)
            hidden.append(x)
    return x, hidden


def make_batch(key: PRNGKeyArray, cond: dict, config: LabelNoiseConfig):
    """A fresh batch: images ``(B, size^2)``, noised labels ``(B, bins)``, orientations ``(B,)``."""
    k_theta, k_phase, k_keep = jax.random.split(key, 3)
    theta = sample_orientations(k_theta, config.batch, cond["weight"])
    phase = jax.random.uniform(k_phase, (config.batch,), maxval=2.0 * jnp.pi)
    images = jax.vmap(lambda t, p: stimuli.grating(t, p, size=config.size, period=config.period))(
        theta, phase
    )
    bins = jnp.clip(
        jnp.floor(theta / 180.0 * config.num_bins).astype(jnp.int32), 0, config.num_bins - 1
    )
    sigma = jnp.interp(theta, jnp.linspace(0.0, 180.0, _TABLE), cond["sigma_table"])
    keep = jax.random.bernoulli(k_keep, sigma).astype(jnp.float32)
    labels = jax.nn.one_hot(bins, config.num_bins) * keep[:, None]
    return images.reshape(config.batch, -1), labels, theta


def _loss(params, images, labels, config: LabelNoiseConfig):
    logits, _ = mlp(params, images)
    if config.loss == "sigmoid":
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))
    return jnp.mean(optax.softmax_cross_entropy(logits, labels))


def first_layer_sensitivity(params: dict, config: LabelNoiseConfig) -> Float[Array, " T"]:
    """Phase-averaged ``D(h_1; theta)`` on ``config.num_orientations`` orientations ``[0, 180)``.

    Uses :func:`theory.sensitivity.sensitivity_curve` (one ``jax.jvp`` per orientation and
    phase) with ``config.num_phases`` phases ``2 pi k / P``.
    """
    thetas = jnp.arange(config.num_orientations) * (180.0 / config.num_orientations)
    phases = theory_sensitivity.equally_spaced_phases(config.num_phases, jnp.float32)

    def h1(theta, phase):
        x = stimuli.grating(theta, phase, size=config.size, period=config.period).reshape(1, -1)
        p = params["fc1"]
        return jax.nn.relu(x @ p["w"] + p["b"][None, :])

    return theory_sensitivity.sensitivity_curve(h1, thetas.astype(jnp.float32), phases)


class LabelNoiseResult(NamedTuple):
    """Recorded over training.

    Attributes:
        conditions: condition names, length ``C``.
        steps: recorded steps ``(K,)`` (0 = initialisation).
        thetas: sensitivity grid, degrees ``(T,)``.
        sensitivity: first-layer ``D`` ``(C, R, K, T)`` (``R`` seeds).
        loss: mean training loss over each recording interval ``(C, R, K)`` (NaN at step 0).
    """

    conditions: tuple[str, ...]
    steps: np.ndarray
    thetas: np.ndarray
    sensitivity: np.ndarray
    loss: np.ndarray


@functools.partial(jax.jit, static_argnames=("config", "optimizer", "num"))
def _advance(params, opt_state, keys, cond, *, config, optimizer, num):
    def one(params, opt_state, key, cond):
        def step(carry, k):
            p, s = carry
            images, labels, _ = make_batch(k, cond, config)
            loss, grads = jax.value_and_grad(_loss)(p, images, labels, config)
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(
            step, (params, opt_state), jax.random.split(key, num)
        )
        return params, opt_state, jnp.mean(losses), first_layer_sensitivity(params, config)

    return jax.vmap(one)(params, opt_state, keys, cond)


@functools.partial(jax.jit, static_argnames=("config",))
def _initial_sensitivity(params, *, config):
    return jax.vmap(lambda p: first_layer_sensitivity(p, config))(params)


def train(
    key: PRNGKeyArray,
    conditions: tuple[str, ...] = CONDITIONS,
    num_seeds: int = 5,
    config: LabelNoiseConfig = LabelNoiseConfig(),
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
) -> LabelNoiseResult:
    """Train ``len(conditions) x num_seeds`` networks at once and record first-layer sensitivity.

    Args:
        key: PRNG key (split into per-network init and data keys).
        conditions: names from :data:`CONDITIONS`.
        num_seeds: networks per condition (>= 1); seed ``r`` of every condition shares its
            initialisation.
        config: static settings.
        checkpoint_dir: if given, the state after each recording interval is saved there
            (``vpl_jax.runs.save_tree``) and a rerun resumes from the last finished interval.
        progress: ``tqdm`` bar over the recording intervals.

    Returns:
        The :class:`LabelNoiseResult`.

    Raises:
        InputError: unknown conditions, or a bad ``num_seeds``.
    """
    conditions = tuple(conditions)
    if not conditions:
        raise InputError(f"conditions must name at least one of {CONDITIONS}")
    for c in conditions:
        _check_condition(c)
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
        raise InputError(f"num_seeds must be an integer >= 1, got {num_seeds!r}")
    n_cond, n = len(conditions), len(conditions) * num_seeds
    init_key, data_key = jax.random.split(key)
    seed_keys = jax.random.split(init_key, num_seeds)
    params = jax.jit(jax.vmap(lambda k: init_mlp(k, config)))(jnp.tile(seed_keys, n_cond))
    cond_one = [condition_arrays(c, config) for c in conditions]
    cond = jax.tree.map(lambda *xs: jnp.repeat(jnp.stack(xs), num_seeds, axis=0), *cond_one)
    optimizer = optax.adam(config.learning_rate)
    opt_state = jax.vmap(optimizer.init)(params)
    n_chunks = config.num_steps // config.record_every
    chunk_keys = jax.random.split(data_key, n_chunks)

    sens = [np.asarray(_initial_sensitivity(params, config=config))]
    losses = [np.full((n,), np.nan)]
    start = 0
    state_treedef = jax.tree.structure((params, opt_state))
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        done = [i for i in range(n_chunks) if runs.is_finished(checkpoint_dir / f"chunk_{i:04d}")]
        last = max(done) + 1 if done and done == list(range(max(done) + 1)) else 0
        if last:
            saved = runs.restore_tree(checkpoint_dir / f"chunk_{last - 1:04d}")
            leaves = [saved["state"][f"{i:05d}"] for i in range(len(saved["state"]))]
            params, opt_state = jax.tree.unflatten(state_treedef, [jnp.asarray(x) for x in leaves])
            sens = list(saved["sensitivity"])
            losses = list(saved["loss"])
            start = last

    for i in tqdm(
        range(start, n_chunks),
        desc="label noise",
        disable=not progress,
        initial=start,
        total=n_chunks,
    ):
        keys = jax.random.split(chunk_keys[i], n)
        params, opt_state, loss, d = _advance(
            params,
            opt_state,
            keys,
            cond,
            config=config,
            optimizer=optimizer,
            num=config.record_every,
        )
        sens.append(np.asarray(d))
        losses.append(np.asarray(loss))
        if checkpoint_dir is not None:
            leaves = jax.tree.leaves((params, opt_state))
            runs.save_tree(
                checkpoint_dir / f"chunk_{i:04d}",
                {
                    "state": {f"{j:05d}": np.asarray(x) for j, x in enumerate(leaves)},
                    "sensitivity": np.stack(sens),
                    "loss": np.stack(losses),
                },
            )
    steps = np.arange(n_chunks + 1) * config.record_every
    sens_arr = np.stack(sens, axis=1).reshape(n_cond, num_seeds, n_chunks + 1, -1)
    loss_arr = np.stack(losses, axis=1).reshape(n_cond, num_seeds, n_chunks + 1)
    thetas = np.arange(config.num_orientations) * (180.0 / config.num_orientations)
    return LabelNoiseResult(conditions, steps, thetas, sens_arr, loss_arr)


def window_ratio(thetas: np.ndarray, d: np.ndarray, *, half_width: float = 15.0) -> np.ndarray:
    """Mean ``d`` within ``half_width`` of 90 deg over mean within ``half_width`` of 0 deg."""
    return sensitivity.window_ratio(thetas, d, (90.0,), (0.0,), half_width=half_width)


def summarise(result: LabelNoiseResult, *, half_width: float = 15.0, level: float = 0.95) -> dict:
    """Per condition: the 90/0 ratio of the final sensitivity over seeds, mean and t-interval.

    Also the Pearson correlation, over orientations, of the seed-mean final curve with ``p``
    (non-uniform conditions) and with the label information ``I(theta)``.

    Returns:
        ``{condition: {"ratio_mean", "ratio_low", "ratio_high", "ratios", "r_density",
        "r_information", "ratio_over_training"}}``.
    """
    from scipy import stats

    out = {}
    for ci, cond in enumerate(result.conditions):
        final = result.sensitivity[ci, :, -1]
        ratios = window_ratio(result.thetas, final, half_width=half_width)
        r = len(ratios)
        mean = float(np.mean(ratios))
        if r > 1:
            sem = float(np.std(ratios, ddof=1) / np.sqrt(r))
            t = float(stats.t.ppf((1 + level) / 2, r - 1))
            low, high = mean - t * sem, mean + t * sem
        else:
            low = high = float("nan")
        curve = final.mean(0)
        dens = np.asarray(density(result.thetas, 1.0 if cond in ("6c", "6d") else 0.0))
        info = np.asarray(information(result.thetas, cond))
        corr = lambda a, b: float(np.corrcoef(a, b)[0, 1]) if np.ptp(b) > 1e-6 else float("nan")
        out[cond] = {
            "ratio_mean": mean,
            "ratio_low": low,
            "ratio_high": high,
            "ratios": ratios.tolist(),
            "r_density": corr(curve, dens),
            "r_information": corr(curve, info),
            "ratio_over_training": window_ratio(
                result.thetas, result.sensitivity[ci].mean(0), half_width=half_width
            ).tolist(),
        }
    return out
