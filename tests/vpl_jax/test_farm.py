"""Tests of vpl_jax.farm: locks, status, the local executor with real spawned workers (killed and
resubmitted), the Slurm path (a mocked ``sbatch``: the job array submitit writes and the jobs it
pickles), merge errors.

The training runs use the ``smoke`` preset with every conv layer frozen (2 chunks of one
condition at 67 px, 3 iterations). Worker processes share a JAX compilation cache through
``JAX_COMPILATION_CACHE_DIR``, filled by the one-process reference sweep, so that no worker
compiles again.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from theory.checks import InputError
from vpl_jax import experiment, farm, farm_commands, runs

FAST = ["frozen_layers=5", "num_iterations=3", "learning_rate=0.001"]
CONFIG = experiment.apply_overrides(experiment.preset("smoke"), FAST)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(proc.stdout)


def _write_lock(path: Path, **record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"token": "t", "acquired": time.time(), **record}))


def _poll(predicate, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _assert_same_results(a, b) -> None:
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for name in a.coords:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def _assert_same_trees(a, b) -> None:
    flat_a, tree_a = jax.tree_util.tree_flatten(a)
    flat_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    for x, y in zip(flat_a, flat_b, strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------------------------
# Locks (no training)


def test_lock_is_exclusive_and_released_only_by_its_holder(tmp_path):
    path = tmp_path / "farm" / "chunk_00000.lock"
    results = []
    barrier = threading.Barrier(8)

    def take():
        barrier.wait()
        results.append(farm.acquire_lock(path))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [lock for lock in results if lock is not None]
    assert len(held) == 1  # O_EXCL: exactly one winner; the others see a live holder
    record, _ = farm.read_lock(path)
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert record["token"] == held[0].token
    farm.release_lock(farm.Lock(path, "someone-else"))  # a stranger's token removes nothing
    assert path.exists()
    farm.release_lock(held[0])
    assert not path.exists()
    assert farm.acquire_lock(path) is not None


def test_stale_lock_rules(tmp_path, monkeypatch):
    now = time.time()
    host = socket.gethostname()
    live = {"host": host, "pid": os.getpid(), "job": f"{host}:{os.getpid()}"}
    dead = {"host": host, "pid": _dead_pid(), "job": "x"}
    remote = {"host": "node-17.cluster", "pid": 1234, "job": "999_3"}
    stale = lambda rec, age=0.0, **kw: farm.lock_is_stale(rec, now - age, now=now, **kw)  # noqa: E731
    assert not stale(live)
    assert stale(dead)  # rule 1: its pid is gone on this host
    assert not stale(remote)  # another host: trusted while its heartbeat is fresh
    assert stale(remote, age=farm.STALE_AFTER_S + 1)  # rule 3: heartbeat too old
    assert not stale(remote, age=farm.STALE_AFTER_S - 1)
    assert stale(remote, stale_after_s=10.0, age=11.0)
    assert stale(remote, dead_jobs=["999_3"])  # rule 2: the scheduler reported it dead
    assert not stale(remote, dead_jobs=["999_4"])
    assert stale(remote, job_id="999_3")  # rule 2: a requeued incarnation of the same job
    assert stale(live, age=farm.STALE_AFTER_S + 1)  # a reused pid cannot keep a lock forever
    assert not stale(None) and stale(None, age=farm.STALE_AFTER_S + 1)  # half-written lock

    # acquire_lock breaks exactly the stale ones
    path = tmp_path / "chunk_00001.lock"
    _write_lock(path, **dead)
    lock = farm.acquire_lock(path)
    assert lock is not None and farm.read_lock(path)[0]["pid"] == os.getpid()
    farm.release_lock(lock)
    _write_lock(path, **remote)
    assert farm.acquire_lock(path) is None  # live on another host
    old = time.time() - farm.STALE_AFTER_S - 5
    os.utime(path, (old, old))
    assert farm.acquire_lock(path) is not None  # its heartbeat stopped
    path.unlink()
    _write_lock(path, **remote)
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "999")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert farm.current_job_id() == "999_3"
    lock = farm.acquire_lock(path)  # requeued on another node: its own earlier lock
    assert lock is not None and farm.read_lock(path)[0]["job"] == "999_3"


# --------------------------------------------------------------------------------------------
# Status and merge errors on planted run folders (no training)


def _planted_run(tmp_path, references):
    config = experiment.apply_overrides(CONFIG, [f"reference_deg={references}"])
    out = tmp_path / "run"
    context = experiment.prepare(config, out_dir=out, weights="random:0")
    return config, context, out


def _plant_chunk(config, context, index):
    provenance = {
        "config_sha256": experiment.config_sha256(config),
        "weights_sha256": context.weights_info["sha256"],
        "chunk": index,
        "conditions": experiment.chunk_conditions(config, index).tolist(),
    }
    tree = {f: np.zeros((1, 2), np.float32) for f in ("accuracy", "train_loss")}
    runs.save_tree(runs.chunk_path(context.out, index), tree, provenance=provenance)


def test_status_counts_and_eta_on_planted_records(tmp_path):
    config, context, out = _planted_run(tmp_path, "0,45,90,135,20")
    assert config.num_chunks == 5
    t0 = 1_000_000.0
    _plant_chunk(config, context, 0)
    attempts0 = [{"started": t0, "ended": t0 + 100, "outcome": "trained", "pid": 1, "job": "a"}]
    runs.write_text(farm.attempts_path(out, 0), json.dumps({"attempts": attempts0}))
    _plant_chunk(config, context, 1)
    attempts1 = [
        {"started": t0, "pid": 2, "job": "b"},  # killed: no end
        {"started": t0 + 10, "ended": t0 + 310, "outcome": "trained", "pid": 3, "job": "c"},
    ]
    runs.write_text(farm.attempts_path(out, 1), json.dumps({"attempts": attempts1}))
    now = t0 + 1000
    # chunk 2 running for 50 s (a live lock: this process), chunk 3 failed, chunk 4 pending
    host = socket.gethostname()
    _write_lock(farm.lock_path(out, 2), host=host, pid=os.getpid(), job="d", acquired=now - 50)
    os.utime(farm.lock_path(out, 2), (now, now))
    failed = [{"started": t0, "ended": t0 + 5, "outcome": "failed", "error": "RuntimeError: boom"}]
    runs.write_text(farm.attempts_path(out, 3), json.dumps({"attempts": failed}))

    state = farm.status(out, now=now)
    assert [c.state for c in state.chunks] == ["done", "done", "running", "failed", "pending"]
    assert state.counts == {"done": 2, "running": 1, "failed": 1, "pending": 1}
    assert state.chunks[1].attempts == 2 and state.chunks[1].seconds == pytest.approx(300)
    assert state.chunks[2].seconds == pytest.approx(50)
    assert state.chunks[2].holder["pid"] == os.getpid()
    assert "boom" in state.chunks[3].error
    assert state.mean_chunk_s == pytest.approx(200.0)  # (100 + 300) / 2
    # the running chunk has 150 s left, the failed and the pending one 200 s each; one runs at once
    assert state.eta_s == pytest.approx(150 + 2 * 200)
    assert not state.finished and not state.results
    # a dead holder turns "running" into "failed"
    _write_lock(farm.lock_path(out, 2), host=socket.gethostname(), pid=_dead_pid(), job="d")
    assert farm.status(out).chunks[2].state == "failed"
    assert "died holding the lock" in farm.status(out).chunks[2].error
    # the CLI prints the same counts
    parser = argparse.ArgumentParser()
    farm_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["farm", "status", "--out", str(out), "--json"])
    assert args.handler(args) == 0


def test_merge_names_a_missing_or_corrupted_chunk(tmp_path):
    config, context, out = _planted_run(tmp_path, "0,90")
    _plant_chunk(config, context, 0)
    with pytest.raises(runs.CheckpointError, match=r"chunk 1 .*has not been computed"):
        farm.merge(out)
    _plant_chunk(config, context, 1)
    files = [p for p in runs.chunk_path(out, 0).rglob("*") if p.is_file() and p.parent.name == "d"]
    assert files
    for f in files:
        data = bytearray(f.read_bytes())
        data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
        f.write_bytes(bytes(data))
    with pytest.raises(runs.CheckpointError, match=r"chunk_00000.*(corrupted|sha256)"):
        farm.merge(out)
    assert not runs.results_path(out).exists()


# --------------------------------------------------------------------------------------------
# Bad input


def test_bad_options_raise_before_anything_is_written(tmp_path):
    with pytest.raises(InputError, match=r"LocalExecutor.workers must be an int >= 1, got 0"):
        farm.LocalExecutor(workers=0)
    with pytest.raises(InputError, match=r"SlurmExecutor.time_min must be an int >= 1"):
        farm.SlurmExecutor(time_min=0)
    with pytest.raises(InputError, match=r"SlurmExecutor.partition must be a non-empty name"):
        farm.SlurmExecutor(partition="")
    with pytest.raises(InputError, match=r"SlurmExecutor.array_parallelism must be an int >= 1"):
        farm.SlurmExecutor(array_parallelism=0)
    with pytest.raises(InputError, match=r"SlurmExecutor.cluster must be None, 'slurm'"):
        farm.SlurmExecutor(cluster="pbs")
    out = tmp_path / "never"
    with pytest.raises(InputError, match=r"executor must be a farm executor"):
        farm.submit(CONFIG, out, "random:0", executor=object())
    with pytest.raises(InputError, match=r"missing.npz"):
        farm.submit(CONFIG, out, str(tmp_path / "missing.npz"))
    assert not out.exists()
    with pytest.raises(runs.RunFolderError, match=r"is not a run folder"):
        farm.status(tmp_path)
    with pytest.raises(InputError, match=r"max_retries must be an int >= 0"):
        farm.wait(farm.Submission(out, farm.LocalExecutor()), max_retries=-1)
    with pytest.raises(InputError, match=r"--time must look like"):
        farm_commands.parse_time("two hours")
    assert [farm_commands.parse_time(t) for t in ("90", "1:30", "02:00:00", "1-2:30")] == [
        90,
        2,
        120,
        1590,
    ]


# --------------------------------------------------------------------------------------------
# The Slurm path with a mocked sbatch (no training)


def test_slurm_executor_writes_a_job_array_and_pickles_runnable_chunk_jobs(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        f'#!/bin/sh\ncp "$1" {tmp_path}/submitted.sh\necho "$@" > {tmp_path}/sbatch_args\n'
        'echo "Submitted batch job 4242"\n'
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config, context, out = _planted_run(tmp_path, "0,90,45")
    _plant_chunk(config, context, 1)  # finished: not submitted
    executor = farm.SlurmExecutor(
        partition="gpu",
        time_min=90,
        gpus_per_job=2,
        cpus_per_task=8,
        mem_gb=32,
        array_parallelism=1,
        setup=["source ~/venv/bin/activate"],
        additional={"account": "vpl"},
    )
    submission = farm.submit(config, out, "random:0", executor)
    assert sorted(submission.jobs) == [0, 2]
    assert [submission.jobs[c].job_id for c in (0, 2)] == ["4242_0", "4242_1"]
    script = (tmp_path / "submitted.sh").read_text()
    for flag in (
        "--partition=gpu",
        "--time=90",
        "--gpus-per-node=2",
        "--cpus-per-task=8",
        "--mem=32GB",
        "--array=0-1%1",
        "--account=vpl",
        "--job-name=vpl-jax-run",
    ):
        assert f"#SBATCH {flag}" in script, (flag, script)
    assert "source ~/venv/bin/activate" in script and "submitit.core._submit" in script
    # what each array task will run: the pickled ChunkTask of its chunk, requeueable
    for chunk, job in submission.jobs.items():
        delayed = submitit.helpers.DelayedSubmission.load(job.job.paths.submitted_pickle)
        assert delayed.function == farm.ChunkTask(str(out), chunk)
        assert isinstance(delayed.function.checkpoint(), submitit.helpers.DelayedSubmission)
    # running a task for a finished chunk returns at once, as a requeued job would
    assert farm.ChunkTask(str(out), 1)()["outcome"] == "finished"

    # the farm's view of submitit job states
    class FakeJob:
        def __init__(self, state, done, exc=None):
            self.state, self._done, self._exc, self.job_id = state, done, exc, "1_0"

        def done(self):
            return self._done

        def exception(self):
            return self._exc

    cases = [
        (("PENDING", False), "PENDING"),
        (("REQUEUED", False), "PENDING"),
        (("RUNNING", False), "RUNNING"),
        (("COMPLETED", True), "COMPLETED"),
        (("COMPLETED", True, RuntimeError("x")), "FAILED"),
        (("TIMEOUT", True, RuntimeError("t")), "FAILED"),
        (("NODE_FAIL", True, RuntimeError("n")), "FAILED"),
    ]
    for args, expected in cases:
        assert farm.SlurmJob(FakeJob(*args)).state() == expected, args


# --------------------------------------------------------------------------------------------
# The real thing: spawned workers, a SIGKILL, resubmission


def test_local_farm_survives_a_sigkill_and_equals_the_one_process_sweep(tmp_path, monkeypatch):
    cache = tmp_path / "jax_cache"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))  # for the workers only
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    monkeypatch.setenv(farm.PAUSE_ENV, "1:600")  # the first attempt at chunk 1 sleeps mid-chunk
    # the reference: the same sweep in one process (it fills the workers' compilation cache)
    code = (
        "import sys; from vpl_jax import experiment; "
        "c = experiment.apply_overrides(experiment.preset('smoke'), sys.argv[2:]); "
        "experiment.sweep(c, out_dir=sys.argv[1], weights='random:0', progress=False)"
    )
    repo = Path(experiment.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop(farm.PAUSE_ENV)
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "ref"), *FAST], env=env, check=True)
    reference = runs.load_results(tmp_path / "ref")

    out = tmp_path / "farmed"
    executor = farm.LocalExecutor(workers=2)
    assert executor.context.get_start_method() == "spawn"
    submission = farm.submit(CONFIG, out, "random:0", executor)
    assert sorted(submission.jobs) == [0, 1]
    pids = {c: j.process.pid for c, j in submission.jobs.items()}
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()

    marker = out / farm.FARM_DIR / "chunk_00001.paused"
    _poll(lambda: marker.exists() or submission.jobs[1].state() == "FAILED", 300, "the pause")
    assert marker.exists(), submission.jobs[1].log_path.read_text()[-3000:]
    victim = int(marker.read_text())
    assert victim == pids[1]
    assert farm.status(out).chunks[1].state == "running"  # mid-chunk, holding its lock
    os.kill(victim, signal.SIGKILL)
    _poll(lambda: submission.jobs[1].state() == "FAILED", 60, "the killed job to fail")
    killed = farm.status(out)
    assert killed.chunks[1].state == "failed"  # its lock's pid is dead
    assert not runs.is_finished(runs.chunk_path(out, 1))

    final = farm.wait(submission, max_retries=2, poll_s=0.25)
    assert final.finished and final.counts["done"] == 2 and final.eta_s == 0
    assert submission.attempts == {0: 1, 1: 2}
    assert "killed by signal 9" in submission.errors[1][0]
    assert 0 not in submission.errors
    assert final.mean_chunk_s > 0
    # every chunk computed once: one trained attempt each; the killed one never ended
    a0, a1 = farm.read_attempts(out, 0), farm.read_attempts(out, 1)
    assert [a.get("outcome") for a in a0] == ["trained"]
    assert [a.get("outcome") for a in a1] == [None, "trained"]
    assert a1[0]["pid"] == victim and "ended" not in a1[0] and a1[1]["pid"] != victim
    assert not any(farm.lock_path(out, c).exists() for c in (0, 1))

    ds = farm.merge(out)
    _assert_same_results(ds, reference)
    _assert_same_results(runs.load_results(out), reference)
    for c in range(CONFIG.num_chunks):
        _assert_same_trees(
            runs.restore_tree(runs.chunk_path(out, c)),
            runs.restore_tree(runs.chunk_path(tmp_path / "ref", c)),
        )
    _assert_same_trees(
        runs.restore_tree(runs.initial_params_path(out)),
        runs.restore_tree(runs.initial_params_path(tmp_path / "ref")),
    )
    assert (out / runs.SUMMARY_FILE).read_text().startswith("preset smoke")

    # submitting again recomputes nothing
    manifests = {c: runs.chunk_path(out, c).with_suffix(".json").stat().st_mtime_ns for c in (0, 1)}
    again = farm.submit(CONFIG, out, "random:0", farm.LocalExecutor(workers=2))
    assert again.jobs == {} and farm.wait(again).finished
    assert manifests == {
        c: runs.chunk_path(out, c).with_suffix(".json").stat().st_mtime_ns for c in (0, 1)
    }


def test_cli_builds_executors_and_merges(tmp_path):
    parser = argparse.ArgumentParser()
    farm_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["farm", "submit", "--out", str(tmp_path), "--executor", "local", "--workers", "3"]
    )
    assert args.preset == "paper-exp1"
    executor = farm_commands.make_executor(args)
    assert isinstance(executor, farm.LocalExecutor) and executor.workers == 3
    args = parser.parse_args(
        ["farm", "submit", "--out", str(tmp_path), "--executor", "slurm", "--partition", "gpu",
         "--time", "1-00:00:00", "--gpus-per-job", "4", "--array-parallelism", "16",
         "--set", "chunk_size=32", "--setup", "module load cuda"]
    )  # fmt: skip
    executor = farm_commands.make_executor(args)
    assert isinstance(executor, farm.SlurmExecutor)
    assert executor.parameters()["slurm_partition"] == "gpu"
    assert executor.parameters()["timeout_min"] == 1440
    assert executor.parameters()["gpus_per_node"] == 4
    assert executor.parameters()["slurm_array_parallelism"] == 16
    assert executor.parameters()["slurm_setup"] == ["module load cuda"]
    args = parser.parse_args(["farm", "merge", "--out", str(tmp_path)])
    with pytest.raises(runs.RunFolderError, match="is not a run folder"):
        args.handler(args)
    args = parser.parse_args(["farm", "submit", "--out", str(tmp_path), "--detach"])
    with pytest.raises(InputError, match="--detach works with --executor slurm only"):
        args.handler(args)
    assert not (tmp_path / runs.CONFIG_FILE).exists()
