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
