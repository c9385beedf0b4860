"""Tests of vpl_jax.train: optimiser, schedule, layer change, vmapped/sharded training, learning.

Small sizes: 67 x 67 px images (the Gabor shrinks in proportion), a few iterations, small test
sets. Where a test only needs part of the network to learn, lower layers are frozen, which keeps
the XLA compile time of the backward pass (the dominant cost on CPU) short.
"""

import functools
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vpl_jax import alexnet, siamese, train

SIZE = 67


def _config(**kw):
    base = dict(
        image_size=SIZE,
        num_iterations=3,
        num_eval_points=2,
        test_pairs=20,
        fold_pairs=10,
        test_separations=(2.0, 10.0),
    )
    base.update(kw)
    return train.TrainConfig(**base)


@pytest.fixture(scope="module")
def backbone():
    return alexnet.init_params(jax.random.key(0))


def test_eval_iterations_match_the_paper():
    assert train.eval_iterations(1000) == (
        0, 1, 2, 3, 4, 5, 6, 8, 12, 18, 26, 37, 54, 78, 112, 162, 233, 335, 483, 695, 1000,
    )  # fmt: skip
    for total, points in [(300, 12), (50, 20), (20, 20), (7, 3)]:
        its = train.eval_iterations(total, points)
        assert len(its) == points + 1 and its[0] == 0 and its[-1] == total
        assert all(b > a for a, b in zip(its, its[1:], strict=False))
    with pytest.raises(ValueError, match="num_eval_points"):
        train.eval_iterations(10, 11)


def _toy_params():
    k1, k2, k3 = jax.random.split(jax.random.key(5), 3)
    return {
        "conv1": {"w": jax.random.normal(k1, (3, 2)), "b": jnp.asarray([0.5, -0.5])},
        "readout": {"w": jax.random.normal(k2, (4,)), "b": jnp.asarray(0.1)},
        "_grads": jax.random.normal(k3, (2, 12)),
    }


def test_one_and_two_optimiser_steps_equal_caffe_sgd_momentum_with_bias_multiplier():
    toy = _toy_params()
    params = {k: v for k, v in toy.items() if k != "_grads"}
    g = toy["_grads"]

    def grads(i):  # two different gradient pytrees
        return {
            "conv1": {"w": g[i, :6].reshape(3, 2), "b": g[i, 6:8]},
            "readout": {"w": g[i, 8:12], "b": g[i, 0] + 1.0},
        }

    lr, mu = 1e-2, 0.9
    opt = train.make_optimizer(lr, momentum=mu, bias_lr_mult=2.0, layer_names=("conv1", "readout"))
    state = opt.init(params)
    theta = params
    velocity = jax.tree.map(
        jnp.zeros_like, params
    )  # Caffe: v <- mu v - lr_mult * lr * g; theta += v
    for i in range(2):
        updates, state = opt.update(grads(i), state, theta)
        new = optax.apply_updates(theta, updates)
        mult = {layer: {"w": 1.0, "b": 2.0} for layer in params}
        velocity = jax.tree.map(lambda v, gr, m: mu * v - m * lr * gr, velocity, grads(i), mult)
        expected = jax.tree.map(jnp.add, theta, velocity)
        for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        theta = new
    # first step explicitly: weights move by -lr * g, biases by -2 lr * g
    updates, _ = opt.update(grads(0), opt.init(params), params)
    np.testing.assert_allclose(
        updates["conv1"]["w"], -lr * grads(0)["conv1"]["w"], rtol=1e-6, atol=0
    )
    np.testing.assert_allclose(
        updates["conv1"]["b"], -2 * lr * grads(0)["conv1"]["b"], rtol=1e-6, atol=0
    )
    # the multiplier is switchable
    plain = train.make_optimizer(lr, momentum=mu, bias_lr_mult=1.0)
    updates, _ = plain.update(grads(0), plain.init(params), params)
    np.testing.assert_allclose(
        updates["conv1"]["b"], -lr * grads(0)["conv1"]["b"], rtol=1e-6, atol=0
    )


