"""Natural-image pretraining of the Caffe AlexNet conv1-5 stack: the bundled default weights.

ImageNet weights cannot be downloaded here, so the package ships weights made by this recipe from
the natural photographs bundled inside scikit-image and scikit-learn (``theory.natural_images``).
The recipe has two stages, chosen from what is known to make early visual layers Gabor-like:

1. **conv1 = independent components of natural patches.** FastICA on mean-removed 11 x 11 grey
   patches gives localised, oriented, band-pass filters (Bell & Sejnowski 1997; Olshausen & Field
   1996, for sparse coding). Each of the 96 filters is made zero-mean (blind to the local mean
   luminance, like the mean-removed patches it was learned from) and scaled to norm sqrt(2), the
   expected norm of a He-initialised 11 x 11 kernel, so activations keep the scale the rest of the
   stack (LRN included) is built for. Measured here: median conv1 gOSI 0.59 for ICA filters vs
   0.15-0.20 for conv1 trained end-to-end on photo identity (measured during the development of the recipe).
2. **conv2-5 = contrastive crop discrimination** (SimCLR, Chen et al. 2020; the instance-level
   contrastive objective also gives ventral-stream-like representations, Zhuang et al. 2021,
   PNAS 118:e2014196118). Two random views of the same photo region (scale, rotation, flip,
   contrast, pixel noise) must be told apart from the other views in the batch (NT-Xent loss on a
   two-layer projection head over the globally averaged pool5). conv1 stays frozen. Crops are
   small (99 x 99 px by default): the stack's weights do not depend on the input size, and small
   crops are ~4x cheaper than 227 x 227 on a CPU.

Everything random comes from one seed: the photo crops for ICA, the initial params, and each
training step's key ``fold_in(key, step)``, so a resumed run equals an uninterrupted one.
Crops are cut and augmented inside the compiled step (bilinear sampling of the packed photos):
no data transfer per step, and losses are read back every ``steps_per_call`` steps.

Units: photos are grey on the 0-255 scale; network inputs are ``contrast * (crop - mean) + noise``
as in the VPL model (``vpl_jax.stimuli``), so the weights see the regime they will be used in.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from theory import natural_images
from theory.checks import InputError
from theory.natural_images import PhotoStack
from vpl_jax import alexnet, weights
from vpl_jax.analysis import selectivity

__all__ = [
    "ARCH",
    "PretrainConfig",
    "PretrainResult",
    "PretrainState",
    "embed",
    "ica_filters",
    "ica_patches",
    "init_head",
    "init_state",
    "make_weights_file",
    "nt_xent",
    "pretrain",
    "qualification",
    "recipe_metadata",
    "sample_views",
    "train_step",
    "train_steps",
]

ARCH = alexnet.CAFFE_ALEXNET


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Static settings of the pretraining recipe (validated on construction).

    Attributes:
        seed: the one seed everything random derives from.
        ica_patches: number of 11 x 11 patches for FastICA.
        ica_max_iter: FastICA iteration cap.
        crop_size: side of the contrastive crops in pixels (>= 67, the stack's minimum input).
        batch_size: photo regions per step (each gives two views, so 2 * batch_size crops).
        num_steps: contrastive training steps.
        steps_per_call: steps between loss read-backs and progress updates (the log interval).
        checkpoint_every: steps between checkpoints (a multiple of ``steps_per_call``).
        learning_rate: Adam step size.
        temperature: NT-Xent temperature (> 0).
        projection_dim: output size of the projection head.
        scale_range: (min, max) zoom of a view relative to the photo (log-uniform).
        shift_fraction: max shift of a view's centre from its region's, as a fraction of the crop
            side, in [0, 0.5].
        contrast_range: (min, max) multiplicative contrast of a view, in (0, 1].
        noise_sd: pixel-noise SD of a view on the 0-255 scale (>= 0).
    """

    seed: int = 0
    ica_patches: int = 60_000
    ica_max_iter: int = 400
    crop_size: int = 99
    batch_size: int = 32
    num_steps: int = 1200
    steps_per_call: int = 10
    checkpoint_every: int = 100
    learning_rate: float = 1e-3
    temperature: float = 0.1
    projection_dim: int = 128
    scale_range: tuple[float, float] = (0.6, 1.6)
    shift_fraction: float = 0.15
    contrast_range: tuple[float, float] = (0.2, 1.0)
    noise_sd: float = 5.0

    def __post_init__(self):
        def need(ok: bool, field: str, allowed: str):
            if not ok:
                raise InputError(
                    f"PretrainConfig.{field} must be {allowed}, got {getattr(self, field)!r}"
                )

        min_size = alexnet.min_input_size(ARCH)
        need(self.ica_patches >= 1000, "ica_patches", ">= 1000")
        need(self.ica_max_iter >= 1, "ica_max_iter", ">= 1")
        need(self.crop_size >= min_size, "crop_size", f">= {min_size} px")
        need(self.batch_size >= 2, "batch_size", ">= 2")
        need(self.num_steps >= 0, "num_steps", ">= 0")
        need(self.steps_per_call >= 1, "steps_per_call", ">= 1")
        need(self.learning_rate > 0, "learning_rate", "> 0")
        need(self.temperature > 0, "temperature", "> 0")
        need(self.projection_dim >= 1, "projection_dim", ">= 1")
        need(self.noise_sd >= 0, "noise_sd", ">= 0")
        need(0 <= self.shift_fraction <= 0.5, "shift_fraction", "in [0, 0.5]")
        if self.checkpoint_every < 1 or self.checkpoint_every % self.steps_per_call:
            raise InputError(
                "PretrainConfig.checkpoint_every must be a positive multiple of steps_per_call "
                f"({self.steps_per_call}), got {self.checkpoint_every}"
            )
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise InputError(
                f"PretrainConfig.scale_range must satisfy 0 < min <= max, got {self.scale_range}"
            )
        lo, hi = self.contrast_range
        if not 0 < lo <= hi <= 1:
            raise InputError(
                f"PretrainConfig.contrast_range must satisfy 0 < min <= max <= 1, got {self.contrast_range}"
            )


