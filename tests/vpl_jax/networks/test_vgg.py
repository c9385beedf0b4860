"""Tests for vpl_jax.networks.vgg: configs, read-outs, and the torchvision converter.

The converter is tested on files written here in their real formats (``.safetensors`` with the
safetensors package, ``.pth`` with ``torch.save`` when PyTorch is installed), holding
state_dicts with torchvision's keys, and compared with an independent forward pass on the same
file: a float64 NumPy implementation (im2col) that reads the OIHW arrays itself, and PyTorch's own
layers when PyTorch is installed.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax.networks import vgg
from vpl_jax.networks.vgg import VGGWeightsError

# ---------------------------------------------------------------------------------------------
# Helpers: a torchvision-layout state_dict and an independent NumPy forward pass
# ---------------------------------------------------------------------------------------------


def _state_dict(arch: vgg.VGGSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Random torchvision-layout weights (OIHW), He-scaled, with non-trivial BatchNorm stats."""
    rng = np.random.default_rng(seed)
    state, index = {}, 0
    c_in = arch.in_channels
    for item in arch.config:
        if item == "M":
            index += 1
            continue
        c_out = int(item)
        std = np.sqrt(2.0 / (9 * c_in))
        state[f"features.{index}.weight"] = (rng.standard_normal((c_out, c_in, 3, 3)) * std).astype(
            np.float32
        )
        state[f"features.{index}.bias"] = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
        if arch.batch_norm:
            bn = f"features.{index + 1}"
            state[f"{bn}.weight"] = rng.uniform(0.5, 1.5, c_out).astype(np.float32)
            state[f"{bn}.bias"] = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
            state[f"{bn}.running_mean"] = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
            state[f"{bn}.running_var"] = rng.uniform(0.5, 2.0, c_out).astype(np.float32)
            state[f"{bn}.num_batches_tracked"] = np.array(100, np.int64)
            index += 3
        else:
            index += 2
        c_in = c_out
    state["classifier.0.weight"] = np.zeros((4, 8), np.float32)  # ignored by the converter
    return state


def _np_conv_same(x: np.ndarray, w_oihw: np.ndarray) -> np.ndarray:
    """3x3 SAME cross-correlation, NHWC x OIHW -> NHWC, float64, by explicit shifts."""
    n, h, wd, _ = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, wd, w_oihw.shape[0]))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nhwc,oc->nhwo", xp[:, i : i + h, j : j + wd, :], w_oihw[:, :, i, j])
    return out


def _np_forward(state: dict[str, np.ndarray], arch: vgg.VGGSpec, x: np.ndarray) -> dict:
    out, x, block, index, conv_i = {}, x.astype(np.float64), 1, 0, 0
    for item in arch.config:
        if item == "M":
            h, w = x.shape[1] // 2, x.shape[2] // 2
            x = x[:, : 2 * h, : 2 * w].reshape(x.shape[0], h, 2, w, 2, -1).max(axis=(2, 4))
            out[f"pool{block}"] = x
            block, conv_i, index = block + 1, 0, index + 1
            continue
        conv_i += 1
        name = f"conv{block}_{conv_i}"
        y = _np_conv_same(x, state[f"features.{index}.weight"].astype(np.float64))
        out[f"{name}_nobias"] = y
        y = y + state[f"features.{index}.bias"]
        if arch.batch_norm:
            bn = f"features.{index + 1}"
            y = (y - state[f"{bn}.running_mean"]) / np.sqrt(state[f"{bn}.running_var"] + 1e-5)
            y = y * state[f"{bn}.weight"] + state[f"{bn}.bias"]
            index += 3
        else:
            index += 2
        out[f"{name}_pre"] = y
        x = np.maximum(y, 0.0)
        out[name] = x
    return out


def _assert_layers_close(got: dict, ref: dict, keys, rtol: float = 2e-4):
    for key in keys:
        a, b = np.asarray(got[key], np.float64), np.asarray(ref[key], np.float64)
        assert a.shape == b.shape, key
        scale = max(np.max(np.abs(b)), 1e-6)
        assert np.max(np.abs(a - b)) <= rtol * scale, (key, np.max(np.abs(a - b)), scale)


# ---------------------------------------------------------------------------------------------
# Configs and shapes
# ---------------------------------------------------------------------------------------------


