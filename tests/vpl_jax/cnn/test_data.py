"""CIFAR-10 readers on files written in the published formats; the offline object set."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import jax
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.cnn import data

N_PER_BATCH = 20  # tiny batches: the real ones hold 10,000 images


def _batch(seed: int, n: int = N_PER_BATCH):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = (np.arange(n) + seed) % 10
    return images, labels


def _rows(images):
    """CIFAR's row layout: 1024 red, 1024 green, 1024 blue values, each row-major."""
    return images.transpose(0, 3, 1, 2).reshape(images.shape[0], 3072)


def _write_python(folder: Path, *, meta=True):
    folder.mkdir(parents=True)
    truth = {}
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        images, labels = _batch(i)
        truth[name] = (images, labels)
        d = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": [int(v) for v in labels],
            b"data": _rows(images),
            b"filenames": [f"img_{k}.png".encode() for k in range(images.shape[0])],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2 if i % 2 else 4)  # 2: as the distributed files
    if meta:
        m = {
            b"num_cases_per_batch": N_PER_BATCH,
            b"label_names": [c.encode() for c in data.CIFAR10_CLASSES],
            b"num_vis": 3072,
        }
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump(m, f, protocol=2)
    return truth


def _write_binary(folder: Path):
    folder.mkdir(parents=True)
    truth = {}
    for i, name in enumerate([*(f"data_batch_{j}.bin" for j in range(1, 6)), "test_batch.bin"]):
        images, labels = _batch(10 + i)
        truth[name] = (images, labels)
        rec = np.concatenate([labels.astype(np.uint8)[:, None], _rows(images)], axis=1)
        (folder / name).write_bytes(rec.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(data.CIFAR10_CLASSES) + "\n\n")
    return truth


def _all(truth, names):
    return (
        np.concatenate([truth[n][0] for n in names]),
        np.concatenate([truth[n][1] for n in names]),
    )


def test_pickle_batch_decodes_pixels_and_labels(tmp_path):
    truth = _write_python(tmp_path / "cifar-10-batches-py")
    raw = (tmp_path / "cifar-10-batches-py" / "data_batch_3").read_bytes()
    x, y = data.read_cifar_pickle(raw, "data_batch_3")
    np.testing.assert_array_equal(x, truth["data_batch_3"][0])
    np.testing.assert_array_equal(y, truth["data_batch_3"][1])
    # the red channel of image 0 is the first 1024 bytes of its row, row-major
    np.testing.assert_array_equal(x[0, :, :, 0].ravel(), _rows(truth["data_batch_3"][0])[0, :1024])


def test_binary_batch_decodes_pixels_and_labels(tmp_path):
    truth = _write_binary(tmp_path / "b")
    x, y = data.read_cifar_binary((tmp_path / "b" / "test_batch.bin").read_bytes())
    np.testing.assert_array_equal(x, truth["test_batch.bin"][0])
    np.testing.assert_array_equal(y, truth["test_batch.bin"][1])


@pytest.mark.parametrize("fmt", ["python", "binary", "python-tar"])
def test_load_cifar10_code_split(tmp_path, fmt):
    if fmt == "binary":
        truth = _write_binary(tmp_path / "cifar-10-batches-bin")
        train_names = [f"data_batch_{j}.bin" for j in range(1, 6)]
        test_name = "test_batch.bin"
        path = tmp_path
    else:
        truth = _write_python(tmp_path / "cifar-10-batches-py")
        train_names = [f"data_batch_{j}" for j in range(1, 6)]
        test_name = "test_batch"
        path = tmp_path
        if fmt == "python-tar":
            path = tmp_path / "cifar-10-python.tar.gz"
            with tarfile.open(path, "w:gz") as tar:
                tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    s = data.load_cifar10(path, jax.random.key(0), split="code")
    x_all, y_all = _all(truth, train_names)
    # train + val is a partition of the training batches; test is the official test batch
    got = np.concatenate([s.train_images, s.val_images])
    assert got.shape[0] == x_all.shape[0] == 5 * N_PER_BATCH
    key = lambda a: sorted(map(bytes, a.reshape(a.shape[0], -1)))
    assert key(got) == key(x_all)
    np.testing.assert_array_equal(s.test_images, truth[test_name][0])
    np.testing.assert_array_equal(s.test_labels, truth[test_name][1])
    # stratified 80/20: 2 of each class's 10 images go to validation
    np.testing.assert_array_equal(np.bincount(s.val_labels, minlength=10), np.full(10, 2))
    assert s.class_names == data.CIFAR10_CLASSES
    # labels travel with their images
    lookup = {bytes(im.ravel()): lab for im, lab in zip(x_all, y_all, strict=True)}
    assert all(
        lookup[bytes(im.ravel())] == lab for im, lab in zip(s.val_images, s.val_labels, strict=True)
    )


