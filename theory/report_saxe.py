"""``vpl-jax theory saxe --out DIR``: figures and the reference table of the Saxe theory.

The theory is that of A. M. Saxe, *A deep learning theory of perceptual learning dynamics*
(poster), worked out in :mod:`theory.saxe`.

Writes into ``out_dir``:

* ``alpha_beta_vs_t.png``: alpha(t), beta(t) of a fine (2 deg) and a coarse (45 deg) task, closed
  form (lines) with full gradient descent of the N = 180 network overlaid (points);
* ``beta_over_alpha.png``: beta/alpha against t for every reference task (its own curve; the
  decision layer leads early, by more for fine tasks), with the fixed points beta*/alpha* marked;
* ``reverse_hierarchy.png``: Delta_k(t) of depth-4 and depth-5 chains (Q-ODE lines, gradient
  descent on the full-matrix construction as points);
* ``within_layer_profile.png``: |alpha* d_j| versus preferred orientation, fine versus coarse;
* ``transfer.png``: relative transfer y_b/y_a versus c_ab (theory lines, pooling-network gradient
  descent points);
* ``reference_table.csv`` (:func:`format_table` gives it as aligned text) and ``summary.json``
  (agreement checks, savings).

Every figure is also written as PDF next to its PNG, in the paper style of
:mod:`theory.figure_style` (journal column widths, colour-blind-safe colours, legends for every
line and marker, beside the data).

This module is the only place where the Saxe theory is plotted or written to disk; the numerics
live in :mod:`theory.saxe` and :mod:`theory.deep_linear`. It runs in float64 (it enables x64 for
its own duration), draws on ``matplotlib.figure.Figure`` objects with the Agg canvas (no display,
no pyplot state) and prints nothing (the command line prints the table).
"""

from __future__ import annotations

import csv
import functools
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from tqdm.auto import tqdm

from theory import deep_linear as dl
from theory import figure_style as fs
from theory import saxe
from theory import tuning as tu

__all__ = ["FIGURES", "format_table", "run", "write_table_csv"]

FINE_DEG, COARSE_DEG = 2.0, 45.0
#: The figures, in the order they are drawn (each written as ``NAME.png`` and ``NAME.pdf``).
FIGURES = (
    "alpha_beta_vs_t",
    "beta_over_alpha",
    "reverse_hierarchy",
    "within_layer_profile",
    "transfer",
)
C_AB_POINTS = (0.25, 0.5, 0.75)
TABLE_FORMATS = {
    "dtheta_deg": "{:>6.0f}",
    "v": "{:>10.4g}",
    "alpha_star": "{:>10.4g}",
    "beta_star": "{:>10.4g}",
    "beta_over_alpha": "{:>10.4g}",
    "t_half_alpha": "{:>10.4g}",
    "t_half_beta": "{:>10.4g}",
    "dW2_over_dW1": "{:>10.4g}",
    "transfer_over_c_ab": "{:>10.4g}",
    "most_changed_offset_deg": "{:>8.0f}",
}
TABLE_HEADERS = {
    "dtheta_deg": "dθ(°)",
    "v": "v",
    "alpha_star": "α*",
    "beta_star": "β*",
    "beta_over_alpha": "β*/α*",
    "t_half_alpha": "t½(α)",
    "t_half_beta": "t½(β)",
    "dW2_over_dW1": "‖ΔW2‖/‖ΔW1‖",
    "transfer_over_c_ab": "transfer/c_ab",
    "most_changed_offset_deg": "offset(°)",
}


def format_table(table: dict[str, np.ndarray]) -> str:
    """The reference table as aligned text (one row per stimulus separation).

    The default table of :func:`theory.saxe.reference_table` is computed for ``c = 1``,
    ``tau = 1``, ``beta0 = 0`` and von Mises tuning with ``N = 180``, ``kappa = 2``.
    """
    widths = {
        k: max(len(fmt.format(1.0)), len(TABLE_HEADERS[k])) for k, fmt in TABLE_FORMATS.items()
    }
    head = "  ".join(TABLE_HEADERS[k].rjust(widths[k]) for k in TABLE_FORMATS)
    rows = [
        "  ".join(TABLE_FORMATS[k].format(table[k][i]).rjust(widths[k]) for k in TABLE_FORMATS)
        for i in range(len(table["dtheta_deg"]))
    ]
    return "\n".join([head, *rows])


