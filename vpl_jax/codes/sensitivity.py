r"""Per-layer sensitivity curves of networks by forward-mode autodiff, ratios and intervals.

``D(y; theta) = sum_i (dy_i / d theta)^2`` (Benjamin et al. 2022, Methods eq. 1) for every
read-out layer of a :class:`vpl_jax.codes.models.Network`, with one ``jax.jvp`` per stimulus
(:func:`theory.sensitivity.sensitivity`, vmapped over a chunk of stimuli), for orientation
(the paper's Gabor, :func:`orientation_sensitivity`) and hue (uniform HSV images,
:func:`hue_sensitivity`). The result keeps the nuisance axis (phase, or the (S, V) grid), so
that the phase-averaged curve ``Dbar(theta) = mean_phase D`` and bootstrap intervals over the
nuisance samples can both be had. Stimuli are processed in chunks (a host loop over one compiled
program, optionally with a ``tqdm`` bar), so memory stays bounded for 224-px VGG/ResNet inputs.

Summaries: :func:`window_ratio` (mean D in windows around some centres over mean D in windows
around others; the cardinal/oblique ratio is ``centres (0, 90)`` over ``(45, 135)``, +-5 deg,
:func:`cardinal_oblique`, as :func:`theory.sensitivity.cardinal_oblique_ratio`), with a
percentile bootstrap over the nuisance samples or over seeds (:func:`bootstrap_ratio`), and
:func:`circular_shift` (the lag that maximises the circular cross-correlation of two curves).
:func:`finite_difference_sensitivity` is the central-difference reference (tests, benchmark).

Units: orientations and hues in degrees (``D`` per deg^2), phases in radians.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray
from tqdm.auto import tqdm

from theory import sensitivity as theory_sensitivity
from theory.checks import InputError
from vpl_jax.codes import models, stimuli

__all__ = [
    "GaborStimulus",
    "HueStimulus",
    "bootstrap_ratio",
    "cardinal_oblique",
    "circular_shift",
    "finite_difference_sensitivity",
    "hue_sensitivity",
    "orientation_grid",
    "orientation_sensitivity",
    "stimulus_sensitivity",
    "window_ratio",
]

CARDINALS = (0.0, 90.0)
OBLIQUES = (45.0, 135.0)


def orientation_grid(num: int = 36) -> np.ndarray:
    """``num`` orientations ``180 k / num`` deg, ``k = 0 .. num - 1`` (36: every 5 deg).

    Raises:
        InputError: for ``num < 4``.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 4:
        raise InputError(f"num must be an integer >= 4 (orientations), got {num!r}")
    return 180.0 * np.arange(num) / num


@functools.partial(jax.jit, static_argnames=("net", "make_image", "stacked"))
def _chunk_sensitivity(params, thetas, nuisance, *, net, make_image, stacked):
    def one(p, theta, nu):
        return theory_sensitivity.sensitivity(
            lambda t: models.apply(net, p, make_image(t, nu)[None]), theta
        )

    per_stimulus = jax.vmap(one, in_axes=(None, 0, 0))
    if stacked:
        return jax.vmap(per_stimulus, in_axes=(0, None, None))(params, thetas, nuisance)
    return per_stimulus(params, thetas, nuisance)


@dataclasses.dataclass(frozen=True)
class GaborStimulus:
    """``(theta_deg, phase) -> image``: the paper's Gabor with fixed geometry (hashable).

    Attributes:
        size: image side, px.
        frequency: cycles per px.
        sigma: envelope SD, px.
        channels: identical channels.
    """

    size: int
    frequency: float
    sigma: float
    channels: int

    def __call__(self, theta, phase):
        return stimuli.gabor(
            theta,
            phase,
            size=self.size,
            frequency=self.frequency,
            sigma=self.sigma,
            channels=self.channels,
        )


@dataclasses.dataclass(frozen=True)
class HueStimulus:
    """``(hue_deg, (s, v)) -> image``: a uniform ImageNet-normalised HSV image (hashable)."""

    size: int

    def __call__(self, hue, sv):
        return stimuli.hue_image(hue, sv[0], sv[1], size=self.size)


