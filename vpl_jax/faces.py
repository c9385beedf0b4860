r"""Face stimuli of Experiment 2 (Wenliang & Seitz 2018): morph levels, preprocessing, morphs,
a loader for your own faces, a bundled parametric face generator and the cross-validation folds.

The paper's face task: the reference is the 50 % morph of one male and one female face; the
target comes from the same pair and is more masculine (frames M1..M5) or more feminine (F1..F5);
dissimilarity 1..5 is the distance of the target from the reference in morph fraction (0.05,
0.10, 0.15, 0.25, 0.50; level 5 is the original face). The label is "target more masculine".

Conventions:

* images are ``(H, W)`` float32 arrays on the 0..255 grey scale, indexed ``[row, col]``; a set
  of images is ``(N, H, W)``; the background of a preprocessed frame is 125 (Caffe's mean);
* landmarks are ``(L, 2)`` arrays of ``(x, y) = (col, row)`` pixel coordinates, the centre of
  pixel ``[i, j]`` being ``(j, i)`` (the 68-point iBUG 300-W convention is one example);
* the *male weight* ``w`` of a morph is the fraction of the male face: ``w = 1`` is the male
  original (M5), ``w = 0.5`` the reference, ``w = 0`` the female original (F5);
* sex codes are ``1`` male, ``0`` female; a pair is a row ``(male_index, female_index)``;
* the only stochastic functions take a PRNG ``key`` first (`face_params`, `bundled_faces`,
  `sample_face_batch`); the folds take the authors' integer ``seed`` (NumPy's legacy
  ``RandomState``, to reproduce their shuffles).

Two ways to morph (both what facemorpher does up to the points below):

* **blend** -- ``w * male + (1 - w) * female`` of aligned images (no landmarks needed);
* **landmark warp** -- both faces are warped piecewise-affinely onto the interpolated shape
  ``w * S_male + (1 - w) * S_female`` and then blended with weights ``w, 1 - w``.
  `morph` does it on the host with scikit-image (`skimage.transform.PiecewiseAffineTransform`,
  the Delaunay triangulation of the target shape, as facemorpher); `face_triplets` does it
  inside a jitted training step with one fixed triangulation (Delaunay of the bank's mean shape,
  plus 8 fixed frame points so the whole image is covered and the background stays in place).

In the training step (what the training engine calls; see `face_triplets`): the identity bank
(`face_bank`: the preprocessed originals, their landmarks and the triangulation, about 30 MB for
the 148 faces of a fold at 227 px, 149 MB for all 721) lives on the device, pairs are integer
index arrays (`cv_folds`), and the morph frames of a batch are computed in the step. Nothing of
size ``pairs x frames x H x W`` is ever stored (2401 pairs x 3 frames at 227 px would be 1.5 GB
per fold and dissimilarity).

References:
    Wenliang & Seitz (2018), J. Neurosci. 38(27):6028-6044, Experiment 2 and Fig. 1B; the
    authors' ``data/high/morph.py`` (levels, preprocessing, folds) and ``high_disc.py``.
    Zafeiriou et al. (2011), "The Photoface database", IEEE CVPR Workshops (the paper's faces;
    access-restricted).
    The bundled generator's sexual dimorphism: see `FACE_PARAMETERS` and ``docs/faces.md``.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from theory.checks import InputError, require

__all__ = [
    "BACKGROUND",
    "DISSIMILARITY_OFFSETS",
    "FACE_PARAMETERS",
    "FRAMES",
    "FRAME_MALE_WEIGHTS",
    "IMAGE_SUFFIXES",
    "LANDMARK_SUFFIXES",
    "MORPH_LEVELS",
    "NUM_FOLDS",
    "NUM_LANDMARKS",
    "PAPER_NUM_FEMALE",
    "PAPER_NUM_MALE",
    "REFERENCE_WEIGHT",
    "FaceBank",
    "FaceParams",
    "FaceSet",
    "Fold",
    "blend",
    "bundled_faces",
    "cv_folds",
    "evaluation_trials",
    "face_bank",
    "face_landmarks",
    "face_params",
    "face_triplets",
    "frame_weights",
    "interpolate_params",
    "load_faces",
    "load_landmarks",
    "morph",
    "pair_trials",
    "preprocess",
    "preprocess_landmarks",
    "render_faces",
    "sample_face_batch",
    "triplet_male_weights",
    "warp_image",
]

# --------------------------------------------------------------------------------------------
# Morph levels and frames

MORPH_LEVELS: tuple[float, ...] = (1.0, 0.5, 0.3, 0.2, 0.1)
"""The authors' ``levels`` (``morph.py``): frame M_k has male weight ``0.5 + level/2``, F_k
``0.5 - level/2``, for the levels of dissimilarity 5, 4, 3, 2, 1 in this order."""

FRAMES: tuple[str, ...] = ("M5", "M4", "M3", "M2", "M1", "R", "F1", "F2", "F3", "F4", "F5")
"""The 11 frames of a morph row, from the male original (M5) over the reference (R) to the
female original (F5); the digit is the dissimilarity to the reference."""

FRAME_MALE_WEIGHTS: tuple[float, ...] = (
    1.0,
    0.75,
    0.65,
    0.60,
    0.55,
    0.50,
    0.45,
    0.40,
    0.35,
    0.25,
    0.0,
)
"""Male weight of each of `FRAMES` (the authors' ``make_percent_list(levels)``)."""

DISSIMILARITY_OFFSETS: tuple[float, ...] = (0.05, 0.10, 0.15, 0.25, 0.50)
"""Distance of the target from the reference in male weight, for dissimilarity 1..5."""

REFERENCE_WEIGHT = 0.5
"""Male weight of the reference (the halfway morph)."""

BACKGROUND = 125.0
"""Grey level of the background of a preprocessed frame (pixels < 5 of the morph set to 125)."""

PAPER_NUM_MALE = 647
"""Male Photoface images used by the paper."""
PAPER_NUM_FEMALE = 74
"""Female Photoface images used by the paper."""
NUM_FOLDS = 12
"""Cross-validation folds of the paper."""
NUM_LANDMARKS = 68
"""Landmarks of the bundled faces (the iBUG 300-W 68-point layout)."""

IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".gif",
    ".ppm",
    ".pgm",
    ".webp",
)
"""File endings the loader reads as images (case-insensitive)."""
LANDMARK_SUFFIXES: tuple[str, ...] = (".csv", ".pts")
"""File endings of landmark files next to an image (``face.png`` -> ``face.csv`` or ``.pts``)."""


def frame_weights(levels: Sequence[float] = MORPH_LEVELS) -> tuple[float, ...]:
    """Male weights of the 11 frames M5..F5 from the authors' ``levels`` (``make_percent_list``).

    Args:
        levels: distances ``2 * |w - 0.5|`` of frames M5..M1 (and F5..F1), each in (0, 1].

    Returns:
        ``2 * len(levels) + 1`` male weights: ``0.5 + levels/2``, 0.5, ``0.5 - reversed(levels)/2``.

    Raises:
        InputError: a level outside (0, 1].

    Examples:
        >>> [round(w, 2) for w in frame_weights()]
        [1.0, 0.75, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.25, 0.0]
    """
    levels = np.asarray(levels, float)
    require("levels", levels, lambda a: (a > 0) & (a <= 1), "in (0, 1]")
    weights = np.full(2 * levels.size + 1, 0.5)
    weights[: levels.size] += levels / 2
    weights[levels.size + 1 :] -= levels[::-1] / 2
    return tuple(float(w) for w in weights)


def triplet_male_weights(dissimilarity: Int[ArrayLike, ""]) -> Float[Array, " 3"]:
    """Male weights ``(reference, masculine target, feminine target)`` at a dissimilarity 1..5.

    Works on a traced integer (a condition's array leaf): ``0.5, 0.5 + o, 0.5 - o`` with ``o`` from
    `DISSIMILARITY_OFFSETS`.

    Args:
        dissimilarity: integer 1..5, scalar.

    Returns:
        ``(3,)`` float32.

    Raises:
        InputError: a concrete dissimilarity outside 1..5.

    Examples:
        >>> triplet_male_weights(5).tolist()
        [0.5, 1.0, 0.0]
    """
    require("dissimilarity", dissimilarity, lambda a: np.isin(a, [1, 2, 3, 4, 5]), "1..5")
    offsets = jnp.asarray(DISSIMILARITY_OFFSETS, jnp.float32)
    o = offsets[jnp.clip(jnp.asarray(dissimilarity, jnp.int32) - 1, 0, 4)]
    return jnp.stack([jnp.float32(REFERENCE_WEIGHT), REFERENCE_WEIGHT + o, REFERENCE_WEIGHT - o])


# --------------------------------------------------------------------------------------------
# Preprocessing (the authors' load_frame)


def _grey(image: np.ndarray) -> np.ndarray:
    """Grey levels as PIL's ``convert("F")`` (scipy's ``imread(flatten=True)``): ITU-R 601 luma."""
    if image.ndim == 2:
        return image.astype(np.float32)
    rgb = image[..., :3].astype(np.float32)
    return rgb[..., 0] * (299 / 1000) + rgb[..., 1] * (587 / 1000) + rgb[..., 2] * (114 / 1000)


