"""The VGG convolutional stacks (torchvision's VGG11/13/16/19, with and without BatchNorm).

Public API:

* `VGG16_BN`, `VGG19` (and `VGG11`, `VGG11_BN`, `VGG13`, `VGG13_BN`, `VGG16`, `VGG19_BN`):
  frozen `VGGSpec` configs of torchvision's ``vgg*`` ``features`` stacks.
* `init_params(key, arch)`: random params (He-normal kernels, zero biases, identity BatchNorm).
* `features(params, images, arch, layers=None)`: a dict of every layer's read-out (or only the
  requested ones; the stack is run only as deep as needed).
* `from_torchvision(state_dict_or_path, arch)`: params from a torchvision state_dict -- a
  mapping of arrays or tensors, a ``.safetensors`` file (read with the ``safetensors`` package,
  no PyTorch needed) or a ``.pth``/``.pt`` file (read with ``torch.load(weights_only=True)``;
  needs PyTorch). Leon Gatys' layer-named VGG-19 files (``conv1_1.weight`` ..., e.g. the
  "normalised" VGG-19 used by Cadena et al. 2019) are understood as well.

Helpers: `VGGSpec`, `ARCHITECTURES`, `get_arch`, `param_shapes`, `layer_shapes`,
`receptive_fields`, `check_params`, `VGGWeightsError`.

Conventions. Images are NHWC floats, ``(N, H, W, arch.in_channels)``, in whatever units the
weights expect (torchvision's ImageNet weights: RGB in [0, 1] normalised by the ImageNet mean and
SD; Cadena et al. feed z-scored grey images tiled to three channels, with no mean subtraction).
Kernels are HWIO. Every convolution is 3 x 3, stride 1, zero padding 1 ("SAME"); every pool is
torchvision's ``MaxPool2d(2, 2)`` (2 x 2 window, stride 2, floor arithmetic: a 5-px map pools
to 2 px). Params are a dict pytree::

    {"conv1_1": {"w": f32[3, 3, c_in, c_out], "b": f32[c_out]},
     "bn1_1":   {"scale": f32[c_out], "bias": f32[c_out], "mean": f32[c_out], "var": f32[c_out]},
     ...}

with ``bn*`` entries only for the BatchNorm variants; BatchNorm runs in inference mode, from the
running statistics (``(x - mean) / sqrt(var + eps) * scale + bias``, torchvision's eps 1e-5).

Read-outs (the keys of `features`), named as torchvision's layers are usually named:

* ``convB_I`` -- the ReLU output of the ``I``-th convolution of block ``B`` (the input of the
  next layer);
* ``convB_I_pre`` -- its pre-activation, the input of that ReLU: ``W * x + b``, followed by
  BatchNorm in the ``_BN`` variants;
* ``convB_I_nobias`` -- the convolution alone, ``W * x``, without bias, BatchNorm or ReLU: the
  read-out point of Cadena et al. (2019), who take the read-out layer "before its ReLU and
  without its bias" and follow it with their own BatchNorm and ReLU;
* ``poolB`` -- the max-pool closing block ``B``.

References:
    Simonyan & Zisserman (2015), "Very deep convolutional networks for large-scale image
    recognition"; torchvision ``models/vgg.py`` (configs "A", "B", "D", "E").
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import InputError

__all__ = [
    "ARCHITECTURES",
    "VGG11",
    "VGG11_BN",
    "VGG13",
    "VGG13_BN",
    "VGG16",
    "VGG16_BN",
    "VGG19",
    "VGG19_BN",
    "VGGSpec",
    "VGGWeightsError",
    "check_params",
    "features",
    "from_torchvision",
    "get_arch",
    "init_params",
    "layer_shapes",
    "param_shapes",
    "receptive_fields",
]


class VGGWeightsError(InputError):
    """A state_dict or weight file cannot be read as the requested VGG architecture.

    Raised for missing, truncated, corrupted or unrecognised files, missing keys, wrong shapes,
    non-finite values and a missing optional dependency (PyTorch for ``.pth``). The message names
    the file (or "state_dict"), the key and the expected versus found shape.
    """


@dataclasses.dataclass(frozen=True)
class VGGSpec:
    """A VGG ``features`` stack: static structure only (hashable, a jit static argument).

    Attributes:
        name: identifier, e.g. ``"vgg19"`` or ``"vgg16_bn"``.
        config: torchvision's layer list: an ``int`` is a 3 x 3 convolution with that many output
            channels, ``"M"`` a 2 x 2 max-pool (which closes a block).
        batch_norm: a BatchNorm after every convolution (before its ReLU).
        in_channels: image channels (3 for the ImageNet weights).
        input_size: the canonical input side in pixels (others are allowed, see `layer_shapes`).
        bn_eps: BatchNorm epsilon (torchvision: 1e-5).
    """

    name: str
    config: tuple[int | str, ...]
    batch_norm: bool = False
    in_channels: int = 3
    input_size: int = 224
    bn_eps: float = 1e-5

    def __post_init__(self):
        if not self.config:
            raise InputError("VGGSpec.config must hold at least one layer")
        for item in self.config:
            ok = item == "M" or (isinstance(item, int) and not isinstance(item, bool) and item > 0)
            if not ok:
                raise InputError(
                    f"VGGSpec.config entries must be positive ints (conv channels) or 'M' "
                    f"(max-pool), got {item!r}"
                )
        if isinstance(self.config[0], str):
            raise InputError("VGGSpec.config must start with a convolution, got 'M'")
        if self.in_channels < 1:
            raise InputError(f"VGGSpec.in_channels must be >= 1, got {self.in_channels}")
        if self.input_size < 1:
            raise InputError(f"VGGSpec.input_size must be >= 1, got {self.input_size}")
        if not self.bn_eps > 0:
            raise InputError(f"VGGSpec.bn_eps must be > 0, got {self.bn_eps}")

    @property
    def convs(self) -> tuple[tuple[str, int, int], ...]:
        """``(name, c_in, c_out)`` of every convolution in network order."""
        out, block, index, c_in = [], 1, 0, self.in_channels
        for item in self.config:
            if item == "M":
                block, index = block + 1, 0
                continue
            index += 1
            out.append((f"conv{block}_{index}", c_in, int(item)))
            c_in = int(item)
        return tuple(out)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the convolutions, ``("conv1_1", "conv1_2", "conv2_1", ...)``."""
        return tuple(name for name, _, _ in self.convs)

    @property
    def output_keys(self) -> tuple[str, ...]:
        """Every key `features` can return, in network order."""
        keys, block = [], 1
        names = iter(self.layer_names)
        for item in self.config:
            if item == "M":
                keys.append(f"pool{block}")
                block += 1
            else:
                name = next(names)
                keys.extend((f"{name}_nobias", f"{name}_pre", name))
        return tuple(keys)

    @property
    def torchvision_indices(self) -> dict[str, int]:
        """``features.<index>`` of every convolution (and ``bn<B>_<I>``) in torchvision's layout.

        Each convolution is followed by a ReLU (and a BatchNorm before it in the ``_BN``
        variants), each ``"M"`` by one pool, so the indices step by 2 (3 with BatchNorm) and 1.
        """
        out, index = {}, 0
        names = iter(self.layer_names)
        for item in self.config:
            if item == "M":
                index += 1
                continue
            name = next(names)
            out[name] = index
            if self.batch_norm:
                out["bn" + name[len("conv") :]] = index + 1
                index += 3
            else:
                index += 2
        return out


