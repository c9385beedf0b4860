r"""Saxe's alpha/beta model beside a run's measured layer change (readout vs the conv stack).

Saxe, *A deep learning theory of perceptual learning dynamics*, reduces gradient descent in a
3-layer linear network with orientation-tuned inputs to two numbers: alpha, the change of the
input layer, and beta, the strength of the decision layer (`theory.saxe`). Two of its
predictions can be set beside the networks of Wenliang & Seitz (2018), *Deep neural networks for
modeling visual perceptual learning*:

1. **The decision layer changes first**: the half-time of beta is shorter than that of alpha for
   every task.
2. **The ratio of higher- to lower-layer change falls as the task gets finer**: beta/alpha at the
   end of learning grows with the task's discriminability ``v`` (towards sqrt(2) for the finest
   tasks).

Correspondence (`layer_groups`). The decision layer is the readout; the lower layer is the conv
stack, whose change is the mean of the chosen measure over ``conv1..conv5`` (layers in the order
of the ``layer`` axis of the results, docs/architecture.md). Conditions with the same training
separation are averaged.

The fit (`fit_alpha_beta`). A network trained at separation ``s`` (deg) is compared with the
model task of separation ``k s`` in the model's own population (`theory.tuning.task_vectors`:
180 von Mises neurons, kappa 2, reference 45 deg), so ``v_s = v(k s)``; iteration ``t`` is model
time ``t / tau`` (``c = 1``, ``beta0 = 0``; the closed form `theory.saxe.closed_form`). The
measures' units are arbitrary, so what is compared is (a) the *shape* of every trajectory, each
divided by its value at the last evaluation iteration ``T`` (readout vs ``beta(t)/beta(T)``,
stack vs ``alpha(t)/alpha(T)``), and (b) how the final ratio readout / stack changes across
separations (vs ``a * beta(T)/alpha(T)``, with one free scale ``a``: the *size* of beta against
alpha is not tested). Two parameters, ``k`` and ``tau``, for every separation at once, minimise
``(1 - R^2 of the shapes) + (1 - R^2 of the log ratios)`` (a grid over log k and log tau, then
Nelder-Mead); ``a`` is the geometric-mean ratio given k and tau.

Quality (`AlphaBetaFit.quality`): R^2 of the shapes over all points after iteration 0 and per
group, R^2 of the log ratios; per separation, the measured and model half-times (the iteration at
which a trajectory first reaches half its value at ``T``, by linear interpolation between
evaluation iterations; the model on a dense grid by the same rule) and the measured and model
final ratios; the Spearman correlation of the measured final ratio with the separation (the
model's prediction: positive) and its p value; the fraction of separations where the readout's
half-time is the shorter (the model: all).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats
import xarray as xr

from theory import saxe
from theory import tuning as theory_tuning
from theory.checks import InputError
from vpl_jax.analysis.behaviour import check_dataset, group_by_separation
from vpl_jax.analysis.plasticity import CONV_LAYERS

__all__ = [
    "GROUPS",
    "AlphaBetaFit",
    "describe",
    "fit_alpha_beta",
    "half_time",
    "layer_groups",
    "model_curves",
    "model_ratio",
    "spearman_rises",
]

#: The two layer groups, decision layer first.
GROUPS: tuple[str, ...] = ("readout", "stack")
#: Largest model separation (deg): beyond 90 deg v(dtheta) of the population stops growing.
_MAX_MODEL_DEG = 90.0
_MIN_MODEL_DEG = 0.05
_DENSE = 400


class AlphaBetaFit(NamedTuple):
    """The alpha/beta model fitted to a run's layer change.

    Attributes:
        params: ``{"k", "tau", "ratio_scale", "t_final"}``: ``k`` maps a training separation to
            the model's (deg per deg), ``tau`` is in iterations, ``ratio_scale`` is ``a``, and
            ``t_final`` the last evaluation iteration ``T`` (NaN when not testable).
        curves: Dataset over (separation, iteration, group), ``group`` = `GROUPS`:
            ``measured`` (group means), ``measured_shape`` and ``model_shape`` (divided by the
            value at ``T``); over separation: ``ratio``, ``model_ratio`` and ``v`` (the model
            discriminability).
        table: one row per separation: ``separation``, ``n`` (conditions), measured and model
            half-times (``t_half_readout``, ``t_half_stack``, ``model_t_half_readout``,
            ``model_t_half_stack``), ``ratio``, ``model_ratio``, ``readout_first``, ``v`` and
            ``model_separation`` (``k s``).
        quality: ``r2``, ``r2_readout``, ``r2_stack``, ``r2_ratio``, ``ratio_spearman``,
            ``ratio_p`` (one-sided: the ratio rises), ``readout_first_fraction``,
            ``model_readout_first_fraction``, ``k_at_bound``, ``testable`` and ``reason`` (why
            not, or what is not tested; else "").
        measure: the layer-change measure fitted.
    """

    params: dict
    curves: xr.Dataset
    table: pd.DataFrame
    quality: dict
    measure: str


# --------------------------------------------------------------------------------------------
# Data


def layer_groups(ds, *, measure: str = "d_rel1", stack_layers: Sequence[str] = CONV_LAYERS):
    """The readout's and the conv stack's change, ``(condition, iteration, group)``.

    ``stack`` is the mean of ``measure`` over ``stack_layers`` (default conv1..conv5).

    Raises:
        InputError: ``ds`` is not a results Dataset with ``layer_change``, or ``measure`` or a
            layer is not in it.
    """
    check_dataset(ds, ["layer_change", "separation_deg"])
    measures = [str(m) for m in ds.measure.values]
    if measure not in measures:
        raise InputError(f"measure must be one of {tuple(measures)}, got {measure!r}")
    layers = [str(x) for x in ds.layer.values]
    stack_layers = [stack_layers] if isinstance(stack_layers, str) else list(stack_layers)
    missing = [x for x in [*stack_layers, "readout"] if x not in layers]
    if missing or not stack_layers:
        raise InputError(
            f"stack_layers must be a non-empty list of layers of ds {tuple(layers)} and ds must "
            f"hold the readout; missing {missing}"
        )
    change = ds.layer_change.sel(measure=measure)
    readout = change.sel(layer="readout", drop=True)
    stack = change.sel(layer=stack_layers).mean("layer")
    out = xr.concat([readout, stack], dim=pd.Index(list(GROUPS), name="group"))
    return out.transpose("condition", "iteration", "group")


def half_time(iterations, values) -> np.ndarray:
    """First iteration at which each trajectory reaches half its last value (linear
    interpolation between evaluation iterations); NaN where the last value is not positive.

    Args:
        iterations: ``(E,)`` increasing.
        values: ``(..., E)``.

    Examples:
        >>> half_time([0, 10, 20], [0.0, 1.0, 2.0])
        array(10.)
        >>> float(half_time([0, 10], [0.0, 0.0]))
        nan
    """
    its = np.asarray(iterations, float)
    y = np.asarray(values, float)
    if its.ndim != 1 or y.shape[-1] != its.size or its.size < 2 or np.any(np.diff(its) <= 0):
        raise InputError(
            f"iterations must be increasing, shape (E,) with E >= 2, and values (..., E); got "
            f"{its.shape} and {y.shape}"
        )
    flat = y.reshape(-1, its.size)
    out = np.full(flat.shape[0], np.nan)
    for i, row in enumerate(flat):
        half = 0.5 * row[-1]
        if not (np.all(np.isfinite(row)) and row[-1] > 0):
            continue
        j = int(np.argmax(row >= half))  # first index at or above half (exists: the last)
        if j == 0:
            out[i] = its[0]
            continue
        y0, y1 = row[j - 1], row[j]
        out[i] = its[j - 1] + (half - y0) / (y1 - y0) * (its[j] - its[j - 1])
    return out.reshape(y.shape[:-1])


# --------------------------------------------------------------------------------------------
# The model


@jax.jit
def _alpha_beta(t, v):
    """alpha, beta of ``closed_form`` for tasks ``v (N,)`` at times ``t (N, E)``."""
    return jax.vmap(lambda ti, vi: saxe.closed_form(ti, vi))(t, v)


@functools.lru_cache(maxsize=1)
def _v_table() -> tuple[np.ndarray, np.ndarray]:
    deg = np.geomspace(_MIN_MODEL_DEG, _MAX_MODEL_DEG, 256)
    v = np.asarray(theory_tuning.task_vectors(np.deg2rad(deg)).v, float)
    return np.log(deg), np.log(v)


def _v_of_deg(deg) -> np.ndarray:
    """v of the model task of separation ``deg`` (log-log interpolation of `task_vectors`)."""
    log_deg, log_v = _v_table()
    return np.exp(np.interp(np.log(np.asarray(deg, float)), log_deg, log_v))


def _model(k, tau, separations, iterations) -> np.ndarray:
    """``(S, E, 2)`` model beta (readout) and alpha (stack) with unit amplitudes."""
    seps = np.asarray(separations, float)
    its = np.asarray(iterations, float)
    v = _v_of_deg(k * seps).astype(np.float32)
    t = np.broadcast_to(its[None, :] / tau, (seps.size, its.size)).astype(np.float32)
    alpha, beta = jax.device_get(_alpha_beta(jnp.asarray(t), jnp.asarray(v)))
    return np.stack([np.asarray(beta, float), np.asarray(alpha, float)], axis=-1)


def _check_params(params) -> None:
    for name in ("k", "tau", "ratio_scale", "t_final"):
        value = params.get(name) if isinstance(params, dict) else None
        if not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
            raise InputError(f"params[{name!r}] must be a finite number > 0, got {value!r}")


def model_curves(params: dict, separations, iterations) -> np.ndarray:
    """The fitted model's trajectories, each divided by its value at ``params["t_final"]``.

    Args:
        params: `AlphaBetaFit.params`.
        separations: training separations (deg), ``(S,)``.
        iterations: ``(E,)`` iterations >= 0.

    Returns:
        ``(S, E, 2)``: ``beta`` (readout) and ``alpha`` (stack) of the model task of separation
        ``k s`` at model time ``t / tau``, over their values at ``t_final``.

    Raises:
        InputError: a parameter missing or not positive, or a model separation ``k s`` outside
            [0.05, 90] deg.
    """
    _check_params(params)
    seps = np.atleast_1d(np.asarray(separations, float))
    model_deg = params["k"] * seps
    if np.any(model_deg < _MIN_MODEL_DEG * (1 - 1e-6)) or np.any(
        model_deg > _MAX_MODEL_DEG * (1 + 1e-6)
    ):
        raise InputError(
            f"k * separations must lie in [{_MIN_MODEL_DEG}, {_MAX_MODEL_DEG}] deg, got "
            f"{model_deg.tolist()}"
        )
    its = np.asarray(iterations, float)
    unit = _model(params["k"], params["tau"], seps, np.append(its, params["t_final"]))
    return unit[:, :-1] / unit[:, -1:]


def model_ratio(params: dict, separations) -> np.ndarray:
    """The fitted model's final readout / stack ratio, ``ratio_scale * beta / alpha`` at
    ``t_final``, per separation."""
    _check_params(params)
    seps = np.atleast_1d(np.asarray(separations, float))
    unit = _model(params["k"], params["tau"], seps, [params["t_final"]])
    return params["ratio_scale"] * unit[:, 0, 0] / unit[:, 0, 1]


# --------------------------------------------------------------------------------------------
# The fit


def spearman_rises(x, y) -> tuple[float, float]:
    """Spearman's rho of ``y`` against ``x`` and the one-sided p of "y rises with x": exact (all
    permutations) for up to 8 points, scipy's t approximation above.

    Examples:
        >>> rho, p = spearman_rises([1, 2, 3, 4, 5], [1, 3, 2, 5, 9])
        >>> round(rho, 2), round(p, 4)  # 4 of the 120 orderings have rho >= 0.9
        (0.9, 0.0417)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise InputError(f"x and y must be 1-d of one length >= 3, got {x.shape} and {y.shape}")
    rho = float(scipy.stats.spearmanr(x, y).statistic)
    if x.size > 8:
        return rho, float(scipy.stats.spearmanr(x, y, alternative="greater").pvalue)
    ry = scipy.stats.rankdata(y)
    rx = scipy.stats.rankdata(x)
    perms = np.array(list(itertools.permutations(ry)))
    rhos = np.array([np.corrcoef(rx, row)[0, 1] for row in perms])
    return rho, float(np.mean(rhos >= rho - 1e-12))


