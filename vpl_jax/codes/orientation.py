"""Orientation sensitivity experiments (Benjamin et al. 2022, Fig. 2c and SI Fig. 1).

* :func:`measure_networks` -- per-layer orientation sensitivity (the paper's Gabor, 10 phases)
  of networks users hold (AlexNets, VGG16-BN, ResNet18, ...; random, shuffled within each
  tensor, or trained weights) with the cardinal/oblique ratio per layer and a bootstrap interval
  over phases (Fig. 2c, SI Fig. 1a).
* :func:`architecture_experiment` -- SI Fig. 1c: random Caffe AlexNets whose max-pooling is
  overlapping (3 x 3, stride 2: AlexNet's), non-overlapping (2 x 2, stride 2) or absent
  (:func:`pooling_variants`), many seeds measured in one vmapped call per variant; the same seed
  has the same convolution weights in every variant (a paired comparison).
* :func:`statistics_experiment` -- SI Fig. 1b: the small CNN of :mod:`vpl_jax.codes.train`
  trained on natural-photo crops, unrotated and rotated by 45 deg, with the training crops'
  orientation-energy histogram (:func:`orientation_energy`, a quadrature Gabor filter bank at the
  test Gabor's frequency and bandwidth) next to each trained network's per-layer sensitivity.

Orientations are in degrees (0 = vertical stripes, clockwise; :mod:`vpl_jax.codes.stimuli`).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from theory.checks import InputError
from vpl_jax import alexnet, runs
from vpl_jax.codes import models, sensitivity, stimuli, train

__all__ = [
    "POOLINGS",
    "POOLING_LABELS",
    "ArchitectureResult",
    "StatisticsResult",
    "architecture_experiment",
    "co_summary",
    "measure_networks",
    "orientation_energy",
    "pooling_variants",
    "statistics_experiment",
]

#: Pooling variants of SI Fig. 1c: id -> (window, stride), or None for no max-pooling.
POOLINGS: dict[str, tuple[int, int] | None] = {
    "overlap_3s2": (3, 2),
    "nonoverlap_2s2": (2, 2),
    "none": None,
}
#: Display labels of :data:`POOLINGS`.
POOLING_LABELS: dict[str, str] = {
    "overlap_3s2": "overlapping max-pool 3/2",
    "nonoverlap_2s2": "non-overlapping max-pool 2/2",
    "none": "no max-pooling",
}


def pooling_variants(
    stages: int = 2, base: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET
) -> dict[str, alexnet.ArchSpec]:
    """The first ``stages`` conv stages of ``base`` under every pooling of :data:`POOLINGS`.

    Args:
        stages: number of conv layers kept (1-5; 2 keeps conv1, norm1, pool1, conv2, norm2,
            pool2 of the Caffe AlexNet).
        base: the architecture.

    Returns:
        ``{label: ArchSpec}``; the "none" variant drops every max-pool (its layers are conv and
        norm only).

    Raises:
        InputError: for ``stages`` outside ``1 .. len(base.convs)``.
    """
    if not isinstance(stages, int) or not 1 <= stages <= len(base.convs):
        raise InputError(f"stages must be an integer in [1, {len(base.convs)}], got {stages!r}")
    convs = base.convs[:stages]
    out = {}
    for label, pool in POOLINGS.items():
        if pool is None:
            arch = dataclasses.replace(
                base,
                name=f"{base.name}_{stages}_nopool",
                convs=tuple(dataclasses.replace(c, pool=False) for c in convs),
            )
        else:
            arch = dataclasses.replace(
                base,
                name=f"{base.name}_{stages}_pool{pool[0]}s{pool[1]}",
                convs=convs,
                pool_window=pool[0],
                pool_stride=pool[1],
            )
        out[label] = arch
    return out


def co_summary(
    key: PRNGKeyArray,
    thetas_deg: np.ndarray,
    d: np.ndarray,
    *,
    half_width: float = 5.0,
    num_boot: int = 2000,
) -> dict[str, float | list[float]]:
    """Cardinal/oblique ratio of sensitivities ``d`` of shape ``(P, T)`` or ``(R, P, T)``.

    For one network (``(P, T)``): the ratio of the phase-averaged curve and a bootstrap interval
    over phases. For ``R >= 2`` seeds: the ratio of the seed- and phase-averaged curve, the
    per-seed ratios, and a bootstrap interval over seeds (each resample averages the chosen
    seeds' phase-averaged curves).

    Returns:
        ``{"co", "low", "high", "per_seed"}`` (``per_seed`` empty for one network).
    """
    d = np.asarray(d, np.float64)
    ratio = functools.partial(sensitivity.cardinal_oblique, thetas_deg, half_width=half_width)
    if d.ndim == 2:
        co, lo, hi = sensitivity.bootstrap_ratio(key, d, ratio, num=num_boot)
        return {"co": co, "low": lo, "high": hi, "per_seed": []}
    if d.ndim != 3:
        raise InputError(f"d must have shape (P, T) or (R, P, T), got {d.shape}")
    per_seed = d.mean(axis=1)
    if per_seed.shape[0] < 2:
        co, lo, hi = sensitivity.bootstrap_ratio(key, d[0], ratio, num=num_boot)
        return {"co": co, "low": lo, "high": hi, "per_seed": [co]}
    co, lo, hi = sensitivity.bootstrap_ratio(key, per_seed, ratio, num=num_boot)
    return {"co": co, "low": lo, "high": hi, "per_seed": ratio(per_seed).tolist()}


def measure_networks(
    key: PRNGKeyArray,
    networks: dict[str, tuple[models.Network, dict]],
    *,
    thetas_deg: np.ndarray | None = None,
    phases: np.ndarray | None = None,
    chunk: int = 4,
    progress: bool = False,
) -> dict[str, dict]:
    """Per-layer orientation sensitivity and CO ratio of each ``(network, params)``.

    Args:
        key: PRNG key (bootstrap).
        networks: ``{label: (Network, params)}``.
        thetas_deg: orientations (default every 5 deg).
        phases: phases (default the paper's 10).
        chunk: stimuli per compiled call.
        progress: ``tqdm`` bars.

    Returns:
        ``{label: {"thetas": (T,), "d": {layer: (P, T)}, "co": {layer: co_summary}}}``.
    """
    thetas = sensitivity.orientation_grid() if thetas_deg is None else np.asarray(thetas_deg)
    out = {}
    for i, (label, (net, params)) in enumerate(networks.items()):
        d = sensitivity.orientation_sensitivity(
            net, params, thetas, phases, chunk=chunk, progress=progress
        )
        k = jax.random.fold_in(key, i)
        out[label] = {
            "thetas": thetas,
            "d": d,
            "co": {layer: co_summary(k, thetas, v) for layer, v in d.items()},
        }
    return out


class ArchitectureResult(NamedTuple):
    """SI Fig. 1c measurements.

    Attributes:
        thetas: orientations, degrees ``(T,)``.
        d: ``{variant: {layer: (R, P, T)}}`` sensitivities per seed and phase.
        co: ``{variant: {layer: co_summary}}``.
        size: image side, px.
        num_seeds: ``R``.
    """

    thetas: np.ndarray
    d: dict
    co: dict
    size: int
    num_seeds: int


def architecture_experiment(
    key: PRNGKeyArray,
    *,
    num_seeds: int = 10,
    size: int = 224,
    stages: int = 2,
    thetas_deg: np.ndarray | None = None,
    phases: np.ndarray | None = None,
    chunk: int = 4,
    checkpoint=None,
    progress: bool = False,
) -> ArchitectureResult:
    """Random Caffe AlexNets with overlapping, non-overlapping and no max-pooling (SI Fig. 1c).

    Every variant's ``num_seeds`` networks (``alexnet.init_params``, He-normal, zero biases;
    seed ``r`` identical across variants) are measured in one vmapped call per chunk of stimuli.

    Args:
        key: PRNG key (split into the seeds' init keys and a bootstrap key).
        num_seeds: random networks per variant (>= 2).
        size: image side in pixels (the paper's Gabor at 224; scaled otherwise).
        stages: conv stages kept (see :func:`pooling_variants`).
        thetas_deg: orientations (default every 5 deg).
        phases: phases (default the paper's 10).
        chunk: stimuli per compiled call.
        checkpoint: folder; each variant's sensitivities are saved there when measured
            (``vpl_jax.runs.save_tree``) and read back on a rerun (resumable per variant).
        progress: ``tqdm`` bars.

    Returns:
        The :class:`ArchitectureResult`.

    Raises:
        InputError: ``num_seeds < 2`` or an image too small for the stack.
    """
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 2:
        raise InputError(f"num_seeds must be an integer >= 2, got {num_seeds!r}")
    variants = pooling_variants(stages)
    for arch in variants.values():
        try:
            alexnet.layer_shapes(arch, size, size)
        except ValueError as err:
            raise InputError(f"size {size} px is too small: {err}") from None
    thetas = sensitivity.orientation_grid() if thetas_deg is None else np.asarray(thetas_deg)
    init_key, boot_key = jax.random.split(key)
    seed_keys = jax.random.split(init_key, num_seeds)
    d_all, co_all = {}, {}
    for label, arch in variants.items():
        path = None if checkpoint is None else Path(checkpoint) / label
        if path is not None and runs.is_finished(path):
            saved = runs.restore_tree(path)
            if (
                not np.array_equal(saved["thetas"], thetas)
                or saved["d"][next(iter(saved["d"]))].shape[0] != num_seeds
            ):
                raise InputError(
                    f"checkpoint {path} holds another grid or seed count; delete it to remeasure"
                )
            d = {k: np.asarray(saved["d"][k]) for k in models.alexnet_network(arch).layers}
        else:
            net = models.alexnet_network(arch, input_size=size, name=label)
            params = jax.vmap(lambda k, arch=arch: alexnet.init_params(k, arch))(seed_keys)
            d = sensitivity.orientation_sensitivity(
                net, params, thetas, phases, chunk=chunk, stacked=True, progress=progress
            )
            if path is not None:
                runs.save_tree(path, {"thetas": np.asarray(thetas, np.float64), "d": d})
        d_all[label] = d
        co_all[label] = {layer: co_summary(boot_key, thetas, v) for layer, v in d.items()}
    return ArchitectureResult(thetas, d_all, co_all, size, num_seeds)


# --------------------------------------------------------------------------------------------
# Orientation energy of images
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("num",))
def _energy(images, frequency, sigma, *, num):
    n, h, w = images.shape
    fr = jnp.fft.fftfreq(h)[:, None]
    fc = jnp.fft.fftfreq(w)[None, :]
    thetas = jnp.deg2rad(jnp.arange(num) * (180.0 / num))
    # A Gabor at theta varies along x' = cos(t) x - sin(t) y (y up = -row): its spectrum sits at
    # (f_row, f_col) = f0 (sin t, cos t); one side only -> a quadrature (complex) filter.
    sigma_f = 1.0 / (2.0 * jnp.pi * sigma)
    centre_r = frequency * jnp.sin(thetas)[:, None, None]
    centre_c = frequency * jnp.cos(thetas)[:, None, None]
    gain = jnp.exp(-((fr[None] - centre_r) ** 2 + (fc[None] - centre_c) ** 2) / (2 * sigma_f**2))
    window = jnp.outer(jnp.hanning(h), jnp.hanning(w))
    x = (images - images.mean(axis=(1, 2), keepdims=True)) * window[None, :, :]
    power = jnp.abs(jnp.fft.fft2(x)) ** 2  # (n, h, w)
    return jnp.einsum("nhw,khw->k", power, gain**2) / n


def orientation_energy(
    images: Float[Array, "N H W"],
    *,
    num: int = 36,
    frequency: float | None = None,
    sigma: float | None = None,
) -> np.ndarray:
    """Orientation-energy histogram of grey images: quadrature Gabor energy per orientation.

    Each image is mean-removed and Hann-windowed; its power spectrum is weighted by the squared
    gain of a one-sided (complex, quadrature) Gabor filter centred on frequency ``f0`` in the
    direction of each orientation ``theta_k = 180 k / num`` (the same orientation convention as
    :func:`vpl_jax.codes.stimuli.gabor`), i.e. the mean energy ``|image * g_theta|^2`` of the
    filter tuned to the test Gabor. Returned normalised to sum 1.

    Args:
        images: ``(N, H, W)`` grey images (square or not).
        num: orientations on ``[0, 180)``.
        frequency: filter centre frequency, cycles/px (default: the paper's Gabor scaled to
            ``H``).
        sigma: spatial envelope SD of the filter, px (default: scaled likewise); the spectral
            SD is ``1 / (2 pi sigma)``.

    Returns:
        ``(num,)`` histogram summing to 1.

    Raises:
        InputError: for images that are not ``(N, H, W)`` or a bad ``num``.
    """
    images = jnp.asarray(images, jnp.float32)
    if images.ndim != 3 or images.shape[0] < 1:
        raise InputError(f"images must have shape (N, H, W), got {images.shape}")
    if isinstance(num, bool) or not isinstance(num, int) or num < 4:
        raise InputError(f"num must be an integer >= 4, got {num!r}")
    f0, s0 = stimuli.scaled_gabor_parameters(max(int(images.shape[1]), 8))
    e = np.asarray(
        _energy(
            images, f0 if frequency is None else frequency, s0 if sigma is None else sigma, num=num
        ),
        np.float64,
    )
    return e / e.sum()


# --------------------------------------------------------------------------------------------
# Statistics experiment (rotated training)
# --------------------------------------------------------------------------------------------


class StatisticsResult(NamedTuple):
    """SI Fig. 1b stand-in: trained small CNNs, their sensitivity, the crops' statistics.

    Attributes:
        angles: training rotation per condition, degrees ``(C,)``.
        thetas: orientations ``(T,)``.
        d_initial: ``{layer: (C * R, P, T)}`` untrained networks.
        d_trained: ``{layer: (C * R, P, T)}`` trained networks.
        energy: ``(C, T)`` orientation-energy histograms of each condition's training crops.
        co_initial, co_trained: ``{condition label: {layer: co_summary}}``.
        shift: ``{layer: lag}`` circular cross-correlation lag (deg) of the rotated condition's
            mean curve relative to the unrotated one (conditions 1 vs 0).
        loss, accuracy: training curves ``(C * R, L)``.
        num_seeds: ``R``.
        photo_names: the photos used.
    """

    angles: np.ndarray
    thetas: np.ndarray
    d_initial: dict
    d_trained: dict
    energy: np.ndarray
    co_initial: dict
    co_trained: dict
    shift: dict
    loss: np.ndarray
    accuracy: np.ndarray
    num_seeds: int
    photo_names: tuple[str, ...]


def statistics_experiment(
    key: PRNGKeyArray,
    photos: tuple[np.ndarray, ...],
    photo_names: tuple[str, ...],
    config: train.PhotoTrainConfig,
    *,
    angles_deg: tuple[float, ...] = (0.0, 45.0),
    num_seeds: int = 2,
    num_energy_crops: int = 2048,
    checkpoint=None,
    progress: bool = False,
) -> StatisticsResult:
    """Train the small CNN on unrotated and rotated grey photo crops and measure it.

    Args:
        key: PRNG key.
        photos: grey photos ``(H, W)`` in ``[0, 1]``.
        photo_names: their names (for the record).
        config: training settings; ``config.spec`` must be grey with one class per photo.
        angles_deg: training rotations (the first is the reference for the shift).
        num_seeds: networks per condition.
        num_energy_crops: crops per condition for the orientation-energy histogram.
        checkpoint: folder for the trained networks (see :func:`train.train_photo_cnn`).
        progress: ``tqdm`` bars.

    Returns:
        The :class:`StatisticsResult`.
    """
    spec = config.spec
    if spec.in_channels != 1:
        raise InputError(
            f"the statistics experiment trains on grey crops; spec has {spec.in_channels} channels"
        )
    bank = train.pack_photos(photos)
    train_key, energy_key, boot_key = jax.random.split(key, 3)
    zeros = tuple(0.0 for _ in angles_deg)
    trained = train.train_photo_cnn(
        train_key,
        bank,
        angles_deg,
        zeros,
        num_seeds,
        config,
        checkpoint=checkpoint,
        progress=progress,
    )
    net = models.small_cnn_network(spec)
    thetas = sensitivity.orientation_grid()
    d0 = sensitivity.orientation_sensitivity(
        net, trained.initial, thetas, stacked=True, chunk=12, progress=progress
    )
    d1 = sensitivity.orientation_sensitivity(
        net, trained.params, thetas, stacked=True, chunk=12, progress=progress
    )
    energies = []
    for i, angle in enumerate(angles_deg):
        crops, _ = train.sample_crops(
            jax.random.fold_in(energy_key, i),
            bank,
            num_energy_crops,
            side=spec.input_size,
            angle_deg=jnp.float32(angle),
            flips=config.flips,
        )
        energies.append(orientation_energy(crops[..., 0], num=thetas.size))
    labels = [f"rotated {a:g} deg" for a in angles_deg]
    r = num_seeds
    co0, co1, shift = {}, {}, {}
    for c, label in enumerate(labels):
        co0[label] = {
            k: co_summary(boot_key, thetas, v[c * r : (c + 1) * r]) for k, v in d0.items()
        }
        co1[label] = {
            k: co_summary(boot_key, thetas, v[c * r : (c + 1) * r]) for k, v in d1.items()
        }
    if len(angles_deg) > 1:
        for k, v in d1.items():
            ref = v[:r].mean(axis=(0, 1))
            rot = v[r : 2 * r].mean(axis=(0, 1))
            shift[k] = sensitivity.circular_shift(ref / ref.mean(), rot / rot.mean(), period=180.0)
    return StatisticsResult(
        np.asarray(angles_deg, np.float64),
        thetas,
        d0,
        d1,
        np.stack(energies),
        co0,
        co1,
        shift,
        trained.loss,
        trained.accuracy,
        num_seeds,
        tuple(photo_names),
    )