def stimulus_sensitivity(
    net: models.Network,
    params: dict,
    make_image: Callable[[Array, Array], Array],
    thetas: Float[ArrayLike, " T"],
    nuisance: Float[ArrayLike, "K ..."],
    *,
    chunk: int = 8,
    stacked: bool = False,
    progress: bool = False,
    desc: str = "sensitivity",
) -> dict[str, np.ndarray]:
    """``D(layer; theta)`` for every ``(theta, nuisance)`` pair, by forward-mode autodiff.

    Args:
        net: the network (its ``layers`` are read out).
        params: its params; with ``stacked=True`` a pytree whose leaves have a leading seed
            axis ``R`` (e.g. ``jax.vmap(init)(keys)``), all measured in one vmapped call.
        make_image: ``make_image(theta, nuisance_k) -> (H, W, C)`` image in z-scored units,
            differentiable in ``theta``; hashable with value equality (a module-level function
            or a frozen dataclass such as :class:`GaborStimulus`), used as a static argument.
        thetas: stimulus values, shape ``(T,)``.
        nuisance: nuisance values, leading axis ``K`` (phases ``(K,)``, ``(S, V)`` pairs
            ``(K, 2)``).
        chunk: stimuli per compiled call (memory vs. speed).
        stacked: ``params`` carries a leading seed axis.
        progress: show a ``tqdm`` bar over the chunks.
        desc: the bar's label.

    Returns:
        ``{layer: array (K, T)}`` of sensitivities (host NumPy, float64); ``(R, K, T)`` when
        ``stacked``.

    Raises:
        InputError: for empty grids or a bad ``chunk``.
    """
    thetas = np.asarray(thetas, np.float64)
    nuisance = np.asarray(nuisance, np.float64)
    if thetas.ndim != 1 or thetas.size < 1 or nuisance.ndim < 1 or nuisance.shape[0] < 1:
        raise InputError(
            f"thetas must be 1-D and nuisance must have a leading axis, both non-empty; got "
            f"{thetas.shape}, {nuisance.shape}"
        )
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise InputError(f"chunk must be an integer >= 1, got {chunk!r}")
    k, t = nuisance.shape[0], thetas.shape[0]
    th = np.tile(thetas, k)
    nu = np.repeat(nuisance, t, axis=0)
    n = th.shape[0]
    pad = (-n) % chunk
    th = np.concatenate([th, np.repeat(th[-1:], pad)])
    nu = np.concatenate([nu, np.repeat(nu[-1:], pad, axis=0)])
    dtype = jnp.result_type(float)

    pieces = []
    for start in tqdm(range(0, n + pad, chunk), desc=desc, disable=not progress, leave=False):
        out = _chunk_sensitivity(
            params,
            jnp.asarray(th[start : start + chunk], dtype),
            jnp.asarray(nu[start : start + chunk], dtype),
            net=net,
            make_image=make_image,
            stacked=stacked,
        )
        pieces.append(jax.tree.map(np.asarray, out))
    axis = 1 if stacked else 0
    result = {}
    for layer in net.layers:
        flat = np.concatenate([p[layer] for p in pieces], axis=axis).astype(np.float64)
        flat = flat[:, :n] if stacked else flat[:n]
        result[layer] = flat.reshape(flat.shape[:-1] + (k, t))
    return result


