"""Tests for vpl_jax.alexnet: features() against an independent NumPy reference, errors, jit."""

import dataclasses
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vpl_jax import alexnet
from vpl_jax.alexnet import CAFFE_ALEXNET, TORCHVISION_ALEXNET

# --------------------------------------------------------------------------------------------
# Independent NumPy reference (float64): convolution as a sum over kernel offsets of
# strided-slice matrix products, Caffe LRN as an explicit loop over channels, max-pooling as a
# loop over output positions.
# --------------------------------------------------------------------------------------------


def _np_conv(x, w, b, stride, padding, groups):
    """x (N, H, W, C), w (kh, kw, C // groups, O) -> (N, h, w, O), cross-correlation."""
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    assert cg * groups == c
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    og = o // groups
    out = np.zeros((n, ho, wo, o))
    for g in range(groups):
        xg = xp[..., g * cg : (g + 1) * cg]
        wg = w[..., g * og : (g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xg[
                    :,
                    i : i + stride * (ho - 1) + 1 : stride,
                    j : j + stride * (wo - 1) + 1 : stride,
                ]
                out[..., g * og : (g + 1) * og] += patch @ wg[i, j]
    return out + b


def _np_lrn(a, size, alpha, beta, k):
    half = (size - 1) // 2
    c = a.shape[-1]
    out = np.empty_like(a)
    for ch in range(c):
        lo, hi = max(0, ch - half), min(c, ch + half + 1)
        scale = k + alpha / size * np.sum(a[..., lo:hi] ** 2, axis=-1)
        out[..., ch] = a[..., ch] / scale**beta
    return out


def _np_pool(x, window, stride):
    n, h, w, c = x.shape
    ho, wo = (h - window) // stride + 1, (w - window) // stride + 1
    out = np.empty((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            block = x[:, i * stride : i * stride + window, j * stride : j * stride + window]
            out[:, i, j] = block.max(axis=(1, 2))
    return out


def _np_features(params, images, arch):
    out = {}
    x = np.asarray(images, np.float64)
    for i, conv in enumerate(arch.convs, start=1):
        w = np.asarray(params[conv.name]["w"], np.float64)
        b = np.asarray(params[conv.name]["b"], np.float64)
        x = np.maximum(_np_conv(x, w, b, conv.stride, conv.padding, conv.groups), 0.0)
        out[conv.name] = x
        if conv.lrn:
            x = _np_lrn(x, arch.lrn_size, arch.lrn_alpha, arch.lrn_beta, arch.lrn_k)
            out[f"norm{i}"] = x
        if conv.pool:
            x = _np_pool(x, arch.pool_window, arch.pool_stride)
            out[f"pool{i}"] = x
    return out


def _random_params(seed, arch, dtype=np.float32):
    """He-scaled weights plus non-zero biases (so the bias path is tested too).

    Drawn with NumPy: every distinct ``jax.random`` shape costs a compilation (~0.5 s here).
    """
    rng = np.random.default_rng(seed)
    params = {}
    for name, shapes in alexnet.param_shapes(arch).items():
        kh, kw, c_in, _ = shapes["w"]
        w = rng.normal(size=shapes["w"]) * np.sqrt(2.0 / (kh * kw * c_in))
        b = 2.0 * rng.normal(size=shapes["b"])
        params[name] = {"w": jnp.asarray(w, dtype), "b": jnp.asarray(b, dtype)}
    return params


def _images(seed, shape, dtype=np.float32):
    # Network units: contrast * (I - 125) + noise spans tens of units, so LRN really normalises.
    return jnp.asarray(60.0 * np.random.default_rng(seed).normal(size=shape), dtype)


@pytest.fixture(scope="module")
def caffe_params():
    return _random_params(0, CAFFE_ALEXNET)


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "shape"),
    [
        (CAFFE_ALEXNET, (2, 67, 67, 1)),
        (CAFFE_ALEXNET, (1, 71, 83, 1)),  # non-square, pools not exact
        (TORCHVISION_ALEXNET, (2, 63, 63, 3)),
    ],
)
def test_features_match_numpy_reference(arch, shape):
    params = _random_params(1, arch)
    images = _images(2, shape)
    got = alexnet.features(params, images, arch)
    want = _np_features(params, images, arch)
    assert set(got) == set(arch.output_keys) == set(want)
    expected_shapes = alexnet.layer_shapes(arch, shape[1], shape[2])
    for name in arch.output_keys:
        assert got[name].shape == (shape[0], *expected_shapes[name]), name
        assert got[name].dtype == jnp.float32
        scale = np.max(np.abs(want[name]))
        assert scale > 1.0, name  # a live layer, not a trivially-zero comparison
        np.testing.assert_allclose(
            got[name], want[name], rtol=1e-5, atol=1e-5 * scale, err_msg=name
        )


def test_features_float64_match_reference_tightly():
    with jax.enable_x64(True):
        params = _random_params(3, CAFFE_ALEXNET, np.float64)
        images = _images(4, (1, 67, 67, 1), np.float64)
        got = alexnet.features(params, images)
        want = _np_features(params, images, CAFFE_ALEXNET)
        for name in CAFFE_ALEXNET.output_keys:
            assert got[name].dtype == jnp.float64
            np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-10, err_msg=name)


def test_lrn_is_caffe_formula_and_actually_normalises():
    a = np.abs(np.random.default_rng(0).normal(size=(2, 3, 3, 11))) * 100.0
    got = alexnet.lrn(jnp.asarray(a), size=5, alpha=1e-2, beta=0.75, k=2.0)
    want = _np_lrn(a, 5, 1e-2, 0.75, 2.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
    assert np.max(np.abs(want / a - 1.0)) > 0.5  # the test would notice a missing LRN
    # edge channels see a zero-padded window: channel 0 sums channels 0..2 only
    scale0 = 2.0 + 1e-2 / 5 * np.sum(a[..., :3] ** 2, axis=-1)
    np.testing.assert_allclose(got[..., 0], a[..., 0] / scale0**0.75, rtol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        alexnet.lrn(jnp.asarray(a), size=4)


def test_grouped_conv_is_block_diagonal(caffe_params):
    """Group g of conv2 sees only input channels of group g (Caffe/PyTorch convention)."""
    conv = CAFFE_ALEXNET.convs[1]
    x = np.random.default_rng(5).normal(size=(1, 9, 9, 96)).astype(np.float32)
    x[..., 48:] = 0.0
    w, b = caffe_params["conv2"]["w"], np.asarray(caffe_params["conv2"]["b"])
    y = np.asarray(alexnet.conv_layer(jnp.asarray(x), w, jnp.asarray(b), conv))
    np.testing.assert_allclose(
        y[..., 128:], np.broadcast_to(b[128:], y[..., 128:].shape), atol=1e-6
    )
    assert np.max(np.abs(y[..., :128] - b[:128])) > 1.0


def test_canonical_shapes_and_any_batch_size(caffe_params):
    out = jax.eval_shape(
        alexnet.features, caffe_params, jax.ShapeDtypeStruct((40, 227, 227, 1), jnp.float32)
    )
    assert {k: v.shape for k, v in out.items()} == {
        k: (40, *s) for k, s in alexnet.layer_shapes(CAFFE_ALEXNET, 227).items()
    }
    assert out["pool5"].shape == (40, 6, 6, 256)
    assert out["conv1"].shape == (40, 55, 55, 96)
    x = _images(6, (3, 67, 67, 1))
    batched = alexnet.features(caffe_params, x)
    for i in range(3):
        one = alexnet.features(caffe_params, x[i : i + 1])
        scale = np.max(np.abs(batched["pool5"]))
        np.testing.assert_allclose(
            one["pool5"], batched["pool5"][i : i + 1], rtol=1e-5, atol=1e-6 * scale
        )


def test_vmap_over_params_equals_loop():
    """Several networks (a condition axis C) at once, as the trainer will do."""
    per_c = [_random_params(10 + c, CAFFE_ALEXNET) for c in range(3)]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *per_c)
    x = _images(7, (2, 67, 67, 1))
    batched = jax.vmap(lambda p: alexnet.features(p, x)["pool5"])(stacked)
    for c in range(3):
        want = alexnet.features(per_c[c], x)["pool5"]
        np.testing.assert_allclose(batched[c], want, rtol=1e-5, atol=1e-6 * np.max(np.abs(want)))


def test_init_params_shapes_and_gradients_flow_through_every_layer(key):
    params = alexnet.init_params(key, CAFFE_ALEXNET)
    assert jax.tree.map(jnp.shape, params) == alexnet.param_shapes(CAFFE_ALEXNET)
    w3 = np.asarray(params["conv3"]["w"])
    np.testing.assert_allclose(w3.std(), np.sqrt(2.0 / (3 * 3 * 256)), rtol=0.01)
    assert abs(np.corrcoef(w3.ravel()[:-1], w3.ravel()[1:])[0, 1]) < 0.01
    x = _images(8, (2, 67, 67, 1))
    grads = jax.jit(jax.grad(lambda p: jnp.sum(alexnet.features(p, x)["pool5"])))(params)
    for name in CAFFE_ALEXNET.layer_names:
        assert np.all(np.isfinite(grads[name]["w"])) and np.any(grads[name]["w"] != 0), name


def test_min_input_size():
    assert alexnet.min_input_size(CAFFE_ALEXNET) == 67
    assert alexnet.min_input_size(TORCHVISION_ALEXNET) == 63
    assert alexnet.layer_shapes(CAFFE_ALEXNET, 67)["pool5"] == (1, 1, 256)
    with pytest.raises(ValueError, match="too small"):
        alexnet.layer_shapes(CAFFE_ALEXNET, 66, 67)
    with pytest.raises(ValueError, match="too small"):
        alexnet.layer_shapes(TORCHVISION_ALEXNET, 62)


class _CompileLog(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _compiles_of_features(fn):
    handler = _CompileLog()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            fn()
    finally:
        logger.removeHandler(handler)
    return [m for m in handler.messages if "Compiling jit(_features)" in m]


def test_no_recompilation_on_second_call(caffe_params):
    x = jnp.zeros((2, 67, 67, 1))
    run = lambda images: alexnet.features(caffe_params, images)["pool5"].block_until_ready()
    run(x)
    assert _compiles_of_features(lambda: run(x + 1.0)) == []
    # a new shape does compile, so the check above can fail
    assert len(_compiles_of_features(lambda: run(jnp.zeros((4, 68, 68, 1))))) == 1


def test_disable_jit_smoke(caffe_params):
    x = _images(9, (1, 67, 67, 1))
    with jax.disable_jit():
        eager = alexnet.features(caffe_params, x)["pool5"]
    want = alexnet.features(caffe_params, x)["pool5"]
    np.testing.assert_allclose(eager, want, rtol=1e-5, atol=1e-6 * np.max(np.abs(want)))


# ----------------------------------------------------------------------------- error paths


def test_error_too_small_input(caffe_params):
    with pytest.raises(ValueError, match=r"66x66 px is too small.*smallest input is 67x67"):
        alexnet.features(caffe_params, jnp.zeros((1, 66, 66, 1)))


def test_error_wrong_channel_count(caffe_params):
    with pytest.raises(ValueError, match=r"takes 1 input channel\(s\) \(NHWC\), got 3"):
        alexnet.features(caffe_params, jnp.zeros((1, 227, 227, 3)))


def test_error_wrong_rank(caffe_params):
    with pytest.raises(ValueError, match=r"rank 4 \(N, H, W, C=1\), got images.shape=\(227, 227\)"):
        alexnet.features(caffe_params, jnp.zeros((227, 227)))


def test_error_integer_images(caffe_params):
    with pytest.raises(TypeError, match="floating images"):
        alexnet.features(caffe_params, jnp.zeros((1, 67, 67, 1), jnp.uint8))


def test_error_wrong_param_shape(caffe_params):
    bad = dict(caffe_params)
    bad["conv2"] = {"w": jnp.zeros((5, 5, 96, 256)), "b": jnp.zeros(256)}  # ungrouped kernel
    with pytest.raises(
        ValueError,
        match=r"params\['conv2'\]\['w'\] has shape \(5, 5, 96, 256\), expected \(5, 5, 48, 256\)",
    ):
        alexnet.features(bad, jnp.zeros((1, 67, 67, 1)))


def test_error_missing_layer(caffe_params):
    bad = {k: v for k, v in caffe_params.items() if k != "conv4"}
    with pytest.raises(ValueError, match="missing layer 'conv4'"):
        alexnet.features(bad, jnp.zeros((1, 67, 67, 1)))


def test_error_wrong_architecture_params():
    tv = _random_params(0, TORCHVISION_ALEXNET)
    with pytest.raises(ValueError, match=r"params\['conv1'\]\['w'\] has shape \(11, 11, 3, 64\)"):
        alexnet.features(tv, jnp.zeros((1, 67, 67, 1)), CAFFE_ALEXNET)


def test_extra_param_keys_are_ignored(caffe_params):
    params = dict(caffe_params, readout={"w": jnp.zeros(9216), "b": jnp.zeros(())})
    assert alexnet.features(params, jnp.zeros((1, 67, 67, 1)))["pool5"].shape == (1, 1, 1, 256)


def test_arch_spec_validation():
    with pytest.raises(ValueError, match="lrn_size must be a positive odd"):
        dataclasses.replace(CAFFE_ALEXNET, lrn_size=4)
    with pytest.raises(ValueError, match="pool_window"):
        dataclasses.replace(CAFFE_ALEXNET, pool_window=0)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding"),
    [((2, 14, 14, 1), (5, 5, 1, 4), 3, 0), ((1, 9, 9, 3), (3, 3, 3, 5), 1, 1)],
)
def test_conv_custom_derivatives_match_xla_convolution(x_shape, w_shape, stride, padding):
    """The im2col kernel tangent of the few-channel convolution is exact: gradients, forward-mode
    derivatives and second derivatives equal those of XLA's plain convolution."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(11)
        x = jnp.asarray(rng.normal(size=x_shape))
        w = jnp.asarray(rng.normal(size=w_shape))
        pad = ((padding, padding), (padding, padding))

        def ref(x, w):
            return jax.lax.conv_general_dilated(
                x, w, (stride, stride), pad, dimension_numbers=("NHWC", "HWIO", "NHWC")
            )

        def ours(x, w):
            return alexnet._conv_few_channels(x, w, stride, padding)

        g = jnp.asarray(rng.normal(size=ref(x, w).shape))

        def derivatives(conv):
            """Everything the library relies on, in one jitted program per implementation."""
            loss = lambda x, w: jnp.sum(conv(x, w) * g) + jnp.sum(conv(x, w) ** 3)
            return {
                "value": conv(x, w),
                "grad": jax.grad(loss, argnums=(0, 1))(x, w),
                "jacfwd_w": jax.jacfwd(lambda w: conv(x, w))(w),
                "jacfwd_x": jax.jacfwd(lambda x: conv(x, w))(x),
                "second": jax.grad(lambda w: jnp.sum(jax.grad(loss)(x, w) ** 2))(w),
            }

        got = jax.jit(lambda: derivatives(ours))()
        want = jax.jit(lambda: derivatives(ref))()
        np.testing.assert_allclose(
            alexnet._conv2d_im2col(x, w, stride, padding), ref(x, w), rtol=1e-10, atol=1e-10
        )
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9), got, want)
        assert np.max(np.abs(want["second"])) > 1.0


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding"),
    [
        ((2, 9, 9, 16), (3, 3, 16, 5), 1, ((1, 1), (1, 1))),
        ((2, 11, 10, 16), (5, 5, 16, 4), 1, ((2, 2), (0, 1))),
        ((1, 12, 13, 16), (3, 3, 16, 3), 2, ((1, 0), (1, 1))),  # stride 2, floor remainder
        ((1, 23, 23, 16), (11, 11, 16, 2), 4, ((0, 0), (0, 0))),
    ],
)
def test_forward_conv_gradients_equal_xla(x_shape, w_shape, stride, padding):
    """The custom_vjp convolution (both gradients as forward convolutions) has the value and the
    input and kernel gradients of jax.grad of lax.conv_general_dilated (float64, 1e-10)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(12)
        x = jnp.asarray(rng.normal(size=x_shape))
        w = jnp.asarray(rng.normal(size=w_shape))

        def ref(x, w):
            return jax.lax.conv_general_dilated(
                x, w, (stride, stride), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
            )

        def ours(x, w):
            return alexnet._conv_forward_grads(x, w, stride, padding)

        g = jnp.asarray(rng.normal(size=ref(x, w).shape))

        def grads(conv):
            loss = lambda x, w: jnp.sum(conv(x, w) * g) + jnp.sum(jnp.sin(conv(x, w)))
            return conv(x, w), jax.grad(loss, argnums=(0, 1))(x, w)

        got, want = jax.jit(lambda: grads(ours))(), jax.jit(lambda: grads(ref))()
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10), got, want
        )
        assert float(jnp.max(jnp.abs(want[1][1]))) > 1.0


