"""A task farm for sweeps: the chunks of a run folder as jobs on a local process pool or Slurm.

A sweep (`vpl_jax.experiment`) is a grid of conditions trained in chunks of K; each chunk is
independent given the run folder (its config record names the weights, and condition ``i``
always uses the key ``fold_in(key(seed), i)``). The farm turns every unfinished chunk into a
*job*, ``ChunkTask(out_dir, index)``, run by a pluggable *executor*:

* `LocalExecutor` -- at most ``workers`` worker processes at once on this machine, each started
  with the multiprocessing ``"spawn"`` context (never ``fork``: the processes import JAX), one
  process per job, so a killed worker takes only its own job down.
* `SlurmExecutor` -- Slurm job arrays through ``submitit`` (imported only when used):
  partition, time limit, GPUs per job, array parallelism; ``cluster="debug"`` or ``"local"``
  selects submitit's own in-process or local-subprocess executors for trying a setup out.

An executor is any object with ``name`` and ``submit(tasks) -> list[job]``; a job has
``job_id``, ``state()`` (one of `JOB_STATES`) and ``error()``. A Ray executor would sit behind the
same two methods.

A job (`run_chunk`) opens the run (`experiment.open_run`: the config record, and the weights it
names, checked against their sha256), takes the chunk's lock, trains the chunk with
`experiment.train_chunk` (jit(vmap) over its K conditions, sharded over the job's local
devices), which writes the chunk's checkpoint atomically, and releases the lock. It is
idempotent: a finished chunk is never recomputed (the job returns at once), and a preempted or
killed job is simply run again (`wait` resubmits it; a Slurm job requeued by submitit resumes
under the same job id).

**Locks.** Two jobs never write one chunk: before training, a job creates
``<out_dir>/farm/chunk_NNNNN.lock`` with ``os.open(..., O_CREAT | O_EXCL)``, which succeeds for
exactly one process (also on NFS v3 and later). The lock holds the holder's host, pid, job id
and acquisition time; while training, a heartbeat thread touches it every ``heartbeat_s``
seconds. A lock is *stale* -- and a new job may break it -- when

1. its holder ran on this host and that pid is no longer alive, or
2. its job id is the job id of the process asking (a Slurm job requeued after preemption keeps
   its id), or is one the scheduler reported dead (``dead_jobs``, passed by `wait`), or
3. its heartbeat (the file's mtime) is older than ``stale_after_s`` (default
   `STALE_AFTER_S`; holders on other hosts, or a pid reused on this host).

A stale lock is broken under a second exclusive file (``.lock.break``) after re-reading that it
is still the same stale lock, so two jobs breaking one lock cannot both win. A job that finds a
live lock returns at once with the outcome ``"busy"`` (another job is training the chunk).

**Records.** Each attempt is appended to ``<out_dir>/farm/chunk_NNNNN.json`` (written only by
the lock holder): host, pid, job id, start and end times (Unix seconds) and the outcome
(``"trained"``, ``"failed"``; an attempt without an end was killed). `status` derives the state
of every chunk and an ETA from these records; worker logs of the local executor go to
``<out_dir>/farm/logs``.

The library prints nothing; ``vpl-jax farm`` (`vpl_jax.farm_commands`) is the command line.

Fault injection (for tests of recovery): with ``VPL_JAX_FARM_PAUSE="<chunk>:<seconds>"`` in a
worker's environment, the first attempt at that chunk writes ``farm/chunk_NNNNN.paused`` after
its first training iteration and sleeps, so that it can be killed mid-chunk.

Examples:
    >>> from vpl_jax import farm
    >>> farm.LocalExecutor(workers=2).workers
    2
    >>> farm.lock_path("run", 3).name
    'chunk_00003.lock'
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from theory.checks import InputError
from vpl_jax import experiment, runs, siamese

__all__ = [
    "CHUNK_STATES",
    "ChunkState",
    "ChunkTask",
    "Executor",
    "FARM_DIR",
    "HEARTBEAT_S",
    "FarmStatus",
    "JOB_STATES",
    "Job",
    "LocalExecutor",
    "LocalJob",
    "Lock",
    "PAUSE_ENV",
    "STALE_AFTER_S",
    "SlurmExecutor",
    "SlurmJob",
    "Submission",
    "acquire_lock",
    "attempts_path",
    "current_job_id",
    "ensure_initial_params",
    "farm_dir",
    "lock_is_stale",
    "lock_path",
    "merge",
    "read_attempts",
    "read_lock",
    "release_lock",
    "run_chunk",
    "status",
    "submit",
    "wait",
]

FARM_DIR = "farm"
#: A lock whose heartbeat is older than this (seconds) is stale (rule 3 of the module docstring).
STALE_AFTER_S = 600.0
#: Seconds between heartbeats of a held lock.
HEARTBEAT_S = 30.0
#: A ``.lock.break`` file older than this (seconds) belonged to a breaker that died.
BREAK_STALE_S = 60.0
#: Job states as every executor reports them.
JOB_STATES = ("PENDING", "RUNNING", "COMPLETED", "FAILED")
#: Chunk states reported by `status`.
CHUNK_STATES = ("done", "running", "failed", "pending")
PAUSE_ENV = "VPL_JAX_FARM_PAUSE"


# --------------------------------------------------------------------------------------------
# Paths and records


def farm_dir(out_dir) -> Path:
    return Path(out_dir) / FARM_DIR


def lock_path(out_dir, index: int | str) -> Path:
    """The lock of chunk ``index`` (or of a named resource such as ``"initial_params"``)."""
    name = f"chunk_{index:05d}" if isinstance(index, int) else str(index)
    return farm_dir(out_dir) / f"{name}.lock"


def attempts_path(out_dir, index: int) -> Path:
    """The attempt record of chunk ``index``."""
    return farm_dir(out_dir) / f"chunk_{index:05d}.json"


def read_attempts(out_dir, index: int) -> list[dict]:
    """The attempts at chunk ``index`` (oldest first; ``[]`` when none or unreadable)."""
    try:
        record = json.loads(attempts_path(out_dir, index).read_text())
        return list(record["attempts"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write_attempts(out_dir, index: int, attempts: list[dict]) -> None:
    runs.write_text(attempts_path(out_dir, index), json.dumps({"attempts": attempts}, indent=1))


def current_job_id() -> str:
    """This process's job id: the Slurm array task (``<array job>_<task>``) or job id when run
    by Slurm, else ``<host>:<pid>``."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    if env.get("SLURM_JOB_ID"):
        return env["SLURM_JOB_ID"]
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------------------------
# Locks