def orientation_sensitivity(
    net: models.Network,
    params: dict,
    thetas_deg: Float[ArrayLike, " T"] | None = None,
    phases: Float[ArrayLike, " P"] | None = None,
    *,
    size: int | None = None,
    frequency: float | None = None,
    sigma: float | None = None,
    chunk: int = 8,
    stacked: bool = False,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Per-layer orientation sensitivity to the paper's Gabor, per phase.

    Args:
        net: the network.
        params: its params.
        thetas_deg: orientations in degrees (default :func:`orientation_grid`, 36 values).
        phases: phases in radians (default :func:`vpl_jax.codes.stimuli.paper_phases`, the
            paper's 10 with the duplicated endpoint).
        size: image side (default ``net.input_size``).
        frequency, sigma: Gabor parameters; default the paper's 0.02 cycles/px and 50 px,
            scaled to ``size`` by :func:`vpl_jax.codes.stimuli.scaled_gabor_parameters` when
            ``size != 224``.
        chunk: stimuli per compiled call.
        stacked: ``params`` has a leading seed axis (measured in one vmapped call).
        progress: show a ``tqdm`` bar.

    Returns:
        ``{layer: (P, T)}`` (``(R, P, T)`` when stacked); averaging over the phase axis gives
        the phase-averaged curve ``Dbar(theta)``.
    """
    thetas = orientation_grid() if thetas_deg is None else thetas_deg
    phases = stimuli.paper_phases() if phases is None else phases
    size = net.input_size if size is None else size
    f0, s0 = stimuli.scaled_gabor_parameters(size)
    make = GaborStimulus(
        size=int(size),
        frequency=f0 if frequency is None else float(frequency),
        sigma=s0 if sigma is None else float(sigma),
        channels=net.in_channels,
    )
    return stimulus_sensitivity(
        net,
        params,
        make,
        thetas,
        phases,
        chunk=chunk,
        stacked=stacked,
        progress=progress,
        desc="orientation",
    )


def hue_sensitivity(
    net: models.Network,
    params: dict,
    hues_deg: Float[ArrayLike, " T"] | None = None,
    sv: Float[ArrayLike, "K 2"] | None = None,
    *,
    size: int | None = None,
    chunk: int = 8,
    stacked: bool = False,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Per-layer hue sensitivity to uniform HSV images, per (S, V) pair (paper's Fig. 3).

    Args:
        net: an RGB network.
        params: its params.
        hues_deg: hues in degrees (default every 5 deg on ``[0, 360)``).
        sv: ``(S, V)`` pairs (default :func:`vpl_jax.codes.stimuli.sv_grid`, 6 x 6 on
            ``[0.5, 1]``).
        size: image side (default ``net.input_size``).
        chunk: stimuli per compiled call.
        stacked: ``params`` has a leading seed axis.
        progress: show a ``tqdm`` bar.

    Returns:
        ``{layer: (K, T)}`` (``(R, K, T)`` when stacked); averaging over the ``K`` axis
        marginalises saturation and value.

    Raises:
        InputError: for a network without 3 input channels.
    """
    if net.in_channels != 3:
        raise InputError(
            f"hue sensitivity needs an RGB network (3 channels), got {net.in_channels}"
        )
    hues = np.arange(0.0, 360.0, 5.0) if hues_deg is None else hues_deg
    sv = stimuli.sv_grid() if sv is None else sv
    size = net.input_size if size is None else size
    return stimulus_sensitivity(
        net,
        params,
        HueStimulus(int(size)),
        hues,
        sv,
        chunk=chunk,
        stacked=stacked,
        progress=progress,
        desc="hue",
    )


def finite_difference_sensitivity(
    fn: Callable[[Array], object], theta: float, *, step: float = 1e-2
) -> object:
    """Central-difference sensitivity ``sum_i ((y_i(theta + h) - y_i(theta - h)) / 2h)^2``.

    Args:
        fn: ``theta -> pytree of arrays``.
        theta: the stimulus value.
        step: ``h`` (in the units of ``theta``).

    Returns:
        Pytree of scalars (same structure as ``fn``'s output).
    """
    hi, lo = fn(jnp.asarray(theta + step)), fn(jnp.asarray(theta - step))
    return jax.tree.map(lambda a, b: jnp.sum(jnp.square((a - b) / (2.0 * step))), hi, lo)


def _circ_dist(theta, centre, period):
    return np.abs(np.mod(theta - centre + period / 2.0, period) - period / 2.0)


def window_ratio(
    thetas: Float[ArrayLike, " T"],
    d: Float[ArrayLike, "... T"],
    numerator: tuple[float, ...],
    denominator: tuple[float, ...],
    *,
    half_width: float,
    period: float = 180.0,
) -> np.ndarray:
    """Mean ``d`` within ``half_width`` of the ``numerator`` centres over that of the others.

    Args:
        thetas: the grid, shape ``(T,)`` (units of ``period``).
        d: curves on that grid, shape ``(..., T)``.
        numerator, denominator: window centres.
        half_width: window half-width (inclusive).
        period: period of the variable (180 for orientation).

    Returns:
        Ratios, shape ``d.shape[:-1]``.

    Raises:
        InputError: a window holding no grid point, or mismatched shapes.

    Examples:
        >>> th = np.arange(0.0, 180.0, 5.0)
        >>> float(window_ratio(th, 2 + np.cos(np.deg2rad(4 * th)), (0.0, 90.0), (45.0, 135.0), half_width=0.0))
        3.0
    """
    thetas = np.asarray(thetas, np.float64)
    d = np.asarray(d, np.float64)
    if thetas.ndim != 1 or d.shape[-1:] != thetas.shape:
        raise InputError(f"d must end with the grid's length {thetas.shape}, got {d.shape}")

    def mask(centres):
        m = np.zeros(thetas.shape, bool)
        for c in centres:
            m |= _circ_dist(thetas, c, period) <= half_width + 1e-9
        if not m.any():
            raise InputError(f"no grid point lies within {half_width} of {centres}")
        return m

    num, den = mask(numerator), mask(denominator)
    return np.asarray(d[..., num].mean(-1) / d[..., den].mean(-1))


def cardinal_oblique(
    thetas_deg: Float[ArrayLike, " T"], d: Float[ArrayLike, "... T"], *, half_width: float = 5.0
) -> np.ndarray:
    """Cardinal/oblique ratio: mean ``d`` within ``half_width`` of 0 and 90 deg over 45 and 135.

    The windows are those of :func:`theory.sensitivity.cardinal_oblique_ratio` (+-5 deg); the
    paper itself reports curves, not a scalar.
    """
    return window_ratio(thetas_deg, d, CARDINALS, OBLIQUES, half_width=half_width)


def bootstrap_ratio(
    key: PRNGKeyArray,
    samples: Float[ArrayLike, "S T"],
    ratio: Callable[[np.ndarray], np.ndarray],
    *,
    num: int = 2000,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """A ratio of the mean curve with a percentile bootstrap interval over the samples.

    The ``S`` samples (phases of one network, (S, V) pairs, seeds, or seeds x phases flattened)
    are resampled with replacement ``num`` times; each resample's mean curve gives one ratio.

    Args:
        key: PRNG key.
        samples: curves, shape ``(S, T)``, ``S >= 2``.
        ratio: maps curves ``(..., T)`` to ratios ``(...)`` (e.g. a ``functools.partial`` of
            :func:`cardinal_oblique`).
        num: bootstrap resamples (>= 100).
        level: interval coverage in ``(0, 1)``.

    Returns:
        ``(estimate, low, high)``: the ratio of the mean curve and the interval.

    Raises:
        InputError: for fewer than 2 samples or bad ``num``/``level``.
    """
    samples = np.asarray(samples, np.float64)
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise InputError(f"samples must have shape (S >= 2, T), got {samples.shape}")
    if isinstance(num, bool) or not isinstance(num, int) or num < 100:
        raise InputError(f"num must be an integer >= 100, got {num!r}")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie in (0, 1), got {level}")
    s = samples.shape[0]
    idx = np.asarray(jax.random.randint(key, (num, s), 0, s))
    boot = ratio(samples[idx].mean(axis=1))
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(ratio(samples.mean(0))), float(lo), float(hi)


def circular_shift(
    reference: Float[ArrayLike, " T"], shifted: Float[ArrayLike, " T"], *, period: float
) -> float:
    """Lag (units of ``period``) by which ``shifted`` is ``reference`` moved to higher values.

    Maximises the circular cross-correlation ``sum_t r(t - lag) s(t)`` of the mean-removed curves
    sampled on an equally spaced periodic grid of ``T`` points; the result lies in
    ``[-period/2, period/2)``.

    Examples:
        >>> t = np.arange(0, 360, 5.0)
        >>> circular_shift(np.cos(np.deg2rad(t)), np.cos(np.deg2rad(t - 90)), period=360.0)
        90.0
    """
    r = np.asarray(reference, np.float64)
    s = np.asarray(shifted, np.float64)
    if r.ndim != 1 or r.shape != s.shape or r.size < 2:
        raise InputError(f"curves must be 1-D of equal length >= 2, got {r.shape}, {s.shape}")
    r, s = r - r.mean(), s - s.mean()
    corr = np.real(np.fft.ifft(np.conj(np.fft.fft(r)) * np.fft.fft(s)))
    lag = int(np.argmax(corr)) * period / r.size
    return float((lag + period / 2) % period - period / 2)
