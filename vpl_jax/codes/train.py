"""Training the small CNN on natural-photo crops, with rotated or hue-rotated variants.

The environment-feasible stand-in for the paper's retrained ImageNet networks (Benjamin et al.
2022, SI Fig. 1b: images rotated by 45 deg; Fig. 3d: hues rotated by 90 deg): a
:class:`vpl_jax.codes.models.SmallCNNSpec` network learns to tell which photo a random crop
comes from (one class per photo), by Adam on a softmax cross-entropy, with random horizontal
flips (as torchvision's recipe; they make the orientation statistics symmetric about vertical).

Crops (:func:`sample_crops`): a photo is drawn uniformly, then a centre uniformly among the
positions at which a crop **rotated by any angle** stays inside the photo (margin ``(side - 1)
/ sqrt(2) + 1`` px), so the rotated and unrotated conditions see the same photo regions and a
rotated crop never shows the photo's corners (rotate, then crop inside). The crop is sampled by
bilinear interpolation on a grid rotated by ``angle_deg``; a ``hue_shift_deg`` rotates every
pixel's HSV hue (colour crops). Grey crops are z-scored with the ImageNet grey statistics
(mean 0.449, SD 0.226), colour crops with :func:`vpl_jax.codes.stimuli.imagenet_normalise`,
the units of the paper's stimuli.

Conditions (angle, hue shift) are array leaves, and every condition and seed trains in one
vmapped program. On XLA:CPU a convolution's backward pass runs 5-20x slower inside ``lax.scan``,
so training is a host loop over one compiled step (as ``vpl_jax.train``). Keys: the training key
is the first argument of :func:`train_photo_cnn`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray
from tqdm.auto import tqdm

from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.codes import models, stimuli

__all__ = [
    "GREY_MEAN",
    "GREY_STD",
    "PhotoBank",
    "PhotoTrainConfig",
    "TrainedCNNs",
    "crop_margin",
    "pack_photos",
    "rotate_hue",
    "sample_crops",
    "train_photo_cnn",
]

GREY_MEAN = 0.449
"""Mean ImageNet grey level in ``[0, 1]`` (mean of the three channel means)."""
GREY_STD = 0.226
"""SD of ImageNet grey levels (mean of the three channel SDs)."""


class PhotoBank(NamedTuple):
    """Photos of different sizes in one flat buffer (a pytree; jit-friendly).

    Attributes:
        pixels: ``(total, C)`` pixel values in ``[0, 1]``, row-major per photo.
        offsets: start row of each photo in ``pixels``, ``(n,)`` int32.
        heights, widths: photo sizes, ``(n,)`` int32.
    """

    pixels: Float[Array, "total C"]
    offsets: Int[Array, " n"]
    heights: Int[Array, " n"]
    widths: Int[Array, " n"]


def pack_photos(images: tuple[np.ndarray, ...], dtype=jnp.float32) -> PhotoBank:
    """Pack ``(H, W)`` grey or ``(H, W, C)`` colour photos (all the same ``C``) into a bank.

    Raises:
        InputError: no photos, or mixed channel counts.
    """
    images = tuple(np.asarray(im) for im in images)
    if not images:
        raise InputError("images must hold at least one photo")
    images = tuple(im[..., None] if im.ndim == 2 else im for im in images)
    channels = {im.shape[2] for im in images}
    if len(channels) != 1 or any(im.ndim != 3 for im in images):
        raise InputError(f"photos must all be (H, W) or all (H, W, C) with one C, got {channels}")
    sizes = np.array([im.shape[0] * im.shape[1] for im in images])
    return PhotoBank(
        pixels=jnp.asarray(np.concatenate([im.reshape(-1, im.shape[2]) for im in images]), dtype),
        offsets=jnp.asarray(np.concatenate([[0], np.cumsum(sizes)[:-1]]), jnp.int32),
        heights=jnp.asarray([im.shape[0] for im in images], jnp.int32),
        widths=jnp.asarray([im.shape[1] for im in images], jnp.int32),
    )


def crop_margin(side: int) -> float:
    """Distance (px) from a crop's centre to the photo border needed for any rotation."""
    return (side - 1) / math.sqrt(2.0) + 1.0


