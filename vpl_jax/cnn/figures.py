"""Figures 2-6 and A2 of the orientation-selectivity study, from a `vpl_jax.cnn.analysis.RunAnalysis`.

Each function returns a `matplotlib.figure.Figure` (made with ``matplotlib.figure.Figure``, no
pyplot state); the caller saves it. Panels carry the paper's letters, every marker kind has a
legend entry, and a panel without data says so instead of staying blank.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from vpl_jax.analysis import selectivity
from vpl_jax.cnn import model
from vpl_jax.cnn.analysis import RunAnalysis

__all__ = ["FIGURES", "figure_2", "figure_3", "figure_4", "figure_5", "figure_6", "figure_a2"]

NAMES = {
    "conv1": "Conv 1",
    "conv2": "Conv 2",
    "conv3": "Conv 3",
    "conv4": "Conv 4",
    "conv5": "Conv 5",
    "conv6": "Conv 6",
    "fc1": "FC 1",
}
LAYERS = model.TUNING_LAYERS
RED, BLUE, GREY = "#d62728", "#1f77b4", "0.45"


def _letter(ax, s: str, dx: float = -0.18) -> None:
    ax.text(dx, 1.08, s, transform=ax.transAxes, fontsize=12, fontweight="bold", va="bottom")


def _no_data(ax, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=8,
        color="0.3",
        wrap=True,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def figure_2(result: RunAnalysis) -> Figure:
    """gOSI histograms per layer: trained (red), shuffled control (blue), untrained (grey)."""
    fig = Figure(figsize=(14, 2.8), layout="constrained")
    axes = fig.subplots(1, len(LAYERS))
    bins = np.linspace(0, 1, 21)
    for ax, layer, letter in zip(axes, LAYERS, "abcdefg", strict=True):
        ax.hist(result.tuning.gosi[layer], bins=bins, color=RED, alpha=0.6, label="trained")
        ax.hist(result.shuffled[layer], bins=bins, color=BLUE, alpha=0.5, label="shuffled control")
        ax.hist(
            result.untrained.gosi[layer],
            bins=bins,
            histtype="step",
            color=GREY,
            lw=1.5,
            label="untrained",
        )
        ax.axvline(selectivity.SELECTIVITY_THRESHOLD, color="k", ls=":", lw=1, label="gOSI = 0.33")
        ax.set_title(NAMES[layer])
        ax.set_xlabel("gOSI")
        _letter(ax, letter)
    axes[0].set_ylabel("units")
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.suptitle("Fig. 2: orientation-selective units in every layer (main network)", fontsize=10)
    return fig


def figure_3(result: RunAnalysis) -> Figure:
    """Training dynamics: loss and mean gOSI per epoch, val loss vs gOSI, Spearman rho."""
    i = result.dynamics_network
    if i is None:
        fig = Figure(figsize=(6, 2.5), layout="constrained")
        ax = fig.subplots()
        _no_data(ax, "no training-dynamics network in this run (panels a-c need one)")
        _letter(ax, "a", dx=-0.05)
        fig.suptitle("Fig. 3: training dynamics", fontsize=10)
        return fig
    fig = Figure(figsize=(14, 7.5), layout="constrained")
    gs = fig.add_gridspec(3, len(LAYERS))
    ax_loss = fig.add_subplot(gs[0, : len(LAYERS) // 2 + 1])
    ax_gosi = fig.add_subplot(gs[0, len(LAYERS) // 2 + 1 :])
    scatter = [fig.add_subplot(gs[1, j]) for j in range(len(LAYERS))]
    ax_rho = fig.add_subplot(gs[2, :])
    _letter(ax_loss, "a", dx=-0.06)
    _letter(scatter[0], "b")
    _letter(ax_rho, "c", dx=-0.03)
    h = result.history
    ep = h.epoch.values
    ax_loss.plot(ep, h.train_loss.values[i], color="k", label="training loss")
    ax_loss.plot(ep, h.val_loss.values[i], color=RED, label="validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize=8)
    colours = [f"C{j}" for j in range(len(LAYERS))]
    for j, layer in enumerate(LAYERS):
        ax_gosi.plot(ep, h.mean_gosi.values[i, :, j], color=colours[j], label=NAMES[layer])
    ax_gosi.set_xlabel("epoch")
    ax_gosi.set_ylabel("mean gOSI")
    ax_gosi.legend(fontsize=7, ncol=2)
    first = min(50, int(np.isfinite(h.val_loss.values[i]).sum()))
    for j, (ax, layer) in enumerate(zip(scatter, LAYERS, strict=True)):
        ax.scatter(
            h.val_loss.values[i, :first],
            h.mean_gosi.values[i, :first, j],
            s=10,
            c=colours[j],
            label="one epoch",
        )
        ax.set_title(NAMES[layer], fontsize=9)
        ax.set_xlabel("validation loss", fontsize=8)
    scatter[0].set_ylabel("mean gOSI")
    scatter[-1].legend(fontsize=7)
    _rho_bars(
        ax_rho, result.dynamics, f"Spearman rho (val. loss vs mean gOSI, first {first} epochs)"
    )
    fig.suptitle(
        f"Fig. 3: training dynamics (network {i}, learning rate "
        f"{float(h.learning_rate.values[i]):g})",
        fontsize=10,
    )
    return fig


def _rho_bars(ax, table, ylabel: str) -> None:
    if table is None:
        _no_data(ax, "not enough networks for a correlation")
        return
    rho = table["rho"].reindex(list(LAYERS)).to_numpy(float)
    p = table["p"].reindex(list(LAYERS)).to_numpy(float)
    x = np.arange(len(LAYERS))
    ax.bar(x, np.nan_to_num(rho), color="0.6", label="rho")
    sig = np.isfinite(p) & (p < 0.05)
    if sig.any():
        ax.scatter(
            x[sig],
            np.nan_to_num(rho)[sig] + np.sign(np.nan_to_num(rho)[sig]) * 0.08,
            marker="*",
            color="k",
            s=40,
            label="p < 0.05",
        )
    else:
        ax.text(
            0.5,
            0.95,
            "no layer at p < 0.05",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=8,
            color="0.3",
        )
    for xi in x[~np.isfinite(rho)]:
        ax.text(xi, 0.05, "n/a", ha="center", fontsize=7)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [NAMES[k] for k in LAYERS])
    ax.set_ylim(-1.15, 1.15)
    ax.set_ylabel("Spearman rho")
    ax.set_title(ylabel, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")


def figure_4(result: RunAnalysis) -> Figure:
    """Population (test loss vs mean gOSI; Spearman rho) and label corruption vs gOSI."""
    fig = Figure(figsize=(14, 8), layout="constrained")
    gs = fig.add_gridspec(3, len(LAYERS))
    scatter = [fig.add_subplot(gs[0, j]) for j in range(len(LAYERS))]
    ax_rho = fig.add_subplot(gs[1, :])
    corr = [fig.add_subplot(gs[2, j]) for j in range(len(LAYERS))]
    _letter(scatter[0], "a")
    _letter(ax_rho, "b", dx=-0.03)
    _letter(corr[0], "c")
    h = result.history
    if result.population_points is None:
        _no_data(scatter[0], "fewer than 3 population networks")
        for ax in scatter[1:]:
            ax.set_axis_off()
    else:
        loss, g = result.population_points
        pop = np.flatnonzero(h.group.values == "population")
        aug = h.augmentation.values[pop]
        for j, (ax, layer) in enumerate(zip(scatter, LAYERS, strict=True)):
            for k, name in enumerate(dict.fromkeys(aug)):
                m = aug == name
                ax.scatter(loss[m], g[m, j], s=14, color=f"C{k}", label=f"aug: {name}")
            ax.set_title(NAMES[layer], fontsize=9)
            ax.set_xlabel("test loss", fontsize=8)
        scatter[0].set_ylabel("mean gOSI")
        scatter[-1].legend(fontsize=6)
    _rho_bars(ax_rho, result.population, "Spearman rho (test loss vs mean gOSI)")
    t = result.corruption
    if t is None:
        _no_data(corr[0], "no label-corruption networks")
        for ax in corr[1:]:
            ax.set_axis_off()
    else:
        rate = t["corruption"].to_numpy()
        for ax, layer in zip(corr, LAYERS, strict=True):
            ax.plot(rate, t[f"gosi_{layer}"].to_numpy(), "o-", color=RED, label="mean gOSI")
            ax.set_xlabel("label corruption rate", fontsize=8)
            ax.set_title(NAMES[layer], fontsize=9)
        corr[0].set_ylabel("mean gOSI")
        acc = corr[-1].twinx()
        acc.plot(rate, t["train_acc"].to_numpy(), "s--", color="k", label="train accuracy")
        acc.plot(rate, t["test_acc"].to_numpy(), "^--", color=BLUE, label="test accuracy")
        acc.set_ylim(0, 1.05)
        acc.set_ylabel("accuracy", fontsize=8)
        lines = corr[-1].get_legend_handles_labels()
        lines2 = acc.get_legend_handles_labels()
        acc.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=6, loc="center left")
    fig.suptitle("Fig. 4: networks that generalise better vs orientation selectivity", fontsize=10)
    return fig


def figure_5(result: RunAnalysis) -> Figure:
    """Ablation: test-loss impact of ablating the top vs bottom 50 % gOSI units per layer."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(LAYERS))
    top = np.array([np.mean(result.ablation[k].top) for k in LAYERS])
    bot = np.array([np.mean(result.ablation[k].bottom) for k in LAYERS])
    sem = lambda v: np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    ts = np.array([sem(result.ablation[k].top) for k in LAYERS])
    bs = np.array([sem(result.ablation[k].bottom) for k in LAYERS])
    ax.errorbar(x, top, yerr=ts, color=RED, marker="o", capsize=3, label="top 50 % gOSI ablated")
    ax.errorbar(
        x, bot, yerr=bs, color=BLUE, marker="o", capsize=3, label="bottom 50 % gOSI ablated"
    )
    p = np.array([result.ablation[k].p for k in LAYERS])
    star = (top > 2 * np.maximum(bot, 0)) & (top > 0) & (p < 0.05)
    hi = np.nanmax(np.concatenate([top + np.nan_to_num(ts), bot + np.nan_to_num(bs)]))
    if star.any():
        ax.scatter(
            x[star],
            np.full(star.sum(), hi * 1.08 if hi > 0 else 0.05),
            marker="*",
            color="k",
            s=60,
            label="top > 2 x bottom (Wilcoxon p < 0.05)",
        )
    else:
        ax.text(
            0.5,
            0.96,
            "no layer with top > 2 x bottom at Wilcoxon p < 0.05",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=8,
            color="0.3",
        )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [NAMES[k] for k in LAYERS])
    ax.set_ylabel("impact on test loss (mean +- s.e.m.)")
    ax.legend(fontsize=8)
    _letter(ax, "a")
    fig.suptitle("Fig. 5: ablating orientation-selective units (main network)", fontsize=10)
    return fig


