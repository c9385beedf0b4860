"""Tests of vpl_jax.report and vpl_jax.analysis.tuning_run: verdicts on planted effects, the
options, an Experiment 2 run folder, and the whole `vpl-jax analyze` path on a real (smoke) run
folder. The verdict rules themselves are tested in test_headlines.py."""

import json

import numpy as np
import pandas as pd
import pytest

from vpl_jax import cli, experiment, headlines, report, runs
from vpl_jax import headlines as headlines_module
from vpl_jax.analysis import experiment2, tuning_run
from vpl_jax.experiment import Grid, RunConfig, results_dataset
from vpl_jax.train import TrainConfig

WEIGHTS_INFO = {
    "source": "random:0",
    "requested": "random:0",
    "random": True,
    "sha256": "",
    "note": "",
}


def planted_ds(sign: float = 1.0, seed: int = 0):
    """A results Dataset with 4 references x 5 separations where every section-8 effect of items
    1-3 is planted with the paper's direction (``sign = 1``) or reversed (``sign = -1``)."""
    rng = np.random.default_rng(seed)
    tc = TrainConfig(
        image_size=67, num_iterations=200, num_eval_points=12, test_pairs=20, fold_pairs=10
    )
    grid = Grid(
        reference_deg=(0.0, 45.0, 90.0, 135.0),
        separation_deg=(0.5, 1.0, 2.0, 5.0, 10.0),
        wavelength_px=(20.0,),
        contrast=(0.5,),
        noise_sd=(5.0,),
    )
    config = RunConfig(preset="smoke", grid=grid, train=tc)
    sep = grid.table()["separation_deg"].astype(float)
    its = np.asarray(tc.eval_iterations, float)
    c, e = sep.size, its.size
    logs = np.log(sep)
    # accuracy: iteration-1 level and final transfer rise with log separation
    start = 0.6 + sign * 0.05 * logs
    acc = np.empty((c, e, 5))
    for j, ceiling in enumerate((0.98, 0.8, 0.7, 0.85, 0.9)):
        final = ceiling + sign * 0.03 * logs * (j > 0)
        acc[:, :, j] = final[:, None] - (final - start)[:, None] * np.exp(-its[None, :] / 30.0)
    acc[:, 0, :] = 0.5
    acc += rng.normal(0, 0.003, acc.shape)
    layers = np.arange(1, 7, dtype=float)
    amplitude = np.exp(-3.0 - sign * 1.0 * logs[:, None] - sign * 0.15 * layers[None, :])
    t0 = 60.0 - sign * 10 * logs[:, None] - 0 * layers[None, :]
    shape = 1 / (1 + np.exp(-(its[None, :, None] - t0[:, None, :]) / (0.3 * t0[:, None, :])))
    change = np.repeat(((amplitude[:, None, :]) * (shape - shape[:, :1]))[..., None], 4, axis=-1)
    change *= np.exp(rng.normal(0, 0.05, change.shape))
    test_seps = np.asarray(tc.test_separations, float)
    sep_acc = (
        0.7
        + sign * 0.05 * np.log(test_seps)[None, None, :]
        - sign * 0.02 * logs[:, None, None]
        + rng.normal(0, 0.005, (c, 5, test_seps.size))
    )
    results = {
        "accuracy": acc,
        "accuracy_sym": acc,
        "layer_change": change,
        "train_loss": np.zeros((c, e)),
        "separation_accuracy": sep_acc,
        "separation_accuracy_sym": sep_acc,
    }
    return results_dataset(
        config, {k: np.asarray(v, np.float32) for k, v in results.items()}, WEIGHTS_INFO
    )


def _verdicts(rows):
    return {r.item: r.verdict for r in rows}


