r"""The paper's analyses of trained 7-layer CNNs: existence, dynamics, population, corruption,
ablation, spatial-frequency dependence and shift invariance.

All from the ICLR 2019 submission *Causal importance of orientation selectivity for
generalization in image recognition* (Sections 3.1-3.5, Appendix A.2-A.3):

* **Existence** (Fig. 2): the gOSI of every unit of each layer on the 432 gratings
  (`vpl_jax.cnn.tuning`), the fraction above 0.33, against the shuffle control (each unit's
  ``12 x 9 x 4`` activation matrix permuted at random, a fresh permutation per unit: the paper's
  text; the authors' code permutes the stimulus set once for all units) and against the untrained
  network (A.3). gOSI, tuning and shuffles come from `vpl_jax.analysis.selectivity`.
* **Training dynamics** (Fig. 3): Spearman's rho between the validation loss and the mean gOSI of
  each layer over the first 50 epochs (or all epochs of a shorter run).
* **Population** (Fig. 4a/b): Spearman's rho, across networks, between the test loss and the mean
  gOSI of each layer, both at each network's kept (best-validation) epoch.
* **Label corruption** (Fig. 4c): training accuracy (on the corrupted labels the network learnt),
  test accuracy and mean gOSI per layer, at the end of training.
* **Ablation** (Fig. 5): the BatchNorm outputs of the top-50 % or bottom-50 % gOSI channels of one
  layer are clamped to 0 (`vpl_jax.analysis.ablation.ablation_channels`: equal-size halves, ties
  by channel index; the authors' code splits strictly above / below the median); the impact is the
  per-image test cross-entropy after minus before, mean +- s.e.m.; a Wilcoxon signed-rank test
  pairs top and bottom on the same images; the paper's criterion is a more than twofold impact.
  The mean grating response of both halves is reported (the paper's activity control).
* **SF dependence** (A.2): for each selective unit, the preferred orientation at every spatial
  frequency whose peak response exceeds half the unit's overall peak (paper; the code's threshold
  is the midpoint of the per-frequency peaks), and the circular range of those orientations.
* **Shift invariance** (Fig. 6): a unit is one element of a post-ReLU map (or an FC 1 neuron); the
  test images driving it above 90 % of its maximum over the test set, shifted by 10 % (3 px)
  vertically, horizontally and both (nearest-edge fill); the coefficient of variation of its
  activation over the original and its 3 shifts, averaged over those images, then over units
  (mean +- s.e.). Vanilla vs the network with the top-50 % gOSI channels of Conv 2 or Conv 3
  ablated; units are paired across the two networks and compared by a Wilcoxon signed-rank test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from theory.checks import InputError
from vpl_jax import runs
from vpl_jax.analysis import ablation, selectivity
from vpl_jax.cnn import model, presets, train, tuning

__all__ = [
    "ABLATION_LAYERS",
    "AblationResult",
    "LayerTuning",
    "RunAnalysis",
    "ShiftResult",
    "ablation_impact",
    "analyze",
    "corruption_table",
    "dynamics_correlation",
    "existence_table",
    "grating_tuning",
    "network_variables",
    "per_image_loss",
    "population_correlation",
    "preferred_orientation_range",
    "shift_images",
    "shift_invariance",
    "shuffle_control",
    "spearman_by_layer",
    "summary_json",
]

ABLATION_LAYERS: dict[str, str] = dict(zip(model.TUNING_LAYERS, model.BN_LAYERS, strict=True))
"""Analysed layer -> the BatchNorm output whose channels its ablation zeroes."""


class LayerTuning(NamedTuple):
    """Grating tuning of every unit of every layer.

    Attributes:
        gosi: ``{layer: (C,)}``.
        responses: ``{layer: (C, O, S, P)}`` unit responses to the grating set.
    """

    gosi: dict[str, np.ndarray]
    responses: dict[str, np.ndarray]


def network_variables(state: train.TrainState, index: int, *, which: str = "best") -> dict:
    """One network's ``{"params", "batch_stats"}`` from a stacked state.

    Args:
        state: stacked `vpl_jax.cnn.train.TrainState`.
        index: the network.
        which: ``"best"`` (kept checkpoint) or ``"last"`` (end of training).
    """
    if which not in ("best", "last"):
        raise InputError(f"which must be 'best' or 'last', got {which!r}")
    p, b = (
        (state.best_params, state.best_batch_stats)
        if which == "best"
        else (state.params, state.batch_stats)
    )
    take = lambda t: jax.tree.map(lambda a: jnp.asarray(a[index]), t)
    return {"params": take(p), "batch_stats": take(b)}


def grating_tuning(
    variables: dict,
    mean_image: np.ndarray,
    *,
    config: model.CNNConfig = model.PAPER_CONFIG,
    masks: dict[str, Array] | None = None,
) -> LayerTuning:
    """gOSI and grating responses of every unit of the seven analysed layers."""
    images = tuning.grating_images(mean_image)
    r = tuning.unit_responses(variables, images, config=config, masks=masks)
    shape = (tuning.NUM_ORIENTATIONS, tuning.NUM_FREQUENCIES, tuning.NUM_PHASES)
    g = tuning.layer_gosi(r, shape=shape)
    resp = {
        k: np.asarray(jnp.moveaxis(v.reshape((*shape, v.shape[-1])), -1, 0)) for k, v in r.items()
    }
    return LayerTuning({k: np.asarray(v) for k, v in g.items()}, resp)


def shuffle_control(
    key: Array, responses: dict[str, np.ndarray], *, per_unit: bool = True
) -> dict[str, np.ndarray]:
    """gOSI of each unit after its whole activation matrix is permuted (one shuffle per unit).

    Args:
        key: PRNG key.
        responses: ``{layer: (C, O, S, P)}``.
        per_unit: a fresh permutation per unit (paper) or one shared by all units (code).

    Returns:
        ``{layer: (C,)}`` shuffled gOSI.
    """
    out = {}
    for k, (name, r) in zip(jax.random.split(key, len(responses)), responses.items(), strict=True):
        out[name] = np.asarray(
            selectivity.shuffled_gosi(
                k, r, tuning.ORIENTATIONS_DEG, num_shuffles=1, mode="matrix", per_unit=per_unit
            )[0]
        )
    return out


def existence_table(
    trained: dict[str, np.ndarray],
    shuffled: dict[str, np.ndarray],
    untrained: dict[str, np.ndarray] | None = None,
):
    """Per layer: units, fraction with gOSI > 0.33 and mean gOSI, trained / shuffled / untrained.

    Returns:
        pandas DataFrame indexed by layer.
    """
    import pandas as pd

    rows = []
    thr = selectivity.SELECTIVITY_THRESHOLD
    for layer, g in trained.items():
        row = {
            "layer": layer,
            "units": int(np.size(g)),
            "frac_selective": float(np.mean(np.asarray(g) > thr)),
            "mean_gosi": float(np.mean(g)),
            "frac_selective_shuffled": float(np.mean(np.asarray(shuffled[layer]) > thr)),
            "mean_gosi_shuffled": float(np.mean(shuffled[layer])),
        }
        if untrained is not None:
            row["frac_selective_untrained"] = float(np.mean(np.asarray(untrained[layer]) > thr))
            row["mean_gosi_untrained"] = float(np.mean(untrained[layer]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("layer")


def spearman_by_layer(x: np.ndarray, y: np.ndarray, layers=model.TUNING_LAYERS):
    """Spearman's rho and two-sided p between ``x (n,)`` and each column of ``y (n, L)``.

    Returns:
        pandas DataFrame indexed by layer with ``rho, p, n`` (NaN when fewer than 3 finite pairs
        or a constant series).
    """
    import pandas as pd
    from scipy import stats

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if y.ndim != 2 or y.shape[0] != x.shape[0] or y.shape[1] != len(layers):
        raise InputError(f"y must be (n, {len(layers)}) with n = {x.shape[0]}, got {y.shape}")
    rows = []
    for j, layer in enumerate(layers):
        ok = np.isfinite(x) & np.isfinite(y[:, j])
        n = int(ok.sum())
        if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok, j]) == 0:
            rho, p = np.nan, np.nan
        else:
            res = stats.spearmanr(x[ok], y[ok, j])
            rho, p = float(res.statistic), float(res.pvalue)
        rows.append({"layer": layer, "rho": rho, "p": p, "n": n})
    return pd.DataFrame(rows).set_index("layer")


def dynamics_correlation(history, network: int, *, first: int = 50):
    """Spearman's rho between validation loss and mean gOSI over the first ``first`` epochs."""
    if int(first) < 3:
        raise InputError(f"first must be >= 3 epochs, got {first}")
    val = history.val_loss.values[network, :first]
    g = history.mean_gosi.values[network, :first]
    return spearman_by_layer(val, g)


