r"""Hue sensitivity experiments (Benjamin et al. 2022, Fig. 3).

* :func:`cielab_speed` -- the human-like curve of Fig. 3b: ``|d Lab(hsv2rgb(H, 1, 1)) / dH|``
  (CIELAB distance per degree of hue, by forward-mode autodiff through
  :func:`vpl_jax.codes.stimuli.rgb_to_lab`), and :func:`cielab_distance`, the paper's version:
  the CIELAB distance between neighbouring, uniformly spaced hues.
* :func:`hue_histogram` -- the hue histogram of colour photos, pixels with S and V in
  ``[0.5, 1]``, 1-deg bins (Methods: "ImageNet hue statistics").
* :func:`hue_experiment` -- the small RGB CNN of :mod:`vpl_jax.codes.train` trained on colour
  photo crops with and without a global 90-deg hue rotation; per-layer hue sensitivity
  (:func:`vpl_jax.codes.sensitivity.hue_sensitivity`, averaged over the 6 x 6 S, V grid), its
  correlation with each condition's hue histogram, and the peak shift between the conditions
  by circular cross-correlation (:func:`vpl_jax.codes.sensitivity.circular_shift`).

Hues are in degrees on ``[0, 360)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from theory.checks import InputError
from vpl_jax.codes import models, sensitivity, stimuli, train

__all__ = [
    "HueResult",
    "cielab_distance",
    "cielab_speed",
    "circular_correlation",
    "hue_experiment",
    "hue_histogram",
]


def _lab_of_hue(h_deg):
    return stimuli.rgb_to_lab(stimuli.hsv_to_rgb(h_deg, 1.0, 1.0))


def cielab_speed(hues_deg: Float[ArrayLike, " T"]) -> Float[Array, " T"]:
    r"""CIELAB distance per degree of hue at S = V = 1: ``|| d Lab(hsv2rgb(H, 1, 1)) / dH ||``.

    One ``jax.jvp`` per hue. Kinks of the HSV hexcone (every 60 deg) make the derivative jump
    there; the one-sided derivative from above is returned at the kinks.

    Args:
        hues_deg: hues, degrees ``(T,)``.

    Returns:
        ``Delta E`` per degree, ``(T,)``.
    """
    h = jnp.asarray(hues_deg, jnp.result_type(hues_deg, float))

    def speed(x):
        _, tangent = jax.jvp(_lab_of_hue, (x,), (jnp.ones_like(x),))
        return jnp.sqrt(jnp.sum(tangent**2))

    return jax.vmap(speed)(h)


def cielab_distance(hues_deg: Float[ArrayLike, " T"], *, step: float = 1.0) -> Float[Array, " T"]:
    """CIELAB distance between the hues ``H - step/2`` and ``H + step/2`` at S = V = 1.

    The paper's Fig. 3b: "the perceptual distance between uniformly spaced H values (calculated
    using the approximately perceptually uniform color space CIELAB) at S = V = 1".

    Args:
        hues_deg: centre hues, degrees.
        step: spacing of the hues, degrees (> 0).

    Returns:
        ``Delta E`` (CIE76), same shape as ``hues_deg``.
    """
    if not step > 0:
        raise InputError(f"step must be > 0 degrees, got {step}")
    h = jnp.asarray(hues_deg, jnp.result_type(hues_deg, float))
    diff = _lab_of_hue(h + step / 2) - _lab_of_hue(h - step / 2)
    return jnp.sqrt(jnp.sum(diff**2, axis=-1))


def hue_histogram(
    images: tuple[np.ndarray, ...] | np.ndarray,
    *,
    bins: int = 360,
    s_range: tuple[float, float] = (0.5, 1.0),
    v_range: tuple[float, float] = (0.5, 1.0),
) -> np.ndarray:
    """Hue histogram of RGB images, pixels with S and V inside the ranges (1-deg bins).

    Args:
        images: RGB images ``(..., 3)`` in ``[0, 1]`` (a tuple of photos or one array).
        bins: number of hue bins on ``[0, 360)``.
        s_range, v_range: inclusive ranges of saturation and value.

    Returns:
        ``(bins,)`` fraction of the selected pixels per bin (sums to 1; zeros if none).
    """
    if isinstance(images, np.ndarray) or hasattr(images, "shape"):
        images = (np.asarray(images),)
    counts = np.zeros(bins, np.float64)
    for im in images:
        im = np.asarray(im, np.float64)
        if im.shape[-1] != 3:
            raise InputError(f"images must be RGB (..., 3), got shape {im.shape}")
        hsv = np.asarray(
            stimuli.rgb_to_hsv(jnp.asarray(im.reshape(-1, 3), jnp.float32)), np.float64
        )
        keep = (
            (hsv[:, 1] >= s_range[0])
            & (hsv[:, 1] <= s_range[1])
            & (hsv[:, 2] >= v_range[0])
            & (hsv[:, 2] <= v_range[1])
        )
        idx = np.clip((hsv[keep, 0] / 360.0 * bins).astype(int), 0, bins - 1)
        counts += np.bincount(idx, minlength=bins)
    total = counts.sum()
    return counts / total if total > 0 else counts


def circular_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two curves sampled on the same grid."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _resample(hist: np.ndarray, hues: np.ndarray, width: float) -> np.ndarray:
    """Mean of a 1-deg histogram over windows of ``width`` deg centred on ``hues``."""
    bins = hist.shape[0]
    centres = (np.arange(bins) + 0.5) * 360.0 / bins
    out = []
    for h in hues:
        dist = np.abs(np.mod(centres - h + 180.0, 360.0) - 180.0)
        out.append(hist[dist <= width / 2].mean())
    return np.asarray(out)


class HueResult(NamedTuple):
    """Fig. 3 stand-in.

    Attributes:
        hue_shifts: training hue rotation per condition, degrees ``(C,)``.
        hues: measured hues ``(T,)``.
        d_initial, d_trained: ``{layer: (C * R, K, T)}`` per network and (S, V) pair.
        histograms: ``(C, 360)`` hue histograms of each condition's training crops.
        correlation: ``{condition label: {layer: Pearson r}}`` of the trained networks' mean
            curve with that condition's histogram (smoothed to the hue grid).
        shift: ``{layer: lag}`` circular cross-correlation lag (deg) of condition 1's mean curve
            relative to condition 0's.
        histogram_shift: the same lag between the two histograms.
        loss, accuracy: training curves ``(C * R, L)``.
        num_seeds: ``R``.
        photo_names: the photos.
    """

    hue_shifts: np.ndarray
    hues: np.ndarray
    d_initial: dict
    d_trained: dict
    histograms: np.ndarray
    correlation: dict
    shift: dict
    histogram_shift: float
    loss: np.ndarray
    accuracy: np.ndarray
    num_seeds: int
    photo_names: tuple[str, ...]


def hue_experiment(
    key: PRNGKeyArray,
    photos: tuple[np.ndarray, ...],
    photo_names: tuple[str, ...],
    config: train.PhotoTrainConfig,
    *,
    hue_shifts_deg: tuple[float, ...] = (0.0, 90.0),
    num_seeds: int = 2,
    hues_deg: np.ndarray | None = None,
    num_histogram_crops: int = 1024,
    checkpoint=None,
    progress: bool = False,
) -> HueResult:
    """Train the small RGB CNN with and without a global hue rotation and measure its hue code.

    Args:
        key: PRNG key.
        photos: RGB photos ``(H, W, 3)`` in ``[0, 1]``.
        photo_names: their names.
        config: training settings (``config.spec`` RGB, one class per photo).
        hue_shifts_deg: hue rotation per condition (the first is the reference).
        num_seeds: networks per condition.
        hues_deg: measured hues (default every 5 deg).
        num_histogram_crops: crops per condition for the hue histograms.
        checkpoint: folder for the trained networks.
        progress: ``tqdm`` bars.

    Returns:
        The :class:`HueResult`.
    """
    spec = config.spec
    if spec.in_channels != 3:
        raise InputError(
            f"the hue experiment trains an RGB network; spec has {spec.in_channels} channels"
        )
    hues = np.arange(0.0, 360.0, 5.0) if hues_deg is None else np.asarray(hues_deg, np.float64)
    bank = train.pack_photos(photos)
    train_key, hist_key = jax.random.split(key)
    zeros = tuple(0.0 for _ in hue_shifts_deg)
    trained = train.train_photo_cnn(
        train_key,
        bank,
        zeros,
        hue_shifts_deg,
        num_seeds,
        config,
        checkpoint=checkpoint,
        progress=progress,
    )
    net = models.small_cnn_network(spec)
    d0 = sensitivity.hue_sensitivity(
        net, trained.initial, hues, stacked=True, chunk=24, progress=progress
    )
    d1 = sensitivity.hue_sensitivity(
        net, trained.params, hues, stacked=True, chunk=24, progress=progress
    )
    hists = []
    for i, shift in enumerate(hue_shifts_deg):
        crops, _ = train.sample_crops(
            jax.random.fold_in(hist_key, i),
            bank,
            num_histogram_crops,
            side=spec.input_size,
            hue_shift_deg=jnp.float32(shift),
            flips=False,
        )
        hists.append(hue_histogram(np.asarray(crops)))
    hists = np.stack(hists)
    width = float(hues[1] - hues[0]) if hues.size > 1 else 5.0
    labels = [f"hue +{s:g} deg" for s in hue_shifts_deg]
    r = num_seeds
    corr, shift = {}, {}
    for c, label in enumerate(labels):
        target = _resample(hists[c], hues, width)
        corr[label] = {
            k: circular_correlation(v[c * r : (c + 1) * r].mean(axis=(0, 1)), target)
            for k, v in d1.items()
        }
    if len(hue_shifts_deg) > 1:
        for k, v in d1.items():
            ref, rot = v[:r].mean(axis=(0, 1)), v[r : 2 * r].mean(axis=(0, 1))
            shift[k] = sensitivity.circular_shift(ref / ref.mean(), rot / rot.mean(), period=360.0)
        hist_shift = sensitivity.circular_shift(hists[0], hists[1], period=360.0)
    else:
        hist_shift = float("nan")
    return HueResult(
        np.asarray(hue_shifts_deg, np.float64),
        hues,
        d0,
        d1,
        hists,
        corr,
        shift,
        hist_shift,
        trained.loss,
        trained.accuracy,
        num_seeds,
        tuple(photo_names),
    )
