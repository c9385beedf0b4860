"""Sizes of the V1 bench: the simulated population, the models fitted and their schedules.

* ``smoke`` -- seconds-to-a-minute: every stage once at a toy size (tests of the command line).
* ``cpu`` -- the reduced bench for a CPU (17 CPU-minutes; 70 min wall on 2 shared cores): 1,500 images, 32 neurons; the data-driven
  CNN with 16 maps (depths 1-3) and mini-batches of 64; the VGG-19 layer sweep over 8 of the 16
  convolutional layers with the paper's lambdas, a 2 x 2 x 2 lambda grid at conv3_1; capped
  schedules.
* ``paper`` -- the paper's sizes, for accelerators: 7,250 images (1,450 sources x 5 types), 166
  neurons, all 16 VGG-19 layers, the 4 x 4 x 4 lambda grid, the 32-map CNN at depths 1-5 with
  mini-batches of 256, the full schedule (lr, lr/3, lr/9, lr/27; patience 10; 100-step
  evaluations).

A preset is a frozen dataclass of static structure; the regularisation grids are tuples of
``(name, values)`` pairs (hashable), turned into arrays by `vpl_jax.v1.fit.lambda_grid`.
"""

from __future__ import annotations

import dataclasses

from theory.checks import InputError
from vpl_jax.networks import vgg
from vpl_jax.v1 import fit, models
from vpl_jax.v1.simulate import SimConfig

__all__ = ["PRESETS", "BenchPreset", "get_preset", "grid"]

Grid = tuple[tuple[str, tuple[float, ...]], ...]


def grid(g: Grid) -> dict:
    """A preset grid as ``{name: (C,) array}`` (the Cartesian product)."""
    return fit.lambda_grid(dict(g))


@dataclasses.dataclass(frozen=True)
class BenchPreset:
    """What the bench fits, and how long.

    Attributes:
        name: preset name.
        sim: the simulated population (ignored when real data are given).
        vgg_layers: VGG-19 layers of the layer sweep (Fig. 4), each with ``vgg_sweep_grid``.
        vgg_sweep_grid: lambdas of the sweep (the paper's optimum by default).
        vgg_layer: the layer of the model comparison (conv3_1).
        vgg_grid: the cross-validated lambda grid at ``vgg_layer`` (per-neuron selection).
        vgg_train: the read-out schedule.
        ablation: fit the regulariser ablation at ``vgg_layer`` (Table 1).
        factorised_grid: lambdas of the factorised read-out at ``vgg_layer`` (Table 1, row 6).
        alexnet_layers: layers of the AlexNet (bundled weights) sweep.
        lnp_grid, lnp_train: the LNP's lambdas and schedule.
        gfb_grid, gfb_train: the Gabor filter bank's.
        cnn: the data-driven CNN (its ``num_layers`` is the comparison depth, 3).
        cnn_depths: the depth sweep (Fig. 7B).
        cnn_grid, cnn_train: its lambdas and schedule.
        transfer: fit the stimulus-type transfer (Fig. 10) for ``transfer_models``.
        transfer_models: ``"vgg"`` and/or ``"cnn"``.
        tuning_orientations, tuning_phases: the in-silico Gabor grid (Fig. 9).
        feature_batch: images per feature-extraction call.
    """

    name: str
    sim: SimConfig
    vgg_layers: tuple[str, ...]
    vgg_sweep_grid: Grid
    vgg_layer: str
    vgg_grid: Grid
    vgg_train: fit.TrainConfig
    ablation: bool
    factorised_grid: Grid
    alexnet_layers: tuple[str, ...]
    lnp_grid: Grid
    lnp_train: fit.TrainConfig
    gfb_grid: Grid
    gfb_train: fit.TrainConfig
    cnn: models.CNN
    cnn_depths: tuple[int, ...]
    cnn_grid: Grid
    cnn_train: fit.TrainConfig
    transfer: bool
    transfer_models: tuple[str, ...] = ("vgg", "cnn")
    tuning_orientations: int = 16
    tuning_phases: int = 12
    feature_batch: int = 64

    def __post_init__(self):
        convs = vgg.VGG19.layer_names
        for layer in (*self.vgg_layers, self.vgg_layer):
            if layer not in convs:
                raise InputError(f"VGG layers must be conv layers of VGG-19 {convs}, got {layer!r}")
        for m in self.transfer_models:
            if m not in ("vgg", "cnn"):
                raise InputError(f"transfer_models must be 'vgg' or 'cnn', got {m!r}")
        if self.cnn.num_layers not in self.cnn_depths:
            raise InputError(
                f"cnn_depths must include the comparison depth {self.cnn.num_layers}, got "
                f"{self.cnn_depths}"
            )
        for g in (self.vgg_sweep_grid, self.vgg_grid, self.factorised_grid, self.lnp_grid,
                  self.gfb_grid, self.cnn_grid):  # fmt: skip
            grid(g)  # validates

    def to_record(self) -> dict:
        """A JSON-able description (stored in the run folder's config record)."""
        return _json_safe(dataclasses.asdict(self))


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


_PAPER_VGG = (("sparse", (0.01,)), ("laplace", (0.1,)), ("group", (0.001,)))

