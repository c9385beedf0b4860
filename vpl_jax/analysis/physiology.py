"""Comparisons of trained vs naive network units with electrophysiology (Wenliang & Seitz 2018, Figs. 6-10).

The input is the unit table of ``vpl_jax.analysis.tuning.unit_table`` (the data contract): one row
per (network, layer, unit) with the columns listed in `UNIT_COLUMNS`. This module never computes
tuning curves; it selects, bins and tests the attributes in the table.

Conventions:

* **Layers** are the contract's names ``norm1, norm2, conv3, conv4, conv5`` (the paper's layers
  1-5). Orientations and angles are in **degrees**; ``po_rel_deg`` is PO - TO in [-90, 90).
* **Precision** is the training separation ``separation_deg`` of the trained networks (the paper's
  high precision is 1.0 deg, low precision 5.0 deg).
* **Pairing trained with naive units.** The naive (pre-training) network is measured on the
  orientation grid of every reference: its rows have ``trained == False``, ``separation_deg`` NaN
  and the ``reference_deg`` of the grid. For a layer and a precision ``s`` the *trained group* is
  every trained row of that layer with ``separation_deg == s`` (all references, pooled as in the
  paper), and the *naive group* is every naive row of that layer whose ``reference_deg`` is one of
  the trained group's references. So both groups are measured on the same set of grids, and a
  reference that has no trained network at ``s`` contributes nothing. Only ``included`` units are
  used. Where the paper uses *common* units (Fig. 8B), a unit ``(reference_deg, layer, unit)`` is
  kept in both groups only if it is included in the naive row and in a trained row of the same
  reference at ``s``.
* **Results** are `Comparison` objects: the test statistic, p value, degrees of freedom, n per
  group, the bin summaries for the figures, and ``testable`` with a ``reason`` when the data lack
  the layer, the precision or enough units (the numbers are then NaN, never made up).
* **Significance**: alpha = 0.01 (paper, section 4.7) with Bonferroni corrections written as
  ``alpha / m``.

All functions are pure (pandas/NumPy/SciPy/statsmodels; no I/O).

References:
    Wenliang & Seitz (2018), J. Neurosci. 38(27):6028-6044, Figs. 6-10 and Eq. 7;
    Schoups et al. (2001); Ghose et al. (2002); Raiguel et al. (2006); Yang & Maunsell (2004).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm

from theory.checks import InputError, InputTypeError
from vpl_jax.analysis.recording import PROTOCOL_LAYERS, UNIT_COLUMNS
from vpl_jax.analysis.significance import ALPHA

LAYERS = PROTOCOL_LAYERS
"""The paper's layers 1-5 (centre units), in order (the recording contract's layer list)."""

PAIRING_COLUMNS = ("layer", "reference_deg", "separation_deg", "trained", "unit", "included")
"""Columns needed to form the trained and naive groups."""


HIGH_PRECISION_DEG = 1.0
LOW_PRECISION_DEG = 5.0

SCHOUPS_EDGES = (0.0, 4.0, 12.0, 20.0, 28.0, 36.0, 44.0, 52.0)
"""Fig. 6C: |PO - TO| bin edges (deg); per-bin MWU at alpha / 8 as in the code."""

RAIGUEL_EDGES = (0.0, 8.0, 16.0, 24.0, 32.0, 40.0, 48.0)
"""Fig. 8B: |PO - TO| bin edges (deg); per-bin MWU at alpha / 6."""

GHOSE_EDGES = tuple(float(x) for x in np.linspace(-90.1, 90.1, 10))
"""Fig. 7: 9 signed PO - TO bins (deg); the centre bin contains TO."""

SCHOUPS_PO_BINS = 12
RAIGUEL_PO_BINS = 15

LAYER_COLUMNS = ("d_rel1", "fi", "layer_index", "separation_deg", "reference_deg")
"""Columns of the layer-level table for Eq. 7."""

UNIT_LEVEL_COLUMNS = ("d_rel1", "fi", "layer_index", "separation_deg")
"""Columns of the unit-level table for Eq. 7."""


# --------------------------------------------------------------------------------------------
# Checks and selection
# --------------------------------------------------------------------------------------------


def _check_columns(table, columns: Sequence[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise InputTypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"{name} is missing column(s) {missing}; it needs {list(columns)} "
            f"(got columns {list(table.columns)})"
        )


def _check_layer(layer: str) -> str:
    if layer not in LAYERS:
        raise InputError(f"layer must be one of {LAYERS}, got {layer!r}")
    return layer


def _check_precision(precision_deg: float) -> float:
    p = float(precision_deg)
    if not (math.isfinite(p) and p > 0):
        raise InputError(f"precision_deg must be a finite separation > 0 deg, got {precision_deg}")
    return p


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in (0, 1), or `InputError`."""
    a = float(alpha)
    if not 0.0 < a < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    return a


def _check_min_units(min_units: int) -> int:
    if int(min_units) != min_units or min_units < 2:
        raise InputError(f"min_units must be an integer >= 2, got {min_units}")
    return int(min_units)


def _check_edges(edges: Sequence[float | int], name: str = "edges") -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 3 or not np.all(np.diff(e) > 0):
        raise InputError(f"{name} must be >= 3 strictly increasing bin edges (deg), got {edges}")
    return e


def _check_alternative(alternative: str) -> str:
    if alternative not in ("two-sided", "less", "greater"):
        raise InputError(
            f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}"
        )
    return alternative


def validate_unit_table(table: pd.DataFrame, name: str = "table") -> None:
    """Check that ``table`` follows the data contract.

    Args:
        table: the unit table (one row per network, layer, unit).
        name: how to call it in error messages.

    Raises:
        TypeError: if ``table`` is not a DataFrame.
        ValueError: naming the missing columns, or the unknown layer names.
    """
    _check_columns(table, UNIT_COLUMNS, name)
    unknown = sorted(set(map(str, table["layer"].unique())) - set(LAYERS))
    if unknown:
        raise InputError(f"{name}['layer'] has unknown layer name(s) {unknown}; allowed {LAYERS}")


