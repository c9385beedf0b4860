"""The V1 bench: simulate a population (or read the real data), fit every model, evaluate.

Run folder layout (storage through `vpl_jax.runs`)::

    config.json                  the simulation record (preset, seed)
    data/v1_data.pkl             the recording in the published layout (simulated, or absent)
    data/ground_truth.npz        the simulated cells, their true rates (simulations only)
    fits/config.json             the fit record (preset, data source, weights)
    fits/meta                    neurons kept, split, image types, cell types (orbax + manifest)
    fits/<model>                 one checkpoint per fitted model (test predictions, FEV, ...)
    analysis/report.md           FEV per model next to the paper's numbers, statistics
    analysis/results.json        the same numbers, machine-readable
    analysis/fig*.png            Figs. 4, 7B, 8, 9, 10

Every fitted model is checkpointed when it finishes: `fit_run` in the same folder skips what is
done (resumable). Stages:

* `simulate_run` -- `vpl_jax.v1.simulate` at the preset's size;
* `fit_run` -- the inclusion rule (explainable-variance ratio >= 0.15), the model inputs
  (central 80 px subsampled to 40 x 40, z-scored), the paper's split, then: LNP; Gabor filter
  bank; the data-driven CNN at every depth of the sweep; VGG-19 (weights from a torchvision
  file, or *random* weights) read out at every layer of the sweep (frozen features computed once
  per layer), with the lambda grid, the regulariser ablation and the factorised read-out at
  conv3_1; AlexNet (this package's weights) per layer; the stimulus-type transfer; the in-silico
  tuning of the CNN (and of the true cells of a simulation);
* `evaluate_run` -- the report and the figures.

Progress goes through ``on_event`` (a callable taking one line of text; the command line prints
it) and tqdm bars (``progress=True``); the library prints nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from theory.checks import InputError
from vpl_jax import runs, weights
from vpl_jax.networks import vgg
from vpl_jax.v1 import data as v1data
from vpl_jax.v1 import figures, fit, metrics, models, simulate
from vpl_jax.v1.presets import BenchPreset, get_preset, grid

__all__ = [
    "DATA_FILE",
    "PAPER_FEV",
    "TRUTH_FILE",
    "evaluate_run",
    "fit_run",
    "load_fits",
    "simulate_run",
]

DATA_FILE = "data/v1_data.pkl"
TRUTH_FILE = "data/ground_truth.npz"

#: The paper's test-set FEV (mean over 166 neurons).
PAPER_FEV = {
    "LNP": 0.163,
    "GFB": 0.456,
    "CNN": 0.498,
    "CNN (1 layer)": 0.345,
    "VGG": 0.516,
    "VGG conv1_1": 0.31,
    "VGG factorised": 0.455,
}

_TYPES = ("all", *v1data.IMAGE_TYPES)


def _say(on_event, text: str) -> None:
    if on_event is not None:
        on_event(text)


def _preset(preset) -> BenchPreset:
    return get_preset(preset) if isinstance(preset, str) else preset


# ---------------------------------------------------------------------------------------------
# simulate
# ---------------------------------------------------------------------------------------------


def simulate_run(
    key: jax.Array, preset, out_dir, *, seed: int = 0, progress: bool = False, on_event=None
) -> Path:
    """Simulate the preset's population into ``out_dir/data`` (skipped if already there).

    Args:
        key: PRNG key of the simulation.
        preset: a `BenchPreset` or its name.
        out_dir: the run folder.
        seed: recorded in ``config.json`` (the seed ``key`` was made from).
        progress: progress bars.
        on_event: receives one line of text per stage.

    Returns:
        The path of the data file.
    """
    preset = _preset(preset)
    out = Path(out_dir)
    record = {"preset": preset.name, "sim": preset.to_record()["sim"], "seed": int(seed)}
    runs.write_config_record(out, record, compare=("sim", "seed"))
    path = out / DATA_FILE
    truth = out / TRUTH_FILE
    if path.exists() and truth.exists():
        _say(on_event, f"simulation already in {path}")
        return path
    t0 = time.time()
    sim = simulate.simulate(key, preset.sim, progress=progress)
    v1data.save(sim.data, path)
    np.savez(truth, true_rates=sim.true_rates, target_ratio=sim.target_ratio,
             **{f"cell_{k}": v for k, v in sim.cells.items()})  # fmt: skip
    ratio = v1data.explainable_variance_ratio(sim.data.responses)
    _say(on_event, f"simulated {sim.data.num_images} images x {sim.data.num_neurons} neurons in "
                   f"{time.time() - t0:.0f} s (mean explainable-variance ratio {np.mean(ratio):.3f})")  # fmt: skip
    return path


def _read_truth(out: Path):
    path = out / TRUTH_FILE
    if not path.exists():
        return None
    with np.load(path) as f:
        cells = {k[len("cell_") :]: f[k] for k in f.files if k.startswith("cell_")}
        return {"cells": cells, "true_rates": f["true_rates"], "target_ratio": f["target_ratio"]}


# ---------------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------------


def _fit_path(out: Path, name: str) -> Path:
    return out / "fits" / name


class _Fitter:
    """Runs and stores the fits of one run folder (skipping finished ones)."""

    def __init__(self, key, out: Path, split, responses, repetitions, progress, on_event):
        self.key, self.out, self.split = key, out, split
        self.responses, self.repetitions = responses, repetitions
        self.progress, self.on_event = progress, on_event
        self.count = 0

    def done(self, name: str) -> bool:
        return runs.is_finished(_fit_path(self.out, name))

    def run(self, name, model, inputs, g, cfg, *, mode="neuron", stats=None, split=None,
            extra: Callable | None = None) -> fit.FitResult | None:  # fmt: skip
        self.count += 1
        if self.done(name):
            return None
        t0 = time.time()
        split = self.split if split is None else split
        fd = fit.fit_data(inputs, self.responses, split, repetitions=self.repetitions)
        key = jax.random.fold_in(self.key, _stable_hash(name))
        res = fit.fit(key, model, fd, grid(g), cfg, mode=mode, stats=stats,
                      progress=self.progress, desc=name)  # fmt: skip
        tree = {
            "fev": res.fev.astype(np.float64),
            "test_predictions": res.test_predictions.astype(np.float32),
            "test_images": np.asarray(fd.test_images, np.int64),
            "choice": res.choice.astype(np.int64),
            "val_loss": res.train.val_loss.astype(np.float64),
            "history": res.train.history.astype(np.float64),
        }
        if extra is not None:
            tree.update(extra(res))
        runs.save_tree(_fit_path(self.out, name), tree,
                       provenance={"name": name, "model": repr(model), "steps": int(res.train.steps),
                                   "grid": [list(map(str, p)) for p in g], "seconds": time.time() - t0})  # fmt: skip
        _say(self.on_event, f"{name}: mean FEV {np.nanmean(res.fev):.3f} "
                            f"({res.train.steps} steps, {time.time() - t0:.0f} s)")  # fmt: skip
        return res


def _stable_hash(name: str) -> int:
    h = 0
    for ch in name:
        h = (h * 131 + ord(ch)) % (2**31 - 1)
    return h


def fit_run(
    key: jax.Array,
    preset,
    out_dir,
    *,
    data_path=None,
    vgg_weights=None,
    alexnet_weights: str | None = "default",
    progress: bool = False,
    on_event=None,
) -> list[str]:
    """Fit every model of the preset (resumable); see the module docstring.

    Args:
        key: PRNG key (initialisation, batch order, random VGG weights).
        preset: a `BenchPreset` or its name.
        out_dir: the run folder.
        data_path: the published data file (default: the run's simulation).
        vgg_weights: a torchvision VGG-19 state_dict file (``.pth``/``.safetensors``), e.g. the
            ImageNet weights; ``None`` uses random weights (not the paper's goal-driven model).
        alexnet_weights: a source for `vpl_jax.weights.load` (``"default"``: the bundled
            weights), or ``None`` to skip AlexNet.
        progress: progress bars.
        on_event: receives one line of text per finished fit.

    Returns:
        The names of the fits in the run folder.
    """
    preset = _preset(preset)
    out = Path(out_dir)
    path = Path(data_path) if data_path is not None else out / DATA_FILE
    if not path.exists():
        raise InputError(
            f"data_path must be a data file; {path} does not exist (run `vpl-jax v1 simulate "
            f"--out {out}` first, or pass --data)"
        )
    record = {"preset": preset.to_record(), "data": str(path),
              "vgg_weights": None if vgg_weights is None else str(vgg_weights),
              "alexnet_weights": alexnet_weights}  # fmt: skip
    runs.write_config_record(out / "fits", record, compare=tuple(record))
    # check the weight files before any compute
    vgg_params = (vgg.from_torchvision(vgg_weights, vgg.VGG19) if vgg_weights is not None
                  else vgg.init_params(jax.random.fold_in(key, 7), vgg.VGG19))  # fmt: skip
    a_params = a_arch = None
    if alexnet_weights is not None:
        a_params, a_arch, _ = weights.load_with_info(alexnet_weights)
    raw = v1data.load(path)
    keep = v1data.inclusion_mask(raw.responses)
    d = v1data.select_neurons(raw, keep)
    _say(on_event, f"{int(keep.sum())} of {raw.num_neurons} neurons pass the inclusion rule "
                   f"(explainable-variance ratio >= {v1data.INCLUSION_THRESHOLD})")  # fmt: skip
    x = v1data.model_inputs(d.images)
    split = v1data.split_images(d.num_images)
    truth = _read_truth(out) if data_path is None else None
    meta_path = out / "fits" / "meta"
    if not runs.is_finished(meta_path):
        meta = {"neurons": np.flatnonzero(keep).astype(np.int64),
                "train": split.train, "val": split.val, "test": split.test,
                "test_types": np.array([v1data.IMAGE_TYPES.index(t) if t in v1data.IMAGE_TYPES
                                        else -1 for t in d.image_types[split.test]], np.int64),
                "ratio": v1data.explainable_variance_ratio(d.responses),
                "train_mean": np.nanmean(d.responses[:, split.train], axis=(0, 1))}  # fmt: skip
        if truth is not None:
            meta["cell_type"] = truth["cells"]["cell_type"][keep].astype(np.int64)
            meta["true_test_rates"] = truth["true_rates"][split.test][:, keep]
        runs.save_tree(meta_path, meta)
    f = _Fitter(key, out, split, d.responses, d.repetitions, progress, on_event)
    f.run("lnp", models.LNP(), x, preset.lnp_grid, preset.lnp_train)
    if not f.done("gfb"):
        gfb = models.standardise(models.gfb_features(x, models.gabor_bank(x.shape[1])), split.train)
        f.run("gfb", models.FeatureGLM(normalise=False), gfb, preset.gfb_grid, preset.gfb_train)
        del gfb
    else:
        f.run("gfb", None, None, (), None)
    cnn_fits = {}
    for depth in preset.cnn_depths:
        model = models.CNN(depth, preset.cnn.channels, preset.cnn.first_kernel, preset.cnn.kernel)
        cnn_fits[depth] = f.run(f"cnn_L{depth}", model, x, preset.cnn_grid, preset.cnn_train,
                                mode="model")  # fmt: skip
    comparison = models.CNN(preset.cnn.num_layers, preset.cnn.channels, preset.cnn.first_kernel,
                            preset.cnn.kernel)  # fmt: skip
    _tuning(out, preset, comparison, cnn_fits.get(preset.cnn.num_layers), truth, keep, on_event)
    layers = list(dict.fromkeys((*preset.vgg_layers, preset.vgg_layer)))
    readout = models.FeatureGLM()
    energy = lambda res: {"readout_energy": metrics.readout_energy(np.asarray(
        readout.readout_weights(jax.tree.map(lambda a: a[int(np.bincount(res.choice).argmax())],
                                             res.train.params))))}  # fmt: skip
    for layer in layers:
        names = [f"vgg_{layer}"]
        if layer == preset.vgg_layer:
            names += [f"vgg_{layer}_cv", f"vgg_{layer}_factorised"]
            if preset.ablation:
                names += [
                    f"vgg_{layer}_{a}" for a in ("no_sparse", "no_laplace", "no_group", "none")
                ]
            if preset.transfer and "vgg" in preset.transfer_models:
                names += [f"transfer_vgg_{t}" for t in _TYPES[1:]]
        if all(f.done(n) for n in names):
            f.count += len(names)
            continue
        feats = models.vgg_features(vgg_params, x, layer, batch_size=preset.feature_batch)
        stats = models.feature_statistics(feats[split.train])
        f.run(f"vgg_{layer}", readout, feats, preset.vgg_sweep_grid, preset.vgg_train, stats=stats,
              extra=energy if layer == preset.vgg_layer else None)  # fmt: skip
        if layer == preset.vgg_layer:
            f.run(f"vgg_{layer}_cv", readout, feats, preset.vgg_grid, preset.vgg_train,
                  stats=stats, extra=energy)  # fmt: skip
            f.run(f"vgg_{layer}_factorised", models.FeatureGLM(factorised=True), feats,
                  preset.factorised_grid, preset.vgg_train, stats=stats)  # fmt: skip
            if preset.ablation:
                base = dict(preset.vgg_sweep_grid)
                for label, drop in (("no_sparse", ("sparse",)), ("no_laplace", ("laplace",)),
                                    ("no_group", ("group",)),
                                    ("none", ("sparse", "laplace", "group"))):  # fmt: skip
                    g = tuple((k, (0.0,) if k in drop else tuple(v)) for k, v in base.items())
                    f.run(f"vgg_{layer}_{label}", readout, feats, g, preset.vgg_train, stats=stats)
            if preset.transfer and "vgg" in preset.transfer_models:
                for t in _TYPES[1:]:
                    s = v1data.split_images(d.num_images, image_types=d.image_types, train_types=t)
                    f.run(f"transfer_vgg_{t}", readout, feats, preset.vgg_sweep_grid,
                          preset.vgg_train, stats=stats, split=s)  # fmt: skip
        del feats
    if a_params is not None:
        for layer in preset.alexnet_layers:
            if f.done(f"alexnet_{layer}"):
                continue
            feats = models.alexnet_features(
                a_params, x, layer, a_arch, batch_size=preset.feature_batch
            )
            stats = models.feature_statistics(feats[split.train])
            f.run(f"alexnet_{layer}", readout, feats, preset.vgg_sweep_grid, preset.vgg_train,
                  stats=stats)  # fmt: skip
            del feats
    if preset.transfer and "cnn" in preset.transfer_models:
        for t in _TYPES[1:]:
            s = v1data.split_images(d.num_images, image_types=d.image_types, train_types=t)
            f.run(f"transfer_cnn_{t}", comparison, x, preset.cnn_grid, preset.cnn_train,
                  mode="model", split=s)  # fmt: skip
    return sorted(p.name for p in (out / "fits").iterdir() if runs.is_finished(p) and p.is_dir())


def _tuning(out, preset, model, res, truth, keep, on_event) -> None:
    path = out / "fits" / "tuning"
    if runs.is_finished(path):
        return
    if res is None:  # the CNN fit was done in an earlier call: restore it
        ckpt = _fit_path(out, f"cnn_L{model.num_layers}")
        if not runs.is_finished(ckpt) or not runs.is_finished(out / "fits" / "cnn_params"):
            return
        stored = runs.restore_tree(out / "fits" / "cnn_params")
        params, state = stored["params"], stored["state"]
        choice = runs.restore_tree(ckpt)["choice"]
    else:
        params, state, choice = res.train.params, res.train.state, res.choice
        runs.save_tree(out / "fits" / "cnn_params", {"params": params, "state": state})
    stim = metrics.gabor_stimuli(40, num_orientations=preset.tuning_orientations,
                                 num_phases=preset.tuning_phases)  # fmt: skip
    tr = fit.TrainResult(params=params, state=state, val_loss=np.zeros(0), steps=0,
                         history=np.zeros((0, 1)), hparams={})  # fmt: skip
    tun = metrics.insilico_tuning(fit.predictor(model, tr, choice), stim)
    tree = {f"cnn_{k}": np.asarray(v) for k, v in vars(tun).items()}
    if truth is not None:
        cells = {k: np.asarray(v)[keep] for k, v in truth["cells"].items()}
        gt = metrics.insilico_tuning(
            lambda z: np.asarray(simulate.cell_rates(cells, jax.numpy.asarray(z))), stim
        )
        tree.update({f"truth_{k}": np.asarray(v) for k, v in vars(gt).items()})
    runs.save_tree(path, tree)
    _say(on_event, "in-silico tuning of the CNN model done")


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------


def load_fits(out_dir) -> dict[str, dict]:
    """Every finished checkpoint under ``out_dir/fits`` as ``{name: tree}``."""
    root = Path(out_dir) / "fits"
    if not root.is_dir():
        raise InputError(f"out_dir must hold fits; {root} does not exist (run `vpl-jax v1 fit`)")
    return {p.name: runs.restore_tree(p) for p in sorted(root.iterdir())
            if p.is_dir() and runs.is_finished(p)}  # fmt: skip


def _tuning_result(tree, prefix) -> metrics.TuningResult | None:
    keys = [k for k in tree if k.startswith(prefix)]
    if not keys:
        return None
    return metrics.TuningResult(**{k[len(prefix) :]: np.asarray(tree[k]) for k in keys})


def _fmt(m) -> str:
    return "n/a" if m is None or not np.isfinite(m) else f"{m:.3f}"


def evaluate_run(out_dir, *, on_event=None) -> Path:
    """Write ``analysis/report.md``, ``results.json`` and the figures from the finished fits.

    Returns:
        The report's path.
    """
    out = Path(out_dir)
    fits = load_fits(out)
    meta = fits.pop("meta", None)
    tuning_tree = fits.pop("tuning", None)
    fits.pop("cnn_params", None)
    if meta is None or not fits:
        raise InputError(f"out_dir must hold finished fits; none in {out / 'fits'}")
    record = runs.read_config_record(out / "fits")
    preset = record["preset"]
    fev = {k: np.asarray(v["fev"]) for k, v in fits.items()}
    n = len(next(iter(fev.values())))
    layer = preset["vgg_layer"]
    depth = preset["cnn"]["num_layers"]
    main = {"LNP": "lnp", "GFB": "gfb", "CNN": f"cnn_L{depth}",
            "VGG": f"vgg_{layer}_cv" if f"vgg_{layer}_cv" in fev else f"vgg_{layer}"}  # fmt: skip
    scores = {k: fev[v] for k, v in main.items() if v in fev}
    tests = metrics.paired_tests(scores) if len(scores) >= 2 else []
    results: dict = {"neurons": n, "preset": preset["name"], "data": record["data"],
                     "vgg_weights": record["vgg_weights"], "models": {}}  # fmt: skip
    for name, v in fev.items():
        m, lo, hi = metrics.mean_ci(v)
        results["models"][name] = {"mean": m, "ci95": [lo, hi], "median": float(np.nanmedian(v))}
    results["comparison"] = tests
    lines = [f"# V1 bench report ({preset['name']} preset)", "",
             f"Data: `{record['data']}`; {n} neurons after the inclusion rule.",
             "VGG-19 weights: " + (f"`{record['vgg_weights']}`" if record["vgg_weights"] else
                                   "**random** (not the paper's ImageNet-trained goal-driven model)"),
             "", "## Model comparison (test FEV, mean [95 % CI])", "",
             "| model | fit | this run: mean [95 % CI] | median | paper (monkey V1, mean) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for k, v in main.items():
        if v in fev:
            r = results["models"][v]
            lines.append(f"| {k} | `{v}` | {_fmt(r['mean'])} [{_fmt(r['ci95'][0])}, "
                         f"{_fmt(r['ci95'][1])}] | {_fmt(r['median'])} | {PAPER_FEV[k]:.3f} |")  # fmt: skip
    if tests:
        lines += ["", "Wilcoxon signed-rank tests, Holm-Bonferroni (alpha 0.05):", "",
                  "| pair | mean difference | p (Holm) | significant |", "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {t['a']} - {t['b']} | {t['mean_diff']:+.3f} | {t['p_holm']:.2g} | "
                  f"{'yes' if t['significant'] else 'no'} |" for t in tests]  # fmt: skip
    test_resp = _test_responses(out, meta)
    truth = "true_test_rates" in meta
    if truth:
        true_fev = metrics.fev(test_resp, np.asarray(meta["true_test_rates"]))
        train_mean = np.asarray(meta["train_mean"])
        const = np.broadcast_to(train_mean, test_resp.shape[1:])
        zero_fev = metrics.fev(test_resp, const)
        kinds = np.asarray(meta["cell_type"])
        results["ground_truth"] = {"true_rate_fev_median": float(np.nanmedian(true_fev)),
                                   "constant_fev_median": float(np.nanmedian(zero_fev))}  # fmt: skip
        lines += ["", "## Ground truth (simulation)", "",
                  f"FEV of the true rates: median {np.nanmedian(true_fev):.3f} (mean "
                  f"{np.nanmean(true_fev):.3f}); of the mean rate (a constant): median "
                  f"{np.nanmedian(zero_fev):.3f} (mean {np.nanmean(zero_fev):.3f}).", "",
                  "Test FEV by cell type (mean):", "",
                  "| model | " + " | ".join(simulate.CELL_TYPES) + " |",
                  "|---|" + "---|" * len(simulate.CELL_TYPES)]  # fmt: skip
        by_type = {}
        for k, v in main.items():
            if v in fev:
                row = [float(np.nanmean(fev[v][kinds == t])) if np.any(kinds == t) else np.nan
                       for t in range(len(simulate.CELL_TYPES))]  # fmt: skip
                by_type[k] = row
                lines.append(f"| {k} | " + " | ".join(_fmt(x) for x in row) + " |")
        results["ground_truth"]["fev_by_cell_type"] = by_type
    sweep = {name: fev[f"vgg_{name}"] for name in preset["vgg_layers"] if f"vgg_{name}" in fev}
    asweep = {name: fev[f"alexnet_{name}"] for name in preset["alexnet_layers"]
              if f"alexnet_{name}" in fev}  # fmt: skip
    lines += ["", "## Layer sweep (Fig. 4)", "", "| stack | layer | mean FEV | median |",
              "|---|---|---|---|"]  # fmt: skip
    lines += [f"| VGG-19 | {k} | {_fmt(np.nanmean(v))} | {_fmt(np.nanmedian(v))} |"
              for k, v in sweep.items()]  # fmt: skip
    lines += [f"| AlexNet | {k} | {_fmt(np.nanmean(v))} | {_fmt(np.nanmedian(v))} |"
              for k, v in asweep.items()]  # fmt: skip
    lines += ["", "Paper (ImageNet VGG-19): conv1_1 0.31, rising to conv3_1 0.516, then falling."]
    depths = [d_ for d_ in preset["cnn_depths"] if f"cnn_L{d_}" in fev]
    lines += ["", "## Data-driven CNN depth (Fig. 7B)", "", "| layers | mean FEV | median |",
              "|---|---|---|"]  # fmt: skip
    lines += [f"| {d_} | {_fmt(np.nanmean(fev[f'cnn_L{d_}']))} | "
              f"{_fmt(np.nanmedian(fev[f'cnn_L{d_}']))} |" for d_ in depths]  # fmt: skip
    lines += ["", "Paper: 1 layer 0.345; 3 layers 0.498 (best on validation)."]
    abl = [(lab, f"vgg_{layer}{suf}") for lab, suf in
           (("full (cross-validated)", "_cv"), ("full (paper lambdas)", ""),
            ("no sparsity", "_no_sparse"), ("no smoothness", "_no_laplace"),
            ("no group sparsity", "_no_group"), ("no regularisation", "_none"),
            ("factorised read-out", "_factorised"))]  # fmt: skip
    lines += ["", f"## Regulariser ablation at {layer} (Table 1)", "",
              "| variant | mean FEV | median |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {lab} | {_fmt(np.nanmean(fev[k]))} | {_fmt(np.nanmedian(fev[k]))} |"
              for lab, k in abl if k in fev]  # fmt: skip
    lines += ["", "Paper: the full model is best, no regularisation far worse, factorised 0.455."]
    for k in (f"vgg_{layer}_cv", f"vgg_{layer}"):
        if k in fits and "readout_energy" in fits[k]:
            e = np.asarray(fits[k]["readout_energy"])
            top = float(np.nanmean(e[:, min(19, e.shape[1] - 1)]))
            results["readout_energy_top20"] = top
            lines += ["", f"Read-out energy in the 20 strongest of {e.shape[1]} feature maps "
                          f"(`{k}`): {top:.0%} on average (paper: 82 % at conv3_1)."]  # fmt: skip
            break
    mats = _transfer(fev, fits, meta, main, test_resp)
    if mats:
        lines += [
            "",
            "## Stimulus-type transfer (Fig. 10): mean FEV, rows trained on, columns tested on",
            "",
        ]
        for model, m in mats.items():
            lines += [f"**{model}**", "", "| train \\ test | " + " | ".join(_TYPES) + " |",
                      "|---|" + "---|" * len(_TYPES)]  # fmt: skip
            lines += [
                f"| {t} | " + " | ".join(_fmt(x) for x in row) + " |"
                for t, row in zip(_TYPES, m, strict=True)
            ]
            lines.append("")
        results["transfer"] = {k: v.tolist() for k, v in mats.items()}
    tun = _tuning_result(tuning_tree, "cnn_") if tuning_tree else None
    gt = _tuning_result(tuning_tree, "truth_") if tuning_tree else None
    if tun is not None:
        lines += ["", "## In-silico tuning of the CNN model (Fig. 9)", "",
                  f"Median tuning width {np.nanmedian(tun.fwhm):.1f} deg, median linearity index "
                  f"{np.nanmedian(tun.linearity):.2f}."]  # fmt: skip
        if gt is not None:
            kinds = np.asarray(meta["cell_type"])
            for t, label in enumerate(simulate.CELL_TYPES):
                sel = kinds == t
                if sel.any():
                    lines.append(f"- {label} cells: linearity model {np.nanmedian(tun.linearity[sel]):.2f} vs "
                                 f"true {np.nanmedian(gt.linearity[sel]):.2f}; width model "
                                 f"{np.nanmedian(tun.fwhm[sel]):.0f} vs true {np.nanmedian(gt.fwhm[sel]):.0f} deg")  # fmt: skip
    adir = runs.analysis_dir(out)
    adir.mkdir(parents=True, exist_ok=True)
    figs = {
        "fig4_layers.png": figures.figure_4(
            {"VGG-19" + ("" if record["vgg_weights"] else " (random weights)"): sweep,
             "AlexNet (this package's weights)": asweep},
            paper={"conv1_1": 0.31, "conv3_1": 0.516}),
        "fig7b_depth.png": figures.figure_7b(depths, [fev[f"cnn_L{d_}"] for d_ in depths],
                                             paper={1: 0.345, 3: 0.498}),
        "fig8_models.png": figures.figure_8(scores, oracle=np.asarray(meta["ratio"]), tests=tests,
                                            paper={k: PAPER_FEV[k] for k in scores}),
        "fig9_tuning.png": figures.figure_9(
            tun, scores, truth=gt,
            stimuli=metrics.gabor_stimuli(40, num_orientations=preset["tuning_orientations"],
                                          num_phases=preset["tuning_phases"])["images"]),
        "fig10_transfer.png": figures.figure_10(mats, _TYPES, _TYPES),
    }  # fmt: skip
    for name, fig in figs.items():
        fig.savefig(adir / name, dpi=110)
    lines += ["", "Figures: " + ", ".join(f"`{k}`" for k in figs), ""]
    runs.write_text(adir / "results.json", json.dumps(_jsonable(results), indent=1))
    report = adir / "report.md"
    runs.write_text(report, "\n".join(lines))
    _say(on_event, f"wrote {report}")
    return report


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _test_responses(out: Path, meta) -> np.ndarray:
    record = runs.read_config_record(out / "fits")
    d = v1data.load(record["data"])
    resp = d.responses[:, :, np.asarray(meta["neurons"])]
    return resp[:, np.asarray(meta["test"])]


def _transfer(fev, fits, meta, main, test_resp) -> dict[str, np.ndarray]:
    """Mean FEV (train type x test type) for VGG and the CNN from the stored test predictions.

    Row ``all`` is the model trained on every type (the sweep fit at the comparison layer for
    VGG, with the same lambdas as the single-type fits).
    """
    out = {}
    types = np.asarray(meta["test_types"])
    for model, prefix in (("VGG", "transfer_vgg_"), ("CNN", "transfer_cnn_")):
        if model not in main:
            continue
        base = main[model].replace("_cv", "") if model == "VGG" else main[model]
        names = [base] + [prefix + t for t in _TYPES[1:]]
        if not any(n in fits for n in names[1:]):
            continue
        m = np.full((len(_TYPES), len(_TYPES)), np.nan)
        for i, name in enumerate(names):
            if name not in fits:
                continue
            pred = np.asarray(fits[name]["test_predictions"])
            m[i, 0] = float(np.nanmean(fev[name]))
            for j, t in enumerate(_TYPES[1:], start=1):
                sel = types == v1data.IMAGE_TYPES.index(t)
                if sel.sum() >= 10:  # FEV of fewer test images is too noisy to show
                    m[i, j] = float(np.nanmean(metrics.fev(test_resp[:, sel], pred[sel])))
        out[model] = m
    return out
