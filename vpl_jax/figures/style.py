"""Shared figure conventions: paper sizes and fonts, colour-blind-safe colours, panel letters,
PNG + vector output, the "no data" note, colours per training separation, the iteration axis.

The generic part (journal sizes, `paper_style`, `label_panels`, `finish`, `save`, readable log
ticks and the layout checks `overlapping_tick_labels`, `legend_overlaps`, `panel_letters`) is
`theory.figure_style`, shared with the theory reports, and re-exported here. Figures hold no
global state: nothing here changes matplotlib's global rcParams or backend (`paper_style` is a
``rc_context``); every figure function returns a `matplotlib.figure.Figure` that the caller
saves, e.g. with ``style.save(fig, "fig2.png")`` (PNG and PDF).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from theory.figure_style import (
    DIVERGING_CMAP,
    FONT_SIZE,
    HEATMAP_CMAP,
    MAX_HEIGHT,
    NO_DATA,
    OKABE_ITO,
    ONE_AND_HALF_COLUMNS,
    ONE_COLUMN,
    SEQUENTIAL_CMAP,
    TWO_COLUMNS,
    figure_size,
    finish,
    label_panels,
    legend_outside,
    legend_overlaps,
    no_data,
    overlapping_tick_labels,
    panel_letters,
    paper_style,
    readable_log_axis,
    save,
    styled,
)

__all__ = [
    "DIVERGING_CMAP",
    "FONT_SIZE",
    "HEATMAP_CMAP",
    "MAX_HEIGHT",
    "NO_DATA",
    "OKABE_ITO",
    "ONE_AND_HALF_COLUMNS",
    "ONE_COLUMN",
    "SEQUENTIAL_CMAP",
    "TWO_COLUMNS",
    "figure_size",
    "finish",
    "iteration_axis",
    "label_panels",
    "legend_outside",
    "legend_overlaps",
    "no_data",
    "overlapping_tick_labels",
    "panel_letters",
    "paper_style",
    "readable_log_axis",
    "save",
    "separation_colors",
    "styled",
    "unavailable",
]


def unavailable(ax, what: str) -> None:
    """Mark an empty panel: "no data: <what>" and "not available in this run" (`no_data`)."""
    no_data(ax, what)


def iteration_axis(ds) -> np.ndarray:
    """The evaluation iterations as x values for a log axis (iteration 0 drawn at 0.5)."""
    its = ds.iteration.values.astype(float)
    return np.where(its == 0, 0.5, its)


def separation_colors(seps) -> dict:
    """``{separation: RGBA}`` on the viridis map (colour-blind safe), finest darkest."""
    return dict(zip(seps, plt.cm.viridis(np.linspace(0.0, 0.85, len(seps))), strict=True))
