r"""Psychophysics of the two-interval orientation task: ideal observer, psychometric fits, efficiency.

The task (`vpl_jax.train.sample_pairs`): a trial shows a *reference* image and a *target* image,
each in network units ``x = c (I - 125) + noise`` (`vpl_jax.stimuli.network_input`), with the
noiseless templates ``R`` (reference), ``T_cw`` (reference + separation) and ``T_ccw``
(reference - separation) on the 0-255 scale (`vpl_jax.train.make_templates`: truncated to integers
when ``TrainConfig.quantize``, the default, as the original uint8 images were). The label is 1 when
the target is ``T_cw`` (clockwise of the reference), 0 when it is ``T_ccw``; the labels of a batch
alternate 1, 0, 1, ... (equal priors). The pixel noise is i.i.d. Gaussian with SD
``sigma = Condition.noise_sd``, drawn afresh for every pixel of both images, and neither clipped
nor re-quantised. The transfer tests (`vpl_jax.train.TEST_CONDITIONS`) and the separation sweep
(``TrainConfig.test_separations``) are the same task with other templates.

**The ideal observer.** With known templates the likelihood of a trial ``(x_r, x_t)`` under label
``y`` factorises as :math:`p(x_r \mid R)\, p(x_t \mid T_y)`: the reference interval does not
depend on the label and cancels from the likelihood ratio. The optimal rule is a known-signal
discrimination of the target interval alone,

.. math::
    \Lambda(x_t) = \Delta^\top \Big(x_t - c\big(\tfrac{T_{cw} + T_{ccw}}{2} - 125\big)\Big)
    \ \gtrless\ 0, \qquad \Delta = T_{cw} - T_{ccw},

whose statistic is Gaussian with mean :math:`\pm c\lVert\Delta\rVert^2/2` and SD
:math:`\sigma\lVert\Delta\rVert`. Hence, exactly (no approximation besides the finite float
precision of the templates),

.. math::
    d' = \frac{c\,\lVert T_{cw} - T_{ccw}\rVert_2}{\sigma}, \qquad
    P_c = \Phi\!\left(\frac{d'}{2}\right),

with :math:`\Phi` the standard normal CDF and :math:`\lVert\cdot\rVert_2` over all pixels of the
0-255 templates. ``observer="difference"`` is the ideal observer restricted to the difference
image :math:`x_t - x_r` (mean :math:`c(T_y - R)`, noise SD :math:`\sqrt2\sigma`): :math:`d' =
c\lVert\Delta\rVert_2 / (\sqrt2\,\sigma)`, the same :math:`P_c = \Phi(d'/2)`. It bounds every
readout that is linear in the two images and antisymmetric, :math:`w^\top (x_t - x_r)`, which is
what the siamese network's :math:`h_t - h_r` is when its feature map is linear.

For small separations :math:`\Delta \approx 2\,\delta\,\partial T/\partial\theta`, so :math:`d'`
grows linearly with the separation :math:`\delta` and, for a Gabor of envelope SD :math:`s` and
wavelength :math:`\lambda` (pixels), :math:`\lVert\partial T/\partial\theta\rVert \propto s^2 /
\lambda`: :math:`d' \propto c\, s^2 \delta / (\lambda\,\sigma)`. Shrinking the frame from 227 px
to ``image_size`` scales :math:`s^2/\lambda` (and :math:`d'`) by ``image_size / 227``.

**Psychometric functions** (`fit_psychometric`) of proportion correct against separation
:math:`s` (degrees):

.. math::
    \psi(s) = \gamma + (1 - \gamma - \ell)\, G\big(\beta(\ln s - \ln t) + G^{-1}(F^*)\big),
    \qquad F^* = \frac{P^* - \gamma}{1 - \gamma - \ell},

with guess rate :math:`\gamma = 0.5`, lapse rate :math:`\ell` (0, or fitted in ``[0,
lapse_max]``), slope :math:`\beta` and threshold :math:`t`, the separation at which
:math:`\psi = P^*` (0.75 by default). ``"weibull"``: :math:`G(u) = 1 - e^{-e^{u}}`, i.e.
:math:`F = 1 - \exp(-(s/\alpha)^\beta)` in **linear** separation (a Gumbel in log separation);
``"log_gaussian"``: :math:`G = \Phi`, a cumulative Gaussian in the **natural log** of the
separation (a Gaussian in linear separation would give above-chance accuracy at :math:`s = 0`).
The fit is maximum likelihood with a binomial likelihood of ``n_trials`` trials per point
(``scipy.optimize``), the confidence interval of the threshold a profile-likelihood interval
(:math:`2\,\Delta\log L = \chi^2_1(\text{level})`) or a parametric-bootstrap percentile interval.

The package's network accuracy is the mean p(correct) (the paper's Eq. 1), a mean of numbers in
[0, 1] rather than a proportion of correct decisions. Its variance is at most the binomial one,
:math:`P(1-P)/n`, so treating it as a binomial proportion (``k = accuracy * n``, possibly
fractional) gives intervals that are, if anything, conservative.

**Efficiency** relative to the ideal observer, at matched separation (`efficiency`):

.. math::
    \eta(s) = \left(\frac{d'_{net}(s)}{d'_{ideal}(s)}\right)^2, \qquad
    d'_{net}(s) = 2\,\Phi^{-1}\big(P_{net}(s)\big),

the network's d' being the d' at which the ideal observer of this task would score the
network's proportion correct (:math:`P_c = \Phi(d'/2)` inverted; :math:`P_{net}` clipped to
``[0.5, 1 - 1/(2n)]`` so that chance and below give 0 and a perfect score a finite lower bound).
At matched performance (`threshold_efficiency`): :math:`\eta_t = (t_{ideal} / t_{net})^2`, the
two coincide wherever :math:`d'` is proportional to the separation.

Conventions: separations and thresholds in degrees, templates on the 0-255 scale, the condition
axis ``C`` leading, test axis ordered as `vpl_jax.train.TEST_CONDITIONS`. The jitted functions
take concrete or traced `Condition` pytrees; the fits are host (NumPy/SciPy) code and take NumPy
arrays. No function here is stochastic except the parametric bootstrap, which takes a ``seed``.

References:
    Wenliang & Seitz (2018), J. Neurosci. 38(27):6028-6044 (the task, Eq. 1).
    Green & Swets (1966), Signal Detection Theory and Psychophysics (known-signal ideal
    observer). Wichmann & Hill (2001), The psychometric function: I. Fitting, sampling, and
    goodness of fit; II. Bootstrap-based confidence intervals, Percept. Psychophys. 63.
    Geisler (2011), Contributions of ideal observer theory to vision research, Vision Res. 51.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jaxtyping import Array, ArrayLike, Float
from scipy import optimize
from scipy import stats as sps
from scipy.special import gammaln, ndtr, ndtri

from theory.checks import InputError, is_concrete, require
from vpl_jax import stimuli, train
from vpl_jax.train import Condition, TrainConfig

__all__ = [
    "CRITERION",
    "GUESS_RATE",
    "MODELS",
    "OBSERVERS",
    "IdealObserver",
    "PsychometricFit",
    "Thresholds",
    "dprime_from_accuracy",
    "dprime_table",
    "efficiency",
    "fit_psychometric",
    "ideal_curve",
    "ideal_observer",
    "ideal_observer_batch",
    "ideal_threshold",
    "pair_distance",
    "percent_correct",
    "psychometric_function",
    "run_thresholds",
    "template_dprime",
    "threshold_curves",
    "threshold_efficiency",
]

#: Accuracy that defines a threshold (the separation at which the psychometric function is 0.75).
CRITERION = 0.75
#: Guess rate of the two-alternative task.
GUESS_RATE = 0.5
#: Psychometric-function families of `fit_psychometric`.
MODELS: tuple[str, ...] = ("weibull", "log_gaussian")
#: Ideal observers of `ideal_observer`: all of the trial, or only the difference image.
OBSERVERS: tuple[str, ...] = ("ideal", "difference")


# --------------------------------------------------------------------------------------------
# Argument checks


def _choice(name: str, value, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InputError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def _check_condition(condition, *, batched: bool) -> None:
    if not isinstance(condition, Condition):
        raise InputError(f"condition must be a vpl_jax.train.Condition, got {type(condition)}")
    shapes = {jnp.shape(x) for x in jax.tree.leaves(condition)}
    want = "(C,)" if batched else "() (scalars; ideal_observer_batch for a batch)"
    if len(shapes) != 1 or len(next(iter(shapes))) != (1 if batched else 0):
        raise InputError(f"condition leaves must all have shape {want}, got {sorted(shapes)}")
    if is_concrete(condition):
        try:
            train.validate_condition(jax.device_get(condition))
        except InputError:
            raise
        except ValueError as err:  # an older train.validate_condition raised ValueError
            raise InputError(str(err)) from None


def _check_config(config) -> None:
    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a vpl_jax.train.TrainConfig, got {type(config)}")


def _observer_factor(observer: str) -> float:
    return 1.0 if _choice("observer", observer, OBSERVERS) == "ideal" else 1.0 / math.sqrt(2.0)


# --------------------------------------------------------------------------------------------
# The ideal observer


class IdealObserver(NamedTuple):
    """d' and percent correct of an ideal observer (leading axes: none, or ``C``).

    Attributes:
        dprime: ``(..., 5)`` d' at the condition's separation, per `TEST_CONDITIONS`.
        accuracy: ``(..., 5)`` proportion correct :math:`\\Phi(d'/2)`.
        separation_dprime: ``(..., 5, S)`` d' at every ``TrainConfig.test_separations``.
        separation_accuracy: ``(..., 5, S)`` the proportion correct there.
    """

    dprime: Float[Array, "... 5"]
    accuracy: Float[Array, "... 5"]
    separation_dprime: Float[Array, "... 5 S"]
    separation_accuracy: Float[Array, "... 5 S"]


def _triplet_distance(triplets: jax.Array) -> jax.Array:
    """``||T_cw - T_ccw||_2`` over the last two axes of ``(..., 3, H, W)`` triplets."""
    diff = triplets[..., 1, :, :] - triplets[..., 2, :, :]
    return jnp.sqrt(jnp.sum(diff * diff, axis=(-2, -1)))


@functools.partial(jax.jit, static_argnames=("config",))
def pair_distance(condition: Condition, *, config: TrainConfig) -> dict[str, jax.Array]:
    """Euclidean distance between the clockwise and counter-clockwise templates of a condition.

    The templates are exactly those the package trains and tests on
    (`vpl_jax.train.make_templates`: 0-255 scale, quantised when ``config.quantize``).

    Args:
        condition: one `Condition` (scalar leaves); contrast, noise and learning rate unused.
        config: image size, Gabor SD, quantisation and test separations.

    Returns:
        ``{"test": (5,), "separation": (5, S)}`` distances on the 0-255 scale, test axis as
        `vpl_jax.train.TEST_CONDITIONS`.
    """
    templates = train.make_templates(condition, config=config)
    return {k: _triplet_distance(v) for k, v in templates.items()}


def _dprime(distance, contrast, noise_sd, factor: float):
    """``factor * c * distance / sigma``; ``inf`` for zero noise and a non-zero distance."""
    dtype = jnp.result_type(distance)
    distance = jnp.asarray(distance, dtype)
    signal = jnp.asarray(contrast, dtype) * distance * factor
    noise = jnp.asarray(noise_sd, dtype)
    safe = jnp.where(noise > 0, noise, 1.0)
    return jnp.where(noise > 0, signal / safe, jnp.where(signal > 0, jnp.inf, 0.0))


def template_dprime(
    triplet: Float[ArrayLike, "... 3 H W"],
    contrast: Float[ArrayLike, "..."],
    noise_sd: Float[ArrayLike, "..."],
    *,
    observer: str = "ideal",
) -> Float[Array, "..."]:
    r"""Ideal-observer d' from noiseless (reference, CW, CCW) templates of any size.

    :math:`d' = c\,\lVert T_{cw} - T_{ccw}\rVert_2 / \sigma` (over :math:`\sqrt2` for
    ``"difference"``); the building block of `ideal_observer`, for templates made outside a
    `TrainConfig` (e.g. `vpl_jax.stimuli.pair_templates` at any size).

    Args:
        triplet: ``(..., 3, H, W)`` templates on the 0-255 scale, stacked as
            ``(reference, clockwise, counterclockwise)`` (the order of
            `vpl_jax.train.sample_pairs`).
        contrast, noise_sd: scalars or arrays broadcasting against the leading axes.
        observer: ``"ideal"`` or ``"difference"``.

    Returns:
        d' with the leading shape of ``triplet``.

    Examples:
        >>> t = stimuli.pair_templates(0.0, 2.0, 6.0, 5.0, size=24)
        >>> x = jnp.stack([t.reference, t.clockwise, t.counterclockwise])
        >>> d_ideal = template_dprime(x, 0.5, 10.0)
        >>> round(float(d_ideal / template_dprime(x, 0.5, 10.0, observer="difference")), 4)
        1.4142
    """
    factor = _observer_factor(observer)
    triplet = jnp.asarray(triplet)
    if triplet.ndim < 3 or triplet.shape[-3] != 3:
        raise InputError(f"triplet must have shape (..., 3, H, W), got {triplet.shape}")
    return _dprime(_triplet_distance(triplet), contrast, noise_sd, factor)


def percent_correct(dprime: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    r"""Proportion correct of the ideal observer of this task: :math:`\Phi(d'/2)`.

    Examples:
        >>> round(float(percent_correct(2.0)), 4)
        0.8413
    """
    return jax.scipy.stats.norm.cdf(jnp.asarray(dprime) / 2.0)


def _observer(condition: Condition, config: TrainConfig, factor: float) -> IdealObserver:
    dist = pair_distance(condition, config=config)
    d_test = _dprime(dist["test"], condition.contrast, condition.noise_sd, factor)
    d_sep = _dprime(dist["separation"], condition.contrast, condition.noise_sd, factor)
    return IdealObserver(d_test, percent_correct(d_test), d_sep, percent_correct(d_sep))


@functools.partial(jax.jit, static_argnames=("config", "observer"))
def _observer_jit(condition, config, observer):
    return _observer(condition, config, _observer_factor(observer))


def ideal_observer(
    condition: Condition, *, config: TrainConfig, observer: str = "ideal"
) -> IdealObserver:
    r"""The ideal observer of one condition's task, its transfer tests and its separation sweep.

    .. math:: d' = \frac{c\,\lVert T_{cw} - T_{ccw}\rVert_2}{\sigma}\ (\times 1/\sqrt2
              \text{ for } \texttt{"difference"}), \qquad P_c = \Phi(d'/2)

    (derivation in the module docstring). Zero noise gives ``d' = inf`` and ``P_c = 1`` (0 and
    0.5 where the two templates are identical). Jitted; ``jax.vmap`` works over conditions (or use
    `ideal_observer_batch`).

    Args:
        condition: one `Condition` (scalar leaves).
        config: the run's `TrainConfig` (image size, Gabor SD, quantisation, test separations).
        observer: ``"ideal"`` (uses the whole trial) or ``"difference"`` (sees only the
            difference image target - reference).

    Returns:
        `IdealObserver` with ``(5,)`` and ``(5, S)`` fields.

    Raises:
        InputError: not a scalar `Condition`, a field out of range, unknown ``observer``.

    Examples:
        >>> c = Condition.create(0.0, 0.5, 30.0, 0.2, 15.0)
        >>> io = ideal_observer(c, config=TrainConfig(image_size=67))
        >>> round(float(io.dprime[0]), 1), round(float(io.accuracy[0]), 3)
        (4.2, 0.982)
    """
    _check_condition(condition, batched=False)
    _check_config(config)
    _choice("observer", observer, OBSERVERS)
    return _observer_jit(condition, config, observer)


@functools.partial(jax.jit, static_argnames=("config", "observer", "batch_size"))
def _batch_jit(conditions, config, observer, batch_size):
    factor = _observer_factor(observer)
    return jax.lax.map(lambda c: _observer(c, config, factor), conditions, batch_size=batch_size)


def ideal_observer_batch(
    conditions: Condition, *, config: TrainConfig, observer: str = "ideal", batch_size: int = 8
) -> IdealObserver:
    """`ideal_observer` for ``C`` conditions (leaves ``(C,)``), vmapped ``batch_size`` at a time.

    ``jax.lax.map(..., batch_size=...)`` bounds the memory of the templates (``C x 90`` images
    at once would need 18 MB per condition at 227 px).

    Returns:
        `IdealObserver` with ``(C, 5)`` and ``(C, 5, S)`` fields.

    Raises:
        InputError: leaves not all ``(C,)``, a field out of range, bad ``observer`` or
            ``batch_size``.
    """
    _check_condition(conditions, batched=True)
    _check_config(config)
    _choice("observer", observer, OBSERVERS)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return _batch_jit(conditions, config, observer, batch_size)


@functools.partial(jax.jit, static_argnames=("config",))
def _distances_at(condition: Condition, separations: jax.Array, config: TrainConfig):
    """``(5, K)`` template distances at arbitrary separations (the arguments of make_templates)."""

    def one(sep):
        t = stimuli.transfer_templates(
            condition.reference_deg,
            sep,
            condition.wavelength_px * config.scale,
            config.sigma_px * config.scale,
            config.image_size,
            quantize=config.quantize,
        )
        return _triplet_distance(jnp.stack([t.reference, t.clockwise, t.counterclockwise], 1))

    return jax.vmap(one, out_axes=1)(separations)


def _test_index(test) -> int:
    if isinstance(test, str):
        return train.TEST_CONDITIONS.index(_choice("test", test, train.TEST_CONDITIONS))
    if isinstance(test, int | np.integer) and 0 <= test < len(train.TEST_CONDITIONS):
        return int(test)
    raise InputError(f"test must be one of {list(train.TEST_CONDITIONS)} or 0-4, got {test!r}")


def ideal_curve(
    condition: Condition,
    separations: ArrayLike | Sequence[float],
    *,
    config: TrainConfig,
    test: str | int = "trained",
    observer: str = "ideal",
) -> tuple[np.ndarray, np.ndarray]:
    """The ideal observer's d' and proportion correct at arbitrary separations (host arrays).

    Args:
        condition: one `Condition` (scalar leaves; its own separation is ignored).
        separations: ``(K,)`` separations in degrees, > 0.
        config: the run's `TrainConfig`.
        test: a `vpl_jax.train.TEST_CONDITIONS` name or index.
        observer: as in `ideal_observer`.

    Returns:
        ``(dprime, accuracy)``, float64 arrays of shape ``(K,)``.

    Raises:
        InputError: bad condition, separations, test or observer.
    """
    _check_condition(condition, batched=False)
    _check_config(config)
    factor = _observer_factor(observer)
    index = _test_index(test)
    seps = np.asarray(separations, np.float64)
    require(
        "separations",
        seps,
        lambda s: (s.ndim == 1) & np.all(np.isfinite(s) & (s > 0)),
        "a 1-d sequence of separations > 0 deg",
    )
    if seps.size == 0:
        raise InputError("separations must hold at least one separation, got []")
    dist = np.asarray(_distances_at(condition, jnp.asarray(seps, jnp.float32), config))[index]
    d = np.asarray(
        _dprime(jnp.asarray(dist, jnp.float32), condition.contrast, condition.noise_sd, factor),
        np.float64,
    )
    return d, sps.norm.cdf(d / 2.0)


def ideal_threshold(
    condition: Condition,
    *,
    config: TrainConfig,
    test: str | int = "trained",
    observer: str = "ideal",
    criterion: float = CRITERION,
    rtol: float = 1e-4,
) -> float:
    r"""Separation (deg) at which the ideal observer reaches ``criterion`` proportion correct.

    Solves :math:`\Phi(d'(s)/2) = P^*`, i.e. :math:`d'(s) = 2\Phi^{-1}(P^*)` (1.349 at 0.75),
    with Brent's method on :math:`\ln s` over the exact template distances.

    Quantised templates (``config.quantize``, the default) make :math:`d'(s)` a step function at
    very small separations, where :math:`\lVert\Delta\rVert` is dominated by single grey-level
    flips and grows like :math:`\sqrt{s}` instead of :math:`s`: the exact observer of the
    package's trials then has a threshold far below that of the continuous Gabor (0.0017 against
    0.011 deg for contrast 0.2, noise SD 1.5, wavelength 20 px at 67 px; 0.156 against 0.161 deg
    for ``cpu-exp1``). Pass ``dataclasses.replace(config, quantize=False)`` for the continuous
    stimulus; at the paper's separations (0.5-10 deg) the two d' agree within 1 %.

    Args:
        condition: one `Condition` with ``noise_sd > 0`` (its separation is ignored).
        config, test, observer: as in `ideal_curve`.
        criterion: proportion correct in (0.5, 1).
        rtol: relative tolerance on the separation.

    Returns:
        The threshold in degrees, or ``nan`` when even 45 deg stays below the criterion.

    Raises:
        InputError: bad arguments or zero noise (the threshold is then 0).
    """
    _check_condition(condition, batched=False)
    _check_config(config)
    factor = _observer_factor(observer)
    index = _test_index(test)
    require("criterion", criterion, lambda v: (v > 0.5) & (v < 1.0), "in (0.5, 1)")
    require("condition.noise_sd", condition.noise_sd, lambda v: v > 0, "> 0 for a threshold")
    target = 2.0 * sps.norm.ppf(criterion)
    scale = float(condition.contrast) * factor / float(condition.noise_sd)

    def excess(log_s):
        dist = _distances_at(condition, jnp.asarray([math.exp(log_s)], jnp.float32), config)
        return scale * float(dist[index, 0]) - target

    lo, hi = math.log(1e-4), math.log(1e-3)
    while excess(hi) < 0:
        lo, hi = hi, hi + math.log(2.0)
        if hi > math.log(45.0):
            return float("nan")
    if excess(lo) >= 0:
        return math.exp(lo)
    return math.exp(optimize.brentq(excess, lo, hi, rtol=rtol, xtol=1e-12))


def _as_condition_list(conditions) -> list[Condition]:
    if isinstance(conditions, Condition):
        leaves = jax.tree.leaves(conditions)
        shape = np.shape(leaves[0])
        if shape == ():
            return [conditions]
        if len(shape) != 1:
            raise InputError(f"conditions must have leaves () or (C,), got shape {shape}")
        return [jax.tree.map(lambda x, i=i: x[i], conditions) for i in range(shape[0])]
    if isinstance(conditions, Sequence) and conditions:
        if not all(isinstance(c, Condition) for c in conditions):
            raise InputError("conditions must be Condition objects (or one batched Condition)")
        out = []
        for c in conditions:
            out.extend(_as_condition_list(c))
        return out
    raise InputError(
        f"conditions must be a Condition or a non-empty sequence of them, got {conditions!r}"
    )


def dprime_table(
    conditions: Condition | Sequence[Condition],
    *,
    config: TrainConfig,
    observer: str = "ideal",
    transfer: bool = False,
    thresholds: bool = False,
    criterion: float = CRITERION,
) -> pd.DataFrame:
    """d' and ideal proportion correct of every condition (for choosing presets).

    Template distances depend only on (reference, separation, wavelength) and the config, so they
    are computed once per distinct triple and scaled by ``contrast / noise_sd``.

    Args:
        conditions: a `Condition` with ``()`` or ``(C,)`` leaves, or a sequence of them (e.g.
            ``vpl_jax.experiment.preset("demo").grid.conditions()``).
        config: the `TrainConfig` they are trained with (image size, Gabor SD, quantisation).
        observer: as in `ideal_observer`.
        transfer: add ``dprime_<test>`` columns for the four transfer tests.
        thresholds: add ``ideal_threshold_deg`` (`ideal_threshold` of the trained test at
            ``criterion``; one root search per distinct reference, wavelength and c / sigma).
        criterion: proportion correct of the threshold.

    Returns:
        One row per condition, in order: the `Condition` fields, ``image_size``,
        ``wavelength_image_px`` (the wavelength in pixels of the image), ``dprime`` and
        ``ideal_accuracy`` (the trained test at the condition's separation), optional columns.

    Raises:
        InputError: bad conditions, config or observer.
    """
    _check_config(config)
    factor = _observer_factor(observer)
    rows = _as_condition_list(conditions)
    fields = [f.name for f in dataclasses.fields(Condition)]
    table = pd.DataFrame({f: [float(np.asarray(getattr(c, f))) for c in rows] for f in fields})
    _check_condition(train.stack_conditions(rows), batched=True)
    key_cols = ["reference_deg", "separation_deg", "wavelength_px"]
    unique = table[key_cols].drop_duplicates().reset_index(drop=True)
    probe = Condition.create(
        unique.reference_deg.values,
        unique.separation_deg.values,
        unique.wavelength_px.values,
        1.0,
        1.0,
    )
    dist = np.asarray(_distance_batch(probe, config), np.float64)  # (U, 5)
    lookup = {tuple(r): i for i, r in enumerate(unique.itertuples(index=False, name=None))}
    idx = np.asarray([lookup[tuple(r)] for r in table[key_cols].itertuples(index=False, name=None)])
    c, s = table.contrast.values, table.noise_sd.values
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(s > 0, c * factor / np.where(s > 0, s, 1.0), np.inf)
    out = table.assign(
        image_size=config.image_size, wavelength_image_px=table.wavelength_px * config.scale
    )

    def dp(column):
        d = dist[idx, column]
        with np.errstate(invalid="ignore"):
            return np.where(d > 0, snr * d, 0.0)

    out["dprime"] = dp(0)
    out["ideal_accuracy"] = sps.norm.cdf(out["dprime"].values / 2.0)
    if transfer:
        for k, name in enumerate(train.TEST_CONDITIONS[1:], start=1):
            out[f"dprime_{name}"] = dp(k)
    if thresholds:
        cache: dict[tuple, float] = {}
        values = []
        for cond, row in zip(rows, table.itertuples(), strict=True):
            key = (row.reference_deg, row.wavelength_px, row.contrast / max(row.noise_sd, 1e-30))
            if row.noise_sd <= 0:
                values.append(0.0)
                continue
            if key not in cache:
                cache[key] = ideal_threshold(
                    cond, config=config, observer=observer, criterion=criterion
                )
            values.append(cache[key])
        out["ideal_threshold_deg"] = values
    return out


@functools.partial(jax.jit, static_argnames=("config",))
def _distance_batch(conditions: Condition, config: TrainConfig):
    """``(C, 5)`` template distances at each condition's own separation, 8 at a time."""

    def one(c):
        return _distances_at(c, c.separation_deg[None], config)[:, 0]

    return jax.lax.map(one, conditions, batch_size=8)


# --------------------------------------------------------------------------------------------
# Psychometric functions


def _g(model: str, u):
    return -np.expm1(-np.exp(u)) if model == "weibull" else ndtr(u)


def _g_inv(model: str, f):
    return np.log(-np.log1p(-f)) if model == "weibull" else ndtri(f)


def _psi(model, s, log_t, slope, lapse, guess, criterion):
    span = 1.0 - guess - lapse
    f_star = (criterion - guess) / span
    u = slope * (np.log(s) - log_t) + _g_inv(model, f_star)
    return guess + span * _g(model, u)


def psychometric_function(
    separation: ArrayLike,
    threshold: ArrayLike,
    slope: ArrayLike,
    lapse: ArrayLike = 0.0,
    *,
    model: str = "weibull",
    guess: float = GUESS_RATE,
    criterion: float = CRITERION,
) -> np.ndarray:
    r"""Proportion correct :math:`\psi(s)` of the module docstring's parametrisation.

    Args:
        separation: separations in degrees, > 0 (any shape).
        threshold: separation at which :math:`\psi = ` ``criterion``, > 0.
        slope: steepness :math:`\beta` in log separation, > 0 (the Weibull exponent).
        lapse: lapse rate in ``[0, 1 - criterion)``.

        The four array arguments broadcast against each other (NumPy rules).
        model: ``"weibull"`` or ``"log_gaussian"``.
        guess: guess rate (0.5).
        criterion: proportion correct at the threshold.

    Returns:
        Array of the broadcast shape of the arguments.

    Examples:
        >>> float(psychometric_function(2.0, threshold=2.0, slope=3.0))
        0.75
        >>> round(float(psychometric_function(1e3, 2.0, 3.0, lapse=0.02)), 3)
        0.98
    """
    _choice("model", model, MODELS)
    s = np.asarray(separation, np.float64)
    require("separation", s, lambda v: np.all(v > 0), "> 0 deg")
    require("threshold", threshold, lambda v: v > 0, "> 0 deg")
    require("slope", slope, lambda v: v > 0, "> 0")
    require("guess", guess, lambda v: (v >= 0) & (v < 1), "in [0, 1)")
    require("criterion", criterion, lambda v: (v > guess) & (v < 1), f"in ({guess}, 1)")
    require("lapse", lapse, lambda v: (v >= 0) & (v < 1 - criterion), f"in [0, {1 - criterion})")
    t, b, lap = (np.asarray(v, np.float64) for v in (threshold, slope, lapse))
    return np.asarray(_psi(model, s, np.log(t), b, lap, guess, criterion))


class PsychometricFit(NamedTuple):
    """A maximum-likelihood psychometric fit (`fit_psychometric`).

    Attributes:
        model: ``"weibull"`` or ``"log_gaussian"``.
        threshold: separation (deg) at which the fitted function equals ``criterion``.
        slope: steepness in log separation (the Weibull exponent).
        lapse: lapse rate (0 unless fitted).
        ci_low, ci_high: confidence interval of the threshold (0 / inf where the data cannot
            bound it within the search range; NaN without an interval).
        level: confidence level of the interval.
        ci_method: ``"profile"``, ``"bootstrap"`` or ``"none"``.
        loglik: maximised binomial log-likelihood (with the binomial coefficients).
        deviance: deviance against the saturated model.
        in_range: the threshold lies within the measured separations (outside, it is an
            extrapolation: look at the interval).
        guess, criterion: the guess rate and the threshold's proportion correct.
    """

    model: str
    threshold: float
    slope: float
    lapse: float
    ci_low: float
    ci_high: float
    level: float
    ci_method: str
    loglik: float
    deviance: float
    in_range: bool
    guess: float
    criterion: float

    def predict(self, separation) -> np.ndarray:
        """The fitted proportion correct at ``separation`` (deg)."""
        return psychometric_function(
            separation,
            self.threshold,
            self.slope,
            self.lapse,
            model=self.model,
            guess=self.guess,
            criterion=self.criterion,
        )


#: Search range of the slope parameter (log separation units).
_SLOPE_RANGE = (0.2, 30.0)
#: How far beyond the measured separations the threshold may lie.
_THRESHOLD_RANGE = 10.0


class _Problem(NamedTuple):
    model: str
    s: np.ndarray
    k: np.ndarray
    n: np.ndarray
    guess: float
    criterion: float
    lapse_max: float | None
    bounds_t: tuple[float, float]
    const: float

    def nll(self, log_t, log_slope, lapse):
        """Negative log-likelihood (without the binomial coefficients); broadcasts parameters."""
        log_t, log_slope, lapse = (
            np.asarray(v, np.float64)[..., None] for v in (log_t, log_slope, lapse)
        )
        p = _psi(self.model, self.s, log_t, np.exp(log_slope), lapse, self.guess, self.criterion)
        p = np.clip(p, 1e-12, 1.0 - 1e-12)
        return -np.sum(self.k * np.log(p) + (self.n - self.k) * np.log1p(-p), axis=-1)


_LOG_SLOPE_BOUNDS = (math.log(_SLOPE_RANGE[0]), math.log(_SLOPE_RANGE[1]))


def _problem(model, separation, accuracy, n_trials, guess, criterion, lapse_max) -> _Problem:
    s = np.asarray(separation, np.float64)
    a = np.asarray(accuracy, np.float64)
    require(
        "separation",
        s,
        lambda v: (v.ndim == 1) & np.all(np.isfinite(v) & (v > 0)),
        "a 1-d array of separations > 0 deg",
    )
    if s.size < 2 or np.unique(s).size < 2:
        raise InputError(f"separation must hold at least 2 distinct values, got {s.tolist()}")
    if a.shape != s.shape:
        raise InputError(f"accuracy must have the shape of separation {s.shape}, got {a.shape}")
    require("accuracy", a, lambda v: np.all(np.isfinite(v) & (v >= 0) & (v <= 1)), "in [0, 1]")
    try:
        n = np.broadcast_to(np.asarray(n_trials, np.float64), s.shape).copy()
    except ValueError:
        raise InputError(
            f"n_trials must be a scalar or of shape {s.shape}, got {np.shape(n_trials)}"
        ) from None
    require("n_trials", n, lambda v: np.all(np.isfinite(v) & (v >= 1)), ">= 1 trials per point")
    if lapse_max is not None:
        require(
            "lapse_max",
            lapse_max,
            lambda v: (v > 0) & (v < 1 - criterion),
            f"in (0, {1 - criterion}) or None",
        )
    k = a * n
    # log binomial coefficients (gamma functions: k may be fractional for mean p(correct))
    const = float(np.sum(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)))
    lo = float(np.log(s.min()) - math.log(_THRESHOLD_RANGE))
    hi = float(np.log(s.max()) + math.log(_THRESHOLD_RANGE))
    return _Problem(model, s, k, n, guess, criterion, lapse_max, (lo, hi), const)


