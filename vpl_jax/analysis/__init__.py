"""Analyses of networks and of training results, as pure functions on params and recorded arrays.

Modules (import the one you need, e.g. ``from vpl_jax.analysis import behaviour``):

* ``significance`` -- the paper's alpha and the one number / p-value format.
* ``recording`` -- centre units, blocked and generated-stimulus recording, the layer list and
  unit-table contract, the one inclusion rule (mean activation >= 1.0).
* ``behaviour`` -- accuracy curves, transfer index, final transfer and 5 x 5 separation
  regressions (Wenliang & Seitz 2018, Fig. 2).
* ``plasticity`` -- layer and unit change, peak-speed iteration, ratio to 10 deg, layer-change
  proportions and the Fig. 3 regressions.
* ``tuning`` -- tuning curves of the centre units (jacfwd or smoothed finite-difference
  gradients), the tuning attributes and linear Fisher information (Figs. 4, 6-10 inputs).
* ``physiology`` -- the comparisons with Schoups, Ghose, Raiguel and Yang & Maunsell (Figs. 6-9)
  and the initial-sensitivity regressions of Eq. 7 (Fig. 10).
* ``tuning_run`` -- tuning curves of a whole run (naive and trained networks), the unit and
  Eq. 7 tables, and the Fig. 4 test shared by the figure and the verdicts.
* ``theory_fit`` -- Saxe's alpha/beta model fitted to a run's readout and conv-stack change
  (trajectory shapes, half-times, the change ratio across separations).
* ``experiment2`` -- Experiment 2 (faces vs Gabors, frozen layers): t95, accuracy drops, change
  proportions, the layer x task ANOVA (Fig. 5).
* ``selectivity`` -- orientation selectivity from responses to full-field gratings (the gOSI of
  Ukita 2019, the 0.33 threshold and its shuffle control, coverage, the selectivity table).
* ``gabor_fit`` -- Gabor fits of conv1 filters.
* ``ablation`` -- ablation of the most or least selective channels and its effect.
* ``stats`` -- equivalence tests (TOST), attainable p of rank tests, slope and R^2 intervals,
  multiple-comparison corrections: what the verdict rules need.
"""
