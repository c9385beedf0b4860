"""Figure 2 of the paper: behaviour of networks grouped by training separation.

Panels (`figure_2`, lettered A, B, C, ... in reading order; the paper's panel in brackets):
accuracy against iteration per training separation for the trained test and the four transfer
tests (top row, [2A]), with the iteration-1 accuracy and the transfer index below ([2A]); the
final transfer accuracy against training separation (mean +- SD) with the Fig. 2B regression
([2B]); the train x test separation matrices of each transfer test ([2C]). Two journal columns
wide (`vpl_jax.figures.style`). Computations are those of
`vpl_jax.analysis.behaviour`; a panel whose data the run lacks says so instead of failing.

Accuracy is the paper's mean p(correct) (its Eq. 1, ``accuracy``) unless ``symmetric=True``
(the authors' per-fold ``max(m, 1 - m)``, ``accuracy_sym``). Where the two disagree (final
accuracies more than `DISAGREEMENT` apart), panel B also draws the other metric, dashed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from vpl_jax.analysis import behaviour
from vpl_jax.analysis.significance import format_p
from vpl_jax.figures import style
from vpl_jax.figures.style import iteration_axis, separation_colors, unavailable

__all__ = ["DISAGREEMENT", "figure_2", "metrics_disagree"]

#: Final accuracies of the two metrics further apart than this count as disagreeing.
DISAGREEMENT = 0.05


def metrics_disagree(ds, threshold: float = DISAGREEMENT) -> bool:
    """Whether the final ``accuracy`` and ``accuracy_sym`` of any condition and test differ by
    more than ``threshold`` (False when the Dataset lacks either)."""
    if "accuracy" not in ds.data_vars or "accuracy_sym" not in ds.data_vars:
        return False
    a = ds["accuracy"].isel(iteration=-1).values.astype(float)
    b = ds["accuracy_sym"].isel(iteration=-1).values.astype(float)
    diff = np.abs(a - b)
    return bool(np.any(diff[np.isfinite(diff)] > threshold))


def _regression_label(row, *, short: bool = False) -> str:
    if not row.testable:
        return "not testable"
    if short:
        return f"b={row.beta:+.2g}, p={format_p(row.p)}"
    return f"b={row.beta:+.3f}, p={format_p(row.p)}, R2={row.r2_term:.2f}"


def _panel_a(ds, axes_acc, axes_low, acc_var: str, legend_axes) -> None:
    tests = [str(t) for t in ds.test.values]
    x = iteration_axis(ds)
    curves = behaviour.accuracy_curves(ds, variable=acc_var)
    seps = [float(s) for s in curves.separation.values]
    colors = separation_colors(seps)
    for ax, test in zip(axes_acc, tests, strict=False):
        for sep in seps:
            m = curves["mean"].sel(separation=sep, test=test).values
            s = curves["sd"].sel(separation=sep, test=test).values
            ax.plot(x, m, color=colors[sep], label=f"{sep:g}°")
            ax.fill_between(x, m - s, m + s, color=colors[sep], alpha=0.15, lw=0)
        ax.axhline(0.5, color="k", lw=0.5)
        ax.set(xscale="log", title=test, xlabel="iteration", ylabel="accuracy")
    handles, labels = axes_acc[0].get_legend_handles_labels()
    handles.append(plt.Rectangle((0, 0), 1, 1, color="0.6", alpha=0.3, lw=0))
    labels.append("± SD")
    handles.append(plt.Line2D([], [], color="k", lw=0.5))
    labels.append("chance")
    legend_axes[0].legend(handles, labels, title="training sep.\n(mean over refs)", loc="center")
    for ax in axes_acc[len(tests) :]:
        ax.set_visible(False)
    # bottom-left: iteration-1 accuracy against training separation
    ax0 = axes_low[0]
    if 1 in [int(i) for i in ds.iteration.values]:
        init = behaviour.initial_accuracy(ds, variable=acc_var)
        for test in tests:
            ax0.errorbar(
                seps,
                init["mean"].sel(test=test).values,
                yerr=init["sd"].sel(test=test).values,
                marker="o",
                ms=3,
                capsize=2,
                label=test,
            )
        ax0.set(
            xscale="log",
            xlabel="training separation (deg)",
            ylabel="accuracy at iteration 1",
            title="initial accuracy",
        )
        legend_axes[1].legend(*ax0.get_legend_handles_labels(), title="test\n(mean ± SD)",
                              loc="center")  # fmt: skip
    else:
        unavailable(ax0, "iteration-1 accuracy")
    transfer = [t for t in behaviour.TRANSFER_TESTS if t in tests]
    if "trained" not in tests or not transfer:
        for ax in axes_low[1:]:
            unavailable(ax, "transfer index")
        return
    ti = behaviour.transfer_index_curves(ds, variable=acc_var, tests=transfer)
    for ax, test in zip(axes_low[1:], transfer, strict=False):
        for sep in seps:
            m = ti["mean"].sel(separation=sep, test=test).values
            s = ti["sd"].sel(separation=sep, test=test).values
            ax.plot(x, m, color=colors[sep])
            ax.fill_between(x, m - s, m + s, color=colors[sep], alpha=0.15, lw=0)
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set(xscale="log", xlabel="iteration", ylabel="transfer index", title=f"TI {test}")


def _panel_b(ds, ax, acc_var: str, other: str | None = None, legend_ax=None) -> None:
    tests = [t for t in behaviour.TRANSFER_TESTS if t in [str(v) for v in ds.test.values]]
    if not tests:
        unavailable(ax, "final transfer accuracy")
        return
    fin = behaviour.final_transfer_accuracy(ds, variable=acc_var, tests=tests)
    table = behaviour.final_transfer_regression(ds, variable=acc_var, tests=tests).set_index("test")
    seps = fin.separation.values.astype(float)
    colors = {}
    for test in tests:
        bars = ax.errorbar(
            seps,
            fin["mean"].sel(test=test).values,
            yerr=fin["sd"].sel(test=test).values,
            marker="o",
            ms=3,
            capsize=2,
            label=f"{test}: {_regression_label(table.loc[test], short=True)}",
        )
        colors[test] = bars.lines[0].get_color()
    if other is not None:
        alt = behaviour.final_transfer_accuracy(ds, variable=other, tests=tests)
        name = "symmetrised" if other == "accuracy_sym" else "mean p(correct)"
        for test in tests:
            ax.plot(
                seps,
                alt["mean"].sel(test=test).values,
                ls="--",
                lw=1,
                color=colors[test],
                label=f"{test} ({name})",
            )
    ax.set(
        xscale="log",
        xlabel="training separation (deg)",
        ylabel="final accuracy (p correct)",
        title="final transfer acc.",
    )
    (legend_ax or ax).legend(
        *ax.get_legend_handles_labels(),
        title="test (mean ± SD):\nacc ~ ln(training sep.)"
        + ("" if other is None else "\ndashed: the other metric"),
        loc="center left",
        borderaxespad=0.0,
        fontsize=style.FONT_SIZE - 2,
    )


def _panel_c(ds, axes, fig, sep_var: str, cbar_ax) -> None:
    have_tests = [str(v) for v in ds.test.values]
    tests = [t for t in behaviour.TRANSFER_TESTS if t in have_tests]
    if sep_var not in ds.data_vars or "test_separation" not in ds.dims or not tests:
        for ax in axes:
            unavailable(ax, "train x test separation matrices")
        cbar_ax.set_visible(False)
        return
    mats = behaviour.separation_matrices(ds, variable=sep_var)["mean"]
    table = behaviour.separation_regression(ds, variable=sep_var, tests=tests)
    vals = mats.sel(test=tests).values
    finite = vals[np.isfinite(vals)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.5, 1.0)
    train_seps = mats.separation.values.astype(float)
    test_seps = mats.test_separation.values.astype(float)
    image = None
    for ax, test in zip(axes, tests, strict=False):
        image = ax.imshow(
            mats.sel(test=test).values,
            vmin=vmin,
            vmax=vmax,
            cmap=style.HEATMAP_CMAP,
            origin="upper",
            aspect="auto",
        )
        ax.set_xticks(range(test_seps.size), [f"{s:g}" for s in test_seps])
        ax.set_yticks(range(train_seps.size), [f"{s:g}" for s in train_seps])
        ax.tick_params(axis="x", labelrotation=90)
        ax.set(xlabel="test sep. (deg)", ylabel="training sep. (deg)")
        rows = table[table.test == test].set_index("term")
        lines = [test]
        for term, short in (("log_test_sep", "test"), ("log_train_sep", "train")):
            row = rows.loc[term]
            if row.testable:
                lines += [f"{short}: b={row.beta:+.2g}", f"   p={format_p(row.p)}"]
            else:
                lines += [f"{short}: not testable"]
        ax.set_title("\n".join(lines), fontsize=style.FONT_SIZE - 2, loc="left")
    for ax in axes[len(tests) :]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, cax=cbar_ax, label="final accuracy (p correct)")
    else:
        cbar_ax.set_visible(False)


@style.styled
def figure_2(ds, *, symmetric: bool = False, show_other: bool | None = None) -> plt.Figure:
    """The paper's Fig. 2 from a results Dataset (`vpl_jax.experiment.results_dataset`).

    Args:
        ds: results Dataset of a run (any grid; panels lacking data say so).
        symmetric: plot the per-fold symmetrised accuracy ``max(m, 1 - m)`` of the authors'
            code (``accuracy_sym``) instead of the paper's mean p(correct) (``accuracy``).
        show_other: also draw the other metric's final transfer accuracy in panel B (dashed);
            None (default) does so where the two disagree (`metrics_disagree`).

    Returns:
        A matplotlib Figure (3 rows x 5 columns of panels, two journal columns wide, panels
        lettered A, B, C, ...).

    Raises:
        ValueError: ``ds`` is not a results Dataset (no ``accuracy``/``separation_deg``).
    """
    behaviour.check_dataset(ds, ["accuracy_sym" if symmetric else "accuracy", "separation_deg"])
    fig = plt.figure(figsize=style.figure_size(2, height=7.0))
    grid = fig.add_gridspec(
        3, 6, width_ratios=[1, 1, 1, 1, 1, 0.75], left=0.075, right=0.94, top=0.9,
        bottom=0.07, wspace=0.75, hspace=0.8,
    )  # fmt: skip
    axes_acc = [fig.add_subplot(grid[0, j]) for j in range(5)]
    axes_low = [fig.add_subplot(grid[1, j]) for j in range(5)]
    low = grid[2, :].subgridspec(1, 7, width_ratios=[1, 1.75, 0.65, 0.65, 0.65, 0.65, 0.07],
                                 wspace=0.9)  # fmt: skip
    legend_axes = [fig.add_subplot(grid[i, 5], label="legend") for i in range(2)]
    legend_axes.append(fig.add_subplot(low[0, 1], label="legend"))
    for ax in legend_axes:
        ax.axis("off")
    ax_b = fig.add_subplot(low[0, 0])
    axes_c = [fig.add_subplot(low[0, j]) for j in range(2, 6)]
    cbar_ax = fig.add_subplot(low[0, 6], label="<colorbar>")
    acc_var = "accuracy_sym" if symmetric else "accuracy"
    sep_var = "separation_accuracy_sym" if symmetric else "separation_accuracy"
    _panel_a(ds, axes_acc, axes_low, acc_var, legend_axes)
    other_var = "accuracy" if symmetric else "accuracy_sym"
    if show_other is None:
        show_other = metrics_disagree(ds)
    show_other = bool(show_other) and other_var in ds.data_vars
    _panel_b(ds, ax_b, acc_var, other_var if show_other else None, legend_axes[2])
    _panel_c(ds, axes_c, fig, sep_var, cbar_ax)
    metric = "symmetrised max(m, 1-m)" if symmetric else "mean p(correct), Eq. 1"
    title = (
        f"Fig. 2, behaviour: {ds.sizes['condition']} networks ({ds.attrs.get('preset', '')})\n"
        f"accuracy: {metric}; iteration 0 drawn at 0.5; A-J: paper 2A, K: 2B, L-O: 2C"
    )
    if int(ds.attrs.get("weights_random", 0)):
        title += ", RANDOM weights (not pretrained)"
    fig.suptitle(title)
    return style.finish(fig)
