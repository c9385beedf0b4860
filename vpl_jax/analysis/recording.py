"""Recording network responses: centre units, blocked maps, generated stimuli, the inclusion rule.

The one place that runs images through ``vpl_jax.alexnet.features`` for the analyses, and the
home of the unit-table contract shared by ``vpl_jax.analysis.tuning`` (which writes the table)
and ``vpl_jax.analysis.physiology`` (which reads it).

Conventions:

* **Recording site**: the unit at the spatial centre ``(h // 2, w // 2)`` of each channel map
  (``centre_units``; Wenliang & Seitz 2018), or every position (``positions="all"``). Centre
  units are computed on their receptive-field cone only (``centre_responses``, exact:
  ``vpl_jax.receptive_field``).
* **Blocks**: every recorder runs one jitted program over fixed-size blocks of ``batch_size``
  images in sequence (``blocked_map``), so memory stays bounded for any number of images and a
  new image count or stimulus value never recompiles the block.
* **Generated stimuli**: ``record_generated`` builds the images inside the jitted program from
  stimulus records with an input maker of ``vpl_jax.stimuli`` (``GratingInput``,
  ``NoisyGaborInput``); the shared parameters (contrast, noise SD, wavelength) are traced.
* **Layers** are output keys of ``alexnet.features`` (``arch.output_keys``). ``PROTOCOL_LAYERS``
  are the paper's layers 1-5 of Wenliang & Seitz (2018): ``norm1, norm2, conv3, conv4, conv5``.
* **Inclusion** (the one rule): a unit is *included* when its mean activation over the stimuli
  of a protocol is ``>= INCLUSION_THRESHOLD`` (1.0 network units; Wenliang & Seitz 2018, section
  "Tuning curves"; their code uses ``> 1.0``). ``is_included`` states it; the stimulus set over
  which the mean is taken is the caller's explicit choice:

  - ``vpl_jax.analysis.tuning`` (the unit table and its ``included`` column): Gabors at
    ``TO + linspace(-90, 90, 100)`` around a network's trained orientation TO, 50 noise samples
    each (the paper's protocol), mean of the smoothed mean tuning curve;
  - ``vpl_jax.analysis.selectivity.selectivity_table`` (its ``n_included`` column):
    ``tuning_protocol_responses`` with Gabors at 100 orientations ``k * 180 / 100`` over the
    whole cycle (a network without a trained orientation), 10 noise samples each by default
    (``num_noise``); ``included_units`` of those responses.

  Both grids cover 180 deg evenly with 100 orientations, so the two means estimate the same
  quantity; they differ by the noise samples drawn and the grid's offset.

All functions are pure; the recorders are jitted with the structure static (architecture,
layers, block size, positions, image side) and everything else traced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from theory.checks import InputError
from vpl_jax import alexnet, receptive_field, stimuli

__all__ = [
    "DEFAULT_ORIENTATIONS_DEG",
    "DEFAULT_PHASES_DEG",
    "DEFAULT_WAVELENGTHS_PX",
    "INCLUSION_THRESHOLD",
    "LAYER_INDEX",
    "POSITIONS",
    "PROTOCOL_LAYERS",
    "UNIT_COLUMNS",
    "blocked_map",
    "centre_responses",
    "centre_units",
    "check_batch_size",
    "check_grid",
    "check_inclusion_threshold",
    "check_layers",
    "check_size",
    "grating_responses",
    "included_unit_count",
    "included_units",
    "is_included",
    "record",
    "record_generated",
    "tuning_protocol_responses",
]

PROTOCOL_LAYERS = ("norm1", "norm2", "conv3", "conv4", "conv5")
"""The layers whose centre units the tuning protocol records: the paper's layers 1-5."""

LAYER_INDEX = {layer: i for i, layer in enumerate(PROTOCOL_LAYERS, start=1)}
"""The paper's layer number (1-5) of each layer of ``PROTOCOL_LAYERS``."""

INCLUSION_THRESHOLD = 1.0
"""A unit is included when its mean activation under a protocol is >= 1.0 (network units)."""

