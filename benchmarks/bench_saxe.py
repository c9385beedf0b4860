"""Benchmark the Saxe theory code against plain SciPy / NumPy baselines measured in the same run.

1. alpha/beta trajectories (121 save times on [0, 12]) for 10,000 tasks (stimulus separations
   0.5..90 deg, von Mises N = 180): one jitted, vmapped ``theory.saxe.integrate`` call (diffrax
   Tsit5) versus a Python loop of ``scipy.integrate.solve_ivp`` (baseline RK45, the same 5(4)
   order; DOP853 also shown) at rtol 1e-10 / atol 1e-12. The SciPy loop is timed on an evenly
   spread subset of tasks and extrapolated per task (said in the output), in blocks interleaved
   with the JAX runs (the machine is shared; medians are compared). Every result is checked
   against the closed form: at equal tolerances the JAX error is the smaller one, so the
   accuracy match favours the baseline. Shown: ``jax.vmap(integrate)`` in one jitted call, the
   same chunked with ``lax.map(batch_size=250)`` (smaller save buffers), and
   ``theory.saxe.integrate_many`` (all tasks as one ODE system with shared steps).
2. Full-batch gradient descent of the N = 180, 3-layer network: steps per second of the jitted
   ``lax.scan`` (``theory.deep_linear.gradient_descent``) versus a plain NumPy loop of the same
   updates; final weights compared.

Run: ``/work/venv/bin/python benchmarks/bench_saxe.py`` (add ``--quick`` for a smaller run).
Times are wall-clock on a shared machine: compare the ratios, which are measured in one sitting.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

from theory import deep_linear as dl
from theory import saxe
from theory import tuning as tu

RTOL, ATOL = 1e-10, 1e-12


def _best_of(fn, repeats):
    best = np.inf
    out = None
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best, out


def _rhs(t, y, v, c, tau):
    alpha, beta = y
    u = 1.0 + 2.0 * alpha
    err = c - v * beta * u
    return [beta * err / tau, u * err / tau]


def _scipy_block(method, tasks, v_np, ts_np, cf_alpha, cf_beta):
    """Solve ``tasks`` one by one with solve_ivp; returns (seconds, max error vs closed form)."""
    err = 0.0
    start = time.perf_counter()
    for i in tasks:
        res = solve_ivp(
            _rhs,
            (0.0, float(ts_np[-1])),
            [0.0, 0.0],
            method=method,
            t_eval=ts_np,
            rtol=RTOL,
            atol=ATOL,
            args=(float(v_np[i]), 1.0, 1.0),
        )
        assert res.success
        err = max(
            err, np.max(np.abs(res.y[0] - cf_alpha[i])), np.max(np.abs(res.y[1] - cf_beta[i]))
        )
    return time.perf_counter() - start, float(err)


def bench_trajectories(num_tasks: int, subset: int, repeats: int) -> list[tuple]:
    ts = jnp.linspace(0.0, 12.0, 121)
    dthetas = jnp.deg2rad(jnp.linspace(0.5, 90.0, num_tasks))
    v = jax.jit(jax.vmap(lambda d: tu.task_vectors(d).v))(dthetas)
    cf_alpha, cf_beta = jax.jit(jax.vmap(lambda vi: saxe.closed_form(ts, vi)))(v)
    cf_alpha, cf_beta = np.asarray(cf_alpha), np.asarray(cf_beta)
    v_np, ts_np = np.asarray(v), np.asarray(ts)

    def max_err(sol):
        return float(
            max(
                np.max(np.abs(np.asarray(sol.alpha) - cf_alpha)),
                np.max(np.abs(np.asarray(sol.beta) - cf_beta)),
            )
        )

    one = lambda vi, rtol: saxe.integrate(ts, vi, rtol=rtol, atol=rtol * 1e-2)
    variants = {
        "jit(vmap(integrate))": jax.jit(jax.vmap(one, (0, None))),
        "jit(lax.map(integrate, batch_size=250))": jax.jit(
            lambda v, rtol: jax.lax.map(lambda vi: one(vi, rtol), v, batch_size=250)
        ),
        "integrate_many (one system, shared steps)": lambda v, rtol: saxe.integrate_many(
            ts, v, rtol=rtol, atol=rtol * 1e-2
        ),
    }
    compile_s = {}
    for name, fn in variants.items():
        start = time.perf_counter()
        jax.block_until_ready(fn(v, RTOL))
        compile_s[name] = time.perf_counter() - start

    # The machine is shared: interleave the baseline blocks with the JAX runs so both see the
    # same load, and compare medians.
    idx = np.linspace(0, num_tasks - 1, subset).astype(int)
    blocks = np.array_split(idx, repeats)
    scipy_per_task, scipy_err, jax_secs, jax_err = [], 0.0, {k: [] for k in variants}, {}
    for block in blocks:
        secs, err = _scipy_block("RK45", block, v_np, ts_np, cf_alpha, cf_beta)
        scipy_per_task.append(secs / len(block))
        scipy_err = max(scipy_err, err)
        for name, fn in variants.items():
            secs, sol = _best_of(lambda fn=fn: fn(v, RTOL), 1)
            assert bool(jnp.all(sol.ok)), f"{name}: a diffrax solve failed"
            jax_secs[name].append(secs)
            jax_err[name] = max_err(sol)
    baseline_s = float(np.median(scipy_per_task)) * num_tasks
    dop_secs, dop_err = _scipy_block(
        "DOP853", idx[:: max(1, subset // 50)], v_np, ts_np, cf_alpha, cf_beta
    )
    dop_total = dop_secs / len(idx[:: max(1, subset // 50)]) * num_tasks
    label = f"alpha/beta, {num_tasks} tasks"
    rows = [
        (
            label,
            "scipy solve_ivp RK45, Python loop",
            f"{baseline_s / num_tasks * 1e3:.3f} ms/task",
            f"{baseline_s:.0f} s (extrapolated from {subset} tasks)",
            f"{scipy_err:.1e}",
            "1.0x (baseline)",
        ),
        (
            label,
            "scipy solve_ivp DOP853, Python loop",
            f"{dop_total / num_tasks * 1e3:.3f} ms/task",
            f"{dop_total:.0f} s (extrapolated from {len(idx[:: max(1, subset // 50)])} tasks)",
            f"{dop_err:.1e}",
            f"{baseline_s / dop_total:.1f}x",
        ),
    ]
    for name in variants:
        secs = float(np.median(jax_secs[name]))
        rows.append(
            (
                label,
                f"JAX {name}",
                f"{secs / num_tasks * 1e3:.4f} ms/task",
                f"{secs:.2f} s per call (+{compile_s[name]:.1f} s first-call compile)",
                f"{jax_err[name]:.1e}",
                f"{baseline_s / secs:.0f}x",
            )
        )
    return rows


def _numpy_gd(w1, w2, sxx, syx, lr, num_steps):
    w1, w2 = w1.copy(), w2.copy()
    for _ in range(num_steps):
        err = (w2 @ w1) @ sxx - syx  # (1, 2)
        g1 = w2.T @ err  # (N, 2)
        g2 = err @ w1.T  # (1, N)
        w1 -= lr * g1
        w2 -= lr * g2
    return w1, w2


def bench_gradient_descent(jax_steps: int, numpy_steps: int, repeats: int) -> list[tuple]:
    task = tu.task_vectors(np.deg2rad(5.0))
    (w1, w2), sxx, syx = dl.saxe_network(task, c=1.0, beta0=0.0)
    lr = 1e-3

    def make(num_steps):
        return jax.jit(
            lambda ws: dl.gradient_descent(
                ws, sxx, syx, lr=lr, num_steps=num_steps, record_every=num_steps
            )[0]
        )

    run_long = make(jax_steps)
    jax.block_until_ready(run_long((w1, w2)))
    jax_s, _ = _best_of(lambda: run_long((w1, w2)), repeats)

    args = (np.asarray(w1), np.asarray(w2), np.asarray(sxx), np.asarray(syx), lr)
    start = time.perf_counter()
    np_w1, np_w2 = _numpy_gd(*args, numpy_steps)
    np_s = time.perf_counter() - start

    jw1, jw2 = make(numpy_steps)((w1, w2))
    diff = max(float(np.max(np.abs(np_w1 - jw1))), float(np.max(np.abs(np_w2 - jw2))))
    jax_rate, np_rate = jax_steps / jax_s, numpy_steps / np_s
    return [
        (
            "GD, N = 180 network",
            "JAX lax.scan (jit)",
            f"{jax_rate:,.0f} steps/s",
            f"{jax_steps} steps in {jax_s:.3f} s",
            f"max |W_jax - W_numpy| = {diff:.1e} after {numpy_steps} steps",
            f"{jax_rate / np_rate:.1f}x",
        ),
        (
            "GD, N = 180 network",
            "plain NumPy loop",
            f"{np_rate:,.0f} steps/s",
            f"{numpy_steps} steps in {np_s:.3f} s",
            "",
            "1.0x",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks/steps (smoke run)")
    args = parser.parse_args()
    with jax.enable_x64(True):
        if args.quick:
            rows = bench_trajectories(1000, 20, 2) + bench_gradient_descent(20_000, 5_000, 1)
        else:
            rows = bench_trajectories(10_000, 200, 4) + bench_gradient_descent(200_000, 50_000, 3)
    header = (
        "benchmark",
        "implementation",
        "speed",
        "time",
        "max |error| vs closed form / agreement",
        "speed-up vs baseline",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, float64")
    for row in [header, *rows]:
        print(" | ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