class Groups(NamedTuple):
    """Trained and naive rows of one layer and precision (see the module docstring)."""

    trained: pd.DataFrame
    naive: pd.DataFrame


def _ref_key(x) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64), 6)


def paired_groups(
    table: pd.DataFrame,
    layer: str,
    precision_deg: float,
    *,
    common: bool = False,
    included: bool = True,
) -> Groups:
    """Trained units of ``layer`` at separation ``precision_deg`` and their naive counterparts.

    Args:
        table: the contract's unit table (needs `PAIRING_COLUMNS`).
        layer: one of `LAYERS`.
        precision_deg: training separation of the trained networks (deg, > 0).
        common: keep only units ``(reference_deg, unit)`` included both in the naive row and in a
            trained row of the same reference (the paper's Fig. 8B).
        included: keep only included units (ignored when ``common``, which implies it).

    Returns:
        `Groups` of two DataFrames (rows of ``table``, original index kept). The naive rows are
        those of the trained rows' references (module docstring).

    Raises:
        ValueError: for a missing column, an unknown layer or a bad precision.
    """
    _check_columns(table, PAIRING_COLUMNS, "table")
    _check_layer(layer)
    prec = _check_precision(precision_deg)
    rows = table[table["layer"].astype(str) == layer]
    is_trained = rows["trained"].astype(bool).to_numpy()
    sep = rows["separation_deg"].to_numpy(dtype=np.float64)
    trained = rows[is_trained & np.isclose(sep, prec, rtol=0.0, atol=1e-6)]
    refs = np.unique(_ref_key(trained["reference_deg"]))
    naive = rows[~is_trained & np.isin(_ref_key(rows["reference_deg"]), refs)]
    if common:
        t_inc = trained[trained["included"].astype(bool)]
        n_inc = naive[naive["included"].astype(bool)]
        both = set(zip(_ref_key(t_inc["reference_deg"]), t_inc["unit"].astype(int), strict=True))
        both &= set(zip(_ref_key(n_inc["reference_deg"]), n_inc["unit"].astype(int), strict=True))

        def keep(df):
            keys = zip(_ref_key(df["reference_deg"]), df["unit"].astype(int), strict=True)
            return df[np.array([k in both for k in keys], dtype=bool)]

        return Groups(keep(t_inc), keep(n_inc))
    if included:
        trained = trained[trained["included"].astype(bool)]
        naive = naive[naive["included"].astype(bool)]
    return Groups(trained, naive)


def _why_untestable(table, layer, precision_deg, groups: Groups, min_units: int) -> str:
    """Empty string if both groups have >= min_units units, else the reason."""
    if not (table["layer"].astype(str) == layer).any():
        return f"no rows for layer {layer}"
    if len(groups.trained) == 0 and len(groups.naive) == 0:
        rows = table[(table["layer"].astype(str) == layer) & table["trained"].astype(bool)]
        if not np.isclose(rows["separation_deg"].to_numpy(float), precision_deg).any():
            return f"no trained network at separation {precision_deg:g} deg"
    if len(groups.trained) < min_units or len(groups.naive) < min_units:
        return (
            f"too few units in {layer} at {precision_deg:g} deg: {len(groups.trained)} trained, "
            f"{len(groups.naive)} naive (need >= {min_units} each)"
        )
    return ""