# ----------------------------------------------------------------------------- data


def _sample_region(key, stack: PhotoStack, crop_size: int, max_scale: float, max_shift: float):
    """One photo index and a centre far enough from the border for any view of that region."""
    photo_key, row_key, col_key = jax.random.split(key, 3)
    photo = jax.random.randint(photo_key, (), 0, stack.offsets.shape[0])
    height = stack.heights[photo].astype(jnp.float32)
    width = stack.widths[photo].astype(jnp.float32)
    margin = max_scale * ((crop_size - 1) / 2.0 + max_shift) * math.sqrt(2.0) + 1.0
    row = jax.random.uniform(row_key, (), minval=margin, maxval=height - 1.0 - margin)
    col = jax.random.uniform(col_key, (), minval=margin, maxval=width - 1.0 - margin)
    return photo, row, col


def _view(
    key, stack: PhotoStack, photo, row, col, angle, flip, config: PretrainConfig
) -> jax.Array:
    """One augmented view (crop_size, crop_size) of a region, in network units.

    ``angle`` (radians) and ``flip`` (+-1) belong to the region, so both views of a region share
    them: orientation is what the VPL task is about, and views that differ by a rotation would
    teach conv2-5 to be blind to it (measured: median conv2 gOSI fell from 0.52 to 0.24 when each
    view had its own rotation). Each view has its own zoom, shift, contrast and pixel noise.
    """
    scale_key, shift_key, contrast_key, noise_key = jax.random.split(key, 4)
    lo, hi = config.scale_range
    scale = jnp.exp(jax.random.uniform(scale_key, (), minval=math.log(lo), maxval=math.log(hi)))
    max_shift = config.shift_fraction * config.crop_size
    shift = jax.random.uniform(shift_key, (2,), minval=-max_shift, maxval=max_shift)
    grid = jnp.arange(config.crop_size, dtype=jnp.float32) - (config.crop_size - 1) / 2.0
    u, v = jnp.meshgrid(grid, grid)  # u: column offset, v: row offset
    u = (u + shift[1]) * flip * scale
    v = (v + shift[0]) * scale
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    rows = row + cos * v - sin * u
    cols = col + sin * v + cos * u
    crop = 255.0 * _bilinear(stack, photo, rows, cols)
    c_lo, c_hi = config.contrast_range
    contrast = jax.random.uniform(contrast_key, (), minval=c_lo, maxval=c_hi)
    noise = config.noise_sd * jax.random.normal(noise_key, crop.shape)
    return contrast * (crop - crop.mean()) + noise


