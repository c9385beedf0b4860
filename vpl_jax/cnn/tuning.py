r"""The paper's grating set and the orientation tuning of the 7-layer CNN's units.

The 432 gratings (Section 2.1 and Fig. A1 of the ICLR 2019 submission *Causal importance of
orientation selectivity for generalization in image recognition*): Eq. 1,
``G(x, y) = cos(k0 y' + tau)`` with ``y' = -(x - x0) sin(theta) + (y - y0) cos(theta)``, ``x`` the
row and ``y`` the column index and ``(x0, y0) = (16, 16)``; 12 orientations ``theta`` 15 deg
apart, 9 spatial frequencies ``k0_s = pi / (32 / 2 + 4) * (s + 1)`` rad/px (periods 40 ... 4.4 px;
the authors' rule, `vpl_jax.stimuli.grating_frequencies`) and 4 phases 90 deg apart. Each grating
is min-max scaled to ``[0, 1]``, copied to the three colour channels and has the per-pixel
training-mean image subtracted, as the training images have.

A *unit* is one feature map of a conv layer (its spatial mean) or one FC 1 neuron, measured after
the ReLU and before BatchNorm (the authors' code). Its responses form an ``(O, S, P) = (12, 9, 4)``
matrix, reduced to gOSI by `vpl_jax.analysis.selectivity.orientation_tuning` (max over phase,
best spatial frequency, Eq. 2).

Conventions: grating arrays are ``(O, S, P, 32, 32, 3)`` (or flattened to 432 images in that
order); responses are ``(C, O, S, P)`` per layer; orientations in degrees.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from theory.checks import InputError
from vpl_jax import stimuli
from vpl_jax.analysis import selectivity
from vpl_jax.cnn import model

__all__ = [
    "NUM_FREQUENCIES",
    "NUM_ORIENTATIONS",
    "NUM_PHASES",
    "ORIENTATIONS_DEG",
    "PHASES_DEG",
    "grating_images",
    "grating_set",
    "layer_gosi",
    "layer_summary",
    "unit_responses",
]

NUM_ORIENTATIONS = 12
NUM_FREQUENCIES = 9
NUM_PHASES = 4
ORIENTATIONS_DEG: np.ndarray = np.arange(NUM_ORIENTATIONS) * 180.0 / NUM_ORIENTATIONS
"""0, 15, ..., 165 deg (the paper's ``theta`` of Eq. 1)."""
PHASES_DEG: np.ndarray = np.arange(NUM_PHASES) * 360.0 / NUM_PHASES
"""0, 90, 180, 270 deg."""


def grating_set(
    size: int = 32,
    *,
    num_orientations: int = NUM_ORIENTATIONS,
    num_frequencies: int = NUM_FREQUENCIES,
    num_phases: int = NUM_PHASES,
) -> Float[Array, "O S P size size"]:
    """The paper's gratings, min-max scaled to ``[0, 1]``, greyscale (one channel).

    Args:
        size: image side in pixels (32).
        num_orientations, num_frequencies, num_phases: grid sizes (paper: 12, 9, 4).

    Returns:
        ``(O, S, P, size, size)`` float32 in ``[0, 1]``.

    Examples:
        >>> g = grating_set()
        >>> g.shape, float(g.min()), float(g.max())
        ((12, 9, 4, 32, 32), 0.0, 1.0)
    """
    for name, v in (
        ("num_orientations", num_orientations),
        ("num_frequencies", num_frequencies),
        ("num_phases", num_phases),
    ):
        if int(v) < 1:
            raise InputError(f"{name} must be >= 1, got {v}")
    theta = np.arange(num_orientations) * 180.0 / num_orientations
    ks = np.asarray(stimuli.grating_frequencies(size, num_frequencies))
    taus = np.arange(num_phases) * 360.0 / num_phases
    th, kk, tt = np.meshgrid(theta, ks, taus, indexing="ij")

    def one(t, k, tau):
        # the paper's (theta, x = row, origin H//2) is this module's grating(-theta, centre=H//2)
        g = stimuli.grating(-t, k, tau, size, centre=float(size // 2))
        lo, hi = jnp.min(g), jnp.max(g)
        return (g - lo) / jnp.where(hi > lo, hi - lo, 1.0)

    out = jax.vmap(one)(
        jnp.asarray(th.ravel(), jnp.float32),
        jnp.asarray(kk.ravel(), jnp.float32),
        jnp.asarray(tt.ravel(), jnp.float32),
    )
    return out.reshape(num_orientations, num_frequencies, num_phases, size, size)


def grating_images(mean_image: Float[Array, "H W C"], gratings: Array | None = None) -> Array:
    """Network inputs of the gratings: replicated to the channels, training mean subtracted.

    Args:
        mean_image: ``(H, W, C)`` per-pixel training mean of the ``/255`` images.
        gratings: ``(O, S, P, H, W)`` from `grating_set` (default: the paper's set at ``H``).

    Returns:
        ``(O * S * P, H, W, C)`` float32, in the order of ``gratings`` flattened.
    """
    mean_image = jnp.asarray(mean_image, jnp.float32)
    if mean_image.ndim != 3:
        raise InputError(f"mean_image must be (H, W, C), got shape {mean_image.shape}")
    if gratings is None:
        gratings = grating_set(mean_image.shape[0])
    g = jnp.asarray(gratings, jnp.float32)
    flat = g.reshape((-1, *g.shape[-2:]))
    return flat[..., None] - mean_image[None]


def unit_responses(
    variables: dict,
    images: Float[Array, "N H W C"],
    *,
    config: model.CNNConfig = model.PAPER_CONFIG,
    layers: tuple[str, ...] = model.TUNING_LAYERS,
    masks: dict[str, Array] | None = None,
) -> dict[str, Float[Array, "N C"]]:
    """Unit activations: the spatial mean of each post-ReLU conv map, FC 1 neurons as they are.

    Args:
        variables: one network's ``{"params", "batch_stats"}`` (BatchNorm in inference mode).
        images: ``(N, H, W, C)`` network inputs.
        config: network structure.
        layers: layers to return (names of `vpl_jax.cnn.model.TUNING_LAYERS` or ``bn1..bn7``).
        masks: optional BatchNorm-output masks (ablation).

    Returns:
        ``{layer: (N, C_layer)}``.
    """
    _, acts = model.apply(variables, images, config=config, masks=masks)
    out = {}
    for name in layers:
        a = acts[name]
        out[name] = jnp.mean(a, axis=(1, 2)) if a.ndim == 4 else a
    return out


def layer_gosi(
    responses: dict[str, Float[Array, "N C"]],
    *,
    shape: tuple[int, int, int] = (NUM_ORIENTATIONS, NUM_FREQUENCIES, NUM_PHASES),
) -> dict[str, Float[Array, " C"]]:
    """gOSI of every unit from its responses to the flattened ``(O, S, P)`` grating set.

    Args:
        responses: ``{layer: (O * S * P, C)}`` from `unit_responses` on `grating_images`.
        shape: ``(O, S, P)`` of the grating set (orientations equally spaced over 180 deg).

    Returns:
        ``{layer: (C,)}`` gOSI in [0, 1] (0 for a unit silent on every grating).
    """
    theta = np.arange(shape[0]) * 180.0 / shape[0]
    out = {}
    for name, r in responses.items():
        if r.shape[0] != int(np.prod(shape)):
            raise InputError(
                f"responses[{name!r}] must have {int(np.prod(shape))} rows (O*S*P), got {r.shape}"
            )
        mat = jnp.moveaxis(r.reshape((*shape, r.shape[-1])), -1, 0)  # (C, O, S, P)
        out[name] = selectivity.orientation_tuning(mat, theta).gosi
    return out


def layer_summary(gosi: dict[str, Array]) -> tuple[Array, Array]:
    """Mean gOSI and fraction of selective units (gOSI > 0.33) of each layer, in dict order.

    Returns:
        ``(mean (L,), fraction (L,))``; dead units (gOSI 0) count, as in the authors' code.
    """
    means = jnp.stack([jnp.mean(g) for g in gosi.values()])
    fracs = jnp.stack([selectivity.fraction_selective(g) for g in gosi.values()])
    return means, fracs
