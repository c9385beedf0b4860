"""Training as in Cadena et al. (2019), for every model of `vpl_jax.v1.models`.

The procedure (Methods, "Implementation details"): Adam on mini-batches of 256 trials; the
validation loss (the Poisson term only, Eq. 9) every 100 steps; after 10 evaluations without
improvement the best parameters are restored and the learning rate divided by 3, three times
(``lr, lr/3, lr/9, lr/27``); the best parameters are kept. Trials are the trial-level samples of
`vpl_jax.v1.data.trial_arrays` (every repeat its own sample, missing trials masked; 2-repeat
neurons have their repeats copied into the empty slots for training, as the authors do).

Hyper-parameter grids: ``hparams`` is a dict of ``(C,)`` arrays -- ``C`` settings of the
regularisation strengths, e.g. the 4 x 4 x 4 grid of `lambda_grid` -- trained together in one
program (``jax.vmap`` over settings: one compiled step moves all ``C`` models; a setting that
has finished its schedule gets learning rate 0). Each setting keeps its own best parameters,
patience counter and learning rate. `select` then picks, for each neuron, the setting with the
lowest validation loss of that neuron (``mode="neuron"``, the paper's per-neuron
cross-validation, for the read-out models), or one setting for the whole population
(``mode="model"``, for the data-driven CNN whose core is shared).

Frozen features are computed once per layer by the caller and passed as ``inputs``
``(n_images, ...)``; a training step gathers the rows of its batch inside the compiled step, so
nothing but the 256 batch indices crosses from the host per step. The step loop is a host loop
over a jitted step (XLA:CPU runs convolution backward passes 5-20x slower inside
``lax.scan``/``while`` bodies).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from theory.checks import InputError
from vpl_jax.v1 import data as v1data
from vpl_jax.v1 import metrics, readouts

__all__ = [
    "FitData",
    "FitResult",
    "TrainConfig",
    "TrainResult",
    "fit",
    "fit_data",
    "lambda_grid",
    "predict",
    "predictor",
    "select",
    "train",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimisation schedule (static).

    Attributes:
        learning_rate: initial Adam learning rate (the paper: cross-validated for VGG, 1e-4 for
            the others).
        batch_size: trials per step (256).
        eval_every: steps between validation evaluations (100).
        patience: evaluations without improvement before a decay (10).
        lr_decays: number of decays (3); training stops when the last round runs out.
        decay_factor: learning-rate divisor at each decay (3).
        max_steps: a cap on the total number of steps.
        eval_batch_size: images per prediction call.
    """

    learning_rate: float = 1e-4
    batch_size: int = 256
    eval_every: int = 100
    patience: int = 10
    lr_decays: int = 3
    decay_factor: float = 3.0
    max_steps: int = 40_000
    eval_batch_size: int = 256

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate must be > 0, got {self.learning_rate}")
        for name in ("batch_size", "eval_every", "patience", "max_steps", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr_decays < 0:
            raise InputError(f"lr_decays must be >= 0, got {self.lr_decays}")
        if not self.decay_factor > 1:
            raise InputError(f"decay_factor must be > 1, got {self.decay_factor}")


@dataclasses.dataclass(frozen=True, eq=False)
class FitData:
    """Everything a fit needs: inputs per image and trial arrays per split.

    Attributes:
        inputs: ``(n_images, ...)`` float32 model inputs or frozen features of every image.
        train: training trials (`vpl_jax.v1.data.TrialArrays`, ``image_index`` into ``inputs``).
        val_images: ``(n_val,)`` sorted indices of the validation images.
        val: validation trials (original repeats).
        test_images: ``(n_test,)`` indices of the test images.
        test_responses: ``(n_reps, n_test, N)`` test counts with ``NaN`` (original repeats).
        mean_rate: ``(N,)`` mean training count per neuron (initial biases).
    """

    inputs: np.ndarray
    train: v1data.TrialArrays
    val_images: np.ndarray
    val: v1data.TrialArrays
    test_images: np.ndarray
    test_responses: np.ndarray
    mean_rate: np.ndarray

    @property
    def num_neurons(self) -> int:
        return int(self.train.responses.shape[1])


def fit_data(
    inputs: np.ndarray,
    responses: np.ndarray,
    split: v1data.Split,
    *,
    repetitions: np.ndarray | None = None,
    fill_repeats: bool = True,
) -> FitData:
    """Assemble `FitData` from inputs of every image, the responses and a split.

    Args:
        inputs: ``(n_images, ...)`` model inputs or features.
        responses: ``(n_reps, n_images, N)`` with ``NaN`` for missing trials.
        split: from `vpl_jax.v1.data.split_images`.
        repetitions: ``(N,)`` repeats per neuron (needed for ``fill_repeats``).
        fill_repeats: copy 2-repeat neurons' repeats into the empty slots for training.
    """
    inputs = np.asarray(inputs, np.float32)
    responses = np.asarray(responses, np.float32)
    if responses.ndim != 3 or inputs.shape[0] != responses.shape[1]:
        raise InputError(
            f"inputs must hold one entry per image of responses (n_reps, n_images, N) = "
            f"{responses.shape}, got inputs of shape {inputs.shape}"
        )
    train = v1data.trial_arrays(
        responses,
        split.train,
        repetitions=repetitions,
        fill_repeats=fill_repeats and repetitions is not None,
    )
    val = v1data.trial_arrays(responses, split.val)
    mean_rate = np.nanmean(responses[:, split.train], axis=(0, 1))
    return FitData(
        inputs=inputs,
        train=train,
        val_images=np.sort(np.asarray(split.val)),
        val=val,
        test_images=np.asarray(split.test),
        test_responses=responses[:, split.test],
        mean_rate=np.nan_to_num(mean_rate, nan=1.0).astype(np.float32),
    )


def lambda_grid(values: Mapping[str, object]) -> dict[str, np.ndarray]:
    """The Cartesian product of per-name values as a dict of ``(C,)`` float32 arrays.

    Examples:
        >>> g = lambda_grid({"sparse": [0.0, 0.1], "laplace": [1.0]})
        >>> g["sparse"].tolist(), g["laplace"].tolist()
        ([0.0, 0.10000000149011612], [1.0, 1.0])
    """
    names = list(values)
    if not names:
        raise InputError("values must name at least one hyper-parameter")
    lists = [np.atleast_1d(np.asarray(values[n], np.float64)) for n in names]
    for n, v in zip(names, lists, strict=True):
        if v.size == 0 or np.any(v < 0) or not np.all(np.isfinite(v)):
            raise InputError(f"hyper-parameter {n!r} needs finite values >= 0, got {v.tolist()}")
    combos = list(itertools.product(*lists))
    return {n: np.array([c[i] for c in combos], np.float32) for i, n in enumerate(names)}


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """The best parameters of every setting and their validation losses.

    Attributes:
        params, state: pytrees with a leading ``C`` axis (the best of each setting).
        val_loss: ``(C, N)`` validation Poisson loss per neuron at each setting's best.
        steps: steps taken.
        history: ``(n_evals, C)`` mean validation loss at every evaluation.
        hparams: the ``(C,)`` settings.
    """

    params: dict
    state: dict
    val_loss: np.ndarray
    steps: int
    history: np.ndarray
    hparams: dict


def _optimizer():
    """Adam with its learning rate held in the state (one per setting, set by the host)."""
    return optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)


