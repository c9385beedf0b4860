r"""Training the siamese AlexNet on 2-interval orientation discrimination.

One *condition* is one network trained on one task: a reference orientation, an angle separation,
a Gabor wavelength, a contrast, a pixel-noise level and a learning rate, all array leaves of the
`Condition` pytree (so that conditions can be batched along a leading axis ``C``). Static
structure (architecture, image size, number of iterations, batch and test sizes, momentum, bias
learning-rate multiplier, frozen layers) lives in the frozen, hashable `TrainConfig`.

Per iteration (`train_step`): 20 pairs with balanced labels (label 1 = target rotated clockwise by
the separation), fresh Gaussian pixel noise for every image, the network input ``contrast * (I -
125) + noise``, the siamese loss of `vpl_jax.siamese`, and one optax SGD-momentum step (momentum
0.9, constant learning rate, no weight decay, bias learning rate x2 as Caffe's ``lr_mult``, layers
1..k frozen on request).

At the evaluation iterations (`eval_iterations`: 0, 1, 2, 3, 4, 5, 6, 8, 12, ..., 695, 1000 for
1000 iterations) only scalars are recorded: for the trained condition and the four transfer
conditions (`TEST_CONDITIONS`) the mean p(correct) over the test pairs and the paper's per-fold
symmetrised accuracy, and the four layer-change measures of `layer_change` for conv1-5 and the
readout. After training, the accuracies at every test separation (`TrainConfig.test_separations`)
for every test condition give the rows of the paper's 5 x 5 train x test separation matrices.

Randomness: every condition has its own key (first argument). It is split once into a training
key and a test key; iteration ``t`` uses ``fold_in(train_key, t)`` and evaluation point ``e`` uses
``fold_in(test_key, e)``, so a condition's results depend only on its key, condition and config,
never on which other conditions are trained alongside it.

Execution (`train_conditions`): the per-iteration step and the evaluation are written for one
condition, vmapped over ``C`` and jitted; a host loop walks the (unbatched) evaluation schedule.
Two measured CPU facts shape this (``benchmarks/bench_train.py``, ``docs/training.md``):

* XLA:CPU emits the backward convolutions of a step *inside* a ``lax.scan``/``while`` body without
  canonicalising them to its fast (Eigen) layout, which made a scanned training step 5-20x slower
  than the same step at the top level of a jitted function (jax issue #12868). The host loop keeps
  every step at the top level.
* A plain ``vmap`` over conditions turns each convolution with per-condition weights into a
  grouped convolution, which XLA:CPU runs ~4x slower. With ``condition_batching="unrolled"`` (the
  default on CPU) the network forward and backward pass of each condition is emitted separately
  inside the one vmapped program (a ``custom_vmap`` rule); everything else (stimuli, noise,
  optimiser, metrics) is vectorised. ``"vectorized"`` keeps plain vmap (for accelerators).

With several devices (``mesh``), the condition axis is sharded with ``jax.shard_map``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from theory.checks import InputError
from vpl_jax import alexnet, siamese, stimuli

__all__ = [
    "CHANGE_MEASURES",
    "CONDITION_RANGES",
    "Condition",
    "FieldRange",
    "HEALTH_DIMS",
    "MAX_IMAGE_SIZE",
    "PAPER_IMAGE_SIZE",
    "PAPER_SEPARATIONS",
    "Programs",
    "RESULT_DIMS",
    "RESULT_FIELDS",
    "SIZE_UNITS",
    "TEST_CONDITIONS",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "accuracies",
    "balanced_labels",
    "check_params",
    "compiled_programs",
    "condition_mesh",
    "eval_iterations",
    "health",
    "init_state",
    "layer_change",
    "make_optimizer",
    "make_templates",
    "network",
    "param_labels",
    "sample_pairs",
    "stack_conditions",
    "train",
    "train_conditions",
    "train_step",
    "validate_condition",
]

#: Test conditions, the order of every ``test`` axis: the trained condition, the reference rotated
#: clockwise by 45 and 90 deg, spatial frequency x0.5 (wavelength x2) and x2 (wavelength x0.5).
TEST_CONDITIONS: tuple[str, ...] = stimuli.TRANSFER_CONDITIONS
#: Layer-change measures, in the order of the last axis of `layer_change`.
CHANGE_MEASURES: tuple[str, ...] = ("d_rel1", "d_rel2", "d_m1", "d_m2")
PAPER_SEPARATIONS: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)
#: Side of the image for which the paper's pixel sizes (wavelength, Gaussian SD) are stated
#: (`vpl_jax.stimuli.PAPER_IMAGE_SIZE`).
PAPER_IMAGE_SIZE = stimuli.PAPER_IMAGE_SIZE
#: The units of a `TrainConfig`'s stimulus sizes (``Condition.wavelength_px``,
#: ``TrainConfig.sigma_px``): ``"paper"`` (pixels of the paper's 227-px frame, drawn at
#: ``vpl_jax.stimuli.paper_px(value, image_size)``) or ``"image"`` (pixels of the image).
SIZE_UNITS: tuple[str, ...] = ("paper", "image")
#: Largest image side a TrainConfig accepts (beyond it the programs would not fit in memory).
MAX_IMAGE_SIZE = 1024


@functools.partial(jax.tree_util.register_dataclass, data_fields=None, meta_fields=None)
@dataclasses.dataclass(frozen=True)
class Condition:
    """One training condition; every field is an array (a leading axis ``C`` batches conditions).

    Attributes:
        reference_deg: reference orientation in degrees (0 = vertical stripes, clockwise).
        separation_deg: angle between reference and target, degrees, > 0.
        wavelength_px: Gabor wavelength, > 0, in the units of the `TrainConfig` it is trained
            with (``TrainConfig.size_units``): pixels of the paper's 227-px frame by default
            (drawn at ``vpl_jax.stimuli.paper_px(wavelength_px, image_size)``), or pixels of the
            image with ``size_units="image"``. ``TrainConfig.image_px`` gives the pixels drawn.
        contrast: multiplicative contrast on ``I - 125``, in (0, 1].
        noise_sd: SD of the additive Gaussian pixel noise (0-255 scale), >= 0.
        learning_rate: base SGD learning rate, >= 0 (the paper: 1e-4).
    """

    reference_deg: Any
    separation_deg: Any
    wavelength_px: Any
    contrast: Any
    noise_sd: Any
    learning_rate: Any

    @classmethod
    def create(
        cls,
        reference_deg,
        separation_deg,
        wavelength_px,
        contrast,
        noise_sd,
        learning_rate=1e-4,
    ) -> Condition:
        """Build a validated condition (scalars and/or 1-d sequences, broadcast), as float32 arrays.

        Raises:
            ValueError: naming the field and its allowed range (see `validate_condition`).
        """
        values = [reference_deg, separation_deg, wavelength_px, contrast, noise_sd, learning_rate]
        arrays = [np.asarray(v, dtype=np.float32) for v in values]
        try:
            arrays = np.broadcast_arrays(*arrays)
        except ValueError:
            shapes = {f.name: a.shape for f, a in zip(dataclasses.fields(cls), arrays, strict=True)}
            raise InputError(
                f"Condition fields must broadcast to one shape, got {shapes}"
            ) from None
        condition = cls(*(jnp.asarray(a) for a in arrays))
        validate_condition(condition)
        return condition


class FieldRange(NamedTuple):
    """The allowed values of one `Condition` field: a test on arrays and its words."""

    ok: Callable[[np.ndarray], np.ndarray]
    noun: str  # what a grid of such values holds, e.g. "angles"
    allowed: str  # e.g. "> 0 degrees"


#: Allowed ranges of the `Condition` fields, the one definition (used by `validate_condition`
#: and by `vpl_jax.experiment.Grid`).
CONDITION_RANGES: dict[str, FieldRange] = {
    "reference_deg": FieldRange(np.isfinite, "angles", "finite, in degrees"),
    "separation_deg": FieldRange(lambda v: (v > 0) & np.isfinite(v), "angles", "> 0 degrees"),
    "wavelength_px": FieldRange(lambda v: (v > 0) & np.isfinite(v), "wavelengths", "> 0 px"),
    "contrast": FieldRange(lambda v: (v > 0) & (v <= 1), "contrasts", "in (0, 1]"),
    "noise_sd": FieldRange(lambda v: (v >= 0) & np.isfinite(v), "noise SDs", ">= 0"),
    "learning_rate": FieldRange(lambda v: (v >= 0) & np.isfinite(v), "learning rates", ">= 0"),
}


def validate_condition(condition: Condition) -> None:
    """Raise `InputError` naming the first field outside its allowed range (`CONDITION_RANGES`).

    Ranges: separation_deg > 0, wavelength_px > 0, contrast in (0, 1], noise_sd >= 0,
    learning_rate >= 0, all finite.
    """
    for name, rule in CONDITION_RANGES.items():
        value = np.asarray(getattr(condition, name))
        bad = ~rule.ok(value)
        if np.any(bad):
            raise InputError(
                f"Condition.{name} must be {rule.allowed}, got {value[bad].ravel()[0]!r}"
            )


def eval_iterations(num_iterations: int, num_points: int = 20) -> tuple[int, ...]:
    """The paper's evaluation iterations: 0 plus ``num_points`` log-spaced iterations up to the end.

    ``floor(logspace(0, log10(T), num_points))``, made strictly increasing by stepping repeated
    values up by one (the authors' ``logiters(1, T, n)``).

    Examples:
        >>> eval_iterations(1000)
        (0, 1, 2, 3, 4, 5, 6, 8, 12, 18, 26, 37, 54, 78, 112, 162, 233, 335, 483, 695, 1000)
    """
    if num_iterations < 1:
        raise InputError(f"num_iterations must be >= 1, got {num_iterations}")
    if not 1 <= num_points <= num_iterations:
        raise InputError(
            f"num_eval_points must be in [1, num_iterations={num_iterations}], got {num_points}"
        )
    raw = np.floor(np.logspace(0.0, math.log10(num_iterations), num_points) + 1e-9).astype(int)
    its = []
    for value in raw:
        its.append(max(int(value), its[-1] + 1) if its else int(value))
    its[-1] = num_iterations
    return (0, *its)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static structure of a training run (hashable; a jit static argument).

    Attributes:
        arch: network architecture (``alexnet.CAFFE_ALEXNET``).
        image_size: image side in pixels (227 in the paper). A smaller size shrinks the last
            feature map (e.g. 2 x 2 x 256 at 99 px) and, with ``size_units="paper"``, the Gabor
            in proportion (wavelength and Gaussian SD x ``image_size / 227``).
        num_iterations: training iterations (1000).
        num_eval_points: log-spaced evaluation iterations besides iteration 0 (20).
        batch_pairs: pairs per training batch (20), labels balanced.
        test_pairs: pairs per test set (200), a multiple of ``fold_pairs``.
        fold_pairs: pairs per fold of the symmetrised accuracy (20; 10 folds of 200).
        momentum: SGD momentum (0.9).
        bias_lr_mult: bias learning-rate multiplier (Caffe ``lr_mult: 2``); 1.0 switches it off.
        frozen_layers: layers 1..k get exactly zero updates (0: all layers learn; 6 freezes all).
        test_separations: separations (degrees) of the post-training separation sweep.
        sigma_px: Gaussian window SD in ``size_units`` (the paper: 50 px of the 227-px frame;
            ``sigma_image_px`` is the SD drawn).
        quantize: truncate the noiseless templates to integers like the original uint8 images.
        condition_batching: ``"unrolled"`` (per-condition network passes; fast on CPU),
            ``"vectorized"`` (plain vmap; for accelerators) or ``"auto"`` (unrolled on CPU).
        size_units: units of the stimulus sizes (``Condition.wavelength_px``, ``sigma_px``):
            ``"paper"`` (default; pixels of the paper's 227-px frame, every preset and stored run
            uses them) or ``"image"`` (pixels of the ``image_size``-px image, the convention of
            every function that draws an image, e.g. `vpl_jax.stimuli.gabor` and
            ``vpl_jax.analysis.tuning.record_tuning``). Both draw the same Gabors for values
            converted with `vpl_jax.stimuli.paper_px`.

    Examples:
        >>> config = TrainConfig(image_size=67)  # the paper's sizes, drawn at 67 px
        >>> round(config.image_px(20.0), 3), round(config.sigma_image_px, 3)
        (5.903, 14.758)
        >>> same = TrainConfig(image_size=67, size_units="image", sigma_px=14.758)
        >>> same.image_px(5.903)
        5.903
    """

    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET
    image_size: int = PAPER_IMAGE_SIZE
    num_iterations: int = 1000
    num_eval_points: int = 20
    batch_pairs: int = 20
    test_pairs: int = 200
    fold_pairs: int = 20
    momentum: float = 0.9
    bias_lr_mult: float = 2.0
    frozen_layers: int = 0
    test_separations: tuple[float, ...] = PAPER_SEPARATIONS
    sigma_px: float = 50.0
    quantize: bool = True
    condition_batching: str = "auto"
    size_units: str = "paper"

    def __post_init__(self):
        def need(ok: bool, field: str, allowed: str):
            if not ok:
                raise InputError(
                    f"TrainConfig.{field} must be {allowed}, got {getattr(self, field)!r}"
                )

        need(isinstance(self.arch, alexnet.ArchSpec), "arch", "an alexnet.ArchSpec")
        need(
            isinstance(self.image_size, int)
            and alexnet.min_input_size(self.arch) <= self.image_size <= MAX_IMAGE_SIZE,
            "image_size",
            f"an int in [{alexnet.min_input_size(self.arch)}, {MAX_IMAGE_SIZE}] px",
        )
        need(
            isinstance(self.num_iterations, int) and self.num_iterations >= 1,
            "num_iterations",
            "an int >= 1",
        )
        need(
            isinstance(self.num_eval_points, int)
            and 1 <= self.num_eval_points <= self.num_iterations,
            "num_eval_points",
            "an int in [1, num_iterations]",
        )
        need(
            isinstance(self.batch_pairs, int) and self.batch_pairs >= 2,
            "batch_pairs",
            "an int >= 2",
        )
        need(isinstance(self.fold_pairs, int) and self.fold_pairs >= 1, "fold_pairs", "an int >= 1")
        need(
            isinstance(self.test_pairs, int)
            and self.test_pairs >= self.fold_pairs
            and self.test_pairs % self.fold_pairs == 0,
            "test_pairs",
            f"a positive multiple of fold_pairs={self.fold_pairs}",
        )
        need(0.0 <= self.momentum < 1.0, "momentum", "in [0, 1)")
        need(0.0 <= self.bias_lr_mult < math.inf, "bias_lr_mult", "finite and >= 0")
        n_layers = len(self.arch.layer_names) + 1
        need(
            isinstance(self.frozen_layers, int) and 0 <= self.frozen_layers <= n_layers,
            "frozen_layers",
            f"an int in [0, {n_layers}]",
        )
        need(
            isinstance(self.test_separations, tuple)
            and len(self.test_separations) >= 1
            and all(0 < s < 180 for s in self.test_separations),
            "test_separations",
            "a non-empty tuple of angles in (0, 180) degrees",
        )
        need(self.size_units in SIZE_UNITS, "size_units", "'paper' or 'image'")
        need(
            math.isfinite(self.sigma_px) and self.sigma_px * self.scale >= 1.0,
            "sigma_px",
            f"finite and >= {1.0 / self.scale:.3g} {self.units_text} (1 px of the image)",
        )
        for name, cap in (("batch_pairs", 100_000), ("test_pairs", 1_000_000)):
            need(getattr(self, name) <= cap, name, f"<= {cap}")
        need(self.num_iterations <= 10_000_000, "num_iterations", "<= 10,000,000")
        need(
            self.condition_batching in ("auto", "unrolled", "vectorized"),
            "condition_batching",
            "'auto', 'unrolled' or 'vectorized'",
        )

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Layers in order, the readout last: ``conv1, ..., conv5, readout``."""
        return (*self.arch.layer_names, siamese.READOUT)

    @property
    def eval_iterations(self) -> tuple[int, ...]:
        """``eval_iterations(num_iterations, num_eval_points)``."""
        return eval_iterations(self.num_iterations, self.num_eval_points)

    @property
    def scale(self) -> float:
        """Pixels of the image per unit of the stimulus sizes: ``image_size / 227`` for
        ``size_units="paper"``, 1 for ``"image"``."""
        if self.size_units == "image":
            return 1.0
        return stimuli.paper_px(1.0, self.image_size)

    @property
    def units_text(self) -> str:
        """The stimulus-size unit in words, e.g. ``"px of the 227-px frame"``."""
        if self.size_units == "image":
            return f"px of the {self.image_size}-px image"
        return f"px of the {PAPER_IMAGE_SIZE}-px frame"

    def image_px(self, value):
        """Pixels of the image drawn for a stimulus size in ``size_units`` (e.g. a condition's
        ``wavelength_px``): ``stimuli.paper_px(value, image_size)`` or ``value`` itself.

        Arrays keep their dtype (the training programs convert float32 wavelengths in float32).
        """
        if self.size_units == "image":
            return value
        return stimuli.paper_px(value, self.image_size)

    @property
    def sigma_image_px(self) -> float:
        """The Gaussian window SD drawn, in pixels of the image (``image_px(sigma_px)``)."""
        return self.image_px(self.sigma_px)

    @property
    def unrolled(self) -> bool:
        if self.condition_batching == "auto":
            return jax.default_backend() == "cpu"
        return self.condition_batching == "unrolled"


class TrainState(NamedTuple):
    """Training state of one condition: model params, optimiser state, iterations done (int32)."""

    params: dict
    opt_state: Any
    step: jax.Array


#: The recorded metrics of a training run, the one schema: name -> dims (``condition`` first).
#: `TrainResult` holds them (with ``C`` as the condition axis); `vpl_jax.experiment` stores them.
RESULT_DIMS: dict[str, tuple[str, ...]] = {
    "accuracy": ("condition", "iteration", "test"),
    "accuracy_sym": ("condition", "iteration", "test"),
    "layer_change": ("condition", "iteration", "layer", "measure"),
    "train_loss": ("condition", "iteration"),
    "separation_accuracy": ("condition", "test", "test_separation"),
    "separation_accuracy_sym": ("condition", "test", "test_separation"),
}
RESULT_FIELDS: tuple[str, ...] = tuple(RESULT_DIMS)

#: Numerical-health flags of a run (int8 0/1, derived from the recorded metrics by `health`).
HEALTH_DIMS: dict[str, tuple[str, ...]] = {
    "finite": ("condition", "iteration"),
    "degenerate": ("condition",),
}


def health(
    accuracy: np.ndarray,
    layer_change: np.ndarray,
    train_loss: np.ndarray,
    *,
    frozen_layers: int = 0,
    saturation: float = 0.99,
) -> dict[str, np.ndarray]:
    """Numerical-health flags per condition, from the metrics the training programs recorded.

    Every metric is computed inside the compiled programs from the current params (the layer
    change reads every weight), so a non-finite weight, loss or accuracy shows up in them
    without any extra host round trip.

    Args:
        accuracy: ``(C, E, 5)`` mean p(correct) (`TrainResult.accuracy`).
        layer_change: ``(C, E, L, 4)`` (`TrainResult.layer_change`), conv layers then readout.
        train_loss: ``(C, E)`` (NaN at iteration 0 by construction).
        frozen_layers: layers 1..k were frozen on purpose (their zero change is not degenerate).
        saturation: final trained accuracy from which a run counts as saturated.

    Returns:
        ``finite``: ``(C, E)`` int8, 1 where the loss (after iteration 0), every accuracy and every
        layer change are finite at that evaluation point. ``degenerate``: ``(C,)`` int8, 1 where
        the readout saturated (final trained accuracy >= ``saturation``, or final loss below
        1e-6) while no layer below it that was free to learn changed at all.
    """
    loss_ok = np.isfinite(train_loss)
    loss_ok[:, 0] = True  # no training before iteration 0
    finite = (
        loss_ok
        & np.all(np.isfinite(accuracy), axis=-1)
        & np.all(np.isfinite(layer_change), axis=(-2, -1))
    )
    conv = layer_change[:, -1, frozen_layers:-1, 0]  # final d_rel1 of the free conv layers
    saturated = (accuracy[:, -1, 0] >= saturation) | (train_loss[:, -1] < 1e-6)
    if conv.shape[-1] == 0:  # every conv layer frozen on purpose
        degenerate = np.zeros(len(conv), bool)
    else:
        degenerate = saturated & np.all(conv == 0, axis=-1)
    return {"finite": finite.astype(np.int8), "degenerate": degenerate.astype(np.int8)}


class TrainResult(NamedTuple):
    """Outputs of `train_conditions` (numpy arrays; ``C`` conditions, ``E`` evaluation points).

    Attributes:
        eval_iterations: ``(E,)`` iterations at which the metrics were recorded.
        accuracy: ``(C, E, 5)`` mean p(correct) over the test pairs per `TEST_CONDITIONS`.
        accuracy_sym: ``(C, E, 5)`` per-fold ``max(m, 1 - m)`` of the fold mean, averaged over folds.
        layer_change: ``(C, E, 6, 4)`` `CHANGE_MEASURES` for conv1-5 and the readout.
        train_loss: ``(C, E)`` mean training loss over the iterations since the previous
            evaluation point (NaN at iteration 0).
        separation_accuracy: ``(C, 5, S)`` final mean p(correct) per test condition and test
            separation (``TrainConfig.test_separations``).
        separation_accuracy_sym: ``(C, 5, S)`` the symmetrised variant.
        initial_params: model params before training (shared by all conditions, no ``C`` axis).
        final_params: model params after training, every leaf with a leading ``C`` axis.
    """

    eval_iterations: np.ndarray
    accuracy: np.ndarray
    accuracy_sym: np.ndarray
    layer_change: np.ndarray
    train_loss: np.ndarray
    separation_accuracy: np.ndarray
    separation_accuracy_sym: np.ndarray
    initial_params: dict
    final_params: dict


# --------------------------------------------------------------------------------------------
# Optimiser


def param_labels(
    params: dict, *, frozen_layers: int = 0, layer_names: tuple[str, ...] | None = None
) -> dict:
    """Optimiser label of every leaf: ``"frozen"`` (layers 1..k), ``"bias"`` or ``"weight"``."""
    names = tuple(params) if layer_names is None else layer_names
    frozen = set(names[:frozen_layers])
    return {
        layer: {
            leaf: "frozen" if layer in frozen else ("bias" if leaf == "b" else "weight")
            for leaf in leaves
        }
        for layer, leaves in params.items()
    }


def make_optimizer(
    learning_rate,
    *,
    momentum: float = 0.9,
    bias_lr_mult: float = 2.0,
    frozen_layers: int = 0,
    layer_names: tuple[str, ...] | None = None,
) -> optax.GradientTransformation:
    r"""Caffe's SGD with momentum, per-leaf learning-rate multipliers and frozen layers.

    ``optax.multi_transform`` over the labels of `param_labels`: weights get
    ``optax.sgd(lr, momentum)``, biases ``optax.sgd(bias_lr_mult * lr, momentum)``, frozen layers
    ``optax.set_to_zero()`` (no optimiser state, exactly zero updates). With a constant learning
    rate optax's :math:`m \leftarrow g + \mu m,\ \theta \leftarrow \theta - \alpha m` equals
    Caffe's :math:`v \leftarrow \mu v - \alpha g,\ \theta \leftarrow \theta + v` (Eqs. 2-3).

    Args:
        learning_rate: base learning rate (a float or a traced scalar, e.g. a `Condition` leaf).
        momentum: momentum :math:`\mu`.
        bias_lr_mult: multiplier of the bias learning rate (2 as in Caffe; 1 switches it off).
        frozen_layers: the first ``k`` layers of ``layer_names`` are frozen.
        layer_names: layer order (default: the params' key order, e.g. conv1..conv5, readout).
    """
    transforms = {
        "weight": optax.sgd(learning_rate, momentum=momentum),
        "bias": optax.sgd(bias_lr_mult * learning_rate, momentum=momentum),
        "frozen": optax.set_to_zero(),
    }
    labels = functools.partial(param_labels, frozen_layers=frozen_layers, layer_names=layer_names)
    return optax.multi_transform(transforms, labels)


def _optimizer(condition: Condition, config: TrainConfig) -> optax.GradientTransformation:
    return make_optimizer(
        condition.learning_rate,
        momentum=config.momentum,
        bias_lr_mult=config.bias_lr_mult,
        frozen_layers=config.frozen_layers,
        layer_names=config.layer_names,
    )


def check_params(params, layer_names: tuple[str, ...], *, name: str = "params") -> None:
    """Raise `InputError` unless ``params`` is a dict holding every layer of ``layer_names``.

    The check reads only dict keys, so it also runs (at trace time) under ``jit``/``vmap``. The
    usual mistake it catches: passing a backbone (conv1-5, as `vpl_jax.weights` loads it) where
    model params are needed; ``vpl_jax.siamese.init_model(backbone, arch, image_size)`` adds the
    readout.

    Examples:
        >>> check_params({"conv1": {}}, ("conv1", "readout"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        theory.checks.InputError: params has no 'readout' layer (it holds ['conv1']): ...
    """
    if not isinstance(params, dict):
        raise InputError(f"{name} must be a dict of layers, got {type(params).__name__}")
    missing = [layer for layer in layer_names if layer not in params]
    if not missing:
        return
    hint = (
        "model params need the readout: siamese.init_model(backbone, config.arch, "
        "config.image_size) adds a zero readout to a backbone"
        if siamese.READOUT in missing
        else f"expected the layers {list(layer_names)}"
    )
    raise InputError(f"{name} has no {missing[0]!r} layer (it holds {sorted(params)}): {hint}")


def init_state(condition: Condition, params: dict, *, config: TrainConfig) -> TrainState:
    """The state before training: ``params`` (with readout), fresh optimiser state, step 0.

    Raises:
        InputError: ``params`` lacks the readout or a layer of ``config.arch`` (`check_params`).
    """
    check_params(params, config.layer_names)
    return TrainState(params, _optimizer(condition, config).init(params), jnp.zeros((), jnp.int32))


# --------------------------------------------------------------------------------------------
# Stimuli and trials


def _templates(reference_deg, separation_deg, wavelength_px, config: TrainConfig) -> jax.Array:
    """(5, 3, H, W): (reference, CW, CCW) for the trained and the four transfer conditions."""
    t = stimuli.transfer_templates(
        reference_deg,
        separation_deg,
        config.image_px(wavelength_px),
        config.sigma_image_px,
        config.image_size,
        quantize=config.quantize,
    )
    return jnp.stack([t.reference, t.clockwise, t.counterclockwise], axis=1)


def make_templates(condition: Condition, *, config: TrainConfig) -> dict:
    """Noiseless templates of one condition (`vpl_jax.stimuli.transfer_templates`).

    Returns:
        ``{"test": (5, 3, H, W), "separation": (5, S, 3, H, W)}``: for every `TEST_CONDITIONS`
        entry (index 0 is the trained condition, also used for training) the (reference, CW, CCW)
        triplet at the condition's separation, and at every ``config.test_separations``.
    """
    one = functools.partial(_templates, config=config)
    ref, lam = condition.reference_deg, condition.wavelength_px
    test = one(ref, condition.separation_deg, lam)
    seps = jnp.asarray(config.test_separations, jnp.float32)
    sep = jax.vmap(one, in_axes=(None, 0, None), out_axes=1)(ref, seps, lam)
    return {"test": test, "separation": sep}


def balanced_labels(num_pairs: int) -> jax.Array:
    """``(num_pairs,)`` float32 labels 1, 0, 1, 0, ... (1 = target clockwise of the reference)."""
    return (jnp.arange(num_pairs) % 2 == 0).astype(jnp.float32)


def sample_pairs(key: jax.Array, triplet: jax.Array, condition: Condition, num_pairs: int):
    """A batch of noisy pairs from a (3, H, W) triplet, fresh noise for every image.

    Returns:
        ``(reference, target, labels)``: images ``(num_pairs, H, W, 1)`` in network units and
        ``(num_pairs,)`` balanced labels.
    """
    labels = balanced_labels(num_pairs)
    pair = stimuli.PairTemplates(triplet[0], triplet[1], triplet[2])
    clean = jnp.stack(stimuli.trial_pairs(pair, labels))  # (2, N, H, W)
    x = stimuli.network_input(key, clean, condition.contrast, condition.noise_sd)[..., None]
    return x[0], x[1], labels


# --------------------------------------------------------------------------------------------
# Per-condition batching of the network passes


def _per_condition(fun: Callable) -> Callable:
    """``fun`` whose vmap runs one call per condition (Python-unrolled), stacking the outputs.

    XLA:CPU runs convolutions with per-condition weights, which plain vmap turns into grouped
    convolutions, about 4x slower than separate ones (see the module docstring).
    """
    wrapped = jax.custom_batching.custom_vmap(fun)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        outs = []
        for i in range(axis_size):
            sliced = jax.tree.map(lambda x, b, i=i: x[i] if b else x, list(args), list(in_batched))
            outs.append(fun(*sliced))
        out = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def _network(config: TrainConfig):
    """(loss-and-grad, decision-logit) functions of one condition, per-condition when unrolled."""
    arch = config.arch

    def value_and_grad(params, reference, target, labels):
        check_params(params, config.layer_names)
        return jax.value_and_grad(siamese.loss)(params, reference, target, labels, arch)

    def logit(params, reference, target):
        check_params(params, config.layer_names)
        return siamese.decision_logit(params, reference, target, arch)

    if config.unrolled:
        return _per_condition(value_and_grad), _per_condition(logit)
    return value_and_grad, logit


def network(config: TrainConfig) -> tuple[Callable, Callable]:
    """The network functions of one condition, as the training programs use them.

    Returns:
        ``(value_and_grad, logit)``: ``value_and_grad(params, reference, target, labels)`` gives
        the siamese loss and its gradient, ``logit(params, reference, target)`` the decision
        logits ``h_t - h_r`` (`vpl_jax.siamese`); images ``(B, H, W, 1)``, labels ``(B,)``; both
        check that ``params`` hold the readout (`check_params`, at trace time). With
        ``config.unrolled`` a vmap over conditions runs one network pass per condition (see the
        module docstring); other tasks (e.g. the face task of Experiment 2) reuse them.
    """
    return _network(config)


# --------------------------------------------------------------------------------------------
# Step, evaluation, layer change (one condition each)


def train_step(state: TrainState, batch, *, condition: Condition, config: TrainConfig):
    """One SGD-momentum step on a batch ``(reference, target, labels)``.

    Frozen layers are carried over unchanged (bit for bit). Returns ``(state, {"loss": scalar})``.

    Raises:
        InputError: the state's params lack the readout or a layer (`check_params`).
    """
    check_params(state.params, config.layer_names, name="state.params")
    value_and_grad, _ = _network(config)
    loss, grads = value_and_grad(state.params, *batch)
    updates, opt_state = _optimizer(condition, config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    for name in config.layer_names[: config.frozen_layers]:
        params[name] = state.params[name]
    return TrainState(params, opt_state, state.step + 1), {"loss": loss}


def _iteration(key, condition, state, templates, *, config: TrainConfig):
    """Draw the batch of the state's next iteration and take one step (one condition)."""
    batch = sample_pairs(
        jax.random.fold_in(key, state.step), templates["test"][0], condition, config.batch_pairs
    )
    return train_step(state, batch, condition=condition, config=config)


def _accuracies(key, params, triplets, condition, config: TrainConfig):
    """Mean p(correct) and the symmetrised per-fold accuracy for each triplet of ``(T, 3, H, W)``."""
    _, logit = _network(config)
    n_folds = config.test_pairs // config.fold_pairs
    n_tests = triplets.shape[0]
    keys = jax.random.split(key, n_tests * n_folds).reshape(n_tests, n_folds)

    def fold(args):
        fold_key, triplet = args
        reference, target, labels = sample_pairs(fold_key, triplet, condition, config.fold_pairs)
        p = jax.nn.sigmoid(logit(params, reference, target))
        return jnp.mean(jnp.where(labels > 0, p, 1.0 - p))

    idx = jnp.repeat(jnp.arange(n_tests), n_folds)
    means = jax.lax.map(lambda a: fold((a[0], triplets[a[1]])), (keys.reshape(-1), idx))
    means = means.reshape(n_tests, n_folds)
    return jnp.mean(means, axis=1), jnp.mean(jnp.maximum(means, 1.0 - means), axis=1)


def layer_change(params: dict, initial: dict, *, layer_names: tuple[str, ...]) -> jax.Array:
    r"""The four layer-change measures of Wenliang & Seitz (2018) for every layer.

    Per layer, ``w`` is the initial weights with the biases concatenated and ``dw`` the change:

    .. math::
        d_{rel1} = \frac{\sum|\Delta w_i|}{\sum|w_i|},\quad
        d_{rel2} = \frac{\|\Delta w\|_2}{\|w\|_2},\quad
        d_{m1} = \frac{\sum|\Delta w_i|}{N},\quad
        d_{m2} = \sqrt{\frac{\sum \Delta w_i^2}{N}}.

    For the readout (initially zero) the denominators of the relative measures are ``N`` and
    ``sqrt(N)`` (the paper's choice for Eq. 4), so there ``d_rel1 = d_m1`` and ``d_rel2 = d_m2``.

    Returns:
        ``(len(layer_names), 4)`` in `CHANGE_MEASURES` order.

    Raises:
        InputError: ``params`` or ``initial`` lacks a layer of ``layer_names`` (`check_params`).

    References:
        Wenliang & Seitz (2018), Eqs. 4, 4a-4c.
    """
    check_params(params, layer_names)
    check_params(initial, layer_names, name="initial")
    rows = []
    for name in layer_names:
        w0 = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(initial[name])])
        w1 = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(params[name])])
        dw = w1 - w0
        n = w0.size
        l1, l2 = jnp.sum(jnp.abs(dw)), jnp.sqrt(jnp.sum(dw * dw))
        if name == siamese.READOUT:
            den1, den2 = jnp.asarray(float(n)), jnp.asarray(math.sqrt(n))
        else:
            den1, den2 = jnp.sum(jnp.abs(w0)), jnp.sqrt(jnp.sum(w0 * w0))
        rows.append(jnp.stack([l1 / den1, l2 / den2, l1 / n, jnp.sqrt(l2 * l2 / n)]))
    return jnp.stack(rows)


