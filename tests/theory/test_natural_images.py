"""Tests for theory.natural_images: offline photo loading and keyed patch sampling."""

import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import natural_images as ni
from theory.checks import InputError


def test_every_listed_photo_loads_offline_as_grey_unit_range():
    photos = ni.load_photos()
    assert len(photos) == len(ni.PHOTO_NAMES) == 15
    for name, img in zip(ni.PHOTO_NAMES, photos, strict=True):
        assert img.ndim == 2 and img.dtype == np.float64, name
        assert min(img.shape) >= 150, name
        assert 0.0 <= img.min() and img.max() <= 1.0, name
        assert img.std() > 0.02, name  # a real photograph, not a constant
    for excluded in ("text", "page", "checkerboard", "logo", "colorwheel", "horse", "cell"):
        assert excluded not in ni.PHOTO_NAMES
        assert excluded in ni.EXCLUDED


def test_scale_resamples():
    full = ni.load_photo("camera")
    half = ni.load_photo("camera", scale=0.5)
    assert half.shape == (full.shape[0] // 2, full.shape[1] // 2)
    np.testing.assert_allclose(half.mean(), full.mean(), atol=5e-3)


def _stack():
    a = np.arange(6 * 7, dtype=np.float64).reshape(6, 7)
    b = 1000.0 + np.arange(5 * 9, dtype=np.float64).reshape(5, 9)
    return (a, b), ni.pack((a, b), jnp.float64)


def _locate(images, patch):
    for im in images:
        h, w = patch.shape
        for r in range(im.shape[0] - h + 1):
            for c in range(im.shape[1] - w + 1):
                if np.array_equal(im[r : r + h, c : c + w], patch):
                    return True
    return False


def test_patches_are_exact_crops_and_cover_both_images():
    images, stack = _stack()
    patches = np.asarray(ni.sample_patches(jax.random.key(3), stack, 60, size=4))
    assert patches.shape == (60, 4, 4)
    assert all(_locate(images, p) for p in patches)
    from_b = patches[:, 0, 0] >= 1000
    assert 0 < from_b.sum() < 60  # both photos are drawn
    # every valid corner of the small image can occur: rows 0..2, cols 0..3 for image a
    corners = {(int(p[0, 0]) // 7, int(p[0, 0]) % 7) for p in patches[~from_b]}
    assert corners <= {(r, c) for r in range(3) for c in range(4)}


def test_flips_mirror_columns_and_keys_are_deterministic():
    images, stack = _stack()
    p = np.asarray(ni.sample_patches(jax.random.key(5), stack, 40, size=3, flips=True))
    mirrored = [not _locate(images, q) and _locate(images, q[:, ::-1]) for q in p]
    assert 0 < sum(mirrored) < 40
    assert all(_locate(images, q) or _locate(images, q[:, ::-1]) for q in p)
    again = np.asarray(ni.sample_patches(jax.random.key(5), stack, 40, size=3, flips=True))
    np.testing.assert_array_equal(p, again)


def test_power_law_noise_has_the_requested_spectrum():
    img = np.asarray(ni.power_law_noise(jax.random.key(0), 128, exponent=2.0))
    assert abs(img.mean()) < 1e-12 and abs(img.std() - 1) < 1e-12
    power = np.abs(np.fft.fft2(img)) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
    bins = np.logspace(np.log10(2 / 128), np.log10(0.5), 12)
    idx = np.digitize(f, bins)
    fb = [f[idx == i].mean() for i in range(1, 11)]
    pb = [power[idx == i].mean() for i in range(1, 11)]
    slope = np.polyfit(np.log(fb), np.log(pb), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.15)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ni.load_photo("text"), r"name must be one of"),
        (lambda: ni.load_photo("camera", scale=1.5), r"scale must lie in \(0, 1\]"),
        (lambda: ni.load_photos(()), r"at least one photo"),
        (lambda: ni.pack(()), r"at least one image"),
        (lambda: ni.pack((np.ones((2, 2, 3)),)), r"images\[0\] must be 2-D"),
        (
            lambda: ni.sample_patches(jax.random.key(0), _stack()[1], 0),
            r"num_patches must be an integer >= 1",
        ),
        (
            lambda: ni.sample_patches(jax.random.key(0), _stack()[1], 3, size=6),
            r"size must be <= the smallest photo side \(5 px\)",
        ),
        (lambda: ni.power_law_noise(jax.random.key(0), 1), r"size must be an integer >= 2"),
        (lambda: ni.power_law_noise(jax.random.key(0), 8, exponent=-1.0), r"exponent must be >= 0"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Additions: Qt resource files, Debian photo banks (cached), colour photos
# --------------------------------------------------------------------------------------------


def _write_rcc(files: dict[str, bytes], *, version: int = 3, compress: tuple[str, ...] = ()):
    """A binary Qt resource file in rcc's layout (header, names, data, breadth-first tree)."""
    tree: dict = {}
    for path, blob in files.items():
        node = tree
        parts = path.strip("/").split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (path, blob)
    names, name_offsets = bytearray(), {}

    def name_offset(name):
        if name not in name_offsets:
            name_offsets[name] = len(names)
            h = 0
            for ch in name:  # qt_hash
                h = ((h << 4) + ord(ch)) & 0xFFFFFFFF
                h = (h ^ ((h & 0xF0000000) >> 23)) & 0x0FFFFFFF
            names.extend(struct.pack(">HI", len(name), h) + name.encode("utf-16-be"))
        return name_offsets[name]

    data = bytearray()
    nodes = [("", tree)]  # breadth-first; children of a directory are contiguous
    records = []
    i = 0
    while i < len(nodes):
        name, content = nodes[i]
        if isinstance(content, dict):
            first = len(nodes)
            children = sorted(content.items())
            nodes.extend(children)
            records.append(("dir", name, len(children), first))
        else:
            path, blob = content
            flags = 0
            if path in compress:
                blob, flags = struct.pack(">I", len(blob)) + zlib.compress(blob), 1
            records.append(("file", name, flags, len(data)))
            data.extend(struct.pack(">I", len(blob)) + blob)
        i += 1
    node_size = 14 if version == 1 else 22
    body = bytearray()
    for kind, name, a, b in records:
        noff = name_offset(name) if name else 0
        if kind == "dir":
            body += struct.pack(">IHII", noff, 2, a, b)
        else:
            body += struct.pack(">IHHHI", noff, a, 0, 0, b)
        if version >= 2:
            body += struct.pack(">Q", 0)
        assert len(body) % node_size == 0
    header = 24 if version >= 3 else 20
    names_at = header
    data_at = names_at + len(names)
    tree_at = data_at + len(data)
    head = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at)
    if version >= 3:
        head += struct.pack(">I", 0)
    return bytes(head + names + data + body)


def _tiny_image(fmt: str, colour=(200, 40, 10)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    arr = np.clip(rng.normal(0, 30, (20, 30, 3)) + np.array(colour), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_read_qt_resources_reads_every_entry_of_a_real_format_file(tmp_path, version):
    files = {
        "/gcompris/src/activities/erase/resource/bee.webp": _tiny_image("WEBP"),
        "/gcompris/src/activities/erase/resource/readme": b"hello",
        "/gcompris/other/Erase.qml": b"import QtQuick 2.12\n" * 50,
    }
    path = tmp_path / "erase.rcc"
    path.write_bytes(_write_rcc(files, version=version, compress=("/gcompris/other/Erase.qml",)))
    got = ni.read_qt_resources(path)
    assert got == files
    assert ni.read_qt_resources(path.read_bytes()) == files


def test_read_qt_resources_names_truncation_and_corruption(tmp_path):
    blob = _write_rcc({"/a/b.webp": b"x" * 100, "/a/c.txt": b"yy"}, compress=("/a/c.txt",))
    with pytest.raises(InputError, match=r"no 'qres' header"):
        ni.read_qt_resources(b"PK\x03\x04" + blob[4:])
    with pytest.raises(InputError, match=r"format version 9"):
        ni.read_qt_resources(blob[:4] + struct.pack(">I", 9) + blob[8:])
    with pytest.raises(InputError, match=r"beyond the end|truncated|declares"):
        ni.read_qt_resources(blob[: len(blob) // 2])
    corrupt = bytearray(blob)
    k = corrupt.index(zlib.compress(b"yy")[2:4])  # inside the zlib stream of /a/c.txt
    corrupt[k] ^= 0xFF
    with pytest.raises(InputError, match=r"corrupted zlib data|unpacked"):
        ni.read_qt_resources(bytes(corrupt))
    (tmp_path / "x.rcc").write_bytes(b"qres")
    with pytest.raises(InputError, match=r"x\.rcc: not a readable Qt resource"):
        ni.read_qt_resources(tmp_path / "x.rcc")


def _fake_apt(tmp_path: Path):
    """A runner that answers `apt-get download` with a real .deb built by `dpkg-deb --build`."""
    calls = []

    def runner(cmd, cwd):
        calls.append(list(cmd))
        if cmd[:2] == ["apt-get", "download"]:
            package = cmd[2]
            root = tmp_path / f"pkg_{package}"
            shutil.rmtree(root, ignore_errors=True)
            (root / "DEBIAN").mkdir(parents=True)
            (root / "DEBIAN" / "control").write_text(
                f"Package: {package}\nVersion: 1.2-3\nArchitecture: all\n"
                "Maintainer: t <t@example.org>\nDescription: test\n"
            )
            if package == "tuxpaint-data":
                d = root / "usr/share/tuxpaint/templates"
                d.mkdir(parents=True)
                (d / "cliff.jpg").write_bytes(_tiny_image("JPEG", (90, 120, 200)))
                (d / "rocks.jpg").write_bytes(_tiny_image("JPEG", (120, 120, 120)))
                (d / "notes.txt").write_text("not a photo")
            elif package == "gcompris-qt-data":
                d = root / "usr/share/gcompris-qt/rcc"
                d.mkdir(parents=True)
                rcc = {"/g/erase/gorilla.webp": _tiny_image("WEBP"), "/g/erase/a.qml": b"x"}
                (d / "erase.rcc").write_bytes(_write_rcc(rcc))
            subprocess.run(
                ["dpkg-deb", "--build", "--root-owner-group", str(root), str(cwd)],
                check=True,
                capture_output=True,
            )
            return ""
        done = subprocess.run(list(cmd), cwd=cwd, check=True, capture_output=True, text=True)
        return done.stdout

    return runner, calls


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fetch_debian_photos_caches_listed_photos_with_a_checked_manifest(tmp_path):
    cache = tmp_path / "cache"
    runner, calls = _fake_apt(tmp_path)
    got = ni.fetch_debian_photos(["tuxpaint", "gcompris_animals"], cache=cache, runner=runner)
    assert [p.name for p in got["tuxpaint"]] == ["cliff.jpg", "rocks.jpg"]
    assert [p.name for p in got["gcompris_animals"]] == ["erase__gorilla.webp"]
    manifest = json.loads((cache / "photos/tuxpaint/manifest.json").read_text())
    assert manifest["package"] == "tuxpaint-data" and manifest["version"] == "1.2-3"
    assert manifest["files"][0]["source"] == "usr/share/tuxpaint/templates/cliff.jpg"
    src = json.loads((cache / "photos/gcompris_animals/manifest.json").read_text())
    assert src["files"][0]["source"] == "usr/share/gcompris-qt/rcc/erase.rcc:/g/erase/gorilla.webp"
    assert ni.bank_files("tuxpaint", cache=cache) == got["tuxpaint"]
    assert ni.bank_files("mate_nature", cache=cache) == ()
    # cached: no second download
    n_calls = len(calls)
    assert ni.fetch_debian_photos(["tuxpaint"], cache=cache, runner=runner) == {
        "tuxpaint": got["tuxpaint"]
    }
    assert len(calls) == n_calls
    names, imgs = ni.load_bank("auto", cache=cache, colour=True)
    assert names == (
        "tuxpaint/cliff.jpg",
        "tuxpaint/rocks.jpg",
        "gcompris_animals/erase__gorilla.webp",
    )
    assert all(im.shape == (20, 30, 3) for im in imgs)
    np.testing.assert_allclose(imgs[0].mean(axis=(0, 1)), np.array([90, 120, 200]) / 255, atol=0.05)
    _, grey = ni.load_bank("tuxpaint", cache=cache, max_side=15)
    assert grey[0].shape == (10, 15)
    with pytest.raises(InputError, match=r"bank 'debian' needs every Debian bank cached"):
        ni.load_bank("debian", cache=cache)
    got["tuxpaint"][0].write_bytes(b"altered")
    with pytest.raises(InputError, match=r"cliff\.jpg: listed in .* but missing or altered"):
        ni.bank_files("tuxpaint", cache=cache)


def test_auto_bank_falls_back_to_the_bundled_photos(tmp_path):
    names, imgs = ni.load_bank("auto", cache=tmp_path, colour=True, max_side=64)
    assert names == tuple(f"bundled/{n}" for n in ni.COLOUR_PHOTO_NAMES)
    assert all(im.ndim == 3 and im.shape[2] == 3 and max(im.shape[:2]) <= 64 for im in imgs)
    assert all(0.0 <= im.min() and im.max() <= 1.0 for im in imgs)
    # colour photos are really colour: the channels differ
    assert all(np.abs(im[..., 0] - im[..., 2]).mean() > 0.01 for im in imgs)


def test_colour_photo_matches_greyscale_loader():
    import skimage.color

    rgb = ni.load_colour_photo("chelsea")
    np.testing.assert_allclose(skimage.color.rgb2gray(rgb), ni.load_photo("chelsea"), atol=1e-12)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VPL_JAX_CACHE", str(tmp_path))
    assert ni.cache_dir() == tmp_path
    monkeypatch.delenv("VPL_JAX_CACHE")
    assert ni.cache_dir() == Path.home() / ".cache" / "vpl_jax"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ni.load_colour_photo("camera"), r"name must be one of"),
        (lambda: ni.load_colour_photo("chelsea", scale=0.0), r"scale must lie in \(0, 1\]"),
        (lambda: ni.load_bank("imagenet"), r"bank must be one of"),
        (lambda: ni.fetch_debian_photos(["nope"]), r"banks must be names from"),
        (lambda: ni.fetch_debian_photos([]), r"banks must name at least one"),
        (lambda: ni.load_photo_file("/nonexistent.jpg"), r"cannot decode the image"),
        (lambda: ni.load_photo_file("/nonexistent.jpg", max_side=3), r"max_side must be None"),
    ],
)
def test_bank_bad_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_uncached_bank_says_how_to_fetch(tmp_path):
    with pytest.raises(InputError, match=r"bank 'mate_nature' is not cached .*fetch_debian_photos"):
        ni.load_bank("mate_nature", cache=tmp_path)
