"""Shared figure conventions: the "not available" note, colours per training separation, the
iteration axis. Figures hold no global state: nothing here touches matplotlib's rcParams or
backend; every figure function returns a `matplotlib.figure.Figure` that the caller saves.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["iteration_axis", "separation_colors", "unavailable"]


def unavailable(ax, what: str) -> None:
    """Write "<what>: not available in this run" in the middle of an empty panel."""
    ax.text(
        0.5,
        0.5,
        f"{what}:\nnot available in this run",
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=9,
        color="0.3",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def iteration_axis(ds) -> np.ndarray:
    """The evaluation iterations as x values for a log axis (iteration 0 drawn at 0.5)."""
    its = ds.iteration.values.astype(float)
    return np.where(its == 0, 0.5, its)


def separation_colors(seps) -> dict:
    """``{separation: RGBA}`` on the viridis map (colour-blind safe), finest darkest."""
    return dict(zip(seps, plt.cm.viridis(np.linspace(0.0, 0.85, len(seps))), strict=True))
