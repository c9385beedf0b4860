"""The monkey V1 data set of Cadena et al. (2019): loader, preprocessing, splits, variances.

Published layout (the authors' GIN repository ``Cadena_PlosCB19_data``, file
``data_binned_responses/cadena_ploscb_data.pkl``): a pickled ``dict`` of NumPy arrays

==================  ==============================  ===========================================
key                 shape                           meaning
==================  ==============================  ===========================================
``images``          ``(n_images, 140, 140)``        the displayed stimuli, grey levels 0-255
                                                    (masked, contrast-matched), in the order
                                                    the responses are stored
``responses``       ``(n_reps, n_images, n_neu)``   spike counts 40-100 ms after image onset;
                                                    ``NaN`` for missing trials (a 2-repeat
                                                    neuron has ``NaN`` in repeats 3 and 4)
``image_ids``       ``(n_images,)`` or ``(n, 1)``   source-image id (an original and its four
                                                    textures share it)
``image_types``     ``(n_images,)`` or ``(n, 1)``   ``original``, ``conv1`` ... ``conv4``
``repetitions``     ``(n_neu,)``                    repeats per neuron (2 or 4)
``subject_id``      ``(n_neu,)``                    monkey of each neuron
==================  ==============================  ===========================================

(7250 images, 4 repeats, 166 neurons in the published file.) `load` reads this pickle -- with a
restricted unpickler that only rebuilds NumPy arrays and plain containers, so a file cannot run
code -- and also ``.npz`` archives with the same keys (what `save` writes with ``format="npz"``).
Every field is checked (rank, matching sizes, values) and a malformed file raises `InputError`
naming the file, the key, the expected and the found value.

Preprocessing (Methods, "Natural image stimulus" and "Image preprocessing"):

* `cosine_mask`: 1 inside r = 35 px, a raised-cosine fade to 0 at r = 70 px (Eq. 2; diameter 2
  deg = 140 px, fade starting at 1 deg), applied towards the grey background 128 (`apply_mask`);
* `contrast_match`: each image rescaled so that its central unmasked disc (r <= 35 px) has mean
  128 and the SD averaged over images, then clipped to [0, 255];
* `model_inputs`: the central 80 px (1.1 deg) subsampled by 2 to 40 x 40 (``[30:-30:2]``), or for
  the input-resolution control resampled bicubically to 60 / 40 / 27 px (scales 1.5 / 1 / 0.67),
  then z-scored with the global mean and SD over all images.

Splits (`split_images`): the test set is the *last* 20 % of the images in stored order; the
validation set is a seeded random 20 % of the remaining training images
(``numpy.random.RandomState(seed).permutation``, the authors' seed 1000, which reproduces their
split on the published file). Trial-level arrays (`trial_arrays`) hold every repeat as its own
sample with a 0/1 mask for the missing (``NaN``) trials.

Variances (Eqs. 3-4), per neuron, over its real trials, with ddof = 1:
``noise_variance = mean_j Var_i(y_ij)`` and
``explainable_variance_ratio = (Var(y) - noise_variance) / Var(y)``; neurons are included when
the ratio is at least 0.15 (`INCLUSION_THRESHOLD`).

Conventions: host-side NumPy (I/O and preprocessing are not traced); images are ``(n, H, W)``,
responses ``(repetition, image, neuron)``.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from theory.checks import InputError

__all__ = [
    "DISPLAY_SIZE",
    "IMAGE_TYPES",
    "INCLUSION_THRESHOLD",
    "REQUIRED_KEYS",
    "SCALE_SIZES",
    "Split",
    "TrialArrays",
    "V1Data",
    "apply_mask",
    "contrast_match",
    "cosine_mask",
    "display_images",
    "explainable_variance_ratio",
    "inclusion_mask",
    "load",
    "model_inputs",
    "noise_variance",
    "save",
    "select_neurons",
    "split_images",
    "total_variance",
    "trial_arrays",
]

#: The stimulus classes of the published set, in the authors' order.
IMAGE_TYPES: tuple[str, ...] = ("original", "conv1", "conv2", "conv3", "conv4")
#: Keys of the published pickle.
REQUIRED_KEYS: tuple[str, ...] = (
    "images",
    "responses",
    "image_ids",
    "image_types",
    "repetitions",
    "subject_id",
)
#: Side of the displayed images (pixels; 2 degrees at ~70 px/deg).
DISPLAY_SIZE = 140
#: Explainable-to-total variance ratio a neuron needs to be included.
INCLUSION_THRESHOLD = 0.15
#: Model-input side for the input-resolution control (scale -> pixels of the 80 px crop).
SCALE_SIZES: dict[float, int] = {1.5: 60, 1.0: 40, 0.67: 27}


@dataclasses.dataclass(frozen=True, eq=False)
class V1Data:
    """The published data set in memory (see the module docstring for the fields).

    Attributes:
        images: ``(n_images, H, W)`` float32 grey levels (0-255 for the published file).
        responses: ``(n_reps, n_images, n_neurons)`` float32 spike counts, ``NaN`` = missing.
        image_ids: ``(n_images,)`` int64.
        image_types: ``(n_images,)`` str.
        repetitions: ``(n_neurons,)`` int64, each in ``1..n_reps``.
        subject_id: ``(n_neurons,)`` int64.
    """

    images: np.ndarray
    responses: np.ndarray
    image_ids: np.ndarray
    image_types: np.ndarray
    repetitions: np.ndarray
    subject_id: np.ndarray

    @property
    def num_images(self) -> int:
        return int(self.responses.shape[1])

    @property
    def num_neurons(self) -> int:
        return int(self.responses.shape[2])

    @property
    def num_reps(self) -> int:
        return int(self.responses.shape[0])


# ---------------------------------------------------------------------------------------------
# Loading and saving
# ---------------------------------------------------------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),
    ("codecs", "encode"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bytearray"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("builtins", "bool"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and plain containers only; any other global is refused."""

    def __init__(self, file, where: str):
        super().__init__(file, encoding="latin1")  # latin1: NumPy pickles written by Python 2
        self._where = where

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise InputError(
            f"{self._where}: the pickle asks for {module}.{name}, which a data file does not need; "
            f"refusing to load it (only NumPy arrays and plain containers are allowed)"
        )


