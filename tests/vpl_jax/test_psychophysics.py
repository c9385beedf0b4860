"""Tests of vpl_jax.psychophysics: the ideal observer, psychometric fits, thresholds, efficiency.

The ideal observer is checked against a Monte-Carlo simulation of the same observer on the
package's own trial generator (`vpl_jax.train.sample_pairs`: noisy images actually sampled, the
optimal statistic computed on them), against a continuum closed form of a Gabor's orientation
derivative, and for its scaling laws. The fits are checked by recovering planted thresholds and
by the coverage of their intervals over seeds.
"""

import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from scipy import optimize
from scipy import stats as sps

from theory.checks import InputError
from vpl_jax import psychophysics as ps
from vpl_jax import stimuli, train
from vpl_jax.train import Condition, TrainConfig

CFG67 = TrainConfig(image_size=67)


def _triplet(t: stimuli.PairTemplates) -> jax.Array:
    return jnp.stack([t.reference, t.clockwise, t.counterclockwise])


@functools.partial(jax.jit, static_argnames=("n_chunks", "chunk"))
def _simulate(key, triplet, condition, n_chunks, chunk):
    """Correct decisions of the ideal and the difference-image observers on sampled trials."""
    ref, cw, ccw = triplet[0], triplet[1], triplet[2]
    delta = cw - ccw
    c = condition.contrast
    mid_target = (c * ((cw + ccw) / 2.0 - stimuli.BACKGROUND_OFFSET))[None]  # mean of x_t
    mid_diff = (c * ((cw + ccw) / 2.0 - ref))[None]  # mean of x_t - x_r

    def one(k):
        reference, target, labels = train.sample_pairs(k, triplet, condition, chunk)
        xr_, xt = reference[..., 0], target[..., 0]
        stat = jnp.sum(delta[None] * (xt - mid_target), axis=(1, 2))
        stat_diff = jnp.sum(delta[None] * ((xt - xr_) - mid_diff), axis=(1, 2))
        cw_label = labels > 0
        return jnp.sum((stat > 0) == cw_label), jnp.sum((stat_diff > 0) == cw_label)

    ideal, diff = jax.lax.map(one, jax.random.split(key, n_chunks))
    return jnp.sum(ideal), jnp.sum(diff)


def test_ideal_observer_matches_monte_carlo_at_three_dprime_levels(key):
    """1e5 sampled trials per level (16 px, quantised templates): within 3 SE, both observers."""
    t = stimuli.pair_templates(30.0, 2.0, 5.0, 4.0, size=16, quantize=True)
    triplet = _triplet(t)
    distance = float(jnp.linalg.norm(t.clockwise - t.counterclockwise))
    n_chunks, chunk = 10, 10_000
    n = n_chunks * chunk
    for level, target in enumerate((0.8, 1.6, 3.0)):
        contrast = 0.5
        condition = Condition.create(30.0, 2.0, 5.0, contrast, contrast * distance / target)
        d_ideal = float(ps.template_dprime(triplet, condition.contrast, condition.noise_sd))
        d_diff = float(
            ps.template_dprime(
                triplet, condition.contrast, condition.noise_sd, observer="difference"
            )
        )
        np.testing.assert_allclose(d_ideal, target, rtol=1e-5)
        k_ideal, k_diff = _simulate(
            jax.random.fold_in(key, level), triplet, condition, n_chunks, chunk
        )
        for k, d in ((k_ideal, d_ideal), (k_diff, d_diff)):
            pc = float(ps.percent_correct(d))
            se = math.sqrt(pc * (1 - pc) / n)
            assert abs(int(k) / n - pc) < 3 * se, (target, int(k) / n, pc, se)


def test_ideal_observer_of_a_condition_matches_monte_carlo_at_67px(key):
    """The Condition/TrainConfig path on the trained triplet of make_templates (4000 trials)."""
    condition = Condition.create(45.0, 0.5, 30.0, 0.2, 45.0)  # d' ~ 1.4
    io = ps.ideal_observer(condition, config=CFG67)
    triplet = train.make_templates(condition, config=CFG67)["test"][0]
    k_ideal, _ = _simulate(key, triplet, condition, 2, 2_000)
    pc = float(io.accuracy[0])
    se = math.sqrt(pc * (1 - pc) / 4_000)
    assert 0.6 < pc < 0.9
    assert abs(int(k_ideal) / 4_000 - pc) < 3 * se