UNIT_COLUMNS = (
    "network",
    "layer",
    "layer_index",
    "reference_deg",
    "separation_deg",
    "trained",
    "unit",
    "mean_activation",
    "included",
    "po_rel_deg",
    "amplitude",
    "slope_to",
    "si",
    "norm_var_po",
    "var_ratio",
    "best_disc",
    "fi_to",
)
"""Columns of the unit table, one row per (network, layer, unit): the data contract.

Written by ``vpl_jax.analysis.tuning.unit_table``, read by ``vpl_jax.analysis.physiology``.
``network`` (int, -1 for the naive network), ``layer`` (one of ``PROTOCOL_LAYERS``),
``layer_index`` (``LAYER_INDEX``), ``reference_deg`` (TO, degrees), ``separation_deg`` (training
separation, degrees; NaN for naive rows), ``trained`` (bool), ``unit`` (channel index), then the
unit attributes: ``mean_activation`` (network units), ``included`` (``is_included``),
``po_rel_deg`` (PO - TO in [-90, 90) degrees), ``amplitude``, ``slope_to`` (1/degree), ``si``,
``norm_var_po``, ``var_ratio``, ``best_disc`` (degree^2) and ``fi_to`` (1/degree^2).
"""

POSITIONS = ("centre", "all")
"""Recording sites: the centre unit of each channel, or every position of the map."""

DEFAULT_ORIENTATIONS_DEG = tuple(15.0 * k for k in range(12))
"""Ukita (2019)'s 12 grating orientations, 15 deg apart."""

DEFAULT_WAVELENGTHS_PX = tuple(4.0 * 2.0 ** (k / 2) for k in range(6))
"""Six wavelengths a half-octave apart, 4 to 22.6 px (conv1 kernels span 11 px at stride 4)."""

DEFAULT_PHASES_DEG = (0.0, 90.0, 180.0, 270.0)
"""Ukita (2019)'s four grating phases, 90 deg apart."""


# --------------------------------------------------------------------------------------------
# Argument checks shared by the recorders and the analyses built on them
# --------------------------------------------------------------------------------------------


