r"""Experiment 2 of Wenliang & Seitz (2018): Gabor vs face task, frozen layers (the paper's Fig. 5).

Every function is pure and takes the Experiment 2 results Dataset (or a table derived from it).

Dataset layout (`validate_dataset` checks it):

* dims ``condition``, ``iteration`` (evaluation iterations, ascending), ``test`` (at least
  ``"trained"``: the held-out test pairs of the trained condition; for faces the 625 unseen test
  pairs of the fold), ``layer`` (``conv1 .. conv5, readout``) and ``measure`` (``d_rel1, d_rel2,
  d_m1, d_m2``);
* coordinates on ``condition``: ``task`` (``"gabor"`` or ``"face"``), ``reference`` (the
  reference angle in degrees for Gabor, the fold index for faces), ``dissimilarity`` (1..5:
  separations 0.5, 1, 2, 5, 10 deg, or morph distances 0.05 ... 0.50) and ``frozen_layers``
  (``k`` = 0..5: layers 1..k kept at their initial weights; 5 trains only the readout);
* variables ``accuracy`` ``(condition, iteration, test)`` in [0, 1] (mean p(correct)) and
  ``layer_change`` ``(condition, iteration, layer, measure)`` (`vpl_jax.analysis.plasticity`).

A *unit* is one ``(task, reference, dissimilarity)``: the matched set of the six networks
``k = 0..5`` trained on the same stimuli. Analyses:

* `t95_table` -- t95, the first evaluation iteration at which the fully plastic network
  (``k = 0``) reaches 95 % on the test pairs;
* `accuracy_drops` -- ``drop_k = acc_{k=0}(t95) - acc_k(t95)`` per unit and ``k = 1..5``
  (cumulative: the contribution of layers 1..k together);
* `drop_tests` -- one-sample t-tests of the drops against 0 per (task, k, dissimilarity),
  Bonferroni over the tests of a task (5 x 5 = 25, the paper's correction), or pooled over
  dissimilarities (5 per task); a drop counts when ``p * m < alpha`` and the mean is positive;
* `drop_steps`, `step_summary` -- the increments ``drop_k - drop_{k-1}`` (``drop_0 = 0``) per
  unit, their means and t-tests, the layer of the largest step (and a paired test against the
  runner-up) and the first layer whose pooled drop is significant;
* `change_proportions` -- ``d(l) / sum_l' d(l')`` over layers 1-5 for ``k = 0`` and over layers
  2-5 for ``k = 1`` (the paper's two panels of Fig. 5B), at the last evaluation iteration;
* `proportion_anova` -- the layer x task two-way ANOVA of the proportions with the interaction
  (statsmodels OLS, type-II sums of squares); because the proportions of a network sum to 1, the
  task main effect is 0 by construction and the interaction carries the task effect;
* `proportion_posthoc` -- per layer Mann-Whitney U, face vs Gabor, Bonferroni over the layers;
* `full_network_accuracy` -- the final accuracy of ``k = 0`` per task (the paper: > 95 % in
  every condition);
* `analyze` -- all of it as one `Experiment2Results`.

Significance is `vpl_jax.analysis.significance.ALPHA` (0.01) as in the paper. A test that cannot
be run (too few units, no variance, a task missing) has ``testable=False`` and a ``reason``,
never a fabricated p value. `planted_dataset` builds datasets with known effects (or nulls) for
tests and demonstrations.

References:
    Wenliang & Seitz (2018), J. Neurosci. 38(27):6028-6044, section "Effect of feature
    complexity on distribution of learning", Fig. 5 and Table 5-1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from theory.checks import InputError
from vpl_jax.analysis.plasticity import CONV_LAYERS
from vpl_jax.analysis.significance import ALPHA
from vpl_jax.train import eval_iterations

__all__ = [
    "CONDITION_COORDS",
    "DISSIMILARITIES",
    "FROZEN_LAYERS",
    "MEASURES",
    "TASKS",
    "Experiment2Results",
    "accuracy_drops",
    "analyze",
    "change_proportions",
    "drop_steps",
    "drop_tests",
    "full_network_accuracy",
    "planted_dataset",
    "proportion_anova",
    "proportion_posthoc",
    "step_summary",
    "t95_table",
    "validate_dataset",
]

TASKS: tuple[str, ...] = ("gabor", "face")
"""The two tasks, in the order figures and tables use."""
FROZEN_LAYERS: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
"""Numbers of frozen lower layers (0 = fully plastic)."""
DISSIMILARITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
"""Dissimilarity levels (1 = closest to the reference)."""
MEASURES: tuple[str, ...] = ("d_rel1", "d_rel2", "d_m1", "d_m2")
"""Layer-change measures of the ``measure`` axis."""
CONDITION_COORDS: tuple[str, ...] = ("task", "reference", "dissimilarity", "frozen_layers")
"""Coordinates on the ``condition`` axis."""

_UNIT = ["task", "reference", "dissimilarity"]


# --------------------------------------------------------------------------------------------
# Validation and tables


def validate_dataset(ds, *, need_layer_change: bool = False) -> None:
    """Check the Experiment 2 layout of the module docstring.

    Raises:
        InputError: not a Dataset, a missing variable, dimension or coordinate, an unknown task,
            a dissimilarity or frozen-layer count out of range, or duplicate conditions.
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    need = {"accuracy": ("condition", "iteration", "test")}
    if need_layer_change:
        need["layer_change"] = ("condition", "iteration", "layer", "measure")
    for var, dims in need.items():
        if var not in ds.data_vars:
            raise InputError(f"ds must have the variable {var!r}; it has {sorted(ds.data_vars)}")
        if set(ds[var].dims) != set(dims):
            raise InputError(f"ds.{var} must have dims {dims}, got {ds[var].dims}")
    missing = [c for c in CONDITION_COORDS if c not in ds.coords]
    if missing:
        raise InputError(
            f"ds must have the condition coordinates {list(CONDITION_COORDS)}; missing {missing}"
        )
    tasks = {str(t) for t in ds.task.values}
    if not tasks <= set(TASKS):
        raise InputError(f"ds.task must be in {TASKS}, got {sorted(tasks)}")
    k = np.asarray(ds.frozen_layers.values)
    if not np.all(np.isin(k, FROZEN_LAYERS)):
        raise InputError(f"ds.frozen_layers must be in 0..5, got {sorted(set(k.tolist()))}")
    d = np.asarray(ds.dissimilarity.values)
    if not np.all(np.isin(d, DISSIMILARITIES)):
        raise InputError(f"ds.dissimilarity must be in 1..5, got {sorted(set(d.tolist()))}")
    if "trained" not in [str(t) for t in ds.test.values]:
        raise InputError(f"ds.test must contain 'trained', got {list(ds.test.values)}")
    its = np.asarray(ds.iteration.values)
    if its.ndim != 1 or np.any(np.diff(its) <= 0):
        raise InputError(f"ds.iteration must be strictly increasing, got {its.tolist()}")
    table = _conditions(ds)
    dup = table.duplicated(CONDITION_COORDS)
    if dup.any():
        raise InputError(f"ds has duplicate conditions: {table[dup].head(3).to_dict('records')}")