def test_planted_behaviour_and_change_effects_are_reproduced_and_reversed_ones_are_not():
    good = _verdicts(
        headlines.behaviour_headlines(planted_ds(1.0))
        + headlines.plasticity_headlines(planted_ds(1.0))
    )
    bad = _verdicts(
        headlines.behaviour_headlines(planted_ds(-1.0))
        + headlines.plasticity_headlines(planted_ds(-1.0))
    )
    for item in ("1a", "1c", "1d", "1e", "2a", "3a"):
        assert good[item] == "reproduced", (item, good)
        assert bad[item] == "not reproduced", (item, bad)
    assert set(good.values()) <= {"reproduced", "not reproduced", "not testable"}


def test_a_single_separation_is_not_testable_and_never_gets_numbers():
    ds = planted_ds().isel(condition=slice(0, 1))
    rows = headlines.behaviour_headlines(ds) + headlines.plasticity_headlines(ds)
    verdicts = _verdicts(rows)
    for item in ("1a", "1c", "2c"):
        assert verdicts[item] == "not testable", (item, verdicts)


def _fisher_frame(gain_top_finest: float, floor: float = 1.0) -> pd.DataFrame:
    theta = np.linspace(-90, 90, 21)
    rows = []
    for layer_index in range(1, 6):
        for ref in (0.0, 90.0):
            base = 1.0 + 0.1 * layer_index + 0.01 * ref
            rows.append(("naive", -1, layer_index, ref, np.nan, False, base * np.ones_like(theta)))
            for n, sep in enumerate((1.0, 5.0)):
                gain = np.ones_like(theta)
                if layer_index == 5 and sep == 1.0:
                    bump = np.exp(-(theta**2) / (2 * 15.0**2))
                    gain = floor + (gain_top_finest - floor) * bump
                rows.append(("t", n, layer_index, ref, sep, True, base * gain))
    frames = [
        pd.DataFrame(
            {
                "network": net,
                "layer": f"L{li}",
                "layer_index": li,
                "reference_deg": ref,
                "separation_deg": sep,
                "trained": tr,
                "orientation_rel_deg": theta,
                "fi": fi,
            }
        )
        for _, net, li, ref, sep, tr, fi in rows
    ]
    return pd.concat(frames, ignore_index=True)


def test_fisher_gains_and_verdicts_on_a_planted_gain():
    fisher = _fisher_frame(3.0)
    gains = tuning_run.fisher_gains(fisher).set_index(["layer_index", "separation_deg"])
    window = np.linspace(-90, 90, 21)
    near = np.abs(window) <= 10
    expected = np.mean(1 + 2 * np.exp(-(window[near] ** 2) / (2 * 15.0**2)))
    assert gains.loc[(5, 1.0), "log_gain"] == pytest.approx(np.log(expected), rel=1e-9)
    assert gains.loc[(1, 1.0), "log_gain"] == pytest.approx(0.0, abs=1e-12)
    verdicts = _verdicts(headlines.fisher_headlines(fisher))
    # layers 2-3 gain nothing at the finest separation: 4d fails
    assert verdicts == {
        "4a": "reproduced",
        "4b": "reproduced",
        "4c": "reproduced",
        "4d": "not reproduced",
    }
    per_net = tuning_run.fisher_network_gains(fisher)
    top = per_net[(per_net.layer_index == 5) & (per_net.separation_deg == 1.0)]
    assert len(top) == 2 and np.allclose(top.log_gain, np.log(expected))
    verdicts = _verdicts(headlines.fisher_headlines(_fisher_frame(1.0)))
    assert verdicts["4a"] == "not reproduced" and verdicts["4c"] == "not reproduced"
    # FI falls everywhere, least near TO: not a peak of the gain
    dip = _fisher_frame(0.8, floor=0.5)
    assert _verdicts(headlines.fisher_headlines(dip))["4c"] == "not reproduced"


