import pytest

from vpl_jax import cli


def test_help_lists_theory_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["theory", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "saxe" in out and "svd" in out


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2


def test_weights_convert_and_info_round_trip(tmp_path, capsys):
    import numpy as np

    from vpl_jax import weights

    src = tmp_path / "random.npz"
    weights.save(weights.load("random:3"), src, arch=weights.load_with_info("random:3")[1])
    dst = tmp_path / "copy.npz"
    assert cli.main(["weights", "convert", str(src), str(dst)]) == 0
    original, copied = weights.load(src), weights.load(dst)
    for layer in original:
        np.testing.assert_array_equal(original[layer]["w"], copied[layer]["w"])
        np.testing.assert_array_equal(original[layer]["b"], copied[layer]["b"])
    assert cli.main(["weights", "info", str(dst)]) == 0
    assert "conv5" in capsys.readouterr().out


def test_weights_info_on_a_missing_file_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope.caffemodel"
    assert cli.main(["weights", "info", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "nope.caffemodel" in err


def test_run_with_an_unknown_preset_fails_before_compute(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", "--preset", "nope", "--weights", "random:0", "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_sweep_with_an_unknown_override_key_fails_before_compute(tmp_path, capsys):
    args = ["sweep", "--preset", "smoke", "--weights", "random:0", "--out", str(tmp_path / "s")]
    assert cli.main([*args, "--set", "no_such_field=1"]) == 2
    assert "no_such_field" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Experiment 2 (vpl-jax run --preset smoke-exp2 / cpu-exp2 / paper-exp2)


def test_run_help_lists_the_experiment2_presets_with_their_times(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # argparse would wrap (and break names at hyphens)
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    for name in ("smoke-exp2", "cpu-exp2", "paper-exp2"):
        assert name in out
    assert "min" in out.split("cpu-exp2", 1)[1].split(")", 1)[0]  # a measured time


@pytest.mark.parametrize(
    "item, named",
    [
        ("frozen_layers=0,7", "frozen_layers"),
        ("num_iterations=ten", "num_iterations"),
        ("face_test_trials=all", "test_trials"),
        ("no_such_key=1", "no_such_key"),
    ],
)
def test_experiment2_bad_set_value_is_a_one_line_error_before_compute(
    tmp_path, capsys, item, named
):
    out = tmp_path / "run"
    argv = ["run", "--preset", "smoke-exp2", "--out", str(out), "--quiet", "--set", item]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vpl-jax: error: ")
    assert named in lines[0] and "Traceback" not in captured.err
    assert not out.exists() or not any(out.iterdir())  # nothing written


@pytest.mark.slow
def test_experiment2_run_resumes_after_a_kill_and_a_finished_run_is_a_no_op(
    tmp_path, capsys, monkeypatch
):
    """smoke-exp2 (both tasks, k = 0 and 5) with pixel-blend morphs (cheaper to compile)."""
    import numpy as np

    from vpl_jax import experiment2, runs

    out = tmp_path / "exp2"
    overrides = ["face_warp=false"]
    config = experiment2.apply_overrides(experiment2.preset("smoke-exp2"), overrides)
    plan = experiment2.chunk_plan(config)
    # A run killed after two chunks (max_chunks stops the sweep as a kill would) ...
    assert experiment2.sweep(config, out_dir=out, progress=False, max_chunks=2) is None
    first = [runs.chunk_path(out, c.index) for c in plan[:2]]
    stamps = [p.stat().st_mtime_ns for p in first]
    assert experiment2.chunk_status(config, out) == [True, True] + [False] * (len(plan) - 2)
    # ... is finished by the same command, which trains only the missing chunks.
    trained = []
    real_train_chunk = experiment2.train_chunk

    def counting_train_chunk(config, context, index, **kwargs):
        trained.append(index)
        return real_train_chunk(config, context, index, **kwargs)

    monkeypatch.setattr(experiment2, "train_chunk", counting_train_chunk)
    argv = ["run", "--preset", "smoke-exp2", "--out", str(out), "--quiet"]
    argv += [arg for item in overrides for arg in ("--set", item)]
    assert cli.main(argv) == 0
    assert trained == [c.index for c in plan[2:]]
    assert [p.stat().st_mtime_ns for p in first] == stamps
    text = capsys.readouterr().out
    assert "Experiment 2 (smoke-exp2)" in text and "[gabor]" in text and "[face]" in text
    analysis = runs.analysis_dir(out)
    assert (analysis / "figure_5.png").stat().st_size > 0
    report_text = (analysis / "report.md").read_text()
    assert "5a" in report_text and "figure_5.png" in report_text
    ds = runs.load_results(out)
    assert ds.sizes["condition"] == len(experiment2.condition_table(config))
    before = {name: ds[name].values.copy() for name in ("accuracy", "layer_change")}
    report_stamp = (analysis / "report.md").stat().st_mtime_ns

    # Rerunning the finished run trains nothing and keeps the report.
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run must not train again")

    monkeypatch.setattr(experiment2, "train_task", no_training)
    assert cli.main(argv) == 0
    assert "already there" in capsys.readouterr().out
    assert (analysis / "report.md").stat().st_mtime_ns == report_stamp
    again = runs.load_results(out)
    for name, values in before.items():
        np.testing.assert_array_equal(again[name].values, values)