def _bytescale(x: np.ndarray) -> np.ndarray:
    """``scipy.misc.bytescale`` of a float image: min-max to 0..255, rounded to uint8."""
    lo, hi = float(x.min()), float(x.max())
    scale = 255.0 / ((hi - lo) or 1.0)
    return (np.clip((x - lo) * scale, 0, 255) + 0.5).astype(np.uint8)


def preprocess(
    image: ArrayLike,
    *,
    size: int = 227,
    crop: int = 10,
    dark_threshold: float = 5.0,
    background: float = BACKGROUND,
    median: int = 3,
    rescale: bool = True,
) -> np.ndarray:
    """The authors' frame preprocessing: grey, border crop, resize, dark pixels to grey, median.

    Steps (``load_frame`` of ``morph.py``): grey levels (ITU-R 601 luma of RGB, alpha dropped);
    ``crop`` pixels off every border; resize to ``size x size`` as ``scipy.misc.imresize`` did
    (a float image is first min-max rescaled to uint8 -- ``rescale=True`` -- then PIL bilinear);
    pixels ``< dark_threshold`` set to ``background``; ``median x median`` median filter. A pure
    host (NumPy/PIL/SciPy) function.

    Args:
        image: ``(H, W)`` grey or ``(H, W, 3|4)`` RGB(A), uint8 or float on the 0..255 scale.
        size: output side in pixels (227).
        crop: border removed on each side before resizing, pixels (10); ``2 * crop < H, W``.
        dark_threshold: grey level below which a pixel counts as the morph's black background.
        background: the value those pixels get (125).
        median: median-filter size in pixels (3; 1 = none).
        rescale: min-max rescale to 0..255 before resizing (the authors' float path).

    Returns:
        ``(size, size)`` float32 image, integer-valued, 0..255.

    Raises:
        InputError: a bad shape, size, crop or median size.

    Examples:
        >>> img = np.zeros((246, 246), np.uint8); img[60:180, 60:180] = 200
        >>> out = preprocess(img)
        >>> out.shape, float(out[0, 0]), float(out[113, 113])
        ((227, 227), 125.0, 255.0)
    """
    from PIL import Image
    from scipy.ndimage import median_filter

    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise InputError(f"image must have shape (H, W) or (H, W, 3|4), got {image.shape}")
    require("size", size, lambda a: a >= 8, ">= 8")
    require("median", median, lambda a: (a >= 1) & (a % 2 == 1), "an odd integer >= 1")
    h, w = image.shape[:2]
    require("crop", crop, lambda a: (a >= 0) & (2 * a < min(h, w) - 1), f"in [0, {min(h, w) // 2})")
    grey = _grey(image)
    if crop:
        grey = grey[crop:-crop, crop:-crop]
    u8 = _bytescale(grey) if rescale else np.clip(np.round(grey), 0, 255).astype(np.uint8)
    out = np.asarray(Image.fromarray(u8, mode="L").resize((size, size), Image.BILINEAR))
    out = out.copy()
    out[out < dark_threshold] = np.uint8(round(background))
    if median > 1:
        out = median_filter(out, size=median)
    return out.astype(np.float32)


def preprocess_landmarks(
    points: ArrayLike, image_shape: tuple[int, int], *, size: int = 227, crop: int = 10
) -> np.ndarray:
    """Landmark coordinates after `preprocess` (the same crop and resize).

    ``x' = (x - crop + 0.5) * size / (W - 2 crop) - 0.5`` (pixel centres, PIL's resize), and
    likewise for ``y`` with ``H``.

    Args:
        points: ``(..., L, 2)`` ``(x, y)`` pixel coordinates in the original image.
        image_shape: ``(H, W)`` of the original image.
        size, crop: as in `preprocess`.

    Returns:
        ``(..., L, 2)`` float32 coordinates in the ``size x size`` frame.
    """
    points = np.asarray(points, np.float64)
    h, w = image_shape
    scale = np.array([size / (w - 2 * crop), size / (h - 2 * crop)])
    return ((points - crop + 0.5) * scale - 0.5).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Host morphs (NumPy / scikit-image)


def blend(male: ArrayLike, female: ArrayLike, male_weight: ArrayLike):
    """Pixel blend ``w * male + (1 - w) * female`` of aligned images (NumPy or JAX arrays).

    Examples:
        >>> float(blend(np.float32(200), np.float32(100), 0.75))
        175.0
    """
    return male_weight * male + (1 - male_weight) * female


def _frame_points(height: int, width: int) -> np.ndarray:
    """8 fixed points on the image border (corners and edge midpoints), ``(8, 2)`` ``(x, y)``."""
    x0, y0, x1, y1 = -0.5, -0.5, width - 0.5, height - 0.5
    xm, ym = (width - 1) / 2, (height - 1) / 2
    return np.array(
        [[x0, y0], [xm, y0], [x1, y0], [x1, ym], [x1, y1], [xm, y1], [x0, y1], [x0, ym]],
        np.float64,
    )


def warp_image(
    image: ArrayLike,
    source_points: ArrayLike,
    target_points: ArrayLike,
    *,
    background: float = BACKGROUND,
) -> np.ndarray:
    """Piecewise-affine warp moving ``source_points`` of ``image`` onto ``target_points`` (host).

    scikit-image's `PiecewiseAffineTransform` on the Delaunay triangulation of the target points
    plus 8 fixed frame points (so every pixel lies in a triangle), bilinear interpolation. The
    reference implementation, slow at full size (seconds per 227-px image on 2 CPU cores);
    `face_triplets` does the same on the device much faster.

    Args:
        image: ``(H, W)`` image.
        source_points: ``(L, 2)`` landmark ``(x, y)`` in ``image``.
        target_points: ``(L, 2)`` where they go.
        background: value for pixels that map outside the image.

    Returns:
        ``(H, W)`` float32 warped image.

    Raises:
        InputError: mismatched or non-finite landmark arrays, or an impossible triangulation.
    """
    from skimage.transform import PiecewiseAffineTransform, warp

    image = np.asarray(image, np.float64)
    src, dst = _check_point_pair(source_points, target_points, image.shape)
    frame = _frame_points(*image.shape)
    # warp() maps output coordinates to input ones: estimate target -> source
    tform = PiecewiseAffineTransform.from_estimate(
        np.concatenate([dst, frame]), np.concatenate([src, frame])
    )
    if not tform:
        raise InputError("target_points: the piecewise-affine transform could not be estimated")
    out = warp(image, tform, order=1, mode="constant", cval=background, preserve_range=True)
    return out.astype(np.float32)


