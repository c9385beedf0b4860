"""Analyses of networks and of training results, as pure functions on params and recorded arrays.

Modules (import the one you need, e.g. ``from vpl_jax.analysis import selectivity``):

* ``selectivity`` — orientation selectivity of units from responses to full-field gratings
  (seed 004's gOSI, the 0.33 threshold and its shuffle control), Gabor fits of conv1 filters,
  the paper's included-unit counts, and ablation of the most or least selective units.
"""