def _r2(data, fit) -> float:
    data, fit = np.asarray(data, float), np.asarray(fit, float)
    sst = float(np.sum((data - data.mean()) ** 2))
    return float(1.0 - np.sum((data - fit) ** 2) / sst) if sst > 0 else np.nan


def _empty_quality(reason: str) -> dict:
    return dict(
        r2=np.nan,
        r2_readout=np.nan,
        r2_stack=np.nan,
        r2_ratio=np.nan,
        ratio_spearman=np.nan,
        ratio_p=np.nan,
        readout_first_fraction=np.nan,
        model_readout_first_fraction=np.nan,
        k_at_bound=False,
        testable=False,
        reason=reason,
    )


def fit_alpha_beta(
    ds,
    *,
    measure: str = "d_rel1",
    stack_layers: Sequence[str] = CONV_LAYERS,
    grid_size: int = 16,
) -> AlphaBetaFit:
    """Fit the alpha/beta model to a run's readout and conv-stack change (module docstring).

    Args:
        ds: results Dataset (`vpl_jax.experiment.results_dataset`, ``results.nc`` of a run).
        measure: the layer-change measure (``d_rel1``, as in the paper's Fig. 3).
        stack_layers: the layers averaged into the stack's change.
        grid_size: points per axis of the initial grid over log k and log tau.

    Returns:
        An `AlphaBetaFit`. A run the fit cannot test (fewer than 3 evaluation iterations after
        iteration 0, a group that never changes, non-finite values) gets NaN parameters and
        quality, ``quality["testable"] = False`` and the reason.

    Raises:
        InputError: a bad Dataset, measure or layer list, or ``grid_size < 4``.
    """
    if not isinstance(grid_size, int) or grid_size < 4:
        raise InputError(f"grid_size must be an int >= 4, got {grid_size!r}")
    groups = layer_groups(ds, measure=measure, stack_layers=stack_layers)
    grouped = group_by_separation(groups, ds)
    mean = grouped["mean"].transpose("separation", "iteration", "group")
    seps = mean.separation.values.astype(float)
    its = mean.iteration.values.astype(float)
    data = np.asarray(mean.values, float)
    final = data[:, -1, :]  # (S, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = data / final[:, None, :]
        ratio = final[:, 0] / final[:, 1]
    nan = np.full(data.shape, np.nan)
    coords = {"separation": seps, "iteration": mean.iteration.values, "group": list(GROUPS)}
    dims = ("separation", "iteration", "group")
    curves = xr.Dataset(
        {
            "measured": (dims, data),
            "measured_shape": (dims, shape),
            "model_shape": (dims, nan),
            "ratio": ("separation", ratio),
            "model_ratio": ("separation", np.full(seps.size, np.nan)),
            "v": ("separation", np.full(seps.size, np.nan)),
        },
        coords=coords,
    )
    curves.separation.attrs["units"] = "deg"
    t_half = half_time(its, np.moveaxis(data, -1, 0))  # (2, S)
    table = pd.DataFrame(
        {
            "separation": seps,
            "n": grouped["n"].isel(iteration=0, group=0).values.astype(int),
            "t_half_readout": t_half[0],
            "t_half_stack": t_half[1],
            "ratio": ratio,
        }
    )
    table["readout_first"] = table.t_half_readout < table.t_half_stack
    params = dict.fromkeys(("k", "tau", "ratio_scale", "t_final"), np.nan)

    def untestable(reason: str) -> AlphaBetaFit:
        return AlphaBetaFit(params, curves, table, _empty_quality(reason), measure)

    if np.sum(its > 0) < 3:
        return untestable("fewer than 3 evaluation iterations after iteration 0")
    if not np.all(np.isfinite(data)):
        return untestable("non-finite layer change")
    if not np.all(final > 0):
        still = sorted(
            {g for g, ok in zip(GROUPS, np.all(final > 0, axis=0), strict=True) if not ok}
        )
        return untestable(f"no change by the last iteration in {still}")
    k_lo, k_hi = _MIN_MODEL_DEG / seps.min(), _MAX_MODEL_DEG / seps.max()
    if k_lo > k_hi:
        return untestable(f"the separations span more than {_MAX_MODEL_DEG / _MIN_MODEL_DEG:g}x")

    later = its > 0
    log_ratio = np.log(ratio)
    use_ratio = seps.size >= 2 and np.ptp(log_ratio) > 0
    t_final = float(its[-1])

    def predict(log_k, log_tau):
        unit = _model(np.exp(log_k), np.exp(log_tau), seps, its)
        with np.errstate(divide="ignore", invalid="ignore"):
            return unit / unit[:, -1:, :], unit[:, -1, 0] / unit[:, -1, 1]

    def loss(x) -> float:
        lk = float(np.clip(x[0], np.log(k_lo), np.log(k_hi)))
        lt = float(np.clip(x[1], np.log(t_lo), np.log(t_hi)))
        model_shape, model_ratio_ = predict(lk, lt)
        value = 1.0 - _r2(shape[:, later], model_shape[:, later])
        if use_ratio:
            resid = log_ratio - np.log(model_ratio_)
            value += 1.0 - _r2(log_ratio, resid.mean() + np.log(model_ratio_))
        return value if np.isfinite(value) else np.inf

    t_lo, t_hi = its[later][0] / 10.0, t_final * 10.0
    grid_k = np.linspace(np.log(k_lo), np.log(k_hi), grid_size)
    grid_t = np.linspace(np.log(t_lo), np.log(t_hi), grid_size)
    losses = np.array([[loss((lk, lt)) for lt in grid_t] for lk in grid_k])
    i, j = np.unravel_index(np.argmin(losses), losses.shape)
    start = np.array([grid_k[i], grid_t[j]])
    best = scipy.optimize.minimize(
        loss, x0=start, method="Nelder-Mead", options=dict(xatol=1e-4, fatol=1e-9, maxiter=300)
    )
    x = best.x if best.fun <= losses[i, j] else start
    log_k = float(np.clip(x[0], np.log(k_lo), np.log(k_hi)))
    log_tau = float(np.clip(x[1], np.log(t_lo), np.log(t_hi)))
    model_shape, unit_ratio = predict(log_k, log_tau)
    scale = float(np.exp(np.mean(log_ratio - np.log(unit_ratio))))
    params = {
        "k": float(np.exp(log_k)),
        "tau": float(np.exp(log_tau)),
        "ratio_scale": scale,
        "t_final": t_final,
    }
    curves["model_shape"] = (dims, model_shape)
    curves["model_ratio"] = ("separation", scale * unit_ratio)
    curves["v"] = ("separation", _v_of_deg(params["k"] * seps))
    table["v"] = curves["v"].values
    table["model_separation"] = params["k"] * seps
    dense = np.linspace(0.0, t_final, _DENSE)
    m_half = half_time(dense, np.moveaxis(model_curves(params, seps, dense), -1, 0))
    table["model_t_half_readout"], table["model_t_half_stack"] = m_half[0], m_half[1]
    table["model_ratio"] = curves["model_ratio"].values

    rho, p = spearman_rises(seps, ratio) if seps.size >= 3 else (np.nan, np.nan)
    quality = dict(
        r2=_r2(shape[:, later], model_shape[:, later]),
        r2_readout=_r2(shape[:, later, 0], model_shape[:, later, 0]),
        r2_stack=_r2(shape[:, later, 1], model_shape[:, later, 1]),
        r2_ratio=_r2(log_ratio, np.log(curves["model_ratio"].values)) if use_ratio else np.nan,
        ratio_spearman=rho,
        ratio_p=p,
        readout_first_fraction=float(np.mean(table.readout_first)),
        model_readout_first_fraction=float(
            np.mean(table.model_t_half_readout < table.model_t_half_stack)
        ),
        k_at_bound=bool(np.isclose(log_k, np.log(k_lo)) or np.isclose(log_k, np.log(k_hi))),
        testable=True,
        reason="" if seps.size >= 3 else "fewer than 3 separations: the ratio trend is not tested",
    )
    return AlphaBetaFit(params, curves, table, quality, measure)