def _read_pickle(path: Path) -> Mapping:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, str(path)).load()
    except InputError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise InputError(
            f"{path}: not a readable pickle (truncated or corrupted): {type(err).__name__}: {err}"
        ) from None
    if not isinstance(obj, Mapping):
        raise InputError(
            f"{path}: expected a pickled dict with keys {list(REQUIRED_KEYS)}, found "
            f"{type(obj).__name__}"
        )
    return obj


def _npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Shapes declared in the headers of an ``.npz`` (read before any array is allocated)."""
    shapes = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, _ = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _, _ = np.lib.format.read_array_header_2_0(f)
                shapes[info.filename[: -len(".npy")]] = tuple(shape)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise InputError(
            f"{path}: not a readable .npz archive (truncated or corrupted): {err}"
        ) from None
    return shapes


def _read_npz(path: Path) -> Mapping:
    shapes = _npz_shapes(path)
    _check_declared(shapes, path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InputError(
            f"{path}: an array of the .npz archive cannot be read (truncated or corrupted): "
            f"{type(err).__name__}: {err}"
        ) from None


def _check_declared(shapes: Mapping[str, tuple[int, ...]], where) -> None:
    """Check the sizes the fields declare against each other (before reading the arrays)."""
    for key in REQUIRED_KEYS:
        if key not in shapes:
            raise InputError(
                f"{where}: key {key!r} is missing; the published layout has {list(REQUIRED_KEYS)}, "
                f"found {sorted(shapes)}"
            )
    resp = shapes["responses"]
    if len(resp) != 3:
        raise InputError(
            f"{where}: 'responses' must have rank 3 (repetition, image, neuron), got shape {resp}"
        )
    n_reps, n_images, n_neurons = resp
    img = shapes["images"]
    if len(img) not in (3, 4) or (len(img) == 4 and img[3] != 1):
        raise InputError(
            f"{where}: 'images' must have shape (n_images, H, W) or (n_images, H, W, 1), got {img}"
        )
    if img[0] != n_images:
        raise InputError(
            f"{where}: 'images' holds {img[0]} images but 'responses' {n_images} "
            f"(responses[repetition, image, neuron])"
        )
    for key in ("image_ids", "image_types"):
        if int(np.prod(shapes[key])) != n_images:
            raise InputError(
                f"{where}: {key!r} must hold one entry per image ({n_images}), got shape "
                f"{shapes[key]}"
            )
    for key in ("repetitions", "subject_id"):
        if int(np.prod(shapes[key])) != n_neurons:
            raise InputError(
                f"{where}: {key!r} must hold one entry per neuron ({n_neurons}), got shape "
                f"{shapes[key]}"
            )
    if n_reps < 1 or n_images < 1 or n_neurons < 1:
        raise InputError(f"{where}: 'responses' must be non-empty, got shape {resp}")


def _as_strings(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values).reshape(-1)
    return np.array(
        [v.decode("latin1") if isinstance(v, bytes) else str(v) for v in flat.tolist()], dtype=str
    )


def _validate(raw: Mapping, where) -> V1Data:
    arrays = {}
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise InputError(
                f"{where}: key {key!r} is missing; the published layout has {list(REQUIRED_KEYS)}, "
                f"found {sorted(map(str, raw))}"
            )
        arrays[key] = np.asarray(raw[key])
    _check_declared({k: v.shape for k, v in arrays.items()}, where)
    images = arrays["images"]
    if images.ndim == 4:
        images = images[..., 0]
    if not (np.issubdtype(images.dtype, np.number) and not np.iscomplexobj(images)):
        raise InputError(f"{where}: 'images' must be real numbers, got dtype {images.dtype}")
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise InputError(f"{where}: 'images' hold non-finite values (NaN/inf)")
    responses = arrays["responses"]
    if not np.issubdtype(responses.dtype, np.number) or np.iscomplexobj(responses):
        raise InputError(f"{where}: 'responses' must be real numbers, got dtype {responses.dtype}")
    responses = responses.astype(np.float32)
    if np.isinf(responses).any():
        raise InputError(f"{where}: 'responses' hold inf values (missing trials must be NaN)")
    if np.nanmin(responses, initial=0.0) < 0:
        raise InputError(
            f"{where}: 'responses' must be spike counts >= 0 (NaN for missing trials), got "
            f"minimum {np.nanmin(responses)}"
        )
    n_reps = responses.shape[0]
    reps = arrays["repetitions"].reshape(-1)
    if not np.issubdtype(reps.dtype, np.number) or np.any(reps != np.round(reps)):
        raise InputError(f"{where}: 'repetitions' must be integers, got {reps[:5]}")
    reps = reps.astype(np.int64)
    if reps.min() < 1 or reps.max() > n_reps:
        raise InputError(
            f"{where}: 'repetitions' must lie in 1..{n_reps} (the repeat axis of 'responses'), "
            f"got range {reps.min()}..{reps.max()}"
        )
    ids = arrays["image_ids"].reshape(-1)
    if not np.issubdtype(ids.dtype, np.number):
        raise InputError(f"{where}: 'image_ids' must be numbers, got dtype {ids.dtype}")
    subject = arrays["subject_id"].reshape(-1)
    if not np.issubdtype(subject.dtype, np.number):
        raise InputError(f"{where}: 'subject_id' must be numbers, got dtype {subject.dtype}")
    return V1Data(
        images=images,
        responses=responses,
        image_ids=ids.astype(np.int64),
        image_types=_as_strings(arrays["image_types"]),
        repetitions=reps,
        subject_id=subject.astype(np.int64),
    )


def load(path) -> V1Data:
    """Read the published data set (``.pkl``) or the same keys from an ``.npz``.

    Args:
        path: the pickle ``cadena_ploscb_data.pkl`` (or a file in the same layout, e.g. the
            simulated population of `vpl_jax.v1.simulate`), or an ``.npz`` with the same keys.

    Returns:
        The checked `V1Data`.

    Raises:
        InputError: a missing, empty, truncated or corrupted file, a pickle that asks for code,
            a missing key, a wrong rank, sizes that disagree, negative or infinite counts,
            repetitions outside ``1..n_reps``, or non-finite images.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such data file")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise InputError(f"{path}: the file is empty")
    if head.startswith(b"PK"):
        raw = _read_npz(path)
    elif head.startswith(b"\x80") or path.suffix.lower() in (".pkl", ".pickle"):
        raw = _read_pickle(path)
    else:
        raise InputError(
            f"{path}: unrecognised data file (expected the published pickle or an .npz with keys "
            f"{list(REQUIRED_KEYS)})"
        )
    return _validate(raw, path)


