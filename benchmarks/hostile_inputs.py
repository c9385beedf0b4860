"""Hostile-user counts: bad command lines, damaged weight and results files, kills mid-sweep.

Prints, for each class of input, how many were tried and how many ended as a named one-line
error, a correct result, a traceback of another type, a process abort, or a silently wrong
result. The same classes run (fewer of them) in ``tests/test_hostile_input.py``.

    python benchmarks/hostile_inputs.py [--cases 200] [--kills 3]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from theory.checks import InputError
from vpl_jax import cli, experiment, runs, weights

FAST = ["frozen_layers=5", "num_iterations=3", "learning_rate=0.001"]
KEYS = list(experiment.OVERRIDE_KEYS) + ["no_such_key"]
VALUES = ["inf", "-inf", "nan", "1e300", "1e-46", "4294967297", "", "x", "-1", "0", "1,2", "true"]


def command_lines(rng, n: int, tmp: Path) -> collections.Counter:
    import contextlib
    import io

    counts = collections.Counter()
    for i in range(n):
        item = f"{rng.choice(KEYS)}={rng.choice(VALUES)}"
        try:
            experiment.apply_overrides(experiment.preset("smoke"), [item])
            counts["valid (not run)"] += 1
            continue
        except InputError:
            pass
        except Exception:  # noqa: BLE001
            counts["traceback"] += 1
            continue
        out = tmp / f"cl{i}"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = cli.main(
                    [
                        "sweep",
                        "--preset",
                        "smoke",
                        "--weights",
                        "random:0",
                        "--out",
                        str(out),
                        "--quiet",
                        "--set",
                        item,
                    ]
                )
            except Exception:  # noqa: BLE001
                code = -1
        lines = err.getvalue().strip().splitlines()
        ok = code == 2 and len(lines) == 1 and lines[0].startswith("vpl-jax: error:")
        counts["one-line error" if ok and not out.exists() else "traceback"] += 1
    return counts


def damaged_weights(rng, n: int, tmp: Path) -> collections.Counter:
    counts = collections.Counter()
    src = tmp / "w.npz"
    params, arch, _ = weights.load_with_info("random:1")
    weights.save(params, src, arch=arch)
    clean = src.read_bytes()
    for i in range(n):
        data = bytearray(clean)
        j = int(rng.integers(len(data)))
        kind = rng.choice(["flip", "truncate", "zero"])
        if kind == "flip":
            data[j] ^= 1 << int(rng.integers(8))
        elif kind == "truncate":
            data = data[:j]
        else:
            data[j : j + 64] = bytes(len(data[j : j + 64]))
        path = tmp / f"d{i}.npz"
        path.write_bytes(bytes(data))
        try:
            got = weights.load(path)
        except weights.WeightsError:
            counts["named error"] += 1
            continue
        except Exception:  # noqa: BLE001
            counts["traceback"] += 1
            continue
        same = all(np.array_equal(got[k][p], params[k][p]) for k in params for p in ("w", "b"))
        counts["identical weights" if same else "SILENTLY WRONG"] += 1
    return counts


def damaged_results(rng, n: int, tmp: Path) -> collections.Counter:
    counts = collections.Counter()
    out = tmp / "run"
    experiment.sweep(
        experiment.apply_overrides(experiment.preset("smoke"), FAST),
        out_dir=out,
        weights="random:0",
        progress=False,
    )
    clean = runs.results_path(out).read_bytes()
    reference = runs.load_results(out)
    for _ in range(n):
        data = bytearray(clean)
        data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        runs.results_path(out).write_bytes(bytes(data))
        try:
            ds = runs.load_results(out)
        except runs.CheckpointError:
            counts["named error"] += 1
            continue
        except Exception:  # noqa: BLE001
            counts["traceback"] += 1
            continue
        same = all(np.array_equal(ds[v].values, reference[v].values, equal_nan=True) for v in ds)
        counts["identical results" if same else "SILENTLY WRONG"] += 1
    runs.results_path(out).write_bytes(clean)
    return counts


def kills(k: int, tmp: Path) -> collections.Counter:
    """SIGKILL a sweep of 4 chunks after its first chunk; resume; compare with one clean run."""
    counts = collections.Counter()
    sets = [a for s in [*FAST, "reference_deg=0,45,90,135"] for a in ("--set", s)]
    base = [
        sys.executable,
        "-m",
        "vpl_jax.cli",
        "sweep",
        "--preset",
        "smoke",
        "--weights",
        "random:0",
        "--quiet",
        *sets,
    ]
    clean = tmp / "clean"
    subprocess.run([*base, "--out", str(clean)], check=True, capture_output=True)
    want = runs.load_results(clean)
    for i in range(k):
        out = tmp / f"killed{i}"
        proc = subprocess.Popen(
            [*base, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while proc.poll() is None and not runs.is_finished(runs.chunk_path(out, i % 3)):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = {
            c: runs.chunk_path(out, c).with_suffix(".json").stat().st_mtime_ns
            for c in range(4)
            if runs.is_finished(runs.chunk_path(out, c))
        }
        subprocess.run([*base, "--out", str(out)], check=True, capture_output=True)
        after = {c: runs.chunk_path(out, c).with_suffix(".json").stat().st_mtime_ns for c in before}
        counts["recomputed chunks"] += sum(before[c] != after[c] for c in before)
        got = runs.load_results(out)
        same = all(np.array_equal(got[v].values, want[v].values, equal_nan=True) for v in want)
        counts["resumed identical" if same else "SILENTLY WRONG"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="inputs per class")
    parser.add_argument("--kills", type=int, default=3, help="kill-and-resume rounds")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="hostile_"))
    try:
        for name, fun in (
            ("invalid --set command lines", lambda: command_lines(rng, args.cases, tmp)),
            ("damaged weight files", lambda: damaged_weights(rng, args.cases, tmp)),
            ("flipped results.nc bytes", lambda: damaged_results(rng, args.cases, tmp)),
            ("SIGKILL mid-sweep, then resume", lambda: kills(args.kills, tmp)),
        ):
            t0 = time.perf_counter()
            counts = fun()
            print(
                f"{name}: "
                + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                + f"  ({time.perf_counter() - t0:.0f} s)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
