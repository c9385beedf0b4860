"""The ``vpl-jax`` command line.

Sub-commands are registered here and delegate to library functions; this module owns every entry
point and all printing (the library prints nothing but progress bars). Bad input -- a
`theory.checks.InputError` from any layer -- is reported in one line (exit code 2); anything else
is a bug and shows its traceback. ``--traceback`` shows the traceback of bad input too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from theory import report_saxe, report_svd
from theory.checks import InputError
from vpl_jax import experiment, experiment2, farm_commands, pretrain, report, runs, weights
from vpl_jax.analysis import selectivity
from vpl_jax.cnn import commands as cnn_commands
from vpl_jax.codes import commands as codes_commands
from vpl_jax.v1 import commands as v1_commands

__all__ = ["build_parser", "main"]


#: Tuning protocol (orientations, noise samples) of a preset's analysis when the command line
#: does not say: the paper's 100 x 50, except for the smoke preset (seconds end to end).
_PRESET_TUNING = {"smoke": (12, 3)}


def _analysis_options(
    args: argparse.Namespace, preset: str | None = None
) -> report.AnalysisOptions:
    orientations, noise = _PRESET_TUNING.get(preset, (100, 50))
    return report.AnalysisOptions(
        tuning=not args.no_tuning,
        num_orientations=orientations if args.num_orientations is None else args.num_orientations,
        num_noise=noise if args.num_noise is None else args.num_noise,
        seed=args.seed,
        gradient=args.gradient,
    )


def _config(preset_name: str, overrides: Sequence[str]) -> experiment.RunConfig:
    return experiment.apply_overrides(experiment.preset(preset_name), list(overrides or ()))


def _is_experiment2(preset_name: str) -> bool:
    return preset_name in experiment2.PRESETS


def _config2(preset_name: str, overrides: Sequence[str]) -> experiment2.Experiment2Config:
    return experiment2.apply_overrides(experiment2.preset(preset_name), list(overrides or ()))


def _warn_unhealthy(problems: list[tuple[str, str]], total: int) -> None:
    """Name each flagged condition (``(label, problem)`` pairs) and count them, on stderr."""
    for label, problem in problems:
        print(f"vpl-jax: warning: condition {label}: {problem}", file=sys.stderr)
    if problems:
        print(
            f"vpl-jax: warning: {len(problems)} of {total} conditions are flagged "
            "in results.nc (finite, degenerate) and left out of the report's verdicts",
            file=sys.stderr,
        )


def _print_health2(ds) -> None:
    """Name the Experiment 2 conditions whose training went non-finite or degenerate (stderr)."""
    finite = ds.finite.values.astype(bool).all(axis=1)
    bad = np.flatnonzero(~finite | ds.degenerate.values.astype(bool))
    problems = []
    for i in bad:
        c = ds.isel(condition=int(i))
        label = (
            f"{int(c.condition)} ({c.task.item()}, k={int(c.frozen_layers)}, reference "
            f"{float(c.reference):g}, dissimilarity {int(c.dissimilarity)})"
        )
        problems.append(
            (label, "non-finite" if not finite[i] else "degenerate (no learning signal)")
        )
    _warn_unhealthy(problems, ds.sizes["condition"])


def _run_experiment2(args: argparse.Namespace, *, analysis: bool) -> int:
    """``vpl-jax run`` / ``sweep`` on an Experiment 2 preset: train (resuming), summarise, and
    (``run``) Fig. 5 and the report of `vpl_jax.report.analyze`."""
    config = _config2(args.preset, args.set)
    existing = runs.analysis_dir(args.out) / "report.md"
    finished = runs.results_path(args.out).exists() and existing.exists()
    ds = experiment2.run(config, out_dir=args.out, weights=args.weights, progress=not args.quiet)
    print(experiment2.summary_table(ds))
    _print_health2(ds)
    print(f"results, config, summary.txt and analysis/exp2_*.csv in {args.out}")
    if not analysis:
        return 0
    if finished and not args.reanalyze:
        print(f"analysis report: {existing} (already there; --reanalyze to compute it again)")
        return 0
    path = report.analyze(args.out, progress=not args.quiet)
    print(f"analysis report: {path} (Fig. 5: {path.parent / 'figure_5.png'})")
    return 0


def _print_health(ds) -> None:
    """Name the conditions whose training went non-finite or degenerate (stderr)."""
    table = experiment.health_table(ds)
    problems = [(f"{row.condition} ({row.label})", row.problem) for row in table.itertuples()]
    _warn_unhealthy(problems, ds.sizes["condition"])


def _run(args: argparse.Namespace) -> int:
    """``vpl-jax run``: build the config (preset + ``--set`` overrides), train, summarise, draw
    the learning curves, then write the analysis report unless ``--no-analysis``.

    An Experiment 2 preset (`vpl_jax.experiment2.PRESETS`) dispatches to `_run_experiment2`."""
    if _is_experiment2(args.preset):
        return _run_experiment2(args, analysis=not args.no_analysis)
    config = _config(args.preset, args.set)
    options = None if args.no_analysis else _analysis_options(args, args.preset)
    progress = not args.quiet
    existing = runs.analysis_dir(args.out) / "report.md"
    finished = runs.results_path(args.out).exists() and existing.exists()
    ds = experiment.run(config, out_dir=args.out, weights=args.weights, progress=progress)
    report.write_overview(args.out, ds)
    print(experiment.summary_table(ds))
    _print_health(ds)
    print(f"results, config, summary and learning_curves.png in {args.out}")
    if options is None:
        return 0
    if finished and not args.reanalyze:
        print(f"analysis report: {existing} (already there; --reanalyze to compute it again)")
        return 0
    if (options.num_orientations, options.num_noise) != (100, 50) and options.tuning:
        print(
            f"tuning protocol: {options.num_orientations} orientations x {options.num_noise} "
            "noise samples (reduced; the paper's is 100 x 50)"
        )
    path = report.analyze(args.out, options=options, progress=progress)
    print(f"analysis report: {path}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """``vpl-jax sweep``: like ``run`` without the plot and the report (any grid, resumable)."""
    if _is_experiment2(args.preset):
        return _run_experiment2(args, analysis=False)
    config = _config(args.preset, args.set)
    ds = experiment.run(config, out_dir=args.out, weights=args.weights, progress=not args.quiet)
    print(experiment.summary_table(ds))
    _print_health(ds)
    print(f"results and config in {args.out}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    path = report.analyze(
        args.run_dir, out_dir=args.out, options=_analysis_options(args), progress=not args.quiet
    )
    print(f"wrote {path} (and the figures next to it)")
    return 0


def _add_analysis_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-tuning",
        action="store_true",
        help="skip the tuning curves (Figs. 4, 6-10): behaviour and layer change only",
    )
    parser.add_argument(
        "--num-orientations",
        type=int,
        default=None,
        help="tuning orientations (paper and default: 100; the smoke preset: 12)",
    )
    parser.add_argument(
        "--num-noise",
        type=int,
        default=None,
        help="noise samples per orientation (paper and default: 50; the smoke preset: 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the tuning noise")
    parser.add_argument(
        "--gradient",
        choices=sorted(report.GRADIENT_OPTIONS),
        default="paper",
        help="tuning gradients: paper (smoothed mean response and a derivative filter, the "
        "paper's procedure; default) or exact (jax.jacfwd)",
    )


def _add_run_arguments(parser: argparse.ArgumentParser, default_preset: str, default_out: str):
    parser.add_argument(
        "--preset",
        default=default_preset,
        help="Experiment 1: demo (5 min on 2 quiet CPU cores, analysis included), smoke (about "
        "a minute), cpu-exp1 (reduced Experiment 1 chosen by d': about 25 min on 2 quiet "
        "cores, 101 min shared), cpu-exp1-hard (the earlier grid: 51 min), paper-tuning and "
        "paper-exp1 "
        "(accelerators). Experiment 2 (Gabor vs face task, frozen layers, Fig. 5; "
        "docs/experiment2.md): smoke-exp2 (about a minute), cpu-exp2 (reduced, 72 conditions; "
        "48 of them: 47 min on 2 shared cores), "
        "paper-exp2 (2 x 360 conditions, accelerators; not timed)",
    )
    parser.add_argument(
        "--weights",
        default="default",
        help="default (bundled), a weights file in any supported format, or random:SEED",
    )
    parser.add_argument("--out", default=default_out, help="run folder (resumed if it exists)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set num_iterations=200 (repeatable); "
        "Experiment 2 keys: vpl_jax.experiment2.OVERRIDE_KEYS (e.g. frozen_layers=0,5)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _theory_saxe(args: argparse.Namespace) -> int:
    result = report_saxe.run(Path(args.out), progress=not args.quiet)
    print(report_saxe.format_table(result["table"]))
    print(f"wrote the figures and the reference table to {args.out}")
    return 0


def _theory_svd(args: argparse.Namespace) -> int:
    summary = report_svd.run(Path(args.out), full_size=args.full_size, progress=not args.quiet)
    print(report_svd.headline(summary))
    print(f"wrote the figures and tables to {args.out}")
    return 0


def _weights_convert(args: argparse.Namespace) -> int:
    try:
        metadata = json.loads(args.metadata) if args.metadata else None
    except ValueError as err:
        raise InputError(f"--metadata must be a JSON object ({err})") from None
    dst = weights.convert(
        args.src,
        args.dst,
        arch=args.arch,
        rgb_to_grey=args.rgb_to_grey,
        metadata=metadata,
        overwrite=args.force,
    )
    print(f"wrote {dst}")
    return 0


def _weights_info(args: argparse.Namespace) -> int:
    print(weights.describe(args.file, metadata=args.metadata))
    if args.selectivity:
        params, arch, _ = weights.load_with_info(args.file)
        df = selectivity.selectivity_table(params, arch, key=jax.random.key(args.seed))
        print()
        print(selectivity.format_table(df))
    return 0


def _weights_pretrain(args: argparse.Namespace) -> int:
    config = pretrain.PretrainConfig()
    if args.steps is not None:
        config = dataclasses.replace(config, num_steps=args.steps)
    checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else Path(f"{args.out}.ckpt")
    out = pretrain.make_weights_file(
        Path(args.out),
        config,
        checkpoint_dir=checkpoint_dir,
        progress=not args.quiet,
        qualify=not args.no_qualify,
    )
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpl-jax",
        description="Visual perceptual learning with deep networks and deep-learning theory.",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the full traceback of an input error too (for bug reports)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="the main job: train the siamese AlexNet VPL model on a preset and summarise it"
    )
    _add_run_arguments(run, "demo", "runs/demo")
    _add_analysis_arguments(run)
    run.add_argument(
        "--no-analysis", action="store_true", help="skip the analysis report at the end"
    )
    run.add_argument(
        "--reanalyze",
        action="store_true",
        help="compute the analysis again although the run folder already has one",
    )
    run.set_defaults(handler=_run)
    analyze = commands.add_parser(
        "analyze",
        help="figures and a report (report.md) of a finished run: what reproduced, what did not",
    )
    analyze.add_argument("run_dir", help="a finished run folder (vpl-jax run / sweep)")
    analyze.add_argument("--out", default=None, help="output folder (default RUN_DIR/analysis)")
    analyze.add_argument("--quiet", action="store_true", help="no progress messages")
    _add_analysis_arguments(analyze)
    analyze.set_defaults(handler=_analyze)
    sweep = commands.add_parser("sweep", help="train any grid of conditions (resumable, chunked)")
    _add_run_arguments(sweep, "paper-tuning", "runs/sweep")
    sweep.set_defaults(handler=_sweep)

    theory = commands.add_parser("theory", help="deep-linear theory: Saxe alpha/beta, SV dynamics")
    theory_cmds = theory.add_subparsers(dest="theory_command", required=True)

    saxe = theory_cmds.add_parser(
        "saxe", help="alpha/beta dynamics vs gradient descent (Saxe): figures + reference table"
    )
    saxe.add_argument("--out", default="out/theory-saxe", help="output folder (created)")
    saxe.add_argument("--quiet", action="store_true", help="no progress bars")
    saxe.set_defaults(handler=_theory_saxe)

    svd = theory_cmds.add_parser(
        "svd",
        help="singular-value dynamics and the linear autoencoder on natural patches "
        "(Benjamin et al. 2022)",
    )
    svd.add_argument("--out", default="out/theory-svd", help="output folder (created)")
    svd.add_argument(
        "--full-size",
        action="store_true",
        help="the paper's size (width 1024, batch 16384, >=100k patches); default is a reduced CPU size",
    )
    svd.add_argument("--quiet", action="store_true", help="no progress bars")
    svd.set_defaults(handler=_theory_svd)

    wts = commands.add_parser("weights", help="convert, inspect and pretrain AlexNet weights")
    wts_cmds = wts.add_subparsers(dest="weights_command", required=True)
    convert = wts_cmds.add_parser(
        "convert",
        help="convert .caffemodel / bvlc_alexnet.npy / torchvision .pth or .safetensors to our format",
    )
    convert.add_argument("src", help="source weights file")
    convert.add_argument("dst", help="destination .npz (our format: arrays + JSON metadata)")
    convert.add_argument(
        "--arch",
        default=None,
        choices=["caffe_alexnet", "torchvision_alexnet"],
        help="expected architecture (default: inferred from the file)",
    )
    convert.add_argument(
        "--rgb-to-grey",
        default="sum",
        choices=["sum", "mean", "luminance", "keep"],
        help="conv1 colour handling for 3-channel sources (default: sum = grey image on all channels)",
    )
    convert.add_argument("--metadata", default=None, help="extra metadata as a JSON object")
    convert.add_argument("--force", action="store_true", help="overwrite DST if it exists")
    convert.set_defaults(handler=_weights_convert)
    info = wts_cmds.add_parser(
        "info", help="layer table, provenance and checksums of a weights file"
    )
    info.add_argument("file", help="weights file, 'default' or 'random:SEED'")
    info.add_argument(
        "--selectivity",
        action="store_true",
        help="also print the per-layer orientation-selectivity table (gOSI of Ukita et al.; ~minutes on CPU)",
    )
    info.add_argument("--seed", type=int, default=0, help="seed of the shuffle control and noise")
    info.add_argument(
        "--metadata", action="store_true", help="also print the file's metadata in full (JSON)"
    )
    info.set_defaults(handler=_weights_info)
    pre = wts_cmds.add_parser(
        "pretrain",
        help="make the default weights: ICA conv1 + contrastive conv2-5 on the bundled photos",
    )
    pre.add_argument("--out", required=True, help="output weights file (.npz)")
    pre.add_argument(
        "--checkpoint-dir",
        default=None,
        help="orbax checkpoints for resuming (default: OUT.ckpt); rerun the command to resume",
    )
    pre.add_argument("--steps", type=int, default=None, help="override the number of steps")
    pre.add_argument("--no-qualify", action="store_true", help="skip the selectivity tables")
    pre.add_argument("--quiet", action="store_true", help="no progress bar")
    pre.set_defaults(handler=_weights_pretrain)

    cnn_commands.register(commands)
    codes_commands.register(commands)
    v1_commands.register(commands)
    farm_commands.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vpl-jax`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except InputError as err:  # bad input: one clear line (the traceback on request)
        if args.traceback:
            traceback.print_exc()
        print(f"vpl-jax: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
