"""Experiments: condition grids, presets, and the resumable sweep runner.

A run is described by a `RunConfig`: a `Grid` of conditions (the Cartesian product of reference
orientations, separations, wavelengths, contrasts, noise levels and learning rates, in that order
with the last varying fastest), a `vpl_jax.train.TrainConfig` (static structure), the number of
conditions trained together (``chunk_size``, K) and a seed. Everything is validated on
construction, so bad input fails before any weights are loaded or anything is compiled.

The runner (`sweep`) trains the grid in chunks of K conditions and stores everything through
`vpl_jax.runs` (the run folder: config record, chunk checkpoints with sha256 manifests, the
results Dataset). A killed sweep resumes by skipping finished chunks; a finished chunk that cannot
be read or fails its checksum raises `vpl_jax.runs.CheckpointError` (never silent recomputation).
Condition ``i`` always uses the key ``fold_in(key(seed), i)``, so results do not depend on K, on
resuming, or on the device count.

Examples:
    >>> from vpl_jax import experiment
    >>> config = experiment.apply_overrides(experiment.preset("smoke"), ["separation_deg=1,10"])
    >>> len(config.grid), config.grid.separation_deg
    (4, (1.0, 10.0))
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import operator
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from theory.checks import InputError
from vpl_jax import __version__, alexnet, runs, train, weights
from vpl_jax.train import PAPER_IMAGE_SIZE, Condition, TrainConfig

__all__ = [
    "Condition",
    "Grid",
    "SweepContext",
    "OVERRIDE_KEYS",
    "PRESETS",
    "RunConfig",
    "apply_overrides",
    "chunk_conditions",
    "chunk_status",
    "config_sha256",
    "health_table",
    "index_conditions",
    "load_chunk",
    "load_final_params",
    "merge",
    "open_results",
    "open_run",
    "prepare",
    "preset",
    "resolve_weights",
    "results_dataset",
    "run",
    "summary_table",
    "sweep",
    "train_chunk",
]


# --------------------------------------------------------------------------------------------
# Grid and run configuration


@dataclasses.dataclass(frozen=True)
class Grid:
    """A full-factorial grid of training conditions (tuples of floats; see `vpl_jax.train.Condition`).

    ``wavelength_px`` is in the units of the run's ``TrainConfig.size_units``: pixels of the
    paper's 227-px frame for every preset (``vpl_jax.stimuli.paper_px`` gives the pixels drawn;
    a run's ``config.json`` records both, `RunConfig.stimulus_sizes`).

    Raises:
        InputError: naming the field and its allowed range, e.g. a separation <= 0, a negative
            noise SD or a contrast outside (0, 1].
    """

    reference_deg: tuple[float, ...]
    separation_deg: tuple[float, ...]
    wavelength_px: tuple[float, ...]
    contrast: tuple[float, ...]
    noise_sd: tuple[float, ...]
    learning_rate: tuple[float, ...] = (1e-4,)

    def __post_init__(self):
        for name, rule in train.CONDITION_RANGES.items():
            values = getattr(self, name)
            if isinstance(values, int | float):
                values = (values,)
            try:
                values = tuple(float(v) for v in values)
            except (TypeError, ValueError, OverflowError):
                raise InputError(
                    f"Grid.{name} must be a sequence of numbers, got {values!r}"
                ) from None
            if not values:
                raise InputError(f"Grid.{name} must hold at least one value")
            for v in values:
                with np.errstate(over="ignore"):
                    as_trained = np.asarray(v, np.float32)  # trained in float32: 1e300 -> inf
                if not rule.ok(as_trained):
                    raise InputError(f"Grid.{name} must hold {rule.noun} {rule.allowed}, got {v!r}")
            object.__setattr__(self, name, values)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))

    def __len__(self) -> int:
        return int(np.prod([len(getattr(self, f)) for f in self.fields]))

    def table(self) -> dict[str, np.ndarray]:
        """``{field: (N,) float32}`` for the N conditions, in product order (last field fastest)."""
        rows = list(itertools.product(*(getattr(self, f) for f in self.fields)))
        cols = np.asarray(rows, np.float64).reshape(len(rows), len(self.fields)).T
        return {f: c.astype(np.float32) for f, c in zip(self.fields, cols, strict=True)}

    def conditions(self, indices: Sequence[int] | None = None) -> Condition:
        """The conditions (all, or ``indices``) as one `Condition` with leaves of shape ``(n,)``."""
        table = self.table()
        idx = np.arange(len(self)) if indices is None else np.asarray(indices)
        return Condition.create(*(table[f][idx] for f in self.fields))


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results (besides the weights).

    Attributes:
        preset: the name of the preset it was built from (informational).
        grid: the conditions.
        train: static training structure.
        chunk_size: K, conditions trained together in one compiled program; on CPU 1 is the
            fastest choice (see docs/training.md), on an accelerator as many as fit in memory.
        seed: condition ``i`` uses the key ``fold_in(key(seed), i)``.
    """

    preset: str
    grid: Grid
    train: TrainConfig
    chunk_size: int = 1
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.preset, str) or not self.preset:
            raise InputError(f"RunConfig.preset must be a non-empty name, got {self.preset!r}")
        if not isinstance(self.grid, Grid):
            raise InputError(f"RunConfig.grid must be a Grid, got {type(self.grid).__name__}")
        if not isinstance(self.train, TrainConfig):
            raise InputError(
                f"RunConfig.train must be a TrainConfig, got {type(self.train).__name__}"
            )
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise InputError(f"RunConfig.chunk_size must be an int >= 1, got {self.chunk_size!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise InputError(f"RunConfig.seed must be an int in [0, 2**31), got {self.seed!r}")
        smallest = self.train.image_px(min(self.grid.wavelength_px)) / 2  # the sf*2 test
        if smallest < 2.0:
            raise InputError(
                f"Grid.wavelength_px must hold wavelengths >= {4.0 / self.train.scale:.3g} "
                f"{self.train.units_text} at image_size {self.train.image_size} (the sf*2 "
                f"transfer test halves it; below 2 px of the image it aliases), got "
                f"{min(self.grid.wavelength_px)!r}"
            )

    @property
    def num_chunks(self) -> int:
        return -(-len(self.grid) // self.chunk_size)

    def to_dict(self) -> dict:
        """A JSON-able description (``from_dict`` inverts it).

        ``train.size_units`` appears only when it is not the default ``"paper"``, so the record
        (and `config_sha256`) of every run in the paper's units is what it was before the field
        existed; `stimulus_sizes` gives the sizes in both units.
        """
        tc = dataclasses.asdict(self.train)
        tc["arch"] = self.train.arch.name
        tc["test_separations"] = list(self.train.test_separations)
        if tc["size_units"] == "paper":
            del tc["size_units"]
        return {
            "preset": self.preset,
            "grid": {f: list(getattr(self.grid, f)) for f in self.grid.fields},
            "train": tc,
            "chunk_size": self.chunk_size,
            "seed": self.seed,
        }

    def stimulus_sizes(self) -> dict:
        """The stimulus sizes in both units: pixels of the image drawn and of the paper's frame.

        Returns:
            ``{"size_units", "image_size", "image_px": {"wavelength_px": [...], "sigma_px"},
            "paper_px": {...}}`` (the grid's wavelengths in grid order, the Gaussian SD), as
            recorded in a run's ``config.json``.
        """
        tc = self.train
        to_paper = PAPER_IMAGE_SIZE / tc.image_size if tc.size_units == "image" else 1.0
        image = [float(tc.image_px(w)) for w in self.grid.wavelength_px]
        paper = [float(w * to_paper) for w in self.grid.wavelength_px]
        return {
            "size_units": tc.size_units,
            "image_size": tc.image_size,
            "image_px": {"wavelength_px": image, "sigma_px": float(tc.sigma_image_px)},
            "paper_px": {"wavelength_px": paper, "sigma_px": float(tc.sigma_px * to_paper)},
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Inverse of `to_dict`.

        Raises:
            InputError: a malformed record (naming the missing or bad entry).
        """
        try:
            tc = dict(d["train"])
            tc["arch"] = alexnet.get_arch(tc["arch"])
            tc["test_separations"] = tuple(tc["test_separations"])
            return cls(
                preset=d["preset"],
                grid=Grid(**{k: tuple(v) for k, v in d["grid"].items()}),
                train=TrainConfig(**tc),
                chunk_size=d["chunk_size"],
                seed=d["seed"],
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise InputError(f"not a RunConfig record ({type(err).__name__}: {err})") from None


# --------------------------------------------------------------------------------------------
# Presets

_PAPER_REFS = tuple(float(a) for a in range(0, 180, 15))

#: Named runs. `preset` returns them; what the demo trades away against the paper is in
#: docs/training.md ("The demo preset").
PRESETS: dict[str, RunConfig] = {
    # Experiment 1 (the paper's section on Experiment 1): 2880 conditions x 1000 iterations at
    # 227 px; for accelerators.
    "paper-exp1": RunConfig(
        preset="paper-exp1",
        grid=Grid(
            reference_deg=_PAPER_REFS,
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(10.0, 20.0, 30.0, 40.0),
            contrast=(0.2, 0.3, 0.4, 0.5),
            noise_sd=(5.0, 10.0, 15.0),
        ),
        train=TrainConfig(),
        chunk_size=16,
    ),
    # The 60 tuning networks: noise 15, contrast 0.2, wavelength 10 px.
    "paper-tuning": RunConfig(
        preset="paper-tuning",
        grid=Grid(
            reference_deg=_PAPER_REFS,
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(10.0,),
            contrast=(0.2,),
            noise_sd=(15.0,),
        ),
        train=TrainConfig(),
        chunk_size=4,
    ),
    "demo": RunConfig(
        preset="demo",
        grid=Grid(
            reference_deg=(30.0,),
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(20.0,),
            contrast=(0.5,),
            noise_sd=(10.0,),
        ),
        train=TrainConfig(
            image_size=67,
            num_iterations=300,
            num_eval_points=12,
            test_pairs=100,
            fold_pairs=20,
        ),
    ),
    # The reduced Experiment 1, chosen by the ideal observer's d' (docs/psychophysics.md): every
    # paper separation learnable in 1000 iterations at 67 px. The paper's noise SDs 5 and 10
    # are divided by 227 / 67 so that each 67-px cell has the ideal d' of the paper's cell at
    # 227 px (d' at 0.5 deg: 62, 31, 156, 78 for the four contrast x noise cells; >= 31 for
    # every separation and every rotated test). One reference orientation; about an hour on 2
    # quiet CPU cores.
    "cpu-exp1": RunConfig(
        preset="cpu-exp1",
        grid=Grid(
            reference_deg=(30.0,),
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(20.0,),
            contrast=(0.2, 0.5),
            noise_sd=(1.476, 2.952),
        ),
        train=TrainConfig(
            image_size=67,
            num_iterations=1000,
            num_eval_points=18,
            test_pairs=100,
            fold_pairs=20,
        ),
    ),
    # The earlier reduced Experiment 1 (docs/pretrain.md, "Reduced Experiment 1"): the tuning
    # networks' stimulus (noise 15, contrast 0.2) at 4 references x the 5 separations, 67 px,
    # the paper's 1000 iterations (~50 min). Wavelength 30 px in the 227-px frame is 8.9 px at
    # 67 px. Its 0.5 and 1 deg tasks (ideal d' 4.2 and 8.3) stay at chance in 1000 iterations;
    # kept to reproduce that finding.
    "cpu-exp1-hard": RunConfig(
        preset="cpu-exp1-hard",
        grid=Grid(
            reference_deg=(0.0, 45.0, 90.0, 135.0),
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(30.0,),
            contrast=(0.2,),
            noise_sd=(15.0,),
        ),
        train=TrainConfig(
            image_size=67,
            num_iterations=1000,
            num_eval_points=18,
            test_pairs=100,
            fold_pairs=20,
        ),
    ),
    # Seconds on a CPU, for tests: tiny images, few iterations, small test sets.
    "smoke": RunConfig(
        preset="smoke",
        grid=Grid(
            reference_deg=(0.0, 90.0),
            separation_deg=(10.0,),
            wavelength_px=(20.0,),
            contrast=(0.5,),
            noise_sd=(5.0,),
        ),
        train=TrainConfig(
            image_size=67,
            num_iterations=4,
            num_eval_points=2,
            test_pairs=20,
            fold_pairs=10,
            test_separations=(1.0, 10.0),
        ),
    ),
}


def preset(name: str) -> RunConfig:
    """The `RunConfig` of a named preset (`PRESETS`).

    Raises:
        InputError: for an unknown preset, listing the known ones.
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]


# --------------------------------------------------------------------------------------------
# Overrides: parsers derived from the config field types


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _int(text: str) -> int:
    value = float(text)
    if not np.isfinite(value) or value != int(value):
        raise ValueError(f"{text!r} is not an integer")
    return int(value)


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError(f"{text!r} is not a boolean (true/false)")
    return lowered in ("true", "1")


_PARSERS_BY_TYPE: dict[object, Callable[[str], object]] = {
    int: _int,
    float: float,
    bool: _bool,
    str: str,
    tuple[float, ...]: _floats,
    alexnet.ArchSpec: alexnet.get_arch,
}


def _field_parsers(cls) -> dict[str, Callable[[str], object]]:
    hints = typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]))
    return {
        f.name: _PARSERS_BY_TYPE[hints[f.name]]
        for f in dataclasses.fields(cls)
        if hints[f.name] in _PARSERS_BY_TYPE
    }


