"""Figures and numbers of the linear theory of efficient codes: ``vpl-jax theory svd --out DIR``.

The paper: Benjamin, Zhang, Qiu, Stocker & Kording (2022), *Efficient neural codes naturally
emerge through gradient descent learning* (linear networks, Fig. 5 and SI Fig. 2). Add
``--full-size`` for the paper's sizes.

Runs, in order:

1. the natural-patch data: the bundled photos (:mod:`theory.natural_images`), random patches,
   their covariance and PCA spectrum with its power-law exponent;
2. the linear autoencoder (:mod:`theory.linear_ae`) for depths 1-4 (progress bar over the
   training steps), plus a depth-1 run with a Hann-windowed sinusoid probe;
3. the singular-value closed forms of :mod:`theory.sv_dynamics` against full gradient descent
   (:mod:`theory.deep_linear`) from an aligned, balanced initialisation, depths 1-4.

Writes into ``out_dir``: ``pca_spectrum.png``, ``pc_learning_curves.png``,
``half_time_vs_variance.png``, ``threshold_curves.png``, ``acuity.png``, ``alignment.png``,
``sv_closed_forms_vs_gd.png`` (each also as PDF, in the paper style of
:mod:`theory.figure_style`; ``summary["figures"]`` holds each figure's layout checks: overlapping
tick labels, legends over data, panel letters), ``summary.json`` (every fitted number),
``summary.csv`` (the same, flattened) and ``half_times.csv`` (per depth and PC: variance, t10,
t50, t90 in steps).

This module is the only place with plotting and file output for this part of the theory; the
numerical modules stay pure. Figures are drawn on ``matplotlib.pyplot.subplots`` figures that are
closed once saved (no backend is selected here; no other pyplot state is touched), and nothing is
printed: :func:`headline` gives the summary as text for the command line.
"""

from __future__ import annotations

import csv
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from tqdm.auto import tqdm

from theory import deep_linear, linear_ae, natural_images, sv_dynamics
from theory import figure_style as fs
from theory.checks import InputError

__all__ = ["headline", "run"]

DEPTHS = (1, 2, 3, 4)
_CHUNKS = 10  # training is run in this many chunks per depth to drive the progress bar


def _configs(full_size: bool, depths, **overrides) -> dict[int, linear_ae.LinearAEConfig]:
    make = linear_ae.LinearAEConfig.full if full_size else linear_ae.LinearAEConfig.reduced
    return {d: make(d, **overrides) for d in depths}