def _continuum_dprime(size, wavelength_px, sigma_px, angle, sep_deg, contrast, noise_sd):
    r"""Small-separation d' from the continuum integral of the Gabor's orientation derivative.

    :math:`\int (\partial G/\partial\theta)^2 = k^2 \pi s^4 (1 - e^{-k^2 s^2}) / 4`, with the
    0-255 rescaling factor of the min-max normalisation taken from a NumPy Gabor.
    """
    c = (size - 1) / 2.0
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    x, y = cols - c, c - rows
    a = np.deg2rad(angle)
    xr_ = np.cos(a) * x - np.sin(a) * y
    g = np.exp(-(x * x + y * y) / (2 * sigma_px**2)) * np.cos(
        2 * stimuli.ORIGINAL_PI / wavelength_px * xr_
    )
    scale = 255.0 / (g.max() - g.min())
    k = 2 * stimuli.ORIGINAL_PI / wavelength_px
    norm = k * sigma_px**2 * math.sqrt(math.pi / 4 * (1 - math.exp(-((k * sigma_px) ** 2))))
    return contrast * scale * 2 * np.deg2rad(sep_deg) * norm / noise_sd


@pytest.mark.parametrize(
    ("size", "wavelength", "contrast", "noise"),
    [(67, 30.0, 0.2, 15.0), (227, 10.0, 0.2, 15.0), (67, 20.0, 0.5, 10.0)],
)
def test_dprime_matches_the_continuum_closed_form(size, wavelength, contrast, noise):
    config = TrainConfig(image_size=size, quantize=False)
    condition = Condition.create(0.0, 0.5, wavelength, contrast, noise)
    d = float(ps.ideal_observer(condition, config=config).dprime[0])
    expected = _continuum_dprime(
        size, wavelength * config.scale, 50.0 * config.scale, 0.0, 0.5, contrast, noise
    )
    np.testing.assert_allclose(d, expected, rtol=0.03)


def test_scaling_laws_contrast_noise_observer_and_zero_noise():
    base = ps.ideal_observer(Condition.create(0.0, 1.0, 30.0, 0.2, 15.0), config=CFG67)
    double_c = ps.ideal_observer(Condition.create(0.0, 1.0, 30.0, 0.4, 15.0), config=CFG67)
    half_n = ps.ideal_observer(Condition.create(0.0, 1.0, 30.0, 0.2, 7.5), config=CFG67)
    diff = ps.ideal_observer(
        Condition.create(0.0, 1.0, 30.0, 0.2, 15.0), config=CFG67, observer="difference"
    )
    np.testing.assert_allclose(double_c.dprime, 2 * base.dprime, rtol=1e-5)
    np.testing.assert_allclose(half_n.separation_dprime, 2 * base.separation_dprime, rtol=1e-5)
    np.testing.assert_allclose(diff.dprime, base.dprime / math.sqrt(2), rtol=1e-5)
    np.testing.assert_allclose(base.accuracy, sps.norm.cdf(np.asarray(base.dprime) / 2), atol=1e-6)
    # d' grows with the test separation (finer is harder), nearly linearly at small angles
    sd = np.asarray(base.separation_dprime[0])
    assert np.all(np.diff(sd[:3]) > 0)
    np.testing.assert_allclose(sd[1] / sd[0], 2.0, rtol=0.05)
    silent = ps.ideal_observer(Condition.create(0.0, 1.0, 30.0, 0.2, 0.0), config=CFG67)
    assert np.all(np.isinf(silent.dprime)) and np.all(np.asarray(silent.accuracy) == 1.0)


def test_pair_distance_and_the_threshold_kernel_use_the_training_templates():
    condition = Condition.create(135.0, 2.0, 20.0, 0.3, 5.0)
    templates = train.make_templates(condition, config=CFG67)
    dist = ps.pair_distance(condition, config=CFG67)
    expected = np.linalg.norm(
        np.asarray(templates["separation"][:, :, 1], np.float64)
        - np.asarray(templates["separation"][:, :, 2], np.float64),
        axis=(-2, -1),
    )
    np.testing.assert_allclose(np.asarray(dist["separation"]), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(dist["test"]), expected[:, 2], rtol=1e-5)  # sep 2.0
    d, acc = ps.ideal_curve(condition, CFG67.test_separations, config=CFG67, test="sf*2")
    io = ps.ideal_observer(condition, config=CFG67)
    np.testing.assert_allclose(d, np.asarray(io.separation_dprime[4]), rtol=1e-5)
    np.testing.assert_allclose(acc, np.asarray(io.separation_accuracy[4]), atol=1e-6)


