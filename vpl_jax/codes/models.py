"""The networks whose sensitivity is measured: one descriptor for AlexNet, VGG, ResNet, small CNNs.

A :class:`Network` is a frozen (hashable) description -- family, architecture spec, read-out
layers, input size and channels, input scale -- usable as a ``jax.jit`` static argument;
:func:`apply` runs it on images given in **z-scored units** (ImageNet-normalised: 0 is the mean,
1 one standard deviation, the units of the paper's Gabor) and returns ``{layer: activations}``.

* :func:`alexnet_network` -- ``vpl_jax.alexnet`` stacks (the Caffe one takes 1 grey channel in
  0-255 grey levels minus the mean, so z-scored images are multiplied by
  :data:`CAFFE_PIXEL_STD`; the torchvision one takes z-scored RGB);
* :func:`vgg_network` -- ``vpl_jax.networks.vgg`` (read-outs after every convolution's ReLU and
  every pool: the paper's "activations following each linear or pooling layer" of the features
  stack);
* :func:`resnet_network` -- ``vpl_jax.networks.resnet`` (the 8 residual blocks);
* :func:`small_cnn_network` -- the small CNN this package trains on photo crops
  (:class:`SmallCNNSpec`, :func:`init_small_cnn`, :func:`small_cnn_logits`).

Weights: :func:`load_params` understands ``"random:SEED"`` (each family's default untrained
initialisation), ``"default"`` (the bundled AlexNet weights of ``vpl_jax.weights``, Caffe
architecture only), or a path (AlexNet: any format of ``vpl_jax.weights``; VGG and ResNet:
torchvision state_dicts as ``.pth`` or ``.safetensors``); ``shuffle_seed`` then permutes the
entries of every weight tensor within that tensor (:func:`shuffle_within_tensors`; BatchNorm
running statistics, buffers rather than trained parameters, are left in place).

Note on the bundled default AlexNet weights: they were pretrained on photos under uniformly random
rotations (``vpl_jax.pretrain``), so the orientation statistics they saw are isotropic by
construction; a cardinal bias in them cannot come from the image statistics.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from theory.checks import InputError
from vpl_jax import alexnet, weights
from vpl_jax.networks import resnet, vgg

__all__ = [
    "CAFFE_PIXEL_STD",
    "FAMILIES",
    "Network",
    "SmallCNNSpec",
    "alexnet_network",
    "apply",
    "init_small_cnn",
    "load_params",
    "network_by_name",
    "resnet_network",
    "shuffle_within_tensors",
    "small_cnn_features",
    "small_cnn_logits",
    "small_cnn_network",
    "vgg_network",
]

FAMILIES = ("alexnet", "vgg", "resnet", "small_cnn")

CAFFE_PIXEL_STD = 255.0 * 0.226
"""Grey levels per z-scored unit for the Caffe AlexNet (ImageNet's pixel SD, mean of the three
channel SDs 0.229, 0.224, 0.225, on the 0-255 scale)."""


@dataclasses.dataclass(frozen=True)
class SmallCNNSpec:
    """A small CNN: ``len(channels)`` convolutions with ReLU, global average pool, linear head.

    Attributes:
        in_channels: image channels (1 grey, 3 RGB).
        channels: output channels of the convolutions.
        kernel: square kernel side (odd; zero padding keeps the size before downsampling).
        downsample: after each of the first ``len(channels) - 1`` convolutions: ``"stride"``
            (that convolution has stride 2, no pooling), ``"maxpool3s2"`` (overlapping 3 x 3
            max-pool, stride 2) or ``"maxpool2s2"`` (non-overlapping 2 x 2 max-pool, stride 2).
        num_classes: outputs of the head.
        input_size: image side in pixels.
    """

    in_channels: int = 1
    channels: tuple[int, ...] = (8, 16, 32, 32)
    kernel: int = 5
    downsample: str = "stride"
    num_classes: int = 10
    input_size: int = 48

    def __post_init__(self):
        if self.downsample not in ("stride", "maxpool3s2", "maxpool2s2"):
            raise InputError(
                f"SmallCNNSpec.downsample must be 'stride', 'maxpool3s2' or 'maxpool2s2', got "
                f"{self.downsample!r}"
            )
        if not self.channels or any(c < 1 for c in self.channels):
            raise InputError(f"SmallCNNSpec.channels must be positive, got {self.channels}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise InputError(
                f"SmallCNNSpec.kernel must be a positive odd integer, got {self.kernel}"
            )
        for field in ("in_channels", "num_classes"):
            if getattr(self, field) < 1:
                raise InputError(f"SmallCNNSpec.{field} must be >= 1, got {getattr(self, field)}")
        if self.input_size < 2 ** len(self.channels):
            raise InputError(
                f"SmallCNNSpec.input_size must be >= {2 ** len(self.channels)}, got {self.input_size}"
            )

    @property
    def layer_names(self) -> tuple[str, ...]:
        """``conv1, ..., convK`` (post-ReLU, after downsampling where there is one)."""
        return tuple(f"conv{i + 1}" for i in range(len(self.channels)))


@dataclasses.dataclass(frozen=True)
class Network:
    """A network to measure (static description; hashable).

    Attributes:
        family: one of :data:`FAMILIES`.
        arch: the family's spec (``alexnet.ArchSpec``, ``vgg.VGGSpec``, ``resnet.ResNetSpec``,
            :class:`SmallCNNSpec`).
        layers: read-out layer names, in network order.
        input_size: canonical image side, pixels.
        in_channels: image channels.
        input_scale: network units per z-scored unit (1 except the Caffe AlexNet).
        name: label for figures.
    """

    family: str
    arch: Any
    layers: tuple[str, ...]
    input_size: int
    in_channels: int
    input_scale: float = 1.0
    name: str = ""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise InputError(f"Network.family must be one of {FAMILIES}, got {self.family!r}")
        if not self.layers:
            raise InputError("Network.layers must name at least one layer")


def alexnet_network(
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layers: tuple[str, ...] | None = None,
    input_size: int = 224,
    name: str | None = None,
) -> Network:
    """A ``vpl_jax.alexnet`` stack (every output key by default).

    Examples:
        >>> alexnet_network().layers[:3]
        ('conv1', 'norm1', 'pool1')
    """
    layers = arch.output_keys if layers is None else tuple(layers)
    unknown = [k for k in layers if k not in arch.output_keys]
    if unknown:
        raise InputError(f"layers must be keys of {arch.output_keys}, got {unknown}")
    scale = CAFFE_PIXEL_STD if arch.in_channels == 1 else 1.0
    return Network("alexnet", arch, layers, input_size, arch.in_channels, scale, name or arch.name)


def vgg_network(
    arch: vgg.VGGSpec = vgg.VGG16_BN,
    *,
    layers: tuple[str, ...] | None = None,
    input_size: int = 224,
    name: str | None = None,
) -> Network:
    """A VGG features stack; by default every ``convB_I`` (after its ReLU) and ``poolB``."""
    default = tuple(k for k in arch.output_keys if not k.endswith(("_pre", "_nobias")))
    layers = default if layers is None else tuple(layers)
    unknown = [k for k in layers if k not in arch.output_keys]
    if unknown:
        raise InputError(f"layers must be keys of {arch.name}'s output_keys, got {unknown}")
    return Network("vgg", arch, layers, input_size, arch.in_channels, 1.0, name or arch.name)


def resnet_network(
    spec: resnet.ResNetSpec = resnet.RESNET18,
    *,
    layers: tuple[str, ...] | None = None,
    input_size: int = 224,
    name: str | None = None,
) -> Network:
    """A ResNet; by default its residual blocks (``layer1.0 ... layer4.1`` for ResNet18)."""
    layers = resnet.block_names(spec) if layers is None else tuple(layers)
    unknown = [k for k in layers if k not in resnet.output_keys(spec)]
    if unknown:
        raise InputError(f"layers must be keys of {resnet.output_keys(spec)}, got {unknown}")
    return Network("resnet", spec, layers, input_size, spec.in_channels, 1.0, name or spec.name)


def small_cnn_network(spec: SmallCNNSpec, *, name: str = "small_cnn") -> Network:
    """The small CNN (read-outs ``conv1 .. convK``)."""
    return Network(
        "small_cnn", spec, spec.layer_names, spec.input_size, spec.in_channels, 1.0, name
    )


def network_by_name(name: str, *, input_size: int = 224) -> Network:
    """``caffe_alexnet``, ``torchvision_alexnet``, ``vgg16_bn``, ``vgg19`` (any VGG) or ``resnet18``.

    Raises:
        InputError: for an unknown name.
    """
    if name in alexnet.ARCHITECTURES:
        return alexnet_network(alexnet.ARCHITECTURES[name], input_size=input_size)
    if name == "resnet18":
        return resnet_network(input_size=input_size)
    if name in vgg.ARCHITECTURES:
        return vgg_network(vgg.ARCHITECTURES[name], input_size=input_size)
    known = (*alexnet.ARCHITECTURES, *vgg.ARCHITECTURES, "resnet18")
    raise InputError(f"network must be one of {known}, got {name!r}")


# --------------------------------------------------------------------------------------------
# The small CNN
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("spec", "dtype"))
def init_small_cnn(key: PRNGKeyArray, spec: SmallCNNSpec, dtype=jnp.float32) -> dict:
    """He-normal kernels (std ``sqrt(2 / fan_in)``), zero biases; head ``N(0, 1/fan_in)``.

    Returns:
        ``{"conv1": {"w": (k, k, c_in, c_out), "b": (c_out,)}, ..., "head": {"w", "b"}}``.
    """
    shapes, c_in = [], spec.in_channels
    for c_out in spec.channels:
        shapes.append((spec.kernel, spec.kernel, c_in, c_out))
        c_in = c_out
    shapes.append((c_in, spec.num_classes))
    sizes = [math.prod(sh) for sh in shapes]
    flat = jax.random.normal(key, (sum(sizes),), dtype)  # one draw: compiles fast on CPU
    params, start = {}, 0
    for i, (shape, size) in enumerate(zip(shapes, sizes, strict=True)):
        w = flat[start : start + size].reshape(shape)
        start += size
        fan_in = math.prod(shape[:-1])
        if i < len(spec.channels):
            params[f"conv{i + 1}"] = {
                "w": math.sqrt(2.0 / fan_in) * w,
                "b": jnp.zeros((shape[-1],), dtype),
            }
        else:
            params["head"] = {"w": w / math.sqrt(fan_in), "b": jnp.zeros((shape[-1],), dtype)}
    return params


def _small_cnn_stack(params: dict, images, spec: SmallCNNSpec) -> dict:
    out, x = {}, images
    pad = spec.kernel // 2
    last = len(spec.channels) - 1
    for i, name in enumerate(spec.layer_names):
        stride = 2 if (spec.downsample == "stride" and i < last) else 1
        x = jax.lax.conv_general_dilated(
            x,
            params[name]["w"],
            (stride, stride),
            ((pad, pad), (pad, pad)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        x = jax.nn.relu(x + params[name]["b"].reshape(1, 1, 1, -1))
        if i < last and spec.downsample != "stride":
            window = 3 if spec.downsample == "maxpool3s2" else 2
            x = jax.lax.reduce_window(
                x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, 2, 2, 1), "VALID"
            )
        out[name] = x
    return out


def small_cnn_features(params: dict, images: Float[Array, "N H W C"], spec: SmallCNNSpec) -> dict:
    """Read-outs ``conv1 .. convK`` of the small CNN (NHWC, z-scored input units)."""
    return _small_cnn_stack(params, images, spec)


def small_cnn_logits(params: dict, images: Float[Array, "N H W C"], spec: SmallCNNSpec) -> Array:
    """Class logits ``(N, num_classes)``: global average of the last layer, then the head."""
    last = _small_cnn_stack(params, images, spec)[spec.layer_names[-1]]
    pooled = jnp.mean(last, axis=(1, 2))
    return pooled @ params["head"]["w"] + params["head"]["b"][None, :]


# --------------------------------------------------------------------------------------------
# Running and loading
# --------------------------------------------------------------------------------------------


def apply(net: Network, params: dict, images: Float[Array, "N H W C"]) -> dict[str, Array]:
    """Read-outs ``{layer: activations}`` of ``net`` for images in z-scored units.

    Args:
        net: the network description.
        params: its params.
        images: ``(N, H, W, net.in_channels)`` in z-scored (ImageNet-normalised) units.

    Returns:
        ``{layer: array}`` for ``net.layers``.
    """
    out = _apply(net, params, images)
    return {k: out[k] for k in net.layers}  # jit returns dicts sorted by key


@functools.partial(jax.jit, static_argnums=(0,))
def _apply(net: Network, params: dict, images):
    x = images * net.input_scale if net.input_scale != 1.0 else images
    if net.family == "alexnet":
        out = alexnet.features(params, x, net.arch)
    elif net.family == "vgg":
        out = vgg.features(params, x, net.arch, layers=net.layers)
    elif net.family == "resnet":
        out = resnet.features(params, x, net.arch, layers=net.layers)
    else:
        out = small_cnn_features(params, x, net.arch)
    return {k: out[k] for k in net.layers}


def shuffle_within_tensors(
    key: PRNGKeyArray, params: dict, *, skip: tuple[str, ...] = ("mean", "var")
) -> dict:
    """Permute the entries of every tensor of ``params`` within that tensor (paper's SI Fig. 1a).

    Each leaf gets its own random permutation of its flattened entries, so every tensor keeps its
    values (and so its norm and distribution) but loses its structure. Leaves named in ``skip``
    (BatchNorm running statistics, buffers rather than learned weights) stay in place.

    Args:
        key: PRNG key.
        params: a dict pytree of arrays.
        skip: leaf names left unshuffled.

    Returns:
        The shuffled params (same structure and shapes).

    Examples:
        >>> p = {"conv": {"w": jnp.arange(6.0).reshape(2, 3), "mean": jnp.arange(3.0)}}
        >>> s = shuffle_within_tensors(jax.random.key(0), p)
        >>> sorted(s["conv"]["w"].ravel().tolist()), s["conv"]["mean"].tolist()
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 2.0])
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    # Host-side permutations seeded from the key's bits: XLA's sort-based permutation compiles
    # slowly for dozens of tensor shapes, and the result is the same kind of uniform shuffle.
    seeds = np.asarray(jax.random.key_data(jax.random.split(key, max(len(flat), 1))))
    out = []
    for seed, (path, leaf) in zip(seeds, flat, strict=False):
        name = getattr(path[-1], "key", None)
        if name in skip:
            out.append(leaf)
        else:
            arr = np.asarray(leaf)
            perm = np.random.default_rng(seed.tolist()).permutation(arr.size)
            out.append(jnp.asarray(arr.ravel()[perm].reshape(arr.shape)))
    return jax.tree.unflatten(treedef, out)


