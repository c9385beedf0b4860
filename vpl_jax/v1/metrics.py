r"""Performance metric, statistics and in-silico analyses of Cadena et al. (2019).

* `fev`: the fraction of explainable variance explained per neuron (Eq. 23),

  .. math:: \mathrm{FEV} = \frac{\mathrm{Var}[y] - \mathrm{MSE}}{\mathrm{Var}[y] - \sigma^2_{noise}}

  with ``MSE`` the mean over all real test trials of ``(y_ij - yhat_j)^2`` (the prediction of an
  image tiled over its repeats), ``Var[y]`` the variance of all real trials and
  ``sigma^2_noise`` the noise variance of Eq. 4 (`vpl_jax.v1.data.noise_variance`), both with
  ddof = 1. A perfect model scores about 1, a constant (the mean) about 0.
* `mean_ci`: the population mean with a 95 % t-interval (the paper's error bars; its CI method
  is not stated).
* `paired_tests`: Wilcoxon signed-rank tests between every pair of models over neurons, with
  Holm-Bonferroni correction (family-wise error 0.05), as Fig. 8.
* `readout_energy`: per neuron, the spatial energy ``sum_ij w_ijk^2`` of each feature map,
  sorted, as a normalised cumulative curve (Fig. 6B; the paper: 20 of 256 conv3_1 maps hold 82 %
  of the energy on average).
* `gabor_stimuli`, `insilico_tuning`: show Gabor patches of the size of the stimulus (orientation
  x spatial frequency x phase) to a model, take the orientation tuning at the best frequency and
  phase (fitted by a von Mises, width = its full width at half maximum) and the phase tuning at
  the best frequency and orientation (fitted by ``A cos(phi - phi0) + c``, linearity index
  ``A / c``: 0 complex, about 1 simple), as Fig. 9.

Host-side NumPy/SciPy except where a model is called.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping

import numpy as np

from theory.checks import InputError
from vpl_jax.v1 import data as v1data

__all__ = [
    "TuningResult",
    "fev",
    "fev_parts",
    "fwhm_from_kappa",
    "gabor_stimuli",
    "insilico_tuning",
    "linearity_index",
    "mean_ci",
    "paired_tests",
    "readout_energy",
    "von_mises",
    "fit_von_mises",
]


def fev_parts(responses: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
    """The pieces of Eq. 23 per neuron: ``mse``, ``total_variance``, ``noise_variance``,
    ``explainable_variance`` and ``fev``.

    Args:
        responses: ``(n_reps, n_images, N)`` test counts, ``NaN`` for missing trials (only a
            neuron's original repeats: do not fill the empty slots).
        predictions: ``(n_images, N)`` predicted rates per image.

    Returns:
        A dict of ``(N,)`` float64 arrays.
    """
    r = np.asarray(responses, np.float64)
    p = np.asarray(predictions, np.float64)
    if r.ndim != 3:
        raise InputError(f"responses must have shape (n_reps, n_images, N), got {r.shape}")
    if p.shape != r.shape[1:]:
        raise InputError(
            f"predictions must have shape (n_images, N) = {r.shape[1:]}, got {p.shape}"
        )
    real = ~np.isnan(r)
    err = np.where(real, (r - p[None]) ** 2, 0.0)
    mse = err.sum(axis=(0, 1)) / np.maximum(real.sum(axis=(0, 1)), 1)
    tot = v1data.total_variance(r)
    noise = v1data.noise_variance(r)
    expl = tot - noise
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(expl != 0, (tot - mse) / np.where(expl != 0, expl, 1.0), np.nan)
    return {
        "mse": mse,
        "total_variance": tot,
        "noise_variance": noise,
        "explainable_variance": expl,
        "fev": score,
    }


def fev(responses: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Fraction of explainable variance explained per neuron (Eq. 23), ``(N,)``.

    Args:
        responses: ``(n_reps, n_images, N)`` test counts with ``NaN`` for missing trials.
        predictions: ``(n_images, N)`` predicted rates.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> rate = rng.uniform(0.5, 4.0, (2000, 1))
        >>> y = rng.poisson(np.broadcast_to(rate, (4, 2000, 1))).astype(float)
        >>> round(float(fev(y, rate)[0]), 1), round(float(fev(y, np.full_like(rate, y.mean()))[0]), 1)
        (1.0, 0.0)
    """
    return fev_parts(responses, predictions)["fev"]


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` (NaNs dropped) and its ``level`` t-interval: ``(mean, low, high)``."""
    from scipy import stats

    x = np.asarray(values, np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    m = float(x.mean())
    if x.size < 2:
        return (m, np.nan, np.nan)
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return (m, m - half, m + half)


def paired_tests(scores: Mapping[str, np.ndarray], alpha: float = 0.05) -> list[dict]:
    """Wilcoxon signed-rank tests between every pair of models, Holm-Bonferroni corrected.

    Args:
        scores: ``{model: (N,) FEV}`` over the same neurons (neurons with a NaN in either model
            of a pair are dropped from that pair).
        alpha: family-wise error rate.

    Returns:
        One dict per pair: ``a, b, n, mean_diff`` (a - b), ``statistic``, ``p``, ``p_holm``,
        ``significant``.
    """
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    names = list(scores)
    if len(names) < 2:
        raise InputError(f"scores must hold at least two models, got {names}")
    rows = []
    for a, b in itertools.combinations(names, 2):
        x, y = np.asarray(scores[a], np.float64), np.asarray(scores[b], np.float64)
        if x.shape != y.shape:
            raise InputError(f"scores of {a!r} and {b!r} differ in shape: {x.shape} vs {y.shape}")
        ok = np.isfinite(x) & np.isfinite(y)
        d = x[ok] - y[ok]
        if ok.sum() < 1 or np.all(d == 0):
            stat, p = np.nan, 1.0
        else:
            res = stats.wilcoxon(x[ok], y[ok])
            stat, p = float(res.statistic), float(res.pvalue)
        rows.append(
            {"a": a, "b": b, "n": int(ok.sum()), "mean_diff": float(np.mean(d)) if d.size else np.nan,
             "statistic": stat, "p": p}
        )  # fmt: skip
    reject, p_holm, _, _ = multipletests([r["p"] for r in rows], alpha=alpha, method="holm")
    for row, rej, ph in zip(rows, reject, p_holm, strict=True):
        row["p_holm"] = float(ph)
        row["significant"] = bool(rej)
    return rows


def readout_energy(w: np.ndarray) -> np.ndarray:
    """Normalised cumulative spatial energy of the feature maps, sorted per neuron.

    Args:
        w: ``(h, w, k, N)`` dense read-out weights.

    Returns:
        ``(N, k)``: entry ``[n, m]`` is the fraction of neuron ``n``'s read-out energy in its
        ``m + 1`` highest-energy feature maps (1 at ``m = k - 1``; ``NaN`` for an all-zero
        read-out).
    """
    w = np.asarray(w, np.float64)
    if w.ndim != 4:
        raise InputError(f"w must have shape (h, w, k, N), got {w.shape}")
    energy = np.sum(w**2, axis=(0, 1)).T  # (N, k)
    energy = -np.sort(-energy, axis=1)
    total = energy.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            total > 0, np.cumsum(energy, axis=1) / np.where(total > 0, total, 1), np.nan
        )


# ---------------------------------------------------------------------------------------------
# In-silico tuning (Fig. 9)
# ---------------------------------------------------------------------------------------------


def gabor_stimuli(
    size: int = 40,
    *,
    num_orientations: int = 16,
    frequencies: tuple[float, ...] = (0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2),
    num_phases: int = 12,
    contrast: float = 2.0,
    sigma: float | None = None,
) -> dict[str, np.ndarray]:
    """Gabor patches of the size of the stimulus, on the model-input grid.

    ``contrast * exp(-r^2 / (2 sigma^2)) cos(2 pi f x' + phi)`` centred on the image, ``x'``
    along the wave vector at angle ``theta`` (the simulated cells' convention).

    Args:
        size: image side in pixels (40).
        num_orientations: orientations ``k pi / n`` in ``[0, pi)``.
        frequencies: spatial frequencies in cycles per pixel.
        num_phases: phases ``2 pi k / n``.
        contrast: peak amplitude in model-input (z-scored) units.
        sigma: envelope SD in pixels (default ``size / 4``: the patch spans the image).

    Returns:
        ``{"images": (n_o, n_f, n_p, size, size) float32, "orientations": (n_o,) radians,
        "frequencies": (n_f,), "phases": (n_p,) radians}``.
    """
    if size < 4 or num_orientations < 4 or num_phases < 3 or not frequencies:
        raise InputError(
            f"need size >= 4, num_orientations >= 4, num_phases >= 3 and frequencies; got "
            f"{size=}, {num_orientations=}, {num_phases=}, {frequencies=}"
        )
    sigma = size / 4.0 if sigma is None else float(sigma)
    theta = np.arange(num_orientations) * np.pi / num_orientations
    phases = np.arange(num_phases) * 2 * np.pi / num_phases
    freqs = np.asarray(frequencies, np.float64)
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size] - c
    env = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    xr = x[None] * np.cos(theta)[:, None, None] + y[None] * np.sin(theta)[:, None, None]
    arg = (
        2 * np.pi * freqs[None, :, None, None, None] * xr[:, None, None]
        + phases[None, None, :, None, None]
    )
    images = contrast * env * np.cos(arg)
    return {
        "images": images.astype(np.float32),
        "orientations": theta,
        "frequencies": freqs,
        "phases": phases,
    }


def von_mises(theta, baseline, amplitude, kappa, theta0):
    """``baseline + amplitude exp(kappa (cos 2(theta - theta0) - 1))`` (orientation, period pi)."""
    return baseline + amplitude * np.exp(kappa * (np.cos(2 * (theta - theta0)) - 1.0))


def fwhm_from_kappa(kappa) -> np.ndarray:
    """Full width at half maximum (degrees of orientation) of `von_mises` above its baseline.

    ``arccos(1 - ln 2 / kappa)`` radians; 180 when the curve never falls to half (kappa small).
    """
    kappa = np.asarray(kappa, np.float64)
    arg = 1.0 - np.log(2.0) / np.where(kappa > 0, kappa, np.inf)
    return np.degrees(np.where(arg > -1, np.arccos(np.clip(arg, -1, 1)), np.pi))


def fit_von_mises(theta: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """Least-squares `von_mises` fit to one orientation tuning curve.

    Returns:
        ``{"baseline", "amplitude", "kappa", "theta0", "fwhm"}`` (fwhm in degrees; NaN for a
        flat curve).
    """
    from scipy.optimize import curve_fit

    theta, r = np.asarray(theta, np.float64), np.asarray(r, np.float64)
    span = float(r.max() - r.min())
    if not np.isfinite(span) or span <= 1e-12 * max(1.0, abs(float(r.max()))):
        return {"baseline": float(r.mean()), "amplitude": 0.0, "kappa": 0.0,
                "theta0": np.nan, "fwhm": np.nan}  # fmt: skip
    best = None
    for kappa0 in (0.5, 2.0, 8.0):
        p0 = (float(r.min()), span, kappa0, float(theta[np.argmax(r)]))
        try:
            p, _ = curve_fit(
                von_mises, theta, r, p0=p0,
                bounds=([-np.inf, 0.0, 1e-3, -np.pi], [np.inf, np.inf, 200.0, 2 * np.pi]),
                maxfev=5000,
            )  # fmt: skip
        except (RuntimeError, ValueError):
            continue
        sse = float(np.sum((von_mises(theta, *p) - r) ** 2))
        if best is None or sse < best[0]:
            best = (sse, p)
    if best is None:
        return {"baseline": float(r.mean()), "amplitude": 0.0, "kappa": 0.0,
                "theta0": np.nan, "fwhm": np.nan}  # fmt: skip
    b, a, k, t0 = best[1]
    return {"baseline": float(b), "amplitude": float(a), "kappa": float(k),
            "theta0": float(np.mod(t0, np.pi)), "fwhm": float(fwhm_from_kappa(k))}  # fmt: skip


def linearity_index(phases: np.ndarray, r: np.ndarray) -> float:
    """Fit ``A cos(phi - phi0) + c`` by least squares and return ``A / c`` (Fig. 9D-E).

    0 for a phase-invariant (complex) response, about 1 or more for a rectified linear (simple)
    one; NaN when ``c <= 0``.
    """
    phases, r = np.asarray(phases, np.float64), np.asarray(r, np.float64)
    design = np.stack([np.cos(phases), np.sin(phases), np.ones_like(phases)], axis=1)
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    amp, c = float(np.hypot(coef[0], coef[1])), float(coef[2])
    return amp / c if c > 0 else np.nan


@dataclasses.dataclass(frozen=True, eq=False)
class TuningResult:
    """In-silico tuning of ``N`` model neurons.

    Attributes:
        fwhm: ``(N,)`` orientation tuning width (degrees).
        linearity: ``(N,)`` linearity index.
        preferred_orientation: ``(N,)`` radians in ``[0, pi)`` (at the response maximum).
        preferred_frequency: ``(N,)`` cycles per pixel.
        orientation_curves: ``(N, n_o)`` at the best frequency and phase.
        phase_curves: ``(N, n_p)`` at the best frequency and orientation.
        orientations, phases: the stimulus grids (radians).
    """

    fwhm: np.ndarray
    linearity: np.ndarray
    preferred_orientation: np.ndarray
    preferred_frequency: np.ndarray
    orientation_curves: np.ndarray
    phase_curves: np.ndarray
    orientations: np.ndarray
    phases: np.ndarray


def insilico_tuning(
    response_fn: Callable[[np.ndarray], np.ndarray],
    stimuli: Mapping[str, np.ndarray] | None = None,
    *,
    batch_size: int = 512,
) -> TuningResult:
    """Orientation width and linearity index of every neuron of a model (Fig. 9).

    Args:
        response_fn: maps images ``(B, S, S)`` (model-input units) to rates ``(B, N)``.
        stimuli: from `gabor_stimuli` (default: its defaults at 40 px).
        batch_size: images per call of ``response_fn``.

    Returns:
        The `TuningResult`.
    """
    stimuli = gabor_stimuli() if stimuli is None else stimuli
    images = np.asarray(stimuli["images"])
    n_o, n_f, n_p = images.shape[:3]
    flat = images.reshape(-1, *images.shape[3:])
    out = [
        np.asarray(response_fn(flat[i : i + batch_size])) for i in range(0, len(flat), batch_size)
    ]
    resp = np.concatenate(out, axis=0)
    if resp.ndim != 2 or resp.shape[0] != len(flat):
        raise InputError(
            f"response_fn must return (B, N) rates for (B, S, S) images, got {resp.shape}"
        )
    resp = resp.reshape(n_o, n_f, n_p, -1).astype(np.float64)
    n = resp.shape[-1]
    fwhm, lin = np.full(n, np.nan), np.full(n, np.nan)
    pref_o, pref_f = np.full(n, np.nan), np.full(n, np.nan)
    o_curves, p_curves = np.zeros((n, n_o)), np.zeros((n, n_p))
    for j in range(n):
        o, f, p = np.unravel_index(np.argmax(resp[..., j]), (n_o, n_f, n_p))
        o_curves[j] = resp[:, f, p, j]
        p_curves[j] = resp[o, f, :, j]
        fwhm[j] = fit_von_mises(stimuli["orientations"], o_curves[j])["fwhm"]
        lin[j] = linearity_index(stimuli["phases"], p_curves[j])
        pref_o[j] = stimuli["orientations"][o]
        pref_f[j] = stimuli["frequencies"][f]
    return TuningResult(
        fwhm=fwhm,
        linearity=lin,
        preferred_orientation=pref_o,
        preferred_frequency=pref_f,
        orientation_curves=o_curves,
        phase_curves=p_curves,
        orientations=np.asarray(stimuli["orientations"]),
        phases=np.asarray(stimuli["phases"]),
    )
