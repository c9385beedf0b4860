"""Training throughput on the default device (accelerator or CPU), and the cost of the paper's runs.

Run: ``python benchmarks/bench_accelerator.py [--size 227] [--k auto|1,2,4] [--modes
vectorized,unrolled] [--iterations 5] [--json OUT.json]``.

For each batching mode (`vpl_jax.train.TrainConfig.condition_batching`) and each K (conditions
trained together in one program; ``auto`` doubles K from 1 until the device runs out of memory or
the per-condition throughput stops growing), a fresh subprocess builds the compiled programs
(`vpl_jax.train.compiled_programs`) for the first K conditions of ``paper-exp1`` and measures

* the training step: seconds per step (median over ``--iterations`` steps after one warm-up
  step), per-condition throughput (condition-iterations per second, x40 for images per second);
* the compile time of the step (its first call minus a steady step);
* one evaluation (the accuracies of the five test conditions on ``test_pairs`` pairs, plus the
  layer changes), which a 1000-iteration run calls 21 + 5 times;
* peak memory: the device allocator's peak (``memory_stats()["peak_bytes_in_use"]``) on an
  accelerator, the process's peak resident memory (``ru_maxrss``, compilation included) on CPU;
  the per-condition increment is the slope over K.

Then a short training of two conditions (`vpl_jax.train.train_conditions`, same keys) on the
default device is compared with the CPU backend (``jax.devices("cpu")``, ``--batching
unrolled``, or a reference file saved with ``--save-reference``): accuracies, layer changes and
the training loss, with float32 tolerances. On a CPU-only machine the comparison is between the
two batching modes on the CPU. Last, the projected wall time of ``paper-exp1`` (2880 conditions
x 1000 iterations) and Experiment 2 (720 x 1000) per device at the best measured (mode, K):
``ceil(N / K) x (1000 x step + 26 x evaluation) + compile``.

On CPU keep it to minutes with ``--k 1,2 --iterations 2`` (and ``--size 67`` to try it out).
The machine load is printed: on a shared machine absolute times are inflated.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from vpl_jax import experiment, siamese, train

#: Projected runs: name -> (conditions, iterations).
RUNS = {"paper-exp1": (2880, 1000), "Experiment 2": (720, 1000)}
#: Tolerances of the device-vs-CPU comparison (float32 on both; different kernels and orders).
TOLERANCES = {"accuracy": 2e-3, "train_loss": 1e-3, "layer_change": 2e-2}


def _device_info() -> dict:
    device = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "devices": jax.device_count(),
        "jax": jax.__version__,
    }


def _config(size: int, mode: str, base: train.TrainConfig | None = None) -> train.TrainConfig:
    base = experiment.preset("paper-exp1").train if base is None else base
    return dataclasses.replace(base, image_size=size, condition_batching=mode)


def _inputs(k: int, config: train.TrainConfig, weights: str):
    run = experiment.preset("paper-exp1")
    backbone, _ = experiment.resolve_weights(weights, config.arch)
    conditions = run.grid.conditions(np.arange(k) % len(run.grid))
    root = jax.random.key(0)
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(np.arange(k))
    return keys, conditions, backbone


def _peak_bytes() -> tuple[int, str]:
    stats = None
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 -- not every backend has memory stats
        stats = None
    if stats and "peak_bytes_in_use" in stats and jax.default_backend() != "cpu":
        return int(stats["peak_bytes_in_use"]), "device peak_bytes_in_use"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process ru_maxrss"


def measure_one(
    size: int, mode: str, k: int, iterations: int, weights: str, evaluate: bool = True
) -> dict:
    """Measure one (mode, K) in this process (see the module docstring); without ``evaluate``
    the evaluation is not timed (``eval_s`` is then ``None``)."""
    config = _config(size, mode)
    keys, conditions, backbone = _inputs(k, config, weights)
    initial = siamese.init_model(backbone, config.arch, size)
    programs = train.compiled_programs(config, None)
    t0 = time.perf_counter()
    train_keys, test_keys, templates, states = programs.setup(keys, conditions, initial)
    jax.block_until_ready(states)
    setup_s = time.perf_counter() - t0

    def step(states):
        states, metrics = programs.step(train_keys, conditions, states, templates)
        jax.block_until_ready(metrics["loss"])
        return states

    t0 = time.perf_counter()
    states = step(states)
    first_s = time.perf_counter() - t0
    states = step(states)  # warm-up
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        states = step(states)
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)

    def run_eval(index):
        record = programs.accuracies(test_keys, conditions, states.params, templates["test"], index)
        record["layer_change"] = programs.layer_change(states.params, initial)
        jax.block_until_ready(record)

    eval_s = eval_compile_s = None
    if evaluate:
        t0 = time.perf_counter()
        run_eval(0)
        eval_first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_eval(1)
        eval_s = time.perf_counter() - t0
        eval_compile_s = max(0.0, eval_first_s - eval_s)
    peak, peak_kind = _peak_bytes()
    return {
        "mode": mode,
        "k": k,
        "size": size,
        "setup_s": setup_s,
        "compile_s": max(0.0, first_s - step_s),
        "step_s": step_s,
        "step_times_s": times,
        "eval_s": eval_s,
        "eval_compile_s": eval_compile_s,
        "per_condition_it_s": k / step_s,
        "images_s": 2 * config.batch_pairs * k / step_s,
        "peak_bytes": peak,
        "peak_kind": peak_kind,
        **_device_info(),
    }


def _run_child(args, mode: str, k: int) -> dict:
    spec = {"size": args.size, "mode": mode, "k": k, "iterations": args.iterations}
    spec["weights"] = args.weights
    spec["evaluate"] = k <= args.eval_max_k
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.95")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=args.child_timeout,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result["wall_s"] = time.perf_counter() - t0
            return result
    tail = (proc.stderr or proc.stdout)[-1500:]
    oom = "RESOURCE_EXHAUSTED" in tail or "out of memory" in tail.lower()
    return {"mode": mode, "k": k, "error": "out of memory" if oom else tail, "oom": oom}


def _k_values(text: str, on_cpu: bool) -> list[int] | None:
    if text == "auto":
        return [1, 2] if on_cpu else None  # CPU: K = 1 is the fastest (docs/training.md)
    values = sorted({int(v) for v in text.split(",") if v.strip()})
    if not values or values[0] < 1:
        raise SystemExit(f"--k must be 'auto' or positive integers, got {text!r}")
    return values


def sweep_k(args) -> list[dict]:
    """Every (mode, K) measurement, each in its own subprocess."""
    on_cpu = jax.default_backend() == "cpu"
    fixed = _k_values(args.k, on_cpu)
    results = []
    for mode in args.modes.split(","):
        cap = args.max_k if mode == "vectorized" else min(args.max_k, args.unrolled_max_k)
        ks = fixed if fixed is not None else [2**i for i in range(int(math.log2(cap)) + 1)]
        best = 0.0
        for k in ks:
            if k > cap and fixed is None:
                break
            r = _run_child(args, mode, k)
            results.append(r)
            _print_row(r)
            if "error" in r:
                break
            gain = r["per_condition_it_s"] / best if best else math.inf
            best = max(best, r["per_condition_it_s"])
            if fixed is None and gain < 1.05 and k >= 4:  # saturated
                break
    return results


def _fill_evaluation(results: list[dict]) -> list[dict]:
    """Where the evaluation was not timed, scale the largest timed K of the mode (linear in K)."""
    for r in results:
        if "error" in r or r["eval_s"] is not None:
            continue
        timed = [q for q in results if q.get("mode") == r["mode"] and q.get("eval_s") is not None]
        if timed:
            base = max(timed, key=lambda q: q["k"])
            r["eval_s"] = base["eval_s"] * r["k"] / base["k"]
            r["eval_compile_s"] = base["eval_compile_s"]
            r["eval_extrapolated_from_k"] = base["k"]
    return results


def _print_row(r: dict) -> None:
    if "error" in r:
        print(f"  {r['mode']:>10}  K={r['k']:<4} failed: {r['error'][:300]}", flush=True)
        return
    print(
        f"  {r['mode']:>10}  K={r['k']:<4} step {r['step_s'] * 1e3:8.1f} ms  "
        f"{r['per_condition_it_s']:8.2f} cond-it/s  {r['images_s']:8.0f} img/s  "
        f"compile {r['compile_s']:6.1f} s  eval "
        + (f"{r['eval_s']:6.2f} s  " if r["eval_s"] is not None else "not timed  ")
        + f"peak {r['peak_bytes'] / 2**20:8.0f} MiB ({r['peak_kind']})",
        flush=True,
    )


def summarize(results: list[dict]) -> dict:
    """Speed-up over K = 1 and the per-condition memory slope, per mode."""
    summary = {}
    ok = [r for r in results if "error" not in r]
    for mode in sorted({r["mode"] for r in ok}):
        rows = sorted((r for r in ok if r["mode"] == mode), key=lambda r: r["k"])
        base = next((r for r in rows if r["k"] == 1), rows[0])
        ks = np.array([r["k"] for r in rows], float)
        peaks = np.array([r["peak_bytes"] for r in rows], float)
        slope = float(np.polyfit(ks, peaks, 1)[0]) if len(rows) > 1 else None
        summary[mode] = {
            "speedup": {r["k"]: r["per_condition_it_s"] / base["per_condition_it_s"] for r in rows},
            "per_condition_bytes": slope,
            "base_k": base["k"],
        }
    return summary


def project(results: list[dict], config: train.TrainConfig) -> dict:
    """Projected wall time per device of each run in `RUNS` at the best measured (mode, K)."""
    ok = [r for r in results if "error" not in r and r["eval_s"] is not None]
    if not ok:
        return {}
    n_eval = len(config.eval_iterations) + len(config.test_separations)

    def seconds(r, conditions, iterations):
        chunks = math.ceil(conditions / r["k"])
        per_chunk = iterations * r["step_s"] + n_eval * r["eval_s"]
        return chunks * per_chunk + r["compile_s"] + r["eval_compile_s"]

    out = {}
    for name, (conditions, iterations) in RUNS.items():
        best = min(ok, key=lambda r: seconds(r, conditions, iterations))
        out[name] = {
            "mode": best["mode"],
            "k": best["k"],
            "seconds_per_device": seconds(best, conditions, iterations),
            "evaluation_share": math.ceil(conditions / best["k"])
            * n_eval
            * best["eval_s"]
            / seconds(best, conditions, iterations),
        }
    return out


def _short_config(size: int, mode: str, iterations: int) -> train.TrainConfig:
    base = train.TrainConfig(
        image_size=size,
        num_iterations=iterations,
        num_eval_points=1,
        test_pairs=40,
        fold_pairs=20,
        test_separations=(1.0, 10.0),
    )
    return _config(size, mode, base)


def short_training(size: int, mode: str, iterations: int, weights: str, device=None) -> dict:
    """Two conditions trained ``iterations`` steps (same keys) on ``device`` (default: default)."""
    config = _short_config(size, mode, iterations)
    ctx = jax.default_device(device) if device is not None else contextlib.nullcontext()
    with ctx:
        keys, conditions, backbone = _inputs(2, config, weights)
        result = train.train_conditions(keys, conditions, backbone, config=config)
    return {
        "accuracy": np.asarray(result.accuracy),
        "layer_change": np.asarray(result.layer_change),
        "train_loss": np.asarray(result.train_loss),
    }


def compare(got: dict, ref: dict) -> dict:
    """Max differences (accuracy: absolute; loss and layer change: relative) and the verdict."""
    out = {}
    for name, tol in TOLERANCES.items():
        a, b = np.asarray(got[name], np.float64), np.asarray(ref[name], np.float64)
        finite = np.isfinite(a) & np.isfinite(b)
        if name == "accuracy":
            diff = float(np.max(np.abs(a - b)[finite]))
        else:
            scale = np.maximum(np.abs(b), 1e-6)
            diff = float(np.max((np.abs(a - b) / scale)[finite & (np.abs(b) > 1e-6)], initial=0.0))
        out[name] = {"max_diff": diff, "tolerance": tol, "ok": bool(diff <= tol)}
    return out


def agreement(args) -> dict:
    on_cpu = jax.default_backend() == "cpu"
    mode = "vectorized" if not on_cpu else args.agreement_mode
    got = short_training(args.agreement_size, mode, args.agreement_iterations, args.weights)
    if args.reference:
        ref = dict(np.load(args.reference))
        against = f"reference file {args.reference}"
    else:
        ref_mode = "unrolled" if mode == "vectorized" else "vectorized"
        if not on_cpu:
            ref_mode = args.batching_cpu
        ref = short_training(
            args.agreement_size,
            ref_mode,
            args.agreement_iterations,
            args.weights,
            device=jax.devices("cpu")[0],
        )
        against = f"CPU backend, {ref_mode} batching"
    if args.save_reference:
        np.savez(args.save_reference, **(ref if args.reference is None else got))
    return {
        "device_mode": mode,
        "against": against,
        "size": args.agreement_size,
        "iterations": args.agreement_iterations,
        "result": compare(got, ref),
    }


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.1f} min"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=train.PAPER_IMAGE_SIZE, help="image side, px")
    parser.add_argument("--k", default="auto", help="'auto' (doubling) or a list like 1,2,4")
    parser.add_argument("--modes", default="vectorized,unrolled")
    parser.add_argument("--max-k", type=int, default=256, help="largest K tried by 'auto'")
    parser.add_argument("--unrolled-max-k", type=int, default=8, help="its compile grows ~K")
    parser.add_argument("--iterations", type=int, default=5, help="timed steps per (mode, K)")
    parser.add_argument(
        "--eval-max-k",
        type=int,
        default=1 << 30,
        help="time the evaluation only up to this K; above it scale the largest measured K's",
    )
    parser.add_argument("--weights", default="default", help="default, a file or random:SEED")
    parser.add_argument("--agreement-size", type=int, default=None, help="default: --size")
    parser.add_argument("--agreement-iterations", type=int, default=3)
    parser.add_argument("--agreement-mode", default="vectorized", help="on CPU: vs the other")
    parser.add_argument("--batching-cpu", default="unrolled", help="CPU reference's batching")
    parser.add_argument("--reference", default=None, help="compare with a saved .npz instead")
    parser.add_argument("--save-reference", default=None, help="save the reference (.npz)")
    parser.add_argument("--skip", default="", help="comma list of: throughput, agreement")
    parser.add_argument("--child-timeout", type=float, default=1800.0)
    parser.add_argument("--precision", default=None, help="jax_default_matmul_precision")
    parser.add_argument("--json", default=None, help="write every figure to this JSON file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.precision:
        jax.config.update("jax_default_matmul_precision", args.precision)
        os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = args.precision
    if args.child:
        spec = json.loads(args.child)
        print("RESULT " + json.dumps(measure_one(**spec)), flush=True)
        return 0
    args.agreement_size = args.agreement_size or args.size
    skip = set(filter(None, args.skip.split(",")))
    info = _device_info()
    load = os.getloadavg()
    print(
        f"backend {info['backend']} ({info['device']}, {info['devices']} device(s)), "
        f"jax {info['jax']}, {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f}; image size {args.size} px",
        flush=True,
    )
    report = {"info": info, "load_start": load, "size": args.size}
    t_start = time.perf_counter()
    if "throughput" not in skip:
        print("throughput (each line a fresh process):", flush=True)
        results = _fill_evaluation(sweep_k(args))
        report["results"] = results
        report["summary"] = summarize(results)
        for mode, s in report["summary"].items():
            gains = ", ".join(f"K={k}: {v:.2f}" for k, v in s["speedup"].items())
            slope = s["per_condition_bytes"]
            mem = f"{slope / 2**20:.0f} MiB per extra condition" if slope is not None else "-"
            print(f"  {mode}: per-condition throughput vs K={s['base_k']}: {gains}; {mem}")
        config = _config(args.size, "vectorized")
        report["projection"] = project(results, config)
        for name, p in report["projection"].items():
            conditions, iterations = RUNS[name]
            print(
                f"projected {name} ({conditions} conditions x {iterations} iterations, "
                f"{args.size} px) on one {info['device']}: {_hours(p['seconds_per_device'])} "
                f"at {p['mode']} K={p['k']} (evaluation {p['evaluation_share']:.0%} of it); "
                f"n devices running farm jobs take 1/n of it",
                flush=True,
            )
    if "agreement" not in skip:
        report["agreement"] = agreement(args)
        a = report["agreement"]
        print(
            f"agreement ({a['size']} px, {a['iterations']} iterations, 2 conditions, "
            f"{a['device_mode']} on {info['backend']} vs {a['against']}):",
            flush=True,
        )
        for name, r in a["result"].items():
            verdict = "ok" if r["ok"] else "OUTSIDE TOLERANCE"
            print(
                f"  {name}: max diff {r['max_diff']:.2e} (tolerance {r['tolerance']:g}) {verdict}"
            )
    report["load_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - t_start
    print(
        f"load average at the end {report['load_end'][0]:.1f}; wall time {report['wall_s']:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
