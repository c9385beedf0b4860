"""Input checks shared by every package of the project: one error class for bad input.

`InputError` is the one exception type that means "the caller passed something outside the
allowed range"; the command line reports it as one line naming the parameter, and shows a full
traceback for anything else. It subclasses ``ValueError``, so ``except ValueError`` still works.

Traced-value policy (all of ``theory`` and ``vpl_jax``): a value check that needs a concrete
value runs when the input is concrete and raises `InputError`; inside ``jit``/``vmap`` a
function cannot raise on values and returns ``NaN`` (or a boolean ``ok`` status) instead.

Examples:
    >>> from theory.checks import InputError, require
    >>> require("v", 2.0, lambda a: a > 0, "> 0")
    >>> try:
    ...     require("v", -1.0, lambda a: a > 0, "> 0")
    ... except InputError as err:
    ...     print(err)
    v must be > 0, got -1.0
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

__all__ = ["InputError", "InputTypeError", "is_concrete", "require"]


class InputError(ValueError):
    """Bad input: a parameter outside its allowed range, a malformed file or folder."""


class InputTypeError(InputError, TypeError):
    """Bad input of the wrong type (also a ``TypeError``)."""


def is_concrete(value) -> bool:
    """True when ``value`` holds no JAX tracer (its numbers can be checked on the host)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def require(name: str, value, predicate: Callable[[np.ndarray], object], allowed: str) -> None:
    """Raise `InputError` naming ``name`` unless ``predicate(value)`` holds for every element.

    Args:
        name: the parameter's name as the caller spells it.
        value: a number or array; tracers are skipped (see the traced-value policy above).
        predicate: maps the value as a NumPy array to a boolean (array).
        allowed: the allowed range in words, e.g. ``"> 0"``.
    """
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    if not np.all(predicate(arr)):
        shown = arr.item() if arr.ndim == 0 else arr
        raise InputError(f"{name} must be {allowed}, got {shown}")
