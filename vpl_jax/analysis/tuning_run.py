"""Tuning analyses of a whole run folder: naive and trained networks, unit and Eq. 7 tables.

`record_run` reads a finished run (``vpl_jax.experiment``), picks the tuning networks (spec of
seed 000, section 4.3: the conditions trained with noise SD 15, contrast 0.2 and wavelength 10 px
when the run has them; otherwise the run's most frequent stimulus, said in the description),
records the naive network on every reference's grid and each trained network on its own grid
with the same noise samples (`vpl_jax.analysis.tuning.tuning_analysis`), and builds:

* ``units`` / ``curves``: the unit table of `vpl_jax.analysis.physiology` and its tuning curves;
* ``fisher``: population Fisher information vs orientation (long format, ``fisher_frame``);
* ``layer_table``: Eq. 7 at layer level, one row per trained network and layer 1-5: the layer's
  final ``d_rel1`` (conv1..conv5, from the results) and the naive population FI at TO of the
  recorded layer (norm1, norm2, conv3, conv4, conv5) on that network's reference;
* ``unit_level_table``: Eq. 7 at unit level: each unit's filter change
  (`vpl_jax.analysis.plasticity.unit_change` of conv1..conv5; norm1/norm2 units are the conv1/conv2
  channels) and its naive single-unit FI at TO.

Stimulus sizes follow training: at ``image_size`` < 227 px the wavelength and the Gaussian SD
shrink by ``image_size / 227`` as in `vpl_jax.train.TrainConfig.scale`.

`fisher_headlines` gives the report's verdicts on the spec's headline item 4.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd
from scipy import stats

from vpl_jax import alexnet

#: The paper's tuning networks (spec section 4.3).
PAPER_TUNING_STIMULUS = {"wavelength_px": 10.0, "contrast": 0.2, "noise_sd": 15.0}

#: Half-width (deg) of the window around TO in which FI gains are averaged (Fig. 4 asterisks).
FI_WINDOW_DEG = 10.0


class RunTuning(NamedTuple):
    """Tuning data of a run (see the module docstring); ``reason`` is non-empty when none."""

    units: pd.DataFrame | None
    curves: np.ndarray | None
    fisher: pd.DataFrame | None
    layer_table: pd.DataFrame | None
    unit_level_table: pd.DataFrame | None
    description: str
    reason: str = ""


def _none(reason: str) -> RunTuning:
    return RunTuning(None, None, None, None, None, "", reason)


def select_tuning_conditions(ds) -> tuple[np.ndarray, dict, str]:
    """Condition indices of the tuning networks, their stimulus and a sentence saying why.

    Returns:
        ``(indices, stimulus, note)``: ``stimulus`` holds ``wavelength_px`` (227-px frame),
        ``contrast``, ``noise_sd``.
    """
    frame = pd.DataFrame(
        {k: ds[k].values.astype(float) for k in ("wavelength_px", "contrast", "noise_sd")}
    )
    paper = np.ones(len(frame), bool)
    for k, v in PAPER_TUNING_STIMULUS.items():
        paper &= np.isclose(frame[k].values, v)
    if paper.any():
        note = "the paper's tuning networks (noise SD 15, contrast 0.2, wavelength 10 px)"
        return np.flatnonzero(paper), dict(PAPER_TUNING_STIMULUS), note
    counts = frame.value_counts(sort=True)
    stimulus = dict(zip(counts.index.names, counts.index[0], strict=True))
    mask = np.ones(len(frame), bool)
    for k, v in stimulus.items():
        mask &= np.isclose(frame[k].values, v)
    note = (
        "this run has no networks trained with the paper's tuning stimulus (noise SD 15, "
        "contrast 0.2, wavelength 10 px); the tuning protocol uses the run's most frequent "
        f"training stimulus instead (wavelength {stimulus['wavelength_px']:g} px, contrast "
        f"{stimulus['contrast']:g}, noise SD {stimulus['noise_sd']:g})"
    )
    return np.flatnonzero(mask), {k: float(v) for k, v in stimulus.items()}, note


def _conv_params(params: dict, arch: alexnet.ArchSpec) -> dict:
    return {name: params[name] for name in arch.layer_names}


def record_run(run_dir, ds, config, options, *, progress: bool = True) -> RunTuning:
    """Record and tabulate the tuning networks of a run folder.

    Args:
        run_dir: the run folder (its checkpoints hold the initial and final params).
        ds: the run's results Dataset.
        config: the run's `vpl_jax.experiment.RunConfig`.
        options: `vpl_jax.report.AnalysisOptions` (orientations, noise samples, seed, batch).
        progress: print progress on stderr.

    Returns:
        A `RunTuning` (``reason`` says why when the run has no tuning data).
    """
    from vpl_jax import experiment
    from vpl_jax.analysis import plasticity, tuning

    run = Path(run_dir)
    initial_path = run / "checkpoints" / "initial_params"
    if not initial_path.exists():
        return _none("the run folder has no initial params checkpoint")
    arch = config.train.arch
    indices, stimulus, note = select_tuning_conditions(ds)
    initial = experiment._restore_tree(initial_path)
    finals = [experiment.load_final_params(run, int(i)) for i in indices]
    final_stack = jax.tree.map(lambda *xs: np.stack(xs), *finals)

    scale = config.train.scale
    protocol = dict(
        num_orientations=options.num_orientations,
        num_noise=options.num_noise,
        wavelength_px=stimulus["wavelength_px"] * scale,
        sigma_px=config.train.sigma_px * scale,
        contrast=stimulus["contrast"],
        noise_sd=stimulus["noise_sd"],
        size=config.train.image_size,
        batch_size=max(options.batch_size, options.num_noise),
        progress=progress,
    )
    key = jax.random.key(options.seed)
    refs = ds.reference_deg.values[indices].astype(np.float64)
    seps = ds.separation_deg.values[indices].astype(np.float64)
    unique_refs = np.unique(refs)

    naive = tuning.tuning_analysis(
        key,
        _conv_params(initial, arch),
        np.asarray(unique_refs, np.float32),
        arch,
        network=-1,
        trained=False,
        **protocol,
    )
    if progress:
        import sys

        print(f"[analyze] naive network recorded on {len(unique_refs)} grids", file=sys.stderr)
    trained = tuning.tuning_analysis(
        key,
        _conv_params(final_stack, arch),
        np.asarray(refs, np.float32),
        arch,
        network=indices.astype(np.int64),
        separation_deg=seps,
        trained=True,
        **protocol,
    )
    units = pd.concat([naive.units, trained.units], ignore_index=True)
    curves = np.concatenate([naive.curves, trained.curves])
    fisher = pd.concat([naive.fisher, trained.fisher], ignore_index=True)

    # Eq. 7, layer level: final d_rel1 of conv_l vs naive population FI of layer l at TO.
    naive_fi = tuning.fisher_at_reference(naive.fisher)
    naive_fi = naive_fi.set_index(["reference_deg", "layer_index"])["fi"]
    change = ds.layer_change.sel(measure="d_rel1").isel(iteration=-1)
    rows = []
    for i, ref, sep in zip(indices, refs, seps, strict=True):
        for layer_index in range(1, 6):
            rows.append(
                {
                    "d_rel1": float(change.sel(layer=f"conv{layer_index}").values[i]),
                    "fi": float(naive_fi.loc[(ref, layer_index)]),
                    "layer_index": layer_index,
                    "separation_deg": float(sep),
                    "reference_deg": float(ref),
                }
            )
    layer_table = pd.DataFrame(rows)

    # Eq. 7, unit level: unit filter change vs naive single-unit FI at TO.
    naive_units = naive.units.set_index(["reference_deg", "layer_index", "unit"])["fi_to"]
    frames = []
    for layer_index in range(1, 6):
        conv = f"conv{layer_index}"
        per_unit = np.asarray(plasticity.unit_change(initial, final_stack, conv))  # (N, C)
        for n, (ref, sep) in enumerate(zip(refs, seps, strict=True)):
            c = per_unit.shape[1]
            fi = naive_units.loc[[(ref, layer_index, u) for u in range(c)]].to_numpy()
            frames.append(
                pd.DataFrame(
                    {
                        "d_rel1": per_unit[n],
                        "fi": fi,
                        "layer_index": layer_index,
                        "separation_deg": float(sep),
                    }
                )
            )
    unit_level_table = pd.concat(frames, ignore_index=True)

    description = (
        f"Tuning networks: {len(indices)} trained networks ({note}) and the naive network on "
        f"each of the {len(unique_refs)} reference grids; {options.num_orientations} orientations "
        f"x {options.num_noise} noise samples at {config.train.image_size} px (wavelength "
        f"{protocol['wavelength_px']:.2f} px, Gaussian SD {protocol['sigma_px']:.2f} px after "
        f"scaling by {scale:.3f}), contrast {stimulus['contrast']:g}, noise SD "
        f"{stimulus['noise_sd']:g}; gradients by jax.jacfwd through the Gabor. Included units "
        "(mean activation >= 1.0), naive / trained mean per network: "
        + ", ".join(
            f"{layer} {_included(units, layer, False):.0f} / {_included(units, layer, True):.0f}"
            for layer in tuning.TUNING_LAYERS
        )
        + " (paper, ImageNet AlexNet: 79 / 91 / 237 / 100 / 16)."
    )
    return RunTuning(units, curves, fisher, layer_table, unit_level_table, description)


def _included(units: pd.DataFrame, layer: str, trained: bool) -> float:
    sel = units[(units.layer == layer) & (units.trained == trained)]
    if sel.empty:
        return float("nan")
    per = sel.groupby(["network", "reference_deg"]).included.sum()
    return float(per.mean())


# --------------------------------------------------------------------------------------------
# Headline item 4: Fisher information


def fisher_gains(fisher: pd.DataFrame, *, window_deg: float = FI_WINDOW_DEG) -> pd.DataFrame:
    """Mean population FI within ``window_deg`` of TO, trained vs naive, per layer and separation.

    Each trained network is paired with the naive network on the same reference grid; the
    per-network values are compared with a one-sided Mann-Whitney U (trained > naive), as for the
    paper's Fig. 4 asterisks.

    Returns:
        One row per (layer_index, separation_deg): ``fi_trained, fi_naive`` (means), ``log_gain``
        (mean of log(trained / paired naive)), ``p`` and ``n``.
    """
    from scipy.stats import mannwhitneyu

    near = fisher[np.abs(fisher.orientation_rel_deg) <= window_deg]
    per_net = (
        near.groupby(
            ["network", "layer_index", "reference_deg", "separation_deg", "trained"], dropna=False
        )
        .fi.mean()
        .reset_index()
    )
    naive = per_net[~per_net.trained].set_index(["layer_index", "reference_deg"]).fi
    trained = per_net[per_net.trained]
    rows = []
    for (layer_index, sep), group in trained.groupby(["layer_index", "separation_deg"]):
        base = naive.loc[[(layer_index, r) for r in group.reference_deg]].to_numpy()
        t = group.fi.to_numpy()
        if len(t) < 2:
            p = float("nan")
        elif np.allclose(t, base):
            p = 1.0  # no change at all (e.g. a frozen layer): no evidence of a rise
        else:
            p = float(mannwhitneyu(t, base, alternative="greater").pvalue)
        rows.append(
            {
                "layer_index": int(layer_index),
                "separation_deg": float(sep),
                "fi_trained": float(t.mean()),
                "fi_naive": float(base.mean()),
                "log_gain": float(np.mean(np.log(t / base))),
                "p": p,
                "n": len(t),
            }
        )
    return pd.DataFrame(rows)


def fisher_headlines(tuning: RunTuning, *, alpha: float = 0.01) -> list[dict]:
    """The report's verdicts on headline item 4 (Fisher information, Fig. 4)."""
    from vpl_jax.report import _entry, _fmt

    gains = fisher_gains(tuning.fisher)
    out = []
    seps = np.sort(gains.separation_deg.unique())
    table = ", ".join(
        f"L{r.layer_index}@{r.separation_deg:g}: x{np.exp(r.log_gain):.2f}"
        for r in gains.itertuples()
    )
    claim = "FI gain near TO is largest in the top layer at the finest precision"
    paper = "Fig. 4: largest rise in the highest layers at the finest precision"
    if len(seps) < 2 or gains.layer_index.nunique() < 5:
        out.append(_entry("4a", claim, paper, "not testable", "needs 2+ separations and 5 layers"))
    else:
        g = gains.set_index(["layer_index", "separation_deg"]).log_gain
        finest, coarsest = seps[0], seps[-1]
        ok = g.loc[(5, finest)] > g.loc[(5, coarsest)] and g.loc[(5, finest)] > g.loc[(1, finest)]
        out.append(
            _entry(
                "4a",
                claim,
                paper,
                "reproduced" if ok else "not reproduced",
                f"geometric-mean FI gain within +-{FI_WINDOW_DEG:g} deg of TO: {table}",
                "reproduced if layer 5's gain at the finest separation exceeds its gain at the "
                "coarsest and layer 1's gain at the finest",
            )
        )
    claim = "layer 1 shows no FI change"
    paper = "Fig. 4: no visible FI change in layer 1"
    l1 = gains[gains.layer_index == 1]
    cells = max(len(gains), 1)
    if l1.empty or l1.p.isna().all():
        out.append(_entry("4b", claim, paper, "not testable", "too few layer-1 networks"))
    else:
        sig = bool((l1.p < alpha / cells).any())
        out.append(
            _entry(
                "4b",
                claim,
                paper,
                "not reproduced" if sig else "reproduced",
                "; ".join(f"{r.separation_deg:g} deg: p={_fmt(r.p)}" for r in l1.itertuples()),
                f"one-sided MWU trained > naive at alpha / {cells} (Bonferroni over cells)",
            )
        )
    claim = "at the finest precision the top layer's FI gain peaks near TO"
    paper = "Fig. 4: peak at TO, falls off by ~+-20 deg"
    fisher = tuning.fisher
    top = fisher[fisher.layer_index == 5]
    if len(seps) < 1 or top.empty:
        out.append(_entry("4c", claim, paper, "not testable", "no layer-5 FI"))
    else:
        finest = seps[0]
        tr = top[top.trained & np.isclose(top.separation_deg, finest)]
        nv = top[~top.trained]
        merged = tr.merge(nv, on=["reference_deg", "orientation_rel_deg"], suffixes=("_t", "_n"))
        merged["log_gain"] = np.log(merged.fi_t / merged.fi_n)
        near_gains = merged[np.abs(merged.orientation_rel_deg) <= FI_WINDOW_DEG].log_gain
        far_gains = merged[np.abs(merged.orientation_rel_deg) >= 45].log_gain
        near, far = near_gains.mean(), far_gains.mean()
        # A peak is a gain (> 0 near TO) that is larger near TO than far from it (one-sided MWU).
        p = float(stats.mannwhitneyu(near_gains, far_gains, alternative="greater").pvalue)
        ok = bool(near > 0 and near > far and p < alpha)
        out.append(
            _entry(
                "4c",
                claim,
                paper,
                "reproduced" if ok else "not reproduced",
                f"layer 5 at {finest:g} deg: mean log gain {near:.3f} within +-{FI_WINDOW_DEG:g} deg "
                f"vs {far:.3f} beyond +-45 deg; one-sided MWU p={_fmt(p)} (reproduced if the "
                "gain near TO is positive and larger than far from TO at p < alpha)",
            )
        )
    return out


def _json_safe(x):
    return json.loads(json.dumps(x, default=float))