def population_correlation(history, networks: np.ndarray):
    """Spearman's rho across ``networks`` between test loss and mean gOSI at the kept epoch.

    Returns:
        ``(table, points)``: the per-layer DataFrame and ``(test_loss (n,), mean_gosi (n, L))``.
    """
    networks = np.asarray(networks)
    best = history.best_epoch.values[networks] - 1
    loss = history.test_loss.values[networks, best]
    g = history.mean_gosi.values[networks, best]
    return spearman_by_layer(loss, g), (loss, g)


def per_image_loss(
    variables: dict,
    images: np.ndarray,
    labels: np.ndarray,
    mean_image: np.ndarray,
    *,
    masks: dict[str, Array] | None = None,
    config: model.CNNConfig = model.PAPER_CONFIG,
    batch_size: int = 500,
) -> np.ndarray:
    """Softmax cross-entropy of each image (BatchNorm in inference mode), ``(N,)``."""
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = train.preprocess(images[i : i + batch_size], mean_image)
        logits, _ = model.apply(variables, x, config=config, masks=masks)
        out.append(
            np.asarray(
                optax.softmax_cross_entropy_with_integer_labels(
                    logits, jnp.asarray(labels[i : i + batch_size])
                )
            )
        )
    return np.concatenate(out)


class AblationResult(NamedTuple):
    """Ablation of one layer's top and bottom gOSI halves.

    Attributes:
        top, bottom: ``(N,)`` per-image test cross-entropy change (after - before).
        top_channels, bottom_channels: the ablated channels.
        p: two-sided Wilcoxon signed-rank p of top vs bottom on the same images.
        ratio: mean(top) / mean(bottom).
        activity_top, activity_bottom: mean grating response of each half.
    """

    top: np.ndarray
    bottom: np.ndarray
    top_channels: np.ndarray
    bottom_channels: np.ndarray
    p: float
    ratio: float
    activity_top: float
    activity_bottom: float