@dataclasses.dataclass(frozen=True)
class Lock:
    """A held lock: its file and the token written in it (release removes only its own)."""

    path: Path
    token: str


def read_lock(path) -> tuple[dict | None, float | None]:
    """``(record, mtime)`` of a lock file; ``(None, mtime)`` while it is being written or when
    unreadable, ``(None, None)`` when there is no lock."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None, None
    try:
        record = json.loads(path.read_text())
        return (record if isinstance(record, dict) else None), mtime
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError):
        return None, mtime


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def lock_is_stale(
    record: dict | None,
    mtime: float,
    *,
    now: float | None = None,
    stale_after_s: float = STALE_AFTER_S,
    dead_jobs: Iterable[str] = (),
    host: str | None = None,
    job_id: str | None = None,
) -> bool:
    """Whether a lock (its record and mtime) may be broken; the rules of the module docstring.

    Args:
        record: the lock's JSON record (``None``: unreadable or still being written).
        mtime: the lock file's mtime (its last heartbeat), Unix seconds.
        now: the current time (default: ``time.time()``).
        stale_after_s: heartbeat age (s) after which any lock is stale.
        dead_jobs: job ids the scheduler reported dead.
        host, job_id: the asking process's host and job id (default: this process's).
    """
    now = time.time() if now is None else now
    if now - mtime > stale_after_s:
        return True
    if record is None:
        return False
    holder_job = record.get("job")
    if holder_job is not None and holder_job in set(dead_jobs):
        return True
    host = socket.gethostname() if host is None else host
    job_id = current_job_id() if job_id is None else job_id
    same_process = record.get("host") == host and record.get("pid") == os.getpid()
    if holder_job == job_id and not same_process:  # a requeued incarnation of this job
        return True
    if record.get("host") == host:
        return not _pid_alive(int(record.get("pid", -1)))
    return False


def _create_exclusive(path: Path, text: str) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _break_stale(path: Path, record: dict | None, mtime: float, is_stale: Callable) -> None:
    """Remove a stale lock, unless another process changed or broke it in the meantime."""
    breaker = path.with_name(path.name + ".break")
    if not _create_exclusive(breaker, str(os.getpid())):
        try:
            if time.time() - breaker.stat().st_mtime > BREAK_STALE_S:
                breaker.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        return
    try:
        again, again_mtime = read_lock(path)
        if again_mtime is None:
            return
        same = (again or {}).get("token") == (record or {}).get("token")
        if same and is_stale(again, again_mtime):
            path.unlink(missing_ok=True)
    finally:
        breaker.unlink(missing_ok=True)


def acquire_lock(
    path,
    *,
    stale_after_s: float = STALE_AFTER_S,
    dead_jobs: Iterable[str] = (),
    wait_s: float = 0.0,
    poll_s: float = 1.0,
    done: Callable[[], bool] | None = None,
) -> Lock | None:
    """Take the exclusive lock at ``path``, breaking it when stale (see `lock_is_stale`).

    Args:
        path: the lock file.
        stale_after_s, dead_jobs: the staleness rules.
        wait_s: how long to wait (s) for a live holder to finish; 0 returns at once.
        poll_s: seconds between looks while waiting.
        done: optional test; when it turns true (the resource was finished by the holder) the
            wait ends without the lock.

    Returns:
        The `Lock`, or ``None`` when a live holder keeps it (or ``done()`` became true).
    """
    path = Path(path)
    dead_jobs = tuple(dead_jobs)
    deadline = time.monotonic() + wait_s
    is_stale = lambda rec, mt: lock_is_stale(  # noqa: E731
        rec, mt, stale_after_s=stale_after_s, dead_jobs=dead_jobs
    )
    while True:
        if done is not None and done():
            return None
        token = uuid.uuid4().hex
        record = {
            "token": token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "job": current_job_id(),
            "acquired": time.time(),
        }
        if _create_exclusive(path, json.dumps(record)):
            return Lock(path, token)
        held, mtime = read_lock(path)
        if mtime is None:
            continue  # released just now
        if is_stale(held, mtime):
            _break_stale(path, held, mtime, is_stale)
            time.sleep(0.01)
            continue
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)


def release_lock(lock: Lock) -> None:
    record, _ = read_lock(lock.path)
    if record is not None and record.get("token") == lock.token:
        lock.path.unlink(missing_ok=True)


@contextlib.contextmanager
def _heartbeat(lock: Lock, every_s: float = HEARTBEAT_S):
    stop = threading.Event()

    def beat():
        while not stop.wait(every_s):
            with contextlib.suppress(OSError):
                os.utime(lock.path)

    thread = threading.Thread(target=beat, name="vpl-jax-farm-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------------------------
# The job


def ensure_initial_params(
    config: experiment.RunConfig, context: experiment.SweepContext, **lock_options
) -> None:
    """Write the run's shared initial params once (under a lock), so that concurrent chunk jobs
    never write that checkpoint together. They are the backbone plus the zero readout
    (`vpl_jax.siamese.init_model`), the same tree `experiment.train_chunk` would store."""
    path = runs.initial_params_path(context.out)
    while not runs.is_finished(path):
        lock = acquire_lock(
            lock_path(context.out, "initial_params"),
            wait_s=lock_options.get("wait_s", 600.0),
            poll_s=0.2,
            done=lambda: runs.is_finished(path),
            stale_after_s=lock_options.get("stale_after_s", STALE_AFTER_S),
        )
        if lock is None:
            continue
        try:
            if not runs.is_finished(path):
                tc = config.train
                runs.save_tree(path, siamese.init_model(context.backbone, tc.arch, tc.image_size))
        finally:
            release_lock(lock)


def _pause_hook(out: Path, index: int) -> Callable[[int], None] | None:
    spec = os.environ.get(PAUSE_ENV, "")
    if not spec:
        return None
    chunk, _, seconds = spec.partition(":")
    marker = farm_dir(out) / f"chunk_{index:05d}.paused"
    if int(chunk) != index or marker.exists():
        return None

    def hook(_steps: int) -> None:
        if not marker.exists():
            runs.write_text(marker, f"{os.getpid()}\n")
            time.sleep(float(seconds or 3600))

    return hook


def run_chunk(
    out_dir,
    index: int,
    *,
    dead_jobs: Sequence[str] = (),
    stale_after_s: float = STALE_AFTER_S,
    heartbeat_s: float = HEARTBEAT_S,
) -> dict:
    """Train chunk ``index`` of the run folder ``out_dir`` (the body of every job).

    Returns:
        ``{"chunk", "outcome", "job", "host", "seconds"}`` with outcome ``"finished"`` (it was
        already computed), ``"busy"`` (a live job holds its lock) or ``"trained"``.

    Raises:
        RunFolderError: not a run folder. WeightsError: the weights changed since the run was
            prepared. CheckpointError: a damaged checkpoint. Anything training raises (the
            attempt is recorded as failed first).
    """
    out = Path(out_dir)
    config, context = experiment.open_run(out)
    experiment.chunk_conditions(config, index)  # checks the index
    path = runs.chunk_path(out, index)
    base = {"chunk": index, "job": current_job_id(), "host": socket.gethostname()}
    if runs.is_finished(path):
        return {**base, "outcome": "finished", "seconds": 0.0}
    lock = acquire_lock(lock_path(out, index), stale_after_s=stale_after_s, dead_jobs=dead_jobs)
    if lock is None:
        return {**base, "outcome": "busy", "seconds": 0.0}
    try:
        if runs.is_finished(path):  # finished while we took the lock
            return {**base, "outcome": "finished", "seconds": 0.0}
        with _heartbeat(lock, heartbeat_s):
            attempts = read_attempts(out, index)
            attempt = {"job": base["job"], "host": base["host"], "pid": os.getpid()}
            attempt["started"] = time.time()
            attempts.append(attempt)
            _write_attempts(out, index, attempts)
            try:
                ensure_initial_params(config, context, stale_after_s=stale_after_s)
                experiment.train_chunk(config, context, index, progress=_pause_hook(out, index))
            except BaseException as err:
                attempt.update(
                    ended=time.time(),
                    outcome="failed",
                    error="".join(traceback.format_exception_only(err)).strip()[-2000:],
                )
                _write_attempts(out, index, attempts)
                raise
            attempt.update(ended=time.time(), outcome="trained")
            _write_attempts(out, index, attempts)
        return {**base, "outcome": "trained", "seconds": attempt["ended"] - attempt["started"]}
    finally:
        release_lock(lock)


@dataclasses.dataclass(frozen=True)
class ChunkTask:
    """One job: chunk ``index`` of the run folder ``out_dir`` (a picklable callable).

    ``dead_jobs`` names earlier jobs of this chunk that the scheduler reported dead, whose locks
    may be broken at once. ``checkpoint`` makes it requeueable by submitit on preemption or
    timeout (the requeued job resumes: finished chunks are skipped, its own lock is broken).
    """

    out_dir: str
    index: int
    dead_jobs: tuple[str, ...] = ()
    stale_after_s: float = STALE_AFTER_S

    def __call__(self) -> dict:
        return run_chunk(
            self.out_dir, self.index, dead_jobs=self.dead_jobs, stale_after_s=self.stale_after_s
        )

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


# --------------------------------------------------------------------------------------------
# Executors


@runtime_checkable
class Job(Protocol):
    """What the farm needs of a job: an id, its state (one of `JOB_STATES`), its error."""

    job_id: str

    def state(self) -> str: ...

    def error(self) -> str | None: ...


@runtime_checkable
class Executor(Protocol):
    """What the farm needs of an executor (a local pool, Slurm through submitit, or Ray)."""

    name: str

    def submit(self, tasks: Sequence[ChunkTask]) -> list[Job]: ...


def _local_main(task: ChunkTask, log_path: str) -> None:
    """Entry point of a local worker process: logs to a file, then runs the task."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    task()


