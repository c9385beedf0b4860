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

A verdict is ``reproduced``, ``not reproduced`` or ``not testable`` (the run cannot answer, with
the reason). The rules, one per row, are in docs/analysis.md; in short:

* **Metric.** Accuracy is the paper's mean p(correct) of the correct label (its Eq. 1, the
  ``accuracy`` variable); the authors' per-fold symmetrised ``max(m, 1 - m)`` (``accuracy_sym``)
  is a named variant (``symmetric=True``).
* **Learning gate** (`learning_gate`). A claim about networks trained at a separation is tested
  only on networks that learned: the networks of a separation learned when their mean final
  accuracy on the trained test is at least `LEARNED_ACCURACY` and above chance (one-sided
  binomial test over the pooled test pairs, p < alpha). Otherwise the row says "not testable:
  the X deg networks did not learn (accuracy ...)"; regressions over separations use the
  separations that learned.
* **Effect claims** are reproduced when the test has the paper's direction and p < alpha; a test
  whose smallest attainable p (rank tests with few samples) is above alpha makes the row not
  testable.
* **Null claims** ("no change") are reproduced only when an equivalence test supports no effect
  within a stated margin (`NULL_MARGINS`): TOST, an equivalence F test on eta^2, or a confidence
  bound of the K-S distance. A significant effect makes them not reproduced; anything else is
  not testable ("too little power", with the interval).
* **Sizes.** Where the paper states R^2 or variance shares (items 1c, 1d, 1e, 2a, 10b, 10c) a
  row ``<item>-R2`` / ``<item>-shares`` compares ours with the paper's within a factor of
  `SIZE_FACTOR`, judged only where the effect itself is reproduced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from vpl_jax.analysis import behaviour, plasticity, tuning_run
from vpl_jax.analysis import experiment2 as e2
from vpl_jax.analysis import physiology as ph
from vpl_jax.analysis import stats as vstats
from vpl_jax.analysis.significance import ALPHA, format_number, format_p

__all__ = [
    "LEARNED_ACCURACY",
    "NULL_MARGINS",
    "PAPER_SIZES",
    "SIZE_FACTOR",
    "VERDICTS",
    "Margin",
    "Verdict",
    "anova_equivalence_p",
    "behaviour_headlines",
    "experiment2_headlines",
    "fisher_headlines",
    "gate_reason",
    "ks_distance_bound",
    "learned_separations",
    "learning_gate",
    "not_testable",
    "physiology_headlines",
    "plasticity_headlines",
    "t_to_criterion",
    "verdict_row",
]

VERDICTS = ("reproduced", "not reproduced", "not testable")
_R, _NR, _NT = VERDICTS

#: Final accuracy (mean p(correct) on the trained test) at which a separation counts as learned.
LEARNED_ACCURACY = 0.75

#: Our R^2 or variance share "matches" the paper's when within this factor of it.
SIZE_FACTOR = 2.0


class Margin(NamedTuple):
    """An equivalence margin: its ``value`` and ``why`` it is that (stated in the report)."""

    value: float
    why: str


#: Equivalence margins of the null claims (and of the null parts of mixed claims).
NULL_MARGINS: dict[str, Margin] = {
    "fi": Margin(
        math.log(1.25),
        "|mean log FI gain| < ln 1.25 (FI changes by less than 25 %; the paper prints no FI "
        "numbers: 'no visible change' in layer 1 against several-fold gains in layer 5)",
    ),
    "drop": Margin(
        0.02,
        "|mean accuracy drop| < 0.02 (2 percentage points of test accuracy; the paper prints "
        "its drops only as a figure)",
    ),
    "slope": Margin(
        0.5,
        "|trained - naive mean slope| < 0.5 naive SD (Cohen's medium effect, d = 0.5; the paper "
        "prints no effect size, and with its ~50 layer-2 units per bin and group no smaller "
        "margin could be shown)",
    ),
    "ks": Margin(
        0.15,
        "K-S distance between the trained and naive PO distributions < 0.15 (at most 15 % of "
        "the units displaced anywhere in the cumulative distribution; the paper's p > 0.9 at "
        "about 1100 units per group implies D < 0.02)",
    ),
    "eta2": Margin(
        0.059,
        "eta^2 of PO bin < 0.059 (Cohen's medium effect, f = 0.25; the paper prints only p)",
    ),
    "si": Margin(
        0.3,
        "|trained - naive mean SI| < 0.3 naive SD (Cohen's d = 0.3; the paper prints only p)",
    ),
    "fi_terms": Margin(
        0.05,
        "partial eta^2 of the three FI terms < 0.05 (a quarter of the smaller share the paper "
        "finds significant at layer level, 21 %)",
    ),
}

#: The paper's R^2 and variance shares (fractions): item -> {what: (value, kind)}; kind "about"
#: (within a factor SIZE_FACTOR either way) or "at least" (at least value / SIZE_FACTOR).
PAPER_SIZES: dict[str, dict[str, tuple[float, str]]] = {
    "1c": {t: (0.2, "about") for t in behaviour.TRANSFER_TESTS},
    "1d": {t: (0.35, "at least") for t in behaviour.TRANSFER_TESTS},
    "1e": {
        "ori+45": (0.05, "about"),
        "ori+90": (0.018, "about"),
        "sf*0.5": (0.05, "about"),
        "sf*2": (0.05, "about"),
    },
    "2a": {"log sep": (0.66, "about"), "layer": (0.13, "about")},
    "10b": {"layer": (0.21, "about"), "separation": (0.46, "about")},
    "10c": {"layer": (0.026, "about"), "separation": (0.124, "about"), "fi": (0.011, "about")},
}


