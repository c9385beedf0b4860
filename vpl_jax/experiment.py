"""Experiments: condition grids, presets, the resumable sweep runner and its results.

A run is described by a `RunConfig`: a `Grid` of conditions (the Cartesian product of reference
orientations, separations, wavelengths, contrasts, noise levels and learning rates, in that order
with the last varying fastest), a `vpl_jax.train.TrainConfig` (static structure), the number of
conditions trained together (``chunk_size``, K) and a seed. Everything is validated on
construction, so bad input fails before any weights are loaded or anything is compiled.

The runner (`sweep`) trains the grid in chunks of K conditions. Each finished chunk's results and
final params are written with orbax (atomically: a temporary folder renamed on success) under
``<out>/checkpoints/chunk_NNNNN`` together with a JSON manifest of sha256 checksums, written last;
the manifest marks the chunk as finished. A killed sweep resumes by skipping finished chunks; a
finished chunk that cannot be read or fails its checksum raises `CheckpointError` (never silent
recomputation). Condition ``i`` always uses the key ``fold_in(key(seed), i)``, so results do not
depend on K, on resuming, or on the device count.

Run folder::

    config.json            the RunConfig and the weights used (a resumed run must match it)
    results.nc             one xarray Dataset (netCDF3, scipy backend), see `results_dataset`
    summary.txt            the summary table of `summary_table`
    learning_curves.png    the first plot (`vpl_jax.figures.learning_curves`)
    checkpoints/initial_params, checkpoints/chunk_NNNNN(+.json)   orbax checkpoints
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import operator
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from vpl_jax import __version__, alexnet, train, weights
from vpl_jax.train import Condition, TrainConfig

__all__ = [
    "CheckpointError",
    "Condition",
    "Grid",
    "OVERRIDE_KEYS",
    "PRESETS",
    "RunConfig",
    "apply_overrides",
    "load_final_params",
    "load_results",
    "main_run",
    "main_sweep",
    "preset",
    "resolve_weights",
    "results_dataset",
    "run",
    "summary_table",
    "sweep",
]


class CheckpointError(ValueError):
    """A finished chunk's checkpoint cannot be read or fails its checksum.

    A ``ValueError`` (bad input: the run folder), so the command line reports it in one line.
    """


# --------------------------------------------------------------------------------------------
# Grid and run configuration


_GRID_RANGES = {
    "reference_deg": (lambda v: np.isfinite(v), "finite angles in degrees"),
    "separation_deg": (lambda v: v > 0 and np.isfinite(v), "angles > 0 degrees"),
    "wavelength_px": (lambda v: v > 0 and np.isfinite(v), "wavelengths > 0 px"),
    "contrast": (lambda v: 0 < v <= 1, "contrasts in (0, 1]"),
    "noise_sd": (lambda v: v >= 0 and np.isfinite(v), "noise SDs >= 0"),
    "learning_rate": (lambda v: v >= 0 and np.isfinite(v), "learning rates >= 0"),
}


@dataclasses.dataclass(frozen=True)
class Grid:
    """A full-factorial grid of training conditions (tuples of floats; see `vpl_jax.train.Condition`).

    Raises:
        ValueError: naming the field and its allowed range, e.g. a separation <= 0, a negative
            noise SD or a contrast outside (0, 1].
    """

    reference_deg: tuple[float, ...]
    separation_deg: tuple[float, ...]
    wavelength_px: tuple[float, ...]
    contrast: tuple[float, ...]
    noise_sd: tuple[float, ...]
    learning_rate: tuple[float, ...] = (1e-4,)

    def __post_init__(self):
        for name, (ok, allowed) in _GRID_RANGES.items():
            values = getattr(self, name)
            if isinstance(values, int | float):
                values = (values,)
            try:
                values = tuple(float(v) for v in values)
            except (TypeError, ValueError):
                raise ValueError(
                    f"Grid.{name} must be a sequence of numbers, got {values!r}"
                ) from None
            if not values:
                raise ValueError(f"Grid.{name} must hold at least one value")
            for v in values:
                if not ok(v):
                    raise ValueError(f"Grid.{name} must hold {allowed}, got {v!r}")
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
        preset: the preset it was built from (informational).
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
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; known: {sorted(PRESETS)}")
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ValueError(f"RunConfig.chunk_size must be an int >= 1, got {self.chunk_size!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"RunConfig.seed must be an int >= 0, got {self.seed!r}")

    @property
    def num_chunks(self) -> int:
        return -(-len(self.grid) // self.chunk_size)

    def to_dict(self) -> dict:
        """A JSON-able description (``from_dict`` inverts it)."""
        tc = dataclasses.asdict(self.train)
        tc["arch"] = self.train.arch.name
        tc["test_separations"] = list(self.train.test_separations)
        return {
            "preset": self.preset,
            "grid": {f: list(getattr(self.grid, f)) for f in self.grid.fields},
            "train": tc,
            "chunk_size": self.chunk_size,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
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


# --------------------------------------------------------------------------------------------
# Presets

_PAPER_REFS = tuple(float(a) for a in range(0, 180, 15))

#: The demo: what it trades away is documented in docs/training.md ("The demo preset").
_DEMO = {
    "grid": Grid(
        reference_deg=(30.0,),
        separation_deg=train.PAPER_SEPARATIONS,
        wavelength_px=(20.0,),
        contrast=(0.5,),
        noise_sd=(10.0,),
    ),
    "train": TrainConfig(
        image_size=67,
        num_iterations=300,
        num_eval_points=12,
        test_pairs=100,
        fold_pairs=20,
    ),
}

PRESETS: dict[str, dict[str, Any]] = {
    # Experiment 1 (spec section 2.3): 2880 conditions x 1000 iterations at 227 px; for accelerators.
    "paper-exp1": {
        "grid": Grid(
            reference_deg=_PAPER_REFS,
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(10.0, 20.0, 30.0, 40.0),
            contrast=(0.2, 0.3, 0.4, 0.5),
            noise_sd=(5.0, 10.0, 15.0),
        ),
        "train": TrainConfig(),
        "chunk_size": 16,
    },
    # The 60 tuning networks (spec sections 4.3 and 7.19): noise 15, contrast 0.2, wavelength 10 px.
    "paper-tuning": {
        "grid": Grid(
            reference_deg=_PAPER_REFS,
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(10.0,),
            contrast=(0.2,),
            noise_sd=(15.0,),
        ),
        "train": TrainConfig(),
        "chunk_size": 4,
    },
    "demo": _DEMO,
    # A reduced Experiment 1 that fits about an hour on 2 CPU cores (docs/pretrain.md, "Reduced
    # Experiment 1"): the tuning networks' stimulus (noise 15, contrast 0.2) at 4 references x the
    # 5 separations, 67 px, the paper's 1000 iterations (~50 min; at 400 iterations only the 5 and
    # 10 deg networks learned). Wavelength 30 px in the 227-px frame is 8.9 px at 67 px, close to
    # the paper's tuning wavelength (10 px) in absolute pixels, i.e. relative to conv1.
    "cpu-exp1": {
        "grid": Grid(
            reference_deg=(0.0, 45.0, 90.0, 135.0),
            separation_deg=train.PAPER_SEPARATIONS,
            wavelength_px=(30.0,),
            contrast=(0.2,),
            noise_sd=(15.0,),
        ),
        "train": TrainConfig(
            image_size=67,
            num_iterations=1000,
            num_eval_points=18,
            test_pairs=100,
            fold_pairs=20,
        ),
    },
    # Seconds on a CPU, for tests: tiny images, few iterations, small test sets.
    "smoke": {
        "grid": Grid(
            reference_deg=(0.0, 90.0),
            separation_deg=(10.0,),
            wavelength_px=(20.0,),
            contrast=(0.5,),
            noise_sd=(5.0,),
        ),
        "train": TrainConfig(
            image_size=67,
            num_iterations=4,
            num_eval_points=2,
            test_pairs=20,
            fold_pairs=10,
            test_separations=(1.0, 10.0),
        ),
    },
}


def preset(name: str) -> RunConfig:
    """The `RunConfig` of a named preset (`PRESETS`).

    Raises:
        ValueError: for an unknown preset, listing the known ones.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    spec = PRESETS[name]
    return RunConfig(
        preset=name,
        grid=spec["grid"],
        train=spec["train"],
        chunk_size=spec.get("chunk_size", 1),
        seed=spec.get("seed", 0),
    )


