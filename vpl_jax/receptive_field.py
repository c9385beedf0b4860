"""Receptive-field cones of the AlexNet stacks: exact forward passes restricted to chosen units.

A unit of a layer sees only a window of the layer below it, and so on down to a window of the
image: its receptive-field *cone*. ``cone_features`` computes the requested units of chosen
layers (a rectangle of positions per layer, every channel) by cropping each layer's input to
exactly the region that feeds them and running the same convolutions, ReLUs, LRN and max-pools
as ``vpl_jax.alexnet.features`` on the crop. The result is the full forward's value at those
positions, not an approximation:

* a convolution's input is cropped to the rows ``[a s - p, (b - 1) s - p + k)`` that feed its
  output rows ``[a, b)`` (stride ``s``, padding ``p``, kernel ``k``); the part of that window
  outside the map is the zero padding of the full forward, so it is filled with zeros;
* LRN normalises across channels at each position, so a spatial crop commutes with it;
* a VALID max-pool's output rows ``[a, b)`` read the rows ``[a t, (b - 1) t + q)`` (stride ``t``,
  window ``q``), always inside the map.

When several layers are requested, each layer computes the bounding box of what it must deliver
(its own request and the cone of the layers above), and the stack stops after the last requested
layer. Layers are output keys of ``alexnet.features`` (``arch.output_keys``); regions are
half-open ``(top, bottom, left, right)`` in the layer's own map coordinates.

For the tuning protocol of Wenliang & Seitz (2018) (the centre unit of norm1, norm2, conv3, conv4
and conv5 at 227 px) the cone is 163 x 163 image pixels, 39 x 39 of conv1's 55 x 55, 15 x 15 of
conv2's 27 x 27, 5 x 5 of conv3, 3 x 3 of conv4 and 1 x 1 of conv5: 5.2x fewer multiply-adds
than the full stack (``cone_macs``).

Everything is differentiable (forward and reverse mode) through the same primitives as the full
forward; ``centre_features`` is the centre-unit special case used by
``vpl_jax.analysis.recording``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from theory.checks import InputError, InputTypeError
from vpl_jax import alexnet

__all__ = [
    "Region",
    "centre_features",
    "centre_jvp",
    "centre_regions",
    "cone_features",
    "cone_jvp",
    "cone_macs",
    "cone_regions",
]

Region = tuple[int, int, int, int]
"""Half-open ``(top, bottom, left, right)`` positions of a layer's map."""


def _union(a: Region | None, b: Region | None) -> Region | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _conv_input(region: Region, conv: alexnet.ConvSpec) -> Region:
    """Input positions (unclipped: outside the map is the zero padding) feeding ``region``."""
    top, bottom, left, right = region
    s, p, k = conv.stride, conv.padding, conv.kernel
    return (top * s - p, (bottom - 1) * s - p + k, left * s - p, (right - 1) * s - p + k)


def _pool_input(region: Region, window: int, stride: int) -> Region:
    top, bottom, left, right = region
    return (
        top * stride,
        (bottom - 1) * stride + window,
        left * stride,
        (right - 1) * stride + window,
    )


def _clip(region: Region, h: int, w: int) -> Region:
    top, bottom, left, right = region
    return (max(top, 0), min(bottom, h), max(left, 0), min(right, w))


def _stage_keys(arch: alexnet.ArchSpec, i: int) -> tuple[str, ...]:
    conv = arch.convs[i]
    keys = [conv.name]
    if conv.lrn:
        keys.append(f"norm{i + 1}")
    if conv.pool:
        keys.append(f"pool{i + 1}")
    return tuple(keys)


