"""Natural photographs bundled with scikit-image and scikit-learn, and random patches from them.

No data set can be downloaded here (spec: no ImageNet, no ImageNet32), so the natural-image
experiments use the photographs that ship inside the installed wheels and load offline:

* scikit-image (``skimage.data``): ``astronaut, camera, chelsea, coffee, grass, gravel, brick,
  rocket, moon, retina, hubble_deep_field, coins`` and ``motorcycle`` (the left view of
  ``stereo_motorcycle()``);
* scikit-learn (``sklearn.datasets.load_sample_images``): ``china, flower``.

Excluded (see :data:`EXCLUDED`): synthetic or graphic images (text, page, checkerboard, logo,
colorwheel, Shepp-Logan phantom, binary blobs, the binary horse silhouette), microscopy and
medical close-ups (cell, immunohistochemistry, microaneurysms), the artificially motion-blurred
clock, the 25x25 LFW faces, and every image that scikit-image fetches through pooch (cells3d,
kidney, lily, skin, eagle, brain, ...), which fails offline.

Conventions: photos load as NumPy ``float64`` greyscale arrays ``(H, W)`` in ``[0, 1]``
(``skimage.color.rgb2gray`` luminance for colour images); loading is host-side I/O and stays out
of jit. For sampling, :func:`pack` concatenates the photos into one flat JAX buffer
(:class:`PhotoStack`, a pytree), and :func:`sample_patches` cuts random square patches from it
with an explicit PRNG ``key`` (first argument) inside jit. Each patch first picks a photo uniformly
(every photo contributes equally, whatever its size), then a uniformly random position inside it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

__all__ = [
    "EXCLUDED",
    "PHOTO_NAMES",
    "SKIMAGE_PHOTOS",
    "SKLEARN_PHOTOS",
    "PhotoStack",
    "load_photo",
    "load_photos",
    "pack",
    "power_law_noise",
    "sample_patches",
]

SKIMAGE_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "grass",
    "gravel",
    "brick",
    "rocket",
    "moon",
    "retina",
    "hubble_deep_field",
    "coins",
    "motorcycle",
)
SKLEARN_PHOTOS: tuple[str, ...] = ("china", "flower")
PHOTO_NAMES: tuple[str, ...] = SKIMAGE_PHOTOS + SKLEARN_PHOTOS

EXCLUDED: dict[str, str] = {
    "text": "rendered text",
    "page": "scanned page of text",
    "checkerboard": "synthetic pattern",
    "logo": "graphic with alpha channel",
    "colorwheel": "synthetic colour wheel",
    "shepp_logan_phantom": "synthetic phantom",
    "binary_blobs": "synthetic binary image",
    "horse": "binary silhouette",
    "cell": "microscopy",
    "immunohistochemistry": "microscopy",
    "microaneurysms": "medical close-up, 102x102",
    "clock": "artificially motion-blurred",
    "lfw_subset": "25x25 face crops, smaller than a patch",
    "cells3d, kidney, lily, skin, eagle, brain, human_mitosis, ...": "downloaded by pooch",
}


def load_photo(name: str, *, scale: float = 1.0) -> np.ndarray:
    """Load one bundled photograph as greyscale ``float64`` in ``[0, 1]`` (host-side I/O).

    Args:
        name: one of :data:`PHOTO_NAMES`.
        scale: resampling factor in ``(0, 1]`` (``skimage.transform.rescale`` with
            anti-aliasing); 1 keeps the native resolution.

    Returns:
        NumPy array of shape ``(H, W)``, dtype float64, values in ``[0, 1]``.

    Raises:
        ValueError: for an unknown ``name`` or a ``scale`` outside ``(0, 1]``.
    """
    if name not in PHOTO_NAMES:
        raise ValueError(f"name must be one of {PHOTO_NAMES}, got {name=}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"scale must lie in (0, 1], got {scale=}")
    import skimage.color
    import skimage.data
    import skimage.transform
    import skimage.util

    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        img = load_sample_image(f"{name}.jpg")
    elif name == "motorcycle":
        img = skimage.data.stereo_motorcycle()[0]
    else:
        img = getattr(skimage.data, name)()
    img = skimage.util.img_as_float64(img)
    if img.ndim == 3:
        img = skimage.color.rgb2gray(img[..., :3])
    if scale != 1.0:
        img = skimage.transform.rescale(img, scale, anti_aliasing=True)
    return np.clip(np.asarray(img, np.float64), 0.0, 1.0)


def load_photos(
    names: tuple[str, ...] = PHOTO_NAMES, *, scale: float = 1.0
) -> tuple[np.ndarray, ...]:
    """Load several photographs with :func:`load_photo` (default: all of :data:`PHOTO_NAMES`).

    Args:
        names: photo names, each in :data:`PHOTO_NAMES`.
        scale: resampling factor in ``(0, 1]``.

    Returns:
        Tuple of ``float64`` arrays ``(H_i, W_i)`` in ``[0, 1]``.

    Raises:
        ValueError: if ``names`` is empty or holds an unknown name.
    """
    names = tuple(names)
    if not names:
        raise ValueError("names must hold at least one photo name")
    return tuple(load_photo(n, scale=scale) for n in names)


class PhotoStack(NamedTuple):
    """Ragged images packed into one flat buffer (a pytree of arrays, jit-friendly).

    Attributes:
        pixels: all pixels, row-major per image, concatenated, shape ``(total,)``.
        offsets: start of each image in ``pixels``, shape ``(n,)``, int32.
        heights: image heights, shape ``(n,)``, int32.
        widths: image widths, shape ``(n,)``, int32.
    """

    pixels: Float[Array, " total"]
    offsets: Int[Array, " n"]
    heights: Int[Array, " n"]
    widths: Int[Array, " n"]


def pack(images: tuple[np.ndarray, ...], dtype=jnp.float32) -> PhotoStack:
    """Pack 2-D images of different sizes into a :class:`PhotoStack`.

    Args:
        images: non-empty sequence of 2-D arrays.
        dtype: pixel dtype of the buffer (float32 by default; float64 for reference tests).

    Returns:
        The packed stack.

    Raises:
        ValueError: if ``images`` is empty or an image is not 2-D.
    """
    images = tuple(np.asarray(im) for im in images)
    if not images:
        raise ValueError("images must hold at least one image")
    for i, im in enumerate(images):
        if im.ndim != 2:
            raise ValueError(f"images[{i}] must be 2-D (H, W) greyscale, got shape {im.shape}")
    sizes = np.array([im.size for im in images])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return PhotoStack(
        pixels=jnp.asarray(np.concatenate([im.ravel() for im in images]), dtype),
        offsets=jnp.asarray(offsets, jnp.int32),
        heights=jnp.asarray([im.shape[0] for im in images], jnp.int32),
        widths=jnp.asarray([im.shape[1] for im in images], jnp.int32),
    )


def sample_patches(
    key: PRNGKeyArray,
    stack: PhotoStack,
    num_patches: int,
    *,
    size: int = 32,
    flips: bool = False,
) -> Float[Array, "num_patches size size"]:
    """Cut ``num_patches`` random ``size`` x ``size`` patches from a :class:`PhotoStack`.

    A photo is drawn uniformly for each patch, then a top-left corner uniformly among the valid
    positions of that photo. With ``flips=True`` each patch is mirrored left-right with
    probability 1/2 (makes the orientation statistics symmetric about vertical).

    Args:
        key: PRNG key.
        stack: packed photos; every photo must be at least ``size`` x ``size``.
        num_patches: number of patches, integer >= 1 (static).
        size: patch side in pixels, integer >= 1 (static).
        flips: random horizontal flips (static).

    Returns:
        Patches of shape ``(num_patches, size, size)``, dtype of ``stack.pixels``.

    Raises:
        ValueError: for bad ``num_patches``/``size``, or (when the stack is concrete) a photo
            smaller than ``size``.

    Examples:
        >>> import jax, numpy as np
        >>> st = pack((np.arange(16.0).reshape(4, 4),))
        >>> sample_patches(jax.random.key(0), st, 3, size=4).shape
        (3, 4, 4)
    """
    for name, value in (("num_patches", num_patches), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {name}={value!r}")
    if not isinstance(stack.heights, jax.core.Tracer):
        smallest = int(min(np.min(np.asarray(stack.heights)), np.min(np.asarray(stack.widths))))
        if smallest < size:
            raise ValueError(
                f"size must be <= the smallest photo side ({smallest} px), got {size=}"
            )
    return _sample_patches(key, stack, num_patches, size, flips)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _sample_patches(key, stack: PhotoStack, num_patches: int, size: int, flips: bool):
    img_key, row_key, col_key, flip_key = jax.random.split(key, 4)
    n_images = stack.offsets.shape[0]
    idx = jax.random.randint(img_key, (num_patches,), 0, n_images)
    h, w = stack.heights[idx], stack.widths[idx]
    r0 = jax.random.randint(row_key, (num_patches,), 0, h - size + 1)
    c0 = jax.random.randint(col_key, (num_patches,), 0, w - size + 1)
    ar = jnp.arange(size, dtype=jnp.int32)
    cols = c0[:, None] + ar[None, :]
    if flips:
        flip = jax.random.bernoulli(flip_key, 0.5, (num_patches,))
        cols = jnp.where(flip[:, None], c0[:, None] + (size - 1 - ar)[None, :], cols)
    rows = r0[:, None] + ar[None, :]
    flat = (
        stack.offsets[idx][:, None, None] + rows[:, :, None] * w[:, None, None] + cols[:, None, :]
    )
    return stack.pixels[flat]


def power_law_noise(
    key: PRNGKeyArray, size: int, *, exponent: float = 2.0, dtype=None
) -> Float[Array, "size size"]:
    """Periodic Gaussian random image with power spectrum ``S(f) ~ 1 / |f|^exponent``.

    A synthetic control for the PCA spectrum: for ``exponent = 2`` (the classic natural-image
    ``1/f^2`` power) the patch-covariance eigenvalues fall as ``lambda_k ~ k^-1`` (mode index
    ``k ~ f^2``). The DC component is zero and the image is scaled to unit variance.

    Args:
        key: PRNG key.
        size: image side in pixels, integer >= 2 (static).
        exponent: power-spectrum exponent (>= 0).
        dtype: float dtype (default: JAX's default float).

    Returns:
        Image of shape ``(size, size)``, zero mean, unit variance.

    Raises:
        ValueError: for ``size < 2`` or ``exponent < 0``.
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 2:
        raise ValueError(f"size must be an integer >= 2, got {size=}")
    if not exponent >= 0:
        raise ValueError(f"exponent must be >= 0, got {exponent=}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    return _power_law_noise(key, int(size), float(exponent), jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _power_law_noise(key, size: int, exponent: float, dtype):
    white = jax.random.normal(key, (size, size), dtype)
    fy = jnp.fft.fftfreq(size)[:, None]
    fx = jnp.fft.rfftfreq(size)[None, :]
    f = jnp.sqrt(fy**2 + fx**2)
    gain = jnp.where(f > 0, jnp.power(jnp.where(f > 0, f, 1.0), -exponent / 2.0), 0.0)
    img = jnp.fft.irfft2(jnp.fft.rfft2(white) * gain, s=(size, size)).astype(dtype)
    img = img - jnp.mean(img)
    return img / jnp.std(img)