def accuracies(key, condition, params, triplets, *, config: TrainConfig) -> dict:
    """Test accuracies of one condition for each of ``T`` (reference, CW, CCW) triplets.

    ``config.test_pairs`` pairs per triplet in folds of ``config.fold_pairs``, fresh noise.

    Args:
        key: PRNG key.
        condition: the condition (contrast and noise are used).
        params: model params.
        triplets: ``(T, 3, H, W)`` noiseless templates.
        config: static structure.

    Returns:
        ``{"accuracy": (T,), "accuracy_sym": (T,)}``: mean p(correct) over all pairs, and the
        mean over folds of ``max(m, 1 - m)`` with ``m`` the fold's mean p(correct) (the
        authors' code).

    Raises:
        InputError: ``params`` lacks the readout or a layer (`check_params`).
    """
    check_params(params, config.layer_names)
    acc, acc_sym = _accuracies(key, params, triplets, condition, config)
    return {"accuracy": acc, "accuracy_sym": acc_sym}


# --------------------------------------------------------------------------------------------
# Batched programs and the host loop


class Programs(NamedTuple):
    """The compiled programs of a config: ``setup``, ``step``, ``accuracies``, ``layer_change``."""

    setup: Callable
    step: Callable
    accuracies: Callable
    layer_change: Callable