class LocalJob:
    """A job of a `LocalExecutor`: queued until a worker slot is free, then a spawned process."""

    def __init__(self, executor: LocalExecutor, task: ChunkTask):
        self._executor = executor
        self.task = task
        self.process = None
        self.cancelled = False
        self.log_path = None
        self.job_id = f"local-queued-{uuid.uuid4().hex[:8]}"

    def _start(self) -> None:
        out = Path(self.task.out_dir)
        log = farm_dir(out) / "logs" / f"chunk_{self.task.index:05d}.{uuid.uuid4().hex[:6]}.log"
        self.process = self._executor.context.Process(
            target=_local_main, args=(self.task, str(log)), name=f"vpl-jax-chunk-{self.task.index}"
        )
        self.process.start()
        self.job_id = f"{socket.gethostname()}:{self.process.pid}"
        self.log_path = log

    def state(self) -> str:
        self._executor.poll()
        if self.process is None:
            return "FAILED" if self.cancelled else "PENDING"
        code = self.process.exitcode
        if code is None:
            return "RUNNING"
        return "COMPLETED" if code == 0 else "FAILED"

    def error(self) -> str | None:
        if self.cancelled:
            return "the job was cancelled before it started"
        code = None if self.process is None else self.process.exitcode
        if code is None or code == 0:
            return None
        if code < 0:
            return f"worker process {self.process.pid} was killed by signal {-code}"
        return f"worker process {self.process.pid} exited with code {code} (log: {self.log_path})"

    def cancel(self) -> None:
        """Drop the job if queued; terminate its worker if running."""
        if self.process is None:
            if self in self._executor.queue:
                self._executor.queue.remove(self)
            self.cancelled = True
        elif self.process.exitcode is None:
            self.process.terminate()
            self.process.join()


