"""Ablation of network units and its effect on an orientation-discrimination task.

Ukita (2019), *Causal importance of orientation selectivity for generalization in image
recognition*) clamps to 0 the most (or, as the control, the least) orientation-selective units
of a layer and measures the change of the network's performance. Here:

* ``ablation_channels`` picks the ``round(fraction * C)`` channels with the highest or lowest
  gOSI (``vpl_jax.analysis.selectivity``), ``channel_mask`` turns them into a mask;
* ``ablate`` silences masked channels in the params (kernel and bias times the mask), so the
  unit outputs ReLU(0) = 0 everywhere; ``ablated_features`` runs the ablated network;
* ``discrimination_accuracy`` is a linear readout of one layer discriminating two noisy Gabors
  (the stimuli of Wenliang & Seitz 2018), ``ablation_effect`` compares no ablation, top and bottom
  ablation on the same noisy images.

Keys: every stochastic function takes a PRNG key as its first positional argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from theory.checks import InputError
from vpl_jax import alexnet, stimuli
from vpl_jax.analysis.recording import (
    check_batch_size,
    check_grid,
    check_layers,
    check_size,
    record_generated,
)

__all__ = [
    "ablate",
    "ablated_features",
    "ablation_channels",
    "ablation_effect",
    "channel_mask",
    "discrimination_accuracy",
]

_WHICH = ("top", "bottom")


def _producing_conv(layer: str, arch: alexnet.ArchSpec) -> alexnet.ConvSpec:
    """The conv layer whose channels a layer key carries (``norm1``/``pool1`` -> ``conv1``)."""
    if layer not in arch.output_keys:
        raise InputError(f"unknown layer {layer!r} for {arch.name}; known: {arch.output_keys}")
    for i, conv in enumerate(arch.convs, start=1):
        if layer in (conv.name, f"norm{i}", f"pool{i}"):
            return conv
    raise InputError(f"layer {layer!r} is not produced by a conv layer of {arch.name}")


def ablation_channels(
    gosi_values: Float[ArrayLike, " C"], *, which: str = "top", fraction: float = 0.5
) -> np.ndarray:
    """Channels to ablate: the ``round(fraction * C)`` most (``"top"``) or least selective units.

    Ukita splits a layer's units at the median gOSI and ablates those strictly above
    (``top``) or strictly below (``bottom``) it. Here both sets have exactly
    ``round(fraction * C)`` units, so the two ablations remove the same number of channels;
    ties are broken by the lower channel index (a stable sort). For distinct gOSI values and an
    even ``C`` at ``fraction=0.5`` this is Ukita's split.

    Args:
        gosi_values: ``(C,)`` gOSI of the layer's units (e.g. ``orientation_tuning(...).gosi``).
        which: ``"top"`` or ``"bottom"``.
        fraction: fraction of the layer to ablate, in [0, 1].

    Returns:
        ``(k,)`` sorted int channel indices.

    Raises:
        InputError: on an unknown ``which``, ``fraction`` outside [0, 1] or non-1-D ``gosi_values``.
    """
    if which not in _WHICH:
        raise InputError(f"which must be one of {_WHICH}, got {which=}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise InputError(f"fraction must lie in [0, 1], got {fraction=}")
    g = np.asarray(gosi_values, dtype=np.float64)
    if g.ndim != 1:
        raise InputError(f"gosi_values must be 1-D (C,), got shape {g.shape}")
    k = int(round(float(fraction) * g.shape[0]))
    order = np.argsort(-g if which == "top" else g, kind="stable")
    return np.sort(order[:k])


def channel_mask(num_channels: int, channels: ArrayLike | Sequence[int]) -> Float[Array, " C"]:
    """A ``(num_channels,)`` float mask: 0 at ``channels``, 1 elsewhere.

    Raises:
        InputError: if a channel index is outside ``[0, num_channels)`` or not an integer.
    """
    idx = np.asarray(channels)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"channels must be integer indices, got dtype {idx.dtype}")
    idx = idx.astype(np.int64).ravel()
    if np.any((idx < 0) | (idx >= num_channels)):
        raise InputError(f"channels must lie in [0, {num_channels}), got {idx.tolist()}")
    mask = np.ones(num_channels, np.float32)
    mask[idx] = 0.0
    return jnp.asarray(mask)


def ablate(
    params: dict, masks: dict[str, ArrayLike], arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET
) -> dict:
    """Params whose masked output channels are silenced: ``w[..., c] * m[c]``, ``b[c] * m[c]``.

    A channel whose kernel and bias are zero outputs ReLU(0) = 0 at every position, so the unit is
    clamped to 0 (Ukita's ablation) in its conv layer and in everything computed from it (its
    LRN and pooled maps). The masks are arrays, so the function is jit- and vmap-friendly (e.g.
    vmap over a stack of masks). For ``norm1``/``norm2`` the channel is zeroed before the LRN, so
    the LRN of its neighbours no longer sees it; for conv3-5 it is exactly the unit's output.

    Args:
        params: conv1-5 params of ``arch``.
        masks: ``{layer: (C,) mask}`` with 1 to keep and 0 to ablate (values in between scale the
            channel); ``layer`` is any output key of ``arch`` (``norm1`` and ``pool1`` mean the
            channels of ``conv1``).
        arch: architecture spec.

    Returns:
        A new params dict (the input is not modified).

    Raises:
        InputError: on an unknown layer or a mask of the wrong shape.

    Examples:
        >>> import jax
        >>> p = alexnet.init_params(jax.random.key(0))
        >>> q = ablate(p, {"conv3": channel_mask(384, [0, 5])})
        >>> float(abs(q["conv3"]["w"][..., 5]).sum()), bool((q["conv2"]["w"] == p["conv2"]["w"]).all())
        (0.0, True)
    """
    new = {name: dict(layer) for name, layer in params.items()}
    for layer, mask in masks.items():
        conv = _producing_conv(layer, arch)
        mask = jnp.asarray(mask)
        if mask.shape != (conv.out_channels,):
            raise InputError(
                f"masks[{layer!r}] must have shape ({conv.out_channels},) for {conv.name}, "
                f"got {mask.shape}"
            )
        p = new[conv.name]
        p["w"] = p["w"] * mask.astype(p["w"].dtype).reshape((1,) * (p["w"].ndim - 1) + (-1,))
        p["b"] = p["b"] * mask.astype(p["b"].dtype)
    return new


def ablated_features(
    params: dict,
    images: Float[ArrayLike, "N H W C"],
    masks: dict[str, ArrayLike],
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
) -> dict[str, Array]:
    """``alexnet.features`` of the network with the masked channels silenced (see ``ablate``)."""
    return alexnet.features(ablate(params, masks, arch), jnp.asarray(images), arch)


# --------------------------------------------------------------------------------------------
# The effect of ablation on an orientation-discrimination task
# --------------------------------------------------------------------------------------------


def discrimination_accuracy(
    key: Array,
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    masks: dict[str, ArrayLike] | None = None,
    separations_deg: ArrayLike | Sequence[float] = (2.0, 10.0),
    reference_deg: float = 45.0,
    readout_layer: str = "pool5",
    num_train: int = 100,
    num_test: int = 100,
    wavelength_px: float = 10.0,
    sigma_px: float = 50.0,
    contrast: float = 0.2,
    noise_sd: float = 15.0,
    size: int | None = None,
    batch_size: int = 32,
    regularization: float = 1.0,
) -> dict[float, float]:
    """Test accuracy of a linear readout discriminating two orientations from noisy Gabors.

    For each separation ``s`` the two classes are Gabors at ``reference_deg -+ s / 2`` (the
    stimuli and input transform of Wenliang & Seitz 2018, ``vpl_jax.stimuli.NoisyGaborInput``;
    fresh pixel noise per image). The features of ``readout_layer``
    (all positions, flattened) of the network ablated by ``masks`` are standardised and fed to a
    logistic regression (scikit-learn, L2 penalty with inverse strength ``regularization``)
    trained on ``num_train`` images per class and scored on ``num_test`` others. The noise
    depends only on ``key``, so calls with different ``masks`` and the same key see the same
    images (a paired comparison).

    Args:
        key: PRNG key for the pixel noise.
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        masks: optional ``{layer: (C,) mask}`` for ``ablate``.
        separations_deg: orientation differences to test (fine and coarse), degrees, > 0.
        reference_deg: the centre orientation, degrees.
        readout_layer: the layer the linear readout sees.
        num_train, num_test: images per class (>= 2 and >= 1).
        wavelength_px, sigma_px, contrast, noise_sd: stimulus and input transform.
        size: image side (default ``arch.input_size``).
        batch_size: images per block of the forward pass.
        regularization: scikit-learn's ``C`` (> 0).

    Returns:
        ``{separation_deg: accuracy}``, accuracies in [0, 1] (chance 0.5).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    (readout_layer,) = check_layers((readout_layer,), arch, "readout_layer")
    seps = check_grid(separations_deg, "separations_deg", positive=True)
    if int(num_train) != num_train or num_train < 2:
        raise InputError(f"num_train must be an integer >= 2, got {num_train=}")
    if int(num_test) != num_test or num_test < 1:
        raise InputError(f"num_test must be an integer >= 1, got {num_test=}")
    if not float(regularization) > 0:
        raise InputError(f"regularization must be > 0, got {regularization=}")
    size = check_size(size, arch)
    if masks:
        params = ablate(params, masks, arch)
    per_class = num_train + num_test
    labels = np.tile(np.repeat([0, 1], per_class), seps.size)
    angles = reference_deg + (labels - 0.5) * np.repeat(seps, 2 * per_class)
    stim = stimuli.NoisyGaborStimulus(
        angle_deg=jnp.asarray(angles, jnp.float32), key=jax.random.split(key, angles.size)
    )
    gabor = stimuli.NoisyGaborParams(
        wavelength_px=wavelength_px, sigma_px=sigma_px, contrast=contrast, noise_sd=noise_sd
    )
    feats = record_generated(
        params,
        stim,
        gabor.as_arrays(),
        stimuli.NoisyGaborInput(size, arch.in_channels),
        arch=arch,
        layers=(readout_layer,),
        batch_size=check_batch_size(batch_size),
        positions="all",
        grid_shape=(int(angles.size),),
    )[readout_layer]
    feats = np.asarray(feats, np.float64).reshape(seps.size, 2, per_class, -1)
    result = {}
    for i, sep in enumerate(seps):
        x_train = feats[i, :, :num_train].reshape(2 * num_train, -1)
        x_test = feats[i, :, num_train:].reshape(2 * num_test, -1)
        y_train = np.repeat([0, 1], num_train)
        y_test = np.repeat([0, 1], num_test)
        scaler = StandardScaler().fit(x_train)
        clf = LogisticRegression(C=float(regularization), max_iter=5000)
        clf.fit(scaler.transform(x_train), y_train)
        result[float(sep)] = float(clf.score(scaler.transform(x_test), y_test))
    return result