def test_configs_match_torchvision_counts():
    # torchvision's features stacks: 8 / 10 / 13 / 16 convolutions, 5 pools.
    for arch, n_conv in ((vgg.VGG11, 8), (vgg.VGG13, 10), (vgg.VGG16, 13), (vgg.VGG19, 16)):
        assert len(arch.layer_names) == n_conv
        assert arch.config.count("M") == 5
    # Parameter counts of torchvision's vgg16().features and vgg19().features.
    count = lambda a: sum(
        np.prod(s) for layer in vgg.param_shapes(a).values() for s in layer.values()
    )
    assert count(vgg.VGG16) == 14_714_688
    assert count(vgg.VGG19) == 20_024_384
    # BatchNorm adds 4 leaves of c_out per conv (2 learned, 2 running statistics).
    assert count(vgg.VGG16_BN) - count(vgg.VGG16) == 4 * (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512)
    assert vgg.VGG16_BN.torchvision_indices["conv2_1"] == 7  # conv, bn, relu, conv, bn, relu, pool
    assert vgg.VGG19.torchvision_indices["conv5_4"] == 34


def test_receptive_fields_match_cadena_table():
    # Cadena et al. (2019) code, RF_SIZES (pixels).
    table = {
        "conv1_1": 3, "conv1_2": 5, "pool1": 6, "conv2_1": 10, "conv2_2": 14, "pool2": 16,
        "conv3_1": 24, "conv3_2": 32, "conv3_3": 40, "conv3_4": 48, "pool3": 52,
        "conv4_1": 68, "conv4_2": 84, "conv4_3": 100, "conv4_4": 116, "pool4": 124,
        "conv5_1": 156, "conv5_2": 188, "conv5_3": 220, "conv5_4": 252, "pool5": 268,
    }  # fmt: skip
    assert vgg.receptive_fields(vgg.VGG19) == table


def test_layer_shapes_for_a_40px_input():
    shapes = vgg.layer_shapes(vgg.VGG19, 40)
    assert shapes["conv3_1_nobias"] == (10, 10, 256)  # the paper's 10 x 10 x 256
    assert 10 * 10 * 256 + 1 == 25_601  # readout parameters per neuron (Table 2)
    assert shapes["pool4"] == (2, 2, 512) and shapes["pool5"] == (1, 1, 512)
    assert "pool5" not in vgg.layer_shapes(vgg.VGG19, 16)  # too small to reach


def test_spec_validation():
    with pytest.raises(InputError, match=r"config entries must be positive ints"):
        vgg.VGGSpec("x", (64, 0))
    with pytest.raises(InputError, match=r"must start with a convolution"):
        vgg.VGGSpec("x", ("M", 64))
    with pytest.raises(InputError, match=r"arch must be one of .*got 'vgg20'"):
        vgg.get_arch("vgg20")


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------

TINY = vgg.VGGSpec("tiny", (4, "M", 6, 6, "M"), batch_norm=True, in_channels=1)


def test_readouts_relations_and_numpy_reference(key):
    state = _state_dict(TINY, seed=1)
    params = vgg.from_torchvision(state, TINY)
    x = np.random.default_rng(2).standard_normal((2, 9, 9, 1)).astype(np.float32)
    out = vgg.features(params, jnp.asarray(x), TINY)
    assert set(out) == set(TINY.output_keys)
    ref = _np_forward(state, TINY, x)
    _assert_layers_close(out, ref, TINY.output_keys, rtol=1e-5)
    assert out["pool2"].shape == (2, 2, 2, 6)  # 9 -> 4 -> 2 (floor)
    # convB_I = ReLU(pre); pre = BN(nobias + b)
    np.testing.assert_allclose(out["conv2_1"], np.maximum(out["conv2_1_pre"], 0), rtol=0, atol=0)