def check_layers(layers, arch: alexnet.ArchSpec, name: str = "layers") -> tuple[str, ...]:
    """``layers`` as a non-empty tuple of output keys of ``arch`` (a string is one layer).

    Raises:
        InputError: if ``layers`` is empty or names a layer that ``arch`` does not output.

    Examples:
        >>> check_layers("conv3", alexnet.CAFFE_ALEXNET)
        ('conv3',)
    """
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    if not layers:
        raise InputError(f"{name} must name at least one layer of {arch.name}")
    unknown = [layer for layer in layers if layer not in arch.output_keys]
    if unknown:
        raise InputError(
            f"{name} has unknown layer(s) {unknown} for {arch.name}; known: {arch.output_keys}"
        )
    return layers


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` as an int >= 1 (images per block).

    Raises:
        InputError: otherwise.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise InputError(f"batch_size must be an integer >= 1, got {batch_size=}")
    return int(batch_size)


def check_size(size: int | None, arch: alexnet.ArchSpec) -> int:
    """The image side in pixels: ``arch.input_size`` for None, else an int >= the smallest input.

    Raises:
        InputError: if ``size`` is not an integer >= ``alexnet.min_input_size(arch)``.

    Examples:
        >>> check_size(None, alexnet.CAFFE_ALEXNET), check_size(67, alexnet.CAFFE_ALEXNET)
        (227, 67)
    """
    size = arch.input_size if size is None else size
    if int(size) != size or size < alexnet.min_input_size(arch):
        raise InputError(
            f"size must be an integer >= {alexnet.min_input_size(arch)} px for {arch.name}, "
            f"got {size=}"
        )
    return int(size)


def check_grid(
    values: ArrayLike | Sequence[float], name: str, *, positive: bool = False
) -> np.ndarray:
    """A stimulus grid as a non-empty, finite 1-D float64 NumPy array (``> 0`` if ``positive``).

    Raises:
        InputError: otherwise.
    """
    grid = np.asarray(values, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 1:
        raise InputError(f"{name} must be a non-empty 1-D sequence, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)) or (positive and np.any(grid <= 0)):
        raise InputError(f"{name} must be finite{' and > 0' if positive else ''}, got {grid}")
    return grid


def check_inclusion_threshold(threshold: float, name: str = "threshold") -> float:
    """An inclusion threshold as a finite Python float >= 0 (network units).

    Raises:
        TypeError: on a traced or non-numeric value.
        InputError: on a negative or non-finite value.
    """
    try:
        value = float(threshold)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(f"{name} must be a Python number, got {type(threshold).__name__}") from None
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"{name} must be a finite number >= 0, got {name}={threshold!r}")
    return value


def _check_positions(positions: str) -> str:
    if positions not in POSITIONS:
        raise InputError(f"positions must be one of {POSITIONS}, got {positions=}")
    return positions


def _float_array(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        if not jnp.issubdtype(x.dtype, jnp.number) and x.dtype != jnp.bool_:
            raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
        x = x.astype(jnp.float32)
    return x


# --------------------------------------------------------------------------------------------
# The inclusion rule
# --------------------------------------------------------------------------------------------


def is_included(
    mean_activation: Float[ArrayLike, "..."], threshold: float = INCLUSION_THRESHOLD
) -> Bool[Array, "..."]:
    """The inclusion rule: ``mean_activation >= threshold`` (default 1.0 network units).

    ``mean_activation`` is a unit's mean response over the stimuli of a protocol; which
    protocol is the caller's choice (see the module docstring).

    Args:
        mean_activation: ``(...)`` mean activations in network units.
        threshold: finite, >= 0 (Wenliang & Seitz 2018: 1.0).

    Returns:
        ``(...)`` boolean mask.

    Raises:
        InputError: on a negative or non-finite threshold.

    Examples:
        >>> is_included(jnp.array([0.5, 1.0, 2.0])).tolist()
        [False, True, True]
    """
    threshold = check_inclusion_threshold(threshold)
    return jnp.asarray(mean_activation) >= threshold


def included_units(
    responses: Float[ArrayLike, "... U"], *, threshold: float = INCLUSION_THRESHOLD
) -> Bool[Array, " U"]:
    """Units whose mean activation over all stimuli is >= ``threshold`` (``is_included``).

    Args:
        responses: ``(..., U)``: all leading axes index stimuli (e.g. orientations x noise
            samples of ``tuning_protocol_responses``), the last axis indexes units.
        threshold: activation threshold, >= 0 (the paper's 1.0, in network units).

    Returns:
        ``(U,)`` boolean mask.

    Raises:
        InputError: on a responses array of rank < 2 or a negative/non-finite threshold.

    Examples:
        >>> included_units(jnp.array([[0.0, 1.0, 3.0], [1.0, 1.0, 0.0]])).tolist()
        [False, True, True]
    """
    responses = _float_array(responses, "responses")
    if responses.ndim < 2:
        raise InputError(
            f"responses must have shape (..., U) with at least one stimulus axis, got {responses.shape}"
        )
    threshold = check_inclusion_threshold(threshold)
    mean = jnp.mean(responses.reshape((-1, responses.shape[-1])), axis=0)
    return is_included(mean, threshold)


def included_unit_count(
    responses: Float[ArrayLike, "... U"], *, threshold: float = INCLUSION_THRESHOLD
) -> Int[Array, ""]:
    """Number of units included by the rule (see ``included_units``)."""
    return jnp.sum(included_units(responses, threshold=threshold))


# --------------------------------------------------------------------------------------------
# Recording responses through the network
# --------------------------------------------------------------------------------------------


def centre_units(activations: Float[Array, "N h w C"]) -> Float[Array, "N C"]:
    """The unit at the spatial centre ``(h // 2, w // 2)`` of each channel map.

    The recording site of Wenliang & Seitz (2018): index 27 of norm1's 55 x 55 map, 13 of
    27 x 27, 6 of 13 x 13.

    Raises:
        InputError: if ``activations`` is not ``(N, h, w, C)``.

    Examples:
        >>> centre_units(jnp.arange(18.0).reshape(1, 3, 3, 2)).tolist()
        [[8.0, 9.0]]
    """
    if activations.ndim != 4:
        raise InputError(f"activations must be (N, h, w, C), got shape {activations.shape}")
    _, h, w, _ = activations.shape
    return activations[:, h // 2, w // 2, :]


def centre_responses(
    params: dict, images: Float[Array, "N H W C"], arch: alexnet.ArchSpec, layers: tuple[str, ...]
) -> dict[str, Float[Array, "N C"]]:
    """``centre_units`` of the chosen layers, computed on their receptive-field cone only.

    Equal to ``{layer: centre_units(alexnet.features(params, images, arch)[layer])}`` to
    float32 round-off (``vpl_jax.receptive_field.centre_features``: each layer's input cropped
    to exactly the region feeding the centre units; 5.2x fewer multiply-adds for the paper's
    five layers at 227 px). Differentiable in every mode; the recorders use it for
    ``positions="centre"``.

    Args:
        params: conv1-5 params of ``arch``.
        images: ``(N, H, W, arch.in_channels)`` network input.
        arch: architecture spec.
        layers: output keys of ``alexnet.features``.

    Returns:
        ``{layer: (N, C)}`` in the order of ``layers``.
    """
    return receptive_field.centre_features(params, images, layers, arch)


def _forward(params, images, arch, layers: tuple[str, ...], positions: str) -> dict:
    if positions == "centre":
        return centre_responses(params, images, arch, layers)
    out = alexnet.features(params, images, arch)
    return {layer: out[layer] for layer in layers}


def blocked_map(fn, xs, batch_size: int):
    """``fn`` over blocks of ``batch_size`` items of the pytree ``xs`` (leading axis ``N``).

    The items are padded (repeating the last) to whole blocks, so one compiled body of
    ``batch_size`` items runs sequentially over the blocks (``lax.map``); the padding is dropped.
    Use it inside a jitted function (``batch_size`` must be a Python int).

    Args:
        fn: maps a pytree of ``(b, ...)`` leaves to a pytree of ``(b, ...)`` leaves.
        xs: pytree of arrays sharing the leading axis ``N`` (>= 1).
        batch_size: items per block, >= 1 (at most ``N`` are used).

    Returns:
        ``fn``'s output pytree with leading axis ``N``.

    Examples:
        >>> blocked_map(lambda x: 2 * x, jnp.arange(5.0), 2).tolist()
        [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    n = jax.tree.leaves(xs)[0].shape[0]
    size = min(batch_size, n)
    blocks = -(-n // size)
    pad = blocks * size - n

    def to_blocks(a):
        if pad:
            a = jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)])
        return a.reshape((blocks, size) + a.shape[1:])

    out = jax.lax.map(fn, jax.tree.map(to_blocks, xs))
    return jax.tree.map(lambda a: a.reshape((blocks * size,) + a.shape[2:])[:n], out)


@jax.jit(static_argnames=("arch", "layers", "batch_size", "positions"))
def _record(params, images, arch, layers, batch_size, positions):
    def block(batch):
        return _forward(params, batch, arch, layers, positions)

    return blocked_map(block, images, batch_size)


def record(
    params: dict,
    images: Float[ArrayLike, "N H W C"],
    *,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    layers: tuple[str, ...] = PROTOCOL_LAYERS,
    batch_size: int = 32,
    positions: str = "centre",
) -> dict[str, Array]:
    """Responses of chosen layers to a batch of images, computed in fixed-size blocks.

    One jitted program (``arch``, ``layers``, ``batch_size`` and ``positions`` static) runs
    the network on blocks of ``batch_size`` images in sequence, so memory stays bounded for any
    ``N``: for ``positions="centre"`` only the receptive-field cone of the centre units
    (``centre_responses``), for ``"all"`` ``alexnet.features`` (unused layers pruned).

    Args:
        params: conv1-5 params of ``arch``.
        images: ``(N, H, W, arch.in_channels)`` network input (network units).
        arch: architecture spec.
        layers: keys of ``alexnet.features``' output to keep.
        batch_size: images per block (>= 1).
        positions: ``"centre"`` for the centre unit of each channel (``centre_units``) or
            ``"all"`` for every position.

    Returns:
        ``{layer: (N, C)}`` for ``positions="centre"``, ``{layer: (N, h, w, C)}`` for ``"all"``.

    Raises:
        InputError: on an unknown layer, a bad ``positions`` or ``batch_size``, or an image shape
            ``alexnet.features`` rejects.
    """
    layers = check_layers(layers, arch)
    _check_positions(positions)
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise InputError(
            f"images must have shape (N, H, W, C={arch.in_channels}), got {images.shape}"
        )
    return _record(params, images, arch, layers, check_batch_size(batch_size), positions)


@jax.jit(static_argnames=("make_input", "arch", "layers", "batch_size", "positions", "grid_shape"))
def _record_generated(
    params, stim, consts, make_input, arch, layers, batch_size, positions, grid_shape
):
    """Generate each stimulus with ``make_input`` and record; outputs ``grid_shape + unit dims``."""

    def block(items):
        images = jax.vmap(make_input, in_axes=(0, None))(items, consts)
        return _forward(params, images, arch, layers, positions)

    out = blocked_map(block, stim, batch_size)
    return {layer: value.reshape(grid_shape + value.shape[1:]) for layer, value in out.items()}


def record_generated(
    params: dict,
    stimulus: stimuli.NoisyGaborStimulus | stimuli.GratingStimulus,
    stimulus_params: stimuli.NoisyGaborParams | stimuli.GratingParams,
    make_input: stimuli.NoisyGaborInput | stimuli.GratingInput,
    *,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    layers: tuple[str, ...] = PROTOCOL_LAYERS,
    batch_size: int = 32,
    positions: str = "centre",
    grid_shape: tuple[int, ...] | None = None,
) -> dict[str, Array]:
    """Generate the images inside one jitted program, ``batch_size`` at a time, and record them.

    Each block of stimulus records is turned into network inputs by ``jax.vmap(make_input,
    in_axes=(0, None))(block, stimulus_params)`` and run through ``alexnet.features``; no image
    set is ever held in memory. ``make_input``, ``arch``, ``layers``, ``batch_size``,
    ``positions`` and ``grid_shape`` are static; the stimulus values and ``stimulus_params``
    are traced (a new contrast, noise level or key does not recompile).

    Args:
        params: conv1-5 params of ``arch``.
        stimulus: a stimulus record whose fields have the leading axis ``N`` (one per image).
        stimulus_params: the shared parameters (use ``.as_arrays()`` for float32 leaves).
        make_input: an input maker of ``vpl_jax.stimuli`` whose ``channels`` is
            ``arch.in_channels``.
        arch: architecture spec.
        layers: output keys of ``alexnet.features`` to record.
        batch_size: images per block (>= 1).
        positions: ``"centre"`` (centre unit of each channel) or ``"all"``.
        grid_shape: shape of the stimulus grid, ``prod(grid_shape) == N`` (default ``(N,)``).

    Returns:
        ``{layer: grid_shape + (C,)}`` for ``"centre"``, ``{layer: grid_shape + (h, w, C)}``
        for ``"all"``.

    Raises:
        InputError: on an unknown layer, a bad ``positions``, ``batch_size`` or ``grid_shape``.
    """
    layers = check_layers(layers, arch)
    _check_positions(positions)
    batch_size = check_batch_size(batch_size)
    n = jax.tree.leaves(stimulus)[0].shape[0]
    grid_shape = (n,) if grid_shape is None else tuple(int(g) for g in grid_shape)
    if math.prod(grid_shape) != n:
        raise InputError(f"grid_shape {grid_shape} does not hold the {n} stimuli")
    return _record_generated(
        params,
        stimulus,
        stimulus_params,
        make_input,
        arch,
        layers,
        batch_size,
        positions,
        grid_shape,
    )


# --------------------------------------------------------------------------------------------
# Stimulus protocols: Ukita's gratings and the noisy Gabors of the inclusion count
# --------------------------------------------------------------------------------------------


def grating_responses(
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layers: tuple[str, ...] = PROTOCOL_LAYERS,
    orientations_deg: ArrayLike | Sequence[float] = DEFAULT_ORIENTATIONS_DEG,
    wavelengths_px: ArrayLike | Sequence[float] = DEFAULT_WAVELENGTHS_PX,
    phases_deg: ArrayLike | Sequence[float] = DEFAULT_PHASES_DEG,
    size: int | None = None,
    contrast: float = 0.5,
    batch_size: int = 32,
    positions: str = "centre",
) -> dict[str, Array]:
    """Responses to Ukita's full-field gratings (orientations x wavelengths x phases).

    Each grating ``G = vpl_jax.stimuli.grating(angle, 2 pi / wavelength, phase, size)`` (seed
    004's ``cos(k u + tau)``, in [-1, 1], phase at the image centre) becomes the full-range
    0-255 image ``I = 127.5 (1 + G)``, fed to the network with the input transform of Wenliang &
    Seitz (2018) ``contrast * (I - 125)`` (contrast 0.5: amplitude 64 network units), the grey
    image copied to every input channel (``vpl_jax.stimuli.GratingInput``). The images are
    generated inside one jitted program, ``batch_size`` at a time (``record_generated``).

    Args:
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        layers: output keys of ``alexnet.features`` to record.
        orientations_deg: ``(O,)`` orientations in degrees (0 = vertical stripes, clockwise).
        wavelengths_px: ``(S,)`` carrier wavelengths in pixels (> 0).
        phases_deg: ``(P,)`` phases in degrees.
        size: image side in pixels (default ``arch.input_size``).
        contrast: multiplies ``I - 125``.
        batch_size: images per block.
        positions: ``"centre"`` (centre unit of each channel) or ``"all"``.

    Returns:
        ``{layer: (O, S, P, C)}`` for ``positions="centre"``, ``{layer: (O, S, P, h, w, C)}`` for
        ``"all"``; move the channel axis first (``jnp.moveaxis(r, -1, 0)``) for
        ``vpl_jax.analysis.selectivity.orientation_tuning``.

    Raises:
        InputError: on an unknown layer, an empty or non-finite grid, a non-positive wavelength,
            a too small ``size`` or a bad ``batch_size``/``positions``.
    """
    layers = check_layers(layers, arch)
    _check_positions(positions)
    theta = check_grid(orientations_deg, "orientations_deg")
    wl = check_grid(wavelengths_px, "wavelengths_px", positive=True)
    ph = check_grid(phases_deg, "phases_deg")
    size = check_size(size, arch)
    a, w, p = np.meshgrid(theta, wl, ph, indexing="ij")
    stim = stimuli.GratingStimulus(
        angle_deg=jnp.asarray(a.ravel(), jnp.float32),
        wavelength_px=jnp.asarray(w.ravel(), jnp.float32),
        phase_deg=jnp.asarray(p.ravel(), jnp.float32),
    )
    return record_generated(
        params,
        stim,
        stimuli.GratingParams(contrast=contrast).as_arrays(),
        stimuli.GratingInput(size, arch.in_channels),
        arch=arch,
        layers=layers,
        batch_size=batch_size,
        positions=positions,
        grid_shape=(theta.size, wl.size, ph.size),
    )


def tuning_protocol_responses(
    key: Array,
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layers: tuple[str, ...] = PROTOCOL_LAYERS,
    num_orientations: int = 100,
    num_noise: int = 10,
    wavelength_px: float = 10.0,
    sigma_px: float = 50.0,
    contrast: float = 0.2,
    noise_sd: float = 15.0,
    size: int | None = None,
    batch_size: int = 32,
) -> dict[str, Array]:
    """Centre-unit responses to the noisy Gabors of the tuning protocol, over the whole cycle.

    The stimuli of Wenliang & Seitz (2018)'s tuning protocol (``vpl_jax.stimuli.gabor``:
    wavelength 10 px, sigma 50 px, cosine phase; input ``contrast * (G - 125) + N(0,
    noise_sd^2)``, ``vpl_jax.stimuli.NoisyGaborInput``) at ``num_orientations`` orientations
    ``k * 180 / num_orientations`` (``k < num_orientations``: the whole cycle, for a network
    without a trained orientation), each with ``num_noise`` independent noise samples. The paper
    uses 100 orientations around the trained orientation with 50 noise samples
    (``vpl_jax.analysis.tuning.record_tuning``); for the mean activation that decides inclusion
    (``included_units``) 10 samples are already precise to well under 1 %.

    Args:
        key: PRNG key for the pixel noise.
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        layers: layers to record (centre unit of each channel).
        num_orientations, num_noise: the stimulus grid (>= 1 each).
        wavelength_px, sigma_px, contrast, noise_sd: the Gabor and the input transform
            (``vpl_jax.stimuli.NoisyGaborParams``).
        size: image side (default ``arch.input_size``).
        batch_size: images per block.

    Returns:
        ``{layer: (num_orientations, num_noise, C)}``; feed to ``included_units`` or
        ``included_unit_count``.
    """
    layers = check_layers(layers, arch)
    for name, value in (("num_orientations", num_orientations), ("num_noise", num_noise)):
        if int(value) != value or value < 1:
            raise InputError(f"{name} must be an integer >= 1, got {value}")
    size = check_size(size, arch)
    angles = np.arange(num_orientations) * 180.0 / num_orientations
    stim = stimuli.NoisyGaborStimulus(
        angle_deg=jnp.asarray(np.repeat(angles, num_noise), jnp.float32),
        key=jax.random.split(key, num_orientations * num_noise),
    )
    gabor = stimuli.NoisyGaborParams(
        wavelength_px=wavelength_px, sigma_px=sigma_px, contrast=contrast, noise_sd=noise_sd
    )
    return record_generated(
        params,
        stim,
        gabor.as_arrays(),
        stimuli.NoisyGaborInput(size, arch.in_channels),
        arch=arch,
        layers=layers,
        batch_size=batch_size,
        positions="centre",
        grid_shape=(int(num_orientations), int(num_noise)),
    )