def _inner(pb: _Problem, log_t: float, warm: tuple[float, float]) -> tuple[float, tuple]:
    """Minimum NLL at fixed ``log_t`` over the slope (and lapse): ``(nll, (log_slope, lapse))``.

    Bounded Brent over the log slope without a lapse; L-BFGS-B warm-started at ``warm`` with it.
    """
    if pb.lapse_max is None:
        res = optimize.minimize_scalar(
            lambda ls: float(pb.nll(log_t, ls, 0.0)),
            bounds=_LOG_SLOPE_BOUNDS,
            method="bounded",
            options={"xatol": 1e-6},
        )
        return float(res.fun), (float(res.x), 0.0)
    bounds = [_LOG_SLOPE_BOUNDS, (0.0, pb.lapse_max)]
    z0 = np.clip(np.asarray(warm, float), [b[0] for b in bounds], [b[1] for b in bounds])
    res = optimize.minimize(
        lambda z: float(pb.nll(log_t, z[0], z[1])), z0, method="L-BFGS-B", bounds=bounds
    )
    return float(res.fun), (float(res.x[0]), float(res.x[1]))


def _fit(pb: _Problem) -> tuple[float, float, float, float]:
    """MLE ``(log_t, log_slope, lapse, nll)``: a vectorised grid start, then the profile over
    ``log_t`` minimised by bounded Brent (`scipy.optimize.minimize_scalar`)."""
    grid_t = np.linspace(*pb.bounds_t, 41)
    grid_b = np.linspace(*_LOG_SLOPE_BOUNDS, 25)
    grid_l = [0.0] if pb.lapse_max is None else [0.0, 0.5 * pb.lapse_max, pb.lapse_max]
    tt, bb, ll = np.meshgrid(grid_t, grid_b, grid_l, indexing="ij")
    values = pb.nll(tt, bb, ll)
    i, j, m = np.unravel_index(np.argmin(values), values.shape)
    warm = [(float(grid_b[j]), float(grid_l[m]))]

    def profile(log_t):
        val, z = _inner(pb, log_t, warm[0])
        warm[0] = z
        return val

    lo, hi = grid_t[max(i - 1, 0)], grid_t[min(i + 1, grid_t.size - 1)]
    res = optimize.minimize_scalar(
        profile, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6}
    )
    log_t = float(res.x)
    # the bounded search never reaches its end points: snap to a search bound within tolerance
    for edge in pb.bounds_t:
        if abs(log_t - edge) < 1e-4 and profile(edge) <= res.fun + 1e-9:
            log_t = edge
    nll, (log_slope, lapse) = _inner(pb, log_t, warm[0])
    return log_t, log_slope, lapse, nll