_GRID_PARSERS = _field_parsers(Grid)
_TRAIN_PARSERS = _field_parsers(TrainConfig)
_RUN_PARSERS = _field_parsers(RunConfig)
_RUN_PARSERS.pop("preset")
OVERRIDE_KEYS: tuple[str, ...] = tuple(
    sorted(set(_GRID_PARSERS) | set(_TRAIN_PARSERS) | set(_RUN_PARSERS))
)


def apply_overrides(config: RunConfig, overrides: Sequence[str]) -> RunConfig:
    """Apply ``key=value`` overrides (e.g. ``separation_deg=1,10``, ``num_iterations=200``).

    Each key's parser follows its field's type: grid fields and ``test_separations`` take
    comma-separated numbers, ``arch`` an architecture name, ints, floats and booleans one value.
    Keys: `OVERRIDE_KEYS`.

    Raises:
        InputError: malformed item, unknown key (listing the known ones), a value of the wrong
            type, or a value outside its range (naming the field).
    """
    parts = {"grid": {}, "train": {}, "run": {}}
    for item in overrides:
        if "=" not in item:
            raise InputError(f"override {item!r} must look like key=value")
        key, text = (s.strip() for s in item.split("=", 1))
        for part, parsers in (
            ("grid", _GRID_PARSERS),
            ("train", _TRAIN_PARSERS),
            ("run", _RUN_PARSERS),
        ):
            if key in parsers:
                try:
                    parts[part][key] = parsers[key](text)
                except (ValueError, OverflowError) as err:
                    raise InputError(f"bad value for {key}: {text!r} ({err})") from None
                break
        else:
            raise InputError(
                f"unknown override key {key!r}; known keys: {', '.join(OVERRIDE_KEYS)}"
            )
    return dataclasses.replace(
        config,
        grid=dataclasses.replace(config.grid, **parts["grid"]),
        train=dataclasses.replace(config.train, **parts["train"]),
        **parts["run"],
    )


