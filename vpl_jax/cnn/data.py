"""Image sets for the 7-layer CNN: a CIFAR-10 loader and an offline CIFAR-like object set.

**CIFAR-10** (Krizhevsky & Hinton 2009; the data set of the paper) cannot be downloaded here.
`load_cifar10` reads a copy the user already has, in either of its published on-disk formats:

* the *python version* (``cifar-10-batches-py/``): pickled dicts ``data_batch_1`` ...
  ``data_batch_5``, ``test_batch`` (keys ``data``: uint8 ``(10000, 3072)`` with the 1024 red, then
  1024 green, then 1024 blue values of each 32 x 32 image in row-major order; ``labels``: 10000
  ints in 0..9; ``batch_label``, ``filenames``) and ``batches.meta`` (``label_names``);
* the *binary version* (``cifar-10-batches-bin/``): ``data_batch_1.bin`` ... ``data_batch_5.bin``,
  ``test_batch.bin``, records of 1 label byte + 3072 pixel bytes (same pixel order), and
  ``batches.meta.txt`` with one class name per line;

as a folder or as the distributed ``.tar.gz`` archive. Pickles are read with a restricted
unpickler that only builds dicts, lists, strings, numbers and NumPy arrays. Truncated, corrupted
or mismatched files raise `theory.checks.InputError` naming the file; sizes declared by the file
system or an archive header are checked before anything is read into memory.

**The offline default** (`offline_dataset`): a 10-class, 32 x 32 colour object-recognition set
rendered from photographic object cut-outs (RGBA photos with transparent background) of Debian's
``tuxpaint-stamps-default`` package, composited at random size and position onto random crops of
the colour photographs bundled with scikit-image and scikit-learn. The cut-outs are sorted into
classes by the package's folders (`STAMP_CLASSES`). `setup_stamps` fetches the package with
``apt-get download``, unpacks it with ``dpkg-deb -x``, keeps only the selected photos, shrinks
each to 64 px and caches them as one ``.npz`` under ``${VPL_JAX_CACHE:-~/.cache/vpl_jax}``; the
images are never part of this package. Train, validation and test images are rendered from
*disjoint objects* by default (``split_by="object"``), so the test set asks for generalisation to
unseen objects, as CIFAR-10's test set holds unseen photos. `shape_bank` makes a small synthetic
bank of coloured polygons for tests and demos (no download).

Conventions: images are uint8 ``(N, 32, 32, 3)`` RGB (NHWC) as CIFAR-10 stores them; labels are
int32 ``(N,)``. Rendering is pure JAX with an explicit PRNG key (first argument).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from theory import natural_images
from theory.checks import InputError

__all__ = [
    "BACKGROUND_PHOTOS",
    "CIFAR10_CLASSES",
    "ImageSplits",
    "ObjectBank",
    "RenderConfig",
    "STAMP_CLASSES",
    "STAMPS_PACKAGE",
    "background_photos",
    "build_stamp_bank",
    "cache_dir",
    "load_cifar10",
    "load_stamps",
    "offline_dataset",
    "read_cifar_binary",
    "read_cifar_pickle",
    "render",
    "scan_stamps",
    "setup_stamps",
    "shape_bank",
    "split_objects",
    "stamps_path",
]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""CIFAR-10's class names, in label order (``batches.meta``)."""

_RECORD = 3072  # 32 * 32 * 3 pixel bytes per CIFAR image
_MAX_BATCH_BYTES = 256 * 2**20  # a real batch is ~31 MB; refuse anything 8x larger
_PY_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_BIN_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))

STAMPS_PACKAGE = "tuxpaint-stamps-default"
"""The Debian package whose photographic object cut-outs make the offline object set."""

STAMP_CLASSES: dict[str, tuple[str, ...]] = {
    "bird": ("animals/birds",),
    "mammal": ("animals/mammals", "animals/marsupials"),
    "sea_animal": ("animals/fish", "animals/mammals/aquatic", "animals/shellfish"),
    "small_animal": ("animals/insects", "animals/amphibians", "animals/lizards"),
    "fruit": ("food/fruit", "food/nuts"),
    "vegetable": ("food/vegetables", "food/spices"),
    "plant": ("plants",),
    "vehicle": ("vehicles", "military/vehicles"),
    "household": ("household",),
    "clothing": ("clothes",),
}
"""Class -> folders of ``/usr/share/tuxpaint/stamps`` (with their sub-folders). A photo belongs to
the class of its longest matching folder (``animals/mammals/aquatic`` is a sea animal). Folders
named ``cartoon`` or ``toys`` (drawings, plush toys) and ``*_mirror.png`` duplicates are skipped,
as are all SVG drawings: only photographs are kept."""