def _profile_ci(pb: _Problem, log_t, z_other, nll_min, level):
    """Profile-likelihood interval of the threshold (0 / inf where the cut is not reached)."""
    crit = 0.5 * sps.chi2.ppf(level, 1)
    out = []
    for direction, bound in ((-1.0, pb.bounds_t[0]), (1.0, pb.bounds_t[1])):
        step, x_in, z = 0.05, log_t, tuple(z_other)
        found = None
        while True:
            x = log_t + direction * step
            if direction * (x - bound) >= 0:
                x = bound
            val, z = _inner(pb, x, z)
            if val - nll_min >= crit:
                found = x
                break
            if x == bound:
                break
            x_in, step = x, step * 1.6
        if found is None:
            out.append(0.0 if direction < 0 else math.inf)
            continue

        def h(x, z=z):
            return _inner(pb, x, z)[0] - nll_min - crit

        out.append(math.exp(optimize.brentq(h, min(x_in, found), max(x_in, found), xtol=1e-6)))
    return out[0], out[1]


def fit_psychometric(
    separation,
    accuracy,
    n_trials,
    *,
    model: str = "weibull",
    lapse_max: float | None = None,
    guess: float = GUESS_RATE,
    criterion: float = CRITERION,
    ci: str = "profile",
    level: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
) -> PsychometricFit:
    r"""Maximum-likelihood fit of a psychometric function to accuracy against separation.

    Binomial likelihood with ``k = accuracy * n_trials`` successes of ``n_trials`` per point
    (fractional ``k`` is allowed: the network's mean p(correct)); parameters :math:`\ln t`,
    :math:`\ln\beta` (and the lapse) by multi-start L-BFGS-B (``scipy.optimize.minimize``), the
    threshold searched within 10x beyond the measured separations and the slope in [0.2, 30].

    Confidence interval of the threshold: ``"profile"`` -- the profile-likelihood interval
    :math:`\{t: 2[\log L_{max} - \max_{\beta,\ell}\log L(t,\beta,\ell)] \le \chi^2_1(\text{level})\}`
    (0 or inf on a side where the search range does not reach the cut); ``"bootstrap"`` -- the
    percentile interval of ``n_boot`` refits to binomial samples of the fitted function
    (``numpy`` generator seeded with ``seed``; integer counts of ``round(n_trials)``);
    ``"none"``.

    Args:
        separation: ``(S,)`` separations in degrees, > 0, at least two distinct values.
        accuracy: ``(S,)`` proportions correct in [0, 1].
        n_trials: trials per point (scalar or ``(S,)``), >= 1.
        model: ``"weibull"`` (linear separation) or ``"log_gaussian"`` (ln separation).
        lapse_max: ``None`` (no lapse) or the upper bound of a fitted lapse rate.
        guess: guess rate (0.5 for this task).
        criterion: proportion correct defining the threshold (0.75).
        ci: ``"profile"``, ``"bootstrap"`` or ``"none"``.
        level: confidence level in (0, 1).
        n_boot: bootstrap samples (>= 20).
        seed: seed of the bootstrap's ``numpy.random.Generator``.

    Returns:
        A `PsychometricFit`.

    Raises:
        InputError: bad shapes or ranges, unknown ``model`` or ``ci``.

    Examples:
        >>> s = np.array([0.5, 1.0, 2.0, 5.0, 10.0])
        >>> p = psychometric_function(s, threshold=2.0, slope=2.0)
        >>> fit = fit_psychometric(s, p, 10_000)
        >>> round(fit.threshold, 2), round(fit.slope, 2), fit.ci_low < 2.0 < fit.ci_high
        (2.0, 2.0, True)
    """
    _choice("model", model, MODELS)
    _choice("ci", ci, ("profile", "bootstrap", "none"))
    require("guess", guess, lambda v: (v >= 0) & (v < 1), "in [0, 1)")
    require("criterion", criterion, lambda v: (v > guess) & (v < 1), f"in ({guess}, 1)")
    require("level", level, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    if not isinstance(n_boot, int) or n_boot < 20:
        raise InputError(f"n_boot must be an int >= 20, got {n_boot!r}")
    pb = _problem(model, separation, accuracy, n_trials, guess, criterion, lapse_max)
    log_t, log_slope, lapse, nll = _fit(pb)
    p_hat = _psi(model, pb.s, log_t, math.exp(log_slope), lapse, guess, criterion)
    with np.errstate(divide="ignore", invalid="ignore"):
        k, n = pb.k, pb.n
        term1 = np.where(k > 0, k * np.log(k / (n * p_hat)), 0.0)
        term2 = np.where(n - k > 0, (n - k) * np.log((n - k) / (n * (1 - p_hat))), 0.0)
    deviance = float(2.0 * np.sum(term1 + term2))
    in_range = bool(pb.s.min() <= math.exp(log_t) <= pb.s.max())
    z_other = (log_slope, lapse)
    if ci == "profile":
        ci_low, ci_high = _profile_ci(pb, log_t, z_other, nll, level)
    elif ci == "bootstrap":
        rng = np.random.default_rng(seed)
        n_int = np.maximum(np.round(pb.n), 1)
        ts = np.empty(n_boot)
        for b in range(n_boot):
            kb = rng.binomial(n_int.astype(np.int64), np.clip(p_hat, 0, 1))
            ts[b] = _fit(pb._replace(k=kb.astype(float), n=n_int))[0]
        q = np.quantile(ts, [(1 - level) / 2, (1 + level) / 2])
        ci_low = 0.0 if q[0] <= pb.bounds_t[0] + 1e-6 else float(math.exp(q[0]))
        ci_high = math.inf if q[1] >= pb.bounds_t[1] - 1e-6 else float(math.exp(q[1]))
    else:
        ci_low = ci_high = math.nan
    return PsychometricFit(
        model=model,
        threshold=math.exp(log_t),
        slope=math.exp(log_slope),
        lapse=lapse,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        level=float(level),
        ci_method=ci,
        loglik=float(-nll + pb.const),
        deviance=deviance,
        in_range=in_range,
        guess=float(guess),
        criterion=float(criterion),
    )


class Thresholds(NamedTuple):
    """Thresholds of many psychometric functions (`threshold_curves`), all of one shape.

    Attributes:
        threshold, ci_low, ci_high: degrees (see `PsychometricFit`).
        slope, lapse: the fitted shape parameters.
        in_range: the threshold lies within the measured separations.
    """

    threshold: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    slope: np.ndarray
    lapse: np.ndarray
    in_range: np.ndarray


def threshold_curves(
    accuracy,
    separation,
    n_trials,
    *,
    progress: bool = False,
    **fit_kwargs,
) -> Thresholds:
    """`fit_psychometric` for every leading index of an ``(..., S)`` accuracy array.

    Typical use: ``(C, E, S)`` accuracy of ``C`` networks at ``E`` evaluation iterations and
    ``S`` test separations gives each network's threshold over training, ``(C, E)``.

    Args:
        accuracy: ``(..., S)`` proportions correct.
        separation: ``(S,)`` separations in degrees.
        n_trials: trials per point (scalar, or broadcastable to ``accuracy``).
        progress: show a ``tqdm`` progress bar.
        **fit_kwargs: passed to `fit_psychometric` (``model``, ``lapse_max``, ``ci``, ...).

    Returns:
        `Thresholds` of arrays of shape ``accuracy.shape[:-1]``; an entry with non-finite
        accuracy gives NaN.

    Raises:
        InputError: the last axis of ``accuracy`` does not match ``separation``; bad fit
            arguments.
    """
    acc = np.asarray(accuracy, np.float64)
    s = np.asarray(separation, np.float64)
    if acc.ndim < 1 or s.ndim != 1 or acc.shape[-1] != s.shape[0]:
        raise InputError(
            f"accuracy must have shape (..., S) with S = len(separation) = {s.shape}, "
            f"got {acc.shape}"
        )
    n = np.broadcast_to(np.asarray(n_trials, np.float64), acc.shape)
    lead = acc.shape[:-1]
    out = {f: np.full(lead, np.nan) for f in ("threshold", "ci_low", "ci_high", "slope", "lapse")}
    out["in_range"] = np.zeros(lead, bool)
    indices = list(np.ndindex(*lead))
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, desc="psychometric fits")
    for idx in indices:
        a = acc[idx]
        if not np.all(np.isfinite(a)):
            continue
        fit = fit_psychometric(s, a, n[idx], **fit_kwargs)
        for f in ("threshold", "ci_low", "ci_high", "slope", "lapse"):
            out[f][idx] = getattr(fit, f)
        out["in_range"][idx] = fit.in_range
    return Thresholds(**out)