def ablation_impact(
    variables: dict,
    images: np.ndarray,
    labels: np.ndarray,
    mean_image: np.ndarray,
    gosi: np.ndarray,
    layer: str,
    *,
    responses: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
    config: model.CNNConfig = model.PAPER_CONFIG,
) -> AblationResult:
    """Ablate the top and the bottom 50 % gOSI channels of ``layer``'s BatchNorm output.

    Args:
        variables: the network.
        images, labels: test images (uint8) and labels.
        mean_image: the training mean image.
        gosi: ``(C,)`` gOSI of the layer's units.
        layer: one of `vpl_jax.cnn.model.TUNING_LAYERS` (its BN output is ablated).
        responses: optional ``(C, O, S, P)`` grating responses (for the activity control).
        baseline: optional precomputed unablated per-image loss.
    """
    from scipy import stats

    if layer not in ABLATION_LAYERS:
        raise InputError(f"layer must be one of {tuple(ABLATION_LAYERS)}, got {layer!r}")
    gosi = np.asarray(gosi)
    c = gosi.shape[0]
    base = (
        per_image_loss(variables, images, labels, mean_image, config=config)
        if (baseline is None)
        else np.asarray(baseline)
    )
    out = {}
    chans = {}
    for which in ("top", "bottom"):
        ch = ablation.ablation_channels(gosi, which=which, fraction=0.5)
        chans[which] = ch
        mask = {ABLATION_LAYERS[layer]: ablation.channel_mask(c, ch)}
        out[which] = (
            per_image_loss(variables, images, labels, mean_image, masks=mask, config=config) - base
        )
    diff = out["top"] - out["bottom"]
    p = float(stats.wilcoxon(out["top"], out["bottom"]).pvalue) if np.any(diff != 0) else 1.0
    mb = float(np.mean(out["bottom"]))
    ratio = float(np.mean(out["top"]) / mb) if mb != 0 else float("nan")
    act = (
        np.asarray(responses).reshape(c, -1).mean(axis=1)
        if responses is not None
        else np.full(c, np.nan)
    )
    return AblationResult(
        out["top"],
        out["bottom"],
        chans["top"],
        chans["bottom"],
        p,
        ratio,
        float(np.mean(act[chans["top"]])),
        float(np.mean(act[chans["bottom"]])),
    )