def _check_point_pair(source_points, target_points, shape) -> tuple[np.ndarray, np.ndarray]:
    src = np.asarray(source_points, np.float64)
    dst = np.asarray(target_points, np.float64)
    if len(shape) != 2:
        raise InputError(f"image must have shape (H, W), got {shape}")
    for name, pts in (("source_points", src), ("target_points", dst)):
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3:
            raise InputError(f"{name} must have shape (L >= 3, 2), got {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise InputError(f"{name} must be finite, got non-finite coordinates")
    if src.shape != dst.shape:
        raise InputError(
            f"source_points and target_points must have the same shape, got {src.shape} and "
            f"{dst.shape}"
        )
    return src, dst


def morph(
    male: ArrayLike,
    female: ArrayLike,
    male_weight: float,
    male_points: ArrayLike | None = None,
    female_points: ArrayLike | None = None,
    *,
    background: float = BACKGROUND,
) -> np.ndarray:
    """One morph frame of a male and a female face (host; facemorpher's procedure).

    Without landmarks: the pixel `blend` of the aligned images. With landmarks: both faces are
    warped (`warp_image`) onto ``S = w * male_points + (1 - w) * female_points`` and blended.

    Args:
        male, female: ``(H, W)`` images of the same size.
        male_weight: ``w`` in [0, 1] (1 = the male original).
        male_points, female_points: ``(L, 2)`` landmarks, both or neither.
        background: see `warp_image`.

    Returns:
        ``(H, W)`` float32 frame.

    Raises:
        InputError: ``w`` outside [0, 1], different image sizes, only one landmark array.
    """
    male = np.asarray(male, np.float32)
    female = np.asarray(female, np.float32)
    require("male_weight", male_weight, lambda a: (a >= 0) & (a <= 1), "in [0, 1]")
    if male.shape != female.shape or male.ndim != 2:
        raise InputError(
            f"male and female must be (H, W) images of one size, got {male.shape} and "
            f"{female.shape}"
        )
    if (male_points is None) != (female_points is None):
        raise InputError("male_points and female_points must be given together (or neither)")
    w = float(male_weight)
    if male_points is None:
        return blend(male, female, w).astype(np.float32)
    src_m, src_f = _check_point_pair(male_points, female_points, male.shape)
    target = w * src_m + (1 - w) * src_f
    warped_m = warp_image(male, src_m, target, background=background)
    warped_f = warp_image(female, src_f, target, background=background)
    return blend(warped_m, warped_f, w).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Face sets and the loader


class FaceSet(NamedTuple):
    """A labelled set of face images on the host.

    Attributes:
        images: ``(N, H, W)`` float32, 0..255 (preprocessed unless the loader was told not to).
        sex: ``(N,)`` int8, 1 = male, 0 = female.
        landmarks: ``(N, L, 2)`` float32 ``(x, y)`` pixel coordinates, or ``None``.
        names: ``N`` names (relative file paths, or ``"male_0007"`` for generated faces).
    """

    images: np.ndarray
    sex: np.ndarray
    landmarks: np.ndarray | None
    names: tuple[str, ...]


def _read_landmark_csv(path: Path) -> np.ndarray:
    rows = []
    with open(path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row if c.strip() != ""]
            if not cells:
                continue
            try:
                values = [float(c) for c in cells]
            except ValueError:
                if lineno == 1 and not rows:  # a header such as "x,y"
                    continue
                raise InputError(
                    f"{path}: line {lineno} must hold two numbers x,y, got {row}"
                ) from None
            if len(values) != 2:
                raise InputError(f"{path}: line {lineno} must hold two numbers x,y, got {row}")
            rows.append(values)
    return np.asarray(rows, np.float64).reshape(-1, 2)


def _read_landmark_pts(path: Path) -> np.ndarray:
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    declared = None
    points = []
    inside = False
    for ln in lines:
        low = ln.lower()
        if low.startswith("n_points"):
            try:
                declared = int(ln.split(":", 1)[1])
            except (IndexError, ValueError):
                raise InputError(f"{path}: bad n_points line {ln!r}") from None
        elif ln == "{":
            inside = True
        elif ln == "}":
            inside = False
        elif inside:
            try:
                x, y = (float(v) for v in ln.split())
            except ValueError:
                raise InputError(
                    f"{path}: a point line must hold two numbers, got {ln!r}"
                ) from None
            points.append((x, y))
    if declared is None or declared != len(points):
        raise InputError(
            f"{path}: n_points declares {declared} points but {len(points)} were read "
            "(truncated or malformed .pts file)"
        )
    return np.asarray(points, np.float64).reshape(-1, 2)


def load_landmarks(path) -> np.ndarray:
    """Landmarks of one image: a CSV of ``x,y`` rows (optional header) or an iBUG ``.pts`` file.

    Args:
        path: the ``.csv`` or ``.pts`` file.

    Returns:
        ``(L, 2)`` float64 ``(x, y)`` pixel coordinates (pixel ``[i, j]`` centred at ``(j, i)``).

    Raises:
        InputError: a missing or malformed file, fewer than 3 points, non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"landmark file {path} does not exist")
    if path.suffix.lower() == ".pts":
        points = _read_landmark_pts(path)
    elif path.suffix.lower() == ".csv":
        points = _read_landmark_csv(path)
    else:
        raise InputError(f"landmark file {path} must end in one of {LANDMARK_SUFFIXES}")
    if points.shape[0] < 3:
        raise InputError(f"{path}: needs at least 3 landmarks, got {points.shape[0]}")
    if not np.all(np.isfinite(points)):
        raise InputError(f"{path}: landmarks must be finite")
    return points


def _parse_sex(value: str, where: str) -> int:
    v = value.strip().lower()
    if v in ("m", "male", "1"):
        return 1
    if v in ("f", "female", "0"):
        return 0
    raise InputError(f"{where}: sex must be male/female (or m/f, 1/0), got {value!r}")


def _entries_from_folder(folder: Path) -> list[tuple[Path, int, Path | None]]:
    subs = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
    missing = [s for s in ("male", "female") if s not in subs]
    if missing:
        raise InputError(
            f"{folder} must hold one folder per sex, 'male/' and 'female/'; missing {missing}"
        )
    entries = []
    for sex_name, sex in (("male", 1), ("female", 0)):
        sub = subs[sex_name]
        files = sorted(p for p in sub.iterdir() if not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        stems = {p.stem for p in images}
        for p in files:
            if p.is_dir():
                raise InputError(f"{p}: unexpected folder inside {sub} (put images only)")
            suffix = p.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                continue
            if suffix in LANDMARK_SUFFIXES and p.stem in stems:
                continue
            raise InputError(
                f"{p}: not an image (allowed endings {IMAGE_SUFFIXES}; landmark files "
                f"{LANDMARK_SUFFIXES} must share an image's name)"
            )
        for p in images:
            marks = [p.with_suffix(s) for s in LANDMARK_SUFFIXES if p.with_suffix(s).is_file()]
            entries.append((p, sex, marks[0] if marks else None))
    return entries


def _entries_from_csv(table: Path) -> list[tuple[Path, int, Path | None]]:
    with open(table, newline="") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{table}: empty CSV (expected a header path,sex[,landmarks])")
    header = [c.strip().lower() for c in rows[0]]
    if header[:2] != ["path", "sex"] or len(header) > 3 or header[2:] not in ([], ["landmarks"]):
        raise InputError(
            f"{table}: the header must be path,sex or path,sex,landmarks, got {rows[0]}"
        )
    entries = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{table}: line {lineno} must have {len(header)} fields, got {row}")
        path = Path(row[0].strip())
        path = path if path.is_absolute() else table.parent / path
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(f"{table}: line {lineno}: {path} is not an image file name")
        if not path.is_file():
            raise InputError(f"{table}: line {lineno}: {path} does not exist")
        marks = None
        if len(row) == 3 and row[2].strip():
            marks = Path(row[2].strip())
            marks = marks if marks.is_absolute() else table.parent / marks
        entries.append((path, _parse_sex(row[1], f"{table}: line {lineno}"), marks))
    return entries


def load_faces(
    source,
    *,
    preprocess_images: bool = True,
    size: int = 227,
    crop: int = 10,
    min_per_sex: int = 2,
    max_pixels: int = 4096 * 4096,
) -> FaceSet:
    """Your own frontal face images, labelled by sex, with optional landmarks.

    ``source`` is either

    * a folder with one sub-folder per sex, ``male/`` and ``female/``, holding the images (any of
      `IMAGE_SUFFIXES`); an image ``a.png`` may have landmarks in ``a.csv`` or ``a.pts`` beside
      it (then every image must); or
    * a CSV file with the header ``path,sex`` or ``path,sex,landmarks`` (paths relative to the
      CSV's folder; sex ``male``/``female``, ``m``/``f`` or ``1``/``0``).

    Images are aligned frontal faces of one size (the morphs assume alignment, as the
    facemorpher output did). Declared sizes are read (no pixel decoded) and checked first; then
    every image is decoded as grey levels and, unless ``preprocess_images=False``, passed
    through `preprocess` (its landmarks through `preprocess_landmarks`). Males come first, then
    females, each in file-name order (folder) or row order (CSV).

    Args:
        source: the folder or the CSV file.
        preprocess_images: apply the authors' preprocessing (default) or keep the images as read.
        size, crop: of `preprocess`.
        min_per_sex: fewest faces accepted per sex.
        max_pixels: largest accepted ``H * W`` (checked before any image is decoded).

    Returns:
        A `FaceSet`.

    Raises:
        InputError: a missing source, no ``male/``/``female/`` folder, a non-image file, an
            unreadable or truncated image, images of different sizes, too few faces of a sex,
            missing or malformed landmarks, landmark files of different lengths.
    """
    from PIL import Image, UnidentifiedImageError

    source = Path(source)
    if not source.exists():
        raise InputError(
            f"source {source} does not exist (a folder with male/ and female/, or a CSV)"
        )
    if source.is_dir():
        entries = _entries_from_folder(source)
    elif source.suffix.lower() == ".csv":
        entries = _entries_from_csv(source)
    else:
        raise InputError(f"source must be a folder or a .csv file, got {source}")
    counts = {1: sum(e[1] == 1 for e in entries), 0: sum(e[1] == 0 for e in entries)}
    for sex, name in ((1, "male"), (0, "female")):
        if counts[sex] < min_per_sex:
            raise InputError(
                f"{source}: too few {name} faces: need >= {min_per_sex} (min_per_sex), got "
                f"{counts[sex]}"
            )
    has_marks = [e[2] is not None for e in entries]
    if any(has_marks) and not all(has_marks):
        missing = [str(e[0]) for e in entries if e[2] is None][:3]
        raise InputError(f"landmarks must be given for every image or none; missing for {missing}")

    shapes = []
    for path, _, _ in entries:
        try:
            with Image.open(path) as im:
                w, h = im.size
        except (UnidentifiedImageError, OSError) as err:
            raise InputError(f"{path}: unreadable image ({err})") from None
        if w * h > max_pixels:
            raise InputError(f"{path}: {w}x{h} pixels exceeds max_pixels={max_pixels}")
        shapes.append((h, w))
    if len(set(shapes)) > 1:
        first = shapes[0]
        odd = next(i for i, s in enumerate(shapes) if s != first)
        raise InputError(
            f"all images must have one size: {entries[0][0]} is {first[1]}x{first[0]}, "
            f"{entries[odd][0]} is {shapes[odd][1]}x{shapes[odd][0]} (align and crop them first)"
        )
    h, w = shapes[0]
    if preprocess_images:
        require(
            "crop", crop, lambda a: (a >= 0) & (2 * a < min(h, w) - 1), f"in [0, {min(h, w) // 2})"
        )

    images, marks = [], []
    for path, _, mark_path in entries:
        try:
            with Image.open(path) as im:
                grey = np.asarray(im.convert("F"), np.float32)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise InputError(f"{path}: unreadable image ({err})") from None
        images.append(preprocess(grey, size=size, crop=crop) if preprocess_images else grey)
        if mark_path is not None:
            pts = load_landmarks(mark_path)
            margin = 0.25 * max(h, w)
            if (
                np.any(pts < -margin)
                or np.any(pts[:, 0] > w + margin)
                or np.any(pts[:, 1] > h + margin)
            ):
                raise InputError(f"{mark_path}: landmarks lie far outside the {w}x{h} image")
            marks.append(
                preprocess_landmarks(pts, (h, w), size=size, crop=crop)
                if preprocess_images
                else pts
            )
    landmarks = None
    if marks:
        lengths = {m.shape[0] for m in marks}
        if len(lengths) > 1:
            raise InputError(
                f"every landmark file must hold the same number of points, got {sorted(lengths)}"
            )
        landmarks = np.stack(marks).astype(np.float32)
    base = source if source.is_dir() else source.parent
    names = tuple(
        str(Path(e[0]).resolve().relative_to(base.resolve()))
        if Path(e[0]).resolve().is_relative_to(base.resolve())
        else str(e[0])
        for e in entries
    )
    order = np.argsort(-np.asarray([e[1] for e in entries]), kind="stable")
    return FaceSet(
        images=np.stack(images)[order].astype(np.float32),
        sex=np.asarray([entries[i][1] for i in order], np.int8),
        landmarks=None if landmarks is None else landmarks[order],
        names=tuple(names[i] for i in order),
    )


# --------------------------------------------------------------------------------------------
# The bundled parametric face generator

FACE_PARAMETERS: tuple[tuple[str, float, float, float, float, str], ...] = (
    # name, male mean, female mean, identity SD, lower bound, meaning (227-px frame units)
    ("eye_y", 96.0, 96.0, 3.0, 80.0, "row of the eye line, px"),
    ("eye_sep", 33.0, 33.0, 1.5, 26.0, "eye centre to midline, px"),
    ("eye_w", 32.0, 34.0, 1.5, 22.0, "eye width (corner to corner), px [eye size]"),
    ("eye_h", 10.5, 13.0, 1.0, 6.0, "eye opening, px [eye size]"),
    ("brow_gap", 14.0, 19.0, 1.5, 9.0, "eye centre to eyebrow, px [brow-eye distance]"),
    ("brow_thick", 6.5, 3.5, 0.8, 1.5, "eyebrow thickness, px [eyebrow thickness]"),
    ("brow_arch", 2.0, 5.0, 1.0, 0.0, "eyebrow arch height, px [eyebrow shape]"),
    ("brow_dark", 0.65, 0.55, 0.08, 0.2, "eyebrow darkness, fraction of albedo"),
    ("brow_ridge", 9.0, 3.0, 1.5, 0.0, "brow-ridge relief, px depth [brow ridge]"),
    ("face_w", 84.0, 80.0, 3.0, 65.0, "half face width at the eye line, px"),
    ("face_h", 112.0, 100.0, 4.0, 85.0, "eye line to chin, px [face length]"),
    ("forehead_h", 80.0, 80.0, 4.0, 60.0, "eye line to top of the face region, px"),
    ("jaw_square", 3.0, 2.3, 0.2, 1.8, "superellipse exponent of the jaw [jaw width]"),
    ("chin_taper", 0.15, 0.30, 0.05, 0.0, "narrowing towards the chin [chin width]"),
    ("chin_relief", 6.0, 3.0, 1.0, 0.0, "chin relief, px depth [chin prominence]"),
    ("nose_len", 52.0, 48.0, 3.0, 38.0, "eye line to nose base, px [nose size]"),
    ("nose_w", 17.0, 14.5, 1.2, 10.0, "half nose width, px [nose size]"),
    ("nose_relief", 16.0, 12.0, 2.0, 5.0, "nose relief, px depth [nose size]"),
    ("mouth_y", 77.0, 72.0, 3.0, 60.0, "eye line to mouth line, px [lower-face height]"),
    ("mouth_w", 25.0, 24.0, 2.0, 16.0, "half mouth width, px"),
    ("lip_upper", 4.5, 6.5, 0.8, 2.0, "upper-lip thickness, px [lip fullness]"),
    ("lip_lower", 6.5, 9.0, 1.0, 3.0, "lower-lip thickness, px [lip fullness]"),
    ("lip_dark", 0.18, 0.30, 0.05, 0.0, "lip darkening, fraction of albedo [facial contrast]"),
    ("skin", 0.70, 0.76, 0.04, 0.45, "skin albedo [skin lightness]"),
    ("cheek_relief", 7.0, 7.0, 1.5, 0.0, "cheekbone relief, px depth"),
    ("eye_socket", 7.0, 5.0, 1.0, 0.0, "eye-socket depth, px [deep-set eyes]"),
    ("iris_dark", 0.25, 0.25, 0.08, 0.05, "iris albedo"),
)
"""The generator's parameters: ``(name, male mean, female mean, identity SD, lower bound,
meaning)``; lengths in pixels of the 227-px frame. Bracketed words name the sexually dimorphic
trait a sex difference encodes (sources in ``docs/faces.md``): brow ridge, eyebrow thickness and
the brow-eye distance, eye size, jaw width, chin width and prominence, face and lower-face
length, nose size, lip fullness, facial contrast and skin lightness. A face's value is
``mid + m * half + SD * z``: ``mid``/``half`` the mean and half-difference of the sexes, ``m``
its masculinity (+1 male, -1 female), ``z ~ N(0, 1)`` its identity, clipped at the lower bound."""

_PARAM_NAMES = tuple(p[0] for p in FACE_PARAMETERS)
_CENTRE = 113.0  # the frame centre of 227 px; all geometry is in 227-px units


class FaceParams(NamedTuple):
    """Parameters of generated faces (a pytree; each field ``(N,)`` float32, or scalars).

    Fields are the names of `FACE_PARAMETERS`, in 227-px frame units (see there).
    """

    eye_y: Array
    eye_sep: Array
    eye_w: Array
    eye_h: Array
    brow_gap: Array
    brow_thick: Array
    brow_arch: Array
    brow_dark: Array
    brow_ridge: Array
    face_w: Array
    face_h: Array
    forehead_h: Array
    jaw_square: Array
    chin_taper: Array
    chin_relief: Array
    nose_len: Array
    nose_w: Array
    nose_relief: Array
    mouth_y: Array
    mouth_w: Array
    lip_upper: Array
    lip_lower: Array
    lip_dark: Array
    skin: Array
    cheek_relief: Array
    eye_socket: Array
    iris_dark: Array


def face_params(key: jax.Array, masculinity: Float[ArrayLike, " N"]) -> FaceParams:
    """Random identities at given masculinities: ``mid + m * half + SD * z``, clipped.

    Identity ``i`` draws its ``z`` from ``fold_in(key, i)``, so the first identities do not
    change when more are asked for. Host function (the normals come from one compiled chunk
    program; the affine map is NumPy): not traceable in ``m``.

    Args:
        key: PRNG key (the identities).
        masculinity: ``(N,)`` values ``m`` in [-1, 1]: +1 the male means, -1 the female means.

    Returns:
        `FaceParams` with ``(N,)`` float32 fields.

    Raises:
        InputError: masculinity not one-dimensional or outside [-1, 1].

    Examples:
        >>> p = face_params(jax.random.key(0), jnp.array([1.0, -1.0]))
        >>> p.brow_thick.shape
        (2,)
    """
    m = jnp.asarray(masculinity, jnp.float32)
    if m.ndim != 1:
        raise InputError(f"masculinity must have shape (N,), got {m.shape}")
    require("masculinity", m, lambda a: (a >= -1) & (a <= 1), "in [-1, 1]")
    n, chunk = m.shape[0], 64
    index = np.arange(n + (-n % chunk), dtype=np.int32)
    z = np.concatenate(
        [np.asarray(_identity_z(key, index[i : i + chunk])) for i in range(0, index.size, chunk)]
    )[:n]
    table = np.asarray([p[1:5] for p in FACE_PARAMETERS], np.float32)  # (P, 4)
    mid, half = (table[:, 0] + table[:, 1]) / 2, (table[:, 0] - table[:, 1]) / 2
    values = np.maximum(
        mid[None] + np.asarray(m)[:, None] * half[None] + table[:, 2] * z, table[:, 3]
    )
    return FaceParams(*(jnp.asarray(values[:, i]) for i in range(len(FACE_PARAMETERS))))


@jax.jit
def _identity_z(key: jax.Array, index: Array) -> Array:
    """``(B, P)`` standard normals of identities ``index`` (identity ``i``: ``fold_in(key, i)``)."""
    return jax.vmap(
        lambda i: jax.random.normal(jax.random.fold_in(key, i), (len(FACE_PARAMETERS),))
    )(index)


def interpolate_params(male: FaceParams, female: FaceParams, male_weight) -> FaceParams:
    """The parameter-space morph ``w * male + (1 - w) * female`` (shape and texture at once)."""
    return jax.tree.map(lambda a, b: male_weight * a + (1 - male_weight) * b, male, female)


def _soft(d, width):
    return jax.nn.sigmoid(d / width)


def _lower_contour(p: FaceParams, theta):
    """Points of the lower face outline (superellipse with a chin taper), 227-px units."""
    n = p.jaw_square
    c, s = jnp.cos(theta), jnp.sin(theta)
    u = jnp.sign(c) * jnp.abs(c) ** (2.0 / n)
    v = jnp.abs(s) ** (2.0 / n)
    taper = 1.0 - p.chin_taper * v**2
    return _CENTRE + p.face_w * taper * u, p.eye_y + p.face_h * v


def _brow_geometry(p: FaceParams, side: float):
    """``(x_outer, x_inner)`` of the eyebrow on ``side`` (-1 image left, +1 image right)."""
    ex = _CENTRE + side * p.eye_sep
    return ex + side * 0.62 * p.eye_w, ex - side * 0.55 * p.eye_w


def _brow_line(p: FaceParams, t):
    """Row of the eyebrow's centre line at ``t`` (0 outer end, 1 inner end)."""
    return p.eye_y - p.brow_gap - p.brow_arch * 4.0 * t * (1.0 - t) + 1.5 * t


def _lids(p: FaceParams, s):
    """Upper and lower eyelid rows at ``s = (x - eye centre) / (eye_w / 2)``."""
    shape = jnp.clip(1.0 - s**2, 0.0, None)
    return p.eye_y - 0.5 * p.eye_h * shape, p.eye_y + 0.4 * p.eye_h * shape


def _lips(p: FaceParams, s):
    """Upper and lower outer lip rows at ``s = (x - centre) / mouth_w`` (a cupid's bow dip)."""
    ym = p.eye_y + p.mouth_y
    prof = jnp.clip(1.0 - s**2, 0.0, None) ** 0.6
    upper = ym - prof * (p.lip_upper - 1.2 * jnp.exp(-((s / 0.14) ** 2)))
    return upper, ym + p.lip_lower * prof


def _landmarks_one(p: FaceParams) -> Array:
    """The 68 iBUG landmarks of one face in 227-px units, ``(68, 2)`` ``(x, y)``."""
    c, ye = _CENTRE, p.eye_y
    theta = jnp.pi - jnp.arange(17, dtype=jnp.float32) * (jnp.pi / 16)
    jaw = jnp.stack(_lower_contour(p, theta), axis=-1)  # 0..16
    brows = []
    t5 = jnp.linspace(0.0, 1.0, 5)
    for side in (-1.0, 1.0):  # 17-21 image-left outer->inner, 22-26 image-right inner->outer
        x_out, x_in = _brow_geometry(p, side)
        t = t5 if side < 0 else t5[::-1]
        brows.append(jnp.stack([x_out + t * (x_in - x_out), _brow_line(p, t)], axis=-1))
    y_tip = ye + p.nose_len - 6.0
    ridge_y = jnp.linspace(0.0, 1.0, 4) * (y_tip - (ye - 4.0)) + (ye - 4.0)
    ridge = jnp.stack([jnp.full((4,), c), ridge_y], axis=-1)  # 27-30
    base_x = c + p.nose_w * 0.85 * jnp.asarray([-1.0, -0.5, 0.0, 0.5, 1.0])
    base_y = ye + p.nose_len + jnp.asarray([-1.5, 0.0, 1.0, 0.0, -1.5])
    nose_base = jnp.stack([base_x, base_y], axis=-1)  # 31-35
    eyes = []
    for side, s_order in (
        (-1.0, (-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3)),  # 36-41
        (1.0, (-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3)),
    ):  # 42-47
        ex = c + side * p.eye_sep
        s = jnp.asarray(s_order)
        upper, lower = _lids(p, s)
        is_upper = jnp.asarray([True, True, True, True, False, False])
        eyes.append(jnp.stack([ex + s * 0.5 * p.eye_w, jnp.where(is_upper, upper, lower)], -1))
    ym = ye + p.mouth_y
    s_up = jnp.asarray([-1.0, -0.6, -0.25, 0.0, 0.25, 0.6, 1.0])  # 48-54
    s_lo = jnp.asarray([0.6, 0.25, 0.0, -0.25, -0.6])  # 55-59
    outer = jnp.concatenate(
        [
            jnp.stack([c + s_up * p.mouth_w, _lips(p, s_up)[0]], -1),
            jnp.stack([c + s_lo * p.mouth_w, _lips(p, s_lo)[1]], -1),
        ]
    )
    s_in = jnp.asarray([-0.85, -0.3, 0.0, 0.3, 0.85, 0.3, 0.0, -0.3])  # 60-67
    dy_in = jnp.asarray([0.0, -0.5, -0.5, -0.5, 0.0, 0.5, 0.5, 0.5])
    inner = jnp.stack([c + s_in * p.mouth_w, ym + dy_in], -1)
    return jnp.concatenate([jaw, *brows, ridge, nose_base, *eyes, outer, inner])


def _render_one(p: FaceParams, size: int) -> Array:
    """One face on a ``size``-px frame (computed in 227-px units), 0..255 float32."""
    step = 227.0 / size
    coords = (jnp.arange(size, dtype=jnp.float32) + 0.5) * step - 0.5
    Y, X = coords[:, None] * jnp.ones((1, size)), jnp.ones((size, 1)) * coords[None, :]
    c, ye = _CENTRE, p.eye_y
    dx = X - c

    # face region: superellipse below the eye line (chin taper), ellipse above
    v = jnp.clip((Y - ye) / p.face_h, 0.0, None)
    taper = 1.0 - p.chin_taper * v**2
    level_lo = (jnp.abs(dx) / (p.face_w * taper)) ** p.jaw_square + v**p.jaw_square
    dist_lo = (1.0 - (level_lo + 1e-12) ** (1.0 / p.jaw_square)) * p.face_w
    level_up = (dx / p.face_w) ** 2 + ((ye - Y) / p.forehead_h) ** 2
    dist_up = (1.0 - jnp.sqrt(level_up + 1e-12)) * jnp.minimum(p.face_w, p.forehead_h)
    mask = _soft(jnp.where(Y >= ye, dist_lo, dist_up), 0.8)

    def gauss(x0, y0, sx, sy):
        return jnp.exp(-0.5 * (((X - x0) / sx) ** 2 + ((Y - y0) / sy) ** 2))

    # relief (a height field in px), lit by a Lambertian model
    yc = ye + (p.face_h - p.forehead_h) / 2
    r2 = (dx / (1.1 * p.face_w)) ** 2 + ((Y - yc) / (0.55 * (p.face_h + p.forehead_h))) ** 2
    z = 45.0 * jnp.sqrt(jnp.clip(1.0 - r2, 0.0, None) + 0.02)
    y_ridge = ye - 0.6 * p.brow_gap
    span = p.eye_sep + 0.8 * p.eye_w
    z += p.brow_ridge * jnp.exp(-0.5 * ((Y - y_ridge) / 8.0) ** 2 - (dx / span) ** 4)
    for side in (-1.0, 1.0):
        z -= p.eye_socket * gauss(c + side * p.eye_sep, ye, 0.55 * p.eye_w, 0.45 * p.eye_w)
        z += p.cheek_relief * gauss(c + side * (p.eye_sep + 5.0), ye + 28.0, 15.0, 12.0)
        z += (
            0.25
            * p.nose_relief
            * gauss(
                c + side * 0.75 * p.nose_w, ye + p.nose_len - 3.0, 0.3 * p.nose_w, 0.3 * p.nose_w
            )
        )
    y_tip = ye + p.nose_len - 6.0
    t_nose = jnp.clip((Y - (ye - 6.0)) / (y_tip - ye + 6.0), 0.0, 1.0)
    fall = jnp.exp(-0.5 * (jnp.clip(Y - y_tip, 0.0, None) / 4.0) ** 2)
    z += (
        p.nose_relief
        * t_nose**1.3
        * jnp.exp(-0.5 * (dx / (3.5 + 0.4 * p.nose_w * t_nose)) ** 2)
        * fall
    )
    z += 0.45 * p.nose_relief * gauss(c, y_tip, 0.45 * p.nose_w, 0.45 * p.nose_w)
    z += p.chin_relief * gauss(c, ye + p.face_h - 14.0, 0.3 * p.face_w * (1 - p.chin_taper), 9.0)
    s_mouth = dx / p.mouth_w
    lip_up, lip_lo = _lips(p, s_mouth)
    ym = ye + p.mouth_y
    inside_mouth = _soft(1.0 - jnp.abs(s_mouth), 0.03)
    z += 2.5 * _soft(Y - lip_up, 1.5) * _soft(lip_lo - Y, 1.5) * inside_mouth

    zy, zx = jnp.gradient(z, step)
    light = jnp.asarray([-0.35, -0.45, 0.82]) / jnp.sqrt(0.35**2 + 0.45**2 + 0.82**2)
    dot = (-zx * light[0] - zy * light[1] + light[2]) / jnp.sqrt(zx**2 + zy**2 + 1.0)
    shade = 0.3 + 0.7 * jnp.clip(dot, 0.0, 1.0)

    # albedo: skin, eyebrows, eyes, nostrils, lips
    albedo = p.skin * jnp.ones_like(X)
    for side in (-1.0, 1.0):
        x_out, x_in = _brow_geometry(p, side)
        length = jnp.abs(x_in - x_out)
        t = (X - x_out) / (x_in - x_out)
        thick = p.brow_thick * (0.45 + 0.55 * jnp.sqrt(jnp.clip(t, 0.0, 1.0)))
        band = _soft(0.5 * thick - jnp.abs(Y - _brow_line(p, jnp.clip(t, 0.0, 1.0))), 0.7)
        band = band * _soft(t * length, 0.8) * _soft((1.0 - t) * length, 0.8)
        albedo = albedo * (1.0 - p.brow_dark * band)

        ex = c + side * p.eye_sep
        s = (X - ex) / (0.5 * p.eye_w)
        upper, lower = _lids(p, s)
        eye = _soft(Y - upper, 0.5) * _soft(lower - Y, 0.5) * _soft(1.0 - jnp.abs(s), 0.04)
        r = jnp.sqrt((X - ex) ** 2 + (Y - ye) ** 2)
        ri = 0.2 * p.eye_w
        iris = _soft(ri - r, 0.5)
        pupil = _soft(0.4 * ri - r, 0.4)
        eye_albedo = 0.88 * (1 - iris) + p.iris_dark * iris * (1 - pupil) + 0.05 * pupil
        albedo = albedo * (1 - eye) + eye_albedo * eye
        lash = _soft(0.9 - jnp.abs(Y - upper), 0.4) * _soft(1.0 - jnp.abs(s), 0.04)
        albedo = albedo * (1.0 - 0.6 * lash)

        nx, ny = c + side * 0.42 * p.nose_w, ye + p.nose_len - 1.5
        q = ((X - nx) / (0.22 * p.nose_w)) ** 2 + ((Y - ny) / 2.0) ** 2
        albedo = albedo * (1.0 - 0.55 * _soft(1.0 - q, 0.15))
    lips = _soft(Y - lip_up, 0.6) * _soft(lip_lo - Y, 0.6) * inside_mouth
    albedo = albedo * (1.0 - p.lip_dark * lips)
    line = _soft(0.6 - jnp.abs(Y - ym), 0.3) * _soft(0.95 - jnp.abs(s_mouth), 0.03)
    albedo = albedo * (1.0 - 0.5 * line)

    face = 255.0 * jnp.clip(albedo * shade, 0.0, 1.0)
    return mask * face + (1.0 - mask) * BACKGROUND


def _check_params(params: FaceParams) -> None:
    if not isinstance(params, FaceParams):
        raise InputError(f"params must be a FaceParams, got {type(params).__name__}")
    shapes = {jnp.shape(f) for f in params}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise InputError(f"params fields must all have one shape (N,), got {sorted(shapes)}")


@functools.partial(jax.jit, static_argnames=("size",))
def _render_chunk(table: Array, size: int) -> Array:
    """``(B, P)`` parameter rows -> ``(B, size, size)`` images."""
    return jax.vmap(lambda row: _render_one(FaceParams(*row), size))(table)


@functools.partial(jax.jit, static_argnames=("size",))
def _landmarks_chunk(table: Array, size: int) -> Array:
    """``(B, P)`` parameter rows -> ``(B, 68, 2)`` landmarks of the ``size`` frame."""
    pts = jax.vmap(lambda row: _landmarks_one(FaceParams(*row)))(table)
    return (pts + 0.5) * (size / 227.0) - 0.5


def _chunked(fun, params: FaceParams, size: int, batch_size: int) -> Array:
    """``fun`` over fixed-size chunks of the parameter table (host loop; one compiled shape)."""
    table = np.stack([np.asarray(f, np.float32) for f in params], axis=1)  # (N, P)
    n = table.shape[0]
    pad = -n % batch_size
    table = np.concatenate([table, np.repeat(table[-1:], pad, axis=0)])
    out = [fun(jnp.asarray(table[i : i + batch_size]), size) for i in range(0, n + pad, batch_size)]
    return jnp.concatenate(out)[:n]


def render_faces(
    params: FaceParams, *, size: int = 227, batch_size: int = 16
) -> Float[Array, "N size size"]:
    """Render generated faces: smooth shaded grey frontal faces on the 125 background.

    A Lambertian-lit height field (a head dome plus brow ridge, eye sockets, cheekbones, nose,
    lips and chin), times an albedo map (skin, eyebrows, eyes with iris and pupil, nostrils,
    lips), inside a face outline (superellipse jaw with chin taper, elliptic forehead); no hair,
    ears, neck or skin texture. Light from the upper left front. Geometry is that of the 227-px
    frame, scaled to ``size``.

    Args:
        params: `FaceParams` with ``(N,)`` fields.
        size: image side in pixels.
        batch_size: faces rendered per compiled call (memory vs speed; a host loop over chunks,
            so any ``N`` reuses one program).

    Returns:
        ``(N, size, size)`` float32 images, 0..255.

    Raises:
        InputError: malformed params or size < 16.
    """
    _check_params(params)
    require("size", size, lambda a: a >= 16, ">= 16")
    require("batch_size", batch_size, lambda a: a >= 1, ">= 1")
    return _chunked(_render_chunk, params, int(size), int(batch_size))


def face_landmarks(params: FaceParams, *, size: int = 227) -> Float[Array, "N 68 2"]:
    """The 68 iBUG 300-W landmarks of generated faces, ``(x, y)`` pixels of the ``size`` frame.

    Computed from the same curves the renderer draws (jaw outline 0-16, eyebrows 17-26 on their
    centre lines, nose ridge 27-30 and base 31-35, eyelids 36-47, outer lips 48-59, inner lips
    60-67), so a landmark warp between two generated faces moves their features onto each other.

    Args:
        params: `FaceParams` with ``(N,)`` fields.
        size: image side in pixels.

    Returns:
        ``(N, 68, 2)`` float32.
    """
    _check_params(params)
    return _chunked(_landmarks_chunk, params, int(size), 64)


def bundled_faces(
    key: jax.Array,
    num_male: int = PAPER_NUM_MALE,
    num_female: int = PAPER_NUM_FEMALE,
    *,
    size: int = 227,
) -> FaceSet:
    """The bundled default face set: generated identities with landmarks (nothing downloaded).

    ``num_male`` identities at masculinity +1 and ``num_female`` at -1 (the paper's 647 and 74),
    each with its own random `face_params` (males from the first, females from the second half of
    ``jax.random.split(key)``, so the first faces of a sex do not depend on the counts); rendered by `render_faces`, with
    `face_landmarks`. About 3 s for the 721 faces at 227 px on 2 CPU cores (see
    ``docs/faces.md``).

    Args:
        key: PRNG key of the identities.
        num_male, num_female: identities per sex, each >= 1.
        size: image side in pixels.

    Returns:
        A `FaceSet` (males first), names ``male_0000 ...``, ``female_0000 ...``.

    Examples:
        >>> faces = bundled_faces(jax.random.key(0), 2, 2, size=32)
        >>> faces.images.shape, faces.landmarks.shape, faces.sex.tolist()
        ((4, 32, 32), (4, 68, 2), [1, 1, 0, 0])
    """
    require("num_male", num_male, lambda a: a >= 1, ">= 1")
    require("num_female", num_female, lambda a: a >= 1, ">= 1")
    male_key, female_key = jax.random.split(key)
    pm = face_params(male_key, np.ones(num_male, np.float32))
    pf = face_params(female_key, -np.ones(num_female, np.float32))
    params = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), pm, pf)
    images = np.asarray(render_faces(params, size=size))
    landmarks = np.asarray(face_landmarks(params, size=size))
    names = tuple(f"male_{i:04d}" for i in range(num_male)) + tuple(
        f"female_{i:04d}" for i in range(num_female)
    )
    sex = np.concatenate([np.ones(num_male, np.int8), np.zeros(num_female, np.int8)])
    return FaceSet(images, sex, landmarks, names)


