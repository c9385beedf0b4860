"""Named run sizes for the 7-layer CNN experiments, and the run itself (data, training, results).

One run trains every network of the paper's experiments in one vmapped program (see
`vpl_jax.cnn.train`): the training-dynamics network(s) (learning rate 1e-4, full augmentation),
the population (4 augmentation settings x seeds, learning rate 1e-3) and the label-corruption
networks (p = 0, 0.2, ..., 1.0, no augmentation). The ablation and shift-invariance analyses use
the population network with full augmentation and the first seed (the paper's main network).

Presets (`PRESETS`):

* ``paper``: the paper's scale for an accelerator with CIFAR-10 on disk: 200 epochs, 50 seeds x 4
  augmentation settings, 2 dynamics networks (the paper's main network and "another 7-layer CNN
  with different initializations"), 6 corruption networks (208 networks), plain vmap.
* ``cpu``: the reduced CPU run reported in ``docs/cnn.md``: the offline object set with 2,000
  training, 500 validation and 500 test images (test images are new composites of the training
  objects), 15 epochs of 62 steps, 2 seeds x 4 augmentation settings, 1 dynamics network, 6
  corruption networks (15 networks, in 3 compiled chunks of 5), BatchNorm momentum 0.8 (the
  paper's time constant in epochs: ``1 - 0.01 * 1250 / 62``).
* ``demo``: a minute-scale check of the whole pipeline on the synthetic polygon set (no download).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.cnn import data, model, train

__all__ = [
    "CORRUPTION_LEVELS",
    "DATA_FILE",
    "PRESETS",
    "Preset",
    "load_splits",
    "main_network",
    "make_splits",
    "network_table",
    "run",
]

CORRUPTION_LEVELS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
DATA_FILE = "data.npz"


@dataclasses.dataclass(frozen=True)
class Preset:
    """The size of a run.

    Attributes:
        name: preset name.
        data: ``"objects"`` (offline stamp composites; needs ``vpl-jax cnn setup``),
            ``"shapes"`` (synthetic polygons) or ``"cifar10:<path>"``.
        num_train, num_val, num_test: rendered images per split (offline sets only).
        epochs: training epochs.
        population_seeds: seeds per augmentation setting (paper: 50).
        dynamics_seeds: seeds of the learning-rate-1e-4 networks (paper: 1, plus 1 replicate).
        corruption_levels: label-corruption rates (paper: 0, 0.2, ..., 1.0).
        batching: `vpl_jax.cnn.train.TrainConfig.batching`.
        chunk_size: `vpl_jax.cnn.train.TrainConfig.chunk_size` (networks per compiled program).
        split_by: offline sets only: ``"image"`` (every split renders all objects: test images
            are new composites of known objects) or ``"object"`` (test objects are unseen).
        bn_momentum: BatchNorm running-average momentum (paper/Keras: 0.99, a time constant of
            100 steps, 0.08 of a CIFAR-10 epoch of 1,250 steps). A reduced run with short epochs
            keeps the time constant in epochs by ``1 - 0.01 * 1250 / steps_per_epoch``.
        seed: seed of the data rendering and split.
    """

    name: str
    data: str
    num_train: int
    num_val: int
    num_test: int
    epochs: int
    population_seeds: int
    dynamics_seeds: int
    corruption_levels: tuple[float, ...] = CORRUPTION_LEVELS
    batching: str = "auto"
    chunk_size: int | None = None
    split_by: str = "image"
    bn_momentum: float = 0.99
    seed: int = 0

    def __post_init__(self):
        if not (self.data in ("objects", "shapes") or self.data.startswith("cifar10:")):
            raise InputError(
                f"data must be 'objects', 'shapes' or 'cifar10:<path>', got {self.data!r}"
            )
        for name in ("num_train", "num_val", "num_test", "epochs"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.split_by not in ("image", "object"):
            raise InputError(f"split_by must be 'image' or 'object', got {self.split_by!r}")
        for name in ("population_seeds", "dynamics_seeds"):
            if int(getattr(self, name)) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.population_seeds < 1:
            raise InputError(
                f"population_seeds must be >= 1 (the main network is one), got "
                f"{self.population_seeds}"
            )

    def train_config(self) -> train.TrainConfig:
        net = model.CNNConfig(bn_momentum=self.bn_momentum)
        return train.TrainConfig(
            epochs=self.epochs, batching=self.batching, chunk_size=self.chunk_size, network=net
        )


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        "paper",
        "cifar10:~/data/cifar-10-batches-py",
        48000,
        6000,
        6000,
        200,
        50,
        2,
        batching="vectorized",
    ),
    "cpu": Preset("cpu", "objects", 2000, 500, 500, 15, 2, 1, chunk_size=5, bn_momentum=0.8),
    "demo": Preset("demo", "shapes", 640, 160, 160, 3, 1, 1, corruption_levels=(0.0, 1.0)),
}


def network_table(preset: Preset) -> list[train.Network]:
    """The networks of a run: population, then dynamics, then corruption (seeds from 0).

    Population seeds are ``0 .. S-1`` for every augmentation setting (paired initialisations);
    dynamics networks use seeds ``1000 + i`` and corruption networks ``2000 + i``.
    """
    nets = [
        train.Network("population", s, aug, 1e-3, 0.0)
        for aug in train.AUGMENTATIONS
        for s in range(preset.population_seeds)
    ]
    nets += [
        train.Network("dynamics", 1000 + i, "shift+flip", 1e-4, 0.0)
        for i in range(preset.dynamics_seeds)
    ]
    nets += [
        train.Network("corruption", 2000 + i, "none", 1e-3, float(p))
        for i, p in enumerate(preset.corruption_levels)
    ]
    return nets


def main_network(networks: list[train.Network]) -> int:
    """Index of the paper's main network: population, full augmentation, the first seed."""
    for i, n in enumerate(networks):
        if n.group == "population" and n.augmentation == "shift+flip":
            return i
    raise InputError("networks hold no population network with shift+flip augmentation")


