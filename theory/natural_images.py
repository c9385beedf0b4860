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

More photo banks (optional, cached): :func:`fetch_debian_photos` downloads a few Debian packages
that ship natural photographs (:data:`DEBIAN_BANKS`: the Tux Paint photo templates, the MATE
"nature" wallpapers, and the animal and monument photos that GCompris keeps inside Qt ``.rcc``
resource files, read by :func:`read_qt_resources`) with the system's own package client
(``apt-get download``, then ``dpkg-deb -x``) and copies the listed photos into
``${VPL_JAX_CACHE:-~/.cache/vpl_jax}/photos/<bank>/`` with a ``manifest.json`` (package, version,
member, sha256 of every file). The photos carry their packages' licences and are never part of
this repository. :func:`load_bank` loads a bank (greyscale or colour); ``"auto"`` takes every
cached Debian bank and falls back to the bundled photos when none is cached. Colour versions of
the bundled colour photos load with :func:`load_colour_photo` (:data:`COLOUR_PHOTO_NAMES`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray
from tqdm.auto import tqdm

from theory.checks import InputError

__all__ = [
    "BANK_NAMES",
    "COLOUR_PHOTO_NAMES",
    "DEBIAN_BANKS",
    "EXCLUDED",
    "PHOTO_NAMES",
    "SKIMAGE_PHOTOS",
    "SKLEARN_PHOTOS",
    "DebianBank",
    "PhotoStack",
    "bank_files",
    "cache_dir",
    "fetch_debian_photos",
    "load_bank",
    "load_colour_photo",
    "load_photo",
    "load_photo_file",
    "load_photos",
    "pack",
    "power_law_noise",
    "read_qt_resources",
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


# --------------------------------------------------------------------------------------------
# Colour versions of the bundled photos
# --------------------------------------------------------------------------------------------

#: Bundled photos that are in colour (the others are greyscale by nature).
COLOUR_PHOTO_NAMES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "retina",
    "hubble_deep_field",
    "motorcycle",
    "china",
    "flower",
)


def load_colour_photo(name: str, *, scale: float = 1.0) -> np.ndarray:
    """Load one bundled colour photograph as RGB ``float64`` in ``[0, 1]`` (host-side I/O).

    Args:
        name: one of :data:`COLOUR_PHOTO_NAMES`.
        scale: resampling factor in ``(0, 1]`` (anti-aliased); 1 keeps the native resolution.

    Returns:
        NumPy array of shape ``(H, W, 3)``, dtype float64, values in ``[0, 1]``.

    Raises:
        InputError: for an unknown ``name`` or a ``scale`` outside ``(0, 1]``.
    """
    if name not in COLOUR_PHOTO_NAMES:
        raise InputError(f"name must be one of {COLOUR_PHOTO_NAMES}, got {name=}")
    if not 0.0 < scale <= 1.0:
        raise InputError(f"scale must lie in (0, 1], got {scale=}")
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
    img = skimage.util.img_as_float64(img)[..., :3]
    if scale != 1.0:
        img = skimage.transform.rescale(img, scale, anti_aliasing=True, channel_axis=-1)
    return np.clip(np.asarray(img, np.float64), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Qt resource files (.rcc)
# --------------------------------------------------------------------------------------------

_RCC_MAGIC = b"qres"
_RCC_COMPRESSED, _RCC_DIRECTORY, _RCC_ZSTD = 0x01, 0x02, 0x04
#: Largest uncompressed entry accepted (bytes); a larger declared size means a corrupted file.
_RCC_MAX_ENTRY = 1 << 30


def _rcc_error(where: str, what: str) -> InputError:
    return InputError(f"{where}: not a readable Qt resource (.rcc) file: {what}")


def read_qt_resources(source: str | os.PathLike | bytes) -> dict[str, bytes]:
    """Read every file stored in a binary Qt resource file (``rcc`` output, format 1-3).

    Layout (big-endian): ``"qres"``, ``version``, ``tree``, ``data`` and ``names`` offsets (u32),
    and for version >= 3 a ``flags`` word. Tree nodes are 14 bytes (version 1) or 22 bytes (a
    64-bit modification time appended): ``name offset`` u32, ``flags`` u16, then for a directory
    ``child count`` and ``first child`` (u32 each), for a file ``country``, ``language`` (u16)
    and ``data offset`` (u32). Names are a u16 length, a u32 hash and UTF-16BE characters; data
    entries are a u32 length followed by the bytes, which for a zlib-compressed entry (flag 1)
    are ``qCompress`` output: the u32 uncompressed length, then a zlib stream. zstd-compressed
    entries (flag 4) need the optional ``zstandard`` package.

    Every offset and declared length is checked against the file size (and the uncompressed
    size against 1 GiB) before anything is allocated.

    Args:
        source: path of the ``.rcc`` file, or its bytes.

    Returns:
        ``{path: bytes}`` with paths like ``"/gcompris/src/activities/erase/resource/bee.webp"``,
        in tree order.

    Raises:
        InputError: for a file that is not an ``.rcc`` file, is truncated or corrupted, or holds
            zstd entries without ``zstandard`` installed (the message names the file and what is
            wrong).
    """
    if isinstance(source, bytes | bytearray):
        where, blob = "<bytes>", bytes(source)
    else:
        where = str(source)
        try:
            blob = Path(source).read_bytes()
        except OSError as err:
            raise InputError(f"{where}: cannot read the file: {err.strerror}") from None
    size = len(blob)
    if size < 20 or blob[:4] != _RCC_MAGIC:
        raise _rcc_error(where, f"no 'qres' header ({size} bytes)")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    if version not in (1, 2, 3):
        raise _rcc_error(where, f"format version {version} (1, 2 or 3 are understood)")
    node_size = 14 if version == 1 else 22
    for label, offset in (("tree", tree), ("data", data), ("names", names)):
        if offset > size:
            raise _rcc_error(where, f"{label} offset {offset} beyond the end ({size} bytes)")

    def u32(pos: int, what: str) -> int:
        if pos + 4 > size:
            raise _rcc_error(where, f"truncated at {what} (offset {pos}, file {size} bytes)")
        return struct.unpack(">I", blob[pos : pos + 4])[0]

    def name_at(offset: int) -> str:
        pos = names + offset
        if pos + 6 > size:
            raise _rcc_error(where, f"name offset {offset} beyond the end")
        length = struct.unpack(">H", blob[pos : pos + 2])[0]
        end = pos + 6 + 2 * length
        if end > size:
            raise _rcc_error(where, f"name at {offset} runs past the end")
        return blob[pos + 6 : end].decode("utf-16-be")

    out: dict[str, bytes] = {}
    seen: set[int] = set()
    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        if index in seen:
            raise _rcc_error(where, f"tree node {index} is reached twice (a cycle)")
        seen.add(index)
        pos = tree + index * node_size
        if pos + 14 > size:
            raise _rcc_error(where, f"tree node {index} beyond the end")
        name_offset, flags = struct.unpack(">IH", blob[pos : pos + 6])
        name = "" if index == 0 else name_at(name_offset)
        if flags & _RCC_DIRECTORY:
            count, first = struct.unpack(">II", blob[pos + 6 : pos + 14])
            if tree + (first + count) * node_size > size:
                raise _rcc_error(where, f"directory {prefix + name!r} lists nodes beyond the end")
            path = prefix + name + "/" if index else "/"
            stack.extend((child, path) for child in reversed(range(first, first + count)))
            continue
        entry = data + struct.unpack(">I", blob[pos + 10 : pos + 14])[0]
        length = u32(entry, f"the length of {prefix + name!r}")
        if entry + 4 + length > size:
            raise _rcc_error(
                where, f"{prefix + name!r} declares {length} bytes, {size - entry - 4} remain"
            )
        payload = blob[entry + 4 : entry + 4 + length]
        if flags & _RCC_ZSTD:
            try:
                import zstandard
            except ImportError:
                raise _rcc_error(
                    where, f"{prefix + name!r} is zstd-compressed (pip install zstandard)"
                ) from None
            payload = zstandard.ZstdDecompressor().decompress(
                payload, max_output_size=_RCC_MAX_ENTRY
            )
        elif flags & _RCC_COMPRESSED:
            if length < 4:
                raise _rcc_error(where, f"{prefix + name!r}: compressed entry of {length} bytes")
            expected = struct.unpack(">I", payload[:4])[0]
            if expected > _RCC_MAX_ENTRY:
                raise _rcc_error(where, f"{prefix + name!r} declares {expected} bytes uncompressed")
            try:
                payload = zlib.decompress(payload[4:])
            except zlib.error as err:
                raise _rcc_error(where, f"{prefix + name!r}: corrupted zlib data ({err})") from None
            if len(payload) != expected:
                raise _rcc_error(
                    where, f"{prefix + name!r}: {len(payload)} bytes unpacked, {expected} declared"
                )
        out[prefix + name] = payload
    return out


# --------------------------------------------------------------------------------------------
# Photo banks from Debian packages (optional, cached)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DebianBank:
    """Where a bank of photos lives inside a Debian package.

    Attributes:
        package: the Debian package name (fetched with ``apt-get download``).
        members: glob patterns of files inside the package (relative to its root).
        resources: for Qt resource files among ``members``, glob patterns of the entries to take
            from them (empty: the members are the photos themselves).
        description: what the photos show.
    """

    package: str
    members: tuple[str, ...]
    resources: tuple[str, ...] = ()
    description: str = ""


#: The banks :func:`fetch_debian_photos` knows, checked against Debian 12 (bookworm): 19 + 12 +
#: 57 + 49 = 137 photographs.
DEBIAN_BANKS: dict[str, DebianBank] = {
    "tuxpaint": DebianBank(
        "tuxpaint-data",
        ("usr/share/tuxpaint/templates/*.jpg",),
        description="Tux Paint photo templates: bark, cliffs, sea, trees, clouds, rocks (19)",
    ),
    "mate_nature": DebianBank(
        "mate-backgrounds",
        ("usr/share/backgrounds/mate/nature/*.jpg",),
        description="MATE 'nature' wallpapers: leaves, flowers, grass, dunes, a storm (12)",
    ),
    "gcompris_animals": DebianBank(
        "gcompris-qt-data",
        (
            "usr/share/gcompris-qt/rcc/erase.rcc",
            "usr/share/gcompris-qt/rcc/explore_world_animals.rcc",
            "usr/share/gcompris-qt/rcc/explore_farm_animals.rcc",
        ),
        resources=("*.webp", "*.jpg", "*.png"),
        description="GCompris animal photographs in their habitats (33 + 15 + 9)",
    ),
    "gcompris_monuments": DebianBank(
        "gcompris-qt-data",
        ("usr/share/gcompris-qt/rcc/explore_monuments.rcc",),
        resources=("*.webp", "*.jpg", "*.png"),
        description="GCompris photographs of monuments and landscapes (49)",
    ),
}

#: Accepted ``bank`` names of :func:`load_bank`.
BANK_NAMES: tuple[str, ...] = ("auto", "bundled", "debian", *DEBIAN_BANKS)

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def cache_dir() -> Path:
    """The cache folder: ``$VPL_JAX_CACHE`` if set, else ``~/.cache/vpl_jax``."""
    env = os.environ.get("VPL_JAX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vpl_jax"


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _bank_folder(bank: str, cache: str | os.PathLike | None) -> Path:
    return (cache_dir() if cache is None else Path(cache)) / "photos" / bank


def _check_banks(banks: Sequence[str]) -> tuple[str, ...]:
    banks = (banks,) if isinstance(banks, str) else tuple(banks)
    if not banks:
        raise InputError(f"banks must name at least one of {tuple(DEBIAN_BANKS)}, got ()")
    for bank in banks:
        if bank not in DEBIAN_BANKS:
            raise InputError(f"banks must be names from {tuple(DEBIAN_BANKS)}, got {bank!r}")
    return banks


def _run(cmd: Sequence[str], cwd: Path) -> str:
    done = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return done.stdout


def bank_files(bank: str, *, cache: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """The cached photo files of one Debian bank, in manifest order (empty if not fetched).

    A file is listed only if the bank's ``manifest.json`` lists it and its sha256 matches.

    Args:
        bank: a key of :data:`DEBIAN_BANKS`.
        cache: cache folder (default :func:`cache_dir`).

    Returns:
        Paths of the photos; ``()`` when the bank has not been fetched.

    Raises:
        InputError: for an unknown bank, or a manifest that lists a missing or altered file.
    """
    _check_banks((bank,))
    folder = _bank_folder(bank, cache)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return ()
    try:
        entries = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{manifest}: unreadable manifest ({err}); fetch the bank again") from None
    paths = []
    for entry in entries:
        if "/" in entry["file"] or entry["file"].startswith("."):
            raise InputError(f"{manifest}: file name {entry['file']!r} is not a plain name")
        path = folder / entry["file"]
        if not path.is_file() or _sha256(path.read_bytes()) != entry["sha256"]:
            raise InputError(
                f"{path}: listed in {manifest} but missing or altered; fetch the bank again"
            )
        paths.append(path)
    return tuple(paths)


def fetch_debian_photos(
    banks: Sequence[str] = tuple(DEBIAN_BANKS),
    *,
    cache: str | os.PathLike | None = None,
    refresh: bool = False,
    progress: bool = False,
    runner: Callable[[Sequence[str], Path], str] | None = None,
) -> dict[str, tuple[Path, ...]]:
    """Download Debian packages holding natural photos and cache the photos (optional setup).

    For each package needed: ``apt-get download <package>`` in a temporary folder, ``dpkg-deb -f
    <deb> Version`` and ``dpkg-deb -x <deb> <dir>``; then the bank's members (and, for Qt resource
    files, the matching entries read by :func:`read_qt_resources`) are copied to
    ``<cache>/photos/<bank>/`` under their base names, with a ``manifest.json`` listing package,
    version, member and sha256 of every photo. The ``.deb`` and the unpacked tree are deleted
    afterwards. A bank already cached (and intact) is not fetched again unless ``refresh``.

    Args:
        banks: names from :data:`DEBIAN_BANKS` (default: all).
        cache: cache folder (default :func:`cache_dir`, i.e. ``${VPL_JAX_CACHE:-~/.cache/vpl_jax}``).
        refresh: fetch again even when cached.
        progress: show a ``tqdm`` bar over the packages.
        runner: ``runner(cmd, cwd) -> stdout`` runs one command (default: ``subprocess.run``;
            tests pass their own).

    Returns:
        ``{bank: paths of its photos}``.

    Raises:
        InputError: for an unknown bank name.
        RuntimeError: when ``apt-get`` or ``dpkg-deb`` fails (message with its stderr), or a
            bank's pattern matches nothing in the package.
    """
    banks = _check_banks(banks)
    run = _run if runner is None else runner
    result: dict[str, tuple[Path, ...]] = {}
    todo: dict[str, list[str]] = {}
    for bank in banks:
        cached = () if refresh else bank_files(bank, cache=cache)
        if cached:
            result[bank] = cached
        else:
            todo.setdefault(DEBIAN_BANKS[bank].package, []).append(bank)

    for package, package_banks in tqdm(
        list(todo.items()), desc="photo packages", disable=not progress
    ):
        with tempfile.TemporaryDirectory(prefix="vpl_jax_deb_") as tmp:
            tmp = Path(tmp)
            run(["apt-get", "download", package], tmp)
            debs = sorted(tmp.glob(f"{package}_*.deb"))
            if not debs:
                raise RuntimeError(f"apt-get download {package} left no {package}_*.deb")
            version = run(["dpkg-deb", "-f", str(debs[0]), "Version"], tmp).strip()
            root = tmp / "root"
            run(["dpkg-deb", "-x", str(debs[0]), str(root)], tmp)
            for bank in package_banks:
                result[bank] = _copy_bank(bank, root, package, version, cache)
    return {bank: result[bank] for bank in banks}


def _copy_bank(bank: str, root: Path, package: str, version: str, cache) -> tuple[Path, ...]:
    spec = DEBIAN_BANKS[bank]
    members = [p for pattern in spec.members for p in sorted(root.glob(pattern)) if p.is_file()]
    if not members:
        raise RuntimeError(f"{package}: no file matches {spec.members} (bank {bank!r})")
    photos: list[tuple[str, str, bytes]] = []  # (file name, source, bytes)
    for member in members:
        rel = str(member.relative_to(root))
        if spec.resources:
            for name, blob in read_qt_resources(member).items():
                base = name.rsplit("/", 1)[-1]
                if any(fnmatch.fnmatch(base.lower(), pat) for pat in spec.resources):
                    photos.append((f"{member.stem}__{base}", f"{rel}:{name}", blob))
        else:
            photos.append((member.name, rel, member.read_bytes()))
    if not photos:
        raise RuntimeError(f"{package}: the members of bank {bank!r} hold no photo")
    folder = _bank_folder(bank, cache)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    entries = []
    for file_name, source, blob in photos:
        (staging / file_name).write_bytes(blob)
        entries.append({"file": file_name, "source": source, "sha256": _sha256(blob)})
    manifest = {"bank": bank, "package": package, "version": version, "files": entries}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return tuple(folder / e["file"] for e in entries)


def load_photo_file(
    path: str | os.PathLike, *, colour: bool = False, max_side: int | None = None
) -> np.ndarray:
    """Load a photo file (JPEG, PNG, WebP) as ``float64`` in ``[0, 1]`` (host-side I/O).

    Args:
        path: image file.
        colour: ``True`` for RGB ``(H, W, 3)`` (alpha dropped, greyscale repeated), ``False`` for
            greyscale ``(H, W)`` (``skimage.color.rgb2gray`` luminance, as :func:`load_photo`).
        max_side: if given, downscale (anti-aliased) so that the longer side is at most this many
            pixels (an integer >= 8); smaller photos are kept as they are.

    Returns:
        The image as a NumPy array.

    Raises:
        InputError: for a missing or undecodable file, or a bad ``max_side``.
    """
    if max_side is not None and (
        isinstance(max_side, bool) or not isinstance(max_side, int | np.integer) or max_side < 8
    ):
        raise InputError(f"max_side must be None or an integer >= 8, got {max_side!r}")
    import skimage.color
    import skimage.transform
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(Path(path)) as im:
            rgb = np.asarray(im.convert("RGB"), np.float64) / 255.0
    except (OSError, UnidentifiedImageError) as err:
        raise InputError(f"{path}: cannot decode the image ({err})") from None
    if max_side is not None and max(rgb.shape[:2]) > max_side:
        factor = max_side / max(rgb.shape[:2])
        rgb = skimage.transform.rescale(rgb, factor, anti_aliasing=True, channel_axis=-1)
    img = rgb if colour else skimage.color.rgb2gray(rgb)
    return np.clip(np.asarray(img, np.float64), 0.0, 1.0)


def load_bank(
    bank: str = "auto",
    *,
    colour: bool = False,
    max_side: int | None = None,
    cache: str | os.PathLike | None = None,
) -> tuple[tuple[str, ...], tuple[np.ndarray, ...]]:
    """Load a bank of natural photos: bundled, one or all cached Debian banks, or ``"auto"``.

    ``"bundled"``: :data:`PHOTO_NAMES` (greyscale) or :data:`COLOUR_PHOTO_NAMES` (colour).
    ``"debian"``: every Debian bank, which must all be cached. A Debian bank name: that bank
    (must be cached). ``"auto"``: every cached Debian bank, or the bundled photos if none is
    cached (the offline fallback).

    Args:
        bank: one of :data:`BANK_NAMES`.
        colour: RGB ``(H, W, 3)`` instead of greyscale ``(H, W)``.
        max_side: downscale so that the longer side is at most this (see :func:`load_photo_file`;
            for bundled photos too).
        cache: cache folder (default :func:`cache_dir`).

    Returns:
        ``(names, images)``: names like ``"tuxpaint/cliff.jpg"`` or ``"bundled/camera"``, and the
        ``float64`` images in ``[0, 1]``.

    Raises:
        InputError: for an unknown bank, or a requested Debian bank that is not cached (the
            message says how to fetch it).
    """
    if bank not in BANK_NAMES:
        raise InputError(f"bank must be one of {BANK_NAMES}, got {bank!r}")
    if bank in ("auto", "debian"):
        found = {b: bank_files(b, cache=cache) for b in DEBIAN_BANKS}
        if bank == "debian" and not all(found.values()):
            missing = [b for b, files in found.items() if not files]
            raise InputError(
                f"bank 'debian' needs every Debian bank cached; missing {missing} (run "
                f"theory.natural_images.fetch_debian_photos() or `vpl-jax codes fetch-photos`)"
            )
        files = [(b, p) for b, paths in found.items() for p in paths]
    elif bank == "bundled":
        files = []
    else:
        paths = bank_files(bank, cache=cache)
        if not paths:
            raise InputError(
                f"bank {bank!r} is not cached in {_bank_folder(bank, cache)} (run "
                f"theory.natural_images.fetch_debian_photos([{bank!r}]))"
            )
        files = [(bank, p) for p in paths]
    if files:
        names = tuple(f"{b}/{p.name}" for b, p in files)
        return names, tuple(load_photo_file(p, colour=colour, max_side=max_side) for _, p in files)
    bundled = COLOUR_PHOTO_NAMES if colour else PHOTO_NAMES
    images = []
    for name in bundled:
        img = load_colour_photo(name) if colour else load_photo(name)
        if max_side is not None and max(img.shape[:2]) > max_side:
            import skimage.transform

            factor = max_side / max(img.shape[:2])
            img = np.clip(
                skimage.transform.rescale(
                    img, factor, anti_aliasing=True, channel_axis=-1 if colour else None
                ),
                0.0,
                1.0,
            )
        images.append(img)
    return tuple(f"bundled/{n}" for n in bundled), tuple(images)