def describe(fit: AlphaBetaFit) -> str:
    """The fit and its quality in a few sentences (for reports and figure titles)."""
    q = fit.quality
    if not q["testable"]:
        return f"alpha/beta model not fitted: {q['reason']}."
    p = fit.params
    n = len(fit.table)
    first = int(round(q["readout_first_fraction"] * n))
    text = (
        f"Saxe's alpha/beta model fitted to {fit.measure} of the readout (beta) and the conv "
        f"stack (alpha), {n} separation(s): k = {p['k']:.3g} model deg per training deg, "
        f"tau = {p['tau']:.3g} iterations. Trajectory shapes R^2 = {q['r2']:.2f} (readout "
        f"{q['r2_readout']:.2f}, stack {q['r2_stack']:.2f}). Readout half-time the shorter "
        f"at {first}/{n} separations (model: always)."
    )
    if q["k_at_bound"]:
        text += " (k at the edge of its range: model separations 0.05-90 deg.)"
    if np.isfinite(q["ratio_spearman"]):
        text += (
            f" Final readout/stack ratio vs separation: Spearman {q['ratio_spearman']:.2f}, "
            f"p = {q['ratio_p']:.2g} (model: rises); log-ratio R^2 = {q['r2_ratio']:.2f}."
        )
    else:
        text += f" Ratio trend not tested ({q['reason']})."
    return text
