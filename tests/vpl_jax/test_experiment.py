"""Tests of vpl_jax.experiment: presets, validation, overrides, the resumable sweep and its results.

Sweeps use the ``smoke`` preset with every conv layer frozen (only the readout learns), which
keeps compile and run time to seconds while exercising the full runner.
"""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from vpl_jax import alexnet, cli, experiment, runs, train, weights

FAST = ["frozen_layers=5", "num_iterations=3", "learning_rate=0.001"]


def test_presets():
    exp1 = experiment.preset("paper-exp1")
    assert len(exp1.grid) == 2880
    assert exp1.train.num_iterations == 1000 and exp1.train.image_size == 227
    assert (
        exp1.train.eval_iterations[-3:] == (483, 695, 1000)
        and len(exp1.train.eval_iterations) == 21
    )
    assert (
        exp1.train.batch_pairs == 20
        and exp1.train.test_pairs == 200
        and exp1.train.fold_pairs == 20
    )
    tuning = experiment.preset("paper-tuning")
    assert len(tuning.grid) == 60
    assert tuning.grid.noise_sd == (15.0,) and tuning.grid.contrast == (0.2,)
    assert tuning.grid.wavelength_px == (10.0,)
    for name in ("demo", "smoke", "cpu-exp1"):
        config = experiment.preset(name)
        assert experiment.RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    table = exp1.grid.table()
    assert table["reference_deg"][0] == 0 and table["learning_rate"][0] == np.float32(1e-4)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("separation_deg=-1", r"Grid.separation_deg must hold angles > 0"),
        ("separation_deg=0", r"Grid.separation_deg must hold angles > 0"),
        ("noise_sd=-5", r"Grid.noise_sd must hold noise SDs >= 0"),
        ("contrast=0", r"Grid.contrast must hold contrasts in \(0, 1\]"),
        ("contrast=1.5", r"Grid.contrast must hold contrasts in \(0, 1\]"),
        ("no_such_key=3", r"unknown override key 'no_such_key'; known keys: .*separation_deg"),
        ("num_iterations=ten", r"bad value for num_iterations"),
        ("num_iterations=2.5", r"bad value for num_iterations"),
        ("image_size=30", r"TrainConfig.image_size must be an int in \[67, 1024\]"),
        ("image_size=4294967297", r"TrainConfig.image_size must be an int in \[67, 1024\]"),
        ("num_iterations=inf", r"bad value for num_iterations"),
        ("separation_deg=1e300", r"Grid.separation_deg must hold angles > 0 degrees"),
        ("contrast=1e-46", r"Grid.contrast must hold contrasts in \(0, 1\]"),
        ("sigma_px=1e-30", r"TrainConfig.sigma_px must be finite and >= "),
        ("test_separations=inf", r"TrainConfig.test_separations must be"),
        ("bias_lr_mult=inf", r"TrainConfig.bias_lr_mult must be finite"),
        ("wavelength_px=1e-45", r"Grid.wavelength_px must hold wavelengths"),
        ("wavelength_px=5", r"Grid.wavelength_px must hold wavelengths >= 13.6 px"),
        ("seed=-1", r"RunConfig.seed must be an int in \[0, 2\*\*31\)"),
        ("chunk_size=0", r"RunConfig.chunk_size must be an int >= 1"),
        ("separation_deg", r"must look like key=value"),
    ],
)
def test_bad_overrides_raise_naming_the_field(override, match):
    with pytest.raises(ValueError, match=match):
        experiment.apply_overrides(experiment.preset("smoke"), [override])


def test_overrides_are_parsed_and_typed():
    config = experiment.apply_overrides(
        experiment.preset("demo"),
        [
            "separation_deg=0.5,1,2",
            "num_iterations=50",
            "bias_lr_mult=1",
            "seed=3",
            "arch=caffe_alexnet",
        ],
    )
    assert config.grid.separation_deg == (0.5, 1.0, 2.0)
    assert config.train.num_iterations == 50 and isinstance(config.train.num_iterations, int)
    assert config.train.bias_lr_mult == 1.0 and config.seed == 3


def test_unknown_preset_and_wrong_weights_fail_before_compute(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'nope'; known: .*demo"):
        experiment.preset("nope")
    assert (
        cli.main(["run", "--preset", "nope", "--weights", "random:0", "--out", str(tmp_path / "x")])
        == 2
    )
    assert not (tmp_path / "x").exists()
    tv = alexnet.init_params(jax.random.key(0), alexnet.TORCHVISION_ALEXNET)
    path = weights.save(tv, tmp_path / "tv.npz", arch=alexnet.TORCHVISION_ALEXNET)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="torchvision_alexnet|architecture"):
        experiment.sweep(experiment.preset("smoke"), out_dir=out, weights=str(path), progress=False)
    assert not out.exists()  # nothing was written or computed
    with pytest.raises(ValueError):
        experiment.sweep(
            experiment.preset("smoke"), out_dir=out, weights=str(tmp_path / "missing.npz")
        )
    assert not out.exists()


