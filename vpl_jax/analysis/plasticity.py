r"""Layer change during learning (Wenliang & Seitz (2018); the paper's Fig. 3 and Fig. 5B).

Inputs are a run's results Dataset (`vpl_jax.experiment.results_dataset`; its ``layer_change``
variable holds the four measures ``d_rel1, d_rel2, d_m1, d_m2`` per condition, evaluation iteration
and layer ``conv1..conv5, readout``) and, for the unit-level change, params pytrees
``{"conv1": {"w": (kh, kw, C_in, C_out) HWIO, "b": (C_out,)}, ...}``.

Layers are numbered 1..6 in the order of the ``layer`` axis (conv1 = 1, readout = 6); the
regressions of Fig. 3B/3C use layers 1-5 with the layer number as a numeric predictor and the
natural log of the training separation (degrees). Regression tables are those of
`vpl_jax.analysis.behaviour.ols_table` (per-term ``r2_term`` = type-II sum of squares of the term /
total sum of squares), with an extra ``model`` column and, for per-separation models, the
``separation`` (degrees; NaN for pooled models).

Peak speed iteration (PSI), our definition (the paper leaves it open): the rate
of change of a trajectory ``d(t)`` in *linear* iterations is estimated on each interval between
consecutive evaluation iterations as the finite difference ``(d_{e+1} - d_e) / (t_{e+1} - t_e)``
(the exact mean slope over the interval) and attributed to the interval's midpoint
``(t_e + t_{e+1}) / 2``. The PSI is the vertex of the parabola through the largest slope and its
two neighbouring slopes (a sub-interval refinement; clipped to the span of the three midpoints, and
the midpoint itself when the parabola is not concave or the largest slope is the first or last
interval). It is NaN when no slope is positive (no learning) or the trajectory is not finite.
Because the slopes are interval means of the true derivative and the refinement is local, the
estimate moves little between grids: `tests/vpl_jax/analysis/test_plasticity.py` shows that for
logistic trajectories the PSI on the paper's log-spaced grid (``eval_iterations(1000)``), on a
10-iteration linear grid and on every iteration agree within 10% of the true steepest point.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr
from jaxtyping import Array, Float

from theory.checks import InputError
from vpl_jax.analysis.behaviour import (
    check_dataset,
    group_by_separation,
    iteration_index,
    ols_table,
)

__all__ = [
    "CONV_LAYERS",
    "change_curves",
    "change_proportions",
    "change_trajectories",
    "final_change",
    "final_change_regressions",
    "peak_speed_iteration",
    "psi",
    "psi_regressions",
    "ratio_to_separation",
    "unit_change",
]

#: The paper's layers 1-5 (the regressions and proportions use these).
CONV_LAYERS: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4", "conv5")
_MEASURES = ("d_rel1", "d_rel2", "d_m1", "d_m2")
#: Grid fields (besides the separation) that identify "the same stimulus condition".
_MATCH_FIELDS = ("reference_deg", "wavelength_px", "contrast", "noise_sd", "learning_rate")


def _check_measure(ds, measure: str) -> None:
    check_dataset(ds, ["layer_change", "separation_deg"])
    allowed = tuple(str(m) for m in ds.measure.values)
    if measure not in allowed:
        raise InputError(f"measure must be one of {allowed}, got {measure!r}")


def _check_layers(ds, layers, name: str = "layers") -> list[str]:
    known = [str(x) for x in ds.layer.values]
    if layers is None:
        return known
    if isinstance(layers, str):
        layers = (layers,)
    layers = list(layers)
    bad = [x for x in layers if x not in known]
    if not layers or bad:
        raise InputError(f"{name} must be a non-empty subset of {known}, got {layers}")
    return layers


def _layer_numbers(ds, layers: Sequence[str]) -> np.ndarray:
    known = [str(x) for x in ds.layer.values]
    return np.asarray([known.index(x) + 1 for x in layers], float)


# --------------------------------------------------------------------------------------------
# Trajectories and final values


def change_trajectories(ds, *, measure: str = "d_rel1", layers=None) -> xr.DataArray:
    """One change measure's trajectories, ``(condition, iteration, layer)`` (Fig. 3A).

    Raises:
        ValueError: unknown ``measure`` or ``layers``.
    """
    _check_measure(ds, measure)
    layers = _check_layers(ds, layers)
    return ds.layer_change.sel(measure=measure, layer=layers).transpose(
        "condition", "iteration", "layer"
    )


def change_curves(ds, *, measure: str = "d_rel1", layers=None) -> xr.Dataset:
    """Trajectories grouped by training separation: ``mean``, ``sd`` (ddof 0), ``n`` of shape
    ``(separation, iteration, layer)``."""
    return group_by_separation(change_trajectories(ds, measure=measure, layers=layers), ds)


def final_change(
    ds, *, measure: str = "d_rel1", layers=None, iteration: int | None = None
) -> xr.DataArray:
    """The measure at the last (or a given) evaluation iteration, ``(condition, layer)`` (Fig. 3C).

    Raises:
        ValueError: unknown ``measure``, ``layers`` or ``iteration``.
    """
    traj = change_trajectories(ds, measure=measure, layers=layers)
    return traj.isel(iteration=iteration_index(ds, iteration))


# --------------------------------------------------------------------------------------------
# Unit-level change


def unit_change(initial: dict, final: dict, layer: str) -> Float[Array, "*batch C_out"]:
    r"""Relative L1 change of each output channel's filter (weights only, no bias).

    .. math:: d_{rel1}(u) = \frac{\sum_{i,j,c} |w^{T}_{ijcu} - w^{0}_{ijcu}|}{\sum_{i,j,c} |w^0_{ijcu}|}

    Pure jnp, vmappable; ``final`` (and/or ``initial``) may carry leading batch axes (e.g.
    networks), which broadcast explicitly.

    Args:
        initial: params before training, ``initial[layer]["w"]`` of shape ``(*b0, kh, kw, C_in,
            C_out)`` (HWIO).
        final: params after training, ``final[layer]["w"]`` of shape ``(*b1, kh, kw, C_in, C_out)``;
            ``b0`` must be empty or equal ``b1``.
        layer: a conv layer name, e.g. ``"conv2"``.

    Returns:
        ``(*batch, C_out)``; NaN for a unit whose initial filter is all zero.

    Raises:
        ValueError: ``layer`` missing or its weights not of rank >= 4, or mismatched shapes.

    References:
        Wenliang & Seitz (2018), Eq. 4 applied to one unit.
    """
    for name, params in (("initial", initial), ("final", final)):
        if not isinstance(params, dict) or layer not in params or "w" not in params[layer]:
            have = list(params) if isinstance(params, dict) else type(params)
            raise InputError(f"{name} has no weights for layer {layer!r}; it has {have}")
    w0 = jnp.asarray(initial[layer]["w"])
    w1 = jnp.asarray(final[layer]["w"])
    if w0.ndim < 4 or w1.ndim < 4:
        raise InputError(
            f"layer must name a conv layer with HWIO weights (rank >= 4), got {layer!r} with "
            f"initial shape {w0.shape} and final shape {w1.shape}"
        )
    if w0.shape[-4:] != w1.shape[-4:] or (w0.ndim > 4 and w0.shape != w1.shape):
        raise InputError(
            f"initial and final weights of {layer!r} must match, got {w0.shape} and {w1.shape}"
        )
    if w0.ndim < w1.ndim:
        w0 = jnp.expand_dims(w0, tuple(range(w1.ndim - w0.ndim)))
        w0 = jnp.broadcast_to(w0, w1.shape)
    num = jnp.sum(jnp.abs(w1 - w0), axis=(-4, -3, -2))
    den = jnp.sum(jnp.abs(w0), axis=(-4, -3, -2))
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), jnp.nan)


# --------------------------------------------------------------------------------------------
# Peak speed iteration


def psi(iterations, values) -> np.ndarray:
    """Peak speed iteration of trajectories (definition in the module docstring).

    Args:
        iterations: ``(E,)`` strictly increasing evaluation iterations, ``E >= 2``.
        values: ``(..., E)`` trajectories (e.g. d_rel1) on those iterations.

    Returns:
        ``(...)`` float PSI in iterations (NaN for a trajectory with no positive slope or a
        non-finite value).

    Raises:
        ValueError: fewer than 2 iterations, not strictly increasing, or a last axis of
            ``values`` that does not match.

    Examples:
        >>> import numpy as np
        >>> t = np.arange(0.0, 1001.0)
        >>> float(np.round(psi(t, 1.0 / (1.0 + np.exp(-(t - 300.0) / 40.0)))))
        300.0
    """
    t = np.asarray(iterations, float)
    d = np.asarray(values, float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
        raise InputError(
            f"iterations must be a strictly increasing 1-d sequence of >= 2 values, got {t}"
        )
    if d.ndim < 1 or d.shape[-1] != t.size:
        raise InputError(f"values must have a last axis of size {t.size}, got shape {d.shape}")
    mids = 0.5 * (t[1:] + t[:-1])
    slopes = np.diff(d, axis=-1) / np.diff(t)
    m = mids.size
    safe = np.where(np.isfinite(slopes), slopes, -np.inf)
    k = np.argmax(safe, axis=-1)
    best = np.take_along_axis(safe, k[..., None], axis=-1)[..., 0]
    out = mids[k]
    if m >= 3:
        kc = np.clip(k, 1, m - 2)
        x0, x1, x2 = mids[kc - 1], mids[kc], mids[kc + 1]
        y0, y1, y2 = (
            np.take_along_axis(slopes, (kc + j)[..., None], -1)[..., 0] for j in (-1, 0, 1)
        )
        denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
        b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
        interior = (k >= 1) & (k <= m - 2) & (a < 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.clip(-b / (2.0 * np.where(a < 0, a, -1.0)), x0, x2)
        out = np.where(interior, vertex, out)
    bad = ~np.all(np.isfinite(d), axis=-1) | ~(best > 0)
    return np.where(bad, np.nan, out)


def peak_speed_iteration(ds, *, measure: str = "d_rel1", layers=None) -> xr.DataArray:
    """`psi` of every condition's and layer's trajectory, ``(condition, layer)`` in iterations.

    Raises:
        ValueError: unknown ``measure`` or ``layers``, or fewer than 2 evaluation iterations.
    """
    traj = change_trajectories(ds, measure=measure, layers=layers)
    values = traj.transpose("condition", "layer", "iteration").values
    out = psi(ds.iteration.values, values)
    return xr.DataArray(
        out,
        dims=("condition", "layer"),
        coords={"condition": traj.condition, "layer": traj.layer, **_condition_coords(traj)},
        name="psi",
        attrs={"units": "iterations"},
    )


def _condition_coords(da) -> dict:
    return {k: v for k, v in da.coords.items() if v.dims == ("condition",) and k != "condition"}


# --------------------------------------------------------------------------------------------
# Ratio to the 10 deg condition and proportions


def ratio_to_separation(
    ds,
    *,
    measure: str = "d_rel1",
    reference_separation: float = 10.0,
    layers=None,
    iteration: int | None = None,
) -> xr.DataArray:
    r"""Final change relative to the same stimulus condition trained at 10 deg (Fig. 3D).

    .. math:: r_{c,l} = d_{rel1}(c, l) / d_{rel1}(c', l)

    where ``c'`` has ``reference_separation`` and the same reference orientation, wavelength,
    contrast, noise SD and learning rate as ``c``.

    Returns:
        ``(condition, layer)`` ratios, NaN where ``c`` has no matching reference condition (or a
        zero reference change). ``attrs["testable"]`` is False, with ``attrs["reason"]``, when no
        condition has a match (e.g. the run has no 10 deg condition).

    Raises:
        ValueError: unknown ``measure``/``layers``/``iteration``, ``reference_separation <= 0``,
            or two reference conditions matching the same stimulus.
    """
    if not np.isfinite(reference_separation) or reference_separation <= 0:
        raise InputError(f"reference_separation must be > 0 degrees, got {reference_separation!r}")
    fin = final_change(ds, measure=measure, layers=layers, iteration=iteration)
    fields = [f for f in _MATCH_FIELDS if f in ds.coords]
    keys = [tuple(float(ds[f].values[i]) for f in fields) for i in range(ds.sizes["condition"])]
    seps = ds.separation_deg.values.astype(float)
    is_ref = np.isclose(seps, reference_separation)
    lookup: dict[tuple, int] = {}
    for i in np.flatnonzero(is_ref):
        if keys[i] in lookup:
            raise InputError(
                f"ds has two conditions at reference_separation={reference_separation} for the "
                f"same stimulus {dict(zip(fields, keys[i], strict=True))}"
            )
        lookup[keys[i]] = int(i)
    index = np.asarray([lookup.get(k, -1) for k in keys])
    values = fin.values.astype(float)
    den = values[np.maximum(index, 0)]
    valid = (index >= 0)[:, None] & (den != 0)
    ratio = np.where(valid, values / np.where(valid, den, 1.0), np.nan)
    out = fin.copy(data=ratio).rename("ratio")
    testable = bool(np.any(valid))
    reason = ""
    if not testable:
        if not np.any(is_ref):
            reason = f"the run has no condition trained at {reference_separation:g} deg"
        elif np.all(index < 0):
            reason = f"no condition has a {reference_separation:g} deg partner of the same stimulus"
        else:
            reason = f"every change at {reference_separation:g} deg is zero"
    out.attrs.update(testable=testable, reason=reason, reference_separation=reference_separation)
    return out


def change_proportions(
    ds,
    *,
    measure: str = "d_rel1",
    layers: Sequence[str] = CONV_LAYERS,
    iteration: int | None = None,
) -> xr.DataArray:
    r"""Share of each layer in the summed change, ``d(l) / sum_{l'} d(l')`` (Fig. 5B).

    Args:
        ds: results Dataset.
        measure: change measure (``"d_rel1"``).
        layers: the layers normalised over: layers 1-5 (default) or ``CONV_LAYERS[1:]`` (2-5, when
            layer 1 was frozen).
        iteration: evaluation iteration (default the last).

    Returns:
        ``(condition, layer)`` proportions summing to 1 over ``layer`` (NaN if the sum is 0).

    Raises:
        ValueError: unknown ``measure``, ``layers`` or ``iteration``.
    """
    fin = final_change(ds, measure=measure, layers=layers, iteration=iteration)
    total = fin.sum("layer")
    return (fin / total.where(total != 0)).rename("proportion")


# --------------------------------------------------------------------------------------------
# Regressions (Fig. 3B and 3C)


def _layer_table(da: xr.DataArray, ds, name: str) -> pd.DataFrame:
    """Long table: one row per (condition, layer) with ``name``, ``log_sep``, ``layer``, ``sep``."""
    layers = [str(x) for x in da.layer.values]
    values = da.transpose("condition", "layer").values.astype(float)
    seps = ds.separation_deg.values.astype(float)
    n_layers = len(layers)
    return pd.DataFrame(
        {
            name: values.reshape(-1),
            "sep": np.repeat(seps, n_layers),
            "log_sep": np.log(np.repeat(seps, n_layers)),
            "layer": np.tile(_layer_numbers(ds, layers), seps.size),
        }
    )


def _tagged(table: pd.DataFrame, model: str, separation: float = np.nan) -> pd.DataFrame:
    table.insert(0, "separation", separation)
    table.insert(0, "model", model)
    return table


def psi_regressions(
    ds, *, measure: str = "d_rel1", layers: Sequence[str] = CONV_LAYERS, alpha: float = 0.01
) -> pd.DataFrame:
    r"""The Fig. 3B regressions of the PSI on log separation and layer number (1-5).

    Models (``model`` column):

    * ``"interaction"``: ``psi ~ log_sep * layer`` (terms ``log_sep``, ``layer``,
      ``log_sep:layer``; df = n - 4);
    * ``"main_effects"``: ``psi ~ log_sep + layer`` (df = n - 3);
    * ``"per_separation"``: ``psi ~ layer`` for each training separation (``separation`` column).

    Returns:
        The long table of the module docstring.

    References:
        Wenliang & Seitz (2018), Fig. 3B: beta_logsep = -46.02 (R^2 0.40) with the interaction;
        negative layer effect only at 0.5 and 1.0 deg.
    """
    data = _layer_table(peak_speed_iteration(ds, measure=measure, layers=layers), ds, "psi")
    tables = [
        _tagged(
            ols_table(
                data, "psi ~ log_sep * layer", ["log_sep", "layer", "log_sep:layer"], alpha=alpha
            ),
            "interaction",
        ),
        _tagged(
            ols_table(data, "psi ~ log_sep + layer", ["log_sep", "layer"], alpha=alpha),
            "main_effects",
        ),
    ]
    for sep in np.unique(data["sep"]):
        sub = data[data["sep"] == sep]
        tables.append(
            _tagged(
                ols_table(sub, "psi ~ layer", ["layer"], alpha=alpha), "per_separation", float(sep)
            )
        )
    return pd.concat(tables, ignore_index=True)


def final_change_regressions(
    ds, *, measure: str = "d_rel1", layers: Sequence[str] = CONV_LAYERS, alpha: float = 0.01
) -> pd.DataFrame:
    r"""The Fig. 3C regressions of the final change on log separation and layer number (1-5).

    Models (``model`` column):

    * ``"linear_interaction"``: ``d ~ log_sep * layer``;
    * ``"log_main_effects"``: ``log(d) ~ log_sep + layer`` (rows with ``d <= 0`` dropped).

    References:
        Wenliang & Seitz (2018), Fig. 3C: log model beta_logsep = -1.0 (R^2 0.66), beta_layer =
        -0.15 (R^2 0.13); linear interaction +0.00010.
    """
    fin = final_change(ds, measure=measure, layers=layers)
    data = _layer_table(fin, ds, "d")
    with np.errstate(divide="ignore", invalid="ignore"):
        data["log_d"] = np.where(data["d"] > 0, np.log(data["d"].where(data["d"] > 0, 1.0)), np.nan)
    return pd.concat(
        [
            _tagged(
                ols_table(
                    data, "d ~ log_sep * layer", ["log_sep", "layer", "log_sep:layer"], alpha=alpha
                ),
                "linear_interaction",
            ),
            _tagged(
                ols_table(data, "log_d ~ log_sep + layer", ["log_sep", "layer"], alpha=alpha),
                "log_main_effects",
            ),
        ],
        ignore_index=True,
    )
