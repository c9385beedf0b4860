r"""Experiment 2 of Wenliang & Seitz (2018): the Gabor and the face task with frozen lower layers.

The paper's section "Effect of feature complexity on distribution of learning" (Fig. 5) trains
the siamese AlexNet of Experiment 1 on two tasks,

* **Gabor**: orientation discrimination, wavelength 20 px, Gaussian SD 50 px (of the 227-px
  frame), 12 references 0-165 deg, separations 0.5, 1, 2, 5, 10 deg (dissimilarity 1..5),
  contrast 0.5, noise SD 5;
* **face**: masculine vs feminine target, the reference being the 50 % morph of one male and one
  female face and the target a morph of the same pair at male weight ``0.5 +- o``,
  ``o = 0.05, 0.10, 0.15, 0.25, 0.50`` for dissimilarity 1..5 (`vpl_jax.faces`); 12
  cross-validation folds of `vpl_jax.faces.cv_folds` (train 49 x 49 = 2401 pairs, test 625
  unseen pairs); contrast 0.5, noise SD 5;

each with layers 1..k frozen (learning rate 0) for ``k = 0..5`` (``k = 5``: only the readout
learns): 12 references or folds x 5 dissimilarities x 6 = 360 conditions per task, 1000
iterations, the paper's evaluation schedule (`vpl_jax.train.eval_iterations`).

Conditions (`condition_table`) are ordered task, k, reference (or fold), dissimilarity (last
fastest). A *unit* ``(task, reference, dissimilarity)`` is the matched set of its six networks:
they share one PRNG key (`unit_keys`), hence the same training batches and the same noise, so
the accuracy drops of `vpl_jax.analysis.experiment2` compare networks that differ only in their
frozen layers. A unit's key depends on its task, reference (or fold) and dissimilarity only,
never on the other conditions of the grid, the chunk size or resuming.

Engine (`train_task`): Experiment 1's pieces of `vpl_jax.train` -- `train.init_state`,
`train.train_step` (SGD with momentum, bias lr x2, frozen layers carried over bit for bit),
`train.sample_pairs` and `train.accuracies` for Gabors, `train.network` for the face trials,
`train.layer_change`, `train.health` -- vmapped over the ``C`` conditions of a chunk, jitted,
and driven by a host loop over the evaluation schedule (no ``lax.scan`` over iterations: on
XLA:CPU backward convolutions inside a loop body run 5-20x slower, see `vpl_jax.train`). A
Gabor condition with ``k = 0`` trains exactly as the Experiment 1 condition with the same key.

Frozen layers are a sweep axis by *chunks per k*: every chunk holds conditions of one task and
one ``k``, trained by programs compiled for ``TrainConfig.frozen_layers = k`` (static), so XLA
drops the gradient computations of the frozen layers (on CPU at 67 px a Gabor ``k = 5`` step
costs about a fifth of a ``k = 0`` step; measured in ``docs/experiment2.md``) and frozen weights
are never touched. A traced per-condition multiplier would put all k in one program but would
compute every gradient; only the step and the optimiser-state initialisation depend on k, so 12
step programs (2 tasks x 6 k) are compiled once each and reused by all chunks.

Face trials: training batches of ``TrainConfig.batch_pairs`` trials (20) are ``batch_pairs / 2``
pairs drawn with replacement from the fold's training pairs, each giving its masculine and its
feminine trial (`vpl_jax.faces.sample_face_batch`); the morph frames are computed inside the
step from the device-resident identity bank (`vpl_jax.faces.face_triplets`, landmark warp by
default); ``x = contrast (I - 125) + N(0, noise_sd^2)`` as for Gabors
(`vpl_jax.stimuli.network_input`). Tests use the fold's 625 unseen test pairs, one trial per
pair with alternating labels (`vpl_jax.faces.evaluation_trials`; ``faces.test_trials="both"``
uses both trials of each pair), in folds of ``faces.fold_trials`` (25) for the symmetrised
accuracy, fresh noise at every evaluation point. Their noiseless frames are computed once per
condition (`face_test_frames`: 625 x 2 images, 258 MB per condition at 227 px, 22 MB at 67
px). Gabor tests: ``TrainConfig.test_pairs`` pairs of the trained condition.

Storage (`vpl_jax.runs`): ``config.json`` (the run, the weights, the faces), one checkpoint per
chunk with provenance (config, weights and faces sha256, chunk index and conditions), and
``results.nc``, one labelled Dataset in the layout of `vpl_jax.analysis.experiment2`
(`results_dataset`). A killed sweep resumes by skipping finished chunks.

Examples:
    >>> from vpl_jax import experiment2
    >>> config = experiment2.preset("paper-exp2")
    >>> len(experiment2.condition_table(config)), len(experiment2.chunk_plan(config))
    (720, 36)

References:
    Wenliang & Seitz (2018), "Deep neural networks for modeling visual perceptual learning",
    J. Neurosci. 38(27):6028-6044, Experiment 2, Fig. 5.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import InputError
from vpl_jax import __version__, alexnet, experiment, faces, runs, siamese, stimuli, train
from vpl_jax.analysis import experiment2 as analysis
from vpl_jax.train import TrainConfig

__all__ = [
    "Chunk",
    "Experiment2Config",
    "FaceConfig",
    "FaceData",
    "GABOR_SEPARATIONS",
    "OVERRIDE_KEYS",
    "PAPER_FOLDS",
    "PAPER_REFERENCES",
    "PRESETS",
    "RunContext",
    "TASKS",
    "TaskResult",
    "apply_overrides",
    "chunk_conditions",
    "chunk_plan",
    "chunk_status",
    "condition_table",
    "conditions",
    "config_sha256",
    "face_batch",
    "face_data",
    "face_test_frames",
    "finished_dataset",
    "load_chunk",
    "load_face_set",
    "merge",
    "open_run",
    "prepare",
    "preset",
    "results_dataset",
    "run",
    "summary_table",
    "sweep",
    "train_chunk",
    "train_task",
    "unit_keys",
]

TASKS: tuple[str, ...] = analysis.TASKS
"""The two tasks, ``("gabor", "face")``."""
GABOR_SEPARATIONS: tuple[float, ...] = train.PAPER_SEPARATIONS
"""Gabor separations in degrees of dissimilarity 1..5 (0.5, 1, 2, 5, 10)."""
PAPER_REFERENCES: tuple[float, ...] = tuple(float(a) for a in range(0, 180, 15))
"""The 12 Gabor reference orientations, degrees."""
PAPER_FOLDS: tuple[int, ...] = tuple(range(faces.NUM_FOLDS))
"""The 12 cross-validation folds of the face task."""
_RESULT_FIELDS = ("accuracy", "accuracy_sym", "layer_change", "train_loss")
_MAX_FROZEN = len(
    alexnet.CAFFE_ALEXNET.layer_names
)  # 5: freezing the readout too is not a condition


def _fail(name: str, allowed: str, got) -> InputError:
    return InputError(f"{name} must be {allowed}, got {got!r}")


def _int_tuple(name: str, values, lo: int, hi: int) -> tuple[int, ...]:
    if isinstance(values, int | np.integer):
        values = (values,)
    try:
        out = tuple(int(v) for v in values)
        ok = all(float(v) == int(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        raise _fail(name, f"a sequence of integers in [{lo}, {hi}]", values) from None
    if not out or not ok or any(not lo <= v <= hi for v in out) or len(set(out)) != len(out):
        raise _fail(name, f"a non-empty sequence of distinct integers in [{lo}, {hi}]", values)
    return out


# --------------------------------------------------------------------------------------------
# Configuration


@dataclasses.dataclass(frozen=True)
class FaceConfig:
    """Where the faces come from and how face trials are built.

    Attributes:
        source: ``"bundled"`` (the parametric faces of `vpl_jax.faces.bundled_faces`, nothing
            downloaded) or the path of your own faces (a folder with ``male/`` and ``female/``,
            or a CSV; `vpl_jax.faces.load_faces`, preprocessed to the run's image size).
        num_male, num_female: bundled identities per sex (the paper's 647 and 74).
        seed: PRNG seed of the bundled identities.
        fold_seed: seed of the fold shuffles (`vpl_jax.faces.cv_folds`; the authors' 0).
        per_sex: identities of each sex per fold (default: the smaller sex, 74).
        train_per_sex: training identities of each sex per fold (default ``2 per_sex // 3``, 49).
        warp: landmark-warp morphs (needs landmarks) or pixel blends.
        test_trials: ``"pairs"`` (one trial per test pair, labels alternating: 625, the paper's)
            or ``"both"`` (both trials of every test pair: 1250).
        fold_trials: test trials per fold of the symmetrised accuracy (25, the authors').
    """

    source: str = "bundled"
    num_male: int = faces.PAPER_NUM_MALE
    num_female: int = faces.PAPER_NUM_FEMALE
    seed: int = 0
    fold_seed: int = 0
    per_sex: int | None = None
    train_per_sex: int | None = None
    warp: bool = True
    test_trials: str = "pairs"
    fold_trials: int = 25

    def __post_init__(self):
        if not isinstance(self.source, str) or not self.source.strip():
            raise _fail("FaceConfig.source", "'bundled' or a path", self.source)
        for name in ("num_male", "num_female"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 100_000:
                raise _fail(f"FaceConfig.{name}", "an int in [1, 100000]", value)
        for name in ("seed", "fold_seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < 2**31:
                raise _fail(f"FaceConfig.{name}", "an int in [0, 2**31)", value)
        for name in ("per_sex", "train_per_sex"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise _fail(f"FaceConfig.{name}", "None or an int >= 1", value)
        if not isinstance(self.warp, bool):
            raise _fail("FaceConfig.warp", "True or False", self.warp)
        if self.test_trials not in ("pairs", "both"):
            raise _fail("FaceConfig.test_trials", "'pairs' or 'both'", self.test_trials)
        if not isinstance(self.fold_trials, int) or not 1 <= self.fold_trials <= 100_000:
            raise _fail("FaceConfig.fold_trials", "an int in [1, 100000]", self.fold_trials)


@dataclasses.dataclass(frozen=True)
class Experiment2Config:
    """Everything that determines an Experiment 2 run (besides the weights and the face images).

    Attributes:
        preset: the preset it was built from (informational).
        tasks: a non-empty subset of `TASKS`, in that order.
        references: Gabor reference orientations, degrees (used when ``"gabor"`` is a task).
        folds: face folds, integers in [0, 12) (used when ``"face"`` is a task).
        dissimilarities: integers in 1..5 (both tasks, unless ``face_dissimilarities`` is set).
        face_dissimilarities: integers in 1..5 for the face task, or None (the same as the
            Gabor task). A reduced run can train each task where its fully plastic network
            reaches 95 % within the iterations it can afford.
        frozen_layers: numbers k in 0..5 of frozen lower layers.
        wavelength_px: Gabor wavelength in pixels of the 227-px frame (20).
        contrast: contrast of both tasks, in (0, 1] (0.5; the authors' script default 0.7 is not
            the paper's).
        noise_sd: pixel-noise SD of both tasks, >= 0 (5).
        learning_rate: base SGD learning rate (1e-4).
        train: static structure (`vpl_jax.train.TrainConfig`); ``train.frozen_layers`` must be
            0 (the frozen layers are the ``frozen_layers`` axis); ``test_pairs`` and
            ``fold_pairs`` are the Gabor test's.
        faces: `FaceConfig`.
        chunk_size: conditions trained together (one task and one k per chunk); 1 on CPU.
        seed: root of the unit keys (`unit_keys`).
        keep_params: store every condition's final params in its chunk checkpoint (9 MB per
            condition at 227 px); the layer changes are always stored.
    """

    preset: str
    tasks: tuple[str, ...] = TASKS
    references: tuple[float, ...] = PAPER_REFERENCES
    folds: tuple[int, ...] = PAPER_FOLDS
    dissimilarities: tuple[int, ...] = (1, 2, 3, 4, 5)
    face_dissimilarities: tuple[int, ...] | None = None
    frozen_layers: tuple[int, ...] = tuple(range(_MAX_FROZEN + 1))
    wavelength_px: float = 20.0
    contrast: float = 0.5
    noise_sd: float = 5.0
    learning_rate: float = 1e-4
    train: TrainConfig = TrainConfig()
    faces: FaceConfig = FaceConfig()
    chunk_size: int = 1
    seed: int = 0
    keep_params: bool = False

    def __post_init__(self):
        if not isinstance(self.preset, str) or not self.preset:
            raise _fail("Experiment2Config.preset", "a non-empty name", self.preset)
        tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        if not tasks or any(t not in TASKS for t in tasks) or len(set(tasks)) != len(tasks):
            raise _fail("Experiment2Config.tasks", f"a non-empty subset of {TASKS}", self.tasks)
        object.__setattr__(self, "tasks", tuple(t for t in TASKS if t in tasks))
        refs = self.references
        if isinstance(refs, int | float):
            refs = (refs,)
        try:
            refs = tuple(float(r) for r in refs)
        except (TypeError, ValueError):
            raise _fail("Experiment2Config.references", "a sequence of angles", refs) from None
        if (
            not refs
            or not all(np.isfinite(r) and abs(r) <= 3600 for r in refs)
            or len(set(refs)) != len(refs)
        ):
            raise _fail(
                "Experiment2Config.references",
                "a non-empty sequence of distinct finite angles in [-3600, 3600] degrees",
                self.references,
            )
        object.__setattr__(self, "references", refs)
        object.__setattr__(
            self,
            "folds",
            _int_tuple("Experiment2Config.folds", self.folds, 0, faces.NUM_FOLDS - 1),
        )
        object.__setattr__(
            self,
            "dissimilarities",
            _int_tuple("Experiment2Config.dissimilarities", self.dissimilarities, 1, 5),
        )
        if self.face_dissimilarities is not None:
            object.__setattr__(
                self,
                "face_dissimilarities",
                _int_tuple(
                    "Experiment2Config.face_dissimilarities", self.face_dissimilarities, 1, 5
                ),
            )
        object.__setattr__(
            self,
            "frozen_layers",
            _int_tuple("Experiment2Config.frozen_layers", self.frozen_layers, 0, _MAX_FROZEN),
        )
        if not isinstance(self.train, TrainConfig):
            raise _fail("Experiment2Config.train", "a TrainConfig", type(self.train).__name__)
        if self.train.frozen_layers != 0:
            raise _fail(
                "Experiment2Config.train.frozen_layers",
                "0 (the frozen layers are the frozen_layers axis)",
                self.train.frozen_layers,
            )
        if not isinstance(self.faces, FaceConfig):
            raise _fail("Experiment2Config.faces", "a FaceConfig", type(self.faces).__name__)
        checks = (
            ("wavelength_px", lambda v: np.isfinite(v) and v * self.train.scale >= 2.0,
             f">= {2.0 / self.train.scale:.3g} px of the 227-px frame (2 px of the image)"),
            ("contrast", lambda v: 0 < v <= 1, "in (0, 1]"),
            ("noise_sd", lambda v: np.isfinite(v) and v >= 0, "finite and >= 0"),
            ("learning_rate", lambda v: np.isfinite(v) and v >= 0, "finite and >= 0"),
        )  # fmt: skip
        for name, ok, allowed in checks:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not ok(float(value)):
                raise _fail(f"Experiment2Config.{name}", allowed, value)
            object.__setattr__(self, name, float(value))
        if "face" in self.tasks and self.train.batch_pairs % 2:
            raise _fail(
                "Experiment2Config.train.batch_pairs",
                "even for the face task (each drawn pair gives two trials)",
                self.train.batch_pairs,
            )
        if not isinstance(self.chunk_size, int) or not 1 <= self.chunk_size <= 4096:
            raise _fail("Experiment2Config.chunk_size", "an int in [1, 4096]", self.chunk_size)
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise _fail("Experiment2Config.seed", "an int in [0, 2**31)", self.seed)
        if not isinstance(self.keep_params, bool):
            raise _fail("Experiment2Config.keep_params", "True or False", self.keep_params)

    @property
    def num_chunks(self) -> int:
        """The number of chunks of `chunk_plan` (as `vpl_jax.experiment.RunConfig.num_chunks`)."""
        return len(chunk_plan(self))

    def units(self, task: str) -> tuple:
        """The references (Gabor, degrees) or folds (face) of ``task``."""
        return self.references if task == "gabor" else self.folds

    def task_dissimilarities(self, task: str) -> tuple[int, ...]:
        """The dissimilarities trained in ``task``."""
        if task == "face" and self.face_dissimilarities is not None:
            return self.face_dissimilarities
        return self.dissimilarities

    def to_dict(self) -> dict:
        """A JSON-able description (`from_dict` inverts it).

        ``train.size_units`` appears only when it is not the default ``"paper"`` (as in
        `vpl_jax.experiment.RunConfig.to_dict`), so the record and `config_sha256` of a run in the
        paper's units stay what they were before the field existed, and such runs still resume.
        """
        tc = dataclasses.asdict(self.train)
        tc["arch"] = self.train.arch.name
        tc["test_separations"] = list(self.train.test_separations)
        if tc.get("size_units") == "paper":
            del tc["size_units"]
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("train", "faces")
        }
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        out["train"] = tc
        out["faces"] = dataclasses.asdict(self.faces)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Experiment2Config:
        """Inverse of `to_dict`.

        Raises:
            InputError: a malformed record.
        """
        try:
            d = dict(d)
            tc = dict(d.pop("train"))
            tc["arch"] = alexnet.get_arch(tc["arch"])
            tc["test_separations"] = tuple(tc["test_separations"])
            face = FaceConfig(**d.pop("faces"))
            d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
            return cls(train=TrainConfig(**tc), faces=face, **d)
        except (KeyError, TypeError, AttributeError) as err:
            raise InputError(
                f"not an Experiment2Config record ({type(err).__name__}: {err})"
            ) from None


def config_sha256(config: Experiment2Config) -> str:
    """sha256 of the config's canonical JSON (what each chunk's provenance records)."""
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Presets

PRESETS: dict[str, Experiment2Config] = {
    # The paper's Experiment 2: 2 tasks x 360 conditions x 1000 iterations at 227 px, for
    # accelerators (vectorised condition batching, 20 conditions per chunk: 3 chunks per task
    # and k).
    "paper-exp2": Experiment2Config(
        preset="paper-exp2",
        train=TrainConfig(condition_batching="auto"),
        chunk_size=20,
    ),
    # A reduced Experiment 2 for about 40-60 minutes on 2 quiet CPU cores (docs/experiment2.md,
    # "The reduced run"): 67 px, 300 iterations (14 evaluation points), 3 references (0, 60,
    # 120 deg) and 3 folds (0, 1, 2), all six k; each task at the two dissimilarities whose
    # fully plastic network reached 95 % within 300 iterations in a pilot at 67 px: Gabor 1 and
    # 2 (0.5 and 1 deg; 2 deg and more are learned in under 20 iterations), faces 4 and 5
    # (morph distances 0.25 and 0.50; 0.15 was at 71 % after 150 iterations; in the reduced run
    # of docs/experiment2.md 0.25 stayed at 91 % after 300 iterations); 100 Gabor test pairs,
    # the 625 face test pairs; 72 conditions.
    "cpu-exp2": Experiment2Config(
        preset="cpu-exp2",
        references=(0.0, 60.0, 120.0),
        folds=(0, 1, 2),
        dissimilarities=(1, 2),
        face_dissimilarities=(4, 5),
        train=TrainConfig(
            image_size=67,
            num_iterations=300,
            num_eval_points=14,
            test_pairs=100,
            fold_pairs=20,
            test_separations=(10.0,),
        ),
    ),
    # Seconds on a CPU, for tests: both tasks, one reference and two folds of a small bundled
    # face set, one dissimilarity, k = 0 and 5, 3 iterations at 67 px.
    "smoke-exp2": Experiment2Config(
        preset="smoke-exp2",
        references=(0.0,),
        folds=(0, 1),
        dissimilarities=(5,),
        frozen_layers=(0, 5),
        train=TrainConfig(
            image_size=67,
            num_iterations=3,
            num_eval_points=2,
            test_pairs=20,
            fold_pairs=10,
            test_separations=(10.0,),
        ),
        faces=FaceConfig(num_male=6, num_female=6, fold_trials=2),
    ),
}


def preset(name: str) -> Experiment2Config:
    """The `Experiment2Config` of a named preset (`PRESETS`).

    Raises:
        InputError: an unknown preset, listing the known ones.
    """
    if name not in PRESETS:
        raise InputError(f"unknown Experiment 2 preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]


# --------------------------------------------------------------------------------------------
# Overrides


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(w) for w in _words(text))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(_int(w) for w in _words(text))


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


def _optional_int(text: str) -> int | None:
    return None if text.strip().lower() == "none" else _int(text)


_RUN_PARSERS: dict[str, Callable] = {
    "tasks": _words,
    "references": _floats,
    "folds": _ints,
    "dissimilarities": _ints,
    "face_dissimilarities": lambda text: None if text.strip().lower() == "none" else _ints(text),
    "frozen_layers": _ints,
    "wavelength_px": float,
    "contrast": float,
    "noise_sd": float,
    "learning_rate": float,
    "chunk_size": _int,
    "seed": _int,
    "keep_params": _bool,
}
_TRAIN_PARSERS: dict[str, Callable] = {
    "arch": alexnet.get_arch,
    "image_size": _int,
    "num_iterations": _int,
    "num_eval_points": _int,
    "batch_pairs": _int,
    "test_pairs": _int,
    "fold_pairs": _int,
    "momentum": float,
    "bias_lr_mult": float,
    "sigma_px": float,
    "quantize": _bool,
    "condition_batching": str,
    "size_units": str,
}
_FACE_PARSERS: dict[str, Callable] = {
    "face_source": str,
    "face_num_male": _int,
    "face_num_female": _int,
    "face_seed": _int,
    "face_fold_seed": _int,
    "face_per_sex": _optional_int,
    "face_train_per_sex": _optional_int,
    "face_warp": _bool,
    "face_test_trials": str,
    "face_fold_trials": _int,
}
OVERRIDE_KEYS: tuple[str, ...] = tuple(sorted({*_RUN_PARSERS, *_TRAIN_PARSERS, *_FACE_PARSERS}))
"""Keys of `apply_overrides`: the `Experiment2Config` fields, the `TrainConfig` fields (except
``frozen_layers``, which is the Experiment 2 axis, and ``test_separations``) and the
`FaceConfig` fields prefixed ``face_``."""


def apply_overrides(config: Experiment2Config, overrides: Sequence[str]) -> Experiment2Config:
    """Apply ``key=value`` overrides, e.g. ``frozen_layers=0,5``, ``face_source=/data/faces``.

    Sequences are comma-separated; keys are `OVERRIDE_KEYS`.

    Raises:
        InputError: a malformed item, an unknown key (listing the known ones), or a bad value.
    """
    parts: dict[str, dict] = {"run": {}, "train": {}, "faces": {}}
    for item in overrides:
        if "=" not in item:
            raise InputError(f"override {item!r} must look like key=value")
        key, text = (s.strip() for s in item.split("=", 1))
        if key in _RUN_PARSERS:
            part, parsers, name = "run", _RUN_PARSERS, key
        elif key in _TRAIN_PARSERS:
            part, parsers, name = "train", _TRAIN_PARSERS, key
        elif key in _FACE_PARSERS:
            part, parsers, name = "faces", _FACE_PARSERS, key.removeprefix("face_")
        else:
            raise InputError(
                f"unknown override key {key!r}; known keys: {', '.join(OVERRIDE_KEYS)}"
            )
        try:
            parts[part][name] = parsers[key](text)
        except (ValueError, OverflowError, InputError) as err:
            raise InputError(f"bad value for {key}: {text!r} ({err})") from None
    return dataclasses.replace(
        config,
        train=dataclasses.replace(config.train, **parts["train"]),
        faces=dataclasses.replace(config.faces, **parts["faces"]),
        **parts["run"],
    )


# --------------------------------------------------------------------------------------------
# Conditions, chunks and keys


def condition_table(config: Experiment2Config):
    """Every condition, in order (task, k, reference or fold, dissimilarity; last fastest).

    Returns:
        A DataFrame with columns ``task``, ``frozen_layers``, ``reference`` (degrees, or the
        fold index), ``dissimilarity`` and ``target_distance`` (the separation in degrees, or
        the male-weight distance of the face target from the reference).
    """
    import pandas as pd

    rows = []
    for task in config.tasks:
        distances = GABOR_SEPARATIONS if task == "gabor" else faces.DISSIMILARITY_OFFSETS
        for k in config.frozen_layers:
            for ref in config.units(task):
                for d in config.task_dissimilarities(task):
                    rows.append((task, k, float(ref), d, float(distances[d - 1])))
    columns = ["task", "frozen_layers", "reference", "dissimilarity", "target_distance"]
    return pd.DataFrame(rows, columns=columns)


class Chunk(NamedTuple):
    """One chunk: conditions of one task and one number of frozen layers."""

    index: int
    task: str
    frozen_layers: int
    conditions: np.ndarray


def chunk_plan(config: Experiment2Config) -> tuple[Chunk, ...]:
    """The chunks: each (task, k) group of conditions in runs of ``chunk_size`` (last short)."""
    table = condition_table(config)
    out = []
    for (task, k), group in table.groupby(["task", "frozen_layers"], sort=False):
        idx = group.index.to_numpy()
        for start in range(0, len(idx), config.chunk_size):
            out.append(Chunk(len(out), task, int(k), idx[start : start + config.chunk_size]))
    return tuple(out)


def chunk_conditions(config: Experiment2Config, index: int) -> np.ndarray:
    """Condition indices of chunk ``index`` (as `vpl_jax.experiment.chunk_conditions`).

    Raises:
        InputError: an index outside ``[0, num_chunks)``.
    """
    return _chunk(config, index).conditions


def _reference_code(task: str, reference: float) -> int:
    if task == "face":
        return int(reference)
    return int(np.int64(round(reference * 1000.0)) % 2**32)  # millidegrees


def unit_keys(config: Experiment2Config, indices: Sequence[int] | None = None) -> jax.Array:
    """The PRNG key of each condition: its unit's key, shared by its six values of k.

    ``fold_in(fold_in(fold_in(key(seed), task), reference), dissimilarity)`` with the task's
    index in `TASKS`, the reference in millidegrees (Gabor) or the fold index (face).

    Returns:
        ``(n,)`` typed keys.
    """
    table = condition_table(config)
    idx = np.arange(len(table)) if indices is None else np.asarray(indices)
    root = jax.random.key(config.seed)
    keys = []
    for i in idx:
        row = table.iloc[int(i)]
        key = jax.random.fold_in(root, TASKS.index(row.task))
        key = jax.random.fold_in(key, _reference_code(row.task, row.reference))
        keys.append(jax.random.fold_in(key, int(row.dissimilarity)))
    return jnp.stack(keys)


def conditions(config: Experiment2Config, indices: Sequence[int]) -> train.Condition:
    """`vpl_jax.train.Condition` leaves ``(n,)`` of the conditions ``indices`` (one task).

    Gabor: reference_deg, separation_deg, the wavelength, contrast, noise and learning rate.
    Face: ``reference_deg`` holds the fold index and ``separation_deg`` the morph distance (the
    face programs read only contrast, noise_sd and learning_rate).
    """
    rows = condition_table(config).iloc[np.asarray(indices)]
    return train.Condition.create(
        rows.reference.to_numpy(),
        rows.target_distance.to_numpy(),
        config.wavelength_px,
        config.contrast,
        config.noise_sd,
        config.learning_rate,
    )


# --------------------------------------------------------------------------------------------
# Faces


def load_face_set(config: Experiment2Config) -> faces.FaceSet:
    """The run's faces at ``config.train.image_size``: bundled, or loaded from ``faces.source``.

    Raises:
        InputError: an unreadable source (`vpl_jax.faces.load_faces`).
    """
    fc, size = config.faces, config.train.image_size
    if fc.source == "bundled":
        return faces.bundled_faces(jax.random.key(fc.seed), fc.num_male, fc.num_female, size=size)
    return faces.load_faces(fc.source, size=size)


def _face_sha256(face_set: faces.FaceSet) -> str:
    digest = hashlib.sha256()
    for arr in (face_set.images, face_set.sex, face_set.landmarks):
        if arr is not None:
            a = np.ascontiguousarray(np.asarray(arr))
            digest.update(f"{a.dtype.str}:{a.shape}".encode())
            digest.update(a.tobytes())
    return digest.hexdigest()


def _folds(config: Experiment2Config, face_set: faces.FaceSet) -> tuple[faces.Fold, ...]:
    fc = config.faces
    return faces.cv_folds(
        face_set.sex,
        num_folds=max(config.folds) + 1,
        per_sex=fc.per_sex,
        train_per_sex=fc.train_per_sex,
        seed=fc.fold_seed,
    )


def _test_trials(config: Experiment2Config, fold: faces.Fold):
    make = faces.evaluation_trials if config.faces.test_trials == "pairs" else faces.pair_trials
    return make(fold.test_pairs)


def _check_faces(config: Experiment2Config, face_set: faces.FaceSet, folds) -> None:
    size = config.train.image_size
    if face_set.images.shape[1:] != (size, size):
        raise InputError(
            f"faces must be {size} x {size} px (the run's image_size), got "
            f"{face_set.images.shape[1:]}"
        )
    if config.faces.warp and face_set.landmarks is None:
        raise InputError(
            "faces.warp=True needs landmarks and these faces have none; set face_warp=false "
            "(pixel blends of aligned faces) or supply landmark files"
        )
    n_trials = len(_test_trials(config, folds[0])[1])
    if n_trials % config.faces.fold_trials:
        raise InputError(
            f"FaceConfig.fold_trials must divide the {n_trials} test trials of a fold, got "
            f"{config.faces.fold_trials}"
        )


class FaceData(NamedTuple):
    """Face stimuli of ``C`` conditions (a pytree; the bank is shared).

    Attributes:
        bank: the `vpl_jax.faces.FaceBank` of the whole face set (pairs index its rows).
        train_pairs: ``(C, P, 2)`` int32 training pairs (male, female) of each condition's fold.
        test_pairs: ``(C, Q, 2)`` int32 test-trial pairs.
        test_labels: ``(C, Q)`` float32 test labels (1 = masculine target).
        dissimilarity: ``(C,)`` int32, 1..5.
    """

    bank: faces.FaceBank
    train_pairs: jax.Array
    test_pairs: jax.Array
    test_labels: jax.Array
    dissimilarity: jax.Array


def face_data(
    config: Experiment2Config,
    indices: Sequence[int],
    bank: faces.FaceBank,
    folds: Sequence[faces.Fold],
) -> FaceData:
    """The `FaceData` of face conditions ``indices`` (their folds' pairs, their dissimilarity)."""
    rows = condition_table(config).iloc[np.asarray(indices)]
    if set(rows.task) != {"face"}:
        raise InputError(f"face_data needs face conditions, got tasks {sorted(set(rows.task))}")
    chosen = [folds[int(f)] for f in rows.reference]
    trials = [_test_trials(config, f) for f in chosen]
    return FaceData(
        bank=bank,
        train_pairs=jnp.asarray(np.stack([f.train_pairs for f in chosen]), jnp.int32),
        test_pairs=jnp.asarray(np.stack([t[0] for t in trials]), jnp.int32),
        test_labels=jnp.asarray(np.stack([t[1] for t in trials]), jnp.float32),
        dissimilarity=jnp.asarray(rows.dissimilarity.to_numpy(), jnp.int32),
    )


# --------------------------------------------------------------------------------------------
# Programs (one condition each, vmapped over C)


def _base(config: TrainConfig) -> TrainConfig:
    """The config without frozen layers: the key of the programs that do not depend on k."""
    return dataclasses.replace(config, frozen_layers=0)


def face_test_frames(
    bank: faces.FaceBank,
    pairs: jax.Array,
    labels: jax.Array,
    dissimilarity: jax.Array,
    *,
    warp: bool = True,
    batch: int = 25,
) -> jax.Array:
    """Noiseless (reference, target) images of the test trials of one face condition.

    The reference is the 50 % morph of the trial's pair, the target its M_d frame (label 1) or
    F_d frame (label 0) at dissimilarity ``d`` (`vpl_jax.faces.triplet_male_weights`). The
    frames are computed once per condition (``lax.map`` over batches of ``batch`` trials);
    each evaluation point only adds fresh noise.

    Args:
        bank: the `vpl_jax.faces.FaceBank`.
        pairs: ``(Q, 2)`` bank rows (male, female), ``Q`` a multiple of ``batch``.
        labels: ``(Q,)`` 1 (masculine target) or 0.
        dissimilarity: 1..5 (may be traced).
        warp: landmark warp or blend; static.
        batch: trials per morph batch (static).

    Returns:
        ``(Q, 2, H, W)`` float32 on the 0..255 scale.
    """
    q = pairs.shape[0]
    if q % batch:
        raise InputError(f"batch must divide the {q} test trials, got {batch}")
    weights = faces.triplet_male_weights(dissimilarity)

    def one(args):
        batch_pairs, batch_labels = args
        frames = faces.face_triplets(bank, batch_pairs, weights, warp=warp)
        target = jnp.where(batch_labels[:, None, None] > 0, frames[:, 1], frames[:, 2])
        return jnp.stack([frames[:, 0], target], axis=1)

    out = jax.lax.map(one, (pairs.reshape(q // batch, batch, 2), labels.reshape(q // batch, batch)))
    return out.reshape(q, 2, *out.shape[3:])


@functools.lru_cache(maxsize=16)
def _setup_program(config: TrainConfig, task: str, warp: bool, fold_trials: int) -> Callable:
    """Per-condition train and test keys, and the noiseless test stimuli: (Gabor) the trained
    triplet of Experiment 1, (face) the test frames of `face_test_frames`."""

    def setup(keys, conds, data):
        def one(key, cond, *face_args):
            train_key, test_key = jax.random.split(key)
            if task == "gabor":  # Experiment 1's templates; the transfer ones are dead code
                stim = train.make_templates(cond, config=config)["test"][0]
            else:
                stim = face_test_frames(data.bank, *face_args, warp=warp, batch=fold_trials)
            return train_key, test_key, stim

        if task == "gabor":
            return jax.vmap(one)(keys, conds)
        face_args = (data.test_pairs, data.test_labels, data.dissimilarity)
        return jax.vmap(one)(keys, conds, *face_args)

    return jax.jit(setup)


@functools.lru_cache(maxsize=16)
def _init_program(config: TrainConfig) -> Callable:
    """`vpl_jax.train.init_state` of every condition (the optimiser state depends on k)."""

    def init(conds, initial):
        return jax.vmap(lambda c: train.init_state(c, initial, config=config))(conds)

    return jax.jit(init)


@functools.lru_cache(maxsize=16)
def _change_program(config: TrainConfig) -> Callable:
    fun = functools.partial(train.layer_change, layer_names=config.layer_names)
    return jax.jit(jax.vmap(fun, in_axes=(0, None)))


def _gabor_step(config: TrainConfig):
    def step(train_keys, conds, states, triplets):
        def one(key, cond, state, triplet):
            batch = train.sample_pairs(
                jax.random.fold_in(key, state.step), triplet, cond, config.batch_pairs
            )
            return train.train_step(state, batch, condition=cond, config=config)

        return jax.vmap(one)(train_keys, conds, states, triplets)

    return step


def _gabor_accuracies(config: TrainConfig):
    def accuracies(test_keys, conds, params, triplets, index):
        def one(key, cond, p, triplet):
            key = jax.random.fold_in(key, index)
            out = train.accuracies(key, cond, p, triplet[None], config=config)
            return out["accuracy"][0], out["accuracy_sym"][0]

        return jax.vmap(one)(test_keys, conds, params, triplets)

    return accuracies


def face_batch(
    key: jax.Array,
    bank: faces.FaceBank,
    pairs: jax.Array,
    dissimilarity: jax.Array,
    condition: train.Condition,
    *,
    num_trials: int = 20,
    warp: bool = True,
):
    """The training batch of one face condition, in network units.

    ``num_trials / 2`` pairs drawn with replacement from ``pairs``, each giving its masculine
    (label 1) and feminine (label 0) trial (`vpl_jax.faces.sample_face_batch`), then
    ``contrast (I - 125) + N(0, noise_sd^2)`` with fresh noise for every image
    (`vpl_jax.stimuli.network_input`), as for Gabors.

    Args:
        key: PRNG key (split into the pair draw and the noise).
        bank: the `vpl_jax.faces.FaceBank`.
        pairs: ``(P, 2)`` training pairs (bank rows).
        dissimilarity: 1..5 (may be traced).
        condition: a `vpl_jax.train.Condition` (contrast and noise_sd are read).
        num_trials: trials per batch, even (20).
        warp: landmark warp or blend (static).

    Returns:
        ``(reference, target, labels)``: ``(num_trials, H, W, 1)`` images and ``(num_trials,)``
        labels 1, 0, 1, 0, ...
    """
    pair_key, noise_key = jax.random.split(key)
    reference, target, labels = faces.sample_face_batch(
        pair_key, bank, pairs, dissimilarity, num_trials, warp=warp
    )
    x = stimuli.network_input(
        noise_key, jnp.stack([reference, target]), condition.contrast, condition.noise_sd
    )[..., None]
    return x[0], x[1], labels


def _face_step(config: TrainConfig, warp: bool):
    def step(train_keys, conds, states, data: FaceData):
        def one(key, cond, state, pairs, dissimilarity):
            batch = face_batch(
                jax.random.fold_in(key, state.step),
                data.bank,
                pairs,
                dissimilarity,
                cond,
                num_trials=config.batch_pairs,
                warp=warp,
            )
            return train.train_step(state, batch, condition=cond, config=config)

        return jax.vmap(one)(train_keys, conds, states, data.train_pairs, data.dissimilarity)

    return step


def _face_accuracies(config: TrainConfig, fold_trials: int):
    _, logit = train.network(config)

    def accuracies(test_keys, conds, params, stim, index):
        frames, labels = stim

        def one(key, cond, p, frames, labels):
            n_folds = frames.shape[0] // fold_trials
            keys = jax.random.split(jax.random.fold_in(key, index), n_folds)

            def fold(args):
                fold_key, fold_frames, fold_labels = args  # (F, 2, H, W), (F,)
                x = stimuli.network_input(
                    fold_key, jnp.swapaxes(fold_frames, 0, 1), cond.contrast, cond.noise_sd
                )[..., None]
                prob = jax.nn.sigmoid(logit(p, x[0], x[1]))
                return jnp.mean(jnp.where(fold_labels > 0, prob, 1.0 - prob))

            shape = (n_folds, fold_trials)
            means = jax.lax.map(
                fold,
                (keys, frames.reshape(*shape, *frames.shape[1:]), labels.reshape(shape)),
            )
            return jnp.mean(means), jnp.mean(jnp.maximum(means, 1.0 - means))

        return jax.vmap(one)(test_keys, conds, params, frames, labels)

    return accuracies


@functools.lru_cache(maxsize=32)
def _step_program(task: str, config: TrainConfig, warp: bool) -> Callable:
    step = _gabor_step(config) if task == "gabor" else _face_step(config, warp)
    return jax.jit(step, donate_argnums=(2,))


@functools.lru_cache(maxsize=16)
def _accuracy_program(task: str, config: TrainConfig, fold_trials: int) -> Callable:
    if task == "gabor":
        return jax.jit(_gabor_accuracies(config))
    return jax.jit(_face_accuracies(config, fold_trials))


class TaskResult(NamedTuple):
    """Outputs of `train_task` (numpy; ``C`` conditions, ``E`` evaluation points).

    Attributes:
        eval_iterations: ``(E,)``.
        accuracy: ``(C, E)`` mean p(correct) on the test trials.
        accuracy_sym: ``(C, E)`` the per-fold ``max(m, 1 - m)``, averaged over folds.
        layer_change: ``(C, E, 6, 4)`` `vpl_jax.train.CHANGE_MEASURES` of conv1-5 and the
            readout.
        train_loss: ``(C, E)`` mean training loss since the previous evaluation (NaN at 0).
        initial_params: the shared initial model params.
        final_params: final params, leaves with a leading ``C`` axis.
    """

    eval_iterations: np.ndarray
    accuracy: np.ndarray
    accuracy_sym: np.ndarray
    layer_change: np.ndarray
    train_loss: np.ndarray
    initial_params: dict
    final_params: dict


def train_task(
    task: str,
    keys: jax.Array,
    conds: train.Condition,
    backbone: dict,
    *,
    config: TrainConfig,
    data: FaceData | None = None,
    warp: bool = True,
    fold_trials: int = 25,
    progress: Callable[[int], None] | None = None,
) -> TaskResult:
    """Train ``C`` conditions of one task with ``config.frozen_layers`` frozen layers.

    Args:
        task: ``"gabor"`` or ``"face"``.
        keys: ``(C,)`` typed PRNG keys (`unit_keys`).
        conds: `vpl_jax.train.Condition` with ``(C,)`` leaves (`conditions`).
        backbone: conv1-5 params of ``config.arch`` (a zero readout is added).
        config: static structure, with the chunk's ``frozen_layers``.
        data: the face stimuli (`face_data`; face task only).
        warp: face morphs by landmark warp (True) or blend; static.
        fold_trials: face test trials per fold of the symmetrised accuracy; static.
        progress: called with 1 after every iteration (blocks the host; for a progress bar).

    Returns:
        A `TaskResult`.

    Raises:
        InputError: an unknown task, a face task without data, mismatched ``C`` -- before any
            compute.
    """
    if task not in TASKS:
        raise InputError(f"task must be one of {TASKS}, got {task!r}")
    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a TrainConfig, got {type(config).__name__}")
    train.validate_condition(conds)
    shapes = {np.shape(x) for x in jax.tree.leaves(conds)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise InputError(f"expected Condition leaves of one shape (C,), got {sorted(shapes)}")
    (n_cond,) = next(iter(shapes))
    if keys.shape != (n_cond,):
        raise InputError(f"expected keys of shape ({n_cond},), got {keys.shape}")
    if task == "face":
        if not isinstance(data, FaceData):
            raise InputError("the face task needs its FaceData (experiment2.face_data)")
        if data.train_pairs.shape[0] != n_cond or data.test_pairs.shape[0] != n_cond:
            raise InputError(
                f"FaceData must hold {n_cond} conditions, got {data.train_pairs.shape[0]}"
            )
        if data.test_pairs.shape[1] % fold_trials:
            raise InputError(
                f"fold_trials must divide the {data.test_pairs.shape[1]} test trials, "
                f"got {fold_trials}"
            )
    initial = jax.device_get(siamese.init_model(backbone, config.arch, config.image_size))
    base, warp, fold_trials = _base(config), bool(warp), int(fold_trials)
    step = _step_program(task, config, warp)
    accuracies = _accuracy_program(task, base, fold_trials)
    change = _change_program(base)
    train_keys, test_keys, test_stim = _setup_program(base, task, warp, fold_trials)(
        keys, conds, data
    )
    states = _init_program(config)(conds, initial)
    stim = test_stim if task == "gabor" else data
    if task == "face":
        test_stim = (test_stim, data.test_labels)

    schedule = config.eval_iterations
    acc, acc_sym, changes, losses = [], [], [], []
    done = 0
    for index, it in enumerate(schedule):
        segment = []
        while done < it:
            states, metrics = step(train_keys, conds, states, stim)
            segment.append(metrics["loss"])
            done += 1
            if progress is not None:
                jax.block_until_ready(metrics["loss"])
                progress(1)
        losses.append(
            np.mean(np.stack(jax.device_get(segment)), axis=0)
            if segment
            else np.full((n_cond,), np.nan, np.float32)
        )
        a, a_sym = accuracies(test_keys, conds, states.params, test_stim, index)
        record = jax.device_get((a, a_sym, change(states.params, initial)))
        acc.append(record[0])
        acc_sym.append(record[1])
        changes.append(record[2])
    return TaskResult(
        eval_iterations=np.asarray(schedule, np.int32),
        accuracy=np.stack(acc, axis=1).astype(np.float32),
        accuracy_sym=np.stack(acc_sym, axis=1).astype(np.float32),
        layer_change=np.stack(changes, axis=1).astype(np.float32),
        train_loss=np.stack(losses, axis=1).astype(np.float32),
        initial_params=initial,
        final_params=jax.device_get(states.params),
    )


# --------------------------------------------------------------------------------------------
# The run folder


class RunContext(NamedTuple):
    """What every chunk of a run needs (`prepare`, `open_run`).

    Attributes:
        out: the run folder.
        backbone: conv1-5 params.
        weights_info: the weights record (`vpl_jax.experiment.resolve_weights`).
        faces_info: ``{"source", "sha256", "num_male", "num_female"}`` (empty without faces).
        face_set: the `vpl_jax.faces.FaceSet` (None without the face task).
        folds: its folds (empty without the face task).
        bank: its `vpl_jax.faces.FaceBank` on the device (None without the face task).
        provenance: what each chunk's manifest records.
    """

    out: Path
    backbone: dict
    weights_info: dict
    faces_info: dict
    face_set: faces.FaceSet | None
    folds: tuple
    bank: faces.FaceBank | None
    provenance: dict


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


def _record(config: Experiment2Config, weights_info: dict, faces_info: dict) -> dict:
    return {
        "experiment": "wenliang-seitz-2018-experiment2",
        "run": config.to_dict(),
        "weights": weights_info,
        "faces": faces_info,
        "vpl_jax_version": __version__,
    }


def prepare(config: Experiment2Config, *, out_dir, weights: str = "default") -> RunContext:
    """Check the folder, the weights and the faces, then write (or check) the config record.

    Everything that can fail on bad input fails here, before anything is written: the folder,
    the weights (architecture), the faces (readable, enough of each sex for the folds, landmarks
    when warping, the fold size of the test trials).

    Raises:
        InputError: any of the above; `vpl_jax.runs.RunFolderError` for a folder holding a
            different run (config, weights or faces).
    """
    if not isinstance(config, Experiment2Config):
        raise InputError(f"config must be an Experiment2Config, got {type(config).__name__}")
    out = _check_out_dir(out_dir)
    backbone, weights_info = experiment.resolve_weights(weights, config.train.arch)
    face_set, folds, bank, faces_info = None, (), None, {}
    if "face" in config.tasks:
        face_set = load_face_set(config)
        folds = _folds(config, face_set)
        _check_faces(config, face_set, folds)
        faces_info = {
            "source": config.faces.source,
            "sha256": _face_sha256(face_set),
            "num_male": int(np.sum(face_set.sex == 1)),
            "num_female": int(np.sum(face_set.sex == 0)),
        }
        bank = faces.face_bank(face_set)
    runs.write_config_record(
        out, _record(config, weights_info, faces_info), compare=("run", "weights", "faces")
    )
    provenance = {
        "config_sha256": config_sha256(config),
        "weights_sha256": weights_info["sha256"],
        "faces_sha256": faces_info.get("sha256", ""),
    }
    return RunContext(out, backbone, weights_info, faces_info, face_set, folds, bank, provenance)


def open_run(out_dir) -> tuple[Experiment2Config, RunContext]:
    """The config and context of an existing Experiment 2 run folder (for chunk workers).

    Raises:
        RunFolderError: not a run folder, or not an Experiment 2 one.
    """
    record = runs.read_config_record(out_dir)
    if record.get("experiment") != "wenliang-seitz-2018-experiment2":
        raise runs.RunFolderError(f"{out_dir} is not an Experiment 2 run folder")
    config = Experiment2Config.from_dict(record["run"])
    return config, prepare(config, out_dir=out_dir, weights=record["weights"]["requested"])


def _chunk_provenance(context: RunContext, chunk: Chunk) -> dict:
    return {
        **context.provenance,
        "chunk": chunk.index,
        "task": chunk.task,
        "frozen_layers": chunk.frozen_layers,
        "conditions": chunk.conditions.tolist(),
    }


def _chunk(config: Experiment2Config, index: int) -> Chunk:
    plan = chunk_plan(config)
    if not isinstance(index, int | np.integer) or not 0 <= index < len(plan):
        raise InputError(f"chunk index must be in [0, {len(plan) - 1}], got {index!r}")
    return plan[int(index)]


def load_chunk(config: Experiment2Config, context: RunContext, index: int) -> dict:
    """Read a finished chunk, checking its provenance and checksums.

    Raises:
        CheckpointError: missing, damaged, or produced by another run.
    """
    chunk = _chunk(config, index)
    path = runs.chunk_path(context.out, chunk.index)
    if not runs.is_finished(path):
        raise runs.CheckpointError(f"chunk {index} ({path}) has not been computed")
    recorded = runs.read_manifest(path).get("provenance") or {}
    for key, value in _chunk_provenance(context, chunk).items():
        if recorded.get(key) != value:
            raise runs.CheckpointError(
                f"checkpoint {path} was produced by another run ({key} {recorded.get(key)!r}, "
                f"this run {value!r}); delete it to recompute it, or resume with its config"
            )
    return runs.restore_tree(path)


def train_chunk(
    config: Experiment2Config, context: RunContext, index: int, *, progress=None
) -> dict:
    """Train chunk ``index`` and write its checkpoint (a finished chunk is read instead).

    Returns:
        The chunk's tree: ``accuracy``, ``accuracy_sym`` ``(n, E)``, ``layer_change``
        ``(n, E, 6, 4)``, ``train_loss`` ``(n, E)`` (and ``final_params`` with
        ``keep_params``).
    """
    chunk = _chunk(config, index)
    path = runs.chunk_path(context.out, chunk.index)
    if runs.is_finished(path):
        return load_chunk(config, context, chunk.index)
    idx = chunk.conditions
    padded = np.concatenate([idx, np.full(config.chunk_size - len(idx), idx[-1])])
    data = None
    if chunk.task == "face":
        data = face_data(config, padded, context.bank, context.folds)
    start = time.perf_counter()
    result = train_task(
        chunk.task,
        unit_keys(config, padded),
        conditions(config, padded),
        context.backbone,
        config=dataclasses.replace(config.train, frozen_layers=chunk.frozen_layers),
        data=data,
        warp=config.faces.warp,
        fold_trials=config.faces.fold_trials,
        progress=progress,
    )
    n = len(idx)
    tree = {f: getattr(result, f)[:n] for f in _RESULT_FIELDS}
    if config.keep_params:
        tree["final_params"] = jax.tree.map(lambda x: np.asarray(x)[:n], result.final_params)
    initial_path = runs.initial_params_path(context.out)
    if not runs.is_finished(initial_path):
        runs.save_tree(initial_path, result.initial_params)
    seconds = round(time.perf_counter() - start, 1)  # compile included; not checked on resume
    runs.save_tree(path, tree, provenance={**_chunk_provenance(context, chunk), "seconds": seconds})
    return tree


def chunk_status(config: Experiment2Config, out_dir) -> list[bool]:
    """For each chunk, whether its checkpoint is finished."""
    return [runs.is_finished(runs.chunk_path(out_dir, c.index)) for c in chunk_plan(config)]


def results_dataset(
    config: Experiment2Config,
    results: dict,
    weights_info: dict,
    faces_info: dict | None = None,
    *,
    indices: Sequence[int] | None = None,
):
    """The run's labelled Dataset, in the layout of `vpl_jax.analysis.experiment2`.

    Dimensions ``condition``, ``iteration`` (the evaluation iterations), ``test``
    (``["trained"]``: the held-out test trials of the trained condition), ``layer``
    (``conv1..conv5, readout``) and ``measure`` (``d_rel1, d_rel2, d_m1, d_m2``). Coordinates on
    ``condition``: ``task``, ``reference`` (degrees or fold), ``dissimilarity``,
    ``frozen_layers`` and ``target_distance``. Variables: ``accuracy`` and ``accuracy_sym``
    ``(condition, iteration, test)``, ``layer_change`` ``(condition, iteration, layer,
    measure)``, ``train_loss`` ``(condition, iteration)``, and the health flags of
    `vpl_jax.train.health` (int8) ``finite`` ``(condition, iteration)`` and ``degenerate``
    ``(condition)``. Attributes: preset, config (JSON), the weights and the faces used.

    Args:
        config: the run.
        results: ``{field: (N, ...)}`` for all N conditions in order (`merge` builds it), or
            for the conditions ``indices``.
        weights_info, faces_info: the records of `prepare`.
        indices: the conditions present (default all); the ``condition`` coordinate holds
            their indices in `condition_table`.
    """
    import xarray as xr

    table = condition_table(config)
    its = np.asarray(config.train.eval_iterations, np.int32)
    index = np.arange(len(table)) if indices is None else np.asarray(indices, np.int64)
    if (
        index.ndim != 1
        or len(np.unique(index)) != len(index)
        or not np.all((index >= 0) & (index < len(table)))
    ):
        raise InputError(f"indices must be distinct conditions in [0, {len(table)})")
    table = table.iloc[index].reset_index(drop=True)
    n = len(table)
    for name in _RESULT_FIELDS:
        if name not in results or np.shape(results[name])[:2] != (n, len(its)):
            raise InputError(
                f"results[{name!r}] must have shape ({n}, {len(its)}, ...), got "
                f"{np.shape(results.get(name))}"
            )
    finite = np.zeros((n, len(its)), np.int8)
    degenerate = np.zeros(n, np.int8)
    for k in config.frozen_layers:
        rows = np.flatnonzero(table.frozen_layers.to_numpy() == k)
        flags = train.health(
            results["accuracy"][rows][..., None],
            results["layer_change"][rows],
            results["train_loss"][rows],
            frozen_layers=k,
        )
        finite[rows], degenerate[rows] = flags["finite"], flags["degenerate"]
    coords = {
        "condition": index.astype(np.int32),
        "iteration": its,
        "test": ["trained"],
        "layer": list(config.train.layer_names),
        "measure": list(train.CHANGE_MEASURES),
        "task": ("condition", table.task.to_numpy().astype(str)),
        "reference": ("condition", table.reference.to_numpy(np.float64)),
        "dissimilarity": ("condition", table.dissimilarity.to_numpy(np.int32)),
        "frozen_layers": ("condition", table.frozen_layers.to_numpy(np.int32)),
        "target_distance": ("condition", table.target_distance.to_numpy(np.float64)),
    }
    cit = ("condition", "iteration", "test")
    variables = {
        "accuracy": (cit, np.asarray(results["accuracy"], np.float32)[..., None]),
        "accuracy_sym": (cit, np.asarray(results["accuracy_sym"], np.float32)[..., None]),
        "layer_change": (
            ("condition", "iteration", "layer", "measure"),
            np.asarray(results["layer_change"], np.float32),
        ),
        "train_loss": (("condition", "iteration"), np.asarray(results["train_loss"], np.float32)),
        "finite": (("condition", "iteration"), finite),
        "degenerate": (("condition",), degenerate),
    }
    ds = xr.Dataset(variables, coords=coords)
    faces_info = faces_info or {}
    ds.attrs.update(
        experiment="wenliang-seitz-2018-experiment2",
        preset=config.preset,
        config=json.dumps(config.to_dict()),
        weights=weights_info["source"],
        weights_requested=weights_info["requested"],
        weights_random=int(weights_info["random"]),
        weights_sha256=weights_info["sha256"],
        weights_note=weights_info["note"],
        faces=faces_info.get("source", ""),
        faces_sha256=faces_info.get("sha256", ""),
        vpl_jax_version=__version__,
    )
    return ds


def merge(config: Experiment2Config, context: RunContext, chunks: list[dict] | None = None):
    """Assemble and write ``results.nc`` from every finished chunk.

    Raises:
        CheckpointError: a chunk is missing, damaged or from another run.
    """
    plan = chunk_plan(config)
    if chunks is None:
        chunks = [load_chunk(config, context, c.index) for c in plan]
    results = {f: np.concatenate([t[f] for t in chunks]) for f in _RESULT_FIELDS}
    ds = results_dataset(config, results, context.weights_info, context.faces_info)
    runs.save_results(context.out, ds)
    return ds


def finished_dataset(config: Experiment2Config, context: RunContext):
    """The Dataset of the chunks finished so far (a run in progress or stopped); nothing is written.

    Its ``condition`` coordinate keeps the conditions' indices in `condition_table`, and the
    attribute ``finished_chunks`` says how many of how many chunks it holds.

    Returns:
        The Dataset, or None when no chunk is finished.

    Raises:
        CheckpointError: a finished chunk is damaged or from another run.
    """
    plan = chunk_plan(config)
    done = [c for c in plan if runs.is_finished(runs.chunk_path(context.out, c.index))]
    if not done:
        return None
    trees = [load_chunk(config, context, c.index) for c in done]
    results = {f: np.concatenate([t[f] for t in trees]) for f in _RESULT_FIELDS}
    indices = np.concatenate([c.conditions for c in done])
    ds = results_dataset(config, results, context.weights_info, context.faces_info, indices=indices)
    ds.attrs["finished_chunks"] = f"{len(done)} of {len(plan)}"
    return ds


def sweep(
    config: Experiment2Config,
    *,
    out_dir,
    weights: str = "default",
    progress: bool = True,
    max_chunks: int | None = None,
):
    """Train every chunk (resuming: finished chunks are read back and checked), then merge.

    Args:
        config: the run.
        out_dir: run folder (created).
        weights: ``"default"``, a weight-file path or ``"random:SEED"``.
        progress: a tqdm bar (conditions x iterations) on stderr.
        max_chunks: stop after training this many new chunks (returns None; for tests of
            resuming and for time-boxed work).

    Returns:
        The results Dataset (also ``<out_dir>/results.nc``), or None when stopped early.
    """
    from tqdm.auto import tqdm

    context = prepare(config, out_dir=out_dir, weights=weights)
    plan = chunk_plan(config)
    total = sum(len(c.conditions) for c in plan) * config.train.num_iterations
    bar = tqdm(total=total, unit="it", desc="training", disable=not progress, file=sys.stderr)
    chunks, trained = [], 0
    try:
        for chunk in plan:
            n_c = len(chunk.conditions)
            bar.set_description(
                f"chunk {chunk.index + 1}/{len(plan)} ({chunk.task}, k={chunk.frozen_layers})"
            )
            if runs.is_finished(runs.chunk_path(context.out, chunk.index)):
                chunks.append(load_chunk(config, context, chunk.index))
                bar.update(n_c * config.train.num_iterations)
                continue
            if max_chunks is not None and trained >= max_chunks:
                return None
            callback = (lambda steps, n_c=n_c: bar.update(steps * n_c)) if progress else None
            chunks.append(train_chunk(config, context, chunk.index, progress=callback))
            trained += 1
    finally:
        bar.close()
    return merge(config, context, chunks)


def _fmt(value, digits: int = 3) -> str:
    return "nan" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


def summary_table(ds) -> str:
    """A text summary of an Experiment 2 Dataset: accuracies, t95, drops, steps, ANOVA.

    Per task: the final test accuracy of each k (mean over units), the fraction of fully
    plastic units reaching 95 %, their mean t95, the pooled accuracy drops at t95 per k with
    Bonferroni-corrected t-tests, the layer of the largest step; the layer x task interaction of
    the change proportions (k = 0, 1) when both tasks are present. Every condition is used;
    the ``finite`` and ``degenerate`` flags of the Dataset name the unhealthy ones.
    """
    res = analysis.analyze(ds)
    its = ds.iteration.values
    weights_line = f"weights: {ds.attrs.get('weights', '?')}"
    if int(ds.attrs.get("weights_random", 0)):
        weights_line += "  (RANDOM weights, not pretrained)"
    lines = [
        f"Experiment 2 ({ds.attrs.get('preset', '?')}): {ds.sizes['condition']} conditions, "
        f"{int(its[-1])} iterations",
        weights_line,
        f"faces: {ds.attrs.get('faces') or '-'}",
    ]
    acc = ds.accuracy.sel(test="trained").isel(iteration=-1).values
    tasks = [str(t) for t in ds.task.values]
    ks = np.asarray(ds.frozen_layers.values)
    for task in [t for t in TASKS if t in tasks]:
        lines.append(f"\n[{task}]")
        parts = []
        for k in sorted(set(ks.tolist())):
            sel = (np.asarray(tasks) == task) & (ks == k)
            if sel.any():
                parts.append(f"k={k}: {np.nanmean(acc[sel]):.3f}")
        lines.append("final test accuracy (mean over units): " + ", ".join(parts))
        t95 = res.t95[res.t95.task == task]
        if len(t95):
            lines.append(
                f"k=0 reached 95 %: {int(t95.reached.sum())}/{len(t95)} units, mean t95 "
                f"{_fmt(t95.t95.mean())} iterations"
            )
        pooled = res.drop_tests_pooled[res.drop_tests_pooled.task == task]
        for row in pooled.itertuples(index=False):
            verdict = "significant" if row.significant else "n.s."
            if not row.testable:
                verdict = f"not testable ({row.reason})"
            lines.append(
                f"  drop at t95, k={row.frozen_layers}: mean {_fmt(row.mean)} (n={row.n}), "
                f"p_bonf={_fmt(row.p_bonferroni)} {verdict}"
            )
        steps = res.step_summary[res.step_summary.task == task]
        for row in steps.itertuples(index=False):
            if not row.testable:
                lines.append(f"  largest step: not testable ({row.reason})")
                continue
            lines.append(
                f"  largest step at k={int(row.largest_step)} (mean increment "
                f"{_fmt(row.largest_increment)}); first significant drop at k={_fmt(row.onset)}"
            )
    for k, table in res.anova.items():
        inter = table[table.term == "C(layer):C(task)"].iloc[0]
        p = _fmt(inter.p) if inter.testable else f"not testable ({inter.reason})"
        lines.append(f"\nchange proportions, k={k}: layer x task interaction p = {p}")
    return "\n".join(lines)


def run(config: Experiment2Config, *, out_dir, weights: str = "default", progress: bool = True):
    """`sweep`, then ``summary.txt`` and the analysis tables (CSV) in ``<out_dir>/analysis``.

    Figure 5 is drawn by the caller (`vpl_jax.figures.experiment2.figure_5(ds)`; the figures
    layer sits above this one).

    Returns:
        The results Dataset.
    """
    ds = sweep(config, out_dir=out_dir, weights=weights, progress=progress)
    runs.write_text(Path(out_dir) / runs.SUMMARY_FILE, summary_table(ds) + "\n")
    res = analysis.analyze(ds)
    folder = runs.analysis_dir(out_dir)
    tables = {
        "t95": res.t95,
        "drops": res.drops,
        "drop_tests": res.drop_tests,
        "drop_tests_pooled": res.drop_tests_pooled,
        "step_summary": res.step_summary,
        "full_accuracy": res.full_accuracy,
    }
    for k in res.proportions:
        tables[f"proportions_k{k}"] = res.proportions[k]
        tables[f"anova_k{k}"] = res.anova[k]
        tables[f"posthoc_k{k}"] = res.posthoc[k]
    for name, table in tables.items():
        runs.write_text(folder / f"exp2_{name}.csv", table.to_csv(index=False))
    return ds
