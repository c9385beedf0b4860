"""Every verdict of the report: the paper's headline results measured on a run.

One row type (`Verdict`), one significance level (`vpl_jax.analysis.significance.ALPHA`), one way
of writing numbers. Each function takes what the analyses computed (the results Dataset, the
tuning tables) and returns `Verdict` rows for the headline results of Wenliang & Seitz (2018),
"Deep neural networks for modeling visual perceptual learning":

* items 1 (behaviour, Fig. 2): `behaviour_headlines`;
* items 2-3 (layer change and peak-speed iteration, Fig. 3): `plasticity_headlines`;
* item 4 (Fisher information, Fig. 4): `fisher_headlines`;
* item 5 (Experiment 2, Fig. 5): `experiment2_headlines`;
* items 6-10 (electrophysiology, Figs. 6-10, and Eq. 7): `physiology_headlines`.

A verdict is ``reproduced`` (the measured effect has the paper's direction and significance),
``not reproduced``, or ``not testable`` (the run lacks what the test needs, with the reason).
The rule of each item is stated in its row's ``note`` and in docs/analysis.md.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from vpl_jax.analysis import behaviour, plasticity, tuning_run
from vpl_jax.analysis import physiology as ph
from vpl_jax.analysis.significance import ALPHA, format_number, format_p

__all__ = [
    "VERDICTS",
    "Verdict",
    "behaviour_headlines",
    "experiment2_headlines",
    "fisher_headlines",
    "not_testable",
    "physiology_headlines",
    "plasticity_headlines",
    "verdict_row",
]

VERDICTS = ("reproduced", "not reproduced", "not testable")


class Verdict(NamedTuple):
    """One headline result: the claim, the paper's and the measured numbers, and the verdict.

    ``statistic`` and ``p`` are the deciding test's (NaN when the rule is descriptive).
    """

    item: str
    claim: str
    paper: str
    measured: str
    verdict: str
    note: str = ""
    statistic: float = math.nan
    p: float = math.nan


def verdict_row(item, claim, paper, verdict, measured, note="", statistic=math.nan, p=math.nan):
    """A `Verdict`, checking that ``verdict`` is one of `VERDICTS`."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    return Verdict(item, claim, paper, measured, verdict, note, statistic, p)


def not_testable(item, claim, paper, why) -> Verdict:
    """A ``not testable`` row whose measured column says why."""
    return Verdict(item, claim, paper, f"not testable: {why}", "not testable")


_fmt = format_number


def _entry(item, claim, paper, verdict, measured, note="") -> Verdict:
    return verdict_row(item, claim, paper, verdict, measured, note)


def _yes(ok: bool) -> str:
    return "reproduced" if ok else "not reproduced"


def _effect(item, claim, paper, r, sign: int, alpha: float, measured: str) -> Verdict:
    """Verdict of a one-term effect: reproduced iff sign(beta) == sign and p < alpha; the note
    says when the direction matches but the effect is not significant (small runs)."""
    same = bool(np.sign(r.beta) == sign)
    ok = same and r.p < alpha
    note = (
        "" if ok else ("same direction as the paper, p >= alpha" if same else "opposite direction")
    )
    return _entry(item, claim, paper, _yes(ok), measured, note)


def _term_text(r) -> str:
    return f"beta={_fmt(r.beta)}, t={_fmt(r.t)}, p={format_p(r.p)}, R2_term={_fmt(r.r2_term)}"


# --------------------------------------------------------------------------------------------
# Items 1-3 (behaviour and layer change), from the results Dataset