def run_thresholds(ds, *, variable: str = "accuracy", test: str = "trained", **fit_kwargs):
    """Thresholds over training from a run's results Dataset, across training separations.

    The results record accuracy over iterations only at each network's own training separation
    (``ds[variable]``: condition x iteration x test). Grouping the networks by stimulus cell
    (reference, wavelength, contrast, noise, learning rate), the accuracy of the networks trained
    at each separation forms, at every evaluation iteration, a psychometric function over
    separations; its threshold is the finest separation learned to 75 % by that iteration.

    Args:
        ds: results Dataset (`vpl_jax.experiment.results_dataset`); ``n_trials`` defaults to the
            run's ``test_pairs`` (read from ``ds.attrs["config"]``).
        variable: ``"accuracy"`` (mean p(correct), default) or ``"accuracy_sym"``.
        test: the test condition.
        **fit_kwargs: passed to `threshold_curves` (``model``, ``ci``, ``n_trials``, ...).

    Returns:
        ``(cells, thresholds)``: a DataFrame of the stimulus cells (one row each) and
        `Thresholds` of shape ``(cells, iteration)``, plus ``separations`` and ``iterations``
        attributes on the DataFrame (``cells.attrs``).

    Raises:
        InputError: the Dataset lacks the variable, the test, or a full separation set per cell.
    """
    if variable not in getattr(ds, "data_vars", {}):
        raise InputError(f"ds must be a results Dataset holding {variable!r}")
    tests = [str(t) for t in ds.test.values]
    _choice("test", test, tests)
    n_trials = fit_kwargs.pop("n_trials", None)
    if n_trials is None:
        try:
            n_trials = int(json.loads(ds.attrs["config"])["train"]["test_pairs"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "n_trials not given and ds.attrs['config'] has no train.test_pairs"
            ) from None
    fields = [f.name for f in dataclasses.fields(Condition) if f.name != "separation_deg"]
    frame = pd.DataFrame({f: np.asarray(ds[f].values, float) for f in fields})
    frame["separation_deg"] = np.asarray(ds.separation_deg.values, float)
    seps = np.sort(frame.separation_deg.unique())
    cells = frame[fields].drop_duplicates().reset_index(drop=True)
    acc = np.asarray(ds[variable].sel(test=test).values, float)  # (condition, iteration)
    out = np.full((len(cells), acc.shape[1], seps.size), np.nan)
    for ci, cell in enumerate(cells.itertuples(index=False)):
        mask = np.all(frame[fields].values == np.asarray(cell, float), axis=1)
        for j, s in enumerate(seps):
            rows = np.flatnonzero(mask & (frame.separation_deg.values == s))
            if rows.size != 1:
                raise InputError(
                    f"cell {dict(zip(fields, cell, strict=True))} has {rows.size} networks at "
                    f"separation {s}; run_thresholds needs exactly one per separation"
                )
            out[ci, :, j] = acc[rows[0]]
    thr = threshold_curves(out, seps, n_trials, **fit_kwargs)
    cells.attrs["separations"] = seps.tolist()
    cells.attrs["iterations"] = np.asarray(ds.iteration.values).tolist()
    return cells, thr


# --------------------------------------------------------------------------------------------
# Efficiency


def dprime_from_accuracy(accuracy, n_trials=None) -> np.ndarray:
    r"""The d' at which the ideal observer of this task scores ``accuracy``: :math:`2\Phi^{-1}(P)`.

    ``accuracy`` is clipped to ``[0.5, 1 - 1/(2 n)]`` (to ``[0.5, 1]`` without ``n_trials``), so
    chance or below gives 0 and a perfect score of ``n`` trials the d' of half a trial short of
    perfect (``inf`` without ``n_trials``).

    Examples:
        >>> float(dprime_from_accuracy(0.5)), round(float(dprime_from_accuracy(0.8413)), 3)
        (0.0, 2.0)
    """
    a = np.asarray(accuracy, np.float64)
    require(
        "accuracy",
        a,
        lambda v: np.all(~np.isfinite(v) | ((v >= 0) & (v <= 1))),
        "in [0, 1] (NaN allowed)",
    )
    hi = 1.0
    if n_trials is not None:
        n = np.asarray(n_trials, np.float64)
        require("n_trials", n, lambda v: np.all(v >= 1), ">= 1")
        hi = 1.0 - 0.5 / n
    return np.asarray(2.0 * sps.norm.ppf(np.clip(a, 0.5, hi)))


def efficiency(accuracy, ideal_dprime, n_trials=None) -> np.ndarray:
    r"""Efficiency at matched separation: :math:`(d'_{net} / d'_{ideal})^2` (NumPy broadcasting).

    Args:
        accuracy: the network's proportion correct at some separations (any shape).
        ideal_dprime: the ideal observer's d' at the same separations (broadcastable), > 0.
        n_trials: test trials behind ``accuracy`` (for the clipping of `dprime_from_accuracy`).

    Returns:
        Efficiency in [0, inf) (1 = ideal; above 1 only by sampling error).

    Examples:
        >>> round(float(efficiency(0.8413, 4.0)), 3)  # d'_net = 2 against 4
        0.25
    """
    d_ideal = np.asarray(ideal_dprime, np.float64)
    require("ideal_dprime", d_ideal, lambda v: np.all(v > 0), "> 0")
    d_net = dprime_from_accuracy(accuracy, n_trials)
    return np.asarray((d_net / d_ideal) ** 2)


def threshold_efficiency(network_threshold, ideal_threshold) -> np.ndarray:
    r"""Efficiency at matched performance: :math:`(t_{ideal} / t_{net})^2` (thresholds in deg).

    Equal to `efficiency` at the threshold where the ideal d' grows linearly with separation.
    NaN thresholds give NaN, an infinite network threshold 0.

    Examples:
        >>> round(float(threshold_efficiency(2.0, 0.5)), 4)
        0.0625
    """
    t_net = np.asarray(network_threshold, np.float64)
    t_ideal = np.asarray(ideal_threshold, np.float64)
    require("network_threshold", t_net, lambda v: np.all(~(v <= 0)), "> 0 (NaN allowed)")
    require("ideal_threshold", t_ideal, lambda v: np.all(~(v <= 0)), "> 0 (NaN allowed)")
    return np.asarray((t_ideal / t_net) ** 2)
