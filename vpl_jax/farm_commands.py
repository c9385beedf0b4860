"""The ``vpl-jax farm`` sub-commands: ``submit``, ``status``, ``merge`` (see `vpl_jax.farm`).

``register(subparsers)`` adds them to the top-level ``vpl-jax`` parser; each handler returns an
exit code. This is the only module of the farm that prints.

* ``vpl-jax farm submit --preset P [--set K=V ...] --out DIR [--weights W]
  [--executor local|slurm] [--workers N] [--partition P] [--time T] [--gpus-per-job G]
  [--array-parallelism A] [--retries R] [--detach]``: prepare the run folder, submit one job per
  unfinished chunk, wait (resubmitting failed jobs) and merge ``results.nc``. With
  ``--detach`` (Slurm only) it returns after submitting; rerun it to resubmit what is missing.
* ``vpl-jax farm status --out DIR [--json]``: chunks done / running / failed / pending, ETA.
* ``vpl-jax farm merge --out DIR``: write ``results.nc`` and ``summary.txt`` once all chunks are in.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys

from theory.checks import InputError
from vpl_jax import experiment, farm

__all__ = ["format_duration", "format_status", "make_executor", "parse_time", "register"]


def parse_time(text: str) -> int:
    """A Slurm time limit in minutes: ``MM``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM`` or ``D-HH:MM:SS``.

    Raises:
        InputError: an unreadable or non-positive limit.
    """
    text = str(text).strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if match is None:
        raise InputError(f"--time must look like MM, HH:MM:SS or D-HH:MM:SS, got {text!r}")
    days, a, b, c = (None if g is None else int(g) for g in match.groups())
    if days is None and b is None:  # MM
        minutes = a
    elif days is None and c is None:  # MM:SS
        minutes = a + math.ceil(b / 60)
    elif days is None:  # HH:MM:SS
        minutes = a * 60 + b + math.ceil(c / 60)
    else:  # D-HH[:MM[:SS]]
        minutes = days * 1440 + a * 60 + (b or 0) + math.ceil((c or 0) / 60)
    if minutes < 1:
        raise InputError(f"--time must be at least one minute, got {text!r}")
    return minutes


def format_duration(seconds: float | None) -> str:
    """``"2 h 05 min"``, ``"3 min 20 s"``, ``"12 s"``; ``"unknown"`` for ``None``."""
    if seconds is None:
        return "unknown"
    seconds = max(0.0, float(seconds))
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.0f} s"


def format_status(state: farm.FarmStatus) -> str:
    """The status as text: counts, mean chunk time, ETA, then the chunks not done."""
    counts = state.counts
    lines = [
        f"{len(state.chunks)} chunks: {counts['done']} done, {counts['running']} running, "
        f"{counts['failed']} failed, {counts['pending']} pending",
        f"mean chunk time {format_duration(state.mean_chunk_s)}, "
        f"ETA {format_duration(state.eta_s)}" + ("; results.nc written" if state.results else ""),
    ]
    for chunk in state.chunks:
        if chunk.state == "running":
            h = chunk.holder
            lines.append(
                f"  chunk {chunk.index}: running {format_duration(chunk.seconds)} "
                f"(job {h['job']}, pid {h['pid']} on {h['host']})"
            )
        elif chunk.state == "failed":
            lines.append(
                f"  chunk {chunk.index}: failed after {chunk.attempts} attempt(s): {chunk.error}"
            )
    return "\n".join(lines)


def make_executor(args: argparse.Namespace):
    """The executor the ``submit`` options describe.

    Raises:
        InputError: a bad option (naming it).
    """
    if args.executor == "local":
        return farm.LocalExecutor(workers=args.workers)
    return farm.SlurmExecutor(
        partition=args.partition,
        time_min=parse_time(args.time),
        gpus_per_job=args.gpus_per_job,
        cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb,
        array_parallelism=args.array_parallelism,
        setup=tuple(args.setup),
        cluster=args.cluster,
    )


def _submit(args: argparse.Namespace) -> int:
    config = experiment.apply_overrides(experiment.preset(args.preset), list(args.set or ()))
    if args.chunk_size is not None:
        config = dataclasses.replace(config, chunk_size=args.chunk_size)
    executor = make_executor(args)
    if args.detach and args.executor == "local":
        raise InputError("--detach works with --executor slurm only (local workers need a parent)")
    submission = farm.submit(config, args.out, args.weights, executor)
    print(
        f"submitted {len(submission.jobs)} of {config.num_chunks} chunks "
        f"({len(config.grid)} conditions, K = {config.chunk_size}) to the {executor.name} executor"
    )
    if args.detach:
        for chunk, job in sorted(submission.jobs.items()):
            print(f"  chunk {chunk}: job {job.job_id}")
        print(f"follow with: vpl-jax farm status --out {args.out}")
        return 0
    try:
        state = farm.wait(submission, max_retries=args.retries, poll_s=args.poll)
    except KeyboardInterrupt:
        if hasattr(executor, "shutdown"):
            executor.shutdown()
        print("interrupted; finished chunks are kept, rerun to resume", file=sys.stderr)
        return 130
    for chunk, errors in sorted(submission.errors.items()):
        for error in errors:
            print(f"vpl-jax: chunk {chunk}: job failed: {error}", file=sys.stderr)
    print(format_status(state))
    if not state.finished:
        print("vpl-jax: not every chunk is done; rerun to resubmit the rest", file=sys.stderr)
        return 1
    ds = farm.merge(args.out)
    print(experiment.summary_table(ds))
    print(f"results.nc and summary.txt in {args.out}")
    return 0


def _status(args: argparse.Namespace) -> int:
    state = farm.status(args.out)
    if args.json:
        print(
            json.dumps(
                {
                    "counts": state.counts,
                    "mean_chunk_s": state.mean_chunk_s,
                    "eta_s": state.eta_s,
                    "results": state.results,
                    "chunks": [c._asdict() for c in state.chunks],
                },
                indent=1,
            )
        )
    else:
        print(format_status(state))
    return 0


def _merge(args: argparse.Namespace) -> int:
    ds = farm.merge(args.out)
    print(experiment.summary_table(ds))
    print(f"results.nc and summary.txt in {args.out}")
    return 0


def register(subparsers) -> None:
    """Add ``farm submit|status|merge`` to a top-level argparse ``subparsers``."""
    top = subparsers.add_parser(
        "farm", help="a sweep as jobs: local worker processes or Slurm job arrays (resumable)"
    )
    sub = top.add_subparsers(dest="farm_command", required=True)

    s = sub.add_parser("submit", help="submit the unfinished chunks of a run, wait and merge")
    s.add_argument("--preset", default="paper-exp1", help="a preset (default paper-exp1)")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set num_iterations=200 (repeatable)",
    )
    s.add_argument(
        "--weights",
        default="default",
        help="default (bundled), a weights file readable from every job, or random:SEED",
    )
    s.add_argument("--out", required=True, help="run folder (on a file system every job sees)")
    s.add_argument("--chunk-size", type=int, default=None, help="K, conditions per job's chunk")
    s.add_argument("--executor", choices=("local", "slurm"), default="local")
    s.add_argument("--workers", type=int, default=1, help="local: worker processes at once")
    s.add_argument("--partition", default=None, help="slurm: partition")
    s.add_argument(
        "--time", default="240", help="slurm: time limit per job (MM, HH:MM:SS or D-HH:MM:SS)"
    )
    s.add_argument("--gpus-per-job", type=int, default=1, help="slurm: GPUs per job")
    s.add_argument("--cpus-per-task", type=int, default=None, help="slurm: CPUs per job")
    s.add_argument("--mem-gb", type=float, default=None, help="slurm: memory per job (GB)")
    s.add_argument(
        "--array-parallelism", type=int, default=64, help="slurm: array tasks running at once"
    )
    s.add_argument(
        "--setup",
        action="append",
        default=[],
        metavar="LINE",
        help="slurm: a shell line run before each job, e.g. 'source ~/venv/bin/activate'",
    )
    s.add_argument(
        "--cluster",
        choices=("debug", "local"),
        default=None,
        help="slurm: submitit's in-process (debug) or local-subprocess executor, for trying out",
    )
    s.add_argument("--retries", type=int, default=2, help="resubmissions per failed chunk")
    s.add_argument("--poll", type=float, default=30.0, help="seconds between status checks")
    s.add_argument(
        "--detach", action="store_true", help="slurm: return after submitting (do not wait)"
    )
    s.set_defaults(handler=_submit)

    st = sub.add_parser("status", help="chunks done / running / failed / pending, with an ETA")
    st.add_argument("--out", required=True, help="run folder")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(handler=_status)

    m = sub.add_parser("merge", help="write results.nc and summary.txt once every chunk is in")
    m.add_argument("--out", required=True, help="run folder")
    m.set_defaults(handler=_merge)
