"""Tests for vpl_jax.analysis.experiment2: t95, accuracy drops, steps, change proportions, ANOVA,
post hoc tests -- hand-computed values, planted effects and planted nulls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from theory.checks import InputError
from vpl_jax.analysis import experiment2 as e2
from vpl_jax.analysis.plasticity import CONV_LAYERS

NULL_DROPS = {"gabor": (0.0,) * 6, "face": (0.0,) * 6}
FLAT = (0.2, 0.2, 0.2, 0.2, 0.2)


@pytest.fixture(scope="module")
def paper_like():
    return e2.planted_dataset(0)


def _hand_dataset(acc_rows, ks, iterations=(0, 10, 20, 30)):
    """One Gabor unit: accuracy curves of the networks with ``ks`` frozen layers."""
    n = len(ks)
    coords = {
        "condition": np.arange(n),
        "iteration": list(iterations),
        "test": ["trained"],
        "task": ("condition", ["gabor"] * n),
        "reference": ("condition", [30.0] * n),
        "dissimilarity": ("condition", [2] * n),
        "frozen_layers": ("condition", list(ks)),
    }
    return xr.Dataset(
        {"accuracy": (("condition", "iteration", "test"), np.asarray(acc_rows)[..., None])},
        coords=coords,
    )


def test_t95_and_drops_hand_computed():
    ds = _hand_dataset(
        [[0.5, 0.9, 0.96, 0.99], [0.5, 0.8, 0.9, 0.95], [0.5, 0.7, 0.8, 0.9]], [0, 1, 2]
    )
    t95 = e2.t95_table(ds)
    assert t95.t95.tolist() == [20.0] and t95.reached.tolist() == [True]
    assert t95.final_accuracy.iloc[0] == pytest.approx(0.99)
    drops = e2.accuracy_drops(ds)
    assert drops.frozen_layers.tolist() == [1, 2]
    np.testing.assert_allclose(drops["drop"], [0.06, 0.16], atol=1e-12)
    np.testing.assert_allclose(drops.accuracy_full, [0.96, 0.96])
    # a threshold never reached: excluded (NaN) or read at the last iteration
    assert np.isnan(e2.accuracy_drops(ds, threshold=0.995)["drop"]).all()
    last = e2.accuracy_drops(ds, threshold=0.995, unreached="last")
    np.testing.assert_allclose(last["drop"], [0.04, 0.09], atol=1e-12)
    assert not last.reached.any()


def test_planted_paper_like_effects_are_found(paper_like):
    res = e2.analyze(paper_like)
    summary = res.step_summary.set_index("task")
    assert summary.loc["gabor", "largest_step"] == 3 and summary.loc["face", "largest_step"] == 5
    assert summary.loc["gabor", "onset"] == 2 and summary.loc["face", "onset"] == 4
    assert (summary.p_vs_runner_up < 0.01).all()
    assert (summary.n_units == 60).all() and (summary.n_unreached == 0).all()
    cells = res.drop_tests
    assert (cells.groupby("task").n_tests.first() == 25).all()  # the paper's 5 x 5 correction
    gabor = cells[cells.task == "gabor"]
    assert gabor[gabor.frozen_layers >= 2].significant.all()
    assert not gabor[gabor.frozen_layers == 1].significant.any()
    face = cells[cells.task == "face"]
    assert face[face.frozen_layers >= 4].significant.all()
    assert not face[face.frozen_layers <= 3].significant.any()
    for k in (0, 1):
        anova = res.anova[k].set_index("term")
        assert anova.loc["C(layer):C(task)", "p"] < 1e-4
        assert anova.loc["C(task)", "sum_sq"] == pytest.approx(0.0, abs=1e-12)  # shares sum to 1
        post = res.posthoc[k].set_index("layer")
        assert post.loc[["conv4", "conv5"], "direction"].eq("face > gabor").all()
        assert post.loc["conv2", "direction"] == "face < gabor"
        assert post.n_tests.iloc[0] == (5 if k == 0 else 4)
    assert res.full_accuracy.all_above.all()


def test_planted_gabor_impairment_from_layer_3():
    drops = {"gabor": (0.0, 0.0, 0.0, 0.2, 0.22, 0.25), "face": (0.0, 0.0, 0.0, 0.0, 0.0, 0.1)}
    res = e2.analyze(e2.planted_dataset(1, drops=drops))
    summary = res.step_summary.set_index("task")
    assert summary.loc["gabor", "largest_step"] == 3 and summary.loc["gabor", "onset"] == 3
    assert summary.loc["face", "largest_step"] == 5 and summary.loc["face", "onset"] == 5
    pooled = res.drop_tests_pooled
    assert not pooled[(pooled.task == "gabor") & (pooled.frozen_layers < 3)].significant.any()
    steps = res.steps[res.steps.task == "gabor"].set_index("frozen_layers")
    assert steps.loc[3, "significant"] and not steps.loc[2, "significant"]
    np.testing.assert_allclose(steps["mean_drop"], [0.0, 0.0, 0.2, 0.22, 0.25], atol=0.01)


def test_planted_nulls_find_nothing():
    # every family (one task's tests, one post hoc set, one ANOVA) controls its error at 1 %;
    # over 5 seeds x 2 families of each kind at most one false rejection of each kind is allowed
    counts = dict.fromkeys(["cells", "pooled", "steps", "anova", "posthoc"], 0)
    for seed in range(5):
        ds = e2.planted_dataset(seed, drops=NULL_DROPS, profiles={"gabor": FLAT, "face": FLAT})
        res = e2.analyze(ds)
        counts["cells"] += res.drop_tests.groupby("task").significant.any().sum()
        counts["pooled"] += res.drop_tests_pooled.groupby("task").significant.any().sum()
        counts["steps"] += res.steps.groupby("task").significant.any().sum()
        for k in (0, 1):
            counts["anova"] += res.anova[k].set_index("term").loc["C(layer):C(task)", "p"] < 0.01
            counts["posthoc"] += res.posthoc[k].significant.any()
        assert np.abs(res.drops["drop"]).max() < 0.06  # only the planted noise
    assert all(v <= 1 for v in counts.values()), counts


def test_drop_tests_match_scipy_and_bonferroni(paper_like):
    drops = e2.accuracy_drops(paper_like)
    table = e2.drop_tests(drops)
    row = table[(table.task == "face") & (table.frozen_layers == 4) & (table.dissimilarity == 2)]
    values = drops[
        (drops.task == "face") & (drops.frozen_layers == 4) & (drops.dissimilarity == 2)
    ]["drop"]
    want = stats.ttest_1samp(values, 0.0)
    assert row.t.iloc[0] == pytest.approx(want.statistic, rel=1e-10)
    assert row.p_bonferroni.iloc[0] == pytest.approx(min(1.0, 25 * want.pvalue), rel=1e-10)
    assert row.n.iloc[0] == 12 and row["sem"].iloc[0] == pytest.approx(stats.sem(values))


def test_change_proportions_sum_to_one_and_respect_frozen_layers(paper_like):
    p0 = e2.change_proportions(paper_like)
    sums = p0.groupby(["task", "reference", "dissimilarity"]).proportion.sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-12)
    assert sorted(set(p0.layer)) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    p1 = e2.change_proportions(paper_like, frozen_layers=1)
    assert sorted(set(p1.layer)) == ["conv2", "conv3", "conv4", "conv5"]
    np.testing.assert_allclose(
        p1.groupby(["task", "reference", "dissimilarity"]).proportion.sum(), 1.0
    )
    # conv1 of a k = 1 network did not change: its share over conv1..5 is 0
    p1_all = e2.change_proportions(paper_like, frozen_layers=1, layers=CONV_LAYERS)
    assert (p1_all[p1_all.layer == "conv1"].change == 0).all()
    p3 = e2.change_proportions(paper_like, frozen_layers=3, measure="d_m2")
    assert sorted(set(p3.layer)) == ["conv4", "conv5"]


def test_anova_interaction_matches_the_balanced_closed_form(paper_like):
    props = e2.change_proportions(paper_like)
    table = e2.proportion_anova(props).set_index("term")
    # balanced two-way design: SS_AB = n sum (m_ij - m_i. - m_.j + m..)^2, SS_E from cell means
    cell = props.groupby(["layer", "task"]).proportion
    m_ij = cell.mean().unstack()
    n = cell.size().iloc[0]
    inter = m_ij.sub(m_ij.mean(axis=1), axis=0).sub(m_ij.mean(axis=0), axis=1) + m_ij.values.mean()
    ss_ab = n * float((inter**2).values.sum())
    ss_e = float(((props.proportion - cell.transform("mean")) ** 2).sum())
    df_ab, df_e = 4, len(props) - 10
    assert table.loc["C(layer):C(task)", "sum_sq"] == pytest.approx(ss_ab, rel=1e-8)
    assert table.loc["Residual", "df"] == df_e
    assert table.loc["C(layer):C(task)", "F"] == pytest.approx(
        (ss_ab / df_ab) / (ss_e / df_e), rel=1e-8
    )


def test_untestable_cases_say_why():
    one_task = e2.planted_dataset(
        0, drops={"gabor": (0.0, 0.0, 0.1, 0.2, 0.3, 0.4)}, num_references=1
    )
    res = e2.analyze(one_task)
    assert not res.anova[0].testable.any() and "both tasks" in res.anova[0].reason.iloc[0]
    assert not res.drop_tests.testable.any()  # one reference per cell
    assert "needs 2" in res.drop_tests.reason.iloc[0]
    assert not res.posthoc[0].testable.any()
    assert res.full_accuracy.task.tolist() == ["gabor"]


def test_validation_errors(paper_like):
    with pytest.raises(InputError, match="must be an xarray.Dataset"):
        e2.t95_table({"accuracy": 1})
    with pytest.raises(InputError, match="missing \\['frozen_layers'\\]"):
        e2.t95_table(paper_like.drop_vars("frozen_layers"))
    bad = paper_like.assign_coords(
        frozen_layers=("condition", np.full(paper_like.sizes["condition"], 7))
    )
    with pytest.raises(InputError, match="frozen_layers must be in 0..5"):
        e2.t95_table(bad)
    bad = paper_like.assign_coords(task=("condition", ["cars"] * paper_like.sizes["condition"]))
    with pytest.raises(InputError, match="task must be in"):
        e2.t95_table(bad)
    dup = xr.concat([paper_like.isel(condition=[0]), paper_like.isel(condition=[0])], "condition")
    with pytest.raises(InputError, match="duplicate conditions"):
        e2.t95_table(dup)
    with pytest.raises(InputError, match="threshold must be in"):
        e2.t95_table(paper_like, threshold=0.3)
    with pytest.raises(InputError, match="test must be one of"):
        e2.t95_table(paper_like, test="ori+45")
    with pytest.raises(InputError, match="unreached must be"):
        e2.accuracy_drops(paper_like, unreached="drop")
    with pytest.raises(InputError, match="drops must be the DataFrame"):
        e2.drop_tests(pd.DataFrame({"x": [1]}))
    with pytest.raises(InputError, match="alpha must be in"):
        e2.drop_tests(e2.accuracy_drops(paper_like), alpha=2.0)
    with pytest.raises(InputError, match="frozen_layers must be in 0..4"):
        e2.change_proportions(paper_like, frozen_layers=5)
    with pytest.raises(InputError, match="layers must be a non-empty subset"):
        e2.change_proportions(paper_like, layers=["fc6"])
    with pytest.raises(InputError, match="needs the variable|must have the variable"):
        e2.change_proportions(paper_like.drop_vars("layer_change"))
    with pytest.raises(InputError, match="drops\\['face'\\] must be 6"):
        e2.planted_dataset(0, drops={"face": (0.1, 0.2)})