def test_batch_equals_a_loop_and_does_not_recompile():
    grid = [(0.0, 0.5, 30.0, 0.2, 15.0), (45.0, 1.0, 20.0, 0.5, 10.0), (90.0, 5.0, 40.0, 0.3, 5.0)]
    conds = [Condition.create(*g) for g in grid]
    batch = ps.ideal_observer_batch(train.stack_conditions(conds), config=CFG67, batch_size=2)
    for i, c in enumerate(conds):
        one = ps.ideal_observer(c, config=CFG67)
        for a, b in zip(one, batch, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b[i]), rtol=1e-5)
    before = ps._observer_jit._cache_size()
    ps.ideal_observer(Condition.create(10.0, 3.0, 25.0, 0.4, 12.0), config=CFG67)
    assert ps._observer_jit._cache_size() == before


def test_dprime_table_matches_the_observer_and_deduplicates():
    conds = [
        Condition.create(0.0, 0.5, 30.0, 0.2, 15.0),
        Condition.create(0.0, 0.5, 30.0, 0.4, 5.0),  # same templates, other c / sigma
        Condition.create(90.0, 2.0, 20.0, 0.5, 10.0),
    ]
    table = ps.dprime_table(conds, config=CFG67, transfer=True, thresholds=True)
    assert len(table) == 3 and (table.image_size == 67).all()
    np.testing.assert_allclose(table.wavelength_image_px, table.wavelength_px * 67 / 227)
    for i, c in enumerate(conds):
        row = table.iloc[i]
        io = ps.ideal_observer(c, config=CFG67)
        np.testing.assert_allclose(row["dprime"], float(io.dprime[0]), rtol=1e-5)
        np.testing.assert_allclose(row["ideal_accuracy"], float(io.accuracy[0]), atol=1e-6)
        for k, name in enumerate(train.TEST_CONDITIONS[1:], start=1):
            np.testing.assert_allclose(row[f"dprime_{name}"], float(io.dprime[k]), rtol=1e-5)
        _, pc = ps.ideal_curve(c, [row["ideal_threshold_deg"]], config=CFG67)
        np.testing.assert_allclose(pc[0], 0.75, atol=0.01)  # quantised: a step function
    np.testing.assert_allclose(table.dprime[1], table.dprime[0] * (0.4 / 5) / (0.2 / 15), rtol=1e-5)
    batched = ps.dprime_table(train.stack_conditions(conds), config=CFG67)
    np.testing.assert_allclose(batched.dprime, table.dprime)


def test_ideal_threshold_solves_the_criterion_and_is_linear_at_small_angles():
    condition = Condition.create(30.0, 1.0, 30.0, 0.2, 15.0)
    t = ps.ideal_threshold(condition, config=CFG67)
    _, pc = ps.ideal_curve(condition, [t], config=CFG67)
    np.testing.assert_allclose(pc[0], 0.75, atol=2e-3)  # quantised templates: small steps
    d_half, _ = ps.ideal_curve(condition, [0.5], config=CFG67)
    # nearly linear: quantisation adds a little template difference at tiny angles (3 % here)
    np.testing.assert_allclose(t, 0.5 * 2 * sps.norm.ppf(0.75) / d_half[0], rtol=0.05)
    t90 = ps.ideal_threshold(condition, config=CFG67, criterion=0.9)
    assert t90 > t
    assert math.isnan(
        ps.ideal_threshold(Condition.create(30.0, 1.0, 30.0, 0.01, 1e5), config=CFG67)
    )


# --------------------------------------------------------------------------------------------
# Psychometric fits

SEPS = np.array([0.5, 1.0, 2.0, 5.0, 10.0])


