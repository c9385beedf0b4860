"""Tests for vpl_jax.networks.resnet: converter on real-format files, forward vs references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.networks import resnet

# A narrow ResNet18 (same depth, strides and key names; 8/16/16/16 channels) keeps tests fast.
SMALL = resnet.ResNetSpec(name="resnet18-narrow", widths=(8, 16, 16, 16), num_classes=5)


def _random_state_dict(spec, seed=0):
    """A torchvision-style state_dict (OIHW) with non-trivial BatchNorm running statistics."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in resnet.torchvision_shapes(spec).items():
        if key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        elif key.endswith("running_mean") or key.endswith(".bias"):
            state[key] = rng.normal(0.0, 0.2, shape).astype(np.float32)
        elif len(shape) == 1:  # BN weight
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            fan_in = int(np.prod(shape[1:]))
            state[key] = (rng.normal(0.0, 1.0, shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    for key in list(state):
        if key.endswith("running_mean"):
            state[key.replace("running_mean", "num_batches_tracked")] = np.array(7, np.int64)
    return state


# ---- an independent NumPy forward (NCHW, OIHW, im2col), written from the torchvision code ----


def _np_conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    cols = np.empty((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return np.einsum("ncijhw,ocij->nohw", cols, w, optimize=True)


def _np_bn(x, s, prefix, eps=1e-5):
    g, b = s[f"{prefix}.weight"], s[f"{prefix}.bias"]
    m, v = s[f"{prefix}.running_mean"], s[f"{prefix}.running_var"]
    return (x - m[:, None, None]) / np.sqrt(v[:, None, None] + eps) * g[:, None, None] + b[
        :, None, None
    ]


def _np_maxpool(x):
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    oh, ow = (x.shape[2] + 2 - 3) // 2 + 1, (x.shape[3] + 2 - 3) // 2 + 1
    return np.max(
        [xp[:, :, i : i + 2 * oh : 2, j : j + 2 * ow : 2] for i in range(3) for j in range(3)],
        axis=0,
    )


def _np_resnet(s, x_nchw, spec):
    relu = lambda a: np.maximum(a, 0.0)
    out = {}
    x = relu(_np_bn(_np_conv(x_nchw, s["conv1.weight"], 2, 3), s, "bn1"))
    x = _np_maxpool(x)
    for name in resnet.block_names(spec):
        stride = (
            2 if (name.startswith(("layer2", "layer3", "layer4")) and name.endswith(".0")) else 1
        )
        y = relu(_np_bn(_np_conv(x, s[f"{name}.conv1.weight"], stride, 1), s, f"{name}.bn1"))
        y = _np_bn(_np_conv(y, s[f"{name}.conv2.weight"], 1, 1), s, f"{name}.bn2")
        if f"{name}.downsample.0.weight" in s:
            x = _np_bn(
                _np_conv(x, s[f"{name}.downsample.0.weight"], stride, 0), s, f"{name}.downsample.1"
            )
        x = relu(y + x)
        out[name] = x
    pooled = x.mean(axis=(2, 3))
    out["fc"] = pooled @ s["fc.weight"].T + s["fc.bias"]
    return out


def _images(n=2, size=64, seed=1):
    return np.random.default_rng(seed).normal(0, 1, (n, size, size, 3)).astype(np.float32)


def test_converted_safetensors_file_matches_an_independent_numpy_forward(tmp_path):
    from safetensors.numpy import save_file

    state = _random_state_dict(SMALL)
    path = tmp_path / "resnet18.safetensors"
    save_file(state, str(path))
    params = resnet.from_torchvision(path, SMALL)
    x = _images()
    got = resnet.features(params, jnp.asarray(x), SMALL, layers=(*resnet.block_names(SMALL), "fc"))
    ref = _np_resnet(
        {k: v.astype(np.float64) for k, v in state.items()},
        x.transpose(0, 3, 1, 2).astype(np.float64),
        SMALL,
    )
    assert list(got) == [*resnet.block_names(SMALL), "fc"]
    for name, r in ref.items():
        g = np.asarray(got[name])
        g = g.transpose(0, 3, 1, 2) if g.ndim == 4 else g
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4 * np.abs(r).max(), err_msg=name)


def _torch_resnet(torch, spec):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.downsample = None
            if stride != 1 or c_in != c_out:
                self.downsample = nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
                )

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            w = spec.widths
            self.conv1 = nn.Conv2d(3, w[0], 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(w[0])
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            c = w[0]
            for s, width in enumerate(w):
                blocks = []
                for b in range(spec.blocks[s]):
                    blocks.append(Block(c, width, 2 if (s > 0 and b == 0) else 1))
                    c = width
                setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
            self.fc = nn.Linear(c, spec.num_classes)

        def forward(self, x):
            out = {}
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            for s in range(len(spec.widths)):
                for b, block in enumerate(getattr(self, f"layer{s + 1}")):
                    x = block(x)
                    out[f"layer{s + 1}.{b}"] = x
            out["fc"] = self.fc(x.mean(dim=(2, 3)))
            return out

    return Net()


def test_converted_pth_file_matches_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    net = _torch_resnet(torch, SMALL)
    state = {k: torch.from_numpy(v) for k, v in _random_state_dict(SMALL, seed=3).items()}
    net.load_state_dict(state)
    net.eval()
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(net.state_dict(), path)
    params = resnet.from_torchvision(path, SMALL)
    x = _images(seed=4)
    with torch.no_grad():
        ref = {k: v.numpy() for k, v in net(torch.from_numpy(x.transpose(0, 3, 1, 2))).items()}
    got = resnet.features(params, jnp.asarray(x), SMALL, layers=(*resnet.block_names(SMALL), "fc"))
    for name, r in ref.items():
        g = np.asarray(got[name])
        g = g.transpose(0, 3, 1, 2) if g.ndim == 4 else g
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4 * np.abs(r).max(), err_msg=name)
    # the in-memory state_dict of tensors converts identically
    again = resnet.from_torchvision(net.state_dict(), SMALL)
    jax.tree.map(np.testing.assert_array_equal, params, again)


def test_full_resnet18_layout_matches_torchvision_key_list():
    shapes = resnet.torchvision_shapes()
    convs = [k for k, s in shapes.items() if len(s) == 4]
    assert len(convs) == 20  # 1 stem + 8 blocks x 2 + 3 downsample
    assert shapes["conv1.weight"] == (64, 3, 7, 7)
    assert shapes["layer4.1.conv2.weight"] == (512, 512, 3, 3)
    assert shapes["fc.weight"] == (1000, 512)
    n_params = sum(int(np.prod(s)) for k, s in shapes.items() if "running" not in k)
    assert n_params == 11_689_512  # torchvision's resnet18 parameter count
    out = jax.eval_shape(
        lambda p, x: resnet.features(p, x, layers=resnet.output_keys()),
        jax.eval_shape(lambda: resnet.init_params(jax.random.key(0))),
        jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32),
    )
    assert out["layer1.1"].shape == (1, 56, 56, 64)
    assert out["layer2.0"].shape == (1, 28, 28, 128)
    assert out["layer4.1"].shape == (1, 7, 7, 512)
    assert out["fc"].shape == (1, 1000)


def test_init_follows_torchvision_defaults(key):
    p = resnet.init_params(key, SMALL)
    w = np.asarray(p["layer2.0"]["conv2"]["w"])
    assert w.std() == pytest.approx(np.sqrt(2.0 / (9 * 16)), rel=0.06)  # Kaiming, fan_out
    np.testing.assert_array_equal(np.asarray(p["bn1"]["var"]), 1.0)
    np.testing.assert_array_equal(np.asarray(p["layer1.0"]["bn2"]["mean"]), 0.0)
    bound = 1 / np.sqrt(16)
    fc = np.asarray(p["fc"]["w"])
    assert np.abs(fc).max() <= bound and np.abs(fc).max() > 0.8 * bound
    other = resnet.init_params(jax.random.key(1), SMALL)
    assert not np.allclose(np.asarray(other["conv1"]["w"]), np.asarray(p["conv1"]["w"]))


def test_only_requested_layers_are_returned_and_agree_with_the_full_pass(key):
    p = resnet.init_params(key, SMALL)
    x = jnp.asarray(_images(n=1))
    full = resnet.features(p, x, SMALL, layers=resnet.output_keys(SMALL))
    early = resnet.features(p, x, SMALL, layers=("layer2.1", "conv1"))
    assert list(early) == ["layer2.1", "conv1"]
    np.testing.assert_array_equal(np.asarray(early["layer2.1"]), np.asarray(full["layer2.1"]))
    np.testing.assert_allclose(
        np.asarray(full["avgpool"]), np.asarray(full["layer4.1"]).mean(axis=(1, 2)), rtol=1e-6
    )


def test_converter_errors_name_the_key_and_shapes(tmp_path):
    from safetensors.numpy import save_file

    state = _random_state_dict(SMALL)
    bad = dict(state)
    bad["layer3.0.conv1.weight"] = np.zeros((16, 8, 3, 3), np.float32)
    with pytest.raises(
        resnet.ResNetWeightsError,
        match=r"'layer3\.0\.conv1\.weight' has shape \(16, 8, 3, 3\), expected \(16, 16, 3, 3\)",
    ):
        resnet.from_torchvision(bad, SMALL)
    missing = {k: v for k, v in state.items() if k != "layer2.0.downsample.1.running_var"}
    with pytest.raises(
        resnet.ResNetWeightsError, match=r"missing 'layer2\.0\.downsample\.1\.running_var'"
    ):
        resnet.from_torchvision(missing, SMALL)
    nan = dict(state)
    nan["fc.bias"] = np.full((5,), np.nan, np.float32)
    with pytest.raises(resnet.ResNetWeightsError, match=r"'fc\.bias' is not finite"):
        resnet.from_torchvision(nan, SMALL)
    prefixed = {f"module.{k}": v for k, v in state.items()}
    jax.tree.map(
        np.testing.assert_array_equal,
        resnet.from_torchvision({"state_dict": prefixed}, SMALL),
        resnet.from_torchvision(state, SMALL),
    )
    path = tmp_path / "w.safetensors"
    save_file(state, str(path))
    blob = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(resnet.ResNetWeightsError, match=r"cut\.safetensors: cannot read|truncated"):
        resnet.from_torchvision(tmp_path / "cut.safetensors", SMALL)
    (tmp_path / "x.bin").write_bytes(b"hello world, not weights")
    with pytest.raises(resnet.ResNetWeightsError, match=r"neither a PyTorch"):
        resnet.from_torchvision(tmp_path / "x.bin", SMALL)
    with pytest.raises(resnet.ResNetWeightsError, match=r"no such file"):
        resnet.from_torchvision(tmp_path / "absent.pth", SMALL)


def test_pth_without_torch_says_how_to_proceed(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("no torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    (tmp_path / "w.pth").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(resnet.ResNetWeightsError, match=r"needs PyTorch"):
        resnet.from_torchvision(tmp_path / "w.pth", SMALL)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: resnet.features(p, jnp.zeros((1, 64, 64)), SMALL), r"rank 4"),
        (lambda p: resnet.features(p, jnp.zeros((1, 64, 64, 1)), SMALL), r"3 channels"),
        (lambda p: resnet.features(p, jnp.zeros((1, 16, 16, 3)), SMALL), r"at least 32 x 32"),
        (lambda p: resnet.features(p, jnp.zeros((1, 64, 64, 3), jnp.int32), SMALL), r"floating"),
        (
            lambda p: resnet.features(p, jnp.zeros((1, 64, 64, 3)), SMALL, ("pool5",)),
            r"layers must",
        ),
        (
            lambda p: resnet.features({"conv1": p["conv1"]}, jnp.zeros((1, 64, 64, 3)), SMALL),
            r"missing 'bn1'",
        ),
        (lambda p: resnet.ResNetSpec(widths=(8, 16), blocks=(2,)), r"equal length"),
    ],
)
def test_bad_input_raises_input_error(key, call, match):
    p = resnet.init_params(key, SMALL)
    with pytest.raises(InputError, match=match):
        call(p)


def test_second_call_does_not_recompile(key):
    p = resnet.init_params(key, SMALL)
    x = jnp.zeros((1, 32, 32, 3))
    resnet.features(p, x, SMALL)
    with jax.log_compiles():
        import logging

        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("jax").addHandler(handler)
        try:
            resnet.features(p, x + 1.0, SMALL)
        finally:
            logging.getLogger("jax").removeHandler(handler)
    assert not [
        r for r in records if "Compiling" in r.getMessage() and "_features" in r.getMessage()
    ]
