"""Saxe's alpha/beta model over a run's measured layer change (`vpl_jax.analysis.theory_fit`).

`theory_fit_figure` draws four panels: A, the readout's change per training separation (markers)
with the fitted ``a_beta * beta(t / tau)`` (lines); B, the conv stack's change with
``a_alpha * alpha(t / tau)``; C, the half-times of both groups against the separation, measured
(markers) and model (lines): the model's readout is always the earlier; D, the final ratio
readout / stack against the separation, measured and model: the model's ratio rises with the
separation. The title states the fit and its quality (`vpl_jax.analysis.theory_fit.describe`).
A panel the run cannot fill says so.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from vpl_jax.analysis import theory_fit
from vpl_jax.figures.style import label_panels, separation_colors, unavailable

__all__ = ["theory_fit_figure"]

_GROUP_LABEL = {"readout": "readout (decision layer)", "stack": "conv1-5 mean (lower layers)"}


def _trajectories(ax, fit, group: str, colors) -> bool:
    curves = fit.curves
    its = curves.iteration.values.astype(float)
    keep = its > 0
    gi = theory_fit.GROUPS.index(group)
    measured = curves.measured_shape.sel(group=group)
    drawn = False
    dense = np.geomspace(its[keep][0] if np.any(keep) else 1.0, max(its[-1], 1.0), 200)
    model = None
    if fit.quality["testable"]:
        model = theory_fit.model_curves(fit.params, curves.separation.values, dense)[..., gi]
    for si, sep in enumerate(curves.separation.values):
        y = measured.sel(separation=sep).values[keep]
        ok = np.isfinite(y)
        if not np.any(ok):
            continue
        color = colors[float(sep)]
        ax.plot(its[keep][ok], y[ok], "o", ms=3.5, color=color, mec="none", alpha=0.9)
        drawn = True
        if model is not None:
            ax.plot(dense, model[si], "-", lw=1.2, color=color)
    if not drawn:
        unavailable(ax, f"{group} change")
        return False
    ax.set(
        xscale="log",
        xlabel="iteration",
        ylabel=f"{fit.measure} / last value",
    )
    ax.set_title(_GROUP_LABEL[group], fontsize=9)
    return True


def theory_fit_figure(ds=None, *, fit: theory_fit.AlphaBetaFit | None = None, measure="d_rel1"):
    """The alpha/beta model beside a run's readout and conv-stack change.

    Args:
        ds: results Dataset (`vpl_jax.experiment.results_dataset`); ignored when ``fit`` is given.
        fit: a precomputed `vpl_jax.analysis.theory_fit.fit_alpha_beta` result.
        measure: the layer-change measure to fit (when ``fit`` is None).

    Returns:
        A `matplotlib.figure.Figure` with panels A-D (module docstring).
    """
    if fit is None:
        fit = theory_fit.fit_alpha_beta(ds, measure=measure)
    seps = [float(s) for s in fit.curves.separation.values]
    colors = separation_colors(seps)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.9))
    ax_r, ax_s, ax_t, ax_q = axes
    _trajectories(ax_r, fit, "readout", colors)
    _trajectories(ax_s, fit, "stack", colors)
    handles = [
        Line2D([], [], marker="o", ls="", ms=4, color=colors[s], label=f"trained {s:g} deg")
        for s in seps
    ]
    if fit.quality["testable"]:
        handles.append(Line2D([], [], color="0.3", lw=1.2, label="alpha/beta model (fitted)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7.5, frameon=False)

    table = fit.table
    testable = fit.quality["testable"]
    styles = {"readout": ("o", "-", "C3"), "stack": ("s", "--", "C0")}
    if np.any(np.isfinite(table[["t_half_readout", "t_half_stack"]].values)):
        for group, (marker, line, color) in styles.items():
            ax_t.plot(
                table.separation,
                table[f"t_half_{group}"],
                marker,
                color=color,
                ls="",
                label=f"{group}: measured",
            )
            if testable:
                ax_t.plot(
                    table.separation,
                    table[f"model_t_half_{group}"],
                    line,
                    color=color,
                    label=f"{group}: model",
                )
        ax_t.set(
            xscale="log",
            yscale="log",
            xlabel="training separation (deg)",
            ylabel="half-time (iterations)",
        )
        ax_t.set_title("which changes first", fontsize=9)
        ax_t.legend(fontsize=7, frameon=False, loc="best")
    else:
        unavailable(ax_t, "half-times")
    ratios = table.ratio.values
    if np.any(np.isfinite(ratios) & (ratios > 0)):
        ax_q.plot(table.separation, ratios, "o", color="k", ls="", label="measured")
        if testable:
            ax_q.plot(table.separation, table.model_ratio, "-", color="k", label="model")
        ax_q.set(
            xscale="log",
            yscale="log",
            xlabel="training separation (deg)",
            ylabel="final readout / stack change",
        )
        ax_q.set_title("higher / lower layer change", fontsize=9)
        ax_q.legend(fontsize=7, frameon=False, loc="best")
    else:
        unavailable(ax_q, "final ratio")
    label_panels(fig, axes)
    fig.suptitle(textwrap.fill(theory_fit.describe(fit), 190), fontsize=8.5)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