def _conditions(ds) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": [str(t) for t in ds.task.values],
            "reference": np.asarray(ds.reference.values, float),
            "dissimilarity": np.asarray(ds.dissimilarity.values, int),
            "frozen_layers": np.asarray(ds.frozen_layers.values, int),
        }
    )


def _check_test(ds, test: str) -> str:
    tests = [str(t) for t in ds.test.values]
    if test not in tests:
        raise InputError(f"test must be one of {tests}, got {test!r}")
    return test


def _curves(ds, test: str) -> np.ndarray:
    return ds.accuracy.sel(test=test).transpose("condition", "iteration").values.astype(float)


def t95_table(ds, *, threshold: float = 0.95, test: str = "trained") -> pd.DataFrame:
    """t95 of every fully plastic condition (``k = 0``).

    Args:
        ds: the Experiment 2 Dataset.
        threshold: accuracy to reach (0.95).
        test: the ``test`` entry to read (``"trained"``: the test pairs).

    Returns:
        One row per unit: ``task, reference, dissimilarity, t95`` (the first evaluation
        iteration with accuracy >= threshold, NaN if never), ``reached`` and ``final_accuracy``.

    Raises:
        InputError: a bad layout, threshold outside (0.5, 1] or unknown test.
    """
    validate_dataset(ds)
    test = _check_test(ds, test)
    if not 0.5 < threshold <= 1.0:
        raise InputError(f"threshold must be in (0.5, 1], got {threshold}")
    cond = _conditions(ds)
    its = np.asarray(ds.iteration.values, float)
    acc = _curves(ds, test)
    rows = []
    for i in np.flatnonzero(cond.frozen_layers.values == 0):
        hit = np.flatnonzero(acc[i] >= threshold)
        rows.append(
            {
                **cond.iloc[i][_UNIT].to_dict(),
                "t95": float(its[hit[0]]) if hit.size else np.nan,
                "reached": bool(hit.size),
                "final_accuracy": float(acc[i, -1]),
            }
        )
    return pd.DataFrame(rows, columns=[*_UNIT, "t95", "reached", "final_accuracy"])