# --------------------------------------------------------------------------------------------
# Weights


def resolve_weights(source: str, arch: alexnet.ArchSpec):
    """Load ``source`` (``"default"``, a weights file, ``"random:SEED"``) for ``arch``.

    Returns:
        ``(backbone, info)`` with ``info = {"source", "requested", "random", "sha256", "note"}``.

    Raises:
        InputError: (``weights.WeightsError``) unreadable weights or weights of another
            architecture.
    """
    requested = str(source)
    params, got_arch, _ = weights.load_with_info(source, arch=arch)
    if got_arch != arch:
        raise weights.WeightsError(
            f"weights {requested!r} are for architecture {got_arch.name} "
            f"({got_arch.in_channels} input channels); the run needs {arch.name} "
            f"({arch.in_channels} input channel(s))"
        )
    info = {
        "source": str(source),
        "requested": requested,
        "random": str(source).startswith("random:"),
        "sha256": weights.params_sha256(params),
        "note": "",
    }
    return params, info


# --------------------------------------------------------------------------------------------
# Results


def results_dataset(config: RunConfig, results: dict[str, np.ndarray], weights_info: dict):
    """One labelled xarray Dataset of a run.

    Dimensions: ``condition`` (with coordinates ``reference_deg``, ``separation_deg``,
    ``wavelength_px``, ``contrast``, ``noise_sd``, ``learning_rate``), ``iteration`` (the
    evaluation iterations), ``test`` (``trained, ori+45, ori+90, sf*0.5, sf*2``), ``layer``
    (``conv1..conv5, readout``), ``measure`` (``d_rel1, d_rel2, d_m1, d_m2``) and
    ``test_separation``. Variables (`vpl_jax.train.RESULT_DIMS`): ``accuracy`` and
    ``accuracy_sym`` (condition, iteration, test), ``layer_change`` (condition, iteration, layer,
    measure), ``train_loss`` (condition, iteration), ``separation_accuracy`` and
    ``separation_accuracy_sym`` (condition, test, test_separation); and the health flags
    (`vpl_jax.train.health`, int8): ``finite`` (condition, iteration) and ``degenerate``
    (condition). Attributes: the weights used
    (``weights``, ``weights_random``, ``weights_sha256``, ``weights_note``), ``preset``,
    ``config`` (JSON) and ``vpl_jax_version``.
    """
    import xarray as xr

    tc = config.train
    table = config.grid.table()
    coords = {
        "condition": np.arange(len(config.grid), dtype=np.int32),
        "iteration": np.asarray(tc.eval_iterations, np.int32),
        "test": list(train.TEST_CONDITIONS),
        "layer": list(tc.layer_names),
        "measure": list(train.CHANGE_MEASURES),
        "test_separation": np.asarray(tc.test_separations, np.float32),
    }
    coords.update({f: ("condition", table[f]) for f in config.grid.fields})
    flags = train.health(
        results["accuracy"],
        results["layer_change"],
        results["train_loss"],
        frozen_layers=tc.frozen_layers,
    )
    variables = {k: (dims, results[k]) for k, dims in train.RESULT_DIMS.items()}
    variables.update({k: (dims, flags[k]) for k, dims in train.HEALTH_DIMS.items()})
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update(
        preset=config.preset,
        config=json.dumps(config.to_dict()),
        weights=weights_info["source"],
        weights_requested=weights_info["requested"],
        weights_random=int(weights_info["random"]),
        weights_sha256=weights_info["sha256"],
        weights_note=weights_info["note"],
        vpl_jax_version=__version__,
    )
    return ds