# --------------------------------------------------------------------------------------------
# Cross-validation folds


class Fold(NamedTuple):
    """One cross-validation fold; every index is a row of the `FaceSet`.

    Attributes:
        train_male, train_female: ``(n_train,)`` identities of training (49 each in the paper).
        test_male, test_female: ``(n_test,)`` held-out identities (25 each).
        train_pairs: ``(n_train**2, 2)`` rows ``(male, female)``, male-major (2401 pairs).
        test_pairs: ``(n_test**2, 2)`` (625 pairs), no identity of which is in training.
    """

    train_male: np.ndarray
    train_female: np.ndarray
    test_male: np.ndarray
    test_female: np.ndarray
    train_pairs: np.ndarray
    test_pairs: np.ndarray


def _all_pairs(males: np.ndarray, females: np.ndarray) -> np.ndarray:
    return np.stack(np.meshgrid(males, females, indexing="ij"), -1).reshape(-1, 2).astype(np.int32)


def cv_folds(
    sex: ArrayLike,
    *,
    num_folds: int = NUM_FOLDS,
    per_sex: int | None = None,
    train_per_sex: int | None = None,
    seed: int = 0,
) -> tuple[Fold, ...]:
    """The paper's cross-validation folds, by the authors' procedure (``morph.py``).

    ``np.random.seed(seed)`` once; then for every fold the male list and the female list are
    shuffled in place (cumulatively, fold after fold), the first ``per_sex`` of each are taken
    (``per_sex`` defaults to the smaller sex, 74 in the paper: balanced), the first
    ``train_per_sex`` of those train (default ``2 * per_sex // 3`` = 49), the rest test (25).
    Pairs are every male-female combination: 49 x 49 = 2401 training and 25 x 25 = 625 test
    pairs. Within a fold no test identity is a training identity; across folds the identities
    are resampled (the folds are not a partition), as in the authors' code. The lists start in
    `FaceSet` order (the authors started from ``os.listdir`` order).

    Args:
        sex: ``(N,)`` sex codes of the face set (1 male, 0 female).
        num_folds: number of folds (12).
        per_sex: identities of each sex per fold.
        train_per_sex: training identities of each sex per fold (``1 <= . < per_sex``).
        seed: the seed of NumPy's legacy ``RandomState``.

    Returns:
        ``num_folds`` `Fold` objects.

    Raises:
        InputError: bad sex codes, too few identities of a sex, bad counts.

    Examples:
        >>> folds = cv_folds(np.r_[np.ones(647), np.zeros(74)])
        >>> len(folds), folds[0].train_pairs.shape, folds[0].test_pairs.shape
        (12, (2401, 2), (625, 2))
    """
    sex = np.asarray(sex)
    if sex.ndim != 1:
        raise InputError(f"sex must have shape (N,), got {sex.shape}")
    require("sex", sex, lambda a: np.isin(a, [0, 1]), "0 (female) or 1 (male)")
    males = np.flatnonzero(sex == 1)
    females = np.flatnonzero(sex == 0)
    available = min(males.size, females.size)
    per_sex = available if per_sex is None else int(per_sex)
    require(
        "per_sex",
        per_sex,
        lambda a: (a >= 2) & (a <= available),
        f"in [2, {available}] (the smaller sex)",
    )
    train_per_sex = 2 * per_sex // 3 if train_per_sex is None else int(train_per_sex)
    require(
        "train_per_sex", train_per_sex, lambda a: (a >= 1) & (a < per_sex), f"in [1, {per_sex})"
    )
    require("num_folds", num_folds, lambda a: a >= 1, ">= 1")
    rng = np.random.RandomState(seed)
    male_list, female_list = males.copy(), females.copy()
    folds = []
    for _ in range(int(num_folds)):
        rng.shuffle(male_list)
        rng.shuffle(female_list)
        m, f = male_list[:per_sex].copy(), female_list[:per_sex].copy()
        tm, tf = m[:train_per_sex], f[:train_per_sex]
        vm, vf = m[train_per_sex:], f[train_per_sex:]
        folds.append(Fold(tm, tf, vm, vf, _all_pairs(tm, tf), _all_pairs(vm, vf)))
    return tuple(folds)


