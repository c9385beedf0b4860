"""Tests for vpl_jax.v1.data on a fixture written here in the published layout: a pickled dict
of NumPy arrays (``images (n, 140, 140)`` uint8, ``responses (4, n, N)`` with NaN for missing
trials and for the empty repeats of 2-repeat neurons, ``image_ids``/``image_types`` as (n, 1)
columns, ``repetitions``, ``subject_id``), as the authors' ``cadena_ploscb_data.pkl``."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.v1 import data


def _record(n_images: int = 20, n_neurons: int = 5, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    reps = np.array([2, 4, 4, 2, 4])[:n_neurons]
    resp = rng.poisson(2.0, (4, n_images, n_neurons)).astype(np.float64)
    resp[2:, :, reps == 2] = np.nan
    resp[0, 3, 1] = np.nan  # a missing trial
    types = np.array(data.IMAGE_TYPES * (n_images // 5 + 1))[:n_images]
    return {
        "images": rng.integers(0, 256, (n_images, 140, 140)).astype(np.uint8),
        "responses": resp,
        "image_ids": (np.arange(n_images) // 5)[:, None],
        "image_types": types[:, None].astype(object),
        "repetitions": reps,
        "subject_id": np.where(reps == 2, 1, 2),
    }


def _write(path, record) -> None:
    with open(path, "wb") as f:
        pickle.dump(record, f, protocol=2)


def test_loads_the_published_layout(tmp_path):
    rec = _record()
    path = tmp_path / "cadena_ploscb_data.pkl"
    _write(path, rec)
    d = data.load(path)
    assert (d.num_reps, d.num_images, d.num_neurons) == (4, 20, 5)
    assert d.images.shape == (20, 140, 140) and d.images.dtype == np.float32
    np.testing.assert_array_equal(d.images, rec["images"])
    np.testing.assert_array_equal(np.isnan(d.responses), np.isnan(rec["responses"]))
    assert d.image_types.tolist()[:5] == list(data.IMAGE_TYPES)
    assert d.image_ids.shape == (20,) and d.repetitions.tolist() == [2, 4, 4, 2, 4]
    # save -> load round trip in both formats
    for fmt in ("pkl", "npz"):
        out = data.save(d, tmp_path / f"again.{fmt}", format=fmt)
        back = data.load(out)
        np.testing.assert_array_equal(back.images, d.images)
        np.testing.assert_array_equal(
            np.nan_to_num(back.responses, nan=-1), np.nan_to_num(d.responses, nan=-1)
        )
        assert back.image_types.tolist() == d.image_types.tolist()


def test_loader_errors(tmp_path):
    def write(name, rec):
        path = tmp_path / name
        _write(path, rec)
        return path

    rec = _record()
    with pytest.raises(InputError, match=r"key 'subject_id' is missing"):
        data.load(write("a.pkl", {k: v for k, v in rec.items() if k != "subject_id"}))
    with pytest.raises(InputError, match=r"'responses' must have rank 3"):
        data.load(write("b.pkl", {**rec, "responses": rec["responses"][0]}))
    with pytest.raises(InputError, match=r"'images' holds 19 images but 'responses' 20"):
        data.load(write("c.pkl", {**rec, "images": rec["images"][:19]}))
    with pytest.raises(InputError, match=r"'repetitions' must hold one entry per neuron \(5\)"):
        data.load(write("d.pkl", {**rec, "repetitions": rec["repetitions"][:4]}))
    with pytest.raises(InputError, match=r"'repetitions' must lie in 1..4"):
        data.load(write("e.pkl", {**rec, "repetitions": np.array([2, 4, 5, 2, 4])}))
    neg = rec["responses"].copy()
    neg[0, 0, 0] = -1
    with pytest.raises(InputError, match=r"spike counts >= 0"):
        data.load(write("f.pkl", {**rec, "responses": neg}))
    with pytest.raises(InputError, match=r"expected a pickled dict"):
        data.load(write("g.pkl", [1, 2, 3]))
    full = (tmp_path / "a.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(full[: len(full) // 2])
    with pytest.raises(InputError, match=r"cut\.pkl: not a readable pickle \(truncated"):
        data.load(tmp_path / "cut.pkl")
    # a pickle that asks for code is refused, not run
    buf = io.BytesIO()
    pickle.dump({"images": __import__("os").getcwd}, buf)
    (tmp_path / "evil.pkl").write_bytes(buf.getvalue())
    with pytest.raises(InputError, match=r"asks for posix\.getcwd.*refusing"):
        data.load(tmp_path / "evil.pkl")
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(InputError, match=r"the file is empty"):
        data.load(tmp_path / "empty.pkl")
    with pytest.raises(InputError, match=r"no such data file"):
        data.load(tmp_path / "missing.pkl")
    # .npz: sizes are checked from the headers before any array is read
    np.savez(tmp_path / "bad.npz", **{**rec, "image_types": np.array(["a"] * 3)})
    with pytest.raises(InputError, match=r"'image_types' must hold one entry per image \(20\)"):
        data.load(tmp_path / "bad.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "bad.npz").read_bytes()[:200])
    with pytest.raises(InputError, match=r"not a readable \.npz archive"):
        data.load(tmp_path / "cut.npz")


def test_cosine_mask_and_contrast_matching():
    m = data.cosine_mask()
    c = 69.5
    y, x = np.mgrid[0:140, 0:140]
    r = np.hypot(y - c, x - c)
    assert np.all(m[r <= 35] == 1.0) and np.all(m[r >= 70] == 0.0)
    sel = (r > 35) & (r < 70)
    np.testing.assert_allclose(m[sel], 0.5 * (1 + np.cos(np.pi * (r[sel] - 35) / 35)), rtol=1e-12)
    np.testing.assert_allclose(m[np.abs(r - 52.5) < 0.3], 0.5, atol=0.02)  # half way down
    rng = np.random.default_rng(1)
    raw = rng.normal(0, 1, (4, 140, 140)) * np.array([5.0, 10, 20, 40])[:, None, None] + 100
    matched = data.contrast_match(raw)
    disc = r <= 35
    np.testing.assert_allclose(matched[:, disc].mean(axis=1), 128.0, atol=1e-9)
    target = np.mean(raw[:, disc].std(axis=1))  # the average disc SD over images
    np.testing.assert_allclose(matched[:, disc].std(axis=1), target, rtol=1e-9)
    shown = data.display_images(raw)
    assert shown.min() >= 0 and shown.max() <= 255
    np.testing.assert_allclose(shown[:, r >= 70], 128.0)  # the grey background outside
    with pytest.raises(InputError, match=r"uniform there"):
        data.contrast_match(np.ones((2, 140, 140)))


def test_model_inputs_crop_subsample_scales():
    rng = np.random.default_rng(2)
    imgs = rng.uniform(0, 255, (3, 140, 140))
    x = data.model_inputs(imgs)
    ref = imgs[:, 30:-30:2, 30:-30:2]
    np.testing.assert_allclose(x, (ref - ref.mean()) / ref.std(), rtol=1e-5, atol=1e-5)
    for scale, size in data.SCALE_SIZES.items():
        y = data.model_inputs(imgs, scale=scale, method="bicubic")
        assert y.shape == (3, size, size)
        np.testing.assert_allclose([y.mean(), y.std()], [0.0, 1.0], atol=1e-5)
    # bicubic at scale 1 is close to a smooth image's subsampling
    smooth = np.broadcast_to(np.sin(np.arange(140) / 9.0)[None, None, :] * 50 + 128, (1, 140, 140))
    a = data.model_inputs(smooth, method="bicubic")
    b = data.model_inputs(smooth)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
    with pytest.raises(InputError, match=r"scale must be one of"):
        data.model_inputs(imgs, scale=2.0)
    with pytest.raises(InputError, match=r"use method='bicubic'"):
        data.model_inputs(imgs, scale=1.5)


def test_split_reproduces_the_authors_procedure():
    n = 100
    s = data.split_images(n)
    np.testing.assert_array_equal(s.test, np.arange(80, 100))  # the last 20 %
    perm = np.random.RandomState(1000).permutation(80)
    np.testing.assert_array_equal(s.train, np.sort(perm[:64]))
    np.testing.assert_array_equal(s.val, np.sort(perm[64:]))
    assert len(np.intersect1d(s.train, s.val)) == 0
    types = np.array(data.IMAGE_TYPES * 20)
    t = data.split_images(n, image_types=types, train_types="conv1", test_types=["original"])
    assert set(types[np.concatenate([t.train, t.val])]) == {"conv1"}
    assert set(types[t.test]) == {"original"} and t.test.min() >= 80
    with pytest.raises(InputError, match=r"image type 'conv9' does not occur"):
        data.split_images(n, image_types=types, train_types="conv9")
    with pytest.raises(InputError, match=r"test_fraction must lie in \(0, 1\)"):
        data.split_images(n, test_fraction=1.0)


def test_trial_arrays_mask_and_repeat_filling():
    rec = _record()
    resp = rec["responses"].astype(np.float32)
    images = np.array([0, 3, 7])
    t = data.trial_arrays(resp, images)
    assert t.image_index.tolist() == [0, 3, 7] * 4
    np.testing.assert_array_equal(t.mask, ~np.isnan(resp[:, images].reshape(12, 5)))
    assert t.mask[1, 1] == 0 and t.responses[1, 1] == 0  # the missing trial (rep 0, image 3)
    f = data.trial_arrays(resp, images, repetitions=rec["repetitions"], fill_repeats=True)
    two = rec["repetitions"] == 2
    # repeats 3-4 of the 2-repeat neurons are copies of repeats 1-2
    np.testing.assert_array_equal(f.responses[6:12][:, two], f.responses[0:6][:, two])
    assert f.mask[:, two].all()
    np.testing.assert_array_equal(f.responses[:, ~two], t.responses[:, ~two])


def test_variances_and_inclusion_against_loops():
    rec = _record(n_images=30, seed=3)
    resp = rec["responses"]
    noise, total = [], []
    for n in range(resp.shape[2]):
        per_image = [
            np.var(v[~np.isnan(v)], ddof=1) for v in resp[:, :, n].T if np.sum(~np.isnan(v)) >= 2
        ]
        noise.append(np.mean(per_image))
        allv = resp[:, :, n][~np.isnan(resp[:, :, n])]
        total.append(np.var(allv, ddof=1))
    np.testing.assert_allclose(data.noise_variance(resp), noise, rtol=1e-12)
    np.testing.assert_allclose(data.total_variance(resp), total, rtol=1e-12)
    ratio = data.explainable_variance_ratio(resp)
    np.testing.assert_allclose(ratio, (np.array(total) - noise) / total, rtol=1e-12)
    # planted effect: a reliable neuron passes the 0.15 rule, a pure-noise one does not
    rng = np.random.default_rng(4)
    rate = rng.uniform(0.5, 8, 400)
    planted = np.stack([rng.poisson(np.broadcast_to(rate, (4, 400))),
                        rng.poisson(np.full((4, 400), 3.0))], axis=-1).astype(float)  # fmt: skip
    keep = data.inclusion_mask(planted)
    assert keep.tolist() == [True, False]
    sub = data.select_neurons(data.V1Data(
        images=np.zeros((400, 2, 2), np.float32), responses=planted.astype(np.float32),
        image_ids=np.arange(400), image_types=np.array(["original"] * 400),
        repetitions=np.array([4, 4]), subject_id=np.array([1, 2])), keep)  # fmt: skip
    assert sub.num_neurons == 1 and sub.subject_id.tolist() == [1]
