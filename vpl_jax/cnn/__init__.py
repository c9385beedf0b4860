"""The 7-layer CNN of *Causal importance of orientation selectivity for generalization in image
recognition* (ICLR 2019 submission; later J. Ukita, Neural Networks 2020): its network, data,
training of many networks at once, analyses and figures.

Modules (import the one you need, e.g. ``from vpl_jax.cnn import model``; layered in this order):

* ``model`` -- the network (flax linen, BatchNorm state), 360,106 trainable parameters.
* ``data`` -- CIFAR-10 readers (python-pickle and binary versions) and the offline object set
  (Tux Paint stamp photos composited on bundled photographs).
* ``tuning`` -- the paper's 432 gratings and the gOSI of every unit.
* ``train`` -- vmapped, resumable training of seeds x augmentation x learning rate x label noise.
* ``presets`` -- run sizes (``paper``, ``cpu``, ``demo``) and the run itself.
* ``analysis`` -- existence, dynamics, population, corruption, ablation, SF range, shift invariance.
* ``figures`` -- Figs. 2-6 and A2.
* ``commands`` -- ``vpl-jax cnn setup|layers|train|analyze``.
"""

__all__: list[str] = []
