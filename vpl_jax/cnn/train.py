r"""Training many 7-layer CNNs in one program: seeds, augmentation, learning rate, label noise.

One *network* (a condition, leading axis ``C``) has a PRNG key and a `Condition`: learning rate,
shift range, horizontal flip and label-corruption rate, all array leaves, so one compiled program
trains the paper's population (4 augmentation settings x 50 seeds), the training-dynamics network
(learning rate 1e-4) and the six label-corruption networks side by side.

Training follows Appendix A.1 of the ICLR 2019 submission *Causal importance of orientation
selectivity for generalization in image recognition*, completed by the authors' Keras code where
the paper is silent:

* Adam (beta 0.9 / 0.999, eps 1e-8; Keras' bias-corrected form differs from optax's only in where
  eps enters), learning rate 1e-3 (the Keras default; the paper states 1e-4 only for the
  training-dynamics experiment, Section 3.2), batch 32, softmax cross-entropy;
* images ``/255`` minus the per-pixel mean training image (code), then augmentation (code order):
  shifts drawn uniformly in ``+-shift * 32`` px vertically and horizontally, rounded to whole
  pixels (Keras 2.0's ``order=0`` resampling) with nearest-edge fill, and a horizontal flip with
  probability 1/2; ``steps_per_epoch = N_train // 32`` (the remainder of a shuffled epoch is
  dropped, as Keras' generator training does);
* the checkpoint with the best **validation accuracy** is kept (the paper; the code monitors
  validation loss: ``selection="val_loss"``). The last epoch is kept too (label-corruption
  networks are analysed at the end of training, since early stopping on clean validation labels
  would prevent the memorisation the experiment needs);
* label corruption (Zhang et al. 2017): each training label is replaced with probability ``p`` by
  a class drawn uniformly (it may coincide with the true one); validation and test labels stay
  clean.

Every epoch records, for every network, the running mean training loss and accuracy (on the
augmented, corrupted batches, as Keras reports them), validation and test loss and accuracy, and
the mean gOSI and fraction of orientation-selective units of each layer on the 432 gratings
(`vpl_jax.cnn.tuning`).

Randomness: a network's key is split once into ``(init, labels, order, augment)``; epoch ``e``
shuffles with ``fold_in(order, e)`` and step ``t`` of it augments with ``fold_in(fold_in(augment,
e), t)``, so a network's results depend only on its key, condition, data and config, never on
which networks train alongside it, and a resumed run repeats an uninterrupted one exactly.

Execution: a host loop over one jitted, vmapped step (XLA:CPU runs the backward convolutions of
a step inside ``lax.scan`` 5-20x slower than at the top level; see `vpl_jax.train`). A plain vmap
turns per-network convolutions into grouped convolutions, which XLA:CPU runs ~2x slower than
separate ones (``benchmarks/bench_cnn.py``): with ``batching="unrolled"`` (``"auto"`` on CPU)
each network's forward and backward pass is emitted separately inside the one vmapped program
(a ``custom_vmap`` rule), everything else is vectorised; ``"vectorized"`` is plain vmap (for
accelerators). With ``out_dir`` the whole state is checkpointed after every epoch
(`vpl_jax.runs.save_tree`, sha256 manifest) and a rerun resumes from the last finished epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike

from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.cnn import model, tuning
from vpl_jax.cnn.data import ImageSplits

__all__ = [
    "AUGMENTATIONS",
    "Condition",
    "Network",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "augment",
    "conditions",
    "corrupt_labels",
    "evaluate",
    "init_state",
    "init_states",
    "load_run",
    "mean_image",
    "preprocess",
    "step_networks",
    "train",
    "train_step",
]

AUGMENTATIONS: dict[str, tuple[float, bool]] = {
    "none": (0.0, False),
    "shift": (0.1, False),
    "flip": (0.0, True),
    "shift+flip": (0.1, True),
}
"""The paper's four augmentation settings (Section 3.3): ``name -> (shift range, h-flip)``."""

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static structure of a training run.

    Attributes:
        epochs: epochs (paper: 200).
        batch_size: images per step (paper: 32).
        selection: ``"val_accuracy"`` (paper) or ``"val_loss"`` (authors' code) for the kept
            checkpoint.
        batching: ``"unrolled"``, ``"vectorized"`` or ``"auto"`` (unrolled on CPU).
        eval_batch_size: images per block of the per-epoch evaluation.
        record_tuning: record gOSI per layer every epoch.
        chunk_size: networks per compiled program (the host loop steps each chunk in turn;
            equal chunks share one compilation); None puts all networks in one program.
        network: the CNN's structure.
    """

    epochs: int = 200
    batch_size: int = 32
    selection: str = "val_accuracy"
    batching: str = "auto"
    eval_batch_size: int = 250
    record_tuning: bool = True
    chunk_size: int | None = None
    network: model.CNNConfig = model.CNNConfig()

    def __post_init__(self):
        if int(self.epochs) < 1:
            raise InputError(f"epochs must be >= 1, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.selection not in ("val_accuracy", "val_loss"):
            raise InputError(
                f"selection must be 'val_accuracy' or 'val_loss', got {self.selection!r}"
            )
        if self.batching not in ("auto", "unrolled", "vectorized"):
            raise InputError(
                f"batching must be 'auto', 'unrolled' or 'vectorized', got {self.batching!r}"
            )
        if int(self.eval_batch_size) < 1:
            raise InputError(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")
        if self.chunk_size is not None and int(self.chunk_size) < 1:
            raise InputError(f"chunk_size must be >= 1 or None, got {self.chunk_size}")

    @property
    def unrolled(self) -> bool:
        if self.batching == "auto":
            return jax.default_backend() == "cpu"
        return self.batching == "unrolled"

    def record(self) -> dict:
        """JSON-able record (the run folder's config)."""
        d = dataclasses.asdict(self)
        for k in ("batching", "chunk_size"):  # execution choices: same results within float32
            d.pop(k)
        return d


@functools.partial(jax.tree_util.register_dataclass, data_fields=None, meta_fields=None)
@dataclasses.dataclass(frozen=True)
class Condition:
    """One network's swept quantities (array leaves; a leading axis ``C`` batches networks).

    Attributes:
        learning_rate: Adam step size (> 0).
        shift: shift range as a fraction of the image side (paper: 0 or 0.1).
        flip: 1 for random horizontal flips, 0 for none.
        corruption: label-corruption rate in [0, 1].
    """

    learning_rate: Array
    shift: Array
    flip: Array
    corruption: Array


class Network(NamedTuple):
    """A row of the network table: what a network is, for labelling and key derivation.

    Attributes:
        group: ``"population"``, ``"dynamics"``, ``"corruption"`` (or any label).
        seed: integer seed of its key (``jax.random.key(seed)``).
        augmentation: a key of `AUGMENTATIONS`.
        learning_rate: Adam step size.
        corruption: label-corruption rate.
    """

    group: str
    seed: int
    augmentation: str = "shift+flip"
    learning_rate: float = 1e-3
    corruption: float = 0.0


def conditions(networks: Sequence[Network]) -> tuple[Array, Condition]:
    """Keys ``(C,)`` and the stacked `Condition` of a network table.

    Raises:
        InputError: an unknown augmentation, a learning rate <= 0 or a rate outside [0, 1].
    """
    networks = list(networks)
    if not networks:
        raise InputError("networks must hold at least one Network, got none")
    for n in networks:
        if n.augmentation not in AUGMENTATIONS:
            raise InputError(
                f"augmentation must be one of {tuple(AUGMENTATIONS)}, got {n.augmentation!r}"
            )
        if not n.learning_rate > 0:
            raise InputError(f"learning_rate must be > 0, got {n.learning_rate}")
        if not 0.0 <= n.corruption <= 1.0:
            raise InputError(f"corruption must be in [0, 1], got {n.corruption}")
    keys = jnp.stack([jax.random.key(int(n.seed)) for n in networks])
    f32 = lambda xs: jnp.asarray(xs, jnp.float32)
    cond = Condition(
        learning_rate=f32([n.learning_rate for n in networks]),
        shift=f32([AUGMENTATIONS[n.augmentation][0] for n in networks]),
        flip=f32([float(AUGMENTATIONS[n.augmentation][1]) for n in networks]),
        corruption=f32([n.corruption for n in networks]),
    )
    return keys, cond


# --------------------------------------------------------------------------------------------
# Data preparation (one network)


def mean_image(train_images: np.ndarray) -> np.ndarray:
    """Per-pixel mean of the training images after ``/255``: ``(H, W, C)`` float32."""
    x = np.asarray(train_images)
    if x.ndim != 4:
        raise InputError(f"train_images must be (N, H, W, C), got shape {x.shape}")
    return (x.astype(np.float64).mean(axis=0) / 255.0).astype(np.float32)


def preprocess(images: Array, mean: Array) -> Array:
    """``images / 255 - mean`` (uint8 or float images, ``(N, H, W, C)``) as float32."""
    x = jnp.asarray(images, jnp.float32) / 255.0
    m = jnp.asarray(mean, jnp.float32)
    return x - m.reshape((1,) * (x.ndim - m.ndim) + m.shape)


def augment(key: Array, images: Array, shift: ArrayLike, flip: ArrayLike) -> Array:
    """Random whole-pixel shifts with nearest-edge fill and random horizontal flips.

    Each image is shifted by ``round(u * shift * H)`` rows and ``round(v * shift * W)`` columns
    (``u, v`` uniform in [-1, 1]; out-of-image pixels take the nearest edge pixel) and mirrored
    left-right with probability 1/2 when ``flip`` is 1.

    Args:
        key: PRNG key.
        images: ``(N, H, W, C)`` float images.
        shift: scalar shift range (fraction of the side; 0 disables).
        flip: scalar, 1 enables flips, 0 disables.

    Returns:
        ``(N, H, W, C)`` augmented images.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
        >>> bool(jnp.all(augment(jax.random.key(0), x, 0.0, 0.0) == x))
        True
    """
    n, h, w = images.shape[:3]
    ks, kf = jax.random.split(key)
    u = jax.random.uniform(ks, (n, 2), minval=-1.0, maxval=1.0)
    dy = jnp.round(u[:, 0] * shift * h).astype(jnp.int32)
    dx = jnp.round(u[:, 1] * shift * w).astype(jnp.int32)
    flips = jax.random.bernoulli(kf, 0.5, (n,)) & (flip > 0.5)
    rows = jnp.clip(jnp.arange(h)[None, :] - dy[:, None], 0, h - 1)  # (N, H)
    cols = jnp.clip(jnp.arange(w)[None, :] - dx[:, None], 0, w - 1)  # (N, W)
    cols = jnp.where(flips[:, None], cols[:, ::-1], cols)
    return images[jnp.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def corrupt_labels(key: Array, labels: Array, rate: ArrayLike, num_classes: int = 10) -> Array:
    """Replace each label with probability ``rate`` by a uniformly drawn class (Zhang et al.).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> y = jnp.arange(10) % 3
        >>> bool(jnp.all(corrupt_labels(jax.random.key(0), y, 0.0, 3) == y))
        True
    """
    kb, kc = jax.random.split(key)
    replace = jax.random.uniform(kb, labels.shape) < rate
    random = jax.random.randint(kc, labels.shape, 0, num_classes)
    return jnp.where(replace, random, labels).astype(jnp.int32)


# --------------------------------------------------------------------------------------------
# State, step, evaluation (one network each; vmapped over C)


class TrainState(NamedTuple):
    """One network's training state (a leading axis ``C`` when batched).

    Attributes:
        params, batch_stats: the current variables.
        opt_state: Adam moments and count.
        best_params, best_batch_stats: the variables of the selected (best-validation) epoch.
        best_score: the selection score of that epoch (higher is better; -inf before any).
        best_epoch: that epoch (0-based; -1 before any).
        loss_sum, correct_sum, seen: running sums over the current epoch's batches.
    """

    params: dict
    batch_stats: dict
    opt_state: Any
    best_params: dict
    best_batch_stats: dict
    best_score: Array
    best_epoch: Array
    loss_sum: Array
    correct_sum: Array
    seen: Array


def _optimizer():
    # Adam's scaling only; the (traced, per-network) learning rate multiplies in the step
    return optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)


def init_state(key: Array, config: TrainConfig = TrainConfig()) -> TrainState:
    """A fresh state of one network from its init key."""
    v = model.init(key, config.network)
    params, bs = v["params"], v["batch_stats"]
    f = jnp.float32
    return TrainState(
        params,
        bs,
        _optimizer().init(params),
        params,
        bs,
        jnp.asarray(-jnp.inf, f),
        jnp.asarray(-1, jnp.int32),
        jnp.zeros((), f),
        jnp.zeros((), f),
        jnp.zeros((), f),
    )


def _per_network(fun: Callable) -> Callable:
    """``fun`` whose vmap runs one call per network (Python-unrolled), stacking the outputs."""
    wrapped = jax.custom_batching.custom_vmap(fun)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        outs = []
        for i in range(axis_size):
            sliced = jax.tree.map(lambda x, b, i=i: x[i] if b else x, list(args), list(in_batched))
            outs.append(fun(*sliced))
        out = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def _loss_grad(config: TrainConfig):
    def fn(params, batch_stats, x, y):
        def loss(p):
            (logits, _), new_bs = model.apply(
                {"params": p, "batch_stats": batch_stats}, x, config=config.network, train=True
            )
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            correct = jnp.sum(jnp.argmax(logits, -1) == y)
            return jnp.mean(ce), (new_bs, correct)

        (value, (new_bs, correct)), grads = jax.value_and_grad(loss, has_aux=True)(params)
        return value, correct, new_bs, grads

    return _per_network(fn) if config.unrolled else fn


def _forward(config: TrainConfig):
    """Logits and the unit responses of every tuning layer, per network when unrolled."""

    def fn(variables, x):
        logits, acts = model.apply(variables, x, config=config.network)
        units = tuple(
            jnp.mean(acts[k], axis=(1, 2)) if acts[k].ndim == 4 else acts[k]
            for k in model.TUNING_LAYERS
        )
        return logits, units

    return _per_network(fn) if config.unrolled else fn


def train_step(
    state: TrainState,
    key: Array,
    condition: Condition,
    images: Array,
    labels: Array,
    idx: Array,
    mean: Array,
    *,
    config: TrainConfig,
) -> TrainState:
    """One Adam step of one network on the batch ``images[idx]`` (augmented with ``key``).

    Args:
        state: the network's state.
        key: the step's augmentation key.
        condition: the network's `Condition` (scalars).
        images: uint8 ``(N, H, W, C)`` training images (shared by all networks).
        labels: int ``(N,)`` this network's (possibly corrupted) training labels.
        idx: int ``(B,)`` batch indices.
        mean: ``(H, W, C)`` mean training image.
        config: static structure.
    """
    x = augment(key, preprocess(images[idx], mean), condition.shift, condition.flip)
    y = labels[idx]
    loss, correct, new_bs, grads = _loss_grad(config)(state.params, state.batch_stats, x, y)
    updates, opt_state = _optimizer().update(grads, state.opt_state, state.params)
    lr = condition.learning_rate
    params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
    return state._replace(
        params=params,
        batch_stats=new_bs,
        opt_state=opt_state,
        loss_sum=state.loss_sum + loss * idx.shape[0],
        correct_sum=state.correct_sum + correct,
        seen=state.seen + idx.shape[0],
    )


def _block_map(fn, x: Array, size: int):
    """``fn`` over blocks of ``size`` rows of ``x`` (zero-padded), outputs concatenated, trimmed."""
    n = x.shape[0]
    size = max(1, min(int(size), n))
    nb = -(-n // size)
    pad = nb * size - n
    xp = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
    out = jax.lax.map(fn, xp.reshape(nb, size, *x.shape[1:]))
    return jax.tree.map(lambda a: a.reshape(nb * size, *a.shape[2:])[:n], out)


def _scores(logits: Array, labels: Array) -> tuple[Array, Array]:
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.mean(ce), jnp.mean(jnp.argmax(logits, -1) == labels)


def evaluate(
    variables: dict,
    images: Array,
    labels: Array,
    mean: Array,
    *,
    config: TrainConfig,
) -> tuple[Array, Array]:
    """Mean cross-entropy and accuracy of one network (BatchNorm in inference mode).

    Args:
        variables: ``{"params", "batch_stats"}``.
        images: uint8 ``(N, H, W, C)``; labels: int ``(N,)``; mean: ``(H, W, C)``.
        config: static structure (``eval_batch_size`` sets the block size).

    Returns:
        ``(loss, accuracy)`` scalars.
    """
    forward = _forward(config)
    logits, _ = _block_map(
        lambda x: forward(variables, preprocess(x, mean)), images, config.eval_batch_size
    )
    return _scores(logits, labels)


def _epoch_end(state, epoch, eval_x, val_labels, test_labels, *, config: TrainConfig):
    """Per-epoch metrics of one network and the best-checkpoint update.

    ``eval_x`` holds the preprocessed validation images, then the test images, then (when
    ``config.record_tuning``) the 432 gratings: one blocked forward pass measures everything.
    """
    v = {"params": state.params, "batch_stats": state.batch_stats}
    seen = jnp.maximum(state.seen, 1.0)
    train_loss, train_acc = state.loss_sum / seen, state.correct_sum / seen
    forward = _forward(config)
    logits, units = _block_map(lambda x: forward(v, x), eval_x, config.eval_batch_size)
    nv, nt = val_labels.shape[0], test_labels.shape[0]
    val_loss, val_acc = _scores(logits[:nv], val_labels)
    test_loss, test_acc = _scores(logits[nv : nv + nt], test_labels)
    n_layers = len(model.TUNING_LAYERS)
    if config.record_tuning:
        g = tuning.layer_gosi(
            {k: u[nv + nt :] for k, u in zip(model.TUNING_LAYERS, units, strict=True)}
        )
        mean_gosi, frac = tuning.layer_summary(g)
    else:
        mean_gosi = frac = jnp.full((n_layers,), jnp.nan, jnp.float32)
    score = val_acc if config.selection == "val_accuracy" else -val_loss
    better = score > state.best_score  # strict: the first best epoch is kept (Keras)
    pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(better, a, b), new, old)
    state = state._replace(
        best_params=pick(state.params, state.best_params),
        best_batch_stats=pick(state.batch_stats, state.best_batch_stats),
        best_score=jnp.where(better, score, state.best_score),
        best_epoch=jnp.where(better, epoch, state.best_epoch),
        loss_sum=jnp.zeros_like(state.loss_sum),
        correct_sum=jnp.zeros_like(state.correct_sum),
        seen=jnp.zeros_like(state.seen),
    )
    metrics = jnp.stack([train_loss, train_acc, val_loss, val_acc, test_loss, test_acc])
    return state, metrics.astype(jnp.float32), mean_gosi, frac


# Compiled programs (jit caches them per static config, so repeated runs compile once)


@functools.partial(jax.jit, static_argnames="config")
def init_states(keys: Array, *, config: TrainConfig) -> TrainState:
    """Fresh stacked states of ``C`` networks from their init keys ``(C,)`` (jitted)."""
    return jax.vmap(functools.partial(init_state, config=config))(keys)


@functools.partial(jax.jit, static_argnames="config", donate_argnums=0)
def step_networks(state, keys, cond, images, labels, idx, mean, *, config: TrainConfig):
    """One `train_step` of every network (vmapped over ``C``, jitted, ``state`` donated)."""
    return jax.vmap(
        functools.partial(train_step, config=config), in_axes=(0, 0, 0, None, 0, 0, None)
    )(state, keys, cond, images, labels, idx, mean)


@functools.partial(jax.jit, static_argnames="config")
def _epoch_ends(state, epoch, eval_x, val_labels, test_labels, *, config: TrainConfig):
    return jax.vmap(
        functools.partial(_epoch_end, config=config), in_axes=(0, None, None, None, None)
    )(state, epoch, eval_x, val_labels, test_labels)


@functools.partial(jax.jit, static_argnames="n")
def _perms(keys, epoch, *, n: int):
    return jax.vmap(lambda k: jax.random.permutation(jax.random.fold_in(k, epoch), n))(keys)


@jax.jit
def _step_keys(keys, epoch, t):
    return jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, epoch), t))(keys)


