"""Tests for vpl_jax.v1.commands, bench, presets and figures: the parser, the simulate stage
through the command line, the evaluate stage on a run folder whose fits are written here (with
planted FEVs), the figures' panels and no-data notes, and the input errors before any compute."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.v1 import bench, commands, data, figures, metrics, presets


def _parser():
    parser = argparse.ArgumentParser(prog="vpl-jax")
    sub = parser.add_subparsers(dest="command", required=True)
    commands.register(sub)
    return parser


def test_parser_and_presets():
    p = _parser()
    a = p.parse_args(["v1", "fit", "--out", "x", "--preset", "paper", "--vgg-weights", "w.pth"])
    assert a.v1_command == "fit" and a.preset == "paper" and a.vgg_weights == "w.pth"
    assert a.alexnet_weights == "default" and callable(a.handler)
    assert p.parse_args(["v1", "evaluate", "--out", "x"]).v1_command == "evaluate"
    with pytest.raises(SystemExit):
        p.parse_args(["v1", "fit", "--out", "x", "--preset", "huge"])
    paper = presets.get_preset("paper")
    assert paper.sim.num_sources * 5 == 7250 and paper.sim.num_neurons == 166
    assert len(paper.vgg_layers) == 16 and paper.cnn_depths == (1, 2, 3, 4, 5)
    assert len(presets.grid(paper.vgg_grid)["sparse"]) == 64  # the 4 x 4 x 4 grid
    assert json.dumps(paper.to_record())  # JSON-able
    with pytest.raises(InputError, match=r"preset must be one of"):
        presets.get_preset("huge")


def test_simulate_command_writes_the_published_layout(tmp_path, capsys):
    out = tmp_path / "run"
    args = _parser().parse_args(
        ["v1", "simulate", "--out", str(out), "--preset", "smoke", "--quiet"]
    )
    assert args.handler(args) == 0
    d = data.load(out / bench.DATA_FILE)
    assert d.responses.shape[1] == 5 * presets.SMOKE.sim.num_sources
    assert "data in" in capsys.readouterr().out
    assert args.handler(args) == 0  # a second call reuses the data


def test_fit_checks_inputs_before_compute(tmp_path):
    with pytest.raises(InputError, match=r"data_path must be a data file; .* does not exist"):
        bench.fit_run(None, "smoke", tmp_path / "empty")
    d = tmp_path / "d.pkl"
    data.save(_tiny_data(), d)
    (tmp_path / "bad.safetensors").write_bytes(b"garbage!garbage!garbage")
    with pytest.raises(InputError, match=r"bad\.safetensors"):
        bench.fit_run(
            None, "smoke", tmp_path / "r", data_path=d, vgg_weights=tmp_path / "bad.safetensors"
        )
    assert not (tmp_path / "r" / "fits" / "lnp").exists()
    with pytest.raises(InputError, match=r"out_dir must hold fits"):
        bench.evaluate_run(tmp_path / "nothing")


def _tiny_data(n_images: int = 100, n_neurons: int = 8, seed: int = 0) -> data.V1Data:
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.5, 4, (n_images, n_neurons))
    resp = rng.poisson(np.broadcast_to(rate, (4, n_images, n_neurons))).astype(np.float32)
    return data.V1Data(
        images=rng.integers(0, 256, (n_images, 140, 140)).astype(np.float32),
        responses=resp, image_ids=np.arange(n_images) // 5,
        image_types=np.array(data.IMAGE_TYPES * (n_images // 5)),
        repetitions=np.full(n_neurons, 4), subject_id=np.ones(n_neurons),
    )  # fmt: skip


def test_evaluate_report_on_planted_fits(tmp_path):
    out = tmp_path / "run"
    d = _tiny_data()
    data.save(d, out / "d.pkl")
    split = data.split_images(d.num_images)
    preset = presets.SMOKE
    runs.write_config_record(out / "fits", {"preset": preset.to_record(), "data": str(out / "d.pkl"),
                             "vgg_weights": None, "alexnet_weights": "default"}, compare=())  # fmt: skip
    n, test = d.num_neurons, split.test
    runs.save_tree(out / "fits" / "meta", {
        "neurons": np.arange(n), "train": split.train, "val": split.val, "test": test,
        "test_types": np.array([data.IMAGE_TYPES.index(t) for t in d.image_types[test]]),
        "ratio": data.explainable_variance_ratio(d.responses),
        "train_mean": np.nanmean(d.responses[:, split.train], axis=(0, 1)),
    })  # fmt: skip
    rng = np.random.default_rng(1)
    planted = {"lnp": 0.1, "gfb": 0.4, "cnn_L1": 0.3, "cnn_L2": 0.5, "vgg_conv1_1": 0.2,
               "vgg_conv3_1": 0.55, "vgg_conv3_1_cv": 0.6, "alexnet_conv2": 0.35}  # fmt: skip
    for name, level in planted.items():
        tree = {"fev": level + 0.01 * rng.standard_normal(n),
                "test_predictions": rng.uniform(0.5, 4, (len(test), n)).astype(np.float32),
                "test_images": test, "choice": np.zeros(n, np.int64),
                "val_loss": np.zeros((1, n)), "history": np.zeros((2, 1))}  # fmt: skip
        if name == "vgg_conv3_1_cv":
            tree["readout_energy"] = np.tile(np.linspace(0.5, 1, 256), (n, 1))
        runs.save_tree(out / "fits" / name, tree)
    stim = metrics.gabor_stimuli(12, num_orientations=8, frequencies=(0.1,), num_phases=6)
    tun = metrics.insilico_tuning(lambda x: np.abs(x.reshape(len(x), -1)[:, :n]) + 1.0, stim)
    runs.save_tree(
        out / "fits" / "tuning", {f"cnn_{k}": np.asarray(v) for k, v in vars(tun).items()}
    )
    report = bench.evaluate_run(out)
    text = report.read_text()
    assert "| LNP | `lnp` | 0.1" in text and "| VGG | `vgg_conv3_1_cv` | 0.6" in text
    assert "**random**" in text
    results = json.loads((out / "analysis" / "results.json").read_text())
    pair = [r for r in results["comparison"] if (r["a"], r["b"]) == ("LNP", "VGG")][0]
    assert pair["mean_diff"] == pytest.approx(-0.5, abs=0.02)
    assert results["readout_energy_top20"] == pytest.approx(np.linspace(0.5, 1, 256)[19])
    for name in ("fig4_layers", "fig7b_depth", "fig8_models", "fig9_tuning", "fig10_transfer"):
        assert (out / "analysis" / f"{name}.png").stat().st_size > 5000


def _letters(fig) -> set[str]:
    return {t.get_text() for ax in fig.axes for t in ax.texts if len(t.get_text()) == 1}


def test_figures_letters_and_no_data_notes():
    rng = np.random.default_rng(2)
    scores = {k: rng.uniform(0, 1, 20) for k in ("LNP", "GFB", "CNN", "VGG")}
    tests = metrics.paired_tests(scores)
    fig = figures.figure_8(
        scores, oracle=rng.uniform(0.2, 0.5, 20), tests=tests, paper={"LNP": 0.163}
    )
    assert {"A", "B", "C", "D"} <= _letters(fig)
    empty = figures.figure_8({})
    assert any("no fitted models" in t.get_text() for ax in empty.axes for t in ax.texts)
    f4 = figures.figure_4({"VGG": {"conv1_1": scores["LNP"], "conv3_1": scores["VGG"]}},
                          paper={"conv3_1": 0.516})  # fmt: skip
    assert "A" in _letters(f4) and f4.axes[0].get_legend() is not None
    f9 = figures.figure_9(None, scores)
    assert any("no in-silico tuning" in t.get_text() for ax in f9.axes for t in ax.texts)
    f10 = figures.figure_10({}, ["all"], ["all"])
    assert any("no stimulus-transfer" in t.get_text() for ax in f10.axes for t in ax.texts)
    f7 = figures.figure_7b(
        [1, 2, 3], [scores["LNP"], scores["GFB"], scores["CNN"]], paper={3: 0.498}
    )
    assert "B" in _letters(f7)