def _spec(name: str, cfg: str, batch_norm: bool) -> VGGSpec:
    return VGGSpec(name=name, config=_CONFIGS[cfg], batch_norm=batch_norm)


#: torchvision's configs "A" (VGG11), "B" (VGG13), "D" (VGG16) and "E" (VGG19).
_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (
        *(64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"),
        *(512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
    ),
}

VGG11 = _spec("vgg11", "A", False)
VGG11_BN = _spec("vgg11_bn", "A", True)
VGG13 = _spec("vgg13", "B", False)
VGG13_BN = _spec("vgg13_bn", "B", True)
VGG16 = _spec("vgg16", "D", False)
VGG16_BN = _spec("vgg16_bn", "D", True)
VGG19 = _spec("vgg19", "E", False)
VGG19_BN = _spec("vgg19_bn", "E", True)

ARCHITECTURES: dict[str, VGGSpec] = {
    a.name: a for a in (VGG11, VGG11_BN, VGG13, VGG13_BN, VGG16, VGG16_BN, VGG19, VGG19_BN)
}


def get_arch(name: str) -> VGGSpec:
    """Look up a config by name (``vgg11`` ... ``vgg19_bn``).

    Raises:
        InputError: for an unknown name (listing the known ones).
    """
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise InputError(f"arch must be one of {sorted(ARCHITECTURES)}, got {name!r}") from None


def _check_arch(arch) -> VGGSpec:
    if isinstance(arch, str):
        return get_arch(arch)
    if not isinstance(arch, VGGSpec):
        raise InputError(f"arch must be a VGGSpec or a config name, got {type(arch).__name__}")
    return arch


def param_shapes(arch: VGGSpec) -> dict[str, dict[str, tuple[int, ...]]]:
    """Expected params shapes, ``{"conv1_1": {"w": (3, 3, c_in, c_out), "b": (c_out,)}, ...}``.

    The ``_BN`` variants add ``{"bn1_1": {"scale", "bias", "mean", "var"}: (c_out,)}`` entries.

    Examples:
        >>> shapes = param_shapes(VGG19)
        >>> shapes["conv3_1"]["w"], len(shapes)
        ((3, 3, 128, 256), 16)
    """
    arch = _check_arch(arch)
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, c_in, c_out in arch.convs:
        shapes[name] = {"w": (3, 3, c_in, c_out), "b": (c_out,)}
        if arch.batch_norm:
            shapes["bn" + name[4:]] = {k: (c_out,) for k in ("scale", "bias", "mean", "var")}
    return shapes


def layer_shapes(
    arch: VGGSpec, height: int | None = None, width: int | None = None
) -> dict[str, tuple[int, int, int]]:
    """Per-image output shape ``(h, w, c)`` of every key of ``arch.output_keys``.

    Convolutions keep the size (SAME); pools halve it with floor arithmetic.

    Args:
        arch: the VGG config.
        height, width: input size in pixels (default ``arch.input_size``; ``width`` defaults to
            ``height``).

    Returns:
        ``{key: (h, w, c)}`` in network order; keys whose map would be empty are left out (the
        input is too small to reach them), e.g. ``pool5`` for inputs under 32 px.

    Examples:
        >>> layer_shapes(VGG19, 40)["conv3_1"]
        (10, 10, 256)
    """
    arch = _check_arch(arch)
    h = arch.input_size if height is None else int(height)
    w = h if width is None else int(width)
    out: dict[str, tuple[int, int, int]] = {}
    block, c = 1, arch.in_channels
    names = iter(arch.layer_names)
    for item in arch.config:
        if h < 1 or w < 1:
            break
        if item == "M":
            h, w = h // 2, w // 2
            if h >= 1 and w >= 1:
                out[f"pool{block}"] = (h, w, c)
            block += 1
        else:
            name, c = next(names), int(item)
            for key in (f"{name}_nobias", f"{name}_pre", name):
                out[key] = (h, w, c)
    return out


def receptive_fields(arch: VGGSpec) -> dict[str, int]:
    """Receptive-field side (pixels of the input) of every layer, by the standard recursion.

    ``r_out = r_in + (k - 1) * j_in`` and ``j_out = j_in * s`` for a layer with kernel ``k`` and
    stride ``s`` (convolutions: k = 3, s = 1; pools: k = 2, s = 2), starting from ``r = j = 1``.

    Returns:
        ``{layer: side}`` for every convolution and pool, e.g. ``conv3_1: 24`` for VGG-19.

    Examples:
        >>> rf = receptive_fields(VGG19)
        >>> rf["conv1_1"], rf["conv3_1"], rf["pool5"]
        (3, 24, 268)
    """
    arch = _check_arch(arch)
    out, r, j, block = {}, 1, 1, 1
    names = iter(arch.layer_names)
    for item in arch.config:
        if item == "M":
            r, j = r + j, j * 2
            out[f"pool{block}"] = r
            block += 1
        else:
            r = r + 2 * j
            out[next(names)] = r
    return out


def check_params(params: Mapping, arch: VGGSpec) -> None:
    """Raise `InputError` unless ``params`` holds every entry of ``param_shapes(arch)``.

    Extra top-level keys are ignored.
    """
    arch = _check_arch(arch)
    if not isinstance(params, Mapping):
        raise InputError(f"params must be a dict of layers, got {type(params).__name__}")
    for name, shapes in param_shapes(arch).items():
        if name not in params or not isinstance(params[name], Mapping):
            raise InputError(
                f"params for {arch.name} are missing layer {name!r}; found {sorted(params)}"
            )
        for leaf, expected in shapes.items():
            if leaf not in params[name]:
                raise InputError(f"params[{name!r}] must hold {leaf!r} of shape {expected}")
            got = tuple(jnp.shape(params[name][leaf]))
            if got != expected:
                raise InputError(
                    f"params[{name!r}][{leaf!r}] must have shape {expected} for {arch.name} "
                    f"(kernels HWIO), got {got}"
                )


@functools.partial(jax.jit, static_argnames=("arch", "dtype"))
def _init(key, arch: VGGSpec, dtype):
    shapes = param_shapes(arch)
    convs = arch.convs
    sizes = [9 * c_in * c_out for _, c_in, c_out in convs]
    flat = jax.random.normal(key, (sum(sizes),), dtype)
    params, start = {}, 0
    for size, (name, c_in, c_out) in zip(sizes, convs, strict=True):
        std = math.sqrt(2.0 / (9 * c_in))
        params[name] = {
            "w": std * flat[start : start + size].reshape(shapes[name]["w"]),
            "b": jnp.zeros((c_out,), dtype),
        }
        start += size
        if arch.batch_norm:
            params["bn" + name[4:]] = {
                "scale": jnp.ones((c_out,), dtype),
                "bias": jnp.zeros((c_out,), dtype),
                "mean": jnp.zeros((c_out,), dtype),
                "var": jnp.ones((c_out,), dtype),
            }
    return params


def init_params(key: jax.Array, arch: VGGSpec, dtype=jnp.float32) -> dict:
    """Random params: He-normal kernels (std ``sqrt(2 / (9 c_in))``), zero biases, BatchNorm
    with unit scale, zero bias, zero running mean and unit running variance.

    These are *not* ImageNet features: a random VGG stack is a multi-layer random-feature model.

    Args:
        key: PRNG key.
        arch: the VGG config.
        dtype: floating dtype of the params.

    Returns:
        The params dict with shapes from ``param_shapes(arch)``.

    Examples:
        >>> import jax
        >>> p = init_params(jax.random.key(0), VGG16_BN)
        >>> p["conv1_1"]["w"].shape, p["bn1_1"]["var"].shape
        ((3, 3, 3, 64), (64,))
    """
    arch = _check_arch(arch)
    return _init(key, arch, jnp.dtype(dtype))


def _conv(x, w):
    return jax.lax.conv_general_dilated(
        x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _pool(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


@functools.partial(jax.jit, static_argnames=("arch", "layers"))
def _features(params, images, arch: VGGSpec, layers: tuple[str, ...]):
    wanted = set(layers)
    order = arch.output_keys
    last = max(order.index(k) for k in layers)
    out = {}
    x = images
    block = 1
    names = iter(arch.layer_names)
    position = 0
    for item in arch.config:
        if position > last:
            break
        if item == "M":
            x = _pool(x)
            key = f"pool{block}"
            if key in wanted:
                out[key] = x
            block += 1
            position += 1
            continue
        name = next(names)
        p = params[name]
        y = _conv(x, p["w"])
        if f"{name}_nobias" in wanted:
            out[f"{name}_nobias"] = y
        y = y + p["b"].reshape(1, 1, 1, -1)
        if arch.batch_norm:
            bn = params["bn" + name[4:]]
            inv = jax.lax.rsqrt(bn["var"] + arch.bn_eps) * bn["scale"]
            y = (y - bn["mean"].reshape(1, 1, 1, -1)) * inv.reshape(1, 1, 1, -1)
            y = y + bn["bias"].reshape(1, 1, 1, -1)
        if f"{name}_pre" in wanted:
            out[f"{name}_pre"] = y
        x = jax.nn.relu(y)
        if name in wanted:
            out[name] = x
        position += 3
    return out


def features(
    params: Mapping, images: jax.Array, arch: VGGSpec, layers: tuple[str, ...] | None = None
) -> dict[str, jax.Array]:
    """Read out the layers of a VGG stack for a batch of images.

    The stack runs only as deep as the deepest requested layer (asking for ``conv3_1_nobias``
    computes five convolutions and two pools). Jitted with ``arch`` and ``layers`` static.

    Args:
        params: as `param_shapes(arch)` (extra top-level keys are ignored).
        images: ``(N, H, W, arch.in_channels)`` floats, ``N >= 1``, ``H, W >= 1`` (deeper
            layers need larger inputs: ``pool5`` needs 32 px).
        arch: the VGG config (static).
        layers: keys of ``arch.output_keys`` to return (``convB_I``, ``convB_I_pre``,
            ``convB_I_nobias``, ``poolB``; see the module docstring); ``None`` returns all
            keys the input size reaches.

    Returns:
        ``{key: (N, h, w, c)}`` for the requested keys, shapes as in `layer_shapes`.

    Raises:
        InputError: a wrong image rank, channel count or dtype, an unknown layer name, a layer
            the input is too small to reach, or params of the wrong shapes.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> p = init_params(jax.random.key(0), VGG19)
        >>> out = features(p, jnp.zeros((1, 40, 40, 3)), VGG19, layers=("conv3_1_nobias",))
        >>> out["conv3_1_nobias"].shape
        (1, 10, 10, 256)
    """
    arch = _check_arch(arch)
    if getattr(images, "ndim", None) != 4:
        raise InputError(
            f"images must have rank 4 (N, H, W, C={arch.in_channels}), got shape "
            f"{getattr(images, 'shape', type(images).__name__)}"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise InputError(f"images must be floating point, got dtype {images.dtype}")
    n, h, w, c = images.shape
    if c != arch.in_channels:
        raise InputError(
            f"images must have {arch.in_channels} channel(s) for {arch.name} (NHWC; tile a grey "
            f"image to 3 channels), got shape {images.shape}"
        )
    if n < 1 or h < 1 or w < 1:
        raise InputError(f"images must hold at least one non-empty image, got {images.shape}")
    reachable = layer_shapes(arch, h, w)
    if layers is None:
        layers = tuple(reachable)
    else:
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        if not layers:
            raise InputError("layers must name at least one layer (or be None for all)")
        for key in layers:
            if key not in arch.output_keys:
                raise InputError(
                    f"layers must be keys of {arch.name}'s output_keys (convB_I, convB_I_pre, "
                    f"convB_I_nobias, poolB), got {key!r}"
                )
            if key not in reachable:
                raise InputError(
                    f"layer {key!r} of {arch.name} is empty for a {h}x{w} px input; "
                    f"the input must be larger"
                )
    check_params(params, arch)
    return _features(params, images, arch, layers)


# ---------------------------------------------------------------------------------------------
# torchvision state_dicts
# ---------------------------------------------------------------------------------------------


def _to_numpy(value) -> np.ndarray | None:
    if hasattr(value, "detach"):  # a torch tensor
        tensor = value.detach().cpu()
        if tensor.is_floating_point() and str(tensor.dtype) not in (
            "torch.float32",
            "torch.float64",
        ):
            tensor = tensor.float()  # float16 / bfloat16: exact in float32
        return tensor.numpy()
    try:
        return np.asarray(value)
    except Exception:  # noqa: BLE001 -- anything that is not an array
        return None


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        return dict(load_file(str(path)))
    except Exception as err:  # noqa: BLE001 -- safetensors raises its own and plain errors
        raise VGGWeightsError(
            f"{path}: cannot read the safetensors file (truncated, corrupted, or a dtype NumPy "
            f"lacks such as bfloat16): {type(err).__name__}: {err}"
        ) from None


def _read_torch(path: Path) -> Mapping:
    try:
        import torch
    except ImportError:
        raise VGGWeightsError(
            f"{path}: reading a PyTorch .pth/.pt file needs PyTorch, which is not installed; "
            f"install it (pip install 'vpl-jax[torch]'), or export the state_dict to "
            f".safetensors on a machine that has it (safetensors.torch.save_file(sd, "
            f"'vgg.safetensors')) and pass that file"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- torch raises many types for damaged files
        raise VGGWeightsError(
            f"{path}: torch.load(weights_only=True) failed (truncated or corrupted file, or a "
            f"pickled model rather than a state_dict): {type(err).__name__}: {err}"
        ) from None
    return obj


def _read_path(path: Path) -> Mapping:
    if not path.exists():
        raise VGGWeightsError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise VGGWeightsError(f"{path}: the file is empty")
    if head.startswith(b"version https://"):
        raise VGGWeightsError(
            f"{path}: a Git LFS pointer, not the weights: fetch the real file (git lfs pull)"
        )
    header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    looks_safetensors = len(head) >= 9 and head[8:9] == b"{" and 0 < header_len
    ext = path.suffix.lower()
    if looks_safetensors or ext == ".safetensors":
        return _read_safetensors(path)
    if ext in (".pth", ".pt") or head.startswith(b"PK") or head.startswith(b"\x80"):
        return _read_torch(path)
    raise VGGWeightsError(
        f"{path}: unrecognised weight file (expected a torchvision state_dict as .safetensors "
        f"or .pth/.pt)"
    )


def _unwrap(obj, where: str) -> tuple[dict[str, Any], str]:
    """The flat ``name -> value`` state_dict inside ``obj`` and the layout found."""
    if isinstance(obj, Mapping) and not any(
        str(k).startswith(("features.", "conv1_1", "module.")) for k in obj
    ):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise VGGWeightsError(
            f"{where}: expected a state_dict (a mapping name -> tensor), found {type(obj).__name__}"
        )
    state = {str(k): v for k, v in obj.items()}
    if state and all(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    if any(k.startswith("features.") for k in state):
        return state, "torchvision"
    if "conv1_1.weight" in state:
        return state, "named"
    shown = sorted(state)[:6]
    raise VGGWeightsError(
        f"{where}: not a VGG state_dict: expected keys 'features.<i>.weight' (torchvision) or "
        f"'conv1_1.weight' (layer-named), found {shown}{' ...' if len(state) > 6 else ''}"
    )


def _guess_arch(state: Mapping[str, Any], layout: str) -> str | None:
    """The name of the config whose keys and shapes ``state`` matches, if any."""
    for name, arch in ARCHITECTURES.items():
        try:
            _collect(state, layout, arch, "")
        except VGGWeightsError:
            continue
        return name
    return None


def _collect(state, layout: str, arch: VGGSpec, where: str) -> dict[str, dict[str, np.ndarray]]:
    shapes = param_shapes(arch)
    index = arch.torchvision_indices
    if layout == "named" and arch.batch_norm:
        raise VGGWeightsError(
            f"{where}: a layer-named state_dict (conv1_1.weight ...) has no BatchNorm layers, "
            f"asked for {arch.name!r}"
        )
    wanted = {
        "w": ("weight", "(c_out, c_in, 3, 3)"),
        "b": ("bias", "(c_out,)"),
        "scale": ("weight", "(c_out,)"),
        "bias": ("bias", "(c_out,)"),
        "mean": ("running_mean", "(c_out,)"),
        "var": ("running_var", "(c_out,)"),
    }
    params: dict[str, dict[str, np.ndarray]] = {}
    for layer, leaves in shapes.items():
        prefix = f"features.{index[layer]}" if layout == "torchvision" else layer
        params[layer] = {}
        for leaf, expected in leaves.items():
            suffix, text = wanted[leaf]
            key = f"{prefix}.{suffix}"
            file_shape = (expected[3], expected[2], 3, 3) if leaf == "w" else expected
            if key not in state:
                raise VGGWeightsError(
                    f"{where}: key {key!r} ({layer} {leaf}, shape {file_shape} {text}) is "
                    f"missing for {arch.name}"
                )
            arr = _to_numpy(state[key])
            if arr is None or arr.shape != file_shape:
                found = None if arr is None else arr.shape
                raise VGGWeightsError(
                    f"{where}: key {key!r} ({layer} {leaf}): expected shape {file_shape} {text} "
                    f"for {arch.name}, found {found}"
                )
            if not np.issubdtype(arr.dtype, np.floating):
                raise VGGWeightsError(
                    f"{where}: key {key!r}: expected floating-point values, found {arr.dtype}"
                )
            arr32 = arr.astype(np.float32)
            bad = int(arr32.size - np.count_nonzero(np.isfinite(arr32)))
            if bad:
                raise VGGWeightsError(
                    f"{where}: key {key!r} holds {bad} non-finite float32 values (NaN/inf): "
                    f"the file is corrupted"
                )
            if leaf == "w":
                arr32 = arr32.transpose(2, 3, 1, 0)  # OIHW -> HWIO
            params[layer][leaf] = np.ascontiguousarray(arr32)
    return params


def from_torchvision(state_dict_or_path, arch: VGGSpec) -> dict:
    """Params for ``arch`` from a torchvision VGG state_dict (or a file holding one).

    Keys ``features.<i>.weight``/``.bias`` (OIHW kernels; BatchNorm ``weight``, ``bias``,
    ``running_mean``, ``running_var``) at torchvision's indices (see
    ``VGGSpec.torchvision_indices``); ``classifier.*`` and ``num_batches_tracked`` are ignored; a
    ``module.`` prefix (``nn.DataParallel``) and a ``{"state_dict": ...}`` wrapper are removed.
    Layer-named files (``conv1_1.weight``, ...; Gatys' VGG-19) are read for the non-BN configs.
    Every array is checked before anything is returned: nothing loads partially.

    Args:
        state_dict_or_path: a mapping ``name -> array or torch tensor``, or a path to a
            ``.safetensors`` file (no PyTorch needed) or a ``.pth``/``.pt`` file (needs PyTorch).
        arch: the VGG config the weights are for.

    Returns:
        The params dict (float32 JAX arrays, HWIO kernels) as `param_shapes(arch)`.

    Raises:
        VGGWeightsError: unreadable, truncated or unrecognised file, a missing key, a wrong
            shape (the message names the config the file does match, when one does), non-finite
            values, or ``.pth`` without PyTorch.
    """
    arch = _check_arch(arch)
    if isinstance(state_dict_or_path, str | Path):
        path = Path(state_dict_or_path)
        where = str(path)
        obj = _read_path(path)
    else:
        where, obj = "state_dict", state_dict_or_path
    state, layout = _unwrap(obj, where)
    try:
        params = _collect(state, layout, arch, where)
    except VGGWeightsError as err:
        guess = _guess_arch(state, layout)
        if guess is not None and guess != arch.name:
            raise VGGWeightsError(f"{err}; the weights match {guess!r} instead") from None
        raise
    return jax.tree.map(jnp.asarray, params)
