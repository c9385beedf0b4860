"""Training: vmapped == separate networks, resume == uninterrupted, augmentation, corruption."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.cnn import data, train

# One config for every training test: the compiled programs are shared across tests.
CONFIG = train.TrainConfig(epochs=2, eval_batch_size=64)
NETS = [
    train.Network("population", 3, "shift+flip"),
    train.Network("corruption", 7, "none", corruption=0.6),
]


@functools.cache
def _splits():
    rng = np.random.default_rng(0)

    def part(n):
        y = (np.arange(n) % 10).astype(np.int32)
        x = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.float64)
        x[..., 0] = 0.5 * x[..., 0] + 12 * y[:, None, None]  # a weak class cue in red
        return np.clip(x, 0, 255).astype(np.uint8), y

    return data.ImageSplits(
        *part(64), *part(20), *part(20), class_names=tuple("abcdefghij"), source="test"
    )


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def _assert_trees_close(a, b, rtol, atol):
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


@functools.cache
def _uninterrupted():
    return train.train(NETS, _splits(), CONFIG)


def test_vmapped_training_equals_separate_trainings():
    together = _uninterrupted()
    for i, net in enumerate(NETS):
        alone = train.train([net], _splits(), CONFIG)
        mine = jax.tree.map(lambda a, i=i: a[i : i + 1], together.state)
        # float32 reassociation between the two programs, amplified a little by Adam's 1/sqrt(v)
        _assert_trees_close(mine.params, alone.state.params, rtol=1e-3, atol=1e-4)
        _assert_trees_close(mine.batch_stats, alone.state.batch_stats, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(
            together.history.val_loss.values[i], alone.history.val_loss.values[0], rtol=1e-4
        )
        np.testing.assert_allclose(
            together.history.mean_gosi.values[i],
            alone.history.mean_gosi.values[0],
            rtol=1e-3,
            atol=1e-5,
        )
        np.testing.assert_array_equal(together.labels[i], alone.labels[0])
    # the two networks really differ (different keys, corrupted labels)
    assert not np.allclose(
        _leaves(together.state.params)[0][0], _leaves(together.state.params)[0][1]
    )
    assert 0.3 < np.mean(together.labels[1] != _splits().train_labels) < 0.75


def test_unrolled_and_vectorized_steps_agree(key):
    keys, cond = train.conditions(NETS)
    sp = _splits()
    mean = train.mean_image(sp.train_images)
    idx = jnp.stack([jnp.arange(32), jnp.arange(32, 64)])
    labels = jnp.stack([jnp.asarray(sp.train_labels)] * 2)
    out = {}
    assert CONFIG.unrolled  # "auto" is unrolled on CPU
    for mode in ("unrolled", "vectorized"):
        cfg = (
            CONFIG
            if mode == "unrolled"
            else train.TrainConfig(epochs=2, eval_batch_size=64, batching=mode)
        )
        st = train.init_states(keys, config=cfg)
        out[mode] = train.step_networks(
            st, keys, cond, jnp.asarray(sp.train_images), labels, idx, mean, config=cfg
        )
    _assert_trees_close(out["unrolled"].params, out["vectorized"].params, rtol=1e-3, atol=1e-4)


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    first = train.train(NETS, _splits(), CONFIG, out_dir=tmp_path, stop_after=1)
    assert np.isnan(first.history.val_loss.values[:, 1]).all()
    assert runs.is_finished(runs.chunk_path(tmp_path, 0))
    resumed = train.train(NETS, _splits(), CONFIG, out_dir=tmp_path)
    whole = _uninterrupted()
    _assert_trees_close(resumed.state, whole.state, rtol=1e-5, atol=1e-7)
    for var in ("train_loss", "val_acc", "test_loss", "mean_gosi"):
        np.testing.assert_allclose(
            resumed.history[var].values, whole.history[var].values, rtol=1e-5, atol=1e-7
        )
    # only the last epoch's checkpoint is kept, and it restores the final state
    assert not runs.is_finished(runs.chunk_path(tmp_path, 0))
    _assert_trees_close(train.load_run(tmp_path, NETS, CONFIG), whole.state, 0, 0)
    # a different run in the same folder is refused
    with pytest.raises(runs.RunFolderError, match="different networks"):
        train.train(NETS[:1], _splits(), CONFIG, out_dir=tmp_path)


def test_best_checkpoint_is_the_first_best_validation_epoch():
    h = _uninterrupted().history
    st = _uninterrupted().state
    for i in range(len(NETS)):
        acc = h.val_acc.values[i]
        assert int(h.best_epoch.values[i]) == int(np.argmax(acc)) + 1
        same = all(
            np.array_equal(a[i], b[i])
            for a, b in zip(_leaves(st.best_params), _leaves(st.params), strict=True)
        )
        assert same == (int(h.best_epoch.values[i]) == CONFIG.epochs)
    assert h.train_loss.dims == ("network", "epoch") and h.mean_gosi.dims[-1] == "layer"
    assert list(h.group.values) == ["population", "corruption"]


def test_augment_shifts_whole_pixels_with_nearest_fill(key):
    x = jax.random.uniform(key, (40, 32, 32, 1))
    out = np.asarray(train.augment(jax.random.key(5), x, 0.1, 0.0))
    xs = np.asarray(x)
    found = set()
    for i in range(x.shape[0]):
        hits = [
            (dy, dx)
            for dy in range(-3, 4)
            for dx in range(-3, 4)
            if np.array_equal(out[i], _shift(xs[i], dy, dx))
        ]
        assert len(hits) == 1
        found.add(hits[0])
    assert len(found) > 10  # many different shifts, all within +-3 px (0.1 x 32 = 3.2)


def _shift(img, dy, dx):
    h, w = img.shape[:2]
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return img[rows][:, cols]


def test_augment_flips_half_the_images(key):
    x = jax.random.uniform(key, (400, 8, 8, 1))
    out = np.asarray(train.augment(jax.random.key(1), x, 0.0, 1.0))
    flipped = np.array(
        [np.array_equal(o, xi[:, ::-1]) for o, xi in zip(out, np.asarray(x), strict=True)]
    )
    same = np.array([np.array_equal(o, xi) for o, xi in zip(out, np.asarray(x), strict=True)])
    assert np.all(flipped | same)
    assert abs(flipped.mean() - 0.5) < 4 * 0.025  # binomial s.d. sqrt(.25/400)


@pytest.mark.parametrize("rate", [0.0, 0.4, 1.0])
def test_corrupt_labels_rate(key, rate):
    y = jnp.arange(20000) % 10
    z = np.asarray(train.corrupt_labels(key, y, rate, 10))
    # a replaced label differs from the true one with probability 9/10
    expected = rate * 0.9
    assert abs(np.mean(z != np.asarray(y)) - expected) < 4 * np.sqrt(
        expected * (1 - expected) / y.size + 1e-12
    )
    if rate == 1.0:
        np.testing.assert_allclose(np.bincount(z) / z.size, 0.1, atol=0.01)


def test_input_errors():
    with pytest.raises(InputError, match="augmentation must be one of"):
        train.conditions([train.Network("p", 0, "rotate")])
    with pytest.raises(InputError, match=r"corruption must be in \[0, 1\]"):
        train.conditions([train.Network("p", 0, corruption=1.5)])
    with pytest.raises(InputError, match="selection must be"):
        train.TrainConfig(selection="train_loss")
    with pytest.raises(InputError, match="stop_after must be in 1..2"):
        train.train(NETS, _splits(), CONFIG, stop_after=3)
    bad = _splits()._replace(val_labels=np.full(20, 12, np.int32))
    with pytest.raises(InputError, match="val_labels must be"):
        train.train(NETS, bad, CONFIG)
