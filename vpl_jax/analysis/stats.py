r"""Statistics for verdicts that can fail: equivalence tests, attainable p values, interval estimates.

A claim of *no effect* is supported only by a test that could have rejected it. The helpers here
give the pieces such a rule needs:

* `tost_one_sample`, `tost_welch`, `tost_paired` -- two one-sided t tests (TOST) of equivalence
  within a stated margin :math:`(\Delta_L, \Delta_U)`: the TOST p value is the larger of the two
  one-sided p values, and equivalence at level :math:`\alpha` holds exactly when the
  :math:`(1 - 2\alpha)` confidence interval of the difference lies inside the margin
  (``statsmodels.stats.weightstats``);
* `min_p_mannwhitney`, `min_p_wilcoxon` -- the smallest p value an exact rank test can give for
  given sample sizes (so a rule can say "not testable: the smallest attainable p is 0.029 > 0.01"
  rather than "no effect"), and `min_n_mannwhitney`, the group size needed to reach a level;
* `slope_ci`, `r_squared_ci` -- confidence intervals of a regression slope (t or pairs bootstrap)
  and of :math:`R^2` (Fisher z of :math:`r` for one predictor, or pairs bootstrap);
* `adjust_pvalues` -- Bonferroni or Holm corrections (``statsmodels.stats.multitest``).

Every test returns a `StatResult`. Inputs are 1-d NumPy-convertible arrays; NaNs are not removed
(drop them first). Bootstraps take an explicit ``seed`` (a ``numpy.random.Generator`` seed), so a
result depends only on its arguments.

References:
    Schuirmann (1987), A comparison of the two one-sided tests procedure and the power approach
    for assessing the equivalence of average bioavailability, J. Pharmacokinet. Biopharm. 15.
    Lakens (2017), Equivalence tests: a practical primer for t tests, correlations, and
    meta-analyses, Soc. Psychol. Personal. Sci. 8. Mann & Whitney (1947); Wilcoxon (1945);
    Holm (1979), A simple sequentially rejective multiple test procedure, Scand. J. Stat. 6.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

from theory.checks import InputError, require

__all__ = [
    "ALTERNATIVES",
    "StatResult",
    "adjust_pvalues",
    "equivalent",
    "min_n_mannwhitney",
    "min_p_mannwhitney",
    "min_p_wilcoxon",
    "r_squared_ci",
    "slope_ci",
    "tost_one_sample",
    "tost_paired",
    "tost_welch",
]

#: Alternatives of the rank-test helpers (scipy's names).
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")


class StatResult(NamedTuple):
    """The result of a test or an interval estimate.

    Attributes:
        statistic: the test statistic (TOST: the t of the binding one-sided test; slope and
            :math:`R^2` helpers: the estimate itself).
        p: the p value (TOST: the larger one-sided p; equivalence at level alpha iff p < alpha).
        ci_low, ci_high: the confidence interval of ``estimate`` (TOST: the (1 - 2 alpha) interval
            of the difference; others: the (1 - alpha) interval).
        n: sample size (the total of both samples for two-sample tests).
        test: the test's name, with the margin where there is one.
        estimate: the estimated quantity (mean, difference, slope, R^2).
    """

    statistic: float
    p: float
    ci_low: float
    ci_high: float
    n: int
    test: str
    estimate: float = math.nan


# --------------------------------------------------------------------------------------------
# Argument checks


def _sample(name: str, x, min_n: int = 2) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if a.ndim != 1:
        raise InputError(f"{name} must be a 1-d array, got shape {a.shape}")
    if a.size < min_n:
        raise InputError(f"{name} must hold at least {min_n} values, got {a.size}")
    require(name, a, lambda v: np.all(np.isfinite(v)), "finite (drop NaNs first)")
    return a


def _alpha(alpha: float, upper: float = 1.0) -> float:
    require("alpha", alpha, lambda v: (v > 0) & (v < upper), f"in (0, {upper})")
    return float(alpha)


def _margin(margin) -> tuple[float, float]:
    if np.ndim(margin) == 0:
        require("margin", margin, lambda v: np.isfinite(v) & (v > 0), "> 0 (or a (low, upp) pair)")
        return -float(margin), float(margin)
    pair = np.asarray(margin, np.float64)
    if pair.shape != (2,) or not np.all(np.isfinite(pair)) or not pair[0] < pair[1]:
        raise InputError(
            f"margin must be > 0 or a finite pair (low, upp) with low < upp, got {margin}"
        )
    return float(pair[0]), float(pair[1])


def _alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative must be one of {list(ALTERNATIVES)}, got {alternative!r}")
    return alternative


# --------------------------------------------------------------------------------------------
# Equivalence tests (TOST)


def _constant(a: np.ndarray) -> bool:
    """No spread beyond rounding (a sample of differences like 1.0 - 0.9 and 2.0 - 1.9)."""
    return bool(np.ptp(a) <= 1e-12 * max(1.0, float(np.max(np.abs(a)))))


def _degenerate(estimate, low, upp, n, label) -> StatResult:
    """Zero spread: the difference is known exactly, inside the margin or not."""
    inside = low < estimate < upp
    return StatResult(
        math.inf if inside else -math.inf,
        0.0 if inside else 1.0,
        estimate,
        estimate,
        n,
        label,
        estimate,
    )


def _from_statsmodels(out, ci, estimate, n, label) -> StatResult:
    """`StatResult` from ``statsmodels`` ``ttost_*`` output ``(p, (t1, p1, df), (t2, p2, df))``."""
    p, (t_low, p_low, _), (t_upp, p_upp, _) = out
    statistic = t_low if p_low >= p_upp else t_upp
    return StatResult(
        float(statistic), float(p), float(ci[0]), float(ci[1]), n, label, float(estimate)
    )


def tost_one_sample(x, margin, *, mu: float = 0.0, alpha: float = 0.05) -> StatResult:
    r"""TOST that the mean of ``x`` lies within ``mu + margin`` (one-sample t tests).

    :math:`H_0: \mu_x - \mu \le \Delta_L` or :math:`\ge \Delta_U`; the p value is the larger of
    the two one-sided t-test p values (``statsmodels`` ``DescrStatsW.ttost_mean`` gives the
    same), and ``[ci_low, ci_high]`` is the :math:`(1 - 2\alpha)` t interval of
    :math:`\mu_x - \mu`.

    Args:
        x: ``(n,)`` sample, n >= 2.
        margin: ``m > 0`` for :math:`(-m, m)`, or a pair ``(low, upp)``.
        mu: the reference value.
        alpha: level of each one-sided test, in (0, 0.5).

    Returns:
        `StatResult`; ``estimate`` = mean(x) - mu.

    Raises:
        InputError: bad sample, margin or alpha.

    Examples:
        >>> r = tost_one_sample([0.01, -0.02, 0.00, 0.02, -0.01, 0.01], margin=0.1)
        >>> r.p < 0.05, round(r.estimate, 4)
        (True, 0.0017)
    """
    from statsmodels.stats.weightstats import DescrStatsW

    a = _sample("x", x)
    low, upp = _margin(margin)
    alpha = _alpha(alpha, 0.5)
    label = f"TOST one-sample t, margin ({low:g}, {upp:g}) around {mu:g}"
    estimate = float(a.mean() - mu)
    if _constant(a):
        return _degenerate(estimate, low, upp, a.size, label)
    d = DescrStatsW(a - mu)
    return _from_statsmodels(
        d.ttost_mean(low, upp), d.tconfint_mean(alpha=2 * alpha), estimate, a.size, label
    )


def tost_paired(x1, x2, margin, *, alpha: float = 0.05) -> StatResult:
    """TOST that the mean paired difference ``x1 - x2`` lies within ``margin`` (paired t tests).

    Args:
        x1, x2: ``(n,)`` paired samples, n >= 2.
        margin, alpha: as in `tost_one_sample`.

    Returns:
        `StatResult`; ``estimate`` = mean(x1 - x2); ``n`` = the number of pairs.

    Raises:
        InputError: bad samples (unequal lengths), margin or alpha.
    """
    a, b = _sample("x1", x1), _sample("x2", x2)
    if a.shape != b.shape:
        raise InputError(f"x1 and x2 must be paired (equal lengths), got {a.size} and {b.size}")
    from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

    low, upp = _margin(margin)
    alpha = _alpha(alpha, 0.5)
    label = f"TOST paired t, margin ({low:g}, {upp:g})"
    d = a - b
    if _constant(d):
        return _degenerate(float(d.mean()), low, upp, d.size, label)
    ci = DescrStatsW(d).tconfint_mean(alpha=2 * alpha)
    return _from_statsmodels(ttost_paired(a, b, low, upp), ci, d.mean(), d.size, label)


def tost_welch(x1, x2, margin, *, alpha: float = 0.05) -> StatResult:
    r"""TOST that ``mean(x1) - mean(x2)`` lies within ``margin`` (Welch t tests).

    Unequal variances, Welch-Satterthwaite degrees of freedom (``statsmodels``
    ``ttost_ind(..., usevar="unequal")`` and ``CompareMeans.tconfint_diff``). Two constant
    samples give p = 0 inside the margin and 1 outside.

    Args:
        x1, x2: independent samples, each n >= 2.
        margin, alpha: as in `tost_one_sample`.

    Returns:
        `StatResult`; ``estimate`` = mean(x1) - mean(x2); ``n`` = n1 + n2.

    Raises:
        InputError: bad samples, margin or alpha.
    """
    a, b = _sample("x1", x1), _sample("x2", x2)
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind

    low, upp = _margin(margin)
    alpha = _alpha(alpha, 0.5)
    label = f"TOST Welch t, margin ({low:g}, {upp:g})"
    n, estimate = a.size + b.size, float(a.mean() - b.mean())
    if _constant(a) and _constant(b):
        return _degenerate(estimate, low, upp, n, label)
    ci = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(
        alpha=2 * alpha, usevar="unequal"
    )
    out = ttost_ind(a, b, low, upp, usevar="unequal")
    return _from_statsmodels(out, ci, estimate, n, label)


def equivalent(result: StatResult, alpha: float = 0.05) -> bool:
    """Whether a TOST result supports equivalence at level ``alpha`` (``p < alpha``)."""
    _alpha(alpha, 0.5)
    if not result.test.startswith("TOST"):
        raise InputError(f"result must come from a TOST function, got test {result.test!r}")
    return bool(result.p < alpha)


# --------------------------------------------------------------------------------------------
# Minimal attainable p values of exact rank tests


def _count(name: str, n, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {n!r}")
    return int(n)


def min_p_mannwhitney(
    n1: int | np.integer, n2: int | np.integer, alternative: str = "two-sided"
) -> float:
    r"""Smallest p value of the exact Mann-Whitney U test for samples of sizes ``n1``, ``n2``.

    Without ties the most extreme arrangement (every value of one sample above every value of
    the other) has probability :math:`1 / \binom{n_1 + n_2}{n_1}` under :math:`H_0`; the two-sided
    p is twice that (at most 1), as in ``scipy.stats.mannwhitneyu(method="exact")``.

    Examples:
        >>> round(min_p_mannwhitney(4, 4), 4), round(min_p_mannwhitney(4, 4, "greater"), 4)
        (0.0286, 0.0143)
    """
    n1, n2 = _count("n1", n1), _count("n2", n2)
    log_comb = math.lgamma(n1 + n2 + 1) - math.lgamma(n1 + 1) - math.lgamma(n2 + 1)
    one = math.exp(-log_comb)  # 1 / C(n1 + n2, n1) without overflow (underflows to 0)
    return min(1.0, 2.0 * one) if _alternative(alternative) == "two-sided" else one


def min_p_wilcoxon(n: int | np.integer, alternative: str = "two-sided") -> float:
    r"""Smallest p value of the exact Wilcoxon signed-rank test for ``n`` non-zero differences.

    All signs equal has probability :math:`2^{-n}`; the two-sided p is twice that (at most 1),
    as in ``scipy.stats.wilcoxon(method="exact")``.

    Examples:
        >>> min_p_wilcoxon(5), min_p_wilcoxon(5, "less")
        (0.0625, 0.03125)
    """
    n = _count("n", n)
    one = 0.5**n
    return min(1.0, 2.0 * one) if _alternative(alternative) == "two-sided" else one


def min_n_mannwhitney(alpha: float, alternative: str = "two-sided", *, ratio: float = 1.0) -> int:
    """Smallest ``n1`` (with ``n2 = ceil(ratio * n1)``) whose exact MWU can reach ``p <= alpha``.

    Examples:
        >>> min_n_mannwhitney(0.01), min_n_mannwhitney(0.01 / 5)
        (5, 7)
    """
    alpha = _alpha(alpha)
    require("ratio", ratio, lambda v: np.isfinite(v) & (v > 0), "> 0")
    alternative = _alternative(alternative)
    n = 1
    while min_p_mannwhitney(n, max(1, math.ceil(ratio * n)), alternative) > alpha:
        n += 1
    return n


# --------------------------------------------------------------------------------------------
# Regression slope and R^2


def _xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, np.float64)
    ya = _sample("y", y, 3)
    if xa.ndim not in (1, 2) or xa.shape[0] != ya.size:
        raise InputError(f"x must be (n,) or (n, k) with n = len(y) = {ya.size}, got {xa.shape}")
    require("x", xa, lambda v: np.all(np.isfinite(v)), "finite")
    return xa, ya


def _design(x: np.ndarray) -> np.ndarray:
    x2 = x[:, None] if x.ndim == 1 else x
    return np.column_stack([np.ones(x2.shape[0]), x2])


def _ols(x: np.ndarray, y: np.ndarray):
    import statsmodels.api as sm

    X = _design(x)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError("x must not be constant (the slope is not identified)")
    return sm.OLS(y, X).fit()


def slope_ci(
    x,
    y,
    *,
    alpha: float = 0.05,
    method: str = "t",
    n_boot: int = 2000,
    seed: int = 0,
) -> StatResult:
    """Slope of the OLS regression ``y ~ 1 + x`` with a (1 - alpha) confidence interval.

    Args:
        x: ``(n,)`` predictor (not constant).
        y: ``(n,)`` response, n >= 3.
        alpha: 1 - confidence level.
        method: ``"t"`` (the OLS t interval, ``statsmodels``) or ``"bootstrap"`` (pairs bootstrap,
            BCa interval of ``scipy.stats.bootstrap``, ``n_boot`` resamples, ``seed``).

    Returns:
        `StatResult` with ``statistic = estimate =`` the slope and ``p`` the OLS t-test p of
        slope = 0 (both methods).

    Raises:
        InputError: bad shapes, constant ``x``, bad ``method``.

    Examples:
        >>> r = slope_ci([0, 1, 2, 3, 4], [0.1, 1.9, 4.2, 5.8, 8.1])
        >>> round(r.estimate, 2), r.ci_low < 2 < r.ci_high
        (1.99, True)
    """
    xa, ya = _xy(x, y)
    if xa.ndim != 1:
        raise InputError(f"x must be 1-d for slope_ci, got shape {xa.shape}")
    alpha = _alpha(alpha)
    if method not in ("t", "bootstrap"):
        raise InputError(f"method must be 't' or 'bootstrap', got {method!r}")
    fit = _ols(xa, ya)
    slope, p = float(fit.params[1]), float(fit.pvalues[1])
    if method == "t":
        lo, hi = fit.conf_int(alpha)[1]
        name = "OLS slope, t interval"
    else:
        lo, hi = _bootstrap(_slope, xa, ya, alpha, n_boot, seed)
        name = "OLS slope, pairs bootstrap (BCa)"
    return StatResult(slope, p, float(lo), float(hi), int(ya.size), name, slope)


def _slope(x, y, axis=-1):
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    den = np.sum(xc * xc, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(xc * yc, axis=axis) / den


def _r2(x, y, axis=-1):
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(xc * yc, axis=axis) / np.sqrt(
            np.sum(xc * xc, axis=axis) * np.sum(yc * yc, axis=axis)
        )
    return r * r


def _bootstrap(statistic, x, y, alpha, n_boot, seed):
    if not isinstance(n_boot, int) or n_boot < 100:
        raise InputError(f"n_boot must be an int >= 100, got {n_boot!r}")
    res = sps.bootstrap(
        (x, y),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=n_boot,
        confidence_level=1.0 - alpha,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    lo, hi = res.confidence_interval
    if not (np.isfinite(lo) and np.isfinite(hi)):  # BCa undefined (degenerate resamples)
        res = sps.bootstrap(
            (x, y),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=n_boot,
            confidence_level=1.0 - alpha,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        lo, hi = res.confidence_interval
    return float(lo), float(hi)


def r_squared_ci(
    x,
    y,
    *,
    alpha: float = 0.05,
    method: str = "fisher",
    n_boot: int = 2000,
    seed: int = 0,
) -> StatResult:
    r""":math:`R^2` of the OLS regression ``y ~ 1 + x`` with a (1 - alpha) confidence interval.

    ``"fisher"`` (one predictor): :math:`z = \operatorname{atanh} r`, SE :math:`1/\sqrt{n - 3}`;
    the interval of :math:`r` mapped to :math:`R^2 = r^2` (lower end 0 when it contains
    :math:`r = 0`). ``"bootstrap"`` (any number of predictors): pairs bootstrap, percentile
    interval of ``scipy.stats.bootstrap`` (BCa for one predictor).

    Args:
        x: ``(n,)`` or ``(n, k)`` predictors (``"fisher"``: one predictor).
        y: ``(n,)`` response; n >= 4 for ``"fisher"``.
        alpha: 1 - confidence level.
        method: ``"fisher"`` or ``"bootstrap"``.
        n_boot, seed: bootstrap resamples and seed.

    Returns:
        `StatResult` with ``statistic = estimate =`` :math:`R^2` and ``p`` the overall F-test p.

    Raises:
        InputError: bad shapes or method.

    Examples:
        >>> r = r_squared_ci([0, 1, 2, 3, 4, 5], [0.2, 0.8, 2.3, 2.9, 4.2, 4.8])
        >>> 0.9 < r.estimate < 1, r.ci_low < r.estimate < r.ci_high <= 1
        (True, True)
    """
    xa, ya = _xy(x, y)
    alpha = _alpha(alpha)
    if method not in ("fisher", "bootstrap"):
        raise InputError(f"method must be 'fisher' or 'bootstrap', got {method!r}")
    fit = _ols(xa, ya)
    r2, p, n = float(fit.rsquared), float(fit.f_pvalue), int(ya.size)
    if method == "fisher":
        if xa.ndim != 1:
            raise InputError("method 'fisher' needs one predictor (x of shape (n,)); use bootstrap")
        if n < 4:
            raise InputError(f"method 'fisher' needs n >= 4, got {n}")
        r = float(np.sign(fit.params[1]) * math.sqrt(r2))
        z = math.atanh(min(max(r, -1 + 1e-15), 1 - 1e-15))
        half = float(sps.norm.ppf(1 - alpha / 2)) / math.sqrt(n - 3)
        r_lo, r_hi = math.tanh(z - half), math.tanh(z + half)
        lo = 0.0 if r_lo <= 0 <= r_hi else min(r_lo**2, r_hi**2)
        hi = max(r_lo**2, r_hi**2)
        return StatResult(r2, p, lo, hi, n, "R^2, Fisher z interval of r", r2)
    if xa.ndim == 1:
        lo, hi = _bootstrap(_r2, xa, ya, alpha, n_boot, seed)
        return StatResult(r2, p, max(lo, 0.0), min(hi, 1.0), n, "R^2, pairs bootstrap (BCa)", r2)
    if not isinstance(n_boot, int) or n_boot < 100:
        raise InputError(f"n_boot must be an int >= 100, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    X = _design(xa)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        beta, *_ = np.linalg.lstsq(X[idx], ya[idx], rcond=None)
        resid = ya[idx] - X[idx] @ beta
        tss = np.sum((ya[idx] - ya[idx].mean()) ** 2)
        draws[b] = 1.0 - np.sum(resid**2) / tss if tss > 0 else np.nan
    lo, hi = np.nanquantile(draws, [alpha / 2, 1 - alpha / 2])
    return StatResult(r2, p, float(lo), float(hi), n, "R^2, pairs bootstrap (percentile)", r2)


# --------------------------------------------------------------------------------------------
# Multiple comparisons


def adjust_pvalues(pvalues, *, method: str = "holm", alpha: float = 0.05):
    """Bonferroni or Holm adjusted p values (``statsmodels.stats.multitest.multipletests``).

    Args:
        pvalues: ``(m,)`` p values in [0, 1].
        method: ``"holm"`` or ``"bonferroni"``.
        alpha: family-wise error rate.

    Returns:
        ``(reject, p_adjusted)``: ``(m,)`` booleans and adjusted p values (at most 1).

    Raises:
        InputError: p values outside [0, 1], empty, or an unknown method.

    Examples:
        >>> reject, p = adjust_pvalues([0.01, 0.04, 0.03], method="holm")
        >>> reject.tolist(), [round(float(v), 2) for v in p]
        ([True, False, False], [0.03, 0.06, 0.06])
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, np.float64)
    if p.ndim != 1 or p.size == 0:
        raise InputError(f"pvalues must be a non-empty 1-d array, got shape {p.shape}")
    require("pvalues", p, lambda v: np.all((v >= 0) & (v <= 1)), "in [0, 1]")
    if method not in ("holm", "bonferroni"):
        raise InputError(f"method must be 'holm' or 'bonferroni', got {method!r}")
    alpha = _alpha(alpha)
    reject, p_adj, _, _ = multipletests(p, alpha=alpha, method=method)
    return np.asarray(reject, bool), np.asarray(p_adj, np.float64)
