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


def pixel_grid(size: int, dtype=jnp.float32) -> tuple[Float[Array, "H W"], Float[Array, "H W"]]:
    """Centred pixel coordinates ``(x, y)`` of a ``size`` x ``size`` image (x right, y up).

    Args:
        size: image side in pixels, >= 1.
        dtype: floating dtype of the result.

    Returns:
        ``(x, y)``, each of shape ``(size, size)``, in pixels.

    Raises:
        ValueError: if ``size < 1``.

    Examples:
        >>> x, y = pixel_grid(3)
        >>> x[0].tolist(), y[:, 0].tolist()
        ([-1.0, 0.0, 1.0], [1.0, 0.0, -1.0])
    """
    if int(size) != size or size < 1:
        raise ValueError(f"size must be an integer >= 1 (pixels), got {size=}")
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