@functools.partial(jax.jit, static_argnames="num_classes")
def _corrupt_all(keys, labels, rates, *, num_classes: int):
    return jax.vmap(corrupt_labels, in_axes=(0, None, 0, None))(keys, labels, rates, num_classes)


# --------------------------------------------------------------------------------------------
# The program: host loop over epochs and steps


class TrainResult(NamedTuple):
    """Output of `train`.

    Attributes:
        state: the stacked `TrainState` after the last epoch (leading axis ``C``).
        history: xarray Dataset with ``metrics (network, epoch)`` variables ``train_loss``,
            ``train_acc``, ``val_loss``, ``val_acc``, ``test_loss``, ``test_acc`` and
            ``mean_gosi``, ``frac_selective`` ``(network, epoch, layer)``; network coordinates
            ``group, seed, augmentation, learning_rate, corruption, best_epoch``.
        mean: the mean training image ``(H, W, C)``.
        labels: ``(C, N_train)`` the training labels each network saw (corrupted).
    """

    state: TrainState
    history: Any
    mean: np.ndarray
    labels: np.ndarray


def _data_digest(splits: ImageSplits) -> str:
    h = hashlib.sha256()
    for a in splits[:6]:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _check_splits(splits: ImageSplits, config: TrainConfig) -> None:
    s = config.network.image_size
    for name in ("train", "val", "test"):
        x = np.asarray(getattr(splits, f"{name}_images"))
        y = np.asarray(getattr(splits, f"{name}_labels"))
        if x.ndim != 4 or x.shape[1:] != (s, s, config.network.channels) or x.dtype != np.uint8:
            raise InputError(
                f"{name}_images must be uint8 (N, {s}, {s}, {config.network.channels}), got "
                f"{x.dtype} {x.shape}"
            )
        if y.shape != (x.shape[0],) or y.min() < 0 or y.max() >= config.network.num_classes:
            raise InputError(
                f"{name}_labels must be (N,) = ({x.shape[0]},) in 0..{config.network.num_classes - 1}"
                f", got shape {y.shape}"
            )
    if splits.train_images.shape[0] < config.batch_size:
        raise InputError(
            f"train_images must hold >= batch_size = {config.batch_size} images, got "
            f"{splits.train_images.shape[0]}"
        )