def save(data: V1Data, path, *, format: str = "pkl") -> Path:  # noqa: A002
    """Write ``data`` in the published layout (a pickled dict of arrays, or ``.npz``).

    Args:
        data: the data set.
        path: output file.
        format: ``"pkl"`` (the published layout, pickle protocol 4) or ``"npz"``.

    Returns:
        The path written.
    """
    if format not in ("pkl", "npz"):
        raise InputError(f"format must be 'pkl' or 'npz', got {format!r}")
    path = Path(path)
    images = np.asarray(data.images)
    if np.all((images >= 0) & (images <= 255) & (images == np.round(images))):
        images = images.astype(np.uint8)  # 8-bit grey levels: a quarter of the size
    record = {
        "images": images,
        "responses": np.asarray(data.responses),
        "image_ids": np.asarray(data.image_ids),
        "image_types": np.asarray(data.image_types, dtype=str),
        "repetitions": np.asarray(data.repetitions),
        "subject_id": np.asarray(data.subject_id),
    }
    _validate(record, "data")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if format == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, **record)
        tmp.write_bytes(buffer.getvalue())
    else:
        with open(tmp, "wb") as f:
            pickle.dump(record, f, protocol=4)
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------------------------
# Display preprocessing: mask and contrast matching
# ---------------------------------------------------------------------------------------------