def _bilinear(stack: PhotoStack, photo, rows, cols):
    """Bilinear interpolation of photo ``photo`` of the packed stack at (rows, cols) in pixels."""
    width = stack.widths[photo]
    r0 = jnp.clip(jnp.floor(rows).astype(jnp.int32), 0, stack.heights[photo] - 2)
    c0 = jnp.clip(jnp.floor(cols).astype(jnp.int32), 0, width - 2)
    fr, fc = rows - r0, cols - c0
    base = stack.offsets[photo] + r0 * width + c0

    def at(dr, dc):
        return stack.pixels[base + dr * width + dc]

    top = (1 - fc) * at(0, 0) + fc * at(0, 1)
    bottom = (1 - fc) * at(1, 0) + fc * at(1, 1)
    return (1 - fr) * top + fr * bottom


def sample_views(key, stack: PhotoStack, config: PretrainConfig) -> jax.Array:
    """Two augmented views of ``batch_size`` random photo regions.

    Returns:
        f32[2 * batch_size, crop, crop, 1]: views ``i`` and ``i + batch_size`` share a region.
    """
    max_scale = config.scale_range[1]

    def one_region(region_key):
        pick_key, angle_key, flip_key, first_key, second_key = jax.random.split(region_key, 5)
        photo, row, col = _sample_region(
            pick_key, stack, config.crop_size, max_scale, config.shift_fraction * config.crop_size
        )
        angle = jax.random.uniform(angle_key, (), maxval=2 * jnp.pi)
        flip = jnp.where(jax.random.bernoulli(flip_key), -1.0, 1.0)
        return (
            _view(first_key, stack, photo, row, col, angle, flip, config),
            _view(second_key, stack, photo, row, col, angle, flip, config),
        )

    first, second = jax.vmap(one_region)(jax.random.split(key, config.batch_size))
    return jnp.concatenate([first, second])[..., None]


# ----------------------------------------------------------------------------- stage 1: ICA conv1


def ica_patches(key: jax.Array, stack: PhotoStack, n: int, size: int = 11) -> np.ndarray:
    """``n`` random mean-removed ``size`` x ``size`` grey patches on the 0-255 scale, f64[n, size, size]."""
    patches = 255.0 * np.asarray(
        natural_images.sample_patches(key, stack, n, size=size), np.float64
    )
    return patches - patches.mean(axis=(1, 2), keepdims=True)


def ica_filters(patches: np.ndarray, n_filters: int, seed: int, max_iter: int = 400) -> np.ndarray:
    """FastICA filters of mean-removed patches, zero-mean and scaled to norm sqrt(2).

    Args:
        patches: f[n, k, k] mean-removed patches.
        n_filters: number of independent components (96 for conv1).
        seed: FastICA's random state.
        max_iter: FastICA iteration cap.

    Returns:
        f32[k, k, 1, n_filters], HWIO conv1 kernels, ordered by decreasing response variance.
    """
    from sklearn.decomposition import FastICA

    n, k, _ = patches.shape
    ica = FastICA(
        n_components=n_filters,
        whiten="unit-variance",
        random_state=seed,
        max_iter=max_iter,
        tol=1e-4,
    )
    ica.fit(patches.reshape(n, k * k).astype(np.float64))
    filters = ica.components_ - ica.components_.mean(axis=1, keepdims=True)
    responses = patches.reshape(n, k * k) @ filters.T
    order = np.argsort(-responses.var(axis=0))
    filters = filters[order]
    filters *= math.sqrt(2.0) / np.linalg.norm(filters, axis=1, keepdims=True)
    return filters.reshape(n_filters, k, k).transpose(1, 2, 0)[:, :, None, :].astype(np.float32)


# ----------------------------------------------------------------------------- stage 2: contrastive


