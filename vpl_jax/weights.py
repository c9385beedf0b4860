"""Loading, converting and saving AlexNet conv1-5 weights.

Turns the weight files researchers actually have into our params pytree
``{"conv1": {"w": f32[kh, kw, c_in // groups, c_out], "b": f32[c_out]}, ..., "conv5": {...}}``
(kernels HWIO, see ``vpl_jax.alexnet``). Every loader checks the file layer by layer against the
architecture: a missing layer, a wrong shape, a wrong channel count, the wrong architecture, a
non-finite value, or a truncated or corrupted file raises `WeightsError` naming the file, the layer
and the expected versus found shape. Nothing is ever loaded partially, and random weights are only
returned when asked for explicitly (``"random:SEED"``).

Sources understood by `load` / `load_with_info` (see ``docs/weights.md``):

* ``*.caffemodel`` -- a Caffe ``NetParameter`` protobuf, with layers in the ``layer`` field or the
  legacy ``layers`` field (V1, and V0 nested in V1). Blobs are ``(c_out, c_in / groups, kh, kw)``;
  colour conv1 kernels are in Caffe's BGR order. Layers other than conv1-5 (fc6-fc8, ...) are
  ignored and listed in the metadata.
* ``*.npy`` -- the widely shared ``bvlc_alexnet.npy``: a *pickled* dict ``name -> [W, b]`` with
  ``W`` as ``(kh, kw, c_in / groups, c_out)`` and conv1 in BGR order (converted from Caffe). Loading
  a pickle can execute arbitrary code: only load files you trust.
* ``*.safetensors`` -- a torchvision AlexNet state_dict (``features.0.weight``, ... ``features.10``,
  OIHW, RGB), read with ``safetensors.numpy`` (no PyTorch needed).
* ``*.pth`` / ``*.pt`` -- the same state_dict saved by PyTorch; needs the optional ``torch`` extra
  and is read with ``torch.load(weights_only=True)``.
* ``*.npz`` written by `save` / `convert` -- our own format (arrays + JSON metadata with the
  architecture, source file, sha256 of the source, conversion options and free-form metadata; a
  sha256 of the arrays is checked on load).
* ``"default"`` -- the weights bundled with the package (``vpl_jax/data/default_weights.npz``).
* ``"random:SEED"`` -- ``alexnet.init_params(jax.random.key(SEED), arch)``.

Colour to grey (``rgb_to_grey``, applied to 3-channel conv1 kernels of foreign files):

* ``"sum"`` (default): ``w_R + w_G + w_B``. The grey network's response to an image ``I`` equals
  the colour network's response to ``(I, I, I)``; this is how the 1-channel network of Wenliang &
  Seitz (2018) is recommended to be derived.
* ``"mean"``: ``(w_R + w_G + w_B) / 3`` (the colour response to ``(I, I, I) / 3``).
* ``"luminance"``: ``0.299 w_R + 0.587 w_G + 0.114 w_B`` (ITU-R BT.601 weights; Caffe's BGR order
  is taken into account), the colour response to ``(0.299 I, 0.587 I, 0.114 I)``.
* ``"keep"``: stay 3-channel. Our 3-channel kernels are always in **RGB** order, so Caffe's and
  ``bvlc_alexnet.npy``'s BGR kernels are reversed on load.

The sums are computed in float64 and rounded once to float32, so the result does not depend on
the channel order of the file. Files of our own format are returned exactly as saved (they were
converted when they were written); `conv1_to_grey` converts kernels already in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import io
import json
import os
import pickle
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import InputError, InputTypeError
from vpl_jax import alexnet, caffe_proto

__all__ = [
    "RGB_TO_GREY_MODES",
    "WeightsError",
    "conv1_to_grey",
    "convert",
    "default_weights_path",
    "describe",
    "load",
    "load_with_info",
    "params_sha256",
    "save",
]

#: Accepted values of ``rgb_to_grey``.
RGB_TO_GREY_MODES = ("sum", "mean", "luminance", "keep")

#: ITU-R BT.601 luma weights in R, G, B order.
_LUMINANCE_RGB = (0.299, 0.587, 0.114)

_FORMAT_NAME = "vpl_jax.weights"
_FORMAT_VERSION = 1
_META_KEY = "__vpl_jax_metadata__"

#: torchvision ``AlexNet.features`` indices of the five convolutions.
_TORCHVISION_KEYS = {
    "conv1": "features.0",
    "conv2": "features.3",
    "conv3": "features.6",
    "conv4": "features.8",
    "conv5": "features.10",
}

#: Published checksums of well-known source files (used by `describe` to recognise them).
_KNOWN_FILES = {
    ("sha1", "9116a64c0fbe4459d18f4bb6b56d647b63920377"): (
        "bvlc_alexnet.caffemodel from the Caffe model zoo (sha1 from its readme)"
    ),
    ("sha256_prefix", "7be5be79"): "torchvision alexnet-owt-7be5be79.pth (hash prefix in its name)",
}

_NO_DEFAULT_WEIGHTS = """\
no bundled default weights: {path} does not exist in this installation (they ship with
the package; rebuild them with `vpl-jax weights pretrain --out FILE`). Meanwhile, either
  * convert weights you have and pass the converted file, e.g.
      vpl-jax weights convert bvlc_alexnet.caffemodel alexnet_grey.npz
      params = vpl_jax.weights.load("alexnet_grey.npz")
    (bvlc_alexnet.caffemodel from the Caffe model zoo, weights_1c.caffemodel from
    github.com/kevin-w-li/DNN_for_VPL, bvlc_alexnet.npy, or torchvision's
    alexnet-owt-7be5be79.pth / a .safetensors export; see docs/weights.md), or
  * ask for random weights explicitly with load("random:SEED"), e.g. load("random:0")."""


class WeightsError(InputError):
    """A weight file cannot be read as the requested architecture.

    Raised for missing, truncated, corrupted or unrecognised files, missing layers, wrong shapes,
    wrong channel counts, a different architecture, non-finite values, a failed checksum, a
    missing optional dependency (PyTorch for ``.pth``) and missing bundled weights. The message
    names the file and, where there is one, the layer with the expected and found shapes.
    """


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def default_weights_path() -> Path:
    """Where the bundled default weights live: ``<package>/data/default_weights.npz``."""
    return Path(__file__).resolve().parent / "data" / "default_weights.npz"


def _resolve_arch(arch: alexnet.ArchSpec | str | None) -> alexnet.ArchSpec | None:
    if arch is None or isinstance(arch, alexnet.ArchSpec):
        return arch
    if isinstance(arch, str):
        return alexnet.get_arch(arch)
    raise InputTypeError(
        f"arch must be an ArchSpec, an architecture name or None, got {type(arch)}"
    )


def _check_mode(rgb_to_grey: str) -> None:
    if rgb_to_grey not in RGB_TO_GREY_MODES:
        raise InputError(f"rgb_to_grey must be one of {RGB_TO_GREY_MODES}, got {rgb_to_grey!r}")


def _with_channels(arch: alexnet.ArchSpec, in_channels: int) -> alexnet.ArchSpec:
    if arch.in_channels == in_channels:
        return arch
    return dataclasses.replace(arch, in_channels=in_channels)


def _package_version() -> str:
    try:
        return importlib.metadata.version("vpl-jax")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _file_hashes(path: Path) -> dict[str, str]:
    sha256, sha1 = hashlib.sha256(), hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            sha256.update(chunk)
            sha1.update(chunk)
    return {"sha256": sha256.hexdigest(), "sha1": sha1.hexdigest()}


def params_sha256(params: Mapping[str, Mapping[str, Any]]) -> str:
    """A sha256 of a params pytree: layer and array names, dtypes, shapes and little-endian bytes.

    Independent of dict order and of how the arrays are stored, so it identifies the weights
    themselves. Our own format stores it and checks it on load.
    """
    digest = hashlib.sha256()
    for layer in sorted(params):
        for name in sorted(params[layer]):
            arr = np.asarray(params[layer][name])
            arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
            digest.update(f"{layer}/{name}:{arr.dtype.str}:{arr.shape}\n".encode())
            digest.update(arr.tobytes())
    return digest.hexdigest()


def conv1_to_grey(w, mode: str = "sum", channel_order: str = "rgb"):
    """Convert 3-channel conv1 kernels to 1 channel (or reorder them to RGB with ``"keep"``).

    Args:
        w: kernels ``(kh, kw, 3, c_out)`` (HWIO).
        mode: ``"sum"``, ``"mean"``, ``"luminance"`` or ``"keep"`` (see the module docstring).
        channel_order: order of the 3 input channels of ``w``: ``"rgb"`` or ``"bgr"`` (Caffe).

    Returns:
        A NumPy array ``(kh, kw, 1, c_out)`` -- or ``(kh, kw, 3, c_out)`` in RGB order for
        ``"keep"`` -- with the dtype of ``w``. Weighted sums are computed in float64 and rounded
        once.

    Examples:
        >>> w = np.ones((11, 11, 3, 96), np.float32)
        >>> conv1_to_grey(w, "sum").shape, float(conv1_to_grey(w, "sum")[0, 0, 0, 0])
        ((11, 11, 1, 96), 3.0)
    """
    _check_mode(mode)
    if channel_order not in ("rgb", "bgr"):
        raise InputError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    w = np.asarray(w)
    if w.ndim != 4 or w.shape[2] != 3:
        raise InputError(f"expected conv1 kernels of shape (kh, kw, 3, c_out), got {w.shape}")
    rgb = w[:, :, ::-1, :] if channel_order == "bgr" else w
    if mode == "keep":
        return np.ascontiguousarray(rgb)
    coeffs = {"sum": (1.0, 1.0, 1.0), "mean": (1 / 3, 1 / 3, 1 / 3), "luminance": _LUMINANCE_RGB}
    grey = np.einsum("hwco,c->hwo", rgb.astype(np.float64), np.asarray(coeffs[mode]))
    return grey[:, :, None, :].astype(w.dtype)


# --------------------------------------------------------------------------------------------
# Raw contents of a foreign file, and their validation
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Raw:
    """Weights as found in a foreign file, before validation.

    Attributes:
        format: short format name (``caffemodel``, ``npy``, ``safetensors``, ``torch``).
        layout: ``"oihw"`` (Caffe, PyTorch) or ``"hwio"`` (``bvlc_alexnet.npy``).
        channel_order: order of a 3-channel conv1 in the file (``"bgr"`` or ``"rgb"``).
        default_arch: architecture assumed when the caller does not give one.
        layers: ``layer -> (w, b)``; ``None`` marks a missing array.
        keys: ``layer -> the name of that layer in the file`` (for messages).
        available: names of the layers with weights found in the file (for messages).
        ignored: layers with weights in the file that are not conv1-5.
        info: extra format details recorded in the metadata.
    """

    format: str
    layout: str
    channel_order: str
    default_arch: alexnet.ArchSpec
    layers: dict[str, tuple[Any, Any]]
    keys: dict[str, str]
    available: list[str]
    ignored: list[str]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


_LAYOUT_TEXT = {"oihw": "(c_out, c_in/groups, kh, kw)", "hwio": "(kh, kw, c_in/groups, c_out)"}


def _to_layout(hwio: tuple[int, ...], layout: str) -> tuple[int, ...]:
    if layout == "hwio":
        return tuple(hwio)
    kh, kw, ci, co = hwio
    return (co, ci, kh, kw)


def _validate_raw(raw: _Raw, path: Path, arch: alexnet.ArchSpec, rgb_to_grey: str):
    """Check ``raw`` layer by layer against ``arch``; return (params, arch, conversion)."""
    where = f"{path}"
    names = arch.layer_names
    for layer in names:
        if layer not in raw.layers or raw.layers[layer][0] is None:
            raise WeightsError(
                f"{where}: layer {layer!r} (looked for {raw.keys.get(layer, layer)!r}) is missing "
                f"from the file; layers with weights found: {raw.available}"
            )
    # conv1's input channels come from the file (1 or 3); everything else from the architecture.
    w1 = np.asarray(raw.layers[names[0]][0])
    ci_axis = 1 if raw.layout == "oihw" else 2
    if w1.ndim != 4:
        expected = _to_layout(alexnet.param_shapes(arch)[names[0]]["w"], raw.layout)
        raise WeightsError(
            f"{where}: layer {names[0]!r} weights: expected a 4-d array {expected} "
            f"{_LAYOUT_TEXT[raw.layout]}, found shape {w1.shape}"
        )
    c_in = int(w1.shape[ci_axis])
    if c_in not in (1, 3):
        raise WeightsError(
            f"{where}: layer {names[0]!r} weights: expected 1 (grey) or 3 (colour) input "
            f"channels, found {c_in} channels in shape {w1.shape} {_LAYOUT_TEXT[raw.layout]}"
        )
    file_arch = _with_channels(arch, c_in)
    shapes = alexnet.param_shapes(file_arch)
    params = {}
    source_dtypes = set()
    for layer in names:
        w, b = raw.layers[layer]
        key = raw.keys.get(layer, layer)
        w = np.asarray(w)
        expected_w = _to_layout(shapes[layer]["w"], raw.layout)
        if w.shape != expected_w:
            raise WeightsError(
                f"{where}: layer {layer!r} ({key}) weights: expected shape {expected_w} "
                f"{_LAYOUT_TEXT[raw.layout]} for architecture {arch.name!r} with {c_in} input "
                f"channel(s), found {w.shape}"
            )
        expected_b = shapes[layer]["b"]
        if b is None:
            raise WeightsError(
                f"{where}: layer {layer!r} ({key}) has no bias: expected shape {expected_b}, "
                f"found none"
            )
        b = np.asarray(b)
        if b.shape != expected_b:
            raise WeightsError(
                f"{where}: layer {layer!r} ({key}) bias: expected shape {expected_b}, found "
                f"{b.shape}"
            )
        converted = {}
        for what, arr in (("weights", w), ("bias", b)):
            if not np.issubdtype(arr.dtype, np.floating):
                raise WeightsError(
                    f"{where}: layer {layer!r} ({key}) {what}: expected floating point values, "
                    f"found dtype {arr.dtype}"
                )
            source_dtypes.add(str(arr.dtype))
            arr32 = arr.astype(np.float32)  # float64 sources: also catches overflow to inf
            bad = int(arr32.size - np.count_nonzero(np.isfinite(arr32)))
            if bad:
                raise WeightsError(
                    f"{where}: layer {layer!r} ({key}) {what} of shape {arr.shape} contain {bad} "
                    f"non-finite float32 values (NaN/inf): the file is corrupted"
                )
            converted[what] = arr32
        w32 = converted["weights"]
        if raw.layout == "oihw":
            w32 = w32.transpose(2, 3, 1, 0)
        params[layer] = {"w": np.ascontiguousarray(w32), "b": converted["bias"]}
    conversion: dict[str, Any] = {
        "layout": f"{_LAYOUT_TEXT[raw.layout]} -> (kh, kw, c_in/groups, c_out)",
        "source_dtype": sorted(source_dtypes),
        "source_in_channels": c_in,
        "rgb_to_grey": None,
    }
    out_channels = c_in
    if c_in == 3:
        w3 = params[names[0]]["w"]
        params[names[0]]["w"] = conv1_to_grey(w3, rgb_to_grey, raw.channel_order)
        out_channels = 3 if rgb_to_grey == "keep" else 1
        conversion.update(
            rgb_to_grey=rgb_to_grey,
            source_channel_order=raw.channel_order,
            channel_order="rgb" if out_channels == 3 else "grey",
        )
    return params, _with_channels(arch, out_channels), conversion


# --------------------------------------------------------------------------------------------
# Foreign formats
# --------------------------------------------------------------------------------------------


def _read_caffemodel(path: Path) -> _Raw:
    from google.protobuf.message import DecodeError

    data = path.read_bytes()
    if not data:
        raise WeightsError(f"{path}: the file is empty")
    try:
        net = caffe_proto.NetParameter.FromString(data)
    except DecodeError as err:
        detail = caffe_proto.describe_truncation(data)
        raise WeightsError(
            f"{path}: not a readable Caffe NetParameter ({len(data):,} bytes; protobuf: {err}); "
            + (detail or "the file is corrupted or not a .caffemodel")
        ) from None

    entries = []  # (name, type text, is_convolution, blobs, field)
    for layer in net.layer:
        entries.append((layer.name, layer.type, layer.type == "Convolution", layer.blobs, "layer"))
    for v1 in net.layers:
        if v1.HasField("layer"):  # V0 nested in V1
            v0 = v1.layer
            name = v0.name or v1.name
            entries.append((name, v0.type, v0.type == "conv", v0.blobs or v1.blobs, "layers (V0)"))
        else:
            code = v1.type
            # An enum value we do not name is read as absent: the type check is then skipped and
            # the blob shapes alone decide.
            text = caffe_proto.V1_LAYER_TYPES.get(code, "") if v1.HasField("type") else ""
            entries.append((v1.name, text, text == "CONVOLUTION", v1.blobs, "layers (V1)"))
    if not entries:
        raise WeightsError(
            f"{path}: no layers found (neither `layer` nor legacy `layers`); is this a "
            f".caffemodel? A .prototxt holds no weights."
        )
    fields = sorted({e[4] for e in entries})

    by_name: dict[str, tuple] = {}
    available, ignored = [], []
    for name, type_text, is_conv, blobs, _field in entries:
        if not len(blobs):
            continue
        if name in by_name:
            raise WeightsError(
                f"{path}: layer {name!r} appears twice with weights; cannot tell which to use"
            )
        by_name[name] = (type_text, is_conv, blobs)
        available.append(name)

    layers: dict[str, tuple[Any, Any]] = {}
    wanted = set(alexnet.CAFFE_ALEXNET.layer_names)
    for name in available:
        if name not in wanted:
            ignored.append(name)
            continue
        type_text, is_conv, blobs = by_name[name]
        if type_text and not is_conv:
            raise WeightsError(
                f"{path}: layer {name!r} has type {type_text!r}, expected a convolution"
            )
        if len(blobs) != 2:
            raise WeightsError(
                f"{path}: layer {name!r}: expected 2 blobs (weights, bias), found {len(blobs)}"
            )
        w = _blob_array(blobs[0], path, name, "weights")
        b = _blob_array(blobs[1], path, name, "bias")
        if b.ndim > 1 and all(d == 1 for d in b.shape[:-1]):  # legacy (1, 1, 1, c_out) bias
            b = b.reshape(b.shape[-1])
        layers[name] = (w, b)
    return _Raw(
        format="caffemodel",
        layout="oihw",
        channel_order="bgr",
        default_arch=alexnet.CAFFE_ALEXNET,
        layers=layers,
        keys={},
        available=available,
        ignored=ignored,
        info={"net_name": net.name, "layer_fields": fields},
    )


def _blob_array(blob, path: Path, layer: str, what: str) -> np.ndarray:
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:
        shape = (blob.num, blob.channels, blob.height, blob.width)
    if len(blob.data) and len(blob.double_data):
        raise WeightsError(f"{path}: layer {layer!r} {what}: blob has both float and double data")
    values = (
        np.array(blob.double_data, dtype=np.float64)
        if len(blob.double_data)
        else np.array(blob.data, dtype=np.float32)
    )
    needed = int(np.prod(shape)) if shape else 0
    if values.size != needed or any(d < 0 for d in shape):
        raise WeightsError(
            f"{path}: layer {layer!r} {what}: blob shape {shape} needs {needed:,} values, found "
            f"{values.size:,} (truncated or corrupted blob)"
        )
    return values.reshape(shape)


class _CheckedArray(np.ndarray):
    """An array whose unpickling checks the declared size against the bytes present."""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 5:
            _, shape, dtype, _, raw = state
            declared = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if isinstance(raw, bytes | bytearray) and declared != len(raw):
                raise pickle.UnpicklingError(
                    f"an array declares shape {tuple(shape)} of {np.dtype(dtype)} "
                    f"({declared} bytes) but holds {len(raw)} bytes"
                )
        super().__setstate__(state)


class _CheckedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays as `_CheckedArray`, so a corrupted shape fails before it allocates."""

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            reconstruct = super().find_class(module, name)
            return lambda cls, *args: reconstruct(
                _CheckedArray if cls is np.ndarray else cls, *args
            )
        return super().find_class(module, name)


