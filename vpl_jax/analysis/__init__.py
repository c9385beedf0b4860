"""Analyses of networks and of training results, as pure functions on params and recorded arrays.

Modules (import the one you need, e.g. ``from vpl_jax.analysis import behaviour``):

* ``behaviour`` -- accuracy curves, transfer index, final transfer and 5 x 5 separation
  regressions (seed 000, Fig. 2).
* ``plasticity`` -- layer and unit change, peak-speed iteration, ratio to 10 deg, layer-change
  proportions and the Fig. 3 regressions.
* ``tuning`` -- tuning curves of the centre units (jacfwd or smoothed finite-difference
  gradients), the tuning attributes and linear Fisher information (Figs. 4, 6-10 inputs).
* ``physiology`` -- the comparisons with Schoups, Ghose, Raiguel and Yang & Maunsell (Figs. 6-9)
  and the initial-sensitivity regressions of Eq. 7 (Fig. 10).
* ``tuning_run`` -- tuning curves of a whole run folder (naive and trained networks), the unit
  and Eq. 7 tables, and the Fisher-information verdicts of the report.
* ``selectivity`` -- orientation selectivity of units from responses to full-field gratings
  (seed 004's gOSI, the 0.33 threshold and its shuffle control), Gabor fits of conv1 filters,
  the paper's included-unit counts, and ablation of the most or least selective units.
"""
