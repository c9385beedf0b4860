r"""The models of Cadena et al. (2019): feature stacks, read-out models and the data-driven CNN.

Every model is a frozen (hashable) dataclass with three pure methods, so one trainer
(`vpl_jax.v1.fit`) fits them all and ``jax.vmap`` runs several hyper-parameter settings at once:

* ``init(key, example, num_neurons, mean_rate) -> (params, state)``: ``params`` are trained,
  ``state`` is not (BatchNorm statistics);
* ``apply(params, state, x, train) -> (rates (B, N), new_state)``;
* ``penalty(params, hparams) -> scalar``, with ``hparams`` a dict of scalar arrays (the swept
  regularisation strengths).

Models:

* `FeatureGLM` -- a read-out on frozen feature maps ``(B, h, w, k)``: with ``normalise=True``
  (the goal-driven model) BatchNorm with the training-set statistics of each map and a learned
  scale and shift shared by all neurons, then ReLU; a dense (Eq. 5) or factorised (Eq. 11)
  read-out; the shifted-ELU output (Eq. 13). Penalties: ``sparse`` (L1, Eq. 6), ``laplace``
  (Eq. 7), ``group`` (Eq. 8); the factorised read-out takes ``sparse`` as the product L1 of
  Klindt et al. (2017). Without ``normalise`` it is the Gabor-filter-bank read-out (signed even
  and odd features and energies, standardised once), which uses ``sparse`` only.
* `LNP` -- a linear filter on the 40 x 40 pixels, ``exp`` output (Eq. 17); penalties ``sparse``
  and ``laplace`` (8-neighbour kernel).
* `DataDrivenCNN` -- a flax module: ``L`` conv layers (13 x 13 VALID, then 3 x 3 SAME; 32 maps;
  no conv bias; BatchNorm with a learned offset, decay 0.9; ELU), the factorised read-out and the
  learned tent-basis output nonlinearity (Eqs. 10-16), wrapped by `CNN`. Penalties
  ``conv_smooth`` (first layer), ``conv_group`` (deeper layers), ``readout`` (product L1) and
  ``nonlin`` (Eq. 16).

Feature stacks (computed once per layer, on the host in batches, then frozen):

* `vgg_features` -- VGG-19 (`vpl_jax.networks.vgg`): the z-scored grey input tiled to three
  channels, no mean subtraction, the read-out layer taken before its bias and ReLU
  (``<layer>_nobias``), as the authors do;
* `alexnet_features` -- the AlexNet of this package (`vpl_jax.alexnet`, e.g. the bundled default
  weights from `vpl_jax.weights.load`), post-ReLU layers, on the input upsampled 2x (its conv1
  needs at least 67 px) and rescaled to network units (``50 x`` the z-score);
* `gabor_bank` / `gfb_features` -- the Gabor filter bank (Eqs. 18-22): sizes 6, 11, 21 px
  (``sigma = size / 4``), ``f = n / (4 sigma)`` for ``n = 1..3``, 8 orientations, aspect ratio 1,
  quadrature pairs, stride 6, energy = sum of squares; 5,544 features for a 40 px input.

Images are ``(n, S, S)`` model inputs (z-scored), features NHWC.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax.networks import vgg
from vpl_jax.v1 import readouts

__all__ = [
    "CNN",
    "DataDrivenCNN",
    "FeatureGLM",
    "LNP",
    "alexnet_features",
    "feature_statistics",
    "gabor_bank",
    "gfb_features",
    "inverse_shifted_elu",
    "standardise",
    "vgg_features",
]


def inverse_shifted_elu(m) -> jax.Array:
    """The bias that makes the shifted ELU output ``m``: ``m`` if ``m >= 1``, else ``log m + 1``."""
    m = jnp.maximum(jnp.asarray(m, jnp.float32), 1e-3)
    return jnp.where(m >= 1, m, jnp.log(m) + 1.0)


# ---------------------------------------------------------------------------------------------
# Read-out models on frozen features and on pixels
# ---------------------------------------------------------------------------------------------


def _xavier(key, shape, fan_in: int, fan_out: int) -> jax.Array:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


@dataclasses.dataclass(frozen=True)
class FeatureGLM:
    """A GLM read-out on frozen feature maps ``x: (B, h, w, k)``.

    Attributes:
        normalise: BatchNorm (training-set statistics, learned shared scale and shift) + ReLU
            on the features (the VGG/AlexNet model); ``False`` for the Gabor filter bank.
        factorised: ``w_ijk = u_ij v_k`` (Eq. 11) instead of a dense read-out.
    """

    normalise: bool = True
    factorised: bool = False

    hparam_names = ("sparse", "laplace", "group")
    scan_steps = True  # no convolution in a step: the trainer scans blocks of steps

    def init(self, key, example, num_neurons: int, mean_rate, stats=None):
        """Params ``w (h, w, k, N)`` (Xavier), ``b (N,)`` (the mean rate through the inverse
        output), and the BatchNorm ``bn_scale``/``bn_bias (k,)``; state = the feature
        ``mean``/``var (k,)`` (``stats``, default 0 and 1)."""
        _, h, w, k = example.shape
        n = num_neurons
        k_w, k_u, k_v = jax.random.split(key, 3)
        params = {"b": jnp.asarray(inverse_shifted_elu(mean_rate))}
        if self.factorised:
            params["u"] = jax.random.truncated_normal(k_u, -2, 2, (h, w, n)) * 0.01
            params["v"] = jax.random.truncated_normal(k_v, -2, 2, (k, n)) * 0.01
        else:
            params["w"] = _xavier(k_w, (h, w, k, n), h * w * k, h * w * n)
        if self.normalise:
            params["bn_scale"] = jnp.ones((k,), jnp.float32)
            params["bn_bias"] = jnp.zeros((k,), jnp.float32)
        mean, var = (np.zeros(k), np.ones(k)) if stats is None else stats
        state = {"mean": jnp.asarray(mean, jnp.float32), "var": jnp.asarray(var, jnp.float32)}
        return params, state

    def features(self, params, state, x):
        if not self.normalise:
            return x
        return readouts.feature_batchnorm(
            x, state["mean"], state["var"], params["bn_scale"], params["bn_bias"]
        )

    def apply(self, params, state, x, train: bool = False):
        phi = self.features(params, state, x)
        if self.factorised:
            u = readouts.factorised_readout(phi, params["u"], params["v"], params["b"])
        else:
            u = readouts.dense_readout(phi, params["w"], params["b"])
        return readouts.shifted_elu(u), state

    def penalty(self, params, hp):
        if self.factorised:
            n = params["u"].shape[-1]
            return hp["sparse"] * readouts.factorised_l1_penalty(params["u"], params["v"]) / n
        w = params["w"]
        total = hp["sparse"] * readouts.l1_penalty(w)
        if self.normalise:  # the GFB read-out has no spatial maps to smooth or group
            total = total + hp["laplace"] * readouts.laplace_penalty(w)
            total = total + hp["group"] * readouts.group_sparsity_penalty(w)
        return total

    def readout_weights(self, params) -> jax.Array:
        """The dense ``(h, w, k, N)`` weights (``u v`` for the factorised read-out)."""
        if self.factorised:
            return jnp.einsum("hwn,kn->hwkn", params["u"], params["v"])
        return params["w"]


@dataclasses.dataclass(frozen=True)
class LNP:
    """The regularised linear-nonlinear-Poisson model on pixels ``x: (B, S, S)`` (Eq. 17)."""

    hparam_names = ("sparse", "laplace")
    scan_steps = True

    def init(self, key, example, num_neurons: int, mean_rate, stats=None):
        _, h, w = example.shape
        params = {
            "w": _xavier(key, (h, w, num_neurons), h * w, num_neurons),
            "b": jnp.log(jnp.maximum(jnp.asarray(mean_rate, jnp.float32), 1e-3)),
        }
        return params, {}

    def apply(self, params, state, x, train: bool = False):
        u = jnp.tensordot(x, params["w"], axes=((1, 2), (0, 1))) + params["b"][None, :]
        return jnp.exp(jnp.minimum(u, 20.0)), state

    def penalty(self, params, hp):
        w = params["w"]
        return hp["sparse"] * readouts.l1_penalty(w) + hp["laplace"] * readouts.laplace_penalty(
            w, readouts.LAPLACE_8
        )


# ---------------------------------------------------------------------------------------------
# The data-driven CNN
# ---------------------------------------------------------------------------------------------


class DataDrivenCNN(nn.Module):
    """``L`` conv layers + factorised read-out + learned output nonlinearity (flax linen).

    Attributes:
        num_neurons: ``N``.
        num_layers: ``L`` (1..5).
        channels: feature maps per layer (32).
        first_kernel: first-layer kernel side, VALID (13: 40 -> 28 px).
        kernel: later kernel side, SAME (3).
    """

    num_neurons: int
    num_layers: int = 3
    channels: int = 32
    first_kernel: int = 13
    kernel: int = 3

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = x[..., None]
        init = nn.initializers.truncated_normal(0.01)
        for layer in range(self.num_layers):
            size, pad = (self.first_kernel, "VALID") if layer == 0 else (self.kernel, "SAME")
            h = nn.Conv(self.channels, (size, size), padding=pad, use_bias=False,
                        kernel_init=init, name=f"conv{layer}")(h)  # fmt: skip
            h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3,
                             use_scale=False, name=f"bn{layer}")(h)  # fmt: skip
            h = nn.elu(h)
        _, hh, ww, k = h.shape
        n = self.num_neurons
        u = self.param("u", init, (hh, ww, n))
        v = self.param("v", init, (k, n))
        b = self.param("b", nn.initializers.zeros, (n,))
        log_alpha = self.param("log_alpha", nn.initializers.zeros, (readouts.NUM_TENTS, n))
        return readouts.learned_output(readouts.factorised_readout(h, u, v, b), log_alpha)


@dataclasses.dataclass(frozen=True)
class CNN:
    """The data-driven CNN as a model for the trainer (wraps `DataDrivenCNN`).

    Attributes:
        num_layers: ``L`` (1..5; the paper selects 3).
        channels: feature maps per layer (32).
        first_kernel, kernel: kernel sides (13 VALID, 3 SAME).
    """

    num_layers: int = 3
    channels: int = 32
    first_kernel: int = 13
    kernel: int = 3

    hparam_names = ("conv_smooth", "conv_group", "readout", "nonlin")
    scan_steps = False  # convolutions: a host loop over a compiled step

    def __post_init__(self):
        if not 1 <= self.num_layers <= 8:
            raise InputError(f"num_layers must lie in 1..8, got {self.num_layers}")
        if self.channels < 1 or self.first_kernel < 1 or self.kernel < 1:
            raise InputError(
                f"channels, first_kernel and kernel must be >= 1, got {self.channels}, "
                f"{self.first_kernel}, {self.kernel}"
            )

    def module(self, num_neurons: int) -> DataDrivenCNN:
        return DataDrivenCNN(num_neurons, self.num_layers, self.channels, self.first_kernel,
                             self.kernel)  # fmt: skip

    def init(self, key, example, num_neurons: int, mean_rate, stats=None):
        if example.shape[1] < self.first_kernel:
            raise InputError(
                f"images must be at least first_kernel={self.first_kernel} px, got {example.shape}"
            )
        variables = self.module(num_neurons).init(key, example[:2], train=False)
        params = dict(variables["params"])
        params["b"] = jnp.asarray(inverse_shifted_elu(mean_rate))
        return params, dict(variables.get("batch_stats", {}))

    def apply(self, params, state, x, train: bool = False):
        module = self.module(params["b"].shape[0])
        variables = {"params": params, "batch_stats": state}
        if train:
            out, updates = module.apply(variables, x, train=True, mutable=["batch_stats"])
            return out, updates["batch_stats"]
        return module.apply(variables, x, train=False), state

    def penalty(self, params, hp):
        total = hp["conv_smooth"] * readouts.normalised_laplace_penalty(params["conv0"]["kernel"])
        for layer in range(1, self.num_layers):
            total = total + hp["conv_group"] * readouts.kernel_group_penalty(
                params[f"conv{layer}"]["kernel"]
            )
        total = total + hp["readout"] * readouts.factorised_l1_penalty(params["u"], params["v"])
        return total + hp["nonlin"] * readouts.tent_smoothness(params["log_alpha"])

    def core_parameter_count(self) -> int:
        """Core parameters (conv kernels and BatchNorm offsets): 23,936 for the paper's L = 3."""
        n = self.first_kernel**2 * self.channels + self.channels
        n += (self.num_layers - 1) * (self.kernel**2 * self.channels**2 + self.channels)
        return n


