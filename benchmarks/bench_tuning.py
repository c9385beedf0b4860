"""Benchmark: tuning curves + population Fisher information of ONE network, four ways.

The tuning protocol of Wenliang & Seitz (2018): Gabors at ``TO + linspace(-90, 90, O)``, N noise
samples each, the centre unit of every channel of layers 1-5 (norm1, norm2, conv3, conv4, conv5),
Eq. 6 FI per orientation (covariance ddof 0 + 0.01 I over the units with mean >= 1.0, divided by
their number). Variants, run interleaved round by round so that machine load hits all alike:

* ``record_tuning (cone, centre_jvp)``: what the library runs, ``vpl_jax.analysis.tuning.
  record_tuning`` with its defaults: one jitted program (``lax.map`` over orientations), the
  forward pass restricted to the receptive-field cone of the centre units and its tangent
  carried along by hand (``vpl_jax.receptive_field.centre_jvp``: the exact derivative of the
  sample mean with respect to the orientation, conv1's tangent computed once per orientation
  because the noise is additive), mean, variance and FI in the sample space (thin SVD of the
  centred samples);
* ``cone, jax.jacfwd``: the same statistics from ``jax.jacfwd`` of the sample mean through the
  cone forward (``vpl_jax.analysis.recording.centre_responses``; each orientation's Gabor made
  once, its noise samples added: the images of ``stimuli.NoisyGaborInput``);
* ``full map, jax.jacfwd``: the same program with the full feature maps (``alexnet.features``);
* ``paper, NumPy on JAX``: the paper's procedure written plainly -- a jitted forward pass per
  orientation (the same noisy Gabors: same keys), then NumPy float64 statistics and
  ``scipy.ndimage.gaussian_filter1d(order=1, sigma=3, mode="wrap")`` gradients;
* ``paper, PyTorch eager``: the same procedure with a PyTorch eager model of the same network
  (``torch.no_grad`` forward per orientation, noise from ``torch.randn``), then the same
  NumPy/SciPy statistics (skipped when torch is not importable).

OpenBLAS (NumPy/SciPy, and the LAPACK behind jax's CPU SVD) runs with one thread unless
``--blas-threads`` says otherwise: with its default threads one (384, 50) SVD took 6 ms to 1 s
on a loaded machine, 0.7 ms with one.

Printed: the load average before and after, per-round wall times, their medians (the first
round includes compilation and is left out of the medians when there are >= 2 rounds), the
speed ratios of every variant to both paper baselines, and the FI agreement: the library's and
the cone's vs the full map (the same quantity: float32 round-off), the exact FI vs the paper's
smoothed one (correlation only: a different, unsmoothed gradient), how far float32 round-off of
the gradient alone moves the FI, and every variant against an untimed float64 reference of the
first ``--float64-orientations`` orientations (same images, full maps, ``jax.jacfwd``).

Usage: ``python benchmarks/bench_tuning.py [--size 227] [--orientations 100] [--noise 50]
[--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.ndimage import gaussian_filter1d

from vpl_jax import alexnet, receptive_field, stimuli, weights
from vpl_jax.analysis import recording, tuning

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # optional benchmark dependency
    torch = None

ARCH = alexnet.CAFFE_ALEXNET
LAYERS = recording.PROTOCOL_LAYERS
RIDGE, THRESHOLD = 0.01, 1.0
GABOR = dict(wavelength_px=10.0, sigma_px=50.0, contrast=0.2, noise_sd=15.0)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------------------------
# Ours: one jitted program, exact gradient, FI in the sample space
# --------------------------------------------------------------------------------------------


def full_forward(params, images, layers):
    out = alexnet.features(params, images, ARCH)
    return {layer: recording.centre_units(out[layer]) for layer in layers}


def cone_forward(params, images, layers):
    return recording.centre_responses(params, images, ARCH, layers)


def fisher_from_samples(grad, samples):
    """Eq. 6 from ``(N, C)`` samples via a thin SVD (no ``C x C`` matrix; float32-safe)."""
    mu = samples.mean(0)
    m = (mu >= THRESHOLD).astype(samples.dtype)
    x = (samples - mu) * m
    g = grad * m
    _, sv, vt = jnp.linalg.svd(x, full_matrices=False)
    p = vt @ g
    r = g - vt.T @ p
    quad = jnp.sum(p * p / (sv * sv / samples.shape[0] + RIDGE)) + jnp.sum(r * r) / RIDGE
    n = m.sum()
    return jnp.where(n > 0, quad / jnp.where(n > 0, n, 1.0), jnp.nan)


def jax_protocol(forward, params, *, size, num_o, num_noise, perturb=0.0):
    """The jitted protocol; ``perturb`` > 0 multiplies every gradient entry by ``1 +- perturb``
    (random signs) before the FI: how much float32 round-off of the gradient moves the FI."""
    consts = stimuli.NoisyGaborParams(**GABOR).as_arrays()
    offsets = jnp.asarray(tuning.relative_orientations(num_o), jnp.float32)

    @jax.jit
    def run(key, reference):
        keys = jax.random.split(key, (num_o, num_noise))

        def sample_mean(theta, noise_keys):
            # the images of NoisyGaborInput, the Gabor (and its tangent) made once per orientation
            image = stimuli.gabor(theta, consts.wavelength_px, sigma_px=consts.sigma_px, size=size)
            images = jax.vmap(
                lambda k: stimuli.to_channels(
                    stimuli.network_input(k, image, consts.contrast, consts.noise_sd),
                    ARCH.in_channels,
                )
            )(noise_keys)
            samples = forward(params, images, LAYERS)
            return {layer: x.mean(0) for layer, x in samples.items()}, samples

        def one(items):
            theta, noise_keys = items
            grad, samples = jax.jacfwd(sample_mean, has_aux=True)(theta, noise_keys)
            if perturb:
                signs = jax.random.rademacher(noise_keys[0], (sum(v.size for v in grad.values()),))
                cut = np.cumsum([0] + [grad[layer].size for layer in LAYERS])
                grad = {
                    layer: grad[layer] * (1.0 + perturb * signs[cut[i] : cut[i + 1]])
                    for i, layer in enumerate(LAYERS)
                }
            return {layer: fisher_from_samples(grad[layer], samples[layer]) for layer in LAYERS}

        return jax.lax.map(one, (reference + offsets, keys))

    return lambda key, reference: {
        k: np.asarray(v, np.float64) for k, v in run(key, reference).items()
    }


OURS = "record_tuning (cone, centre_jvp)"


def library_protocol(key, params, reference, *, size, num_o, num_noise):
    rec = tuning.record_tuning(
        key, params, reference, ARCH, layers=LAYERS, num_orientations=num_o,
        num_noise=num_noise, size=size, ridge=RIDGE, threshold=THRESHOLD, progress=False,
        **{k: GABOR[k] for k in ("wavelength_px", "sigma_px", "contrast", "noise_sd")},
    )  # fmt: skip
    return {k: np.asarray(v, np.float64) for k, v in rec.fisher.items()}


# --------------------------------------------------------------------------------------------
# The paper's procedure: a forward pass per orientation, then NumPy/SciPy statistics
# --------------------------------------------------------------------------------------------


def paper_statistics(samples, spacing):
    """``samples``: ``{layer: (O, N, C)}`` float64 -> ``{layer: (O,)}`` FI (Eq. 6)."""
    fisher = {}
    for layer, x in samples.items():
        num_o = x.shape[0]
        mean = x.mean(1)
        grad = gaussian_filter1d(mean, 3.0, axis=0, order=1, mode="wrap") / spacing
        fi = np.full(num_o, np.nan)
        for o in range(num_o):
            use = mean[o] >= THRESHOLD
            if not use.any():
                continue
            cov = np.cov(x[o][:, use], rowvar=False, ddof=0).reshape(use.sum(), use.sum())
            g = grad[o, use]
            fi[o] = g @ np.linalg.solve(cov + RIDGE * np.eye(use.sum()), g) / use.sum()
        fisher[layer] = fi
    return fisher


def paper_numpy_on_jax(key, params, reference, *, size, num_o, num_noise):
    make = stimuli.NoisyGaborInput(size, ARCH.in_channels)
    consts = stimuli.NoisyGaborParams(**GABOR).as_arrays()
    offsets = tuning.relative_orientations(num_o)
    keys = jax.random.split(key, (num_o, num_noise))

    @jax.jit
    def forward(theta, noise_keys):
        stim = stimuli.NoisyGaborStimulus(jnp.broadcast_to(theta, noise_keys.shape), noise_keys)
        return full_forward(params, jax.vmap(make, in_axes=(0, None))(stim, consts), LAYERS)

    samples = {layer: [] for layer in LAYERS}
    for o in range(num_o):
        out = forward(jnp.float32(reference + offsets[o]), keys[o])
        for layer in LAYERS:
            samples[layer].append(np.asarray(out[layer], np.float64))
    samples = {layer: np.stack(v) for layer, v in samples.items()}
    return paper_statistics(samples, offsets[1] - offsets[0])


def torch_model(params):
    """Caffe AlexNet up to conv5 as a PyTorch eager function (OIHW kernels, NCHW images)."""
    kernels = [
        (
            torch.from_numpy(
                np.ascontiguousarray(np.asarray(params[c.name]["w"]).transpose(3, 2, 0, 1))
            ),
            torch.from_numpy(np.array(params[c.name]["b"])),
        )
        for c in ARCH.convs
    ]

    def forward(x):
        out = {}
        for i, (conv, (w, b)) in enumerate(zip(ARCH.convs, kernels, strict=True), start=1):
            x = torch.relu(F.conv2d(x, w, b, conv.stride, conv.padding, groups=conv.groups))
            out[conv.name] = x
            if conv.lrn:
                x = F.local_response_norm(
                    x, ARCH.lrn_size, ARCH.lrn_alpha, ARCH.lrn_beta, ARCH.lrn_k
                )
                out[f"norm{i}"] = x
            if conv.pool:
                x = F.max_pool2d(x, ARCH.pool_window, ARCH.pool_stride)
                out[f"pool{i}"] = x
        return out

    return forward


def paper_pytorch(model, reference, *, size, num_o, num_noise, seed=0):
    offsets = tuning.relative_orientations(num_o)
    gen = torch.Generator().manual_seed(seed)
    g = GABOR
    samples = {layer: [] for layer in LAYERS}
    with torch.no_grad():
        for o in range(num_o):
            image = np.array(
                stimuli.gabor(reference + offsets[o], g["wavelength_px"], g["sigma_px"], size),
                np.float32,
            )
            grey = g["contrast"] * (torch.from_numpy(image) - 125.0)
            noise = torch.randn(num_noise, 1, size, size, generator=gen)
            out = model(grey + g["noise_sd"] * noise)
            for layer in LAYERS:
                a = out[layer]
                samples[layer].append(a[:, :, a.shape[2] // 2, a.shape[3] // 2].double().numpy())
    samples = {layer: np.stack(v) for layer, v in samples.items()}
    return paper_statistics(samples, offsets[1] - offsets[0])


# --------------------------------------------------------------------------------------------


def float64_reference(key, params, reference, *, size, num_o, num_noise, first):
    """FI of the first ``first`` orientations of the grid in float64: the same noisy images
    (the float32 noise of the same keys), full feature maps, ``jax.jacfwd``; ``(first,)`` per
    layer. The yardstick for the float32 accuracy of every variant."""
    offsets = tuning.relative_orientations(num_o)[:first]
    keys = jax.random.split(key, (num_o, num_noise))[:first]
    g = GABOR
    out = {layer: [] for layer in LAYERS}
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)

        @jax.jit
        def one(theta, noise):
            def sample_mean(t):
                image = stimuli.gabor(t, g["wavelength_px"], sigma_px=g["sigma_px"], size=size)
                x = g["contrast"] * (image - stimuli.BACKGROUND_OFFSET) + g["noise_sd"] * noise
                samples = full_forward(p64, x[..., None], LAYERS)
                return {layer: v.mean(0) for layer, v in samples.items()}, samples

            grad, samples = jax.jacfwd(sample_mean, has_aux=True)(theta)
            return {layer: fisher_from_samples(grad[layer], samples[layer]) for layer in LAYERS}

        for o in range(first):
            noise = jax.vmap(lambda k: jax.random.normal(k, (size, size), jnp.float32))(keys[o])
            theta = jnp.float64(np.float32(reference + offsets[o]))
            fi = one(theta, jnp.asarray(noise, jnp.float64))
            for layer in LAYERS:
                out[layer].append(float(fi[layer]))
    return {layer: np.array(v) for layer, v in out.items()}


def agreement(ours, ref):
    ok = np.isfinite(ours) & np.isfinite(ref)
    if ok.sum() < 2:
        return np.nan, np.nan
    rel = np.abs(ours[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), 1e-30)
    return float(np.max(rel)), float(np.corrcoef(ours[ok], ref[ok])[0, 1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=227, help="image side in px (>= 67)")
    parser.add_argument("--orientations", type=int, default=100)
    parser.add_argument("--noise", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (>= 1)")
    parser.add_argument("--weights", default="default")
    parser.add_argument("--reference", type=float, default=30.0, help="TO in degrees")
    parser.add_argument("--skip-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument(
        "--float64-orientations",
        type=int,
        default=10,
        help="orientations of the untimed float64 reference FI (0 = none)",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="OpenBLAS threads (NumPy/SciPy, and the LAPACK SVD of jax on CPU); 0 = leave as is",
    )
    args = parser.parse_args(argv)
    if args.blas_threads:
        # jax's CPU SVD calls SciPy's OpenBLAS LAPACK; with its default threads it took 6 ms to
        # 1 s per (384, 50) SVD on the loaded machine, 0.7 ms with one thread (measured)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("threadpoolctl not importable: OpenBLAS threads NOT limited")
        else:
            threadpool_limits(args.blas_threads, user_api="blas")
            print(f"OpenBLAS limited to {args.blas_threads} thread(s) for every variant")

    params = weights.load(args.weights)
    key = jax.random.key(0)
    grid = dict(size=args.size, num_o=args.orientations, num_noise=args.noise)
    macs_full = receptive_field.cone_macs(ARCH, None, args.size)
    macs_cone = receptive_field.cone_macs(
        ARCH, receptive_field.centre_regions(ARCH, LAYERS, args.size), args.size
    )
    print(
        f"one network, {len(LAYERS)} layers, {args.orientations} orientations x {args.noise} "
        f"noise samples, {args.size} px, weights {args.weights!r}; conv multiply-adds per image: "
        f"full {macs_full / 1e6:.0f} M, cone {macs_cone / 1e6:.0f} M ({macs_full / macs_cone:.2f}x)"
    )
    print(f"jax {jax.__version__}; {load()} (start)")
    variants = {
        "cone, jax.jacfwd": jax_protocol(cone_forward, params, **grid),
        "full map, jax.jacfwd": jax_protocol(full_forward, params, **grid),
    }
    variants = {
        name: (lambda fn=fn: fn(key, jnp.float32(args.reference))) for name, fn in variants.items()
    }
    variants = {
        OURS: lambda: library_protocol(key, params, args.reference, **grid),
        **variants,
    }
    variants["paper, NumPy on JAX"] = lambda: paper_numpy_on_jax(
        key, params, args.reference, **grid
    )
    if torch is not None and not args.skip_torch:
        model = torch_model(params)
        variants["paper, PyTorch eager"] = lambda: paper_pytorch(model, args.reference, **grid)
        x = 30.0 * np.random.default_rng(0).normal(size=(2, args.size, args.size, 1))
        x = x.astype(np.float32)
        want = full_forward(params, jnp.asarray(x), LAYERS)["conv5"]
        with torch.no_grad():
            got = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))["conv5"]
        got = got[:, :, got.shape[2] // 2, got.shape[3] // 2].numpy()
        rel = float(np.max(np.abs(got - np.asarray(want))) / np.max(np.abs(np.asarray(want))))
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; same images, conv5 "
            f"centre units PyTorch vs JAX: max rel. diff {rel:.1e}"
        )
    else:
        print("torch not importable (or --skip-torch): PyTorch baseline NOT measured")

    times = {name: [] for name in variants}
    results = {}
    for r in range(args.rounds):
        line = []
        for name, fn in variants.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
            line.append(f"{name} {times[name][-1]:.1f} s")
        print(f"  round {r + 1}{' (compiles)' if r == 0 else ''}: " + ", ".join(line), flush=True)
        print(f"    {load()}", flush=True)
    warm = {n: np.median(t[1:] if len(t) > 1 else t) for n, t in times.items()}
    print(f"median wall time (rounds {'2..' if args.rounds > 1 else '1'}{args.rounds}):")
    for name, t in warm.items():
        print(f"  {name:24s} {t:8.2f} s")
    for base in ("paper, NumPy on JAX", "paper, PyTorch eager"):
        if base not in warm:
            continue
        for name in (OURS, "cone, jax.jacfwd", "full map, jax.jacfwd"):
            print(f"  speed-up of {name} over {base}: {warm[base] / warm[name]:.2f}x")
    for name in ("cone, jax.jacfwd", "full map, jax.jacfwd"):
        print(f"  speed-up of {OURS} over {name}: {warm[name] / warm[OURS]:.2f}x")
    print("FI agreement per layer:")
    for layer in LAYERS:
        err, _ = agreement(results[OURS][layer], results["full map, jax.jacfwd"][layer])
        err_c, _ = agreement(
            results["cone, jax.jacfwd"][layer], results["full map, jax.jacfwd"][layer]
        )
        _, corr = agreement(results[OURS][layer], results["paper, NumPy on JAX"][layer])
        text = (
            f"  {layer:6s} vs full map, max rel. diff: record_tuning {err:.1e}, cone jacfwd "
            f"{err_c:.1e};  exact vs paper's smoothed corr {corr:.3f}"
        )
        if "paper, PyTorch eager" in results:
            _, corr_t = agreement(
                results["paper, PyTorch eager"][layer], results["paper, NumPy on JAX"][layer]
            )
            text += f";  PyTorch vs NumPy-on-JAX paper corr {corr_t:.3f}"
        print(text)
    # the FI's own float32 accuracy: the same computation with the gradient moved by float32
    # round-off (relative 2**-24 per entry, random signs); untimed
    eps = float(np.finfo(np.float32).eps) / 2
    moved = jax_protocol(cone_forward, params, **grid, perturb=eps)(
        key, jnp.float32(args.reference)
    )
    print(f"FI float32 conditioning (cone jacfwd, gradient entries x (1 +- {eps:.1e})):")
    for layer in LAYERS:
        err, _ = agreement(moved[layer], results["cone, jax.jacfwd"][layer])
        print(f"  {layer:6s} max rel. change of the FI {err:.1e}")
    if args.float64_orientations:
        first = min(args.float64_orientations, args.orientations)
        ref64 = float64_reference(key, params, args.reference, **grid, first=first)
        print(f"FI vs a float64 reference (full maps, jax.jacfwd; the first {first} orientations):")
        for layer in LAYERS:
            errs = [
                f"{name} {agreement(results[name][layer][:first], ref64[layer])[0]:.1e}"
                for name in (OURS, "cone, jax.jacfwd", "full map, jax.jacfwd")
            ]  # the paper's variants estimate another (smoothed) gradient
            print(f"  {layer:6s} max rel. diff: " + ", ".join(errs))
    print(load() + " (end)")


if __name__ == "__main__":
    main()
