"""Least-squares Gabor fits of convolution kernels (conv1 filters).

A 2-D Gabor ``g = A exp(-x'^2 / (2 sx^2) - y'^2 / (2 sy^2)) cos(2 pi f x' + phi) + c`` is fitted
to each kernel by ``scipy.optimize.least_squares`` with the analytic Jacobian, and the fit is
scored by R^2. Kernels live on the project's shared pixel grid (``x = col - (W-1)/2`` right,
``y = (H-1)/2 - row`` up); ``GaborFit.orientation_deg`` is in the stimulus convention of
``vpl_jax.stimuli`` (0 deg = vertical stripes, clockwise on screen).

All functions are pure NumPy/SciPy (no JAX).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from jaxtyping import ArrayLike

from theory.checks import InputError

__all__ = ["GABOR_PARAM_NAMES", "GaborFit", "conv1_kernels", "fit_gabors", "gabor_kernel"]

GABOR_PARAM_NAMES = (
    "amplitude",
    "x0",
    "y0",
    "theta_deg",
    "sigma_x",
    "sigma_y",
    "frequency",
    "phase_deg",
    "offset",
)
"""Columns of ``GaborFit.params``: see ``gabor_kernel``."""


def _kernel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    # The shared convention of theory.stimuli: x = col - c right, y = c - row up.
    x = np.arange(width, dtype=np.float64) - (width - 1) / 2.0
    y = (height - 1) / 2.0 - np.arange(height, dtype=np.float64)
    return np.broadcast_to(x[None, :], (height, width)), np.broadcast_to(
        y[:, None], (height, width)
    )


def gabor_kernel(params: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """Evaluate Gabor functions on a kernel's pixel grid (NumPy).

    ``g = A exp(-x'^2 / (2 sx^2) - y'^2 / (2 sy^2)) cos(2 pi f x' + phi) + c`` with
    ``x' = (x - x0) cos(theta) + (y - y0) sin(theta)``, ``y' = -(x - x0) sin(theta) + (y - y0) cos(theta)``
    on the shared pixel grid (``x = col - (W-1)/2`` right, ``y = (H-1)/2 - row`` up); ``theta`` is
    the direction of the carrier's wave vector, ``f`` its frequency in cycles/px.

    Args:
        params: ``(..., 9)`` in the order of ``GABOR_PARAM_NAMES`` (angles in degrees).
        shape: ``(H, W)`` of the kernel.

    Returns:
        ``(..., H, W)`` float64 array.
    """
    p = np.asarray(params, dtype=np.float64)
    if p.shape[-1:] != (len(GABOR_PARAM_NAMES),):
        raise InputError(f"params must have shape (..., {len(GABOR_PARAM_NAMES)}), got {p.shape}")
    x, y = _kernel_grid(*shape)
    a, x0, y0, th, sx, sy, f, ph, c = (p[..., i, None, None] for i in range(p.shape[-1]))
    th, ph = np.deg2rad(th), np.deg2rad(ph)
    dx, dy = x - x0, y - y0
    xr = dx * np.cos(th) + dy * np.sin(th)
    yr = -dx * np.sin(th) + dy * np.cos(th)
    env = np.exp(-(xr**2) / (2 * sx**2) - yr**2 / (2 * sy**2))
    return a * env * np.cos(2 * np.pi * f * xr + ph) + c


def _gabor_jacobian(params: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Analytic Jacobian of ``gabor_kernel(params, shape).ravel()``: ``(H * W, 9)``."""
    x, y = _kernel_grid(*shape)
    a, x0, y0, th, sx, sy, f, ph, _ = params
    th, ph = np.deg2rad(th), np.deg2rad(ph)
    cos_t, sin_t = np.cos(th), np.sin(th)
    dx, dy = x - x0, y - y0
    xr = dx * cos_t + dy * sin_t
    yr = -dx * sin_t + dy * cos_t
    env = np.exp(-(xr**2) / (2 * sx**2) - yr**2 / (2 * sy**2))
    arg = 2 * np.pi * f * xr + ph
    c, s = np.cos(arg), np.sin(arg)
    d_xr = a * env * (-xr / sx**2 * c - 2 * np.pi * f * s)
    d_yr = a * env * c * (-yr / sy**2)
    deg = np.pi / 180.0
    cols = [
        env * c,
        -cos_t * d_xr + sin_t * d_yr,
        -sin_t * d_xr - cos_t * d_yr,
        (yr * d_xr - xr * d_yr) * deg,
        a * env * c * xr**2 / sx**3,
        a * env * c * yr**2 / sy**3,
        -a * env * s * 2 * np.pi * xr,
        -a * env * s * deg,
        np.ones_like(x),
    ]
    return np.stack([col.ravel() for col in cols], axis=1)


class GaborFit(NamedTuple):
    """Least-squares Gabor fits of ``K`` kernels.

    Attributes:
        params: ``(K, 9)`` fitted parameters (``GABOR_PARAM_NAMES``; angles in degrees).
        r2: ``(K,)`` coefficient of determination ``1 - SS_res / SS_tot`` (``SS_tot`` about the
            kernel's mean); 0 for a constant kernel.
        orientation_deg: ``(K,)`` orientation of the fitted carrier in the stimulus convention
            (0 deg = vertical stripes, clockwise), in [0, 180).
        wavelength_px: ``(K,)`` carrier wavelength ``1 / f`` in pixels (inf for ``f = 0``).
    """

    params: np.ndarray
    r2: np.ndarray
    orientation_deg: np.ndarray
    wavelength_px: np.ndarray


def _gabor_inits(kernels: np.ndarray, pad: int = 64) -> np.ndarray:
    """Vectorised initial guesses from each kernel's FFT peak and energy moments: ``(K, 9)``."""
    k, h, w = kernels.shape
    x, y = _kernel_grid(h, w)
    centred = kernels - kernels.mean(axis=(1, 2), keepdims=True)
    spectrum = np.abs(np.fft.fft2(centred, s=(pad, pad))) ** 2
    spectrum[:, 0, 0] = 0.0
    peak = spectrum.reshape(k, -1).argmax(axis=1)
    row_f = np.fft.fftfreq(pad)[peak // pad]  # cycles/px along +row = -y
    col_f = np.fft.fftfreq(pad)[peak % pad]  # cycles/px along +x
    fx, fy = col_f, -row_f
    energy = centred**2
    mass = energy.sum(axis=(1, 2))
    mass = np.where(mass > 0, mass, 1.0)
    x0 = (energy * x).sum(axis=(1, 2)) / mass
    y0 = (energy * y).sum(axis=(1, 2)) / mass
    var = (energy * ((x - x0[:, None, None]) ** 2 + (y - y0[:, None, None]) ** 2)).sum(
        axis=(1, 2)
    ) / (2 * mass)
    # The squared envelope has width sigma / sqrt(2); sigma is bounded in the fit below.
    sigma = np.clip(np.sqrt(2 * var), 1.0, max(h, w) / 2)
    proj = (
        centred
        * np.exp(
            -2j
            * np.pi
            * (
                fx[:, None, None] * (x - x0[:, None, None])
                + fy[:, None, None] * (y - y0[:, None, None])
            )
        )
    ).sum(axis=(1, 2))
    phase = np.angle(proj)
    amp = np.abs(centred).max(axis=(1, 2))
    theta = np.arctan2(fy, fx)
    freq = np.hypot(fx, fy)
    return np.stack(
        [
            amp,
            x0,
            y0,
            np.rad2deg(theta),
            sigma,
            sigma,
            freq,
            np.rad2deg(phase),
            kernels.mean(axis=(1, 2)),
        ],
        axis=1,
    )


def fit_gabors(kernels: ArrayLike, *, num_starts: int = 3) -> GaborFit:
    """Fit a 2-D Gabor (``gabor_kernel``) to each kernel by least squares, and report R^2.

    Each kernel is fitted with ``scipy.optimize.least_squares`` (trust-region reflective, with
    bounds: centre within a pixel of the kernel, ``0.5 <= sigma <= max(H, W)``,
    ``0 <= f <= 0.5`` cycles/px) from initial guesses taken from the kernel's zero-padded FFT
    peak (orientation, frequency), the phase of its projection on that carrier, and the centroid
    and spread of its energy; the best of ``num_starts`` starts (the FFT guess, then the same
    with a narrower and a wider envelope) is kept. The initial guesses are vectorised; the
    fits loop over kernels.

    Args:
        kernels: ``(K, H, W)`` kernels (for conv1 weights see ``conv1_kernels``).
        num_starts: 1 to 3 initial guesses per kernel.

    Returns:
        A ``GaborFit`` with ``K`` rows.

    Raises:
        InputError: on kernels that are not ``(K, H, W)`` with ``H, W >= 3`` or contain
            non-finite values, or ``num_starts`` outside 1..3.

    Examples:
        >>> import numpy as np
        >>> true = np.array([[1.0, 0.3, -0.5, 30.0, 2.0, 2.5, 0.2, 45.0, 0.0]])
        >>> fit = fit_gabors(gabor_kernel(true, (11, 11)))
        >>> bool(fit.r2[0] > 0.999), round(float(fit.orientation_deg[0]), 3)
        (True, 150.0)
    """
    from scipy.optimize import least_squares

    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim != 3 or min(kernels.shape[1:]) < 3:
        raise InputError(f"kernels must have shape (K, H, W) with H, W >= 3, got {kernels.shape}")
    if not np.all(np.isfinite(kernels)):
        raise InputError("kernels must be finite")
    if num_starts not in (1, 2, 3):
        raise InputError(f"num_starts must be 1, 2 or 3, got {num_starts=}")
    k, h, w = kernels.shape
    half = (max(h, w) - 1) / 2.0 + 1.0
    lower = np.array([-np.inf, -half, -half, -np.inf, 0.5, 0.5, 0.0, -np.inf, -np.inf])
    upper = np.array([np.inf, half, half, np.inf, max(h, w), max(h, w), 0.5, np.inf, np.inf])
    inits = _gabor_inits(kernels)
    params = np.empty((k, len(GABOR_PARAM_NAMES)))
    r2 = np.zeros(k)
    for i in range(k):
        target = kernels[i]
        ss_tot = float(((target - target.mean()) ** 2).sum())
        if ss_tot == 0.0:
            params[i] = inits[i]
            params[i, 0] = 0.0
            continue
        best_cost, best_x = np.inf, inits[i]
        for scale in (1.0, 0.6, 1.6)[:num_starts]:
            x0 = inits[i].copy()
            x0[4:6] *= scale
            x0 = np.clip(x0, lower + 1e-6, upper - 1e-6)

            def residual(p, target=target):
                return (gabor_kernel(p, (h, w)) - target).ravel()

            sol = least_squares(
                residual,
                x0,
                jac=lambda p: _gabor_jacobian(p, (h, w)),
                bounds=(lower, upper),
                x_scale="jac",
                max_nfev=100,
                ftol=1e-6,
                xtol=1e-6,
                gtol=1e-6,
            )
            if sol.cost < best_cost:
                best_cost, best_x = sol.cost, sol.x
        params[i] = best_x
        r2[i] = 1.0 - 2.0 * best_cost / ss_tot
    freq = params[:, 6]
    with np.errstate(divide="ignore"):
        wavelength = np.where(freq > 0, 1.0 / np.where(freq > 0, freq, 1.0), np.inf)
    # Wave vector (cos theta, sin theta) <-> stimulus angle a with x' = cos(a) x - sin(a) y.
    orientation = np.mod(-params[:, 3], 180.0)
    return GaborFit(params=params, r2=r2, orientation_deg=orientation, wavelength_px=wavelength)


def conv1_kernels(params: dict, layer: str = "conv1") -> np.ndarray:
    """The first layer's filters as ``(C_out, kh, kw)`` grey kernels (summed over input channels).

    Summing an RGB kernel over its colour channels gives the filter seen by a grey image copied
    to all channels (the RGB -> grey convention of ``vpl_jax.weights``).

    Args:
        params: params pytree with ``params[layer]["w"]`` of shape ``(kh, kw, c_in, c_out)`` (HWIO).
        layer: the layer name.

    Returns:
        ``(C_out, kh, kw)`` float64 array.
    """
    if layer not in params or "w" not in params[layer]:
        raise InputError(f"layer {layer!r} with a kernel 'w' not found in params: {sorted(params)}")
    w = np.asarray(params[layer]["w"], dtype=np.float64)
    if w.ndim != 4:
        raise InputError(
            f"params[{layer!r}]['w'] must be HWIO (kh, kw, c_in, c_out), got {w.shape}"
        )
    return np.transpose(w.sum(axis=2), (2, 0, 1))
