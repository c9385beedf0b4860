"""torchvision's ResNet18 (BasicBlock ResNets) as pure functions, BatchNorm in inference mode.

Layout: images are NHWC floats in the network's input units (for torchvision weights: RGB in
``[0, 1]`` normalised with the ImageNet mean and std); kernels are HWIO ``(kh, kw, c_in, c_out)``.
Params are a dict pytree that mirrors the torchvision ``state_dict``::

    {"conv1": {"w"}, "bn1": {"scale", "bias", "mean", "var"},
     "layer1.0": {"conv1": {"w"}, "bn1": {...}, "conv2": {"w"}, "bn2": {...}},
     "layer2.0": {..., "downsample": {"conv": {"w"}, "bn": {...}}}, ...,
     "fc": {"w": (512, num_classes), "b": (num_classes,)}}

BatchNorm uses the running statistics: ``y = (x - mean) / sqrt(var + eps) * scale + bias`` with
``eps = 1e-5`` (PyTorch's ``eval()`` mode). Stem: 7 x 7 convolution, stride 2, padding 3, BN,
ReLU, 3 x 3 max-pool stride 2 padding 1 (padding with -inf, as PyTorch). Each BasicBlock is
``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with 3 x 3 convolutions (padding 1), the
first of stride 2 in the first block of stages 2-4, where the shortcut is a 1 x 1 convolution of
stride 2 and BN (torchvision's ``downsample``).

Read-outs (:func:`features`): ``conv1`` (after BN and ReLU), ``maxpool``, the residual blocks
``layer1.0, layer1.1, ..., layer4.1`` (the 8 "layers" of Benjamin et al. 2022), ``avgpool``
(global average, ``(N, 512)``) and ``fc`` (logits). By default the 8 blocks.

:func:`from_torchvision` converts a torchvision ``resnet18`` state_dict (a mapping, a ``.pth``
/``.pt`` file saved by ``torch.save``, which needs PyTorch, or a ``.safetensors`` file, which
does not), checking every tensor's presence, shape and finiteness first.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from theory.checks import InputError

__all__ = [
    "RESNET18",
    "ResNetSpec",
    "ResNetWeightsError",
    "block_names",
    "features",
    "from_torchvision",
    "init_params",
    "output_keys",
    "param_shapes",
    "torchvision_shapes",
]


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """A BasicBlock ResNet (static structure; hashable, a jit static argument).

    Attributes:
        name: identifier.
        widths: channels of the four stages (torchvision: 64, 128, 256, 512).
        blocks: BasicBlocks per stage (ResNet18: 2, 2, 2, 2).
        in_channels: image channels.
        num_classes: outputs of the final linear layer.
        bn_eps: BatchNorm epsilon.
    """

    name: str = "resnet18"
    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    in_channels: int = 3
    num_classes: int = 1000
    bn_eps: float = 1e-5

    def __post_init__(self):
        if len(self.widths) != len(self.blocks) or not self.widths:
            raise InputError(
                f"ResNetSpec.widths and blocks must be non-empty and of equal length, got "
                f"{self.widths=}, {self.blocks=}"
            )
        for field in ("widths", "blocks"):
            if any(int(v) != v or v < 1 for v in getattr(self, field)):
                raise InputError(
                    f"ResNetSpec.{field} must hold integers >= 1, got {getattr(self, field)}"
                )
        for field in ("in_channels", "num_classes"):
            if getattr(self, field) < 1:
                raise InputError(f"ResNetSpec.{field} must be >= 1, got {getattr(self, field)}")
        if not self.bn_eps > 0:
            raise InputError(f"ResNetSpec.bn_eps must be > 0, got {self.bn_eps}")


RESNET18 = ResNetSpec()


class ResNetWeightsError(InputError):
    """A state_dict or file cannot be read as the requested ResNet (names the key and shapes)."""


def block_names(spec: ResNetSpec = RESNET18) -> tuple[str, ...]:
    """``("layer1.0", "layer1.1", ..., "layer4.1")`` for ResNet18: the residual blocks in order."""
    return tuple(f"layer{s + 1}.{b}" for s, n in enumerate(spec.blocks) for b in range(n))


def output_keys(spec: ResNetSpec = RESNET18) -> tuple[str, ...]:
    """Every read-out of :func:`features` in network order."""
    return ("conv1", "maxpool", *block_names(spec), "avgpool", "fc")


def _bn_shapes(c: int) -> dict[str, tuple[int, ...]]:
    return {"scale": (c,), "bias": (c,), "mean": (c,), "var": (c,)}


def param_shapes(spec: ResNetSpec = RESNET18) -> dict:
    """Expected shapes of every leaf of the params pytree (kernels HWIO)."""
    stem = spec.widths[0]
    shapes: dict[str, Any] = {
        "conv1": {"w": (7, 7, spec.in_channels, stem)},
        "bn1": _bn_shapes(stem),
    }
    c_in = stem
    for s, (width, n) in enumerate(zip(spec.widths, spec.blocks, strict=True)):
        for b in range(n):
            stride = 2 if (s > 0 and b == 0) else 1
            block = {
                "conv1": {"w": (3, 3, c_in, width)},
                "bn1": _bn_shapes(width),
                "conv2": {"w": (3, 3, width, width)},
                "bn2": _bn_shapes(width),
            }
            if stride != 1 or c_in != width:
                block["downsample"] = {"conv": {"w": (1, 1, c_in, width)}, "bn": _bn_shapes(width)}
            shapes[f"layer{s + 1}.{b}"] = block
            c_in = width
    shapes["fc"] = {"w": (c_in, spec.num_classes), "b": (spec.num_classes,)}
    return shapes


def _block_stride(name: str) -> int:
    stage, index = name[len("layer") :].split(".")
    return 2 if (stage != "1" and index == "0") else 1


@functools.partial(jax.jit, static_argnames=("spec", "dtype"))
def init_params(key: PRNGKeyArray, spec: ResNetSpec = RESNET18, dtype=jnp.float32) -> dict:
    """torchvision's default initialisation of an untrained ResNet.

    Convolutions: Kaiming normal, ``mode="fan_out"``, ReLU gain (std ``sqrt(2 / (kh kw c_out))``);
    BatchNorm: scale 1, bias 0, running mean 0, running variance 1; the final linear layer:
    PyTorch's ``nn.Linear`` default, weight and bias uniform on ``+-1/sqrt(fan_in)``.

    Args:
        key: PRNG key.
        spec: architecture.
        dtype: float dtype.

    Returns:
        Params with the shapes of :func:`param_shapes`.

    Examples:
        >>> p = init_params(jax.random.key(0))
        >>> p["layer2.0"]["downsample"]["conv"]["w"].shape
        (1, 1, 64, 128)
    """
    shapes = param_shapes(spec)
    flat, treedef = jax.tree_util.tree_flatten_with_path(
        shapes, is_leaf=lambda x: isinstance(x, tuple)
    )
    conv_sizes = [math.prod(shape) for path, shape in flat if len(shape) == 4]
    normal_key, w_key, b_key = jax.random.split(key, 3)
    normal = jax.random.normal(normal_key, (sum(conv_sizes),), dtype)  # one draw: fast compile
    bound = 1.0 / math.sqrt(shapes["fc"]["w"][0])
    out, start = [], 0
    for path, shape in flat:
        names = [p.key for p in path]
        if len(shape) == 4:
            size = math.prod(shape)
            std = math.sqrt(2.0 / (shape[0] * shape[1] * shape[3]))  # fan_out = kh kw c_out
            out.append(std * normal[start : start + size].reshape(shape))
            start += size
        elif names[0] == "fc":
            k = w_key if names[-1] == "w" else b_key
            out.append(jax.random.uniform(k, shape, dtype, -bound, bound))
        elif names[-1] in ("scale", "var"):
            out.append(jnp.ones(shape, dtype))
        else:
            out.append(jnp.zeros(shape, dtype))
    return jax.tree.unflatten(treedef, out)


def _check_params(params: Mapping, spec: ResNetSpec) -> None:
    expected = param_shapes(spec)

    def walk(exp, got, where):
        if not isinstance(got, Mapping):
            raise InputError(f"params{where} must be a dict, got {type(got).__name__}")
        for name, sub in exp.items():
            if name not in got:
                raise InputError(f"params{where} is missing {name!r} for {spec.name}")
            if isinstance(sub, tuple):
                shape = tuple(jnp.shape(got[name]))
                if shape != sub:
                    raise InputError(
                        f"params{where}[{name!r}] has shape {shape}, expected {sub} for "
                        f"{spec.name} (kernels HWIO)"
                    )
            else:
                walk(sub, got[name], f"{where}[{name!r}]")

    walk(expected, params, "")


_DIMS = ("NHWC", "HWIO", "NHWC")


def _conv(x, w, stride: int, padding: int):
    pad = ((padding, padding), (padding, padding))
    return jax.lax.conv_general_dilated(x, w, (stride, stride), pad, dimension_numbers=_DIMS)


def _bn(x, p, eps: float):
    inv = p["scale"] * jax.lax.rsqrt(p["var"] + eps)
    shape = (1,) * (x.ndim - 1) + (-1,)
    return x * inv.reshape(shape) + (p["bias"] - p["mean"] * inv).reshape(shape)


def _max_pool_3x3_s2_p1(x):
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
    )


def _basic_block(x, p, stride: int, eps: float):
    out = jax.nn.relu(_bn(_conv(x, p["conv1"]["w"], stride, 1), p["bn1"], eps))
    out = _bn(_conv(out, p["conv2"]["w"], 1, 1), p["bn2"], eps)
    if "downsample" in p:
        shortcut = _bn(
            _conv(x, p["downsample"]["conv"]["w"], stride, 0), p["downsample"]["bn"], eps
        )
    else:
        shortcut = x
    return jax.nn.relu(out + shortcut)


@functools.partial(jax.jit, static_argnames=("spec", "layers"))
def _features(params, images, spec: ResNetSpec, layers: tuple[str, ...]):
    wanted = set(layers)
    order = output_keys(spec)
    last = max(order.index(k) for k in layers)
    out = {}
    x = jax.nn.relu(_bn(_conv(images, params["conv1"]["w"], 2, 3), params["bn1"], spec.bn_eps))
    if "conv1" in wanted:
        out["conv1"] = x
    x = _max_pool_3x3_s2_p1(x)
    if "maxpool" in wanted:
        out["maxpool"] = x
    for i, name in enumerate(block_names(spec), start=2):
        if i > last:
            break
        x = _basic_block(x, params[name], _block_stride(name), spec.bn_eps)
        if name in wanted:
            out[name] = x
    if last >= order.index("avgpool"):
        pooled = jnp.mean(x, axis=(1, 2))
        if "avgpool" in wanted:
            out["avgpool"] = pooled
        if "fc" in wanted:
            out["fc"] = pooled @ params["fc"]["w"] + params["fc"]["b"][None, :]
    return out


def features(
    params: dict,
    images: Float[Array, "N H W C"],
    spec: ResNetSpec = RESNET18,
    layers: tuple[str, ...] | None = None,
) -> dict[str, Array]:
    """Layer read-outs of the ResNet for a batch of images (BatchNorm in inference mode).

    Only the layers up to the last requested one are computed. Jitted with ``spec`` and
    ``layers`` static.

    Args:
        params: params as given by :func:`param_shapes` (e.g. from :func:`from_torchvision`).
        images: ``(N, H, W, spec.in_channels)`` floats in the network's input units
            (ImageNet-normalised RGB for torchvision weights), ``H, W >= 32`` for ResNet18.
        spec: architecture (static).
        layers: names from :func:`output_keys` (default: the residual blocks, i.e.
            :func:`block_names`).

    Returns:
        ``{name: activations}`` in the order of ``layers``: NHWC arrays, ``(N, C)`` for
        ``avgpool`` and ``fc``.

    Raises:
        InputError: wrong image rank, channels or dtype, too small an image, unknown layer
            names, or params with a missing layer or a wrong shape.

    Examples:
        >>> spec = ResNetSpec(widths=(4, 8, 8, 8), num_classes=3)
        >>> p = init_params(jax.random.key(0), spec)
        >>> out = features(p, jnp.zeros((1, 32, 32, 3)), spec)
        >>> [out[k].shape for k in ("layer1.0", "layer4.1")]
        [(1, 8, 8, 4), (1, 1, 1, 8)]
    """
    layers = block_names(spec) if layers is None else tuple(layers)
    known = output_keys(spec)
    if not layers or any(k not in known for k in layers):
        raise InputError(f"layers must be a non-empty selection of {known}, got {layers}")
    if getattr(images, "ndim", None) != 4:
        raise InputError(
            f"images must have rank 4 (N, H, W, C={spec.in_channels}), got shape "
            f"{getattr(images, 'shape', None)}"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise InputError(f"images must be floating (network input units), got {images.dtype}")
    n, h, w, c = images.shape
    if c != spec.in_channels:
        raise InputError(f"images must have {spec.in_channels} channels (NHWC), got {c}")
    smallest = 2 ** (len(spec.widths) + 1)
    if n < 1 or min(h, w) < smallest:
        raise InputError(
            f"images must hold >= 1 image of at least {smallest} x {smallest} px, got {images.shape}"
        )
    _check_params(params, spec)
    out = _features(params, images, spec, layers)
    return {k: out[k] for k in layers}  # jit returns dicts sorted by key


# --------------------------------------------------------------------------------------------
# torchvision state_dicts
# --------------------------------------------------------------------------------------------


def _torch_bn(prefix: str) -> dict[str, str]:
    return {
        "scale": f"{prefix}.weight",
        "bias": f"{prefix}.bias",
        "mean": f"{prefix}.running_mean",
        "var": f"{prefix}.running_var",
    }


def _torch_names(spec: ResNetSpec) -> dict:
    """Our params tree with torchvision state_dict keys at the leaves."""
    shapes = param_shapes(spec)
    names: dict[str, Any] = {"conv1": {"w": "conv1.weight"}, "bn1": _torch_bn("bn1")}
    for block in block_names(spec):
        entry = {
            "conv1": {"w": f"{block}.conv1.weight"},
            "bn1": _torch_bn(f"{block}.bn1"),
            "conv2": {"w": f"{block}.conv2.weight"},
            "bn2": _torch_bn(f"{block}.bn2"),
        }
        if "downsample" in shapes[block]:
            entry["downsample"] = {
                "conv": {"w": f"{block}.downsample.0.weight"},
                "bn": _torch_bn(f"{block}.downsample.1"),
            }
        names[block] = entry
    names["fc"] = {"w": "fc.weight", "b": "fc.bias"}
    return names


def _to_torch_shape(shape: tuple[int, ...], key: str) -> tuple[int, ...]:
    if len(shape) == 4:  # HWIO -> OIHW
        kh, kw, ci, co = shape
        return (co, ci, kh, kw)
    if key == "fc.weight":
        return (shape[1], shape[0])
    return shape


def torchvision_shapes(spec: ResNetSpec = RESNET18) -> dict[str, tuple[int, ...]]:
    """The torchvision ``state_dict`` keys of ``spec`` and their shapes (OIHW kernels).

    ``num_batches_tracked`` buffers are omitted (they are ignored on conversion).

    Examples:
        >>> torchvision_shapes()["layer3.0.downsample.0.weight"]
        (256, 128, 1, 1)
    """
    names = jax.tree.leaves(_torch_names(spec))
    shapes = jax.tree.leaves(param_shapes(spec), is_leaf=lambda x: isinstance(x, tuple))
    return {k: _to_torch_shape(s, k) for k, s in zip(names, shapes, strict=True)}


def _read_file(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ResNetWeightsError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(16)
    size = path.stat().st_size
    if head[:2] == b"PK" or head[:1] == b"\x80" or path.suffix in (".pth", ".pt"):
        return _read_torch(path)
    if len(head) >= 9 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 8 + header_len > size:
            raise ResNetWeightsError(
                f"{path}: truncated safetensors file (header of {header_len} bytes declared, "
                f"file has {size})"
            )
        return _read_safetensors(path)
    raise ResNetWeightsError(
        f"{path}: neither a PyTorch (.pth, zip or pickle) nor a safetensors file "
        f"(first bytes {head[:8]!r})"
    )


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises SafetensorError and plain errors
        raise ResNetWeightsError(
            f"{path}: cannot read the safetensors file (truncated or corrupted): "
            f"{type(err).__name__}: {err}"
        ) from None


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise ResNetWeightsError(
            f"{path}: reading a PyTorch .pth/.pt file needs PyTorch (pip install torch), or "
            f"export it to .safetensors where PyTorch is installed "
            f"(safetensors.torch.save_file(state_dict, 'resnet18.safetensors'))"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # RuntimeError, UnpicklingError, EOFError, ...
        raise ResNetWeightsError(
            f"{path}: torch.load(weights_only=True) failed (truncated or corrupted file, or a "
            f"pickled model rather than a state_dict): {type(err).__name__}: {err}"
        ) from None
    if not isinstance(obj, Mapping):
        raise ResNetWeightsError(f"{path}: expected a state_dict, found {type(obj).__name__}")
    return dict(obj)


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def from_torchvision(
    state_dict_or_path: Mapping[str, Any] | str | os.PathLike,
    spec: ResNetSpec = RESNET18,
) -> dict:
    """Convert a torchvision ResNet ``state_dict`` to our params (float32, kernels HWIO).

    Accepts a mapping of tensors or arrays, a ``.pth``/``.pt`` file (``torch.load(...,
    weights_only=True)``; needs PyTorch), or a ``.safetensors`` file (read with NumPy only). A
    ``module.`` prefix (``nn.DataParallel``) and a ``{"state_dict": ...}`` wrapper are removed;
    ``num_batches_tracked`` buffers are ignored. Every key of :func:`torchvision_shapes` must be
    present with its shape and finite values; nothing is converted partially.

    Args:
        state_dict_or_path: the state_dict or the path of a file holding it.
        spec: the architecture the weights are for (``RESNET18``; e.g. a different
            ``num_classes`` for a retrained head).

    Returns:
        Params for :func:`features`.

    Raises:
        ResNetWeightsError: unreadable, truncated or corrupted file, missing PyTorch for
            ``.pth``, a missing key, a wrong shape or non-finite values (naming the key and the
            expected and found shapes).
    """
    if isinstance(state_dict_or_path, str | os.PathLike):
        where = str(state_dict_or_path)
        state = _read_file(Path(state_dict_or_path))
    elif isinstance(state_dict_or_path, Mapping):
        where = "state_dict"
        state = dict(state_dict_or_path)
    else:
        raise ResNetWeightsError(
            f"state_dict_or_path must be a mapping or a path, got {type(state_dict_or_path).__name__}"
        )
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if "conv1.weight" not in state and isinstance(state.get(wrapper), Mapping):
            state = dict(state[wrapper])
    if state and all(str(k).startswith("module.") for k in state):
        state = {str(k)[len("module.") :]: v for k, v in state.items()}
    expected = torchvision_shapes(spec)
    arrays = {}
    for key, shape in expected.items():
        if key not in state:
            close = sorted(k for k in state if str(k).split(".")[0] == key.split(".")[0])[:4]
            raise ResNetWeightsError(
                f"{where}: missing {key!r} (shape {shape}) for {spec.name}; keys nearby: {close}"
            )
        value = _as_numpy(state[key])
        if tuple(value.shape) != shape:
            raise ResNetWeightsError(
                f"{where}: {key!r} has shape {tuple(value.shape)}, expected {shape} for "
                f"{spec.name} (torchvision layout, OIHW kernels)"
            )
        if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
            raise ResNetWeightsError(f"{where}: {key!r} is not finite floating-point data")
        arrays[key] = value.astype(np.float32)

    def convert(key: str):
        a = arrays[key]
        if a.ndim == 4:
            a = a.transpose(2, 3, 1, 0)
        elif key == "fc.weight":
            a = a.T
        return jnp.asarray(np.ascontiguousarray(a))

    return jax.tree.map(convert, _torch_names(spec))