def test_frozen_layers_get_exactly_zero_updates_and_no_state():
    toy = _toy_params()
    params = {k: v for k, v in toy.items() if k != "_grads"}
    grads = jax.tree.map(lambda x: jnp.full_like(x, 3.0), params)
    opt = train.make_optimizer(1e-2, frozen_layers=1, layer_names=("conv1", "readout"))
    updates, _ = opt.update(grads, opt.init(params), params)
    assert not np.any(np.asarray(updates["conv1"]["w"])) and not np.any(
        np.asarray(updates["conv1"]["b"])
    )
    assert np.all(np.asarray(updates["readout"]["w"]) != 0)
    labels = train.param_labels(params, frozen_layers=1, layer_names=("conv1", "readout"))
    assert labels == {
        "conv1": {"w": "frozen", "b": "frozen"},
        "readout": {"w": "weight", "b": "bias"},
    }


def test_layer_change_measures_by_hand():
    initial = {
        "conv1": {"w": jnp.asarray([1.0, -2.0, 3.0]), "b": jnp.asarray([-1.0])},
        "readout": {"w": jnp.zeros(3), "b": jnp.zeros(())},
    }
    params = {
        "conv1": {"w": jnp.asarray([1.5, -2.0, 2.0]), "b": jnp.asarray([-1.0])},
        "readout": {"w": jnp.asarray([0.3, 0.0, -0.4]), "b": jnp.zeros(())},
    }
    out = np.asarray(train.layer_change(params, initial, layer_names=("conv1", "readout")))
    # conv1: dw = (0.5, 0, -1, 0) with the bias concatenated; sum|w0| = 7, ||w0|| = sqrt(15), N = 4
    np.testing.assert_allclose(
        out[0], [1.5 / 7, np.sqrt(1.25 / 15), 1.5 / 4, np.sqrt(1.25 / 4)], rtol=1e-6, atol=0
    )
    # readout: denominators N = 4 (3 weights + bias) and sqrt(N)
    np.testing.assert_allclose(out[1], [0.7 / 4, 0.5 / 2, 0.7 / 4, 0.5 / 2], rtol=1e-6, atol=0)


def test_bad_config_and_conditions():
    with pytest.raises(ValueError, match="image_size"):
        train.TrainConfig(image_size=40)
    with pytest.raises(ValueError, match="test_pairs"):
        train.TrainConfig(test_pairs=30, fold_pairs=20)
    with pytest.raises(ValueError, match="frozen_layers"):
        train.TrainConfig(frozen_layers=7)
    with pytest.raises(ValueError, match=r"separation_deg must be > 0"):
        train.Condition.create(0.0, 0.0, 20.0, 0.5, 5.0)
    with pytest.raises(ValueError, match=r"contrast must be in \(0, 1\]"):
        train.Condition.create(0.0, 1.0, 20.0, 1.5, 5.0)
    with pytest.raises(ValueError, match=r"noise_sd must be >= 0"):
        train.Condition.create(0.0, 1.0, 20.0, 0.5, -1.0)


def _conditions():
    return train.Condition.create([0.0, 60.0], [10.0, 5.0], [20.0, 30.0], [0.5, 0.4], [5.0, 10.0])