class LocalExecutor:
    """Runs jobs on this machine: at most ``workers`` worker processes at once, each started with
    the multiprocessing ``"spawn"`` context and running one chunk.

    Queued jobs start when `farm.wait` (or any ``job.state()``) polls, so keep `wait` running
    while the jobs run (``vpl-jax farm submit`` does). Each worker compiles the training programs
    once per job; set ``JAX_COMPILATION_CACHE_DIR`` in the environment to reuse compilations
    across workers.

    Raises:
        InputError: ``workers`` not an int >= 1.
    """

    name = "local"

    def __init__(self, workers: int = 1):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise InputError(f"LocalExecutor.workers must be an int >= 1, got {workers!r}")
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.queue: list[LocalJob] = []
        self.running: list[LocalJob] = []

    def submit(self, tasks: Sequence[ChunkTask]) -> list[LocalJob]:
        jobs = [LocalJob(self, task) for task in tasks]
        self.queue.extend(jobs)
        self.poll()
        return jobs

    def poll(self) -> None:
        """Start queued jobs while worker slots are free."""
        self.running = [j for j in self.running if j.process.exitcode is None]
        while self.queue and len(self.running) < self.workers:
            job = self.queue.pop(0)
            job._start()
            self.running.append(job)

    def shutdown(self) -> None:
        """Terminate running workers and drop queued jobs (their chunks stay unfinished)."""
        self.queue.clear()
        for job in self.running:
            if job.process.exitcode is None:
                job.process.terminate()
        for job in self.running:
            job.process.join()
        self.running.clear()