def make_splits(preset: Preset, *, cache: str | Path | None = None) -> data.ImageSplits:
    """Build (render or load) the preset's data set."""
    key = jax.random.key(preset.seed)
    if preset.data.startswith("cifar10:"):
        return data.load_cifar10(preset.data.split(":", 1)[1], key)
    bank_key, render_key = jax.random.split(key)
    if preset.data == "shapes":
        bank = data.shape_bank(bank_key, per_class=6)
    else:
        bank = data.load_stamps(cache)
    return data.offline_dataset(
        render_key,
        bank,
        num_train=preset.num_train,
        num_val=preset.num_val,
        num_test=preset.num_test,
        split_by=preset.split_by,
    )


def _save_splits(path: Path, s: data.ImageSplits) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        **{k: getattr(s, k) for k in data.ImageSplits._fields[:6]},
        class_names=np.asarray(s.class_names),
        source=np.asarray(s.source),
    )
    tmp.replace(path)


def load_splits(out_dir: str | Path) -> data.ImageSplits:
    """The data set stored in a run folder (``data.npz``).

    Raises:
        vpl_jax.runs.RunFolderError: the file is missing or unreadable.
    """
    path = Path(out_dir) / DATA_FILE
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[k] for k in data.ImageSplits._fields[:6]]
            return data.ImageSplits(
                *arrays,
                class_names=tuple(str(c) for c in z["class_names"]),
                source=str(z["source"]),
            )
    except (OSError, ValueError, KeyError) as err:
        raise runs.RunFolderError(f"{path} is missing or unreadable ({err})") from None


def run(
    preset: Preset,
    out_dir: str | Path,
    *,
    progress: bool = False,
    stop_after: int | None = None,
    cache: str | Path | None = None,
) -> train.TrainResult:
    """Train a preset's networks into ``out_dir`` (resumable); write ``results.nc``.

    The data set is built once and stored as ``data.npz`` in the run folder, so a resumed run
    and the analysis see exactly the same images.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = out_dir / DATA_FILE
    if data_path.exists():
        splits = load_splits(out_dir)
    else:
        splits = make_splits(preset, cache=cache)
        _save_splits(data_path, splits)
    result = train.train(
        network_table(preset),
        splits,
        preset.train_config(),
        out_dir=out_dir,
        stop_after=stop_after,
        progress=progress,
    )
    result.history.attrs["preset"] = preset.name
    runs.save_results(out_dir, result.history)
    return result