def rotate_hue(rgb: Float[Array, "... 3"], shift_deg: Float[Array, ""]) -> Float[Array, "... 3"]:
    """Rotate the HSV hue of RGB colours in ``[0, 1]`` by ``shift_deg`` degrees.

    Equivalent to torchvision's ``adjust_hue`` with ``hue_factor = shift / 360`` (90 deg:
    0.25, the paper's hue-rotated ImageNet).
    """
    hsv = stimuli.rgb_to_hsv(rgb)
    return stimuli.hsv_to_rgb(hsv[..., 0] + shift_deg, hsv[..., 1], hsv[..., 2])


def _bilinear(bank: PhotoBank, photo, rows, cols):
    h, w = bank.heights[photo], bank.widths[photo]
    r0 = jnp.clip(jnp.floor(rows), 0, h - 2).astype(jnp.int32)
    c0 = jnp.clip(jnp.floor(cols), 0, w - 2).astype(jnp.int32)
    fr = jnp.clip(rows - r0, 0.0, 1.0)[..., None]
    fc = jnp.clip(cols - c0, 0.0, 1.0)[..., None]
    base = bank.offsets[photo]

    def at(r, c):
        return bank.pixels[base + r * w + c]

    top = at(r0, c0) * (1 - fc) + at(r0, c0 + 1) * fc
    bottom = at(r0 + 1, c0) * (1 - fc) + at(r0 + 1, c0 + 1) * fc
    return top * (1 - fr) + bottom * fr


def sample_crops(
    key: PRNGKeyArray,
    bank: PhotoBank,
    num: int,
    *,
    side: int,
    angle_deg: Float[Array, ""] = 0.0,
    hue_shift_deg: Float[Array, ""] = 0.0,
    flips: bool = True,
) -> tuple[Float[Array, "num side side C"], Int[Array, " num"]]:
    """Random crops (rotated by ``angle_deg``, hue-shifted, flipped) and their photo indices.

    Every photo side must be at least ``2 * crop_margin(side) + 1`` px (checked by
    :func:`train_photo_cnn`). Values stay in ``[0, 1]`` (not yet z-scored).

    Args:
        key: PRNG key.
        bank: the photos.
        num: number of crops (static).
        side: crop side in pixels (static).
        angle_deg: rotation of the sampling grid, degrees (the crop shows the photo rotated by
            ``-angle_deg``; with flips, +-angle are equivalent).
        hue_shift_deg: hue rotation, degrees (colour banks only; 0 for grey).
        flips: random horizontal flips with probability 1/2.

    Returns:
        ``(crops (num, side, side, C), labels (num,))``.
    """
    k_photo, k_row, k_col, k_flip = jax.random.split(key, 4)
    n = bank.offsets.shape[0]
    photo = jax.random.randint(k_photo, (num,), 0, n)
    margin = crop_margin(side)
    h = bank.heights[photo].astype(jnp.float32)
    w = bank.widths[photo].astype(jnp.float32)
    cy = margin + jax.random.uniform(k_row, (num,)) * (h - 1 - 2 * margin)
    cx = margin + jax.random.uniform(k_col, (num,)) * (w - 1 - 2 * margin)
    half = (side - 1) / 2.0
    u = jnp.arange(side, dtype=jnp.float32) - half  # x to the right
    v = half - jnp.arange(side, dtype=jnp.float32)  # y upwards
    uu, vv = jnp.meshgrid(u, v)  # (side, side): [row, col]
    a = jnp.deg2rad(angle_deg)
    xs = jnp.cos(a) * uu - jnp.sin(a) * vv
    ys = jnp.sin(a) * uu + jnp.cos(a) * vv
    flip = jax.random.bernoulli(k_flip, 0.5, (num,)) if flips else jnp.zeros((num,), bool)
    sign = jnp.where(flip, -1.0, 1.0)[:, None, None]
    cols = cx[:, None, None] + sign * xs[None]
    rows = cy[:, None, None] - ys[None]
    crops = jax.vmap(lambda p, r, c: _bilinear(bank, p, r, c))(photo, rows, cols)
    if bank.pixels.shape[1] == 3:
        crops = jnp.clip(rotate_hue(crops, hue_shift_deg), 0.0, 1.0)
    return crops, photo