# --------------------------------------------------------------------------------------------
# Overrides


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _int(text: str) -> int:
    value = float(text)
    if value != int(value):
        raise ValueError(f"{text!r} is not an integer")
    return int(value)


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError(f"{text!r} is not a boolean (true/false)")
    return lowered in ("true", "1")


_GRID_KEYS = {f.name for f in dataclasses.fields(Grid)}
_TRAIN_PARSERS = {
    "arch": alexnet.get_arch,
    "image_size": _int,
    "num_iterations": _int,
    "num_eval_points": _int,
    "batch_pairs": _int,
    "test_pairs": _int,
    "fold_pairs": _int,
    "momentum": float,
    "bias_lr_mult": float,
    "frozen_layers": _int,
    "test_separations": _floats,
    "sigma_px": float,
    "quantize": _bool,
    "condition_batching": str,
}
_RUN_PARSERS = {"chunk_size": _int, "seed": _int}
OVERRIDE_KEYS: tuple[str, ...] = tuple(sorted(_GRID_KEYS | set(_TRAIN_PARSERS) | set(_RUN_PARSERS)))


def apply_overrides(config: RunConfig, overrides: Sequence[str]) -> RunConfig:
    """Apply ``key=value`` overrides (e.g. ``separation_deg=1,10``, ``num_iterations=200``).

    Grid fields take comma-separated numbers; ``test_separations`` too; ``arch`` an architecture
    name; the rest one number (or a string for ``condition_batching``). Keys: `OVERRIDE_KEYS`.

    Raises:
        ValueError: malformed item, unknown key (listing the known ones), a value of the wrong type,
            or a value outside its range (naming the field).
    """
    grid, tc, run_fields = {}, {}, {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value")
        key, text = (s.strip() for s in item.split("=", 1))
        try:
            if key in _GRID_KEYS:
                grid[key] = _floats(text)
            elif key in _TRAIN_PARSERS:
                tc[key] = _TRAIN_PARSERS[key](text)
            elif key in _RUN_PARSERS:
                run_fields[key] = _RUN_PARSERS[key](text)
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(
                f"unknown override key {key!r}; known keys: {', '.join(OVERRIDE_KEYS)}"
            ) from None
        except ValueError as err:
            raise ValueError(f"bad value for {key}: {text!r} ({err})") from None
    return dataclasses.replace(
        config,
        grid=dataclasses.replace(config.grid, **grid),
        train=dataclasses.replace(config.train, **tc),
        **run_fields,
    )


# --------------------------------------------------------------------------------------------
# Weights


def resolve_weights(source: str, arch: alexnet.ArchSpec):
    """Load ``source`` for ``arch``; ``"default"`` falls back to ``"random:0"`` while no bundled
    weights exist (labelled as such in the returned info).

    Returns:
        ``(backbone, info)`` with ``info = {"source", "requested", "random", "sha256", "note"}``.

    Raises:
        ValueError: (``weights.WeightsError``) unreadable weights or weights of another architecture.
    """
    requested = str(source)
    note = ""
    if requested == "default" and not weights.default_weights_path().exists():
        source = "random:0"
        note = "bundled default weights do not exist yet: using RANDOM weights random:0"
    params, got_arch, meta = weights.load_with_info(source, arch=arch)
    if got_arch != arch:
        raise ValueError(
            f"weights {requested!r} are for architecture {got_arch.name} "
            f"({got_arch.in_channels} input channels); the run needs {arch.name} "
            f"({arch.in_channels} input channel(s))"
        )
    info = {
        "source": str(source),
        "requested": requested,
        "random": str(source).startswith("random:"),
        "sha256": weights.params_sha256(params),
        "note": note,
    }
    return params, info


# --------------------------------------------------------------------------------------------
# Checkpoints

_RESULT_FIELDS = (
    "accuracy",
    "accuracy_sym",
    "layer_change",
    "train_loss",
    "separation_accuracy",
    "separation_accuracy_sym",
)


def _tree_digest(tree) -> dict[str, str]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    out = {}
    for path, leaf in flat:
        arr = np.ascontiguousarray(np.asarray(leaf))
        digest = hashlib.sha256(f"{arr.dtype.str}:{arr.shape}".encode())
        digest.update(arr.tobytes())
        out[jax.tree_util.keystr(path)] = digest.hexdigest()
    return out


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.StandardCheckpointer()


def _save_tree(path: Path, tree: dict) -> None:
    """Atomic orbax save, then the manifest of checksums (the 'finished' marker), written last."""
    ckpt = _checkpointer()
    if path.exists():  # an unfinished previous attempt (no manifest): start over
        shutil.rmtree(path)
    ckpt.save(path.resolve(), tree)
    ckpt.wait_until_finished()
    ckpt.close()
    manifest = path.with_suffix(".json")
    tmp = manifest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"sha256": _tree_digest(tree)}, indent=1))
    os.replace(tmp, manifest)