def _train_in_chunks(key, cfg, sxx, bar):
    """Train ``cfg`` in ``_CHUNKS`` pieces (one compilation), concatenating the records."""
    per = cfg.num_steps // cfg.record_every
    n_chunks = max(1, min(_CHUNKS, per))
    while per % n_chunks:
        n_chunks -= 1
    chunk_cfg = linear_ae.LinearAEConfig(
        **{
            **{f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
            "num_steps": cfg.num_steps // n_chunks,
        }
    )
    weights, parts = None, []
    for i in range(n_chunks):
        res = linear_ae.train(key, chunk_cfg, sxx, weights0=weights, dtype=jnp.float32)
        jax.block_until_ready(res.pc_projection)
        weights = res.weights
        parts.append(res if i == 0 else res._replace(**{k: getattr(res, k)[1:] for k in _RECORDED}))
        if bar is not None:
            bar.update(chunk_cfg.num_steps)
    merged = {k: np.concatenate([np.asarray(getattr(p, k)) for p in parts]) for k in _RECORDED}
    steps = np.arange(merged["acuity"].shape[0]) * cfg.record_every
    return parts[-1]._replace(
        **merged, steps=steps, times=steps * cfg.time_per_step, weights=weights
    )


_RECORDED = ("pc_projection", "offdiag_fraction", "sensitivity", "threshold", "acuity")


def _pc_timing(res, record_dt):
    """Crossing times (steps) at 10/50/90 % and the mask of PCs resolved by the records."""
    steps = np.asarray(res.steps, np.float64)
    curves = np.asarray(res.pc_projection, np.float64)
    t10, t50, t90 = (linear_ae.crossing_times(steps, curves, lv) for lv in (0.1, 0.5, 0.9))
    resolved = np.isfinite(t50) & (t50 >= 2 * record_dt)
    return t10, t50, t90, resolved


def _sv_vs_gd(eigvals, depths):
    """Closed forms vs GD (aligned balanced init) on the top non-DC PC variances, float64."""
    with jax.enable_x64(True):
        lam = np.asarray(eigvals[1:6], np.float64)
        lam = lam / lam[0]  # unit top variance: times in units of 1/lam_2
        n = lam.shape[0]
        basis = np.eye(n)
        sxx = jnp.asarray(np.diag(lam))
        sigma0, lr, t_end = 1e-3, 0.01, 30.0
        num_steps, every = int(t_end / lr), 20
        out = {}
        for depth in depths:
            w0 = sv_dynamics.aligned_balanced_weights(jnp.full(n, sigma0), depth, basis)
            _, diag = deep_linear.gradient_descent(
                w0,
                2 * sxx,
                2 * sxx,
                lr=lr,
                num_steps=num_steps,
                record_every=every,
                observe=lambda ws: jnp.diagonal(deep_linear.product(ws)),
            )
            ts = np.arange(diag.shape[0]) * every * lr
            t_fine = np.linspace(0.0, t_end, 400)
            closed = np.asarray(
                sv_dynamics.closed_form(t_fine[:, None], lam[None, :], depth, sigma0)
            )
            at_records = np.asarray(
                sv_dynamics.closed_form(ts[:, None], lam[None, :], depth, sigma0)
            )
            out[depth] = {
                "t": ts,
                "gd": np.asarray(diag),
                "t_fine": t_fine,
                "closed": closed,
                "max_abs_error": float(np.max(np.abs(np.asarray(diag) - at_records))),
                "half_time": np.asarray(sv_dynamics.half_time(lam, depth, sigma0)),
            }
        return lam, sigma0, lr, out


def _savefig(fig, path, checks: dict):
    """Finish (letters, log ticks), write PNG and PDF, record the layout checks, close."""
    fs.finish(fig, letters=len(fig.axes) > 1)
    fs.save(fig, path, formats=("png", "pdf"), dpi=200)
    checks[path.stem] = {
        "overlapping_tick_labels": len(fs.overlapping_tick_labels(fig)),
        "legends_over_data": len(fs.legend_overlaps(fig)),
        "panel_letters": "".join(fs.panel_letters(fig)),
    }
    plt.close(fig)


def _legend_handles(ax, *extra):
    handles, labels = ax.get_legend_handles_labels()
    for handle, label in extra:
        handles.append(handle)
        labels.append(label)
    return {"handles": handles, "labels": labels}


@fs.styled
def _plots(out_dir, data) -> dict:
    """Draw and write every figure; returns the layout checks per figure (`_savefig`)."""
    checks: dict = {}
    ev = data["eigvals"]
    k = np.arange(1, ev.size + 1)
    fig, ax = plt.subplots(figsize=fs.figure_size(1, height=2.6), layout="constrained")
    ax.loglog(k, ev, ".", ms=3, label="PCA variance")
    g = data["summary"]["pca"]
    kk = np.arange(g["k_min"], g["k_max"] + 1)
    ax.loglog(
        kk,
        np.exp(g["intercept"]) * kk ** (-g["gamma"]),
        "r-",
        label=f"fit k^-{g['gamma']:.2f} (k {g['k_min']}-{g['k_max']})",
    )
    ax.set_xlabel("component rank k")
    ax.set_ylabel("variance lambda_k")
    ax.set_title(f"{data['patch_size']}x{data['patch_size']} natural patches")
    fs.legend_outside(ax, where="below", ncol=1)
    _savefig(fig, out_dir / "pca_spectrum.png", checks)

    runs = data["runs"]
    fig, axes = plt.subplots(
        1, len(runs), figsize=fs.figure_size(2, height=2.4), sharey=True, layout="constrained"
    )
    cmap = plt.get_cmap(fs.SEQUENTIAL_CMAP)
    for ax, (depth, res) in zip(np.atleast_1d(axes), runs.items(), strict=True):
        n_show = 12
        for i in range(n_show):
            ax.plot(res.steps, res.pc_projection[:, i], color=cmap(i / n_show), lw=1)
        ax.set_title(f"depth {depth}")
        ax.set_xlabel("step")
        ax.axhline(0.5, color="grey", lw=0.5, ls=":")
    np.atleast_1d(axes)[0].set_ylabel("u_iᵀ W u_i (PCs 1-12,\ndark = high variance)")
    _savefig(fig, out_dir / "pc_learning_curves.png", checks)

    fig, ax = plt.subplots(figsize=fs.figure_size(1.5, height=2.6), layout="constrained")
    for depth, timing in data["timing"].items():
        mask = timing["resolved"]
        if mask.sum() == 0:
            continue
        lam = timing["lam"][mask]
        (line,) = ax.loglog(lam, timing["t50"][mask], "o", ms=4, label=f"depth {depth}")
        fit = data["summary"]["half_time"].get(str(depth))
        if fit is not None and fit.get("slope") is not None:
            xx = np.array([lam.min(), lam.max()])
            ax.loglog(
                xx,
                np.exp(fit["intercept"]) * xx ** fit["slope"],
                "-",
                color=line.get_color(),
                lw=1,
                label=f"  slope {fit['slope']:.2f} (R2 {fit['r2']:.3f})",
            )
    ax.set_xlabel("PC variance lambda_i")
    ax.set_ylabel("half-time (steps)")
    if ax.get_legend_handles_labels()[0]:
        ax.set_title("points: measured; lines: log-log fit")
        fs.legend_outside(ax, where="right")
    else:
        fs.no_data(ax, "half-times", "no PC reached 1/2 within the resolved window")
    _savefig(fig, out_dir / "half_time_vs_variance.png", checks)

    fig, axes = plt.subplots(
        1, 2, figsize=fs.figure_size(2, height=2.9), sharey=True, layout="constrained"
    )
    for ax, (label, res) in zip(axes, data["threshold_runs"].items(), strict=True):
        n_rec = res.steps.shape[0]
        picks = np.unique(np.geomspace(1, n_rec - 1, 6).astype(int))
        for j, r in enumerate(picks):
            ax.loglog(
                res.freqs,
                res.threshold[r],
                color=cmap(j / len(picks)),
                label=f"step {int(res.steps[r])}",
            )
        ax.axhline(data["acuity_cutoff"], color="grey", ls=":", lw=0.8)
        ticks = [t for t in (0.25, 0.5, 1, 2, 4, 8, 16) if t <= float(res.freqs[-1])]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("spatial frequency (cycles/image)")
        s = data["summary"]["threshold"][label]
        slope = "n/a" if s["slope_final"] is None else f"{s['slope_final']:.2f}"
        ax.set_title(f"depth 1, {label} sinusoid:\nslope above elbow {slope}")
        fs.legend_outside(
            ax,
            where="below",
            ncol=3,
            **_legend_handles(ax, (Line2D([], [], color="grey", ls=":", lw=0.8), "acuity cutoff")),
        )
    axes[0].set_ylabel("threshold T(f) = 1/sqrt(D(f))")
    _savefig(fig, out_dir / "threshold_curves.png", checks)

    fig, ax = plt.subplots(figsize=fs.figure_size(1.5, height=2.6), layout="constrained")
    for depth, res in runs.items():
        ax.plot(res.steps, res.acuity, label=f"depth {depth}")
    a = data["summary"]["acuity"]["1"]
    xx = np.asarray(runs[1].steps, np.float64)
    ax.plot(
        xx,
        a["slope"] * xx + a["intercept"],
        "k:",
        lw=1,
        label=f"depth 1 linear fit R2 {a['r2']:.2f}",
    )
    ax.set_xlabel("step")
    ax.set_ylabel(f"acuity (max f with T < {data['acuity_cutoff']}),\ncycles/image")
    fs.legend_outside(ax, where="right")
    _savefig(fig, out_dir / "acuity.png", checks)

    fig, ax = plt.subplots(figsize=fs.figure_size(1.5, height=2.6), layout="constrained")
    for depth, res in runs.items():
        ax.semilogy(res.steps[1:], res.offdiag_fraction[1:], label=f"depth {depth}")
    ax.axhline(0.1, color="grey", ls=":", lw=0.8, label="0.1")
    ax.set_xlabel("step")
    ax.set_ylabel("‖offdiag(UᵀWU)‖ / ‖UᵀWU‖")
    fs.legend_outside(ax, where="right")
    _savefig(fig, out_dir / "alignment.png", checks)

    lam, sigma0, lr, sv = data["sv_vs_gd"]
    fig, axes = plt.subplots(
        1, len(sv), figsize=fs.figure_size(2, height=2.8), sharey=True, layout="constrained"
    )
    for ax, (depth, d) in zip(np.atleast_1d(axes), sv.items(), strict=True):
        for i in range(lam.size):
            (line,) = ax.plot(d["t_fine"], d["closed"][:, i], lw=1, label=f"λ = {lam[i]:.3g}")
            ax.plot(d["t"][::5], d["gd"][::5, i], "o", ms=2.5, mfc="none", color=line.get_color())
        ax.set_title(f"depth {depth}: max |GD − closed| {d['max_abs_error']:.1e}")
        ax.set_xlabel("gradient-flow time t")
    np.atleast_1d(axes)[0].set_ylabel("σ_i(t)")
    last = np.atleast_1d(axes)[-1]
    gd = Line2D([], [], ls="none", marker="o", mfc="none", color="0.3", ms=3)
    fs.legend_outside(
        last,
        where="right",
        title="lines: closed form",
        **_legend_handles(last, (gd, f"gradient descent, lr = {lr:g}")),
    )
    _savefig(fig, out_dir / "sv_closed_forms_vs_gd.png", checks)
    return checks


def _flatten(prefix, obj, rows):
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, rows)
    elif isinstance(obj, list | tuple):
        rows.append((prefix, json.dumps(obj)))
    else:
        rows.append((prefix, obj))