def _check_regions(arch, regions, height, width) -> dict[str, Region]:
    if not isinstance(regions, Mapping) or not regions:
        raise InputError(
            f"regions must be a non-empty mapping {{layer: (top, bottom, left, right)}}, "
            f"got {regions!r}"
        )
    shapes = alexnet.layer_shapes(arch, height, width)
    out = {}
    for layer, region in regions.items():
        if layer not in shapes:
            raise InputError(
                f"regions has unknown layer {layer!r} for {arch.name}; known: {arch.output_keys}"
            )
        try:
            values = tuple(region)
            top, bottom, left, right = (int(v) for v in values)
            if any(int(v) != v or isinstance(v, bool) for v in values):
                raise ValueError
        except (TypeError, ValueError):
            raise InputError(
                f"regions[{layer!r}] must be 4 integers (top, bottom, left, right), got {region!r}"
            ) from None
        h, w, _ = shapes[layer]
        if not (0 <= top < bottom <= h and 0 <= left < right <= w):
            raise InputError(
                f"regions[{layer!r}] = {region!r} must satisfy 0 <= top < bottom <= {h} and "
                f"0 <= left < right <= {w} ({layer} is {h} x {w} at {height} x {width} px)"
            )
        out[layer] = (top, bottom, left, right)
    return out


@dataclasses.dataclass(frozen=True)
class _Stage:
    """What one conv stage computes: input crop (unclipped), and the region of each output key."""

    crop: Region  # rows/cols of the previous map (or the image) fed to the convolution
    out: tuple[tuple[str, Region], ...]  # region of conv<i>, norm<i>, pool<i> that is computed


@functools.lru_cache(maxsize=256)
def _plan(arch, height, width, regions) -> tuple[_Stage, ...]:
    """Per stage (up to the last one with a request) the crops and computed regions."""
    requested = dict(regions)
    shapes = alexnet.layer_shapes(arch, height, width)
    last = max(i for i in range(len(arch.convs)) if set(_stage_keys(arch, i)) & set(requested))
    stages = []
    below: Region | None = None  # what the stage above needs of this stage's final output
    for i in range(last, -1, -1):
        conv = arch.convs[i]
        keys = _stage_keys(arch, i)
        need = {key: requested.get(key) for key in keys}
        need[keys[-1]] = _union(need[keys[-1]], below)
        for k in range(len(keys) - 1, 0, -1):  # pass requirements down within the stage
            key, prev = keys[k], keys[k - 1]
            if need[key] is None:
                continue
            if key.startswith("pool"):
                feed = _pool_input(need[key], arch.pool_window, arch.pool_stride)
            else:
                feed = need[key]  # LRN: position-wise
            need[prev] = _union(need[prev], feed)
        crop = _conv_input(need[conv.name], conv)
        if i > 0:
            h_in, w_in, _ = shapes[_stage_keys(arch, i - 1)[-1]]
        else:
            h_in, w_in = height, width
        below = _clip(crop, h_in, w_in)
        out = tuple((key, need[key]) for key in keys if need[key] is not None)
        stages.append(_Stage(crop, out))
    return tuple(reversed(stages))


def cone_regions(
    arch: alexnet.ArchSpec,
    regions: Mapping[str, Region],
    height: int | None = None,
    width: int | None = None,
) -> dict[str, Region]:
    """The region of every layer (and of the image, key ``"image"``) that the cone computes.

    Args:
        arch: architecture spec.
        regions: ``{layer: (top, bottom, left, right)}`` requested positions (half-open).
        height, width: input size (default ``arch.input_size``; ``width`` defaults to ``height``).

    Returns:
        ``{"image": region, layer: region, ...}`` in network order, the image region clipped to
        the image (its receptive field), layers beyond the last requested one absent.

    Examples:
        >>> r = centre_regions(alexnet.CAFFE_ALEXNET, ("conv5",))
        >>> cone_regions(alexnet.CAFFE_ALEXNET, r)["image"]  # 163 x 163 pixels
        (32, 195, 32, 195)
    """
    height = arch.input_size if height is None else int(height)
    width = height if width is None else int(width)
    checked = _check_regions(arch, regions, height, width)
    plan = _plan(arch, height, width, tuple(sorted(checked.items())))
    out = {"image": _clip(plan[0].crop, height, width)}
    for stage in plan:
        out.update(dict(stage.out))
    return out


