"""Figure 5 of Wenliang & Seitz (2018) (Gabor vs face task, frozen layers) and the face stimuli.

* `figure_5` -- A: the accuracy drop at t95 against the number of frozen lower layers, one
  panel per task, one line per dissimilarity (mean +- SEM over references or folds), asterisks
  where the drop is significant (one-sample t-test, Bonferroni over 5 x 5); B: the layer-change
  proportions of Gabor and face networks, fully plastic (layers 1-5) and with layer 1 frozen
  (layers 2-5), asterisks where they differ (Mann-Whitney U, Bonferroni over the layers), the
  layer x task ANOVA interaction in the title. Computations: `vpl_jax.analysis.experiment2`.
* `face_samples` -- sample faces of each sex and one morph row M5 ... F5;
  `morph_row` -- the morph row alone; `face_figures` -- both, by name (the docs' images).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state) and returned unsaved. A
panel whose data the run lacks says so ("no data: ...") instead of failing.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from theory.checks import InputError
from vpl_jax import faces as faces_mod
from vpl_jax.analysis import experiment2 as e2
from vpl_jax.analysis.significance import ALPHA, format_p

__all__ = ["face_figures", "face_samples", "figure_5", "morph_row"]

_TASK_NAMES = {"gabor": "Gabor orientation", "face": "face gender"}
_TASK_COLORS = {"gabor": "#1f77b4", "face": "#d62728"}


def _no_data(ax, title: str, why: str) -> None:
    ax.set_title(title, fontsize=9, loc="left")
    ax.text(
        0.5,
        0.5,
        f"no data: {why}",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=8,
        color="0.4",
        wrap=True,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _panel_a(ax, res, task: str, letter: str, alpha: float) -> None:
    title = f"{letter}  {_TASK_NAMES[task]}: accuracy drop at t95"
    drops = res.drops[(res.drops.task == task)].dropna(subset=["drop"])
    if drops.empty:
        why = (
            "no frozen-layer networks of this task"
            if res.drops[res.drops.task == task].empty
            else "the fully plastic network never reached 95 %"
        )
        _no_data(ax, title, why)
        return
    ks = np.arange(0, 6)
    colors = {d: c for d, c in zip(e2.DISSIMILARITIES, _viridis(5), strict=True)}
    cells = res.drop_tests[res.drop_tests.task == task]
    m = int(cells.n_tests.iloc[0]) if len(cells) else 0
    for d in e2.DISSIMILARITIES:
        sub = drops[drops.dissimilarity == d]
        if sub.empty:
            continue
        g = sub.groupby("frozen_layers")["drop"]
        mean = np.r_[0.0, [g.mean().get(k, np.nan) for k in ks[1:]]]
        sem = np.r_[0.0, [g.sem().get(k, np.nan) for k in ks[1:]]]
        ax.errorbar(
            ks + (d - 3) * 0.06,
            mean,
            yerr=sem,
            color=colors[d],
            marker="o",
            ms=3,
            lw=1,
            capsize=2,
            label=f"dissimilarity {d}",
        )
        sig = cells[(cells.dissimilarity == d) & cells.significant]
        for k in sig.frozen_layers:
            ax.plot(
                k + (d - 3) * 0.06,
                mean[k] + sem[k] + 0.01,
                marker="*",
                ls="none",
                color=colors[d],
                ms=6,
            )
    pooled = drops.groupby("frozen_layers")["drop"].mean()
    ax.plot(
        ks,
        np.r_[0.0, [pooled.get(k, np.nan) for k in ks[1:]]],
        color="k",
        lw=2,
        label="mean over dissimilarities",
    )
    ax.plot(
        [],
        [],
        marker="*",
        ls="none",
        color="0.3",
        label=f"drop > 0, p < {alpha:g}/{m} (t-test)" if m else "drop > 0 (t-test)",
    )
    summary = res.step_summary.set_index("task")
    note = ""
    if task in summary.index and summary.loc[task, "testable"]:
        step = summary.loc[task, "largest_step"]
        onset = summary.loc[task, "onset"]
        note = f"largest step at layer {int(step)}"
        note += (
            f"; significant from layer {int(onset)}"
            if np.isfinite(onset)
            else "; no significant drop"
        )
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=9, loc="left")
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_xticks(ks)
    ax.set_xticklabels(["none", "1", "1-2", "1-3", "1-4", "1-5"])
    ax.set_xlabel("frozen layers")
    ax.set_ylabel("accuracy drop at t95 (fraction correct)")
    ax.legend(fontsize=6, loc="upper left")


def _viridis(n: int):
    from matplotlib import colormaps

    return colormaps["viridis"](np.linspace(0.0, 0.85, n))


def _panel_b(ax, res, k: int, letter: str, alpha: float) -> None:
    label = "fully plastic, layers 1-5" if k == 0 else "layer 1 frozen, layers 2-5"
    title = f"{letter}  change proportions ({label})"
    props = res.proportions.get(k)
    if props is None or props.dropna(subset=["proportion"]).empty:
        why = "the run has no layer-change records" if props is None else "no layer changed"
        if props is None and res.proportions:
            why = f"the run has no networks with {k} frozen layer(s)"
        _no_data(ax, title, why)
        return
    props = props.dropna(subset=["proportion"])
    layers = list(dict.fromkeys(props.layer))
    x = np.arange(len(layers))
    tasks = [t for t in e2.TASKS if t in set(props.task)]
    width = 0.8 / max(len(tasks), 1)
    tops = np.zeros(len(layers))
    for i, task in enumerate(tasks):
        g = props[props.task == task].groupby("layer").proportion
        mean = np.asarray([g.mean().get(lay, np.nan) for lay in layers])
        sem = np.asarray([g.sem().get(lay, np.nan) for lay in layers])
        ax.bar(
            x + (i - (len(tasks) - 1) / 2) * width,
            mean,
            width,
            yerr=sem,
            capsize=2,
            color=_TASK_COLORS[task],
            label=_TASK_NAMES[task],
        )
        tops = np.fmax(tops, mean + np.nan_to_num(sem))
    post = res.posthoc.get(k)
    m = int(post.n_tests.iloc[0]) if post is not None and len(post) else 0
    if post is not None:
        for j, lay in enumerate(layers):
            row = post[post.layer == lay]
            if len(row) and bool(row.significant.iloc[0]):
                ax.text(x[j], tops[j] + 0.01, "*", ha="center", fontsize=12)
    ax.plot(
        [],
        [],
        marker="$*$",
        ls="none",
        color="k",
        label=f"face vs Gabor, p < {alpha:g}/{m} (MWU)" if m else "face vs Gabor (MWU)",
    )
    anova = res.anova.get(k)
    if anova is not None and bool(anova.testable.iloc[0]):
        row = anova.set_index("term").loc["C(layer):C(task)"]
        df_res = int(anova.set_index("term").loc["Residual", "df"])
        title += f"\nlayer x task: F({int(row['df'])}, {df_res}) = {row['F']:.3g}, p = {format_p(row['p'])}"
    elif anova is not None:
        title += f"\nlayer x task ANOVA not testable: {anova.reason.iloc[0]}"
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{lay[-1]}" if lay.startswith("conv") else lay for lay in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel("proportion of summed d_rel1")
    ax.set_ylim(0, max(0.05, float(np.nanmax(tops)) * 1.25))
    ax.legend(fontsize=6, loc="upper right")


def figure_5(
    ds,
    *,
    alpha: float = ALPHA,
    threshold: float = 0.95,
    test: str = "trained",
    measure: str = "d_rel1",
    results: e2.Experiment2Results | None = None,
) -> Figure:
    """The paper's Fig. 5 from an Experiment 2 results Dataset.

    Args:
        ds: the Dataset of `vpl_jax.analysis.experiment2` (both tasks, or one: the other's
            panel says "no data").
        alpha: significance level (0.01).
        threshold: the t95 accuracy (0.95).
        test: the ``test`` entry holding the test-pair accuracy.
        measure: the change measure of panel B (``"d_rel1"``; the others for Fig. 5-1).
        results: precomputed `vpl_jax.analysis.experiment2.analyze` output (recomputed if None).

    Returns:
        A 2 x 2 Figure: A (Gabor, face), B (fully plastic, layer 1 frozen).
    """
    if results is None:
        results = e2.analyze(ds, alpha=alpha, threshold=threshold, test=test, measure=measure)
    fig = Figure(figsize=(11, 8.5), layout="constrained")
    axes = fig.subplots(2, 2)
    tasks = set(results.t95.task)
    for ax, task, letter in zip(axes[0], e2.TASKS, ("A", "A"), strict=True):
        if task not in tasks:
            _no_data(
                ax,
                f"{letter}  {_TASK_NAMES[task]}: accuracy drop at t95",
                f"the run has no {task} conditions",
            )
        else:
            _panel_a(ax, results, task, letter, alpha)
    for ax, k in zip(axes[1], (0, 1), strict=True):
        _panel_b(ax, results, k, "B", alpha)
    fig.suptitle(
        f"Fig. 5: Gabor vs face task (measure {measure}; t95 = first iteration at "
        f"{threshold:.0%} test accuracy of the fully plastic network)",
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------------------------
# Face stimuli


def _check_faceset(faces) -> None:
    if not isinstance(faces, faces_mod.FaceSet):
        raise InputError(f"faces must be a vpl_jax.faces.FaceSet, got {type(faces).__name__}")


def _default_pair(faces) -> tuple[int, int]:
    sex = np.asarray(faces.sex)
    males, females = np.flatnonzero(sex == 1), np.flatnonzero(sex == 0)
    if not males.size or not females.size:
        raise InputError("faces must hold at least one male and one female face")
    return int(males[0]), int(females[0])


def _morph_frames(faces, pair, warp: bool) -> list[np.ndarray]:
    m, f = pair
    sex = np.asarray(faces.sex)
    if not (0 <= m < sex.size and 0 <= f < sex.size) or sex[m] != 1 or sex[f] != 0:
        raise InputError(f"pair must be (male row, female row) of the face set, got {pair}")
    use_marks = warp and faces.landmarks is not None
    bank = faces_mod.face_bank(faces, np.asarray([m, f]))
    weights = np.asarray(faces_mod.FRAME_MALE_WEIGHTS, np.float32)
    frames = faces_mod.face_triplets(bank, np.asarray([[0, 1]], np.int32), weights, warp=use_marks)
    return list(np.asarray(frames[0]))


def _show(ax, image, title: str = "") -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def _draw_row(axes, frames, warp_used: bool) -> None:
    for ax, frame, name, w in zip(
        axes, frames, faces_mod.FRAMES, faces_mod.FRAME_MALE_WEIGHTS, strict=True
    ):
        _show(ax, frame, f"{name}\nw = {w:.2f}")


def morph_row(faces, pair: tuple[int, int] | None = None, *, warp: bool = True) -> Figure:
    """One morph row, M5 ... R ... F5, of a male and a female face.

    Args:
        faces: a `vpl_jax.faces.FaceSet`.
        pair: ``(male row, female row)`` (default the first of each sex).
        warp: landmark warp when the set has landmarks (facemorpher's procedure, by
            `vpl_jax.faces.face_triplets`), else pixel blend.

    Returns:
        A 1 x 11 Figure; titles give the frame and its male weight ``w``.
    """
    _check_faceset(faces)
    pair = _default_pair(faces) if pair is None else tuple(int(i) for i in pair)
    frames = _morph_frames(faces, pair, warp)
    fig = Figure(figsize=(11, 1.55), layout="constrained")
    axes = fig.subplots(1, 11)
    _draw_row(axes, frames, warp)
    how = "landmark warp + blend" if warp and faces.landmarks is not None else "pixel blend"
    fig.suptitle(f"morph row ({how}): reference R = 50 %; M_d / F_d at dissimilarity d", fontsize=8)
    return fig


def face_samples(
    faces, *, per_sex: int = 6, pair: tuple[int, int] | None = None, warp: bool = True
) -> Figure:
    """Sample faces of each sex (the first ``per_sex`` of each) and one morph row.

    Args:
        faces: a `vpl_jax.faces.FaceSet`.
        per_sex: faces shown per sex (1..12).
        pair, warp: the morph row, as in `morph_row`.

    Returns:
        A Figure: a row of male faces, a row of female faces, the morph row M5 ... F5.
    """
    _check_faceset(faces)
    if not 1 <= per_sex <= 12:
        raise InputError(f"per_sex must be in 1..12, got {per_sex}")
    pair = _default_pair(faces) if pair is None else tuple(int(i) for i in pair)
    sex = np.asarray(faces.sex)
    fig = Figure(figsize=(11, 6.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.2, 1.0])
    axes = top.subplots(2, per_sex, squeeze=False)
    for row, code, label in ((0, 1, "male"), (1, 0, "female")):
        rows = np.flatnonzero(sex == code)[:per_sex]
        for j, ax in enumerate(axes[row]):
            if j < rows.size:
                _show(ax, faces.images[rows[j]], faces.names[rows[j]])
            else:
                _no_data(ax, "", f"fewer than {per_sex} {label} faces")
    top.suptitle(
        f"sample faces ({int(np.sum(sex == 1))} male, {int(np.sum(sex == 0))} female in the set)",
        fontsize=9,
    )
    _draw_row(bottom.subplots(1, 11), _morph_frames(faces, pair, warp), warp)
    how = "landmark warp + blend" if warp and faces.landmarks is not None else "pixel blend"
    bottom.suptitle(
        f"morph row of {faces.names[pair[0]]} and {faces.names[pair[1]]} ({how})", fontsize=8
    )
    return fig


def face_figures(faces, *, pair: tuple[int, int] | None = None) -> dict[str, Figure]:
    """The two face figures of the documentation, by file stem.

    Returns:
        ``{"faces_samples": face_samples(faces), "faces_morph_row": morph_row(faces)}``; save them
        with ``fig.savefig(f"{stem}.png")``.
    """
    return {
        "faces_samples": face_samples(faces, pair=pair),
        "faces_morph_row": morph_row(faces, pair),
    }
