"""vpl_jax: visual perceptual learning with deep networks, in JAX.

Modules (one concept each): ``stimuli``, ``alexnet``, ``weights``, ``siamese``, ``train``,
``experiment``, ``analysis``, ``pretrain``, ``figures``, ``report``, ``cli``.
Import the module you need, e.g. ``from vpl_jax import stimuli``.
"""

__version__ = "0.1.0"