def test_forward_conv_gradients_in_the_training_loss():
    """The siamese loss and its gradient with conv_gradient="forward" equal XLA's (float32), on a
    narrow Caffe-like stack (groups, LRN, pools; >= 16 input channels per group, so every layer
    takes the forward-convolution gradients) that compiles in seconds."""
    from vpl_jax import siamese

    narrow = dataclasses.replace(
        CAFFE_ALEXNET,
        name="narrow",
        in_channels=16,
        convs=tuple(dataclasses.replace(c, out_channels=32) for c in CAFFE_ALEXNET.convs),
    )
    arch = dataclasses.replace(narrow, conv_gradient="forward")
    params = siamese.init_model(_random_params(13, narrow), narrow, 67)
    params["readout"] = jax.tree.map(lambda a: a + 0.01, params["readout"])
    ref, tgt = _images(14, (4, 67, 67, 16)), _images(15, (4, 67, 67, 16))
    labels = jnp.array([0.0, 1.0, 1.0, 0.0])
    step = jax.jit(jax.value_and_grad(siamese.loss), static_argnums=4)
    got, want = step(params, ref, tgt, labels, arch), step(params, ref, tgt, labels, narrow)
    assert float(jnp.max(jnp.abs(want[1]["conv1"]["w"]))) > 0  # gradients reach conv1
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(b))))
    with pytest.raises(ValueError, match="conv_gradient"):
        dataclasses.replace(CAFFE_ALEXNET, conv_gradient="im2col")