def _load_pickled_npy(path: Path):
    """``np.load(path, allow_pickle=True, encoding="latin1")`` with sizes checked while unpickling."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        reader = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = reader(f)
        if not dtype.hasobject:
            f.seek(0)
            return np.load(f, allow_pickle=False)
        obj = _CheckedUnpickler(f, encoding="latin1").load()
    return jax.tree.map(
        lambda x: np.asarray(x) if isinstance(x, np.ndarray) else x,
        obj,
        is_leaf=lambda x: isinstance(x, np.ndarray),
    )


def _read_npy(path: Path) -> _Raw:
    try:
        # The bvlc_alexnet.npy files were written by Python 2: latin1 decodes their numpy arrays.
        obj = _load_pickled_npy(path)
    except (
        ValueError,
        EOFError,
        OSError,
        pickle.UnpicklingError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        TypeError,
    ) as err:
        raise WeightsError(
            f"{path}: cannot read the .npy file (truncated or corrupted?): "
            f"{type(err).__name__}: {err}"
        ) from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"{path}: expected a pickled dict layer name -> [W, b] (bvlc_alexnet.npy), found "
            f"{type(obj).__name__}"
            + (f" of shape {obj.shape}" if isinstance(obj, np.ndarray) else "")
        )
    layers: dict[str, tuple[Any, Any]] = {}
    available = [str(k) for k in obj]
    wanted = set(alexnet.CAFFE_ALEXNET.layer_names)
    for name, value in obj.items():
        if name not in wanted:
            continue
        if isinstance(value, Mapping) and {"weights", "biases"} <= set(value):
            pair = (value["weights"], value["biases"])
        elif isinstance(value, list | tuple) and len(value) == 2:
            pair = tuple(value)
        else:
            raise WeightsError(
                f"{path}: layer {name!r}: expected [W, b] (or {{'weights', 'biases'}}), found "
                f"{type(value).__name__}"
                + (f" of length {len(value)}" if isinstance(value, list | tuple) else "")
            )
        layers[str(name)] = (np.asarray(pair[0]), np.asarray(pair[1]))
    return _Raw(
        format="npy",
        layout="hwio",
        channel_order="bgr",
        default_arch=alexnet.CAFFE_ALEXNET,
        layers=layers,
        keys={},
        available=available,
        ignored=[k for k in available if k not in wanted],
    )


def _state_dict_raw(state: Mapping[str, Any], fmt: str, info: dict) -> _Raw:
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys):  # saved from nn.DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
        info = {**info, "stripped_prefix": "module."}
    layers = {}
    for layer, prefix in _TORCHVISION_KEYS.items():
        w, b = state.get(f"{prefix}.weight"), state.get(f"{prefix}.bias")
        if w is not None:
            layers[layer] = (w, b)
    used = {f"{p}.{s}" for p in _TORCHVISION_KEYS.values() for s in ("weight", "bias")}
    return _Raw(
        format=fmt,
        layout="oihw",
        channel_order="rgb",
        default_arch=alexnet.TORCHVISION_ALEXNET,
        layers=layers,
        keys={layer: f"{prefix}.weight" for layer, prefix in _TORCHVISION_KEYS.items()},
        available=list(state),
        ignored=[k for k in state if k not in used],
        info=info,
    )


def _read_safetensors(path: Path) -> _Raw:
    from safetensors import safe_open

    try:
        tensors = {}
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except Exception as err:  # safetensors raises its own SafetensorError and plain errors
        raise WeightsError(
            f"{path}: cannot read the safetensors file (truncated, corrupted, or a dtype NumPy "
            f"lacks such as bfloat16): {type(err).__name__}: {err}"
        ) from None
    return _state_dict_raw(tensors, "safetensors", {})


def _read_torch(path: Path) -> _Raw:
    try:
        import torch
    except ImportError:
        raise WeightsError(
            f"{path}: reading a PyTorch .pth/.pt file needs PyTorch, which is not installed. "
            f"Install the optional extra (pip install 'vpl-jax[torch]'), or export the "
            f"state_dict to .safetensors on a machine with PyTorch "
            f"(safetensors.torch.save_file(state_dict, 'alexnet.safetensors')) and load that."
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise WeightsError(
            f"{path}: torch.load(weights_only=True) failed (truncated or corrupted file, or a "
            f"pickled model rather than a state_dict): {type(err).__name__}: {err}"
        ) from None
    info: dict[str, Any] = {}
    if isinstance(obj, Mapping) and "features.0.weight" not in obj:
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj, info = obj[key], {"state_dict_key": key}
                break
    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"{path}: expected a state_dict (a mapping name -> tensor), found {type(obj).__name__}"
        )
    state = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu()
            if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
                tensor = tensor.to(torch.float32)  # float16 / bfloat16: exact in float32
            state[str(key)] = tensor.numpy()
    return _state_dict_raw(state, "torch", info)


# --------------------------------------------------------------------------------------------
# Our own format
# --------------------------------------------------------------------------------------------


def _arch_to_json(arch: alexnet.ArchSpec) -> dict:
    return dataclasses.asdict(arch)


def _arch_from_json(spec: Mapping[str, Any], where: str) -> alexnet.ArchSpec:
    try:
        conv_fields = {f.name for f in dataclasses.fields(alexnet.ConvSpec)}
        arch_fields = {f.name for f in dataclasses.fields(alexnet.ArchSpec)}
        convs = tuple(
            alexnet.ConvSpec(**{k: v for k, v in c.items() if k in conv_fields})
            for c in spec["convs"]
        )
        kwargs = {k: v for k, v in spec.items() if k in arch_fields and k != "convs"}
        return alexnet.ArchSpec(convs=convs, **kwargs)
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"{where}: invalid architecture in the metadata: {err}") from None


def _check_params(params, arch: alexnet.ArchSpec) -> dict[str, dict[str, np.ndarray]]:
    shapes = alexnet.param_shapes(arch)
    if not isinstance(params, Mapping) or set(params) != set(shapes):
        found = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise InputError(f"params must have exactly the layers {list(shapes)}, found {found}")
    out = {}
    for layer, layer_shapes in shapes.items():
        if not isinstance(params[layer], Mapping) or set(params[layer]) != {"w", "b"}:
            raise InputError(f"params[{layer!r}] must be a dict with keys 'w' and 'b'")
        out[layer] = {}
        for name, shape in layer_shapes.items():
            arr = np.asarray(params[layer][name])
            if arr.shape != shape:
                raise InputError(
                    f"params[{layer!r}][{name!r}]: expected shape {shape} for architecture "
                    f"{arch.name!r} with {arch.in_channels} input channel(s), found {arr.shape}"
                )
            if not np.issubdtype(arr.dtype, np.floating):
                raise InputError(f"params[{layer!r}][{name!r}]: expected floats, got {arr.dtype}")
            if not np.all(np.isfinite(arr)):
                raise InputError(f"params[{layer!r}][{name!r}] contains non-finite values")
            out[layer][name] = np.ascontiguousarray(arr)
    return out


def _write(path, params_np, arch, *, source, conversion, extra) -> Path:
    path = Path(path)
    metadata = {
        "format": _FORMAT_NAME,
        "format_version": _FORMAT_VERSION,
        "vpl_jax_version": _package_version(),
        "arch": _arch_to_json(arch),
        "arrays_sha256": params_sha256(params_np),
        "source": source,
        "conversion": conversion,
        "extra": extra if extra is not None else {},
    }
    try:
        meta_bytes = json.dumps(metadata, indent=1, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise InputError(f"metadata must be JSON-serialisable: {err}") from None
    arrays = {f"{layer}/{name}": arr for layer, d in params_np.items() for name, arr in d.items()}
    arrays[_META_KEY] = np.frombuffer(meta_bytes, dtype=np.uint8)
    # Write next to the target, then rename: a crash never leaves a half-written weight file.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise WeightsError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise WeightsError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_member(zf: zipfile.ZipFile, name: str, where: str) -> np.ndarray:
    """One ``.npy`` member of an archive, its declared size checked before anything is allocated."""
    info = zf.getinfo(name)
    with zf.open(name) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise WeightsError(f"{where}: member {name!r} is truncated")
    buf = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buf)
        reader = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = reader(buf)
    except Exception as err:  # noqa: BLE001 -- numpy parses the header with tokenize/ast
        raise WeightsError(f"{where}: member {name!r} has a corrupted header ({err})") from None
    if dtype.hasobject:
        raise WeightsError(f"{where}: member {name!r} holds Python objects, not numbers")
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if declared < 0 or declared > len(data) - buf.tell():
        raise WeightsError(
            f"{where}: member {name!r} declares {declared} bytes of data ({shape} {dtype}) but "
            f"holds {len(data) - buf.tell()}: the file is corrupted"
        )
    buf.seek(0)
    return np.lib.format.read_array(buf, allow_pickle=False)


def _read_own(path: Path, arch: alexnet.ArchSpec | None):
    where = f"{path}"
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if f"{_META_KEY}.npy" not in names:
                raise WeightsError(
                    f"{where}: a .npz archive without vpl_jax metadata ({_META_KEY}); not a "
                    f"vpl_jax weight file. Convert foreign weights with `vpl-jax weights convert`."
                )
            arrays = {}
            for name in sorted(names):
                if not name.endswith(".npy"):
                    raise WeightsError(f"{where}: unexpected member {name!r} in the archive")
                arrays[name[: -len(".npy")]] = _read_member(zf, name, where)
    except WeightsError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as err:
        raise WeightsError(
            f"{where}: cannot read the archive (truncated or corrupted): "
            f"{type(err).__name__}: {err}"
        ) from None

    try:
        metadata = json.loads(arrays.pop(_META_KEY).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{where}: corrupted metadata: {err}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT_NAME:
        raise WeightsError(f"{where}: metadata does not describe a {_FORMAT_NAME} file")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > _FORMAT_VERSION:
        raise WeightsError(
            f"{where}: format version {version!r} is newer than this vpl_jax understands "
            f"({_FORMAT_VERSION}); upgrade vpl_jax"
        )
    stored_arch = _arch_from_json(metadata.get("arch", {}), where)
    if arch is not None and _with_channels(arch, stored_arch.in_channels) != stored_arch:
        raise WeightsError(
            f"{where}: the file holds architecture {stored_arch.name!r}, asked for {arch.name!r}; "
            f"{_first_shape_difference(stored_arch, arch)}"
        )
    shapes = alexnet.param_shapes(stored_arch)
    expected_keys = {f"{layer}/{name}" for layer in shapes for name in shapes[layer]}
    if set(arrays) != expected_keys:
        missing = sorted(expected_keys - set(arrays))
        unexpected = sorted(set(arrays) - expected_keys)
        raise WeightsError(
            f"{where}: arrays do not match architecture {stored_arch.name!r}: missing {missing}, "
            f"unexpected {unexpected}"
        )
    params = {}
    for layer, layer_shapes in shapes.items():
        params[layer] = {}
        for name, shape in layer_shapes.items():
            arr = arrays[f"{layer}/{name}"]
            if arr.shape != shape:
                raise WeightsError(
                    f"{where}: layer {layer!r} {name!r}: expected shape {shape} for architecture "
                    f"{stored_arch.name!r}, found {arr.shape}"
                )
            if arr.dtype != np.float32:
                raise WeightsError(
                    f"{where}: layer {layer!r} {name!r}: expected float32 values, found {arr.dtype}"
                )
            if not np.all(np.isfinite(arr)):
                raise WeightsError(
                    f"{where}: layer {layer!r} {name!r} contains non-finite values (NaN/inf)"
                )
            params[layer][name] = arr
    digest = params_sha256(params)
    if digest != metadata.get("arrays_sha256"):
        raise WeightsError(
            f"{where}: sha256 of the arrays ({digest}) does not match the one recorded when the "
            f"file was written ({metadata.get('arrays_sha256')}): the file was corrupted or "
            f"edited"
        )
    return params, stored_arch, metadata


def _first_shape_difference(a: alexnet.ArchSpec, b: alexnet.ArchSpec) -> str:
    sa, sb = alexnet.param_shapes(a), alexnet.param_shapes(_with_channels(b, a.in_channels))
    for layer in list(sa) + [x for x in sb if x not in sa]:
        if layer not in sa or layer not in sb:
            return f"layer {layer!r} exists in only one of them"
        for name in ("w", "b"):
            if sa[layer][name] != sb[layer][name]:
                return (
                    f"layer {layer!r} {name!r}: expected shape {sb[layer][name]} for "
                    f"{b.name!r}, found {sa[layer][name]}"
                )
    return "the layer shapes agree but other settings (LRN, pooling, strides, ...) differ"


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------

_EXTENSIONS = {
    ".caffemodel": "caffemodel",
    ".binaryproto": "caffemodel",
    ".npy": "npy",
    ".npz": "vpl_jax",
    ".safetensors": "safetensors",
    ".pth": "torch",
    ".pt": "torch",
}


def _detect(path: Path) -> str:
    """Format of ``path`` from its first bytes, falling back to its extension."""
    ext = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise WeightsError(f"{path}: the file is empty")
    if head.startswith(b"version https://"):
        raise WeightsError(
            f"{path}: this is a Git LFS pointer (a small text file), not the weights: fetch the "
            f"real file with `git lfs pull` in the repository it came from, or download it directly"
        )
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise WeightsError(
                f"{path}: a zip archive ({'npz' if ext != '.pth' else 'PyTorch'} file) that "
                f"cannot be opened (truncated or corrupted): {err}"
            ) from None
        if f"{_META_KEY}.npy" in names:
            return "vpl_jax"
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "torch"
        if names and all(n.endswith(".npy") for n in names):
            return "vpl_jax"  # reported by _read_own as an npz without our metadata
        raise WeightsError(f"{path}: a zip archive that is neither our .npz nor a PyTorch file")
    header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if len(head) >= 9 and head[8:9] == b"{" and 0 < header_len < path.stat().st_size:
        return "safetensors"
    fmt = _EXTENSIONS.get(ext)
    if fmt in ("npy", "vpl_jax", "safetensors"):
        raise WeightsError(
            f"{path}: the content does not start like a {ext} file (truncated or corrupted)"
        )
    if fmt == "torch" or head.startswith(b"\x80"):
        return "torch"  # legacy (pre-zip) torch.save pickle
    return "caffemodel"  # protobuf has no magic number


def _parse_random(source: str) -> int:
    text = source[len("random:") :]
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**31:
        raise WeightsError(f"{source!r}: random:SEED needs an integer seed in [0, 2**31)")
    return seed


def _load(source, arch, rgb_to_grey, *, hash_source: bool):
    _check_mode(rgb_to_grey)
    arch = _resolve_arch(arch)
    if isinstance(source, str) and source.startswith("random:"):
        seed = _parse_random(source)
        arch = arch or alexnet.CAFFE_ALEXNET
        params = alexnet.init_params(jax.random.key(seed), arch)
        metadata = {
            "source": {
                "format": "random",
                "seed": seed,
                "init": "vpl_jax.alexnet.init_params(jax.random.key(seed), arch)",
            },
            "conversion": None,
            "extra": {},
        }
        return params, arch, metadata
    if isinstance(source, str) and source == "default":
        path = default_weights_path()
        if not path.is_file():
            raise WeightsError(_NO_DEFAULT_WEIGHTS.format(path=path))
        fmt = "vpl_jax"
    else:
        if not isinstance(source, str | os.PathLike):
            raise InputTypeError(f"source must be a path or a string, got {type(source).__name__}")
        path = Path(source)
        if not path.is_file():
            raise WeightsError(
                f"{path}: no such file (sources are a weight file, 'default' or 'random:SEED')"
            )
        fmt = _detect(path)

    if fmt == "vpl_jax":
        params_np, arch_out, metadata = _read_own(path, arch)
        metadata = dict(metadata)
        metadata["file"] = {"path": str(path), "format": "vpl_jax"}
        if hash_source:
            metadata["file"].update(_file_hashes(path))
    else:
        reader = {
            "caffemodel": _read_caffemodel,
            "npy": _read_npy,
            "safetensors": _read_safetensors,
            "torch": _read_torch,
        }[fmt]
        raw = reader(path)
        params_np, arch_out, conversion = _validate_raw(
            raw, path, arch or raw.default_arch, rgb_to_grey
        )
        source_info = {
            "format": raw.format,
            "file": path.name,
            "path": str(path.resolve()),
            "ignored_layers": raw.ignored,
            **raw.info,
        }
        if hash_source:
            source_info.update(_file_hashes(path))
        metadata = {"source": source_info, "conversion": conversion, "extra": {}}
    params = jax.tree.map(jnp.asarray, params_np)
    return params, arch_out, metadata


def load(source, *, arch=None, rgb_to_grey: str = "sum") -> dict:
    """Load conv1-5 params from any supported source.

    Args:
        source: a path to a weight file (``.caffemodel``, ``bvlc_alexnet.npy``, ``.safetensors``,
            ``.pth``/``.pt``, or our ``.npz``; recognised by content, then by extension),
            ``"default"`` for the weights bundled with the package, or ``"random:SEED"`` for
            ``alexnet.init_params(jax.random.key(SEED), arch)``. To load a file literally named
            ``default``, pass ``Path("default")`` or ``"./default"``.
        arch: expected architecture (an ``alexnet.ArchSpec`` or its name). ``None`` takes it from
            the file: ``caffe_alexnet`` for Caffe files and ``bvlc_alexnet.npy``,
            ``torchvision_alexnet`` for state_dicts, the stored one for our own format, and
            ``caffe_alexnet`` for ``random:SEED``. It fixes the layer structure; the number of
            input channels comes from the file and ``rgb_to_grey`` (for ``random:SEED`` from
            ``arch``).
        rgb_to_grey: how a 3-channel conv1 of a foreign file is converted: ``"sum"`` (default),
            ``"mean"``, ``"luminance"`` or ``"keep"``. Ignored for 1-channel files, our own
            format (returned as saved) and random weights.

    Returns:
        The params dict ``{"conv1": {"w": (kh, kw, c_in/groups, c_out), "b": (c_out,)}, ...}``
        of float32 ``jax.Array`` (our own format keeps the saved dtype).

    Raises:
        WeightsError: unreadable, truncated or corrupted file, missing layer, wrong shape, wrong
            channel count, different architecture, non-finite values, failed checksum, missing
            PyTorch for ``.pth``, or no bundled weights for ``"default"``.

    Examples:
        >>> params = load("random:0")
        >>> params["conv2"]["w"].shape
        (5, 5, 48, 256)
    """
    return _load(source, arch, rgb_to_grey, hash_source=False)[0]


def load_with_info(source, *, arch=None, rgb_to_grey: str = "sum"):
    """Like `load`, also returning the architecture and the provenance metadata.

    Returns:
        ``(params, arch, metadata)``: ``arch`` is an ``alexnet.ArchSpec`` whose ``in_channels``
        matches the returned conv1 (e.g. ``CAFFE_ALEXNET`` with 3 channels after
        ``rgb_to_grey="keep"``); ``metadata`` has ``"source"`` (format, file name, path, sha256
        and sha1 of the file, ignored layers), ``"conversion"`` (layout change, source dtype and
        channels, ``rgb_to_grey``, channel orders) and ``"extra"`` (free-form). For our own format
        it is the stored metadata (source and conversion as recorded when converting, plus
        ``"arch"``, ``"arrays_sha256"``, ...) with ``"file"`` describing the file itself.
    """
    return _load(source, arch, rgb_to_grey, hash_source=True)


def save(
    params,
    path,
    *,
    arch,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Save params in our own format: an ``.npz`` of the arrays plus JSON metadata.

    Args:
        params: conv1-5 params matching ``arch`` exactly (shapes, including conv1's channels).
        path: the file to write (``.npz`` recommended; written atomically).
        arch: the architecture (``alexnet.ArchSpec`` or name); stored in full.
        metadata: free-form JSON-serialisable dict (e.g. a training recipe), stored as
            ``"extra"`` and returned by `load_with_info`.
        overwrite: replace ``path`` if it exists (otherwise that is an error, as in `convert`).

    Returns:
        The path written.

    Raises:
        WeightsError: ``path`` exists and ``overwrite`` is false (checked first, nothing is
            written).
        ValueError: params do not match ``arch``, contain non-finite values, or the metadata is
            not JSON-serialisable.
    """
    if Path(path).exists() and not overwrite:
        raise WeightsError(f"{path}: already exists; pass overwrite=True to replace it")
    arch = _resolve_arch(arch)
    if arch is None:
        raise InputTypeError(
            "save() needs the architecture: arch=alexnet.CAFFE_ALEXNET or its name"
        )
    return _write(
        path,
        _check_params(params, arch),
        arch,
        source=None,
        conversion=None,
        extra=dict(metadata) if metadata is not None else {},
    )