def test_vmapped_equals_separate_runs_frozen_layers_and_first_iteration(backbone):
    config = _config(frozen_layers=4)
    conds = _conditions()
    keys = jax.random.split(jax.random.key(1), 2)
    both = train.train_conditions(keys, conds, backbone, config=config)
    assert both.accuracy.shape == (2, 3, 5) and both.layer_change.shape == (2, 3, 6, 4)
    assert both.separation_accuracy.shape == (2, 5, 2)
    initial = siamese.init_model(backbone, config.arch, SIZE)
    for c in range(2):
        one = train.train(
            keys[c], jax.tree.map(lambda x, c=c: x[c], conds), backbone, config=config
        )
        for name in ("accuracy", "accuracy_sym", "layer_change", "separation_accuracy"):
            np.testing.assert_allclose(
                getattr(one, name), getattr(both, name)[c], rtol=1e-4, atol=1e-6
            )
        for a, b in zip(
            jax.tree.leaves(one.final_params), jax.tree.leaves(both.final_params), strict=True
        ):
            np.testing.assert_allclose(a, b[c], rtol=1e-4, atol=1e-7)
        # frozen layers bit for bit
        for layer in ("conv1", "conv2", "conv3", "conv4"):
            for leaf in ("w", "b"):
                np.testing.assert_array_equal(
                    both.final_params[layer][leaf][c], initial[layer][leaf]
                )
    change = both.layer_change[..., 0]  # d_rel1, (C, E, layer)
    assert np.all(change[:, 0] == 0.0)
    assert np.all(change[:, 1, :5] == 0.0), "only the readout may change at iteration 1"
    assert np.all(change[:, 1, 5] > 0.0)
    assert np.all(change[:, 2, 4:] > 0.0), "unfrozen layers learn from iteration 2 on"
    np.testing.assert_array_equal(both.accuracy[:, 0], 0.5)  # zero readout: p = 1/2 exactly


def test_smoke_run_learns_an_easy_separation(backbone):
    config = _config(num_iterations=24, num_eval_points=4, test_pairs=40, fold_pairs=20)
    cond = train.Condition.create(30.0, 10.0, 20.0, 0.5, 5.0)
    out = train.train(jax.random.key(2), cond, backbone, config=config)
    acc = out.accuracy[:, 0]
    assert acc[0] == pytest.approx(0.5)
    assert acc[-1] > 0.8, acc
    assert np.all(np.isfinite(out.train_loss[1:])) and out.train_loss[-1] < np.log(2) - 0.2
    # after training, the coarsest test separation is easier than the finest
    assert out.separation_accuracy[0, -1] > out.separation_accuracy[0, 0]


_SHARDED = textwrap.dedent(
    """
    import jax, numpy as np
    from vpl_jax import alexnet, train
    assert jax.device_count() == 2, jax.devices()
    config = train.TrainConfig(image_size=67, num_iterations=2, num_eval_points=2, test_pairs=20,
                               fold_pairs=10, test_separations=(5.0,), frozen_layers=5)
    conds = train.Condition.create([0.0, 60.0], [10.0, 5.0], 20.0, 0.5, [5.0, 10.0], 1e-3)
    keys = jax.random.split(jax.random.key(1), 2)
    backbone = alexnet.init_params(jax.random.key(0))
    plain = train.train_conditions(keys, conds, backbone, config=config)
    sharded = train.train_conditions(keys, conds, backbone, config=config, mesh=train.condition_mesh())
    for name in ("accuracy", "accuracy_sym", "layer_change", "separation_accuracy", "train_loss"):
        np.testing.assert_allclose(getattr(sharded, name), getattr(plain, name), rtol=1e-5, atol=1e-7)
    for a, b in zip(jax.tree.leaves(sharded.final_params), jax.tree.leaves(plain.final_params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    assert np.all(plain.layer_change[:, -1, 5, 0] > 0)
    print("SHARDED-OK")
    """
)


def test_sharded_equals_unsharded_on_two_host_devices():
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SHARDED], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SHARDED-OK" in proc.stdout


# --------------------------------------------------------------------------------------------
# Errors where the mistake is made, and the progress bar


def test_init_state_and_every_params_function_name_the_missing_readout(backbone):
    config = _config()
    cond = train.Condition.create(0.0, 10.0, 20.0, 0.5, 5.0)
    with pytest.raises(ValueError, match=r"params has no 'readout' layer.*siamese\.init_model"):
        train.init_state(cond, backbone, config=config)
    # under vmap the check runs at trace time, before any KeyError deep in tracing
    conds = _conditions()
    with pytest.raises(ValueError, match="no 'readout' layer"):
        jax.vmap(lambda c: train.init_state(c, backbone, config=config))(conds)
    model = siamese.init_model(backbone, config.arch, SIZE)
    state = train.init_state(cond, model, config=config)  # the right call works
    assert int(state.step) == 0
    with pytest.raises(ValueError, match="state.params has no 'readout'"):
        train.train_step(state._replace(params=backbone), None, condition=cond, config=config)
    triplets = train.make_templates(cond, config=config)["test"]
    with pytest.raises(ValueError, match="params has no 'readout'"):
        train.accuracies(jax.random.key(0), cond, backbone, triplets, config=config)
    with pytest.raises(ValueError, match="initial has no 'readout'"):
        train.layer_change(model, backbone, layer_names=config.layer_names)
    no_conv3 = {k: v for k, v in backbone.items() if k != "conv3"}
    with pytest.raises(ValueError, match="backbone has no 'conv3' layer"):
        train.train_conditions(
            jax.random.split(jax.random.key(0), 2), conds, no_conv3, config=config
        )