def test_layers_subset_runs_only_as_deep_as_needed(key):
    params = vgg.init_params(key, vgg.VGG19)
    x = jax.random.normal(jax.random.key(1), (1, 32, 32, 3))
    part = vgg.features(params, x, vgg.VGG19, layers=("conv3_1_nobias", "conv1_1"))
    assert set(part) == {"conv3_1_nobias", "conv1_1"}
    full = vgg.features(params, x, vgg.VGG19)
    np.testing.assert_allclose(part["conv3_1_nobias"], full["conv3_1_nobias"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        full["conv3_1_pre"],
        full["conv3_1_nobias"] + params["conv3_1"]["b"].reshape(1, 1, 1, -1),
        rtol=1e-6,
        atol=1e-6,
    )
    # A second call with the same shapes and layers does not recompile.
    before = vgg._features._cache_size()
    vgg.features(params, x + 1.0, vgg.VGG19, layers=("conv3_1_nobias", "conv1_1"))
    assert vgg._features._cache_size() == before


def test_feature_errors(key):
    params = vgg.init_params(key, TINY)
    with pytest.raises(InputError, match=r"images must have rank 4"):
        vgg.features(params, jnp.zeros((9, 9, 1)), TINY)
    with pytest.raises(InputError, match=r"must have 1 channel\(s\) for tiny"):
        vgg.features(params, jnp.zeros((1, 9, 9, 3)), TINY)
    with pytest.raises(InputError, match=r"floating point"):
        vgg.features(params, jnp.zeros((1, 9, 9, 1), jnp.int32), TINY)
    with pytest.raises(InputError, match=r"layers must be keys .*got 'conv9_9'"):
        vgg.features(params, jnp.zeros((1, 9, 9, 1)), TINY, layers=("conv9_9",))
    with pytest.raises(InputError, match=r"layer 'pool2' of tiny is empty for a 3x3 px input"):
        vgg.features(params, jnp.zeros((1, 3, 3, 1)), TINY, layers=("pool2",))
    bad = {**params, "conv1_1": {"w": jnp.zeros((3, 3, 1, 5)), "b": jnp.zeros(4)}}
    with pytest.raises(
        InputError, match=r"params\['conv1_1'\]\['w'\] must have shape \(3, 3, 1, 4\)"
    ):
        vgg.features(bad, jnp.zeros((1, 9, 9, 1)), TINY)


# ---------------------------------------------------------------------------------------------
# The converter on real-format files
# ---------------------------------------------------------------------------------------------


def test_safetensors_vgg19_matches_independent_numpy_forward(tmp_path):
    from safetensors.numpy import load_file, save_file

    state = _state_dict(vgg.VGG19, seed=3)
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    params = vgg.from_torchvision(path, vgg.VGG19)
    x = np.random.default_rng(4).standard_normal((1, 32, 32, 3)).astype(np.float32)
    out = vgg.features(params, jnp.asarray(x), vgg.VGG19)
    ref = _np_forward(load_file(str(path)), vgg.VGG19, x)  # reads the file itself
    _assert_layers_close(out, ref, vgg.VGG19.output_keys)


def _torch_vgg(torch, arch):
    """torchvision's make_layers(cfg, batch_norm) rebuilt with torch.nn (same state_dict keys)."""
    layers, c_in = [], arch.in_channels
    for item in arch.config:
        if item == "M":
            layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(torch.nn.Conv2d(c_in, int(item), kernel_size=3, padding=1))
            if arch.batch_norm:
                layers.append(torch.nn.BatchNorm2d(int(item)))
            layers.append(torch.nn.ReLU(inplace=False))
            c_in = int(item)
    model = torch.nn.Module()
    model.features = torch.nn.Sequential(*layers)
    return model


def test_pth_vgg16_bn_matches_torch_forward(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch (optional extra 'torch') not installed")
    arch = vgg.VGG16_BN
    model = _torch_vgg(torch, arch)
    state = {k: torch.from_numpy(v.copy()) for k, v in _state_dict(arch, seed=5).items()}
    state = {k: v for k, v in state.items() if not k.startswith("classifier")}
    model.load_state_dict(state, strict=True)
    model.eval()
    path = tmp_path / "vgg16_bn.pth"
    torch.save({"state_dict": model.state_dict()}, path)  # a wrapped checkpoint
    params = vgg.from_torchvision(path, arch)
    x = np.random.default_rng(6).standard_normal((2, 32, 32, 3)).astype(np.float32)
    out = vgg.features(params, jnp.asarray(x), arch)
    # The torch forward, layer by layer: record post-ReLU and post-pool outputs.
    ref, h = {}, torch.from_numpy(x.transpose(0, 3, 1, 2))
    names, block, conv_i = iter(arch.layer_names), 1, 0
    with torch.no_grad():
        for module in model.features:
            h = module(h)
            if isinstance(module, torch.nn.ReLU):
                ref[next(names)] = h.numpy().transpose(0, 2, 3, 1)
            elif isinstance(module, torch.nn.BatchNorm2d):
                conv_i += 1
            elif isinstance(module, torch.nn.MaxPool2d):
                ref[f"pool{block}"] = h.numpy().transpose(0, 2, 3, 1)
                block += 1
    assert conv_i == 13
    _assert_layers_close(out, ref, list(ref), rtol=2e-4)


def test_named_layout_and_module_prefix(tmp_path):
    state = _state_dict(vgg.VGG11, seed=7)
    index = vgg.VGG11.torchvision_indices
    named = {}
    for name in vgg.VGG11.layer_names:
        named[f"{name}.weight"] = state[f"features.{index[name]}.weight"]
        named[f"{name}.bias"] = state[f"features.{index[name]}.bias"]
    a = vgg.from_torchvision(named, vgg.VGG11)
    b = vgg.from_torchvision({f"module.{k}": v for k, v in state.items()}, vgg.VGG11)
    for layer in a:
        for leaf in a[layer]:
            np.testing.assert_array_equal(a[layer][leaf], b[layer][leaf])
    w = state[f"features.{index['conv2_1']}.weight"]
    np.testing.assert_array_equal(a["conv2_1"]["w"], w.transpose(2, 3, 1, 0))


def test_converter_errors(tmp_path, monkeypatch):
    from safetensors.numpy import save_file

    state = _state_dict(vgg.VGG11, seed=8)
    with pytest.raises(
        VGGWeightsError, match=r"key 'features.2.weight' \(conv1_2 w.*is missing for vgg13"
    ):
        vgg.from_torchvision({k: v for k, v in state.items()}, vgg.VGG13)
    wrong = dict(state)
    wrong["features.0.weight"] = np.zeros((64, 1, 3, 3), np.float32)
    with pytest.raises(
        VGGWeightsError, match=r"expected shape \(64, 3, 3, 3\).*found \(64, 1, 3, 3\)"
    ):
        vgg.from_torchvision(wrong, vgg.VGG11)
    bad = dict(state)
    bad["features.0.bias"] = np.full(64, np.nan, np.float32)
    with pytest.raises(VGGWeightsError, match=r"64 non-finite float32 values"):
        vgg.from_torchvision(bad, vgg.VGG11)
    with pytest.raises(VGGWeightsError, match=r"the weights match 'vgg11' instead"):
        vgg.from_torchvision(state, vgg.VGG19)
    with pytest.raises(VGGWeightsError, match=r"not a VGG state_dict"):
        vgg.from_torchvision({"layer.weight": np.zeros(3)}, vgg.VGG11)
    with pytest.raises(VGGWeightsError, match=r"has no BatchNorm layers"):
        vgg.from_torchvision({"conv1_1.weight": np.zeros(3)}, vgg.VGG11_BN)
    # Files: truncated safetensors, empty, missing, a .pth without torch, unknown content.
    path = tmp_path / "vgg11.safetensors"
    save_file(state, str(path))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(VGGWeightsError, match=r"cut\.safetensors: cannot read the safetensors"):
        vgg.from_torchvision(cut, vgg.VGG11)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(VGGWeightsError, match=r"empty\.pth: the file is empty"):
        vgg.from_torchvision(tmp_path / "empty.pth", vgg.VGG11)
    with pytest.raises(VGGWeightsError, match=r"nope\.pth: no such file"):
        vgg.from_torchvision(tmp_path / "nope.pth", vgg.VGG11)
    (tmp_path / "w.txt").write_bytes(b"hello world, not weights")
    with pytest.raises(VGGWeightsError, match=r"unrecognised weight file"):
        vgg.from_torchvision(tmp_path / "w.txt", vgg.VGG11)
    (tmp_path / "legacy.pth").write_bytes(b"\x80\x02}q\x00.")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails
    with pytest.raises(VGGWeightsError, match=r"legacy\.pth: reading a PyTorch .* needs PyTorch"):
        vgg.from_torchvision(tmp_path / "legacy.pth", vgg.VGG11)


def test_truncated_pth(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch (optional extra 'torch') not installed")
    state = {k: torch.from_numpy(v.copy()) for k, v in _state_dict(vgg.VGG11, seed=9).items()}
    path = tmp_path / "full.pth"
    torch.save(state, path)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VGGWeightsError, match=r"cut\.pth: torch\.load\(weights_only=True\) failed"):
        vgg.from_torchvision(cut, vgg.VGG11)
    params = vgg.from_torchvision(path, vgg.VGG11)
    np.testing.assert_array_equal(params["conv1_1"]["b"], state["features.0.bias"].numpy())