def preferred_orientation_range(
    responses: np.ndarray,
    gosi: np.ndarray,
    *,
    threshold: float = selectivity.SELECTIVITY_THRESHOLD,
    rule: str = "paper",
) -> np.ndarray:
    """Circular range (deg) of a selective unit's preferred orientations across SFs (A.2).

    Args:
        responses: ``(C, O, S, P)`` grating responses.
        gosi: ``(C,)`` gOSI.
        threshold: selectivity criterion.
        rule: ``"paper"``: SFs whose peak exceeds 50 % of the overall peak; ``"code"``: SFs whose
            peak exceeds the midpoint of the largest and smallest per-SF peaks.

    Returns:
        ``(C,)`` range in [0, 180) degrees; NaN for units that are not selective.

    Examples:
        >>> import numpy as np
        >>> r = np.zeros((1, 12, 3, 1)); r[0, 2, :, 0] = 1.0  # the same preference at every SF
        >>> preferred_orientation_range(r, np.array([0.9])).tolist()
        [0.0]
    """
    if rule not in ("paper", "code"):
        raise InputError(f"rule must be 'paper' or 'code', got {rule!r}")
    r = np.asarray(responses, np.float64)
    if r.ndim != 4:
        raise InputError(f"responses must be (C, O, S, P), got shape {r.shape}")
    rmax = r.max(axis=-1)  # (C, O, S)
    peaks = rmax.max(axis=1)  # (C, S)
    o = r.shape[1]
    out = np.full(r.shape[0], np.nan)
    for i in np.flatnonzero(np.asarray(gosi) > threshold):
        if rule == "paper":
            keep = peaks[i] > 0.5 * peaks[i].max()
        else:
            keep = peaks[i] > 0.5 * (peaks[i].max() + peaks[i].min())
        if not keep.any():
            keep = peaks[i] == peaks[i].max()
        pref = np.unique(np.argmax(rmax[i][:, keep], axis=0) * 180.0 / o)
        gaps = np.diff(np.concatenate([pref, pref[:1] + 180.0]))
        out[i] = 180.0 - gaps.max()
    return out


def shift_images(images: Array, dy: int, dx: int) -> Array:
    """Shift ``(N, H, W, C)`` images by whole pixels with nearest-edge fill.

    Examples:
        >>> import jax.numpy as jnp
        >>> shift_images(jnp.arange(4.0).reshape(1, 1, 4, 1), 0, 1)[0, 0, :, 0].tolist()
        [0.0, 0.0, 1.0, 2.0]
    """
    h, w = images.shape[1:3]
    rows = jnp.clip(jnp.arange(h) - dy, 0, h - 1)
    cols = jnp.clip(jnp.arange(w) - dx, 0, w - 1)
    return images[:, rows][:, :, cols]