def index_conditions(ds):
    """The results Dataset with the grid fields as a MultiIndex on ``condition``, for ``sel``.

    ``ds.sel(reference_deg=30, separation_deg=1.0)`` then selects conditions by their grid
    values (a field left out keeps every value; naming every field drops the ``condition``
    dimension). The index levels are the grid values as typed (the float32 coordinates read back
    through their shortest decimal form, so ``learning_rate=1e-4`` matches); the condition
    numbers stay available as the coordinate ``condition_number``. netCDF cannot store a
    MultiIndex: `open_results` adds it on reading, ``results.nc`` is unchanged; write
    ``ds.reset_index("condition")`` if you need to save an indexed Dataset.

    Raises:
        InputError: ``ds`` lacks a grid coordinate (not a results Dataset).

    Examples:
        >>> import xarray as xr
        >>> table = preset("smoke").grid.table()  # references 0 and 90 deg
        >>> ds = xr.Dataset(coords={"condition": np.arange(2)} | {
        ...     f: ("condition", v) for f, v in table.items()})
        >>> index_conditions(ds).sel(reference_deg=90.0, learning_rate=1e-4).condition_number.values
        array([1])
    """
    fields = [f.name for f in dataclasses.fields(Grid)]
    missing = [f for f in fields if f not in ds.coords]
    if missing:
        raise InputError(f"not a results Dataset: no condition coordinates {missing}")
    if "condition_number" in ds.coords:
        return ds  # already indexed
    levels = {
        f: ("condition", np.asarray([float(str(v)) for v in ds[f].values], np.float64))
        for f in fields
    }
    out = ds.assign_coords(condition_number=("condition", ds["condition"].values))
    return out.drop_vars(["condition", *fields]).assign_coords(levels).set_xindex(fields)