def write_table_csv(table: dict[str, np.ndarray], path: Path) -> None:
    """Write the reference table as CSV with full float64 precision (``%.17g``)."""
    keys = list(table)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(keys)
        for i in range(len(table[keys[0]])):
            writer.writerow([f"{float(table[k][i]):.17g}" for k in keys])


@functools.partial(jax.jit, static_argnames=("num_steps", "record_every"))
def _chain_gd(weights0, sxx, syx, task, lr, *, num_steps, record_every):
    return dl.gradient_descent(
        weights0,
        sxx,
        syx,
        lr=lr,
        num_steps=num_steps,
        record_every=record_every,
        observe=lambda w: dl.chain_projection(w, task),
    )


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _pool_gd(pool, task, lr, *, num_steps):
    _, rec = dl.pooling_gradient_descent(
        dl.pooling_network(task, pool),
        pool,
        0,
        lr=lr,
        num_steps=num_steps,
        record_every=num_steps,
        observe=lambda q: dl.pooling_projection(q, pool, task),
    )
    return rec


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fs.finish(fig, letters=len(fig.axes) > 1)
    fs.save(fig, path, formats=("png", "pdf"), dpi=200)


def _gd_handle(marker: str = "o"):
    """Legend entry for the gradient-descent points (open markers)."""
    return Line2D([], [], ls="none", marker=marker, mfc="none", color="0.3", ms=4)


@fs.styled
def _alpha_beta_figure(out: Path, summary: dict) -> Figure:
    fig = Figure(figsize=fs.figure_size(2, height=2.8), layout="constrained")
    for ax, dtheta in zip(fig.subplots(1, 2), (FINE_DEG, COARSE_DEG), strict=True):
        task = tu.task_vectors(np.deg2rad(dtheta))
        v = float(task.v)
        t_a, _ = saxe.half_times(v)
        t_end = float(6.0 * t_a)
        lr = t_end / 800.0
        sim = saxe.simulate(task, lr=lr, num_steps=800, record_every=50)
        t = jnp.linspace(0.0, t_end, 121)
        alpha, beta = saxe.closed_form(t, v)
        ode = saxe.integrate(t, v)
        a_gd, b_gd = saxe.closed_form(sim.t, v)
        summary[f"dtheta_{dtheta:g}"] = {
            "v": v,
            "max_abs_closed_form_minus_ode": float(
                jnp.max(jnp.abs(jnp.stack([alpha - ode.alpha, beta - ode.beta])))
            ),
            "gd_lr": lr,
            "max_abs_gd_minus_theory": float(
                jnp.max(jnp.abs(jnp.stack([sim.alpha - a_gd, sim.beta - b_gd])))
            ),
            "max_off_manifold_residual": float(jnp.max(sim.residual)),
        }
        ax.plot(t, beta, color="C0", label="β (decision layer), closed form")
        ax.plot(t, alpha, color="C1", label="α (input layer), closed form")
        ax.plot(sim.t, sim.beta, "o", color="C0", ms=3, mfc="none", label="β, gradient descent")
        ax.plot(sim.t, sim.alpha, "s", color="C1", ms=3, mfc="none", label="α, gradient descent")
        ax.set(
            xlabel="t (units of τ)",
            ylabel="size of change",
            title=f"Δθ = {dtheta:g}° ({'fine' if dtheta == FINE_DEG else 'coarse'}), v = {v:.3g}",
        )
    fs.legend_outside(ax, where="right")
    _save(fig, out / "alpha_beta_vs_t.png")
    return fig


