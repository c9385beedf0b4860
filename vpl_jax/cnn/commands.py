"""The ``vpl-jax cnn`` sub-commands: ``setup``, ``layers``, ``train``, ``analyze``.

``register(subparsers)`` adds them to the top-level ``vpl-jax`` parser; each handler returns an
exit code. This is the only module of `vpl_jax.cnn` that prints.

* ``vpl-jax cnn setup [--cache DIR]``: fetch ``tuxpaint-stamps-default`` with ``apt-get
  download`` and cache the offline object bank.
* ``vpl-jax cnn layers``: print the layer table (360,106 trainable parameters).
* ``vpl-jax cnn train --out DIR [--preset cpu|paper|demo] [--data ...] [--epochs N]
  [--population-seeds S] [--stop-after E]``: train (resumes an interrupted run in DIR).
* ``vpl-jax cnn analyze --out DIR``: every analysis and Figs. 2-6, A2 into ``DIR/analysis``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from vpl_jax import runs
from vpl_jax.cnn import analysis, data, figures, model, presets

__all__ = ["format_layer_table", "register"]


def format_layer_table(config: model.CNNConfig = model.PAPER_CONFIG) -> str:
    """The layer table as text (Keras ``model.summary()`` style)."""
    rows = model.layer_table(config)
    lines = [f"{'layer':<6} {'kind':<40} {'output':<14} {'params':>8}", "-" * 71]
    for r in rows:
        shape = " x ".join(str(s) for s in r.output_shape)
        lines.append(f"{r.name:<6} {r.kind:<40} {shape:<14} {r.parameters:>8,}")
    lines.append("-" * 71)
    lines.append(f"trainable parameters: {sum(r.parameters for r in rows):,}")
    return "\n".join(lines)


def _setup(args) -> int:
    path = data.setup_stamps(args.cache)
    bank = data.load_stamps(args.cache)
    print(f"cached {bank.labels.size} object photos at {path}")
    for i, name in enumerate(bank.class_names):
        print(f"  {name:<14} {int((bank.labels == i).sum()):>4}")
    return 0


def _layers(args) -> int:
    print(format_layer_table())
    return 0


def _preset(args) -> presets.Preset:
    p = presets.PRESETS[args.preset]
    changes = {}
    if args.data is not None:
        changes["data"] = args.data
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.population_seeds is not None:
        changes["population_seeds"] = args.population_seeds
    if args.split_by is not None:
        changes["split_by"] = args.split_by
    return dataclasses.replace(p, **changes) if changes else p


def _train(args) -> int:
    p = _preset(args)
    print(format_layer_table())
    nets = presets.network_table(p)
    print(f"\npreset {p.name}: {len(nets)} networks, {p.epochs} epochs, data {p.data}")
    result = presets.run(
        p, args.out, progress=not args.quiet, stop_after=args.stop_after, cache=args.cache
    )
    h = result.history
    last = int(h.val_loss.notnull().all("network").sum()) - 1
    print(f"trained {last + 1} of {p.epochs} epochs into {args.out}")
    for i in range(h.sizes["network"]):
        print(
            f"  {i:>3} {h.group.values[i]:<11} seed {int(h.seed.values[i]):>5} "
            f"{h.augmentation.values[i]:<11} lr {float(h.learning_rate.values[i]):g} "
            f"p {float(h.corruption.values[i]):.1f}: val acc {float(h.val_acc.values[i, last]):.3f}"
            f", test acc {float(h.test_acc.values[i, last]):.3f}"
        )
    return 0


def _analyze(args) -> int:
    import jax

    out = Path(args.out)
    res = analysis.analyze(out, jax.random.key(args.seed), progress=not args.quiet)
    folder = runs.analysis_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, fn in figures.FIGURES.items():
        fn(res).savefig(folder / f"cnn_{name}.png", dpi=110)
    runs.write_text(folder / "summary.json", analysis.summary_json(res))
    text = _report(res)
    runs.write_text(folder / "report.md", text)
    print(text)
    print(f"\nwrote {folder}/report.md, summary.json and {len(figures.FIGURES)} figures")
    return 0


def _report(res: analysis.RunAnalysis) -> str:
    import numpy as np

    lines = [
        "# 7-layer CNN: orientation selectivity",
        "",
        f"main network: {res.main}",
        "",
        "## Existence (Fig. 2)",
        "",
        res.existence.to_string(float_format="%.3f"),
        "",
    ]
    if res.dynamics is not None:
        lines += [
            "## Training dynamics (Fig. 3): val loss vs mean gOSI",
            "",
            res.dynamics.to_string(float_format="%.3g"),
            "",
        ]
    if res.population is not None:
        lines += [
            "## Population (Fig. 4a/b): test loss vs mean gOSI",
            "",
            res.population.to_string(float_format="%.3g"),
            "",
        ]
    if res.corruption is not None:
        lines += [
            "## Label corruption (Fig. 4c)",
            "",
            res.corruption.to_string(float_format="%.3f"),
            "",
        ]
    lines += ["## Ablation (Fig. 5): test-loss impact, mean +- s.e.m.", ""]
    for k, a in res.ablation.items():
        sem = lambda v: np.std(v, ddof=1) / np.sqrt(len(v))
        lines.append(
            f"{k:<6} top {np.mean(a.top):+.4f} +- {sem(a.top):.4f}   bottom "
            f"{np.mean(a.bottom):+.4f} +- {sem(a.bottom):.4f}   ratio {a.ratio:.2f}   "
            f"Wilcoxon p {a.p:.3g}   grating activity top {a.activity_top:.3f} / "
            f"bottom {a.activity_bottom:.3f}"
        )
    lines += ["", "## Shift invariance (Fig. 6): CV, mean +- s.e.", ""]
    for cond, r in res.shift.items():
        lines.append(
            f"{cond:<6} "
            + "  ".join(f"{k} {r.mean[k]:.3f}+-{r.se[k]:.3f}" for k in model.TUNING_LAYERS)
        )
    lines.append(f"FC 1 ablated vs vanilla, Wilcoxon p: {res.shift_p}")
    lines += ["", "## SF dependence (A.2): fraction of selective units with range 0", ""]
    for k, r in res.sf_range.items():
        ok = r[np.isfinite(r)]
        lines.append(
            f"{k:<6} {ok.size:>4} selective, range 0 in "
            f"{(np.mean(ok == 0) if ok.size else float('nan')):.2f}"
        )
    return "\n".join(lines)


def register(subparsers) -> None:
    """Add ``cnn setup|layers|train|analyze`` to a top-level argparse ``subparsers``."""
    cnn = subparsers.add_parser("cnn", help="the 7-layer CNN of the orientation-selectivity study")
    sub = cnn.add_subparsers(dest="cnn_command", required=True)

    s = sub.add_parser(
        "setup",
        help=f"fetch and cache the offline object photos ({data.STAMPS_PACKAGE}, via apt-get)",
    )
    s.add_argument(
        "--cache", default=None, help="cache folder (default ${VPL_JAX_CACHE:-~/.cache/vpl_jax})"
    )
    s.set_defaults(handler=_setup)

    lay = sub.add_parser("layers", help="print the layer table")
    lay.set_defaults(handler=_layers)

    t = sub.add_parser("train", help="train a preset's networks (resumable)")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--preset", default="cpu", choices=sorted(presets.PRESETS))
    t.add_argument(
        "--data", default=None, help="'objects', 'shapes' or 'cifar10:PATH' (overrides the preset)"
    )
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--population-seeds", type=int, default=None)
    t.add_argument("--split-by", default=None, choices=("image", "object"))
    t.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop after this many epochs (resume by rerunning)",
    )
    t.add_argument("--cache", default=None, help="cache folder of the object photos")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(handler=_train)

    a = sub.add_parser("analyze", help="analyses and Figs. 2-6 of a run folder")
    a.add_argument("--out", required=True, help="run folder written by `vpl-jax cnn train`")
    a.add_argument("--seed", type=int, default=0, help="seed of the shuffle control")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(handler=_analyze)