def cone_macs(
    arch: alexnet.ArchSpec,
    regions: Mapping[str, Region] | None = None,
    height: int | None = None,
    width: int | None = None,
) -> int:
    """Multiply-adds per image of the convolutions of the cone (``regions=None``: the full stack).

    Examples:
        >>> arch = alexnet.CAFFE_ALEXNET
        >>> layers = ("norm1", "norm2", "conv3", "conv4", "conv5")
        >>> round(cone_macs(arch) / cone_macs(arch, centre_regions(arch, layers)), 1)
        5.2
    """
    height = arch.input_size if height is None else int(height)
    width = height if width is None else int(width)
    shapes = alexnet.layer_shapes(arch, height, width)
    if regions is None:
        sizes = {conv.name: shapes[conv.name][:2] for conv in arch.convs}
    else:
        got = cone_regions(arch, regions, height, width)
        sizes = {
            conv.name: (
                got[conv.name][1] - got[conv.name][0],
                got[conv.name][3] - got[conv.name][2],
            )
            for conv in arch.convs
            if conv.name in got
        }
    total = 0
    for name, shape in alexnet.param_shapes(arch).items():
        if name in sizes:
            kh, kw, c_in, c_out = shape["w"]
            total += sizes[name][0] * sizes[name][1] * kh * kw * c_in * c_out
    return total