def _restore_tree(path: Path) -> dict:
    manifest = path.with_suffix(".json")
    hint = f"delete {path} and {manifest.name} to recompute it"
    try:
        expected = json.loads(manifest.read_text())["sha256"]
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(
            f"checkpoint manifest {manifest} is unreadable ({err}); {hint}"
        ) from None
    ckpt = _checkpointer()
    try:
        tree = ckpt.restore(path.resolve())
    except Exception as err:  # orbax/tensorstore raise many types for damaged files
        raise CheckpointError(
            f"checkpoint {path} is corrupted or incomplete ({type(err).__name__}: {str(err)[:300]}); {hint}"
        ) from None
    finally:
        ckpt.close()
    tree = jax.tree.map(np.asarray, tree)
    if _tree_digest(tree) != expected:
        raise CheckpointError(f"checkpoint {path} does not match its sha256 manifest; {hint}")
    return tree


def _chunk_path(out: Path, index: int) -> Path:
    return out / "checkpoints" / f"chunk_{index:05d}"


def _finished(path: Path) -> bool:
    return path.with_suffix(".json").exists()


# --------------------------------------------------------------------------------------------
# Results


def results_dataset(config: RunConfig, results: dict[str, np.ndarray], weights_info: dict):
    """One labelled xarray Dataset of a run.

    Dimensions: ``condition`` (with coordinates ``reference_deg``, ``separation_deg``,
    ``wavelength_px``, ``contrast``, ``noise_sd``, ``learning_rate``), ``iteration`` (the
    evaluation iterations), ``test`` (``trained, ori+45, ori+90, sf*0.5, sf*2``), ``layer``
    (``conv1..conv5, readout``), ``measure`` (``d_rel1, d_rel2, d_m1, d_m2``) and
    ``test_separation``. Variables: ``accuracy`` and ``accuracy_sym`` (condition, iteration, test),
    ``layer_change`` (condition, iteration, layer, measure), ``train_loss`` (condition, iteration),
    ``separation_accuracy`` and ``separation_accuracy_sym`` (condition, test, test_separation).
    Attributes: the weights used (``weights``, ``weights_random``, ``weights_sha256``,
    ``weights_note``), ``preset``, ``config`` (JSON) and ``vpl_jax_version``.
    """
    import xarray as xr

    tc = config.train
    table = config.grid.table()
    dims = {
        "accuracy": ("condition", "iteration", "test"),
        "accuracy_sym": ("condition", "iteration", "test"),
        "layer_change": ("condition", "iteration", "layer", "measure"),
        "train_loss": ("condition", "iteration"),
        "separation_accuracy": ("condition", "test", "test_separation"),
        "separation_accuracy_sym": ("condition", "test", "test_separation"),
    }
    coords = {
        "condition": np.arange(len(config.grid), dtype=np.int32),
        "iteration": np.asarray(tc.eval_iterations, np.int32),
        "test": list(train.TEST_CONDITIONS),
        "layer": list(tc.layer_names),
        "measure": list(train.CHANGE_MEASURES),
        "test_separation": np.asarray(tc.test_separations, np.float32),
    }
    coords.update({f: ("condition", table[f]) for f in config.grid.fields})
    ds = xr.Dataset({k: (dims[k], results[k]) for k in _RESULT_FIELDS}, coords=coords)
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