def _fast_config(**kw):
    return experiment.apply_overrides(
        experiment.preset("smoke"), FAST + [f"{k}={v}" for k, v in kw.items()]
    )


def test_interrupted_and_resumed_sweep_equals_uninterrupted(tmp_path):
    config = _fast_config()
    assert config.num_chunks == 2
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        experiment.sweep(config, out_dir=a, weights="random:0", progress=False, max_chunks=1)
        is None
    )
    assert (a / "checkpoints" / "chunk_00000.json").exists()
    assert not (a / "checkpoints" / "chunk_00001.json").exists() and not (a / "results.nc").exists()
    resumed = experiment.sweep(config, out_dir=a, weights="random:0", progress=False)
    sets = [a for item in FAST for a in ("--set", item)]
    args = ["run", "--preset", "smoke", "--weights", "random:0", "--out", str(b), "--quiet"]
    assert cli.main([*args, *sets, "--no-analysis"]) == 0
    fresh = runs.load_results(b)
    for name in resumed.data_vars:
        np.testing.assert_array_equal(resumed[name].values, fresh[name].values)
    assert resumed.attrs["weights_random"] == 1 and fresh.attrs["weights"] == "random:0"
    assert (b / "summary.txt").read_text().startswith("preset smoke")
    assert "RANDOM" in (b / "summary.txt").read_text()
    assert (b / "learning_curves.png").stat().st_size > 10_000
    assert json.loads((b / "config.json").read_text())["run"] == config.to_dict()
    # labelled results: select by names
    acc = fresh.accuracy.sel(test="trained", iteration=0)
    np.testing.assert_array_equal(acc.values, 0.5)
    assert fresh.layer_change.sel(layer="readout", measure="d_rel1").isel(iteration=-1).min() > 0
    assert list(fresh.reference_deg.values) == [0.0, 90.0]
    final = experiment.load_final_params(b, 1)
    assert final["readout"]["w"].shape == (256,)
    # a folder holding another run is refused
    with pytest.raises(ValueError, match="different run"):
        experiment.sweep(_fast_config(seed=1), out_dir=b, weights="random:0", progress=False)


def _corrupt_data(chunk: Path) -> None:
    files = sorted(p for p in chunk.rglob("*") if p.is_file() and p.parent.name == "d")
    assert files, list(chunk.rglob("*"))
    for f in files:
        data = bytearray(f.read_bytes())
        data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
        f.write_bytes(bytes(data))


def test_corrupted_checkpoint_is_a_clear_error(tmp_path):
    config = _fast_config()
    out = tmp_path / "run"
    experiment.sweep(config, out_dir=out, weights="random:0", progress=False)
    chunk = out / "checkpoints" / "chunk_00000"
    _corrupt_data(chunk)
    with pytest.raises(runs.CheckpointError, match=r"chunk_00000.*(corrupted|sha256)"):
        experiment.sweep(config, out_dir=out, weights="random:0", progress=False)
    # a manifest that does not match is refused too
    other = out / "checkpoints" / "chunk_00001.json"
    manifest = json.loads(other.read_text())
    first = next(iter(manifest["sha256"]))
    manifest["sha256"][first] = "0" * 64
    other.write_text(json.dumps(manifest))
    with pytest.raises(runs.CheckpointError, match="chunk_00001"):
        experiment.load_final_params(out, 1)


def test_grid_conditions_and_train_condition_validation():
    grid = experiment.Grid(
        reference_deg=(0.0, 45.0),
        separation_deg=(1.0,),
        wavelength_px=(20.0,),
        contrast=(0.5,),
        noise_sd=(5.0,),
    )
    conds = grid.conditions()
    assert isinstance(conds, train.Condition) and conds.reference_deg.shape == (2,)
    np.testing.assert_array_equal(conds.reference_deg, [0.0, 45.0])
    with pytest.raises(ValueError, match="Grid.wavelength_px"):
        experiment.Grid(
            reference_deg=(0.0,),
            separation_deg=(1.0,),
            wavelength_px=(-2.0,),
            contrast=(0.5,),
            noise_sd=(5.0,),
        )