def ablation_effect(
    key: Array,
    params: dict,
    arch: alexnet.ArchSpec = alexnet.CAFFE_ALEXNET,
    *,
    layer: str,
    gosi_values: ArrayLike | Sequence[float],
    fraction: float = 0.5,
    **task,
):
    """Ukita's ablation on a discrimination task: no ablation vs the top vs the bottom units.

    The ``round(fraction * C)`` most and least orientation-selective channels of ``layer``
    (``ablation_channels``) are silenced in turn (``ablate``), and ``discrimination_accuracy``
    is measured with the same key (the same noisy images) for each network.

    Args:
        key: PRNG key for the task's pixel noise.
        params: conv1-5 params of ``arch``.
        arch: architecture spec.
        layer: the layer whose units are ablated (any output key; ``norm1`` means conv1's channels).
        gosi_values: ``(C,)`` gOSI of the layer's units.
        fraction: fraction of the units to ablate in each condition.
        **task: keyword arguments of ``discrimination_accuracy`` (separations, readout layer, ...).

    Returns:
        A ``pandas.DataFrame`` with columns ``ablation`` (``none``/``top``/``bottom``),
        ``n_ablated``, ``separation_deg``, ``accuracy`` and ``accuracy_change`` (vs ``none``).

    Raises:
        InputError: if ``gosi_values`` does not have one value per channel of ``layer``.
    """
    import pandas as pd

    conv = _producing_conv(layer, arch)
    g = np.asarray(gosi_values)
    if g.shape != (conv.out_channels,):
        raise InputError(
            f"gosi_values must have shape ({conv.out_channels},) for {layer}, got {g.shape}"
        )
    rows = []
    base = discrimination_accuracy(key, params, arch, **task)
    for which in ("none", *_WHICH):
        if which == "none":
            acc, n = base, 0
        else:
            channels = ablation_channels(g, which=which, fraction=fraction)
            mask = channel_mask(conv.out_channels, channels)
            acc = discrimination_accuracy(key, params, arch, masks={layer: mask}, **task)
            n = int(channels.size)
        for sep, value in acc.items():
            rows.append(
                {
                    "ablation": which,
                    "n_ablated": n,
                    "separation_deg": sep,
                    "accuracy": value,
                    "accuracy_change": value - base[sep],
                }
            )
    return pd.DataFrame(rows)