def cosine_mask(size: int = DISPLAY_SIZE, r_in: float = 35.0, r_out: float = 70.0) -> np.ndarray:
    r"""The circular mask with a raised-cosine fade (Eq. 2).

    .. math:: M(r) = 1 \; (r \le r_{in}), \quad \tfrac12\left(1 + \cos\frac{\pi (r - r_{in})}
              {r_{out} - r_{in}}\right) \; (r_{in} < r < r_{out}), \quad 0 \; (r \ge r_{out})

    with ``r`` the distance of a pixel centre from the image centre ``((size - 1) / 2, ...)``.

    Args:
        size: image side in pixels (140 for the published stimuli).
        r_in, r_out: radii (pixels) where the fade starts and ends (35 and 70: 1 and 2 deg).

    Returns:
        ``(size, size)`` float64 in ``[0, 1]``.

    Examples:
        >>> m = cosine_mask()
        >>> float(m[70, 70]), float(m[0, 0])
        (1.0, 0.0)
    """
    if size < 1:
        raise InputError(f"size must be >= 1, got {size}")
    if not 0 <= r_in < r_out:
        raise InputError(f"radii must satisfy 0 <= r_in < r_out, got r_in={r_in}, r_out={r_out}")
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size]
    r = np.hypot(y - c, x - c)
    fade = 0.5 * (1.0 + np.cos(np.pi * (r - r_in) / (r_out - r_in)))
    return np.where(r <= r_in, 1.0, np.where(r >= r_out, 0.0, fade))


