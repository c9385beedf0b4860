"""Tests for vpl_jax.weights: every format written here in its real on-disk form, then loaded.

Caffe files are encoded by a small protobuf *writer* in this file, independent of the library's
reader, following the field numbers of BVLC/caffe ``src/caffe/proto/caffe.proto``:
NetParameter.layer = 100 / .layers = 2; LayerParameter name = 1, type = 2, blobs = 7;
V1LayerParameter layer = 1, name = 4, type = 5 (CONVOLUTION = 4, INNER_PRODUCT = 14), blobs = 6;
V0LayerParameter name = 1, type = 2, blobs = 50; BlobProto num/channels/height/width = 1-4,
data = 5 (packed float), shape = 7 (BlobShape.dim = 1, packed int64), double_data = 8.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest

from vpl_jax import alexnet, weights
from vpl_jax.weights import WeightsError

CAFFE = alexnet.CAFFE_ALEXNET
TORCHVISION = alexnet.TORCHVISION_ALEXNET
TV_KEYS = ["features.0", "features.3", "features.6", "features.8", "features.10"]


# ---------------------------------------------------------------------------------------------
# An independent protobuf writer (wire format: varint keys, length-delimited and packed fields)
# ---------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _int_field(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _blob(arr: np.ndarray, *, legacy: bool = False, double: bool = False) -> bytes:
    """BlobProto bytes: either ``shape`` (7) or legacy num/channels/height/width (1-4)."""
    out = b""
    if legacy:
        dims = (1,) * (4 - arr.ndim) + arr.shape
        for field, d in zip((1, 2, 3, 4), dims, strict=True):
            out += _int_field(field, d)
    if double:
        out += _len_field(8, np.ascontiguousarray(arr, "<f8").tobytes())
    else:
        out += _len_field(5, np.ascontiguousarray(arr, "<f4").tobytes())
    if not legacy:
        out += _len_field(7, _len_field(1, b"".join(_varint(d) for d in arr.shape)))
    return out


def _layer(name: str, kind: str, blobs: list[bytes], form: str) -> bytes:
    """One layer message; ``form`` is ``layer`` (V2), ``layers`` (V1) or ``v0`` (V0 in V1)."""
    if form == "layer":
        body = _len_field(1, name.encode()) + _len_field(2, kind.encode())
        body += b"".join(_len_field(7, b) for b in blobs)
        return _len_field(100, body)
    if form == "layers":
        code = {"Convolution": 4, "InnerProduct": 14, "ReLU": 18, "Pooling": 17, "Data": 5}[kind]
        body = _len_field(4, name.encode()) + _int_field(5, code)
        body += b"".join(_len_field(6, b) for b in blobs)
        return _len_field(2, body)
    v0_type = {"Convolution": "conv", "InnerProduct": "innerproduct"}.get(kind, kind.lower())
    v0 = _len_field(1, name.encode()) + _len_field(2, v0_type.encode())
    v0 += b"".join(_len_field(50, b) for b in blobs)
    return _len_field(2, _len_field(1, v0))


def _caffe_bytes(layers_oihw: dict, form: str = "layer", *, legacy_blobs=False, double=False):
    """A NetParameter in the order of bvlc_alexnet's deploy net, with non-weight layers and fc."""
    rng = np.random.default_rng(7)
    fc = {
        "fc6": (rng.standard_normal((8, 12)), rng.standard_normal(8)),
        "fc7": (rng.standard_normal((8, 8)), rng.standard_normal(8)),
        "fc8": (rng.standard_normal((4, 8)), rng.standard_normal(4)),
    }
    out = _len_field(1, b"AlexNet")
    for name, (w, b) in layers_oihw.items():
        blobs = [_blob(w, legacy=legacy_blobs, double=double)]
        if b is not None:
            blobs.append(_blob(b, legacy=legacy_blobs, double=double))
        out += _layer(name, "Convolution", blobs, form)
        out += _layer(name.replace("conv", "relu"), "ReLU", [], form)
    for name, (w, b) in fc.items():
        out += _layer(name, "InnerProduct", [_blob(w), _blob(b)], form)
    return out


# ---------------------------------------------------------------------------------------------
# Known random weights in each file layout
# ---------------------------------------------------------------------------------------------


