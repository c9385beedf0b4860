"""A simulated V1 population with known ground truth, written in the published data layout.

The recordings of Cadena et al. (2019) cannot be had offline, so the modelling system is
validated on neurons whose response functions are known exactly.

Stimuli. ``num_sources`` random 140 x 140 patches of natural photographs (the photos bundled
with scikit-image and scikit-learn, `theory.natural_images`, at half resolution by default), and
four texture-like variants of each, named as the published image types: ``conv1`` ... ``conv4``
are *partial phase scrambles* -- the Fourier amplitude of the patch is kept and its phase is
rotated by ``alpha`` times a random phase field, ``alpha = 1, 0.75, 0.5, 0.25`` -- so that, as
for the Gatys textures of the paper, ``conv1`` keeps only the power spectrum (second-order
statistics) and ``conv4`` is closest to the photograph. They are *not* Gatys textures. Every
image is contrast-matched and masked as the paper's stimuli (`vpl_jax.v1.data.display_images`),
rounded to 8-bit grey levels, and the images are stored in a random (seeded) order.

Neurons. Each neuron sees the model input of `vpl_jax.v1.data.model_inputs` (the central 80 px
subsampled to 40 x 40 and z-scored): because that map is a fixed crop and an affine rescaling of
the displayed image, this is the same as defining the receptive fields on the display at half
resolution. Receptive fields sit near the centre (SD ``rf_jitter`` px). Three cell types:

* ``simple`` (LN): ``s = max(0, <G_phi, x>)^2``, a half-squared Gabor (Heeger 1992);
* ``complex`` (energy model, Adelson & Bergen 1985): ``s = <G_phi, x>^2 + <G_{phi+90}, x>^2``;
* ``normalised`` (divisive normalisation, Heeger 1992; Carandini & Heeger 2012): the energy of
  the preferred orientation divided by ``c50 + mean_k E_k`` over 8 orientations at the same
  position and frequency, with a 1.5x larger envelope (``c50`` = the median pool energy over the
  stimulus set).

Gabors ``G = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) cos(2 pi f x' + phi)`` (``x'`` along the
wave vector at angle ``theta``), with the DC removed and unit L2 norm. The rate is
``r = b + a s``, with ``a, b >= 0`` set per neuron so that on the stimulus set the mean count is
``mean_count`` (the paper: 21.1 spikes/s in a 60 ms window, about 1.27 spikes) and the
explainable-variance ratio of Poisson counts is ``target_ratio`` (drawn per neuron, uniform in
``ratio_range``, mean 0.285 as the paper's included neurons; where ``b`` would be negative,
``b = 0`` and the mean count follows from the ratio). Counts are Poisson, at 2 repeats for the
neurons of "subject A" (``fraction_two_repeats``) and 4 for the others, with a fraction
``missing_fraction`` of the real trials missing (``NaN``).

What it can show: that the fitting, the split, the noise-corrected FEV and the in-silico tuning
recover known quantities, and which model classes can express which cell types. What it cannot
show: anything about real V1 (its nonlinearities beyond these three types, the Gatys textures,
ImageNet-trained features).

The key is the first argument of `simulate`; every random draw is split from it.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from theory import natural_images
from theory.checks import InputError
from vpl_jax.v1 import data as v1data

__all__ = [
    "CELL_TYPES",
    "SimConfig",
    "Simulation",
    "cell_rates",
    "gabor_filters",
    "phase_scramble",
    "simulate",
]

#: Cell-type names, indexed by the ``cell_type`` code of the ground truth.
CELL_TYPES: tuple[str, ...] = ("simple", "complex", "normalised")
#: Phase-randomisation strength of the four texture-like variants (conv1 ... conv4).
_SCRAMBLE = {"conv1": 1.0, "conv2": 0.75, "conv3": 0.5, "conv4": 0.25}


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Size and statistics of the simulated population (static structure).

    Attributes:
        num_sources: photo patches; each yields 5 images (original + 4 variants).
        num_neurons: neurons.
        cell_fractions: fractions of simple, complex and normalised cells (sum to 1).
        fraction_two_repeats: fraction of neurons with 2 repeats (the others have
            ``max_repeats``); the paper: 51 of 166.
        max_repeats: repeats of the other neurons (4).
        ratio_range: per-neuron target explainable-variance ratio, uniform in this range.
        mean_count: target mean spike count per trial.
        missing_fraction: fraction of real trials set to ``NaN``.
        input_size: model-input side (40 px).
        rf_jitter: SD of the receptive-field centres around the image centre (pixels of the
            model input).
        freq_range: Gabor frequency range (cycles per model-input pixel; 0.06-0.14 is 2-5
            cycles/deg at 35 px/deg).
        sigma_cycles: envelope SD in carrier periods (range).
        photo_scale: resampling of the photos before cutting patches.
    """

    num_sources: int = 300
    num_neurons: int = 40
    cell_fractions: tuple[float, float, float] = (0.4, 0.4, 0.2)
    fraction_two_repeats: float = 0.3
    max_repeats: int = 4
    ratio_range: tuple[float, float] = (0.2, 0.37)
    mean_count: float = 1.27
    missing_fraction: float = 0.01
    input_size: int = 40
    rf_jitter: float = 2.0
    freq_range: tuple[float, float] = (0.06, 0.14)
    sigma_cycles: tuple[float, float] = (0.45, 0.65)
    photo_scale: float = 0.5

    def __post_init__(self):
        if self.num_sources < 2:
            raise InputError(f"num_sources must be >= 2, got {self.num_sources}")
        if self.num_neurons < 1:
            raise InputError(f"num_neurons must be >= 1, got {self.num_neurons}")
        f = self.cell_fractions
        if len(f) != 3 or min(f) < 0 or not math.isclose(sum(f), 1.0, abs_tol=1e-6):
            raise InputError(f"cell_fractions must be 3 numbers >= 0 summing to 1, got {f}")
        if not 0 <= self.fraction_two_repeats <= 1:
            raise InputError(
                f"fraction_two_repeats must lie in [0, 1], got {self.fraction_two_repeats}"
            )
        if self.max_repeats < 2:
            raise InputError(f"max_repeats must be >= 2, got {self.max_repeats}")
        lo, hi = self.ratio_range
        if not 0 < lo <= hi < 1:
            raise InputError(f"ratio_range must satisfy 0 < lo <= hi < 1, got {self.ratio_range}")
        if not self.mean_count > 0:
            raise InputError(f"mean_count must be > 0, got {self.mean_count}")
        if not 0 <= self.missing_fraction < 0.5:
            raise InputError(f"missing_fraction must lie in [0, 0.5), got {self.missing_fraction}")
        if self.input_size < 8:
            raise InputError(f"input_size must be >= 8, got {self.input_size}")
        lo, hi = self.freq_range
        if not 0 < lo <= hi <= 0.5:
            raise InputError(f"freq_range must satisfy 0 < lo <= hi <= 0.5, got {self.freq_range}")
        lo, hi = self.sigma_cycles
        if not 0 < lo <= hi:
            raise InputError(f"sigma_cycles must satisfy 0 < lo <= hi, got {self.sigma_cycles}")
        if not 0 < self.photo_scale <= 1:
            raise InputError(f"photo_scale must lie in (0, 1], got {self.photo_scale}")