@fs.styled
def _ratio_figure(out: Path, table: dict[str, np.ndarray]) -> Figure:
    """beta/alpha against t per task: every task follows its own curve, so the timing shows."""
    fig = Figure(figsize=fs.figure_size(1.5, height=2.9), layout="constrained")
    ax = fig.subplots()
    t = jnp.logspace(-3, 2, 300)
    colors = colormaps[fs.SEQUENTIAL_CMAP](np.linspace(0.0, 0.9, len(table["v"])))
    ax.axhline(np.sqrt(2.0), color="0.6", ls=":", lw=0.8, zorder=0, label="√2")
    for i, (dtheta, v) in enumerate(zip(table["dtheta_deg"], table["v"], strict=True)):
        alpha, beta = saxe.closed_form(t, float(v))
        ratio = np.asarray(beta / alpha)
        ax.loglog(t, ratio, color=colors[i], lw=1.2, label=f"Δθ = {dtheta:g}°", zorder=2)
        a_star, b_star = table["alpha_star"][i], table["beta_star"][i]
        ax.plot(t[-1], b_star / a_star, ">", color=colors[i], ms=4, clip_on=False, zorder=3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="none", marker=">", color="0.3", ms=4))
    labels.append("β*/α* (fixed point)")
    ax.set(
        xlabel="t (units of τ)",
        ylabel="β/α (decision / input-layer change)",
        title="The decision layer changes first and more",
    )
    fs.legend_outside(ax, where="right", handles=handles, labels=labels)
    _save(fig, out / "beta_over_alpha.png")
    return fig


@fs.styled
def _hierarchy_figure(out: Path, summary: dict) -> Figure:
    fig = Figure(figsize=fs.figure_size(2, height=2.8), layout="constrained")
    task = tu.task_vectors(np.deg2rad(10.0), n=60)
    v = float(task.v)
    ts = jnp.linspace(0.0, 3.0, 121)
    for ax, depth in zip(fig.subplots(1, 2), (4, 5), strict=True):
        b0 = np.sqrt(v) * np.linspace(1.0, 0.3, depth)
        q, _ = saxe.integrate_q(ts, b0)
        deltas = saxe.chain_deltas(q, b0)
        weights0, sxx, syx = dl.chain_network(task, b0[1:])
        _, (b_gd, _) = _chain_gd(weights0, sxx, syx, task, 1e-3, num_steps=3000, record_every=150)
        t_gd = np.arange(b_gd.shape[0]) * 150 * 1e-3
        incr = np.asarray(b_gd**2 - b_gd[:1] ** 2)
        summary[f"depth_{depth}"] = {
            "b0": b0.tolist(),
            "final_delta_theory": np.asarray(deltas[-1]).tolist(),
            "final_delta_gd": np.asarray(b_gd[-1] - b_gd[0]).tolist(),
            "max_spread_of_b2_increments_gd": float(np.max(incr.max(1) - incr.min(1))),
        }
        for k in range(depth):
            ax.plot(ts, deltas[:, k], color=f"C{k}", label=f"layer {k + 1}, b(0) = {b0[k]:.2f}")
            ax.plot(t_gd, b_gd[:, k] - b_gd[0, k], "o", color=f"C{k}", ms=3, mfc="none")
        ax.set(
            xlabel="t",
            ylabel="Δ_k(t) = b_k(t) − b_k(0)",
            title=f"depth {depth}: least informative layer changes most",
        )
        handles, labels = ax.get_legend_handles_labels()
        handles.append(_gd_handle())
        labels.append("gradient descent (lines: Q-ODE)")
        fs.legend_outside(ax, where="below", handles=handles, labels=labels)
    _save(fig, out / "reverse_hierarchy.png")
    return fig


@fs.styled
def _profile_figure(out: Path, summary: dict) -> Figure:
    fig = Figure(figsize=fs.figure_size(1.5, height=2.6), layout="constrained")
    ax = fig.subplots()
    phi_deg = np.rad2deg(np.asarray(tu.preferred_orientations(180)))
    offset = (phi_deg - 45.0 + 90.0) % 180.0 - 90.0
    order = np.argsort(offset)
    for dtheta, color in ((FINE_DEG, "C3"), (COARSE_DEG, "C0"), (90.0, "C2")):
        task = tu.task_vectors(np.deg2rad(dtheta))
        a_star, _ = saxe.fixed_point(task.v)
        prof = np.asarray(saxe.change_profile(a_star, task.d))
        ax.plot(
            offset[order],
            prof[order] / prof.max(),
            color=color,
            label=f"Δθ = {dtheta:g}° (α* = {float(a_star):.3g})",
        )
        summary[f"most_changed_offset_deg_{dtheta:g}"] = float(saxe.most_changed_offset_deg(task.d))
    ax.set(
        xlabel="preferred orientation − θ0 (deg)",
        ylabel="|α* d_j| (normalised)",
        title="Within layer: most informative neurons change most",
    )
    fs.legend_outside(ax, where="right")
    _save(fig, out / "within_layer_profile.png")
    return fig


