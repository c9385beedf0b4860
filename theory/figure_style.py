"""Figures fit for a paper: journal sizes, fonts, colour-blind-safe colours, panel letters, PNG and
vector output, and the layout checks the figure tests use.

Everything here is scoped: `paper_style` is a ``matplotlib.rc_context`` (no global rcParams
change), `finish` and `label_panels` act on one figure, `save` writes one figure. The sizes are
those of the Journal of Neuroscience (where Wenliang & Seitz 2018 appeared): one column 8.5 cm,
1.5 columns 11.6 cm, two columns 17.6 cm, at most 22 cm high. The colour cycle is the Okabe & Ito
(2008) palette, distinguishable under the common colour-vision deficiencies; sequential data use
``viridis``/``cividis`` and signed data ``RdBu_r`` (ColorBrewer, colour-blind safe).

Layout checks (used by the tests of every figure, and usable on any figure):

* `overlapping_tick_labels` -- pairs of visible tick labels of one axis whose boxes overlap;
* `legend_overlaps` -- legends drawn inside an axes that cover plotted points;
* `panel_letters` -- the panel letters of a figure (`label_panels` writes them; unique, A, B, ...).

This module sits in the theory layer (matplotlib only), so that the theory reports and the
``vpl_jax.figures`` modules share one style.
"""

from __future__ import annotations

import functools
import string
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib import ticker
from matplotlib import transforms as mtransforms
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from theory.checks import InputError

__all__ = [
    "DIVERGING_CMAP",
    "FONT_SIZE",
    "HEATMAP_CMAP",
    "MAX_HEIGHT",
    "NO_DATA",
    "NO_DATA_GID",
    "OKABE_ITO",
    "ONE_AND_HALF_COLUMNS",
    "ONE_COLUMN",
    "PANEL_LETTER_GID",
    "RC",
    "SEQUENTIAL_CMAP",
    "TWO_COLUMNS",
    "ReadableLogLocator",
    "figure_size",
    "finish",
    "label_panels",
    "legend_outside",
    "legend_overlaps",
    "no_data",
    "overlapping_tick_labels",
    "panel_letters",
    "paper_style",
    "readable_log_axis",
    "save",
    "styled",
]

_CM = 1 / 2.54
#: Figure widths in inches (Journal of Neuroscience: 8.5, 11.6 and 17.6 cm).
ONE_COLUMN = 8.5 * _CM
ONE_AND_HALF_COLUMNS = 11.6 * _CM
TWO_COLUMNS = 17.6 * _CM
#: Largest figure height in inches (22 cm).
MAX_HEIGHT = 22.0 * _CM
#: Base font size in points (labels; tick labels and legends are one point smaller).
FONT_SIZE = 7.0
#: Okabe & Ito (2008) colour-blind-safe palette (black first), the default colour cycle.
OKABE_ITO: tuple[str, ...] = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
SEQUENTIAL_CMAP = "viridis"
HEATMAP_CMAP = "cividis"
DIVERGING_CMAP = "RdBu_r"
#: gid of the panel-letter texts (how `panel_letters` finds them).
PANEL_LETTER_GID = "panel-letter"
#: First words of the note in an empty panel, and the gid of that note.
NO_DATA = "no data"
NO_DATA_GID = "no-data"

#: The rcParams of `paper_style`.
RC: dict = {
    "font.family": "sans-serif",
    "font.sans-serif": ["Arial", "Helvetica", "DejaVu Sans"],
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "legend.title_fontsize": FONT_SIZE - 1,
    "legend.frameon": False,
    "figure.titlesize": FONT_SIZE + 1,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.0,
    "errorbar.capsize": 1.5,
    # orange, sky blue, green, blue, vermilion, purple, then yellow (faint on white) and black
    "axes.prop_cycle": mpl.cycler(color=[OKABE_ITO[i] for i in (1, 2, 3, 5, 6, 7, 4, 0)]),
    "image.cmap": SEQUENTIAL_CMAP,
    "axes.formatter.useoffset": False,
    "axes.formatter.limits": (-4, 5),
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.dpi": 300,
}


def paper_style():
    """A ``matplotlib.rc_context`` with the paper style (`RC`); nothing changes outside it."""
    return mpl.rc_context(RC)


def styled(fun: Callable) -> Callable:
    """Decorator: run a figure function inside `paper_style` (fonts, colours, line widths)."""

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        with paper_style():
            return fun(*args, **kwargs)

    return wrapper


