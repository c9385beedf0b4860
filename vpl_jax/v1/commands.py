"""The ``vpl-jax v1`` sub-commands: ``simulate``, ``fit``, ``evaluate``, ``all``.

``register(subparsers)`` adds them to the top-level ``vpl-jax`` parser; each handler returns an
exit code. This is the only module of `vpl_jax.v1` that prints.

* ``vpl-jax v1 simulate --out DIR [--preset cpu|smoke|paper] [--seed S]``: the simulated
  population, in the published layout, into ``DIR/data``.
* ``vpl-jax v1 fit --out DIR [--preset ...] [--data FILE] [--vgg-weights FILE]
  [--alexnet-weights default|FILE|none]``: every model (resumes an interrupted run in DIR).
  ``--data`` takes the published ``cadena_ploscb_data.pkl``; ``--vgg-weights`` a torchvision
  VGG-19 state_dict (``.pth``/``.safetensors``); without it VGG-19 has random weights.
* ``vpl-jax v1 evaluate --out DIR``: the report (FEV per model next to the paper's numbers,
  statistics) and Figs. 4, 7B, 8, 9, 10 into ``DIR/analysis``.
* ``vpl-jax v1 all --out DIR ...``: the three in turn (simulating only without ``--data``).
"""

from __future__ import annotations

import time

import jax

from vpl_jax.v1 import bench, presets

__all__ = ["register"]


def _events(args):
    if args.quiet:
        return None
    start = time.time()
    return lambda text: print(f"[{time.time() - start:7.1f} s] {text}", flush=True)


def _simulate(args) -> int:
    path = bench.simulate_run(jax.random.key(args.seed), args.preset, args.out, seed=args.seed,
                              progress=not args.quiet, on_event=_events(args))  # fmt: skip
    print(f"data in {path}")
    return 0


def _fit(args) -> int:
    alex = None if args.alexnet_weights == "none" else args.alexnet_weights
    names = bench.fit_run(
        jax.random.key(args.seed), args.preset, args.out, data_path=args.data,
        vgg_weights=args.vgg_weights, alexnet_weights=alex, progress=not args.quiet,
        on_event=_events(args),
    )  # fmt: skip
    print(f"{len(names)} fits in {args.out}/fits")
    return 0


def _evaluate(args) -> int:
    report = bench.evaluate_run(args.out, on_event=_events(args))
    text = report.read_text()
    start = text.find("## Model comparison")
    end = text.find("\n## ", start + 1)
    print(text[start : end if end > 0 else None].strip())
    print(f"\nfull report: {report}")
    return 0


def _all(args) -> int:
    t0 = time.time()
    if args.data is None:
        _simulate(args)
    _fit(args)
    code = _evaluate(args)
    print(f"total wall time {time.time() - t0:.0f} s")
    return code


def _common(p, *, fit_options: bool) -> None:
    p.add_argument("--out", required=True, help="run folder (resumed if it exists)")
    p.add_argument("--preset", default="cpu", choices=sorted(presets.PRESETS),
                   help="cpu (reduced: 17 CPU-minutes, 70 min on 2 shared cores), smoke (seconds), paper (accelerators)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation and the fits")
    p.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    if fit_options:
        p.add_argument("--data", default=None,
                       help="the published data file (cadena_ploscb_data.pkl); default: the "
                            "run's simulated population")  # fmt: skip
        p.add_argument("--vgg-weights", default=None,
                       help="torchvision VGG-19 state_dict (.pth or .safetensors); default: "
                            "random weights (not the paper's goal-driven model)")  # fmt: skip
        p.add_argument("--alexnet-weights", default="default",
                       help="AlexNet weights for the alternative stack: default (bundled), a "
                            "file, or none")  # fmt: skip


def register(subparsers) -> None:
    """Add ``v1 simulate|fit|evaluate|all`` to an argparse ``subparsers`` object."""
    v1 = subparsers.add_parser(
        "v1", help="predicting V1 responses (Cadena et al. 2019): simulate, fit, evaluate"
    )
    cmds = v1.add_subparsers(dest="v1_command", required=True)
    sim = cmds.add_parser("simulate", help="a simulated V1 population with known ground truth")
    _common(sim, fit_options=False)
    sim.set_defaults(handler=_simulate)
    fit = cmds.add_parser("fit", help="fit LNP, GFB, the data-driven CNNs and the VGG/AlexNet GLMs")
    _common(fit, fit_options=True)
    fit.set_defaults(handler=_fit)
    ev = cmds.add_parser("evaluate", help="report (FEV per model, statistics) and figures")
    ev.add_argument("--out", required=True, help="a run folder with fits")
    ev.add_argument("--quiet", action="store_true", help="no progress messages")
    ev.set_defaults(handler=_evaluate)
    every = cmds.add_parser("all", help="simulate (without --data), fit and evaluate")
    _common(every, fit_options=True)
    every.set_defaults(handler=_all)
