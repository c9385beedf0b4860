"""Benchmark: tuning curves + population Fisher information of ONE network.

Our jitted computation (``vpl_jax.analysis.tuning.record_tuning``: 5 layers, O orientations x
N noise samples in one program) against the paper's procedure written plainly: a jitted forward
pass per orientation (the same noisy Gabors: same keys), then all statistics in NumPy float64
(mean, variance, covariance ddof 0), ``scipy.ndimage.gaussian_filter1d(order=1, sigma=3,
mode="wrap")`` gradients per degree, and ``np.linalg.solve`` of ``Sigma + 0.01 I`` over the units
with mean >= 1.0 at each orientation, divided by their number (Eq. 6).

Printed: wall times (first call with compilation, then a warm call) and their ratio measured in
this run, and the agreement of the FI curves: ours with the paper's gradient ("smoothed") vs the
NumPy reference (median relative difference, correlation), and ours with the exact jacfwd
gradient vs the reference (correlation only: a different, unsmoothed gradient).

Usage: ``python benchmarks/bench_tuning.py [--size 227] [--orientations 100] [--noise 50]``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.ndimage import gaussian_filter1d

from vpl_jax import alexnet, stimuli, weights
from vpl_jax.analysis import recording, tuning


def paper_procedure(key, params, reference, *, size, num_o, num_noise, layers):
    """The paper's procedure: per-orientation forward passes, statistics in NumPy/SciPy."""
    arch = alexnet.CAFFE_ALEXNET
    make = stimuli.NoisyGaborInput(size, arch.in_channels)
    consts = stimuli.NoisyGaborParams(
        wavelength_px=10.0, sigma_px=50.0, contrast=0.2, noise_sd=15.0
    ).as_arrays()
    offsets = tuning.relative_orientations(num_o)
    keys = jax.random.split(key, (num_o, num_noise))

    @jax.jit
    def forward(theta, noise_keys):
        stim = stimuli.NoisyGaborStimulus(jnp.broadcast_to(theta, noise_keys.shape), noise_keys)
        images = jax.vmap(make, in_axes=(0, None))(stim, consts)
        out = alexnet.features(params, images, arch)
        return {layer: recording.centre_units(out[layer]) for layer in layers}

    samples = {layer: [] for layer in layers}
    for o in range(num_o):
        out = forward(jnp.float32(reference + offsets[o]), keys[o])
        for layer in layers:
            samples[layer].append(np.asarray(out[layer], np.float64))
    spacing = offsets[1] - offsets[0]
    fisher = {}
    for layer in layers:
        x = np.stack(samples[layer])  # (O, N, C)
        mean = x.mean(1)
        grad = gaussian_filter1d(mean, 3.0, axis=0, order=1, mode="wrap") / spacing
        fi = np.full(num_o, np.nan)
        for o in range(num_o):
            use = mean[o] >= 1.0
            if not use.any():
                continue
            cov = np.cov(x[o][:, use], rowvar=False, ddof=0).reshape(use.sum(), use.sum())
            g = grad[o, use]
            fi[o] = g @ np.linalg.solve(cov + 0.01 * np.eye(use.sum()), g) / use.sum()
        fisher[layer] = fi
    return fisher


def timed(fn):
    start = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return out, time.perf_counter() - start


def agreement(ours, ref):
    ok = np.isfinite(ours) & np.isfinite(ref)
    if ok.sum() < 2:
        return np.nan, np.nan
    rel = np.abs(ours[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), 1e-30)
    return float(np.median(rel)), float(np.corrcoef(ours[ok], ref[ok])[0, 1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=227, help="image side in px (>= 67)")
    parser.add_argument("--orientations", type=int, default=100)
    parser.add_argument("--noise", type=int, default=50)
    parser.add_argument("--weights", default="default")
    parser.add_argument("--reference", type=float, default=30.0, help="TO in degrees")
    args = parser.parse_args(argv)

    params = weights.load(args.weights)
    key = jax.random.key(0)
    layers = recording.PROTOCOL_LAYERS
    common = dict(size=args.size, num_orientations=args.orientations, num_noise=args.noise)

    def ours(gradient):
        rec = tuning.record_tuning(key, params, args.reference, gradient=gradient, **common)
        return {layer: np.asarray(rec.fisher[layer], np.float64) for layer in layers}

    def paper():
        return paper_procedure(
            key,
            params,
            args.reference,
            size=args.size,
            num_o=args.orientations,
            num_noise=args.noise,
            layers=layers,
        )

    print(
        f"one network, {len(layers)} layers, {args.orientations} orientations x {args.noise} "
        f"noise samples, {args.size} px, weights {args.weights!r}"
    )
    results, times = {}, {}
    for name, fn in (
        ("ours, smoothed gradient", lambda: ours("smoothed")),
        ("ours, jacfwd gradient", lambda: ours("jacfwd")),
        ("paper procedure (NumPy/SciPy)", paper),
    ):
        _, first = timed(fn)
        results[name], warm = timed(fn)
        times[name] = warm
        print(f"  {name:32s} first call {first:7.2f} s   warm {warm:7.2f} s")
    ref = results["paper procedure (NumPy/SciPy)"]
    base = times["paper procedure (NumPy/SciPy)"]
    for name in ("ours, smoothed gradient", "ours, jacfwd gradient"):
        print(f"  time ratio paper / {name}: {base / times[name]:.2f}x (warm)")
    print("FI agreement with the NumPy reference (per layer):")
    for layer in layers:
        med, corr = agreement(results["ours, smoothed gradient"][layer], ref[layer])
        _, corr_j = agreement(results["ours, jacfwd gradient"][layer], ref[layer])
        print(
            f"  {layer:6s} smoothed: median rel. diff {med:.2e}, corr {corr:.6f};"
            f"  jacfwd vs paper: corr {corr_j:.3f}"
        )


if __name__ == "__main__":
    main()