def centre_regions(
    arch: alexnet.ArchSpec,
    layers: Sequence[str] | None = None,
    height: int | None = None,
    width: int | None = None,
) -> dict[str, Region]:
    """The centre unit ``(h // 2, w // 2)`` of each layer's map, as a 1 x 1 region.

    Args:
        arch: architecture spec.
        layers: output keys (default: all of ``arch.output_keys``).
        height, width: input size (default ``arch.input_size``; ``width`` defaults to ``height``).

    Examples:
        >>> centre_regions(alexnet.CAFFE_ALEXNET, ("norm1", "conv5"))
        {'norm1': (27, 28, 27, 28), 'conv5': (6, 7, 6, 7)}
    """
    height = arch.input_size if height is None else int(height)
    width = height if width is None else int(width)
    layers = arch.output_keys if layers is None else tuple(layers)
    shapes = alexnet.layer_shapes(arch, height, width)
    out = {}
    for layer in layers:
        if layer not in shapes:
            raise InputError(
                f"layers has unknown layer {layer!r} for {arch.name}; known: {arch.output_keys}"
            )
        h, w, _ = shapes[layer]
        out[layer] = (h // 2, h // 2 + 1, w // 2, w // 2 + 1)
    return out


def _take(x: jax.Array, have: Region, want: Region, pad_to: Region | None = None) -> jax.Array:
    """The ``want`` positions of ``x`` (which holds ``have``); with ``pad_to``, zero-padded to it."""
    top, bottom, left, right = want
    x = x[:, top - have[0] : bottom - have[0], left - have[2] : right - have[2], :]
    if pad_to is None:
        return x
    pads = ((0, 0), (top - pad_to[0], pad_to[1] - bottom), (left - pad_to[2], pad_to[3] - right))
    if any(p for pair in pads for p in pair):
        x = jnp.pad(x, pads + ((0, 0),))
    return x


def _crop_conv(x, have, crop, bounds, p, conv):
    """The convolution of ``conv`` on the ``crop`` of ``x`` (which holds ``have``), VALID.

    The part of the crop outside the map (``bounds``) is the full forward's zero padding, given
    to the convolution as its padding. Where a side needs none, a 5 x 5 stride-1 convolution
    gets one stride of padding there instead and drops its first output row/column: XLA:CPU
    (jax 0.10.2) ran conv2's unpadded cone convolution 4x slower than this padded one with one
    extra output row and column (measured; conv1 and the 3 x 3 layers are faster unpadded).
    """
    inner = _clip(crop, *bounds)
    x = _take(x, have, inner)
    pads = [inner[0] - crop[0], crop[1] - inner[1], inner[2] - crop[2], crop[3] - inner[3]]
    shift = conv.stride == 1 and conv.kernel >= 5
    drop_top = shift and pads[0] == 0
    drop_left = shift and pads[2] == 0
    pads[0] += conv.stride * drop_top
    pads[2] += conv.stride * drop_left
    y = alexnet.conv_layer(x, p["w"], p["b"], conv, ((pads[0], pads[1]), (pads[2], pads[3])))
    return y[:, int(drop_top) :, int(drop_left) :, :]


def _check_images(images, arch):
    if images.ndim != 4:
        raise InputError(
            f"expected images of rank 4 (N, H, W, C={arch.in_channels}), got {images.shape=}"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise InputTypeError(f"expected floating images in network units, got {images.dtype=}")
    if images.shape[-1] != arch.in_channels:
        raise InputError(
            f"{arch.name} takes {arch.in_channels} input channel(s) (NHWC), got "
            f"{images.shape[-1]} ({images.shape=})"
        )
    if images.shape[0] < 1:
        raise InputError(f"expected at least one image, got {images.shape=}")


def _linear_part(p: dict) -> dict:
    """A layer's params without the bias (the tangent of an affine map is its linear part)."""
    return {"w": p["w"], "b": jnp.zeros_like(p["b"])}


def _with_tangent(fn, x, dx):
    """``fn(x)`` and, when ``dx`` is not None, its forward-mode tangent ``J_fn(x) dx``."""
    if dx is None:
        return fn(x), None
    return jax.jvp(fn, (x,), (dx,))


def _stages(params, images, tangent, arch, regions):
    """Run the cone's stages on ``images`` (and carry ``tangent`` along when it is not None).

    ``tangent`` is ``None``, ``(N, H, W, C)`` or ``(1, H, W, C)`` (one tangent for every
    image: conv1's tangent is then computed once and broadcast after its ReLU). Returns
    ``{layer: (value, tangent or None, region held)}`` of every computed layer.
    """
    _, height, width, _ = images.shape
    plan = _plan(arch, height, width, regions)
    shapes = alexnet.layer_shapes(arch, height, width)
    computed = {}
    x, dx, have, bounds = images, tangent, (0, height, 0, width), (height, width)
    for i, stage in enumerate(plan):
        conv, p, out = arch.convs[i], params[arch.convs[i].name], dict(stage.out)
        z = _crop_conv(x, have, stage.crop, bounds, p, conv)
        if dx is not None:  # ReLU's tangent, as jax.nn.relu's: the linear part where z > 0
            dz = _crop_conv(dx, have, stage.crop, bounds, _linear_part(p), conv)
            dx = jnp.where(z > 0, dz, jnp.zeros((), dz.dtype))
        x = jax.nn.relu(z)
        have = out[conv.name]
        computed[conv.name] = (x, dx, have)
        if f"norm{i + 1}" in out:
            want = out[f"norm{i + 1}"]
            x, dx = _take(x, have, want), None if dx is None else _take(dx, have, want)
            lrn = dict(size=arch.lrn_size, alpha=arch.lrn_alpha, beta=arch.lrn_beta, k=arch.lrn_k)
            if dx is None:
                x = alexnet.lrn(x, **lrn)
            else:
                x, dx = alexnet.lrn_jvp(x, dx, **lrn)
            have = want
            computed[f"norm{i + 1}"] = (x, dx, have)
        if f"pool{i + 1}" in out:
            want = out[f"pool{i + 1}"]
            feed = _pool_input(want, arch.pool_window, arch.pool_stride)
            x, dx = _take(x, have, feed), None if dx is None else _take(dx, have, feed)
            pool = functools.partial(
                alexnet.max_pool, window=arch.pool_window, stride=arch.pool_stride
            )
            x, dx = _with_tangent(pool, x, dx)
            have = want
            computed[f"pool{i + 1}"] = (x, dx, have)
        bounds = shapes[_stage_keys(arch, i)[-1]][:2]
    return computed


@functools.partial(jax.jit, static_argnames=("arch", "regions"))
def _cone(params, images, arch, regions):
    computed = _stages(params, images, None, arch, regions)
    return {
        layer: _take(computed[layer][0], computed[layer][2], region) for layer, region in regions
    }


@functools.partial(jax.jit, static_argnames=("arch", "regions"))
def _cone_jvp(params, images, tangent, arch, regions):
    computed = _stages(params, images, tangent, arch, regions)
    values = {layer: _take(computed[layer][0], computed[layer][2], r) for layer, r in regions}
    tangents = {
        layer: jnp.broadcast_to(
            _take(computed[layer][1], computed[layer][2], r), values[layer].shape
        )
        for layer, r in regions
    }
    return values, tangents


def cone_features(
    params: dict,
    images: jax.Array,
    regions: Mapping[str, Region],
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
) -> dict[str, jax.Array]:
    """Chosen positions of chosen layers, computed on their receptive-field cone only (exact).

    Equal to ``{layer: alexnet.features(params, images, arch)[layer][:, top:bottom,
    left:right]}`` (same primitives, so equal to float32 round-off) at a fraction of the cost;
    see the module docstring for why cropping is exact. Jitted with ``arch`` and the regions
    static; usable under ``jit``, ``vmap``, ``jvp``/``jacfwd`` and ``grad``.

    Args:
        params: conv1-5 params of ``arch`` (extra keys ignored).
        images: ``(N, H, W, arch.in_channels)`` floats in network units.
        regions: ``{layer: (top, bottom, left, right)}``, half-open positions of each layer's
            map (``centre_regions`` for the centre units).
        arch: architecture spec.

    Returns:
        ``{layer: (N, bottom - top, right - left, C)}`` in the order of ``regions``.

    Raises:
        InputError: on a bad image shape, too small an input, an unknown layer or a region
            outside its map, or params of the wrong shapes.
        InputTypeError: on non-floating images.
    """
    images = jnp.asarray(images)
    _check_images(images, arch)
    checked = _check_regions(arch, regions, images.shape[1], images.shape[2])
    alexnet.check_params(params, arch)
    out = _cone(params, images, arch, tuple(sorted(checked.items())))
    return {layer: out[layer] for layer in checked}  # jit returns dicts sorted by key


def centre_features(
    params: dict,
    images: jax.Array,
    layers: Sequence[str] | None = None,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
) -> dict[str, jax.Array]:
    """The centre unit ``(h // 2, w // 2)`` of every channel of ``layers``, from the cone.

    Equals ``{layer: alexnet.features(params, images, arch)[layer][:, h // 2, w // 2, :]}``
    (``vpl_jax.analysis.recording.centre_units`` of the full maps) to float32 round-off.

    Args:
        params: conv1-5 params of ``arch``.
        images: ``(N, H, W, arch.in_channels)`` floats in network units.
        layers: output keys (default all of ``arch.output_keys``).
        arch: architecture spec.

    Returns:
        ``{layer: (N, C)}`` in the order of ``layers``.

    Examples:
        >>> params = alexnet.init_params(jax.random.key(0))
        >>> x = jax.random.normal(jax.random.key(1), (2, 67, 67, 1))
        >>> full = alexnet.features(params, x)["conv5"][:, 1, 1, :]
        >>> bool(jnp.allclose(centre_features(params, x, ("conv5",))["conv5"], full, atol=1e-5))
        True
    """
    images = jnp.asarray(images)
    _check_images(images, arch)
    regions = centre_regions(arch, layers, images.shape[1], images.shape[2])
    out = cone_features(params, images, regions, arch)
    return {layer: value[:, 0, 0, :] for layer, value in out.items()}


def _check_tangent(tangent, images) -> jax.Array:
    tangent = jnp.asarray(tangent)
    if tangent.shape == images.shape[1:]:
        tangent = tangent[None]
    elif tangent.shape != images.shape:
        raise InputError(
            f"image_tangent must have the shape of images {images.shape} or of one image "
            f"{images.shape[1:]} (the same tangent for every image), got {tangent.shape}"
        )
    if tangent.dtype != images.dtype:
        raise InputTypeError(
            f"image_tangent must have the dtype of images ({images.dtype}), got {tangent.dtype}"
        )
    return tangent


def cone_jvp(
    params: dict,
    images: jax.Array,
    image_tangent: jax.Array,
    regions: Mapping[str, Region],
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """``cone_features`` and its forward-mode derivative along ``image_tangent``, in one pass.

    Equal to ``jax.jvp(lambda x: cone_features(params, x, regions, arch), (images,),
    (image_tangent,))`` (the same primitives and tangent rules, to float32 round-off), but the
    tangent is carried through the stages by hand so that a tangent shared by every image is
    used as such: with ``image_tangent`` of shape ``(H, W, C)`` -- e.g. ``d image / d theta``
    of stimuli whose additive noise does not depend on ``theta`` -- conv1 (linear up to its
    ReLU) computes the tangent once instead of once per image.

    Args:
        params: conv1-5 params of ``arch``.
        images: ``(N, H, W, arch.in_channels)`` floats in network units.
        image_tangent: ``(N, H, W, C)`` one tangent per image, or ``(H, W, C)`` one for all;
            the dtype of ``images``.
        regions: ``{layer: (top, bottom, left, right)}`` as for ``cone_features``.
        arch: architecture spec.

    Returns:
        ``(values, tangents)``: two dicts ``{layer: (N, bottom - top, right - left, C)}`` in the
        order of ``regions``.

    Raises:
        InputError: as ``cone_features``, and on a tangent of another shape.
        InputTypeError: on non-floating images or a tangent of another dtype.
    """
    images = jnp.asarray(images)
    _check_images(images, arch)
    tangent = _check_tangent(image_tangent, images)
    checked = _check_regions(arch, regions, images.shape[1], images.shape[2])
    alexnet.check_params(params, arch)
    values, tangents = _cone_jvp(params, images, tangent, arch, tuple(sorted(checked.items())))
    return {layer: values[layer] for layer in checked}, {
        layer: tangents[layer] for layer in checked
    }


def centre_jvp(
    params: dict,
    images: jax.Array,
    image_tangent: jax.Array,
    layers: Sequence[str] | None = None,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """``centre_features`` and its forward-mode derivative along ``image_tangent`` (``cone_jvp``).

    Args:
        params: conv1-5 params of ``arch``.
        images: ``(N, H, W, arch.in_channels)`` floats in network units.
        image_tangent: ``(N, H, W, C)``, or ``(H, W, C)`` shared by every image (conv1's tangent
            computed once).
        layers: output keys (default all of ``arch.output_keys``).
        arch: architecture spec.

    Returns:
        ``(values, tangents)``: two dicts ``{layer: (N, C)}`` in the order of ``layers``.

    Examples:
        >>> params = alexnet.init_params(jax.random.key(0))
        >>> x = jax.random.normal(jax.random.key(1), (2, 67, 67, 1))
        >>> t = jax.random.normal(jax.random.key(2), (67, 67, 1))  # one tangent for both
        >>> y, dy = centre_jvp(params, x, t, ("conv5",))
        >>> f = lambda x: centre_features(params, x, ("conv5",))["conv5"]
        >>> y_ref, dy_ref = jax.jvp(f, (x,), (jnp.broadcast_to(t, x.shape),))
        >>> bool(jnp.allclose(dy["conv5"], dy_ref, rtol=1e-4, atol=1e-4))
        True
    """
    images = jnp.asarray(images)
    _check_images(images, arch)
    regions = centre_regions(arch, layers, images.shape[1], images.shape[2])
    values, tangents = cone_jvp(params, images, image_tangent, regions, arch)
    return (
        {layer: v[:, 0, 0, :] for layer, v in values.items()},
        {layer: t[:, 0, 0, :] for layer, t in tangents.items()},
    )
