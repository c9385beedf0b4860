"""Tests of vpl_jax.analysis.stats: TOST, attainable rank-test p values, slope and R^2 intervals.

References are independent computations (the t distribution by hand, ``scipy.stats`` exact rank
tests, ``scipy.stats.linregress``), planted nulls and effects, and underpowered samples.
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from theory.checks import InputError
from vpl_jax.analysis import stats


def _tost_by_hand(estimate, se, df, low, upp, alpha):
    p = max(sps.t.sf((estimate - low) / se, df), sps.t.cdf((estimate - upp) / se, df))
    half = sps.t.ppf(1 - alpha, df) * se
    return p, estimate - half, estimate + half


def test_tost_one_sample_matches_the_t_distribution_by_hand():
    rng = np.random.default_rng(0)
    x = rng.normal(0.1, 1.0, 25)
    r = stats.tost_one_sample(x, (-0.4, 0.6), mu=0.05, alpha=0.05)
    p, lo, hi = _tost_by_hand(x.mean() - 0.05, x.std(ddof=1) / 5, 24, -0.4, 0.6, 0.05)
    np.testing.assert_allclose([r.p, r.ci_low, r.ci_high], [p, lo, hi], rtol=1e-10)
    np.testing.assert_allclose(r.estimate, x.mean() - 0.05, rtol=1e-12)
    assert r.n == 25 and r.test.startswith("TOST one-sample")


def test_tost_welch_matches_welch_satterthwaite_by_hand():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 1.0, 12), rng.normal(0.2, 3.0, 30)
    r = stats.tost_welch(a, b, 1.5, alpha=0.025)
    v1, v2 = a.var(ddof=1) / 12, b.var(ddof=1) / 30
    df = (v1 + v2) ** 2 / (v1**2 / 11 + v2**2 / 29)
    p, lo, hi = _tost_by_hand(a.mean() - b.mean(), math.sqrt(v1 + v2), df, -1.5, 1.5, 0.025)
    np.testing.assert_allclose([r.p, r.ci_low, r.ci_high], [p, lo, hi], rtol=1e-8)
    assert r.n == 42


def test_tost_paired_is_the_one_sample_test_of_differences():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, 20)
    b = a + rng.normal(0.05, 0.2, 20)
    paired = stats.tost_paired(a, b, 0.2)
    one = stats.tost_one_sample(a - b, 0.2)
    np.testing.assert_allclose(
        [paired.p, paired.ci_low, paired.ci_high, paired.statistic],
        [one.p, one.ci_low, one.ci_high, one.statistic],
        rtol=1e-10,
    )


def test_tost_equivalent_iff_the_interval_lies_inside_the_margin():
    rng = np.random.default_rng(3)
    for _ in range(40):
        x = rng.normal(rng.uniform(-0.5, 0.5), 1.0, 15)
        r = stats.tost_one_sample(x, 0.5)
        inside = -0.5 < r.ci_low and r.ci_high < 0.5
        assert stats.equivalent(r) == inside


def test_tost_says_equivalent_on_a_powered_null_only():
    rng = np.random.default_rng(4)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        null = rng.normal(0.0, 1.0, 200)
        small = rng.normal(0.0, 1.0, 5)
        effect = rng.normal(1.0, 1.0, 200)
        assert stats.equivalent(stats.tost_one_sample(null, 0.3), 0.05)
        assert not stats.equivalent(stats.tost_one_sample(small, 0.3), 0.05)
        assert not stats.equivalent(stats.tost_one_sample(effect, 0.3), 0.05)
        g1, g2 = rng.normal(0, 1, 400), rng.normal(0, 2, 400)
        assert stats.equivalent(stats.tost_welch(g1, g2, 0.5))
        assert not stats.equivalent(stats.tost_welch(g1[:4], g2[:4], 0.5))
        assert not stats.equivalent(stats.tost_welch(g1, g2 + 1.0, 0.5))


def test_tost_of_constant_samples():
    r = stats.tost_one_sample([0.1, 0.1, 0.1], 0.5)
    assert r.p == 0.0 and r.ci_low == r.ci_high == pytest.approx(0.1)
    assert stats.tost_welch([1.0, 1.0], [0.0, 0.0], 0.5).p == 1.0
    assert stats.tost_paired([1.0, 2.0], [0.9, 1.9], 0.5).p == 0.0


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (2, 3), (4, 4), (3, 7), (6, 5)])
@pytest.mark.parametrize("alternative", stats.ALTERNATIVES)
def test_min_p_mannwhitney_is_scipy_exact_on_separated_samples(n1, n2, alternative):
    x, y = 100.0 + np.arange(n1), np.arange(n2, dtype=float)  # every x above every y
    if alternative == "less":
        x, y = x - 200.0, y
    p = sps.mannwhitneyu(x, y, alternative=alternative, method="exact").pvalue
    np.testing.assert_allclose(stats.min_p_mannwhitney(n1, n2, alternative), p, rtol=1e-12)


def test_min_p_mannwhitney_bounds_every_exact_p():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n1, n2 = rng.integers(2, 7, size=2)
        x, y = rng.normal(size=n1), rng.normal(size=n2) + rng.normal(0, 2)
        for alternative in stats.ALTERNATIVES:
            p = sps.mannwhitneyu(x, y, alternative=alternative, method="exact").pvalue
            assert p >= stats.min_p_mannwhitney(int(n1), int(n2), alternative) * (1 - 1e-12)
    # four against four networks cannot pass a Bonferroni level of 0.01 / 5
    assert stats.min_p_mannwhitney(4, 4) > 0.01 / 5


@pytest.mark.parametrize("n", [1, 3, 6, 10])
@pytest.mark.parametrize("alternative", stats.ALTERNATIVES)
def test_min_p_wilcoxon_is_scipy_exact_on_same_sign_differences(n, alternative):
    d = np.arange(1.0, n + 1.0)
    d = -d if alternative == "less" else d
    p = sps.wilcoxon(d, alternative=alternative, method="exact").pvalue
    np.testing.assert_allclose(stats.min_p_wilcoxon(n, alternative), p, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.002, 1e-4])
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_min_n_mannwhitney_is_the_smallest_sufficient_size(alpha, alternative):
    n = stats.min_n_mannwhitney(alpha, alternative)
    assert stats.min_p_mannwhitney(n, n, alternative) <= alpha
    if n > 1:
        assert stats.min_p_mannwhitney(n - 1, n - 1, alternative) > alpha
    m = stats.min_n_mannwhitney(alpha, alternative, ratio=2.0)
    assert stats.min_p_mannwhitney(m, 2 * m, alternative) <= alpha


def test_slope_ci_matches_linregress_and_covers_a_planted_slope():
    rng = np.random.default_rng(6)
    x = np.linspace(0, 3, 40)
    y = 0.7 * x + rng.normal(0, 0.5, 40)
    r = stats.slope_ci(x, y, alpha=0.05)
    ref = sps.linregress(x, y)
    half = sps.t.ppf(0.975, 38) * ref.stderr
    np.testing.assert_allclose(
        [r.estimate, r.p, r.ci_low, r.ci_high],
        [ref.slope, ref.pvalue, ref.slope - half, ref.slope + half],
        rtol=1e-8,
    )
    boot = stats.slope_ci(x, y, method="bootstrap", n_boot=500, seed=0)
    assert boot.ci_low < 0.7 < boot.ci_high and boot.p == r.p
    np.testing.assert_allclose([boot.ci_low, boot.ci_high], [r.ci_low, r.ci_high], atol=0.1)
    null = stats.slope_ci(x, rng.normal(0, 1, 40))
    assert null.ci_low < 0 < null.ci_high


def test_r_squared_fisher_interval_by_hand_and_coverage():
    rng = np.random.default_rng(7)
    x = rng.normal(size=30)
    y = 0.8 * x + rng.normal(size=30)
    r2 = stats.r_squared_ci(x, y)
    r = np.corrcoef(x, y)[0, 1]
    z, half = np.arctanh(r), sps.norm.ppf(0.975) / math.sqrt(27)
    lo, hi = np.tanh(z - half) ** 2, np.tanh(z + half) ** 2
    np.testing.assert_allclose([r2.estimate, r2.ci_low, r2.ci_high], [r * r, lo, hi], rtol=1e-10)
    np.testing.assert_allclose(r2.p, sps.pearsonr(x, y).pvalue, rtol=1e-8)
    # coverage of the population R^2 = 0.64 / 1.64 over seeds
    true_r2 = 0.64 / 1.64
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        x = rng.normal(size=40)
        y = 0.8 * x + rng.normal(size=40)
        res = stats.r_squared_ci(x, y)
        covered += res.ci_low <= true_r2 <= res.ci_high
    assert covered >= 34, covered  # nominal 95 %: P(< 34 of 40) < 0.01
    null = stats.r_squared_ci(x, rng.normal(size=40))
    assert null.ci_low == 0.0 or null.ci_low < 0.05


def test_r_squared_bootstrap_one_and_two_predictors():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(60, 2))
    y = x @ np.array([1.0, -0.5]) + rng.normal(size=60)
    res = stats.r_squared_ci(x, y, method="bootstrap", n_boot=300, seed=1)
    import statsmodels.api as sm

    fit = sm.OLS(y, sm.add_constant(x)).fit()
    np.testing.assert_allclose([res.estimate, res.p], [fit.rsquared, fit.f_pvalue], rtol=1e-10)
    assert res.ci_low < res.estimate < res.ci_high
    one = stats.r_squared_ci(x[:, 0], y, method="bootstrap", n_boot=300, seed=1)
    fisher = stats.r_squared_ci(x[:, 0], y)
    np.testing.assert_allclose([one.ci_low, one.ci_high], [fisher.ci_low, fisher.ci_high], atol=0.1)


def test_adjust_pvalues_holm_and_bonferroni_by_hand():
    p = np.array([0.001, 0.04, 0.03, 0.2])
    reject, adj = stats.adjust_pvalues(p, method="bonferroni", alpha=0.05)
    np.testing.assert_allclose(adj, np.minimum(4 * p, 1.0))
    assert reject.tolist() == [True, False, False, False]
    order = np.argsort(p)
    steps = np.maximum.accumulate((4 - np.arange(4)) * p[order])
    holm = np.empty(4)
    holm[order] = np.minimum(steps, 1.0)
    reject, adj = stats.adjust_pvalues(p, method="holm")
    np.testing.assert_allclose(adj, holm)
    assert reject.tolist() == [True, False, False, False]


def test_errors_name_the_parameter():
    with pytest.raises(InputError, match="margin must be > 0"):
        stats.tost_one_sample([1.0, 2.0], -1.0)
    with pytest.raises(InputError, match="margin must be"):
        stats.tost_one_sample([1.0, 2.0], (1.0, -1.0))
    with pytest.raises(InputError, match="x must hold at least 2"):
        stats.tost_one_sample([1.0], 1.0)
    with pytest.raises(InputError, match="alpha must be in"):
        stats.tost_one_sample([1.0, 2.0], 1.0, alpha=0.6)
    with pytest.raises(InputError, match="x1 must be finite"):
        stats.tost_welch([1.0, np.nan], [1.0, 2.0], 1.0)
    with pytest.raises(InputError, match="paired"):
        stats.tost_paired([1.0, 2.0], [1.0, 2.0, 3.0], 1.0)
    with pytest.raises(InputError, match="TOST"):
        stats.equivalent(stats.slope_ci([0, 1, 2], [0, 1, 3]))
    with pytest.raises(InputError, match="n1 must be an int >= 1"):
        stats.min_p_mannwhitney(0, 3)
    with pytest.raises(InputError, match="alternative must be one of"):
        stats.min_p_wilcoxon(3, "both")
    with pytest.raises(InputError, match="constant"):
        stats.slope_ci([1, 1, 1], [0, 1, 2])
    with pytest.raises(InputError, match="x must be"):
        stats.slope_ci([1, 2], [0, 1, 2])
    with pytest.raises(InputError, match="method must be"):
        stats.slope_ci([0, 1, 2], [0, 1, 2], method="jackknife")
    with pytest.raises(InputError, match="one predictor"):
        stats.r_squared_ci(np.zeros((5, 2)) + np.arange(5)[:, None] ** [1, 2], np.arange(5.0))
    with pytest.raises(InputError, match="n_boot"):
        stats.r_squared_ci([0, 1, 2, 3], [0, 1, 3, 2], method="bootstrap", n_boot=10)
    with pytest.raises(InputError, match="pvalues must be in"):
        stats.adjust_pvalues([0.1, 1.2])
    with pytest.raises(InputError, match="method must be 'holm'"):
        stats.adjust_pvalues([0.1], method="fdr_bh")