@fs.styled
def _transfer_figure(out: Path, summary: dict) -> Figure:
    fig = Figure(figsize=fs.figure_size(1.5, height=2.8), layout="constrained")
    ax = fig.subplots()
    grid = np.linspace(0.0, 1.0, 51)
    lr, steps = 5e-3, 1000  # t = 5
    points = {}
    for dtheta, color in ((FINE_DEG, "C3"), (10.0, "C1"), (COARSE_DEG, "C0")):
        task = tu.task_vectors(np.deg2rad(dtheta))
        alpha_t, _ = saxe.closed_form(lr * steps, task.v)
        ax.plot(grid, saxe.transfer_ratio(alpha_t, grid), color=color, label=f"Δθ = {dtheta:g}°")
        measured, alpha_untrained = [], 0.0
        for c_ab in C_AB_POINTS:
            pool = jnp.array([[1.0, 0.0], [c_ab, np.sqrt(1.0 - c_ab**2)]])
            rec = _pool_gd(pool, task, lr, num_steps=steps)
            y = np.asarray(rec["outputs"][-1])
            measured.append(y[1, 0] / y[0, 0])
            alpha_untrained = max(alpha_untrained, float(np.max(np.abs(rec["alpha"][:, 1]))))
        ax.plot(C_AB_POINTS, measured, "o", color=color, mfc="none")
        res = saxe.savings(task.v, 0.5, lr * steps)
        points[f"dtheta_{dtheta:g}"] = {
            "c_ab": list(C_AB_POINTS),
            "transfer_gd": [float(m) for m in measured],
            "transfer_theory": [float(saxe.transfer_ratio(alpha_t, c)) for c in C_AB_POINTS],
            "max_abs_alpha_untrained_location": alpha_untrained,
            "savings_c_ab_0.5": {k: float(val) for k, val in res.items()},
        }
    ax.plot(grid, grid, "k:", lw=1, label="y_b/y_a = c_ab (α = 0)")
    ax.set(
        xlabel="pooling overlap c_ab",
        ylabel="y_b / y_a after training at a (t = 5)",
        title="Transfer: decision layer transfers, input layer does not",
    )
    handles, labels = ax.get_legend_handles_labels()
    handles.append(_gd_handle())
    labels.append("pooling network, gradient descent (lines: theory)")
    fs.legend_outside(ax, where="right", handles=handles, labels=labels)
    summary["transfer"] = points
    _save(fig, out / "transfer.png")
    return fig


def run(out_dir: Path, *, progress: bool = True) -> dict:
    """Compute the Saxe-theory figures and reference table and write them to ``out_dir``.

    Args:
        out_dir: output folder (created if missing).
        progress: show a tqdm progress bar on stderr.

    Returns:
        dict with ``table`` (column -> np.ndarray), ``files`` (list of written paths),
        ``summary`` (closed form vs ODE vs gradient descent agreement, reverse hierarchy,
        transfer and savings numbers) and ``figures`` (`FIGURES` name -> the Figure).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    with jax.enable_x64(True):
        table = saxe.reference_table()
        parts = [
            (
                "α/β vs t (closed form, ODE, gradient descent)",
                lambda: _alpha_beta_figure(out, summary),
            ),
            ("β/α vs t", lambda: _ratio_figure(out, table)),
            ("reverse hierarchy (depth 4, 5)", lambda: _hierarchy_figure(out, summary)),
            ("within-layer profile", lambda: _profile_figure(out, summary)),
            ("transfer and savings", lambda: _transfer_figure(out, summary)),
        ]
        bar = tqdm(parts, desc="theory saxe", disable=not progress, file=sys.stderr)
        figures = {}
        for (name, part), stem in zip(bar, FIGURES, strict=True):
            bar.set_postfix_str(name)
            figures[stem] = part()
    write_table_csv(table, out / "reference_table.csv")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    files = sorted(str(p) for p in out.iterdir())
    return {"table": table, "files": files, "summary": summary, "figures": figures}