@pytest.mark.parametrize("model", ps.MODELS)
def test_psychometric_function_closed_forms(model):
    np.testing.assert_allclose(ps.psychometric_function(3.0, 3.0, 2.0, model=model), 0.75)
    p = ps.psychometric_function(np.array([1e-6, 1e6]), 3.0, 2.0, 0.04, model=model)
    np.testing.assert_allclose(p, [0.5, 0.96], atol=1e-6)
    # the Weibull of linear separation: 1 - exp(-(s / alpha)^beta)
    if model == "weibull":
        alpha = 3.0 / math.log(2.0) ** 0.5
        s = np.array([0.7, 2.0, 6.0])
        np.testing.assert_allclose(
            ps.psychometric_function(s, 3.0, 2.0),
            0.5 + 0.5 * (1 - np.exp(-((s / alpha) ** 2))),
            rtol=1e-12,
        )
    else:
        s = np.array([0.7, 2.0, 6.0])
        mu = math.log(3.0) - sps.norm.ppf(0.5) / 2.0
        np.testing.assert_allclose(
            ps.psychometric_function(s, 3.0, 2.0, model=model),
            0.5 + 0.5 * sps.norm.cdf(2.0 * (np.log(s) - mu)),
            rtol=1e-12,
        )


@pytest.mark.parametrize("model", ps.MODELS)
def test_fits_recover_planted_thresholds_with_sensible_coverage(model):
    rng = np.random.default_rng(11)
    planted = 1.7
    p = ps.psychometric_function(SEPS, planted, 2.0, model=model)
    covered, estimates = 0, []
    n_seeds = 30
    for _ in range(n_seeds):
        acc = rng.binomial(100, p) / 100
        fit = ps.fit_psychometric(SEPS, acc, 100, model=model)
        covered += fit.ci_low <= planted <= fit.ci_high
        estimates.append(fit.threshold)
        assert fit.in_range and fit.ci_low < fit.threshold < fit.ci_high
    # nominal 95 %: P(fewer than 25 of 30 | 0.95) < 0.02
    assert covered >= 25, covered
    np.testing.assert_allclose(np.median(estimates), planted, rtol=0.1)
    exact = ps.fit_psychometric(SEPS, p, 1e6, model=model)
    np.testing.assert_allclose([exact.threshold, exact.slope], [planted, 2.0], rtol=1e-3)
    assert exact.deviance < 1e-3


def test_bootstrap_interval_and_a_fitted_lapse():
    rng = np.random.default_rng(3)
    p = ps.psychometric_function(SEPS, 2.0, 2.5)
    acc = rng.binomial(200, p) / 200
    prof = ps.fit_psychometric(SEPS, acc, 200)
    boot = ps.fit_psychometric(SEPS, acc, 200, ci="bootstrap", n_boot=40, seed=1)
    assert boot.ci_low < boot.threshold < boot.ci_high and boot.ci_method == "bootstrap"
    assert boot.threshold == prof.threshold
    # the two intervals agree (endpoints within 10 % of the threshold, widths within 2x)
    np.testing.assert_allclose(
        [boot.ci_low, boot.ci_high], [prof.ci_low, prof.ci_high], atol=0.1 * prof.threshold
    )
    assert 0.5 < (boot.ci_high - boot.ci_low) / (prof.ci_high - prof.ci_low) < 2.0
    same = ps.fit_psychometric(SEPS, acc, 200, ci="bootstrap", n_boot=40, seed=1)
    assert same.ci_low == boot.ci_low
    seps = np.geomspace(0.2, 20, 9)
    lapsed = ps.psychometric_function(seps, 2.0, 2.5, lapse=0.04)
    fit = ps.fit_psychometric(seps, lapsed, 1e5, lapse_max=0.06, ci="none")
    np.testing.assert_allclose([fit.threshold, fit.lapse], [2.0, 0.04], rtol=1e-2)
    no_lapse = ps.fit_psychometric(seps, lapsed, 1e5, ci="none")
    assert no_lapse.loglik < fit.loglik - 10


def test_fits_of_chance_and_of_perfect_data_say_the_threshold_is_unbounded():
    chance = ps.fit_psychometric(SEPS, np.full(5, 0.5), 100)
    assert not chance.in_range and chance.ci_high == math.inf and chance.ci_low > 5.0
    perfect = ps.fit_psychometric(SEPS, np.ones(5), 100)
    assert not perfect.in_range and perfect.ci_low == 0.0 and perfect.ci_high < 0.5
    none = ps.fit_psychometric(SEPS, [0.55, 0.6, 0.7, 0.85, 0.95], 100, ci="none")
    assert math.isnan(none.ci_low) and none.ci_method == "none"
    np.testing.assert_allclose(none.predict(none.threshold), 0.75, rtol=1e-12)