def _flatten_state(tree) -> dict:
    leaves = jax.tree.leaves(tree)
    return {f"{i:04d}": np.asarray(a) for i, a in enumerate(leaves)}


def _unflatten_state(template, flat: dict):
    treedef = jax.tree.structure(template)
    leaves = [flat[f"{i:04d}"] for i in range(treedef.num_leaves)]
    for t, a in zip(jax.tree.leaves(template), leaves, strict=True):
        if np.shape(t) != np.shape(a):
            raise runs.CheckpointError(
                f"checkpoint leaf of shape {np.shape(a)} does not match the run ({np.shape(t)})"
            )
    return jax.tree.unflatten(treedef, [jnp.asarray(a) for a in leaves])


def _latest_epoch(out_dir: Path, epochs: int) -> int:
    """The last finished epoch checkpoint (-1 if none)."""
    for e in range(epochs - 1, -1, -1):
        if runs.is_finished(runs.chunk_path(out_dir, e)):
            return e
    return -1


def _remove_checkpoint(path: Path) -> None:
    manifest = path.with_suffix(".json")
    if manifest.exists():
        manifest.unlink()  # unfinished first, then the data
    if path.exists():
        shutil.rmtree(path)


def train(
    networks: Sequence[Network],
    splits: ImageSplits,
    config: TrainConfig = TrainConfig(),
    *,
    out_dir: str | Path | None = None,
    stop_after: int | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train every network of the table on ``splits`` in one vmapped program.

    Args:
        networks: the network table (`Network` rows); keys are ``jax.random.key(seed)``.
        splits: the images (`vpl_jax.cnn.data.ImageSplits`).
        config: epochs, batch size, selection, batching.
        out_dir: run folder for per-epoch checkpoints (resumes from the last finished one);
            None trains in memory.
        stop_after: stop after this many epochs (a simulated interruption; resume later with
            the same arguments). None trains all ``config.epochs``.
        progress: show a tqdm bar over steps.

    Returns:
        `TrainResult` (history up to the last trained epoch; NaN beyond it when stopped early).

    Raises:
        InputError: bad networks or splits; `vpl_jax.runs.RunFolderError` when ``out_dir``
            holds a different run.
    """
    networks = list(networks)
    keys, cond = conditions(networks)
    _check_splits(splits, config)
    if stop_after is not None and not 1 <= int(stop_after) <= config.epochs:
        raise InputError(f"stop_after must be in 1..{config.epochs}, got {stop_after}")
    n_epochs = config.epochs if stop_after is None else int(stop_after)
    c = len(networks)
    k_init, k_labels, k_order, k_aug = (
        jnp.stack(ks) for ks in zip(*[jax.random.split(k, 4) for k in keys], strict=True)
    )
    mean = mean_image(splits.train_images)
    images = jnp.asarray(splits.train_images)
    clean = jnp.asarray(splits.train_labels, jnp.int32)
    num_classes = config.network.num_classes
    labels = _corrupt_all(k_labels, clean, cond.corruption, num_classes=num_classes)
    parts = [preprocess(splits.val_images, mean), preprocess(splits.test_images, mean)]
    if config.record_tuning:
        parts.append(tuning.grating_images(mean))
    eval_x = jnp.concatenate(parts)
    val_labels = jnp.asarray(splits.val_labels, jnp.int32)
    test_labels = jnp.asarray(splits.test_labels, jnp.int32)
    n = images.shape[0]
    b = int(config.batch_size)
    steps = n // b

    chunks = _chunks(c, config.chunk_size)
    take = lambda tree, sl: jax.tree.map(lambda a: a[sl], tree)
    states = [init_states(k_init[sl], config=config) for sl in chunks]
    hist = np.full((config.epochs, c, len(METRICS)), np.nan, np.float32)
    gosi = np.full((config.epochs, c, len(model.TUNING_LAYERS)), np.nan, np.float32)
    frac = np.full_like(gosi, np.nan)
    start = 0
    if out_dir is not None:
        out_dir = Path(out_dir)
        record = {
            "kind": "cnn-train",
            "config": config.record(),
            "networks": [n_._asdict() for n_ in networks],
            "data": {
                "source": splits.source,
                "sha256": _data_digest(splits),
                "class_names": list(splits.class_names),
            },
        }
        record = json.loads(json.dumps(record))  # tuples -> lists, as read back from JSON
        runs.write_config_record(out_dir, record, compare=("kind", "config", "networks", "data"))
        last = _latest_epoch(out_dir, config.epochs)
        if last >= 0:
            saved = runs.restore_tree(runs.chunk_path(out_dir, last))
            full = _unflatten_state(_concat(states), saved["state"])
            states = [take(full, sl) for sl in chunks]
            hist[: last + 1] = saved["history"][: last + 1]
            gosi[: last + 1] = saved["gosi"][: last + 1]
            frac[: last + 1] = saved["frac"][: last + 1]
            start = last + 1

    from tqdm.auto import tqdm

    bar = tqdm(
        total=(n_epochs - min(start, n_epochs)) * steps,
        disable=not progress,
        desc=f"training {c} CNNs",
        unit="step",
    )
    parts = [(take(cond, sl), labels[sl], k_order[sl], k_aug[sl]) for sl in chunks]
    for epoch in range(start, n_epochs):
        perms = [
            _perms(ko, epoch, n=n)[:, : steps * b].reshape(-1, steps, b) for _, _, ko, _ in parts
        ]
        for t in range(steps):
            for j, (cd, lab, _, ka) in enumerate(parts):
                states[j] = step_networks(
                    states[j],
                    _step_keys(ka, epoch, t),
                    cd,
                    images,
                    lab,
                    perms[j][:, t],
                    mean,
                    config=config,
                )
            bar.update(1)
        outs = [
            _epoch_ends(
                st, jnp.asarray(epoch, jnp.int32), eval_x, val_labels, test_labels, config=config
            )
            for st in states
        ]
        states = [o[0] for o in outs]
        hist[epoch] = np.concatenate([np.asarray(o[1]) for o in outs])
        gosi[epoch] = np.concatenate([np.asarray(o[2]) for o in outs])
        frac[epoch] = np.concatenate([np.asarray(o[3]) for o in outs])
        bar.set_postfix(epoch=epoch + 1, val_acc=f"{float(np.mean(hist[epoch, :, 3])):.3f}")
        if out_dir is not None:
            path = runs.chunk_path(out_dir, epoch)
            runs.save_tree(
                path,
                {
                    "state": _flatten_state(_concat(states)),
                    "history": hist,
                    "gosi": gosi,
                    "frac": frac,
                },
                provenance={"epoch": epoch},
            )
            if epoch > 0:
                _remove_checkpoint(runs.chunk_path(out_dir, epoch - 1))
    bar.close()
    state = _concat(states)
    history = _history(networks, hist, gosi, frac, np.asarray(state.best_epoch), splits)
    return TrainResult(state, history, mean, np.asarray(labels))


def _chunks(c: int, size: int | None) -> list[slice]:
    size = c if size is None else int(size)
    return [slice(i, min(i + size, c)) for i in range(0, c, size)]


def _concat(states: list):
    if len(states) == 1:
        return states[0]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *states)


def _history(networks, hist, gosi, frac, best_epoch, splits):
    import xarray as xr

    e = hist.shape[0]
    coords = {
        "network": np.arange(len(networks)),
        "epoch": np.arange(1, e + 1),
        "layer": list(model.TUNING_LAYERS),
        "group": ("network", [n.group for n in networks]),
        "seed": ("network", np.asarray([n.seed for n in networks], np.int64)),
        "augmentation": ("network", [n.augmentation for n in networks]),
        "learning_rate": ("network", np.asarray([n.learning_rate for n in networks])),
        "corruption": ("network", np.asarray([n.corruption for n in networks])),
        "best_epoch": ("network", np.asarray(best_epoch, np.int64) + 1),
    }
    data = {m: (("network", "epoch"), hist[:, :, i].T) for i, m in enumerate(METRICS)}
    data["mean_gosi"] = (("network", "epoch", "layer"), gosi.transpose(1, 0, 2))
    data["frac_selective"] = (("network", "epoch", "layer"), frac.transpose(1, 0, 2))
    ds = xr.Dataset(data, coords=coords)
    ds.attrs["data_source"] = splits.source
    ds.attrs["class_names"] = json.dumps(list(splits.class_names))
    return ds


def load_run(out_dir: str | Path, networks: Sequence[Network], config: TrainConfig) -> TrainState:
    """The stacked `TrainState` of the last finished epoch checkpoint of a run folder.

    Raises:
        `vpl_jax.runs.RunFolderError` / `vpl_jax.runs.CheckpointError`: no finished checkpoint or
            a damaged one.
    """
    out_dir = Path(out_dir)
    keys, _ = conditions(networks)
    k_init = jnp.stack([jax.random.split(k, 4)[0] for k in keys])
    template = jax.eval_shape(jax.vmap(functools.partial(init_state, config=config)), k_init)
    last = _latest_epoch(out_dir, config.epochs)
    if last < 0:
        raise runs.RunFolderError(f"{out_dir} holds no finished epoch checkpoint")
    saved = runs.restore_tree(runs.chunk_path(out_dir, last))
    return _unflatten_state(template, saved["state"])