def init_head(key, projection_dim: int, width: int = 256) -> dict:
    """Projection head ``256 -> width -> projection_dim`` (He init); discarded after pretraining."""
    k1, k2 = jax.random.split(key)
    c = ARCH.convs[-1].out_channels
    return {
        "w1": jax.random.normal(k1, (c, width)) * math.sqrt(2.0 / c),
        "b1": jnp.zeros(width),
        "w2": jax.random.normal(k2, (width, projection_dim)) * math.sqrt(1.0 / width),
        "b2": jnp.zeros(projection_dim),
    }


def embed(params: dict, head: dict, views: jax.Array) -> jax.Array:
    """Unit-norm projections f32[B, projection_dim] of a batch of views f32[B, H, W, 1]."""
    pooled = alexnet.features(params, views, ARCH)["pool5"].mean(axis=(1, 2))
    # Parameter-free batch standardisation (the role of SimCLR's batch norm in the head): ReLU
    # features are all positive, so raw projections start nearly parallel (cosine ~0.98).
    pooled = (pooled - pooled.mean(axis=0, keepdims=True)) / (
        pooled.std(axis=0, keepdims=True) + 1e-5
    )
    hidden = jax.nn.relu(pooled @ head["w1"] + head["b1"][None, :])
    z = hidden @ head["w2"] + head["b2"][None, :]
    return z / jnp.sqrt(jnp.sum(z**2, axis=-1, keepdims=True) + 1e-12)


def nt_xent(z: jax.Array, temperature: float) -> jax.Array:
    """NT-Xent loss of 2B unit vectors where rows ``i`` and ``i + B`` are positives (Chen et al. 2020)."""
    two_b = z.shape[0]
    b = two_b // 2
    logits = z @ z.T / temperature
    logits = jnp.where(jnp.eye(two_b, dtype=bool), -jnp.inf, logits)
    positives = jnp.concatenate([jnp.arange(b, two_b), jnp.arange(b)])
    return optax.softmax_cross_entropy_with_integer_labels(logits, positives).mean()


class PretrainState(NamedTuple):
    """Training state: the stack's params, the head, the optimiser state and the step count."""

    params: dict
    head: dict
    opt_state: optax.OptState
    step: jax.Array


class PretrainResult(NamedTuple):
    """What ``pretrain`` returns: conv1-5 params, the projection head, and the training log."""

    params: dict
    head: dict
    log: dict


def _optimizer(config: PretrainConfig) -> optax.GradientTransformation:
    """Adam on conv2-5 and the head; conv1 (the ICA filters) frozen."""
    params_labels = {}
    for name in ARCH.layer_names:
        label = "frozen" if name == "conv1" else "train"
        params_labels[name] = {"w": label, "b": label}
    labels = {"params": params_labels, "head": {k: "train" for k in ("w1", "b1", "w2", "b2")}}
    return optax.multi_transform(
        {"train": optax.adam(config.learning_rate), "frozen": optax.set_to_zero()}, labels
    )


def init_state(key, conv1_filters: np.ndarray, config: PretrainConfig) -> PretrainState:
    """He-initialised conv2-5 and head, ICA conv1, fresh optimiser state, step 0."""
    params_key, head_key = jax.random.split(key)
    params = alexnet.init_params(params_key, ARCH)
    params["conv1"] = {"w": jnp.asarray(conv1_filters), "b": jnp.zeros(ARCH.convs[0].out_channels)}
    head = init_head(head_key, config.projection_dim)
    opt_state = _optimizer(config).init({"params": params, "head": head})
    return PretrainState(params, head, opt_state, jnp.zeros((), jnp.int32))


@functools.partial(jax.jit, static_argnames=("config",))
def train_step(
    state: PretrainState, key: jax.Array, stack: PhotoStack, config: PretrainConfig
) -> tuple[PretrainState, jax.Array]:
    """One contrastive step (compiled); its views come from ``fold_in(key, state.step)``.

    Returns:
        The new state and the step's loss (f32 scalar).
    """
    optimizer = _optimizer(config)

    def loss_fn(trainable, views):
        z = embed(trainable["params"], trainable["head"], views)
        return nt_xent(z, config.temperature)

    views = sample_views(jax.random.fold_in(key, state.step), stack, config)
    trainable = {"params": state.params, "head": state.head}
    loss, grads = jax.value_and_grad(loss_fn)(trainable, views)
    updates, opt_state = optimizer.update(grads, state.opt_state, trainable)
    trainable = optax.apply_updates(trainable, updates)
    return PretrainState(trainable["params"], trainable["head"], opt_state, state.step + 1), loss