#: Slurm (and submitit) job states, mapped onto `JOB_STATES`.
_SUBMITIT_STATES = {
    "PENDING": "PENDING",
    "QUEUED": "PENDING",
    "REQUEUED": "PENDING",
    "CONFIGURING": "PENDING",
    "RESIZING": "PENDING",
    "SUSPENDED": "PENDING",
    "UNKNOWN": "PENDING",
    "READY": "PENDING",
    "RUNNING": "RUNNING",
    "COMPLETING": "RUNNING",
    "COMPLETED": "COMPLETED",
    "DONE": "COMPLETED",
    "FINISHED": "COMPLETED",
}


class SlurmJob:
    """A submitit job seen through the farm's `Job` interface."""

    def __init__(self, job):
        self.job = job

    @property
    def job_id(self) -> str:
        return str(self.job.job_id)

    def state(self) -> str:
        raw = str(self.job.state).split()[0].upper() if self.job.state else "UNKNOWN"
        mapped = _SUBMITIT_STATES.get(raw, "FAILED")
        if mapped == "COMPLETED" or self.job.done():
            return "FAILED" if self.error() is not None else "COMPLETED"
        return mapped

    def error(self) -> str | None:
        if not self.job.done():
            return None
        try:
            err = self.job.exception()
        except Exception as exc:  # noqa: BLE001 -- submitit raises for cancelled/unknown jobs
            return f"{type(exc).__name__}: {exc}"
        return None if err is None else f"{type(err).__name__}: {str(err)[-2000:]}"

    def cancel(self) -> None:
        self.job.cancel()


