"""Tests for vpl_jax.faces: morph levels, preprocessing, warps, the loader, the generator, folds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from theory.checks import InputError
from vpl_jax import faces

SIZE = 96  # generator tests render small faces (fast); geometry scales with the size


# ------------------------------------------------------------------ morph levels and frames


def _make_percent_list(levels):
    """Transcription of the authors' ``make_percent_list`` (``data/high/morph.py``)."""
    nlevels = len(levels)
    levels = np.array(levels)
    pl = np.ones(nlevels * 2 + 1) * 0.5
    pl[:nlevels] += levels / 2
    pl[nlevels + 1 :] -= levels[::-1] / 2
    return pl.tolist()


def test_frames_and_male_weights_exactly():
    table = [1.0, 0.75, 0.65, 0.60, 0.55, 0.50, 0.45, 0.40, 0.35, 0.25, 0.0]
    assert faces.FRAMES == ("M5", "M4", "M3", "M2", "M1", "R", "F1", "F2", "F3", "F4", "F5")
    np.testing.assert_allclose(faces.FRAME_MALE_WEIGHTS, table, rtol=0, atol=1e-15)
    np.testing.assert_allclose(faces.frame_weights(), table, rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        faces.frame_weights(), _make_percent_list([1.0, 0.5, 0.3, 0.2, 0.1]), rtol=0, atol=0
    )
    weights = dict(zip(faces.FRAMES, faces.FRAME_MALE_WEIGHTS, strict=True))
    assert weights["R"] == faces.REFERENCE_WEIGHT == 0.5
    for d, offset in enumerate(faces.DISSIMILARITY_OFFSETS, start=1):
        assert weights[f"M{d}"] - 0.5 == pytest.approx(offset, abs=1e-12)
        assert 0.5 - weights[f"F{d}"] == pytest.approx(offset, abs=1e-12)
        np.testing.assert_allclose(
            faces.triplet_male_weights(d), [0.5, weights[f"M{d}"], weights[f"F{d}"]], atol=1e-7
        )
    np.testing.assert_allclose(faces.DISSIMILARITY_OFFSETS, [0.05, 0.10, 0.15, 0.25, 0.50])


def test_triplet_weights_trace_and_errors():
    jitted = jax.jit(faces.triplet_male_weights)
    np.testing.assert_allclose(jitted(jnp.int32(4)), [0.5, 0.75, 0.25], atol=1e-7)
    for bad in (0, 6, 2.5):
        with pytest.raises(InputError, match="dissimilarity must be 1..5"):
            faces.triplet_male_weights(bad)
    with pytest.raises(InputError, match="levels must be in"):
        faces.frame_weights([0.0, 0.5])


# ------------------------------------------------------------------ preprocessing


def _authors_load_frame(grey):
    """Transcription of the authors' ``load_frame`` after ``imread(flatten=1)``: crop 10,
    ``imresize`` (bytescale float to uint8, then PIL bilinear), < 5 to 125, 3x3 median."""
    from scipy.ndimage import median_filter

    img = grey[10:-10, 10:-10]
    cmin, cmax = img.min(), img.max()
    byte = ((img - cmin) * (255.0 / (cmax - cmin))).clip(0, 255) + 0.5
    pil = Image.fromarray(byte.astype(np.uint8), mode="L").resize((227, 227), Image.BILINEAR)
    img = np.asarray(pil).copy()
    img[img < 5] = 125
    return median_filter(img, 3)