def _seed_of(source: str) -> int:
    try:
        seed = int(source.split(":", 1)[1])
    except (IndexError, ValueError):
        seed = -1
    if seed < 0:
        raise InputError(f"weights 'random:SEED' needs a non-negative integer seed, got {source!r}")
    return seed


def load_params(net: Network, source: str, *, shuffle_seed: int | None = None) -> dict:
    """Params for ``net`` from ``"random:SEED"``, ``"default"`` or a weight file.

    Args:
        net: the network description.
        source: ``"random:SEED"`` (the family's untrained initialisation with that seed),
            ``"default"`` (bundled AlexNet weights; Caffe architecture), or a path (see the
            module docstring).
        shuffle_seed: if given, shuffle every weight tensor within itself with this seed.

    Returns:
        The params pytree.

    Raises:
        InputError: unknown or malformed source, ``"default"`` for a network other than the
            Caffe AlexNet, or a file that does not fit the architecture (the loaders' errors are
            ``InputError`` subclasses, e.g. ``vpl_jax.weights.WeightsError`` is a
            ``ValueError``, re-raised as ``InputError`` with its message).
    """
    if not isinstance(source, str):
        source = str(source)
    if source.startswith("random:"):
        key = jax.random.key(_seed_of(source))
        if net.family == "alexnet":
            params = alexnet.init_params(key, net.arch)
        elif net.family == "vgg":
            params = vgg.init_params(key, net.arch)
        elif net.family == "resnet":
            params = resnet.init_params(key, net.arch)
        else:
            params = init_small_cnn(key, net.arch)
    elif source == "default":
        if net.family != "alexnet" or net.arch.in_channels != 1:
            raise InputError(
                f"weights 'default' are the bundled Caffe AlexNet (1 channel); got {net.name!r}"
            )
        params = weights.load("default", arch=net.arch)
    else:
        try:
            if net.family == "alexnet":
                mode = "keep" if net.arch.in_channels == 3 else "sum"
                params = weights.load(source, arch=net.arch.name, rgb_to_grey=mode)
            elif net.family == "vgg":
                params = vgg.from_torchvision(source, net.arch)
            elif net.family == "resnet":
                params = resnet.from_torchvision(source, net.arch)
            else:
                raise InputError("small_cnn weights come from training, not from files")
        except InputError:
            raise
        except ValueError as err:  # vpl_jax.weights.WeightsError
            raise InputError(str(err)) from None
    if shuffle_seed is not None:
        if isinstance(shuffle_seed, bool) or not isinstance(shuffle_seed, int) or shuffle_seed < 0:
            raise InputError(f"shuffle_seed must be None or an integer >= 0, got {shuffle_seed!r}")
        params = shuffle_within_tensors(jax.random.key(shuffle_seed), params)
    return params