class ShiftResult(NamedTuple):
    """Shift invariance of one network: per-unit CV of every layer.

    Attributes:
        cv: ``{layer: (U,)}`` unit CVs (NaN for units with no near-maximal image).
        mean, se: ``{layer: float}`` over the units with a CV.
    """

    cv: dict[str, np.ndarray]
    mean: dict[str, float]
    se: dict[str, float]


def shift_invariance(
    variables: dict,
    images: np.ndarray,
    mean_image: np.ndarray,
    *,
    masks: dict[str, Array] | None = None,
    fraction: float = 0.9,
    shift: float = 0.1,
    config: model.CNNConfig = model.PAPER_CONFIG,
    batch_size: int = 250,
) -> ShiftResult:
    """CV of each unit's activation over near-maximal test images and their three 10 % shifts.

    Args:
        variables: the network.
        images: uint8 ``(N, H, W, C)`` test images.
        mean_image: training mean image.
        masks: optional ablation masks (applied to the originals and the shifts alike).
        fraction: an image is near-maximal for a unit when its activation exceeds ``fraction``
            times the unit's maximum over ``images``.
        shift: shift as a fraction of the side (3 px at 32 px).
    """
    if not 0.0 < fraction < 1.0:
        raise InputError(f"fraction must be in (0, 1), got {fraction}")
    h = images.shape[1]
    d = int(round(shift * h))
    if d < 1:
        raise InputError(f"shift must be at least one pixel, got {shift} x {h} px")
    offsets = ((0, 0), (d, 0), (0, d), (d, d))
    acts: dict[str, list] = {k: [[] for _ in offsets] for k in model.TUNING_LAYERS}
    for i in range(0, images.shape[0], batch_size):
        x = train.preprocess(images[i : i + batch_size], mean_image)
        for j, (dy, dx) in enumerate(offsets):
            _, a = model.apply(variables, shift_images(x, dy, dx), config=config, masks=masks)
            for k in model.TUNING_LAYERS:
                acts[k][j].append(np.asarray(a[k]).reshape(x.shape[0], -1))
    cv, mean, se = {}, {}, {}
    for k in model.TUNING_LAYERS:
        a = np.stack([np.concatenate(v) for v in acts[k]])  # (4, N, U)
        top = a[0].max(axis=0)  # (U,)
        sel = (a[0] > fraction * top[None]) & (top[None] > 0)  # (N, U)
        mu = a.mean(axis=0)
        ok = sel & (mu > 0)
        per = np.where(ok, a.std(axis=0) / np.where(mu > 0, mu, 1.0), 0.0)
        n = ok.sum(axis=0)
        unit = np.where(n > 0, per.sum(axis=0) / np.maximum(n, 1), np.nan)
        cv[k] = unit
        good = unit[np.isfinite(unit)]
        mean[k] = float(good.mean()) if good.size else float("nan")
        se[k] = float(good.std(ddof=1) / np.sqrt(good.size)) if good.size > 1 else float("nan")
    return ShiftResult(cv, mean, se)