def figure_size(
    columns: int | float = 2, height: int | float | None = None, *, aspect: float = 0.62
):
    """``(width, height)`` in inches of a figure ``columns`` journal columns wide (1, 1.5 or 2).

    ``height`` in inches (default ``aspect * width``), capped at `MAX_HEIGHT`.
    """
    widths = {1: ONE_COLUMN, 1.5: ONE_AND_HALF_COLUMNS, 2: TWO_COLUMNS}
    if columns not in widths:
        raise InputError(f"columns must be 1, 1.5 or 2 (journal columns), got {columns!r}")
    width = widths[columns]
    height = aspect * width if height is None else float(height)
    if not 0 < height:
        raise InputError(f"height must be > 0 inches, got {height!r}")
    return width, min(height, MAX_HEIGHT)


# --------------------------------------------------------------------------------------------
# Axes helpers


class ReadableLogLocator(ticker.LogLocator):
    """Major ticks of a log axis that leave room for their labels: decades (every k-th decade
    when there are more than ``numticks``), with 2 and 5 added when the axis spans less than
    about one decade (where decades alone would give one tick or none)."""

    def __init__(self, numticks: int = 5):
        super().__init__(base=10.0, subs=(1.0,), numticks=numticks)

    def tick_values(self, vmin, vmax):
        if vmin > 0 and vmax > 0 and np.isfinite(vmin) and np.isfinite(vmax):
            span = abs(np.log10(vmax) - np.log10(vmin))
            self.set_params(subs=(1.0,) if span > 1.3 else (1.0, 2.0, 5.0))
        return super().tick_values(vmin, vmax)


def _plain_log_label(value, _pos=None) -> str:
    if value <= 0 or not np.isfinite(value):
        return ""
    exponent = np.log10(value)
    if -3 <= exponent < 4:
        return f"{value:g}"
    mantissa, power = f"{value:.0e}".split("e")
    power = int(power)
    return f"$10^{{{power}}}$" if mantissa == "1" else f"${mantissa}\\times10^{{{power}}}$"


def readable_log_axis(ax, which: str = "both") -> None:
    """Readable ticks on the log-scaled axes of ``ax``: labelled decades (`ReadableLogLocator`),
    plain numbers from 0.001 to 1000 and powers of ten beyond, unlabelled minor ticks."""
    for name in ("x", "y") if which == "both" else (which,):
        axis = ax.xaxis if name == "x" else ax.yaxis
        if axis.get_scale() != "log":
            continue
        axis.set_major_locator(ReadableLogLocator())
        axis.set_major_formatter(ticker.FuncFormatter(_plain_log_label))
        axis.set_minor_locator(ticker.LogLocator(base=10.0, subs=np.arange(2, 10), numticks=12))
        axis.set_minor_formatter(ticker.NullFormatter())


def no_data(ax, what: str, reason: str = "not available in this run") -> None:
    """Mark an empty panel: "no data" and what is missing, in the middle; no ticks (`finish`
    leaves its axes alone)."""
    text = "\n".join(
        [textwrap.fill(f"{NO_DATA}: {what}", width=18), textwrap.fill(reason, width=18)]
    )
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=FONT_SIZE - 2,
        color="0.35",
        gid=NO_DATA_GID,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def legend_outside(ax, *, where: str = "right", **kwargs):
    """A legend beside (``"right"``) or below (``"below"``) the axes, so it covers no data."""
    if where == "right":
        kwargs = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), **kwargs}
    elif where == "below":
        kwargs = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.25), "ncol": 2, **kwargs}
    else:
        raise InputError(f"where must be 'right' or 'below', got {where!r}")
    return ax.legend(borderaxespad=0.0, **kwargs)


def _panel_axes(fig: Figure) -> list:
    """The visible data axes of a figure in reading order (colour bars and legend axes left out)."""
    out = []
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() in ("<colorbar>", "legend"):
            continue
        if getattr(ax, "_colorbar", None) is not None:
            continue
        out.append(ax)
    # reading order: rows from the top (by the top edge, to a tenth of the figure), then left
    return sorted(out, key=lambda a: (-round(a.get_position().y1 * 10), a.get_position().x0))


def label_panels(fig: Figure, axes: Sequence | None = None, *, start: str = "A") -> list[str]:
    """Write panel letters A, B, C, ... at the top left of ``axes`` (default: every visible panel,
    in the order they were added). Returns the letters written."""
    axes = _panel_axes(fig) if axes is None else list(axes)
    letters = string.ascii_uppercase
    first = letters.index(start)
    if first + len(axes) > len(letters):
        raise InputError(f"at most {len(letters) - first} panels can be lettered from {start!r}")
    out = []
    for ax, letter in zip(axes, letters[first:], strict=False):
        # left of the y tick labels, above the axes: clear of a centred title
        offset = mtransforms.ScaledTranslation(-0.32, 0.04, ax.figure.dpi_scale_trans)
        ax.text(
            0.0,
            1.0,
            letter,
            transform=ax.transAxes + offset,
            ha="left",
            va="bottom",
            fontsize=FONT_SIZE + 2,
            fontweight="bold",
            gid=PANEL_LETTER_GID,
        )
        out.append(letter)
    return out