def _normalise(crops):
    if crops.shape[-1] == 3:
        return stimuli.imagenet_normalise(crops)
    return (crops - GREY_MEAN) / GREY_STD


@dataclasses.dataclass(frozen=True)
class PhotoTrainConfig:
    """Static settings of :func:`train_photo_cnn`.

    Attributes:
        spec: the small CNN (its ``num_classes`` must equal the number of photos, its
            ``in_channels`` the bank's channels, its ``input_size`` the crop side).
        batch: crops per step.
        num_steps: training steps.
        learning_rate: Adam learning rate.
        flips: random horizontal flips.
    """

    spec: models.SmallCNNSpec
    batch: int = 64
    num_steps: int = 1500
    learning_rate: float = 1e-3
    flips: bool = True

    def __post_init__(self):
        for field in ("batch", "num_steps"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"PhotoTrainConfig.{field} must be an integer >= 1, got {value!r}")
        if not self.learning_rate > 0:
            raise InputError(
                f"PhotoTrainConfig.learning_rate must be > 0, got {self.learning_rate}"
            )


class TrainedCNNs(NamedTuple):
    """Networks trained under ``C`` conditions x ``R`` seeds.

    Attributes:
        initial: the initial params (leaves with leading axes ``(C * R,)``; seed ``r`` of every
            condition shares its initialisation).
        params: the trained params (same layout).
        loss: mean training loss per logging interval, ``(C * R, L)``.
        accuracy: training accuracy per logging interval, ``(C * R, L)``.
    """

    initial: dict
    params: dict
    loss: np.ndarray
    accuracy: np.ndarray


@functools.partial(jax.jit, static_argnames=("config", "optimizer"))
def _step(params, opt_state, keys, angle, hue, bank, *, config, optimizer):
    spec = config.spec

    def one(p, s, key, angle, hue):
        crops, labels = sample_crops(
            key,
            bank,
            config.batch,
            side=spec.input_size,
            angle_deg=angle,
            hue_shift_deg=hue,
            flips=config.flips,
        )
        x = _normalise(crops)

        def loss_fn(p):
            logits = models.small_cnn_logits(p, x, spec)
            loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
            return loss, jnp.mean(jnp.argmax(logits, -1) == labels)

        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss, acc

    return jax.vmap(one, in_axes=(0, 0, 0, 0, 0))(params, opt_state, keys, angle, hue)