@functools.lru_cache(maxsize=16)
def compiled_programs(config: TrainConfig, mesh: Mesh | None = None) -> Programs:
    """Jitted, vmapped (and, with a mesh, shard-mapped) programs for a config.

    The same accuracy program serves the evaluation points and the separation sweep (called with
    ``(C, 5, 3, H, W)`` triplets each time), so it is compiled once.
    """

    def setup(keys, conditions, initial):
        def one(key, condition):
            train_key, test_key = jax.random.split(key)
            return (
                train_key,
                test_key,
                make_templates(condition, config=config),
                init_state(condition, initial, config=config),
            )

        return jax.vmap(one)(keys, conditions)

    def step(train_keys, conditions, states, templates):
        fun = functools.partial(_iteration, config=config)
        return jax.vmap(fun)(train_keys, conditions, states, templates)

    def accuracies_all(test_keys, conditions, params, triplets, index):
        keys = jax.vmap(lambda k: jax.random.fold_in(k, index))(test_keys)
        return jax.vmap(functools.partial(accuracies, config=config))(
            keys, conditions, params, triplets
        )

    def change_all(params, initial):
        fun = functools.partial(layer_change, layer_names=config.layer_names)
        return jax.vmap(fun, in_axes=(0, None))(params, initial)

    if mesh is not None:
        c, rep = PartitionSpec(mesh.axis_names[0]), PartitionSpec()

        def shard(fun, in_specs):
            return jax.shard_map(fun, mesh=mesh, in_specs=in_specs, out_specs=c, check_vma=False)

        setup = shard(setup, (c, c, rep))
        step = shard(step, (c, c, c, c))
        accuracies_all = shard(accuracies_all, (c, c, c, c, rep))
        change_all = shard(change_all, (c, rep))
    return Programs(
        jax.jit(setup),
        jax.jit(step, donate_argnums=(2,)),
        jax.jit(accuracies_all),
        jax.jit(change_all),
    )