class Verdict(NamedTuple):
    """One headline result: the claim, the paper's and the measured numbers, and the verdict.

    ``statistic`` and ``p`` are the deciding test's (NaN when the rule is descriptive or
    combines several tests).
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
    return Verdict(item, claim, paper, measured, verdict, note, float(statistic), float(p))


def not_testable(item, claim, paper, why, note="") -> Verdict:
    """A ``not testable`` row whose measured column says why."""
    return Verdict(item, claim, paper, f"not testable: {why}", _NT, note)


_fmt = format_number


def _term_text(r) -> str:
    return f"beta={_fmt(r.beta)}, t={_fmt(r.t)}, p={format_p(r.p)}, R2_term={_fmt(r.r2_term)}"


def _seps_text(seps) -> str:
    return ", ".join(f"{float(s):g}" for s in seps) + " deg"


# --------------------------------------------------------------------------------------------
# Parts of a claim and how they combine


class _Part(NamedTuple):
    outcome: str
    text: str
    p: float = math.nan


def _combine(parts: Sequence[_Part]) -> str:
    """One failed part fails the claim; otherwise an untestable part leaves it untestable."""
    outcomes = [p.outcome for p in parts]
    if not outcomes:
        return _NT
    if _NR in outcomes:
        return _NR
    if _NT in outcomes:
        return _NT
    return _R


def _row(item, claim, paper, parts: Sequence[_Part], note="", statistic=math.nan) -> Verdict:
    p = parts[0].p if len(parts) == 1 else math.nan
    return verdict_row(
        item, claim, paper, _combine(parts), "; ".join(x.text for x in parts), note, statistic, p
    )


def _effect_part(
    label, *, p, direction_ok, alpha, text, testable=True, reason="", attainable=0.0
) -> _Part:
    """An effect: the paper's direction at p < alpha; not testable when the test cannot reach
    alpha (``attainable`` is its smallest possible p) or cannot be run."""
    if not testable:
        return _Part(_NT, f"{label}: not testable ({reason})")
    if attainable > alpha:
        return _Part(
            _NT,
            f"{label}: {text}; too few samples: the smallest attainable p is "
            f"{format_p(attainable)} > alpha {format_p(alpha)}",
            p,
        )
    if direction_ok and p < alpha:
        return _Part(_R, f"{label}: {text}", p)
    why = "same direction as the paper, p >= alpha" if direction_ok else "not the paper's direction"
    return _Part(_NR, f"{label}: {text} ({why})", p)


def _null_part(label, *, equivalent, significant, text, testable=True, reason="") -> _Part:
    """A null: equivalence shown -> reproduced; a significant effect -> not reproduced; else not
    testable (too little power)."""
    if not testable:
        return _Part(_NT, f"{label}: not testable ({reason})")
    if equivalent:
        return _Part(_R, f"{label}: {text}; equivalent within the margin")
    if significant:
        return _Part(_NR, f"{label}: {text}; a significant effect")
    return _Part(_NT, f"{label}: {text}; too little power to show equivalence")


def _tost_text(r: vstats.StatResult, unit: str = "") -> str:
    return (
        f"mean difference {_fmt(r.estimate)}{unit}, 98% CI [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}], "
        f"TOST p={format_p(r.p)}"
    )


# --------------------------------------------------------------------------------------------
# Equivalence statistics


def ks_distance_bound(x, y, *, alpha: float = ALPHA) -> tuple[float, float]:
    r"""The K-S distance of two samples and a (1 - alpha) upper confidence bound on the distance
    between the populations they come from.

    By the triangle inequality :math:`D \le \hat D + \sup|\hat F - F| + \sup|\hat G - G|`, and by
    the Dvoretzky-Kiefer-Wolfowitz inequality (Massart's constant) each sup is below
    :math:`\sqrt{\ln(4/\alpha) / (2n)}` with probability at least :math:`1 - \alpha/2`.

    Returns:
        ``(D_observed, upper_bound)``.

    Examples:
        >>> d, bound = ks_distance_bound([0.0, 1.0, 2.0, 3.0], [0.5, 1.5, 2.5, 3.5])
        >>> float(d), round(float(bound), 3)
        (0.25, 1.981)
    """
    a = np.asarray(x, float)
    b = np.asarray(y, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 1 or b.size < 1:
        raise ValueError(f"both samples need finite values, got {a.size} and {b.size}")
    d = float(stats.ks_2samp(a, b).statistic)

    def eps(n):
        return math.sqrt(math.log(4.0 / alpha) / (2.0 * n))

    return d, d + eps(a.size) + eps(b.size)


def anova_equivalence_p(
    f_value: float, df1: int | float, df2: int | float, eta2_margin: float
) -> float:
    r"""p value of the equivalence F test :math:`H_0: \eta^2 \ge \eta^2_m` (small F supports
    :math:`\eta^2 < \eta^2_m`).

    :math:`p = P(F' \le F_{obs})` for :math:`F'` noncentral F with ``(df1, df2)`` degrees of
    freedom and noncentrality :math:`\lambda = f^2 N`, :math:`f^2 = \eta^2_m / (1 - \eta^2_m)`,
    :math:`N = df_1 + df_2 + 1` (Wellek 2010; Campbell & Lakens 2021). For a block of terms in a
    regression, :math:`\eta^2` is the block's partial eta squared.

    Examples:
        >>> anova_equivalence_p(0.5, 8, 2000, 0.059) < 1e-6, anova_equivalence_p(5.0, 8, 50, 0.059) > 0.5
        (True, True)
    """
    if not 0 < eta2_margin < 1:
        raise ValueError(f"eta2_margin must be in (0, 1), got {eta2_margin}")
    lam = eta2_margin / (1.0 - eta2_margin) * (df1 + df2 + 1.0)
    return float(stats.ncf.cdf(f_value, df1, df2, lam))


def _size_part(label, ours: float, paper: float, kind: str) -> _Part:
    lo = paper / SIZE_FACTOR
    hi = paper * SIZE_FACTOR if kind == "about" else math.inf
    ok = bool(np.isfinite(ours) and lo <= ours <= hi)
    band = f"[{_fmt(lo)}, {_fmt(hi)}]" if kind == "about" else f">= {_fmt(lo)}"
    return _Part(
        _R if ok else _NR, f"{label}: ours {_fmt(ours)} vs paper {_fmt(paper)} (band {band})"
    )


def _size_row(item, effect: Verdict, ours: dict[str, float]) -> Verdict:
    """``<item>-R2`` / ``<item>-shares``: our sizes within a factor of the paper's, judged only
    where the effect row is reproduced."""
    paper = PAPER_SIZES[item]
    suffix = "shares" if item.startswith("10") else "R2"
    claim = (
        f"size of {item}: R^2 / variance shares as in the paper (within a factor {SIZE_FACTOR:g})"
    )
    paper_text = ", ".join(f"{k}: {_fmt(v)}" for k, (v, _) in paper.items())
    note = (
        f"reproduced if every size lies within a factor {SIZE_FACTOR:g} of the paper's "
        "(at least half of it where the paper says '>=')"
    )
    if effect.verdict != _R:
        shown = (
            ", ".join(f"{k} {_fmt(v)}" for k, v in ours.items() if k in paper and np.isfinite(v))
            or "none"
        )
        return not_testable(
            f"{item}-{suffix}",
            claim,
            paper_text,
            f"the effect of {item} is {effect.verdict}, so its size is not compared (ours: "
            f"{shown})",
            note,
        )
    parts = [_size_part(k, ours.get(k, math.nan), v, kind) for k, (v, kind) in paper.items()]
    return _row(f"{item}-{suffix}", claim, paper_text, parts, note)


# --------------------------------------------------------------------------------------------
# The learning gate


def _test_pairs(ds) -> int | None:
    try:
        return int(json.loads(ds.attrs["config"])["train"]["test_pairs"])
    except (KeyError, TypeError, ValueError):
        return None


def learning_gate(
    ds, *, criterion: float = LEARNED_ACCURACY, alpha: float = ALPHA, n_trials: int | None = None
) -> pd.DataFrame:
    """Which training separations learned, under the paper's metric.

    The networks trained at a separation learned when the mean of their final accuracy on the
    trained test (``accuracy``, mean p(correct)) is at least ``criterion`` and above chance: a
    one-sided binomial test of 0.5 over the pooled test trials (``n_trials`` per network,
    default the run's ``test_pairs``; skipped when unknown), p < alpha.

    Args:
        ds: results Dataset (or a subset of its conditions).
        criterion: accuracy criterion (0.75).
        alpha: level of the binomial test.
        n_trials: test trials per network (default from ``ds.attrs["config"]``).

    Returns:
        One row per separation: ``separation_deg, n, mean_final, min_final, n_below`` (networks
        below the criterion), ``p_chance`` and ``learned``; ``attrs["criterion"]`` says the rule.
    """
    behaviour.check_dataset(ds, ["accuracy", "separation_deg"])
    n_trials = _test_pairs(ds) if n_trials is None else int(n_trials)
    final = ds["accuracy"].sel(test="trained").isel(iteration=-1).values.astype(float)
    seps = ds.separation_deg.values.astype(float)
    rows = []
    for s in np.unique(seps):
        a = final[(seps == s) & np.isfinite(final)]
        mean = float(a.mean()) if a.size else math.nan
        p = math.nan
        if n_trials and a.size:
            total = n_trials * a.size
            k = int(round(mean * total))
            p = float(stats.binomtest(k, total, 0.5, alternative="greater").pvalue)
        learned = bool(a.size and mean >= criterion and (not n_trials or p < alpha))
        rows.append(
            {
                "separation_deg": float(s),
                "n": int(a.size),
                "mean_final": mean,
                "min_final": float(a.min()) if a.size else math.nan,
                "n_below": int((a < criterion).sum()),
                "p_chance": p,
                "learned": learned,
            }
        )
    gate = pd.DataFrame(
        rows,
        columns=[
            "separation_deg",
            "n",
            "mean_final",
            "min_final",
            "n_below",
            "p_chance",
            "learned",
        ],
    )
    chance = (
        f" and above chance (one-sided binomial over {n_trials} test pairs per network, "
        f"p < {format_p(alpha)})"
        if n_trials
        else ""
    )
    gate.attrs["criterion"] = (
        "a separation learned when the mean final accuracy of its networks on the trained test "
        f"(mean p(correct), the paper's Eq. 1) is >= {criterion:g}{chance}"
    )
    return gate


def learned_separations(gate: pd.DataFrame | None, separations=None) -> list[float]:
    """The separations of ``gate`` that learned (all of ``separations`` when ``gate`` is None)."""
    if gate is None:
        return sorted(float(s) for s in np.unique(np.asarray(separations, float)))
    return sorted(float(s) for s in gate.separation_deg[gate.learned])


def gate_reason(gate: pd.DataFrame | None, separations) -> str:
    """ "" when every separation in ``separations`` learned, else "the X deg networks did not
    learn (final accuracy ...)"."""
    if gate is None:
        return ""
    table = gate.set_index("separation_deg")
    missing, bad = [], []
    for s in sorted(float(v) for v in np.atleast_1d(separations)):
        if s not in table.index or table.loc[s, "n"] == 0:
            missing.append(s)
        elif not table.loc[s, "learned"]:
            bad.append((s, f"{table.loc[s, 'mean_final']:.2f}"))
    reasons = []
    if missing:
        reasons.append(f"no network was trained at {_seps_text(missing)}")
    if bad:
        reasons.append(
            f"the {_seps_text([s for s, _ in bad])} networks did not learn (final accuracy "
            + ", ".join(a for _, a in bad)
            + f"; criterion {LEARNED_ACCURACY:g})"
        )
    return "; ".join(reasons)


def _restrict(ds, gate):
    """``ds`` on its learned separations, and the text saying which were left out."""
    seps = ds.separation_deg.values.astype(float)
    keep = learned_separations(gate, seps)
    dropped = sorted(set(np.unique(seps).tolist()) - set(keep))
    text = ""
    if dropped:
        text = f" [tested on the {_seps_text(keep)} networks; {gate_reason(gate, dropped)}]"
    return ds.isel(condition=np.flatnonzero(np.isin(seps, keep))), keep, text


def t_to_criterion(ds, *, criterion: float = LEARNED_ACCURACY, variable: str = "accuracy"):
    """First evaluation iteration at which each network's trained-test accuracy reaches
    ``criterion`` (inf if never): ``(condition,)`` float array."""
    acc = ds[variable].sel(test="trained").values.astype(float)  # (condition, iteration)
    its = ds.iteration.values.astype(float)
    hit = acc >= criterion
    first = np.where(hit.any(axis=1), its[np.argmax(hit, axis=1)], np.inf)
    return first


# --------------------------------------------------------------------------------------------
# Items 1-3 (behaviour and layer change), from the results Dataset


def _not_enough_separations(ds, gate, keep) -> str:
    seps = np.unique(ds.separation_deg.values.astype(float))
    if len(seps) < 2:
        return "one training separation in this run"
    return f"fewer than 2 training separations learned: {gate_reason(gate, seps)}"


def _kendall_attainable(x, alternative: str) -> float:
    x = np.asarray(x, float)
    y = x if alternative in ("greater", "two-sided") else -x
    return float(stats.kendalltau(x, y, alternative=alternative).pvalue)


def behaviour_headlines(
    ds, *, alpha: float = ALPHA, symmetric: bool = False, gate: pd.DataFrame | None = None
) -> list[Verdict]:
    """Item 1 (behaviour), measured on a results Dataset.

    Args:
        ds: results Dataset.
        alpha: significance level.
        symmetric: judge with the authors' symmetrised ``accuracy_sym`` instead of the paper's
            mean p(correct) (``accuracy``, default). The learning gate always uses the paper's.
        gate: `learning_gate` (default: computed from ``ds``).

    Returns:
        `Verdict` rows 1a-1f and the size rows 1c-R2, 1d-R2, 1e-R2.
    """
    gate = learning_gate(ds, alpha=alpha) if gate is None else gate
    acc_var = "accuracy_sym" if symmetric else "accuracy"
    sep_var = "separation_accuracy_sym" if symmetric else "separation_accuracy"
    metric = "symmetrised max(m, 1 - m)" if symmetric else "mean p(correct)"
    behaviour.check_dataset(ds, [acc_var, "separation_deg"])
    dl, keep, scope = _restrict(ds, gate)
    enough = len(keep) >= 2
    out = []

    # 1a: coarser separation -> higher iteration-1 accuracy and faster learning.
    claim = "coarser training separation gives higher iteration-1 accuracy and faster learning"
    paper = "Fig. 2A: initial accuracy and learning speed rise with separation"
    note = (
        f"reproduced if OLS acc@1 ~ ln sep has beta > 0 at p < alpha and the iteration to "
        f"{LEARNED_ACCURACY:g} accuracy falls with separation (one-sided Kendall tau < 0, "
        "p < alpha)"
    )
    if not enough:
        out.append(not_testable("1a", claim, paper, _not_enough_separations(ds, gate, keep), note))
    elif 1 not in [int(i) for i in ds.iteration.values]:
        out.append(not_testable("1a", claim, paper, "iteration 1 is not an evaluation point", note))
    else:
        acc1 = dl[acc_var].sel(test="trained").sel(iteration=1).values.astype(float)
        x = np.log(dl.separation_deg.values.astype(float))
        r = behaviour.ols_table(
            pd.DataFrame({"accuracy": acc1, "log_sep": x}), "accuracy ~ log_sep", ["log_sep"]
        ).iloc[0]
        parts = [
            _effect_part(
                "acc@1 ~ ln sep",
                p=r.p,
                direction_ok=bool(r.beta > 0),
                alpha=alpha,
                text=_term_text(r) if r.testable else "",
                testable=bool(r.testable),
                reason=r.reason,
            )
        ]
        t75 = t_to_criterion(dl, criterion=LEARNED_ACCURACY)
        y = np.where(np.isfinite(t75), t75, 2.0 * float(ds.iteration.values[-1]))
        if np.ptp(y) == 0:
            parts.append(
                _Part(
                    _NT,
                    f"speed: not testable (every network reached {LEARNED_ACCURACY:g} at the "
                    f"same evaluation iteration, {y[0]:g}: no ordering at this resolution)",
                )
            )
        else:
            tau, p = stats.kendalltau(x, y, alternative="less")
            parts.append(
                _effect_part(
                    "speed",
                    p=float(p),
                    direction_ok=bool(tau < 0),
                    alpha=alpha,
                    text=f"Kendall tau(ln sep, iteration to {LEARNED_ACCURACY:g}) = "
                    f"{_fmt(tau)}, p={format_p(p)} (n={len(y)})",
                    attainable=_kendall_attainable(x, "less"),
                )
            )
        row = _row("1a", claim, paper, parts, note)
        out.append(row._replace(measured=row.measured + scope))

    # 1b: transfer index dips, then rises, at every learned precision.
    out.append(_transfer_dip_rise(dl, keep, acc_var, alpha, ds, gate))

    # 1c: final transfer accuracy rises with log separation.
    claim = "final transfer accuracy rises with ln training separation (every transfer test)"
    paper = "Fig. 2B: p < 0.0001, R2 ~0.2 in all conditions"
    note = "reproduced if beta > 0 at p < alpha in every transfer test"
    if not enough:
        row = not_testable("1c", claim, paper, _not_enough_separations(ds, gate, keep), note)
        sizes = {}
    else:
        table = behaviour.final_transfer_regression(dl, variable=acc_var, alpha=alpha)
        parts = [
            _effect_part(
                r.test,
                p=r.p,
                direction_ok=bool(r.beta > 0),
                alpha=alpha,
                text=_term_text(r) if r.testable else "",
                testable=bool(r.testable),
                reason=r.reason,
            )
            for r in table.itertuples()
        ]
        row = _row("1c", claim, paper, parts, note)
        row = row._replace(measured=row.measured + scope)
        sizes = {r.test: r.r2_term for r in table.itertuples()}
    out += [row, _size_row("1c", row, sizes)]

    # 1d, 1e: 5 x 5 matrices.
    table = None
    if enough and sep_var in ds.data_vars:
        table = behaviour.separation_regression(dl, variable=sep_var, alpha=alpha)
    for item, term, sign, claim, paper in (
        (
            "1d",
            "log_test_sep",
            1,
            "5x5 matrices: strong positive effect of ln test separation",
            "Fig. 2C: p < 0.0001, R2 >= 0.35 in all conditions",
        ),
        (
            "1e",
            "log_train_sep",
            -1,
            "5x5 matrices: weaker negative effect of ln training separation",
            "Fig. 2C: p < 0.0001, R2 ~0.05 (0.018 for ori+90)",
        ),
    ):
        note = (
            f"reproduced if beta {'>' if sign > 0 else '<'} 0 at p < alpha in every transfer test"
        )
        if table is None:
            why = (
                _not_enough_separations(ds, gate, keep)
                if not enough
                else f"no {sep_var} in this run"
            )
            row = not_testable(item, claim, paper, why, note)
            sizes = {}
        else:
            rows = table[table.term == term]
            parts = [
                _effect_part(
                    r.test,
                    p=r.p,
                    direction_ok=bool(np.sign(r.beta) == sign),
                    alpha=alpha,
                    text=_term_text(r) if r.testable else "",
                    testable=bool(r.testable),
                    reason=r.reason,
                )
                for r in rows.itertuples()
            ]
            row = _row(item, claim, paper, parts, note)
            row = row._replace(measured=row.measured + scope)
            sizes = {r.test: r.r2_term for r in rows.itertuples()}
        out += [row, _size_row(item, row, sizes)]

    # 1f: transfer to +45 exceeds +90.
    claim = "transfer to +45 deg exceeds transfer to +90 deg (final accuracy)"
    paper = "Fig. 2B/C"
    note = "one-sided Wilcoxon signed-rank over the networks that learned, p < alpha"
    final = behaviour.final_accuracy(dl, variable=acc_var) if len(keep) else None
    if final is None or final.sizes["condition"] < 2:
        why = gate_reason(gate, ds.separation_deg.values) or "fewer than 2 networks"
        out.append(not_testable("1f", claim, paper, why, note))
    else:
        a45 = final.sel(test="ori+45").values.astype(float)
        a90 = final.sel(test="ori+90").values.astype(float)
        diff = a45 - a90
        nz = int(np.sum(diff != 0))
        text = (
            f"mean final accuracy ori+45 {_fmt(a45.mean())} vs ori+90 {_fmt(a90.mean())}"
            f" (n={len(a45)})"
        )
        if nz == 0:
            parts = [_Part(_NR, text + "; no difference")]
        else:
            p = float(stats.wilcoxon(a45, a90, alternative="greater").pvalue)
            parts = [
                _effect_part(
                    "Wilcoxon",
                    p=p,
                    direction_ok=bool(np.median(diff) > 0 or diff.mean() > 0),
                    alpha=alpha,
                    text=f"{text}; p={format_p(p)}",
                    attainable=vstats.min_p_wilcoxon(nz, "greater"),
                )
            ]
        row = _row("1f", claim, paper, parts, note)
        out.append(row._replace(measured=row.measured + scope))
    return [r._replace(note=(r.note + f"; metric: {metric}").lstrip("; ")) for r in out]


def _window_slopes(ti: np.ndarray, its: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per network least-squares slope of TI against ln(iteration) over ``mask``."""
    x = np.log(its[mask])
    y = ti[:, mask]
    xc = x - x.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / np.sum(xc * xc)


def _transfer_dip_rise(dl, keep, acc_var, alpha, ds, gate) -> Verdict:
    claim = "the transfer index drops first, then rises slowly (every transfer test and precision)"
    paper = "Fig. 2A bottom (nearly flat for ori+90 at 0.5 deg)"
    its = dl.iteration.values.astype(float)
    pos = its >= 1
    split = math.sqrt(float(its[-1])) if len(its) else math.nan
    early = pos & (its <= split)
    late = its >= split
    note = (
        f"per precision and test: slope of TI on ln(iteration) over iterations 1-{split:.0f} "
        f"< 0 and over {split:.0f}-{its[-1]:.0f} > 0 (one-sided t tests across networks, the "
        "larger p, Holm over the cells < alpha); ori+90 at 0.5 deg is left out (the paper: "
        "nearly flat)"
        if len(its)
        else ""
    )
    if not keep:
        return not_testable("1b", claim, paper, gate_reason(gate, ds.separation_deg.values), note)
    if early.sum() < 3 or late.sum() < 3:
        return not_testable(
            "1b", claim, paper, "fewer than 3 evaluation points in each half of training", note
        )
    ti = behaviour.transfer_index(dl, variable=acc_var)
    seps = dl.separation_deg.values.astype(float)
    cells, pvals = [], []
    for s in keep:
        for test in [str(t) for t in ti.test.values]:
            if test == "ori+90" and np.isclose(s, 0.5):
                continue
            curves = ti.sel(test=test).values[seps == s].astype(float)  # (n, iteration)
            curves = curves[np.all(np.isfinite(curves[:, pos]), axis=1)]
            if len(curves) < 2:
                continue
            down = _window_slopes(curves, its, early)
            up = _window_slopes(curves, its, late)
            p_down = _one_sided_t(down, "less")
            p_up = _one_sided_t(up, "greater")
            ok_dir = bool(down.mean() < 0 and up.mean() > 0)
            cells.append((s, test, down.mean(), up.mean(), ok_dir))
            pvals.append(max(p_down, p_up))
    if not cells:
        n_per = int(pd.Series(seps).value_counts().min()) if len(seps) else 0
        return not_testable(
            "1b",
            claim,
            paper,
            f"fewer than 2 networks per learned separation ({n_per}); the per-precision test "
            "needs >= 2",
            note,
        )
    _, p_adj = vstats.adjust_pvalues(np.clip(pvals, 0.0, 1.0), method="holm", alpha=alpha)
    holds = [c[4] and p < alpha for c, p in zip(cells, p_adj, strict=True)]
    failing = [
        f"{c[1]} at {c[0]:g} deg (slopes {_fmt(c[2])}, {_fmt(c[3])}; Holm p={format_p(p)})"
        for c, p, h in zip(cells, p_adj, holds, strict=True)
        if not h
    ]
    measured = f"{sum(holds)} of {len(cells)} (test, precision) cells drop then rise"
    if failing:
        measured += "; not: " + "; ".join(failing[:6]) + (" ..." if len(failing) > 6 else "")
    dropped = sorted(set(np.unique(ds.separation_deg.values.astype(float)).tolist()) - set(keep))
    if dropped:
        measured += f" [{gate_reason(gate, dropped)}]"
    return verdict_row("1b", claim, paper, _R if all(holds) else _NR, measured, note)


def _constant(v: np.ndarray) -> bool:
    """No spread beyond rounding (a t test would divide by ~0)."""
    return bool(np.ptp(v) <= 1e-12 * max(1.0, float(np.max(np.abs(v)))))


def _one_sided_t(values: np.ndarray, alternative: str) -> float:
    v = np.asarray(values, float)
    if _constant(v):
        good = v.mean() < 0 if alternative == "less" else v.mean() > 0
        return 0.0 if good else 1.0
    return float(stats.ttest_1samp(v, 0.0, alternative=alternative).pvalue)


def plasticity_headlines(
    ds, *, alpha: float = ALPHA, gate: pd.DataFrame | None = None
) -> list[Verdict]:
    """Items 2-3 (layer change and peak-speed iteration), on the separations that learned.

    Args:
        ds: results Dataset.
        alpha: significance level.
        gate: `learning_gate` (default: computed from ``ds``).

    Returns:
        `Verdict` rows 2a, 2a-R2, 2b, 2c, 3a, 3b.
    """
    gate = learning_gate(ds, alpha=alpha) if gate is None else gate
    dl, keep, scope = _restrict(ds, gate)
    enough = len(keep) >= 2
    why = "" if enough else _not_enough_separations(ds, gate, keep)
    out = []
    reg = plasticity.final_change_regressions(dl, alpha=alpha) if enough else None

    def terms(model):
        return reg[reg.model == model].set_index("term")

    claim = "larger change at finer precision and in lower layers (ln d_rel1 ~ ln sep + layer)"
    paper = "beta_logsep = -1.0 (R2 0.66), beta_layer = -0.15 (R2 0.13)"
    note = "reproduced if both betas < 0 at p < alpha"
    if not enough:
        row = not_testable("2a", claim, paper, why, note)
        sizes = {}
    else:
        t = terms("log_main_effects")
        parts = [
            _effect_part(
                name,
                p=t.loc[term].p,
                direction_ok=bool(t.loc[term].beta < 0),
                alpha=alpha,
                text=_term_text(t.loc[term]) if t.loc[term].testable else "",
                testable=bool(t.loc[term].testable),
                reason=t.loc[term].reason,
            )
            for name, term in (("ln sep", "log_sep"), ("layer", "layer"))
        ]
        row = _row("2a", claim, paper, parts, note)
        row = row._replace(measured=row.measured + scope)
        sizes = {"log sep": t.loc["log_sep"].r2_term, "layer": t.loc["layer"].r2_term}
    out += [row, _size_row("2a", row, sizes)]

    claim = "positive separation x layer interaction: plasticity moves to lower layers at high precision"
    paper = "beta = +0.00010, t = 49.23, p = 0.0"
    note = "reproduced if the ln sep:layer beta of d_rel1 ~ ln sep * layer is > 0 at p < alpha"
    if not enough:
        out.append(not_testable("2b", claim, paper, why, note))
    else:
        r = terms("linear_interaction").loc["log_sep:layer"]
        part = _effect_part(
            "ln sep:layer",
            p=r.p,
            direction_ok=bool(r.beta > 0),
            alpha=alpha,
            text=_term_text(r) if r.testable else "",
            testable=bool(r.testable),
            reason=r.reason,
        )
        row = _row("2b", claim, paper, [part], note)
        out.append(row._replace(measured=row.measured + scope))

    out.append(_ratio_item(ds, gate, alpha))
    out += _psi_items(ds, dl, keep, scope, gate, alpha)
    return out


def _ratio_item(ds, gate, alpha) -> Verdict:
    claim = "relative to 10 deg, lower layers grow by a larger factor at the finest precision (except layer 5)"
    paper = "Fig. 3D"
    note = (
        "Kendall tau(layer 1-4, ratio to 10 deg) < 0 at the run's finest separation, two-sided "
        "p < alpha"
    )
    seps = ds.separation_deg.values.astype(float)
    finest = float(np.min(seps))
    if finest >= 10.0 or not np.isclose(seps, 10.0).any():
        return not_testable(
            "2c", claim, paper, "no separation finer than 10 deg, or no 10 deg", note
        )
    why = gate_reason(gate, [finest, 10.0])
    if why:
        return not_testable("2c", claim, paper, why, note)
    ratio = plasticity.ratio_to_separation(ds)
    if not ratio.attrs.get("testable", True):
        return not_testable("2c", claim, paper, ratio.attrs.get("reason", ""), note)
    values = ratio.sel(layer=[f"conv{i}" for i in range(1, 5)]).values[np.isclose(seps, finest)]
    values = values[np.isfinite(values).all(axis=1)]
    if len(values) < 1:
        return not_testable("2c", claim, paper, "no finite ratios", note)
    layer_idx = np.tile(np.arange(1, 5), (len(values), 1)).ravel()
    tau, p = stats.kendalltau(layer_idx, values.ravel())
    means = values.mean(axis=0)
    text = (
        f"at {finest:g} deg, mean ratio to 10 deg for layers 1-4: "
        + ", ".join(_fmt(m) for m in means)
        + f"; Kendall tau = {_fmt(tau)}, p={format_p(p)} (n={values.size})"
    )
    part = _effect_part(
        "ratio",
        p=float(p),
        direction_ok=bool(tau < 0),
        alpha=alpha,
        text=text,
        attainable=_kendall_attainable(layer_idx, "two-sided"),
    )
    return _row("2c", claim, paper, [part], note, statistic=float(tau))


def _psi_items(ds, dl, keep, scope, gate, alpha) -> list[Verdict]:
    out = []
    enough = len(keep) >= 2
    claim = "peak-speed iteration is later at finer precision"
    paper = "beta = -46.02 per ln separation (with interaction), -37.24 (main effects), p = 0.0"
    note = "reproduced if beta_logsep of psi ~ ln sep + layer is < 0 at p < alpha"
    psi = plasticity.psi_regressions(dl, alpha=alpha) if len(keep) else None
    if not enough:
        out.append(not_testable("3a", claim, paper, _not_enough_separations(ds, gate, keep), note))
    else:
        r = psi[psi.model == "main_effects"].set_index("term").loc["log_sep"]
        part = _effect_part(
            "main effects",
            p=r.p,
            direction_ok=bool(r.beta < 0),
            alpha=alpha,
            text=_term_text(r) if r.testable else "",
            testable=bool(r.testable),
            reason=r.reason,
        )
        row = _row("3a", claim, paper, [part], note)
        out.append(row._replace(measured=row.measured + scope))

    claim = "layer has a negative effect on PSI (higher layers earlier) only at 0.5 and 1.0 deg"
    paper = "Fig. 3B: p < 0.0001 at 0.5 and 1.0 deg only"
    note = (
        "reproduced if psi ~ layer has beta < 0 at p < alpha at every learned separation <= 1 "
        "deg and is not significantly negative at the coarser ones (the 'only' part is the "
        "paper's own significance criterion, not an equivalence test)"
    )
    fine = [s for s in keep if s <= 1.0]
    if not fine:
        seps = np.unique(ds.separation_deg.values.astype(float))
        why = gate_reason(gate, [s for s in seps if s <= 1.0]) or "no separation <= 1 deg"
        out.append(not_testable("3b", claim, paper, why, note))
        return out
    per = psi[psi.model == "per_separation"]
    parts = []
    for r in per.itertuples():
        label = f"{r.separation:g} deg"
        if r.separation <= 1.0:
            parts.append(
                _effect_part(
                    label,
                    p=r.p,
                    direction_ok=bool(r.beta < 0),
                    alpha=alpha,
                    text=f"beta={_fmt(r.beta)}, p={format_p(r.p)}" if r.testable else "",
                    testable=bool(r.testable),
                    reason=r.reason,
                )
            )
        elif not r.testable:
            parts.append(_Part(_NT, f"{label}: not testable ({r.reason})"))
        else:
            sig_neg = bool(r.beta < 0 and r.p < alpha)
            parts.append(
                _Part(
                    _NR if sig_neg else _R,
                    f"{label}: beta={_fmt(r.beta)}, p={format_p(r.p)}"
                    + (" (significantly negative)" if sig_neg else ""),
                )
            )
    row = _row("3b", claim, paper, parts, note)
    out.append(row._replace(measured=row.measured + scope))
    return out


# --------------------------------------------------------------------------------------------
# Item 5: Experiment 2


_EXP2_CLAIMS = {
    "5a": (
        "Gabor: freezing from layer 2 impairs the task (not freezing layer 1 alone)",
        "Fig. 5A: significant drops from k = 2 (one-sample t, Bonferroni)",
    ),
    "5b": ("Gabor: the largest step of the drop is at layer 3", "Fig. 5A"),
    "5c": (
        "faces: impaired only when freezing layers 1-4 or more",
        "Fig. 5A: significant drops from k = 4 only",
    ),
    "5d": ("faces: the largest step of the drop is at layer 5", "Fig. 5A"),
    "5e": (
        "layer x task interaction in the change proportions (fully plastic and layer 1 frozen)",
        "Fig. 5B: two-way ANOVA p < 0.0001 in both",
    ),
    "5f": (
        "faces vs Gabor: more change in layers 4 and 5, less in layer 2 (both network conditions)",
        "Fig. 5B post hoc MWU, p < 0.01 Bonferroni over 5 or 4 layers",
    ),
    "5g": ("the fully plastic network exceeds 95 % test accuracy in every condition", "> 95 %"),
}


def experiment2_headlines(ds2=None, *, alpha: float = ALPHA) -> list[Verdict]:
    """Item 5 (Experiment 2, Gabor vs face with frozen layers), from an Experiment 2 Dataset.

    Args:
        ds2: the Dataset of `vpl_jax.analysis.experiment2` (or None: an Experiment 1 run, one
            ``not testable`` row).
        alpha: significance level.

    Returns:
        `Verdict` rows 5a-5g (one row ``5`` without data).
    """
    if ds2 is None:
        return [
            not_testable(
                "5",
                "Gabor vs face: freezing from layer 2 impairs Gabor, from layer 4 faces; "
                "layer x task interaction",
                "Fig. 5",
                "Experiment 2 (face morphs, frozen-layer runs) is not part of this run",
            )
        ]
    e2.validate_dataset(ds2)
    res = e2.analyze(ds2, alpha=alpha)
    gate = _exp2_gate(res)
    out = []
    for task, items, onset, step in (("gabor", ("5a", "5b"), 2, 3), ("face", ("5c", "5d"), 4, 5)):
        why = gate.get(task, f"the run has no {task} conditions")
        if why:
            out += [not_testable(i, *_EXP2_CLAIMS[i], why) for i in items]
            continue
        out.append(_onset_row(items[0], res, task, onset, alpha))
        out.append(_step_row(items[1], res, task, step, alpha))
    missing = [t for t in e2.TASKS if t not in gate]
    if missing:
        why = f"the run has no {' or '.join(missing)} conditions"
    else:
        why = "; ".join(gate[t] for t in e2.TASKS if gate[t])
    out += _proportion_rows(res, why, alpha)
    out.append(_full_accuracy_row(res))
    return out


def _exp2_gate(res) -> dict[str, str]:
    """task -> "" if its fully plastic networks learned, else why not (missing tasks absent)."""
    gate = {}
    for task in e2.TASKS:
        t95 = res.t95[res.t95.task == task]
        if t95.empty:
            continue
        mean = float(t95.final_accuracy.mean())
        reached = int(t95.reached.sum())
        if mean < LEARNED_ACCURACY or reached < 2:
            gate[task] = (
                f"the fully plastic {task} networks did not learn (mean final accuracy "
                f"{_fmt(mean)}, {reached} of {len(t95)} reached 95 %; criterion: mean >= "
                f"{LEARNED_ACCURACY:g} and >= 2 reaching 95 %)"
            )
        else:
            gate[task] = ""
    return gate


def _onset_row(item, res, task, onset, alpha) -> Verdict:
    drops = res.drops[(res.drops.task == task) & res.drops.reached.astype(bool)]
    pooled = res.drop_tests_pooled[res.drop_tests_pooled.task == task].set_index("frozen_layers")
    margin = NULL_MARGINS["drop"]
    parts = []
    for k in e2.FROZEN_LAYERS[1:]:
        if k not in pooled.index:
            continue
        r = pooled.loc[k]
        v = drops[drops.frozen_layers == k]["drop"].to_numpy(float)
        v = v[np.isfinite(v)]
        label = f"k={k}"
        if k >= onset:
            parts.append(
                _effect_part(
                    label,
                    p=float(r.p_bonferroni) if r.testable else math.nan,
                    direction_ok=bool(r["mean"] > 0),
                    alpha=alpha,
                    text=f"mean drop {_fmt(r['mean'])}, Bonferroni p={format_p(r.p_bonferroni)} "
                    f"(n={int(r.n)})",
                    testable=bool(r.testable),
                    reason=str(r.reason),
                )
            )
        elif v.size < 2:
            parts.append(_Part(_NT, f"{label}: not testable ({v.size} drops)"))
        else:
            tost = vstats.tost_one_sample(v, margin.value, alpha=alpha)
            parts.append(
                _null_part(
                    label,
                    equivalent=vstats.equivalent(tost, alpha),
                    significant=bool(r.testable and r.significant),
                    text=_tost_text(tost),
                )
            )
    claim, paper = _EXP2_CLAIMS[item]
    note = (
        f"drops at t95 pooled over dissimilarities: k >= {onset} significant (one-sample t, "
        f"Bonferroni over 5, p < alpha), k < {onset} equivalent to 0 (TOST, margin: "
        f"{margin.why})"
    )
    return _row(item, claim, paper, parts, note)


def _step_row(item, res, task, step, alpha) -> Verdict:
    claim, paper = _EXP2_CLAIMS[item]
    note = (
        f"reproduced if the largest mean increment of the drop is at k = {step} and larger than "
        "the runner-up (paired t, p < alpha)"
    )
    summary = res.step_summary[res.step_summary.task == task]
    if summary.empty or not bool(summary.testable.iloc[0]):
        why = "no increments" if summary.empty else str(summary.reason.iloc[0])
        return not_testable(item, claim, paper, why, note)
    r = summary.iloc[0]
    text = (
        f"largest step at k={int(r.largest_step)} ({_fmt(r.largest_increment)}), runner-up "
        f"k={r.runner_up:g} ({_fmt(r.runner_up_increment)}), p={format_p(r.p_vs_runner_up)}"
    )
    if not np.isfinite(r.p_vs_runner_up):
        return not_testable(item, claim, paper, text + "; no paired test possible", note)
    part = _effect_part(
        "step",
        p=float(r.p_vs_runner_up),
        direction_ok=int(r.largest_step) == step,
        alpha=alpha,
        text=text,
    )
    return _row(item, claim, paper, [part], note)


def _proportion_rows(res, why, alpha) -> list[Verdict]:
    claim, paper = _EXP2_CLAIMS["5e"]
    note = "reproduced if the C(layer):C(task) interaction has p < alpha for k = 0 and k = 1"
    claim_f, paper_f = _EXP2_CLAIMS["5f"]
    note_f = (
        "post hoc MWU face vs Gabor, Bonferroni over the layers: face > Gabor in conv4 and "
        "conv5, face < Gabor in conv2, p < alpha, for k = 0 and k = 1"
    )
    if why or not res.anova:
        why = why or "no layer_change in the Experiment 2 Dataset"
        return [
            not_testable("5e", claim, paper, why, note),
            not_testable("5f", claim_f, paper_f, why, note_f),
        ]
    parts, parts_f = [], []
    for k in (0, 1):
        if k not in res.anova:
            parts.append(_Part(_NT, f"k={k}: no networks"))
            parts_f.append(_Part(_NT, f"k={k}: no networks"))
            continue
        a = res.anova[k].set_index("term").loc["C(layer):C(task)"]
        parts.append(
            _effect_part(
                f"k={k}",
                p=float(a.p),
                direction_ok=True,
                alpha=alpha,
                text=f"F={_fmt(a.F)}, p={format_p(a.p)}",
                testable=bool(a.testable),
                reason=str(a.reason),
            )
        )
        post = res.posthoc[k].set_index("layer")
        m = max(int(post.testable.sum()), 1)
        for layer, sign in (("conv2", -1), ("conv4", 1), ("conv5", 1)):
            if layer not in post.index:
                continue
            r = post.loc[layer]
            attainable = (
                _min_p_mwu(int(r.n_face), int(r.n_gabor)) * m
                if r.n_face >= 1 and r.n_gabor >= 1
                else 1.0
            )
            parts_f.append(
                _effect_part(
                    f"k={k} {layer}",
                    p=float(r.p_bonferroni),
                    direction_ok=bool(np.sign(r.difference) == sign),
                    alpha=alpha,
                    text=f"face - Gabor {_fmt(r.difference)}, Bonferroni p={format_p(r.p_bonferroni)}",
                    testable=bool(r.testable),
                    reason=str(r.reason),
                    attainable=min(attainable, 1.0),
                )
            )
    return [_row("5e", claim, paper, parts, note), _row("5f", claim_f, paper_f, parts_f, note_f)]


def _full_accuracy_row(res) -> Verdict:
    claim, paper = _EXP2_CLAIMS["5g"]
    note = "reproduced if every fully plastic network's final test accuracy is > 0.95"
    fa = res.full_accuracy
    if fa.empty:
        return not_testable("5g", claim, paper, "no fully plastic networks", note)
    parts = [
        _Part(
            _R if bool(r.all_above) else _NR,
            f"{r.task}: min {_fmt(r.min)}, mean {_fmt(r.mean)} (n={int(r.n)}, "
            f"{100 * r.fraction_above:.0f} % above 0.95)",
        )
        for r in fa.itertuples()
    ]
    return _row("5g", claim, paper, parts, note)


# --------------------------------------------------------------------------------------------
# Item 4: Fisher information


def _t_greater(a, b=None, *, paired=False) -> float:
    """One-sided t test p of a > b (Welch, or paired), or of a > 0; 0/1 for constant data."""
    a = np.asarray(a, float)
    if b is None:
        return _one_sided_t(a, "greater")
    b = np.asarray(b, float)
    if paired:
        return _one_sided_t(a - b, "greater")
    if _constant(a) and _constant(b):
        return 0.0 if a.mean() > b.mean() else 1.0
    return float(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)


def fisher_headlines(
    fisher: pd.DataFrame, *, alpha: float = ALPHA, gate: pd.DataFrame | None = None
) -> list[Verdict]:
    """Item 4 (Fisher information, Fig. 4), from the long FI table of the tuning networks
    (`vpl_jax.analysis.tuning_run.RunTuning.fisher`).

    Per-network gains (`vpl_jax.analysis.tuning_run.fisher_network_gains`): the log of the mean
    FI within +-10 deg of TO, trained over the naive network on the same reference.

    Args:
        fisher: the FI table.
        alpha: significance level.
        gate: `learning_gate` of the tuning networks (None: every separation counts as learned).

    Returns:
        `Verdict` rows 4a-4d.
    """
    net = tuning_run.fisher_network_gains(fisher)
    claims = {
        "4a": (
            "FI gain near TO is largest in the top layer at the finest precision",
            "Fig. 4: largest rise in the highest layers at the finest precision",
        ),
        "4b": ("layer 1 shows no FI change", "Fig. 4: no visible FI change in layer 1"),
        "4c": (
            "at the finest precision the top layer's FI gain peaks near TO",
            "Fig. 4: peak at TO, falls off by ~+-20 deg",
        ),
        "4d": (
            "low layers (2, 3) gain FI only at the finest precision",
            "Fig. 4: lower layers gain significantly only in the most precise tasks",
        ),
    }
    if net.empty:
        why = (
            f"no test orientation of the tuning grid lies within +-{tuning_run.FI_WINDOW_DEG:g} "
            "deg of TO, or no trained network was recorded"
        )
        return [not_testable(i, *claims[i], why) for i in claims]
    seps = sorted(float(s) for s in net.separation_deg.unique())
    finest, coarsest = seps[0], seps[-1]
    margin = NULL_MARGINS["fi"]

    def gains(layer, sep):
        g = net[(net.layer_index == layer) & np.isclose(net.separation_deg, sep)]
        return g.sort_values("reference_deg").log_gain.to_numpy(float)

    out = []
    # 4a
    note = (
        "layer 5's per-network log FI gain at the finest separation exceeds its gain at the "
        "coarsest (Welch t) and layer 1's gain in the same networks (paired t), one-sided, both "
        "p < alpha"
    )
    why = gate_reason(gate, [finest, coarsest])
    if len(seps) < 2 or net.layer_index.nunique() < 5:
        out.append(not_testable("4a", *claims["4a"], "needs 2+ separations and 5 layers", note))
    elif why:
        out.append(not_testable("4a", *claims["4a"], why, note))
    else:
        g5f, g5c, g1f = gains(5, finest), gains(5, coarsest), gains(1, finest)
        parts = []
        for label, a, b, paired in (
            (f"L5@{finest:g} > L5@{coarsest:g}", g5f, g5c, False),
            (f"L5@{finest:g} > L1@{finest:g}", g5f, g1f, True),
        ):
            if len(a) < 2 or len(b) < 2:
                parts.append(
                    _Part(_NT, f"{label}: not testable ({len(a)} and {len(b)} networks; need 2)")
                )
                continue
            p = _t_greater(a, b, paired=paired)
            parts.append(
                _effect_part(
                    label,
                    p=p,
                    direction_ok=bool(a.mean() > b.mean()),
                    alpha=alpha,
                    text=f"mean log gain {_fmt(a.mean())} vs {_fmt(b.mean())}, p={format_p(p)}",
                )
            )
        out.append(_row("4a", *claims["4a"], parts, note))

    # 4b
    note = f"TOST of layer 1's log FI gain at every learned separation (margin: {margin.why})"
    learned = [s for s in seps if not gate_reason(gate, [s])]
    if not learned:
        out.append(not_testable("4b", *claims["4b"], gate_reason(gate, seps), note))
    else:
        parts = []
        for s in learned:
            g = gains(1, s)
            label = f"{s:g} deg"
            if len(g) < 2:
                parts.append(_Part(_NT, f"{label}: not testable ({len(g)} network; need 2)"))
                continue
            tost = vstats.tost_one_sample(g, margin.value, alpha=alpha)
            sig = _two_sided_t(g) < alpha / len(learned)
            parts.append(
                _null_part(
                    label, equivalent=vstats.equivalent(tost, alpha), significant=sig,
                    text=_tost_text(tost),
                )
            )  # fmt: skip
        out.append(_row("4b", *claims["4b"], parts, note))

    # 4c
    note = (
        "layer 5 at the finest separation: mean log gain within +-10 deg of TO > 0 and larger "
        "than beyond +-45 deg (one-sided MWU over (network, orientation) values, p < alpha)"
    )
    top = fisher[fisher.layer_index == 5]
    why = gate_reason(gate, [finest])
    if top.empty:
        out.append(not_testable("4c", *claims["4c"], "no layer-5 FI", note))
    elif why:
        out.append(not_testable("4c", *claims["4c"], why, note))
    else:
        tr = top[top.trained & np.isclose(top.separation_deg, finest)]
        nv = top[~top.trained]
        merged = tr.merge(nv, on=["reference_deg", "orientation_rel_deg"], suffixes=("_t", "_n"))
        merged["log_gain"] = np.log(merged.fi_t / merged.fi_n)
        rel = np.abs(merged.orientation_rel_deg)
        near = merged[rel <= tuning_run.FI_WINDOW_DEG].log_gain.to_numpy(float)
        far = merged[rel >= 45].log_gain.to_numpy(float)
        if near.size < 1 or far.size < 1:
            out.append(
                not_testable("4c", *claims["4c"], "no orientations near or far from TO", note)
            )
        else:
            p = float(stats.mannwhitneyu(near, far, alternative="greater").pvalue)
            part = _effect_part(
                f"layer 5 at {finest:g} deg",
                p=p,
                direction_ok=bool(near.mean() > 0 and near.mean() > far.mean()),
                alpha=alpha,
                text=f"mean log gain {_fmt(near.mean())} within +-{tuning_run.FI_WINDOW_DEG:g} "
                f"deg vs {_fmt(far.mean())} beyond +-45 deg, p={format_p(p)}",
                attainable=_min_p_mwu(near.size, far.size, "greater"),
            )
            out.append(_row("4c", *claims["4c"], [part], note))

    # 4d
    note = (
        "layers 2 and 3: log FI gain > 0 at the finest separation (one-sided t, p < alpha) and "
        f"equivalent to 0 at the coarsest (TOST, margin: {margin.why})"
    )
    why = gate_reason(gate, [finest, coarsest])
    if len(seps) < 2:
        out.append(not_testable("4d", *claims["4d"], "needs 2+ separations", note))
    elif why:
        out.append(not_testable("4d", *claims["4d"], why, note))
    else:
        parts = []
        for layer in (2, 3):
            g, c = gains(layer, finest), gains(layer, coarsest)
            if len(g) < 2 or len(c) < 2:
                parts.append(
                    _Part(_NT, f"L{layer}: not testable ({len(g)}, {len(c)} networks; need 2)")
                )
                continue
            p = _t_greater(g)
            parts.append(
                _effect_part(
                    f"L{layer}@{finest:g}",
                    p=p,
                    direction_ok=bool(g.mean() > 0),
                    alpha=alpha,
                    text=f"mean log gain {_fmt(g.mean())}, p={format_p(p)}",
                )
            )
            tost = vstats.tost_one_sample(c, margin.value, alpha=alpha)
            parts.append(
                _null_part(
                    f"L{layer}@{coarsest:g}",
                    equivalent=vstats.equivalent(tost, alpha),
                    significant=_t_greater(c) < alpha,
                    text=_tost_text(tost),
                )
            )
        out.append(_row("4d", *claims["4d"], parts, note))
    return out


def _two_sided_t(v: np.ndarray) -> float:
    v = np.asarray(v, float)
    if _constant(v):
        return 1.0 if abs(v.mean()) <= 1e-12 else 0.0
    return float(stats.ttest_1samp(v, 0.0).pvalue)


# --------------------------------------------------------------------------------------------
# Items 6-10: electrophysiology comparisons and Eq. 7, from the unit and Eq. 7 tables


def _comparison_part(label, c: ph.Comparison, direction_ok, alpha, attainable=0.0) -> _Part:
    text = (
        f"{c.test}: stat={_fmt(c.statistic)}, p={format_p(c.p)}, effect={_fmt(c.effect)}, "
        f"n={c.n_trained}/{c.n_naive}"
        if c.testable
        else ""
    )
    return _effect_part(
        label,
        p=c.p,
        direction_ok=bool(direction_ok),
        alpha=alpha,
        text=text,
        testable=c.testable,
        reason=c.reason,
        attainable=attainable,
    )


def _min_p_mwu(n1: int, n2: int, alternative: str = "two-sided") -> float:
    """`vpl_jax.analysis.stats.min_p_mannwhitney`, 0 for samples too large to matter."""
    if n1 < 1 or n2 < 1:
        return 1.0
    if n1 + n2 > 200:
        return 0.0
    return vstats.min_p_mannwhitney(int(n1), int(n2), alternative)


def _mwu_attainable(c: ph.Comparison, alternative: str) -> float:
    if not c.testable:
        return 0.0
    return _min_p_mwu(int(c.n_trained), int(c.n_naive), alternative)


def _values(groups: ph.Groups, column: str, mask=None):
    out = []
    for g in groups:
        v = g[column].to_numpy(float)
        if mask is not None:
            v = v[mask(g)]
        out.append(v[np.isfinite(v)])
    return out


def _tost_welch_sd(t, n, margin_sd, alpha):
    """TOST Welch of mean(t) - mean(n) within margin_sd x SD(naive)."""
    sd = float(np.std(n, ddof=1)) if n.size > 1 else math.nan
    if not (np.isfinite(sd) and sd > 0) or t.size < 2:
        return None, sd
    return vstats.tost_welch(t, n, margin_sd * sd, alpha=alpha), sd


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
    gate: pd.DataFrame | None = None,
) -> list[Verdict]:
    """The paper's headline results, items 6-10, measured on ``table``.

    Effect claims need the paper's direction at p < alpha (and a test that can reach alpha);
    null claims need equivalence within `NULL_MARGINS` (module docstring). Every row at a
    precision is not testable when the networks of that precision did not learn (``gate``).

    Args:
        table: the contract's unit table.
        curves: ``(len(table), O)`` tuning curves for Fig. 9F (item 9b), or None.
        layer_table, unit_level_table: Eq. 7 tables (item 10), or None.
        high_deg, low_deg: the high and low training precisions (deg).
        alpha: significance level.
        min_units: minimum units per group.
        gate: `learning_gate` of the tuning networks (None: every separation counts as learned).

    Returns:
        `Verdict` rows 6a-10d.
    """
    ph.validate_unit_table(table)
    alpha = ph.check_alpha(alpha)
    kw = dict(alpha=alpha, min_units=min_units)
    out = []

    def gated(item, claim, paper, prec, note=""):
        why = gate_reason(gate, [prec])
        return not_testable(item, claim, paper, why, note) if why else None

    # 6a: layer 2 at high precision, slope increase ~20 deg from TO.
    claim = f"layer 2 at {high_deg:g} deg: units tuned ~20 deg from TO increase their normalised slope at TO"
    paper = "increase at 1.0 deg only (Fig. 6C)"
    note = (
        "per-bin MWU (trained > naive mean) significant at alpha / 8 in the 12-20 or 20-28 deg bin"
    )
    row = gated("6a", claim, paper, high_deg, note)
    if row is None:
        c = ph.schoups_slope(table, high_deg, **kw)
        if not c.testable:
            row = not_testable("6a", claim, paper, c.reason, note)
        else:
            near = c.tests[(c.tests["lo"] >= 12.0) & (c.tests["hi"] <= 28.0)]
            hit = bool((near["significant"] & (near["diff"] > 0)).any())
            attain = min(
                (
                    _min_p_mwu(int(r.n_trained), int(r.n_naive))
                    for r in near.itertuples()
                    if r.n_trained >= 1 and r.n_naive >= 1
                ),
                default=1.0,
            )
            text = (
                "; ".join(
                    f"{r.lo:g}-{r.hi:g} deg: diff={_fmt(r.diff)}, p={format_p(r.p)}"
                    for r in near.itertuples()
                )
                + f"; interaction F={_fmt(c.statistic)}, p={format_p(c.p)}"
            )
            if hit:
                row = verdict_row("6a", claim, paper, _R, text, note)
            elif attain > alpha / 8:
                row = verdict_row(
                    "6a",
                    claim,
                    paper,
                    _NT,
                    f"{text}; too few units per bin: smallest attainable p {format_p(attain)} > "
                    f"alpha / 8",
                    note,
                )
            else:
                row = verdict_row("6a", claim, paper, _NR, text, note)
    out.append(row)

    # 6b: layer 2 at low precision, no slope increase (null).
    margin = NULL_MARGINS["slope"]
    claim = f"layer 2 at {low_deg:g} deg: units tuned ~20 deg from TO do not increase their normalised slope at TO"
    note = f"TOST Welch in the 12-20 and 20-28 deg bins (margin: {margin.why}); a significant per-bin increase fails it"
    row = gated("6b", claim, paper, low_deg, note)
    if row is None:
        c = ph.schoups_slope(table, low_deg, **kw)
        if not c.testable:
            row = not_testable("6b", claim, paper, c.reason, note)
        else:
            groups = ph.paired_groups(table, "norm2", low_deg)
            parts = []
            for lo, hi in ((12.0, 20.0), (20.0, 28.0)):
                t, n = _values(
                    groups,
                    "slope_to",
                    lambda g, lo=lo, hi=hi: (
                        (np.abs(g.po_rel_deg) >= lo) & (np.abs(g.po_rel_deg) < hi)
                    ),
                )
                label = f"{lo:g}-{hi:g} deg"
                tost, _ = _tost_welch_sd(t, n, margin.value, alpha)
                rowb = c.tests[np.isclose(c.tests["lo"], lo)]
                sig = bool(len(rowb) and (rowb["significant"] & (rowb["diff"] > 0)).iloc[0])
                if tost is None:
                    parts.append(
                        _Part(_NR if sig else _NT, f"{label}: {t.size}/{n.size} units, no TOST")
                    )
                else:
                    parts.append(
                        _null_part(
                            label, equivalent=vstats.equivalent(tost, alpha), significant=sig,
                            text=_tost_text(tost),
                        )
                    )  # fmt: skip
            row = _row("6b", claim, paper, parts, note)
    out.append(row)

    # 6c, 6d: PO distribution unchanged (null, K-S distance bound).
    margin = NULL_MARGINS["ks"]
    for item, prec in (("6c", high_deg), ("6d", low_deg)):
        claim = f"layer 2 at {prec:g} deg: PO distribution unchanged by training"
        paper = "K-S p > 0.9 (Fig. 6E)"
        note = (
            f"the (1 - alpha) upper bound of the K-S distance (observed D + DKW bands) must lie "
            f"below the margin ({margin.why}); K-S p < alpha fails it"
        )
        row = gated(item, claim, paper, prec, note)
        if row is None:
            c = ph.po_distribution_ks(table, "norm2", prec, **kw)
            if not c.testable:
                row = not_testable(item, claim, paper, c.reason, note)
            else:
                t, n = _values(ph.paired_groups(table, "norm2", prec), "po_rel_deg")
                d, bound = ks_distance_bound(t, n, alpha=alpha)
                part = _null_part(
                    "K-S",
                    equivalent=bound < margin.value,
                    significant=c.p < alpha,
                    text=f"D={_fmt(d)}, upper bound {_fmt(bound)}, p={format_p(c.p)}, "
                    f"n={c.n_trained}/{c.n_naive}",
                )
                row = _row(item, claim, paper, [part], note, statistic=d)._replace(p=c.p)
        out.append(row)

    # 7a, 7c: no PO effect (null, ANOVA equivalence); 7b: the effect at layer 3, high precision.
    margin = NULL_MARGINS["eta2"]

    def ghose_null(item, measure, layer, lname, prec, paper):
        claim = f"{lname} at {prec:g} deg: no effect of PO on {measure.replace('_', ' ')}"
        note = f"equivalence F test of the one-way ANOVA (margin: {margin.why}); ANOVA p < alpha fails it"
        row = gated(item, claim, paper, prec, note)
        if row is not None:
            return row
        c = ph.ghose_by_po(table, measure, layer, prec, **kw)
        if not c.testable:
            return not_testable(item, claim, paper, c.reason, note)
        df1, df2 = c.df
        p_eq = anova_equivalence_p(c.statistic, df1, df2, margin.value)
        eta2 = c.statistic * df1 / (c.statistic * df1 + df2)
        part = _null_part(
            "ANOVA",
            equivalent=p_eq < alpha,
            significant=c.p < alpha,
            text=f"F({df1:g}, {df2:g})={_fmt(c.statistic)}, p={format_p(c.p)}, eta2={_fmt(eta2)}, "
            f"equivalence p={format_p(p_eq)}",
        )
        return _row(item, claim, paper, [part], note, statistic=c.statistic)._replace(p=c.p)

    for layer, lname in (("norm2", "layer 2"), ("conv3", "layer 3")):
        out.append(
            ghose_null(f"7a-{lname[-1]}", "amplitude", layer, lname, low_deg, "p > 0.30 (Fig. 7B)")
        )
    claim = f"layer 3 at {high_deg:g} deg: PO affects tuning amplitude"
    paper = "p < 0.0001, one-way ANOVA (Fig. 7B)"
    row = gated("7b", claim, paper, high_deg, "effect claim: ANOVA p < alpha")
    if row is None:
        c = ph.ghose_by_po(table, "amplitude", "conv3", high_deg, **kw)
        row = _row(
            "7b",
            claim,
            paper,
            [_comparison_part("ANOVA", c, True, alpha)],
            "effect claim: ANOVA p < alpha",
        )
    out.append(row)
    for layer, lname in (("norm2", "layer 2"), ("conv3", "layer 3")):
        for prec in (high_deg, low_deg):
            out.append(
                ghose_null(
                    f"7c-{lname[-1]}-{prec:g}", "var_ratio", layer, lname, prec, "p > 0.6 (Fig. 7D)"
                )
            )

    # Item 8: layer 5 at both precisions.
    for prec in (high_deg, low_deg):
        out += _layer5_items(table, prec, kw, alpha, gated)

    # Item 9: layer 5 at 1 deg only.
    claim = f"layer 5 at {high_deg:g} deg: SI increases"
    paper = "p < 0.0001, MWU (Fig. 8F)"
    note = "effect claim: MWU p < alpha, trained SI larger"
    row = gated("9a", claim, paper, high_deg, note)
    if row is None:
        c = ph.compare_measure(table, "si", "conv5", high_deg, **kw)
        row = _row(
            "9a", claim, paper,
            [_comparison_part("SI", c, c.effect > 0, alpha, _mwu_attainable(c, "two-sided"))], note,
        )  # fmt: skip
    out.append(row)
    margin = NULL_MARGINS["si"]
    claim = f"layer 5 at {low_deg:g} deg: SI unchanged"
    paper = "p > 0.10 (Fig. 8F)"
    note = f"TOST Welch of SI (margin: {margin.why}); MWU p < alpha fails it"
    row = gated("9a-low", claim, paper, low_deg, note)
    if row is None:
        c = ph.compare_measure(table, "si", "conv5", low_deg, **kw)
        if not c.testable:
            row = not_testable("9a-low", claim, paper, c.reason, note)
        else:
            t, n = _values(ph.paired_groups(table, "conv5", low_deg), "si")
            tost, _ = _tost_welch_sd(t, n, margin.value, alpha)
            if tost is None:
                part = _Part(_NR if c.p < alpha else _NT, f"{t.size}/{n.size} units, no TOST")
            else:
                part = _null_part(
                    "SI", equivalent=vstats.equivalent(tost, alpha), significant=c.p < alpha,
                    text=_tost_text(tost) + f", MWU p={format_p(c.p)}",
                )  # fmt: skip
            row = _row("9a-low", claim, paper, [part], note)._replace(p=c.p)
    out.append(row)
    claim = f"layer 5 at {high_deg:g} deg: non-preferred responses fall more (tuning narrows)"
    paper = "interaction p < 0.0001, two-way ANOVA (Fig. 9F)"
    note = "effect claim: interaction p < alpha, larger drop in the non-preferred range"
    row = gated("9b", claim, paper, high_deg, note)
    if row is None:
        if curves is None:
            row = not_testable("9b", claim, paper, "no tuning curves given", note)
        else:
            c = ph.tuning_width(table, curves, "conv5", high_deg, **kw)
            row = _row(
                "9b", claim, paper, [_comparison_part("width", c, c.effect > 0, alpha)], note
            )
    out.append(row)

    # Item 10: Eq. 7.
    out.extend(_item10(layer_table, unit_level_table, alpha, gate))
    return out


def _layer5_items(table, prec, kw, alpha, gated) -> list[Verdict]:
    out = []
    claim = f"layer 5 at {prec:g} deg: training x PO interaction on slope, increase near TO"
    paper = "interaction p < 0.0002 (Fig. 8B)"
    note = (
        "two-way ANOVA interaction p < alpha, and the common units tuned within 24 deg of TO "
        "have larger slopes after training (one-sided MWU, p < alpha)"
    )
    row = gated(f"8a-{prec:g}", claim, paper, prec, note)
    if row is None:
        c = ph.raiguel_slope(table, prec, **kw)
        parts = [_comparison_part("interaction", c, True, alpha)]
        if c.testable:
            t, n = _values(
                ph.paired_groups(table, "conv5", prec, common=True),
                "slope_to",
                lambda g: np.abs(g.po_rel_deg.to_numpy(float)) < 24.0,
            )
            if t.size < 1 or n.size < 1:
                parts.append(_Part(_NT, "near TO: no common units within 24 deg"))
            else:
                p = float(stats.mannwhitneyu(t, n, alternative="greater").pvalue)
                parts.append(
                    _effect_part(
                        "near TO",
                        p=p,
                        direction_ok=bool(np.median(t) > np.median(n) or t.mean() > n.mean()),
                        alpha=alpha,
                        text=f"mean slope {_fmt(t.mean())} vs {_fmt(n.mean())} "
                        f"(n={t.size}/{n.size}), p={format_p(p)}",
                        attainable=_min_p_mwu(t.size, n.size, "greater"),
                    )
                )
        row = _row(f"8a-{prec:g}", claim, paper, parts, note)
    out.append(row)

    claim = f"layer 5 at {prec:g} deg: trained PO non-uniform with a pile-up at TO"
    paper = "K-S p < 0.003 (Fig. 8D)"
    note = "p < alpha and trained centre-bin fraction above uniform"
    row = gated(f"8b-{prec:g}", claim, paper, prec, note)
    if row is None:
        c = ph.po_uniformity_ks(table, "conv5", prec, **kw)
        row = _row(
            f"8b-{prec:g}", claim, paper, [_comparison_part("K-S", c, c.effect > 0, alpha)], note
        )
    out.append(row)
    for key, measure, alt, direction, paper, fig in (
        ("8c", "norm_var_po", "two-sided", -1, "p < 0.001", "8H"),
        ("8d", "amplitude", "two-sided", 1, "p < 0.0001", "9B"),
        ("8e", "best_disc", "less", -1, "p < 0.0005, one-sided", "9D"),
    ):
        word = "increases" if direction > 0 else "decreases"
        claim = f"layer 5 at {prec:g} deg: {measure} {word} with training"
        paper = f"{paper}, MWU (Fig. {fig})"
        note = "effect claim: MWU p < alpha and direction"
        row = gated(f"{key}-{prec:g}", claim, paper, prec, note)
        if row is None:
            c = ph.compare_measure(table, measure, "conv5", prec, alternative=alt, **kw)
            part = _comparison_part(
                measure, c, c.effect * direction > 0, alpha, _mwu_attainable(c, alt)
            )
            row = _row(f"{key}-{prec:g}", claim, paper, [part], note)
        out.append(row)
    return out


def _gate_table(frame, gate):
    if frame is None or gate is None:
        return frame
    keep = learned_separations(gate)
    return frame[np.isin(frame.separation_deg.to_numpy(float), keep)]


def _fi_block_f(table: pd.DataFrame):
    """Nested F test of the three FI terms of Eq. 7: ``(F, df1, df2, partial eta^2, p)``."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    d = table.loc[:, list(ph.UNIT_LEVEL_COLUMNS)].astype(float)
    d = d[np.all(np.isfinite(d.to_numpy()), axis=1)]
    d["layer_index"] = d["layer_index"].astype(int)
    full = smf.ols(ph.EQ7_FORMULA, data=d).fit()
    reduced = smf.ols("d_rel1 ~ C(layer_index) + C(separation_deg)", data=d).fit()
    cmp = anova_lm(reduced, full).iloc[1]
    f, df1, df2 = float(cmp["F"]), float(cmp["df_diff"]), float(full.df_resid)
    eta = float(cmp["ss_diff"]) / (float(cmp["ss_diff"]) + float(full.ssr))
    return f, df1, df2, eta, float(cmp["Pr(>F)"])


def _item10(layer_table, unit_level_table, alpha, gate) -> list[Verdict]:
    out = []
    layer_table = _gate_table(layer_table, gate)
    unit_level_table = _gate_table(unit_level_table, gate)
    margin = NULL_MARGINS["fi_terms"]
    claim_a = "layer level: FI terms do not predict layer change"
    claim_b = "layer level: layer and separation are significant"
    paper_a = "all FI terms p > 0.1 (Fig. 10A)"
    paper_b = "p < 0.0001; 21% and 46% of variance (Fig. 10A)"
    note_a = (
        f"equivalence F test of the FI block (margin: {margin.why}); an FI term with p < alpha "
        "fails it"
    )
    note_b = "effect claim: both p < alpha (on the learned separations)"
    r = ph.initial_sensitivity_regression(layer_table, "layer") if layer_table is not None else None
    if r is None or not r.testable:
        why = "no layer-level table" if r is None else r.reason
        row_b = not_testable("10b", claim_b, paper_b, why, note_b)
        out += [not_testable("10a", claim_a, paper_a, why, note_a), row_b]
    else:
        fi_p = min(r.p[t] for t in ph.FI_TERMS)
        f, df1, df2, eta, p_block = _fi_block_f(layer_table)
        p_eq = anova_equivalence_p(f, df1, df2, margin.value)
        part = _null_part(
            "FI terms",
            equivalent=p_eq < alpha,
            significant=fi_p < alpha,
            text=f"min FI-term p={format_p(fi_p)}; FI block F({df1:g}, {df2:g})={_fmt(f)}, "
            f"partial eta2={_fmt(eta)}, equivalence p={format_p(p_eq)}; FI share "
            f"{_fmt(r.shares['fi'])}",
        )
        out.append(_row("10a", claim_a, paper_a, [part], note_a)._replace(p=fi_p))
        parts = [
            _effect_part(
                name,
                p=r.p[term],
                direction_ok=True,
                alpha=alpha,
                text=f"p={format_p(r.p[term])} ({100 * r.shares[share]:.1f}%)",
            )
            for name, term, share in (
                ("layer", "C(layer_index)", "layer"),
                ("separation", "C(separation_deg)", "separation"),
            )
        ]
        row_b = _row("10b", claim_b, paper_b, parts, note_b)
        out.append(row_b)
    shares_b = {} if r is None or not r.testable else dict(r.shares)
    out.append(_size_row("10b", row_b, {k: shares_b.get(k, math.nan) for k in PAPER_SIZES["10b"]}))

    claim_c = "unit level: all Eq. 7 effects significant"
    paper_c = "p < 0.0001; layer 2.6%, separation 12.4%, FI terms 1.1% (Fig. 10B)"
    claim_d = "unit level: correlations mostly positive, lowest in layer 3"
    paper_d = "mostly positive r; layer 3 lowest (Fig. 10B)"
    note_c = (
        "effect claim: every term p < alpha (units with naive activity < 1.0 at TO left out, "
        "as the paper does for FI)"
    )
    if unit_level_table is None:
        row_c = not_testable("10c", claim_c, paper_c, "no unit-level table", note_c)
        out += [row_c, _size_row("10c", row_c, {})]
        out.append(not_testable("10d", claim_d, paper_d, "no unit-level table"))
        return out
    r = ph.initial_sensitivity_regression(unit_level_table, "unit")
    if not r.testable:
        row_c = not_testable("10c", claim_c, paper_c, r.reason, note_c)
        shares = {}
    else:
        parts = [
            _effect_part(
                term, p=r.p[term], direction_ok=True, alpha=alpha, text=f"p={format_p(r.p[term])}"
            )
            for terms in ph.TERM_GROUPS.values()
            for term in terms
        ]
        row_c = _row("10c", claim_c, paper_c, parts, note_c)
        row_c = row_c._replace(
            measured=f"n={r.n} units; shares layer {100 * r.shares['layer']:.1f}%, separation "
            f"{100 * r.shares['separation']:.1f}%, FI {100 * r.shares['fi']:.1f}%; "
            + row_c.measured
        )
        shares = dict(r.shares)
    out += [row_c, _size_row("10c", row_c, shares)]
    corr = ph.unit_correlations(unit_level_table, alpha=alpha)
    tested = corr[np.isfinite(corr["r"])]
    note_d = "descriptive: > 50% of cells r > 0 and layer 3 has the lowest mean r"
    if len(tested) == 0:
        out.append(
            not_testable(
                "10d", claim_d, paper_d, "no (layer, separation) cell could be correlated", note_d
            )
        )
        return out
    frac_pos = float((tested["r"] > 0).mean())
    by_layer = tested.groupby("layer_index")["r"].mean()
    lowest = int(by_layer.idxmin())
    measured = (
        f"{100 * frac_pos:.0f}% of {len(tested)} cells r > 0; "
        f"{int(tested['significant'].sum())} significant at alpha/{len(tested)}; "
        f"lowest mean r in layer {lowest}"
    )
    if 3 not in by_layer.index:
        out.append(not_testable("10d", claim_d, paper_d, measured + "; no layer-3 cell", note_d))
    else:
        ok = frac_pos > 0.5 and lowest == 3
        out.append(verdict_row("10d", claim_d, paper_d, _R if ok else _NR, measured, note_d))
    return out