def behaviour_headlines(ds, *, alpha: float = ALPHA, symmetric: bool = True) -> list[Verdict]:
    """Item 1 (behaviour), measured on a results Dataset.

    Accuracies are the per-fold symmetrised ``max(m, 1 - m)`` of the paper's code
    (``accuracy_sym``) unless ``symmetric`` is False (plain mean p(correct)).

    Returns:
        `Verdict` rows.
    """
    out = []
    seps = np.unique(ds.separation_deg.values)
    acc_var = "accuracy_sym" if symmetric else "accuracy"
    sep_var = "separation_accuracy_sym" if symmetric else "separation_accuracy"

    # 1a: coarser separation -> higher iteration-1 accuracy.
    claim = "coarser training separation gives higher iteration-1 accuracy"
    paper = "Fig. 2A: initial accuracy rises with separation"
    if len(seps) < 2:
        out.append(_entry("1a", claim, paper, "not testable", "one separation in this run"))
    else:
        acc1 = ds[acc_var].sel(test="trained").isel(iteration=1)
        frame = pd.DataFrame(
            {"accuracy": acc1.values, "log_sep": np.log(ds.separation_deg.values.astype(float))}
        )
        r = behaviour.ols_table(frame, "accuracy ~ log_sep", ["log_sep"], alpha=alpha).iloc[0]
        if not r.testable:
            out.append(_entry("1a", claim, paper, "not testable", r.reason))
        else:
            out.append(
                _effect("1a", claim, paper, r, 1, alpha, "OLS acc@1 ~ log sep: " + _term_text(r))
            )

    # 1b: transfer index dips, then rises.
    claim = "the transfer index drops first, then rises slowly (every transfer test)"
    paper = "Fig. 2A bottom"
    ti = behaviour.transfer_index(ds, variable=acc_var).mean("condition")
    its = ds.iteration.values
    parts, oks = [], []
    for test in ti.test.values:
        curve = ti.sel(test=test).values[1:]  # from iteration 1 (only the readout moved)
        if len(curve) < 3 or not np.all(np.isfinite(curve)):
            continue
        k = int(np.argmin(curve))
        dip = curve[0] - curve[k]
        rise = curve[-1] - curve[k]
        oks.append(0 < k < len(curve) - 1 and dip > 0 and rise > 0)
        parts.append(
            f"{test}: TI {curve[0]:.3f} (it 1) -> min {curve[k]:.3f} (it {its[1 + k]}) "
            f"-> {curve[-1]:.3f} (it {its[-1]})"
        )
    if not parts:
        out.append(_entry("1b", claim, paper, "not testable", "too few evaluation points"))
    else:
        out.append(
            _entry(
                "1b",
                claim,
                paper,
                _yes(all(oks)),
                "; ".join(parts),
                "reproduced if the minimum of the mean TI lies strictly inside the curve in every test",
            )
        )

    # 1c: final transfer accuracy rises with log separation.
    claim = "final transfer accuracy rises with log training separation (every transfer test)"
    paper = "Fig. 2B: p < 0.0001, R2 ~0.2 in all conditions"
    table = behaviour.final_transfer_regression(ds, variable=acc_var, alpha=alpha)
    if not table.testable.all():
        out.append(_entry("1c", claim, paper, "not testable", table.reason.iloc[0]))
    else:
        ok = bool(((table.beta > 0) & (table.p < alpha)).all())
        measured = "; ".join(f"{r.test}: {_term_text(r)}" for r in table.itertuples())
        out.append(_entry("1c", claim, paper, _yes(ok), measured))

    # 1d: 5x5 matrices.
    table = behaviour.separation_regression(ds, variable=sep_var, alpha=alpha)
    for item, term, sign, claim, paper in (
        (
            "1d",
            "log_test_sep",
            1,
            "5x5 matrices: strong positive effect of log test separation",
            "Fig. 2C: p < 0.0001, R2 >= 0.35 in all conditions",
        ),
        (
            "1e",
            "log_train_sep",
            -1,
            "5x5 matrices: weaker negative effect of log training separation",
            "Fig. 2C: p < 0.0001, R2 ~0.05 (0.018 for ori+90)",
        ),
    ):
        rows = table[table.term == term]
        if rows.empty or not rows.testable.all():
            reason = "no rows" if rows.empty else rows.reason.iloc[0]
            out.append(_entry(item, claim, paper, "not testable", reason))
            continue
        ok = bool(((np.sign(rows.beta) == sign) & (rows.p < alpha)).all())
        measured = "; ".join(f"{r.test}: {_term_text(r)}" for r in rows.itertuples())
        out.append(_entry(item, claim, paper, _yes(ok), measured))

    # 1f: transfer to +45 exceeds +90.
    claim = "transfer to +45 deg exceeds transfer to +90 deg (final accuracy)"
    paper = "Fig. 2B/C"
    final = behaviour.final_accuracy(ds, variable=acc_var)
    a45 = final.sel(test="ori+45").values
    a90 = final.sel(test="ori+90").values
    if len(a45) < 2:
        out.append(_entry("1f", claim, paper, "not testable", "fewer than 2 conditions"))
    else:
        diff = a45 - a90
        if np.allclose(diff, 0):
            out.append(_entry("1f", claim, paper, "not reproduced", "no difference"))
        else:
            p = float(stats.wilcoxon(a45, a90, alternative="greater").pvalue)
            measured = (
                f"mean final accuracy ori+45 {a45.mean():.3f} vs ori+90 {a90.mean():.3f}; "
                f"one-sided Wilcoxon p={format_p(p)} (n={len(a45)})"
            )
            out.append(_entry("1f", claim, paper, _yes(p < alpha), measured))
    return out


