"""Figures: one function per figure, each taking results (and tuning data where needed) and
returning a matplotlib Figure with labelled axes, units and legends.

Wenliang & Seitz (2018), "Deep neural networks for modeling visual perceptual learning",
Experiment 1:

* `figure_2` -- behaviour: accuracy, transfer index, final transfer, 5 x 5 separation matrices
  (`vpl_jax.figures.behaviour`; takes the results Dataset).
* `figure_3` -- layer change: trajectories, peak-speed iteration, final change, ratio to 10 deg
  (`vpl_jax.figures.plasticity`; results Dataset).
* `figure_4` -- linear Fisher information vs test orientation, trained vs naive
  (`vpl_jax.figures.fisher`; tuning records).
* `figure_6` ... `figure_10` -- the electrophysiology comparisons (Schoups, Ghose, Raiguel,
  Yang & Maunsell) and initial sensitivity vs learning (`vpl_jax.figures.physiology`; the unit
  table of `vpl_jax.analysis.tuning`).

Experiment 2: `figure_5` (`vpl_jax.figures.experiment2`; with `face_samples` and `morph_row` of
the face stimuli). Psychophysics: `psychophysics_figure` (psychometric functions, thresholds,
efficiency). Theory beside a run: `theory_fit_figure` (Saxe's alpha/beta model fitted to the
readout and conv-stack change, `vpl_jax.figures.theory_fit`). Any run: `learning_curves` (`vpl_jax.figures.learning`). Shared conventions:
`vpl_jax.figures.style`.
"""

from vpl_jax.figures.behaviour import figure_2
from vpl_jax.figures.experiment2 import face_samples, figure_5, morph_row
from vpl_jax.figures.fisher import figure_4
from vpl_jax.figures.learning import learning_curves
from vpl_jax.figures.physiology import figure_6, figure_7, figure_8, figure_9, figure_10
from vpl_jax.figures.plasticity import figure_3
from vpl_jax.figures.psychophysics import psychophysics_figure
from vpl_jax.figures.theory_fit import theory_fit_figure

__all__ = [
    "figure_2",
    "figure_3",
    "figure_4",
    "figure_5",
    "figure_6",
    "figure_7",
    "figure_8",
    "figure_9",
    "figure_10",
    "face_samples",
    "learning_curves",
    "morph_row",
    "psychophysics_figure",
    "theory_fit_figure",
]
