"""Figures of the efficient-codes experiments (Benjamin et al. 2022, Figs. 2, 3, 6, SI Fig. 1).

Every function returns a ``matplotlib.figure.Figure`` (saved by the caller), with panel letters,
a legend entry for every line and marker, and a written note in any panel that has no data.
Sensitivity curves are shown normalised by their mean over the grid ("relative sensitivity",
the paper's Fig. 2c), so layers of different scales share an axis.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from vpl_jax.codes import hue as hue_mod
from vpl_jax.codes import label_noise, orientation

__all__ = [
    "architecture_figure",
    "hue_figure",
    "label_noise_figure",
    "networks_figure",
    "statistics_figure",
]

DEFAULT_WEIGHTS_NOTE = (
    "bundled default AlexNet: pretrained under uniformly random rotations,\n"
    "so its training orientation statistics are isotropic by construction"
)


def _letter(ax, letter: str) -> None:
    ax.text(
        -0.12, 1.04, letter, transform=ax.transAxes, fontsize=13, fontweight="bold", va="bottom"
    )


def _no_data(ax, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"no data: {text}",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=9,
        wrap=True,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _rel(curve: np.ndarray) -> np.ndarray:
    curve = np.asarray(curve, np.float64)
    m = curve.mean()
    return curve / m if m > 0 else curve


def _colours(n: int):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, max(n, 1))]


def label_noise_figure(
    result: label_noise.LabelNoiseResult, summary: dict, *, title: str = ""
) -> Figure:
    """Fig. 6: first-layer sensitivity over training per condition, and the 90/0 ratio.

    Panels b-e: one per condition (6b, 6c, 6d, control), seed-mean relative sensitivity at each
    recorded step (colour = step) with ``p(theta)`` and ``I(theta)`` (relative) dashed; panel
    f: the ratio over training (mean and the range over seeds).
    """
    fig = Figure(figsize=(15, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    letters = "bcde"
    conds = list(result.conditions)
    th = result.thetas
    for i, name in enumerate(("6b", "6c", "6d", "control")):
        ax = axes.flat[i]
        _letter(ax, letters[i])
        if name not in conds:
            _no_data(ax, f"condition {name} was not run")
            continue
        ci = conds.index(name)
        colours = _colours(len(result.steps))
        for k, step in enumerate(result.steps):
            if k % max(1, len(result.steps) // 5) and k != len(result.steps) - 1:
                continue
            ax.plot(
                th,
                _rel(result.sensitivity[ci, :, k].mean(0)),
                color=colours[k],
                label=f"step {step}",
            )
        weight = 1.0 if name in ("6c", "6d") else 0.0
        grid = np.linspace(0, 180, 181)
        ax.plot(
            grid,
            _rel(np.asarray(label_noise.density(grid, weight))),
            "k--",
            lw=1,
            label="p(theta), relative",
        )
        info = np.asarray(label_noise.information(grid, name))
        ax.plot(
            grid,
            _rel(info),
            ":",
            color="tab:red",
            lw=1.5,
            label="label information I(theta), relative",
        )
        s = summary.get(name, {})
        ax.set_title(
            f"{name}: 90/0 ratio {s.get('ratio_mean', np.nan):.2f} "
            f"[{s.get('ratio_low', np.nan):.2f}, {s.get('ratio_high', np.nan):.2f}]",
            fontsize=10,
        )
        ax.set_xlabel("orientation (deg)")
        ax.set_ylabel("relative first-layer sensitivity")
        ax.set_xticks([0, 45, 90, 135, 180])
        ax.legend(fontsize=6, loc="lower center", ncol=2, framealpha=0.6)
    ax = axes.flat[4]
    _letter(ax, "f")
    for ci, name in enumerate(conds):
        ratios = label_noise.window_ratio(th, result.sensitivity[ci])  # (R, K)
        ax.plot(
            result.steps,
            ratios.mean(0),
            marker="o",
            ms=3,
            label=f"{name} (mean of {ratios.shape[0]} seeds)",
        )
        ax.fill_between(
            result.steps, ratios.min(0), ratios.max(0), alpha=0.2, label=f"{name}: seed range"
        )
    ax.axhline(1.0, color="grey", lw=0.8, label="no preference (1)")
    ax.set_xlabel("training step")
    ax.set_ylabel("D within 15 deg of 90 / within 15 deg of 0")
    ax.legend(fontsize=6, ncol=2)
    ax = axes.flat[5]
    _letter(ax, "g")
    ax.axis("off")
    fmt = lambda x: f"{x:.2f}" if np.isfinite(x) else "n/a"
    lines = [
        f"{k}: ratio {v['ratio_mean']:.2f} [{v['ratio_low']:.2f}, {v['ratio_high']:.2f}]; "
        f"r(p) {fmt(v['r_density'])}, r(I) {fmt(v['r_information'])}"
        for k, v in summary.items()
    ]
    ax.text(
        0.0,
        0.95,
        "final step, 95% t-interval over seeds\n" + "\n".join(lines),
        va="top",
        fontsize=9,
        family="monospace",
        transform=ax.transAxes,
    )
    if title:
        fig.suptitle(title)
    return fig


def architecture_figure(result: orientation.ArchitectureResult, *, title: str = "") -> Figure:
    """SI Fig. 1c: CO per layer per pooling variant (bootstrap over seeds), curves if available."""
    fig = Figure(figsize=(13, 4.8), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    _letter(ax, "a")
    variants = list(result.co)
    markers = {"overlap_3s2": "o", "nonoverlap_2s2": "s", "none": "^"}
    layer_order = []
    for v in variants:
        for layer in result.co[v]:
            if layer not in layer_order:
                layer_order.append(layer)
    x = {layer: i for i, layer in enumerate(layer_order)}
    for j, v in enumerate(variants):
        xs, ys, lo, hi = [], [], [], []
        for layer, c in result.co[v].items():
            xs.append(x[layer] + (j - 1) * 0.18)
            ys.append(c["co"])
            lo.append(c["co"] - c["low"])
            hi.append(c["high"] - c["co"])
            if c["per_seed"]:
                ax.plot(
                    [xs[-1]] * len(c["per_seed"]),
                    c["per_seed"],
                    ".",
                    color=f"C{j}",
                    alpha=0.3,
                    ms=4,
                )
        ax.errorbar(
            xs,
            ys,
            yerr=[lo, hi],
            fmt=markers.get(v, "o"),
            color=f"C{j}",
            capsize=3,
            label=f"{orientation.POOLING_LABELS.get(v, v)}: seed-mean CO, 95% bootstrap",
        )
    ax.plot([], [], ".", color="grey", alpha=0.5, label="single seeds")
    ax.axhline(1.0, color="grey", lw=0.8, label="isotropic (CO = 1)")
    ax.set_xticks(range(len(layer_order)), layer_order)
    ax.set_ylabel("cardinal / oblique sensitivity (+-5 deg windows)")
    ax.set_title(
        f"random Caffe AlexNet stages, {result.size} px, {result.num_seeds} seeds", fontsize=10
    )
    ax.legend(fontsize=7)
    _letter(ax2, "b")
    if result.thetas.size >= 36:
        for j, v in enumerate(variants):
            last = list(result.d[v])[-1]
            ax2.plot(
                result.thetas,
                _rel(result.d[v][last].mean(axis=(0, 1))),
                color=f"C{j}",
                label=f"{orientation.POOLING_LABELS.get(v, v)}: {last}",
            )
        ax2.set_xlabel("orientation (deg)")
        ax2.set_ylabel("relative sensitivity (seed and phase mean)")
        ax2.legend(fontsize=7)
    else:
        _no_data(
            ax2,
            f"curves need the full orientation grid; this run measured {result.thetas.size} "
            "orientations (the CO windows only)",
        )
    if title:
        fig.suptitle(title)
    return fig


def _curves_panel(ax, thetas, d: dict, *, style="-", label_prefix="", alpha=1.0):
    colours = _colours(len(d))
    for (layer, v), c in zip(d.items(), colours, strict=True):
        curve = v.mean(axis=tuple(range(v.ndim - 1)))
        ax.plot(thetas, _rel(curve), style, color=c, alpha=alpha, label=f"{label_prefix}{layer}")


def statistics_figure(result: orientation.StatisticsResult, *, title: str = "") -> Figure:
    """SI Fig. 1b stand-in: per condition, the crops' orientation energy and the per-layer
    relative sensitivity of the trained (solid) and untrained (dotted) small CNNs."""
    n = len(result.angles)
    fig = Figure(figsize=(12, 3.8 * n), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, 2))
    r = result.num_seeds
    letters = iter("abcdefgh")
    for c, angle in enumerate(result.angles):
        label = f"rotated {angle:g} deg"
        ax = axes[c, 0]
        _letter(ax, next(letters))
        ax.plot(
            result.thetas,
            result.energy[c] * result.energy.shape[1],
            "k-o",
            ms=3,
            label="orientation energy of training crops (relative)",
        )
        ax.set_title(f"training crops, {label}", fontsize=10)
        ax.set_xlabel("orientation (deg)")
        ax.set_ylabel("relative energy")
        ax.legend(fontsize=7)
        ax = axes[c, 1]
        _letter(ax, next(letters))
        sl = slice(c * r, (c + 1) * r)
        _curves_panel(
            ax,
            result.thetas,
            {k: v[sl] for k, v in result.d_trained.items()},
            label_prefix="trained ",
        )
        _curves_panel(
            ax,
            result.thetas,
            {k: v[sl] for k, v in result.d_initial.items()},
            style=":",
            label_prefix="untrained ",
            alpha=0.7,
        )
        co = result.co_trained[label]
        ax.set_title(
            f"small CNN trained on {label} crops ({r} seeds)\ntrained CO: "
            + ", ".join(f"{k} {v['co']:.2f}" for k, v in co.items()),
            fontsize=9,
        )
        ax.set_xlabel("orientation (deg)")
        ax.set_ylabel("relative sensitivity")
        ax.legend(fontsize=6, ncol=2)
    if title:
        fig.suptitle(title)
    return fig


def networks_figure(measured: dict, *, notes: dict | None = None, title: str = "") -> Figure:
    """Fig. 2c: relative orientation sensitivity per layer of each measured network."""
    n = max(len(measured), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(5 * cols, 3.8 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    if not measured:
        _no_data(axes[0], "no network was measured")
        return fig
    notes = notes or {}
    for i, (label, m) in enumerate(measured.items()):
        ax = axes[i]
        _letter(ax, "abcdefghijkl"[i])
        _curves_panel(ax, m["thetas"], m["d"])
        ax.set_title(
            label
            + "\nCO: "
            + ", ".join(f"{k} {v['co']:.2f}" for k, v in list(m["co"].items())[-3:]),
            fontsize=8,
        )
        ax.set_xlabel("orientation (deg)")
        ax.set_ylabel("relative sensitivity")
        ax.set_xticks([0, 45, 90, 135, 180])
        ax.legend(fontsize=6, ncol=2)
        if label in notes:
            ax.text(0.02, 0.02, notes[label], transform=ax.transAxes, fontsize=6, va="bottom")
    for ax in axes[len(measured) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def hue_figure(result: hue_mod.HueResult | None, *, title: str = "") -> Figure:
    """Fig. 3: (b) CIELAB curve, (c) hue histograms and trained sensitivity, (d) hue-rotated."""
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    ax_b, ax_c, ax_d = fig.subplots(1, 3)
    _letter(ax_b, "b")
    h = np.arange(0.0, 360.0, 1.0)
    ax_b.plot(
        h + 0.5,
        np.asarray(hue_mod.cielab_distance(h + 0.5)),
        "k-",
        label="CIELAB distance per 1 deg of hue (S = V = 1)",
    )
    ax_b.set_xlabel("hue (deg)")
    ax_b.set_ylabel("Delta E per degree")
    ax_b.legend(fontsize=7)
    ax_b.set_title("human-like discrimination (CIELAB)", fontsize=10)
    if result is None:
        _no_data(ax_c, "the hue experiment was not run")
        _no_data(ax_d, "the hue experiment was not run")
        return fig
    r = result.num_seeds
    centres = np.arange(360) + 0.5
    _letter(ax_c, "c")
    ax_c.plot(
        centres,
        _rel(result.histograms[0]),
        color="grey",
        lw=1,
        label="hue histogram of training crops (S, V in [0.5, 1])",
    )
    _curves_panel(ax_c, result.hues, {k: v[:r] for k, v in result.d_trained.items()})
    first = next(iter(result.correlation))
    ax_c.set_title(
        "trained on unrotated hues\nr with histogram: "
        + ", ".join(f"{k} {v:.2f}" for k, v in result.correlation[first].items()),
        fontsize=8,
    )
    ax_c.set_xlabel("hue (deg)")
    ax_c.set_ylabel("relative sensitivity / frequency")
    ax_c.legend(fontsize=6)
    _letter(ax_d, "d")
    if len(result.hue_shifts) < 2:
        _no_data(ax_d, "only one hue condition was trained")
    else:
        last = list(result.d_trained)[-1]
        for c, shift in enumerate(result.hue_shifts):
            curve = result.d_trained[last][c * r : (c + 1) * r].mean(axis=(0, 1))
            ax_d.plot(
                result.hues,
                _rel(curve),
                color=f"C{c}",
                label=f"{last}, trained with hue +{shift:g} deg",
            )
            ax_d.plot(
                centres,
                _rel(result.histograms[c]),
                color=f"C{c}",
                lw=0.7,
                alpha=0.5,
                label=f"histogram, hue +{shift:g} deg",
            )
        ax_d.set_title(
            f"peak shift (circular cross-correlation):\n{last} {result.shift[last]:+.0f} deg, "
            f"histograms {result.histogram_shift:+.0f} deg",
            fontsize=8,
        )
        ax_d.set_xlabel("hue (deg)")
        ax_d.set_ylabel("relative sensitivity / frequency")
        ax_d.legend(fontsize=6)
    if title:
        fig.suptitle(title)
    return fig
