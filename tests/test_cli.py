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