def _synthetic_frame(rng, size=226):
    """A morph-like frame: black background, a bright shaded disk, a salt pixel."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(xx - size / 2, yy - size / 2)
    img = np.where(r < 80, 120 + 60 * np.cos(xx / 9.0) + rng.uniform(0, 5, (size, size)), 0.0)
    img[100, 100] = 255.0  # salt inside the disk: removed by the median filter
    return img.astype(np.float32)


def test_preprocess_matches_the_authors_pipeline():
    rng = np.random.default_rng(0)
    grey = _synthetic_frame(rng)
    got = faces.preprocess(grey)
    want = _authors_load_frame(grey)
    assert got.shape == (227, 227) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want.astype(np.float32))
    assert got[0, 0] == 125.0 and got[-1, -1] == 125.0  # black background -> 125
    assert got.max() <= 255 and np.all(got == np.round(got))
    # the same frame as RGB (equal channels) and as uint8 RGB gives the same result
    np.testing.assert_array_equal(faces.preprocess(np.stack([grey] * 3, -1)), got)
    red = np.zeros((40, 40, 3), np.float32)
    red[..., 0] = 255.0
    np.testing.assert_allclose(faces._grey(red), 0.299 * 255, rtol=1e-6)


def test_preprocess_removes_salt_and_maps_landmarks():
    img = np.full((226, 226), 100.0, np.float32)
    img[150, 150] = 50.0  # sets the bytescale minimum (inside the crop)
    img[57, 141] = 250.0  # one bright pixel
    assert faces.preprocess(img)[40:70, 130:160].max() < 100  # removed by the 3x3 median
    out = faces.preprocess(img, median=1)
    x, y = faces.preprocess_landmarks(np.array([[141.0, 57.0]]), img.shape)[0]
    cx, cy = _centroids(out - np.median(out), [(x, y)], radius=3)[0]
    assert abs(cx - x) < 0.2 and abs(cy - y) < 0.2, (cx - x, cy - y)


def test_preprocess_errors():
    with pytest.raises(InputError, match=r"image must have shape"):
        faces.preprocess(np.zeros((4, 4, 2)))
    with pytest.raises(InputError, match="crop must be"):
        faces.preprocess(np.zeros((30, 30)), crop=15)
    with pytest.raises(InputError, match="median must be"):
        faces.preprocess(np.zeros((60, 60)), median=2)


# ------------------------------------------------------------------ warps


def _blobs(points, shape, sigma=1.5):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape, np.float64)
    for x, y in points:
        out += 200.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return out.astype(np.float32)


def _centroids(image, points, radius=6):
    out = []
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    for x, y in points:
        win = (np.abs(xx - x) <= radius) & (np.abs(yy - y) <= radius)
        w = np.where(win, image, 0.0)
        out.append([np.sum(w * xx) / np.sum(w), np.sum(w * yy) / np.sum(w)])
    return np.asarray(out)


def _grid_points(rng, size=128, spacing=32, jitter=6.0):
    g = np.arange(spacing, size - spacing + 1, spacing, dtype=np.float64)
    base = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    return base + rng.uniform(-jitter, jitter, base.shape), base + rng.uniform(
        -jitter, jitter, base.shape
    )


def _ramps(shape):
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    return cols, rows


def _sample(image, points):
    from scipy.ndimage import map_coordinates

    return map_coordinates(np.asarray(image, np.float64), [points[:, 1], points[:, 0]], order=1)


def test_host_warp_maps_source_landmarks_onto_targets_subpixel():
    rng = np.random.default_rng(1)
    src, dst = _grid_points(rng)
    # the warped coordinate ramps hold the source position of every output pixel: at targets on
    # pixel centres they give the sources exactly, T(target) = source
    dst_int = np.round(dst)
    xs, ys = (faces.warp_image(r, src, dst_int, background=-1.0) for r in _ramps((128, 128)))
    rows, cols = dst_int[:, 1].astype(int), dst_int[:, 0].astype(int)
    np.testing.assert_allclose(np.stack([xs[rows, cols], ys[rows, cols]], 1), src, atol=1e-3)
    # between pixel centres the bilinear read-out of the kinked map stays sub-pixel
    xs, ys = (faces.warp_image(r, src, dst, background=-1.0) for r in _ramps((128, 128)))
    err = np.hypot(_sample(xs, dst) - src[:, 0], _sample(ys, dst) - src[:, 1])
    assert err.max() < 0.5, err.max()
    # blobs drawn at the sources land on the targets (a moderate warp; the centroid of a blob
    # straddling triangles with different affine maps moves by O(blob SD x strain))
    src, dst = _grid_points(rng, jitter=2.0)
    warped = faces.warp_image(_blobs(src, (128, 128)), src, dst, background=0.0)
    assert np.abs(_centroids(warped, dst) - dst).max() < 0.4
    # the identity warp leaves the image unchanged
    image = _blobs(src, (128, 128))
    np.testing.assert_allclose(faces.warp_image(image, src, src, background=0.0), image, atol=1e-3)


def _bank_from(images, landmarks, sex):
    return faces.face_bank(
        faces.FaceSet(
            np.asarray(images, np.float32),
            np.asarray(sex, np.int8),
            np.asarray(landmarks, np.float32),
            tuple(str(i) for i in range(len(sex))),
        )
    )


def test_device_warp_maps_landmarks_onto_the_interpolated_shape_subpixel():
    rng = np.random.default_rng(2)
    # integer female landmarks, male = female + 4 u (u in {-1, 0, 1}^2): at w in {0.25, 0.5,
    # 0.75} the interpolated shape S_w lies on pixel centres, where the map is read exactly
    src_f = np.round(_grid_points(rng)[0])
    src_m = src_f + 4.0 * rng.integers(-1, 2, src_f.shape)
    xs, ys = _ramps((128, 128))
    zero = np.zeros_like(xs)
    # male = a coordinate ramp, female = 0: frame / w is the male ramp warped onto S_w, so it
    # holds, at S_w, the male landmarks (and symmetrically for the female face)
    weights = jnp.asarray([0.75, 0.5, 0.25])
    for images, marks, want, scale in (
        ([xs, ys, zero], [src_m, src_m, src_f], src_m, np.asarray(weights)),
        ([zero, xs, ys], [src_m, src_f, src_f], src_f, 1 - np.asarray(weights)),
    ):
        bank = _bank_from(images, marks, [1, 0, 0] if want is src_f else [1, 1, 0])
        pairs = jnp.array([[0, 2], [1, 2]]) if want is src_m else jnp.array([[0, 1], [0, 2]])
        frames = np.asarray(faces.face_triplets(bank, pairs, weights))
        for t, w in enumerate(np.asarray(weights)):
            target = w * src_m + (1 - w) * src_f
            rows, cols = target[:, 1].astype(int), target[:, 0].astype(int)
            got = np.stack([frames[0, t][rows, cols], frames[1, t][rows, cols]], 1) / scale[t]
            np.testing.assert_allclose(got, want, atol=2e-3)
    # off the pixel grid (w = 0.7, jittered shapes) the bilinear read-out stays sub-pixel
    src_m, src_f = _grid_points(rng)
    bank = _bank_from([xs, ys, zero], [src_m, src_m, src_f], [1, 1, 0])
    frames = np.asarray(faces.face_triplets(bank, jnp.array([[0, 2], [1, 2]]), jnp.full(3, 0.7)))
    target = 0.7 * src_m + 0.3 * src_f
    got = np.stack([_sample(frames[0, 0], target), _sample(frames[1, 0], target)], 1) / 0.7
    assert np.abs(got - src_m).max() < 0.5
    # blobs: the morph's blended blobs sit on the interpolated landmarks
    src_m, src_f = _grid_points(rng, jitter=2.0)
    blobs = [_blobs(src_m, (128, 128)), _blobs(src_f, (128, 128)), zero]  # 3 rows: one program
    bank = _bank_from(blobs, [src_m, src_f, src_f], [1, 0, 0])
    frames = np.asarray(
        faces.face_triplets(bank, jnp.array([[0, 1], [0, 1]]), jnp.asarray([1.0, 0.6, 0.0]))
    )
    for t, w in enumerate((1.0, 0.6, 0.0)):
        target = w * src_m + (1 - w) * src_f
        assert np.abs(_centroids(frames[0, t], target) - target).max() < 0.4
    # w = 1 and w = 0 reproduce the originals (identity warps)
    np.testing.assert_allclose(frames[0, 0], bank.images[0], atol=2e-3)
    np.testing.assert_allclose(frames[0, 2], bank.images[1], atol=2e-3)


@pytest.fixture(scope="module")
def small_faces():
    """40 male and 40 female generated faces at SIZE px (shared by the generator tests)."""
    return faces.bundled_faces(jax.random.key(3), 40, 40, size=SIZE)


def test_device_morph_agrees_with_the_skimage_morph(small_faces):
    fs = small_faces
    bank = faces.face_bank(fs)
    pairs = np.stack([np.arange(10), 40 + np.arange(10)], 1)  # the shapes of the monotone test
    weights = jnp.asarray(faces.FRAME_MALE_WEIGHTS)
    got = np.asarray(faces.face_triplets(bank, jnp.asarray(pairs), weights))[:2, 8]  # F3: 0.35
    for (m, f), frame in zip(pairs[:2], got, strict=True):
        want = faces.morph(fs.images[m], fs.images[f], 0.35, fs.landmarks[m], fs.landmarks[f])
        diff = np.abs(frame - want)
        # one procedure; the triangulations (mean shape vs target shape) may differ locally
        assert diff.mean() < 0.05 and np.mean(diff > 1.0) < 0.005, (diff.mean(), diff.max())


def test_blend_triplets_are_exact_blends(small_faces):
    bank = faces.face_bank(small_faces)
    pairs = jnp.stack([jnp.arange(10), 79 - jnp.arange(10)], 1)
    w = jnp.asarray(faces.FRAME_MALE_WEIGHTS)
    got = faces.face_triplets(bank, pairs, w, warp=False)
    m, f = bank.images[pairs[:, 0]], bank.images[pairs[:, 1]]
    for t in range(11):
        np.testing.assert_allclose(got[:, t], w[t] * m + (1 - w[t]) * f, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(faces.blend(m, f, 0.5), got[:, 5], atol=1e-4)


def test_morph_host_blend_and_errors():
    a, b = np.full((8, 8), 200.0), np.full((8, 8), 100.0)
    np.testing.assert_allclose(faces.morph(a, b, 0.25), 125.0)
    with pytest.raises(InputError, match="male_weight must be in"):
        faces.morph(a, b, 1.5)
    with pytest.raises(InputError, match="given together"):
        faces.morph(a, b, 0.5, np.zeros((3, 2)))
    with pytest.raises(InputError, match="one size"):
        faces.morph(a, np.zeros((4, 4)), 0.5)
    with pytest.raises(InputError, match="source_points must have shape"):
        faces.warp_image(a, np.zeros((2, 2)), np.zeros((2, 2)))


def test_face_triplets_errors_and_no_recompile(small_faces):
    bank = faces.face_bank(small_faces)
    no_marks = faces.face_bank(small_faces._replace(landmarks=None))
    assert no_marks.landmarks.shape == (80, 0, 2)
    with pytest.raises(InputError, match="warp=True needs landmarks"):
        faces.face_triplets(no_marks, jnp.array([[0, 40]]), jnp.array([0.5]))
    with pytest.raises(InputError, match="pair_index must have shape"):
        faces.face_triplets(bank, jnp.array([0, 40]), jnp.array([0.5]))
    with pytest.raises(InputError, match="male_weights must be in"):
        faces.face_triplets(bank, jnp.array([[0, 40]]), jnp.array([1.5]))
    with pytest.raises(InputError, match="pair_index must be rows"):
        faces.face_triplets(bank, jnp.array([[0, 80]]), jnp.array([0.5]))
    # a new dissimilarity (traced weights) and new pairs reuse the compiled program
    step = jax.jit(lambda k, d: faces.sample_face_batch(k, bank, jnp.array([[0, 40], [1, 41]]), d))
    step(jax.random.key(0), jnp.int32(1))
    before = step._cache_size()
    ref, target, labels = step(jax.random.key(1), jnp.int32(5))
    assert step._cache_size() == before == 1
    assert ref.shape == target.shape == (20, SIZE, SIZE)
    np.testing.assert_array_equal(labels, np.tile([1.0, 0.0], 10))
    # both trials of a pair share the reference; at dissimilarity 5 targets are the originals
    np.testing.assert_array_equal(ref[0::2], ref[1::2])
    for i in range(10):  # at d = 5 the masculine target is the pair's male original (row 0 or 1)
        dist = min(float(jnp.abs(target[2 * i] - bank.images[j]).max()) for j in (0, 1))
        assert dist < 1e-2


# ------------------------------------------------------------------ generator


def test_generator_shapes_ranges_determinism(small_faces):
    fs = small_faces
    assert fs.images.shape == (80, SIZE, SIZE) and fs.images.dtype == np.float32
    assert fs.landmarks.shape == (80, faces.NUM_LANDMARKS, 2)
    assert fs.sex.tolist() == [1] * 40 + [0] * 40 and fs.names[0] == "male_0000"
    assert np.all((fs.images >= 0) & (fs.images <= 255))
    np.testing.assert_allclose(fs.images[:, 0, 0], faces.BACKGROUND, atol=1e-3)
    assert np.all((fs.landmarks > 0) & (fs.landmarks < SIZE - 1))
    again = faces.bundled_faces(jax.random.key(3), 40, 40, size=SIZE)
    np.testing.assert_array_equal(again.images, fs.images)
    other = faces.bundled_faces(jax.random.key(4), 40, 40, size=SIZE)
    assert np.abs(other.images - fs.images).mean() > 1.0
    assert faces.FaceParams._fields == tuple(p[0] for p in faces.FACE_PARAMETERS)


def test_landmarks_sit_on_the_rendered_features():
    size = SIZE
    p = faces.face_params(jax.random.key(5), jnp.array([1.0, -1.0]))
    img = np.asarray(faces.render_faces(p, size=size))
    dark = np.asarray(faces.render_faces(p._replace(skin=jnp.full(2, 0.3)), size=size))
    lm = np.asarray(faces.face_landmarks(p, size=size))
    for i in range(2):
        # the darkest pixel between the eye corners is the pupil, at the eye centre
        for a, b in ((36, 39), (42, 45)):
            cx, cy = (lm[i, a] + lm[i, b]) / 2
            x0, y0 = int(round(cx)), int(round(cy))
            win = img[i, y0 - 4 : y0 + 5, x0 - 4 : x0 + 5]
            r, c = np.unravel_index(np.argmin(win), win.shape)
            assert abs(c + x0 - 4 - cx) <= 1.5 and abs(r + y0 - 4 - cy) <= 1.5
        # jaw landmarks lie on the face outline: along a ray through each, the image (rendered
        # with dark skin) crosses half-way from skin to background within 1 px of the landmark
        centre = np.array([(size - 1) / 2, lm[i, 8, 1] - 60])
        t = np.linspace(-4, 6, 41)
        for j in range(17):
            d = (lm[i, j] - centre) / np.linalg.norm(lm[i, j] - centre)
            profile = _sample(dark[i], lm[i, j] + t[:, None] * d)
            assert faces.BACKGROUND - profile[0] > 20 and abs(profile[-1] - faces.BACKGROUND) < 1
            half = (profile[0] + faces.BACKGROUND) / 2
            crossing = t[np.argmax(profile > half)]
            assert abs(crossing) <= 1.0, (i, j, crossing)


def _classifier(images, sex):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = images[:, ::2, ::2].reshape(len(images), -1)  # half resolution: a faster fit
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000)).fit(x, sex)


def test_sex_axis_is_linearly_decodable_and_morphs_are_monotone(small_faces):
    train = faces.bundled_faces(jax.random.key(11), 60, 60, size=SIZE)
    clf = _classifier(train.images, train.sex)
    held_out = small_faces  # other identities
    acc = clf.score(held_out.images[:, ::2, ::2].reshape(80, -1), held_out.sex)
    assert acc >= 0.9, acc
    # planted null: the same classifier pipeline on shuffled labels of male-only faces is at chance
    null = faces.bundled_faces(jax.random.key(12), 120, 1, size=SIZE)
    rng = np.random.default_rng(0)
    fake = rng.permutation(np.r_[np.ones(60), np.zeros(60)])
    null_clf = _classifier(null.images[:120], fake)
    probe = faces.bundled_faces(jax.random.key(13), 80, 1, size=SIZE).images[:80]
    null_acc = null_clf.score(
        probe[:, ::2, ::2].reshape(80, -1), rng.permutation(np.r_[np.ones(40), np.zeros(40)])
    )
    assert null_acc < 0.7, null_acc
    # the morph continuum of held-out pairs is monotone along the classifier's decision value
    bank = faces.face_bank(held_out)
    pairs = jnp.stack([jnp.arange(10), 40 + jnp.arange(10)], 1)
    weights = jnp.asarray(faces.FRAME_MALE_WEIGHTS[::-1])  # F5 ... M5, increasing
    for warp in (True, False):
        frames = np.asarray(faces.face_triplets(bank, pairs, weights, warp=warp))
        dec = clf.decision_function(frames[..., ::2, ::2].reshape(10 * 11, -1)).reshape(10, 11)
        steps = np.diff(dec, axis=1)
        assert np.all(dec[:, -1] > dec[:, 0])
        assert np.mean(steps > 0) >= 0.95, (warp, np.mean(steps > 0))
        assert np.all(np.diff(dec.mean(0)) > 0)
    # parameter-space morphs are monotone as well
    p = faces.face_params(jax.random.key(3), jnp.r_[jnp.ones(40), -jnp.ones(40)])
    pm, pf = jax.tree.map(lambda a: a[0], p), jax.tree.map(lambda a: a[40], p)
    row = faces.interpolate_params(pm, pf, weights)
    dec = clf.decision_function(
        np.asarray(faces.render_faces(row, size=SIZE))[:, ::2, ::2].reshape(11, -1)
    )
    assert np.all(np.diff(dec) > 0)


def test_generator_errors():
    with pytest.raises(InputError, match="masculinity must be in"):
        faces.face_params(jax.random.key(0), jnp.array([2.0]))
    with pytest.raises(InputError, match=r"masculinity must have shape"):
        faces.face_params(jax.random.key(0), jnp.ones((2, 2)))
    p = faces.face_params(jax.random.key(0), jnp.array([1.0]))
    with pytest.raises(InputError, match="size must be >= 16"):
        faces.render_faces(p, size=8)
    with pytest.raises(InputError, match="num_female must be >= 1"):
        faces.bundled_faces(jax.random.key(0), 2, 0)


# ------------------------------------------------------------------ folds


def _authors_folds(n_male, n_female):
    """Transcription of the authors' fold loop (``morph.py``) on index lists."""
    males, females = list(range(n_male)), list(range(n_male, n_male + n_female))
    npair = min(n_male, n_female)
    np.random.seed(0)  # noqa: NPY002 (the authors' global seed)
    out = []
    for _ in range(12):
        np.random.shuffle(males)  # noqa: NPY002
        np.random.shuffle(females)  # noqa: NPY002
        m, f = males[:npair], females[:npair]
        out.append(
            (m[: 2 * npair // 3], f[: 2 * npair // 3], m[2 * npair // 3 :], f[2 * npair // 3 :])
        )
    return out


def test_folds_counts_disjointness_balance_and_determinism():
    sex = np.r_[np.ones(faces.PAPER_NUM_MALE), np.zeros(faces.PAPER_NUM_FEMALE)].astype(int)
    folds = faces.cv_folds(sex)
    assert len(folds) == faces.NUM_FOLDS == 12
    for fold in folds:
        assert fold.train_pairs.shape == (2401, 2) and fold.test_pairs.shape == (625, 2)
        assert len(fold.train_male) == len(fold.train_female) == 49
        assert len(fold.test_male) == len(fold.test_female) == 25
        train_ids = set(fold.train_pairs.ravel())
        test_ids = set(fold.test_pairs.ravel())
        assert not train_ids & test_ids  # no test identity is seen in training
        assert len(train_ids) == 98 and len(test_ids) == 50
        assert np.all(sex[fold.train_pairs[:, 0]] == 1) and np.all(sex[fold.train_pairs[:, 1]] == 0)
        assert np.all(sex[fold.test_pairs[:, 0]] == 1) and np.all(sex[fold.test_pairs[:, 1]] == 0)
        assert len({tuple(p) for p in fold.train_pairs}) == 2401
        _, labels = faces.pair_trials(fold.train_pairs)
        assert labels.shape == (4802,) and labels.sum() == 2401  # balanced
        pairs, labels = faces.evaluation_trials(fold.test_pairs)
        assert pairs.shape == (625, 2) and labels.sum() == 313
    # the authors' procedure, fold by fold
    for fold, (tm, tf, vm, vf) in zip(folds, _authors_folds(647, 74), strict=True):
        np.testing.assert_array_equal(fold.train_male, tm)
        np.testing.assert_array_equal(fold.train_female, tf)
        np.testing.assert_array_equal(fold.test_male, vm)
        np.testing.assert_array_equal(fold.test_female, vf)
    again = faces.cv_folds(sex)
    for a, b in zip(folds, again, strict=True):
        np.testing.assert_array_equal(a.train_pairs, b.train_pairs)
    other = faces.cv_folds(sex, seed=1)
    assert not np.array_equal(other[0].train_pairs, folds[0].train_pairs)


def test_fold_errors():
    sex = np.r_[np.ones(10), np.zeros(4)]
    with pytest.raises(InputError, match=r"per_sex must be in \[2, 4\]"):
        faces.cv_folds(sex, per_sex=5)
    with pytest.raises(InputError, match="train_per_sex must be in"):
        faces.cv_folds(sex, train_per_sex=4)
    with pytest.raises(InputError, match="sex must be 0"):
        faces.cv_folds(np.r_[np.ones(3), 2 * np.ones(3)])
    folds = faces.cv_folds(sex, num_folds=2)
    assert folds[0].train_pairs.shape == (4, 2) and folds[0].test_pairs.shape == (4, 2)


# ------------------------------------------------------------------ the loader


def _write_face(path, value, size=(60, 60)):
    img = np.zeros(size, np.uint8)
    img[15:45, 15:45] = value
    img[20, 20] = 255
    Image.fromarray(img).save(path)


def _good_folder(root, n=3, landmarks=False):
    for sex in ("male", "female"):
        (root / sex).mkdir(parents=True)
        for i in range(n):
            _write_face(root / sex / f"{sex}{i}.png", 60 + 40 * i + (sex == "female") * 10)
            if landmarks:
                pts = np.array([[15.0, 15.0], [44.0, 15.0], [30.0, 44.0 - i]])
                np.savetxt(
                    root / sex / f"{sex}{i}.csv", pts, delimiter=",", header="x,y", comments=""
                )
    return root


def test_loader_reads_a_folder_and_a_csv_the_same_way(tmp_path):
    root = _good_folder(tmp_path / "faces", landmarks=True)
    fs = faces.load_faces(root, size=64, crop=5)
    assert fs.images.shape == (6, 64, 64) and fs.sex.tolist() == [1, 1, 1, 0, 0, 0]
    assert fs.names[0] == "male/male0.png" and fs.names[3] == "female/female0.png"
    grey = np.asarray(Image.open(root / "male" / "male1.png").convert("F"))
    np.testing.assert_array_equal(fs.images[1], faces.preprocess(grey, size=64, crop=5))
    pts = np.loadtxt(root / "female" / "female2.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(
        fs.landmarks[5], faces.preprocess_landmarks(pts, (60, 60), size=64, crop=5), atol=1e-5
    )
    table = tmp_path / "faces.csv"
    lines = ["path,sex,landmarks"] + [
        f"faces/{s}/{s}{i}.png,{s},faces/{s}/{s}{i}.csv"
        for s in ("female", "male")
        for i in range(3)
    ]
    table.write_text("\n".join(lines) + "\n")
    fs2 = faces.load_faces(table, size=64, crop=5)
    order = [fs2.names.index(f"faces/{n}") for n in fs.names]
    np.testing.assert_array_equal(fs2.images[order], fs.images)
    np.testing.assert_allclose(fs2.landmarks[order], fs.landmarks)
    raw = faces.load_faces(root, preprocess_images=False)
    assert raw.images.shape == (6, 60, 60) and raw.images[0, 20, 20] == 255.0


def test_loader_reads_pts_landmarks(tmp_path):
    root = _good_folder(tmp_path / "faces")
    for p in sorted(root.glob("*/*.png")):
        p.with_suffix(".pts").write_text("version: 1\nn_points: 3\n{\n10 10\n50 10\n30 50\n}\n")
    fs = faces.load_faces(root, preprocess_images=False)
    np.testing.assert_allclose(fs.landmarks[0], [[10, 10], [50, 10], [30, 50]])


def test_loader_errors_on_bad_folders(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        faces.load_faces(tmp_path / "nowhere")
    only_male = tmp_path / "a"
    (only_male / "male").mkdir(parents=True)
    with pytest.raises(InputError, match=r"missing \['female'\]"):
        faces.load_faces(only_male)

    root = _good_folder(tmp_path / "b")
    (root / "male" / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        faces.load_faces(root)

    root = _good_folder(tmp_path / "c")
    (root / "female" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(InputError, match="unreadable image"):
        faces.load_faces(root)

    root = _good_folder(tmp_path / "d")
    data = (root / "male" / "male0.png").read_bytes()
    (root / "male" / "male0.png").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(InputError, match="unreadable image"):
        faces.load_faces(root)

    root = _good_folder(tmp_path / "e")
    _write_face(root / "female" / "big.png", 100, size=(70, 60))
    with pytest.raises(InputError, match="must have one size"):
        faces.load_faces(root)

    root = _good_folder(tmp_path / "f", n=1)
    with pytest.raises(InputError, match=r"too few male faces: need >= 2"):
        faces.load_faces(root)
    assert faces.load_faces(root, min_per_sex=1, size=32, crop=2).images.shape == (2, 32, 32)

    root = _good_folder(tmp_path / "g", landmarks=True)
    (root / "male" / "male0.csv").unlink()
    with pytest.raises(InputError, match="every image or none"):
        faces.load_faces(root)

    root = _good_folder(tmp_path / "h", landmarks=True)
    (root / "male" / "male0.csv").write_text("x,y\n1,2\nthree,4\n")
    with pytest.raises(InputError, match="line 3 must hold two numbers"):
        faces.load_faces(root)

    root = _good_folder(tmp_path / "i", landmarks=True)
    (root / "male" / "male0.csv").write_text("1,2\n3,4\n5,6\n7,8\n")
    with pytest.raises(InputError, match="same number of points"):
        faces.load_faces(root)

    root = _good_folder(tmp_path / "j", n=2)
    for p in sorted(root.glob("*/*.png")):
        p.with_suffix(".pts").write_text("version: 1\nn_points: 3\n{\n1 2\n3 4\n5 6\n}\n")
    (root / "male" / "male0.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n3 4\n")
    with pytest.raises(InputError, match="truncated or malformed"):
        faces.load_faces(root)

    table = tmp_path / "bad.csv"
    table.write_text("file,gender\nx.png,male\n")
    with pytest.raises(InputError, match="header must be path,sex"):
        faces.load_faces(table)
    _good_folder(tmp_path / "k")
    table.write_text("path,sex\nk/male/male0.png,boy\n")
    with pytest.raises(InputError, match="sex must be male/female"):
        faces.load_faces(table)
    table.write_text("path,sex\nk/male/missing.png,male\n")
    with pytest.raises(InputError, match="does not exist"):
        faces.load_faces(table)