def pair_trials(pairs: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both trials of every pair: ``(pairs repeated, labels)``.

    Each pair gives a masculine-target trial (label 1) and a feminine-target trial (label 0), in
    this order (the two adjacent records of the authors' database).

    Args:
        pairs: ``(P, 2)`` integer pairs.

    Returns:
        ``((2P, 2) int32 pairs, (2P,) float32 labels 1, 0, 1, 0, ...)``.
    """
    pairs = np.asarray(pairs, np.int32)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise InputError(f"pairs must have shape (P, 2), got {pairs.shape}")
    return np.repeat(pairs, 2, axis=0), np.tile(np.asarray([1.0, 0.0], np.float32), pairs.shape[0])


def evaluation_trials(pairs: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """One trial per pair with alternating labels (625 trials for 625 test pairs).

    The paper tested "625 unseen validation images" (``test_num = 625`` of the authors'
    ``high_disc.py``, read from the 1250-record test database); this set covers every test
    pair once, labels 1, 0, 1, ... in pair order (313 masculine, 312 feminine targets for 625).
    `pair_trials` gives all 1250.

    Returns:
        ``((P, 2) int32 pairs, (P,) float32 labels)``.
    """
    pairs = np.asarray(pairs, np.int32)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise InputError(f"pairs must have shape (P, 2), got {pairs.shape}")
    return pairs, (np.arange(pairs.shape[0]) % 2 == 0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The device-resident identity bank and the in-step morphs


class FaceBank(NamedTuple):
    """Identities for the training step (a pytree of device arrays).

    Attributes:
        images: ``(N, H, W)`` float32 originals, 0..255.
        landmarks: ``(N, L + 8, 2)`` float32 landmarks plus the 8 frame points (``(N, 0, 2)``
            when the set has none: then only blends are possible).
        triangles: ``(K, 3)`` int32 vertex indices (Delaunay of the mean shape; ``(0, 3)``
            without landmarks).
        sex: ``(N,)`` int32 (1 male, 0 female).
    """

    images: Array
    landmarks: Array
    triangles: Array
    sex: Array


def face_bank(faces: FaceSet, indices: ArrayLike | None = None) -> FaceBank:
    """Put a face set (or the rows ``indices`` of it) on the device for `face_triplets`.

    The triangulation is the Delaunay triangulation (``scipy.spatial.Delaunay``) of the mean
    landmark shape with 8 fixed frame points (corners and edge midpoints), so every pixel lies
    in a triangle and the background does not move. Pairs index the bank's rows: with
    ``indices``, map a fold's `FaceSet` rows to bank rows yourself (``np.searchsorted(indices,
    pairs)`` for sorted ``indices``); without, the bank rows are the `FaceSet` rows.

    Args:
        faces: the `FaceSet`.
        indices: optional rows to keep (e.g. a fold's 148 identities: about 30 MB at 227 px).

    Returns:
        A `FaceBank`.

    Raises:
        InputError: bad indices.
    """
    from scipy.spatial import Delaunay

    n = faces.images.shape[0]
    rows = np.arange(n) if indices is None else np.asarray(indices, np.int64)
    if rows.ndim != 1 or rows.size == 0 or rows.min() < 0 or rows.max() >= n:
        raise InputError(f"indices must be a non-empty 1-D array of rows in [0, {n}), got {rows}")
    images = np.asarray(faces.images, np.float32)[rows]
    h, w = images.shape[1:]
    if faces.landmarks is None:
        marks = np.zeros((rows.size, 0, 2), np.float32)
        tri = np.zeros((0, 3), np.int32)
    else:
        frame = np.broadcast_to(_frame_points(h, w), (rows.size, 8, 2))
        marks = np.concatenate([np.asarray(faces.landmarks, np.float64)[rows], frame], 1)
        tri = Delaunay(marks.mean(0)).simplices.astype(np.int32)
        marks = marks.astype(np.float32)
    return FaceBank(
        jnp.asarray(images),
        jnp.asarray(marks),
        jnp.asarray(tri),
        jnp.asarray(np.asarray(faces.sex)[rows], jnp.int32),
    )


def _affine_source_coords(dst: Array, srcs: Array, triangles: Array, height: int, width: int):
    """Source coordinates of every output pixel under piecewise-affine maps.

    Pass 1 (``lax.scan`` over the ``K`` triangles) finds each output pixel's triangle in its
    destination shape from barycentric coordinates, carrying only an int32 index map (the first
    triangle containing the pixel wins on shared edges). Pass 2 gathers that triangle's affine
    map destination -> source (6 coefficients per source) and applies it.

    Args:
        dst: ``(D, L, 2)`` destination shapes; srcs: ``(D, S, L, 2)`` the shapes of ``S``
            sources; triangles: ``(K, 3)``.

    Returns:
        ``(D, S, H, W)`` source x and y. Pixels outside every triangle (none when the frame
        points are part of the shapes) use triangle 0's map.
    """
    rows = jnp.arange(height, dtype=jnp.float32)[:, None] * jnp.ones((1, width), jnp.float32)
    cols = jnp.ones((height, 1), jnp.float32) * jnp.arange(width, dtype=jnp.float32)[None, :]
    d0, d1, d2 = (dst[:, triangles[:, i]] for i in range(3))  # (D, K, 2)
    ax, ay = d1[..., 0] - d0[..., 0], d1[..., 1] - d0[..., 1]
    bx, by = d2[..., 0] - d0[..., 0], d2[..., 1] - d0[..., 1]
    det = ax * by - bx * ay
    ok = jnp.abs(det) > 1e-9
    inv = jnp.where(ok, 1.0 / jnp.where(ok, det, 1.0), 0.0)
    # barycentric b1 = u1 x + v1 y + c1, b2 = u2 x + v2 y + c2, for every (D, K)
    u1, v1 = by * inv, -bx * inv
    u2, v2 = -ay * inv, ax * inv
    c1 = -(u1 * d0[..., 0] + v1 * d0[..., 1])
    c2 = -(u2 * d0[..., 0] + v2 * d0[..., 1])
    bary = jnp.stack([u1, v1, c1, u2, v2, c2], -1)  # (D, K, 6)
    eps = -1e-5

    def body(index, xs):
        k, coef, usable = xs  # coef (D, 6), usable (D,)
        b1 = coef[:, 0, None, None] * cols[None] + coef[:, 1, None, None] * rows[None]
        b1 = b1 + coef[:, 2, None, None]
        b2 = coef[:, 3, None, None] * cols[None] + coef[:, 4, None, None] * rows[None]
        b2 = b2 + coef[:, 5, None, None]
        inside = (b1 >= eps) & (b2 >= eps) & (1.0 - b1 - b2 >= eps) & usable[:, None, None]
        return jnp.where(inside & (index < 0), k, index), None

    num_d, num_k = bary.shape[:2]
    index0 = jnp.full((num_d, height, width), -1, jnp.int32)
    xs = (jnp.arange(num_k, dtype=jnp.int32), jnp.swapaxes(bary, 0, 1), jnp.swapaxes(ok, 0, 1))
    index, _ = jax.lax.scan(body, index0, xs)
    index = jnp.maximum(index, 0)

    # destination -> source affine maps q = A p + t per (D, S, K): compose bary with vertices
    s0, s1, s2 = (srcs[:, :, triangles[:, i]] for i in range(3))  # (D, S, K, 2)
    e1, e2 = s1 - s0, s2 - s0
    b = bary[:, None]  # (D, 1, K, 6)
    affine = jnp.concatenate(
        [
            e1 * b[..., 0:1] + e2 * b[..., 3:4],  # d q / d x
            e1 * b[..., 1:2] + e2 * b[..., 4:5],  # d q / d y
            s0 + e1 * b[..., 2:3] + e2 * b[..., 5:6],  # offset
        ],
        -1,
    )  # (D, S, K, 6): (dqx/dx, dqy/dx, dqx/dy, dqy/dy, tx, ty)
    per_pixel = jax.vmap(lambda a, i: jnp.take(a, i, axis=1))(affine, index)  # (D, S, H, W, 6)
    x, y = cols[None, None], rows[None, None]
    qx = per_pixel[..., 0] * x + per_pixel[..., 2] * y + per_pixel[..., 4]
    qy = per_pixel[..., 1] * x + per_pixel[..., 3] * y + per_pixel[..., 5]
    return qx, qy


def _bilinear(image: Array, qx: Array, qy: Array) -> Array:
    return jax.scipy.ndimage.map_coordinates(image, [qy, qx], order=1, mode="nearest")


@functools.partial(jax.jit, static_argnames=("warp",))
def _face_triplets(bank: FaceBank, pair_index: Array, male_weights: Array, warp: bool) -> Array:
    male = bank.images[pair_index[:, 0]]  # (B, H, W)
    female = bank.images[pair_index[:, 1]]
    w = male_weights.astype(jnp.float32)[None, :, None, None]  # (1, T, 1, 1)
    if not warp:
        return w * male[:, None] + (1.0 - w) * female[:, None]
    num_b, h, width = male.shape
    num_t = male_weights.shape[0]
    lm_m = bank.landmarks[pair_index[:, 0]]  # (B, L, 2)
    lm_f = bank.landmarks[pair_index[:, 1]]
    wl = male_weights.astype(jnp.float32)[None, :, None, None]
    dst = (wl * lm_m[:, None] + (1.0 - wl) * lm_f[:, None]).reshape(num_b * num_t, -1, 2)
    srcs = jnp.broadcast_to(
        jnp.stack([lm_m, lm_f], 1)[:, None], (num_b, num_t, 2, *lm_m.shape[1:])
    ).reshape(num_b * num_t, 2, -1, 2)
    qx, qy = _affine_source_coords(dst, srcs, bank.triangles, h, width)  # (B*T, 2, H, W)
    qx = qx.reshape(num_b, num_t, 2, h, width)
    qy = qy.reshape(num_b, num_t, 2, h, width)
    sample = jax.vmap(jax.vmap(_bilinear, in_axes=(None, 0, 0)), in_axes=(0, 0, 0))
    warped_m = sample(male, qx[:, :, 0], qy[:, :, 0])  # (B, T, H, W)
    warped_f = sample(female, qx[:, :, 1], qy[:, :, 1])
    return w * warped_m + (1.0 - w) * warped_f


def face_triplets(
    bank: FaceBank,
    pair_index: Int[ArrayLike, "B 2"],
    male_weights: Float[ArrayLike, " T"],
    *,
    warp: bool = True,
) -> Float[Array, "B T H W"]:
    """Morph frames of a batch of pairs, computed from the device-resident bank (jittable).

    The training step's face stimuli: with ``male_weights = triplet_male_weights(d)`` the three
    frames of each pair are ``(reference, masculine target, feminine target)``; the masculine
    trial is ``(frame 0, frame 1)`` with label 1 and the feminine trial ``(frame 0, frame 2)`` with
    label 0. Add noise with `vpl_jax.stimuli.network_input` as for Gabors.

    * ``warp=False``: pixel blends ``w * male + (1 - w) * female``; cost ``B T H W``.
    * ``warp=True`` (needs landmarks): both faces are warped onto ``w * S_m + (1 - w) * S_f`` by
      the piecewise-affine map of the bank's fixed triangulation and blended (facemorpher's
      procedure with one triangulation for all shapes); the triangles are scanned with
      ``lax.scan`` (about ``15 K`` flops per output pixel, ``K`` ~ 140 triangles for 68 + 8
      points), then bilinear sampling. Measured in ``docs/faces.md``.

    Memory: the output ``B T H W`` float32 (20 pairs x 3 frames at 227 px: 12 MB) and, with
    ``warp``, ``(B T, 2, H, W)`` source coordinates (two such arrays, 25 MB each).

    Args:
        bank: the `FaceBank` (`face_bank`).
        pair_index: ``(B, 2)`` int32 bank rows ``(male, female)``.
        male_weights: ``(T,)`` male weights in [0, 1] (may be traced).
        warp: landmark warp (True) or blend (False); static.

    Returns:
        ``(B, T, H, W)`` float32 frames, 0..255.

    Raises:
        InputError: bad shapes, ``warp=True`` on a bank without landmarks, concrete weights
            outside [0, 1].

    Examples:
        >>> bank = face_bank(bundled_faces(jax.random.key(0), 2, 2, size=32))
        >>> frames = face_triplets(bank, jnp.array([[0, 2], [1, 3]]), triplet_male_weights(5))
        >>> frames.shape
        (2, 3, 32, 32)
    """
    if not isinstance(bank, FaceBank):
        raise InputError(f"bank must be a FaceBank (face_bank), got {type(bank).__name__}")
    pair_index = jnp.asarray(pair_index)
    male_weights = jnp.asarray(male_weights)
    if pair_index.ndim != 2 or pair_index.shape[1] != 2:
        raise InputError(f"pair_index must have shape (B, 2), got {pair_index.shape}")
    if not jnp.issubdtype(pair_index.dtype, jnp.integer):
        raise InputError(f"pair_index must be integer, got {pair_index.dtype}")
    if male_weights.ndim != 1:
        raise InputError(f"male_weights must have shape (T,), got {male_weights.shape}")
    require("male_weights", male_weights, lambda a: (a >= 0) & (a <= 1), "in [0, 1]")
    n = bank.images.shape[0]
    require("pair_index", pair_index, lambda a: (a >= 0) & (a < n), f"rows in [0, {n})")
    if warp and bank.landmarks.shape[1] == 0:
        raise InputError("warp=True needs landmarks; this bank has none (use warp=False: blends)")
    return _face_triplets(bank, pair_index.astype(jnp.int32), male_weights, bool(warp))


def sample_face_batch(
    key: jax.Array,
    bank: FaceBank,
    pairs: Int[ArrayLike, "P 2"],
    dissimilarity: Int[ArrayLike, ""],
    num_trials: int = 20,
    *,
    warp: bool = True,
) -> tuple[Float[Array, "B H W"], Float[Array, "B H W"], Float[Array, " B"]]:
    """A training batch: ``num_trials // 2`` random pairs, each giving both of its trials.

    Pairs are drawn uniformly with replacement from ``pairs`` (a fold's ``train_pairs`` mapped
    to bank rows); trial ``2i`` is the masculine-target trial of pair ``i`` (label 1), ``2i + 1``
    the feminine one (label 0), as the authors' database stored them. Noiseless: add noise with
    `vpl_jax.stimuli.network_input`.

    Args:
        key: PRNG key (which pairs).
        bank: the `FaceBank`.
        pairs: ``(P, 2)`` bank rows.
        dissimilarity: 1..5 (may be traced).
        num_trials: trials in the batch, even (20: the paper's batch).
        warp: as in `face_triplets`.

    Returns:
        ``(reference, target, labels)``: ``(num_trials, H, W)`` images and ``(num_trials,)``
        float32 labels 1, 0, 1, 0, ...
    """
    require("num_trials", num_trials, lambda a: (a >= 2) & (a % 2 == 0), "an even number >= 2")
    pairs = jnp.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise InputError(f"pairs must have shape (P, 2), got {pairs.shape}")
    chosen = pairs[jax.random.randint(key, (num_trials // 2,), 0, pairs.shape[0])]
    frames = face_triplets(bank, chosen, triplet_male_weights(dissimilarity), warp=warp)
    reference = jnp.repeat(frames[:, 0], 2, axis=0)
    target = frames[:, 1:3].reshape(num_trials, *frames.shape[2:])
    labels = jnp.tile(jnp.asarray([1.0, 0.0], jnp.float32), num_trials // 2)
    return reference, target, labels
