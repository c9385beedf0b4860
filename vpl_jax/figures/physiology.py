"""Figures 6-10 of Wenliang & Seitz (2018): network units compared with electrophysiology, and Eq. 7.

Every function takes the contract's unit table (``vpl_jax.analysis.tuning.unit_table``; see
`vpl_jax.analysis.physiology`) and, where needed, the tuning curves aligned row for row with it
(``(len(table), O)``, on ``linspace(-90, 90, O) + TO``) or the Eq. 7 tables, and returns a
matplotlib Figure. Trained units are black, naive units white/gray as in the paper; asterisks mark
per-bin tests significant at the Bonferroni-corrected level. A panel whose comparison is not
testable says why instead of drawing numbers. Angles are in degrees.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np

from vpl_jax.analysis import physiology as ph
from vpl_jax.analysis.significance import ALPHA
from vpl_jax.figures import style

_TRAINED = "black"
_NAIVE = "0.6"


def _p_text(c: ph.Comparison, what: str) -> str:
    if not c.testable:
        return f"not testable: {c.reason}"
    return f"{what} p = {c.p:.2g}"


def _untestable_panel(ax, c: ph.Comparison) -> bool:
    if c.testable:
        return False
    ax.text(
        0.5,
        0.5,
        textwrap.fill("not testable: " + c.reason, width=28),
        ha="center",
        va="center",
        fontsize=style.FONT_SIZE - 1,
        transform=ax.transAxes,
    )
    return True


def _slope_bars(ax, c: ph.Comparison, title: str) -> None:
    """Grouped bars (trained black, naive white) of the slope per |PO - TO| bin, with SEM."""
    s = c.summary
    ax.set(
        title=f"{title}\n{_p_text(c, 'bin x train')}",
        xlabel="|PO - TO| (deg)",
        ylabel="normalised slope at TO (1/deg)",
    )
    if s is None or s["n"].sum() == 0:
        _untestable_panel(ax, c)
        return
    _untestable_panel(ax, c)
    tr, nv = s[s["group"] == "trained"], s[s["group"] == "naive"]
    x = np.arange(len(tr))
    w = 0.38
    ax.bar(
        x - w / 2,
        tr["mean"],
        w,
        yerr=tr["sem"],
        color=_TRAINED,
        label="trained",
        error_kw=dict(lw=0.8),
    )
    ax.bar(
        x + w / 2,
        nv["mean"],
        w,
        yerr=nv["sem"],
        color="white",
        edgecolor="black",
        label="naive",
        error_kw=dict(lw=0.8),
    )
    if c.testable and c.tests is not None:
        top = np.nanmax(
            np.concatenate(
                [
                    (tr["mean"] + tr["sem"].fillna(0)).to_numpy(),
                    (nv["mean"] + nv["sem"].fillna(0)).to_numpy(),
                ]
            )
        )
        for b, sig in zip(c.tests["bin"], c.tests["significant"], strict=True):
            if sig:
                ax.text(b, 1.03 * top, "*", ha="center", va="bottom", fontsize=12)
        if np.isfinite(top) and top > 0:
            ax.set_ylim(top=1.18 * top)  # room for the asterisks below the title
    ax.set_xticks(
        x,
        [f"{lo:g}-{hi:g}" for lo, hi in zip(tr["lo"], tr["hi"], strict=True)],
        rotation=45,
        fontsize=7,
    )
    style.legend_outside(ax, where="below", ncol=2)


def _po_hist(ax, c: ph.Comparison, title: str, uniform: bool = False) -> None:
    s = c.summary
    ax.set(
        title=f"{title}\n{_p_text(c, 'K-S')}", xlabel="PO - TO (deg)", ylabel="fraction of units"
    )
    if s is None or s["n"].sum() == 0:
        _untestable_panel(ax, c)
        return
    for label, color, kw in (("trained", _TRAINED, {}), ("naive", _NAIVE, dict(ls="--"))):
        g = s[s["group"] == label]
        edges = np.append(g["lo"].to_numpy(), g["hi"].to_numpy()[-1])
        ax.stairs(
            g["fraction"].to_numpy(),
            edges,
            color=color,
            label=f"{label} (n={g['n'].iloc[0]})",
            **kw,
        )
    if uniform:
        ax.axhline(
            1.0 / len(s[s["group"] == "trained"]), color="tab:blue", lw=0.8, ls=":", label="uniform"
        )
    ax.axvline(0.0, color="k", lw=0.5)
    style.legend_outside(ax, where="below", ncol=2)


def _distribution(ax, table, measure, layer, prec, c: ph.Comparison, xlabel, log=False):
    ax.set(
        title=f"layer {ph.LAYERS.index(layer) + 1}, {prec:g} deg\n{_p_text(c, 'MWU')}",
        xlabel=xlabel,
        ylabel="fraction of units",
    )
    if _untestable_panel(ax, c):
        return
    g = ph.paired_groups(table, layer, prec)
    vals = [
        v[np.isfinite(v)]
        for v in (g.trained[measure].to_numpy(float), g.naive[measure].to_numpy(float))
    ]
    allv = np.concatenate(vals)
    if log:
        allv = allv[allv > 0]
        bins = np.geomspace(allv.min(), allv.max(), 16) if allv.size else 10
        ax.set_xscale("log")
    else:
        bins = np.linspace(allv.min(), allv.max(), 16)
    for v, label, color, ls in (
        (vals[0], "trained", _TRAINED, "-"),
        (vals[1], "naive", _NAIVE, "--"),
    ):
        w = np.full(v.size, 1.0 / max(v.size, 1))
        ax.hist(
            v,
            bins=bins,
            weights=w,
            histtype="step",
            color=color,
            ls=ls,
            label=f"{label} (n={v.size})",
        )
        ax.axvline(float(np.mean(v)), color=color, ls="--", lw=1.0)
    style.legend_outside(ax, where="below", ncol=2)


def _examples(ax, table, curves, layer, prec, n_examples):
    o = curves.shape[1]
    x = np.linspace(-90.0, 90.0, o)
    g = ph.paired_groups(table.reset_index(drop=True), layer, prec, common=True)
    ax.set(
        title=f"layer {ph.LAYERS.index(layer) + 1}, {prec:g} deg: examples",
        xlabel="orientation - TO (deg)",
        ylabel="mean response (a.u.)",
    )
    if g.trained.empty:
        style.no_data(ax, "example curves", "no common units")
        return
    naive_pos = {
        (round(float(r), 6), int(u)): i
        for i, r, u in zip(g.naive.index, g.naive["reference_deg"], g.naive["unit"], strict=True)
    }
    shown = 0
    for i, r, u in zip(g.trained.index, g.trained["reference_deg"], g.trained["unit"], strict=True):
        j = naive_pos.get((round(float(r), 6), int(u)))
        if j is None:
            continue
        ax.plot(x, curves[j], color=_NAIVE, ls="--", label="naive" if shown == 0 else None)
        ax.plot(x, curves[i], color=_TRAINED, label="trained" if shown == 0 else None)
        shown += 1
        if shown >= n_examples:
            break
    ax.axvline(0.0, color="k", lw=0.5)
    style.legend_outside(ax, where="below", ncol=2)


@style.styled
def figure_6(
    table,
    curves=None,
    *,
    high_deg=ph.HIGH_PRECISION_DEG,
    low_deg=ph.LOW_PRECISION_DEG,
    layer="norm2",
    n_examples=3,
    **kwargs,
) -> plt.Figure:
    """Fig. 6 (Schoups et al., 2001): layer 2 slope at TO by |PO - TO| (C) and PO (E).

    Args:
        table: the contract's unit table.
        curves: optional ``(len(table), O)`` tuning curves; if given, row A shows example naive
            (gray dashed) and trained (black) curves of layers 2 and 5 at ``high_deg``.
        high_deg, low_deg: the two training precisions (deg).
        layer: the layer compared (``norm2``; ``conv3`` for the extended data).
        n_examples: example curves per panel.
        **kwargs: passed to the comparisons (``alpha``, ``min_units``).
    """
    rows = 3 if curves is not None else 2
    fig, axes = plt.subplots(
        rows, 2, figsize=style.figure_size(2, height=2.4 * rows), squeeze=False
    )
    if curves is not None:
        c = np.asarray(curves, dtype=float)
        for ax, lay in zip(axes[0], (layer, "conv5"), strict=True):
            _examples(ax, table, c, lay, high_deg, n_examples)
        axes = axes[1:]
    lname = f"layer {ph.LAYERS.index(layer) + 1}"
    for j, prec in enumerate((high_deg, low_deg)):
        _slope_bars(
            axes[0, j],
            ph.schoups_slope(table, prec, layer=layer, **kwargs),
            f"{lname}, {prec:g} deg [6C]",
        )
        _po_hist(
            axes[1, j],
            ph.po_distribution_ks(table, layer, prec, **kwargs),
            f"{lname}, {prec:g} deg [6E]",
        )
    fig.suptitle("Fig. 6: comparison with Schoups et al. (2001)")
    fig.tight_layout()
    return style.finish(fig)


def _ghose_bars(ax, c: ph.Comparison, ylabel: str, title: str) -> None:
    ax.set(title=f"{title}\n{_p_text(c, 'ANOVA')}", xlabel="PO - TO (deg)", ylabel=ylabel)
    s = c.summary
    if s is None or s["n"].sum() == 0:
        _untestable_panel(ax, c)
        return
    tr, nv = s[s["group"] == "trained"], s[s["group"] == "naive"]
    centres = 0.5 * (tr["lo"] + tr["hi"]).to_numpy()
    width = float((tr["hi"] - tr["lo"]).iloc[0]) * 0.8
    colors = [
        "black" if lo <= 0.0 < hi else "0.75" for lo, hi in zip(tr["lo"], tr["hi"], strict=True)
    ]
    ax.bar(
        centres,
        tr["mean"],
        width,
        yerr=tr["sem"],
        color=colors,
        label="trained (black: bin of TO)",
        error_kw=dict(lw=0.8),
    )
    ax.errorbar(
        centres,
        nv["mean"],
        yerr=nv["sem"],
        fmt="o",
        mfc="white",
        mec="black",
        color="black",
        lw=0.8,
        label="naive",
    )
    style.legend_outside(ax, where="below", ncol=2)


@style.styled
def figure_7(
    table,
    *,
    high_deg=ph.HIGH_PRECISION_DEG,
    low_deg=ph.LOW_PRECISION_DEG,
    layers=("norm2", "conv3"),
    **kwargs,
) -> plt.Figure:
    """Fig. 7 (Ghose et al., 2002): tuning amplitude (B) and variance ratio (D) by PO bin.

    Columns: each layer in ``layers`` at ``high_deg`` and ``low_deg``; rows: amplitude and
    variance ratio of the trained units per signed PO - TO bin (black bar: bin of TO), with the
    naive means as open circles; the title gives the one-way ANOVA p across bins.
    """
    cols = [(lay, p) for lay in layers for p in (high_deg, low_deg)]
    fig, axes = plt.subplots(2, len(cols), figsize=style.figure_size(2, height=4.6), squeeze=False)
    for j, (lay, prec) in enumerate(cols):
        name = f"layer {ph.LAYERS.index(lay) + 1}, {prec:g} deg"
        _ghose_bars(
            axes[0, j],
            ph.ghose_by_po(table, "amplitude", lay, prec, **kwargs),
            "tuning amplitude (a.u.)",
            f"{name} [7B]",
        )
        _ghose_bars(
            axes[1, j],
            ph.ghose_by_po(table, "var_ratio", lay, prec, **kwargs),
            "variance ratio (a.u.)",
            f"{name} [7D]",
        )
    fig.suptitle("Fig. 7: comparison with Ghose et al. (2002)")
    fig.tight_layout()
    return style.finish(fig)


@style.styled
def figure_8(
    table, *, high_deg=ph.HIGH_PRECISION_DEG, low_deg=ph.LOW_PRECISION_DEG, layer="conv5", **kwargs
) -> plt.Figure:
    """Fig. 8 (Raiguel et al., 2006), layer 5: slope by |PO - TO| on common units (B), PO
    distribution vs uniform (D), SI (F) and normalised variance at PO (H), at both precisions."""
    fig, axes = plt.subplots(4, 2, figsize=style.figure_size(2, height=8.6), squeeze=False)
    lname = f"layer {ph.LAYERS.index(layer) + 1}"
    for j, prec in enumerate((high_deg, low_deg)):
        _slope_bars(
            axes[0, j],
            ph.raiguel_slope(table, prec, layer=layer, **kwargs),
            f"{lname}, {prec:g} deg (common units) [8B]",
        )
        _po_hist(
            axes[1, j],
            ph.po_uniformity_ks(table, layer, prec, **kwargs),
            f"{lname}, {prec:g} deg (trained vs uniform) [8D]",
            uniform=True,
        )
        _distribution(
            axes[2, j],
            table,
            "si",
            layer,
            prec,
            ph.compare_measure(table, "si", layer, prec, **kwargs),
            "selectivity index SI (unitless)",
        )
        _distribution(
            axes[3, j],
            table,
            "norm_var_po",
            layer,
            prec,
            ph.compare_measure(table, "norm_var_po", layer, prec, **kwargs),
            "normalised variance at PO (a.u.)",
            log=True,
        )
    fig.suptitle("Fig. 8: comparison with Raiguel et al. (2006)")
    fig.tight_layout()
    return style.finish(fig)


@style.styled
def figure_9(
    table,
    curves=None,
    *,
    high_deg=ph.HIGH_PRECISION_DEG,
    low_deg=ph.LOW_PRECISION_DEG,
    layer="conv5",
    **kwargs,
) -> plt.Figure:
    """Fig. 9 (Yang & Maunsell, 2004), layer 5: tuning amplitude (B), best discriminability
    (D, one-sided MWU trained < naive) and, given ``curves``, the PO-aligned normalised tuning
    curves (F; red lines: orientations where trained < naive, MWU at alpha / O)."""
    fig, axes = plt.subplots(3, 2, figsize=style.figure_size(2, height=7.6), squeeze=False)
    for j, prec in enumerate((high_deg, low_deg)):
        _distribution(
            axes[0, j],
            table,
            "amplitude",
            layer,
            prec,
            ph.compare_measure(table, "amplitude", layer, prec, **kwargs),
            "tuning amplitude (a.u.)",
        )
        _distribution(
            axes[1, j],
            table,
            "best_disc",
            layer,
            prec,
            ph.compare_measure(table, "best_disc", layer, prec, alternative="less", **kwargs),
            "best discriminability (deg$^2$, lower is better)",
            log=True,
        )
        ax = axes[2, j]
        ax.set(xlabel="orientation - PO (deg)", ylabel="normalised response (max = 1)")
        if curves is None:
            ax.set_title(f"layer 5, {prec:g} deg")
            style.no_data(ax, "tuning curves", "none given")
            continue
        c = ph.tuning_width(table, curves, layer, prec, **kwargs)
        ax.set_title(
            f"layer {ph.LAYERS.index(layer) + 1}, {prec:g} deg\n{_p_text(c, 'range x train')} [9F]"
        )
        s = c.summary
        if s["mean_trained"].notna().any():
            for label, color, ls in (("trained", _TRAINED, "-"), ("naive", _NAIVE, "--")):
                m, e = s[f"mean_{label}"].to_numpy(), s[f"sem_{label}"].to_numpy(float)
                ax.plot(s["offset_deg"], m, color=color, ls=ls, label=label)
                ax.fill_between(s["offset_deg"], m - e, m + e, color=color, alpha=0.2, lw=0)
        for k, off in enumerate(s["offset_deg"][s["significant"]]):
            ax.axvline(
                off,
                color="red",
                lw=0.6,
                alpha=0.6,
                label="trained < naive (MWU)" if k == 0 else None,
            )
        half = 45.0
        ax.axvspan(-half, half, color="tab:blue", alpha=0.06, label="preferred range")
        if not c.testable:
            _untestable_panel(ax, c)
        style.legend_outside(ax, where="below", ncol=2)
    fig.suptitle("Fig. 9: comparison with Yang & Maunsell (2004)")
    fig.tight_layout()
    return style.finish(fig)


def _shares_text(r: ph.SensitivityRegression) -> str:
    if not r.testable:
        return f"{r.level} level: not testable ({r.reason})"
    p_fi = min(r.p[t] for t in ph.FI_TERMS)
    return (
        f"{r.level} level (n={r.n}, R$^2$={r.r2:.2f}): layer {100 * r.shares['layer']:.1f}% "
        f"(p={r.p['C(layer_index)']:.2g}), separation {100 * r.shares['separation']:.1f}% "
        f"(p={r.p['C(separation_deg)']:.2g}), FI terms {100 * r.shares['fi']:.1f}% "
        f"(min p={p_fi:.2g})"
    )


@style.styled
def figure_10(layer_table=None, unit_level_table=None, table=None, *, alpha=ALPHA) -> plt.Figure:
    """Fig. 10: initial sensitivity vs learning (Eq. 7).

    Args:
        layer_table: layer-level table (``d_rel1, fi, layer_index, separation_deg,
            reference_deg``) for panel A: layer change vs naive population FI at TO.
        unit_level_table: unit-level table (``d_rel1, fi, layer_index, separation_deg``) for
            panel B: unit change vs naive unit FI, rescaled per (layer, separation), one panel
            per layer, Pearson r per separation in the legend (Bonferroni over the cells).
        table: the contract's unit table for panel C: unit FI at TO before vs after training
            (common units, all precisions).
        alpha: significance level for the correlations.
    """
    fig, axes = plt.subplots(
        3,
        5,
        figsize=style.figure_size(2, height=8.6),
        squeeze=False,
        gridspec_kw=dict(left=0.08, right=0.98, top=0.93, bottom=0.1, hspace=1.25, wspace=0.75),
    )
    gs = axes[0, 0].get_gridspec()
    for ax in axes[0, :3]:
        ax.remove()
    ax_a = fig.add_subplot(gs[0, :3])
    for ax in axes[0, 3:]:
        ax.remove()
    ax_t = fig.add_subplot(gs[0, 3:])
    ax_t.axis("off")
    lines = []
    ax_a.set(
        title="layer change vs naive layer FI at TO",
        xlabel="naive FI at TO (1/deg$^2$)",
        ylabel="d_rel1 (relative change)",
    )
    if layer_table is not None:
        r = ph.initial_sensitivity_regression(layer_table, "layer")
        lines.append(_shares_text(r))
        for li, g in layer_table.groupby("layer_index"):
            ax_a.scatter(g["fi"], g["d_rel1"], s=10, label=f"layer {int(li)}")
        if (layer_table["fi"] > 0).all():
            ax_a.set_xscale("log")
        style.legend_outside(ax_a, where="below", ncol=2)
    else:
        style.no_data(ax_a, "layer change vs FI", "no layer-level table")
    layers = range(1, 6)
    if unit_level_table is not None:
        r = ph.initial_sensitivity_regression(unit_level_table, "unit")
        lines.append(_shares_text(r))
        scaled = ph.rescale_per_group(unit_level_table)
        corr = ph.unit_correlations(unit_level_table, alpha=alpha)
        seps = sorted(scaled["separation_deg"].unique())
        colors = dict(zip(seps, plt.cm.viridis(np.linspace(0, 0.85, len(seps))), strict=True))
        for j, li in enumerate(layers):
            ax = axes[1, j]
            g = scaled[scaled["layer_index"] == li]
            for sep, gs_ in g.groupby("separation_deg"):
                row = corr[(corr["layer_index"] == li) & (corr["separation_deg"] == sep)]
                rr = float(row["r"].iloc[0]) if len(row) else math.nan
                star = "*" if len(row) and bool(row["significant"].iloc[0]) else ""
                ax.scatter(
                    gs_["fi_scaled"],
                    gs_["d_rel1_scaled"],
                    s=5,
                    color=colors[sep],
                    label=f"{sep:g} deg: r={rr:.2f}{star}",
                )
            ax.set(title=f"layer {li}", xlabel="naive unit FI / max", ylabel="unit change / max")
            style.legend_outside(ax, where="below", ncol=1, title="sep.: Pearson r")
    else:
        for j in range(5):
            style.no_data(axes[1, j], "unit change vs FI", "no unit-level table")
    lines.append("* Pearson r significant at alpha / (number of cells)")
    text = "\n\n".join(textwrap.fill(line, width=55) for line in lines)
    ax_t.text(0.0, 1.0, text, va="top", fontsize=style.FONT_SIZE - 1, transform=ax_t.transAxes)
    for j, li in enumerate(layers):
        ax = axes[2, j]
        ax.set(
            title=f"layer {li}",
            xlabel="FI at TO before (1/deg$^2$)",
            ylabel="FI at TO after (1/deg$^2$)",
        )
        if table is None:
            style.no_data(ax, "unit-level change", "no unit table")
            continue
        before, after = _fi_pairs(table, ph.LAYERS[li - 1])
        ok = (before > 0) & (after > 0)
        if ok.any():
            ax.scatter(before[ok], after[ok], s=4, color="black", label=f"n={int(ok.sum())}")
            lo, hi = min(before[ok].min(), after[ok].min()), max(before[ok].max(), after[ok].max())
            ax.plot([lo, hi], [lo, hi], color="red", lw=0.8, label="unchanged")
            ax.set(xscale="log", yscale="log")
            style.legend_outside(ax, where="below", ncol=1)
    fig.suptitle("Fig. 10: initial sensitivity vs learning (Eq. 7)")
    return style.finish(fig)


def _fi_pairs(table, layer):
    """Naive and trained ``fi_to`` of the same (reference, unit), all trained networks."""
    rows = table[table["layer"].astype(str) == layer]
    naive = rows[~rows["trained"].astype(bool) & rows["included"].astype(bool)]
    key = {
        (round(float(r), 6), int(u)): f
        for r, u, f in zip(naive["reference_deg"], naive["unit"], naive["fi_to"], strict=True)
    }
    tr = rows[rows["trained"].astype(bool) & rows["included"].astype(bool)]
    b, a = [], []
    for r, u, f in zip(tr["reference_deg"], tr["unit"], tr["fi_to"], strict=True):
        k = (round(float(r), 6), int(u))
        if k in key:
            b.append(key[k])
            a.append(f)
    return np.asarray(b, dtype=float), np.asarray(a, dtype=float)


__all__ = ["figure_6", "figure_7", "figure_8", "figure_9", "figure_10"]