def test_load_cifar10_paper_split_pools_all_images(tmp_path):
    _write_python(tmp_path / "cifar-10-batches-py")
    s = data.load_cifar10(tmp_path, jax.random.key(1))  # paper: 80/10/10 of all 120 images
    # 12 images per class: round(1.2) = 1 each to validation and test, per class
    assert (s.train_images.shape[0], s.val_images.shape[0], s.test_images.shape[0]) == (100, 10, 10)
    for y in (s.val_labels, s.test_labels):
        np.testing.assert_array_equal(np.bincount(y, minlength=10), np.ones(10))
    pooled = np.concatenate([s.train_images, s.val_images, s.test_images]).reshape(120, -1)
    assert len({bytes(r) for r in pooled}) == 120  # a partition of all 120 images


def test_truncated_binary_batch_is_named(tmp_path):
    _write_binary(tmp_path / "cifar-10-batches-bin")
    f = tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"data_batch_2\.bin must be a whole number of 3073-byte"):
        data.load_cifar10(tmp_path)


def test_truncated_pickle_is_named(tmp_path):
    _write_python(tmp_path / "cifar-10-batches-py")
    f = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    f.write_bytes(f.read_bytes()[:5000])
    with pytest.raises(InputError, match="data_batch_4 is not a readable CIFAR-10 pickle"):
        data.load_cifar10(tmp_path)


def test_pickle_with_wrong_row_length_or_label_count(tmp_path):
    d = {b"data": np.zeros((4, 3000), np.uint8), b"labels": [0, 1, 2, 3]}
    with pytest.raises(InputError, match=r"data must be a uint8 array of shape \(N, 3072\)"):
        data.read_cifar_pickle(pickle.dumps(d, protocol=2), "bad")
    d = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]}
    with pytest.raises(InputError, match=r"labels must hold one label per image \(4\)"):
        data.read_cifar_pickle(pickle.dumps(d, protocol=2), "bad")
    d = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}
    with pytest.raises(InputError, match="labels must be in 0..9"):
        data.read_cifar_pickle(pickle.dumps(d, protocol=2), "bad")


def test_pickle_with_code_is_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(InputError, match="refusing to load builtins.print"):
        data.read_cifar_pickle(pickle.dumps({b"data": Evil()}), "evil")


def test_binary_label_out_of_range(tmp_path):
    rec = np.zeros((2, 3073), np.uint8)
    rec[1, 0] = 11
    with pytest.raises(InputError, match="labels must be in 0..9"):
        data.read_cifar_binary(rec.tobytes(), "x.bin")


def test_meta_with_wrong_class_count(tmp_path):
    _write_binary(tmp_path / "cifar-10-batches-bin")
    (tmp_path / "cifar-10-batches-bin" / "batches.meta.txt").write_text("a\nb\n")
    with pytest.raises(InputError, match="batches.meta.txt must name 10 classes"):
        data.load_cifar10(tmp_path)