def open_results(out_dir):
    """The results Dataset of a run folder (checked, `vpl_jax.runs.load_results`), indexed by
    its grid values (`index_conditions`): ``ds.sel(reference_deg=..., separation_deg=...)``.

    Raises:
        RunFolderError: no results file. CheckpointError: a damaged file.
    """
    return index_conditions(runs.load_results(out_dir))


def load_final_params(out_dir, condition: int) -> dict:
    """Final model params of one condition of a run folder, read from its chunk checkpoint.

    Raises:
        InputError: no such condition, or a folder that is not a run folder.
        CheckpointError: the chunk checkpoint is damaged.
    """
    config = RunConfig.from_dict(runs.read_config_record(out_dir)["run"])
    if not 0 <= int(condition) < len(config.grid):
        raise InputError(
            f"condition must be in [0, {len(config.grid) - 1}] for this run, got {condition}"
        )
    chunk, offset = divmod(int(condition), config.chunk_size)
    tree = runs.restore_tree(runs.chunk_path(out_dir, chunk))
    return jax.tree.map(lambda x: x[offset], tree["final_params"])


# --------------------------------------------------------------------------------------------
# The runner


def _advance(bar, num_conditions: int, steps: int) -> None:
    bar.update(steps * num_conditions)


def _config_record(config: RunConfig, weights_info: dict) -> dict:
    return {
        "run": config.to_dict(),
        "weights": weights_info,
        "vpl_jax_version": __version__,
        "stimulus_sizes": config.stimulus_sizes(),
    }


