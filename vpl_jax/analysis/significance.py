"""The significance level of the paper's tests and the one way numbers and p values are written.

Wenliang & Seitz (2018), "Deep neural networks for modeling visual perceptual learning", test at
alpha = 0.01 with Bonferroni corrections written as ``alpha / m``. Every analysis, figure and
verdict takes its default level from `ALPHA`, and writes numbers with `format_number` and p
values with `format_p`, so a report reads the same everywhere.

Examples:
    >>> from vpl_jax.analysis.significance import ALPHA, format_number, format_p
    >>> ALPHA
    0.01
    >>> format_number(0.123456), format_number(2.5e-5), format_p(0.0), format_p(3.2e-7)
    ('0.123', '2.50e-05', '<1e-300', '3.2e-07')
"""

from __future__ import annotations

import math

__all__ = ["ALPHA", "format_number", "format_p"]

ALPHA = 0.01
"""The paper's significance level."""


def format_number(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits; scientific notation below 1e-3 and from 1e4; ``nan``."""
    if x is None or not math.isfinite(x):
        return "nan"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def format_p(p: float | None) -> str:
    """A p value: 3 decimals from 1e-3, one-digit scientific notation below, ``<1e-300`` for 0
    (below double precision; the paper prints "p = 0.0"), ``nan`` when there is none."""
    if p is None or not math.isfinite(p):
        return "nan"
    if p == 0.0:
        return "<1e-300"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"