def train_photo_cnn(
    key: PRNGKeyArray,
    bank: PhotoBank,
    angles_deg: tuple[float, ...],
    hue_shifts_deg: tuple[float, ...],
    num_seeds: int,
    config: PhotoTrainConfig,
    *,
    log_every: int | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = False,
) -> TrainedCNNs:
    """Train the small CNN under each (angle, hue shift) condition and seed, all at once.

    Args:
        key: PRNG key (split into init and data keys).
        bank: the photos (from :func:`pack_photos`).
        angles_deg: crop rotation per condition, degrees (e.g. ``(0, 45)``).
        hue_shifts_deg: hue rotation per condition, same length (e.g. ``(0, 0)``).
        num_seeds: networks per condition (>= 1).
        config: static settings.
        log_every: steps per logged loss/accuracy value (default ``gcd(50, num_steps)``).
        checkpoint: if given, the finished result is saved there (``vpl_jax.runs.save_tree``)
            and returned from it on a rerun.
        progress: ``tqdm`` bar over the steps.

    Returns:
        The :class:`TrainedCNNs`.

    Raises:
        InputError: mismatched condition lists, a bank that does not fit the spec, photos too
            small for the crop, bad ``num_seeds``/``log_every``.
    """
    spec = config.spec
    angles = np.asarray(angles_deg, np.float32).reshape(-1)
    hues = np.asarray(hue_shifts_deg, np.float32).reshape(-1)
    if angles.shape != hues.shape or angles.size < 1:
        raise InputError(
            f"angles_deg and hue_shifts_deg must be non-empty and of equal length, got "
            f"{angles.size} and {hues.size}"
        )
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
        raise InputError(f"num_seeds must be an integer >= 1, got {num_seeds!r}")
    log_every = math.gcd(50, config.num_steps) if log_every is None else log_every
    if not isinstance(log_every, int) or log_every < 1 or config.num_steps % log_every:
        raise InputError(f"log_every must divide num_steps ({config.num_steps}), got {log_every!r}")
    n_photos = int(bank.offsets.shape[0])
    if spec.num_classes != n_photos or spec.in_channels != bank.pixels.shape[1]:
        raise InputError(
            f"spec must have num_classes = {n_photos} photos and in_channels = "
            f"{bank.pixels.shape[1]}, got {spec.num_classes} and {spec.in_channels}"
        )
    smallest = int(min(np.min(np.asarray(bank.heights)), np.min(np.asarray(bank.widths))))
    need = int(math.ceil(2 * crop_margin(spec.input_size) + 1))
    if smallest < need:
        raise InputError(
            f"every photo side must be >= {need} px for {spec.input_size}-px crops at any "
            f"rotation, got a photo of {smallest} px"
        )
    if np.any(hues != 0) and spec.in_channels != 3:
        raise InputError("hue_shifts_deg must be 0 for grey photos")
    if checkpoint is not None and runs.is_finished(checkpoint):
        saved = runs.restore_tree(checkpoint)
        tree = jax.tree.map(jnp.asarray, saved)
        return TrainedCNNs(tree["initial"], tree["params"], saved["loss"], saved["accuracy"])

    n_cond = angles.size
    n = n_cond * num_seeds
    init_key, data_key = jax.random.split(key)
    seed_keys = jax.random.split(init_key, num_seeds)
    params = jax.vmap(lambda k: models.init_small_cnn(k, spec))(jnp.tile(seed_keys, n_cond))
    initial = params
    optimizer = optax.adam(config.learning_rate)
    opt_state = jax.vmap(optimizer.init)(params)
    angle = jnp.asarray(np.repeat(angles, num_seeds))
    hue = jnp.asarray(np.repeat(hues, num_seeds))
    step_keys = jax.random.split(data_key, config.num_steps)

    losses, accs, logged_loss, logged_acc = [], [], [], []
    for i in tqdm(range(config.num_steps), desc="photo CNN", disable=not progress):
        params, opt_state, loss, acc = _step(
            params,
            opt_state,
            jax.random.split(step_keys[i], n),
            angle,
            hue,
            bank,
            config=config,
            optimizer=optimizer,
        )
        losses.append(loss)
        accs.append(acc)
        if (i + 1) % log_every == 0:
            logged_loss.append(np.mean(np.stack(jax.device_get(losses)), axis=0))
            logged_acc.append(np.mean(np.stack(jax.device_get(accs)), axis=0))
            losses, accs = [], []
    result = TrainedCNNs(
        initial, params, np.stack(logged_loss, axis=1), np.stack(logged_acc, axis=1)
    )
    if checkpoint is not None:
        runs.save_tree(
            checkpoint,
            {
                "initial": jax.tree.map(np.asarray, initial),
                "params": jax.tree.map(np.asarray, params),
                "loss": result.loss,
                "accuracy": result.accuracy,
            },
        )
    return result
