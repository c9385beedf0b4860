"""Psychophysics figure: psychometric functions, thresholds over training, efficiency.

`psychophysics_figure` draws

* **A** -- accuracy against separation (log axis) of a few networks (or groups of networks), with
  binomial standard errors, the fitted psychometric function (`vpl_jax.psychophysics`), each
  threshold at 75 % with its confidence interval, and the ideal observer's curve;
* **B** -- each network's threshold over training iterations (log-log), with its interval and
  the ideal observer's threshold (only with per-iteration accuracies or thresholds);
* **C** -- efficiency relative to the ideal observer over training, :math:`(t_{ideal} /
  t_{net})^2` (only with an ideal threshold as well).

The function takes plain arrays (so it serves the per-network separation sweep as well as
psychometric functions across networks trained at different separations) and returns a
``matplotlib.figure.Figure`` made without pyplot (no global state; the caller saves it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from jaxtyping import ArrayLike
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from theory.checks import InputError
from vpl_jax import psychophysics
from vpl_jax.figures import style

__all__ = ["psychophysics_figure"]


def _fmt(value, _pos=None) -> str:
    return f"{value:g}"


def _log_axis(axis, lo: float, hi: float) -> None:
    """Readable log ticks as plain numbers: 1, 2, 5 per decade (0.5, 1, 2, 5, 10 ...) over up to
    three decades, one per decade beyond."""
    wide = not (np.isfinite(lo) and np.isfinite(hi) and lo > 0 and hi / lo <= 1e3)
    axis.set_major_locator(LogLocator(base=10.0, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(_fmt))
    axis.set_minor_formatter(NullFormatter())


def _colors(n: int):
    cmap = colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.85, max(n, 1))]


def _check(separations, accuracy, labels, accuracy_over_training, iterations, thresholds):
    s = np.asarray(separations, np.float64)
    acc = np.asarray(accuracy, np.float64)
    if s.ndim != 1 or s.size < 2 or not np.all(s > 0):
        raise InputError(f"separations must be a 1-d array of >= 2 values > 0, got {s.tolist()}")
    if acc.ndim == 1:
        acc = acc[None]
    if acc.ndim != 2 or acc.shape[1] != s.size:
        raise InputError(f"accuracy must have shape (N, {s.size}), got {np.shape(accuracy)}")
    n = acc.shape[0]
    labels = [f"network {i}" for i in range(n)] if labels is None else [str(v) for v in labels]
    if len(labels) != n:
        raise InputError(f"labels must hold {n} names (one per accuracy row), got {len(labels)}")
    its = None
    if accuracy_over_training is not None or thresholds is not None:
        if iterations is None:
            raise InputError("iterations must be given with accuracy_over_training or thresholds")
        its = np.asarray(iterations, np.float64)
        if its.ndim != 1 or np.any(its < 0):
            raise InputError(f"iterations must be a 1-d array of values >= 0, got {its.tolist()}")
    if accuracy_over_training is not None:
        aot = np.asarray(accuracy_over_training, np.float64)
        if aot.shape != (n, its.size, s.size):
            raise InputError(
                f"accuracy_over_training must have shape {(n, its.size, s.size)}, got {aot.shape}"
            )
    if thresholds is not None and np.shape(thresholds.threshold) != (n, its.size):
        raise InputError(
            f"thresholds must have shape {(n, its.size)}, got {np.shape(thresholds.threshold)}"
        )
    return s, acc, labels, its


def _panel_psychometric(ax, s, acc, n_trials, labels, colors, model, ideal, level):
    lo_x, hi_x = s.min() / 1.5, s.max() * 1.5
    if ideal is not None:  # show the ideal observer's rise too (it is often far finer)
        xs, ys = (np.asarray(v, np.float64) for v in ideal)
        rising = xs[(ys > 0.51) & (ys < 0.99)]
        if rising.size:
            lo_x = min(lo_x, rising.min() / 1.5)
    fine = np.geomspace(lo_x, hi_x, 200)
    n = np.broadcast_to(np.asarray(n_trials, np.float64), acc.shape)
    for i, (row, label, color) in enumerate(zip(acc, labels, colors, strict=True)):
        se = np.sqrt(np.clip(row * (1 - row), 0, None) / n[i])
        ax.errorbar(s, row, yerr=se, fmt="o", ms=4, color=color, capsize=2, label=label)
        if not np.all(np.isfinite(row)):
            continue
        fit = psychophysics.fit_psychometric(s, row, n[i], model=model, level=level)
        ax.plot(fine, fit.predict(fine), color=color, lw=1.2)
        t = min(max(fit.threshold, lo_x), hi_x)
        lo = lo_x if fit.ci_low <= lo_x else fit.ci_low
        hi = hi_x if not math.isfinite(fit.ci_high) or fit.ci_high > hi_x else fit.ci_high
        y = fit.criterion - 0.012 * (i + 1)
        ax.plot([lo, hi], [y, y], color=color, lw=2, solid_capstyle="butt")
        ax.plot([t], [y], marker="v", color=color, ms=6, mec="k", mew=0.5)
        if not math.isfinite(fit.ci_high) or fit.ci_high > hi_x:
            ax.plot([hi], [y], marker=">", color=color, ms=5)
        if fit.ci_low <= lo_x:
            ax.plot([lo], [y], marker="<", color=color, ms=5)
    handles, names = ax.get_legend_handles_labels()
    if ideal is not None:
        xs, ys = (np.asarray(v, np.float64) for v in ideal)
        (line,) = ax.plot(xs, ys, "k--", lw=1.2)
        handles.append(line)
        names.append("ideal observer")
    ax.axhline(0.5, color="0.5", lw=0.6)
    ax.axhline(psychophysics.CRITERION, color="0.5", lw=0.6, ls=":")
    handles += [
        Line2D([], [], color="0.3", lw=1.2),
        Line2D([], [], color="0.3", marker="v", lw=2, ms=6, mec="k", mew=0.5),
        Line2D([], [], color="0.5", lw=0.6, ls=":"),
    ]
    names += [
        f"{model.replace('_', ' ')} fit",
        f"75 % threshold, {100 * level:g} % CI (arrow: unbounded)",
        "75 % / chance",
    ]
    ax.set_xscale("log")
    _log_axis(ax.xaxis, lo_x, hi_x)
    ax.set(
        xlim=(lo_x, hi_x),
        ylim=(0.4, 1.02),
        xlabel="separation (deg)",
        ylabel="accuracy (p correct)",
        title="psychometric functions",
    )
    style.legend_outside(ax, where="below", handles=handles, labels=names, ncol=1,
                         title="points: mean ± binomial SE")  # fmt: skip


def _x_iterations(its: np.ndarray) -> np.ndarray:
    return np.where(its == 0, 0.5, its)


def _panel_thresholds(ax, its, thr, labels, colors, ideal_threshold, level):
    x = _x_iterations(its)
    finite = thr.threshold[np.isfinite(thr.threshold)]
    top = 10 * (np.nanmax(finite) if finite.size else 10.0)
    bottom = 0.1 * (np.nanmin(finite) if finite.size else 0.1)
    if ideal_threshold is not None:
        bottom = min(bottom, 0.5 * ideal_threshold)
    for i, (label, color) in enumerate(zip(labels, colors, strict=True)):
        t = thr.threshold[i]
        lo = np.where(thr.ci_low[i] > 0, thr.ci_low[i], bottom)
        hi = np.where(np.isfinite(thr.ci_high[i]), thr.ci_high[i], top)
        ax.plot(x, t, color=color, lw=1.2, label=label)
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
        out = ~thr.in_range[i] & np.isfinite(t)
        ax.plot(x[out], t[out], "o", mfc="white", mec=color, ms=4)
    handles, names = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], marker="o", mfc="white", mec="0.3", ls=""),
        Line2D([], [], color="0.6", lw=6, alpha=0.4),
    ]
    names += ["outside the tested separations", f"{100 * level:g} % CI"]
    if ideal_threshold is not None:
        handles.append(ax.axhline(ideal_threshold, color="k", ls="--", lw=1.2))
        names.append(f"ideal observer ({ideal_threshold:.3g} deg)")
    ax.set(
        xscale="log",
        yscale="log",
        ylim=(bottom, top),
        xlabel="iteration (0 drawn at 0.5)",
        ylabel="75 % threshold (deg)",
        title="threshold over training",
    )
    _log_axis(ax.yaxis, bottom, top)
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt))
    style.legend_outside(ax, where="below", handles=handles, labels=names, ncol=1)


def _panel_efficiency(ax, its, thr, labels, colors, ideal_threshold):
    x = _x_iterations(its)
    effs = []
    for i, (label, color) in enumerate(zip(labels, colors, strict=True)):
        eff = psychophysics.threshold_efficiency(thr.threshold[i], ideal_threshold)
        ax.plot(x, eff, color=color, marker=".", label=label)
        effs.append(eff)
    positive = np.concatenate(effs)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="iteration (0 drawn at 0.5)",
        ylabel="efficiency (t_ideal / t)^2",
        title="efficiency vs the ideal observer",
    )
    _log_axis(ax.yaxis, *(positive.min(), positive.max()) if positive.size else (1.0, 1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt))
    style.legend_outside(ax, where="below", ncol=1)


@style.styled
def psychophysics_figure(
    separations: ArrayLike | Sequence[float],
    accuracy: ArrayLike | Sequence,
    n_trials,
    *,
    labels: Sequence[str] | None = None,
    model: str = "weibull",
    ideal: tuple[ArrayLike, ArrayLike] | None = None,
    iterations: ArrayLike | Sequence[float] | None = None,
    accuracy_over_training=None,
    thresholds: psychophysics.Thresholds | None = None,
    ideal_threshold: float | None = None,
    level: float = 0.95,
) -> Figure:
    """Psychometric functions, thresholds over training and efficiency (panels lettered A, B, C).

    Args:
        separations: ``(S,)`` separations in degrees.
        accuracy: ``(N, S)`` (or ``(S,)``) proportions correct of ``N`` networks or groups,
            e.g. the final separation sweep ``separation_accuracy.sel(test="trained")``.
        n_trials: test trials behind each accuracy (scalar or ``(N, S)``).
        labels: ``N`` legend names (default ``network i``).
        model: psychometric model of `vpl_jax.psychophysics.fit_psychometric`.
        ideal: ``(separations, accuracy)`` of the ideal observer's curve
            (`vpl_jax.psychophysics.ideal_curve`), drawn dashed in panel A.
        iterations: ``(E,)`` evaluation iterations (panels B and C).
        accuracy_over_training: ``(N, E, S)`` accuracies, fitted per iteration for panel B.
        thresholds: precomputed ``(N, E)`` `vpl_jax.psychophysics.Thresholds` (instead).
        ideal_threshold: the ideal observer's threshold in degrees (panel B line, panel C).
        level: confidence level of the intervals.

    Returns:
        A ``matplotlib.figure.Figure`` with one, two or three panels.

    Raises:
        InputError: shapes that do not match, missing ``iterations``, a bad ``ideal_threshold``.
    """
    s, acc, labels, its = _check(
        separations, accuracy, labels, accuracy_over_training, iterations, thresholds
    )
    if model not in psychophysics.MODELS:
        raise InputError(f"model must be one of {list(psychophysics.MODELS)}, got {model!r}")
    if ideal_threshold is not None and not (np.isfinite(ideal_threshold) and ideal_threshold > 0):
        raise InputError(f"ideal_threshold must be a finite value > 0 deg, got {ideal_threshold}")
    if thresholds is None and accuracy_over_training is not None:
        n = np.broadcast_to(np.asarray(n_trials, np.float64), acc.shape)[:, None, :]
        thresholds = psychophysics.threshold_curves(
            accuracy_over_training,
            s,
            np.broadcast_to(n, np.shape(accuracy_over_training)),
            model=model,
            level=level,
        )
    n_panels = (
        1 + (thresholds is not None) + (thresholds is not None and ideal_threshold is not None)
    )
    width = 1 if n_panels == 1 else (1.5 if n_panels == 2 else 2)
    fig = Figure(figsize=style.figure_size(width, height=3.4), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    colors = _colors(len(labels))
    _panel_psychometric(axes[0], s, acc, n_trials, labels, colors, model, ideal, level)
    if thresholds is not None:
        _panel_thresholds(axes[1], its, thresholds, labels, colors, ideal_threshold, level)
        if ideal_threshold is not None:
            _panel_efficiency(axes[2], its, thresholds, labels, colors, ideal_threshold)
    return style.finish(fig)
