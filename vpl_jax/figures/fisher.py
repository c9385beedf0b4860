"""Figure 4: population linear Fisher information against test orientation, trained vs naive."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from theory.checks import InputError
from vpl_jax.analysis.recording import PROTOCOL_LAYERS
from vpl_jax.analysis.significance import ALPHA
from vpl_jax.analysis.tuning import FISHER_COLUMNS
from vpl_jax.analysis.tuning_run import fisher_gains
from vpl_jax.figures import style

__all__ = ["figure_4"]


def _mean_sem(frame):
    """Mean and SEM over networks of FI curves: ``(orientations, mean, sem, n)``."""
    curves = frame.pivot_table(
        index="network_key", columns="orientation_rel_deg", values="fi", aggfunc="mean"
    )
    values = curves.to_numpy(np.float64)
    n = np.sum(np.isfinite(values), axis=0)
    mean = np.nanmean(values, axis=0)
    sd = np.nanstd(values, axis=0, ddof=1) if values.shape[0] > 1 else np.zeros(values.shape[1])
    sem = np.where(n > 1, sd / np.sqrt(np.maximum(n, 1)), 0.0)
    return curves.columns.to_numpy(np.float64), mean, sem, values


@style.styled
def figure_4(fisher, *, layers=PROTOCOL_LAYERS, separations=None, alpha=ALPHA) -> plt.Figure:
    """FI vs test orientation (relative to TO): panels layer x training separation.

    Trained networks (black) vs the naive network (gray), mean +/- SEM over networks (the naive
    network evaluated on each reference's grid counts once per reference). An asterisk marks a
    significant increase of the mean FI within +/- 10 deg of TO: the test of
    `vpl_jax.analysis.tuning_run.fisher_gains` (each trained network against the naive network
    of its reference, one-sided Mann-Whitney U), the one the report's verdicts use, at
    ``p < alpha`` Bonferroni-corrected over the panels, as in the paper.
    Panels without trained or naive data say "not available".

    Args:
        fisher: a ``vpl_jax.analysis.tuning.fisher_frame`` DataFrame (or several concatenated)
            with columns ``network, layer, reference_deg, separation_deg, trained,
            orientation_rel_deg, fi``.
        layers: layers to plot, one row each (default the paper's five).
        separations: training separations in degrees, one column each (default: those of the
            trained rows).
        alpha: significance level before the Bonferroni correction.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: if ``fisher`` lacks a required column.
    """
    missing = set(FISHER_COLUMNS) - set(fisher.columns)
    if missing:
        raise InputError(f"fisher is not a fisher_frame (missing columns {sorted(missing)})")
    df = fisher.copy()
    df["network_key"] = list(zip(df["network"], df["reference_deg"], strict=True))
    trained_rows = df[df["trained"].astype(bool)]
    naive_rows = df[~df["trained"].astype(bool)]
    if separations is None:
        separations = sorted(np.unique(trained_rows["separation_deg"].dropna()))
    separations = [float(s) for s in separations] or [np.nan]
    layers = tuple(layers)
    n_tests = max(1, len(layers) * len(separations))
    gains = fisher_gains(fisher)
    p_by_cell = {
        (str(r.layer), float(r.separation_deg)): r.p
        for r in gains.merge(
            df[["layer", "layer_index"]].drop_duplicates(), on="layer_index"
        ).itertuples()
    }
    fig, axes = plt.subplots(
        len(layers),
        len(separations),
        figsize=style.figure_size(
            2 if len(separations) > 2 else 1.5 if len(separations) == 2 else 1,
            height=1.35 * len(layers) + 0.9,
        ),
        squeeze=False,
        sharex=True,
    )
    for i, layer in enumerate(layers):
        for j, sep in enumerate(separations):
            ax = axes[i, j]
            tr = trained_rows[
                (trained_rows["layer"] == layer) & np.isclose(trained_rows["separation_deg"], sep)
            ]
            nv = naive_rows[naive_rows["layer"] == layer]
            if i == 0:
                ax.set_title(f"trained on {sep:g} deg" if np.isfinite(sep) else "")
            if j == 0:
                ax.set_ylabel(f"{layer}\nFI (1/deg$^2$)")
            if i == len(layers) - 1:
                ax.set_xlabel("test orientation - TO (deg)")
            if tr.empty or nv.empty or not np.isfinite(tr["fi"]).any():
                style.no_data(ax, "FI curves", "no trained or naive network")
                continue
            for rows, color, label in ((nv, "0.6", "naive"), (tr, "k", "trained")):
                theta, mean, sem, _ = _mean_sem(rows)
                ax.plot(theta, mean, color=color, lw=1.2, label=label)
                ax.fill_between(theta, mean - sem, mean + sem, color=color, alpha=0.25, lw=0)
            p = p_by_cell.get((layer, sep), np.nan)
            if np.isfinite(p) and p < alpha / n_tests:
                ax.text(0.05, 0.88, "*", transform=ax.transAxes, fontsize=12)
            ax.axvline(0.0, color="k", lw=0.5, ls=":")
    handles = [
        plt.Line2D([], [], color="k", lw=1.2),
        plt.Line2D([], [], color="0.6", lw=1.2),
        plt.Rectangle((0, 0), 1, 1, color="0.6", alpha=0.25, lw=0),
        plt.Line2D([], [], color="k", lw=0.5, ls=":"),
        plt.Line2D([], [], ls="none", marker="$*$", color="k", ms=6),
    ]
    names = ["trained", "naive", "± SEM", "TO", f"FI gain within ±10°, p < {alpha:g}/{n_tests}"]
    fig.suptitle("Population linear Fisher information (Eq. 6), mean $\\pm$ SEM over networks")
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return style.finish(fig)