def plasticity_headlines(ds, *, alpha: float = ALPHA) -> list[Verdict]:
    """Items 2-3 (layer change and peak-speed iteration), measured on a Dataset."""
    out = []
    reg = plasticity.final_change_regressions(ds, alpha=alpha)

    def terms(model):
        return reg[reg.model == model].set_index("term")

    log_model = terms("log_main_effects")
    claim = "larger change at finer precision and in lower layers (log d_rel1 ~ log sep + layer)"
    paper = "beta_logsep = -1.0 (R2 0.66), beta_layer = -0.15 (R2 0.13)"
    if log_model.empty or not log_model.testable.all():
        reason = "no rows" if log_model.empty else log_model.reason.iloc[0]
        out.append(_entry("2a", claim, paper, "not testable", reason))
    else:
        s, lay = log_model.loc["log_sep"], log_model.loc["layer"]
        ok = s.beta < 0 and s.p < alpha and lay.beta < 0 and lay.p < alpha
        measured = f"log sep: {_term_text(s)}; layer: {_term_text(lay)}"
        out.append(_entry("2a", claim, paper, _yes(ok), measured))

    lin = terms("linear_interaction")
    claim = "positive separation x layer interaction: plasticity moves to lower layers at high precision"
    paper = "beta = +0.00010, t = 49.23, p = 0.0"
    if lin.empty or "log_sep:layer" not in lin.index or not lin.testable.all():
        reason = "no rows" if lin.empty else lin.reason.iloc[0]
        out.append(_entry("2b", claim, paper, "not testable", reason))
    else:
        r = lin.loc["log_sep:layer"]
        out.append(_effect("2b", claim, paper, r, 1, alpha, _term_text(r)))

    claim = "relative to 10 deg, lower layers grow by a larger factor at the finest precision (except layer 5)"
    paper = "Fig. 3D"
    ratio = plasticity.ratio_to_separation(ds)
    finest = float(np.min(ds.separation_deg.values))
    if not ratio.attrs.get("testable", True) or finest >= 10.0:
        out.append(
            _entry(
                "2c",
                claim,
                paper,
                "not testable",
                ratio.attrs.get("reason") or "no separation finer than 10 deg",
            )
        )
    else:
        sel = ratio.where(ratio.separation_deg == finest, drop=True)
        layers = [f"conv{i}" for i in range(1, 5)]
        values = sel.sel(layer=layers).values  # (conditions, 4)
        ok_rows = np.isfinite(values).all(axis=1)
        if ok_rows.sum() < 1:
            out.append(_entry("2c", claim, paper, "not testable", "no finite ratios"))
        else:
            v = values[ok_rows]
            layer_idx = np.tile(np.arange(1, 5), (len(v), 1))
            tau, p = stats.kendalltau(layer_idx.ravel(), v.ravel())
            means = v.mean(axis=0)
            measured = (
                f"at {finest:g} deg, mean ratio to 10 deg for layers 1-4: "
                + ", ".join(f"{m:.2f}" for m in means)
                + f"; Kendall tau(layer, ratio) = {tau:.2f}, p={format_p(p)} (n={v.size})"
            )
            ok = tau < 0 and p < alpha
            out.append(
                _entry("2c", claim, paper, _yes(ok), measured, "reproduced if tau < 0 at p < alpha")
            )

    psi = plasticity.psi_regressions(ds, alpha=alpha)
    inter = psi[psi.model == "main_effects"].set_index("term")
    claim = "peak-speed iteration is later at finer precision"
    paper = "beta = -46.02 per log separation (with interaction), -37.24 (main effects), p = 0.0"
    if inter.empty or not inter.testable.all():
        reason = "no rows" if inter.empty else inter.reason.iloc[0]
        out.append(_entry("3a", claim, paper, "not testable", reason))
    else:
        r = inter.loc["log_sep"]
        out.append(_effect("3a", claim, paper, r, -1, alpha, "main effects: " + _term_text(r)))

    per = psi[psi.model == "per_separation"]
    claim = "layer has a negative effect on PSI (higher layers earlier) only at 0.5 and 1.0 deg"
    paper = "Fig. 3B: p < 0.0001 at 0.5 and 1.0 deg only"
    if per.empty or not per.testable.any():
        out.append(_entry("3b", claim, paper, "not testable", "no per-separation regressions"))
    else:
        parts, ok = [], True
        for r in per.itertuples():
            if not r.testable:
                parts.append(f"{r.separation:g} deg: not testable ({r.reason})")
                continue
            sig_neg = r.beta < 0 and r.p < alpha
            parts.append(f"{r.separation:g} deg: beta={_fmt(r.beta)}, p={format_p(r.p)}")
            ok &= sig_neg if r.separation <= 1.0 else not sig_neg
        out.append(_entry("3b", claim, paper, _yes(ok), "; ".join(parts)))
    return out