def convert(
    src,
    dst,
    *,
    arch=None,
    rgb_to_grey: str = "sum",
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert any supported source into our own format, recording where it came from.

    The written file stores the architecture, the source (file name, path, sha256, sha1, format,
    ignored layers), the conversion options and ``metadata`` (free-form, merged over the source's
    own free-form metadata when converting one of our files).

    Args:
        src: anything `load` accepts (a path, ``"default"`` or ``"random:SEED"``).
        dst: the ``.npz`` file to write.
        arch: expected architecture, as in `load`.
        rgb_to_grey: conv1 colour conversion, as in `load`.
        metadata: free-form JSON-serialisable dict stored as ``"extra"``.
        overwrite: replace ``dst`` if it exists (otherwise that is an error).

    Returns:
        The path written.
    """
    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise WeightsError(f"{dst}: already exists; pass overwrite=True to replace it")
    if isinstance(src, str | os.PathLike) and Path(src).exists() and dst.exists():
        if Path(src).resolve() == dst.resolve():
            raise WeightsError(f"{dst}: source and destination are the same file")
    params, arch_out, info = load_with_info(src, arch=arch, rgb_to_grey=rgb_to_grey)
    extra = {**(info.get("extra") or {}), **(dict(metadata) if metadata else {})}
    params_np = jax.tree.map(np.asarray, params)
    return _write(
        dst,
        params_np,
        arch_out,
        source=info.get("source"),
        conversion=info.get("conversion"),
        extra=extra,
    )


def _summarise(value) -> str:
    if isinstance(value, Mapping):
        return f"{len(value)} entries"
    if isinstance(value, list | tuple):
        return f"{len(value)} values"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(source, *, rgb_to_grey: str = "keep", metadata: bool = False) -> str:
    """A human-readable summary of a weight source: layer table, architecture, provenance.

    Args:
        source: anything `load` accepts.
        rgb_to_grey: conversion applied before tabulating; ``"keep"`` (default) shows a colour
            conv1 as it is in the file (reordered to RGB).
        metadata: also print the free-form metadata in full (pretty-printed JSON); by default
            one short line per top-level key.

    Returns:
        Text with the file and its sha256 (and sha1), recognised well-known files, the
        architecture, the source and conversion recorded in the metadata, ignored layers, free-form
        metadata, and one row per array: layer, name, shape, mean and standard deviation.
    """
    params, arch, meta = load_with_info(source, rgb_to_grey=rgb_to_grey)
    lines = []
    file_info = meta.get("file") or {
        k: v for k, v in (meta.get("source") or {}).items() if k in ("path", "sha256", "sha1")
    }
    src = meta.get("source") or {}
    if "path" in file_info:
        lines.append(f"file:          {file_info['path']}")
        fmt = file_info.get("format", src.get("format"))
        lines.append(f"format:        {fmt}")
        lines.append(f"sha256:        {file_info.get('sha256')}")
        lines.append(f"sha1:          {file_info.get('sha1')}")
        known = _KNOWN_FILES.get(("sha1", file_info.get("sha1"))) or _KNOWN_FILES.get(
            ("sha256_prefix", (file_info.get("sha256") or "")[:8])
        )
        if known:
            lines.append(f"recognised:    {known}")
    else:
        lines.append(f"source:        {source}")
    lines.append(
        f"architecture:  {arch.name} ({arch.in_channels} input channel(s), "
        f"{sum(int(np.size(a)) for a in jax.tree.leaves(params)):,} parameters)"
    )
    if "file" in meta:  # our own format: show where the weights originally came from
        if src:
            origin = ", ".join(
                f"{k}={src[k]}" for k in ("format", "file", "sha256", "seed") if k in src
            )
            lines.append(f"converted from: {origin}")
        lines.append(f"arrays sha256: {meta.get('arrays_sha256')} (checked on every load)")
    elif "path" in file_info:
        lines.append(
            "checksum:      none in this format: a damaged file that still parses as valid "
            "weights loads without an error; convert it once to our format to get one"
        )
    if src.get("ignored_layers"):
        lines.append(f"ignored:       {', '.join(map(str, src['ignored_layers']))}")
    conversion = meta.get("conversion")
    if conversion:
        lines.append(
            "conversion:    " + ", ".join(f"{k}={v}" for k, v in sorted(conversion.items()))
        )
    extra = meta.get("extra") or {}
    if extra:
        lines.append(
            "metadata:      " + "; ".join(f"{k}: {_summarise(extra[k])}" for k in sorted(extra))
        )
    lines.append("")
    lines.append(f"{'layer':<8}{'param':<7}{'shape':<22}{'dtype':<10}{'mean':>13}{'std':>13}")
    for layer in arch.layer_names:
        for name in ("w", "b"):
            arr = np.asarray(params[layer][name], dtype=np.float64)
            lines.append(
                f"{layer:<8}{name:<7}{str(tuple(arr.shape)):<22}"
                f"{str(np.asarray(params[layer][name]).dtype):<10}"
                f"{arr.mean():>13.6g}{arr.std():>13.6g}"
            )
    if metadata and extra:
        lines += [
            "",
            "metadata (in full):",
            json.dumps(extra, indent=1, sort_keys=True, default=str),
        ]
    return "\n".join(lines)