# ---------------------------------------------------------------------------------------------
# Frozen feature stacks
# ---------------------------------------------------------------------------------------------


def _check_images(images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise InputError(f"images must have shape (n, S, S), got {images.shape}")
    return images


def _batched(fn, images: np.ndarray, batch_size: int) -> np.ndarray:
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    out = [np.asarray(fn(jnp.asarray(images[i : i + batch_size])))
           for i in range(0, len(images), batch_size)]  # fmt: skip
    return np.concatenate(out, axis=0)


def vgg_features(
    params, images, layer: str, arch: vgg.VGGSpec = vgg.VGG19, *, batch_size: int = 64
) -> np.ndarray:
    """A VGG layer's read-out for model inputs: the authors' convention.

    The z-scored grey images are tiled to three channels (no mean subtraction) and the layer is
    read out before its bias and ReLU (``<layer>_nobias``; a ``poolB`` key is read as is).

    Args:
        params: VGG params (`vpl_jax.networks.vgg.from_torchvision` or ``init_params``).
        images: ``(n, S, S)`` model inputs.
        layer: ``convB_I`` or ``poolB``.
        arch: the VGG config (VGG-19 for the paper).
        batch_size: images per forward pass.

    Returns:
        ``(n, h, w, k)`` float32.
    """
    images = _check_images(images)
    key = layer if layer.startswith("pool") else f"{layer}_nobias"
    if key not in arch.output_keys:
        raise InputError(f"layer must be a conv or pool layer of {arch.name}, got {layer!r}")

    def fn(x):
        x3 = jnp.repeat(x[..., None], arch.in_channels, axis=-1)
        return vgg.features(params, x3, arch, layers=(key,))[key]

    return _batched(fn, images, batch_size)


def alexnet_features(
    params,
    images,
    layer: str,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    upsample: int = 2,
    scale: float = 50.0,
    batch_size: int = 64,
) -> np.ndarray:
    """An AlexNet layer (post-ReLU, as `vpl_jax.alexnet.features` returns) for model inputs.

    The z-scored images are upsampled ``upsample`` times (bicubic, ``jax.image.resize``), scaled
    to network units (``scale`` x z; natural photos have an SD of about 50 grey levels) and tiled
    to ``arch.in_channels``.

    Returns:
        ``(n, h, w, k)`` float32.
    """
    images = _check_images(images)
    if layer not in arch.output_keys:
        raise InputError(f"layer must be one of {arch.output_keys}, got {layer!r}")
    size = images.shape[1] * upsample
    if size < alexnet.min_input_size(arch):
        raise InputError(
            f"upsample must give at least {alexnet.min_input_size(arch)} px for {arch.name}, got "
            f"{size} px"
        )

    def fn(x):
        big = jax.image.resize(x, (x.shape[0], size, size), "cubic") * scale
        big = jnp.repeat(big[..., None], arch.in_channels, axis=-1)
        return alexnet.features(params, big, arch)[layer]

    return _batched(fn, images, batch_size)


def gabor_bank(
    input_size: int = 40,
    *,
    sizes: tuple[int, ...] = (6, 11, 21),
    num_frequencies: int = 3,
    num_orientations: int = 8,
    aspect_ratios: tuple[float, ...] = (1.0,),
) -> list[dict]:
    """The Gabor filter bank of the GFB model (Eqs. 18-19).

    ``G(x, y) = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) cos(2 pi f x' + phi)`` with
    ``sigma = size / 4``, ``f_n = n / (4 sigma)`` (``n = 1..num_frequencies``: 1-3 cycles),
    ``phi = 0`` (even) and ``pi / 2`` (odd), kernel side ``min(input_size, round(4 sigma /
    gamma))``.

    Returns:
        One dict per size: ``{"size", "even": (s, s, 1, F), "odd": (s, s, 1, F)}`` with ``F =
        num_frequencies x num_orientations x len(aspect_ratios)`` filters.
    """
    bank = []
    for size in sizes:
        sigma = size / 4.0
        evens, odds = [], []
        side = None
        for gamma in aspect_ratios:
            side = min(input_size, round(4 * sigma / gamma))
            c = (side - 1) / 2.0
            y, x = np.mgrid[0:side, 0:side] - c
            for n in range(1, num_frequencies + 1):
                f = n / (4 * sigma)
                for t in range(num_orientations):
                    th = t * np.pi / num_orientations
                    xr = x * np.cos(th) + y * np.sin(th)
                    yr = -x * np.sin(th) + y * np.cos(th)
                    env = np.exp(-(xr**2 + gamma**2 * yr**2) / (2 * sigma**2))
                    evens.append(env * np.cos(2 * np.pi * f * xr))
                    odds.append(env * np.cos(2 * np.pi * f * xr + np.pi / 2))
        stack = lambda fs: np.stack(fs, axis=-1)[:, :, None, :].astype(np.float32)
        bank.append({"size": int(side), "even": stack(evens), "odd": stack(odds)})
    return bank


def gfb_features(images, bank: list[dict], *, stride: int = 6, batch_size: int = 256) -> np.ndarray:
    """Even, odd and energy (sum of squares) maps of every filter, flattened (Eqs. 20-22).

    Args:
        images: ``(n, S, S)`` model inputs.
        bank: from `gabor_bank`.
        stride: convolution stride (6).

    Returns:
        ``(n, 1, 1, D)`` float32 (``D = 5544`` for the paper's bank at 40 px), laid out as
        feature maps of size 1 so that `FeatureGLM` reads them out.
    """
    images = _check_images(images)

    def fn(x):
        parts = []
        for entry in bank:
            conv = lambda k: jax.lax.conv_general_dilated(
                x[..., None], jnp.asarray(k), (stride, stride), "VALID",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )  # fmt: skip
            even, odd = conv(entry["even"]), conv(entry["odd"])
            for m in (even, odd, even**2 + odd**2):
                parts.append(m.reshape(m.shape[0], -1))
        return jnp.concatenate(parts, axis=1)

    flat = _batched(fn, images, batch_size)
    return flat[:, None, None, :]


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance over images and positions, ``((k,), (k,))`` float64."""
    f = np.asarray(features, np.float64)
    return f.mean(axis=(0, 1, 2)), f.var(axis=(0, 1, 2))


def standardise(features: np.ndarray, train_images: np.ndarray) -> np.ndarray:
    """Z-score every feature with its mean and SD over the training images (GFB features).

    Args:
        features: ``(n, ...)``.
        train_images: indices of the training images.
    """
    f = np.asarray(features, np.float32)
    ref = f[np.asarray(train_images)]
    mean, sd = ref.mean(axis=0), ref.std(axis=0)
    return ((f - mean) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