def load_results(out_dir) -> Any:
    """The results Dataset of a run folder (``results.nc``)."""
    import xarray as xr

    return xr.load_dataset(Path(out_dir) / "results.nc", engine="scipy")


def load_final_params(out_dir, condition: int) -> dict:
    """Final model params of one condition, read from its chunk checkpoint."""
    out = Path(out_dir)
    config = RunConfig.from_dict(json.loads((out / "config.json").read_text())["run"])
    chunk, offset = divmod(condition, config.chunk_size)
    tree = _restore_tree(_chunk_path(out, chunk))
    return jax.tree.map(lambda x: x[offset], tree["final_params"])


# --------------------------------------------------------------------------------------------
# The runner


def _write_config(out: Path, config: RunConfig, weights_info: dict) -> None:
    record = {"run": config.to_dict(), "weights": weights_info, "vpl_jax_version": __version__}
    path = out / "config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        for part in ("run", "weights"):
            if previous.get(part) != record[part]:
                raise ValueError(
                    f"{out} already holds a run with a different {part} ({path}); resume with the "
                    f"same config and weights, or choose another output folder"
                )
        return
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def _advance(bar, num_conditions: int, steps: int) -> None:
    bar.update(steps * num_conditions)


def sweep(
    config: RunConfig,
    *,
    out_dir,
    weights: str = "default",
    progress: bool = True,
    max_chunks: int | None = None,
):
    """Train every condition of ``config.grid`` in chunks of K, checkpointing each chunk.

    Resumes a run folder: finished chunks are read back (and checked), the rest trained.

    Args:
        config: the run.
        out_dir: run folder (created).
        weights: ``"default"``, a weight-file path or ``"random:SEED"`` (see `resolve_weights`).
        progress: show a tqdm bar (iterations x conditions, with an ETA) on stderr.
        max_chunks: stop after training this many new chunks (for tests of resuming); the
            results are then not written and ``None`` is returned.

    Returns:
        The results Dataset (`results_dataset`), also written to ``<out_dir>/results.nc``.

    Raises:
        ValueError: wrong weights (architecture) or a folder holding a different run -- before
            any compute.
        CheckpointError: a finished chunk cannot be read or fails its checksum.
    """
    from tqdm.auto import tqdm

    tc = config.train
    backbone, weights_info = resolve_weights(weights, tc.arch)
    out = Path(out_dir)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    _write_config(out, config, weights_info)

    n, k = len(config.grid), config.chunk_size
    mesh = None
    if jax.device_count() > 1:
        if k % jax.device_count():
            raise ValueError(
                f"chunk_size ({k}) must be a multiple of the device count ({jax.device_count()})"
            )
        mesh = train.condition_mesh()
    root = jax.random.key(config.seed)

    initial_path = out / "checkpoints" / "initial_params"
    bar = tqdm(
        total=n * tc.num_iterations,
        unit="it",
        desc="training",
        disable=not progress,
        file=sys.stderr,
    )
    chunks, trained = [], 0
    try:
        for c in range(config.num_chunks):
            idx = np.arange(c * k, min((c + 1) * k, n))
            path = _chunk_path(out, c)
            bar.set_description(f"chunk {c + 1}/{config.num_chunks}")
            if _finished(path):
                tree = _restore_tree(path)
                bar.update(len(idx) * tc.num_iterations)
            else:
                if max_chunks is not None and trained >= max_chunks:
                    return None
                padded = np.concatenate([idx, np.full(k - len(idx), idx[-1])])  # one program shape
                keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(padded)
                result = train.train_conditions(
                    keys,
                    config.grid.conditions(padded),
                    backbone,
                    config=tc,
                    mesh=mesh,
                    progress=functools.partial(_advance, bar, len(idx)),
                )
                tree = {f: getattr(result, f)[: len(idx)] for f in _RESULT_FIELDS}
                tree["final_params"] = jax.tree.map(
                    operator.itemgetter(slice(len(idx))), result.final_params
                )
                if not _finished(initial_path):
                    _save_tree(initial_path, result.initial_params)
                _save_tree(path, tree)
                trained += 1
            chunks.append(tree)
    finally:
        bar.close()

    results = {f: np.concatenate([t[f] for t in chunks]) for f in _RESULT_FIELDS}
    ds = results_dataset(config, results, weights_info)
    tmp = out / "results.nc.tmp"
    ds.to_netcdf(tmp, engine="scipy")
    os.replace(tmp, out / "results.nc")
    return ds


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