def apply_mask(images: np.ndarray, mask: np.ndarray, background: float = 128.0) -> np.ndarray:
    """Blend images towards the grey background outside the mask: ``bg + M (I - bg)``.

    Args:
        images: ``(n, H, W)`` grey levels.
        mask: ``(H, W)`` in ``[0, 1]``.
        background: the screen's grey level (128).
    """
    images = np.asarray(images, np.float64)
    if images.ndim != 3 or images.shape[1:] != np.shape(mask):
        raise InputError(
            f"images must be (n, H, W) with (H, W) = mask shape {np.shape(mask)}, got "
            f"{images.shape}"
        )
    return background + mask[None] * (images - background)


def contrast_match(
    images: np.ndarray,
    *,
    radius: float = 35.0,
    mean: float = 128.0,
    sd: float | None = None,
) -> np.ndarray:
    """Rescale each image so its central disc has a common mean and SD, then clip to [0, 255].

    The central disc is the unmasked 1 deg (``r <= radius``, 70 px across). Each image becomes
    ``mean + sd * (I - m_i) / s_i`` with ``m_i, s_i`` its disc mean and SD.

    Args:
        images: ``(n, H, W)`` grey levels.
        radius: disc radius in pixels.
        mean: target disc mean (128, the grey background).
        sd: target disc SD; default the average disc SD over the images (the paper's choice).

    Returns:
        ``(n, H, W)`` float64 in ``[0, 255]``.

    Raises:
        InputError: for an image whose disc is uniform (its SD is 0).
    """
    images = np.asarray(images, np.float64)
    if images.ndim != 3:
        raise InputError(f"images must have shape (n, H, W), got {images.shape}")
    h, w = images.shape[1:]
    y, x = np.mgrid[0:h, 0:w]
    disc = np.hypot(y - (h - 1) / 2.0, x - (w - 1) / 2.0) <= radius
    pix = images[:, disc]
    m, s = pix.mean(axis=1), pix.std(axis=1)
    if np.any(s <= 0):
        raise InputError(
            f"images must have contrast in their central disc (r <= {radius} px); image(s) "
            f"{np.flatnonzero(s <= 0)[:5].tolist()} are uniform there"
        )
    target = float(np.mean(s)) if sd is None else float(sd)
    out = mean + target * (images - m[:, None, None]) / s[:, None, None]
    return np.clip(out, 0.0, 255.0)


def display_images(raw: np.ndarray, *, sd: float | None = None) -> np.ndarray:
    """Raw grey images -> what was shown: `contrast_match`, then `apply_mask` (`cosine_mask`).

    Args:
        raw: ``(n, H, W)`` grey levels (any scale), ``H = W`` (140 for the paper).
        sd: target disc SD (default: the average over ``raw`` after mean matching).

    Returns:
        ``(n, H, W)`` float64 display images in ``[0, 255]``.
    """
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 3 or raw.shape[1] != raw.shape[2]:
        raise InputError(f"raw must have shape (n, S, S), got {raw.shape}")
    size = raw.shape[1]
    mask = cosine_mask(size, 35.0 * size / DISPLAY_SIZE, 70.0 * size / DISPLAY_SIZE)
    return apply_mask(contrast_match(raw, radius=35.0 * size / DISPLAY_SIZE, sd=sd), mask)


# ---------------------------------------------------------------------------------------------
# Model inputs
# ---------------------------------------------------------------------------------------------