_SKIP_DIRS = ("cartoon", "toys")

BACKGROUND_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "grass",
    "gravel",
    "brick",
    "rocket",
    "motorcycle",
    "china",
    "flower",
)
"""Bundled photographs (`theory.natural_images`) used as backgrounds, in colour where the photo
has colour; the mostly black or uniform ones (moon, retina, hubble_deep_field, coins) are left
out."""


# --------------------------------------------------------------------------------------------
# Containers


class ImageSplits(NamedTuple):
    """Train / validation / test images and labels of one data set.

    Attributes:
        train_images: uint8 ``(N_train, 32, 32, 3)``; ``train_labels`` int32 ``(N_train,)``.
        val_images, val_labels: the validation split (checkpoint selection).
        test_images, test_labels: the test split (reported losses and accuracies).
        class_names: the class of each label value.
        source: a short description of where the images come from.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: str


class ObjectBank(NamedTuple):
    """RGBA object cut-outs to composite onto backgrounds.

    Attributes:
        images: uint8 ``(M, S, S, 4)``, each object centred with its longest side ``S`` px and a
            transparent (alpha 0) surround.
        labels: int32 ``(M,)`` class of each object.
        names: ``M`` object names (file stems).
        class_names: the class of each label value.
    """

    images: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    class_names: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# CIFAR-10 readers


class _SafeUnpickler(pickle.Unpickler):
    """Builds only containers, numbers, strings and NumPy arrays (no arbitrary code)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("__builtin__", "set"),
        ("builtins", "set"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocol 2
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(raw: bytes, name: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        OverflowError,
    ) as err:
        raise InputError(
            f"{name} is not a readable CIFAR-10 pickle (truncated or corrupted?): {err}"
        ) from None
    if not isinstance(obj, dict):
        raise InputError(f"{name} must hold a dict, got {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def read_cifar_pickle(raw: bytes, name: str = "batch") -> tuple[np.ndarray, np.ndarray]:
    """Decode one python-version CIFAR-10 batch.

    Args:
        raw: the file's bytes.
        name: the file's name, for error messages.

    Returns:
        ``(images uint8 (N, 32, 32, 3), labels int32 (N,))``.

    Raises:
        InputError: on a truncated or corrupted pickle, a ``data`` array that is not uint8
            ``(N, 3072)``, a label count other than N, or labels outside 0..9.
    """
    d = _unpickle(raw, name)
    for k in ("data", "labels"):
        if k not in d:
            raise InputError(f"{name} must have the key {k!r}, got keys {sorted(d)}")
    data = d["data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or (data.shape[1] != _RECORD)
    ):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise InputError(
            f"{name}: data must be a uint8 array of shape (N, {_RECORD}), got {dtype} {shape}"
        )
    labels = np.asarray(d["labels"])
    if labels.shape != (data.shape[0],):
        raise InputError(
            f"{name}: labels must hold one label per image ({data.shape[0]}), got shape "
            f"{labels.shape}"
        )
    return _images_from_rows(data, name), _check_labels(labels, name)


def read_cifar_binary(raw: bytes, name: str = "batch.bin") -> tuple[np.ndarray, np.ndarray]:
    """Decode one binary-version CIFAR-10 batch (records of 1 label byte + 3072 pixel bytes).

    Raises:
        InputError: if the length is not a positive multiple of 3073 bytes (truncated file) or a
            label byte is outside 0..9.
    """
    n, rest = divmod(len(raw), _RECORD + 1)
    if n == 0 or rest:
        raise InputError(
            f"{name} must be a whole number of {_RECORD + 1}-byte records, got {len(raw)} bytes "
            f"({n} records + {rest} bytes: truncated or not a CIFAR-10 binary batch)"
        )
    rec = np.frombuffer(raw, np.uint8).reshape(n, _RECORD + 1)
    return _images_from_rows(rec[:, 1:], name), _check_labels(rec[:, 0], name)


def _images_from_rows(rows: np.ndarray, name: str) -> np.ndarray:
    if rows.shape[0] == 0:
        raise InputError(f"{name} must hold at least one image, got 0")
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise InputError(
            f"{name}: labels must be in 0..9, got values in {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int32)


class _Source:
    """Uniform access to the files of a folder or a ``.tar.gz`` archive, sizes checked first."""

    def __init__(self, path: Path):
        self.path = path
        self._members: dict[str, tarfile.TarInfo] | None = None
        if path.is_file():
            try:
                self._tar = tarfile.open(path, "r:*")
                self._members = {Path(m.name).name: m for m in self._tar.getmembers() if m.isfile()}
            except (tarfile.TarError, EOFError, OSError) as err:
                raise InputError(f"path {path} is not a readable tar archive: {err}") from None

    def names(self) -> set[str]:
        if self._members is not None:
            return set(self._members)
        return {p.name for p in self.path.iterdir() if p.is_file()}

    def read(self, name: str) -> bytes:
        where = f"{self.path}/{name}" if self._members is None else f"{self.path}:{name}"
        size = (
            self._members[name].size
            if self._members is not None
            else (self.path / name).stat().st_size
        )
        if size > _MAX_BATCH_BYTES:
            raise InputError(
                f"{where} declares {size} bytes, more than a CIFAR-10 batch can hold "
                f"(<= {_MAX_BATCH_BYTES})"
            )
        if self._members is None:
            return (self.path / name).read_bytes()
        try:
            f = self._tar.extractfile(self._members[name])
            raw = f.read() if f is not None else b""
        except (tarfile.TarError, EOFError, OSError) as err:
            raise InputError(f"{where} cannot be read (truncated archive?): {err}") from None
        if len(raw) != size:
            raise InputError(f"{where} declares {size} bytes but holds {len(raw)} (truncated)")
        return raw


def load_cifar10(
    path: str | os.PathLike,
    key: Array | None = None,
    *,
    split: str = "paper",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> ImageSplits:
    """Load CIFAR-10 from a folder or archive in the python-pickle or binary format.

    Args:
        path: ``cifar-10-batches-py/``, ``cifar-10-batches-bin/``, a folder holding either, or
            the ``cifar-10-python.tar.gz`` / ``cifar-10-binary.tar.gz`` archive.
        key: PRNG key of the stratified split (default ``jax.random.key(42)``).
        split: ``"paper"``: the 60,000 images pooled and split 80 / 10 / 10 % into train,
            validation and test, stratified by class (the paper, Appendix A.1);
            ``"code"``: 80 / 20 % of the 50,000 training images (stratified) plus the official
            10,000 test images (the authors' code).
        val_fraction, test_fraction: fractions of the ``"paper"`` split, each in (0, 0.5).

    Returns:
        `ImageSplits` with CIFAR-10's class names.

    Raises:
        InputError: a missing batch or meta file, a file of the wrong format, or batches that do
            not all hold images of the same shape.
    """
    if split not in ("paper", "code"):
        raise InputError(f"split must be 'paper' or 'code', got {split!r}")
    for nm, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < float(v) < 0.5:
            raise InputError(f"{nm} must be in (0, 0.5), got {v}")
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"path must be an existing CIFAR-10 folder or archive, got {path}")
    if path.is_dir():
        for sub in ("cifar-10-batches-py", "cifar-10-batches-bin"):
            if (path / sub).is_dir():
                path = path / sub
                break
    src = _Source(path)
    names = src.names()
    if set(_PY_TRAIN) | {"test_batch"} <= names:
        files, reader = (*_PY_TRAIN, "test_batch"), read_cifar_pickle
        classes = _pickle_meta(src, names)
    elif set(_BIN_TRAIN) | {"test_batch.bin"} <= names:
        files, reader = (*_BIN_TRAIN, "test_batch.bin"), read_cifar_binary
        classes = _text_meta(src, names)
    else:
        raise InputError(
            f"path {path} must hold the CIFAR-10 batches data_batch_1..5 and test_batch (python "
            "version) or data_batch_1..5.bin and test_batch.bin (binary version); found "
            f"{sorted(names)[:12]}"
        )
    parts = [reader(src.read(f), f) for f in files]
    train_x = np.concatenate([p[0] for p in parts[:5]])
    train_y = np.concatenate([p[1] for p in parts[:5]])
    test_x, test_y = parts[5]
    key = jax.random.key(42) if key is None else key
    if split == "code":
        tr, va = _stratified(key, train_y, (0.2,))
        out = (train_x[tr], train_y[tr], train_x[va], train_y[va], test_x, test_y)
    else:
        x = np.concatenate([train_x, test_x])
        y = np.concatenate([train_y, test_y])
        tr, va, te = _stratified(key, y, (val_fraction, test_fraction))
        out = (x[tr], y[tr], x[va], y[va], x[te], y[te])
    return ImageSplits(*out, class_names=classes, source=f"CIFAR-10 ({path.name}, {split} split)")


def _pickle_meta(src: _Source, names: set[str]) -> tuple[str, ...]:
    if "batches.meta" not in names:
        return CIFAR10_CLASSES
    d = _unpickle(src.read("batches.meta"), "batches.meta")
    raw = d.get("label_names")
    if not isinstance(raw, list | tuple):
        raise InputError(f"batches.meta must hold a list 'label_names', got {type(raw).__name__}")
    return _check_classes(
        [n.decode() if isinstance(n, bytes) else str(n) for n in raw], "batches.meta"
    )


def _text_meta(src: _Source, names: set[str]) -> tuple[str, ...]:
    if "batches.meta.txt" not in names:
        return CIFAR10_CLASSES
    try:
        text = src.read("batches.meta.txt").decode("ascii")
    except UnicodeDecodeError:
        raise InputError("batches.meta.txt must be ASCII text, one class name per line") from None
    return _check_classes(
        [ln.strip() for ln in text.splitlines() if ln.strip()], "batches.meta.txt"
    )


def _check_classes(classes: list[str], name: str) -> tuple[str, ...]:
    if len(classes) != 10:
        raise InputError(f"{name} must name 10 classes, got {len(classes)}: {classes}")
    return tuple(classes)


def _stratified(key, labels: np.ndarray, fractions: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """Indices of a class-stratified split: the remainder first, then one part per fraction."""
    perm = np.asarray(jax.random.permutation(key, labels.shape[0]))
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        idx = perm[labels[perm] == c]
        counts = [int(round(f * idx.size)) for f in fractions]
        start = 0
        for j, n in enumerate(counts):
            parts[j + 1].append(idx[start : start + n])
            start += n
        parts[0].append(idx[start:])
    return tuple(np.sort(np.concatenate(p)) for p in parts)


# --------------------------------------------------------------------------------------------
# Offline object set: the stamp photos


def cache_dir() -> Path:
    """``${VPL_JAX_CACHE:-~/.cache/vpl_jax}`` (`theory.natural_images.cache_dir`; not created)."""
    return natural_images.cache_dir()


def stamps_path(cache: str | os.PathLike | None = None) -> Path:
    """Where `setup_stamps` caches the object bank: ``<cache>/tuxpaint_stamps_64.npz``."""
    return (Path(cache).expanduser() if cache is not None else cache_dir()) / (
        "tuxpaint_stamps_64.npz"
    )


def _class_of(rel: str) -> str | None:
    parts = rel.split("/")
    if any(p in _SKIP_DIRS for p in parts[:-1]) or parts[-1].endswith("_mirror.png"):
        return None
    folder = "/".join(parts[:-1])
    best, best_len = None, -1
    for cls, prefixes in STAMP_CLASSES.items():
        for pre in prefixes:
            if (folder == pre or folder.startswith(pre + "/")) and len(pre) > best_len:
                best, best_len = cls, len(pre)
    return best


def scan_stamps(root: str | os.PathLike) -> list[tuple[str, str]]:
    """The photographs of a Tux Paint stamps tree and their classes (`STAMP_CLASSES`).

    Args:
        root: the ``stamps`` folder (``usr/share/tuxpaint/stamps`` of the unpacked package).

    Returns:
        Sorted ``(relative path, class)`` pairs of the kept ``.png`` files.

    Raises:
        InputError: if ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"root must be a stamps folder, got {root}")
    out = []
    for p in sorted(root.rglob("*.png")):
        rel = p.relative_to(root).as_posix()
        cls = _class_of(rel)
        if cls is not None:
            out.append((rel, cls))
    return out


def _to_bank_image(rgba: np.ndarray, size: int) -> np.ndarray | None:
    """Crop an RGBA photo to its opaque box, shrink the longest side to ``size``, centre it."""
    import skimage.transform

    if rgba.ndim != 3 or rgba.shape[2] != 4:
        return None
    alpha = rgba[..., 3]
    rows = np.flatnonzero(alpha.max(axis=1) > 16)
    cols = np.flatnonzero(alpha.max(axis=0) > 16)
    if rows.size < 4 or cols.size < 4:
        return None
    crop = rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float64) / 255.0
    h, w = crop.shape[:2]
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    premult = np.concatenate([crop[..., :3] * crop[..., 3:], crop[..., 3:]], axis=-1)
    small = skimage.transform.resize(premult, (nh, nw), anti_aliasing=s < 1, order=1)
    a = np.clip(small[..., 3:], 0, 1)
    rgb = np.where(a > 1e-3, small[..., :3] / np.maximum(a, 1e-3), 0.0)
    out = np.zeros((size, size, 4))
    r0, c0 = (size - nh) // 2, (size - nw) // 2
    out[r0 : r0 + nh, c0 : c0 + nw] = np.concatenate([np.clip(rgb, 0, 1), a], axis=-1)
    return np.round(out * 255).astype(np.uint8)


def build_stamp_bank(root: str | os.PathLike, *, size: int = 64) -> ObjectBank:
    """Read, crop and shrink the photographs of a stamps tree into an `ObjectBank`.

    Raises:
        InputError: if the tree holds no usable photograph of any class.
    """
    import PIL.Image

    classes = tuple(STAMP_CLASSES)
    images, labels, names = [], [], []
    for rel, cls in scan_stamps(root):
        try:
            with PIL.Image.open(Path(root) / rel) as im:
                arr = np.asarray(im.convert("RGBA"))
        except (OSError, ValueError, SyntaxError):
            continue
        img = _to_bank_image(arr, size)
        if img is None:
            continue
        images.append(img)
        labels.append(classes.index(cls))
        names.append(rel)
    if not images:
        raise InputError(f"root {root} holds no RGBA photograph in the folders of STAMP_CLASSES")
    return ObjectBank(np.stack(images), np.asarray(labels, np.int32), tuple(names), classes)


def setup_stamps(
    cache: str | os.PathLike | None = None,
    *,
    deb: str | os.PathLike | None = None,
    run: Callable[..., object] = subprocess.run,
) -> Path:
    """Fetch ``tuxpaint-stamps-default`` with ``apt-get download``, unpack, cache the bank.

    The optional, one-time setup step of the offline object set. The ~160 MB package is
    downloaded into a temporary folder (or ``deb`` is used), unpacked with ``dpkg-deb -x``, its
    photographs are shrunk to 64 px (`build_stamp_bank`), and only the bank is kept, at
    `stamps_path` (with a JSON manifest of the class counts next to it).

    Args:
        cache: cache folder (default `cache_dir`).
        deb: an already downloaded ``.deb`` of the package (skips ``apt-get download``).
        run: the subprocess runner (tests substitute it).

    Returns:
        The path of the cached ``.npz``.

    Raises:
        InputError: if ``apt-get``/``dpkg-deb`` fail or the package holds no photograph.
    """
    out = stamps_path(cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        tmp = Path(tmp)
        if deb is None:
            r = run(
                ["apt-get", "download", STAMPS_PACKAGE], cwd=tmp, capture_output=True, text=True
            )
            debs = sorted(tmp.glob("*.deb"))
            if getattr(r, "returncode", 1) != 0 or not debs:
                raise InputError(
                    f"apt-get download {STAMPS_PACKAGE} failed (needs a Debian/Ubuntu package "
                    f"source): {getattr(r, 'stderr', '')!s:.300}"
                )
            deb = debs[0]
        r = run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], capture_output=True, text=True)
        root = tmp / "x" / "usr" / "share" / "tuxpaint" / "stamps"
        if getattr(r, "returncode", 1) != 0 or not root.is_dir():
            raise InputError(f"dpkg-deb -x {deb} failed: {getattr(r, 'stderr', '')!s:.300}")
        bank = build_stamp_bank(root)
    np.savez_compressed(
        out,
        images=bank.images,
        labels=bank.labels,
        names=np.asarray(bank.names),
        class_names=np.asarray(bank.class_names),
    )
    counts = {c: int(np.sum(bank.labels == i)) for i, c in enumerate(bank.class_names)}
    (out.parent / (out.stem + ".json")).write_text(
        json.dumps(
            {"package": STAMPS_PACKAGE, "objects": int(bank.labels.size), "classes": counts},
            indent=1,
        )
    )
    return out


def load_stamps(cache: str | os.PathLike | None = None) -> ObjectBank:
    """Load the object bank cached by `setup_stamps`.

    Raises:
        InputError: if the cache is absent (run ``vpl-jax cnn setup``) or unreadable.
    """
    path = stamps_path(cache)
    if not path.is_file():
        raise InputError(
            f"the offline object bank is not cached at {path}: run `vpl-jax cnn setup` (fetches "
            f"{STAMPS_PACKAGE} with apt-get) or set VPL_JAX_CACHE"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            bank = ObjectBank(
                z["images"],
                z["labels"].astype(np.int32),
                tuple(str(n) for n in z["names"]),
                tuple(str(c) for c in z["class_names"]),
            )
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"the cached object bank {path} is unreadable: {err}") from None
    _check_bank(bank)
    return bank


def _check_bank(bank: ObjectBank) -> None:
    im = np.asarray(bank.images)
    if im.ndim != 4 or im.shape[-1] != 4 or im.shape[1] != im.shape[2] or im.dtype != np.uint8:
        raise InputError(f"bank images must be uint8 (M, S, S, 4), got {im.dtype} {im.shape}")
    lab = np.asarray(bank.labels)
    if lab.shape != (im.shape[0],) or lab.min() < 0 or lab.max() >= len(bank.class_names):
        raise InputError(
            f"bank labels must be (M,) = ({im.shape[0]},) in 0..{len(bank.class_names) - 1}, got "
            f"shape {lab.shape}"
        )


def shape_bank(
    key: Array, *, num_classes: int = 10, per_class: int = 6, size: int = 64
) -> ObjectBank:
    """A synthetic bank of coloured polygons (class ``c`` has ``c + 3`` vertices), no download.

    Each object varies in hue, aspect ratio and rotation; tests and demos use it in place of the
    stamp photos.

    Args:
        key: PRNG key.
        num_classes: 2..10 classes.
        per_class: objects per class, >= 3 (one each for validation and test).
        size: side of the bank images in pixels, >= 16.
    """
    if not 2 <= int(num_classes) <= 10:
        raise InputError(f"num_classes must be in 2..10, got {num_classes}")
    if int(per_class) < 3:
        raise InputError(f"per_class must be >= 3, got {per_class}")
    if int(size) < 16:
        raise InputError(f"size must be >= 16, got {size}")
    m = num_classes * per_class
    hue_k, asp_k, rot_k = jax.random.split(key, 3)
    hue = np.asarray(jax.random.uniform(hue_k, (m,)))
    aspect = np.asarray(jax.random.uniform(asp_k, (m,), minval=0.6, maxval=1.0))
    rot = np.asarray(jax.random.uniform(rot_k, (m,), maxval=2 * np.pi))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5 - size / 2
    images = np.zeros((m, size, size, 4), np.uint8)
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
    for i in range(m):
        n = labels[i] + 3
        c, s = np.cos(rot[i]), np.sin(rot[i])
        u = (c * xx + s * yy) / (0.46 * size)
        v = (-s * xx + c * yy) / (0.46 * size * aspect[i])
        ang = np.arctan2(v, u)
        r = np.hypot(u, v)
        # a regular n-gon: r * cos(angle to the nearest edge normal) <= cos(pi / n)
        edge = np.cos(np.mod(ang, 2 * np.pi / n) - np.pi / n)
        inside = r * edge <= np.cos(np.pi / n)
        rgb = _hsv(hue[i])
        images[i, inside, :3] = np.round(255 * rgb).astype(np.uint8)
        images[i, inside, 3] = 255
    names = tuple(f"polygon{n + 3}_{i}" for i, n in enumerate(labels))
    return ObjectBank(images, labels, names, tuple(f"{n + 3}-gon" for n in range(num_classes)))


def _hsv(h: float | np.floating) -> np.ndarray:
    k = np.mod(np.array([5.0, 3.0, 1.0]) + h * 6.0, 6.0)
    return 1.0 - 0.8 * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Backgrounds and rendering


def background_photos(names: tuple[str, ...] = BACKGROUND_PHOTOS, *, size: int = 192) -> np.ndarray:
    """Bundled photographs as colour squares: centre crop, resized to ``size`` px, uint8 RGB.

    Greyscale photos are replicated to 3 channels. Host-side I/O (scikit-image/scikit-learn).

    Returns:
        uint8 ``(len(names), size, size, 3)``.
    """
    import skimage.transform

    out = []
    for name in names:
        if name not in natural_images.PHOTO_NAMES:
            raise InputError(f"names must be in theory.natural_images.PHOTO_NAMES, got {name!r}")
        if name in natural_images.COLOUR_PHOTO_NAMES:
            img = natural_images.load_colour_photo(name)
        else:
            img = np.repeat(natural_images.load_photo(name)[..., None], 3, axis=-1)
        img = img[..., :3]
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        img = skimage.transform.resize(img, (size, size), anti_aliasing=True)
        out.append(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.stack(out)


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """How objects are composited (static).

    Attributes:
        image_size: output side in pixels (32 for CIFAR-like images).
        object_size: (min, max) of the object's longest side, in output pixels.
        background_crop: (min, max) side of the background crop, in background-photo pixels,
            before it is resized to ``image_size``.
        margin: how far (pixels) the object's box may stick out of the image.
        jitter: object brightness factor drawn from ``[1 - jitter, 1 + jitter]``.
    """

    image_size: int = 32
    object_size: tuple[float, float] = (18.0, 30.0)
    background_crop: tuple[float, float] = (40.0, 160.0)
    margin: float = 3.0
    jitter: float = 0.2

    def __post_init__(self):
        lo, hi = self.object_size
        if not 1 <= lo <= hi:
            raise InputError(f"object_size must satisfy 1 <= min <= max, got {self.object_size}")
        blo, bhi = self.background_crop
        if not self.image_size <= blo <= bhi:
            raise InputError(
                f"background_crop must satisfy image_size <= min <= max, got {self.background_crop}"
            )
        if not 0 <= self.jitter < 1:
            raise InputError(f"jitter must be in [0, 1), got {self.jitter}")


def render(
    key: Array,
    objects: ArrayLike,
    backgrounds: ArrayLike,
    object_ids: ArrayLike,
    *,
    config: RenderConfig = RenderConfig(),
) -> Array:
    """Composite the given objects onto random background crops, one image per object id.

    Args:
        key: PRNG key (object size, position and brightness; background photo and crop).
        objects: uint8 ``(M, S, S, 4)`` RGBA objects.
        backgrounds: uint8 ``(B, H, H, 3)`` photos (H >= ``config.background_crop[1]``).
        object_ids: int ``(N,)`` object of each image, in ``0..M-1``.
        config: sizes and jitter.

    Returns:
        uint8 ``(N, size, size, 3)`` RGB images.

    Examples:
        >>> import jax, numpy as np
        >>> bank = shape_bank(jax.random.key(0), num_classes=2, per_class=3, size=16)
        >>> bg = np.full((1, 40, 40, 3), 128, np.uint8)
        >>> cfg = RenderConfig(object_size=(8.0, 12.0), background_crop=(32.0, 40.0))
        >>> render(jax.random.key(1), bank.images, bg, np.array([0, 5]), config=cfg).shape
        (2, 32, 32, 3)
    """
    objects = jnp.asarray(objects)
    backgrounds = jnp.asarray(backgrounds)
    ids = np.asarray(object_ids)
    if ids.ndim != 1 or ids.size == 0 or ids.min() < 0 or ids.max() >= objects.shape[0]:
        raise InputError(
            f"object_ids must be a non-empty (N,) array in 0..{objects.shape[0] - 1}, got shape "
            f"{ids.shape}"
        )
    if backgrounds.ndim != 4 or backgrounds.shape[1] < config.background_crop[1]:
        raise InputError(
            f"backgrounds must be (B, H, H, 3) with H >= {config.background_crop[1]}, got "
            f"{backgrounds.shape}"
        )
    return _render(key, objects, backgrounds, jnp.asarray(ids, jnp.int32), config)


@jax.jit(static_argnums=(4,))
def _render(key, objects, backgrounds, idx, config: RenderConfig):
    n = config.image_size
    s_obj = objects.shape[1]
    h_bg = backgrounds.shape[1]
    num_images = idx.shape[0]
    kb, ks, kp, kc, kcp, kj = jax.random.split(key, 6)
    bidx = jax.random.randint(kb, (num_images,), 0, backgrounds.shape[0])
    side = jax.random.uniform(
        ks, (num_images,), minval=config.object_size[0], maxval=config.object_size[1]
    )
    centre = jax.random.uniform(kp, (num_images, 2), minval=-1.0, maxval=1.0)
    crop = jax.random.uniform(
        kc, (num_images,), minval=config.background_crop[0], maxval=config.background_crop[1]
    )
    corner = jax.random.uniform(kcp, (num_images, 2))
    bright = jax.random.uniform(
        kj, (num_images,), minval=1 - config.jitter, maxval=1 + config.jitter
    )

    def one(i, b, sd, c, cr, co, br):
        obj = objects[i].astype(jnp.float32) / 255.0
        a = obj[..., 3:]
        premult = jnp.concatenate([obj[..., :3] * a, a], axis=-1)
        scale = sd / s_obj
        half = jnp.maximum(n / 2 - sd / 2 + config.margin, 0.0)
        cy, cx = n / 2 + c[0] * half, n / 2 + c[1] * half
        trans = jnp.stack([cy - sd / 2, cx - sd / 2])
        small = jax.image.scale_and_translate(
            premult,
            (n, n, 4),
            (0, 1),
            jnp.stack([scale, scale]),
            trans,
            "linear",
            antialias=True,
        )
        bg = backgrounds[b].astype(jnp.float32) / 255.0
        bscale = n / cr
        offset = co * (h_bg - cr)
        bg_small = jax.image.scale_and_translate(
            bg,
            (n, n, 3),
            (0, 1),
            jnp.stack([bscale, bscale]),
            -offset * bscale,
            "linear",
            antialias=True,
        )
        alpha = jnp.clip(small[..., 3:], 0.0, 1.0)
        rgb = jnp.clip(small[..., :3] * br, 0.0, 1.0) + (1.0 - alpha) * bg_small
        return jnp.round(jnp.clip(rgb, 0.0, 1.0) * 255).astype(jnp.uint8)

    return jax.vmap(one)(idx, bidx, side, centre, crop, corner, bright)


def split_objects(
    key: Array, labels: np.ndarray, *, val_fraction: float = 0.15, test_fraction: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign every object to train, validation or test, stratified by class.

    Each class gives ``max(1, round(fraction * n))`` objects to validation and to test and keeps
    the rest (at least one) for training.

    Returns:
        ``(train, val, test)`` sorted object indices.

    Raises:
        InputError: if a class has fewer than 3 objects.
    """
    labels = np.asarray(labels)
    perm = np.asarray(jax.random.permutation(key, labels.shape[0]))
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(labels):
        idx = perm[labels[perm] == c]
        if idx.size < 3:
            raise InputError(
                f"every class needs >= 3 objects for an object split; class {c} has {idx.size}"
            )
        nv = max(1, int(round(val_fraction * idx.size)))
        nt = max(1, int(round(test_fraction * idx.size)))
        if nv + nt >= idx.size:
            nv, nt = 1, 1
        parts[1].append(idx[:nv])
        parts[2].append(idx[nv : nv + nt])
        parts[0].append(idx[nv + nt :])
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def offline_dataset(
    key: Array,
    bank: ObjectBank | None = None,
    *,
    num_train: int = 8000,
    num_val: int = 1000,
    num_test: int = 1000,
    split_by: str = "object",
    backgrounds: np.ndarray | None = None,
    config: RenderConfig = RenderConfig(),
) -> ImageSplits:
    """Render the offline CIFAR-like set: class-balanced composites of objects on photos.

    Args:
        key: PRNG key (object split, then rendering of each split).
        bank: the objects (default: `load_stamps`, the cached stamp photos).
        num_train, num_val, num_test: images per split (each >= 1).
        split_by: ``"object"``: each split renders its own objects (generalisation to unseen
            objects); ``"image"``: all splits draw from all objects (new composites only).
        backgrounds: uint8 ``(B, H, H, 3)`` (default `background_photos`).
        config: rendering sizes.

    Returns:
        `ImageSplits`; labels balanced over classes within each split.
    """
    if split_by not in ("object", "image"):
        raise InputError(f"split_by must be 'object' or 'image', got {split_by!r}")
    for nm, v in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
        if int(v) < 1:
            raise InputError(f"{nm} must be >= 1, got {v}")
    bank = load_stamps() if bank is None else bank
    _check_bank(bank)
    backgrounds = background_photos() if backgrounds is None else np.asarray(backgrounds)
    split_key, *keys = jax.random.split(key, 4)
    if split_by == "object":
        groups = split_objects(split_key, bank.labels)
    else:
        everything = np.arange(bank.labels.shape[0])
        groups = (everything, everything, everything)
    out = []
    for k, ids, n in zip(keys, groups, (num_train, num_val, num_test), strict=True):
        out.extend(_render_balanced(k, bank, ids, int(n), backgrounds, config))
    return ImageSplits(
        *out,
        class_names=bank.class_names,
        source=f"offline objects ({bank.labels.size} objects, split by {split_by})",
    )


def _render_balanced(key, bank, ids, n, backgrounds, config):
    """``n`` images, classes in turn (balanced), objects uniform within their class."""
    num_classes = len(bank.class_names)
    pick_key, render_key, perm_key = jax.random.split(key, 3)
    labels = np.asarray(jax.random.permutation(perm_key, np.arange(n) % num_classes))
    u = np.asarray(jax.random.uniform(pick_key, (n,)))
    object_ids = np.zeros(n, np.int64)
    for c in range(num_classes):
        mine = ids[bank.labels[ids] == c]
        where = np.flatnonzero(labels == c)
        if where.size == 0:
            continue
        if mine.size == 0:
            raise InputError(f"class {bank.class_names[c]} has no object in this split")
        object_ids[where] = mine[np.minimum((u[where] * mine.size).astype(np.int64), mine.size - 1)]
    images = np.asarray(render(render_key, bank.images, backgrounds, object_ids, config=config))
    return images, labels.astype(np.int32)