SMOKE = BenchPreset(
    name="smoke",
    sim=SimConfig(num_sources=24, num_neurons=6, ratio_range=(0.5, 0.6)),
    vgg_layers=("conv1_1", "conv3_1"),
    vgg_sweep_grid=_PAPER_VGG,
    vgg_layer="conv3_1",
    vgg_grid=(("sparse", (0.01, 0.1)), ("laplace", (0.1,)), ("group", (0.001,))),
    vgg_train=fit.TrainConfig(learning_rate=3e-3, batch_size=64, eval_every=20, max_steps=60),
    ablation=True,
    factorised_grid=(("sparse", (0.01,)), ("laplace", (0.0,)), ("group", (0.0,))),
    alexnet_layers=("conv2",),
    lnp_grid=(("sparse", (0.01,)), ("laplace", (0.1,))),
    lnp_train=fit.TrainConfig(learning_rate=3e-3, batch_size=64, eval_every=20, max_steps=60),
    gfb_grid=(("sparse", (0.05,)), ("laplace", (0.0,)), ("group", (0.0,))),
    gfb_train=fit.TrainConfig(learning_rate=3e-3, batch_size=64, eval_every=20, max_steps=60),
    cnn=models.CNN(num_layers=2, channels=4),
    cnn_depths=(1, 2),
    cnn_grid=(
        ("conv_smooth", (1e-4,)),
        ("conv_group", (1e-4,)),
        ("readout", (1e-4,)),
        ("nonlin", (0.0,)),
    ),  # fmt: skip
    cnn_train=fit.TrainConfig(learning_rate=1e-2, batch_size=32, eval_every=20, max_steps=40),
    transfer=True,
    tuning_orientations=8,
    tuning_phases=6,
)

CPU = BenchPreset(
    name="cpu",
    sim=SimConfig(num_sources=300, num_neurons=32),
    vgg_layers=("conv1_1", "conv2_2", "conv3_1", "conv4_1", "conv5_1"),
    vgg_sweep_grid=_PAPER_VGG,
    vgg_layer="conv3_1",
    vgg_grid=(("sparse", (0.003, 0.03)), ("laplace", (0.1,)), ("group", (0.001,))),
    vgg_train=fit.TrainConfig(
        learning_rate=1e-3, batch_size=128, eval_every=50, patience=5, max_steps=1500
    ),  # fmt: skip
    ablation=True,
    factorised_grid=(("sparse", (0.003, 0.03)), ("laplace", (0.0,)), ("group", (0.0,))),
    alexnet_layers=("conv1", "conv2", "conv3", "conv4", "conv5"),
    lnp_grid=(("sparse", (0.001, 0.01)), ("laplace", (0.01, 0.1))),
    lnp_train=fit.TrainConfig(
        learning_rate=3e-3, batch_size=256, eval_every=50, patience=5, max_steps=2000
    ),  # fmt: skip
    gfb_grid=(("sparse", (0.005, 0.05, 0.5)), ("laplace", (0.0,)), ("group", (0.0,))),
    gfb_train=fit.TrainConfig(
        learning_rate=1e-3, batch_size=256, eval_every=50, patience=5, max_steps=2000
    ),  # fmt: skip
    cnn=models.CNN(num_layers=3, channels=16),
    cnn_depths=(1, 2, 3),
    cnn_grid=(
        ("conv_smooth", (1e-4,)),
        ("conv_group", (1e-4,)),
        ("readout", (1e-4,)),
        ("nonlin", (0.0,)),
    ),  # fmt: skip
    cnn_train=fit.TrainConfig(
        learning_rate=3e-3, batch_size=64, eval_every=50, patience=5, max_steps=1200
    ),  # fmt: skip
    transfer=True,
    transfer_models=("vgg",),
)

_LOG4 = lambda lo: tuple(lo * 10.0**i for i in range(4))  # noqa: E731 -- 4 log-spaced values

PAPER = BenchPreset(
    name="paper",
    sim=SimConfig(num_sources=1450, num_neurons=166),
    vgg_layers=vgg.VGG19.layer_names,
    vgg_sweep_grid=(("sparse", _LOG4(1e-3)), ("laplace", _LOG4(1e-2)), ("group", _LOG4(1e-4))),
    vgg_layer="conv3_1",
    vgg_grid=(("sparse", _LOG4(1e-3)), ("laplace", _LOG4(1e-2)), ("group", _LOG4(1e-4))),
    vgg_train=fit.TrainConfig(learning_rate=1e-4, batch_size=256, eval_every=100, patience=10),
    ablation=True,
    factorised_grid=(("sparse", _LOG4(1e-4)), ("laplace", (0.0,)), ("group", (0.0,))),
    alexnet_layers=("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5"),
    lnp_grid=(("sparse", _LOG4(1e-4)), ("laplace", _LOG4(1e-3))),
    lnp_train=fit.TrainConfig(learning_rate=1e-4, batch_size=256, eval_every=100, patience=10),
    gfb_grid=(("sparse", (0.005, 0.05, 0.5)), ("laplace", (0.0,)), ("group", (0.0,))),
    gfb_train=fit.TrainConfig(learning_rate=1e-4, batch_size=256, eval_every=100, patience=10),
    cnn=models.CNN(num_layers=3, channels=32),
    cnn_depths=(1, 2, 3, 4, 5),
    cnn_grid=(
        ("conv_smooth", (3e-4,)),
        ("conv_group", (2.5e-4,)),
        ("readout", (2e-4,)),
        ("nonlin", (0.0,)),
    ),  # fmt: skip
    cnn_train=fit.TrainConfig(learning_rate=1e-3, batch_size=256, eval_every=100, patience=10),
    transfer=True,
    tuning_orientations=16,
    tuning_phases=12,
    feature_batch=256,
)

PRESETS: dict[str, BenchPreset] = {p.name: p for p in (SMOKE, CPU, PAPER)}


def get_preset(name: str) -> BenchPreset:
    """The preset called ``name`` (``smoke``, ``cpu``, ``paper``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"preset must be one of {sorted(PRESETS)}, got {name!r}") from None