def model_inputs(
    images: np.ndarray,
    *,
    scale: float = 1.0,
    crop: int = 80,
    method: str = "subsample",
    zscore: bool = True,
) -> np.ndarray:
    """Displayed images -> model inputs: central crop, resolution, z-scoring.

    Args:
        images: ``(n, S, S)`` displayed images (140 px for the paper).
        scale: 1.0 (40 px), 1.5 (60 px) or 0.67 (27 px), see `SCALE_SIZES`.
        crop: side of the central crop in pixels (80 = 1.1 deg).
        method: ``"subsample"`` (every second pixel of the crop, the paper's main analyses;
            only for ``scale = 1``) or ``"bicubic"`` (the input-resolution control).
        zscore: subtract the global mean and divide by the global SD over all images.

    Returns:
        ``(n, s, s)`` float32, ``s = SCALE_SIZES[scale]``.

    Examples:
        >>> import numpy as np
        >>> x = model_inputs(np.random.default_rng(0).uniform(0, 255, (3, 140, 140)))
        >>> x.shape, round(float(x.mean()), 6), round(float(x.std()), 4)
        ((3, 40, 40), 0.0, 1.0)
    """
    images = np.asarray(images, np.float64)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise InputError(f"images must have shape (n, S, S), got {images.shape}")
    if scale not in SCALE_SIZES:
        raise InputError(f"scale must be one of {sorted(SCALE_SIZES)}, got {scale}")
    if method not in ("subsample", "bicubic"):
        raise InputError(f"method must be 'subsample' or 'bicubic', got {method!r}")
    size = images.shape[1]
    if not 1 <= crop <= size or (size - crop) % 2:
        raise InputError(
            f"crop must lie in 1..{size} with an even margin (size - crop), got crop={crop}"
        )
    m = (size - crop) // 2
    cropped = images[:, m : m + crop, m : m + crop]
    out_size = round(SCALE_SIZES[scale] * crop / 80)
    if method == "subsample":
        if scale != 1.0 or crop % 2:
            raise InputError(
                f"method 'subsample' takes every second pixel (scale 1.0, even crop); got "
                f"scale={scale}, crop={crop}: use method='bicubic'"
            )
        out = cropped[:, ::2, ::2]
    else:
        from skimage.transform import resize

        out = np.stack(
            [
                resize(im, (out_size, out_size), order=3, mode="reflect", anti_aliasing=False)
                for im in cropped
            ]
        )
    if zscore:
        sd = out.std()
        if sd <= 0:
            raise InputError("images must not all be uniform (their global SD is 0)")
        out = (out - out.mean()) / sd
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Splits and trial-level arrays
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """Image indices (into the stored order) of the training, validation and test sets.

    Attributes:
        train: ``(n_train,)`` int64, sorted.
        val: ``(n_val,)`` int64, sorted.
        test: ``(n_test,)`` int64, sorted.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _types_arg(types, name: str) -> tuple[str, ...] | None:
    if types is None or (isinstance(types, str) and types == "all"):
        return None
    types = (types,) if isinstance(types, str) else tuple(types)
    if not types:
        raise InputError(f"{name} must name at least one image type (or be 'all')")
    return types


def split_images(
    num_images: int,
    *,
    image_types: Sequence[str] | None = None,
    train_types="all",
    test_types="all",
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    seed: int = 1000,
) -> Split:
    """The paper's split: test = the last ``test_fraction`` of images in stored order; validation
    = a seeded random ``val_fraction`` of the (type-selected) training images.

    Training images are the first ``int(num_images * (1 - test_fraction))``; with ``train_types``
    (``test_types``) only images of those types are kept in the training and validation (test)
    sets (the stimulus-transfer analysis, Fig. 10). The validation draw is
    ``numpy.random.RandomState(seed).permutation`` of the training images, the last
    ``n - round(n * (1 - val_fraction))`` of which are validation (the authors' procedure).

    Args:
        num_images: number of images in stored order (>= 3).
        image_types: ``(num_images,)`` type of each image (needed when selecting types).
        train_types, test_types: ``"all"`` or type names.
        test_fraction, val_fraction: in ``(0, 1)``.
        seed: the validation seed (1000 in the authors' notebooks).

    Returns:
        The `Split`.

    Examples:
        >>> s = split_images(10)
        >>> s.test.tolist(), len(s.train), len(s.val)
        ([8, 9], 6, 2)
    """
    if num_images < 3:
        raise InputError(f"num_images must be >= 3, got {num_images}")
    for name, frac in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0 < frac < 1:
            raise InputError(f"{name} must lie in (0, 1), got {frac}")
    train_sel, test_sel = (
        _types_arg(train_types, "train_types"),
        _types_arg(test_types, "test_types"),
    )
    if (train_sel or test_sel) and image_types is None:
        raise InputError("image_types is needed to select train_types/test_types")
    types = None if image_types is None else _as_strings(image_types)
    if types is not None and types.shape != (num_images,):
        raise InputError(f"image_types must have shape ({num_images},), got {types.shape}")
    for sel in (train_sel, test_sel):
        for t in sel or ():
            if t not in set(types.tolist()):
                raise InputError(
                    f"image type {t!r} does not occur; types present: {sorted(set(types.tolist()))}"
                )
    n_train_all = int(num_images * (1 - test_fraction))
    train_all = np.arange(n_train_all)
    test = np.arange(n_train_all, num_images)
    if train_sel:
        train_all = train_all[np.isin(types[train_all], train_sel)]
    if test_sel:
        test = test[np.isin(types[test], test_sel)]
    n = len(train_all)
    if n < 2 or len(test) < 1:
        raise InputError(
            f"the split leaves {n} training and {len(test)} test images; need >= 2 and >= 1"
        )
    perm = np.random.RandomState(seed).permutation(n)
    n_fit = round(n * (1 - val_fraction))
    n_fit = min(max(n_fit, 1), n - 1)
    return Split(
        train=np.sort(train_all[perm[:n_fit]]),
        val=np.sort(train_all[perm[n_fit:]]),
        test=test,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class TrialArrays:
    """Trial-level samples: every repeat of every image its own row.

    Attributes:
        image_index: ``(T,)`` int32 index into the image array of each trial.
        responses: ``(T, N)`` float32 spike counts, 0 where missing.
        mask: ``(T, N)`` float32, 1 for a real trial, 0 for a missing one.
    """

    image_index: np.ndarray
    responses: np.ndarray
    mask: np.ndarray


def trial_arrays(
    responses: np.ndarray,
    images: np.ndarray,
    *,
    repetitions: np.ndarray | None = None,
    fill_repeats: bool = False,
) -> TrialArrays:
    """Tile a set of images over repeats: ``responses[rep, images[j], :]`` becomes row
    ``rep * len(images) + j``; missing (``NaN``) trials become 0 with mask 0.

    Args:
        responses: ``(n_reps, n_images, N)`` with ``NaN`` for missing trials.
        images: ``(n,)`` indices of the images to use (e.g. ``split.train``).
        repetitions: ``(N,)`` repeats per neuron; needed for ``fill_repeats``.
        fill_repeats: copy the repeats of neurons with fewer than ``n_reps`` repeats into the
            empty slots (the authors do this for training: 2-repeat neurons get repeats 1-2 again
            in slots 3-4). Evaluation uses the original repeats only.

    Returns:
        `TrialArrays` with ``T = n_reps * len(images)`` rows (rows where no neuron has a real
        trial are dropped).
    """
    responses = np.asarray(responses, np.float32)
    if responses.ndim != 3:
        raise InputError(f"responses must have shape (n_reps, n_images, N), got {responses.shape}")
    images = np.asarray(images, np.int64).reshape(-1)
    if images.size and (images.min() < 0 or images.max() >= responses.shape[1]):
        raise InputError(
            f"images must index 0..{responses.shape[1] - 1}, got {images.min()}..{images.max()}"
        )
    resp = responses[:, images, :].copy()
    n_reps = resp.shape[0]
    if fill_repeats:
        if repetitions is None:
            raise InputError("repetitions is needed for fill_repeats")
        reps = np.asarray(repetitions, np.int64).reshape(-1)
        if reps.shape != (resp.shape[2],) or reps.min() < 1:
            raise InputError(
                f"repetitions must hold one count >= 1 per neuron ({resp.shape[2]}), got "
                f"{reps.shape}"
            )
        for k in np.unique(reps):
            cols = np.flatnonzero(reps == k)
            for r in range(int(k), n_reps):  # slot r of a k-repeat neuron: a copy of slot r % k
                resp[r][:, cols] = resp[r % int(k)][:, cols]
    mask = ~np.isnan(resp)
    index = np.tile(images, n_reps).astype(np.int32)
    flat = np.nan_to_num(resp.reshape(-1, resp.shape[2]), nan=0.0)
    mask = mask.reshape(-1, resp.shape[2])
    keep = mask.any(axis=1)
    return TrialArrays(
        image_index=index[keep],
        responses=flat[keep].astype(np.float32),
        mask=mask[keep].astype(np.float32),
    )


# ---------------------------------------------------------------------------------------------
# Variances (Eqs. 3-4) and inclusion
# ---------------------------------------------------------------------------------------------


def _check_responses(responses) -> np.ndarray:
    responses = np.asarray(responses, np.float64)
    if responses.ndim != 3:
        raise InputError(f"responses must have shape (n_reps, n_images, N), got {responses.shape}")
    return responses


def noise_variance(responses: np.ndarray) -> np.ndarray:
    r"""Observation-noise variance per neuron (Eq. 4): :math:`\sigma^2_{noise} =
    \mathbb{E}_j[\mathrm{Var}_i(y_{ij} \mid x_j)]`, the across-repeat variance (ddof = 1)
    averaged over images that have at least two real repeats.

    Args:
        responses: ``(n_reps, n_images, N)`` with ``NaN`` for missing trials.

    Returns:
        ``(N,)`` float64 (``NaN`` for a neuron with no image repeated twice).
    """
    r = _check_responses(responses)
    count = np.sum(~np.isnan(r), axis=0)  # (n_images, N)
    mean = np.nansum(r, axis=0) / np.maximum(count, 1)
    ss = np.nansum((r - mean[None]) ** 2, axis=0)
    var = np.where(count >= 2, ss / np.maximum(count - 1, 1), np.nan)
    ok = count >= 2
    n_ok = ok.sum(axis=0)
    return np.where(
        n_ok > 0, np.nansum(np.where(ok, var, 0.0), axis=0) / np.maximum(n_ok, 1), np.nan
    )


def total_variance(responses: np.ndarray) -> np.ndarray:
    """Variance (ddof = 1) of every real trial of each neuron, ``(N,)``."""
    r = _check_responses(responses).reshape(-1, np.shape(responses)[-1])
    count = np.sum(~np.isnan(r), axis=0)
    mean = np.nansum(r, axis=0) / np.maximum(count, 1)
    ss = np.nansum((r - mean[None]) ** 2, axis=0)
    return np.where(count >= 2, ss / np.maximum(count - 1, 1), np.nan)


def explainable_variance_ratio(responses: np.ndarray) -> np.ndarray:
    r"""Explainable-to-total variance ratio per neuron (Eq. 3):
    :math:`(\mathrm{Var}[y] - \sigma^2_{noise}) / \mathrm{Var}[y]`.

    Args:
        responses: ``(n_reps, n_images, N)`` with ``NaN`` for missing trials.

    Returns:
        ``(N,)`` float64 (``NaN`` for a neuron with zero total variance).
    """
    tot = total_variance(responses)
    noise = noise_variance(responses)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (tot - noise) / np.where(tot > 0, tot, 1.0), np.nan)


def inclusion_mask(responses: np.ndarray, threshold: float = INCLUSION_THRESHOLD) -> np.ndarray:
    """Neurons whose explainable-variance ratio is at least ``threshold`` (0.15), ``(N,)`` bool."""
    ratio = explainable_variance_ratio(responses)
    return np.nan_to_num(ratio, nan=-np.inf) >= threshold


def select_neurons(data: V1Data, keep: np.ndarray) -> V1Data:
    """The data set restricted to the neurons where ``keep`` (``(N,)`` bool) is true."""
    keep = np.asarray(keep, bool).reshape(-1)
    if keep.shape != (data.num_neurons,):
        raise InputError(f"keep must have shape ({data.num_neurons},), got {keep.shape}")
    if not keep.any():
        raise InputError("keep selects no neuron")
    return dataclasses.replace(
        data,
        responses=data.responses[:, :, keep],
        repetitions=data.repetitions[keep],
        subject_id=data.subject_id[keep],
    )
