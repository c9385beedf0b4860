"""Figures 4, 7B, 8, 9 and 10 of Cadena et al. (2019) from the bench's numbers.

Each function takes plain arrays (what `vpl_jax.v1.bench` stores), returns a
``matplotlib.figure.Figure`` (saved by the caller), letters its panels and writes a note in a
panel whose data are missing instead of drawing nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from vpl_jax.v1 import metrics

__all__ = ["figure_4", "figure_7b", "figure_8", "figure_9", "figure_10"]

_COLORS = {"LNP": "#7f7f7f", "GFB": "#2ca02c", "CNN": "#1f77b4", "VGG": "#d62728"}


def _letter(ax, letter: str) -> None:
    ax.text(-0.12, 1.04, letter, transform=ax.transAxes, fontsize=13, fontweight="bold",
            va="bottom", ha="left")  # fmt: skip


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color="0.4", wrap=True)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _mean_ci(values: Sequence[np.ndarray]):
    rows = [metrics.mean_ci(v) for v in values]
    m = np.array([r[0] for r in rows])
    err = np.array([[r[0] - r[1], r[2] - r[0]] for r in rows]).T
    return m, np.nan_to_num(err)


def figure_4(
    sweeps: Mapping[str, Mapping[str, np.ndarray]], *, paper: Mapping[str, float] | None = None
) -> Figure:
    """FEV per layer (mean and 95 % CI over neurons) for each feature stack (Fig. 4).

    Args:
        sweeps: ``{stack: {layer: (N,) FEV}}`` in layer order, e.g. ``{"VGG-19 (random)": ...,
            "AlexNet (bundled)": ...}``.
        paper: the paper's values to mark (``{"conv1_1": 0.31, "conv3_1": 0.516}``).
    """
    stacks = [s for s in sweeps if sweeps[s]]
    fig = Figure(figsize=(5.5 * max(len(stacks), 1), 4.0), layout="constrained")
    axes = fig.subplots(1, max(len(stacks), 1), squeeze=False)[0]
    if not stacks:
        _no_data(axes[0], "no layer sweep in this run")
        _letter(axes[0], "A")
        return fig
    for i, (ax, stack) in enumerate(zip(axes, stacks, strict=True)):
        layers = list(sweeps[stack])
        m, err = _mean_ci([sweeps[stack][layer] for layer in layers])
        x = np.arange(len(layers))
        ax.errorbar(x, m, yerr=err, marker="o", color="k", capsize=3, label="this run")
        if paper and i == 0:
            marks = [(layers.index(k), v) for k, v in paper.items() if k in layers]
            if marks:
                ax.plot(*zip(*marks, strict=True), "r*", ms=12, label="paper (monkey V1)")
        ax.set_xticks(x, layers, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("FEV (test)")
        ax.set_title(stack, fontsize=10)
        ax.axhline(0, color="0.7", lw=0.8)
        ax.legend(fontsize=8, loc="best")
        _letter(ax, "AB"[i] if i < 2 else str(i))
    return fig


def figure_7b(depths: Sequence[int], scores: Sequence[np.ndarray], *, paper=None) -> Figure:
    """FEV of the data-driven CNN versus its number of layers (Fig. 7B)."""
    fig = Figure(figsize=(4.5, 3.6), layout="constrained")
    ax = fig.subplots()
    if not depths:
        _no_data(ax, "no depth sweep in this run")
    else:
        m, err = _mean_ci(scores)
        ax.errorbar(depths, m, yerr=err, marker="o", color=_COLORS["CNN"], capsize=3,
                    label="this run")  # fmt: skip
        if paper:
            ax.plot(list(paper), list(paper.values()), "r*", ms=12, label="paper (monkey V1)")
        ax.set_xlabel("convolutional layers")
        ax.set_ylabel("FEV (test)")
        ax.set_xticks(list(depths))
        ax.legend(fontsize=8)
    _letter(ax, "B")
    return fig


def figure_8(
    scores: Mapping[str, np.ndarray],
    *,
    oracle: np.ndarray | None = None,
    tests: Sequence[Mapping] = (),
    paper: Mapping[str, float] | None = None,
    num_cells: int = 12,
    seed: int = 0,
) -> Figure:
    """Model comparison (Fig. 8): example cells, scatter plots, population means.

    Args:
        scores: ``{"LNP": (N,), "GFB": ..., "CNN": ..., "VGG": ...}`` test FEV.
        oracle: ``(N,)`` explainable-to-total variance ratio (grey bars of panel A).
        tests: rows of `vpl_jax.v1.metrics.paired_tests` (significance marks of panel D).
        paper: the paper's means (``{"LNP": 0.163, ...}``).
        num_cells: cells in panel A (drawn at random with ``seed``).
    """
    fig = Figure(figsize=(12, 8), layout="constrained")
    grid = fig.subplot_mosaic([["A", "A", "A"], ["B", "C", "D"]])
    names = [n for n in ("LNP", "GFB", "CNN", "VGG") if n in scores] or list(scores)
    ax = grid["A"]
    if not names:
        for k in "ABCD":
            _no_data(grid[k], "no fitted models in this run")
            _letter(grid[k], k)
        return fig
    n = len(next(iter(scores.values())))
    cells = np.sort(np.random.default_rng(seed).permutation(n)[: min(num_cells, n)])
    width = 0.8 / (len(names) + 1)
    x = np.arange(len(cells))
    if oracle is not None:
        ax.bar(x - 0.4 + width / 2, oracle[cells], width, color="0.6", label="explainable/total")
    for i, name in enumerate(names):
        ax.bar(x - 0.4 + width * (i + 1.5), scores[name][cells], width,
               color=_COLORS.get(name, None), label=name)  # fmt: skip
    ax.set_xticks(x, [str(c) for c in cells])
    ax.set_xlabel("cell")
    ax.set_ylabel("FEV")
    ax.legend(fontsize=8, ncol=5)
    _letter(ax, "A")
    ax = grid["B"]
    pairs = [(a, b) for a in ("LNP", "GFB") for b in ("CNN", "VGG") if a in scores and b in scores]
    if pairs:
        for a, b in pairs:
            ax.scatter(scores[a], scores[b], s=10, alpha=0.7, label=f"{b} vs {a}",
                       color=_COLORS[b], marker="o" if a == "LNP" else "^")  # fmt: skip
        ax.plot([-0.2, 1.2], [-0.2, 1.2], "k-", lw=0.8)
        ax.set_xlabel("FEV (LNP / GFB)")
        ax.set_ylabel("FEV (CNN / VGG)")
        ax.legend(fontsize=7)
    else:
        _no_data(ax, "needs LNP or GFB and CNN or VGG")
    _letter(ax, "B")
    ax = grid["C"]
    if "CNN" in scores and "VGG" in scores:
        ax.scatter(scores["CNN"], scores["VGG"], s=10, color="k")
        ax.plot([-0.2, 1.2], [-0.2, 1.2], "k-", lw=0.8)
        ax.set_xlabel("FEV (CNN)")
        ax.set_ylabel("FEV (VGG)")
    else:
        _no_data(ax, "needs CNN and VGG")
    _letter(ax, "C")
    ax = grid["D"]
    m, err = _mean_ci([scores[k] for k in names])
    ax.bar(names, m, yerr=err, color=[_COLORS.get(k, "0.5") for k in names], capsize=4,
           label="this run (95 % CI)")  # fmt: skip
    if paper:
        marks = [(names.index(k), v) for k, v in paper.items() if k in names]
        if marks:
            ax.plot(*zip(*marks, strict=True), "r*", ms=12, label="paper (monkey V1)")
    sig = [r for r in tests if r.get("significant")]
    top = np.nanmax(m + err[1]) if len(m) else 1.0
    for j, r in enumerate(sig):
        if r["a"] in names and r["b"] in names:
            i0, i1 = names.index(r["a"]), names.index(r["b"])
            y = top + 0.05 * (j + 1)
            ax.plot([i0, i1], [y, y], "k-", lw=0.8)
            ax.text((i0 + i1) / 2, y, "*", ha="center", va="bottom")
    ax.set_ylabel("mean FEV")
    ax.set_title("* Wilcoxon, Holm-Bonferroni p < 0.05", fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    _letter(ax, "D")
    return fig


def _von_mises_curve(theta, curve):
    fit = metrics.fit_von_mises(theta, curve)
    dense = np.linspace(0, np.pi, 181)
    if not np.isfinite(fit["fwhm"]):
        return dense, np.full_like(dense, np.mean(curve))
    return dense, metrics.von_mises(dense, fit["baseline"], fit["amplitude"], fit["kappa"],
                                    fit["theta0"])  # fmt: skip


def figure_9(
    tuning: metrics.TuningResult | None,
    scores: Mapping[str, np.ndarray],
    *,
    truth: metrics.TuningResult | None = None,
    stimuli: np.ndarray | None = None,
    num_curves: int = 8,
) -> Figure:
    """In-silico tuning and model performance (Fig. 9).

    Args:
        tuning: the CNN model's in-silico tuning (`vpl_jax.v1.metrics.insilico_tuning`).
        scores: test FEV per model (``LNP``, ``GFB``, ``CNN``, ``VGG``).
        truth: the ground-truth cells' tuning (simulations), drawn as open circles in C and E.
        stimuli: ``(n_o, n_f, n_p, S, S)`` Gabor images (`vpl_jax.v1.metrics.gabor_stimuli`),
            a sample of which is panel A.
        num_curves: tuning curves drawn in B and D.
    """
    fig = Figure(figsize=(13, 8), layout="constrained")
    grid = fig.subplot_mosaic([["A", "B", "C"], ["F", "D", "E"]])
    ax = grid["A"]
    if stimuli is None:
        _no_data(ax, "no Gabor stimuli given")
    else:
        st = np.asarray(stimuli)
        n_o, n_f, n_p, size = st.shape[0], st.shape[1], st.shape[2], st.shape[-1]
        rows = [st[(4 * r) % n_o, (2 * r) % n_f, :: max(n_p // 4, 1)][:4] for r in range(4)]
        tiles = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
        ax.imshow(tiles, cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"Gabor stimuli ({n_o} orientations x {n_f} frequencies x {n_p} phases, "
                     f"{size} px)", fontsize=8)  # fmt: skip
    _letter(ax, "A")
    if tuning is None:
        for k in "BCDEF":
            _no_data(grid[k], "no in-silico tuning in this run")
            _letter(grid[k], k)
        return fig
    n = len(tuning.fwhm)
    idx = np.arange(min(num_curves, n))
    deg = np.degrees(tuning.orientations)
    ax = grid["B"]
    for j in idx:
        c = tuning.orientation_curves[j]
        scale = c.max() if c.max() > 0 else 1.0
        ax.plot(deg, c / scale, "o", ms=3)
        dense, fitc = _von_mises_curve(tuning.orientations, c)
        ax.plot(np.degrees(dense), fitc / scale, "-", lw=0.8, color=ax.lines[-1].get_color())
    ax.set_xlabel("orientation (deg)")
    ax.set_ylabel("response / max")
    ax.set_title("dots: CNN model; lines: von Mises", fontsize=8)
    _letter(ax, "B")
    ax = grid["D"]
    phase = np.degrees(tuning.phases)
    for j in idx:
        c = tuning.phase_curves[j]
        scale = c.max() if c.max() > 0 else 1.0
        ax.plot(phase, c / scale, "o", ms=3)
        design = np.stack([np.cos(tuning.phases), np.sin(tuning.phases), np.ones_like(phase)], 1)
        coef, *_ = np.linalg.lstsq(design, c, rcond=None)
        dense = np.linspace(0, 2 * np.pi, 181)
        fitc = coef[0] * np.cos(dense) + coef[1] * np.sin(dense) + coef[2]
        ax.plot(np.degrees(dense), fitc / scale, "-", lw=0.8, color=ax.lines[-1].get_color())
    ax.set_xlabel("phase (deg)")
    ax.set_ylabel("response / max")
    ax.set_title("lines: A cos(phi - phi0) + c", fontsize=8)
    _letter(ax, "D")
    pairs = [(a, b) for a, b in (("GFB", "LNP"), ("CNN", "GFB"), ("VGG", "GFB"), ("CNN", "LNP"))
             if a in scores and b in scores]  # fmt: skip
    for key, prop, label in (("C", tuning.fwhm, "tuning width (deg)"),
                             ("E", tuning.linearity, "linearity index")):  # fmt: skip
        ax = grid[key]
        if not pairs:
            _no_data(ax, "needs two fitted models")
        for a, b in pairs:
            ax.scatter(prop, scores[a] - scores[b], s=10, label=f"{a} - {b}")
        if truth is not None and pairs:
            ref = truth.fwhm if key == "C" else truth.linearity
            a, b = pairs[0]
            ax.scatter(ref, scores[a] - scores[b], s=14, facecolors="none", edgecolors="k",
                       label=f"{a} - {b} at the true value")  # fmt: skip
        ax.axhline(0, color="0.7", lw=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel("FEV difference")
        if pairs:
            ax.legend(fontsize=7)
        _letter(ax, key)
    ax = grid["F"]
    if "GFB" in scores and "LNP" in scores:
        lin = tuning.linearity
        simple, complex_ = lin > 0.3, lin < 0.04
        rest = ~(simple | complex_)
        ax.scatter(scores["LNP"][rest], scores["GFB"][rest], s=10, color="0.6", label="other")
        ax.scatter(scores["LNP"][simple], scores["GFB"][simple], s=12, color="r",
                   label="simple (linearity > 0.3)")  # fmt: skip
        ax.scatter(scores["LNP"][complex_], scores["GFB"][complex_], s=12, color="b",
                   label="complex (linearity < 0.04)")  # fmt: skip
        ax.plot([-0.2, 1.2], [-0.2, 1.2], "k-", lw=0.8)
        ax.set_xlabel("FEV (LNP)")
        ax.set_ylabel("FEV (GFB)")
        ax.legend(fontsize=7)
    else:
        _no_data(ax, "needs GFB and LNP")
    _letter(ax, "F")
    return fig


def figure_10(
    matrices: Mapping[str, np.ndarray], train_types: Sequence[str], test_types: Sequence[str]
) -> Figure:
    """Training and evaluation on the stimulus types (Fig. 10): mean FEV heat maps.

    Args:
        matrices: ``{model: (len(train_types), len(test_types))}`` mean test FEV.
        train_types, test_types: row and column labels (``all``, ``original``, ``conv1``...).
    """
    names = list(matrices)
    fig = Figure(figsize=(5.2 * max(len(names), 1), 4.4), layout="constrained")
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    if not names:
        _no_data(axes[0], "no stimulus-transfer fits in this run")
        _letter(axes[0], "A")
        return fig
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        m = np.asarray(matrices[name], np.float64)
        im = ax.imshow(m, cmap="viridis", vmin=min(0.0, np.nanmin(m)), vmax=max(np.nanmax(m), 0.1))
        for r in range(m.shape[0]):
            for c in range(m.shape[1]):
                text = "n/a" if not np.isfinite(m[r, c]) else f"{m[r, c]:.2f}"
                ax.text(c, r, text, ha="center", va="center", fontsize=7, color="w")
        ax.set_xticks(range(len(test_types)), test_types, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(train_types)), train_types, fontsize=8)
        ax.set_xlabel("tested on")
        ax.set_ylabel("trained on")
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8, label="mean FEV")
        _letter(ax, "AB"[i] if i < 2 else str(i))
    return fig