def test_out_dir_that_is_a_file_or_empty_is_refused_before_anything(tmp_path):
    config = _fast_config()
    afile = tmp_path / "a_file"
    afile.write_text("x")
    with pytest.raises(runs.RunFolderError, match="exists and is not a folder"):
        experiment.sweep(config, out_dir=afile, weights="random:0", progress=False)
    with pytest.raises(runs.RunFolderError, match="empty path"):
        experiment.sweep(config, out_dir="", weights="random:0", progress=False)
    assert afile.read_text() == "x"


def test_chunks_know_which_config_produced_them(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    config_a = _fast_config()
    config_b = _fast_config(noise_sd=7)
    experiment.sweep(config_a, out_dir=a, weights="random:0", progress=False)
    experiment.sweep(config_b, out_dir=b, weights="random:0", progress=False)
    manifest = runs.read_manifest(runs.chunk_path(a, 1))
    assert manifest["provenance"] == {
        "config_sha256": experiment.config_sha256(config_a),
        "weights_sha256": manifest["provenance"]["weights_sha256"],
        "chunk": 1,
        "conditions": [1],
    }
    # a chunk of run A copied into run B is refused, naming both hashes
    for suffix in ("", ".json"):
        src = Path(str(runs.chunk_path(a, 0)) + suffix)
        dst = Path(str(runs.chunk_path(b, 0)) + suffix)
        if src.is_dir():
            shutil.rmtree(dst)
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
    with pytest.raises(
        runs.CheckpointError, match=r"chunk_00000 was produced by another run \(config_sha256"
    ):
        experiment.sweep(config_b, out_dir=b, weights="random:0", progress=False)
    # one chunk of run A copied over another chunk of run A is refused too
    for suffix in ("", ".json"):
        src = Path(str(runs.chunk_path(a, 1)) + suffix)
        dst = Path(str(runs.chunk_path(a, 0)) + suffix)
        if src.is_dir():
            shutil.rmtree(dst)
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
    with pytest.raises(runs.CheckpointError, match=r"another run \(chunk 1, this run 0\)"):
        experiment.sweep(config_a, out_dir=a, weights="random:0", progress=False)
    # a folder with chunks but without its config record is refused
    runs.config_path(b).unlink()
    with pytest.raises(runs.RunFolderError, match="holds chunk checkpoints but no config.json"):
        experiment.sweep(config_a, out_dir=b, weights="random:0", progress=False)


def test_results_file_is_checked_on_load(tmp_path):
    out = tmp_path / "run"
    ds = experiment.sweep(_fast_config(), out_dir=out, weights="random:0", progress=False)
    np.testing.assert_array_equal(runs.load_results(out).accuracy.values, ds.accuracy.values)
    path = runs.results_path(out)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(runs.CheckpointError, match="does not match its sha256"):
        runs.load_results(out)


def test_a_diverging_condition_is_flagged_and_the_healthy_one_is_not(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["sweep", "--preset", "smoke", "--weights", "random:0", "--out", str(out), "--quiet"]
    sets = ["frozen_layers=5", "num_iterations=3", "learning_rate=0.001,1e30", "reference_deg=0"]
    assert cli.main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    ds = runs.load_results(out)
    assert ds.finite.dims == ("condition", "iteration")
    assert ds.finite.values[0].all() and not ds.finite.values[1].all()
    assert ds.finite.values[1, 0] == 1  # before training everything is finite
    table = experiment.health_table(ds)
    assert list(table.condition) == [1] and "non-finite" in table.problem.iloc[0]
    assert "condition 1 (ref 0 deg, sep 10 deg): non-finite" in capsys.readouterr().err


def test_health_flags_on_planted_metrics():
    c, e = 3, 4
    acc = np.full((c, e, 5), 0.7)
    change = np.full((c, e, 6, 4), 0.01)
    loss = np.full((c, e), 0.5)
    loss[:, 0] = np.nan
    acc[2, 2, 3] = np.nan  # condition 2 goes non-finite at the third evaluation point
    change[1, :, :5] = 0.0  # condition 1: nothing below the readout moved ...
    acc[1, -1, 0] = 1.0  # ... and the readout saturated: degenerate
    flags = train.health(acc, change, loss)
    np.testing.assert_array_equal(flags["finite"][2], [1, 1, 0, 1])
    assert flags["finite"][:2].all()
    np.testing.assert_array_equal(flags["degenerate"], [0, 1, 0])
    # the same numbers with conv1-5 frozen on purpose are not degenerate
    np.testing.assert_array_equal(
        train.health(acc, change, loss, frozen_layers=5)["degenerate"], [0, 0, 0]
    )
    # saturation without frozen change is learning, not degeneracy
    acc[0, -1, 0] = 1.0
    assert train.health(acc, change, loss)["degenerate"][0] == 0


def test_stimulus_sizes_recorded_in_both_units_and_old_records_still_load(tmp_path):
    from vpl_jax import stimuli

    smoke = experiment.preset("smoke")
    record = smoke.to_dict()
    assert "size_units" not in record["train"]  # paper units: the record of every earlier run
    old = json.loads(json.dumps(record))
    assert experiment.RunConfig.from_dict(old) == smoke
    sizes = smoke.stimulus_sizes()
    assert sizes["size_units"] == "paper" and sizes["paper_px"]["wavelength_px"] == [20.0]
    assert sizes["image_px"]["wavelength_px"] == [pytest.approx(stimuli.paper_px(20.0, 67))]
    assert sizes["image_px"]["sigma_px"] == pytest.approx(stimuli.paper_px(50.0, 67))
    # the same run stated in pixels of the image: same sizes drawn, recorded in both units
    image = experiment.apply_overrides(
        smoke,
        [
            "size_units=image",
            f"wavelength_px={stimuli.paper_px(20.0, 67)!r}",
            f"sigma_px={stimuli.paper_px(50.0, 67)!r}",
        ],
    )
    assert image.to_dict()["train"]["size_units"] == "image"
    assert experiment.RunConfig.from_dict(json.loads(json.dumps(image.to_dict()))) == image
    other = image.stimulus_sizes()
    for units in ("image_px", "paper_px"):
        np.testing.assert_allclose(
            other[units]["wavelength_px"], sizes[units]["wavelength_px"], rtol=1e-12
        )
        assert other[units]["sigma_px"] == pytest.approx(sizes[units]["sigma_px"], rel=1e-12)
    with pytest.raises(ValueError, match=r"wavelengths >= 4 px of the 67-px image"):
        experiment.apply_overrides(image, ["wavelength_px=3"])
    # the run folder's config.json records both
    out = tmp_path / "run"
    experiment.prepare(_fast_config(), out_dir=out, weights="random:0")
    written = runs.read_config_record(out)
    assert written["stimulus_sizes"] == _fast_config().stimulus_sizes()
    assert experiment.RunConfig.from_dict(written["run"]) == _fast_config()


def test_open_results_selects_conditions_by_grid_values_and_keeps_the_file(tmp_path):
    config = experiment.apply_overrides(
        experiment.preset("smoke"), ["reference_deg=0,45,90", "separation_deg=0.5,10"]
    )
    n, tc = len(config.grid), config.train
    rng = np.random.default_rng(0)
    sizes = {
        "condition": n,
        "iteration": len(tc.eval_iterations),
        "test": 5,
        "layer": 6,
        "measure": 4,
        "test_separation": len(tc.test_separations),
    }
    results = {
        k: rng.random([sizes[d] for d in dims]).astype(np.float32)
        for k, dims in train.RESULT_DIMS.items()
    }
    info = {
        "source": "random:0",
        "requested": "random:0",
        "random": True,
        "sha256": "x",
        "note": "",
    }
    ds = experiment.results_dataset(config, results, info)
    out = tmp_path / "run"
    out.mkdir()
    path = runs.save_results(out, ds)
    written = path.read_bytes()
    indexed = experiment.open_results(out)
    assert path.read_bytes() == written  # reading adds the index, the file is unchanged
    table = config.grid.table()
    for ref in (0.0, 45.0, 90.0):
        for sep in (0.5, 10.0):
            want = np.nonzero((table["reference_deg"] == ref) & (table["separation_deg"] == sep))
            got = indexed.sel(reference_deg=ref, separation_deg=sep)
            np.testing.assert_array_equal(got.condition_number.values, want[0])
            np.testing.assert_array_equal(got.accuracy.values, results["accuracy"][want[0]])
    one = indexed.sel(reference_deg=45, separation_deg=0.5, learning_rate=1e-4, wavelength_px=20,
                      contrast=0.5, noise_sd=5)  # fmt: skip
    assert "condition" not in one.accuracy.dims  # every field named: one condition
    # positional access and the plain file still work; the indexed Dataset can be written back
    assert experiment.index_conditions(indexed) is indexed
    assert indexed.isel(condition=3).condition_number.item() == 3
    plain = runs.load_results(out)
    np.testing.assert_array_equal(plain.condition.values, np.arange(n))
    indexed.reset_index("condition").to_netcdf(tmp_path / "again.nc")
    with pytest.raises(ValueError, match="not a results Dataset"):
        experiment.index_conditions(plain.drop_vars("noise_sd"))