def corruption_table(
    history,
    state,
    splits,
    labels,
    mean_image,
    networks: np.ndarray,
    *,
    config: model.CNNConfig = model.PAPER_CONFIG,
):
    """Label corruption (Fig. 4c): per network at the end of training, train / test accuracy
    and mean gOSI per layer.

    Args:
        history: the training history.
        state: stacked final `vpl_jax.cnn.train.TrainState`.
        splits: the data.
        labels: ``(C, N_train)`` the (corrupted) training labels each network learnt.
        mean_image: training mean image.
        networks: indices of the corruption networks.

    Returns:
        pandas DataFrame, one row per network (``corruption, train_acc, test_acc,
        train_acc_clean`` and ``gosi_<layer>``).
    """
    import pandas as pd

    rows = []
    last = int(np.max(np.flatnonzero(np.isfinite(history.val_loss.values[0]))))
    for i in np.asarray(networks):
        v = network_variables(state, int(i), which="last")
        logits = []
        for s in range(0, splits.train_images.shape[0], 500):
            lg, _ = model.apply(
                v, train.preprocess(splits.train_images[s : s + 500], mean_image), config=config
            )
            logits.append(np.asarray(lg))
        pred = np.argmax(np.concatenate(logits), axis=-1)
        row = {
            "network": int(i),
            "corruption": float(history.corruption.values[i]),
            "train_acc": float(np.mean(pred == labels[i])),
            "train_acc_clean": float(np.mean(pred == splits.train_labels)),
            "test_acc": float(history.test_acc.values[i, last]),
            "test_loss": float(history.test_loss.values[i, last]),
        }
        for j, layer in enumerate(model.TUNING_LAYERS):
            row[f"gosi_{layer}"] = float(history.mean_gosi.values[i, last, j])
        rows.append(row)
    return pd.DataFrame(rows).set_index("network")


# --------------------------------------------------------------------------------------------
# The whole analysis of a run folder


class RunAnalysis(NamedTuple):
    """Everything `analyze` measures (inputs of `vpl_jax.cnn.figures`)."""

    history: Any
    main: int
    tuning: LayerTuning
    shuffled: dict[str, np.ndarray]
    untrained: LayerTuning
    existence: Any
    dynamics: Any
    dynamics_network: int | None
    population: Any
    population_points: tuple[np.ndarray, np.ndarray] | None
    corruption: Any
    ablation: dict[str, AblationResult]
    sf_range: dict[str, np.ndarray]
    shift: dict[str, ShiftResult]
    shift_p: dict[str, float]


def analyze(
    out_dir: str | Path, key: Array | None = None, *, progress: bool = False
) -> RunAnalysis:
    """Run every analysis on a finished (or partly trained) run folder.

    Args:
        out_dir: a folder written by `vpl_jax.cnn.presets.run`.
        key: PRNG key of the shuffle control (default ``jax.random.key(0)``).
        progress: a tqdm bar over the analyses.

    Raises:
        vpl_jax.runs.RunFolderError: not a CNN run folder or no finished epoch.
    """
    from scipy import stats
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    record = runs.read_config_record(out_dir)
    if record.get("kind") != "cnn-train":
        raise runs.RunFolderError(
            f"{out_dir} is not a CNN training run (config kind {record.get('kind')!r})"
        )
    cfg = record["config"]
    net_cfg = model.CNNConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.pop("network").items()}
    )
    config = train.TrainConfig(**cfg, network=net_cfg)
    networks = [train.Network(**n) for n in record["networks"]]
    history = runs.load_results(out_dir) if runs.results_path(out_dir).exists() else None
    state = train.load_run(out_dir, networks, config)
    splits = presets.load_splits(out_dir)
    if history is None:
        raise runs.RunFolderError(f"{out_dir} has no results.nc yet: let training finish")
    labels = np.asarray(_labels(networks, splits, config))
    mean = train.mean_image(splits.train_images)
    key = jax.random.key(0) if key is None else key
    groups = np.asarray(history.group.values)
    main = presets.main_network(networks)
    bar = tqdm(total=6, desc="CNN analyses", disable=not progress)

    v_main = network_variables(state, main)
    tun = grating_tuning(v_main, mean, config=net_cfg)
    shuffled = shuffle_control(key, tun.responses)
    init_key = jax.random.split(jax.random.key(networks[main].seed), 4)[0]
    untrained = grating_tuning(model.init(init_key, net_cfg), mean, config=net_cfg)
    existence = existence_table(tun.gosi, shuffled, untrained.gosi)
    sf_range = {
        k: preferred_orientation_range(tun.responses[k], tun.gosi[k]) for k in model.TUNING_LAYERS
    }
    bar.update(1)

    dyn = np.flatnonzero(groups == "dynamics")
    dyn_net = int(dyn[0]) if dyn.size else None
    dynamics = dynamics_correlation(history, dyn_net) if dyn_net is not None else None
    pop = np.flatnonzero(groups == "population")
    if pop.size >= 3:
        population, points = population_correlation(history, pop)
    else:
        population, points = None, None
    bar.update(1)
    corr = np.flatnonzero(groups == "corruption")
    corruption = (
        corruption_table(history, state, splits, labels, mean, corr, config=net_cfg)
        if corr.size
        else None
    )
    bar.update(1)

    base = per_image_loss(v_main, splits.test_images, splits.test_labels, mean, config=net_cfg)
    abl = {
        layer: ablation_impact(
            v_main,
            splits.test_images,
            splits.test_labels,
            mean,
            tun.gosi[layer],
            layer,
            responses=tun.responses[layer],
            baseline=base,
            config=net_cfg,
        )
        for layer in model.TUNING_LAYERS
    }
    bar.update(1)

    shift = {"none": shift_invariance(v_main, splits.test_images, mean, config=net_cfg)}
    for layer in ("conv2", "conv3"):
        c = tun.gosi[layer].shape[0]
        m = {ABLATION_LAYERS[layer]: ablation.channel_mask(c, abl[layer].top_channels)}
        shift[layer] = shift_invariance(v_main, splits.test_images, mean, masks=m, config=net_cfg)
    bar.update(1)
    shift_p = {}
    for layer in ("conv2", "conv3"):
        a, b = shift["none"].cv["fc1"], shift[layer].cv["fc1"]
        ok = np.isfinite(a) & np.isfinite(b)
        shift_p[layer] = (
            float(stats.wilcoxon(b[ok], a[ok]).pvalue)
            if ok.sum() > 1 and np.any(a[ok] != b[ok])
            else float("nan")
        )
    bar.update(1)
    bar.close()
    return RunAnalysis(
        history,
        main,
        tun,
        shuffled,
        untrained,
        existence,
        dynamics,
        dyn_net,
        population,
        points,
        corruption,
        abl,
        sf_range,
        shift,
        shift_p,
    )


