"""Pixel coordinates and plane-wave stimuli shared by ``theory`` and ``vpl_jax.stimuli``.

Convention (the original VPL code's ``Screen.Gabor``, used everywhere in this project):

* an image of ``size`` x ``size`` pixels has centre ``c = (size - 1) / 2`` (113 for 227 px);
* ``x = col - c`` points right and ``y = c - row`` points up (row 0 is the top of the image);
* rotation by ``angle_deg`` maps ``x' = cos(a) x - sin(a) y``, ``y' = sin(a) x + cos(a) y``, so a
  carrier that varies along ``x'`` has vertical stripes at 0 deg and rotates clockwise on screen as
  the angle grows.

Arrays are indexed ``[row, col]``. Angles are in degrees unless the name says ``_rad``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from theory.checks import InputError

__all__ = ["SINUSOID_WINDOWS", "pixel_grid", "rotate", "sinusoid"]


def pixel_grid(size: int, dtype=jnp.float32) -> tuple[Float[Array, "H W"], Float[Array, "H W"]]:
    """Centred pixel coordinates ``(x, y)`` of a ``size`` x ``size`` image (x right, y up).

    Args:
        size: image side in pixels, >= 1.
        dtype: floating dtype of the result.

    Returns:
        ``(x, y)``, each of shape ``(size, size)``, in pixels.

    Raises:
        InputError: if ``size < 1``.

    Examples:
        >>> x, y = pixel_grid(3)
        >>> x[0].tolist(), y[:, 0].tolist()
        ([-1.0, 0.0, 1.0], [1.0, 0.0, -1.0])
    """
    if int(size) != size or size < 1:
        raise InputError(f"size must be an integer >= 1 (pixels), got {size=}")
    centre = (size - 1) / 2.0
    coords = jnp.arange(size, dtype=dtype)
    x = jnp.broadcast_to(coords[None, :] - centre, (size, size))
    y = jnp.broadcast_to(centre - coords[:, None], (size, size))
    return x, y


def rotate(
    x: Float[ArrayLike, "..."], y: Float[ArrayLike, "..."], angle_deg: Float[ArrayLike, ""]
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """Rotate coordinates by ``angle_deg`` (degrees; clockwise stripes on screen, see module doc).

    Returns:
        ``(x', y')`` with ``x' = cos(a) x - sin(a) y`` and ``y' = sin(a) x + cos(a) y``.
    """
    a = jnp.deg2rad(angle_deg)
    cos, sin = jnp.cos(a), jnp.sin(a)
    return cos * x - sin * y, sin * x + cos * y


SINUSOID_WINDOWS = (None, "hann", "radial")


def sinusoid(
    freq_cpi: Float[ArrayLike, ""],
    phase_rad: Float[ArrayLike, ""],
    *,
    size: int = 32,
    orientation_deg: Float[ArrayLike, ""] = 0.0,
    amplitude: Float[ArrayLike, ""] = 1.0,
    window: str | None = None,
) -> Float[Array, "H W"]:
    r"""Plane wave ``A sin(2 pi f x' / size + phase)`` with origin at the image centre.

    ``x'`` is the rotated coordinate of :func:`rotate` applied to :func:`pixel_grid`, so at
    ``orientation_deg = 0`` the wave varies along x (vertical stripes) and it rotates clockwise on
    screen as the angle grows. The frequency is in **cycles per image** (continuous; Nyquist is
    ``size / 2``). The function is built from ``jnp`` operations only, so it is differentiable in
    ``freq_cpi``, ``phase_rad``, ``orientation_deg`` and ``amplitude`` (``jax.jvp``/``jacfwd``).

    .. math:: x(p; f, \phi) = A\, w(p) \sin(2\pi f \langle p, n\rangle / \mathrm{size} + \phi)

    Windows ``w``: ``None`` (w = 1, the paper's plain plane wave); ``"hann"``, the separable
    ``cos^2(pi x / size) cos^2(pi y / size)`` centred on the patch (close to 0 at the border);
    ``"radial"``, the circular ``cos^2(pi r / size)`` for ``r < size / 2`` and 0 outside. A window
    removes the border discontinuity whose spectral leakage shapes the threshold curve
    ``T(f)``.

    Args:
        freq_cpi: spatial frequency, cycles per image, scalar (vmap for batches).
        phase_rad: phase at the image centre, radians, scalar.
        size: image side in pixels, integer >= 1 (static).
        orientation_deg: orientation of the wave vector, degrees (0 = vertical stripes).
        amplitude: peak amplitude ``A`` in image units.
        window: one of ``None``, ``"hann"``, ``"radial"`` (static).

    Returns:
        Image of shape ``(size, size)``, indexed ``[row, col]``; float dtype of the inputs
        (float32 by default, float64 when given float64 arrays or in x64 mode).

    Raises:
        InputError: if ``size`` is not an integer >= 1, ``window`` is unknown, or ``freq_cpi``/
            ``phase_rad`` is not a scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> img = sinusoid(1.0, jnp.pi / 2, size=4)  # cos(2 pi x / 4), x = -1.5 ... 1.5
        >>> [round(v, 4) for v in img[0].tolist()]
        [-0.7071, 0.7071, 0.7071, -0.7071]
    """
    if window not in SINUSOID_WINDOWS:
        raise InputError(f"window must be one of {SINUSOID_WINDOWS}, got {window=}")
    for name, value in (("freq_cpi", freq_cpi), ("phase_rad", phase_rad)):
        if jnp.ndim(value) != 0:
            raise InputError(
                f"{name} must be a scalar (use jax.vmap for batches), got shape {jnp.shape(value)}"
            )
    dtype = jnp.result_type(freq_cpi, phase_rad, orientation_deg, amplitude, float)
    x, y = pixel_grid(size, dtype)
    xr, _ = rotate(x, y, jnp.asarray(orientation_deg, dtype))
    img = jnp.asarray(amplitude, dtype) * jnp.sin(
        2.0 * jnp.pi * jnp.asarray(freq_cpi, dtype) * xr / size + jnp.asarray(phase_rad, dtype)
    )
    if window == "hann":
        img = img * jnp.cos(jnp.pi * x / size) ** 2 * jnp.cos(jnp.pi * y / size) ** 2
    elif window == "radial":
        r = jnp.sqrt(x**2 + y**2)
        img = img * jnp.where(r < size / 2.0, jnp.cos(jnp.pi * r / size) ** 2, 0.0)
    return img