def run(config: RunConfig, *, out_dir, weights: str = "default", progress: bool = True):
    """The main job: `sweep`, then ``summary.txt`` and ``learning_curves.png`` in the run folder.

    Returns:
        The results Dataset.
    """
    from vpl_jax import figures

    ds = sweep(config, out_dir=out_dir, weights=weights, progress=progress)
    out = Path(out_dir)
    (out / "summary.txt").write_text(summary_table(ds) + "\n")
    fig = figures.learning_curves(ds)
    fig.savefig(out / "learning_curves.png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return ds


def _config_from_cli(preset_name: str, overrides: Sequence[str]) -> RunConfig:
    return apply_overrides(preset(preset_name), list(overrides or ()))


def main_run(
    preset: str,
    weights: str,
    out: str,
    overrides: list[str],
    progress: bool,
    analysis=None,
) -> int:
    """CLI entry of ``vpl-jax run``: build the config (preset + ``--set`` overrides), run, print
    the summary, then write the analysis report (`vpl_jax.report.analyze` with ``analysis``, a
    `vpl_jax.report.AnalysisOptions`; ``None`` skips it). Bad input raises ``ValueError`` before
    any compute; returns 0 on success."""
    config = _config_from_cli(preset, overrides)
    ds = run(config, out_dir=out, weights=weights, progress=progress)
    print(summary_table(ds))
    print(f"results, config, summary and learning_curves.png in {out}")
    if analysis is not None:
        from vpl_jax import report

        path = report.analyze(out, options=analysis, progress=progress)
        print(f"analysis report: {path}")
    return 0


def main_sweep(preset: str, weights: str, out: str, overrides: list[str], progress: bool) -> int:
    """CLI entry of ``vpl-jax sweep``: like `main_run` without the plot (any grid, resumable)."""
    config = _config_from_cli(preset, overrides)
    ds = sweep(config, out_dir=out, weights=weights, progress=progress)
    (Path(out) / "summary.txt").write_text(summary_table(ds) + "\n")
    print(summary_table(ds))
    print(f"results and config in {out}")
    return 0