def test_threshold_curves_follow_a_planted_learning_curve():
    planted = np.array([[8.0, 4.0, 2.0, 1.0], [6.0, 3.0, 1.5, 0.8]])  # (C, E)
    acc = ps.psychometric_function(SEPS[None, None], planted[..., None], 2.0)  # (C, E, S)
    acc = acc.copy()
    acc[1, 0, 2] = np.nan
    thr = ps.threshold_curves(acc, SEPS, 1e5)
    assert thr.threshold.shape == (2, 4)
    assert math.isnan(thr.threshold[1, 0]) and not thr.in_range[1, 0]
    mask = ~np.isnan(thr.threshold)
    np.testing.assert_allclose(thr.threshold[mask], planted[mask], rtol=2e-3)
    assert np.all((thr.ci_low[mask] <= planted[mask]) & (planted[mask] <= thr.ci_high[mask]))


def _results_dataset(accuracy, separations, refs):
    """A minimal results Dataset in the layout of vpl_jax.experiment.results_dataset."""
    n_cond = len(refs) * len(separations)
    ref = np.repeat(refs, len(separations)).astype(np.float32)
    sep = np.tile(separations, len(refs)).astype(np.float32)
    ones = np.ones(n_cond, np.float32)
    return xr.Dataset(
        {"accuracy": (("condition", "iteration", "test"), accuracy)},
        coords={
            "condition": np.arange(n_cond),
            "iteration": np.array([0, 10, 100]),
            "test": list(train.TEST_CONDITIONS),
            "reference_deg": ("condition", ref),
            "separation_deg": ("condition", sep),
            "wavelength_px": ("condition", 30 * ones),
            "contrast": ("condition", 0.2 * ones),
            "noise_sd": ("condition", 15 * ones),
            "learning_rate": ("condition", 1e-4 * ones),
        },
        attrs={"config": json.dumps({"train": {"test_pairs": 100000}})},
    )


def test_run_thresholds_across_training_separations():
    refs = np.array([0.0, 90.0])
    planted = np.array([[9.0, 3.0, 1.0], [7.0, 2.0, 0.9]])  # (cell, iteration)
    acc = np.zeros((len(refs) * SEPS.size, 3, 5), np.float32)
    for c in range(2):
        for e in range(3):
            acc[c * SEPS.size : (c + 1) * SEPS.size, e, :] = ps.psychometric_function(
                SEPS, planted[c, e], 2.0
            )[:, None]
    ds = _results_dataset(acc, SEPS, refs)
    cells, thr = ps.run_thresholds(ds)
    assert cells.reference_deg.tolist() == [0.0, 90.0]
    assert cells.attrs["separations"] == SEPS.tolist()
    np.testing.assert_allclose(thr.threshold, planted, rtol=1e-2)
    with pytest.raises(InputError, match="test must be one of"):
        ps.run_thresholds(ds, test="nope")
    with pytest.raises(InputError, match="exactly one per separation"):
        ps.run_thresholds(ds.isel(condition=slice(1, None)))


# --------------------------------------------------------------------------------------------
# Efficiency


def test_efficiency_closed_forms_and_its_two_definitions_agree():
    d_ideal = np.array([1.0, 2.0, 4.0])
    eta = 0.3
    acc = sps.norm.cdf(math.sqrt(eta) * d_ideal / 2)
    np.testing.assert_allclose(ps.efficiency(acc, d_ideal), eta, rtol=1e-9)
    np.testing.assert_allclose(ps.dprime_from_accuracy([0.3, 0.5]), [0.0, 0.0])
    np.testing.assert_allclose(
        ps.dprime_from_accuracy(1.0, 100), 2 * sps.norm.ppf(1 - 1 / 200), rtol=1e-12
    )
    assert np.isinf(ps.dprime_from_accuracy(1.0))
    # a network whose d' is sqrt(eta) times the ideal one, d'_ideal linear in separation: the
    # pointwise efficiency at the network's threshold equals the threshold efficiency
    slope = 3.0  # d'_ideal(s) = slope * s

    def acc_net(s):
        return sps.norm.cdf(math.sqrt(eta) * slope * s / 2)

    t_net = optimize.brentq(lambda s: acc_net(s) - 0.75, 1e-3, 10.0, xtol=1e-12)
    t_ideal = optimize.brentq(lambda s: sps.norm.cdf(slope * s / 2) - 0.75, 1e-3, 10.0, xtol=1e-12)
    np.testing.assert_allclose(
        ps.threshold_efficiency(t_net, t_ideal),
        ps.efficiency(acc_net(t_net), slope * t_net),
        rtol=1e-8,
    )
    np.testing.assert_allclose(ps.threshold_efficiency(np.inf, 1.0), 0.0)