def figure_6(result: RunAnalysis) -> Figure:
    """Shift invariance: CV per layer, vanilla vs Conv 2 / Conv 3 selective units ablated."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    x = np.arange(len(LAYERS))
    none = result.shift["none"]
    for ax, layer, letter in zip(axes, ("conv2", "conv3"), "ab", strict=True):
        r = result.shift.get(layer)
        ax.errorbar(
            x,
            [none.mean[k] for k in LAYERS],
            yerr=[none.se[k] for k in LAYERS],
            color="k",
            marker="o",
            capsize=3,
            label="no ablation",
        )
        if r is None:
            _no_data(ax, "no ablation result")
            continue
        ax.errorbar(
            x + 0.1,
            [r.mean[k] for k in LAYERS],
            yerr=[r.se[k] for k in LAYERS],
            color=RED,
            marker="s",
            capsize=3,
            label=f"{NAMES[layer]} top-50 % gOSI ablated",
        )
        p = result.shift_p.get(layer, np.nan)
        if np.isfinite(p) and p < 0.05:
            ax.scatter(
                [x[-1]],
                [max(none.mean["fc1"], r.mean["fc1"]) * 1.15],
                marker="*",
                color="k",
                s=60,
                label="FC 1 differs (Wilcoxon p < 0.05)",
            )
        ax.set_title(f"{NAMES[layer]} ablation (FC 1: p = {p:.2g})", fontsize=9)
        ax.set_xticks(x, [NAMES[k] for k in LAYERS], fontsize=8)
        ax.legend(fontsize=7)
        _letter(ax, letter)
    axes[0].set_ylabel("CV under 10 % shifts (mean +- s.e.)")
    fig.suptitle("Fig. 6: orientation-selective units and shift invariance", fontsize=10)
    return fig


def figure_a2(result: RunAnalysis) -> Figure:
    """Range of preferred orientations across spatial frequencies, selective units."""
    fig = Figure(figsize=(14, 2.6), layout="constrained")
    axes = fig.subplots(1, len(LAYERS))
    bins = np.arange(-7.5, 180, 15)
    for ax, layer, letter in zip(axes, LAYERS, "abcdefg", strict=True):
        r = result.sf_range[layer]
        r = r[np.isfinite(r)]
        _letter(ax, letter)
        if r.size == 0:
            _no_data(ax, f"{NAMES[layer]}: no unit with gOSI > 0.33")
            continue
        ax.hist(r, bins=bins, color="0.4", label="selective units")
        ax.set_title(NAMES[layer], fontsize=9)
        ax.set_xlabel("range of preferred orientations (deg)", fontsize=7)
    axes[0].set_ylabel("units")
    axes[-1].legend(fontsize=7)
    fig.suptitle("Fig. A2: preferred orientation barely depends on spatial frequency", fontsize=10)
    return fig


FIGURES = {
    "figure_2": figure_2,
    "figure_3": figure_3,
    "figure_4": figure_4,
    "figure_5": figure_5,
    "figure_6": figure_6,
    "figure_a2": figure_a2,
}
"""Name -> figure function (what ``vpl-jax cnn analyze`` writes)."""
