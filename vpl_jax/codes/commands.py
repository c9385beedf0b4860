"""The ``vpl-jax codes`` sub-commands (Benjamin et al. 2022): figures and summaries.

``register(subparsers)`` adds them to the top-level ``vpl-jax`` parser; each handler returns an
exit code. This is the only module of :mod:`vpl_jax.codes` that prints.

* ``vpl-jax codes fetch-photos [--banks ...] [--cache DIR]`` -- cache the Debian photo banks
  (``apt-get download`` + ``dpkg-deb -x``; optional, the bundled photos are the fallback).
* ``vpl-jax codes orientation --out DIR [--part architecture|statistics|networks|all]`` --
  SI Fig. 1c (pooling architectures), SI Fig. 1b (rotated training), Fig. 2c (networks,
  ``--network NAME=WEIGHTS[:shuffle=SEED]`` for your own torchvision/AlexNet files).
* ``vpl-jax codes hue --out DIR`` -- Fig. 3 (CIELAB curve, hue histograms, hue-rotated
  training).
* ``vpl-jax codes label-noise --out DIR [--loss sigmoid|softmax]`` -- Fig. 6.

Every long step is checkpointed under ``DIR/checkpoints`` (next to a ``config.json`` of the
settings that produced it): rerunning the command resumes, and a rerun with other settings into
the same folder is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from theory import natural_images
from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.codes import figures, hue, label_noise, models, orientation, sensitivity, train

__all__ = ["register"]

WINDOW_GRID = (175.0, 0.0, 5.0, 40.0, 45.0, 50.0, 85.0, 90.0, 95.0, 130.0, 135.0, 140.0)
"""The orientations inside the +-5 deg cardinal and oblique windows (every 5 deg)."""


def _save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def _json(path: Path, obj) -> None:
    runs.write_text(path, json.dumps(obj, indent=1, default=float))
    print(f"wrote {path}")


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise InputError(f"--{name} must be an integer >= {low}, got {value}")


def _checkpoint(out: Path, name: str, settings: dict) -> Path:
    """``out/checkpoints/name``, refusing to reuse it for other settings."""
    folder = out / "checkpoints" / name
    record = folder / "config.json"
    settings = json.loads(json.dumps(settings, default=float))
    if record.is_file():
        old = json.loads(record.read_text())
        if old != settings:
            raise InputError(
                f"{folder} holds results of other settings ({old}); use another --out or delete it"
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        runs.write_text(record, json.dumps(settings, indent=1))
    return folder


def _fetch(args) -> int:
    banks = tuple(args.banks) if args.banks else tuple(natural_images.DEBIAN_BANKS)
    got = natural_images.fetch_debian_photos(banks, cache=args.cache, progress=not args.quiet)
    for bank, paths in got.items():
        spec = natural_images.DEBIAN_BANKS[bank]
        print(f"{bank:<20} {len(paths):>4} photos from {spec.package}: {spec.description}")
        for p in paths:
            print(f"    {p.name}")
    return 0


def _label_noise(args) -> int:
    out = Path(args.out)
    _at_least("seeds", args.seeds, 1)
    config = label_noise.LabelNoiseConfig(
        hidden=(args.hidden, args.hidden),
        loss=args.loss,
        batch=args.batch,
        num_steps=args.steps,
        record_every=args.record_every,
    )
    conditions = tuple(args.conditions)
    settings = {
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "conditions": conditions,
        "seeds": args.seeds,
        "seed": args.seed,
    }
    ckpt = _checkpoint(out, f"label_noise_{args.loss}", settings)
    print(
        f"label noise ({args.loss} loss): {len(conditions)} conditions x {args.seeds} seeds, "
        f"{args.steps} steps of {args.batch}, hidden {args.hidden}"
    )
    result = label_noise.train(
        jax.random.key(args.seed),
        conditions,
        args.seeds,
        config,
        checkpoint_dir=ckpt,
        progress=not args.quiet,
    )
    summary = label_noise.summarise(result)
    print(f"{'condition':<9} {'90/0 ratio':>10} {'95% interval':>16} {'r(p)':>6} {'r(I)':>6}")
    for name, s in summary.items():
        print(
            f"{name:<9} {s['ratio_mean']:>10.3f} [{s['ratio_low']:6.3f}, {s['ratio_high']:6.3f}] "
            f"{s['r_density']:>6.2f} {s['r_information']:>6.2f}"
        )
    _json(
        out / f"label_noise_{args.loss}.json",
        {"settings": settings, "summary": summary, "steps": result.steps.tolist()},
    )
    np.savez(
        out / f"label_noise_{args.loss}.npz",
        thetas=result.thetas,
        steps=result.steps,
        sensitivity=result.sensitivity,
        loss=result.loss,
        conditions=np.array(result.conditions),
    )
    title = (
        f"Fig. 6 (label noise, {args.loss} loss): {args.seeds} seeds, {args.steps} steps "
        f"of batch {args.batch}"
    )
    _save_figure(
        figures.label_noise_figure(result, summary, title=title),
        out / f"codes_fig6_{args.loss}.png",
    )
    return 0


def _photos(bank: str, colour: bool, max_side: int, cache):
    names, images = natural_images.load_bank(bank, colour=colour, max_side=max_side, cache=cache)
    print(
        f"{len(names)} {'colour' if colour else 'grey'} photos from bank {bank!r} (max side {max_side} px)"
    )
    return names, images


def _architecture(args, out: Path) -> None:
    _at_least("seeds", args.seeds, 2)
    _at_least("size", args.size, 67)
    _at_least("stages", args.stages, 1)
    thetas = np.asarray(WINDOW_GRID if args.grid == "window" else sensitivity.orientation_grid())
    settings = {"grid": args.grid, "seeds": args.seeds, "size": args.size, "seed": args.seed}
    name = f"architecture_{args.grid}_{args.seeds}"
    if args.stages != 2:
        settings["stages"] = args.stages
        name += f"_stages{args.stages}"
    ckpt = _checkpoint(out, name, settings)
    print(
        f"SI Fig. 1c: random Caffe AlexNet, {args.stages} conv stages, {args.seeds} seeds, "
        f"{args.size} px, {thetas.size} orientations x 10 phases"
    )
    res = orientation.architecture_experiment(
        jax.random.key(args.seed),
        num_seeds=args.seeds,
        size=args.size,
        stages=args.stages,
        thetas_deg=thetas,
        checkpoint=ckpt,
        progress=not args.quiet,
    )
    for variant, co in res.co.items():
        print(f"  {orientation.POOLING_LABELS[variant]}")
        for layer, c in co.items():
            print(f"    {layer:<6} CO {c['co']:.3f} [{c['low']:.3f}, {c['high']:.3f}]")
    _json(out / f"{name}.json", {"settings": settings, "co": res.co})
    _save_figure(figures.architecture_figure(res), out / f"codes_si1c_{name}.png")


def _statistics(args, out: Path) -> None:
    names, photos = _photos(args.photos, False, args.max_side, args.cache)
    spec = models.SmallCNNSpec(in_channels=1, num_classes=len(photos), input_size=args.crop)
    config = train.PhotoTrainConfig(spec=spec, batch=args.batch, num_steps=args.steps)
    settings = {
        "photos": list(names),
        "crop": args.crop,
        "steps": args.steps,
        "batch": args.batch,
        "seeds": args.train_seeds,
        "seed": args.seed,
        "max_side": args.max_side,
    }
    ckpt = _checkpoint(out, "statistics", settings)
    print(
        f"SI Fig. 1b: small CNN on {args.crop}-px grey crops, rotated 0 and 45 deg, "
        f"{args.train_seeds} seeds, {args.steps} steps of {args.batch}"
    )
    res = orientation.statistics_experiment(
        jax.random.key(args.seed),
        photos,
        names,
        config,
        num_seeds=args.train_seeds,
        checkpoint=ckpt / "trained",
        progress=not args.quiet,
    )
    for label, co in res.co_trained.items():
        print(
            f"  {label}: trained CO "
            + ", ".join(
                f"{k} {v['co']:.2f} [{v['low']:.2f}, {v['high']:.2f}]" for k, v in co.items()
            )
        )
        print(
            f"  {label}: untrained CO "
            + ", ".join(f"{k} {v['co']:.2f}" for k, v in res.co_initial[label].items())
        )
    print(
        "  shift of the rotated networks' curves: "
        + ", ".join(f"{k} {v:+.0f} deg" for k, v in res.shift.items())
    )
    energy_co = [float(sensitivity.cardinal_oblique(res.thetas, e)) for e in res.energy]
    _json(
        out / "statistics.json",
        {
            "settings": settings,
            "co_trained": res.co_trained,
            "co_initial": res.co_initial,
            "shift": res.shift,
            "energy_co": energy_co,
            "final_accuracy": res.accuracy[:, -1].tolist(),
            "energy": res.energy.tolist(),
        },
    )
    _save_figure(
        figures.statistics_figure(res, title=f"rotated training ({len(names)} photos)"),
        out / "codes_si1b_statistics.png",
    )


def _parse_network(text: str, size: int):
    name, _, rest = text.partition("=")
    if not rest:
        raise InputError(f"--network must be NAME=WEIGHTS[:shuffle=SEED], got {text!r}")
    shuffle = None
    if ":shuffle=" in rest:
        rest, _, s = rest.rpartition(":shuffle=")
        try:
            shuffle = int(s)
        except ValueError:
            raise InputError(f"--network shuffle seed must be an integer, got {s!r}") from None
    net = models.network_by_name(name, input_size=size)
    return net, models.load_params(net, rest, shuffle_seed=shuffle)


def _networks(args, out: Path) -> None:
    specs = (
        list(args.network)
        if args.network
        else ["caffe_alexnet=default", "caffe_alexnet=default:shuffle=0", "caffe_alexnet=random:0"]
    )
    nets, notes = {}, {}
    for text in specs:
        nets[text] = _parse_network(text, args.size)
        if text.startswith("caffe_alexnet=default"):
            notes[text] = figures.DEFAULT_WEIGHTS_NOTE
    thetas = np.asarray(WINDOW_GRID if args.grid == "window" else sensitivity.orientation_grid())
    print(f"Fig. 2c: {len(nets)} networks, {args.size} px, {thetas.size} orientations x 10 phases")
    measured = orientation.measure_networks(
        jax.random.key(args.seed), nets, thetas_deg=thetas, progress=not args.quiet
    )
    for label, m in measured.items():
        print(
            f"  {label}: "
            + ", ".join(
                f"{k} {v['co']:.2f} [{v['low']:.2f}, {v['high']:.2f}]" for k, v in m["co"].items()
            )
        )
        if label in notes:
            print(f"    note: {notes[label]}".replace("\n", " "))
    _json(out / f"networks_{args.grid}.json", {label: m["co"] for label, m in measured.items()})
    if args.grid == "full":
        _save_figure(
            figures.networks_figure(measured, notes=notes), out / "codes_fig2c_networks.png"
        )


def _check_training(args) -> None:
    _at_least("train-seeds", args.train_seeds, 1)
    _at_least("steps", args.steps, 1)
    _at_least("batch", args.batch, 1)
    _at_least("crop", args.crop, 16)
    _at_least("max-side", args.max_side, 8)


def _orientation(args) -> int:
    out = Path(args.out)
    _check_training(args)
    parts = ("architecture", "statistics", "networks") if args.part == "all" else (args.part,)
    for part in parts:
        {"architecture": _architecture, "statistics": _statistics, "networks": _networks}[part](
            args, out
        )
    return 0


def _hue(args) -> int:
    out = Path(args.out)
    _check_training(args)
    names, photos = _photos(args.photos, True, args.max_side, args.cache)
    spec = models.SmallCNNSpec(in_channels=3, num_classes=len(photos), input_size=args.crop)
    config = train.PhotoTrainConfig(spec=spec, batch=args.batch, num_steps=args.steps)
    settings = {
        "photos": list(names),
        "crop": args.crop,
        "steps": args.steps,
        "batch": args.batch,
        "seeds": args.train_seeds,
        "seed": args.seed,
        "max_side": args.max_side,
    }
    ckpt = _checkpoint(out, "hue", settings)
    print(
        f"Fig. 3: small RGB CNN on {args.crop}-px crops, hue +0 and +90 deg, {args.train_seeds} "
        f"seeds, {args.steps} steps of {args.batch}"
    )
    res = hue.hue_experiment(
        jax.random.key(args.seed),
        photos,
        names,
        config,
        num_seeds=args.train_seeds,
        checkpoint=ckpt / "trained",
        progress=not args.quiet,
    )
    for label, corr in res.correlation.items():
        print(
            f"  {label}: r(sensitivity, histogram) "
            + ", ".join(f"{k} {v:+.2f}" for k, v in corr.items())
        )
    print(
        "  peak shift (hue +90 vs +0): "
        + ", ".join(f"{k} {v:+.0f} deg" for k, v in res.shift.items())
        + f"; histograms {res.histogram_shift:+.0f} deg"
    )
    _json(
        out / "hue.json",
        {
            "settings": settings,
            "correlation": res.correlation,
            "shift": res.shift,
            "histogram_shift": res.histogram_shift,
            "final_accuracy": res.accuracy[:, -1].tolist(),
        },
    )
    _save_figure(
        figures.hue_figure(res, title=f"hue ({len(names)} colour photos)"),
        out / "codes_fig3_hue.png",
    )
    return 0


def _training_arguments(p) -> None:
    p.add_argument(
        "--photos",
        default="auto",
        choices=natural_images.BANK_NAMES,
        help="photo bank (default auto: cached Debian banks, else the bundled photos)",
    )
    p.add_argument(
        "--cache", default=None, help="photo cache (default ${VPL_JAX_CACHE:-~/.cache/vpl_jax})"
    )
    p.add_argument(
        "--max-side", type=int, default=160, help="photos downscaled to this longer side (px)"
    )
    p.add_argument("--crop", type=int, default=48, help="crop side = network input (px)")
    p.add_argument("--steps", type=int, default=1500, help="training steps")
    p.add_argument("--batch", type=int, default=64, help="crops per step")
    p.add_argument("--train-seeds", type=int, default=2, help="networks per condition")


def register(subparsers) -> None:
    """Add ``codes fetch-photos|orientation|hue|label-noise`` to a top-level ``subparsers``."""
    codes = subparsers.add_parser(
        "codes", help="efficient codes in deep networks (Benjamin et al. 2022): Figs. 2, 3, 6, SI 1"
    )
    sub = codes.add_subparsers(dest="codes_command", required=True)

    f = sub.add_parser("fetch-photos", help="cache natural photos from Debian packages (optional)")
    f.add_argument("--banks", nargs="*", choices=tuple(natural_images.DEBIAN_BANKS), default=None)
    f.add_argument(
        "--cache", default=None, help="cache folder (default ${VPL_JAX_CACHE:-~/.cache/vpl_jax})"
    )
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(handler=_fetch)

    o = sub.add_parser(
        "orientation", help="orientation sensitivity: SI Fig. 1c, SI Fig. 1b, Fig. 2c"
    )
    o.add_argument("--out", required=True, help="output folder (created; resumable)")
    o.add_argument(
        "--part", default="all", choices=("architecture", "statistics", "networks", "all")
    )
    o.add_argument("--seeds", type=int, default=10, help="random networks per pooling variant")
    o.add_argument("--size", type=int, default=224, help="image side for the AlexNets (px)")
    o.add_argument("--stages", type=int, default=2, help="conv stages of the random AlexNets (1-5)")
    o.add_argument(
        "--grid",
        default="window",
        choices=("window", "full"),
        help="orientations: 'window' = the 12 inside the CO windows, 'full' = every 5 deg",
    )
    o.add_argument(
        "--network",
        action="append",
        default=None,
        help="NAME=WEIGHTS[:shuffle=SEED], NAME in caffe_alexnet, torchvision_alexnet, "
        "vgg16_bn, vgg19, ..., resnet18; WEIGHTS random:SEED, default or a file "
        "(repeatable; default: the bundled AlexNet, shuffled, and random)",
    )
    o.add_argument("--seed", type=int, default=0, help="PRNG seed")
    o.add_argument("--quiet", action="store_true", help="no progress bars")
    _training_arguments(o)
    o.set_defaults(handler=_orientation)

    h = sub.add_parser("hue", help="hue sensitivity: Fig. 3")
    h.add_argument("--out", required=True, help="output folder (created; resumable)")
    h.add_argument("--seed", type=int, default=0, help="PRNG seed")
    h.add_argument("--quiet", action="store_true", help="no progress bars")
    _training_arguments(h)
    h.set_defaults(handler=_hue)

    n = sub.add_parser("label-noise", help="frequency vs label information: Fig. 6")
    n.add_argument("--out", required=True, help="output folder (created; resumable)")
    n.add_argument("--loss", default="sigmoid", choices=("sigmoid", "softmax"))
    n.add_argument(
        "--conditions",
        nargs="+",
        default=list(label_noise.CONDITIONS),
        choices=label_noise.CONDITIONS,
    )
    n.add_argument("--seeds", type=int, default=5, help="networks per condition")
    n.add_argument("--steps", type=int, default=1000, help="training steps")
    n.add_argument("--record-every", type=int, default=100, help="steps between recordings")
    n.add_argument("--batch", type=int, default=32, help="gratings per step")
    n.add_argument("--hidden", type=int, default=512, help="hidden layer width")
    n.add_argument("--seed", type=int, default=0, help="PRNG seed")
    n.add_argument("--quiet", action="store_true", help="no progress bars")
    n.set_defaults(handler=_label_noise)