# --------------------------------------------------------------------------------------------
# Error paths


def test_errors_name_the_parameter():
    c = Condition.create(0.0, 0.5, 30.0, 0.2, 15.0)
    batch = train.stack_conditions([c, c])
    with pytest.raises(InputError, match="observer must be one of"):
        ps.ideal_observer(c, config=CFG67, observer="bayes")
    with pytest.raises(InputError, match="condition leaves must all have shape \\(\\)"):
        ps.ideal_observer(batch, config=CFG67)
    with pytest.raises(InputError, match="shape \\(C,\\)"):
        ps.ideal_observer_batch(c, config=CFG67)
    with pytest.raises(InputError, match="batch_size"):
        ps.ideal_observer_batch(batch, config=CFG67, batch_size=0)
    with pytest.raises(InputError, match="config must be"):
        ps.ideal_observer(c, config=None)
    with pytest.raises(InputError, match="contrast"):
        bad = Condition(*(jnp.asarray(v, jnp.float32) for v in (0.0, 0.5, 30.0, 1.5, 15.0, 1e-4)))
        ps.ideal_observer(bad, config=CFG67)
    with pytest.raises(InputError, match="test must be one of"):
        ps.ideal_curve(c, [1.0], config=CFG67, test="ori+30")
    with pytest.raises(InputError, match="separations must be"):
        ps.ideal_curve(c, [-1.0], config=CFG67)
    with pytest.raises(InputError, match="noise_sd must be > 0"):
        ps.ideal_threshold(Condition.create(0.0, 0.5, 30.0, 0.2, 0.0), config=CFG67)
    with pytest.raises(InputError, match="criterion"):
        ps.ideal_threshold(c, config=CFG67, criterion=0.4)
    with pytest.raises(InputError, match="triplet must have shape"):
        ps.template_dprime(jnp.zeros((2, 5, 5)), 0.5, 1.0)
    with pytest.raises(InputError, match="conditions must be"):
        ps.dprime_table([], config=CFG67)
    with pytest.raises(InputError, match="at least 2 distinct"):
        ps.fit_psychometric([1.0, 1.0], [0.6, 0.7], 10)
    with pytest.raises(InputError, match="accuracy must be in"):
        ps.fit_psychometric(SEPS, np.full(5, 1.2), 10)
    with pytest.raises(InputError, match="accuracy must have the shape"):
        ps.fit_psychometric(SEPS, np.full(4, 0.7), 10)
    with pytest.raises(InputError, match="n_trials"):
        ps.fit_psychometric(SEPS, np.full(5, 0.7), 0)
    with pytest.raises(InputError, match="lapse_max"):
        ps.fit_psychometric(SEPS, np.full(5, 0.7), 10, lapse_max=0.3)
    with pytest.raises(InputError, match="model must be one of"):
        ps.fit_psychometric(SEPS, np.full(5, 0.7), 10, model="logistic")
    with pytest.raises(InputError, match="ci must be one of"):
        ps.fit_psychometric(SEPS, np.full(5, 0.7), 10, ci="wald")
    with pytest.raises(InputError, match="n_boot"):
        ps.fit_psychometric(SEPS, np.full(5, 0.7), 10, ci="bootstrap", n_boot=5)
    with pytest.raises(InputError, match="accuracy must have shape"):
        ps.threshold_curves(np.zeros((2, 4)), SEPS, 10)
    with pytest.raises(InputError, match="ideal_dprime"):
        ps.efficiency(0.7, 0.0)
    with pytest.raises(InputError, match="lapse"):
        ps.psychometric_function(1.0, 1.0, 1.0, lapse=0.3)


def test_disable_jit_smoke():
    t = _triplet(stimuli.pair_templates(10.0, 1.0, 6.0, 5.0, size=16))
    with jax.disable_jit():
        eager = ps.template_dprime(t, 0.5, 3.0)
        pc = ps.percent_correct(eager)
    np.testing.assert_allclose(eager, jax.jit(ps.template_dprime)(t, 0.5, 3.0), rtol=1e-6)
    np.testing.assert_allclose(pc, sps.norm.cdf(float(eager) / 2), rtol=1e-6)
