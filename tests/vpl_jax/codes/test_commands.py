"""Tests for vpl_jax.codes.commands: the parser and an end-to-end tiny label-noise run."""

import argparse
import json

import pytest

from theory.checks import InputError
from vpl_jax.codes import commands


def _parser():
    p = argparse.ArgumentParser(prog="vpl-jax")
    commands.register(p.add_subparsers(dest="command", required=True))
    return p


def test_register_adds_every_sub_command():
    p = _parser()
    for argv in (
        ["codes", "fetch-photos", "--banks", "tuxpaint"],
        ["codes", "orientation", "--out", "x", "--part", "architecture", "--seeds", "10"],
        ["codes", "hue", "--out", "x", "--photos", "bundled"],
        ["codes", "label-noise", "--out", "x", "--loss", "softmax"],
    ):
        args = p.parse_args(argv)
        assert callable(args.handler)
    with pytest.raises(SystemExit):
        p.parse_args(["codes", "label-noise", "--out", "x", "--loss", "mse"])


def test_label_noise_command_writes_summary_and_figure_and_refuses_other_settings(tmp_path, capsys):
    p = _parser()
    argv = [
        "codes",
        "label-noise",
        "--out",
        str(tmp_path),
        "--quiet",
        "--conditions",
        "6c",
        "control",
        "--seeds",
        "2",
        "--steps",
        "2",
        "--record-every",
        "1",
        "--batch",
        "4",
        "--hidden",
        "8",
    ]
    args = p.parse_args(argv)
    assert args.handler(args) == 0
    summary = json.loads((tmp_path / "label_noise_sigmoid.json").read_text())["summary"]
    assert set(summary) == {"6c", "control"}
    assert (tmp_path / "codes_fig6_sigmoid.png").stat().st_size > 10_000
    assert "90/0 ratio" in capsys.readouterr().out
    args = p.parse_args([*argv[:-2], "--hidden", "16"])
    with pytest.raises(InputError, match=r"holds results of other settings"):
        args.handler(args)


def test_network_option_is_checked():
    with pytest.raises(InputError, match=r"NAME=WEIGHTS"):
        commands._parse_network("resnet18", 224)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["codes", "label-noise", "--seeds", "0"], r"--seeds must be an integer >= 1"),
        (
            ["codes", "orientation", "--part", "architecture", "--seeds", "1"],
            r"--seeds must be an integer >= 2",
        ),
        (["codes", "hue", "--steps", "0"], r"--steps must be an integer >= 1"),
    ],
)
def test_bad_values_fail_before_anything_is_written(tmp_path, argv, match):
    args = _parser().parse_args([*argv, "--out", str(tmp_path / "out")])
    with pytest.raises(InputError, match=match):
        args.handler(args)
    assert not (tmp_path / "out").exists()
