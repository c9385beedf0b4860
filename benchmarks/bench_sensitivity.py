"""Benchmark: per-layer orientation-sensitivity curves of ONE network, forward-mode AD vs FD.

Ours: :func:`vpl_jax.codes.sensitivity.orientation_sensitivity` -- one ``jax.jvp`` per
(orientation, phase) stimulus, a chunk of stimuli per compiled call, every read-out layer at once.
The peers' method: a central finite difference over the same jitted forward function, one
stimulus at a time in a host loop (``D ~ sum_i ((y_i(theta + h) - y_i(theta - h)) / 2h)^2``: two
forward passes per stimulus).

Printed: the machine's load average (the machine may be shared), wall times (first call with
compilation, then a warm call for ours; the FD loop compiles its forward once), their ratio
measured in this run, and the agreement per layer: the largest relative difference between the
two (phase-averaged) curves, and their correlation.

Usage: ``python benchmarks/bench_sensitivity.py [--network caffe_alexnet] [--weights default]
[--size 224] [--orientations 36] [--phases 10] [--step 0.01] [--chunk 8] [--x64]``.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from vpl_jax.codes import models, sensitivity, stimuli


def finite_difference_curves(net, params, thetas, phases, *, size, step):
    """The peers' method: a host loop of central differences over one jitted forward."""
    f, s = stimuli.scaled_gabor_parameters(size)
    make = sensitivity.GaborStimulus(size, f, s, net.in_channels)

    @jax.jit
    def pair(theta, phase):
        hi = models.apply(net, params, make(theta + step, phase)[None])
        lo = models.apply(net, params, make(theta - step, phase)[None])
        return {k: jnp.sum(jnp.square((hi[k] - lo[k]) / (2 * step))) for k in hi}

    dtype = jnp.result_type(float)
    t0 = time.perf_counter()
    jax.block_until_ready(pair(jnp.asarray(0.0, dtype), jnp.asarray(0.0, dtype)))  # compile once
    compile_s = time.perf_counter() - t0
    out = {k: np.zeros((len(phases), len(thetas))) for k in net.layers}
    for p, phase in enumerate(phases):
        for t, theta in enumerate(thetas):
            d = pair(jnp.asarray(theta, dtype), jnp.asarray(phase, dtype))
            for k in net.layers:
                out[k][p, t] = float(d[k])
    return out, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="caffe_alexnet")
    parser.add_argument("--weights", default="default", help="'default', 'random:SEED' or a file")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--orientations", type=int, default=36)
    parser.add_argument("--phases", type=int, default=10)
    parser.add_argument("--step", type=float, default=0.01, help="FD step, degrees")
    parser.add_argument("--chunk", type=int, default=8, help="stimuli per compiled AD call")
    parser.add_argument("--x64", action="store_true", help="float64 (FD rounding error vanishes)")
    args = parser.parse_args()
    if args.x64:
        jax.config.update("jax_enable_x64", True)

    net = models.network_by_name(args.network, input_size=args.size)
    params = models.load_params(net, args.weights)
    if args.x64:
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    thetas = sensitivity.orientation_grid(args.orientations)
    phases = np.asarray(stimuli.paper_phases(args.phases))
    print(
        f"network {args.network} ({args.weights}), {args.size} px, {len(net.layers)} layers, "
        f"{args.orientations} orientations x {args.phases} phases, "
        f"{'float64' if args.x64 else 'float32'}"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")

    t0 = time.perf_counter()
    ad = sensitivity.orientation_sensitivity(net, params, thetas, phases, chunk=args.chunk)
    t_ad_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    ad = sensitivity.orientation_sensitivity(net, params, thetas, phases, chunk=args.chunk)
    t_ad = time.perf_counter() - t0
    t0 = time.perf_counter()
    fd, fd_compile = finite_difference_curves(
        net, params, thetas, phases, size=args.size, step=args.step
    )
    t_fd = time.perf_counter() - t0 - fd_compile
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"forward-mode AD: {t_ad_cold:.1f} s with compilation, {t_ad:.1f} s warm")
    print(
        f"central-FD loop: {t_fd:.1f} s (h = {args.step} deg, {2 * thetas.size * phases.size} forwards)"
    )
    print(f"FD time / AD warm time: {t_fd / t_ad:.2f}")
    print(f"{'layer':<10} {'max rel diff':>12} {'corr':>8} {'CO (AD)':>8} {'CO (FD)':>8}")
    for k in net.layers:
        a, f = ad[k].mean(0), fd[k].mean(0)
        rel = np.max(np.abs(a - f) / np.maximum(np.abs(a), 1e-30))
        corr = np.corrcoef(a, f)[0, 1]
        co_a = float(sensitivity.cardinal_oblique(thetas, a))
        co_f = float(sensitivity.cardinal_oblique(thetas, f))
        print(f"{k:<10} {rel:>12.2e} {corr:>8.5f} {co_a:>8.3f} {co_f:>8.3f}")


if __name__ == "__main__":
    main()