def config_sha256(config: RunConfig) -> str:
    """sha256 of the config's canonical JSON: what a chunk's provenance records."""
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()


def _check_out_dir(out_dir) -> Path:
    if out_dir is None or not str(out_dir).strip():
        raise runs.RunFolderError("out_dir must name a folder, got an empty path")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise runs.RunFolderError(f"out_dir {out} exists and is not a folder")
    if not runs.config_path(out).exists() and list(out.glob("checkpoints/chunk_*.json")):
        raise runs.RunFolderError(
            f"{out} holds chunk checkpoints but no {runs.CONFIG_FILE}: it cannot be told which "
            "config produced them; restore config.json or choose another output folder"
        )
    return out


def _check_provenance(path: Path, expected: dict) -> None:
    recorded = runs.read_manifest(path).get("provenance")
    if recorded is None:  # written before chunks recorded their provenance
        return
    for key, value in expected.items():
        if recorded.get(key) != value:
            raise runs.CheckpointError(
                f"checkpoint {path} was produced by another run ({key} {recorded.get(key)!r}, "
                f"this run {value!r}); delete it to recompute it, or resume with its config"
            )


class SweepContext(NamedTuple):
    """What every chunk of a sweep needs: the folder, the backbone, the weights record and the
    provenance each chunk's manifest carries."""

    out: Path
    backbone: dict
    weights_info: dict
    provenance: dict


def prepare(config: RunConfig, *, out_dir, weights: str = "default") -> SweepContext:
    """Validate the folder and the weights, and write (or check) the run's config record.

    Raises:
        InputError: a bad folder, wrong weights, or a folder holding a different run -- before
            any compute.
    """
    out = _check_out_dir(out_dir)
    backbone, weights_info = resolve_weights(weights, config.train.arch)
    runs.write_config_record(out, _config_record(config, weights_info), compare=("run", "weights"))
    provenance = {"config_sha256": config_sha256(config), "weights_sha256": weights_info["sha256"]}
    return SweepContext(out, backbone, weights_info, provenance)


def open_run(out_dir) -> tuple[RunConfig, SweepContext]:
    """The config and context of an existing run folder (for workers that train its chunks).

    The weights are loaded again from the source the record names and must have its sha256.

    Raises:
        RunFolderError: not a run folder. WeightsError: the weights changed since.
    """
    record = runs.read_config_record(out_dir)
    config = RunConfig.from_dict(record["run"])
    context = prepare(config, out_dir=out_dir, weights=record["weights"]["requested"])
    return config, context


def chunk_conditions(config: RunConfig, index: int) -> np.ndarray:
    """Condition indices of chunk ``index`` (the last chunk may be short)."""
    if not 0 <= index < config.num_chunks:
        raise InputError(f"chunk index must be in [0, {config.num_chunks - 1}], got {index}")
    k, n = config.chunk_size, len(config.grid)
    return np.arange(index * k, min((index + 1) * k, n))


def _chunk_provenance(context: SweepContext, config: RunConfig, index: int) -> dict:
    return {
        **context.provenance,
        "chunk": index,
        "conditions": chunk_conditions(config, index).tolist(),
    }


