"""Throughput of the Caffe AlexNet conv1-5 stack: JAX (vpl_jax.alexnet) against PyTorch eager.

Run:  python benchmarks/bench_alexnet.py [--batch 40] [--size 227] [--repeats 7]

Measures, in one process and interleaved so that machine load hits every variant alike:

* forward (``features`` up to pool5) and forward+backward (gradient of a scalar of pool5 with
  respect to all conv weights and biases; images are not differentiated, as in training) in
  images/s, for JAX and for a PyTorch eager model of the same architecture (torch is optional:
  without it the JAX part still runs and the report says so);
* the same forward+backward with ``ArchSpec.conv_gradient="forward"`` (a ``custom_vjp``
  convolution whose input and kernel gradients are written as forward convolutions), its
  agreement with XLA's gradients and its speed ratio to them;
* the ratios JAX/PyTorch, computed per interleaved round and reported as the median;
* a 2048 x 2048 float32 matmul (JAX and PyTorch; the faster one) as the machine's practical FP32
  peak, and the fraction of it achieved, using FLOPs per image counted from the architecture;
* XLA's ``feature_group_count`` against per-group convolutions for the grouped layers
  (conv2, conv4, conv5; forward + input and kernel gradients).

Numbers are wall-clock medians; on a shared machine only ratios from the same run are meaningful.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from vpl_jax import alexnet
from vpl_jax.alexnet import CAFFE_ALEXNET

try:
    import torch
    from torch import nn
except ImportError:  # torch is an optional benchmark dependency (pip install vpl-jax[bench])
    torch = None


def conv_flops(arch, size: int) -> dict[str, int]:
    """Multiply-add FLOPs (2 per MAC) of each convolution for one image, from the architecture."""
    shapes = alexnet.layer_shapes(arch, size)
    c_in = arch.in_channels
    flops = {}
    for conv in arch.convs:
        h, w, c_out = shapes[conv.name]
        flops[conv.name] = 2 * h * w * c_out * conv.kernel * conv.kernel * (c_in // conv.groups)
        c_in = c_out
    return flops


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _torch_model(arch):
    layers = []
    c_in = arch.in_channels
    for conv in arch.convs:
        layers += [
            nn.Conv2d(
                c_in, conv.out_channels, conv.kernel, conv.stride, conv.padding, groups=conv.groups
            ),
            nn.ReLU(),
        ]
        if conv.lrn:
            layers.append(
                nn.LocalResponseNorm(arch.lrn_size, arch.lrn_alpha, arch.lrn_beta, arch.lrn_k)
            )
        if conv.pool:
            layers.append(nn.MaxPool2d(arch.pool_window, arch.pool_stride))
        c_in = conv.out_channels
    return nn.Sequential(*layers)


def _load_torch_weights(model, params, arch):
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for module, spec in zip(convs, arch.convs, strict=True):
            w = np.asarray(params[spec.name]["w"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            module.bias.copy_(torch.from_numpy(np.array(params[spec.name]["b"])))


def grouped_conv_comparison(batch: int, size: int, repeats: int) -> None:
    shapes = alexnet.layer_shapes(CAFFE_ALEXNET, size)
    rng = np.random.default_rng(0)
    c_in = {"conv2": 96, "conv4": 384, "conv5": 384}
    h_in = {"conv2": shapes["pool1"][0], "conv4": shapes["conv3"][0], "conv5": shapes["conv4"][0]}
    total = {"per-group": 0.0, "feature_group_count": 0.0}
    print("\nGrouped convolutions, forward + input and kernel gradients (ms per batch):")
    for spec in CAFFE_ALEXNET.convs:
        if spec.groups == 1:
            continue
        x = jnp.asarray(
            rng.normal(size=(batch, h_in[spec.name], h_in[spec.name], c_in[spec.name])), jnp.float32
        )
        w_shape = (spec.kernel, spec.kernel, c_in[spec.name] // spec.groups, spec.out_channels)
        w = jnp.asarray(0.05 * rng.normal(size=w_shape), jnp.float32)
        b = jnp.zeros(spec.out_channels, jnp.float32)
        pad = ((spec.padding, spec.padding),) * 2

        def split(x, w, spec=spec, b=b):
            return alexnet.conv_layer(x, w, b, spec)

        def fgc(x, w, spec=spec, pad=pad, b=b):
            return (
                jax.lax.conv_general_dilated(
                    x,
                    w,
                    (spec.stride,) * 2,
                    pad,
                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                    feature_group_count=spec.groups,
                )
                + b
            )

        np.testing.assert_allclose(split(x, w), fgc(x, w), rtol=1e-3, atol=1e-3)
        row = {}
        for name, f in (("per-group", split), ("feature_group_count", fgc)):
            step = jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1)))
            jax.block_until_ready(step(x, w))
            row[name] = _median_time(
                lambda step=step, x=x, w=w: jax.block_until_ready(step(x, w)), repeats
            )
            total[name] += row[name]
        print(
            f"  {spec.name}: per-group {1e3 * row['per-group']:8.1f}   feature_group_count "
            f"{1e3 * row['feature_group_count']:8.1f}   ratio {row['feature_group_count'] / row['per-group']:.2f}x"
        )
    print(
        f"  all grouped layers: feature_group_count takes "
        f"{total['feature_group_count'] / total['per-group']:.2f}x the time of per-group convolutions"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=40, help="images per batch (20 pairs = 40)")
    parser.add_argument("--size", type=int, default=227, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--skip-grouped", action="store_true", help="skip the grouped-conv table")
    args = parser.parse_args(argv)
    n, size = args.batch, args.size

    print(f"vpl_jax.alexnet benchmark: Caffe AlexNet conv1-5, batch {n}, {size}x{size}x1")
    print(
        f"  machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  jax {jax.__version__} ({jax.default_backend()})", end="")
    if torch is None:
        print("; torch NOT INSTALLED: PyTorch baseline skipped (pip install 'vpl-jax[bench]')")
    else:
        print(f"; torch {torch.__version__}, {torch.get_num_threads()} threads")

    flops = conv_flops(CAFFE_ALEXNET, size)
    fwd_flops = sum(flops.values())
    # backward: kernel gradients of every conv, input gradients of conv2..conv5 (not of the image)
    fb_flops = fwd_flops + fwd_flops + (fwd_flops - flops["conv1"])
    print(
        f"  FLOPs per image (convolutions): forward {fwd_flops / 1e9:.3f} G, "
        f"forward+backward {fb_flops / 1e9:.3f} G"
    )

    rng = np.random.default_rng(0)
    images_np = (30.0 * rng.normal(size=(n, size, size, 1))).astype(np.float32)
    out_shape = (n, *alexnet.layer_shapes(CAFFE_ALEXNET, size)["pool5"])
    readout_np = (1e-3 * rng.normal(size=out_shape)).astype(np.float32)
    params = alexnet.init_params(jax.random.key(0), CAFFE_ALEXNET)
    images, readout = jnp.asarray(images_np), jnp.asarray(readout_np)

    jax_fwd = jax.jit(lambda p, x: alexnet.features(p, x)["pool5"])

    def fwd_bwd(arch):
        return jax.jit(
            jax.value_and_grad(
                lambda p, x: jnp.sum(alexnet.features(p, x, arch)["pool5"] * readout)
            )
        )

    jax_fb = fwd_bwd(CAFFE_ALEXNET)
    # the custom_vjp convolution whose gradients are written as forward convolutions
    jax_fb_fwd = fwd_bwd(dataclasses.replace(CAFFE_ALEXNET, conv_gradient="forward"))
    a = jnp.ones((2048, 2048), jnp.float32)
    jax_mm = jax.jit(jnp.dot)
    runs = {
        "jax forward": lambda: jax.block_until_ready(jax_fwd(params, images)),
        "jax fwd+bwd": lambda: jax.block_until_ready(jax_fb(params, images)),
        "jax fwd+bwd fwdconv": lambda: jax.block_until_ready(jax_fb_fwd(params, images)),
        "jax matmul": lambda: jax.block_until_ready(jax_mm(a, a)),
    }
    g_xla, g_fwd = jax_fb(params, images)[1], jax_fb_fwd(params, images)[1]
    rel = max(
        float(jnp.max(jnp.abs(u - v)) / jnp.max(jnp.abs(v)))
        for u, v in zip(jax.tree.leaves(g_fwd), jax.tree.leaves(g_xla), strict=True)
    )
    print(f"  check: forward-convolution gradients vs XLA's, max rel. diff per leaf {rel:.1e}")
    if torch is not None:
        model = _torch_model(CAFFE_ALEXNET)
        _load_torch_weights(model, params, CAFFE_ALEXNET)
        x_t = torch.from_numpy(images_np.transpose(0, 3, 1, 2).copy())
        r_t = torch.from_numpy(readout_np.transpose(0, 3, 1, 2).copy())
        a_t = torch.ones(2048, 2048)

        def torch_forward():
            with torch.no_grad():
                return model(x_t)

        def torch_fb():
            model.zero_grad(set_to_none=True)
            loss = (model(x_t) * r_t).sum()
            loss.backward()
            return loss

        runs["torch forward"] = torch_forward
        runs["torch fwd+bwd"] = torch_fb
        runs["torch matmul"] = lambda: a_t @ a_t
        # same architecture and weights: compare pool5
        got = np.asarray(jax_fwd(params, images)).transpose(0, 3, 1, 2)
        want = torch_forward().numpy()
        rel = np.max(np.abs(got - want)) / np.max(np.abs(want))
        print(
            f"  check: JAX vs PyTorch pool5 on the same weights, max |diff| / max |pool5| = {rel:.1e}"
        )

    for fn in runs.values():  # compile / warm up
        fn()
        fn()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(t)) for name, t in times.items()}

    ratio = np.median(np.array(times["jax fwd+bwd"]) / np.array(times["jax fwd+bwd fwdconv"]))
    print(f"\nspeed of forward-convolution gradients over XLA's (fwd+bwd): {ratio:.2f}x")
    print(f"load average after the timing: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\nThroughput (median of {args.repeats} interleaved rounds):")
    for name in runs:
        if "matmul" in name:
            print(f"  {name:14s} {2 * 2048**3 / med[name] / 1e9:8.1f} GFLOP/s (2048^2 float32)")
        else:
            print(
                f"  {name:14s} {n / med[name]:8.1f} images/s  ({1e3 * med[name]:.0f} ms per batch)"
            )

    matmuls = [name for name in runs if "matmul" in name]
    peak = max(2 * 2048**3 / med[name] for name in matmuls)
    print(
        f"\nFraction of FP32 peak (the faster 2048^2 matmul of this run, {peak / 1e9:.1f} GFLOP/s):"
    )
    for label, name, f in (
        ("forward", "jax forward", fwd_flops),
        ("fwd+bwd", "jax fwd+bwd", fb_flops),
        ("fwdconv", "jax fwd+bwd fwdconv", fb_flops),
    ):
        achieved = n * f / med[name]
        print(f"  jax {label:8s} {achieved / 1e9:7.1f} GFLOP/s = {achieved / peak:5.1%} of peak")
    if torch is not None:
        for label, name, f in (
            ("forward", "torch forward", fwd_flops),
            ("fwd+bwd", "torch fwd+bwd", fb_flops),
        ):
            achieved = n * f / med[name]
            print(
                f"  torch {label:6s} {achieved / 1e9:7.1f} GFLOP/s = {achieved / peak:5.1%} of peak"
            )
        print("\nRatios JAX / PyTorch (images/s; median over rounds of the per-round ratio):")
        for label in ("forward", "fwd+bwd", "fwd+bwd fwdconv"):
            torch_label = label.split()[0]
            ratio = np.median(
                np.array(times[f"torch {torch_label}"]) / np.array(times[f"jax {label}"])
            )
            print(f"  {label:15s} {ratio:.2f}x")
        ratio = np.median(np.array(times["torch matmul"]) / np.array(times["jax matmul"]))
        print(f"  matmul   {ratio:.2f}x")
    else:
        print("\nRatios JAX / PyTorch: not available (torch not installed).")

    if not args.skip_grouped:
        grouped_conv_comparison(n, size, max(3, args.repeats // 2))


if __name__ == "__main__":
    main()