def accuracy_drops(
    ds, *, threshold: float = 0.95, test: str = "trained", unreached: str = "exclude"
) -> pd.DataFrame:
    """The accuracy drop at t95 of every frozen network vs its fully plastic partner.

    ``drop = acc_{k=0}(t95) - acc_k(t95)`` for ``k = 1..5`` of the same unit. When the fully
    plastic network never reaches the threshold, ``unreached="exclude"`` leaves the drop NaN
    (``reached=False``; the tests skip it) and ``"last"`` reads both at the last iteration.

    Returns:
        One row per (unit, k present): ``task, reference, dissimilarity, frozen_layers, t95,
        reached, accuracy_full, accuracy_frozen, drop``.

    Raises:
        InputError: as `t95_table`, or an unknown ``unreached``.
    """
    if unreached not in ("exclude", "last"):
        raise InputError(f"unreached must be 'exclude' or 'last', got {unreached!r}")
    t95 = t95_table(ds, threshold=threshold, test=test)
    cond = _conditions(ds)
    its = np.asarray(ds.iteration.values, float)
    acc = _curves(ds, test)
    index = {
        tuple(r): i for i, r in enumerate(cond[[*_UNIT, "frozen_layers"]].itertuples(index=False))
    }
    rows = []
    for unit in t95.itertuples(index=False):
        key = (unit.task, unit.reference, unit.dissimilarity)
        full = index[(*key, 0)]
        if unit.reached:
            e = int(np.flatnonzero(its == unit.t95)[0])
        else:
            e = len(its) - 1 if unreached == "last" else None
        for k in FROZEN_LAYERS[1:]:
            j = index.get((*key, k))
            if j is None:
                continue
            a_full = float(acc[full, e]) if e is not None else np.nan
            a_k = float(acc[j, e]) if e is not None else np.nan
            rows.append(
                {
                    "task": unit.task,
                    "reference": unit.reference,
                    "dissimilarity": unit.dissimilarity,
                    "frozen_layers": k,
                    "t95": unit.t95,
                    "reached": unit.reached,
                    "accuracy_full": a_full,
                    "accuracy_frozen": a_k,
                    "drop": a_full - a_k,
                }
            )
    columns = [
        *_UNIT,
        "frozen_layers",
        "t95",
        "reached",
        "accuracy_full",
        "accuracy_frozen",
        "drop",
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# Tests of the drops


def _ttest_row(values: np.ndarray) -> dict:
    from scipy import stats

    v = values[np.isfinite(values)]
    row = {"n": int(v.size), "mean": np.nan, "sem": np.nan, "t": np.nan, "p": np.nan}
    if v.size:
        row["mean"] = float(v.mean())
    if v.size < 2:
        return {**row, "testable": False, "reason": f"{v.size} finite value(s); a t-test needs 2"}
    sd = float(v.std(ddof=1))
    row["sem"] = sd / np.sqrt(v.size)
    if sd == 0.0:
        return {**row, "testable": False, "reason": "no variance across units"}
    res = stats.ttest_1samp(v, 0.0)
    return {
        **row,
        "t": float(res.statistic),
        "p": float(res.pvalue),
        "testable": True,
        "reason": "",
    }


def _bonferroni(table: pd.DataFrame, alpha: float, positive: bool) -> pd.DataFrame:
    m = table.groupby("task")["testable"].transform("sum").astype(int)
    table["n_tests"] = m
    table["p_bonferroni"] = np.minimum(1.0, table["p"] * m)
    sig = table["testable"] & (table["p_bonferroni"] < alpha)
    table["significant"] = sig & (table["mean"] > 0) if positive else sig
    return table


def _check_alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    return float(alpha)


def _check_drops(drops) -> pd.DataFrame:
    need = [*_UNIT, "frozen_layers", "drop"]
    if not isinstance(drops, pd.DataFrame) or any(c not in drops.columns for c in need):
        raise InputError(f"drops must be the DataFrame of accuracy_drops (columns {need})")
    return drops


def drop_tests(drops: pd.DataFrame, *, alpha: float = ALPHA, pooled: bool = False) -> pd.DataFrame:
    """One-sample t-tests of the accuracy drops against 0 (Fig. 5A asterisks).

    Args:
        drops: the table of `accuracy_drops`.
        alpha: significance level (0.01).
        pooled: test per (task, k) over every unit of all dissimilarities (Bonferroni over the
            5 values of k) instead of per (task, k, dissimilarity) (Bonferroni over 25).

    Returns:
        One row per group: ``task, frozen_layers, [dissimilarity], n, mean, sem, t, p,
        testable, reason, n_tests, p_bonferroni, significant`` (significant: a positive mean
        drop with ``p * n_tests < alpha``; two-sided t-test).

    Raises:
        InputError: a malformed table or alpha.
    """
    drops = _check_drops(drops)
    alpha = _check_alpha(alpha)
    keys = ["task", "frozen_layers"] if pooled else ["task", "frozen_layers", "dissimilarity"]
    rows = []
    for group, sub in drops.groupby(keys, sort=False):
        rows.append(
            {**dict(zip(keys, group, strict=True)), **_ttest_row(sub["drop"].to_numpy(float))}
        )
    cols = [*keys, "n", "mean", "sem", "t", "p", "testable", "reason"]
    table = pd.DataFrame(rows, columns=cols)
    table = table.sort_values(keys, key=_task_order).reset_index(drop=True)
    return _bonferroni(table, alpha, positive=True)


def _task_order(col: pd.Series) -> pd.Series:
    if col.name == "task":
        return col.map({t: i for i, t in enumerate(TASKS)})
    return col


def _increments(drops: pd.DataFrame) -> pd.DataFrame:
    """Per unit, ``drop_k - drop_{k-1}`` (``drop_0 = 0``) for every k whose predecessor exists."""
    wide = drops.pivot_table(index=_UNIT, columns="frozen_layers", values="drop", dropna=False)
    wide.insert(0, 0, 0.0)
    out = []
    for k in FROZEN_LAYERS[1:]:
        if k in wide.columns and (k - 1) in wide.columns:
            inc = (wide[k] - wide[k - 1]).rename("increment").reset_index()
            inc["frozen_layers"] = k
            out.append(inc)
    if not out:
        return pd.DataFrame(columns=[*_UNIT, "increment", "frozen_layers"])
    return pd.concat(out, ignore_index=True)


def drop_steps(drops: pd.DataFrame, *, alpha: float = ALPHA) -> pd.DataFrame:
    """The step of the drop curve at each k: ``drop_k - drop_{k-1}`` per unit, tested against 0.

    Returns:
        One row per (task, k): ``task, frozen_layers, mean_drop, n, mean (the mean increment),
        sem, t, p, testable, reason, n_tests, p_bonferroni, significant`` (Bonferroni over the
        steps of a task; significant means a positive step).
    """
    drops = _check_drops(drops)
    alpha = _check_alpha(alpha)
    inc = _increments(drops)
    rows = []
    for (task, k), sub in inc.groupby(["task", "frozen_layers"], sort=False):
        mean_drop = drops[(drops.task == task) & (drops.frozen_layers == k)]["drop"].mean()
        rows.append(
            {
                "task": task,
                "frozen_layers": int(k),
                "mean_drop": float(mean_drop),
                **_ttest_row(sub["increment"].to_numpy(float)),
            }
        )
    cols = [
        "task",
        "frozen_layers",
        "mean_drop",
        "n",
        "mean",
        "sem",
        "t",
        "p",
        "testable",
        "reason",
    ]
    table = pd.DataFrame(rows, columns=cols)
    table = table.sort_values(["task", "frozen_layers"], key=_task_order).reset_index(drop=True)
    return _bonferroni(table, alpha, positive=True)


def step_summary(drops: pd.DataFrame, *, alpha: float = ALPHA) -> pd.DataFrame:
    """Where the drop curve of each task rises most, and where it first becomes significant.

    Returns:
        One row per task: ``task, largest_step`` (the k with the largest mean increment),
        ``largest_increment``, ``runner_up`` and ``runner_up_increment``, ``p_vs_runner_up``
        (paired two-sided t-test of the two increments over units), ``onset`` (the smallest k
        whose pooled drop is significant; NaN if none), ``n_units``, ``n_unreached`` (units
        whose fully plastic network never reached 95 %), ``testable``, ``reason``.
    """
    from scipy import stats

    drops = _check_drops(drops)
    alpha = _check_alpha(alpha)
    steps = drop_steps(drops, alpha=alpha)
    pooled = drop_tests(drops, alpha=alpha, pooled=True)
    inc = _increments(drops)
    rows = []
    for task in [t for t in TASKS if t in set(drops.task)]:
        st = steps[steps.task == task].dropna(subset=["mean"])
        units = drops[drops.task == task].drop_duplicates(_UNIT)
        unreached = int((~units["reached"].astype(bool)).sum()) if "reached" in units else 0
        row = {"task": task, "n_units": int(len(units)), "n_unreached": unreached}
        sig = pooled[(pooled.task == task) & pooled.significant]
        row["onset"] = float(sig.frozen_layers.min()) if len(sig) else np.nan
        if len(st) == 0:
            rows.append({**row, "testable": False, "reason": "no finite increments"})
            continue
        order = st.sort_values("mean", ascending=False)
        best = order.iloc[0]
        row.update(largest_step=int(best.frozen_layers), largest_increment=float(best["mean"]))
        row.update(testable=True, reason="")
        if len(order) > 1:
            second = order.iloc[1]
            row.update(
                runner_up=int(second.frozen_layers), runner_up_increment=float(second["mean"])
            )
            a = inc[(inc.task == task) & (inc.frozen_layers == best.frozen_layers)]
            b = inc[(inc.task == task) & (inc.frozen_layers == second.frozen_layers)]
            paired = a.merge(b, on=_UNIT, suffixes=("_a", "_b")).dropna()
            diff = (paired.increment_a - paired.increment_b).to_numpy(float)
            if diff.size >= 2 and np.std(diff) > 0:
                row["p_vs_runner_up"] = float(stats.ttest_1samp(diff, 0.0).pvalue)
        rows.append(row)
    cols = [
        "task",
        "largest_step",
        "largest_increment",
        "runner_up",
        "runner_up_increment",
        "p_vs_runner_up",
        "onset",
        "n_units",
        "n_unreached",
        "testable",
        "reason",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


# --------------------------------------------------------------------------------------------
# Layer-change proportions


def change_proportions(
    ds,
    *,
    frozen_layers: int = 0,
    layers: Sequence[str] | None = None,
    measure: str = "d_rel1",
    iteration: int | None = None,
) -> pd.DataFrame:
    """Share of each layer in the summed change of the networks with ``k`` frozen layers (Fig. 5B).

    Args:
        ds: the Experiment 2 Dataset (with ``layer_change``).
        frozen_layers: ``k`` (0: layers 1-5; 1: layers 2-5, the paper's right panel).
        layers: the layers normalised over (default ``conv{k+1} .. conv5``).
        measure: change measure (``"d_rel1"``; the others for Fig. 5-1).
        iteration: evaluation iteration (default the last).

    Returns:
        Long table ``task, reference, dissimilarity, frozen_layers, layer, change, proportion``
        (proportion NaN where a network's total change is 0).

    Raises:
        InputError: a bad layout, k, layer, measure or iteration.
    """
    validate_dataset(ds, need_layer_change=True)
    if frozen_layers not in FROZEN_LAYERS[:-1]:
        raise InputError(
            f"frozen_layers must be in 0..4 (k = 5 leaves no conv layer), got {frozen_layers}"
        )
    known = [str(x) for x in ds.layer.values]
    layers = list(CONV_LAYERS[frozen_layers:] if layers is None else layers)
    bad = [x for x in layers if x not in known]
    if not layers or bad:
        raise InputError(f"layers must be a non-empty subset of {known}, got {layers}")
    if measure not in [str(m) for m in ds.measure.values]:
        raise InputError(f"measure must be one of {list(ds.measure.values)}, got {measure!r}")
    its = [int(i) for i in ds.iteration.values]
    if iteration is not None and int(iteration) not in its:
        raise InputError(f"iteration must be one of {its}, got {iteration}")
    e = len(its) - 1 if iteration is None else its.index(int(iteration))
    cond = _conditions(ds)
    keep = np.flatnonzero(cond.frozen_layers.values == frozen_layers)
    change = (
        ds.layer_change.sel(measure=measure, layer=layers)
        .isel(iteration=e)
        .transpose("condition", "layer")
        .values[keep]
        .astype(float)
    )
    total = change.sum(1, keepdims=True)
    prop = np.where(total != 0, change / np.where(total != 0, total, 1.0), np.nan)
    n = len(layers)
    base = cond.iloc[keep].reset_index(drop=True)
    out = base.loc[base.index.repeat(n)].reset_index(drop=True)
    out["layer"] = np.tile(layers, len(keep))
    out["change"] = change.reshape(-1)
    out["proportion"] = prop.reshape(-1)
    return out


def _check_props(props) -> pd.DataFrame:
    need = ["task", "layer", "proportion"]
    if not isinstance(props, pd.DataFrame) or any(c not in props.columns for c in need):
        raise InputError(f"props must be the DataFrame of change_proportions (columns {need})")
    return props


def proportion_anova(props: pd.DataFrame) -> pd.DataFrame:
    """Two-way ANOVA ``proportion ~ C(layer) * C(task)`` (statsmodels OLS, type II).

    Returns:
        Rows ``C(layer)``, ``C(task)``, ``C(layer):C(task)``, ``Residual`` with ``sum_sq, df, F,
        p, testable, reason``; one untestable row when a task is missing or the design is too
        small.
    """
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    data = _check_props(props).dropna(subset=["proportion"])
    tasks, layers = data.task.nunique(), data.layer.nunique()
    reason = ""
    if tasks < 2:
        reason = f"needs both tasks, got {sorted(set(data.task))}"
    elif layers < 2:
        reason = "needs at least 2 layers"
    elif len(data) <= tasks * layers:
        reason = f"{len(data)} observations for {tasks * layers} cells: no residual"
    terms = ["C(layer)", "C(task)", "C(layer):C(task)", "Residual"]
    if reason:
        return pd.DataFrame(
            {
                "term": terms,
                "sum_sq": np.nan,
                "df": np.nan,
                "F": np.nan,
                "p": np.nan,
                "testable": False,
                "reason": reason,
            }
        )
    fit = smf.ols("proportion ~ C(layer) * C(task)", data=data).fit()
    table = anova_lm(fit, typ=2).rename(columns={"PR(>F)": "p"})
    table = table.reindex(terms).reset_index(names="term")
    table["testable"] = True
    table["reason"] = ""
    return table[["term", "sum_sq", "df", "F", "p", "testable", "reason"]]


def proportion_posthoc(props: pd.DataFrame, *, alpha: float = ALPHA) -> pd.DataFrame:
    """Per layer, face vs Gabor change proportions: two-sided Mann-Whitney U, Bonferroni.

    Returns:
        One row per layer: ``layer, n_gabor, n_face, mean_gabor, mean_face, sem_gabor,
        sem_face, difference`` (face - Gabor), ``U, p, n_tests, p_bonferroni, significant,
        direction`` (``"face > gabor"``, ``"face < gabor"`` or ``""``), ``testable, reason``.
    """
    from scipy import stats

    data = _check_props(props).dropna(subset=["proportion"])
    alpha = _check_alpha(alpha)
    layers = list(dict.fromkeys(data.layer))
    rows = []
    for layer in layers:
        g = data[(data.layer == layer) & (data.task == "gabor")].proportion.to_numpy(float)
        f = data[(data.layer == layer) & (data.task == "face")].proportion.to_numpy(float)
        row = {
            "layer": layer,
            "n_gabor": g.size,
            "n_face": f.size,
            "mean_gabor": g.mean() if g.size else np.nan,
            "mean_face": f.mean() if f.size else np.nan,
            "sem_gabor": g.std(ddof=1) / np.sqrt(g.size) if g.size > 1 else np.nan,
            "sem_face": f.std(ddof=1) / np.sqrt(f.size) if f.size > 1 else np.nan,
            "U": np.nan,
            "p": np.nan,
        }
        row["difference"] = row["mean_face"] - row["mean_gabor"]
        if g.size < 2 or f.size < 2:
            row.update(
                testable=False, reason=f"needs >= 2 networks per task, got {g.size}, {f.size}"
            )
        else:
            res = stats.mannwhitneyu(f, g, alternative="two-sided")
            row.update(U=float(res.statistic), p=float(res.pvalue), testable=True, reason="")
        rows.append(row)
    table = pd.DataFrame(rows)
    m = int(table.testable.sum()) if len(table) else 0
    table["n_tests"] = m
    table["p_bonferroni"] = np.minimum(1.0, table.p * m)
    table["significant"] = table.testable & (table.p_bonferroni < alpha)
    table["direction"] = np.where(
        table.significant, np.where(table.difference > 0, "face > gabor", "face < gabor"), ""
    )
    cols = [
        "layer",
        "n_gabor",
        "n_face",
        "mean_gabor",
        "mean_face",
        "sem_gabor",
        "sem_face",
        "difference",
        "U",
        "p",
        "n_tests",
        "p_bonferroni",
        "significant",
        "direction",
        "testable",
        "reason",
    ]
    return table[cols]


# --------------------------------------------------------------------------------------------
# Final accuracy of the fully plastic network, and everything together


def full_network_accuracy(
    ds, *, threshold: float = 0.95, test: str = "trained", iteration: int | None = None
) -> pd.DataFrame:
    """Final test accuracy of the fully plastic networks per task (the paper: > 95 % in all).

    Returns:
        One row per task: ``task, n, min, mean, max, fraction_above`` (the fraction of units
        above ``threshold``) and ``all_above``.
    """
    validate_dataset(ds)
    test = _check_test(ds, test)
    its = [int(i) for i in ds.iteration.values]
    if iteration is not None and int(iteration) not in its:
        raise InputError(f"iteration must be one of {its}, got {iteration}")
    e = len(its) - 1 if iteration is None else its.index(int(iteration))
    cond = _conditions(ds)
    acc = _curves(ds, test)[:, e]
    rows = []
    for task in [t for t in TASKS if t in set(cond.task)]:
        v = acc[(cond.task.values == task) & (cond.frozen_layers.values == 0)]
        v = v[np.isfinite(v)]
        rows.append(
            {
                "task": task,
                "n": int(v.size),
                "min": float(v.min()) if v.size else np.nan,
                "mean": float(v.mean()) if v.size else np.nan,
                "max": float(v.max()) if v.size else np.nan,
                "fraction_above": float(np.mean(v > threshold)) if v.size else np.nan,
                "all_above": bool(v.size and np.all(v > threshold)),
            }
        )
    return pd.DataFrame(
        rows, columns=["task", "n", "min", "mean", "max", "fraction_above", "all_above"]
    )


class Experiment2Results(NamedTuple):
    """Every Experiment 2 analysis of one Dataset (see the module docstring).

    Attributes:
        t95: `t95_table`.
        drops: `accuracy_drops`.
        drop_tests: `drop_tests` per (task, k, dissimilarity).
        drop_tests_pooled: `drop_tests` per (task, k).
        steps: `drop_steps`.
        step_summary: `step_summary`.
        proportions: ``{0: ..., 1: ...}`` `change_proportions` of the fully plastic and the
            layer-1-frozen networks (empty when the Dataset has no ``layer_change``).
        anova: ``{0: ..., 1: ...}`` `proportion_anova`.
        posthoc: ``{0: ..., 1: ...}`` `proportion_posthoc`.
        full_accuracy: `full_network_accuracy`.
    """

    t95: pd.DataFrame
    drops: pd.DataFrame
    drop_tests: pd.DataFrame
    drop_tests_pooled: pd.DataFrame
    steps: pd.DataFrame
    step_summary: pd.DataFrame
    proportions: dict
    anova: dict
    posthoc: dict
    full_accuracy: pd.DataFrame


def analyze(
    ds,
    *,
    alpha: float = ALPHA,
    threshold: float = 0.95,
    test: str = "trained",
    measure: str = "d_rel1",
    unreached: str = "exclude",
) -> Experiment2Results:
    """All Experiment 2 analyses (Fig. 5A and 5B, the full-network accuracy)."""
    drops = accuracy_drops(ds, threshold=threshold, test=test, unreached=unreached)
    props, anova, posthoc = {}, {}, {}
    if "layer_change" in ds.data_vars:
        present = set(np.asarray(ds.frozen_layers.values).tolist())
        for k in (0, 1):
            if k in present:
                props[k] = change_proportions(ds, frozen_layers=k, measure=measure)
                anova[k] = proportion_anova(props[k])
                posthoc[k] = proportion_posthoc(props[k], alpha=alpha)
    return Experiment2Results(
        t95=t95_table(ds, threshold=threshold, test=test),
        drops=drops,
        drop_tests=drop_tests(drops, alpha=alpha),
        drop_tests_pooled=drop_tests(drops, alpha=alpha, pooled=True),
        steps=drop_steps(drops, alpha=alpha),
        step_summary=step_summary(drops, alpha=alpha),
        proportions=props,
        anova=anova,
        posthoc=posthoc,
        full_accuracy=full_network_accuracy(ds, threshold=threshold, test=test),
    )


# --------------------------------------------------------------------------------------------
# Planted datasets (tests, demonstrations, verdict checks)

_PAPER_LIKE_DROPS = {
    "gabor": (0.0, 0.0, 0.06, 0.16, 0.20, 0.24),
    "face": (0.0, 0.0, 0.0, 0.0, 0.05, 0.15),
}
_PAPER_LIKE_PROFILES = {
    "gabor": (0.28, 0.30, 0.20, 0.13, 0.09),
    "face": (0.26, 0.20, 0.20, 0.18, 0.16),
}


def planted_dataset(
    seed: int = 0,
    *,
    drops: Mapping[str, Sequence[float]] | None = None,
    profiles: Mapping[str, Sequence[float]] | None = None,
    drop_sd: float = 0.01,
    profile_sd: float = 0.1,
    num_references: int = 12,
    iterations: Sequence[int] | None = None,
    tau_range: tuple[float, float] = (15.0, 60.0),
) -> xr.Dataset:
    """A synthetic Experiment 2 Dataset with known effects (for tests and demonstrations).

    Fully plastic accuracy ``a0(t) = 1 - 0.5 exp(-t / tau)`` per unit (``tau`` uniform in
    ``tau_range``; it reaches 0.95 at ``t = tau ln 10``); a network with ``k`` frozen layers has
    ``a_k(t) = a0(t) - (D_k + e) * s(t)``, ``s(t) = min(1, (a0(t) - 0.5) / 0.45)``, so its drop
    at t95 is exactly ``D_k + e`` with ``e ~ N(0, drop_sd)`` per unit and k (not clipped to
    [0, 1], which would bias the planted nulls). Final layer change
    ``d_rel1`` of layer ``l`` is ``profile_l * exp(N(0, profile_sd))`` (0 for frozen layers),
    growing as ``1 - exp(-t / 100)``; the other measures are fixed multiples.

    Args:
        seed: NumPy seed.
        drops: task -> 6 cumulative drops ``D_0 .. D_5`` (``D_0 = 0``); default paper-like
            (Gabor impaired from k = 2 with the largest step at 3, face from k = 4 with the
            largest step at 5); the tasks present are its keys.
        profiles: task -> 5 relative changes of conv1..conv5 (default paper-like: faces more
            change in layers 4-5, less in layer 2).
        drop_sd, profile_sd: noise levels.
        num_references: references (Gabor angles 0, 15, ... deg) or folds (0, 1, ...).
        iterations: evaluation iterations (default the paper's 21 of 0..1000).
        tau_range: learning time constants of ``a0``, iterations.

    Returns:
        The Dataset of the module docstring, ``test = ("trained",)``.
    """
    rng = np.random.default_rng(seed)
    drops = dict(_PAPER_LIKE_DROPS if drops is None else drops)
    profiles = dict(_PAPER_LIKE_PROFILES if profiles is None else profiles)
    its = np.asarray(eval_iterations(1000) if iterations is None else iterations, float)
    for task, d in drops.items():
        if task not in TASKS or len(d) != 6 or d[0] != 0:
            raise InputError(f"drops[{task!r}] must be 6 cumulative drops starting at 0, got {d}")
    rows, acc, change = [], [], []
    for task in [t for t in TASKS if t in drops]:
        prof = np.asarray(profiles[task], float)
        refs = np.arange(num_references) * (15.0 if task == "gabor" else 1.0)
        for ref in refs:
            for dis in DISSIMILARITIES:
                tau = rng.uniform(*tau_range)
                a0 = 1.0 - 0.5 * np.exp(-its / tau)
                s = np.minimum(1.0, (a0 - 0.5) / 0.45)
                for k in FROZEN_LAYERS:
                    e = rng.normal(0.0, drop_sd) if k else 0.0
                    acc.append(a0 - (drops[task][k] + e) * s)  # unclipped: no bias at t95
                    final = prof * np.exp(rng.normal(0.0, profile_sd, 5))
                    final[:k] = 0.0
                    conv = final[None] * (1 - np.exp(-its / 100.0))[:, None]
                    readout = 0.05 * (1 - np.exp(-its / 20.0))[:, None]
                    d1 = np.concatenate([conv, readout], 1)  # (iteration, layer)
                    change.append(np.stack([d1, 0.9 * d1, 1e-3 * d1, 2e-3 * d1], -1))
                    rows.append((task, float(ref), dis, k))
    table = pd.DataFrame(rows, columns=list(CONDITION_COORDS))
    coords = {
        "condition": np.arange(len(table)),
        "iteration": its.astype(int),
        "test": ["trained"],
        "layer": [*CONV_LAYERS, "readout"],
        "measure": list(MEASURES),
    }
    coords.update({c: ("condition", table[c].to_numpy()) for c in CONDITION_COORDS})
    return xr.Dataset(
        {
            "accuracy": (("condition", "iteration", "test"), np.asarray(acc)[..., None]),
            "layer_change": (("condition", "iteration", "layer", "measure"), np.asarray(change)),
        },
        coords=coords,
    )