def finish(fig: Figure, *, letters: bool | Sequence = True) -> Figure:
    """Readable log ticks on every panel and panel letters (all visible panels, or the given
    axes; ``False`` for none). Returns ``fig``."""
    for ax in _panel_axes(fig):
        if not any(t.get_gid() == NO_DATA_GID for t in ax.texts):
            readable_log_axis(ax)
    if letters is True:
        label_panels(fig)
    elif letters:
        label_panels(fig, letters)
    return fig


def save(
    fig: Figure, path, *, formats: Iterable[str] = ("png", "pdf"), dpi: int = 300
) -> list[Path]:
    """Write ``fig`` as PNG and vector files: ``path`` with each suffix of ``formats`` (``png``,
    ``pdf``, ``svg``). Returns the paths written.

    Examples:
        >>> import tempfile
        >>> fig = Figure(figsize=figure_size(1))
        >>> _ = fig.subplots().plot([1, 2], [3, 4])
        >>> [p.suffix for p in save(fig, Path(tempfile.mkdtemp()) / "demo.png")]
        ['.png', '.pdf']
    """
    formats = tuple(formats)
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        raise InputError(f"formats must be a non-empty subset of png, pdf, svg, got {formats!r}")
    path = Path(path)
    if fig.canvas is None or not hasattr(fig.canvas, "print_figure"):
        FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context({k: RC[k] for k in ("pdf.fonttype", "ps.fonttype", "svg.fonttype")}):
        for fmt in formats:
            target = path.with_suffix(f".{fmt}")
            fig.savefig(target, format=fmt, dpi=dpi, bbox_inches="tight")
            written.append(target)
    return written


# --------------------------------------------------------------------------------------------
# Layout checks


def _renderer(fig: Figure):
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _overlap(a, b, pad: float) -> bool:
    return a.x0 < b.x1 - pad and b.x0 < a.x1 - pad and a.y0 < b.y1 - pad and b.y0 < a.y1 - pad


def overlapping_tick_labels(fig: Figure, *, pad: float = 0.5) -> list[tuple[str, str, str]]:
    """Pairs of visible, non-empty tick labels of one axis whose boxes overlap (by more than
    ``pad`` display pixels): ``[(axes title or index, label 1, label 2), ...]``; empty when the
    figure is readable."""
    renderer = _renderer(fig)
    found = []
    for index, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        name = ax.get_title() or f"axes {index}"
        for axis in (ax.xaxis, ax.yaxis):
            labels = []
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                for label in (tick.label1, tick.label2):
                    if label.get_visible() and label.get_text().strip():
                        lo, hi = axis.get_view_interval()
                        loc = tick.get_loc()
                        if loc is None or not min(lo, hi) <= loc <= max(lo, hi):
                            continue
                        labels.append((label.get_text(), label.get_window_extent(renderer)))
            for i in range(len(labels)):
                for j in range(i + 1, len(labels)):
                    if _overlap(labels[i][1], labels[j][1], pad):
                        found.append((name, labels[i][0], labels[j][0]))
    return found


def legend_overlaps(fig: Figure) -> list[tuple[str, int]]:
    """Legends inside an axes that cover plotted data: ``[(axes title or index, number of data
    points under the legend), ...]`` over every line, marker and scatter of that axes."""
    renderer = _renderer(fig)
    found = []
    for index, ax in enumerate(fig.axes):
        legend = ax.get_legend()
        if legend is None or not ax.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        frame = ax.get_window_extent(renderer)
        if not _overlap(box, frame, 0.0):
            continue  # outside the axes
        points = [line.get_transform().transform(line.get_xydata()) for line in ax.get_lines()]
        for coll in ax.collections:
            if not isinstance(coll, PathCollection):
                continue  # scatter points; error-bar lines and bands are lines or areas
            offsets = coll.get_offsets()
            if len(offsets):
                points.append(coll.get_offset_transform().transform(offsets))
        if not points:
            continue
        xy = np.concatenate([p for p in points if len(p)]) if points else np.zeros((0, 2))
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        inside = (
            (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
        )
        if np.any(inside):
            found.append((ax.get_title() or f"axes {index}", int(np.sum(inside))))
    return found


def panel_letters(fig: Figure) -> list[str]:
    """The panel letters written by `label_panels`, in reading order (rows from the top)."""
    axes = sorted(fig.axes, key=lambda a: (-round(a.get_position().y1 * 10), a.get_position().x0))
    return [t.get_text() for ax in axes for t in ax.texts if t.get_gid() == PANEL_LETTER_GID]
