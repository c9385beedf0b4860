"""Figure 2 of the paper: behaviour of networks grouped by training separation.

Panels (`figure_2`): A, accuracy against iteration per training separation for the trained test
and the four transfer tests (top row), with the iteration-1 accuracy and the transfer index below;
B, final transfer accuracy against training separation (mean +- SD) with the Fig. 2B regression;
C, the train x test separation matrices of each transfer test. Computations are those of
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


def _regression_label(row) -> str:
    if not row.testable:
        return "not testable"
    return f"b={row.beta:+.3f}, p={format_p(row.p)}, R2={row.r2_term:.2f}"


def _panel_a(ds, axes_acc, axes_low, acc_var: str) -> None:
    tests = [str(t) for t in ds.test.values]
    x = iteration_axis(ds)
    curves = behaviour.accuracy_curves(ds, variable=acc_var)
    seps = [float(s) for s in curves.separation.values]
    colors = separation_colors(seps)
    for ax, test in zip(axes_acc, tests, strict=False):
        for sep in seps:
            m = curves["mean"].sel(separation=sep, test=test).values
            s = curves["sd"].sel(separation=sep, test=test).values
            ax.plot(x, m, color=colors[sep], label=f"{sep:g} deg")
            ax.fill_between(x, m - s, m + s, color=colors[sep], alpha=0.15, lw=0)
        ax.axhline(0.5, color="k", lw=0.5)
        ax.set(
            xscale="log",
            title=f"A  {test}",
            xlabel="iteration (0 drawn at 0.5)",
            ylabel="accuracy (p correct)",
        )
    axes_acc[0].legend(title="training sep.", fontsize=7, title_fontsize=7)
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
            title="A  initial accuracy",
        )
        ax0.legend(fontsize=7)
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
        ax.set(
            xscale="log",
            xlabel="iteration (0 drawn at 0.5)",
            ylabel="transfer index (acc / acc trained)",
            title=f"A  transfer index {test}",
        )


def _panel_b(ds, ax, acc_var: str, other: str | None = None) -> None:
    tests = [t for t in behaviour.TRANSFER_TESTS if t in [str(v) for v in ds.test.values]]
    if not tests:
        unavailable(ax, "B final transfer accuracy")
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
            label=f"{test}: {_regression_label(table.loc[test])}",
        )
        colors[test] = bars.lines[0].get_color()
    if other is not None:
        alt = behaviour.final_transfer_accuracy(ds, variable=other, tests=tests)
        name = "symmetrised max(m, 1-m)" if other == "accuracy_sym" else "mean p(correct)"
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
        title="B  final transfer accuracy (mean +- SD)",
    )
    ax.legend(
        fontsize=6,
        title="regression acc ~ ln(training sep.)",
        title_fontsize=6,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
    )


def _panel_c(ds, axes, fig, sep_var: str) -> None:
    have_tests = [str(v) for v in ds.test.values]
    tests = [t for t in behaviour.TRANSFER_TESTS if t in have_tests]
    if sep_var not in ds.data_vars or "test_separation" not in ds.dims or not tests:
        for ax in axes:
            unavailable(ax, "C train x test separation matrices")
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
            mats.sel(test=test).values, vmin=vmin, vmax=vmax, cmap="magma", origin="upper"
        )
        ax.set_xticks(range(test_seps.size), [f"{s:g}" for s in test_seps], fontsize=7)
        ax.set_yticks(range(train_seps.size), [f"{s:g}" for s in train_seps], fontsize=7)
        ax.set(xlabel="test separation (deg)", ylabel="training separation (deg)")
        rows = table[table.test == test].set_index("term")
        lines = [f"C  {test}"]
        for term, short in (("log_test_sep", "test"), ("log_train_sep", "train")):
            lines.append(f"{short}: {_regression_label(rows.loc[term])}")
        ax.set_title("\n".join(lines), fontsize=7)
    for ax in axes[len(tests) :]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="final accuracy (p correct)")


def figure_2(ds, *, symmetric: bool = False, show_other: bool | None = None) -> plt.Figure:
    """The paper's Fig. 2 from a results Dataset (`vpl_jax.experiment.results_dataset`).

    Args:
        ds: results Dataset of a run (any grid; panels lacking data say so).
        symmetric: plot the per-fold symmetrised accuracy ``max(m, 1 - m)`` of the authors'
            code (``accuracy_sym``) instead of the paper's mean p(correct) (``accuracy``).
        show_other: also draw the other metric's final transfer accuracy in panel B (dashed);
            None (default) does so where the two disagree (`metrics_disagree`).

    Returns:
        A matplotlib Figure (3 rows x 5 columns of panels).

    Raises:
        ValueError: ``ds`` is not a results Dataset (no ``accuracy``/``separation_deg``).
    """
    behaviour.check_dataset(ds, ["accuracy_sym" if symmetric else "accuracy", "separation_deg"])
    fig = plt.figure(figsize=(19, 12))
    grid = fig.add_gridspec(3, 5, hspace=0.55, wspace=0.35)
    axes_acc = [fig.add_subplot(grid[0, j]) for j in range(5)]
    axes_low = [fig.add_subplot(grid[1, j]) for j in range(5)]
    ax_b = fig.add_subplot(grid[2, 0])
    axes_c = [fig.add_subplot(grid[2, j]) for j in range(1, 5)]
    acc_var = "accuracy_sym" if symmetric else "accuracy"
    sep_var = "separation_accuracy_sym" if symmetric else "separation_accuracy"
    _panel_a(ds, axes_acc, axes_low, acc_var)
    other_var = "accuracy" if symmetric else "accuracy_sym"
    if show_other is None:
        show_other = metrics_disagree(ds)
    show_other = bool(show_other) and other_var in ds.data_vars
    _panel_b(ds, ax_b, acc_var, other_var if show_other else None)
    _panel_c(ds, axes_c, fig, sep_var)
    metric = "symmetrised max(m, 1-m)" if symmetric else "mean p(correct), Eq. 1"
    title = (
        f"Fig. 2, behaviour: {ds.sizes['condition']} networks ({ds.attrs.get('preset', '')}); "
        f"accuracy: {metric}"
    )
    if int(ds.attrs.get("weights_random", 0)):
        title += ", RANDOM weights (not pretrained)"
    fig.suptitle(title)
    return fig
