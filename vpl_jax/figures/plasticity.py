"""Figure 3 of the paper: layer change against training separation.

Panels (`figure_3`, lettered A, B, C, ... in reading order; the paper's panel in the title):
``d_rel1`` trajectories of each layer (log-log) per training separation [3A]; the peak speed
iteration (PSI) against separation for layers 1-5 [3B]; the final ``d_rel1`` against separation
per layer [3C]; the final ``d_rel1`` relative to the same stimulus trained at 10 deg [3D]. Two
journal columns wide (`vpl_jax.figures.style`); a panel without data says "no data" and why. Computations are those of `vpl_jax.analysis.plasticity` (the PSI definition is in its
module docstring); a panel whose data the run lacks says so instead of failing.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from vpl_jax.analysis import plasticity
from vpl_jax.analysis.behaviour import check_dataset, group_by_separation
from vpl_jax.analysis.significance import format_p
from vpl_jax.figures import style
from vpl_jax.figures.style import separation_colors, unavailable

__all__ = ["figure_3"]


def _layer_colors(layers):
    return dict(zip(layers, plt.cm.plasma(np.linspace(0.0, 0.85, len(layers))), strict=True))


def _set_log_axes(ax, *, x: bool = True, y: bool = True, **labels) -> None:
    """Set labels and log scales; an axis with no positive finite data stays linear and says so
    (a run whose weights did not move has d_rel1 = 0 everywhere)."""
    ax.set(**labels)
    data = [line.get_xydata() for line in ax.get_lines()]
    data = np.concatenate(data) if data else np.zeros((0, 2))
    linear = []
    for flag, column, setter in ((x, 0, ax.set_xscale), (y, 1, ax.set_yscale)):
        values = data[:, column]
        if flag and np.any(np.isfinite(values) & (values > 0)):
            setter("log")
        elif flag:
            linear.append("xy"[column])
    if linear:
        style.no_data(
            ax,
            ax.get_ylabel() or "values",
            f"no positive values to show on a log axis ({'/'.join(linear)})",
        )


def _panel_a(ds, axes, legend_ax) -> None:
    layers = [str(x) for x in ds.layer.values]
    curves = plasticity.change_curves(ds)
    seps = [float(s) for s in curves.separation.values]
    colors = separation_colors(seps)
    its = ds.iteration.values.astype(float)
    keep = its > 0  # d_rel1 = 0 at iteration 0 has no place on a log axis
    for ax, layer in zip(axes, layers, strict=False):
        for sep in seps:
            m = curves["mean"].sel(separation=sep, layer=layer).values[keep]
            m = np.where(m > 0, m, np.nan)
            ax.plot(its[keep], m, color=colors[sep], label=f"{sep:g}°")
        _set_log_axes(
            ax,
            xlabel="iteration",
            ylabel="d_rel1",
            title=f"{layer} [3A]",
        )
    handles = [plt.Line2D([], [], color=colors[sep]) for sep in seps]
    legend_ax.legend(handles, [f"{sep:g}°" for sep in seps], title="training sep.\n(mean)",
                     loc="center")  # fmt: skip
    for ax in axes[len(layers) :]:
        ax.set_visible(False)


def _errorbars(ax, stats, layers, colors, *, positive: bool = False) -> None:
    seps = stats.separation.values.astype(float)
    for layer in layers:
        m = stats["mean"].sel(layer=layer).values
        s = stats["sd"].sel(layer=layer).values
        if positive:
            m = np.where(m > 0, m, np.nan)
        style = "--" if layer == "readout" else "-"
        ax.errorbar(
            seps, m, yerr=s, color=colors[layer], ls=style, marker="o", ms=3, capsize=2, label=layer
        )


def _title_with(model_rows, head: str) -> str:
    rows = model_rows.set_index("term")
    if not rows.testable.all():
        return head + "\n" + textwrap.fill(f"(not testable: {rows.reason.iloc[0]})", width=48)
    parts = [
        f"{t}: b={rows.loc[t, 'beta']:+.3g}, p={format_p(rows.loc[t, 'p'])}" for t in rows.index
    ]
    return head + "\n" + "\n".join(parts)


def _panel_b(ds, ax, colors) -> None:
    layers = [x for x in plasticity.CONV_LAYERS if x in [str(v) for v in ds.layer.values]]
    if not layers or ds.sizes["iteration"] < 2:
        unavailable(ax, "peak speed iteration [3B]")
        return
    psi = plasticity.peak_speed_iteration(ds, layers=layers)
    _errorbars(ax, group_by_separation(psi, ds), layers, colors)
    _set_log_axes(
        ax,
        y=False,
        xlabel="training separation (deg)",
        ylabel="peak speed iteration",
    )
    table = plasticity.psi_regressions(ds, layers=layers)
    ax.set_title(
        _title_with(table[table.model == "main_effects"], "PSI ~ ln(sep) + layer [3B]"),
        fontsize=style.FONT_SIZE - 2,
    )


def _panel_c(ds, ax, colors) -> None:
    layers = [str(x) for x in ds.layer.values]
    fin = plasticity.final_change(ds)
    _errorbars(ax, group_by_separation(fin, ds), layers, colors, positive=True)
    _set_log_axes(
        ax,
        xlabel="training separation (deg)",
        ylabel="final d_rel1",
    )
    conv = [x for x in plasticity.CONV_LAYERS if x in layers]
    head = "ln(d_rel1) ~ ln(sep) + layer [3C]"
    if conv:
        table = plasticity.final_change_regressions(ds, layers=conv)
        ax.set_title(
            _title_with(table[table.model == "log_main_effects"], head),
            fontsize=style.FONT_SIZE - 2,
        )
    else:
        ax.set_title(head, fontsize=style.FONT_SIZE - 2)


def _panel_d(ds, ax, colors) -> None:
    ratio = plasticity.ratio_to_separation(ds)
    if not ratio.attrs["testable"]:
        unavailable(ax, f"ratio to 10 deg [3D] ({ratio.attrs['reason']})")
        return
    layers = [str(x) for x in ds.layer.values]
    _errorbars(ax, group_by_separation(ratio, ds), layers, colors, positive=True)
    ax.axhline(1.0, color="k", lw=0.5)
    _set_log_axes(
        ax,
        xlabel="training separation (deg)",
        ylabel="d_rel1 / d_rel1 at 10°",
        title="relative to 10° [3D]",
    )


@style.styled
def figure_3(ds) -> plt.Figure:
    """The paper's Fig. 3 from a results Dataset (`vpl_jax.experiment.results_dataset`).

    Args:
        ds: results Dataset of a run (any grid; panels lacking data say so).

    Returns:
        A matplotlib Figure: A in the top row (one panel per layer), B, C, D below.

    Raises:
        ValueError: ``ds`` is not a results Dataset (no ``layer_change``/``separation_deg``).
    """
    check_dataset(ds, ["layer_change", "separation_deg"])
    layers = [str(x) for x in ds.layer.values]
    n_cols = max(6, len(layers))
    fig = plt.figure(figsize=style.figure_size(2, height=4.6))
    grid = fig.add_gridspec(
        2, n_cols + 1, width_ratios=[1] * n_cols + [0.8], left=0.07, right=0.99, top=0.86,
        bottom=0.1, hspace=0.75, wspace=0.8,
    )  # fmt: skip
    axes_a = [fig.add_subplot(grid[0, j]) for j in range(n_cols)]
    third = n_cols // 3
    ax_b = fig.add_subplot(grid[1, :third])
    ax_c = fig.add_subplot(grid[1, third : 2 * third])
    ax_d = fig.add_subplot(grid[1, 2 * third : n_cols])
    legend_axes = [fig.add_subplot(grid[i, n_cols], label="legend") for i in range(2)]
    for ax in legend_axes:
        ax.axis("off")
    colors = _layer_colors(layers)
    _panel_a(ds, axes_a, legend_axes[0])
    _panel_b(ds, ax_b, colors)
    _panel_c(ds, ax_c, colors)
    _panel_d(ds, ax_d, colors)
    handles = [
        plt.Line2D([], [], color=colors[x], ls="--" if x == "readout" else "-", marker="o")
        for x in layers
    ]
    legend_axes[1].legend(handles, layers, title="layer\n(mean ± SD)", loc="center")
    title = f"Fig. 3, layer change: {ds.sizes['condition']} networks ({ds.attrs.get('preset', '')})"
    if int(ds.attrs.get("weights_random", 0)):
        title += ", RANDOM weights (not pretrained)"
    fig.suptitle(title)
    return style.finish(fig)