def load_chunk(config: RunConfig, context: SweepContext, index: int) -> dict:
    """Read a finished chunk, checking its provenance and checksums.

    Raises:
        CheckpointError: missing, damaged, or produced by another run.
    """
    path = runs.chunk_path(context.out, index)
    if not runs.is_finished(path):
        raise runs.CheckpointError(f"chunk {index} ({path}) has not been computed")
    _check_provenance(path, _chunk_provenance(context, config, index))
    return runs.restore_tree(path)


def _mesh(config: RunConfig):
    if jax.device_count() == 1:
        return None
    if config.chunk_size % jax.device_count():
        raise InputError(
            f"chunk_size ({config.chunk_size}) must be a multiple of the device count "
            f"({jax.device_count()})"
        )
    return train.condition_mesh()


def train_chunk(
    config: RunConfig, context: SweepContext, index: int, *, progress=None, mesh=None
) -> dict:
    """Train chunk ``index`` and write its checkpoint (idempotent: a finished chunk is read).

    Args:
        config, context: the run (`prepare` or `open_run`).
        index: the chunk.
        progress: optional callback with the number of iterations just done (blocks the host
            after every step; leave it out on accelerators unless a bar is shown).
        mesh: optional device mesh (default: all local devices when there are several).

    Returns:
        The chunk's tree: the `vpl_jax.train.RESULT_FIELDS` arrays and ``final_params``.
    """
    path = runs.chunk_path(context.out, index)
    if runs.is_finished(path):
        return load_chunk(config, context, index)
    mesh = _mesh(config) if mesh is None else mesh
    idx = chunk_conditions(config, index)
    k = config.chunk_size
    root = jax.random.key(config.seed)
    padded = np.concatenate([idx, np.full(k - len(idx), idx[-1])])  # one program shape
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(padded)
    result = train.train_conditions(
        keys,
        config.grid.conditions(padded),
        context.backbone,
        config=config.train,
        mesh=mesh,
        progress=progress,
    )
    tree = {f: getattr(result, f)[: len(idx)] for f in train.RESULT_FIELDS}
    tree["final_params"] = jax.tree.map(operator.itemgetter(slice(len(idx))), result.final_params)
    initial_path = runs.initial_params_path(context.out)
    if not runs.is_finished(initial_path):
        runs.save_tree(initial_path, result.initial_params)
    runs.save_tree(path, tree, provenance=_chunk_provenance(context, config, index))
    return tree


def chunk_status(config: RunConfig, out_dir) -> list[bool]:
    """For each chunk, whether its checkpoint is finished."""
    return [runs.is_finished(runs.chunk_path(out_dir, c)) for c in range(config.num_chunks)]


def merge(config: RunConfig, context: SweepContext, chunks: list[dict] | None = None):
    """Assemble ``results.nc`` from every finished chunk (all must be there and intact).

    Returns:
        The results Dataset.

    Raises:
        CheckpointError: a chunk is missing, damaged, or from another run.
    """
    if chunks is None:
        chunks = [load_chunk(config, context, c) for c in range(config.num_chunks)]
    results = {f: np.concatenate([t[f] for t in chunks]) for f in train.RESULT_FIELDS}
    ds = results_dataset(config, results, context.weights_info)
    runs.save_results(context.out, ds)
    return ds


def sweep(
    config: RunConfig,
    *,
    out_dir,
    weights: str = "default",
    progress: bool = True,
    max_chunks: int | None = None,
):
    """Train every condition of ``config.grid`` in chunks of K, checkpointing each chunk.

    Resumes a run folder: finished chunks are read back (and checked), the rest trained. For
    chunks as jobs on a cluster or on several local processes, see `vpl_jax.farm`.

    Args:
        config: the run.
        out_dir: run folder (created).
        weights: ``"default"``, a weight-file path or ``"random:SEED"`` (see `resolve_weights`).
        progress: show a tqdm bar (iterations x conditions, with an ETA) on stderr; without it
            the host never waits for a step to finish.
        max_chunks: stop after training this many new chunks (for tests of resuming); the
            results are then not written and ``None`` is returned.

    Returns:
        The results Dataset (`results_dataset`), also written to ``<out_dir>/results.nc``.

    Raises:
        InputError: wrong weights (architecture) or a folder holding a different run -- before
            any compute.
        CheckpointError: a finished chunk cannot be read, fails its checksum or comes from
            another run.
    """
    from tqdm.auto import tqdm

    context = prepare(config, out_dir=out_dir, weights=weights)
    mesh = _mesh(config)
    bar = tqdm(
        total=len(config.grid) * config.train.num_iterations,
        unit="it",
        desc="training",
        disable=not progress,
        file=sys.stderr,
    )
    chunks, trained = [], 0
    try:
        for c in range(config.num_chunks):
            n_c = len(chunk_conditions(config, c))
            bar.set_description(f"chunk {c + 1}/{config.num_chunks}")
            if runs.is_finished(runs.chunk_path(context.out, c)):
                chunks.append(load_chunk(config, context, c))
                bar.update(n_c * config.train.num_iterations)
                continue
            if max_chunks is not None and trained >= max_chunks:
                return None
            callback = functools.partial(_advance, bar, n_c) if progress else None
            chunks.append(train_chunk(config, context, c, progress=callback, mesh=mesh))
            trained += 1
    finally:
        bar.close()
    return merge(config, context, chunks)