def train_steps(
    state: PretrainState, key: jax.Array, stack: PhotoStack, config: PretrainConfig
) -> tuple[PretrainState, jax.Array]:
    """``config.steps_per_call`` calls of the compiled `train_step`; losses read back once.

    A host loop, not ``lax.scan``: XLA:CPU runs the backward convolutions ~20x slower inside a
    loop body (measured here: 9.5 s vs 0.40 s per step; docs/training.md has the same finding for
    VPL training). The key of step ``s`` is ``fold_in(key, s)``, so results do not depend on how
    the run is cut into calls or resumed.

    Returns:
        The new state and the loss of each step, f32[steps_per_call].
    """
    losses = []
    for _ in range(config.steps_per_call):
        state, loss = train_step(state, key, stack, config)
        losses.append(loss)
    return state, jnp.stack(losses)


# ----------------------------------------------------------------------------- the recipe


def _checkpoint_manager(directory: Path):
    import orbax.checkpoint as ocp

    return ocp.CheckpointManager(
        directory.absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True),
    )


def pretrain(
    config: PretrainConfig,
    photos: Sequence[np.ndarray],
    *,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> PretrainResult:
    """Run the two-stage recipe; resumable when ``checkpoint_dir`` is given.

    Args:
        config: the recipe's settings.
        photos: grey natural photos, each (H, W) in [0, 1] (``theory.natural_images`` convention).
        checkpoint_dir: where orbax checkpoints (and the ICA filters) go; an existing run there is
            resumed from its latest checkpoint.
        progress: show a tqdm progress bar.
        stop_after: stop (after checkpointing) once this many steps are done, to simulate an
            interruption in tests; ``None`` runs to ``config.num_steps``.

    Returns:
        ``PretrainResult(params, head, log)``: the conv1-5 params, the projection head and a dict
        with the loss of every step and timings.
    """
    import time

    from tqdm.auto import tqdm

    margin = config.scale_range[1] * (
        (config.crop_size - 1) / 2 + config.shift_fraction * config.crop_size
    )
    need = 2 * math.ceil(margin * math.sqrt(2.0) + 1.0) + 2
    for i, photo in enumerate(photos):
        if np.ndim(photo) == 2 and min(np.shape(photo)) < need:
            raise InputError(
                f"photos[{i}] is {np.shape(photo)} px; with crop_size={config.crop_size}, "
                f"scale_range max {config.scale_range[1]} and shift_fraction={config.shift_fraction} "
                f"every photo side must be >= {need} px"
            )
    ica_key, init_key, train_key = jax.random.split(jax.random.key(config.seed), 3)
    stack = natural_images.pack(tuple(photos))
    t0 = time.perf_counter()

    ica_path = None if checkpoint_dir is None else Path(checkpoint_dir) / "conv1_ica.npy"
    if ica_path is not None and ica_path.exists():
        conv1 = np.load(ica_path)
    else:
        patches = ica_patches(ica_key, stack, config.ica_patches)
        conv1 = ica_filters(patches, ARCH.convs[0].out_channels, config.seed, config.ica_max_iter)
        if ica_path is not None:
            ica_path.parent.mkdir(parents=True, exist_ok=True)
            np.save(ica_path, conv1)
    t_ica = time.perf_counter() - t0

    state = init_state(init_key, conv1, config)
    losses: list[float] = []
    manager = None
    if checkpoint_dir is not None:
        import orbax.checkpoint as ocp

        manager = _checkpoint_manager(Path(checkpoint_dir) / "steps")
        latest = manager.latest_step()
        if latest is not None:
            restored = manager.restore(
                latest,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(state),
                    log=ocp.args.JsonRestore(),
                ),
            )
            state = restored["state"]
            losses = list(restored["log"]["loss"])

    target = config.num_steps if stop_after is None else min(stop_after, config.num_steps)
    bar = tqdm(
        total=config.num_steps, initial=int(state.step), desc="pretrain", disable=not progress
    )
    t1 = time.perf_counter()
    while int(state.step) < target:
        state, step_losses = train_steps(state, train_key, stack, config)
        losses.extend(np.asarray(step_losses).tolist())
        bar.update(config.steps_per_call)
        bar.set_postfix(loss=f"{np.mean(losses[-config.steps_per_call :]):.3f}")
        if manager is not None and int(state.step) % config.checkpoint_every == 0:
            _save(manager, state, losses)
    bar.close()
    if manager is not None:
        if int(state.step) % config.checkpoint_every:
            _save(manager, state, losses)
        manager.wait_until_finished()
    log = {
        "loss": losses,
        "ica_seconds": t_ica,
        "train_seconds_this_call": time.perf_counter() - t1,
    }
    return PretrainResult(
        jax.tree.map(np.asarray, state.params), jax.tree.map(np.asarray, state.head), log
    )


