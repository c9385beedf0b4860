"""Figures: one function per figure, each taking results (and params or tuning data where needed)
and returning a matplotlib Figure with labelled axes, units and legends.

* `learning_curves` — accuracy and layer change of any run (`vpl_jax.figures.learning`).
"""

from vpl_jax.figures.learning import learning_curves

__all__ = ["learning_curves"]
