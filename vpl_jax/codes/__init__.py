"""Efficient codes in deep networks: Benjamin et al. (2022), "Efficient neural codes naturally
emerge through gradient descent learning", Nat. Commun. 13:7972 -- its deep-network experiments.

Modules (layered: data/model -> train -> analysis -> figures -> commands):

* ``stimuli`` -- the paper's Gabor (fixed contrast, 10 phases), differentiable HSV/RGB/Lab,
  hue images, the label-noise gratings;
* ``models`` -- one descriptor for the AlexNets, VGG, ResNet18 and the small CNN; weights
  (random, shuffled within each tensor, bundled, user files);
* ``sensitivity`` -- per-layer D(theta) by forward-mode autodiff, ratios, bootstrap intervals,
  circular shifts;
* ``train`` -- the small CNN trained on natural-photo crops (rotated, hue-rotated);
* ``label_noise`` -- Fig. 6 (synthetic gratings, label dropout);
* ``orientation`` -- Fig. 2c / SI Fig. 1 (networks, pooling architectures, rotated training);
* ``hue`` -- Fig. 3 (CIELAB curve, hue histograms, hue-rotated training);
* ``figures`` -- the figures; ``commands`` -- ``vpl-jax codes ...``.
"""

from vpl_jax.codes import hue, label_noise, models, orientation, sensitivity, stimuli, train

__all__ = ["hue", "label_noise", "models", "orientation", "sensitivity", "stimuli", "train"]