def test_max_pool_derivatives_equal_reduce_window_with_ties():
    """The written-out max-pool tangent and its transpose give exactly lax.reduce_window's
    value, jvp and gradient (the first maximum of each window), ties and overlaps included."""
    rng = np.random.default_rng(16)
    x = jnp.asarray(rng.integers(0, 4, size=(2, 9, 11, 3)), jnp.float32)  # many ties
    t = jnp.asarray(rng.normal(size=x.shape), jnp.float32)

    def ref(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")

    def ours(x):
        return alexnet.max_pool(x, 3, 2)

    g = jnp.asarray(rng.normal(size=ref(x).shape), jnp.float32)
    for f in (ours, ref):
        assert f(x).shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(ours(x), ref(x))
    np.testing.assert_array_equal(jax.jvp(ours, (x,), (t,))[1], jax.jvp(ref, (x,), (t,))[1])
    grad_ours = jax.vjp(ours, x)[1](g)[0]
    np.testing.assert_array_equal(grad_ours, jax.vjp(ref, x)[1](g)[0])
    assert float(jnp.sum(grad_ours != 0)) > 10  # the gradient reaches many inputs
    np.testing.assert_allclose(jnp.sum(grad_ours), jnp.sum(g), rtol=1e-5)  # one winner each


@pytest.mark.parametrize(("beta", "k"), [(0.75, 1.0), (0.6, 2.0)])
def test_lrn_jvp_equals_jax_jvp_of_lrn(beta, k):
    """The written-out LRN tangent (both the beta = 3/4 fast path and the general power), also
    with one tangent broadcast over the batch."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(np.abs(rng.normal(size=(3, 4, 4, 96))) * 40, jnp.float32)
    da = jnp.asarray(rng.normal(size=(3, 4, 4, 96)), jnp.float32)
    for tangent in (da, da[:1]):
        want = jax.jvp(
            lambda x: alexnet.lrn(x, 5, 1e-4, beta, k), (a,), (jnp.broadcast_to(tangent, a.shape),)
        )
        got = alexnet.lrn_jvp(a, tangent, 5, 1e-4, beta, k)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        np.testing.assert_allclose(
            got[1], want[1], rtol=1e-5, atol=1e-6 * float(jnp.abs(want[1]).max())
        )