def test_analysis_options_are_validated():
    with pytest.raises(ValueError, match="num_noise must be an int >= 2"):
        report.AnalysisOptions(num_noise=1)
    with pytest.raises(ValueError, match="num_orientations"):
        report.AnalysisOptions(num_orientations=3)
    with pytest.raises(ValueError, match="gradient must be one of"):
        report.AnalysisOptions(gradient="jacfwd")
    assert report.AnalysisOptions().tuning_gradient == "smoothed"
    assert report.AnalysisOptions(gradient="exact").tuning_gradient == "jacfwd"
    assert set(report.GRADIENT_OPTIONS.values()) == set(tuning_run.GRADIENTS)
    with pytest.raises(ValueError, match="gradient must be one of"):
        tuning_run.record_run(None, None, None, None, None, gradient="finite")


def test_analyze_an_experiment2_run_folder(tmp_path):
    """A Dataset with a ``task`` coordinate is an Experiment 2 run: Fig. 5 and items 5a-5g, the
    Experiment 1 items not testable with the reason."""
    ds = experiment2.planted_dataset(0, num_references=4)
    runs.save_results(tmp_path, ds)
    runs.write_text(runs.config_path(tmp_path), json.dumps({"run": {"preset": "exp2"}}))
    path = report.analyze(tmp_path, progress=False)
    table = pd.read_csv(path.parent / "headlines.csv").set_index("item")
    for item in ("5a", "5b", "5c", "5d", "5e", "5f", "5g"):
        assert table.loc[item, "verdict"] in headlines.VERDICTS
    assert table.loc["5g", "verdict"] == "reproduced"
    assert table.loc["1", "verdict"] == "not testable"
    assert "Experiment 2 run" in table.loc["6", "measured"]
    assert (path.parent / "figure_5.png").stat().st_size > 10_000
    assert "![figure_5](figure_5.png)" in path.read_text()


def test_analyze_rejects_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(ValueError, match="is not a finished run folder"):
        report.analyze(tmp_path)
    assert cli.main(["analyze", str(tmp_path), "--quiet"]) == 2
    assert "not a finished run folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    config = experiment.apply_overrides(experiment.preset("smoke"), ["separation_deg=1,5"])
    experiment.sweep(config, out_dir=out, weights="random:0", progress=False)
    return out


def test_vpl_jax_analyze_on_a_smoke_run_writes_the_report_and_figures(smoke_run, tmp_path):
    out = tmp_path / "analysis"
    code = cli.main(
        [
            "analyze",
            str(smoke_run),
            "--out",
            str(out),
            "--quiet",
            "--num-orientations",
            "12",
            "--num-noise",
            "3",
        ]
    )
    assert code == 0
    text = (out / "report.md").read_text()
    assert "random weights" in text and "| 5 |" in text
    assert "Tuning gradients: `paper`" in text and "Learning gate" in text
    assert "## Under the symmetrised metric" in text and "## Psychophysics" in text
    assert "silent units left out" in text
    for name in (
        "figure_2",
        "figure_3",
        "figure_4",
        "figure_6",
        "figure_7",
        "figure_8",
        "figure_9",
        "figure_10",
        "psychophysics",
    ):
        png = out / f"{name}.png"
        assert png.exists() and png.stat().st_size > 10_000, name
        assert f"![{name}]({name}.png)" in text
    headlines = pd.read_csv(out / "headlines.csv")
    assert set(headlines.verdict) <= {"reproduced", "not reproduced", "not testable"}
    # Experiment 2 is not part of this run; claims at a separation whose networks did not learn
    # are not testable and say so.
    table = headlines.set_index("item")
    assert table.loc["5", "verdict"] == "not testable"
    gate = headlines_module.learning_gate(runs.load_results(smoke_run))
    for sep in gate.separation_deg[~gate.learned]:
        item = "6a" if sep == 1.0 else "6b"
        assert "did not learn" in table.loc[item, "measured"]
    assert not table.measured.str.contains("nan, nan").any()
    units = pd.read_csv(out / "units.csv")
    # 2 naive grids + 4 trained networks (2 references x 2 separations), 1376 centre units each.
    assert len(units) == 6 * (96 + 256 + 384 + 384 + 256)
    assert set(units.trained) == {True, False}
    assert units[~units.trained].separation_deg.isna().all()