def _hwio_params(arch: alexnet.ArchSpec, in_channels: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = alexnet.param_shapes(dataclasses.replace(arch, in_channels=in_channels))
    return {
        layer: {
            "w": rng.standard_normal(s["w"]).astype(np.float32),
            "b": rng.standard_normal(s["b"]).astype(np.float32),
        }
        for layer, s in shapes.items()
    }


def _oihw(params: dict) -> dict:
    return {
        k: (np.ascontiguousarray(v["w"].transpose(3, 2, 0, 1)), v["b"]) for k, v in params.items()
    }


@pytest.fixture(scope="module")
def grey_params():
    """Known 1-channel Caffe AlexNet params (HWIO, float32)."""
    return _hwio_params(CAFFE, 1, seed=1)


@pytest.fixture(scope="module")
def colour_params():
    """Known 3-channel Caffe AlexNet params; conv1 input channels in the file's order (BGR)."""
    return _hwio_params(CAFFE, 3, seed=2)


@pytest.fixture(scope="module")
def tv_params():
    """Known torchvision AlexNet params (HWIO, conv1 channels RGB)."""
    return _hwio_params(TORCHVISION, 3, seed=3)


def _assert_params_equal(got, expected):
    assert set(got) == set(expected)
    for layer in expected:
        for name in ("w", "b"):
            g = np.asarray(got[layer][name])
            assert g.dtype == np.float32, (layer, name, g.dtype)
            np.testing.assert_array_equal(g, expected[layer][name], err_msg=f"{layer}/{name}")


def _grey_sum(w3: np.ndarray) -> np.ndarray:
    return w3.astype(np.float64).sum(axis=2, keepdims=True).astype(np.float32)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tv_state(params: dict) -> dict:
    state = {}
    for key, p in zip(TV_KEYS, params.values(), strict=True):
        state[f"{key}.weight"] = np.ascontiguousarray(p["w"].transpose(3, 2, 0, 1))
        state[f"{key}.bias"] = p["b"]
    rng = np.random.default_rng(11)
    state["classifier.1.weight"] = rng.standard_normal((16, 9216)).astype(np.float32)
    state["classifier.1.bias"] = rng.standard_normal(16).astype(np.float32)
    return state


# ---------------------------------------------------------------------------------------------
# Caffe
# ---------------------------------------------------------------------------------------------


def test_caffemodel_layer_field_one_channel_exact(tmp_path, grey_params):
    path = _write(tmp_path / "weights_1c.caffemodel", _caffe_bytes(_oihw(grey_params), "layer"))
    params, arch, meta = weights.load_with_info(path)
    _assert_params_equal(params, grey_params)
    assert arch == CAFFE
    assert meta["source"]["format"] == "caffemodel"
    assert meta["source"]["layer_fields"] == ["layer"]
    assert meta["source"]["ignored_layers"] == ["fc6", "fc7", "fc8"]
    assert meta["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["conversion"]["rgb_to_grey"] is None  # 1-channel: nothing converted


def test_caffemodel_legacy_layers_three_channel_sum_and_keep(tmp_path, colour_params):
    data = _caffe_bytes(_oihw(colour_params), "layers", legacy_blobs=True)
    path = _write(tmp_path / "bvlc_alexnet.caffemodel", data)

    grey, arch, meta = weights.load_with_info(path)  # default rgb_to_grey="sum"
    expected = {k: dict(v) for k, v in colour_params.items()}
    expected["conv1"] = {
        "w": _grey_sum(colour_params["conv1"]["w"]),
        "b": colour_params["conv1"]["b"],
    }
    _assert_params_equal(grey, expected)
    assert arch == CAFFE and arch.in_channels == 1
    assert meta["source"]["layer_fields"] == ["layers (V1)"]
    assert meta["conversion"]["rgb_to_grey"] == "sum"
    assert meta["conversion"]["source_channel_order"] == "bgr"

    kept, arch3, _ = weights.load_with_info(path, rgb_to_grey="keep")
    expected["conv1"] = {
        "w": colour_params["conv1"]["w"][:, :, ::-1, :],  # Caffe BGR -> our RGB
        "b": colour_params["conv1"]["b"],
    }
    _assert_params_equal(kept, expected)
    assert arch3.in_channels == 3 and arch3.convs == CAFFE.convs


def test_caffemodel_v0_layers_and_double_data(tmp_path, grey_params):
    as64 = {
        k: (w.astype(np.float64), b.astype(np.float64)) for k, (w, b) in _oihw(grey_params).items()
    }
    path = _write(tmp_path / "old.caffemodel", _caffe_bytes(as64, "v0", double=True))
    params, _, meta = weights.load_with_info(path)
    _assert_params_equal(params, grey_params)  # float32 -> float64 -> float32 is exact
    assert meta["source"]["layer_fields"] == ["layers (V0)"]
    assert meta["conversion"]["source_dtype"] == ["float64"]


def test_caffemodel_any_extension_is_recognised(tmp_path, grey_params):
    path = _write(tmp_path / "snapshot_iter_1000", _caffe_bytes(_oihw(grey_params)))
    _assert_params_equal(weights.load(path), grey_params)


# ---------------------------------------------------------------------------------------------
# bvlc_alexnet.npy, safetensors, torch
# ---------------------------------------------------------------------------------------------


def test_bvlc_alexnet_npy_dict(tmp_path, colour_params):
    rng = np.random.default_rng(5)
    d = {k: [v["w"], v["b"]] for k, v in colour_params.items()}
    d["fc6"] = [rng.standard_normal((9216, 8)).astype(np.float32), np.zeros(8, np.float32)]
    d["fc8"] = [rng.standard_normal((8, 4)).astype(np.float32), np.zeros(4, np.float32)]
    path = tmp_path / "bvlc_alexnet.npy"
    np.save(path, d, allow_pickle=True)

    params, arch, meta = weights.load_with_info(path, rgb_to_grey="keep")
    expected = {k: dict(v) for k, v in colour_params.items()}
    expected["conv1"] = {"w": colour_params["conv1"]["w"][:, :, ::-1, :], "b": d["conv1"][1]}
    _assert_params_equal(params, expected)
    assert arch.in_channels == 3 and meta["source"]["ignored_layers"] == ["fc6", "fc8"]
    grey = weights.load(path, rgb_to_grey="sum")
    np.testing.assert_array_equal(grey["conv1"]["w"], _grey_sum(colour_params["conv1"]["w"]))


def test_safetensors_torchvision_state_dict(tmp_path, tv_params):
    from safetensors.numpy import save_file

    path = tmp_path / "alexnet.safetensors"
    save_file(_tv_state(tv_params), str(path))
    params, arch, meta = weights.load_with_info(path, rgb_to_grey="keep")
    _assert_params_equal(params, tv_params)  # torchvision is RGB already: no reordering
    assert arch == TORCHVISION
    assert sorted(meta["source"]["ignored_layers"]) == ["classifier.1.bias", "classifier.1.weight"]
    grey, arch1, _ = weights.load_with_info(path)
    np.testing.assert_array_equal(grey["conv1"]["w"], _grey_sum(tv_params["conv1"]["w"]))
    assert arch1.in_channels == 1 and arch1.convs == TORCHVISION.convs


def test_torch_pth_state_dict(tmp_path, tv_params):
    torch = pytest.importorskip("torch", reason="PyTorch (optional extra 'torch') not installed")
    from collections import OrderedDict

    state = OrderedDict((k, torch.from_numpy(v.copy())) for k, v in _tv_state(tv_params).items())
    path = tmp_path / "alexnet-owt-test.pth"
    torch.save(state, path)
    _assert_params_equal(weights.load(path, rgb_to_grey="keep"), tv_params)
    # A training checkpoint wrapping the state_dict, saved from nn.DataParallel ("module.").
    wrapped = {"epoch": 3, "state_dict": OrderedDict((f"module.{k}", v) for k, v in state.items())}
    torch.save(wrapped, tmp_path / "ckpt.pt")
    _, _, meta = weights.load_with_info(tmp_path / "ckpt.pt", rgb_to_grey="keep")
    _assert_params_equal(weights.load(tmp_path / "ckpt.pt", rgb_to_grey="keep"), tv_params)
    assert meta["source"]["state_dict_key"] == "state_dict"
    assert meta["source"]["stripped_prefix"] == "module."


def test_pth_without_torch_explains(tmp_path, monkeypatch):
    path = _write(tmp_path / "alexnet.pth", b"\x80\x02}q\x00.")  # a (legacy) torch pickle
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(WeightsError, match=r"alexnet\.pth.*needs PyTorch.*vpl-jax\[torch\]"):
        weights.load(path)


# ---------------------------------------------------------------------------------------------
# Colour -> grey
# ---------------------------------------------------------------------------------------------


def _conv_valid(x: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    """Direct 'valid' convolution in float64: x (H, W, C), w (kh, kw, C, O) -> (H', W', O)."""
    kh, kw = w.shape[:2]
    rows = range(0, x.shape[0] - kh + 1, stride)
    cols = range(0, x.shape[1] - kw + 1, stride)
    out = np.empty((len(rows), len(cols), w.shape[3]))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            out[i, j] = np.einsum("hwc,hwco->o", x[r : r + kh, c : c + kw], w)
    return out


def test_sum_equals_feeding_the_grey_image_to_all_three_channels(tmp_path, colour_params):
    path = _write(tmp_path / "c.caffemodel", _caffe_bytes(_oihw(colour_params), "layer"))
    w_grey = np.asarray(weights.load(path, rgb_to_grey="sum")["conv1"]["w"], np.float64)
    w_rgb = np.asarray(weights.load(path, rgb_to_grey="keep")["conv1"]["w"], np.float64)
    image = np.random.default_rng(0).uniform(-125, 130, (19, 19, 1))  # network units
    grey_response = _conv_valid(image, w_grey, stride=4)
    colour_response = _conv_valid(np.repeat(image, 3, axis=2), w_rgb, stride=4)
    assert grey_response.shape == (3, 3, 96)
    np.testing.assert_allclose(grey_response, colour_response, rtol=1e-5, atol=1e-3)
    # ... and it is the same in JAX's convolution (HWIO kernels, NHWC images).
    jax_grey = jax.lax.conv_general_dilated(
        image[None].astype(np.float32),
        w_grey.astype(np.float32),
        (4, 4),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    np.testing.assert_allclose(np.asarray(jax_grey[0]), colour_response, rtol=1e-4, atol=1e-2)


def test_mean_and_luminance_respect_channel_order(colour_params):
    w_bgr = colour_params["conv1"]["w"]
    w_rgb = np.ascontiguousarray(w_bgr[:, :, ::-1, :])
    b, g, r = (w_bgr[:, :, i, :].astype(np.float64) for i in range(3))
    lum = weights.conv1_to_grey(w_bgr, "luminance", channel_order="bgr")
    np.testing.assert_allclose(
        lum[:, :, 0], 0.299 * r + 0.587 * g + 0.114 * b, rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(lum, weights.conv1_to_grey(w_rgb, "luminance", "rgb"))
    mean = weights.conv1_to_grey(w_bgr, "mean", "bgr")
    np.testing.assert_allclose(mean[:, :, 0], (r + g + b) / 3, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(weights.conv1_to_grey(w_bgr, "keep", "bgr"), w_rgb)
    with pytest.raises(ValueError, match="rgb_to_grey must be one of"):
        weights.conv1_to_grey(w_bgr, "average")


# ---------------------------------------------------------------------------------------------
# Our own format
# ---------------------------------------------------------------------------------------------


def test_save_load_round_trip_exact(tmp_path, grey_params, colour_params):
    recipe = {"optimizer": "sgd", "lr": 1e-4, "steps": [1, 2, 3]}
    path = weights.save(grey_params, tmp_path / "w.npz", arch="caffe_alexnet", metadata=recipe)
    params, arch, meta = weights.load_with_info(path)
    _assert_params_equal(params, grey_params)
    assert arch == CAFFE and meta["extra"] == recipe
    assert meta["arrays_sha256"] == weights.params_sha256(grey_params)
    assert meta["file"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

    # 3-channel Caffe params need an architecture with 3 input channels; round trip keeps it.
    arch3 = dataclasses.replace(CAFFE, in_channels=3)
    path3 = weights.save(colour_params, tmp_path / "w3.npz", arch=arch3)
    params3, got_arch3, _ = weights.load_with_info(path3)
    _assert_params_equal(params3, colour_params)
    assert got_arch3 == arch3
    with pytest.raises(ValueError, match=r"conv1.*\(11, 11, 1, 96\).*\(11, 11, 3, 96\)"):
        weights.save(colour_params, tmp_path / "bad.npz", arch=CAFFE)


def test_save_refuses_to_overwrite_unless_asked(tmp_path, grey_params):
    path = weights.save(grey_params, tmp_path / "w.npz", arch=CAFFE, metadata={"n": 1})
    before = path.read_bytes()
    with pytest.raises(weights.WeightsError, match=r"w\.npz: already exists; pass overwrite=True"):
        weights.save(grey_params, path, arch=CAFFE, metadata={"n": 2})
    assert path.read_bytes() == before  # untouched
    assert not list(tmp_path.glob(".w.npz.*"))  # and no temporary file left
    weights.save(grey_params, path, arch=CAFFE, metadata={"n": 2}, overwrite=True)
    assert weights.load_with_info(path)[2]["extra"] == {"n": 2}


def test_convert_records_provenance_and_describe(tmp_path, colour_params):
    src = _write(tmp_path / "bvlc_alexnet.caffemodel", _caffe_bytes(_oihw(colour_params)))
    dst = weights.convert(src, tmp_path / "grey.npz", rgb_to_grey="sum", metadata={"note": "x"})
    direct = weights.load(src)
    converted, arch, meta = weights.load_with_info(dst)
    _assert_params_equal(converted, jax.tree.map(np.asarray, direct))
    assert arch == CAFFE
    assert meta["source"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert meta["source"]["file"] == "bvlc_alexnet.caffemodel"
    assert meta["conversion"]["rgb_to_grey"] == "sum" and meta["extra"] == {"note": "x"}

    text = weights.describe(dst)
    for needle in ("caffe_alexnet", "conv5", "(3, 3, 192, 256)", meta["file"]["sha256"], "sum"):
        assert needle in text
    assert "converted from: format=caffemodel, file=bvlc_alexnet.caffemodel" in text
    assert "metadata:      note: x" in text and "(in full)" not in text
    full = weights.describe(dst, metadata=True)
    assert full.endswith('{\n "note": "x"\n}')
    default = weights.describe("default")  # a short readable summary, not a 16 kB JSON line
    assert max(len(line) for line in default.splitlines()) < 300
    foreign = weights.describe(src)  # a foreign file shows its colour conv1 and ignored layers
    assert "(11, 11, 3, 96)" in foreign and "fc6, fc7, fc8" in foreign

    with pytest.raises(WeightsError, match="already exists"):
        weights.convert(src, dst)
    weights.convert("random:3", dst, overwrite=True)
    assert weights.load_with_info(dst)[2]["source"]["seed"] == 3


# ---------------------------------------------------------------------------------------------
# default and random
# ---------------------------------------------------------------------------------------------


def test_default_without_bundled_weights_explains(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "default_weights_path", lambda: tmp_path / "default_weights.npz")
    with pytest.raises(WeightsError, match=r"(?s)no bundled default weights.*convert.*random:SEED"):
        weights.load("default")


def test_default_loads_the_bundled_file(tmp_path, monkeypatch, grey_params):
    bundled = weights.save(grey_params, tmp_path / "default_weights.npz", arch=CAFFE)
    monkeypatch.setattr(weights, "default_weights_path", lambda: bundled)
    _assert_params_equal(weights.load("default"), grey_params)


def test_random_seed_is_explicit_and_deterministic():
    a, b, c = weights.load("random:5"), weights.load("random:5"), weights.load("random:6")
    ref = alexnet.init_params(jax.random.key(5), CAFFE)
    for layer in ref:
        np.testing.assert_array_equal(a[layer]["w"], b[layer]["w"])
        np.testing.assert_array_equal(a[layer]["w"], ref[layer]["w"])
    assert not np.array_equal(a["conv3"]["w"], c["conv3"]["w"])
    tv = weights.load("random:0", arch="torchvision_alexnet")
    assert tv["conv1"]["w"].shape == (11, 11, 3, 64)
    with pytest.raises(WeightsError, match=r"integer seed in \[0, 2\*\*31\)"):
        weights.load("random:abc")


# ---------------------------------------------------------------------------------------------
# Errors: every message names the file, and the layer with expected vs found shapes
# ---------------------------------------------------------------------------------------------


def _without(params_oihw: dict, layer: str) -> dict:
    return {k: v for k, v in params_oihw.items() if k != layer}


def test_caffe_missing_layer(tmp_path, grey_params):
    path = _write(tmp_path / "m.caffemodel", _caffe_bytes(_without(_oihw(grey_params), "conv3")))
    with pytest.raises(WeightsError, match=r"m\.caffemodel: layer 'conv3' .*missing"):
        weights.load(path)


def test_caffe_missing_bias(tmp_path, grey_params):
    layers = _oihw(grey_params)
    layers["conv4"] = (layers["conv4"][0], None)
    path = _write(tmp_path / "nb.caffemodel", _caffe_bytes(layers))
    with pytest.raises(WeightsError, match=r"nb\.caffemodel: layer 'conv4': expected 2 blobs"):
        weights.load(path)


def test_caffe_wrong_shape_names_expected_and_found(tmp_path, grey_params):
    layers = _oihw(grey_params)
    layers["conv2"] = (np.zeros((256, 96, 5, 5), np.float32), layers["conv2"][1])  # no groups
    path = _write(tmp_path / "s.caffemodel", _caffe_bytes(layers))
    with pytest.raises(
        WeightsError,
        match=r"s\.caffemodel: layer 'conv2' .*expected shape \(256, 48, 5, 5\).*found \(256, 96, 5, 5\)",
    ):
        weights.load(path)


def test_caffe_wrong_channel_count(tmp_path, grey_params):
    layers = _oihw(grey_params)
    layers["conv1"] = (np.zeros((96, 2, 11, 11), np.float32), layers["conv1"][1])
    path = _write(tmp_path / "c2.caffemodel", _caffe_bytes(layers))
    with pytest.raises(
        WeightsError, match=r"c2\.caffemodel: layer 'conv1' .*1 \(grey\) or 3.*found 2"
    ):
        weights.load(path)


def test_wrong_architecture(tmp_path, grey_params, tv_params):
    path = _write(tmp_path / "a.caffemodel", _caffe_bytes(_oihw(grey_params)))
    with pytest.raises(
        WeightsError,
        match=r"a\.caffemodel: layer 'conv1' .*expected shape \(64, 1, 11, 11\).*'torchvision_alexnet'.*found \(96, 1, 11, 11\)",
    ):
        weights.load(path, arch="torchvision_alexnet")
    own = weights.save(tv_params, tmp_path / "tv.npz", arch=TORCHVISION)
    with pytest.raises(
        WeightsError,
        match=r"tv\.npz: the file holds architecture 'torchvision_alexnet', asked for 'caffe_alexnet'; layer 'conv1' 'w': expected shape \(11, 11, 3, 96\)",
    ):
        weights.load(own, arch=CAFFE)


def test_caffe_truncated_names_the_layer(tmp_path, grey_params):
    data = _caffe_bytes(_oihw(grey_params))
    # Cut inside conv4's weights: protobuf rejects the message, the diagnosis says where.
    cut = data.index(b"conv4") + 100_000
    path = _write(tmp_path / "t.caffemodel", data[:cut])
    with pytest.raises(
        WeightsError,
        match=r"(?s)t\.caffemodel: not a readable Caffe NetParameter.*ends inside layer 'conv4'.*declares [\d,]+ bytes, only [\d,]+ are present.*\['conv1', 'relu1', 'conv2', 'relu2', 'conv3', 'relu3'\]",
    ):
        weights.load(path)
    # Cut exactly after a complete layer: the message parses, conv5 is reported missing.
    whole = data[
        : data.index(_layer("relu4", "ReLU", [], "layer"))
        + len(_layer("relu4", "ReLU", [], "layer"))
    ]
    path2 = _write(tmp_path / "t2.caffemodel", whole)
    with pytest.raises(WeightsError, match=r"t2\.caffemodel: layer 'conv5' .*missing"):
        weights.load(path2)


def test_caffe_corrupted_blob_shape_and_garbage(tmp_path, grey_params):
    layers = _oihw(grey_params)
    good = _blob(layers["conv3"][0])
    # Same byte length, different declared dims: (384, 256, 3, 3) -> (384, 256, 3, 2).
    bad = good.replace(
        _len_field(1, b"".join(_varint(d) for d in (384, 256, 3, 3))),
        _len_field(1, b"".join(_varint(d) for d in (384, 256, 3, 2))),
    )
    assert bad != good and len(bad) == len(good)
    data = _caffe_bytes(layers).replace(good, bad)
    path = _write(tmp_path / "x.caffemodel", data)
    with pytest.raises(
        WeightsError,
        match=r"x\.caffemodel: layer 'conv3' weights: blob shape \(384, 256, 3, 2\) needs 589,824 values, found 884,736",
    ):
        weights.load(path)
    garbage = _write(tmp_path / "g.caffemodel", bytes(range(7, 250)) * 50)
    with pytest.raises(WeightsError, match=r"g\.caffemodel: "):
        weights.load(garbage)


def test_non_finite_values_are_rejected(tmp_path, grey_params):
    layers = _oihw(grey_params)
    w = layers["conv5"][0].copy()
    w[3, 4, 1, 2] = np.nan
    layers["conv5"] = (w, layers["conv5"][1])
    path = _write(tmp_path / "nan.caffemodel", _caffe_bytes(layers))
    with pytest.raises(WeightsError, match=r"nan\.caffemodel: layer 'conv5' .*1 non-finite"):
        weights.load(path)


def test_own_format_truncated_corrupted_and_tampered(tmp_path, grey_params):
    path = weights.save(grey_params, tmp_path / "w.npz", arch=CAFFE)
    data = path.read_bytes()
    truncated = _write(tmp_path / "trunc.npz", data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"trunc\.npz: .*(truncated or corrupted)"):
        weights.load(truncated)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # inside conv3's array data
    corrupted = _write(tmp_path / "flip.npz", bytes(flipped))
    with pytest.raises(WeightsError, match=r"flip\.npz: .*(truncated or corrupted)"):
        weights.load(corrupted)

    # A well-formed archive whose arrays were edited after writing: the sha256 check catches it.
    tampered = tmp_path / "tampered.npz"
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    arrays = {n[:-4]: np.load(io.BytesIO(b), allow_pickle=False) for n, b in members.items()}
    arrays["conv2/b"] = arrays["conv2/b"] + np.float32(1e-3)
    np.savez(tampered, **arrays)
    with pytest.raises(
        WeightsError, match=r"tampered\.npz: sha256 of the arrays .* does not match"
    ):
        weights.load(tampered)

    # A generic npz (no metadata) is not mistaken for weights.
    np.savez(tmp_path / "plain.npz", conv1=np.zeros(3))
    with pytest.raises(WeightsError, match=r"plain\.npz: .*without vpl_jax metadata"):
        weights.load(tmp_path / "plain.npz")

    # A missing array is named.
    del arrays["conv4/w"]
    arrays["conv2/b"] = arrays["conv2/b"] - np.float32(1e-3)
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(
        WeightsError, match=r"missing\.npz: arrays do not match .*missing \['conv4/w'\]"
    ):
        weights.load(tmp_path / "missing.npz")


def test_truncated_npy_safetensors_and_pth(tmp_path, tv_params, colour_params):
    from safetensors.numpy import save_file

    st = tmp_path / "full.safetensors"
    save_file(_tv_state(tv_params), str(st))
    cut = _write(tmp_path / "cut.safetensors", st.read_bytes()[:-1000])
    with pytest.raises(WeightsError, match=r"cut\.safetensors: cannot read the safetensors file"):
        weights.load(cut)

    npy = tmp_path / "full.npy"
    np.save(npy, {k: [v["w"], v["b"]] for k, v in colour_params.items()}, allow_pickle=True)
    cut_npy = _write(tmp_path / "cut.npy", npy.read_bytes()[: npy.stat().st_size // 3])
    with pytest.raises(WeightsError, match=r"cut\.npy: cannot read the \.npy file"):
        weights.load(cut_npy)

    torch = pytest.importorskip("torch", reason="PyTorch (optional extra 'torch') not installed")
    pth = tmp_path / "full.pth"
    torch.save({k: torch.from_numpy(v.copy()) for k, v in _tv_state(tv_params).items()}, pth)
    cut_pth = _write(tmp_path / "cut.pth", pth.read_bytes()[: pth.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"cut\.pth: .*(truncated or corrupted)"):
        weights.load(cut_pth)


def test_npy_that_is_not_a_weight_dict(tmp_path):
    np.save(tmp_path / "arr.npy", np.zeros((3, 4)))
    with pytest.raises(
        WeightsError, match=r"arr\.npy: expected a pickled dict .*ndarray of shape \(3, 4\)"
    ):
        weights.load(tmp_path / "arr.npy")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.caffemodel: no such file"):
        weights.load(tmp_path / "nope.caffemodel")
    with pytest.raises(WeightsError, match=r"empty\.npz: the file is empty"):
        weights.load(_write(tmp_path / "empty.npz", b""))


def test_git_lfs_pointer_is_explained(tmp_path):
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab12\nsize 243862288\n"
    path = _write(tmp_path / "weights_1c.caffemodel", pointer)
    with pytest.raises(WeightsError, match=r"weights_1c\.caffemodel: this is a Git LFS pointer"):
        weights.load(path)


def test_params_sha256_is_order_independent(grey_params):
    reordered = {k: {"b": v["b"], "w": v["w"]} for k, v in reversed(grey_params.items())}
    assert weights.params_sha256(reordered) == weights.params_sha256(grey_params)
    changed = {k: dict(v) for k, v in grey_params.items()}
    changed["conv1"]["b"] = changed["conv1"]["b"].copy()
    changed["conv1"]["b"][0] = np.nextafter(changed["conv1"]["b"][0], np.float32(np.inf))
    assert weights.params_sha256(changed) != weights.params_sha256(grey_params)


def test_metadata_json_is_readable_without_vpl_jax(tmp_path, grey_params):
    """The metadata is plain JSON inside the npz, readable by numpy alone."""
    path = weights.save(grey_params, tmp_path / "w.npz", arch=CAFFE, metadata={"a": 1})
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(npz["__vpl_jax_metadata__"].tobytes())
        assert meta["arch"]["name"] == "caffe_alexnet" and meta["extra"] == {"a": 1}
        np.testing.assert_array_equal(npz["conv3/w"], grey_params["conv3"]["w"])


def test_struct_little_endian_floats_match_writer():
    """Sanity check of the test's own writer: packed floats are little-endian IEEE 754."""
    arr = np.array([1.5, -2.0], np.float32)
    assert _blob(arr)[:10] == _len_field(5, struct.pack("<2f", 1.5, -2.0))


# ---------------------------------------------------------------------------------------------
# Damaged sizes are refused before anything is allocated; crafted values are refused by name
# ---------------------------------------------------------------------------------------------


class _HugeShape:
    """Pickles as an ndarray whose state declares a huge shape over a few bytes of data."""

    def __reduce__(self):
        func, args, state = np.zeros(3, np.float32).__reduce__()
        return func, args, (state[0], (200_000, 200_000), *state[2:])


def test_npy_with_a_corrupted_array_shape_fails_without_allocating(tmp_path):
    obj = np.empty((), dtype=object)
    obj[()] = {"conv1": [_HugeShape(), np.zeros(96, np.float32)]}
    path = tmp_path / "huge.npy"
    np.save(path, obj, allow_pickle=True)
    with pytest.raises(
        WeightsError, match=r"huge\.npy: cannot read .*declares shape \(200000, 200000\)"
    ):
        weights.load(path)  # 160 GB if allocated


def test_own_format_member_declaring_more_data_than_present(tmp_path, grey_params):
    path = weights.save(grey_params, tmp_path / "w.npz", arch=CAFFE)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    data = np.load(io.BytesIO(members["conv1/w.npy"]), allow_pickle=False).tobytes()
    member = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": (99999, 99999, 99, 99)}
    np.lib.format.write_array_header_1_0(member, header)
    members["conv1/w.npy"] = member.getvalue() + data  # 3.9e17 bytes declared, 139 kB present
    bad = tmp_path / "bigheader.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(
        WeightsError, match=r"bigheader\.npz: member 'conv1/w\.npy' (declares|has a corrupted)"
    ):
        weights.load(bad)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.nan, "non-finite"),
        (np.inf, "non-finite"),
        ("int", "expected float32"),
        ("complex", "expected float32"),
    ],
)
def test_own_format_with_crafted_values_is_refused(tmp_path, grey_params, value, match):
    params = jax.tree.map(np.array, grey_params)
    if value == "int":
        params["conv2"]["b"] = params["conv2"]["b"].astype(np.int32)
    elif value == "complex":
        params["conv2"]["b"] = params["conv2"]["b"].astype(np.complex64)
    else:
        params["conv2"]["b"][0] = value
    path = weights.save(grey_params, tmp_path / "w.npz", arch=CAFFE)
    with zipfile.ZipFile(path) as zf:
        meta = np.load(io.BytesIO(zf.read("__vpl_jax_metadata__.npy")), allow_pickle=False)
    record = json.loads(meta.tobytes().decode())
    record["arrays_sha256"] = weights.params_sha256(params)  # a crafted file with a matching hash
    arrays = {f"{layer}/{name}": v for layer, d in params.items() for name, v in d.items()}
    arrays["__vpl_jax_metadata__"] = np.frombuffer(json.dumps(record).encode(), np.uint8)
    crafted = tmp_path / "crafted.npz"
    np.savez(crafted, **arrays)
    with pytest.raises(WeightsError, match=rf"crafted\.npz: layer 'conv2' 'b'.*{match}"):
        weights.load(crafted)