@dataclasses.dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated recording and its ground truth.

    Attributes:
        data: the recording in the published layout (`vpl_jax.v1.data.V1Data`).
        cells: ground-truth parameters, a dict of ``(N,)`` arrays (``cell_type`` codes into
            `CELL_TYPES`, ``cy, cx, theta, freq, sigma, phase, gamma, gain, baseline, c50``).
        true_rates: ``(n_images, N)`` float32 expected counts of every image.
        target_ratio: ``(N,)`` the explainable-variance ratio each neuron was built for.
    """

    data: v1data.V1Data
    cells: dict
    true_rates: np.ndarray
    target_ratio: np.ndarray


def gabor_filters(cy, cx, theta, freq, sigma, phase, gamma, size: int) -> jax.Array:
    """Unit-norm, zero-DC Gabor filters on a ``size`` x ``size`` grid.

    ``G = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) cos(2 pi freq x' + phase)``, with
    ``x' = (x - cx) cos theta + (y - cy) sin theta`` along the wave vector and
    ``y' = -(x - cx) sin theta + (y - cy) cos theta``; the DC is removed in proportion to the
    envelope, then the filter is scaled to unit L2 norm.

    Args:
        cy, cx: centre (pixels; row, column), arrays of one shape ``S``.
        theta: wave-vector angle (radians), shape ``S``.
        freq: cycles per pixel, shape ``S``.
        sigma: envelope SD (pixels), shape ``S``.
        phase: carrier phase (radians), shape ``S``.
        gamma: aspect ratio, shape ``S``.
        size: grid side (static).

    Returns:
        ``S + (size, size)`` filters.
    """
    args = jnp.broadcast_arrays(*map(jnp.asarray, (cy, cx, theta, freq, sigma, phase, gamma)))
    cy, cx, theta, freq, sigma, phase, gamma = (a[..., None, None] for a in args)
    grid = jnp.arange(size, dtype=jnp.float32)
    lead = (1,) * (cy.ndim - 2)
    y = grid.reshape(lead + (size, 1))
    x = grid.reshape(lead + (1, size))
    dx, dy = x - cx, y - cy
    xr = dx * jnp.cos(theta) + dy * jnp.sin(theta)
    yr = -dx * jnp.sin(theta) + dy * jnp.cos(theta)
    env = jnp.exp(-(xr**2 + (gamma * yr) ** 2) / (2 * sigma**2))
    g = env * jnp.cos(2 * jnp.pi * freq * xr + phase)
    g = g - env * jnp.sum(g, axis=(-2, -1), keepdims=True) / jnp.sum(
        env, axis=(-2, -1), keepdims=True
    )
    return g / jnp.sqrt(jnp.sum(g**2, axis=(-2, -1), keepdims=True))


def _rng(key: jax.Array) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key (host-side draws: no compilation per shape)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


@jax.jit
def _drives(cells: dict, images: jax.Array) -> dict:
    """Filter outputs of every neuron: even/odd preferred, and the 8-orientation pool."""
    size = images.shape[-1]
    c = cells
    even = gabor_filters(
        c["cy"], c["cx"], c["theta"], c["freq"], c["sigma"], c["phase"], c["gamma"], size
    )
    odd = gabor_filters(
        c["cy"],
        c["cx"],
        c["theta"],
        c["freq"],
        c["sigma"],
        c["phase"] + jnp.pi / 2,
        c["gamma"],
        size,
    )
    k = jnp.arange(8, dtype=jnp.float32) * jnp.pi / 8
    ori = c["theta"][:, None] + k[None, :]
    ones = jnp.ones_like(ori)
    pool = [
        gabor_filters(
            c["cy"][:, None] * ones, c["cx"][:, None] * ones, ori, c["freq"][:, None] * ones,
            1.5 * c["sigma"][:, None] * ones, p * ones, ones, size,
        )
        for p in (0.0, jnp.pi / 2)
    ]  # fmt: skip
    u_even = jnp.einsum("bhw,nhw->bn", images, even)
    u_odd = jnp.einsum("bhw,nhw->bn", images, odd)
    pool_energy = (
        jnp.einsum("bhw,nkhw->bnk", images, pool[0]) ** 2
        + jnp.einsum("bhw,nkhw->bnk", images, pool[1]) ** 2
    )
    return {"even": u_even, "odd": u_odd, "pool": jnp.mean(pool_energy, axis=-1)}


@jax.jit
def _drive_signal(cells: dict, images: jax.Array) -> jax.Array:
    """The noiseless drive ``s`` of every neuron, ``(B, N)`` (before gain and baseline)."""
    d = _drives(cells, images)
    energy = d["even"] ** 2 + d["odd"] ** 2
    simple = jnp.maximum(d["even"], 0.0) ** 2
    normalised = energy / (cells["c50"][None, :] + d["pool"])
    t = cells["cell_type"][None, :]
    return jnp.where(t == 0, simple, jnp.where(t == 1, energy, normalised))


@jax.jit
def cell_rates(cells: dict, images: jax.Array) -> jax.Array:
    """Expected spike counts of the simulated neurons, ``r = baseline + gain * s(x)``.

    Args:
        cells: ground-truth parameters (`Simulation.cells`).
        images: ``(B, S, S)`` model inputs (z-scored units, ``S = SimConfig.input_size``).

    Returns:
        ``(B, N)`` float32 rates (>= 0).
    """
    s = _drive_signal(cells, images)
    return cells["baseline"][None, :] + cells["gain"][None, :] * s


def phase_scramble(key: jax.Array, image: np.ndarray, alpha: float) -> np.ndarray:
    """Keep the Fourier amplitude of ``image``, rotate its phase by ``alpha`` x a random field.

    The random phase field is the phase of the FFT of white noise (Hermitian, so the result is
    real); ``alpha = 1`` is a full phase scramble, ``0`` returns the image. Mean and SD are kept.

    Args:
        key: PRNG key.
        image: ``(H, W)``.
        alpha: in ``[0, 1]``.

    Returns:
        ``(H, W)`` float64.
    """
    if not 0 <= alpha <= 1:
        raise InputError(f"alpha must lie in [0, 1], got {alpha}")
    return _scramble(_rng(key), np.asarray(image, np.float64), alpha)


def _scramble(rng: np.random.Generator, image: np.ndarray, alpha: float) -> np.ndarray:
    noise = rng.standard_normal(image.shape)
    f = np.fft.rfft2(image - image.mean())
    rand = np.angle(np.fft.rfft2(noise))
    out = np.fft.irfft2(np.abs(f) * np.exp(1j * (np.angle(f) + alpha * rand)), s=image.shape)
    sd = out.std()
    return image.mean() + (out * image.std() / sd if sd > 0 else out)


def _draw_cells(key, config: SimConfig) -> dict:
    n = config.num_neurons
    rng = _rng(key)
    counts = np.floor(np.asarray(config.cell_fractions) * n).astype(int)
    counts[0] += n - counts.sum()
    types = rng.permutation(np.repeat(np.arange(3), counts))
    centre = (config.input_size - 1) / 2.0
    freq = rng.uniform(*config.freq_range, n)
    return {
        "cell_type": types.astype(np.int32),
        "cy": (centre + config.rf_jitter * rng.standard_normal(n)).astype(np.float32),
        "cx": (centre + config.rf_jitter * rng.standard_normal(n)).astype(np.float32),
        "theta": rng.uniform(0.0, np.pi, n).astype(np.float32),
        "freq": freq.astype(np.float32),
        "sigma": (rng.uniform(*config.sigma_cycles, n) / freq).astype(np.float32),
        "phase": rng.uniform(0.0, 2 * np.pi, n).astype(np.float32),
        "gamma": rng.uniform(0.7, 1.0, n).astype(np.float32),
        "c50": np.ones(n, np.float32),
    }


def _patches(rng: np.random.Generator, photos, num: int, size: int) -> np.ndarray:
    """Random ``size`` x ``size`` patches: a photo uniformly, a position uniformly, a random
    left-right flip."""
    out = np.empty((num, size, size))
    which = rng.integers(0, len(photos), num)
    for i, j in enumerate(which):
        p = photos[j]
        r0 = rng.integers(0, p.shape[0] - size + 1)
        c0 = rng.integers(0, p.shape[1] - size + 1)
        patch = p[r0 : r0 + size, c0 : c0 + size]
        out[i] = patch[:, ::-1] if rng.random() < 0.5 else patch
    return out


def _stimuli(key, config: SimConfig, photos, progress: bool):
    patch_key, scramble_key, order_key = jax.random.split(key, 3)
    size = v1data.DISPLAY_SIZE
    patches = _patches(_rng(patch_key), photos, config.num_sources, size) * 255.0
    raw, ids, kinds = [], [], []
    rng = _rng(scramble_key)
    bar = tqdm(range(config.num_sources), desc="stimuli", disable=not progress, leave=False)
    for i in bar:
        raw.append(patches[i])
        ids.append(i)
        kinds.append("original")
        for name, alpha in _SCRAMBLE.items():
            raw.append(_scramble(rng, patches[i], alpha))
            ids.append(i)
            kinds.append(name)
    raw = np.stack(raw)
    order_rng = _rng(order_key)
    # A patch with no contrast in the centre cannot be contrast-matched: add a faint texture.
    flat = raw.std(axis=(1, 2)) < 1e-6
    if flat.any():
        raw[flat] += order_rng.standard_normal(raw[flat].shape)
    display = np.round(v1data.display_images(raw)).astype(np.uint8)
    order = order_rng.permutation(len(display))
    return display[order], np.asarray(ids)[order], np.asarray(kinds)[order]


def _calibrate(cells: dict, s: np.ndarray, ratio: np.ndarray, mean_count: float) -> dict:
    """Gain and baseline so that the Poisson counts have the target mean and ratio."""
    es, vs = s.mean(axis=0), s.var(axis=0)
    vs = np.maximum(vs, 1e-12)
    signal_var = ratio * mean_count / (1 - ratio)
    gain = np.sqrt(signal_var / vs)
    base = mean_count - gain * es
    low = base < 0  # b = 0: rate = a s; ratio fixes a, and the mean follows
    gain = np.where(low, ratio * es / ((1 - ratio) * vs), gain)
    base = np.where(low, 0.0, base)
    return {**cells, "gain": gain.astype(np.float32), "baseline": base.astype(np.float32)}


def simulate(
    key: jax.Array,
    config: SimConfig = SimConfig(),
    *,
    photos: tuple[np.ndarray, ...] | None = None,
    progress: bool = False,
) -> Simulation:
    """Simulate a V1 recording (stimuli, ground-truth neurons, Poisson counts).

    Args:
        key: PRNG key (stimuli, cells, noise are split from it).
        config: sizes and statistics.
        photos: greyscale photos ``(H, W)`` in ``[0, 1]``, each at least 140 px on a side;
            default: every bundled photo of `theory.natural_images` at ``config.photo_scale``.
        progress: show a progress bar while the stimuli are made.

    Returns:
        The `Simulation`; ``simulation.data`` can be written with `vpl_jax.v1.data.save` and
        read back with `vpl_jax.v1.data.load`.

    Examples:
        >>> import jax, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> photos = (rng.uniform(0, 1, (160, 160)),)
        >>> sim = simulate(jax.random.key(0), SimConfig(num_sources=4, num_neurons=3), photos=photos)
        >>> sim.data.responses.shape, sim.data.images.shape
        ((4, 20, 3), (20, 140, 140))
    """
    if not isinstance(config, SimConfig):
        raise InputError(f"config must be a SimConfig, got {type(config).__name__}")
    if photos is None:
        photos = natural_images.load_photos(scale=config.photo_scale)
    photos = tuple(np.asarray(p, np.float64) for p in photos)
    for i, p in enumerate(photos):
        if p.ndim != 2 or min(p.shape) < v1data.DISPLAY_SIZE:
            raise InputError(
                f"photos[{i}] must be a 2-D grey image at least {v1data.DISPLAY_SIZE} px on a "
                f"side, got shape {p.shape}"
            )
    stim_key, cell_key, ratio_key, noise_key, miss_key, rep_key = jax.random.split(key, 6)
    images, ids, kinds = _stimuli(stim_key, config, photos, progress)
    inputs = jnp.asarray(v1data.model_inputs(images.astype(np.float64)))
    if inputs.shape[-1] != config.input_size:
        raise InputError(f"input_size must be 40 (the model-input side), got {config.input_size}")
    cells = jax.tree.map(jnp.asarray, _draw_cells(cell_key, config))
    # The normalisation constant: the median pool energy over the stimuli.
    pool = np.asarray(_drives(cells, inputs)["pool"])
    cells = {**cells, "c50": jnp.asarray(np.median(pool, axis=0), jnp.float32)}
    s = np.asarray(_drive_signal(cells, inputs), np.float64)
    lo, hi = config.ratio_range
    ratio = _rng(ratio_key).uniform(lo, hi, config.num_neurons)
    cells = jax.tree.map(jnp.asarray, _calibrate(cells, s, ratio, config.mean_count))
    rates = np.asarray(cell_rates(cells, inputs), np.float32)
    n_img, n = rates.shape
    counts = (
        _rng(noise_key)
        .poisson(np.broadcast_to(rates.astype(np.float64), (config.max_repeats, n_img, n)))
        .astype(np.float32)
    )
    two = _rng(rep_key).random(n) < config.fraction_two_repeats
    reps = np.where(two, 2, config.max_repeats)
    slot = np.arange(config.max_repeats)[:, None, None]
    counts = np.where(slot < reps[None, None, :], counts, np.nan)
    missing = _rng(miss_key).random(counts.shape) < config.missing_fraction
    counts = np.where(missing & ~np.isnan(counts), np.nan, counts).astype(np.float32)
    data = v1data.V1Data(
        images=images.astype(np.float32),
        responses=counts,
        image_ids=ids.astype(np.int64),
        image_types=kinds.astype(str),
        repetitions=reps.astype(np.int64),
        subject_id=np.where(two, 1, 2).astype(np.int64),
    )
    cells_np = {k: np.asarray(v) for k, v in cells.items()}
    return Simulation(data=data, cells=cells_np, true_rates=rates, target_ratio=ratio)