def _save(manager, state: PretrainState, losses: list[float]) -> None:
    import orbax.checkpoint as ocp

    manager.save(
        int(state.step),
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), log=ocp.args.JsonSave({"loss": losses})
        ),
    )


def recipe_metadata(config: PretrainConfig, photo_names: Sequence[str]) -> dict:
    """Metadata stored with the weights: the recipe, its data and a hash of the settings."""
    settings = dataclasses.asdict(config)
    return {
        "recipe": "vpl_jax.pretrain: conv1 = FastICA of 11x11 natural patches (zero-mean, norm sqrt 2); "
        "conv2-5 = NT-Xent contrastive crop discrimination, conv1 frozen",
        "config": settings,
        "config_sha256": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest(),
        "photos": list(photo_names),
    }


def qualification(params: dict, *, seed: int = 0, random_seed: int = 0, size: int = 227) -> dict:
    """Orientation-selectivity table of ``params`` and of He-random weights, side by side.

    Uses ``vpl_jax.analysis.selectivity.selectivity_table`` (the gOSI of Ukita et al. on full-field
    gratings, centre units, threshold 0.33, shuffle control; Gabor fits of conv1; the included-unit
    counts of the tuning protocol of Wenliang & Seitz).

    Returns:
        ``{"pretrained": [row dicts], "random": [row dicts]}`` (JSON-serialisable).
    """
    random_params = alexnet.init_params(jax.random.key(random_seed), ARCH)
    tables = {}
    for name, p in (("pretrained", params), ("random", random_params)):
        df = selectivity.selectivity_table(p, ARCH, key=jax.random.key(seed), size=size)
        tables[name] = json.loads(df.to_json(orient="records"))
    return tables


def make_weights_file(
    out: Path,
    config: PretrainConfig = PretrainConfig(),
    *,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
    qualify: bool = True,
    overwrite: bool = False,
) -> Path:
    """Run the recipe on the bundled photos and save the weights with their metadata.

    The metadata holds the recipe, the photo list, the config and its hash, the loss log, timings
    and (if ``qualify``) the selectivity tables of the result and of random weights.
    ``vpl-jax weights pretrain --out FILE`` calls this; with the default config it reproduces the
    bundled ``vpl_jax/data/default_weights.npz``.

    Raises:
        WeightsError: ``out`` exists and ``overwrite`` is false -- checked before any training.
    """
    if Path(out).exists() and not overwrite:
        raise weights.WeightsError(f"{out}: already exists; pass overwrite=True to replace it")
    photos = natural_images.load_photos()
    result = pretrain(config, photos, checkpoint_dir=checkpoint_dir, progress=progress)
    metadata = recipe_metadata(config, natural_images.PHOTO_NAMES)
    metadata["steps"] = len(result.log["loss"])
    metadata["seed"] = config.seed
    metadata["loss"] = [round(x, 5) for x in result.log["loss"]]
    metadata["ica_seconds"] = round(result.log["ica_seconds"], 1)
    if qualify:
        metadata["qualification"] = qualification(result.params, seed=config.seed)
    return weights.save(
        result.params, Path(out), arch=ARCH, metadata=metadata, overwrite=overwrite
    )