def experiment2_headlines() -> list[Verdict]:
    """Item 5: Experiment 2 (Gabor vs faces) is not part of an Experiment 1 run."""
    return [
        _entry(
            "5",
            "Gabor vs face: freezing from layer 2 impairs Gabor, from layer 4 faces; layer x task interaction",
            "Fig. 5",
            "not testable",
            "Experiment 2 (face morphs, frozen-layer runs) is not part of this run; the face "
            "images (Photoface) are restricted",
        )
    ]


# --------------------------------------------------------------------------------------------
# Item 4: Fisher information


def fisher_headlines(fisher: pd.DataFrame, *, alpha: float = ALPHA) -> list[Verdict]:
    """Item 4 (Fisher information, Fig. 4), from the long FI table of the tuning networks
    (`vpl_jax.analysis.tuning_run.RunTuning.fisher`)."""
    gains = tuning_run.fisher_gains(fisher)
    if gains.empty:
        why = (
            f"no test orientation of the tuning grid lies within +-{tuning_run.FI_WINDOW_DEG:g} "
            "deg of TO, or no trained network was recorded"
        )
        return [
            not_testable(
                "4a",
                "FI gain near TO is largest in the top layer at the finest precision",
                "Fig. 4",
                why,
            ),
            not_testable("4b", "layer 1 shows no FI change", "Fig. 4", why),
            not_testable(
                "4c", "at the finest precision the top layer's FI gain peaks near TO", "Fig. 4", why
            ),
        ]
    out = []
    seps = np.sort(gains.separation_deg.unique())
    table = ", ".join(
        f"L{r.layer_index}@{r.separation_deg:g}: x{np.exp(r.log_gain):.2f}"
        for r in gains.itertuples()
    )
    claim = "FI gain near TO is largest in the top layer at the finest precision"
    paper = "Fig. 4: largest rise in the highest layers at the finest precision"
    if len(seps) < 2 or gains.layer_index.nunique() < 5:
        out.append(_entry("4a", claim, paper, "not testable", "needs 2+ separations and 5 layers"))
    else:
        g = gains.set_index(["layer_index", "separation_deg"]).log_gain
        finest, coarsest = seps[0], seps[-1]
        ok = g.loc[(5, finest)] > g.loc[(5, coarsest)] and g.loc[(5, finest)] > g.loc[(1, finest)]
        out.append(
            _entry(
                "4a",
                claim,
                paper,
                "reproduced" if ok else "not reproduced",
                f"geometric-mean FI gain within +-{tuning_run.FI_WINDOW_DEG:g} deg of TO: {table}",
                "reproduced if layer 5's gain at the finest separation exceeds its gain at the "
                "coarsest and layer 1's gain at the finest",
            )
        )
    claim = "layer 1 shows no FI change"
    paper = "Fig. 4: no visible FI change in layer 1"
    l1 = gains[gains.layer_index == 1]
    cells = max(len(gains), 1)
    if l1.empty or l1.p.isna().all():
        out.append(_entry("4b", claim, paper, "not testable", "too few layer-1 networks"))
    else:
        sig = bool((l1.p < alpha / cells).any())
        out.append(
            _entry(
                "4b",
                claim,
                paper,
                "not reproduced" if sig else "reproduced",
                "; ".join(f"{r.separation_deg:g} deg: p={format_p(r.p)}" for r in l1.itertuples()),
                f"one-sided MWU trained > naive at alpha / {cells} (Bonferroni over cells)",
            )
        )
    claim = "at the finest precision the top layer's FI gain peaks near TO"
    paper = "Fig. 4: peak at TO, falls off by ~+-20 deg"
    top = fisher[fisher.layer_index == 5]
    if len(seps) < 1 or top.empty:
        out.append(_entry("4c", claim, paper, "not testable", "no layer-5 FI"))
    else:
        finest = seps[0]
        tr = top[top.trained & np.isclose(top.separation_deg, finest)]
        nv = top[~top.trained]
        merged = tr.merge(nv, on=["reference_deg", "orientation_rel_deg"], suffixes=("_t", "_n"))
        merged["log_gain"] = np.log(merged.fi_t / merged.fi_n)
        near_gains = merged[np.abs(merged.orientation_rel_deg) <= tuning_run.FI_WINDOW_DEG].log_gain
        far_gains = merged[np.abs(merged.orientation_rel_deg) >= 45].log_gain
        near, far = near_gains.mean(), far_gains.mean()
        # A peak is a gain (> 0 near TO) that is larger near TO than far from it (one-sided MWU).
        p = float(stats.mannwhitneyu(near_gains, far_gains, alternative="greater").pvalue)
        ok = bool(near > 0 and near > far and p < alpha)
        out.append(
            _entry(
                "4c",
                claim,
                paper,
                "reproduced" if ok else "not reproduced",
                f"layer 5 at {finest:g} deg: mean log gain {near:.3f} within +-{tuning_run.FI_WINDOW_DEG:g} deg "
                f"vs {far:.3f} beyond +-45 deg; one-sided MWU p={format_p(p)} (reproduced if the "
                "gain near TO is positive and larger than far from TO at p < alpha)",
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Items 6-10: electrophysiology comparisons and Eq. 7, from the unit and Eq. 7 tables


def _verdict(testable: bool, ok: bool) -> str:
    if not testable:
        return "not testable"
    return "reproduced" if ok else "not reproduced"


def _blank(item, claim, paper, why):
    return Verdict(
        item=item,
        claim=claim,
        measured=f"not testable: {why}",
        paper=paper,
        verdict="not testable",
        note="",
        statistic=math.nan,
        p=math.nan,
    )


def _comparison_entry(item, claim, paper, comparison, ok, measured, note=""):
    testable = comparison is None or comparison.testable
    if comparison is not None and not comparison.testable:
        measured = f"not testable: {comparison.reason}"
    return Verdict(
        item=item,
        claim=claim,
        measured=measured,
        paper=paper,
        verdict=_verdict(testable, ok),
        note=note,
        statistic=math.nan if comparison is None else comparison.statistic,
        p=math.nan if comparison is None else comparison.p,
    )


def _effect_entry(item, claim, paper, c: ph.Comparison, direction_ok: bool, alpha, note=""):
    measured = f"{c.test}: stat={c.statistic:.3g}, p={format_p(c.p)}, effect={c.effect:.3g}, n={c.n_trained}/{c.n_naive}"
    ok = c.testable and c.p < alpha and direction_ok
    return _comparison_entry(
        item, claim, paper, c, ok, measured, note or "effect claim: p < alpha and direction"
    )


def _null_entry(item, claim, paper, c: ph.Comparison, alpha, note=""):
    measured = f"{c.test}: stat={c.statistic:.3g}, p={format_p(c.p)}, n={c.n_trained}/{c.n_naive}"
    ok = c.testable and c.p >= alpha
    return _comparison_entry(item, claim, paper, c, ok, measured, note or "null claim: p >= alpha")


def physiology_headlines(
    table: pd.DataFrame,
    *,
    curves=None,
    layer_table: pd.DataFrame | None = None,
    unit_level_table: pd.DataFrame | None = None,
    high_deg: float = ph.HIGH_PRECISION_DEG,
    low_deg: float = ph.LOW_PRECISION_DEG,
    alpha: float = ALPHA,
    min_units: int = 5,
) -> list[Verdict]:
    """The paper's headline results, section 8 items 6-10, measured on ``table``.

    Verdict rule (explicit and simple, at the paper's alpha = 0.01):

    * an *effect* claim ("X increases") is ``"reproduced"`` iff the test's p < alpha **and** the
      measured direction matches the paper's;
    * a *null* claim ("no difference") is ``"reproduced"`` iff p >= alpha (the paper's own p
      value, e.g. p > 0.9, is reported but not required);
    * ``"not testable"`` when the comparison is not testable (missing layer, precision, units,
      curves or tables), with the reason in ``measured``.

    Args:
        table: the contract's unit table.
        curves: ``(len(table), O)`` tuning curves for Fig. 9F (item 9b), or None.
        layer_table, unit_level_table: Eq. 7 tables (item 10), or None.
        high_deg, low_deg: the high and low training precisions (deg).
        alpha: significance level.
        min_units: minimum units per group.

    Returns:
        `Verdict` rows.
    """
    ph.validate_unit_table(table)
    alpha = ph.check_alpha(alpha)
    kw = dict(alpha=alpha, min_units=min_units)
    out = []

    # Item 6: layer 2 (Schoups).
    for item, prec, effect in (("6a", high_deg, True), ("6b", low_deg, False)):
        c = ph.schoups_slope(table, prec, **kw)
        ok, measured = False, ""
        if c.testable:
            near = c.tests[(c.tests["lo"] >= 12.0) & (c.tests["hi"] <= 28.0)]
            hit = near["significant"] & (near["diff"] > 0)
            ok = bool(hit.any()) if effect else not bool(hit.any())
            measured = (
                "; ".join(
                    f"|PO-TO| {r.lo:g}-{r.hi:g} deg: diff={r.diff:.3g}, p={format_p(r.p)}"
                    for r in near.itertuples()
                )
                + f"; interaction F={c.statistic:.3g}, p={format_p(c.p)}"
            )
        claim = (
            f"layer 2 at {prec:g} deg: units tuned ~20 deg from TO "
            + ("increase" if effect else "do not increase")
            + " their normalised slope at TO"
        )
        note = "per-bin MWU (trained > naive mean) in the 12-20 or 20-28 deg bin at alpha / 8"
        out.append(
            _comparison_entry(
                item, claim, "increase at 1.0 deg only (Fig. 6C)", c, ok, measured, note
            )
        )
    for item, prec in (("6c", high_deg), ("6d", low_deg)):
        c = ph.po_distribution_ks(table, "norm2", prec, **kw)
        claim = f"layer 2 at {prec:g} deg: PO distribution unchanged by training"
        out.append(_null_entry(item, claim, "K-S p > 0.9 (Fig. 6E)", c, alpha))

    # Item 7: layers 2-3 (Ghose).
    for layer, lname in (("norm2", "layer 2"), ("conv3", "layer 3")):
        c = ph.ghose_by_po(table, "amplitude", layer, low_deg, **kw)
        claim = f"{lname} at {low_deg:g} deg: no effect of PO on tuning amplitude"
        out.append(_null_entry(f"7a-{lname[-1]}", claim, "p > 0.30 (Fig. 7B)", c, alpha))
    c = ph.ghose_by_po(table, "amplitude", "conv3", high_deg, **kw)
    claim = f"layer 3 at {high_deg:g} deg: PO affects tuning amplitude"
    out.append(
        _effect_entry(
            "7b",
            claim,
            "p < 0.0001, one-way ANOVA (Fig. 7B)",
            c,
            True,
            alpha,
            "effect claim: p < alpha",
        )
    )
    for layer, lname in (("norm2", "layer 2"), ("conv3", "layer 3")):
        for prec in (high_deg, low_deg):
            c = ph.ghose_by_po(table, "var_ratio", layer, prec, **kw)
            claim = f"{lname} at {prec:g} deg: no effect of PO on variance ratio"
            out.append(
                _null_entry(f"7c-{lname[-1]}-{prec:g}", claim, "p > 0.6 (Fig. 7D)", c, alpha)
            )

    # Item 8: layer 5 at both precisions.
    for prec in (high_deg, low_deg):
        c = ph.raiguel_slope(table, prec, **kw)
        up = bool(c.testable and c.tests["diff"].iloc[0] > 0)
        out.append(
            _effect_entry(
                f"8a-{prec:g}",
                f"layer 5 at {prec:g} deg: training x PO interaction on slope, increase near TO",
                "interaction p < 0.0002 (Fig. 8B)",
                c,
                up,
                alpha,
                "p < alpha for the interaction and trained > naive mean slope in the 0-8 deg bin",
            )
        )
        c = ph.po_uniformity_ks(table, "conv5", prec, **kw)
        out.append(
            _effect_entry(
                f"8b-{prec:g}",
                f"layer 5 at {prec:g} deg: trained PO non-uniform with a pile-up at TO",
                "K-S p < 0.003 (Fig. 8D)",
                c,
                c.effect > 0,
                alpha,
                "p < alpha and trained centre-bin fraction above uniform",
            )
        )
        for key, measure, alt, direction, paper, fig in (
            ("8c", "norm_var_po", "two-sided", -1, "p < 0.001", "8H"),
            ("8d", "amplitude", "two-sided", 1, "p < 0.0001", "9B"),
            ("8e", "best_disc", "less", -1, "p < 0.0005, one-sided", "9D"),
        ):
            c = ph.compare_measure(table, measure, "conv5", prec, alternative=alt, **kw)
            word = "increases" if direction > 0 else "decreases"
            out.append(
                _effect_entry(
                    f"{key}-{prec:g}",
                    f"layer 5 at {prec:g} deg: {measure} {word} with training",
                    f"{paper}, MWU (Fig. {fig})",
                    c,
                    c.effect * direction > 0,
                    alpha,
                )
            )

    # Item 9: layer 5 at 1 deg only.
    c = ph.compare_measure(table, "si", "conv5", high_deg, **kw)
    out.append(
        _effect_entry(
            "9a",
            f"layer 5 at {high_deg:g} deg: SI increases",
            "p < 0.0001, MWU (Fig. 8F)",
            c,
            c.effect > 0,
            alpha,
        )
    )
    c = ph.compare_measure(table, "si", "conv5", low_deg, **kw)
    out.append(
        _null_entry(
            "9a-low", f"layer 5 at {low_deg:g} deg: SI unchanged", "p > 0.10 (Fig. 8F)", c, alpha
        )
    )
    claim = f"layer 5 at {high_deg:g} deg: non-preferred responses fall more (tuning narrows)"
    paper = "interaction p < 0.0001, two-way ANOVA (Fig. 9F)"
    if curves is None:
        out.append(_blank("9b", claim, paper, "no tuning curves given"))
    else:
        c = ph.tuning_width(table, curves, "conv5", high_deg, **kw)
        out.append(_effect_entry("9b", claim, paper, c, c.effect > 0, alpha))

    # Item 10: Eq. 7.
    out.extend(_item10(layer_table, unit_level_table, alpha))
    return out


def _item10(layer_table, unit_level_table, alpha) -> list[Verdict]:
    out = []
    blank = _blank

    claim_a = "layer level: FI terms do not predict layer change"
    claim_b = "layer level: layer and separation are significant"
    paper_a = "all FI terms p > 0.1 (Fig. 10A)"
    paper_b = "p < 0.0001; 21% and 46% of variance (Fig. 10A)"
    if layer_table is None:
        out += [
            blank("10a", claim_a, paper_a, "no layer-level table"),
            blank("10b", claim_b, paper_b, "no layer-level table"),
        ]
    else:
        r = ph.initial_sensitivity_regression(layer_table, "layer")
        if not r.testable:
            out += [
                blank("10a", claim_a, paper_a, r.reason),
                blank("10b", claim_b, paper_b, r.reason),
            ]
        else:
            fi_p = min(r.p[t] for t in ph.FI_TERMS)
            out.append(
                Verdict(
                    item="10a",
                    claim=claim_a,
                    paper=paper_a,
                    measured=f"min FI-term p={format_p(fi_p)}; FI share={r.shares['fi']:.3f}",
                    verdict=_verdict(True, fi_p >= alpha),
                    note="null claim: all FI-term p >= alpha",
                    statistic=math.nan,
                    p=fi_p,
                )
            )
            pl, ps = r.p["C(layer_index)"], r.p["C(separation_deg)"]
            out.append(
                Verdict(
                    item="10b",
                    claim=claim_b,
                    paper=paper_b,
                    measured=f"layer p={format_p(pl)} ({100 * r.shares['layer']:.1f}%), "
                    f"separation p={format_p(ps)} ({100 * r.shares['separation']:.1f}%)",
                    verdict=_verdict(True, max(pl, ps) < alpha),
                    note="effect claim: both p < alpha; shares are reported, not judged",
                    statistic=math.nan,
                    p=max(pl, ps),
                )
            )
    claim_c = "unit level: all Eq. 7 effects significant"
    paper_c = "p < 0.0001; layer 2.6%, separation 12.4%, FI terms 1.1% (Fig. 10B)"
    claim_d = "unit level: correlations mostly positive, lowest in layer 3"
    paper_d = "mostly positive r; layer 3 lowest (Fig. 10B)"
    if unit_level_table is None:
        out += [
            blank("10c", claim_c, paper_c, "no unit-level table"),
            blank("10d", claim_d, paper_d, "no unit-level table"),
        ]
        return out
    r = ph.initial_sensitivity_regression(unit_level_table, "unit")
    if not r.testable:
        out.append(blank("10c", claim_c, paper_c, r.reason))
    else:
        pmax = max(r.p.values())
        out.append(
            Verdict(
                item="10c",
                claim=claim_c,
                paper=paper_c,
                measured=f"max term p={format_p(pmax)}; shares layer {100 * r.shares['layer']:.1f}%, "
                f"separation {100 * r.shares['separation']:.1f}%, FI {100 * r.shares['fi']:.1f}%",
                verdict=_verdict(True, pmax < alpha),
                note="effect claim: every term p < alpha",
                statistic=math.nan,
                p=pmax,
            )
        )
    corr = ph.unit_correlations(unit_level_table, alpha=alpha)
    tested = corr[np.isfinite(corr["r"])]
    if len(tested) == 0:
        out.append(
            blank("10d", claim_d, paper_d, "no (layer, separation) cell could be correlated")
        )
        return out
    frac_pos = float((tested["r"] > 0).mean())
    by_layer = tested.groupby("layer_index")["r"].mean()
    lowest = int(by_layer.idxmin())
    ok = frac_pos > 0.5 and lowest == 3
    out.append(
        Verdict(
            item="10d",
            claim=claim_d,
            paper=paper_d,
            measured=f"{100 * frac_pos:.0f}% of {len(tested)} cells r > 0; "
            f"{int(tested['significant'].sum())} significant at alpha/{len(tested)}; "
            f"lowest mean r in layer {lowest}",
            verdict=_verdict(3 in by_layer.index, ok),
            note="descriptive: > 50% of cells r > 0 and layer 3 has the lowest mean r",
            statistic=math.nan,
            p=math.nan,
        )
    )
    return out