def summary_table(ds) -> str:
    """A short text summary: accuracy before/after, transfer index per transfer test, change per layer.

    One row per condition: accuracy (mean p(correct), trained condition) at iterations 0, 1 and
    the last; the transfer index ``accuracy(transfer) / accuracy(trained)`` at the last iteration
    for each transfer test; and the final ``d_rel1`` of every layer.
    """
    import pandas as pd

    last = ds.iteration.values[-1]
    acc = ds.accuracy.sel(test="trained")
    rows = pd.DataFrame(
        {
            "ref": ds.reference_deg.values,
            "sep": ds.separation_deg.values,
            "lambda": ds.wavelength_px.values,
            "acc@0": acc.sel(iteration=0).values,
            "acc@1": acc.isel(iteration=1).values,
            f"acc@{last}": acc.sel(iteration=last).values,
        }
    )
    final = ds.accuracy.sel(iteration=last)
    for test in ds.test.values[1:]:
        rows[f"TI {test}"] = (final.sel(test=test) / final.sel(test="trained")).values
    change = ds.layer_change.sel(iteration=last, measure="d_rel1")
    for layer in ds.layer.values:
        rows[f"d_rel1 {layer}"] = change.sel(layer=layer).values
    weights_line = f"weights: {ds.attrs['weights']}"
    if int(ds.attrs.get("weights_random", 0)):
        weights_line += "  (RANDOM weights, not pretrained)"
    if ds.attrs.get("weights_note"):
        weights_line += f"\nnote: {ds.attrs['weights_note']}"
    header = f"preset {ds.attrs['preset']}, {ds.sizes['condition']} conditions, {last} iterations\n{weights_line}"
    return header + "\n" + rows.to_string(index=False, float_format=lambda v: f"{v:.3g}")


def health_table(ds):
    """The conditions of a results Dataset that went non-finite or degenerate.

    Returns:
        A DataFrame with columns ``condition``, ``label`` (reference and separation) and
        ``problem`` (in words, with the first non-finite evaluation iteration); empty when every
        condition is healthy. Datasets written before the flags existed count as healthy.
    """
    import pandas as pd

    rows = []
    if "finite" in ds:
        finite = ds.finite.values.astype(bool)
        degenerate = ds.degenerate.values.astype(bool)
        its = ds.iteration.values
        for c in range(ds.sizes["condition"]):
            label = (
                f"ref {ds.reference_deg.values[c]:g} deg, sep {ds.separation_deg.values[c]:g} deg"
            )
            if not finite[c].all():
                first = its[np.argmin(finite[c])]
                rows.append(
                    (c, label, f"non-finite loss, weights or accuracy from iteration {first}")
                )
            elif degenerate[c]:
                rows.append(
                    (
                        c,
                        label,
                        "degenerate: the readout saturated while no free layer below it changed",
                    )
                )
    return pd.DataFrame(rows, columns=["condition", "label", "problem"])


def run(config: RunConfig, *, out_dir, weights: str = "default", progress: bool = True):
    """`sweep`, then the summary table in ``<out_dir>/summary.txt``.

    Returns:
        The results Dataset.
    """
    ds = sweep(config, out_dir=out_dir, weights=weights, progress=progress)
    runs.write_text(Path(out_dir) / runs.SUMMARY_FILE, summary_table(ds) + "\n")
    return ds