def condition_mesh(devices=None) -> Mesh:
    """A 1-d mesh ``("conditions",)`` over ``devices`` (default: all) for sharding conditions."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), ("conditions",))


def stack_conditions(conditions: list[Condition]) -> Condition:
    """Stack scalar conditions along a new leading axis ``C``."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *conditions)


def train_conditions(
    keys: jax.Array,
    conditions: Condition,
    backbone: dict,
    *,
    config: TrainConfig,
    mesh: Mesh | None = None,
    progress: bool | Callable[[int], None] = True,
) -> TrainResult:
    """Train ``C`` conditions at once: vmapped programs, a host loop over the evaluation schedule.

    This is the function to call for many conditions (a sweep of references, separations, ...):
    it vmaps (and jits) internally, so it must itself be called outside ``jax.vmap``/``jit``.

    Args:
        keys: ``(C,)`` typed PRNG keys, one per condition.
        conditions: a `Condition` whose leaves have shape ``(C,)``.
        backbone: conv1-5 params of ``config.arch`` (shared initial network; a zero readout is
            added).
        config: static structure.
        mesh: optional 1-d device mesh (`condition_mesh`); ``C`` must be a multiple of its size.
        progress: ``True`` (default) shows a tqdm bar on stderr (training iterations, with an
            ETA); ``False`` shows nothing; a callable is called with the number of iterations
            just completed (e.g. to drive the caller's own bar). With a bar the host waits for
            the previous step before counting it (one step in flight; outside the compiled
            programs); without one the loop never waits on the device.

    Returns:
        A `TrainResult` of numpy arrays.

    Raises:
        InputError: invalid conditions, mismatched ``C``, a backbone without ``config.arch``'s
            layers, ``C`` not divisible by the mesh size -- all before any compute -- or a call
            under a JAX transformation (``vmap``, ``jit``, ``grad``).
    """
    _refuse_tracers("train_conditions", keys, conditions, backbone)
    validate_condition(conditions)
    shapes = {np.shape(x) for x in jax.tree.leaves(conditions)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise InputError(
            f"expected Condition leaves of one shape (C,), got shapes {sorted(shapes)}"
        )
    (n_cond,) = next(iter(shapes))
    if keys.shape != (n_cond,):
        raise InputError(f"expected keys of shape ({n_cond},), got {keys.shape=}")
    if mesh is not None and n_cond % mesh.size:
        raise InputError(
            f"the number of conditions ({n_cond}) must be a multiple of the mesh size ({mesh.size})"
        )
    check_params(backbone, config.arch.layer_names, name="backbone")
    initial = siamese.init_model(backbone, config.arch, config.image_size)
    programs = compiled_programs(config, mesh)
    if mesh is not None:
        sharded = NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))
        keys, conditions = jax.device_put((keys, conditions), sharded)
    train_keys, test_keys, templates, states = programs.setup(keys, conditions, initial)

    schedule = config.eval_iterations
    bar = None
    if progress is True:
        bar = tqdm(
            total=config.num_iterations,
            desc=f"training {n_cond} condition{'s' * (n_cond != 1)}",
            unit="it",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        progress = bar.update
    elif progress is False or progress is None:
        progress = None
    elif not callable(progress):
        raise InputError(f"progress must be True, False or a callable, got {progress!r}")
    try:
        states, records, losses = _train_loop(
            programs, schedule, train_keys, test_keys, conditions, states, templates, initial,
            n_cond=n_cond, progress=progress,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    sweep = []
    for s_index in range(len(config.test_separations)):
        triplets = templates["separation"][:, :, s_index]
        sweep.append(
            jax.device_get(
                programs.accuracies(
                    test_keys, conditions, states.params, triplets, len(schedule) + s_index
                )
            )
        )
    final = {
        f"separation_{name}": np.stack([r[name] for r in sweep], axis=-1)
        for name in ("accuracy", "accuracy_sym")
    }

    stack = lambda name: np.stack([r[name] for r in records], axis=1)  # noqa: E731
    return TrainResult(
        eval_iterations=np.asarray(schedule, np.int32),
        accuracy=stack("accuracy"),
        accuracy_sym=stack("accuracy_sym"),
        layer_change=stack("layer_change"),
        train_loss=np.stack(losses, axis=1).astype(np.float32),
        separation_accuracy=final["separation_accuracy"],
        separation_accuracy_sym=final["separation_accuracy_sym"],
        initial_params=jax.device_get(initial),
        final_params=jax.device_get(states.params),
    )


def _train_loop(
    programs, schedule, train_keys, test_keys, conditions, states, templates, initial, *,
    n_cond, progress,
):  # fmt: skip
    """The host loop of `train_conditions`: steps, and the records at the evaluation points."""
    records, losses = [], []
    done = 0
    pending = None  # the loss of the step in flight (counted once it is done)
    for index, it in enumerate(schedule):
        segment = []
        while done < it:
            states, metrics = programs.step(train_keys, conditions, states, templates)
            segment.append(metrics["loss"])
            done += 1
            if progress is not None:
                if pending is not None:
                    jax.block_until_ready(pending)
                    progress(1)
                pending = metrics["loss"]
        if pending is not None:
            jax.block_until_ready(pending)
            progress(1)
            pending = None
        losses.append(
            np.mean(np.stack(segment), axis=0)
            if segment
            else np.full((n_cond,), np.nan, np.float32)
        )
        record = programs.accuracies(test_keys, conditions, states.params, templates["test"], index)
        record["layer_change"] = programs.layer_change(states.params, initial)
        records.append(jax.device_get(record))
    return states, records, losses


def _refuse_tracers(function: str, *trees) -> None:
    """`InputError` when called under a JAX transformation (a traced argument)."""
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(trees)):
        raise InputError(
            f"train.{function} was called under a JAX transformation (jax.vmap, jit or grad): it "
            "runs a host loop over the training iterations and vmaps and jits internally. To "
            "train many conditions at once, call train.train_conditions(keys, conditions, "
            "backbone, config=...) outside any transformation, with a Condition whose leaves "
            "have a leading axis C (Condition.create with sequences, or stack_conditions) and "
            "keys of shape (C,) (jax.random.split(key, C))"
        )


def train(
    key: jax.Array, condition: Condition, backbone: dict, *, config: TrainConfig, progress=True
) -> TrainResult:
    """Train one condition (scalar leaves); the result has no ``C`` axis.

    Same programs as `train_conditions` with ``C = 1``; see there for the arguments (``progress``
    included: a tqdm bar by default, ``False`` for none). Not for ``jax.vmap``: to train several
    conditions use `train_conditions`, which batches them itself.

    Raises:
        InputError: as `train_conditions`, including a call under ``jax.vmap``/``jit``.
    """
    _refuse_tracers("train", key, condition, backbone)
    batched = jax.tree.map(lambda x: jnp.asarray(x)[None], condition)
    out = train_conditions(
        jnp.asarray(key)[None], batched, backbone, config=config, progress=progress
    )
    squeeze = lambda tree: jax.tree.map(lambda x: x[0], tree)  # noqa: E731
    return out._replace(
        accuracy=out.accuracy[0],
        accuracy_sym=out.accuracy_sym[0],
        layer_change=out.layer_change[0],
        train_loss=out.train_loss[0],
        separation_accuracy=out.separation_accuracy[0],
        separation_accuracy_sym=out.separation_accuracy_sym[0],
        final_params=squeeze(out.final_params),
    )