def _labels(networks, splits, config):
    """The (corrupted) training labels of every network, as `train` drew them."""
    keys, cond = train.conditions(networks)
    k_labels = jnp.stack([jax.random.split(k, 4)[1] for k in keys])
    return jax.vmap(train.corrupt_labels, in_axes=(0, None, 0, None))(
        k_labels,
        jnp.asarray(splits.train_labels, jnp.int32),
        cond.corruption,
        config.network.num_classes,
    )


def summary_json(result: RunAnalysis) -> str:
    """The analysis numbers as JSON (tables as records)."""

    def table(df):
        return None if df is None else json.loads(df.reset_index().to_json(orient="records"))

    out = {
        "main_network": result.main,
        "existence": table(result.existence),
        "dynamics": table(result.dynamics),
        "population": table(result.population),
        "corruption": table(result.corruption),
        "ablation": {
            k: {
                "top_mean": float(np.mean(a.top)),
                "top_sem": _sem(a.top),
                "bottom_mean": float(np.mean(a.bottom)),
                "bottom_sem": _sem(a.bottom),
                "ratio": a.ratio,
                "p": a.p,
                "activity_top": a.activity_top,
                "activity_bottom": a.activity_bottom,
            }
            for k, a in result.ablation.items()
        },
        "sf_range_zero_fraction": {k: _zero_frac(v) for k, v in result.sf_range.items()},
        "shift_cv": {cond: {"mean": r.mean, "se": r.se} for cond, r in result.shift.items()},
        "shift_fc1_p": result.shift_p,
    }
    return json.dumps(out, indent=1, allow_nan=True)


def _sem(x) -> float:
    x = np.asarray(x, np.float64)
    return float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")


def _zero_frac(r) -> float:
    r = np.asarray(r)
    r = r[np.isfinite(r)]
    return float(np.mean(r == 0)) if r.size else float("nan")