class SlurmExecutor:
    """Slurm job arrays through ``submitit`` (``pip install submitit``), one array task per chunk.

    Args:
        partition: Slurm partition (``--partition``); ``None``: the cluster's default.
        time_min: time limit per job in minutes (``--time``); a job that hits it is requeued by
            submitit and resumes (finished chunks are not recomputed; a chunk is trained anew).
        gpus_per_job: GPUs per job (``--gpus-per-node``); the chunk's K conditions are sharded
            over them, so K must be a multiple of it.
        cpus_per_task: CPUs per job (``--cpus-per-task``); ``None``: the cluster's default.
        mem_gb: memory per job in GB (``--mem``); ``None``: the cluster's default.
        array_parallelism: at most this many array tasks run at once (``--array=0-N%P``).
        setup: shell lines run before each job (e.g. activating the environment).
        folder: submitit's folder for scripts, pickles and logs (default
            ``<out_dir>/farm/submitit``).
        cluster: ``None`` (Slurm), or submitit's ``"debug"`` (in this process) or ``"local"``
            (subprocesses on this machine) to try a setup out.
        additional: extra sbatch options, e.g. ``{"account": "lab", "qos": "high"}``.

    Raises:
        InputError: a bad option (naming it), before anything is submitted.
    """

    name = "slurm"

    def __init__(
        self,
        *,
        partition: str | None = None,
        time_min: int = 240,
        gpus_per_job: int = 1,
        cpus_per_task: int | None = None,
        mem_gb: float | None = None,
        array_parallelism: int = 64,
        setup: Sequence[str] = (),
        folder=None,
        cluster: str | None = None,
        additional: Mapping[str, Any] | None = None,
    ):
        def need(ok, name, allowed, value):
            if not ok:
                raise InputError(f"SlurmExecutor.{name} must be {allowed}, got {value!r}")

        need(partition is None or (isinstance(partition, str) and partition), "partition",
             "a non-empty name or None", partition)  # fmt: skip
        need(_is_int(time_min) and time_min >= 1, "time_min", "an int >= 1 (minutes)", time_min)
        need(_is_int(gpus_per_job) and gpus_per_job >= 0, "gpus_per_job", "an int >= 0",
             gpus_per_job)  # fmt: skip
        need(cpus_per_task is None or (_is_int(cpus_per_task) and cpus_per_task >= 1),
             "cpus_per_task", "an int >= 1 or None", cpus_per_task)  # fmt: skip
        need(mem_gb is None or (isinstance(mem_gb, int | float) and mem_gb > 0), "mem_gb",
             "a number > 0 or None", mem_gb)  # fmt: skip
        need(_is_int(array_parallelism) and array_parallelism >= 1, "array_parallelism",
             "an int >= 1", array_parallelism)  # fmt: skip
        need(cluster in (None, "slurm", "debug", "local"), "cluster",
             "None, 'slurm', 'debug' or 'local'", cluster)  # fmt: skip
        self.partition = partition
        self.time_min = time_min
        self.gpus_per_job = gpus_per_job
        self.cpus_per_task = cpus_per_task
        self.mem_gb = mem_gb
        self.array_parallelism = array_parallelism
        self.setup = tuple(setup)
        self.folder = folder
        self.cluster = cluster
        self.additional = dict(additional or {})

    def parameters(self, name: str = "vpl-jax") -> dict:
        """The ``submitit.AutoExecutor.update_parameters`` arguments."""
        params = {
            "name": name,
            "timeout_min": self.time_min,
            "gpus_per_node": self.gpus_per_job,
            "slurm_array_parallelism": self.array_parallelism,
        }
        optional = {
            "slurm_partition": self.partition,
            "cpus_per_task": self.cpus_per_task,
            "mem_gb": self.mem_gb,
            "slurm_setup": list(self.setup) or None,
            "slurm_additional_parameters": self.additional or None,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        return params

    def submit(self, tasks: Sequence[ChunkTask]) -> list[SlurmJob]:
        if not tasks:
            return []
        try:
            import submitit
        except ImportError:
            raise InputError("the slurm executor needs submitit: pip install submitit") from None
        folder = self.folder or farm_dir(tasks[0].out_dir) / "submitit"
        executor = submitit.AutoExecutor(folder=str(folder), cluster=self.cluster)
        executor.update_parameters(**self.parameters(f"vpl-jax-{Path(tasks[0].out_dir).name}"))
        with executor.batch():
            pending = [executor.submit(task) for task in tasks]
        return [SlurmJob(job) for job in pending]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# Status


class ChunkState(NamedTuple):
    """One chunk as `status` sees it.

    Attributes:
        index: the chunk.
        state: one of `CHUNK_STATES`.
        attempts: attempts recorded so far.
        holder: ``{"host", "pid", "job", "acquired"}`` of the live lock (running chunks).
        seconds: duration of the successful attempt (done), or time since the lock was taken
            (running); ``None`` otherwise.
        error: the last failed attempt's error, or why it counts as failed.
    """

    index: int
    state: str
    attempts: int
    holder: dict | None
    seconds: float | None
    error: str | None


class FarmStatus(NamedTuple):
    """All chunks of a run folder.

    Attributes:
        chunks: one `ChunkState` per chunk.
        counts: ``{state: number of chunks}`` for every state of `CHUNK_STATES`.
        mean_chunk_s: mean duration of the chunks trained by the farm (``None`` before the
            first), seconds.
        eta_s: expected seconds until every chunk is done at the present concurrency (the
            running chunks' remaining time plus the rest at ``mean_chunk_s`` each, divided by
            the number of chunks running, at least 1); 0 when all are done, ``None`` when no
            timing is known yet.
        results: whether ``results.nc`` has been written.
    """

    chunks: tuple[ChunkState, ...]
    counts: dict
    mean_chunk_s: float | None
    eta_s: float | None
    results: bool

    @property
    def finished(self) -> bool:
        return self.counts["done"] == len(self.chunks)

    def indices(self, state: str) -> list[int]:
        return [c.index for c in self.chunks if c.state == state]


def _chunk_state(out, index, now, stale_after_s, dead_jobs) -> ChunkState:
    attempts = read_attempts(out, index)
    trained = [a for a in attempts if a.get("outcome") == "trained" and "ended" in a]
    if runs.is_finished(runs.chunk_path(out, index)):
        seconds = trained[-1]["ended"] - trained[-1]["started"] if trained else None
        return ChunkState(index, "done", len(attempts), None, seconds, None)
    record, mtime = read_lock(lock_path(out, index))
    if mtime is not None:
        stale = lock_is_stale(
            record, mtime, now=now, stale_after_s=stale_after_s, dead_jobs=dead_jobs,
            job_id="",
        )  # fmt: skip
        if not stale:
            holder = {k: (record or {}).get(k) for k in ("host", "pid", "job", "acquired")}
            acquired = holder["acquired"] if holder["acquired"] is not None else mtime
            return ChunkState(index, "running", len(attempts), holder, now - acquired, None)
        who = record or {}
        return ChunkState(
            index, "failed", len(attempts), None, None,
            f"its job ({who.get('job')}, pid {who.get('pid')} on {who.get('host')}) died "
            "holding the lock",
        )  # fmt: skip
    if attempts:
        last = attempts[-1]
        error = last.get("error") or "the attempt ended without a checkpoint (killed)"
        return ChunkState(index, "failed", len(attempts), None, None, error)
    return ChunkState(index, "pending", 0, None, None, None)


def status(
    out_dir,
    *,
    now: float | None = None,
    stale_after_s: float = STALE_AFTER_S,
    dead_jobs: Iterable[str] = (),
) -> FarmStatus:
    """Every chunk of a run folder: done, running (a live lock), failed or pending, with an ETA.

    Args:
        out_dir: the run folder.
        now: the current time (default ``time.time()``), Unix seconds.
        stale_after_s, dead_jobs: the lock staleness rules (`lock_is_stale`).

    Raises:
        RunFolderError: not a run folder.
    """
    out = Path(out_dir)
    config = experiment.RunConfig.from_dict(runs.read_config_record(out)["run"])
    now = time.time() if now is None else now
    dead_jobs = tuple(dead_jobs)
    chunks = tuple(
        _chunk_state(out, c, now, stale_after_s, dead_jobs) for c in range(config.num_chunks)
    )
    counts = {s: sum(c.state == s for c in chunks) for s in CHUNK_STATES}
    durations = []
    for c in range(config.num_chunks):
        durations += [
            a["ended"] - a["started"]
            for a in read_attempts(out, c)
            if a.get("outcome") == "trained" and "ended" in a
        ]
    mean = sum(durations) / len(durations) if durations else None
    if counts["done"] == len(chunks):
        eta = 0.0
    elif mean is None:
        eta = None
    else:
        running = [c for c in chunks if c.state == "running"]
        left = sum(max(0.0, mean - (c.seconds or 0.0)) for c in running)
        left += mean * (counts["failed"] + counts["pending"])
        eta = left / max(1, len(running))
    return FarmStatus(chunks, counts, mean, eta, runs.results_path(out).exists())


# --------------------------------------------------------------------------------------------
# Submit, wait, merge


@dataclasses.dataclass
class Submission:
    """The jobs the farm submitted for a run folder (updated by `wait`).

    Attributes:
        out_dir: the run folder.
        executor: where the jobs run.
        jobs: ``{chunk: its latest job}``.
        attempts: ``{chunk: jobs submitted for it}``.
        errors: ``{chunk: [error of each failed job]}``.
        dead_jobs: ``{chunk: [ids of its jobs that ended without the checkpoint]}`` (their
            locks are broken at once by the next job).
    """

    out_dir: Path
    executor: Any
    jobs: dict = dataclasses.field(default_factory=dict)
    attempts: dict = dataclasses.field(default_factory=dict)
    errors: dict = dataclasses.field(default_factory=dict)
    dead_jobs: dict = dataclasses.field(default_factory=dict)


def _check_executor(executor) -> None:
    if not (hasattr(executor, "submit") and hasattr(executor, "name")):
        raise InputError(
            f"executor must be a farm executor (LocalExecutor, SlurmExecutor or one with "
            f"name and submit(tasks)), got {type(executor).__name__}"
        )


def submit(
    config: experiment.RunConfig,
    out_dir,
    weights: str = "default",
    executor: Executor | None = None,
    *,
    stale_after_s: float = STALE_AFTER_S,
) -> Submission:
    """Prepare the run folder and submit one job per chunk that is neither done nor running.

    Idempotent: submitting again (e.g. after a crash, or to resume a cancelled run) submits only
    the chunks still missing.

    Args:
        config: the run (`vpl_jax.experiment.RunConfig`).
        out_dir: the run folder (created; a folder holding another run is refused).
        weights: ``"default"``, a weights file or ``"random:SEED"``; workers reload them from the
            source recorded in ``config.json`` (so a file must be readable from every job).
        executor: `LocalExecutor` (default, one worker) or `SlurmExecutor`, or any executor.
        stale_after_s: the lock staleness rule passed to every job.

    Returns:
        The `Submission` (pass it to `wait`).

    Raises:
        InputError: a bad config, folder, weights or executor -- before anything is submitted.
    """
    executor = LocalExecutor() if executor is None else executor
    _check_executor(executor)
    context = experiment.prepare(config, out_dir=out_dir, weights=weights)
    ensure_initial_params(config, context, stale_after_s=stale_after_s)
    state = status(context.out, stale_after_s=stale_after_s)
    todo = state.indices("failed") + state.indices("pending")
    submission = Submission(context.out, executor)
    _submit_chunks(submission, sorted(todo), stale_after_s)
    return submission


def _submit_chunks(submission: Submission, chunks: Sequence[int], stale_after_s: float) -> None:
    tasks = [
        ChunkTask(
            str(submission.out_dir),
            c,
            tuple(submission.dead_jobs.get(c, ())),
            stale_after_s,
        )
        for c in chunks
    ]
    for task, job in zip(tasks, submission.executor.submit(tasks), strict=True):
        submission.jobs[task.index] = job
        submission.attempts[task.index] = submission.attempts.get(task.index, 0) + 1


def wait(
    submission: Submission,
    *,
    max_retries: int = 2,
    poll_s: float = 2.0,
    timeout_s: float | None = None,
    stale_after_s: float = STALE_AFTER_S,
) -> FarmStatus:
    """Wait for the jobs, resubmitting a chunk whose job failed or was killed (up to
    ``max_retries`` times per chunk).

    A chunk whose lock is held by a live job of someone else's submission is waited for, not
    resubmitted. Returns when every chunk is done, when the failed ones are out of retries, or
    after ``timeout_s``.

    Returns:
        The final `status`; ``submission.errors`` holds each failed job's error.

    Raises:
        InputError: ``max_retries`` < 0 or ``poll_s`` <= 0.
    """
    if not _is_int(max_retries) or max_retries < 0:
        raise InputError(f"max_retries must be an int >= 0, got {max_retries!r}")
    if not poll_s > 0:
        raise InputError(f"poll_s must be > 0, got {poll_s!r}")
    start = time.monotonic()
    gave_up: set[int] = set()
    while True:
        dead = tuple(j for ids in submission.dead_jobs.values() for j in ids)
        current = status(submission.out_dir, stale_after_s=stale_after_s, dead_jobs=dead)
        retry = []
        for chunk in current.chunks:
            job = submission.jobs.get(chunk.index)
            if chunk.state in ("done", "running") or job is None or chunk.index in gave_up:
                continue
            if job.state() in ("PENDING", "RUNNING"):
                continue
            if runs.is_finished(runs.chunk_path(submission.out_dir, chunk.index)):
                continue  # it finished since the status was read
            submission.errors.setdefault(chunk.index, []).append(
                job.error() or "the job ended without writing the chunk's checkpoint"
            )
            submission.dead_jobs.setdefault(chunk.index, []).append(job.job_id)
            if submission.attempts[chunk.index] > max_retries:
                gave_up.add(chunk.index)
            else:
                retry.append(chunk.index)
        if retry:
            _submit_chunks(submission, retry, stale_after_s)
            continue
        ours = [c for c in current.chunks if c.index in submission.jobs]
        if all(c.state == "done" or c.index in gave_up for c in ours):
            return current
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            return current
        time.sleep(poll_s)


def merge(out_dir):
    """Assemble ``results.nc`` (and ``summary.txt``) of a run folder whose chunks are all done.

    Returns:
        The results Dataset (`vpl_jax.experiment.results_dataset`).

    Raises:
        RunFolderError: not a run folder.
        CheckpointError: a chunk is missing or damaged (naming it).
    """
    config, context = experiment.open_run(out_dir)
    ds = experiment.merge(config, context)
    runs.write_text(Path(out_dir) / runs.SUMMARY_FILE, experiment.summary_table(ds) + "\n")
    return ds
