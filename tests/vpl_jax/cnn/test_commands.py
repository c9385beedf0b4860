"""The ``vpl-jax cnn`` sub-commands, on a parser built here."""

from __future__ import annotations

import argparse

import pytest

from vpl_jax.cnn import commands, presets


def _parser():
    parser = argparse.ArgumentParser(prog="vpl-jax")
    commands.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_register_adds_train_analyze_setup_layers(tmp_path):
    p = _parser()
    a = p.parse_args(
        [
            "cnn",
            "train",
            "--out",
            str(tmp_path),
            "--preset",
            "demo",
            "--epochs",
            "2",
            "--stop-after",
            "1",
        ]
    )
    assert a.handler is commands._train and a.epochs == 2 and a.stop_after == 1
    pre = commands._preset(a)
    assert pre.epochs == 2 and pre.data == "shapes" and pre.name == "demo"
    a = p.parse_args(["cnn", "analyze", "--out", str(tmp_path)])
    assert a.handler is commands._analyze and a.seed == 0
    assert p.parse_args(["cnn", "setup"]).handler is commands._setup
    with pytest.raises(SystemExit):
        p.parse_args(["cnn", "train"])  # --out is required
    with pytest.raises(SystemExit):
        p.parse_args(["cnn", "train", "--out", "x", "--preset", "huge"])


def test_layers_prints_the_table(capsys):
    args = _parser().parse_args(["cnn", "layers"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "trainable parameters: 360,106" in out
    assert "conv6" in out and "1 x 1 x 128" in out


def test_presets_are_said_exactly():
    cpu = presets.PRESETS["cpu"]
    nets = presets.network_table(cpu)
    assert len(nets) == 4 * cpu.population_seeds + cpu.dynamics_seeds + 6 == 15
    assert [n.corruption for n in nets if n.group == "corruption"] == list(
        presets.CORRUPTION_LEVELS
    )
    assert all(n.augmentation == "none" for n in nets if n.group == "corruption")
    assert all(n.learning_rate == 1e-4 for n in nets if n.group == "dynamics")
    paper = presets.PRESETS["paper"]
    assert (paper.epochs, paper.population_seeds) == (200, 50)
    assert len(presets.network_table(paper)) == 200 + 2 + 6
    main = presets.main_network(nets)
    assert nets[main].augmentation == "shift+flip" and nets[main].group == "population"