# --------------------------------------------------------------------------------------------
# Result object and binning
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One trained-vs-naive comparison.

    Attributes:
        name: what is compared (e.g. ``"fig6c_slope"``).
        test: the test used (e.g. ``"two-way ANOVA slope ~ C(bin)*C(train): interaction"``).
        layer: the layer (`LAYERS`).
        precision_deg: training separation of the trained group (deg).
        statistic: the test statistic (F, D or U); NaN when not testable.
        p: its p value; NaN when not testable.
        df: degrees of freedom (e.g. ``(df_effect, df_resid)`` for F), empty when not applicable.
        n_trained, n_naive: number of units in each group that entered the test.
        effect: signed effect size whose sign gives the direction (documented per function);
            NaN when the function defines none.
        summary: per-bin (or per-group) summaries for the figure: ``group, bin, lo, hi, mean,
            sem, n`` (columns vary by function).
        tests: secondary tests (per-bin MWU, ANOVA table, ...), or None.
        testable: False when the data cannot answer the question.
        reason: why not testable ("" when testable).
        alpha: significance level used for the per-bin decisions.
    """

    name: str
    test: str
    layer: str
    precision_deg: float
    statistic: float = math.nan
    p: float = math.nan
    df: tuple[float, ...] = ()
    n_trained: int = 0
    n_naive: int = 0
    effect: float = math.nan
    summary: pd.DataFrame | None = None
    tests: pd.DataFrame | None = None
    testable: bool = True
    reason: str = ""
    alpha: float = ALPHA

    def __post_init__(self):
        if self.testable:
            if self.reason:
                raise InputError(f"a testable Comparison has no reason, got {self.reason!r}")
            if not (0.0 <= self.p <= 1.0):
                raise InputError(f"p must be in [0, 1] for a testable comparison, got {self.p}")
        else:
            if not self.reason:
                raise InputError("a not-testable Comparison needs a reason")
            if math.isfinite(self.statistic) or math.isfinite(self.p):
                raise InputError("a not-testable Comparison cannot carry a statistic or p value")

    @property
    def significant(self) -> bool:
        """``p < alpha`` (False when not testable)."""
        return bool(self.testable and self.p < self.alpha)


def _untestable(name, test, layer, precision_deg, reason, groups=None, summary=None, alpha=ALPHA):
    n_t = 0 if groups is None else len(groups.trained)
    n_n = 0 if groups is None else len(groups.naive)
    return Comparison(
        name=name,
        test=test,
        layer=layer,
        precision_deg=float(precision_deg),
        n_trained=n_t,
        n_naive=n_n,
        summary=summary,
        testable=False,
        reason=reason,
        alpha=alpha,
    )


def bin_index(x, edges: Sequence[float | int]) -> np.ndarray:
    """Bin of each value for left-closed bins ``[e_k, e_{k+1})``; the last edge is included.

    Args:
        x: values, shape ``(N,)`` (deg).
        edges: ``B + 1`` increasing edges (deg).

    Returns:
        Int array ``(N,)`` with the bin in ``0..B-1``, or -1 outside ``[e_0, e_B]`` (or NaN).

    Examples:
        >>> bin_index([0.0, 3.9, 4.0, 52.0, 60.0], [0, 4, 12, 52]).tolist()
        [0, 0, 1, 2, -1]
    """
    e = _check_edges(edges)
    v = np.asarray(x, dtype=np.float64)
    idx = np.searchsorted(e, v, side="right") - 1
    idx = np.where(v == e[-1], e.size - 2, idx)
    ok = np.isfinite(v) & (idx >= 0) & (idx <= e.size - 2)
    return np.where(ok, idx, -1).astype(int)


def _sem(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else math.nan


def bin_summary(values, x, edges: Sequence[float | int], group: str = "") -> pd.DataFrame:
    """Mean, SEM (ddof 1) and count of ``values`` in bins of ``x``.

    Args:
        values: ``(N,)`` values to summarise.
        x: ``(N,)`` binning variable (deg).
        edges: ``B + 1`` bin edges (deg), see `bin_index`.
        group: label written in the ``group`` column.

    Returns:
        DataFrame with B rows: ``group, bin, lo, hi, mean, sem, n`` (mean NaN for an empty bin,
        sem NaN for fewer than 2 values).
    """
    e = _check_edges(edges)
    v = np.asarray(values, dtype=np.float64)
    idx = bin_index(x, e)
    rows = []
    for b in range(e.size - 1):
        vb = v[(idx == b) & np.isfinite(v)]
        rows.append(
            dict(
                group=group,
                bin=b,
                lo=e[b],
                hi=e[b + 1],
                mean=float(vb.mean()) if vb.size else math.nan,
                sem=_sem(vb),
                n=int(vb.size),
            )
        )
    return pd.DataFrame(rows)


def _mwu(a, b, alternative):
    res = stats.mannwhitneyu(a, b, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


# --------------------------------------------------------------------------------------------
# Figs. 6C and 8B: slope at TO by |PO - TO| bin
# --------------------------------------------------------------------------------------------


def slope_by_po(
    table: pd.DataFrame,
    layer: str,
    precision_deg: float,
    *,
    edges: Sequence[float | int] = SCHOUPS_EDGES,
    common: bool = False,
    bonferroni_m: int | None = None,
    alternative: str = "two-sided",
    alpha: float = ALPHA,
    min_units: int = 5,
    name: str = "slope_by_po",
) -> Comparison:
    """Normalised slope at TO, trained vs naive, binned by |PO - TO| (Figs. 6C, 8B).

    Units with |PO - TO| outside the edges are left out. The main test is the interaction of the
    two-way ANOVA ``slope ~ C(bin) * C(train)`` (statsmodels OLS + ``anova_lm(typ=2)``) on the
    bins that hold units of both groups. Each bin with >= 2 units per group also gets a
    Mann-Whitney U test (trained vs naive) judged at ``alpha / bonferroni_m``.

    Args:
        table: the contract's unit table.
        layer: layer (`LAYERS`); the paper uses ``norm2`` (6C) and ``conv5`` (8B).
        precision_deg: training separation (deg).
        edges: |PO - TO| bin edges (deg): `SCHOUPS_EDGES` or `RAIGUEL_EDGES`.
        common: use the common units only (8B).
        bonferroni_m: number of comparisons for the per-bin correction (default: number of
            bins; the paper's code uses 8 for `SCHOUPS_EDGES`).
        alternative: per-bin MWU alternative, trained relative to naive.
        alpha: significance level.
        min_units: minimum units per group.
        name: result name.

    Returns:
        `Comparison`: statistic = interaction F, df = (df_interaction, df_resid);
        ``summary`` = `bin_summary` rows for ``group`` in {"trained", "naive"}; ``tests`` = one
        row per bin: ``bin, lo, hi, n_trained, n_naive, mean_trained, mean_naive, diff, U, p,
        alpha_bin, significant`` (diff = trained - naive mean). ``effect`` = NaN.
    """
    _check_columns(table, PAIRING_COLUMNS + ("po_rel_deg", "slope_to"), "table")
    e = _check_edges(edges)
    alpha = check_alpha(alpha)
    _check_alternative(alternative)
    min_units = _check_min_units(min_units)
    m = e.size - 1 if bonferroni_m is None else int(bonferroni_m)
    if m < 1:
        raise InputError(f"bonferroni_m must be >= 1, got {bonferroni_m}")
    test = "two-way ANOVA slope ~ C(bin)*C(train): interaction"
    groups = paired_groups(table, layer, precision_deg, common=common)
    data = []
    for label, g in (("trained", groups.trained), ("naive", groups.naive)):
        b = bin_index(np.abs(g["po_rel_deg"].to_numpy(float)), e)
        v = g["slope_to"].to_numpy(float)
        ok = (b >= 0) & np.isfinite(v)
        data.append(pd.DataFrame(dict(slope=v[ok], bin=b[ok], train=int(label == "trained"))))
    long = pd.concat(data, ignore_index=True)
    summary = pd.concat(
        [
            bin_summary(d["slope"], _bin_centres(e)[d["bin"]], e, label)
            for label, d in zip(("trained", "naive"), data, strict=True)
        ],
        ignore_index=True,
    )
    in_edges = Groups(*[long[long["train"] == t] for t in (1, 0)])
    reason = _why_untestable(table, layer, precision_deg, in_edges, min_units)
    shared = sorted(set(data[0]["bin"]) & set(data[1]["bin"]))
    if not reason and len(shared) < 2:
        reason = f"fewer than 2 |PO - TO| bins hold units of both groups ({len(shared)})"
    if reason:
        return _untestable(name, test, layer, precision_deg, reason, in_edges, summary, alpha)
    rows = []
    for b in range(e.size - 1):
        t = data[0]["slope"][data[0]["bin"] == b].to_numpy()
        n = data[1]["slope"][data[1]["bin"] == b].to_numpy()
        u, p = _mwu(t, n, alternative) if (t.size >= 2 and n.size >= 2) else (math.nan, math.nan)
        mt = float(t.mean()) if t.size else math.nan
        mn = float(n.mean()) if n.size else math.nan
        rows.append(
            dict(
                bin=b,
                lo=e[b],
                hi=e[b + 1],
                n_trained=t.size,
                n_naive=n.size,
                mean_trained=mt,
                mean_naive=mn,
                diff=mt - mn,
                U=u,
                p=p,
                alpha_bin=alpha / m,
                significant=bool(p < alpha / m),
            )
        )
    sub = long[long["bin"].isin(shared)]
    fit = smf.ols("slope ~ C(bin) * C(train)", data=sub).fit()
    aov = anova_lm(fit, typ=2)
    inter = aov.loc["C(bin):C(train)"]
    return Comparison(
        name=name,
        test=test,
        layer=layer,
        precision_deg=float(precision_deg),
        statistic=float(inter["F"]),
        p=float(inter["PR(>F)"]),
        df=(float(inter["df"]), float(fit.df_resid)),
        n_trained=int((sub["train"] == 1).sum()),
        n_naive=int((sub["train"] == 0).sum()),
        summary=summary,
        tests=pd.DataFrame(rows),
        alpha=alpha,
    )


def _bin_centres(e: np.ndarray) -> np.ndarray:
    return 0.5 * (e[:-1] + e[1:])


def schoups_slope(table, precision_deg=HIGH_PRECISION_DEG, layer="norm2", **kwargs) -> Comparison:
    """Fig. 6C: layer 2 slope by |PO - TO| (edges `SCHOUPS_EDGES`, per-bin alpha / 8)."""
    kwargs.setdefault("bonferroni_m", 8)
    return slope_by_po(
        table, layer, precision_deg, edges=SCHOUPS_EDGES, name="fig6c_slope", **kwargs
    )


def raiguel_slope(table, precision_deg=HIGH_PRECISION_DEG, layer="conv5", **kwargs) -> Comparison:
    """Fig. 8B: layer 5 slope by |PO - TO| on common units (edges `RAIGUEL_EDGES`, alpha / 6)."""
    kwargs.setdefault("common", True)
    return slope_by_po(
        table, layer, precision_deg, edges=RAIGUEL_EDGES, name="fig8b_slope", **kwargs
    )


# --------------------------------------------------------------------------------------------
# Figs. 6E and 8D: preferred-orientation distributions
# --------------------------------------------------------------------------------------------


def _po_histograms(groups: Groups, bins: int) -> pd.DataFrame:
    e = np.linspace(-90.0, 90.0, bins + 1)
    rows = []
    for label, g in (("trained", groups.trained), ("naive", groups.naive)):
        po = g["po_rel_deg"].to_numpy(float)
        counts, _ = np.histogram(po[np.isfinite(po)], bins=e)
        total = max(int(counts.sum()), 1)
        for b in range(bins):
            rows.append(
                dict(
                    group=label,
                    bin=b,
                    lo=e[b],
                    hi=e[b + 1],
                    count=int(counts[b]),
                    fraction=counts[b] / total,
                    n=int(counts.sum()),
                )
            )
    return pd.DataFrame(rows)


def po_distribution_ks(
    table: pd.DataFrame,
    layer: str = "norm2",
    precision_deg: float = HIGH_PRECISION_DEG,
    *,
    bins: int = SCHOUPS_PO_BINS,
    alpha: float = ALPHA,
    min_units: int = 5,
) -> Comparison:
    """Fig. 6E: two-sample K-S test of PO - TO, trained vs naive (``scipy.stats.ks_2samp``).

    Returns:
        `Comparison` with statistic D; ``summary`` holds the ``bins``-bin histograms over
        [-90, 90] deg (``group, bin, lo, hi, count, fraction, n``).
    """
    _check_columns(table, PAIRING_COLUMNS + ("po_rel_deg",), "table")
    alpha = check_alpha(alpha)
    min_units = _check_min_units(min_units)
    test = "two-sample K-S, PO - TO trained vs naive"
    groups = paired_groups(table, layer, precision_deg)
    summary = _po_histograms(groups, bins)
    reason = _why_untestable(table, layer, precision_deg, groups, min_units)
    if reason:
        return _untestable("fig6e_po", test, layer, precision_deg, reason, groups, summary, alpha)
    t = groups.trained["po_rel_deg"].to_numpy(float)
    n = groups.naive["po_rel_deg"].to_numpy(float)
    res = stats.ks_2samp(t, n)
    return Comparison(
        name="fig6e_po",
        test=test,
        layer=layer,
        precision_deg=float(precision_deg),
        statistic=float(res.statistic),
        p=float(res.pvalue),
        n_trained=t.size,
        n_naive=n.size,
        summary=summary,
        alpha=alpha,
    )


def po_uniformity_ks(
    table: pd.DataFrame,
    layer: str = "conv5",
    precision_deg: float = HIGH_PRECISION_DEG,
    *,
    bins: int = RAIGUEL_PO_BINS,
    alpha: float = ALPHA,
    min_units: int = 5,
) -> Comparison:
    """Fig. 8D: one-sample K-S test of the trained PO - TO against Uniform(-90, 90).

    Returns:
        `Comparison` with statistic D (``scipy.stats.kstest(po, "uniform", args=(-90, 180))``);
        ``effect`` = fraction of trained units in the centre histogram bin (containing TO) minus
        the uniform expectation 1 / bins (> 0: pile-up at TO); ``tests`` has the same K-S test
        for both groups; ``summary`` the histograms.
    """
    _check_columns(table, PAIRING_COLUMNS + ("po_rel_deg",), "table")
    alpha = check_alpha(alpha)
    min_units = _check_min_units(min_units)
    if bins < 2:
        raise InputError(f"bins must be >= 2, got {bins}")
    test = "one-sample K-S, trained PO - TO vs Uniform(-90, 90)"
    groups = paired_groups(table, layer, precision_deg)
    summary = _po_histograms(groups, bins)
    reason = _why_untestable(table, layer, precision_deg, groups, min_units)
    if reason:
        return _untestable("fig8d_po", test, layer, precision_deg, reason, groups, summary, alpha)
    rows = []
    for label, g in (("trained", groups.trained), ("naive", groups.naive)):
        r = stats.kstest(g["po_rel_deg"].to_numpy(float), "uniform", args=(-90.0, 180.0))
        rows.append(dict(group=label, D=float(r.statistic), p=float(r.pvalue), n=len(g)))
    centre = int(bin_index([0.0], np.linspace(-90.0, 90.0, bins + 1))[0])
    tr = summary[(summary["group"] == "trained") & (summary["bin"] == centre)]
    return Comparison(
        name="fig8d_po",
        test=test,
        layer=layer,
        precision_deg=float(precision_deg),
        statistic=rows[0]["D"],
        p=rows[0]["p"],
        n_trained=len(groups.trained),
        n_naive=len(groups.naive),
        effect=float(tr["fraction"].iloc[0]) - 1.0 / bins,
        summary=summary,
        tests=pd.DataFrame(rows),
        alpha=alpha,
    )


# --------------------------------------------------------------------------------------------
# Fig. 7: amplitude / variance ratio across signed PO bins (Ghose)
# --------------------------------------------------------------------------------------------

GHOSE_MEASURES = ("amplitude", "var_ratio")


def ghose_by_po(
    table: pd.DataFrame,
    measure: str = "amplitude",
    layer: str = "norm2",
    precision_deg: float = LOW_PRECISION_DEG,
    *,
    edges: Sequence[float | int] = GHOSE_EDGES,
    alpha: float = ALPHA,
    min_units: int = 5,
) -> Comparison:
    """Fig. 7B/D: one-way ANOVA of a trained-unit measure across signed PO - TO bins.

    The test is ``measure ~ C(bin)`` on the trained units (statsmodels OLS + ``anova_lm``, the
    same F as ``scipy.stats.f_oneway``). The naive bins are summarised for the figure only.

    Args:
        measure: ``"amplitude"`` (7B) or ``"var_ratio"`` (7D).
        layer: ``norm2`` or ``conv3`` in the paper.
        precision_deg: training separation (deg); the paper's Ghose match is 5.0.
        edges: signed PO - TO edges (deg), default 9 bins `GHOSE_EDGES`.

    Returns:
        `Comparison` with statistic F, df = (k - 1, n - k); ``summary`` = `bin_summary` rows of
        both groups; ``tests`` = the ANOVA table. ``effect`` = NaN.
    """
    if measure not in GHOSE_MEASURES:
        raise InputError(f"measure must be one of {GHOSE_MEASURES}, got {measure!r}")
    _check_columns(table, PAIRING_COLUMNS + ("po_rel_deg", measure), "table")
    e = _check_edges(edges)
    alpha = check_alpha(alpha)
    min_units = _check_min_units(min_units)
    name = f"fig7_{measure}"
    test = f"one-way ANOVA {measure} ~ C(bin), trained units"
    groups = paired_groups(table, layer, precision_deg)
    summary = pd.concat(
        [
            bin_summary(g[measure], g["po_rel_deg"], e, label)
            for label, g in (("trained", groups.trained), ("naive", groups.naive))
        ],
        ignore_index=True,
    )
    reason = _why_untestable(table, layer, precision_deg, groups, min_units)
    t = groups.trained
    b = bin_index(t["po_rel_deg"].to_numpy(float), e)
    v = t[measure].to_numpy(float)
    ok = (b >= 0) & np.isfinite(v)
    data = pd.DataFrame(dict(value=v[ok], bin=b[ok]))
    k = data["bin"].nunique()
    if not reason and (k < 2 or len(data) <= k):
        reason = f"trained units fill {k} PO bins with {len(data)} units (need >= 2 bins, n > k)"
    if reason:
        return _untestable(name, test, layer, precision_deg, reason, groups, summary, alpha)
    fit = smf.ols("value ~ C(bin)", data=data).fit()
    aov = anova_lm(fit)
    row = aov.loc["C(bin)"]
    return Comparison(
        name=name,
        test=test,
        layer=layer,
        precision_deg=float(precision_deg),
        statistic=float(row["F"]),
        p=float(row["PR(>F)"]),
        df=(float(row["df"]), float(fit.df_resid)),
        n_trained=len(data),
        n_naive=len(groups.naive),
        summary=summary,
        tests=aov,
        alpha=alpha,
    )


# --------------------------------------------------------------------------------------------
# Figs. 8F, 8H, 9B, 9D: distributions, trained vs naive (Mann-Whitney U)
# --------------------------------------------------------------------------------------------

MWU_MEASURES = ("si", "norm_var_po", "amplitude", "best_disc", "slope_to", "var_ratio", "fi_to")


def compare_measure(
    table: pd.DataFrame,
    measure: str,
    layer: str = "conv5",
    precision_deg: float = HIGH_PRECISION_DEG,
    *,
    alternative: str = "two-sided",
    common: bool = False,
    alpha: float = ALPHA,
    min_units: int = 5,
) -> Comparison:
    """Mann-Whitney U test of one attribute, trained vs naive (Figs. 8F, 8H, 9B, 9D).

    Non-finite values (e.g. ``best_disc`` = inf for a flat unit) are dropped from both groups.

    Args:
        measure: a column among `MWU_MEASURES` (8F ``si``, 8H ``norm_var_po``, 9B
            ``amplitude``, 9D ``best_disc`` with ``alternative="less"``).
        alternative: trained relative to naive (``scipy.stats.mannwhitneyu`` convention).

    Returns:
        `Comparison` with statistic U of the trained sample; ``effect`` = U / (n_t n_n) - 0.5
        (> 0: trained values tend to be larger); ``summary`` = one row per group: ``group, mean,
        sem, median, n``.
    """
    if measure not in MWU_MEASURES:
        raise InputError(f"measure must be one of {MWU_MEASURES}, got {measure!r}")
    _check_columns(table, PAIRING_COLUMNS + (measure,), "table")
    _check_alternative(alternative)
    alpha = check_alpha(alpha)
    min_units = _check_min_units(min_units)
    name = f"mwu_{measure}"
    test = f"Mann-Whitney U ({alternative}), {measure} trained vs naive"
    groups = paired_groups(table, layer, precision_deg, common=common)
    vals = []
    rows = []
    for label, g in (("trained", groups.trained), ("naive", groups.naive)):
        v = g[measure].to_numpy(float)
        v = v[np.isfinite(v)]
        vals.append(v)
        rows.append(
            dict(
                group=label,
                mean=float(v.mean()) if v.size else math.nan,
                sem=_sem(v),
                median=float(np.median(v)) if v.size else math.nan,
                n=v.size,
            )
        )
    summary = pd.DataFrame(rows)
    finite = Groups(*[pd.DataFrame(index=range(v.size)) for v in vals])
    reason = _why_untestable(table, layer, precision_deg, groups, min_units)
    if not reason and min(v.size for v in vals) < min_units:
        reason = f"too few finite {measure} values: {vals[0].size} trained, {vals[1].size} naive"
    if reason:
        return _untestable(name, test, layer, precision_deg, reason, finite, summary, alpha)
    u, p = _mwu(vals[0], vals[1], alternative)
    return Comparison(
        name=name,
        test=test,
        layer=layer,
        precision_deg=float(precision_deg),
        statistic=u,
        p=p,
        n_trained=vals[0].size,
        n_naive=vals[1].size,
        effect=u / (vals[0].size * vals[1].size) - 0.5,
        summary=summary,
        alpha=alpha,
    )


# --------------------------------------------------------------------------------------------
# Fig. 9F: tuning width from aligned, normalised curves
# --------------------------------------------------------------------------------------------


def align_curves(curves) -> np.ndarray:
    """Roll each tuning curve so its peak (PO) is at index ``O // 2``, then divide by its max.

    Args:
        curves: ``(N, O)`` smoothed mean tuning curves (network units, >= 0), on the grid
            ``linspace(-90, 90, O) + TO`` (the contract's ``unit_curves``).

    Returns:
        ``(N, O)`` aligned curves with value 1 at index ``O // 2``; rows whose max is <= 0 or
        not finite are NaN.

    Examples:
        >>> align_curves([[0.0, 1.0, 2.0, 4.0]]).tolist()
        [[0.25, 0.5, 1.0, 0.0]]
    """
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] < 3:
        raise InputError(f"curves must have shape (N, O) with O >= 3, got {c.shape}")
    centre = c.shape[1] // 2
    out = np.full_like(c, np.nan)
    for i, row in enumerate(c):
        mx = np.max(row) if row.size else math.nan
        if not (np.all(np.isfinite(row)) and mx > 0):
            continue
        out[i] = np.roll(row, centre - int(np.argmax(row))) / mx
    return out


def tuning_width(
    table: pd.DataFrame,
    curves,
    layer: str = "conv5",
    precision_deg: float = HIGH_PRECISION_DEG,
    *,
    alpha: float = ALPHA,
    min_units: int = 5,
) -> Comparison:
    """Fig. 9F: do aligned, normalised curves fall more in the non-preferred range?

    Curves are aligned with `align_curves`. The preferred range is the indices within ``O // 4``
    of the PO index ``O // 2`` (indices 25-75 for O = 100, about +-45 deg), the rest is
    non-preferred. The test is the interaction of the two-way ANOVA ``tuning ~ C(range) *
    C(train)`` over all (unit, orientation) values; each orientation also gets a one-sided MWU
    (trained < naive) judged at ``alpha / O``.

    Args:
        table: the contract's unit table.
        curves: ``(len(table), O)`` tuning curves aligned row for row with ``table``.

    Returns:
        `Comparison` with statistic = interaction F, df = (1, df_resid); ``effect`` = drop in
        the non-preferred range minus drop in the preferred range, drop = naive mean - trained
        mean (> 0: narrowing); ``summary`` = one row per orientation index: ``index,
        offset_deg, preferred, mean_trained, sem_trained, mean_naive, sem_naive, p,
        significant``; ``tests`` = the ANOVA table.
    """
    _check_columns(table, PAIRING_COLUMNS, "table")
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != len(table):
        raise InputError(
            f"curves must have shape (len(table), O) = ({len(table)}, O), got {c.shape}"
        )
    alpha = check_alpha(alpha)
    min_units = _check_min_units(min_units)
    test = "two-way ANOVA tuning ~ C(range)*C(train): interaction"
    t = table.reset_index(drop=True)
    groups = paired_groups(t, layer, precision_deg)
    o = c.shape[1]
    centre, half = o // 2, o // 4
    preferred = np.abs(np.arange(o) - centre) <= half
    offset = (np.arange(o) - centre) * 180.0 / (o - 1)
    aligned = []
    for g in groups:
        a = align_curves(c[g.index.to_numpy()]) if len(g) else np.zeros((0, o))
        aligned.append(a[np.all(np.isfinite(a), axis=1)])
    ta, na = aligned
    summ = pd.DataFrame(
        dict(
            index=np.arange(o),
            offset_deg=offset,
            preferred=preferred,
            mean_trained=ta.mean(axis=0) if len(ta) else np.full(o, np.nan),
            sem_trained=ta.std(axis=0, ddof=1) / np.sqrt(len(ta)) if len(ta) > 1 else np.nan,
            mean_naive=na.mean(axis=0) if len(na) else np.full(o, np.nan),
            sem_naive=na.std(axis=0, ddof=1) / np.sqrt(len(na)) if len(na) > 1 else np.nan,
        )
    )
    sizes = Groups(*[pd.DataFrame(index=range(len(a))) for a in aligned])
    reason = _why_untestable(t, layer, precision_deg, groups, min_units)
    if not reason and min(len(ta), len(na)) < min_units:
        reason = f"too few curves with a positive max: {len(ta)} trained, {len(na)} naive"
    if reason:
        summ["p"] = np.nan
        summ["significant"] = False
        return _untestable("fig9f_width", test, layer, precision_deg, reason, sizes, summ, alpha)
    ps = np.array([_mwu(ta[:, i], na[:, i], "less")[1] for i in range(o)])
    summ["p"] = ps
    summ["significant"] = ps < alpha / o
    long = pd.DataFrame(
        dict(
            tuning=np.concatenate([ta.ravel(), na.ravel()]),
            range=np.tile(np.where(preferred, "preferred", "non-preferred"), len(ta) + len(na)),
            train=np.repeat([1, 0], [ta.size, na.size]),
        )
    )
    fit = smf.ols("tuning ~ C(range) * C(train)", data=long).fit()
    aov = anova_lm(fit, typ=2)
    inter = aov.loc["C(range):C(train)"]
    drop = summ["mean_naive"] - summ["mean_trained"]
    effect = float(drop[~preferred].mean() - drop[preferred].mean())
    return Comparison(
        name="fig9f_width",
        test=test,
        layer=layer,
        precision_deg=float(precision_deg),
        statistic=float(inter["F"]),
        p=float(inter["PR(>F)"]),
        df=(float(inter["df"]), float(fit.df_resid)),
        n_trained=len(ta),
        n_naive=len(na),
        effect=effect,
        summary=summ,
        tests=aov,
        alpha=alpha,
    )


# --------------------------------------------------------------------------------------------
# Eq. 7 / Fig. 10: initial sensitivity vs learning
# --------------------------------------------------------------------------------------------

EQ7_FORMULA = (
    "d_rel1 ~ C(layer_index) + C(separation_deg) + fi + fi:C(layer_index) + fi:C(separation_deg)"
)
"""Eq. 7, ``d_rel1 ~ FI*C(layer) + FI*C(sep)``, written with the terms in the order used for the
sequential (type-1) variance partition: layer, separation, then the FI-related terms."""

FI_TERMS = ("fi", "fi:C(layer_index)", "fi:C(separation_deg)")
TERM_GROUPS = {
    "layer": ("C(layer_index)",),
    "separation": ("C(separation_deg)",),
    "fi": FI_TERMS,
}


@dataclasses.dataclass(frozen=True)
class SensitivityRegression:
    """Eq. 7 fitted at layer or unit level.

    Attributes:
        level: ``"layer"`` or ``"unit"``.
        n: number of rows fitted.
        r2: R^2 of the full model.
        params: OLS coefficients (patsy names, e.g. ``fi``, ``C(layer_index)[T.2]``).
        anova: type-2 ANOVA table (``sum_sq, df, F, PR(>F)`` per term), for the p values.
        shares: fraction of the total sum of squares per term group, from the sequential
            (type-1) sums of squares in the order layer, separation, FI terms:
            ``{"layer", "separation", "fi", "residual"}`` (sums to 1).
        p: type-2 p value per term (``C(layer_index)``, ``C(separation_deg)`` and `FI_TERMS`).
        testable, reason: as in `Comparison`.
    """

    level: str
    n: int = 0
    r2: float = math.nan
    params: pd.Series | None = None
    anova: pd.DataFrame | None = None
    shares: dict | None = None
    p: dict | None = None
    testable: bool = True
    reason: str = ""

    def __post_init__(self):
        if self.level not in ("layer", "unit"):
            raise InputError(f"level must be 'layer' or 'unit', got {self.level!r}")
        if self.testable == bool(self.reason):
            raise InputError("reason must be given exactly when the regression is not testable")


def initial_sensitivity_regression(table: pd.DataFrame, level: str = "layer"):
    """Fit Eq. 7, ``d_rel1 ~ FI*C(layer) + FI*C(sep)`` (statsmodels OLS).

    Args:
        table: layer level: columns `LAYER_COLUMNS` (one row per network and layer; ``fi`` =
            naive population FI at TO); unit level: `UNIT_LEVEL_COLUMNS` (one row per unit;
            ``fi`` = naive single-unit FI at TO). Rows with a non-finite value are dropped.
        level: ``"layer"`` or ``"unit"``.

    Returns:
        `SensitivityRegression`. Not testable with fewer than 2 layers or 2 separations, not
        more rows than coefficients, or a rank-deficient design (e.g. one reference orientation
        at layer level, where FI at TO does not vary with separation).

    References:
        Wenliang & Seitz (2018), Eq. 7:
        $d_{rel1} = \\beta_0 + \\beta_{FI} FI + \\sum_l (\\beta_l + \\beta_{l\\times FI} FI)
        + \\sum_s (\\beta_s + \\beta_{s \\times FI} FI)$.
    """
    if level not in ("layer", "unit"):
        raise InputError(f"level must be 'layer' or 'unit', got {level!r}")
    cols = LAYER_COLUMNS if level == "layer" else UNIT_LEVEL_COLUMNS
    _check_columns(table, cols, f"{level}-level table")
    d = table.loc[:, list(UNIT_LEVEL_COLUMNS)].astype(float)
    d = d[np.all(np.isfinite(d.to_numpy()), axis=1)]
    d["layer_index"] = d["layer_index"].astype(int)
    n_l, n_s = d["layer_index"].nunique(), d["separation_deg"].nunique()
    n_coef = 2 * (n_l + n_s) - 2
    if n_l < 2 or n_s < 2 or len(d) <= n_coef:
        return SensitivityRegression(
            level=level,
            n=len(d),
            testable=False,
            reason=f"{len(d)} rows, {n_l} layers, {n_s} separations "
            f"(need >= 2 each and more rows than the {n_coef} coefficients)",
        )
    model = smf.ols(EQ7_FORMULA, data=d)
    rank = int(np.linalg.matrix_rank(model.exog))
    if rank < model.exog.shape[1]:
        # e.g. one reference orientation: the naive FI at TO is then the same for every
        # separation, so FI x separation is collinear with FI x layer.
        return SensitivityRegression(
            level=level,
            n=len(d),
            testable=False,
            reason=f"the design is rank-deficient (rank {rank} < {model.exog.shape[1]} "
            "coefficients): FI does not vary independently of layer and separation",
        )
    fit = model.fit()
    seq = anova_lm(fit, typ=1)
    total = float(seq["sum_sq"].sum())
    shares = {
        g: float(seq.loc[list(terms), "sum_sq"].sum()) / total for g, terms in TERM_GROUPS.items()
    }
    shares["residual"] = float(seq.loc["Residual", "sum_sq"]) / total
    aov = anova_lm(fit, typ=2)
    p = {term: float(aov.loc[term, "PR(>F)"]) for g in TERM_GROUPS.values() for term in g}
    return SensitivityRegression(
        level=level,
        n=len(d),
        r2=float(fit.rsquared),
        params=fit.params,
        anova=aov,
        shares=shares,
        p=p,
    )


def rescale_per_group(table: pd.DataFrame) -> pd.DataFrame:
    """Divide ``d_rel1`` and ``fi`` by their maximum per (layer_index, separation_deg).

    Returns:
        A copy with added columns ``d_rel1_scaled`` and ``fi_scaled`` (in [0, 1] for
        non-negative inputs), as plotted in Fig. 10B.
    """
    _check_columns(table, UNIT_LEVEL_COLUMNS, "unit-level table")
    out = table.copy()
    keys = ["layer_index", "separation_deg"]
    for col in ("d_rel1", "fi"):
        mx = out.groupby(keys)[col].transform("max")
        out[f"{col}_scaled"] = out[col] / mx.where(mx > 0)
    return out


def unit_correlations(table: pd.DataFrame, *, alpha: float = ALPHA, min_units: int = 3):
    """Pearson r between naive unit FI and unit change per (layer, separation) (Fig. 10B).

    Args:
        table: unit-level table (`UNIT_LEVEL_COLUMNS`).
        alpha: family-wise level; each cell is judged at ``alpha / m`` with m the number of
            cells tested (25 for 5 layers x 5 separations).
        min_units: minimum finite rows (and non-constant values) for a cell to be tested.

    Returns:
        DataFrame with one row per (layer_index, separation_deg): ``n, r, p, p_bonferroni,
        significant`` (r, p NaN for untested cells).
    """
    _check_columns(table, UNIT_LEVEL_COLUMNS, "unit-level table")
    alpha = check_alpha(alpha)
    rows = []
    for (layer, sep), g in table.groupby(["layer_index", "separation_deg"], sort=True):
        x, y = g["fi"].to_numpy(float), g["d_rel1"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        if x.size >= min_units and np.ptp(x) > 0 and np.ptp(y) > 0:
            r, p = stats.pearsonr(x, y)
        else:
            r, p = math.nan, math.nan
        rows.append(
            dict(
                layer_index=int(layer), separation_deg=float(sep), n=x.size, r=float(r), p=float(p)
            )
        )
    out = pd.DataFrame(rows, columns=["layer_index", "separation_deg", "n", "r", "p"])
    m = int(np.isfinite(out["p"]).sum())
    out["p_bonferroni"] = np.minimum(out["p"] * max(m, 1), 1.0)
    out["significant"] = out["p"] < alpha / max(m, 1)
    return out


__all__ = [
    "ALPHA",
    "Comparison",
    "EQ7_FORMULA",
    "GHOSE_EDGES",
    "Groups",
    "LAYERS",
    "RAIGUEL_EDGES",
    "SCHOUPS_EDGES",
    "SensitivityRegression",
    "UNIT_COLUMNS",
    "align_curves",
    "bin_index",
    "bin_summary",
    "check_alpha",
    "compare_measure",
    "ghose_by_po",
    "initial_sensitivity_regression",
    "paired_groups",
    "po_distribution_ks",
    "po_uniformity_ks",
    "raiguel_slope",
    "rescale_per_group",
    "schoups_slope",
    "slope_by_po",
    "tuning_width",
    "unit_correlations",
    "validate_unit_table",
]