def test_train_under_vmap_or_jit_points_to_train_conditions(backbone):
    config = _config()
    conds = _conditions()
    keys = jax.random.split(jax.random.key(1), 2)
    one = functools.partial(train.train, backbone=backbone, config=config, progress=False)
    for transform in (jax.vmap, jax.jit):
        with pytest.raises(ValueError, match=r"JAX transformation.*train\.train_conditions"):
            transform(one)(keys, conds)
    with pytest.raises(ValueError, match="train.train_conditions was called under"):
        jax.jit(lambda k: train.train_conditions(k, conds, backbone, config=config))(keys)


def test_progress_bar_by_default_callback_or_off(backbone, capsys):
    config = _config(num_iterations=3, num_eval_points=2, frozen_layers=5)
    conds = _conditions()
    keys = jax.random.split(jax.random.key(1), 2)
    shown = train.train_conditions(keys, conds, backbone, config=config)
    err = capsys.readouterr().err
    assert "training 2 conditions" in err and "3/3" in err, err
    counted = []
    called = train.train_conditions(keys, conds, backbone, config=config, progress=counted.append)
    assert counted == [1] * config.num_iterations
    quiet = train.train_conditions(keys, conds, backbone, config=config, progress=False)
    assert capsys.readouterr().err == ""
    for out in (called, quiet):  # the bar changes nothing in the results
        np.testing.assert_array_equal(out.accuracy, shown.accuracy)
        np.testing.assert_array_equal(out.layer_change, shown.layer_change)
    with pytest.raises(ValueError, match="progress must be"):
        train.train_conditions(keys, conds, backbone, config=config, progress="yes")


def test_size_units_image_draws_the_paper_units_templates_at_converted_sizes():
    from vpl_jax import stimuli

    paper = _config(quantize=False)
    assert paper.size_units == "paper" and paper.scale == SIZE / 227
    image = _config(quantize=False, size_units="image", sigma_px=stimuli.paper_px(50.0, SIZE))
    assert image.scale == 1.0 and image.sigma_image_px == paper.sigma_image_px
    lam = 20.0
    a = train.make_templates(train.Condition.create(30.0, 5.0, lam, 0.5, 5.0), config=paper)
    b = train.make_templates(
        train.Condition.create(30.0, 5.0, stimuli.paper_px(lam, SIZE), 0.5, 5.0), config=image
    )
    for name in ("test", "separation"):
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-3)  # float32 rounding
    # the units are checked and named in the errors
    with pytest.raises(ValueError, match="size_units must be 'paper' or 'image'"):
        _config(size_units="227")
    with pytest.raises(ValueError, match=r"sigma_px must be finite and >= 1 px of the 67-px"):
        _config(size_units="image", sigma_px=0.5)
    with pytest.raises(ValueError, match=r"sigma_px must be finite and >= 3.39 px of the 227-px"):
        _config(sigma_px=3.0)


def test_network_functions_check_the_readout(backbone):
    value_and_grad, logit = train.network(_config())
    x = jnp.zeros((2, SIZE, SIZE, 1))
    with pytest.raises(ValueError, match="params has no 'readout'"):
        logit(backbone, x, x)
    with pytest.raises(ValueError, match="params has no 'readout'"):
        jax.jit(value_and_grad)(backbone, x, x, jnp.zeros(2))