def _with_learning_rate(opt_state, lr: np.ndarray):
    """``opt_state`` with the ``(C,)`` learning rates ``lr`` (strong float32: no retracing)."""
    hyper = {**opt_state.hyperparams, "learning_rate": jnp.asarray(lr, jnp.float32)}
    return opt_state._replace(hyperparams=hyper)


def _step(model, carry, hp, arrays, idx):
    """One Adam step of every setting on the trials ``idx (B,)``."""
    params, state, opt_state = carry
    inputs, t_img, t_y, t_m = arrays
    xb, yb, mb = inputs[t_img[idx]], t_y[idx], t_m[idx]
    opt = _optimizer()

    def one(p, s, o, h):
        def loss(p):
            pred, s2 = model.apply(p, s, xb, True)
            return readouts.poisson_loss(pred, yb, mb) + model.penalty(p, h), s2

        (_, s2), grads = jax.value_and_grad(loss, has_aux=True)(p)
        updates, o2 = opt.update(grads, o, p)
        return optax.apply_updates(p, updates), s2, o2

    if next(iter(hp.values())).shape[0] == 1:  # one setting: no vmap (convolutions run faster)
        squeeze = lambda t: jax.tree.map(lambda a: a[0], t)
        out = one(*map(squeeze, (params, state, opt_state, hp)))
        return jax.tree.map(lambda a: a[None], out)
    return jax.vmap(one)(params, state, opt_state, hp)