def test_missing_batches_and_bad_paths(tmp_path):
    with pytest.raises(InputError, match="must be an existing CIFAR-10 folder"):
        data.load_cifar10(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="must hold the CIFAR-10 batches"):
        data.load_cifar10(tmp_path / "empty")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file at all")
    with pytest.raises(InputError, match="is not a readable tar archive"):
        data.load_cifar10(junk)
    with pytest.raises(InputError, match="split must be 'paper' or 'code'"):
        data.load_cifar10(tmp_path, split="other")


def test_oversized_file_is_refused_before_reading(tmp_path):
    """A (sparse) 300 MB batch is refused from its declared size, before any byte is read."""
    _write_binary(tmp_path / "cifar-10-batches-bin")
    with open(tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin", "r+b") as f:
        f.truncate(300 * 2**20)
    with pytest.raises(InputError, match=r"data_batch_1\.bin declares 314572800 bytes"):
        data.load_cifar10(tmp_path)


def test_truncated_tar_member_is_named(tmp_path):
    _write_python(tmp_path / "cifar-10-batches-py")
    path = tmp_path / "c.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match=r"truncated|not a readable tar archive"):
        data.load_cifar10(path)


# --------------------------------------------------------------------------------------------
# Offline object set


def test_scan_stamps_classes_and_exclusions(tmp_path):
    files = {
        "animals/birds/crow.png": "bird",
        "animals/mammals/pig.png": "mammal",
        "animals/mammals/aquatic/otter.png": "sea_animal",  # the longest folder wins
        "animals/mammals/cats/cartoon/tom.png": None,  # drawings are skipped
        "animals/mammals/bears/toys/teddy.png": None,
        "vehicles/auto/sedan.png": "vehicle",
        "vehicles/auto/sedan_mirror.png": None,
        "symbols/math/plus.png": None,  # no class
        "plants/trees/oak.png": "plant",
    }
    for rel in files:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    got = dict(data.scan_stamps(tmp_path))
    assert got == {k: v for k, v in files.items() if v is not None}


def test_build_stamp_bank_crops_and_centres_rgba(tmp_path):
    import PIL.Image

    rgba = np.zeros((40, 100, 4), np.uint8)
    rgba[10:30, 20:80] = (200, 50, 10, 255)  # a 20 x 60 opaque box
    folder = tmp_path / "animals" / "birds"
    folder.mkdir(parents=True)
    PIL.Image.fromarray(rgba, "RGBA").save(folder / "box.png")
    PIL.Image.fromarray(rgba[..., :3], "RGB").convert("P").save(folder / "flat.png")
    bank = data.build_stamp_bank(tmp_path, size=30)
    assert bank.images.shape[1:] == (30, 30, 4)
    alpha = bank.images[0, ..., 3] > 128
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    assert cols.size == 30 and rows.size == 10  # longest side 60 -> 30 px, 20 -> 10 px
    assert abs(rows.mean() - 14.5) < 0.6  # centred
    np.testing.assert_allclose(bank.images[0, 15, 15, :3], (200, 50, 10), atol=2)
    assert bank.labels.tolist() == [0] * bank.labels.size


def test_setup_stamps_with_a_substituted_runner(tmp_path):
    import PIL.Image

    calls = []

    class Done:
        returncode, stderr = 0, ""

    def fake_run(cmd, **kw):
        calls.append(cmd[:2])
        if cmd[:2] == ["dpkg-deb", "-x"]:
            folder = Path(cmd[3]) / "usr/share/tuxpaint/stamps/food/fruit"
            folder.mkdir(parents=True)
            img = np.zeros((8, 8, 4), np.uint8)
            img[2:6, 2:6] = 255
            PIL.Image.fromarray(img, "RGBA").save(folder / "apple.png")
        else:
            (Path(kw["cwd"]) / "pkg_1_all.deb").write_bytes(b"")
        return Done()

    path = data.setup_stamps(tmp_path, run=fake_run)
    assert calls == [["apt-get", "download"], ["dpkg-deb", "-x"]]
    bank = data.load_stamps(tmp_path)
    assert bank.names == ("food/fruit/apple.png",)
    assert bank.class_names[bank.labels[0]] == "fruit"
    assert path.with_suffix(".json").exists()


def test_load_stamps_absent_says_how_to_fetch(tmp_path):
    with pytest.raises(InputError, match="vpl-jax cnn setup"):
        data.load_stamps(tmp_path)


def test_split_objects_is_disjoint_and_stratified(key):
    labels = np.repeat(np.arange(4), [3, 5, 10, 20])
    tr, va, te = data.split_objects(key, labels)
    assert set(tr).isdisjoint(va) and set(tr).isdisjoint(te) and set(va).isdisjoint(te)
    assert np.concatenate([tr, va, te]).size == labels.size
    for c in range(4):
        assert (labels[va] == c).sum() >= 1 and (labels[te] == c).sum() >= 1
        assert (labels[tr] == c).sum() >= 1
    with pytest.raises(InputError, match="needs >= 3 objects"):
        data.split_objects(key, np.array([0, 0, 1, 1, 1]))


def test_render_composites_object_over_background(key):
    obj = np.zeros((1, 16, 16, 4), np.uint8)
    obj[0, :, :] = (255, 0, 0, 255)  # a fully opaque red square
    bg = np.zeros((1, 40, 40, 3), np.uint8)
    bg[..., 2] = 255  # a blue background
    cfg = data.RenderConfig(
        object_size=(10.0, 10.0), background_crop=(32.0, 40.0), margin=0.0, jitter=0.0
    )
    img = np.asarray(data.render(key, obj, bg, np.zeros(8, int), config=cfg))
    red = (img[..., 0] > 200) & (img[..., 2] < 50)
    blue = (img[..., 2] > 200) & (img[..., 0] < 50)
    # a 10 x 10 object: about 100 red pixels (edges are blended), the rest blue
    assert np.all(np.abs(red.sum((1, 2)) - 100) <= 20)
    assert np.all(red.sum((1, 2)) + blue.sum((1, 2)) >= 32 * 32 - 45)


def test_offline_dataset_pipeline_on_synthetic_shapes(key):
    bank = data.shape_bank(key, num_classes=3, per_class=4, size=16)
    bg = np.full((2, 48, 48, 3), 90, np.uint8)
    cfg = data.RenderConfig(object_size=(12.0, 20.0), background_crop=(32.0, 48.0))
    s = data.offline_dataset(
        jax.random.key(3), bank, num_train=12, num_val=12, num_test=12, backgrounds=bg, config=cfg
    )
    assert s.train_images.shape == (12, 32, 32, 3) and s.train_images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(s.train_labels), [4, 4, 4])
    np.testing.assert_array_equal(np.bincount(s.test_labels), [4, 4, 4])
    assert s.class_names == ("3-gon", "4-gon", "5-gon")
    assert (s.train_images != 90).any(axis=-1).sum() > 12 * 50  # objects were drawn


def test_shape_bank_has_requested_vertices(key):
    bank = data.shape_bank(key, num_classes=2, per_class=3, size=32)
    assert bank.images.shape == (6, 32, 32, 4)
    assert bank.labels.tolist() == [0, 0, 0, 1, 1, 1]
    # a triangle covers less of its circumscribed disc than a square does
    area = (bank.images[..., 3] > 0).sum((1, 2)) / bank.images[..., 3].size
    assert area[:3].mean() < area[3:].mean()
    with pytest.raises(InputError, match="per_class must be >= 3"):
        data.shape_bank(key, per_class=2)


@pytest.mark.skipif(not data.stamps_path().is_file(), reason="stamp photos not fetched")
def test_cached_stamps_hold_ten_classes():
    bank = data.load_stamps()
    assert len(bank.class_names) == 10
    assert np.bincount(bank.labels, minlength=10).min() >= 3
