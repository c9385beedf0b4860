"""Learning curves of any run: accuracy per test and layer change against the iteration."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from theory.checks import InputError
from vpl_jax.figures import style

__all__ = ["learning_curves"]


@style.styled
def learning_curves(ds, *, variable: str = "accuracy") -> plt.Figure:
    """Learning curves of a run (`vpl_jax.experiment.results_dataset`).

    Left: accuracy on the trained condition and the four transfer tests against the iteration
    (log axis; iteration 0 drawn at 0.5), averaged over the conditions of each training
    separation. Right: the relative layer change ``d_rel1`` of every layer, averaged over all
    conditions.

    Args:
        ds: results Dataset.
        variable: ``"accuracy"`` (the paper's mean p(correct), default) or ``"accuracy_sym"``
            (the authors' symmetrised ``max(m, 1 - m)``).

    Raises:
        InputError: an unknown ``variable`` or one the Dataset lacks.
    """
    if variable not in ("accuracy", "accuracy_sym") or variable not in ds.data_vars:
        raise InputError(
            f"variable must be 'accuracy' or 'accuracy_sym' and held by ds, got {variable!r}"
        )
    acc = ds[variable]
    its = ds.iteration.values.astype(float)
    x = np.where(its == 0, 0.5, its)
    fig, (ax_acc, ax_change) = plt.subplots(
        1, 2, figsize=style.figure_size(2, height=3.0), layout="constrained"
    )
    styles = dict(zip(ds.test.values, ["-", "--", ":", "-.", (0, (1, 3))], strict=False))
    seps = np.unique(ds.separation_deg.values)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(seps)))
    for sep, color in zip(seps, colors, strict=True):
        sel = acc.where(ds.separation_deg == sep, drop=True).mean("condition")
        for test in ds.test.values:
            label = f"trained on {sep:g} deg" if test == "trained" else None
            ax_acc.plot(x, sel.sel(test=test), linestyle=styles[test], color=color, label=label)
    for test in ds.test.values:
        ax_acc.plot([], [], linestyle=styles[test], color="gray", label=f"test: {test}")
    ax_acc.set(
        xscale="log",
        xlabel="iteration (0 drawn at 0.5)",
        ylabel="accuracy (mean p correct)"
        if variable == "accuracy"
        else "accuracy (symmetrised max(m, 1-m))",
        ylim=(min(0.45, float(acc.min()) - 0.02), 1.01),
    )
    ax_acc.axhline(0.5, color="k", lw=0.5)
    style.legend_outside(ax_acc, where="below", ncol=3)
    change = ds.layer_change.sel(measure="d_rel1").mean("condition")
    values = change.values
    if np.any(np.isfinite(values) & (values > 0)):
        for layer in ds.layer.values:
            ax_change.plot(x, change.sel(layer=layer), label=layer)
        ax_change.set(
            xscale="log",
            yscale="log",
            xlabel="iteration (0 drawn at 0.5)",
            ylabel="d_rel1 (relative change)",
        )
        style.legend_outside(ax_change, where="below", ncol=3, title="layer (mean)")
    else:
        ax_change.set(xlabel="iteration (0 drawn at 0.5)", ylabel="d_rel1 (relative change)")
        style.no_data(ax_change, "layer change", "no layer changed (d_rel1 = 0)")
    title = f"{ds.attrs.get('preset', '')}: weights {ds.attrs.get('weights', '?')}"
    if int(ds.attrs.get("weights_random", 0)):
        title += " (RANDOM, not pretrained)"
    fig.suptitle(title)
    return style.finish(fig)