def run(
    out_dir: pathlib.Path,
    *,
    full_size: bool = False,
    progress: bool = True,
    depths: tuple[int, ...] = DEPTHS,
    photo_names: tuple[str, ...] = natural_images.PHOTO_NAMES,
    **overrides,
) -> dict:
    """Run the linear experiments, write figures and numbers, return the summary dict.

    Args:
        out_dir: output folder (created).
        full_size: the paper's size (32x32 patches, width 1024, init x 0.01, lr 1, 100k patches)
            instead of the reduced CPU size; see :mod:`theory.linear_ae`.
        progress: show a tqdm progress bar over the training steps.
        depths: network depths to train (must include 1); default 1-4.
        photo_names: the photographs to cut patches from; default all of
            :data:`theory.natural_images.PHOTO_NAMES`.
        **overrides: extra :class:`theory.linear_ae.LinearAEConfig` fields applied to every
            depth (e.g. ``num_steps``, ``patch_size`` for a quick run).

    Returns:
        The summary written to ``summary.json``: PCA exponent, half-time slopes, rise-time
        ratios, threshold slopes, acuity fits, alignment, GD-vs-closed-form errors, runtimes.

    Raises:
        InputError: if ``depths`` does not include 1 (before any file is written).
    """
    t_start = time.perf_counter()
    if 1 not in depths:
        raise InputError(f"depths must include 1 (the threshold and acuity figures), got {depths=}")
    configs = _configs(full_size, tuple(depths), **overrides)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg1 = configs[1]
    key = jax.random.key(0)
    patch_key, train_key = jax.random.split(key)

    # 1. data
    t0 = time.perf_counter()
    stack = natural_images.pack(natural_images.load_photos(tuple(photo_names)))
    patches = natural_images.sample_patches(
        patch_key, stack, cfg1.num_patches, size=cfg1.patch_size
    )
    with jax.enable_x64(True):
        _, sxx64 = linear_ae.patch_statistics(np.asarray(patches, np.float64), center=cfg1.center)
        eigvals = np.asarray(linear_ae.pca(sxx64)[0])
    sxx = np.asarray(sxx64, np.float32)
    n = cfg1.n_inputs
    k_min, k_max = 2, n // 4
    gamma, gamma_r2 = linear_ae.power_law_exponent(eigvals, k_min=k_min, k_max=k_max)
    _, intercept, _ = linear_ae.loglog_fit(np.arange(k_min, k_max + 1), eigvals[k_min - 1 : k_max])
    gamma_all, gamma_all_r2 = linear_ae.power_law_exponent(eigvals, k_min=2, k_max=n)
    data_seconds = time.perf_counter() - t0

    # 2. linear autoencoders
    total = sum(c.num_steps for c in configs.values()) + cfg1.num_steps
    bar = tqdm(total=total, desc="linear AE (steps)", disable=not progress, unit="step")
    runs, seconds = {}, {}
    for depth, cfg in configs.items():
        bar.set_postfix(depth=depth)
        t0 = time.perf_counter()
        runs[depth] = _train_in_chunks(train_key, cfg, sxx, bar)
        seconds[f"depth_{depth}"] = time.perf_counter() - t0
    bar.set_postfix(depth="1-hann")
    t0 = time.perf_counter()
    hann_cfg = linear_ae.LinearAEConfig(
        **{**{f: getattr(cfg1, f) for f in cfg1.__dataclass_fields__}, "window": "hann"}
    )
    hann_run = _train_in_chunks(train_key, hann_cfg, sxx, bar)
    seconds["depth_1_hann"] = time.perf_counter() - t0
    bar.close()

    # 3. closed forms vs gradient descent
    t0 = time.perf_counter()
    sv = _sv_vs_gd(eigvals, tuple(depths))
    seconds["sv_vs_gd"] = time.perf_counter() - t0
    seconds["data"] = data_seconds

    # numbers
    summary: dict = {
        "size": "full" if full_size else "reduced",
        "configs": {
            str(d): {f: getattr(c, f) for f in c.__dataclass_fields__} for d, c in configs.items()
        },
        "photos": list(photo_names),
        "pca": {
            "gamma": gamma,
            "r2": gamma_r2,
            "k_min": k_min,
            "k_max": k_max,
            "intercept": intercept,
            "gamma_all_ranks": gamma_all,
            "r2_all_ranks": gamma_all_r2,
            "top_variances": eigvals[:5].tolist(),
        },
        "half_time": {},
        "rise_over_half_time": {},
        "acuity": {},
        "alignment_final": {},
        "threshold": {},
    }
    timing, rows = {}, []
    for depth, res in runs.items():
        cfg = configs[depth]
        t10, t50, t90, resolved = _pc_timing(res, cfg.record_every)
        lam_run = np.asarray(res.eigvals, np.float64)  # the order of this run's PC basis
        timing[depth] = {"t50": t50, "resolved": resolved, "lam": lam_run}
        entry = {"pcs_learned": int(np.isfinite(t50).sum()), "pcs_fitted": int(resolved.sum())}
        if resolved.sum() >= 3:
            slope, icpt, r2 = linear_ae.loglog_fit(lam_run[resolved], t50[resolved])
            entry.update(slope=slope, intercept=icpt, r2=r2)
        summary["half_time"][str(depth)] = entry
        ok = resolved & np.isfinite(t90) & (t10 >= cfg.record_every)
        ratio = (t90 - t10) / t50
        summary["rise_over_half_time"][str(depth)] = {
            "median": float(np.median(ratio[ok])) if ok.any() else None,
            "num_pcs": int(ok.sum()),
        }
        slope, icpt, r2 = linear_ae.linear_fit(res.steps, res.acuity)
        r2_trained = linear_ae.linear_fit(res.steps[1:], res.acuity[1:])[2]
        pos = np.asarray(res.acuity) > 0
        exponent = (
            linear_ae.loglog_fit(np.asarray(res.steps)[pos], np.asarray(res.acuity)[pos])[0]
            if pos.sum() >= 3
            else None
        )
        summary["acuity"][str(depth)] = {
            "slope": slope,
            "intercept": icpt,
            "r2": r2,
            "r2_after_step_0": r2_trained,
            "loglog_exponent": exponent,
            "final": float(res.acuity[-1]),
        }
        summary["alignment_final"][str(depth)] = float(res.offdiag_fraction[-1])
        for i in range(n):
            rows.append((depth, i + 1, lam_run[i], t10[i], t50[i], t90[i]))
    for label, res in (("plain", runs[1]), ("hann", hann_run)):
        mid = res.steps.shape[0] // 2
        entry = {}
        for name, r in (("final", -1), ("mid", mid)):
            try:
                s, elbow, r2 = linear_ae.threshold_slope(res.freqs, res.threshold[r])
            except ValueError:
                s, elbow, r2 = None, None, None
            entry.update({f"slope_{name}": s, f"elbow_{name}": elbow, f"r2_{name}": r2})
        summary["threshold"][label] = entry
    lam, sigma0, lr, sv_out = sv
    summary["sv_vs_gd"] = {
        "lam_relative": lam.tolist(),
        "sigma0": sigma0,
        "lr": lr,
        "max_abs_error": {str(d): v["max_abs_error"] for d, v in sv_out.items()},
        "half_time_ratio_lam_2lam": {
            str(d): float(
                sv_dynamics.half_time(1.0, d, sigma0) / sv_dynamics.half_time(2.0, d, sigma0)
            )
            for d in depths
        },
    }
    seconds["total"] = time.perf_counter() - t_start
    summary["seconds"] = seconds

    data = {
        "eigvals": eigvals,
        "patch_size": cfg1.patch_size,
        "summary": summary,
        "runs": runs,
        "timing": timing,
        "threshold_runs": {"plain": runs[1], "hann": hann_run},
        "acuity_cutoff": cfg1.acuity_cutoff,
        "sv_vs_gd": sv,
    }
    summary["figures"] = _plots(out_dir, data)
    summary["seconds"]["total_with_figures"] = time.perf_counter() - t_start

    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    flat: list = []
    _flatten("", summary, flat)
    with (out_dir / "summary.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["key", "value"])
        w.writerows(flat)
    with (out_dir / "half_times.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["depth", "pc", "variance", "t10_steps", "t50_steps", "t90_steps"])
        w.writerows(rows)
    return summary


def headline(summary: dict) -> str:
    """A few lines of text with the main numbers of a :func:`run` summary (for the command line).

    Args:
        summary: the dict returned by :func:`run` (or read back from ``summary.json``).

    Returns:
        Lines: the PCA exponent; per depth the half-time slope, the rise/half-time ratio, the
        acuity fit and the final alignment; the threshold slopes; the run time.
    """
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    lines = [
        f"PCA exponent gamma = {fmt(summary['pca']['gamma'])} "
        f"(R2 {fmt(summary['pca']['r2'])}, ranks {summary['pca']['k_min']}-{summary['pca']['k_max']})"
    ]
    for d, h in summary["half_time"].items():
        lines.append(
            f"depth {d}: half-time slope {fmt(h.get('slope'))} over {h['pcs_fitted']} PCs; "
            f"rise/t50 {fmt(summary['rise_over_half_time'][d]['median'])}; "
            f"acuity R2 {fmt(summary['acuity'][d]['r2'])}; offdiag {fmt(summary['alignment_final'][d])}"
        )
    for label, t in summary["threshold"].items():
        lines.append(f"T(f) slope above elbow ({label}): {fmt(t['slope_final'])}")
    lines.append(f"total {summary['seconds']['total']:.0f} s")
    return "\n".join(lines)
