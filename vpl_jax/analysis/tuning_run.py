"""Tuning analyses of a whole run: naive and trained networks, unit and Eq. 7 tables.

`select_tuning_conditions` picks the tuning networks of a run's results (as Wenliang & Seitz,
2018: the conditions trained with noise SD 15, contrast 0.2 and wavelength 10 px when the run has
them; otherwise the run's most frequent stimulus, said in the note); `record_run` takes their
params (arrays: the caller reads them from the run folder, `vpl_jax.runs`) and records the naive
network on every reference's grid and each trained network on its own grid
with the same noise samples (`vpl_jax.analysis.tuning.tuning_analysis`), and builds:

* ``units`` / ``curves``: the unit table of `vpl_jax.analysis.physiology` and its tuning curves;
* ``fisher``: population Fisher information vs orientation (long format, ``fisher_frame``);
* ``layer_table``: Eq. 7 at layer level, one row per trained network and layer 1-5: the layer's
  final ``d_rel1`` (conv1..conv5, from the results) and the naive population FI at TO of the
  recorded layer (norm1, norm2, conv3, conv4, conv5) on that network's reference;
* ``unit_level_table``: Eq. 7 at unit level: each unit's filter change
  (`vpl_jax.analysis.plasticity.unit_change` of conv1..conv5; norm1/norm2 units are the conv1/conv2
  channels) and its naive single-unit FI at TO. As the paper does for FI ("units with activity
  < 1.0 at the measured orientation were excluded"), units whose naive mean response at TO
  (``activity_to``, unsmoothed, interpolated at offset 0) is below
  `vpl_jax.analysis.recording.INCLUSION_THRESHOLD` are left out of this table.

Tuning gradients (``gradient``): ``"smoothed"`` (default), the paper's procedure as the authors'
code implements it -- the mean response filtered by a derivative of a Gaussian (circular
padding, `vpl_jax.analysis.tuning.GRADIENT_SMOOTHING_SAMPLES` grid samples; the paper's text
says SD 1 deg), with the mean and variance smoothed by a Gaussian of 1 sample for the
attributes; or ``"jacfwd"``, the exact derivative of the sample mean through the Gabor.

Stimulus sizes follow training: at ``image_size`` < 227 px the wavelength and the Gaussian SD
shrink by ``image_size / 227`` as in `vpl_jax.train.TrainConfig.scale`.

`fisher_gains` is the Fig. 4 test (trained vs the naive network of the same reference), shared
by the figure and the report's verdicts (`vpl_jax.headlines`); `fisher_network_gains` gives the
per-network gains behind it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from theory.checks import InputError
from vpl_jax import alexnet
from vpl_jax.analysis import plasticity, tuning
from vpl_jax.analysis.recording import INCLUSION_THRESHOLD
from vpl_jax.train import TrainConfig

__all__ = [
    "FI_WINDOW_DEG",
    "GRADIENTS",
    "PAPER_TUNING_STIMULUS",
    "RunTuning",
    "TuningSelection",
    "fisher_gains",
    "fisher_network_gains",
    "record_run",
    "select_tuning_conditions",
]

#: The paper's tuning networks.
PAPER_TUNING_STIMULUS = {"wavelength_px": 10.0, "contrast": 0.2, "noise_sd": 15.0}

#: Half-width (deg) of the window around TO in which FI gains are averaged (Fig. 4 asterisks).
FI_WINDOW_DEG = 10.0

#: Tuning-gradient estimators of `record_run` and how the report names them.
GRADIENTS = {
    "smoothed": "the paper's procedure (derivative-of-Gaussian filter of the mean response, "
    f"SD {tuning.GRADIENT_SMOOTHING_SAMPLES:g} grid samples as in the authors' code, circular "
    "padding; mean and variance smoothed by a Gaussian of 1 sample)",
    "jacfwd": "the exact derivative of the sample-mean response (jax.jacfwd through the Gabor)",
}


class RunTuning(NamedTuple):
    """Tuning data of a run (see the module docstring); ``reason`` is non-empty when none."""

    units: pd.DataFrame | None
    curves: np.ndarray | None
    fisher: pd.DataFrame | None
    layer_table: pd.DataFrame | None
    unit_level_table: pd.DataFrame | None
    description: str
    reason: str = ""


class TuningSelection(NamedTuple):
    """The tuning networks of a run: condition ``indices``, their ``stimulus``
    (``wavelength_px`` in the 227-px frame, ``contrast``, ``noise_sd``) and a ``note`` saying why."""

    indices: np.ndarray
    stimulus: dict
    note: str


def select_tuning_conditions(ds) -> TuningSelection:
    """The tuning networks of a results Dataset (see `TuningSelection`)."""
    frame = pd.DataFrame(
        {k: ds[k].values.astype(float) for k in ("wavelength_px", "contrast", "noise_sd")}
    )
    paper = np.ones(len(frame), bool)
    for k, v in PAPER_TUNING_STIMULUS.items():
        paper &= np.isclose(frame[k].values, v)
    if paper.any():
        note = "the paper's tuning networks (noise SD 15, contrast 0.2, wavelength 10 px)"
        return TuningSelection(np.flatnonzero(paper), dict(PAPER_TUNING_STIMULUS), note)
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
    return TuningSelection(np.flatnonzero(mask), {k: float(v) for k, v in stimulus.items()}, note)


def _conv_params(params: dict, arch: alexnet.ArchSpec) -> dict:
    return {name: params[name] for name in arch.layer_names}


def record_run(
    ds,
    train_config: TrainConfig,
    selection: TuningSelection,
    initial_params: dict,
    final_params: dict,
    *,
    num_orientations: int = 100,
    num_noise: int = 50,
    seed: int = 0,
    batch_size: int = 250,
    gradient: str = "smoothed",
    progress: bool = True,
) -> RunTuning:
    """Record and tabulate the tuning networks of a run.

    Args:
        ds: the run's results Dataset.
        train_config: the run's `vpl_jax.train.TrainConfig` (architecture, image size, scale).
        selection: `select_tuning_conditions` of ``ds``.
        initial_params: the shared initial model params (conv1-5 at least).
        final_params: the final params of the selected networks, every leaf with a leading axis
            of length ``len(selection.indices)`` in that order.
        num_orientations: orientations of the tuning grid over 180 deg (100 in the paper).
        num_noise: noise samples per orientation (50 in the paper).
        seed: seed of the tuning noise.
        batch_size: images per forward block.
        gradient: ``"smoothed"`` (the paper's procedure, default) or ``"jacfwd"`` (exact); see
            the module docstring.
        progress: progress bars on stderr.

    Returns:
        A `RunTuning`.

    Raises:
        InputError: an unknown ``gradient``.
    """
    if gradient not in GRADIENTS:
        raise InputError(f"gradient must be one of {sorted(GRADIENTS)}, got {gradient!r}")
    arch = train_config.arch
    indices, stimulus, note = selection
    final_stack = final_params
    config = train_config
    scale = config.scale
    protocol = dict(
        num_orientations=num_orientations,
        num_noise=num_noise,
        wavelength_px=stimulus["wavelength_px"] * scale,
        sigma_px=config.sigma_px * scale,
        contrast=stimulus["contrast"],
        noise_sd=stimulus["noise_sd"],
        size=config.image_size,
        batch_size=max(batch_size, num_noise),
        progress=progress,
    )
    key = jax.random.key(seed)
    refs = ds.reference_deg.values[indices].astype(np.float64)
    seps = ds.separation_deg.values[indices].astype(np.float64)
    unique_refs = np.unique(refs)

    naive = tuning.tuning_analysis(
        key,
        _conv_params(initial_params, arch),
        np.asarray(unique_refs, np.float32),
        arch,
        network=-1,
        trained=False,
        gradient=gradient,
        **protocol,
    )
    trained = tuning.tuning_analysis(
        key,
        _conv_params(final_stack, arch),
        np.asarray(refs, np.float32),
        arch,
        network=ds.condition.values[indices].astype(np.int64),
        separation_deg=seps,
        trained=True,
        gradient=gradient,
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

    # Eq. 7, unit level: unit filter change vs naive single-unit FI at TO, active units only.
    naive_units = naive.units.set_index(["reference_deg", "layer_index", "unit"])["fi_to"]
    ref_index = {float(r): i for i, r in enumerate(unique_refs)}
    theta = np.asarray(naive.recording.orientations_rel_deg, np.float64)
    frames = []
    for layer_index, layer in enumerate(tuning.TUNING_LAYERS, start=1):
        conv = f"conv{layer_index}"
        per_unit = np.asarray(plasticity.unit_change(initial_params, final_stack, conv))  # (N, C)
        mean = np.asarray(naive.recording.mean[layer], np.float64)  # (R, O, C), unsmoothed
        activity = np.asarray(tuning.interpolate_at(mean, theta, 0.0), np.float64)  # (R, C)
        for n, (ref, sep) in enumerate(zip(refs, seps, strict=True)):
            c = per_unit.shape[1]
            fi = naive_units.loc[[(ref, layer_index, u) for u in range(c)]].to_numpy()
            active = activity[ref_index[float(ref)]]
            frame = pd.DataFrame(
                {
                    "d_rel1": per_unit[n],
                    "fi": fi,
                    "layer_index": layer_index,
                    "separation_deg": float(sep),
                    "activity_to": active,
                    "unit": np.arange(c),
                    "reference_deg": float(ref),
                }
            )
            frames.append(frame[frame.activity_to >= INCLUSION_THRESHOLD])
    unit_level_table = pd.concat(frames, ignore_index=True)
    n_active = sum(len(f) for f in frames)

    description = (
        f"Tuning networks: {len(indices)} trained networks ({note}) and the naive network on "
        f"each of the {len(unique_refs)} reference grids; {num_orientations} orientations "
        f"x {num_noise} noise samples at {config.image_size} px (wavelength "
        f"{protocol['wavelength_px']:.2f} px, Gaussian SD {protocol['sigma_px']:.2f} px after "
        f"scaling by {scale:.3f}), contrast {stimulus['contrast']:g}, noise SD "
        f"{stimulus['noise_sd']:g}; tuning gradients: {GRADIENTS[gradient]}. Included units "
        "(mean activation >= 1.0), naive / trained mean per network: "
        + ", ".join(
            f"{layer} {_included(units, layer, False):.0f} / {_included(units, layer, True):.0f}"
            for layer in tuning.TUNING_LAYERS
        )
        + " (paper, ImageNet AlexNet: 79 / 91 / 237 / 100 / 16). Unit-level Eq. 7: "
        f"{n_active} (unit, network) pairs with naive activity >= {INCLUSION_THRESHOLD:g} at TO "
        "(silent units left out, as the paper does for FI)."
    )
    return RunTuning(units, curves, fisher, layer_table, unit_level_table, description)


def _included(units: pd.DataFrame, layer: str, trained: bool) -> float:
    sel = units[(units.layer == layer) & (units.trained == trained)]
    if sel.empty:
        return float("nan")
    per = sel.groupby(["network", "reference_deg"]).included.sum()
    return float(per.mean())


# --------------------------------------------------------------------------------------------
# The Fig. 4 test: Fisher information near TO, trained vs naive


def fisher_network_gains(
    fisher: pd.DataFrame, *, window_deg: float = FI_WINDOW_DEG
) -> pd.DataFrame:
    """Per trained network and layer: mean population FI within ``window_deg`` of TO against the
    naive network on the same reference grid.

    Args:
        fisher: the long FI table (`vpl_jax.analysis.tuning.fisher_frame` of naive and trained
            networks, as in `RunTuning.fisher`).
        window_deg: half-width of the window around TO (deg).

    Returns:
        One row per (trained network, layer): ``network, layer_index, reference_deg,
        separation_deg, fi_trained, fi_naive`` (means over the window) and ``log_gain`` =
        ``log(fi_trained / fi_naive)``.
    """
    columns = [
        "network",
        "layer_index",
        "reference_deg",
        "separation_deg",
        "fi_trained",
        "fi_naive",
        "log_gain",
    ]
    near = fisher[np.abs(fisher.orientation_rel_deg) <= window_deg]
    per_net = (
        near.groupby(
            ["network", "layer_index", "reference_deg", "separation_deg", "trained"], dropna=False
        )
        .fi.mean()
        .reset_index()
    )
    naive = per_net[~per_net.trained].set_index(["layer_index", "reference_deg"]).fi
    trained = per_net[per_net.trained].reset_index(drop=True)
    if trained.empty:
        return pd.DataFrame(columns=columns)
    base = naive.loc[list(zip(trained.layer_index, trained.reference_deg, strict=True))]
    out = trained.drop(columns="trained").rename(columns={"fi": "fi_trained"})
    out["fi_naive"] = base.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["log_gain"] = np.log(out.fi_trained / out.fi_naive)
    out["layer_index"] = out.layer_index.astype(int)
    return out[columns]


def fisher_gains(fisher: pd.DataFrame, *, window_deg: float = FI_WINDOW_DEG) -> pd.DataFrame:
    """Mean population FI within ``window_deg`` of TO, trained vs naive, per layer and separation.

    Each trained network is paired with the naive network on the same reference grid
    (`fisher_network_gains`); the per-network values are compared with a one-sided Mann-Whitney
    U (trained > naive), as for the paper's Fig. 4 asterisks.

    Returns:
        One row per (layer_index, separation_deg): ``fi_trained, fi_naive`` (means), ``log_gain``
        (mean of log(trained / paired naive)), ``p`` and ``n``.
    """
    per_net = fisher_network_gains(fisher, window_deg=window_deg)
    rows = []
    for (layer_index, sep), group in per_net.groupby(["layer_index", "separation_deg"]):
        t = group.fi_trained.to_numpy(float)
        base = group.fi_naive.to_numpy(float)
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
                "log_gain": float(group.log_gain.mean()),
                "p": p,
                "n": len(t),
            }
        )
    columns = ["layer_index", "separation_deg", "fi_trained", "fi_naive", "log_gain", "p", "n"]
    return pd.DataFrame(rows, columns=columns)