@functools.partial(jax.jit, static_argnames=("model",))
def _run_step(model, carry, hp, arrays, idx):
    return _step(model, carry, hp, arrays, idx)


@functools.partial(jax.jit, static_argnames=("model",))
def _run_block(model, carry, hp, arrays, idx):
    """``idx.shape[0]`` steps in one compiled call (``lax.scan``): for read-out models, whose
    steps hold no convolution."""
    body = lambda c, i: (_step(model, c, hp, arrays, i), None)
    return jax.lax.scan(body, carry, idx)[0]


@jax.jit
def _select_tree(mask, new, old):
    return _tree_select(mask, new, old)


def _tree_select(mask, new, old):
    """Per setting: ``new`` where ``mask`` (C,) else ``old``."""

    def pick(a, b):
        m = mask.reshape((-1,) + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree.map(pick, new, old)


def _positions(images: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.searchsorted(images, index).astype(np.int32)


def _check_hparams(model, hparams: Mapping) -> dict[str, np.ndarray]:
    names = getattr(model, "hparam_names", ())
    missing = [n for n in names if n not in hparams]
    if missing:
        raise InputError(
            f"hparams for {type(model).__name__} must hold {list(names)}, missing {missing}"
        )
    arrays = {n: np.atleast_1d(np.asarray(hparams[n], np.float32)) for n in names}
    sizes = {a.shape for a in arrays.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise InputError(f"hparams must be (C,) arrays of one length, got shapes {sorted(sizes)}")
    return arrays


def train(
    key: jax.Array,
    model,
    data: FitData,
    hparams: Mapping[str, object],
    config: TrainConfig = TrainConfig(),
    *,
    stats=None,
    progress: bool = False,
    desc: str = "fit",
) -> TrainResult:
    """Fit ``C`` settings of ``model`` at once with the paper's schedule.

    Args:
        key: PRNG key (initialisation and batch order).
        model: a model of `vpl_jax.v1.models` (``init``/``apply``/``penalty``).
        data: from `fit_data`.
        hparams: ``{name: (C,)}`` for every name of ``model.hparam_names``.
        config: the schedule.
        stats: passed to ``model.init`` (feature statistics for `FeatureGLM`).
        progress: a progress bar over steps.
        desc: its label.

    Returns:
        The `TrainResult`.
    """
    hp = _check_hparams(model, hparams)
    c = next(iter(hp.values())).shape[0]
    n = data.num_neurons
    init_key, batch_key = jax.random.split(key)
    inputs = jnp.asarray(data.inputs)
    example = inputs[:2]
    mean_rate = jnp.asarray(data.mean_rate)
    params, state = jax.vmap(lambda k: model.init(k, example, n, mean_rate, stats))(
        jax.random.split(init_key, c)
    )
    opt_state = jax.vmap(_optimizer().init)(params)
    opt_state = _with_learning_rate(opt_state, np.full(c, config.learning_rate, np.float32))
    hp_j = {k: jnp.asarray(v) for k, v in hp.items()}

    use_scan = bool(getattr(model, "scan_steps", False))
    arrays = (inputs, jnp.asarray(data.train.image_index), jnp.asarray(data.train.responses),
              jnp.asarray(data.train.mask))  # fmt: skip

    val_pos = jnp.asarray(_positions(data.val_images, data.val.image_index))
    v_y, v_m = jnp.asarray(data.val.responses), jnp.asarray(data.val.mask)

    def val_loss(params, state):
        pred = predict(model, params, state, data.inputs, data.val_images, config.eval_batch_size)
        return np.asarray(_trial_losses(jnp.asarray(pred), val_pos, v_y, v_m))

    select_tree = _select_tree
    rng = np.random.default_rng(np.asarray(jax.random.key_data(batch_key)).ravel().tolist())
    num_trials = len(data.train.image_index)
    bsz = min(config.batch_size, num_trials)
    best = (params, state, opt_state)
    best_loss = np.full(c, np.inf)
    best_neuron = np.full((c, n), np.inf)
    wait = np.zeros(c, int)
    rounds = np.zeros(c, int)
    done = np.zeros(c, bool)
    lr = np.full(c, config.learning_rate, np.float32)
    history = []
    perm, pos = rng.permutation(num_trials), 0
    bar = tqdm(total=config.max_steps, desc=desc, disable=not progress, leave=False)
    steps = 0
    carry = (params, state, opt_state)
    while steps < config.max_steps:
        block = min(config.eval_every, config.max_steps - steps)
        rows = []
        for _ in range(block):
            if pos + bsz > num_trials:
                perm, pos = rng.permutation(num_trials), 0
            rows.append(perm[pos : pos + bsz])
            pos += bsz
        idx = np.stack(rows).astype(np.int32)
        if use_scan:
            carry = _run_block(model, carry, hp_j, arrays, jnp.asarray(idx))
        else:
            for i in range(block):
                carry = _run_step(model, carry, hp_j, arrays, jnp.asarray(idx[i]))
        steps += block
        bar.update(block)
        if block < config.eval_every:
            break
        params, state, opt_state = carry
        per_neuron = val_loss(params, state)
        current = per_neuron.mean(axis=1)
        history.append(current)
        improved = (current < best_loss) & ~done
        best_loss = np.where(improved, current, best_loss)
        best_neuron = np.where(improved[:, None], per_neuron, best_neuron)
        best = select_tree(jnp.asarray(improved), (params, state, opt_state), best)
        wait = np.where(improved, 0, wait + 1)
        exhausted = (wait >= config.patience) & ~done
        if exhausted.any():
            # restore the best parameters (and optimiser state), decay the learning rate
            params, state, opt_state = select_tree(
                jnp.asarray(exhausted), best, (params, state, opt_state)
            )
            rounds = np.where(exhausted, rounds + 1, rounds)
            wait = np.where(exhausted, 0, wait)
            lr = np.where(exhausted, lr / config.decay_factor, lr).astype(np.float32)
            done = done | (rounds > config.lr_decays)
        opt_state = _with_learning_rate(opt_state, np.where(done, 0.0, lr).astype(np.float32))
        carry = (params, state, opt_state)
        bar.set_postfix(val=f"{np.min(best_loss):.4f}", active=int((~done).sum()))
        if done.all():
            break
    params, state, opt_state = carry
    bar.close()
    if not np.isfinite(best_loss).all():  # never evaluated: use the last parameters
        per_neuron = val_loss(params, state)
        unset = ~np.isfinite(best_loss)
        best_neuron = np.where(unset[:, None], per_neuron, best_neuron)
        best = select_tree(jnp.asarray(unset), (params, state, opt_state), best)
    return TrainResult(
        params=best[0],
        state=best[1],
        val_loss=best_neuron,
        steps=steps,
        history=np.asarray(history).reshape(-1, c),
        hparams=hp,
    )


@jax.jit
def _trial_losses(pred_images, pos, y, m):
    """``(C, N)`` per-neuron Poisson loss of per-image predictions ``(C, n, N)`` on trials."""
    return jax.vmap(lambda p: readouts.poisson_loss_per_neuron(p[pos], y, m))(pred_images)


def predict(model, params, state, inputs, images, batch_size: int = 256) -> np.ndarray:
    """Predictions of every setting for ``inputs[images]``: ``(C, len(images), N)``.

    Args:
        model: the model.
        params, state: with a leading ``C`` axis (e.g. `TrainResult.params`).
        inputs: ``(n_images, ...)``.
        images: indices into ``inputs``.
        batch_size: images per call.
    """
    images = np.asarray(images)
    if images.size == 0:
        raise InputError("images must hold at least one index")
    size = min(batch_size, len(images))
    padded = np.concatenate([images, np.full((-len(images)) % size, images[-1])])  # one shape
    inputs = np.asarray(inputs)
    out = []
    for i in range(0, len(padded), size):
        x = jnp.asarray(inputs[padded[i : i + size]])
        out.append(np.asarray(_predict_chunk(model, params, state, x)))
    return np.concatenate(out, axis=1)[:, : len(images)]


@functools.partial(jax.jit, static_argnames=("model",))
def _predict_chunk(model, params, state, x):
    if jax.tree.leaves(params)[0].shape[0] == 1:  # one setting: no vmap
        squeeze = lambda t: jax.tree.map(lambda a: a[0], t)
        return model.apply(squeeze(params), squeeze(state), x, False)[0][None]
    return jax.vmap(lambda p, s: model.apply(p, s, x, False)[0])(params, state)


def select(val_loss: np.ndarray, mode: str = "neuron") -> np.ndarray:
    """The chosen setting per neuron, ``(N,)`` int: per-neuron argmin of ``val_loss (C, N)``
    (``"neuron"``) or the argmin of its mean over neurons for all (``"model"``)."""
    val_loss = np.asarray(val_loss)
    if mode == "neuron":
        return np.argmin(val_loss, axis=0)
    if mode == "model":
        return np.full(val_loss.shape[1], int(np.argmin(val_loss.mean(axis=1))))
    raise InputError(f"mode must be 'neuron' or 'model', got {mode!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted model and its test performance.

    Attributes:
        train: the `TrainResult` (all settings).
        choice: ``(N,)`` chosen setting per neuron.
        test_predictions: ``(n_test, N)`` predicted rates with the chosen settings.
        fev: ``(N,)`` test FEV (Eq. 23).
    """

    train: TrainResult
    choice: np.ndarray
    test_predictions: np.ndarray
    fev: np.ndarray


def fit(
    key: jax.Array,
    model,
    data: FitData,
    hparams: Mapping[str, object],
    config: TrainConfig = TrainConfig(),
    *,
    mode: str = "neuron",
    stats=None,
    progress: bool = False,
    desc: str = "fit",
) -> FitResult:
    """`train`, `select` the settings, predict the test images and score them (FEV)."""
    if mode not in ("neuron", "model"):
        raise InputError(f"mode must be 'neuron' or 'model', got {mode!r}")
    result = train(key, model, data, hparams, config, stats=stats, progress=progress, desc=desc)
    choice = select(result.val_loss, mode)
    pred = predict(model, result.params, result.state, data.inputs, data.test_images,
                   config.eval_batch_size)  # fmt: skip
    chosen = pred[choice, :, np.arange(data.num_neurons)].T  # (n_test, N)
    return FitResult(
        train=result,
        choice=choice,
        test_predictions=chosen,
        fev=metrics.fev(data.test_responses, chosen),
    )


def predictor(
    model,
    result: FitResult | TrainResult,
    choice: np.ndarray | None = None,
    feature_fn: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``images (B, S, S) -> rates (B, N)`` of a fitted model (for in-silico tuning).

    Args:
        model: the model.
        result: its `FitResult` (or a `TrainResult` with ``choice``).
        choice: ``(N,)`` setting per neuron (default: the result's choice).
        feature_fn: maps images to the model's inputs (e.g. the frozen VGG features); default
            the identity (pixels for the LNP and the CNN).
    """
    tr = result.train if isinstance(result, FitResult) else result
    if choice is None:
        if not isinstance(result, FitResult):
            raise InputError("choice is needed with a TrainResult")
        choice = result.choice
    choice = np.asarray(choice)

    def fn(images):
        x = np.asarray(images, np.float32) if feature_fn is None else feature_fn(images)
        pred = np.asarray(_predict_chunk(model, tr.params, tr.state, jnp.asarray(x)))
        return pred[choice, :, np.arange(len(choice))].T

    return fn
